/* natidle keepalive: hold push sessions alive with the fewest keepalives,
 * print new mail as it arrives, log every keepalive and connection event. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/password.h"
#include "cli/util.h"
#include "natidle/common.h"
#include "natidle/conn.h"
#include "natidle/csv.h"
#include "natidle/keepalive.h"
#include "natidle/push.h"
#include "natidle/report.h"

#define CMD "keepalive"
#define MAX_ACCOUNTS 64

/* The help, in pieces: ISO C only promises string literals of 4095 bytes. */
static const char *const help_text[] = {
    "NAME\n"
    "    natidle keepalive - hold IMAP push sessions alive with the fewest keepalives\n"
    "\n"
    "SYNOPSIS\n"
    "    natidle keepalive --server HOST [--port N] [--tls imaps|starttls|none]\n"
    "                      --user NAME [--password-file FILE] [--ca-file FILE]\n"
    "                      [--insecure] [--allow-plaintext] [--family 4|6]\n"
    "                      [--mailbox NAME]\n"
    "                      [--nat-timeout S | --from-summary FILE | --adaptive]\n"
    "                      [--interval S] [--server-keepalive S]\n"
    "                      [--state FILE] [--network LABEL]\n"
    "                      [--accounts FILE] [--log FILE.csv] [--duration S]\n"
    "                      [--no-notify] [--quiet]\n"
    "                      [--oauth2-token-file FILE | --oauth2-token-cmd CMD]\n"
    "\n",
    "DESCRIPTION\n"
    "    Logs in, selects the mailbox and waits in IDLE.  When the server offers\n"
    "    NOTIFY (RFC 5465) new messages' UID, From, To and Subject are pushed\n"
    "    without leaving IDLE; otherwise each EXISTS is followed by DONE, a UID\n"
    "    FETCH and a new IDLE.  Every new message is printed on standard output\n"
    "    as one line, flushed at once:\n"
    "\n"
    "        new uid=42 from=\"Alice <a@example.org>\" subject=\"Lunch?\" delay=0.412s\n"
    "\n"
    "    followed by \" late\" when it was found only by the resync after a\n"
    "    reconnect, and \" account=NAME\" when several accounts run.  delay is the\n"
    "    push delay: from the message's INTERNALDATE (server clock, whole seconds)\n"
    "    to the moment it is printed.\n"
    "\n",
    "    While idle, nothing is sent but the keepalives the scheduler asks for\n"
    "    (DONE and a new IDLE, just before the NAT would forget the connection).\n"
    "    A keepalive not answered by its verdict deadline (6 to 15 s, from round\n"
    "    trips measured after a comparable silence; a late answer still counts)\n"
    "    declares the connection dead; the session reconnects with exponential\n"
    "    backoff and jitter (1 s doubling up to 5 min) and fetches every message\n"
    "    above the last UID it saw, so a message whose push was lost is printed\n"
    "    late but never missed and never twice.  If the mailbox's UIDVALIDITY\n"
    "    changed meanwhile the session says so and starts over from the\n"
    "    mailbox's current state.  TCP keepalive is never enabled.\n"
    "\n"
    "    The cadence comes from what is known about the NAT: a timeout\n"
    "    (--nat-timeout), a bracket measured by 'natidle probe' (--from-summary),\n"
    "    or nothing (--adaptive, the default: learn it online, remembered per\n"
    "    network with --state).  --interval forces a fixed cadence instead.\n"
    "\n"
    "    A server that writes into IDLE by itself (Dovecot's \"* OK Still here\"\n"
    "    every 2 min by default; 'natidle probe' then ends masked_by_server) keeps\n"
    "    the NAT's mapping alive on its own, and a keepalive of ours beside it\n"
    "    only adds radio wakeups.  With --server-keepalive S, or --from-summary\n"
    "    of a masked_by_server run (S from its server_keepalive_s), the session\n"
    "    relies on it: as long as the server's responses come at least every S\n"
    "    plus a grace (5 % of S, at least 2 s), nothing is sent but the re-IDLE\n"
    "    every 29 min, right after one of the server's keepalives.  When one is\n"
    "    missed, the session sends a keepalive at once and keeps the connection\n"
    "    alive by itself, below the NAT's known lower bound (the probe's lower_s,\n"
    "    or --nat-timeout, or learned); when the server speaks on its own again\n"
    "    it relies on it again (and lets one silence run to S + grace once an\n"
    "    hour to give it the chance).  Both changes are printed and logged\n"
    "    (event server).\n"
    "\n"
    "    On exit (after --duration, or on SIGINT or SIGTERM) one tally line is\n"
    "    printed on standard output:\n"
    "\n"
    "        tally keepalives=12 answered=12 unanswered=0 wakeups=13 reconnects=0\n"
    "              messages=5 late=0 worst_delay=0.914s bytes_out=2210 bytes_in=5120\n"
    "\n"
    "    (one line).  wakeups counts the times any session sent after more than\n"
    "    2 s of silence of all of them: the times a phone's radio would wake.\n"
    "    Progress (state changes, keepalives) goes to standard error unless\n"
    "    --quiet.  The password is never taken from the command line.\n"
    "\n",
    "    A permanent error ends a session instead of being retried: a login or\n"
    "    access token the server refused, a certificate that is not trusted,\n"
    "    credentials that would go out without TLS, a server without IDLE.\n"
    "    Servers lock accounts after a few failed logins, so a wrong password is\n"
    "    sent once.  The session's state becomes \"failed\" with the reason, and\n"
    "    the command ends when no session is left.\n"
    "\n"
    "    OAuth2: with --oauth2-token-file or --oauth2-token-cmd the session logs\n"
    "    in with an access token (AUTHENTICATE OAUTHBEARER, or XOAUTH2 when that\n"
    "    is all the server offers) instead of a password.  The token is read\n"
    "    anew at every login (tokens expire; keep the file fresh with your token\n"
    "    helper), and the command is run anew.  When the server refuses a token\n"
    "    as expired or invalid, a fresh one is asked for once: the file is read\n"
    "    again, or the command run again with NATIDLE_OAUTH2_REFRESH=1 in its\n"
    "    environment (so it can refresh instead of printing a cached token).  A\n"
    "    second refusal is permanent.  The token never appears in logs.\n"
    "\n",
    "OPTIONS\n",
    ni__conn_opts_help,
    "  Keepalive:\n"
    "    --mailbox NAME       mailbox to watch (default INBOX)\n",
    "    --nat-timeout S      the NAT's idle timeout is known to be S seconds:\n"
    "                         keep every silence a margin below it\n"
    "    --from-summary FILE  take the NAT's bracket from a 'natidle probe\n"
    "                         --summary' file (rows of --network when given);\n"
    "                         with only masked_by_server rows, rely on the\n"
    "                         server's keepalive (their server_keepalive_s) and\n"
    "                         fall back below their lower_s\n"
    "    --adaptive           learn the NAT's timeout online (default)\n"
    "    --interval S         send a keepalive after every S seconds of silence,\n"
    "                         whatever the scheduler would choose\n"
    "    --server-keepalive S the server sends its own keepalive in IDLE every\n"
    "                         S seconds (Dovecot: imap_idle_notify_interval,\n"
    "                         2 min by default): rely on it, keep alive only\n"
    "                         when it is missed (not with --interval)\n"
    "    --state FILE         remember what was learned per network in FILE and\n"
    "                         start from it next time\n"
    "                         (per --network, default \"default\")\n"
    "    --accounts FILE      several accounts, one per line:\n"
    "                             user password_file [server [port [tls]]]\n"
    "                         (server, port and tls default to the options);\n"
    "                         blank lines and lines starting with # are skipped.\n"
    "                         All accounts share wakeups.\n"
    "    --log FILE.csv       append one row per event of each account: at,\n"
    "                         account, event, interval_s, outcome, rtt_ms,\n"
    "                         bytes_out, bytes_in, network, delay_ms, wakeups,\n"
    "                         lower_s, upper_s, cadence_s (docs/CSV.md).  Events:\n"
    "                         start (outcome: where the cadence comes from),\n"
    "                         keepalive (answered or unanswered; interval_s =\n"
    "                         silence before it), connect (ok: the session\n"
    "                         reached IDLE, or the error), lost (why, e.g.\n"
    "                         timedout, closed, reset), message (pushed, fetched\n"
    "                         or late; delay_ms = push delay), cadence (the\n"
    "                         learned bracket or the cadence changed: probing\n"
    "                         or steady), server (relying: the server's\n"
    "                         keepalive holds the connection, nothing sent;\n"
    "                         missed: it did not come, keepalives of our own;\n"
    "                         interval_s = the server's interval), failed (the\n"
    "                         permanent error, e.g. auth, cert), stop.\n"
    "                         'natidle report' reads it.  A\n"
    "                         log of an older natidle (8 columns) is refused:\n"
    "                         give a new file\n"
    "    --duration S         stop after S seconds (default: run until a signal)\n"
    "    --no-notify          never use NOTIFY: IDLE, then FETCH on EXISTS\n"
    "    --oauth2-token-file FILE\n"
    "                         log in with the OAuth2 access token on FILE's first\n"
    "                         line, read at every login (not with --accounts)\n"
    "    --oauth2-token-cmd CMD\n"
    "                         log in with the access token CMD prints on its\n"
    "                         first line (run by /bin/sh at every login, within\n"
    "                         20 s; not with --accounts)\n"
    "    --quiet              no progress on standard error\n"
    "    -h, --help           this text\n"
    "\n",
    "EXIT STATUS\n"
    "    0 after --duration; 130 after SIGINT or SIGTERM; 2 bad command line or\n"
    "    unreadable file.  A session that fails before it ever reached IDLE ends\n"
    "    the command: 3 login refused (or no TLS without --allow-plaintext),\n"
    "    4 TLS or certificate failure, 5 network failure, 6 the server lacks\n"
    "    IDLE or STARTTLS, 1 anything else.  After a session has once reached\n"
    "    IDLE, only a permanent error ends it (the command then ends with the\n"
    "    same codes once no session is left); other failures make it reconnect.\n"
    "\n"
    "EXAMPLES\n"
    "    Keep push alive behind a NAT measured at 5 minutes:\n"
    "        natidle keepalive --server imap.example.org --user alice \\\n"
    "            --password-file ~/.natidle-pw --nat-timeout 300\n"
    "\n"
    "    Learn the cadence on this network, remember it, log every keepalive:\n"
    "        natidle keepalive --server imap.example.org --user alice \\\n"
    "            --state ~/.natidle-state --network home-lte --log ka.csv\n"
    "\n"
    "    Behind a NAT that a probe found masked by Dovecot's 2-min keepalive:\n"
    "        natidle keepalive --server imap.example.org --user alice \\\n"
    "            --password-file ~/.natidle-pw --from-summary summary.csv\n"
    "\n"
    "    Two accounts, one wakeup for both, for one hour:\n"
    "        natidle keepalive --server imap.example.org --accounts accounts.txt \\\n"
    "            --from-summary summary.csv --network home-lte --duration 1h\n",
    NULL};

