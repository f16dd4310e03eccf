/*
 * The probe run: K silent IDLE sessions, one busy control connection, the
 * checks, the detection-deadline calibration, connection limits, CSV rows,
 * the summary and the cleanup of the probe's own mailboxes.
 *
 * Everything runs on one libuv loop.  Each probe session is a small state
 * machine (struct sess) driven by its connection's callbacks and one timer;
 * the control connection (struct ctl) APPENDs the markers and sends a NOOP
 * every few seconds so that its own NAT mapping never expires: it is the
 * witness that the network works while a session's check says "dead".
 *
 * Where to check is decided by probe/search.h; this file only measures.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "natidle/common.h"
#include "natidle/conn.h"
#include "natidle/csv.h"
#include "cli/util.h"
#include "probe/pcap.h"
#include "probe/prober.h"
#include "probe/search.h"

/* Calibration: this many APPEND-to-EXISTS samples on fresh sessions (or NOOP
 * round trips for outbound-only runs), and the detection deadline is
 * max(DETECT_FLOOR_MS, DETECT_FACTOR x the worst sample).  Five times the
 * worst of a few samples covers a busy server or a jittery radio link
 * without waiting long on a dead mapping; the 1 s floor covers delayed ACKs
 * and a single retransmission on a fast link. */
#define CAL_SAMPLES 3
#define DETECT_FACTOR 5
#define DETECT_FLOOR_MS 1000
/* A calibration sample that takes longer than this means the server does
 * not report new mail to IDLE sessions (or the path is unusable). */
#define CAL_TIMEOUT_MS 10000
/* The control connection's connect and login must finish within this. */
#define CTL_SETUP_MS 30000
/* Session setup (connect, login, SELECT, IDLE) must finish within this. */
#define SETUP_TIMEOUT_MS 30000
/* Reconnect backoff after a failed setup: doubles up to the cap. */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
/* After the server refused a connection for a limit, wait longer: dead
 * sessions only leave the server's count when its TCP gives up. */
#define LIMIT_BACKOFF_MIN_MS 30000
#define LIMIT_BACKOFF_MAX_MS 300000
/* Each stage of the shutdown (DONE and LOGOUT of the sessions; the cleanup
 * of the mailboxes, a few round trips each) never takes longer than this. */
#define SHUTDOWN_MS 60000
/* Checks are aimed this much after their target (see due_at). */
#define DUE_MARGIN_MS 10
/* Two reads closer than this are one burst of unsolicited data. */
#define BURST_MS 200

enum sess_state {
  SS_OFF,     /* no connection; maybe waiting for the backoff timer */
  SS_SETUP,   /* connecting, logging in, selecting, entering IDLE */
  SS_SILENT,  /* IDLE and silent: armed (timer at its target) or parked */
  SS_CHECK,   /* inbound check: marker APPENDed, waiting for EXISTS */
  SS_DONE,    /* DONE sent, waiting for the tagged OK */
  SS_REIDLE,  /* IDLE sent again, waiting for "+" */
  SS_LOGOUT   /* shutting down */
};

enum timer_kind { TK_NONE, TK_BACKOFF, TK_SETUP, TK_TARGET, TK_DETECT, TK_DONE };

/* What the DONE of a check is waiting to decide. */
enum ck_result {
  CK_OPEN,     /* nothing known yet: the answer to DONE decides */
  CK_DECIDED   /* the outcome is recorded; DONE only ends IDLE */
};

typedef struct probe probe;

typedef struct sess {
  probe *p;
  unsigned slot;       /* index for the search, 0..K-1 */
  unsigned num;        /* number in the CSV and in the mailbox name */
  char mbox[320];
  ni_imap *c;
  int state;
  uv_timer_t timer;
  int tk;              /* what the timer is for */
  ni_ms due;           /* when a TK_TARGET timer should fire */
  ni_ms silent_since;
  ni_search *armed;    /* the search it is armed in, NULL when parked */
  ni_ms last_unsol;    /* last unsolicited data on this connection */
  unsigned backoff_ms;
  uint16_t lport;      /* local port watched by the capture, 0 = none */
  int limited;         /* the last setup failure was a server limit */
  char bye[200];       /* last BYE / NO text, to recognise limit refusals */
  /* The check in progress. */
  int ck_dir;          /* NI_PDIR_INBOUND or NI_PDIR_OUTBOUND */
  int ck_cal;          /* a calibration sample, not an observation */
  int ck_result;
  ni_search *ck_search;
  double ck_target, ck_silence;
  ni_ms ck_fire, ck_sent, ck_ok;
  unsigned ck_epoch;   /* control connection generation at the start */
} sess;

enum ctl_state { CT_OFF, CT_SETUP, CT_READY, CT_LOGOUT };

typedef struct ctl {
  ni_imap *c;
  int state;
  unsigned epoch;      /* incremented whenever the connection is lost */
  uv_timer_t timer;    /* NOOP cadence, or the reconnect backoff */
  ni_ms noop_sent;
  int noop_inflight;
  unsigned backoff_ms;
  double srtt_ms;      /* smoothed NOOP round trip */
  ni_ms last_reply;    /* when the server last answered a command */
  ni_ms stall_end;     /* when the last slow NOOP was answered (0: none) */
  char bye[200];
} ctl;

/* Sequential check-then-delete of probe mailboxes on the control
 * connection. */
typedef struct janitor {
  char **names;
  size_t n, cap, i;
  char criteria[160];  /* UID SEARCH criteria that select our markers */
  char root[200];      /* the mailbox whose tree is cleaned */
  uint32_t all, ours;
  uint32_t *counting;  /* where SEARCH results are being counted */
  int listing;         /* LIST responses go into names */
  unsigned deleted, refused;
  void (*done)(probe *p);
} janitor;

enum phase { PH_CONNECT, PH_CREATE, PH_CALIBRATE, PH_RUN, PH_SHUTDOWN, PH_CLEANUP, PH_DONE };

struct probe {
  const ni_probe_opts *o;
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  uv_timer_t wall, tick, stop_timer, kick;
  ni_status st;
  ctl ctl;
  sess *ss;
  unsigned k;
  int phase;
  char run_id[64];
  char sep;            /* hierarchy separator from LIST */
  char prefix[200];    /* "natidle-probe<sep><run>" */
  unsigned port;
  const char *tls_name;
  ni_csv_writer *csv;
  ni_csv_writer *summary; /* opened before a privilege drop, else at the end */
  int ca_preloaded;       /* ni_tls_preload_ca() done before a privilege drop */
  ni_resume resume;
  ni_search *s_in, *s_out;
  int cur_dir;         /* direction being checked now */
  ni_ms t0;
  /* Calibration. */
  unsigned cal_n, cal_busy;
  ni_ms cal_worst;
  ni_ms cal_samples[CAL_SAMPLES];
  ni_ms push_ms;       /* typical APPEND-to-EXISTS time (median sample) */
  ni_ms lead_ms;       /* shortest APPEND-to-EXISTS time seen */
  ni_ms detect_ms;     /* detection deadline */
  ni_ms noop_ms, noop_deadline_ms;
  /* Counters. */
  unsigned checks;     /* checks started, calibration included */
  unsigned connects;   /* session connection attempts */
  unsigned zombies;    /* sessions abandoned without LOGOUT */
  unsigned creates_left;
  double jitter_ms;    /* worst lateness of a check timer */
  double ka_samples[4];
  unsigned ka_n;
  double server_ka_s;  /* detected server keepalive, 0 = none */
  int limit_noted;
  unsigned closing;    /* sessions still logging out */
  janitor jan;
  ni_pcap *pcap;       /* packet evidence, NULL when capturing is not possible */
  uv_poll_t pcap_poll;
  int pcap_polling;
  int fatal;           /* error that ends the run before measuring */
  int interrupted;
  int signals;
  int safety;          /* refused to delete something */
  int cleanup_retry;   /* reconnected once to remove the probe mailboxes */
  int finished;
};

static void sess_connect(sess *s);
static void sess_arm(sess *s);
static void sess_check_done_now(sess *s);
static void retarget_all(probe *p);
static void calibrate_step(probe *p);
static void ctl_connect(probe *p);
static void begin_shutdown(probe *p);
static void maybe_finish(probe *p);
static void shutdown_step(probe *p);
static void timer_cb(uv_timer_t *t);
static void send_marker(sess *s);
static void janitor_untagged(probe *p, const ni_resp *r);
static void kick(probe *p);

/* ---- small helpers ------------------------------------------------------ */

static ni_ms now_ms(void) { return ni_imap_now(); }

