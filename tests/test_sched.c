/*
 * Tests of the keepalive scheduler's state machine: cadence with a known
 * timeout, the action chosen, the RFC 2177 re-IDLE deadline, reply
 * deadlines, and what each event teaches it.  Time moves by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "natidle/keepalive.h"

#include "sched_helpers.h"

/* A session whose NAT is known to survive `lower` ms, in IDLE from t0. */
static void start_known(ni_ka *k, ni_ms lower, ni_ms t0) {
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = lower;
  start(k, &c, t0);
}

static void test_init_rejects_bad_config(void **state) {
  (void)state;
  ni_ka k;
  ni_ka_config c;
  ni_ka_config_default(&c);
  assert_int_equal(ni_ka_init(NULL, &c), NI_EUSAGE);
  assert_int_equal(ni_ka_init(&k, NULL), NI_EUSAGE);
  c.nat_lower_ms = 10 * MIN;
  c.nat_upper_ms = 5 * MIN;
  assert_int_equal(ni_ka_init(&k, &c), NI_EUSAGE);
  ni_ka_config_default(&c);
  c.min_interval_ms = 5 * MIN;
  c.max_interval_ms = 1 * MIN;
  assert_int_equal(ni_ka_init(&k, &c), NI_EUSAGE);
  assert_int_equal(ni_ka_on_event(&k, NULL, 0), NI_EUSAGE);
  assert_int_equal(ni_ka_handle_expiry(NULL, 0), NI_KA_NONE);
}

/* Known timeout T: the cadence sits in [0.8 T, T) and never above 29 min,
 * for T from 30 s to 3 h, learning on or off; and the first keepalive is
 * really asked for at that silence, not before. */
static void test_known_timeout_cadence(void **state) {
  (void)state;
  static const ni_ms ts[] = {30 * S,   45 * S,   60 * S,    90 * S,   2 * MIN,  5 * MIN,
                             10 * MIN, 14 * MIN, 20 * MIN,  28 * MIN, 29 * MIN, 30 * MIN,
                             40 * MIN, 60 * MIN, 120 * MIN, 180 * MIN};
  for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
    for (int adaptive = 0; adaptive <= 1; adaptive++) {
      ni_ms T = ts[i], t0 = 1000000;
      ni_ka k;
      ni_ka_config c;
      ni_ka_config_default(&c);
      c.nat_lower_ms = c.nat_upper_ms = T;
      c.adaptive = adaptive;
      start(&k, &c, t0);
      ni_ms iv = ni_ka_interval(&k);
      assert_true(iv <= CAP);
      if (T >= CAP + CAP / 10) {
        assert_int_equal(iv, CAP); /* the margin fits below T: the cap rules */
      } else if (T > CAP) {
        assert_true(iv * 10 >= CAP * 8);
      } else {
        assert_true(iv < T);
        assert_true(iv * 10 >= T * 8);
      }
      assert_false(ni_ka_is_probing(&k));
      assert_int_equal(ni_ka_get_expiry(&k), t0 + iv);
      assert_int_equal(ni_ka_handle_expiry(&k, t0 + iv - 1), NI_KA_NONE);
      assert_int_equal(ni_ka_handle_expiry(&k, t0 + iv), NI_KA_REIDLE);
    }
  }
}

/* With nothing known, the first probe waits start_ms of silence whatever
 * shorter silences the session survived before it: the round trips of the
 * setup (a NOTIFY answer, "+ idling") made the lower bound a few ms and the
 * first probe went out at min_interval_ms.  A push after a real silence
 * still grows the probe by half (test_rx_and_push_evidence). */
static void test_first_probe_at_start(void **state) {
  (void)state;
  for (int adaptive = 0; adaptive <= 1; adaptive++) {
    ni_ka k;
    ni_ka_config c;
    ni_ka_config_default(&c);
    c.adaptive = adaptive;
    ni_ms t0 = 5000;
    assert_int_equal(ni_ka_init(&k, &c), 0);
    ev(&k, NI_KA_EV_CONNECTED, t0);
    ev(&k, NI_KA_EV_TX, t0 + 1); /* NOTIFY SET */
    ev(&k, NI_KA_EV_RX, t0 + 4); /* its OK */
    ev(&k, NI_KA_EV_TX, t0 + 5); /* IDLE */
    ev(&k, NI_KA_EV_RX, t0 + 8); /* + idling */
    ev(&k, NI_KA_EV_IDLE_ENTERED, t0 + 8);
    ni_ms lo;
    ni_ka_bracket(&k, &lo, NULL);
    assert_int_equal(lo, 3); /* the evidence is still kept */
    assert_int_equal(ni_ka_interval(&k), NI_KA_START_MS);
    assert_int_equal(ni_ka_is_probing(&k), adaptive);
    assert_int_equal(ni_ka_get_expiry(&k), t0 + 8 + NI_KA_START_MS);
    /* A push after 15 s of silence: still below the start, no change. */
    ev(&k, NI_KA_EV_PUSH_IN_IDLE, t0 + 8 + 15 * S);
    assert_int_equal(ni_ka_interval(&k), NI_KA_START_MS);
    ni_ms t = ni_ka_get_expiry(&k);
    assert_int_equal(t, t0 + 8 + 15 * S + NI_KA_START_MS);
    assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
    answered(&k, 100, t + 100);
    /* Survived: learning grows by half from there; the fixed cadence
     * stays at start_ms. */
    assert_int_equal(ni_ka_interval(&k), adaptive ? 90 * S : NI_KA_START_MS);
  }
}

