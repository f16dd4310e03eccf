/*
 * imap/parser.c - incremental IMAP response parser (RFC 3501, RFC 9051):
 * the parser object and framing, bytes in and whole responses out.
 *
 * Parsing happens in two steps.  Framing (ni_parser_feed, here) copies bytes
 * into a buffer until one whole response is there: lines end in CRLF (or a
 * bare LF, which some servers send), and a line that ends in a literal
 * announcement "{n}" is followed by n literal bytes and then more lines.
 * Framing enforces every size limit before it stores a byte, so memory never
 * grows past max_response whatever the peer announces.  Then the grammar step
 * (ni__parse_response, imap/parser_resp.c) walks the complete response once
 * and fills an ni_resp.  Splitting the two keeps the grammar code free of
 * "need more bytes" states: any split of the input gives the same responses
 * by construction.
 *
 * Every string handed out is copied, NUL-terminated, into a per-response arena
 * (imap/parser_value.c) because slices of the raw bytes cannot be
 * NUL-terminated in place.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "imap/parser_internal.h"

enum { ST_LINE, ST_CR, ST_LITERAL };

void ni_parser_limits_default(ni_parser_limits *l) {
  l->max_line = NI_PARSER_DEFAULT_MAX_LINE;
  l->max_literal = NI_PARSER_DEFAULT_MAX_LITERAL;
  l->max_response = NI_PARSER_DEFAULT_MAX_RESPONSE;
  l->max_depth = NI_PARSER_DEFAULT_MAX_DEPTH;
}

ni_parser *ni_parser_new(const ni_parser_limits *limits) {
  ni_parser *p = calloc(1, sizeof(*p));
  if (p == NULL) return NULL;
  ni_parser_limits_default(&p->lim);
  if (limits != NULL) {
    if (limits->max_line) p->lim.max_line = limits->max_line;
    if (limits->max_literal) p->lim.max_literal = limits->max_literal;
    if (limits->max_response) p->lim.max_response = limits->max_response;
    if (limits->max_depth) p->lim.max_depth = limits->max_depth;
  }
  /* buf always keeps one spare byte for the terminating NUL, so the
   * response size must leave room for it. */
  if (p->lim.max_response == SIZE_MAX) p->lim.max_response--;
  p->errstr = "";
  return p;
}

void ni_parser_free(ni_parser *p) {
  if (p == NULL) return;
  free(p->buf);
  free(p->arena);
  free(p);
}

void ni_parser_reset(ni_parser *p) {
  p->len = 0;
  p->line_start = 0;
  p->state = ST_LINE;
  p->lit_left = 0;
  p->eol = 0;
  p->done = 0;
  p->err = 0;
  p->errstr = "";
  p->alen = 0;
  p->nfix = 0;
}

const char *ni_parser_errstr(const ni_parser *p) {
  return p->errstr;
}

size_t ni_parser_buffered(const ni_parser *p) {
  return p->done ? 0 : p->len;
}

/* ---- shared with the grammar -------------------------------------------- */

int ni__parser_set_err(ni_parser *p, int err, const char *msg) {
  p->err = err;
  p->errstr = msg;
  return err;
}

/* Make room for need bytes in *mem, doubling the capacity but never beyond
 * max, so a buffer is never larger than its limit allows (callers check
 * need <= max).  Returns 0 or -ENOMEM. */
int ni__parser_grow(char **mem, size_t *cap, size_t need, size_t max) {
  size_t ncap = *cap ? *cap : 256;
  char *nm;
  if (need <= *cap) return 0;
  while (ncap < need)
    ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
  if (ncap > max) ncap = max;
  if (ncap < need) ncap = need;
  nm = realloc(*mem, ncap);
  if (nm == NULL) return -ENOMEM;
  *mem = nm;
  *cap = ncap;
  return 0;
}

/* ---- framing ------------------------------------------------------------ */

/* Store k bytes and keep room for a NUL after them; the caller has checked
 * the limits, so len + k <= max_response. */
static int buf_append(ni_parser *p, const char *b, size_t k) {
  if (ni__parser_grow(&p->buf, &p->cap, p->len + k + 1, p->lim.max_response + 1) < 0)
    return ni__parser_set_err(p, -ENOMEM, "out of memory");
  memcpy(p->buf + p->len, b, k);
  p->len += k;
  return 0;
}

/* Store k bytes of a line, after checking the line and response limits.  The
 * check finds the error the first offending byte would raise, so feeding the
 * same bytes in other splits gives the same error. */
static int line_append(ni_parser *p, const char *b, size_t k) {
  size_t ll = p->lim.max_line - (p->len - p->line_start);
  size_t rl = p->lim.max_response - p->len;
  if (k > ll || k > rl) {
    if (ll <= rl) return ni__parser_set_err(p, NI_ELIMIT, "line too long");
    return ni__parser_set_err(p, NI_ELIMIT, "response too large");
  }
  return buf_append(p, b, k);
}

