/*
 * Tests of what the scheduler learns from mail: the server's push delay
 * and the messages seen first in a keepalive's answer.  A simulated day in
 * simulated time: one push session behind no NAT, a NAT that drops
 * everything once it forgot the mapping ("strict"), or one that re-creates
 * the mapping for the client's next packet ("loose", so that only pushes
 * are lost); a server that pushes at once or one that reports new mail to
 * IDLE only by polling every minute, on a clock that restarts with every
 * IDLE command (Cyrus without idled) or runs on its own (a server checking
 * its mail store), and any unreported mail in the answer to DONE;
 * messages arriving at random.
 * The scheduler is driven through its public API, as the push driver does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "natidle/keepalive.h"

#define S 1000ull
#define MIN (60 * S)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define CAP (29 * MIN)
#define RTT 200
#define RECONNECT (2 * S)
#define MAXMAIL 256

enum nat_kind { NO_NAT, STRICT, LOOSE };

typedef struct world {
  /* The world. */
  enum nat_kind nat;
  ni_ms nat_ms;       /* the NAT's idle timeout */
  ni_ms poll_ms;      /* 0: the server pushes push_ms after arrival */
  ni_ms push_ms;      /* ...else it polls every poll_ms of IDLE */
  int poll_own_clock; /* the polls run on their own clock (at poll_phase
                         + k x poll_ms), not from the start of IDLE */
  ni_ms poll_phase;
  ni_ms mail_every_ms; /* mean time between two messages */
  ni_ms duration_ms;
  uint64_t rng;
  /* Its state. */
  ni_ka k;
  ni_ms t;
  ni_ms nat_last;   /* last packet through the NAT */
  int nat_dead;     /* strict NAT: the mapping is gone until a reconnect */
  ni_ms idle_start; /* the server's IDLE began (polls count from here) */
  int ka_out;       /* a keepalive is out */
  ni_ms ka_sent, answer_at, reconnect_at, next_mail;
  ni_ms slop_for, slop; /* the client's timer fires `slop` after expiry
                           slop_for, as a phone's deferred alarm does: up
                           to 4 % of the interval, within the margin */
  ni_ms mail[MAXMAIL];  /* arrival of each message the client has not seen */
  int lost[MAXMAIL];    /* ...and whether its push was lost by the NAT */
  size_t nmail;
  /* Tallies. */
  uint64_t pushed, in_answers, lost_pushes, evidence_ages;
  ni_ms cadence_min_late; /* shortest interval in the second half of the run */
} world;

static uint64_t rnd(world *w) {
  w->rng ^= w->rng << 13;
  w->rng ^= w->rng >> 7;
  w->rng ^= w->rng << 17;
  return w->rng;
}

static void ev(world *w, ni_ka_event e) {
  int rc = ni_ka_on_event(&w->k, &e, w->t);
  assert_true(rc == 0);
}

/* The NAT lets a packet through at time t: from the client (`out`) or from
 * the server.  Returns 0 if it is dropped. */
static int nat_pass(world *w, int out) {
  if (w->nat == NO_NAT) return 1;
  if (w->nat_dead) return 0;
  if (w->t - w->nat_last >= w->nat_ms) {
    if (w->nat == STRICT) {
      w->nat_dead = 1;
      return 0;
    }
    if (!out) return 0; /* loose: forgotten, re-created only from inside */
  }
  w->nat_last = w->t;
  return 1;
}

/* INTERNALDATE has whole seconds: the client sees the arrival rounded down. */
static ni_ms seen_arrival(ni_ms arrival) {
  return arrival / S * S;
}

static void drop_mail(world *w, size_t i) {
  w->mail[i] = w->mail[w->nmail - 1];
  w->lost[i] = w->lost[w->nmail - 1];
  w->nmail--;
}

static void connected(world *w) {
  w->nat_dead = 0;
  w->nat_last = w->t;
  w->idle_start = w->t;
  w->ka_out = 0;
  /* The resync after a reconnect finds what was missed: no event. */
  w->nmail = 0;
  ev(w, (ni_ka_event){.type = NI_KA_EV_CONNECTED});
  ev(w, (ni_ka_event){.type = NI_KA_EV_IDLE_ENTERED});
}

