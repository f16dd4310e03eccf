/*
 * Tests of the event protocol written down in keepalive.h: the states and
 * the events each takes, a loss for good, the silence a caller computes,
 * what a zeroed config means and how learning is turned off, a pipelined
 * DONE + IDLE, and the bracket's change counter as the way to learn of a
 * change.  Simulated time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "keepalive/ka_internal.h"
#include "natidle/keepalive.h"

#include "sched_helpers.h"

static int event(ni_ka *k, ni_ka_event_type type, int permanent, ni_ms now) {
  ni_ka_event e = {.type = type, .permanent = permanent};
  return ni_ka_on_event(k, &e, now);
}

/* The states a caller sees, and ni_ka_last_activity() from which it
 * computes its connection's silence. */
static void test_status_and_last_activity(void **state) {
  (void)state;
  ni_ka k;
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = c.nat_upper_ms = 60 * S;
  assert_int_equal(ni_ka_init(&k, &c), 0);
  assert_int_equal(ni_ka_get_status(&k), NI_KA_ST_DOWN);
  assert_int_equal(ni_ka_last_activity(&k), NI_TIME_NEVER);
  assert_int_equal(ni_ka_get_status(NULL), NI_KA_ST_DOWN);
  assert_int_equal(ni_ka_last_activity(NULL), NI_TIME_NEVER);
  ev(&k, NI_KA_EV_CONNECTED, 5 * S);
  assert_int_equal(ni_ka_get_status(&k), NI_KA_ST_UP);
  assert_int_equal(ni_ka_last_activity(&k), 5 * S);
  ev(&k, NI_KA_EV_RX, 7 * S);
  assert_int_equal(ni_ka_last_activity(&k), 7 * S);
  ev(&k, NI_KA_EV_TX, 9 * S);
  assert_int_equal(ni_ka_last_activity(&k), 9 * S);
  ni_ms t = ni_ka_get_expiry(&k);
  assert_int_equal(t, 9 * S + ni_ka_interval(&k));
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_NOOP);
  assert_int_equal(ni_ka_get_status(&k), NI_KA_ST_WAITING);
  assert_int_equal(ni_ka_last_activity(&k), t);
  answered(&k, 0, t + 300);
  assert_int_equal(ni_ka_get_status(&k), NI_KA_ST_UP);
  assert_int_equal(ni_ka_last_activity(&k), t + 300);
  assert_int_equal(event(&k, NI_KA_EV_LOST, 0, t + 1000), 0);
  assert_int_equal(ni_ka_get_status(&k), NI_KA_ST_DOWN);
  assert_int_equal(ni_ka_last_activity(&k), NI_TIME_NEVER);
}

/* A loss for good (login refused...): the session stops until re-init.
 * Nothing is due, every event is refused but a push delay and the loss
 * for good itself; nothing is learned from it, even with a keepalive out;
 * a failed reconnect can report it while down; a group holds a stopped
 * member without trouble. */
