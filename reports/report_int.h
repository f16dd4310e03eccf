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

/* The events of a keepalive log, in ni_kalog_events order. */
enum ni__ka_event {
  NI__KA_START,
  NI__KA_CONNECT,
  NI__KA_LOST,
  NI__KA_KEEPALIVE,
  NI__KA_MESSAGE,
  NI__KA_CADENCE,
  NI__KA_STOP
};

/* One row of a keepalive log.  Strings live in the report's arena; every
 * number is NAN when its field is empty or its column absent. */
typedef struct ni__karow {
  double t;    /* `at`, seconds since 1970 UTC */
  size_t log;  /* index into ni_report.kalogs: its (network, account) */
  size_t file; /* index into ni_report.files */
  enum ni__ka_event event;
  const char *outcome;
  double interval_s, delay_s, lower_s, upper_s, cadence_s;
  double wakeups, bytes_out;
} ni__karow;

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
  ni__karow *ka; /* keepalive log rows, in load order */
  size_t nka, ka_cap;
  ni_kalog_summary *kalogs; /* one per (network, account); stats when fresh */
  size_t nkalogs, kalogs_cap;
  int kalogs_stale;
};

/* Loading context: the reader, and where to put the message. */
typedef struct ni__loadctx {
  ni_report *rep;
  ni_csv_reader *r;
  const char *path;
  char *errbuf;
  size_t errlen;
} ni__loadctx;

/* Copy `s` into the report's arena; NULL when out of memory. */
const char *ni__arena_dup(ni_report *rep, const char *s);

/* Put "path:line: message" in the context's errbuf; returns NI_ECSV. */
int ni__load_fail(ni__loadctx *c, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Column `col` of the current row as seconds: empty or absent gives NAN,
 * else a finite value in [0, 1e9].  0 or NI_ECSV. */
int ni__load_seconds(ni__loadctx *c, const char *col, double *out);

/* Column `col` as a whole number up to `max`; empty is an error.  0 or
 * NI_ECSV. */
int ni__load_uint(ni__loadctx *c, const char *col, unsigned long max, unsigned long *out);

/* Column `col` copied into the arena ("" when absent).  0 or -ENOMEM. */
int ni__load_str(ni__loadctx *c, const char *col, const char **out);

/* 1 when the reader's header is a keepalive log's (kalog.c). */
int ni__is_kalog(const ni_csv_reader *r);

/* Check that a keepalive log has the columns it needs.  0 or NI_ECSV. */
int ni__kalog_columns(ni__loadctx *c);

/* Load the current row of a keepalive log.  0, NI_ECSV or -ENOMEM. */
int ni__load_kalog_row(ni__loadctx *c);

/* The plots' colours. */
#define NI__C_ALIVE "#1a9850"
#define NI__C_DEAD "#d73027"
#define NI__C_OTHER "#888888"
#define NI__C_BRACKET "#f6c343"
#define NI__C_ESTIMATE "#2c5fb3"
#define NI__C_KEEPALIVE "#7b3294"

/* A step of 1, 2 or 5 times a power of ten, near raw. */
double ni__nice_step(double raw);

/* The opening of a plot: the XML declaration when `standalone`, the <svg>
 * element of w x h px, its <title> "WHAT: NAME SEP DETAIL" (NAME and DETAIL
 * escaped, WHAT and SEP written as they are) and a white background. */
void ni__svg_begin(FILE *out, double w, double h, int standalone, const char *what,
                   const char *name, const char *sep, const char *detail);

/* Marks shared by the plots: an alive (filled green dot), dead (red cross)
 * or other (grey ring) mark centred at (x, y), with `title` (escaped) as
 * its tooltip when not NULL. */
enum ni__mark { NI__MARK_ALIVE, NI__MARK_DEAD, NI__MARK_OTHER };
void ni__svg_mark(FILE *out, enum ni__mark kind, double x, double y, const char *title);

/* One legend entry: a mark, then its label (escaped) to the right. */
void ni__svg_legend_mark(FILE *out, enum ni__mark kind, double x, double y, const char *label);

/* One legend entry drawn as a short line: colour, an optional dash
 * attribute (" stroke-dasharray=..." or ""), and its label. */
void ni__svg_legend_line(FILE *out, double x, double y, const char *color, const char *dash,
                         const char *label);

/* Print rows as a table aligned in columns: `head` names the `ncols`
 * columns (at most NI__TABLE_MAXCOLS), `fill` writes the cells of row i.
 * Control characters in cells are shown as '?'.  `none` is printed when
 * there is no row.  0, or -EIO when a write failed. */
enum { NI__TABLE_MAXCOLS = 12, NI__TABLE_CELL = 512 };
typedef void (*ni__fill_row)(void *ctx, size_t i, char cells[][NI__TABLE_CELL]);
int ni__write_aligned(FILE *out, const char *const *head, int ncols, size_t nrows,
                      ni__fill_row fill, void *ctx, const char *none);

/* The keepalive summary table, as the terminal and the HTML page show it:
 * its column heads, and the cells of summary i (ctx: the ni_report, whose
 * summaries are fresh). */
enum { NI__KALOG_TCOLS = 12 };
extern const char *const ni__kalog_head[NI__KALOG_TCOLS];
void ni__kalog_cells(void *ctx, size_t i, char cells[][NI__TABLE_CELL]);

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
