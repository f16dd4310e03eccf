/*
 * What the probe tells: events for the tool (progress notes, error lines,
 * status snapshots), one CSV row per observation, and at the end one
 * summary row and one result per direction with its verdict and the
 * keepalive cadence it recommends.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/num.h"
#include "natidle/keepalive.h"
#include "probe/internal.h"

/* ---- events ------------------------------------------------------------- */

void ni__emit(ni__probe *p, ni_probe_event *ev) {
  if (!p->hooks.cb) return;
  ev->now = ni_imap_now();
  p->hooks.cb(ev, p->hooks.arg);
}

/* A note or an error line, formatted. */
static void emit_text(ni__probe *p, ni_probe_event_kind kind, int level, const char *fmt,
                      va_list ap) {
  char buf[512];
  vsnprintf(buf, sizeof buf, fmt, ap);
  ni_probe_event ev = {.kind = kind, .level = level, .text = buf};
  ni__emit(p, &ev);
}

void ni__note(ni__probe *p, int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit_text(p, NI_PROBE_EV_NOTE, level, fmt, ap);
  va_end(ap);
}

void ni__error(ni__probe *p, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit_text(p, NI_PROBE_EV_ERROR, 0, fmt, ap);
  va_end(ap);
}

void ni__status(ni__probe *p) {
  if (!p->hooks.status_ms) return;
  ni_status_view v;
  memset(&v, 0, sizeof v);
  ni_search *se = ni__search_for(p, p->search.cur);
  double lo = 0, up = INFINITY;
  if (se) ni__search_bracket(se, &lo, &up);
  ni_ms now = ni_imap_now();
  v.lower_s = lo;
  v.upper_s = isinf(up) ? -1 : up;
  v.next_check_s = -1;
  v.eta_s = se ? ni__search_eta_s(se, now) : -1;
  v.checks = p->n.checks;
  for (unsigned i = 0; i < p->k; i++) {
    ni__sess *s = &p->ss[i];
    if (s->state == SS_SILENT && s->armed) {
      v.armed++;
      double in = s->due > now ? (double)(s->due - now) / 1000.0 : 0;
      if (v.next_check_s < 0 || in < v.next_check_s) v.next_check_s = in;
    } else if (s->state == SS_SILENT)
      v.parked++;
    else if (s->state == SS_CHECK || s->state == SS_DONE)
      v.checking++;
    else if (s->state == SS_OFF || s->state == SS_SETUP || s->state == SS_REIDLE)
      v.reconnecting++;
  }
  ni_probe_event ev = {.kind = NI_PROBE_EV_STATUS, .status = &v};
  ni__emit(p, &ev);
}

/* ---- observations ------------------------------------------------------- */

const char *ni__probe_dir_name(ni_probe_dir dir) {
  return dir == NI_PDIR_OUTBOUND ? "outbound" : "inbound";
}

ni_search *ni__search_for(ni__probe *p, ni_probe_dir dir) {
  return dir == NI_PDIR_OUTBOUND ? p->search.out : p->search.in;
}

static int is_dead(ni__outcome oc) {
  return oc == OC_DEAD_SILENT || oc == OC_DEAD_RESET || oc == OC_DEAD_CLOSED ||
         oc == OC_DEAD_INBOUND;
}

static uint64_t unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void write_obs(ni__probe *p, const ni__sess *s, ni__outcome oc, long detect_ms,
                      const char *evidence) {
  if (!p->csv) return;
  char port[16], session[16], tgt[32], sil[32], det[32], rtt[32], at[NI_CSV_TIME_LEN];
  snprintf(port, sizeof port, "%u", p->id.port);
  snprintf(session, sizeof session, "%u", s->num);
  snprintf(tgt, sizeof tgt, "%.3f", s->ck.target);
  snprintf(sil, sizeof sil, "%.3f", s->ck.silence);
  if (detect_ms >= 0)
    snprintf(det, sizeof det, "%ld", detect_ms);
  else
    det[0] = '\0';
  if (p->ctl.srtt_ms >= 0)
    snprintf(rtt, sizeof rtt, "%.0f", p->ctl.srtt_ms);
  else
    rtt[0] = '\0';
  ni_csv_fmt_utc(at, sizeof at, unix_ms());
  const char *f[NI_OBS_NCOLS] = {p->id.run_id,
                                 p->o->network,
                                 p->o->server,
                                 port,
                                 p->id.tls_name,
                                 session,
                                 tgt,
                                 sil,
                                 ni__probe_dir_name(s->ck.dir),
                                 ni_obs_outcomes[oc],
                                 det,
                                 rtt,
                                 evidence,
                                 at};
  int rc = ni_csv_write_row(p->csv, f);
  if (rc != 0) ni__note(p, 0, "cannot write %s: %s", p->o->csv_path, ni_strerror(rc));
}

