/*
 * imap/command.c - builds IMAP commands as chunks ready to send.
 *
 * A command is a list of chunks, each a NUL-terminated buffer.  A new chunk
 * starts after every synchronizing literal announcement "{n}\r\n", because
 * the sender must wait for the server's "+" before sending the literal's
 * bytes (RFC 3501 section 7.5).  With LITERAL+ the announcement is "{n+}" and
 * everything stays in one chunk.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret.h"
#include "natidle/imap.h"

/* Strings longer than this go as literals even when they could be atoms or
 * quoted:
 * servers limit line length, and a literal never counts against it. */
#define NI_CMD_MAX_QUOTED 1024

typedef struct chunk {
  char *p;
  size_t n, cap;
  int sync; /* must wait for "+" before sending */
} chunk;

struct ni_cmd {
  chunk *ch;
  size_t nch, chcap;
  int plus;
  int secret;
  int finished;
};

static int chunk_new(ni_cmd *c, int sync) {
  if (c->nch == c->chcap) {
    size_t ncap = c->chcap ? c->chcap * 2 : 4;
    chunk *nc = realloc(c->ch, ncap * sizeof(*nc));
    if (nc == NULL) return -ENOMEM;
    c->ch = nc;
    c->chcap = ncap;
  }
  c->ch[c->nch].p = malloc(64);
  if (c->ch[c->nch].p == NULL) return -ENOMEM;
  c->ch[c->nch].p[0] = '\0';
  c->ch[c->nch].n = 0;
  c->ch[c->nch].cap = 64;
  c->ch[c->nch].sync = sync;
  c->nch++;
  return 0;
}

/* Append to the last chunk.  The old buffer is wiped rather than realloc'd
 * so no copy of a password is left behind in freed memory. */
static int put(ni_cmd *c, const char *s, size_t n) {
  chunk *k = &c->ch[c->nch - 1];
  if (n >= k->cap - k->n) {
    size_t ncap = k->cap;
    char *np;
    while (ncap - k->n <= n) {
      if (ncap > SIZE_MAX / 2) return -ENOMEM;
      ncap *= 2;
    }
    np = malloc(ncap);
    if (np == NULL) return -ENOMEM;
    memcpy(np, k->p, k->n);
    ni__wipe(k->p, k->cap);
    free(k->p);
    k->p = np;
    k->cap = ncap;
  }
  memcpy(k->p + k->n, s, n);
  k->n += n;
  k->p[k->n] = '\0';
  return 0;
}

/* RFC 3501 section 9: ATOM-CHAR = <any CHAR except atom-specials>. */
static int is_atom_char(unsigned char ch) {
  if (ch <= 0x1f || ch >= 0x7f) return 0;
  return strchr("(){ %*\"\\]", ch) == NULL;
}

ni_cmd *ni_cmd_new(const char *verb) {
  ni_cmd *c;
  size_t i, n = strlen(verb);
  /* The verb is atoms separated by single spaces: no leading, trailing or
   * double space. */
  if (n == 0 || verb[0] == ' ' || verb[n - 1] == ' ') return NULL;
  for (i = 0; i < n; i++) {
    if (verb[i] == ' ' ? verb[i + 1] == ' ' : !is_atom_char((unsigned char)verb[i])) return NULL;
  }
  c = calloc(1, sizeof(*c));
  if (c == NULL) return NULL;
  if (chunk_new(c, 0) < 0 || put(c, verb, n) < 0) {
    ni_cmd_free(c);
    return NULL;
  }
  return c;
}

void ni_cmd_free(ni_cmd *c) {
  size_t i;
  if (c == NULL) return;
  for (i = 0; i < c->nch; i++) {
    ni__wipe(c->ch[i].p, c->ch[i].cap);
    free(c->ch[i].p);
  }
  free(c->ch);
  free(c);
}

void ni_cmd_literal_plus(ni_cmd *c, int on) {
  c->plus = on != 0;
}

void ni_cmd_secret(ni_cmd *c) {
  c->secret = 1;
}

int ni_cmd_is_secret(const ni_cmd *c) {
  return c->secret;
}

int ni_cmd_atom(ni_cmd *c, const char *atom) {
  size_t n = strlen(atom);
  int rc;
  if (c->finished || n == 0 || strpbrk(atom, "\r\n") != NULL) return NI_EUSAGE;
  if ((rc = put(c, " ", 1)) < 0) return rc;
  return put(c, atom, n);
}

/* RFC 3501 section 4.3: literal = "{" number "}" CRLF *CHAR8, and RFC 7888
 * section 3: literal+ announces "{" number "+}" and needs no continuation.
 * The caller has checked that data holds no NUL (CHAR8 excludes it). */
static int add_literal(ni_cmd *c, const char *data, size_t n) {
  char hdr[48];
  int rc, k = snprintf(hdr, sizeof(hdr), " {%zu%s}\r\n", n, c->plus ? "+" : "");
  if ((rc = put(c, hdr, (size_t)k)) < 0) return rc;
  if (!c->plus && (rc = chunk_new(c, 1)) < 0) return rc;
  return put(c, data, n);
}

