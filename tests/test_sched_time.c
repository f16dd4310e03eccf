/*
 * Tests of the scheduler's time: a device that slept through its alarm
 * shows as a `now` far past the expiry the scheduler gave (with a clock
 * that counts suspended time, see "Time" in keepalive.h).  The connection
 * is then verified at once with the generous deadline, and nothing that
 * spanned the sleep is learned: not a silence survived, not a death, not a
 * round trip.  A phone's deferred alarm, a few seconds or percent late, is
 * no such jump.  Simulated time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "natidle/keepalive.h"

#include "sched_helpers.h"

static void bracket_is(const ni_ka *k, ni_ms lower, ni_ms upper) {
  ni_ms lo, up;
  ni_ka_bracket(k, &lo, &up);
  assert_int_equal(lo, lower);
  assert_int_equal(up, upper);
}

/* The alarm of a 28-s cadence fires ten minutes late: a keepalive at once,
 * with the 15-s deadline; its answer proves the connection, but not that
 * the NAT keeps ten minutes of silence (learning would have taken that as
 * the new lower bound), and its round trip is no sample. */
static void test_sleep_through_alarm_verifies(void **state) {
  (void)state;
  ni_ka k;
  start_nat(&k, 30 * S, 1, 0);
  cycles(&k, 2, 200); /* the guessed wake-up, then one measured at 28 s */
  ni_ms due = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_reply_timeout(&k), 3 * S);
  ni_ms now = due + 10 * MIN;
  assert_int_equal(ni_ka_handle_expiry(&k, now), NI_KA_REIDLE);
  assert_int_equal(ni_ka_reply_deadline(&k), now + NI_KA_REPLY_MAX_MS);
  assert_int_equal(ni_ka_dead_deadline(&k), now + NI_KA_REPLY_MAX_MS);
  answered(&k, 5000, now + 5000);
  ni_ka_stats st;
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.jumps, 1);
  assert_int_equal(st.answered, 3);
  bracket_is(&k, 30 * S, 30 * S);
  assert_int_equal(ni_ka_reply_timeout(&k), 3 * S);
  assert_int_equal(ni_ka_get_expiry(&k), now + 5000 + 28 * S);
}

/* Unanswered, the verification ends the connection without teaching
 * anything: no failure, no strike; the reconnected session keeps its
 * cadence, and a later single loss is still only a strike. */
static void test_verification_lost_teaches_nothing(void **state) {
  (void)state;
  ni_ka k;
  start_nat(&k, 30 * S, 1, 0);
  cycles(&k, 1, 200);
  ni_ms now = ni_ka_get_expiry(&k) + 10 * MIN;
  assert_int_equal(ni_ka_handle_expiry(&k, now), NI_KA_REIDLE);
  assert_int_equal(ni_ka_handle_expiry(&k, now + NI_KA_REPLY_MAX_MS - 1), NI_KA_NONE);
  assert_int_equal(verdict(&k), now + NI_KA_REPLY_MAX_MS);
  ni_ka_stats st;
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.failures, 0);
  assert_int_equal(st.dead, 1);
  bracket_is(&k, 30 * S, 30 * S);
  ev(&k, NI_KA_EV_CONNECTED, now + 20 * S);
  ev(&k, NI_KA_EV_IDLE_ENTERED, now + 20 * S);
  assert_int_equal(ni_ka_interval(&k), 28 * S);
  ni_ms t = ni_ka_get_expiry(&k);
  assert_int_equal(t, now + 48 * S);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  verdict(&k);
  bracket_is(&k, 30 * S, 30 * S); /* a first strike only */
}

/* The device slept while a keepalive was out, past its verdict: one more
 * generous wait instead of a verdict (the answer may sit in a buffer), and
 * whatever comes teaches nothing.  A second sleep through that wait gets
 * the verdict. */
static void test_sleep_while_waiting(void **state) {
  (void)state;
  for (int answer = 0; answer <= 1; answer++) {
    ni_ka k;
    start_nat(&k, 30 * S, 1, 0);
    cycles(&k, 2, 200);
    ni_ms t = ni_ka_get_expiry(&k);
    assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
    ni_ms now = ni_ka_dead_deadline(&k) + 5 * MIN;
    assert_int_equal(ni_ka_handle_expiry(&k, now), NI_KA_NONE);
    assert_int_equal(ni_ka_get_expiry(&k), now + NI_KA_REPLY_MAX_MS);
    assert_int_equal(ni_ka_get_status(&k), NI_KA_ST_WAITING);
    ni_ka_stats st;
    if (answer) {
      answered(&k, 0, now + 100);
      ni_ka_get_stats(&k, &st);
      assert_int_equal(st.answered, 3);
      /* Its round trip of five minutes is no sample. */
      assert_int_equal(ni_ka_reply_timeout(&k), 3 * S);
    } else {
      now += NI_KA_REPLY_MAX_MS + 10 * MIN;
      assert_int_equal(ni_ka_handle_expiry(&k, now), NI_KA_DEAD);
      ni_ka_get_stats(&k, &st);
      assert_int_equal(st.failures, 0);
      assert_int_equal(st.jumps, 2);
    }
    bracket_is(&k, 30 * S, 30 * S);
  }
}

