/* Tests of the shared error table and exit-code mapping. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "natidle/common.h"

static void test_strerror_own_codes(void **state) {
  (void)state;
  assert_string_equal(ni_strerror(NI_ETIMEDOUT), "timed out");
  assert_string_equal(ni_err_name(NI_ECERT), "NI_ECERT");
  assert_string_equal(ni_strerror(0), "success");
  assert_string_equal(ni_strerror(-99999), "unknown error");
}

static void test_strerror_errno(void **state) {
  (void)state;
  assert_string_equal(ni_strerror(-ECONNRESET), strerror(ECONNRESET));
  assert_string_equal(ni_err_name(-ECONNRESET), "ECONNRESET");
}

static void test_exit_codes(void **state) {
  (void)state;
  assert_int_equal(ni_exit_code_for(0), NI_EXIT_OK);
  assert_int_equal(ni_exit_code_for(NI_EAUTH), NI_EXIT_AUTH);
  assert_int_equal(ni_exit_code_for(NI_ECERT), NI_EXIT_TLS);
  assert_int_equal(ni_exit_code_for(NI_ENOCAP), NI_EXIT_CAPABILITY);
  assert_int_equal(ni_exit_code_for(NI_ENOTOURS), NI_EXIT_SAFETY);
  assert_int_equal(ni_exit_code_for(-ECONNREFUSED), NI_EXIT_NETWORK);
  assert_int_equal(ni_exit_code_for(NI_EPARSE), NI_EXIT_FAILURE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strerror_own_codes),
      cmocka_unit_test(test_strerror_errno),
      cmocka_unit_test(test_exit_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
