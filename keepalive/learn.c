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
 * believed (see ni__ka_learn_dead).  And a bound given by the caller (a
 * probe measures the NAT itself) says nothing of the phone's radio, which
 * after a silence may hold the keepalive back for seconds before it even
 * reaches the NAT.  Until a round trip after such a silence is measured,
 * the margin allows for a slow wake-up (NI_KA_WAKE_GUESS_MS, see
 * margin_wanted); a radio slower still may lose the first keepalive
 * anyway: the first loss below such a bound, before any round
 * trip after a silence was measured, is excused, and the next keepalive
 * goes at half the bound to measure the radio, whose wake-up the margin
 * then covers (margin_wanted).  A slow answer, however slow, is never a
 * failure: only one that never came is.
 *
 * Nor is every message seen first in a keepalive's answer a push the NAT
 * lost.  Believing so made a session with no NAT at all, on a server that
 * reports new mail to IDLE only by polling every minute, cut its cadence
 * and store a "NAT" of a dozen seconds.  Such a message is judged by its
 * age against the server's push delay, learned from the delays of the
 * pushes that did arrive (ni__ka_judge_mail); even one that passes is a
 * single ambiguous signal and is retried at the same silence, like a lost
 * keepalive below the lower bound, before it is believed.
 *
 * Without learning the caller's bracket is the reference.  Failures still
 * lower the cadence, since it is safer to send more often while something
 * is wrong, but a stretch of bad coverage (keepalives lost while the
 * reconnects after them succeed) would otherwise halve it for good, with
 * nothing to bring it back; after a few quiet hours the bracket given is
 * restored (restore_given).
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

ni_ms ni__ka_floor(const ni_ka *s) {
  return s->cfg.min_interval_ms < NI_KA_FLOOR_MS ? s->cfg.min_interval_ms : NI_KA_FLOOR_MS;
}

/* The margin asked for, whatever the floor allows.  `guess`: whether an
 * unmeasured radio wake-up counts (see below). */
static ni_ms margin_wanted(const ni_ka *s, int guess) {
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
  /* The keepalive reaches the NAT only once the phone's radio woke up,
   * which after a long silence can take seconds: the slowest recent round
   * trip after at least half the lower bound's silence (or after the
   * shorter one the guess below leaves) bounds that, where the smoothed
   * one would average it away. */
  ni_ms g = s->cfg.margin_min_ms + NI_KA_WAKE_GUESS_MS;
  ni_ms at = s->lower > g ? s->lower - g : 0, after = s->lower / 2;
  ni_ms w = ni_lat_worst_after(&s->lat, at < after ? at : after);
  if (w != NI_TIME_NEVER) {
    if (w > m) m = w;
  } else if (guess && s->lower && g > m) {
    /* Nothing measured after such a silence yet: the radio's wake-up is
     * unknown.  Allow a slow cellular one on top of the floor, so that the
     * first keepalive is not held back past the bound (it would be lost,
     * and push with it).  Its round trip then replaces the guess, which is
     * why a sample after the silence the guess itself leaves (`at`) is
     * enough for a bound too short for half of it to be one.  Above
     * lower = 100 s the 5 % covers the guess anyway. */
    m = g;
  }
  return m;
}

/* The lowest steady cadence.  For the lower bound the caller gave (a
 * measured NAT), or a longer one learned since, the floor: the margin wins
 * over min_interval_ms, since a NAT known to forget after 8 s needs 6 s,
 * not 10.  For one the scheduler learned by itself, or re-learned below
 * the one given after failures, min_interval_ms, which guards against
 * noise: a connection reset by a flaky radio after a few seconds must not
 * make it send every few seconds. */
static ni_ms steady_floor(const ni_ka *s) {
  int given = s->cfg.nat_lower_ms && s->lower >= s->cfg.nat_lower_ms;
  return given ? ni__ka_floor(s) : s->cfg.min_interval_ms;
}

/* The steady cadence: the lower bound less the margin, but not below
 * steady_floor().  *raised gets how far that floor lifted it above the
 * measured margin (0 if not): a wake-up guessed, not yet measured, is no
 * reason to warn. */
static ni_ms steady(const ni_ka *s, ni_ms *raised) {
  ni_ms m = margin_wanted(s, 1), known = margin_wanted(s, 0), floor = steady_floor(s);
  ni_ms iv = s->lower > m ? s->lower - m : 0, ik = s->lower > known ? s->lower - known : 0;
  *raised = ik < floor ? floor - ik : 0;
  return iv < floor ? floor : iv;
}

