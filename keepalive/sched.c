/*
 * keepalive/sched.c - the keepalive scheduler's state machine.
 *
 * No I/O and no clock: every call gets `now`.  The session is
 * disconnected (nothing due), stopped (nothing due until re-initialised) or
 * connected; when connected either one keepalive is outstanding (the only
 * expiry is its verdict deadline) or the next keepalive is due when the
 * silence reaches the interval, or, inside IDLE, when the RFC 2177 re-IDLE
 * limit is reached, whichever comes first, or at once when the device
 * slept through its alarm.  What the bracket is and how the interval is
 * chosen lives in learn.c; round trips after a silence live in an ni_lat
 * (latency.c), shared in design with the probe's detection deadline.
 */
#include <limits.h>
#include <string.h>

#include "keepalive/ka_internal.h"

/* ni_ka_config.defaulted of a config made by ni_ka_config_default(). */
#define DEFAULTED 0x6e694b41u

NI_API void ni_ka_config_default(ni_ka_config *c) {
  if (!c) return;
  memset(c, 0, sizeof(*c));
  c->autologout_ms = NI_KA_AUTOLOGOUT_MS;
  c->margin_min_ms = NI_KA_MARGIN_MIN_MS;
  c->margin_permille = NI_KA_MARGIN_PERMILLE;
  c->min_interval_ms = NI_KA_MIN_INTERVAL_MS;
  c->adaptive = 1;
  c->start_ms = NI_KA_START_MS;
  c->reprobe_ms = NI_KA_REPROBE_MS;
  c->reply_min_ms = NI_KA_REPLY_MIN_MS;
  c->reply_max_ms = NI_KA_REPLY_MAX_MS;
  c->seed = 1;
  c->defaulted = DEFAULTED;
}

static void take_default(uint64_t *v, uint64_t d) {
  if (*v == 0) *v = d;
}

/* The config `c` with every default filled in, into *k; NI_EUSAGE if it is
 * inconsistent. */
static int normalize(const ni_ka_config *c, ni_ka_config *k_out) {
  ni_ka_config d;
  ni_ka_config_default(&d);
  ni_ka_config k = *c;
  /* Zero means "default" for every field that has one.  For `adaptive` a
   * zero is a choice only in a config that ni_ka_config_default() filled:
   * in one that was zeroed and partly set, it is a field nobody set, and
   * silently turning learning off there broke the rule above. */
  if (k.defaulted != DEFAULTED && !k.adaptive) k.adaptive = d.adaptive;
  /* NI_KA_LEARN_OFF says "off" in any config; inside, 0 or 1. */
  k.adaptive = k.adaptive > 0;
  k.defaulted = DEFAULTED;
  take_default(&k.autologout_ms, d.autologout_ms);
  take_default(&k.margin_min_ms, d.margin_min_ms);
  take_default(&k.min_interval_ms, d.min_interval_ms);
  take_default(&k.start_ms, d.start_ms);
  take_default(&k.reprobe_ms, d.reprobe_ms);
  take_default(&k.reply_min_ms, d.reply_min_ms);
  take_default(&k.reply_max_ms, d.reply_max_ms);
  take_default(&k.seed, d.seed);
  if (!k.margin_permille) k.margin_permille = d.margin_permille;
  if (k.nat_lower_ms && k.nat_upper_ms && k.nat_lower_ms > k.nat_upper_ms) return NI_EUSAGE;
  if (k.max_interval_ms && k.min_interval_ms > k.max_interval_ms) return NI_EUSAGE;
  if (k.reply_min_ms > k.reply_max_ms || k.margin_permille >= 1000) return NI_EUSAGE;
  *k_out = k;
  return 0;
}

/* Rely on the server's keepalive when one is configured (see "Relying on
 * the server's keepalive" in keepalive.h). */
static int server_too_slow(const ni_ka *s);
static void set_server(ni_ka *s) {
  s->srv = !s->cfg.server_keepalive_ms ? NI_KA_SRV_NONE
           : server_too_slow(s)        ? NI_KA_SRV_FALLBACK
                                       : NI_KA_SRV_RELYING;
  s->srv_taken = 0;
  s->srv_retry_at = 0;
}

