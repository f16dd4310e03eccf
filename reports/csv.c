/* RFC 4180 CSV: the appending, crash-repairing writer and the bounded reader
 * declared in natidle/csv.h. */
#include "natidle/csv.h"
#include "reports/report_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- Writer ------------------------------------------------------------ */

struct ni_csv_writer {
  FILE *f;
  int owns_file; /* opened by ni_csv_writer_open, so closed by us */
  int sync;      /* fsync after every row */
  int err;       /* first write error, reported again by close */
  size_t ncols;
  char *buf; /* the row being formatted */
  size_t cap;
  size_t len;
};

static int wbuf_put(ni_csv_writer *w, const char *p, size_t n) {
  if (n == 0) return 0; /* w->buf may still be NULL, and NULL + 0 is undefined */
  if (n > SIZE_MAX / 2 - w->len) return -ENOMEM;
  if (w->len + n > w->cap) {
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + n)
      cap *= 2;
    char *nb = realloc(w->buf, cap);
    if (!nb) return -ENOMEM;
    w->buf = nb;
    w->cap = cap;
  }
  memcpy(w->buf + w->len, p, n);
  w->len += n;
  return 0;
}

/* A field needs quotes when a reader would otherwise split it, or when
 * spreadsheet tools would trim its edge white space or its leading U+FEFF. */
static int needs_quotes(const char *s) {
  size_t n = strlen(s);
  if (n == 0) return 0;
  if (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t') return 1;
  /* A first field starting with U+FEFF would be taken for a byte order
   * mark and dropped by readers. */
  if (strncmp(s, "\xEF\xBB\xBF", 3) == 0) return 1;
  return strpbrk(s, ",\"\r\n") != NULL;
}

static int wbuf_field(ni_csv_writer *w, const char *s) {
  if (!s) s = "";
  if (!needs_quotes(s)) return wbuf_put(w, s, strlen(s));
  int rc = wbuf_put(w, "\"", 1);
  for (const char *p = s; rc == 0 && *p; p++) {
    const char *q = strchr(p, '"');
    size_t n = q ? (size_t)(q - p) + 1 : strlen(p);
    rc = wbuf_put(w, p, n);
    if (rc == 0 && q) rc = wbuf_put(w, "\"", 1); /* the doubled quote */
    p += n - 1;
  }
  return rc ? rc : wbuf_put(w, "\"", 1);
}

/* Format one row (header or data) into w->buf, ending in "\n". */
static int format_row(ni_csv_writer *w, const char *const *fields) {
  w->len = 0;
  for (size_t i = 0; i < w->ncols; i++) {
    int rc = (i ? wbuf_put(w, ",", 1) : 0);
    if (rc == 0) rc = wbuf_field(w, fields[i]);
    if (rc) return rc;
  }
  /* A lone empty field would be an empty line, which readers skip. */
  if (w->ncols == 1 && w->len == 0 && wbuf_put(w, "\"\"", 2)) return -ENOMEM;
  return wbuf_put(w, "\n", 1);
}

static int flush_row(ni_csv_writer *w) {
  errno = 0;
  if (fwrite(w->buf, 1, w->len, w->f) != w->len || fflush(w->f) != 0) return errno ? -errno : -EIO;
  if (w->sync && fsync(fileno(w->f)) != 0) {
    /* A pipe or terminal cannot be synced; that is not a lost row. */
    if (w->owns_file || (errno != EINVAL && errno != EROFS)) return -errno;
  }
  return 0;
}

static ni_csv_writer *writer_new(FILE *f, size_t ncols) {
  if (ncols == 0 || ncols > NI_CSV_MAX_COLS) return NULL;
  ni_csv_writer *w = calloc(1, sizeof(*w));
  if (w) {
    w->f = f;
    w->ncols = ncols;
  }
  return w;
}

ni_csv_writer *ni_csv_writer_from_file(FILE *f, const char *const *cols, size_t ncols,
                                       int write_header) {
  ni_csv_writer *w = writer_new(f, ncols);
  if (!w) return NULL;
  if (write_header) {
    int rc = format_row(w, cols);
    if (rc == 0) rc = flush_row(w);
    if (rc) w->err = rc;
  }
  return w;
}

/* Offset just past the last complete row: the last LF outside a quoted
 * field.  Rows are written whole, so anything after it is a row cut short. */
static int last_row_end(int fd, off_t *end, off_t *size) {
  char chunk[65536];
  int inq = 0;
  off_t pos = 0;
  *end = 0;
  for (;;) {
    ssize_t n = pread(fd, chunk, sizeof(chunk), pos);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) break;
    for (ssize_t i = 0; i < n; i++) {
      if (chunk[i] == '"')
        inq = !inq; /* a doubled quote toggles twice: no change */
      else if (chunk[i] == '\n' && !inq)
        *end = pos + i + 1;
    }
    pos += n;
  }
  *size = pos;
  return 0;
}

