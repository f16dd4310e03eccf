/* The survival plot of one probe run as standalone or inline SVG 1.1. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "natidle/csv.h"
#include "reports/report_int.h"

/* Geometry, in SVG user units (px). */
#define W 960.0
#define LEFT 90.0       /* room for the session labels */
#define RIGHT 750.0     /* the legend lives to the right of this */
#define TOP 116.0       /* room for the title and the line labels */
#define BOTTOM_PAD 76.0 /* ticks, minute labels and the axis title */

/* The x axis: a linear or logarithmic map from seconds to px. */
typedef struct xaxis {
  int log;
  double d0, d1; /* domain, seconds */
} xaxis;

static double xpos(const xaxis *ax, double v) {
  double t;
  if (ax->log) {
    v = fmax(v, ax->d0);
    t = (log10(v) - log10(ax->d0)) / (log10(ax->d1) - log10(ax->d0));
  } else {
    t = (v - ax->d0) / (ax->d1 - ax->d0);
  }
  return LEFT + fmin(fmax(t, 0.0), 1.0) * (RIGHT - LEFT);
}

double ni__nice_step(double raw) {
  double m = pow(10, floor(log10(raw))), f = raw / m;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * m;
}

/* Log scale when the values span more than two decades: a 30 s timeout and
 * a 2 h one on a linear axis would put every short check on top of zero. */
static void make_axis(xaxis *ax, double lo, double hi) {
  if (!(hi > 0)) hi = 1;
  if (lo > 0 && hi / lo > 100) {
    ax->log = 1;
    ax->d0 = pow(10, floor(log10(lo)));
    ax->d1 = pow(10, ceil(log10(hi)));
    if (ax->d1 <= ax->d0) ax->d1 = ax->d0 * 10;
  } else {
    double step = ni__nice_step(hi * 1.05 / 6);
    ax->log = 0;
    ax->d0 = 0;
    ax->d1 = ceil(hi * 1.05 / step) * step;
  }
}

static void tick(FILE *out, const xaxis *ax, double v, double y0, double y1, int label) {
  char b[48];
  double x = xpos(ax, v);
  fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n", x,
          y0, x, y1);
  if (!label) return;
  fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", x, y1,
          x, y1 + 5);
  fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x, y1 + 18,
          ni__fmt_s(b, sizeof(b), v, ""));
  /* Keepalive settings are usually given in minutes: say them too. */
  if (v >= 60 && fmod(v, 60) == 0)
    fprintf(out,
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#777\" "
            "font-size=\"10\">%g min</text>\n",
            x, y1 + 31, v / 60);
}

static void draw_ticks(FILE *out, const xaxis *ax, double y0, double y1) {
  if (!ax->log) {
    double step = ni__nice_step(ax->d1 / 6 * 0.999);
    for (double v = 0; v <= ax->d1 * (1 + 1e-9); v += step)
      tick(out, ax, v, y0, y1, 1);
    return;
  }
  double decades = log10(ax->d1 / ax->d0);
  for (double e = ax->d0; e <= ax->d1 * (1 + 1e-9); e *= 10) {
    tick(out, ax, e, y0, y1, 1);
    for (int k = 2; k <= 9 && e * k < ax->d1; k++)
      tick(out, ax, e * k, y0, y1, decades <= 3 && (k == 2 || k == 5));
  }
}

static int cmp_uint(const void *a, const void *b) {
  unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
  return (x > y) - (x < y);
}

const ni_run_summary *ni__plot_summary(const ni_report *rep, const ni__plot *p) {
  for (size_t i = rep->nruns; i-- > 0;)
    if (!strcmp(rep->runs[i].run_id, p->run_id) && !strcmp(rep->runs[i].direction, p->direction))
      return &rep->runs[i];
  return NULL;
}

/* What the plot shows besides the checks. */
typedef struct marks {
  double lower, upper; /* bracket; NAN when none, upper NAN = open */
  double estimate, keepalive, server_keepalive;
  const char *verdict;
} marks;