/* Take the bracket given in s->cfg as what is known of the NAT, and
 * forget what was learned of the one before. */
static void set_given(ni_ka *s) {
  s->lower = s->cfg.nat_lower_ms;
  s->upper = s->cfg.nat_upper_ms ? s->cfg.nat_upper_ms : NI_TIME_NEVER;
  s->recreates = 0;
  s->strike = 0;
  s->last_failure = 0;
  s->prev_valid = 0;
}

NI_API int ni_ka_init(ni_ka *s, const ni_ka_config *c) {
  ni_ka_config k;
  if (!s || !c) return NI_EUSAGE;
  int rc = normalize(c, &k);
  if (rc) return rc;
  /* A client re-initialises a session on a network change; wiping a group
   * member's links made its group's expiry 0, stranded the other members
   * and crashed the next removal.  A member leaves the group and comes
   * back at its new place instead. */
  ni_ka_group *g = ni__ka_in_group(s) ? s->group : NULL;
  if (g) ni_ka_group_remove(g, s);
  memset(s, 0, sizeof(*s));
  s->cfg = k;
  set_given(s);
  set_server(s);
  s->rng = k.seed;
  s->state = NI__KA_DISCONNECTED;
  ni__ka_choose_interval(s, 0);
  s->reprobe_at = 0; /* set from the first real `now` */
  if (g) ni_ka_group_add(g, s);
  return 0;
}

/* Times never go backwards inside the scheduler. */
static ni_ms clamp_now(ni_ka *s, ni_ms now) {
  if (now < s->now) return s->now;
  s->now = now;
  return now;
}

static ni_ms silence_at(const ni_ka *s, ni_ms now) {
  return now > s->last_activity ? now - s->last_activity : 0;
}

ni_ms ni__ka_reply_timeout_for(const ni_ka *s, ni_ms silence) {
  /* From the round trips after a comparable silence only: those of an
   * awake radio say nothing of one that must wake up first.  None known:
   * the generous cap. */
  return ni_lat_deadline(&s->lat, silence, NI_KA_REPLY_FACTOR, NI_KA_REPLY_SLACK_MS,
                         s->cfg.reply_min_ms, s->cfg.reply_max_ms);
}

ni_ms ni__ka_verdict_timeout(const ni_ka *s, ni_ms r) {
  /* Twice the reply timeout: an answer that comes a little after its
   * deadline is still an answer, and declaring a live connection dead
   * costs a reconnect and, worse, a failure learned at a silence the NAT
   * survived.  reply_max_ms still bounds the wait, so that a path that
   * became slow cannot hide a dead connection for long. */
  ni_ms v = r > s->cfg.reply_max_ms / 2 ? s->cfg.reply_max_ms : 2 * r;
  return v < r ? r : v;
}

NI_API ni_ms ni_ka_reply_timeout(const ni_ka *s) {
  if (!s) return 0;
  return ni__ka_reply_timeout_for(s, s->interval);
}

NI_API ni_ms ni_ka_server_watch(const ni_ka *s) {
  if (!s || !s->cfg.server_keepalive_ms) return 0;
  ni_ms k = s->cfg.server_keepalive_ms, g = s->cfg.server_grace_ms;
  if (!g) {
    /* As the margin below a lower bound, for the same reasons: the NAT's
     * and the timers' granularity, drift growing with the interval, and
     * the server's packet on its way. */
    ni_ms p = k / 1000 * s->cfg.margin_permille + k % 1000 * s->cfg.margin_permille / 1000;
    g = s->cfg.margin_min_ms > p ? s->cfg.margin_min_ms : p;
    if (s->have_rtt && s->srtt > g) g = s->srtt;
  }
  return ni__ka_add(k, g);
}

NI_API ni_ka_server_state ni_ka_server(const ni_ka *s) {
  return s ? (ni_ka_server_state)s->srv : NI_KA_SRV_NONE;
}

/* The NAT is known to kill a silence the server's keepalive leaves it:
 * relying on the server would lose the connection. */
static int server_too_slow(const ni_ka *s) {
  return s->upper != NI_TIME_NEVER && s->upper <= ni_ka_server_watch(s);
}

