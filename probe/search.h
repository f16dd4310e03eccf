/*
 * probe/search.h - where to spend the probe's K silent sessions.
 *
 * The search keeps the bracket (L, U]: L is the longest silence seen alive,
 * U the shortest silence seen dead (above L).  It tells the caller, for
 * each probe session, the silence at which that session should be checked
 * (its "target"), and learns from the outcome of every check.  It does no
 * I/O and reads no clock: every call that needs the time takes `now`, a
 * millisecond timestamp on the caller's monotonic clock.
 *
 * Protocol for the caller (the probe runtime or the simulator):
 *
 *   1. A session i (0 <= i < cfg.sessions) that is connected, in IDLE and
 *      silent since `since` calls ni__search_arm(s, i, since, now).  A
 *      target of 0 means "park": keep the session open but do not check
 *      it; ask again (ni__search_arm) after the next ni__search_result.
 *   2. The caller arms a timer at since + target.  Targets move when the
 *      bracket moves, so after every ni__search_arm, ni__search_result,
 *      ni__search_observe, ni__search_server_keepalive and
 *      ni__search_lower_sessions the caller re-reads ni__search_target() of
 *      every armed session that is not being checked, and re-arms its
 *      timer (a target of 0 parks the session).
 *   3. When the timer fires, the caller reads ni__search_target() once more:
 *      if the target is still above the session's silence it re-arms the
 *      timer, otherwise it starts the check (APPEND by the control
 *      connection, wait for EXISTS up to the detection deadline).
 *   4. The outcome goes to ni__search_result() with the silence the session
 *      really had when the check was triggered.  The session is then no
 *      longer armed: after a live check the caller re-enters IDLE and arms
 *      it again (step 1); after a dead check it reconnects first.  A
 *      session lost without a check (its connection ended for another
 *      reason) is reported as NI_OBS_VOID too: otherwise the search still
 *      counts it as armed, against the session limit.
 *   5. The run ends when ni__search_verdict() is not NI_VERDICT_RUNNING.
 *
 * A session whose silence has reached its target is treated as being
 * checked: its target is frozen until its result comes in.
 */
#ifndef NATIDLE_PROBE_SEARCH_H
#define NATIDLE_PROBE_SEARCH_H

#include "natidle/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How the sessions are spent.
 *   ADAPTIVE  rolling geometric ladder until the first death, then (L, U]
 *             split by the sessions in their order of arrival (parallel
 *             K-section for those arriving together, pipelined bisection
 *             for later ones), re-planned after every result.
 *   GRID      baseline: fixed uniform grid over [min, max] with grid_step_s,
 *             every point checked once (the whole range, whatever T is).
 *   BISECT    baseline: one session, bisection of (L, U] (U = max at first). */
typedef enum { NI_STRAT_ADAPTIVE = 0, NI_STRAT_GRID, NI_STRAT_BISECT } ni_strategy;

/* Parse "adaptive", "grid" or "bisect" into *out.  Returns 0, or NI_EUSAGE
 * (and leaves *out alone) for anything else or NULL. */
int ni__strategy_parse(const char *s, ni_strategy *out);

/* Name of a strategy ("adaptive", "grid", "bisect"); "?" when unknown. */
const char *ni__strategy_name(ni_strategy st);

/* Outcome of one check.  VOID means no information (the silence was
 * refreshed by other traffic, the control connection broke, an error). */
typedef enum { NI_OBS_ALIVE, NI_OBS_DEAD, NI_OBS_VOID } ni_obs;

/* State of the search; RUNNING until a stop condition holds. */
typedef enum {
  NI_VERDICT_RUNNING = 0,
  NI_VERDICT_MEASURED,     /* U - L <= resolution and U confirmed (grid: all
                              points checked) */
  NI_VERDICT_ABOVE_MAX,    /* alive at max, no death below */
  NI_VERDICT_MASKED,       /* server keepalive hides silences >= its interval */
  NI_VERDICT_INCONCLUSIVE, /* no usable bracket (no sessions, check limit,
                              contradictory results, or ni__search_stop) */
  NI_VERDICT_NO_PUSH       /* never from the search: the engine's verdict for a
                              server whose IDLE does not report new mail */
} ni_verdict;

/* A check aimed at max (or at the server-keepalive cap) whose session
 * survived this close below it counts as reaching it: timers and push
 * times wobble by a few milliseconds, and checking again at the same
 * silence would tell nothing new. */
#define NI_SEARCH_REACH_S 0.05

/* "running", "measured", "above_max", "masked_by_server", "inconclusive",
 * "no_push". */
const char *ni__verdict_name(ni_verdict v);

/* Configuration.  All times in seconds. */
typedef struct ni_search_cfg {
  double min_s;         /* shortest silence worth checking (default 2) */
  double max_s;         /* longest silence checked; alive there = above_max
                           (default 7440: beyond RFC 2177's 29 min x 4) */
  double resolution_s;  /* stop when U - L <= this; 0 = max(1 s, 2 % of L)
                           (default 0) */
  unsigned sessions;    /* K, number of probe sessions, 1..64 (default 8) */
  ni_strategy strategy; /* default NI_STRAT_ADAPTIVE */
  double grid_step_s;   /* GRID only: step; 0 = max(1 s, (max - min) / 4K) */
  double detect_s;      /* detection deadline, used for planning and for the
                           server-keepalive cap only (default 2) */
  unsigned confirm;     /* deaths needed at U (within a quarter of the
                           resolution) before the bracket is trusted: a lost
                           or late EXISTS looks like a death.  1 trusts one
                           death; default 2; at most 8 */
} ni_search_cfg;

/* Fill *c with the defaults above. */
void ni__search_cfg_default(ni_search_cfg *c);

