/*
 * imap/parser.c - incremental IMAP response parser (RFC 3501, RFC 9051).
 *
 * Parsing happens in two steps.  Framing (ni_parser_feed) copies bytes into a
 * buffer until one whole response is there: lines end in CRLF (or a bare LF,
 * which some servers send), and a line that ends in a literal announcement
 * "{n}" is followed by n literal bytes and then more lines.  Framing enforces every size limit before it stores a byte, so
 * memory never grows past max_response whatever the peer announces.  Then the
 * grammar step (parse_response) walks the complete response once and fills an
 * ni_resp.  Splitting the two keeps the grammar code free of "need more bytes"
 * states: any split of the input gives the same responses by construction.
 *
 * Every string handed out is copied, NUL-terminated, into a per-response arena
 * because slices of the raw bytes cannot be NUL-terminated in place.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "natidle/imap.h"

enum { ST_LINE, ST_CR, ST_LITERAL };

/* The fields of ni_resp that can be set from the arena; 16 covers all. */
#define NI_MAX_FIXUPS 16

typedef struct fixup {
  ni_str *dst;
  size_t off;
  size_t n;
} fixup;

struct ni_parser {
  ni_parser_limits lim;
  char *buf; /* the response being framed; always room for a NUL after len */
  size_t len, cap;
  size_t line_start; /* offset where the current line began */
  int state;
  size_t lit_left; /* literal bytes still expected in ST_LITERAL */
  size_t eol;      /* length of the last line end stored: 2 (CRLF) or 1 (LF) */
  int done;        /* buf holds the response handed out by the last call */
  int err;         /* sticky error, 0 when none */
  const char *errstr;
  char *arena; /* NUL-terminated copies of the response's fields */
  size_t alen, acap;
  fixup fix[NI_MAX_FIXUPS];
  unsigned nfix;
  ni_resp resp;
};

void ni_parser_limits_default(ni_parser_limits *l) {
  l->max_line = NI_PARSER_DEFAULT_MAX_LINE;
  l->max_literal = NI_PARSER_DEFAULT_MAX_LITERAL;
  l->max_response = NI_PARSER_DEFAULT_MAX_RESPONSE;
  l->max_depth = NI_PARSER_DEFAULT_MAX_DEPTH;
}

ni_parser *ni_parser_new(const ni_parser_limits *limits) {
  ni_parser *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return NULL;
  ni_parser_limits_default(&p->lim);
  if (limits != NULL) {
    if (limits->max_line)
      p->lim.max_line = limits->max_line;
    if (limits->max_literal)
      p->lim.max_literal = limits->max_literal;
    if (limits->max_response)
      p->lim.max_response = limits->max_response;
    if (limits->max_depth)
      p->lim.max_depth = limits->max_depth;
  }
  /* buf always keeps one spare byte for the terminating NUL, so the
   * response size must leave room for it. */
  if (p->lim.max_response == SIZE_MAX)
    p->lim.max_response--;
  p->errstr = "";
  return p;
}

void ni_parser_free(ni_parser *p) {
  if (p == NULL)
    return;
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

const char *ni_parser_errstr(const ni_parser *p) { return p->errstr; }

size_t ni_parser_buffered(const ni_parser *p) { return p->done ? 0 : p->len; }

static int set_err(ni_parser *p, int err, const char *msg) {
  p->err = err;
  p->errstr = msg;
  return err;
}

/* ---- framing ------------------------------------------------------------ */

/* Make room for need bytes in *mem, doubling the capacity but never beyond
 * max, so a buffer is never larger than its limit allows (callers check
 * need <= max).  Returns 0 or -ENOMEM. */
static int grow(char **mem, size_t *cap, size_t need, size_t max) {
  size_t ncap = *cap ? *cap : 256;
  char *nm;
  if (need <= *cap)
    return 0;
  while (ncap < need)
    ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
  if (ncap > max)
    ncap = max;
  if (ncap < need)
    ncap = need;
  nm = realloc(*mem, ncap);
  if (nm == NULL)
    return -ENOMEM;
  *mem = nm;
  *cap = ncap;
  return 0;
}

/* Store k bytes and keep room for a NUL after them; the caller has checked
 * the limits, so len + k <= max_response. */
static int buf_append(ni_parser *p, const char *b, size_t k) {
  if (grow(&p->buf, &p->cap, p->len + k + 1, p->lim.max_response + 1) < 0)
    return set_err(p, -ENOMEM, "out of memory");
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
    if (ll <= rl)
      return set_err(p, NI_ELIMIT, "line too long");
    return set_err(p, NI_ELIMIT, "response too large");
  }
  return buf_append(p, b, k);
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

/* RFC 3501 section 4.3 / RFC 9051 section 4.3: literal = "{" number64 ["+"]
 * "}" CRLF *CHAR8, and literal8 = "~{" number64 "}" CRLF *OCTET.  A line
 * whose last token is such an announcement continues with the literal's
 * bytes.  Returns 1 and the length in *n when the line just completed ends
 * in one, 0 when it does not, <0 on a limit error. */
static int line_literal(ni_parser *p, size_t *n) {
  const char *s = p->buf + p->line_start;
  size_t e = p->len - p->line_start - p->eol; /* line length without its end */
  size_t j, d, v = 0;
  if (e < 3 || s[e - 1] != '}')
    return 0;
  j = e - 1;
  if (s[j - 1] == '+')
    j--;
  d = j;
  while (d > 0 && is_digit((unsigned char)s[d - 1]))
    d--;
  if (d == j || d < 2 || s[d - 1] != '{')
    return 0;
  /* The brace must start a token: after SP, "(" or the "~" of literal8. */
  if (s[d - 2] == '~') {
    if (d < 3 || (s[d - 3] != ' ' && s[d - 3] != '('))
      return 0;
  } else if (s[d - 2] != ' ' && s[d - 2] != '(') {
    return 0;
  }
  for (; d < j; d++) {
    size_t dig = (size_t)(s[d] - '0');
    if (v > (SIZE_MAX - dig) / 10 || v * 10 + dig > p->lim.max_literal)
      return set_err(p, NI_ELIMIT, "literal too large");
    v = v * 10 + dig;
  }
  if (v > p->lim.max_response - p->len)
    return set_err(p, NI_ELIMIT, "response too large");
  *n = v;
  return 1;
}

static int parse_response(ni_parser *p);

/* A line just ended (its CRLF or LF is stored, eol says which).  Either a
 * literal follows, or the response is complete and parsed.  Returns 1 when
 * the response is complete, 0 when more bytes belong to it, <0 on error. */
static int line_end(ni_parser *p, size_t eol) {
  size_t n;
  int rc;
  p->eol = eol;
  p->state = ST_LINE;
  rc = line_literal(p, &n);
  if (rc < 0)
    return rc;
  if (rc == 1) {
    p->line_start = p->len;
    if (n > 0) {
      p->state = ST_LITERAL;
      p->lit_left = n;
    }
    return 0;
  }
  if ((rc = parse_response(p)) < 0)
    return rc;
  p->done = 1;
  p->line_start = 0;
  return 1;
}

int ni_parser_feed(ni_parser *p, const char *buf, size_t len, size_t *consumed, ni_resp *out) {
  size_t used = 0;
  int rc;
  *consumed = 0;
  if (p->err)
    return p->err;
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
      if ((rc = buf_append(p, buf + used, k)) < 0)
        goto fail;
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
        rc = set_err(p, NI_EPARSE, "CR not followed by LF");
        goto fail;
      }
      if ((rc = line_append(p, "\n", 1)) < 0)
        goto fail;
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
        if ((rc = line_append(p, buf + used, k)) < 0)
          goto fail;
        used += k;
        continue;
      }
      if (buf[used] == '\0') {
        rc = set_err(p, NI_EPARSE, "NUL byte outside a literal");
        goto fail;
      }
      if ((rc = line_append(p, buf + used, 1)) < 0)
        goto fail;
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
    if (rc < 0)
      goto fail;
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