/* Relying on the server in IDLE, the re-IDLE rides on its keepalive: due at
 * the last bytes (the server's keepalive just in) when the next one, S
 * later, would come after the re-IDLE limit. */
static int ride_due(const ni_ka *s) {
  if (s->srv != NI_KA_SRV_RELYING || !s->in_idle) return 0;
  ni_ms reidle = ni__ka_add(s->idle_since, ni__ka_reidle_limit(s));
  return reidle <= ni__ka_add(s->last_activity, s->cfg.server_keepalive_ms);
}

/* In fallback, whether the silence in progress is let run to the server's
 * watch: the first that began NI_KA_SERVER_RETRY_MS after the last. */
static int retry_due(const ni_ka *s) {
  return s->srv == NI_KA_SRV_FALLBACK && s->last_activity >= s->srv_retry_at &&
         !server_too_slow(s) && ni_ka_server_watch(s) > s->interval;
}

ni_ms ni__ka_next_due(const ni_ka *s) {
  /* After a sleep through the alarm, the connection is verified at once. */
  if (s->verify) return s->verify_at;
  if (ride_due(s)) return s->last_activity;
  ni_ms iv = s->srv == NI_KA_SRV_RELYING || retry_due(s) ? ni_ka_server_watch(s) : s->interval;
  ni_ms due = ni__ka_add(s->last_activity, iv);
  if (s->in_idle) {
    ni_ms reidle = ni__ka_add(s->idle_since, ni__ka_reidle_limit(s));
    if (reidle < due) due = reidle;
  }
  return due;
}

/* A keepalive is due at `now` (not a verification): say why, where the
 * server's keepalive is concerned. */
static void server_due(ni_ka *s, ni_ms now) {
  if (s->verify || s->srv == NI_KA_SRV_NONE) return;
  if (ride_due(s)) {
    s->stats.rides++;
    return;
  }
  if (now < ni__ka_add(s->last_activity, ni_ka_server_watch(s))) return;
  if (s->srv == NI_KA_SRV_RELYING) {
    /* Missed: the client takes over at once, and from now on at its own
     * cadence below what the NAT is known to keep. */
    s->srv = NI_KA_SRV_FALLBACK;
    s->stats.server_missed++;
  }
  s->srv_taken = 0;
  s->srv_retry_at = ni__ka_add(now, NI_KA_SERVER_RETRY_MS);
}

/* Bytes from the server after a silence, in fallback: the server speaks
 * again; relying on it again, unless an event at the same `now` shows the
 * bytes were something else (see take_back()). */
static void server_spoke(ni_ka *s, ni_ms now) {
  if (s->srv != NI_KA_SRV_FALLBACK || s->outstanding || !s->in_idle || s->slept) return;
  if (silence_at(s, now) < NI_KA_FLOOR_MS || server_too_slow(s)) return;
  s->srv = NI_KA_SRV_RELYING;
  s->stats.server_resumed++;
  s->srv_taken = 1;
  s->srv_taken_at = now;
}

/* The bytes that made the session rely on the server again were a new
 * IDLE's "+ idling" or a push: back to the fallback. */
static void take_back(ni_ka *s, ni_ms now) {
  if (!s->srv_taken || s->srv_taken_at != now || s->srv != NI_KA_SRV_RELYING) return;
  s->srv = NI_KA_SRV_FALLBACK;
  s->stats.server_resumed--;
  s->srv_taken = 0;
}

/* Start the outstanding keepalive's deadlines at `now`. */
static void arm_deadlines(ni_ka *s, ni_ms now) {
  s->out_sent_at = now;
  s->out_deadline = ni__ka_add(now, s->out_timeout);
  s->out_dead_at = ni__ka_add(now, ni__ka_verdict_timeout(s, s->out_timeout));
}