/* The first call after the sleep may be an event.  Bytes from the server
 * prove the connection: no verification, but their silence, which spanned
 * the sleep, is not learned as survived.  Bytes of our own prove nothing:
 * the verification is due at once.  A loss reported after the sleep
 * teaches nothing either. */
static void test_jump_seen_by_an_event(void **state) {
  (void)state;
  ni_ka k;
  ni_ka_config c;
  ni_ka_config_default(&c);
  start(&k, &c, 0);
  assert_int_equal(ni_ka_get_expiry(&k), NI_KA_START_MS);
  ni_ms now = NI_KA_START_MS + 10 * MIN;
  ev(&k, NI_KA_EV_PUSH_IN_IDLE, now);
  bracket_is(&k, 0, 0);
  assert_int_equal(ni_ka_get_expiry(&k), now + NI_KA_START_MS);
  /* Without a sleep the same push teaches: 50 s survived. */
  ev(&k, NI_KA_EV_PUSH_IN_IDLE, now + 50 * S);
  bracket_is(&k, 50 * S, 0);

  start(&k, &c, 0);
  now = NI_KA_START_MS + 10 * MIN;
  ev(&k, NI_KA_EV_TX, now);
  assert_int_equal(ni_ka_get_expiry(&k), now);
  ev(&k, NI_KA_EV_TX, now + 2 * S); /* still due: nothing proved it */
  assert_int_equal(ni_ka_get_expiry(&k), now);
  assert_int_equal(ni_ka_handle_expiry(&k, now + 2 * S), NI_KA_REIDLE);
  assert_int_equal(ni_ka_dead_deadline(&k), now + 2 * S + NI_KA_REPLY_MAX_MS);

  start(&k, &c, 0);
  now = NI_KA_START_MS + 10 * MIN;
  ni_ka_event e = {.type = NI_KA_EV_LOST, .silent_ms = now};
  assert_int_equal(ni_ka_on_event(&k, &e, now), 0);
  bracket_is(&k, 0, 0);
  ni_ka_stats st;
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.failures, 0);
  assert_int_equal(st.jumps, 1);
}

/* Late by less than the threshold (10 s, or a quarter of the interval) is
 * a phone's deferred alarm, within the margin: a keepalive as usual, with
 * the deadline from its round trips, and learning as usual. */
static void test_deferred_alarm_is_no_jump(void **state) {
  (void)state;
  ni_ka k;
  start_nat(&k, 60 * S, 0, 0);
  cycles(&k, 1, 200);
  ni_ms now = ni_ka_get_expiry(&k) + NI_KA_JUMP_MS;
  assert_int_equal(ni_ka_handle_expiry(&k, now), NI_KA_REIDLE);
  /* The round trip after 57 s of silence covers any longer one. */
  assert_int_equal(ni_ka_reply_deadline(&k), now + 3 * S);
  ni_ka_stats st;
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.jumps, 0);

  /* A 29-min cadence fired 7 min late: a quarter of it, no jump; the
   * silence of 36 min it survived is learned. */
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = 20 * MIN;
  start(&k, &c, 0);
  cycles(&k, 3, 200);
  assert_int_equal(ni_ka_interval(&k), CAP);
  now = ni_ka_get_expiry(&k) + CAP / 4;
  ni_ms silence = now - ni_ka_last_activity(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, now), NI_KA_REIDLE);
  answered(&k, 200, now + 200);
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.jumps, 0);
  ni_ms lo;
  ni_ka_bracket(&k, &lo, NULL);
  assert_int_equal(lo, silence);
  /* One millisecond more is a jump. */
  now = ni_ka_get_expiry(&k) + CAP / 4 + 1;
  assert_int_equal(ni_ka_handle_expiry(&k, now), NI_KA_REIDLE);
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.jumps, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sleep_through_alarm_verifies),
      cmocka_unit_test(test_verification_lost_teaches_nothing),
      cmocka_unit_test(test_sleep_while_waiting),
      cmocka_unit_test(test_jump_seen_by_an_event),
      cmocka_unit_test(test_deferred_alarm_is_no_jump),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
