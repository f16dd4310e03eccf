/*
 * A silent session's connection: connect, log in, SELECT its mailbox (or
 * EXAMINE the INBOX for outbound checks), enter IDLE, and what the
 * connection's callbacks mean for the check in progress.  Failed setups
 * reconnect with a backoff; a server's connection limit lowers the number
 * of sessions instead of hammering it.  Arming and checking a silent
 * session is in probe/check.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "probe/internal.h"

/* ---- the session's timer -------------------------------------------------- */

void ni__timer_set(ni__sess *s, ni__timer_kind kind, ni_ms at) {
  /* libuv counts timeouts from its cached loop time: refresh it so the
   * delay starts now.  A timer that still fires a little early is
   * re-armed by its handler. */
  uv_update_time(&s->p->loop);
  ni_ms cur = ni_imap_now();
  s->tk = kind;
  s->due = at;
  uv_timer_stop(&s->timer);
  uv_timer_start(&s->timer, ni__sess_timer_cb, at > cur ? at - cur : 0, 0);
}

void ni__timer_clear(ni__sess *s) {
  uv_timer_stop(&s->timer);
  s->tk = TK_NONE;
}

/* ---- losing the connection and setting up again --------------------------- */

/* Is this refusal the server's connection limit?  Dovecot says
 * "* BYE Maximum number of connections from user+IP exceeded" or answers
 * the login with NO [UNAVAILABLE] / [LIMIT]. */
static int is_limit_text(const char *t) {
  return t && (strstr(t, "Maximum number of connections") || strstr(t, "[UNAVAILABLE]") ||
               strstr(t, "[LIMIT]") || strstr(t, "Too many") || strstr(t, "too many"));
}

/* Keep "[CODE] text" of a refusal: the code is what names a limit
 * ([UNAVAILABLE], [LIMIT]). */
static void keep_refusal(ni__sess *s, const ni_resp *r) {
  if (r->code.n)
    snprintf(s->bye, sizeof s->bye, "[%.*s] %.*s", (int)r->code.n, r->code.p, (int)r->text.n,
             r->text.p);
  else
    snprintf(s->bye, sizeof s->bye, "%.*s", (int)r->text.n, r->text.p);
}

void ni__sess_drop_conn(ni__sess *s) {
  if (s->lport && s->p->cap.pcap) ni__pcap_unwatch(s->p->cap.pcap, s->lport);
  s->lport = 0;
  s->select_waits = 0;
  if (s->c) {
    ni_imap_free(s->c);
    s->c = NULL;
  }
  /* Nothing to report: the search forgets the session until it is armed
   * again (arming replaces the silence start). */
  s->armed = NULL;
}

void ni__sess_schedule_reconnect(ni__sess *s, unsigned delay_ms) {
  s->state = SS_OFF;
  if (s->p->phase >= PH_SHUTDOWN) {
    ni__shutdown_step(s->p);
    return;
  }
  ni__timer_set(s, TK_BACKOFF, ni_imap_now() + delay_ms);
}

/* The server refused session s for a connection limit: go on with the
 * sessions that work, or wait for the server to free connections. */
static void limit_hit(ni__sess *s) {
  ni__probe *p = s->p;
  unsigned working = 0;
  for (unsigned i = 0; i < p->k; i++)
    if (p->ss[i].state >= SS_SILENT) working++;
  if (!s->limited) s->backoff_ms = LIMIT_BACKOFF_MIN_MS;
  s->limited = 1;
  ni_search *se = ni__search_for(p, p->search.cur);
  if (working >= 1 && se && working < ni__search_sessions(se)) {
    ni__note(p, 0,
             "the server refused a connection for a limit (%u abandoned sessions may still "
             "count): going on with %u sessions",
             p->n.zombies, working);
    if (p->search.in) ni__search_lower_sessions(p->search.in, working);
    if (p->search.out) ni__search_lower_sessions(p->search.out, working);
    ni__retarget_all(p);
  } else if (!p->limit_noted) {
    ni__note(p, 0,
             "the server refused a connection for a limit: waiting for it to free "
             "connections");
  }
  p->limit_noted = 1;
}

