/*
 * The control connection: logged in first (its failures are the run's
 * fatal errors), kept busy with a NOOP every few seconds so that its own
 * NAT mapping never expires, and the one that APPENDs the markers.  It is
 * the witness that the network works: when it stalls or is lost, the
 * checks that relied on it are aborted, never called dead.  Losing it is a
 * network event (an address change, a NAT that rebinds: every mapping is
 * gone at once): every silence that spans it is void, and when it is back
 * every session starts a fresh IDLE.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe/internal.h"

/* ---- shared by every connection of the run ------------------------------ */

/* Log in on c.  The password is kept masked for the whole run (sessions
 * reconnect, so it must be kept): it exists in the clear only during this
 * call, which copies it into the command (the client wipes that copy once
 * written). */
/* The size of the buffer an OAuth2 access token is read into: Microsoft's
 * and Google's tokens are 1-3 KB. */
#define TOKEN_CAP 16384

/* Log in on c with the current OAuth2 token (asking for a fresh one when
 * refresh is set). */
static int login_oauth(ni__probe *p, ni_imap *c, int refresh, unsigned *gen, ni_imap_done_cb cb,
                       void *arg) {
  const ni_probe_opts *o = p->o;
  char *buf = malloc(TOKEN_CAP), err[256] = "";
  if (!buf) return -ENOMEM;
  size_t len = 0;
  int rc = o->token(o->token_arg, refresh, buf, TOKEN_CAP, &len, err, sizeof err);
  if (rc != 0) {
    ni__error(p, "no OAuth2 token: %s", err[0] ? err : ni_strerror(rc));
    explicit_bzero(buf, TOKEN_CAP);
    free(buf);
    return NI_EAUTH;
  }
  if (refresh) {
    p->tok.gen++;
    p->tok.refreshed = 1;
  }
  *gen = p->tok.gen;
  rc = ni_imap_authenticate_oauth2(c, o->user, buf, len, (ni_oauth_mech)o->oauth_mech, cb, arg);
  explicit_bzero(buf, TOKEN_CAP);
  free(buf);
  return rc;
}

int ni__login(ni__probe *p, ni_imap *c, unsigned *gen, ni_imap_done_cb cb, void *arg) {
  const ni_probe_opts *o = p->o;
  if (o->token) return login_oauth(p, c, 0, gen, cb, arg);
  char *pw = malloc(o->pw_len + 1);
  if (!pw) return -ENOMEM;
  for (size_t i = 0; i < o->pw_len; i++)
    pw[i] = (char)(o->pw_masked[i] ^ o->pw_key[i]);
  pw[o->pw_len] = '\0';
  int rc = ni_imap_login(c, o->user, pw, cb, arg);
  explicit_bzero(pw, o->pw_len);
  free(pw);
  return rc;
}

/* A login on c ended with status.  When it was an OAuth2 token the server
 * refused as such (expired, revoked), and the token in use is not itself
 * a fresh one that was just refused, get a fresh one and log in again on
 * the same connection: returns 0.  A fresh token refused again is
 * permanent: NI_EAUTH after an error line.  Anything else: 1 (the caller
 * handles the failure as before). */
int ni__login_retry(ni__probe *p, ni_imap *c, int status, unsigned *gen, ni_imap_done_cb cb,
                    void *arg) {
  if (!p->o->token) return 1;
  if (status == 0) {
    p->tok.proven = *gen;
    return 1;
  }
  const char *why = "";
  ni_oauth_refusal r = ni_imap_oauth_refusal(c, &why);
  if (status != NI_EAUTH || r != NI_OAUTH_TOKEN_REFUSED) return 1;
  /* Another connection already got a fresher token: use that one. */
  if (*gen != p->tok.gen) return login_oauth(p, c, 0, gen, cb, arg) == 0 ? 0 : NI_EAUTH;
  if (p->tok.refreshed && p->tok.proven != p->tok.gen) {
    ni__error(p,
              "the server refused a freshly obtained OAuth2 token too (status \"%s\"): "
              "check the token command, the account and the token's scope",
              why ? why : "");
    return NI_EAUTH;
  }
  ni__note(p, 1, "the server refused the OAuth2 token (status \"%s\"): getting a fresh one",
           why ? why : "");
  int rc = login_oauth(p, c, 1, gen, cb, arg);
  return rc == 0 ? 0 : NI_EAUTH;
}

/* Connection options for every connection of the run (the sessions and the
 * control connection are the same client to the server). */
