/*
 * Tests of coalesced wakeups: several sessions of one process in an
 * ni_ka_group, over a simulated day behind NATs that never forget a mapping
 * silence shorter than their timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keepalive/ka_internal.h"
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

static void connect_at(ni_ka *k, ni_ms now) {
  ni_ka_event e = {.type = NI_KA_EV_CONNECTED};
  assert_int_equal(ni_ka_on_event(k, &e, now), 0);
  e.type = NI_KA_EV_IDLE_ENTERED;
  assert_int_equal(ni_ka_on_event(k, &e, now), 0);
}

/* A client re-initialises a session on a network change while it sits in
 * a group.  That used to wipe its links: the group's expiry became 0, the
 * other member never fired, a second ni_ka_group_add() returned 0 and
 * ni_ka_group_remove() then read freed links (heap-use-after-free under
 * ASan).  Now the session stays a member, at its new place. */
static void test_reinit_member(void **state) {
  (void)state;
  ni_ka_group g;
  ni_ka *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b), *d = calloc(1, sizeof *d);
  assert_true(a && b && d);
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = c.nat_upper_ms = 10 * MIN;
  c.adaptive = 0;
  ni_ka_group_init(&g);
  assert_int_equal(ni_ka_init(a, &c), 0);
  assert_int_equal(ni_ka_init(b, &c), 0);
  assert_int_equal(ni_ka_init(d, &c), 0);
  assert_int_equal(ni_ka_group_add(&g, a), 0);
  assert_int_equal(ni_ka_group_add(&g, b), 0);
  assert_int_equal(ni_ka_group_add(&g, d), 0);
  connect_at(a, 0);
  connect_at(b, 100 * S);
  connect_at(d, 200 * S);
  assert_int_equal(ni__ka_group_check(&g), 0);

  /* The network changed: a is re-initialised, with nothing known. */
  ni_ka_config n;
  ni_ka_config_default(&n);
  assert_int_equal(ni_ka_init(a, &n), 0);
  assert_int_equal(ni__ka_group_check(&g), 0);
  assert_int_equal(ni_ka_group_add(&g, a), NI_ESTATE); /* still a member */
  assert_int_equal(ni_ka_group_get_expiry(&g), ni_ka_get_expiry(b));
  /* A bad config leaves the member as it was. */
  n.nat_lower_ms = 2 * MIN;
  n.nat_upper_ms = 1 * MIN;
  assert_int_equal(ni_ka_init(a, &n), NI_EUSAGE);
  assert_int_equal(ni__ka_group_check(&g), 0);

  /* The others keep firing; a fires once it reconnected. */
  ni_ms t = ni_ka_group_get_expiry(&g);
  ni_ka_action act;
  assert_true(ni_ka_group_handle_expiry(&g, t, &act) == b);
  assert_int_equal(act, NI_KA_REIDLE);
  connect_at(a, t);
  assert_int_equal(ni__ka_group_check(&g), 0);
  while (ni_ka_group_handle_expiry(&g, t, &act) != NULL)
    ;
  t = ni_ka_group_get_expiry(&g);
  assert_true(t != NI_TIME_NEVER && t > 0);

  /* Re-initialised again, and re-configured live: still consistent. */
  assert_int_equal(ni_ka_init(d, &c), 0);
  assert_int_equal(ni_ka_reconfigure(a, &c, t), 0);
  assert_int_equal(ni__ka_group_check(&g), 0);
  assert_int_equal(ni_ka_group_remove(&g, a), 0);
  assert_int_equal(ni_ka_group_remove(&g, a), NI_ESTATE);
  assert_int_equal(ni_ka_group_remove(&g, d), 0);
  assert_int_equal(ni_ka_group_remove(&g, b), 0);
  assert_int_equal(ni_ka_group_get_expiry(&g), NI_TIME_NEVER);
  assert_int_equal(ni__ka_group_check(&g), 0);
  free(a);
  free(b);
  free(d);
}

/* Memory that only looks like a member: a copy of a member's struct, or a
 * member of a group that was re-initialised without removing it (a client
 * that discards the group with its sessions and reuses their memory).
 * ni_ka_init() starts such a session outside any group, and the group it
 * names is left alone. */
