/* Tests of the IMAP response parser (imap/parser.c).
 *
 * Every response is checked twice: fed whole and fed one byte at a time, and
 * both runs must give the same responses and the same error.  Multi-response
 * streams are also split at every byte position. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "natidle/imap.h"

/* ---- helpers ---------------------------------------------------------- */

/* A growable byte buffer for a flattened response. */
typedef struct sbuf {
  char *p;
  size_t n, cap;
} sbuf;

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
static void flatten(sbuf *b, const ni_resp *r) {
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

/* The outcome of feeding a stream: every response flattened, then the
 * error (0 when none) and its message. */
typedef struct outcome {
  sbuf all;
  int nresp;
  int err;
  char errstr[80];
} outcome;

/* Feed buf[0..len) in pieces of at most step bytes (0: all at once), with
 * an extra cut at position cut (0: none). */
static void run(const ni_parser_limits *lim, const char *buf, size_t len, size_t step, size_t cut,
                outcome *o) {
  ni_parser *p = ni_parser_new(lim);
  size_t pos = 0;
  assert_non_null(p);
  memset(o, 0, sizeof(*o));
  while (pos < len) {
    size_t piece = len - pos, used = 0;
    if (step && piece > step)
      piece = step;
    if (cut && pos < cut && piece > cut - pos)
      piece = cut - pos;
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
  if (a->all.n)
    assert_memory_equal(a->all.p, b->all.p, a->all.n);
}

/* Feed whole and byte by byte; both must agree.  Returns the whole run's
 * outcome in *o (the caller frees o->all.p). */
static void check_splits(const ni_parser_limits *lim, const char *buf, size_t len, outcome *o) {
  outcome bytewise;
  run(lim, buf, len, 0, 0, o);
  run(lim, buf, len, 1, 0, &bytewise);
  assert_same(o, &bytewise);
  free(bytewise.all.p);
}

/* Every two-piece split of the stream gives the same outcome as whole. */
static void check_every_cut(const ni_parser_limits *lim, const char *buf, size_t len) {
  outcome whole, cut;
  size_t i;
  run(lim, buf, len, 0, 0, &whole);
  for (i = 1; i < len; i++) {
    run(lim, buf, len, 0, i, &cut);
    assert_same(&whole, &cut);
    free(cut.all.p);
  }
  free(whole.all.p);
}

/* The parser used to look at single responses: after check_splits passed,
 * the response is parsed once more here and handed out. */
static ni_parser *g_p;

static ni_resp parse_len(const char *s, size_t len) {
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

static ni_resp parse1(const char *s) { return parse_len(s, strlen(s)); }

/* Expect the stream to fail with err and message msg, whole and bytewise. */
static void expect_error_lim(const ni_parser_limits *lim, const char *s, size_t len, int err,
                             const char *msg) {
  outcome o;
  check_splits(lim, s, len, &o);
  assert_int_equal(o.err, err);
  assert_string_equal(o.errstr, msg);
  free(o.all.p);
}

/* Expect the stream to give nresp responses and no error, whole and
 * bytewise. */
static void expect_ok(const ni_parser_limits *lim, const char *s, size_t len, int nresp) {
  outcome o;
  check_splits(lim, s, len, &o);
  assert_int_equal(o.err, 0);
  assert_int_equal(o.nresp, nresp);
  free(o.all.p);
}

static void expect_error(const char *s, int err, const char *msg) {
  expect_error_lim(NULL, s, strlen(s), err, msg);
}

static void assert_str(ni_str s, const char *want) {
  assert_int_equal(s.n, strlen(want));
  assert_string_equal(s.p, want);
}

static int teardown(void **state) {
  (void)state;
  ni_parser_free(g_p);
  g_p = NULL;
  return 0;
}

/* ---- responses --------------------------------------------------------- */

static const char greeting[] =
    "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
    "STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\r\n";

static void test_greeting(void **state) {
  ni_resp r = parse1(greeting);
  (void)state;
  assert_int_equal(r.kind, NI_RESP_UNTAGGED);
  assert_int_equal(r.type, NI_R_OK);
  assert_str(r.code, "CAPABILITY");
  assert_true(ni_caps_has(r.caps, "IDLE"));
  assert_true(ni_caps_has(r.caps, "auth=plain"));
  assert_true(ni_caps_has(r.caps, "IMAP4rev1"));
  assert_false(ni_caps_has(r.caps, "IDL"));
  assert_false(ni_caps_has(r.caps, "AUTH"));
  assert_false(ni_caps_has(r.caps, ""));
  assert_str(r.code_arg, "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS "
                         "AUTH=PLAIN");
  assert_str(r.text, "Dovecot (Debian) ready.");
  assert_str(r.tag, "");
}

static void test_capability(void **state) {
  ni_resp r = parse1("* CAPABILITY IMAP4rev1 SASL-IR IDLE NOTIFY UIDPLUS LITERAL+ "
                     "ENABLE UTF8=ACCEPT\r\n");
  (void)state;
  assert_int_equal(r.type, NI_R_CAPABILITY);
  assert_true(ni_caps_has(r.caps, "NOTIFY"));
  assert_true(ni_caps_has(r.caps, "utf8=accept"));
  assert_false(ni_caps_has(r.caps, "STARTTLS"));
  r = parse1("a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n");
  assert_int_equal(r.kind, NI_RESP_TAGGED);
  assert_str(r.tag, "a1");
  assert_true(ni_caps_has(r.caps, "IDLE"));
  assert_str(r.text, "Logged in");
}

static void test_exists_expunge_recent(void **state) {
  ni_resp r = parse1("* 23 EXISTS\r\n");
  (void)state;
  assert_int_equal(r.type, NI_R_EXISTS);
  assert_int_equal(r.number, 23);
  r = parse1("* 4 expunge\r\n");
  assert_int_equal(r.type, NI_R_EXPUNGE);
  assert_int_equal(r.number, 4);
  r = parse1("* 0 RECENT\r\n");
  assert_int_equal(r.type, NI_R_RECENT);
  assert_int_equal(r.number, 0);
  r = parse1("* 4294967295 EXISTS\r\n");
  assert_int_equal(r.number, 4294967295u);
}

static void test_continuation(void **state) {
  ni_resp r = parse1("+ idling\r\n");
  (void)state;
  assert_int_equal(r.kind, NI_RESP_CONTINUE);
  assert_int_equal(r.type, NI_R_OTHER);
  assert_str(r.text, "idling");
  r = parse1("+\r\n");
  assert_int_equal(r.kind, NI_RESP_CONTINUE);
  assert_str(r.text, "");
  r = parse1("+ \r\n"); /* SASL empty challenge */
  assert_str(r.text, "");
  r = parse1("+ Ready for literal data\r\n");
  assert_str(r.text, "Ready for literal data");
}

static void test_tagged_codes(void **state) {
  ni_resp r = parse1("a3 OK [APPENDUID 1700000000 18] Append completed.\r\n");
  (void)state;
  assert_int_equal(r.kind, NI_RESP_TAGGED);
  assert_int_equal(r.type, NI_R_OK);
  assert_str(r.code, "APPENDUID");
  assert_int_equal(r.code_n1, 1700000000u);
  assert_int_equal(r.code_n2, 18);
  assert_str(r.code_arg, "1700000000 18");
  r = parse1("a3 OK [APPENDUID 1700000000 18:20] Append completed.\r\n");
  assert_int_equal(r.code_n1, 1700000000u);
  assert_int_equal(r.code_n2, 0); /* a set, not one UID */
  r = parse1("* OK [UIDVALIDITY 1700000000] UIDs valid\r\n");
  assert_str(r.code, "UIDVALIDITY");
  assert_int_equal(r.code_n1, 1700000000u);
  r = parse1("* OK [uidnext 4] Predicted next UID\r\n");
  assert_str(r.code, "UIDNEXT");
  assert_int_equal(r.code_n1, 4);
  r = parse1("a4 NO [UNAVAILABLE] Temporary failure, try again\r\n");
  assert_int_equal(r.type, NI_R_NO);
  assert_str(r.code, "UNAVAILABLE");
  assert_str(r.code_arg, "");
  assert_str(r.text, "Temporary failure, try again");
  r = parse1("a5 NO [LIMIT] Too many connections from your IP\r\n");
  assert_str(r.code, "LIMIT");
  r = parse1("* OK [ALERT] System going down\r\n");
  assert_str(r.code, "ALERT");
  assert_str(r.text, "System going down");
  r = parse1("a6 BAD Error in IMAP command: Unknown command\r\n");
  assert_int_equal(r.type, NI_R_BAD);
  assert_str(r.code, "");
  r = parse1("a2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n");
  assert_str(r.code, "READ-WRITE");
  r = parse1("* OK [PERMANENTFLAGS (\\Answered \\Seen \\*)] Flags permitted.\r\n");
  assert_str(r.code, "PERMANENTFLAGS");
  assert_str(r.code_arg, "(\\Answered \\Seen \\*)");
  r = parse1("a7 OK\r\n"); /* no text at all: seen in the wild */
  assert_str(r.text, "");
  r = parse1("A.1-x] OK done\r\n");
  assert_str(r.tag, "A.1-x]");
}

static void test_bye_preauth(void **state) {
  ni_resp r = parse1("* BYE Server shutting down.\r\n");
  (void)state;
  assert_int_equal(r.type, NI_R_BYE);
  assert_str(r.text, "Server shutting down.");
  r = parse1("* BYE [UNAVAILABLE] Maximum number of connections exceeded\r\n");
  assert_int_equal(r.type, NI_R_BYE);
  assert_str(r.code, "UNAVAILABLE");
  r = parse1("* PREAUTH [CAPABILITY IMAP4rev1 IDLE] Logged in as alice\r\n");
  assert_int_equal(r.type, NI_R_PREAUTH);
  assert_true(ni_caps_has(r.caps, "IDLE"));
  r = parse1("* NO [ALERT] Quota warning\r\n");
  assert_int_equal(r.type, NI_R_NO);
  r = parse1("* BAD Invalid tag\r\n");
  assert_int_equal(r.type, NI_R_BAD);
}

static void test_flags_search_list_status_enabled(void **state) {
  uint32_t v;
  ni_str l;
  ni_resp r = parse1("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n");
  (void)state;
  assert_int_equal(r.type, NI_R_FLAGS);
  assert_str(r.data, "(\\Answered \\Flagged \\Deleted \\Seen \\Draft)");
  r = parse1("* SEARCH 2 5 4294967295\r\n");
  assert_int_equal(r.type, NI_R_SEARCH);
  l = r.data;
  assert_int_equal(ni_uint_list_next(&l, &v), 1);
  assert_int_equal(v, 2);
  assert_int_equal(ni_uint_list_next(&l, &v), 1);
  assert_int_equal(v, 5);
  assert_int_equal(ni_uint_list_next(&l, &v), 1);
  assert_int_equal(v, 4294967295u);
  assert_int_equal(ni_uint_list_next(&l, &v), 0);
  assert_int_equal(ni_uint_list_next(&l, &v), 0);
  r = parse1("* SEARCH\r\n");
  assert_int_equal(r.type, NI_R_SEARCH);
  l = r.data;
  assert_int_equal(ni_uint_list_next(&l, &v), 0);
  l.p = "1 4294967296";
  l.n = strlen(l.p);
  assert_int_equal(ni_uint_list_next(&l, &v), 1);
  assert_int_equal(ni_uint_list_next(&l, &v), NI_EPARSE);
  l.p = "1 x";
  l.n = 3;
  assert_int_equal(ni_uint_list_next(&l, &v), 1);
  assert_int_equal(ni_uint_list_next(&l, &v), NI_EPARSE);
  r = parse1("* LIST (\\HasNoChildren) \"/\" INBOX\r\n");
  assert_int_equal(r.type, NI_R_LIST);
  assert_str(r.data, "(\\HasNoChildren) \"/\" INBOX");
  r = parse1("* LIST () \"/\" {7}\r\nMy \"Box\r\n");
  assert_int_equal(r.type, NI_R_LIST);
  assert_str(r.data, "() \"/\" {7}\r\nMy \"Box");
  r = parse1("* STATUS natidle-probe (MESSAGES 5 UIDNEXT 19 UIDVALIDITY 1700000000)\r\n");
  assert_int_equal(r.type, NI_R_STATUS);
  assert_str(r.data, "natidle-probe (MESSAGES 5 UIDNEXT 19 UIDVALIDITY 1700000000)");
  r = parse1("* ENABLED CONDSTORE UTF8=ACCEPT\r\n");
  assert_int_equal(r.type, NI_R_ENABLED);
  assert_str(r.data, "CONDSTORE UTF8=ACCEPT");
  r = parse1("* ENABLED\r\n");
  assert_int_equal(r.type, NI_R_ENABLED);
  assert_str(r.data, "");
}

static void test_other(void **state) {
  ni_resp r = parse1("* ID (\"name\" \"Dovecot\")\r\n");
  (void)state;
  assert_int_equal(r.kind, NI_RESP_UNTAGGED);
  assert_int_equal(r.type, NI_R_OTHER);
  assert_str(r.data, "ID (\"name\" \"Dovecot\")");
  r = parse1("* 3 XFOO bar :)\r\n");
  assert_int_equal(r.type, NI_R_OTHER);
  assert_int_equal(r.number, 3);
  assert_str(r.data, "3 XFOO bar :)");
  r = parse1("* ESEARCH (TAG \"a1\") UID ALL 1:3\r\n");
  assert_int_equal(r.type, NI_R_OTHER);
  r = parse1("* XEXT (unbalanced {3}\r\nabc\r\n");
  assert_int_equal(r.type, NI_R_OTHER);
  assert_str(r.data, "XEXT (unbalanced {3}\r\nabc");
}

static const char fetch_env[] =
    "* 4 FETCH (UID 17 FLAGS (\\Seen $Forwarded) ENVELOPE (\"Fri, 27 Nov 2026 21:00:00 +0000\" "
    "\"Test \\\"quoted\\\" \\\\ subject\" ((\"Alice Example\" NIL \"alice\" \"example.org\")) "
    "((\"Alice Example\" NIL \"alice\" \"example.org\")) ((\"Alice Example\" NIL \"alice\" "
    "\"example.org\")) ((NIL NIL \"bob\" \"example.net\")(NIL NIL \"carol\" \"example.net\")) "
    "NIL NIL NIL \"<msg1@example.org>\") BODY[HEADER.FIELDS (FROM TO SUBJECT)] {76}\r\n"
    "From: Alice Example <alice@example.org>\r\nTo: bob@example.net\r\nSubject: x\r\n\r\n)\r\n";

static void test_fetch_envelope_header(void **state) {
  ni_resp r = parse1(fetch_env);
  (void)state;
  assert_int_equal(r.type, NI_R_FETCH);
  assert_int_equal(r.number, 4);
  assert_int_equal(r.fetch.seq, 4);
  assert_true(r.fetch.has_uid);
  assert_int_equal(r.fetch.uid, 17);
  assert_str(r.fetch.flags, "\\Seen $Forwarded");
  assert_true(r.fetch.has_envelope);
  assert_str(r.fetch.env_date, "Fri, 27 Nov 2026 21:00:00 +0000");
  assert_str(r.fetch.env_subject, "Test \"quoted\" \\ subject");
  assert_str(r.fetch.env_from, "Alice Example <alice@example.org>");
  assert_str(r.fetch.env_message_id, "<msg1@example.org>");
  assert_str(r.fetch.header_section, "HEADER.FIELDS (FROM TO SUBJECT)");
  assert_str(r.fetch.header,
             "From: Alice Example <alice@example.org>\r\nTo: bob@example.net\r\nSubject: x\r\n\r\n");
}

static void test_fetch_variants(void **state) {
  static const char bin[] = "* 2 FETCH (BINARY[1] ~{4}\r\na\0b\n UID 9)\r\n";
  ni_resp r = parse1("* 5 FETCH (FLAGS (\\Recent) UID 18 MODSEQ (12345) "
                     "BODY[HEADER.FIELDS (FROM SUBJECT)] {23}\r\nSubject: probe 0042\r\n\r\n)\r\n");
  (void)state;
  assert_int_equal(r.fetch.uid, 18);
  assert_str(r.fetch.flags, "\\Recent");
  assert_false(r.fetch.has_envelope);
  assert_str(r.fetch.header, "Subject: probe 0042\r\n\r\n");
  /* An envelope with NIL subject and a From without display name. */
  r = parse1("* 1 FETCH (ENVELOPE (NIL NIL ((NIL NIL \"probe\" \"example.org\")) NIL NIL NIL NIL "
             "NIL NIL NIL))\r\n");
  assert_true(r.fetch.has_envelope);
  assert_str(r.fetch.env_subject, "");
  assert_str(r.fetch.env_from, "probe@example.org");
  assert_str(r.fetch.env_message_id, "");
  /* Subject as a literal, which servers use for 8-bit text. */
  r = parse1("* 1 FETCH (ENVELOPE (\"d\" {6}\r\nS\xc3\xbc\x62j! NIL NIL NIL NIL NIL NIL NIL "
             "NIL) UID 3)\r\n");
  assert_str(r.fetch.env_subject, "S\xc3\xbc\x62j!");
  assert_int_equal(r.fetch.uid, 3);
  /* literal8 with a NUL and an LF inside, and a literal+ announcement. */
  r = parse_len(bin, sizeof(bin) - 1);
  assert_str(r.fetch.header_section, "1");
  assert_int_equal(r.fetch.header.n, 4);
  assert_memory_equal(r.fetch.header.p, "a\0b\n", 4);
  assert_int_equal(r.fetch.uid, 9);
  r = parse1("* 2 FETCH (BODY[]<0> {3+}\r\nabc)\r\n");
  assert_str(r.fetch.header_section, "");
  assert_str(r.fetch.header, "abc");
  /* Items natidle steps over, with nested lists and sections. */
  r = parse1("* 7 FETCH (RFC822.SIZE 1234 INTERNALDATE \"27-Nov-2026 21:00:00 +0000\" "
             "BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 5 1 "
             "NIL NIL NIL NIL) BODY[1.MIME] NIL UID 77)\r\n");
  assert_int_equal(r.fetch.uid, 77);
  assert_str(r.fetch.header_section, "1.MIME");
  assert_str(r.fetch.header, "");
  r = parse1("* 8 FETCH (UID 5)\r\n");
  assert_int_equal(r.fetch.uid, 5);
  assert_str(r.fetch.flags, "");
}

/* The output of SELECT on Dovecot, split at every byte. */
static const char select_stream[] =
    "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
    "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags "
    "permitted.\r\n"
    "* 3 EXISTS\r\n"
    "* 0 RECENT\r\n"
    "* OK [UIDVALIDITY 1700000000] UIDs valid\r\n"
    "* OK [UIDNEXT 4] Predicted next UID\r\n"
    "a2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n"
    "* 4 EXI";

static void test_stream_every_split(void **state) {
  static const char idle[] = "+ idling\r\n* 4 EXISTS\r\n* 1 EXPUNGE\r\n* 3 EXISTS\r\n"
                             "a4 OK Idle completed (0.001 + 1.000 secs).\r\n";
  outcome o;
  (void)state;
  /* The trailing partial line stays buffered. */
  run(NULL, select_stream, strlen(select_stream), 0, 0, &o);
  assert_int_equal(o.nresp, 7);
  assert_int_equal(o.err, 0);
  free(o.all.p);
  check_every_cut(NULL, select_stream, strlen(select_stream));
  check_every_cut(NULL, idle, strlen(idle));
  check_every_cut(NULL, fetch_env, strlen(fetch_env));
}

static void test_buffered(void **state) {
  ni_parser *p = ni_parser_new(NULL);
  ni_resp r;
  size_t used;
  (void)state;
  assert_int_equal(ni_parser_feed(p, "* 3 EXI", 7, &used, &r), 0);
  assert_int_equal(used, 7);
  assert_int_equal(ni_parser_buffered(p), 7);
  assert_int_equal(ni_parser_feed(p, "STS\r\n* 4", 8, &used, &r), 1);
  assert_int_equal(used, 5);
  assert_int_equal(r.number, 3);
  assert_int_equal(ni_parser_buffered(p), 0);
  assert_int_equal(ni_parser_feed(p, "* 4", 3, &used, &r), 0);
  assert_int_equal(ni_parser_buffered(p), 3);
  /* Reset drops the partial response (e.g. at STARTTLS). */
  ni_parser_reset(p);
  assert_int_equal(ni_parser_buffered(p), 0);
  assert_int_equal(ni_parser_feed(p, "* 5 EXISTS\r\n", 12, &used, &r), 1);
  assert_int_equal(r.number, 5);
  assert_int_equal(ni_parser_feed(p, "", 0, &used, &r), 0);
  assert_int_equal(used, 0);
  ni_parser_free(p);
  ni_parser_free(NULL);
}

/* ---- NAMESPACE and LIST delimiters ------------------------------------------ */

/* One namespace list of s, which must parse: the count, and "prefix|delim"
 * joined by spaces in out ("." for a NIL delimiter). */
static int ns_list(const char *s, size_t len, ni_ns_kind kind, char *out, size_t outn) {
  ni_namespace ns[4];
  char buf[256];
  int i, n;
  ni_resp r = parse_len(s, len);
  assert_int_equal(r.type, NI_R_NAMESPACE);
  n = ni_namespace_parse(&r, kind, ns, 4, buf, sizeof(buf));
  assert_true(n >= 0);
  out[0] = '\0';
  for (i = 0; i < n && i < 4; i++) {
    size_t o = strlen(out);
    assert_int_equal(ns[i].prefix.p[ns[i].prefix.n], '\0');
    snprintf(out + o, outn - o, "%s%.*s|%c", i ? " " : "", (int)ns[i].prefix.n, ns[i].prefix.p,
             ns[i].delim ? ns[i].delim : '0');
  }
  return n;
}

static void expect_ns(const char *s, ni_ns_kind kind, int n, const char *want) {
  char got[256];
  assert_int_equal(ns_list(s, strlen(s), kind, got, sizeof(got)), n);
  assert_string_equal(got, want);
}

static void test_namespace(void **state) {
  static const char dovecot[] = "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n";
  static const char cyrus[] = "* NAMESPACE ((\"INBOX.\" \".\")) ((\"user.\" \".\")) ((\"\" \".\"))\r\n";
  static const char lit[] = "* NAMESPACE (({5}\r\nINBOX \"/\")) NIL NIL\r\n";
  ni_namespace ns[1];
  char buf[8];
  ni_resp r;
  (void)state;
  /* Dovecot, with its default separators. */
  expect_ns(dovecot, NI_NS_PERSONAL, 1, "|/");
  expect_ns(dovecot, NI_NS_OTHER_USERS, 0, "");
  expect_ns(dovecot, NI_NS_SHARED, 0, "");
  expect_ns("* NAMESPACE ((\"\" \".\")) NIL NIL\r\n", NI_NS_PERSONAL, 1, "|.");
  /* Cyrus, default and with altnamespace. */
  expect_ns(cyrus, NI_NS_PERSONAL, 1, "INBOX.|.");
  expect_ns(cyrus, NI_NS_OTHER_USERS, 1, "user.|.");
  expect_ns(cyrus, NI_NS_SHARED, 1, "|.");
  expect_ns("* NAMESPACE ((\"\" \".\")) ((\"Other Users.\" \".\")) ((\"Shared Folders.\" "
            "\".\"))\r\n",
            NI_NS_PERSONAL, 1, "|.");
  /* Courier: no other users, several shared namespaces. */
  expect_ns("* NAMESPACE ((\"INBOX.\" \".\")) NIL ((\"#shared.\" \".\"))\r\n", NI_NS_PERSONAL, 1,
            "INBOX.|.");
  expect_ns("* NAMESPACE ((\"INBOX.\" \".\")) NIL ((\"#shared.\" \".\")(\"shared.\" \".\"))\r\n",
            NI_NS_SHARED, 2, "#shared.|. shared.|.");
  /* No personal namespace at all. */
  expect_ns("* NAMESPACE NIL NIL ((\"\" \"/\"))\r\n", NI_NS_PERSONAL, 0, "");
  /* Several personal namespaces, one with extension data (RFC 2342 5),
   * one flat (NIL delimiter), one in modified UTF-7 kept as sent. */
  expect_ns("* NAMESPACE ((\"\" \"/\")(\"#mh/\" \"/\" \"X-PARAM\" (\"FLAG1\" \"FLAG2\"))"
            "(\"flat\" NIL) (\"Entw&APw-rfe/\" \"/\")) NIL NIL\r\n",
            NI_NS_PERSONAL, 4, "|/ #mh/|/ flat|0 Entw&APw-rfe/|/");
  /* Quoting removed; a literal prefix; lower-case keywords. */
  expect_ns("* NAMESPACE ((\"a\\\"b\\\\.\" \"\\\\\")) nil nil\r\n", NI_NS_PERSONAL, 1, "a\"b\\.|\\");
  {
    char got[64];
    assert_int_equal(ns_list(lit, sizeof(lit) - 1, NI_NS_PERSONAL, got, sizeof(got)), 1);
    assert_string_equal(got, "INBOX|/");
  }
  /* The same with bare LF line ends. */
  expect_ns("* NAMESPACE (({5}\nINBOX \"/\")) NIL NIL\n", NI_NS_PERSONAL, 1, "INBOX|/");

  /* More namespaces than room: counted, the first stored; a buffer too
   * small; counting only. */
  r = parse1(cyrus);
  assert_int_equal(ni_namespace_parse(&r, NI_NS_PERSONAL, ns, 1, buf, 6), NI_ELIMIT);
  assert_int_equal(ni_namespace_parse(&r, NI_NS_PERSONAL, ns, 1, buf, 7), 1);
  assert_str(ns[0].prefix, "INBOX.");
  assert_int_equal(ni_namespace_parse(&r, NI_NS_PERSONAL, NULL, 0, NULL, 0), 1);
  r = parse1("* NAMESPACE ((\"a\" \"/\")(\"b\" \"/\")(\"c\" \"/\")) NIL NIL\r\n");
  assert_int_equal(ni_namespace_parse(&r, NI_NS_PERSONAL, ns, 1, buf, sizeof(buf)), 3);
  assert_str(ns[0].prefix, "a");

  /* Malformed namespace data is the helper's error, not the parser's. */
  {
    static const char *bad[] = {
        "* NAMESPACE ((\"\" \"/\"))\r\n",
        "* NAMESPACE () NIL NIL\r\n",
        "* NAMESPACE ((\"\" \"//\")) NIL NIL\r\n",
        "* NAMESPACE ((\"\" \"\")) NIL NIL\r\n",
        "* NAMESPACE ((NIL \"/\")) NIL NIL\r\n",
        "* NAMESPACE ((\"\")) NIL NIL\r\n",
        "* NAMESPACE ((\"\" \"/\" \"X\")) NIL NIL\r\n",
        "* NAMESPACE ((\"\" \"/\")) NIL NIL NIL\r\n",
        "* NAMESPACE (\"\" \"/\") NIL NIL\r\n",
        "* NAMESPACE X NIL NIL\r\n",
    };
    size_t i;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
      r = parse1(bad[i]);
      assert_int_equal(r.type, NI_R_NAMESPACE);
      assert_int_equal(ni_namespace_parse(&r, NI_NS_PERSONAL, ns, 1, buf, sizeof(buf)),
                       NI_EPARSE);
    }
  }
  r = parse1("* LIST () \"/\" INBOX\r\n");
  assert_int_equal(ni_namespace_parse(&r, NI_NS_PERSONAL, ns, 1, buf, sizeof(buf)), NI_EPARSE);
  assert_int_equal(ni_namespace_parse(&r, (ni_ns_kind)3, ns, 1, buf, sizeof(buf)), NI_EPARSE);
  expect_error("* NAMESPACE ((\"\" \"/\") NIL NIL\r\n", NI_EPARSE, "unbalanced parentheses");
}

static void test_list_delimiter(void **state) {
  static const struct {
    const char *resp;
    int rc;
    char delim;
  } table[] = {
      {"* LIST (\\Noselect) \"/\" \"\"\r\n", 0, '/'},
      {"* LIST (\\Noselect) \".\" \"\"\r\n", 0, '.'},
      {"* LIST (\\Noselect) NIL \"\"\r\n", 0, '\0'},
      {"* LIST (\\Noselect) \"\\\\\" \"\"\r\n", 0, '\\'},
      {"* LIST () \"/\" INBOX\r\n", 0, '/'},
      {"* LIST (\\HasNoChildren) \".\" {5}\r\nINBOX\r\n", 0, '.'},
      {"* LIST (\\Noselect) \"/\" \"\"\n", 0, '/'},
      {"* LIST (\\Noselect) \"ab\" \"\"\r\n", NI_EPARSE, 0},
      {"* LIST (\\Noselect) \"/\"\r\n", NI_EPARSE, 0},
      {"* LIST \\Noselect \"/\" \"\"\r\n", NI_EPARSE, 0},
      {"* STATUS INBOX (MESSAGES 1)\r\n", NI_EPARSE, 0},
      {"a1 OK LIST done\r\n", NI_EPARSE, 0},
  };
  size_t i;
  (void)state;
  for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
    char d = 'x';
    ni_resp r = parse1(table[i].resp);
    assert_int_equal(ni_list_delimiter(&r, &d), table[i].rc);
    if (table[i].rc == 0)
      assert_int_equal(d, table[i].delim);
  }
  assert_int_equal(ni_list_delimiter(NULL, NULL), NI_EPARSE);
}

/* ---- bare LF line ends ----------------------------------------------------- */

/* Every field but raw of every response in s[0..n), fed whole, which must
 * parse without error. */
static void fields_of(const char *s, size_t n, sbuf *out, int *nresp) {
  ni_parser *p = ni_parser_new(NULL);
  size_t pos = 0, used;
  ni_resp r;
  assert_non_null(p);
  *nresp = 0;
  while (pos < n) {
    int rc = ni_parser_feed(p, s + pos, n - pos, &used, &r);
    assert_true(rc >= 0);
    pos += used;
    if (rc == 0)
      break;
    r.raw.p = "";
    r.raw.n = 0;
    flatten(out, &r);
    (*nresp)++;
  }
  ni_parser_free(p);
}

/* The stream with LF line ends (lf) gives the same responses as with CRLF
 * (crlf), apart from raw, and the same whichever way it is split.  (Raw
 * data that spans a literal, such as LIST's, keeps the line end inside it as
 * received, so such streams are not compared here.) */
static void same_as_crlf(const char *lf, size_t lfn, const char *crlf, size_t crlfn) {
  sbuf a = {0}, b = {0};
  int na, nb;
  fields_of(lf, lfn, &a, &na);
  fields_of(crlf, crlfn, &b, &nb);
  assert_true(na > 0);
  assert_int_equal(na, nb);
  assert_int_equal(a.n, b.n);
  assert_memory_equal(a.p, b.p, a.n);
  free(a.p);
  free(b.p);
  check_every_cut(NULL, lf, lfn);
}

/* s with every CRLF turned into LF (for streams whose literals hold no
 * CRLF). */
static char *lf_only(const char *s) {
  char *out = malloc(strlen(s) + 1), *o = out;
  assert_non_null(out);
  for (; *s; s++)
    if (!(s[0] == '\r' && s[1] == '\n'))
      *o++ = *s;
  *o = '\0';
  return out;
}

static void test_bare_lf(void **state) {
  static const char idle[] = "+ idling\r\n* 4 EXISTS\r\n* 1 EXPUNGE\r\n"
                             "a4 OK Idle completed (0.001 + 1.000 secs).\r\n";
  /* The shape seen after AUTHENTICATE: a continuation carrying a base64
   * error, ended by a bare LF, then the tagged NO with CRLF. */
  static const char auth[] = "+ eyJzdGF0dXMiOiI0MDEifQ==\na1 NO [AUTHENTICATIONFAILED] "
                             "Authentication failed.\r\n";
  /* A literal announced with a bare LF: the LF and CRLF in its 9 counted
   * bytes are data, not line ends. */
  static const char lit_lf[] = "* 1 FETCH (BODY[] {9}\nab\ncd\r\nef UID 3)\n";
  static const char lit_crlf[] = "* 1 FETCH (BODY[] {9}\r\nab\ncd\r\nef UID 3)\r\n";
  /* A literal ending in CR right before a bare LF line end. */
  static const char lit_cr[] = "* 1 FETCH (BODY[] {2}\nx\r)\n* 2 EXISTS\n";
  static const char *crlf_streams[] = {select_stream, idle, greeting};
  ni_parser_limits lim;
  ni_resp r;
  size_t i;
  (void)state;
  for (i = 0; i < sizeof(crlf_streams) / sizeof(crlf_streams[0]); i++) {
    char *lf = lf_only(crlf_streams[i]);
    same_as_crlf(lf, strlen(lf), crlf_streams[i], strlen(crlf_streams[i]));
    free(lf);
  }
  same_as_crlf(lit_lf, sizeof(lit_lf) - 1, lit_crlf, sizeof(lit_crlf) - 1);

  r = parse1("* OK foo\n");
  assert_int_equal(r.type, NI_R_OK);
  assert_str(r.text, "foo");
  assert_str(r.raw, "* OK foo\n");
  r = parse_len(lit_lf, sizeof(lit_lf) - 1);
  assert_int_equal(r.fetch.header.n, 9);
  assert_memory_equal(r.fetch.header.p, "ab\ncd\r\nef", 9);
  assert_int_equal(r.fetch.uid, 3);
  expect_ok(NULL, auth, sizeof(auth) - 1, 2);
  check_every_cut(NULL, auth, sizeof(auth) - 1);
  expect_ok(NULL, lit_cr, sizeof(lit_cr) - 1, 2);
  check_every_cut(NULL, lit_cr, sizeof(lit_cr) - 1);
  r = parse1("+ eyJzdGF0dXMiOiI0MDEifQ==\n");
  assert_int_equal(r.kind, NI_RESP_CONTINUE);
  assert_str(r.text, "eyJzdGF0dXMiOiI0MDEifQ==");
  r = parse1("+\n");
  assert_int_equal(r.kind, NI_RESP_CONTINUE);
  assert_str(r.text, "");

  /* What stays an error. */
  expect_error("\n", NI_EPARSE, "empty line");
  expect_error("* OK a\rb\n", NI_EPARSE, "CR not followed by LF");
  expect_error("* OK a\r\r\n", NI_EPARSE, "CR not followed by LF");
  expect_error("* 1 FETCH (BODY[] {5} x\n", NI_EPARSE, "literal not at end of line");
  expect_error("* 3 EXISTS\n\n", NI_EPARSE, "empty line");

  /* The line limit counts the line end as received: 31 bytes and LF fit
   * in 32, the same with CRLF does not. */
  ni_parser_limits_default(&lim);
  lim.max_line = 32;
  {
    char line[40];
    memset(line, 'x', sizeof(line));
    memcpy(line, "* OK ", 5);
    memcpy(line + 31, "\n", 2);
    expect_ok(&lim, line, strlen(line), 1);
    memcpy(line + 31, "\r\n", 3);
    expect_error_lim(&lim, line, strlen(line), NI_ELIMIT, "line too long");
  }
  /* A literal announced with LF is still bounded before it is stored. */
  expect_error("* 1 FETCH (BODY[] {99999999999999999999}\n", NI_ELIMIT, "literal too large");
}

/* ---- malformed input and limits ------------------------------------------ */

static void test_malformed(void **state) {
  static const char nul[] = "* OK a\0b\r\n";
  (void)state;
  expect_error("* 1 FETCH (BODY[] {5x}\r\n", NI_EPARSE, "bad literal length");
  expect_error("* 1 FETCH (BODY[] {}\r\n", NI_EPARSE, "bad literal length");
  expect_error("* 1 FETCH (BODY[] {-1}\r\n", NI_EPARSE, "bad literal length");
  expect_error("* 1 FETCH (BODY[] {5} x\r\n", NI_EPARSE, "literal not at end of line");
  expect_error("* 1 FETCH (BODY[] {99999999999999999999}\r\n", NI_ELIMIT, "literal too large");
  expect_error("* OK foo\rX\r\n", NI_EPARSE, "CR not followed by LF");
  expect_error_lim(NULL, nul, sizeof(nul) - 1, NI_EPARSE, "NUL byte outside a literal");
  expect_error("\r\n", NI_EPARSE, "empty line");
  expect_error("*\r\n", NI_EPARSE, "expected SP after *");
  expect_error("* \r\n", NI_EPARSE, "empty untagged response");
  expect_error("a1 FOO bar\r\n", NI_EPARSE, "bad tagged status");
  expect_error("a1\r\n", NI_EPARSE, "expected SP after tag");
  expect_error("+idling\r\n", NI_EPARSE, "expected SP after +");
  expect_error(" OK\r\n", NI_EPARSE, "bad tag");
  expect_error("* 99999999999 EXISTS\r\n", NI_EPARSE, "number out of range");
  expect_error("* 3 EXISTS now\r\n", NI_EPARSE, "junk after message count");
  expect_error("* OK [ALERT no end\r\n", NI_EPARSE, "unterminated response code");
  expect_error("* OK [] x\r\n", NI_EPARSE, "empty response code");
  expect_error("* 1 FETCH (UID 1 FLAGS (\\Seen)\r\n", NI_EPARSE, "unbalanced parentheses");
  expect_error("* 1 FETCH (UID 1))\r\n", NI_EPARSE, "junk after FETCH data");
  expect_error("* 1 FETCH UID 1\r\n", NI_EPARSE, "bad FETCH data");
  expect_error("* 1 FETCH (UID x)\r\n", NI_EPARSE, "expected a number");
  expect_error("* 1 FETCH (BODY[HEADER (FROM] \"x\")\r\n", NI_EPARSE, "unbalanced brackets");
  expect_error("* 1 FETCH (BODY[HEADER\r\n", NI_EPARSE, "unterminated section");
  expect_error("* 1 FETCH (BODY[HEADER) \"x\")\r\n", NI_EPARSE, "unbalanced brackets");
  expect_error("* 1 FETCH (ENVELOPE (\"d\" \"unterminated))\r\n", NI_EPARSE,
               "unterminated quoted string");
  expect_error("* 1 FETCH (ENVELOPE (\"d\\x\" NIL NIL NIL NIL NIL NIL NIL NIL NIL))\r\n",
               NI_EPARSE, "bad escape in quoted string");
  expect_error("* 1 FETCH (ENVELOPE (\"d\" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n", NI_EPARSE,
               "bad envelope");
  expect_error("* 1 FETCH (ENVELOPE (\"d\" NIL (x) NIL NIL NIL NIL NIL NIL NIL))\r\n", NI_EPARSE,
               "bad address list");
  expect_error("* LIST ((\\Noselect) \"/\" x\r\n", NI_EPARSE, "unbalanced parentheses");
  expect_error("* FLAGS (\\Seen))\r\n", NI_EPARSE, "expected SP");
  expect_error("* STATUS x (MESSAGES 1\r\n", NI_EPARSE, "unbalanced parentheses");
  /* A literal the grammar does not expect there is not a string. */
  expect_error("* 1 FETCH (UID {1}\r\n1)\r\n", NI_EPARSE, "expected a number");
}

/* prefix followed by count copies of ch and CRLF, in buf. */
static const char *bomb(char *buf, size_t size, const char *prefix, char ch, size_t count) {
  size_t n = strlen(prefix);
  assert_true(n + count + 3 <= size);
  memcpy(buf, prefix, n);
  memset(buf + n, ch, count);
  memcpy(buf + n + count, "\r\n", 3);
  return buf;
}

static void test_nesting_bombs(void **state) {
  char buf[600];
  (void)state;
  expect_error(bomb(buf, sizeof(buf), "* 1 FETCH (X ", '(', 200), NI_ELIMIT, "nesting too deep");
  expect_error(bomb(buf, sizeof(buf), "* STATUS x ", '(', 200), NI_ELIMIT, "nesting too deep");
  expect_error(bomb(buf, sizeof(buf), "* LIST ", '(', 500), NI_ELIMIT, "nesting too deep");
  expect_error(bomb(buf, sizeof(buf), "* 1 FETCH (BODY[", '[', 200), NI_ELIMIT,
               "nesting too deep");
  expect_error(bomb(buf, sizeof(buf), "* 1 FETCH (ENVELOPE (NIL NIL NIL ", '(', 200), NI_ELIMIT,
               "nesting too deep");
  /* Unknown responses are not parsed, so their parentheses cannot nest. */
  assert_int_equal(parse1(bomb(buf, sizeof(buf), "* XBOMB ", '(', 500)).type, NI_R_OTHER);
  /* Exactly at the limit is fine: FETCH's own list is level 1. */
  bomb(buf, sizeof(buf), "* 1 FETCH (X ", '(', 15);
  memset(buf + 13 + 15, ')', 16);
  memcpy(buf + 13 + 31, "\r\n", 3);
  assert_int_equal(parse1(buf).type, NI_R_FETCH);
}

static void test_limits(void **state) {
  ni_parser_limits lim;
  char line[100];
  static const char big[] = "* 1 FETCH (BODY[] {1099511627776}\r\n";
  ni_parser *p;
  ni_resp r;
  size_t used;
  (void)state;
  ni_parser_limits_default(&lim);
  assert_int_equal(lim.max_line, 64 * 1024);
  assert_int_equal(lim.max_literal, 1024 * 1024);
  assert_int_equal(lim.max_response, 2 * 1024 * 1024);
  assert_int_equal(lim.max_depth, 16);

  /* A 2^40-byte literal fails at its announcement, before any of it is
   * stored: the buffer never held more than the announcing line. */
  p = ni_parser_new(NULL);
  assert_int_equal(ni_parser_feed(p, big, strlen(big), &used, &r), NI_ELIMIT);
  assert_string_equal(ni_parser_errstr(p), "literal too large");
  assert_true(ni_parser_buffered(p) <= strlen(big));
  ni_parser_free(p);
  /* With no literal limit, the response limit catches it. */
  lim.max_literal = (size_t)-1;
  expect_error_lim(&lim, big, strlen(big), NI_ELIMIT, "response too large");

  ni_parser_limits_default(&lim);
  lim.max_line = 32;
  memset(line, 'x', sizeof(line));
  memcpy(line, "* OK ", 5);
  memcpy(line + 40, "\r\n", 3);
  expect_error_lim(&lim, line, strlen(line), NI_ELIMIT, "line too long");
  memcpy(line + 30, "\r\n", 3); /* 32 bytes with CRLF: allowed */
  {
    outcome o;
    check_splits(&lim, line, strlen(line), &o);
    assert_int_equal(o.err, 0);
    assert_int_equal(o.nresp, 1);
    free(o.all.p);
  }
  memcpy(line + 30, "x\r\n", 4); /* 33: one too many */
  expect_error_lim(&lim, line, strlen(line), NI_ELIMIT, "line too long");

  /* A literal counts towards the response, not the line. */
  ni_parser_limits_default(&lim);
  lim.max_line = 32;
  lim.max_response = 80;
  lim.max_literal = 40;
  {
    static const char ok[] = "* 1 FETCH (BODY[] {40}\r\n0123456789012345678901234567890123456789)\r\n";
    static const char lit[] = "* 1 FETCH (BODY[] {41}\r\n";
    static const char resp[] = "* 1 FETCH (BODY[] {40}\r\n0123456789012345678901234567890123456789"
                               " UID 1 FLAGS (\\Seen))\r\n";
    outcome o;
    check_splits(&lim, ok, strlen(ok), &o);
    assert_int_equal(o.nresp, 1);
    free(o.all.p);
    expect_error_lim(&lim, lit, strlen(lit), NI_ELIMIT, "literal too large");
    expect_error_lim(&lim, resp, strlen(resp), NI_ELIMIT, "response too large");
  }
  lim.max_depth = 2;
  expect_error_lim(&lim, "* 1 FETCH (X ((1)))\r\n", 21, NI_ELIMIT, "nesting too deep");
}

static void test_sticky_and_reset(void **state) {
  ni_parser *p = ni_parser_new(NULL);
  ni_resp r;
  size_t used;
  (void)state;
  assert_string_equal(ni_parser_errstr(p), "");
  assert_int_equal(ni_parser_feed(p, "* 1 EXISTS\r\nbad\r* 2 EXISTS\r\n", 29, &used, &r), 1);
  assert_int_equal(used, 12);
  assert_int_equal(ni_parser_feed(p, "bad\r* 2 EXISTS\r\n", 16, &used, &r), NI_EPARSE);
  assert_string_equal(ni_parser_errstr(p), "CR not followed by LF");
  assert_int_equal(ni_parser_feed(p, "* 2 EXISTS\r\n", 12, &used, &r), NI_EPARSE);
  assert_int_equal(used, 0);
  assert_int_equal(ni_parser_feed(p, "* 2 EXISTS\r\n", 12, &used, &r), NI_EPARSE);
  assert_string_equal(ni_parser_errstr(p), "CR not followed by LF");
  ni_parser_reset(p);
  assert_string_equal(ni_parser_errstr(p), "");
  assert_int_equal(ni_parser_feed(p, "* 2 EXISTS\r\n", 12, &used, &r), 1);
  assert_int_equal(r.number, 2);
  ni_parser_free(p);
}

/* Parse input that ends right before an unmapped page, so reading one byte
 * past the caller's buffer faults instead of passing unnoticed. */
static void test_guard_page(void **state) {
  static const char *inputs[] = {
      greeting, fetch_env, select_stream, "* 3 EXI", "* 1 FETCH (BODY[] {5}\r\nab",
      "* 1 FETCH (BODY[] {5}\nab", "* OK x\n* 2", "+ eyJ\n",
      "* OK [ALERT", "a1 OK x\r", "* 1 FETCH (ENVELOPE (\"",
  };
  long pg = sysconf(_SC_PAGESIZE);
  char *map;
  size_t i;
  (void)state;
  assert_true(pg > 0);
  map = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(map != MAP_FAILED);
  assert_int_equal(mprotect(map + pg, (size_t)pg, PROT_NONE), 0);
  for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
    size_t len = strlen(inputs[i]), k;
    char *at = map + pg - len;
    assert_true(len <= (size_t)pg);
    memcpy(at, inputs[i], len);
    for (k = 0; k <= len; k++) {
      /* Every prefix, fed so that it too ends at the guard page. */
      ni_parser *p = ni_parser_new(NULL);
      const char *b = map + pg - k;
      size_t left = k, used;
      ni_resp r;
      memmove(map + pg - k, inputs[i], k);
      while (left > 0) {
        int rc = ni_parser_feed(p, b, left, &used, &r);
        b += used;
        left -= used;
        if (rc <= 0)
          break;
      }
      ni_parser_free(p);
    }
  }
  munmap(map, (size_t)pg * 2);
}