void ni__sess_setup_failed(ni__sess *s, int err) {
  ni__probe *p = s->p;
  /* Copied: the connection (and its error text) goes away below. */
  char why[256];
  snprintf(why, sizeof why, "%s", s->c ? ni_imap_errstr(s->c) : "");
  int limit = err == NI_ELIMITHIT || is_limit_text(s->bye) || is_limit_text(why);
  ni__sess_drop_conn(s);
  if (p->phase >= PH_SHUTDOWN) {
    s->state = SS_OFF;
    ni__shutdown_step(p);
    return;
  }
  if (limit) {
    limit_hit(s);
  } else {
    if (s->limited || s->backoff_ms < BACKOFF_MIN_MS) s->backoff_ms = BACKOFF_MIN_MS;
    s->limited = 0;
    ni__note(p, 1, "session %u: setup failed: %s", s->num, why[0] ? why : ni_strerror(err));
  }
  unsigned delay = s->backoff_ms;
  unsigned cap = s->limited ? LIMIT_BACKOFF_MAX_MS : BACKOFF_MAX_MS;
  s->backoff_ms = s->backoff_ms * 2 > cap ? cap : s->backoff_ms * 2;
  ni__sess_schedule_reconnect(s, delay);
}

/* ---- IDLE ---------------------------------------------------------------- */

static void sess_on_idling(ni_imap *c, void *arg) {
  ni__sess *s = arg;
  ni__probe *p = s->p;
  /* Silence is counted from the last byte on the wire either way. */
  ni_ms rx = ni_imap_last_rx(c), tx = ni_imap_last_tx(c);
  s->silent_since = rx > tx ? rx : tx;
  /* A polling server counts its polls from here. */
  s->idle_since = s->silent_since;
  s->state = SS_SILENT;
  s->backoff_ms = 0;
  s->limited = 0;
  ni__timer_clear(s);
  if (p->cap.pcap && s->lport) ni__pcap_silence_begin(p->cap.pcap, s->lport, s->silent_since);
  ni__note(p, 2, "session %u: idle", s->num);
  if (p->phase >= PH_SHUTDOWN) {
    ni__sess_check_done_now(s);
    return;
  }
  ni__sess_arm(s);
}

static void sess_idle_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg);

static void sess_idle(ni__sess *s) {
  if (s->state != SS_SETUP) {
    s->state = SS_REIDLE;
    ni__timer_set(s, TK_SETUP, ni_imap_now() + SETUP_TIMEOUT_MS);
  }
  int rc = ni_imap_idle(s->c, sess_on_idling, sess_idle_cb, s);
  if (rc != 0) ni__sess_setup_failed(s, rc);
}

/* Log out a session that is done; a connection that cannot even send
 * LOGOUT is dropped. */
static void sess_logout(ni__sess *s) {
  s->state = SS_LOGOUT;
  if (ni_imap_logout(s->c, ni__ignore_cb, NULL) != 0) {
    ni__sess_drop_conn(s);
    ni__sess_schedule_reconnect(s, 0);
  }
}

/* The tagged answer to IDLE: it comes after our DONE (or when the server
 * ends IDLE on its own). */
static void sess_idle_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__sess *s = arg;
  ni__probe *p = s->p;
  if (status != 0 && !tagged) return; /* transport error: on_end decides */
  if (p->phase >= PH_SHUTDOWN && s->state != SS_DONE) {
    ni__timer_set(s, TK_DONE, ni_imap_now() + DONE_WAIT_MS(p));
    sess_logout(s);
    return;
  }
  if (s->state == SS_SILENT) {
    /* The server ended IDLE by itself: that is traffic, so the silence is
     * void; enter IDLE again. */
    if (s->armed) ni__end_silence(s, ni_imap_now(), OC_REFRESHED);
    ni__timer_clear(s);
    sess_idle(s);
    return;
  }
  if (s->state != SS_DONE) return;
  ni__timer_clear(s);
  if (s->ck.result == CK_OPEN && s->ck.cal) {
    ni__calibrate_done_answer(s, status);
  } else if (s->ck.result == CK_OPEN) {
    ni__check_done_answer(s, status);
  }
  if (status == 0 && p->phase >= PH_SHUTDOWN) {
    sess_logout(s);
  } else if (status == 0)
    sess_idle(s);
  else {
    ni__sess_drop_conn(s);
    ni__sess_schedule_reconnect(s, 0);
  }
}