/* ---- output arena --------------------------------------------------------- */

/* The arena has no limit of its own: it holds copies of parts of one
 * response, so it stays within a small multiple of max_response. */
static int arena_put(ni_parser *p, const char *s, size_t n) {
  if (grow(&p->arena, &p->acap, p->alen + n + 1, SIZE_MAX) < 0)
    return set_err(p, -ENOMEM, "out of memory");
  memcpy(p->arena + p->alen, s, n);
  p->alen += n;
  return 0;
}

/* Record that *dst is the arena bytes [off, alen) and terminate them. */
static int arena_finish(ni_parser *p, ni_str *dst, size_t off) {
  unsigned i;
  size_t n = p->alen - off;
  int rc = arena_put(p, "", 1);
  if (rc < 0)
    return rc;
  for (i = 0; i < p->nfix && p->fix[i].dst != dst; i++)
    ;
  if (i == NI_MAX_FIXUPS)
    return set_err(p, NI_EPARSE, "internal: too many fields");
  if (i == p->nfix)
    p->nfix++;
  p->fix[i].dst = dst;
  p->fix[i].off = off;
  p->fix[i].n = n;
  return 0;
}

/* A value in the response buffer: a slice, with quoted-string escapes still
 * in it when quoted is set. */
typedef struct val {
  size_t off, n;
  int quoted;
} val;

/* Copy a value's bytes to dst (room for v.n bytes), removing the
 * backslashes of a quoted string.  Returns the number of bytes written. */
static size_t val_copy(const char *buf, val v, char *dst) {
  const char *s = buf + v.off;
  size_t i, o = 0;
  for (i = 0; i < v.n; i++) {
    if (v.quoted && s[i] == '\\')
      i++; /* keep the escaped byte */
    dst[o++] = s[i];
  }
  return o;
}

/* Append a value's bytes, removing the backslashes of a quoted string. */
static int arena_put_val(ni_parser *p, val v) {
  if (grow(&p->arena, &p->acap, p->alen + v.n + 1, SIZE_MAX) < 0)
    return set_err(p, -ENOMEM, "out of memory");
  p->alen += val_copy(p->buf, v, p->arena + p->alen);
  return 0;
}

static int emit_val(ni_parser *p, ni_str *dst, val v) {
  size_t off = p->alen;
  int rc = arena_put_val(p, v);
  return rc < 0 ? rc : arena_finish(p, dst, off);
}

static int emit_span(ni_parser *p, ni_str *dst, size_t start, size_t end) {
  val v = {start, end - start, 0};
  return emit_val(p, dst, v);
}

/* ---- grammar -------------------------------------------------------------- */

typedef struct cur {
  ni_parser *p;
  const char *s;
  size_t pos, end; /* end excludes the response's final CRLF */
  unsigned depth;
} cur;

static int peek(const cur *c) { return c->pos < c->end ? (unsigned char)c->s[c->pos] : -1; }

static int perr(cur *c, const char *msg) { return set_err(c->p, NI_EPARSE, msg); }

static int deeper(cur *c) {
  if (++c->depth > c->p->lim.max_depth)
    return set_err(c->p, NI_ELIMIT, "nesting too deep");
  return 0;
}

static int expect(cur *c, int ch, const char *msg) {
  if (peek(c) != ch)
    return perr(c, msg);
  c->pos++;
  return 0;
}