static void test_reinit_stale_member(void **state) {
  (void)state;
  ni_ka_group g;
  ni_ka *k = calloc(4, sizeof *k);
  assert_non_null(k);
  ni_ka_config c;
  ni_ka_config_default(&c);
  ni_ka_group_init(&g);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(ni_ka_init(&k[i], &c), 0);
    assert_int_equal(ni_ka_group_add(&g, &k[i]), 0);
    connect_at(&k[i], (ni_ms)i * S);
  }
  k[3] = k[1]; /* a copy of a member */
  assert_int_equal(ni_ka_init(&k[3], &c), 0);
  assert_int_equal(ni__ka_group_check(&g), 0);
  assert_int_equal(g.due.n, 3);

  /* The group is thrown away with its members, then used afresh. */
  ni_ka_group_init(&g);
  assert_int_equal(ni_ka_init(&k[1], &c), 0); /* its parent link is stale */
  assert_int_equal(ni_ka_group_add(&g, &k[1]), 0);
  assert_int_equal(ni_ka_init(&k[0], &c), 0); /* its child is now a root */
  assert_int_equal(ni_ka_init(&k[2], &c), 0);
  assert_int_equal(g.due.n, 1);
  assert_int_equal(ni_ka_group_add(&g, &k[0]), 0);
  assert_int_equal(ni_ka_group_add(&g, &k[2]), 0);
  assert_int_equal(ni_ka_group_add(&g, &k[3]), 0);
  assert_int_equal(ni__ka_group_check(&g), 0);
  for (int i = 0; i < 4; i++)
    assert_int_equal(ni_ka_group_remove(&g, &k[i]), 0);
  assert_int_equal(ni_ka_group_get_expiry(&g), NI_TIME_NEVER);
  free(k);
}

/* ---- the group's cost at large N ---------------------------------------- */

#define BIG_N 10000
#define LOG2_BIG_N 14 /* ceil(log2(BIG_N)) */
/* One heap update costs at most one walk down the tree and one up or down;
 * a session's change moves it in two heaps. */
#define PER_CHANGE (4 * LOG2_BIG_N + 8)

static void ev_at(ni_ka *k, ni_ka_event_type t, ni_ms now) {
  ni_ka_event e = {.type = t, .rtt_ms = RTT};
  assert_int_equal(ni_ka_on_event(k, &e, now), 0);
}

/* 10 000 sessions in one group: one event on one of them, the group's
 * expiry, and a shared wakeup touch O(log N) members per session that acts,
 * not all of them (the scan over every member made a 10 000-session group
 * cost ~70 times more CPU per keepalive than private groups). */