void ni__imap_opts(const ni__probe *p, ni_imap_opts *io) {
  memset(io, 0, sizeof *io);
  io->host = p->o->server;
  io->port = (uint16_t)p->o->port;
  io->tls = (ni_tls_mode)p->o->tls;
  io->ca_file = p->o->ca_file;
  io->insecure = p->o->insecure;
  io->allow_plaintext = p->o->allow_plaintext;
  io->family = p->o->family;
}

void ni__ignore_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {}

/* ---- the NOOP cadence ---------------------------------------------------- */

ni_ms ni__stall_ms(const ni__probe *p) {
  ni_ms t = (ni_ms)(STALL_FACTOR * p->ctl.srtt_ms) + STALL_SLACK_MS;
  return t < STALL_FLOOR_MS ? STALL_FLOOR_MS : t;
}

static void ctl_noop_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__probe *p = arg;
  if (status != 0) return;
  p->ctl.noop_inflight = 0;
  p->ctl.last_reply = ni_imap_now();
  double rtt = (double)(ni_imap_now() - p->ctl.noop_sent);
  if (rtt > (double)ni__stall_ms(p)) {
    /* The network stalled (a lost radio, a flushed NAT): checks whose
     * window overlaps it cannot call a mapping dead. */
    p->ctl.stall_end = p->ctl.last_reply;
    if (p->phase == PH_RUN)
      ni__note(p, 0, "control connection stalled for %.1f s: checks of that window are aborted",
               rtt / 1000.0);
  }
  p->ctl.srtt_ms = p->ctl.srtt_ms > 0 ? 0.875 * p->ctl.srtt_ms + 0.125 * rtt : rtt;
  /* Outbound-only runs calibrate on NOOP round trips. */
  if (p->phase == PH_CALIBRATE && !(p->o->direction & NI_PDIR_INBOUND))
    ni__calibrate_rtt(p, (ni_ms)rtt);
}

void ni__ctl_send_noop(ni__probe *p) {
  /* Commands go out one at a time: a NOOP behind APPENDs would time the
   * queue, not the path (a false stall at a long round trip), and their
   * answers already show that the connection works. */
  if (p->ctl.state != CT_READY || p->ctl.noop_inflight || ni_imap_pending(p->ctl.c) > 0) return;
  p->ctl.noop_sent = ni_imap_now();
  p->ctl.noop_inflight = 1;
  if (ni_imap_noop(p->ctl.c, ctl_noop_cb, p) != 0) p->ctl.noop_inflight = 0;
}

static void ctl_lost(ni__probe *p, const char *why);

static void ctl_timer_cb(uv_timer_t *t) {
  ni__probe *p = t->data;
  ni_ms now = ni_imap_now();
  if (p->ctl.state == CT_OFF) {
    ni__ctl_connect(p);
    return;
  }
  if (p->ctl.state == CT_SETUP) {
    /* Connecting and logging in took too long (a stalled server). */
    if (p->phase == PH_CONNECT)
      ni__ctl_fatal(p, NI_ETIMEDOUT, AT_LOGIN_STALL, NULL);
    else
      ctl_lost(p, "login timed out");
    return;
  }
  if (p->ctl.state != CT_READY) return;
  if (p->ctl.noop_inflight && now - p->ctl.noop_sent > p->t.noop_deadline_ms) {
    ctl_lost(p, "a NOOP went unanswered");
    return;
  }
  for (unsigned i = 0; i < p->k; i++) {
    ni__sess *s = &p->ss[i];
    if (s->state == SS_CHECK && !s->ck.ok && now - s->ck.sent > p->t.noop_deadline_ms) {
      ctl_lost(p, "an APPEND went unanswered");
      return;
    }
  }
  ni__ctl_send_noop(p);
  uv_timer_start(&p->ctl.timer, ctl_timer_cb, p->t.noop_ms, 0);
}

/* ---- losing it ----------------------------------------------------------- */

static void ctl_free_conn(ni__probe *p) {
  if (p->ctl.c) {
    ni_imap_free(p->ctl.c);
    p->ctl.c = NULL;
  }
  p->ctl.state = CT_OFF;
}

/* The control connection is gone: abort the checks that relied on it and
 * reconnect it. */
