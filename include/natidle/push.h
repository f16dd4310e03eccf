/*
 * natidle/push.h - a push-mail session on libuv: one IMAP account kept in
 * IDLE (or NOTIFY) with the fewest keepalives the NAT in between allows.
 *
 * A session connects (IMAPS by default, STARTTLS, or plaintext when asked
 * for by name), logs in (password, or OAuth2 access tokens), SELECTs one
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
 * A session can also start from the last UID an application already knows
 * (ni_push_opts.last_uid), so that mail which arrived while no session ran
 * is reported once at start.
 *
 * Permanent errors end the session instead of being retried: a refused
 * login or access token, a certificate that is not trusted, credentials
 * that would go out without TLS, a server without IDLE (or without the
 * STARTTLS or login mechanism asked for).  Servers lock accounts after a
 * few failed logins in a row, so a wrong password is sent once, never
 * again: the session reports NI_PUSH_FAILED with the reason and waits for
 * the application (ni_push_start() tries again, e.g. once the user fixed
 * the password; a new session with the same last_uid keeps the mail
 * history).  Everything else (network, timeouts, a server that says BYE or
 * is temporarily unavailable) is retried with backoff.
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
 * away inside the loop.  ni_push_stop() and ni_push_free() may be called
 * from inside the session's callbacks.
 *
 * Threads: a session and its group belong to the thread that runs their
 * loop.  Call every function of this header on that thread (inside the
 * loop's callbacks, or before uv_run()); the callbacks run on it.  Nothing
 * here locks: sessions on different loops in different threads are
 * independent, but one session must never be touched from two threads.  To
 * reach a session from another thread, wake its loop (uv_async_send()) and
 * call from there.  The only process-wide state is the trust store cache of
 * natidle/conn.h (the TLS contexts shared by connections to the same CA
 * file), which locks itself.
 *
 * SIGPIPE: a write on a connection the peer has reset raises SIGPIPE, whose
 * default action ends the process, and libuv writes with write(2), which
 * cannot be told not to raise it.  So while at least one session is running
 * (from ni_push_start() until it reports NI_PUSH_STOPPED or NI_PUSH_FAILED,
 * or is freed), SIGPIPE is blocked in the thread that started it: a write to
 * a dead connection then fails with EPIPE, and the session reconnects.  When
 * the last running session of the thread ends, a SIGPIPE that was raised
 * meanwhile is consumed and the thread's signal mask is restored.  Nothing
 * is changed when the thread already blocks SIGPIPE; the process's
 * disposition and other threads are never touched.  (A process that
 * ignores SIGPIPE, the usual choice of a networking program, was safe
 * already.)  While sessions run, a write of the application's own on that
 * thread to a closed pipe or socket also fails with EPIPE instead of
 * raising SIGPIPE.
 *
 * Strict C: this header needs only the C11 standard headers (it does not
 * include <uv.h>), so a consumer builds with -std=c11 -pedantic.  A
 * consumer that includes <uv.h> itself needs POSIX declarations from libc:
 * define _POSIX_C_SOURCE 200809L (or _DEFAULT_SOURCE) before any include.
 *
 * Errors are negative ints from natidle/common.h (NI_E*) or -errno.
 */
#ifndef NATIDLE_PUSH_H
#define NATIDLE_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "natidle/common.h"
#include "natidle/keepalive.h"

