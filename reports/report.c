/* Loading summary and observations CSVs, merging runs per network, the
 * terminal table and the merged CSV, and the keepalive cost model. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/num.h"
#include "natidle/csv.h"
#include "reports/report_int.h"

/* ---- Arena of strings ---------------------------------------------------- */

struct ni__chunk {
  struct ni__chunk *next;
  size_t used, cap;
  char data[];
};

const char *ni__arena_dup(ni_report *rep, const char *s) {
  size_t n = strlen(s) + 1;
  struct ni__chunk *c = rep->arena;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > 16384 ? n : 16384;
    c = malloc(sizeof(*c) + cap);
    if (!c) return NULL;
    c->next = rep->arena;
    c->used = 0;
    c->cap = cap;
    rep->arena = c;
  }
  char *p = c->data + c->used;
  memcpy(p, s, n);
  c->used += n;
  return p;
}

int ni__grow(void *arr, size_t *cap, size_t need, size_t size) {
  void **p = arr;
  if (need <= *cap) return 0;
  size_t ncap = *cap ? *cap : 8;
  while (ncap < need)
    ncap *= 2;
  if (ncap > SIZE_MAX / size) return -ENOMEM;
  void *np = realloc(*p, ncap * size);
  if (!np) return -ENOMEM;
  *p = np;
  *cap = ncap;
  return 0;
}

ni_report *ni_report_new(void) {
  return calloc(1, sizeof(ni_report));
}

void ni_report_free(ni_report *rep) {
  if (!rep) return;
  while (rep->arena) {
    struct ni__chunk *next = rep->arena->next;
    free(rep->arena);
    rep->arena = next;
  }
  free(rep->files);
  free(rep->runs);
  free(rep->obs);
  free(rep->plots);
  free(rep->rows);
  free(rep->ka);
  free(rep->kalogs);
  free(rep);
}

/* ---- Small shared helpers ------------------------------------------------- */

const char *ni__fmt_s(char *buf, size_t len, double v, const char *empty) {
  if (isnan(v)) {
    snprintf(buf, len, "%s", empty);
    return buf;
  }
  snprintf(buf, len, "%.3f", v);
  char *dot = strchr(buf, '.');
  if (dot) {
    char *end = buf + strlen(buf) - 1;
    while (end > dot && *end == '0')
      *end-- = '\0';
    if (end == dot) *end = '\0';
  }
  if (strcmp(buf, "-0") == 0) snprintf(buf, len, "0");
  return buf;
}

int ni__verdict_index(const char *v) {
  for (int i = 0; ni_verdicts[i]; i++)
    if (strcmp(v, ni_verdicts[i]) == 0) return i;
  return -1;
}

int ni__outcome_dead(const char *outcome) {
  return strncmp(outcome, "dead_", 5) == 0 && ni_csv_is_one_of(outcome, ni_obs_outcomes);
}

/* ---- Loading -------------------------------------------------------------- */

int ni__load_fail(ni__loadctx *c, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  /* The message quotes fields, and a quoted field may hold a line end or
   * other control characters: the message must stay one line. */
  for (char *p = msg; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
  if (c->errlen)
    snprintf(c->errbuf, c->errlen, "%s:%zu: %s", c->path, c->r ? ni_csv_reader_line(c->r) : 1, msg);
  return NI_ECSV;
}

static int need_columns(ni__loadctx *c, const char *const *cols, size_t n, const char *what) {
  for (size_t i = 0; i < n; i++)
    if (!ni_csv_has_column(c->r, cols[i]))
      return ni__load_fail(c, "%s CSV without a '%s' column", what, cols[i]);
  return 0;
}

/* A number of seconds: empty gives NAN; otherwise a finite value >= 0. */
int ni__load_seconds(ni__loadctx *c, const char *col, double *out) {
  const char *s = ni_csv_get(c->r, col);
  char *end;
  if (!s || !*s) {
    *out = NAN;
    return 0;
  }
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || end == s || !isfinite(v) || v < 0 || v > 1e9)
    return ni__load_fail(c, "%s: '%.40s' is not a number of seconds", col, s);
  *out = v;
  return 0;
}