static void ctl_lost(ni__probe *p, const char *why) {
  ni__ctl *k = &p->ctl;
  k->epoch++;
  ctl_free_conn(p);
  k->noop_inflight = 0;
  uv_timer_stop(&k->timer);
  if (p->phase >= PH_SHUTDOWN) {
    ni__shutdown_step(p);
    return;
  }
  if (p->phase < PH_CALIBRATE || p->n.creates_left) {
    /* Still setting up (LIST, CREATE, while the sessions log in): a server
     * that fails here fails again; say so rather than retry for ever. */
    ni__error(p, "%s port %u: connection lost while setting up (%s)", p->o->server, p->id.port,
              why);
    p->end.fatal = NI_ECLOSED;
    ni__begin_shutdown(p);
    return;
  }
  /* A network event begins (a failed reconnect is the same one): every
   * silence that spans it is void until the connection is back. */
  ni_ms now = ni_imap_now();
  if (ni__net_lost(&k->net, k->last_reply)) {
    k->lost_at = now;
    snprintf(k->lost_why, sizeof k->lost_why, "%s", why);
    ni__note(p, 0, "control connection lost (%s): checks in flight are aborted", why);
  } else {
    ni__note(p, 1, "control connection: reconnecting failed (%s)", why);
  }
  for (unsigned i = 0; i < p->k; i++) {
    ni__sess *s = &p->ss[i];
    if (s->state == SS_CHECK) {
      if (s->ck.cal) {
        p->cal.busy--;
        s->ck.result = CK_DECIDED;
        p->n.checks--;
      } else {
        ni__record(s, OC_ABORTED, -1);
      }
      ni__sess_check_done_now(s);
    }
  }
  if (now - k->lost_at >= CTL_DOWN_MAX_MS) {
    ni__note(p, 0,
             "the control connection did not come back within %d s: stopping; the same "
             "command with --resume goes on from %s",
             CTL_DOWN_MAX_MS / 1000, p->o->csv_path ? p->o->csv_path : "the --csv file");
    ni__begin_shutdown(p);
    return;
  }
  unsigned d = k->backoff_ms ? k->backoff_ms : BACKOFF_MIN_MS;
  k->backoff_ms = d * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d * 2;
  uv_timer_start(&k->timer, ctl_timer_cb, d, 0);
}

/* The first control connection failed: one error line, then end the run
 * with the matching error.  tagged (may be NULL) is the server's answer to
 * LOGIN. */
void ni__ctl_fatal(ni__probe *p, int err, ni__ctl_stage at, const ni_resp *tagged) {
  const char *server = p->o->server;
  unsigned port = p->id.port;
  const char *detail = p->ctl.c ? ni_imap_errstr(p->ctl.c) : "";
  if (!detail[0]) detail = ni_strerror(err);
  if (at == AT_LOGIN && err == NI_EPLAINTEXT)
    ni__error(p, "refusing to log in without TLS (use --tls imaps or starttls, or "
                 "--allow-plaintext)");
  else if (at == AT_LOGIN && tagged && tagged->code.n)
    ni__error(p, "login failed: [%.*s] %.*s", (int)tagged->code.n, tagged->code.p,
              (int)tagged->text.n, tagged->text.p);
  else if (at == AT_LOGIN && tagged)
    ni__error(p, "login failed: %.*s", (int)tagged->text.n, tagged->text.p);
  else if (at == AT_LOGIN)
    ni__error(p, "login failed: %s", detail);
  else if (at == AT_LOGIN_STALL)
    ni__error(p, "%s port %u did not complete the login within %d s", server, port,
              CTL_SETUP_MS / 1000);
  else if (at == AT_CONNECT && err == NI_ENOCAP)
    ni__error(p, "%s port %u does not offer STARTTLS: refusing to go on without TLS", server, port);
  else if (at == AT_CONNECT && (err == NI_ECERT || err == NI_ETLS))
    ni__error(p, "TLS with %s port %u failed: %s", server, port, detail);
  else if (at == AT_CONNECT)
    ni__error(p, "cannot connect to %s port %u: %s", server, port,
              strstr(detail, "cannot connect") ? ni_strerror(err) : detail);
  else
    ni__error(p, "%s port %u: %s", server, port, detail);
  if (at == AT_LOGIN && (err == NI_ENO || err == NI_EBAD)) err = NI_EAUTH;
  /* Whatever else the server did to a connection or a login that failed
   * (a BYE, a response that breaks the protocol, an answer out of turn) is
   * the server's doing, not natidle's: a protocol error, not a crash. */
  if ((at == AT_LOGIN || at == AT_CONNECT || at == AT_SETUP) && err != -ENOMEM &&
      ni_exit_code_for(err) == NI_EXIT_FAILURE && err != NI_EREFUSED)
    err = NI_EPARSE;
  p->end.fatal = err ? err : NI_ECLOSED;
  ctl_free_conn(p);
  ni__begin_shutdown(p);
}

