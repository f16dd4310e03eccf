/*
 * natidle/csv.h - RFC 4180 CSV files: an appending writer that survives a
 * crash mid-row, a bounded reader that addresses fields by column name, and
 * the column lists of the three files natidle writes (docs/CSV.md).
 *
 * Rows end in "\n" (readers accept "\r\n" too).  A field is quoted when it
 * holds a comma, a double quote, CR, LF, or leading or trailing white space;
 * quotes inside are doubled.  Every row is flushed before the write call
 * returns, so a killed process loses at most the row it was writing, and the
 * next open repairs that.
 */
#ifndef NATIDLE_CSV_H
#define NATIDLE_CSV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "natidle/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reader limits.  Input beyond them is an NI_ECSV error with a line number,
 * never an unbounded allocation. */
#define NI_CSV_MAX_FIELD (1024u * 1024u)    /* bytes in one field */
#define NI_CSV_MAX_ROW (4u * 1024u * 1024u) /* bytes in one row, all fields */
#define NI_CSV_MAX_COLS 1024u               /* fields in one row */

/* ---- Writer ------------------------------------------------------------ */

typedef struct ni_csv_writer ni_csv_writer;

/* Open `path` for appending rows of `ncols` columns named `cols`.
 * A new or empty file gets the header row.  A file that already holds rows
 * must have exactly this header (same names, same order), else NI_EMISMATCH
 * and the file is left untouched.  A last row cut short (the process was
 * killed mid-write: no final newline, or an open quoted field) is removed by
 * truncating the file after the last complete row.  New files get mode 0644
 * (minus the umask).
 * Returns the writer, or NULL with *err set (may be NULL) to -errno,
 * NI_EMISMATCH or NI_EUSAGE (ncols is 0 or above NI_CSV_MAX_COLS). */
NI_API ni_csv_writer *ni_csv_writer_open(const char *path, const char *const *cols, size_t ncols,
                                         int *err);

/* A writer on an already open stream (stdout, a pipe).  The stream is not
 * closed by ni_csv_writer_close().  The header row is written when
 * `write_header` is non-zero.  Returns NULL only when out of memory or when
 * ncols is 0 or above NI_CSV_MAX_COLS. */
NI_API ni_csv_writer *ni_csv_writer_from_file(FILE *f, const char *const *cols, size_t ncols,
                                              int write_header);

/* Call fsync(2) after every row when `on` is non-zero (files only; default
 * off: fflush alone survives a killed process, fsync also a power loss). */
NI_API void ni_csv_writer_set_sync(ni_csv_writer *w, int on);

/* Write one row of the writer's ncols fields; a NULL field is written empty.
 * The row is written with a single fwrite and flushed before returning.
 * Returns 0, or -errno of the failed write/flush/fsync (remembered: see
 * ni_csv_writer_close). */
NI_API int ni_csv_write_row(ni_csv_writer *w, const char *const *fields);

/* Flush, close (unless the stream came from ni_csv_writer_from_file) and
 * free.  Returns 0, or the first error any write or the close hit.
 * NULL is a no-op returning 0. */
NI_API int ni_csv_writer_close(ni_csv_writer *w);

/* ---- Reader ------------------------------------------------------------ */

typedef struct ni_csv_reader ni_csv_reader;

/* Open `path` and read its header row (a UTF-8 byte order mark before it is
 * skipped).  Returns NULL with *err (may be NULL) set to -errno, NI_ECSV (no
 * header row, or a malformed one) or -ENOMEM. */
NI_API ni_csv_reader *ni_csv_reader_open(const char *path, int *err);

/* The same over `len` bytes at `buf`, which must stay valid until the reader
 * is closed (it is not copied).  Error messages name the input "<memory>". */
NI_API ni_csv_reader *ni_csv_reader_from_mem(const char *buf, size_t len, int *err);

/* Read the next row.  Returns 1 when a row was read, 0 at the end of the
 * input, NI_ECSV on malformed input (unterminated quoted field, a field count
 * other than the header's, a field or row above the limits, stray quote) or
 * -errno on a read error.  Errors stick: later calls return the same error.
 * Empty lines between rows are skipped.  Accepts LF and CRLF line ends and
 * quoted fields with embedded newlines. */
NI_API int ni_csv_reader_next(ni_csv_reader *r);

/* The current row's field in column `column` (by header name; the first
 * column of that name when the header repeats it).  NULL when the file has
 * no such column or no row was read yet, "" when the field is empty.  The
 * string is valid until the next ni_csv_reader_next() call. */
NI_API const char *ni_csv_get(const ni_csv_reader *r, const char *column);

/* 1 when the header names `column`, else 0. */
NI_API int ni_csv_has_column(const ni_csv_reader *r, const char *column);

