/*
 * tests/test_search.c - the probe's search, driven directly and through the
 * simulated prober (probe/natsim).  Simulated time only: nothing sleeps.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/prng.h"
#include "probe/natsim.h"
#include "probe/search.h"

#define SEC(x) ((ni_ms)((x)*1000.0))

static const double table_T[] = {3, 4.5, 10, 37.2, 60, 300, 1000, 7000};

typedef struct {
  ni_search_cfg sc;
  ni_natsim_cfg nc;
  ni_natsim_result r;
  double resolution;
} sim_run;

static void sim_setup(sim_run *x, double T, unsigned K, ni_strategy st, uint64_t seed) {
  memset(x, 0, sizeof *x);
  ni__search_cfg_default(&x->sc);
  x->sc.sessions = K;
  x->sc.strategy = st;
  ni__natsim_cfg_default(&x->nc);
  x->nc.nat_timeout_s = T;
  x->nc.seed = seed;
  x->sc.detect_s = x->nc.detect_s;
}

/* Run the simulation on a fresh search; the search is freed afterwards. */
static void sim_go(sim_run *x) {
  ni_search *s = ni__search_new(&x->sc);
  assert_non_null(s);
  assert_int_equal(ni__natsim_run(&x->nc, s, x->sc.sessions, &x->r), 0);
  x->resolution = ni__search_resolution(s);
  ni__search_free(s);
}

/* The bracket holds T, is as narrow as asked, and no target ever went
 * below a session's silence. */
static void assert_measured(const sim_run *x) {
  double T = x->nc.nat_timeout_s;
  if (x->r.verdict != NI_VERDICT_MEASURED || !(x->r.lower_s < T && T <= x->r.upper_s) ||
      !(x->r.upper_s - x->r.lower_s <= x->resolution + 1e-9))
    fprintf(stderr, "T=%g K=%u %s seed=%llu: %s (%g, %g]\n", T, x->sc.sessions,
            ni__strategy_name(x->sc.strategy), (unsigned long long)x->nc.seed,
            ni__verdict_name(x->r.verdict), x->r.lower_s, x->r.upper_s);
  assert_int_equal(x->r.verdict, NI_VERDICT_MEASURED);
  assert_true(x->r.lower_s < T);
  assert_true(T <= x->r.upper_s);
  assert_true(x->r.upper_s - x->r.lower_s <= x->resolution + 1e-9);
  assert_int_equal(x->r.target_below_silence, 0);
}

/* ---- names and configuration -------------------------------------------- */

static void t_names_and_cfg(void **st) {
  (void)st;
  ni_strategy s = NI_STRAT_GRID;
  assert_int_equal(ni__strategy_parse("adaptive", &s), 0);
  assert_int_equal(s, NI_STRAT_ADAPTIVE);
  assert_int_equal(ni__strategy_parse("bisect", &s), 0);
  assert_int_equal(s, NI_STRAT_BISECT);
  assert_int_equal(ni__strategy_parse("grid", &s), 0);
  assert_int_equal(s, NI_STRAT_GRID);
  assert_int_equal(ni__strategy_parse("Grid", &s), NI_EUSAGE);
  assert_int_equal(ni__strategy_parse("", &s), NI_EUSAGE);
  assert_int_equal(ni__strategy_parse(NULL, &s), NI_EUSAGE);
  assert_int_equal(s, NI_STRAT_GRID);
  assert_string_equal(ni__strategy_name(NI_STRAT_BISECT), "bisect");
  assert_string_equal(ni__verdict_name(NI_VERDICT_MEASURED), "measured");
  assert_string_equal(ni__verdict_name(NI_VERDICT_ABOVE_MAX), "above_max");
  assert_string_equal(ni__verdict_name(NI_VERDICT_MASKED), "masked_by_server");
  assert_string_equal(ni__verdict_name(NI_VERDICT_INCONCLUSIVE), "inconclusive");
  assert_string_equal(ni__verdict_name(NI_VERDICT_NO_PUSH), "no_push");

  ni_search_cfg c;
  const char *why = NULL;
  ni__search_cfg_default(&c);
  assert_int_equal(ni__search_cfg_check(&c, &why), 0);
  assert_null(why);
  assert_true(c.min_s == 2 && c.max_s == 7440 && c.sessions == 8 && c.resolution_s == 0);
  c.max_s = 1;
  assert_int_equal(ni__search_cfg_check(&c, &why), NI_EUSAGE);
  assert_non_null(why);
  assert_null(ni__search_new(&c));
  ni__search_cfg_default(&c);
  c.sessions = 0;
  assert_int_equal(ni__search_cfg_check(&c, NULL), NI_EUSAGE);
  ni__search_cfg_default(&c);
  c.strategy = NI_STRAT_GRID;
  c.grid_step_s = 0.01;
  assert_int_equal(ni__search_cfg_check(&c, NULL), NI_EUSAGE);
  c.grid_step_s = 0;
  assert_int_equal(ni__search_cfg_check(&c, NULL), 0);
  ni__search_cfg_default(&c);
  c.resolution_s = NAN;
  assert_int_equal(ni__search_cfg_check(&c, NULL), NI_EUSAGE);
  ni__search_free(NULL);
}

/* ---- the goal table ------------------------------------------------------ */