/* RFC 3501 section 4.3 / RFC 9051 section 4.3: literal = "{" number64 ["+"]
 * "}" CRLF *CHAR8, and literal8 = "~{" number64 "}" CRLF *OCTET.  A line
 * whose last token is such an announcement continues with the literal's
 * bytes.  Returns 1 and the length in *n when the line just completed ends
 * in one, 0 when it does not, <0 on a limit error. */
static int line_literal(ni_parser *p, size_t *n) {
  const char *s = p->buf + p->line_start;
  size_t e = p->len - p->line_start - p->eol; /* line length without its end */
  size_t j, d, v = 0;
  if (e < 3 || s[e - 1] != '}') return 0;
  j = e - 1;
  if (s[j - 1] == '+') j--;
  d = j;
  while (d > 0 && ni__is_digit((unsigned char)s[d - 1]))
    d--;
  if (d == j || d < 2 || s[d - 1] != '{') return 0;
  /* The brace must start a token: after SP, "(" or the "~" of literal8. */
  if (s[d - 2] == '~') {
    if (d < 3 || (s[d - 3] != ' ' && s[d - 3] != '(')) return 0;
  } else if (s[d - 2] != ' ' && s[d - 2] != '(') {
    return 0;
  }
  for (; d < j; d++) {
    size_t dig = (size_t)(s[d] - '0');
    if (v > (SIZE_MAX - dig) / 10 || v * 10 + dig > p->lim.max_literal)
      return ni__parser_set_err(p, NI_ELIMIT, "literal too large");
    v = v * 10 + dig;
  }
  if (v > p->lim.max_response - p->len)
    return ni__parser_set_err(p, NI_ELIMIT, "response too large");
  *n = v;
  return 1;
}

/* A line just ended (its CRLF or LF is stored, eol says which).  Either a
 * literal follows, or the response is complete and parsed.  Returns 1 when
 * the response is complete, 0 when more bytes belong to it, <0 on error. */
static int line_end(ni_parser *p, size_t eol) {
  size_t n;
  int rc;
  p->eol = eol;
  p->state = ST_LINE;
  rc = line_literal(p, &n);
  if (rc < 0) return rc;
  if (rc == 1) {
    p->line_start = p->len;
    if (n > 0) {
      p->state = ST_LITERAL;
      p->lit_left = n;
    }
    return 0;
  }
  if ((rc = ni__parse_response(p)) < 0) return rc;
  p->done = 1;
  p->line_start = 0;
  return 1;
}

int ni_parser_feed(ni_parser *p, const char *buf, size_t len, size_t *consumed, ni_resp *out) {
  size_t used = 0;
  int rc;
  *consumed = 0;
  if (p->err) return p->err;
  if (p->done) {
    p->len = 0;
    p->line_start = 0;
    p->done = 0;
  }
  while (used < len) {
    if (p->state == ST_LITERAL) {
      /* A literal's bytes are counted, never scanned: CR, LF and NUL in
       * them are data. */
      size_t k = len - used < p->lit_left ? len - used : p->lit_left;
      if ((rc = buf_append(p, buf + used, k)) < 0) goto fail;
      used += k;
      p->lit_left -= k;
      if (p->lit_left == 0) {
        p->state = ST_LINE;
        p->line_start = p->len;
      }
      continue;
    }
    if (p->state == ST_CR) {
      if (buf[used] != '\n') {
        rc = ni__parser_set_err(p, NI_EPARSE, "CR not followed by LF");
        goto fail;
      }
      if ((rc = line_append(p, "\n", 1)) < 0) goto fail;
      used++;
      rc = line_end(p, 2);
    } else {
      /* ST_LINE: store the run of ordinary bytes, then deal with the byte
       * that ended it. */
      size_t k = 0;
      while (used + k < len && buf[used + k] != '\r' && buf[used + k] != '\n' &&
             buf[used + k] != '\0')
        k++;
      if (k > 0) {
        if ((rc = line_append(p, buf + used, k)) < 0) goto fail;
        used += k;
        continue;
      }
      if (buf[used] == '\0') {
        rc = ni__parser_set_err(p, NI_EPARSE, "NUL byte outside a literal");
        goto fail;
      }
      if ((rc = line_append(p, buf + used, 1)) < 0) goto fail;
      used++;
      if (buf[used - 1] == '\r') {
        p->state = ST_CR;
        continue;
      }
      /* A bare LF outside a literal ends the line as CRLF would: some
       * servers send one (seen after AUTHENTICATE).  It is decided from this
       * byte alone, so every split of the input frames alike. */
      rc = line_end(p, 1);
    }
    if (rc < 0) goto fail;
    if (rc == 1) {
      *out = p->resp;
      *consumed = used;
      return 1;
    }
  }
  *consumed = used;
  return 0;
fail:
  *consumed = used;
  return rc;
}
