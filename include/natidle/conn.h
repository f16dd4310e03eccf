/*
 * natidle/conn.h - an IMAP client connection on libuv, with OpenSSL for
 * IMAPS (TLS from the first byte) and STARTTLS.
 *
 * One ni_imap is one TCP connection to one server.  It resolves the host,
 * connects, negotiates TLS, reads the greeting and the capabilities, logs
 * in, and then runs commands: each command gets a tag (A0001, A0002, ...)
 * and its callback gets the tagged completion.  One command is on the wire
 * at a time (the others wait in a queue), so a "+" continuation always
 * belongs to the running command.  Untagged responses go to one callback
 * for the whole connection.
 *
 * The connection never sends anything it was not asked to send: no TCP
 * keepalive (SO_KEEPALIVE stays off), no automatic NOOP.  natidle measures
 * silence, and any packet would refresh a NAT mapping.
 *
 * Time: every timestamp is ni_imap_now(), milliseconds on a clock that
 * keeps counting while the device is suspended (CLOCK_BOOTTIME on Linux and
 * Android), because a NAT's idle timer runs on while a phone sleeps.
 * Callers compare against the same clock.
 *
 * Memory and callbacks follow the libuv rules: the connection's handles are
 * freed in their close callbacks, so ni_imap_free() only starts the teardown
 * and the memory goes away later, inside the loop.  ni_imap_free() may be
 * called from inside any callback of this connection; the free is deferred
 * until the callback returns.  After on_end, only ni_imap_free() and the
 * read-only getters are valid.
 *
 * Errors are negative ints from natidle/common.h (NI_E*) or -errno.
 */
#ifndef NATIDLE_CONN_H
#define NATIDLE_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "natidle/common.h"
#include "natidle/imap.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How the link is protected. */
typedef enum {
  NI_TLS_NONE = 0, /* plaintext IMAP (port 143); login needs allow_plaintext */
  NI_TLS_IMAPS,    /* TLS from the first byte (port 993) */
  NI_TLS_STARTTLS  /* plaintext greeting, then STARTTLS; required, never skipped */
} ni_tls_mode;

/* Parse "none", "imaps" or "starttls" (case-insensitive) into *out.
 * Returns 0, or NI_EUSAGE for anything else (and *out is left alone). */
NI_API int ni_tls_mode_parse(const char *s, ni_tls_mode *out);

/* Name of a TLS mode: "none", "imaps", "starttls" ("?" if out of range). */
NI_API const char *ni_tls_mode_name(ni_tls_mode m);

/* Load the trust anchors of ca_file (NULL = the system store) now, and keep
 * them in memory for every later connection that names the same ca_file,
 * until ni_tls_unload_ca().  A process that reads a root-only CA file and
 * then gives up its privileges (natidle probe with packet capture) calls this
 * before the drop.  Returns 0, or NI_ETLS with a one-line reason in err. */
NI_API int ni_tls_preload_ca(const char *ca_file, char *err, size_t errlen);

/* Release what ni_tls_preload_ca() kept (connections still open keep their
 * own reference).  Does nothing when ca_file was not preloaded. */
NI_API void ni_tls_unload_ca(const char *ca_file);

/* Connection options.  Zero-initialise and fill in what you need; the
 * strings are copied by ni_imap_new(), so they need not outlive the call. */
typedef struct ni_imap_opts {
  const char *host; /* host name or IP literal; required.  The first
                       IPv4 address is used (else the first one; with
                       family or bind_addr, the first of that family) and
                       the certificate must name host */
  uint16_t port;    /* 0 = 993 for NI_TLS_IMAPS, 143 otherwise */
  ni_tls_mode tls;
  const char *ca_file;            /* PEM CA bundle to trust; NULL = system store */
  int insecure;                   /* nonzero: skip certificate and name checks */
  int allow_plaintext;            /* nonzero: allow login without TLS */
  uint32_t connect_timeout_ms;    /* DNS + TCP + TLS + greeting + STARTTLS +
                                     CAPABILITY, all together; 0 = 15000 */
  const char *bind_addr;          /* local IP address to bind, NULL = any */
  int family;                     /* 0: any (IPv4 first); 4 or 6: that IP
                                     version only (bind_addr, when given,
                                     must be of it) */
  const ni_parser_limits *limits; /* response parser limits, NULL = defaults */
} ni_imap_opts;