/* One account of the command line or of --accounts. */
typedef struct account {
  char *user, *password_file, *server, *tls_name;
  unsigned long port;
  char *password;
  ni_push *push;
  int reached_idle; /* has reached IDLE at least once */
  int up;           /* in IDLE/keepalive/fetching since the last connect */
  int failed;       /* ended by a permanent error */
  unsigned saved_gen;
  /* The scheduler's state as the last cadence row of --log gave it. */
  int logged_cadence;
  ni_ms log_lower, log_upper, log_interval;
  int log_probing;
  int srv_state; /* ni_ka_server() as last printed and logged */
} account;

typedef struct app {
  uv_loop_t *loop;
  ni_push_group *group;
  account acc[MAX_ACCOUNTS];
  size_t nacc;
  ni_csv_writer *log;
  const char *log_path;
  const char *state_file, *network;
  const char *token_file, *token_cmd; /* OAuth2 access token sources */
  int quiet;
  ni_ms server_ka_ms; /* the server's keepalive relied on, 0 = none */
  int stopping;       /* stop_all() was called */
  int in_stop_all;
  int finished;
  int exit_code;
  uv_signal_t sigint, sigterm;
  uv_timer_t duration;
  int have_duration;
} app;

/* ---- output -------------------------------------------------------------- */