int ni__load_uint(ni__loadctx *c, const char *col, unsigned long max, unsigned long *out) {
  const char *s = ni_csv_get(c->r, col);
  char *end;
  if (!s || !*s || *s < '0' || *s > '9')
    return ni__load_fail(c, "%s: '%.40s' is not a whole number", col, s ? s : "");
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || v > max)
    return ni__load_fail(c, "%s: '%.40s' is not a whole number up to %lu", col, s, max);
  *out = v;
  return 0;
}

/* Copy column `col` of the current row into the arena. */
int ni__load_str(ni__loadctx *c, const char *col, const char **out) {
  const char *s = ni_csv_get(c->r, col);
  *out = ni__arena_dup(c->rep, s ? s : "");
  return *out ? 0 : -ENOMEM;
}

static int load_summary_row(ni__loadctx *c) {
  ni_report *rep = c->rep;
  ni_run_summary s;
  unsigned long port, nobs = 0;
  int rc;
  memset(&s, 0, sizeof(s));
  if ((rc = ni__load_str(c, "run_id", &s.run_id)) ||
      (rc = ni__load_str(c, "network", &s.network)) ||
      (rc = ni__load_str(c, "server", &s.server)) || (rc = ni__load_str(c, "tls", &s.tls)) ||
      (rc = ni__load_str(c, "direction", &s.direction)) ||
      (rc = ni__load_str(c, "verdict", &s.verdict)))
    return rc;
  if (ni__verdict_index(s.verdict) < 0)
    return ni__load_fail(c,
                         "verdict: '%.40s' is not one of measured, above_max, "
                         "masked_by_server, inconclusive, no_push",
                         s.verdict);
  if ((rc = ni__load_uint(c, "port", 65535, &port)) ||
      (rc = ni__load_seconds(c, "lower_s", &s.lower_s)) ||
      (rc = ni__load_seconds(c, "upper_s", &s.upper_s)) ||
      (rc = ni__load_seconds(c, "estimate_s", &s.estimate_s)) ||
      (rc = ni__load_seconds(c, "wall_s", &s.wall_s)) ||
      (rc = ni__load_seconds(c, "server_keepalive_s", &s.server_keepalive_s)) ||
      (rc = ni__load_seconds(c, "recommended_keepalive_s", &s.recommended_keepalive_s)))
    return rc;
  /* Absent in older summaries: NAN and "" then. */
  if ((rc = ni__load_seconds(c, "nat_lower_s", &s.nat_lower_s)) ||
      (rc = ni__load_seconds(c, "nat_upper_s", &s.nat_upper_s)) ||
      (rc = ni__load_seconds(c, "path_rtt_ms", &s.path_rtt_ms)) ||
      (rc = ni__load_str(c, "bracket_basis", &s.bracket_basis)))
    return rc;
  if (*s.bracket_basis && !ni_csv_is_one_of(s.bracket_basis, ni_bracket_bases))
    return ni__load_fail(c, "bracket_basis: '%.40s' is not one of capture, client_rtt",
                         s.bracket_basis);
  if (!isnan(s.nat_lower_s) && !isnan(s.nat_upper_s) && s.nat_upper_s < s.nat_lower_s)
    return ni__load_fail(c, "nat_upper_s %g is below nat_lower_s %g", s.nat_upper_s, s.nat_lower_s);
  const char *o = ni_csv_get(c->r, "observations");
  s.observations = -1;
  if (o && *o) {
    if ((rc = ni__load_uint(c, "observations", 1000000000ul, &nobs)) != 0) return rc;
    s.observations = (long)nobs;
  }
  if (!isnan(s.lower_s) && !isnan(s.upper_s) && s.upper_s < s.lower_s)
    return ni__load_fail(c, "upper_s %g is below lower_s %g", s.upper_s, s.lower_s);
  s.port = (unsigned)port;
  s.source = c->path;
  s.line = ni_csv_reader_line(c->r);
  if ((rc = ni__grow(&rep->runs, &rep->runs_cap, rep->nruns + 1, sizeof(s))) != 0) return rc;
  rep->runs[rep->nruns++] = s;
  return 0;
}

