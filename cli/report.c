/* natidle report: merged per-network tables, keepalive summaries, survival
 * plots, keepalive timelines, the HTML page. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "natidle/common.h"
#include "natidle/report.h"

static const char *const help_report[] = {
    "NAME\n"
    "    natidle report - tables, plots and an HTML page from natidle's CSV files\n"
    "\n"
    "SYNOPSIS\n"
    "    natidle report summary FILE... [--csv OUT|-]\n"
    "    natidle report plot OBS.csv --svg FILE [--summary SUMMARY.csv] [--run ID]\n"
    "                        [--direction DIR]\n"
    "    natidle report plot LOG.csv --svg FILE [--summary SUMMARY.csv]\n"
    "                        [--network LABEL] [--account NAME]\n"
    "    natidle report plot SUMMARY.csv... -o FILE\n"
    "    natidle report html FILE... -o REPORT.html\n"
    "    natidle report COMMAND --help\n"
    "\n"
    "DESCRIPTION\n"
    "    Reads the observations CSV (probe --csv) and the summary CSV (probe --summary)\n"
    "    of one or many runs, on one or many networks, and the event logs of\n"
    "    'natidle keepalive --log', and turns them into per-network and per-account\n"
    "    tables, survival plots, keepalive timelines and a chart of the timeout\n"
    "    per network (SVG), or a self-contained HTML page.  Each file's kind is\n"
    "    told by its header.  The columns of every file are described in\n"
    "    docs/CSV.md.  A last row cut short (a writer killed mid-row) is left out\n"
    "    with a warning; the rows before it are read.\n"
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
    "    natidle report summary ka.csv\n"
    "    natidle report plot obs.csv --summary summary.csv --svg survival.svg\n"
    "    natidle report plot ka.csv --summary summary.csv --svg timeline.svg\n"
    "    natidle report plot home.csv carrier-a.csv carrier-b.csv -o networks.svg\n"
    "    natidle report html summary.csv obs.csv ka.csv -o report.html\n",
    NULL};

static const char *const help_summary[] = {
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
    "\n",
    "    Keepalive logs (keepalive --log, told apart by their 'event' column) give a\n"
    "    second table, one row per network and account, over the time the runs\n"
    "    covered (a run: one natidle process; gaps between runs do not count):\n"
    "      covered     h:mm:ss covered by the runs;\n"
    "      keepalives  how many, and per day;\n"
    "      answered    how many came back, and their share;\n"
    "      reconnects  connections lost, and why (timedout:2 closed:1);\n"
    "      messages    pushed in IDLE / fetched otherwise / late (found only by the\n"
    "                  resync after a reconnect: their push was lost);\n"
    "      delay       push delay median / 95th percentile / max, seconds;\n"
    "      wakeups     radio wakeups per day (sends after 2 s of silence);\n"
    "      cadence     the cadence at the start and at the end, and whether it\n"
    "                  was still learning (probing) or steady;\n"
    "      mAh/day     charge per day of a 3G phone at the mean interval between\n"
    "                  wakeups, from the cost model of 'natidle report html'.\n"
    "    Logs of older natidle versions (8 columns) give what they hold: no\n"
    "    network, wakeups or push delays, and the cadence from the keepalives.\n"
    "\n"
    "OPTIONS\n"
    "    --csv OUT   write the rows as CSV to OUT (replaced if it exists), or to\n"
    "                standard output for '-', instead of the aligned table.\n"
    "                Columns: docs/CSV.md, \"Merged table\" for summary CSVs and\n"
    "                \"Keepalive summary\" for keepalive logs.  One CSV holds one\n"
    "                table: give one kind of file at a time.\n"
    "    -h, --help  this text.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 done; 1 the output could not be written; 2 bad command line or a malformed\n"
    "    input file (the message names the file and the line).\n"
    "\n"
    "EXAMPLES\n"
    "    natidle report summary home.csv carrier-a.csv carrier-b.csv\n"
    "    natidle report summary runs/*.csv --csv merged.csv\n"
    "    natidle report summary ka-monday.csv ka-tuesday.csv --csv -\n",
    NULL};

static const char *const help_plot[] = {
    "NAME\n"
    "    natidle report plot - survival plot of a probe run, timeline of a\n"
    "    keepalive log, or the timeout per network, as SVG\n"
    "\n"
    "SYNOPSIS\n"
    "    natidle report plot OBS.csv --svg FILE [--summary SUMMARY.csv] [--run ID]\n"
    "                        [--direction DIR]\n"
    "    natidle report plot LOG.csv --svg FILE [--summary SUMMARY.csv]\n"
    "                        [--network LABEL] [--account NAME]\n"
    "    natidle report plot SUMMARY.csv... -o FILE\n"
    "\n"
    "DESCRIPTION\n"
    "    From an observations CSV (probe --csv): every check of one run, the\n"
    "    silence before the check (seconds) on x, one row per probe session on y;\n"
    "    a green dot where the push arrived (alive), a red cross where the mapping\n"
    "    was lost (dead_*), a grey ring for refreshed, aborted and error checks.\n"
    "    The bracket the timeout lies in is shaded; the estimated timeout and the\n"
    "    recommended keepalive are labelled vertical lines.  Those come from the\n"
    "    run's row in SUMMARY.csv; without --summary the bracket is computed from\n"
    "    the checks (longest silence alive, shortest dead) and the lines are left\n"
    "    out.  The x axis is logarithmic when the values span more than two\n"
    "    decades, else linear.\n"
    "\n",
    "    From a keepalive log (keepalive --log): the timeline of one network and\n"
    "    account, time (UTC) on x.  Above, each keepalive at the silence before\n"
    "    it (green dot answered, red cross unanswered), the bracket the scheduler\n"
    "    had learned at each moment as a band narrowing over time (pale while it\n"
    "    has no upper end), its cadence as a purple line (dashed while it is a\n"
    "    learning probe), lost connections as red dashed lines and each start of\n"
    "    natidle keepalive as a grey line.  Below, each message at its push delay\n"
    "    (green pushed, grey fetched, red cross late).  With --summary, the probe's\n"
    "    recommended keepalive and timeout estimate for the same network are\n"
    "    horizontal lines.\n"
    "\n",
    "    From summary CSVs alone (probe --summary; any number of files, when every\n"
    "    file given is one): the timeout per network on one chart.  One row per\n"
    "    network, server, port/TLS and direction, merged as 'natidle report\n"
    "    summary' merges them; idle time on a log axis from seconds to hours.  A\n"
    "    yellow bar is the bracket (lower, upper] the timeout lies in; above_max\n"
    "    is a pale bar from the lower end to the right edge, ending in an arrow;\n"
    "    masked_by_server is a '[' at the longest silence seen alive, with the\n"
    "    server's keepalive as a grey dashed mark; the blue tick is the median\n"
    "    estimate and the purple diamond the recommended keepalive.  Rows whose\n"
    "    runs were all inconclusive or no_push are listed with their verdicts,\n"
    "    not drawn.  Dashed grey lines mark common client keepalive cadences: 2,\n"
    "    9, 15, 24 and 29 min.  The same files give the same bytes.\n"
    "\n"
    "    The output is standalone SVG 1.1 with no external resources.\n"
    "\n"
    "OPTIONS\n"
    "    --svg FILE, -o FILE    where to write the SVG ('-': standard output).\n"
    "    --summary SUMMARY.csv  the summary CSV of the run (probe --summary); with\n"
    "                           summaries alone, one more of them.\n"
    "    --run ID               the run to draw (default: the last run in OBS.csv).\n"
    "    --direction DIR        inbound or outbound (default: the direction of that\n"
    "                           run with the most checks).\n"
    "    --network LABEL        the network of the log to draw, and\n"
    "    --account NAME         its account (default: the network and account\n"
    "                           with the most rows).\n"
    "    -h, --help             this text.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 done; 1 the SVG could not be written; 2 bad command line, a malformed\n"
    "    input file, no such run, network or account, or summaries without a row.\n"
    "\n"
    "EXAMPLES\n"
    "    natidle report plot obs.csv --summary summary.csv --svg survival.svg\n"
    "    natidle report plot obs.csv --run 20261127-2155 --direction outbound --svg out.svg\n"
    "    natidle report plot ka.csv --account alice --svg timeline.svg\n"
    "    natidle report plot summary-*.csv -o networks.svg\n",
    NULL};

static const char *const help_html[] = {
    "NAME\n"
    "    natidle report html - one self-contained HTML page of results\n"
    "\n"
    "SYNOPSIS\n"
    "    natidle report html FILE... -o REPORT.html\n"
    "\n"
    "DESCRIPTION\n"
    "    Each FILE is a summary CSV, an observations CSV or a keepalive log, told\n"
    "    apart by its columns.\n"
    "    The page holds, with inline CSS and SVG and no script or external asset:\n"
    "      - the merged per-network table (as 'natidle report summary');\n"
    "      - per network, a cost table comparing the recommended keepalive with\n"
    "        fixed cadences of 2 min (a server keepalive), 15 min (FairEmail),\n"
    "        24 min (K-9 Mail) and 29 min (RFC 2177): wakeups per day, average\n"
    "        radio current, charge per day, and the share of time push is broken,\n"
    "        (I - T) / I for an interval I above the timeout T (T: the median\n"
    "        estimate);\n"
    "      - the survival plot of every run and direction of every observations CSV;\n"
    "        without an observations CSV (summary CSVs alone, or with keepalive\n"
    "        logs), the chart of the timeout per network instead, right after the\n"
    "        table (as 'natidle report plot SUMMARY.csv...');\n"
    "      - for keepalive logs: their table (as 'natidle report summary'), and per\n"
    "        network the probe's recommended cadence next to the cadence each\n"
    "        keepalive run settled on, with what each cost (the probe's row from\n"
    "        the model, the run's from its measured wakeups), and each run's\n"
    "        timeline (as 'natidle report plot').\n"
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
    "    natidle report html summary.csv observations.csv -o report.html\n"
    "    natidle report html summary.csv ka.csv -o report.html\n"
    "    natidle report html home.csv carrier-a.csv carrier-b.csv -o networks.html\n",
    NULL};

#define CMD "report"

static void print_help(const char *const *help) {
  for (; *help; help++)
    fputs(*help, stdout);
}

/* Parse a report subcommand's options; operands start at *first.  Returns
 * 0, 1 after printing help, or NI_EUSAGE (message printed). */