static void fmt_now_utc(char *buf, size_t len) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ni_csv_fmt_utc(buf, len, (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

/* Write one row of the keepalive log.  interval, rtt and delay
 * NI_TIME_NEVER = empty; with `bracket` the row also carries the
 * scheduler's bracket and cadence (a cadence row). */
static void log_row(app *a, account *ac, const char *event, ni_ms interval, const char *outcome,
                    ni_ms rtt, ni_ms delay, int bracket) {
  if (!a->log) return;
  ni_push_stats st;
  ni_push_get_stats(ac->push, &st);
  char at[NI_CSV_TIME_LEN], iv[32] = "", rt[32] = "", bo[32], bi[32], dl[32] = "", wk[32];
  char lo[32] = "", hi[32] = "", cad[32] = "";
  fmt_now_utc(at, sizeof at);
  if (interval != NI_TIME_NEVER) ni_csv_fmt_seconds(iv, sizeof iv, interval);
  if (rtt != NI_TIME_NEVER) snprintf(rt, sizeof rt, "%llu", (unsigned long long)rtt);
  if (delay != NI_TIME_NEVER) snprintf(dl, sizeof dl, "%llu", (unsigned long long)delay);
  snprintf(bo, sizeof bo, "%llu", (unsigned long long)st.bytes_out);
  snprintf(bi, sizeof bi, "%llu", (unsigned long long)st.bytes_in);
  snprintf(wk, sizeof wk, "%llu", (unsigned long long)st.wakeups);
  if (bracket) {
    /* 0 is the scheduler's "unknown" for either end: an empty field. */
    if (ac->log_lower) ni_csv_fmt_seconds(lo, sizeof lo, ac->log_lower);
    if (ac->log_upper) ni_csv_fmt_seconds(hi, sizeof hi, ac->log_upper);
    ni_csv_fmt_seconds(cad, sizeof cad, ac->log_interval);
  }
  const char *row[NI_KALOG_NCOLS] = {at, ni_push_account(ac->push),    event, iv, outcome, rt, bo,
                                     bi, a->network ? a->network : "", dl,    wk, lo,      hi, cad};
  int rc = ni_csv_write_row(a->log, row);
  if (rc < 0) {
    ni__cli_error(CMD, "--log: %s; logging stops", ni_strerror(rc));
    ni_csv_writer_close(a->log);
    a->log = NULL;
  }
}

/* A cadence row when the scheduler's bracket, cadence or phase moved since
 * the last one.  The scheduler has no callback for that, so this is asked
 * at every event of the session: the row's time is when the change was
 * seen, at the latest the event that follows it. */
static void log_cadence(app *a, account *ac) {
  if (!a->log) return;
  const ni_ka *ka = ni_push_scheduler(ac->push);
  ni_ms lo, hi, iv = ni_ka_interval(ka);
  int probing = ni_ka_is_probing(ka);
  ni_ka_bracket(ka, &lo, &hi);
  if (ac->logged_cadence && lo == ac->log_lower && hi == ac->log_upper && iv == ac->log_interval &&
      probing == ac->log_probing)
    return;
  ac->logged_cadence = 1;
  ac->log_lower = lo;
  ac->log_upper = hi;
  ac->log_interval = iv;
  ac->log_probing = probing;
  log_row(a, ac, "cadence", NI_TIME_NEVER, probing ? "probing" : "steady", NI_TIME_NEVER,
          NI_TIME_NEVER, 1);
}

/* A server row (and a line on stderr) when the session started or stopped
 * relying on the server's keepalive, asked like the cadence. */
static void log_server(app *a, account *ac) {
  const ni_ka *ka = ni_push_scheduler(ac->push);
  int st = (int)ni_ka_server(ka);
  if (st == ac->srv_state) return;
  ac->srv_state = st;
  ni_ms every = a->server_ka_ms;
  if (st == NI_KA_SRV_NONE) return;
  if (!a->quiet && st == NI_KA_SRV_RELYING)
    fprintf(stderr,
            "natidle %s: %s relying on the server's keepalive every %.1f s: no keepalive of "
            "our own while it comes\n",
            CMD, ni_push_account(ac->push), (double)every / 1000.0);
  else if (!a->quiet)
    fprintf(stderr,
            "natidle %s: %s server keepalive missed (nothing for %.1f s): keeping alive "
            "ourselves every %.1f s\n",
            CMD, ni_push_account(ac->push), (double)ni_ka_server_watch(ka) / 1000.0,
            (double)ni_ka_interval(ka) / 1000.0);
  log_row(a, ac, "server", every, st == NI_KA_SRV_RELYING ? "relying" : "missed", NI_TIME_NEVER,
          NI_TIME_NEVER, 0);
}

/* An event row, then the cadence row the event may have caused. */
static void log_event(app *a, account *ac, const char *event, ni_ms interval, const char *outcome,
                      ni_ms rtt, ni_ms delay) {
  log_row(a, ac, event, interval, outcome, rtt, delay, 0);
  log_cadence(a, ac);
  log_server(a, ac);
}

/* Print a header value as a double-quoted string: \ and " escaped. */
static void print_quoted(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') putchar('\\');
    putchar(*s);
  }
  putchar('"');
}

/* Lower-case error name without its prefix, for the log's outcome column:
 * NI_ETIMEDOUT -> "timedout", ECONNRESET -> "econnreset". */
static void err_outcome(int err, char *buf, size_t len) {
  const char *n = ni_err_name(err);
  if (!strncmp(n, "NI_E", 4)) n += 4;
  size_t i = 0;
  for (; n[i] && i + 1 < len; i++)
    buf[i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] - 'A' + 'a' : n[i]);
  buf[i] = 0;
}

/* Save what the scheduler learned when it changed since the last save. */
static void save_state(app *a, account *ac) {
  if (!a->state_file) return;
  ni_ms lo, hi;
  unsigned gen = ni_ka_bracket(ni_push_scheduler(ac->push), &lo, &hi);
  if (gen == ac->saved_gen || !lo) return;
  ac->saved_gen = gen;
  int rc = ni_ka_state_save(a->state_file, a->network, lo, hi, (uint64_t)time(NULL));
  if (rc < 0) ni__cli_error(CMD, "--state %s: %s", a->state_file, ni_strerror(rc));
}

