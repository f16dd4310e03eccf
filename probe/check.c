/*
 * A silent session between IDLE and the verdict of its check: armed with a
 * target silence from the search, checked when the silence reaches it
 * (inbound: the control connection APPENDs a marker and the EXISTS must
 * come back within the detection deadline; outbound: DONE must be
 * answered), or voided when something else ends the silence first.
 * Unsolicited data on silent sessions also tells the server's own
 * keepalive cadence.
 */
#include <math.h>
#include <string.h>

#include "probe/internal.h"

ni_ms ni__silence_of(const ni__sess *s, ni_ms now) {
  return now > s->silent_since ? now - s->silent_since : 0;
}

/* ---- the end of a silence ------------------------------------------------- */

/* An armed session's silence ended without a check (unsolicited data, or
 * the connection died): record it as an observation at the silence it had. */
void ni__end_silence(ni__sess *s, ni_ms now, ni__outcome oc) {
  s->ck.fire = 0; /* no check: the evidence has no check time */
  s->ck.search = s->armed;
  s->ck.dir = s->armed == s->p->search.out ? NI_PDIR_OUTBOUND : NI_PDIR_INBOUND;
  s->ck.target = ni_search_target(s->armed, s->slot, now);
  s->ck.silence = (double)ni__silence_of(s, now) / 1000.0;
  s->ck.epoch = s->p->ctl.epoch;
  s->armed = NULL;
  ni__record(s, oc, -1);
}

/* Unsolicited data arrived on a silent session at now.  Intervals between
 * bursts that agree are taken as the server's keepalive cadence. */
void ni__unsolicited(ni__sess *s, ni_ms now) {
  ni__probe *p = s->p;
  int new_burst = !s->last_unsol || now - s->last_unsol >= BURST_MS;
  if (s->last_unsol && new_burst) {
    double iv = (double)(now - s->last_unsol) / 1000.0;
    p->ka.samples[p->ka.n % KA_SAMPLES] = iv;
    p->ka.n++;
    unsigned n = p->ka.n < KA_SAMPLES ? p->ka.n : KA_SAMPLES;
    if (n >= 2) {
      double lo = p->ka.samples[0], hi = p->ka.samples[0];
      for (unsigned i = 1; i < n; i++) {
        lo = fmin(lo, p->ka.samples[i]);
        hi = fmax(hi, p->ka.samples[i]);
      }
      if (hi <= lo * KA_AGREE && (p->ka.interval_s == 0 || lo < p->ka.interval_s * KA_SHORTER)) {
        p->ka.interval_s = lo;
        ni__note(p, 0, "the server sends data to idle sessions every %.1f s: it keeps NAT "
                       "mappings alive by itself",
                 lo);
        if (p->search.in)
          ni_search_server_keepalive(p->search.in, lo);
        if (p->search.out)
          ni_search_server_keepalive(p->search.out, lo);
      }
    }
  }
  if (new_burst)
    s->last_unsol = now;
}

/* ---- arming --------------------------------------------------------------- */

/* When to start the check of session s for a target of target_s seconds.
 * An inbound check starts early by the shortest push time seen: the
 * server's EXISTS passes the NAT that long after the APPEND leaves, at the
 * earliest, and it is the silence the push meets that is being tested (so
 * the push meets at least the target). */
static ni_ms lead_of(const ni__sess *s) {
  return s->armed && s->armed == s->p->search.in ? s->p->t.lead_ms : 0;
}

static ni_ms due_at(const ni__sess *s, double target_s) {
  ni_ms due = s->silent_since + (ni_ms)llround(target_s * 1000.0);
  ni_ms lead = lead_of(s);
  /* Timers and arrival times jitter by a millisecond or two: aim a little
   * late so the silence tested is never a hair short of the target. */
  due += DUE_MARGIN_MS;
  return due > s->silent_since + lead ? due - lead : s->silent_since;
}