static uint64_t unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void note(probe *p, int level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void note(probe *p, int level, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  ni__status_event(&p->st, now_ms(), level, "%s", buf);
}

/* Log in on c.  The password is kept masked for the whole run (sessions
 * reconnect, so it must be kept): it exists in the clear only during this
 * call, which copies it into the command (the client wipes that copy once
 * written). */
static int login(probe *p, ni_imap *c, ni_imap_done_cb cb, void *arg) {
  const ni_probe_opts *o = p->o;
  char *pw = malloc(o->pw_len + 1);
  if (!pw)
    return -ENOMEM;
  for (size_t i = 0; i < o->pw_len; i++)
    pw[i] = (char)(o->pw_masked[i] ^ o->pw_key[i]);
  pw[o->pw_len] = '\0';
  int rc = ni_imap_login(c, o->user, pw, cb, arg);
  explicit_bzero(pw, o->pw_len);
  free(pw);
  return rc;
}

/* Connection options for every connection of the run (the sessions and the
 * control connection are the same client to the server). */
static void imap_opts(const probe *p, ni_imap_opts *io) {
  memset(io, 0, sizeof *io);
  io->host = p->o->server;
  io->port = (uint16_t)p->o->port;
  io->tls = (ni_tls_mode)p->o->tls;
  io->ca_file = p->o->ca_file;
  io->insecure = p->o->insecure;
  io->allow_plaintext = p->o->allow_plaintext;
}

static ni_ms silence_of(const sess *s, ni_ms now) {
  return now > s->silent_since ? now - s->silent_since : 0;
}

/* The last byte on the wire either way: silence is counted from there. */
static ni_ms last_wire(const ni_imap *c) {
  ni_ms rx = ni_imap_last_rx(c), tx = ni_imap_last_tx(c);
  return rx > tx ? rx : tx;
}

static void timer_set(sess *s, int kind, ni_ms at) {
  /* libuv counts timeouts from its cached loop time: refresh it so the
   * delay starts now.  A timer that still fires a little early is
   * re-armed by its handler. */
  uv_update_time(&s->p->loop);
  ni_ms cur = now_ms();
  s->tk = kind;
  s->due = at;
  uv_timer_stop(&s->timer);
  uv_timer_start(&s->timer, timer_cb, at > cur ? at - cur : 0, 0);
}

static void timer_clear(sess *s) {
  uv_timer_stop(&s->timer);
  s->tk = TK_NONE;
}

/* Is this refusal the server's connection limit?  Dovecot says
 * "* BYE Maximum number of connections from user+IP exceeded" or answers
 * the login with NO [UNAVAILABLE] / [LIMIT]. */
static int is_limit_text(const char *t) {
  return t && (strstr(t, "Maximum number of connections") || strstr(t, "[UNAVAILABLE]") ||
               strstr(t, "[LIMIT]") || strstr(t, "Too many") || strstr(t, "too many"));
}

static void copy_text(char *dst, size_t len, ni_str t) {
  size_t n = t.n < len - 1 ? t.n : len - 1;
  memcpy(dst, t.p, n);
  dst[n] = '\0';
}

/* "[CODE] text" of a response: the code is what names a limit
 * ([UNAVAILABLE], [LIMIT]). */
static void resp_text(char *dst, size_t len, const ni_resp *r) {
  if (r->code.n)
    snprintf(dst, len, "[%.*s] %.*s", (int)r->code.n, r->code.p, (int)r->text.n, r->text.p);
  else
    copy_text(dst, len, r->text);
}

/* ---- CSV ---------------------------------------------------------------- */

static void write_obs(probe *p, const sess *s, int dir, const char *outcome, double target,
                      double silence, long detect_ms, double rtt_ms, const char *evidence) {
  if (!p->csv)
    return;
  char port[16], session[16], tgt[32], sil[32], det[32], rtt[32], at[NI_CSV_TIME_LEN];
  snprintf(port, sizeof port, "%u", p->port);
  snprintf(session, sizeof session, "%u", s->num);
  snprintf(tgt, sizeof tgt, "%.3f", target);
  snprintf(sil, sizeof sil, "%.3f", silence);
  if (detect_ms >= 0)
    snprintf(det, sizeof det, "%ld", detect_ms);
  else
    det[0] = '\0';
  if (rtt_ms >= 0)
    snprintf(rtt, sizeof rtt, "%.0f", rtt_ms);
  else
    rtt[0] = '\0';
  ni_csv_fmt_utc(at, sizeof at, unix_ms());
  const char *f[NI_OBS_NCOLS] = {p->run_id,
                                 p->o->network,
                                 p->o->server,
                                 port,
                                 p->tls_name,
                                 session,
                                 tgt,
                                 sil,
                                 dir == NI_PDIR_OUTBOUND ? "outbound" : "inbound",
                                 outcome,
                                 det,
                                 rtt,
                                 evidence,
                                 at};
  int rc = ni_csv_write_row(p->csv, f);
  if (rc != 0)
    note(p, 0, "cannot write %s: %s", p->o->csv_path, ni_strerror(rc));
}

/* A NOOP slower than this means the network stalled.  Generous next to a
 * round trip, short next to the detection deadline. */
static ni_ms stall_ms(const probe *p) {
  ni_ms t = (ni_ms)(4 * p->ctl.srtt_ms) + 500;
  return t < 1000 ? 1000 : t;
}

/* ---- observations ------------------------------------------------------- */

static ni_search *search_for(probe *p, int dir) {
  return dir == NI_PDIR_OUTBOUND ? p->s_out : p->s_in;
}

/* Feed an observation of direction dir into the searches: inbound checks
 * also tell about the outbound direction when both are measured (a push that
 * got through, or a DONE answered after a lost push, both prove the client
 * could still reach the server; a reset or silence proves it could not). */
static void derive_outbound(probe *p, int dir, const char *outcome, double silence) {
  if (dir != NI_PDIR_INBOUND || !p->s_out || !p->s_in)
    return;
  if (!strcmp(outcome, "alive") || !strcmp(outcome, "dead_inbound"))
    ni_search_observe(p->s_out, silence, NI_OBS_ALIVE);
  else if (!strncmp(outcome, "dead_", 5))
    ni_search_observe(p->s_out, silence, NI_OBS_DEAD);
}

/* The check of session s ended with outcome: CSV row, search, log. */
static void record(sess *s, const char *outcome, long detect_ms) {
  probe *p = s->p;
  ni_ms now = now_ms();
  int alive = ni__outcome_alive(outcome);
  ni_obs o = alive == 1 ? NI_OBS_ALIVE : alive == 0 ? NI_OBS_DEAD : NI_OBS_VOID;
  /* A dead check only counts when the control connection stayed up and
   * is still answering now, when the verdict is drawn (its NOOP cadence
   * gives a reply at least every noop_ms plus a round trip while the
   * network works): otherwise the whole network may have been down and
   * the push lost with it. */
  ni_ms fresh = p->noop_ms + (ni_ms)(2 * p->ctl.srtt_ms) + 1000;
  int stalled = (p->ctl.stall_end && p->ctl.stall_end >= s->ck_sent) ||
                (p->ctl.noop_inflight && now - p->ctl.noop_sent > stall_ms(p));
  if (o == NI_OBS_DEAD && (s->ck_epoch != p->ctl.epoch || p->ctl.state != CT_READY ||
                           p->ctl.last_reply + fresh < now || stalled)) {
    outcome = "aborted";
    o = NI_OBS_VOID;
  }
  s->ck_result = CK_DECIDED;
  /* What the packets say about this check: the wire silence, who reset,
   * what refreshed.  A silence that ended without a check has no check
   * time. */
  char evidence[512] = "";
  if (p->pcap && s->lport) {
    int checked = strcmp(outcome, "refreshed") != 0 && s->ck_fire != 0;
    ni__pcap_evidence(p->pcap, s->lport, checked ? s->ck_sent : NI_TIME_NEVER,
                      s->ck_dir == NI_PDIR_INBOUND ? p->push_ms : 0, evidence, sizeof evidence,
                      NULL);
  }
  write_obs(p, s, s->ck_dir, outcome, s->ck_target, s->ck_silence, detect_ms, p->ctl.srtt_ms,
            evidence);
  if (s->ck_search) {
    ni_search_result(s->ck_search, s->slot, s->ck_silence, o, now);
    s->ck_search = NULL;
  }
  derive_outbound(p, s->ck_dir, outcome, s->ck_silence);
  if (detect_ms >= 0)
    note(p, 1, "session %u: %s at %.1f s (%s, %ld ms)", s->num, outcome, s->ck_silence,
         s->ck_dir == NI_PDIR_OUTBOUND ? "outbound" : "inbound", detect_ms);
  else
    note(p, 1, "session %u: %s at %.1f s (%s)", s->num, outcome, s->ck_silence,
         s->ck_dir == NI_PDIR_OUTBOUND ? "outbound" : "inbound");
  kick(p);
}

/* An armed session's silence ended without a check (unsolicited data, or
 * the connection died): record it as an observation at the silence it had. */
static void end_silence(sess *s, ni_ms now, const char *outcome) {
  s->ck_fire = 0; /* no check: the evidence has no check time */
  s->ck_search = s->armed;
  s->ck_dir = s->armed == s->p->s_out ? NI_PDIR_OUTBOUND : NI_PDIR_INBOUND;
  s->ck_target = ni_search_target(s->armed, s->slot, now);
  s->ck_silence = (double)silence_of(s, now) / 1000.0;
  s->ck_epoch = s->p->ctl.epoch;
  s->armed = NULL;
  record(s, outcome, -1);
}

/* ---- server keepalive detection ---------------------------------------- */

/* Unsolicited data arrived on a silent session at now.  Two intervals that
 * agree within 25 % are taken as the server's keepalive cadence. */
static void unsolicited(sess *s, ni_ms now) {
  probe *p = s->p;
  if (s->last_unsol && now - s->last_unsol >= BURST_MS) {
    double iv = (double)(now - s->last_unsol) / 1000.0;
    p->ka_samples[p->ka_n % 4] = iv;
    p->ka_n++;
    unsigned n = p->ka_n < 4 ? p->ka_n : 4;
    if (n >= 2) {
      double lo = p->ka_samples[0], hi = p->ka_samples[0];
      for (unsigned i = 1; i < n; i++) {
        lo = fmin(lo, p->ka_samples[i]);
        hi = fmax(hi, p->ka_samples[i]);
      }
      if (hi <= lo * 1.25 && (p->server_ka_s == 0 || lo < p->server_ka_s * 0.9)) {
        p->server_ka_s = lo;
        note(p, 0, "the server sends data to idle sessions every %.1f s: it keeps NAT "
                   "mappings alive by itself",
             lo);
        if (p->s_in)
          ni_search_server_keepalive(p->s_in, lo);
        if (p->s_out)
          ni_search_server_keepalive(p->s_out, lo);
      }
    }
  }
  if (!s->last_unsol || now - s->last_unsol >= BURST_MS)
    s->last_unsol = now;
}

/* ---- sessions ----------------------------------------------------------- */

static void sess_drop_conn(sess *s) {
  if (s->lport && s->p->pcap)
    ni__pcap_unwatch(s->p->pcap, s->lport);
  s->lport = 0;
  if (s->c) {
    ni_imap_free(s->c);
    s->c = NULL;
  }
  if (s->armed) {
    /* Nothing to report: the search forgets the session until it is armed
     * again (arming replaces the silence start). */
    s->armed = NULL;
  }
}

static void sess_schedule_reconnect(sess *s, unsigned delay_ms) {
  s->state = SS_OFF;
  if (s->p->phase >= PH_SHUTDOWN) {
    shutdown_step(s->p);
    return;
  }
  timer_set(s, TK_BACKOFF, now_ms() + delay_ms);
}

static void sess_setup_failed(sess *s, int err) {
  probe *p = s->p;
  /* Copied: the connection (and its error text) goes away below. */
  char why[256];
  snprintf(why, sizeof why, "%s", s->c ? ni_imap_errstr(s->c) : "");
  int limit = err == NI_ELIMITHIT || is_limit_text(s->bye) || is_limit_text(why);
  sess_drop_conn(s);
  if (p->phase >= PH_SHUTDOWN) {
    s->state = SS_OFF;
    shutdown_step(p);
    return;
  }
  if (limit) {
    unsigned working = 0;
    for (unsigned i = 0; i < p->k; i++)
      if (p->ss[i].state >= SS_SILENT)
        working++;
    if (!s->limited)
      s->backoff_ms = LIMIT_BACKOFF_MIN_MS;
    s->limited = 1;
    ni_search *se = search_for(p, p->cur_dir);
    if (working >= 1 && se && working < ni_search_sessions(se)) {
      note(p, 0,
           "the server refused a connection for a limit (%u abandoned sessions may still "
           "count): going on with %u sessions",
           p->zombies, working);
      if (p->s_in)
        ni_search_lower_sessions(p->s_in, working);
      if (p->s_out)
        ni_search_lower_sessions(p->s_out, working);
      retarget_all(p);
    } else if (!p->limit_noted) {
      note(p, 0, "the server refused a connection for a limit: waiting for it to free "
                 "connections");
    }
    p->limit_noted = 1;
  } else {
    if (s->limited || s->backoff_ms < BACKOFF_MIN_MS)
      s->backoff_ms = BACKOFF_MIN_MS;
    s->limited = 0;
    note(p, 1, "session %u: setup failed: %s", s->num, why[0] ? why : ni_strerror(err));
  }
  unsigned delay = s->backoff_ms;
  unsigned cap = s->limited ? LIMIT_BACKOFF_MAX_MS : BACKOFF_MAX_MS;
  s->backoff_ms = s->backoff_ms * 2 > cap ? cap : s->backoff_ms * 2;
  sess_schedule_reconnect(s, delay);
}

static void sess_on_idling(ni_imap *c, void *arg) {
  sess *s = arg;
  probe *p = s->p;
  s->silent_since = last_wire(c);
  s->state = SS_SILENT;
  s->backoff_ms = 0;
  s->limited = 0;
  timer_clear(s);
  if (p->pcap && s->lport)
    ni__pcap_silence_begin(p->pcap, s->lport, s->silent_since);
  note(p, 2, "session %u: idle", s->num);
  if (p->phase >= PH_SHUTDOWN) {
    sess_check_done_now(s);
    return;
  }
  sess_arm(s);
}

static void sess_idle_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg);

static void ignore_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {}

