/*
 * keepalive/sim.h - a deterministic simulated NAT, and the keepalive
 * policies natidle is compared with, for tests and benchmarks.
 *
 * The model (all in simulated milliseconds; nothing sleeps, nothing is
 * random):
 *  - One push session sits in IDLE behind a NAT whose idle timeout is T:
 *    the NAT forgets the mapping once the silence (time since the last packet
 *    in either direction) reaches T.  It forgets silently and does not
 *    re-create the mapping for the client's next packet (conntrack with
 *    tcp_loose=0, invalid packets dropped), so after expiry nothing gets
 *    through either way: push is broken.
 *  - No mail arrives and the server sends nothing of its own: the only
 *    traffic is keepalives, which is the worst case for the NAT and the
 *    case that decides the battery cost.  Optionally (server_keepalive_ms)
 *    the server sends its own keepalive during IDLE, as Dovecot does ("* OK
 *    Still here"): at the fixed times server_phase_ms + n x
 *    server_keepalive_ms, whatever the client does (Dovecot aligns them so,
 *    and a new IDLE keeps the alignment), from server_stop_ms on no more
 *    until server_resume_ms.  One that meets a live mapping restarts the
 *    NAT's silence and reaches the client at once; one that meets an
 *    expired mapping is lost.
 *  - A keepalive sent while the mapping lives is answered one RTT later; the
 *    answer crosses the NAT then and restarts its silence.  One sent after
 *    expiry is lost; the client notices when its deadline passes (natidle:
 *    its verdict deadline, from the round trips after such a silence, see
 *    keepalive.h; the baselines: baseline_reply_ms), then reconnects, which
 *    takes reconnect_ms and gives a fresh mapping.
 *  - Push is broken from the moment the mapping expired until the
 *    reconnect completes.
 *  - A wakeup is a keepalive sent or a reconnect started: each wakes the
 *    radio.  (Both happen at separate moments of the client's choosing.)
 *    radio_wakeups counts what the phone's radio really does: every packet
 *    sent or received (the server's keepalives included) more than
 *    NI_KA_FLOOR_MS after the last one either way.
 *  - Optionally (loss_permille) an answer is lost at random although the
 *    mapping lives: the client counts a failure and reconnects for nothing.
 *  - Optionally (radio_idle_ms, radio_wake_ms) the phone's radio sleeps
 *    after radio_idle_ms without a packet either way, and the next packet
 *    first waits radio_wake_ms for it to wake, as lab/link-relay models it.
 *    The radio is on the phone's side of the NAT: a keepalive sent after a
 *    long silence reaches the NAT radio_wake_ms later, so the NAT's silence
 *    is that much longer than the client's, and its answer comes that much
 *    later.  A client whose deadline passes while the answer is still on
 *    its way declares a live connection dead (a false death) and
 *    reconnects; the answer is then lost with the connection.
 *
 * The baselines, as published by their authors (see docs on prior art):
 *  - fixed: a keepalive after every fixed_ms of silence (K-9 24 min,
 *    FairEmail's default 15 min, RFC 2177's 29 min, or a server's own
 *    2-min "* OK Still here" seen as a cadence);
 *  - WeChat-style "smart heartbeat": start 4.5 min, +60 s after every 3
 *    consecutive successes, at most 14 min 50 s, never below 4.5 min; a
 *    failure settles it 80 s below the failed interval and stops the climb;
 *    once settled, +20 s after a week without failure;
 *  - FairEmail-style: start 15 min; every 3 consecutive failures lower it by
 *    2 min, never below 9 min; after 3 consecutive successes it stops tuning
 *    for good.
 */
#ifndef NATIDLE_KEEPALIVE_SIM_H
#define NATIDLE_KEEPALIVE_SIM_H

#include "natidle/keepalive.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Constants of the baselines (ms). */
#define NI_SIM_WECHAT_START_MS 270000u
#define NI_SIM_WECHAT_STEP_MS 60000u
#define NI_SIM_WECHAT_MAX_MS 890000u
#define NI_SIM_WECHAT_BACKOFF_MS 80000u
#define NI_SIM_WECHAT_REPROBE_MS 20000u
#define NI_SIM_WECHAT_WEEK_MS (7ull * 24 * 3600 * 1000)
#define NI_SIM_FAIREMAIL_START_MS 900000u
#define NI_SIM_FAIREMAIL_STEP_MS 120000u
#define NI_SIM_FAIREMAIL_MIN_MS 540000u

/* Which client keeps the session alive. */
typedef enum ni__sim_policy {
  NI_SIM_NATIDLE = 1, /* the natidle scheduler, configured by ni__sim_config.ka */
  NI_SIM_FIXED,       /* a fixed cadence of ni__sim_config.fixed_ms */
  NI_SIM_WECHAT,      /* linear climb, settles below a failure */
  NI_SIM_FAIREMAIL    /* starts high, steps down only */
} ni__sim_policy;

/* A baseline tuner: the interval it uses next and what it does with the
 * outcome of a keepalive.  Caller-allocated; fields are private. */
