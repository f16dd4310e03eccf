/* natidle probe: the command line.  Parses options into ni_probe_opts,
 * reads the password (never from argv), hands over to ni__probe_run() and
 * turns the engine's events into the progress on stderr and the result
 * lines on stdout, and its return into the exit code. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli/commands.h"
#include "cli/exit.h"
#include "cli/options.h"
#include "cli/password.h"
#include "cli/status.h"
#include "cli/util.h"
#include "common/defaults.h"
#include "natidle/common.h"
#include "natidle/conn.h"
#include "probe/prober.h"
#include "probe/search.h"

/* The help, one section per string (ISO C caps a string literal at 4095
 * bytes). */
/* The help text is laid out as it prints; clang-format would cut its
 * strings into fragments. */
// clang-format off
static const char *const help_text[] = {
    "NAME\n"
    "    natidle probe - measure a NAT's idle timeout with silent IMAP IDLE sessions\n"
    "\n",
    "SYNOPSIS\n"
    "    natidle probe --server HOST [--port N] [--tls imaps|starttls|none] --user NAME\n"
    "                  [--password-file FILE | --oauth2-token-file FILE |\n"
    "                   --oauth2-token-cmd CMD] [--oauth2-mech auto|oauthbearer|xoauth2]\n"
    "                  [--ca-file FILE] [--insecure]\n"
    "                  [--allow-plaintext] [--min S] [--max S] [--resolution S]\n"
    "                  [--sessions K] [--direction inbound|outbound|both]\n"
    "                  [--strategy adaptive|grid|bisect] [--read-only] [--push-wait S]\n"
    "                  [--network LABEL] --csv FILE [--summary FILE] [--resume]\n"
    "                  [--pcap IFACE|auto] [--pcap-out FILE] [--pcap-user USER]\n"
    "                  [--no-capture]\n"
    "                  [--quiet] [--verbose]\n"
    "    natidle probe --cleanup --server HOST [--port N] [--tls MODE] --user NAME ...\n"
    "\n",
    "DESCRIPTION\n"
    "    Opens K IMAP sessions to the server, each IDLE on a mailbox of its own\n"
    "    (natidle-probe/RUN/N below the personal namespace the server names with\n"
    "    NAMESPACE, e.g. INBOX.natidle-probe.RUN.N on Cyrus and Courier; without\n"
    "    NAMESPACE at the top level, else below INBOX), keeps them silent and checks\n"
    "    each one when its silence reaches a target: a control connection, kept\n"
    "    busy with NOOPs so its own mapping never expires, APPENDs a small marker\n"
    "    message (header X-Natidle-Probe: RUN) to the session's mailbox.  The\n"
    "    server's \"* N EXISTS\" arriving within the detection deadline means the\n"
    "    NAT mapping was alive after that silence; nothing means it was dead.  The\n"
    "    search narrows the bracket (L, U] between the longest silence seen alive\n"
    "    and the shortest seen dead until U - L is below the resolution.\n"
    "\n",
    "    The detection deadline is calibrated at start: one APPEND to a session\n"
    "    just in IDLE, then four to sessions silent for min(8 s, --max / 2) (a\n"
    "    server's or a radio's push is often slower after some silence), measure\n"
    "    the delay from the APPEND's OK to the EXISTS; a check after a silence S\n"
    "    waits, after its APPEND's OK, the 90th percentile of the delays seen\n"
    "    after a comparable silence + 2 x its distance from the median + one\n"
    "    retransmission timeout (the control connection's round trip + max(0.2 s,\n"
    "    half of it)) + 0.25 s, at least 1 s (3 s when S is over twice any\n"
    "    silence measured), and every push that arrives, even late, adds a\n"
    "    sample.  Inbound checks start one push time (the quickest) early, so\n"
    "    the push meets the target silence at the NAT; a lost push is recorded\n"
    "    at the latest silence it may have met (the silence at the APPEND's OK\n"
    "    + the slowest push after an OK, or a usual one + one retransmission\n"
    "    timeout), so the bracket never excludes the timeout.  An EXISTS that\n"
    "    arrives before DONE is sent counts as alive.\n"
    "\n",
    "    A server that reports new mail to IDLE only when it polls the mailbox\n"
    "    (Cyrus without idled, Courier without enhanced IDLE: every 60 s by\n"
    "    default, from the start of IDLE) is recognised during calibration: each\n"
    "    check then APPENDs just before a poll, so only multiples of the poll\n"
    "    interval P can be tested and the bracket is at best P wide; when the\n"
    "    polls do not follow the start of IDLE, each death is recorded P later\n"
    "    (the bracket widened by P).  A server whose IDLE does not report the\n"
    "    new message within --push-wait ends the run with the verdict no_push.\n"
    "\n"
    "    A session that gets no EXISTS sends DONE and waits for its answer one\n"
    "    round trip + 3 retransmission timeouts + 0.5 s (at least 2 s): a reset\n"
    "    means dead_reset, a close dead_closed, nothing dead_silent.  A tagged OK\n"
    "    means the client's packet got through: on a NAT that has answered a\n"
    "    death of this run with silence or a reset (it does not revive\n"
    "    mappings), the mapping was alive (alive at the DONE's silence when the\n"
    "    push came late, else the check is repeated); otherwise the first two\n"
    "    are repeated (a late push or a slow server look the same) and later\n"
    "    ones are dead_inbound: the client's packet revived the mapping but the\n"
    "    push was lost.  Any byte reaching a session\n"
    "    while it is silent (a server keepalive such as \"* OK Still here\", new\n"
    "    mail) voids that observation (refreshed); regular unsolicited data is\n"
    "    recognised as a server keepalive and the verdict is masked_by_server.\n"
    "    If the control connection fails, stalls or leaves a NOOP unanswered, the\n"
    "    checks of that window are recorded as aborted, never as dead.  A lost\n"
    "    control connection is a network event (an address change, a NAT that\n"
    "    rebinds: every mapping is gone at once), reported once as \"network\n"
    "    event: ...\" when it is back: every silence that spanned it is void\n"
    "    (aborted) and checked again on a fresh session, and every session starts\n"
    "    a fresh IDLE (reconnecting when its mapping is gone).  Back within 5\n"
    "    minutes, or the run stops and --resume goes on from the --csv file.\n"
    "\n"
    "    When the process may capture packets (root or CAP_NET_RAW), libpcap\n"
    "    watches the probe sessions and each observation gets an evidence column:\n"
    "    the silence on the wire, retransmissions of DONE, who sent a RST (the\n"
    "    server or a middlebox, told apart by the IP TTL), what refreshed a\n"
    "    mapping.  Without the privilege the probe says so once and goes on.\n"
    "\n",
    "    Outbound checks (--direction outbound, --read-only) EXAMINE the INBOX\n"
    "    and end IDLE after the silence: a tagged OK means the client could still\n"
    "    reach the server.  With --direction both, every inbound check also says\n"
    "    something about the outbound direction, and an outbound search continues\n"
    "    above the inbound timeout when needed.\n"
    "\n",
    "    Probe mailboxes are removed at the end of the run after checking that they\n"
    "    hold only the run's own markers; a mailbox holding anything else is never\n"
    "    deleted.  The server may limit connections per user and address; when it\n"
    "    refuses one, the probe goes on with fewer sessions and says so.\n"
    "\n",
    "OPTIONS\n",
    ni__conn_opts_help,
    "  Probe:\n"
    "    --min S              shortest silence to test (default "
    NI_STR(NI_PROBE_DEFAULT_MIN_S) " s)\n"
    "    --max S              longest silence to test (default "
    NI_STR(NI_PROBE_DEFAULT_MAX_S) " s)\n"
    "    --resolution S       stop when U - L <= S (default max(1 s, 2 % of L));\n"
    "                         raised, never lowered, to what the checks can tell\n"
    "                         apart on this path: (how far apart checks started\n"
    "                         at the same silence are recorded, dead against\n"
    "                         alive + one round trip) x 1.25, once 2 of each\n"
    "                         are in (a long round trip or a sleeping radio: the\n"
    "                         log says so)\n"
    "    --sessions K         silent sessions in parallel (default "
    NI_STR(NI_PROBE_DEFAULT_SESSIONS) "), plus one\n"
    "                         control connection\n"
    "    --direction D        inbound (default), outbound or both\n"
    "    --strategy S         adaptive (default), grid or bisect\n"
    "    --read-only          outbound only, EXAMINE INBOX, write nothing at all\n"
    "    --csv FILE           observations, one row per check, appended\n"
    "    --summary FILE       one row per direction at the end, appended\n"
    "    --resume             continue the last run found in --csv\n"
    "    --cleanup            remove natidle-probe mailboxes left by interrupted\n"
    "                         runs (only those holding nothing but markers), exit;\n"
    "                         not while another probe of the account is running\n"
    "    --max-checks N       hard cap on checks (default 2000)\n"
    "    --noop S             control connection NOOP interval (default min(5 s,\n"
    "                         --min / 2), at least 0.5 s)\n"
    "    --push-wait S        how long the first marker may take to be reported\n"
    "                         before the verdict is no_push (default 130 s: two\n"
    "                         polls of a server that polls every 60 s)\n"
    "    --pcap-out FILE      keep the packet capture of the probe sessions (pcap)\n"
    "    --no-capture         no packet capture: the evidence column stays empty\n"
    "    --pcap IFACE|auto    capture on IFACE (default auto: the interface towards\n"
    "                         the server; also --capture-iface)\n"
    "    --pcap-user USER     who to become once the capture is open (default\n"
    "                         nobody; also --run-as).  A process started as root\n"
    "                         opens the capture, the --csv and --summary files,\n"
    "                         reads the password and the --ca-file, then drops\n"
    "                         its groups, gid, uid and every capability before\n"
    "                         the first connection: no network input is parsed\n"
    "                         with privileges.  --no-capture keeps the privileges\n"
    "                         as they are.\n"
    "  OAuth2 (instead of a password; Gmail, Outlook.com, Microsoft 365):\n"
    "    --oauth2-token-file FILE  the access token, first line of FILE\n"
    "    --oauth2-token-cmd CMD    run CMD (/bin/sh -c) for a fresh access token,\n"
    "                         its first line of output, as isync's PassCmd; run at\n"
    "                         start and once more whenever the server refuses the\n"
    "                         token (expired); a fresh token refused again ends\n"
    "                         the run (exit 3).  With --oauth2-token-file, the\n"
    "                         file is read again instead.  The token never\n"
    "                         appears on the command line, in output or in a CSV\n"
    "    --oauth2-mech M      auto (default: OAUTHBEARER when offered, else\n"
    "                         XOAUTH2), oauthbearer or xoauth2\n"
    "    --quiet              no progress on stderr\n"
    "    --verbose            one line per event, also on a terminal\n"
    "\n",
    "OUTPUT\n"
    "    Stdout ends with one line (UTF-8 dash and arrow), e.g.\n"
    "      timeout 37.2 s (inbound, 36.6\u201337.8 s, 23 checks, 2 m 11 s) \u2192 keep alive every 33 s\n"
    "      timeout 17.6 s (inbound, 17.3\u201318.0 s; in the NAT's terms 16.8\u201318.0 s, \u00b10.3 s\n"
    "        RTT, 14 checks, 1 m 02 s) \u2192 keep alive every 13 s\n"
    "      timeout above 7440 s (inbound, alive at 7440.0 s, 41 checks, 3 h 10 m) \u2192 keep alive\n"
    "        every 1740 s\n"
    "      masked by server keepalive every 120.0 s (inbound, the NAT keeps the connection\n"
    "        at least 117.4 s, ...) \u2192 no client keepalive needed: the server's own\n"
    "        keepalive holds push (natidle keepalive --server-keepalive 120). To measure\n"
    "        the NAT, probe a server without an IDLE keepalive: natidle lab server-config\n"
    "      inconclusive (inbound, bracket 30.0\u201390.0 s, 7 checks, 1 m 02 s)\n"
    "      no push: the server's IDLE never reported the new message (inbound, 2 m 12 s)\n"
    "    A polling server gets a line before it: \"the server reports new mail to\n"
    "    IDLE only when it polls, every P s ...\".\n"
    "    The bracket counts silences as the client saw them.  The NAT, somewhere\n"
    "    on the path, may have seen an inbound silence up to one round trip\n"
    "    shorter: when that reads differently, the line adds the bracket in the\n"
    "    NAT's terms, its lower end lowered by the control connection's round\n"
    "    trip and the client's delayed ACK (as the capture showed it, else\n"
    "    200 ms; the wire silence when the server's packet came last); the\n"
    "    summary has both (nat_lower_s, nat_upper_s, bracket_basis,\n"
    "    path_rtt_ms).\n"
    "    The recommended keepalive is the cadence natidle's keepalive library\n"
    "    keeps for that lower bound L (ni_ka_cadence_for): L less a margin of\n"
    "    max(2 s, 5 % of L, the round trip), where the round trip is the\n"
    "    control connection's or the slowest push after a silence of at least\n"
    "    L/2 (a sleeping radio's wake-up; with none measured there, at least\n"
    "    5 s for an L under 100 s), in whole seconds, at least 2 s, at most\n"
    "    1740 s (RFC 2177).\n"
    "    masked_by_server recommends none (recommended_keepalive_s is empty): a\n"
    "    client cadence beside the server's keepalive would double the radio's\n"
    "    wakeups; 'natidle keepalive --from-summary' then relies on the server's\n"
    "    keepalive and keeps alive by itself only if that stops.\n"
    "    With --direction both, one line per direction.  Stderr shows a live status\n"
    "    line on a terminal, log lines otherwise.  The observation and summary\n"
    "    columns are described in docs/CSV.md.\n"
    "\n",
    "EXIT STATUS\n"
    "    0 verdict reached (measured, above_max, masked_by_server), 8 inconclusive,\n"
    "    2 usage, 3 login refused (an OAuth2 token refused after one refresh\n"
    "    included), 4 TLS, 5 network or a server that breaks the protocol, 6\n"
    "    missing capability (IDLE, STARTTLS, a login method), 7 data safety\n"
    "    (foreign data in a probe mailbox, --resume of another server's file),\n"
    "    9 no_push (the server's IDLE does not report new mail), 10 the server\n"
    "    refused to create or write the probe mailboxes (try --read-only),\n"
    "    130 interrupted (summary of what is known kept), 1 a bug in natidle.\n"
    "\n",
    "EXAMPLES\n"
    "    natidle probe --server imap.example.org --user me --password-file ~/.pw \\\n"
    "        --network home-lte --csv obs.csv --summary summary.csv\n"
    "    natidle probe --server imap.example.org --user me --read-only --csv obs.csv\n"
    "    natidle probe --server imap.example.org --user me --csv obs.csv --resume\n"
    "    natidle probe --server imap.example.org --user me --cleanup\n"
    "    natidle probe --server imap.gmail.com --user me@gmail.com \\\n"
    "        --oauth2-token-cmd 'oama access me@gmail.com' --csv obs.csv\n",
    NULL};
