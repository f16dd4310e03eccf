/*
 * imap/conn_internal.h - what conn.c (transport), the IMAP client (client.c,
 * client_cmd.c, client_auth.c) and tls.c (OpenSSL) share.  Not installed;
 * nothing outside imap/ and its tests may include it.
 */
#ifndef NATIDLE_IMAP_CONN_INTERNAL_H
#define NATIDLE_IMAP_CONN_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "common/secret.h"
#include "natidle/conn.h"

/* ---- TLS (imap/tls.c, the only file that includes OpenSSL) ---- */

typedef struct ni__tls ni__tls;

/* Start a client TLS session for host (SNI unless host is an IP literal;
 * the certificate must name host unless insecure).  ca_file NULL = the
 * system store.  TLS 1.2 is the minimum.  Returns 0 and *out, or NI_ETLS
 * with a message in err. */
int ni__tls_new(ni__tls **out, const char *host, const char *ca_file, int insecure, char *err,
                size_t errlen);
void ni__tls_free(ni__tls *t);

/* Hand ciphertext from the network to the session.  The bytes are borrowed:
 * they must stay valid until ni__tls_input_left() is 0 or the next call. */
void ni__tls_set_input(ni__tls *t, const char *p, size_t n);
size_t ni__tls_input_left(const ni__tls *t);

/* Advance the handshake with the input given.  Returns 1 when complete, 0
 * when more input is needed, NI_ECERT (certificate refused) or NI_ETLS with
 * a message in err. */
int ni__tls_handshake(ni__tls *t, char *err, size_t errlen);

/* Decrypt into buf.  Returns the number of bytes (> 0), 0 when more input is
 * needed, NI_ECLOSED on close_notify, NI_ETLS with a message in err. */
int ni__tls_read(ni__tls *t, char *buf, size_t cap, char *err, size_t errlen);

/* Encrypt n bytes; the ciphertext waits for ni__tls_take_output().  Returns
 * 0 or NI_ETLS. */
int ni__tls_write(ni__tls *t, const char *p, size_t n, char *err, size_t errlen);

/* Take the ciphertext waiting to be sent (malloc'ed, the caller frees it),
 * or NULL when there is none. */
char *ni__tls_take_output(ni__tls *t, size_t *n);

/* ---- the connection object (conn.c + client*.c) ---- */

/* Where the connection is in its life. */
typedef enum {
  NI__ST_NEW = 0,   /* created, ni_imap_connect() not called */
  NI__ST_RESOLVE,   /* uv_getaddrinfo running */
  NI__ST_CONNECT,   /* TCP connect running */
  NI__ST_HANDSHAKE, /* TLS handshake (IMAPS or after STARTTLS) */
  NI__ST_GREETING,  /* waiting for the server greeting */
  NI__ST_SETUP,     /* CAPABILITY / STARTTLS of the connect sequence */
  NI__ST_READY,     /* connect completed; commands may run */
  NI__ST_ENDED      /* ended; handles closing or closed */
} ni__state;

/* A command in the queue (the head is the one on the wire). */
typedef struct ni__pcmd ni__pcmd;
typedef void (*ni__internal_done)(ni_imap *c, ni__pcmd *p, int status, const ni_resp *r);
struct ni__pcmd {
  ni__pcmd *next;
  char tag[12];
  ni_cmd *cmd;       /* freed (and wiped) once fully sent */
  size_t next_chunk; /* next chunk of cmd to send */
  int secret;        /* the command holds a password */
  char label[48];    /* what the trace shows of a secret command */
  char *sasl;        /* AUTHENTICATE response sent after "+", wiped after use */
  size_t sasl_n;
  int started;        /* its first chunk was sent */
  unsigned caps_gen;  /* c->caps_gen when the command was queued */
  int is_logout;      /* LOGOUT: BYE and close are expected once sent */
  int is_auth;        /* AUTHENTICATE: a further "+" is answered with "*" */
  int oauth;          /* 1 OAUTHBEARER, 2 XOAUTH2: the first "+" after the
                         initial response carries the server's error */
  int oauth_answered; /* that error challenge was answered */
  int is_ns_list;     /* LIST "" "" of ni_imap_namespace(): its LIST line
                         gives the delimiter */
  int is_idle;        /* IDLE: "+" means idling */
  void (*on_idling)(ni_imap *c, void *arg);
  ni__internal_done internal; /* completion handled inside the client */
  ni_imap_done_cb cb;
  void *arg;
};

struct ni_imap {
  uv_loop_t *loop;
  ni_imap_cb cb;
  void *ud;

  /* Options (strings owned). */
  char *host;
  uint16_t port;
  ni_tls_mode tls_mode;
  char *ca_file;
  int insecure;
  int allow_plaintext;
  uint32_t connect_timeout_ms;
  char *bind_addr;
  int family; /* AF_INET, AF_INET6, or 0: any */

  /* libuv handles; each open handle or running request holds one ref. */
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_getaddrinfo_t gai;
  uv_connect_t connreq;
  int tcp_open;
  int refs;

  ni__state st;
  ni__tls *tls;
  int tls_up; /* handshake completed */
  int reading;
  ni_parser *parser;

  /* Wire accounting. */
  ni_ms last_rx, last_tx;
  uint64_t bytes_in, bytes_out;