static int find_or_add_plot(ni_report *rep, const ni__plot *key, size_t *idx) {
  for (size_t i = rep->nplots; i-- > 0;) {
    const ni__plot *p = &rep->plots[i];
    if (p->file == key->file && !strcmp(p->run_id, key->run_id) &&
        !strcmp(p->direction, key->direction)) {
      *idx = i;
      return 0;
    }
  }
  int rc = ni__grow(&rep->plots, &rep->plots_cap, rep->nplots + 1, sizeof(*key));
  if (rc) return rc;
  rep->plots[rep->nplots] = *key;
  *idx = rep->nplots++;
  return 0;
}

static int load_obs_row(ni__loadctx *c) {
  ni_report *rep = c->rep;
  ni__plot key;
  ni__obs o;
  unsigned long port, session;
  int rc;
  memset(&key, 0, sizeof(key));
  memset(&o, 0, sizeof(o));
  if ((rc = ni__load_str(c, "outcome", &o.outcome)) != 0) return rc;
  if (!ni_csv_is_one_of(o.outcome, ni_obs_outcomes))
    return ni__load_fail(c, "outcome: '%.40s' is not a known outcome", o.outcome);
  if ((rc = ni__load_uint(c, "session", 1000000ul, &session)) ||
      (rc = ni__load_uint(c, "port", 65535, &port)) ||
      (rc = ni__load_seconds(c, "silence_s", &o.silence_s)) ||
      (rc = ni__load_seconds(c, "target_s", &o.target_s)))
    return rc;
  if (isnan(o.silence_s)) return ni__load_fail(c, "silence_s is empty");
  o.session = (unsigned)session;
  key.file = rep->nfiles - 1;
  key.port = (unsigned)port;
  if ((rc = ni__load_str(c, "run_id", &key.run_id)) ||
      (rc = ni__load_str(c, "network", &key.network)) ||
      (rc = ni__load_str(c, "server", &key.server)) || (rc = ni__load_str(c, "tls", &key.tls)) ||
      (rc = ni__load_str(c, "direction", &key.direction)))
    return rc;
  if ((rc = find_or_add_plot(rep, &key, &o.plot)) != 0 ||
      (rc = ni__grow(&rep->obs, &rep->obs_cap, rep->nobs + 1, sizeof(o))) != 0)
    return rc;
  rep->plots[o.plot].checks++;
  rep->obs[rep->nobs++] = o;
  return 0;
}

static const char *const obs_required[] = {"run_id",  "network",   "server",    "port",   "tls",
                                           "session", "silence_s", "direction", "outcome"};

