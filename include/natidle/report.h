/*
 * natidle/report.h - reading natidle's result CSVs back and turning them into
 * a per-network table, survival plots (SVG) and a self-contained HTML page.
 *
 * A report is a collection of loaded files: summary CSVs (one row per run
 * and direction), observations CSVs (one row per check) and keepalive logs
 * (one row per event of a push session), told apart by their columns
 * (docs/CSV.md).  Nothing here touches a socket or a clock.
 * Durations are seconds as doubles; NAN stands for "empty / unknown".
 */
#ifndef NATIDLE_REPORT_H
#define NATIDLE_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "natidle/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One run (and direction) as read from a summary CSV. */
/* The probe's verdicts a report counts (ni_verdicts, natidle/csv.h):
 * measured, above_max, masked_by_server, inconclusive, no_push. */
#define NI_REPORT_NVERDICTS 5

typedef struct ni_run_summary {
  const char *run_id, *network, *server, *tls, *direction, *verdict;
  unsigned port;
  double lower_s, upper_s, estimate_s; /* NAN when empty (upper_s: above_max) */
  double wall_s, server_keepalive_s, recommended_keepalive_s; /* NAN when empty */
  long observations;                                          /* -1 when empty */
  /* The bracket in the NAT's terms and its basis ("capture", "client_rtt";
   * docs/CSV.md), and the round trip it was widened by: NAN and "" in
   * summaries written before these columns existed. */
  double nat_lower_s, nat_upper_s, path_rtt_ms;
  const char *bracket_basis;
  const char *source; /* file it came from */
  size_t line;        /* its line there */
} ni_run_summary;

/* How the bracket of a merged row was chosen. */
enum ni_bracket_kind {
  NI_BRACKET_NONE = 0,         /* no run gave a usable bracket */
  NI_BRACKET_INTERSECTION = 1, /* runs agree: largest lower, smallest upper */
  NI_BRACKET_NARROWEST = 2     /* runs disagree: the narrowest single bracket */
};

/* One merged row: all runs of one (network, server, port, tls, direction). */
typedef struct ni_net_row {
  const char *network, *server, *tls, *direction;
  unsigned port;
  size_t runs;                               /* summary rows merged */
  size_t estimates;                          /* of which had an estimate */
  double est_min_s, est_median_s, est_max_s; /* NAN when estimates == 0 */
  double lower_s, upper_s;                   /* the bracket (lower, upper]; upper NAN = open */
  enum ni_bracket_kind bracket;
  double recommended_s;                 /* the smallest recommendation, NAN if none */
  double server_keepalive_s;            /* the smallest server keepalive seen, NAN if none */
  size_t verdicts[NI_REPORT_NVERDICTS]; /* count per verdict, in ni_verdicts order */
} ni_net_row;

typedef struct ni_report ni_report;

/* A new, empty report; NULL when out of memory. */
NI_API ni_report *ni_report_new(void);

/* Free the report and everything loaded into it.  NULL is a no-op. */
NI_API void ni_report_free(ni_report *rep);

/* The kinds of file ni_report_load() knows. */
enum ni_report_file { NI_REPORT_SUMMARY = 1, NI_REPORT_OBSERVATIONS = 2, NI_REPORT_KALOG = 3 };

/* Load the CSV at `path`, a summary, an observations file or a keepalive
 * log (told apart by their columns; `*kind` gets which when not NULL).
 * Returns 0; NI_ECSV for malformed or unknown content, with "path:line:
 * what" in errbuf; -errno when the file cannot be read (message in errbuf
 * too); -ENOMEM.  A last row cut short (no line end: its writer was killed
 * mid-row, see ni_csv_reader_cut_short) is left out and the load succeeds;
 * errbuf then holds a one-line warning naming the file and the line, else
 * "" on success. */
NI_API int ni_report_load(ni_report *rep, const char *path, enum ni_report_file *kind, char *errbuf,
                          size_t errlen);

/* The summary rows loaded so far, in load order. */
NI_API size_t ni_report_nruns(const ni_report *rep);
NI_API const ni_run_summary *ni_report_run(const ni_report *rep, size_t i);

/* The merged rows, one per (network, server, port, tls, direction), in
 * order of first appearance.  Estimates: min/median/max over the runs that
 * have one (median of an even count: mean of the middle two).  Bracket: over
 * the runs with verdict measured or above_max (masked_by_server and
 * inconclusive runs bound nothing), the intersection of their brackets when
 * it is non-empty, else the narrowest single measured bracket.  Recommended
 * keepalive: the smallest of the runs' recommendations, the most
 * conservative; masked_by_server runs recommend none (the server's own
 * keepalive holds the mapping: a client cadence beside it only adds
 * wakeups), so a row of masked runs alone has none.  Computed on demand;
 * pointers stay valid until the next ni_report_load() or ni_report_free(). */
