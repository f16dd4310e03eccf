/*
 * imap/conn.c - the transport under the IMAP client: DNS, TCP, TLS, the
 * connect timer, wire accounting, and the end of a connection.
 *
 * Lifetime (the libuv rule): every open handle and running request holds a
 * reference (c->refs).  Ending a connection closes the handles; when the
 * last close callback has run, the end is reported (pending commands, then
 * on_end) and, if ni_imap_free() was called, the memory is released.  So no
 * handle memory is ever freed while libuv may still touch it, and user
 * callbacks never run inside ni_imap_close()/ni_imap_free().
 *
 * Nothing is sent unless the client asks: no TCP keepalive, no TLS
 * close_notify on close.  The probe measures silence, and any packet would
 * refresh the NAT mapping under test.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap/conn_internal.h"

/* libuv hands each read a buffer of this size; it is freed right after the
 * read is processed, so an idle connection holds none. */
#define NI__READ_BUF 65536

/* One write on the wire; the buffer is wiped before freeing when it held a
 * password. */
typedef struct {
  uv_write_t req;
  ni_imap *c;
  uv_buf_t buf;
  int secret;
  ni_ms ts;
} wreq;

ni_ms ni_imap_now(void) {
#ifdef CLOCK_BOOTTIME
  /* Linux-specific (since 2.6.39): counts the time spent suspended. */
  struct timespec ts;
  if (clock_gettime(CLOCK_BOOTTIME, &ts) == 0)
    return (ni_ms)ts.tv_sec * 1000u + (ni_ms)ts.tv_nsec / 1000000u;
#endif
  return (ni_ms)(uv_hrtime() / 1000000u);
}

int ni_tls_mode_parse(const char *s, ni_tls_mode *out) {
  static const char *const names[] = {"none", "imaps", "starttls"};
  for (int i = 0; s && i < 3; i++) {
    if (strcasecmp(s, names[i]) == 0) {
      *out = (ni_tls_mode)i;
      return 0;
    }
  }
  return NI_EUSAGE;
}

const char *ni_tls_mode_name(ni_tls_mode m) {
  switch (m) {
  case NI_TLS_NONE:
    return "none";
  case NI_TLS_IMAPS:
    return "imaps";
  case NI_TLS_STARTTLS:
    return "starttls";
  }
  return "?";
}

const char *ni_end_name(ni_end e) {
  switch (e) {
  case NI_END_NONE:
    return "none";
  case NI_END_LOCAL:
    return "local";
  case NI_END_CLOSED:
    return "closed";
  case NI_END_RESET:
    return "reset";
  case NI_END_TIMEOUT:
    return "timeout";
  case NI_END_TLS:
    return "tls";
  case NI_END_PROTOCOL:
    return "protocol";
  case NI_END_BYE:
    return "bye";
  case NI_END_ERROR:
    return "error";
  }
  return "?";
}

void ni__errf(ni_imap *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->errstr, sizeof c->errstr, fmt, ap);
  va_end(ap);
}

void ni__trace(ni_imap *c, int dir, const char *line, size_t n) {
  if (c->cb.on_trace) NI__USER(c, c->cb.on_trace(c, dir, line, n, c->ud));
}

static char *dupstr(const char *s, int *fail) {
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) *fail = 1;
  return d;
}

static void really_free(ni_imap *c) {
  ni__client_free(c);
  ni__tls_free(c->tls);
  ni_parser_free(c->parser);
  free(c->host);
  free(c->ca_file);
  free(c->bind_addr);
  free(c);
}

/* Called whenever a reference is dropped: once nothing of libuv refers to c
 * any more, report the end, then free if asked. */
static void maybe_finish(ni_imap *c) {
  if (c->refs > 0 || c->st != NI__ST_ENDED) return;
  if (!c->end_reported) {
    c->end_reported = 1;
    ni__client_report_end(c);
  }
  if (c->freed && c->in_cb == 0) really_free(c);
}

static void on_close(uv_handle_t *h) {
  ni_imap *c = h->data;
  if (h == (uv_handle_t *)&c->tcp) c->tcp_open = 0;
  c->refs--;
  maybe_finish(c);
}

