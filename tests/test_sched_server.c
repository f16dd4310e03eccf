/*
 * Tests of relying on the server's own keepalive (server_keepalive_ms, see
 * "Relying on the server's keepalive" in natidle/keepalive.h): nothing sent
 * while it comes, the re-IDLE riding on it, the take-over when it is
 * missed, the return when the server speaks again; and simulated days
 * (keepalive/sim.c) with Dovecot's 2-min "* OK Still here" behind a 5-min
 * NAT.  Time moves by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "keepalive/ka_internal.h"
#include "keepalive/sim.h"
#include "natidle/keepalive.h"

#include "sched_helpers.h"

#define SRV (120 * S)      /* the server's keepalive interval */
#define LOWER 117400u      /* what a masked probe saw survive */
#define WATCH (SRV + 6000) /* SRV + the automatic grace, 5 % of it */
#define DAY (24 * HOUR)

/* A session configured as from a masked summary: the probe's lower bound,
 * no learning, the server's keepalive every SRV; in IDLE from t0. */
static void start_masked(ni_ka *k, ni_ms t0) {
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = LOWER;
  c.adaptive = NI_KA_LEARN_OFF;
  c.server_keepalive_ms = SRV;
  start(k, &c, t0);
}

static void stats(const ni_ka *k, ni_ka_stats *st) {
  ni_ka_get_stats(k, st);
}

/* While the server's keepalive comes, nothing is due before its watch, and
 * every one of them pushes the watch on. */
static void test_nothing_while_server_speaks(void **state) {
  (void)state;
  ni_ka k;
  start_masked(&k, 0);
  assert_int_equal(ni_ka_server(&k), NI_KA_SRV_RELYING);
  assert_int_equal(ni_ka_server_watch(&k), WATCH);
  /* The own cadence, for a fallback, stays below the lower bound. */
  assert_true(ni_ka_interval(&k) < LOWER);
  assert_int_equal(ni_ka_get_expiry(&k), WATCH);
  for (ni_ms t = SRV; t < 20 * MIN; t += SRV) {
    assert_int_equal(ni_ka_handle_expiry(&k, t - 1), NI_KA_NONE);
    ev(&k, NI_KA_EV_RX, t);
    assert_int_equal(ni_ka_get_expiry(&k), t + WATCH);
  }
  ni_ka_stats st;
  stats(&k, &st);
  assert_int_equal(st.keepalives, 0);
  assert_int_equal(st.server_missed, 0);
  /* A group never pulls it forward to share another session's wakeup. */
  ni_ka_group g;
  ni_ka other;
  ni_ka_group_init(&g);
  start_nat(&other, 100 * S, 0, 18 * MIN - 5 * S); /* due 36 s before k */
  assert_int_equal(ni_ka_group_add(&g, &k), 0);
  assert_int_equal(ni_ka_group_add(&g, &other), 0);
  ni_ms t = ni_ka_group_get_expiry(&g);
  assert_true(t < ni_ka_get_expiry(&k));
  ni_ka_action a;
  assert_ptr_equal(ni_ka_group_handle_expiry(&g, t, &a), &other);
  assert_null(ni_ka_group_handle_expiry(&g, t, &a));
  assert_int_equal(ni_ka_get_status(&k), NI_KA_ST_UP);
  assert_int_equal(ni__ka_group_check(&g), 0);
  ni_ka_group_remove(&g, &k);
  ni_ka_group_remove(&g, &other);
}

/* The RFC 2177 re-IDLE goes right after the server's keepalive whose
 * successor would come too late: the radio is up anyway. */
static void test_reidle_rides_server_keepalive(void **state) {
  (void)state;
  ni_ka k;
  start_masked(&k, 0);
  ni_ms t = 0;
  for (;;) {
    t += SRV;
    ev(&k, NI_KA_EV_RX, t);
    if (ni_ka_get_expiry(&k) == t) break;
    assert_int_equal(ni_ka_get_expiry(&k), t + WATCH);
  }
  /* The last server keepalive before 29 min whose next is after it. */
  assert_true(t <= CAP && t + SRV > CAP);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  answered(&k, 200, t + 200);
  ev(&k, NI_KA_EV_RX, t + 300);
  ev(&k, NI_KA_EV_IDLE_ENTERED, t + 300);
  ni_ka_stats st;
  stats(&k, &st);
  assert_int_equal(st.rides, 1);
  assert_int_equal(st.keepalives, 1);
  assert_int_equal(ni_ka_server(&k), NI_KA_SRV_RELYING);
  assert_int_equal(ni_ka_get_expiry(&k), t + 300 + WATCH);
}

/* A missed server keepalive: the client sends at the watch, falls back to
 * its own cadence below the lower bound, and relies on the server again
 * once it speaks on its own; not for a new IDLE's "+ idling", nor a push. */
