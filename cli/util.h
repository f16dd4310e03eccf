/* Small command-line helpers shared by the natidle subcommands. */
#ifndef NATIDLE_CLIUTIL_H
#define NATIDLE_CLIUTIL_H

/*
 * Parse a whole decimal integer in [min, max] (strtonum style: no sign
 * surprises, no trailing junk, no overflow).  Returns 0 or NI_EUSAGE.
 */
int ni_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/*
 * Parse a duration in seconds in [min, max]: a decimal number ("37.5"),
 * optionally with a unit suffix s, m or h ("90s", "5m", "2h").  Rejects NaN,
 * infinities, negative values and trailing junk.  Returns 0 or NI_EUSAGE.
 */
int ni_parse_seconds(const char *s, double min, double max, double *out);

/*
 * Print "natidle CMD: <message>; try 'natidle help CMD'" on stderr as one line.
 */
void ni_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    /* Lets the compiler check the format string against its arguments. */
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Print "natidle CMD: <message>" on stderr as one line. */
void ni_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Format seconds for people: "37.2 s", "4 m 05 s", "2 h 04 m".  Returns buf. */
char *ni_fmt_duration(double s, char *buf, unsigned long len);

#endif