/* Inside IDLE the keepalive is DONE + IDLE; outside, NOOP. */
static void test_action_depends_on_idle(void **state) {
  (void)state;
  ni_ka k;
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = 5 * MIN;
  assert_int_equal(ni_ka_init(&k, &c), 0);
  ev(&k, NI_KA_EV_CONNECTED, 0);
  ni_ms due = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, due), NI_KA_NOOP);
  answered(&k, 100, due + 100);
  ev(&k, NI_KA_EV_IDLE_ENTERED, due + 200);
  due = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, due), NI_KA_REIDLE);
  answered(&k, 100, due + 100);
  ev(&k, NI_KA_EV_IDLE_LEFT, due + 5000);
  due = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, due), NI_KA_NOOP);
}

/* A NAT that lets 3 h of silence pass, and a server that sends something
 * every 10 min: the silence never reaches the cadence, but RFC 2177's
 * re-IDLE is still due 29 min after IDLE began. */
static void test_reidle_deadline_with_traffic(void **state) {
  (void)state;
  ni_ka k;
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = 180 * MIN;
  c.adaptive = 0;
  start(&k, &c, 0);
  for (ni_ms t = 10 * MIN; t < CAP; t += 10 * MIN) {
    assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_NONE);
    ev(&k, NI_KA_EV_RX, t);
  }
  assert_int_equal(ni_ka_get_expiry(&k), CAP);
  assert_int_equal(ni_ka_handle_expiry(&k, CAP), NI_KA_REIDLE);
  answered(&k, 100, CAP + 100);
  ev(&k, NI_KA_EV_IDLE_ENTERED, CAP + 200);
  assert_int_equal(ni_ka_get_expiry(&k), CAP + 200 + CAP);
}

/* A shorter server logout moves both the cadence cap and the re-IDLE. */
static void test_autologout_configurable(void **state) {
  (void)state;
  ni_ka k;
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = 180 * MIN;
  c.autologout_ms = 10 * MIN;
  start(&k, &c, 0);
  assert_int_equal(ni_ka_interval(&k), 9 * MIN);
}

/* A keepalive nobody answers is reported dead within seconds.  Its reply
 * deadline is 3 s after it left on a fast path, 15 s before any round trip
 * after such a silence is known; the verdict comes at twice the reply
 * deadline, never after 15 s, so that an answer a little late is still an
 * answer.  (The verdict used to come at the reply deadline itself, 3 s
 * after a keepalive left whatever the silence before it, and a radio that
 * took 3.1 s to wake up made every live connection "dead".) */
static void test_reply_deadline(void **state) {
  (void)state;
  ni_ka k;
  start_known(&k, 5 * MIN, 0);
  assert_int_equal(ni_ka_reply_deadline(&k), NI_TIME_NEVER);
  assert_int_equal(ni_ka_dead_deadline(&k), NI_TIME_NEVER);
  assert_int_equal(ni_ka_reply_timeout(&k), 15 * S);

  ni_ms t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  assert_int_equal(ni_ka_reply_deadline(&k), t + 15 * S);
  assert_int_equal(ni_ka_dead_deadline(&k), t + 15 * S);
  answered(&k, 80, t + 80);
  assert_int_equal(ni_ka_reply_timeout(&k), 3 * S);

  t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  assert_int_equal(ni_ka_reply_deadline(&k), t + 3 * S);
  assert_int_equal(ni_ka_get_expiry(&k), t + 6 * S);
  assert_int_equal(ni_ka_handle_expiry(&k, t + 6 * S - 1), NI_KA_NONE);
  assert_int_equal(ni_ka_handle_expiry(&k, t + 6 * S), NI_KA_DEAD);
  assert_int_equal(ni_ka_get_expiry(&k), NI_TIME_NEVER); /* until reconnected */
  ni_ka_stats st;
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.dead, 1);
  assert_int_equal(st.failures, 1);

  /* A slow path (2.5 s after such a silence) gets 2 x 2.5 s + 1 s, and its
   * verdict 12 s; 9 s round trips reach the 15-s cap. */
  ev(&k, NI_KA_EV_CONNECTED, t + 10 * S);
  cycles(&k, 80, 2500);
  assert_int_equal(ni_ka_reply_timeout(&k), 6 * S);
  t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_NOOP); /* not in IDLE */
  assert_int_equal(ni_ka_dead_deadline(&k), t + 12 * S);
  answered(&k, 2500, t + 2500);
  cycles(&k, 20, 9000);
  assert_int_equal(ni_ka_reply_timeout(&k), 15 * S);
}

