/* Small command-line helpers shared by the natidle subcommands. */
#ifndef NATIDLE_CLIUTIL_H
#define NATIDLE_CLIUTIL_H

#include "common/num.h"

/* Print "natidle CMD: <message>" on stderr as one line. */
void ni__cli_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Format seconds for people: "37.2 s", "4 m 05 s", "2 h 04 m".  Returns buf. */
char *ni__fmt_duration(double s, char *buf, unsigned long len);

#endif