static void t_adaptive_k8(void **st) {
  (void)st;
  for (size_t k = 0; k < sizeof table_T / sizeof table_T[0]; k++) {
    double T = table_T[k];
    double worst = 0;
    for (uint64_t seed = 1; seed <= 4; seed++) {
      sim_run x;
      sim_setup(&x, T, 8, NI_STRAT_ADAPTIVE, seed);
      sim_go(&x);
      assert_measured(&x);
      /* The goal is 2.5 T + 30 s (the benchmark states it); the test
       * allows slack so that it fails on a real regression only. */
      assert_true(x.r.wall_s <= 4 * T + 60);
      /* Floor: one session must stay silent past T. */
      assert_true(x.r.wall_s >= T);
      worst = fmax(worst, x.r.wall_s);
    }
    printf("# adaptive K=8 T=%7.1f s: worst wall %8.1f s = %.2f T (goal 2.5 T + 30 s: %.0f %%)\n",
           T, worst, worst / T, 100 * worst / (2.5 * T + 30));
  }
}

static void t_adaptive_few_sessions(void **st) {
  (void)st;
  for (unsigned K = 1; K <= 2; K++) {
    for (size_t k = 0; k < sizeof table_T / sizeof table_T[0]; k++) {
      sim_run x;
      sim_setup(&x, table_T[k], K, NI_STRAT_ADAPTIVE, 3);
      sim_go(&x);
      assert_measured(&x);
      /* Fewer sessions climb longer; still far from the baselines. */
      assert_true(x.r.wall_s <= 16 * table_T[k] + 200);
      if (K == 1) assert_true(x.r.max_armed <= 1);
    }
  }
}

/* ---- stop conditions ----------------------------------------------------- */

static void t_above_max(void **st) {
  (void)st;
  sim_run x;
  sim_setup(&x, 500, 8, NI_STRAT_ADAPTIVE, 1);
  x.sc.max_s = 300;
  sim_go(&x);
  assert_int_equal(x.r.verdict, NI_VERDICT_ABOVE_MAX);
  assert_true(x.r.lower_s >= 300);
  assert_true(isinf(x.r.upper_s));
  assert_int_equal(x.r.deaths, 0);
  /* Reaching max takes about max, not the whole ladder several times. */
  assert_true(x.r.wall_s <= 2.5 * 300 + 30);

  /* Just below max is still measured. */
  sim_setup(&x, 290, 8, NI_STRAT_ADAPTIVE, 2);
  x.sc.max_s = 300;
  sim_go(&x);
  assert_measured(&x);
}

/* A check aimed at max whose push came back a few milliseconds short of it
 * (a fast server, a timer rounded down) reaches max: no second check there. */
static void t_above_max_a_hair_short(void **st) {
  (void)st;
  ni_search_cfg c;
  ni__search_cfg_default(&c);
  c.min_s = 2;
  c.max_s = 8;
  c.sessions = 1;
  ni_search *s = ni__search_new(&c);
  assert_non_null(s);
  ni_ms now = 1000;
  /* Climb to max, each check alive 3 ms short of its target. */
  for (int i = 0; i < 20 && ni__search_verdict(s) == NI_VERDICT_RUNNING; i++) {
    double t = ni__search_arm(s, 0, now, now);
    assert_true(t > 0);
    now += (ni_ms)(t * 1000.0);
    ni__search_result(s, 0, t - 0.003, NI_OBS_ALIVE, now);
    now += 100;
  }
  assert_int_equal(ni__search_verdict(s), NI_VERDICT_ABOVE_MAX);
  double lo = 0;
  ni__search_bracket(s, &lo, NULL);
  assert_true(lo > 8.0 - NI_SEARCH_REACH_S && lo < 8.0);
  ni__search_free(s);
}

/* Nothing below min is checked: a NAT faster than that is bracketed as
 * (0, about min], at once. */
static void t_below_min(void **st) {
  (void)st;
  static const double Ts[] = {0.5, 1.5, 2.0};
  for (size_t k = 0; k < sizeof Ts / sizeof Ts[0]; k++) {
    for (unsigned K = 1; K <= 8; K += 7) {
      sim_run x;
      sim_setup(&x, Ts[k], K, NI_STRAT_ADAPTIVE, k + 1);
      sim_go(&x);
      assert_int_equal(x.r.verdict, NI_VERDICT_MEASURED);
      assert_true(x.r.lower_s < Ts[k] && Ts[k] <= x.r.upper_s);
      assert_true(x.r.upper_s <= 2 + 0.5);
      assert_true(x.r.wall_s < 30);
    }
  }
}

static void t_masked_by_server(void **st) {
  (void)st;
  static const struct { double T, S; } cases[] = {{300, 120}, {100, 90}, {7000, 120}, {40, 30}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    sim_run x;
    sim_setup(&x, cases[k].T, 8, NI_STRAT_ADAPTIVE, k + 1);
    x.nc.server_keepalive_s = cases[k].S;
    sim_go(&x);
    assert_int_equal(x.r.verdict, NI_VERDICT_MASKED);
    /* No wrong bracket: nothing claims a death below T. */
    assert_true(x.r.lower_s < cases[k].T);
    assert_true(isinf(x.r.upper_s) || x.r.upper_s >= cases[k].T);
    assert_true(x.r.lower_s <= cases[k].S);
    assert_true(x.r.voids >= 1);
    assert_int_equal(x.r.target_below_silence, 0);
    assert_true(x.r.wall_s <= 4 * cases[k].S + 60);
  }
  /* A server keepalive slower than the NAT dies in the expired mapping and
   * changes nothing. */
  sim_run x;
  sim_setup(&x, 60, 8, NI_STRAT_ADAPTIVE, 9);
  x.nc.server_keepalive_s = 120;
  sim_go(&x);
  assert_measured(&x);
}

