/*
 * probe/search.c - where to spend the probe's K silent sessions.
 *
 * No I/O, no clock: see search.h for the calling protocol.
 *
 * The adaptive strategy has two phases.
 *
 * Without an upper bound it runs a rolling geometric ladder: the free
 * sessions, sorted by the silence they already have (longest first), get
 * the levels base*g, base*g^2, ... above the highest alive silence or check
 * in flight.  A session that survives its check is re-armed at silence 0
 * and so takes the top of the ladder.  The ladder therefore keeps the K
 * sessions staggered: when the first death gives U, the sessions re-armed
 * at the last few levels have silences spread between about U/4 and U, so
 * several of them are already inside (L, U) or close below it and can be
 * checked at once instead of climbing from zero.  With K sessions a level
 * x is reached at about x / (1 - g^-K) after the start, and U <= g T, so the
 * first death comes at about g T / (1 - g^-K) (1.5 T for K = 8, g = 1.25).
 *
 * With an upper bound it splits (L, U) by time of arrival, re-planned
 * after every event (see ni_plan_section): sessions that reach the bracket
 * before each other's results can be known share it out (parallel
 * K-section, one round shrinks it about K+1 times); a session that gets
 * there later holds the middle of today's bracket as a placeholder and
 * moves when the earlier results come in (pipelined bisection).  A target
 * is only a plan until the session's silence reaches it, so moving it
 * costs nothing.  Sessions whose silence already passed U can tell nothing
 * new: they are checked at once, which recycles them (a live one restarts
 * from zero, a dead one reconnects) sooner than waiting would.
 *
 * A lost or late EXISTS looks like a death, and a death taken on trust
 * ends the run with a bracket below T.  So, by default, a bracket narrow
 * enough is only trusted once a second death at U confirms it: the session
 * that reaches U first checks U again.  A survival there removes the false
 * death (a survival is proof) and the search goes on.  In simulation with 1 %
 * of live checks looking dead this turns 8 % wrong brackets into 0.2 %.
 *
 * In simulation (bench/probe_sim.c) with K = 8 this reaches the default
 * resolution, confirmed, in at most 0.81 x (2.5 T + 30 s) for T from 3 s
 * to 2 h.
 */
#include "probe/search.h"
#include "common/defaults.h"
#include "common/num.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A target within this many seconds of the silence counts as reached: the
 * caller's timers work in whole milliseconds. */
#define NI_SEARCH_SLACK_S 0.002
/* Upper limits that keep a confused run from going on for ever. */
#define NI_SEARCH_MAX_SESSIONS 64u
#define NI_SEARCH_MAX_CHECKS 20000u
#define NI_SEARCH_MAX_GRID 100000.0

typedef struct {
  int armed;
  ni_ms since;   /* silence start, caller's ms */
  double target; /* planned target silence, s; 0 = none */
  int grid_pt;   /* GRID: index of the point this session checks, or -1 */
} ni_search_sess;

struct ni_search {
  ni_search_cfg cfg;
  unsigned limit;      /* sessions armed at once */
  ni_search_sess *ss;  /* cfg.sessions entries */
  double lower, upper; /* the bracket (L, U] */
  double *dead;        /* every silence seen dead, to recompute U */
  size_t ndead, capdead;
  unsigned checks, contradictions;
  double server_s; /* server keepalive interval, INFINITY = none */
  double cap;      /* longest observable silence, INFINITY = none */
  ni_verdict verdict;
  double ladder;    /* adaptive: ladder ratio g */
  ni_ms last_now;   /* latest `now` passed in */
  int bisect_owner; /* BISECT: the one session it uses, -1 = none yet */
  ni_ms owner_idle; /* BISECT: when the owner's last check ended */
  int learnt;       /* the resolution is the engine's measured blur */
  /* GRID: the points and their state (0 free, 1 assigned, 2 done). */
  double grid_step;
  unsigned grid_n;
  unsigned char *grid_state;
};

static const char *const ni_strategy_names[] = {"adaptive", "grid", "bisect"};