/* ---- session callbacks ----------------------------------------------------- */

static void finish(app *a);
static void stop_all(app *a, int code);

static account *account_of(app *a, ni_push *p) {
  for (size_t i = 0; i < a->nacc; i++)
    if (a->acc[i].push == p) return &a->acc[i];
  return NULL;
}

static void on_push_message(ni_push *p, const ni_push_msg *m, void *ud) {
  app *a = ud;
  account *ac = account_of(a, p);
  printf("new uid=%lu from=", (unsigned long)m->uid);
  print_quoted(m->from);
  printf(" subject=");
  print_quoted(m->subject);
  printf(" delay=%.3fs%s", (double)m->delay_ms / 1000.0, m->late ? " late" : "");
  if (a->nacc > 1) printf(" account=%s", ni_push_account(p));
  putchar('\n');
  fflush(stdout);
  if (ac)
    log_event(a, ac, "message", NI_TIME_NEVER,
              m->late     ? "late"
              : m->pushed ? "pushed"
                          : "fetched",
              NI_TIME_NEVER, m->delay_ms);
}

/* Whether every session has ended (stopped, failed, or never made). */
static int all_ended(app *a) {
  for (size_t i = 0; i < a->nacc; i++) {
    ni_push_state st = a->acc[i].push ? ni_push_get_state(a->acc[i].push) : NI_PUSH_STOPPED;
    if (st != NI_PUSH_STOPPED && st != NI_PUSH_FAILED) return 0;
  }
  return 1;
}

/* A session ended for good: say why, log it, and end the command once no
 * session is left. */
static void session_failed(app *a, account *ac, int err, const char *detail) {
  char outcome[32];
  err_outcome(err, outcome, sizeof outcome);
  ni__cli_error(CMD, "%s: %s (not retrying)", ni_push_account(ac->push),
                *detail ? detail : ni_strerror(err));
  log_row(a, ac, "failed", NI_TIME_NEVER, outcome, NI_TIME_NEVER, NI_TIME_NEVER, 0);
  ac->up = 0;
  ac->failed = 1;
  if (!a->stopping && all_ended(a))
    stop_all(a, ni_exit_code_for(err) == NI_EXIT_OK ? NI_EXIT_FAILURE : ni_exit_code_for(err));
  else if (a->stopping && !a->in_stop_all)
    finish(a);
}

static void on_state(ni_push *p, ni_push_state s, int err, const char *detail, void *ud) {
  app *a = ud;
  account *ac = account_of(a, p);
  if (!ac) return;
  if (s == NI_PUSH_FAILED) {
    session_failed(a, ac, err, detail);
    return;
  }
  /* A session that never reached IDLE and fails ends the command below,
   * with its own message. */
  int fatal = s == NI_PUSH_RECONNECT_WAIT && !ac->reached_idle && !a->stopping;
  if (!a->quiet && !fatal) {
    fprintf(stderr, "natidle %s: %s state %s", CMD, ni_push_account(p), ni_push_state_name(s));
    if (*detail || s == NI_PUSH_RECONNECT_WAIT)
      fprintf(stderr, " (%s", *detail ? detail : ni_strerror(err));
    if (s == NI_PUSH_RECONNECT_WAIT)
      fprintf(stderr, "; retry in %.1f s", (double)ni_push_reconnect_in(p) / 1000.0);
    if (*detail || s == NI_PUSH_RECONNECT_WAIT) fputc(')', stderr);
    fputc('\n', stderr);
  }
  if (s == NI_PUSH_IDLE && !ac->up) {
    ac->up = 1;
    ac->reached_idle = 1;
    log_event(a, ac, "connect", NI_TIME_NEVER, "ok", NI_TIME_NEVER, NI_TIME_NEVER);
  }
  if (s == NI_PUSH_RECONNECT_WAIT) {
    char outcome[32];
    err_outcome(err, outcome, sizeof outcome);
    log_event(a, ac, ac->up ? "lost" : "connect", NI_TIME_NEVER, outcome, NI_TIME_NEVER,
              NI_TIME_NEVER);
    ac->up = 0;
    if (fatal) {
      /* Never got going: a wrong password or certificate does not heal by
       * retrying, and a daemon that hides that helps nobody. */
      ni__cli_error(CMD, "%s: %s", ni_push_account(p), *detail ? detail : ni_strerror(err));
      stop_all(a, ni_exit_code_for(err) == NI_EXIT_OK ? NI_EXIT_FAILURE : ni_exit_code_for(err));
    }
  }
  log_cadence(a, ac);
  if (s == NI_PUSH_STOPPED) {
    ac->up = 0;
    if (a->stopping && !a->in_stop_all) finish(a);
  }
}

static void on_keepalive(ni_push *p, const ni_push_ka_event *ev, void *ud) {
  app *a = ud;
  account *ac = account_of(a, p);
  if (!ac) return;
  switch (ev->kind) {
  case NI_PUSH_KA_SENT:
    log_server(a, ac); /* a missed server keepalive comes first */
    if (!a->quiet)
      fprintf(stderr, "natidle %s: %s keepalive after %.1f s of silence\n", CMD, ni_push_account(p),
              (double)ev->interval_ms / 1000.0);
    log_cadence(a, ac);
    break;
  case NI_PUSH_KA_ANSWERED:
    if (!a->quiet)
      fprintf(stderr, "natidle %s: %s keepalive answered in %llu ms\n", CMD, ni_push_account(p),
              (unsigned long long)ev->rtt_ms);
    log_event(a, ac, "keepalive", ev->interval_ms, "answered", ev->rtt_ms, NI_TIME_NEVER);
    save_state(a, ac);
    break;
  case NI_PUSH_KA_UNANSWERED:
    if (!a->quiet)
      fprintf(stderr, "natidle %s: %s keepalive unanswered: connection dead\n", CMD,
              ni_push_account(p));
    log_event(a, ac, "keepalive", ev->interval_ms, "unanswered", NI_TIME_NEVER, NI_TIME_NEVER);
    save_state(a, ac);
    break;
  }
}

/* OAuth2: read the access token for a login from --oauth2-token-file or
 * --oauth2-token-cmd.  Blocking is acceptable here: the tool runs one
 * OAuth2 account, whose login waits for the token anyway. */
