/*
 * probe/natsim.c - a deterministic simulated prober (see natsim.h).
 *
 * An event loop over K session state machines in integer milliseconds.
 * It follows the protocol of search.h to the letter, so what the tests and
 * the benchmark measure is what the real probe would do against a NAT with
 * the same timeout and overheads.
 */
#include "probe/natsim.h"
#include "common/prng.h"

#include <math.h>
#include <string.h>

typedef enum {
  NS_CONNECTING, /* reconnecting, or re-entering IDLE after a live check */
  NS_ARMED,      /* silent, timer at fire_at */
  NS_CHECKING,   /* marker appended, outcome due at ev */
  NS_PARKED      /* silent, not to be checked now */
} ni_ns_state;

typedef struct {
  ni_ns_state st;
  ni_ms ev;       /* next event: ready, timer or outcome */
  ni_ms since;    /* silence start */
  ni_ms jit;      /* this arming's timer lateness */
  double sil;     /* CHECKING: silence when the check started */
  ni_obs outcome; /* CHECKING: what the check will report */
} ni_ns_sess;

typedef struct {
  const ni_natsim_cfg *c;
  ni_search *s;
  ni_ns_sess *ss;
  unsigned n;
  uint64_t rng;
  ni_natsim_result *out;
  int lowered;
} ni_ns;

void ni__natsim_cfg_default(ni_natsim_cfg *c) {
  memset(c, 0, sizeof *c);
  c->nat_timeout_s = 60;
  c->detect_s = 2;
  c->done_s = 2;
  c->exists_s = 0.1;
  c->rearm_s = 0.1;
  c->connect_s = 1;
  c->jitter_s = 0.2;
  c->timer_jitter_s = 0.05;
  c->max_wall_s = 10 * 86400.0;
  c->seed = 1;
}

/* A uniform value in [0, 1) from the shared generator: deterministic from
 * the seed, good enough for jitter. */
static double ni_ns_rand(ni_ns *m) {
  return (double)(ni__prng_next(&m->rng) >> 11) / 9007199254740992.0;
}

static ni_ms ni_ns_ms(double s) {
  return (ni_ms)ceil(s * 1000.0 - 1e-6);
}

/* An overhead of base seconds plus jitter, in ms. */
static ni_ms ni_ns_cost(ni_ns *m, double base) {
  return ni_ns_ms(base + m->c->jitter_s * ni_ns_rand(m));
}

static double ni_ns_silence(const ni_ns_sess *x, ni_ms now) {
  return (double)(now - x->since) / 1000.0;
}

static void ni_ns_trace(ni_ns *m, ni_ms now, unsigned i, const char *what, double v) {
  double lo, hi;
  if (!m->c->trace) return;
  ni__search_bracket(m->s, &lo, &hi);
  fprintf(m->c->trace, "%10.3f s%-2u %-8s %9.3f  (%.3f, %.3f]\n", now / 1000.0, i, what, v, lo, hi);
}

/* Set the timer of armed session i from its current target, or park it. */
static void ni_ns_schedule(ni_ns *m, unsigned i, ni_ms now) {
  ni_ns_sess *x = &m->ss[i];
  double t = ni__search_target(m->s, i, now);
  if (t > 0 && t < ni_ns_silence(x, now) - 1e-9) m->out->target_below_silence++;
  if (!(t > 0)) {
    x->st = NS_PARKED;
    return;
  }
  x->st = NS_ARMED;
  x->ev = x->since + ni_ns_ms(t) + x->jit;
  if (x->ev < now) x->ev = now;
}

static void ni_ns_arm(ni_ns *m, unsigned i, ni_ms now) {
  ni_ns_sess *x = &m->ss[i];
  x->jit = ni_ns_ms(m->c->timer_jitter_s * ni_ns_rand(m));
  if (ni__search_arm(m->s, i, x->since, now) > 0)
    ni_ns_schedule(m, i, now);
  else
    x->st = NS_PARKED;
}

/* After any call into the search: re-read every armed target, and offer
 * the parked sessions again. */
