/* libFuzzer target for the report loader and its writers (reports/): the
 * input is written to a private temporary file and loaded as a summary, an
 * observations CSV or a keepalive log, whichever its header makes it.  Any
 * return is allowed, but the message must be one NUL-terminated line.  A
 * report that loaded goes through every writer (table, merged CSV, every
 * survival plot inline and standalone, the chart per network, the
 * keepalive table and CSV, every timeline, the HTML page) into /dev/null,
 * and every row, run, plot and keepalive summary is looked up again by the
 * names it holds.  The same input is then loaded a second time into the
 * same report, as merging files does, and written again.  Nothing may
 * crash, leak or trip the sanitizers. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "natidle/report.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[4096];
static int fd = -1;
static FILE *devnull;

static void cleanup(void) {
  if (fd >= 0) {
    close(fd);
    unlink(path);
    fd = -1;
  }
  if (devnull) fclose(devnull);
  devnull = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *dir = getenv("TMPDIR");
  snprintf(path, sizeof(path), "%s/natidle-fuzz-report-XXXXXX", dir && *dir ? dir : "/tmp");
  fd = mkstemp(path);
  devnull = fopen("/dev/null", "w");
  if (fd < 0 || !devnull) abort();
  atexit(cleanup);
  return 0;
}

static void put_input(const uint8_t *data, size_t size) {
  if (ftruncate(fd, 0) != 0) abort();
  for (size_t done = 0; done < size;) {
    ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) abort();
    done += (size_t)n;
  }
}

/* Load the input into `rep`; 1 when it loaded.  The message must be one
 * line, NUL-terminated within its buffer, whatever the outcome. */
static int load(ni_report *rep) {
  char err[512];
  enum ni_report_file kind = 0;
  memset(err, 'x', sizeof(err));
  int rc = ni_report_load(rep, path, &kind, err, sizeof(err));
  if (!memchr(err, '\0', sizeof(err)) || strchr(err, '\n')) abort();
  if (rc == 0 && kind != NI_REPORT_SUMMARY && kind != NI_REPORT_OBSERVATIONS &&
      kind != NI_REPORT_KALOG)
    abort();
  return rc == 0;
}

/* Every accessor, and the lookups by the names the report holds. */
static void walk(ni_report *rep) {
  size_t n = ni_report_nrows(rep);
  for (size_t i = 0; i < n; i++)
    if (!ni_report_row(rep, i)) abort();
  if (ni_report_row(rep, n)) abort();
  n = ni_report_nruns(rep);
  for (size_t i = 0; i < n; i++) {
    const ni_run_summary *s = ni_report_run(rep, i);
    if (!s || !s->run_id || !s->network || !s->verdict || !s->bracket_basis) abort();
    (void)ni_report_find_plot(rep, s->run_id, s->direction);
    (void)ni_report_find_kalog(rep, s->network, NULL);
  }
  if (ni_report_run(rep, n)) abort();
  n = ni_report_nplots(rep);
  for (size_t i = 0; i < n; i++) {
    const char *run_id, *direction;
    size_t checks;
    if (ni_report_plot_info(rep, i, &run_id, &direction, &checks) != 0 || checks == 0) abort();
    if (ni_report_find_plot(rep, run_id, direction) < 0 ||
        ni_report_find_plot(rep, run_id, NULL) < 0)
      abort();
  }
  if (ni_report_plot_info(rep, n, NULL, NULL, NULL) != NI_EUSAGE) abort();
  if ((ni_report_find_plot(rep, NULL, NULL) < 0) != (n == 0)) abort();
  n = ni_report_nkalogs(rep);
  for (size_t i = 0; i < n; i++) {
    const ni_kalog_summary *k = ni_report_kalog(rep, i);
    if (!k || !k->network || !k->account || !k->reconnect_reasons || !k->phase_end) abort();
    if (ni_report_find_kalog(rep, k->network, k->account) < 0 ||
        ni_report_find_kalog(rep, NULL, k->account) < 0 ||
        ni_report_find_kalog(rep, k->network, NULL) < 0)
      abort();
  }
  if (ni_report_kalog(rep, n)) abort();
  if ((ni_report_find_kalog(rep, NULL, NULL) < 0) != (n == 0)) abort();
}

/* Every writer into /dev/null: none may fail there. */
static void write_all(ni_report *rep) {
  if (ni_report_write_table(rep, devnull) != 0 || ni_report_write_csv(rep, devnull) != 0) abort();
  size_t n = ni_report_nplots(rep);
  for (size_t i = 0; i < n; i++)
    if (ni_report_write_svg(rep, i, devnull, 0) != 0 ||
        ni_report_write_svg(rep, i, devnull, 1) != 0)
      abort();
  if (ni_report_write_svg(rep, n, devnull, 1) != NI_EUSAGE) abort();
  int rc = ni_report_write_network_chart(rep, devnull, 1);
  if (rc != (ni_report_nruns(rep) ? 0 : NI_EUSAGE)) abort();
  if (ni_report_write_kalog_table(rep, devnull) != 0 ||
      ni_report_write_kalog_csv(rep, devnull) != 0)
    abort();
  n = ni_report_nkalogs(rep);
  for (size_t i = 0; i < n; i++)
    if (ni_report_write_timeline(rep, i, devnull, 1) != 0) abort();
  if (ni_report_write_timeline(rep, n, devnull, 1) != NI_EUSAGE) abort();
  if (ni_report_write_html(rep, devnull) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  put_input(data, size);
  ni_report *rep = ni_report_new();
  if (!rep) abort();
  if (load(rep)) {
    walk(rep);
    write_all(rep);
    if (load(rep)) {
      walk(rep);
      write_all(rep);
    }
  }
  ni_report_free(rep);
  return 0;
}
