/*
 * probe/internal.h - what the files of the probe engine share: its
 * deadlines, the run's state (struct ni__probe), one silent session
 * (struct ni__sess), the control connection (struct ni__ctl), the janitor
 * that removes probe mailboxes, and the functions the files call across.
 * Not for use outside probe/.
 *
 * Everything runs on one libuv loop.  Each probe session is a small state
 * machine driven by its connection's callbacks and one timer; the control
 * connection APPENDs the markers and sends a NOOP every few seconds so that
 * its own NAT mapping never expires: it is the witness that the network
 * works while a session's check says "dead".
 *
 *   probe/run.c        ni__probe_run: setup, signals, timers, shutdown, end
 *   probe/capture.c    the packet capture, the privilege drop, resolving
 *   probe/control.c    the control connection, the marker APPEND
 *   probe/session.c    a session's connection: connect, login, SELECT, IDLE
 *   probe/check.c      arming, the checks, the end of a silence
 *   probe/calibrate.c  the detection deadline, the searches
 *   probe/record.c     observation and summary rows, results, events
 *   probe/janitor.c    probe mailbox names, creation and removal
 */
#ifndef NATIDLE_PROBE_INTERNAL_H
#define NATIDLE_PROBE_INTERNAL_H

#include <stdint.h>
#include <uv.h>

#include "natidle/common.h"
#include "natidle/conn.h"
#include "natidle/csv.h"
#include "natidle/latency.h"
#include "probe/pcap.h"
#include "probe/prober.h"
#include "probe/search.h"

/* ---- Deadlines and other durations (ms unless named otherwise) ---------- */

/* Calibration (probe/calibrate.c).  One APPEND-to-EXISTS sample on a
 * session that has just entered IDLE tells whether the server pushes at
 * all and how; then CAL_IDLE_SAMPLES more on sessions that have been silent
 * for CAL_IDLE_MS (less when --min is shorter): the push path of a server
 * (Courier's gamin, a file system watch) or of a radio after a few seconds
 * of silence is often slower than right after IDLE starts, and checks meet
 * silences, not fresh sessions.  Outbound-only runs calibrate on
 * CAL_SAMPLES NOOP round trips instead. */
#define CAL_SAMPLES 3
/* The first sample waits this long after the server answered IDLE: a
 * server that checks the mailbox once as IDLE starts and then only polls
 * (Cyrus without idled) reports a marker stored before that check at once.
 * Shorter than POLL_SUSPECT_MS, so a poll soon after is still told from a
 * push. */
#define CAL_SETTLE_MS 500
#define CAL_IDLE_SAMPLES 4
#define CAL_IDLE_MS 8000
/* The detection deadline of a check after a silence s is counted from the
 * APPEND's tagged OK (the server has stored the marker: the push is on its
 * way) and comes from the distribution of the push delays after that OK
 * measured after a comparable silence (natidle/latency.h,
 * ni_lat_deadline_dist): the 90th percentile, plus DETECT_SPREAD times its
 * distance from the median, plus one retransmission timeout of the control
 * connection's round trip (a push lost once on a lossy link still counts),
 * plus DETECT_SLACK_MS, at least DETECT_FLOOR_MS.  Counting from the OK
 * leaves out the APPEND's own round trips and its wait behind other
 * commands on the control connection, which grow with the latency and say
 * nothing about the push.  Every check that gets its push adds a sample, so
 * the deadline follows the path during the run. */
#define DETECT_SPREAD 2
#define DETECT_SLACK_MS 250
#define DETECT_FLOOR_MS 1000
/* Outbound-only runs: the DONE's answer within DETECT_FACTOR x the worst
 * NOOP round trip + DETECT_SLACK_MS. */
#define DETECT_FACTOR 4
#define DETECT_CAP_MS 120000
/* A deadline for a silence longer than any measured one is extrapolated
 * from the longest measured: never under this. */
#define DETECT_EXTRAP_MS 3000
/* The detection deadline before calibration has measured one: only the
 * shutdown of a run that ends during setup waits on it. */