static void test_permanent_loss_stops(void **state) {
  (void)state;
  ni_ka k, other;
  ni_ka_group g;
  ni_ka_group_init(&g);
  start_nat(&k, 60 * S, 1, 0);
  start_nat(&other, 60 * S, 1, 0);
  assert_int_equal(ni_ka_group_add(&g, &k), 0);
  assert_int_equal(ni_ka_group_add(&g, &other), 0);
  cycles(&k, 1, 100);
  ni_ms t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  unsigned gen = ni_ka_bracket(&k, NULL, NULL);
  assert_int_equal(event(&k, NI_KA_EV_LOST, 1, t + 100), 0);
  assert_int_equal(ni_ka_get_status(&k), NI_KA_ST_STOPPED);
  assert_int_equal(ni_ka_get_expiry(&k), NI_TIME_NEVER);
  assert_int_equal(ni_ka_handle_expiry(&k, t + 10 * MIN), NI_KA_NONE);
  assert_int_equal(ni_ka_bracket(&k, NULL, NULL), gen);
  ni_ka_stats st;
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.failures, 0);
  assert_int_equal(st.lost, 1);
  for (int type = NI_KA_EV_CONNECTED; type <= NI_KA_EV_PUSH_IN_NOOP; type++)
    assert_int_equal(event(&k, (ni_ka_event_type)type, 0, t + 200), NI_ESTATE);
  assert_int_equal(event(&k, NI_KA_EV_PUSH_DELAY, 0, t + 200), 0);
  assert_int_equal(event(&k, NI_KA_EV_LOST, 1, t + 200), 0);
  assert_int_equal(event(&k, (ni_ka_event_type)99, 0, t + 200), NI_EUSAGE);
  assert_int_equal(ni_ka_get_status(&k), NI_KA_ST_STOPPED);
  assert_int_equal(ni__ka_group_check(&g), 0);
  assert_true(ni_ka_group_get_expiry(&g) == ni_ka_get_expiry(&other));
  /* Re-initialised (the user fixed the password), it runs again. */
  ni_ka_config c;
  ni_ka_config_default(&c);
  assert_int_equal(ni_ka_init(&k, &c), 0);
  assert_int_equal(ni_ka_get_status(&k), NI_KA_ST_DOWN);
  /* A reconnect that fails for good while down. */
  assert_int_equal(event(&k, NI_KA_EV_LOST, 0, t + 300), NI_ESTATE);
  assert_int_equal(event(&k, NI_KA_EV_LOST, 1, t + 300), 0);
  assert_int_equal(ni_ka_get_status(&k), NI_KA_ST_STOPPED);
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.lost, 0); /* no connection was lost */
  assert_int_equal(ni__ka_group_check(&g), 0);
  assert_int_equal(ni_ka_group_remove(&g, &k), 0);
  assert_int_equal(ni_ka_group_remove(&g, &other), 0);
}

/* A zeroed config is every default, learning included; NI_KA_LEARN_OFF
 * turns learning off in any config; adaptive 0 still does in a config from
 * ni_ka_config_default(). */
