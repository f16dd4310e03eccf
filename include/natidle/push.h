/*
 * natidle/push.h - a push-mail session on libuv: one IMAP account kept in
 * IDLE (or NOTIFY) with the fewest keepalives the NAT in between allows.
 *
 * A session connects (IMAPS, STARTTLS or plaintext), logs in, SELECTs one
 * mailbox and waits in IDLE.  When the server offers NOTIFY (RFC 5465) the
 * session asks for new messages' UID and From/To/Subject header fields to be
 * pushed, so new mail is reported without leaving IDLE; otherwise an EXISTS
 * during IDLE is followed by DONE, a UID FETCH of the new messages and a new
 * IDLE.
 *
 * The keepalive scheduler (natidle/keepalive.h) decides when the session
 * speaks while idle; the session sends nothing the scheduler did not ask for
 * and never enables TCP keepalive.  Every keepalive has a reply deadline:
 * when it passes, the connection is declared dead at once (waiting for TCP to
 * notice would take minutes), the scheduler is told, and the session
 * reconnects with exponential backoff and jitter.  After a reconnect the
 * session fetches every UID above the last one it reported, so a message
 * whose push was lost is reported late, but never missed and never twice.
 *
 * Push delay: the time from the message's INTERNALDATE (the moment the
 * server stored it, taken from the server's clock, whole seconds) to the
 * moment the session reports it (the local wall clock).  Whole-second
 * INTERNALDATEs make it an over-estimate by less than one second; it is
 * clamped at zero when the clocks disagree.  When the server gives no
 * INTERNALDATE, the delay is counted from the moment the session first
 * learned that the message exists.
 *
 * Memory and callbacks follow the libuv rules: the caller owns the loop;
 * ni_push_free() starts closing the session's handles and the memory goes
 * away inside the loop.  Callbacks run on the loop's thread.  ni_push_stop()
 * and ni_push_free() may be called from inside the session's callbacks.
 *
 * Errors are negative ints from natidle/common.h (NI_E*) or -errno.
 */
#ifndef NATIDLE_PUSH_H
#define NATIDLE_PUSH_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "natidle/common.h"
#include "natidle/conn.h"
#include "natidle/keepalive.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ni_push ni_push;

/*
 * A group of sessions that share wakeups: the sessions of one process (one
 * per account) should be in one group, so that their keepalives are sent
 * together and the radio wakes once for all of them.  The group owns the
 * scheduler timer of all its sessions (one uv timer, armed at the group's
 * earliest expiry).  A session created without a group gets a private one.
 */
typedef struct ni_push_group ni_push_group;

/* Create an empty group on loop.  Returns 0 and *out, or -ENOMEM. */
NI_API int ni_push_group_new(uv_loop_t *loop, ni_push_group **out);

/* Wakeups of the group so far: sends by any of its sessions that came more
 * than NI_PUSH_RADIO_TAIL_MS after the last traffic of any of them. */
NI_API uint64_t ni_push_group_wakeups(const ni_push_group *g);

/* Free the group once its timer is closed, inside the loop.  Free its
 * sessions first (ni_push_free); a group that still has sessions is left
 * alone and NI_ESTATE returned.  NULL is ignored (returns 0). */
NI_API int ni_push_group_free(ni_push_group *g);

/* Where a session is.  The order is not meaningful. */
typedef enum ni_push_state {
  NI_PUSH_STOPPED = 0,     /* not started, or stopped */
  NI_PUSH_CONNECTING,      /* DNS, TCP, TLS, greeting, capabilities */
  NI_PUSH_AUTHENTICATING,  /* login */
  NI_PUSH_SELECTING,       /* SELECT, NOTIFY SET */
  NI_PUSH_SYNCING,         /* fetching messages above the last UID seen */
  NI_PUSH_IDLE,            /* in IDLE, waiting for mail (the quiet state) */
  NI_PUSH_KEEPALIVE,       /* a keepalive is out, waiting for its reply */
  NI_PUSH_FETCHING,        /* out of IDLE to fetch new messages */
  NI_PUSH_RECONNECT_WAIT   /* connection lost; waiting out the backoff */
} ni_push_state;

