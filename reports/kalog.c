/* Keepalive logs (natidle keepalive --log): loading their rows, one summary
 * per network and account, the terminal table and the summary CSV. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/num.h"
#include "natidle/csv.h"
#include "reports/report_int.h"

/* ---- Loading -------------------------------------------------------------- */

int ni__is_kalog(const ni_csv_reader *r) {
  return ni_csv_has_column(r, "event") && ni_csv_has_column(r, "account");
}

int ni__kalog_columns(ni__loadctx *c) {
  /* The original eight columns are required; the later ones are read when
   * present, so logs written before they existed load too. */
  for (size_t i = 0; i < NI_KALOG_V1_NCOLS; i++)
    if (!ni_csv_has_column(c->r, ni_kalog_columns[i]))
      return ni__load_fail(c, "keepalive log without a '%s' column", ni_kalog_columns[i]);
  return 0;
}

/* A whole number that may be empty (NAN), as a double: counters of a day
 * fit a double exactly up to 2^53. */
static int load_count(ni__loadctx *c, const char *col, double *out) {
  const char *s = ni_csv_get(c->r, col);
  unsigned long v;
  *out = NAN;
  if (!s || !*s) return 0;
  int rc = ni__load_uint(c, col, 1000000000000000ul, &v);
  if (rc == 0) *out = (double)v;
  return rc;
}

static long find_or_add_log(ni_report *rep, const char *network, const char *account) {
  for (size_t i = rep->nkalogs; i-- > 0;)
    if (!strcmp(rep->kalogs[i].network, network) && !strcmp(rep->kalogs[i].account, account))
      return (long)i;
  if (ni__grow(&rep->kalogs, &rep->kalogs_cap, rep->nkalogs + 1, sizeof(ni_kalog_summary)))
    return -1;
  ni_kalog_summary *k = &rep->kalogs[rep->nkalogs];
  memset(k, 0, sizeof(*k));
  k->network = network;
  k->account = account;
  return (long)rep->nkalogs++;
}

/* The outcomes an event may have, when the reader depends on them; NULL
 * for events whose outcome is free text (an error name, a cadence
 * source). */
static const char *const *event_outcomes(enum ni__ka_event e) {
  static const char *const keepalive[] = {"answered", "unanswered", NULL};
  static const char *const message[] = {"pushed", "fetched", "late", NULL};
  static const char *const cadence[] = {"probing", "steady", NULL};
  return e == NI__KA_KEEPALIVE ? keepalive
         : e == NI__KA_MESSAGE ? message
         : e == NI__KA_CADENCE ? cadence
                               : NULL;
}

/* "a, b or c" from a NULL-terminated list, for messages. */
static void join_or(char *buf, size_t len, const char *const *list) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; list[i] && used < len; i++) {
    const char *sep = i == 0 ? "" : list[i + 1] ? ", " : " or ";
    int n = snprintf(buf + used, len - used, "%s%s", sep, list[i]);
    if (n < 0) break;
    used += (size_t)n;
  }
}

int ni__load_kalog_row(ni__loadctx *c) {
  ni_report *rep = c->rep;
  ni__karow k;
  const char *ev = ni_csv_get(c->r, "event"), *at = ni_csv_get(c->r, "at");
  const char *network, *account;
  uint64_t ms;
  int rc, e = -1;
  memset(&k, 0, sizeof(k));
  for (int i = 0; ni_kalog_events[i]; i++)
    if (!strcmp(ev, ni_kalog_events[i])) e = i;
  /* Events of a later version are skipped, as unknown columns are. */
  if (e < 0) return 0;
  k.event = (enum ni__ka_event)e;
  if (ni_csv_parse_utc(at, &ms))
    return ni__load_fail(c, "at: '%.40s' is not a UTC time like 2026-11-27T21:55:03.120Z", at);
  k.t = (double)ms / 1000.0;
  if ((rc = ni__load_str(c, "outcome", &k.outcome)) != 0) return rc;
  const char *const *allowed = event_outcomes(k.event);
  if (allowed && !ni_csv_is_one_of(k.outcome, allowed)) {
    char list[96];
    join_or(list, sizeof(list), allowed);
    return ni__load_fail(c, "outcome: '%.40s' is not %s for a %s row", k.outcome, list, ev);
  }
  double delay_ms;
  if ((rc = ni__load_seconds(c, "interval_s", &k.interval_s)) ||
      (rc = ni__load_seconds(c, "lower_s", &k.lower_s)) ||
      (rc = ni__load_seconds(c, "upper_s", &k.upper_s)) ||
      (rc = ni__load_seconds(c, "cadence_s", &k.cadence_s)) ||
      (rc = load_count(c, "delay_ms", &delay_ms)) || (rc = load_count(c, "wakeups", &k.wakeups)) ||
      (rc = load_count(c, "bytes_out", &k.bytes_out)))
    return rc;
  k.delay_s = delay_ms / 1000.0;
  if (k.event == NI__KA_KEEPALIVE && isnan(k.interval_s))
    return ni__load_fail(c, "interval_s is empty in a keepalive row");
  if ((rc = ni__load_str(c, "network", &network)) || (rc = ni__load_str(c, "account", &account)))
    return rc;
  long log = find_or_add_log(rep, network, account);
  if (log < 0 || ni__grow(&rep->ka, &rep->ka_cap, rep->nka + 1, sizeof(k))) return -ENOMEM;
  k.log = (size_t)log;
  k.file = rep->nfiles - 1;
  rep->ka[rep->nka++] = k;
  return 0;
}

