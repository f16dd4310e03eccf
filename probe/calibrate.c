/*
 * Calibration: before the search starts, APPENDs to idle sessions (or, for
 * outbound-only runs, NOOP round trips on the control connection) measure
 * how the server reports new mail.  First one sample on a session that has
 * just entered IDLE: does the server push at all, and does it push at once
 * or only when it polls the mailbox?  Then samples on sessions that have
 * been silent a while, because that is what checks meet: some servers
 * (Courier's enhanced IDLE) and radios are slower after a few seconds of
 * silence than right after IDLE starts.  The push delays go into the
 * estimator of natidle/latency.h, from which every check takes the
 * detection deadline for its own silence; checks that get their push add
 * samples as the run goes.
 *
 * A server that only polls (Cyrus without idled, Courier without enhanced
 * IDLE: every 60 s by default, counted from the start of IDLE) is
 * recognised by its first push arriving a poll interval after IDLE began
 * and the others at multiples of it.  Then each check is timed to APPEND
 * just before a poll, so the push meets exactly that silence (the phase is
 * known); when the arrivals do not fit the polls, checks wait a whole
 * interval and a death is recorded one interval after the check (the
 * bracket is widened by it).  A server that never reports the new message
 * during IDLE ends the run with the verdict no_push.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "probe/internal.h"

/* The probe mailboxes exist (or are not needed): connect the sessions and
 * calibrate. */
void ni__sessions_start(ni__probe *p) {
  p->phase = PH_CALIBRATE;
  p->cal.round = 1;
  /* Idle samples after the shortest silence a check tests (--min), within
   * [1 s, CAL_IDLE_MS] and at most half of --max: the samples must
   * themselves survive the NAT.  Longer silences are covered by the checks'
   * own pushes as the run goes. */
  ni_ms idle = (ni_ms)llround(p->o->min_s * 1000.0);
  ni_ms half_max = (ni_ms)llround(p->o->max_s * 500.0);
  if (idle > CAL_IDLE_MS) idle = CAL_IDLE_MS;
  if (idle > half_max) idle = half_max;
  p->cal.idle_ms = idle < 1000 ? 1000 : idle;
  for (unsigned i = 0; i < p->k; i++)
    ni__sess_connect(&p->ss[i]);
  /* Outbound-only runs calibrate on NOOP round trips right away. */
  if (!(p->o->direction & NI_PDIR_INBOUND)) ni__ctl_send_noop(p);
}

/* ---- deadlines ------------------------------------------------------------ */

/* The control connection's smoothed round trip (0 before the first), in
 * whole milliseconds and in seconds. */
ni_ms ni__rtt_ms(const ni__probe *p) {
  return p->ctl.srtt_ms > 0 ? (ni_ms)p->ctl.srtt_ms : 0;
}

double ni__rtt_s(const ni__probe *p) {
  return p->ctl.srtt_ms > 0 ? p->ctl.srtt_ms / 1000.0 : 0;
}

/* One retransmission timeout on the control connection's path. */
ni_ms ni__rto_ms(const ni__probe *p) {
  return ni_lat_rto(ni__rtt_ms(p));
}

/* The narrowest bracket checks that land blur_s apart can tell: that blur,
 * plus a round trip for an APPEND's wait on the control connection, with
 * BLUR_MARGIN (see blur_ms, and learn_blur in probe/record.c). */
double ni__blur_floor_s(const ni__probe *p, double blur_s) {
  return (fmax(0.0, blur_s) + ni__rtt_s(p)) * BLUR_MARGIN;
}

/* How long a check after silence_ms waits for its push, counted from the
 * APPEND's OK (see DETECT_SPREAD in internal.h). */
ni_ms ni__detect_ms(const ni__probe *p, ni_ms silence_ms) {
  if (ni_lat_count(&p->lat_ok, 0) == 0) return p->t.detect_ms ? p->t.detect_ms : DETECT_DEFAULT_MS;
  /* Samples taken after a comparable silence speak for this one; when
   * there are none yet, the longest silence measured speaks for it, with a
   * floor, since a path that is slower after a longer silence is exactly
   * what calibration could not see. */
  ni_ms x = silence_ms;
  int extrapolated = 0;
  while (x > 0 && ni_lat_count(&p->lat_ok, x) == 0) {
    x = x * 2 / 3;
    /* Samples after two thirds of the silence speak for it (a radio that
     * sleeps sooner shows in them); from shorter ones, the floor. */
    extrapolated = x < silence_ms / 2;
  }
  ni_ms d = ni_lat_deadline_dist(&p->lat_ok, x, DETECT_SPREAD, ni__rto_ms(p) + DETECT_SLACK_MS,
                                 DETECT_FLOOR_MS, DETECT_CAP_MS);
  if (extrapolated && d < DETECT_EXTRAP_MS) d = DETECT_EXTRAP_MS;
  return d;
}