ni_ka_action ni__ka_fire(ni_ka *s, ni_ms now) {
  ni_ka_action a = s->in_idle ? NI_KA_REIDLE : NI_KA_NOOP;
  s->outstanding = (int)a;
  s->out_probe = s->probing;
  s->out_taint = NI__KA_MAIL_LATE;
  s->out_silence = silence_at(s, now);
  /* A keepalive that verifies the connection after a sleep measures a
   * silence nobody chose and that may have outlived the radio's link, the
   * network, anything: it teaches nothing, and waits the generous cap. */
  s->out_void = s->verify;
  /* Nor is its round trip a sample: the first exchange after a device
   * wakes includes whatever it does then (re-attaching to the network), not
   * the radio's usual wake-up, and would inflate margins and deadlines. */
  s->out_slept = s->verify;
  s->out_grace = 0;
  s->out_blind = ni_lat_count(&s->lat, s->out_silence) == 0;
  s->out_timeout = s->verify ? s->cfg.reply_max_ms : ni__ka_reply_timeout_for(s, s->out_silence);
  arm_deadlines(s, now);
  s->verify = 0;
  s->slept = 0;
  s->revivable = 0;
  s->last_activity = now;
  s->prev_valid = 0;
  s->stats.keepalives++;
  if (s->probing) s->stats.probes++;
  return a;
}

int ni__ka_excusable(const ni_ka *s) {
  /* A bound the scheduler learned was measured through the same radio, its
   * wake-up included; only one the caller gave (a probe measures the NAT
   * itself) can be too long by the wake-up.  Once a keepalive was
   * answered, the margin holds what its round trip showed.  And a wake-up
   * is shorter than reply_max_ms (a longer one would have been a death
   * anyway): a keepalive that left further below the bound than that was
   * not held back past it by the radio. */
  int given = s->cfg.nat_lower_ms && s->lower >= s->cfg.nat_lower_ms;
  return given && !s->excused && s->out_blind && s->out_silence <= s->lower &&
         s->lower - s->out_silence < s->cfg.reply_max_ms && ni_lat_count(&s->lat, 0) == 0;
}

/* The outstanding keepalive (or the connection) died. */
static void die(ni_ka *s, ni_ms now) {
  if (s->out_void) {
    /* Teaches nothing (reconfigured, or slept through). */
  } else if (ni__ka_excusable(s)) {
    s->stats.failures++;
    s->stats.excused++;
    s->last_failure = now;
    s->excused = 1;
    s->measure = 1;
    ni__ka_choose_interval(s, now);
  } else {
    ni__ka_learn_dead(s, s->out_silence, now, 0);
  }
  s->outstanding = 0;
  s->state = NI__KA_DISCONNECTED;
  s->verify = 0;
  s->slept = 0;
}

/* Keep what a verdict is about to change, for a late answer to undo. */
static void save_undo(ni_ka *s) {
  ni__ka_undo *u = &s->undo;
  u->lower = s->lower;
  u->upper = s->upper;
  u->strike = s->strike;
  u->reprobe_at = s->reprobe_at;
  u->last_failure = s->last_failure;
  u->failures = s->stats.failures;
  u->excused_n = s->stats.excused;
  u->recreates = s->recreates;
  u->excused = s->excused;
  u->measure = s->measure;
  u->action = s->outstanding;
}

static void restore_undo(ni_ka *s) {
  const ni__ka_undo *u = &s->undo;
  if (s->lower != u->lower || s->upper != u->upper) s->bracket_gen++;
  s->lower = u->lower;
  s->upper = u->upper;
  s->strike = u->strike;
  s->reprobe_at = u->reprobe_at;
  s->last_failure = u->last_failure;
  s->stats.failures = u->failures;
  s->stats.excused = u->excused_n;
  s->recreates = u->recreates;
  s->excused = u->excused;
  s->measure = u->measure;
}

/* The expiry the caller armed, if it re-armed after its last call. */
static ni_ms expiry(const ni_ka *s) {
  if (s->state != NI__KA_CONNECTED) return NI_TIME_NEVER;
  return s->outstanding ? s->out_dead_at : ni__ka_next_due(s);
}

/* A `now` this much later than the expiry means a sleep through the alarm
 * (see NI_KA_JUMP_MS). */
static ni_ms jump_threshold(const ni_ka *s) {
  ni_ms q = s->interval / 4;
  return q > NI_KA_JUMP_MS ? q : NI_KA_JUMP_MS;
}

