/* The timeline of a keepalive log (one network and account) as SVG 1.1:
 * every keepalive at the silence that preceded it, the learned bracket
 * narrowing over time, the cadence, lost connections, and the messages
 * with their push delays. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "natidle/csv.h"
#include "reports/report_int.h"

/* Geometry, in SVG user units (px). */
#define W 960.0
#define LEFT 70.0
#define RIGHT 750.0
#define TOP 92.0 /* title, subtitle and the probe's line labels */
#define PH 280.0 /* the keepalive panel */
#define GAP 58.0 /* between the panels: time labels, the message panel's title */
#define MH 110.0 /* the message panel */
#define BOTTOM_PAD 58.0

#define C_LATE NI__C_DEAD
#define C_OPEN "#f9e3a3" /* a bracket without its upper end yet */

/* Time on x: seconds since 1970 UTC to px. */
typedef struct taxis {
  double t0, t1;
} taxis;

static double tx(const taxis *ax, double t) {
  double f = (t - ax->t0) / (ax->t1 - ax->t0);
  return LEFT + fmin(fmax(f, 0.0), 1.0) * (RIGHT - LEFT);
}

/* A value axis: 0 .. max over `h` px ending at `bottom`. */
typedef struct vaxis {
  double max, bottom, h;
} vaxis;

static double vy(const vaxis *ax, double v) {
  return ax->bottom - fmin(fmax(v / ax->max, 0.0), 1.0) * ax->h;
}

static void make_vaxis(vaxis *ax, double hi, double bottom, double h) {
  double step = ni__nice_step(fmax(hi, 1.0) * 1.08 / 5);
  ax->max = ceil(fmax(hi, 1.0) * 1.08 / step) * step;
  ax->bottom = bottom;
  ax->h = h;
}

static void value_ticks(FILE *out, const vaxis *ax) {
  char b[48];
  double step = ni__nice_step(ax->max / 5 * 0.999);
  for (double v = 0; v <= ax->max * (1 + 1e-9); v += step) {
    double y = vy(ax, v);
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n",
            LEFT, y, RIGHT, y);
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", LEFT - 6, y + 4,
            ni__fmt_s(b, sizeof(b), v, ""));
  }
}

/* Tick steps of a clock: seconds, minutes, hours, days. */
static const double time_steps[] = {1,     2,     5,     10,    15,     30,    60,
                                    120,   300,   600,   900,   1800,   3600,  7200,
                                    10800, 21600, 43200, 86400, 172800, 604800};

static void time_ticks(FILE *out, const taxis *ax, double y0, double y1) {
  double span = ax->t1 - ax->t0, step = time_steps[0];
  size_t n = sizeof(time_steps) / sizeof(*time_steps);
  for (size_t i = 0; i < n && span / step > 8; i++)
    step = time_steps[i];
  while (span / step > 8)
    step *= 2;
  for (double t = ceil(ax->t0 / step) * step; t <= ax->t1 + 1e-6; t += step) {
    char at[NI_CSV_TIME_LEN];
    double x = tx(ax, t);
    ni_csv_fmt_utc(at, sizeof(at), (uint64_t)llround(t * 1000));
    /* "2026-11-27T21:55:03.120Z": the clock time, or the date for days. */
    const char *label = step >= 86400 ? at + 5 : at + 11;
    int len = step >= 86400 ? 5 : step >= 60 ? 5 : 8;
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n", x,
            y0, x, y1);
    fprintf(out,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n"
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.*s</text>\n",
            x, y1, x, y1 + 5, x, y1 + 18, len, label);
  }
}

/* The probe's view of the same network, when a summary CSV gave one: the
 * merged row with a recommendation, inbound preferred (push comes in). */
static const ni_net_row *probe_row(ni_report *rep, const char *network) {
  const ni_net_row *best = NULL;
  for (size_t i = 0; i < ni_report_nrows(rep); i++) {
    const ni_net_row *r = ni_report_row(rep, i);
    if (strcmp(r->network, network) || isnan(r->recommended_s)) continue;
    if (!best || (!strcmp(r->direction, "inbound") && strcmp(best->direction, "inbound"))) best = r;
  }
  return best;
}

/* The scheduler's state between two of its rows. */
typedef struct span {
  double t0, t1, lower, upper, cadence;
  int probing;
} span;