#define DETECT_DEFAULT_MS 2000
/* The first calibration sample waits this long for its EXISTS: a server
 * that reports new mail to IDLE only when it polls the mailbox does so
 * every 60 s by default (Cyrus without idled, Courier without enhanced
 * IDLE), so two of its polls fit.  Nothing by then, and DONE answered: the
 * server does not push (verdict no_push). */
#define CAL_PUSH_WAIT_MS 130000
/* A push slower than this right after IDLE started is suspected to come
 * from a poll; the suspicion is confirmed when every sample arrives within
 * POLL_TOL_MS (or POLL_TOL_FRAC of the interval) of a multiple of the
 * interval, counted from the session's entry into IDLE. */
#define POLL_SUSPECT_MS 1500
#define POLL_TOL_MS 400
#define POLL_TOL_FRAC 0.05
/* With a polling server, the marker is APPENDed this long before the poll
 * it is meant for, at least: the APPEND must be stored before the server
 * looks (more on a slow control connection, see ni__poll_lead_ms). */
#define POLL_LEAD_MS 600
/* The answer to a check is expected at the poll; it may come this much
 * later (at least: more when calibration saw polls wander). */
#define POLL_LATE_MS 1500
/* A detection deadline that expires lets the loop read what already
 * arrived before DONE goes out: an EXISTS that reached the client before
 * DONE was sent means alive. */
#define DETECT_GRACE_MS 15
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
/* The narrowest bracket the checks can tell apart is their blur (see
 * blur_ms in probe/calibrate.c) times this: the blur is measured on a few
 * calibration samples, and checks later in the run spread a little more. */
#define BLUR_MARGIN 1.25
/* During the run the blur is measured on the checks themselves: the
 * median distance of a death's recorded silence above the silence its
 * check started at, less the median distance of a survival's, plus a round
 * trip, once there are BLUR_MIN of each (the last BLUR_SAMPLES are kept). */
#define BLUR_SAMPLES 32
#define BLUR_MIN 2
/* The janitor checks and deletes a mailbox in four round trips (EXAMINE,
 * UID SEARCH, CLOSE, DELETE), one command at a time on a connection: over
 * a round trip of JAN_HELPER_RTT_MS or more, with JAN_HELPER_MIN mailboxes
 * or more to clean, it opens up to JAN_HELPERS more connections and works
 * on several mailboxes at once.  The sessions are logged out by then, so
 * this is no more connections than the run had. */
#define JAN_HELPERS 7
#define JAN_HELPER_RTT_MS 50
#define JAN_HELPER_MIN 3
#define JAN_NONE ((size_t)-1)
enum { JS_TODO, JS_TAKEN, JS_DONE };
/* Checks are aimed this much after their target (see ni__due_at). */
#define DUE_MARGIN_MS 10
/* A target timer that fires this close before its target counts as on
 * time: timers and clocks are both rounded to the millisecond. */
#define EARLY_SLACK_MS 2
/* The probe mailboxes' tree: "natidle-probe" under the personal namespace
 * prefix (or, on a server without NAMESPACE that refuses top-level
 * mailboxes, under INBOX). */
#define PROBE_ROOT "natidle-probe"
/* Two reads closer than this are one burst of unsolicited data. */
#define BURST_MS 200
/* Server keepalive detection: the last few intervals between unsolicited
 * bursts are kept, and intervals that agree within KA_AGREE are taken as
 * the server's cadence.  A new cadence replaces a known one only when it is
 * clearly shorter (below KA_SHORTER of it), not on every jitter. */
#define KA_SAMPLES 4
#define KA_AGREE 1.25
#define KA_SHORTER 0.9

/* The answer to DONE (or to LOGOUT) once the outcome of a check is known:
 * one round trip, which the detection deadline already bounds; twice that
 * plus DONE_GRACE_MS leaves room for a retransmission on a slow link
 * before the session is given up as a zombie. */