static int upper(int ch) { return ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch; }

/* RFC 3501 section 9: ATOM-CHAR = <any CHAR except atom-specials>;
 * atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
 * quoted-specials / resp-specials. */
static int is_atom_char(int ch) {
  if (ch <= 0x1f || ch >= 0x7f)
    return 0;
  return strchr("(){ %*\"\\]", ch) == NULL;
}

/* Case-insensitive comparison of the slice [a, b) with a keyword. */
static int span_is(const cur *c, size_t a, size_t b, const char *kw) {
  size_t n = strlen(kw), i;
  if (b - a != n)
    return 0;
  for (i = 0; i < n; i++)
    if (upper((unsigned char)c->s[a + i]) != kw[i])
      return 0;
  return 1;
}

/* RFC 3501 section 9: atom = 1*ATOM-CHAR.  Returns the slice's start; an
 * empty atom leaves pos unchanged. */
static size_t take_atom(cur *c) {
  size_t a = c->pos;
  while (c->pos < c->end && is_atom_char((unsigned char)c->s[c->pos]))
    c->pos++;
  return a;
}

/* RFC 3501 section 9: number = 1*DIGIT ; unsigned 32-bit integer. */
static int parse_number(cur *c, uint32_t *out) {
  uint64_t v = 0;
  size_t a = c->pos;
  while (c->pos < c->end && is_digit((unsigned char)c->s[c->pos])) {
    v = v * 10 + (uint64_t)(c->s[c->pos] - '0');
    if (v > UINT32_MAX)
      return perr(c, "number out of range");
    c->pos++;
  }
  if (c->pos == a)
    return perr(c, "expected a number");
  *out = (uint32_t)v;
  return 0;
}

/* RFC 3501 section 9 / RFC 9051 section 9: quoted = DQUOTE *QUOTED-CHAR
 * DQUOTE; QUOTED-CHAR = <any TEXT-CHAR except quoted-specials> / "\"
 * quoted-specials (RFC 9051 adds UTF8-2/3/4, so 8-bit bytes pass). */
static int parse_quoted(cur *c, val *v) {
  size_t a = ++c->pos;
  while (c->pos < c->end) {
    char ch = c->s[c->pos];
    if (ch == '"') {
      v->off = a;
      v->n = c->pos - a;
      v->quoted = 1;
      c->pos++;
      return 0;
    }
    if (ch == '\r' || ch == '\n')
      break;
    if (ch == '\\') {
      if (c->pos + 1 >= c->end || (c->s[c->pos + 1] != '"' && c->s[c->pos + 1] != '\\'))
        return perr(c, "bad escape in quoted string");
      c->pos++;
    }
    c->pos++;
  }
  return perr(c, "unterminated quoted string");
}

/* RFC 3501 section 4.3 / RFC 9051 section 4.3: literal = "{" number64
 * ["+"] "}" CRLF *CHAR8; literal8 = "~{" number64 "}" CRLF *OCTET.  Framing
 * already bounded the length; this re-reads it safely anyway. */
static int parse_literal(cur *c, val *v) {
  size_t n = 0, a;
  if (peek(c) == '~')
    c->pos++;
  if (peek(c) != '{')
    return perr(c, "bad literal");
  a = ++c->pos;
  while (c->pos < c->end && is_digit((unsigned char)c->s[c->pos])) {
    size_t d = (size_t)(c->s[c->pos] - '0');
    if (n > (SIZE_MAX - d) / 10)
      return perr(c, "bad literal length");
    n = n * 10 + d;
    c->pos++;
  }
  if (c->pos == a)
    return perr(c, "bad literal length");
  if (peek(c) == '+')
    c->pos++;
  if (expect(c, '}', "bad literal length") < 0)
    return c->p->err;
  /* Framing ended the line here, with CRLF or a bare LF. */
  if (peek(c) == '\r' && c->end - c->pos >= 2 && c->s[c->pos + 1] == '\n')
    c->pos += 2;
  else if (peek(c) == '\n')
    c->pos++;
  else
    return perr(c, "literal not at end of line");
  if (n > c->end - c->pos)
    return perr(c, "literal longer than response");
  v->off = c->pos;
  v->n = n;
  v->quoted = 0;
  c->pos += n;
  return 0;
}

/* RFC 3501 section 9: nil = "NIL", followed here by a delimiter. */
static int at_nil(const cur *c) {
  if (c->end - c->pos < 3 || !span_is(c, c->pos, c->pos + 3, "NIL"))
    return 0;
  return c->pos + 3 == c->end || strchr(" ()", c->s[c->pos + 3]) != NULL;
}

/* RFC 3501 section 9: string = quoted / literal; nstring = string / nil. */
static int parse_nstring(cur *c, val *v) {
  int ch = peek(c);
  if (ch == '"')
    return parse_quoted(c, v);
  if (ch == '{' || ch == '~')
    return parse_literal(c, v);
  if (at_nil(c)) {
    c->pos += 3;
    v->off = c->pos;
    v->n = 0;
    v->quoted = 0;
    return 0;
  }
  return perr(c, "expected a string");
}

/* Leave a list at its ")". */
static void close_list(cur *c) {
  c->pos++;
  c->depth--;
}

/* Enter a list at its "(".  Returns 1 when the list is empty (and already
 * closed), 0 when values follow, NI_ELIMIT when it nests too deep. */
static int open_list(cur *c) {
  int rc = deeper(c);
  if (rc < 0)
    return rc;
  c->pos++;
  if (peek(c) != ')')
    return 0;
  close_list(c);
  return 1;
}

static int skip_value(cur *c);

