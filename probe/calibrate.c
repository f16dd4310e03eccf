/*
 * Calibration: before the search starts, a few APPENDs to freshly idle
 * sessions (or, for outbound-only runs, NOOP round trips on the control
 * connection) measure how long a push takes.  From them come the detection
 * deadline (how long to wait for an EXISTS before calling a mapping dead),
 * the typical push time and the lead of inbound checks.  Then the searches
 * are made, fed with what a resumed run already knew, and the run proper
 * begins.
 */
#include <errno.h>

#include "probe/internal.h"

/* The probe mailboxes exist (or are not needed): connect the sessions and
 * calibrate. */
void ni__sessions_start(ni__probe *p) {
  p->phase = PH_CALIBRATE;
  for (unsigned i = 0; i < p->k; i++)
    ni__sess_connect(&p->ss[i]);
  /* Outbound-only runs calibrate on NOOP round trips right away. */
  if (!(p->o->direction & NI_PDIR_INBOUND))
    ni__ctl_send_noop(p);
}

static void make_searches(ni__probe *p) {
  ni_search_cfg cfg;
  ni_search_cfg_default(&cfg);
  cfg.min_s = p->o->min_s;
  cfg.max_s = p->o->max_s;
  cfg.resolution_s = p->o->resolution_s;
  cfg.sessions = p->k;
  cfg.strategy = (ni_strategy)p->o->strategy;
  cfg.detect_s = (double)p->t.detect_ms / 1000.0;
  const char *why = NULL;
  if (ni_search_cfg_check(&cfg, &why) != 0) {
    ni__error(p, "%s", why ? why : "invalid search settings");
    p->end.fatal = NI_EUSAGE;
    return;
  }
  if (p->o->direction & NI_PDIR_INBOUND)
    p->search.in = ni_search_new(&cfg);
  if (p->o->direction & NI_PDIR_OUTBOUND)
    p->search.out = ni_search_new(&cfg);
  if (((p->o->direction & NI_PDIR_INBOUND) && !p->search.in) ||
      ((p->o->direction & NI_PDIR_OUTBOUND) && !p->search.out)) {
    p->end.fatal = -ENOMEM;
    return;
  }
  p->search.cur = p->search.in ? NI_PDIR_INBOUND : NI_PDIR_OUTBOUND;
  for (size_t i = 0; i < p->resume.nobs; i++) {
    const ni_resume_obs *r = &p->resume.obs[i];
    ni_search *se = ni__search_for(p, r->direction);
    if (se)
      ni_search_observe(se, r->silence_s, r->alive ? NI_OBS_ALIVE : NI_OBS_DEAD);
    ni__derive_outbound(p, r->direction, (ni__outcome)r->outcome, r->silence_s);
  }
  if (p->resume.nobs)
    ni__note(p, 0, "resumed run %s with %zu earlier observations", p->id.run_id,
             p->resume.nobs);
}

/* Calibration is over: derive the deadlines, make the searches, run. */
static void start_run(ni__probe *p) {
  /* The median sample is the typical push time (3 samples: sort them). */
  unsigned n = p->cal.n < CAL_SAMPLES ? p->cal.n : CAL_SAMPLES;
  ni_ms *v = p->cal.samples;
  for (unsigned i = 1; i < n; i++)
    for (unsigned j = i; j > 0 && v[j - 1] > v[j]; j--) {
      ni_ms t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  int inbound = (p->o->direction & NI_PDIR_INBOUND) && n;
  p->t.push_ms = inbound ? v[n / 2] : 0;
  p->t.lead_ms = inbound ? v[0] : 0;
  p->t.detect_ms = DETECT_FACTOR * p->cal.worst;
  if (p->t.detect_ms < DETECT_FLOOR_MS)
    p->t.detect_ms = DETECT_FLOOR_MS;
  p->t.noop_deadline_ms =
      2 * p->t.detect_ms > NOOP_DEADLINE_MIN_MS ? 2 * p->t.detect_ms : NOOP_DEADLINE_MIN_MS;
  if (p->t.noop_deadline_ms < 2 * p->t.noop_ms)
    p->t.noop_deadline_ms = 2 * p->t.noop_ms;
  ni__note(p, 1, "detection deadline %llu ms (calibration: typical %llu ms, worst %llu ms)",
           (unsigned long long)p->t.detect_ms, (unsigned long long)p->t.push_ms,
           (unsigned long long)p->cal.worst);
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
  if (p->cal.n < CAL_SAMPLES)
    p->cal.samples[p->cal.n] = took;
  p->cal.n++;
  if (took > p->cal.worst)
    p->cal.worst = took;
}

/* Inbound runs: APPEND to a few freshly idle sessions, one at a time. */
void ni__calibrate_step(ni__probe *p) {
  if (p->phase != PH_CALIBRATE || p->cal.busy)
    return;
  if (p->cal.n >= CAL_SAMPLES) {
    start_run(p);
    return;
  }
  if (p->ctl.state != CT_READY)
    return;
  for (unsigned i = 0; i < p->k; i++) {
    ni__sess *s = &p->ss[i];
    if (s->state != SS_SILENT)
      continue;
    p->cal.busy = 1;
    p->n.checks++;
    s->ck.cal = 1;
    s->ck.dir = NI_PDIR_INBOUND;
    s->ck.search = NULL;
    s->ck.result = CK_OPEN;
    s->ck.epoch = p->ctl.epoch;
    s->state = SS_CHECK;
    ni__send_marker(s);
    return;
  }
}

/* The EXISTS of a calibration marker came back after took ms. */
void ni__calibrate_exists(ni__sess *s, ni_ms took) {
  ni__probe *p = s->p;
  p->cal.busy = 0;
  add_sample(p, took);
  ni__note(p, 2, "calibration %u: APPEND to EXISTS in %llu ms", p->cal.n,
           (unsigned long long)took);
  s->ck.result = CK_DECIDED;
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
