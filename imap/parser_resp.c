/*
 * imap/parser_resp.c - the grammar step of the IMAP response parser: one
 * complete response, framed by imap/parser.c, walked once into an ni_resp
 * (RFC 3501 section 7, RFC 9051 section 7): tagged, untagged and
 * continuation responses, status codes, and FETCH data with its envelope
 * and body section.
 */
#include <string.h>

#include "imap/parser_internal.h"

/* The first number of s[a, b) when the slice is exactly one number that
 * fits in 32 bits, else 0. */
static uint32_t span_number(const ni__cur *c, size_t a, size_t b) {
  uint64_t v = 0;
  if (a == b) return 0;
  for (; a < b; a++) {
    if (!ni__is_digit((unsigned char)c->s[a])) return 0;
    v = v * 10 + (uint64_t)(c->s[a] - '0');
    if (v > UINT32_MAX) return 0;
  }
  return (uint32_t)v;
}

/* RFC 3501 section 7.1 / RFC 9051 section 7.1: resp-text = ["[" resp-text-code
 * "]" SP] text; resp-text-code = ... / atom [SP 1*<any TEXT-CHAR except "]">].
 * pos is just after the SP that follows the status word.  Codes with
 * malformed numbers keep code_n1/code_n2 at 0 rather than failing, so an odd
 * server does not kill the session. */
static int resp_text(ni__cur *c) {
  ni_resp *r = &c->p->resp;
  int rc;
  if (ni__peek(c) == '[') {
    size_t ca, cb, aa = 0, ab = 0, off, i;
    ca = ++c->pos;
    while (c->pos < c->end && c->s[c->pos] != ']' && c->s[c->pos] != ' ' && c->s[c->pos] != '\r' &&
           c->s[c->pos] != '\n')
      c->pos++;
    cb = c->pos;
    if (ca == cb) return ni__perr(c, "empty response code");
    if (ni__peek(c) == ' ') {
      aa = ++c->pos;
      while (c->pos < c->end && c->s[c->pos] != ']')
        c->pos++;
      ab = c->pos;
    }
    if (ni__expect(c, ']', "unterminated response code") < 0) return c->p->err;
    off = c->p->alen;
    for (i = ca; i < cb; i++) {
      char u = (char)ni__upper((unsigned char)c->s[i]);
      if ((rc = ni__arena_put(c->p, &u, 1)) < 0) return rc;
    }
    if ((rc = ni__arena_finish(c->p, &r->code, off)) < 0) return rc;
    if (aa && (rc = ni__emit_span(c->p, &r->code_arg, aa, ab)) < 0) return rc;
    if (ni__span_is(c, ca, cb, "UIDVALIDITY") || ni__span_is(c, ca, cb, "UIDNEXT")) {
      if (aa) r->code_n1 = span_number(c, aa, ab);
    } else if (ni__span_is(c, ca, cb, "APPENDUID") && aa) {
      size_t sp = aa;
      while (sp < ab && c->s[sp] != ' ')
        sp++;
      r->code_n1 = span_number(c, aa, sp);
      if (sp < ab) r->code_n2 = span_number(c, sp + 1, ab);
    } else if (ni__span_is(c, ca, cb, "CAPABILITY") && aa) {
      if ((rc = ni__emit_span(c->p, &r->caps, aa, ab)) < 0) return rc;
    }
    if (ni__peek(c) == ' ') c->pos++;
  }
  return ni__emit_span(c->p, &r->text, c->pos, c->end);
}

/* RFC 3501 section 9: address = "(" addr-name SP addr-adl SP addr-mailbox
 * SP addr-host ")".  Emits the first address of an address list as
 * "Name <mailbox@host>" or "mailbox@host"; skips the rest of the list. */