/* How long the answer to a DONE may take: a round trip, or a few
 * retransmission timeouts when the DONE or its answer is lost (see
 * DONE_RTOS in internal.h). */
ni_ms ni__done_wait_ms(const ni__probe *p) {
  ni_ms w = ni__rtt_ms(p) + DONE_RTOS * ni__rto_ms(p) + DONE_SLACK_MS;
  return w > DONE_FLOOR_MS ? w : DONE_FLOOR_MS;
}

/* How long before a poll the marker is APPENDed: enough for the APPEND to
 * be stored on a slow control connection, never more than a third of the
 * interval. */
ni_ms ni__poll_lead_ms(const ni__probe *p) {
  ni_ms lead = (ni_ms)(3.0 * p->ctl.srtt_ms) + 300;
  if (lead < POLL_LEAD_MS) lead = POLL_LEAD_MS;
  if (lead > p->poll.every_ms / 3) lead = p->poll.every_ms / 3;
  return lead;
}

/* ---- the searches ----------------------------------------------------------- */

/* How far apart the silences recorded for two checks aimed at the same
 * target may lie, one alive and one dead (probe/check.c): an alive check
 * is recorded at the silence of its APPEND's OK plus the quickest push
 * after an OK, a dead one at that OK plus the slowest push after it (or a
 * usual one plus a retransmission timeout); and the OK itself comes up to
 * a round trip later for one check than for another, behind a NOOP or an
 * APPEND on the control connection (ni__blur_floor_s adds that).  A
 * bracket narrower than that cannot be narrowed further: a check aimed
 * inside it lands on or outside its ends whatever it finds. */
static ni_ms blur_ms(const ni__probe *p) {
  ni_ms quick = ni_lat_quantile_after(&p->lat_ok, 0, 0);
  ni_ms hi = ni_lat_quantile_after(&p->lat_ok, 0, 100);
  ni_ms usual = ni_lat_quantile_after(&p->lat_ok, 0, NI_LAT_DEADLINE_PCT) + ni__rto_ms(p);
  ni_ms dead = usual > hi ? usual : hi;
  return dead > quick ? dead - quick : 0;
}

static void make_searches(ni__probe *p) {
  ni_search_cfg cfg;
  ni__search_cfg_default(&cfg);
  cfg.min_s = p->o->min_s;
  cfg.max_s = p->o->max_s;
  cfg.resolution_s = p->o->resolution_s;
  cfg.sessions = p->k;
  cfg.strategy = (ni_strategy)p->o->strategy;
  cfg.detect_s = (double)p->t.detect_ms / 1000.0;
  /* A bracket cannot be narrower than what the checks can tell apart: a
   * polling server is only seen at its polls, and a death is recorded at
   * the latest silence the push may have met, alive at the one it did. */
  double floor_s = 0;
  if (p->poll.seen)
    floor_s = (double)p->poll.every_ms / 1000.0 * 1.02;
  else if (ni_lat_count(&p->lat_ok, 0))
    floor_s = ni__blur_floor_s(p, (double)blur_ms(p) / 1000.0);
  if (floor_s >= 1.0 && cfg.resolution_s < floor_s) {
    if (p->o->resolution_s > 0)
      ni__note(p, 0, "--resolution %.1f s is finer than this server's push allows: %.1f s",
               p->o->resolution_s, floor_s);
    else
      ni__note(p, 1,
               "the checks cannot tell apart silences closer than %.1f s on this path: the "
               "bracket stops narrowing there",
               floor_s);
    cfg.resolution_s = floor_s;
    p->t.floor_s = floor_s;
  }
  const char *why = NULL;
  if (ni__search_cfg_check(&cfg, &why) != 0) {
    ni__error(p, "%s", why ? why : "invalid search settings");
    p->end.fatal = NI_EUSAGE;
    return;
  }
  if (p->o->direction & NI_PDIR_INBOUND) p->search.in = ni__search_new(&cfg);
  if (p->o->direction & NI_PDIR_OUTBOUND) p->search.out = ni__search_new(&cfg);
  if (((p->o->direction & NI_PDIR_INBOUND) && !p->search.in) ||
      ((p->o->direction & NI_PDIR_OUTBOUND) && !p->search.out)) {
    p->end.fatal = -ENOMEM;
    return;
  }
  p->search.cur = p->search.in ? NI_PDIR_INBOUND : NI_PDIR_OUTBOUND;
  for (size_t i = 0; i < p->resume.nobs; i++) {
    const ni_resume_obs *r = &p->resume.obs[i];
    ni_search *se = ni__search_for(p, r->direction);
    if (se) ni__search_observe(se, r->silence_s, r->alive ? NI_OBS_ALIVE : NI_OBS_DEAD);
    ni__derive_outbound(p, r->direction, (ni__outcome)r->outcome, r->silence_s);
  }
  if (p->resume.nobs)
    ni__note(p, 0, "resumed run %s with %zu earlier observations", p->id.run_id, p->resume.nobs);
}

