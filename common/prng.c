/* xorshift64 (see prng.h). */
#include "common/prng.h"

uint64_t ni__prng_next(uint64_t *state) {
  uint64_t x = *state ? *state : 0x9e3779b97f4a7c15u;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *state = x;
  return x;
}