/* Ask the search for a target and set the timer. */
void ni__sess_arm(ni__sess *s) {
  ni__probe *p = s->p;
  if (s->state != SS_SILENT || p->phase != PH_RUN) {
    /* Before the run proper, a ready session may serve calibration. */
    if (s->state == SS_SILENT && p->phase == PH_CALIBRATE)
      ni__calibrate_step(p);
    return;
  }
  ni_search *se = ni__search_for(p, p->search.cur);
  ni_ms now = ni_imap_now();
  double t = ni_search_arm(se, s->slot, s->silent_since, now);
  if (t <= 0) {
    s->armed = NULL;
    ni__timer_clear(s);
    return;
  }
  s->armed = se;
  ni__timer_set(s, TK_TARGET, due_at(s, t));
}

/* Targets move when the bracket moves: re-read them all, and give parked
 * sessions another chance. */
void ni__retarget_all(ni__probe *p) {
  if (p->phase != PH_RUN)
    return;
  ni_ms now = ni_imap_now();
  for (unsigned i = 0; i < p->k; i++) {
    ni__sess *s = &p->ss[i];
    if (s->state != SS_SILENT)
      continue;
    if (!s->armed || s->armed != ni__search_for(p, p->search.cur)) {
      ni__sess_arm(s);
      continue;
    }
    double t = ni_search_target(s->armed, s->slot, now);
    if (t <= 0) {
      s->armed = NULL;
      ni__timer_clear(s);
      ni__sess_arm(s);
      continue;
    }
    ni__timer_set(s, TK_TARGET, due_at(s, t));
  }
  ni__status(p);
}

/* ---- the check -------------------------------------------------------------- */

/* End IDLE on a session whose outcome is already known (or that is shutting
 * down); the answer to DONE then only tells whether to re-IDLE.  When IDLE
 * had already ended, the IDLE callback (or on_end) follows by itself. */
void ni__sess_check_done_now(ni__sess *s) {
  s->ck.result = CK_DECIDED;
  s->state = SS_DONE;
  ni__timer_set(s, TK_DONE, ni_imap_now() + DONE_WAIT_MS(s->p));
  ni_imap_idle_done(s->c);
}

/* Start the check of a session whose silence reached its target. */
static void start_check(ni__sess *s, ni_ms now, double target) {
  ni__probe *p = s->p;
  p->n.checks++;
  double late = (double)(now > s->due ? now - s->due : 0);
  if (late > p->t.jitter_ms)
    p->t.jitter_ms = late;
  s->ck.search = s->armed;
  s->armed = NULL;
  s->ck.cal = 0;
  s->ck.dir = s->ck.search && s->ck.search == p->search.out ? NI_PDIR_OUTBOUND : NI_PDIR_INBOUND;
  s->ck.target = target;
  /* Inbound: the silence the push will meet (corrected with the real
   * arrival time when it does arrive); outbound: the silence DONE ends. */
  s->ck.silence =
      (double)(ni__silence_of(s, now) + (s->ck.dir == NI_PDIR_INBOUND ? p->t.push_ms : 0)) /
      1000.0;
  s->ck.fire = now;
  s->ck.sent = now;
  s->ck.ok = 0;
  s->ck.epoch = p->ctl.epoch;
  s->ck.result = CK_OPEN;
  if (s->ck.dir == NI_PDIR_OUTBOUND) {
    /* Outbound: the client speaks first after the silence; a tagged OK to
     * DONE means its packet reached the server. */
    s->state = SS_DONE;
    ni__timer_set(s, TK_DONE, now + p->t.detect_ms);
    ni_imap_idle_done(s->c);
    return;
  }
  s->state = SS_CHECK;
  if (p->ctl.state != CT_READY) {
    /* No witness, no trigger: this check says nothing. */
    ni__record(s, OC_ABORTED, -1);
    ni__sess_check_done_now(s);
    return;
  }
  ni__send_marker(s);
}