#ifdef __cplusplus
extern "C" {
#endif

/* libuv's loop (uv_loop_t of <uv.h>), named by its struct tag so that this
 * header needs no POSIX declarations. */
struct uv_loop_s;

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
NI_API int ni_push_group_new(struct uv_loop_s *loop, ni_push_group **out);

/* Wakeups of the group so far: sends by any of its sessions that came more
 * than NI_PUSH_RADIO_TAIL_MS after the last traffic of any of them. */
NI_API uint64_t ni_push_group_wakeups(const ni_push_group *g);

/* Free the group once its timer is closed, inside the loop.  Free its
 * sessions first (ni_push_free); a group that still has sessions is left
 * alone and NI_ESTATE returned.  NULL is ignored (returns 0). */
NI_API int ni_push_group_free(ni_push_group *g);

/* Where a session is.  The order is not meaningful. */
typedef enum ni_push_state {
  NI_PUSH_STOPPED = 0,    /* not started, or stopped */
  NI_PUSH_CONNECTING,     /* DNS, TCP, TLS, greeting, capabilities */
  NI_PUSH_AUTHENTICATING, /* login */
  NI_PUSH_SELECTING,      /* SELECT, NOTIFY SET */
  NI_PUSH_SYNCING,        /* fetching messages above the last UID seen */
  NI_PUSH_IDLE,           /* in IDLE, waiting for mail (the quiet state) */
  NI_PUSH_KEEPALIVE,      /* a keepalive is out, waiting for its reply */
  NI_PUSH_FETCHING,       /* out of IDLE to fetch new messages */
  NI_PUSH_RECONNECT_WAIT, /* connection lost; waiting out the backoff */
  NI_PUSH_FAILED          /* ended by a permanent error (on_state's err and
                             detail say which; ni_push_failure() too): no
                             retry until ni_push_start() is called again */
} ni_push_state;

/* Short lower-case name of a state: "stopped", "connecting",
 * "authenticating", "selecting", "syncing", "idle", "keepalive", "fetching",
 * "reconnect-wait", "failed" ("?" if out of range).  Never NULL. */
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
  int64_t internaldate; /* server's INTERNALDATE, Unix seconds; -1 unknown */
  ni_ms seen_at;        /* ni_push_now() when the session learned of it */
  ni_ms delay_ms;       /* push delay (see the top of this file) */
  int late;             /* 1: found by the resync after a reconnect */
  int pushed;           /* 1: arrived by NOTIFY, 0: by UID FETCH */
  int backlog;          /* 1: found by the first sync above opts.last_uid:
                           it arrived before the session started.  Its
                           delay_ms says how long ago; it counts in
                           messages, not in messages_late nor in
                           worst_delay_ms */
} ni_push_msg;

/* What happened to a keepalive. */
typedef enum ni_push_ka_kind {
  NI_PUSH_KA_SENT = 0,  /* sent (DONE, or DONE + NOOP) */
  NI_PUSH_KA_ANSWERED,  /* its reply arrived; rtt_ms is set */
  NI_PUSH_KA_UNANSWERED /* the reply deadline passed: connection declared dead */
} ni_push_ka_kind;

/* One keepalive event, as reported to on_keepalive; valid during the call. */
typedef struct ni_push_ka_event {
  ni_push_ka_kind kind;
  ni_ka_action action; /* what the scheduler asked for */
  ni_ms at;            /* ni_push_now() of the event */
  ni_ms interval_ms;   /* silence on the connection before the keepalive */
  ni_ms rtt_ms;        /* NI_PUSH_KA_ANSWERED: send to reply */
  uint64_t bytes_out;  /* wire bytes of this session so far (all connections) */
  uint64_t bytes_in;
} ni_push_ka_event;

/* Counters of one session since ni_push_new(). */
typedef struct ni_push_stats {
  uint64_t keepalives; /* keepalives sent */
  uint64_t keepalives_answered;
  uint64_t keepalives_unanswered;
  uint64_t wakeups;       /* sends of this session that came more than
                             NI_PUSH_RADIO_TAIL_MS after its last traffic */
  uint64_t connects;      /* connections that reached IDLE */
  uint64_t reconnects;    /* connection attempts after the first */
  uint64_t messages;      /* messages reported */
  uint64_t messages_late; /* of those, found by a resync */
  uint64_t bytes_out;     /* wire bytes, all connections */
  uint64_t bytes_in;
  ni_ms worst_delay_ms; /* largest push delay reported */
  uint32_t last_uid;    /* highest UID known (reported, present at start, or
                           opts.last_uid): save it with uidvalidity, and give
                           both to the next session */
  uint32_t uidvalidity; /* of the selected mailbox; before the first SELECT
                           opts.uidvalidity (0 when not given) */
} ni_push_stats;

/* How long the radio of a phone stays awake after a packet: traffic closer
 * together than this costs one wakeup, not two. */
#define NI_PUSH_RADIO_TAIL_MS 2000u

/* How much a log line matters (see ni_push_cb.on_log). */
typedef enum ni_push_log_level {
  NI_PUSH_LOG_ERROR = 1, /* the session failed for good */
  NI_PUSH_LOG_WARN,      /* a connection was lost, the server refused something */
  NI_PUSH_LOG_INFO,      /* connected, logged in, selected, reconnecting */
  NI_PUSH_LOG_DEBUG,     /* each keepalive and each message */
  NI_PUSH_LOG_TRACE      /* the IMAP protocol, one line per call ("C: " from the
                            client, "S: " from the server; only with
                            opts.trace) */
} ni_push_log_level;