/* KA_SENT restarts the deadline; KA_UNANSWERED ends the session. */
static void test_sent_and_unanswered(void **state) {
  (void)state;
  ni_ka k;
  start_known(&k, 5 * MIN, 0);
  ni_ms t = ni_ka_get_expiry(&k);
  ni_ka_handle_expiry(&k, t);
  ev(&k, NI_KA_EV_KA_SENT, t + 4000);
  assert_int_equal(ni_ka_reply_deadline(&k), t + 4000 + 15 * S);
  ev(&k, NI_KA_EV_KA_UNANSWERED, t + 6000);
  assert_int_equal(ni_ka_get_expiry(&k), NI_TIME_NEVER);
  ni_ms lo, up;
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(up, t); /* the silence before it */
}

/* Events that make no sense now are refused and change nothing. */
static void test_events_in_wrong_state(void **state) {
  (void)state;
  ni_ka k;
  ni_ka_config c;
  ni_ka_config_default(&c);
  assert_int_equal(ni_ka_init(&k, &c), 0);
  ni_ka_event e = {.type = NI_KA_EV_RX};
  assert_int_equal(ni_ka_on_event(&k, &e, 5), NI_ESTATE);
  e.type = NI_KA_EV_KA_ANSWERED;
  assert_int_equal(ni_ka_on_event(&k, &e, 5), NI_ESTATE);
  e.type = (ni_ka_event_type)999;
  assert_int_equal(ni_ka_on_event(&k, &e, 5), NI_EUSAGE);
  ev(&k, NI_KA_EV_CONNECTED, 10);
  e.type = NI_KA_EV_KA_ANSWERED;
  assert_int_equal(ni_ka_on_event(&k, &e, 20), NI_ESTATE);
  e.type = NI_KA_EV_PUSH_IN_NOOP;
  assert_int_equal(ni_ka_on_event(&k, &e, 20), NI_ESTATE);
  assert_int_equal(ni_ka_get_expiry(&k), 10 + ni_ka_interval(&k));
}

/* The server pushes `n` messages after `delay` ms each: its push delay. */
static void push_delays(ni_ka *k, int n, ni_ms delay, ni_ms now) {
  for (int i = 0; i < n; i++) {
    ni_ka_event e = {.type = NI_KA_EV_PUSH_DELAY, .delay_ms = delay};
    assert_int_equal(ni_ka_on_event(k, &e, now), 0);
  }
}

static void mail_in_answer(ni_ka *k, ni_ms age, ni_ms now) {
  ni_ka_event e = {.type = NI_KA_EV_PUSH_IN_NOOP, .age_ms = age};
  assert_int_equal(ni_ka_on_event(k, &e, now), 0);
}

/* Bytes from the server after a long silence prove the mapping lived that
 * long.  A message seen first in a keepalive's answer is judged by its age
 * against the server's push delay (the rule in keepalive.h): of unknown age
 * it only withdraws that keepalive's success; old enough, it is a failure
 * that needs a second one at the same silence to be believed.  (Believing
 * the first, as this test once asserted, made a session with no NAT
 * learn one from a server that pushes late.) */
static void test_rx_and_push_evidence(void **state) {
  (void)state;
  ni_ka k;
  ni_ka_config c;
  ni_ka_config_default(&c);
  start(&k, &c, 0);
  ni_ms lo, up;
  unsigned gen = ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 0);
  assert_int_equal(up, 0);
  ev(&k, NI_KA_EV_PUSH_IN_IDLE, 50 * S);
  assert_true(ni_ka_bracket(&k, &lo, &up) != gen);
  assert_int_equal(lo, 50 * S);
  /* Silence of 50 s again, then a probe at the learned lower bound x 1.5 =
   * 75 s; its answer carries a message of unknown age: that silence does
   * not count as survived, nor as fatal. */
  ni_ms t = ni_ka_get_expiry(&k);
  assert_int_equal(t, 50 * S + 75 * S);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  mail_in_answer(&k, 0, t + 100);
  answered(&k, 150, t + 150);
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 50 * S);
  assert_int_equal(up, 0);
  assert_int_equal(ni_ka_interval(&k), 75 * S);

  /* With the push delay unknown even a known age is no evidence. */
  assert_int_equal(ni_ka_push_delay(&k), NI_TIME_NEVER);
  t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  answered(&k, 150, t + 150);
  mail_in_answer(&k, 30 * S, t + 160);
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 50 * S);
  assert_int_equal(up, 0);

  /* The server pushes within 300 ms.  A message younger than delay +
   * slack + 2 RTT in the answer is a push not yet sent: the keepalive's
   * success stands. */
  push_delays(&k, 4, 300, t + 200);
  assert_int_equal(ni_ka_push_delay(&k), 300);
  t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_interval(&k), 75 * S);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  answered(&k, 150, t + 150);
  mail_in_answer(&k, 2 * S, t + 160);
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 75 * S);

  /* A message 30 s old in the answer of the next probe (112.5 s) was due
   * 82.5 s into its silence: a failure, not yet believed, and the same
   * silence is tried again. */
  t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_interval(&k), 112500);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  answered(&k, 150, t + 150);
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 112500); /* the answer alone counts as a success... */
  mail_in_answer(&k, 30 * S, t + 160);
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 75 * S); /* ...taken back by the message */
  assert_int_equal(up, 0);
  assert_int_equal(ni_ka_interval(&k), 112500);
  assert_true(ni_ka_is_probing(&k));
  ni_ka_stats st;
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.failures, 1);

  /* The retry's answer (still on its way) carries another old message:
   * now it is believed. */
  t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  mail_in_answer(&k, 20 * S, t + 100);
  answered(&k, 150, t + 150);
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 75 * S);
  assert_int_equal(up, 112500);
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.failures, 2);
  assert_int_equal(st.dead, 0);

  /* That NAT answers keepalives after it lost the mapping: an answer no
   * longer proves a silence survived, a push after a silence still does. */
  t = ni_ka_get_expiry(&k);
  ni_ms iv = ni_ka_interval(&k);
  assert_true(iv > 75 * S && iv < 112500);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  answered(&k, 150, t + 150);
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 75 * S);
  ev(&k, NI_KA_EV_PUSH_IN_IDLE, t + 150 + 80 * S);
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 80 * S);
}

