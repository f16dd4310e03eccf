/* The timeout of every network on one chart, from summary CSVs alone: one
 * row per merged row (network, server, port, TLS, direction), its bracket
 * (lower, upper] on a logarithmic time axis, the estimate, the recommended
 * keepalive, and the keepalive cadences mail clients commonly use. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "natidle/csv.h"
#include "reports/report_int.h"

/* Geometry, in SVG user units (px). */
#define W 1100.0
#define LEFT 230.0  /* the row labels */
#define RIGHT 770.0 /* the numbers of each row live to the right of this */
#define TOP 100.0   /* title, subtitle and the cadence labels */
#define ROWH 40.0
#define BOTTOM_PAD 150.0 /* ticks, the axis title, the legend and the notes */
#define LABEL_MAX 30     /* bytes of a network name shown in the label */

#define C_OPEN "#f9e3a3"    /* above_max: no upper end */
#define C_EDGE "#b8860b"    /* the outline of a bracket */
#define C_MASKED "#555555"  /* the lower end of a masked run */
#define C_CADENCE "#9e9e9e" /* the clients' cadences */
#define C_ROW_ALT "#f7f7f7" /* every other row */
#define C_NOTE "#666666"

/* Common keepalive cadences of mail clients and servers, seconds. */
static const double cadences[] = {120, 540, 900, 1440, 1740};

/* How a row is drawn. */
enum row_kind {
  ROW_BRACKET, /* a closed bracket (L, U] */
  ROW_OPEN,    /* above_max: alive at L, no death seen */
  ROW_MASKED,  /* masked_by_server only: alive at L, the server kept it up */
  ROW_NONE     /* inconclusive or no_push only: listed, not drawn */
};

typedef struct chart_row {
  const ni_net_row *r;
  enum row_kind kind;
  double lower; /* NAN when unknown */
} chart_row;

/* The log time axis, seconds to px. */
typedef struct laxis {
  double d0, d1;
} laxis;

static double lx(const laxis *ax, double v) {
  double t = (log10(fmax(v, ax->d0)) - log10(ax->d0)) / (log10(ax->d1) - log10(ax->d0));
  return LEFT + fmin(fmax(t, 0.0), 1.0) * (RIGHT - LEFT);
}

/* The right end: the first of these at or above 1.15 x the largest value. */
static double axis_end(double hi) {
  static const double ends[] = {3600, 7200, 21600, 43200, 86400, 604800, 2592000};
  for (size_t i = 0; i < sizeof(ends) / sizeof(*ends); i++)
    if (ends[i] >= hi * 1.15) return ends[i];
  return hi * 1.15;
}

/* The largest lower bound of the masked_by_server runs of row r. */
static double masked_lower(ni_report *rep, const ni_net_row *r) {
  double lower = NAN;
  for (size_t i = 0; i < ni_report_nruns(rep); i++) {
    const ni_run_summary *s = ni_report_run(rep, i);
    if (strcmp(s->verdict, "masked_by_server") || ni__row_of(rep, s) != r) continue;
    if (!(s->lower_s <= lower)) lower = s->lower_s;
  }
  return lower;
}

static void classify(ni_report *rep, const ni_net_row *r, chart_row *c) {
  c->r = r;
  c->lower = r->lower_s;
  if (r->bracket != NI_BRACKET_NONE) {
    c->kind = isnan(r->upper_s) ? ROW_OPEN : ROW_BRACKET;
  } else if (r->verdicts[ni__verdict_index("masked_by_server")]) {
    c->kind = ROW_MASKED;
    c->lower = masked_lower(rep, r);
  } else {
    c->kind = ROW_NONE;
    c->lower = NAN;
  }
}

/* Widen [*lo, *hi] to hold v when v is a positive number. */
static void extend(double *lo, double *hi, double v) {
  if (!(v > 0)) return;
  *lo = fmin(*lo, v);
  *hi = fmax(*hi, v);
}

static void make_laxis(laxis *ax, const chart_row *rows, size_t n) {
  double lo = INFINITY, hi = 0;
  for (size_t i = 0; i < n; i++) {
    const ni_net_row *r = rows[i].r;
    if (rows[i].kind == ROW_NONE) continue;
    extend(&lo, &hi, rows[i].lower);
    extend(&lo, &hi, r->upper_s);
    extend(&lo, &hi, r->est_median_s);
    extend(&lo, &hi, r->recommended_s);
    extend(&lo, &hi, r->server_keepalive_s);
  }
  ax->d0 = lo < 10 ? 1 : 10;
  ax->d1 = axis_end(hi);
}

