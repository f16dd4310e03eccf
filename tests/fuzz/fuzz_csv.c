/* libFuzzer target for the CSV reader: any input either parses or fails
 * with NI_ECSV, within the limits, without crashing or leaking.  Every row
 * it accepts is written back with the writer and read again: the round trip
 * must give the same fields (the writer quotes whatever needs quoting).  A
 * row the reader calls cut short must be the input's last, and every field
 * that reads as a UTC time must format back to a time that reads the same
 * (the keepalive log's `at`). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "natidle/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* At most this many rows per input are checked, to keep runs fast. */
#define MAX_ROWS 64

static void check_utc(const char *s) {
  uint64_t ms, again;
  char buf[NI_CSV_TIME_LEN];
  if (ni_csv_parse_utc(s, &ms) != 0) return;
  if (ni_csv_fmt_utc(buf, sizeof(buf), ms) != 0) abort();
  if (ni_csv_parse_utc(buf, &again) != 0 || again != ms) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int err = 0, rc;
  ni_csv_reader *r = ni_csv_reader_from_mem((const char *)data, size, &err);
  if (!r) {
    if (err != NI_ECSV && err != -ENOMEM) abort();
    return 0;
  }
  size_t ncols = ni_csv_ncols(r);
  const char **names = calloc(ncols, sizeof(*names));
  char *out = NULL;
  size_t outlen = 0;
  FILE *f = open_memstream(&out, &outlen);
  if (!names || !f) abort();
  for (size_t i = 0; i < ncols; i++)
    names[i] = ni_csv_column_name(r, i);
  ni_csv_writer *w = ni_csv_writer_from_file(f, names, ncols, 1);
  if (!w) abort();
  const char **fields = calloc(ncols, sizeof(*fields));
  size_t rows = 0;
  int was_cut = 0;
  while (rows < MAX_ROWS && (rc = ni_csv_reader_next(r)) == 1) {
    if (was_cut) abort(); /* a cut row ends the input: nothing may follow it */
    was_cut = ni_csv_reader_cut_short(r);
    for (size_t i = 0; i < ncols; i++) {
      fields[i] = ni_csv_get(r, names[i]);
      check_utc(fields[i]);
    }
    if (ni_csv_write_row(w, fields) != 0) abort();
    rows++;
  }
  ni_csv_writer_close(w);
  fclose(f);

  /* Read the copy back and compare field by field.  A header may repeat a
   * name; ni_csv_get then gives the first such column in both readers. */
  ni_csv_reader *again = ni_csv_reader_from_mem(out, outlen, &err);
  if (!again || ni_csv_ncols(again) != ncols) abort();
  for (size_t i = 0; i < ncols; i++)
    if (strcmp(ni_csv_column_name(again, i), names[i]) != 0) abort();
  ni_csv_reader_close(r);
  r = ni_csv_reader_from_mem((const char *)data, size, &err);
  for (size_t k = 0; k < rows; k++) {
    if (ni_csv_reader_next(r) != 1 || ni_csv_reader_next(again) != 1) abort();
    for (size_t i = 0; i < ncols; i++) {
      const char *n = ni_csv_column_name(r, i);
      if (strcmp(ni_csv_get(r, n), ni_csv_get(again, n)) != 0) abort();
    }
  }
  if (rows < MAX_ROWS && ni_csv_reader_next(again) != 0) abort();
  ni_csv_reader_close(again);
  ni_csv_reader_close(r);
  free(fields);
  free(names);
  free(out);
  return 0;
}