/* ---- Summaries ------------------------------------------------------------ */

/* Why connections were lost: each reason once, with its count. */
typedef struct reasons {
  const char *name[16];
  size_t count[16], n, other;
} reasons;

static void count_reason(reasons *r, const char *name) {
  for (size_t i = 0; i < r->n; i++)
    if (!strcmp(r->name[i], name)) {
      r->count[i]++;
      return;
    }
  if (r->n == sizeof(r->name) / sizeof(*r->name)) {
    r->other++;
    return;
  }
  r->name[r->n] = name;
  r->count[r->n++] = 1;
}

static const char *format_reasons(ni_report *rep, const reasons *r) {
  char buf[512];
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i <= r->n && used < sizeof(buf); i++) {
    if (i == r->n && !r->other) break;
    int n = snprintf(buf + used, sizeof(buf) - used, "%s%s:%zu", used ? " " : "",
                     i < r->n ? (*r->name[i] ? r->name[i] : "unknown") : "other",
                     i < r->n ? r->count[i] : r->other);
    if (n < 0) break;
    used += (size_t)n;
  }
  return ni__arena_dup(rep, buf);
}

/* The run a row of one (network, account) belongs to. */
typedef struct run {
  int open;
  size_t file;
  double first, last, bytes_out, wakeups;
} run;

/* A row starts a new run at a start row, in another file, or (logs without
 * start rows) where the byte counter fell back: a new process counts from
 * zero. */
static int starts_run(const run *r, const ni__karow *k) {
  return !r->open || k->event == NI__KA_START || k->file != r->file ||
         (!isnan(k->bytes_out) && !isnan(r->bytes_out) && k->bytes_out < r->bytes_out);
}

/* Close the open run into the summary: its time, and its wakeups (the
 * counter runs from zero, so its last value is the run's count). */
static void close_run(ni_kalog_summary *s, const run *r, int *wakeups_known) {
  if (!r->open) return;
  s->runs++;
  s->covered_s += r->last > r->first ? r->last - r->first : 0;
  /* A row's counter is at most 1e15 (load_count), but enough runs of such
   * counters would overflow the sum: a total that cannot be held is not
   * known either. */
  if (isnan(r->wakeups) || (long long)r->wakeups > LLONG_MAX - s->wakeups)
    *wakeups_known = 0;
  else
    s->wakeups += (long long)r->wakeups;
}

/* The message delays' statistics, from `n` values in `d` (sorted here). */
static void delay_stats(ni_kalog_summary *s, double *d, size_t n) {
  s->delays = n;
  s->delay_median_s = s->delay_p95_s = s->delay_max_s = NAN;
  if (!n) return;
  s->delay_median_s = ni__sort_median(d, n);
  size_t rank = (size_t)ceil(0.95 * (double)n); /* nearest rank, 1-based */
  s->delay_p95_s = d[(rank ? rank : 1) - 1];
  s->delay_max_s = d[n - 1];
}

static double per_day(double count, double covered_s) {
  return covered_s > 0 ? count * 86400.0 / covered_s : NAN;
}