static void test_large_group_bounded_work(void **state) {
  (void)state;
  ni_ka *ks = calloc(BIG_N, sizeof *ks);
  assert_non_null(ks);
  ni_ka_group g;
  ni_ka_group_init(&g);
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = c.nat_upper_ms = 10 * MIN;
  c.adaptive = 0;
  c.coalesce_ms = 1 * S; /* a narrow window: a few dozen sessions pulled */
  /* Connected 37 ms apart: 370 s between the first and the last. */
  for (size_t i = 0; i < BIG_N; i++) {
    assert_int_equal(ni_ka_init(&ks[i], &c), 0);
    assert_int_equal(ni_ka_group_add(&g, &ks[i]), 0);
    ev_at(&ks[i], NI_KA_EV_CONNECTED, i * 37);
    ev_at(&ks[i], NI_KA_EV_IDLE_ENTERED, i * 37);
  }
  assert_int_equal(ni__ka_group_check(&g), 0);
  ni_ms t = BIG_N * 37;

  /* One byte on one connection: bounded work, and the group's expiry is
   * read without touching anyone. */
  g.visits = 0;
  ev_at(&ks[0], NI_KA_EV_RX, t);
  uint64_t per_event = g.visits;
  ni_ms e = ni_ka_group_get_expiry(&g);
  assert_int_equal(g.visits, per_event);
  assert_true(per_event <= PER_CHANGE);
  /* Session 1 is now the earliest: connected at 37 ms, cadence 10 min - 30 s. */
  assert_int_equal(e, ni_ka_get_expiry(&ks[1]));
  assert_int_equal(e, 37 + 10 * MIN - 30 * S);

  /* The shared wakeup: the due session and those within 1 s after it. */
  g.visits = 0;
  ni_ka_action a;
  ni_ka *k;
  size_t acted = 0, pulled = 0;
  while ((k = ni_ka_group_handle_expiry(&g, e, &a)) != NULL) {
    assert_int_equal(a, NI_KA_REIDLE);
    acted++;
    pulled += k != &ks[1];
    assert_true(acted <= 100);
  }
  print_message("%d sessions: %llu visits per event, %llu for a wakeup of %zu sessions\n", BIG_N,
                (unsigned long long)per_event, (unsigned long long)g.visits, acted);
  /* 1000 ms / 37 ms: sessions 2..28 are due within the window. */
  assert_int_equal(pulled, 27);
  assert_true(g.visits <= (acted + 1) * PER_CHANGE);
  assert_int_equal(ni__ka_group_check(&g), 0);

  /* Answers, a loss and a reconnect: each bounded. */
  for (size_t i = 1; i <= acted; i++) {
    g.visits = 0;
    ev_at(&ks[i], NI_KA_EV_KA_ANSWERED, e + RTT);
    assert_true(g.visits <= PER_CHANGE);
  }
  g.visits = 0;
  ev_at(&ks[BIG_N / 2], NI_KA_EV_LOST, e + RTT);
  ev_at(&ks[BIG_N / 2], NI_KA_EV_CONNECTED, e + RTT + 1);
  assert_true(g.visits <= 2 * PER_CHANGE);
  assert_int_equal(ni__ka_group_check(&g), 0);

  /* Removal is bounded too, and leaves a consistent heap. */
  g.visits = 0;
  assert_int_equal(ni_ka_group_remove(&g, &ks[BIG_N / 3]), 0);
  assert_true(g.visits <= PER_CHANGE);
  assert_int_equal(ni__ka_group_check(&g), 0);
  for (size_t i = 0; i < BIG_N; i++)
    if (i != BIG_N / 3) assert_int_equal(ni_ka_group_remove(&g, &ks[i]), 0);
  assert_int_equal(ni_ka_group_get_expiry(&g), NI_TIME_NEVER);
  free(ks);
}

/* The group as it was: a scan over every member, in member order.  The
 * heaps must take the same decisions. */
typedef struct ref_group {
  ni_ms awake_at;
  int awake;
  uint64_t wakeups;
} ref_group;

static ni_ms ref_window(const ni_ka *s) {
  ni_ms half = s->interval / 2;
  ni_ms w = s->cfg.coalesce_ms ? s->cfg.coalesce_ms : half;
  return w < half ? w : half;
}

static ni_ka *ref_handle(ni_ka *m, size_t n, ref_group *g, ni_ms now, ni_ka_action *action) {
  *action = NI_KA_NONE;
  if (g->awake && g->awake_at != now) g->awake = 0;
  for (size_t i = 0; i < n; i++) {
    if (ni_ka_get_expiry(&m[i]) > now) continue;
    ni_ka_action a = ni_ka_handle_expiry(&m[i], now);
    if (a == NI_KA_NONE) continue;
    if (!g->awake) {
      g->awake = 1;
      g->awake_at = now;
      g->wakeups++;
    }
    *action = a;
    return &m[i];
  }
  if (!g->awake) return NULL;
  for (size_t i = 0; i < n; i++) {
    ni_ka *s = &m[i];
    if (s->state != 1 || s->outstanding || s->probing) continue;
    ni_ms due = ni__ka_next_due(s);
    if (due > now && due - now <= ref_window(s)) {
      *action = ni__ka_fire(s, now);
      s->stats.pulled++;
      return s;
    }
  }
  return NULL;
}

#define RND_N 48