/* A whole session recorded from Dovecot 2.3.19 on loopback (greeting,
 * LOGIN, ENABLE, LIST, SELECT, APPEND, FETCH with ENVELOPE and header
 * literals, SEARCH, STATUS, NOTIFY, IDLE with pushed EXISTS and FETCH,
 * BINARY, STORE, LOGOUT), kept as the fuzzer's seed.  Its first four bytes
 * are the fuzzer's limit selector. */
static void test_dovecot_session(void **state) {
  static const int want[] = {
      NI_R_OK,     NI_R_CAPABILITY, NI_R_OK,      NI_R_CAPABILITY, NI_R_OK,    NI_R_ENABLED,
      NI_R_OK,     NI_R_OK,         NI_R_LIST,    NI_R_LIST,       NI_R_OK,    NI_R_FLAGS,
      NI_R_OK,     NI_R_EXISTS,     NI_R_RECENT,  NI_R_OK,         NI_R_OK,    NI_R_OK,
      NI_R_OK,     NI_R_EXISTS,     NI_R_RECENT,  NI_R_OK,         NI_R_OK,    NI_R_FETCH,
      NI_R_OK,     NI_R_SEARCH,     NI_R_OK,      NI_R_STATUS,     NI_R_OK,    NI_R_OK,
      NI_R_OTHER,  NI_R_EXISTS,     NI_R_RECENT,  NI_R_FETCH,      NI_R_FETCH, NI_R_OK,
      NI_R_FETCH,  NI_R_OK,         NI_R_FETCH,   NI_R_OK,         NI_R_BYE,   NI_R_OK,
  };
  const char *src = getenv("NATIDLE_SRC");
  char path[4096], *buf;
  ni_parser *p = ni_parser_new(NULL);
  size_t len, pos, used, i = 0;
  FILE *f;
  (void)state;
  if (src == NULL)
    src = ".";
  snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/fuzz_parser/dovecot_session", src);
  f = fopen(path, "rb");
  assert_non_null(f);
  buf = malloc(65536);
  assert_non_null(buf);
  len = fread(buf, 1, 65536, f);
  fclose(f);
  assert_true(len > 4 && len < 65536);
  for (pos = 4; pos < len; pos += used) {
    ni_resp r;
    int rc = ni_parser_feed(p, buf + pos, len - pos, &used, &r);
    assert_int_equal(rc, 1);
    assert_true(i < sizeof(want) / sizeof(want[0]));
    assert_int_equal(r.type, want[i]);
    if (r.type == NI_R_OK && r.code.n && strcmp(r.code.p, "APPENDUID") == 0) {
      assert_int_equal(r.code_n1, 1795816621u);
      assert_int_equal(r.code_n2, 1);
    }
    if (i == 34) { /* the FETCH NOTIFY pushed for the message appended during IDLE */
      assert_int_equal(r.fetch.seq, 2);
      assert_int_equal(r.fetch.uid, 2);
      assert_str(r.fetch.env_subject, "=?utf-8?q?Entw=C3=BCrfe?= probe 0002");
      assert_str(r.fetch.env_from, "Alice Example <alice@example.org>");
      assert_str(r.fetch.header_section, "HEADER.FIELDS (FROM SUBJECT)");
      assert_str(r.fetch.header, "From: Alice Example <alice@example.org>\r\n"
                                 "Subject: =?utf-8?q?Entw=C3=BCrfe?= probe 0002\r\n\r\n");
    }
    if (i == 36) /* BINARY[1] of the 8-bit body */
      assert_str(r.fetch.header, "hello \xc3\xbc\r\n");
    i++;
  }
  assert_int_equal(i, sizeof(want) / sizeof(want[0]));
  ni_parser_free(p);
  check_every_cut(NULL, buf + 4, len - 4);
  free(buf);
}

