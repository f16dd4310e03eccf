/*
 * bench/scale_server.c - a small IMAP server for the scale benchmark.
 *
 * The scale benchmark holds thousands of idle push sessions in one client
 * process.  Dovecot needs a process (or more) per few connections, so the
 * benchmark brings its own server: one thread, one libuv loop, OpenSSL on
 * the socket itself, and a few hundred bytes per connection while idle
 * (SSL_MODE_RELEASE_BUFFERS; no buffer is kept between commands).
 *
 * It answers what a push session needs, minimally but by the grammar:
 * CAPABILITY, LOGIN, AUTHENTICATE PLAIN (with or without SASL-IR), SELECT
 * and EXAMINE of an empty mailbox (with UIDVALIDITY and UIDNEXT), IDLE and
 * DONE, NOOP, UID SEARCH, UID FETCH, NOTIFY (OK or NO, as asked) and LOGOUT.
 * Literals ({n} and {n+}) are accepted anywhere.  Any user name and password
 * are accepted: the server listens on loopback only and holds no mail.  It
 * never speaks unasked while a client idles (no "* OK Still here"), so the
 * client's keepalive scheduler alone decides when traffic flows.
 *
 * usage: bench_scale_server --cert PEM --key PEM [--port-tls N] [--port-plain N]
 *                           [--listen 127.0.0.1] [--notify ok|no|off]
 *                           [--max-conns N] [--max-seconds S] [--ready-file F]
 * Port 0 (the default) picks a free port; the ports chosen are written as
 * "TLS_PORT PLAIN_PORT" to the ready file (atomically) and to stdout.  The
 * server stops on SIGTERM/SIGINT or after --max-seconds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uv.h>

/* Longest command line; a longer one is answered with BAD and the
 * connection is closed (RFC 7162 asks clients to stay under 8192). */
#define SRV_LINE_MAX 8192u
/* Largest literal accepted (login names and passwords are short). */
#define SRV_LITERAL_MAX 65536u
/* Connections accepted per readiness event, so one listener cannot starve
 * the sessions already connected. */
#define SRV_ACCEPT_BATCH 256
/* Reads per readiness event of one connection, for the same reason; the
 * poll is level-triggered, so what is left is read on the next turn. */
#define SRV_READ_BATCH 16

#define CAPS_PRE "IMAP4rev1 SASL-IR AUTH=PLAIN LITERAL+ IDLE"
#define CAPS_POST "IMAP4rev1 LITERAL+ IDLE UIDPLUS"

typedef enum { M_CMD = 0, M_IDLE, M_AUTH } conn_mode;

typedef struct conn {
  uv_poll_t poll;
  struct conn *prev, *next;
  int fd;
  SSL *ssl;      /* NULL on the plaintext port */
  int handshake; /* TLS handshake completed (always 1 on plaintext) */
  int events;    /* what the poll watches now */
  int closing;
  int close_after_flush; /* LOGOUT answered: close once the output is out */
  int authed;
  conn_mode mode;
  char tag[40]; /* tag of the IDLE or AUTHENTICATE in progress */
  char *in;     /* the command being assembled; NULL between commands */
  size_t in_n, in_cap;
  size_t lit_left; /* literal bytes still expected */
  char *out;       /* output the socket did not take yet; NULL when none */
  size_t out_n;
} conn;

typedef struct listener {
  uv_poll_t poll;
  int fd;
  int tls;
  uint16_t port;
} listener;

static uv_loop_t *g_loop;
static SSL_CTX *g_ctx;
static listener g_lis[2];
static int g_nlis;
static conn *g_conns;
static size_t g_nconns, g_max_conns = 20000, g_peak;
static uint64_t g_accepted;
static enum { NOTIFY_OFF, NOTIFY_OK, NOTIFY_NO } g_notify = NOTIFY_OFF;
static uv_signal_t g_sigterm, g_sigint;
static uv_timer_t g_deadline;
static int g_stopping;

/* One connection is served at a time, so its reads and its answers share
 * these buffers instead of each connection holding its own. */
static char g_rbuf[16384];
static char g_wbuf[65536];
static size_t g_wn;

static void conn_close(conn *c);
static void conn_flush(conn *c);

/* ---- output ---------------------------------------------------------------- */