/* The device slept through the alarm if `now` lies well past the expiry:
 * with a clock that counts suspended time (see "Time" in keepalive.h) the
 * silence grew while nothing ran, and the connection may have died with
 * its mapping, its radio link or its network.  Verify it rather than trust
 * it, and learn nothing from a silence or a round trip that spanned the
 * sleep.  Called before an event or expiry is applied. */
static void check_jump(ni_ka *s, ni_ms now) {
  ni_ms e = expiry(s);
  if (e == NI_TIME_NEVER || now <= e || now - e <= jump_threshold(s)) return;
  s->stats.jumps++;
  if (s->outstanding) {
    s->out_void = 1;
    s->out_slept = 1;
    /* Its answer may be in a buffer nobody read yet: one more generous
     * wait before the verdict, once. */
    if (!s->out_grace) {
      s->out_grace = 1;
      s->out_timeout = s->cfg.reply_max_ms;
      s->out_deadline = ni__ka_add(now, s->cfg.reply_max_ms);
      if (s->out_dead_at < s->out_deadline) s->out_dead_at = s->out_deadline;
    }
  } else {
    s->slept = 1;
    s->verify = 1;
    s->verify_at = now;
  }
}

/* RFC 6298's smoothing (alpha 1/8, beta 1/4), in milliseconds.  A sample
 * above 10 min is no round trip anyone can use; it is clamped so the sums
 * below cannot overflow whatever the caller passes. */
#define RTT_MAX_MS 600000u
static void rtt_sample(ni_ka *s, ni_ms r) {
  if (r > RTT_MAX_MS) r = RTT_MAX_MS;
  if (!s->have_rtt) {
    s->srtt = r;
    s->rttvar = r / 2;
    s->have_rtt = 1;
    return;
  }
  ni_ms d = s->srtt > r ? s->srtt - r : r - s->srtt;
  s->rttvar = (3 * s->rttvar + d) / 4;
  s->srtt = (7 * s->srtt + r) / 8;
}

NI_API ni_ms ni_ka_cadence_for(const ni_ka_config *c, ni_ms lower_ms, ni_ms srtt_ms,
                               ni_ms worst_ms) {
  ni_ka_config k;
  ni_ka s;
  if (!lower_ms || lower_ms == NI_TIME_NEVER) return 0;
  if (c)
    k = *c;
  else
    ni_ka_config_default(&k);
  /* The session ni_ka_init() would make for a NAT known to hold lower_ms,
   * keeping the cadence it was given and keeping alive by itself. */
  k.nat_lower_ms = lower_ms;
  k.nat_upper_ms = 0;
  k.adaptive = NI_KA_LEARN_OFF;
  k.server_keepalive_ms = 0;
  memset(&s, 0, sizeof s);
  if (ni_ka_init(&s, &k) != 0) return 0;
  /* The round trips measured on the path, as answered keepalives would
   * have taught them (on_answered). */
  if (srtt_ms) rtt_sample(&s, srtt_ms);
  if (worst_ms != NI_TIME_NEVER)
    ni_lat_add(&s.lat, lower_ms, worst_ms < RTT_MAX_MS ? worst_ms : RTT_MAX_MS);
  ni__ka_choose_interval(&s, 0);
  return s.interval;
}

/* Bytes from the server arrived: the connection lives, so a verification
 * after a sleep is no longer needed, and the silence that spanned the sleep
 * is over. */
static void proof(ni_ka *s) {
  s->verify = 0;
  s->slept = 0;
}

/* Bytes from the server after a silence: the NAT kept the mapping through
 * it.  Only when no keepalive is outstanding, since then the silence is
 * what the keepalive measures. */
static void evidence_rx(ni_ka *s, ni_ms now) {
  if (!s->outstanding && !s->slept) {
    unsigned gen = s->bracket_gen;
    ni__ka_learn_alive(s, silence_at(s, now));
    if (gen != s->bracket_gen) ni__ka_choose_interval(s, now);
  }
  proof(s);
  s->last_activity = now;
}

/* Apply to the last answered keepalive what mail in its answer said: `how`
 * (NI__KA_MAIL_*) against s->prev_taint, what was applied so far.  The
 * answer counted as a success only while nothing was said; that success is
 * taken back first (the bracket and strike as they were before it). */
