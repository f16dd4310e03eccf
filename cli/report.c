/* natidle report: merged per-network tables, survival plots, the HTML page. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natidle/common.h"
#include "natidle/report.h"
#include "cli/commands.h"
#include "cli/options.h"

static const char help_report[] =
    "NAME\n"
    "    natidle report - tables, plots and an HTML page from natidle's CSV files\n"
    "\n"
    "SYNOPSIS\n"
    "    natidle report summary FILE... [--csv OUT|-]\n"
    "    natidle report plot OBS.csv --svg FILE [--summary SUMMARY.csv] [--run ID]\n"
    "                        [--direction DIR]\n"
    "    natidle report html FILE... -o REPORT.html\n"
    "    natidle report COMMAND --help\n"
    "\n"
    "DESCRIPTION\n"
    "    Reads the observations CSV (probe --csv) and the summary CSV (probe --summary)\n"
    "    of one or many runs, on one or many networks, and turns them into a merged\n"
    "    per-network table, a survival plot (SVG) or a self-contained HTML page.\n"
    "    The columns of every file are described in docs/CSV.md.\n"
    "\n"
    "OPTIONS\n"
    "    -h, --help  this text; 'natidle report COMMAND --help' for each command.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 done; 1 an output file could not be written; 2 bad command line or a\n"
    "    malformed input file (the message names the file and the line).\n"
    "\n"
    "EXAMPLES\n"
    "    natidle report summary runs/*.csv\n"
    "    natidle report plot obs.csv --summary summary.csv --svg survival.svg\n"
    "    natidle report html summary.csv obs.csv -o report.html\n";

static const char help_summary[] =
    "NAME\n"
    "    natidle report summary - merge the summaries of many runs per network\n"
    "\n"
    "SYNOPSIS\n"
    "    natidle report summary FILE... [--csv OUT|-]\n"
    "\n"
    "DESCRIPTION\n"
    "    Reads summary CSVs (one row per run and direction, as probe --summary\n"
    "    appends them) and prints one row per network, server, port, TLS mode and\n"
    "    direction:\n"
    "      runs        the number of summary rows merged;\n"
    "      estimate    min / median / max of the runs' estimate_s (runs without an\n"
    "                  estimate are left out; the median of an even count is the\n"
    "                  mean of the middle two);\n"
    "      bracket     (lower, upper] in seconds, from the runs whose verdict is\n"
    "                  measured or above_max (masked_by_server and inconclusive runs\n"
    "                  bound nothing): the intersection of their brackets (largest\n"
    "                  lower, smallest upper) when it is not empty, which is what all\n"
    "                  runs together prove; when runs contradict each other (the\n"
    "                  timeout changed between runs) the narrowest single measured\n"
    "                  bracket, marked 'narrowest';\n"
    "      keepalive   the smallest recommended_keepalive_s of the runs: the most\n"
    "                  conservative cadence that was safe in every run;\n"
    "      verdicts    how many runs ended with each verdict.\n"
    "    Rows appear in the order their first run appears in the input.\n"
    "\n"
    "OPTIONS\n"
    "    --csv OUT   write the merged rows as CSV to OUT (replaced if it exists),\n"
    "                or to standard output for '-', instead of the aligned table.\n"
    "                Columns: docs/CSV.md, \"Merged table\".\n"
    "    -h, --help  this text.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 done; 1 the output could not be written; 2 bad command line or a malformed\n"
    "    input file (the message names the file and the line).\n"
    "\n"
    "EXAMPLES\n"
    "    natidle report summary home.csv carrier-a.csv carrier-b.csv\n"
    "    natidle report summary runs/*.csv --csv merged.csv\n";

static const char help_plot[] =
    "NAME\n"
    "    natidle report plot - survival plot of one probe run as SVG\n"
    "\n"
    "SYNOPSIS\n"
    "    natidle report plot OBS.csv --svg FILE [--summary SUMMARY.csv] [--run ID]\n"
    "                        [--direction DIR]\n"
    "\n"
    "DESCRIPTION\n"
    "    Draws every check of one run: the silence before the check (seconds) on x,\n"
    "    one row per probe session on y; a green dot where the push arrived (alive),\n"
    "    a red cross where the mapping was lost (dead_*), a grey ring for refreshed,\n"
    "    aborted and error checks.  The bracket the timeout lies in is shaded; the\n"
    "    estimated timeout and the recommended keepalive are labelled vertical lines.\n"
    "    Those come from the run's row in SUMMARY.csv; without --summary the bracket\n"
    "    is computed from the checks (longest silence alive, shortest dead) and the\n"
    "    lines are left out.  The x axis is logarithmic when the values span more\n"
    "    than two decades, else linear.  The output is standalone SVG 1.1 with no\n"
    "    external resources.\n"
    "\n"
    "OPTIONS\n"
    "    --svg FILE             where to write the SVG ('-': standard output).\n"
    "    --summary SUMMARY.csv  the summary CSV of the run (probe --summary).\n"
    "    --run ID               the run to draw (default: the last run in OBS.csv).\n"
    "    --direction DIR        inbound or outbound (default: the direction of that\n"
    "                           run with the most checks).\n"
    "    -h, --help             this text.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 done; 1 the SVG could not be written; 2 bad command line, a malformed\n"
    "    input file or no such run.\n"
    "\n"
    "EXAMPLES\n"
    "    natidle report plot obs.csv --summary summary.csv --svg survival.svg\n"
    "    natidle report plot obs.csv --run 20261127-2155 --direction outbound --svg out.svg\n";

static const char help_html[] =
    "NAME\n"
    "    natidle report html - one self-contained HTML page of results\n"
    "\n"
    "SYNOPSIS\n"
    "    natidle report html FILE... -o REPORT.html\n"
    "\n"
    "DESCRIPTION\n"
    "    Each FILE is a summary or an observations CSV, told apart by its columns.\n"
    "    The page holds, with inline CSS and SVG and no script or external asset:\n"
    "      - the merged per-network table (as 'natidle report summary');\n"
    "      - per network, a cost table comparing the recommended keepalive with\n"
    "        fixed cadences of 2 min (a server keepalive), 15 min (FairEmail),\n"
    "        24 min (K-9 Mail) and 29 min (RFC 2177): wakeups per day, average\n"
    "        radio current, charge per day, and the share of time push is broken,\n"
    "        (I - T) / I for an interval I above the timeout T (T: the median\n"
    "        estimate);\n"
    "      - the survival plot of every run and direction of every observations CSV.\n"
    "    Radio current comes from Haverinen, Siren, Eronen, \"Energy consumption of\n"
    "    always-on applications in WCDMA networks\", IEEE VTC 2007-Spring: average\n"
    "    3G phone current with a keepalive every 20 s 34 mA, 40 s 24 mA, 150 s 16 mA,\n"
    "    300 s 14 mA, none 6.1 mA.  Other intervals are interpolated linearly in the\n"
    "    keepalive rate 1/I between those points, so above 300 s the excess current\n"
    "    over idle falls as 1/I.\n"
    "\n"
    "OPTIONS\n"
    "    -o, --output FILE  where to write the page ('-': standard output).\n"
    "    -h, --help         this text.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 done; 1 the page could not be written; 2 bad command line or a malformed\n"
    "    input file (the message names the file and the line).\n"
    "\n"
    "EXAMPLES\n"
    "    natidle report html summary.csv observations.csv -o report.html\n";

#define CMD "report"

/* Parse a report subcommand's options; operands start at *first.  Returns
 * 0, 1 after printing help, or NI_EUSAGE (message printed). */