/* Feed an observation of direction dir into the searches: inbound checks
 * also tell about the outbound direction when both are measured (a push that
 * got through, or a DONE answered after a lost push, both prove the client
 * could still reach the server; a reset or silence proves it could not). */
void ni__derive_outbound(ni__probe *p, ni_probe_dir dir, ni__outcome oc, double silence) {
  if (dir != NI_PDIR_INBOUND || !p->search.out || !p->search.in) return;
  if (oc == OC_ALIVE || oc == OC_DEAD_INBOUND)
    ni__search_observe(p->search.out, silence, NI_OBS_ALIVE);
  else if (is_dead(oc))
    ni__search_observe(p->search.out, silence, NI_OBS_DEAD);
}

/* Is the control connection a witness for a dead check of s now?  Its NOOP
 * cadence gives a reply at least every noop_ms plus a round trip while the
 * network works; a stall during the check, a lost connection or a silent
 * one mean the whole network may have been down and the push lost with
 * it. */
static int witnessed(const ni__probe *p, const ni__sess *s, ni_ms now) {
  const ni__ctl *k = &p->ctl;
  ni_ms fresh = p->t.noop_ms + (ni_ms)(2 * k->srtt_ms) + WITNESS_SLACK_MS;
  int stalled = (k->stall_end && k->stall_end >= s->ck.sent) ||
                (k->noop_inflight && now - k->noop_sent > ni__stall_ms(p));
  return s->ck.epoch == k->epoch && k->state == CT_READY && k->last_reply + fresh >= now &&
         !stalled;
}

/* The value of key (e.g. "last_in") in an evidence string, or NAN. */
static double evidence_num(const char *ev, const char *key) {
  size_t n = strlen(key);
  for (const char *q = ev; (q = strstr(q, key)) != NULL; q += n)
    if ((q == ev || q[-1] == ' ') && q[n] == '=') return strtod(q + n + 1, NULL);
  return NAN;
}

/* The longest a client's TCP delays the ACK that may be the last packet
 * before a silence (Linux: TCP_DELACK_MAX). */
#define DELACK_MAX_S 0.2

/* The silence the NAT may have seen at least, for an alive inbound check
 * whose push met `client_s` of the client's silence.  The last packet
 * before the silence is the server's (it passed the NAT earlier by the same
 * path delay as the push: the NAT saw the client's silence) or the
 * client's delayed ACK of the IDLE continuation, which left `ack_s` after
 * the silence began and passed the NAT up to one round trip later: the NAT
 * saw up to ack_s + one round trip less.  Without a capture, ack_s is the
 * longest delay an ACK may have. */
static double nat_alive_s(double client_s, double rtt_s, int captured, double in, double out,
                          double wire_s) {
  if (!captured) return fmax(0.0, client_s - rtt_s - DELACK_MAX_S);
  if (!isnan(in) && (isnan(out) || in >= out)) return fmin(client_s, wire_s);
  return fmax(0.0, client_s - rtt_s - (isnan(out) ? DELACK_MAX_S : fmax(0.0, out)));
}

/* Remember the longest alive silence of a direction and the silence the
 * NAT saw at least for it (nat_alive_s). */
static void note_alive(ni__probe *p, const ni__sess *s, const char *evidence, double wire_s) {
  int i = s->ck.dir == NI_PDIR_OUTBOUND;
  if (s->ck.silence <= p->alive[i].client_s) return;
  double in = evidence_num(evidence, "last_in"), out = evidence_num(evidence, "last_out");
  double rtt_s = ni__rtt_s(p);
  p->alive[i].client_s = s->ck.silence;
  /* A push that came after DONE met a silence DONE had already ended. */
  p->alive[i].captured = wire_s >= 0 && !s->ck.done_at;
  p->alive[i].nat_s = nat_alive_s(s->ck.silence, rtt_s, p->alive[i].captured, in, out, wire_s);
}