static void ni_ns_refresh(ni_ns *m, ni_ms now) {
  int armed = 0;
  for (unsigned i = 0; i < m->n; i++)
    if (m->ss[i].st == NS_ARMED) ni_ns_schedule(m, i, now);
  for (unsigned i = 0; i < m->n && ni__search_verdict(m->s) == NI_VERDICT_RUNNING; i++)
    if (m->ss[i].st == NS_PARKED) {
      ni_ns_arm(m, i, now);
      armed |= m->ss[i].st == NS_ARMED;
    }
  /* Arming moves the other targets too. */
  if (armed)
    for (unsigned i = 0; i < m->n; i++)
      if (m->ss[i].st == NS_ARMED) ni_ns_schedule(m, i, now);
}

/* When the server's keepalive reaches a silent session, or NEVER. */
static ni_ms ni_ns_keepalive_at(const ni_ns *m, const ni_ns_sess *x) {
  double S = m->c->server_keepalive_s;
  if (!(S > 0) || !(S < m->c->nat_timeout_s) || (x->st != NS_ARMED && x->st != NS_PARKED))
    return NI_TIME_NEVER; /* a keepalive sent into an expired mapping is lost */
  return x->since + ni_ns_ms(S);
}

static void ni_ns_count_armed(ni_ns *m, ni_ms now) {
  unsigned k = 0;
  for (unsigned i = 0; i < m->n; i++)
    if (m->ss[i].st == NS_ARMED || m->ss[i].st == NS_CHECKING) k++;
  if (k > m->out->max_armed) m->out->max_armed = k;
  /* Checks in flight when the limit was lowered finish first. */
  if (m->lowered &&
      now > ni_ns_ms(m->c->lower_at_s + m->c->detect_s + m->c->jitter_s + m->c->exists_s) &&
      k > m->out->max_armed_after_lower)
    m->out->max_armed_after_lower = k;
}

static void ni_ns_fire(ni_ns *m, unsigned i, ni_ms now) {
  ni_ns_sess *x = &m->ss[i];
  double t = ni__search_target(m->s, i, now);
  if (!(t > 0)) {
    x->st = NS_PARKED;
    return;
  }
  if (x->since + ni_ns_ms(t) > now) { /* the target moved up meanwhile */
    ni_ns_schedule(m, i, now);
    return;
  }
  x->sil = ni_ns_silence(x, now);
  x->st = NS_CHECKING;
  m->out->checks++;
  if (m->c->void_every && m->out->checks % m->c->void_every == 0) {
    x->outcome = NI_OBS_VOID; /* e.g. the control connection broke */
    x->ev = now + ni_ns_cost(m, m->c->detect_s);
  } else if (x->sil < m->c->nat_timeout_s &&
             !(m->c->false_dead > 0 && ni_ns_rand(m) < m->c->false_dead)) {
    x->outcome = NI_OBS_ALIVE;
    x->ev = now + ni_ns_cost(m, m->c->exists_s);
  } else {
    x->outcome = NI_OBS_DEAD;
    x->ev = now + ni_ns_ms(m->c->detect_s + m->c->done_s);
  }
  ni_ns_trace(m, now, i, "check", x->sil);
}

static void ni_ns_outcome(ni_ns *m, unsigned i, ni_ms now) {
  ni_ns_sess *x = &m->ss[i];
  static const char *const names[] = {"alive", "dead", "void"};
  ni__search_result(m->s, i, x->sil, x->outcome, now);
  ni_ns_trace(m, now, i, names[x->outcome], x->sil);
  if (m->c->on_result) m->c->on_result(m->c->ud, i, x->sil, x->outcome, now / 1000.0);
  x->st = NS_CONNECTING;
  if (x->outcome == NI_OBS_DEAD) {
    m->out->deaths++;
    x->ev = now + ni_ns_cost(m, m->c->connect_s);
  } else {
    if (x->outcome == NI_OBS_VOID) m->out->voids++;
    x->ev = now + ni_ns_cost(m, m->c->rearm_s);
  }
  ni_ns_refresh(m, now);
}