static void t_stop_and_limits(void **st) {
  (void)st;
  ni_search_cfg c;
  ni__search_cfg_default(&c);
  ni_search *s = ni__search_new(&c);
  assert_non_null(s);
  ni__search_observe(s, 30, NI_OBS_ALIVE);
  ni__search_observe(s, 60, NI_OBS_DEAD);
  assert_int_equal(ni__search_verdict(s), NI_VERDICT_RUNNING);
  ni__search_stop(s);
  assert_int_equal(ni__search_verdict(s), NI_VERDICT_INCONCLUSIVE);
  assert_true(ni__search_arm(s, 0, 0, 0) == 0);
  ni__search_free(s);

  s = ni__search_new(&c);
  ni__search_observe(s, 59.5, NI_OBS_ALIVE);
  ni__search_observe(s, 60, NI_OBS_DEAD);
  /* Narrow enough, but one death may be a lost EXISTS: not yet. */
  assert_int_equal(ni__search_verdict(s), NI_VERDICT_RUNNING);
  ni__search_observe(s, 60.1, NI_OBS_DEAD);
  assert_int_equal(ni__search_verdict(s), NI_VERDICT_MEASURED);
  assert_true(fabs(ni__search_estimate(s) - 59.75) < 1e-9);
  assert_true(ni__search_eta_s(s, 0) == 0);
  ni__search_free(s);

  /* No sessions left at all: nothing to measure with. */
  s = ni__search_new(&c);
  ni__search_lower_sessions(s, 0);
  assert_int_equal(ni__search_verdict(s), NI_VERDICT_INCONCLUSIVE);
  ni__search_free(s);

  /* A fixed resolution is honoured. */
  c.resolution_s = 5;
  c.confirm = 1;
  s = ni__search_new(&c);
  ni__search_observe(s, 100, NI_OBS_ALIVE);
  ni__search_observe(s, 106, NI_OBS_DEAD);
  assert_int_equal(ni__search_verdict(s), NI_VERDICT_RUNNING);
  assert_true(ni__search_resolution(s) == 5);
  assert_true(ni__search_eta_s(s, 0) > 0);
  ni__search_observe(s, 104, NI_OBS_DEAD);
  assert_int_equal(ni__search_verdict(s), NI_VERDICT_MEASURED);
  ni__search_free(s);
}

/* The engine learns during a run that its checks cannot tell silences
 * apart closer than some blur: the resolution only ever grows to it, and a
 * bracket that narrow ends the search (confirmed, as always); once the
 * search is over, nothing changes. */
void ni__search_set_resolution(ni_search *s, double resolution_s);
static void t_learnt_resolution(void **st) {
  (void)st;
  ni_search_cfg c;
  ni__search_cfg_default(&c);
  ni_search *s = ni__search_new(&c);
  ni__search_observe(s, 30.5, NI_OBS_ALIVE);
  ni__search_observe(s, 33.4, NI_OBS_DEAD);
  assert_true(ni__search_resolution(s) == 1);
  ni__search_set_resolution(s, 3.5);
  assert_true(ni__search_resolution(s) == 3.5);
  ni__search_set_resolution(s, 2); /* never finer again */
  assert_true(ni__search_resolution(s) == 3.5);
  /* Narrow enough, but one death is not trusted; a second one within half
   * the learnt resolution above U (where a check aimed at U lands) is. */
  assert_int_equal(ni__search_verdict(s), NI_VERDICT_RUNNING);
  ni__search_observe(s, 35.2, NI_OBS_DEAD);
  assert_int_equal(ni__search_verdict(s), NI_VERDICT_RUNNING);
  ni__search_observe(s, 35.0, NI_OBS_DEAD);
  assert_int_equal(ni__search_verdict(s), NI_VERDICT_MEASURED);
  ni__search_set_resolution(s, 10);
  assert_true(ni__search_resolution(s) == 3.5);
  ni__search_free(s);
}

/* ---- observations -------------------------------------------------------- */

/* A lost EXISTS looks like a death.  With confirm = 2 the search checks U
 * again before trusting it: a second death confirms, a survival reopens
 * the bracket. */