/* Queue one response line (CRLF added) for c in the shared write buffer. */
static void say(conn *c, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 2, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof line - 3) n = (int)(sizeof line - 3);
  line[n++] = '\r';
  line[n++] = '\n';
  if ((size_t)n > sizeof g_wbuf - g_wn) conn_flush(c);
  memcpy(g_wbuf + g_wn, line, (size_t)n);
  g_wn += (size_t)n;
}

/* Keep bytes the socket did not take, to send when it is writable. */
static void stash(conn *c, const char *p, size_t n) {
  char *q = realloc(c->out, c->out_n + n);
  if (!q) {
    conn_close(c);
    return;
  }
  memcpy(q + c->out_n, p, n);
  c->out = q;
  c->out_n += n;
}

/* Write p[0..n) now; returns the number of bytes taken, or -1 when the
 * connection failed (it is then closed). */
static ssize_t raw_send(conn *c, const char *p, size_t n) {
  if (c->ssl) {
    ERR_clear_error();
    int r = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return 0;
    conn_close(c);
    return -1;
  }
  ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
  if (r >= 0) return r;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
  conn_close(c);
  return -1;
}

/* Send what is pending for c: first older stashed output, then the shared
 * buffer (which is emptied either way). */
static void conn_flush(conn *c) {
  size_t n = g_wn;
  g_wn = 0;
  if (c->closing) return;
  if (c->out) {
    /* Older bytes go first; new ones queue behind them. */
    stash(c, g_wbuf, n);
    return;
  }
  size_t off = 0;
  while (off < n) {
    ssize_t r = raw_send(c, g_wbuf + off, n - off);
    if (r < 0) return;
    if (r == 0) break;
    off += (size_t)r;
  }
  if (off < n) stash(c, g_wbuf + off, n - off);
}

static void flush_stash(conn *c) {
  while (c->out && !c->closing) {
    ssize_t r = raw_send(c, c->out, c->out_n);
    if (r <= 0) return;
    if ((size_t)r == c->out_n) {
      free(c->out);
      c->out = NULL;
      c->out_n = 0;
    } else {
      memmove(c->out, c->out + r, c->out_n - (size_t)r);
      c->out_n -= (size_t)r;
    }
  }
}

/* ---- IMAP ------------------------------------------------------------------ */

/* The next space-separated token of *s (advanced past it), or "". */
static const char *token(char **s) {
  char *p = *s;
  while (*p == ' ')
    p++;
  char *t = p;
  while (*p && *p != ' ')
    p++;
  if (*p) *p++ = 0;
  *s = p;
  return t;
}

static void greet(conn *c) {
  say(c, "* OK [CAPABILITY " CAPS_PRE "] natidle scale server ready");
}

static const char *caps_post(void) {
  return g_notify == NOTIFY_OFF ? CAPS_POST : CAPS_POST " NOTIFY";
}

static void logged_in(conn *c, const char *tag, const char *what) {
  c->authed = 1;
  say(c, "%s OK [CAPABILITY %s] %s completed", tag, caps_post(), what);
}

/* A valid tag: 1 to 39 ASTRING-CHARs other than '+' (RFC 3501 9). */
static int tag_ok(const char *t) {
  size_t n = strlen(t);
  if (n == 0 || n >= sizeof((conn *)0)->tag) return 0;
  for (; *t; t++)
    if (*t <= ' ' || *t >= 0x7f || strchr("(){%*\"\\+", *t)) return 0;
  return 1;
}