static void taint(ni_ka *s, int how, ni_ms now) {
  if (how <= s->prev_taint) return;
  if (s->prev_taint == NI__KA_MAIL_LATE) {
    if (s->lower != s->prev_lower || s->upper != s->prev_upper) s->bracket_gen++;
    s->lower = s->prev_lower;
    s->upper = s->prev_upper;
    s->strike = s->prev_strike;
  }
  if (how == NI__KA_MAIL_LOST) ni__ka_learn_dead(s, s->prev_silence, now, 1);
  s->prev_taint = how;
}

static int on_answered(ni_ka *s, const ni_ka_event *ev, ni_ms now) {
  ni_ms rtt = ev->rtt_ms ? ev->rtt_ms : now - s->out_sent_at;
  /* A late answer is an answer: it teaches like any other, and its round
   * trip is what the next deadline after such a silence must cover.  Only
   * one that spanned a sleep is no round trip at all. */
  if (rtt > s->out_timeout) s->stats.late++;
  if (!s->out_slept) {
    rtt_sample(s, rtt);
    /* Clamped as rtt_sample() does: the margin holds this value. */
    ni_lat_add(&s->lat, s->out_silence, rtt < RTT_MAX_MS ? rtt : RTT_MAX_MS);
    s->measure = 0;
  }
  proof(s);
  s->stats.answered++;
  s->prev_lower = s->lower;
  s->prev_upper = s->upper;
  s->prev_strike = s->strike;
  s->prev_silence = s->out_silence;
  s->prev_valid = 1;
  s->prev_taint = NI__KA_MAIL_LATE;
  if (s->out_void) {
    /* Sent before a reconfiguration, or its silence spanned a sleep: mail
     * in its answer changes nothing. */
    s->prev_taint = NI__KA_MAIL_LOST;
  } else if (s->out_taint == NI__KA_MAIL_LATE) {
    if (!s->recreates) ni__ka_learn_alive(s, s->out_silence);
  } else {
    taint(s, s->out_taint, now);
  }
  /* The DONE was answered; the caller re-enters IDLE at once, so the
   * re-IDLE clock restarts here (IDLE_ENTERED restarts it again). */
  if (s->outstanding == NI_KA_REIDLE) s->idle_since = now;
  s->outstanding = 0;
  s->last_activity = now;
  ni__ka_choose_interval(s, now);
  return 0;
}

/* A message seen first in a keepalive's answer (the rule is in
 * keepalive.h).  The keepalive may still be out (its answer is being read)
 * or already answered (the message came in a fetch after it). */
static int on_push_in_noop(ni_ka *s, const ni_ka_event *ev, ni_ms now) {
  if (s->outstanding) {
    /* Applied when the answer comes. */
    if (!s->out_void) {
      int how = ni__ka_judge_mail(s, ev->age_ms, s->out_silence);
      if (how > s->out_taint) s->out_taint = how;
    }
  } else if (s->prev_valid) {
    if (s->prev_taint < NI__KA_MAIL_LOST) {
      int how = ni__ka_judge_mail(s, ev->age_ms, s->prev_silence);
      taint(s, how, now);
      ni__ka_choose_interval(s, now);
    }
  } else {
    return NI_ESTATE;
  }
  proof(s);
  s->last_activity = now;
  return 0;
}

/* An answer read after NI_KA_DEAD, before anything else was reported: the
 * verdict was wrong.  What it taught is undone, and the keepalive is
 * answered as a late one, on the connection the caller may still hold. */
static int revive(ni_ka *s, const ni_ka_event *ev, ni_ms now) {
  restore_undo(s);
  s->revivable = 0;
  s->state = NI__KA_CONNECTED;
  s->outstanding = s->undo.action;
  s->stats.revived++;
  return on_answered(s, ev, now);
}

/* The connection is gone for good: nothing is scheduled until re-init. */
static void stop(ni_ka *s) {
  s->state = NI__KA_STOPPED;
  s->outstanding = 0;
  s->verify = 0;
  s->slept = 0;
  s->revivable = 0;
}