static void on_token(ni_push *p, int refresh, void *ud) {
  app *a = ud;
  char *tok = NULL, err[256] = "";
  int rc;
  if (a->token_file) {
    rc = ni__cred_read_file(a->token_file, "OAuth2 token file", &tok, err, sizeof err);
  } else {
    /* Tells the command to refresh rather than print a cached token. */
    if (refresh)
      setenv("NATIDLE_OAUTH2_REFRESH", "1", 1);
    else
      unsetenv("NATIDLE_OAUTH2_REFRESH");
    rc = ni__cred_from_command(a->token_cmd, "OAuth2 token command", 20000, &tok, err, sizeof err);
    unsetenv("NATIDLE_OAUTH2_REFRESH");
  }
  if (rc < 0) {
    ni__cli_error(CMD, "%s: %s", ni_push_account(p), err);
    ni_push_set_token(p, NULL, 0); /* the session fails: no token to be had */
    return;
  }
  ni_push_set_token(p, tok, strlen(tok));
  ni__cred_free(tok);
}

/* ---- start and stop ---------------------------------------------------------- */

static void close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* All sessions ended: close our handles so uv_run returns. */
static void finish(app *a) {
  if (!all_ended(a)) return;
  if (a->finished) return;
  a->finished = 1;
  close_handle((uv_handle_t *)&a->sigint);
  close_handle((uv_handle_t *)&a->sigterm);
  if (a->have_duration) close_handle((uv_handle_t *)&a->duration);
}

static void stop_all(app *a, int code) {
  if (a->stopping) {
    /* A second signal: stop at once, without LOGOUT. */
    for (size_t i = 0; i < a->nacc; i++)
      if (a->acc[i].push) ni_push_stop(a->acc[i].push, 0);
    finish(a);
    return;
  }
  a->stopping = 1;
  a->exit_code = code;
  a->in_stop_all = 1;
  for (size_t i = 0; i < a->nacc; i++)
    if (a->acc[i].push) ni_push_stop(a->acc[i].push, 1);
  a->in_stop_all = 0;
  finish(a);
}

static void on_signal(uv_signal_t *h, int signum) {
  app *a = h->data;
  (void)signum;
  stop_all(a, NI_EXIT_INTERRUPTED);
}

static void on_duration(uv_timer_t *t) {
  app *a = t->data;
  stop_all(a, NI_EXIT_OK);
}

/* ---- configuration ------------------------------------------------------------ */

/* Split a line of --accounts into at most `max` white-space separated words. */
static size_t split_words(char *line, char **w, size_t max) {
  size_t n = 0;
  char *save = NULL;
  for (char *t = strtok_r(line, " \t\r\n", &save); t && n < max;
       t = strtok_r(NULL, " \t\r\n", &save))
    w[n++] = t;
  return n;
}

static char *xstrdup(const char *s) {
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) {
    ni__cli_error(CMD, "out of memory");
    exit(NI_EXIT_FAILURE);
  }
  return d;
}

static int read_accounts(app *a, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    ni__usage_error(CMD, "--accounts %s: %s", path, strerror(errno));
    return NI_EUSAGE;
  }
  char line[1024];
  unsigned lineno = 0;
  int rc = 0;
  while (rc == 0 && fgets(line, sizeof line, f)) {
    lineno++;
    char *w[6];
    size_t n = split_words(line, w, 6);
    if (n == 0 || w[0][0] == '#') continue;
    if (n < 2 || n > 5) {
      ni__usage_error(CMD, "--accounts %s:%u: expected: user password_file [server [port [tls]]]",
                      path, lineno);
      rc = NI_EUSAGE;
      break;
    }
    if (a->nacc == MAX_ACCOUNTS) {
      ni__usage_error(CMD, "--accounts %s: more than %d accounts", path, MAX_ACCOUNTS);
      rc = NI_EUSAGE;
      break;
    }
    account *ac = &a->acc[a->nacc++];
    ac->user = xstrdup(w[0]);
    ac->password_file = xstrdup(w[1]);
    ac->server = n > 2 ? xstrdup(w[2]) : NULL;
    if (n > 3 && ni__parse_uint(w[3], 1, 65535, &ac->port) < 0) {
      ni__usage_error(CMD, "--accounts %s:%u: bad port '%s'", path, lineno, w[3]);
      rc = NI_EUSAGE;
    }
    ac->tls_name = n > 4 ? xstrdup(w[4]) : NULL;
  }
  fclose(f);
  if (rc == 0 && a->nacc == 0) {
    ni__usage_error(CMD, "--accounts %s: no account in it", path);
    rc = NI_EUSAGE;
  }
  return rc;
}

/* Masked runs of the summary for `network` (all when NULL): the smallest
 * lower bound and the shortest server keepalive, into *lo and *ska (ms);
 * 0 when there is none. */
static void masked_from_summary(ni_report *rep, const char *network, ni_ms *lo, ni_ms *ska) {
  double best_lo = NAN, best_ka = NAN;
  for (size_t i = 0, n = ni_report_nruns(rep); i < n; i++) {
    const ni_run_summary *r = ni_report_run(rep, i);
    if (strcmp(r->verdict, "masked_by_server") || !(r->server_keepalive_s > 0)) continue;
    if (network && (!r->network || strcmp(r->network, network))) continue;
    if (r->lower_s > 0 && (isnan(best_lo) || r->lower_s < best_lo)) best_lo = r->lower_s;
    if (isnan(best_ka) || r->server_keepalive_s < best_ka) best_ka = r->server_keepalive_s;
  }
  *lo = isnan(best_lo) ? 0 : (ni_ms)(best_lo * 1000.0);
  *ska = isnan(best_ka) ? 0 : (ni_ms)(best_ka * 1000.0);
}

/* The most conservative bracket of the summary's rows for `network` (all
 * rows when NULL): the smallest lower bound, and the smallest upper bound
 * not below it.  With no measured bracket but masked_by_server runs: their
 * smallest lower bound, no upper, and their server keepalive in *ska (else
 * *ska is 0). */
