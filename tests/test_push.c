/* Tests of the push driver's pure helpers (header fields, INTERNALDATE,
 * backoff) and of the parts of its API that need no server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/prng.h"
#include "keepalive/driver_internal.h"
#include "natidle/push.h"

static const char hdr[] = "From: Alice Example <alice@example.org>\r\n"
                          "To: bob@example.org,\r\n"
                          "\tcarol@example.org\r\n"
                          "Subject:   Lunch\r\n"
                          " tomorrow?  \r\n"
                          "X-Ctl: a\001b\r\n"
                          "\r\n";

static void test_header_simple(void **state) {
  (void)state;
  char out[128];
  assert_int_equal(ni__header_field(hdr, sizeof hdr - 1, "from", out, sizeof out), 33);
  assert_string_equal(out, "Alice Example <alice@example.org>");
}

static void test_header_folded(void **state) {
  (void)state;
  char out[128];
  assert_true(ni__header_field(hdr, sizeof hdr - 1, "Subject", out, sizeof out) > 0);
  assert_string_equal(out, "Lunch tomorrow?");
  assert_true(ni__header_field(hdr, sizeof hdr - 1, "TO", out, sizeof out) > 0);
  assert_string_equal(out, "bob@example.org, carol@example.org");
}

static void test_header_absent_and_cut(void **state) {
  (void)state;
  char out[8];
  assert_int_equal(ni__header_field(hdr, sizeof hdr - 1, "Cc", out, sizeof out), -1);
  assert_string_equal(out, "");
  /* "From" must not match "From-Other:" nor a prefix of the name. */
  static const char h2[] = "From-Other: x\r\nFro: y\r\n";
  assert_int_equal(ni__header_field(h2, sizeof h2 - 1, "From", out, sizeof out), -1);
  assert_int_equal(ni__header_field(hdr, sizeof hdr - 1, "From", out, sizeof out), 7);
  assert_string_equal(out, "Alice E");
}

static void test_header_control_chars(void **state) {
  (void)state;
  char out[16];
  assert_int_equal(ni__header_field(hdr, sizeof hdr - 1, "X-Ctl", out, sizeof out), 3);
  assert_string_equal(out, "a?b");
}

static void test_header_no_final_newline(void **state) {
  (void)state;
  char out[16];
  static const char h[] = "Subject: end";
  assert_int_equal(ni__header_field(h, sizeof h - 1, "subject", out, sizeof out), 3);
  assert_string_equal(out, "end");
}

static void test_internaldate(void **state) {
  (void)state;
  static const char r1[] = "* 3 FETCH (UID 9 INTERNALDATE \"27-Nov-2026 21:55:03 +0000\" "
                           "BODY[HEADER.FIELDS (FROM)] {4}\r\n\r\n\r\n)\r\n";
  /* date -u -d '2026-11-27 21:55:03' +%s */
  assert_int_equal(ni__internaldate(r1, sizeof r1 - 1), 1795816503);
  static const char r2[] = "* 1 FETCH (internaldate \" 1-Jan-1970 01:00:00 +0100\")";
  assert_int_equal(ni__internaldate(r2, sizeof r2 - 1), 0);
  static const char r3[] = "* 1 FETCH (INTERNALDATE \"29-Feb-2024 23:59:59 -0130\")";
  assert_int_equal(ni__internaldate(r3, sizeof r3 - 1), 1709251199 + 5400);
}