static int on_event(ni_ka *s, const ni_ka_event *ev, ni_ms now) {
  if (ev->type < NI_KA_EV_CONNECTED || ev->type > NI_KA_EV_PUSH_DELAY) return NI_EUSAGE;
  now = clamp_now(s, now);
  if (s->state == NI__KA_STOPPED) {
    /* Given up for good: only what is harmless is taken. */
    if (ev->type == NI_KA_EV_LOST && ev->permanent) return 0;
    if (ev->type != NI_KA_EV_PUSH_DELAY) return NI_ESTATE;
  }
  /* Time is taken in from every event, even one refused below: a jump in
   * it is news whatever the event. */
  if (ev->type != NI_KA_EV_CONNECTED) check_jump(s, now);
  int connected = s->state == NI__KA_CONNECTED;

  /* Right after a verdict, a late answer may still come (after its RX,
   * which is refused while disconnected and so changes nothing), until
   * the caller reports the connection closed or a new one. */
  switch (ev->type) {
  case NI_KA_EV_CONNECTED:
    s->revivable = 0;
    s->state = NI__KA_CONNECTED;
    s->in_idle = 0;
    s->outstanding = 0;
    s->prev_valid = 0;
    s->verify = 0;
    s->slept = 0;
    s->last_activity = now;
    s->idle_since = now;
    ni__ka_choose_interval(s, now);
    return 0;
  case NI_KA_EV_RX:
  case NI_KA_EV_PUSH_IN_IDLE:
    if (!connected) return NI_ESTATE;
    if (ev->type == NI_KA_EV_PUSH_IN_IDLE)
      take_back(s, now);
    else
      server_spoke(s, now);
    evidence_rx(s, now);
    return 0;
  case NI_KA_EV_TX:
    if (!connected) return NI_ESTATE;
    /* Our bytes start a new silence, but prove nothing: a verification
     * after a sleep stays due. */
    s->slept = 0;
    s->last_activity = now;
    return 0;
  case NI_KA_EV_IDLE_ENTERED:
    if (!connected) return NI_ESTATE;
    take_back(s, now);
    s->in_idle = 1;
    s->idle_since = now;
    proof(s);
    s->last_activity = now;
    return 0;
  case NI_KA_EV_IDLE_LEFT:
    if (!connected) return NI_ESTATE;
    take_back(s, now);
    s->in_idle = 0;
    proof(s);
    s->last_activity = now;
    return 0;
  case NI_KA_EV_KA_SENT:
    if (!connected || !s->outstanding) return NI_ESTATE;
    arm_deadlines(s, now);
    s->last_activity = now;
    return 0;
  case NI_KA_EV_KA_ANSWERED:
    if (!connected && s->revivable) return revive(s, ev, now);
    if (!connected || !s->outstanding) return NI_ESTATE;
    return on_answered(s, ev, now);
  case NI_KA_EV_KA_UNANSWERED:
    if (!connected || !s->outstanding) return NI_ESTATE;
    s->stats.dead++;
    die(s, now);
    return 0;
  case NI_KA_EV_LOST:
    if (ev->permanent) {
      /* A refused login says nothing about the NAT; nor, then, does the
       * verdict's keepalive get a chance to be revived. */
      if (connected) s->stats.lost++;
      stop(s);
      return 0;
    }
    /* The caller closed the connection a verdict condemned: the verdict
     * already taught what it could. */
    if (!connected) {
      if (!s->revivable) return NI_ESTATE;
      s->revivable = 0;
      return 0;
    }
    s->stats.lost++;
    if (s->outstanding) {
      /* It broke while a keepalive was on its way: that silence killed it. */
      die(s, now);
    } else {
      /* A loss during silence teaches something only when the caller knows
       * it came from the silence, and only beyond what was seen to survive:
       * a shorter one is a network change, not the NAT's timeout.  Nor
       * when the silence spanned a sleep. */
      if (!s->slept && ev->silent_ms > s->lower) ni__ka_learn_dead(s, ev->silent_ms, now, 0);
      s->state = NI__KA_DISCONNECTED;
      s->verify = 0;
      s->slept = 0;
    }
    return 0;
  case NI_KA_EV_PUSH_IN_NOOP:
    if (!connected) return NI_ESTATE;
    return on_push_in_noop(s, ev, now);
  case NI_KA_EV_PUSH_DELAY:
    /* A property of the server, not of the connection: any state. */
    if (ni__ka_push_sample(s, ev->delay_ms) && s->push_known < UINT_MAX) s->push_known++;
    return 0;
  }
  return NI_EUSAGE;
}

