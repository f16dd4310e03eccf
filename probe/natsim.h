/*
 * probe/natsim.h - a deterministic simulated prober.
 *
 * K probe sessions behind a NAT that forgets a mapping after T seconds of
 * silence, driving an ni_search in simulated time exactly as the probe
 * runtime does (arm, timers at silent_since + target, re-read targets after
 * every call, checks that take a detection deadline when dead, reconnects).
 * Used by the search's tests and by the simulation benchmark: a run over
 * hours of simulated time takes microseconds and never sleeps.
 */
#ifndef NATIDLE_PROBE_NATSIM_H
#define NATIDLE_PROBE_NATSIM_H

#include <stdint.h>
#include <stdio.h>

#include "probe/search.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The simulated network and prober.  All times in seconds. */
typedef struct ni_natsim_cfg {
  double nat_timeout_s;      /* T: a check at silence >= T finds the mapping gone */
  double detect_s;           /* detection deadline: no EXISTS by then means dead */
  double done_s;             /* then DONE is sent and waited for this long before
                                the death is recorded (dead_silent) */
  double exists_s;           /* APPEND -> EXISTS latency of a live check */
  double rearm_s;            /* DONE + IDLE after a live check, before silence starts */
  double connect_s;          /* connect + TLS + login + SELECT + IDLE of a session */
  double jitter_s;           /* each overhead above gets a uniform extra 0..jitter_s */
  double timer_jitter_s;     /* timers fire late by a uniform 0..timer_jitter_s */
  double server_keepalive_s; /* the server sends data every S s of silence; 0 = never */
  double max_wall_s;         /* stop (ni__search_stop) after this much simulated time */
  unsigned void_every;       /* every n-th check comes back VOID (0 = never) */
  double false_dead;         /* probability that a live check looks dead (a lost or
                                late EXISTS); drawn from the seeded generator */
  unsigned lower_to;         /* with lower_at_s > 0: lower the session limit to this */
  double lower_at_s;         /* ... at this simulated time */
  uint64_t seed;             /* for the jitter; the same seed gives the same run */
  FILE *trace;               /* one line per event when not NULL */
  /* Called after every result handed to the search (NULL = none), e.g. to
   * keep the observations for a resumed run. */
  void (*on_result)(void *ud, unsigned session, double silence_s, ni_obs o, double at_s);
  void *ud;
} ni_natsim_cfg;

/* What a run did. */
typedef struct ni_natsim_result {
  ni_verdict verdict;
  double lower_s, upper_s;        /* the search's final bracket */
  double wall_s;                  /* simulated time from start to verdict */
  unsigned checks;                /* checks started by the simulated prober */
  unsigned deaths;                /* of which found dead */
  unsigned voids;                 /* of which VOID (injected or refreshed) */
  unsigned target_below_silence;  /* targets read below the session's silence (must be 0) */
  unsigned max_armed;             /* most sessions armed or being checked at once */
  unsigned max_armed_after_lower; /* the same, after the session limit was lowered */
} ni_natsim_result;

/* Defaults: T = 60, detect 2 s, DONE wait 2 s, EXISTS 0.1 s, re-arm 0.1 s, connect 1 s,
 * jitter 0.2 s, timer jitter 0.05 s, no server keepalive, max wall 10 days,
 * seed 1. */
void ni__natsim_cfg_default(ni_natsim_cfg *c);

/* Run the simulated prober with `sessions` sessions against search s (made
 * by the caller, possibly fed observations already) until its verdict is
 * reached, nothing is left to do, or max_wall_s passes.  Fills *out.
 * Returns 0, or NI_EUSAGE for a bad argument. */
int ni__natsim_run(const ni_natsim_cfg *c, ni_search *s, unsigned sessions, ni_natsim_result *out);

#ifdef __cplusplus
}
#endif
#endif /* NATIDLE_PROBE_NATSIM_H */