ni_imap *ni_imap_new(uv_loop_t *loop, const ni_imap_opts *o, const ni_imap_cb *cb, void *ud) {
  if (!loop || !o || !o->host || !*o->host) return NULL;
  ni_imap *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  int fail = 0;
  c->loop = loop;
  if (cb) c->cb = *cb;
  c->ud = ud;
  c->host = dupstr(o->host, &fail);
  c->ca_file = dupstr(o->ca_file, &fail);
  c->bind_addr = dupstr(o->bind_addr, &fail);
  c->family = o->family == 4 ? AF_INET : o->family == 6 ? AF_INET6 : 0;
  c->tls_mode = o->tls;
  c->port = o->port ? o->port : (o->tls == NI_TLS_IMAPS ? 993 : 143);
  c->insecure = o->insecure;
  c->allow_plaintext = o->allow_plaintext;
  c->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 15000;
  c->parser = ni_parser_new(o->limits);
  c->next_tag = 1;
  if (fail || !c->parser || (o->family != 0 && o->family != 4 && o->family != 6) ||
      (c->tls_mode != NI_TLS_NONE && c->tls_mode != NI_TLS_IMAPS &&
       c->tls_mode != NI_TLS_STARTTLS)) {
    really_free(c);
    return NULL;
  }
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  c->refs = 1; /* the timer handle */
  return c;
}

void *ni_imap_userdata(const ni_imap *c) {
  return c->ud;
}

void ni__conn_end(ni_imap *c, ni_end how, int err) {
  if (c->st == NI__ST_ENDED) return;
  int resolving = c->st == NI__ST_RESOLVE;
  c->st = NI__ST_ENDED;
  c->end_how = how;
  c->end_err = err;
  if (err && !c->errstr[0]) ni__errf(c, "%s (host %s)", ni_strerror(err), c->host);
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, on_close);
  if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp)) {
    if (c->reading) uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
    uv_close((uv_handle_t *)&c->tcp, on_close);
  }
  /* A lookup in the thread pool cannot be stopped once it runs; its callback
   * then comes with the result and drops its reference. */
  if (resolving) uv_cancel((uv_req_t *)&c->gai);
}

void ni__conn_stop_timer(ni_imap *c) {
  uv_timer_stop(&c->timer);
}

void ni_imap_close(ni_imap *c) {
  if (c && c->st != NI__ST_ENDED) ni__conn_end(c, NI_END_LOCAL, 0);
}

void ni_imap_free(ni_imap *c) {
  if (!c) return;
  c->freed = 1;
  if (c->st != NI__ST_ENDED)
    ni__conn_end(c, NI_END_LOCAL, 0);
  else
    maybe_finish(c);
}

static const char *phase_name(const ni_imap *c) {
  switch (c->st) {
  case NI__ST_RESOLVE:
    return "resolving the host name";
  case NI__ST_CONNECT:
    return "connecting";
  case NI__ST_HANDSHAKE:
    return "in the TLS handshake";
  case NI__ST_GREETING:
    return "waiting for the greeting";
  case NI__ST_SETUP:
    return "reading capabilities / STARTTLS";
  default:
    return "connecting";
  }
}

static void on_timer(uv_timer_t *t) {
  ni_imap *c = t->data;
  ni__errf(c, "timed out after %u ms %s (host %s port %u)", (unsigned)c->connect_timeout_ms,
           phase_name(c), c->host, (unsigned)c->port);
  ni__conn_end(c, NI_END_TIMEOUT, NI_ETIMEDOUT);
}

/* A write failed.  EPIPE after a reset is the same event as ECONNRESET:
 * the peer (or a middlebox) reset the connection. */
static void write_failed(ni_imap *c, int err) {
  if (c->st == NI__ST_ENDED) return;
  ni__errf(c, "write to %s failed: %s", c->host, uv_strerror(err));
  if (err == UV_ECONNRESET || err == UV_EPIPE)
    ni__conn_end(c, NI_END_RESET, NI_ERESET);
  else
    ni__conn_end(c, NI_END_ERROR, err);
}