/* One complete command (literals included, final CRLF removed). */
static void command(conn *c, char *line) {
  if (c->mode == M_IDLE) {
    /* RFC 2177: inside IDLE only DONE is allowed. */
    if (strcasecmp(line, "DONE") == 0)
      say(c, "%s OK IDLE terminated", c->tag);
    else
      say(c, "%s BAD expected DONE", c->tag);
    c->mode = M_CMD;
    return;
  }
  if (c->mode == M_AUTH) {
    /* RFC 4959 / 3501 6.2.2: the client's response, or "*" to cancel. */
    c->mode = M_CMD;
    if (strcmp(line, "*") == 0)
      say(c, "%s BAD AUTHENTICATE cancelled", c->tag);
    else
      logged_in(c, c->tag, "AUTHENTICATE");
    return;
  }
  char *s = line;
  const char *tag = token(&s);
  if (!tag_ok(tag)) {
    say(c, "* BAD invalid tag");
    return;
  }
  const char *cmd = token(&s);
  int uid = strcasecmp(cmd, "UID") == 0;
  if (uid) cmd = token(&s);
  int need_auth = strcasecmp(cmd, "CAPABILITY") && strcasecmp(cmd, "NOOP") &&
                  strcasecmp(cmd, "LOGOUT") && strcasecmp(cmd, "LOGIN") &&
                  strcasecmp(cmd, "AUTHENTICATE");
  if (need_auth && !c->authed) {
    say(c, "%s BAD log in first", tag);
  } else if (!strcasecmp(cmd, "CAPABILITY")) {
    say(c, "* CAPABILITY %s", c->authed ? caps_post() : CAPS_PRE);
    say(c, "%s OK CAPABILITY completed", tag);
  } else if (!strcasecmp(cmd, "NOOP")) {
    say(c, "%s OK NOOP completed", tag);
  } else if (!strcasecmp(cmd, "LOGOUT")) {
    say(c, "* BYE logging out");
    say(c, "%s OK LOGOUT completed", tag);
    c->close_after_flush = 1;
  } else if (!strcasecmp(cmd, "LOGIN")) {
    if (c->authed)
      say(c, "%s BAD already logged in", tag);
    else if (!*token(&s))
      say(c, "%s BAD LOGIN needs a user name and a password", tag);
    else
      logged_in(c, tag, "LOGIN");
  } else if (!strcasecmp(cmd, "AUTHENTICATE")) {
    const char *mech = token(&s);
    const char *ir = token(&s);
    if (c->authed) {
      say(c, "%s BAD already logged in", tag);
    } else if (strcasecmp(mech, "PLAIN") != 0) {
      say(c, "%s NO unsupported mechanism", tag);
    } else if (*ir) {
      logged_in(c, tag, "AUTHENTICATE");
    } else {
      snprintf(c->tag, sizeof c->tag, "%s", tag);
      c->mode = M_AUTH;
      say(c, "+ ");
    }
  } else if (!strcasecmp(cmd, "SELECT") || !strcasecmp(cmd, "EXAMINE")) {
    int ro = !strcasecmp(cmd, "EXAMINE");
    say(c, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)");
    say(c, "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)] Limited");
    say(c, "* 0 EXISTS");
    say(c, "* 0 RECENT");
    say(c, "* OK [UIDVALIDITY 1] UIDs valid");
    say(c, "* OK [UIDNEXT 1] Predicted next UID");
    say(c, "%s OK [%s] %s completed", tag, ro ? "READ-ONLY" : "READ-WRITE", cmd);
  } else if (!strcasecmp(cmd, "IDLE") && !uid) {
    snprintf(c->tag, sizeof c->tag, "%s", tag);
    c->mode = M_IDLE;
    say(c, "+ idling");
  } else if (!strcasecmp(cmd, "SEARCH")) {
    say(c, "* SEARCH");
    say(c, "%s OK %sSEARCH completed", tag, uid ? "UID " : "");
  } else if (!strcasecmp(cmd, "FETCH") || !strcasecmp(cmd, "STORE") ||
             !strcasecmp(cmd, "EXPUNGE")) {
    /* The mailbox is empty: nothing to return, nothing to change. */
    say(c, "%s OK %s%s completed", tag, uid ? "UID " : "", cmd);
  } else if (!strcasecmp(cmd, "NOTIFY") && g_notify != NOTIFY_OFF) {
    if (g_notify == NOTIFY_OK)
      say(c, "%s OK NOTIFY completed", tag);
    else
      say(c, "%s NO [NOTIFICATIONOVERFLOW] NOTIFY refused", tag);
  } else {
    say(c, "%s BAD unknown command", tag);
  }
}

/* If the line just completed (without CRLF, n bytes) ends in a literal
 * announcement "{N}" or "{N+}", return N and set *plus; else -1. */
static long literal_at_end(const char *line, size_t n, int *plus) {
  if (n < 3 || line[n - 1] != '}') return -1;
  size_t i = n - 1;
  *plus = i > 0 && line[i - 1] == '+';
  if (*plus) i--;
  size_t end = i;
  while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
    i--;
  if (i == end || i == 0 || line[i - 1] != '{' || end - i > 9) return -1;
  return strtol(line + i, NULL, 10);
}