/* Short lower-case name of a state: "stopped", "connecting",
 * "authenticating", "selecting", "syncing", "idle", "keepalive", "fetching",
 * "reconnect-wait" ("?" if out of range).  Never NULL. */
NI_API const char *ni_push_state_name(ni_push_state s);

/* One new message, as reported to on_message.  The strings are
 * NUL-terminated, never NULL ("" when the server gave none), raw header text
 * with folding removed (no MIME decoding), and valid only during the call. */
typedef struct ni_push_msg {
  uint32_t uid;
  uint32_t uidvalidity;
  const char *from;
  const char *to;
  const char *subject;
  int64_t internaldate;  /* server's INTERNALDATE, Unix seconds; -1 unknown */
  ni_ms seen_at;         /* ni_imap_now() when the session learned of it */
  ni_ms delay_ms;        /* push delay (see the top of this file) */
  int late;              /* 1: found by the resync after a reconnect */
  int pushed;            /* 1: arrived by NOTIFY, 0: by UID FETCH */
} ni_push_msg;

/* What happened to a keepalive. */
typedef enum ni_push_ka_kind {
  NI_PUSH_KA_SENT = 0,    /* sent (DONE, or DONE + NOOP) */
  NI_PUSH_KA_ANSWERED,    /* its reply arrived; rtt_ms is set */
  NI_PUSH_KA_UNANSWERED   /* the reply deadline passed: connection declared dead */
} ni_push_ka_kind;

/* One keepalive event, as reported to on_keepalive; valid during the call. */
typedef struct ni_push_ka_event {
  ni_push_ka_kind kind;
  ni_ka_action action;  /* what the scheduler asked for */
  ni_ms at;             /* ni_imap_now() of the event */
  ni_ms interval_ms;    /* silence on the connection before the keepalive */
  ni_ms rtt_ms;         /* NI_PUSH_KA_ANSWERED: send to reply */
  uint64_t bytes_out;   /* wire bytes of this session so far (all connections) */
  uint64_t bytes_in;
} ni_push_ka_event;

/* Counters of one session since ni_push_new(). */
typedef struct ni_push_stats {
  uint64_t keepalives;           /* keepalives sent */
  uint64_t keepalives_answered;
  uint64_t keepalives_unanswered;
  uint64_t wakeups;    /* sends of this session that came more than
                          NI_PUSH_RADIO_TAIL_MS after its last traffic */
  uint64_t connects;   /* connections that reached IDLE */
  uint64_t reconnects; /* connection attempts after the first */
  uint64_t messages;   /* messages reported */
  uint64_t messages_late; /* of those, found by a resync */
  uint64_t bytes_out;  /* wire bytes, all connections */
  uint64_t bytes_in;
  ni_ms worst_delay_ms; /* largest push delay reported */
  uint32_t last_uid;    /* highest UID known (reported, or present at start) */
  uint32_t uidvalidity; /* of the selected mailbox; 0 before the first SELECT */
} ni_push_stats;

/* How long the radio of a phone stays awake after a packet: traffic closer
 * together than this costs one wakeup, not two. */
#define NI_PUSH_RADIO_TAIL_MS 2000u

/* Callbacks; any may be NULL.  ud is the pointer given to ni_push_new(). */
typedef struct ni_push_cb {
  /* A new message.  Called once per UID (per UIDVALIDITY). */
  void (*on_message)(ni_push *p, const ni_push_msg *m, void *ud);
  /* The session moved to state s.  err is why it left the previous state
   * when that was a failure (e.g. NI_ETIMEDOUT for an unanswered keepalive,
   * NI_ECLOSED, NI_EAUTH), else 0.  detail is a short human-readable text
   * ("" when none), e.g. the server's NO text or "uidvalidity changed". */
  void (*on_state)(ni_push *p, ni_push_state s, int err, const char *detail, void *ud);
  /* A keepalive was sent, answered, or went unanswered. */
  void (*on_keepalive)(ni_push *p, const ni_push_ka_event *ev, void *ud);
} ni_push_cb;