/* A loss during silence teaches only when the caller knows the silence and
 * it is longer than what survived; a loss with a keepalive in flight counts
 * against that keepalive's silence. */
static void test_lost(void **state) {
  (void)state;
  ni_ka k;
  start_known(&k, 5 * MIN, 0);
  ni_ka_event e = {.type = NI_KA_EV_LOST, .silent_ms = 2 * MIN};
  assert_int_equal(ni_ka_on_event(&k, &e, 2 * MIN), 0);
  ni_ms lo, up;
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 5 * MIN);
  assert_int_equal(up, 0);
  assert_int_equal(ni_ka_get_expiry(&k), NI_TIME_NEVER);

  ev(&k, NI_KA_EV_CONNECTED, 3 * MIN);
  e.silent_ms = 7 * MIN;
  assert_int_equal(ni_ka_on_event(&k, &e, 10 * MIN), 0);
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(up, 7 * MIN);

  ev(&k, NI_KA_EV_CONNECTED, 11 * MIN);
  ni_ms t = ni_ka_get_expiry(&k);
  ni_ms iv = ni_ka_interval(&k);
  ni_ka_handle_expiry(&k, t);
  e.silent_ms = 0;
  assert_int_equal(ni_ka_on_event(&k, &e, t + 500), 0);
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(up, iv);
}

/* A loss below what survived before: once is noise (the same cadence is
 * tried again, and a success there forgets it); twice in a row is a shorter
 * NAT, and learning restarts below it.  (The first loss, before any round
 * trip is known, is not excused: it left 30 s below the bound, which no
 * radio's wake-up explains; see test_sched_radio.c.) */
static void test_nat_got_shorter(void **state) {
  (void)state;
  ni_ka k;
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = 10 * MIN;
  c.nat_upper_ms = 10 * MIN + 20 * S;
  start(&k, &c, 0);
  ni_ms iv = ni_ka_interval(&k), lo, up, t = 0;
  for (int round = 0; round < 3; round++) {
    t = ni_ka_get_expiry(&k);
    assert_int_equal(ni_ka_interval(&k), iv);
    assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
    if (round == 1) {
      answered(&k, 100, t + 100); /* the first loss was noise */
      continue;
    }
    assert_int_equal(ni_ka_handle_expiry(&k, t + 15 * S), NI_KA_DEAD);
    ni_ka_bracket(&k, &lo, &up);
    assert_int_equal(lo, 10 * MIN); /* one loss changes nothing */
    ev(&k, NI_KA_EV_CONNECTED, t + 20 * S);
    ev(&k, NI_KA_EV_IDLE_ENTERED, t + 20 * S);
  }
  t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  assert_int_equal(ni_ka_handle_expiry(&k, t + 15 * S), NI_KA_DEAD);
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 0);
  assert_int_equal(up, iv);
  ev(&k, NI_KA_EV_CONNECTED, t + 20 * S);
  assert_true(ni_ka_is_probing(&k));
  assert_int_equal(ni_ka_interval(&k), iv / 2);
}

/* At the steady cadence of a known NAT, one message that looks lost is not
 * believed: a clean answer at the same silence clears it, and only two in a
 * row restart learning below it.  (It used to be believed at once.) */
static void test_push_in_noop_needs_confirmation(void **state) {
  (void)state;
  ni_ka k;
  start_nat(&k, 10 * MIN, 1, 0);
  push_delays(&k, 4, 500, 0);
  ni_ms iv = ni_ka_interval(&k), lo, up, t;
  for (int round = 0; round < 3; round++) {
    t = ni_ka_get_expiry(&k);
    assert_int_equal(ni_ka_interval(&k), iv);
    assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
    answered(&k, 100, t + 100);
    if (round != 1) mail_in_answer(&k, 3 * MIN, t + 110); /* round 1: clean */
    ni_ka_bracket(&k, &lo, &up);
    assert_int_equal(lo, 10 * MIN);
    assert_int_equal(up, 10 * MIN);
  }
  t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  answered(&k, 100, t + 100);
  mail_in_answer(&k, 3 * MIN, t + 110);
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 0);
  assert_int_equal(up, iv);
  ni_ka_stats st;
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.failures, 3);
}