static void test_internaldate_bad(void **state) {
  (void)state;
  static const char *const bad[] = {
      "* 1 FETCH (UID 4)",
      "* 1 FETCH (INTERNALDATE \"27-Foo-2026 21:55:03 +0000\")",
      "* 1 FETCH (INTERNALDATE \"27-Nov-2026 25:55:03 +0000\")",
      "* 1 FETCH (INTERNALDATE \"27-Nov-2026 21:55:03 +0000)",
      "* 1 FETCH (INTERNALDATE \"27-Nov-2026 21:55",
      "* 1 FETCH (INTERNALDATE \"2x-Nov-2026 21:55:03 +0000\")",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(ni__internaldate(bad[i], strlen(bad[i])), -1);
}

static void test_backoff_bounds(void **state) {
  (void)state;
  uint64_t rng = 42;
  for (unsigned attempt = 0; attempt < 40; attempt++) {
    for (int k = 0; k < 50; k++) {
      ni_ms d = ni__backoff_ms(attempt, 1000, 300000, &rng);
      ni_ms cap = 1000;
      for (unsigned i = 0; i < attempt && cap < 300000; i++)
        cap = cap * 2 > 300000 ? 300000 : cap * 2;
      assert_true(d >= cap / 2);
      assert_true(d <= cap);
    }
  }
}

static void test_backoff_grows_and_spreads(void **state) {
  (void)state;
  uint64_t rng = 7;
  /* Attempt 10 is capped at 5 min: the delays spread over [150 s, 300 s]. */
  ni_ms lo = NI_TIME_NEVER, hi = 0;
  for (int k = 0; k < 200; k++) {
    ni_ms d = ni__backoff_ms(10, 1000, 300000, &rng);
    lo = d < lo ? d : lo;
    hi = d > hi ? d : hi;
  }
  assert_true(lo < 200000);
  assert_true(hi > 250000);
  /* Degenerate bounds stay sane. */
  assert_true(ni__backoff_ms(3, 0, 0, &rng) <= 1);
  assert_true(ni__backoff_ms(100, 500, 100, &rng) <= 500);
}

static void test_xorshift_never_stuck(void **state) {
  (void)state;
  uint64_t s = 0;
  uint64_t a = ni__prng_next(&s), b = ni__prng_next(&s);
  assert_true(a != 0);
  assert_true(a != b);
}

static void test_push_api_without_server(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  ni_push *p = NULL;
  ni_push_opts o;
  memset(&o, 0, sizeof o);
  assert_int_equal(ni_push_new(&loop, &o, NULL, NULL, &p), NI_EUSAGE);
  assert_null(p);
  o.host = "192.0.2.1";
  o.user = "u";
  o.password = "secret";
  assert_int_equal(ni_push_new(&loop, &o, NULL, NULL, &p), 0);
  assert_non_null(p);
  assert_int_equal(ni_push_get_state(p), NI_PUSH_STOPPED);
  assert_string_equal(ni_push_account(p), "u");
  assert_int_equal(ni_push_stop(p, 1), NI_ESTATE);
  ni_push_stats st;
  ni_push_get_stats(p, &st);
  assert_int_equal(st.keepalives, 0);
  assert_string_equal(ni_push_state_name(NI_PUSH_RECONNECT_WAIT), "reconnect-wait");
  assert_string_equal(ni_push_state_name((ni_push_state)99), "?");
  ni_push_free(p);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void on_token_unused(ni_push *p, int refresh, void *ud) {
  (void)p;
  (void)refresh;
  (void)ud;
}

/* What ni_push_new() refuses, and the API of a session that never ran. */
static void test_push_options_checked(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  ni_push *p = NULL;
  ni_push_opts o;
  memset(&o, 0, sizeof o);
  o.host = "192.0.2.1";
  o.user = "u";
  o.password = "secret";
  /* A UID without its UIDVALIDITY means nothing. */
  o.last_uid = 7;
  assert_int_equal(ni_push_new(&loop, &o, NULL, NULL, &p), NI_EUSAGE);
  o.uidvalidity = 3;
  assert_int_equal(ni_push_new(&loop, &o, NULL, NULL, &p), 0);
  ni_push_stats st;
  ni_push_get_stats(p, &st);
  assert_int_equal(st.last_uid, 7);
  assert_int_equal(st.uidvalidity, 3);
  ni_push_free(p);
  o.last_uid = o.uidvalidity = 0;
  /* Out of range. */
  o.security = (ni_push_security)3;
  assert_int_equal(ni_push_new(&loop, &o, NULL, NULL, &p), NI_EUSAGE);
  o.security = NI_PUSH_STARTTLS;
  o.family = 5;
  assert_int_equal(ni_push_new(&loop, &o, NULL, NULL, &p), NI_EUSAGE);
  o.family = 6;
  assert_int_equal(ni_push_new(&loop, &o, NULL, NULL, &p), 0);
  ni_push_free(p);
  o.family = 0;
  o.auth = (ni_push_auth)4;
  assert_int_equal(ni_push_new(&loop, &o, NULL, NULL, &p), NI_EUSAGE);
  /* OAuth2 needs the token callback, and no password. */
  o.auth = NI_PUSH_AUTH_OAUTH2;
  o.password = NULL;
  assert_int_equal(ni_push_new(&loop, &o, NULL, NULL, &p), NI_EUSAGE);
  ni_push_cb cb = {.on_token = on_token_unused};
  assert_int_equal(ni_push_new(&loop, &o, &cb, NULL, &p), 0);
  /* Nobody asked for a token. */
  assert_int_equal(ni_push_set_token(p, "t", 1), NI_ESTATE);
  const char *d = "x";
  assert_int_equal(ni_push_failure(p, &d), 0);
  assert_string_equal(d, "");
  assert_string_equal(ni_push_state_name(NI_PUSH_FAILED), "failed");
  assert_true(ni_push_now() > 0);
  ni_push_free(p);
  /* A password session needs its password. */
  o.auth = NI_PUSH_AUTH_PASSWORD;
  assert_int_equal(ni_push_new(&loop, &o, NULL, NULL, &p), NI_EUSAGE);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_group_refuses_free_with_sessions(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  ni_push_group *g = NULL;
  assert_int_equal(ni_push_group_new(&loop, &g), 0);
  ni_push_opts o;
  memset(&o, 0, sizeof o);
  o.host = "192.0.2.1";
  o.user = "u";
  o.password = "p";
  o.group = g;
  ni_push *a = NULL, *b = NULL;
  assert_int_equal(ni_push_new(&loop, &o, NULL, NULL, &a), 0);
  o.account = "second";
  assert_int_equal(ni_push_new(&loop, &o, NULL, NULL, &b), 0);
  assert_string_equal(ni_push_account(b), "second");
  assert_int_equal(ni_push_group_free(g), NI_ESTATE);
  ni_push_free(a);
  ni_push_free(b);
  assert_int_equal(ni_push_group_wakeups(g), 0);
  assert_int_equal(ni_push_group_free(g), 0);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_header_simple),
      cmocka_unit_test(test_header_folded),
      cmocka_unit_test(test_header_absent_and_cut),
      cmocka_unit_test(test_header_control_chars),
      cmocka_unit_test(test_header_no_final_newline),
      cmocka_unit_test(test_internaldate),
      cmocka_unit_test(test_internaldate_bad),
      cmocka_unit_test(test_backoff_bounds),
      cmocka_unit_test(test_backoff_grows_and_spreads),
      cmocka_unit_test(test_xorshift_never_stuck),
      cmocka_unit_test(test_push_api_without_server),
      cmocka_unit_test(test_group_refuses_free_with_sessions),
      cmocka_unit_test(test_push_options_checked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
