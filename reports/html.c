/* The self-contained HTML report: per-network table, cost tables, plots. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "natidle/csv.h"
#include "reports/report_int.h"

static const char css[] =
    "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:2em auto;"
    "max-width:1200px;color:#222;line-height:1.4;padding:0 1em}\n"
    "h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}\n"
    "h3{font-size:1.05em}\n"
    "table{border-collapse:collapse;margin:.5em 0 1em;font-size:.92em}\n"
    "th,td{border:1px solid #ccc;padding:.3em .45em;text-align:left;vertical-align:top}\n"
    "th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:"
    "nowrap}\n"
    "tr.rec td{background:#eef6ee;font-weight:bold}\n"
    "td.bad{color:#b2182b}p.note{color:#555;font-size:.9em}\n"
    "figure{margin:1em 0}figcaption{color:#555;font-size:.9em}\n"
    "svg{max-width:100%;height:auto}div.wide{overflow-x:auto}\n";

static const char citation[] =
    "H. Haverinen, J. Siren, P. Eronen, &#8220;Energy consumption of always-on "
    "applications in WCDMA networks&#8221;, IEEE 65th Vehicular Technology Conference "
    "(VTC 2007-Spring), Dublin, April 2007, pp. 964&#8211;968, "
    "doi:10.1109/VETECS.2007.207.";

static void cell(FILE *out, const char *cls, const char *text) {
  fprintf(out, "<td%s%s%s>", cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
  ni__xml_text(out, text);
  fputs("</td>", out);
}

static void cell_s(FILE *out, double v, const char *empty) {
  char b[48];
  cell(out, "n", ni__fmt_s(b, sizeof(b), v, empty));
}

static void network_table(FILE *out, ni_report *rep) {
  char a[48], b[48];
  size_t n = ni_report_nrows(rep);
  fputs("<h2 id=\"networks\">NAT idle timeout per network</h2>\n", out);
  if (n == 0) {
    fputs("<p>No summary CSV was given.</p>\n", out);
    return;
  }
  fputs(
      "<div class=\"wide\"><table id=\"network-table\">\n<thead><tr><th>Network</th><th>Server</th>"
      "<th>Port / TLS</th><th>Direction</th><th>Runs</th>"
      "<th>Timeout estimate (s)<br>min / <b>median</b> / max</th><th>Bracket (s)</th>"
      "<th>Keepalive (s)<br>recommended</th><th>Server keep&#173;alive (s)</th>"
      "<th>Verdicts</th></tr></thead>\n<tbody>\n",
      out);
  for (size_t i = 0; i < n; i++) {
    const ni_net_row *r = ni_report_row(rep, i);
    char port[48], bracket[128], runs[32], est_max[48];
    fputs("<tr>", out);
    cell(out, NULL, r->network);
    cell(out, NULL, r->server);
    snprintf(port, sizeof(port), "%u / ", r->port);
    fputs("<td>", out);
    ni__xml_text(out, port);
    ni__xml_text(out, r->tls);
    fputs("</td>", out);
    cell(out, NULL, r->direction);
    snprintf(runs, sizeof(runs), "%zu", r->runs);
    cell(out, "n", runs);
    if (r->estimates)
      fprintf(out, "<td class=\"n\">%s / <b>%s</b> / %s</td>",
              ni__fmt_s(a, sizeof(a), r->est_min_s, ""),
              ni__fmt_s(b, sizeof(b), r->est_median_s, ""),
              ni__fmt_s(est_max, sizeof(est_max), r->est_max_s, ""));
    else
      cell(out, "n", "-");
    if (r->bracket == NI_BRACKET_NONE)
      snprintf(bracket, sizeof(bracket), "-");
    else
      snprintf(bracket, sizeof(bracket), "(%s, %s]%s", ni__fmt_s(a, sizeof(a), r->lower_s, ""),
               ni__fmt_s(b, sizeof(b), r->upper_s, "open"),
               r->bracket == NI_BRACKET_NARROWEST ? " narrowest" : "");
    cell(out, "n", bracket);
    cell_s(out, r->recommended_s, "-");
    cell_s(out, r->server_keepalive_s, "-");
    fputs("<td>", out);
    for (int v = 0; v < 4; v++)
      if (r->verdicts[v]) fprintf(out, "%s &#215;%zu<br>", ni_verdicts[v], r->verdicts[v]);
    fputs("</td></tr>\n", out);
  }
  fputs("</tbody></table></div>\n"
        "<p class=\"note\">Estimates: over the runs that reached one. Bracket (lower, upper]: "
        "the longest silence seen alive and the shortest seen dead; across runs the "
        "intersection of the measured and above_max runs&#8217; brackets when they agree, "
        "else the narrowest single measured bracket (marked &#8220;narrowest&#8221;: the runs "
        "disagree, the timeout may have changed between them). Recommended keepalive: the smallest "
        "any run "
        "recommended.</p>\n",
        out);
}

/* The cadences every cost table compares, after the recommended one. */
static const struct {
  double interval_s;
  const char *who;
} fixed[] = {
    {120, "every 2 min (a server keepalive such as Dovecot&#8217;s default)"},
    {900, "every 15 min (FairEmail)"},
    {1440, "every 24 min (K-9 Mail, Thunderbird for Android)"},
    {1740, "every 29 min (RFC 2177 re-IDLE limit)"},
};

