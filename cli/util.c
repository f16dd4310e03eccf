/* One-line error output and duration formatting for the subcommands. */
#include "cli/util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "natidle/common.h"

void ni__cli_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "natidle %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

char *ni__fmt_duration(double s, char *buf, unsigned long len) {
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