static void t_confirm(void **st) {
  (void)st;
  ni_search_cfg c;
  double lo, hi;
  ni__search_cfg_default(&c);
  assert_int_equal(c.confirm, 2);
  ni_search *s = ni__search_new(&c);
  ni__search_observe(s, 99.5, NI_OBS_ALIVE);
  ni__search_observe(s, 100, NI_OBS_DEAD);
  assert_int_equal(ni__search_verdict(s), NI_VERDICT_RUNNING);
  /* Silences 60 and 30: the one that gets to U first checks U. */
  assert_true(ni__search_arm(s, 0, SEC(40), SEC(100)) > 0);
  assert_true(ni__search_arm(s, 1, SEC(70), SEC(100)) > 0);
  assert_true(ni__search_target(s, 0, SEC(100)) == 100);
  assert_true(ni__search_target(s, 1, SEC(100)) < 100);
  /* It survives: the death at 100 was not the NAT. */
  ni__search_result(s, 0, 100.01, NI_OBS_ALIVE, SEC(140.01));
  ni__search_bracket(s, &lo, &hi);
  assert_true(lo == 100.01 && isinf(hi));
  assert_int_equal(ni__search_contradictions(s), 1);
  assert_int_equal(ni__search_verdict(s), NI_VERDICT_RUNNING);
  ni__search_free(s);

  /* With 3 % of live checks looking dead, confirmation keeps wrong
   * brackets rare; trusting single deaths does not. */
  unsigned wrong[2] = {0, 0};
  for (unsigned conf = 1; conf <= 2; conf++) {
    for (int k = 0; k < 60; k++) {
      sim_run x;
      double T = 3 * pow(3000 / 3.0, k / 59.0);
      sim_setup(&x, T, 8, NI_STRAT_ADAPTIVE, 100 + k);
      x.sc.confirm = conf;
      x.nc.false_dead = 0.03;
      sim_go(&x);
      assert_int_equal(x.r.target_below_silence, 0);
      if (x.r.verdict != NI_VERDICT_MEASURED || !(x.r.lower_s < T && T <= x.r.upper_s))
        wrong[conf - 1]++;
    }
  }
  printf("# 3 %% false deaths, 60 runs: wrong or no bracket %u with confirm 1, %u with 2\n",
         wrong[0], wrong[1]);
  assert_true(wrong[1] * 3 <= wrong[0]);
}

static void t_void_does_not_move(void **st) {
  (void)st;
  ni_search_cfg c;
  double lo, hi;
  ni__search_cfg_default(&c);
  ni_search *s = ni__search_new(&c);
  ni__search_bracket(s, &lo, &hi);
  assert_true(lo == 0 && isinf(hi));
  assert_true(ni__search_eta_s(s, 0) < 0);
  ni__search_observe(s, 10, NI_OBS_ALIVE);
  ni__search_observe(s, 40, NI_OBS_DEAD);
  assert_int_equal(ni__search_checks(s), 2);
  ni__search_observe(s, 20, NI_OBS_VOID);
  ni__search_observe(s, 50, NI_OBS_VOID);
  ni__search_observe(s, 5, NI_OBS_VOID);
  assert_true(ni__search_arm(s, 0, SEC(100), SEC(100)) > 10);
  ni__search_result(s, 0, 30, NI_OBS_VOID, SEC(130));
  ni__search_bracket(s, &lo, &hi);
  assert_true(lo == 10 && hi == 40);
  assert_int_equal(ni__search_checks(s), 2);
  assert_true(ni__search_target(s, 0, SEC(130)) == 0); /* a result disarms */
  /* Nonsense silences are ignored too. */
  ni__search_observe(s, NAN, NI_OBS_DEAD);
  ni__search_observe(s, -3, NI_OBS_ALIVE);
  ni__search_bracket(s, &lo, &hi);
  assert_true(lo == 10 && hi == 40);
  ni__search_free(s);

  /* Every third check void (the control connection keeps breaking): the
   * run takes longer but ends with the right bracket. */
  sim_run x;
  sim_setup(&x, 60, 8, NI_STRAT_ADAPTIVE, 5);
  x.nc.void_every = 3;
  sim_go(&x);
  assert_measured(&x);
  /* checks counts the checks started; up to one per session may still be
   * in flight when the run ends, their outcome never recorded. */
  assert_true(x.r.voids >= (x.r.checks - 8) / 3);
  assert_true(x.r.voids <= x.r.checks / 3);
}

static void t_contradiction(void **st) {
  (void)st;
  ni_search_cfg c;
  double lo, hi;
  ni__search_cfg_default(&c);
  ni_search *s = ni__search_new(&c);
  ni__search_observe(s, 20, NI_OBS_ALIVE);
  ni__search_observe(s, 50, NI_OBS_DEAD);
  ni__search_observe(s, 30, NI_OBS_DEAD);
  ni__search_bracket(s, &lo, &hi);
  assert_true(lo == 20 && hi == 30);
  /* A survival above U: the death at 30 was noise, the one at 50 stands. */
  ni__search_observe(s, 35, NI_OBS_ALIVE);
  ni__search_bracket(s, &lo, &hi);
  assert_true(lo == 35 && hi == 50);
  assert_int_equal(ni__search_contradictions(s), 1);
  /* A death below L changes nothing but is counted. */
  ni__search_observe(s, 25, NI_OBS_DEAD);
  ni__search_bracket(s, &lo, &hi);
  assert_true(lo == 35 && hi == 50);
  assert_int_equal(ni__search_contradictions(s), 2);
  ni__search_free(s);
}

/* ---- targets ------------------------------------------------------------- */

/* Arm K sessions at staggered times, feed results that move the bracket
 * both ways, and check every target against every session's silence. */
