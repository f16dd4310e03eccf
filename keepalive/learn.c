/*
 * keepalive/learn.c - online learning of the NAT's idle timeout.
 *
 * The scheduler keeps a bracket (lower, upper]: `lower` is the longest
 * silence the NAT was seen to survive, `upper` the shortest it was seen to
 * kill (NI_TIME_NEVER while unknown).  Every keepalive is an experiment on
 * the silence that preceded it, so learning costs no extra traffic, only
 * the risk of a failed probe, which the reply deadline keeps short: a probe
 * that overshoots the real timeout T by d costs d plus a few seconds of
 * broken push.
 *
 * The search, from nothing: start at start_ms (60 s, below almost every
 * carrier; shorter silences seen to survive do not lower it), grow by half
 * while probes survive (so the 29-min limit is
 * reached in nine intervals, about 75 min, not hours of +60 s steps), never
 * beyond the re-IDLE limit; after the first failure bisect (lower, upper]
 * until it is narrower than the resolution.  That needs
 * O(log(range / resolution)) probes, about half of which fail.  Then the
 * cadence is lower - margin.  Why 1.5 and not 2: the first failure is the
 * expensive one, since it overshoots the real timeout T by up to
 * (factor - 1) x T, all of it broken push; 1.5 halves that worst case for
 * four more (successful, hence cheap) probes.
 *
 * Once settled, a single probe by one resolution step above `lower` is
 * tried about once a day (reprobe_ms, jittered by +-10 % so that clients
 * behind one NAT do not probe in step), counted from the last failed probe:
 * a NAT that lengthened its timeout, or an `upper` that came from a one-off
 * loss, is noticed within a day, at the price of a few seconds of broken
 * push when nothing changed.
 *
 * Not every lost keepalive is the NAT's doing.  A loss at a silence that
 * survived before is retried once at the same silence before it is
 * believed (see ni__ka_learn_dead); a push seen only in a keepalive's
 * answer is believed at once, since only a forgotten mapping explains it.
 */
#include "keepalive/ka_internal.h"

ni_ms ni__ka_reidle_limit(const ni_ka *s) {
  /* One minute below the logout, as RFC 2177 suggests (29 of 30 min).  A
   * server with a very short logout (a test setup) gets half of it. */
  ni_ms a = s->cfg.autologout_ms;
  return a > 120000 ? a - 60000 : a / 2;
}

ni_ms ni__ka_cap(const ni_ka *s) {
  ni_ms cap = ni__ka_reidle_limit(s);
  if (s->cfg.max_interval_ms && s->cfg.max_interval_ms < cap) cap = s->cfg.max_interval_ms;
  if (cap < s->cfg.min_interval_ms) cap = s->cfg.min_interval_ms;
  return cap;
}

ni_ms ni__ka_resolution(const ni_ka *s) {
  /* A sixteenth of the lower bound: finer than that is lost in the margin
   * anyway (5 % by default), and every extra bisection step risks one more
   * failed probe. */
  ni_ms r = s->lower / 16;
  return r > s->cfg.margin_min_ms ? r : s->cfg.margin_min_ms;
}

NI_API ni_ms ni_ka_margin(const ni_ka *s) {
  if (!s) return 0;
  if (s->cfg.margin_ms) return s->cfg.margin_ms;
  /* Why three terms: a fixed floor for the NAT's timer granularity and the
   * caller's timer slop; a proportional part because both grow with the
   * interval (deferred alarms on phones, clock rate differences); and the
   * smoothed RTT because the NAT's silence began when the server's last
   * packet crossed it, up to one RTT before the client saw that packet. */
  ni_ms m = s->cfg.margin_min_ms;
  ni_ms p =
      s->lower / 1000 * s->cfg.margin_permille + s->lower % 1000 * s->cfg.margin_permille / 1000;
  if (p > m) m = p;
  if (s->have_rtt && s->srtt > m) m = s->srtt;
  return m;
}

void ni__ka_learn_alive(ni_ka *s, ni_ms silence) {
  if (s->strike && silence >= s->strike) s->strike = 0; /* that loss was noise */
  if (silence <= s->lower) return;
  s->lower = silence;
  if (s->upper != NI_TIME_NEVER && s->upper <= s->lower)
    s->upper = NI_TIME_NEVER; /* the NAT got longer: the old kill is stale */
  s->bracket_gen++;
}

static ni_ms reprobe_period(ni_ka *s) {
  ni_ms p = s->cfg.reprobe_ms;
  uint64_t r = ni__ka_random(s) % 201; /* 0..200 -> 90 %..110 % */
  return p / 1000 * (900 + r) + p % 1000 * (900 + r) / 1000;
}