// clang-format on

static int parse_direction(const char *s, int *out) {
  if (!strcmp(s, "inbound"))
    *out = NI_PDIR_INBOUND;
  else if (!strcmp(s, "outbound"))
    *out = NI_PDIR_OUTBOUND;
  else if (!strcmp(s, "both"))
    *out = NI_PDIR_BOTH;
  else
    return NI_EUSAGE;
  return 0;
}

/* Parse argv into o.  Returns 0, 1 for --help, or NI_EUSAGE after printing
 * the reason. */
/* Where an OAuth2 access token comes from (--oauth2-token-file or
 * --oauth2-token-cmd), for the engine's token callback. */
typedef struct token_src {
  const char *file, *cmd;
} token_src;

/* How long --oauth2-token-cmd may take (a helper that refreshes over the
 * network). */
#define TOKEN_CMD_MS 30000
/* The largest access token taken (Microsoft's and Google's are 1-3 KB). */
#define TOKEN_MAX 16384

static int get_token(void *arg, int refresh, char *buf, size_t cap, size_t *len, char *err,
                     size_t errlen) {
  const token_src *t = arg;
  char *tok = NULL;
  /* Every call reads the file or runs the command again: a refresh is
   * just another call. */
  (void)refresh;
  int rc =
      t->cmd ? ni__cred_from_command(t->cmd, "--oauth2-token-cmd", TOKEN_CMD_MS, &tok, err, errlen)
             : ni__cred_read_file(t->file, "OAuth2 token file", &tok, err, errlen);
  if (rc != 0) return rc;
  size_t n = strlen(tok);
  if (n == 0 || n >= cap) {
    snprintf(err, errlen, "the OAuth2 token is %s", n ? "too long" : "empty");
    ni__cred_free(tok);
    return NI_EUSAGE;
  }
  memcpy(buf, tok, n);
  *len = n;
  ni__cred_free(tok);
  return 0;
}