/* 0 when the file's header names exactly `cols`, else NI_EMISMATCH. */
static int check_header(const char *path, const char *const *cols, size_t ncols) {
  int err = 0;
  ni_csv_reader *r = ni_csv_reader_open(path, &err);
  if (!r) return err == NI_ECSV ? NI_EMISMATCH : err;
  int rc = 0;
  if (ni_csv_ncols(r) != ncols) rc = NI_EMISMATCH;
  for (size_t i = 0; rc == 0 && i < ncols; i++)
    if (strcmp(ni_csv_column_name(r, i), cols[i]) != 0) rc = NI_EMISMATCH;
  ni_csv_reader_close(r);
  return rc;
}

/* The file holds no complete row.  It may be our own header cut short;
 * anything else is not ours to truncate. */
static int check_partial_header(ni_csv_writer *w, int fd, off_t size) {
  if ((size_t)size >= w->len) return NI_EMISMATCH;
  char *got = malloc((size_t)size);
  if (!got) return -ENOMEM;
  ssize_t n = pread(fd, got, (size_t)size, 0);
  int rc = (n == size && memcmp(got, w->buf, (size_t)size) == 0) ? 0 : NI_EMISMATCH;
  if (n < 0) rc = -errno;
  free(got);
  return rc;
}

ni_csv_writer *ni_csv_writer_open(const char *path, const char *const *cols, size_t ncols,
                                  int *err) {
  int dummy, fd = -1, rc;
  off_t end = 0, size = 0;
  if (!err) err = &dummy;
  ni_csv_writer *w = writer_new(NULL, ncols);
  if (!w) {
    *err = (ncols == 0 || ncols > NI_CSV_MAX_COLS) ? NI_EUSAGE : -ENOMEM;
    return NULL;
  }
  w->owns_file = 1;
  rc = format_row(w, cols); /* the header, for comparison and writing */
  if (rc) goto fail;
  fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    rc = -errno;
    goto fail;
  }
  rc = last_row_end(fd, &end, &size);
  if (rc == 0 && end > 0)
    rc = check_header(path, cols, ncols);
  else if (rc == 0 && size > 0)
    rc = check_partial_header(w, fd, size);
  if (rc) goto fail;
  if (end < size && ftruncate(fd, end) != 0) {
    rc = -errno;
    goto fail;
  }
  if (lseek(fd, 0, SEEK_END) < 0 || !(w->f = fdopen(fd, "a"))) {
    rc = -errno;
    goto fail;
  }
  fd = -1; /* owned by w->f now */
  if (end == 0 && (rc = flush_row(w)) != 0) goto fail;
  *err = 0;
  return w;
fail:
  if (fd >= 0) close(fd);
  if (w->f) fclose(w->f);
  free(w->buf);
  free(w);
  *err = rc;
  return NULL;
}

void ni_csv_writer_set_sync(ni_csv_writer *w, int on) {
  if (w) w->sync = on != 0;
}

int ni_csv_write_row(ni_csv_writer *w, const char *const *fields) {
  int rc = format_row(w, fields);
  if (rc == 0) rc = flush_row(w);
  if (rc && !w->err) w->err = rc;
  return rc;
}

int ni_csv_writer_close(ni_csv_writer *w) {
  if (!w) return 0;
  int rc = w->err;
  if (w->owns_file) {
    if (fclose(w->f) != 0 && rc == 0) rc = -errno;
  } else if (fflush(w->f) != 0 && rc == 0) {
    rc = -errno;
  }
  free(w->buf);
  free(w);
  return rc;
}

/* ---- Reader ------------------------------------------------------------ */

struct ni_csv_reader {
  /* Input: a FILE, or a memory buffer. */
  FILE *f;
  const unsigned char *mem;
  size_t mem_len, mem_pos;
  int ahead[3]; /* bytes read ahead and given back, a stack */
  int nahead;

  char *name;  /* the input's name for messages */
  size_t line; /* physical line of the next byte */
  size_t row_line;
  int err;
  int ioerr; /* errno of a failed read; the parser saw end of input */
  char errstr[320];

