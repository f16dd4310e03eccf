/*
 * Tests of reply deadlines and late answers: deadlines from the round trips
 * measured after a comparable silence (natidle/latency.h), answers after
 * the reply deadline, answers after the verdict, the first loss before any
 * such round trip is known, and a simulated day with a phone radio that
 * sleeps after 5 s of silence and takes 3 s to wake (keepalive/sim.c).
 * Time moves by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "keepalive/sim.h"
#include "natidle/keepalive.h"

#include "sched_helpers.h"

/* The next keepalive, sent when due and answered `rtt` ms later; returns
 * the time it left. */
static ni_ms cycle(ni_ka *k, ni_ms rtt) {
  return cycles(k, 1, rtt);
}

/* Round trips of an awake radio say nothing of one that must wake first:
 * the deadline after a long silence stays the generous cap until a round
 * trip after such a silence is known, then covers it.  (The deadline used
 * to be max(3 s, 4 x smoothed RTT) whatever the silence: 3 s after 200-ms
 * samples, and a 3.1-s wake-up killed every live connection.) */
static void test_deadline_from_round_trips_after_silence(void **state) {
  (void)state;
  ni_ka k;
  start_nat(&k, 30 * S, 0, 0);
  ni_ms t = ni_ka_get_expiry(&k);
  /* The first keepalive allows for a wake-up not yet measured: 3 s more
   * margin than the 2-s floor. */
  assert_int_equal(t, 25 * S);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  /* Nothing known yet after 25 s of silence: the cap. */
  assert_int_equal(ni_ka_reply_deadline(&k), t + NI_KA_REPLY_MAX_MS);
  assert_int_equal(ni_ka_dead_deadline(&k), t + NI_KA_REPLY_MAX_MS);
  answered(&k, 3100, t + 3100);
  /* The wake-up measured replaces the guess: 30 s less 3.1 s.  Nothing is
   * known yet after 26.9 s of silence: the cap once more. */
  assert_int_equal(ni_ka_interval(&k), 26900);
  t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  assert_int_equal(ni_ka_reply_deadline(&k), t + NI_KA_REPLY_MAX_MS);
  answered(&k, 3100, t + 3100);
  /* 2 x 3.1 s + 1 s; the verdict at twice that, within the cap. */
  assert_int_equal(ni_ka_reply_timeout(&k), 7200);
  t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  assert_int_equal(ni_ka_reply_deadline(&k), t + 7200);
  assert_int_equal(ni_ka_dead_deadline(&k), t + 14400);
  answered(&k, 3100, t + 3100);

  /* Round trips after short silences (an awake radio) do not lower the
   * deadline of a keepalive after a long one. */
  ni_ka k2;
  start_nat(&k2, 30 * S, 0, 0);
  ni_lat_add(&k2.lat, 2 * S, 200); /* as if measured on a busy connection */
  t = ni_ka_get_expiry(&k2);
  assert_int_equal(ni_ka_handle_expiry(&k2, t), NI_KA_REIDLE);
  assert_int_equal(ni_ka_reply_deadline(&k2), t + NI_KA_REPLY_MAX_MS);
}

/* An answer after the reply deadline and before the verdict is an answer:
 * a success for its silence, a sample for the next deadline, counted as
 * late; the known timeout is kept, however slow the answers. */
static void test_late_answer_is_an_answer(void **state) {
  (void)state;
  ni_ka k;
  start_nat(&k, 30 * S, 0, 0);
  cycles(&k, 2, 3100); /* the guessed wake-up, then the measured one */
  ni_ms iv = ni_ka_interval(&k);
  ni_ms t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  /* The radio took longer this time: 9 s, after the 7.2-s reply deadline. */
  assert_int_equal(ni_ka_handle_expiry(&k, t + 9 * S), NI_KA_NONE);
  answered(&k, 0, t + 9 * S);
  ni_ka_stats st;
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.late, 1);
  assert_int_equal(st.dead, 0);
  assert_int_equal(st.failures, 0);
  assert_int_equal(ni_ka_reply_timeout(&k), NI_KA_REPLY_MAX_MS); /* 19 s, capped */
  /* A hundred slow answers later the known timeout still holds. */
  for (int i = 0; i < 100; i++)
    cycle(&k, 3100 + (ni_ms)(i % 7) * 1000);
  ni_ms lo, up;
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 30 * S);
  assert_int_equal(up, 30 * S);
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.failures, 0);
  /* The margin holds the slowest wake-up: 9 s. */
  assert_int_equal(ni_ka_interval(&k), 30 * S - 9100);
  assert_true(ni_ka_interval(&k) < iv);
}

