/* Tests of the password reader (cli/password.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/password.h"
#include "natidle/common.h"

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
  assert_int_equal(ni__cred_read(path, &pw, err, sizeof err), 0);
  assert_string_equal(pw, "s3cret pass\"word");
  ni__cred_free(pw);
  unlink(path);
  free(path);

  path = write_tmp("\n", 0600);
  assert_int_equal(ni__cred_read(path, &pw, err, sizeof err), NI_EUSAGE);
  assert_null(pw);
  assert_non_null(strstr(err, "empty"));
  unlink(path);
  free(path);

  assert_int_equal(ni__cred_read("/nonexistent/pw", &pw, err, sizeof err), NI_EUSAGE);
  assert_non_null(strstr(err, "/nonexistent/pw"));
}

static void test_secret_env_removed(void **state) {
  (void)state;
  char err[256];
  char *pw = NULL;
  setenv(NI_PASSWORD_ENV, "from-env", 1);
  assert_int_equal(ni__cred_read(NULL, &pw, err, sizeof err), 0);
  assert_string_equal(pw, "from-env");
  assert_null(getenv(NI_PASSWORD_ENV));
  ni__cred_free(pw);
}

/* A token command's first output line is the secret; its failures are
 * one-line errors. */
static void test_from_command(void **state) {
  (void)state;
  char err[256];
  char *tok = NULL;
  assert_int_equal(ni__cred_from_command("printf 'ya29.tok%s\\nrest\\n' en", "token command", 5000,
                                         &tok, err, sizeof err),
                   0);
  assert_string_equal(tok, "ya29.token");
  ni__cred_free(tok);
  /* Reads nothing from natidle's stdin. */
  assert_int_equal(
      ni__cred_from_command("read x; echo \"got$x\"", "token command", 5000, &tok, err, sizeof err),
      0);
  assert_string_equal(tok, "got");
  ni__cred_free(tok);
  assert_int_equal(
      ni__cred_from_command("echo t; exit 3", "token command", 5000, &tok, err, sizeof err),
      NI_EUSAGE);
  assert_null(tok);
  assert_non_null(strstr(err, "exited with status 3"));
  assert_int_equal(ni__cred_from_command("echo", "token command", 5000, &tok, err, sizeof err),
                   NI_EUSAGE);
  assert_non_null(strstr(err, "empty"));
  assert_int_equal(ni__cred_from_command("sleep 30", "token command", 300, &tok, err, sizeof err),
                   NI_EUSAGE);
  assert_non_null(strstr(err, "no line within"));
  /* A 4 kB token (a JWT with claims) fits. */
  assert_int_equal(ni__cred_from_command("head -c 4096 /dev/zero | tr '\\0' a; echo",
                                         "token command", 5000, &tok, err, sizeof err),
                   0);
  assert_int_equal(strlen(tok), 4096);
  ni__cred_free(tok);
}

static void test_read_file_named(void **state) {
  (void)state;
  char err[256];
  char *tok = NULL;
  char *path = write_tmp("\n", 0600);
  assert_int_equal(ni__cred_read_file(path, "OAuth2 token file", &tok, err, sizeof err), NI_EUSAGE);
  assert_non_null(strstr(err, "OAuth2 token file"));
  unlink(path);
  free(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_secret_file),
      cmocka_unit_test(test_secret_env_removed),
      cmocka_unit_test(test_from_command),
      cmocka_unit_test(test_read_file_named),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
