/*
 * imap/parser_value.c - the building blocks of the IMAP response grammar
 * (RFC 3501 section 9, RFC 9051 section 9): the per-response arena that
 * holds NUL-terminated copies of the fields handed out, and the cursor's
 * readers for atoms, numbers, strings, literals, NIL, lists and sections.
 * imap/parser_resp.c and imap/parser_data.c build on them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "imap/parser_internal.h"

/* ---- output arena --------------------------------------------------------- */

/* The arena has no limit of its own: it holds copies of parts of one
 * response, so it stays within a small multiple of max_response. */
int ni__arena_put(ni_parser *p, const char *s, size_t n) {
  if (ni__parser_grow(&p->arena, &p->acap, p->alen + n + 1, SIZE_MAX) < 0)
    return ni__parser_set_err(p, -ENOMEM, "out of memory");
  memcpy(p->arena + p->alen, s, n);
  p->alen += n;
  return 0;
}

/* Record that *dst is the arena bytes [off, alen) and terminate them. */
int ni__arena_finish(ni_parser *p, ni_str *dst, size_t off) {
  unsigned i;
  size_t n = p->alen - off;
  int rc = ni__arena_put(p, "", 1);
  if (rc < 0) return rc;
  for (i = 0; i < p->nfix && p->fix[i].dst != dst; i++)
    ;
  if (i == NI__MAX_FIXUPS) return ni__parser_set_err(p, NI_EPARSE, "internal: too many fields");
  if (i == p->nfix) p->nfix++;
  p->fix[i].dst = dst;
  p->fix[i].off = off;
  p->fix[i].n = n;
  return 0;
}

/* Copy a value's bytes to dst (room for v.n bytes), removing the
 * backslashes of a quoted string.  Returns the number of bytes written. */
size_t ni__val_copy(const char *buf, ni__val v, char *dst) {
  const char *s = buf + v.off;
  size_t i, o = 0;
  for (i = 0; i < v.n; i++) {
    if (v.quoted && s[i] == '\\') i++; /* keep the escaped byte */
    dst[o++] = s[i];
  }
  return o;
}

/* Append a value's bytes, removing the backslashes of a quoted string. */
int ni__arena_put_val(ni_parser *p, ni__val v) {
  if (ni__parser_grow(&p->arena, &p->acap, p->alen + v.n + 1, SIZE_MAX) < 0)
    return ni__parser_set_err(p, -ENOMEM, "out of memory");
  p->alen += ni__val_copy(p->buf, v, p->arena + p->alen);
  return 0;
}

int ni__emit_val(ni_parser *p, ni_str *dst, ni__val v) {
  size_t off = p->alen;
  int rc = ni__arena_put_val(p, v);
  return rc < 0 ? rc : ni__arena_finish(p, dst, off);
}

int ni__emit_span(ni_parser *p, ni_str *dst, size_t start, size_t end) {
  ni__val v = {start, end - start, 0};
  return ni__emit_val(p, dst, v);
}

/* ---- the grammar's building blocks ---------------------------------------- */

int ni__perr(ni__cur *c, const char *msg) {
  return ni__parser_set_err(c->p, NI_EPARSE, msg);
}

int ni__deeper(ni__cur *c) {
  if (++c->depth > c->p->lim.max_depth)
    return ni__parser_set_err(c->p, NI_ELIMIT, "nesting too deep");
  return 0;
}

int ni__expect(ni__cur *c, int ch, const char *msg) {
  if (ni__peek(c) != ch) return ni__perr(c, msg);
  c->pos++;
  return 0;
}

/* RFC 3501 section 9: ATOM-CHAR = <any CHAR except atom-specials>;
 * atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
 * quoted-specials / resp-specials. */
int ni__is_atom_char(int ch) {
  if (ch <= 0x1f || ch >= 0x7f) return 0;
  return strchr("(){ %*\"\\]", ch) == NULL;
}

/* Case-insensitive comparison of the slice [a, b) with a keyword. */
int ni__span_is(const ni__cur *c, size_t a, size_t b, const char *kw) {
  size_t n = strlen(kw), i;
  if (b - a != n) return 0;
  for (i = 0; i < n; i++)
    if (ni__upper((unsigned char)c->s[a + i]) != kw[i]) return 0;
  return 1;
}