static int parse_args(int argc, char **argv, ni_probe_opts *o, const char **password_file,
                      token_src *tok) {
  const char *strategy = "adaptive", *direction = NULL, *mech = "auto";
  int dir_given = 0;
  ni__conn_args ca = {.tls = "imaps", .network = ""};
  unsigned long sessions = o->sessions, max_checks = o->max_checks;
  const ni__opt opts[] = {
      NI__CONN_OPTS(&ca),
      {"min", 0, NI__OPT_SECONDS, &o->min_s, 1, 86400, NULL},
      {"max", 0, NI__OPT_SECONDS, &o->max_s, 1, 86400, NULL},
      {"resolution", 0, NI__OPT_SECONDS, &o->resolution_s, 0.1, 3600, NULL},
      {"sessions", 0, NI__OPT_UINT, &sessions, 1, 64, NULL},
      {"direction", 0, NI__OPT_STRING, &direction, 0, 0, &dir_given},
      {"strategy", 0, NI__OPT_STRING, &strategy, 0, 0, NULL},
      {"read-only", 0, NI__OPT_FLAG, &o->read_only, 0, 0, NULL},
      {"csv", 0, NI__OPT_STRING, &o->csv_path, 0, 0, NULL},
      {"summary", 0, NI__OPT_STRING, &o->summary_path, 0, 0, NULL},
      {"resume", 0, NI__OPT_FLAG, &o->resume, 0, 0, NULL},
      {"cleanup", 0, NI__OPT_FLAG, &o->cleanup, 0, 0, NULL},
      {"max-checks", 0, NI__OPT_UINT, &max_checks, 1, 100000, NULL},
      {"noop", 0, NI__OPT_SECONDS, &o->noop_s, 0.5, 60, NULL},
      {"push-wait", 0, NI__OPT_SECONDS, &o->push_wait_s, 1, 3600, NULL},
      {"pcap-out", 0, NI__OPT_STRING, &o->pcap_out, 0, 0, NULL},
      {"pcap", 0, NI__OPT_STRING, &o->capture_iface, 0, 0, NULL},
      {"capture-iface", 0, NI__OPT_STRING, &o->capture_iface, 0, 0, NULL},
      {"pcap-user", 0, NI__OPT_STRING, &o->run_as, 0, 0, NULL},
      {"run-as", 0, NI__OPT_STRING, &o->run_as, 0, 0, NULL},
      {"no-capture", 0, NI__OPT_FLAG, &o->no_capture, 0, 0, NULL},
      {"quiet", 0, NI__OPT_FLAG, &o->quiet, 0, 0, NULL},
      {"verbose", 0, NI__OPT_FLAG, &o->verbose, 0, 0, NULL},
      {"oauth2-token-file", 0, NI__OPT_STRING, &tok->file, 0, 0, NULL},
      {"oauth2-token-cmd", 0, NI__OPT_STRING, &tok->cmd, 0, 0, NULL},
      {"oauth2-mech", 0, NI__OPT_STRING, &mech, 0, 0, NULL},
  };
  int rc = ni__opts_parse("probe", argc, argv, opts, sizeof opts / sizeof opts[0], NULL);
  if (rc != 0) return rc;
  o->server = ca.server;
  o->port = (unsigned)ca.port;
  o->user = ca.user;
  o->ca_file = ca.ca_file;
  o->insecure = ca.insecure;
  o->allow_plaintext = ca.allow_plaintext;
  o->network = ca.network;
  if (ni__conn_family("probe", ca.family, &o->family) != 0) return NI_EUSAGE;
  *password_file = ca.password_file;
  o->sessions = (unsigned)sessions;
  o->max_checks = (unsigned)max_checks;
  const char *tls = ca.tls;

  ni_tls_mode mode;
  if (ni_tls_mode_parse(tls, &mode) != 0) {
    ni__usage_error("probe", "--tls must be imaps, starttls or none, not '%s'", tls);
    return NI_EUSAGE;
  }
  o->tls = (int)mode;
  ni_strategy st;
  if (ni__strategy_parse(strategy, &st) != 0) {
    ni__usage_error("probe", "--strategy must be adaptive, grid or bisect, not '%s'", strategy);
    return NI_EUSAGE;
  }
  o->strategy = (int)st;
  o->direction = o->read_only ? NI_PDIR_OUTBOUND : NI_PDIR_INBOUND;
  if (dir_given && parse_direction(direction, &o->direction) != 0) {
    ni__usage_error("probe", "--direction must be inbound, outbound or both, not '%s'", direction);
    return NI_EUSAGE;
  }
  if (o->read_only && o->direction != NI_PDIR_OUTBOUND) {
    ni__usage_error("probe", "--read-only measures the outbound direction only");
    return NI_EUSAGE;
  }
  if (!o->server || !o->user) {
    ni__usage_error("probe", "--server and --user are required");
    return NI_EUSAGE;
  }
  if (!o->cleanup && !o->csv_path) {
    ni__usage_error("probe", "--csv FILE is required");
    return NI_EUSAGE;
  }
  if (o->min_s >= o->max_s) {
    ni__usage_error("probe", "--min must be below --max");
    return NI_EUSAGE;
  }
  if (o->no_capture && (o->pcap_out || o->capture_iface)) {
    ni__usage_error("probe", "--pcap and --pcap-out need the capture: drop --no-capture");
    return NI_EUSAGE;
  }
  if (tok->file && tok->cmd) {
    ni__usage_error("probe", "--oauth2-token-file and --oauth2-token-cmd exclude each other");
    return NI_EUSAGE;
  }
  if ((tok->file || tok->cmd) && *password_file) {
    ni__usage_error("probe", "--password-file and an OAuth2 token exclude each other");
    return NI_EUSAGE;
  }
  if (!strcmp(mech, "auto"))
    o->oauth_mech = NI_OAUTH_AUTO;
  else if (!strcmp(mech, "oauthbearer"))
    o->oauth_mech = NI_OAUTH_OAUTHBEARER;
  else if (!strcmp(mech, "xoauth2"))
    o->oauth_mech = NI_OAUTH_XOAUTH2;
  else {
    ni__usage_error("probe", "--oauth2-mech must be auto, oauthbearer or xoauth2, not '%s'", mech);
    return NI_EUSAGE;
  }
  if (o->cleanup && (o->resume || o->read_only)) {
    ni__usage_error("probe", "--cleanup cannot be combined with --resume or --read-only");
    return NI_EUSAGE;
  }
  return 0;
}