static void t_targets_never_below_silence(void **st) {
  (void)st;
  for (int strat = NI_STRAT_ADAPTIVE; strat <= NI_STRAT_BISECT; strat++) {
    ni_search_cfg c;
    ni__search_cfg_default(&c);
    c.strategy = (ni_strategy)strat;
    ni_search *s = ni__search_new(&c);
    ni_ms since[8];
    int armed[8] = {0};
    for (unsigned i = 0; i < 8; i++) {
      since[i] = SEC(7 * i);
      armed[i] = ni__search_arm(s, i, since[i], SEC(7 * i)) > 0;
    }
    ni_ms now = SEC(60);
    static const struct {
      double x;
      ni_obs o;
    } feed[] = {{30, NI_OBS_ALIVE}, {55, NI_OBS_DEAD},  {40, NI_OBS_ALIVE}, {47, NI_OBS_DEAD},
                {44, NI_OBS_VOID},  {43, NI_OBS_ALIVE}, {46, NI_OBS_DEAD}};
    for (size_t k = 0; k < sizeof feed / sizeof feed[0]; k++) {
      unsigned who = 8;
      for (unsigned i = 0; i < 8 && who == 8; i++)
        if (armed[i]) who = i;
      if (who < 8) {
        ni__search_result(s, who, feed[k].x, feed[k].o, now);
        armed[who] = 0;
      } else {
        ni__search_observe(s, feed[k].x, feed[k].o);
      }
      for (unsigned i = 0; i < 8; i++) {
        if (!armed[i]) continue;
        double t = ni__search_target(s, i, now);
        double sil = (double)(now - since[i]) / 1000.0;
        assert_true(t == 0 || t >= sil - 1e-9);
      }
      now += SEC(3);
    }
    ni__search_free(s);
  }
}

/* The ladder spreads the first targets, and a death pulls every target
 * that has not been reached into the bracket. */
static void t_targets_move_with_bracket(void **st) {
  (void)st;
  ni_search_cfg c;
  ni__search_cfg_default(&c);
  ni_search *s = ni__search_new(&c);
  double t[8];
  for (unsigned i = 0; i < 8; i++)
    assert_true(ni__search_arm(s, i, 0, 0) > 0);
  for (unsigned i = 0; i < 8; i++) {
    t[i] = ni__search_target(s, i, 0);
    assert_true(t[i] >= c.min_s);
    for (unsigned j = 0; j < i; j++)
      assert_true(fabs(t[i] - t[j]) > 0.01); /* all different */
  }
  ni__search_observe(s, 2.2, NI_OBS_ALIVE);
  ni__search_result(s, 0, 3.5, NI_OBS_DEAD, SEC(3.5));
  assert_int_equal(ni__search_verdict(s), NI_VERDICT_RUNNING);
  for (unsigned i = 1; i < 8; i++) {
    double ti = ni__search_target(s, i, SEC(3.5));
    assert_true(ti >= 3.5 - 1e-9); /* never below the silence */
    assert_true(ti <= 3.5 + 1e-9); /* nothing useful is left above U */
  }
  ni__search_free(s);

  s = ni__search_new(&c);
  ni__search_observe(s, 100, NI_OBS_ALIVE);
  ni__search_observe(s, 130, NI_OBS_DEAD);
  /* Silences 90 and 89 at 100 s: they arrive together, so they split the
   * bracket between them. */
  assert_true(ni__search_arm(s, 0, SEC(10), SEC(100)) > 0);
  assert_true(ni__search_arm(s, 1, SEC(11), SEC(100)) > 0);
  double a = ni__search_target(s, 0, SEC(100)), b = ni__search_target(s, 1, SEC(100));
  assert_true(a > 100 && a < 130 && b > 100 && b < 130);
  assert_true(fabs(a - b) > 5);
  /* A third session at silence 0 arrives long after both results: its
   * target is a placeholder it cannot reach before they come in. */
  double c3 = ni__search_arm(s, 2, SEC(100), SEC(100));
  assert_true(c3 > 100 && c3 < 130);
  assert_true(c3 - 0 > fmax(a - 90, b - 89) + c.detect_s);
  /* The first result moves the others' targets into the new bracket. */
  ni__search_result(s, 0, a, NI_OBS_DEAD, SEC(10) + SEC(a));
  ni_ms now = SEC(10) + SEC(a);
  double b2 = ni__search_target(s, 1, now), c2 = ni__search_target(s, 2, now);
  assert_true(c2 > 100 && c2 < a);
  assert_true(b2 >= (double)(now - SEC(11)) / 1000 - 1e-9);
  ni__search_free(s);
}

/* One-connection bisection uses one session, the first one armed; it hands
 * over only when it stays away longer than a reconnect.  In any strategy a
 * session lost without a report stops holding a place once long overdue. */
