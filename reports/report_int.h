/* Internals shared by the report sources (report.c, svg.c, html.c, xml.c).
 * Not installed: the public view is natidle/report.h. */
#ifndef NATIDLE_REPORT_INT_H
#define NATIDLE_REPORT_INT_H

#include <stddef.h>
#include <stdio.h>

#include "natidle/csv.h"
#include "natidle/report.h"

/* One check from an observations CSV.  Strings live in the report's arena. */
typedef struct ni__obs {
  const char *outcome;
  double silence_s, target_s;
  unsigned session;
  size_t plot; /* index into ni_report.plots */
} ni__obs;

/* The checks of one (file, run, direction), drawn as one survival plot. */
typedef struct ni__plot {
  size_t file; /* index into ni_report.files */
  const char *run_id, *network, *server, *tls, *direction;
  unsigned port;
  size_t checks;
} ni__plot;

struct ni__chunk;

struct ni_report {
  struct ni__chunk *arena; /* every string the report holds */
  const char **files;      /* paths loaded, in order */
  size_t nfiles, files_cap;
  ni_run_summary *runs;
  size_t nruns, runs_cap;
  ni__obs *obs;
  size_t nobs, obs_cap;
  ni__plot *plots;
  size_t nplots, plots_cap;
  ni_net_row *rows; /* merged; recomputed when stale */
  size_t nrows;
  int rows_stale;
};

/* Grow `*arr` (of `*cap` elements of `size` bytes) to hold at least `need`;
 * 0 or -ENOMEM. */
int ni__grow(void *arr, size_t *cap, size_t need, size_t size);

/* Write `s` escaped for XML/HTML text and attribute values: & < > " ' as
 * entities; invalid UTF-8, control characters and non-characters as U+FFFD,
 * so any CSV field gives well-formed output. */
void ni__xml_text(FILE *out, const char *s);

/* Format seconds with up to 3 decimals, trailing zeros dropped ("312.5",
 * "60"); `empty` for NAN.  Returns buf. */
const char *ni__fmt_s(char *buf, size_t len, double v, const char *empty);

/* ni_csv_reader_open(), except that with `keep` a malformed header returns
 * the reader in its error state (*err NI_ECSV) so its errstr can be shown;
 * NULL then only for -errno and -ENOMEM. */
ni_csv_reader *ni__csv_reader_open_keep(const char *path, int *err, int keep);

/* The verdict index in ni_verdicts, or -1. */
int ni__verdict_index(const char *v);

/* 1 when `outcome` is one of the dead_* outcomes. */
int ni__outcome_dead(const char *outcome);

/* Summary row of the same run and direction as plot `p`, or NULL. */
const ni_run_summary *ni__plot_summary(const ni_report *rep, const ni__plot *p);

/* The merged row the summary `s` belongs to, or NULL. */
const ni_net_row *ni__row_of(ni_report *rep, const ni_run_summary *s);

#endif /* NATIDLE_REPORT_INT_H */
