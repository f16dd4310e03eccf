/*
 * Tests of coalesced wakeups: several sessions of one process in an
 * ni_ka_group, over a simulated day behind NATs that never forget a mapping
 * silence shorter than their timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "natidle/keepalive.h"

#define S 1000ull
#define MIN (60 * S)
#define DAY (24 * 60 * MIN)
#define RTT 150

typedef struct sess {
  ni_ka k;
  ni_ms nat_ms;   /* this session's NAT timeout (0 = never forgets) */
  ni_ms last;     /* last packet either way */
  uint64_t kas;   /* keepalives sent */
  uint64_t early; /* ...of which before their own due time */
} sess;

/* Run n sessions for a day, in one group (grouped) or each in its own, and
 * return the number of distinct wakeups. */
static uint64_t run_day(sess *ss, size_t n, const ni_ka_config *cfg, const ni_ms *phase,
                        int grouped) {
  ni_ka_group groups[8];
  assert_true(n <= 8);
  for (size_t i = 0; i < n; i++) {
    ni_ka_group_init(&groups[i]);
    assert_int_equal(ni_ka_init(&ss[i].k, &cfg[i]), 0);
    assert_int_equal(ni_ka_group_add(grouped ? &groups[0] : &groups[i], &ss[i].k), 0);
    ni_ka_event e = {.type = NI_KA_EV_CONNECTED};
    assert_int_equal(ni_ka_on_event(&ss[i].k, &e, phase[i]), 0);
    e.type = NI_KA_EV_IDLE_ENTERED;
    assert_int_equal(ni_ka_on_event(&ss[i].k, &e, phase[i]), 0);
    ss[i].last = phase[i];
    ss[i].kas = ss[i].early = 0;
  }
  size_t ng = grouped ? 1 : n;
  for (;;) {
    /* The group whose timer fires first. */
    size_t gi = 0;
    ni_ms t = NI_TIME_NEVER;
    for (size_t i = 0; i < ng; i++) {
      ni_ms e = ni_ka_group_get_expiry(&groups[i]);
      if (e < t) {
        t = e;
        gi = i;
      }
    }
    if (t >= DAY) break;
    ni_ka_action a;
    ni_ka *k;
    sess *fired[8];
    size_t nf = 0;
    while ((k = ni_ka_group_handle_expiry(&groups[gi], t, &a)) != NULL) {
      sess *s = (sess *)(void *)k; /* ni_ka is the first member */
      assert_int_equal(a, NI_KA_REIDLE);
      /* Never later than its own due time, never so early that its cadence
       * collapses, and never past the NAT's timeout. */
      ni_ms silence = t - s->last, iv = ni_ka_interval(k);
      assert_true(silence <= iv);
      assert_true(silence * 2 >= iv);
      if (s->nat_ms) assert_true(silence < s->nat_ms);
      s->early += silence < iv;
      s->kas++;
      fired[nf++] = s;
    }
    for (size_t i = 0; i < nf; i++) {
      ni_ka_event e = {.type = NI_KA_EV_KA_ANSWERED, .rtt_ms = RTT};
      assert_int_equal(ni_ka_on_event(&fired[i]->k, &e, t + RTT), 0);
      fired[i]->last = t + RTT;
    }
  }
  uint64_t w = 0;
  for (size_t i = 0; i < ng; i++)
    w += groups[i].wakeups;
  return w;
}

/* Three accounts behind one 10-min NAT, started at different moments:
 * grouped, they wake the radio about a third as often. */
static void test_three_sessions_same_nat(void **state) {
  (void)state;
  sess ss[3];
  ni_ka_config cfg[3];
  const ni_ms phase[3] = {0, 100 * S, 250 * S};
  for (int i = 0; i < 3; i++) {
    ni_ka_config_default(&cfg[i]);
    cfg[i].nat_lower_ms = cfg[i].nat_upper_ms = 10 * MIN;
    cfg[i].adaptive = 0; /* no daily re-probe above the NAT's timeout */
    ss[i].nat_ms = 10 * MIN;
  }
  uint64_t alone = run_day(ss, 3, cfg, phase, 0);
  uint64_t together = run_day(ss, 3, cfg, phase, 1);
  print_message("3 sessions, one 10-min NAT: %llu wakeups alone, %llu grouped\n",
                (unsigned long long)alone, (unsigned long long)together);
  assert_true(together < alone);
  assert_true(together * 2 < alone);
  /* After the first shared wakeup they stay in phase: few early sends. */
  for (int i = 0; i < 3; i++)
    assert_true(ss[i].early <= 2);
}

