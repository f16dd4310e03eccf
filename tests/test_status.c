/* Tests of the progress output of `natidle probe` (cli/status.c): which
 * events each mode shows, and that only a terminal gets a live line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cli/status.h"

/* Everything written to f so far, in a static buffer. */
static const char *contents(FILE *f) {
  static char buf[512];
  fflush(f);
  rewind(f);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  return buf;
}

static void test_status_modes(void **state) {
  (void)state;
  /* A regular file is not a terminal: log lines, no live line. */
  FILE *f = tmpfile();
  assert_non_null(f);
  ni_status st;
  ni__status_init(&st, f, 0, 0, 1000);
  assert_int_equal(st.mode, NI_STATUS_LOG);
  assert_int_equal(ni__status_every_ms(&st), 0);
  ni__status_event(&st, 3500, 1, "session %u: %s", 3u, "alive");
  ni__status_event(&st, 3600, 2, "hidden without --verbose");
  ni_status_view v = {1.0, -1, 2, 1, 0, 0, 3, 0.5, -1};
  ni__status_draw(&st, 3700, &v, 1);
  assert_string_equal(contents(f), "[    2.5 s] session 3: alive\n");
  fclose(f);
  f = tmpfile();
  ni__status_init(&st, f, 1, 1, 0);
  assert_int_equal(st.mode, NI_STATUS_QUIET);
  assert_int_equal(ni__status_every_ms(&st), 0);
  ni__status_event(&st, 10, 0, "never shown");
  assert_int_equal(ftell(f), 0);
  fclose(f);
}

static void test_status_verbose(void **state) {
  (void)state;
  FILE *f = tmpfile();
  assert_non_null(f);
  ni_status st;
  ni__status_init(&st, f, 0, 1, 0);
  ni__status_event(&st, 0, 0, "always");
  ni__status_event(&st, 1300, 2, "detail");
  /* Nothing on screen to erase in log mode. */
  ni__status_clear(&st);
  assert_string_equal(contents(f), "[    0.0 s] always\n[    1.3 s] detail\n");
  fclose(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_modes),
      cmocka_unit_test(test_status_verbose),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