static int cmp_ms(const void *a, const void *b) {
  ni_ms x = *(const ni_ms *)a, y = *(const ni_ms *)b;
  return x < y ? -1 : x > y;
}

/* Calibration is over: derive the deadlines, make the searches, run. */
static void start_run(ni__probe *p) {
  unsigned n = p->cal.n;
  unsigned cap = sizeof p->cal.samples / sizeof p->cal.samples[0];
  if (n > cap) n = cap;
  ni_ms v[sizeof p->cal.samples / sizeof p->cal.samples[0]];
  for (unsigned i = 0; i < n; i++)
    v[i] = p->cal.samples[i];
  qsort(v, n, sizeof v[0], cmp_ms);
  int inbound = (p->o->direction & NI_PDIR_INBOUND) && n;
  p->t.push_ms = inbound ? v[n / 2] : 0;
  p->t.worst_push_ms = inbound ? v[n - 1] : 0;
  if (inbound && !p->poll.seen) {
    /* The lead of a check is the quickest push after a silence, so the
     * push never meets a silence shorter than the target. */
    p->t.lead_ms = v[0];
    /* samples[0] is the fresh sample; the idle ones speak for checks. */
    if (p->cal.idle_n && n > 1) {
      p->t.lead_ms = p->cal.samples[1];
      for (unsigned i = 2; i < n; i++)
        if (p->cal.samples[i] < p->t.lead_ms) p->t.lead_ms = p->cal.samples[i];
    }
  }
  if (inbound) {
    /* From the APPEND: its round trips (a synchronising literal takes two)
     * and the wait after its OK. */
    p->t.detect_ms = 2 * ni__rtt_ms(p) + ni__detect_ms(p, (ni_ms)llround(p->o->max_s * 1000.0));
  } else {
    p->t.detect_ms = DETECT_FACTOR * p->cal.worst + DETECT_SLACK_MS;
    if (p->t.detect_ms < DETECT_FLOOR_MS) p->t.detect_ms = DETECT_FLOOR_MS;
  }
  /* With a polling server the wait for the poll is each check's own
   * (ni__check_wait_ms); what stands for a round trip everywhere else (the
   * answer to DONE, the control connection's NOOPs) is how late a poll's
   * push may be. */
  if (p->poll.seen) p->t.detect_ms = POLL_LATE_MS + p->poll.dev_ms + DETECT_SLACK_MS;
  p->t.noop_deadline_ms =
      2 * p->t.detect_ms > NOOP_DEADLINE_MIN_MS ? 2 * p->t.detect_ms : NOOP_DEADLINE_MIN_MS;
  if (p->t.noop_deadline_ms < 2 * p->t.noop_ms) p->t.noop_deadline_ms = 2 * p->t.noop_ms;
  if (p->poll.seen && p->poll.known)
    ni__note(p, 0,
             "the server reports new mail to IDLE only when it polls, every %.1f s from "
             "the start of IDLE: checks are timed just before a poll",
             (double)p->poll.every_ms / 1000.0);
  else if (p->poll.seen)
    ni__note(p, 0,
             "the server reports new mail to IDLE only every %.1f s or so, at no phase "
             "natidle can predict: each death widens the bracket by that much",
             (double)p->poll.every_ms / 1000.0);
  ni__note(p, 1,
           "detection deadline %llu ms (%llu ms after the APPEND's OK; calibration: %u samples, "
           "typical %llu ms, quickest "
           "%llu ms, worst %llu ms; idle samples after %.1f s)",
           (unsigned long long)p->t.detect_ms,
           (unsigned long long)ni__detect_ms(p, (ni_ms)llround(p->o->max_s * 1000.0)), p->cal.n,
           (unsigned long long)p->t.push_ms, (unsigned long long)p->t.lead_ms,
           (unsigned long long)p->cal.worst, (double)p->cal.idle_ms / 1000.0);
  make_searches(p);
  if (p->end.fatal) {
    ni__begin_shutdown(p);
    return;
  }
  p->phase = PH_RUN;
  ni__retarget_all(p);
  ni__maybe_finish(p);
}