static void sess_idle(sess *s) {
  if (s->state != SS_SETUP) {
    s->state = SS_REIDLE;
    timer_set(s, TK_SETUP, now_ms() + SETUP_TIMEOUT_MS);
  }
  int rc = ni_imap_idle(s->c, sess_on_idling, sess_idle_cb, s);
  if (rc != 0)
    sess_setup_failed(s, rc);
}

/* The tagged answer to IDLE: it comes after our DONE (or when the server
 * ends IDLE on its own). */
static void sess_idle_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  sess *s = arg;
  probe *p = s->p;
  if (status != 0 && !tagged)
    return; /* transport error: on_end decides */
  if (p->phase >= PH_SHUTDOWN && s->state != SS_DONE) {
    s->state = SS_LOGOUT;
    timer_set(s, TK_DONE, now_ms() + 2 * p->detect_ms + 2000);
    if (ni_imap_logout(c, ignore_cb, NULL) != 0) {
      sess_drop_conn(s);
      sess_schedule_reconnect(s, 0);
    }
    return;
  }
  if (s->state == SS_SILENT) {
    /* The server ended IDLE by itself: that is traffic, so the silence is
     * void; enter IDLE again. */
    if (s->armed) {
      end_silence(s, now_ms(), "refreshed");
    }
    timer_clear(s);
    sess_idle(s);
    return;
  }
  if (s->state != SS_DONE)
    return;
  timer_clear(s);
  if (s->ck_result == CK_OPEN) {
    if (status == 0)
      record(s, s->ck_dir == NI_PDIR_OUTBOUND ? "alive" : "dead_inbound",
             (long)(now_ms() - s->ck_fire));
    else
      record(s, "error", -1);
  }
  if (status == 0 && p->phase >= PH_SHUTDOWN) {
    s->state = SS_LOGOUT;
    if (ni_imap_logout(c, ignore_cb, NULL) != 0) {
      sess_drop_conn(s);
      sess_schedule_reconnect(s, 0);
    }
  } else if (status == 0)
    sess_idle(s);
  else {
    sess_drop_conn(s);
    sess_schedule_reconnect(s, 0);
  }
}

static void sess_select_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  sess *s = arg;
  if (status != 0) {
    if (tagged)
      resp_text(s->bye, sizeof s->bye, tagged);
    sess_setup_failed(s, status);
    return;
  }
  sess_idle(s);
}

static void sess_login_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  sess *s = arg;
  probe *p = s->p;
  if (status != 0) {
    if (tagged)
      resp_text(s->bye, sizeof s->bye, tagged);
    sess_setup_failed(s, status);
    return;
  }
  const char *mbox = p->o->read_only || p->o->direction == NI_PDIR_OUTBOUND ? "INBOX" : s->mbox;
  int ro = p->o->read_only || p->o->direction == NI_PDIR_OUTBOUND;
  int rc = ni_imap_select(c, mbox, ro, sess_select_cb, s);
  if (rc != 0)
    sess_setup_failed(s, rc);
}

/* Let the capture follow this session's connection. */
static void watch(sess *s) {
  struct sockaddr_storage ss;
  if (!s->p->pcap || ni_imap_local_addr(s->c, &ss) != 0)
    return;
  uint16_t port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
  if (ni__pcap_watch(s->p->pcap, NULL, port) == 0)
    s->lport = port;
}

static void sess_connect_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  sess *s = arg;
  probe *p = s->p;
  if (status != 0) {
    sess_setup_failed(s, status);
    return;
  }
  watch(s);
  int rc = login(p, c, sess_login_cb, s);
  if (rc != 0)
    sess_setup_failed(s, rc);
}

static void sess_on_untagged(ni_imap *c, const ni_resp *r, void *ud) {
  sess *s = ud;
  if (r->type == NI_R_BYE || r->type == NI_R_NO)
    resp_text(s->bye, sizeof s->bye, r);
  if (s->state == SS_CHECK && r->type == NI_R_EXISTS) {
    probe *p = s->p;
    ni_ms now = now_ms();
    long detect = (long)(now - s->ck_sent);
    if (s->ck_cal) {
      p->cal_busy = 0;
      if (p->cal_n < CAL_SAMPLES)
        p->cal_samples[p->cal_n] = (ni_ms)detect;
      p->cal_n++;
      if ((ni_ms)detect > p->cal_worst)
        p->cal_worst = (ni_ms)detect;
      note(p, 2, "calibration %u: APPEND to EXISTS in %ld ms", p->cal_n, detect);
      s->ck_result = CK_DECIDED;
      kick(p);
    } else {
      /* The push got through: the mapping was alive when it passed, which
       * is the silence that counts. */
      s->ck_silence = (double)silence_of(s, now) / 1000.0;
      record(s, "alive", detect);
    }
    s->state = SS_DONE;
    timer_set(s, TK_DONE, now + 2 * p->detect_ms + 2000);
    ni_imap_idle_done(c);
  }
}

static void sess_on_io(ni_imap *c, int dir, size_t nbytes, ni_ms now, void *ud) {
  sess *s = ud;
  probe *p = s->p;
  if (dir != 0 || s->state != SS_SILENT)
    return;
  /* Bytes reached a silent session: the NAT mapping was refreshed by the
   * server, so the check this silence was heading for would prove
   * nothing. */
  unsolicited(s, now);
  if (s->armed) {
    timer_clear(s);
    end_silence(s, now, "refreshed");
  }
  s->silent_since = now;
  if (p->pcap && s->lport)
    ni__pcap_silence_begin(p->pcap, s->lport, now);
  if (s->state == SS_SILENT && !s->armed && p->phase == PH_RUN)
    sess_arm(s);
}

static void sess_on_end(ni_imap *c, ni_end how, int err, void *ud) {
  sess *s = ud;
  probe *p = s->p;
  int st = s->state;
  timer_clear(s);
  if (st == SS_SETUP) {
    sess_setup_failed(s, err ? err : NI_ECLOSED);
    return;
  }
  if (st == SS_LOGOUT || p->phase >= PH_SHUTDOWN) {
    sess_drop_conn(s);
    s->state = SS_OFF;
    shutdown_step(p);
    return;
  }
  /* What an end says about the mapping.  After our DONE, a reset or a
   * close is the NAT's answer to the client's packet.  Before it, only a
   * reset can be the NAT's (one that resets expired mappings by itself);
   * a close then comes from the server (a restart, its own timeout), and
   * says nothing about the NAT: the silence is void. */
  const char *outcome = "aborted";
  if (how == NI_END_RESET)
    outcome = "dead_reset";
  else if (how == NI_END_CLOSED && st == SS_DONE)
    outcome = "dead_closed";
  if ((st == SS_CHECK || st == SS_DONE) && s->ck_result == CK_OPEN) {
    if (s->ck_cal)
      p->cal_busy = 0;
    else
      record(s, outcome, -1);
  } else if (st == SS_SILENT && s->armed) {
    /* A reset while silent is a death at this silence if the silence is
     * one worth checking at all; anything else voids it. */
    if (how == NI_END_RESET && silence_of(s, now_ms()) < (ni_ms)llround(p->o->min_s * 1000.0))
      outcome = "aborted";
    end_silence(s, now_ms(), outcome);
  } else if (st == SS_SILENT || st == SS_REIDLE) {
    note(p, 1, "session %u: connection ended (%s)", s->num, ni_end_name(how));
  }
  sess_drop_conn(s);
  sess_schedule_reconnect(s, 0);
}

static void sess_connect(sess *s) {
  probe *p = s->p;
  if (p->phase >= PH_SHUTDOWN)
    return;
  /* Bounded: every reconnect follows a check or a backoff, and the total is
   * capped as well. */
  if (p->connects >= 4 * p->o->max_checks + 4 * p->k) {
    note(p, 0, "too many reconnects: stopping");
    if (p->s_in)
      ni_search_stop(p->s_in);
    if (p->s_out)
      ni_search_stop(p->s_out);
    maybe_finish(p);
    return;
  }
  p->connects++;
  ni_imap_opts io;
  imap_opts(p, &io);
  ni_imap_cb cb = {sess_on_untagged, sess_on_io, sess_on_end, NULL};
  s->bye[0] = '\0';
  s->last_unsol = 0;
  s->armed = NULL;
  s->c = ni_imap_new(&p->loop, &io, &cb, s);
  if (!s->c) {
    sess_setup_failed(s, -ENOMEM);
    return;
  }
  s->state = SS_SETUP;
  timer_set(s, TK_SETUP, now_ms() + SETUP_TIMEOUT_MS);
  int rc = ni_imap_connect(s->c, sess_connect_cb, s);
  if (rc != 0)
    sess_setup_failed(s, rc);
}

/* When to start the check of session s for a target of target_s seconds.
 * An inbound check starts early by the shortest push time seen: the
 * server's EXISTS passes the NAT that long after the APPEND leaves, at the
 * earliest, and it is the silence the push meets that is being tested (so
 * the push meets at least the target). */
static ni_ms lead_of(const sess *s) {
  return s->armed && s->armed == s->p->s_in ? s->p->lead_ms : 0;
}

static ni_ms due_at(const sess *s, double target_s) {
  ni_ms due = s->silent_since + (ni_ms)llround(target_s * 1000.0);
  ni_ms lead = lead_of(s);
  /* Timers and arrival times jitter by a millisecond or two: aim a little
   * late so the silence tested is never a hair short of the target. */
  due += DUE_MARGIN_MS;
  return due > s->silent_since + lead ? due - lead : s->silent_since;
}

/* Ask the search for a target and set the timer. */
static void sess_arm(sess *s) {
  probe *p = s->p;
  if (s->state != SS_SILENT || p->phase != PH_RUN) {
    /* Before the run proper, a ready session may serve calibration. */
    if (s->state == SS_SILENT && p->phase == PH_CALIBRATE)
      calibrate_step(p);
    return;
  }
  ni_search *se = search_for(p, p->cur_dir);
  ni_ms now = now_ms();
  double t = ni_search_arm(se, s->slot, s->silent_since, now);
  if (t <= 0) {
    s->armed = NULL;
    timer_clear(s);
    return;
  }
  s->armed = se;
  timer_set(s, TK_TARGET, due_at(s, t));
}

/* Start the check of a session whose silence reached its target. */
static void sess_start_check(sess *s, ni_ms now, double target) {
  probe *p = s->p;
  p->checks++;
  double late = (double)(now > s->due ? now - s->due : 0);
  if (late > p->jitter_ms)
    p->jitter_ms = late;
  s->ck_search = s->armed;
  s->armed = NULL;
  s->ck_cal = 0;
  s->ck_dir = s->ck_search && s->ck_search == p->s_out ? NI_PDIR_OUTBOUND : NI_PDIR_INBOUND;
  s->ck_target = target;
  /* Inbound: the silence the push will meet (corrected with the real
   * arrival time when it does arrive); outbound: the silence DONE ends. */
  s->ck_silence =
      (double)(silence_of(s, now) + (s->ck_dir == NI_PDIR_INBOUND ? p->push_ms : 0)) / 1000.0;
  s->ck_fire = now;
  s->ck_sent = now;
  s->ck_ok = 0;
  s->ck_epoch = p->ctl.epoch;
  s->ck_result = CK_OPEN;
  if (s->ck_dir == NI_PDIR_OUTBOUND) {
    /* Outbound: the client speaks first after the silence; a tagged OK to
     * DONE means its packet reached the server. */
    s->state = SS_DONE;
    timer_set(s, TK_DONE, now + p->detect_ms);
    ni_imap_idle_done(s->c);
    return;
  }
  s->state = SS_CHECK;
  if (p->ctl.state != CT_READY) {
    /* No witness, no trigger: this check says nothing. */
    record(s, "aborted", -1);
    sess_check_done_now(s);
    return;
  }
  send_marker(s);
}