/* ---- connecting ---------------------------------------------------------- */

/* Untagged data on the control connection only matters to the janitor
 * (LIST and SEARCH answers). */
static void ctl_on_untagged(ni_imap *c, const ni_resp *r, void *ud) {
  ni__janitor_untagged(ud, r);
}

static void ctl_on_end(ni_imap *c, ni_end how, int err, void *ud) {
  ni__probe *p = ud;
  if (p->phase == PH_CONNECT && p->ctl.state == CT_SETUP) {
    ni__ctl_fatal(p, err ? err : NI_ECLOSED, AT_CONNECT, NULL);
    return;
  }
  if (p->ctl.state == CT_LOGOUT || p->phase == PH_DONE) {
    ctl_free_conn(p);
    ni__shutdown_step(p);
    return;
  }
  char why[64];
  snprintf(why, sizeof why, "%s", ni_end_name(how));
  ctl_lost(p, why);
}

/* The control connection is back after it was lost: the network event is
 * over.  Every session silent since before now may have lost its mapping
 * with it: its silence is void (aborted), and it ends IDLE to start a fresh
 * one (a mapping that is gone leaves DONE unanswered, and the session
 * reconnects).  A session stuck since before the event on the way into
 * IDLE reconnects at once. */
static void net_back(ni__probe *p) {
  ni__ctl *k = &p->ctl;
  ni_ms now = ni_imap_now();
  if (!ni__net_back(&k->net, now)) {
    ni__note(p, 0, "control connection back");
    return;
  }
  unsigned voided = 0, fresh = 0;
  for (unsigned i = 0; i < p->k; i++) {
    ni__sess *s = &p->ss[i];
    if (!s->c) continue;
    if (s->state == SS_SILENT) {
      if (s->armed) {
        ni__timer_clear(s);
        ni__end_silence(s, now, OC_ABORTED);
        voided++;
      }
      ni__sess_check_done_now(s);
      fresh++;
    } else if ((s->state == SS_SETUP || s->state == SS_REIDLE) &&
               ni_imap_last_rx(s->c) <= k->net.from) {
      if (s->state == SS_REIDLE) p->n.zombies++;
      ni__timer_clear(s);
      ni__sess_drop_conn(s);
      ni__sess_schedule_reconnect(s, 0);
      fresh++;
    }
  }
  ni__note(p, 0,
           "network event: the control connection lost its mapping (%s) and was back %.1f s "
           "after its last answer, as after an address change or a NAT that rebinds: %u "
           "silences that spanned it are void (aborted), %u sessions start a fresh IDLE",
           k->lost_why, (double)(now - k->net.from) / 1000.0, voided, fresh);
}

static void ctl_ready(ni__probe *p) {
  ni__ctl *k = &p->ctl;
  k->state = CT_READY;
  k->backoff_ms = 0;
  k->noop_inflight = 0;
  k->last_reply = ni_imap_now();
  if (p->phase == PH_CONNECT) {
    if (ni__mailboxes_begin(p) != 0) ni__ctl_fatal(p, NI_ESTATE, AT_SETUP, NULL);
  } else if (p->phase >= PH_SHUTDOWN) {
    ni__shutdown_step(p);
    return;
  } else {
    net_back(p);
  }
  uv_timer_start(&k->timer, ctl_timer_cb, p->t.noop_ms, 0);
  if (p->phase == PH_CALIBRATE) ni__calibrate_step(p);
}

/* A failure on the way to a ready control connection: fatal for the first
 * one, a loss to recover from later. */
static void ctl_failed(ni__probe *p, int err, ni__ctl_stage at, const ni_resp *tagged,
                       const char *why) {
  if (p->phase == PH_CONNECT)
    ni__ctl_fatal(p, err, at, tagged);
  else
    ctl_lost(p, why ? why : ni_strerror(err));
}

