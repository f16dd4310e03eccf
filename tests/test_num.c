/* Tests of bounded number parsing (common/num.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/num.h"
#include "natidle/common.h"

static void test_parse_uint(void **state) {
  (void)state;
  unsigned long v = 0;
  assert_int_equal(ni__parse_uint("8", 1, 64, &v), 0);
  assert_int_equal(v, 8);
  assert_int_equal(ni__parse_uint("0", 1, 64, &v), NI_EUSAGE);
  assert_int_equal(ni__parse_uint("65", 1, 64, &v), NI_EUSAGE);
  assert_int_equal(ni__parse_uint("-1", 0, 64, &v), NI_EUSAGE);
  assert_int_equal(ni__parse_uint("8x", 1, 64, &v), NI_EUSAGE);
  assert_int_equal(ni__parse_uint("", 0, 64, &v), NI_EUSAGE);
  assert_int_equal(ni__parse_uint("99999999999999999999999", 0, ~0UL, &v), NI_EUSAGE);
}

static void test_parse_seconds(void **state) {
  (void)state;
  double v = 0;
  assert_int_equal(ni__parse_seconds("37.5", 0, 7440, &v), 0);
  assert_true(v == 37.5);
  assert_int_equal(ni__parse_seconds("5m", 0, 7440, &v), 0);
  assert_true(v == 300);
  assert_int_equal(ni__parse_seconds("2h", 0, 7440, &v), 0);
  assert_true(v == 7200);
  assert_int_equal(ni__parse_seconds("3h", 0, 7440, &v), NI_EUSAGE);
  assert_int_equal(ni__parse_seconds("nan", 0, 7440, &v), NI_EUSAGE);
  assert_int_equal(ni__parse_seconds("inf", 0, 7440, &v), NI_EUSAGE);
  assert_int_equal(ni__parse_seconds("-3", 0, 7440, &v), NI_EUSAGE);
  assert_int_equal(ni__parse_seconds("3 s", 0, 7440, &v), NI_EUSAGE);
  assert_int_equal(ni__parse_seconds("1e999", 0, 7440, &v), NI_EUSAGE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_uint),
      cmocka_unit_test(test_parse_seconds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