/* Different cadences (10, 14 and 29 min): still fewer wakeups, and no
 * session loses more than half of its cadence. */
static void test_three_sessions_different_cadences(void **state) {
  (void)state;
  sess ss[3];
  ni_ka_config cfg[3];
  const ni_ms nat[3] = {10 * MIN, 14 * MIN, 180 * MIN};
  const ni_ms phase[3] = {0, 37 * S, 400 * S};
  for (int i = 0; i < 3; i++) {
    ni_ka_config_default(&cfg[i]);
    cfg[i].nat_lower_ms = cfg[i].nat_upper_ms = nat[i];
    cfg[i].adaptive = 0;
    ss[i].nat_ms = nat[i];
  }
  uint64_t alone = run_day(ss, 3, cfg, phase, 0);
  uint64_t together = run_day(ss, 3, cfg, phase, 1);
  print_message("3 sessions, 10/14/180-min NATs: %llu wakeups alone, %llu grouped\n",
                (unsigned long long)alone, (unsigned long long)together);
  assert_true(together < alone);
  /* The others ride along with the shortest cadence: about its count. */
  assert_true(together * 10 <= ss[0].kas * 11);
}

/* A learning session's probes are never pulled forward (they would measure
 * the wrong silence), but it still learns inside a group. */
static void test_probes_not_pulled(void **state) {
  (void)state;
  sess ss[2];
  ni_ka_config cfg[2];
  const ni_ms phase[2] = {0, 20 * S};
  ni_ka_config_default(&cfg[0]);
  cfg[0].nat_lower_ms = cfg[0].nat_upper_ms = 2 * MIN;
  cfg[0].adaptive = 0;
  ss[0].nat_ms = 2 * MIN;
  ni_ka_config_default(&cfg[1]); /* learns from nothing; its NAT never forgets */
  ss[1].nat_ms = 0;
  run_day(ss, 2, cfg, phase, 1);
  ni_ka_stats st;
  ni_ka_get_stats(&ss[1].k, &st);
  assert_true(st.probes >= 8);
  assert_int_equal(ni_ka_interval(&ss[1].k), 29 * MIN);
  assert_true(ss[1].early <= st.keepalives - st.probes);
}

static void test_group_membership(void **state) {
  (void)state;
  ni_ka_group g, h;
  ni_ka a, b;
  ni_ka_config c;
  ni_ka_config_default(&c);
  ni_ka_group_init(&g);
  ni_ka_group_init(&h);
  assert_int_equal(ni_ka_init(&a, &c), 0);
  assert_int_equal(ni_ka_init(&b, &c), 0);
  assert_int_equal(ni_ka_group_get_expiry(&g), NI_TIME_NEVER);
  assert_int_equal(ni_ka_group_add(&g, &a), 0);
  assert_int_equal(ni_ka_group_add(&g, &b), 0);
  assert_int_equal(ni_ka_group_add(&h, &a), NI_ESTATE);
  assert_int_equal(ni_ka_group_remove(&h, &a), NI_ESTATE);
  assert_int_equal(ni_ka_group_remove(&g, &a), 0);
  assert_int_equal(ni_ka_group_remove(&g, &a), NI_ESTATE);
  assert_int_equal(ni_ka_group_add(&h, &a), 0);
  ni_ka_action act;
  assert_null(ni_ka_group_handle_expiry(&g, 0, &act));
  assert_int_equal(act, NI_KA_NONE);
  assert_int_equal(ni_ka_group_add(NULL, &a), NI_EUSAGE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_three_sessions_same_nat),
      cmocka_unit_test(test_three_sessions_different_cadences),
      cmocka_unit_test(test_probes_not_pulled),
      cmocka_unit_test(test_group_membership),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