/* Push the next re-probe back to at least `now + delay`. */
static void postpone_reprobe(ni_ka *s, ni_ms now, ni_ms delay) {
  ni_ms at = ni__ka_add(now, delay);
  if (s->reprobe_at < at) s->reprobe_at = at;
}

void ni__ka_learn_dead(ni_ka *s, ni_ms silence, ni_ms now, int strong) {
  s->stats.failures++;
  if (silence > s->lower) {
    /* A failed probe (or a loss beyond all that survived): the upper edge
     * is near, so no re-probe for a full period. */
    s->reprobe_at = ni__ka_add(now, reprobe_period(s));
    if (silence < s->upper) {
      s->upper = silence;
      s->bracket_gen++;
    }
    return;
  }
  if (silence == 0) return; /* says nothing about any silence */
  if (!strong && !s->strike) {
    /* A keepalive lost at a silence that survived before: a NAT that got
     * shorter, or a loss that has nothing to do with the NAT (a radio slow
     * to wake, a handover).  One such loss is not believed: the same
     * silence is tried again, and only a second loss before a success at
     * that silence counts.  Believing the first would throw away what was
     * learned for every stray loss; on a path losing 2 % of keepalives
     * that more than doubles the wakeups. */
    s->strike = silence;
    return;
  }
  /* Killed again at a silence it survived before: another NAT, or this one
   * shortened its timeout.  What was learned from below no longer holds;
   * learning restarts below the new kill.  The re-probe waits a few hours,
   * not a full period: two stray losses in a row happen every few hours on
   * a lossy path at a short cadence, and each would otherwise postpone the
   * only way out of a bracket that noise made too low. */
  s->strike = 0;
  s->lower = 0;
  s->upper = silence;
  s->bracket_gen++;
  postpone_reprobe(s, now, s->cfg.reprobe_ms / 8);
}

/* The steady cadence: the lower bound less the margin. */
static ni_ms steady(const ni_ka *s) {
  ni_ms m = ni_ka_margin(s);
  return s->lower > m ? s->lower - m : 0;
}

void ni__ka_choose_interval(ni_ka *s, ni_ms now) {
  ni_ms cap = ni__ka_cap(s), lo = s->lower, up = s->upper;
  ni_ms iv;
  int probe = 0;

  if (s->reprobe_at == 0) s->reprobe_at = ni__ka_add(now, reprobe_period(s));
  if (!s->cfg.adaptive) {
    if (lo)
      iv = steady(s);
    else
      iv = up != NI_TIME_NEVER ? up / 2 : s->cfg.start_ms;
    /* Without a known kill, a silence seen to survive is no reason to send
     * more often than with nothing known (see below); a lower bound the
     * caller gave is, since it is the cadence asked for. */
    if (lo && up == NI_TIME_NEVER && !s->cfg.nat_lower_ms && iv < s->cfg.start_ms)
      iv = s->cfg.start_ms;
  } else if (lo == 0) {
    iv = up != NI_TIME_NEVER ? up / 2 : s->cfg.start_ms;
    probe = 1;
  } else if (lo >= cap) {
    /* The logout rule, not the NAT, is the limit: nothing to learn.  With
     * a known kill the margin is kept below the lower bound as usual (the
     * cap applies below); with none, the cap itself was seen to survive. */
    iv = up == NI_TIME_NEVER ? cap : steady(s);
  } else if (up == NI_TIME_NEVER) {
    /* Growth from what survived, but never below start_ms: with no kill
     * known, start_ms is where learning starts, and a shorter silence that
     * survived says nothing that start_ms did not already assume.  Every
     * session has such silences at once (the round trip of the first
     * command after CONNECTED makes lower a few ms), and growing from them
     * would probe at min_interval_ms, then 1.5 times that, taking five
     * extra wakeups to reach start_ms. */
    iv = lo > cap / 3 * 2 ? cap : lo + lo / 2;
    if (iv < s->cfg.start_ms) iv = s->cfg.start_ms;
    probe = 1;
  } else if (up - lo > ni__ka_resolution(s)) {
    iv = lo + (up - lo) / 2;
    probe = 1;
  } else if (now >= s->reprobe_at) {
    iv = lo + ni__ka_resolution(s);
    probe = 1;
    s->reprobe_at = ni__ka_add(now, reprobe_period(s));
  } else {
    iv = steady(s);
  }
  if (iv > cap) iv = cap;
  if (iv < s->cfg.min_interval_ms) iv = s->cfg.min_interval_ms;
  /* A probe capped down to what is already known to survive is no probe. */
  if (probe && iv <= lo) probe = 0;
  s->interval = iv;
  s->probing = probe;
}

uint64_t ni__ka_random(ni_ka *s) {
  /* xorshift64 (Marsaglia 2003): tiny, deterministic from the seed, and
   * good enough for spreading re-probes. */
  uint64_t x = s->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  s->rng = x;
  return x;
}