/* Odd shapes at the edges of framing.  (fuzz_parser has found no crash so
 * far; inputs it finds go here.) */
static void test_edge_shapes(void **state) {
  static const char zero[] = "* 1 FETCH (BODY[] {0}\r\n)\r\n";
  static const char crlf_in_lit[] = "* 1 FETCH (BODY[] {2}\r\n\r\n)\r\n";
  static const char tail_lit[] = "* OK [ALERT] {3}\r\nabc\r\n";
  ni_resp r;
  (void)state;
  expect_error("* OK a\r\r\n", NI_EPARSE, "CR not followed by LF");
  expect_error("{3}\r\nabc\r\n", NI_EPARSE, "bad tag");
  expect_error("* 1 FETCH (BODY[]~{3}\r\nabc)\r\n", NI_EPARSE, "expected SP after FETCH item");
  r = parse_len(zero, sizeof(zero) - 1);
  assert_str(r.fetch.header, "");
  assert_str(r.fetch.header_section, "");
  r = parse_len(crlf_in_lit, sizeof(crlf_in_lit) - 1);
  assert_str(r.fetch.header, "\r\n");
  /* Framing takes a literal wherever a line ends in one; in text it is
   * just more text. */
  r = parse_len(tail_lit, sizeof(tail_lit) - 1);
  assert_str(r.text, "{3}\r\nabc");
  check_every_cut(NULL, crlf_in_lit, sizeof(crlf_in_lit) - 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_greeting, teardown),
      cmocka_unit_test_teardown(test_capability, teardown),
      cmocka_unit_test_teardown(test_exists_expunge_recent, teardown),
      cmocka_unit_test_teardown(test_continuation, teardown),
      cmocka_unit_test_teardown(test_tagged_codes, teardown),
      cmocka_unit_test_teardown(test_bye_preauth, teardown),
      cmocka_unit_test_teardown(test_flags_search_list_status_enabled, teardown),
      cmocka_unit_test_teardown(test_other, teardown),
      cmocka_unit_test_teardown(test_fetch_envelope_header, teardown),
      cmocka_unit_test_teardown(test_fetch_variants, teardown),
      cmocka_unit_test_teardown(test_stream_every_split, teardown),
      cmocka_unit_test_teardown(test_buffered, teardown),
      cmocka_unit_test_teardown(test_namespace, teardown),
      cmocka_unit_test_teardown(test_list_delimiter, teardown),
      cmocka_unit_test_teardown(test_bare_lf, teardown),
      cmocka_unit_test_teardown(test_malformed, teardown),
      cmocka_unit_test_teardown(test_nesting_bombs, teardown),
      cmocka_unit_test_teardown(test_limits, teardown),
      cmocka_unit_test_teardown(test_sticky_and_reset, teardown),
      cmocka_unit_test_teardown(test_guard_page, teardown),
      cmocka_unit_test_teardown(test_edge_shapes, teardown),
      cmocka_unit_test_teardown(test_dovecot_session, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