/* An answer read after the verdict, before anything else was reported for
 * the session, takes the verdict back: the strike it left is undone, the
 * session is connected again with the answer counted.  Bytes reported as
 * RX before it are refused (the session is down) and change nothing;
 * LOST after a verdict just closes that chance; a new connection ends
 * it. */
static void test_answer_after_verdict_revives(void **state) {
  (void)state;
  ni_ka k;
  start_nat(&k, 30 * S, 0, 0);
  cycles(&k, 2, 200);
  unsigned gen = ni_ka_bracket(&k, NULL, NULL);
  ni_ms t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  ni_ms dead = ni_ka_dead_deadline(&k);
  assert_int_equal(dead, t + 6 * S);
  assert_int_equal(ni_ka_handle_expiry(&k, dead), NI_KA_DEAD);
  assert_int_equal(ni_ka_get_status(&k), NI_KA_ST_DOWN);
  ni_ka_event e = {.type = NI_KA_EV_RX};
  assert_int_equal(ni_ka_on_event(&k, &e, dead + 5), NI_ESTATE);
  answered(&k, 0, dead + 5);
  assert_int_equal(ni_ka_get_status(&k), NI_KA_ST_UP);
  ni_ka_stats st;
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.revived, 1);
  assert_int_equal(st.late, 1);
  assert_int_equal(st.failures, 0);
  assert_int_equal(ni_ka_bracket(&k, NULL, NULL), gen);
  assert_int_equal(ni_ka_last_activity(&k), dead + 5);
  /* The strike is gone too: two more losses at the cadence are one strike
   * and one confirmation, and only then is the bracket abandoned. */
  for (int i = 0; i < 2; i++) {
    t = ni_ka_get_expiry(&k);
    assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
    verdict(&k);
    ni_ms lo;
    ni_ka_bracket(&k, &lo, NULL);
    assert_int_equal(lo, i ? 0 : 30 * S);
    /* The caller closed it: LOST is taken once, then refused. */
    e = (ni_ka_event){.type = NI_KA_EV_LOST};
    assert_int_equal(ni_ka_on_event(&k, &e, t + 7 * S), 0);
    assert_int_equal(ni_ka_on_event(&k, &e, t + 7 * S), NI_ESTATE);
    e.type = NI_KA_EV_KA_ANSWERED;
    assert_int_equal(ni_ka_on_event(&k, &e, t + 7 * S), NI_ESTATE);
    ev(&k, NI_KA_EV_CONNECTED, t + 8 * S);
    ev(&k, NI_KA_EV_IDLE_ENTERED, t + 8 * S);
  }
  /* After a new connection, a stray answer of the old one is refused. */
  t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  verdict(&k);
  ev(&k, NI_KA_EV_CONNECTED, t + 30 * S);
  e = (ni_ka_event){.type = NI_KA_EV_KA_ANSWERED};
  assert_int_equal(ni_ka_on_event(&k, &e, t + 30 * S), NI_ESTATE);
}

/* A probe measures the NAT itself; the radio may hold a keepalive back for
 * seconds before it reaches the NAT.  The first keepalive lost below a
 * bound given, before any round trip after a silence is known, is excused:
 * the bracket stays, the next keepalive measures the radio at half the
 * bound, and the cadence then keeps the wake-up as margin.  One excuse per
 * init: the next loss counts as usual.  (Both losses used to be believed,
 * and the known bound was abandoned.) */