NI_API ni_ms ni_ka_margin(const ni_ka *s) {
  if (!s) return 0;
  ni_ms raised, iv;
  if (!s->lower) return margin_wanted(s, 1);
  /* What the steady cadence really leaves, also when the floor leaves less
   * room than asked for. */
  iv = steady(s, &raised);
  return s->lower > iv ? s->lower - iv : 0;
}

NI_API unsigned ni_ka_warnings(const ni_ka *s) {
  return s && s->floor_hit ? NI_KA_WARN_MARGIN : 0;
}

void ni__ka_learn_alive(ni_ka *s, ni_ms silence) {
  /* The pending loss was noise.  A strike above the cap can only be tried
   * again at the cap. */
  ni_ms cap = ni__ka_cap(s);
  if (s->strike && silence >= (s->strike < cap ? s->strike : cap)) s->strike = 0;
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

void ni__ka_learn_dead(ni_ka *s, ni_ms silence, ni_ms now, int ambiguous) {
  s->stats.failures++;
  s->last_failure = now;
  if (silence == 0) return; /* says nothing about any silence */
  if (ambiguous) {
    /* A message the NAT may have lost: tried again at the same silence
     * (ni__ka_choose_interval), and believed only as the second failure
     * before a success there, at the longer of the two silences, which
     * both failures support. */
    if (!s->strike) {
      s->strike = silence;
      return;
    }
    if (s->strike > silence) silence = s->strike;
    s->strike = 0;
    /* The keepalive was answered, yet the push before it was lost: this
     * NAT re-creates a forgotten mapping for the client's next packet, so
     * an answer no longer proves the silence before it was survived. */
    s->recreates = 1;
  }
  if (silence > s->lower) {
    /* A failed probe (or a loss beyond all that survived): the upper edge
     * is near, so no re-probe for a full period. */
    s->reprobe_at = ni__ka_add(now, reprobe_period(s));
    if (silence < s->upper) {
      s->upper = silence;
      s->bracket_gen++;
    }
    /* A pending loss at or above the new kill is now believed with it. */
    if (s->strike >= s->upper) s->strike = 0;
    return;
  }
  if (!ambiguous && !s->strike) {
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

/* Without learning, the bracket the caller gave comes back once
 * reprobe_ms / 8 passed without a failure; what was seen to survive since
 * is kept.  Why so soon: a cadence lowered by a stretch of bad coverage
 * costs wakeups every hour it stays low, while restoring it too early on a
 * NAT that really got shorter costs one lost keepalive and a retry. */
static void restore_given(ni_ka *s, ni_ms now) {
  ni_ms lo = s->cfg.nat_lower_ms, up = s->cfg.nat_upper_ms ? s->cfg.nat_upper_ms : NI_TIME_NEVER;
  if (s->lower >= lo && s->upper >= up) return;
  if (now < ni__ka_add(s->last_failure, s->cfg.reprobe_ms / 8)) return;
  if (s->lower < lo) s->lower = lo;
  s->upper = up > s->lower ? up : NI_TIME_NEVER;
  s->strike = 0;
  s->bracket_gen++;
}

void ni__ka_choose_interval(ni_ka *s, ni_ms now) {
  ni_ms cap, lo, up, iv, raised = 0;
  int probe = 0, is_steady = 0;

  if (s->reprobe_at == 0) s->reprobe_at = ni__ka_add(now, reprobe_period(s));
  if (!s->cfg.adaptive) restore_given(s, now);
  cap = ni__ka_cap(s);
  if (s->measure && s->lower) {
    /* An excused loss (ni__ka_excusable): the next keepalive measures the
     * round trip after a silence long enough for the radio to sleep, yet
     * short enough that even a slow wake-up reaches the NAT in time: half
     * the lower bound, on the floor of a cadence from that bound. */
    iv = s->lower / 2;
    if (iv < steady_floor(s)) iv = steady_floor(s);
    s->interval = iv < cap ? iv : cap;
    s->probing = 0;
    s->floor_hit = 0;
    return;
  }
  lo = s->lower;
  up = s->upper;
  if (!s->cfg.adaptive) {
    is_steady = lo != 0;
    iv = lo ? steady(s, &raised) : up != NI_TIME_NEVER ? up / 2 : s->cfg.start_ms;
    /* Without a known kill, a silence seen to survive is no reason to send
     * more often than with nothing known (see below); a lower bound the
     * caller gave is, since it is the cadence asked for. */
    if (lo && up == NI_TIME_NEVER && !s->cfg.nat_lower_ms && iv < s->cfg.start_ms) {
      iv = s->cfg.start_ms;
      is_steady = 0;
    }
  } else if (s->strike > lo) {
    /* An unconfirmed failure above what survived (a message the NAT may
     * have lost at a silence being probed): that silence again, so that a
     * second failure confirms it or a success clears it. */
    iv = s->strike;
    probe = 1;
  } else if (lo == 0) {
    iv = up != NI_TIME_NEVER ? up / 2 : s->cfg.start_ms;
    probe = 1;
  } else if (lo >= cap) {
    /* The logout rule, not the NAT, is the limit: nothing to learn.  With
     * a known kill the margin is kept below the lower bound as usual (the
     * cap applies below); with none, the cap itself was seen to survive. */
    is_steady = up != NI_TIME_NEVER;
    iv = is_steady ? steady(s, &raised) : cap;
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
    is_steady = 1;
    iv = steady(s, &raised);
  }
  if (iv > cap) {
    iv = cap;
    raised = 0;
  }
  /* min_interval_ms bounds what the scheduler picks on its own; the steady
   * cadence had its own floor applied (steady_floor). */
  if (!is_steady && iv < s->cfg.min_interval_ms) iv = s->cfg.min_interval_ms;
  s->floor_hit = is_steady && raised != 0;
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

int ni__ka_push_sample(ni_ka *s, ni_ms delay) {
  /* A delay beyond the re-IDLE limit is no server's push delay (the re-IDLE
   * would have shown the message first) but a message with an old date:
   * one moved in from another folder keeps its INTERNALDATE. */
  if (delay > ni__ka_reidle_limit(s)) return 0;
  /* The largest delay of the last one or two windows: a server that polls
   * every minute pushes with delays spread evenly up to a minute, and the
   * maximum of sixteen such delays is within a sixteenth of the period.  A
   * window, not the maximum ever seen, so that one outlier is forgotten
   * after at most 2 x NI_KA_PUSH_WINDOW pushes. */
  if (delay > s->push_max[0]) s->push_max[0] = delay;
  if (++s->push_n >= NI_KA_PUSH_WINDOW) {
    s->push_max[1] = s->push_max[0];
    s->push_max[0] = 0;
    s->push_n = 0;
  }
  return 1;
}

NI_API ni_ms ni_ka_push_delay(const ni_ka *s) {
  if (!s || s->push_known < NI_KA_PUSH_MIN_SAMPLES) return NI_TIME_NEVER;
  return s->push_max[0] > s->push_max[1] ? s->push_max[0] : s->push_max[1];
}

int ni__ka_judge_mail(ni_ka *s, ni_ms age, ni_ms silence) {
  if (age == 0) return NI__KA_MAIL_AMBIGUOUS;
  ni_ms d = ni_ka_push_delay(s);
  /* Not pushed before the silence began, while the mapping was alive: the
   * server takes at least age - silence to push (a lower bound, so it only
   * ever raises the estimate, and alone it does not make it known). */
  if (age > silence) ni__ka_push_sample(s, age - silence);
  if (d == NI_TIME_NEVER) return NI__KA_MAIL_AMBIGUOUS;
  /* The rule of NI_KA_EV_PUSH_IN_NOOP.  d / 4 covers the gap between the
   * largest delay seen and the longest the server takes; the RTT term a
   * push that crossed the keepalive on the wire. */
  ni_ms slack = d / 4 > NI_KA_AGE_SLACK_MS ? d / 4 : NI_KA_AGE_SLACK_MS;
  ni_ms rtt = s->have_rtt ? 2 * s->srtt : s->cfg.reply_max_ms;
  ni_ms threshold = ni__ka_add(ni__ka_add(d, slack), rtt);
  if (age <= threshold) return NI__KA_MAIL_LATE;
  /* The push was due by silence + d - age into the silence: before the
   * silence began, or too soon after for any NAT to have forgotten the
   * mapping, it was the server that was late, not the NAT. */
  if (ni__ka_add(silence, d) < ni__ka_add(age, s->cfg.min_interval_ms)) return NI__KA_MAIL_LATE;
  return NI__KA_MAIL_LOST;
}