/* End IDLE on a session whose outcome is already known (or that is shutting
 * down); the answer to DONE then only tells whether to re-IDLE. */
static void sess_check_done_now(sess *s) {
  probe *p = s->p;
  s->ck_result = CK_DECIDED;
  s->state = SS_DONE;
  timer_set(s, TK_DONE, now_ms() + 2 * p->detect_ms + 2000);
  if (ni_imap_idle_done(s->c) != 0 && !ni_imap_is_idling(s->c)) {
    /* IDLE had already ended; the IDLE callback (or on_end) follows. */
  }
}

static void timer_cb(uv_timer_t *t) {
  sess *s = t->data;
  probe *p = s->p;
  ni_ms now = now_ms();
  int kind = s->tk;
  s->tk = TK_NONE;
  switch (kind) {
  case TK_BACKOFF:
    sess_connect(s);
    break;
  case TK_SETUP:
    if (s->state == SS_SETUP || s->state == SS_REIDLE)
      sess_setup_failed(s, NI_ETIMEDOUT);
    break;
  case TK_TARGET: {
    if (s->state != SS_SILENT || !s->armed)
      break;
    double target = ni_search_target(s->armed, s->slot, now);
    if (target <= 0) {
      s->armed = NULL;
      break;
    }
    /* Not there yet (the bracket moved the target up, or the timer ran
     * early): wait again.  Once there, the search answers with the current
     * silence, so this cannot loop. */
    if ((ni_ms)llround(target * 1000.0) > silence_of(s, now) + lead_of(s) + 2) {
      timer_set(s, TK_TARGET, due_at(s, target));
      break;
    }
    if (p->checks >= p->o->max_checks) {
      note(p, 0, "reached the limit of %u checks: stopping", p->o->max_checks);
      if (p->s_in)
        ni_search_stop(p->s_in);
      if (p->s_out)
        ni_search_stop(p->s_out);
      maybe_finish(p);
      break;
    }
    sess_start_check(s, now, target);
    break;
  }
  case TK_DETECT:
    if (s->state != SS_CHECK)
      break;
    if (s->ck_cal) {
      p->fatal = NI_ENOCAP;
      p->cal_busy = 0;
      ni_error("probe", "the server did not report a new message to an IDLE session "
                        "within %d s",
               CAL_TIMEOUT_MS / 1000);
      begin_shutdown(p);
      break;
    }
    /* No EXISTS within the deadline: the push was lost.  DONE tells how. */
    s->state = SS_DONE;
    timer_set(s, TK_DONE, now + (p->detect_ms > 2000 ? p->detect_ms : 2000));
    ni_imap_idle_done(s->c);
    break;
  case TK_DONE:
    if (s->state != SS_DONE)
      break;
    if (s->ck_result == CK_OPEN)
      record(s, "dead_silent", -1);
    /* The mapping is gone: the server will hold this session until its
     * TCP gives up, and it counts against the per-user limit meanwhile. */
    p->zombies++;
    sess_drop_conn(s);
    if (p->phase >= PH_SHUTDOWN) {
      s->state = SS_OFF;
      shutdown_step(p);
    } else {
      sess_schedule_reconnect(s, 0);
    }
    break;
  default:
    break;
  }
}

static void append_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  sess *s = arg;
  probe *p = s->p;
  if (s->state != SS_CHECK)
    return;
  if (status != 0) {
    if (!tagged)
      return; /* the control connection failed: ctl_lost() aborts the check */
    note(p, 0, "APPEND to %s refused: %.*s", s->mbox, (int)tagged->text.n, tagged->text.p);
    if (s->ck_cal) {
      p->fatal = NI_ENO;
      begin_shutdown(p);
      return;
    }
    record(s, "error", -1);
    sess_check_done_now(s);
    return;
  }
  s->ck_ok = now_ms();
  p->ctl.last_reply = s->ck_ok;
  /* The server has the message: from now on the push is on its way. */
  timer_set(s, TK_DETECT, s->ck_ok + (s->ck_cal ? CAL_TIMEOUT_MS : p->detect_ms));
}

/* The marker: a tiny message that names the run and the session, so that
 * cleanup can tell it from anything the user owns. */
static void send_marker(sess *s) {
  probe *p = s->p;
  char date[64], msg[1024];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  int n = snprintf(msg, sizeof msg,
                   "From: natidle <natidle@natidle.invalid>\r\n"
                   "To: natidle <natidle@natidle.invalid>\r\n"
                   "Subject: natidle probe %s session %u\r\n"
                   "Date: %s\r\n"
                   "Message-ID: <%s.%u.%u@natidle.invalid>\r\n"
                   "X-Natidle-Probe: %s\r\n"
                   "MIME-Version: 1.0\r\n"
                   "Content-Type: text/plain; charset=us-ascii\r\n"
                   "\r\n"
                   "Marker written by natidle probe to measure a NAT idle timeout.\r\n"
                   "It is deleted together with its mailbox at the end of the run.\r\n",
                   p->run_id, s->num, date, p->run_id, s->num, p->checks, p->run_id);
  s->ck_sent = now_ms();
  int rc = ni_imap_append(p->ctl.c, s->mbox, "(\\Seen)", msg, (size_t)n, append_cb, s);
  if (rc != 0) {
    record(s, "aborted", -1);
    sess_check_done_now(s);
    return;
  }
  timer_clear(s);
}

/* ---- retargeting and the status line ------------------------------------ */

static void status_draw(probe *p, int force) {
  if (p->st.mode != NI_STATUS_TTY)
    return;
  ni_status_view v;
  memset(&v, 0, sizeof v);
  ni_search *se = search_for(p, p->cur_dir);
  double lo = 0, up = INFINITY;
  if (se)
    ni_search_bracket(se, &lo, &up);
  v.lower_s = lo;
  v.upper_s = isinf(up) ? -1 : up;
  v.next_check_s = -1;
  v.eta_s = se ? ni_search_eta_s(se, now_ms()) : -1;
  v.checks = p->checks;
  ni_ms now = now_ms();
  for (unsigned i = 0; i < p->k; i++) {
    sess *s = &p->ss[i];
    if (s->state == SS_SILENT && s->armed) {
      v.armed++;
      double in = s->due > now ? (double)(s->due - now) / 1000.0 : 0;
      if (v.next_check_s < 0 || in < v.next_check_s)
        v.next_check_s = in;
    } else if (s->state == SS_SILENT)
      v.parked++;
    else if (s->state == SS_CHECK || s->state == SS_DONE)
      v.checking++;
    else if (s->state == SS_OFF || s->state == SS_SETUP || s->state == SS_REIDLE)
      v.reconnecting++;
  }
  ni__status_draw(&p->st, now, &v, force);
}

/* Targets move when the bracket moves: re-read them all, and give parked
 * sessions another chance. */
static void retarget_all(probe *p) {
  if (p->phase != PH_RUN)
    return;
  ni_ms now = now_ms();
  for (unsigned i = 0; i < p->k; i++) {
    sess *s = &p->ss[i];
    if (s->state != SS_SILENT)
      continue;
    if (!s->armed || s->armed != search_for(p, p->cur_dir)) {
      sess_arm(s);
      continue;
    }
    double t = ni_search_target(s->armed, s->slot, now);
    if (t <= 0) {
      s->armed = NULL;
      timer_clear(s);
      sess_arm(s);
      continue;
    }
    timer_set(s, TK_TARGET, due_at(s, t));
  }
  status_draw(p, 0);
}

/* ---- calibration and the run proper -------------------------------------- */

static void make_searches(probe *p);

static void start_run(probe *p) {
  /* The median sample is the typical push time (3 samples: sort them). */
  unsigned n = p->cal_n < CAL_SAMPLES ? p->cal_n : CAL_SAMPLES;
  for (unsigned i = 1; i < n; i++)
    for (unsigned j = i; j > 0 && p->cal_samples[j - 1] > p->cal_samples[j]; j--) {
      ni_ms t = p->cal_samples[j];
      p->cal_samples[j] = p->cal_samples[j - 1];
      p->cal_samples[j - 1] = t;
    }
  p->push_ms = (p->o->direction & NI_PDIR_INBOUND) && n ? p->cal_samples[n / 2] : 0;
  p->lead_ms = (p->o->direction & NI_PDIR_INBOUND) && n ? p->cal_samples[0] : 0;
  p->detect_ms = DETECT_FACTOR * p->cal_worst;
  if (p->detect_ms < DETECT_FLOOR_MS)
    p->detect_ms = DETECT_FLOOR_MS;
  p->noop_deadline_ms = 2 * p->detect_ms > 3000 ? 2 * p->detect_ms : 3000;
  if (p->noop_deadline_ms < 2 * p->noop_ms)
    p->noop_deadline_ms = 2 * p->noop_ms;
  note(p, 1, "detection deadline %llu ms (calibration: typical %llu ms, worst %llu ms)",
       (unsigned long long)p->detect_ms, (unsigned long long)p->push_ms,
       (unsigned long long)p->cal_worst);
  make_searches(p);
  if (p->fatal) {
    begin_shutdown(p);
    return;
  }
  p->phase = PH_RUN;
  retarget_all(p);
  maybe_finish(p);
}

/* Inbound runs: APPEND to a few freshly idle sessions, one at a time. */
static void calibrate_step(probe *p) {
  if (p->phase != PH_CALIBRATE || p->cal_busy)
    return;
  if (p->cal_n >= CAL_SAMPLES) {
    start_run(p);
    return;
  }
  if (p->ctl.state != CT_READY)
    return;
  for (unsigned i = 0; i < p->k; i++) {
    sess *s = &p->ss[i];
    if (s->state != SS_SILENT)
      continue;
    p->cal_busy = 1;
    p->checks++;
    s->ck_cal = 1;
    s->ck_dir = NI_PDIR_INBOUND;
    s->ck_search = NULL;
    s->ck_result = CK_OPEN;
    s->ck_epoch = p->ctl.epoch;
    s->state = SS_CHECK;
    send_marker(s);
    return;
  }
}

static void ctl_send_noop(probe *p);

static void ctl_noop_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  probe *p = arg;
  if (status != 0)
    return;
  p->ctl.noop_inflight = 0;
  p->ctl.last_reply = now_ms();
  double rtt = (double)(now_ms() - p->ctl.noop_sent);
  if (rtt > (double)stall_ms(p)) {
    /* The network stalled (a lost radio, a flushed NAT): checks whose
     * window overlaps it cannot call a mapping dead. */
    p->ctl.stall_end = p->ctl.last_reply;
    if (p->phase == PH_RUN)
      note(p, 0, "control connection stalled for %.1f s: checks of that window are aborted",
           rtt / 1000.0);
  }
  p->ctl.srtt_ms = p->ctl.srtt_ms > 0 ? 0.875 * p->ctl.srtt_ms + 0.125 * rtt : rtt;
  /* Outbound-only runs calibrate on NOOP round trips. */
  if (p->phase == PH_CALIBRATE && !(p->o->direction & NI_PDIR_INBOUND)) {
    p->cal_n++;
    if ((ni_ms)rtt > p->cal_worst)
      p->cal_worst = (ni_ms)rtt;
    if (p->cal_n >= CAL_SAMPLES)
      start_run(p);
    else
      ctl_send_noop(p);
  }
}

/* ---- the control connection -------------------------------------------- */