static int parse(int argc, char **argv, const ni__opt *opts, size_t n, const char *const *help,
                 int *first) {
  int rc = ni__opts_parse(CMD, argc, argv, opts, n, first);
  if (rc == 1) print_help(help);
  return rc;
}

/* The kinds of file a command accepts, as a set of bits. */
#define KIND(k) (1u << (k))

static const char *kind_name(enum ni_report_file k) {
  return k == NI_REPORT_SUMMARY        ? "a summary CSV"
         : k == NI_REPORT_OBSERVATIONS ? "an observations CSV"
                                       : "a keepalive log";
}

/* Load every file; on failure print the loader's one-line message, and
 * any warning (a last row cut short) as it comes.  *seen (may be NULL)
 * gets the set of kinds loaded.  `want` 0 accepts every kind. */
static int load_all(ni_report *rep, char **files, int nfiles, unsigned want, unsigned *seen) {
  char err[512];
  for (int i = 0; i < nfiles; i++) {
    enum ni_report_file kind = 0;
    int rc = ni_report_load(rep, files[i], &kind, err, sizeof(err));
    if (rc) {
      fprintf(stderr, "natidle report: %s\n", err);
      return rc == -ENOMEM ? NI_EXIT_FAILURE : NI_EXIT_USAGE;
    }
    if (*err) fprintf(stderr, "natidle report: warning: %s\n", err);
    if (want && !(want & KIND(kind))) {
      char expected[96] = "";
      for (enum ni_report_file k = NI_REPORT_SUMMARY; k <= NI_REPORT_KALOG; k++)
        if (want & KIND(k))
          snprintf(expected + strlen(expected), sizeof(expected) - strlen(expected), "%s%s",
                   *expected ? " or " : "", kind_name(k));
      fprintf(stderr, "natidle report: %s:1: %s where %s was expected\n", files[i], kind_name(kind),
              expected);
      return NI_EXIT_USAGE;
    }
    if (seen) *seen |= KIND(kind);
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

/* The tables for a terminal: the merged probe runs, then the keepalive
 * logs, each when such files were given. */
static int write_tables(ni_report *rep, unsigned seen, FILE *out) {
  int rc = 0;
  if (seen & KIND(NI_REPORT_SUMMARY)) rc = ni_report_write_table(rep, out);
  if (rc == 0 && (seen & KIND(NI_REPORT_SUMMARY)) && (seen & KIND(NI_REPORT_KALOG)))
    fputc('\n', out);
  if (rc == 0 && (seen & KIND(NI_REPORT_KALOG))) rc = ni_report_write_kalog_table(rep, out);
  return rc;
}

static int cmd_summary(int argc, char **argv) {
  const char *csv = NULL;
  const ni__opt opts[] = {{"csv", 0, NI__OPT_STRING, &csv, 0, 0, NULL}};
  unsigned seen = 0;
  int first = 0, rc = parse(argc, argv, opts, 1, help_summary, &first);
  if (rc) return rc == 1 ? NI_EXIT_OK : NI_EXIT_USAGE;
  if (first >= argc) {
    ni__usage_error(CMD, "report summary: no summary CSV or keepalive log given");
    return NI_EXIT_USAGE;
  }
  ni_report *rep = ni_report_new();
  if (!rep) return NI_EXIT_FAILURE;
  rc = load_all(rep, argv + first, argc - first, KIND(NI_REPORT_SUMMARY) | KIND(NI_REPORT_KALOG),
                &seen);
  if (rc == NI_EXIT_OK && csv && seen == (KIND(NI_REPORT_SUMMARY) | KIND(NI_REPORT_KALOG))) {
    ni__usage_error(CMD, "report summary: --csv writes one table: give summary CSVs or "
                         "keepalive logs, not both");
    rc = NI_EXIT_USAGE;
  } else if (rc == NI_EXIT_OK && csv) {
    FILE *f = open_out(csv);
    rc = !f ? NI_EXIT_FAILURE
            : close_out(f, csv,
                        seen & KIND(NI_REPORT_KALOG) ? ni_report_write_kalog_csv(rep, f)
                                                     : ni_report_write_csv(rep, f));
  } else if (rc == NI_EXIT_OK) {
    rc = close_out(stdout, "standard output", write_tables(rep, seen, stdout));
  }
  ni_report_free(rep);
  return rc;
}

/* The keepalive summary to draw from a log loaded in rep; -1 with the
 * message printed when there is none. */
static long find_kalog(ni_report *rep, const char *log, const char *network, const char *account) {
  long idx = ni_report_find_kalog(rep, network, account);
  if (idx < 0 && !ni_report_nkalogs(rep))
    fprintf(stderr, "natidle report: %s: no keepalive rows to plot\n", log);
  else if (idx < 0)
    fprintf(stderr, "natidle report: %s: no rows of%s%s%s%s\n", log, network ? " network " : "",
            network ? network : "", account ? " account " : "", account ? account : "");
  return idx;
}

/* The survival plot to draw from observations loaded in rep; -1 with the
 * message printed when there is none. */
static long find_plot(ni_report *rep, const char *obs, const char *run, const char *dir) {
  long idx = ni_report_find_plot(rep, run, dir);
  if (idx < 0 && !ni_report_nplots(rep))
    fprintf(stderr, "natidle report: %s: no checks to plot\n", obs);
  else if (idx < 0)
    fprintf(stderr, "natidle report: %s: no checks of run '%s'%s%s\n", obs, run ? run : "",
            dir ? " in direction " : "", dir ? dir : "");
  return idx;
}

/* The chart of the timeout per network, from summary CSVs alone. */
static int plot_networks(ni_report *rep, const char *svg, const char *run, const char *dir,
                         const char *network, const char *account) {
  if (run || dir || network || account) {
    ni__usage_error(CMD, "report plot: --run, --direction, --network and --account choose one "
                         "run or log; summary CSVs alone draw every network");
    return NI_EXIT_USAGE;
  }
  if (!ni_report_nrows(rep)) {
    fprintf(stderr, "natidle report: no summary rows to plot\n");
    return NI_EXIT_USAGE;
  }
  FILE *f = open_out(svg);
  return f ? close_out(f, svg, ni_report_write_network_chart(rep, f, 1)) : NI_EXIT_FAILURE;
}

/* The survival plot or the timeline of the one observations CSV or
 * keepalive log `in` loaded in rep (with its summary, if any). */
static int plot_one(ni_report *rep, const char *in, int is_log, const char *svg, const char *run,
                    const char *dir, const char *network, const char *account) {
  if (is_log && (run || dir)) {
    ni__usage_error(CMD,
                    "report plot: --run and --direction choose a probe run; %s is a "
                    "keepalive log (--network, --account)",
                    in);
    return NI_EXIT_USAGE;
  }
  if (!is_log && (network || account)) {
    ni__usage_error(CMD,
                    "report plot: --network and --account choose a keepalive log; %s is "
                    "an observations CSV (--run, --direction)",
                    in);
    return NI_EXIT_USAGE;
  }
  long idx = is_log ? find_kalog(rep, in, network, account) : find_plot(rep, in, run, dir);
  if (idx < 0) return NI_EXIT_USAGE;
  FILE *f = open_out(svg);
  return !f ? NI_EXIT_FAILURE
            : close_out(f, svg,
                        is_log ? ni_report_write_timeline(rep, (size_t)idx, f, 1)
                               : ni_report_write_svg(rep, (size_t)idx, f, 1));
}

static int cmd_plot(int argc, char **argv) {
  const char *svg = NULL, *summary = NULL, *run = NULL, *dir = NULL, *network = NULL,
             *account = NULL;
  const ni__opt opts[] = {
      {"svg", 0, NI__OPT_STRING, &svg, 0, 0, NULL},
      {"output", 'o', NI__OPT_STRING, &svg, 0, 0, NULL},
      {"summary", 0, NI__OPT_STRING, &summary, 0, 0, NULL},
      {"run", 0, NI__OPT_STRING, &run, 0, 0, NULL},
      {"direction", 0, NI__OPT_STRING, &dir, 0, 0, NULL},
      {"network", 0, NI__OPT_STRING, &network, 0, 0, NULL},
      {"account", 0, NI__OPT_STRING, &account, 0, 0, NULL},
  };
  unsigned seen = 0;
  int first = 0, rc = parse(argc, argv, opts, sizeof(opts) / sizeof(*opts), help_plot, &first);
  if (rc) return rc == 1 ? NI_EXIT_OK : NI_EXIT_USAGE;
  if (first >= argc) {
    ni__usage_error(CMD, "report plot: no observations CSV, keepalive log or summary CSV given");
    return NI_EXIT_USAGE;
  }
  if (!svg) {
    ni__usage_error(CMD, "report plot: --svg FILE (or -o FILE) is required");
    return NI_EXIT_USAGE;
  }
  ni_report *rep = ni_report_new();
  if (!rep) return NI_EXIT_FAILURE;
  char *sumv[1] = {(char *)summary};
  rc = load_all(rep, argv + first, argc - first, 0, &seen);
  if (rc == NI_EXIT_OK && summary) rc = load_all(rep, sumv, 1, KIND(NI_REPORT_SUMMARY), NULL);
  if (rc == NI_EXIT_OK && seen == KIND(NI_REPORT_SUMMARY)) {
    rc = plot_networks(rep, svg, run, dir, network, account);
  } else if (rc == NI_EXIT_OK && argc - first > 1) {
    ni__usage_error(CMD,
                    "report plot: one observations CSV or keepalive log at a time, or summary "
                    "CSVs alone (got %s and %s)",
                    argv[first], argv[first + 1]);
    rc = NI_EXIT_USAGE;
  } else if (rc == NI_EXIT_OK) {
    rc = plot_one(rep, argv[first], seen == KIND(NI_REPORT_KALOG), svg, run, dir, network, account);
  }
  ni_report_free(rep);
  return rc;
}

static int cmd_html(int argc, char **argv) {
  const char *out = NULL;
  const ni__opt opts[] = {{"output", 'o', NI__OPT_STRING, &out, 0, 0, NULL}};
  int first = 0, rc = parse(argc, argv, opts, 1, help_html, &first);
  if (rc) return rc == 1 ? NI_EXIT_OK : NI_EXIT_USAGE;
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
  rc = load_all(rep, argv + first, argc - first, 0, NULL);
  if (rc == NI_EXIT_OK) {
    FILE *f = open_out(out);
    rc = f ? close_out(f, out, ni_report_write_html(rep, f)) : NI_EXIT_FAILURE;
  }
  ni_report_free(rep);
  return rc;
}

int ni__cmd_report(int argc, char **argv) {
  if (argc < 2) {
    ni__usage_error(CMD, "a command is needed: summary, plot or html");
    return NI_EXIT_USAGE;
  }
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    print_help(help_report);
    return NI_EXIT_OK;
  }
  if (!strcmp(argv[1], "summary")) return cmd_summary(argc - 1, argv + 1);
  if (!strcmp(argv[1], "plot")) return cmd_plot(argc - 1, argv + 1);
  if (!strcmp(argv[1], "html")) return cmd_html(argc - 1, argv + 1);
  ni__usage_error(CMD, "unknown command '%s'", argv[1]);
  return NI_EXIT_USAGE;
}