  /* The current record: NUL-terminated fields packed in buf. */
  char *buf;
  size_t cap, len;
  size_t *off;
  size_t off_cap, nf;
  int have_row;
  int cut; /* the record ended at the end of input with no line end at all */

  /* The header, a copy of the first record. */
  char *hdr_buf;
  size_t *hdr_off;
  size_t ncols;
};

#define NI_CSV_EOF (-1)

static int rd_get(ni_csv_reader *r) {
  if (r->nahead > 0) return r->ahead[--r->nahead];
  if (r->mem) return r->mem_pos < r->mem_len ? r->mem[r->mem_pos++] : NI_CSV_EOF;
  if (!r->f) return NI_CSV_EOF; /* an empty memory buffer */
  int c = getc(r->f);
  if (c != EOF) return c;
  if (ferror(r->f) && !r->ioerr) r->ioerr = errno ? errno : EIO;
  return NI_CSV_EOF;
}

static int rd_fail(ni_csv_reader *r, size_t line, const char *fmt, ...) {
  char msg[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  snprintf(r->errstr, sizeof(r->errstr), "%.100s:%zu: %s", r->name, line, msg);
  r->row_line = line;
  r->err = NI_ECSV;
  r->have_row = 0;
  return r->err;
}

static int rd_put(ni_csv_reader *r, int c, size_t field_start) {
  if (r->len - field_start >= NI_CSV_MAX_FIELD)
    return rd_fail(r, r->line, "field longer than %u bytes", NI_CSV_MAX_FIELD);
  if (r->len >= NI_CSV_MAX_ROW + NI_CSV_MAX_COLS)
    return rd_fail(r, r->row_line, "row longer than %u bytes", NI_CSV_MAX_ROW);
  if (r->len == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 1024;
    char *nb = realloc(r->buf, cap);
    if (!nb) {
      r->err = -ENOMEM;
      return r->err;
    }
    r->buf = nb;
    r->cap = cap;
  }
  r->buf[r->len++] = (char)c;
  return 0;
}

/* Start a new field at the end of buf. */
static int rd_begin_field(ni_csv_reader *r) {
  if (r->nf >= NI_CSV_MAX_COLS)
    return rd_fail(r, r->row_line, "more than %u fields", NI_CSV_MAX_COLS);
  if (r->nf == r->off_cap) {
    size_t cap = r->off_cap ? r->off_cap * 2 : 16;
    size_t *no = realloc(r->off, cap * sizeof(*no));
    if (!no) {
      r->err = -ENOMEM;
      return r->err;
    }
    r->off = no;
    r->off_cap = cap;
  }
  r->off[r->nf++] = r->len;
  return 0;
}

/* After a CR outside quotes only LF may follow. */
static int rd_crlf(ni_csv_reader *r) {
  int c = rd_get(r);
  if (c == '\n') return 0;
  return rd_fail(r, r->line, "carriage return not followed by a line feed");
}

/* Parse one record into buf/off.  Returns 1, 0 at end of input, <0 error.
 * The grammar is RFC 4180 section 2, with LF accepted as a line end. */
static int rd_record(ni_csv_reader *r) {
  int c, rc;
  r->len = 0;
  r->nf = 0;
  r->cut = 0;
  for (;;) { /* skip empty lines */
    c = rd_get(r);
    if (c == NI_CSV_EOF) return 0;
    if (c == '\r' && (rc = rd_crlf(r)) != 0) return rc;
    if (c != '\r' && c != '\n') break;
    r->line++;
  }
  r->row_line = r->line;
  for (;;) { /* one field per iteration; c is its first byte */
    if ((rc = rd_begin_field(r)) != 0) return rc;
    size_t start = r->len;
    if (c == '"') {
      size_t qline = r->line;
      for (;;) {
        c = rd_get(r);
        if (c == NI_CSV_EOF) {
          r->cut = r->line == r->row_line;
          return rd_fail(r, qline, "unterminated quoted field");
        }
        if (c == '"') {
          c = rd_get(r);
          if (c != '"') break; /* closing quote; c is the byte after it */
        } else if (c == '\n') {
          r->line++;
        } else if (c == 0) {
          return rd_fail(r, r->line, "NUL byte in field");
        }
        if ((rc = rd_put(r, c, start)) != 0) return rc;
      }
      if (c != ',' && c != '\n' && c != '\r' && c != NI_CSV_EOF)
        return rd_fail(r, r->line, "unexpected character after a closing quote");
    } else {
      while (c != ',' && c != '\n' && c != '\r' && c != NI_CSV_EOF) {
        if (c == '"') return rd_fail(r, r->line, "quote inside an unquoted field");
        if (c == 0) return rd_fail(r, r->line, "NUL byte in field");
        if ((rc = rd_put(r, c, start)) != 0) return rc;
        c = rd_get(r);
      }
    }
    /* The terminating NUL does not count against the field limit. */
    if (r->len == r->cap && (rc = rd_put(r, 0, r->len)) == 0) r->len--;
    if (rc) return rc;
    r->buf[r->len++] = '\0';
    if (c == ',') {
      c = rd_get(r);
      continue;
    }
    if (c == '\r' && (rc = rd_crlf(r)) != 0) return rc;
    if (c != NI_CSV_EOF)
      r->line++;
    else
      r->cut = r->line == r->row_line;
    return 1;
  }
}

/* A read error ends the input early; report it instead of whatever the
 * parser made of the truncated input. */
static int rd_check_io(ni_csv_reader *r, int rc) {
  if (!r->ioerr) return rc;
  snprintf(r->errstr, sizeof(r->errstr), "%.100s: %s", r->name, strerror(r->ioerr));
  r->err = -r->ioerr;
  r->have_row = 0;
  return r->err;
}

/* Read the header.  On malformed input the reader is closed, or, with
 * `keep`, returned in its error state so the caller can show errstr. */
static ni_csv_reader *reader_start(ni_csv_reader *r, int *err, int keep) {
  int dummy;
  if (!err) err = &dummy;
  r->line = 1;
  /* Skip a UTF-8 byte order mark, as spreadsheet exports write it.  Bytes
   * that only start like one are data: give them back, last first. */
  static const int bom[3] = {0xEF, 0xBB, 0xBF};
  int got[3], n = 0;
  while (n < 3 && (got[n] = rd_get(r)) == bom[n])
    n++;
  if (n < 3) {
    if (got[n] != NI_CSV_EOF) r->ahead[r->nahead++] = got[n];
    while (n > 0)
      r->ahead[r->nahead++] = got[--n];
  }
  int rc = rd_check_io(r, rd_record(r));
  if (rc == 0) rc = rd_fail(r, 1, "empty file, no header row");
  if (rc < 0) {
    *err = rc;
    if (keep && rc == NI_ECSV) return r;
    goto fail;
  }
  r->hdr_buf = malloc(r->len ? r->len : 1);
  r->hdr_off = malloc(r->nf * sizeof(*r->hdr_off));
  if (!r->hdr_buf || !r->hdr_off) {
    *err = -ENOMEM;
    goto fail;
  }
  memcpy(r->hdr_buf, r->buf, r->len);
  memcpy(r->hdr_off, r->off, r->nf * sizeof(*r->hdr_off));
  r->ncols = r->nf;
  r->nf = 0;
  r->row_line = 1;
  *err = 0;
  return r;
fail:
  ni_csv_reader_close(r);
  return NULL;
}

static ni_csv_reader *reader_new(const char *name) {
  ni_csv_reader *r = calloc(1, sizeof(*r));
  if (!r) return NULL;
  r->name = strdup(name);
  if (!r->name) {
    free(r);
    return NULL;
  }
  return r;
}

ni_csv_reader *ni__csv_reader_open_keep(const char *path, int *err, int keep) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (err) *err = -errno;
    return NULL;
  }
  ni_csv_reader *r = reader_new(path);
  if (!r) {
    fclose(f);
    if (err) *err = -ENOMEM;
    return NULL;
  }
  r->f = f;
  return reader_start(r, err, keep);
}