static void plot_marks(const ni_report *rep, size_t i, marks *m) {
  const ni_run_summary *s = ni__plot_summary(rep, &rep->plots[i]);
  m->estimate = m->keepalive = m->server_keepalive = NAN;
  m->verdict = NULL;
  if (s) {
    m->lower = s->lower_s;
    m->upper = s->upper_s;
    m->estimate = s->estimate_s;
    m->keepalive = s->recommended_keepalive_s;
    m->server_keepalive = s->server_keepalive_s;
    m->verdict = s->verdict;
    return;
  }
  /* No summary: the bracket the checks themselves give. */
  double alive = NAN, dead = NAN;
  for (size_t k = 0; k < rep->nobs; k++) {
    const ni__obs *o = &rep->obs[k];
    if (o->plot != i) continue;
    if (!strcmp(o->outcome, "alive") && !(o->silence_s <= alive)) alive = o->silence_s;
    if (ni__outcome_dead(o->outcome) && !(o->silence_s >= dead)) dead = o->silence_s;
  }
  m->lower = isnan(alive) ? 0 : alive;
  m->upper = dead;
  if (!isnan(dead) && dead <= m->lower)
    m->lower = m->upper = NAN; /* contradictory checks: no bracket */
  if (isnan(alive) && isnan(dead)) m->lower = NAN;
}

/* A vertical line at v through the plot, rising to its label at height ly
 * above the plot, where no check mark can hide it. */
static void vline(FILE *out, const xaxis *ax, double v, double y1, double ly, const char *color,
                  const char *dash, const char *label) {
  char b[48];
  double x = xpos(ax, v);
  int left = x > RIGHT - 150;
  fprintf(out,
          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
          "stroke-width=\"2\"%s%s%s/>\n",
          x, ly + 4, x, y1, color, dash ? " stroke-dasharray=\"" : "", dash ? dash : "",
          dash ? "\"" : "");
  fprintf(out,
          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"%s\" font-weight=\"bold\">"
          "%s %s s",
          left ? x - 5 : x + 5, ly, left ? "end" : "start", color, label,
          ni__fmt_s(b, sizeof(b), v, ""));
  if (v >= 60) fprintf(out, " (%.1f min)", v / 60);
  fputs("</text>\n", out);
}

void ni__svg_begin(FILE *out, double w, double h, int standalone, const char *what,
                   const char *name, const char *sep, const char *detail) {
  if (standalone) fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n", out);
  fprintf(out,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
          "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, "
          "Arial, sans-serif\" font-size=\"12\" role=\"img\">\n",
          w, h, w, h);
  fprintf(out, "<title>%s: ", what);
  ni__xml_text(out, name);
  fputs(sep, out);
  ni__xml_text(out, detail);
  fputs("</title>\n", out);
  fprintf(out, "<rect width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", w, h);
}

void ni__svg_mark(FILE *out, enum ni__mark kind, double x, double y, const char *title) {
  const char *end = kind == NI__MARK_DEAD ? "</path>\n" : "</circle>\n";
  if (kind == NI__MARK_ALIVE)
    fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" fill=\"" NI__C_ALIVE "\"", x, y);
  else if (kind == NI__MARK_DEAD)
    fprintf(out,
            "<path d=\"M%.1f %.1fl8 8m-8 0l8 -8\" stroke=\"" NI__C_DEAD "\" stroke-width=\"2\"",
            x - 4, y - 4);
  else
    fprintf(out,
            "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"none\" stroke=\"" NI__C_OTHER
            "\" stroke-width=\"1.5\"",
            x, y);
  if (!title) {
    fputs("/>\n", out);
    return;
  }
  fputs("><title>", out);
  ni__xml_text(out, title);
  fputs("</title>", out);
  fputs(end, out);
}

void ni__svg_legend_mark(FILE *out, enum ni__mark kind, double x, double y, const char *label) {
  ni__svg_mark(out, kind, x, y, NULL);
  fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">", x + 12, y + 4);
  ni__xml_text(out, label);
  fputs("</text>\n", out);
}

void ni__svg_legend_line(FILE *out, double x, double y, const char *color, const char *dash,
                         const char *label) {
  fprintf(out,
          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
          "stroke-width=\"2\"%s/>\n",
          x - 6, y, x + 6, y, color, dash);
  fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">", x + 12, y + 4);
  ni__xml_text(out, label);
  fputs("</text>\n", out);
}