/* A death is recorded at the latest silence its push may have met, which
 * is later than the check's target by the push's timing (and the wait of
 * its APPEND behind others on the control connection); a survival at the
 * silence its quick push proves, which may be earlier than its target.
 * When that blur is wider than what is left of the bracket, every death
 * lands at or above U, every survival at or below L, and the search
 * cannot narrow it: after STUCK_ROUNDS rounds of such checks with none
 * narrowing the bracket, it is as narrow as this path allows, and the run
 * ends with it (verdict measured).  (Counting only the deaths left a run
 * behind a sleeping radio checking inside (14.9, 16.8] for minutes: its
 * survivals all came back at 14.6 s.) */
#define STUCK_ROUNDS 1
static void stuck_guard(ni__probe *p, const ni__sess *s, ni_obs o) {
  ni_search *se = s->ck.search;
  double lo = 0, up = INFINITY, silence_s = s->ck.silence;
  if (se != p->search.in || !s->ck.fire) return;
  ni__search_bracket(se, &lo, &up);
  /* Only checks aimed inside the bracket tell whether it can narrow. */
  if (!(s->ck.target < up)) return;
  /* A death that moves U, or an alive check that moves L, by less than a
   * tenth of the resolution does not narrow it either. */
  double step = 0.1 * ni__search_resolution(se);
  if ((o == NI_OBS_DEAD && isfinite(up) && silence_s >= up - step) ||
      (o == NI_OBS_ALIVE && isfinite(up) && silence_s <= lo + step))
    p->n.stuck++;
  else if ((o == NI_OBS_DEAD && silence_s < up - step) ||
           (o == NI_OBS_ALIVE && silence_s > lo + step))
    p->n.stuck = 0;
  if (p->n.stuck >= STUCK_ROUNDS * p->k && !p->n.narrowest) {
    p->n.narrowest = 1;
    ni__note(p, 0,
             "the bracket (%.1f, %.1f] is as narrow as the push's timing on this path allows: "
             "stopping",
             lo, up);
    ni__stop_searches(p);
  }
}

/* The median of the last BLUR_SAMPLES of n samples kept in v. */
static double median(const double *v, unsigned n) {
  double w[BLUR_SAMPLES];
  if (n > BLUR_SAMPLES) n = BLUR_SAMPLES;
  memcpy(w, v, n * sizeof w[0]);
  return ni__sort_median(w, n);
}

/* A death is recorded at the latest silence its push may have met, a
 * survival at the earliest: two checks started at the same silence land
 * this far apart (on a long round trip, seconds: the slowest push after
 * the APPEND's OK against the quickest), and their APPENDs wait up to a
 * round trip more or less on the control connection.  A bracket narrower
 * than that blur cannot be narrowed by checks aimed inside it, so the
 * search's resolution is raised to it once it is measured, and the search
 * ends (confirmed, as always) when it gets there instead of spending
 * rounds that land on or outside the bracket's ends. */
static void learn_blur(ni__probe *p, const ni__sess *s, ni_obs o) {
  if (s->ck.search != p->search.in || !s->ck.fire || s->ck.cal || p->poll.seen || o == NI_OBS_VOID)
    return;
  /* From the silence the check started at, not its target: a session
   * already past its target starts at once, without the usual lead. */
  double off = s->ck.silence - (double)(s->ck.fire - s->silent_since) / 1000.0;
  if (o == NI_OBS_ALIVE)
    p->blur.alive[p->blur.n_alive++ % BLUR_SAMPLES] = off;
  else
    p->blur.dead[p->blur.n_dead++ % BLUR_SAMPLES] = off;
  if (p->blur.n_alive < BLUR_MIN || p->blur.n_dead < BLUR_MIN) return;
  double blur = median(p->blur.dead, p->blur.n_dead) - median(p->blur.alive, p->blur.n_alive);
  double floor_s = ni__blur_floor_s(p, blur);
  /* Below a second the default resolution rules; small changes are noise. */
  if (floor_s < 1.0 || floor_s < ni__search_resolution(s->ck.search) * 1.05) return;
  ni__search_set_resolution(s->ck.search, floor_s);
  p->t.floor_s = floor_s;
  ni__note(p, 1,
           "checks started at the same silence land %.1f s apart on this path: the "
           "bracket stops narrowing at %.1f s",
           blur, floor_s);
}

