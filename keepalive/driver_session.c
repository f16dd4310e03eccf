/*
 * The push session's state machine (see natidle/push.h): connect, log in,
 * SELECT, NOTIFY, IDLE, the keepalives the scheduler asks for and their
 * answers, and what happens when a connection is lost.  Mail reporting and
 * the resync live in driver_mail.c; the timers and the public API in
 * driver.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/prng.h"
#include "keepalive/driver_internal.h"

int64_t ni__push_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ni_ms ni__backoff_ms(unsigned attempt, ni_ms min_ms, ni_ms max_ms, uint64_t *rng) {
  if (min_ms == 0) min_ms = 1;
  if (max_ms < min_ms) max_ms = min_ms;
  ni_ms d = min_ms;
  for (unsigned i = 0; i < attempt && d < max_ms; i++)
    d = d > max_ms / 2 ? max_ms : d * 2;
  if (d > max_ms) d = max_ms;
  /* Equal jitter keeps at least half the delay (so a storm of sessions never
   * retries at once at the start) and spreads the other half. */
  ni_ms half = d / 2;
  return half + ni__prng_next(rng) % (d - half + 1);
}

/* ---- state and callbacks -------------------------------------------------- */

/* Tell the scheduler something; every call is followed by a re-arm of the
 * group's timer, since any event can move the next expiry. */
void ni__push_ka_event(ni_push *p, ni_ka_event_type type, ni_ms rtt, ni_ms silent, ni_ms now) {
  ni_ka_event ev = {.type = type, .rtt_ms = rtt, .silent_ms = silent};
  ni_ka_on_event(&p->ka, &ev, now);
  ni__push_group_rearm(p->group);
}

void ni__push_set_state(ni_push *p, ni_push_state s, int err, const char *detail) {
  if (p->state == s && !err && !(detail && *detail)) return;
  p->state = s;
  if (!p->freed && p->cb.on_state) p->cb.on_state(p, s, err, detail ? detail : "", p->ud);
}