int ni_cmd_string(ni_cmd *c, const char *s, size_t n) {
  size_t i, esc = 0;
  int atom = n > 0 && n <= NI_CMD_MAX_QUOTED, quotable = n <= NI_CMD_MAX_QUOTED, rc;
  if (c->finished || (n > 0 && memchr(s, '\0', n) != NULL)) return NI_EUSAGE;
  for (i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (!is_atom_char(ch)) atom = 0;
    if (ch < 0x20 || ch > 0x7e) quotable = 0;
    if (ch == '"' || ch == '\\') esc++;
  }
  /* "NIL" as an atom would read as the NIL token, not a string. */
  if (n == 3 && (s[0] | 0x20) == 'n' && (s[1] | 0x20) == 'i' && (s[2] | 0x20) == 'l') atom = 0;
  if (atom) {
    if ((rc = put(c, " ", 1)) < 0) return rc;
    return put(c, s, n);
  }
  if (quotable) {
    /* RFC 3501 section 9: quoted = DQUOTE *QUOTED-CHAR DQUOTE, with
     * quoted-specials escaped by a backslash. */
    size_t start = 0;
    if ((rc = put(c, " \"", 2)) < 0) return rc;
    for (i = 0; i < n && esc > 0; i++) {
      if (s[i] == '"' || s[i] == '\\') {
        if ((rc = put(c, s + start, i - start)) < 0 || (rc = put(c, "\\", 1)) < 0) return rc;
        start = i;
      }
    }
    if ((rc = put(c, s + start, n - start)) < 0) return rc;
    return put(c, "\"", 1);
  }
  return add_literal(c, s, n);
}

/* Decode one UTF-8 sequence at s[0..n) into *cp.  Returns its length, or 0
 * when it is not valid UTF-8 (overlong forms, surrogates and code points
 * above U+10FFFF are invalid, RFC 3629 section 3). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
  size_t len, i;
  uint32_t v, min;
  if (s[0] < 0x80) {
    *cp = s[0];
    return 1;
  }
  if (s[0] >= 0xc2 && s[0] <= 0xdf) {
    len = 2, v = s[0] & 0x1fu, min = 0x80;
  } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
    len = 3, v = s[0] & 0x0fu, min = 0x800;
  } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
    len = 4, v = s[0] & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    v = v << 6 | (s[i] & 0x3fu);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return len;
}

static int is_printable_ascii(unsigned char ch) {
  return ch >= 0x20 && ch <= 0x7e;
}

/* RFC 3501 section 5.1.3: modified UTF-7.  Printable ASCII stands for
 * itself except "&", written "&-"; any other run of characters is written
 * as "&", the modified base64 (with "," for "/", no padding) of their
 * UTF-16BE form, and "-".  out must hold 5 * n + 2 bytes: a lone
 * non-printable byte becomes five ("&" + 3 base64 + "-").  Returns the
 * output length in *outn, or NI_EUSAGE for invalid UTF-8 or NUL. */
static int mutf7_encode(const unsigned char *in, size_t n, char *out, size_t *outn) {
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
  size_t i = 0, o = 0;
  while (i < n) {
    uint32_t bits = 0;
    unsigned nbits = 0;
    if (is_printable_ascii(in[i])) {
      out[o++] = (char)in[i];
      if (in[i++] == '&') out[o++] = '-';
      continue;
    }
    out[o++] = '&';
    while (i < n && !is_printable_ascii(in[i])) {
      uint32_t cp, units[2];
      size_t k = utf8_next(in + i, n - i, &cp), u, nu = 1;
      if (k == 0 || cp == 0) return NI_EUSAGE;
      i += k;
      units[0] = cp;
      if (cp >= 0x10000) { /* a surrogate pair */
        units[0] = 0xd800 + ((cp - 0x10000) >> 10);
        units[1] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
        nu = 2;
      }
      for (u = 0; u < nu; u++) {
        bits = (bits << 16) | units[u];
        nbits += 16;
        while (nbits >= 6) {
          nbits -= 6;
          out[o++] = b64[(bits >> nbits) & 0x3f];
        }
        bits &= (1u << nbits) - 1;
      }
    }
    if (nbits > 0) out[o++] = b64[(bits << (6 - nbits)) & 0x3f];
    out[o++] = '-';
  }
  *outn = o;
  return 0;
}

int ni_cmd_mailbox(ni_cmd *c, const char *name, size_t n, int utf8_ok) {
  const unsigned char *u = (const unsigned char *)name;
  size_t i, k, outn;
  uint32_t cp;
  char *out;
  int rc;
  if (c->finished) return NI_EUSAGE;
  if (utf8_ok) {
    for (i = 0; i < n; i += k)
      if ((k = utf8_next(u + i, n - i, &cp)) == 0) return NI_EUSAGE;
    return ni_cmd_string(c, name, n);
  }
  if (n > (SIZE_MAX - 2) / 5) return -ENOMEM;
  out = malloc(5 * n + 2);
  if (out == NULL) return -ENOMEM;
  rc = mutf7_encode(u, n, out, &outn);
  if (rc == 0) rc = ni_cmd_string(c, out, outn);
  free(out);
  return rc;
}

int ni_cmd_literal(ni_cmd *c, const char *data, size_t n) {
  if (c->finished || (n > 0 && memchr(data, '\0', n) != NULL)) return NI_EUSAGE;
  return add_literal(c, data, n);
}

int ni_cmd_finish(ni_cmd *c) {
  int rc;
  if (c->finished) return NI_EUSAGE;
  if ((rc = put(c, "\r\n", 2)) < 0) return rc;
  c->finished = 1;
  return 0;
}

size_t ni_cmd_nchunks(const ni_cmd *c) {
  return c->nch;
}

ni_str ni_cmd_chunk(const ni_cmd *c, size_t i) {
  ni_str s = {"", 0};
  if (i < c->nch) {
    s.p = c->ch[i].p;
    s.n = c->ch[i].n;
  }
  return s;
}

int ni_cmd_chunk_needs_continuation(const ni_cmd *c, size_t i) {
  return i < c->nch && c->ch[i].sync;
}