static void legend(FILE *out, const marks *m, double y) {
  double x = RIGHT + 22;
  fprintf(out, "<g font-size=\"12\">\n");
  ni__svg_legend_mark(out, NI__MARK_ALIVE, x, y, "alive: push arrived");
  y += 20;
  ni__svg_legend_mark(out, NI__MARK_DEAD, x, y, "dead: mapping lost");
  y += 20;
  ni__svg_legend_mark(out, NI__MARK_OTHER, x, y, "other: refreshed,");
  fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">aborted, error</text>\n", x + 12, y + 18);
  y += 38;
  if (!isnan(m->lower)) {
    fprintf(out,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"" NI__C_BRACKET
            "\" fill-opacity=\"0.45\"/>\n",
            x - 5, y - 5);
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">bracket: timeout is here</text>\n", x + 12, y + 4);
    y += 20;
  }
  if (!isnan(m->estimate)) {
    ni__svg_legend_line(out, x, y, NI__C_ESTIMATE, " stroke-dasharray=\"6 3\"",
                        "estimated timeout");
    y += 20;
  }
  if (!isnan(m->keepalive)) {
    ni__svg_legend_line(out, x, y, NI__C_KEEPALIVE, "", "recommended keepalive");
    y += 20;
  }
  if (!isnan(m->server_keepalive)) {
    ni__svg_legend_line(out, x, y, NI__C_OTHER, " stroke-dasharray=\"2 3\"", "server keepalive");
  }
  fputs("</g>\n", out);
}

static void title(FILE *out, const ni__plot *p, const marks *m) {
  char lo[48], hi[48];
  fputs("<text x=\"20\" y=\"26\" font-size=\"16\" font-weight=\"bold\">"
        "Survival of silent IMAP IDLE sessions: ",
        out);
  ni__xml_text(out, p->network);
  fputs("</text>\n<text x=\"20\" y=\"46\" fill=\"#444\">", out);
  ni__xml_text(out, p->server);
  fprintf(out, ":%u ", p->port);
  ni__xml_text(out, p->tls);
  fputs(", run ", out);
  ni__xml_text(out, p->run_id);
  fputs(", ", out);
  ni__xml_text(out, p->direction);
  fprintf(out, ", %zu checks", p->checks);
  if (!isnan(m->lower))
    fprintf(out, ", bracket (%s, %s] s", ni__fmt_s(lo, sizeof(lo), m->lower, ""),
            ni__fmt_s(hi, sizeof(hi), m->upper, "open"));
  if (m->verdict) {
    fputs(", verdict ", out);
    ni__xml_text(out, m->verdict);
  }
  fputs("</text>\n", out);
}

/* The sessions of plot i, sorted and unique; NULL on ENOMEM. */
static unsigned *plot_sessions(const ni_report *rep, size_t i, size_t *n) {
  unsigned *s = malloc((rep->plots[i].checks ? rep->plots[i].checks : 1) * sizeof(*s));
  size_t k = 0;
  if (!s) return NULL;
  for (size_t j = 0; j < rep->nobs; j++)
    if (rep->obs[j].plot == i) s[k++] = rep->obs[j].session;
  qsort(s, k, sizeof(*s), cmp_uint);
  size_t u = 0;
  for (size_t j = 0; j < k; j++)
    if (u == 0 || s[u - 1] != s[j]) s[u++] = s[j];
  *n = u;
  return s;
}

static void draw_checks(FILE *out, const ni_report *rep, size_t i, const xaxis *ax,
                        const unsigned *sess, size_t nsess, double rowh) {
  char b[48], title[160];
  for (size_t j = 0; j < rep->nobs; j++) {
    const ni__obs *o = &rep->obs[j];
    if (o->plot != i) continue;
    const unsigned *at = bsearch(&o->session, sess, nsess, sizeof(*sess), cmp_uint);
    double y = TOP + ((double)(at - sess) + 0.5) * rowh, x = xpos(ax, o->silence_s);
    enum ni__mark kind = !strcmp(o->outcome, "alive")   ? NI__MARK_ALIVE
                         : ni__outcome_dead(o->outcome) ? NI__MARK_DEAD
                                                        : NI__MARK_OTHER;
    snprintf(title, sizeof(title), "session %u: %s after %s s", o->session, o->outcome,
             ni__fmt_s(b, sizeof(b), o->silence_s, ""));
    ni__svg_mark(out, kind, x, y, title);
  }
}