/* Callbacks; any may be NULL, except on_token with OAuth2.  ud is the
 * pointer given to ni_push_new(). */
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
  /* OAuth2 (opts.auth): the session needs an access token to log in.  It
   * asks at every login, since tokens expire (typically after an hour) and
   * a session lives for days.  Answer with ni_push_set_token(), inside this
   * call or later (on the loop's thread, within opts.setup_timeout_ms: an
   * application may have to refresh the token over the network first).
   * refresh is 0 for a login, 1 when the server has just refused the last
   * token as expired or invalid: give a freshly refreshed one, not the
   * cached one.  The session asks for a fresh token once per login; a
   * second refusal is a permanent error (NI_PUSH_FAILED, NI_EAUTH). */
  void (*on_token)(ni_push *p, int refresh, void *ud);
  /* A line for the application's log: one line of text without its newline,
   * NUL-terminated, valid only during the call.  Never contains a password
   * or an access token (the protocol trace shows them as "***").  The
   * session's behaviour does not depend on it. */
  void (*on_log)(ni_push *p, ni_push_log_level level, const char *line, void *ud);
  /* The selected mailbox's UIDVALIDITY is not the one known (given in
   * opts.uidvalidity, or seen on an earlier connection): every UID the
   * application holds for the mailbox is void (RFC 3501 2.3.1.1), and so is
   * the last UID.  The session starts over from the mailbox as it is now:
   * messages already in it are not reported, new ones are.  The application
   * should drop what it cached of the mailbox and resynchronise it by its
   * own means.  old_uidvalidity is the one known, new_uidvalidity the
   * server's; last_uid the new starting point (the highest UID in the
   * mailbox now). */
  void (*on_uidvalidity)(ni_push *p, uint32_t old_uidvalidity, uint32_t new_uidvalidity,
                         uint32_t last_uid, void *ud);
} ni_push_cb;

/* How the connection is protected.  The zero value is the safe one. */
typedef enum ni_push_security {
  NI_PUSH_IMAPS = 0, /* TLS from the first byte, port 993, certificate and
                        host name verified (the default) */
  NI_PUSH_STARTTLS,  /* port 143, then STARTTLS, required (a server that
                        does not offer it is a permanent error, never a
                        silent downgrade) */
  NI_PUSH_PLAINTEXT  /* no TLS at all, port 143.  Logging in also needs
                        allow_plaintext: credentials in clear are a second
                        decision, not a side effect of this one */
} ni_push_security;

/* How the session logs in. */
typedef enum ni_push_auth {
  NI_PUSH_AUTH_PASSWORD = 0, /* opts.password: AUTHENTICATE PLAIN when offered,
                                else LOGIN */
  NI_PUSH_AUTH_OAUTH2,       /* access tokens from cb.on_token: OAUTHBEARER
                                (RFC 7628) when offered, else XOAUTH2 */
  NI_PUSH_AUTH_OAUTHBEARER,  /* the same, OAUTHBEARER only */
  NI_PUSH_AUTH_XOAUTH2       /* the same, XOAUTH2 only */
} ni_push_auth;

/* Session options.  Zero-initialise and fill in what you need; the strings
 * are copied by ni_push_new() (the password into memory that is wiped on
 * free), so they need not outlive the call. */