/* RFC 3501 section 9: atom = 1*ATOM-CHAR.  Returns the slice's start; an
 * empty atom leaves pos unchanged. */
size_t ni__take_atom(ni__cur *c) {
  size_t a = c->pos;
  while (c->pos < c->end && ni__is_atom_char((unsigned char)c->s[c->pos]))
    c->pos++;
  return a;
}

/* RFC 3501 section 9: number = 1*DIGIT ; unsigned 32-bit integer. */
int ni__parse_number(ni__cur *c, uint32_t *out) {
  uint64_t v = 0;
  size_t a = c->pos;
  while (c->pos < c->end && ni__is_digit((unsigned char)c->s[c->pos])) {
    v = v * 10 + (uint64_t)(c->s[c->pos] - '0');
    if (v > UINT32_MAX) return ni__perr(c, "number out of range");
    c->pos++;
  }
  if (c->pos == a) return ni__perr(c, "expected a number");
  *out = (uint32_t)v;
  return 0;
}

/* RFC 3501 section 9 / RFC 9051 section 9: quoted = DQUOTE *QUOTED-CHAR
 * DQUOTE; QUOTED-CHAR = <any TEXT-CHAR except quoted-specials> / "\"
 * quoted-specials (RFC 9051 adds UTF8-2/3/4, so 8-bit bytes pass). */
static int parse_quoted(ni__cur *c, ni__val *v) {
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
    if (ch == '\r' || ch == '\n') break;
    if (ch == '\\') {
      if (c->pos + 1 >= c->end || (c->s[c->pos + 1] != '"' && c->s[c->pos + 1] != '\\'))
        return ni__perr(c, "bad escape in quoted string");
      c->pos++;
    }
    c->pos++;
  }
  return ni__perr(c, "unterminated quoted string");
}

/* RFC 3501 section 4.3 / RFC 9051 section 4.3: literal = "{" number64
 * ["+"] "}" CRLF *CHAR8; literal8 = "~{" number64 "}" CRLF *OCTET.  Framing
 * already bounded the length; this re-reads it safely anyway. */
static int parse_literal(ni__cur *c, ni__val *v) {
  size_t n = 0, a;
  if (ni__peek(c) == '~') c->pos++;
  if (ni__peek(c) != '{') return ni__perr(c, "bad literal");
  a = ++c->pos;
  while (c->pos < c->end && ni__is_digit((unsigned char)c->s[c->pos])) {
    size_t d = (size_t)(c->s[c->pos] - '0');
    if (n > (SIZE_MAX - d) / 10) return ni__perr(c, "bad literal length");
    n = n * 10 + d;
    c->pos++;
  }
  if (c->pos == a) return ni__perr(c, "bad literal length");
  if (ni__peek(c) == '+') c->pos++;
  if (ni__expect(c, '}', "bad literal length") < 0) return c->p->err;
  /* Framing ended the line here, with CRLF or a bare LF. */
  if (ni__peek(c) == '\r' && c->end - c->pos >= 2 && c->s[c->pos + 1] == '\n')
    c->pos += 2;
  else if (ni__peek(c) == '\n')
    c->pos++;
  else
    return ni__perr(c, "literal not at end of line");
  if (n > c->end - c->pos) return ni__perr(c, "literal longer than response");
  v->off = c->pos;
  v->n = n;
  v->quoted = 0;
  c->pos += n;
  return 0;
}

/* RFC 3501 section 9: nil = "NIL", followed here by a delimiter. */
int ni__at_nil(const ni__cur *c) {
  if (c->end - c->pos < 3 || !ni__span_is(c, c->pos, c->pos + 3, "NIL")) return 0;
  return c->pos + 3 == c->end || strchr(" ()", c->s[c->pos + 3]) != NULL;
}