static int in_append(conn *c, const char *p, size_t n) {
  if (n > SRV_LINE_MAX + SRV_LITERAL_MAX - c->in_n) return -1;
  if (c->in_n + n + 1 > c->in_cap) {
    size_t cap = c->in_cap ? c->in_cap : 256;
    while (cap < c->in_n + n + 1)
      cap *= 2;
    char *q = realloc(c->in, cap);
    if (!q) return -1;
    c->in = q;
    c->in_cap = cap;
  }
  memcpy(c->in + c->in_n, p, n);
  c->in_n += n;
  c->in[c->in_n] = 0;
  return 0;
}

/* Bytes from the client: assemble commands and run each complete one. */
static void feed(conn *c, const char *p, size_t n) {
  while (n > 0 && !c->closing && !c->close_after_flush) {
    if (c->lit_left) {
      size_t k = n < c->lit_left ? n : c->lit_left;
      if (in_append(c, p, k) < 0) goto too_long;
      c->lit_left -= k;
      p += k;
      n -= k;
      continue;
    }
    const char *nl = memchr(p, '\n', n);
    size_t k = nl ? (size_t)(nl - p) + 1 : n;
    size_t line_start = c->in_n;
    if (in_append(c, p, k) < 0) goto too_long;
    p += k;
    n -= k;
    if (!nl) {
      if (c->in_n - line_start > SRV_LINE_MAX) goto too_long;
      return;
    }
    /* A line is complete: strip its CRLF (or bare LF). */
    c->in[--c->in_n] = 0;
    if (c->in_n > 0 && c->in[c->in_n - 1] == '\r') c->in[--c->in_n] = 0;
    int plus = 0;
    long lit = literal_at_end(c->in + line_start, c->in_n - line_start, &plus);
    if (lit >= 0) {
      if ((unsigned long)lit > SRV_LITERAL_MAX) goto too_long;
      c->lit_left = (size_t)lit;
      if (!plus) say(c, "+ Ready for literal data");
      continue;
    }
    command(c, c->in);
    free(c->in);
    c->in = NULL;
    c->in_n = c->in_cap = 0;
  }
  return;
too_long:
  say(c, "* BYE command too long");
  c->close_after_flush = 1;
}

/* ---- connections ----------------------------------------------------------- */

static void on_conn_closed(uv_handle_t *h) {
  conn *c = h->data;
  close(c->fd);
  free(c);
}