static void cost_row(FILE *out, const char *cls, const char *who, double interval, double timeout,
                     double lower) {
  char b[64];
  double ma = ni_radio_current_ma(interval), broken = ni_push_broken_share(interval, timeout);
  fprintf(out, "<tr%s%s%s><td>%s</td>", cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "",
          who);
  cell_s(out, interval, "-");
  snprintf(b, sizeof(b), "%.0f", 86400.0 / interval);
  cell(out, "n", b);
  snprintf(b, sizeof(b), "%.1f", ma);
  cell(out, "n", b);
  snprintf(b, sizeof(b), "%.0f", ma * 24);
  cell(out, "n", b);
  snprintf(b, sizeof(b), "%.0f", (ma - ni_radio_current_ma(0)) * 24);
  cell(out, "n", b);
  if (!isnan(broken))
    snprintf(b, sizeof(b), "%.0f %%", broken * 100);
  else if (!isnan(lower) && interval <= lower)
    snprintf(b, sizeof(b), "0 %%");
  else
    snprintf(b, sizeof(b), "unknown");
  cell(out, broken > 0 ? "n bad" : "n", b);
  fputs("</tr>\n", out);
}

/* The timeout a cost table uses: the median estimate when the runs reached
 * one, else nothing (push breakage then only known below the lower bound). */
static void cost_table(FILE *out, const ni_net_row *r) {
  char t[48], k[48];
  double timeout = r->est_median_s;
  double lower = r->bracket != NI_BRACKET_NONE ? r->lower_s : NAN;
  fputs("<h3>", out);
  ni__xml_text(out, r->network);
  fputs(" &#8212; ", out);
  ni__xml_text(out, r->server);
  fprintf(out, ":%u, ", r->port);
  ni__xml_text(out, r->direction);
  fputs("</h3>\n<p>", out);
  if (!isnan(timeout))
    fprintf(out, "NAT idle timeout used: <b>%s s</b> (median estimate of %zu run%s).",
            ni__fmt_s(t, sizeof(t), timeout, ""), r->estimates, r->estimates == 1 ? "" : "s");
  else if (!isnan(lower))
    fprintf(out, "No timeout estimate: the NAT kept sessions alive for at least %s s.",
            ni__fmt_s(t, sizeof(t), lower, ""));
  else
    fputs("No timeout estimate for this network.", out);
  fputs("</p>\n<table class=\"cost\">\n<thead><tr><th>Keepalive cadence</th>"
        "<th>Interval (s)</th><th>Wakeups per day</th><th>Average current (mA)</th>"
        "<th>Charge per day (mAh)</th><th>Of which keepalives (mAh)</th>"
        "<th>Time push is broken</th></tr></thead>\n<tbody>\n",
        out);
  if (!isnan(r->recommended_s) && r->recommended_s > 0) {
    char who[96];
    snprintf(who, sizeof(who), "recommended by natidle, every %s s",
             ni__fmt_s(k, sizeof(k), r->recommended_s, ""));
    cost_row(out, "rec", who, r->recommended_s, timeout, lower);
  }
  for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed); i++)
    cost_row(out, NULL, fixed[i].who, fixed[i].interval_s, timeout, lower);
  fputs("</tbody></table>\n", out);
}