static void t_lost_session(void **st) {
  (void)st;
  ni_search_cfg c;
  ni__search_cfg_default(&c);
  c.strategy = NI_STRAT_BISECT;
  c.max_s = 100;
  ni_search *s = ni__search_new(&c);
  double t0 = ni__search_arm(s, 0, 0, 0);
  assert_true(t0 > 40 && t0 < 60);
  assert_true(ni__search_arm(s, 1, 0, 0) == 0);
  /* The connection broke: reported VOID, reconnected, armed again. */
  ni__search_result(s, 0, 20, NI_OBS_VOID, SEC(20));
  assert_true(ni__search_arm(s, 1, SEC(0), SEC(21)) == 0);
  assert_true(ni__search_arm(s, 0, SEC(22), SEC(22)) > 0);
  /* Session 0 is never reported again: well past its target plus the
   * grace, session 1 takes over. */
  double t1 = ni__search_target(s, 0, SEC(22));
  ni_ms late = SEC(22) + SEC(t1) + SEC(60 + 10 * c.detect_s) + SEC(1);
  assert_true(ni__search_arm(s, 1, SEC(50), SEC(50)) == 0);
  assert_true(ni__search_arm(s, 1, late - SEC(5), late) > 0);
  assert_true(ni__search_target(s, 0, late) == 0);
  /* An owner that never comes back after a result hands over too. */
  ni__search_result(s, 1, 30, NI_OBS_VOID, late + SEC(30));
  assert_true(ni__search_arm(s, 2, late + SEC(31), late + SEC(31)) == 0);
  assert_true(ni__search_arm(s, 2, late + SEC(31), late + SEC(31 + 60 + 10 * c.detect_s)) > 0);
  ni__search_free(s);

  /* Adaptive: a lost session stops counting against a lowered limit. */
  ni__search_cfg_default(&c);
  s = ni__search_new(&c);
  assert_true(ni__search_arm(s, 0, 0, 0) > 0);
  assert_true(ni__search_arm(s, 1, 0, 0) > 0);
  ni__search_lower_sessions(s, 2);
  assert_true(ni__search_arm(s, 2, 0, SEC(1)) == 0);
  double tt = fmax(ni__search_target(s, 0, SEC(1)), ni__search_target(s, 1, SEC(1)));
  ni_ms after = SEC(tt + 60 + 10 * c.detect_s + 1);
  assert_true(ni__search_arm(s, 2, after, after) > 0);
  ni__search_free(s);
}

static void t_lower_sessions(void **st) {
  (void)st;
  sim_run x;
  sim_setup(&x, 120, 8, NI_STRAT_ADAPTIVE, 4);
  x.nc.lower_to = 3;
  x.nc.lower_at_s = 30;
  sim_go(&x);
  assert_measured(&x);
  assert_true(x.r.max_armed > 3);
  assert_true(x.r.max_armed_after_lower <= 3);

  ni_search_cfg c;
  ni__search_cfg_default(&c);
  ni_search *s = ni__search_new(&c);
  for (unsigned i = 0; i < 8; i++)
    assert_true(ni__search_arm(s, i, 0, 0) > 0);
  ni__search_lower_sessions(s, 2);
  assert_int_equal(ni__search_sessions(s), 2);
  unsigned live = 0;
  for (unsigned i = 0; i < 8; i++)
    live += ni__search_target(s, i, SEC(1)) > 0;
  assert_int_equal(live, 2);
  assert_true(ni__search_target(s, 7, SEC(1)) == 0); /* highest indices go first */
  assert_true(ni__search_arm(s, 7, SEC(1), SEC(1)) == 0);
  ni__search_lower_sessions(s, 5); /* never raises the limit */
  assert_int_equal(ni__search_sessions(s), 2);
  ni__search_free(s);
}

/* ---- resume -------------------------------------------------------------- */

typedef struct {
  double x[4096];
  ni_obs o[4096];
  size_t n;
} obs_log;

static void log_result(void *ud, unsigned i, double sil, ni_obs o, double at) {
  obs_log *l = ud;
  (void)i;
  (void)at;
  if (l->n < 4096) {
    l->x[l->n] = sil;
    l->o[l->n++] = o;
  }
}

static void t_resume(void **st) {
  (void)st;
  static obs_log log;
  sim_run x;
  double lo, hi, lo2, hi2;
  memset(&log, 0, sizeof log);
  sim_setup(&x, 300, 8, NI_STRAT_ADAPTIVE, 6);
  x.nc.on_result = log_result;
  x.nc.ud = &log;
  ni_search *a = ni__search_new(&x.sc);
  assert_int_equal(ni__natsim_run(&x.nc, a, 8, &x.r), 0);
  assert_int_equal(x.r.verdict, NI_VERDICT_MEASURED);
  assert_true(log.n > 5);
  ni__search_bracket(a, &lo, &hi);

  /* Replaying the whole CSV gives the same bracket and verdict. */
  ni_search *b = ni__search_new(&x.sc);
  for (size_t k = 0; k < log.n; k++)
    ni__search_observe(b, log.x[k], log.o[k]);
  ni__search_bracket(b, &lo2, &hi2);
  assert_true(lo == lo2 && hi == hi2);
  assert_int_equal(ni__search_verdict(b), NI_VERDICT_MEASURED);
  ni__search_free(b);

  /* Replaying the first half and going on finds T again, sooner than a
   * fresh run (the climb to the first death is already done). */
  b = ni__search_new(&x.sc);
  for (size_t k = 0; k < log.n / 2; k++)
    ni__search_observe(b, log.x[k], log.o[k]);
  ni_natsim_cfg nc = x.nc;
  ni_natsim_result r2;
  nc.on_result = NULL;
  assert_int_equal(ni__natsim_run(&nc, b, 8, &r2), 0);
  assert_int_equal(r2.verdict, NI_VERDICT_MEASURED);
  assert_true(r2.lower_s < 300 && 300 <= r2.upper_s);
  assert_true(r2.wall_s < x.r.wall_s);
  ni__search_free(b);
  ni__search_free(a);
}

/* ---- baselines ----------------------------------------------------------- */

