/* Tests of the report library (reports/report.c, svg.c, html.c, xml.c,
 * kalog.c, timeline.c, netchart.c): loading, merging runs of three
 * networks, the cost model, escaping, keepalive logs and their timelines,
 * the chart of the timeout per network. */
#include <errno.h>
#include <limits.h>
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
  /* A field quoted in the message may hold a line end: the message stays
   * one line. */
  snprintf(text, sizeof(text), "%sr,n,s,993,tls,inbound,1,2,1.5,3,4,,1,\"mea\nsured\"\n",
           summary_header);
  expect_load_error(text, "2: ", "verdict: 'mea?sured'");
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

/* A masked_by_server run recommends no client keepalive: the server's own
 * holds the mapping, and a cadence beside it would only add wakeups.  Not
 * even one written by an older natidle, which carried a cadence below the
 * server's, turns a merged row into a client cadence. */
static void test_masked_recommends_none(void **state) {
  (void)state;
  char *path =
      temp_csv("run_id,network,server,port,tls,direction,lower_s,upper_s,estimate_s,observations,"
               "wall_s,server_keepalive_s,recommended_keepalive_s,verdict\n"
               "m1,dc,imap.example.org,993,imaps,inbound,117.400,,,9,221.000,120.0,,"
               "masked_by_server\n"
               "m2,dc,imap.example.org,993,imaps,inbound,117.900,,,9,230.000,120.0,116,"
               "masked_by_server\n"
               "x1,mixed,imap.example.org,993,imaps,inbound,117.400,,,9,221.000,120.0,116,"
               "masked_by_server\n"
               "x2,mixed,imap.example.net,993,imaps,inbound,295.000,300.000,297.500,12,700.000,,"
               "288,measured\n"
               "x3,mixed,imap.example.org,993,imaps,inbound,200.000,,,3,400.000,,190,above_max\n");
  char err[512];
  ni_report *rep = ni_report_new();
  assert_int_equal(ni_report_load(rep, path, NULL, err, sizeof(err)), 0);
  const ni_net_row *dc = row_for(rep, "dc", "inbound");
  assert_int_equal(dc->verdicts[2], 2);
  assert_true(isnan(dc->recommended_s));
  assert_float_equal(dc->server_keepalive_s, 120, 1e-9);
  assert_int_equal(dc->bracket, NI_BRACKET_NONE);
  /* Beside runs that bound the timeout, only theirs count. */
  for (size_t i = 0; i < ni_report_nrows(rep); i++) {
    const ni_net_row *r = ni_report_row(rep, i);
    if (strcmp(r->network, "mixed")) continue;
    if (!strcmp(r->server, "imap.example.org"))
      assert_float_equal(r->recommended_s, 190, 1e-9);
    else
      assert_float_equal(r->recommended_s, 288, 1e-9);
  }
  char *csv = capture(rep, ni_report_write_csv);
  ni_csv_reader *r = ni_csv_reader_from_mem(csv, strlen(csv), NULL);
  assert_non_null(r);
  while (ni_csv_reader_next(r) == 1)
    if (!strcmp(ni_csv_get(r, "network"), "dc"))
      assert_string_equal(ni_csv_get(r, "recommended_keepalive_s"), "");
  ni_csv_reader_close(r);
  free(csv);
  ni_report_free(rep);
  unlink(path);
  free(path);
}

/* A no_push run (a server whose IDLE never reports mail) loads and is
 * counted in the merged row's verdicts. */
static void test_no_push_verdict(void **state) {
  (void)state;
  char *path =
      temp_csv("run_id,network,server,port,tls,direction,lower_s,upper_s,estimate_s,observations,"
               "wall_s,server_keepalive_s,recommended_keepalive_s,verdict\n"
               "n1,lab,imap.example.org,993,imaps,inbound,,,,1,16.000,,,no_push\n");
  char err[512];
  ni_report *rep = ni_report_new();
  assert_int_equal(ni_report_load(rep, path, NULL, err, sizeof(err)), 0);
  char *table = capture(rep, ni_report_write_csv);
  assert_non_null(strstr(table, "no_push:1"));
  free(table);
  ni_report_free(rep);
  unlink(path);
  free(path);
}

/* A summary with the bracket in the NAT's terms loads it; an old-layout
 * summary in the same report loads without it (NAN, ""); a wrong basis or
 * an inverted NAT bracket is refused. */