NI_API int ni_ka_on_event(ni_ka *s, const ni_ka_event *ev, ni_ms now) {
  if (!s || !ev) return NI_EUSAGE;
  int rc = on_event(s, ev, now);
  ni__ka_group_sync(s);
  return rc;
}

NI_API int ni_ka_reconfigure(ni_ka *s, const ni_ka_config *c, ni_ms now) {
  ni_ka_config k;
  if (!s || !c) return NI_EUSAGE;
  int rc = normalize(c, &k);
  if (rc) return rc;
  now = clamp_now(s, now);
  check_jump(s, now);
  s->cfg = k;
  set_given(s);
  set_server(s);
  s->revivable = 0;
  /* A keepalive sent on the old network says nothing about the new one:
   * its answer still gives an RTT sample, its loss still ends the
   * connection, but neither teaches the bracket. */
  if (s->outstanding) s->out_void = 1;
  s->reprobe_at = 0;
  s->bracket_gen++;
  ni__ka_choose_interval(s, now);
  ni__ka_group_sync(s);
  return 0;
}

NI_API ni_ms ni_ka_get_expiry(const ni_ka *s) {
  return s ? expiry(s) : NI_TIME_NEVER;
}

static ni_ka_action handle_expiry(ni_ka *s, ni_ms now) {
  now = clamp_now(s, now);
  check_jump(s, now);
  if (s->outstanding) {
    if (now < s->out_dead_at) return NI_KA_NONE;
    s->stats.dead++;
    save_undo(s);
    die(s, now);
    s->revivable = 1;
    return NI_KA_DEAD;
  }
  if (now < ni__ka_next_due(s)) return NI_KA_NONE;
  server_due(s, now);
  return ni__ka_fire(s, now);
}

NI_API ni_ka_action ni_ka_handle_expiry(ni_ka *s, ni_ms now) {
  if (!s || s->state != NI__KA_CONNECTED) return NI_KA_NONE;
  ni_ka_action a = handle_expiry(s, now);
  ni__ka_group_sync(s);
  return a;
}

NI_API ni_ka_status ni_ka_get_status(const ni_ka *s) {
  if (!s) return NI_KA_ST_DOWN;
  if (s->state == NI__KA_STOPPED) return NI_KA_ST_STOPPED;
  if (s->state != NI__KA_CONNECTED) return NI_KA_ST_DOWN;
  return s->outstanding ? NI_KA_ST_WAITING : NI_KA_ST_UP;
}

NI_API ni_ms ni_ka_reply_deadline(const ni_ka *s) {
  if (!s || s->state != NI__KA_CONNECTED || !s->outstanding) return NI_TIME_NEVER;
  return s->out_deadline;
}

NI_API ni_ms ni_ka_dead_deadline(const ni_ka *s) {
  if (!s || s->state != NI__KA_CONNECTED || !s->outstanding) return NI_TIME_NEVER;
  return s->out_dead_at;
}

NI_API ni_ms ni_ka_last_activity(const ni_ka *s) {
  if (!s || s->state != NI__KA_CONNECTED) return NI_TIME_NEVER;
  return s->last_activity;
}

NI_API ni_ms ni_ka_interval(const ni_ka *s) {
  return s ? s->interval : 0;
}

NI_API int ni_ka_is_probing(const ni_ka *s) {
  return s ? s->probing : 0;
}

NI_API unsigned ni_ka_bracket(const ni_ka *s, ni_ms *lower, ni_ms *upper) {
  if (!s) return 0;
  if (lower) *lower = s->lower;
  if (upper) *upper = s->upper == NI_TIME_NEVER ? 0 : s->upper;
  return s->bracket_gen;
}

NI_API void ni_ka_get_stats(const ni_ka *s, ni_ka_stats *out) {
  if (!s || !out) return;
  *out = s->stats;
}