static int bracket_from_summary(const char *path, const char *network, ni_ms *lo, ni_ms *hi,
                                ni_ms *ska) {
  ni_report *rep = ni_report_new();
  char err[256] = "";
  if (!rep) return -ENOMEM;
  int rc = ni_report_load(rep, path, NULL, err, sizeof err);
  if (rc < 0) {
    ni__usage_error(CMD, "--from-summary: %s", *err ? err : ni_strerror(rc));
    ni_report_free(rep);
    return NI_EUSAGE;
  }
  double best_lo = NAN, best_hi = NAN;
  for (size_t i = 0, n = ni_report_nrows(rep); i < n; i++) {
    const ni_net_row *r = ni_report_row(rep, i);
    if (r->bracket == NI_BRACKET_NONE || !isfinite(r->lower_s) || r->lower_s <= 0) continue;
    if (network && (!r->network || strcmp(r->network, network))) continue;
    if (isnan(best_lo) || r->lower_s < best_lo) best_lo = r->lower_s;
    if (isfinite(r->upper_s) && (isnan(best_hi) || r->upper_s < best_hi)) best_hi = r->upper_s;
  }
  *ska = 0;
  if (isnan(best_lo)) {
    masked_from_summary(rep, network, lo, ska);
    ni_report_free(rep);
    *hi = 0;
    if (*ska) return 0;
    ni__usage_error(CMD, "--from-summary %s: no measured bracket%s%s (nor a masked_by_server run)",
                    path, network ? " for network " : "", network ? network : "");
    return NI_EUSAGE;
  }
  ni_report_free(rep);
  *lo = (ni_ms)(best_lo * 1000.0);
  *hi = isfinite(best_hi) && best_hi >= best_lo ? (ni_ms)(best_hi * 1000.0) : 0;
  return 0;
}

typedef struct cli {
  ni__conn_args conn;
  const char *mailbox, *summary, *accounts, *log;
  int adaptive, no_notify, have_nat, have_interval, have_server_ka;
  const char *token_file, *token_cmd;
  double nat_s, interval_s, duration_s, server_ka_s;
} cli;

/* Parse argv into *c and the app's plain fields.  Returns 0, 1 for --help
 * (printed), or NI_EUSAGE (message printed). */
static int parse_args(int argc, char **argv, cli *c, app *a) {
  c->conn.tls = "imaps";
  const ni__opt opts[] = {
      NI__CONN_OPTS(&c->conn),
      {"mailbox", 0, NI__OPT_STRING, &c->mailbox, 0, 0, NULL},
      {"nat-timeout", 0, NI__OPT_SECONDS, &c->nat_s, 1, 86400, &c->have_nat},
      {"from-summary", 0, NI__OPT_STRING, &c->summary, 0, 0, NULL},
      {"adaptive", 0, NI__OPT_FLAG, &c->adaptive, 0, 0, NULL},
      {"interval", 0, NI__OPT_SECONDS, &c->interval_s, 1, 86400, &c->have_interval},
      {"server-keepalive", 0, NI__OPT_SECONDS, &c->server_ka_s, 1, 86400, &c->have_server_ka},
      {"state", 0, NI__OPT_STRING, &a->state_file, 0, 0, NULL},
      {"accounts", 0, NI__OPT_STRING, &c->accounts, 0, 0, NULL},
      {"log", 0, NI__OPT_STRING, &c->log, 0, 0, NULL},
      {"duration", 0, NI__OPT_SECONDS, &c->duration_s, 0.001, 366.0 * 86400, NULL},
      {"no-notify", 0, NI__OPT_FLAG, &c->no_notify, 0, 0, NULL},
      {"quiet", 0, NI__OPT_FLAG, &a->quiet, 0, 0, NULL},
      {"oauth2-token-file", 0, NI__OPT_STRING, &c->token_file, 0, 0, NULL},
      {"oauth2-token-cmd", 0, NI__OPT_STRING, &c->token_cmd, 0, 0, NULL},
  };
  int rc = ni__opts_parse(CMD, argc, argv, opts, sizeof opts / sizeof opts[0], NULL);
  if (rc == 1) {
    for (const char *const *h = help_text; *h; h++)
      fputs(*h, stdout);
    return 1;
  }
  if (rc != 0) return rc;
  a->network = c->conn.network;
  if (c->have_nat + !!c->summary + c->adaptive > 1) {
    ni__usage_error(CMD, "--nat-timeout, --from-summary and --adaptive exclude each other");
    return NI_EUSAGE;
  }
  if (c->have_server_ka && c->have_interval) {
    ni__usage_error(CMD, "--server-keepalive and --interval exclude each other");
    return NI_EUSAGE;
  }
  if (!c->accounts && (!c->conn.server || !c->conn.user)) {
    ni__usage_error(CMD, "--server and --user are needed (or --accounts)");
    return NI_EUSAGE;
  }
  if (c->accounts && (c->conn.user || c->conn.password_file)) {
    ni__usage_error(CMD, "--accounts names users and password files itself");
    return NI_EUSAGE;
  }
  if (c->token_file && c->token_cmd) {
    ni__usage_error(CMD, "--oauth2-token-file and --oauth2-token-cmd exclude each other");
    return NI_EUSAGE;
  }
  if ((c->token_file || c->token_cmd) && (c->accounts || c->conn.password_file)) {
    ni__usage_error(CMD, "an OAuth2 token is for the --user account, without --password-file "
                         "or --accounts");
    return NI_EUSAGE;
  }
  a->token_file = c->token_file;
  a->token_cmd = c->token_cmd;
  if (a->state_file && !a->network) a->network = "default";
  return 0;
}

