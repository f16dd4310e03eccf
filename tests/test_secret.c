/* Tests of masked secrets and the wipe primitive (common/secret.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/secret.h"
#include "natidle/common.h"

static int contains(const unsigned char *h, size_t n, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++)
    if (!memcmp(h + i, needle, k)) return 1;
  return 0;
}

/* The masked copy never holds the plaintext, and reveal gives it back. */
static void test_keep_reveal(void **state) {
  (void)state;
  static const char pw[] = "correct horse battery staple";
  ni__secret s = {0};
  assert_int_equal(ni__secret_keep(&s, pw, strlen(pw)), 0);
  assert_int_equal(s.len, strlen(pw));
  assert_false(contains(s.mask, s.len, "horse"));
  assert_memory_not_equal(s.mask, pw, s.len);
  char *plain = ni__secret_reveal(&s);
  assert_non_null(plain);
  assert_string_equal(plain, pw);
  ni__secret_free_plain(&s, plain);
  /* Keeping again replaces the old secret. */
  assert_int_equal(ni__secret_keep(&s, "x", 1), 0);
  plain = ni__secret_reveal(&s);
  assert_string_equal(plain, "x");
  ni__secret_free_plain(&s, plain);
  ni__secret_drop(&s);
  assert_null(s.mask);
  assert_null(s.pad);
  assert_int_equal(s.len, 0);
  ni__secret_drop(&s); /* twice is fine */
}

/* Two keeps of the same secret use different pads. */
static void test_pads_differ(void **state) {
  (void)state;
  ni__secret a = {0}, b = {0};
  assert_int_equal(ni__secret_keep(&a, "same secret value", 17), 0);
  assert_int_equal(ni__secret_keep(&b, "same secret value", 17), 0);
  assert_memory_not_equal(a.mask, b.mask, 17);
  ni__secret_drop(&a);
  ni__secret_drop(&b);
}

static void test_empty_and_wipe(void **state) {
  (void)state;
  ni__secret s = {0};
  assert_int_equal(ni__secret_keep(&s, "", 0), 0);
  char *plain = ni__secret_reveal(&s);
  assert_string_equal(plain, "");
  ni__secret_free_plain(&s, plain);
  ni__secret_drop(&s);
  char buf[16];
  memset(buf, 'A', sizeof buf);
  ni__wipe(buf, 8);
  for (int i = 0; i < 8; i++)
    assert_int_equal(buf[i], 0);
  assert_int_equal(buf[8], 'A');
  ni__wipe(NULL, 4);
  ni__wipe(buf, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keep_reveal),
      cmocka_unit_test(test_pads_differ),
      cmocka_unit_test(test_empty_and_wipe),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
