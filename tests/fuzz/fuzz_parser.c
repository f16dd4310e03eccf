/* libFuzzer target for the IMAP response parser.
 *
 * The first four bytes choose small limits and the seed of the split
 * pattern; the rest is the byte stream.  The stream is fed whole, then in
 * pieces whose sizes come from the seed, then one byte at a time; all three
 * must give the same responses and the same error.  Every response is also
 * checked against the ni_str invariants and the limits.
 *
 * Bare LF line ends: when the stream parses without error, it is framed once
 * more here, independently of the parser, and every CRLF that ends a line
 * (never one inside a literal's counted bytes) becomes a bare LF.  That
 * stream must give the same responses, fields compared with CRLF read as LF
 * and raw left out, since raw keeps the line ends as received. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/sasl.h"
#include "natidle/imap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fold one string into a running FNV-1a hash, length first so that field
 * boundaries count. */
static uint64_t fold(uint64_t h, const ni_str *s) {
  size_t i;
  if (s->p == NULL || s->p[s->n] != '\0') abort();
  for (i = 0; i < sizeof(s->n); i++)
    h = (h ^ ((s->n >> (8 * i)) & 0xff)) * 1099511628211u;
  for (i = 0; i < s->n; i++)
    h = (h ^ (unsigned char)s->p[i]) * 1099511628211u;
  return h;
}

/* fold() of s with every CRLF read as LF. */
static uint64_t fold_lf(uint64_t h, const ni_str *s) {
  size_t i, n = 0;
  if (s->p == NULL || s->p[s->n] != '\0') abort();
  for (i = 0; i < s->n; i++)
    n += !(s->p[i] == '\r' && i + 1 < s->n && s->p[i + 1] == '\n');
  for (i = 0; i < sizeof(n); i++)
    h = (h ^ ((n >> (8 * i)) & 0xff)) * 1099511628211u;
  for (i = 0; i < s->n; i++)
    if (!(s->p[i] == '\r' && i + 1 < s->n && s->p[i + 1] == '\n'))
      h = (h ^ (unsigned char)s->p[i]) * 1099511628211u;
  return h;
}

static uint64_t fold_u(uint64_t h, uint64_t v) {
  ni_str s;
  char b[24];
  s.n = (size_t)snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
  s.p = b;
  return fold(h, &s);
}

/* Fold in what the LIST and NAMESPACE helpers read from r, and what the
 * client makes of a continuation as an OAuth2 error (base64 JSON), so they
 * are fuzzed too and must agree across splits. */
static uint64_t helpers_hash(uint64_t h, const ni_resp *r, int lf) {
  ni_namespace ns[4];
  char buf[256], d = 0;
  int kind, i, n;
  if (r->kind == NI_RESP_CONTINUE) {
    ni_str st;
    n = ni__oauth2_error_status(r->text.p, r->text.n, buf, 64);
    st.p = buf;
    st.n = strlen(buf);
    if (st.n >= 64 || (n < 0 && st.n > 0)) abort();
    for (i = 0; i < (int)st.n; i++)
      if (buf[i] < 0x20 || buf[i] > 0x7e) abort();
    return fold(fold_u(h, (uint64_t)(n + 8192)), &st);
  }
  if (r->type == NI_R_LIST) {
    h = fold_u(h, (uint64_t)(ni_list_delimiter(r, &d) + 8192));
    return fold_u(h, (unsigned char)d);
  }
  if (r->type != NI_R_NAMESPACE) return h;
  for (kind = NI_NS_PERSONAL; kind <= NI_NS_SHARED; kind++) {
    n = ni_namespace_parse(r, (ni_ns_kind)kind, ns, 4, buf, sizeof(buf));
    h = fold_u(h, (uint64_t)(n + 8192));
    for (i = 0; i < n && i < 4; i++) {
      if (ns[i].prefix.p < buf || ns[i].prefix.p + ns[i].prefix.n >= buf + sizeof(buf)) abort();
      h = lf ? fold_lf(h, &ns[i].prefix) : fold(h, &ns[i].prefix);
      h = fold_u(h, (unsigned char)ns[i].delim);
    }
  }
  return h;
}

/* lf: compare line ends loosely (CRLF read as LF) and leave raw out. */
static uint64_t resp_hash(const ni_resp *r, const ni_parser_limits *lim, int lf) {
  const ni_str *all[] = {&r->tag,
                         &r->code,
                         &r->code_arg,
                         &r->text,
                         &r->caps,
                         &r->data,
                         &r->fetch.flags,
                         &r->fetch.env_date,
                         &r->fetch.env_subject,
                         &r->fetch.env_from,
                         &r->fetch.env_message_id,
                         &r->fetch.header_section,
                         &r->fetch.header};
  uint64_t h = 14695981039346656037u;
  size_t i;
  if (r->raw.n > lim->max_response) abort();
  for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
    h = lf ? fold_lf(h, all[i]) : fold(h, all[i]);
  if (!lf) h = fold(h, &r->raw);
  h = helpers_hash(h, r, lf);
  h = fold_u(h, (uint64_t)r->kind);
  h = fold_u(h, (uint64_t)r->type);
  h = fold_u(h, r->number);
  h = fold_u(h, r->code_n1);
  h = fold_u(h, r->code_n2);
  h = fold_u(h, r->fetch.seq);
  h = fold_u(h, r->fetch.uid);
  h = fold_u(h, (uint64_t)r->fetch.has_uid);
  return fold_u(h, (uint64_t)r->fetch.has_envelope);
}