int ni_report_write_svg(const ni_report *rep, size_t i, FILE *out, int standalone) {
  if (i >= rep->nplots) return NI_EUSAGE;
  const ni__plot *p = &rep->plots[i];
  marks m;
  size_t nsess = 0;
  plot_marks(rep, i, &m);
  unsigned *sess = plot_sessions(rep, i, &nsess);
  if (!sess) return -ENOMEM;

  /* The x range covers every check and every line drawn. */
  double lo = INFINITY, hi = 0;
  for (size_t j = 0; j < rep->nobs; j++)
    if (rep->obs[j].plot == i && rep->obs[j].silence_s > 0) {
      lo = fmin(lo, rep->obs[j].silence_s);
      hi = fmax(hi, rep->obs[j].silence_s);
    }
  const double extra[] = {m.lower, m.upper, m.estimate, m.keepalive, m.server_keepalive};
  for (size_t k = 0; k < sizeof(extra) / sizeof(*extra); k++)
    if (extra[k] > 0) {
      lo = fmin(lo, extra[k]);
      hi = fmax(hi, extra[k]);
    }
  xaxis ax;
  make_axis(&ax, isinf(lo) ? 0 : lo, hi);

  double rowh = fmin(26, fmax(9, 440.0 / (double)(nsess ? nsess : 1)));
  double ph = fmax(rowh * (double)nsess, 170);
  rowh = ph / (double)(nsess ? nsess : 1);
  double bottom = TOP + ph, h = bottom + BOTTOM_PAD;

  ni__svg_begin(out, W, h, standalone, "natidle survival plot", p->network, ", run ", p->run_id);
  title(out, p, &m);

  /* The bracket first, so everything else is drawn over it. */
  if (!isnan(m.lower)) {
    double x0 = xpos(&ax, m.lower), x1 = isnan(m.upper) ? RIGHT : xpos(&ax, m.upper);
    fprintf(out,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"" NI__C_BRACKET
            "\" fill-opacity=\"0.45\"/>\n",
            x0, TOP, fmax(x1 - x0, 1.5), ph);
  }
  draw_ticks(out, &ax, TOP, bottom);

  /* One row per session, labelled when there is room. */
  size_t every = (size_t)ceil(12.0 / rowh);
  for (size_t k = 0; k < nsess; k++) {
    double y = TOP + ((double)k + 0.5) * rowh;
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#f0f0f0\"/>\n",
            LEFT, y, RIGHT, y);
    if (k % every == 0)
      fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">#%u</text>\n", LEFT - 8, y + 4,
              sess[k]);
  }
  fprintf(out,
          "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
          "stroke=\"#333\"/>\n",
          LEFT, TOP, RIGHT - LEFT, ph);

  if (!isnan(m.server_keepalive))
    vline(out, &ax, m.server_keepalive, bottom, TOP - 44, NI__C_OTHER, "2 3", "server keepalive");
  if (!isnan(m.estimate))
    vline(out, &ax, m.estimate, bottom, TOP - 8, NI__C_ESTIMATE, "6 3", "estimated timeout");
  if (!isnan(m.keepalive))
    vline(out, &ax, m.keepalive, bottom, TOP - 26, NI__C_KEEPALIVE, NULL, "recommended keepalive");
  draw_checks(out, rep, i, &ax, sess, nsess, rowh);

  fprintf(out,
          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\">"
          "silence before the check, seconds%s</text>\n",
          (LEFT + RIGHT) / 2, h - 12, ax.log ? " (log scale)" : "");
  fprintf(out,
          "<text x=\"22\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\" "
          "transform=\"rotate(-90 22 %.1f)\">probe session</text>\n",
          TOP + ph / 2, TOP + ph / 2);
  legend(out, &m, TOP + 8);
  fputs("</svg>\n", out);
  free(sess);
  return ferror(out) ? -EIO : 0;
}

size_t ni_report_nplots(const ni_report *rep) {
  return rep->nplots;
}

int ni_report_plot_info(const ni_report *rep, size_t i, const char **run_id, const char **direction,
                        size_t *checks) {
  if (i >= rep->nplots) return NI_EUSAGE;
  if (run_id) *run_id = rep->plots[i].run_id;
  if (direction) *direction = rep->plots[i].direction;
  if (checks) *checks = rep->plots[i].checks;
  return 0;
}

long ni_report_find_plot(const ni_report *rep, const char *run_id, const char *direction) {
  long best = -1;
  if (!run_id && rep->nplots) run_id = rep->plots[rep->nplots - 1].run_id;
  for (size_t i = 0; run_id && i < rep->nplots; i++) {
    const ni__plot *p = &rep->plots[i];
    if (strcmp(p->run_id, run_id) || (direction && strcmp(p->direction, direction))) continue;
    if (best < 0 || p->checks > rep->plots[best].checks) best = (long)i;
  }
  return best;
}