int ni_report_load(ni_report *rep, const char *path, enum ni_report_file *kind, char *errbuf,
                   size_t errlen) {
  ni__loadctx c = {rep, NULL, path, errbuf, errlen};
  int rc = 0;
  if (errlen) errbuf[0] = '\0';
  c.r = ni__csv_reader_open_keep(path, &rc, 1);
  if (!c.r) {
    if (errlen) snprintf(errbuf, errlen, "%s: %s", path, ni_strerror(rc));
    return rc;
  }
  if (rc == NI_ECSV) {
    if (errlen) snprintf(errbuf, errlen, "%s", ni_csv_reader_errstr(c.r));
    ni_csv_reader_close(c.r);
    return rc;
  }
  int is_summary = ni_csv_has_column(c.r, "verdict");
  int is_obs = ni_csv_has_column(c.r, "outcome") && ni_csv_has_column(c.r, "silence_s");
  int is_kalog = !is_summary && !is_obs && ni__is_kalog(c.r);
  int (*load_row)(ni__loadctx *) = NULL;
  const char *stored = ni__arena_dup(rep, path);
  if (!stored || ni__grow(&rep->files, &rep->files_cap, rep->nfiles + 1, sizeof(char *))) {
    rc = -ENOMEM;
    goto out;
  }
  c.path = stored;
  rep->files[rep->nfiles++] = stored;
  if (is_summary) {
    /* The columns appended later (the bracket in the NAT's terms) are
     * optional: older summaries lack them. */
    rc = need_columns(&c, ni_summary_columns, NI_SUMMARY_V1_NCOLS, "summary");
    load_row = load_summary_row;
  } else if (is_obs) {
    rc = need_columns(&c, obs_required, sizeof(obs_required) / sizeof(*obs_required),
                      "observations");
    load_row = load_obs_row;
  } else if (is_kalog) {
    rc = ni__kalog_columns(&c);
    load_row = ni__load_kalog_row;
  } else {
    rc = ni__load_fail(&c, "neither a summary CSV (no 'verdict' column), an observations CSV "
                           "(no 'outcome' and 'silence_s' columns) nor a keepalive log (no "
                           "'event' and 'account' columns)");
  }
  if (kind)
    *kind = is_summary ? NI_REPORT_SUMMARY : is_kalog ? NI_REPORT_KALOG : NI_REPORT_OBSERVATIONS;
  while (rc == 0) {
    rc = ni_csv_reader_next(c.r);
    if ((rc == 1 || rc == NI_ECSV) && ni_csv_reader_cut_short(c.r)) {
      /* The writer flushes whole rows, so a last row without its line end
       * is what a crash leaves: the rows before it are all there. */
      if (errlen)
        snprintf(errbuf, errlen, "%s:%zu: last row cut short (no line end), left out", path,
                 ni_csv_reader_line(c.r));
      rc = 0;
      break;
    }
    if (rc == 1)
      rc = load_row(&c);
    else if (rc == 0)
      break;
    else if (rc == NI_ECSV && errlen)
      snprintf(errbuf, errlen, "%s", ni_csv_reader_errstr(c.r));
  }
  if (rc == -ENOMEM && errlen)
    snprintf(errbuf, errlen, "%s: out of memory", path);
  else if (rc < 0 && rc != NI_ECSV && errlen)
    snprintf(errbuf, errlen, "%s: %s", path, ni_strerror(rc));
out:
  rep->rows_stale = 1;
  rep->kalogs_stale = 1;
  ni_csv_reader_close(c.r);
  return rc;
}

size_t ni_report_nruns(const ni_report *rep) {
  return rep->nruns;
}

const ni_run_summary *ni_report_run(const ni_report *rep, size_t i) {
  return i < rep->nruns ? &rep->runs[i] : NULL;
}

/* ---- Merging -------------------------------------------------------------- */

static int same_group(const ni_net_row *row, const ni_run_summary *s) {
  return row->port == s->port && !strcmp(row->network, s->network) &&
         !strcmp(row->server, s->server) && !strcmp(row->tls, s->tls) &&
         !strcmp(row->direction, s->direction);
}

static int bounds_bracket(const ni_run_summary *s) {
  return !isnan(s->lower_s) &&
         (!strcmp(s->verdict, "measured") || !strcmp(s->verdict, "above_max"));
}