static void on_write(uv_write_t *req, int status) {
  wreq *w = (wreq *)req;
  ni_imap *c = w->c;
  if (w->secret) ni__wipe(w->buf.base, w->buf.len);
  size_t n = w->buf.len;
  free(w->buf.base);
  ni_ms ts = w->ts;
  free(w);
  if (status == UV_ECANCELED) return;
  if (status < 0) {
    write_failed(c, status);
    return;
  }
  /* Reported even while closing: the bytes did leave (on_end comes later,
   * from the close callback). */
  if (c->cb.on_io) NI__USER(c, c->cb.on_io(c, 1, n, ts, c->ud));
}

/* Put buf (malloc'ed, ownership taken) on the wire. */
static int wire_write(ni_imap *c, char *buf, size_t n, int secret) {
  wreq *w = calloc(1, sizeof *w);
  if (!w) {
    if (secret) ni__wipe(buf, n);
    free(buf);
    ni__conn_end(c, NI_END_ERROR, -ENOMEM);
    return -ENOMEM;
  }
  w->c = c;
  w->buf = uv_buf_init(buf, (unsigned)n);
  w->secret = secret;
  w->ts = ni_imap_now();
  int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &w->buf, 1, on_write);
  if (r < 0) {
    if (secret) ni__wipe(buf, n);
    free(buf);
    free(w);
    write_failed(c, r);
    return r;
  }
  c->bytes_out += n;
  c->last_tx = w->ts;
  return 0;
}

/* Send whatever ciphertext the TLS session produced. */
static int tls_flush(ni_imap *c) {
  size_t n;
  char *out = ni__tls_take_output(c->tls, &n);
  return out ? wire_write(c, out, n, 0) : 0;
}

int ni__conn_send(ni_imap *c, const char *p, size_t n, int secret) {
  if (c->st == NI__ST_ENDED || !c->tcp_open) return NI_ESTATE;
  if (n == 0) return 0;
  if (c->tls) {
    int r = ni__tls_write(c->tls, p, n, c->errstr, sizeof c->errstr);
    if (r < 0) {
      ni__conn_end(c, NI_END_TLS, r);
      return r;
    }
    return tls_flush(c);
  }
  char *copy = malloc(n);
  if (!copy) {
    ni__conn_end(c, NI_END_ERROR, -ENOMEM);
    return -ENOMEM;
  }
  memcpy(copy, p, n);
  return wire_write(c, copy, n, secret);
}

/* Drive the handshake with whatever input was lent to the session. */
static void tls_step_handshake(ni_imap *c) {
  int r = ni__tls_handshake(c->tls, c->errstr, sizeof c->errstr);
  if (tls_flush(c) < 0) return;
  if (r < 0) {
    ni__conn_end(c, NI_END_TLS, r);
    return;
  }
  if (r == 1) {
    c->tls_up = 1;
    if (c->tls_mode == NI_TLS_IMAPS)
      ni__client_on_transport_ready(c);
    else
      ni__client_on_tls_ready(c);
  }
}

int ni__conn_start_tls(ni_imap *c) {
  int r = ni__tls_new(&c->tls, c->host, c->ca_file, c->insecure, c->errstr, sizeof c->errstr);
  if (r < 0) {
    ni__conn_end(c, NI_END_TLS, r);
    return r;
  }
  c->st = NI__ST_HANDSHAKE;
  tls_step_handshake(c);
  return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  buf->base = malloc(NI__READ_BUF);
  buf->len = buf->base ? NI__READ_BUF : 0;
}