static void ctl_send_noop(probe *p) {
  if (p->ctl.state != CT_READY || p->ctl.noop_inflight)
    return;
  p->ctl.noop_sent = now_ms();
  p->ctl.noop_inflight = 1;
  if (ni_imap_noop(p->ctl.c, ctl_noop_cb, p) != 0)
    p->ctl.noop_inflight = 0;
}

static void ctl_lost(probe *p, const char *why);

/* Where the first control connection failed: the message names it. */
enum { AT_CONNECT, AT_LOGIN, AT_LOGIN_STALL, AT_SETUP };

static void ctl_fatal(probe *p, int err, int at, const ni_resp *tagged);

static void ctl_timer_cb(uv_timer_t *t) {
  probe *p = t->data;
  ni_ms now = now_ms();
  if (p->ctl.state == CT_OFF) {
    ctl_connect(p);
    return;
  }
  if (p->ctl.state == CT_SETUP) {
    /* Connecting and logging in took too long (a stalled server). */
    if (p->phase == PH_CONNECT)
      ctl_fatal(p, NI_ETIMEDOUT, AT_LOGIN_STALL, NULL);
    else
      ctl_lost(p, "login timed out");
    return;
  }
  if (p->ctl.state != CT_READY)
    return;
  if (p->ctl.noop_inflight && now - p->ctl.noop_sent > p->noop_deadline_ms) {
    ctl_lost(p, "a NOOP went unanswered");
    return;
  }
  for (unsigned i = 0; i < p->k; i++) {
    sess *s = &p->ss[i];
    if (s->state == SS_CHECK && !s->ck_ok && now - s->ck_sent > p->noop_deadline_ms) {
      ctl_lost(p, "an APPEND went unanswered");
      return;
    }
  }
  ctl_send_noop(p);
  uv_timer_start(&p->ctl.timer, ctl_timer_cb, p->noop_ms, 0);
}

/* The control connection is gone: abort the checks that relied on it and
 * reconnect it. */
static void ctl_lost(probe *p, const char *why) {
  ctl *k = &p->ctl;
  k->epoch++;
  if (k->c) {
    ni_imap_free(k->c);
    k->c = NULL;
  }
  k->state = CT_OFF;
  k->noop_inflight = 0;
  uv_timer_stop(&k->timer);
  if (p->phase >= PH_SHUTDOWN) {
    shutdown_step(p);
    return;
  }
  if (p->phase < PH_CALIBRATE) {
    /* Still setting up (LIST, CREATE): a server that fails here fails
     * again; say so rather than retry for ever. */
    ni_error("probe", "%s port %u: connection lost while setting up (%s)", p->o->server,
             p->port, why);
    p->fatal = NI_ECLOSED;
    begin_shutdown(p);
    return;
  }
  note(p, 0, "control connection lost (%s): checks in flight are aborted", why);
  for (unsigned i = 0; i < p->k; i++) {
    sess *s = &p->ss[i];
    if (s->state == SS_CHECK) {
      if (s->ck_cal) {
        p->cal_busy = 0;
        s->ck_result = CK_DECIDED;
        p->checks--;
      } else {
        record(s, "aborted", -1);
      }
      sess_check_done_now(s);
    }
  }
  unsigned d = k->backoff_ms ? k->backoff_ms : BACKOFF_MIN_MS;
  k->backoff_ms = d * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d * 2;
  uv_timer_start(&k->timer, ctl_timer_cb, d, 0);
}


/* The first control connection failed: one line on stderr, then end the
 * run with the matching exit code.  tagged (may be NULL) is the server's
 * answer to LOGIN. */
static void ctl_fatal(probe *p, int err, int at, const ni_resp *tagged) {
  const char *detail = p->ctl.c ? ni_imap_errstr(p->ctl.c) : "";
  if (!detail[0])
    detail = ni_strerror(err);
  if (at == AT_LOGIN && err == NI_EPLAINTEXT)
    ni_error("probe", "refusing to log in without TLS (use --tls imaps or starttls, or "
                      "--allow-plaintext)");
  else if (at == AT_LOGIN && tagged && tagged->code.n)
    ni_error("probe", "login failed: [%.*s] %.*s", (int)tagged->code.n, tagged->code.p,
             (int)tagged->text.n, tagged->text.p);
  else if (at == AT_LOGIN && tagged)
    ni_error("probe", "login failed: %.*s", (int)tagged->text.n, tagged->text.p);
  else if (at == AT_LOGIN)
    ni_error("probe", "login failed: %s", detail);
  else if (at == AT_LOGIN_STALL)
    ni_error("probe", "%s port %u did not complete the login within %d s", p->o->server,
             p->port, CTL_SETUP_MS / 1000);
  else if (at == AT_CONNECT && err == NI_ENOCAP)
    ni_error("probe", "%s port %u does not offer STARTTLS: refusing to go on without TLS",
             p->o->server, p->port);
  else if (at == AT_CONNECT && (err == NI_ECERT || err == NI_ETLS))
    ni_error("probe", "TLS with %s port %u failed: %s", p->o->server, p->port, detail);
  else if (at == AT_CONNECT)
    ni_error("probe", "cannot connect to %s port %u: %s", p->o->server, p->port,
             strstr(detail, "cannot connect") ? ni_strerror(err) : detail);
  else
    ni_error("probe", "%s port %u: %s", p->o->server, p->port, detail);
  if (at == AT_LOGIN && (err == NI_ENO || err == NI_EBAD))
    err = NI_EAUTH;
  p->fatal = err ? err : NI_ECLOSED;
  if (p->ctl.c) {
    ni_imap_free(p->ctl.c);
    p->ctl.c = NULL;
  }
  p->ctl.state = CT_OFF;
  begin_shutdown(p);
}

static void ctl_on_untagged(ni_imap *c, const ni_resp *r, void *ud) {
  probe *p = ud;
  if (r->type == NI_R_BYE)
    copy_text(p->ctl.bye, sizeof p->ctl.bye, r->text);
  janitor_untagged(p, r);
}

static void ctl_on_end(ni_imap *c, ni_end how, int err, void *ud) {
  probe *p = ud;
  if (p->phase == PH_CONNECT && p->ctl.state == CT_SETUP) {
    ctl_fatal(p, err ? err : NI_ECLOSED, AT_CONNECT, NULL);
    return;
  }
  if (p->ctl.state == CT_LOGOUT || p->phase == PH_DONE) {
    ni_imap_free(p->ctl.c);
    p->ctl.c = NULL;
    p->ctl.state = CT_OFF;
    shutdown_step(p);
    return;
  }
  char why[64];
  snprintf(why, sizeof why, "%s", ni_end_name(how));
  ctl_lost(p, why);
}

static void create_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg);
static void sessions_start(probe *p);
static void cleanup_list_sep_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg);

static void list_sep_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  probe *p = arg;
  if (status != 0) {
    ctl_fatal(p, status, AT_SETUP, NULL);
    return;
  }
  snprintf(p->prefix, sizeof p->prefix, "natidle-probe%c%s", p->sep, p->run_id);
  for (unsigned i = 0; i < p->k; i++)
    snprintf(p->ss[i].mbox, sizeof p->ss[i].mbox, "%s%c%u", p->prefix, p->sep, p->ss[i].num);
  if (!(p->o->direction & NI_PDIR_INBOUND)) {
    sessions_start(p);
    return;
  }
  p->phase = PH_CREATE;
  p->creates_left = p->k;
  for (unsigned i = 0; i < p->k; i++)
    if (ni_imap_create(c, p->ss[i].mbox, create_cb, &p->ss[i]) != 0) {
      ctl_fatal(p, NI_ESTATE, AT_SETUP, NULL);
      return;
    }
}

static void create_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  sess *s = arg;
  probe *p = s->p;
  if (p->phase != PH_CREATE)
    return;
  if (status != 0) {
    int exists = tagged && tagged->code.n && !strncmp(tagged->code.p, "ALREADYEXISTS", 13);
    if (!(exists && p->o->resume)) {
      ni_error("probe", "cannot create mailbox %s: %s", s->mbox,
               tagged ? tagged->text.p : ni_strerror(status));
      p->fatal = status;
      begin_shutdown(p);
      return;
    }
  }
  if (--p->creates_left == 0)
    sessions_start(p);
}

static void pcap_cb(uv_poll_t *h, int status, int events) {
  probe *p = h->data;
  if (status == 0 && p->pcap)
    ni__pcap_dispatch(p->pcap);
}

/* The server's address as the connections will pick it (IPv4 first, as
 * imap/conn.c does), for a capture opened before the first connection. */
static int server_addr(const probe *p, struct sockaddr_storage *ss) {
  struct addrinfo hints, *res = NULL, *ai;
  char port[16];
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(port, sizeof port, "%u", p->port);
  if (getaddrinfo(p->o->server, port, &hints, &res) != 0 || !res)
    return NI_EDNS;
  for (ai = res; ai && ai->ai_family != AF_INET; ai = ai->ai_next)
    ;
  if (!ai)
    ai = res;
  memset(ss, 0, sizeof *ss);
  memcpy(ss, ai->ai_addr, ai->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

/* Open the packet capture, then give up root before the first connection,
 * so that no byte from the network is parsed with privileges (tcpdump's
 * order).  Capturing is optional: without the privilege the probe says so
 * once and goes on.  A privileged process always drops to --pcap-user
 * (default nobody) unless capturing was turned off; the summary file is
 * opened first, the --csv file already is.  Returns 0, or an error after
 * which the run must stop (the privileges could not be dropped, or the
 * CA file is out of reach afterwards). */
static int capture_open(probe *p) {
  const ni_probe_opts *o = p->o;
  struct sockaddr_storage ss;
  char err[256] = "";
  int privileged = getuid() == 0 || geteuid() == 0;
  if (!o->no_capture && server_addr(p, &ss) != 0)
    note(p, 0, "no packet evidence: cannot resolve %s before connecting", o->server);
  else if (!o->no_capture) {
    if (ni__pcap_open(&p->pcap, o->capture_iface ? o->capture_iface : "auto",
                      (struct sockaddr *)&ss, o->pcap_out, err, sizeof err) != 0) {
      p->pcap = NULL;
      note(p, 0, "no packet evidence: %s", err);
    } else if (uv_poll_init(&p->loop, &p->pcap_poll, ni__pcap_fd(p->pcap)) == 0) {
      p->pcap_poll.data = p;
      p->pcap_polling = 1;
      uv_poll_start(&p->pcap_poll, UV_READABLE, pcap_cb);
      note(p, 1, "capturing on %s for packet evidence", ni__pcap_iface(p->pcap));
    }
  }
  if (!o->run_as && (o->no_capture || (!privileged && !p->pcap)))
    return 0;
  if (o->summary_path) {
    int e = 0;
    p->summary = ni_csv_writer_open(o->summary_path, ni_summary_columns, NI_SUMMARY_NCOLS, &e);
    if (!p->summary) {
      ni_error("probe", "cannot open %s: %s", o->summary_path, ni_strerror(e));
      return e;
    }
  }
  /* Every connection after the drop verifies against these anchors, read
   * now while the CA file (often root's own) can still be read. */
  int rc = ni_tls_preload_ca(o->ca_file, err, sizeof err);
  if (rc != 0) {
    ni_error("probe", "%s", err);
    return NI_EUSAGE;
  }
  p->ca_preloaded = 1;
  rc = ni__pcap_drop_privileges(o->run_as, err, sizeof err);
  if (rc != 0) {
    ni_error("probe", "%s", err);
    return rc;
  }
  note(p, 1, "running as %s from now on", o->run_as ? o->run_as : "nobody");
  return 0;
}

static void ctl_ready(probe *p) {
  ctl *k = &p->ctl;
  k->state = CT_READY;
  k->backoff_ms = 0;
  k->noop_inflight = 0;
  if (p->phase == PH_CONNECT) {
    /* The hierarchy separator: LIST "" "" answers with it. */
    if (ni_imap_list(k->c, "", "", p->o->cleanup ? cleanup_list_sep_cb : list_sep_cb, p) != 0)
      ctl_fatal(p, NI_ESTATE, AT_SETUP, NULL);
  } else if (p->phase >= PH_SHUTDOWN) {
    shutdown_step(p);
    return;
  } else {
    note(p, 0, "control connection back");
  }
  uv_timer_start(&k->timer, ctl_timer_cb, p->noop_ms, 0);
  if (p->phase == PH_CALIBRATE)
    calibrate_step(p);
}

static void ctl_login_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  probe *p = arg;
  if (status != 0) {
    if (p->phase == PH_CONNECT) {
      ctl_fatal(p, status, AT_LOGIN, tagged);
      return;
    }
    ctl_lost(p, "login refused");
    return;
  }
  /* IDLE may only be announced after login: check it now. */
  if (!ni_imap_has_cap(c, "IDLE")) {
    ni_error("probe", "the server %s does not offer IDLE (RFC 2177); natidle needs it",
             p->o->server);
    p->fatal = NI_ENOCAP;
    ni_imap_free(p->ctl.c);
    p->ctl.c = NULL;
    p->ctl.state = CT_OFF;
    begin_shutdown(p);
    return;
  }
  ctl_ready(p);
}

static void ctl_connect_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  probe *p = arg;
  if (status != 0) {
    if (p->phase == PH_CONNECT)
      ctl_fatal(p, status, AT_CONNECT, NULL);
    else
      ctl_lost(p, ni_strerror(status));
    return;
  }
  int rc = login(p, c, ctl_login_cb, p);
  if (rc != 0) {
    if (p->phase == PH_CONNECT)
      ctl_fatal(p, rc, AT_LOGIN, NULL);
    else
      ctl_lost(p, ni_strerror(rc));
  }
}