/* The check of session s ended with outcome oc: CSV row, search, log. */
void ni__record(ni__sess *s, ni__outcome oc, long detect_ms) {
  ni__probe *p = s->p;
  ni_ms now = ni_imap_now();
  ni_obs o = oc == OC_ALIVE ? NI_OBS_ALIVE : is_dead(oc) ? NI_OBS_DEAD : NI_OBS_VOID;
  /* A dead check only counts when the control connection stayed up and is
   * still answering now, when the verdict is drawn. */
  if (o == NI_OBS_DEAD && !witnessed(p, s, now)) {
    oc = OC_ABORTED;
    o = NI_OBS_VOID;
  }
  /* A silence across a network event (the control connection lost its own
   * mapping meanwhile: an address change, a NAT that rebinds) met the
   * event, not the timeout: void, whatever the check saw. */
  if (o != NI_OBS_VOID && ni__net_spans(&p->ctl.net, s->silent_since, now)) {
    oc = OC_ABORTED;
    o = NI_OBS_VOID;
  }
  /* A NAT that answers the client's packet after expiry with silence or a
   * RST does not revive mappings: later late pushes are live ones. */
  if (oc == OC_DEAD_SILENT || oc == OC_DEAD_RESET) p->n.refused++;
  /* A lost push may have met a silence as long as the slowest push seen
   * (or the poll it was meant for): the death is recorded there, so the
   * bracket's upper end is never below the timeout. */
  if (o == NI_OBS_DEAD && s->ck.fire && s->ck.dir == NI_PDIR_INBOUND &&
      s->ck.dead_s > s->ck.silence)
    s->ck.silence = s->ck.dead_s;
  s->ck.result = CK_DECIDED;
  /* What the packets say about this check: the wire silence, who reset,
   * what refreshed.  A silence that ended without a check has no check
   * time. */
  char evidence[512] = "";
  double wire_s = -1;
  if (p->cap.pcap && s->lport) {
    int checked = oc != OC_REFRESHED && s->ck.fire != 0;
    ni__pcap_evidence(p->cap.pcap, s->lport, checked ? s->ck.sent : NI_TIME_NEVER,
                      s->ck.dir == NI_PDIR_INBOUND ? p->t.push_ms : 0, evidence, sizeof evidence,
                      &wire_s);
  }
  if (o == NI_OBS_ALIVE && s->ck.search) note_alive(p, s, evidence, wire_s);
  write_obs(p, s, oc, detect_ms, evidence);
  if (s->ck.search) stuck_guard(p, s, o);
  if (s->ck.search) learn_blur(p, s, o);
  if (s->ck.search) {
    ni__search_result(s->ck.search, s->slot, s->ck.silence, o, now);
    s->ck.search = NULL;
  }
  ni__derive_outbound(p, s->ck.dir, oc, s->ck.silence);
  if (detect_ms >= 0)
    ni__note(p, 1, "session %u: %s at %.1f s (%s, %ld ms)", s->num, ni_obs_outcomes[oc],
             s->ck.silence, ni__probe_dir_name(s->ck.dir), detect_ms);
  else
    ni__note(p, 1, "session %u: %s at %.1f s (%s)", s->num, ni_obs_outcomes[oc], s->ck.silence,
             ni__probe_dir_name(s->ck.dir));
  ni__kick(p);
}

/* ---- results ------------------------------------------------------------ */

/* The bracket in the NAT's terms (docs/CSV.md).  The client counts a
 * silence from its own last read or write; the NAT, somewhere on the path,
 * from the last packet that passed it.  Inbound, the push ends the silence
 * at the NAT before it reaches the client, so the NAT saw at most the
 * client's silence and up to one round trip less (after a packet of the
 * client): the lower end moves down by the round trip, unless the capture
 * showed the NAT's own silence for the check that set it.  The upper end
 * already counts the slowest push, the latest a lost one may have met.
 * Outbound, the DONE ends it after it leaves the client: the NAT saw up to
 * one round trip more, so the upper end moves up. */
static void nat_terms(const ni__probe *p, ni_probe_dir dir, ni_probe_result *r) {
  double rtt_s = ni__rtt_s(p);
  int i = dir == NI_PDIR_OUTBOUND;
  r->path_rtt_ms = rtt_s * 1000.0;
  r->nat_lower_s = r->lower_s;
  r->nat_upper_s = r->upper_s;
  r->bracket_basis = "client_rtt";
  if (dir == NI_PDIR_OUTBOUND) {
    if (!isinf(r->upper_s)) r->nat_upper_s = r->upper_s + rtt_s;
  } else if (r->lower_s > 0 && fabs(p->alive[i].client_s - r->lower_s) < 0.0005) {
    r->nat_lower_s = fmin(p->alive[i].nat_s, r->lower_s);
    if (p->alive[i].captured) r->bracket_basis = "capture";
  } else if (r->lower_s > 0) {
    r->nat_lower_s = nat_alive_s(r->lower_s, rtt_s, 0, NAN, NAN, -1);
  }
}