typedef struct ni__sim_tuner {
  ni__sim_policy policy;
  ni_ms interval;
  unsigned ok_run, fail_run; /* consecutive successes / failures */
  int settled;               /* WeChat: climb stopped; FairEmail: tuning stopped */
  ni_ms settled_for;         /* WeChat: silence survived since the last change */
} ni__sim_tuner;

/* Initialise a baseline tuner (NI_SIM_FIXED, NI_SIM_WECHAT or
 * NI_SIM_FAIREMAIL; fixed_ms is used by NI_SIM_FIXED only).  Returns 0 or
 * NI_EUSAGE (NULL, NI_SIM_NATIDLE, or a fixed cadence of 0). */
int ni__sim_tuner_init(ni__sim_tuner *t, ni__sim_policy policy, ni_ms fixed_ms);

/* The silence (ms) after which the tuner sends its next keepalive. */
ni_ms ni__sim_tuner_interval(const ni__sim_tuner *t);

/* Tell the tuner how its last keepalive went: answered (1) or not (0). */
void ni__sim_tuner_report(ni__sim_tuner *t, int answered);

/* One simulation. */
typedef struct ni__sim_config {
  ni_ms nat_timeout_ms;    /* T: the NAT forgets after this much silence */
  ni_ms duration_ms;       /* simulated time (default 24 h) */
  ni_ms rtt_ms;            /* round trip (default 200 ms) */
  ni_ms reconnect_ms;      /* TCP + TLS + LOGIN + SELECT + IDLE (default 2 s) */
  ni_ms baseline_reply_ms; /* baselines' wait for an answer (default 10 s) */
  ni_ms after_ms;          /* start of the second tally window (default 1 h) */
  unsigned band_permille;  /* "settled" band: a keepalive silence in
                              [band x C, C), C = min(T, cap), or exactly
                              the cap when T is above it (default 700) */
  /* Random loss: each keepalive's answer is lost with this probability
   * (per mille) although the mapping lives, e.g. a radio that took too long
   * to wake.  The client sees a failure and reconnects; push is not broken.
   * Drawn from a xorshift generator seeded with loss_seed (default 0 = no
   * loss). */
  unsigned loss_permille;
  uint64_t loss_seed;
  /* The radio (see the model above); 0 = a radio that never sleeps. */
  ni_ms radio_idle_ms;
  ni_ms radio_wake_ms;
  /* The server's own keepalive (see the model above); 0 = none.
   * server_stop_ms 0 = it never stops; server_resume_ms 0 = never again. */
  ni_ms server_keepalive_ms;
  ni_ms server_phase_ms;
  ni_ms server_stop_ms;
  ni_ms server_resume_ms;
  ni__sim_policy policy;
  ni_ms fixed_ms;  /* NI_SIM_FIXED */
  ni_ka_config ka; /* NI_SIM_NATIDLE */
} ni__sim_config;

/* Tallies over a window of the simulation. */
typedef struct ni__sim_tally {
  uint64_t wakeups;       /* keepalives + reconnects */
  uint64_t keepalives;    /* keepalives sent */
  uint64_t failures;      /* keepalives lost to an expired mapping */
  ni_ms broken_ms;        /* time push was broken */
  uint64_t false_dead;    /* connections declared dead while the keepalive's
                             answer was on its way */
  uint64_t server_rx;     /* the server's keepalives that reached the client */
  uint64_t radio_wakeups; /* packets either way after NI_KA_FLOOR_MS of
                             radio silence (see the model above) */
} ni__sim_tally;

typedef struct ni__sim_result {
  ni__sim_tally all;       /* the whole run */
  ni__sim_tally after;     /* from after_ms to the end */
  ni_ms span_ms;           /* duration - after_ms: the second window's length */
  ni_ms cap_ms;            /* the re-IDLE cap the band was measured against */
  ni_ms final_interval_ms; /* the interval in use at the end */
  /* Time of the last keepalive that failed or fell outside the band; 0 if
   * none did.  The policy "settled" if this is well before the end. */
  ni_ms last_bad_ms;
  /* The first keepalive the client sent at or after server_stop_ms, when
   * the server's keepalive stopped; NI_TIME_NEVER if none. */
  ni_ms first_after_stop_ms;
  ni_ka_stats ka; /* NI_SIM_NATIDLE: the scheduler's counters at the end */
} ni__sim_result;

/* Fill `c` with the defaults above for a NAT timeout of nat_timeout_ms;
 * policy NI_SIM_NATIDLE with ni_ka_config_default(). */
void ni__sim_config_default(ni__sim_config *c, ni_ms nat_timeout_ms);

/* Run one simulation.  Returns 0, or NI_EUSAGE for a NULL pointer, a zero
 * timeout or duration, or a configuration the policy rejects. */
int ni__sim_run(const ni__sim_config *c, ni__sim_result *r);

/* The fewest wakeups any client could need over `span_ms` with a NAT timeout
 * T and the 29-min rule: span / min(T, cap), as a real number. */
double ni__sim_min_wakeups(ni_ms span_ms, ni_ms nat_timeout_ms, ni_ms cap_ms);

#ifdef __cplusplus
}
#endif
#endif /* NATIDLE_KEEPALIVE_SIM_H */