int ni__strategy_parse(const char *s, ni_strategy *out) {
  if (!s || !out) return NI_EUSAGE;
  for (unsigned i = 0; i < sizeof ni_strategy_names / sizeof ni_strategy_names[0]; i++) {
    if (!strcmp(s, ni_strategy_names[i])) {
      *out = (ni_strategy)i;
      return 0;
    }
  }
  return NI_EUSAGE;
}

const char *ni__strategy_name(ni_strategy st) {
  if ((unsigned)st < sizeof ni_strategy_names / sizeof ni_strategy_names[0])
    return ni_strategy_names[st];
  return "?";
}

const char *ni__verdict_name(ni_verdict v) {
  switch (v) {
  case NI_VERDICT_RUNNING:
    return "running";
  case NI_VERDICT_MEASURED:
    return "measured";
  case NI_VERDICT_ABOVE_MAX:
    return "above_max";
  case NI_VERDICT_MASKED:
    return "masked_by_server";
  case NI_VERDICT_INCONCLUSIVE:
    return "inconclusive";
  case NI_VERDICT_NO_PUSH:
    return "no_push";
  }
  return "?";
}

void ni__search_cfg_default(ni_search_cfg *c) {
  memset(c, 0, sizeof *c);
  c->min_s = NI_PROBE_DEFAULT_MIN_S;
  c->max_s = NI_PROBE_DEFAULT_MAX_S;
  c->resolution_s = 0;
  c->sessions = NI_PROBE_DEFAULT_SESSIONS;
  c->strategy = NI_STRAT_ADAPTIVE;
  c->grid_step_s = 0;
  c->detect_s = 2;
  c->confirm = 2;
}

int ni__search_cfg_check(const ni_search_cfg *c, const char **why) {
  const char *w = NULL;
  /* The comparisons are written so that NaN fails them too. */
  if (!c)
    w = "no configuration";
  else if (!(c->min_s > 0 && c->min_s < 1e7))
    w = "min must be a positive number of seconds";
  else if (!(c->max_s > c->min_s && c->max_s < 1e7))
    w = "max must be above min";
  else if (!(c->resolution_s >= 0 && c->resolution_s < 1e7))
    w = "resolution must be 0 (automatic) or a positive number of seconds";
  else if (c->sessions < 1 || c->sessions > NI_SEARCH_MAX_SESSIONS)
    w = "sessions must be between 1 and 64";
  else if ((unsigned)c->strategy > NI_STRAT_BISECT)
    w = "unknown strategy";
  else if (!(c->grid_step_s >= 0 && c->grid_step_s < 1e7))
    w = "grid step must be 0 (automatic) or a positive number of seconds";
  else if (c->strategy == NI_STRAT_GRID && c->grid_step_s > 0 &&
           (c->max_s - c->min_s) / c->grid_step_s > NI_SEARCH_MAX_GRID)
    w = "grid step too small: the grid would have more than 100000 points";
  else if (!(c->detect_s >= 0 && c->detect_s < 3600))
    w = "detection deadline must be between 0 and 3600 seconds";
  else if (c->confirm > 8)
    w = "confirm must be between 0 and 8 deaths";
  if (why) *why = w;
  return w ? NI_EUSAGE : 0;
}

static double ni_silence(const ni_search_sess *ss, ni_ms now) {
  return now > ss->since ? (double)(now - ss->since) / 1000.0 : 0.0;
}

/* A session whose silence reached its target is being checked. */
static int ni_frozen(const ni_search_sess *ss, ni_ms now) {
  return ss->armed && ss->target > 0 && ni_silence(ss, now) >= ss->target - NI_SEARCH_SLACK_S;
}

double ni__search_resolution(const ni_search *s) {
  double r = s->cfg.resolution_s > 0 ? s->cfg.resolution_s : fmax(1.0, 0.02 * s->lower);
  if (s->cfg.strategy == NI_STRAT_GRID) r = fmax(r, s->grid_step);
  return r;
}