NI_API size_t ni_report_nrows(ni_report *rep);
NI_API const ni_net_row *ni_report_row(ni_report *rep, size_t i);

/* Print the merged rows as a table aligned in columns, for a terminal.
 * Returns 0 or -errno of the failed write. */
NI_API int ni_report_write_table(ni_report *rep, FILE *out);

/* Columns of the merged CSV (docs/CSV.md). */
#define NI_MERGED_NCOLS 15
NI_API extern const char *const ni_merged_columns[NI_MERGED_NCOLS];

/* Write the merged rows as CSV with a header row.  Returns 0 or -errno. */
NI_API int ni_report_write_csv(ni_report *rep, FILE *out);

/* ---- Survival plots ------------------------------------------------------ */

/* Observations are grouped into plots, one per (file, run, direction). */
NI_API size_t ni_report_nplots(const ni_report *rep);

/* Run id, direction and number of checks of plot `i`; 0, or NI_EUSAGE when
 * `i` is out of range.  Any out pointer may be NULL. */
NI_API int ni_report_plot_info(const ni_report *rep, size_t i, const char **run_id,
                               const char **direction, size_t *checks);

/* The plot for `run_id` (NULL: the run loaded last) and `direction` (NULL:
 * the direction of that run with the most checks).  Returns its index, or -1
 * when there is no such plot. */
NI_API long ni_report_find_plot(const ni_report *rep, const char *run_id, const char *direction);

/* Draw plot `i` as SVG 1.1: silence (s) on x, one row per probe session,
 * each check an alive (green dot), dead (red cross) or other (grey ring)
 * mark; the bracket shaded; the estimate and the recommended keepalive as
 * labelled vertical lines.  The bracket, estimate and recommendation come
 * from a loaded summary row of the same run and direction; without one the
 * bracket is computed from the checks and the lines are left out.
 * `standalone` adds the XML declaration (a .svg file); 0 gives an <svg>
 * element to inline in HTML.  Returns 0, NI_EUSAGE for a bad index, or
 * -errno of the failed write. */
NI_API int ni_report_write_svg(const ni_report *rep, size_t i, FILE *out, int standalone);

/* ---- Timeout per network ------------------------------------------------- */

/* Draw every merged row (ni_report_row) on one chart, SVG 1.1, from the
 * summary rows alone: one row per network, server, port/TLS and direction,
 * silence on a logarithmic x axis from 1 s (10 s when every value is at
 * least 10 s) to at least an hour.  A row with a bracket is a bar from lower
 * to upper; an open bracket (above_max) a pale bar from lower to the right
 * edge, ending in an arrow; a row with only masked_by_server runs a mark at
 * the largest lower bound of those runs; the server keepalive a grey dashed
 * mark; the median estimate a blue tick; the recommended keepalive a purple
 * diamond.  Rows whose runs were all inconclusive or no_push are listed
 * with their verdicts but not drawn.  Dashed vertical lines mark the
 * keepalive cadences mail clients commonly use: 2, 9, 15, 24 and 29 min.
 * The output depends only on the loaded rows (no time, no file names), so
 * the same input gives the same bytes.  `standalone` as for
 * ni_report_write_svg.  Returns 0, NI_EUSAGE when no summary row is loaded,
 * -ENOMEM, or -EIO when a write failed. */
NI_API int ni_report_write_network_chart(ni_report *rep, FILE *out, int standalone);

/* ---- Keepalive logs ------------------------------------------------------ */

/* Everything the loaded keepalive logs say about one (network, account).
 * A run is what one natidle process wrote: it begins at a `start` row (in
 * logs without start rows: at a new file, or where the byte counters fall
 * back, as they do when a new process starts) and ends at its `stop` row,
 * or at its last row when the process was killed.  Per-day figures are over
 * the time the runs covered, gaps between runs left out. */
typedef struct ni_kalog_summary {
  const char *network; /* "" in logs without a network column */
  const char *account;
  size_t rows;              /* log rows of this network and account */
  size_t runs;              /* processes that wrote them */
  double first_at, last_at; /* first and last row, seconds since 1970 UTC */
  double covered_s;         /* sum over the runs of last row - first row */
  size_t keepalives, answered, unanswered;
  double keepalives_per_day;     /* NAN when covered_s is 0 */
  double answered_share;         /* answered / keepalives; NAN without keepalives */
  size_t reconnects;             /* connections lost (`lost` rows) */
  const char *reconnect_reasons; /* "timedout:2 closed:1": why, by count */
  size_t connect_failures;       /* connection attempts that failed */
  size_t pushed, fetched, late;  /* messages, by how they came */
  size_t delays;                 /* messages with a known push delay */
  double delay_median_s, delay_p95_s, delay_max_s; /* NAN when delays == 0 */
  long long wakeups;                               /* radio wakeups; -1 unknown (older logs) */
  double wakeups_per_day;                          /* NAN when unknown */
  double cadence_start_s, cadence_end_s;           /* the first and last cadence */
  const char *phase_end;                           /* "steady", "probing", or "" when unknown */
  double lower_s, upper_s;                         /* the learned bracket at the end; NAN unknown */
  double current_ma;                               /* ni_radio_current_ma of the wakeup rate */
  double charge_mah_per_day;                       /* current_ma x 24 h; NAN when unknown */
} ni_kalog_summary;

