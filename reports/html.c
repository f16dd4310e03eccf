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
    "svg{max-width:100%;height:auto}div.wide{overflow-x:auto}\n"
    "#keepalive-table td.n{white-space:normal}\n";

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
    for (int v = 0; v < NI_REPORT_NVERDICTS; v++)
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

/* The cells every cost row shares: the interval, wakeups per day, the
 * average current, the charge per day and its part above the idle phone. */
static void cost_cells(FILE *out, double interval, double per_day, double ma) {
  char b[64];
  cell_s(out, interval, "-");
  snprintf(b, sizeof(b), "%.0f", per_day);
  cell(out, "n", b);
  snprintf(b, sizeof(b), "%.1f", ma);
  cell(out, "n", b);
  snprintf(b, sizeof(b), "%.0f", ma * 24);
  cell(out, "n", b);
  snprintf(b, sizeof(b), "%.0f", (ma - ni_radio_current_ma(0)) * 24);
  cell(out, "n", b);
}

/* The opening of a cost row; `who` is markup, written as it is. */
static void cost_row_start(FILE *out, const char *cls, const char *who) {
  fprintf(out, "<tr%s%s%s><td>%s</td>", cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "",
          who);
}

/* The last cell of a cost row: the share of time push is broken. */
static void broken_cell(FILE *out, double interval, double timeout, double lower) {
  char b[64];
  double broken = ni_push_broken_share(interval, timeout);
  if (!isnan(broken))
    snprintf(b, sizeof(b), "%.0f %%", broken * 100);
  else if (!isnan(lower) && interval <= lower)
    snprintf(b, sizeof(b), "0 %%");
  else
    snprintf(b, sizeof(b), "unknown");
  cell(out, broken > 0 ? "n bad" : "n", b);
}

static void cost_row(FILE *out, const char *cls, const char *who, double interval, double timeout,
                     double lower) {
  cost_row_start(out, cls, who);
  cost_cells(out, interval, 86400.0 / interval, ni_radio_current_ma(interval));
  broken_cell(out, interval, timeout, lower);
  fputs("</tr>\n", out);
}

static const char cost_head[] =
    "<thead><tr><th>Keepalive cadence</th><th>Interval (s)</th><th>Wakeups per day</th>"
    "<th>Average current (mA)</th><th>Charge per day (mAh)</th><th>Of which keepalives (mAh)</th>"
    "<th>%s</th></tr></thead>\n<tbody>\n";

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
  fputs("</p>\n<table class=\"cost\">\n", out);
  fprintf(out, cost_head, "Time push is broken");
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