/* Whether U is backed by cfg.confirm deaths at U or just above it (a
 * quarter of the resolution: the timers' lateness, nothing more).  With a
 * resolution the engine learnt from its checks' blur, half of it: a check
 * aimed at U lands that far above it when it dies, and a narrower window
 * would leave the confirmation to luck. */
static int ni_confirmed(const ni_search *s) {
  unsigned n = 0;
  double near = s->upper + ni__search_resolution(s) / (s->learnt ? 2 : 4);
  if (s->cfg.confirm <= 1 || !isfinite(s->upper)) return 1;
  for (size_t k = 0; k < s->ndead; k++)
    if (s->dead[k] >= s->upper && s->dead[k] <= near) n++;
  return n >= s->cfg.confirm;
}

/* Longest silence worth a check: max, or below the server's keepalive. */
static double ni_top(const ni_search *s) {
  return fmin(s->cfg.max_s, s->cap);
}

static int ni_grid_all_done(const ni_search *s) {
  for (unsigned j = 0; j < s->grid_n; j++)
    if (s->grid_state[j] != 2) return 0;
  return 1;
}

/* The verdict the data supports now; RUNNING when the search should go on.
 * `final` is set by ni__search_stop: the caller will not check any more. */
static ni_verdict ni_judge(const ni_search *s, int final) {
  double res = ni__search_resolution(s);
  int grid = s->cfg.strategy == NI_STRAT_GRID;
  if (s->limit == 0 || s->checks >= NI_SEARCH_MAX_CHECKS ||
      s->contradictions > 4 * s->cfg.sessions + 4)
    return NI_VERDICT_INCONCLUSIVE;
  if (grid && !final && !ni_grid_all_done(s)) return NI_VERDICT_RUNNING;
  /* Nothing below min is ever checked: a death at min itself (give or take
   * the timers' lateness) is as narrow as the bracket will get. */
  if (isfinite(s->upper) &&
      (grid || ((s->upper - s->lower <= res + 1e-9 || s->upper <= s->cfg.min_s + res / 4) &&
                (final || ni_confirmed(s)))))
    return NI_VERDICT_MEASURED;
  /* Nothing at or below max died and max itself survived (or everything
   * up to within the resolution of it, when U lies beyond max). */
  if (!(s->upper <= s->cfg.max_s) && (s->lower >= s->cfg.max_s - NI_SEARCH_REACH_S ||
                                      (isfinite(s->upper) && s->cfg.max_s - s->lower <= res)))
    return NI_VERDICT_ABOVE_MAX;
  /* Silences above the cap cannot be seen; everything below it survived. */
  if (isfinite(s->cap) && !(s->upper <= s->cap) &&
      (s->lower >= s->cap - NI_SEARCH_REACH_S || (isfinite(s->upper) && s->cap - s->lower <= res)))
    return NI_VERDICT_MASKED;
  if (isfinite(s->cap) && s->cap <= s->cfg.min_s) return NI_VERDICT_MASKED;
  return final || grid ? NI_VERDICT_INCONCLUSIVE : NI_VERDICT_RUNNING;
}

/* g^K = 6 puts the first death at about 1.5 T for K = 8; fewer sessions
 * need a steeper ladder or the climb itself takes too long. */
static double ni_ladder_ratio(unsigned k) {
  return fmin(2.0, fmax(1.2, pow(6.0, 1.0 / (k ? k : 1))));
}

