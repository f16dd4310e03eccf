/* Tests of the CSV writer and reader (reports/csv.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "natidle/csv.h"

/* A fresh scratch directory per test, removed afterwards. */
typedef struct fixture {
  char dir[64];
  char path[128];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  snprintf(f->dir, sizeof(f->dir), "/tmp/natidle-csv-XXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  snprintf(f->path, sizeof(f->path), "%s/out.csv", f->dir);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  unlink(f->path);
  rmdir(f->dir);
  free(f);
  return 0;
}

static char *slurp(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
  buf[n] = '\0';
  fclose(fp);
  if (len) *len = (size_t)n;
  return buf;
}

static void append_raw(const char *path, const char *bytes) {
  FILE *fp = fopen(path, "ab");
  assert_non_null(fp);
  fputs(bytes, fp);
  fclose(fp);
}

static const char *const cols3[] = {"a", "b", "c"};

static void test_round_trip_hostile(void **state) {
  fixture *f = *state;
  char *longf = malloc(300001);
  for (size_t i = 0; i < 300000; i++)
    longf[i] = (char)('a' + i % 26);
  longf[150000] = '"';
  longf[300000] = '\0';
  const char *rows[][3] = {
      {"comma,inside", "quote \"here\"", "\"\""},
      {"cr\ronly", "lf\nonly", "crlf\r\nboth"},
      {" leading", "trailing ", "\tboth\t"},
      {"8-bit \xe9\xff\x80 caf\xc3\xa9", "", NULL},
      {longf, ",", "\n"},
      {"", "", ""},
  };
  size_t nrows = sizeof(rows) / sizeof(rows[0]);
  int err = 1;
  ni_csv_writer *w = ni_csv_writer_open(f->path, cols3, 3, &err);
  assert_non_null(w);
  assert_int_equal(err, 0);
  for (size_t i = 0; i < nrows; i++)
    assert_int_equal(ni_csv_write_row(w, rows[i]), 0);
  assert_int_equal(ni_csv_writer_close(w), 0);

  char *raw = slurp(f->path, NULL);
  assert_null(strstr(raw, "\r\n\"")); /* rows end in LF */
  assert_non_null(strstr(raw, "\" leading\""));
  free(raw);

  ni_csv_reader *r = ni_csv_reader_open(f->path, &err);
  assert_non_null(r);
  for (size_t i = 0; i < nrows; i++) {
    assert_int_equal(ni_csv_reader_next(r), 1);
    for (size_t j = 0; j < 3; j++)
      assert_string_equal(ni_csv_get(r, cols3[j]), rows[i][j] ? rows[i][j] : "");
  }
  assert_int_equal(ni_csv_reader_next(r), 0);
  assert_int_equal(ni_csv_reader_next(r), 0);
  ni_csv_reader_close(r);
  free(longf);
}

static void test_mode_0644(void **state) {
  fixture *f = *state;
  mode_t old = umask(022);
  ni_csv_writer *w = ni_csv_writer_open(f->path, cols3, 3, NULL);
  umask(old);
  assert_non_null(w);
  assert_int_equal(ni_csv_writer_close(w), 0);
  struct stat st;
  assert_int_equal(stat(f->path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0644);
}

static void test_crlf_and_line_numbers(void **state) {
  (void)state;
  static const char in[] = "a,b\r\n"
                           "1,2\r\n"
                           "\"multi\r\nline\",3\r\n"
                           "\r\n"
                           "4,\"\"\r\n"
                           "5,6";
  int err = 1;
  ni_csv_reader *r = ni_csv_reader_from_mem(in, sizeof(in) - 1, &err);
  assert_non_null(r);
  assert_int_equal(err, 0);
  assert_int_equal(ni_csv_reader_line(r), 1);
  assert_int_equal(ni_csv_reader_next(r), 1);
  assert_string_equal(ni_csv_get(r, "a"), "1");
  assert_int_equal(ni_csv_reader_line(r), 2);
  assert_int_equal(ni_csv_reader_next(r), 1);
  assert_string_equal(ni_csv_get(r, "a"), "multi\r\nline");
  assert_int_equal(ni_csv_reader_line(r), 3);
  assert_int_equal(ni_csv_reader_next(r), 1); /* the empty line is skipped */
  assert_string_equal(ni_csv_get(r, "a"), "4");
  assert_string_equal(ni_csv_get(r, "b"), "");
  assert_int_equal(ni_csv_reader_line(r), 6);
  assert_int_equal(ni_csv_reader_next(r), 1); /* no final newline */
  assert_string_equal(ni_csv_get(r, "b"), "6");
  assert_int_equal(ni_csv_reader_line(r), 7);
  assert_int_equal(ni_csv_reader_next(r), 0);
  ni_csv_reader_close(r);
}

static void test_unknown_columns_ignored(void **state) {
  (void)state;
  static const char in[] = "\xEF\xBB\xBF"
                           "extra,run_id,more,network\n"
                           "x,r1,y,home\n";
  ni_csv_reader *r = ni_csv_reader_from_mem(in, sizeof(in) - 1, NULL);
  assert_non_null(r);
  assert_true(ni_csv_has_column(r, "run_id"));
  assert_false(ni_csv_has_column(r, "verdict"));
  assert_null(ni_csv_get(r, "run_id")); /* no row read yet */
  assert_int_equal(ni_csv_reader_next(r), 1);
  assert_string_equal(ni_csv_get(r, "run_id"), "r1");
  assert_string_equal(ni_csv_get(r, "network"), "home");
  assert_null(ni_csv_get(r, "verdict"));
  assert_int_equal(ni_csv_ncols(r), 4);
  assert_string_equal(ni_csv_column_name(r, 0), "extra");
  assert_null(ni_csv_column_name(r, 4));
  ni_csv_reader_close(r);
}

/* Read `in` to its first error; check the code, the message and the line. */
static void expect_error(const char *in, size_t len, const char *msg, size_t line) {
  int err = 0, rc;
  ni_csv_reader *r = ni_csv_reader_from_mem(in, len, &err);
  assert_non_null(r);
  while ((rc = ni_csv_reader_next(r)) == 1)
    ;
  assert_int_equal(rc, NI_ECSV);
  assert_string_equal(ni_csv_reader_errstr(r), msg);
  assert_int_equal(ni_csv_reader_line(r), line);
  /* The error sticks. */
  assert_int_equal(ni_csv_reader_next(r), NI_ECSV);
  assert_null(ni_csv_get(r, "a"));
  ni_csv_reader_close(r);
}

static void test_reader_errors(void **state) {
  (void)state;
  static const char unterminated[] = "a,b\n1,2\n3,\"4\n5,6\n";
  expect_error(unterminated, sizeof(unterminated) - 1, "<memory>:3: unterminated quoted field", 3);
  static const char count[] = "a,b\n1,2\n\"x\ny\",2\n1,2,3\n";
  expect_error(count, sizeof(count) - 1, "<memory>:5: expected 2 fields, found 3", 5);
  static const char few[] = "a,b\n1\n";
  expect_error(few, sizeof(few) - 1, "<memory>:2: expected 2 fields, found 1", 2);
  static const char stray[] = "a,b\n1,x\"y\n";
  expect_error(stray, sizeof(stray) - 1, "<memory>:2: quote inside an unquoted field", 2);
  static const char after[] = "a,b\n1,\"x\"y\n";
  expect_error(after, sizeof(after) - 1, "<memory>:2: unexpected character after a closing quote",
               2);
  static const char cr[] = "a,b\n1,2\rx\n";
  expect_error(cr, sizeof(cr) - 1, "<memory>:2: carriage return not followed by a line feed", 2);
  static const char nul[] = "a,b\n1,\0\n";
  expect_error(nul, sizeof(nul) - 1, "<memory>:2: NUL byte in field", 2);
}

static void test_oversize_field(void **state) {
  (void)state;
  size_t n = NI_CSV_MAX_FIELD + 100;
  char *in = malloc(n + 16);
  memcpy(in, "a,b\n1,", 6);
  memset(in + 6, 'x', n);
  memcpy(in + 6 + n, "\n", 1);
  char msg[96];
  snprintf(msg, sizeof(msg), "<memory>:2: field longer than %u bytes", NI_CSV_MAX_FIELD);
  expect_error(in, n + 7, msg, 2);
  /* A field exactly at the limit is fine. */
  memset(in + 6, 'y', n);
  memcpy(in + 6 + NI_CSV_MAX_FIELD, "\n", 1);
  ni_csv_reader *r = ni_csv_reader_from_mem(in, 6 + NI_CSV_MAX_FIELD + 1, NULL);
  assert_non_null(r);
  assert_int_equal(ni_csv_reader_next(r), 1);
  assert_int_equal(strlen(ni_csv_get(r, "b")), NI_CSV_MAX_FIELD);
  ni_csv_reader_close(r);
  free(in);
}

static void test_oversize_row(void **state) {
  (void)state;
  /* Many fields just under the field limit add up to more than a row. */
  size_t per = NI_CSV_MAX_FIELD - 1, nf = NI_CSV_MAX_ROW / per + 2;
  size_t len = 0, cap = 16 + nf * (per + 1) + nf * 4;
  char *in = malloc(cap);
  for (size_t i = 0; i < nf; i++)
    len += (size_t)sprintf(in + len, "%sc%zu", i ? "," : "", i);
  in[len++] = '\n';
  for (size_t i = 0; i < nf; i++) {
    if (i) in[len++] = ',';
    memset(in + len, 'z', per);
    len += per;
  }
  in[len++] = '\n';
  ni_csv_reader *r = ni_csv_reader_from_mem(in, len, NULL);
  assert_non_null(r);
  assert_int_equal(ni_csv_reader_next(r), NI_ECSV);
  assert_non_null(strstr(ni_csv_reader_errstr(r), "<memory>:2: row longer than"));
  ni_csv_reader_close(r);
  free(in);
}

static void test_no_header(void **state) {
  (void)state;
  int err = 0;
  assert_null(ni_csv_reader_from_mem("", 0, &err));
  assert_int_equal(err, NI_ECSV);
  assert_null(ni_csv_reader_from_mem("\"a,b\n", 5, &err));
  assert_int_equal(err, NI_ECSV);
  assert_null(ni_csv_reader_open("/nonexistent/natidle.csv", &err));
  assert_int_equal(err, -ENOENT);
  /* A read error is reported as such, not as an empty file. */
  assert_null(ni_csv_reader_open("/", &err));
  assert_int_equal(err, -EISDIR);
}

static void test_truncated_row_repaired(void **state) {
  fixture *f = *state;
  const char *r1[] = {"1", "2", "3"}, *r2[] = {"4", "5,5", "6"}, *r3[] = {"7", "8", "9"};
  ni_csv_writer *w = ni_csv_writer_open(f->path, cols3, 3, NULL);
  assert_non_null(w);
  assert_int_equal(ni_csv_write_row(w, r1), 0);
  assert_int_equal(ni_csv_write_row(w, r2), 0);
  assert_int_equal(ni_csv_writer_close(w), 0);
  /* Killed mid-row: no final newline. */
  append_raw(f->path, "10,\"eleven");
  w = ni_csv_writer_open(f->path, cols3, 3, NULL);
  assert_non_null(w);
  assert_int_equal(ni_csv_write_row(w, r3), 0);
  assert_int_equal(ni_csv_writer_close(w), 0);
  char *raw = slurp(f->path, NULL);
  assert_string_equal(raw, "a,b,c\n1,2,3\n4,\"5,5\",6\n7,8,9\n");
  free(raw);
  /* Killed inside a quoted field just after an embedded newline. */
  append_raw(f->path, "10,\"line one\n");
  w = ni_csv_writer_open(f->path, cols3, 3, NULL);
  assert_non_null(w);
  assert_int_equal(ni_csv_writer_close(w), 0);
  raw = slurp(f->path, NULL);
  assert_string_equal(raw, "a,b,c\n1,2,3\n4,\"5,5\",6\n7,8,9\n");
  free(raw);
}

static void test_partial_header_repaired(void **state) {
  fixture *f = *state;
  append_raw(f->path, "a,b"); /* killed while writing the header */
  ni_csv_writer *w = ni_csv_writer_open(f->path, cols3, 3, NULL);
  assert_non_null(w);
  assert_int_equal(ni_csv_writer_close(w), 0);
  char *raw = slurp(f->path, NULL);
  assert_string_equal(raw, "a,b,c\n");
  free(raw);
}

static void test_header_mismatch(void **state) {
  fixture *f = *state;
  const char *other[] = {"a", "c", "b"};
  int err = 0;
  append_raw(f->path, "a,b,c\n1,2,3\n4,5");
  assert_null(ni_csv_writer_open(f->path, other, 3, &err));
  assert_int_equal(err, NI_EMISMATCH);
  assert_null(ni_csv_writer_open(f->path, other, 2, &err));
  assert_int_equal(err, NI_EMISMATCH);
  /* Nothing was touched, not even the partial last row. */
  char *raw = slurp(f->path, NULL);
  assert_string_equal(raw, "a,b,c\n1,2,3\n4,5");
  free(raw);
  /* A file without a complete row that is not our header is not ours. */
  unlink(f->path);
  append_raw(f->path, "something else entirely");
  assert_null(ni_csv_writer_open(f->path, cols3, 3, &err));
  assert_int_equal(err, NI_EMISMATCH);
  assert_null(ni_csv_writer_open(f->path, cols3, 0, &err));
  assert_int_equal(err, NI_EUSAGE);
  assert_null(ni_csv_writer_open("/nonexistent/dir/x.csv", cols3, 3, &err));
  assert_int_equal(err, -ENOENT);
}

static void test_from_file_and_single_column(void **state) {
  fixture *f = *state;
  FILE *fp = fopen(f->path, "w+");
  const char *one[] = {"only"}, *empty[] = {""}, *val[] = {"v"};
  ni_csv_writer *w = ni_csv_writer_from_file(fp, one, 1, 1);
  assert_non_null(w);
  ni_csv_writer_set_sync(w, 1);
  assert_int_equal(ni_csv_write_row(w, empty), 0);
  assert_int_equal(ni_csv_write_row(w, val), 0);
  assert_int_equal(ni_csv_writer_close(w), 0);
  fclose(fp); /* still open after the writer is gone */
  char *raw = slurp(f->path, NULL);
  assert_string_equal(raw, "only\n\"\"\nv\n");
  ni_csv_reader *r = ni_csv_reader_from_mem(raw, strlen(raw), NULL);
  assert_int_equal(ni_csv_reader_next(r), 1);
  assert_string_equal(ni_csv_get(r, "only"), "");
  assert_int_equal(ni_csv_reader_next(r), 1);
  assert_string_equal(ni_csv_get(r, "only"), "v");
  assert_int_equal(ni_csv_reader_next(r), 0);
  ni_csv_reader_close(r);
  free(raw);
  /* No header when asked not to. */
  fp = fopen(f->path, "w+");
  w = ni_csv_writer_from_file(fp, one, 1, 0);
  assert_int_equal(ni_csv_write_row(w, val), 0);
  assert_int_equal(ni_csv_writer_close(w), 0);
  fclose(fp);
  raw = slurp(f->path, NULL);
  assert_string_equal(raw, "v\n");
  free(raw);
}

static void test_write_error_reported(void **state) {
  (void)state;
  FILE *fp = fopen("/dev/full", "w");
  if (!fp) skip();
  ni_csv_writer *w = ni_csv_writer_from_file(fp, cols3, 3, 0);
  const char *row[] = {"1", "2", "3"};
  assert_int_equal(ni_csv_write_row(w, row), -ENOSPC);
  assert_int_equal(ni_csv_writer_close(w), -ENOSPC);
  fclose(fp);
}

static void test_every_prefix(void **state) {
  (void)state;
  /* Any prefix of valid input either parses or fails cleanly. */
  static const char in[] = "a,b,c\n1,\"x,\"\"y\"\"\r\nz\",3\r\n,,\n\"\",\" \",q\n";
  for (size_t n = 0; n <= sizeof(in) - 1; n++) {
    char *copy = malloc(n ? n : 1);
    memcpy(copy, in, n);
    int err = 0, rc;
    ni_csv_reader *r = ni_csv_reader_from_mem(copy, n, &err);
    if (r) {
      while ((rc = ni_csv_reader_next(r)) == 1)
        ;
      assert_true(rc == 0 || rc == NI_ECSV);
      ni_csv_reader_close(r);
    } else {
      assert_int_equal(err, NI_ECSV);
    }
    free(copy);
  }
}

static void test_formatting(void **state) {
  (void)state;
  char b[NI_CSV_TIME_LEN];
  assert_int_equal(ni_csv_fmt_utc(b, sizeof(b), 1795816503120ull), 0);
  assert_string_equal(b, "2026-11-27T21:55:03.120Z");
  assert_int_equal(ni_csv_fmt_utc(b, sizeof(b), 0), 0);
  assert_string_equal(b, "1970-01-01T00:00:00.000Z");
  assert_int_equal(ni_csv_fmt_utc(b, 10, 0), NI_EUSAGE);
  assert_string_equal(b, "");
  assert_int_equal(ni_csv_fmt_seconds(b, sizeof(b), 90500), 0);
  assert_string_equal(b, "90.500");
  assert_int_equal(ni_csv_fmt_seconds(b, sizeof(b), 7), 0);
  assert_string_equal(b, "0.007");
  assert_int_equal(ni_csv_fmt_seconds(b, 3, 90500), NI_EUSAGE);
}

static void test_column_lists(void **state) {
  (void)state;
  assert_string_equal(ni_obs_columns[0], "run_id");
  assert_string_equal(ni_obs_columns[NI_OBS_NCOLS - 1], "at");
  /* The summary's original fourteen columns come first, unchanged (an
   * older summary is still read); the bracket in the NAT's terms after. */
  assert_string_equal(ni_summary_columns[NI_SUMMARY_V1_NCOLS - 1], "verdict");
  assert_string_equal(ni_summary_columns[NI_SUMMARY_V1_NCOLS], "nat_lower_s");
  assert_string_equal(ni_summary_columns[NI_SUMMARY_NCOLS - 1], "path_rtt_ms");
  assert_true(ni_csv_is_one_of("capture", ni_bracket_bases));
  assert_true(ni_csv_is_one_of("client_rtt", ni_bracket_bases));
  assert_false(ni_csv_is_one_of("guess", ni_bracket_bases));
  /* The keepalive log's original eight columns come first, unchanged. */
  static const char *const v1[NI_KALOG_V1_NCOLS] = {"at",      "account", "event",     "interval_s",
                                                    "outcome", "rtt_ms",  "bytes_out", "bytes_in"};
  for (size_t i = 0; i < NI_KALOG_V1_NCOLS; i++)
    assert_string_equal(ni_kalog_columns[i], v1[i]);
  assert_string_equal(ni_kalog_columns[NI_KALOG_NCOLS - 1], "cadence_s");
  assert_true(ni_csv_is_one_of("cadence", ni_kalog_events));
  assert_false(ni_csv_is_one_of("noop", ni_kalog_events));
  assert_true(ni_csv_is_one_of("dead_inbound", ni_obs_outcomes));
  assert_false(ni_csv_is_one_of("dead", ni_obs_outcomes));
  assert_true(ni_csv_is_one_of("masked_by_server", ni_verdicts));
  assert_false(ni_csv_is_one_of(NULL, ni_verdicts));
}

/* Read every row of `in`; returns the last ni_csv_reader_next result and
 * whether the row it read or refused was cut short. */
static int read_to_end(const char *in, int *rows, int *cut) {
  int err = 0, rc;
  ni_csv_reader *r = ni_csv_reader_from_mem(in, strlen(in), &err);
  assert_non_null(r);
  *rows = 0;
  while ((rc = ni_csv_reader_next(r)) == 1) {
    if (ni_csv_reader_cut_short(r)) break;
    (*rows)++;
  }
  *cut = ni_csv_reader_cut_short(r);
  ni_csv_reader_close(r);
  return rc;
}

static void test_cut_short(void **state) {
  (void)state;
  int rows, cut;
  /* Whole rows: nothing is cut. */
  assert_int_equal(read_to_end("a,b,c\n1,2,3\n4,5,6\n", &rows, &cut), 0);
  assert_int_equal(rows, 2);
  assert_false(cut);
  /* A last row without its line end, complete-looking or not. */
  assert_int_equal(read_to_end("a,b,c\n1,2,3\n4,5,6", &rows, &cut), 1);
  assert_int_equal(rows, 1);
  assert_true(cut);
  assert_int_equal(read_to_end("a,b,c\n1,2,3\n4,5", &rows, &cut), NI_ECSV);
  assert_int_equal(rows, 1);
  assert_true(cut);
  assert_int_equal(read_to_end("a,b,c\n1,2,3\n4,\"fi", &rows, &cut), NI_ECSV);
  assert_true(cut);
  /* Not what a killed writer leaves: too many fields, a quoted field
   * holding a line end, a stray quote, or a bad row before the last. */
  assert_int_equal(read_to_end("a,b,c\n1,2,3,4", &rows, &cut), NI_ECSV);
  assert_false(cut);
  assert_int_equal(read_to_end("a,b,c\n1,\"x\ny", &rows, &cut), NI_ECSV);
  assert_false(cut);
  assert_int_equal(read_to_end("a,b,c\n1,x\"y", &rows, &cut), NI_ECSV);
  assert_false(cut);
  assert_int_equal(read_to_end("a,b,c\n1,2\n4,5,6", &rows, &cut), NI_ECSV);
  assert_false(cut);
}

static void test_parse_utc(void **state) {
  (void)state;
  uint64_t ms = 7;
  assert_int_equal(ni_csv_parse_utc("2026-11-27T21:55:03.120Z", &ms), 0);
  assert_int_equal(ms, 1795816503120ull);
  assert_int_equal(ni_csv_parse_utc("1970-01-01T00:00:00Z", &ms), 0);
  assert_int_equal(ms, 0);
  assert_int_equal(ni_csv_parse_utc("2024-02-29T12:00:00.5Z", &ms), 0);
  assert_int_equal(ms % 1000, 500);
  assert_int_equal(ni_csv_parse_utc("2026-11-27T21:55:03.123456789Z", &ms), 0);
  assert_int_equal(ms, 1795816503123ull);
  /* Every time the writer formats comes back the same. */
  for (uint64_t t = 0; t < 4102444800000ull; t += 86399999ull * 37) {
    char b[NI_CSV_TIME_LEN];
    assert_int_equal(ni_csv_fmt_utc(b, sizeof(b), t), 0);
    assert_int_equal(ni_csv_parse_utc(b, &ms), 0);
    assert_int_equal(ms, t);
  }
  static const char *const bad[] = {"",
                                    "2026-11-27",
                                    "2026-11-27 21:55:03Z",
                                    "2026-11-27T21:55:03",
                                    "2026-11-27T21:55:03.Z",
                                    "2026-11-27T21:55:03.1234567890Z",
                                    "2026-11-27T21:55:03+01:00",
                                    "2026-13-01T00:00:00Z",
                                    "2026-02-29T00:00:00Z",
                                    "2026-04-31T00:00:00Z",
                                    "2026-11-27T24:00:00Z",
                                    "2026-12-31T23:59:60Z",
                                    "1969-12-31T23:59:59Z",
                                    "2026-11-27T21:55:03Zjunk",
                                    "+026-11-27T21:55:03Z"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    ms = 42;
    if (ni_csv_parse_utc(bad[i], &ms) != NI_EUSAGE) fail_msg("'%s' was accepted", bad[i]);
    assert_int_equal(ms, 42);
  }
  assert_int_equal(ni_csv_parse_utc(NULL, &ms), NI_EUSAGE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip_hostile, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mode_0644, setup, teardown),
      cmocka_unit_test(test_crlf_and_line_numbers),
      cmocka_unit_test(test_unknown_columns_ignored),
      cmocka_unit_test(test_reader_errors),
      cmocka_unit_test(test_oversize_field),
      cmocka_unit_test(test_oversize_row),
      cmocka_unit_test(test_no_header),
      cmocka_unit_test_setup_teardown(test_truncated_row_repaired, setup, teardown),
      cmocka_unit_test_setup_teardown(test_partial_header_repaired, setup, teardown),
      cmocka_unit_test_setup_teardown(test_header_mismatch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_from_file_and_single_column, setup, teardown),
      cmocka_unit_test(test_write_error_reported),
      cmocka_unit_test(test_every_prefix),
      cmocka_unit_test(test_formatting),
      cmocka_unit_test(test_column_lists),
      cmocka_unit_test(test_cut_short),
      cmocka_unit_test(test_parse_utc),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
