/*
 * imap/tls.c - OpenSSL behind a small read/write interface.
 *
 * The session never touches a socket.  Ciphertext from the network is lent
 * to it (ni__tls_set_input), and ciphertext to send is collected in a buffer
 * the connection takes and writes (ni__tls_take_output).  A custom BIO does
 * this instead of memory BIOs because memory BIOs keep their largest buffer
 * for the life of the session, and an idle IMAP session must stay small:
 * with SSL_MODE_RELEASE_BUFFERS and this BIO, an idle session holds no
 * record buffers at all.
 *
 * SSL_CTX objects are shared by all sessions that trust the same CA file (or
 * the system store): loading a CA store costs far more memory than a session,
 * and parallel probe sessions would otherwise each hold a copy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "imap/conn_internal.h"

struct ni__tls {
  SSL *ssl;
  BIO *bio;
  struct ctx_entry *ctx;
  const char *in; /* borrowed ciphertext not yet consumed */
  size_t in_n;
  char *out; /* ciphertext waiting to be sent */
  size_t out_n, out_cap;
  char host[256]; /* for error messages */
};

/* One shared SSL_CTX per CA source, reference-counted. */
struct ctx_entry {
  struct ctx_entry *next;
  char *ca_file; /* NULL = system store */
  SSL_CTX *ctx;
  unsigned refs;
};

static uv_once_t g_once = UV_ONCE_INIT;
static uv_mutex_t g_lock;
static struct ctx_entry *g_ctxs;
static BIO_METHOD *g_bio_meth;

static int bio_write(BIO *b, const char *in, int len) {
  struct ni__tls *t = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (len <= 0) return 0;
  size_t n = (size_t)len;
  if (n > t->out_cap - t->out_n) {
    size_t cap = t->out_cap ? t->out_cap : 4096;
    while (cap - t->out_n < n)
      cap *= 2;
    char *p = realloc(t->out, cap);
    if (!p) return -1;
    t->out = p;
    t->out_cap = cap;
  }
  memcpy(t->out + t->out_n, in, n);
  t->out_n += n;
  return len;
}

static int bio_read(BIO *b, char *out, int len) {
  struct ni__tls *t = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (len <= 0) return 0;
  if (t->in_n == 0) {
    /* Nothing lent right now: tell OpenSSL to come back later. */
    BIO_set_retry_read(b);
    return -1;
  }
  size_t n = (size_t)len < t->in_n ? (size_t)len : t->in_n;
  memcpy(out, t->in, n);
  t->in += n;
  t->in_n -= n;
  return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b;
  (void)num;
  (void)ptr;
  /* Flush is a no-op: the connection sends the output buffer after every
   * call into OpenSSL.  Everything else is unsupported. */
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static void tls_global_init(void) {
  uv_mutex_init(&g_lock);
  g_bio_meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "natidle");
  if (g_bio_meth) {
    BIO_meth_set_write(g_bio_meth, bio_write);
    BIO_meth_set_read(g_bio_meth, bio_read);
    BIO_meth_set_ctrl(g_bio_meth, bio_ctrl);
    BIO_meth_set_create(g_bio_meth, bio_create);
  }
}

/* Describe the first queued OpenSSL error (and clear the queue). */
static void ssl_errtext(char *err, size_t errlen, const char *what) {
  unsigned long e = ERR_get_error();
  char buf[200] = "unknown error";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  snprintf(err, errlen, "%s: %s", what, buf);
}