/* ---- Running and printing ------------------------------------------------ */

/* The result line of one direction, which a person and a script can read
 * (UTF-8 dash and arrow). */
static void print_result(const ni_probe_result *r) {
  const char *dir = ni__probe_dir_name(r->dir);
  char wall[32], nat[96] = "";
  ni__fmt_duration(r->wall_s, wall, sizeof wall);
  /* The bracket in the NAT's terms, when it reads differently. */
  if (r->bracket_basis && !isinf(r->upper_s) &&
      (fabs(r->nat_lower_s - r->lower_s) >= 0.05 || fabs(r->nat_upper_s - r->upper_s) >= 0.05)) {
    if (strcmp(r->bracket_basis, "capture") == 0)
      snprintf(nat, sizeof nat, "; in the NAT's terms %.1f\u2013%.1f s, from the capture",
               r->nat_lower_s, r->nat_upper_s);
    else
      snprintf(nat, sizeof nat, "; in the NAT's terms %.1f\u2013%.1f s, \u00b1%.1f s RTT",
               r->nat_lower_s, r->nat_upper_s, r->path_rtt_ms / 1000.0);
  }
  if (r->poll_s > 0)
    printf("the server reports new mail to IDLE only when it polls, every %.1f s%s\n", r->poll_s,
           r->poll_phase_known ? " (checks timed just before a poll)"
                               : " (phase unknown: each death recorded one interval later)");
  switch (r->verdict) {
  case NI_VERDICT_NO_PUSH:
    printf("no push: the server's IDLE never reported the new message (%s, %s)\n", dir, wall);
    break;
  case NI_VERDICT_MEASURED:
    printf("timeout %.1f s (%s, %.1f\u2013%.1f s%s, %u checks, %s) \u2192 keep alive every "
           "%.0f s\n",
           r->estimate_s, dir, r->lower_s, r->upper_s, nat, r->checks, wall, r->recommended_s);
    break;
  case NI_VERDICT_ABOVE_MAX:
    printf("timeout above %.0f s (%s, alive at %.1f s, %u checks, %s) \u2192 keep alive every "
           "%.0f s\n",
           r->max_s, dir, r->lower_s, r->checks, wall, r->recommended_s);
    break;
  case NI_VERDICT_MASKED:
    /* No cadence: one below the server's own would only add wakeups. */
    printf("masked by server keepalive every %.1f s (%s, the NAT keeps the connection at least "
           "%.1f s, %u checks, %s) \u2192 no client keepalive needed: the server's own keepalive "
           "holds push (natidle keepalive --server-keepalive %.0f). To measure the NAT, probe a "
           "server without an IDLE keepalive: natidle lab server-config\n",
           r->server_keepalive_s, dir, r->lower_s, r->checks, wall, r->server_keepalive_s);
    break;
  default:
    if (isinf(r->upper_s))
      printf("inconclusive (%s, alive at %.1f s, no death seen, %u checks, %s)\n", dir, r->lower_s,
             r->checks, wall);
    else
      printf("inconclusive (%s, bracket %.1f\u2013%.1f s, %u checks, %s)\n", dir, r->lower_s,
             r->upper_s, r->checks, wall);
    break;
  }
}