static void ctl_login_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__probe *p = arg;
  int rc = ni__login_retry(p, c, status, &p->ctl.tok_gen, ctl_login_cb, p);
  if (rc == 0) return;
  if (rc == NI_EAUTH) {
    /* The error line is out; end the run as a refused login. */
    p->end.fatal = NI_EAUTH;
    ctl_free_conn(p);
    ni__begin_shutdown(p);
    return;
  }
  if (status != 0) {
    ctl_failed(p, status, AT_LOGIN, tagged, "login refused");
    return;
  }
  /* IDLE may only be announced after login: check it now. */
  if (!ni_imap_has_cap(c, "IDLE")) {
    ni__error(p, "the server %s does not offer IDLE (RFC 2177); natidle needs it", p->o->server);
    p->end.fatal = NI_ENOCAP;
    ctl_free_conn(p);
    ni__begin_shutdown(p);
    return;
  }
  ctl_ready(p);
}

static void ctl_connect_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__probe *p = arg;
  if (status != 0) {
    ctl_failed(p, status, AT_CONNECT, NULL, NULL);
    return;
  }
  int rc = ni__login(p, c, &p->ctl.tok_gen, ctl_login_cb, p);
  if (rc != 0) ctl_failed(p, rc, AT_LOGIN, NULL, NULL);
}

void ni__ctl_connect(ni__probe *p) {
  ni_imap_opts io;
  ni__imap_opts(p, &io);
  ni_imap_cb cb = {ctl_on_untagged, NULL, ctl_on_end, NULL};
  p->ctl.c = ni_imap_new(&p->loop, &io, &cb, p);
  if (!p->ctl.c) {
    ni__ctl_fatal(p, -ENOMEM, AT_CONNECT, NULL);
    return;
  }
  p->ctl.state = CT_SETUP;
  uv_timer_start(&p->ctl.timer, ctl_timer_cb, CTL_SETUP_MS, 0);
  int rc = ni_imap_connect(p->ctl.c, ctl_connect_cb, p);
  if (rc != 0) ctl_failed(p, rc, AT_CONNECT, NULL, NULL);
}

/* ---- the marker ---------------------------------------------------------- */

static void append_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__sess *s = arg;
  ni__probe *p = s->p;
  if (s->state != SS_CHECK) return;
  if (status != 0) {
    if (!tagged) return; /* the control connection failed: ctl_lost() aborts the check */
    if (s->ck.cal) {
      ni__error(p,
                "APPEND to %s refused: %.*s (the server refuses to write; --read-only "
                "measures the outbound direction without writing anything)",
                s->mbox, (int)tagged->text.n, tagged->text.p);
      p->cal.busy--;
      s->ck.result = CK_DECIDED;
      p->end.fatal = NI_EREFUSED;
      ni__begin_shutdown(p);
      return;
    }
    ni__note(p, 0, "APPEND to %s refused: %.*s", s->mbox, (int)tagged->text.n, tagged->text.p);
    ni__record(s, OC_ERROR, -1);
    ni__sess_check_done_now(s);
    return;
  }
  s->ck.ok = ni_imap_now();
  p->ctl.last_reply = s->ck.ok;
  /* The server has the message: from now on the push is on its way. */
  ni__timer_set(s, TK_DETECT, s->ck.ok + ni__check_wait_ms(s));
}

/* The marker: a tiny message that names the run and the session, so that
 * cleanup can tell it from anything the user owns. */
void ni__send_marker(ni__sess *s) {
  ni__probe *p = s->p;
  char date[64], msg[1024];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  int n = snprintf(msg, sizeof msg,
                   "From: natidle <natidle@natidle.invalid>\r\n"
                   "To: natidle <natidle@natidle.invalid>\r\n"
                   "Subject: natidle probe %s session %u\r\n"
                   "Date: %s\r\n"
                   "Message-ID: <%s.%u.%u@natidle.invalid>\r\n"
                   "X-Natidle-Probe: %s\r\n"
                   "MIME-Version: 1.0\r\n"
                   "Content-Type: text/plain; charset=us-ascii\r\n"
                   "\r\n"
                   "Marker written by natidle probe to measure a NAT idle timeout.\r\n"
                   "It is deleted together with its mailbox at the end of the run.\r\n",
                   p->id.run_id, s->num, date, p->id.run_id, s->num, p->n.checks, p->id.run_id);
  s->ck.sent = ni_imap_now();
  int rc = ni_imap_append(p->ctl.c, s->mbox, "(\\Seen)", msg, (size_t)n, append_cb, s);
  if (rc != 0) {
    ni__record(s, OC_ABORTED, -1);
    ni__sess_check_done_now(s);
    return;
  }
  ni__timer_clear(s);
}