static uint64_t rnd(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

static void assert_same(const ni_ka *a, const ni_ka *b) {
  ni_ka_stats sa, sb;
  ni_ms la, ua, lb, ub;
  assert_int_equal(ni_ka_get_expiry(a), ni_ka_get_expiry(b));
  assert_int_equal(ni_ka_interval(a), ni_ka_interval(b));
  assert_int_equal(ni_ka_bracket(a, &la, &ua), ni_ka_bracket(b, &lb, &ub));
  assert_int_equal(la, lb);
  assert_int_equal(ua, ub);
  ni_ka_get_stats(a, &sa);
  ni_ka_get_stats(b, &sb);
  assert_memory_equal(&sa, &sb, sizeof sa);
}

/* Random traffic on sessions of mixed configurations (learning, fixed,
 * narrow and default windows): the group with its heaps and the old scan
 * make the same decisions, and the heaps stay consistent after every call. */
static void test_heap_matches_scan(void **state) {
  (void)state;
  static ni_ka hk[RND_N], rk[RND_N];
  ni_ka_group g;
  ref_group r = {0, 0, 0};
  ni_ka_group_init(&g);
  uint64_t x = 0x9e3779b97f4a7c15u;
  for (size_t i = 0; i < RND_N; i++) {
    ni_ka_config c;
    ni_ka_config_default(&c);
    c.seed = i + 1;
    if (i % 3 == 1) {
      c.nat_lower_ms = c.nat_upper_ms = (2 + i % 7) * MIN;
      c.adaptive = 0;
    }
    if (i % 4 == 2) c.coalesce_ms = (i % 5 + 1) * 10 * S;
    assert_int_equal(ni_ka_init(&hk[i], &c), 0);
    assert_int_equal(ni_ka_init(&rk[i], &c), 0);
    assert_int_equal(ni_ka_group_add(&g, &hk[i]), 0);
  }
  ni_ms t = 0;
  for (int step = 0; step < 40000; step++) {
    ni_ms due = ni_ka_group_get_expiry(&g);
    ni_ms next = t + rnd(&x) % (90 * S);
    if (due != NI_TIME_NEVER && due <= next) {
      /* The timer fires: both groups act at the same `now`. */
      t = due > t ? due : t;
      int hacted[RND_N] = {0}, racted[RND_N] = {0};
      ni_ka_action a;
      ni_ka *k;
      while ((k = ni_ka_group_handle_expiry(&g, t, &a)) != NULL) {
        assert_int_equal(ni__ka_group_check(&g), 0);
        hacted[k - hk] = (int)a;
      }
      while ((k = ref_handle(rk, RND_N, &r, t, &a)) != NULL)
        racted[k - rk] = (int)a;
      assert_memory_equal(hacted, racted, sizeof hacted);
      assert_int_equal(g.wakeups, r.wakeups);
    } else {
      t = next;
      size_t i = rnd(&x) % RND_N;
      ni_ka_event e = {.type = (ni_ka_event_type)(1 + rnd(&x) % 11), .rtt_ms = rnd(&x) % 500};
      if (hk[i].state != 1) e.type = NI_KA_EV_CONNECTED;
      if (e.type == NI_KA_EV_LOST) e.silent_ms = rnd(&x) % (20 * MIN);
      assert_int_equal(ni_ka_on_event(&hk[i], &e, t), ni_ka_on_event(&rk[i], &e, t));
      assert_int_equal(ni__ka_group_check(&g), 0);
    }
    for (size_t i = 0; i < RND_N; i++)
      assert_same(&hk[i], &rk[i]);
  }
  /* The run exercised what it is meant to: shared wakeups, pulls, deaths. */
  uint64_t pulled = 0, dead = 0;
  for (size_t i = 0; i < RND_N; i++) {
    ni_ka_stats st;
    ni_ka_get_stats(&hk[i], &st);
    pulled += st.pulled;
    dead += st.dead;
  }
  print_message("random traffic: %llu wakeups, %llu pulled, %llu dead\n",
                (unsigned long long)g.wakeups, (unsigned long long)pulled,
                (unsigned long long)dead);
  assert_true(g.wakeups > 100 && pulled > 100 && dead > 10);
  for (size_t i = 0; i < RND_N; i++)
    assert_int_equal(ni_ka_group_remove(&g, &hk[i]), 0);
  assert_int_equal(ni__ka_group_check(&g), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_three_sessions_same_nat),
      cmocka_unit_test(test_three_sessions_different_cadences),
      cmocka_unit_test(test_probes_not_pulled),
      cmocka_unit_test(test_group_membership),
      cmocka_unit_test(test_reinit_member),
      cmocka_unit_test(test_reinit_stale_member),
      cmocka_unit_test(test_large_group_bounded_work),
      cmocka_unit_test(test_heap_matches_scan),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