/* A parenthesised list of values (RFC 3501 section 9 uses this shape for
 * flag-list, mailbox-list, status-att-list, body, envelope, ...).  Values
 * are separated by SP; address lists put "(" directly after ")". */
static int skip_list(cur *c) {
  int rc = open_list(c);
  if (rc != 0)
    return rc < 0 ? rc : 0;
  for (;;) {
    int ch;
    if ((rc = skip_value(c)) < 0)
      return rc;
    ch = peek(c);
    if (ch == ')') {
      close_list(c);
      return 0;
    }
    if (ch == ' ')
      c->pos++;
    else if (ch != '(')
      return perr(c, "unbalanced parentheses");
  }
}

/* A bracketed section such as "[HEADER.FIELDS (FROM TO)]" (RFC 3501 section
 * 9: section = "[" [section-spec] "]").  Brackets and parentheses inside
 * count towards the depth limit; quoted strings and literals are skipped
 * whole so their bytes cannot close the section. */
static int skip_section(cur *c) {
  unsigned base = c->depth;
  int rc;
  val v;
  while (c->pos < c->end) {
    char ch = c->s[c->pos];
    if (ch == '[' || ch == '(') {
      if ((rc = deeper(c)) < 0)
        return rc;
      c->pos++;
    } else if (ch == ']' || ch == ')') {
      if (c->depth == base)
        return perr(c, "unbalanced brackets");
      c->depth--;
      c->pos++;
      if (c->depth == base) {
        if (ch != ']')
          return perr(c, "unbalanced brackets");
        return 0;
      }
    } else if (ch == '"') {
      if ((rc = parse_quoted(c, &v)) < 0)
        return rc;
    } else if (ch == '{' || ch == '~') {
      if ((rc = parse_literal(c, &v)) < 0)
        return rc;
    } else if (ch == '\r' || ch == '\n') {
      break;
    } else {
      c->pos++;
    }
  }
  return perr(c, "unterminated section");
}

/* Any value: list, string, literal, or an atom-like token (number, NIL,
 * flag, "BODY[...]<0>").  Used to step over data natidle does not read. */
static int skip_value(cur *c) {
  int ch = peek(c), rc;
  size_t a = c->pos;
  val v;
  if (ch == '(')
    return skip_list(c);
  if (ch == '"')
    return parse_quoted(c, &v);
  if (ch == '{' || ch == '~')
    return parse_literal(c, &v);
  while (c->pos < c->end) {
    ch = (unsigned char)c->s[c->pos];
    if (ch == ' ' || ch == '(' || ch == ')' || ch == '\r' || ch == '\n')
      break;
    if (ch == '[') {
      if ((rc = skip_section(c)) < 0)
        return rc;
      continue;
    }
    c->pos++;
  }
  if (c->pos == a)
    return perr(c, "expected a value");
  return 0;
}

/* A SP-separated sequence of values up to the end of the response. */
static int skip_values_to_end(cur *c) {
  int rc;
  while (c->pos < c->end) {
    if ((rc = skip_value(c)) < 0)
      return rc;
    if (c->pos < c->end && (rc = expect(c, ' ', "expected SP")) < 0)
      return rc;
  }
  return 0;
}

/* The first number of s[a, b) when the slice is exactly one number that
 * fits in 32 bits, else 0. */
static uint32_t span_number(const cur *c, size_t a, size_t b) {
  uint64_t v = 0;
  if (a == b)
    return 0;
  for (; a < b; a++) {
    if (!is_digit((unsigned char)c->s[a]))
      return 0;
    v = v * 10 + (uint64_t)(c->s[a] - '0');
    if (v > UINT32_MAX)
      return 0;
  }
  return (uint32_t)v;
}

/* RFC 3501 section 7.1 / RFC 9051 section 7.1: resp-text = ["[" resp-text-code
 * "]" SP] text; resp-text-code = ... / atom [SP 1*<any TEXT-CHAR except "]">].
 * pos is just after the SP that follows the status word.  Codes with
 * malformed numbers keep code_n1/code_n2 at 0 rather than failing, so an odd
 * server does not kill the session. */
static int resp_text(cur *c) {
  ni_resp *r = &c->p->resp;
  int rc;
  if (peek(c) == '[') {
    size_t ca, cb, aa = 0, ab = 0, off, i;
    ca = ++c->pos;
    while (c->pos < c->end && c->s[c->pos] != ']' && c->s[c->pos] != ' ' &&
           c->s[c->pos] != '\r' && c->s[c->pos] != '\n')
      c->pos++;
    cb = c->pos;
    if (ca == cb)
      return perr(c, "empty response code");
    if (peek(c) == ' ') {
      aa = ++c->pos;
      while (c->pos < c->end && c->s[c->pos] != ']')
        c->pos++;
      ab = c->pos;
    }
    if (expect(c, ']', "unterminated response code") < 0)
      return c->p->err;
    off = c->p->alen;
    for (i = ca; i < cb; i++) {
      char u = (char)upper((unsigned char)c->s[i]);
      if ((rc = arena_put(c->p, &u, 1)) < 0)
        return rc;
    }
    if ((rc = arena_finish(c->p, &r->code, off)) < 0)
      return rc;
    if (aa && (rc = emit_span(c->p, &r->code_arg, aa, ab)) < 0)
      return rc;
    if (span_is(c, ca, cb, "UIDVALIDITY") || span_is(c, ca, cb, "UIDNEXT")) {
      if (aa)
        r->code_n1 = span_number(c, aa, ab);
    } else if (span_is(c, ca, cb, "APPENDUID") && aa) {
      size_t sp = aa;
      while (sp < ab && c->s[sp] != ' ')
        sp++;
      r->code_n1 = span_number(c, aa, sp);
      if (sp < ab)
        r->code_n2 = span_number(c, sp + 1, ab);
    } else if (span_is(c, ca, cb, "CAPABILITY") && aa) {
      if ((rc = emit_span(c->p, &r->caps, aa, ab)) < 0)
        return rc;
    }
    if (peek(c) == ' ')
      c->pos++;
  }
  return emit_span(c->p, &r->text, c->pos, c->end);
}