static void ctl_connect(probe *p) {
  ni_imap_opts io;
  imap_opts(p, &io);
  ni_imap_cb cb = {ctl_on_untagged, NULL, ctl_on_end, NULL};
  p->ctl.c = ni_imap_new(&p->loop, &io, &cb, p);
  if (!p->ctl.c) {
    ctl_fatal(p, -ENOMEM, AT_CONNECT, NULL);
    return;
  }
  p->ctl.state = CT_SETUP;
  p->ctl.bye[0] = '\0';
  uv_timer_start(&p->ctl.timer, ctl_timer_cb, CTL_SETUP_MS, 0);
  int rc = ni_imap_connect(p->ctl.c, ctl_connect_cb, p);
  if (rc != 0) {
    if (p->phase == PH_CONNECT)
      ctl_fatal(p, rc, AT_CONNECT, NULL);
    else
      ctl_lost(p, ni_strerror(rc));
  }
}

static void sessions_start(probe *p) {
  p->phase = PH_CALIBRATE;
  for (unsigned i = 0; i < p->k; i++)
    sess_connect(&p->ss[i]);
  /* Outbound-only runs calibrate on NOOP round trips right away. */
  if (!(p->o->direction & NI_PDIR_INBOUND)) {
    ctl_send_noop(p);
  }
}

/* ---- searches ----------------------------------------------------------- */

static void make_searches(probe *p) {
  ni_search_cfg cfg;
  ni_search_cfg_default(&cfg);
  cfg.min_s = p->o->min_s;
  cfg.max_s = p->o->max_s;
  cfg.resolution_s = p->o->resolution_s;
  cfg.sessions = p->k;
  cfg.strategy = (ni_strategy)p->o->strategy;
  cfg.detect_s = (double)p->detect_ms / 1000.0;
  const char *why = NULL;
  if (ni_search_cfg_check(&cfg, &why) != 0) {
    ni_error("probe", "%s", why ? why : "invalid search settings");
    p->fatal = NI_EUSAGE;
    return;
  }
  if (p->o->direction & NI_PDIR_INBOUND)
    p->s_in = ni_search_new(&cfg);
  if (p->o->direction & NI_PDIR_OUTBOUND)
    p->s_out = ni_search_new(&cfg);
  if (((p->o->direction & NI_PDIR_INBOUND) && !p->s_in) ||
      ((p->o->direction & NI_PDIR_OUTBOUND) && !p->s_out)) {
    p->fatal = -ENOMEM;
    return;
  }
  p->cur_dir = p->s_in ? NI_PDIR_INBOUND : NI_PDIR_OUTBOUND;
  for (size_t i = 0; i < p->resume.nobs; i++) {
    const ni_resume_obs *r = &p->resume.obs[i];
    ni_obs o = r->alive ? NI_OBS_ALIVE : NI_OBS_DEAD;
    ni_search *se = search_for(p, r->direction);
    if (se)
      ni_search_observe(se, r->silence_s, o);
    if (r->direction == NI_PDIR_INBOUND)
      derive_outbound(p, NI_PDIR_INBOUND, ni_obs_outcomes[r->outcome], r->silence_s);
  }
  if (p->resume.nobs)
    note(p, 0, "resumed run %s with %zu earlier observations", p->run_id, p->resume.nobs);
}

/* The run is over when every direction asked for has a verdict.  With
 * --direction both, an outbound search still open above the inbound
 * bracket goes on with outbound checks. */
static void maybe_finish(probe *p) {
  if (p->phase != PH_RUN)
    return;
  if (p->s_in && ni_search_verdict(p->s_in) == NI_VERDICT_RUNNING)
    return;
  if (p->s_out && ni_search_verdict(p->s_out) == NI_VERDICT_RUNNING) {
    if (p->cur_dir != NI_PDIR_OUTBOUND) {
      p->cur_dir = NI_PDIR_OUTBOUND;
      note(p, 0, "inbound done; going on with outbound checks");
      retarget_all(p);
    }
    return;
  }
  begin_shutdown(p);
}

/* ---- cleanup of probe mailboxes ----------------------------------------- */

static void jan_next(probe *p);

static int jan_add(janitor *j, const char *name) {
  if (j->n == j->cap) {
    size_t ncap = j->cap ? j->cap * 2 : 16;
    char **nn = realloc(j->names, ncap * sizeof *nn);
    if (!nn)
      return -ENOMEM;
    j->names = nn;
    j->cap = ncap;
  }
  j->names[j->n] = strdup(name);
  if (!j->names[j->n])
    return -ENOMEM;
  j->n++;
  return 0;
}

static void jan_free(janitor *j) {
  for (size_t i = 0; i < j->n; i++)
    free(j->names[i]);
  free(j->names);
  memset(j, 0, sizeof *j);
}

/* Parse the data of a LIST response: (flags) "sep" name.  Writes the
 * separator (0 for NIL) and the name; returns 0, or -1 for a form we do not
 * handle (a name sent as a literal is never one of ours). */
static int parse_list(ni_str d, char *sep, char *name, size_t len) {
  const char *q = d.p, *e = d.p + d.n;
  while (q < e && *q == ' ')
    q++;
  if (e - q >= 5 && !strncmp(q, "LIST ", 5))
    q += 5;
  if (q >= e || *q != '(')
    return -1;
  const char *close = memchr(q, ')', (size_t)(e - q));
  if (!close)
    return -1;
  q = close + 1;
  while (q < e && *q == ' ')
    q++;
  if (e - q >= 3 && !strncmp(q, "NIL", 3)) {
    *sep = 0;
    q += 3;
  } else if (e - q >= 3 && q[0] == '"') {
    if (q[1] == '\\' && e - q >= 4) {
      *sep = q[2];
      q += 4;
    } else {
      *sep = q[1];
      q += 3;
    }
  } else
    return -1;
  while (q < e && *q == ' ')
    q++;
  size_t n = 0;
  if (q < e && *q == '"') {
    for (q++; q < e && *q != '"'; q++) {
      if (*q == '\\' && q + 1 < e)
        q++;
      if (n + 1 < len)
        name[n++] = *q;
    }
  } else if (q < e && *q == '{') {
    return -1;
  } else {
    for (; q < e && *q != ' ' && *q != '\r' && *q != '\n'; q++)
      if (n + 1 < len)
        name[n++] = *q;
  }
  name[n] = '\0';
  return 0;
}

static void janitor_untagged(probe *p, const ni_resp *r) {
  janitor *j = &p->jan;
  if (r->type == NI_R_LIST) {
    char sep = 0, name[512];
    if (parse_list(r->data, &sep, name, sizeof name) != 0)
      return;
    if (p->phase == PH_CONNECT && name[0] == '\0') {
      p->sep = sep ? sep : '/';
      return;
    }
    /* Only the probe's own tree: "natidle-probe" and what is below it,
     * never a user's "natidle-probes" that the LIST pattern also matches. */
    size_t n = strlen(j->root);
    if (j->listing && !strncmp(name, j->root, n) && (name[n] == '\0' || name[n] == p->sep))
      jan_add(j, name);
  } else if (r->type == NI_R_SEARCH && j->counting) {
    ni_str list = r->data;
    uint32_t v;
    if (list.n >= 6 && !strncmp(list.p, "SEARCH", 6)) {
      list.p += 6;
      list.n -= 6;
    }
    while (list.n && *list.p == ' ') {
      list.p++;
      list.n--;
    }
    while (ni_uint_list_next(&list, &v) == 1)
      (*j->counting)++;
  }
}

static void jan_delete_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  probe *p = arg;
  janitor *j = &p->jan;
  if (status == 0) {
    j->deleted++;
    note(p, 1, "deleted %s", j->names[j->i]);
  }
  j->i++;
  jan_next(p);
}

static void jan_close_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  probe *p = arg;
  janitor *j = &p->jan;
  if (j->all != j->ours) {
    j->refused++;
    p->safety = 1;
    ni_error("probe", "refusing to delete %s: it holds %u messages natidle did not write",
             j->names[j->i], j->all - j->ours);
    j->i++;
    jan_next(p);
    return;
  }
  if (ni_imap_delete(c, j->names[j->i], jan_delete_cb, p) != 0)
    jan_next(p);
}

static void jan_search_ours_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  probe *p = arg;
  janitor *j = &p->jan;
  j->counting = NULL;
  if (status != 0)
    j->ours = 0; /* unknown: counts as foreign, so nothing is deleted */
  /* CLOSE on a mailbox opened with EXAMINE expunges nothing (RFC 3501
   * 6.4.2) and leaves the mailbox unselected, so it can be deleted. */
  ni_cmd *cmd = ni_cmd_new("CLOSE");
  if (!cmd || ni_cmd_finish(cmd) != 0 || ni_imap_cmd(c, cmd, jan_close_cb, p) != 0) {
    ni_cmd_free(cmd);
    j->i++;
    jan_next(p);
  }
}

static void jan_search_all_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  probe *p = arg;
  janitor *j = &p->jan;
  if (status != 0) {
    j->all = UINT32_MAX;
  }
  j->counting = &j->ours;
  if (ni_imap_uid_search(c, j->criteria, jan_search_ours_cb, p) != 0) {
    j->counting = NULL;
    j->i++;
    jan_next(p);
  }
}