static void t_baselines(void **st) {
  (void)st;
  static const double Ts[] = {10, 60, 300};
  for (size_t k = 0; k < sizeof Ts / sizeof Ts[0]; k++) {
    sim_run ad, gr, bi;
    sim_setup(&ad, Ts[k], 8, NI_STRAT_ADAPTIVE, 1);
    sim_go(&ad);
    assert_measured(&ad);
    sim_setup(&bi, Ts[k], 8, NI_STRAT_BISECT, 1);
    sim_go(&bi);
    assert_measured(&bi);
    assert_true(bi.r.max_armed <= 1); /* one connection */
    sim_setup(&gr, Ts[k], 8, NI_STRAT_GRID, 1);
    gr.sc.max_s = 600;
    gr.sc.grid_step_s = 10;
    sim_go(&gr);
    /* At the grid's own resolution (plus the timers' lateness). */
    assert_int_equal(gr.r.verdict, NI_VERDICT_MEASURED);
    assert_true(gr.r.lower_s < Ts[k] && Ts[k] <= gr.r.upper_s);
    assert_true(gr.r.upper_s - gr.r.lower_s <= 10 + 0.5);
    assert_int_equal(gr.r.target_below_silence, 0);
    /* The grid checks the whole range whatever T is. */
    assert_true(gr.r.checks >= (600 - 2) / 10);
    printf("# T=%5.0f s: adaptive %7.1f s, grid %8.1f s (%.1fx), bisect %8.1f s (%.1fx)\n", Ts[k],
           ad.r.wall_s, gr.r.wall_s, gr.r.wall_s / ad.r.wall_s, bi.r.wall_s,
           bi.r.wall_s / ad.r.wall_s);
    assert_true(gr.r.wall_s > ad.r.wall_s);
    assert_true(bi.r.wall_s > ad.r.wall_s);
  }
}

/* ---- many random cases --------------------------------------------------- */

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;
static double rnd(void) {
  return (double)(ni__prng_next(&rng_state) >> 11) / 9007199254740992.0;
}

static void t_property(void **st) {
  (void)st;
  double worst = 0;
  for (int n = 0; n < 400; n++) {
    sim_run x;
    double T = 3 * pow(7000 / 3.0, rnd());
    unsigned K = 1 + (unsigned)(rnd() * 12);
    ni_strategy strat = n % 10 == 9 ? NI_STRAT_BISECT : NI_STRAT_ADAPTIVE;
    sim_setup(&x, T, K, strat, 1 + (uint64_t)(rnd() * 1e9));
    x.nc.detect_s = 0.5 + 4.5 * rnd();
    x.nc.done_s = fmax(x.nc.detect_s, 2.0) * rnd();
    x.nc.connect_s = 0.2 + 2.8 * rnd();
    x.nc.jitter_s = rnd();
    x.nc.timer_jitter_s = 0.2 * rnd();
    x.sc.detect_s = x.nc.detect_s;
    if (n % 7 == 3) x.sc.resolution_s = 0.5 + 5 * rnd();
    sim_go(&x);
    assert_measured(&x);
    if (strat == NI_STRAT_ADAPTIVE && K >= 8) {
      double goal = 2.5 * T + 30 + 10 * x.nc.detect_s;
      assert_true(x.r.wall_s <= 4 * T + 60 + 10 * x.nc.detect_s);
      /* The goal is for the default resolution; a fixed one can be far
       * finer than 2 % of T and take more rounds. */
      if (x.sc.resolution_s == 0) worst = fmax(worst, x.r.wall_s / goal);
    }
  }
  printf("# random cases, K >= 8, default resolution: worst wall / (2.5 T + 30 s + 10 detect)"
         " = %.2f\n",
         worst);
}

/* Random calls in random order with random times and values: nothing
 * crashes (the sanitizer build runs this too), targets stay at or above the
 * silence, the bracket stays ordered unless a contradiction was counted,
 * and a verdict once given stays. */
static void t_random_calls(void **st) {
  (void)st;
  for (int run = 0; run < 200; run++) {
    ni_search_cfg c;
    ni__search_cfg_default(&c);
    c.sessions = 1 + (unsigned)(rnd() * 16);
    c.strategy = (ni_strategy)(int)(rnd() * 3);
    c.max_s = 50 + rnd() * 2000;
    c.resolution_s = rnd() < 0.5 ? 0 : rnd() * 10;
    ni_search *s = ni__search_new(&c);
    assert_non_null(s);
    ni_ms since[16] = {0}, now = 0;
    ni_verdict done = NI_VERDICT_RUNNING;
    for (int step = 0; step < 300; step++) {
      unsigned i = (unsigned)(rnd() * (c.sessions + 1)); /* one past the end too */
      double x = rnd() * c.max_s * 1.2;
      ni_obs o = (ni_obs)(int)(rnd() * 3);
      now += (ni_ms)(rnd() * 20000);
      switch ((int)(rnd() * 8)) {
      case 0:
      case 1:
        if (i < 16) {
          ni_ms back = (ni_ms)(rnd() * 5000);
          since[i] = now > back ? now - back : 0;
        }
        ni__search_arm(s, i, i < 16 ? since[i] : now, now);
        break;
      case 2:
      case 3:
        ni__search_result(s, i, x, o, now);
        break;
      case 4:
        ni__search_observe(s, x, o);
        break;
      case 5:
        if (rnd() < 0.2) ni__search_server_keepalive(s, rnd() * 300);
        break;
      case 6:
        if (rnd() < 0.1) ni__search_lower_sessions(s, (unsigned)(rnd() * c.sessions));
        break;
      default:
        if (rnd() < 0.02) ni__search_stop(s);
        break;
      }
      for (unsigned k = 0; k < c.sessions && k < 16; k++) {
        double t = ni__search_target(s, k, now);
        assert_true(t == 0 || t >= (double)(now - since[k]) / 1000.0 - 1e-9);
      }
      double lo, hi;
      ni__search_bracket(s, &lo, &hi);
      assert_true(lo >= 0);
      assert_true(lo < hi || ni__search_contradictions(s) > 0);
      assert_true(ni__search_resolution(s) > 0);
      (void)ni__search_eta_s(s, now);
      (void)ni__search_estimate(s);
      if (done != NI_VERDICT_RUNNING) assert_int_equal(ni__search_verdict(s), done);
      done = ni__search_verdict(s);
    }
    ni__search_free(s);
  }
}

