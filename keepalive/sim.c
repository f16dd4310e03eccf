/*
 * keepalive/sim.c - a deterministic simulated NAT and the baseline tuners.
 *
 * The model is spelled out in keepalive/sim.h.  One loop
 * drives either the natidle scheduler (through its public API only, exactly
 * as a driver would) or a baseline tuner, so that both meet the same NAT and
 * are tallied by the same code.
 */
#include <string.h>

#include "common/prng.h"
#include "keepalive/sim.h"

NI_API int ni__sim_tuner_init(ni__sim_tuner *t, ni__sim_policy policy, ni_ms fixed_ms) {
  if (!t) return NI_EUSAGE;
  memset(t, 0, sizeof(*t));
  t->policy = policy;
  switch (policy) {
  case NI_SIM_FIXED:
    if (!fixed_ms) return NI_EUSAGE;
    t->interval = fixed_ms;
    return 0;
  case NI_SIM_WECHAT:
    t->interval = NI_SIM_WECHAT_START_MS;
    return 0;
  case NI_SIM_FAIREMAIL:
    t->interval = NI_SIM_FAIREMAIL_START_MS;
    return 0;
  case NI_SIM_NATIDLE:
    break;
  }
  return NI_EUSAGE;
}

NI_API ni_ms ni__sim_tuner_interval(const ni__sim_tuner *t) {
  return t ? t->interval : 0;
}

static void wechat_report(ni__sim_tuner *t, int answered) {
  if (!answered) {
    ni_ms back =
        t->interval > NI_SIM_WECHAT_BACKOFF_MS ? t->interval - NI_SIM_WECHAT_BACKOFF_MS : 0;
    t->interval = back > NI_SIM_WECHAT_START_MS ? back : NI_SIM_WECHAT_START_MS;
    t->settled = 1;
    t->ok_run = 0;
    t->settled_for = 0;
    return;
  }
  if (t->settled) {
    t->settled_for += t->interval;
    if (t->settled_for >= NI_SIM_WECHAT_WEEK_MS) {
      t->interval += NI_SIM_WECHAT_REPROBE_MS;
      if (t->interval > NI_SIM_WECHAT_MAX_MS) t->interval = NI_SIM_WECHAT_MAX_MS;
      t->settled_for = 0;
    }
    return;
  }
  if (++t->ok_run >= 3) {
    t->ok_run = 0;
    t->interval += NI_SIM_WECHAT_STEP_MS;
    if (t->interval > NI_SIM_WECHAT_MAX_MS) t->interval = NI_SIM_WECHAT_MAX_MS;
  }
}

static void fairemail_report(ni__sim_tuner *t, int answered) {
  if (t->settled) return; /* tuning stopped for good */
  if (answered) {
    t->fail_run = 0;
    if (++t->ok_run >= 3) t->settled = 1;
    return;
  }
  t->ok_run = 0;
  if (++t->fail_run >= 3) {
    t->fail_run = 0;
    ni_ms down = t->interval - NI_SIM_FAIREMAIL_STEP_MS;
    t->interval = down > NI_SIM_FAIREMAIL_MIN_MS ? down : NI_SIM_FAIREMAIL_MIN_MS;
  }
}

NI_API void ni__sim_tuner_report(ni__sim_tuner *t, int answered) {
  if (!t) return;
  if (t->policy == NI_SIM_WECHAT)
    wechat_report(t, answered);
  else if (t->policy == NI_SIM_FAIREMAIL)
    fairemail_report(t, answered);
}

NI_API void ni__sim_config_default(ni__sim_config *c, ni_ms nat_timeout_ms) {
  if (!c) return;
  memset(c, 0, sizeof(*c));
  c->nat_timeout_ms = nat_timeout_ms;
  c->duration_ms = 24ull * 3600 * 1000;
  c->rtt_ms = 200;
  c->reconnect_ms = 2000;
  c->baseline_reply_ms = 10000;
  c->after_ms = 3600ull * 1000;
  c->band_permille = 700;
  c->policy = NI_SIM_NATIDLE;
  ni_ka_config_default(&c->ka);
}