/* RFC 3501 section 9: address = "(" addr-name SP addr-adl SP addr-mailbox
 * SP addr-host ")".  Emits the first address of an address list as
 * "Name <mailbox@host>" or "mailbox@host"; skips the rest of the list. */
static int env_first_address(cur *c, ni_str *dst) {
  ni_parser *p = c->p;
  val name, adl, mbox, host;
  size_t off;
  int rc, ch;
  if (at_nil(c)) {
    c->pos += 3;
    return 0;
  }
  if (peek(c) != '(')
    return perr(c, "bad address list");
  if ((rc = deeper(c)) < 0)
    return rc;
  c->pos++;
  if (peek(c) == '(') {
    if ((rc = deeper(c)) < 0)
      return rc;
    c->pos++;
    if ((rc = parse_nstring(c, &name)) < 0 || (rc = expect(c, ' ', "bad address")) < 0 ||
        (rc = parse_nstring(c, &adl)) < 0 || (rc = expect(c, ' ', "bad address")) < 0 ||
        (rc = parse_nstring(c, &mbox)) < 0 || (rc = expect(c, ' ', "bad address")) < 0 ||
        (rc = parse_nstring(c, &host)) < 0 || (rc = expect(c, ')', "bad address")) < 0)
      return rc;
    c->depth--;
    off = p->alen;
    if (name.n && ((rc = arena_put_val(p, name)) < 0 || (rc = arena_put(p, " <", 2)) < 0))
      return rc;
    if ((rc = arena_put_val(p, mbox)) < 0)
      return rc;
    if (host.n && ((rc = arena_put(p, "@", 1)) < 0 || (rc = arena_put_val(p, host)) < 0))
      return rc;
    if (name.n && (rc = arena_put(p, ">", 1)) < 0)
      return rc;
    if ((rc = arena_finish(p, dst, off)) < 0)
      return rc;
  }
  for (;;) {
    ch = peek(c);
    if (ch == ')')
      break;
    if (ch == ' ')
      c->pos++;
    else if (ch != '(')
      return perr(c, "bad address list");
    if ((rc = skip_value(c)) < 0)
      return rc;
  }
  close_list(c);
  return 0;
}

/* RFC 3501 section 9: envelope = "(" env-date SP env-subject SP env-from SP
 * env-sender SP env-reply-to SP env-to SP env-cc SP env-bcc SP
 * env-in-reply-to SP env-message-id ")". */
static int parse_envelope(cur *c) {
  ni_fetch *f = &c->p->resp.fetch;
  val date, subject, irt, mid;
  int rc, i;
  if (peek(c) != '(')
    return perr(c, "bad envelope");
  if ((rc = deeper(c)) < 0)
    return rc;
  c->pos++;
  if ((rc = parse_nstring(c, &date)) < 0 || (rc = expect(c, ' ', "bad envelope")) < 0 ||
      (rc = parse_nstring(c, &subject)) < 0 || (rc = expect(c, ' ', "bad envelope")) < 0 ||
      (rc = env_first_address(c, &f->env_from)) < 0)
    return rc;
  for (i = 0; i < 5; i++) /* sender, reply-to, to, cc, bcc */
    if ((rc = expect(c, ' ', "bad envelope")) < 0 || (rc = skip_value(c)) < 0)
      return rc;
  if ((rc = expect(c, ' ', "bad envelope")) < 0 || (rc = parse_nstring(c, &irt)) < 0 ||
      (rc = expect(c, ' ', "bad envelope")) < 0 || (rc = parse_nstring(c, &mid)) < 0 ||
      (rc = expect(c, ')', "bad envelope")) < 0)
    return rc;
  c->depth--;
  f->has_envelope = 1;
  if ((rc = emit_val(c->p, &f->env_date, date)) < 0 ||
      (rc = emit_val(c->p, &f->env_subject, subject)) < 0 ||
      (rc = emit_val(c->p, &f->env_message_id, mid)) < 0)
    return rc;
  return 0;
}

/* RFC 3501 section 7.4.2 / RFC 9051 section 7.5.2: message-data = nz-number
 * SP "FETCH" SP msg-att; msg-att = "(" (msg-att-dynamic / msg-att-static)
 * *(SP ...) ")".  UID, FLAGS, ENVELOPE and the first BODY[section] /
 * BINARY[section] are kept; every other item is stepped over. */
