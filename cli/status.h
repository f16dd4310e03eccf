/* Progress output of `natidle probe` on stderr (cli/status.c): a live
 * status line redrawn in place on a terminal, one log line per event on a
 * pipe or file, nothing with --quiet. */
#ifndef NATIDLE_CLI_STATUS_H
#define NATIDLE_CLI_STATUS_H

#include <stdio.h>

#include "natidle/common.h"
#include "probe/prober.h"

enum { NI_STATUS_QUIET, NI_STATUS_LOG, NI_STATUS_TTY };

typedef struct ni_status {
  int mode; /* NI_STATUS_* */
  int verbose;
  FILE *f;         /* stderr */
  ni_ms t0;        /* start of the run, for the elapsed time */
  ni_ms last_draw; /* when the live line was last drawn */
  int shown;       /* a live line is on screen and must be erased first */
} ni_status;

/* Choose the mode: quiet, else a live line on a terminal, else log lines. */
void ni__status_init(ni_status *st, FILE *f, int quiet, int verbose, ni_ms now);

/* How often the live line wants a new view (ms): 0 unless it is drawn. */
unsigned ni__status_every_ms(const ni_status *st);

/* One event.  level 0: always shown (unless quiet); 1: shown as a log line,
 * and on a terminal only with --verbose; 2: only with --verbose. */
void ni__status_event(ni_status *st, ni_ms now, int level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    /* Lets the compiler check the format string against its arguments. */
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Redraw the live line on a terminal, at most four times a second unless
 * force is set.  Does nothing in the other modes. */
void ni__status_draw(ni_status *st, ni_ms now, const ni_status_view *v, int force);

/* Erase the live line (before the final output). */
void ni__status_clear(ni_status *st);

#endif
