/* Tests of the IMAP command builder (imap/command.c) and of the SASL
 * messages AUTHENTICATE sends (imap/sasl.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imap/sasl.h"
#include "natidle/imap.h"

/* All chunks joined, for commands that are one chunk or where only the
 * bytes matter. */
static char *joined(const ni_cmd *c) {
  size_t i, n = 0;
  char *s;
  for (i = 0; i < ni_cmd_nchunks(c); i++)
    n += ni_cmd_chunk(c, i).n;
  s = malloc(n + 1);
  assert_non_null(s);
  n = 0;
  for (i = 0; i < ni_cmd_nchunks(c); i++) {
    ni_str k = ni_cmd_chunk(c, i);
    assert_int_equal(k.p[k.n], '\0');
    memcpy(s + n, k.p, k.n);
    n += k.n;
  }
  s[n] = '\0';
  return s;
}

static void assert_chunk(const ni_cmd *c, size_t i, const char *want, int sync) {
  ni_str k = ni_cmd_chunk(c, i);
  assert_int_equal(k.n, strlen(want));
  assert_memory_equal(k.p, want, k.n);
  assert_int_equal(k.p[k.n], '\0');
  assert_int_equal(ni_cmd_chunk_needs_continuation(c, i), sync);
}

/* ni_cmd_string's choice of atom, quoted string or literal. */
static void test_quoting_table(void **state) {
  static const struct {
    const char *in;
    const char *out;
  } table[] = {
      {"INBOX", "X INBOX\r\n"},
      {"natidle-probe/0042", "X natidle-probe/0042\r\n"},
      {"", "X \"\"\r\n"},
      {"NIL", "X \"NIL\"\r\n"},
      {"nil", "X \"nil\"\r\n"},
      {"NILS", "X NILS\r\n"},
      {"two words", "X \"two words\"\r\n"},
      {"say \"hi\"", "X \"say \\\"hi\\\"\"\r\n"},
      {"back\\slash", "X \"back\\\\slash\"\r\n"},
      {"\\", "X \"\\\\\"\r\n"},
      {"\"", "X \"\\\"\"\r\n"},
      {"50%", "X \"50%\"\r\n"},
      {"*", "X \"*\"\r\n"},
      {"a]b", "X \"a]b\"\r\n"},
      {"(x)", "X \"(x)\"\r\n"},
      {"{5}", "X \"{5}\"\r\n"},
      {"~{5}", "X \"~{5}\"\r\n"},
      {"tab\there", "X {8+}\r\ntab\there\r\n"},
      {"line\r\nA1 LOGOUT", "X {15+}\r\nline\r\nA1 LOGOUT\r\n"},
      {"caf\xc3\xa9", "X {5+}\r\ncaf\xc3\xa9\r\n"},
      {"\x7f", "X {1+}\r\n\x7f\r\n"},
  };
  size_t i;
  (void)state;
  for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
    ni_cmd *c = ni_cmd_new("X");
    char *s;
    assert_non_null(c);
    ni_cmd_literal_plus(c, 1);
    assert_int_equal(ni_cmd_string(c, table[i].in, strlen(table[i].in)), 0);
    assert_int_equal(ni_cmd_finish(c), 0);
    assert_int_equal(ni_cmd_nchunks(c), 1);
    s = joined(c);
    assert_string_equal(s, table[i].out);
    free(s);
    ni_cmd_free(c);
  }
}

static void test_long_strings_are_literals(void **state) {
  char big[1100];
  ni_cmd *c = ni_cmd_new("X");
  (void)state;
  memset(big, 'a', sizeof(big));
  /* 1024 bytes still fit in an atom, 1025 go as a literal. */
  assert_int_equal(ni_cmd_string(c, big, 1024), 0);
  assert_int_equal(ni_cmd_chunk(c, 0).n, 2 + 1024);
  assert_int_equal(ni_cmd_string(c, big, 1025), 0);
  assert_int_equal(ni_cmd_nchunks(c), 2);
  assert_int_equal(ni_cmd_chunk(c, 0).n, 2 + 1024 + 9);
  assert_memory_equal(ni_cmd_chunk(c, 0).p + 2 + 1024, " {1025}\r\n", 9);
  ni_cmd_free(c);
  c = ni_cmd_new("X");
  memset(big, ' ', sizeof(big));
  assert_int_equal(ni_cmd_string(c, big, 1025), 0);
  assert_int_equal(ni_cmd_nchunks(c), 2);
  assert_true(ni_cmd_chunk_needs_continuation(c, 1));
  assert_int_equal(ni_cmd_chunk(c, 1).n, 1025);
  ni_cmd_free(c);
}