/* Time that goes backwards is treated as the latest time seen. */
static void test_time_backwards(void **state) {
  (void)state;
  ni_ka k;
  start_known(&k, 5 * MIN, 100 * S);
  ev(&k, NI_KA_EV_RX, 50 * S);
  assert_int_equal(ni_ka_get_expiry(&k), 100 * S + ni_ka_interval(&k));
  assert_int_equal(ni_ka_handle_expiry(&k, 0), NI_KA_NONE);
}

/* A clock that starts near the end of the range: deadlines saturate at
 * NI_TIME_NEVER instead of wrapping to the past. */
static void test_clock_near_end(void **state) {
  (void)state;
  ni_ka k;
  const ni_ms t0 = NI_TIME_NEVER - 10 * S;
  start_known(&k, 5 * MIN, t0);
  assert_int_equal(ni_ka_get_expiry(&k), NI_TIME_NEVER);
  assert_int_equal(ni_ka_handle_expiry(&k, t0 + 5 * S), NI_KA_NONE);
}

/* Once settled, learning re-probes upward about once a day, by a small
 * step.  Here the NAT lengthened its timeout from 10 to 11 min overnight:
 * the first re-probe finds out and learning resumes up to the new value. */
static void test_reprobe_daily(void **state) {
  (void)state;
  const ni_ms T = 11 * MIN;
  ni_ka k;
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = 10 * MIN - 20 * S;
  c.nat_upper_ms = 10 * MIN;
  start(&k, &c, 0);
  ni_ms t = 0, first_probe = 0, last_answer = 0;
  int failures = 0;
  while (t < 3 * 24 * 60 * MIN) {
    t = ni_ka_get_expiry(&k);
    int probe = ni_ka_is_probing(&k);
    ni_ms iv = ni_ka_interval(&k);
    assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
    if (probe && !first_probe) {
      first_probe = t;
      assert_true(iv > 10 * MIN - 20 * S && iv <= 10 * MIN + 60 * S); /* a small step */
    }
    if (t - last_answer >= T) { /* the NAT forgot: no answer */
      failures++;
      assert_int_equal(ni_ka_handle_expiry(&k, ni_ka_dead_deadline(&k)), NI_KA_DEAD);
      ev(&k, NI_KA_EV_CONNECTED, t + 5 * S);
      ev(&k, NI_KA_EV_IDLE_ENTERED, t + 5 * S);
      last_answer = t + 5 * S;
    } else {
      answered(&k, 100, t + 100);
      last_answer = t + 100;
    }
  }
  /* The first re-probe comes about a day in (jittered by 10 %). */
  assert_true(first_probe >= 21 * 60 * MIN && first_probe <= 27 * 60 * MIN);
  assert_in_range(failures, 1, 6);
  ni_ms iv = ni_ka_interval(&k);
  assert_true(iv < T && iv * 10 >= T * 8);
}

static void test_no_reprobe_after_failure(void **state) {
  (void)state;
  ni_ka k;
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = 9 * MIN;
  c.nat_upper_ms = 9 * MIN + 20 * S;
  start(&k, &c, 0);
  ni_ms t = 0, last_fail = 0;
  while (t < 2 * 24 * 60 * MIN) {
    t = ni_ka_get_expiry(&k);
    int probe = ni_ka_is_probing(&k);
    assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
    if (probe) {
      /* Every re-probe fails (the NAT really is 9 min 20 s): it comes a
       * day or so after the previous failure, never sooner. */
      assert_true(t - last_fail >= 21 * 60 * MIN);
      assert_int_equal(ni_ka_handle_expiry(&k, t + 15 * S), NI_KA_DEAD);
      last_fail = t + 15 * S;
      ev(&k, NI_KA_EV_CONNECTED, t + 20 * S);
      ev(&k, NI_KA_EV_IDLE_ENTERED, t + 20 * S);
    } else {
      answered(&k, 100, t + 100);
    }
  }
}

/* Any sequence of events at any times: the scheduler never asks to be
 * called in the past twice (a driver would spin), its interval stays within
 * its bounds, and its bracket stays ordered. */
static void test_random_event_sequences(void **state) {
  (void)state;
  uint64_t x = 88172645463325252ull;
  for (int run = 0; run < 200; run++) {
    ni_ka k;
    ni_ka_config c;
    ni_ka_config_default(&c);
    c.seed = (uint64_t)run + 1;
    if (run % 3 == 1) c.nat_lower_ms = 4 * MIN;
    if (run % 3 == 2) c.nat_lower_ms = c.nat_upper_ms = 50 * MIN;
    assert_int_equal(ni_ka_init(&k, &c), 0);
    ni_ms now = 0;
    for (int i = 0; i < 2000; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      now += x % 5 == 0 ? (x >> 8) % (40 * MIN) : (x >> 8) % 5000;
      if (x % 4 == 0) {
        ni_ms e = ni_ka_get_expiry(&k);
        if (e <= now) {
          ni_ka_handle_expiry(&k, now);
          assert_true(ni_ka_get_expiry(&k) > now);
        }
      } else {
        ni_ka_event e = {.type = (ni_ka_event_type)(1 + (x >> 20) % 12),
                         .rtt_ms = (x >> 30) % 3000,
                         .silent_ms = (x >> 40) % (60 * MIN),
                         .age_ms = (x >> 24) % (5 * MIN),
                         .delay_ms = (x >> 34) % (2 * MIN)};
        int rc = ni_ka_on_event(&k, &e, now);
        assert_true(rc == 0 || rc == NI_ESTATE);
      }
      ni_ms lo, up, iv = ni_ka_interval(&k);
      ni_ka_bracket(&k, &lo, &up);
      assert_true(!lo || !up || lo <= up);
      /* The bound given (or a longer one) keeps its margin below
       * min_interval_ms, down to the 2-s floor; a learned one stays at or
       * above min_interval_ms.  (While disconnected the interval is the
       * last one chosen.) */
      assert_in_range(iv, NI_KA_FLOOR_MS, CAP);
      if (ni_ka_get_expiry(&k) != NI_TIME_NEVER && !(c.nat_lower_ms && lo >= c.nat_lower_ms))
        assert_true(iv >= 10 * S);
      assert_in_range(ni_ka_reply_timeout(&k), 3 * S, 15 * S);
    }
  }
}

