/*
 * common/prng.h - the one pseudo-random generator of the tree: xorshift64
 * (Marsaglia 2003).  Tiny and deterministic from its seed, which is what the
 * scheduler (no hidden randomness: the caller injects the seed), the
 * simulators and the tests need.  Not for secrets.  libc only.
 */
#ifndef NATIDLE_COMMON_PRNG_H
#define NATIDLE_COMMON_PRNG_H

#include <stdint.h>

/* One step: returns the next value and stores it in *state.  A zero state
 * (xorshift's one fixed point) is replaced by a fixed odd constant, so the
 * generator never gets stuck. */
uint64_t ni__prng_next(uint64_t *state);

#endif