/* Fill summary `li` from every row of its network and account. */
static int summarize(ni_report *rep, size_t li, double *scratch) {
  ni_kalog_summary *s = &rep->kalogs[li];
  const char *network = s->network, *account = s->account;
  reasons why;
  run r;
  size_t nd = 0;
  int wakeups_known = 1, have_cadence_rows = 0;
  memset(s, 0, sizeof(*s));
  memset(&why, 0, sizeof(why));
  memset(&r, 0, sizeof(r));
  s->network = network;
  s->account = account;
  s->first_at = s->last_at = NAN;
  s->cadence_start_s = s->cadence_end_s = s->lower_s = s->upper_s = NAN;
  s->phase_end = "";
  for (size_t i = 0; i < rep->nka; i++) {
    const ni__karow *k = &rep->ka[i];
    if (k->log != li) continue;
    s->rows++;
    if (isnan(s->first_at) || k->t < s->first_at) s->first_at = k->t;
    if (isnan(s->last_at) || k->t > s->last_at) s->last_at = k->t;
    if (starts_run(&r, k)) {
      close_run(s, &r, &wakeups_known);
      r.open = 1;
      r.file = k->file;
      r.first = r.last = k->t;
      r.wakeups = r.bytes_out = NAN;
    }
    if (k->t > r.last) r.last = k->t;
    if (!isnan(k->bytes_out)) r.bytes_out = k->bytes_out;
    if (!isnan(k->wakeups)) r.wakeups = k->wakeups;
    switch (k->event) {
    case NI__KA_KEEPALIVE:
      s->keepalives++;
      if (!strcmp(k->outcome, "answered")) {
        s->answered++;
        /* Logs without cadence rows: the answered silences stand in. */
        if (!have_cadence_rows) {
          if (isnan(s->cadence_start_s)) s->cadence_start_s = k->interval_s;
          s->cadence_end_s = k->interval_s;
        }
      } else {
        s->unanswered++;
      }
      break;
    case NI__KA_LOST:
      s->reconnects++;
      count_reason(&why, k->outcome);
      break;
    case NI__KA_CONNECT:
      if (strcmp(k->outcome, "ok")) s->connect_failures++;
      break;
    case NI__KA_MESSAGE:
      if (!strcmp(k->outcome, "pushed"))
        s->pushed++;
      else if (!strcmp(k->outcome, "late"))
        s->late++;
      else
        s->fetched++;
      if (!isnan(k->delay_s)) scratch[nd++] = k->delay_s;
      break;
    case NI__KA_START:
    case NI__KA_CADENCE:
      if (isnan(k->cadence_s)) break;
      if (!have_cadence_rows) s->cadence_start_s = k->cadence_s;
      have_cadence_rows = 1;
      s->cadence_end_s = k->cadence_s;
      if (k->event == NI__KA_CADENCE) {
        s->phase_end = k->outcome;
        s->lower_s = k->lower_s;
        s->upper_s = k->upper_s;
      }
      break;
    case NI__KA_STOP:
      break;
    }
  }
  close_run(s, &r, &wakeups_known);
  s->reconnect_reasons = format_reasons(rep, &why);
  if (!s->reconnect_reasons) return -ENOMEM;
  delay_stats(s, scratch, nd);
  s->keepalives_per_day = per_day((double)s->keepalives, s->covered_s);
  s->answered_share = s->keepalives ? (double)s->answered / (double)s->keepalives : NAN;
  if (!wakeups_known) s->wakeups = -1;
  s->wakeups_per_day = s->wakeups >= 0 ? per_day((double)s->wakeups, s->covered_s) : NAN;
  /* The cost model maps an interval to a current: the mean interval between
   * the radio's wakeups, which counts reconnects and failed probes too. */
  double rate = s->wakeups >= 0 ? s->wakeups_per_day : s->keepalives_per_day;
  s->current_ma = isnan(rate) ? NAN : ni_radio_current_ma(rate > 0 ? 86400.0 / rate : 0);
  s->charge_mah_per_day = s->current_ma * 24;
  return 0;
}

static int summarize_all(ni_report *rep) {
  double *scratch = malloc((rep->nka ? rep->nka : 1) * sizeof(double));
  if (!scratch) return -ENOMEM;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < rep->nkalogs; i++)
    rc = summarize(rep, i, scratch);
  free(scratch);
  if (rc == 0) rep->kalogs_stale = 0;
  return rc;
}