/* The engine's events: progress and errors on stderr through the status
 * output, results on stdout. */
static void on_event(const ni_probe_event *ev, void *arg) {
  ni_status *st = arg;
  switch (ev->kind) {
  case NI_PROBE_EV_NOTE:
    ni__status_event(st, ev->now, ev->level, "%s", ev->text);
    break;
  case NI_PROBE_EV_STATUS:
    ni__status_draw(st, ev->now, ev->status, 0);
    break;
  case NI_PROBE_EV_ERROR:
    ni__status_clear(st);
    ni__cli_error("probe", "%s", ev->text);
    break;
  case NI_PROBE_EV_RESULT:
    ni__status_clear(st);
    print_result(ev->result);
    fflush(stdout);
    break;
  case NI_PROBE_EV_CLEANUP:
    printf("cleanup: %u probe mailboxes deleted, %u refused (foreign data), %u not deleted by "
           "the server\n",
           ev->deleted, ev->refused, ev->failed);
    break;
  }
}

/* Run the probe described by o; returns the exit code. */
static int run(const ni_probe_opts *o) {
  ni_status st;
  ni__status_init(&st, stderr, o->quiet, o->verbose, ni_imap_now());
  ni_probe_hooks hooks = {on_event, &st, ni__status_every_ms(&st)};
  ni_probe_end end = NI_PROBE_END_VERDICT;
  int rc = ni__probe_run(o, &hooks, &end);
  ni__status_clear(&st);
  return ni__probe_exit_code(rc, end);
}