static void conn_close(conn *c) {
  if (c->closing) return;
  c->closing = 1;
  if (c->ssl) {
    /* A close_notify is polite and cheap; its result does not matter. */
    if (c->handshake) SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  free(c->in);
  free(c->out);
  c->in = c->out = NULL;
  if (c->prev)
    c->prev->next = c->next;
  else
    g_conns = c->next;
  if (c->next) c->next->prev = c->prev;
  g_nconns--;
  uv_close((uv_handle_t *)&c->poll, on_conn_closed);
}

static void conn_update_poll(conn *c, int want_write);
static void on_conn_poll(uv_poll_t *h, int status, int events);

/* Advance the handshake, read what the socket has, answer it. */
static void conn_io(conn *c) {
  int want_write = 0;
  if (!c->handshake) {
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
      int e = SSL_get_error(c->ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        conn_update_poll(c, e == SSL_ERROR_WANT_WRITE);
      else
        conn_close(c);
      return;
    }
    c->handshake = 1;
    greet(c);
  }
  for (int i = 0; i < SRV_READ_BATCH && !c->closing; i++) {
    ssize_t n;
    if (c->ssl) {
      ERR_clear_error();
      int r = SSL_read(c->ssl, g_rbuf, (int)sizeof g_rbuf);
      if (r <= 0) {
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) break;
        if (e == SSL_ERROR_WANT_WRITE) {
          want_write = 1;
          break;
        }
        conn_close(c);
        return;
      }
      n = r;
    } else {
      n = recv(c->fd, g_rbuf, sizeof g_rbuf, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
      if (n <= 0) {
        conn_close(c);
        return;
      }
    }
    feed(c, g_rbuf, (size_t)n);
    if ((size_t)n < sizeof g_rbuf && !(c->ssl && SSL_pending(c->ssl))) break;
  }
  conn_flush(c);
  if (c->closing) return;
  if (c->close_after_flush && !c->out) {
    conn_close(c);
    return;
  }
  conn_update_poll(c, want_write || c->out);
}

static void conn_update_poll(conn *c, int want_write) {
  int ev = UV_READABLE | (want_write ? UV_WRITABLE : 0);
  if (ev == c->events || c->closing) return;
  c->events = ev;
  uv_poll_start(&c->poll, ev, on_conn_poll);
}

static void on_conn_poll(uv_poll_t *h, int status, int events) {
  conn *c = h->data;
  if (status < 0) {
    conn_close(c);
    return;
  }
  if ((events & UV_WRITABLE) && c->out) {
    flush_stash(c);
    if (c->closing) return;
    if (!c->out && c->close_after_flush) {
      conn_close(c);
      return;
    }
  }
  conn_io(c);
}

static void on_accept(uv_poll_t *h, int status, int events) {
  listener *l = h->data;
  (void)events;
  if (status < 0) return;
  for (int i = 0; i < SRV_ACCEPT_BATCH; i++) {
    /* accept() and fcntl() rather than accept4(), which is a GNU extension. */
    int fd = accept(l->fd, NULL, NULL);
    if (fd < 0) return; /* EAGAIN, or EMFILE: the client will see a timeout */
    if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
      close(fd);
      continue;
    }
    if (g_stopping || g_nconns >= g_max_conns) {
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = calloc(1, sizeof *c);
    if (!c) {
      close(fd);
      continue;
    }
    c->fd = fd;
    c->handshake = !l->tls;
    if (l->tls) {
      c->ssl = SSL_new(g_ctx);
      if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
        SSL_free(c->ssl);
        close(fd);
        free(c);
        continue;
      }
      SSL_set_accept_state(c->ssl);
    }
    if (uv_poll_init(g_loop, &c->poll, fd) != 0) {
      SSL_free(c->ssl);
      close(fd);
      free(c);
      continue;
    }
    c->poll.data = c;
    c->next = g_conns;
    if (g_conns) g_conns->prev = c;
    g_conns = c;
    g_nconns++;
    g_accepted++;
    if (g_nconns > g_peak) g_peak = g_nconns;
    conn_update_poll(c, 0);
    if (!l->tls) {
      greet(c);
      conn_flush(c);
    }
  }
}

/* ---- setup and shutdown ---------------------------------------------------- */

static void on_listener_closed(uv_handle_t *h) {
  listener *l = h->data;
  close(l->fd);
}

static void stop_all(void) {
  if (g_stopping) return;
  g_stopping = 1;
  for (int i = 0; i < g_nlis; i++)
    uv_close((uv_handle_t *)&g_lis[i].poll, on_listener_closed);
  while (g_conns)
    conn_close(g_conns);
  uv_close((uv_handle_t *)&g_sigterm, NULL);
  uv_close((uv_handle_t *)&g_sigint, NULL);
  uv_close((uv_handle_t *)&g_deadline, NULL);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  (void)signum;
  stop_all();
}

static void on_deadline(uv_timer_t *t) {
  (void)t;
  fprintf(stderr, "bench_scale_server: --max-seconds reached, stopping\n");
  stop_all();
}

static int listen_on(const char *addr, uint16_t port, int tls) {
  listener *l = &g_lis[g_nlis];
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) return -EINVAL;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  socklen_t sl = sizeof sa;
  /* The backlog is capped by net.core.somaxconn; the client also limits
   * how many connections it opens at once. */
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  l->fd = fd;
  l->tls = tls;
  l->port = ntohs(sa.sin_port);
  uv_poll_init(g_loop, &l->poll, fd);
  l->poll.data = l;
  uv_poll_start(&l->poll, UV_READABLE, on_accept);
  g_nlis++;
  return 0;
}

static int is_loopback(const char *a) {
  struct in_addr ia;
  return inet_pton(AF_INET, a, &ia) == 1 && (ntohl(ia.s_addr) >> 24) == 127;
}