/* Grid lines, and under the plot the labels that do not crowd each other. */
static void time_ticks(FILE *out, const laxis *ax, double bottom) {
  static const struct {
    double s;
    const char *label;
  } ticks[] = {{1, "1 s"},          {2, NULL},       {5, NULL},          {10, "10 s"},
               {20, NULL},          {30, "30 s"},    {60, "1 min"},      {120, NULL},
               {300, "5 min"},      {600, "10 min"}, {1200, NULL},       {1800, "30 min"},
               {3600, "1 h"},       {7200, "2 h"},   {21600, "6 h"},     {43200, "12 h"},
               {86400, "1 day"},    {172800, NULL},  {604800, "1 week"}, {1209600, NULL},
               {2592000, "30 days"}};
  double last = -INFINITY;
  for (size_t i = 0; i < sizeof(ticks) / sizeof(*ticks); i++) {
    if (ticks[i].s < ax->d0 || ticks[i].s > ax->d1 * (1 + 1e-9)) continue;
    double x = lx(ax, ticks[i].s);
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n", x,
            TOP, x, bottom);
    if (!ticks[i].label || x - last < 44) continue;
    last = x;
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", x,
            bottom, x, bottom + 5);
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x, bottom + 18,
            ticks[i].label);
  }
}

/* The clients' cadences: dashed lines through the plot, labelled above it
 * on three levels, so that 24 and 29 min close together both stay legible. */
static void cadence_lines(FILE *out, const laxis *ax, double bottom) {
  for (size_t i = 0; i < sizeof(cadences) / sizeof(*cadences); i++) {
    double x = lx(ax, cadences[i]), ly = TOP - 32 + 12 * (double)(i % 3);
    fprintf(out,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" C_CADENCE
            "\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"><title>client keepalive every "
            "%g min (%g s)</title></line>\n",
            x, ly + 3, x, bottom, cadences[i] / 60, cadences[i]);
    fprintf(out,
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555\" "
            "font-size=\"10\">%g min</text>\n",
            x, ly, cadences[i] / 60);
  }
}

/* `s` cut to at most `max` bytes at a character boundary, "..." marking a cut. */
static void short_label(char *buf, size_t len, const char *s, size_t max) {
  size_t n = strlen(s);
  if (n <= max) {
    snprintf(buf, len, "%s", s);
    return;
  }
  while (n > 0 && (n > max - 3 || ((unsigned char)s[n] & 0xC0) == 0x80))
    n--;
  snprintf(buf, len, "%.*s...", (int)n, s);
}

static void row_label(FILE *out, const ni_net_row *r, double yc) {
  char name[LABEL_MAX + 8];
  short_label(name, sizeof(name), r->network, LABEL_MAX);
  fprintf(out, "<g><title>");
  ni__xml_text(out, r->network);
  fputs("</title>\n", out);
  fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-weight=\"bold\">", LEFT - 10,
          yc - 2);
  ni__xml_text(out, *name ? name : "(no network label)");
  fprintf(out,
          "</text>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\" "
          "font-size=\"10\">",
          LEFT - 10, yc + 11);
  short_label(name, sizeof(name), r->server, LABEL_MAX - 12);
  ni__xml_text(out, name);
  fprintf(out, ":%u ", r->port);
  ni__xml_text(out, r->tls);
  fputs(", ", out);
  ni__xml_text(out, r->direction);
  fputs("</text></g>\n", out);
}

/* "measured:2 inconclusive:1" of a row into buf. */
static void verdict_counts(char *buf, size_t len, const ni_net_row *r) {
  size_t used = 0;
  buf[0] = '\0';
  for (int v = 0; v < NI_REPORT_NVERDICTS && used < len; v++)
    if (r->verdicts[v]) {
      int k = snprintf(buf + used, len - used, "%s%s:%zu", used ? " " : "", ni_verdicts[v],
                       r->verdicts[v]);
      if (k > 0) used += (size_t)k;
    }
}

