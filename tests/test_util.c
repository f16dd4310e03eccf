/* Tests of the tool's formatting helpers (cli/util.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/util.h"
#include "natidle/common.h"

static void test_fmt_duration(void **state) {
  (void)state;
  char b[32];
  assert_string_equal(ni__fmt_duration(37.24, b, sizeof b), "37.2 s");
  assert_string_equal(ni__fmt_duration(131, b, sizeof b), "2 m 11 s");
  assert_string_equal(ni__fmt_duration(7440, b, sizeof b), "2 h 04 m");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fmt_duration),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