/* The earliest time the server pushes one of its pending messages. */
static ni_ms next_push(const world *w) {
  if (w->ka_out || w->reconnect_at != NI_TIME_NEVER) return NI_TIME_NEVER;
  ni_ms best = NI_TIME_NEVER;
  for (size_t i = 0; i < w->nmail; i++) {
    if (w->lost[i]) continue;
    ni_ms at;
    ni_ms from = w->mail[i] > w->idle_start ? w->mail[i] : w->idle_start;
    if (w->poll_ms && w->poll_own_clock) {
      /* The server's next poll at or after the arrival, inside IDLE. */
      at = from <= w->poll_phase
               ? w->poll_phase
               : w->poll_phase + (from - w->poll_phase + w->poll_ms - 1) / w->poll_ms * w->poll_ms;
    } else if (w->poll_ms) {
      /* The next poll of the current IDLE, counted from its start. */
      ni_ms k = (from - w->idle_start + w->poll_ms - 1) / w->poll_ms;
      at = w->idle_start + (k ? k : 1) * w->poll_ms;
    } else {
      at = w->mail[i] + w->push_ms;
      if (at < w->idle_start) at = w->idle_start;
    }
    if (at < best) best = at;
  }
  return best;
}

/* The server pushes every pending message due at w->t. */
static void do_push(world *w) {
  int through = -1;
  for (size_t i = 0; i < w->nmail;) {
    ni_ms at;
    if (w->poll_ms) {
      at = w->t; /* a poll reports all that arrived before it */
      if (w->mail[i] > w->t) {
        i++;
        continue;
      }
    } else {
      at = w->mail[i] + w->push_ms;
      if (at > w->t) {
        i++;
        continue;
      }
    }
    if (w->lost[i]) {
      i++;
      continue;
    }
    if (through < 0) through = nat_pass(w, 0);
    if (!through) {
      w->lost[i] = 1;
      w->lost_pushes++;
      i++;
      continue;
    }
    w->pushed++;
    ev(w, (ni_ka_event){.type = NI_KA_EV_PUSH_IN_IDLE});
    ev(w, (ni_ka_event){.type = NI_KA_EV_PUSH_DELAY, .delay_ms = at - seen_arrival(w->mail[i])});
    drop_mail(w, i);
  }
}

static void run(world *w, const ni_ka_config *c) {
  assert_int_equal(ni_ka_init(&w->k, c), 0);
  w->t = 0;
  w->reconnect_at = NI_TIME_NEVER;
  w->answer_at = NI_TIME_NEVER;
  w->nmail = 0;
  w->next_mail = rnd(w) % (2 * w->mail_every_ms);
  w->cadence_min_late = NI_TIME_NEVER;
  connected(w);
  while (w->t < w->duration_ms) {
    ni_ms te = w->reconnect_at == NI_TIME_NEVER ? ni_ka_get_expiry(&w->k) : NI_TIME_NEVER;
    if (te != NI_TIME_NEVER) {
      if (te != w->slop_for) {
        w->slop_for = te;
        w->slop = rnd(w) % (1 + ni_ka_interval(&w->k) / 25);
      }
      te += w->slop;
    }
    ni_ms tp = next_push(w);
    ni_ms t = w->next_mail;
    if (w->answer_at < t) t = w->answer_at;
    if (w->reconnect_at < t) t = w->reconnect_at;
    if (tp < t) t = tp;
    if (te < t) t = te;
    assert_true(t >= w->t);
    w->t = t;
    if (t == w->next_mail) {
      assert_true(w->nmail < MAXMAIL);
      w->mail[w->nmail] = t;
      w->lost[w->nmail++] = 0;
      w->next_mail = t + 1 + rnd(w) % (2 * w->mail_every_ms);
    } else if (t == w->reconnect_at) {
      w->reconnect_at = NI_TIME_NEVER;
      connected(w);
    } else if (t == w->answer_at) {
      /* The answer to DONE: first every message the server has not
       * reported (or whose push was lost), then the tagged OK; the
       * messages are judged after it, as the driver fetches them. */
      w->answer_at = NI_TIME_NEVER;
      w->ka_out = 0;
      ev(w, (ni_ka_event){.type = NI_KA_EV_KA_ANSWERED, .rtt_ms = RTT});
      for (size_t i = 0; i < w->nmail;) {
        if (w->mail[i] > w->ka_sent + RTT / 2) {
          i++; /* arrived after the answer left */
          continue;
        }
        if (seen_arrival(w->mail[i]) < w->ka_sent) {
          ni_ms age = w->ka_sent - seen_arrival(w->mail[i]);
          w->in_answers++;
          ev(w, (ni_ka_event){.type = NI_KA_EV_PUSH_IN_NOOP, .age_ms = age});
        }
        drop_mail(w, i);
      }
      w->idle_start = t;
      ev(w, (ni_ka_event){.type = NI_KA_EV_IDLE_ENTERED});
    } else if (t == tp) {
      do_push(w);
    } else {
      ni_ms iv = ni_ka_interval(&w->k);
      ni_ka_action a = ni_ka_handle_expiry(&w->k, t);
      if (a == NI_KA_REIDLE) {
        if (t > w->duration_ms / 2 && iv < w->cadence_min_late) w->cadence_min_late = iv;
        w->ka_out = 1;
        w->ka_sent = t;
        if (nat_pass(w, 1)) w->answer_at = t + RTT;
      } else if (a == NI_KA_DEAD) {
        w->reconnect_at = t + RECONNECT;
      } else {
        assert_int_equal(a, NI_KA_NONE);
      }
    }
  }
}