  /* End and teardown. */
  ni_end end_how;
  int end_err;
  int end_reported;
  int freed; /* ni_imap_free() called: no more user callbacks */
  int in_cb; /* depth of user callbacks running */
  char errstr[320];

  /* Client. */
  uint32_t next_tag;
  ni__pcmd *q_head, *q_tail;
  char *caps;
  size_t caps_n;
  unsigned caps_gen; /* bumped whenever the capability list changes */
  int authenticated;
  int idling;                     /* "+" of IDLE arrived, DONE not yet sent */
  int done_wanted;                /* DONE asked for before the "+" arrived */
  int logout_sent;                /* LOGOUT is on the wire: BYE and EOF are expected */
  int starttls_go;                /* STARTTLS OK seen: drop buffered input, start TLS */
  ni_oauth_refusal oauth_refusal; /* why the last OAuth2 login failed */
  char oauth_status[64];          /* the status of its error challenge */
  char *ns_prefix;                /* personal namespace prefix; NULL = "" */
  char ns_delim;                  /* its delimiter, '\0' when flat */
  int ns_known;                   /* ns_prefix and ns_delim were learnt */
  ni_imap_done_cb connect_cb;
  void *connect_arg;
};

/* Run a user callback unless ni_imap_free() was called; in_cb tells
 * ni_imap_free() that memory must outlive the call. */
#define NI__USER(c, call)                                                                          \
  do {                                                                                             \
    if (!(c)->freed) {                                                                             \
      (c)->in_cb++;                                                                                \
      call;                                                                                        \
      (c)->in_cb--;                                                                                \
    }                                                                                              \
  } while (0)

/* Set c->errstr (printf format); never pass secrets. */
void ni__errf(ni_imap *c, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    /* Lets the compiler check the format strings. */
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* conn.c: send plaintext bytes (encrypted when TLS is up).  secret: the
 * bytes hold a password and every copy is wiped after use.  Returns 0 or a
 * negative error (the connection is then ending). */
int ni__conn_send(ni_imap *c, const char *p, size_t n, int secret);
/* conn.c: start the TLS handshake on the open TCP connection (STARTTLS). */
int ni__conn_start_tls(ni_imap *c);
/* conn.c: end the connection (first call wins) and start closing handles.
 * The end is reported to the user from the loop, once the handles are
 * closed. */
void ni__conn_end(ni_imap *c, ni_end how, int err);
/* conn.c: stop the connect timer (the connect sequence is complete). */
void ni__conn_stop_timer(ni_imap *c);
/* conn.c: trace one line (secrets already removed). */
void ni__trace(ni_imap *c, int dir, const char *line, size_t n);

/* client.c: the transport is up (after TCP, or after the IMAPS handshake):
 * the greeting comes next. */
void ni__client_on_transport_ready(ni_imap *c);
/* client.c: the STARTTLS handshake completed. */
void ni__client_on_tls_ready(ni_imap *c);
/* client.c: plaintext from the server.  Processing stops when the
 * connection ends, and after a STARTTLS OK (the rest is discarded). */
void ni__client_on_data(ni_imap *c, const char *p, size_t n);
/* client.c: fail every queued command and the connect request, then tell
 * on_end.  Called once, from the loop, when the handles are closed. */
void ni__client_report_end(ni_imap *c);
/* client.c: free the queue and client state (no callbacks). */
void ni__client_free(ni_imap *c);

/* ---- inside the client (client.c, client_cmd.c, client_auth.c) ---- */

/* Kinds of command that change how the client reads what follows. */
enum { NI__Q_PLAIN = 0, NI__Q_IDLE = 1, NI__Q_LOGOUT = 2, NI__Q_AUTH = 3 };

/* client.c: the connection is ready for commands (c may be NULL). */
int ni__client_ready(const ni_imap *c);
/* client.c: queue cmd (taken over in all cases) of the kind given, and send
 * it when nothing else is on the wire; internal, when set, handles the
 * completion instead of cb.  Returns the queued command (its fields may be
 * set until the loop runs again) or NULL when out of memory. */
ni__pcmd *ni__client_enqueue(ni_imap *c, ni_cmd *cmd, ni_imap_done_cb cb, void *arg,
                             ni__internal_done internal, int kind);
/* client.c: run a command's callback, if any, as a user callback. */
void ni__client_call_done(ni_imap *c, ni_imap_done_cb cb, void *arg, int status, const ni_resp *r);
/* client_cmd.c: a literal of n bytes may go without waiting for "+"
 * (LITERAL+, or LITERAL- up to 4096 bytes; RFC 7888). */
int ni__client_nonsync_ok(const ni_imap *c, size_t n);
/* client_cmd.c: learn the personal namespace from an untagged NAMESPACE, or
 * from the LIST of the LIST "" "" fallback. */
void ni__client_ns_take_namespace(ni_imap *c, const ni_resp *r);
void ni__client_ns_take_list(ni_imap *c, const ni_resp *r);
/* client_auth.c: answer the "+" that carries an OAuth2 server's error
 * (RFC 7628 3.2.2) and keep its status. */
void ni__client_oauth_challenge(ni_imap *c, ni__pcmd *p, const ni_resp *r);

#endif /* NATIDLE_IMAP_CONN_INTERNAL_H */
