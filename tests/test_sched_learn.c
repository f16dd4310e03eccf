/*
 * Tests of online learning on the simulated NAT (keepalive/sim.c): natidle
 * from nothing against the WeChat-style linear climb and the FairEmail-style
 * downward-only tuner, over a grid of NAT timeouts from 30 s to 2 h.  Each
 * run is 20 simulated hours (less than the first daily re-probe, so that
 * "settled" means what it says); "settled" = no failure and every keepalive
 * silence inside the band [0.7 C, C) during the last 8 hours, where
 * C = min(T, 29 min) (exactly C when T is above the cap).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "keepalive/sim.h"
#include "natidle/keepalive.h"

#include "sched_helpers.h"

#define S 1000ull
#define MIN (60 * S)
#define HOUR (60 * MIN)
#define CAP (29 * MIN)
#define DURATION (20 * HOUR)
#define SETTLED_BY (12 * HOUR)
#define NGRID 60

static ni_ms grid(int i) {
  /* Log-spaced from 30 s to 2 h, so short and long timeouts weigh alike. */
  return (ni_ms)(30000.0 * pow(7200.0 / 30.0, i / (double)(NGRID - 1)));
}

static void run(ni__sim_policy p, ni_ms T, ni__sim_result *r) {
  ni__sim_config c;
  ni__sim_config_default(&c, T);
  c.duration_ms = DURATION;
  c.policy = p;
  assert_int_equal(ni__sim_run(&c, r), 0);
}

static int settled(const ni__sim_result *r) {
  return r->last_bad_ms < SETTLED_BY;
}

/* From nothing, natidle settles in [0.7 T, T) for every T from 30 s to 2 h
 * (at the cap above 29 min), within O(log) failures and a few hours. */
static void test_adaptive_settles(void **state) {
  (void)state;
  for (int i = 0; i < NGRID; i++) {
    ni_ms T = grid(i), C = T < CAP ? T : CAP;
    ni__sim_result r;
    run(NI_SIM_NATIDLE, T, &r);
    if (!settled(&r))
      fail_msg("T=%llu ms: not settled (last bad keepalive at %llu ms)", (unsigned long long)T,
               (unsigned long long)r.last_bad_ms);
    assert_true(r.final_interval_ms * 10 >= C * 7);
    assert_true(T > CAP ? r.final_interval_ms <= CAP : r.final_interval_ms < T);
    /* 8 growth probes reach the cap without a failure; bisecting a bracket
     * (L, 1.5 L] down to L/16 takes 3 more probes: the first overshoot plus
     * at most 4, with one more for a bound hit exactly. */
    assert_in_range(r.all.failures, 0, 6);
    assert_true(r.last_bad_ms < 3 * HOUR);
    /* Once settled it costs close to the minimum (the bench's goal). */
    assert_true((double)r.after.wakeups <= 1.30 * ni__sim_min_wakeups(r.span_ms, T, r.cap_ms));
  }
}

/* Where the baselines cannot settle at all, they never do: WeChat-style
 * below its 4.5-min floor (every keepalive fails) and above 14 min 50 s /
 * 0.7 (stuck below the band); FairEmail-style below its 9-min floor and
 * above 15 min / 0.7. */
static void test_baselines_never_settle_outside_their_range(void **state) {
  (void)state;
  for (int i = 0; i < NGRID; i++) {
    ni_ms T = grid(i);
    ni__sim_result w, f;
    run(NI_SIM_WECHAT, T, &w);
    run(NI_SIM_FAIREMAIL, T, &f);
    if (T < NI_SIM_WECHAT_START_MS) {
      assert_false(settled(&w));
      assert_true(w.all.failures * 4 >= w.all.keepalives * 3); /* fails on and on */
    }
    if (T * 7 > NI_SIM_WECHAT_MAX_MS * 10) {
      assert_false(settled(&w));
      assert_int_equal(w.final_interval_ms, NI_SIM_WECHAT_MAX_MS);
    }
    if (T < NI_SIM_FAIREMAIL_MIN_MS) {
      assert_false(settled(&f));
      assert_true(f.all.failures * 4 >= f.all.keepalives * 3);
    }
    if (T * 7 > NI_SIM_FAIREMAIL_START_MS * 10) assert_false(settled(&f));
  }
}