/* Decrypt everything the input holds and hand it to the client. */
static void tls_drain(ni_imap *c) {
  char plain[16384];
  while (c->st != NI__ST_ENDED) {
    if (c->st == NI__ST_HANDSHAKE) {
      tls_step_handshake(c);
      if (c->st == NI__ST_HANDSHAKE || c->st == NI__ST_ENDED) return;
      continue;
    }
    int r = ni__tls_read(c->tls, plain, sizeof plain, c->errstr, sizeof c->errstr);
    if (tls_flush(c) < 0) return;
    if (r == 0) return;
    if (r == NI_ECLOSED) {
      ni__errf(c, "server closed the TLS session (host %s)", c->host);
      ni__conn_end(c, c->logout_sent ? NI_END_LOCAL : NI_END_CLOSED,
                   c->logout_sent ? 0 : NI_ECLOSED);
      return;
    }
    if (r < 0) {
      ni__conn_end(c, NI_END_TLS, r);
      return;
    }
    ni__client_on_data(c, plain, (size_t)r);
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  ni_imap *c = s->data;
  if (nread > 0 && c->st != NI__ST_ENDED) {
    ni_ms now = ni_imap_now();
    c->bytes_in += (uint64_t)nread;
    c->last_rx = now;
    if (c->cb.on_io) NI__USER(c, c->cb.on_io(c, 0, (size_t)nread, now, c->ud));
    if (c->st != NI__ST_ENDED) {
      if (c->tls) {
        ni__tls_set_input(c->tls, buf->base, (size_t)nread);
        tls_drain(c);
        if (c->tls) ni__tls_set_input(c->tls, NULL, 0);
      } else {
        ni__client_on_data(c, buf->base, (size_t)nread);
      }
    }
  } else if (nread < 0 && c->st != NI__ST_ENDED) {
    if (nread == UV_EOF) {
      if (c->logout_sent) {
        ni__conn_end(c, NI_END_LOCAL, 0);
      } else {
        ni__errf(c, "connection closed by the server (host %s)", c->host);
        ni__conn_end(c, NI_END_CLOSED, NI_ECLOSED);
      }
    } else if (nread == UV_ECONNRESET) {
      ni__errf(c, "connection reset (host %s)", c->host);
      ni__conn_end(c, NI_END_RESET, NI_ERESET);
    } else {
      ni__errf(c, "read from %s failed: %s", c->host, uv_strerror((int)nread));
      ni__conn_end(c, NI_END_ERROR, (int)nread);
    }
  }
  free(buf->base);
}

static void on_connect(uv_connect_t *req, int status) {
  ni_imap *c = req->data;
  if (status == UV_ECANCELED || c->st == NI__ST_ENDED) return;
  if (status < 0) {
    ni__errf(c, "cannot connect to %s port %u: %s", c->host, (unsigned)c->port,
             uv_strerror(status));
    ni__conn_end(c, status == UV_ECONNRESET ? NI_END_RESET : NI_END_ERROR, status);
    return;
  }
  /* TCP_NODELAY: a command must leave at once.  SO_KEEPALIVE stays off:
   * keepalive probes would refresh the NAT mapping being measured. */
  uv_tcp_nodelay(&c->tcp, 1);
  uv_tcp_keepalive(&c->tcp, 0, 0);
  int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (r < 0) {
    ni__errf(c, "cannot read from %s: %s", c->host, uv_strerror(r));
    ni__conn_end(c, NI_END_ERROR, r);
    return;
  }
  c->reading = 1;
  if (c->tls_mode == NI_TLS_IMAPS)
    ni__conn_start_tls(c);
  else
    ni__client_on_transport_ready(c);
}

/* Pick the address to use: the family asked for (family option or
 * bind_addr) when given, otherwise IPv4 first (natidle measures IPv4 NATs),
 * otherwise the first. */
static const struct addrinfo *pick_addr(const struct addrinfo *res, int family) {
  const struct addrinfo *ai;
  for (ai = res; ai; ai = ai->ai_next)
    if (ai->ai_family == (family ? family : AF_INET)) return ai;
  return family ? NULL : res;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  ni_imap *c = req->data;
  c->refs--;
  if (c->st == NI__ST_ENDED) {
    uv_freeaddrinfo(res);
    maybe_finish(c);
    return;
  }
  if (status < 0) {
    ni__errf(c, "cannot resolve %s: %s", c->host, uv_strerror(status));
    ni__conn_end(c, NI_END_ERROR, NI_EDNS);
    return;
  }
  struct sockaddr_storage bind_ss;
  int family = 0;
  if (c->bind_addr) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&bind_ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&bind_ss;
    memset(&bind_ss, 0, sizeof bind_ss);
    if (uv_ip4_addr(c->bind_addr, 0, s4) == 0)
      family = AF_INET;
    else if (uv_ip6_addr(c->bind_addr, 0, s6) == 0)
      family = AF_INET6;
    else {
      uv_freeaddrinfo(res);
      ni__errf(c, "bad local address %s", c->bind_addr);
      ni__conn_end(c, NI_END_ERROR, NI_EUSAGE);
      return;
    }
  }
  if (c->family && family && family != c->family) {
    uv_freeaddrinfo(res);
    ni__errf(c, "local address %s is not an IPv%d address", c->bind_addr,
             c->family == AF_INET6 ? 6 : 4);
    ni__conn_end(c, NI_END_ERROR, NI_EUSAGE);
    return;
  }
  const int bound = family != 0;
  if (!family) family = c->family;
  const struct addrinfo *ai = pick_addr(res, family);
  if (!ai) {
    uv_freeaddrinfo(res);
    if (bound)
      ni__errf(c, "%s has no address of the local address's family", c->host);
    else
      ni__errf(c, "%s has no IPv%d address", c->host, family == AF_INET6 ? 6 : 4);
    ni__conn_end(c, NI_END_ERROR, NI_EDNS);
    return;
  }
  int r = uv_tcp_init(c->loop, &c->tcp);
  if (r == 0) {
    c->tcp.data = c;
    c->tcp_open = 1;
    c->refs++;
    if (bound) r = uv_tcp_bind(&c->tcp, (const struct sockaddr *)&bind_ss, 0);
  }
  if (r == 0) {
    c->connreq.data = c;
    c->st = NI__ST_CONNECT;
    r = uv_tcp_connect(&c->connreq, &c->tcp, ai->ai_addr, on_connect);
  }
  uv_freeaddrinfo(res);
  if (r < 0) {
    ni__errf(c, "cannot connect to %s port %u: %s", c->host, (unsigned)c->port, uv_strerror(r));
    ni__conn_end(c, NI_END_ERROR, r);
  }
}