static long num_arg(const char *s, long lo, long hi, const char *what) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    fprintf(stderr, "bench_scale_server: bad %s: %s\n", what, s);
    exit(2);
  }
  return v;
}

static void usage(void) {
  fprintf(stderr, "usage: bench_scale_server --cert PEM --key PEM [--port-tls N] [--port-plain N]\n"
                  "         [--listen 127.0.0.x] [--notify ok|no|off] [--max-conns N]\n"
                  "         [--max-seconds S] [--ready-file FILE]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *cert = NULL, *key = NULL, *addr = "127.0.0.1", *ready = NULL;
  long port_tls = 0, port_plain = 0, max_s = 3600;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (!strcmp(a, "--cert"))
      cert = v;
    else if (!strcmp(a, "--key"))
      key = v;
    else if (!strcmp(a, "--listen"))
      addr = v;
    else if (!strcmp(a, "--port-tls"))
      port_tls = num_arg(v, 0, 65535, a);
    else if (!strcmp(a, "--port-plain"))
      port_plain = num_arg(v, 0, 65535, a);
    else if (!strcmp(a, "--max-conns"))
      g_max_conns = (size_t)num_arg(v, 1, 1000000, a);
    else if (!strcmp(a, "--max-seconds"))
      max_s = num_arg(v, 1, 86400, a);
    else if (!strcmp(a, "--ready-file"))
      ready = v;
    else if (!strcmp(a, "--notify") && !strcmp(v, "ok"))
      g_notify = NOTIFY_OK;
    else if (!strcmp(a, "--notify") && !strcmp(v, "no"))
      g_notify = NOTIFY_NO;
    else if (!strcmp(a, "--notify") && !strcmp(v, "off"))
      g_notify = NOTIFY_OFF;
    else
      usage();
  }
  if (!cert || !key) usage();
  if (!is_loopback(addr)) {
    fprintf(stderr, "bench_scale_server: refusing to listen on %s: loopback (127.0.0.0/8) only\n",
            addr);
    return 2;
  }
  /* One descriptor per connection: take all the hard limit allows. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);

  g_ctx = SSL_CTX_new(TLS_server_method());
  if (!g_ctx) return 1;
  SSL_CTX_set_min_proto_version(g_ctx, TLS1_2_VERSION);
  /* Idle connections hold no record buffers; writes may be retried from a
   * moved buffer (the stash) and may complete in parts. */
  SSL_CTX_set_mode(g_ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_session_cache_mode(g_ctx, SSL_SESS_CACHE_OFF);
  if (SSL_CTX_use_certificate_chain_file(g_ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(g_ctx, key, SSL_FILETYPE_PEM) != 1) {
    fprintf(stderr, "bench_scale_server: cannot load %s / %s\n", cert, key);
    SSL_CTX_free(g_ctx);
    return 1;
  }

  g_loop = uv_default_loop();
  int r = listen_on(addr, (uint16_t)port_tls, 1);
  if (r == 0) r = listen_on(addr, (uint16_t)port_plain, 0);
  if (r < 0) {
    fprintf(stderr, "bench_scale_server: listen on %s: %s\n", addr, strerror(-r));
    return 1;
  }
  uv_signal_init(g_loop, &g_sigterm);
  uv_signal_start(&g_sigterm, on_signal, SIGTERM);
  uv_signal_init(g_loop, &g_sigint);
  uv_signal_start(&g_sigint, on_signal, SIGINT);
  uv_timer_init(g_loop, &g_deadline);
  uv_timer_start(&g_deadline, on_deadline, (uint64_t)max_s * 1000u, 0);

  if (ready) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", ready);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%u %u\n", g_lis[0].port, g_lis[1].port) < 0 || fclose(f) != 0 ||
        rename(tmp, ready) != 0) {
      fprintf(stderr, "bench_scale_server: cannot write %s\n", ready);
      return 1;
    }
  }
  printf("%u %u\n", g_lis[0].port, g_lis[1].port);
  fflush(stdout);

  uv_run(g_loop, UV_RUN_DEFAULT);
  fprintf(stderr, "bench_scale_server: accepted %" PRIu64 " connections, at most %zu at once\n",
          g_accepted, g_peak);
  uv_loop_close(g_loop);
  SSL_CTX_free(g_ctx);
  return 0;
}