/* The keepalive cadence recommended for a lower bound: the keepalive
 * library's own for it (ni_ka_cadence_for), so that the probe recommends
 * what a client linking the library would keep, in whole seconds.  The
 * round trips are this run's: the control connection's, and for the one
 * after a long silence (a sleeping radio's wake-up, the library's margin
 * against it) the slowest push after at least half of that silence.  A
 * polling server's pushes wait for its polls and say nothing of the path:
 * then none is measured, and the library allows for a slow wake-up. */
static double recommended_s(const ni__probe *p, double lower_s) {
  if (!(lower_s >= 0.001) || !isfinite(lower_s)) return NI_KA_FLOOR_MS / 1000.0;
  ni_ms lower_ms = (ni_ms)floor(lower_s * 1000.0);
  ni_ms worst = p->poll.seen ? NI_TIME_NEVER : ni_lat_worst_after(&p->lat_ok, lower_ms / 2);
  ni_ms k = ni_ka_cadence_for(NULL, lower_ms, ni__rtt_ms(p), worst);
  return k >= NI_KA_FLOOR_MS ? floor((double)k / 1000.0) : NI_KA_FLOOR_MS / 1000.0;
}

/* The result of one direction, as the summary row and the RESULT event
 * give it. */
static void result_of(ni__probe *p, ni_search *se, ni_probe_dir dir, double wall_s,
                      ni_probe_result *r) {
  memset(r, 0, sizeof *r);
  r->dir = dir;
  /* A result never says "running": a run that ends early is whatever the
   * data supports, which ni__search_stop has already decided. */
  r->verdict = ni__search_verdict(se);
  if (r->verdict == NI_VERDICT_RUNNING) r->verdict = NI_VERDICT_INCONCLUSIVE;
  r->upper_s = INFINITY;
  ni__search_bracket(se, &r->lower_s, &r->upper_s);
  if (r->verdict == NI_VERDICT_INCONCLUSIVE && p->n.narrowest && isfinite(r->upper_s))
    r->verdict = NI_VERDICT_MEASURED;
  r->estimate_s = ni__search_estimate(se);
  r->max_s = p->o->max_s;
  r->checks = ni__search_checks(se);
  r->wall_s = wall_s;
  r->server_keepalive_s = p->ka.interval_s;
  /* Masked: the server's own keepalive already holds the mapping, and a
   * client cadence below it would only add radio wakeups beside it.  The
   * recommendation is none (0; an empty field): rely on the server's. */
  if (r->verdict == NI_VERDICT_MASKED)
    r->recommended_s = 0;
  else
    r->recommended_s = recommended_s(p, r->lower_s);
  if (dir == NI_PDIR_INBOUND && p->poll.seen) {
    r->poll_s = (double)p->poll.every_ms / 1000.0;
    r->poll_phase_known = p->poll.known;
  }
  nat_terms(p, dir, r);
}

/* Why the summary writer refused path (NI_EMISMATCH): a summary of an
 * older natidle, without the bracket in the NAT's terms, or another file. */
const char *ni__summary_mismatch(const char *path) {
  int err = 0, old = 0;
  ni_csv_reader *r = ni_csv_reader_open(path, &err);
  if (r && ni_csv_ncols(r) == NI_SUMMARY_V1_NCOLS) {
    old = 1;
    for (size_t i = 0; i < NI_SUMMARY_V1_NCOLS; i++)
      if (strcmp(ni_csv_column_name(r, i), ni_summary_columns[i]) != 0) old = 0;
  }
  ni_csv_reader_close(r);
  return old ? "a summary of an older natidle (14 columns, without the bracket in the NAT's "
               "terms); give a new --summary file, or rename this one: natidle report still "
               "reads it"
             : "it is not a summary file";
}