#define DONE_GRACE_MS 2000
#define DONE_WAIT_MS(p) (2 * (p)->t.detect_ms + DONE_GRACE_MS)
/* The answer to DONE after a push was lost (ni__done_wait_ms): one round
 * trip, or, when the DONE or its answer is lost, the sender's
 * retransmission timeouts: round trip + DONE_RTOS x the RTO + DONE_SLACK_MS
 * (two losses in a row on a lossy link), never less than DONE_FLOOR_MS
 * (the packet may have to wake a radio). */
#define DONE_RTOS 3
#define DONE_SLACK_MS 500
#define DONE_FLOOR_MS 2000

/* The control connection's NOOP cadence when --noop is not given: half the
 * shortest silence tested, so its mapping never idles as long as a probe
 * session's, within [NOOP_MIN_S, NOOP_MAX_S]. */
#define NOOP_MIN_S 0.5
#define NOOP_MAX_S 5.0
/* A NOOP unanswered this long means the control connection is lost.  Before
 * calibration: NOOP_MISSES cadences, at least NOOP_DEADLINE_SETUP_MS.  After
 * it: twice the detection deadline, at least NOOP_DEADLINE_MIN_MS, and
 * never under two cadences. */
#define NOOP_MISSES 3
#define NOOP_DEADLINE_SETUP_MS 5000
#define NOOP_DEADLINE_MIN_MS 3000
/* A NOOP slower than STALL_FACTOR round trips plus STALL_SLACK_MS (at least
 * STALL_FLOOR_MS) means the network stalled: generous next to a round trip,
 * short next to the detection deadline. */
#define STALL_FACTOR 4
#define STALL_SLACK_MS 500
#define STALL_FLOOR_MS 1000
/* The control connection witnesses a dead check only when it answered
 * within one NOOP cadence plus two round trips plus this. */
#define WITNESS_SLACK_MS 1000
/* A hard cap on a run's wall time, whatever the search does: WALL_FACTOR x
 * --max (a few rounds of checks at the longest silence) plus WALL_EXTRA_MS
 * for setup, calibration and reconnects. */
#define WALL_FACTOR 3
#define WALL_EXTRA_MS 600000u
/* A control connection that stays lost this long (the network is gone,
 * not just changed) ends the run, resumable with --resume. */
#define CTL_DOWN_MAX_MS 300000
/* Reconnects are bounded: RECONNECTS_PER x (checks allowed + sessions). */
#define RECONNECTS_PER 4

/* ---- States ------------------------------------------------------------- */

typedef enum ni__sess_state {
  SS_OFF,    /* no connection; maybe waiting for the backoff timer */
  SS_SETUP,  /* connecting, logging in, selecting, entering IDLE */
  SS_SILENT, /* IDLE and silent: armed (timer at its target) or parked */
  SS_CHECK,  /* inbound check: marker APPENDed, waiting for EXISTS */
  SS_DONE,   /* DONE sent, waiting for the tagged OK */
  SS_REIDLE, /* IDLE sent again, waiting for "+" */
  SS_LOGOUT  /* shutting down */
} ni__sess_state;

/* What a session's timer is for. */
typedef enum ni__timer_kind {
  TK_NONE,
  TK_BACKOFF, /* reconnect after the backoff */
  TK_SETUP,   /* setup (or entering IDLE again) took too long */
  TK_TARGET,  /* the silence reaches its target: check */
  TK_DETECT,  /* the detection deadline of an inbound check */
  TK_DONE,    /* the answer to DONE (or LOGOUT) is overdue */
  TK_CAL      /* calibration: the silence is long enough for an idle sample */
} ni__timer_kind;

/* What the DONE of a check is waiting to decide. */
typedef enum ni__ck_result {
  CK_OPEN,   /* nothing known yet: the answer to DONE decides */
  CK_DECIDED /* the outcome is recorded; DONE only ends IDLE */
} ni__ck_result;

/* The outcome of an observation: indices into ni_obs_outcomes, the names
 * the CSV outcome column allows. */
typedef enum ni__outcome {
  OC_ALIVE,
  OC_DEAD_SILENT,
  OC_DEAD_RESET,
  OC_DEAD_CLOSED,
  OC_DEAD_INBOUND,
  OC_REFRESHED,
  OC_ABORTED,
  OC_ERROR
} ni__outcome;