/* A known short timeout is honoured: the margin wins over min_interval_ms
 * (the cadence used to be 10 s for a NAT given as 10 s, right at its
 * timeout, and 10 s for one of 8 s, while ni_ka_margin() said 2 s).  Below
 * the 2-s floor the cadence stays at the floor, and both ni_ka_margin()
 * and ni_ka_warnings() say so.  The first keepalive also allows for a
 * radio's wake-up (NI_KA_WAKE_GUESS_MS, 3 s) until its answer measured
 * one: 5 s below the bound, on the floor, and no warning for a guess. */
/* The cadence for a bound without a session: the margin's three terms
 * (2 s, 5 %, the round trip, the slowest after a long silence included),
 * the 29-min cap, the config's own margin, and nothing for no bound. */
static void test_cadence_for(void **state) {
  (void)state;
  assert_int_equal(ni_ka_cadence_for(NULL, 600 * S, 100, 100), 570 * S);
  assert_int_equal(ni_ka_cadence_for(NULL, 10000 * S, 100, 100), 29 * 60 * S);
  assert_int_equal(ni_ka_cadence_for(NULL, 30 * S, 10, 3 * S), 27 * S);
  assert_int_equal(ni_ka_cadence_for(NULL, 30 * S, 2500, 100), 27500);
  assert_int_equal(ni_ka_cadence_for(NULL, 3 * S, 800, 900), 2 * S);
  assert_int_equal(ni_ka_cadence_for(NULL, 0, 10, 10), 0);
  assert_int_equal(ni_ka_cadence_for(NULL, NI_TIME_NEVER, 10, 10), 0);
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.margin_ms = 7 * S;
  c.server_keepalive_ms = 120 * S;
  assert_int_equal(ni_ka_cadence_for(&c, 300 * S, 10, 10), 293 * S);
  c.margin_permille = 1000; /* refused by ni_ka_init() */
  assert_int_equal(ni_ka_cadence_for(&c, 300 * S, 10, 10), 0);
}

static void test_known_short_timeout(void **state) {
  (void)state;
  static const struct {
    ni_ms nat, first, cadence, margin;
    unsigned warn;
  } cases[] = {
      {30 * S, 25 * S, 28 * S, 2 * S, 0},
      {10 * S, 5 * S, 8 * S, 2 * S, 0},
      {8 * S, 3 * S, 6 * S, 2 * S, 0},
      {4 * S, 2 * S, 2 * S, 2 * S, 0},
      {3 * S, 2 * S, 2 * S, 1 * S, NI_KA_WARN_MARGIN},
      {2 * S, 2 * S, 2 * S, 0, NI_KA_WARN_MARGIN},
      {1500, 2 * S, 2 * S, 0, NI_KA_WARN_MARGIN},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (int adaptive = 0; adaptive <= 1; adaptive++) {
      ni_ka k;
      start_nat(&k, cases[i].nat, adaptive, 0);
      assert_int_equal(ni_ka_interval(&k), cases[i].first);
      assert_int_equal(ni_ka_margin(&k),
                       cases[i].nat > cases[i].first ? cases[i].nat - cases[i].first : 0);
      assert_int_equal(ni_ka_warnings(&k), cases[i].warn);
      assert_false(ni_ka_is_probing(&k));
      /* ...and the keepalives really go out at that silence (a keepalive
       * at the floor above the NAT given would rightly teach otherwise). */
      if (cases[i].cadence > cases[i].nat) continue;
      ni_ms t = cycles(&k, 1, 50);
      assert_int_equal(ni_ka_get_expiry(&k), t + 50 + cases[i].cadence);
      assert_int_equal(ni_ka_interval(&k), cases[i].cadence);
      assert_int_equal(ni_ka_margin(&k), cases[i].margin);
      assert_int_equal(ni_ka_warnings(&k), cases[i].warn);
      assert_false(ni_ka_is_probing(&k));
      t = cycles(&k, 3, 50);
      assert_int_equal(ni_ka_get_expiry(&k), t + 50 + cases[i].cadence);
    }
  }
  /* ni_ka_cadence_for() gives the same cadences without a session: the
   * first keepalive's before a round trip is measured, the steady one's
   * once the 50-ms round trips of cycles() are. */
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(ni_ka_cadence_for(NULL, cases[i].nat, 0, NI_TIME_NEVER), cases[i].first);
    assert_int_equal(ni_ka_cadence_for(NULL, cases[i].nat, 50, 50), cases[i].cadence);
  }
  /* A margin asked for that is larger than the timeout itself: the margin
   * reported is still what the cadence keeps. */
  ni_ka k;
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = c.nat_upper_ms = 3 * S;
  c.margin_ms = 5 * S;
  start(&k, &c, 0);
  assert_int_equal(ni_ka_interval(&k), 2 * S);
  assert_int_equal(ni_ka_margin(&k), 1 * S);
  assert_int_equal(ni_ka_warnings(&k), NI_KA_WARN_MARGIN);
  /* A caller that allows shorter intervals gets them: a 1.5-s NAT on a
   * time-scaled test with min_interval_ms 500 ms. */
  ni_ka_config_default(&c);
  c.nat_lower_ms = c.nat_upper_ms = 1500;
  c.margin_ms = 500;
  c.min_interval_ms = 500;
  start(&k, &c, 0);
  assert_int_equal(ni_ka_interval(&k), 1000);
  assert_int_equal(ni_ka_margin(&k), 500);
  assert_int_equal(ni_ka_warnings(&k), 0);
}