static void test_missed_then_resumed(void **state) {
  (void)state;
  ni_ka k;
  start_masked(&k, 0);
  ev(&k, NI_KA_EV_RX, SRV);
  ni_ms t = ni_ka_get_expiry(&k);
  assert_int_equal(t, SRV + WATCH);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  assert_int_equal(ni_ka_server(&k), NI_KA_SRV_FALLBACK);
  ni_ka_stats st;
  stats(&k, &st);
  assert_int_equal(st.server_missed, 1);
  answered(&k, 200, t + 200);
  /* The "+ idling" of the new IDLE, even a slow one, is not the server
   * speaking on its own. */
  ev(&k, NI_KA_EV_RX, t + 2500);
  ev(&k, NI_KA_EV_IDLE_ENTERED, t + 2500);
  assert_int_equal(ni_ka_server(&k), NI_KA_SRV_FALLBACK);
  t += 2500;
  /* Own cadence, below the lower bound: the watch's silence, survived,
   * is the longest now known (126 s), less its margin. */
  ni_ms iv = ni_ka_interval(&k), lo;
  ni_ka_bracket(&k, &lo, NULL);
  assert_int_equal(lo, WATCH);
  assert_true(iv < lo && iv > lo - 10 * S);
  assert_int_equal(ni_ka_get_expiry(&k), t + iv);
  /* A push is not the server's keepalive either. */
  ev(&k, NI_KA_EV_RX, t + 50 * S);
  assert_int_equal(ni_ka_server(&k), NI_KA_SRV_RELYING);
  ev(&k, NI_KA_EV_PUSH_IN_IDLE, t + 50 * S);
  assert_int_equal(ni_ka_server(&k), NI_KA_SRV_FALLBACK);
  t += 50 * S;
  assert_int_equal(ni_ka_get_expiry(&k), t + iv);
  /* Untagged bytes of the server's own, in IDLE after a silence: relying
   * again. */
  ev(&k, NI_KA_EV_RX, t + 70 * S);
  assert_int_equal(ni_ka_server(&k), NI_KA_SRV_RELYING);
  assert_int_equal(ni_ka_get_expiry(&k), t + 70 * S + WATCH);
  stats(&k, &st);
  assert_int_equal(st.server_resumed, 1);
  assert_int_equal(st.keepalives, 1);
}

/* A server that restarts its keepalive timer at every IDLE never speaks
 * before a client cadence shorter than its interval: once an hour one
 * silence is let run to the watch, and its keepalive is seen again. */
static void test_fallback_retries_hourly(void **state) {
  (void)state;
  ni_ka k;
  start_masked(&k, 0);
  ni_ms t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  answered(&k, 200, t + 200);
  ni_ms iv = ni_ka_interval(&k);
  int retried = 0;
  for (int i = 0; i < 100 && !retried; i++) {
    ni_ms last = ni_ka_last_activity(&k), e = ni_ka_get_expiry(&k);
    if (e - last == WATCH) {
      retried = 1;
      assert_true(e >= t + NI_KA_SERVER_RETRY_MS);
      /* The server's keepalive, SRV after the last IDLE. */
      ev(&k, NI_KA_EV_RX, last + SRV);
      break;
    }
    assert_int_equal(e - last, iv);
    assert_int_equal(ni_ka_handle_expiry(&k, e), NI_KA_REIDLE);
    answered(&k, 200, e + 200);
  }
  assert_true(retried);
  assert_int_equal(ni_ka_server(&k), NI_KA_SRV_RELYING);
}

/* A NAT known to forget sooner than the server's keepalive comes: relying
 * on it would lose the connection, so the session keeps it alive itself
 * from the start, and does not take up the server's keepalive when it
 * comes; no server keepalive configured: nothing of this. */
static void test_nat_shorter_than_server_keepalive(void **state) {
  (void)state;
  ni_ka k;
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = c.nat_upper_ms = 60 * S;
  c.adaptive = NI_KA_LEARN_OFF;
  c.server_keepalive_ms = SRV;
  start(&k, &c, 0);
  assert_int_equal(ni_ka_server(&k), NI_KA_SRV_FALLBACK);
  ev(&k, NI_KA_EV_RX, 30 * S);
  assert_int_equal(ni_ka_server(&k), NI_KA_SRV_FALLBACK);
  assert_int_equal(ni_ka_get_expiry(&k), 30 * S + ni_ka_interval(&k));
  assert_true(ni_ka_interval(&k) < 60 * S);
  start_nat(&k, 60 * S, 0, 0);
  assert_int_equal(ni_ka_server(&k), NI_KA_SRV_NONE);
  assert_int_equal(ni_ka_server_watch(&k), 0);
}

/* ---- simulated days ------------------------------------------------------ */