NI_API double ni__sim_min_wakeups(ni_ms span_ms, ni_ms nat_timeout_ms, ni_ms cap_ms) {
  ni_ms per = nat_timeout_ms < cap_ms ? nat_timeout_ms : cap_ms;
  return per ? (double)span_ms / (double)per : 0.0;
}

/* The client under test: the natidle scheduler or a baseline tuner behind
 * one small interface, so the loop below treats them alike. */
typedef struct client {
  const ni__sim_config *c;
  int natidle;
  ni_ka ka;
  ni__sim_tuner tu;
  ni_ms last_act;    /* tuner: end of the last exchange */
  int tu_waiting;    /* tuner: its keepalive is lost, waiting in vain */
  ni_ms tu_deadline; /* ...until then */
  int in_flight;     /* a keepalive's answer is on its way */
} client;

static void client_connected(client *k, ni_ms t) {
  if (k->natidle) {
    ni_ka_on_event(&k->ka, &(ni_ka_event){.type = NI_KA_EV_CONNECTED}, t);
    ni_ka_on_event(&k->ka, &(ni_ka_event){.type = NI_KA_EV_IDLE_ENTERED}, t);
  } else {
    k->last_act = t;
    k->tu_waiting = 0;
  }
}

static ni_ms client_next(const client *k) {
  if (k->natidle) return ni_ka_get_expiry(&k->ka);
  if (k->in_flight) return NI_TIME_NEVER; /* a tuner waits for its answer */
  return k->tu_waiting ? k->tu_deadline : k->last_act + ni__sim_tuner_interval(&k->tu);
}

static ni_ka_action client_act(client *k, ni_ms t) {
  if (k->natidle) return ni_ka_handle_expiry(&k->ka, t);
  if (k->tu_waiting) {
    ni__sim_tuner_report(&k->tu, 0);
    return NI_KA_DEAD;
  }
  return NI_KA_REIDLE;
}

static void client_answered(client *k, ni_ms t, ni_ms rtt) {
  if (k->natidle) {
    ni_ka_on_event(&k->ka, &(ni_ka_event){.type = NI_KA_EV_KA_ANSWERED, .rtt_ms = rtt}, t);
  } else {
    ni__sim_tuner_report(&k->tu, 1);
    k->last_act = t;
  }
}

/* The server's keepalive reached the client. */
static void client_rx(client *k, ni_ms t) {
  if (k->natidle)
    ni_ka_on_event(&k->ka, &(ni_ka_event){.type = NI_KA_EV_RX}, t);
  else if (!k->tu_waiting && !k->in_flight)
    k->last_act = t; /* a cadence of silence restarts */
}

static void client_unanswered(client *k, ni_ms t) {
  /* natidle notices by its own verdict deadline. */
  if (!k->natidle) {
    k->tu_waiting = 1;
    k->tu_deadline = t + k->c->baseline_reply_ms;
  }
}

/* Count one event at time t in the windows it falls into. */
static void tally(ni__sim_result *r, const ni__sim_config *c, ni_ms t, int wakeup, int keepalive,
                  int failure, int false_dead) {
  ni__sim_tally *w[2] = {&r->all, t >= c->after_ms ? &r->after : NULL};
  for (int i = 0; i < 2; i++) {
    if (!w[i]) continue;
    w[i]->wakeups += (uint64_t)wakeup;
    w[i]->keepalives += (uint64_t)keepalive;
    w[i]->failures += (uint64_t)failure;
    w[i]->false_dead += (uint64_t)false_dead;
  }
}

/* A packet through the phone's radio at t: a wakeup when the radio had
 * been quiet for NI_KA_FLOOR_MS. */
static void air(ni__sim_result *r, const ni__sim_config *c, ni_ms *air_last, ni_ms t) {
  if (*air_last == NI_TIME_NEVER || t >= *air_last + NI_KA_FLOOR_MS) {
    r->all.radio_wakeups++;
    if (t >= c->after_ms) r->after.radio_wakeups++;
  }
  if (*air_last == NI_TIME_NEVER || t > *air_last) *air_last = t;
}