/* A bracket the scheduler learned by itself keeps min_interval_ms as its
 * floor (noise must not make it send every few seconds), and says so when
 * that leaves less than the margin. */
static void test_learned_short_timeout_keeps_min_interval(void **state) {
  (void)state;
  ni_ka k;
  ni_ka_config c;
  ni_ka_config_default(&c);
  start(&k, &c, 0);
  ni_ka_event e = {.type = NI_KA_EV_LOST, .silent_ms = 11 * S};
  assert_int_equal(ni_ka_on_event(&k, &e, 11 * S), 0);
  ev(&k, NI_KA_EV_CONNECTED, 12 * S);
  ev(&k, NI_KA_EV_IDLE_ENTERED, 12 * S);
  ev(&k, NI_KA_EV_PUSH_IN_IDLE, 22500); /* survived 10.5 s */
  ni_ms lo, up;
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 10500);
  assert_int_equal(up, 11 * S);
  assert_int_equal(ni_ka_interval(&k), 10 * S);
  assert_int_equal(ni_ka_margin(&k), 500);
  assert_int_equal(ni_ka_warnings(&k), NI_KA_WARN_MARGIN);
}

/* "Zero fields take the default" holds for a zeroed config too: learning
 * included (a zeroed config used to turn learning off silently).  In a
 * config from ni_ka_config_default(), adaptive 0 still turns it off. */
static void test_zeroed_config_takes_defaults(void **state) {
  (void)state;
  ni_ka z, d;
  ni_ka_config zc, dc;
  memset(&zc, 0, sizeof zc);
  ni_ka_config_default(&dc);
  start(&z, &zc, 1000);
  start(&d, &dc, 1000);
  assert_true(ni_ka_is_probing(&z));
  assert_int_equal(ni_ka_interval(&z), ni_ka_interval(&d));
  assert_int_equal(ni_ka_margin(&z), NI_KA_MARGIN_MIN_MS);
  assert_int_equal(ni_ka_reply_timeout(&z), NI_KA_REPLY_MAX_MS);
  for (int i = 0; i < 12; i++) {
    ni_ms t = cycles(&z, 1, 100);
    assert_int_equal(cycles(&d, 1, 100), t);
    assert_int_equal(ni_ka_interval(&z), ni_ka_interval(&d));
  }
  assert_int_equal(ni_ka_interval(&z), CAP); /* it learned up to the cap */

  /* Zeroed and partly filled: a bracket is still learned above. */
  memset(&zc, 0, sizeof zc);
  zc.nat_lower_ms = 5 * MIN;
  start(&z, &zc, 0);
  assert_true(ni_ka_is_probing(&z));
  /* From the defaults, adaptive 0 is a choice. */
  dc.adaptive = 0;
  start(&d, &dc, 0);
  assert_false(ni_ka_is_probing(&d));
  assert_int_equal(ni_ka_interval(&d), NI_KA_START_MS);
}

/* Keepalives lost to a stretch of bad coverage while the reconnects after
 * them succeed.  Without learning, the cadence used to halve for good at
 * every pair of losses; it may drop while the losses go on, but the
 * bracket given comes back after reprobe_ms / 8 without a failure.  With
 * learning, it climbs back too. */