static struct ctx_entry *ctx_get(const char *ca_file, char *err, size_t errlen) {
  uv_mutex_lock(&g_lock);
  struct ctx_entry *e;
  for (e = g_ctxs; e; e = e->next) {
    if ((!e->ca_file && !ca_file) || (e->ca_file && ca_file && !strcmp(e->ca_file, ca_file))) {
      e->refs++;
      uv_mutex_unlock(&g_lock);
      return e;
    }
  }
  e = calloc(1, sizeof *e);
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!e || !ctx || (ca_file && !(e->ca_file = strdup(ca_file)))) {
    snprintf(err, errlen, "TLS setup: out of memory");
    goto fail;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* Idle sessions give their record buffers back (the goal is well under
   * 64 KiB per idle session). */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  /* Sessions are not resumed: each connection is its own measurement. */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                   : SSL_CTX_set_default_verify_paths(ctx);
  if (ok != 1) {
    char what[300];
    snprintf(what, sizeof what, "cannot load CA %s", ca_file ? ca_file : "store");
    ssl_errtext(err, errlen, what);
    goto fail;
  }
  e->ctx = ctx;
  e->refs = 1;
  e->next = g_ctxs;
  g_ctxs = e;
  uv_mutex_unlock(&g_lock);
  return e;
fail:
  SSL_CTX_free(ctx);
  if (e) free(e->ca_file);
  free(e);
  uv_mutex_unlock(&g_lock);
  return NULL;
}

static void ctx_put(struct ctx_entry *e) {
  uv_mutex_lock(&g_lock);
  if (--e->refs == 0) {
    struct ctx_entry **pp = &g_ctxs;
    while (*pp != e)
      pp = &(*pp)->next;
    *pp = e->next;
    SSL_CTX_free(e->ctx);
    free(e->ca_file);
    free(e);
  }
  uv_mutex_unlock(&g_lock);
}

/* Preloaded contexts hold one reference each, dropped by ni_tls_unload_ca. */
struct preload {
  struct ctx_entry *e;
  struct preload *next;
};
static struct preload *g_preloads; /* guarded by g_lock */

int ni_tls_preload_ca(const char *ca_file, char *err, size_t errlen) {
  uv_once(&g_once, tls_global_init);
  struct preload *pl = calloc(1, sizeof *pl);
  if (!pl) {
    snprintf(err, errlen, "TLS setup: out of memory");
    return NI_ETLS;
  }
  pl->e = ctx_get(ca_file, err, errlen);
  if (!pl->e) {
    free(pl);
    return NI_ETLS;
  }
  uv_mutex_lock(&g_lock);
  pl->next = g_preloads;
  g_preloads = pl;
  uv_mutex_unlock(&g_lock);
  return 0;
}

void ni_tls_unload_ca(const char *ca_file) {
  uv_once(&g_once, tls_global_init);
  struct preload *found = NULL;
  uv_mutex_lock(&g_lock);
  for (struct preload **pp = &g_preloads; *pp; pp = &(*pp)->next) {
    const char *have = (*pp)->e->ca_file;
    if ((!have && !ca_file) || (have && ca_file && !strcmp(have, ca_file))) {
      found = *pp;
      *pp = found->next;
      break;
    }
  }
  uv_mutex_unlock(&g_lock);
  if (found) {
    ctx_put(found->e);
    free(found);
  }
}

static int is_ip_literal(const char *host) {
  unsigned char buf[16];
  return uv_inet_pton(AF_INET, host, buf) == 0 || uv_inet_pton(AF_INET6, host, buf) == 0;
}