/* LOGIN with a password that must go as a synchronizing literal: the
 * password chunk waits for "+". */
static void test_login_literal_sync(void **state) {
  ni_cmd *c = ni_cmd_new("LOGIN");
  (void)state;
  assert_non_null(c);
  ni_cmd_secret(c);
  assert_true(ni_cmd_is_secret(c));
  assert_int_equal(ni_cmd_string(c, "alice", 5), 0);
  assert_int_equal(ni_cmd_string(c, "p\xc3\xa4ss word", 10), 0);
  assert_int_equal(ni_cmd_finish(c), 0);
  assert_int_equal(ni_cmd_nchunks(c), 2);
  assert_chunk(c, 0, "LOGIN alice {10}\r\n", 0);
  assert_chunk(c, 1, "p\xc3\xa4ss word\r\n", 1);
  ni_cmd_free(c);

  /* Two literals: three chunks, both later ones wait. */
  c = ni_cmd_new("LOGIN");
  assert_int_equal(ni_cmd_string(c, "\xc3\xa4", 2), 0);
  assert_int_equal(ni_cmd_string(c, "a\r\nb", 4), 0);
  assert_int_equal(ni_cmd_finish(c), 0);
  assert_int_equal(ni_cmd_nchunks(c), 3);
  assert_chunk(c, 0, "LOGIN {2}\r\n", 0);
  assert_chunk(c, 1, "\xc3\xa4 {4}\r\n", 1);
  assert_chunk(c, 2, "a\r\nb\r\n", 1);
  ni_cmd_free(c);
}

static void test_literal_plus_one_chunk(void **state) {
  ni_cmd *c = ni_cmd_new("LOGIN");
  (void)state;
  ni_cmd_literal_plus(c, 1);
  assert_int_equal(ni_cmd_string(c, "\xc3\xa4", 2), 0);
  assert_int_equal(ni_cmd_string(c, "pass \"word\"", 11), 0);
  assert_int_equal(ni_cmd_finish(c), 0);
  assert_int_equal(ni_cmd_nchunks(c), 1);
  assert_chunk(c, 0, "LOGIN {2+}\r\n\xc3\xa4 \"pass \\\"word\\\"\"\r\n", 0);
  assert_false(ni_cmd_is_secret(c));
  ni_cmd_free(c);
}

static void test_append(void **state) {
  static const char msg[] = "From: probe@example.org\r\nSubject: natidle 1\r\n\r\nbody\r\n";
  ni_cmd *c = ni_cmd_new("APPEND");
  (void)state;
  assert_int_equal(ni_cmd_string(c, "natidle-probe", 13), 0);
  assert_int_equal(ni_cmd_atom(c, "(\\Seen)"), 0);
  assert_int_equal(ni_cmd_literal(c, msg, strlen(msg)), 0);
  assert_int_equal(ni_cmd_finish(c), 0);
  assert_int_equal(ni_cmd_nchunks(c), 2);
  assert_chunk(c, 0, "APPEND natidle-probe (\\Seen) {53}\r\n", 0);
  assert_chunk(c, 1, "From: probe@example.org\r\nSubject: natidle 1\r\n\r\nbody\r\n\r\n", 1);
  ni_cmd_free(c);
  /* A short, printable message is still sent as a literal. */
  c = ni_cmd_new("APPEND");
  ni_cmd_literal_plus(c, 1);
  assert_int_equal(ni_cmd_string(c, "INBOX", 5), 0);
  assert_int_equal(ni_cmd_literal(c, "", 0), 0);
  assert_int_equal(ni_cmd_finish(c), 0);
  assert_chunk(c, 0, "APPEND INBOX {0+}\r\n\r\n", 0);
  ni_cmd_free(c);
}

static void test_atoms_and_verbs(void **state) {
  ni_cmd *c = ni_cmd_new("UID FETCH");
  (void)state;
  assert_non_null(c);
  assert_int_equal(ni_cmd_atom(c, "1:*"), 0);
  assert_int_equal(ni_cmd_atom(c, "(UID FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT)])"), 0);
  assert_int_equal(ni_cmd_finish(c), 0);
  assert_chunk(c, 0, "UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT)])\r\n", 0);
  ni_cmd_free(c);
  c = ni_cmd_new("IDLE");
  assert_int_equal(ni_cmd_finish(c), 0);
  assert_chunk(c, 0, "IDLE\r\n", 0);
  ni_cmd_free(c);
}