/* ---- setting up ---------------------------------------------------------- */

static void sess_select_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__sess *s = arg;
  if (status != 0) {
    if (tagged) keep_refusal(s, tagged);
    ni__sess_setup_failed(s, status);
    return;
  }
  sess_idle(s);
}

/* Outbound checks write nothing: they EXAMINE the INBOX. */
static int sess_read_only(const ni__probe *p) {
  return p->o->read_only || p->o->direction == NI_PDIR_OUTBOUND;
}

static void sess_select(ni__sess *s) {
  int ro = sess_read_only(s->p);
  int rc = ni_imap_select(s->c, ro ? "INBOX" : s->mbox, ro, sess_select_cb, s);
  if (rc != 0) ni__sess_setup_failed(s, rc);
}

static void sess_login_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__sess *s = arg;
  ni__probe *p = s->p;
  if (status == 0) ni__login_retry(p, c, 0, &s->tok_gen, sess_login_cb, s);
  if (status != 0 && p->phase < PH_SHUTDOWN) {
    /* An OAuth2 token that expired during the run: one fresh one. */
    int rc = ni__login_retry(p, c, status, &s->tok_gen, sess_login_cb, s);
    if (rc == 0) return;
    if (rc == NI_EAUTH) {
      p->end.fatal = NI_EAUTH;
      ni__begin_shutdown(p);
      return;
    }
  }
  if (status != 0) {
    if (tagged) keep_refusal(s, tagged);
    ni__sess_setup_failed(s, status);
    return;
  }
  /* The sessions log in while the control connection is still creating
   * their mailboxes (a round trip each, seconds on a slow path): a session
   * whose mailbox is not there yet SELECTs it once it is. */
  if (!sess_read_only(p) && !s->created) {
    s->select_waits = 1;
    return;
  }
  sess_select(s);
}

void ni__sess_mailbox_ready(ni__sess *s) {
  s->created = 1;
  if (!s->select_waits) return;
  s->select_waits = 0;
  if (s->c && s->state == SS_SETUP) sess_select(s);
}

/* Let the capture follow this session's connection, to the address it
 * was actually made to (of the family it was made over). */
static void watch(ni__sess *s) {
  struct sockaddr_storage ss, peer;
  if (!s->p->cap.pcap || ni_imap_local_addr(s->c, &ss) != 0) return;
  uint16_t port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
  int known = ni_imap_peer_addr(s->c, &peer) == 0;
  if (ni__pcap_watch(s->p->cap.pcap, known ? (const struct sockaddr *)&peer : NULL, port) == 0)
    s->lport = port;
}

static void sess_connect_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__sess *s = arg;
  if (status != 0) {
    ni__sess_setup_failed(s, status);
    return;
  }
  watch(s);
  int rc = ni__login(s->p, c, &s->tok_gen, sess_login_cb, s);
  if (rc != 0) ni__sess_setup_failed(s, rc);
}

/* ---- what the connection says -------------------------------------------- */

static void sess_on_untagged(ni_imap *c, const ni_resp *r, void *ud) {
  ni__sess *s = ud;
  if (r->type == NI_R_BYE || r->type == NI_R_NO) keep_refusal(s, r);
  if (s->state == SS_CHECK && r->type == NI_R_EXISTS)
    ni__check_exists(s, ni_imap_now());
  else if (s->state == SS_DONE && s->ck.result == CK_OPEN && r->type == NI_R_EXISTS &&
           !s->ck.late_exists)
    s->ck.late_exists = ni_imap_now();
}