static void add_sample(ni__probe *p, ni_ms took) {
  if (p->cal.n < sizeof p->cal.samples / sizeof p->cal.samples[0]) p->cal.samples[p->cal.n] = took;
  p->cal.n++;
  if (took > p->cal.worst) p->cal.worst = took;
}

/* ---- inbound samples ---------------------------------------------------------- */

static void fire(ni__probe *p, ni__sess *s) {
  p->cal.busy++;
  p->n.checks++;
  ni__timer_clear(s);
  s->ck.cal = 1;
  s->ck.dir = NI_PDIR_INBOUND;
  s->ck.search = NULL;
  s->ck.result = CK_OPEN;
  s->ck.epoch = p->ctl.epoch;
  s->ck.fire = ni_imap_now();
  s->ck.grace = 0;
  s->ck.late_exists = 0;
  s->ck.poll_at = 0;
  s->state = SS_CHECK;
  ni__send_marker(s);
}

/* Enough samples (or as many as can be had): run. */
static int cal_complete(const ni__probe *p) {
  if (p->cal.round < 2) return 0;
  return p->cal.idle_n >= CAL_IDLE_SAMPLES || p->cal.fails > 2;
}

/* Inbound runs: one sample on a session just in IDLE, then idle samples
 * on every session whose silence has reached the idle silence, in
 * parallel (each session has its own mailbox). */
void ni__calibrate_step(ni__probe *p) {
  if (p->phase != PH_CALIBRATE || !(p->o->direction & NI_PDIR_INBOUND)) return;
  if (cal_complete(p)) {
    if (!p->cal.busy) start_run(p);
    return;
  }
  /* A marker APPENDed while the control connection still creates the
   * mailboxes would wait behind them, and the sample would count that. */
  if (p->ctl.state != CT_READY || p->n.creates_left) return;
  ni_ms now = ni_imap_now();
  for (unsigned i = 0; i < p->k; i++) {
    ni__sess *s = &p->ss[i];
    if (s->state != SS_SILENT) continue;
    if (p->cal.round == 1) {
      if (p->cal.busy) return;
      /* A server may look at the mailbox once just after it answers IDLE
       * (Cyrus does): a marker stored before that look would come back at
       * once and hide a server that otherwise only polls. */
      if (now < s->idle_since + CAL_SETTLE_MS) {
        if (s->tk != TK_CAL) ni__timer_set(s, TK_CAL, s->idle_since + CAL_SETTLE_MS);
        return;
      }
      fire(p, s);
      return;
    }
    if (p->cal.idle_n + p->cal.busy >= CAL_IDLE_SAMPLES) return;
    ni_ms sil = ni__silence_of(s, now);
    if (sil > p->cal.idle_ms + p->cal.idle_ms / 2 + 1000) {
      /* Silent much longer than the samples are meant to be (it waited for
       * the first sample): its mapping may be gone already.  A new IDLE
       * starts its silence again. */
      ni__sess_check_done_now(s);
      continue;
    }
    if (sil >= p->cal.idle_ms)
      fire(p, s);
    else if (s->tk != TK_CAL)
      ni__timer_set(s, TK_CAL, s->silent_since + p->cal.idle_ms);
  }
}

/* A polling server's arrivals: does this one fit the polls seen so far? */
static void poll_learn(ni__probe *p, ni_ms arrival, ni_ms took) {
  if (p->cal.round == 1) {
    if (took < POLL_SUSPECT_MS) return;
    p->poll.seen = 1;
    p->poll.known = 1;
    p->poll.every_ms = arrival;
    p->poll.sum_ms = (double)arrival;
    p->poll.sum_k = 1;
    return;
  }
  if (!p->poll.seen) return;
  double every = (double)p->poll.every_ms;
  double k = fmax(1.0, round((double)arrival / every));
  double dev = fabs((double)arrival - k * every);
  double tol = fmax(POLL_TOL_MS, POLL_TOL_FRAC * every);
  if (dev <= tol) {
    p->poll.sum_ms += (double)arrival;
    p->poll.sum_k += k;
    p->poll.every_ms = (ni_ms)llround(p->poll.sum_ms / p->poll.sum_k);
    if ((ni_ms)dev > p->poll.dev_ms) p->poll.dev_ms = (ni_ms)dev;
  } else {
    /* Not at a multiple of the interval from the start of IDLE: the server
     * polls on a clock of its own. */
    p->poll.known = 0;
    if (took > p->poll.every_ms) p->poll.every_ms = took;
  }
}