size_t ni_report_nkalogs(ni_report *rep) {
  if (rep->kalogs_stale && summarize_all(rep) != 0) return 0;
  return rep->nkalogs;
}

const ni_kalog_summary *ni_report_kalog(ni_report *rep, size_t i) {
  return i < ni_report_nkalogs(rep) ? &rep->kalogs[i] : NULL;
}

long ni_report_find_kalog(ni_report *rep, const char *network, const char *account) {
  long best = -1;
  for (size_t i = 0; i < ni_report_nkalogs(rep); i++) {
    const ni_kalog_summary *s = &rep->kalogs[i];
    if ((network && strcmp(s->network, network)) || (account && strcmp(s->account, account)))
      continue;
    if (best < 0 || s->rows > rep->kalogs[best].rows) best = (long)i;
  }
  return best;
}

/* ---- Table and CSV -------------------------------------------------------- */

const char *const ni_kalog_summary_columns[NI_KALOG_SUMMARY_NCOLS] = {"network",
                                                                      "account",
                                                                      "rows",
                                                                      "runs",
                                                                      "first_at",
                                                                      "last_at",
                                                                      "covered_s",
                                                                      "keepalives",
                                                                      "keepalives_per_day",
                                                                      "answered",
                                                                      "unanswered",
                                                                      "answered_share",
                                                                      "reconnects",
                                                                      "reconnect_reasons",
                                                                      "connect_failures",
                                                                      "messages_pushed",
                                                                      "messages_fetched",
                                                                      "messages_late",
                                                                      "delay_median_s",
                                                                      "delay_p95_s",
                                                                      "delay_max_s",
                                                                      "wakeups",
                                                                      "wakeups_per_day",
                                                                      "cadence_start_s",
                                                                      "cadence_end_s",
                                                                      "phase_end",
                                                                      "lower_s",
                                                                      "upper_s",
                                                                      "charge_mah_per_day"};

enum { CELL = 128 };

static void fmt_at(char *buf, size_t len, double t) {
  if (isnan(t) || ni_csv_fmt_utc(buf, len, (uint64_t)llround(t * 1000.0)) != 0) buf[0] = '\0';
}

/* A rate or a charge: whole numbers, empty when unknown. */
static void fmt_whole(char *buf, size_t len, double v) {
  if (isnan(v))
    buf[0] = '\0';
  else
    snprintf(buf, len, "%.0f", v);
}

/* The cells of one summary, in ni_kalog_summary_columns order. */
static void kalog_cells(const ni_kalog_summary *s, char c[][CELL]) {
  snprintf(c[0], CELL, "%s", s->network);
  snprintf(c[1], CELL, "%s", s->account);
  snprintf(c[2], CELL, "%zu", s->rows);
  snprintf(c[3], CELL, "%zu", s->runs);
  fmt_at(c[4], CELL, s->first_at);
  fmt_at(c[5], CELL, s->last_at);
  ni__fmt_s(c[6], CELL, s->covered_s, "");
  snprintf(c[7], CELL, "%zu", s->keepalives);
  fmt_whole(c[8], CELL, s->keepalives_per_day);
  snprintf(c[9], CELL, "%zu", s->answered);
  snprintf(c[10], CELL, "%zu", s->unanswered);
  ni__fmt_s(c[11], CELL, s->answered_share, "");
  snprintf(c[12], CELL, "%zu", s->reconnects);
  snprintf(c[13], CELL, "%s", s->reconnect_reasons);
  snprintf(c[14], CELL, "%zu", s->connect_failures);
  snprintf(c[15], CELL, "%zu", s->pushed);
  snprintf(c[16], CELL, "%zu", s->fetched);
  snprintf(c[17], CELL, "%zu", s->late);
  ni__fmt_s(c[18], CELL, s->delay_median_s, "");
  ni__fmt_s(c[19], CELL, s->delay_p95_s, "");
  ni__fmt_s(c[20], CELL, s->delay_max_s, "");
  if (s->wakeups >= 0)
    snprintf(c[21], CELL, "%lld", s->wakeups);
  else
    c[21][0] = '\0';
  fmt_whole(c[22], CELL, s->wakeups_per_day);
  ni__fmt_s(c[23], CELL, s->cadence_start_s, "");
  ni__fmt_s(c[24], CELL, s->cadence_end_s, "");
  snprintf(c[25], CELL, "%s", s->phase_end);
  ni__fmt_s(c[26], CELL, s->lower_s, "");
  ni__fmt_s(c[27], CELL, s->upper_s, "");
  fmt_whole(c[28], CELL, s->charge_mah_per_day);
}