static int env_first_address(ni__cur *c, ni_str *dst) {
  ni_parser *p = c->p;
  ni__val name, adl, mbox, host;
  size_t off;
  int rc, ch;
  if (ni__at_nil(c)) {
    c->pos += 3;
    return 0;
  }
  if (ni__peek(c) != '(') return ni__perr(c, "bad address list");
  if ((rc = ni__deeper(c)) < 0) return rc;
  c->pos++;
  if (ni__peek(c) == '(') {
    if ((rc = ni__deeper(c)) < 0) return rc;
    c->pos++;
    if ((rc = ni__parse_nstring(c, &name)) < 0 || (rc = ni__expect(c, ' ', "bad address")) < 0 ||
        (rc = ni__parse_nstring(c, &adl)) < 0 || (rc = ni__expect(c, ' ', "bad address")) < 0 ||
        (rc = ni__parse_nstring(c, &mbox)) < 0 || (rc = ni__expect(c, ' ', "bad address")) < 0 ||
        (rc = ni__parse_nstring(c, &host)) < 0 || (rc = ni__expect(c, ')', "bad address")) < 0)
      return rc;
    c->depth--;
    off = p->alen;
    if (name.n && ((rc = ni__arena_put_val(p, name)) < 0 || (rc = ni__arena_put(p, " <", 2)) < 0))
      return rc;
    if ((rc = ni__arena_put_val(p, mbox)) < 0) return rc;
    if (host.n && ((rc = ni__arena_put(p, "@", 1)) < 0 || (rc = ni__arena_put_val(p, host)) < 0))
      return rc;
    if (name.n && (rc = ni__arena_put(p, ">", 1)) < 0) return rc;
    if ((rc = ni__arena_finish(p, dst, off)) < 0) return rc;
  }
  for (;;) {
    ch = ni__peek(c);
    if (ch == ')') break;
    if (ch == ' ')
      c->pos++;
    else if (ch != '(')
      return ni__perr(c, "bad address list");
    if ((rc = ni__skip_value(c)) < 0) return rc;
  }
  ni__close_list(c);
  return 0;
}

/* RFC 3501 section 9: envelope = "(" env-date SP env-subject SP env-from SP
 * env-sender SP env-reply-to SP env-to SP env-cc SP env-bcc SP
 * env-in-reply-to SP env-message-id ")". */
static int parse_envelope(ni__cur *c) {
  ni_fetch *f = &c->p->resp.fetch;
  ni__val date, subject, irt, mid;
  int rc, i;
  if (ni__peek(c) != '(') return ni__perr(c, "bad envelope");
  if ((rc = ni__deeper(c)) < 0) return rc;
  c->pos++;
  if ((rc = ni__parse_nstring(c, &date)) < 0 || (rc = ni__expect(c, ' ', "bad envelope")) < 0 ||
      (rc = ni__parse_nstring(c, &subject)) < 0 || (rc = ni__expect(c, ' ', "bad envelope")) < 0 ||
      (rc = env_first_address(c, &f->env_from)) < 0)
    return rc;
  for (i = 0; i < 5; i++) /* sender, reply-to, to, cc, bcc */
    if ((rc = ni__expect(c, ' ', "bad envelope")) < 0 || (rc = ni__skip_value(c)) < 0) return rc;
  if ((rc = ni__expect(c, ' ', "bad envelope")) < 0 || (rc = ni__parse_nstring(c, &irt)) < 0 ||
      (rc = ni__expect(c, ' ', "bad envelope")) < 0 || (rc = ni__parse_nstring(c, &mid)) < 0 ||
      (rc = ni__expect(c, ')', "bad envelope")) < 0)
    return rc;
  c->depth--;
  f->has_envelope = 1;
  if ((rc = ni__emit_val(c->p, &f->env_date, date)) < 0 ||
      (rc = ni__emit_val(c->p, &f->env_subject, subject)) < 0 ||
      (rc = ni__emit_val(c->p, &f->env_message_id, mid)) < 0)
    return rc;
  return 0;
}

/* RFC 3501 section 7.4.2 / RFC 9051 section 7.5.2: message-data = nz-number
 * SP "FETCH" SP msg-att; msg-att = "(" (msg-att-dynamic / msg-att-static)
 * *(SP ...) ")".  UID, FLAGS, ENVELOPE and the first BODY[section] /
 * BINARY[section] are kept; every other item is stepped over. */