/* The EXISTS of a calibration marker came back after took ms. */
void ni__calibrate_exists(ni__sess *s, ni_ms took) {
  ni__probe *p = s->p;
  ni_ms now = ni_imap_now();
  p->cal.busy--;
  add_sample(p, took);
  ni_lat_add(&p->lat, s->ck.fire - s->silent_since, took);
  ni_ms took_ok = s->ck.ok && now > s->ck.ok ? now - s->ck.ok : 0;
  ni_lat_add(&p->lat_ok, s->ck.fire - s->silent_since, took_ok);
  /* A poll shows in the delay after the APPEND's OK: the APPEND's own
   * round trip (600 ms and more on a slow path) is no sign of one. */
  poll_learn(p, now - s->idle_since, took_ok);
  ni__note(p, 2, "calibration %u: APPEND to EXISTS in %llu ms after %.1f s of silence", p->cal.n,
           (unsigned long long)took, (double)(s->ck.fire - s->silent_since) / 1000.0);
  if (p->cal.round == 1)
    p->cal.round = 2;
  else
    p->cal.idle_n++;
  s->ck.result = CK_DECIDED;
  ni__kick(p);
}

/* How long a calibration marker may take, from the APPEND's OK. */
ni_ms ni__calibrate_wait_ms(const ni__sess *s) {
  const ni__probe *p = s->p;
  if (p->cal.round == 1)
    return p->o->push_wait_s > 0 ? (ni_ms)llround(p->o->push_wait_s * 1000.0) : CAL_PUSH_WAIT_MS;
  if (p->poll.seen) return p->poll.every_ms + POLL_LATE_MS + p->poll.dev_ms;
  ni_ms w = 4 * p->cal.worst + 2000;
  return w > 10000 ? w : 10000;
}

/* A calibration marker got no EXISTS in time: DONE, whose answer decides
 * (ni__calibrate_done_answer). */
void ni__calibrate_timeout(ni__sess *s) {
  ni__probe *p = s->p;
  s->state = SS_DONE;
  ni__timer_set(s, TK_DONE, ni_imap_now() + ni__done_wait_ms(p) + DONE_GRACE_MS);
  ni_imap_idle_done(s->c);
}

/* The answer to the DONE of a calibration marker that got no EXISTS:
 * status 0 (tagged OK), or an error (no answer, reset, closed). */
void ni__calibrate_done_answer(ni__sess *s, int status) {
  ni__probe *p = s->p;
  s->ck.result = CK_DECIDED;
  if (p->cal.busy) p->cal.busy--;
  double waited = (double)((s->ck.ok ? s->ck.ok : s->ck.sent) - s->ck.fire) / 1000.0 +
                  (double)ni__calibrate_wait_ms(s) / 1000.0;
  if (p->cal.round == 1) {
    if (status == 0) {
      /* The session is reachable (DONE was answered) and the message is
       * there, but IDLE never said so. */
      ni__error(p,
                "the server did not report a new message to an IDLE session within %.0f s%s: "
                "its IDLE does not push, so the inbound direction cannot be measured with "
                "it (--direction outbound can be)",
                waited, s->ck.late_exists ? " (it did once IDLE ended)" : "");
      p->end.nopush = 1;
    } else {
      ni__error(p,
                "the server did not report a new message to an IDLE session within %.0f s, "
                "and then the session did not answer: the NAT's timeout is shorter than "
                "the server's push delay, or the network is down",
                waited);
      p->end.inconclusive = 1;
    }
    ni__begin_shutdown(p);
    return;
  }
  /* An idle sample lost: the NAT may forget mappings sooner than the idle
   * silence.  Sample after a shorter one. */
  p->cal.fails++;
  if (p->cal.idle_ms > 2000) p->cal.idle_ms /= 2;
  ni__note(p, 1, "calibration: no push after an idle silence; sampling after %.1f s instead",
           (double)p->cal.idle_ms / 1000.0);
  ni__kick(p);
}

/* Outbound-only runs: a NOOP round trip of rtt ms. */
void ni__calibrate_rtt(ni__probe *p, ni_ms rtt) {
  add_sample(p, rtt);
  if (p->cal.n >= CAL_SAMPLES)
    start_run(p);
  else
    ni__ctl_send_noop(p);
}