/* How a connection ended (given once, to on_end). */
typedef enum {
  NI_END_NONE = 0, /* not ended */
  NI_END_LOCAL,    /* ni_imap_close()/ni_imap_free(), or LOGOUT completed */
  NI_END_CLOSED,   /* the peer closed the connection (FIN / EOF) */
  NI_END_RESET,    /* the connection was reset (ECONNRESET, RST) */
  NI_END_TIMEOUT,  /* connect / TLS handshake / greeting timed out */
  NI_END_TLS,      /* TLS handshake or record error, certificate refused */
  NI_END_PROTOCOL, /* the server sent something the parser refused */
  NI_END_BYE,      /* the server said BYE (outside LOGOUT) and closed */
  NI_END_ERROR     /* anything else: DNS (NI_EDNS), connect refused (-ECONNREFUSED),
                      STARTTLS not offered (NI_ENOCAP), write errors... */
} ni_end;

/* Short name of an end reason: "none", "local", "closed", "reset",
 * "timeout", "tls", "protocol", "bye", "error".  Never NULL. */
NI_API const char *ni_end_name(ni_end e);

typedef struct ni_imap ni_imap;

/* Connection-wide callbacks; any of them may be NULL.  ud is the pointer
 * given to ni_imap_new(). */
typedef struct ni_imap_cb {
  /* Every untagged response ("* ..."), including EXISTS during IDLE, the
   * greeting and CAPABILITY data.  r is valid only during the call. */
  void (*on_untagged)(ni_imap *c, const ni_resp *r, void *ud);
  /* Every read from and write to the socket: dir 0 = in, 1 = out; nbytes
   * are wire bytes (ciphertext on TLS); now is ni_imap_now(). */
  void (*on_io)(ni_imap *c, int dir, size_t nbytes, ni_ms now, void *ud);
  /* Called exactly once when the connection ends, with the reason and the
   * error (0 for a clean local close, else NI_E* or -errno).  Commands still
   * pending get their callback with a transport error first.  After on_end
   * only ni_imap_free() is valid. */
  void (*on_end)(ni_imap *c, ni_end how, int err, void *ud);
  /* Optional protocol trace: one line at a time without its CRLF, dir 0 =
   * from the server, 1 = to the server.  Passwords are replaced by "***";
   * literal contents are summarised ("[N bytes]").  Not NUL-terminated.
   * Lines sent are traced from inside the call that sends them. */
  void (*on_trace)(ni_imap *c, int dir, const char *line, size_t n, void *ud);
} ni_imap_cb;

/* Completion of a command.  status: 0 = tagged OK; NI_ENO / NI_EBAD with
 * tagged set; for login NI_EAUTH (tagged set when the server answered);
 * otherwise a transport or local error (NI_ECLOSED, NI_ERESET, NI_ETIMEDOUT,
 * NI_ETLS, NI_ECERT, NI_EPARSE, NI_ELIMIT, NI_EBYE, NI_ECANCELED, -errno)
 * with tagged NULL.  tagged is valid only during the call. */
typedef void (*ni_imap_done_cb)(ni_imap *c, int status, const ni_resp *tagged, void *arg);

/* The clock every natidle timestamp uses: milliseconds since an arbitrary
 * point, monotonic, and counting suspended time (CLOCK_BOOTTIME where the
 * system has it, else CLOCK_MONOTONIC).  The keepalive scheduler needs such
 * a clock to see that the device slept through an alarm (keepalive.h).
 * libuv's own timers (uv_hrtime) stop during suspend; only durations are
 * ever handed to them. */
NI_API ni_ms ni_imap_now(void);

/* Create a connection on loop.  Copies o (and its strings) and cb.  Nothing
 * happens on the network until ni_imap_connect().  Returns NULL when out of
 * memory or when o is invalid (no host). */