/* A day with mail every 20 min on average (72 messages). */
static void world_init(world *w, enum nat_kind nat, ni_ms nat_ms, ni_ms poll_ms, uint64_t seed) {
  memset(w, 0, sizeof *w);
  w->nat = nat;
  w->nat_ms = nat_ms;
  w->poll_ms = poll_ms;
  w->push_ms = 150;
  w->mail_every_ms = 20 * MIN;
  w->duration_ms = DAY;
  w->rng = seed * 0x9e3779b97f4a7c15ull + 1;
  w->poll_own_clock = seed & 1;
  w->poll_phase = poll_ms ? rnd(w) % poll_ms : 0;
}

static void print_world(const char *what, const world *w) {
  ni_ms lo, up;
  ni_ka_stats st;
  ni_ka_bracket(&w->k, &lo, &up);
  ni_ka_get_stats(&w->k, &st);
  print_message("%s: interval %.1f s, bracket (%.1f, %.1f] s, push delay %.1f s, %llu pushed, "
                "%llu in answers, %llu pushes lost, %llu failures, %llu dead\n",
                what, ni_ka_interval(&w->k) / 1000.0, lo / 1000.0, up / 1000.0,
                ni_ka_push_delay(&w->k) == NI_TIME_NEVER ? -1.0 : ni_ka_push_delay(&w->k) / 1000.0,
                (unsigned long long)w->pushed, (unsigned long long)w->in_answers,
                (unsigned long long)w->lost_pushes, (unsigned long long)st.failures,
                (unsigned long long)st.dead);
}

/* No NAT at all, a server that polls every 60 s, learning from nothing:
 * messages seen in keepalive answers are up to a minute old, and none of
 * them may teach a NAT.  The cadence climbs to its ceiling and stays
 * there; the bracket (what a client saves in its state file) holds no
 * upper bound.  Twelve different days at the 29-min ceiling, where such
 * messages are rare, and twelve at a 3-min one (max_interval_ms), where
 * they are common. */
static void test_polling_server_no_nat_adaptive(void **state) {
  (void)state;
  uint64_t in_answers = 0, own_clock = 0;
  for (uint64_t seed = 1; seed <= 24; seed++) {
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    world_init(w, NO_NAT, 0, 60 * S, seed);
    ni_ka_config c;
    ni_ka_config_default(&c);
    c.seed = seed;
    ni_ms ceiling = seed > 12 ? 3 * MIN : CAP;
    c.max_interval_ms = seed > 12 ? ceiling : 0;
    run(w, &c);
    if (seed == 1 || seed == 13) print_world("no NAT, polling server, adaptive", w);
    ni_ms lo, up;
    ni_ka_stats st;
    ni_ka_bracket(&w->k, &lo, &up);
    ni_ka_get_stats(&w->k, &st);
    in_answers += w->in_answers;
    own_clock += w->poll_own_clock ? w->in_answers : 0;
    assert_int_equal(up, 0);
    assert_int_equal(st.failures, 0);
    assert_int_equal(st.dead, 0);
    assert_int_equal(ni_ka_interval(&w->k), ceiling);
    assert_int_equal(w->cadence_min_late, ceiling);
    assert_in_range(ni_ka_push_delay(&w->k), 40 * S, 61 * S);
    free(w);
  }
  /* The case under test happened: mail up to a minute old in answers. */
  print_message("%llu messages seen first in a keepalive's answer\n",
                (unsigned long long)in_answers);
  assert_true(own_clock >= 20);
}

/* The report this came from: a cadence of 18 s (a NAT given as 20 s), no
 * NAT in fact, a polling server: the cadence fell to 10 s.  It must stay
 * at 18 s all day, with the bracket as given.  Same with Courier's
 * enhanced IDLE, which reports new mail about a second late. */