static int parse(int argc, char **argv, const ni__opt *opts, size_t n, const char *help,
                 int *first) {
  int rc = ni__opts_parse(CMD, argc, argv, opts, n, first);
  if (rc == 1)
    fputs(help, stdout);
  return rc;
}

/* Load every file; on failure print the loader's one-line message. */
static int load_all(ni_report *rep, char **files, int nfiles, enum ni_report_file want) {
  char err[512];
  for (int i = 0; i < nfiles; i++) {
    enum ni_report_file kind = 0;
    int rc = ni_report_load(rep, files[i], &kind, err, sizeof(err));
    if (rc == -ENOMEM) {
      fprintf(stderr, "natidle report: %s\n", err);
      return NI_EXIT_FAILURE;
    }
    if (rc) {
      fprintf(stderr, "natidle report: %s\n", err);
      return NI_EXIT_USAGE;
    }
    if (want && kind != want) {
      fprintf(stderr, "natidle report: %s:1: %s CSV where %s CSV was expected\n", files[i],
              kind == NI_REPORT_SUMMARY ? "a summary" : "an observations",
              want == NI_REPORT_SUMMARY ? "a summary" : "an observations");
      return NI_EXIT_USAGE;
    }
  }
  return NI_EXIT_OK;
}

static FILE *open_out(const char *path) {
  if (!strcmp(path, "-")) return stdout;
  FILE *f = fopen(path, "w");
  if (!f) fprintf(stderr, "natidle report: %s: %s\n", path, strerror(errno));
  return f;
}

static int close_out(FILE *f, const char *path, int rc) {
  int is_stdout = f == stdout;
  if (is_stdout ? fflush(f) != 0 : fclose(f) != 0) rc = rc ? rc : -errno;
  if (rc) {
    fprintf(stderr, "natidle report: %s: %s\n", path, ni_strerror(rc));
    return NI_EXIT_FAILURE;
  }
  return NI_EXIT_OK;
}

