/*
 * Internals of the push driver (keepalive/driver*.c): the session and group
 * structs, the functions the driver's files call across, and pure helpers
 * exposed to the unit tests in tests/test_push.c.
 *
 * The driver is split by responsibility:
 *   driver.c          public API, the group's scheduler timer and the
 *                     session's own timer (setup, backoff, LOGOUT)
 *   driver_session.c  the connection's state machine: connect, SELECT,
 *                     NOTIFY, IDLE, keepalives, loss and failure
 *   driver_login.c    the login (password or OAuth2 token), and which
 *                     setup failures are permanent
 *   driver_sigpipe.c  SIGPIPE held off in the loop's thread
 *   driver_mail.c     new mail: FETCH parsing, reporting, the resync
 */
#ifndef NATIDLE_DRIVER_INTERNAL_H
#define NATIDLE_DRIVER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/secret.h"
#include "natidle/common.h"
#include "natidle/conn.h"
#include "natidle/push.h"

/* Fetch attributes for a new message, on both paths: the UID, the server's
 * arrival time (for the push delay) and the three header fields shown to
 * the user.  BODY.PEEK leaves \Seen alone. */
#define NI_PUSH_FETCH_ITEMS "(UID INTERNALDATE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT)])"
#define NI_PUSH_NOTIFY_SPEC                                                                        \
  "(selected (MessageNew (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT)]) "           \
  "MessageExpunge))"

/* A connection that stayed up this long resets the reconnect backoff. */
#define NI_PUSH_STABLE_MS 60000u

/* A stopping session gives the server this long to answer LOGOUT. */
#define NI_PUSH_LOGOUT_MS 1000u

#define NI_PUSH_FIELD_MAX 512

/* Longest line given to on_log (longer ones are cut). */
#define NI_PUSH_LOG_MAX 512

struct ni_push_group {
  uv_loop_t *loop;
  uv_timer_t timer; /* the scheduler timer of every session in the group */
  ni_ka_group kg;
  size_t sessions;
  int closing;
  ni_ms last_traffic; /* last wire byte of any session, for wakeups */
  uint64_t wakeups;
};

struct ni_push {
  uv_loop_t *loop;
  uv_timer_t timer;    /* setup, backoff and LOGOUT deadlines */
  ni_imap *c;          /* the current connection, NULL between connections */
  ni_ka ka;            /* in group->kg from ni_push_new() to ni_push_free() */
  ni_ka_config ka_cfg; /* what ka was made with, to start over after FAILED */
  ni_push_group *group;
  int own_group; /* group was created for this session alone */
  ni_push_cb cb;
  void *ud;

  /* Options (strings owned).  A session lives for days and reconnects at
   * any time, so it keeps the password, masked (common/secret.h): the
   * plaintext exists only while a login is being built (ni_imap_login()
   * copies it into the command and wipes its copies once sent). */
  char *account, *host, *user, *ca_file, *mailbox;
  ni__secret password;
  uint16_t port;
  ni_tls_mode tls;
  ni_push_auth auth;
  int insecure, allow_plaintext, no_notify, trace;
  int family; /* 0, 4 or 6: ni_push_opts.family */
  ni_ms setup_timeout, backoff_min, backoff_max;
  uint64_t rng;

  ni_push_state state;
  int running;      /* between ni_push_start() and the end of ni_push_stop() */
  int stopping;     /* a graceful LOGOUT is under way */
  int freed;        /* ni_push_free() was called: no more callbacks */
  int sigpipe_held; /* this session holds SIGPIPE blocked (driver_sigpipe.c) */
  int failure;      /* the error that ended it in NI_PUSH_FAILED, else 0 */
  char failure_detail[256];
  int synced_once;   /* a first sync completed: later resyncs report "late",
                        the first one "backlog" */
  int token_refresh; /* OAuth2: the last token was refused; the next one
                        asked for is a fresh one, and its refusal final */