static void test_zeroed_config_and_learning_off(void **state) {
  (void)state;
  ni_ka k;
  ni_ka_config z, d;
  memset(&z, 0, sizeof z);
  ni_ka_config_default(&d);
  assert_int_equal(ni_ka_init(&k, &z), 0);
  /* The config the session runs on is the default one. */
  assert_int_equal(k.cfg.autologout_ms, d.autologout_ms);
  assert_int_equal(k.cfg.margin_min_ms, d.margin_min_ms);
  assert_int_equal(k.cfg.margin_permille, d.margin_permille);
  assert_int_equal(k.cfg.min_interval_ms, d.min_interval_ms);
  assert_int_equal(k.cfg.start_ms, d.start_ms);
  assert_int_equal(k.cfg.reprobe_ms, d.reprobe_ms);
  assert_int_equal(k.cfg.reply_min_ms, d.reply_min_ms);
  assert_int_equal(k.cfg.reply_max_ms, d.reply_max_ms);
  assert_int_equal(k.cfg.seed, d.seed);
  assert_int_equal(k.cfg.adaptive, 1);
  assert_int_equal(k.cfg.nat_lower_ms, 0);
  assert_int_equal(k.cfg.margin_ms, 0);
  assert_int_equal(k.cfg.max_interval_ms, 0);
  assert_int_equal(k.cfg.coalesce_ms, 0);

  static const struct {
    int zeroed, adaptive, learns;
  } cases[] = {
      {1, 0, 1}, {1, 1, 1}, {1, 7, 1}, {1, NI_KA_LEARN_OFF, 0},
      {0, 0, 0}, {0, 1, 1}, {0, 7, 1}, {0, NI_KA_LEARN_OFF, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ni_ka_config c;
    if (cases[i].zeroed)
      memset(&c, 0, sizeof c);
    else
      ni_ka_config_default(&c);
    c.adaptive = cases[i].adaptive;
    start(&k, &c, 0);
    assert_int_equal(ni_ka_is_probing(&k), cases[i].learns);
    cycles(&k, 3, 100);
    /* Learning grows the interval; without, it stays at start_ms. */
    assert_int_equal(ni_ka_interval(&k) > NI_KA_START_MS, cases[i].learns);
  }
}

/* DONE and the next IDLE written together: the keepalive is answered by
 * the tagged OK of the IDLE that DONE ended, "+ idling" follows in the same
 * read, the re-IDLE clock restarts, and the next keepalive is a re-IDLE.
 * Before the "+" comes, the session is still in IDLE for the scheduler. */
static void test_pipelined_done_idle(void **state) {
  (void)state;
  ni_ka k;
  start_nat(&k, 180 * MIN, 0, 0);
  assert_int_equal(ni_ka_interval(&k), CAP);
  ni_ms t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  ev(&k, NI_KA_EV_TX, t); /* "DONE\r\nB IDLE\r\n" */
  ev(&k, NI_KA_EV_RX, t + 150);
  answered(&k, 0, t + 150);               /* "A OK IDLE terminated" */
  ev(&k, NI_KA_EV_IDLE_ENTERED, t + 150); /* "+ idling" */
  assert_int_equal(ni_ka_get_expiry(&k), t + 150 + CAP);
  /* Traffic keeps the NAT busy; the re-IDLE is still due 29 min on. */
  ev(&k, NI_KA_EV_RX, t + 20 * MIN);
  assert_int_equal(ni_ka_get_expiry(&k), t + 150 + CAP);
  t = ni_ka_get_expiry(&k);
  assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
  answered(&k, 0, t + 150);
  /* No "+" yet: still a re-IDLE, its clock from the answer. */
  assert_int_equal(ni_ka_get_expiry(&k), t + 150 + CAP);
  assert_int_equal(ni_ka_handle_expiry(&k, t + 150 + CAP), NI_KA_REIDLE);
}

/* The bracket's change counter is how a caller learns of a change: it
 * moves whenever the bracket does, over any sequence of events. */
static void test_bracket_counter_follows_changes(void **state) {
  (void)state;
  uint64_t x = 0x2545f4914f6cdd1dull;
  unsigned changes = 0;
  for (int run = 0; run < 50; run++) {
    ni_ka k;
    ni_ka_config c;
    ni_ka_config_default(&c);
    c.seed = (uint64_t)run + 1;
    if (run % 2) c.nat_lower_ms = c.nat_upper_ms = 3 * MIN;
    assert_int_equal(ni_ka_init(&k, &c), 0);
    ni_ms now = 0;
    for (int i = 0; i < 1000; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      now += x % 3 == 0 ? (x >> 8) % (10 * MIN) : (x >> 8) % 5000;
      ni_ms lo0, up0, lo1, up1;
      unsigned gen0 = ni_ka_bracket(&k, &lo0, &up0);
      if (x % 4 == 0) {
        ni_ka_handle_expiry(&k, now);
      } else {
        ni_ka_event e = {.type = (ni_ka_event_type)(1 + (x >> 20) % 12),
                         .rtt_ms = (x >> 30) % 3000,
                         .silent_ms = (x >> 40) % (10 * MIN),
                         .age_ms = (x >> 24) % (2 * MIN),
                         .delay_ms = (x >> 34) % MIN};
        ni_ka_on_event(&k, &e, now);
      }
      unsigned gen1 = ni_ka_bracket(&k, &lo1, &up1);
      if (lo0 != lo1 || up0 != up1) {
        assert_true(gen1 != gen0);
        changes++;
      }
    }
  }
  assert_true(changes > 50);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_and_last_activity),
      cmocka_unit_test(test_permanent_loss_stops),
      cmocka_unit_test(test_zeroed_config_and_learning_off),
      cmocka_unit_test(test_pipelined_done_idle),
      cmocka_unit_test(test_bracket_counter_follows_changes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