ni_csv_reader *ni_csv_reader_open(const char *path, int *err) {
  return ni__csv_reader_open_keep(path, err, 0);
}

ni_csv_reader *ni_csv_reader_from_mem(const char *buf, size_t len, int *err) {
  ni_csv_reader *r = reader_new("<memory>");
  if (!r) {
    if (err) *err = -ENOMEM;
    return NULL;
  }
  /* A zero-length buffer leaves mem NULL; rd_get then sees end of input. */
  r->mem = len ? (const unsigned char *)buf : NULL;
  r->mem_len = len;
  return reader_start(r, err, 0);
}

int ni_csv_reader_next(ni_csv_reader *r) {
  if (r->err) return r->err;
  r->have_row = 0;
  int rc = rd_check_io(r, rd_record(r));
  if (rc <= 0) return rc;
  if (r->nf != r->ncols) {
    /* A row cut short can only have lost fields, never gained any. */
    if (r->nf > r->ncols) r->cut = 0;
    return rd_fail(r, r->row_line, "expected %zu fields, found %zu", r->ncols, r->nf);
  }
  r->have_row = 1;
  return 1;
}

static long column_index(const ni_csv_reader *r, const char *column) {
  for (size_t i = 0; r && i < r->ncols; i++)
    if (strcmp(r->hdr_buf + r->hdr_off[i], column) == 0) return (long)i;
  return -1;
}

