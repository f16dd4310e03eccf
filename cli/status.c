/*
 * Progress output of `natidle probe` on stderr: a live status line redrawn
 * in place on a terminal, one log line per event on a pipe or file, nothing
 * with --quiet.  Stdout is left to the result line so scripts can read it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/status.h"
#include "cli/util.h"

/* The live line is redrawn at most this often: fast enough to look alive,
 * slow enough not to flood a slow terminal (or a serial console). */
#define DRAW_EVERY_MS 250

void ni__status_init(ni_status *st, FILE *f, int quiet, int verbose, ni_ms now) {
  memset(st, 0, sizeof *st);
  st->f = f;
  st->verbose = verbose;
  st->t0 = now;
  if (quiet)
    st->mode = NI_STATUS_QUIET;
  else if (isatty(fileno(f)))
    st->mode = NI_STATUS_TTY;
  else
    st->mode = NI_STATUS_LOG;
}

unsigned ni__status_every_ms(const ni_status *st) {
  return st->mode == NI_STATUS_TTY ? DRAW_EVERY_MS : 0;
}

void ni__status_clear(ni_status *st) {
  if (st->mode == NI_STATUS_TTY && st->shown) {
    /* Carriage return, then erase to the end of the line. */
    fputs("\r\033[K", st->f);
    fflush(st->f);
    st->shown = 0;
  }
}

void ni__status_event(ni_status *st, ni_ms now, int level, const char *fmt, ...) {
  if (st->mode == NI_STATUS_QUIET) return;
  if (level >= 2 && !st->verbose) return;
  if (level == 1 && st->mode == NI_STATUS_TTY && !st->verbose) return;
  ni__status_clear(st);
  double t = now >= st->t0 ? (double)(now - st->t0) / 1000.0 : 0.0;
  fprintf(st->f, "[%7.1f s] ", t);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(st->f, fmt, ap);
  va_end(ap);
  fputc('\n', st->f);
  fflush(st->f);
  /* Let the live line come back at once rather than after the rate limit. */
  st->last_draw = 0;
}

void ni__status_draw(ni_status *st, ni_ms now, const ni_status_view *v, int force) {
  if (st->mode != NI_STATUS_TTY) return;
  if (!force && st->last_draw && now - st->last_draw < DRAW_EVERY_MS) return;
  st->last_draw = now;
  char el[32], lo[32], hi[32], nx[32], eta[32];
  ni__fmt_duration(now >= st->t0 ? (double)(now - st->t0) / 1000.0 : 0.0, el, sizeof el);
  ni__fmt_duration(v->lower_s, lo, sizeof lo);
  if (v->upper_s < 0)
    snprintf(hi, sizeof hi, "?");
  else
    ni__fmt_duration(v->upper_s, hi, sizeof hi);
  if (v->next_check_s < 0)
    snprintf(nx, sizeof nx, "-");
  else
    ni__fmt_duration(v->next_check_s, nx, sizeof nx);
  if (v->eta_s < 0)
    snprintf(eta, sizeof eta, "?");
  else
    ni__fmt_duration(v->eta_s, eta, sizeof eta);
  char line[256];
  snprintf(line, sizeof line,
           "%s  bracket (%s, %s]  next check %s  ~%s left  %u checks  sessions %u armed "
           "%u checking %u reconnecting %u parked",
           el, lo, hi, nx, eta, v->checks, v->armed, v->checking, v->reconnecting, v->parked);
  /* A line wider than the terminal would wrap, and "\r" plus erase-line
   * only clears the last row of it: cut it to the width. */
  struct winsize ws;
  if (ioctl(fileno(st->f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 && ws.ws_col < sizeof line)
    line[ws.ws_col - 1] = '\0';
  fprintf(st->f, "\r\033[K%s", line);
  fflush(st->f);
  st->shown = 1;
}
