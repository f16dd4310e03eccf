/*
 * Tests of the keepalive scheduler's state machine: cadence with a known
 * timeout, the action chosen, the RFC 2177 re-IDLE deadline, reply
 * deadlines, and what each event teaches it.  Time moves by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "natidle/keepalive.h"

#define S 1000ull
#define MIN (60 * S)
#define CAP (29 * MIN)

static void ev(ni_ka *k, ni_ka_event_type type, ni_ms now) {
  ni_ka_event e = {.type = type};
  assert_int_equal(ni_ka_on_event(k, &e, now), 0);
}

static void answered(ni_ka *k, ni_ms rtt, ni_ms now) {
  ni_ka_event e = {.type = NI_KA_EV_KA_ANSWERED, .rtt_ms = rtt};
  assert_int_equal(ni_ka_on_event(k, &e, now), 0);
}

/* A session connected at `now` and sitting in IDLE. */
static void start(ni_ka *k, const ni_ka_config *c, ni_ms now) {
  assert_int_equal(ni_ka_init(k, c), 0);
  assert_int_equal(ni_ka_get_expiry(k), NI_TIME_NEVER); /* disconnected */
  ev(k, NI_KA_EV_CONNECTED, now);
  ev(k, NI_KA_EV_IDLE_ENTERED, now);
}

/* A session whose NAT is known to survive `lower` ms, in IDLE from t0. */
static void start_known(ni_ka *k, ni_ms lower, ni_ms t0) {
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = lower;
  start(k, &c, t0);
}

/* Let n keepalives go out when due and be answered after `rtt` ms. */
static ni_ms cycles(ni_ka *k, int n, ni_ms rtt) {
  ni_ms t = 0;
  for (int i = 0; i < n; i++) {
    t = ni_ka_get_expiry(k);
    assert_int_not_equal(ni_ka_handle_expiry(k, t), NI_KA_NONE);
    answered(k, rtt, t + rtt);
  }
  return t;
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

/* A keepalive nobody answers is reported dead within seconds: 3 s after it
 * left on a fast path, never more than 15 s, 15 s before any RTT sample. */
static void test_reply_deadline(void **state) {
  (void)state;
  ni_ka k;
  start_known(&k, 5 * MIN, 0);
  assert_int_equal(ni_ka_reply_deadline(&k), NI_TIME_NEVER);
  assert_int_equal(ni_ka_reply_timeout(&k), 15 * S);

  ni_ms t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  assert_int_equal(ni_ka_reply_deadline(&k), t + 15 * S);
  answered(&k, 80, t + 80);
  assert_int_equal(ni_ka_reply_timeout(&k), 3 * S);

  t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  assert_int_equal(ni_ka_get_expiry(&k), t + 3 * S);
  assert_int_equal(ni_ka_handle_expiry(&k, t + 3 * S - 1), NI_KA_NONE);
  assert_int_equal(ni_ka_handle_expiry(&k, t + 3 * S), NI_KA_DEAD);
  assert_int_equal(ni_ka_get_expiry(&k), NI_TIME_NEVER); /* until reconnected */
  ni_ka_stats st;
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.dead, 1);
  assert_int_equal(st.failures, 1);

  /* A slow path (2.5 s RTT) gets 4 x RTT, capped at 15 s. */
  ev(&k, NI_KA_EV_CONNECTED, t + 10 * S);
  cycles(&k, 80, 2500);
  assert_in_range(ni_ka_reply_timeout(&k), 9900, 10 * S);
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

/* Bytes from the server after a long silence prove the mapping lived that
 * long; a push only seen in a keepalive's answer proves it died. */
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
  /* Silence of 50 s again, then 90 s: a keepalive (probe) goes out at the
   * learned lower bound x 1.5 = 75 s; its answer carries a push. */
  ni_ms t = ni_ka_get_expiry(&k);
  assert_int_equal(t, 50 * S + 75 * S);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  ev(&k, NI_KA_EV_PUSH_IN_NOOP, t + 100);
  answered(&k, 150, t + 150);
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 50 * S);
  assert_int_equal(up, 75 * S);

  /* The other order (answer first, then the push seen in it) undoes the
   * success the answer recorded. */
  t = ni_ka_get_expiry(&k);
  ni_ms iv = ni_ka_interval(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  answered(&k, 150, t + 150);
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, iv);
  ev(&k, NI_KA_EV_PUSH_IN_NOOP, t + 160);
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 50 * S);
  assert_int_equal(up, iv);
  ni_ka_stats st;
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.failures, 2);
  assert_int_equal(st.dead, 0);
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
 * NAT, and learning restarts below it. */
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

/* A push seen only in a keepalive's answer is the NAT's doing for sure:
 * believed at once, even below what survived before. */
static void test_push_in_noop_below_lower(void **state) {
  (void)state;
  ni_ka k;
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = c.nat_upper_ms = 10 * MIN;
  start(&k, &c, 0);
  ni_ms t = ni_ka_get_expiry(&k), iv = ni_ka_interval(&k), lo, up;
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  ev(&k, NI_KA_EV_PUSH_IN_NOOP, t + 90);
  answered(&k, 100, t + 100);
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(lo, 0);
  assert_int_equal(up, iv);
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
      assert_int_equal(ni_ka_handle_expiry(&k, t + 3 * S), NI_KA_DEAD);
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
        ni_ka_event e = {.type = (ni_ka_event_type)(1 + (x >> 20) % 11),
                         .rtt_ms = (x >> 30) % 3000,
                         .silent_ms = (x >> 40) % (60 * MIN)};
        int rc = ni_ka_on_event(&k, &e, now);
        assert_true(rc == 0 || rc == NI_ESTATE);
      }
      ni_ms lo, up, iv = ni_ka_interval(&k);
      ni_ka_bracket(&k, &lo, &up);
      assert_true(!lo || !up || lo <= up);
      assert_in_range(iv, 10 * S, CAP);
      assert_in_range(ni_ka_reply_timeout(&k), 3 * S, 15 * S);
    }
  }
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
      cmocka_unit_test(test_push_in_noop_below_lower),
      cmocka_unit_test(test_time_backwards),
      cmocka_unit_test(test_clock_near_end),
      cmocka_unit_test(test_reprobe_daily),
      cmocka_unit_test(test_no_reprobe_after_failure),
      cmocka_unit_test(test_random_event_sequences),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