static int parse_msg_att(cur *c) {
  ni_parser *p = c->p;
  ni_fetch *f = &p->resp.fetch;
  int rc, have_body = 0;
  if (peek(c) != '(')
    return perr(c, "bad FETCH data");
  if ((rc = open_list(c)) != 0)
    return rc < 0 ? rc : 0;
  for (;;) {
    size_t na = c->pos, nb, sa = 0, sb = 0;
    while (c->pos < c->end && strchr(" ()[\r\n", c->s[c->pos]) == NULL)
      c->pos++;
    nb = c->pos;
    if (na == nb)
      return perr(c, "bad FETCH item");
    if (peek(c) == '[') {
      sa = c->pos + 1;
      if ((rc = skip_section(c)) < 0)
        return rc;
      sb = c->pos - 1;
      if (peek(c) == '<') { /* RFC 3501 section 9: "<" number ">" origin */
        uint32_t origin;
        c->pos++;
        if ((rc = parse_number(c, &origin)) < 0 || (rc = expect(c, '>', "bad FETCH item")) < 0)
          return rc;
      }
    }
    if ((rc = expect(c, ' ', "expected SP after FETCH item")) < 0)
      return rc;
    if (!sa && span_is(c, na, nb, "UID")) {
      if ((rc = parse_number(c, &f->uid)) < 0)
        return rc;
      f->has_uid = 1;
    } else if (!sa && span_is(c, na, nb, "FLAGS")) {
      size_t fa = c->pos + 1;
      if (peek(c) != '(')
        return perr(c, "bad FLAGS");
      if ((rc = skip_list(c)) < 0 || (rc = emit_span(p, &f->flags, fa, c->pos - 1)) < 0)
        return rc;
    } else if (!sa && span_is(c, na, nb, "ENVELOPE")) {
      if ((rc = parse_envelope(c)) < 0)
        return rc;
    } else if (sa && (span_is(c, na, nb, "BODY") || span_is(c, na, nb, "BINARY"))) {
      val v;
      if ((rc = parse_nstring(c, &v)) < 0)
        return rc;
      if (!have_body) {
        have_body = 1;
        if ((rc = emit_span(p, &f->header_section, sa, sb)) < 0 ||
            (rc = emit_val(p, &f->header, v)) < 0)
          return rc;
      }
    } else if ((rc = skip_value(c)) < 0) {
      return rc;
    }
    if (peek(c) == ')') {
      close_list(c);
      return 0;
    }
    if ((rc = expect(c, ' ', "unbalanced parentheses")) < 0)
      return rc;
  }
}

static int expect_end(cur *c, const char *msg) { return c->pos == c->end ? 0 : perr(c, msg); }

/* RFC 3501 section 7 / RFC 9051 section 7: response-data = "*" SP
 * (resp-cond-state / resp-cond-bye / mailbox-data / message-data /
 * capability-data / enable-data) CRLF; greeting = "*" SP (resp-cond-auth /
 * resp-cond-bye) CRLF. */
static int parse_untagged(cur *c) {
  ni_parser *p = c->p;
  ni_resp *r = &p->resp;
  size_t a, b;
  int rc;
  r->kind = NI_RESP_UNTAGGED;
  if (c->pos == c->end)
    return perr(c, "empty untagged response");
  if (is_digit(peek(c))) {
    /* RFC 3501 section 7.3.1, 7.3.2, 7.4.1, 7.4.2: nz-number SP ("EXISTS" /
     * "RECENT" / "EXPUNGE" / "FETCH" SP msg-att). */
    if ((rc = parse_number(c, &r->number)) < 0 || (rc = expect(c, ' ', "expected SP")) < 0)
      return rc;
    a = take_atom(c);
    b = c->pos;
    if (span_is(c, a, b, "EXISTS"))
      r->type = NI_R_EXISTS;
    else if (span_is(c, a, b, "RECENT"))
      r->type = NI_R_RECENT;
    else if (span_is(c, a, b, "EXPUNGE"))
      r->type = NI_R_EXPUNGE;
    else if (span_is(c, a, b, "FETCH")) {
      r->type = NI_R_FETCH;
      r->fetch.seq = r->number;
      if ((rc = expect(c, ' ', "expected SP after FETCH")) < 0 || (rc = parse_msg_att(c)) < 0)
        return rc;
      return expect_end(c, "junk after FETCH data");
    } else {
      r->type = NI_R_OTHER;
      return emit_span(p, &r->data, 2, c->end);
    }
    return expect_end(c, "junk after message count");
  }
  a = take_atom(c);
  b = c->pos;
  if (span_is(c, a, b, "OK") || span_is(c, a, b, "NO") || span_is(c, a, b, "BAD") ||
      span_is(c, a, b, "BYE") || span_is(c, a, b, "PREAUTH")) {
    /* RFC 3501 section 7.1: resp-cond-state / resp-cond-bye / resp-cond-auth. */
    char k0 = (char)upper((unsigned char)c->s[a]), k1 = (char)upper((unsigned char)c->s[a + 1]);
    r->type = k0 == 'O' ? NI_R_OK
              : k0 == 'N' ? NI_R_NO
              : k0 == 'P' ? NI_R_PREAUTH
              : k1 == 'A' ? NI_R_BAD
                          : NI_R_BYE;
    if (c->pos < c->end && (rc = expect(c, ' ', "expected SP after status")) < 0)
      return rc;
    return resp_text(c);
  }
  if (span_is(c, a, b, "CAPABILITY")) {
    /* RFC 3501 section 7.2.1: capability-data = "CAPABILITY" *(SP capability). */
    r->type = NI_R_CAPABILITY;
    if (c->pos < c->end && (rc = expect(c, ' ', "expected SP")) < 0)
      return rc;
    return emit_span(p, &r->caps, c->pos, c->end);
  }
  if (span_is(c, a, b, "FLAGS") || span_is(c, a, b, "LIST") || span_is(c, a, b, "STATUS") ||
      span_is(c, a, b, "NAMESPACE")) {
    /* RFC 3501 section 7.2.2 (LIST), 7.2.4 (STATUS), 7.2.6 (FLAGS), RFC 2342
     * section 5 (NAMESPACE): the data is kept raw, but its lists are checked
     * for balance and depth.  ni_list_delimiter() and ni_namespace_parse()
     * read it when asked, so a server's odd LIST or NAMESPACE costs only
     * that answer, never the connection. */
    r->type = span_is(c, a, b, "FLAGS")  ? NI_R_FLAGS
              : span_is(c, a, b, "LIST") ? NI_R_LIST
              : span_is(c, a, b, "STATUS") ? NI_R_STATUS
                                           : NI_R_NAMESPACE;
    if ((rc = expect(c, ' ', "expected SP")) < 0)
      return rc;
    a = c->pos;
    if ((rc = skip_values_to_end(c)) < 0)
      return rc;
    return emit_span(p, &r->data, a, c->end);
  }
  if (span_is(c, a, b, "SEARCH") || span_is(c, a, b, "ENABLED")) {
    /* RFC 3501 section 7.2.5: mailbox-data =/ "SEARCH" *(SP nz-number);
     * RFC 5161 section 4: enable-data = "ENABLED" *(SP capability). */
    r->type = span_is(c, a, b, "SEARCH") ? NI_R_SEARCH : NI_R_ENABLED;
    if (c->pos < c->end && (rc = expect(c, ' ', "expected SP")) < 0)
      return rc;
    return emit_span(p, &r->data, c->pos, c->end);
  }
  /* An extension natidle does not know: hand it over raw. */
  r->type = NI_R_OTHER;
  return emit_span(p, &r->data, 2, c->end);
}