static void jan_examine_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  probe *p = arg;
  janitor *j = &p->jan;
  if (status != 0) {
    /* Not selectable (a \Noselect parent): it holds no messages.  Deleting
     * it fails harmlessly while it still has children. */
    if (ni_imap_delete(c, j->names[j->i], jan_delete_cb, p) != 0) {
      j->i++;
      jan_next(p);
    }
    return;
  }
  j->all = j->ours = 0;
  j->counting = &j->all;
  if (ni_imap_uid_search(c, "ALL", jan_search_all_cb, p) != 0) {
    j->counting = NULL;
    j->i++;
    jan_next(p);
  }
}

static void jan_next(probe *p) {
  janitor *j = &p->jan;
  if (p->ctl.state != CT_READY || !p->ctl.c) {
    j->i = j->n;
  }
  if (j->i >= j->n) {
    void (*done)(probe *) = j->done;
    j->done = NULL;
    if (done)
      done(p);
    return;
  }
  if (ni_imap_select(p->ctl.c, j->names[j->i], 1, jan_examine_cb, p) != 0) {
    j->i = j->n;
    jan_next(p);
  }
}

static size_t depth(const char *name, char sep) {
  size_t d = 0;
  for (; *name; name++)
    d += *name == sep;
  return d;
}

/* Deepest names first (insertion sort: the lists are short). */
static void sort_children_first(char **v, size_t n, char sep) {
  for (size_t i = 1; i < n; i++) {
    char *x = v[i];
    size_t j = i;
    while (j > 0 && depth(v[j - 1], sep) < depth(x, sep)) {
      v[j] = v[j - 1];
      j--;
    }
    v[j] = x;
  }
}

static void jan_list_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  probe *p = arg;
  janitor *j = &p->jan;
  j->listing = 0;
  /* Children before parents, so that parents are empty when their turn
   * comes. */
  sort_children_first(j->names, j->n, p->sep);
  j->i = 0;
  jan_next(p);
}

/* Check and delete root (and with tree, every mailbox below it) when all
 * its messages match criteria, then call done. */
static void jan_start(probe *p, const char *root, int tree, const char *criteria,
                      void (*done)(probe *p)) {
  janitor *j = &p->jan;
  char pattern[260];
  jan_free(j);
  snprintf(j->root, sizeof j->root, "%s", root);
  snprintf(pattern, sizeof pattern, "%s%s", root, tree ? "*" : "");
  snprintf(j->criteria, sizeof j->criteria, "%s", criteria);
  j->done = done;
  j->listing = 1;
  if (p->ctl.state != CT_READY || ni_imap_list(p->ctl.c, "", pattern, jan_list_cb, p) != 0) {
    j->listing = 0;
    j->done = NULL;
    done(p);
  }
}

/* ---- shutdown ----------------------------------------------------------- */

static void finish(probe *p);

static void cleanup_done(probe *p) {
  janitor *j = &p->jan;
  if (j->deleted || j->refused)
    note(p, 1, "cleanup: %u mailboxes deleted, %u refused", j->deleted, j->refused);
  p->phase = PH_DONE;
  if (p->ctl.state == CT_READY && p->ctl.c) {
    p->ctl.state = CT_LOGOUT;
    if (ni_imap_logout(p->ctl.c, ignore_cb, NULL) == 0)
      return; /* on_end comes back to shutdown_step */
  }
  finish(p);
}

static void cleanup_parent(probe *p) {
  /* The run's parent mailboxes, when they are real (selectable) and empty,
   * or \Noselect with no children left. */
  char crit[160];
  snprintf(crit, sizeof crit, "HEADER X-Natidle-Probe \"%s\"", p->run_id);
  jan_start(p, "natidle-probe", 0, crit, cleanup_done);
}

/* Called whenever something shutting down finished; moves to the next
 * stage when nothing is left in the current one. */
static void stop_timer_cb(uv_timer_t *t);

static void shutdown_step(probe *p) {
  if (p->phase == PH_DONE) {
    finish(p);
    return;
  }
  if (p->phase != PH_SHUTDOWN)
    return; /* PH_CLEANUP: the janitor calls back when it is done */
  for (unsigned i = 0; i < p->k; i++)
    if (p->ss[i].c)
      return;
  int wrote = !p->o->read_only && (p->o->direction & NI_PDIR_INBOUND) && p->prefix[0];
  if (wrote && p->ctl.state == CT_READY) {
    char crit[160];
    p->phase = PH_CLEANUP;
    uv_timer_start(&p->stop_timer, stop_timer_cb, SHUTDOWN_MS, 0);
    snprintf(crit, sizeof crit, "HEADER X-Natidle-Probe \"%s\"", p->run_id);
    jan_start(p, p->prefix, 1, crit, cleanup_parent);
  } else if (wrote && p->ctl.state == CT_SETUP) {
    /* The control connection is coming back: ctl_ready() calls again. */
  } else if (wrote && !p->cleanup_retry) {
    /* Our mailboxes must not stay behind: one more connection for them. */
    p->cleanup_retry = 1;
    ctl_connect(p);
  } else {
    if (wrote && !p->fatal)
      note(p, 0, "could not remove the probe mailboxes %s: run 'natidle probe --cleanup'",
           p->prefix);
    p->phase = PH_CLEANUP;
    cleanup_done(p);
  }
}

static void stop_timer_cb(uv_timer_t *t) {
  probe *p = t->data;
  /* Shutdown took too long: drop whatever is left. */
  if (p->phase == PH_CLEANUP && p->prefix[0])
    note(p, 0, "shutdown timed out before the probe mailboxes %s were removed: run "
               "'natidle probe --cleanup'",
         p->prefix);
  else
    note(p, 0, "shutdown timed out");
  for (unsigned i = 0; i < p->k; i++)
    if (p->ss[i].c) {
      sess_drop_conn(&p->ss[i]);
      p->ss[i].state = SS_OFF;
    }
  if (p->ctl.c) {
    ni_imap_free(p->ctl.c);
    p->ctl.c = NULL;
    p->ctl.state = CT_OFF;
  }
  p->jan.done = NULL;
  p->phase = PH_DONE;
  finish(p);
}

static void begin_shutdown(probe *p) {
  if (p->phase >= PH_SHUTDOWN)
    return;
  if (p->s_in && ni_search_verdict(p->s_in) == NI_VERDICT_RUNNING)
    ni_search_stop(p->s_in);
  if (p->s_out && ni_search_verdict(p->s_out) == NI_VERDICT_RUNNING)
    ni_search_stop(p->s_out);
  int started = p->phase > PH_CONNECT;
  p->phase = PH_SHUTDOWN;
  uv_timer_stop(&p->wall);
  uv_timer_start(&p->stop_timer, stop_timer_cb, SHUTDOWN_MS, 0);
  for (unsigned i = 0; i < p->k; i++) {
    sess *s = &p->ss[i];
    timer_clear(s);
    s->armed = NULL;
    if (!s->c) {
      s->state = SS_OFF;
      continue;
    }
    switch (s->state) {
    case SS_SILENT:
      sess_check_done_now(s);
      break;
    case SS_CHECK:
      /* The push was not seen: the mapping may be dead, DONE may never be
       * answered; the done timer bounds the wait. */
      sess_check_done_now(s);
      break;
    case SS_DONE:
    case SS_REIDLE:
    case SS_LOGOUT:
      timer_set(s, TK_DONE, now_ms() + 2 * p->detect_ms + 2000);
      break;
    default:
      sess_drop_conn(s);
      s->state = SS_OFF;
      break;
    }
  }
  if (!started && !p->ctl.c) {
    p->phase = PH_DONE;
    finish(p);
    return;
  }
  shutdown_step(p);
}

static void on_signal(uv_signal_t *h, int signum) {
  probe *p = h->data;
  p->signals++;
  if (p->signals == 1) {
    p->interrupted = 1;
    note(p, 0, "interrupted: ending IDLE, logging out, removing the probe mailboxes");
    begin_shutdown(p);
  } else {
    stop_timer_cb(&p->stop_timer);
  }
}

static void wall_cb(uv_timer_t *t) {
  probe *p = t->data;
  note(p, 0, "time limit reached: stopping");
  begin_shutdown(p);
}

static void tick_cb(uv_timer_t *t) { status_draw(t->data, 0); }

/* After a result, targets move and the run may be over.  Done from the
 * loop rather than inside the callback that produced the result, so no
 * session changes state under the feet of the code that handles it. */
static void kick_cb(uv_timer_t *t) {
  probe *p = t->data;
  if (p->phase == PH_CALIBRATE)
    calibrate_step(p);
  retarget_all(p);
  maybe_finish(p);
}

static void kick(probe *p) {
  if (!uv_is_closing((uv_handle_t *)&p->kick))
    uv_timer_start(&p->kick, kick_cb, 0, 0);
}

/* ---- results ------------------------------------------------------------ */

static const char *verdict_csv(ni_verdict v) {
  /* The summary never says "running": a run that ends early is whatever
   * the data supports, which ni_search_stop has already decided. */
  return v == NI_VERDICT_RUNNING ? "inconclusive" : ni_verdict_name(v);
}

static double recommended(probe *p, ni_search *se) {
  double lo = 0;
  ni_search_bracket(se, &lo, NULL);
  return ni_recommended_keepalive(lo, p->jitter_ms / 1000.0, (double)p->detect_ms / 1000.0);
}

static void write_summary(probe *p, ni_search *se, const char *dir, double wall_s) {
  if (!p->o->summary_path)
    return;
  int err = 0;
  ni_csv_writer *w =
      p->summary ? p->summary
                 : ni_csv_writer_open(p->o->summary_path, ni_summary_columns, NI_SUMMARY_NCOLS,
                                      &err);
  if (!w) {
    ni_error("probe", "cannot write %s: %s", p->o->summary_path, ni_strerror(err));
    return;
  }
  double lo = 0, up = INFINITY;
  ni_search_bracket(se, &lo, &up);
  ni_verdict v = ni_search_verdict(se);
  char port[16], l[32], u[32], e[32], n[32], wall[32], ka[32], rec[32];
  snprintf(port, sizeof port, "%u", p->port);
  snprintf(l, sizeof l, "%.3f", lo);
  if (isinf(up))
    u[0] = '\0';
  else
    snprintf(u, sizeof u, "%.3f", up);
  if (v == NI_VERDICT_MEASURED)
    snprintf(e, sizeof e, "%.3f", ni_search_estimate(se));
  else
    e[0] = '\0';
  snprintf(n, sizeof n, "%u", ni_search_checks(se));
  snprintf(wall, sizeof wall, "%.1f", wall_s);
  if (p->server_ka_s > 0)
    snprintf(ka, sizeof ka, "%.1f", p->server_ka_s);
  else
    ka[0] = '\0';
  if (v == NI_VERDICT_MEASURED || v == NI_VERDICT_ABOVE_MAX || v == NI_VERDICT_MASKED)
    snprintf(rec, sizeof rec, "%.0f", floor(recommended(p, se)));
  else
    rec[0] = '\0';
  const char *f[NI_SUMMARY_NCOLS] = {p->run_id, p->o->network, p->o->server, port, p->tls_name,
                                     dir,       l,             u,            e,    n,
                                     wall,      ka,            rec,          verdict_csv(v)};
  int rc = ni_csv_write_row(w, f);
  /* The writer opened before the privilege drop serves both directions. */
  int rc2 = w == p->summary ? 0 : ni_csv_writer_close(w);
  if (rc || rc2)
    ni_error("probe", "cannot write %s: %s", p->o->summary_path, ni_strerror(rc ? rc : rc2));
}