/* The numbers of a row, right of the plot. */
static void row_numbers(FILE *out, const chart_row *c, double yc) {
  const ni_net_row *r = c->r;
  char a[48], b[48], line[160], v[160];
  switch (c->kind) {
  case ROW_BRACKET:
    snprintf(line, sizeof(line), "(%s, %s] s%s", ni__fmt_s(a, sizeof(a), c->lower, ""),
             ni__fmt_s(b, sizeof(b), r->upper_s, ""),
             r->bracket == NI_BRACKET_NARROWEST ? " narrowest" : "");
    break;
  case ROW_OPEN:
    snprintf(line, sizeof(line), "above %s s", ni__fmt_s(a, sizeof(a), c->lower, ""));
    break;
  case ROW_MASKED:
    snprintf(line, sizeof(line), "masked: alive at %s s, server every %s s",
             ni__fmt_s(a, sizeof(a), c->lower, "?"),
             ni__fmt_s(b, sizeof(b), r->server_keepalive_s, "?"));
    break;
  default:
    snprintf(line, sizeof(line), "no bracket");
  }
  if (!isnan(r->recommended_s))
    snprintf(line + strlen(line), sizeof(line) - strlen(line), ", keepalive %s s",
             ni__fmt_s(a, sizeof(a), r->recommended_s, ""));
  fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", RIGHT + 14, yc - 2, line);
  verdict_counts(v, sizeof(v), r);
  fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#555\" font-size=\"10\">%zu run%s: %s</text>\n",
          RIGHT + 14, yc + 11, r->runs, r->runs == 1 ? "" : "s", v);
}

/* An arrow head pointing right, its tip at (x, y). */
static void arrow(FILE *out, double x, double y) {
  fprintf(out, "<path d=\"M%.1f %.1fl-10 -9v18z\" fill=\"" C_EDGE "\"/>\n", x, y);
}

/* The lower end of a run the server kept alive: a bracket "[" at x. */
static void masked_mark(FILE *out, double x, double yc) {
  fprintf(out,
          "<path d=\"M%.1f %.1fh-5v20h5\" fill=\"none\" stroke=\"" C_MASKED
          "\" stroke-width=\"2.5\"/>\n",
          x + 5, yc - 10);
}

static void server_keepalive_mark(FILE *out, double x, double yc) {
  fprintf(out,
          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" C_MASKED
          "\" stroke-width=\"2\" stroke-dasharray=\"3 2\"/>\n",
          x, yc - 14, x, yc + 14);
}

static void estimate_mark(FILE *out, double x, double yc) {
  fprintf(out,
          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" NI__C_ESTIMATE
          "\" stroke-width=\"3\"/>\n",
          x, yc - 12, x, yc + 12);
}

static void keepalive_mark(FILE *out, double x, double yc) {
  fprintf(out,
          "<path d=\"M%.1f %.1fl6 7l-6 7l-6 -7z\" fill=\"" NI__C_KEEPALIVE
          "\" stroke=\"#ffffff\"/>\n",
          x, yc - 7);
}

/* The bar of a bracket from x0 to x1. */
static void bar(FILE *out, double x0, double x1, double yc, const char *fill) {
  fprintf(out,
          "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"16\" fill=\"%s\" stroke=\"" C_EDGE
          "\"/>\n",
          x0, yc - 8, fmax(x1 - x0, 3.0), fill);
}

static void draw_row(FILE *out, const laxis *ax, const chart_row *c, double yc) {
  const ni_net_row *r = c->r;
  char v[160];
  switch (c->kind) {
  case ROW_BRACKET:
    bar(out, lx(ax, c->lower), lx(ax, r->upper_s), yc, NI__C_BRACKET);
    break;
  case ROW_OPEN:
    bar(out, lx(ax, c->lower), RIGHT - 8, yc, C_OPEN);
    arrow(out, RIGHT, yc);
    break;
  case ROW_MASKED:
    if (!isnan(c->lower)) masked_mark(out, lx(ax, c->lower), yc);
    break;
  default:
    verdict_counts(v, sizeof(v), r);
    fprintf(out,
            "<text x=\"%.1f\" y=\"%.1f\" fill=\"" C_NOTE "\" font-style=\"italic\">"
            "not drawn: %s, no bracket</text>\n",
            LEFT + 10, yc + 4, v);
    return;
  }
  if (!isnan(r->server_keepalive_s)) server_keepalive_mark(out, lx(ax, r->server_keepalive_s), yc);
  if (!isnan(r->est_median_s)) estimate_mark(out, lx(ax, r->est_median_s), yc);
  if (!isnan(r->recommended_s) && r->recommended_s > 0)
    keepalive_mark(out, lx(ax, r->recommended_s), yc);
}