static void resp_clear(ni_resp *r) {
  static const ni_str empty = {"", 0};
  memset(r, 0, sizeof(*r));
  r->tag = r->code = r->code_arg = r->text = r->caps = r->data = r->raw = empty;
  r->fetch.flags = r->fetch.env_date = r->fetch.env_subject = r->fetch.env_from = empty;
  r->fetch.env_message_id = r->fetch.header_section = r->fetch.header = empty;
}

/* RFC 3501 section 7 / RFC 9051 section 7: response = *(continue-req /
 * response-data) response-done.  Parses the one complete response in buf. */
static int parse_response(ni_parser *p) {
  ni_resp *r = &p->resp;
  cur c;
  int rc;
  unsigned i;
  c.p = p;
  c.s = p->buf;
  c.pos = 0;
  c.end = p->len - p->eol;
  c.depth = 0;
  p->alen = 0;
  p->nfix = 0;
  resp_clear(r);
  p->buf[p->len] = '\0';
  r->raw.p = p->buf;
  r->raw.n = p->len;
  if (c.end == 0)
    return perr(&c, "empty line");
  if (c.s[0] == '+') {
    /* RFC 3501 section 7.5: continue-req = "+" SP (resp-text / base64) CRLF.
     * A bare "+" is accepted too: some servers send it. */
    r->kind = NI_RESP_CONTINUE;
    r->type = NI_R_OTHER;
    c.pos = 1;
    if (c.pos < c.end && (rc = expect(&c, ' ', "expected SP after +")) < 0)
      return rc;
    rc = resp_text(&c);
  } else if (c.s[0] == '*') {
    c.pos = 1;
    if ((rc = expect(&c, ' ', "expected SP after *")) < 0)
      return rc;
    rc = parse_untagged(&c);
  } else {
    /* RFC 3501 section 7.1: response-tagged = tag SP resp-cond-state CRLF;
     * tag = 1*<any ASTRING-CHAR except "+">. */
    size_t a = c.pos, b;
    while (c.pos < c.end && (is_atom_char((unsigned char)c.s[c.pos]) || c.s[c.pos] == ']') &&
           c.s[c.pos] != '+')
      c.pos++;
    if (c.pos == a)
      return perr(&c, "bad tag");
    r->kind = NI_RESP_TAGGED;
    if ((rc = emit_span(p, &r->tag, a, c.pos)) < 0 ||
        (rc = expect(&c, ' ', "expected SP after tag")) < 0)
      return rc;
    a = take_atom(&c);
    b = c.pos;
    if (span_is(&c, a, b, "OK"))
      r->type = NI_R_OK;
    else if (span_is(&c, a, b, "NO"))
      r->type = NI_R_NO;
    else if (span_is(&c, a, b, "BAD"))
      r->type = NI_R_BAD;
    else
      return perr(&c, "bad tagged status");
    if (c.pos < c.end && (rc = expect(&c, ' ', "expected SP after status")) < 0)
      return rc;
    rc = resp_text(&c);
  }
  if (rc < 0)
    return rc;
  for (i = 0; i < p->nfix; i++) {
    p->fix[i].dst->p = p->arena + p->fix[i].off;
    p->fix[i].dst->n = p->fix[i].n;
  }
  return 0;
}

/* ---- helpers on results ------------------------------------------------- */

int ni_caps_has(ni_str caps, const char *cap) {
  size_t n = strlen(cap), i = 0;
  while (i < caps.n) {
    size_t a, k;
    while (i < caps.n && caps.p[i] == ' ')
      i++;
    a = i;
    while (i < caps.n && caps.p[i] != ' ')
      i++;
    if (i - a != n || n == 0)
      continue;
    for (k = 0; k < n && upper((unsigned char)caps.p[a + k]) == upper((unsigned char)cap[k]); k++)
      ;
    if (k == n)
      return 1;
  }
  return 0;
}

int ni_uint_list_next(ni_str *list, uint32_t *out) {
  size_t i = 0;
  uint64_t v = 0;
  while (i < list->n && list->p[i] == ' ')
    i++;
  if (i == list->n) {
    list->p += i;
    list->n = 0;
    return 0;
  }
  if (!is_digit((unsigned char)list->p[i]))
    return NI_EPARSE;
  while (i < list->n && list->p[i] != ' ') {
    if (!is_digit((unsigned char)list->p[i]))
      return NI_EPARSE;
    v = v * 10 + (uint64_t)(list->p[i] - '0');
    if (v > UINT32_MAX)
      return NI_EPARSE;
    i++;
  }
  *out = (uint32_t)v;
  list->p += i;
  list->n -= i;
  return 1;
}