const char *ni_csv_get(const ni_csv_reader *r, const char *column) {
  long i = column_index(r, column);
  if (i < 0 || !r->have_row) return NULL;
  return r->buf + r->off[i];
}

int ni_csv_has_column(const ni_csv_reader *r, const char *column) {
  return column_index(r, column) >= 0;
}

size_t ni_csv_ncols(const ni_csv_reader *r) {
  return r->ncols;
}

const char *ni_csv_column_name(const ni_csv_reader *r, size_t i) {
  return i < r->ncols ? r->hdr_buf + r->hdr_off[i] : NULL;
}

int ni_csv_reader_cut_short(const ni_csv_reader *r) {
  return r->cut && (r->have_row || r->err == NI_ECSV);
}

size_t ni_csv_reader_line(const ni_csv_reader *r) {
  return r->row_line;
}

const char *ni_csv_reader_errstr(const ni_csv_reader *r) {
  return r->errstr;
}

void ni_csv_reader_close(ni_csv_reader *r) {
  if (!r) return;
  if (r->f) fclose(r->f);
  free(r->name);
  free(r->buf);
  free(r->off);
  free(r->hdr_buf);
  free(r->hdr_off);
  free(r);
}

/* ---- Field formatting --------------------------------------------------- */

int ni_csv_fmt_utc(char *buf, size_t len, uint64_t unix_ms) {
  time_t secs = (time_t)(unix_ms / 1000);
  struct tm tm;
  if (len) buf[0] = '\0';
  if (!gmtime_r(&secs, &tm)) return NI_EUSAGE;
  int n =
      snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
               tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(unix_ms % 1000));
  if (n < 0 || (size_t)n >= len) {
    if (len) buf[0] = '\0';
    return NI_EUSAGE;
  }
  return 0;
}

/* Days from 1970-01-01 to year-month-day in the proleptic Gregorian
 * calendar (H. Hinnant's days_from_civil), so no timegm() is needed. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* `n` decimal digits at *p into *v; advances *p.  0, or -1 when a byte is
 * not a digit. */
static int digits(const char **p, int n, unsigned *v) {
  *v = 0;
  for (int i = 0; i < n; i++, (*p)++) {
    if (**p < '0' || **p > '9') return -1;
    *v = *v * 10 + (unsigned)(**p - '0');
  }
  return 0;
}

/* Second 60 (a leap second) is refused: gmtime() never gives it, so
 * natidle never writes it, and 9999-12-31T23:59:60 would have no time that
 * formats back to it. */
int ni_csv_parse_utc(const char *s, uint64_t *unix_ms) {
  static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  unsigned y, mo, d, h, mi, sec, ms = 0;
  const char *p = s;
  if (!s || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
      digits(&p, 2, &d) || *p++ != 'T' || digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) ||
      *p++ != ':' || digits(&p, 2, &sec))
    return NI_EUSAGE;
  if (*p == '.') {
    int n = 0;
    for (p++; *p >= '0' && *p <= '9' && n < 9; p++, n++)
      if (n < 3) ms = ms * 10 + (unsigned)(*p - '0');
    if (n == 0) return NI_EUSAGE;
    for (; n < 3; n++)
      ms *= 10;
  }
  if (*p++ != 'Z' || *p || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
      mi > 59 || sec > 59)
    return NI_EUSAGE;
  if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) return NI_EUSAGE;
  int64_t days = days_from_civil(y, mo, d);
  *unix_ms = ((uint64_t)days * 86400u + h * 3600u + mi * 60u + sec) * 1000u + ms;
  return 0;
}

int ni_csv_fmt_seconds(char *buf, size_t len, ni_ms ms) {
  int n = snprintf(buf, len, "%" PRIu64 ".%03u", ms / 1000, (unsigned)(ms % 1000));
  if (n < 0 || (size_t)n >= len) {
    if (len) buf[0] = '\0';
    return NI_EUSAGE;
  }
  return 0;
}
