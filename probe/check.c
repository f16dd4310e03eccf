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
  s->ck.target = ni__search_target(s->armed, s->slot, now);
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
        ni__note(p, 0,
                 "the server sends data to idle sessions every %.1f s: it keeps NAT "
                 "mappings alive by itself",
                 lo);
        if (p->search.in) ni__search_server_keepalive(p->search.in, lo);
        if (p->search.out) ni__search_server_keepalive(p->search.out, lo);
      }
    }
  }
  if (new_burst) s->last_unsol = now;
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

/* Is the silence sil_s (seconds) already tested, or about to be, by
 * another session than s? */
static int poll_taken(const ni__sess *s, double sil_s, double tol_s) {
  const ni__probe *p = s->p;
  for (unsigned i = 0; i < p->k; i++) {
    const ni__sess *o = &p->ss[i];
    ni_ms at = 0;
    if (o == s) continue;
    if (o->state == SS_SILENT && o->armed && o->plan_poll)
      at = o->plan_poll;
    else if (o->state == SS_CHECK && !o->ck.cal && o->ck.poll_at)
      at = o->ck.poll_at;
    if (at && fabs((double)(at - o->silent_since) / 1000.0 - sil_s) < tol_s) return 1;
  }
  return 0;
}

/* A polling server reports the marker at its next poll, counted from the
 * start of IDLE: the check APPENDs just before the poll nearest the target
 * that still splits the bracket, and the push then meets exactly the
 * silence of that poll.  Returns when to APPEND, and sets s->plan_poll. */
static ni_ms plan_poll(ni__sess *s, double target_s) {
  ni__probe *p = s->p;
  double every = (double)p->poll.every_ms / 1000.0;
  double lo = 0, up = INFINITY;
  ni__search_bracket(s->armed, &lo, &up);
  double since = (double)(s->silent_since - s->idle_since) / 1000.0;
  double tol = fmax(POLL_TOL_MS / 1000.0, POLL_TOL_FRAC * every);
  double k = fmax(1.0, ceil((target_s + since) / every - 1e-6));
  /* The poll at or above the target, unless it is no better than the
   * known death and the one before it is still above the known survival. */
  if (!(k * every - since < up - tol) && k > 1 && (k - 1) * every - since > lo + tol) k -= 1;
  /* Every target below the first poll is the first poll: spread the
   * sessions over the polls that still tell something (each check costs a
   * poll interval), up to the first one at or above --max, and below U. */
  double kmax = fmax(1.0, ceil((p->o->max_s + since) / every - 1e-6));
  for (double k2 = k; k2 <= kmax && k2 * every - since < up - tol; k2++)
    if (!poll_taken(s, k2 * every - since, tol)) {
      k = k2;
      break;
    }
  ni_ms lead = ni__poll_lead_ms(p);
  ni_ms now = ni_imap_now();
  ni_ms poll = s->idle_since + (ni_ms)llround(k * every * 1000.0);
  /* Too late for that poll (a target that moved, a busy loop): the next. */
  while (poll < now + lead / 2)
    poll += p->poll.every_ms;
  s->plan_poll = poll;
  return poll - lead;
}

/* APPENDs go out one at a time on the control connection, a round trip
 * each: an inbound check due just after others waits behind their
 * APPENDs, and its push meets a longer silence than its target (at a long
 * round trip, by more than the bracket is wide).  The wait ahead of a
 * check due at `due`: a round trip for every other inbound check whose
 * APPEND is not answered yet, or that is due before it (ties: the lower
 * slot first) within as many round trips as there are sessions. */
static ni_ms queue_ahead_ms(const ni__sess *s, ni_ms due) {
  const ni__probe *p = s->p;
  ni_ms rtt = ni__rtt_ms(p);
  ni_ms now = ni_imap_now();
  if (!rtt || s->armed != p->search.in) return 0;
  ni_ms window = rtt * p->k;
  unsigned ahead = 0;
  for (unsigned i = 0; i < p->k; i++) {
    const ni__sess *o = &p->ss[i];
    if (o == s) continue;
    if (o->state == SS_CHECK && o->ck.dir == NI_PDIR_INBOUND && !o->ck.ok)
      ahead += due < now + window;
    else if (o->state == SS_SILENT && o->armed == p->search.in && o->plain_due &&
             (o->plain_due < due || (o->plain_due == due && o->slot < s->slot)) &&
             o->plain_due + window > due)
      ahead++;
  }
  return ahead * rtt;
}