static void cost_section(FILE *out, ni_report *rep) {
  size_t n = ni_report_nrows(rep), shown = 0;
  fputs("<h2 id=\"cost\">What each keepalive cadence costs</h2>\n", out);
  for (size_t i = 0; i < n; i++) {
    const ni_net_row *r = ni_report_row(rep, i);
    if (isnan(r->est_median_s) && isnan(r->recommended_s) && r->bracket == NI_BRACKET_NONE)
      continue;
    cost_table(out, r);
    shown++;
  }
  if (!shown) fputs("<p>No network with a measured timeout or a recommendation.</p>\n", out);
  fprintf(out,
          "<p class=\"note\">Push is broken while a connection is silent longer than the NAT "
          "idle timeout T: a keepalive every I &gt; T seconds leaves push broken (I &#8722; "
          "T)&#160;/&#160;I of the time. Radio current: average 3G phone current measured by "
          "Haverinen et al. with a keepalive every 20 s (34 mA), 40 s (24 mA), 150 s "
          "(16 mA), 300 s (14 mA) and none (6.1 mA, the idle phone), interpolated linearly "
          "in the keepalive rate 1/I between those points; above 300 s the excess over idle "
          "therefore falls as 1/I, anchored at the 300 s point. Charge per day = current "
          "&#215; 24 h; &#8220;of which keepalives&#8221; is the excess over the idle "
          "phone. The figures were measured on a 2007 WCDMA phone: read them as "
          "relative costs of the cadences, not as a forecast for another phone. Source: "
          "%s</p>\n",
          citation);
}

static void plots_section(FILE *out, const ni_report *rep) {
  fputs("<h2 id=\"plots\">Survival plots</h2>\n", out);
  if (!rep->nplots) {
    fputs("<p>No observations CSV was given.</p>\n", out);
    return;
  }
  for (size_t i = 0; i < rep->nplots; i++) {
    const ni__plot *p = &rep->plots[i];
    fputs("<figure>\n", out);
    ni_report_write_svg(rep, i, out, 0);
    fputs("<figcaption>Run ", out);
    ni__xml_text(out, p->run_id);
    fputs(" (", out);
    ni__xml_text(out, p->direction);
    fputs(") from ", out);
    ni__xml_text(out, rep->files[p->file]);
    fputs(": each mark is one check of a silent session; a session alive after a silence "
          "longer than the NAT timeout is impossible, so the timeout lies in the shaded "
          "bracket.</figcaption>\n</figure>\n",
          out);
  }
}

int ni_report_write_html(ni_report *rep, FILE *out) {
  fprintf(out,
          "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>natidle report</title>\n<style>\n%s</style>\n</head>\n<body>\n"
          "<h1>natidle report: NAT idle timeouts and keepalive cost</h1>\n"
          "<p class=\"note\">Made by natidle %s from:",
          css, ni_version());
  for (size_t i = 0; i < rep->nfiles; i++) {
    fputs(i ? ", " : " ", out);
    ni__xml_text(out, rep->files[i]);
  }
  fputs(".</p>\n", out);
  network_table(out, rep);
  cost_section(out, rep);
  plots_section(out, rep);
  fprintf(out, "<h2 id=\"sources\">Sources</h2>\n<p>%s</p>\n</body>\n</html>\n", citation);
  if (fflush(out) != 0 || ferror(out)) return errno ? -errno : -EIO;
  return 0;
}