static int parse_msg_att(ni__cur *c) {
  ni_parser *p = c->p;
  ni_fetch *f = &p->resp.fetch;
  int rc, have_body = 0;
  if (ni__peek(c) != '(') return ni__perr(c, "bad FETCH data");
  if ((rc = ni__open_list(c)) != 0) return rc < 0 ? rc : 0;
  for (;;) {
    size_t na = c->pos, nb, sa = 0, sb = 0;
    while (c->pos < c->end && strchr(" ()[\r\n", c->s[c->pos]) == NULL)
      c->pos++;
    nb = c->pos;
    if (na == nb) return ni__perr(c, "bad FETCH item");
    if (ni__peek(c) == '[') {
      sa = c->pos + 1;
      if ((rc = ni__skip_section(c)) < 0) return rc;
      sb = c->pos - 1;
      if (ni__peek(c) == '<') { /* RFC 3501 section 9: "<" number ">" origin */
        uint32_t origin;
        c->pos++;
        if ((rc = ni__parse_number(c, &origin)) < 0 ||
            (rc = ni__expect(c, '>', "bad FETCH item")) < 0)
          return rc;
      }
    }
    if ((rc = ni__expect(c, ' ', "expected SP after FETCH item")) < 0) return rc;
    if (!sa && ni__span_is(c, na, nb, "UID")) {
      if ((rc = ni__parse_number(c, &f->uid)) < 0) return rc;
      f->has_uid = 1;
    } else if (!sa && ni__span_is(c, na, nb, "FLAGS")) {
      size_t fa = c->pos + 1;
      if (ni__peek(c) != '(') return ni__perr(c, "bad FLAGS");
      if ((rc = ni__skip_list(c)) < 0 || (rc = ni__emit_span(p, &f->flags, fa, c->pos - 1)) < 0)
        return rc;
    } else if (!sa && ni__span_is(c, na, nb, "ENVELOPE")) {
      if ((rc = parse_envelope(c)) < 0) return rc;
    } else if (sa && (ni__span_is(c, na, nb, "BODY") || ni__span_is(c, na, nb, "BINARY"))) {
      ni__val v;
      if ((rc = ni__parse_nstring(c, &v)) < 0) return rc;
      if (!have_body) {
        have_body = 1;
        if ((rc = ni__emit_span(p, &f->header_section, sa, sb)) < 0 ||
            (rc = ni__emit_val(p, &f->header, v)) < 0)
          return rc;
      }
    } else if ((rc = ni__skip_value(c)) < 0) {
      return rc;
    }
    if (ni__peek(c) == ')') {
      ni__close_list(c);
      return 0;
    }
    if ((rc = ni__expect(c, ' ', "unbalanced parentheses")) < 0) return rc;
  }
}

static int expect_end(ni__cur *c, const char *msg) {
  return c->pos == c->end ? 0 : ni__perr(c, msg);
}

/* RFC 3501 section 7 / RFC 9051 section 7: response-data = "*" SP
 * (resp-cond-state / resp-cond-bye / mailbox-data / message-data /
 * capability-data / enable-data) CRLF; greeting = "*" SP (resp-cond-auth /
 * resp-cond-bye) CRLF. */