/* Without survival plots, the one picture summary rows alone give. */
static void network_chart_section(FILE *out, ni_report *rep) {
  if (rep->nplots || !ni_report_nrows(rep)) return;
  fputs("<h2 id=\"chart\">Timeout per network</h2>\n<figure>\n", out);
  ni_report_write_network_chart(rep, out, 0);
  fputs("<figcaption>One row per network, server, port/TLS and direction: the timeout lies "
        "in the bar (lower, upper]; an arrow means no session died up to the probe&#8217;s "
        "maximum; the dashed lines are keepalive cadences mail clients commonly use. A "
        "cadence right of a network&#8217;s bar leaves push broken there.</figcaption>\n"
        "</figure>\n",
        out);
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

/* A table of the plain-text cells the terminal table shows. */
static void text_table(FILE *out, const char *id, const char *const *head, int ncols, size_t nrows,
                       ni__fill_row fill, void *ctx) {
  char cells[NI__TABLE_MAXCOLS][NI__TABLE_CELL];
  fprintf(out, "<div class=\"wide\"><table id=\"%s\">\n<thead><tr>", id);
  for (int j = 0; j < ncols; j++) {
    fputs("<th>", out);
    ni__xml_text(out, head[j]);
    fputs("</th>", out);
  }
  fputs("</tr></thead>\n<tbody>\n", out);
  for (size_t i = 0; i < nrows; i++) {
    fill(ctx, i, cells);
    fputs("<tr>", out);
    for (int j = 0; j < ncols; j++)
      cell(out, j < 2 ? NULL : "n", cells[j]);
    fputs("</tr>\n", out);
  }
  fputs("</tbody></table></div>\n", out);
}

/* The probe's recommendation for one merged row, as a cost row. */
static void probe_compare_row(FILE *out, const ni_net_row *r) {
  char b[48];
  fputs("<tr class=\"rec\"><td>natidle probe: recommended keepalive (", out);
  ni__xml_text(out, r->server);
  fprintf(out, ":%u ", r->port);
  ni__xml_text(out, r->direction);
  fprintf(out, ", %zu run%s", r->runs, r->runs == 1 ? "" : "s");
  if (!isnan(r->est_median_s))
    fprintf(out, ", timeout estimate %s s", ni__fmt_s(b, sizeof(b), r->est_median_s, ""));
  fputs(")</td>", out);
  cost_cells(out, r->recommended_s, 86400.0 / r->recommended_s,
             ni_radio_current_ma(r->recommended_s));
  broken_cell(out, r->recommended_s, r->est_median_s,
              r->bracket != NI_BRACKET_NONE ? r->lower_s : NAN);
  fputs("</tr>\n", out);
}

/* What one keepalive run measured, as a cost row. */
static void kalog_compare_row(FILE *out, const ni_kalog_summary *k) {
  char b[48];
  long long t = llround(k->covered_s);
  fputs("<tr><td>natidle keepalive, account ", out);
  ni__xml_text(out, k->account);
  if (!strcmp(k->phase_end, "steady"))
    fputs(": the cadence it settled on", out);
  else if (!strcmp(k->phase_end, "probing"))
    fputs(": still learning at its end (the last probe)", out);
  else
    fputs(": its last answered silence", out);
  fprintf(out, " (measured over %lld:%02lld:%02lld in %zu run%s)</td>", t / 3600, t / 60 % 60,
          t % 60, k->runs, k->runs == 1 ? "" : "s");
  /* Measured wakeups when the log counts them, else its keepalives. */
  double per_day = k->wakeups >= 0 ? k->wakeups_per_day : k->keepalives_per_day;
  if (isnan(per_day) || isnan(k->cadence_end_s)) {
    fputs("<td class=\"n\" colspan=\"5\">too short to measure</td>", out);
  } else {
    cost_cells(out, k->cadence_end_s, per_day, k->current_ma);
  }
  fprintf(out, "<td class=\"n%s\">%zu of %zu keepalives unanswered, %zu of %zu messages late",
          k->unanswered || k->late ? " bad" : "", k->unanswered, k->keepalives, k->late,
          k->pushed + k->fetched + k->late);
  if (k->delays) fprintf(out, ", push delay p95 %s s", ni__fmt_s(b, sizeof(b), k->delay_p95_s, ""));
  fputs("</td></tr>\n", out);
}

/* Probe and keepalive side by side for one network, then its timelines. */
static void compare_network(FILE *out, ni_report *rep, const char *network) {
  size_t probes = 0;
  fputs("<h3>", out);
  ni__xml_text(out, *network ? network : "(no network label)");
  fputs(": the probe&#8217;s cadence against the keepalive runs&#8217;</h3>\n", out);
  for (size_t i = 0; i < ni_report_nrows(rep); i++) {
    const ni_net_row *r = ni_report_row(rep, i);
    probes += !strcmp(r->network, network) && !isnan(r->recommended_s) && r->recommended_s > 0;
  }
  if (!probes)
    fputs("<p class=\"note\">No probe summary of this network was given (natidle probe "
          "--network with the same label, --summary FILE): only what the keepalive runs "
          "measured.</p>\n",
          out);
  fputs("<table class=\"cost compare\">\n", out);
  fprintf(out, cost_head, "Push: time broken (probe), what failed (run)");
  for (size_t i = 0; i < ni_report_nrows(rep); i++) {
    const ni_net_row *r = ni_report_row(rep, i);
    if (!strcmp(r->network, network) && !isnan(r->recommended_s) && r->recommended_s > 0)
      probe_compare_row(out, r);
  }
  for (size_t i = 0; i < ni_report_nkalogs(rep); i++)
    if (!strcmp(ni_report_kalog(rep, i)->network, network))
      kalog_compare_row(out, ni_report_kalog(rep, i));
  fputs("</tbody></table>\n", out);
  for (size_t i = 0; i < ni_report_nkalogs(rep); i++) {
    const ni_kalog_summary *k = ni_report_kalog(rep, i);
    if (strcmp(k->network, network)) continue;
    fputs("<figure>\n", out);
    ni_report_write_timeline(rep, i, out, 0);
    fputs("<figcaption>Account ", out);
    ni__xml_text(out, k->account);
    fputs(": every keepalive at the silence before it; the shaded band is the bracket the "
          "scheduler had learned at that time (the NAT&#8217;s timeout lies inside it), the "
          "purple line its cadence.</figcaption>\n</figure>\n",
          out);
  }
}

static void keepalive_section(FILE *out, ni_report *rep) {
  size_t n = ni_report_nkalogs(rep);
  fputs("<h2 id=\"keepalive\">Keepalive runs</h2>\n", out);
  if (!n) {
    fputs("<p>No keepalive log (natidle keepalive --log) was given.</p>\n", out);
    return;
  }
  text_table(out, "keepalive-table", ni__kalog_head, NI__KALOG_TCOLS, n, ni__kalog_cells, rep);
  fputs("<p class=\"note\">Per network and account, over the time the runs covered. Answered: "
        "the keepalives whose reply came back. Reconnects: connections lost, by reason. "
        "Messages: pushed in IDLE, fetched otherwise, or late (found only by the resync after a "
        "reconnect: their push was lost). Push delay: from the message&#8217;s arrival at the "
        "server to its report. Wakeups: sends after more than 2 s of radio silence. Charge: "
        "the cost model below at the mean interval between wakeups.</p>\n",
        out);
  for (size_t i = 0; i < n; i++) {
    const char *network = ni_report_kalog(rep, i)->network;
    size_t j = 0;
    while (strcmp(ni_report_kalog(rep, j)->network, network))
      j++;
    if (j == i) compare_network(out, rep, network); /* each network once */
  }
  fputs("<p class=\"note\">The probe&#8217;s row is what the cost model predicts for its "
        "recommended cadence; a keepalive run&#8217;s row is what it measured: its wakeups per "
        "day (keepalives, and also reconnects and learning probes that failed) and the current "
        "the same model gives for that rate.</p>\n",
        out);
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
  network_chart_section(out, rep);
  keepalive_section(out, rep);
  cost_section(out, rep);
  plots_section(out, rep);
  fprintf(out, "<h2 id=\"sources\">Sources</h2>\n<p>%s</p>\n</body>\n</html>\n", citation);
  if (fflush(out) != 0 || ferror(out)) return errno ? -errno : -EIO;
  return 0;
}