static ni_ms due_at(ni__sess *s, double target_s) {
  s->plan_poll = 0;
  s->plain_due = 0;
  if (s->armed && s->armed == s->p->search.in && s->p->poll.seen && s->p->poll.known)
    return plan_poll(s, target_s);
  ni_ms due = s->silent_since + (ni_ms)llround(target_s * 1000.0);
  ni_ms lead = lead_of(s);
  /* Timers and arrival times jitter by a millisecond or two: aim a little
   * late so the silence tested is never a hair short of the target. */
  due += DUE_MARGIN_MS;
  due = due > s->silent_since + lead ? due - lead : s->silent_since;
  s->plain_due = due;
  ni_ms q = queue_ahead_ms(s, due);
  return due > s->silent_since + q ? due - q : s->silent_since;
}

/* Ask the search for a target and set the timer. */
void ni__sess_arm(ni__sess *s) {
  ni__probe *p = s->p;
  if (s->state != SS_SILENT || p->phase != PH_RUN) {
    /* Before the run proper, a ready session may serve calibration; an
     * outbound-only run's sessions wait for the NOOP samples. */
    if (s->state == SS_SILENT && p->phase == PH_CALIBRATE) ni__calibrate_step(p);
    return;
  }
  ni_search *se = ni__search_for(p, p->search.cur);
  ni_ms now = ni_imap_now();
  double t = ni__search_arm(se, s->slot, s->silent_since, now);
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
  if (p->phase != PH_RUN) return;
  ni_ms now = ni_imap_now();
  for (unsigned i = 0; i < p->k; i++) {
    ni__sess *s = &p->ss[i];
    if (s->state != SS_SILENT) continue;
    if (!s->armed || s->armed != ni__search_for(p, p->search.cur)) {
      ni__sess_arm(s);
      continue;
    }
    double t = ni__search_target(s->armed, s->slot, now);
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
  s->ck.search = s->armed;
  s->armed = NULL;
  s->ck.cal = 0;
  s->ck.dir = s->ck.search && s->ck.search == p->search.out ? NI_PDIR_OUTBOUND : NI_PDIR_INBOUND;
  s->ck.target = target;
  s->ck.grace = 0;
  s->ck.late_exists = 0;
  s->ck.done_at = 0;
  s->ck.poll_at = 0;
  ni_ms sil = ni__silence_of(s, now);
  /* Inbound: the silence the push will meet (corrected with the real
   * arrival time when it does arrive), and the one a death is recorded at:
   * the latest the push may have met, so that the bracket never excludes
   * the timeout because a push was slower than usual.  Outbound: the
   * silence DONE ends. */
  if (s->ck.dir == NI_PDIR_OUTBOUND) {
    s->ck.silence = s->ck.dead_s = (double)sil / 1000.0;
  } else if (p->poll.seen && p->poll.known && s->plan_poll) {
    s->ck.poll_at = s->plan_poll;
    s->ck.silence = s->ck.dead_s = (double)(s->plan_poll - s->silent_since) / 1000.0;
  } else if (p->poll.seen) {
    /* The poll comes at most one interval after the marker: a death is
     * known only to have come before it. */
    s->ck.silence = (double)(sil + p->poll.every_ms / 2) / 1000.0;
    s->ck.dead_s = (double)(sil + p->poll.every_ms + (ni_ms)p->ctl.srtt_ms) / 1000.0;
  } else {
    ni_ms worst = ni_lat_worst_after(&p->lat, sil);
    if (worst == NI_TIME_NEVER || worst < p->t.worst_push_ms) worst = p->t.worst_push_ms;
    s->ck.silence = (double)(sil + p->t.push_ms) / 1000.0;
    s->ck.dead_s = (double)(sil + worst) / 1000.0;
  }
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
     * the silence that counts.  Its delay is a sample for the deadlines of
     * later checks after such a silence (a poll's wait is not). */
    s->ck.silence = (double)ni__silence_of(s, now) / 1000.0;
    if (!p->poll.seen) {
      ni_ms sil = s->ck.fire - s->silent_since;
      /* A push that came late was lost on the way and sent again: its
       * first sending passed the NAT and refreshed the mapping, so what is
       * proven alive is the silence when a quick push would have come. */
      ni_ms quick = ni_lat_quantile_after(&p->lat_ok, sil, 0);
      if (s->ck.ok && quick != NI_TIME_NEVER && s->ck.ok + quick < now)
        s->ck.silence = (double)ni__silence_of(s, s->ck.ok + quick) / 1000.0;
      ni_lat_add(&p->lat, sil, (ni_ms)detect);
      ni_lat_add(&p->lat_ok, sil, s->ck.ok && now > s->ck.ok ? now - s->ck.ok : 0);
    }
    ni__record(s, OC_ALIVE, detect);
  }
  s->state = SS_DONE;
  ni__timer_set(s, TK_DONE, now + DONE_WAIT_MS(p));
  ni_imap_idle_done(s->c);
}

/* The target timer: start the check, or wait on when the target moved. */
static void on_target(ni__sess *s, ni_ms now) {
  ni__probe *p = s->p;
  if (s->state != SS_SILENT || !s->armed) return;
  double target = ni__search_target(s->armed, s->slot, now);
  if (target <= 0) {
    s->armed = NULL;
    return;
  }
  /* Not there yet (the bracket moved the target up, or the timer ran
   * early): wait again.  Once there, the search answers with the current
   * silence, so this cannot loop. */
  ni_ms due = due_at(s, target);
  ni_ms margin = s->plan_poll ? 0 : DUE_MARGIN_MS;
  if (due > now + margin + EARLY_SLACK_MS) {
    ni__timer_set(s, TK_TARGET, due);
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

/* How long the marker's EXISTS may take after the APPEND's OK. */
ni_ms ni__check_wait_ms(const ni__sess *s) {
  const ni__probe *p = s->p;
  if (s->ck.cal) return ni__calibrate_wait_ms(s);
  if (s->ck.poll_at) {
    ni_ms to_poll = s->ck.poll_at > s->ck.ok ? s->ck.poll_at - s->ck.ok : 0;
    return to_poll + POLL_LATE_MS + p->poll.dev_ms;
  }
  if (p->poll.seen) return p->poll.every_ms + POLL_LATE_MS + p->poll.dev_ms;
  return ni__detect_ms(p, s->ck.fire - s->silent_since);
}

/* The detection deadline passed without the marker's EXISTS. */
static void on_detect(ni__sess *s, ni_ms now) {
  ni__probe *p = s->p;
  if (s->state != SS_CHECK) return;
  if (!s->ck.grace) {
    /* Let the loop read what has already arrived: an EXISTS that reached
     * the client before its DONE went out means alive. */
    s->ck.grace = 1;
    ni__timer_set(s, TK_DETECT, now + DETECT_GRACE_MS);
    return;
  }
  if (s->ck.cal) {
    ni__calibrate_timeout(s);
    return;
  }
  /* The push left the server once the APPEND was stored (its OK): the
   * latest silence a lost push may have met is the one at the OK plus the
   * slowest push after an OK, or a usual one and one retransmission
   * timeout (a push lost on the link after the NAT passes it again that
   * much later), not the APPEND's own round trips and its wait behind
   * other commands on the control connection. */
  ni_ms sil = s->ck.fire - s->silent_since;
  ni_ms worst_ok = ni_lat_worst_after(&p->lat_ok, sil);
  if (!p->poll.seen && s->ck.ok && worst_ok != NI_TIME_NEVER) {
    ni_ms usual = ni_lat_quantile_after(&p->lat_ok, sil, NI_LAT_DEADLINE_PCT) + ni__rto_ms(p);
    double at_ok =
        (double)(ni__silence_of(s, s->ck.ok) + (usual > worst_ok ? usual : worst_ok)) / 1000.0;
    if (at_ok < s->ck.dead_s && at_ok > s->ck.silence) s->ck.dead_s = at_ok;
  }
  /* No EXISTS within the deadline: the push was lost, or is late.  DONE
   * tells which (ni__check_done_answer); its answer takes a round trip, or
   * a few retransmission timeouts on a lossy link, not a multiple of the
   * detection deadline. */
  s->state = SS_DONE;
  s->ck.done_at = now;
  ni__timer_set(s, TK_DONE, now + ni__done_wait_ms(p));
  ni_imap_idle_done(s->c);
}

/* The tagged answer to the DONE of an open check (status 0: OK; else the
 * error that ended the connection's command).  Outbound: the client's
 * packet got through.  Inbound: the push did not come by the deadline, yet
 * DONE was answered: either the NAT let the client's packet through and
 * lost the push (dead_inbound), or the mapping was alive and the push only
 * late (lost once more than the deadline allows, or a server slow to
 * report: it then comes before the answer, or never once IDLE ends).  A
 * NAT that has answered a death in this run with silence or a RST does not
 * revive a mapping on the client's packet, so there the mapping was alive
 * when DONE passed: alive at that silence when the push came, else nothing
 * learned (the search repeats the check).  Before such a death the answer
 * is ambiguous: the first AMBIGUOUS_VOIDS are voided rather than recorded
 * as deaths that may be wrong; a NAT that keeps answering revives
 * mappings, and it is dead_inbound. */
#define AMBIGUOUS_VOIDS 2
void ni__check_done_answer(ni__sess *s, int status) {
  ni__probe *p = s->p;
  if (status != 0) {
    ni__record(s, OC_ERROR, -1);
    return;
  }
  long took = (long)(ni_imap_now() - s->ck.fire);
  if (s->ck.dir == NI_PDIR_OUTBOUND) {
    ni__record(s, OC_ALIVE, took);
    return;
  }
  if (s->ck.late_exists) {
    ni__note(p, 1,
             "session %u: the push came %llu ms after the APPEND, after DONE: lost and "
             "retransmitted, or slower than the deadline",
             s->num, (unsigned long long)(s->ck.late_exists - s->ck.sent));
    /* A late answer is still an answer: the next deadlines cover it. */
    if (!p->poll.seen && s->ck.ok && s->ck.late_exists > s->ck.ok) {
      ni_lat_add(&p->lat, s->ck.fire - s->silent_since, s->ck.late_exists - s->ck.sent);
      ni_lat_add(&p->lat_ok, s->ck.fire - s->silent_since, s->ck.late_exists - s->ck.ok);
    }
  }
  if (p->n.refused && s->ck.done_at && s->ck.late_exists) {
    s->ck.silence = (double)ni__silence_of(s, s->ck.done_at) / 1000.0;
    ni__record(s, OC_ALIVE, (long)(s->ck.late_exists - s->ck.sent));
  } else if (p->n.refused || p->n.late++ < AMBIGUOUS_VOIDS) {
    ni__note(p, 1, "session %u: DONE answered after %s: the NAT's part is unknown, checking again",
             s->num, s->ck.late_exists ? "a late push" : "no push (the server did not report it)");
    ni__record(s, OC_ABORTED, -1);
  } else {
    ni__record(s, OC_DEAD_INBOUND, took);
  }
}

/* DONE went unanswered. */
static void on_done_timeout(ni__sess *s) {
  ni__probe *p = s->p;
  if (s->state != SS_DONE) return;
  if (s->ck.result == CK_OPEN && s->ck.cal)
    ni__calibrate_done_answer(s, NI_ETIMEDOUT);
  else if (s->ck.result == CK_OPEN)
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
    if (s->state == SS_SETUP || s->state == SS_REIDLE) ni__sess_setup_failed(s, NI_ETIMEDOUT);
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
  case TK_CAL:
    ni__calibrate_step(s->p);
    break;
  case TK_NONE:
    break;
  }
}