typedef enum ni__ctl_state { CT_OFF, CT_SETUP, CT_READY, CT_LOGOUT } ni__ctl_state;

/* Where the first control connection failed: the error line names it. */
typedef enum ni__ctl_stage { AT_CONNECT, AT_LOGIN, AT_LOGIN_STALL, AT_SETUP } ni__ctl_stage;

typedef enum ni__phase {
  PH_CONNECT,   /* the control connection logs in */
  PH_CREATE,    /* the probe mailboxes are created */
  PH_CALIBRATE, /* the sessions connect; the detection deadline is measured */
  PH_RUN,       /* the search */
  PH_SHUTDOWN,  /* the sessions end IDLE and log out */
  PH_CLEANUP,   /* the janitor removes the probe mailboxes */
  PH_DONE
} ni__phase;

/* ---- State -------------------------------------------------------------- */

typedef struct ni__probe ni__probe;

/* One silent probe session. */
typedef struct ni__sess {
  ni__probe *p;
  unsigned slot; /* index for the search, 0..K-1 */
  unsigned num;  /* number in the CSV and in the mailbox name */
  char mbox[400];
  ni_imap *c;
  ni__sess_state state;
  uv_timer_t timer;
  ni__timer_kind tk; /* what the timer is for */
  ni_ms due;         /* when a TK_TARGET timer should fire */
  ni_ms plain_due;   /* the check's start before the control connection's
                        queue was allowed for (0: none armed) */
  ni_ms plan_poll;   /* polling server: the poll the armed check aims at */
  ni_ms silent_since;
  ni_ms idle_since; /* when IDLE began: a polling server's phase */
  ni_search *armed; /* the search it is armed in, NULL when parked */
  ni_ms last_unsol; /* last unsolicited data on this connection */
  unsigned backoff_ms;
  uint16_t lport; /* local port watched by the capture, 0 = none */
  int limited;    /* the last setup failure was a server limit */
  char bye[200];  /* last BYE / NO text, to recognise limit refusals */
  struct {        /* the check in progress */
    ni_probe_dir dir;
    int cal; /* a calibration sample, not an observation */
    ni__ck_result result;
    ni_search *search;
    double target, silence;
    ni_ms fire;        /* when the check started (0: the silence ended without one) */
    ni_ms sent;        /* when the marker (or DONE) went out */
    ni_ms ok;          /* when the server confirmed the marker (0: not yet) */
    unsigned epoch;    /* control connection generation at the start */
    ni_ms poll_at;     /* polling server: the poll the check is for (0: none) */
    double dead_s;     /* the silence a death is recorded at */
    int grace;         /* the detection deadline passed; reading what came */
    ni_ms late_exists; /* an EXISTS came after DONE was sent (0: none) */
    ni_ms done_at;     /* when DONE went out after a lost push (0: not yet) */
  } ck;
  unsigned tok_gen; /* the OAuth2 token generation its login used */
  int created;      /* its mailbox was created (or found, on --resume) */
  int select_waits; /* logged in, waiting for that before its SELECT */
} ni__sess;

/* The control connection. */
typedef struct ni__ctl {
  ni_imap *c;
  ni__ctl_state state;
  unsigned epoch;   /* incremented whenever the connection is lost */
  uv_timer_t timer; /* NOOP cadence, or the reconnect backoff */
  ni_ms noop_sent;
  int noop_inflight;
  unsigned backoff_ms;
  double srtt_ms;    /* smoothed NOOP round trip */
  ni_ms create_sent; /* the first CREATE, sent alone: its answer is the
                        first round trip (NOOPs wait while it and the
                        calibration's APPENDs keep the connection busy) */
  ni_ms last_reply;  /* when the server last answered a command */
  ni_ms stall_end;   /* when the last slow NOOP was answered (0: none) */
  unsigned tok_gen;  /* the OAuth2 token generation its login used */
  ni_net_events net; /* when it lost its mapping: silences across are void */
  ni_ms lost_at;     /* when the open network event was noticed */
  char lost_why[64]; /* ... and how */
} ni__ctl;