/* The legend under the axis, in two lines of entries. */
static void chart_legend(FILE *out, double y) {
  double x = LEFT;
  bar(out, x - 8, x + 8, y, NI__C_BRACKET);
  fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">timeout bracket (L, U]</text>\n", x + 14, y + 4);
  x += 190;
  bar(out, x - 8, x + 4, y, C_OPEN);
  arrow(out, x + 12, y);
  fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">above_max: alive at L, no death seen</text>\n", x + 18,
          y + 4);
  x += 260;
  masked_mark(out, x, y);
  server_keepalive_mark(out, x + 12, y);
  fprintf(out,
          "<text x=\"%.1f\" y=\"%.1f\">masked_by_server: alive at L; server keepalive</text>\n",
          x + 22, y + 4);
  y += 26;
  x = LEFT;
  estimate_mark(out, x, y);
  fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">timeout estimate (median)</text>\n", x + 14, y + 4);
  x += 190;
  keepalive_mark(out, x, y);
  fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">recommended keepalive</text>\n", x + 14, y + 4);
  x += 260;
  fprintf(out,
          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" C_CADENCE
          "\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>\n",
          x, y - 10, x, y + 10);
  fprintf(out,
          "<text x=\"%.1f\" y=\"%.1f\">common client keepalive cadences: 2, 9, 15, 24, 29 "
          "min</text>\n",
          x + 14, y + 4);
}

int ni_report_write_network_chart(ni_report *rep, FILE *out, int standalone) {
  size_t n = ni_report_nrows(rep), undrawn = 0;
  if (n == 0) return NI_EUSAGE;
  chart_row *rows = calloc(n, sizeof(*rows));
  if (!rows) return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    classify(rep, ni_report_row(rep, i), &rows[i]);
    undrawn += rows[i].kind == ROW_NONE;
  }
  laxis ax;
  make_laxis(&ax, rows, n);
  double bottom = TOP + ROWH * (double)n, h = bottom + BOTTOM_PAD;
  char count[64];
  snprintf(count, sizeof(count), "%zu row%s", n, n == 1 ? "" : "s");

  ni__svg_begin(out, W, h, standalone, "natidle NAT idle timeout per network", count, " from ",
                "summary CSVs");
  fputs("<text x=\"20\" y=\"26\" font-size=\"16\" font-weight=\"bold\">"
        "NAT idle timeout per network</text>\n",
        out);
  fprintf(out,
          "<text x=\"20\" y=\"46\" fill=\"#444\">%zu row%s (network, server, port/TLS, "
          "direction) from %zu run%s: where the timeout lies, on a log time axis</text>\n",
          n, n == 1 ? "" : "s", ni_report_nruns(rep), ni_report_nruns(rep) == 1 ? "" : "s");

  for (size_t i = 1; i < n; i += 2)
    fprintf(out,
            "<rect x=\"20\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"" C_ROW_ALT "\"/>\n",
            TOP + ROWH * (double)i, W - 40, ROWH);
  time_ticks(out, &ax, bottom);
  cadence_lines(out, &ax, bottom);
  fprintf(out,
          "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
          "stroke=\"#333\"/>\n",
          LEFT, TOP, RIGHT - LEFT, bottom - TOP);
  for (size_t i = 0; i < n; i++) {
    double yc = TOP + ROWH * ((double)i + 0.5);
    row_label(out, rows[i].r, yc);
    draw_row(out, &ax, &rows[i], yc);
    row_numbers(out, &rows[i], yc);
  }
  fprintf(out,
          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\">"
          "idle time, log scale</text>\n",
          (LEFT + RIGHT) / 2, bottom + 40);
  chart_legend(out, bottom + 66);
  fprintf(out,
          "<text x=\"20\" y=\"%.1f\" fill=\"" C_NOTE "\" font-size=\"11\">Each row merges the "
          "runs of one network, server, port/TLS and direction as &#8216;natidle report "
          "summary&#8217; does.</text>\n",
          h - 28);
  if (undrawn)
    fprintf(out,
            "<text x=\"20\" y=\"%.1f\" fill=\"" C_NOTE "\" font-size=\"11\">Rows whose runs "
            "were all inconclusive or no_push have no bracket: listed, not drawn.</text>\n",
            h - 12);
  fputs("</svg>\n", out);
  free(rows);
  return ferror(out) ? -EIO : 0;
}