static void ni_ns_keepalive(ni_ns *m, unsigned i, ni_ms now) {
  ni_ns_sess *x = &m->ss[i];
  ni__search_server_keepalive(m->s, m->c->server_keepalive_s);
  ni_ns_trace(m, now, i, "refresh", ni_ns_silence(x, now));
  if (x->st == NS_ARMED) {
    /* The server's data ended the silence: the pending check is void. */
    ni__search_result(m->s, i, ni_ns_silence(x, now), NI_OBS_VOID, now);
    m->out->voids++;
    if (m->c->on_result)
      m->c->on_result(m->c->ud, i, ni_ns_silence(x, now), NI_OBS_VOID, now / 1000.0);
  }
  x->since = now;
  x->st = NS_PARKED;
  ni_ns_refresh(m, now);
}

int ni__natsim_run(const ni_natsim_cfg *c, ni_search *s, unsigned sessions, ni_natsim_result *out) {
  ni_ns_sess ss[64];
  ni_ns m;
  if (!c || !s || !out || sessions < 1 || sessions > 64 || !(c->nat_timeout_s > 0))
    return NI_EUSAGE;
  memset(out, 0, sizeof *out);
  memset(ss, 0, sizeof ss);
  memset(&m, 0, sizeof m);
  m.c = c;
  m.s = s;
  m.ss = ss;
  m.n = sessions;
  m.rng = c->seed ? c->seed : 0x9E3779B97F4A7C15ULL;
  m.out = out;

  for (unsigned i = 0; i < sessions; i++) {
    ss[i].st = NS_CONNECTING;
    ss[i].ev = ni_ns_cost(&m, c->connect_s);
  }
  ni_ms now = 0, lower_at = c->lower_at_s > 0 ? ni_ns_ms(c->lower_at_s) : NI_TIME_NEVER;
  ni_ms end = ni_ns_ms(c->max_wall_s);
  while (ni__search_verdict(s) == NI_VERDICT_RUNNING) {
    /* The earliest event; ties go to the lowest session, so runs repeat. */
    ni_ms best = lower_at;
    unsigned who = sessions;
    int kind = 0; /* 0 lower, 1 session event, 2 server keepalive */
    for (unsigned i = 0; i < sessions; i++) {
      ni_ms e = ss[i].st == NS_PARKED ? NI_TIME_NEVER : ss[i].ev;
      ni_ms k = ni_ns_keepalive_at(&m, &ss[i]);
      if (e < best) {
        best = e;
        who = i;
        kind = 1;
      }
      if (k < best) {
        best = k;
        who = i;
        kind = 2;
      }
    }
    if (best == NI_TIME_NEVER || best > end) break; /* nothing left to do, or out of time */
    now = best;
    if (who == sessions) {
      lower_at = NI_TIME_NEVER;
      m.lowered = 1;
      ni__search_lower_sessions(s, c->lower_to);
      ni_ns_trace(&m, now, 0, "lower", c->lower_to);
      ni_ns_refresh(&m, now);
    } else if (kind == 2) {
      ni_ns_keepalive(&m, who, now);
    } else {
      ni_ns_sess *x = &ss[who];
      switch (x->st) {
      case NS_CONNECTING:
        x->since = now;
        ni_ns_arm(&m, who, now);
        ni_ns_refresh(&m, now);
        break;
      case NS_ARMED:
        ni_ns_fire(&m, who, now);
        break;
      case NS_CHECKING:
        ni_ns_outcome(&m, who, now);
        break;
      case NS_PARKED:
        break;
      }
    }
    ni_ns_count_armed(&m, now);
  }
  if (ni__search_verdict(s) == NI_VERDICT_RUNNING) ni__search_stop(s);
  out->verdict = ni__search_verdict(s);
  ni__search_bracket(s, &out->lower_s, &out->upper_s);
  out->wall_s = now / 1000.0;
  return 0;
}