/* One connection the janitor checks and deletes mailboxes on, one at a
 * time: the control connection (worker 0) or a helper of its own. */
typedef struct ni__jworker {
  ni__probe *p;
  ni_imap *c;         /* a helper's own connection (worker 0: p->ctl.c) */
  int helper;         /* a connection of its own, logged in for the cleanup */
  int ready;          /* may take a mailbox */
  size_t i;           /* the mailbox it works on, JAN_NONE when idle */
  int looking;        /* LIST responses tell whether the mailbox still exists */
  int found;          /* ... and one did */
  char why[200];      /* the server's answer to the DELETE being checked */
  uint32_t all, ours; /* messages in the mailbox, and markers among them */
  int examining;      /* an EXAMINE is out: its EXISTS counts `all` */
  int exists_seen;    /* ... and the server sent one */
  uint32_t *counting; /* where SEARCH results are being counted */
  unsigned tok_gen;   /* the OAuth2 token generation its login used */
} ni__jworker;

/* Check-then-delete of probe mailboxes, children before their parents, on
 * the control connection and, over a long round trip, on helpers in
 * parallel (a mailbox takes four round trips). */
typedef struct ni__janitor {
  char **names;
  size_t n, cap;
  char criteria[160];  /* UID SEARCH criteria that select our markers */
  char root[340];      /* the mailbox whose tree is cleaned */
  int quiet;           /* a refused DELETE is expected (a shared root) */
  int listing;         /* LIST responses go into names */
  int working;         /* the names are being checked and deleted */
  unsigned char *kept; /* per name: kept (refused or failed), or below one */
  unsigned char *st;   /* per name: JS_TODO, JS_TAKEN or JS_DONE */
  void (*done)(ni__probe *p);
} ni__janitor;