ni_search *ni__search_new(const ni_search_cfg *c) {
  if (ni__search_cfg_check(c, NULL)) return NULL;
  ni_search *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->cfg = *c;
  s->limit = c->sessions;
  s->lower = 0;
  s->upper = INFINITY;
  s->server_s = INFINITY;
  s->cap = INFINITY;
  s->verdict = NI_VERDICT_RUNNING;
  s->ladder = ni_ladder_ratio(c->sessions);
  s->bisect_owner = -1;
  s->ss = calloc(c->sessions, sizeof *s->ss);
  if (!s->ss) {
    ni__search_free(s);
    return NULL;
  }
  for (unsigned i = 0; i < c->sessions; i++)
    s->ss[i].grid_pt = -1;
  if (c->strategy == NI_STRAT_GRID) {
    double step = c->grid_step_s > 0 ? c->grid_step_s
                                     : fmax(1.0, (c->max_s - c->min_s) / (4.0 * c->sessions));
    double n = ceil((c->max_s - c->min_s) / step - 1e-9) + 1;
    s->grid_step = step;
    s->grid_n = n > NI_SEARCH_MAX_GRID + 1 ? 0 : (unsigned)n;
    s->grid_state = s->grid_n ? calloc(s->grid_n, 1) : NULL;
    if (!s->grid_state) {
      ni__search_free(s);
      return NULL;
    }
  }
  return s;
}

void ni__search_free(ni_search *s) {
  if (!s) return;
  free(s->ss);
  free(s->dead);
  free(s->grid_state);
  free(s);
}

static double ni_grid_point(const ni_search *s, unsigned j) {
  return fmin(s->cfg.min_s + j * s->grid_step, s->cfg.max_s);
}

/* ---- planning ---------------------------------------------------------- */

typedef struct {
  unsigned i;
  double sil;
} ni_free_sess;

static int ni_by_sil_desc(const void *a, const void *b) {
  double x = ((const ni_free_sess *)a)->sil, y = ((const ni_free_sess *)b)->sil;
  return (x < y) - (x > y);
}

/* Rolling ladder while U is unknown. */
static void ni_plan_ladder(ni_search *s, ni_free_sess *f, unsigned m, double base) {
  double top = ni_top(s);
  double level = base > 0 ? fmax(s->cfg.min_s, base * s->ladder) : s->cfg.min_s;
  qsort(f, m, sizeof *f, ni_by_sil_desc);
  for (unsigned j = 0; j < m; j++) {
    double t = fmax(fmin(level, top), f[j].sil);
    s->ss[f[j].i].target = t;
    level = fmax(level, t) * s->ladder;
  }
}

/* Split (L, hi) with the free sessions, taking time into account.
 *
 * Sessions are taken in the order in which they can first check a silence
 * above L (longest silence first).  Each one splits, at its middle, the gap
 * that leaves the narrowest widest gap, among the points whose results it
 * will not know before it gets there: checks in flight and the points given
 * to earlier sessions whose results are due after this session reaches L.
 * Sessions that arrive together thus share out the bracket (parallel
 * K-section), and a session that arrives after an earlier result gets the
 * middle of today's bracket as a placeholder, moved when that result comes
 * (pipelined bisection).  A point below the session's silence is replaced by
 * the silence itself: the session can do no better, and checking it at once
 * also recycles it. */