static void sim_masked(ni__sim_config *c, ni_ms nat) {
  ni__sim_config_default(c, nat);
  c->ka.nat_lower_ms = LOWER;
  c->ka.adaptive = NI_KA_LEARN_OFF;
  c->ka.server_keepalive_ms = SRV;
  c->server_keepalive_ms = SRV;
  c->server_phase_ms = 37 * S; /* Dovecot aligns them at its own phase */
}

/* Dovecot's 2-min keepalive behind a 5-min NAT for a day: no wakeup of the
 * client's own.  Its only keepalives are the re-IDLEs of the 29-min rule,
 * each right after the server's.  The 116-s cadence a masked probe used to
 * recommend, beside the server's, doubles the radio's wakeups. */
static void test_day_relying_on_server(void **state) {
  (void)state;
  ni__sim_config c;
  ni__sim_result r;
  sim_masked(&c, 300 * S);
  assert_int_equal(ni__sim_run(&c, &r), 0);
  assert_int_equal(r.all.failures, 0);
  assert_int_equal(r.all.broken_ms, 0);
  assert_int_equal(r.ka.server_missed, 0);
  assert_int_equal(r.all.keepalives, r.ka.rides);
  assert_true(r.ka.rides <= DAY / (CAP - SRV) + 1);
  assert_true(r.all.server_rx >= DAY / SRV - 1);
  assert_int_equal(r.all.radio_wakeups, r.all.server_rx);

  ni__sim_config f = c;
  f.policy = NI_SIM_FIXED;
  f.fixed_ms = 116 * S;
  ni__sim_result rf;
  assert_int_equal(ni__sim_run(&f, &rf), 0);
  assert_true(rf.all.radio_wakeups >= 2 * r.all.radio_wakeups - 10);
}

/* The server stops its keepalive after 6 h: the client takes over within
 * the watch, push is never broken, and it keeps the connection alive at
 * its own cadence below the lower bound.  When the server speaks again
 * (after 10 h), the client relies on it again. */
static void test_day_server_stops_and_resumes(void **state) {
  (void)state;
  ni__sim_config c;
  ni__sim_result r;
  sim_masked(&c, 300 * S);
  c.server_stop_ms = 6 * HOUR;
  assert_int_equal(ni__sim_run(&c, &r), 0);
  assert_int_equal(r.all.broken_ms, 0);
  assert_int_equal(r.all.failures, 0);
  assert_int_equal(r.ka.server_missed, 1);
  /* The last server keepalive before 6 h: phase 37 s + n x 120 s. */
  ni_ms last_srv = 37 * S + (6 * HOUR - 37 * S - 1) / SRV * SRV;
  assert_true(r.first_after_stop_ms != NI_TIME_NEVER);
  assert_true(r.first_after_stop_ms <= last_srv + WATCH);
  /* 18 h at about 111 s, and an hourly silence at the watch. */
  uint64_t own = (18 * HOUR) / (LOWER - 6 * S);
  assert_true(r.all.keepalives >= own - 30 && r.all.keepalives <= own + 60);

  c.server_resume_ms = 10 * HOUR;
  c.after_ms = 11 * HOUR;
  assert_int_equal(ni__sim_run(&c, &r), 0);
  assert_int_equal(r.all.broken_ms, 0);
  assert_int_equal(r.ka.server_missed, 1);
  assert_int_equal(r.ka.server_resumed, 1);
  /* From 11 h on the server's keepalive holds the mapping alone. */
  assert_true(r.after.keepalives <= r.span_ms / (CAP - SRV) + 1);
  assert_int_equal(r.after.radio_wakeups, r.after.server_rx);
}

/* Behind a NAT shorter than the server's keepalive (the probe would then
 * have measured it, but a summary may be stale): the missed keepalive is
 * found dead, the client reconnects and keeps alive by itself. */
static void test_day_nat_below_server_keepalive(void **state) {
  (void)state;
  ni__sim_config c;
  ni__sim_result r;
  sim_masked(&c, 60 * S);
  c.ka.nat_lower_ms = 50 * S;
  assert_int_equal(ni__sim_run(&c, &r), 0);
  assert_true(r.ka.server_missed >= 1);
  /* Once fallen back, the own cadence holds: little broken time. */
  assert_true(r.all.broken_ms < 30 * MIN);
  assert_true(r.after.failures <= 24);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nothing_while_server_speaks),
      cmocka_unit_test(test_reidle_rides_server_keepalive),
      cmocka_unit_test(test_missed_then_resumed),
      cmocka_unit_test(test_fallback_retries_hourly),
      cmocka_unit_test(test_nat_shorter_than_server_keepalive),
      cmocka_unit_test(test_day_relying_on_server),
      cmocka_unit_test(test_day_server_stops_and_resumes),
      cmocka_unit_test(test_day_nat_below_server_keepalive),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