/* Fill the statistics of `row` from every run of its group. */
static int merge_group(ni_report *rep, ni_net_row *row, double *scratch) {
  size_t n = 0;
  double lo = -INFINITY, hi = INFINITY, best_w = INFINITY;
  double nl = NAN, nu = NAN;
  int any_bracket = 0;
  for (size_t i = 0; i < rep->nruns; i++) {
    const ni_run_summary *s = &rep->runs[i];
    if (!same_group(row, s)) continue;
    row->runs++;
    row->verdicts[ni__verdict_index(s->verdict)]++;
    if (!isnan(s->estimate_s)) scratch[n++] = s->estimate_s;
    /* A masked run recommends no client keepalive (the server's own holds
     * the mapping); one written by an older natidle still carries a cadence
     * below the server's, which would only add wakeups beside it. */
    int masked = !strcmp(s->verdict, "masked_by_server");
    if (!masked && !isnan(s->recommended_keepalive_s) &&
        (isnan(row->recommended_s) || s->recommended_keepalive_s < row->recommended_s))
      row->recommended_s = s->recommended_keepalive_s;
    if (!isnan(s->server_keepalive_s) &&
        (isnan(row->server_keepalive_s) || s->server_keepalive_s < row->server_keepalive_s))
      row->server_keepalive_s = s->server_keepalive_s;
    if (!bounds_bracket(s)) continue;
    any_bracket = 1;
    double u = isnan(s->upper_s) ? INFINITY : s->upper_s;
    lo = fmax(lo, s->lower_s);
    hi = fmin(hi, u);
    if (!isinf(u) && u - s->lower_s < best_w) {
      best_w = u - s->lower_s;
      nl = s->lower_s;
      nu = u;
    }
  }
  row->estimates = n;
  if (n) {
    row->est_median_s = ni__sort_median(scratch, n);
    row->est_min_s = scratch[0];
    row->est_max_s = scratch[n - 1];
  }
  if (any_bracket && lo < hi) {
    row->bracket = NI_BRACKET_INTERSECTION;
    row->lower_s = lo;
    row->upper_s = isinf(hi) ? NAN : hi;
  } else if (any_bracket && !isnan(nl)) {
    row->bracket = NI_BRACKET_NARROWEST;
    row->lower_s = nl;
    row->upper_s = nu;
  }
  return 0;
}

static int merge(ni_report *rep) {
  size_t cap = 0;
  free(rep->rows);
  rep->rows = NULL;
  rep->nrows = 0;
  double *scratch = malloc((rep->nruns ? rep->nruns : 1) * sizeof(double));
  if (!scratch) return -ENOMEM;
  for (size_t i = 0; i < rep->nruns; i++) {
    const ni_run_summary *s = &rep->runs[i];
    size_t j = 0;
    while (j < rep->nrows && !same_group(&rep->rows[j], s))
      j++;
    if (j < rep->nrows) continue;
    if (ni__grow(&rep->rows, &cap, rep->nrows + 1, sizeof(ni_net_row))) {
      free(scratch);
      return -ENOMEM;
    }
    ni_net_row *row = &rep->rows[rep->nrows++];
    memset(row, 0, sizeof(*row));
    row->network = s->network;
    row->server = s->server;
    row->tls = s->tls;
    row->direction = s->direction;
    row->port = s->port;
    row->est_min_s = row->est_median_s = row->est_max_s = NAN;
    row->lower_s = row->upper_s = NAN;
    row->recommended_s = row->server_keepalive_s = NAN;
    merge_group(rep, row, scratch);
  }
  free(scratch);
  rep->rows_stale = 0;
  return 0;
}

size_t ni_report_nrows(ni_report *rep) {
  if (rep->rows_stale && merge(rep) != 0) return 0;
  return rep->nrows;
}

const ni_net_row *ni_report_row(ni_report *rep, size_t i) {
  return i < ni_report_nrows(rep) ? &rep->rows[i] : NULL;
}

const ni_net_row *ni__row_of(ni_report *rep, const ni_run_summary *s) {
  for (size_t i = 0; i < ni_report_nrows(rep); i++)
    if (same_group(&rep->rows[i], s)) return &rep->rows[i];
  return NULL;
}

/* ---- Table and CSV -------------------------------------------------------- */

const char *const ni_merged_columns[NI_MERGED_NCOLS] = {"network",
                                                        "server",
                                                        "port",
                                                        "tls",
                                                        "direction",
                                                        "runs",
                                                        "estimate_min_s",
                                                        "estimate_median_s",
                                                        "estimate_max_s",
                                                        "lower_s",
                                                        "upper_s",
                                                        "bracket",
                                                        "recommended_keepalive_s",
                                                        "server_keepalive_s",
                                                        "verdicts"};