/* The next span of log `li` from row index *i on: from a cadence row to
 * the next start, cadence or stop row of the same log (or the end), so
 * that the gap between two runs stays empty.  Returns 0 when there is none
 * left. */
static int next_span(const ni_report *rep, size_t li, size_t *i, double t_end, span *sp) {
  for (; *i < rep->nka; (*i)++) {
    const ni__karow *k = &rep->ka[*i];
    if (k->log != li || isnan(k->cadence_s) ||
        (k->event != NI__KA_CADENCE && k->event != NI__KA_START))
      continue;
    sp->t0 = k->t;
    sp->lower = isnan(k->lower_s) ? 0 : k->lower_s;
    sp->upper = k->upper_s;
    sp->cadence = k->cadence_s;
    sp->probing = k->event == NI__KA_CADENCE && !strcmp(k->outcome, "probing");
    sp->t1 = t_end;
    for (size_t j = *i + 1; j < rep->nka; j++) {
      const ni__karow *n = &rep->ka[j];
      if (n->log == li &&
          (n->event == NI__KA_START || n->event == NI__KA_CADENCE || n->event == NI__KA_STOP)) {
        sp->t1 = n->t;
        break;
      }
    }
    (*i)++;
    return 1;
  }
  return 0;
}

static void draw_band(FILE *out, ni_report *rep, size_t li, const taxis *tax, const vaxis *vax) {
  span sp;
  size_t i = 0;
  while (next_span(rep, li, &i, tax->t1, &sp)) {
    double x0 = tx(tax, sp.t0), x1 = tx(tax, sp.t1);
    double ytop = isnan(sp.upper) ? vax->bottom - vax->h : vy(vax, sp.upper);
    double ybot = vy(vax, sp.lower);
    if (x1 > x0 && ybot > ytop)
      fprintf(out,
              "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
              "fill-opacity=\"%s\"/>\n",
              x0, ytop, x1 - x0, ybot - ytop, isnan(sp.upper) ? C_OPEN : NI__C_BRACKET,
              isnan(sp.upper) ? "0.5" : "0.45");
  }
  /* The cadence over the band: dashed while it is a learning probe. */
  i = 0;
  while (next_span(rep, li, &i, tax->t1, &sp)) {
    double y = vy(vax, sp.cadence);
    fprintf(out,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" NI__C_KEEPALIVE
            "\" stroke-width=\"2\"%s/>\n",
            tx(tax, sp.t0), y, fmax(tx(tax, sp.t1), tx(tax, sp.t0) + 1), y,
            sp.probing ? " stroke-dasharray=\"5 3\"" : "");
  }
}

/* A horizontal line across the keepalive panel with its label above the
 * panel at height ly. */
static void hline(FILE *out, const vaxis *vax, double v, double ly, const char *color,
                  const char *dash, const char *label) {
  char b[48];
  double y = vy(vax, v);
  fprintf(out,
          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
          "stroke-width=\"1.5\" stroke-dasharray=\"%s\"/>\n",
          LEFT, y, RIGHT, y, color, dash);
  fprintf(out,
          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"%s\" font-weight=\"bold\">"
          "%s %s s</text>\n",
          RIGHT - 4, ly, color, label, ni__fmt_s(b, sizeof(b), v, ""));
}

/* Events drawn as vertical lines through the keepalive panel. */
static void draw_vertical(FILE *out, double x, double y0, double y1, const char *color,
                          const char *dash, const char *title, const char *detail) {
  fprintf(out,
          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
          "stroke-width=\"1.5\"%s%s%s><title>",
          x, y0, x, y1, color, *dash ? " stroke-dasharray=\"" : "", dash, *dash ? "\"" : "");
  ni__xml_text(out, title);
  ni__xml_text(out, detail);
  fputs("</title></line>\n", out);
}

