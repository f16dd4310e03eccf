/*
 * keepalive/coalesce.c - sessions of one process sharing wakeups.
 *
 * On a phone the cost of a keepalive is mostly the radio waking up, not the
 * bytes.  Two accounts whose keepalives fall a few minutes apart wake the
 * radio twice; sent together they wake it once.  The group therefore sends,
 * whenever one session must act, also the keepalives of the other sessions
 * that would be due within their coalesce window.  Pulling forward is
 * always safe for the NAT (a shorter silence), so the only thing to guard is
 * the cadence: a pulled session keeps at least 1 - window/interval of it
 * (half by default, and never less).  Why half: two sessions with the same
 * cadence are, one way round or the other, at most half a cycle apart, so a
 * window of half the interval brings them into phase at their first shared
 * wakeup and they stay there; any smaller window can leave two accounts
 * waking the radio separately forever.  A session with a longer cadence
 * than its neighbours is pulled along more often than it would send on its
 * own, but only into wakeups that happen anyway: more bytes, no more
 * wakeups.  Learning probes are never pulled: a probe sent early would
 * measure a shorter silence than the one it is meant to test, and learning
 * could stall.
 */
#include <stddef.h>

#include "keepalive/ka_internal.h"

NI_API void ni_ka_group_init(ni_ka_group *g) {
  if (!g) return;
  g->head = NULL;
  g->awake_at = 0;
  g->awake = 0;
  g->wakeups = 0;
}

NI_API int ni_ka_group_add(ni_ka_group *g, ni_ka *s) {
  if (!g || !s) return NI_EUSAGE;
  if (s->group) return NI_ESTATE;
  s->group = g;
  s->group_next = g->head;
  g->head = s;
  return 0;
}

NI_API int ni_ka_group_remove(ni_ka_group *g, ni_ka *s) {
  if (!g || !s || s->group != g) return NI_ESTATE;
  for (ni_ka **p = &g->head; *p; p = &(*p)->group_next) {
    if (*p == s) {
      *p = s->group_next;
      s->group_next = NULL;
      s->group = NULL;
      return 0;
    }
  }
  return NI_ESTATE;
}

NI_API ni_ms ni_ka_group_get_expiry(const ni_ka_group *g) {
  ni_ms e = NI_TIME_NEVER;
  if (!g) return e;
  for (const ni_ka *s = g->head; s; s = s->group_next) {
    ni_ms t = ni_ka_get_expiry(s);
    if (t < e) e = t;
  }
  return e;
}

/* How far ahead of its due time a session may send to share a wakeup. */
static ni_ms pull_window(const ni_ka *s) {
  ni_ms half = s->interval / 2;
  ni_ms w = s->cfg.coalesce_ms ? s->cfg.coalesce_ms : half;
  return w < half ? w : half;
}

static int pullable(const ni_ka *s, ni_ms now) {
  if (s->state != NI__KA_CONNECTED || s->outstanding || s->probing) return 0;
  ni_ms due = ni__ka_next_due(s);
  return due > now && due - now <= pull_window(s);
}

NI_API ni_ka *ni_ka_group_handle_expiry(ni_ka_group *g, ni_ms now, ni_ka_action *action) {
  ni_ka_action dummy;
  if (!action) action = &dummy;
  *action = NI_KA_NONE;
  if (!g) return NULL;
  if (g->awake && g->awake_at != now) g->awake = 0;
  /* First whatever is due by its own clock. */
  for (ni_ka *s = g->head; s; s = s->group_next) {
    if (ni_ka_get_expiry(s) > now) continue;
    ni_ka_action a = ni_ka_handle_expiry(s, now);
    if (a == NI_KA_NONE) continue;
    if (!g->awake) {
      g->awake = 1;
      g->awake_at = now;
      g->wakeups++;
    }
    *action = a;
    return s;
  }
  /* Then, while the radio is up anyway, whatever would be due soon. */
  if (!g->awake) return NULL;
  for (ni_ka *s = g->head; s; s = s->group_next) {
    if (!pullable(s, now)) continue;
    *action = ni__ka_fire(s, now);
    s->stats.pulled++;
    return s;
  }
  return NULL;
}
