/*
 * tests/parser_check.c - the checks the IMAP parser's tests share: every
 * stream is fed whole and byte by byte (and split at every position where
 * asked), and every way must give the same responses and the same error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parser_check.h"

const char greeting[] =
    "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
    "STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\r\n";

const char fetch_env[] =
    "* 4 FETCH (UID 17 FLAGS (\\Seen $Forwarded) ENVELOPE (\"Fri, 27 Nov 2026 21:00:00 +0000\" "
    "\"Test \\\"quoted\\\" \\\\ subject\" ((\"Alice Example\" NIL \"alice\" \"example.org\")) "
    "((\"Alice Example\" NIL \"alice\" \"example.org\")) ((\"Alice Example\" NIL \"alice\" "
    "\"example.org\")) ((NIL NIL \"bob\" \"example.net\")(NIL NIL \"carol\" \"example.net\")) "
    "NIL NIL NIL \"<msg1@example.org>\") BODY[HEADER.FIELDS (FROM TO SUBJECT)] {76}\r\n"
    "From: Alice Example <alice@example.org>\r\nTo: bob@example.net\r\nSubject: x\r\n\r\n)\r\n";

/* The output of SELECT on Dovecot, split at every byte. */
const char select_stream[] =
    "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
    "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags "
    "permitted.\r\n"
    "* 3 EXISTS\r\n"
    "* 0 RECENT\r\n"
    "* OK [UIDVALIDITY 1700000000] UIDs valid\r\n"
    "* OK [UIDNEXT 4] Predicted next UID\r\n"
    "a2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n"
    "* 4 EXI";