NI_API ni_imap *ni_imap_new(uv_loop_t *loop, const ni_imap_opts *o, const ni_imap_cb *cb, void *ud);

/* The ud given to ni_imap_new(). */
NI_API void *ni_imap_userdata(const ni_imap *c);

/* Resolve, connect, set TCP_NODELAY, do TLS (IMAPS), read the greeting,
 * CAPABILITY, and for NI_TLS_STARTTLS: STARTTLS, TLS, CAPABILITY again.  All
 * of it within connect_timeout_ms.  cb(0) means ready to log in (or already
 * authenticated when the greeting was PREAUTH).  Errors passed to cb:
 * NI_EDNS, -errno (connect), NI_ETIMEDOUT, NI_ETLS, NI_ECERT, NI_ENOCAP
 * (STARTTLS not advertised), NI_EBYE, NI_ECLOSED, NI_ERESET, NI_EPARSE,
 * NI_ELIMIT; on any of them the connection then ends (on_end follows cb).
 * Returns 0 when started, NI_ESTATE if called twice, or a negative error
 * (then neither cb nor on_end is called). */
NI_API int ni_imap_connect(ni_imap *c, ni_imap_done_cb cb, void *arg);

/* Log in: AUTHENTICATE PLAIN when AUTH=PLAIN is offered (initial response
 * inline with SASL-IR, else after the "+"), otherwise LOGIN.  Then reads
 * CAPABILITY again (unless the tagged OK carried it).  The password is sent
 * only in chunks marked secret, never traced, and its copies are zeroed
 * after writing.  Returns NI_EPLAINTEXT (link not encrypted and
 * allow_plaintext not set), NI_ENOCAP (LOGINDISABLED and no AUTH=PLAIN),
 * NI_ESTATE (not connected / already logged in) or 0; cb gets 0 or
 * NI_EAUTH (server said NO/BAD; its text in ni_imap_errstr() and tagged) or
 * a transport error. */
NI_API int ni_imap_login(ni_imap *c, const char *user, const char *pass, ni_imap_done_cb cb,
                         void *arg);

/* SASL mechanisms that carry an OAuth2 access token. */
typedef enum {
  NI_OAUTH_AUTO = 0,    /* OAUTHBEARER when the server offers AUTH=OAUTHBEARER,
                           else XOAUTH2 when it offers AUTH=XOAUTH2 */
  NI_OAUTH_OAUTHBEARER, /* RFC 7628 */
  NI_OAUTH_XOAUTH2      /* the older mechanism of Google and Microsoft */
} ni_oauth_mech;

/* Log in with an OAuth2 access token token[0..len) (not NUL-terminated
 * necessarily) for user: AUTHENTICATE with mech (NI_OAUTH_AUTO picks from
 * CAPABILITY, OAUTHBEARER first).  The initial response is
 *   XOAUTH2:     base64("user=" user ^A "auth=Bearer " token ^A ^A)
 *   OAUTHBEARER: base64("n,a=" user "," ^A "host=" host ^A "port=" port
 *                ^A "auth=Bearer " token ^A ^A), with "," and "=" in user
 *                written "=2C" and "=3D"; host and port are the ones
 *                connected to (ni_imap_opts)
 * and goes on the AUTHENTICATE line when the server offers SASL-IR, else
 * after its empty "+" challenge.  When the server refuses the token it
 * sends a "+" challenge holding base64 JSON with a "status"; the client
 * answers it (a single %x01, "AQ==", for OAUTHBEARER; an empty line for
 * XOAUTH2), keeps the status, and then gets the tagged NO.  Then the
 * capabilities are read again, as after ni_imap_login().
 * The token is handled as the password is: allowed only under TLS unless
 * allow_plaintext is set, sent only in chunks marked secret, shown as
 * "***" in the trace, never in ni_imap_errstr(), and every copy the client
 * made is zeroed once written (the caller's own copy stays the caller's).
 * Returns 0, NI_EUSAGE (user or token NULL or empty, a control character
 * in user, anything but printable ASCII without space in the token, mech
 * out of range), NI_ESTATE (not connected / already logged in),
 * NI_EPLAINTEXT (link not encrypted and allow_plaintext not set),
 * NI_ENOCAP (the mechanism asked for, or with NI_OAUTH_AUTO both, not
 * offered), -ENOMEM.  cb gets 0 (logged in), NI_EAUTH (refused: see
 * ni_imap_oauth_refusal() for whether the token was the reason; the
 * server's text is in ni_imap_errstr() and tagged) or a transport error. */
