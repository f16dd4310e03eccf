/*
 * The push driver: thin libuv glue between one IMAP connection (natidle/conn.h)
 * and the keepalive scheduler (natidle/keepalive.h).  See natidle/push.h;
 * keepalive/driver_internal.h says which file holds what.  This file holds
 * the public API and the timers.
 *
 * One uv timer serves the whole session.  Its deadline is recomputed after
 * every scheduler call and every state change as the earliest of: the
 * scheduler's expiry (next keepalive or a keepalive's reply deadline) while a
 * connection is up, the setup deadline while connecting, and the end of the
 * backoff while waiting to reconnect.
 */
#include "natidle/push.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/secret.h"
#include "keepalive/driver_internal.h"

/* ---- small helpers ------------------------------------------------------ */

static char *dup_or_null(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* The session that holds scheduler s (every ni_ka of a group is the ka
 * member of an ni_push). */
static ni_push *push_of(ni_ka *s) {
  return (ni_push *)(void *)((char *)s - offsetof(ni_push, ka));
}

/* ---- timers ------------------------------------------------------------------ */

static void on_group_timer(uv_timer_t *t) {
  ni_push_group *g = t->data;
  ni_ms now = ni_imap_now();
  ni_ka_action a;
  ni_ka *s;
  /* Bounded: at one `now` every session acts at most once (a keepalive's
   * reply deadline lies after it, a dead session has none); the cap only
   * guards against a scheduler that keeps answering at the same `now`.
   * ni__push_ka_act may free sessions, so the count is taken before the loop. */
  size_t cap = 2 * g->sessions + 16;
  for (size_t i = 0; i < cap && (s = ni_ka_group_handle_expiry(&g->kg, now, &a)) != NULL; i++)
    ni__push_ka_act(push_of(s), a, now);
  ni__push_group_rearm(g);
}

void ni__push_group_rearm(ni_push_group *g) {
  if (g->closing) return;
  ni_ms due = ni_ka_group_get_expiry(&g->kg);
  if (due == NI_TIME_NEVER) {
    uv_timer_stop(&g->timer);
    return;
  }
  ni_ms now = ni_imap_now();
  uv_timer_start(&g->timer, on_group_timer, due > now ? due - now : 0, 0);
}

static void on_timer(uv_timer_t *t) {
  ni_push *p = t->data;
  ni_ms now = ni_imap_now();
  if (p->freed) return;
  if (p->stop_deadline != NI_TIME_NEVER && now >= p->stop_deadline) {
    ni__push_conn_lost(p, 0, "", 0); /* LOGOUT not answered in time */
    return;
  }
  if (p->reconnect_at != NI_TIME_NEVER && now >= p->reconnect_at && p->running) {
    ni__push_start_connect(p);
    return;
  }
  if (p->c && p->setup_deadline != NI_TIME_NEVER && now >= p->setup_deadline) {
    ni__push_conn_lost(p, NI_ETIMEDOUT, "no answer during setup", 0);
    return;
  }
  ni__push_rearm(p);
}

void ni__push_rearm(ni_push *p) {
  if (p->freed) return;
  ni_ms due = p->stop_deadline;
  if (p->reconnect_at < due) due = p->reconnect_at;
  if (p->c && p->setup_deadline < due) due = p->setup_deadline;
  if (due == NI_TIME_NEVER) {
    uv_timer_stop(&p->timer);
    return;
  }
  ni_ms now = ni_imap_now();
  uv_timer_start(&p->timer, on_timer, due > now ? due - now : 0, 0);
}

/* ---- public API ------------------------------------------------------------- */

const char *ni_push_state_name(ni_push_state s) {
  static const char *const names[] = {"stopped",        "connecting", "authenticating", "selecting",
                                      "syncing",        "idle",       "keepalive",      "fetching",
                                      "reconnect-wait", "failed"};
  return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

int ni_push_group_new(struct uv_loop_s *loop, ni_push_group **out) {
  ni_push_group *g = calloc(1, sizeof *g);
  *out = NULL;
  if (!g) return -ENOMEM;
  g->loop = loop;
  ni_ka_group_init(&g->kg);
  uv_timer_init(loop, &g->timer);
  g->timer.data = g;
  *out = g;
  return 0;
}

uint64_t ni_push_group_wakeups(const ni_push_group *g) {
  return g->wakeups;
}

static void on_group_closed(uv_handle_t *h) {
  free(h->data);
}

int ni_push_group_free(ni_push_group *g) {
  if (!g) return 0;
  if (g->sessions) return NI_ESTATE;
  if (!g->closing) {
    g->closing = 1;
    uv_timer_stop(&g->timer);
    uv_close((uv_handle_t *)&g->timer, on_group_closed);
  }
  return 0;
}

static void free_strings(ni_push *p) {
  ni__secret_drop(&p->password);
  free(p->account);
  free(p->host);
  free(p->user);
  free(p->ca_file);
  free(p->mailbox);
}

/* The connection's TLS mode for a session's security choice; -1 when out of
 * range. */
static int tls_mode_of(ni_push_security s) {
  switch (s) {
  case NI_PUSH_IMAPS:
    return NI_TLS_IMAPS;
  case NI_PUSH_STARTTLS:
    return NI_TLS_STARTTLS;
  case NI_PUSH_PLAINTEXT:
    return NI_TLS_NONE;
  }
  return -1;
}

static int opts_valid(const ni_push_opts *o, const ni_push_cb *cb) {
  if (!o->host || !*o->host || !o->user || !*o->user || tls_mode_of(o->security) < 0) return 0;
  if (o->last_uid && !o->uidvalidity) return 0; /* a UID means nothing without its UIDVALIDITY */
  if (o->family != 0 && o->family != 4 && o->family != 6) return 0;
  switch (o->auth) {
  case NI_PUSH_AUTH_PASSWORD:
    return o->password != NULL;
  case NI_PUSH_AUTH_OAUTH2:
  case NI_PUSH_AUTH_OAUTHBEARER:
  case NI_PUSH_AUTH_XOAUTH2:
    return cb && cb->on_token;
  }
  return 0;
}

int ni_push_new(struct uv_loop_s *loop, const ni_push_opts *o, const ni_push_cb *cb, void *ud,
                ni_push **out) {
  *out = NULL;
  if (!loop || !o || !opts_valid(o, cb)) return NI_EUSAGE;
  if (o->group && o->group->closing) return NI_ESTATE;
  ni_push *p = calloc(1, sizeof *p);
  if (!p) return -ENOMEM;
  ni_ka_config kc;
  if (o->ka)
    kc = *o->ka;
  else
    ni_ka_config_default(&kc);
  int rc = ni_ka_init(&p->ka, &kc);
  if (rc < 0) {
    free(p);
    return rc;
  }
  p->ka_cfg = kc;
  p->loop = loop;
  if (cb) p->cb = *cb;
  p->ud = ud;
  p->account = dup_or_null(o->account ? o->account : o->user);
  p->host = dup_or_null(o->host);
  p->user = dup_or_null(o->user);
  /* With OAuth2 the session keeps no secret at all: it asks for a token at
   * every login. */
  int pw_rc = o->auth == NI_PUSH_AUTH_PASSWORD
                  ? ni__secret_keep(&p->password, o->password, strlen(o->password))
                  : 0;
  p->ca_file = dup_or_null(o->ca_file);
  p->mailbox = dup_or_null(o->mailbox ? o->mailbox : "INBOX");
  p->group = o->group;
  if (!p->group) {
    if (ni_push_group_new(loop, &p->group) < 0) p->group = NULL;
    p->own_group = 1;
  }
  if (!p->account || !p->host || !p->user || pw_rc < 0 || !p->mailbox || !p->group ||
      (o->ca_file && !p->ca_file)) {
    if (p->own_group) ni_push_group_free(p->group);
    free_strings(p);
    free(p);
    return -ENOMEM;
  }
  ni_ka_group_add(&p->group->kg, &p->ka);
  p->group->sessions++;
  p->port = o->port;
  p->tls = (ni_tls_mode)tls_mode_of(o->security);
  p->auth = o->auth;
  p->trace = o->trace;
  p->st.uidvalidity = o->uidvalidity;
  p->st.last_uid = o->last_uid;
  p->insecure = o->insecure;
  p->allow_plaintext = o->allow_plaintext;
  p->family = o->family;
  p->no_notify = o->no_notify;
  p->setup_timeout = o->setup_timeout_ms ? o->setup_timeout_ms : 30000;
  p->backoff_min = o->backoff_min_ms ? o->backoff_min_ms : 1000;
  p->backoff_max = o->backoff_max_ms ? o->backoff_max_ms : 300000;
  if (p->backoff_max < p->backoff_min) p->backoff_max = p->backoff_min;
  p->rng = o->seed ? o->seed : (uint64_t)uv_hrtime() ^ (uint64_t)(uintptr_t)p;
  p->setup_deadline = p->stop_deadline = p->reconnect_at = NI_TIME_NEVER;
  uv_timer_init(loop, &p->timer);
  p->timer.data = p;
  *out = p;
  return 0;
}

int ni_push_start(ni_push *p) {
  if (p->running || p->freed) return NI_ESTATE;
  p->running = 1;
  p->stopping = 0;
  p->stop_deadline = NI_TIME_NEVER;
  p->failure = 0;
  p->failure_detail[0] = 0;
  p->token_refresh = 0;
  p->attempts = 0;
  if (ni_ka_get_status(&p->ka) == NI_KA_ST_STOPPED) {
    /* The scheduler stopped for good when the session failed; start it
     * over, keeping what it had learned of the NAT. */
    ni_ka_config kc = p->ka_cfg;
    ni_ms lo = 0, hi = 0;
    ni_ka_bracket(&p->ka, &lo, &hi);
    if (lo || hi) {
      kc.nat_lower_ms = lo;
      kc.nat_upper_ms = hi;
    }
    int rc = ni_ka_init(&p->ka, &kc);
    if (rc < 0) {
      p->running = 0;
      return rc;
    }
  }
  ni__sigpipe_hold();
  p->sigpipe_held = 1;
  ni__push_start_connect(p);
  return 0;
}

static void on_logout(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  (void)c;
  (void)status;
  (void)tagged;
  ni__push_conn_lost(p, 0, "", 0);
}

int ni_push_stop(ni_push *p, int graceful) {
  if (!p->running) return NI_ESTATE;
  p->reconnect_at = NI_TIME_NEVER;
  if (p->stopping) return 0; /* a LOGOUT is already under way */
  if (graceful && p->c && ni_imap_is_authenticated(p->c) && !ni_imap_is_ended(p->c)) {
    p->stopping = 1;
    p->stop_deadline = ni_imap_now() + NI_PUSH_LOGOUT_MS;
    if (ni_imap_is_idling(p->c)) ni_imap_idle_done(p->c);
    if (ni_imap_logout(p->c, on_logout, p) == 0) {
      ni__push_rearm(p);
      return 0;
    }
  }
  ni__push_run_ended(p);
  ni__push_conn_lost(p, 0, "", 0);
  return 0;
}

ni_push_state ni_push_get_state(const ni_push *p) {
  return p->state;
}

int ni_push_failure(const ni_push *p, const char **detail) {
  int failed = p->state == NI_PUSH_FAILED;
  if (detail) *detail = failed ? p->failure_detail : "";
  return failed ? p->failure : 0;
}

ni_ms ni_push_now(void) {
  return ni_imap_now();
}

void ni_push_get_stats(const ni_push *p, ni_push_stats *st) {
  *st = p->st;
}

const char *ni_push_account(const ni_push *p) {
  return p->account;
}

void *ni_push_userdata(const ni_push *p) {
  return p->ud;
}

const ni_ka *ni_push_scheduler(const ni_push *p) {
  return &p->ka;
}

int ni_push_uses_notify(const ni_push *p) {
  return p->notify;
}

ni_ms ni_push_reconnect_in(const ni_push *p) {
  if (p->reconnect_at == NI_TIME_NEVER) return NI_TIME_NEVER;
  ni_ms now = ni_imap_now();
  return p->reconnect_at > now ? p->reconnect_at - now : 0;
}

static void on_timer_closed(uv_handle_t *h) {
  ni_push *p = h->data;
  free_strings(p);
  free(p);
}

void ni_push_free(ni_push *p) {
  if (!p || p->freed) return;
  p->freed = 1;
  ni__push_run_ended(p);
  if (p->c) {
    ni_imap_free(p->c);
    p->c = NULL;
  }
  ni_ka_group_remove(&p->group->kg, &p->ka);
  p->group->sessions--;
  ni__push_group_rearm(p->group);
  if (p->own_group) ni_push_group_free(p->group);
  uv_timer_stop(&p->timer);
  uv_close((uv_handle_t *)&p->timer, on_timer_closed);
}