static void write_summary(ni__probe *p, const ni_probe_result *r) {
  if (!p->o->summary_path) return;
  int err = 0;
  ni_csv_writer *w = p->summary ? p->summary
                                : ni_csv_writer_open(p->o->summary_path, ni_summary_columns,
                                                     NI_SUMMARY_NCOLS, &err);
  if (!w) {
    ni__error(p, "cannot write %s: %s", p->o->summary_path, ni_strerror(err));
    return;
  }
  ni_verdict v = r->verdict;
  char port[16], l[32], u[32], e[32], n[32], wall[32], ka[32], rec[32], nl[32], nu[32], rtt[32];
  snprintf(port, sizeof port, "%u", p->id.port);
  snprintf(l, sizeof l, "%.3f", r->lower_s);
  if (isinf(r->upper_s))
    u[0] = '\0';
  else
    snprintf(u, sizeof u, "%.3f", r->upper_s);
  nl[0] = nu[0] = rtt[0] = '\0';
  if (r->bracket_basis) {
    snprintf(nl, sizeof nl, "%.3f", r->nat_lower_s);
    if (!isinf(r->nat_upper_s)) snprintf(nu, sizeof nu, "%.3f", r->nat_upper_s);
    snprintf(rtt, sizeof rtt, "%.0f", r->path_rtt_ms);
  }
  if (v == NI_VERDICT_MEASURED)
    snprintf(e, sizeof e, "%.3f", r->estimate_s);
  else
    e[0] = '\0';
  snprintf(n, sizeof n, "%u", r->checks);
  snprintf(wall, sizeof wall, "%.1f", r->wall_s);
  if (r->server_keepalive_s > 0)
    snprintf(ka, sizeof ka, "%.1f", r->server_keepalive_s);
  else
    ka[0] = '\0';
  if (v == NI_VERDICT_MEASURED || v == NI_VERDICT_ABOVE_MAX)
    snprintf(rec, sizeof rec, "%.0f", r->recommended_s);
  else
    rec[0] = '\0';
  const char *f[NI_SUMMARY_NCOLS] = {p->id.run_id,
                                     p->o->network,
                                     p->o->server,
                                     port,
                                     p->id.tls_name,
                                     ni__probe_dir_name(r->dir),
                                     l,
                                     u,
                                     e,
                                     n,
                                     wall,
                                     ka,
                                     rec,
                                     ni__verdict_name(v),
                                     nl,
                                     nu,
                                     r->bracket_basis,
                                     rtt};
  int rc = ni_csv_write_row(w, f);
  /* The writer opened before the privilege drop serves both directions. */
  int rc2 = w == p->summary ? 0 : ni_csv_writer_close(w);
  if (rc || rc2)
    ni__error(p, "cannot write %s: %s", p->o->summary_path, ni_strerror(rc ? rc : rc2));
}

/* The summary row and the RESULT event of each direction measured. */
void ni__results(ni__probe *p, double wall_s) {
  if (p->end.nopush) {
    /* Nothing was measured, but that the server does not push is itself
     * the finding: a summary row and a result say so. */
    ni_probe_result r;
    memset(&r, 0, sizeof r);
    r.dir = NI_PDIR_INBOUND;
    r.verdict = NI_VERDICT_NO_PUSH;
    r.upper_s = INFINITY;
    r.max_s = p->o->max_s;
    r.wall_s = wall_s;
    r.server_keepalive_s = p->ka.interval_s;
    write_summary(p, &r);
    ni_probe_event ev = {.kind = NI_PROBE_EV_RESULT, .result = &r};
    ni__emit(p, &ev);
    return;
  }
  ni_search *se[2] = {p->search.in, p->search.out};
  ni_probe_dir dir[2] = {NI_PDIR_INBOUND, NI_PDIR_OUTBOUND};
  for (int i = 0; i < 2; i++) {
    if (!se[i]) continue;
    ni_probe_result r;
    result_of(p, se[i], dir[i], wall_s, &r);
    if (r.verdict == NI_VERDICT_MEASURED && p->t.floor_s > 0 && !p->poll.seen &&
        r.upper_s - r.lower_s <= p->t.floor_s + 1e-9)
      ni__note(p, 0,
               "the bracket (%.1f, %.1f] is as narrow as the checks can tell apart on this "
               "path (%.1f s)",
               r.lower_s, r.upper_s, p->t.floor_s);
    write_summary(p, &r);
    ni_probe_event ev = {.kind = NI_PROBE_EV_RESULT, .result = &r};
    ni__emit(p, &ev);
  }
}
