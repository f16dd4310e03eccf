/*
 * imap/parser_internal.h - what the parts of the IMAP response parser share:
 * parser.c (the parser object and framing), parser_value.c (the output arena
 * and the grammar's building blocks), parser_resp.c (a collected response
 * into ni_resp) and parser_data.c (LIST and NAMESPACE data read afterwards).
 * Not installed; nothing outside imap/ and its tests may include it.  Like
 * the parser itself, it needs nothing but libc.
 */
#ifndef NATIDLE_IMAP_PARSER_INTERNAL_H
#define NATIDLE_IMAP_PARSER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "natidle/imap.h"

/* The fields of ni_resp that can be set from the arena; 16 covers all. */
#define NI__MAX_FIXUPS 16

typedef struct ni__fixup {
  ni_str *dst;
  size_t off;
  size_t n;
} ni__fixup;

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
  ni__fixup fix[NI__MAX_FIXUPS];
  unsigned nfix;
  ni_resp resp;
};

/* ---- parser.c ---- */

/* Make err (negative) and msg the parser's sticky error; returns err. */
int ni__parser_set_err(ni_parser *p, int err, const char *msg);
/* Make room for need bytes in *mem, never beyond max unless need is more.
 * Returns 0 or -ENOMEM. */
int ni__parser_grow(char **mem, size_t *cap, size_t need, size_t max);

/* ---- parser_resp.c ---- */

/* Parse the one complete response framed in p->buf into p->resp.  Returns 0
 * or a negative error (set as the parser's sticky error). */
int ni__parse_response(ni_parser *p);

/* ---- parser_value.c: the output arena ---- */

/* A value in the response buffer: a slice, with quoted-string escapes still
 * in it when quoted is set. */
typedef struct ni__val {
  size_t off, n;
  int quoted;
} ni__val;

/* Copy a value's bytes to dst (room for v.n bytes), unescaped; returns the
 * number of bytes written. */
size_t ni__val_copy(const char *buf, ni__val v, char *dst);
/* Append n bytes, or a value unescaped, to the arena.  Return 0 or -ENOMEM. */
int ni__arena_put(ni_parser *p, const char *s, size_t n);
int ni__arena_put_val(ni_parser *p, ni__val v);
/* Make *dst the arena bytes from off on, NUL-terminated.  Returns 0 or <0. */
int ni__arena_finish(ni_parser *p, ni_str *dst, size_t off);
/* Make *dst a copy of a value, or of the buffer's bytes [start, end). */
int ni__emit_val(ni_parser *p, ni_str *dst, ni__val v);
int ni__emit_span(ni_parser *p, ni_str *dst, size_t start, size_t end);

/* ---- parser_value.c: the grammar's building blocks ---- */

/* A cursor over a complete response (or over data it handed out).  Errors
 * land in p as its sticky error. */
typedef struct ni__cur {
  ni_parser *p;
  const char *s;
  size_t pos, end; /* end excludes the response's final CRLF */
  unsigned depth;
} ni__cur;

static inline int ni__peek(const ni__cur *c) {
  return c->pos < c->end ? (unsigned char)c->s[c->pos] : -1;
}
static inline int ni__is_digit(int c) {
  return c >= '0' && c <= '9';
}
static inline int ni__upper(int ch) {
  return ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch;
}

/* Unless said otherwise, each returns 0 or a negative error, and leaves the
 * cursor after what it read.  The grammar rule each reads is named where it
 * is defined (imap/parser_value.c). */

/* NI_EPARSE with msg as the sticky error. */
int ni__perr(ni__cur *c, const char *msg);
/* One nesting level down; NI_ELIMIT past max_depth. */
int ni__deeper(ni__cur *c);
/* Take ch, else fail with msg. */
int ni__expect(ni__cur *c, int ch, const char *msg);
/* 1 when ch is an ATOM-CHAR, else 0. */
int ni__is_atom_char(int ch);
/* 1 when the slice [a, b) is kw (upper case), case-insensitively, else 0. */
int ni__span_is(const ni__cur *c, size_t a, size_t b, const char *kw);
/* Take an atom (maybe empty); returns where it starts. */
size_t ni__take_atom(ni__cur *c);
int ni__parse_number(ni__cur *c, uint32_t *out);
/* 1 when NIL stands at the cursor, else 0 (nothing taken). */
int ni__at_nil(const ni__cur *c);
int ni__parse_nstring(ni__cur *c, ni__val *v);
/* Enter a list at its "(": 1 when it is empty (and closed again), 0 when
 * values follow.  ni__close_list() leaves it at its ")". */
int ni__open_list(ni__cur *c);
void ni__close_list(ni__cur *c);
/* Step over a list, a bracketed section, a value, or the SP-separated values
 * up to the end. */
int ni__skip_list(ni__cur *c);
int ni__skip_section(ni__cur *c);
int ni__skip_value(ni__cur *c);
int ni__skip_values_to_end(ni__cur *c);

#endif /* NATIDLE_IMAP_PARSER_INTERNAL_H */