static void draw_rows(FILE *out, ni_report *rep, size_t li, const taxis *tax, const vaxis *kax,
                      const vaxis *max) {
  char b[48], title[200];
  double ktop = kax->bottom - kax->h;
  for (size_t i = 0; i < rep->nka; i++) {
    const ni__karow *k = &rep->ka[i];
    if (k->log != li) continue;
    double x = tx(tax, k->t);
    switch (k->event) {
    case NI__KA_KEEPALIVE:
      snprintf(title, sizeof(title), "keepalive after %s s of silence: %s",
               ni__fmt_s(b, sizeof(b), k->interval_s, ""), k->outcome);
      ni__svg_mark(out, !strcmp(k->outcome, "answered") ? NI__MARK_ALIVE : NI__MARK_DEAD, x,
                   vy(kax, k->interval_s), title);
      break;
    case NI__KA_MESSAGE: {
      enum ni__mark m = !strcmp(k->outcome, "pushed") ? NI__MARK_ALIVE
                        : !strcmp(k->outcome, "late") ? NI__MARK_DEAD
                                                      : NI__MARK_OTHER;
      snprintf(title, sizeof(title), "message %s, delay %s s", k->outcome,
               ni__fmt_s(b, sizeof(b), k->delay_s, "unknown"));
      ni__svg_mark(out, m, x, vy(max, isnan(k->delay_s) ? 0 : k->delay_s), title);
      break;
    }
    case NI__KA_LOST:
      draw_vertical(out, x, ktop, kax->bottom, NI__C_DEAD, "4 3", "connection lost: ", k->outcome);
      break;
    case NI__KA_CONNECT:
      if (strcmp(k->outcome, "ok"))
        draw_vertical(out, x, kax->bottom - 14, kax->bottom, NI__C_DEAD, "",
                      "connection attempt failed: ", k->outcome);
      break;
    case NI__KA_START:
      draw_vertical(out, x, ktop, kax->bottom, "#555", "",
                    "natidle keepalive started: ", k->outcome);
      break;
    case NI__KA_CADENCE:
    case NI__KA_STOP:
      break;
    }
  }
}

static void legend(FILE *out, const ni_net_row *probe, int probing_seen, double y, double msg_y) {
  double x = RIGHT + 22;
  fputs("<g font-size=\"12\">\n", out);
  ni__svg_legend_mark(out, NI__MARK_ALIVE, x, y, "keepalive answered");
  ni__svg_legend_mark(out, NI__MARK_DEAD, x, y + 20, "keepalive unanswered");
  y += 40;
  fprintf(out,
          "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"" NI__C_BRACKET
          "\" fill-opacity=\"0.45\"/>\n<text x=\"%.1f\" y=\"%.1f\">learned bracket</text>\n",
          x - 5, y - 5, x + 12, y + 4);
  fprintf(out,
          "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"" C_OPEN
          "\" fill-opacity=\"0.5\"/>\n<text x=\"%.1f\" y=\"%.1f\">no upper end yet</text>\n",
          x - 5, y + 15, x + 12, y + 24);
  y += 40;
  ni__svg_legend_line(out, x, y, NI__C_KEEPALIVE, "", "cadence");
  y += 20;
  if (probing_seen) {
    ni__svg_legend_line(out, x, y, NI__C_KEEPALIVE, " stroke-dasharray=\"5 3\"", "learning probe");
    y += 20;
  }
  ni__svg_legend_line(out, x, y, NI__C_DEAD, " stroke-dasharray=\"4 3\"", "connection lost");
  y += 20;
  if (probe) {
    ni__svg_legend_line(out, x, y, NI__C_ESTIMATE, " stroke-dasharray=\"8 4\"",
                        "probe: recommended");
    y += 20;
    if (!isnan(probe->est_median_s))
      ni__svg_legend_line(out, x, y, NI__C_OTHER, " stroke-dasharray=\"2 3\"",
                          "probe: timeout estimate");
  }
  ni__svg_legend_mark(out, NI__MARK_ALIVE, x, msg_y, "message pushed");
  ni__svg_legend_mark(out, NI__MARK_OTHER, x, msg_y + 20, "message fetched");
  ni__svg_legend_mark(out, NI__MARK_DEAD, x, msg_y + 40, "late: push lost,");
  fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">found on reconnect</text>\n", x + 12, msg_y + 58);
  fputs("</g>\n", out);
}