/* Scheduler configuration from the command line (and the state file). */
static int make_ka_config(const cli *c, app *a, ni_ka_config *kc) {
  ni_ka_config_default(kc);
  kc->seed = (uint64_t)uv_hrtime() | 1u;
  ni_ms lo = 0, hi = 0;
  if (c->have_interval) {
    /* A forced cadence: no learning, and the bounds pin the interval. */
    ni_ms iv = (ni_ms)(c->interval_s * 1000.0);
    kc->adaptive = 0;
    kc->start_ms = kc->min_interval_ms = kc->max_interval_ms = iv;
    return 0;
  }
  if (c->have_nat) {
    lo = hi = (ni_ms)(c->nat_s * 1000.0);
    kc->adaptive = 0;
  } else if (c->summary) {
    ni_ms ska;
    int rc = bracket_from_summary(c->summary, a->network, &lo, &hi, &ska);
    if (rc < 0) return rc;
    kc->adaptive = hi == 0; /* an open bracket: learn above its lower end */
    if (ska) {
      /* Masked by the server's keepalive: rely on it, and when it fails
       * keep the cadence below what the probe saw survive, learning
       * nothing above it (that would cost lost pushes). */
      kc->adaptive = 0;
      kc->server_keepalive_ms = ska;
    }
  } else if (a->state_file) {
    uint64_t when;
    int rc = ni_ka_state_load(a->state_file, a->network, &lo, &hi, &when);
    if (rc < 0 && rc != -ENOENT && !a->quiet)
      ni__cli_error(CMD, "--state %s: %s; starting from nothing", a->state_file, ni_strerror(rc));
    if (rc < 0) lo = hi = 0;
    kc->adaptive = 1;
  }
  kc->nat_lower_ms = lo;
  kc->nat_upper_ms = hi;
  if (c->have_server_ka) kc->server_keepalive_ms = (ni_ms)(c->server_ka_s * 1000.0);
  /* A NAT known to forget within seconds needs keepalives that often: the
   * scheduler's floor of NI_KA_MIN_INTERVAL_MS guards against noise, not
   * against what the user measured. */
  if (lo && lo < 2 * (ni_ms)NI_KA_MIN_INTERVAL_MS) kc->min_interval_ms = 1000;
  return 0;
}

static int parse_tls(const char *name, ni_push_security *sec) {
  ni_tls_mode m;
  if (ni_tls_mode_parse(name ? name : "imaps", &m) < 0) {
    ni__usage_error(CMD, "--tls must be imaps, starttls or none, not '%s'", name);
    return NI_EUSAGE;
  }
  *sec = m == NI_TLS_NONE       ? NI_PUSH_PLAINTEXT
         : m == NI_TLS_STARTTLS ? NI_PUSH_STARTTLS
                                : NI_PUSH_IMAPS;
  return 0;
}

static void tally(app *a) {
  ni_push_stats t, st;
  memset(&t, 0, sizeof t);
  for (size_t i = 0; i < a->nacc; i++) {
    if (!a->acc[i].push) continue;
    ni_push_get_stats(a->acc[i].push, &st);
    t.keepalives += st.keepalives;
    t.keepalives_answered += st.keepalives_answered;
    t.keepalives_unanswered += st.keepalives_unanswered;
    t.reconnects += st.reconnects;
    t.messages += st.messages;
    t.messages_late += st.messages_late;
    t.bytes_out += st.bytes_out;
    t.bytes_in += st.bytes_in;
    if (st.worst_delay_ms > t.worst_delay_ms) t.worst_delay_ms = st.worst_delay_ms;
  }
  printf("tally keepalives=%llu answered=%llu unanswered=%llu wakeups=%llu reconnects=%llu "
         "messages=%llu late=%llu worst_delay=%.3fs bytes_out=%llu bytes_in=%llu\n",
         (unsigned long long)t.keepalives, (unsigned long long)t.keepalives_answered,
         (unsigned long long)t.keepalives_unanswered,
         (unsigned long long)ni_push_group_wakeups(a->group), (unsigned long long)t.reconnects,
         (unsigned long long)t.messages, (unsigned long long)t.messages_late,
         (double)t.worst_delay_ms / 1000.0, (unsigned long long)t.bytes_out,
         (unsigned long long)t.bytes_in);
  fflush(stdout);
}

static void free_accounts(app *a) {
  for (size_t i = 0; i < a->nacc; i++) {
    account *ac = &a->acc[i];
    if (ac->push) ni_push_free(ac->push);
    ni__cred_free(ac->password);
    free(ac->user);
    free(ac->password_file);
    free(ac->server);
    free(ac->tls_name);
  }
}

/* 1 when the CSV at `path` has the keepalive log's original eight-column
 * header, written before the network and cadence columns existed. */
static int is_old_log(const char *path) {
  ni_csv_reader *r = ni_csv_reader_open(path, NULL);
  int old = r && ni_csv_ncols(r) == NI_KALOG_V1_NCOLS;
  for (size_t i = 0; old && i < NI_KALOG_V1_NCOLS; i++)
    old = !strcmp(ni_csv_column_name(r, i), ni_kalog_columns[i]);
  ni_csv_reader_close(r);
  return old;
}

/* Open --log for appending.  A log of the older layout is refused rather
 * than extended: rows of two layouts under one header would be misread,
 * and rewriting the user's file is not ours to do.  Returns NI_EXIT_OK, or
 * the exit code with the message printed: a file of another layout is a
 * wrong argument (2), like a missing directory. */
static int open_log(app *a, const char *path) {
  int err = 0;
  a->log = ni_csv_writer_open(path, ni_kalog_columns, NI_KALOG_NCOLS, &err);
  a->log_path = path;
  if (a->log) return NI_EXIT_OK;
  if (err == NI_EMISMATCH && is_old_log(path))
    ni__usage_error(CMD,
                    "--log %s: a log of an older natidle (8 columns, no network or cadence); "
                    "give a new file, or rename this one: natidle report still reads it",
                    path);
  else if (err == NI_EMISMATCH)
    ni__usage_error(CMD, "--log %s: not a natidle keepalive log (other columns); give a new file",
                    path);
  else
    ni__usage_error(CMD, "--log %s: %s", path, ni_strerror(err));
  if (err == NI_EMISMATCH || ni_exit_code_for(err) == NI_EXIT_OK) return NI_EXIT_USAGE;
  return ni_exit_code_for(err);
}

/* How the cadence was chosen, for the log's start rows. */
static const char *cadence_source(const cli *c, const ni_ka_config *kc) {
  if (c->have_interval) return "interval";
  if (c->have_nat) return "nat-timeout";
  if (c->summary) return "from-summary";
  return kc->nat_lower_ms || kc->nat_upper_ms ? "state" : "adaptive";
}