static void ni_plan_section(ni_search *s, ni_free_sess *f, unsigned m, const double *inflight,
                            unsigned ninflight, double hi) {
  double px[2 * NI_SEARCH_MAX_SESSIONS], pdone[2 * NI_SEARCH_MAX_SESSIONS];
  double edges[2 * NI_SEARCH_MAX_SESSIONS + 2];
  double detect = fmax(s->cfg.detect_s, 0.1);
  unsigned np = 0;

  for (unsigned j = 0; j < ninflight; j++) {
    px[np] = inflight[j];
    pdone[np++] = detect;
  }
  qsort(f, m, sizeof *f, ni_by_sil_desc);
  /* The bracket is narrow enough but rests on too few deaths: the session
   * that gets to U first checks U again (unless a check in flight does). */
  if (hi >= s->upper && !ni_confirmed(s) &&
      (s->upper - s->lower <= ni__search_resolution(s) ||
       s->upper <= s->cfg.min_s + ni__search_resolution(s) / 4)) {
    int pending = 0;
    for (unsigned j = 0; j < ninflight; j++)
      pending |= inflight[j] >= s->upper;
    for (unsigned j = 0; j < m && !pending; j++) {
      if (f[j].sil <= s->upper) {
        s->ss[f[j].i].target = s->upper;
        f[j] = f[--m];
        qsort(f, m, sizeof *f, ni_by_sil_desc);
        pending = 1;
      }
    }
  }
  for (unsigned j = 0; j < m; j++) {
    double sil = f[j].sil, arrive = fmax(0.0, s->lower - sil);
    double best_x = sil, best_w = INFINITY;
    unsigned ne = 0;
    if (sil >= hi - NI_SEARCH_SLACK_S) {
      s->ss[f[j].i].target = sil; /* past the bracket: recycle it now */
      continue;
    }
    edges[ne++] = s->lower;
    edges[ne++] = hi;
    for (unsigned k = 0; k < np; k++)
      if (pdone[k] > arrive && px[k] > s->lower && px[k] < hi) edges[ne++] = px[k];
    qsort(edges, ne, sizeof edges[0], ni__cmp_double);
    for (unsigned g = 0; g + 1 < ne; g++) {
      double a = edges[g], b = edges[g + 1];
      double x = fmax(fmax((a + b) / 2, sil), s->cfg.min_s);
      if (x >= b - NI_SEARCH_SLACK_S) continue; /* this gap is out of the session's reach */
      double w = fmax(x - a, b - x);
      for (unsigned o = 0; o + 1 < ne; o++)
        if (o != g) w = fmax(w, edges[o + 1] - edges[o]);
      /* Narrowest widest gap; on a tie, the point reached first. */
      if (w < best_w - 1e-9 || (w < best_w + 1e-9 && x - sil < best_x - sil)) {
        best_w = w;
        best_x = x;
      }
    }
    best_x = fmax(best_x, s->cfg.min_s);
    s->ss[f[j].i].target = best_x;
    px[np] = best_x;
    pdone[np++] = fmax(0.0, best_x - sil) + detect;
  }
}

static void ni_plan_bisect(ni_search *s, ni_free_sess *f, unsigned m) {
  double top = ni_top(s), hi = fmin(s->upper, top), t;
  if (!isfinite(s->upper) && hi - s->lower <= ni__search_resolution(s))
    t = top; /* only max itself is left to try */
  else
    t = fmax(s->cfg.min_s, (s->lower + hi) / 2);
  for (unsigned j = 0; j < m; j++)
    s->ss[f[j].i].target = fmax(t, f[j].sil);
}

static void ni_plan_grid(ni_search *s, ni_free_sess *f, unsigned m) {
  for (unsigned j = 0; j < m; j++) {
    ni_search_sess *ss = &s->ss[f[j].i];
    if (ss->grid_pt < 0) {
      /* The lowest free point the session has not yet passed. */
      for (unsigned k = 0; k < s->grid_n; k++) {
        if (s->grid_state[k] == 0 && ni_grid_point(s, k) >= f[j].sil) {
          s->grid_state[k] = 1;
          ss->grid_pt = (int)k;
          break;
        }
      }
    }
    if (ss->grid_pt < 0) {
      ss->armed = 0; /* nothing left for it: park */
      ss->target = 0;
    } else {
      ss->target = fmax(ni_grid_point(s, (unsigned)ss->grid_pt), f[j].sil);
    }
  }
}

/* A check answers within a detection deadline (a dead one may take a few
 * more to end IDLE), and a reconnect takes seconds; an armed session this
 * much past its target without a result was lost by the caller and must not
 * hold a place any longer. */
static double ni_grace_s(const ni_search *s) {
  return 60 + 10 * s->cfg.detect_s;
}

static int ni_overdue(const ni_search *s, const ni_search_sess *ss, ni_ms now) {
  return ss->target > 0 && ni_silence(ss, now) > ss->target + ni_grace_s(s);
}