/* The EXISTS of a marker reached a session being checked. */
void ni__check_exists(ni__sess *s, ni_ms now) {
  ni__probe *p = s->p;
  long detect = (long)(now - s->ck.sent);
  if (s->ck.cal) {
    ni__calibrate_exists(s, (ni_ms)detect);
  } else {
    /* The push got through: the mapping was alive when it passed, which is
     * the silence that counts. */
    s->ck.silence = (double)ni__silence_of(s, now) / 1000.0;
    ni__record(s, OC_ALIVE, detect);
  }
  s->state = SS_DONE;
  ni__timer_set(s, TK_DONE, now + DONE_WAIT_MS(p));
  ni_imap_idle_done(s->c);
}

/* The target timer: start the check, or wait on when the target moved. */
static void on_target(ni__sess *s, ni_ms now) {
  ni__probe *p = s->p;
  if (s->state != SS_SILENT || !s->armed)
    return;
  double target = ni_search_target(s->armed, s->slot, now);
  if (target <= 0) {
    s->armed = NULL;
    return;
  }
  /* Not there yet (the bracket moved the target up, or the timer ran
   * early): wait again.  Once there, the search answers with the current
   * silence, so this cannot loop. */
  if ((ni_ms)llround(target * 1000.0) > ni__silence_of(s, now) + lead_of(s) + EARLY_SLACK_MS) {
    ni__timer_set(s, TK_TARGET, due_at(s, target));
    return;
  }
  if (p->n.checks >= p->o->max_checks) {
    ni__note(p, 0, "reached the limit of %u checks: stopping", p->o->max_checks);
    ni__stop_searches(p);
    ni__maybe_finish(p);
    return;
  }
  start_check(s, now, target);
}

/* The detection deadline passed without the marker's EXISTS. */
static void on_detect(ni__sess *s, ni_ms now) {
  ni__probe *p = s->p;
  if (s->state != SS_CHECK)
    return;
  if (s->ck.cal) {
    p->end.fatal = NI_ENOCAP;
    p->cal.busy = 0;
    ni__error(p, "the server did not report a new message to an IDLE session within %d s",
              CAL_TIMEOUT_MS / 1000);
    ni__begin_shutdown(p);
    return;
  }
  /* No EXISTS within the deadline: the push was lost.  DONE tells how. */
  s->state = SS_DONE;
  ni_ms wait = p->t.detect_ms > DONE_FLOOR_MS ? p->t.detect_ms : DONE_FLOOR_MS;
  ni__timer_set(s, TK_DONE, now + wait);
  ni_imap_idle_done(s->c);
}

/* DONE went unanswered. */
static void on_done_timeout(ni__sess *s) {
  ni__probe *p = s->p;
  if (s->state != SS_DONE)
    return;
  if (s->ck.result == CK_OPEN)
    ni__record(s, OC_DEAD_SILENT, -1);
  /* The mapping is gone: the server will hold this session until its TCP
   * gives up, and it counts against the per-user limit meanwhile. */
  p->n.zombies++;
  ni__sess_drop_conn(s);
  if (p->phase >= PH_SHUTDOWN) {
    s->state = SS_OFF;
    ni__shutdown_step(p);
  } else {
    ni__sess_schedule_reconnect(s, 0);
  }
}

void ni__sess_timer_cb(uv_timer_t *t) {
  ni__sess *s = t->data;
  ni_ms now = ni_imap_now();
  ni__timer_kind kind = s->tk;
  s->tk = TK_NONE;
  switch (kind) {
  case TK_BACKOFF:
    ni__sess_connect(s);
    break;
  case TK_SETUP:
    if (s->state == SS_SETUP || s->state == SS_REIDLE)
      ni__sess_setup_failed(s, NI_ETIMEDOUT);
    break;
  case TK_TARGET:
    on_target(s, now);
    break;
  case TK_DETECT:
    on_detect(s, now);
    break;
  case TK_DONE:
    on_done_timeout(s);
    break;
  case TK_NONE:
    break;
  }
}
