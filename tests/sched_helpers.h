/*
 * tests/sched_helpers.h - what the scheduler's tests share: reporting an
 * event, answering a keepalive, starting a session in IDLE, and letting
 * keepalives go out and come back.  Include after <cmocka.h>.  static
 * inline, so that a test file using only some of them still builds
 * without warnings.
 */
#ifndef NATIDLE_TESTS_SCHED_HELPERS_H
#define NATIDLE_TESTS_SCHED_HELPERS_H

#include "natidle/keepalive.h"

#define S 1000ull
#define MIN (60 * S)
#define HOUR (60 * MIN)
#define CAP (29 * MIN)

/* Report an event that must be accepted. */
static inline void ev(ni_ka *k, ni_ka_event_type type, ni_ms now) {
  ni_ka_event e = {.type = type};
  assert_int_equal(ni_ka_on_event(k, &e, now), 0);
}

/* Report the outstanding keepalive answered after `rtt` ms (0: let the
 * scheduler measure it). */
static inline void answered(ni_ka *k, ni_ms rtt, ni_ms now) {
  ni_ka_event e = {.type = NI_KA_EV_KA_ANSWERED, .rtt_ms = rtt};
  assert_int_equal(ni_ka_on_event(k, &e, now), 0);
}

/* A session connected at `now` and sitting in IDLE. */
static inline void start(ni_ka *k, const ni_ka_config *c, ni_ms now) {
  assert_int_equal(ni_ka_init(k, c), 0);
  assert_int_equal(ni_ka_get_expiry(k), NI_TIME_NEVER); /* disconnected */
  ev(k, NI_KA_EV_CONNECTED, now);
  ev(k, NI_KA_EV_IDLE_ENTERED, now);
}

/* A session behind a NAT known to time out after `nat` ms, learning
 * (adaptive) or not, in IDLE from t0. */
static inline void start_nat(ni_ka *k, ni_ms nat, int adaptive, ni_ms t0) {
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = c.nat_upper_ms = nat;
  c.adaptive = adaptive;
  start(k, &c, t0);
}

/* Let n keepalives go out when due and be answered after `rtt` ms; returns
 * the time the last one left. */
static inline ni_ms cycles(ni_ka *k, int n, ni_ms rtt) {
  ni_ms t = 0;
  for (int i = 0; i < n; i++) {
    t = ni_ka_get_expiry(k);
    assert_int_not_equal(ni_ka_handle_expiry(k, t), NI_KA_NONE);
    answered(k, rtt, t + rtt);
  }
  return t;
}

/* The outstanding keepalive goes unanswered: NI_KA_DEAD at its verdict. */
static inline ni_ms verdict(ni_ka *k) {
  ni_ms t = ni_ka_dead_deadline(k);
  assert_int_equal(ni_ka_handle_expiry(k, t), NI_KA_DEAD);
  return t;
}

#endif