/* The server's next keepalive after t (NI_TIME_NEVER when none). */
static ni_ms server_next(const ni__sim_config *c, ni_ms t) {
  ni_ms k = c->server_keepalive_ms, ph = c->server_phase_ms % (k ? k : 1);
  if (!k) return NI_TIME_NEVER;
  ni_ms n = t < ph ? ph : ph + ((t - ph) / k + 1) * k;
  int off = c->server_stop_ms && n >= c->server_stop_ms &&
            (!c->server_resume_ms || n < c->server_resume_ms);
  if (off) return c->server_resume_ms ? server_next(c, c->server_resume_ms - 1) : NI_TIME_NEVER;
  return n;
}

/* When a packet the phone sends at t leaves its radio: at once while the
 * radio is awake, radio_wake_ms later once it slept. */
static ni_ms radio_depart(const ni__sim_config *c, ni_ms radio_last, ni_ms t) {
  if (!c->radio_wake_ms || t - radio_last < c->radio_idle_ms) return t;
  return t + c->radio_wake_ms;
}

static void tally_broken(ni__sim_result *r, const ni__sim_config *c, ni_ms from, ni_ms to) {
  if (to > c->duration_ms) to = c->duration_ms;
  if (to <= from) return;
  r->all.broken_ms += to - from;
  if (from < c->after_ms) from = c->after_ms;
  if (to > from) r->after.broken_ms += to - from;
}

/* Whether the next answer is lost at random (seeded). */
static int random_loss(const ni__sim_config *c, uint64_t *x) {
  if (!c->loss_permille) return 0;
  return ni__prng_next(x) % 1000 < c->loss_permille;
}

static int in_band(const ni__sim_config *c, ni_ms cap, ni_ms silence) {
  ni_ms ref = c->nat_timeout_ms < cap ? c->nat_timeout_ms : cap;
  ni_ms lo = ref / 1000 * c->band_permille + ref % 1000 * c->band_permille / 1000;
  if (c->nat_timeout_ms > cap) return silence >= lo && silence <= cap;
  return silence >= lo && silence < ref;
}

