/*
 * imap/parser_data.c - readers of what a parsed response handed out: the
 * capability list, SEARCH's list of numbers, LIST's hierarchy delimiter and
 * NAMESPACE's namespaces (RFC 2342).  They run the grammar of
 * imap/parser_value.c over data the parser already framed and checked.
 */
#include <string.h>

#include "imap/parser_internal.h"

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
    if (i - a != n || n == 0) continue;
    for (k = 0;
         k < n && ni__upper((unsigned char)caps.p[a + k]) == ni__upper((unsigned char)cap[k]); k++)
      ;
    if (k == n) return 1;
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
  if (!ni__is_digit((unsigned char)list->p[i])) return NI_EPARSE;
  while (i < list->n && list->p[i] != ' ') {
    if (!ni__is_digit((unsigned char)list->p[i])) return NI_EPARSE;
    v = v * 10 + (uint64_t)(list->p[i] - '0');
    if (v > UINT32_MAX) return NI_EPARSE;
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
static void data_cursor(ni__cur *c, ni_parser *scratch, ni_str data) {
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
static int parse_delim(ni__cur *c, char *delim) {
  ni__val v;
  char one[2];
  int rc = ni__parse_nstring(c, &v);
  if (rc < 0) return rc;
  if (v.n == 0 && !v.quoted) {
    *delim = '\0'; /* NIL, or an empty literal, which says as much */
    return 0;
  }
  if (v.n > 2 || ni__val_copy(c->s, v, one) != 1) return ni__perr(c, "bad hierarchy delimiter");
  *delim = one[0];
  return 0;
}

int ni_list_delimiter(const ni_resp *r, char *delim) {
  ni_parser scratch;
  ni__cur c;
  if (r == NULL || r->kind != NI_RESP_UNTAGGED || r->type != NI_R_LIST) return NI_EPARSE;
  data_cursor(&c, &scratch, r->data);
  if (ni__peek(&c) != '(' || ni__skip_list(&c) < 0 || ni__expect(&c, ' ', "expected SP") < 0 ||
      parse_delim(&c, delim) < 0 || ni__expect(&c, ' ', "expected SP") < 0)
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
static int parse_ns_list(ni__cur *c, ns_out *out) {
  int rc;
  if (ni__at_nil(c)) {
    c->pos += 3;
    return 0;
  }
  if (ni__peek(c) != '(' || (rc = ni__deeper(c)) < 0) return ni__perr(c, "bad namespace");
  c->pos++;
  do {
    ni__val prefix;
    char delim;
    if (ni__peek(c) == ' ') c->pos++;
    if (ni__peek(c) != '(' || (rc = ni__deeper(c)) < 0) return ni__perr(c, "bad namespace");
    c->pos++;
    if (ni__at_nil(c) || (rc = ni__parse_nstring(c, &prefix)) < 0 ||
        (rc = ni__expect(c, ' ', "bad namespace")) < 0 || (rc = parse_delim(c, &delim)) < 0)
      return ni__perr(c, "bad namespace");
    while (ni__peek(c) == ' ') { /* extensions: a string and a list of strings */
      c->pos++;
      if ((rc = ni__skip_value(c)) < 0 || (rc = ni__expect(c, ' ', "bad namespace")) < 0 ||
          ni__peek(c) != '(' || (rc = ni__skip_list(c)) < 0)
        return ni__perr(c, "bad namespace");
    }
    if ((rc = ni__expect(c, ')', "bad namespace")) < 0) return rc;
    c->depth--;
    if (out != NULL) {
      if (out->count < out->max) {
        ni_namespace *ns = &out->ns[out->count];
        if (prefix.n >= out->cap - out->used) return NI_ELIMIT;
        ns->prefix.p = out->buf + out->used;
        ns->prefix.n = ni__val_copy(c->s, prefix, out->buf + out->used);
        out->buf[out->used + ns->prefix.n] = '\0';
        out->used += ns->prefix.n + 1;
        ns->delim = delim;
      }
      out->count++;
    }
  } while (ni__peek(c) != ')');
  ni__close_list(c);
  return 0;
}

int ni_namespace_parse(const ni_resp *r, ni_ns_kind kind, ni_namespace *ns, size_t max, char *buf,
                       size_t cap) {
  ni_parser scratch;
  ns_out out;
  ni__cur c;
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
    if (i > 0 && ni__expect(&c, ' ', "expected SP") < 0) return NI_EPARSE;
    rc = parse_ns_list(&c, i == (int)kind ? &out : NULL);
    if (rc == NI_ELIMIT) return rc;
    if (rc < 0) return NI_EPARSE;
  }
  /* RFC 2342 leaves room for nothing after the third list. */
  if (c.pos != c.end) return NI_EPARSE;
  return out.count > (size_t)INT32_MAX ? INT32_MAX : (int)out.count;
}