/* Against the downward-only tuner: where it settles, natidle needs fewer
 * failures in the worst case and in total over the grid, and never more
 * whenever FairEmail had to step down from its start. */
static void test_fewer_failures_than_fairemail(void **state) {
  (void)state;
  uint64_t nat_total = 0, fe_total = 0, nat_max = 0, fe_max = 0;
  int n = 0;
  for (int i = 0; i < NGRID; i++) {
    ni_ms T = grid(i);
    ni__sim_result a, f;
    run(NI_SIM_FAIREMAIL, T, &f);
    if (!settled(&f)) continue;
    run(NI_SIM_NATIDLE, T, &a);
    n++;
    nat_total += a.all.failures;
    fe_total += f.all.failures;
    nat_max = a.all.failures > nat_max ? a.all.failures : nat_max;
    fe_max = f.all.failures > fe_max ? f.all.failures : fe_max;
    if (f.final_interval_ms < NI_SIM_FAIREMAIL_START_MS)
      assert_true(a.all.failures <= f.all.failures);
  }
  print_message("FairEmail-style settles for %d of %d timeouts; failures there: natidle %llu "
                "(max %llu), FairEmail-style %llu (max %llu)\n",
                n, NGRID, (unsigned long long)nat_total, (unsigned long long)nat_max,
                (unsigned long long)fe_total, (unsigned long long)fe_max);
  assert_true(n > 0);
  assert_true(nat_max < fe_max);
  assert_true(nat_total < fe_total);
}

/* Against the linear climb: it settles with at most one failure (60-s
 * steps cannot overshoot by more than one step), a count no search that
 * converges in O(log) probes can beat, so the comparison is on what the
 * single failure costs it: hours of climbing.  natidle settles sooner in
 * total over the timeouts where WeChat-style settles, and is never more
 * than a few failures above it. */
static void test_settles_sooner_than_wechat(void **state) {
  (void)state;
  ni_ms nat_time = 0, wc_time = 0;
  int n = 0;
  for (int i = 0; i < NGRID; i++) {
    ni_ms T = grid(i);
    ni__sim_result a, w;
    run(NI_SIM_WECHAT, T, &w);
    if (!settled(&w)) continue;
    run(NI_SIM_NATIDLE, T, &a);
    n++;
    assert_true(w.all.failures <= 1);
    assert_true(a.all.failures <= w.all.failures + 4);
    nat_time += a.last_bad_ms;
    wc_time += w.last_bad_ms;
  }
  print_message("WeChat-style settles for %d of %d timeouts; time to settle there: natidle "
                "%.1f h in total, WeChat-style %.1f h\n",
                n, NGRID, (double)nat_time / HOUR, (double)wc_time / HOUR);
  assert_true(n > 0);
  assert_true(nat_time * 2 < wc_time);
}

/* A path that loses 2 % of keepalive answers at random (the mapping being
 * fine): a stray loss must not throw away what was learned, so from the
 * second day on natidle stays close to the minimum; the reconnects after
 * the losses count as wakeups. */
static void test_adaptive_on_lossy_path(void **state) {
  (void)state;
  double sum = 0, worst = 0;
  for (int i = 0; i < NGRID; i += 2) {
    ni_ms T = grid(i);
    ni__sim_config c;
    ni__sim_result r;
    ni__sim_config_default(&c, T);
    c.duration_ms = 7 * 24 * HOUR;
    c.after_ms = 24 * HOUR;
    c.loss_permille = 20;
    c.loss_seed = (uint64_t)i + 7;
    assert_int_equal(ni__sim_run(&c, &r), 0);
    double ratio = (double)r.after.wakeups / ni__sim_min_wakeups(r.span_ms, T, r.cap_ms);
    sum += ratio;
    worst = ratio > worst ? ratio : worst;
    /* Broken push stays rare: the cadence is not pushed above T by noise. */
    assert_true(r.after.broken_ms < 6 * 5 * MIN);
  }
  double mean = sum / (NGRID / 2);
  print_message("2 %% random loss, days 2-7: wakeups %.2fx the minimum on average, %.2fx at "
                "worst\n",
                mean, worst);
  assert_true(mean < 1.25);
  assert_true(worst < 1.60);
}