static void test_hostile(void **state) {
  ni_cmd *c;
  ni_str k;
  (void)state;
  assert_null(ni_cmd_new(""));
  assert_null(ni_cmd_new(" NOOP"));
  assert_null(ni_cmd_new("NOOP "));
  assert_null(ni_cmd_new("UID  FETCH"));
  assert_null(ni_cmd_new("NOOP\r\nA1 LOGOUT"));
  assert_null(ni_cmd_new("SELECT \"x\""));
  assert_null(ni_cmd_new("X(Y"));
  assert_null(ni_cmd_new("N\xc3\xa4"));
  c = ni_cmd_new("SELECT");
  assert_int_equal(ni_cmd_atom(c, "INBOX\r\nA1 DELETE INBOX"), NI_EUSAGE);
  assert_int_equal(ni_cmd_atom(c, "INBOX\n"), NI_EUSAGE);
  assert_int_equal(ni_cmd_atom(c, ""), NI_EUSAGE);
  assert_int_equal(ni_cmd_string(c, "a\0b", 3), NI_EUSAGE);
  assert_int_equal(ni_cmd_literal(c, "a\0b", 3), NI_EUSAGE);
  /* Failed calls left nothing behind. */
  assert_chunk(c, 0, "SELECT", 0);
  assert_int_equal(ni_cmd_string(c, "INBOX", 5), 0);
  assert_int_equal(ni_cmd_finish(c), 0);
  assert_int_equal(ni_cmd_finish(c), NI_EUSAGE);
  assert_int_equal(ni_cmd_string(c, "x", 1), NI_EUSAGE);
  assert_int_equal(ni_cmd_atom(c, "x"), NI_EUSAGE);
  assert_int_equal(ni_cmd_literal(c, "x", 1), NI_EUSAGE);
  assert_chunk(c, 0, "SELECT INBOX\r\n", 0);
  k = ni_cmd_chunk(c, 7);
  assert_int_equal(k.n, 0);
  assert_string_equal(k.p, "");
  assert_int_equal(ni_cmd_chunk_needs_continuation(c, 0), 0);
  assert_int_equal(ni_cmd_chunk_needs_continuation(c, 7), 0);
  ni_cmd_free(c);
  ni_cmd_free(NULL);
}

/* Whatever bytes come in (NUL aside), the command stays one line per
 * chunk: a CR or LF only ever appears inside a literal whose length was
 * announced right before it. */
static void test_no_line_injection(void **state) {
  unsigned seed = 12345;
  int round;
  (void)state;
  for (round = 0; round < 2000; round++) {
    char s[40];
    size_t n, i;
    ni_cmd *c = ni_cmd_new("LOGIN");
    char *all;
    seed = seed * 1103515245u + 12345u;
    n = (seed >> 16) % sizeof(s);
    for (i = 0; i < n; i++) {
      seed = seed * 1103515245u + 12345u;
      s[i] = (char)(1 + (seed >> 16) % 255);
    }
    ni_cmd_literal_plus(c, round & 1);
    assert_int_equal(ni_cmd_string(c, s, n), 0);
    assert_int_equal(ni_cmd_finish(c), 0);
    all = joined(c);
    /* Either the string went inline (no CR/LF before the final CRLF), or it
     * is a literal whose announced length covers exactly its bytes. */
    if (all[6] != '{') {
      assert_int_equal(strcspn(all, "\r\n"), strlen(all) - 2);
    } else {
      char *end;
      assert_int_equal(strtoul(all + 7, &end, 10), n);
      end += (*end == '+');
      assert_memory_equal(end, "}\r\n", 3);
      assert_memory_equal(end + 3, s, n);
      assert_string_equal(end + 3 + n, "\r\n");
    }
    free(all);
    ni_cmd_free(c);
  }
}

/* Mailbox names in modified UTF-7 (RFC 3501 5.1.3), with the example of
 * the RFC, and as raw UTF-8 for UTF8=ACCEPT servers. */
