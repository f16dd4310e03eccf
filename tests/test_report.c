/* Tests of the report library (reports/report.c, svg.c, html.c, xml.c):
 * loading, merging runs of three networks, the cost model, escaping. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "natidle/csv.h"
#include "natidle/report.h"

static char fixture_dir[512];

static const char *fixture(const char *name) {
  static char path[640];
  snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
  return path;
}

/* Write `text` to a fresh temporary file; the caller unlinks it. */
static char *temp_csv(const char *text) {
  char *path = strdup("/tmp/natidle-report-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  return path;
}

static void load_ok(ni_report *rep, const char *path, enum ni_report_file want) {
  char err[512];
  enum ni_report_file kind = 0;
  int rc = ni_report_load(rep, path, &kind, err, sizeof(err));
  if (rc) fail_msg("loading %s: %s", path, err);
  assert_int_equal(kind, want);
}

static ni_report *three_networks(void) {
  ni_report *rep = ni_report_new();
  assert_non_null(rep);
  load_ok(rep, fixture("summary-carrier-a.csv"), NI_REPORT_SUMMARY);
  load_ok(rep, fixture("summary-carrier-b.csv"), NI_REPORT_SUMMARY);
  load_ok(rep, fixture("summary-home.csv"), NI_REPORT_SUMMARY);
  return rep;
}

static const ni_net_row *row_for(ni_report *rep, const char *network, const char *dir) {
  for (size_t i = 0; i < ni_report_nrows(rep); i++) {
    const ni_net_row *r = ni_report_row(rep, i);
    if (!strcmp(r->network, network) && !strcmp(r->direction, dir)) return r;
  }
  fail_msg("no merged row for %s %s", network, dir);
  return NULL;
}

static void test_merge_three_networks(void **state) {
  (void)state;
  ni_report *rep = three_networks();
  assert_int_equal(ni_report_nruns(rep), 12);
  assert_int_equal(ni_report_nrows(rep), 4);

  const ni_net_row *a = row_for(rep, "carrier-a", "inbound");
  assert_int_equal(a->runs, 4);
  assert_int_equal(a->estimates, 4);
  assert_float_equal(a->est_min_s, 57.5, 1e-9);
  assert_float_equal(a->est_median_s, 62.25, 1e-9); /* mean of 62 and 62.5 */
  assert_float_equal(a->est_max_s, 65, 1e-9);
  assert_int_equal(a->bracket, NI_BRACKET_INTERSECTION);
  assert_float_equal(a->lower_s, 60, 1e-9);
  assert_float_equal(a->upper_s, 65, 1e-9);
  assert_float_equal(a->recommended_s, 45, 1e-9);
  assert_int_equal(a->verdicts[0], 4);
  assert_string_equal(a->server, "imap.example.net");
  assert_int_equal(a->port, 993);

  const ni_net_row *ao = row_for(rep, "carrier-a", "outbound");
  assert_int_equal(ao->runs, 1);
  assert_int_equal(ao->estimates, 0);
  assert_true(isnan(ao->est_median_s));
  assert_int_equal(ao->bracket, NI_BRACKET_INTERSECTION);
  assert_float_equal(ao->lower_s, 100, 1e-9);
  assert_true(isnan(ao->upper_s)); /* above_max: open above */
  assert_int_equal(ao->verdicts[1], 1);

  const ni_net_row *b = row_for(rep, "carrier \"b\", Ltd", "inbound");
  assert_int_equal(b->runs, 4);
  assert_int_equal(b->estimates, 2);
  assert_float_equal(b->est_median_s, 1757.5, 1e-9);
  /* (1600, 1800] and (1810, 1820] do not intersect: the narrowest one. */
  assert_int_equal(b->bracket, NI_BRACKET_NARROWEST);
  assert_float_equal(b->lower_s, 1810, 1e-9);
  assert_float_equal(b->upper_s, 1820, 1e-9);
  assert_float_equal(b->recommended_s, 1500, 1e-9);
  assert_float_equal(b->server_keepalive_s, 120, 1e-9);
  assert_int_equal(b->verdicts[0], 2);
  assert_int_equal(b->verdicts[2], 1);
  assert_int_equal(b->verdicts[3], 1);

  const ni_net_row *h = row_for(rep, "home-fiber", "inbound");
  assert_float_equal(h->est_median_s, 300, 1e-9);
  assert_float_equal(h->lower_s, 295, 1e-9);
  assert_float_equal(h->upper_s, 300, 1e-9);
  assert_float_equal(h->recommended_s, 240, 1e-9);

  /* Loading more invalidates and recomputes the merge. */
  load_ok(rep, fixture("summary-home.csv"), NI_REPORT_SUMMARY);
  h = row_for(rep, "home-fiber", "inbound");
  assert_int_equal(h->runs, 6);
  assert_float_equal(h->est_median_s, 300, 1e-9);
  ni_report_free(rep);
}

/* The whole contents of a stream written by the code under test.  A
 * tmpfile rather than open_memstream: gcc's dangling-pointer analysis
 * misreads the latter's buffer pointer once inlined. */
static char *read_back(FILE *f) {
  long n = ftell(f);
  assert_true(n >= 0);
  char *buf = malloc((size_t)n + 1);
  rewind(f);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

/* Capture what a writer function prints. */
static char *capture(ni_report *rep, int (*fn)(ni_report *, FILE *)) {
  FILE *f = tmpfile();
  assert_non_null(f);
  assert_int_equal(fn(rep, f), 0);
  return read_back(f);
}

static void test_table_and_csv(void **state) {
  (void)state;
  ni_report *rep = three_networks();
  char *table = capture(rep, ni_report_write_table);
  assert_non_null(strstr(table, "57.5 / 62.25 / 65"));
  assert_non_null(strstr(table, "(1810, 1820] narrowest"));
  assert_non_null(strstr(table, "(100, inf]"));
  /* Columns are aligned: every line starts its SERVER column at the same place. */
  const char *hdr_server = strstr(table, "SERVER");
  const char *line2 = strchr(table, '\n') + 1;
  assert_int_equal(strstr(line2, "imap.example.net") - line2, hdr_server - table);
  free(table);

  char *csv = capture(rep, ni_report_write_csv);
  ni_csv_reader *r = ni_csv_reader_from_mem(csv, strlen(csv), NULL);
  assert_non_null(r);
  for (size_t i = 0; i < NI_MERGED_NCOLS; i++)
    assert_true(ni_csv_has_column(r, ni_merged_columns[i]));
  int found = 0;
  while (ni_csv_reader_next(r) == 1)
    if (!strcmp(ni_csv_get(r, "network"), "carrier \"b\", Ltd")) {
      found = 1;
      assert_string_equal(ni_csv_get(r, "estimate_median_s"), "1757.5");
      assert_string_equal(ni_csv_get(r, "bracket"), "narrowest");
      assert_string_equal(ni_csv_get(r, "verdicts"),
                          "measured:2 masked_by_server:1 inconclusive:1");
    }
  assert_true(found);
  ni_csv_reader_close(r);
  free(csv);
  ni_report_free(rep);
}

static const char summary_header[] =
    "run_id,network,server,port,tls,direction,lower_s,upper_s,estimate_s,observations,"
    "wall_s,server_keepalive_s,recommended_keepalive_s,verdict\n";

/* Loading `text` fails with NI_ECSV and a message that starts with the
 * file's name and contains `what`. */
static void expect_load_error(const char *text, const char *where, const char *what) {
  char *path = temp_csv(text), err[512], want[600];
  ni_report *rep = ni_report_new();
  assert_int_equal(ni_report_load(rep, path, NULL, err, sizeof(err)), NI_ECSV);
  snprintf(want, sizeof(want), "%s:%s", path, where);
  if (strncmp(err, want, strlen(want)) || !strstr(err, what))
    fail_msg("got '%s', want '%s...%s'", err, want, what);
  ni_report_free(rep);
  unlink(path);
  free(path);
}

static void test_load_errors(void **state) {
  (void)state;
  char text[1024];
  snprintf(text, sizeof(text),
           "%sr,n,s,993,tls,inbound,1,2,1.5,3,4,,1,measured\n"
           "r,n,s,993,tls,inbound,1,2,1.5,3,4,,1,great\n",
           summary_header);
  expect_load_error(text, "3: ", "verdict: 'great'");
  snprintf(text, sizeof(text), "%sr,n,s,993,tls,inbound,one,2,1.5,3,4,,1,measured\n",
           summary_header);
  expect_load_error(text, "2: ", "lower_s: 'one' is not a number");
  snprintf(text, sizeof(text), "%sr,n,s,99999,tls,inbound,1,2,1.5,3,4,,1,measured\n",
           summary_header);
  expect_load_error(text, "2: ", "port");
  snprintf(text, sizeof(text), "%sr,n,s,993,tls,inbound,5,2,1.5,3,4,,1,measured\n", summary_header);
  expect_load_error(text, "2: ", "below lower_s");
  snprintf(text, sizeof(text), "%sr,n,s,993,tls,inbound,1,2,1.5,3,4,,1\n", summary_header);
  expect_load_error(text, "2: ", "expected 14 fields, found 13");
  expect_load_error("a,b,c\n1,2,3\n", "1: ", "neither a summary CSV");
  expect_load_error("run_id,verdict\nr,measured\n", "1: ", "without a 'network' column");
  expect_load_error("", "1: ", "no header row");
  expect_load_error("a,\"b\nc\n", "1: ", "unterminated quoted field");
  expect_load_error("run_id,network,server,port,tls,session,target_s,silence_s,direction,"
                    "outcome\nr,n,s,993,tls,1,30,30,inbound,maybe\n",
                    "2: ", "outcome: 'maybe'");

  char err[256];
  ni_report *rep = ni_report_new();
  assert_int_equal(ni_report_load(rep, "/nonexistent/x.csv", NULL, err, sizeof(err)), -ENOENT);
  assert_string_equal(err, "/nonexistent/x.csv: No such file or directory");
  ni_report_free(rep);
}

static void test_radio_model(void **state) {
  (void)state;
  /* Exact at the published points. */
  assert_float_equal(ni_radio_current_ma(20), 34, 1e-9);
  assert_float_equal(ni_radio_current_ma(40), 24, 1e-9);
  assert_float_equal(ni_radio_current_ma(150), 16, 1e-9);
  assert_float_equal(ni_radio_current_ma(300), 14, 1e-9);
  assert_float_equal(ni_radio_current_ma(0), 6.1, 1e-9);
  assert_float_equal(ni_radio_current_ma(INFINITY), 6.1, 1e-9);
  /* Above 300 s the excess over idle falls as 1/interval. */
  assert_float_equal(ni_radio_current_ma(600), 6.1 + 7.9 / 2, 1e-9);
  assert_float_equal(ni_radio_current_ma(1500), 6.1 + 7.9 / 5, 1e-9);
  /* Below 20 s the 20-40 s slope goes on: 10 s is 34 + (0.1-0.05)*400. */
  assert_float_equal(ni_radio_current_ma(10), 54, 1e-9);
  /* Monotone: a longer interval never costs more. */
  for (double i = 5; i < 7200; i += 5)
    assert_true(ni_radio_current_ma(i + 5) <= ni_radio_current_ma(i));

  assert_float_equal(ni_push_broken_share(1440, 300), (1440.0 - 300) / 1440, 1e-12);
  assert_float_equal(ni_push_broken_share(240, 300), 0, 0);
  assert_float_equal(ni_push_broken_share(300, 300), 0, 0);
  assert_true(isnan(ni_push_broken_share(300, NAN)));
}

static char *svg_of(ni_report *rep, size_t i, int standalone) {
  FILE *f = tmpfile();
  assert_non_null(f);
  assert_int_equal(ni_report_write_svg(rep, i, f, standalone), 0);
  return read_back(f);
}

static void test_plot_escapes_everything(void **state) {
  (void)state;
  char *path =
      temp_csv("run_id,network,server,port,tls,session,target_s,silence_s,direction,outcome,extra\n"
               "r<1>,\"<script>alert('x')</script> & ]]> \xff\xfe\x01\",\"a\"\"b\",993,tls,1,30,30,"
               "inbound,alive,z\n"
               "r<1>,\"<script>alert('x')</script> & ]]> \xff\xfe\x01\",\"a\"\"b\",993,tls,2,60,60,"
               "inbound,dead_reset,z\n");
  ni_report *rep = ni_report_new();
  load_ok(rep, path, NI_REPORT_OBSERVATIONS);
  assert_int_equal(ni_report_nplots(rep), 1);
  char *svg = svg_of(rep, 0, 1);
  assert_null(strstr(svg, "<script"));
  assert_null(strstr(svg, "]]>"));
  assert_null(strstr(svg, "\xff"));
  assert_null(strstr(svg, "\x01"));
  assert_non_null(strstr(svg, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; ]]&gt; "
                              "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
  assert_non_null(strstr(svg, "run r&lt;1&gt;"));
  assert_non_null(strstr(svg, "a&quot;b:993"));
  assert_int_equal(strncmp(svg, "<?xml", 5), 0);
  free(svg);
  /* Inline: no XML declaration. */
  svg = svg_of(rep, 0, 0);
  assert_int_equal(strncmp(svg, "<svg ", 5), 0);
  free(svg);
  ni_report_free(rep);
  unlink(path);
  free(path);
}

static void test_plot_selection_and_bracket(void **state) {
  (void)state;
  ni_report *rep = ni_report_new();
  load_ok(rep, fixture("obs-carrier-a.csv"), NI_REPORT_OBSERVATIONS);
  const char *run, *dir;
  size_t checks;
  assert_int_equal(ni_report_nplots(rep), 1);
  assert_int_equal(ni_report_plot_info(rep, 0, &run, &dir, &checks), 0);
  assert_string_equal(run, "a2");
  assert_string_equal(dir, "inbound");
  assert_int_equal(checks, 10);
  assert_int_equal(ni_report_plot_info(rep, 1, NULL, NULL, NULL), NI_EUSAGE);
  assert_int_equal(ni_report_find_plot(rep, NULL, NULL), 0);
  assert_int_equal(ni_report_find_plot(rep, "a2", "inbound"), 0);
  assert_int_equal(ni_report_find_plot(rep, "a2", "outbound"), -1);
  assert_int_equal(ni_report_find_plot(rep, "zz", NULL), -1);

  /* Without a summary the bracket comes from the checks: alive up to 60 s,
   * first death at 65 s; no estimate line. */
  char *svg = svg_of(rep, 0, 1);
  assert_non_null(strstr(svg, "bracket (60, 65] s"));
  assert_null(strstr(svg, "estimated timeout"));
  free(svg);
  /* With it, the summary's bracket, estimate and recommendation. */
  load_ok(rep, fixture("summary-carrier-a.csv"), NI_REPORT_SUMMARY);
  svg = svg_of(rep, 0, 1);
  assert_non_null(strstr(svg, "bracket (55, 70] s"));
  assert_non_null(strstr(svg, "estimated timeout 62.5 s"));
  assert_non_null(strstr(svg, "recommended keepalive 50 s"));
  assert_null(strstr(svg, "log scale"));
  free(svg);
  assert_int_equal(ni_report_write_svg(rep, 7, stdout, 1), NI_EUSAGE);
  ni_report_free(rep);
}

static void test_plot_log_scale(void **state) {
  (void)state;
  char *path = temp_csv("run_id,network,server,port,tls,session,target_s,silence_s,direction,"
                        "outcome\n"
                        "r,n,s,993,tls,1,5,5,inbound,alive\n"
                        "r,n,s,993,tls,2,3600,3600,inbound,alive\n"
                        "r,n,s,993,tls,3,7200,7200,inbound,dead_silent\n");
  ni_report *rep = ni_report_new();
  load_ok(rep, path, NI_REPORT_OBSERVATIONS);
  char *svg = svg_of(rep, 0, 1);
  assert_non_null(strstr(svg, "log scale"));
  assert_non_null(strstr(svg, ">1000</text>"));
  assert_non_null(strstr(svg, ">10</text>"));
  free(svg);
  ni_report_free(rep);
  unlink(path);
  free(path);
}

static void test_html_contents(void **state) {
  (void)state;
  ni_report *rep = three_networks();
  load_ok(rep, fixture("obs-carrier-a.csv"), NI_REPORT_OBSERVATIONS);
  char *html = capture(rep, ni_report_write_html);
  assert_int_equal(strncmp(html, "<!DOCTYPE html>", 15), 0);
  assert_non_null(strstr(html, "<b>62.25</b>"));
  assert_non_null(strstr(html, "carrier &quot;b&quot;, Ltd"));
  assert_non_null(strstr(html, "Haverinen"));
  assert_non_null(strstr(html, "VTC 2007-Spring"));
  /* 24 min against a 62.25 s timeout: (1440 - 62.25) / 1440 = 96 % broken. */
  assert_non_null(strstr(html, "96 %"));
  assert_non_null(strstr(html, "<svg "));
  /* Self-contained: nothing fetched from elsewhere, no script. */
  assert_null(strstr(html, "<script"));
  assert_null(strstr(html, "src="));
  assert_null(strstr(html, "href="));
  free(html);
  ni_report_free(rep);
}

int main(void) {
  const char *src = getenv("NATIDLE_SRC");
  snprintf(fixture_dir, sizeof(fixture_dir), "%s/tests/reports", src ? src : ".");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_merge_three_networks),
      cmocka_unit_test(test_table_and_csv),
      cmocka_unit_test(test_load_errors),
      cmocka_unit_test(test_radio_model),
      cmocka_unit_test(test_plot_escapes_everything),
      cmocka_unit_test(test_plot_selection_and_bracket),
      cmocka_unit_test(test_plot_log_scale),
      cmocka_unit_test(test_html_contents),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
