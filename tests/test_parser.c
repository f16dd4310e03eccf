/* Tests of the IMAP response parser's grammar (imap/parser_resp.c,
 * imap/parser_value.c) and of the readers of its data (imap/parser_data.c):
 * every kind of response, status codes, FETCH data, NAMESPACE and LIST,
 * malformed responses, nesting bombs, and a whole recorded Dovecot session.
 *
 * Every response is checked twice (parser_check.c): fed whole and fed one
 * byte at a time, and both runs must give the same responses and the same
 * error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "natidle/imap.h"
#include "parser_check.h"

/* ---- responses --------------------------------------------------------- */

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
  assert_str(
      r.fetch.header,
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
  static const char cyrus[] =
      "* NAMESPACE ((\"INBOX.\" \".\")) ((\"user.\" \".\")) ((\"\" \".\"))\r\n";
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
  expect_ns("* NAMESPACE ((\"a\\\"b\\\\.\" \"\\\\\")) nil nil\r\n", NI_NS_PERSONAL, 1,
            "a\"b\\.|\\");
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
      assert_int_equal(ni_namespace_parse(&r, NI_NS_PERSONAL, ns, 1, buf, sizeof(buf)), NI_EPARSE);
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
    if (table[i].rc == 0) assert_int_equal(d, table[i].delim);
  }
  assert_int_equal(ni_list_delimiter(NULL, NULL), NI_EPARSE);
}

/* ---- malformed responses and nesting ------------------------------------- */

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
  expect_error("* 1 FETCH (ENVELOPE (\"d\\x\" NIL NIL NIL NIL NIL NIL NIL NIL NIL))\r\n", NI_EPARSE,
               "bad escape in quoted string");
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
  expect_error(bomb(buf, sizeof(buf), "* 1 FETCH (BODY[", '[', 200), NI_ELIMIT, "nesting too deep");
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

/* A whole session recorded from Dovecot 2.3.19 on loopback (greeting,
 * LOGIN, ENABLE, LIST, SELECT, APPEND, FETCH with ENVELOPE and header
 * literals, SEARCH, STATUS, NOTIFY, IDLE with pushed EXISTS and FETCH,
 * BINARY, STORE, LOGOUT), kept as the fuzzer's seed.  Its first four bytes
 * are the fuzzer's limit selector. */
static void test_dovecot_session(void **state) {
  static const int want[] = {
      NI_R_OK,    NI_R_CAPABILITY, NI_R_OK,     NI_R_CAPABILITY, NI_R_OK,    NI_R_ENABLED,
      NI_R_OK,    NI_R_OK,         NI_R_LIST,   NI_R_LIST,       NI_R_OK,    NI_R_FLAGS,
      NI_R_OK,    NI_R_EXISTS,     NI_R_RECENT, NI_R_OK,         NI_R_OK,    NI_R_OK,
      NI_R_OK,    NI_R_EXISTS,     NI_R_RECENT, NI_R_OK,         NI_R_OK,    NI_R_FETCH,
      NI_R_OK,    NI_R_SEARCH,     NI_R_OK,     NI_R_STATUS,     NI_R_OK,    NI_R_OK,
      NI_R_OTHER, NI_R_EXISTS,     NI_R_RECENT, NI_R_FETCH,      NI_R_FETCH, NI_R_OK,
      NI_R_FETCH, NI_R_OK,         NI_R_FETCH,  NI_R_OK,         NI_R_BYE,   NI_R_OK,
  };
  const char *src = getenv("NATIDLE_SRC");
  char path[4096], *buf;
  ni_parser *p = ni_parser_new(NULL);
  size_t len, pos, used, i = 0;
  FILE *f;
  (void)state;
  if (src == NULL) src = ".";
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_greeting, teardown_parser),
      cmocka_unit_test_teardown(test_capability, teardown_parser),
      cmocka_unit_test_teardown(test_exists_expunge_recent, teardown_parser),
      cmocka_unit_test_teardown(test_continuation, teardown_parser),
      cmocka_unit_test_teardown(test_tagged_codes, teardown_parser),
      cmocka_unit_test_teardown(test_bye_preauth, teardown_parser),
      cmocka_unit_test_teardown(test_flags_search_list_status_enabled, teardown_parser),
      cmocka_unit_test_teardown(test_other, teardown_parser),
      cmocka_unit_test_teardown(test_fetch_envelope_header, teardown_parser),
      cmocka_unit_test_teardown(test_fetch_variants, teardown_parser),
      cmocka_unit_test_teardown(test_namespace, teardown_parser),
      cmocka_unit_test_teardown(test_list_delimiter, teardown_parser),
      cmocka_unit_test_teardown(test_malformed, teardown_parser),
      cmocka_unit_test_teardown(test_nesting_bombs, teardown_parser),
      cmocka_unit_test_teardown(test_dovecot_session, teardown_parser),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