static void test_mailbox_names(void **state) {
  static const struct {
    const char *in;
    const char *out;
  } table[] = {
      {"INBOX", "X INBOX\r\n"},
      {"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
       "X ~peter/mail/&U,BTFw-/&ZeVnLIqe-\r\n"},
      {"Entw\xc3\xbcrfe", "X Entw&APw-rfe\r\n"},
      {"&", "X &-\r\n"},
      {"\xf0\x9f\x98\x80", "X &2D3eAA-\r\n"},
      {"a\tb", "X a&AAk-b\r\n"},
      {"\xc3\x9c&\xc3\xb6", "X &ANw-&-&APY-\r\n"},
      {"Sent Items", "X \"Sent Items\"\r\n"},
      {"", "X \"\"\r\n"},
  };
  static const char *bad[] = {"\xc3", "a\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                              "\xff", "\xe5\x8f"};
  size_t i;
  ni_cmd *c;
  (void)state;
  for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
    char *s;
    c = ni_cmd_new("X");
    assert_int_equal(ni_cmd_mailbox(c, table[i].in, strlen(table[i].in), 0), 0);
    assert_int_equal(ni_cmd_finish(c), 0);
    s = joined(c);
    assert_string_equal(s, table[i].out);
    free(s);
    ni_cmd_free(c);
  }
  c = ni_cmd_new("X");
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(ni_cmd_mailbox(c, bad[i], strlen(bad[i]), 0), NI_EUSAGE);
    assert_int_equal(ni_cmd_mailbox(c, bad[i], strlen(bad[i]), 1), NI_EUSAGE);
  }
  assert_int_equal(ni_cmd_mailbox(c, "a\0b", 3, 0), NI_EUSAGE);
  assert_int_equal(ni_cmd_mailbox(c, "a\0b", 3, 1), NI_EUSAGE);
  ni_cmd_literal_plus(c, 1);
  assert_int_equal(ni_cmd_mailbox(c, "Entw\xc3\xbcrfe", 9, 1), 0);
  assert_int_equal(ni_cmd_mailbox(c, "A&B", 3, 1), 0);
  assert_int_equal(ni_cmd_finish(c), 0);
  assert_chunk(c, 0, "X {9+}\r\nEntw\xc3\xbcrfe A&B\r\n", 0);
  assert_int_equal(ni_cmd_mailbox(c, "x", 1, 0), NI_EUSAGE);
  ni_cmd_free(c);
}

/* ---- SASL messages (imap/sasl.c) ---------------------------------------- */

/* Base64 of s decoded, NUL-terminated (the caller frees it). */
static char *unb64(const char *s, size_t *n) {
  unsigned char *out = malloc(strlen(s) / 4 * 3 + 4);
  assert_non_null(out);
  *n = ni__base64_decode(s, strlen(s), out);
  assert_true(*n != (size_t)-1);
  out[*n] = '\0';
  return (char *)out;
}

static void test_base64(void **state) {
  /* RFC 4648 section 10. */
  static const char *vec[][2] = {{"", ""},
                                 {"f", "Zg=="},
                                 {"fo", "Zm8="},
                                 {"foo", "Zm9v"},
                                 {"foob", "Zm9vYg=="},
                                 {"fooba", "Zm9vYmE="},
                                 {"foobar", "Zm9vYmFy"}};
  static const char *bad[] = {"Zg=", "Z", "Zm9v=", "Zm9vY", "Zm 9v", "Zm9v\n", "Z===", "Zm-v"};
  char out[16];
  unsigned char dec[16];
  size_t i;
  (void)state;
  for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
    size_t n = strlen(vec[i][0]);
    assert_int_equal(ni__base64_encode((const unsigned char *)vec[i][0], n, out),
                     strlen(vec[i][1]));
    assert_string_equal(out, vec[i][1]);
    assert_int_equal(ni__base64_decode(vec[i][1], strlen(vec[i][1]), dec), n);
    assert_memory_equal(dec, vec[i][0], n);
  }
  /* Padding may be left out. */
  assert_int_equal(ni__base64_decode("Zg", 2, dec), 1);
  assert_int_equal(ni__base64_decode("Zm9vYmE", 7, dec), 5);
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(ni__base64_decode(bad[i], strlen(bad[i]), dec), (size_t)-1);
  assert_int_equal(ni__base64_decode("Zg\0=", 4, dec), (size_t)-1);
}

static void test_sasl_messages(void **state) {
  /* The example of RFC 7628 section 4.1. */
  static const char rfc7628[] = "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01"
                                "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01";
  static const char tok[] = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==";
  size_t n, dn;
  char *m, *d;
  (void)state;
  m = ni__sasl_plain("user", "secret", &n);
  assert_string_equal(m, "AHVzZXIAc2VjcmV0");
  assert_int_equal(n, 16);
  ni__sasl_free(m, n);

  m = ni__sasl_oauth2(1, "user@example.com", "server.example.com", 143, tok, strlen(tok), &n);
  assert_string_equal(m, "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MT"
                         "QzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c"
                         "9PQEB");
  d = unb64(m, &dn);
  assert_int_equal(dn, sizeof(rfc7628) - 1);
  assert_memory_equal(d, rfc7628, dn);
  free(d);
  ni__sasl_free(m, n);

  /* The gs2 header escapes "," and "=" of the user name (RFC 5801 4);
   * XOAUTH2 has no escaping.  The token is used for len bytes only. */
  m = ni__sasl_oauth2(1, "a,b=c", "h", 993, "tok.1xyz", 5, &n);
  d = unb64(m, &dn);
  assert_string_equal(d, "n,a=a=2Cb=3Dc,\x01host=h\x01port=993\x01"
                         "auth=Bearer tok.1\x01\x01");
  free(d);
  ni__sasl_free(m, n);
  m = ni__sasl_oauth2(0, "someuser@example.com", "imap.example.com", 993,
                      "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", 45, &n);
  d = unb64(m, &dn);
  assert_string_equal(d, "user=someuser@example.com\x01"
                         "auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01");
  free(d);
  ni__sasl_free(m, n);
  ni__sasl_free(NULL, 0);
}