/* The simulation itself: a fixed cadence below T never fails, one above T
 * fails every time, and the broken time is what the model says. */
static void test_sim_model(void **state) {
  (void)state;
  ni__sim_config c;
  ni__sim_result r;
  ni__sim_config_default(&c, 5 * MIN);
  c.policy = NI_SIM_FIXED;
  c.fixed_ms = 4 * MIN;
  assert_int_equal(ni__sim_run(&c, &r), 0);
  assert_int_equal(r.all.failures, 0);
  assert_int_equal(r.all.broken_ms, 0);
  /* 24 h / (4 min + 200 ms answer) keepalives. */
  assert_int_equal(r.all.keepalives, (24 * HOUR) / (4 * MIN + 200));

  c.fixed_ms = 6 * MIN;
  assert_int_equal(ni__sim_run(&c, &r), 0);
  assert_int_equal(r.all.failures, r.all.keepalives);
  /* Each cycle: 5 min alive, then broken from 5 min to 6 min + 10 s reply
   * wait + 2 s reconnect; a wakeup for the keepalive and the reconnect. */
  assert_int_equal(r.all.wakeups, 2 * r.all.keepalives);
  ni_ms cycle = 6 * MIN + 12 * S;
  assert_true(r.all.broken_ms >= (24 * HOUR / cycle) * (MIN + 12 * S));

  c.fixed_ms = 0;
  assert_int_equal(ni__sim_run(&c, &r), NI_EUSAGE);
  assert_int_equal(ni__sim_run(NULL, &r), NI_EUSAGE);
}

/* Same inputs, same outputs: nothing random, nothing read from a clock. */
static void test_sim_deterministic(void **state) {
  (void)state;
  ni__sim_config c;
  ni__sim_result a, b;
  ni__sim_config_default(&c, 14 * MIN);
  assert_int_equal(ni__sim_run(&c, &a), 0);
  assert_int_equal(ni__sim_run(&c, &b), 0);
  assert_memory_equal(&a, &b, sizeof(a));
}

/* The baseline tuners follow their published rules. */
static void test_tuners(void **state) {
  (void)state;
  ni__sim_tuner t;
  assert_int_equal(ni__sim_tuner_init(&t, NI_SIM_NATIDLE, 0), NI_EUSAGE);
  assert_int_equal(ni__sim_tuner_init(&t, NI_SIM_WECHAT, 0), 0);
  assert_int_equal(ni__sim_tuner_interval(&t), 270 * S);
  for (int i = 0; i < 3; i++)
    ni__sim_tuner_report(&t, 1);
  assert_int_equal(ni__sim_tuner_interval(&t), 330 * S);
  ni__sim_tuner_report(&t, 0);
  assert_int_equal(ni__sim_tuner_interval(&t), 270 * S); /* 250 s, floored */
  for (int i = 0; i < 30; i++)
    ni__sim_tuner_report(&t, 1);
  assert_int_equal(ni__sim_tuner_interval(&t), 270 * S); /* settled */

  assert_int_equal(ni__sim_tuner_init(&t, NI_SIM_FAIREMAIL, 0), 0);
  assert_int_equal(ni__sim_tuner_interval(&t), 15 * MIN);
  ni__sim_tuner_report(&t, 0);
  ni__sim_tuner_report(&t, 0);
  assert_int_equal(ni__sim_tuner_interval(&t), 15 * MIN);
  ni__sim_tuner_report(&t, 0);
  assert_int_equal(ni__sim_tuner_interval(&t), 13 * MIN);
  for (int i = 0; i < 30; i++)
    ni__sim_tuner_report(&t, 0);
  assert_int_equal(ni__sim_tuner_interval(&t), 9 * MIN);
  for (int i = 0; i < 3; i++)
    ni__sim_tuner_report(&t, 1);
  for (int i = 0; i < 9; i++)
    ni__sim_tuner_report(&t, 0);
  assert_int_equal(ni__sim_tuner_interval(&t), 9 * MIN); /* stopped tuning */
}