int ni__cmd_probe(int argc, char **argv) {
  ni_probe_opts o;
  memset(&o, 0, sizeof o);
  o.min_s = NI_PROBE_DEFAULT_MIN_S;
  o.max_s = NI_PROBE_DEFAULT_MAX_S;
  o.sessions = NI_PROBE_DEFAULT_SESSIONS;
  o.max_checks = 2000;
  const char *password_file = NULL;
  token_src tok = {NULL, NULL};
  int prc = parse_args(argc, argv, &o, &password_file, &tok);
  if (prc == 1) {
    for (int j = 0; help_text[j]; j++)
      fputs(help_text[j], stdout);
    return NI_EXIT_OK;
  }
  if (prc != 0) return NI_EXIT_USAGE;
  if (tok.file || tok.cmd) {
    /* Get the token once now: a missing file or a failing command is a
     * usage error before anything connects. */
    char err[256] = "out of memory";
    size_t len = 0;
    char *buf = malloc(TOKEN_MAX);
    int rc = buf ? get_token(&tok, 0, buf, TOKEN_MAX, &len, err, sizeof err) : -ENOMEM;
    if (buf) {
      explicit_bzero(buf, TOKEN_MAX);
      free(buf);
    }
    if (rc != 0) {
      ni__cli_error("probe", "%s", err);
      return NI_EXIT_USAGE;
    }
    ni__no_core_dumps();
    o.token = get_token;
    o.token_arg = &tok;
    return run(&o);
  }

  char *pw = NULL, err[256];
  if (ni__cred_read(password_file, &pw, err, sizeof err) != 0) {
    ni__cli_error("probe", "%s", err);
    return NI_EXIT_USAGE;
  }
  /* Keep the password masked with a random pad (see ni_probe_opts) and
   * wipe the clear copy at once. */
  size_t n = strlen(pw);
  unsigned char *mask = malloc(2 * n + 1);
  if (!mask || uv_random(NULL, NULL, mask + n, n + 1, 0, NULL) != 0) {
    ni__cred_free(pw);
    free(mask);
    ni__cli_error("probe", "cannot protect the password in memory");
    return NI_EXIT_FAILURE;
  }
  for (size_t i = 0; i < n; i++)
    mask[i] = (unsigned char)pw[i] ^ mask[n + i];
  ni__cred_free(pw);
  o.pw_masked = mask;
  o.pw_key = mask + n;
  o.pw_len = n;
  int rc = run(&o);
  explicit_bzero(mask, 2 * n + 1);
  free(mask);
  return rc;
}