static void title(FILE *out, const ni_kalog_summary *s) {
  char a[NI_CSV_TIME_LEN], b[NI_CSV_TIME_LEN], c0[48], c1[48];
  fputs("<text x=\"20\" y=\"26\" font-size=\"16\" font-weight=\"bold\">Keepalive timeline: ", out);
  ni__xml_text(out, *s->network ? s->network : "(no network label)");
  fputs(", account ", out);
  ni__xml_text(out, s->account);
  ni_csv_fmt_utc(a, sizeof(a), (uint64_t)llround(s->first_at * 1000));
  ni_csv_fmt_utc(b, sizeof(b), (uint64_t)llround(s->last_at * 1000));
  fprintf(out,
          "</text>\n<text x=\"20\" y=\"46\" fill=\"#444\">%.19s to %.19s UTC: %zu keepalives "
          "(%zu unanswered), %zu lost connections, %zu messages (%zu late)",
          a, b, s->keepalives, s->unanswered, s->reconnects, s->pushed + s->fetched + s->late,
          s->late);
  if (!isnan(s->cadence_start_s)) {
    fprintf(out, "; cadence %s &#8594; %s s ", ni__fmt_s(c0, sizeof(c0), s->cadence_start_s, ""),
            ni__fmt_s(c1, sizeof(c1), s->cadence_end_s, ""));
    ni__xml_text(out, s->phase_end);
  }
  fputs("</text>\n", out);
}

int ni_report_write_timeline(ni_report *rep, size_t li, FILE *out, int standalone) {
  if (li >= ni_report_nkalogs(rep)) return NI_EUSAGE;
  const ni_kalog_summary *s = ni_report_kalog(rep, li);
  const ni_net_row *probe = probe_row(rep, s->network);
  taxis tax = {s->first_at, s->last_at};
  if (!(tax.t1 - tax.t0 >= 1)) tax.t1 = tax.t0 + 1;

  /* The value axes cover every keepalive, bracket end, cadence and line. */
  double khi = 0, mhi = 1;
  int probing_seen = 0;
  for (size_t i = 0; i < rep->nka; i++) {
    const ni__karow *k = &rep->ka[i];
    if (k->log != li) continue;
    const double v[] = {k->interval_s, k->lower_s, k->upper_s, k->cadence_s};
    for (size_t j = 0; j < sizeof(v) / sizeof(*v); j++)
      if (v[j] > khi) khi = v[j];
    if (k->delay_s > mhi) mhi = k->delay_s;
    if (k->event == NI__KA_CADENCE && !strcmp(k->outcome, "probing")) probing_seen = 1;
  }
  if (probe)
    khi =
        fmax(khi, fmax(probe->recommended_s, isnan(probe->est_median_s) ? 0 : probe->est_median_s));
  vaxis kax, max;
  make_vaxis(&kax, khi, TOP + PH, PH);
  make_vaxis(&max, mhi, TOP + PH + GAP + MH, MH);
  double h = TOP + PH + GAP + MH + BOTTOM_PAD;

  ni__svg_begin(out, W, h, standalone, "natidle keepalive timeline", s->network, ", ", s->account);
  title(out, s);

  /* The band first, so everything else is drawn over it. */
  draw_band(out, rep, li, &tax, &kax);
  value_ticks(out, &kax);
  value_ticks(out, &max);
  time_ticks(out, &tax, TOP, kax.bottom);
  time_ticks(out, &tax, max.bottom - MH, max.bottom);
  for (int p = 0; p < 2; p++)
    fprintf(out,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#333\"/>\n",
            LEFT, p ? max.bottom - MH : TOP, RIGHT - LEFT, p ? MH : PH);
  if (probe) {
    hline(out, &kax, probe->recommended_s, TOP - 8, NI__C_ESTIMATE, "8 4",
          "probe: recommended keepalive");
    if (!isnan(probe->est_median_s))
      hline(out, &kax, probe->est_median_s, TOP - 24, NI__C_OTHER, "2 3",
            "probe: timeout estimate");
  }
  draw_rows(out, rep, li, &tax, &kax, &max);

  fprintf(out,
          "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\">messages: push delay, seconds</text>\n",
          LEFT, max.bottom - MH - 10);
  fprintf(out,
          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\">time (UTC)</text>\n",
          (LEFT + RIGHT) / 2, h - 12);
  fprintf(out,
          "<text x=\"20\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\" "
          "transform=\"rotate(-90 20 %.1f)\">silence before the keepalive, s</text>\n",
          TOP + PH / 2, TOP + PH / 2);
  legend(out, probe, probing_seen, TOP + 8, max.bottom - MH + 10);
  fputs("</svg>\n", out);
  return ferror(out) ? -EIO : 0;
}