int ni__cmd_keepalive(int argc, char **argv) {
  static app a; /* static: the signal handles must outlive any early return */
  memset(&a, 0, sizeof a);
  cli c;
  memset(&c, 0, sizeof c);
  int rc = parse_args(argc, argv, &c, &a);
  if (rc) return rc > 0 ? NI_EXIT_OK : NI_EXIT_USAGE;

  ni_push_security tls_default;
  if (parse_tls(c.conn.tls, &tls_default) < 0) return NI_EXIT_USAGE;
  int family = 0;
  if (ni__conn_family(CMD, c.conn.family, &family) != 0) return NI_EXIT_USAGE;
  if (c.accounts) {
    if (read_accounts(&a, c.accounts) < 0) {
      free_accounts(&a);
      return NI_EXIT_USAGE;
    }
  } else {
    a.acc[0].user = xstrdup(c.conn.user);
    a.acc[0].password_file = xstrdup(c.conn.password_file);
    a.nacc = 1;
  }
  ni_ka_config kc;
  if (make_ka_config(&c, &a, &kc) < 0) {
    free_accounts(&a);
    return NI_EXIT_USAGE;
  }
  a.server_ka_ms = kc.server_keepalive_ms;
  for (size_t i = 0; i < a.nacc; i++) {
    char err[256] = "";
    account *ac = &a.acc[i];
    if ((!ac->server && !c.conn.server) ||
        (ac->tls_name && parse_tls(ac->tls_name, &(ni_push_security){0}) < 0)) {
      if (!ac->server && !c.conn.server)
        ni__usage_error(CMD, "account %s has no server and --server is not given", ac->user);
      free_accounts(&a);
      return NI_EXIT_USAGE;
    }
    if (!a.token_file && !a.token_cmd &&
        ni__cred_read(ac->password_file, &ac->password, err, sizeof err) < 0) {
      ni__usage_error(CMD, "password of %s: %s", ac->user, err);
      free_accounts(&a);
      return NI_EXIT_USAGE;
    }
  }
  if (c.log && (rc = open_log(&a, c.log)) != NI_EXIT_OK) {
    free_accounts(&a);
    return rc;
  }

  a.loop = uv_default_loop();
  if (ni_push_group_new(a.loop, &a.group) < 0) {
    ni__cli_error(CMD, "out of memory");
    free_accounts(&a);
    ni_csv_writer_close(a.log);
    return NI_EXIT_FAILURE;
  }
  ni_push_cb cb = {.on_message = on_push_message,
                   .on_state = on_state,
                   .on_keepalive = on_keepalive,
                   .on_token = on_token};
  for (size_t i = 0; i < a.nacc; i++) {
    account *ac = &a.acc[i];
    ni_push_opts o;
    memset(&o, 0, sizeof o);
    o.host = ac->server ? ac->server : c.conn.server;
    o.port = (uint16_t)(ac->port ? ac->port : ac->server ? 0 : c.conn.port);
    o.security = tls_default;
    if (ac->tls_name) parse_tls(ac->tls_name, &o.security);
    o.user = ac->user;
    o.password = ac->password;
    if (a.token_file || a.token_cmd) o.auth = NI_PUSH_AUTH_OAUTH2;
    o.ca_file = c.conn.ca_file;
    o.insecure = c.conn.insecure;
    o.allow_plaintext = c.conn.allow_plaintext;
    o.family = family;
    o.mailbox = c.mailbox;
    o.no_notify = c.no_notify;
    o.ka = &kc;
    o.group = a.group;
    kc.seed = kc.seed * 6364136223846793005u + 1442695040888963407u; /* one per session */
    rc = ni_push_new(a.loop, &o, &cb, &a, &ac->push);
    if (rc < 0) {
      ni__cli_error(CMD, "%s: %s", ac->user, ni_strerror(rc));
      a.exit_code = ni_exit_code_for(rc);
      free_accounts(&a);
      ni_push_group_free(a.group);
      uv_run(a.loop, UV_RUN_DEFAULT);
      ni_csv_writer_close(a.log);
      return a.exit_code == NI_EXIT_OK ? NI_EXIT_FAILURE : a.exit_code;
    }
    /* The password now lives (wiped on free) in the session only. */
    ni__cred_free(ac->password);
    ac->password = NULL;
  }

  uv_signal_init(a.loop, &a.sigint);
  uv_signal_init(a.loop, &a.sigterm);
  a.sigint.data = a.sigterm.data = &a;
  uv_signal_start(&a.sigint, on_signal, SIGINT);
  uv_signal_start(&a.sigterm, on_signal, SIGTERM);
  if (c.duration_s > 0) {
    uv_timer_init(a.loop, &a.duration);
    a.duration.data = &a;
    a.have_duration = 1;
    uv_timer_start(&a.duration, on_duration, (uint64_t)(c.duration_s * 1000.0), 0);
  }
  for (size_t i = 0; i < a.nacc; i++)
    log_event(&a, &a.acc[i], "start", NI_TIME_NEVER, cadence_source(&c, &kc), NI_TIME_NEVER,
              NI_TIME_NEVER);
  for (size_t i = 0; i < a.nacc && !a.stopping; i++)
    ni_push_start(a.acc[i].push);
  uv_run(a.loop, UV_RUN_DEFAULT);
  for (size_t i = 0; i < a.nacc; i++)
    log_event(&a, &a.acc[i], "stop", NI_TIME_NEVER,
              a.exit_code == NI_EXIT_OK            ? "duration"
              : a.exit_code == NI_EXIT_INTERRUPTED ? "signal"
                                                   : "failed",
              NI_TIME_NEVER, NI_TIME_NEVER);

  /* A run that ended because a session could not start has nothing to
   * tally; the error said it all. */
  if (a.exit_code == NI_EXIT_OK || a.exit_code == NI_EXIT_INTERRUPTED) tally(&a);
  for (size_t i = 0; i < a.nacc; i++)
    save_state(&a, &a.acc[i]);
  free_accounts(&a);
  ni_push_group_free(a.group);
  uv_run(a.loop, UV_RUN_DEFAULT); /* let the handles' close callbacks free memory */
  rc = ni_csv_writer_close(a.log);
  if (rc < 0) ni__cli_error(CMD, "--log %s: %s", a.log_path, ni_strerror(rc));
  uv_loop_close(a.loop);
  return a.exit_code;
}