void ni__push_log(ni_push *p, ni_push_log_level level, const char *fmt, ...) {
  if (p->freed || !p->cb.on_log) return;
  char line[NI_PUSH_LOG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  p->cb.on_log(p, level, line, p->ud);
}

void ni__push_run_ended(ni_push *p) {
  p->running = 0;
  if (p->sigpipe_held) {
    p->sigpipe_held = 0;
    ni__sigpipe_release();
  }
}

static void emit_ka(ni_push *p, ni_push_ka_kind kind, ni_ms now, ni_ms rtt) {
  if (p->freed || !p->cb.on_keepalive) return;
  ni_push_ka_event ev = {kind, p->ka_action,    now,           p->ka_interval,
                         rtt,  p->st.bytes_out, p->st.bytes_in};
  p->cb.on_keepalive(p, &ev, p->ud);
}

/* Drop the current connection without a word to the server. */
static void drop_conn(ni_push *p) {
  if (p->c) {
    ni_imap_free(p->c);
    p->c = NULL;
  }
  p->ka_inflight = 0;
  p->ka_suspect = 0;
  p->in_idle_cmd = 0;
  p->need_fetch = 0;
  p->resyncing = 0;
  p->baseline = 0;
  p->notify = 0;
  p->token_wanted = 0;
}

/* The connection is gone or declared dead: tell the scheduler, wait out the
 * backoff, reconnect.  `silent` is how long the connection had been silent
 * when it broke by itself (0 = unknown, or we gave up on it). */
void ni__push_conn_lost(ni_push *p, int err, const char *detail, ni_ms silent) {
  ni_ms now = ni_imap_now();
  drop_conn(p);
  p->setup_deadline = NI_TIME_NEVER;
  if (p->ka_connected) {
    p->ka_connected = 0;
    ni__push_ka_event(p, NI_KA_EV_LOST, 0, silent, now);
  }
  if (!p->running || p->stopping) {
    ni__push_run_ended(p);
    p->stopping = 0;
    p->stop_deadline = NI_TIME_NEVER;
    p->reconnect_at = NI_TIME_NEVER;
    ni__push_set_state(p, NI_PUSH_STOPPED, 0, "");
    ni__push_rearm(p);
    return;
  }
  /* A connection that lived a while was a success: start the backoff over.
   * One that dies right after reaching IDLE (a server that kicks every new
   * session) keeps growing it, so such a loop slows down to the cap. */
  if (p->up_since && now - p->up_since >= NI_PUSH_STABLE_MS) p->attempts = 0;
  p->up_since = 0;
  ni_ms wait = ni__backoff_ms(p->attempts, p->backoff_min, p->backoff_max, &p->rng);
  if (p->attempts < 32) p->attempts++;
  p->reconnect_at = now + wait;
  ni__push_log(p, NI_PUSH_LOG_WARN, "connection lost: %s; reconnecting in %.1f s",
               detail && *detail ? detail : ni_strerror(err), (double)wait / 1000.0);
  ni__push_set_state(p, NI_PUSH_RECONNECT_WAIT, err, detail);
  ni__push_rearm(p);
}

void ni__push_fail(ni_push *p, int err, const char *detail) {
  ni_ms now = ni_imap_now();
  drop_conn(p);
  p->setup_deadline = p->reconnect_at = p->stop_deadline = NI_TIME_NEVER;
  p->stopping = 0;
  p->token_wanted = 0;
  /* A permanent loss stops the scheduler until the session is started
   * again: nothing is due, and the failure teaches nothing about the NAT. */
  p->ka_connected = 0;
  ni_ka_event lost = {.type = NI_KA_EV_LOST, .permanent = 1};
  ni_ka_on_event(&p->ka, &lost, now);
  ni__push_group_rearm(p->group);
  p->failure = err;
  snprintf(p->failure_detail, sizeof p->failure_detail, "%s",
           detail && *detail ? detail : ni_strerror(err));
  ni__push_run_ended(p);
  ni__push_log(p, NI_PUSH_LOG_ERROR, "failed, not retrying: %s", p->failure_detail);
  ni__push_set_state(p, NI_PUSH_FAILED, err, p->failure_detail);
  ni__push_rearm(p);
}

/* The IMAP protocol trace, for on_log (opts.trace).  Secrets are "***"
 * already; control characters a hostile server sent become '?', so the line
 * is safe for any log. */
static void on_trace(ni_imap *c, int dir, const char *line, size_t n, void *ud) {
  ni_push *p = ud;
  (void)c;
  if (!p->trace) return;
  char buf[NI_PUSH_LOG_MAX - 8];
  size_t w = 0;
  for (size_t i = 0; i < n && w + 1 < sizeof buf; i++) {
    unsigned char ch = (unsigned char)line[i];
    buf[w++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
  }
  buf[w] = 0;
  ni__push_log(p, NI_PUSH_LOG_TRACE, "%s%s", dir ? "C: " : "S: ", buf);
}

static void on_untagged(ni_imap *c, const ni_resp *r, void *ud) {
  ni_push *p = ud;
  (void)c;
  switch (r->type) {
  case NI_R_OK:
    if (p->state == NI_PUSH_SELECTING && r->code.n) {
      if (r->code.n == 11 && !memcmp(r->code.p, "UIDVALIDITY", 11))
        p->sel_uidvalidity = r->code_n1;
      else if (r->code.n == 7 && !memcmp(r->code.p, "UIDNEXT", 7))
        p->sel_uidnext = r->code_n1;
    }
    break;
  case NI_R_EXISTS:
    /* Without NOTIFY, EXISTS is all the push there is: leave IDLE and
     * fetch.  With NOTIFY the FETCH that follows carries the message.  The
     * EXISTS in SELECT's answer counts what UIDNEXT already covers. */
    if (p->notify || p->state == NI_PUSH_SELECTING) break;
    if (p->state == NI_PUSH_IDLE)
      ni__push_ka_event(p, NI_KA_EV_PUSH_IN_IDLE, 0, 0, ni_imap_now());
    else if (p->state == NI_PUSH_KEEPALIVE)
      p->ka_suspect = 1; /* judged by the INTERNALDATE the fetch brings */
    if (!p->need_fetch) {
      p->need_fetch_since = ni_imap_now();
      p->need_fetch_pushed = p->state == NI_PUSH_IDLE; /* its delay is a push delay */
    }
    p->need_fetch = 1;
    if (p->state == NI_PUSH_IDLE && p->c) ni_imap_idle_done(p->c);
    break;
  case NI_R_FETCH:
    ni__push_report_fetch(p, r);
    if (p->need_fetch && p->state == NI_PUSH_IDLE && p->c) ni_imap_idle_done(p->c);
    break;
  default:
    break;
  }
}

static void on_io(ni_imap *c, int dir, size_t nbytes, ni_ms now, void *ud) {
  ni_push *p = ud;
  ni_push_group *g = p->group;
  (void)c;
  if (dir) {
    p->st.bytes_out += nbytes;
    /* A send after a silence longer than the radio's tail wakes the radio. */
    if (!p->last_traffic || now - p->last_traffic > NI_PUSH_RADIO_TAIL_MS) p->st.wakeups++;
    if (!g->last_traffic || now - g->last_traffic > NI_PUSH_RADIO_TAIL_MS) g->wakeups++;
  } else {
    p->st.bytes_in += nbytes;
  }
  p->last_traffic = g->last_traffic = now;
  if (p->ka_connected) ni__push_ka_event(p, dir ? NI_KA_EV_TX : NI_KA_EV_RX, 0, 0, now);
}

static void on_end(ni_imap *c, ni_end how, int err, void *ud) {
  ni_push *p = ud;
  if (c != p->c) return;
  char buf[128];
  snprintf(buf, sizeof buf, "connection ended (%s)", ni_end_name(how));
  /* A connection that broke while nothing of ours was waiting for an
   * answer broke on its own after its silence: that tells the scheduler
   * something about the NAT. */
  ni_ms now = ni_imap_now();
  ni_ms silent = 0;
  if ((how == NI_END_RESET || how == NI_END_CLOSED) && p->state == NI_PUSH_IDLE &&
      p->last_traffic && now > p->last_traffic)
    silent = now - p->last_traffic;
  ni__push_conn_lost(p, err ? err : NI_ECLOSED, buf, silent);
}

static const ni_imap_cb imap_cb = {on_untagged, on_io, on_end, on_trace};

/* Completion of a command whose failure ends the connection: say why. */
int ni__push_cmd_failed(ni_push *p, int status, const char *what) {
  if (status >= 0) return 0;
  char buf[256];
  const char *es = p->c ? ni_imap_errstr(p->c) : "";
  /* The connection's own text is the more precise one when there is one. */
  snprintf(buf, sizeof buf, "%s: %s", what, *es ? es : ni_strerror(status));
  ni__push_conn_lost(p, status, buf, 0);
  return 1;
}

static void on_idle_done(ni_imap *c, int status, const ni_resp *tagged, void *arg);

static void on_idling(ni_imap *c, void *arg) {
  ni_push *p = arg;
  ni_ms now = ni_imap_now();
  (void)c;
  if (p->setup_deadline != NI_TIME_NEVER) {
    /* First IDLE of this connection: setup is over. */
    p->setup_deadline = NI_TIME_NEVER;
    p->up_since = now;
    p->st.connects++;
    ni__push_rearm(p);
  }
  /* A keepalive asked for before the "+" arrived has its DONE on the way. */
  ni__push_set_state(p, p->ka_inflight ? NI_PUSH_KEEPALIVE : NI_PUSH_IDLE, 0,
                     p->notify ? "notify" : "");
  ni__push_ka_event(p, NI_KA_EV_IDLE_ENTERED, 0, 0, now);
  /* An EXISTS may have come in while the IDLE command was on its way. */
  if (p->need_fetch && p->c) ni_imap_idle_done(p->c);
}

void ni__push_go_idle(ni_push *p) {
  if (!p->c) return;
  if (p->need_fetch) {
    ni__push_start_fetch(p);
    return;
  }
  int rc = ni_imap_idle(p->c, on_idling, on_idle_done, p);
  if (rc < 0)
    ni__push_cmd_failed(p, rc, "IDLE");
  else
    p->in_idle_cmd = 1;
}

/* The answer to a keepalive (the tagged OK of DONE or of NOOP). */
static void ka_answered(ni_push *p) {
  ni_ms now = ni_imap_now();
  ni_ms rtt = now - p->ka_sent_at;
  p->ka_inflight = 0;
  p->st.keepalives_answered++;
  ni__push_ka_event(p, NI_KA_EV_KA_ANSWERED, rtt ? rtt : 1, 0, now);
  emit_ka(p, NI_PUSH_KA_ANSWERED, now, rtt);
}

static void on_noop_done(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  (void)c;
  (void)tagged;
  if (ni__push_cmd_failed(p, status, "NOOP")) return;
  if (p->ka_inflight && p->ka_action == NI_KA_NOOP) ka_answered(p);
  if (!p->stopping && p->state != NI_PUSH_FETCHING && p->state != NI_PUSH_SYNCING)
    ni__push_go_idle(p);
}

static void on_idle_done(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  (void)c;
  (void)tagged;
  p->in_idle_cmd = 0;
  if (ni__push_cmd_failed(p, status, "IDLE")) return;
  if (p->ka_inflight && p->ka_action == NI_KA_REIDLE) ka_answered(p);
  if (!p->c || p->stopping) return; /* freed or stopped in a callback, or LOGOUT is queued behind */
  if (p->need_fetch) ni__push_ka_event(p, NI_KA_EV_IDLE_LEFT, 0, 0, ni_imap_now());
  ni__push_go_idle(p);
}

static void on_notify_done(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  (void)c;
  (void)tagged;
  if (status == NI_ENO || status == NI_EBAD) {
    /* The server offered NOTIFY but refused this request: IDLE alone still
     * works, at the cost of a round trip per message. */
    p->notify = 0;
    ni__push_set_state(p, p->state, 0, "NOTIFY refused; using IDLE and FETCH");
  } else if (ni__push_cmd_failed(p, status, "NOTIFY")) {
    return;
  } else {
    p->notify = 1;
  }
  ni__push_go_idle(p);
}

/* After SELECT (and a resync if needed): the session is ready, so the
 * scheduler's silence clock starts; NOTIFY when possible, then IDLE. */
void ni__push_after_sync(ni_push *p) {
  p->resyncing = 0;
  p->baseline = 0;
  p->synced_once = 1;
  p->ka_connected = 1;
  ni__push_ka_event(p, NI_KA_EV_CONNECTED, 0, 0, ni_imap_now());
  if (!p->no_notify && ni_imap_has_cap(p->c, "NOTIFY")) {
    /* p->notify is set only by the tagged OK: until then an EXISTS may
     * come from before the server took the request, and must be fetched. */
    int rc = ni_imap_notify_set(p->c, NI_PUSH_NOTIFY_SPEC, on_notify_done, p);
    if (rc == 0) return;
    if (rc != NI_ENOCAP && ni__push_cmd_failed(p, rc, "NOTIFY")) return;
  }
  ni__push_go_idle(p);
}

void ni__push_start_connect(ni_push *p) {
  ni_ms now = ni_imap_now();
  p->reconnect_at = NI_TIME_NEVER;
  p->setup_deadline = now + p->setup_timeout;
  if (p->started_once) p->st.reconnects++;
  p->started_once = 1;
  ni_imap_opts o;
  memset(&o, 0, sizeof o);
  o.host = p->host;
  o.port = p->port;
  o.tls = p->tls;
  o.ca_file = p->ca_file;
  o.insecure = p->insecure;
  o.allow_plaintext = p->allow_plaintext;
  o.family = p->family;
  o.connect_timeout_ms = (uint32_t)p->setup_timeout;
  ni__push_set_state(p, NI_PUSH_CONNECTING, 0, "");
  if (p->freed || !p->running) return; /* the callback freed or stopped the session */
  p->c = ni_imap_new(p->loop, &o, &imap_cb, p);
  if (!p->c) {
    ni__push_conn_lost(p, -ENOMEM, "out of memory", 0);
    return;
  }
  int rc = ni_imap_connect(p->c, ni__push_on_connected, p);
  if (rc < 0) {
    ni__push_conn_lost(p, rc, "connect", 0);
    return;
  }
  ni__push_rearm(p);
}

/* ---- keepalives the scheduler asks for ------------------------------------ */

/* Carry out what the scheduler asked of session p at `now`. */
void ni__push_ka_act(ni_push *p, ni_ka_action a, ni_ms now) {
  if (a == NI_KA_DEAD) {
    /* The reply deadline passed: a NAT that lost the mapping drops
     * everything silently, and TCP would retransmit for many minutes. */
    p->st.keepalives_unanswered++;
    emit_ka(p, NI_PUSH_KA_UNANSWERED, now, 0);
    if (!p->freed && p->running && !p->stopping)
      ni__push_conn_lost(p, NI_ETIMEDOUT, "keepalive unanswered", 0);
    return;
  }
  if ((a != NI_KA_NOOP && a != NI_KA_REIDLE) || !p->c || p->stopping) return;
  /* An IDLE whose "+" is still on its way counts as idling: DONE goes out
   * as soon as the "+" arrives, where a NOOP would wait behind the IDLE. */
  int idling = p->in_idle_cmd;
  p->ka_inflight = 1;
  p->ka_suspect = 0;
  /* Inside IDLE the keepalive is DONE (its tagged OK is the answer, then
   * IDLE again); outside IDLE (fetching) it is a NOOP queued behind. */
  p->ka_action = idling ? NI_KA_REIDLE : NI_KA_NOOP;
  p->ka_sent_at = now;
  p->ka_sent_wall = ni__push_wall_ms();
  p->ka_interval = p->last_traffic && now > p->last_traffic ? now - p->last_traffic : 0;
  p->st.keepalives++;
  ni__push_log(p, NI_PUSH_LOG_DEBUG, "keepalive after %.1f s of silence",
               (double)p->ka_interval / 1000.0);
  if (idling) {
    ni__push_set_state(p, NI_PUSH_KEEPALIVE, 0, "");
    if (!p->c) return; /* the callback stopped or freed the session */
    ni_imap_idle_done(p->c);
  } else if (ni_imap_noop(p->c, on_noop_done, p) < 0) {
    ni__push_cmd_failed(p, NI_ESTATE, "NOOP");
    return;
  }
  emit_ka(p, NI_PUSH_KA_SENT, now, 0);
}