int ni_imap_connect(ni_imap *c, ni_imap_done_cb cb, void *arg) {
  if (!c || c->st != NI__ST_NEW) return NI_ESTATE;
  char port[8];
  snprintf(port, sizeof port, "%u", (unsigned)c->port);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  c->gai.data = c;
  int r = uv_getaddrinfo(c->loop, &c->gai, on_resolved, c->host, port, &hints);
  if (r < 0) {
    ni__errf(c, "cannot resolve %s: %s", c->host, uv_strerror(r));
    return NI_EDNS;
  }
  c->refs++;
  c->st = NI__ST_RESOLVE;
  c->connect_cb = cb;
  c->connect_arg = arg;
  uv_timer_start(&c->timer, on_timer, c->connect_timeout_ms, 0);
  return 0;
}

int ni_imap_is_tls(const ni_imap *c) {
  return c->tls_up;
}
int ni_imap_is_ended(const ni_imap *c) {
  return c->st == NI__ST_ENDED;
}
ni_ms ni_imap_last_rx(const ni_imap *c) {
  return c->last_rx;
}
ni_ms ni_imap_last_tx(const ni_imap *c) {
  return c->last_tx;
}
uint64_t ni_imap_bytes_in(const ni_imap *c) {
  return c->bytes_in;
}
uint64_t ni_imap_bytes_out(const ni_imap *c) {
  return c->bytes_out;
}
const char *ni_imap_errstr(const ni_imap *c) {
  return c->errstr;
}

static int sock_addr(const ni_imap *c, struct sockaddr_storage *ss, int peer) {
  if (!c->tcp_open || c->st < NI__ST_HANDSHAKE) return NI_ESTATE;
  int len = (int)sizeof *ss;
  memset(ss, 0, sizeof *ss);
  return peer ? uv_tcp_getpeername(&c->tcp, (struct sockaddr *)ss, &len)
              : uv_tcp_getsockname(&c->tcp, (struct sockaddr *)ss, &len);
}

int ni_imap_local_addr(const ni_imap *c, struct sockaddr_storage *ss) {
  return sock_addr(c, ss, 0);
}

int ni_imap_peer_addr(const ni_imap *c, struct sockaddr_storage *ss) {
  return sock_addr(c, ss, 1);
}