/* RFC 3501 section 9: string = quoted / literal; nstring = string / nil. */
int ni__parse_nstring(ni__cur *c, ni__val *v) {
  int ch = ni__peek(c);
  if (ch == '"') return parse_quoted(c, v);
  if (ch == '{' || ch == '~') return parse_literal(c, v);
  if (ni__at_nil(c)) {
    c->pos += 3;
    v->off = c->pos;
    v->n = 0;
    v->quoted = 0;
    return 0;
  }
  return ni__perr(c, "expected a string");
}

/* Leave a list at its ")". */
void ni__close_list(ni__cur *c) {
  c->pos++;
  c->depth--;
}

/* Enter a list at its "(".  Returns 1 when the list is empty (and already
 * closed), 0 when values follow, NI_ELIMIT when it nests too deep. */
int ni__open_list(ni__cur *c) {
  int rc = ni__deeper(c);
  if (rc < 0) return rc;
  c->pos++;
  if (ni__peek(c) != ')') return 0;
  ni__close_list(c);
  return 1;
}

/* A parenthesised list of values (RFC 3501 section 9 uses this shape for
 * flag-list, mailbox-list, status-att-list, body, envelope, ...).  Values
 * are separated by SP; address lists put "(" directly after ")". */
int ni__skip_list(ni__cur *c) {
  int rc = ni__open_list(c);
  if (rc != 0) return rc < 0 ? rc : 0;
  for (;;) {
    int ch;
    if ((rc = ni__skip_value(c)) < 0) return rc;
    ch = ni__peek(c);
    if (ch == ')') {
      ni__close_list(c);
      return 0;
    }
    if (ch == ' ')
      c->pos++;
    else if (ch != '(')
      return ni__perr(c, "unbalanced parentheses");
  }
}

/* A bracketed section such as "[HEADER.FIELDS (FROM TO)]" (RFC 3501 section
 * 9: section = "[" [section-spec] "]").  Brackets and parentheses inside
 * count towards the depth limit; quoted strings and literals are skipped
 * whole so their bytes cannot close the section. */
int ni__skip_section(ni__cur *c) {
  unsigned base = c->depth;
  int rc;
  ni__val v;
  while (c->pos < c->end) {
    char ch = c->s[c->pos];
    if (ch == '[' || ch == '(') {
      if ((rc = ni__deeper(c)) < 0) return rc;
      c->pos++;
    } else if (ch == ']' || ch == ')') {
      if (c->depth == base) return ni__perr(c, "unbalanced brackets");
      c->depth--;
      c->pos++;
      if (c->depth == base) {
        if (ch != ']') return ni__perr(c, "unbalanced brackets");
        return 0;
      }
    } else if (ch == '"') {
      if ((rc = parse_quoted(c, &v)) < 0) return rc;
    } else if (ch == '{' || ch == '~') {
      if ((rc = parse_literal(c, &v)) < 0) return rc;
    } else if (ch == '\r' || ch == '\n') {
      break;
    } else {
      c->pos++;
    }
  }
  return ni__perr(c, "unterminated section");
}

/* Any value: list, string, literal, or an atom-like token (number, NIL,
 * flag, "BODY[...]<0>").  Used to step over data natidle does not read. */
int ni__skip_value(ni__cur *c) {
  int ch = ni__peek(c), rc;
  size_t a = c->pos;
  ni__val v;
  if (ch == '(') return ni__skip_list(c);
  if (ch == '"') return parse_quoted(c, &v);
  if (ch == '{' || ch == '~') return parse_literal(c, &v);
  while (c->pos < c->end) {
    ch = (unsigned char)c->s[c->pos];
    if (ch == ' ' || ch == '(' || ch == ')' || ch == '\r' || ch == '\n') break;
    if (ch == '[') {
      if ((rc = ni__skip_section(c)) < 0) return rc;
      continue;
    }
    c->pos++;
  }
  if (c->pos == a) return ni__perr(c, "expected a value");
  return 0;
}

/* A SP-separated sequence of values up to the end of the response. */
int ni__skip_values_to_end(ni__cur *c) {
  int rc;
  while (c->pos < c->end) {
    if ((rc = ni__skip_value(c)) < 0) return rc;
    if (c->pos < c->end && (rc = ni__expect(c, ' ', "expected SP")) < 0) return rc;
  }
  return 0;
}