static const char *bracket_name(enum ni_bracket_kind k) {
  return k == NI_BRACKET_INTERSECTION ? "intersection"
         : k == NI_BRACKET_NARROWEST  ? "narrowest"
                                      : "none";
}

/* "measured:3 above_max:1" */
static void fmt_verdicts(char *buf, size_t len, const ni_net_row *row) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < NI_REPORT_NVERDICTS && used < len; i++) {
    if (!row->verdicts[i]) continue;
    int n = snprintf(buf + used, len - used, "%s%s:%zu", used ? " " : "", ni_verdicts[i],
                     row->verdicts[i]);
    if (n < 0) break;
    used += (size_t)n;
  }
}

/* The cells of one merged row, in ni_merged_columns order, each cut to
 * CELL bytes. */
enum { CELL = 128 };
static void row_cells(const ni_net_row *row, char cells[][CELL]) {
  snprintf(cells[0], CELL, "%s", row->network);
  snprintf(cells[1], CELL, "%s", row->server);
  snprintf(cells[2], CELL, "%u", row->port);
  snprintf(cells[3], CELL, "%s", row->tls);
  snprintf(cells[4], CELL, "%s", row->direction);
  snprintf(cells[5], CELL, "%zu", row->runs);
  ni__fmt_s(cells[6], CELL, row->est_min_s, "");
  ni__fmt_s(cells[7], CELL, row->est_median_s, "");
  ni__fmt_s(cells[8], CELL, row->est_max_s, "");
  ni__fmt_s(cells[9], CELL, row->lower_s, "");
  ni__fmt_s(cells[10], CELL, row->upper_s, "");
  snprintf(cells[11], CELL, "%s", bracket_name(row->bracket));
  ni__fmt_s(cells[12], CELL, row->recommended_s, "");
  ni__fmt_s(cells[13], CELL, row->server_keepalive_s, "");
  fmt_verdicts(cells[14], CELL, row);
}

int ni_report_write_csv(ni_report *rep, FILE *out) {
  ni_csv_writer *w = ni_csv_writer_from_file(out, ni_merged_columns, NI_MERGED_NCOLS, 1);
  char cells[NI_MERGED_NCOLS][CELL];
  const char *fields[NI_MERGED_NCOLS];
  if (!w) return -ENOMEM;
  for (size_t i = 0; i < NI_MERGED_NCOLS; i++)
    fields[i] = cells[i];
  for (size_t i = 0; i < ni_report_nrows(rep); i++) {
    row_cells(&rep->rows[i], cells);
    /* The network and server names may be longer than a cell buffer. */
    fields[0] = rep->rows[i].network;
    fields[1] = rep->rows[i].server;
    ni_csv_write_row(w, fields);
  }
  return ni_csv_writer_close(w);
}

/* The terminal table's columns: a header and how to fill a cell.  Table
 * cells join up to three row cells, so they are larger. */
enum { TCOLS = 9, TCELL = NI__TABLE_CELL };
static const char *const table_head[TCOLS] = {"NETWORK",   "SERVER",      "PORT/TLS",
                                              "DIR",       "RUNS",        "ESTIMATE min/med/max s",
                                              "BRACKET s", "KEEPALIVE s", "VERDICTS"};

static void table_cells(void *ctx, size_t i, char t[][TCELL]) {
  const ni_net_row *row = &((ni_report *)ctx)->rows[i];
  char c[NI_MERGED_NCOLS][CELL];
  row_cells(row, c);
  snprintf(t[0], TCELL, "%s", c[0]);
  snprintf(t[1], TCELL, "%s", c[1]);
  snprintf(t[2], TCELL, "%s/%s", c[2], c[3]);
  snprintf(t[3], TCELL, "%s", c[4]);
  snprintf(t[4], TCELL, "%s", c[5]);
  if (row->estimates)
    snprintf(t[5], TCELL, "%s / %s / %s", c[6], c[7], c[8]);
  else
    snprintf(t[5], TCELL, "-");
  if (row->bracket == NI_BRACKET_NONE)
    snprintf(t[6], TCELL, "-");
  else
    snprintf(t[6], TCELL, "(%s, %s]%s", c[9], !isnan(row->upper_s) ? c[10] : "inf",
             row->bracket == NI_BRACKET_NARROWEST ? " narrowest" : "");
  snprintf(t[7], TCELL, "%s", c[12][0] ? c[12] : "-");
  snprintf(t[8], TCELL, "%s", c[14]);
}

