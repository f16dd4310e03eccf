/*
 * common/num.h - bounded number parsing (strtonum style) for command lines
 * and the files natidle reads back.  libc only.
 */
#ifndef NATIDLE_COMMON_NUM_H
#define NATIDLE_COMMON_NUM_H

/* Parse a whole decimal integer in [min, max]: digits only (no sign, no
 * space), no trailing junk, no overflow.  Returns 0 or NI_EUSAGE. */
int ni__parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/* Parse a duration in seconds in [min, max]: a decimal number ("37.5"),
 * optionally with a unit suffix s, m or h ("90s", "5m", "2h").  Rejects NaN,
 * infinities, negative values and trailing junk.  Returns 0 or NI_EUSAGE. */
int ni__parse_seconds(const char *s, double min, double max, double *out);

#endif
