/*
 * common/num.h - bounded number parsing (strtonum style) for command lines
 * and the files natidle reads back, and the sorting and median of a set of
 * measured values.  libc only.
 */
#ifndef NATIDLE_COMMON_NUM_H
#define NATIDLE_COMMON_NUM_H

#include <stddef.h>

/* Parse a whole decimal integer in [min, max]: digits only (no sign, no
 * space), no trailing junk, no overflow.  Returns 0 or NI_EUSAGE. */
int ni__parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/* Parse a duration in seconds in [min, max]: a decimal number ("37.5"),
 * optionally with a unit suffix s, m or h ("90s", "5m", "2h").  Rejects NaN,
 * infinities, negative values and trailing junk.  Returns 0 or NI_EUSAGE. */
int ni__parse_seconds(const char *s, double min, double max, double *out);

/* qsort comparator: doubles in ascending order (NaN-free input). */
int ni__cmp_double(const void *a, const void *b);

/* Sort v[0..n-1] ascending in place (NaN-free) and return its median: the
 * middle value, or the mean of the two middle ones for an even n; NAN when
 * n is 0. */
double ni__sort_median(double *v, size_t n);

#endif