NI_API int ni_imap_authenticate_oauth2(ni_imap *c, const char *user, const char *token, size_t len,
                                       ni_oauth_mech mech, ni_imap_done_cb cb, void *arg);

/* Why the last ni_imap_authenticate_oauth2() on c was refused. */
typedef enum {
  NI_OAUTH_NOT_REFUSED = 0, /* logged in, not tried, still running, or it
                               failed on the transport (status not NI_EAUTH) */
  NI_OAUTH_TOKEN_REFUSED,   /* the server refused the token itself: its error
                               status was "401" (XOAUTH2) or "invalid_token"
                               (RFC 6750), e.g. expired, revoked or not signed
                               by a key it trusts.  Get a fresh access token
                               and retry once. */
  NI_OAUTH_REFUSED          /* refused otherwise: another status (e.g. "400"
                               invalid_request, "403"/"insufficient_scope"),
                               or a tagged NO with no error challenge at all
                               (some servers send just NO [AUTHENTICATIONFAILED]).
                               A fresh token is unlikely to help. */
} ni_oauth_refusal;

/* The refusal of the last OAuth2 login (see ni_oauth_refusal).  When status
 * is not NULL, *status is the "status" member of the server's JSON error
 * as it was sent (e.g. "401", "invalid_token"; printable ASCII, at most 63
 * bytes), "" when there was none; valid until the next login on c. */
NI_API ni_oauth_refusal ni_imap_oauth_refusal(const ni_imap *c, const char **status);

/* Queue any command built with the ni_cmd builder (no tag: the client adds
 * it; finished or not, the client finishes it).  Choose ni_cmd_literal_plus()
 * yourself from ni_imap_has_cap(c, "LITERAL+").  A command marked
 * ni_cmd_secret() shows in the trace as its tag and verb only.  Takes
 * ownership of cmd in all cases (freed on error too).  Returns 0, NI_ESTATE
 * (connection ended or not ready) or -ENOMEM. */
NI_API int ni_imap_cmd(ni_imap *c, ni_cmd *cmd, ni_imap_done_cb cb, void *arg);

/* Command helpers.  Each queues one command and returns 0 or a negative
 * error (NI_ESTATE, -ENOMEM, NI_EUSAGE for a bad argument, NI_ENOCAP when the
 * server lacks the extension); cb gets the tagged completion as above.
 * Mailbox names are given in UTF-8 and sent in modified UTF-7 (RFC 3501
 * 5.1.3, via ni_cmd_mailbox(); "&" becomes "&-"), as a quoted string or a
 * literal as needed.  Names in server responses (LIST) stay in modified
 * UTF-7.  Raw arguments (sets, criteria, items, flags) are sent as given
 * and may not hold CR or LF.  Commands queued while IDLE runs wait until it
 * has ended. */
/* SELECT (read_only 0) or EXAMINE (read_only nonzero). */
NI_API int ni_imap_select(ni_imap *c, const char *mailbox, int read_only, ni_imap_done_cb cb,
                          void *arg);
NI_API int ni_imap_create(ni_imap *c, const char *mailbox, ni_imap_done_cb cb, void *arg);
NI_API int ni_imap_delete(ni_imap *c, const char *mailbox, ni_imap_done_cb cb, void *arg);
/* APPEND msg (len bytes, CRLF line ends) with optional flags such as
 * "(\\Seen)"; uses LITERAL+ when the server offers it.  The tagged response
 * carries APPENDUID when the server has UIDPLUS. */