/* The line a person and a script can read. */
static void print_result(probe *p, ni_search *se, const char *dir, double wall_s) {
  double lo = 0, up = INFINITY;
  ni_search_bracket(se, &lo, &up);
  ni_verdict v = ni_search_verdict(se);
  char wall[32];
  ni_fmt_duration(wall_s, wall, sizeof wall);
  unsigned n = ni_search_checks(se);
  double rec = floor(recommended(p, se));
  switch (v) {
  case NI_VERDICT_MEASURED:
    printf("timeout %.1f s (%s, %.1f\u2013%.1f s, %u checks, %s) \u2192 keep alive every %.0f s\n",
           ni_search_estimate(se), dir, lo, up, n, wall, rec);
    break;
  case NI_VERDICT_ABOVE_MAX:
    printf("timeout above %.0f s (%s, alive at %.1f s, %u checks, %s) \u2192 keep alive every "
           "%.0f s\n",
           p->o->max_s, dir, lo, n, wall, rec);
    break;
  case NI_VERDICT_MASKED:
    printf("masked by server keepalive every %.1f s (%s, NAT timeout above %.1f s, %u checks, "
           "%s) \u2192 this server keeps IDLE alive by itself; probe another server to see "
           "the NAT\n",
           p->server_ka_s, dir, lo, n, wall);
    break;
  default:
    if (isinf(up))
      printf("inconclusive (%s, alive at %.1f s, no death seen, %u checks, %s)\n", dir, lo, n,
             wall);
    else
      printf("inconclusive (%s, bracket %.1f\u2013%.1f s, %u checks, %s)\n", dir, lo, up, n,
             wall);
    break;
  }
}

static void close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

static void finish(probe *p) {
  if (p->finished)
    return;
  p->finished = 1;
  uv_timer_stop(&p->stop_timer);
  ni__status_clear(&p->st);
  double wall_s = (double)(now_ms() - p->t0) / 1000.0;
  if (!p->fatal) {
    if (p->s_in) {
      write_summary(p, p->s_in, "inbound", wall_s);
      print_result(p, p->s_in, "inbound", wall_s);
    }
    if (p->s_out) {
      write_summary(p, p->s_out, "outbound", wall_s);
      print_result(p, p->s_out, "outbound", wall_s);
    }
    fflush(stdout);
  }
  for (unsigned i = 0; i < p->k; i++) {
    sess_drop_conn(&p->ss[i]);
    close_handle((uv_handle_t *)&p->ss[i].timer);
  }
  if (p->ctl.c) {
    ni_imap_free(p->ctl.c);
    p->ctl.c = NULL;
  }
  close_handle((uv_handle_t *)&p->ctl.timer);
  if (p->pcap_polling)
    close_handle((uv_handle_t *)&p->pcap_poll);
  close_handle((uv_handle_t *)&p->wall);
  close_handle((uv_handle_t *)&p->tick);
  close_handle((uv_handle_t *)&p->stop_timer);
  close_handle((uv_handle_t *)&p->kick);
  close_handle((uv_handle_t *)&p->sigint);
  close_handle((uv_handle_t *)&p->sigterm);
}

/* ---- --cleanup ---------------------------------------------------------- */

static void cleanup_mode_done(probe *p) {
  janitor *j = &p->jan;
  if (!p->fatal)
    printf("cleanup: %u probe mailboxes deleted, %u refused\n", j->deleted, j->refused);
  cleanup_done(p);
}

/* ---- entry point -------------------------------------------------------- */

static void make_run_id(char *buf, size_t len) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  char ts[32];
  strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
  unsigned char r[2] = {0, 0};
  if (uv_random(NULL, NULL, r, sizeof r, 0, NULL) != 0) {
    r[0] = (unsigned char)(uv_hrtime() >> 8);
    r[1] = (unsigned char)uv_hrtime();
  }
  snprintf(buf, len, "%s-%02x%02x", ts, r[0], r[1]);
}

static int exit_code(probe *p) {
  if (p->fatal)
    return ni_exit_code_for(p->fatal);
  if (p->safety)
    return NI_EXIT_SAFETY;
  if (p->interrupted)
    return NI_EXIT_INTERRUPTED;
  if (p->o->cleanup)
    return NI_EXIT_OK;
  int inconclusive = 0;
  if (p->s_in && ni_search_verdict(p->s_in) == NI_VERDICT_INCONCLUSIVE)
    inconclusive = 1;
  if (p->s_out && ni_search_verdict(p->s_out) == NI_VERDICT_INCONCLUSIVE)
    inconclusive = 1;
  if (!p->s_in && !p->s_out)
    inconclusive = 1;
  return inconclusive ? NI_EXIT_INCONCLUSIVE : NI_EXIT_OK;
}

/* Cleanup mode: once logged in, look for every natidle-probe mailbox. */
static void cleanup_mode_start(probe *p) {
  p->phase = PH_CLEANUP;
  jan_start(p, "natidle-probe", 1, "HEADER X-Natidle-Probe \"\"", cleanup_mode_done);
}

static void cleanup_list_sep_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  probe *p = arg;
  if (status != 0) {
    ctl_fatal(p, status, AT_SETUP, NULL);
    return;
  }
  cleanup_mode_start(p);
}

int ni__probe_run(const ni_probe_opts *o) {
  probe *p = calloc(1, sizeof *p);
  if (!p) {
    ni_error("probe", "out of memory");
    return NI_EXIT_FAILURE;
  }
  p->o = o;
  p->k = o->cleanup ? 0 : o->sessions ? o->sessions : 8;
  p->tls_name = ni_tls_mode_name((ni_tls_mode)o->tls);
  p->port = o->port ? o->port : (o->tls == NI_TLS_IMAPS ? 993 : 143);
  p->sep = '/';
  p->t0 = now_ms();
  double noop = o->noop_s > 0 ? o->noop_s : fmin(5.0, fmax(0.5, o->min_s / 2.0));
  p->noop_ms = (ni_ms)llround(noop * 1000.0);
  p->noop_deadline_ms = 3 * p->noop_ms > 5000 ? 3 * p->noop_ms : 5000;
  p->detect_ms = 2000;
  ni__status_init(&p->st, stderr, o->quiet, o->verbose, p->t0);
  signal(SIGPIPE, SIG_IGN);

  int rc = 0;
  if (!o->cleanup) {
    int err = 0;
    /* Opening first repairs a row cut short by a killed run, so that the
     * resume reader sees only whole rows. */
    p->csv = ni_csv_writer_open(o->csv_path, ni_obs_columns, NI_OBS_NCOLS, &err);
    if (!p->csv) {
      ni_error("probe", "cannot open %s: %s", o->csv_path,
               err == NI_EMISMATCH ? "it is not an observations file" : ni_strerror(err));
      free(p);
      return err == NI_EMISMATCH ? NI_EXIT_SAFETY : NI_EXIT_USAGE;
    }
    /* The summary is written at the end, possibly hours from now: find out
     * now whether it can be (a directory that is not there, a file of
     * another layout), not when the measurement is done. */
    if (o->summary_path) {
      ni_csv_writer *sw =
          ni_csv_writer_open(o->summary_path, ni_summary_columns, NI_SUMMARY_NCOLS, &err);
      if (!sw) {
        ni_error("probe", "cannot open %s: %s", o->summary_path,
                 err == NI_EMISMATCH ? "it is not a summary file" : ni_strerror(err));
        ni_csv_writer_close(p->csv);
        free(p);
        return err == NI_EMISMATCH ? NI_EXIT_SAFETY : NI_EXIT_USAGE;
      }
      ni_csv_writer_close(sw);
    }
    if (o->resume) {
      char why[512];
      rc = ni__resume_load(o->csv_path, o->server, p->port, p->tls_name, &p->resume, why,
                           sizeof why);
      if (rc != 0) {
        ni_error("probe", "cannot resume: %s", why);
        ni_csv_writer_close(p->csv);
        free(p);
        return rc == NI_EMISMATCH ? NI_EXIT_SAFETY : NI_EXIT_USAGE;
      }
    }
  }
  if (p->resume.run_id[0])
    snprintf(p->run_id, sizeof p->run_id, "%s", p->resume.run_id);
  else
    make_run_id(p->run_id, sizeof p->run_id);

  p->ss = calloc(p->k ? p->k : 1, sizeof *p->ss);
  if (!p->ss || uv_loop_init(&p->loop) != 0) {
    ni_error("probe", "out of memory");
    ni_csv_writer_close(p->csv);
    free(p->ss);
    free(p);
    return NI_EXIT_FAILURE;
  }
  for (unsigned i = 0; i < p->k; i++) {
    sess *s = &p->ss[i];
    s->p = p;
    s->slot = i;
    s->num = p->resume.max_session + i + 1;
    uv_timer_init(&p->loop, &s->timer);
    s->timer.data = s;
  }
  uv_timer_init(&p->loop, &p->ctl.timer);
  p->ctl.timer.data = p;
  uv_timer_init(&p->loop, &p->wall);
  p->wall.data = p;
  uv_timer_init(&p->loop, &p->tick);
  p->tick.data = p;
  uv_timer_init(&p->loop, &p->stop_timer);
  p->stop_timer.data = p;
  uv_timer_init(&p->loop, &p->kick);
  p->kick.data = p;
  uv_signal_init(&p->loop, &p->sigint);
  p->sigint.data = p;
  uv_signal_init(&p->loop, &p->sigterm);
  p->sigterm.data = p;
  uv_signal_start(&p->sigint, on_signal, SIGINT);
  uv_signal_start(&p->sigterm, on_signal, SIGTERM);
  /* A hard cap on wall time, whatever the search does. */
  uv_timer_start(&p->wall, wall_cb, (uint64_t)llround(o->max_s * 3000.0) + 600000u, 0);
  if (p->st.mode == NI_STATUS_TTY)
    uv_timer_start(&p->tick, tick_cb, 250, 250);

  int crc = o->cleanup ? 0 : capture_open(p);
  if (crc != 0) {
    p->fatal = crc;
    p->phase = PH_DONE;
    finish(p);
  } else if (o->cleanup) {
    /* After login, ctl_ready asks LIST "" "" for the separator; the
     * cleanup starts from its answer. */
    p->phase = PH_CONNECT;
    ctl_connect(p);
  } else {
    note(p, 1, "run %s: %u sessions against %s port %u (%s)", p->run_id, p->k, o->server,
         p->port, p->tls_name);
    p->phase = PH_CONNECT;
    ctl_connect(p);
  }
  uv_run(&p->loop, UV_RUN_DEFAULT);
  /* Handles closed in finish(); run until the connections' own handles
   * are gone too. */
  uv_run(&p->loop, UV_RUN_DEFAULT);
  rc = exit_code(p);
  if (uv_loop_close(&p->loop) != 0)
    rc = rc ? rc : NI_EXIT_FAILURE;
  if (p->pcap) {
    unsigned got = 0, dropped = 0;
    ni__pcap_stats(p->pcap, &got, &dropped);
    if (dropped)
      note(p, 0, "the capture dropped %u of %u packets", dropped, got + dropped);
    ni__pcap_close(p->pcap);
  }
  ni_csv_writer_close(p->csv);
  ni_csv_writer_close(p->summary);
  if (p->ca_preloaded)
    ni_tls_unload_ca(p->o->ca_file);
  ni_search_free(p->s_in);
  ni_search_free(p->s_out);
  ni__resume_free(&p->resume);
  jan_free(&p->jan);
  free(p->ss);
  free(p);
  return rc;
}
