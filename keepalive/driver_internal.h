/*
 * Pure helpers of the push driver (keepalive/driver.c), exposed to the unit
 * tests in tests/test_push.c.  None of them does I/O or reads a clock.
 */
#ifndef NATIDLE_DRIVER_INTERNAL_H
#define NATIDLE_DRIVER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "natidle/common.h"

/*
 * Copy the value of header field `name` (case-insensitive, without the
 * colon) from the header block hdr[0..n) into out[0..outlen), unfolding
 * continuation lines into single spaces and trimming white space at both
 * ends.  Control characters in the value become '?', so the result is safe
 * to print on one line.  Returns the length written (the value is cut to
 * outlen - 1 bytes), or -1 when the field is absent (out is then "").
 * outlen must be at least 1.
 */
int ni__header_field(const char *hdr, size_t n, const char *name, char *out, size_t outlen);

/*
 * Find INTERNALDATE "dd-Mon-yyyy hh:mm:ss +zzzz" (RFC 3501 date-time) in a
 * raw FETCH response and return it as Unix seconds, or -1 when it is absent
 * or malformed.
 */
int64_t ni__internaldate(const char *raw, size_t n);

/*
 * The delay before reconnect attempt `attempt` (0 for the first retry):
 * min_ms * 2^attempt, capped at max_ms, then "equal jitter": a uniformly
 * random value in [d/2, d].  *rng is a xorshift64 state (never 0), advanced
 * by the call.  The result is always in [min_ms / 2, max_ms].
 */
ni_ms ni__backoff_ms(unsigned attempt, ni_ms min_ms, ni_ms max_ms, uint64_t *rng);


#endif