static int parse_untagged(ni__cur *c) {
  ni_parser *p = c->p;
  ni_resp *r = &p->resp;
  size_t a, b;
  int rc;
  r->kind = NI_RESP_UNTAGGED;
  if (c->pos == c->end) return ni__perr(c, "empty untagged response");
  if (ni__is_digit(ni__peek(c))) {
    /* RFC 3501 section 7.3.1, 7.3.2, 7.4.1, 7.4.2: nz-number SP ("EXISTS" /
     * "RECENT" / "EXPUNGE" / "FETCH" SP msg-att). */
    if ((rc = ni__parse_number(c, &r->number)) < 0 || (rc = ni__expect(c, ' ', "expected SP")) < 0)
      return rc;
    a = ni__take_atom(c);
    b = c->pos;
    if (ni__span_is(c, a, b, "EXISTS"))
      r->type = NI_R_EXISTS;
    else if (ni__span_is(c, a, b, "RECENT"))
      r->type = NI_R_RECENT;
    else if (ni__span_is(c, a, b, "EXPUNGE"))
      r->type = NI_R_EXPUNGE;
    else if (ni__span_is(c, a, b, "FETCH")) {
      r->type = NI_R_FETCH;
      r->fetch.seq = r->number;
      if ((rc = ni__expect(c, ' ', "expected SP after FETCH")) < 0 || (rc = parse_msg_att(c)) < 0)
        return rc;
      return expect_end(c, "junk after FETCH data");
    } else {
      r->type = NI_R_OTHER;
      return ni__emit_span(p, &r->data, 2, c->end);
    }
    return expect_end(c, "junk after message count");
  }
  a = ni__take_atom(c);
  b = c->pos;
  if (ni__span_is(c, a, b, "OK") || ni__span_is(c, a, b, "NO") || ni__span_is(c, a, b, "BAD") ||
      ni__span_is(c, a, b, "BYE") || ni__span_is(c, a, b, "PREAUTH")) {
    /* RFC 3501 section 7.1: resp-cond-state / resp-cond-bye / resp-cond-auth. */
    char k0 = (char)ni__upper((unsigned char)c->s[a]);
    char k1 = (char)ni__upper((unsigned char)c->s[a + 1]);
    r->type = k0 == 'O'   ? NI_R_OK
              : k0 == 'N' ? NI_R_NO
              : k0 == 'P' ? NI_R_PREAUTH
              : k1 == 'A' ? NI_R_BAD
                          : NI_R_BYE;
    if (c->pos < c->end && (rc = ni__expect(c, ' ', "expected SP after status")) < 0) return rc;
    return resp_text(c);
  }
  if (ni__span_is(c, a, b, "CAPABILITY")) {
    /* RFC 3501 section 7.2.1: capability-data = "CAPABILITY" *(SP capability). */
    r->type = NI_R_CAPABILITY;
    if (c->pos < c->end && (rc = ni__expect(c, ' ', "expected SP")) < 0) return rc;
    return ni__emit_span(p, &r->caps, c->pos, c->end);
  }
  if (ni__span_is(c, a, b, "FLAGS") || ni__span_is(c, a, b, "LIST") ||
      ni__span_is(c, a, b, "STATUS") || ni__span_is(c, a, b, "NAMESPACE")) {
    /* RFC 3501 section 7.2.2 (LIST), 7.2.4 (STATUS), 7.2.6 (FLAGS), RFC 2342
     * section 5 (NAMESPACE): the data is kept raw, but its lists are checked
     * for balance and depth.  ni_list_delimiter() and ni_namespace_parse()
     * read it when asked, so a server's odd LIST or NAMESPACE costs only
     * that answer, never the connection. */
    r->type = ni__span_is(c, a, b, "FLAGS")    ? NI_R_FLAGS
              : ni__span_is(c, a, b, "LIST")   ? NI_R_LIST
              : ni__span_is(c, a, b, "STATUS") ? NI_R_STATUS
                                               : NI_R_NAMESPACE;
    if ((rc = ni__expect(c, ' ', "expected SP")) < 0) return rc;
    a = c->pos;
    if ((rc = ni__skip_values_to_end(c)) < 0) return rc;
    return ni__emit_span(p, &r->data, a, c->end);
  }
  if (ni__span_is(c, a, b, "SEARCH") || ni__span_is(c, a, b, "ENABLED")) {
    /* RFC 3501 section 7.2.5: mailbox-data =/ "SEARCH" *(SP nz-number);
     * RFC 5161 section 4: enable-data = "ENABLED" *(SP capability). */
    r->type = ni__span_is(c, a, b, "SEARCH") ? NI_R_SEARCH : NI_R_ENABLED;
    if (c->pos < c->end && (rc = ni__expect(c, ' ', "expected SP")) < 0) return rc;
    return ni__emit_span(p, &r->data, c->pos, c->end);
  }
  /* An extension natidle does not know: hand it over raw. */
  r->type = NI_R_OTHER;
  return ni__emit_span(p, &r->data, 2, c->end);
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
int ni__parse_response(ni_parser *p) {
  ni_resp *r = &p->resp;
  ni__cur c;
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
  if (c.end == 0) return ni__perr(&c, "empty line");
  if (c.s[0] == '+') {
    /* RFC 3501 section 7.5: continue-req = "+" SP (resp-text / base64) CRLF.
     * A bare "+" is accepted too: some servers send it. */
    r->kind = NI_RESP_CONTINUE;
    r->type = NI_R_OTHER;
    c.pos = 1;
    if (c.pos < c.end && (rc = ni__expect(&c, ' ', "expected SP after +")) < 0) return rc;
    rc = resp_text(&c);
  } else if (c.s[0] == '*') {
    c.pos = 1;
    if ((rc = ni__expect(&c, ' ', "expected SP after *")) < 0) return rc;
    rc = parse_untagged(&c);
  } else {
    /* RFC 3501 section 7.1: response-tagged = tag SP resp-cond-state CRLF;
     * tag = 1*<any ASTRING-CHAR except "+">. */
    size_t a = c.pos, b;
    while (c.pos < c.end && (ni__is_atom_char((unsigned char)c.s[c.pos]) || c.s[c.pos] == ']') &&
           c.s[c.pos] != '+')
      c.pos++;
    if (c.pos == a) return ni__perr(&c, "bad tag");
    r->kind = NI_RESP_TAGGED;
    if ((rc = ni__emit_span(p, &r->tag, a, c.pos)) < 0 ||
        (rc = ni__expect(&c, ' ', "expected SP after tag")) < 0)
      return rc;
    a = ni__take_atom(&c);
    b = c.pos;
    if (ni__span_is(&c, a, b, "OK"))
      r->type = NI_R_OK;
    else if (ni__span_is(&c, a, b, "NO"))
      r->type = NI_R_NO;
    else if (ni__span_is(&c, a, b, "BAD"))
      r->type = NI_R_BAD;
    else
      return ni__perr(&c, "bad tagged status");
    if (c.pos < c.end && (rc = ni__expect(&c, ' ', "expected SP after status")) < 0) return rc;
    rc = resp_text(&c);
  }
  if (rc < 0) return rc;
  for (i = 0; i < p->nfix; i++) {
    p->fix[i].dst->p = p->arena + p->fix[i].off;
    p->fix[i].dst->n = p->fix[i].n;
  }
  return 0;
}
