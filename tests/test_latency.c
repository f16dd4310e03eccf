/* Tests of the after-silence latency estimator (keepalive/latency.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "natidle/latency.h"

/* A radio that sleeps: fast round trips while awake, 3 s after a silence.
 * The deadline for a long silence comes from the slow samples only. */
static void test_after_silence(void **state) {
  (void)state;
  ni_lat l;
  ni_lat_init(&l);
  assert_true(ni_lat_worst(&l) == NI_TIME_NEVER);
  assert_true(ni_lat_deadline(&l, 60000, 2, 1000, 3000, 15000) == 15000);
  for (int i = 0; i < 5; i++)
    ni_lat_add(&l, 100, 200);  /* awake */
  ni_lat_add(&l, 28000, 3100); /* after 28 s: the radio woke */
  assert_true(ni_lat_worst_after(&l, 500) == 3100);
  assert_true(ni_lat_worst_after(&l, 20000) == 3100);
  /* Nothing known after 30 s and more. */
  assert_true(ni_lat_worst_after(&l, 120000) == NI_TIME_NEVER);
  assert_true(ni_lat_deadline(&l, 120000, 2, 1000, 3000, 15000) == 15000);
  ni_lat_add(&l, 45000, 3300);
  assert_true(ni_lat_worst_after(&l, 120000) == 3300);
  assert_true(ni_lat_deadline(&l, 120000, 2, 1000, 3000, 15000) == 7600);
  assert_int_equal(ni_lat_count(&l, 120000), 1);
  assert_int_equal(ni_lat_count(&l, 0), 7);
  /* Short silences: every sample counts. */
  assert_true(ni_lat_deadline(&l, 50, 2, 1000, 3000, 15000) == 7600);
}

/* Old samples are forgotten; a value of NI_TIME_NEVER is no sample; a huge
 * sample saturates at the cap. */
static void test_window_and_bounds(void **state) {
  (void)state;
  ni_lat l;
  ni_lat_init(&l);
  ni_lat_add(&l, 60000, 9000);
  for (int i = 0; i < NI_LAT_SAMPLES; i++)
    ni_lat_add(&l, 60000, 500);
  assert_true(ni_lat_worst_after(&l, 60000) == 500);
  ni_lat_add(&l, 60000, NI_TIME_NEVER);
  assert_int_equal(ni_lat_count(&l, 0), NI_LAT_SAMPLES);
  ni_lat_add(&l, 60000, NI_TIME_NEVER - 5);
  assert_true(ni_lat_deadline(&l, 60000, 4, 1000, 3000, 15000) == 15000);
  assert_true(ni_lat_deadline(&l, 60000, 0, 0, 3000, NI_TIME_NEVER) == 3000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_after_silence),
      cmocka_unit_test(test_window_and_bounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