/* ---- LIST and NAMESPACE data --------------------------------------------- */

/* A cursor over the data of a response the parser handed out.  The data was
 * framed and balance-checked when it was parsed, so the grammar functions
 * run on it as they did then; their errors land in a scratch parser. */
static void data_cursor(cur *c, ni_parser *scratch, ni_str data) {
  memset(scratch, 0, sizeof(*scratch));
  ni_parser_limits_default(&scratch->lim);
  c->p = scratch;
  c->s = data.p;
  c->pos = 0;
  c->end = data.n;
  c->depth = 0;
}

/* RFC 3501 section 9: mailbox-list = "(" [mbx-list-flags] ")" SP
 * (DQUOTE QUOTED-CHAR DQUOTE / nil) SP mailbox.  Also RFC 2342 section 5:
 * the delimiter of a namespace, the same shape.  A literal of one byte is
 * taken too.  Sets *delim ('\0' for NIL). */
static int parse_delim(cur *c, char *delim) {
  val v;
  char one[2];
  int rc = parse_nstring(c, &v);
  if (rc < 0)
    return rc;
  if (v.n == 0 && !v.quoted) {
    *delim = '\0'; /* NIL, or an empty literal, which says as much */
    return 0;
  }
  if (v.n > 2 || val_copy(c->s, v, one) != 1)
    return perr(c, "bad hierarchy delimiter");
  *delim = one[0];
  return 0;
}

int ni_list_delimiter(const ni_resp *r, char *delim) {
  ni_parser scratch;
  cur c;
  if (r == NULL || r->kind != NI_RESP_UNTAGGED || r->type != NI_R_LIST)
    return NI_EPARSE;
  data_cursor(&c, &scratch, r->data);
  if (peek(&c) != '(' || skip_list(&c) < 0 || expect(&c, ' ', "expected SP") < 0 ||
      parse_delim(&c, delim) < 0 || expect(&c, ' ', "expected SP") < 0)
    return NI_EPARSE;
  return 0;
}

/* The output of ni_namespace_parse(). */
typedef struct ns_out {
  ni_namespace *ns;
  size_t max, count;
  char *buf;
  size_t cap, used;
} ns_out;

/* RFC 2342 section 5: Namespace = nil / "(" 1*( "(" string SP (<">
 * QUOTED_CHAR <"> / nil) *(Namespace_Response_Extension) ")" ) ")";
 * Namespace_Response_Extension = SP string SP "(" string *(SP string) ")".
 * Descriptors follow each other with no SP; one SP between them is taken
 * too.  out NULL steps over the list. */
static int parse_ns_list(cur *c, ns_out *out) {
  int rc;
  if (at_nil(c)) {
    c->pos += 3;
    return 0;
  }
  if (peek(c) != '(' || (rc = deeper(c)) < 0)
    return perr(c, "bad namespace");
  c->pos++;
  do {
    val prefix;
    char delim;
    if (peek(c) == ' ')
      c->pos++;
    if (peek(c) != '(' || (rc = deeper(c)) < 0)
      return perr(c, "bad namespace");
    c->pos++;
    if (at_nil(c) || (rc = parse_nstring(c, &prefix)) < 0 ||
        (rc = expect(c, ' ', "bad namespace")) < 0 || (rc = parse_delim(c, &delim)) < 0)
      return perr(c, "bad namespace");
    while (peek(c) == ' ') { /* extensions: a string and a list of strings */
      c->pos++;
      if ((rc = skip_value(c)) < 0 || (rc = expect(c, ' ', "bad namespace")) < 0 ||
          peek(c) != '(' || (rc = skip_list(c)) < 0)
        return perr(c, "bad namespace");
    }
    if ((rc = expect(c, ')', "bad namespace")) < 0)
      return rc;
    c->depth--;
    if (out != NULL) {
      if (out->count < out->max) {
        ni_namespace *ns = &out->ns[out->count];
        if (prefix.n >= out->cap - out->used)
          return NI_ELIMIT;
        ns->prefix.p = out->buf + out->used;
        ns->prefix.n = val_copy(c->s, prefix, out->buf + out->used);
        out->buf[out->used + ns->prefix.n] = '\0';
        out->used += ns->prefix.n + 1;
        ns->delim = delim;
      }
      out->count++;
    }
  } while (peek(c) != ')');
  close_list(c);
  return 0;
}

int ni_namespace_parse(const ni_resp *r, ni_ns_kind kind, ni_namespace *ns, size_t max, char *buf,
                       size_t cap) {
  ni_parser scratch;
  ns_out out;
  cur c;
  int i, rc;
  if (r == NULL || r->kind != NI_RESP_UNTAGGED || r->type != NI_R_NAMESPACE ||
      (unsigned)kind > NI_NS_SHARED)
    return NI_EPARSE;
  memset(&out, 0, sizeof(out));
  out.ns = ns;
  out.max = ns != NULL && buf != NULL && cap > 0 ? max : 0;
  out.buf = buf;
  out.cap = cap;
  data_cursor(&c, &scratch, r->data);
  for (i = 0; i <= NI_NS_SHARED; i++) {
    if (i > 0 && expect(&c, ' ', "expected SP") < 0)
      return NI_EPARSE;
    rc = parse_ns_list(&c, i == (int)kind ? &out : NULL);
    if (rc == NI_ELIMIT)
      return rc;
    if (rc < 0)
      return NI_EPARSE;
  }
  /* RFC 2342 leaves room for nothing after the third list. */
  if (c.pos != c.end)
    return NI_EPARSE;
  return out.count > (size_t)INT32_MAX ? INT32_MAX : (int)out.count;
}