struct ni__probe {
  const ni_probe_opts *o;
  ni_probe_hooks hooks;
  uv_loop_t loop;
  struct { /* the run's own handles */
    uv_signal_t sigint, sigterm;
    uv_timer_t wall; /* the hard cap on wall time */
    uv_timer_t tick; /* STATUS snapshots */
    uv_timer_t stop; /* bounds each stage of the shutdown */
    uv_timer_t kick; /* re-plans after a result, from the loop */
  } h;
  ni__ctl ctl;
  ni__sess *ss;
  unsigned k; /* sessions */
  ni__phase phase;
  ni_ms t0;
  struct { /* who the run is, in the CSV rows and mailbox names */
    char run_id[64];
    char sep;         /* hierarchy separator of the personal namespace */
    char ns[200];     /* personal namespace prefix ("" at the top level) */
    int has_ns;       /* the server offers NAMESPACE */
    int in_inbox;     /* fell back to a tree below INBOX */
    char root[260];   /* "<ns>natidle-probe": the tree of every run */
    char prefix[340]; /* "<root><sep><run>" */
    unsigned port;
    const char *tls_name;
  } id;
  ni_csv_writer *csv;
  ni_csv_writer *summary; /* opened before a privilege drop, else at the end */
  ni_resume resume;
  struct {
    ni_search *in, *out;
    ni_probe_dir cur; /* direction being checked now */
  } search;
  struct {           /* calibration */
    unsigned n;      /* samples taken */
    unsigned busy;   /* samples being taken */
    unsigned round;  /* 1: the fresh sample, 2: idle samples */
    unsigned idle_n; /* idle samples taken */
    unsigned fails;  /* idle samples that got no EXISTS */
    ni_ms idle_ms;   /* the silence of the idle samples */
    ni_ms worst;
    ni_ms samples[CAL_SAMPLES + CAL_IDLE_SAMPLES + 8];
  } cal;
  ni_lat lat;        /* push delays (APPEND sent to EXISTS) by silence */
  ni_lat lat_ok;     /* push delays (APPEND's OK to EXISTS) by silence */
  struct {           /* the longest alive silence per direction (in, out) */
    double client_s; /* as the client counted it */
    double nat_s;    /* as the NAT saw it, from the capture */
    int captured;    /* nat_s is known */
  } alive[2];
  struct {                /* a server that reports new mail when it polls */
    int seen;             /* the first push looked like a poll */
    int known;            /* every sample fits the polls: the phase is known */
    ni_ms every_ms;       /* the poll interval P */
    double sum_ms, sum_k; /* for the interval's estimate: arrivals and polls */
    ni_ms dev_ms;         /* the worst distance of an arrival from its poll */
  } poll;
  struct {               /* timing, measured and derived */
    ni_ms push_ms;       /* typical APPEND-to-EXISTS time (median sample) */
    ni_ms lead_ms;       /* shortest APPEND-to-EXISTS time seen */
    ni_ms worst_push_ms; /* longest APPEND-to-EXISTS time seen */
    ni_ms detect_ms;     /* detection deadline (of the longest silences) */
    ni_ms noop_ms, noop_deadline_ms;
    double floor_s; /* the narrowest bracket the checks can tell (0: none) */
  } t;
  struct {
    unsigned checks;       /* checks started, calibration included */
    unsigned connects;     /* session connection attempts */
    unsigned zombies;      /* sessions abandoned without LOGOUT */
    unsigned refused;      /* deaths whose DONE got no answer or a RST: this
                              NAT does not revive a mapping on the client's
                              packet, so a late push is a live mapping's */
    unsigned late;         /* late pushes taken as ambiguous (voided) */
    unsigned stuck;        /* deaths in a row recorded at or above U */
    int narrowest;         /* stopped: no check can narrow the bracket */
    unsigned creates_left; /* CREATEs not answered yet */
  } n;
  struct { /* the server's own keepalive */
    double samples[KA_SAMPLES];
    unsigned n;
    double interval_s; /* detected interval, 0 = none */
  } ka;
  struct { /* where checks were recorded, from the silence they started at (s) */
    double alive[BLUR_SAMPLES], dead[BLUR_SAMPLES];
    unsigned n_alive, n_dead; /* samples so far (the arrays keep the last) */
  } blur;
  int limit_noted; /* the server's connection limit was reported */
  ni__janitor jan;
  ni__jworker jw[1 + JAN_HELPERS]; /* the janitor's connections */
  int jw_started;                  /* helpers were opened (once a run) */
  struct {                         /* what the janitor did, over all its passes */
    unsigned deleted, refused, failed;
    unsigned root; /* --cleanup: the candidate tree being cleaned */
  } clean;
  struct {           /* OAuth2 access tokens (opts.token) */
    unsigned gen;    /* generation of the token in use */
    unsigned proven; /* the last generation a login succeeded with */
    int refreshed;   /* the token in use replaced a refused one */
  } tok;
  struct {         /* packet evidence */
    ni_pcap *pcap; /* NULL when capturing is not possible */
    uv_poll_t poll;
    int polling;
    int ca_preloaded; /* ni_tls_preload_ca() done before the privilege drop */
  } cap;
  struct {     /* how the run ends */
    int fatal; /* error that ends the run before measuring */
    int interrupted;
    int signals;
    int safety;        /* refused to delete something */
    int nopush;        /* the server's IDLE does not report new mail */
    int inconclusive;  /* calibration could not finish */
    int cleanup_retry; /* reconnected once to remove the probe mailboxes */
    int finished;
  } end;
};

/* ---- Across the files ---------------------------------------------------- */

/* Events (probe/record.c).  ni__emit: any event (it sets ev->now);
 * ni__note: a progress line at level 0, 1 or 2; ni__error: an error line;
 * ni__status: a STATUS snapshot, when the hooks ask for them. */