/* Number of columns in the header, and the name of column `i` (NULL when
 * out of range). */
NI_API size_t ni_csv_ncols(const ni_csv_reader *r);
NI_API const char *ni_csv_column_name(const ni_csv_reader *r, size_t i);

/* 1 when the row just read (ni_csv_reader_next returned 1), or the row it
 * just refused with NI_ECSV for a missing field or an unterminated quoted
 * field, ends at the end of the input without a line end and holds no line
 * end of its own: the last row of a file whose writer was killed mid-row.
 * natidle writes every row whole with its line end, so such a row is cut
 * short even when it parses (its last field may be cut); readers skip it.
 * 0 otherwise. */
NI_API int ni_csv_reader_cut_short(const ni_csv_reader *r);

/* Line number where the current row starts (1-based; the header is line 1).
 * After an error, the line where the error was found. */
NI_API size_t ni_csv_reader_line(const ni_csv_reader *r);

/* After an error, a one-line message naming the input and the line, e.g.
 * "runs.csv:17: unterminated quoted field"; "" when there was none. */
NI_API const char *ni_csv_reader_errstr(const ni_csv_reader *r);

/* Close the input and free.  NULL is a no-op. */
NI_API void ni_csv_reader_close(ni_csv_reader *r);

/* ---- Field formatting shared by every writer ---------------------------- */

/* Room for any timestamp ni_csv_fmt_utc writes, NUL included. */
#define NI_CSV_TIME_LEN 32

/* Write `unix_ms` (milliseconds since 1970-01-01 UTC, taken by the caller
 * from its wall clock) as ISO 8601 UTC with milliseconds, e.g.
 * "2026-11-27T21:55:03.120Z".  Returns 0, or NI_EUSAGE when `len` is too
 * small (buf gets ""). */
NI_API int ni_csv_fmt_utc(char *buf, size_t len, uint64_t unix_ms);

/* Write a duration of `ms` milliseconds as seconds with 3 decimals, e.g.
 * 90500 -> "90.500".  Returns 0, or NI_EUSAGE when `len` is too small. */
NI_API int ni_csv_fmt_seconds(char *buf, size_t len, ni_ms ms);

/* Read an ISO 8601 UTC time as ni_csv_fmt_utc writes it,
 * "YYYY-MM-DDTHH:MM:SS.mmmZ" (the fraction is optional and may have 1 to 9
 * digits; digits after the third are dropped), into milliseconds since 1970-01-01 UTC.
 * Years 1970 to 9999.  Returns 0, or NI_EUSAGE when `s` is not such a time
 * (*unix_ms is then left alone). */
NI_API int ni_csv_parse_utc(const char *s, uint64_t *unix_ms);

/* ---- The files natidle writes (docs/CSV.md) ----------------------------- */

/* Observations: one row per check of a probe session (probe --csv). */
#define NI_OBS_NCOLS 14
NI_API extern const char *const ni_obs_columns[NI_OBS_NCOLS];

/* Summary: one row per run and direction (probe --summary).  Summaries
 * written before the bracket in the NAT's terms was added hold only the
 * first NI_SUMMARY_V1_NCOLS of these columns; readers accept both, and the
 * writer of the current layout refuses to append to the older one
 * (NI_EMISMATCH). */
#define NI_SUMMARY_NCOLS 18
#define NI_SUMMARY_V1_NCOLS 14
NI_API extern const char *const ni_summary_columns[NI_SUMMARY_NCOLS];

/* Keepalive event log: one row per event of a push session (keepalive
 * --log).  Logs written before the network and cadence columns were added
 * hold only the first NI_KALOG_V1_NCOLS of these columns; readers accept
 * both, and the writer of the current layout refuses to append to the
 * older one (NI_EMISMATCH). */
#define NI_KALOG_NCOLS 14
#define NI_KALOG_V1_NCOLS 8
NI_API extern const char *const ni_kalog_columns[NI_KALOG_NCOLS];

/* The values of the keepalive log's `event` column, ending with NULL. */
NI_API extern const char *const ni_kalog_events[];

/* The allowed values of the observations' `outcome` column and of the
 * summary's `verdict` column, each list ending with NULL. */
NI_API extern const char *const ni_obs_outcomes[];
NI_API extern const char *const ni_verdicts[];
/* The values of the summary's `bracket_basis` column, ending with NULL. */
NI_API extern const char *const ni_bracket_bases[];

/* 1 when `s` is one of the NULL-terminated `list`, else 0. */
NI_API int ni_csv_is_one_of(const char *s, const char *const *list);

#ifdef __cplusplus
}
#endif
#endif /* NATIDLE_CSV_H */