NI_API int ni_imap_append(ni_imap *c, const char *mailbox, const char *flags, const char *msg,
                          size_t len, ni_imap_done_cb cb, void *arg);
NI_API int ni_imap_noop(ni_imap *c, ni_imap_done_cb cb, void *arg);
NI_API int ni_imap_capability(ni_imap *c, ni_imap_done_cb cb, void *arg);

/* IDLE (RFC 2177).  on_idling(c, arg) is called when the server's "+"
 * arrives; from then on ni_imap_is_idling() is true and untagged responses
 * (EXISTS, EXPUNGE, ...) arrive through on_untagged.  cb gets the tagged
 * response, which comes after ni_imap_idle_done() (or when the server ends
 * IDLE by itself).  Returns NI_ENOCAP if IDLE is not advertised. */
NI_API int ni_imap_idle(ni_imap *c, void (*on_idling)(ni_imap *c, void *arg), ni_imap_done_cb cb,
                        void *arg);
/* Send DONE.  Returns 0, or NI_ESTATE when no IDLE is in progress (also when
 * the "+" has not arrived yet: then DONE is sent as soon as it does and 0 is
 * returned). */
NI_API int ni_imap_idle_done(ni_imap *c);

/* UID SEARCH criteria (raw, e.g. "UID 10:*"): results arrive as NI_R_SEARCH
 * untagged responses. */
NI_API int ni_imap_uid_search(ni_imap *c, const char *criteria, ni_imap_done_cb cb, void *arg);
/* UID FETCH set items (both raw, e.g. "1:*", "(UID FLAGS ENVELOPE)"). */
NI_API int ni_imap_uid_fetch(ni_imap *c, const char *set, const char *items, ni_imap_done_cb cb,
                             void *arg);
/* UID STORE set op flags (raw, e.g. "5", "+FLAGS.SILENT", "(\\Deleted)"). */
NI_API int ni_imap_uid_store(ni_imap *c, const char *set, const char *op, const char *flags,
                             ni_imap_done_cb cb, void *arg);
NI_API int ni_imap_expunge(ni_imap *c, ni_imap_done_cb cb, void *arg);
/* UID EXPUNGE set (RFC 4315); NI_ENOCAP without UIDPLUS. */
NI_API int ni_imap_uid_expunge(ni_imap *c, const char *set, ni_imap_done_cb cb, void *arg);
/* LIST ref pattern (both sent as strings; "" and "*" are typical). */
NI_API int ni_imap_list(ni_imap *c, const char *ref, const char *pattern, ni_imap_done_cb cb,
                        void *arg);
/* STATUS mailbox items (items raw, e.g. "(MESSAGES UIDNEXT)"). */
NI_API int ni_imap_status(ni_imap *c, const char *mailbox, const char *items, ni_imap_done_cb cb,
                          void *arg);
/* NOTIFY SET spec (RFC 5465; spec raw, e.g. "(selected (MessageNew (uid)
 * MessageExpunge))"); NI_ENOCAP without NOTIFY. */
NI_API int ni_imap_notify_set(ni_imap *c, const char *spec, ni_imap_done_cb cb, void *arg);
/* NOTIFY NONE; NI_ENOCAP without NOTIFY. */
NI_API int ni_imap_notify_none(ni_imap *c, ni_imap_done_cb cb, void *arg);
/* Learn the personal namespace: the prefix under which the user's own
 * mailboxes are created and its hierarchy delimiter, e.g. "" and '.' or
 * '/' on Dovecot (as configured), "INBOX." and '.' on Cyrus and Courier.  When the server offers
 * NAMESPACE (RFC 2342), sends NAMESPACE; its "* NAMESPACE" response also
 * goes to on_untagged (type NI_R_NAMESPACE, see ni_namespace_parse()) and
 * its first personal namespace is kept.  When the server lacks NAMESPACE,
 * refuses it, or names no personal namespace, sends LIST "" "" instead
 * (RFC 3501 6.3.8) and keeps the prefix "" with the delimiter of its LIST
 * line ('\0' when NIL, or when no LIST line came).  cb gets the tagged
 * completion of the last command sent: 0 when ni_imap_personal_namespace()
 * has the result, NI_ENO / NI_EBAD when the server refused LIST too, or a
 * transport error.  Returns 0, NI_ESTATE, -ENOMEM. */