int ni_report_write_kalog_csv(ni_report *rep, FILE *out) {
  ni_csv_writer *w =
      ni_csv_writer_from_file(out, ni_kalog_summary_columns, NI_KALOG_SUMMARY_NCOLS, 1);
  char cells[NI_KALOG_SUMMARY_NCOLS][CELL];
  const char *fields[NI_KALOG_SUMMARY_NCOLS];
  if (!w) return -ENOMEM;
  for (size_t i = 0; i < NI_KALOG_SUMMARY_NCOLS; i++)
    fields[i] = cells[i];
  for (size_t i = 0; i < ni_report_nkalogs(rep); i++) {
    const ni_kalog_summary *s = &rep->kalogs[i];
    kalog_cells(s, cells);
    /* Labels and reasons may be longer than a cell buffer. */
    fields[0] = s->network;
    fields[1] = s->account;
    fields[13] = s->reconnect_reasons;
    ni_csv_write_row(w, fields);
  }
  return ni_csv_writer_close(w);
}

/* Seconds as h:mm:ss, hours unbounded ("26:03:00"). */
static void fmt_hms(char *buf, size_t len, double s) {
  long long t = llround(s);
  snprintf(buf, len, "%lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
}

const char *const ni__kalog_head[NI__KALOG_TCOLS] = {"NETWORK",
                                                     "ACCOUNT",
                                                     "RUNS",
                                                     "COVERED",
                                                     "KEEPALIVES",
                                                     "ANSWERED",
                                                     "RECONNECTS",
                                                     "MESSAGES push/fetch/late",
                                                     "DELAY s med/p95/max",
                                                     "WAKEUPS/DAY",
                                                     "CADENCE s",
                                                     "mAh/DAY"};

void ni__kalog_cells(void *ctx, size_t i, char t[][NI__TABLE_CELL]) {
  const ni_kalog_summary *s = &((ni_report *)ctx)->kalogs[i];
  char c[NI_KALOG_SUMMARY_NCOLS][CELL];
  kalog_cells(s, c);
  snprintf(t[0], NI__TABLE_CELL, "%s", *s->network ? c[0] : "-");
  snprintf(t[1], NI__TABLE_CELL, "%s", c[1]);
  snprintf(t[2], NI__TABLE_CELL, "%s", c[3]);
  fmt_hms(t[3], NI__TABLE_CELL, s->covered_s);
  snprintf(t[4], NI__TABLE_CELL, "%s (%s/day)", c[7], *c[8] ? c[8] : "-");
  if (s->keepalives)
    snprintf(t[5], NI__TABLE_CELL, "%s (%.1f %%)", c[9], s->answered_share * 100);
  else
    snprintf(t[5], NI__TABLE_CELL, "-");
  snprintf(t[6], NI__TABLE_CELL, "%s%s%s%s", c[12], *c[13] ? " (" : "", c[13], *c[13] ? ")" : "");
  snprintf(t[7], NI__TABLE_CELL, "%s / %s / %s", c[15], c[16], c[17]);
  if (s->delays)
    snprintf(t[8], NI__TABLE_CELL, "%s / %s / %s", c[18], c[19], c[20]);
  else
    snprintf(t[8], NI__TABLE_CELL, "-");
  snprintf(t[9], NI__TABLE_CELL, "%s", *c[22] ? c[22] : "-");
  if (isnan(s->cadence_start_s))
    snprintf(t[10], NI__TABLE_CELL, "-");
  else
    snprintf(t[10], NI__TABLE_CELL, "%s -> %s%s%s", c[23], c[24], *s->phase_end ? " " : "",
             s->phase_end);
  snprintf(t[11], NI__TABLE_CELL, "%s", *c[28] ? c[28] : "-");
}

int ni_report_write_kalog_table(ni_report *rep, FILE *out) {
  size_t n = ni_report_nkalogs(rep);
  return ni__write_aligned(out, ni__kalog_head, NI__KALOG_TCOLS, n, ni__kalog_cells, rep,
                           "(no keepalive rows)");
}
