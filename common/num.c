/* Bounded number parsing, sorting and medians (see num.h). */
#include "common/num.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "natidle/common.h"

int ni__parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out) {
  if (!s || !isdigit((unsigned char)s[0])) return NI_EUSAGE;
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max) return NI_EUSAGE;
  *out = (unsigned long)v;
  return 0;
}

int ni__parse_seconds(const char *s, double min, double max, double *out) {
  if (!s || !(isdigit((unsigned char)s[0]) || s[0] == '.')) return NI_EUSAGE;
  errno = 0;
  char *end = NULL;
  double v = strtod(s, &end);
  if (errno != 0 || end == s || !isfinite(v)) return NI_EUSAGE;
  if (*end == 's')
    end++;
  else if (*end == 'm')
    v *= 60, end++;
  else if (*end == 'h')
    v *= 3600, end++;
  if (*end != '\0' || !isfinite(v) || v < min || v > max) return NI_EUSAGE;
  *out = v;
  return 0;
}

int ni__cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double ni__sort_median(double *v, size_t n) {
  if (!n) return NAN;
  qsort(v, n, sizeof v[0], ni__cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