NI_API int ni_imap_namespace(ni_imap *c, ni_imap_done_cb cb, void *arg);

/* The personal namespace learnt by the last ni_imap_namespace(): *prefix
 * (NUL-terminated, as the server sent it: modified UTF-7, "" for the root;
 * valid until the next ni_imap_namespace() or ni_imap_free()) and *delim
 * ('\0' when the server has no hierarchy).  Either pointer may be NULL.
 * Returns 0, or NI_ESTATE when none was learnt (yet). */
NI_API int ni_imap_personal_namespace(const ni_imap *c, const char **prefix, char *delim);

/* LOGOUT; after the tagged OK the connection closes and on_end reports
 * NI_END_LOCAL. */
NI_API int ni_imap_logout(ni_imap *c, ni_imap_done_cb cb, void *arg);

/* Nonzero if the last CAPABILITY lists cap (case-insensitive, e.g. "IDLE",
 * "AUTH=PLAIN"). */
NI_API int ni_imap_has_cap(const ni_imap *c, const char *cap);
/* The last capability list (space-separated atoms; "" before any).  Valid
 * until the next response is processed. */
NI_API ni_str ni_imap_caps(const ni_imap *c);
/* Nonzero once TLS is established. */
NI_API int ni_imap_is_tls(const ni_imap *c);
/* Nonzero after login (or a PREAUTH greeting). */
NI_API int ni_imap_is_authenticated(const ni_imap *c);
/* Nonzero between the IDLE "+" and the DONE being sent. */
NI_API int ni_imap_is_idling(const ni_imap *c);
/* Nonzero once the connection has ended (on_end was called or is due). */
NI_API int ni_imap_is_ended(const ni_imap *c);
/* Number of commands sent or queued whose tagged response has not arrived. */
NI_API size_t ni_imap_pending(const ni_imap *c);

/* Time (ni_imap_now()) of the last wire read / write; 0 before any. */
NI_API ni_ms ni_imap_last_rx(const ni_imap *c);
NI_API ni_ms ni_imap_last_tx(const ni_imap *c);
/* Wire bytes read / written so far (ciphertext on TLS). */
NI_API uint64_t ni_imap_bytes_in(const ni_imap *c);
NI_API uint64_t ni_imap_bytes_out(const ni_imap *c);

/* Local and peer address of the TCP connection (for capture filters).
 * Returns 0, or NI_ESTATE when not connected, or -errno. */
NI_API int ni_imap_local_addr(const ni_imap *c, struct sockaddr_storage *ss);
NI_API int ni_imap_peer_addr(const ni_imap *c, struct sockaddr_storage *ss);

/* Detailed text of the last error, e.g. "certificate verify failed: unable
 * to get local issuer certificate (host 203.0.113.10)" or the server's NO
 * text after a failed login.  Never NULL ("" when none); never contains a
 * password. */
NI_API const char *ni_imap_errstr(const ni_imap *c);

/* Begin closing: nothing more is sent (no LOGOUT, no TLS close_notify: use
 * ni_imap_logout() for a polite goodbye).  Later, from the loop (never from
 * inside this call), pending commands get NI_ECANCELED and on_end reports
 * NI_END_LOCAL, unless the connection had already ended.  Safe to call more
 * than once and from inside callbacks. */
NI_API void ni_imap_close(ni_imap *c);

/* Close if needed, and free the connection once its handles are closed.
 * No callback of c is called after ni_imap_free() returns (pending commands
 * and on_end are dropped silently), so the caller may free its own state
 * right after.  Safe inside any callback of c; the memory is released when
 * the callback has returned and libuv has closed the handles.  NULL is
 * ignored. */
NI_API void ni_imap_free(ni_imap *c);

#ifdef __cplusplus
}
#endif
#endif /* NATIDLE_CONN_H */