  /* Connection-scoped state, reset by every connect. */
  ni_ms setup_deadline; /* NI_TIME_NEVER once in IDLE */
  ni_ms stop_deadline;  /* end of the LOGOUT grace, or NI_TIME_NEVER */
  ni_ms reconnect_at;   /* NI_TIME_NEVER unless waiting to reconnect */
  uint32_t sel_uidvalidity, sel_uidnext;
  int notify;             /* NOTIFY SET succeeded on this connection */
  int need_fetch;         /* new messages to fetch once out of IDLE */
  ni_ms need_fetch_since; /* when the EXISTS that asked for it arrived */
  ni_ms fetch_since;      /* the same, for the fetch in flight */
  int need_fetch_pushed;  /* that EXISTS was pushed inside IDLE */
  int fetch_pushed;       /* the same, for the fetch in flight */
  int resyncing;          /* the fetch in flight is a post-reconnect resync */
  int baseline;           /* the fetch in flight only learns the highest UID */
  int ka_inflight;        /* a keepalive was sent and not yet answered */
  int ka_suspect;         /* an EXISTS came in a keepalive's answer */
  int in_idle_cmd;        /* an IDLE command is queued or running */
  int64_t ka_sent_wall;   /* its wall-clock time, ms */
  ni_ka_action ka_action;
  ni_ms ka_sent_at, ka_interval;
  unsigned attempts;        /* consecutive failed connects, for the backoff */
  ni_ms up_since;           /* first IDLE of the current connection, 0 = not yet */
  int ka_connected;         /* the scheduler was told CONNECTED, not yet LOST */
  int started_once;         /* later connects count as reconnects */
  int token_wanted;         /* on_token was called; ni_push_set_token() awaited */
  uint32_t old_uidvalidity; /* a UIDVALIDITY found void by this SELECT, for
                               on_uidvalidity once the sync is over */

  ni_ms last_traffic; /* last wire read or write, any connection */
  ni_push_stats st;
};

/* ---- across the driver's files ---- */

/* driver.c: re-arm the session's own timer (setup, backoff and LOGOUT
 * deadlines), and the group's scheduler timer. */
void ni__push_rearm(ni_push *p);
void ni__push_group_rearm(ni_push_group *g);

/* driver_session.c */
int64_t ni__push_wall_ms(void);
void ni__push_ka_event(ni_push *p, ni_ka_event_type type, ni_ms rtt, ni_ms silent, ni_ms now);
void ni__push_set_state(ni_push *p, ni_push_state s, int err, const char *detail);
void ni__push_conn_lost(ni_push *p, int err, const char *detail, ni_ms silent);
int ni__push_cmd_failed(ni_push *p, int status, const char *what);
void ni__push_go_idle(ni_push *p);
void ni__push_after_sync(ni_push *p);
void ni__push_start_connect(ni_push *p);
void ni__push_ka_act(ni_push *p, ni_ka_action a, ni_ms now);

/* driver_login.c: the completion of ni_imap_connect(): log in. */
void ni__push_on_connected(ni_imap *c, int status, const ni_resp *tagged, void *arg);

/* driver_session.c: end the session for good (NI_PUSH_FAILED): no retry. */
void ni__push_fail(ni_push *p, int err, const char *detail);
/* driver_session.c: give the application a log line (printf format). */
void ni__push_log(ni_push *p, ni_push_log_level level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    /* Lets the compiler check every format against its arguments. */
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* driver_session.c: the session's running state is over (stopped, failed
 * or freed): forget the SIGPIPE hold. */
void ni__push_run_ended(ni_push *p);

/* driver_sigpipe.c: block SIGPIPE in the calling thread while at least one
 * hold is taken (see natidle/push.h, "SIGPIPE"); releasing the last hold
 * consumes a SIGPIPE raised meanwhile and restores the thread's mask. */
void ni__sigpipe_hold(void);
void ni__sigpipe_release(void);

/* driver_mail.c */
void ni__push_report_fetch(ni_push *p, const ni_resp *r);
void ni__push_start_fetch(ni_push *p);
void ni__push_on_selected(ni_imap *c, int status, const ni_resp *tagged, void *arg);

/* ---- pure helpers (no I/O, no clock) ---- */

/*
 * Copy the value of header field `name` (case-insensitive, without the
 * colon) from the header block hdr[0..n) into out[0..outlen), unfolding
 * continuation lines into single spaces and trimming white space at both
 * ends.  Control characters in the value become '?', so the result is safe
 * to print on one line.  Returns the length written (the value is cut to
 * outlen - 1 bytes), or -1 when the field is absent (out is then "").
 * outlen must be at least 1.
 */
int ni__header_field(const char *hdr, size_t n, const char *name, char *out, size_t outlen);

/*
 * Find INTERNALDATE "dd-Mon-yyyy hh:mm:ss +zzzz" (RFC 3501 date-time) in a
 * raw FETCH response and return it as Unix seconds, or -1 when it is absent
 * or malformed.
 */
int64_t ni__internaldate(const char *raw, size_t n);

/*
 * The delay before reconnect attempt `attempt` (0 for the first retry):
 * min_ms * 2^attempt, capped at max_ms, then "equal jitter": a uniformly
 * random value in [d/2, d].  *rng is a xorshift64 state (never 0), advanced
 * by the call.  The result is always in [min_ms / 2, max_ms].
 */
ni_ms ni__backoff_ms(unsigned attempt, ni_ms min_ms, ni_ms max_ms, uint64_t *rng);

#endif