static int cmd_summary(int argc, char **argv) {
  const char *csv = NULL;
  const ni__opt opts[] = {{"csv", 0, NI__OPT_STRING, &csv, 0, 0, NULL}};
  int first = 0, rc = parse(argc, argv, opts, 1, help_summary, &first);
  if (rc)
    return rc == 1 ? NI_EXIT_OK : NI_EXIT_USAGE;
  if (first >= argc) {
    ni__usage_error(CMD, "report summary: no summary CSV given");
    return NI_EXIT_USAGE;
  }
  ni_report *rep = ni_report_new();
  if (!rep)
    return NI_EXIT_FAILURE;
  rc = load_all(rep, argv + first, argc - first, NI_REPORT_SUMMARY);
  if (rc == NI_EXIT_OK && csv) {
    FILE *f = open_out(csv);
    rc = f ? close_out(f, csv, ni_report_write_csv(rep, f)) : NI_EXIT_FAILURE;
  } else if (rc == NI_EXIT_OK) {
    rc = close_out(stdout, "standard output", ni_report_write_table(rep, stdout));
  }
  ni_report_free(rep);
  return rc;
}

static int cmd_plot(int argc, char **argv) {
  const char *svg = NULL, *summary = NULL, *run = NULL, *dir = NULL;
  const ni__opt opts[] = {
      {"svg", 0, NI__OPT_STRING, &svg, 0, 0, NULL},
      {"summary", 0, NI__OPT_STRING, &summary, 0, 0, NULL},
      {"run", 0, NI__OPT_STRING, &run, 0, 0, NULL},
      {"direction", 0, NI__OPT_STRING, &dir, 0, 0, NULL},
  };
  int first = 0, rc = parse(argc, argv, opts, 4, help_plot, &first);
  if (rc)
    return rc == 1 ? NI_EXIT_OK : NI_EXIT_USAGE;
  if (first >= argc) {
    ni__usage_error(CMD, "report plot: no observations CSV given");
    return NI_EXIT_USAGE;
  }
  if (argc - first > 1) {
    ni__usage_error(CMD, "report plot: one observations CSV at a time (got also %s)",
                    argv[first + 1]);
    return NI_EXIT_USAGE;
  }
  if (!svg) {
    ni__usage_error(CMD, "report plot: --svg FILE is required");
    return NI_EXIT_USAGE;
  }
  const char *obs = argv[first];
  ni_report *rep = ni_report_new();
  if (!rep) return NI_EXIT_FAILURE;
  char *obsv[1] = {(char *)obs}, *sumv[1] = {(char *)summary};
  rc = load_all(rep, obsv, 1, NI_REPORT_OBSERVATIONS);
  if (rc == NI_EXIT_OK && summary) rc = load_all(rep, sumv, 1, NI_REPORT_SUMMARY);
  long idx = rc == NI_EXIT_OK ? ni_report_find_plot(rep, run, dir) : -1;
  if (rc == NI_EXIT_OK && idx < 0) {
    if (!ni_report_nplots(rep))
      fprintf(stderr, "natidle report: %s: no checks to plot\n", obs);
    else
      fprintf(stderr, "natidle report: %s: no checks of run '%s'%s%s\n", obs, run ? run : "",
              dir ? " in direction " : "", dir ? dir : "");
    rc = NI_EXIT_USAGE;
  }
  if (rc == NI_EXIT_OK) {
    FILE *f = open_out(svg);
    rc = f ? close_out(f, svg, ni_report_write_svg(rep, (size_t)idx, f, 1)) : NI_EXIT_FAILURE;
  }
  ni_report_free(rep);
  return rc;
}

static int cmd_html(int argc, char **argv) {
  const char *out = NULL;
  const ni__opt opts[] = {{"output", 'o', NI__OPT_STRING, &out, 0, 0, NULL}};
  int first = 0, rc = parse(argc, argv, opts, 1, help_html, &first);
  if (rc)
    return rc == 1 ? NI_EXIT_OK : NI_EXIT_USAGE;
  if (first >= argc) {
    ni__usage_error(CMD, "report html: no CSV file given");
    return NI_EXIT_USAGE;
  }
  if (!out) {
    ni__usage_error(CMD, "report html: -o REPORT.html is required");
    return NI_EXIT_USAGE;
  }
  ni_report *rep = ni_report_new();
  if (!rep) return NI_EXIT_FAILURE;
  rc = load_all(rep, argv + first, argc - first, 0);
  if (rc == NI_EXIT_OK) {
    FILE *f = open_out(out);
    rc = f ? close_out(f, out, ni_report_write_html(rep, f)) : NI_EXIT_FAILURE;
  }
  ni_report_free(rep);
  return rc;
}

int ni_cmd_report(int argc, char **argv) {
  if (argc < 2) {
    ni__usage_error(CMD, "a command is needed: summary, plot or html");
    return NI_EXIT_USAGE;
  }
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    fputs(help_report, stdout);
    return NI_EXIT_OK;
  }
  if (!strcmp(argv[1], "summary")) return cmd_summary(argc - 1, argv + 1);
  if (!strcmp(argv[1], "plot")) return cmd_plot(argc - 1, argv + 1);
  if (!strcmp(argv[1], "html")) return cmd_html(argc - 1, argv + 1);
  ni__usage_error(CMD, "unknown command '%s'", argv[1]);
  return NI_EXIT_USAGE;
}