#define MAX_RESP 4096

typedef struct result {
  uint64_t h[MAX_RESP];
  size_t n;
  int err;
  const char *errstr;
} result;

/* Feed the stream in pieces: mode 0 whole, 1 one byte at a time, 2 sizes
 * drawn from a small generator seeded by seed, 3 whole with responses hashed
 * for the LF comparison. */
static void feed(const ni_parser_limits *lim, const uint8_t *s, size_t len, int mode, uint32_t seed,
                 result *out) {
  ni_parser *p = ni_parser_new(lim);
  size_t pos = 0;
  if (p == NULL) abort();
  out->n = 0;
  out->err = 0;
  out->errstr = "";
  while (pos < len) {
    size_t piece = len - pos, used;
    if (mode == 1) {
      piece = 1;
    } else if (mode == 2) {
      seed = seed * 1664525u + 1013904223u;
      if (piece > 1 + (seed >> 24) % 32) piece = 1 + (seed >> 24) % 32;
    }
    while (piece > 0) {
      ni_resp r;
      int rc = ni_parser_feed(p, (const char *)s + pos, piece, &used, &r);
      if (used > piece) abort();
      pos += used;
      piece -= used;
      if (rc < 0) {
        size_t again;
        out->err = rc;
        out->errstr = ni_parser_errstr(p); /* a static string */
        if (ni_parser_feed(p, "\r\n", 2, &again, &r) != rc || again != 0) abort();
        ni_parser_free(p);
        return;
      }
      if (rc == 1) {
        if (out->n < MAX_RESP) out->h[out->n] = resp_hash(&r, lim, mode == 3);
        out->n++;
      } else if (rc != 0 || piece != 0) {
        abort();
      }
    }
    if (ni_parser_buffered(p) > lim->max_response) abort();
  }
  ni_parser_free(p);
}

static void same(const result *a, const result *b) {
  size_t n = a->n < MAX_RESP ? a->n : MAX_RESP;
  if (a->n != b->n || a->err != b->err || strcmp(a->errstr, b->errstr) != 0 ||
      memcmp(a->h, b->h, n * sizeof(a->h[0])) != 0)
    abort();
}

/* The length announced by a literal at the end of line s[0..e), RFC 3501
 * section 4.3 ("{" number ["+"] "}" or "~{" number "}", starting a token),
 * or -1 when the line does not end in one.  Written from the grammar, not
 * taken from the parser, so that the two can disagree. */
static long long announced(const uint8_t *s, size_t e) {
  size_t j, d;
  long long v = 0;
  if (e < 3 || s[e - 1] != '}') return -1;
  j = e - 1;
  if (s[j - 1] == '+') j--;
  for (d = j; d > 0 && s[d - 1] >= '0' && s[d - 1] <= '9'; d--)
    ;
  if (d == j || d < 2 || s[d - 1] != '{') return -1;
  if (s[d - 2] == '~' ? d < 3 || (s[d - 3] != ' ' && s[d - 3] != '(')
                      : s[d - 2] != ' ' && s[d - 2] != '(')
    return -1;
  for (; d < j; d++) {
    v = v * 10 + (s[d] - '0');
    if (v > (1 << 30)) return -1; /* the parser refused it: never compared */
  }
  return v;
}

/* in[0..len) with every CRLF that ends a line turned into LF, in out
 * (len bytes at least).  Returns the new length. */
static size_t to_lf(const uint8_t *in, size_t len, uint8_t *out) {
  size_t i = 0, o = 0;
  while (i < len) {
    const uint8_t *nl = memchr(in + i, '\n', len - i);
    size_t e, k;
    long long lit;
    if (nl == NULL) {
      memcpy(out + o, in + i, len - i);
      return o + len - i;
    }
    e = (size_t)(nl - in); /* the LF */
    k = e > i && in[e - 1] == '\r' ? e - 1 : e;
    memcpy(out + o, in + i, k - i);
    o += k - i;
    out[o++] = '\n';
    lit = announced(in + i, k - i);
    i = e + 1;
    if (lit > 0) {
      size_t n = (size_t)lit < len - i ? (size_t)lit : len - i;
      memcpy(out + o, in + i, n);
      o += n;
      i += n;
    }
  }
  return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static result whole, bytes, pieces;
  ni_parser_limits lim;
  uint32_t seed;
  if (size < 4) return 0;
  /* Small limits so the fuzzer reaches every limit quickly; the seeds start
   * with ff ff ff 07, roomy enough for a whole Dovecot session.  A zero
   * max_literal means the default. */
  lim.max_line = 8 + (size_t)data[0] * 8;
  lim.max_literal = (size_t)data[1] * 4;
  lim.max_response = 16 + (size_t)data[2] * 16;
  lim.max_depth = 1 + data[3] % 8;
  seed = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3];
  data += 4;
  size -= 4;
  feed(&lim, data, size, 0, seed, &whole);
  feed(&lim, data, size, 1, seed, &bytes);
  feed(&lim, data, size, 2, seed, &pieces);
  same(&whole, &bytes);
  same(&whole, &pieces);
  if (whole.err == 0 && size > 0) {
    static result strict, loose;
    uint8_t *lf = malloc(size);
    size_t n;
    if (lf == NULL) abort();
    n = to_lf(data, size, lf);
    feed(&lim, data, size, 3, seed, &strict);
    feed(&lim, lf, n, 3, seed, &loose);
    free(lf);
    same(&strict, &loose);
  }
  return 0;
}