/* Base64 of json, then what ni__oauth2_error_status makes of it. */
static int status_of(const char *json, char *status, size_t cap) {
  char b64[512];
  assert_true(strlen(json) < 300);
  ni__base64_encode((const unsigned char *)json, strlen(json), b64);
  return ni__oauth2_error_status(b64, strlen(b64), status, cap);
}

static void test_oauth2_error(void **state) {
  static const struct {
    const char *json;
    int rc;
    const char *status;
  } table[] = {
      /* Dovecot's XOAUTH2 and OAUTHBEARER errors, and RFC 7628's example. */
      {"{\"status\":\"401\",\"schemes\":\"bearer\",\"scope\":\"mail\"}", 0, "401"},
      {"{\"status\":\"invalid_token\"}", 0, "invalid_token"},
      {"{\"status\":\"invalid_token\",\"scope\":\"example_scope\",\"openid-configuration\":"
       "\"https://example.com/.well-known/openid-configuration\"}",
       0, "invalid_token"},
      {" { \"schemes\" : \"bearer\" , \"status\" : 401 } ", 0, "401"},
      {"{\"a\":{\"status\":\"x\",\"b\":[1,{\"c\":\"}\"}]},\"status\":\"400\"}", 0, "400"},
      {"{\"status\":\"in\\u0076alid_tok\\\"en\\n\"}", 0, "invalid_tok\"en?"},
      {"{\"status\":\"\\u00e9\"}", 0, "?"},
      {"{\"status\":\"a\",\"status\":\"b\"}", 0, "a"},
      {"{\"status\":true}", 0, "true"},
      {"{\"status\":{\"code\":1}}", 0, ""},
      {"{\"scope\":\"mail\"}", 0, ""},
      {"{}", 0, ""},
      {"[\"status\",\"401\"]", -1, ""},
      {"{\"status\":\"401\"", -1, ""},
      {"{\"status\":\"401}", -1, ""},
      {"{\"status\" \"401\"}", -1, ""},
      {"{\"status\":\"\\x\"}", -1, ""},
      {"{\"a\":{\"b\":[}", -1, ""},
      {"", -1, ""},
  };
  char status[64];
  size_t i;
  (void)state;
  for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
    strcpy(status, "junk");
    assert_int_equal(status_of(table[i].json, status, sizeof(status)), table[i].rc);
    assert_string_equal(status, table[i].status);
  }
  /* Cut to fit. */
  assert_int_equal(status_of("{\"status\":\"invalid_token\"}", status, 8), 0);
  assert_string_equal(status, "invalid");
  assert_int_equal(status_of("{\"status\":12345678901}", status, 4), 0);
  assert_string_equal(status, "123");
  /* Not base64 at all, or an empty challenge. */
  assert_int_equal(ni__oauth2_error_status("not base64!", 11, status, sizeof(status)), -1);
  assert_string_equal(status, "");
  assert_int_equal(ni__oauth2_error_status("", 0, status, sizeof(status)), -1);

  assert_true(ni__oauth2_status_is_token("401"));
  assert_true(ni__oauth2_status_is_token("invalid_token"));
  assert_true(ni__oauth2_status_is_token("INVALID_TOKEN"));
  assert_false(ni__oauth2_status_is_token("400"));
  assert_false(ni__oauth2_status_is_token("insufficient_scope"));
  assert_false(ni__oauth2_status_is_token(""));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_quoting_table),
      cmocka_unit_test(test_long_strings_are_literals),
      cmocka_unit_test(test_login_literal_sync),
      cmocka_unit_test(test_literal_plus_one_chunk),
      cmocka_unit_test(test_append),
      cmocka_unit_test(test_atoms_and_verbs),
      cmocka_unit_test(test_hostile),
      cmocka_unit_test(test_no_line_injection),
      cmocka_unit_test(test_mailbox_names),
      cmocka_unit_test(test_base64),
      cmocka_unit_test(test_sasl_messages),
      cmocka_unit_test(test_oauth2_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
