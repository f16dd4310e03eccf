/* Tests of the command-line helpers and the password reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "natidle/common.h"
#include "cli/util.h"
#include "cli/password.h"

static void test_parse_uint(void **state) {
  (void)state;
  unsigned long v = 0;
  assert_int_equal(ni_parse_uint("8", 1, 64, &v), 0);
  assert_int_equal(v, 8);
  assert_int_equal(ni_parse_uint("0", 1, 64, &v), NI_EUSAGE);
  assert_int_equal(ni_parse_uint("65", 1, 64, &v), NI_EUSAGE);
  assert_int_equal(ni_parse_uint("-1", 0, 64, &v), NI_EUSAGE);
  assert_int_equal(ni_parse_uint("8x", 1, 64, &v), NI_EUSAGE);
  assert_int_equal(ni_parse_uint("", 0, 64, &v), NI_EUSAGE);
  assert_int_equal(ni_parse_uint("99999999999999999999999", 0, ~0UL, &v), NI_EUSAGE);
}

static void test_parse_seconds(void **state) {
  (void)state;
  double v = 0;
  assert_int_equal(ni_parse_seconds("37.5", 0, 7440, &v), 0);
  assert_true(v == 37.5);
  assert_int_equal(ni_parse_seconds("5m", 0, 7440, &v), 0);
  assert_true(v == 300);
  assert_int_equal(ni_parse_seconds("2h", 0, 7440, &v), 0);
  assert_true(v == 7200);
  assert_int_equal(ni_parse_seconds("3h", 0, 7440, &v), NI_EUSAGE);
  assert_int_equal(ni_parse_seconds("nan", 0, 7440, &v), NI_EUSAGE);
  assert_int_equal(ni_parse_seconds("inf", 0, 7440, &v), NI_EUSAGE);
  assert_int_equal(ni_parse_seconds("-3", 0, 7440, &v), NI_EUSAGE);
  assert_int_equal(ni_parse_seconds("3 s", 0, 7440, &v), NI_EUSAGE);
  assert_int_equal(ni_parse_seconds("1e999", 0, 7440, &v), NI_EUSAGE);
}

static void test_fmt_duration(void **state) {
  (void)state;
  char b[32];
  assert_string_equal(ni_fmt_duration(37.24, b, sizeof b), "37.2 s");
  assert_string_equal(ni_fmt_duration(131, b, sizeof b), "2 m 11 s");
  assert_string_equal(ni_fmt_duration(7440, b, sizeof b), "2 h 04 m");
}

static char *write_tmp(const char *content, mode_t mode) {
  char *path = strdup("/tmp/natidle-pw-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
  fchmod(fd, mode);
  close(fd);
  return path;
}

static void test_secret_file(void **state) {
  (void)state;
  char err[256];
  char *pw = NULL;
  char *path = write_tmp("s3cret pass\"word\r\nsecond line\n", 0600);
  assert_int_equal(ni_secret_read(path, &pw, err, sizeof err), 0);
  assert_string_equal(pw, "s3cret pass\"word");
  ni_secret_free(pw);
  unlink(path);
  free(path);

  path = write_tmp("\n", 0600);
  assert_int_equal(ni_secret_read(path, &pw, err, sizeof err), NI_EUSAGE);
  assert_null(pw);
  assert_non_null(strstr(err, "empty"));
  unlink(path);
  free(path);

  assert_int_equal(ni_secret_read("/nonexistent/pw", &pw, err, sizeof err), NI_EUSAGE);
  assert_non_null(strstr(err, "/nonexistent/pw"));
}

static void test_secret_env_removed(void **state) {
  (void)state;
  char err[256];
  char *pw = NULL;
  setenv(NI_PASSWORD_ENV, "from-env", 1);
  assert_int_equal(ni_secret_read(NULL, &pw, err, sizeof err), 0);
  assert_string_equal(pw, "from-env");
  assert_null(getenv(NI_PASSWORD_ENV));
  ni_secret_free(pw);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_uint),      cmocka_unit_test(test_parse_seconds),
      cmocka_unit_test(test_fmt_duration),    cmocka_unit_test(test_secret_file),
      cmocka_unit_test(test_secret_env_removed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