/* Recompute the targets of every armed session that is not being checked. */
static void ni_replan(ni_search *s, ni_ms now) {
  ni_free_sess f[NI_SEARCH_MAX_SESSIONS];
  double inflight[NI_SEARCH_MAX_SESSIONS];
  unsigned m = 0, ninflight = 0;
  double base = s->lower;

  for (unsigned i = 0; i < s->cfg.sessions; i++) {
    ni_search_sess *ss = &s->ss[i];
    if (!ss->armed) continue;
    if (ni_overdue(s, ss, now)) {
      ss->armed = 0; /* lost without a result: stop counting it */
      ss->target = 0;
      if (ss->grid_pt >= 0) s->grid_state[ss->grid_pt] = 0;
      ss->grid_pt = -1;
      continue;
    }
    if (s->verdict != NI_VERDICT_RUNNING) {
      if (!ni_frozen(ss, now)) {
        ss->armed = 0;
        ss->target = 0;
      }
      continue;
    }
    if (ni_frozen(ss, now)) {
      inflight[ninflight++] = ss->target;
      base = fmax(base, ss->target);
    } else {
      f[m].i = i;
      f[m].sil = ni_silence(ss, now);
      m++;
    }
  }
  if (!m || s->verdict != NI_VERDICT_RUNNING) return;
  switch (s->cfg.strategy) {
  case NI_STRAT_GRID:
    ni_plan_grid(s, f, m);
    break;
  case NI_STRAT_BISECT:
    ni_plan_bisect(s, f, m);
    break;
  case NI_STRAT_ADAPTIVE:
  default:
    if (isfinite(s->upper))
      ni_plan_section(s, f, m, inflight, ninflight, fmin(s->upper, ni_top(s)));
    else
      ni_plan_ladder(s, f, m, base);
    break;
  }
}

/* ---- observations ------------------------------------------------------ */

static void ni_min_dead_above_lower(ni_search *s) {
  s->upper = INFINITY;
  for (size_t k = 0; k < s->ndead; k++)
    if (s->dead[k] > s->lower && s->dead[k] < s->upper) s->upper = s->dead[k];
}

/* Fold one observation into the bracket; the verdict is frozen once given. */
static void ni_learn(ni_search *s, double x, ni_obs o) {
  if (!(x > 0 && x < 1e9) || o == NI_OBS_VOID || s->verdict != NI_VERDICT_RUNNING) return;
  s->checks++;
  if (o == NI_OBS_ALIVE) {
    if (x > s->lower) s->lower = x;
    if (x >= s->upper) {
      /* A survival is proof; the death above which it lies was noise. */
      s->contradictions++;
      ni_min_dead_above_lower(s);
    }
  } else {
    if (s->ndead == s->capdead) {
      size_t nc = s->capdead ? 2 * s->capdead : 16;
      double *d = realloc(s->dead, nc * sizeof *d);
      if (!d) {
        /* Without the list U cannot be recomputed after a contradiction;
         * the bracket itself stays right, so only count the loss. */
        s->contradictions++;
        if (x > s->lower && x < s->upper) s->upper = x;
        return;
      }
      s->dead = d;
      s->capdead = nc;
    }
    s->dead[s->ndead++] = x;
    if (x <= s->lower)
      s->contradictions++;
    else if (x < s->upper)
      s->upper = x;
  }
}

static void ni_settle(ni_search *s, ni_ms now) {
  if (s->verdict == NI_VERDICT_RUNNING) s->verdict = ni_judge(s, 0);
  ni_replan(s, now);
}

/* The latest `now` seen, for the calls that take none.  A plan made with
 * it may be a little stale; ni__search_target still never returns a target
 * below the silence at the caller's `now`. */
static ni_ms ni_latest(const ni_search *s) {
  return s->last_now;
}

static void ni_saw_time(ni_search *s, ni_ms now) {
  if (now > s->last_now) s->last_now = now;
}

static unsigned ni_armed_count(const ni_search *s, unsigned except, ni_ms now) {
  unsigned n = 0;
  for (unsigned i = 0; i < s->cfg.sessions; i++)
    if (i != except && s->ss[i].armed && !ni_overdue(s, &s->ss[i], now)) n++;
  return n;
}