static void test_coverage_loss_not_for_good(void **state) {
  (void)state;
  for (int adaptive = 0; adaptive <= 1; adaptive++) {
    ni_ka k;
    ni_ka_config c;
    ni_ka_config_default(&c);
    c.nat_lower_ms = 10 * MIN;
    c.nat_upper_ms = 10 * MIN + 20 * S;
    c.adaptive = adaptive;
    start(&k, &c, 0);
    const ni_ms given = ni_ka_interval(&k);
    const ni_ms nat = 10 * MIN + 10 * S; /* the real NAT */
    const ni_ms bad_from = 2 * 3600 * S, bad_to = 3 * 3600 * S;
    ni_ms t = 0, lowest = given, back_at = 0, last = 0;
    while (t < 24 * 3600 * S) {
      t = ni_ka_get_expiry(&k);
      ni_ka_action a = ni_ka_handle_expiry(&k, t);
      assert_int_equal(a, NI_KA_REIDLE);
      if ((t >= bad_from && t < bad_to) || t - last >= nat) {
        assert_true(ni_ka_handle_expiry(&k, t + 15 * S) == NI_KA_DEAD);
        last = t + 17 * S;
        ev(&k, NI_KA_EV_CONNECTED, last); /* the reconnect works */
        ev(&k, NI_KA_EV_IDLE_ENTERED, last);
      } else {
        answered(&k, 100, t + 100);
        last = t + 100;
      }
      ni_ms iv = ni_ka_interval(&k);
      if (iv < lowest) lowest = iv;
      if (t > bad_to && !back_at && iv >= given) back_at = t;
    }
    print_message("%s: cadence %llu s, lowest %llu s during the loss, back %.1f h after it\n",
                  adaptive ? "adaptive" : "fixed", (unsigned long long)(given / S),
                  (unsigned long long)(lowest / S), (double)(back_at - bad_to) / (3600 * S));
    assert_true(lowest < given); /* it did react */
    assert_true(back_at != 0);
    assert_true(back_at - bad_to <= (adaptive ? 12 : 4) * 3600 * S);
    ni_ms iv = ni_ka_interval(&k);
    assert_true(adaptive ? iv * 10 >= nat * 8 && iv < nat : iv == given);
    if (!adaptive) {
      ni_ms lo, up;
      ni_ka_bracket(&k, &lo, &up);
      assert_int_equal(lo, 10 * MIN);
      assert_int_equal(up, 10 * MIN + 20 * S);
    }
  }
}

/* On a network change a client tells the live session what it knows of
 * the new network: the bracket is replaced, the connection, the counters,
 * the RTT and the push delay are kept, and a keepalive that left before
 * teaches nothing about the new network. */
static void test_reconfigure(void **state) {
  (void)state;
  ni_ka k;
  start_nat(&k, 10 * MIN, 1, 0);
  push_delays(&k, 4, 700, 0);
  ni_ms t = cycles(&k, 3, 80);
  t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  ni_ka_stats before;
  ni_ka_get_stats(&k, &before);
  ni_ms rto = ni_ka_reply_timeout(&k);

  ni_ka_config n;
  ni_ka_config_default(&n);
  n.nat_lower_ms = 16 * MIN; /* wrong: rejected, nothing changes */
  n.nat_upper_ms = 15 * MIN;
  unsigned gen = ni_ka_bracket(&k, NULL, NULL);
  assert_int_equal(ni_ka_reconfigure(&k, &n, t + 10), NI_EUSAGE);
  assert_int_equal(ni_ka_bracket(&k, NULL, NULL), gen);
  ni_ka_config_default(&n); /* nothing known of the new network */
  assert_int_equal(ni_ka_reconfigure(&k, &n, t + 10), 0);
  ni_ms lo, up;
  assert_true(ni_ka_bracket(&k, &lo, &up) != gen);
  assert_int_equal(lo, 0);
  assert_int_equal(up, 0);
  assert_true(ni_ka_is_probing(&k));
  assert_int_equal(ni_ka_interval(&k), NI_KA_START_MS);
  assert_int_equal(ni_ka_reply_deadline(&k), t + rto); /* still out */
  /* Its answer: an RTT sample, nothing about the new NAT. */
  answered(&k, 80, t + 80);
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 0);
  ni_ka_stats after;
  ni_ka_get_stats(&k, &after);
  assert_int_equal(after.answered, before.answered + 1);
  assert_int_equal(after.keepalives, before.keepalives);
  assert_int_equal(ni_ka_push_delay(&k), 700);
  assert_int_equal(ni_ka_get_expiry(&k), t + 80 + NI_KA_START_MS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_rejects_bad_config),
      cmocka_unit_test(test_known_timeout_cadence),
      cmocka_unit_test(test_first_probe_at_start),
      cmocka_unit_test(test_action_depends_on_idle),
      cmocka_unit_test(test_reidle_deadline_with_traffic),
      cmocka_unit_test(test_autologout_configurable),
      cmocka_unit_test(test_reply_deadline),
      cmocka_unit_test(test_sent_and_unanswered),
      cmocka_unit_test(test_events_in_wrong_state),
      cmocka_unit_test(test_rx_and_push_evidence),
      cmocka_unit_test(test_lost),
      cmocka_unit_test(test_nat_got_shorter),
      cmocka_unit_test(test_push_in_noop_needs_confirmation),
      cmocka_unit_test(test_time_backwards),
      cmocka_unit_test(test_clock_near_end),
      cmocka_unit_test(test_reprobe_daily),
      cmocka_unit_test(test_no_reprobe_after_failure),
      cmocka_unit_test(test_random_event_sequences),
      cmocka_unit_test(test_known_short_timeout),
      cmocka_unit_test(test_learned_short_timeout_keeps_min_interval),
      cmocka_unit_test(test_zeroed_config_takes_defaults),
      cmocka_unit_test(test_coverage_loss_not_for_good),
      cmocka_unit_test(test_reconfigure),
      cmocka_unit_test(test_cadence_for),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