/* A rebind (a phone changing cell, a carrier NAT that rebinds) loses the
 * mapping in the middle of a silence, so the next keepalive at a learned
 * steady cadence goes unanswered.  That is no shorter timeout: the bracket
 * stays, the reconnected session tries the same silence again, its answer
 * clears the strike, and the next rebind is again only a strike.  (The
 * bracket is given as a --state file gives it: learned, still adaptive.) */
static void test_rebind_teaches_nothing(void **state) {
  (void)state;
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = 15500;
  c.nat_upper_ms = 16300;
  c.adaptive = 1;
  ni_ka k;
  start(&k, &c, 0);
  assert_false(ni_ka_is_probing(&k));
  ni_ms t = cycles(&k, 3, 200), iv = ni_ka_interval(&k), lo, up;
  assert_int_equal(iv, 15500 - 2 * S);
  for (int rebind = 0; rebind < 3; rebind++) {
    t = ni_ka_get_expiry(&k);
    assert_int_equal(ni_ka_handle_expiry(&k, t), NI_KA_REIDLE);
    ni_ms dead = ni_ka_get_expiry(&k);
    assert_int_equal(ni_ka_handle_expiry(&k, dead), NI_KA_DEAD);
    ev(&k, NI_KA_EV_CONNECTED, dead + 2 * S);
    ev(&k, NI_KA_EV_IDLE_ENTERED, dead + 2 * S);
    ni_ka_bracket(&k, &lo, &up);
    assert_int_equal(lo, 15500);
    assert_int_equal(up, 16300);
    assert_int_equal(ni_ka_interval(&k), iv); /* the same silence again */
    cycles(&k, 2, 200);
    assert_int_equal(ni_ka_interval(&k), iv);
  }
  ni_ka_stats st;
  ni_ka_get_stats(&k, &st);
  assert_int_equal(st.failures, 3);
}

/* Learning from nothing with no NAT at all, when an address change kills
 * the first probe (60 s): the lost probe is believed (confirming every
 * kill would cost one more lost probe, and hours of settling, on every
 * real NAT), so learning settles below it: more keepalives than needed,
 * never a lost push.  The daily re-probe above the bracket survives,
 * clears the kill, and learning grows past it again within about a day. */
static void test_rebind_while_learning(void **state) {
  (void)state;
  ni_ka_config c;
  ni_ka_config_default(&c);
  ni_ka k;
  start(&k, &c, 0);
  ni_ms t = ni_ka_get_expiry(&k), lo, up, first = ni_ka_interval(&k);
  assert_true(ni_ka_is_probing(&k));
  assert_int_not_equal(ni_ka_handle_expiry(&k, t), NI_KA_NONE);
  t = verdict(&k); /* the rebind: no answer */
  ev(&k, NI_KA_EV_CONNECTED, t + 2 * S);
  ev(&k, NI_KA_EV_IDLE_ENTERED, t + 2 * S);
  ni_ka_bracket(&k, &lo, &up);
  assert_true(up >= first && up < first + 2 * S);
  int grown = 0;
  for (int i = 0; i < 3000 && !grown; i++) {
    /* below the kill all along, but for the re-probe above it */
    assert_true(ni_ka_interval(&k) < first || up == 0 || ni_ka_is_probing(&k));
    t = cycles(&k, 1, 200); /* no NAT: every keepalive is answered */
    ni_ka_bracket(&k, &lo, &up);
    grown = up == 0 && ni_ka_interval(&k) > first;
  }
  assert_true(grown);
  print_message("a kill by an address change cleared after %.1f h\n", (double)t / HOUR);
  assert_true(t < c.reprobe_ms + c.reprobe_ms / 5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_adaptive_settles),
      cmocka_unit_test(test_baselines_never_settle_outside_their_range),
      cmocka_unit_test(test_fewer_failures_than_fairemail),
      cmocka_unit_test(test_settles_sooner_than_wechat),
      cmocka_unit_test(test_adaptive_on_lossy_path),
      cmocka_unit_test(test_sim_model),
      cmocka_unit_test(test_sim_deterministic),
      cmocka_unit_test(test_tuners),
      cmocka_unit_test(test_rebind_teaches_nothing),
      cmocka_unit_test(test_rebind_while_learning),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