/* The keepalive summaries, one per (network, account) of the loaded logs,
 * in order of first appearance.  Computed on demand; pointers stay valid
 * until the next ni_report_load() or ni_report_free().  Cadence: the
 * `cadence_s` of the first and last `start` or `cadence` row; in logs
 * without them, the silence of the first and last answered keepalive.
 * Push delay: median (an even count: mean of the middle two), 95th
 * percentile (nearest rank: the ceil(0.95 n)-th smallest) and maximum of the
 * messages' delay_ms.  Wakeups: the last `wakeups` of each run, summed
 * (unknown when any run lacks the column).  Charge per day: the cost model
 * below at the mean interval between wakeups (between keepalives when the
 * wakeups are unknown). */
NI_API size_t ni_report_nkalogs(ni_report *rep);
NI_API const ni_kalog_summary *ni_report_kalog(ni_report *rep, size_t i);

/* The summary of `network` and `account` (NULL: any) with the most rows;
 * its index, or -1 when none matches. */
NI_API long ni_report_find_kalog(ni_report *rep, const char *network, const char *account);

/* Print the keepalive summaries as a table aligned in columns, for a
 * terminal.  Returns 0 or -errno of the failed write. */
NI_API int ni_report_write_kalog_table(ni_report *rep, FILE *out);

/* Columns of the keepalive summary CSV (docs/CSV.md). */
#define NI_KALOG_SUMMARY_NCOLS 29
NI_API extern const char *const ni_kalog_summary_columns[NI_KALOG_SUMMARY_NCOLS];

/* Write the keepalive summaries as CSV with a header row.  Returns 0 or
 * -errno. */
NI_API int ni_report_write_kalog_csv(ni_report *rep, FILE *out);

/* Draw the timeline of keepalive summary `i` as SVG 1.1: time (UTC) on x;
 * above, the silence before each keepalive (answered: green dot,
 * unanswered: red cross), the learned bracket as a band and the cadence as
 * a step line, lost connections as red dashed lines; below, each message at
 * its push delay (pushed, fetched, late).  When a loaded summary CSV has a
 * recommendation for the same network, the probe's recommended keepalive is
 * a horizontal line.  `standalone` as for ni_report_write_svg.  Returns 0,
 * NI_EUSAGE for a bad index, or -errno of the failed write. */
NI_API int ni_report_write_timeline(ni_report *rep, size_t i, FILE *out, int standalone);

/* ---- Cost of a keepalive cadence ------------------------------------------ */

/* Average current (mA) of a 3G phone sending a keepalive every `interval_s`
 * seconds, from Haverinen et al., "Energy consumption of always-on
 * applications in WCDMA networks", IEEE VTC 2007-Spring: 20 s -> 34 mA,
 * 40 s -> 24 mA, 150 s -> 16 mA, 300 s -> 14 mA, none -> 6.1 mA.  Between
 * and beyond those points the current is interpolated linearly in the
 * keepalive rate 1/interval (so above 300 s the excess over idle falls as
 * 1/interval, anchored at the 300 s point; below 20 s the 20-40 s slope is
 * extended).  interval_s <= 0 or infinite means no keepalive: 6.1 mA. */
NI_API double ni_radio_current_ma(double interval_s);

/* Share of the time (0..1) a keepalive every `interval_s` leaves push broken
 * on a NAT with idle timeout `timeout_s`: (I - T) / I when I > T, else 0.
 * NAN when the timeout is unknown (NAN). */
NI_API double ni_push_broken_share(double interval_s, double timeout_s);

/* ---- HTML page --------------------------------------------------------- */

/* Write one self-contained HTML page (inline CSS and SVG, no script, no
 * external assets): the merged per-network table, a cost table per network
 * with a timeout (wakeups per day, radio current and charge, share of time
 * push is broken, for the recommended cadence and for fixed cadences of 2,
 * 15, 24 and 29 min), every survival plot (without an observations CSV:
 * the chart of ni_report_write_network_chart instead, after the table),
 * and, for keepalive logs, their summary table and per network the probe's
 * recommended cadence against the cadence each keepalive run settled on,
 * with what each cost, and each run's timeline.  Returns 0 or -errno. */
NI_API int ni_report_write_html(ni_report *rep, FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* NATIDLE_REPORT_H */