typedef struct ni_push_opts {
  const char *account;       /* label for callbacks and logs; NULL = user */
  const char *host;          /* required */
  uint16_t port;             /* 0 = 993 for NI_PUSH_IMAPS, 143 otherwise */
  ni_push_security security; /* 0 = NI_PUSH_IMAPS */
  const char *user;          /* required */
  ni_push_auth auth;         /* 0 = NI_PUSH_AUTH_PASSWORD */
  const char *password;      /* required with NI_PUSH_AUTH_PASSWORD, else unused */
  const char *ca_file;       /* PEM CA bundle; NULL = system store */
  int insecure;              /* nonzero: skip certificate checks (by name only:
                                never the default) */
  int allow_plaintext;       /* nonzero: allow sending credentials without TLS */
  int family;                /* IP version of the connections: 0 = any (the
                                host's first IPv4 address, else its first
                                address), 4 = IPv4 only, 6 = IPv6 only (a
                                host without an address of that version is
                                a connection error, retried with backoff) */
  const char *mailbox;       /* NULL = "INBOX" */
  int no_notify;             /* nonzero: never use NOTIFY, only IDLE + FETCH */
  const ni_ka_config *ka;    /* scheduler configuration; NULL = its defaults */
  ni_push_group *group;      /* shared by the sessions of one process, for
                                coalesced wakeups; NULL = a private group */
  uint32_t setup_timeout_ms; /* connect through SELECT and sync; 0 = 30000 */
  uint32_t backoff_min_ms;   /* base reconnect delay; 0 = 1000.  Attempt n
                                waits a random time in [d/2, d], d =
                                min(backoff_min_ms x 2^n, backoff_max_ms);
                                n starts over after a connection that
                                stayed up for a minute */
  uint32_t backoff_max_ms;   /* reconnect delay cap; 0 = 300000 */
  uint64_t seed;             /* jitter of the backoff; 0 = from the clock */
  /* Where the application left off, from ni_push_stats of an earlier
   * session (kept in its own storage): the mailbox's UIDVALIDITY and the
   * highest UID the application has seen.  When the mailbox still has this
   * UIDVALIDITY, every message above last_uid is reported once on the first
   * connection (ni_push_msg.backlog set).  When it has another, on_uidvalidity
   * is called and the session starts from the mailbox as it is.  0 and 0 =
   * nothing known: the session reports only mail that arrives after its
   * first SELECT.  last_uid without uidvalidity is NI_EUSAGE. */
  uint32_t uidvalidity;
  uint32_t last_uid;
  int trace; /* nonzero: on_log also gets the IMAP protocol
                trace (NI_PUSH_LOG_TRACE) */
} ni_push_opts;

/* Create a session on loop.  Nothing happens until ni_push_start().
 * Returns 0 and *out, or NI_EUSAGE (no host or user; no password with
 * NI_PUSH_AUTH_PASSWORD; no cb->on_token with OAuth2; security or auth out
 * of range; family not 0, 4 or 6; last_uid without uidvalidity; an invalid
 * scheduler configuration), NI_ESTATE (o->group is being freed), -ENOMEM. */
NI_API int ni_push_new(struct uv_loop_s *loop, const ni_push_opts *o, const ni_push_cb *cb,
                       void *ud, ni_push **out);

/* Start: connect, and from then on keep reconnecting until stopped or a
 * permanent error (NI_PUSH_FAILED).  Also restarts a stopped or failed
 * session (the counters and the last UID are kept).  Blocks SIGPIPE in
 * the calling thread while the session runs (see the top of this file).
 * Returns 0, or NI_ESTATE when already running. */
NI_API int ni_push_start(ni_push *p);

/* Stop: close the connection (a polite LOGOUT when graceful is nonzero and
 * the connection is up, bounded by one second), stop the timer, and report
 * NI_PUSH_STOPPED.  The session can be started again.  Safe inside
 * callbacks; returns 0, or NI_ESTATE when not running. */
NI_API int ni_push_stop(ni_push *p, int graceful);

/* The current state. */
NI_API ni_push_state ni_push_get_state(const ni_push *p);

/* Why the session is in NI_PUSH_FAILED: the error (e.g. NI_EAUTH, NI_ECERT,
 * NI_EPLAINTEXT, NI_ENOCAP) and, when detail is not NULL, a short text in
 * *detail (e.g. the server's NO text; never a secret; valid until the next
 * call on p).  Returns 0 (and "") in any other state. */
NI_API int ni_push_failure(const ni_push *p, const char **detail);

/* Answer cb.on_token: the access token token[0..len) (not necessarily
 * NUL-terminated), used for the login under way and not kept: the session
 * wipes every copy it made once the token is written, and asks again at
 * the next login.  The caller's copy stays the caller's.  token NULL (or
 * len 0) says that no token can be had: the session fails (NI_PUSH_FAILED,
 * NI_EAUTH).  Returns 0; NI_ESTATE when the session is not waiting for a
 * token (e.g. the connection was lost meanwhile: the next one asks again);
 * NI_EUSAGE for a token with characters a bearer token cannot hold (the
 * session then fails too). */
NI_API int ni_push_set_token(ni_push *p, const char *token, size_t len);

/* The clock of every ni_ms in this header (seen_at, at): milliseconds on
 * libuv's monotonic clock, as ni_imap_now() of natidle/conn.h. */
NI_API ni_ms ni_push_now(void);

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