static void sess_on_io(ni_imap *c, int dir, size_t nbytes, ni_ms now, void *ud) {
  ni__sess *s = ud;
  ni__probe *p = s->p;
  if (dir != 0 || s->state != SS_SILENT) return;
  /* Bytes reached a silent session: the NAT mapping was refreshed by the
   * server, so the check this silence was heading for would prove
   * nothing. */
  ni__unsolicited(s, now);
  if (s->armed) {
    ni__timer_clear(s);
    ni__end_silence(s, now, OC_REFRESHED);
  }
  s->silent_since = now;
  if (p->cap.pcap && s->lport) ni__pcap_silence_begin(p->cap.pcap, s->lport, now);
  if (s->state == SS_SILENT && !s->armed && p->phase == PH_RUN) ni__sess_arm(s);
}

static void sess_on_end(ni_imap *c, ni_end how, int err, void *ud) {
  ni__sess *s = ud;
  ni__probe *p = s->p;
  ni__sess_state st = s->state;
  ni__timer_clear(s);
  if (st == SS_SETUP) {
    ni__sess_setup_failed(s, err ? err : NI_ECLOSED);
    return;
  }
  if (st == SS_LOGOUT || p->phase >= PH_SHUTDOWN) {
    ni__sess_drop_conn(s);
    s->state = SS_OFF;
    ni__shutdown_step(p);
    return;
  }
  /* What an end says about the mapping.  After our DONE, a reset or a
   * close is the NAT's answer to the client's packet.  Before it, only a
   * reset can be the NAT's (one that resets expired mappings by itself);
   * a close then comes from the server (a restart, its own timeout), and
   * says nothing about the NAT: the silence is void. */
  ni__outcome oc = OC_ABORTED;
  if (how == NI_END_RESET)
    oc = OC_DEAD_RESET;
  else if (how == NI_END_CLOSED && st == SS_DONE)
    oc = OC_DEAD_CLOSED;
  if ((st == SS_CHECK || st == SS_DONE) && s->ck.result == CK_OPEN) {
    if (s->ck.cal && st == SS_DONE) {
      ni__calibrate_done_answer(s, err ? err : NI_ECLOSED);
    } else if (s->ck.cal) {
      /* The sample is lost with the connection; another session gives it. */
      p->cal.busy--;
      s->ck.result = CK_DECIDED;
      ni__kick(p);
    } else {
      ni__record(s, oc, -1);
    }
  } else if (st == SS_SILENT && s->armed) {
    /* A reset while silent is a death at this silence if the silence is
     * one worth checking at all; anything else voids it. */
    ni_ms now = ni_imap_now();
    if (how == NI_END_RESET && ni__silence_of(s, now) < (ni_ms)llround(p->o->min_s * 1000.0))
      oc = OC_ABORTED;
    ni__end_silence(s, now, oc);
  } else if (st == SS_SILENT || st == SS_REIDLE) {
    ni__note(p, 1, "session %u: connection ended (%s)", s->num, ni_end_name(how));
  }
  ni__sess_drop_conn(s);
  ni__sess_schedule_reconnect(s, 0);
}

void ni__sess_connect(ni__sess *s) {
  ni__probe *p = s->p;
  if (p->phase >= PH_SHUTDOWN) return;
  /* Bounded: every reconnect follows a check or a backoff, and the total is
   * capped as well. */
  if (p->n.connects >= RECONNECTS_PER * (p->o->max_checks + p->k)) {
    ni__note(p, 0, "too many reconnects: stopping");
    ni__stop_searches(p);
    ni__maybe_finish(p);
    return;
  }
  p->n.connects++;
  ni_imap_opts io;
  ni__imap_opts(p, &io);
  ni_imap_cb cb = {sess_on_untagged, sess_on_io, sess_on_end, NULL};
  s->bye[0] = '\0';
  s->last_unsol = 0;
  s->armed = NULL;
  s->c = ni_imap_new(&p->loop, &io, &cb, s);
  if (!s->c) {
    ni__sess_setup_failed(s, -ENOMEM);
    return;
  }
  s->state = SS_SETUP;
  ni__timer_set(s, TK_SETUP, ni_imap_now() + SETUP_TIMEOUT_MS);
  int rc = ni_imap_connect(s->c, sess_connect_cb, s);
  if (rc != 0) ni__sess_setup_failed(s, rc);
}
