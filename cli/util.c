/* Bounded number parsing and one-line error output for the subcommands. */
#include "cli/util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "natidle/common.h"

int ni_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out) {
  if (!s || !isdigit((unsigned char)s[0]))
    return NI_EUSAGE;
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max)
    return NI_EUSAGE;
  *out = (unsigned long)v;
  return 0;
}

int ni_parse_seconds(const char *s, double min, double max, double *out) {
  if (!s || !(isdigit((unsigned char)s[0]) || s[0] == '.'))
    return NI_EUSAGE;
  errno = 0;
  char *end = NULL;
  double v = strtod(s, &end);
  if (errno != 0 || end == s || !isfinite(v))
    return NI_EUSAGE;
  if (*end == 's')
    end++;
  else if (*end == 'm')
    v *= 60, end++;
  else if (*end == 'h')
    v *= 3600, end++;
  if (*end != '\0' || !isfinite(v) || v < min || v > max)
    return NI_EUSAGE;
  *out = v;
  return 0;
}

void ni_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "natidle %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "; try 'natidle help %s'\n", cmd);
  va_end(ap);
}

void ni_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "natidle %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

char *ni_fmt_duration(double s, char *buf, unsigned long len) {
  if (!isfinite(s) || s < 0)
    snprintf(buf, len, "?");
  else if (s < 60)
    snprintf(buf, len, "%.1f s", s);
  else if (s < 3600)
    snprintf(buf, len, "%d m %02d s", (int)(s / 60), (int)fmod(s, 60));
  else
    snprintf(buf, len, "%d h %02d m", (int)(s / 3600), (int)fmod(s / 60, 60));
  return buf;
}