double ni__search_arm(ni_search *s, unsigned i, ni_ms silent_since, ni_ms now) {
  if (!s || i >= s->cfg.sessions || s->verdict != NI_VERDICT_RUNNING) return 0;
  ni_search_sess *ss = &s->ss[i];
  unsigned others = ni_armed_count(s, i, now);
  /* One-connection bisection uses a single session: the first one armed.
   * The others stay parked; their silence would be stale anyway. */
  unsigned limit = s->cfg.strategy == NI_STRAT_BISECT ? 1 : s->limit;
  if (s->cfg.strategy == NI_STRAT_BISECT && s->bisect_owner >= 0 && s->bisect_owner != (int)i) {
    /* An owner that stays away longer than a reconnect hands over. */
    const ni_search_sess *own = &s->ss[s->bisect_owner];
    if (own->armed ? ni_overdue(s, own, now)
                   : now > s->owner_idle && (double)(now - s->owner_idle) / 1000.0 > ni_grace_s(s))
      s->bisect_owner = -1;
  }
  if (s->cfg.strategy == NI_STRAT_BISECT && s->bisect_owner < 0 && others == 0)
    s->bisect_owner = (int)i;
  if (others >= limit || (s->cfg.strategy == NI_STRAT_BISECT && s->bisect_owner != (int)i)) {
    ss->armed = 0;
    ss->target = 0;
    return 0;
  }
  ni_saw_time(s, now);
  ss->armed = 1;
  ss->since = silent_since;
  ss->target = 0;
  ni_replan(s, now);
  return ni__search_target(s, i, now);
}

double ni__search_target(const ni_search *s, unsigned i, ni_ms now) {
  if (!s || i >= s->cfg.sessions || !s->ss[i].armed || !(s->ss[i].target > 0)) return 0;
  const ni_search_sess *ss = &s->ss[i];
  /* A plan made at an earlier time may lie below the silence by now. */
  return fmax(ss->target, ni_silence(ss, now));
}

void ni__search_result(ni_search *s, unsigned i, double silence_s, ni_obs o, ni_ms now) {
  if (!s) return;
  ni_saw_time(s, now);
  if (i < s->cfg.sessions) {
    ni_search_sess *ss = &s->ss[i];
    if (ss->grid_pt >= 0) {
      /* A void check leaves its grid point to be tried again. */
      s->grid_state[ss->grid_pt] = (o == NI_OBS_VOID) ? 0 : 2;
      ss->grid_pt = -1;
    }
    ss->armed = 0;
    ss->target = 0;
    if ((int)i == s->bisect_owner) s->owner_idle = now;
  }
  ni_learn(s, silence_s, o);
  /* Grid points that can no longer be observed are dropped. */
  if (s->cfg.strategy == NI_STRAT_GRID)
    for (unsigned k = 0; k < s->grid_n; k++)
      if (s->grid_state[k] == 0 && ni_grid_point(s, k) > s->cap) s->grid_state[k] = 2;
  ni_settle(s, now);
}

void ni__search_observe(ni_search *s, double silence_s, ni_obs o) {
  if (!s) return;
  ni_learn(s, silence_s, o);
  if (s->cfg.strategy == NI_STRAT_GRID && o != NI_OBS_VOID)
    for (unsigned k = 0; k < s->grid_n; k++)
      if (s->grid_state[k] == 0 && fabs(ni_grid_point(s, k) - silence_s) < 1e-6)
        s->grid_state[k] = 2;
  ni_settle(s, ni_latest(s));
}

void ni__search_server_keepalive(ni_search *s, double interval_s) {
  if (!s || !(interval_s > 0) || interval_s >= s->server_s) return;
  s->server_s = interval_s;
  /* A check must be answered before the server's own data would refresh
   * the session, so the last useful silence is one detection deadline
   * (at least 1 s) below the interval. */
  s->cap = fmax(0.0, interval_s - fmax(1.0, s->cfg.detect_s));
  if (s->cfg.strategy == NI_STRAT_GRID)
    for (unsigned k = 0; k < s->grid_n; k++)
      if (s->grid_state[k] == 0 && ni_grid_point(s, k) > s->cap) s->grid_state[k] = 2;
  ni_settle(s, ni_latest(s));
}