int ni__tls_new(ni__tls **out, const char *host, const char *ca_file, int insecure, char *err,
                size_t errlen) {
  uv_once(&g_once, tls_global_init);
  *out = NULL;
  if (!g_bio_meth) {
    snprintf(err, errlen, "TLS setup: out of memory");
    return NI_ETLS;
  }
  ni__tls *t = calloc(1, sizeof *t);
  if (!t) {
    snprintf(err, errlen, "TLS setup: out of memory");
    return -ENOMEM;
  }
  snprintf(t->host, sizeof t->host, "%s", host);
  t->ctx = ctx_get(ca_file, err, errlen);
  if (!t->ctx) {
    free(t);
    return NI_ETLS;
  }
  t->ssl = SSL_new(t->ctx->ctx);
  t->bio = BIO_new(g_bio_meth);
  if (!t->ssl || !t->bio) {
    ssl_errtext(err, errlen, "TLS setup");
    BIO_free(t->bio);
    ni__tls_free(t);
    return NI_ETLS;
  }
  BIO_set_data(t->bio, t);
  SSL_set_bio(t->ssl, t->bio, t->bio); /* the SSL owns the BIO from here */
  SSL_set_connect_state(t->ssl);
  int ip = is_ip_literal(host);
  /* SNI carries host names only (RFC 6066 3). */
  if (!ip && SSL_set_tlsext_host_name(t->ssl, host) != 1) {
    ssl_errtext(err, errlen, "TLS setup (SNI)");
    ni__tls_free(t);
    return NI_ETLS;
  }
  if (insecure) {
    SSL_set_verify(t->ssl, SSL_VERIFY_NONE, NULL);
  } else {
    X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
    int ok;
    if (ip) {
      ok = X509_VERIFY_PARAM_set1_ip_asc(vp, host);
    } else {
      X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = X509_VERIFY_PARAM_set1_host(vp, host, 0);
    }
    if (ok != 1) {
      ssl_errtext(err, errlen, "TLS setup (host check)");
      ni__tls_free(t);
      return NI_ETLS;
    }
    SSL_set_verify(t->ssl, SSL_VERIFY_PEER, NULL);
  }
  *out = t;
  return 0;
}

void ni__tls_free(ni__tls *t) {
  if (!t) return;
  SSL_free(t->ssl);
  if (t->ctx) ctx_put(t->ctx);
  free(t->out);
  free(t);
}

void ni__tls_set_input(ni__tls *t, const char *p, size_t n) {
  t->in = p;
  t->in_n = n;
}

size_t ni__tls_input_left(const ni__tls *t) {
  return t->in_n;
}

int ni__tls_handshake(ni__tls *t, char *err, size_t errlen) {
  ERR_clear_error();
  int r = SSL_do_handshake(t->ssl);
  if (r == 1) return 1;
  int e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  long v = SSL_get_verify_result(t->ssl);
  if (v != X509_V_OK) {
    ERR_clear_error();
    snprintf(err, errlen, "certificate verify failed: %s (host %s)",
             X509_verify_cert_error_string(v), t->host);
    return NI_ECERT;
  }
  if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN) {
    /* Our BIO never fails, so this means the input made no sense. */
    snprintf(err, errlen, "TLS handshake failed (host %s)", t->host);
    ERR_clear_error();
    return NI_ETLS;
  }
  char what[300];
  snprintf(what, sizeof what, "TLS handshake failed (host %s)", t->host);
  ssl_errtext(err, errlen, what);
  return NI_ETLS;
}

int ni__tls_read(ni__tls *t, char *buf, size_t cap, char *err, size_t errlen) {
  ERR_clear_error();
  int r = SSL_read(t->ssl, buf, cap > 65536 ? 65536 : (int)cap);
  if (r > 0) return r;
  int e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  if (e == SSL_ERROR_ZERO_RETURN) return NI_ECLOSED;
  ssl_errtext(err, errlen, "TLS read");
  return NI_ETLS;
}

int ni__tls_write(ni__tls *t, const char *p, size_t n, char *err, size_t errlen) {
  while (n > 0) {
    ERR_clear_error();
    int chunk = n > 65536 ? 65536 : (int)n;
    int r = SSL_write(t->ssl, p, chunk);
    if (r <= 0) {
      ssl_errtext(err, errlen, "TLS write");
      return NI_ETLS;
    }
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

char *ni__tls_take_output(ni__tls *t, size_t *n) {
  char *p = t->out;
  *n = t->out_n;
  if (!p || t->out_n == 0) {
    *n = 0;
    return NULL;
  }
  t->out = NULL;
  t->out_n = t->out_cap = 0;
  return p;
}
