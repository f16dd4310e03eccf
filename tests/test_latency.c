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

/* The quantiles by nearest rank, over the samples after a comparable
 * silence only. */
static void test_quantiles(void **state) {
  (void)state;
  ni_lat l;
  ni_lat_init(&l);
  assert_true(ni_lat_quantile_after(&l, 0, 90) == NI_TIME_NEVER);
  for (unsigned v = 1; v <= 10; v++)
    ni_lat_add(&l, 20000, v * 100);
  ni_lat_add(&l, 100, 9999); /* after a short silence: not for 20 s */
  assert_true(ni_lat_quantile_after(&l, 20000, 50) == 500);
  assert_true(ni_lat_quantile_after(&l, 20000, 90) == 900);
  assert_true(ni_lat_quantile_after(&l, 20000, 100) == 1000);
  assert_true(ni_lat_quantile_after(&l, 20000, 0) == 100);
  assert_true(ni_lat_quantile_after(&l, 0, 100) == 9999);
}

/* A path whose push delays agree (a long but steady round trip) gets a
 * deadline just above them plus what the caller adds for a retransmission,
 * not a multiple of the worst; one that scatters gets room in proportion to
 * the scatter. */
static void test_deadline_dist(void **state) {
  (void)state;
  ni_lat l;
  ni_lat_init(&l);
  assert_true(ni_lat_deadline_dist(&l, 5000, 2, 500, 1000, 20000) == 20000);
  for (unsigned i = 0; i < 5; i++)
    ni_lat_add(&l, 8000, 500 + i); /* 500..504 ms */
  /* hi 504, median 502: 504 + 2 x 2 + 500 */
  assert_true(ni_lat_deadline_dist(&l, 8000, 2, 500, 1000, 20000) == 1008);
  assert_true(ni_lat_deadline_dist(&l, 8000, 2, 100, 1000, 20000) == 1000); /* the floor */
  ni_lat_init(&l);
  ni_lat_add(&l, 8000, 500);
  ni_lat_add(&l, 8000, 600);
  ni_lat_add(&l, 8000, 2500); /* a radio that woke */
  /* hi 2500, median 600: 2500 + 2 x 1900 + 300 */
  assert_true(ni_lat_deadline_dist(&l, 8000, 2, 300, 1000, 20000) == 6600);
  assert_true(ni_lat_deadline_dist(&l, 8000, 2, 300, 1000, 5000) == 5000); /* the cap */
  /* Saturating. */
  ni_lat_add(&l, 8000, NI_TIME_NEVER - 5);
  ni_lat_add(&l, 8000, NI_TIME_NEVER - 5);
  assert_true(ni_lat_deadline_dist(&l, 8000, 4, 1000, 1000, NI_TIME_NEVER) == NI_TIME_NEVER);
  /* The retransmission timeout: srtt + max(200 ms, srtt / 2). */
  assert_true(ni_lat_rto(0) == 200);
  assert_true(ni_lat_rto(300) == 500);
  assert_true(ni_lat_rto(600) == 900);
  assert_true(ni_lat_rto(NI_TIME_NEVER - 1) == NI_TIME_NEVER);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_after_silence),
      cmocka_unit_test(test_window_and_bounds),
      cmocka_unit_test(test_quantiles),
      cmocka_unit_test(test_deadline_dist),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