/* ---- network events ------------------------------------------------------- */

/* A rebind (a phone changing cell) loses every mapping at once: the rule
 * that voids every silence across it. */
static void t_network_event(void **st) {
  (void)st;
  ni_net_events e;
  memset(&e, 0, sizeof e);
  assert_false(ni__net_spans(&e, SEC(1), SEC(100)));
  assert_false(ni__net_back(&e, SEC(5))); /* nothing was lost */
  /* Lost after its last answer at 21.5 s: open until it is back. */
  assert_true(ni__net_lost(&e, SEC(21.5)));
  assert_false(ni__net_lost(&e, SEC(24))); /* a failed reconnect: the same event */
  assert_int_equal(e.n, 1);
  assert_true(e.from == SEC(21.5));
  assert_false(ni__net_spans(&e, SEC(5), SEC(21))); /* judged before it */
  assert_true(ni__net_spans(&e, SEC(5), SEC(25)));
  assert_true(ni__net_spans(&e, SEC(23), SEC(25))); /* begun during it */
  assert_true(ni__net_back(&e, SEC(28)));
  assert_false(ni__net_back(&e, SEC(29)));
  /* After it: only silences begun once it was back are evidence. */
  assert_true(ni__net_spans(&e, SEC(10), SEC(40)));
  assert_true(ni__net_spans(&e, SEC(27.999), SEC(40)));
  assert_false(ni__net_spans(&e, SEC(28), SEC(40)));
  assert_false(ni__net_spans(&e, SEC(30), SEC(50)));
  /* A second event: a silence across the first spans it as well. */
  assert_true(ni__net_lost(&e, SEC(60)));
  assert_true(ni__net_back(&e, SEC(65)));
  assert_int_equal(e.n, 2);
  assert_true(ni__net_spans(&e, SEC(10), SEC(70)));
  assert_true(ni__net_spans(&e, SEC(40), SEC(70)));
  assert_false(ni__net_spans(&e, SEC(66), SEC(70)));

  /* A 30 s NAT rebinds 22 s into a run: every session silent then dies at
   * its next check, below 30 s.  Judged by the rule, those deaths are
   * void and the bracket stays open; the search re-arms them, and a fresh
   * silence after the recovery is evidence again. */
  ni_search_cfg c;
  ni__search_cfg_default(&c);
  ni_search *s = ni__search_new(&c);
  ni__search_observe(s, 10, NI_OBS_ALIVE);
  memset(&e, 0, sizeof e);
  for (unsigned i = 0; i < 8; i++)
    assert_true(ni__search_arm(s, i, SEC(2 * i), SEC(20)) > 0);
  ni__net_lost(&e, SEC(22));
  ni__net_back(&e, SEC(28));
  for (unsigned i = 0; i < 8; i++) {
    ni_ms at = SEC(30 + i);
    double sil = ni__search_target(s, i, at);
    ni_obs o = NI_OBS_DEAD;
    if (ni__net_spans(&e, SEC(2 * i), at)) o = NI_OBS_VOID;
    assert_int_equal(o, NI_OBS_VOID);
    ni__search_result(s, i, sil, o, at);
  }
  double lo, hi;
  ni__search_bracket(s, &lo, &hi);
  assert_true(lo == 10 && isinf(hi));
  assert_true(ni__search_arm(s, 0, SEC(29), SEC(29)) > 0);
  assert_false(ni__net_spans(&e, SEC(29), SEC(60)));
  ni__search_result(s, 0, 31, NI_OBS_DEAD, SEC(60));
  ni__search_bracket(s, &lo, &hi);
  assert_true(lo == 10 && hi == 31);
  ni__search_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(t_names_and_cfg),
      cmocka_unit_test(t_adaptive_k8),
      cmocka_unit_test(t_adaptive_few_sessions),
      cmocka_unit_test(t_above_max),
      cmocka_unit_test(t_above_max_a_hair_short),
      cmocka_unit_test(t_below_min),
      cmocka_unit_test(t_masked_by_server),
      cmocka_unit_test(t_stop_and_limits),
      cmocka_unit_test(t_void_does_not_move),
      cmocka_unit_test(t_learnt_resolution),
      cmocka_unit_test(t_confirm),
      cmocka_unit_test(t_contradiction),
      cmocka_unit_test(t_targets_never_below_silence),
      cmocka_unit_test(t_targets_move_with_bracket),
      cmocka_unit_test(t_lower_sessions),
      cmocka_unit_test(t_lost_session),
      cmocka_unit_test(t_resume),
      cmocka_unit_test(t_baselines),
      cmocka_unit_test(t_property),
      cmocka_unit_test(t_random_calls),
      cmocka_unit_test(t_network_event),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