void ni__emit(ni__probe *p, ni_probe_event *ev);
void ni__note(ni__probe *p, int level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    /* Lets the compiler check the format string against its arguments. */
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void ni__error(ni__probe *p, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void ni__status(ni__probe *p);

/* The search (probe/search.c): a coarser resolution, from what the
 * engine measured its checks can tell apart (no effect once it is over). */
void ni__search_set_resolution(ni_search *s, double resolution_s);

/* Observations and results (probe/record.c). */
ni_search *ni__search_for(ni__probe *p, ni_probe_dir dir);
void ni__derive_outbound(ni__probe *p, ni_probe_dir dir, ni__outcome oc, double silence);
void ni__record(ni__sess *s, ni__outcome oc, long detect_ms);
void ni__results(ni__probe *p, double wall_s);

/* Connections (probe/control.c). */
int ni__login(ni__probe *p, ni_imap *c, unsigned *gen, ni_imap_done_cb cb, void *arg);
int ni__login_retry(ni__probe *p, ni_imap *c, int status, unsigned *gen, ni_imap_done_cb cb,
                    void *arg);
void ni__imap_opts(const ni__probe *p, ni_imap_opts *io);
void ni__ignore_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg);
void ni__ctl_connect(ni__probe *p);
void ni__ctl_send_noop(ni__probe *p);
void ni__ctl_fatal(ni__probe *p, int err, ni__ctl_stage at, const ni_resp *tagged);
ni_ms ni__stall_ms(const ni__probe *p);
void ni__send_marker(ni__sess *s);

/* Sessions (probe/session.c, probe/check.c). */
void ni__sess_connect(ni__sess *s);
void ni__sess_mailbox_ready(ni__sess *s);
void ni__sess_drop_conn(ni__sess *s);
void ni__sess_schedule_reconnect(ni__sess *s, unsigned delay_ms);
void ni__sess_setup_failed(ni__sess *s, int err);
void ni__sess_arm(ni__sess *s);
void ni__sess_check_done_now(ni__sess *s);
void ni__sess_timer_cb(uv_timer_t *t);
void ni__timer_set(ni__sess *s, ni__timer_kind kind, ni_ms at);
void ni__timer_clear(ni__sess *s);
ni_ms ni__silence_of(const ni__sess *s, ni_ms now);
void ni__end_silence(ni__sess *s, ni_ms now, ni__outcome oc);
void ni__check_exists(ni__sess *s, ni_ms now);
ni_ms ni__check_wait_ms(const ni__sess *s);
void ni__unsolicited(ni__sess *s, ni_ms now);
void ni__retarget_all(ni__probe *p);

/* Calibration and the searches (probe/calibrate.c). */
void ni__sessions_start(ni__probe *p);
void ni__calibrate_step(ni__probe *p);
void ni__calibrate_exists(ni__sess *s, ni_ms took);
void ni__calibrate_rtt(ni__probe *p, ni_ms rtt);
void ni__calibrate_timeout(ni__sess *s);
ni_ms ni__calibrate_wait_ms(const ni__sess *s);
void ni__calibrate_done_answer(ni__sess *s, int status);
ni_ms ni__detect_ms(const ni__probe *p, ni_ms silence_ms);
ni_ms ni__done_wait_ms(const ni__probe *p);
ni_ms ni__rtt_ms(const ni__probe *p);
double ni__rtt_s(const ni__probe *p);
ni_ms ni__rto_ms(const ni__probe *p);
double ni__blur_floor_s(const ni__probe *p, double blur_s);
const char *ni__summary_mismatch(const char *path);
void ni__check_done_answer(ni__sess *s, int status);
ni_ms ni__poll_lead_ms(const ni__probe *p);

/* Probe mailboxes (probe/janitor.c). */
int ni__mailboxes_begin(ni__probe *p);
void ni__janitor_untagged(ni__probe *p, const ni_resp *r);
void ni__cleanup_run_mailboxes(ni__probe *p);
void ni__cleanup_done(ni__probe *p);
void ni__cleanup_next_root(ni__probe *p);
void ni__janitor_free(ni__janitor *j);
void ni__janitor_close(ni__probe *p);

/* The capture (probe/capture.c).  Returns 0, or an error that ends the run. */
int ni__capture_open(ni__probe *p);
void ni__capture_close(ni__probe *p);

/* The run (probe/run.c). */
void ni__maybe_finish(ni__probe *p);
void ni__stop_searches(ni__probe *p);
void ni__begin_shutdown(ni__probe *p);
void ni__shutdown_step(ni__probe *p);
void ni__finish(ni__probe *p);
void ni__kick(ni__probe *p);

#endif
