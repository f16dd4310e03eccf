/* Tests of the shared generator (common/prng.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/prng.h"
#include "natidle/common.h"

/* A zero state (xorshift's fixed point) does not stick, and the sequence is
 * fixed by the seed. */
static void test_deterministic_never_stuck(void **state) {
  (void)state;
  uint64_t s = 0;
  uint64_t a = ni__prng_next(&s), b = ni__prng_next(&s);
  assert_true(a != 0 && b != 0 && a != b);
  uint64_t s1 = 42, s2 = 42;
  for (int i = 0; i < 100; i++)
    assert_true(ni__prng_next(&s1) == ni__prng_next(&s2));
}

/* Low bits spread evenly enough for "% n" uses (loss, jitter). */
static void test_spread(void **state) {
  (void)state;
  uint64_t s = 1;
  unsigned bins[10] = {0};
  for (int i = 0; i < 100000; i++)
    bins[ni__prng_next(&s) % 10]++;
  for (int i = 0; i < 10; i++)
    assert_true(bins[i] > 9000 && bins[i] < 11000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deterministic_never_stuck),
      cmocka_unit_test(test_spread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