/* Display width of UTF-8 text: one column per code point, which is right
 * for the Latin, Greek and Cyrillic names networks usually have. */
static size_t text_width(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

/* Fill the cells of line i of the table: the header for 0, else row i-1.
 * Names from a file must not move the cursor or ring the bell. */
static void aligned_line(const char *const *head, int ncols, ni__fill_row fill, void *ctx, size_t i,
                         char cells[][NI__TABLE_CELL]) {
  for (int j = 0; j < ncols; j++)
    snprintf(cells[j], NI__TABLE_CELL, "%s", i == 0 ? head[j] : "");
  if (i > 0) fill(ctx, i - 1, cells);
  for (int j = 0; j < ncols; j++)
    for (char *p = cells[j]; *p; p++)
      if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
}

int ni__write_aligned(FILE *out, const char *const *head, int ncols, size_t nrows,
                      ni__fill_row fill, void *ctx, const char *none) {
  size_t width[NI__TABLE_MAXCOLS];
  char cells[NI__TABLE_MAXCOLS][NI__TABLE_CELL];
  if (ncols > NI__TABLE_MAXCOLS) return -EINVAL;
  for (int j = 0; j < ncols; j++)
    width[j] = 0;
  for (size_t i = 0; i <= nrows; i++) {
    aligned_line(head, ncols, fill, ctx, i, cells);
    for (int j = 0; j < ncols; j++)
      if (text_width(cells[j]) > width[j]) width[j] = text_width(cells[j]);
  }
  for (size_t i = 0; i <= nrows; i++) {
    aligned_line(head, ncols, fill, ctx, i, cells);
    for (int j = 0; j < ncols; j++) {
      size_t pad = j + 1 < ncols ? width[j] - text_width(cells[j]) + 2 : 0;
      fprintf(out, "%s%*s", cells[j], (int)pad, "");
    }
    fputc('\n', out);
  }
  if (nrows == 0) fprintf(out, "%s\n", none);
  return fflush(out) == 0 && !ferror(out) ? 0 : -EIO;
}

int ni_report_write_table(ni_report *rep, FILE *out) {
  size_t n = ni_report_nrows(rep);
  return ni__write_aligned(out, table_head, TCOLS, n, table_cells, rep, "(no runs)");
}

/* ---- Cost model ----------------------------------------------------------- */

/* Haverinen et al., VTC 2007-Spring, table of average phone current: the
 * keepalive rate (1/s) and the current (mA), by falling rate.  The last
 * point, rate 0, is the phone with no keepalive at all. */
static const double radio_points[][2] = {
    {1.0 / 20, 34.0}, {1.0 / 40, 24.0}, {1.0 / 150, 16.0}, {1.0 / 300, 14.0}, {0.0, 6.1}};

double ni_radio_current_ma(double interval_s) {
  if (!(interval_s > 0) || isinf(interval_s)) return radio_points[4][1];
  double rate = 1.0 / interval_s;
  size_t i = 0; /* the segment [i, i+1] holding rate, by falling rate */
  while (i < 3 && rate < radio_points[i + 1][0])
    i++;
  double r0 = radio_points[i][0], c0 = radio_points[i][1];
  double r1 = radio_points[i + 1][0], c1 = radio_points[i + 1][1];
  return c1 + (rate - r1) * (c0 - c1) / (r0 - r1);
}

double ni_push_broken_share(double interval_s, double timeout_s) {
  if (isnan(timeout_s) || isnan(interval_s)) return NAN;
  return interval_s > timeout_s ? (interval_s - timeout_s) / interval_s : 0.0;
}
