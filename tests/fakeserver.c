/*
 * tests/fakeserver.c - the scripted fake IMAP server (see fakeserver.h).
 */
#include "fakeserver.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uv.h>

/* Every blocking wait of the server is bounded by this. */
#define FS_WAIT_MS 5000

struct fs {
  const fs_step *script;
  int lfd, fd;
  uint16_t port;
  uv_thread_t thread;
  SSL_CTX *ctx;
  SSL *ssl;
  char tag[64];
  char *rx; /* everything received */
  size_t rx_n, rx_cap;
  size_t rx_pos; /* start of what the script has not consumed yet */
  int failed;
  char err[512];
};

static void fail(fs *s, const char *fmt, ...) {
  if (s->failed) return;
  s->failed = 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->err, sizeof s->err, fmt, ap);
  va_end(ap);
}

static int raw_write(fs *s, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w;
    if (s->ssl) {
      int r = SSL_write(s->ssl, p, (int)n);
      w = r > 0 ? r : -1;
    } else {
      w = send(s->fd, p, n, MSG_NOSIGNAL);
    }
    if (w <= 0) {
      fail(s, "send failed: %s", strerror(errno));
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Read more into rx.  Returns bytes read, 0 at EOF, -1 on error/timeout. */
static ssize_t fill(fs *s) {
  if (s->rx_cap - s->rx_n < 4097) {
    size_t cap = s->rx_cap ? s->rx_cap * 2 : 8192;
    char *p = realloc(s->rx, cap);
    if (!p) return -1;
    s->rx = p;
    s->rx_cap = cap;
  }
  ssize_t r;
  if (s->ssl) {
    int k = SSL_read(s->ssl, s->rx + s->rx_n, 4096);
    r = k > 0 ? k : (SSL_get_error(s->ssl, k) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
  } else {
    r = recv(s->fd, s->rx + s->rx_n, 4096, 0);
  }
  if (r > 0) {
    s->rx_n += (size_t)r;
    s->rx[s->rx_n] = '\0';
  }
  return r;
}

/* Take one CRLF-terminated line from the input; *len excludes CRLF. */
static const char *take_line(fs *s, size_t *len) {
  for (;;) {
    char *start = s->rx ? s->rx + s->rx_pos : NULL;
    char *nl = start ? memchr(start, '\n', s->rx_n - s->rx_pos) : NULL;
    if (nl) {
      size_t n = (size_t)(nl - start);
      s->rx_pos += n + 1;
      if (n > 0 && start[n - 1] == '\r') n--;
      *len = n;
      return start;
    }
    if (fill(s) <= 0) return NULL;
  }
}

static int do_send(fs *s, const char *text, int crlf) {
  size_t cap = strlen(text) + sizeof s->tag + 8, o = 0;
  char *buf = malloc(cap * 2);
  if (!buf) return -1;
  for (const char *p = text; *p;) {
    if (p[0] == '$' && p[1] == 'T') {
      size_t tl = strlen(s->tag);
      memcpy(buf + o, s->tag, tl);
      o += tl;
      p += 2;
    } else {
      buf[o++] = *p++;
    }
  }
  if (crlf) {
    buf[o++] = '\r';
    buf[o++] = '\n';
  }
  int r = raw_write(s, buf, o);
  free(buf);
  return r;
}

static int do_expect(fs *s, const char *prefix, int exact) {
  size_t n;
  const char *line = take_line(s, &n);
  if (!line) {
    fail(s, "expected '%s', got end of input", prefix);
    return -1;
  }
  const char *sp = memchr(line, ' ', n);
  size_t tl = sp ? (size_t)(sp - line) : n;
  snprintf(s->tag, sizeof s->tag, "%.*s", (int)(tl < sizeof s->tag ? tl : sizeof s->tag - 1), line);
  const char *rest = sp ? sp + 1 : line + n;
  size_t rn = (size_t)(line + n - rest);
  size_t pn = strlen(prefix);
  if (rn < pn || strncasecmp(rest, prefix, pn) != 0 || (exact && rn != pn)) {
    fail(s, "expected '%s', got '%.*s'", prefix, (int)(n > 200 ? 200 : n), line);
    return -1;
  }
  return 0;
}

static int do_expect_line(fs *s, const char *want) {
  size_t n;
  const char *line = take_line(s, &n);
  if (!line || n != strlen(want) || memcmp(line, want, n) != 0) {
    fail(s, "expected line '%s', got '%.*s'", want, line ? (int)(n > 200 ? 200 : n) : 3,
         line ? line : "EOF");
    return -1;
  }
  return 0;
}

static int do_expect_lit(fs *s, size_t nbytes) {
  while (s->rx_n - s->rx_pos < nbytes) {
    if (fill(s) <= 0) {
      fail(s, "literal of %zu bytes cut short", nbytes);
      return -1;
    }
  }
  s->rx_pos += nbytes;
  size_t n;
  if (!take_line(s, &n)) {
    fail(s, "line after literal missing");
    return -1;
  }
  return 0;
}

static int do_tls(fs *s, const char *prefix) {
  char cert[512], key[512];
  snprintf(cert, sizeof cert, "%s.pem", prefix);
  snprintf(key, sizeof key, "%s.key", prefix);
  s->ctx = SSL_CTX_new(TLS_server_method());
  if (!s->ctx || SSL_CTX_use_certificate_chain_file(s->ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(s->ctx, key, SSL_FILETYPE_PEM) != 1) {
    fail(s, "cannot load %s / %s", cert, key);
    return -1;
  }
  /* natidle closes without close_notify (it sends nothing unasked): count
   * a bare TCP close as the end of input. */
  SSL_CTX_set_options(s->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  s->ssl = SSL_new(s->ctx);
  SSL_set_fd(s->ssl, s->fd);
  /* Plaintext the client sent before the handshake would be lost here;
   * scripts expect the client to wait, so nothing is pending. */
  if (SSL_accept(s->ssl) != 1) {
    char e[256] = "";
    ERR_error_string_n(ERR_get_error(), e, sizeof e);
    ERR_clear_error();
    fail(s, "TLS accept failed: %s", e);
    SSL_free(s->ssl);
    s->ssl = NULL;
    return -1;
  }
  return 0;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void run(void *arg) {
  fs *s = arg;
  struct pollfd pfd = {s->lfd, POLLIN, 0};
  if (poll(&pfd, 1, FS_WAIT_MS) != 1) {
    fail(s, "no connection within %d ms", FS_WAIT_MS);
    return;
  }
  s->fd = accept(s->lfd, NULL, NULL);
  if (s->fd < 0) {
    fail(s, "accept: %s", strerror(errno));
    return;
  }
  struct timeval tv = {FS_WAIT_MS / 1000, 0};
  setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  for (const fs_step *st = s->script; st->op != FS_OP_DONE && !s->failed; st++) {
    switch (st->op) {
    case FS_OP_SEND:
      do_send(s, st->s, 1);
      break;
    case FS_OP_SEND_RAW:
      do_send(s, st->s, 0);
      break;
    case FS_OP_EXPECT:
    case FS_OP_EXPECT_EXACT:
      do_expect(s, st->s, st->op == FS_OP_EXPECT_EXACT);
      break;
    case FS_OP_EXPECT_LINE:
      do_expect_line(s, st->s);
      break;
    case FS_OP_EXPECT_LIT:
      do_expect_lit(s, st->n);
      break;
    case FS_OP_STALL:
      sleep_ms((unsigned)st->n);
      break;
    case FS_OP_GARBAGE: {
      char *g = malloc(st->n);
      if (!g) break;
      for (size_t i = 0; i < st->n; i++)
        g[i] = (char)(i == 0 ? 0 : (i * 131 + 7) & 0xff);
      raw_write(s, g, st->n);
      free(g);
      break;
    }
    case FS_OP_TLS:
      do_tls(s, st->s);
      break;
    case FS_OP_QUIET: {
      struct pollfd q = {s->fd, POLLIN, 0};
      if (s->rx_n > s->rx_pos || (s->ssl && SSL_pending(s->ssl) > 0) ||
          poll(&q, 1, (int)st->n) != 0)
        fail(s, "the client sent something within %zu ms where it had to wait", st->n);
      break;
    }
    case FS_OP_WAIT_EOF: {
      ssize_t r;
      while ((r = fill(s)) > 0) {
      }
      if (r < 0) fail(s, "client did not close");
      break;
    }
    case FS_OP_RESET: {
      struct linger lg = {1, 0};
      setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      close(s->fd);
      s->fd = -1;
      return;
    }
    case FS_OP_CLOSE:
    case FS_OP_DONE:
      goto out;
    }
  }
out:
  if (s->ssl) SSL_shutdown(s->ssl);
  close(s->fd);
  s->fd = -1;
}

fs *fs_start(const fs_step *script) {
  fs *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->script = script;
  s->fd = -1;
  s->lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      listen(s->lfd, 4) != 0 || getsockname(s->lfd, (struct sockaddr *)&sa, &len) != 0) {
    if (s->lfd >= 0) close(s->lfd);
    free(s);
    return NULL;
  }
  s->port = ntohs(sa.sin_port);
  if (uv_thread_create(&s->thread, run, s) != 0) {
    close(s->lfd);
    free(s);
    return NULL;
  }
  return s;
}

uint16_t fs_port(const fs *s) {
  return s->port;
}

int fs_wait(fs *s) {
  if (s->thread) {
    uv_thread_join(&s->thread);
    s->thread = 0;
  }
  return s->failed ? -1 : 0;
}

const char *fs_error(const fs *s) {
  return s->err;
}

const char *fs_received(const fs *s, size_t *n) {
  if (n) *n = s->rx_n;
  return s->rx ? s->rx : "";
}

void fs_free(fs *s) {
  if (!s) return;
  fs_wait(s);
  if (s->ssl) SSL_free(s->ssl);
  SSL_CTX_free(s->ctx);
  if (s->fd >= 0) close(s->fd);
  close(s->lfd);
  free(s->rx);
  free(s);
}

int fs_make_certs(const char *dir) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "set -e; cd '%s'; "
           "K='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'; "
           "openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj '/CN=natidle test CA' "
           "  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign; "
           "openssl req -x509 $K -keyout other-ca.key -out other-ca.pem -days 2 "
           "  -subj '/CN=natidle other CA' -addext basicConstraints=critical,CA:TRUE "
           "  -addext keyUsage=keyCertSign,cRLSign; "
           "mk() { openssl req -new $K -keyout $1.key -out $1.csr -subj \"/CN=$2\"; "
           "  printf 'subjectAltName=%%s\\nbasicConstraints=CA:FALSE\\n' \"$3\" > $1.ext; "
           "  openssl x509 -req -in $1.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
           "    -out $1.pem -days 2 -extfile $1.ext; }; "
           "mk server localhost IP:127.0.0.1,DNS:localhost; "
           "mk wrongname wrong-name.invalid DNS:wrong-name.invalid",
           dir);
  char path[1024];
  snprintf(path, sizeof path, "%s/mkcerts.sh", dir);
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fprintf(f, "%s\n", cmd);
  fclose(f);
  char run_cmd[1100];
  snprintf(run_cmd, sizeof run_cmd, "bash '%s' >/dev/null 2>&1", path);
  return system(run_cmd) == 0 ? 0 : -1;
}