static void test_short_cadence_late_server_no_nat(void **state) {
  (void)state;
  const ni_ms polls[2] = {60 * S, 0};
  for (int i = 0; i < 2; i++) {
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    world_init(w, NO_NAT, 0, polls[i], 7);
    w->push_ms = 1100;
    w->mail_every_ms = 90 * S;
    w->poll_own_clock = 0; /* Cyrus: no poll ever comes at this cadence */
    ni_ka_config c;
    ni_ka_config_default(&c);
    c.nat_lower_ms = c.nat_upper_ms = 20 * S;
    c.adaptive = 0;
    run(w, &c);
    print_world(i ? "no NAT, 1.1-s pusher, 18-s cadence" : "no NAT, polling, 18-s cadence", w);
    ni_ms lo, up;
    ni_ka_bracket(&w->k, &lo, &up);
    assert_true(w->in_answers > 20);
    assert_int_equal(lo, 20 * S);
    assert_int_equal(up, 20 * S);
    assert_int_equal(ni_ka_interval(&w->k), 18 * S);
    assert_int_equal(w->cadence_min_late, 18 * S);
    free(w);
  }
}

/* A real NAT of 20 s in front of a server that pushes at once: learned
 * from nothing, within the day, whether the NAT drops everything after
 * its timeout or re-creates the mapping for the keepalive.  In the second
 * case only the lost pushes tell, and the age rule cannot resolve a loss
 * within its threshold (push delay + slack + 2 RTT, 3.5 s here) of the
 * keepalive: the cadence ends within that of the timeout, and the mail
 * lost in between comes with the next keepalive, that little late. */
static void test_real_nat_fast_server(void **state) {
  (void)state;
  for (int loose = 0; loose <= 1; loose++) {
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    world_init(w, loose ? LOOSE : STRICT, 20 * S, 0, 3);
    w->mail_every_ms = 2 * MIN; /* mail is what teaches a loose NAT */
    ni_ka_config c;
    ni_ka_config_default(&c);
    run(w, &c);
    print_world(loose ? "loose 20-s NAT, fast server" : "strict 20-s NAT, fast server", w);
    ni_ms lo, up;
    ni_ka_bracket(&w->k, &lo, &up);
    assert_true(up > 20 * S && up <= 30 * S);
    if (loose) {
      assert_true(w->lost_pushes > 0);
      assert_true(ni_ka_interval(&w->k) < 20 * S + 5 * S);
    } else {
      assert_true(lo <= 20 * S);
      assert_true(ni_ka_interval(&w->k) < 20 * S);
    }
    assert_true(ni_ka_interval(&w->k) >= 14 * S);
    free(w);
  }
}

/* A polling server behind a real NAT that drops everything once it forgot
 * the mapping: the lost keepalives teach it, as without mail. */
static void test_polling_server_behind_nat(void **state) {
  (void)state;
  const ni_ms ts[3] = {20 * S, 90 * S, 5 * MIN};
  for (int i = 0; i < 3; i++) {
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    world_init(w, STRICT, ts[i], 60 * S, 11 + (uint64_t)i);
    ni_ka_config c;
    ni_ka_config_default(&c);
    run(w, &c);
    char what[64];
    snprintf(what, sizeof what, "strict %llu-s NAT, polling server",
             (unsigned long long)(ts[i] / S));
    print_world(what, w);
    ni_ms lo, up, iv = ni_ka_interval(&w->k);
    ni_ka_bracket(&w->k, &lo, &up);
    assert_true(up != 0 && up <= ts[i] + ts[i] / 8);
    assert_true(iv < ts[i] && iv * 10 >= ts[i] * 7);
    free(w);
  }
}

/* What is learned goes to the state file: no NAT stays no NAT. */
static void test_no_nat_state_file(void **state) {
  (void)state;
  char dir[] = "/tmp/natidle-sched-push.XXXXXX";
  assert_non_null(mkdtemp(dir));
  char file[64];
  snprintf(file, sizeof file, "%s/state", dir);
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  world_init(w, NO_NAT, 0, 60 * S, 5);
  ni_ka_config c;
  ni_ka_config_default(&c);
  run(w, &c);
  ni_ms lo, up;
  ni_ka_bracket(&w->k, &lo, &up);
  assert_int_equal(ni_ka_state_save(file, "home", lo, up, 1), 0);
  ni_ms lo2 = 1, up2 = 1;
  assert_int_equal(ni_ka_state_load(file, "home", &lo2, &up2, NULL), 0);
  assert_int_equal(up2, 0);
  assert_true(lo2 >= CAP);
  free(w);
  unlink(file);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_polling_server_no_nat_adaptive),
      cmocka_unit_test(test_short_cadence_late_server_no_nat),
      cmocka_unit_test(test_real_nat_fast_server),
      cmocka_unit_test(test_polling_server_behind_nat),
      cmocka_unit_test(test_no_nat_state_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