/* Session options.  Zero-initialise and fill in what you need; the strings
 * are copied by ni_push_new() (the password into memory that is wiped on
 * free), so they need not outlive the call. */
typedef struct ni_push_opts {
  const char *account;      /* label for callbacks and logs; NULL = user */
  const char *host;         /* required */
  uint16_t port;            /* 0 = 993 for imaps, 143 otherwise */
  ni_tls_mode tls;
  const char *user;         /* required */
  const char *password;     /* required */
  const char *ca_file;      /* PEM CA bundle; NULL = system store */
  int insecure;             /* nonzero: skip certificate checks */
  int allow_plaintext;      /* nonzero: allow login without TLS */
  const char *mailbox;      /* NULL = "INBOX" */
  int no_notify;            /* nonzero: never use NOTIFY, only IDLE + FETCH */
  const ni_ka_config *ka;   /* scheduler configuration; NULL = its defaults */
  ni_push_group *group;     /* shared by the sessions of one process, for
                               coalesced wakeups; NULL = a private group */
  uint32_t setup_timeout_ms; /* connect through SELECT and sync; 0 = 30000 */
  uint32_t backoff_min_ms;  /* base reconnect delay; 0 = 1000.  Attempt n
                               waits a random time in [d/2, d], d =
                               min(backoff_min_ms x 2^n, backoff_max_ms);
                               n starts over after a connection that
                               stayed up for a minute */
  uint32_t backoff_max_ms;  /* reconnect delay cap; 0 = 300000 */
  uint64_t seed;            /* jitter of the backoff; 0 = from the clock */
} ni_push_opts;

/* Create a session on loop.  Nothing happens until ni_push_start().
 * Returns 0 and *out, or NI_EUSAGE (no host, user or password, or an
 * invalid scheduler configuration), NI_ESTATE (o->group is being freed),
 * -ENOMEM. */
NI_API int ni_push_new(uv_loop_t *loop, const ni_push_opts *o, const ni_push_cb *cb, void *ud,
                       ni_push **out);

/* Start: connect, and from then on keep reconnecting until stopped.
 * Returns 0, or NI_ESTATE when already running. */
NI_API int ni_push_start(ni_push *p);

/* Stop: close the connection (a polite LOGOUT when graceful is nonzero and
 * the connection is up, bounded by one second), stop the timer, and report
 * NI_PUSH_STOPPED.  The session can be started again.  Safe inside
 * callbacks; returns 0, or NI_ESTATE when not running. */
NI_API int ni_push_stop(ni_push *p, int graceful);

/* The current state. */
NI_API ni_push_state ni_push_get_state(const ni_push *p);

/* Copy the session's counters into *st. */
NI_API void ni_push_get_stats(const ni_push *p, ni_push_stats *st);

/* The account label (opts.account, or the user name).  Never NULL. */
NI_API const char *ni_push_account(const ni_push *p);

/* The ud given to ni_push_new(). */
NI_API void *ni_push_userdata(const ni_push *p);

/* The session's scheduler, for reading what it learned (ni_ka_bracket(),
 * ni_ka_interval(), ni_ka_get_stats()).  Owned by the session; do not feed
 * it events. */
NI_API const ni_ka *ni_push_scheduler(const ni_push *p);

/* Whether the server offered NOTIFY and the session uses it (1), or not (0);
 * meaningful once the session has reached IDLE. */
NI_API int ni_push_uses_notify(const ni_push *p);

/* In NI_PUSH_RECONNECT_WAIT: milliseconds until the next connection attempt
 * (the backoff chosen); NI_TIME_NEVER in any other state. */
NI_API ni_ms ni_push_reconnect_in(const ni_push *p);

/* Stop (not gracefully) and free the session once its handles are closed,
 * inside the loop.  No callback is called after this returns.  Safe inside
 * callbacks of p.  NULL is ignored. */
NI_API void ni_push_free(ni_push *p);

#ifdef __cplusplus
}
#endif
#endif /* NATIDLE_PUSH_H */