static void test_first_loss_excused_and_measured(void **state) {
  (void)state;
  ni_ka k;
  start_nat(&k, 30 * S, 0, 0);
  ni_ms t = ni_ka_get_expiry(&k);
  assert_int_equal(t, 25 * S); /* a wake-up of up to 3 s allowed for */
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  verdict(&k);
  ni_ka_stats st;
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.excused, 1);
  assert_int_equal(st.failures, 1);
  ni_ms lo, up;
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 30 * S);
  assert_int_equal(up, 30 * S);
  ev(&k, NI_KA_EV_CONNECTED, 50 * S);
  ev(&k, NI_KA_EV_IDLE_ENTERED, 50 * S);
  assert_int_equal(ni_ka_interval(&k), 15 * S);
  t = cycle(&k, 3200);
  assert_int_equal(t, 65 * S);
  assert_int_equal(ni_ka_margin(&k), 3200);
  assert_int_equal(ni_ka_interval(&k), 26800);
  /* The next loss is no longer excused: a strike, then a confirmation. */
  t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  verdict(&k);
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.excused, 1);
  ev(&k, NI_KA_EV_CONNECTED, t + 20 * S);
  ev(&k, NI_KA_EV_IDLE_ENTERED, t + 20 * S);
  assert_int_equal(ni_ka_interval(&k), 26800);
  t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  verdict(&k);
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 0);

  /* No excuse 30 s below a 10-min bound: no radio's wake-up (at most the
   * 15-s verdict) pushes a keepalive that far. */
  start_nat(&k, 10 * MIN, 0, 0);
  t = ni_ka_get_expiry(&k);
  assert_int_equal(t, 10 * MIN - 30 * S);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  verdict(&k);
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.excused, 0);

  /* No excuse for a bound the scheduler learned (measured through the same
   * radio), nor above the bound, nor once a keepalive was answered. */
  ni_ka_config c;
  ni_ka_config_default(&c);
  assert_int_equal(ni_ka_init(&k, &c), 0);
  ev(&k, NI_KA_EV_CONNECTED, 0);
  t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_NOOP);
  verdict(&k);
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.excused, 0);
  start_nat(&k, 30 * S, 0, 0);
  cycle(&k, 200);
  t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  verdict(&k);
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.excused, 0);
}

/* The case this comes from, on the simulated NAT: a NAT known to forget
 * after 30 s, 200 ms of round trip, a radio asleep after 5 s of silence
 * that takes 3 s to wake.  Over a day: no connection declared dead while
 * its answer was on its way, no known bound abandoned, no keepalive lost
 * (the first one allows for a wake-up before it measures one; it used to
 * be lost, then excused), and a cadence of
 * 26.8 s (28 s less the wake-up beyond the 2-s margin: a keepalive sent
 * at 28 s of silence reaches the NAT at 31 s).  With learning on, only
 * the daily re-probe above the bound fails.  (The old deadline, 3 s after
 * 200-ms round trips, declared every live connection dead, and after two
 * such deaths the cadence fell to 10 s for good.) */
static void test_sleeping_radio_day(void **state) {
  (void)state;
  for (int adaptive = 0; adaptive <= 1; adaptive++) {
    ni__sim_config c;
    ni__sim_result r;
    ni__sim_config_default(&c, 30 * S);
    c.ka.nat_lower_ms = c.ka.nat_upper_ms = 30 * S;
    c.ka.adaptive = adaptive;
    c.radio_idle_ms = 5 * S;
    c.radio_wake_ms = 3 * S;
    assert_int_equal(ni__sim_run(&c, &r), 0);
    print_message("sleeping radio, known 30 s, %s: %llu wakeups, %llu lost, %llu false deaths, "
                  "%.1f s broken, cadence %.1f s\n",
                  adaptive ? "adaptive" : "fixed", (unsigned long long)r.all.wakeups,
                  (unsigned long long)r.all.failures, (unsigned long long)r.all.false_dead,
                  (double)r.all.broken_ms / 1000.0, (double)r.final_interval_ms / 1000.0);
    assert_int_equal(r.all.false_dead, 0);
    assert_int_equal(r.ka.revived, 0);
    assert_int_equal(r.ka.excused, 0);
    assert_int_equal(r.final_interval_ms, 26800);
    /* With learning, the daily re-probe; nothing else. */
    assert_in_range(r.all.failures, 0, (uint64_t)adaptive);
    assert_true(r.all.broken_ms <= 30 * S * r.all.failures);
    /* After the first hour: the minimum, one wakeup per 30 s (the 3.2-s
     * answer is part of each cycle), and no loss without learning. */
    double min = ni__sim_min_wakeups(r.span_ms, 30 * S, r.cap_ms);
    assert_true((double)r.after.wakeups <= 1.02 * min);
    if (!adaptive) assert_int_equal(r.after.failures, 0);
  }
}