void ni__search_lower_sessions(ni_search *s, unsigned k) {
  if (!s || k >= s->limit) return;
  s->limit = k;
  s->ladder = ni_ladder_ratio(k);
  /* Park the armed sessions above the limit, highest index first; those
   * being checked finish their check. */
  for (unsigned i = s->cfg.sessions;
       i-- > 0 && ni_armed_count(s, s->cfg.sessions, ni_latest(s)) > k;) {
    ni_search_sess *ss = &s->ss[i];
    if (ss->armed && !ni_frozen(ss, ni_latest(s))) {
      if (ss->grid_pt >= 0) s->grid_state[ss->grid_pt] = 0;
      ss->grid_pt = -1;
      ss->armed = 0;
      ss->target = 0;
    }
  }
  ni_settle(s, ni_latest(s));
}

/* Declared for the engine in probe/internal.h (this file does not include
 * it: the search needs no libuv): what its checks can tell apart, learnt
 * during the run (probe/record.c).  Only ever coarser; the next result
 * judges the bracket against it. */
void ni__search_set_resolution(ni_search *s, double resolution_s);
void ni__search_set_resolution(ni_search *s, double resolution_s) {
  if (!s || s->verdict != NI_VERDICT_RUNNING || !(resolution_s > s->cfg.resolution_s)) return;
  s->cfg.resolution_s = resolution_s;
  s->learnt = 1;
}

void ni__search_stop(ni_search *s) {
  if (!s || s->verdict != NI_VERDICT_RUNNING) return;
  s->verdict = ni_judge(s, 1);
  for (unsigned i = 0; i < s->cfg.sessions; i++) {
    s->ss[i].armed = 0;
    s->ss[i].target = 0;
  }
}

ni_verdict ni__search_verdict(const ni_search *s) {
  return s->verdict;
}

void ni__search_bracket(const ni_search *s, double *lower_s, double *upper_s) {
  if (lower_s) *lower_s = s->lower;
  if (upper_s) *upper_s = s->upper;
}

double ni__search_estimate(const ni_search *s) {
  return isfinite(s->upper) ? (s->lower + s->upper) / 2 : s->lower;
}

unsigned ni__search_checks(const ni_search *s) {
  return s->checks;
}

unsigned ni__search_contradictions(const ni_search *s) {
  return s->contradictions;
}

unsigned ni__search_sessions(const ni_search *s) {
  return s->limit;
}

double ni__search_eta_s(const ni_search *s, ni_ms now) {
  (void)now;
  if (s->verdict != NI_VERDICT_RUNNING) return 0;
  if (!isfinite(s->upper)) return -1;
  double width = s->upper - s->lower, res = ni__search_resolution(s);
  unsigned k = s->cfg.strategy == NI_STRAT_BISECT ? 1 : (s->limit ? s->limit : 1);
  double rounds = width > res ? log(width / res) / log(k + 1.0) : 0;
  /* A round of K-section costs much less than a climb to L, since the
   * ladder left the sessions staggered: 0.3 L per round matches the
   * simulated prober within about 30 %. */
  return rounds * (0.3 * s->lower + s->cfg.detect_s);
}

/* ---- network events ------------------------------------------------------ */

int ni__net_lost(ni_net_events *e, ni_ms last_ok) {
  if (e->n && !e->to) return 0;
  e->n++;
  e->from = last_ok;
  e->to = 0;
  return 1;
}

int ni__net_back(ni_net_events *e, ni_ms now) {
  if (!e->n || e->to) return 0;
  e->to = now > e->from ? now : e->from + 1;
  return 1;
}

int ni__net_spans(const ni_net_events *e, ni_ms silent_since, ni_ms now) {
  if (!e->n || now <= e->from) return 0;
  return !e->to || silent_since < e->to;
}