static void sb_put(sbuf *b, const void *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    b->cap = (b->n + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
    assert_non_null(b->p);
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

/* Append one field as "name=len:bytes;" after checking the ni_str
 * invariants every field must keep: p not NULL and p[n] == NUL. */
static void sb_str(sbuf *b, const char *name, ni_str s) {
  char hdr[64];
  assert_non_null(s.p);
  assert_int_equal(s.p[s.n], '\0');
  snprintf(hdr, sizeof(hdr), "%s=%zu:", name, s.n);
  sb_put(b, hdr, strlen(hdr));
  sb_put(b, s.p, s.n);
  sb_put(b, ";", 1);
}

/* Flatten every field of a response so two responses compare with memcmp. */
void flatten(sbuf *b, const ni_resp *r) {
  char nums[160];
  snprintf(nums, sizeof(nums), "k=%d t=%d num=%u n1=%u n2=%u seq=%u uid=%u hu=%d he=%d;",
           (int)r->kind, (int)r->type, r->number, r->code_n1, r->code_n2, r->fetch.seq,
           r->fetch.uid, r->fetch.has_uid, r->fetch.has_envelope);
  sb_put(b, nums, strlen(nums));
  sb_str(b, "tag", r->tag);
  sb_str(b, "code", r->code);
  sb_str(b, "arg", r->code_arg);
  sb_str(b, "text", r->text);
  sb_str(b, "caps", r->caps);
  sb_str(b, "data", r->data);
  sb_str(b, "flags", r->fetch.flags);
  sb_str(b, "date", r->fetch.env_date);
  sb_str(b, "subj", r->fetch.env_subject);
  sb_str(b, "from", r->fetch.env_from);
  sb_str(b, "mid", r->fetch.env_message_id);
  sb_str(b, "sec", r->fetch.header_section);
  sb_str(b, "hdr", r->fetch.header);
  sb_str(b, "raw", r->raw);
}

/* Feed buf[0..len) in pieces of at most step bytes (0: all at once), with
 * an extra cut at position cut (0: none). */
void run_stream(const ni_parser_limits *lim, const char *buf, size_t len, size_t step, size_t cut,
                outcome *o) {
  ni_parser *p = ni_parser_new(lim);
  size_t pos = 0;
  assert_non_null(p);
  memset(o, 0, sizeof(*o));
  while (pos < len) {
    size_t piece = len - pos, used = 0;
    if (step && piece > step) piece = step;
    if (cut && pos < cut && piece > cut - pos) piece = cut - pos;
    /* Feed the piece until the parser has taken all of it. */
    while (piece > 0) {
      ni_resp r;
      int rc = ni_parser_feed(p, buf + pos, piece, &used, &r);
      assert_true(used <= piece);
      pos += used;
      piece -= used;
      if (rc < 0) {
        o->err = rc;
        snprintf(o->errstr, sizeof(o->errstr), "%s", ni_parser_errstr(p));
        assert_true(o->errstr[0] != '\0');
        /* Sticky: the same error again, nothing consumed. */
        assert_int_equal(ni_parser_feed(p, "* OK\r\n", 6, &used, &r), rc);
        assert_int_equal(used, 0);
        ni_parser_free(p);
        return;
      }
      if (rc == 1) {
        flatten(&o->all, &r);
        o->nresp++;
      } else {
        assert_int_equal(rc, 0);
        assert_int_equal(piece, 0);
      }
    }
  }
  assert_string_equal(ni_parser_errstr(p), "");
  ni_parser_free(p);
}

static void assert_same(const outcome *a, const outcome *b) {
  assert_int_equal(a->nresp, b->nresp);
  assert_int_equal(a->err, b->err);
  assert_string_equal(a->errstr, b->errstr);
  assert_int_equal(a->all.n, b->all.n);
  if (a->all.n) assert_memory_equal(a->all.p, b->all.p, a->all.n);
}

/* Feed whole and byte by byte; both must agree.  Returns the whole run's
 * outcome in *o (the caller frees o->all.p). */
void check_splits(const ni_parser_limits *lim, const char *buf, size_t len, outcome *o) {
  outcome bytewise;
  run_stream(lim, buf, len, 0, 0, o);
  run_stream(lim, buf, len, 1, 0, &bytewise);
  assert_same(o, &bytewise);
  free(bytewise.all.p);
}

/* Every two-piece split of the stream gives the same outcome as whole. */
void check_every_cut(const ni_parser_limits *lim, const char *buf, size_t len) {
  outcome whole, cut;
  size_t i;
  run_stream(lim, buf, len, 0, 0, &whole);
  for (i = 1; i < len; i++) {
    run_stream(lim, buf, len, 0, i, &cut);
    assert_same(&whole, &cut);
    free(cut.all.p);
  }
  free(whole.all.p);
}

/* The parser used to look at single responses: after check_splits passed,
 * the response is parsed once more here and handed out. */
static ni_parser *g_p;

ni_resp parse_len(const char *s, size_t len) {
  outcome o;
  ni_resp r;
  size_t used;
  int rc;
  check_splits(NULL, s, len, &o);
  assert_int_equal(o.err, 0);
  assert_int_equal(o.nresp, 1);
  free(o.all.p);
  ni_parser_free(g_p);
  g_p = ni_parser_new(NULL);
  assert_non_null(g_p);
  rc = ni_parser_feed(g_p, s, len, &used, &r);
  assert_int_equal(rc, 1);
  assert_int_equal(used, len);
  assert_int_equal(r.raw.n, len);
  assert_memory_equal(r.raw.p, s, len);
  assert_int_equal(ni_parser_buffered(g_p), 0);
  return r;
}

ni_resp parse1(const char *s) {
  return parse_len(s, strlen(s));
}

/* Expect the stream to fail with err and message msg, whole and bytewise. */
void expect_error_lim(const ni_parser_limits *lim, const char *s, size_t len, int err,
                      const char *msg) {
  outcome o;
  check_splits(lim, s, len, &o);
  assert_int_equal(o.err, err);
  assert_string_equal(o.errstr, msg);
  free(o.all.p);
}

/* Expect the stream to give nresp responses and no error, whole and
 * bytewise. */
void expect_ok(const ni_parser_limits *lim, const char *s, size_t len, int nresp) {
  outcome o;
  check_splits(lim, s, len, &o);
  assert_int_equal(o.err, 0);
  assert_int_equal(o.nresp, nresp);
  free(o.all.p);
}

void expect_error(const char *s, int err, const char *msg) {
  expect_error_lim(NULL, s, strlen(s), err, msg);
}

void assert_str(ni_str s, const char *want) {
  assert_int_equal(s.n, strlen(want));
  assert_string_equal(s.p, want);
}

int teardown_parser(void **state) {
  (void)state;
  ni_parser_free(g_p);
  g_p = NULL;
  return 0;
}