/* The radio changes nothing where it never sleeps: a NAT of 5 s (cadence
 * 3 s < the radio's 5 s) runs as without it. */
static void test_radio_awake_below_idle(void **state) {
  (void)state;
  ni__sim_config c;
  ni__sim_result a, b;
  ni__sim_config_default(&c, 5 * S);
  c.ka.nat_lower_ms = c.ka.nat_upper_ms = 5 * S;
  c.ka.adaptive = 0;
  assert_int_equal(ni__sim_run(&c, &a), 0);
  c.radio_idle_ms = 5 * S;
  c.radio_wake_ms = 3 * S;
  assert_int_equal(ni__sim_run(&c, &b), 0);
  assert_int_equal(a.all.wakeups, b.all.wakeups);
  assert_int_equal(b.all.failures, 0);
  assert_int_equal(b.all.broken_ms, 0);
  assert_int_equal(b.final_interval_ms, 3 * S);
}

/* The simulator's radio itself: a keepalive after more than 5 s of
 * silence reaches the NAT 3 s late and is answered 3.2 s after it left; a
 * fixed 26-s cadence behind a 30-s NAT holds (the NAT sees 29 s), a 27.5-s
 * one never does (30.5 s); a client that waits only 3 s for the answer
 * declares every live connection dead. */
static void test_sim_radio_model(void **state) {
  (void)state;
  ni__sim_config c;
  ni__sim_result r;
  ni__sim_config_default(&c, 30 * S);
  c.policy = NI_SIM_FIXED;
  c.radio_idle_ms = 5 * S;
  c.radio_wake_ms = 3 * S;
  c.fixed_ms = 26 * S;
  assert_int_equal(ni__sim_run(&c, &r), 0);
  assert_int_equal(r.all.failures, 0);
  assert_int_equal(r.all.false_dead, 0);
  /* The first at 26 s, then one per 26 s + the 3.2-s answer. */
  assert_int_equal(r.all.keepalives, 1 + (24 * HOUR - 26 * S) / (26 * S + 3200));
  c.fixed_ms = 27500;
  assert_int_equal(ni__sim_run(&c, &r), 0);
  assert_int_equal(r.all.failures, r.all.keepalives);
  /* The baseline's wait is its own: 3 s is too short for a 3.2-s answer. */
  c.fixed_ms = 26 * S;
  c.baseline_reply_ms = 3 * S;
  c.policy = NI_SIM_NATIDLE;
  c.ka.nat_lower_ms = c.ka.nat_upper_ms = 30 * S;
  c.ka.reply_min_ms = c.ka.reply_max_ms = 3 * S;
  assert_int_equal(ni__sim_run(&c, &r), 0);
  assert_true(r.all.false_dead > 1000);
  assert_int_equal(r.final_interval_ms, 10 * S);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deadline_from_round_trips_after_silence),
      cmocka_unit_test(test_late_answer_is_an_answer),
      cmocka_unit_test(test_answer_after_verdict_revives),
      cmocka_unit_test(test_first_loss_excused_and_measured),
      cmocka_unit_test(test_sleeping_radio_day),
      cmocka_unit_test(test_radio_awake_below_idle),
      cmocka_unit_test(test_sim_radio_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