NI_API int ni__sim_run(const ni__sim_config *c, ni__sim_result *r) {
  client k;
  if (!c || !r || !c->nat_timeout_ms || !c->duration_ms) return NI_EUSAGE;
  memset(r, 0, sizeof(*r));
  memset(&k, 0, sizeof(k));
  k.c = c;
  k.natidle = c->policy == NI_SIM_NATIDLE;
  if (k.natidle ? ni_ka_init(&k.ka, &c->ka) : ni__sim_tuner_init(&k.tu, c->policy, c->fixed_ms))
    return NI_EUSAGE;
  ni_ms logout = c->ka.autologout_ms ? c->ka.autologout_ms : NI_KA_AUTOLOGOUT_MS;
  r->cap_ms = logout > 120000 ? logout - 60000 : logout / 2;
  r->span_ms = c->duration_ms > c->after_ms ? c->duration_ms - c->after_ms : 0;

  const ni_ms T = c->nat_timeout_ms;
  ni_ms nat_last = 0;               /* last packet through the NAT */
  ni_ms client_last = 0;            /* last packet the client sent or got */
  ni_ms radio_last = 0;             /* last packet through the phone's radio */
  ni_ms dead_since = NI_TIME_NEVER; /* the mapping expired then */
  ni_ms answer_at = NI_TIME_NEVER;  /* the keepalive's answer arrives then */
  ni_ms sent_at = 0;                /* ...and the keepalive left the client */
  ni_ms up_at = 0;                  /* the current connection is up from then */
  ni_ms srv_at = server_next(c, 0); /* the server's next keepalive */
  ni_ms air_last = NI_TIME_NEVER;   /* last packet either way over the air */
  ni_ms t = 0;
  r->first_after_stop_ms = NI_TIME_NEVER;
  uint64_t rng = c->loss_seed ? c->loss_seed : 1;
  client_connected(&k, 0);

  /* Every pass sends a keepalive, delivers its answer or reconnects, and
   * each takes at least a millisecond of simulated time, so the loop ends;
   * the bound only guards against a policy that stops advancing time. */
  for (uint64_t guard = 0; guard < 100000000; guard++) {
    ni_ms e = client_next(&k);
    ni_ms next = e < answer_at ? e : answer_at;
    if (srv_at < next) {
      /* The server's keepalive (on a tie, the client's deadline first). */
      if (srv_at >= c->duration_ms) break;
      t = srv_at > t ? srv_at : t;
      srv_at = server_next(c, srv_at);
      if (t < up_at) continue; /* no connection to send it on */
      if (dead_since == NI_TIME_NEVER && t - nat_last >= T) dead_since = nat_last + T;
      if (dead_since != NI_TIME_NEVER) continue; /* lost at the NAT */
      nat_last = client_last = radio_last = t;
      air(r, c, &air_last, t);
      r->all.server_rx++;
      if (t >= c->after_ms) r->after.server_rx++;
      client_rx(&k, t);
      continue;
    }
    if (next == NI_TIME_NEVER || next >= c->duration_ms) break;
    if (next < t) return NI_ESTATE;
    t = next;
    if (answer_at <= e) {
      /* The answer arrives (on a tie, before the client's deadline: it
       * was already there). */
      answer_at = NI_TIME_NEVER;
      k.in_flight = 0;
      nat_last = client_last = radio_last = t;
      air(r, c, &air_last, t);
      client_answered(&k, t, t - sent_at);
      continue;
    }
    if (dead_since == NI_TIME_NEVER && t - nat_last >= T) dead_since = nat_last + T;
    ni_ka_action a = client_act(&k, t);
    if (a == NI_KA_NOOP || a == NI_KA_REIDLE) {
      ni_ms silence = t - client_last;
      /* The NAT sees the keepalive only once the radio let it go. */
      ni_ms depart = radio_depart(c, radio_last, t);
      radio_last = depart;
      if (dead_since == NI_TIME_NEVER && depart - nat_last >= T) dead_since = nat_last + T;
      int expired = dead_since != NI_TIME_NEVER;
      int lost = expired || random_loss(c, &rng);
      tally(r, c, t, 1, 1, lost, 0);
      air(r, c, &air_last, t);
      if (c->server_stop_ms && t >= c->server_stop_ms && r->first_after_stop_ms == NI_TIME_NEVER)
        r->first_after_stop_ms = t;
      if (lost || !in_band(c, r->cap_ms, silence)) r->last_bad_ms = t;
      /* A keepalive whose answer is lost at random still crossed the NAT
       * and refreshed the mapping on its way out. */
      if (!expired) nat_last = depart;
      if (lost) {
        client_unanswered(&k, t);
      } else {
        sent_at = t;
        answer_at = depart + c->rtt_ms;
        k.in_flight = 1;
      }
    } else if (a == NI_KA_DEAD) {
      /* Declared dead with its answer still on the way: the connection
       * lived, and is torn down for nothing. */
      int false_dead = answer_at != NI_TIME_NEVER;
      answer_at = NI_TIME_NEVER;
      k.in_flight = 0;
      ni_ms done = radio_depart(c, radio_last, t) + c->reconnect_ms;
      tally(r, c, t, 1, 0, 0, false_dead);
      if (dead_since != NI_TIME_NEVER) tally_broken(r, c, dead_since, done);
      dead_since = NI_TIME_NEVER;
      nat_last = client_last = radio_last = done;
      air(r, c, &air_last, t);
      up_at = done;
      client_connected(&k, done);
    }
  }
  if (dead_since != NI_TIME_NEVER) tally_broken(r, c, dead_since, c->duration_ms);
  r->final_interval_ms = k.natidle ? ni_ka_interval(&k.ka) : ni__sim_tuner_interval(&k.tu);
  if (k.natidle) ni_ka_get_stats(&k.ka, &r->ka);
  return 0;
}