/* Check a configuration.  Returns 0, or NI_EUSAGE with *why (if why is not
 * NULL) pointing at a static sentence naming the bad field. */
int ni__search_cfg_check(const ni_search_cfg *c, const char **why);

typedef struct ni_search ni_search;

/* A new search with a copy of *c.  Returns NULL when *c fails
 * ni__search_cfg_check or memory runs out. */
ni_search *ni__search_new(const ni_search_cfg *c);

/* Free a search; NULL is fine. */
void ni__search_free(ni_search *s);

/* Session i (0..K-1) is ready and silent since `silent_since` (ms, caller's
 * clock); now = current time (ms).  Returns its target silence in seconds
 * (> 0), or 0 when the session should not be used now (the search is over,
 * the session is beyond the current session limit, or the strategy does not
 * need it): park it and ask again after the next result.  Arming an armed
 * session again replaces its silence start. */
double ni__search_arm(ni_search *s, unsigned i, ni_ms silent_since, ni_ms now);

/* Current target silence of session i in seconds: moves when the bracket
 * moves, never below the silence the session already has at `now` (a
 * target equal to the current silence means "check now").  0 = parked or
 * not armed. */
double ni__search_target(const ni_search *s, unsigned i, ni_ms now);

/* The check of session i at silence `silence_s` (seconds) gave outcome o at
 * time now (ms).  The session is no longer armed afterwards.  An ALIVE above
 * U wins over the earlier death (a survival is proof, a death may be a lost
 * packet): the bracket widens again and the contradiction is counted. */
void ni__search_result(ni_search *s, unsigned i, double silence_s, ni_obs o, ni_ms now);

/* An observation from elsewhere (a resumed run's CSV, another direction's
 * checks): moves the bracket like a result but arms or disarms nothing. */
void ni__search_observe(ni_search *s, double silence_s, ni_obs o);

/* The server refreshes idle sessions every interval_s seconds (the caller
 * saw unsolicited server data during IDLE).  Targets are capped at
 * interval_s - max(1 s, detect_s); when L reaches that cap with no death at
 * or below it, the verdict is NI_VERDICT_MASKED.  The smallest interval
 * reported wins.  interval_s <= 0 is ignored. */
void ni__search_server_keepalive(ni_search *s, double interval_s);

/* The server refused a connection for a limit: from now on at most k
 * sessions are armed at once (k >= 1; 0 ends the search as inconclusive).
 * Armed sessions above the limit (highest indices first) are parked. */
void ni__search_lower_sessions(ni_search *s, unsigned k);

/* The caller gives up (interrupted, time limit).  The verdict becomes
 * whatever the data supports now: measured when U - L <= resolution,
 * above_max/masked when those hold, otherwise inconclusive. */
void ni__search_stop(ni_search *s);

/* NI_VERDICT_RUNNING until done. */
ni_verdict ni__search_verdict(const ni_search *s);

/* The bracket in seconds: *lower_s = L (0 when nothing was seen alive),
 * *upper_s = U (INFINITY when nothing was seen dead).  Either pointer may
 * be NULL. */
void ni__search_bracket(const ni_search *s, double *lower_s, double *upper_s);

/* The resolution in force now (seconds): cfg.resolution_s, or
 * max(1 s, 2 % of L); for GRID at least the grid step. */
double ni__search_resolution(const ni_search *s);

/* Best single value (seconds): midpoint of (L, U], or L when U is unknown. */
double ni__search_estimate(const ni_search *s);

/* Number of results and observations that carried information (ALIVE or
 * DEAD) so far. */
unsigned ni__search_checks(const ni_search *s);

/* Number of ALIVE observations above an earlier U (see ni__search_result). */
unsigned ni__search_contradictions(const ni_search *s);

/* The session limit in force (cfg.sessions, or lower after
 * ni__search_lower_sessions). */
unsigned ni__search_sessions(const ni_search *s);

/* Rough time left in seconds, for a status line; < 0 when unknown (no upper
 * bound yet), 0 when done. */
double ni__search_eta_s(const ni_search *s, ni_ms now);

/* Network events.  A phone that changes cell, or a carrier NAT that
 * rebinds, loses every mapping at once, the control connection's included;
 * the caller sees it as the control connection losing its own mapping (a
 * NOOP or an APPEND unanswered, a reset, a reconnect).  A session whose
 * silence spans such an event died of the event, not of the timeout (and
 * one that survived it was not tested by it either): that observation is
 * void.  A session is evidence again only once its whole silence came
 * after the control connection's last recovery.  Only the latest event is
 * kept: a silence that spans an earlier one spans every later one up to
 * the moment it is judged. */
typedef struct ni_net_events {
  unsigned n; /* events so far */
  ni_ms from; /* the latest one began after this (the last answer before it) */
  ni_ms to;   /* ... and ended here (the control connection back); 0 = not yet */
} ni_net_events;

/* The control connection lost its mapping; last_ok is the last moment it
 * was known to work.  Opens an event, unless one is open already (a failed
 * reconnect is the same event).  Returns 1 when an event began. */
int ni__net_lost(ni_net_events *e, ni_ms last_ok);

/* The control connection works again at now: closes the open event.
 * Returns 1 when an event ended. */
int ni__net_back(ni_net_events *e, ni_ms now);

/* Does a silence that began at silent_since, judged at now (its check's
 * verdict, or its end), span a network event?  While an event is open,
 * every silence judged after it began does. */
int ni__net_spans(const ni_net_events *e, ni_ms silent_since, ni_ms now);

#ifdef __cplusplus
}
#endif
#endif /* NATIDLE_PROBE_SEARCH_H */