static void test_nat_terms(void **state) {
  (void)state;
  char *path =
      temp_csv("run_id,network,server,port,tls,direction,lower_s,upper_s,estimate_s,observations,"
               "wall_s,server_keepalive_s,recommended_keepalive_s,verdict,nat_lower_s,nat_upper_s,"
               "bracket_basis,path_rtt_ms\n"
               "l1,lab,203.0.113.2,143,starttls,inbound,17.320,18.010,17.665,14,62.0,,13,measured,"
               "17.018,18.010,client_rtt,302\n"
               "l2,lab,203.0.113.2,993,imaps,inbound,17.100,17.900,17.500,12,55.0,,13,measured,"
               "16.990,17.900,capture,1\n");
  char err[512];
  ni_report *rep = ni_report_new();
  assert_int_equal(ni_report_load(rep, path, NULL, err, sizeof(err)), 0);
  load_ok(rep, fixture("summary-home.csv"), NI_REPORT_SUMMARY);
  const ni_run_summary *a = ni_report_run(rep, 0), *b = ni_report_run(rep, 1),
                       *old = ni_report_run(rep, 2);
  assert_true(fabs(a->nat_lower_s - 17.018) < 1e-9);
  assert_true(fabs(a->nat_upper_s - 18.010) < 1e-9);
  assert_true(fabs(a->path_rtt_ms - 302) < 1e-9);
  assert_string_equal(a->bracket_basis, "client_rtt");
  assert_true(a->nat_lower_s < 17.0 + 0.1 && 17.0 <= a->nat_upper_s);
  assert_string_equal(b->bracket_basis, "capture");
  assert_true(fabs(old->lower_s - 280.0) < 1e-9);
  assert_true(isnan(old->nat_lower_s) && isnan(old->nat_upper_s) && isnan(old->path_rtt_ms));
  assert_string_equal(old->bracket_basis, "");
  ni_report_free(rep);
  unlink(path);
  free(path);
  static const char *const bad[][2] = {
      {"0.7,2,guess,300", "bracket_basis: 'guess'"},
      {"3,2,client_rtt,300", "nat_upper_s 2 is below nat_lower_s 3"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char text[1024];
    snprintf(text, sizeof(text),
             "%.*s,nat_lower_s,nat_upper_s,bracket_basis,path_rtt_ms\n"
             "r,n,s,993,tls,inbound,1,2,1.5,3,4,,1,measured,%s\n",
             (int)strlen(summary_header) - 1, summary_header, bad[i][0]);
    expect_load_error(text, "2: ", bad[i][1]);
  }
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

/* ---- Keepalive logs --------------------------------------------------- */

/* Load a keepalive log that may end in a cut row; returns the warning. */
static void load_kalog(ni_report *rep, const char *path, char *warn, size_t len) {
  enum ni_report_file kind = 0;
  int rc = ni_report_load(rep, path, &kind, warn, len);
  if (rc) fail_msg("loading %s: %s", path, warn);
  assert_int_equal(kind, NI_REPORT_KALOG);
}

/* The fixture's numbers, counted by hand from kalog-carrier-a.csv: two
 * runs (21:00:00-21:10:00 ended by its stop row, 22:00:00-22:03:00 killed
 * mid-row), 9 keepalives of which 2 unanswered, 3 lost connections, one
 * failed connect, messages pushed (0.4 s, 0.6 s), late (45 s), fetched
 * (2 s), wakeups 10 + 5. */
static void test_kalog_summary(void **state) {
  (void)state;
  char warn[512];
  ni_report *rep = ni_report_new();
  load_kalog(rep, fixture("kalog-carrier-a.csv"), warn, sizeof(warn));
  assert_non_null(strstr(warn, "kalog-carrier-a.csv:33: last row cut short"));
  assert_int_equal(ni_report_nkalogs(rep), 1);
  assert_int_equal(ni_report_nruns(rep), 0);
  const ni_kalog_summary *k = ni_report_kalog(rep, 0);
  assert_string_equal(k->network, "carrier-a");
  assert_string_equal(k->account, "alice");
  assert_int_equal(k->rows, 31);
  assert_int_equal(k->runs, 2);
  assert_float_equal(k->covered_s, 600 + 180, 1e-6);
  assert_int_equal(k->keepalives, 9);
  assert_int_equal(k->answered, 7);
  assert_int_equal(k->unanswered, 2);
  assert_float_equal(k->keepalives_per_day, 9 * 86400.0 / 780, 1e-9);
  assert_float_equal(k->answered_share, 7.0 / 9, 1e-12);
  assert_int_equal(k->reconnects, 3);
  assert_string_equal(k->reconnect_reasons, "timedout:2 closed:1");
  assert_int_equal(k->connect_failures, 1);
  assert_int_equal(k->pushed, 2);
  assert_int_equal(k->fetched, 1);
  assert_int_equal(k->late, 1);
  assert_int_equal(k->delays, 4);
  assert_float_equal(k->delay_median_s, (0.6 + 2) / 2, 1e-9);
  assert_float_equal(k->delay_p95_s, 45, 1e-9); /* rank ceil(3.8) = 4 of 4 */
  assert_float_equal(k->delay_max_s, 45, 1e-9);
  assert_int_equal(k->wakeups, 15);
  assert_float_equal(k->wakeups_per_day, 15 * 86400.0 / 780, 1e-9);
  assert_float_equal(k->cadence_start_s, 60, 1e-9);
  assert_float_equal(k->cadence_end_s, 71.25, 1e-9);
  assert_string_equal(k->phase_end, "steady");
  assert_float_equal(k->lower_s, 75, 1e-9);
  assert_float_equal(k->upper_s, 82.5, 1e-9);
  /* The probe report's cost model at one wakeup every 52 s. */
  assert_float_equal(k->current_ma, ni_radio_current_ma(52), 1e-9);
  assert_float_equal(k->charge_mah_per_day, ni_radio_current_ma(52) * 24, 1e-9);
  assert_int_equal(ni_report_find_kalog(rep, NULL, NULL), 0);
  assert_int_equal(ni_report_find_kalog(rep, "carrier-a", "alice"), 0);
  assert_int_equal(ni_report_find_kalog(rep, "carrier-b", NULL), -1);
  assert_int_equal(ni_report_find_kalog(rep, NULL, "bob"), -1);
  assert_null(ni_report_kalog(rep, 1));
  ni_report_free(rep);
}

/* A log of the original eight columns: no network, wakeups, delays or
 * cadence rows; runs told apart by the byte counters falling back. */
static void test_kalog_original_layout(void **state) {
  (void)state;
  char warn[512];
  ni_report *rep = ni_report_new();
  load_kalog(rep, fixture("kalog-v1.csv"), warn, sizeof(warn));
  assert_string_equal(warn, "");
  const ni_kalog_summary *k = ni_report_kalog(rep, 0);
  assert_string_equal(k->network, "");
  assert_int_equal(k->runs, 2);
  assert_float_equal(k->covered_s, 60.944 + 36.3, 1e-6);
  assert_int_equal(k->keepalives, 4);
  assert_int_equal(k->unanswered, 1);
  assert_int_equal(k->pushed, 3);
  assert_int_equal(k->delays, 0);
  assert_true(isnan(k->delay_median_s));
  assert_int_equal(k->wakeups, -1);
  assert_true(isnan(k->wakeups_per_day));
  /* The cadence from the answered keepalives; the charge from their rate. */
  assert_float_equal(k->cadence_start_s, 18.017, 1e-9);
  assert_float_equal(k->cadence_end_s, 18.1, 1e-9);
  assert_string_equal(k->phase_end, "");
  assert_float_equal(k->current_ma, ni_radio_current_ma(97.244 / 4), 1e-9);
  ni_report_free(rep);
}

static const char kalog_header[] = "at,account,event,interval_s,outcome,rtt_ms,bytes_out,"
                                   "bytes_in,network,delay_ms,wakeups,lower_s,upper_s,"
                                   "cadence_s\n";

static void test_kalog_errors(void **state) {
  (void)state;
  char text[1024];
  snprintf(text, sizeof(text), "%s2026-11-27 21:00:00,a,connect,,ok,,1,1,n,,1,,,\n", kalog_header);
  expect_load_error(text, "2: ", "at: '2026-11-27 21:00:00' is not a UTC time");
  snprintf(text, sizeof(text),
           "%s2026-11-27T21:00:00Z,a,connect,,ok,,1,1,n,,1,,,\n"
           "2026-11-27T21:01:00Z,a,keepalive,60,lost,,1,1,n,,1,,,\n",
           kalog_header);
  expect_load_error(text, "3: ", "outcome: 'lost' is not answered or unanswered");
  snprintf(text, sizeof(text), "%s2026-11-27T21:01:00Z,a,keepalive,,answered,,1,1,n,,1,,,\n",
           kalog_header);
  expect_load_error(text, "2: ", "interval_s is empty");
  snprintf(text, sizeof(text), "%s2026-11-27T21:01:00Z,a,message,,pushed,,1,1,n,soon,1,,,\n",
           kalog_header);
  expect_load_error(text, "2: ", "delay_ms: 'soon' is not a whole number");
  snprintf(text, sizeof(text), "%s2026-11-27T21:01:00Z,a,cadence,,probing,,1,1,n,,1,-3,,60\n",
           kalog_header);
  expect_load_error(text, "2: ", "lower_s: '-3' is not a number of seconds");
  snprintf(text, sizeof(text), "%s2026-11-27T21:01:00Z,a,cadence,,learning,,1,1,n,,1,,,60\n",
           kalog_header);
  expect_load_error(text, "2: ", "is not probing or steady");
  expect_load_error("at,account,event,outcome\n2026-11-27T21:01:00Z,a,start,adaptive\n",
                    "1: ", "keepalive log without a 'interval_s' column");

  /* Events of a later version are skipped; the rest still counts. */
  snprintf(text, sizeof(text),
           "%s2026-11-27T21:00:00Z,a,connect,,ok,,1,1,n,,1,,,\n"
           "2026-11-27T21:00:30Z,a,handover,,wifi,,1,1,n,,1,,,\n"
           "2026-11-27T21:01:00Z,a,keepalive,60,answered,5,1,1,n,,2,,,\n",
           kalog_header);
  char *path = temp_csv(text), warn[256];
  ni_report *rep = ni_report_new();
  load_kalog(rep, path, warn, sizeof(warn));
  assert_int_equal(ni_report_kalog(rep, 0)->rows, 2);
  assert_int_equal(ni_report_kalog(rep, 0)->keepalives, 1);
  ni_report_free(rep);
  unlink(path);
  free(path);
}

/* A log of `runs` runs, each counting 10^15 wakeups, the most a row may
 * say. */
static char *kalog_of_runs(size_t runs) {
  static const char row[] =
      "2026-11-27T21:00:00.000Z,a,start,,adaptive,,0,0,n,,1000000000000000,,,\n";
  char *text = malloc(strlen(kalog_header) + runs * strlen(row) + 1), *p = text;
  assert_non_null(text);
  p += sprintf(p, "%s", kalog_header);
  for (size_t i = 0; i < runs; i++)
    p += sprintf(p, "%s", row);
  return text;
}

/* Over enough runs the wakeups add up to more than a long long holds: the
 * total is then unknown, not a wrapped sum. */
static void test_kalog_wakeups_overflow(void **state) {
  (void)state;
  const size_t most = (size_t)(LLONG_MAX / 1000000000000000LL); /* 9223 runs fit */
  for (size_t runs = most; runs <= most + 1; runs++) {
    char *text = kalog_of_runs(runs), *path = temp_csv(text), warn[256];
    ni_report *rep = ni_report_new();
    load_kalog(rep, path, warn, sizeof(warn));
    const ni_kalog_summary *k = ni_report_kalog(rep, 0);
    assert_int_equal(k->runs, runs);
    if (runs == most) {
      assert_true(k->wakeups == (long long)runs * 1000000000000000LL);
    } else {
      assert_int_equal(k->wakeups, -1);
      assert_true(isnan(k->wakeups_per_day));
    }
    ni_report_free(rep);
    unlink(path);
    free(path);
    free(text);
  }
}

static void test_kalog_table_and_csv(void **state) {
  (void)state;
  char warn[512];
  ni_report *rep = ni_report_new();
  load_kalog(rep, fixture("kalog-carrier-a.csv"), warn, sizeof(warn));
  load_kalog(rep, fixture("kalog-v1.csv"), warn, sizeof(warn));
  assert_int_equal(ni_report_nkalogs(rep), 2);
  char *table = capture(rep, ni_report_write_kalog_table);
  static const char *const want[] = {
      "0:13:00",   "9 (997/day)",   "7 (77.8 %)", "3 (timedout:2 closed:1)",
      "2 / 1 / 1", "1.3 / 45 / 45", "1662",       "60 -> 71.25 steady",
      "516",       "18.017 -> 18.1"};
  for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++)
    if (!strstr(table, want[i])) fail_msg("the table lacks '%s':\n%s", want[i], table);
  /* The log without a network shows a dash there. */
  assert_non_null(strstr(table, "\n-  "));
  free(table);

  char *csv = capture(rep, ni_report_write_kalog_csv);
  ni_csv_reader *r = ni_csv_reader_from_mem(csv, strlen(csv), NULL);
  assert_non_null(r);
  assert_int_equal(ni_csv_ncols(r), NI_KALOG_SUMMARY_NCOLS);
  for (size_t i = 0; i < NI_KALOG_SUMMARY_NCOLS; i++)
    assert_string_equal(ni_csv_column_name(r, i), ni_kalog_summary_columns[i]);
  assert_int_equal(ni_csv_reader_next(r), 1);
  static const char *const cols[][2] = {{"network", "carrier-a"},
                                        {"rows", "31"},
                                        {"runs", "2"},
                                        {"first_at", "2026-11-27T21:00:00.000Z"},
                                        {"last_at", "2026-11-27T22:03:00.000Z"},
                                        {"covered_s", "780"},
                                        {"keepalives", "9"},
                                        {"keepalives_per_day", "997"},
                                        {"answered_share", "0.778"},
                                        {"reconnect_reasons", "timedout:2 closed:1"},
                                        {"connect_failures", "1"},
                                        {"messages_late", "1"},
                                        {"delay_median_s", "1.3"},
                                        {"delay_p95_s", "45"},
                                        {"wakeups", "15"},
                                        {"wakeups_per_day", "1662"},
                                        {"cadence_end_s", "71.25"},
                                        {"phase_end", "steady"},
                                        {"upper_s", "82.5"},
                                        {"charge_mah_per_day", "516"}};
  for (size_t i = 0; i < sizeof(cols) / sizeof(*cols); i++)
    if (strcmp(ni_csv_get(r, cols[i][0]), cols[i][1]))
      fail_msg("%s is '%s', want '%s'", cols[i][0], ni_csv_get(r, cols[i][0]), cols[i][1]);
  assert_int_equal(ni_csv_reader_next(r), 1);
  assert_string_equal(ni_csv_get(r, "network"), "");
  assert_string_equal(ni_csv_get(r, "wakeups"), ""); /* unknown, not 0 */
  assert_string_equal(ni_csv_get(r, "delay_max_s"), "");
  assert_int_equal(ni_csv_reader_next(r), 0);
  ni_csv_reader_close(r);
  free(csv);
  ni_report_free(rep);
}

static char *timeline_of(ni_report *rep, size_t i, int standalone) {
  FILE *f = tmpfile();
  assert_non_null(f);
  assert_int_equal(ni_report_write_timeline(rep, i, f, standalone), 0);
  return read_back(f);
}

/* Occurrences of `needle` in `s`. */
static size_t count(const char *s, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
    n++;
  return n;
}

static void test_timeline(void **state) {
  (void)state;
  char warn[512];
  ni_report *rep = ni_report_new();
  load_kalog(rep, fixture("kalog-carrier-a.csv"), warn, sizeof(warn));
  char *svg = timeline_of(rep, 0, 1);
  assert_int_equal(strncmp(svg, "<?xml", 5), 0);
  assert_non_null(strstr(svg, "Keepalive timeline: carrier-a, account alice"));
  /* One mark per keepalive and message, one dashed line per lost
   * connection, one band rectangle per cadence row. */
  assert_int_equal(count(svg, "<title>keepalive after"), 9);
  assert_int_equal(count(svg, "s of silence: unanswered"), 2);
  assert_int_equal(count(svg, "<title>message "), 4);
  assert_int_equal(count(svg, "connection lost: "), 3);
  assert_int_equal(count(svg, "connection attempt failed: econnrefused"), 1);
  assert_null(strstr(svg, "probe: recommended"));
  assert_int_equal(ni_report_write_timeline(rep, 1, stdout, 1), NI_EUSAGE);
  free(svg);
  /* With the probe's summary of the same network: its recommendation. */
  load_ok(rep, fixture("summary-carrier-a.csv"), NI_REPORT_SUMMARY);
  svg = timeline_of(rep, 0, 0);
  assert_int_equal(strncmp(svg, "<svg ", 5), 0);
  assert_non_null(strstr(svg, "probe: recommended keepalive 45 s"));
  assert_non_null(strstr(svg, "probe: timeout estimate 62.25 s"));
  free(svg);
  ni_report_free(rep);

  /* Hostile text in the labels and outcomes comes out escaped. */
  char text[1024];
  snprintf(
      text, sizeof(text),
      "%s2026-11-27T21:00:00Z,\"<b>a&'\",connect,,ok,,1,1,\"]]><script>\xff\x01\",,1,,,\n"
      "2026-11-27T21:00:09Z,\"<b>a&'\",lost,,\"<i>x</i>\",,1,1,\"]]><script>\xff\x01\",,1,,,\n",
      kalog_header);
  char *path = temp_csv(text);
  rep = ni_report_new();
  load_kalog(rep, path, warn, sizeof(warn));
  svg = timeline_of(rep, 0, 1);
  assert_null(strstr(svg, "<script"));
  assert_null(strstr(svg, "<b>"));
  assert_null(strstr(svg, "<i>"));
  assert_null(strstr(svg, "\xff"));
  assert_non_null(strstr(svg, "]]&gt;&lt;script&gt;\xEF\xBF\xBD\xEF\xBF\xBD"));
  assert_non_null(strstr(svg, "account &lt;b&gt;a&amp;&#39;"));
  assert_non_null(strstr(svg, "connection lost: &lt;i&gt;x&lt;/i&gt;"));
  free(svg);
  char *html = capture(rep, ni_report_write_html);
  assert_null(strstr(html, "<script"));
  assert_null(strstr(html, "<b>a"));
  free(html);
  ni_report_free(rep);
  unlink(path);
  free(path);
}

static void test_html_probe_and_keepalive(void **state) {
  (void)state;
  char warn[512];
  ni_report *rep = three_networks();
  load_kalog(rep, fixture("kalog-carrier-a.csv"), warn, sizeof(warn));
  load_kalog(rep, fixture("kalog-v1.csv"), warn, sizeof(warn));
  char *html = capture(rep, ni_report_write_html);
  assert_non_null(strstr(html, "<table id=\"keepalive-table\">"));
  /* carrier-a: the probe's 45 s next to the 71.25 s alice settled on. */
  const char *cmp = strstr(html, "carrier-a: the probe&#8217;s cadence against");
  assert_non_null(cmp);
  assert_non_null(strstr(cmp, "natidle probe: recommended keepalive (imap.example.net:993 "
                              "inbound, 4 runs, timeout estimate 62.25 s)"));
  assert_non_null(strstr(cmp, "natidle keepalive, account alice: the cadence it settled on"));
  assert_non_null(strstr(cmp, "<td class=\"n\">71.25</td><td class=\"n\">1662</td>"));
  assert_non_null(strstr(cmp, "2 of 9 keepalives unanswered, 1 of 4 messages late"));
  /* The log without a network label has no probe to compare with. */
  assert_non_null(strstr(html, "(no network label): the probe"));
  assert_non_null(strstr(html, "No probe summary of this network was given"));
  assert_int_equal(count(html, "Keepalive timeline: "), 2);
  assert_null(strstr(html, "<script"));
  assert_null(strstr(html, "href="));
  free(html);
  ni_report_free(rep);
}

/* A real run on the lab (README, "Keepalive logs"): natidle keepalive
 * --adaptive learning a 12 s NAT from nothing for 8 minutes, and natidle
 * probe on the same network.  The counts were taken from the log with
 * Python's csv module. */
static void test_kalog_lab_run(void **state) {
  (void)state;
  char warn[512];
  ni_report *rep = ni_report_new();
  load_kalog(rep, fixture("kalog-lab-12s.csv"), warn, sizeof(warn));
  assert_string_equal(warn, "");
  load_ok(rep, fixture("summary-lab-12s.csv"), NI_REPORT_SUMMARY);
  load_ok(rep, fixture("obs-lab-12s.csv"), NI_REPORT_OBSERVATIONS);
  const ni_kalog_summary *k = ni_report_kalog(rep, 0);
  assert_string_equal(k->network, "lab-12s");
  assert_int_equal(k->rows, 60);
  assert_int_equal(k->runs, 1);
  assert_float_equal(k->covered_s, 480.012, 1e-6);
  assert_int_equal(k->keepalives, 29);
  assert_int_equal(k->unanswered, 5);
  assert_string_equal(k->reconnect_reasons, "timedout:5");
  assert_int_equal(k->pushed, 3);
  assert_int_equal(k->late, 1);
  assert_float_equal(k->delay_max_s, 51.022, 1e-9);
  assert_int_equal(k->wakeups, 36);
  assert_float_equal(k->cadence_start_s, 60, 1e-9);
  assert_float_equal(k->cadence_end_s, 10, 1e-9);
  assert_string_equal(k->phase_end, "steady");
  assert_float_equal(k->lower_s, 11.665, 1e-9);
  assert_float_equal(k->upper_s, 13.412, 1e-9);
  char *svg = timeline_of(rep, 0, 1);
  assert_non_null(strstr(svg, "probe: recommended keepalive 8 s"));
  assert_int_equal(count(svg, "<title>keepalive after"), 29);
  free(svg);
  char *html = capture(rep, ni_report_write_html);
  assert_non_null(strstr(html, "natidle probe: recommended keepalive (203.0.113.58:993 inbound, 1 "
                               "run, timeout estimate 12.139 s)</td><td class=\"n\">8</td>"));
  assert_non_null(strstr(html, "the cadence it settled on (measured over 0:08:00 in 1 run)</td>"
                               "<td class=\"n\">10</td><td class=\"n\">6480</td>"));
  free(html);
  ni_report_free(rep);
}

/* ---- Timeout per network ---------------------------------------------- */

static char *chart_of(ni_report *rep, int standalone) {
  FILE *f = tmpfile();
  assert_non_null(f);
  assert_int_equal(ni_report_write_network_chart(rep, f, standalone), 0);
  return read_back(f);
}

/* Where the chart puts `v` seconds: a log axis from 1 s to 1 h over
 * x = 230 .. 770 px. */
static double chart_x(double v) {
  return 230 + log10(v) / log10(3600) * 540;
}

static int has_fmt(const char *s, const char *fmt, ...) {
  char needle[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(needle, sizeof(needle), fmt, ap);
  va_end(ap);
  if (!strstr(s, needle)) {
    print_error("lacks '%s'\n", needle);
    return 0;
  }
  return 1;
}

/* The bar of a bracket (lower, upper] in row `row` (0-based). */
static int has_bar(const char *svg, int row, double lower, double upper) {
  double x0 = chart_x(lower), x1 = chart_x(upper);
  return has_fmt(svg, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"16\" fill=\"#f6c343\"",
                 x0, 100 + 40 * row + 20 - 8.0, fmax(x1 - x0, 3.0));
}

/* The four summary fixtures, old layout (14 columns), five merged rows. */
static void test_network_chart(void **state) {
  (void)state;
  ni_report *rep = three_networks();
  load_ok(rep, fixture("summary-lab-12s.csv"), NI_REPORT_SUMMARY);
  assert_int_equal(ni_report_nrows(rep), 5);
  char *svg = chart_of(rep, 1);
  assert_int_equal(strncmp(svg, "<?xml", 5), 0);
  assert_non_null(strstr(svg, "version=\"1.1\""));
  /* One bar per row with a bracket, at the log-scale x of L and U: rows 0
   * (carrier-a inbound), 2 (carrier "b", the narrowest), 3 and 4; plus the
   * legend's sample. */
  assert_int_equal(count(svg, "height=\"16\" fill=\"#f6c343\""), 4 + 1);
  assert_true(has_bar(svg, 0, 60, 65));
  assert_true(has_bar(svg, 2, 1810, 1820));
  assert_true(has_bar(svg, 3, 295, 300));
  assert_true(has_bar(svg, 4, 11.995, 12.283));
  assert_non_null(strstr(svg, "(1810, 1820] s narrowest, keepalive 1500 s"));
  /* carrier-a outbound, above_max: an open bar from 100 s to the right
   * edge, ending in an arrow there. */
  assert_int_equal(count(svg, "fill=\"#f9e3a3\""), 1 + 1);
  assert_true(has_fmt(svg,
                      "<rect x=\"%.1f\" y=\"152.0\" width=\"%.1f\" height=\"16\" "
                      "fill=\"#f9e3a3\"",
                      chart_x(100), 762 - chart_x(100)));
  assert_true(has_fmt(svg, "<path d=\"M770.0 160.0l-10 -9v18z\""));
  assert_non_null(strstr(svg, "above 100 s, keepalive 90 s"));
  /* The estimate (median) and the recommended keepalive of carrier-a. */
  assert_true(has_fmt(svg, "x1=\"%.1f\" y1=\"108.0\" x2=\"%.1f\" y2=\"132.0\" stroke=\"#2c5fb3\"",
                      chart_x(62.25), chart_x(62.25)));
  assert_true(
      has_fmt(svg, "<path d=\"M%.1f 113.0l6 7l-6 7l-6 -7z\" fill=\"#7b3294\"", chart_x(45)));
  /* The server keepalive of carrier "b" (its masked run). */
  assert_true(has_fmt(svg, "x1=\"%.1f\" y1=\"186.0\" x2=\"%.1f\" y2=\"214.0\" stroke=\"#555555\"",
                      chart_x(120), chart_x(120)));
  /* The clients' cadences: lines through the whole plot, labelled. */
  const double cad[] = {120, 540, 900, 1440, 1740};
  for (size_t i = 0; i < 5; i++) {
    assert_true(has_fmt(svg, "x2=\"%.1f\" y2=\"300.0\" stroke=\"#9e9e9e\"", chart_x(cad[i])));
    assert_true(
        has_fmt(svg, "<title>client keepalive every %g min (%g s)</title>", cad[i] / 60, cad[i]));
    assert_true(has_fmt(svg, "font-size=\"10\">%g min</text>", cad[i] / 60));
  }
  /* Names escaped, and nothing from outside. */
  assert_non_null(strstr(svg, "carrier &quot;b&quot;, Ltd"));
  assert_null(strstr(svg, "href="));
  assert_null(strstr(svg, "<script"));
  /* Same input, same bytes: twice from one report, and from a new one. */
  char *again = chart_of(rep, 1);
  assert_string_equal(svg, again);
  free(again);
  ni_report *rep2 = three_networks();
  load_ok(rep2, fixture("summary-lab-12s.csv"), NI_REPORT_SUMMARY);
  again = chart_of(rep2, 1);
  assert_string_equal(svg, again);
  free(again);
  ni_report_free(rep2);
  free(svg);
  /* Inline: no XML declaration. */
  svg = chart_of(rep, 0);
  assert_int_equal(strncmp(svg, "<svg ", 5), 0);
  free(svg);
  ni_report_free(rep);
  /* Nothing to draw without a summary row. */
  rep = ni_report_new();
  assert_int_equal(ni_report_write_network_chart(rep, stdout, 1), NI_EUSAGE);
  ni_report_free(rep);
}

/* Rows without a bracket: masked_by_server drawn as its lower end and the
 * server keepalive; inconclusive and no_push listed, not drawn; a hostile
 * network name escaped; a column the reader does not know left alone. */
static void test_network_chart_verdicts(void **state) {
  (void)state;
  char *path = temp_csv(
      "run_id,network,server,port,tls,direction,lower_s,upper_s,estimate_s,observations,"
      "wall_s,server_keepalive_s,recommended_keepalive_s,verdict,nat_lower_s\n"
      "m1,masked,s,993,imaps,inbound,110,,,5,900,120,,masked_by_server,1\n"
      "m2,masked,s,993,imaps,inbound,100,,,5,900,120,,masked_by_server,\n"
      "i1,\"<script>alert('x')</script> & ]]> \xff\xfe\x01 and a long tail\",s,993,imaps,inbound,,"
      ",,3,600,,,inconclusive,\n"
      "p1,nopush,s,993,imaps,inbound,,,,0,130,,,no_push,\n"
      "h1,hours,s,993,imaps,inbound,5000,7000,6000,9,30000,,4800,measured,\n");
  ni_report *rep = ni_report_new();
  load_ok(rep, path, NI_REPORT_SUMMARY);
  assert_int_equal(ni_report_nrows(rep), 4);
  char *svg = chart_of(rep, 1);
  /* The axis reaches 7000 x 1.15: 6 h; every value is above 10 s. */
  assert_non_null(strstr(svg, ">6 h</text>"));
  assert_null(strstr(svg, ">1 s</text>"));
  assert_non_null(strstr(svg, ">10 s</text>"));
  double x110 = 230 + log10(110 / 10.0) / log10(21600 / 10.0) * 540;
  assert_true(has_fmt(svg, "<path d=\"M%.1f 110.0h-5v20h5\"", x110 + 5));
  assert_non_null(strstr(svg, "masked: alive at 110 s, server every 120 s"));
  assert_non_null(strstr(svg, "2 runs: masked_by_server:2"));
  assert_non_null(strstr(svg, "not drawn: inconclusive:1, no bracket"));
  assert_non_null(strstr(svg, "not drawn: no_push:1, no bracket"));
  assert_non_null(strstr(svg, "listed, not drawn."));
  /* One bar: the measured row (and the legend's sample). */
  assert_int_equal(count(svg, "height=\"16\" fill=\"#f6c343\""), 1 + 1);
  assert_null(strstr(svg, "<script"));
  assert_null(strstr(svg, "]]>"));
  assert_null(strstr(svg, "\xff"));
  assert_null(strstr(svg, "\x01"));
  assert_non_null(strstr(svg, "<title>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; ]]&gt; "
                              "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD and a long tail</title>"));
  assert_non_null(strstr(svg, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;...</text>"));
  free(svg);
  ni_report_free(rep);
  unlink(path);
  free(path);
}

/* The HTML page over summaries alone draws the chart; with observations,
 * the survival plots instead. */
static void test_html_network_chart(void **state) {
  (void)state;
  ni_report *rep = three_networks();
  char *html = capture(rep, ni_report_write_html);
  assert_non_null(strstr(html, "<h2 id=\"chart\">Timeout per network</h2>\n<figure>\n<svg "));
  assert_non_null(strstr(html, "client keepalive every 24 min"));
  assert_null(strstr(html, "<?xml"));
  assert_null(strstr(html, "<script"));
  free(html);
  load_ok(rep, fixture("obs-carrier-a.csv"), NI_REPORT_OBSERVATIONS);
  html = capture(rep, ni_report_write_html);
  assert_null(strstr(html, "id=\"chart\""));
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
      cmocka_unit_test(test_nat_terms),
      cmocka_unit_test(test_no_push_verdict),
      cmocka_unit_test(test_masked_recommends_none),
      cmocka_unit_test(test_plot_escapes_everything),
      cmocka_unit_test(test_plot_selection_and_bracket),
      cmocka_unit_test(test_plot_log_scale),
      cmocka_unit_test(test_html_contents),
      cmocka_unit_test(test_kalog_summary),
      cmocka_unit_test(test_kalog_original_layout),
      cmocka_unit_test(test_kalog_errors),
      cmocka_unit_test(test_kalog_wakeups_overflow),
      cmocka_unit_test(test_kalog_table_and_csv),
      cmocka_unit_test(test_timeline),
      cmocka_unit_test(test_html_probe_and_keepalive),
      cmocka_unit_test(test_kalog_lab_run),
      cmocka_unit_test(test_network_chart),
      cmocka_unit_test(test_network_chart_verdicts),
      cmocka_unit_test(test_html_network_chart),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
