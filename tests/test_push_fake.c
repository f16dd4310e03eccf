/* The push driver against the scripted fake server (tests/fakeserver.c):
 * the IDLE + FETCH path, keepalives answered and unanswered, the NOTIFY
 * path and a graceful stop; permanent errors (a refused login, an untrusted
 * certificate, a plaintext login, no IDLE) that end the session without a
 * retry; a start from a known last UID; OAuth2 tokens and their refresh;
 * the log callback; SIGPIPE.  Time-scaled: the NAT "times out" after
 * 1.5 s. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "fakeserver.h"
#include "natidle/push.h"

typedef struct ev {
  int messages;
  uint32_t uid;
  char from[128], to[128], subject[128];
  int64_t internaldate;
  int pushed, late;
  ni_push_ka_kind ka[8];
  int nka;
  int reconnect_waits;
  int last_err;
  int stopped;
  int stop_on_message;
  ni_ka_stats kst;        /* the scheduler's counters when the session stopped */
  ni_ms first_ka_silence; /* silence before the first keepalive sent */
  int failed;             /* NI_PUSH_FAILED reports */
  int fail_err;
  char fail_detail[256];
  int backlog, nlate;               /* messages reported with backlog / late set */
  uint32_t uids[8];                 /* UIDs reported, in order */
  ni_push_stats st;                 /* the session's counters at the end */
  uint32_t uv_old, uv_new, uv_last; /* on_uidvalidity's arguments */
  int uv_calls;
  int token_asks, token_refreshes;
  const char *tokens[2]; /* token given at the first and later asks */
  char log[16384];       /* every on_log line, newline-separated */
  size_t log_n;
  int log_levels;         /* bit mask of the levels seen */
  int logins, auths;      /* LOGIN and AUTHENTICATE commands the server got */
  unsigned char first[2]; /* the client's first two bytes */
} ev;

static void on_message(ni_push *p, const ni_push_msg *m, void *ud) {
  ev *e = ud;
  if (e->messages < 8) e->uids[e->messages] = m->uid;
  e->backlog += m->backlog;
  e->nlate += m->late;
  e->messages++;
  e->uid = m->uid;
  snprintf(e->from, sizeof e->from, "%s", m->from);
  snprintf(e->to, sizeof e->to, "%s", m->to);
  snprintf(e->subject, sizeof e->subject, "%s", m->subject);
  e->internaldate = m->internaldate;
  e->pushed = m->pushed;
  e->late = m->late;
  if (e->stop_on_message) assert_int_equal(ni_push_stop(p, 1), 0);
}

static void on_state(ni_push *p, ni_push_state s, int err, const char *detail, void *ud) {
  ev *e = ud;
  (void)detail;
  if (s == NI_PUSH_RECONNECT_WAIT) {
    e->reconnect_waits++;
    e->last_err = err;
    /* The fake server takes one connection: stop instead of retrying. */
    assert_int_equal(ni_push_stop(p, 0), 0);
  }
  if (s == NI_PUSH_STOPPED) {
    e->stopped++;
    ni_ka_get_stats(ni_push_scheduler(p), &e->kst);
  }
  if (s == NI_PUSH_FAILED) {
    const char *d = NULL;
    e->failed++;
    e->fail_err = err;
    assert_int_equal(ni_push_failure(p, &d), err);
    assert_string_equal(d, detail);
    snprintf(e->fail_detail, sizeof e->fail_detail, "%s", detail);
    ni_ka_get_stats(ni_push_scheduler(p), &e->kst);
  }
}

static void on_token(ni_push *p, int refresh, void *ud) {
  ev *e = ud;
  e->token_refreshes += refresh;
  const char *t = e->tokens[e->token_asks++ ? 1 : 0];
  assert_int_equal(ni_push_set_token(p, t, t ? strlen(t) : 0), 0);
  /* Answered: a second answer is refused. */
  assert_int_equal(ni_push_set_token(p, "x", 1), NI_ESTATE);
}

static void on_log(ni_push *p, ni_push_log_level level, const char *line, void *ud) {
  ev *e = ud;
  (void)p;
  e->log_levels |= 1 << level;
  int n = snprintf(e->log + e->log_n, sizeof e->log - e->log_n, "%s\n", line);
  if (n > 0 && (size_t)n < sizeof e->log - e->log_n) e->log_n += (size_t)n;
}

static void on_uidvalidity(ni_push *p, uint32_t old_uidvalidity, uint32_t new_uidvalidity,
                           uint32_t last_uid, void *ud) {
  ev *e = ud;
  (void)p;
  e->uv_calls++;
  e->uv_old = old_uidvalidity;
  e->uv_new = new_uidvalidity;
  e->uv_last = last_uid;
}

static void on_keepalive(ni_push *p, const ni_push_ka_event *kev, void *ud) {
  ev *e = ud;
  (void)p;
  if (kev->kind == NI_PUSH_KA_SENT && !e->first_ka_silence) e->first_ka_silence = kev->interval_ms;
  if (e->nka < 8) e->ka[e->nka++] = kev->kind;
}

/* How many times needle occurs in the client's bytes, as the server saw them. */
static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *h = strstr(hay, needle); h; h = strstr(h + 1, needle))
    n++;
  return n;
}

/* What a case changes in the options before the session is made, and the
 * tokens its on_token hands out. */
typedef struct tweak {
  void (*opts)(ni_push_opts *o);
  const char *tokens[2];
  int no_password_check; /* the password is not expected on the wire */
  int server_fails;      /* the script cannot finish (a TLS handshake the
                            client refuses) */
} tweak;

/* Run a session against the script until it stops or fails; stop_on_message:
 * the first new message stops the session gracefully.  kc_in: the
 * scheduler's configuration, NULL for a known NAT timeout of 1.5 s. */
static ev run_full(const fs_step *script, int stop_on_message, const ni_ka_config *kc_in,
                   const tweak *tw) {
  static ev ev_; /* static: too large for a comfortable stack frame */
  ev *e = &ev_;
  memset(e, 0, sizeof *e);
  e->stop_on_message = stop_on_message;
  if (tw) {
    e->tokens[0] = tw->tokens[0];
    e->tokens[1] = tw->tokens[1];
  }
  fs *s = fs_start(script);
  assert_non_null(s);
  uv_loop_t loop;
  uv_loop_init(&loop);

  ni_ka_config kc;
  ni_ka_config_default(&kc);
  kc.nat_lower_ms = kc.nat_upper_ms = 1500;
  kc.adaptive = 0;
  kc.margin_ms = 500; /* keepalive after 1 s of silence */
  kc.min_interval_ms = 500;
  kc.reply_min_ms = 300;
  kc.reply_max_ms = 800;
  if (kc_in) kc = *kc_in;

  ni_push_opts o;
  memset(&o, 0, sizeof o);
  o.host = "127.0.0.1";
  o.port = fs_port(s);
  o.security = NI_PUSH_PLAINTEXT;
  o.allow_plaintext = 1;
  o.user = "alice";
  o.password = "not-a-real-secret";
  o.ka = &kc;
  o.setup_timeout_ms = 4000;
  o.seed = 5;
  o.trace = 1;
  if (tw && tw->opts) tw->opts(&o);
  ni_push_cb cb = {.on_message = on_message,
                   .on_state = on_state,
                   .on_keepalive = on_keepalive,
                   .on_token = on_token,
                   .on_log = on_log,
                   .on_uidvalidity = on_uidvalidity};
  ni_push *p = NULL;
  assert_int_equal(ni_push_new(&loop, &o, &cb, e, &p), 0);
  assert_int_equal(ni_push_start(p), 0);
  assert_int_equal(ni_push_start(p), NI_ESTATE);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (e->failed) {
    /* A failed session has stopped by itself, for good. */
    assert_int_equal(ni_push_get_state(p), NI_PUSH_FAILED);
    assert_int_equal(e->stopped, 0);
    assert_int_equal(ni_push_stop(p, 1), NI_ESTATE);
  } else {
    assert_int_equal(ni_push_get_state(p), NI_PUSH_STOPPED);
    assert_int_equal(ni_push_failure(p, NULL), 0);
  }
  ni_push_get_stats(p, &e->st);
  ni_push_free(p);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  if (fs_wait(s) != 0 && !(tw && tw->server_fails)) fail_msg("fake server: %s", fs_error(s));
  size_t n;
  /* Only the first n bytes: the buffer may hold nothing else when the
   * client sent nothing. */
  const char *rx = fs_received(s, &n);
  char *sent = malloc(n + 1);
  assert_non_null(sent);
  memcpy(sent, rx, n);
  sent[n] = 0;
  /* The password went out once at most, in the LOGIN command only. */
  const char *pw = strstr(sent, "not-a-real-secret");
  if (!tw || !tw->no_password_check) assert_non_null(pw);
  if (pw) assert_null(strstr(pw + 1, "not-a-real-secret"));
  e->logins = count(sent, " LOGIN ");
  e->auths = count(sent, " AUTHENTICATE ");
  if (n >= 2) memcpy(e->first, sent, 2);
  /* No secret in the log, the protocol trace included. */
  assert_null(strstr(e->log, "not-a-real-secret"));
  assert_null(strstr(e->log, "tok.en"));
  free(sent);
  fs_free(s);
  return ev_;
}

static ev run_with(const fs_step *script, int stop_on_message, const ni_ka_config *kc_in) {
  return run_full(script, stop_on_message, kc_in, NULL);
}

static ev run(const fs_step *script, int stop_on_message) {
  return run_with(script, stop_on_message, NULL);
}

#define HDR "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: hi there\r\n\r\n"
#define HDR_LEN "75"

/* Script pieces every case shares: greeting, LOGIN (its OK carries the
 * capabilities), SELECT INBOX answered with UIDVALIDITY and UIDNEXT. */
#define LOGIN_SELECT(caps, uidvalidity, uidnext)                                                   \
  FS_SEND("* OK [CAPABILITY " caps "] hi"), FS_EXPECT("LOGIN"),                                    \
      FS_SEND("$T OK [CAPABILITY " caps "] logged in"), FS_EXPECT("SELECT INBOX"),                 \
      FS_SEND("* OK [UIDVALIDITY " uidvalidity "] ok"), FS_SEND("* OK [UIDNEXT " uidnext "] ok"),  \
      FS_SEND("$T OK [READ-WRITE] selected")
/* The server's answer to a UID FETCH or a NOTIFY of one new message. */
#define NEW_MESSAGE(seq, uid, date)                                                                \
  FS_SEND_RAW("* " seq " FETCH (UID " uid " INTERNALDATE \"" date "\" "                            \
              "BODY[HEADER.FIELDS (FROM TO SUBJECT)] {" HDR_LEN "}\r\n" HDR ")\r\n")
/* A graceful stop seen from the server after the IDLE ended. */
#define LOGOUT_END()                                                                               \
  FS_EXPECT("LOGOUT"), FS_SEND("* BYE logging out"), FS_SEND("$T OK LOGOUT completed"),            \
      FS_WAIT_EOF(), FS_DONE()

static void test_idle_fetch_and_keepalives(void **state) {
  (void)state;
  static const fs_step script[] = {
      LOGIN_SELECT("IMAP4rev1 IDLE", "77", "5"), FS_EXPECT("IDLE"), FS_SEND("+ idling"),
      FS_STALL(100),
      /* New mail: the client leaves IDLE at once and fetches it. */
      FS_SEND("* 5 EXISTS"), FS_EXPECT_LINE("DONE"), FS_SEND("$T OK IDLE terminated"),
      FS_EXPECT("UID FETCH 5:* (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT)])"),
      NEW_MESSAGE("5", "5", "27-Nov-2026 21:55:03 +0000"), FS_SEND("$T OK fetched"),
      FS_EXPECT("IDLE"), FS_SEND("+ idling"),
      /* After 1 s of silence: a keepalive (DONE), answered. */
      FS_EXPECT_LINE("DONE"), FS_SEND("$T OK IDLE terminated"), FS_EXPECT("IDLE"),
      FS_SEND("+ idling"),
      /* The next one is not answered: the client must give up on its own. */
      FS_EXPECT_LINE("DONE"), FS_WAIT_EOF(), FS_DONE()};
  ev e = run(script, 0);
  assert_int_equal(e.messages, 1);
  assert_int_equal(e.uid, 5);
  assert_string_equal(e.from, "Alice <alice@example.org>");
  assert_string_equal(e.to, "bob@example.org");
  assert_string_equal(e.subject, "hi there");
  assert_int_equal(e.internaldate, 1795816503);
  assert_int_equal(e.pushed, 0);
  assert_int_equal(e.late, 0);
  assert_int_equal(e.nka, 4);
  assert_int_equal(e.ka[0], NI_PUSH_KA_SENT);
  assert_int_equal(e.ka[1], NI_PUSH_KA_ANSWERED);
  assert_int_equal(e.ka[2], NI_PUSH_KA_SENT);
  assert_int_equal(e.ka[3], NI_PUSH_KA_UNANSWERED);
  assert_int_equal(e.reconnect_waits, 1);
  assert_int_equal(e.last_err, NI_ETIMEDOUT);
  assert_int_equal(e.stopped, 1);
}

static void test_notify_and_graceful_stop(void **state) {
  (void)state;
  static const fs_step script[] = {
      LOGIN_SELECT("IMAP4rev1 IDLE NOTIFY", "9", "12"),
      FS_EXPECT("NOTIFY SET (selected (MessageNew (UID INTERNALDATE "
                "BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT)]) MessageExpunge))"),
      FS_SEND("$T OK NOTIFY completed"), FS_EXPECT("IDLE"), FS_SEND("+ idling"), FS_STALL(100),
      /* An old message's flag change is no new mail; the pushed one is. */
      FS_SEND("* 3 FETCH (UID 7 FLAGS (\\Seen))"), FS_SEND("* 11 EXISTS"),
      NEW_MESSAGE("11", "12", "27-Nov-2026 21:55:03 +0000"),
      /* The callback stops the session: DONE, then LOGOUT. */
      FS_EXPECT_LINE("DONE"), FS_SEND("$T OK IDLE terminated"), LOGOUT_END()};
  ev e = run(script, 1);
  assert_int_equal(e.messages, 1);
  assert_int_equal(e.uid, 12);
  assert_int_equal(e.pushed, 1);
  assert_string_equal(e.subject, "hi there");
  assert_int_equal(e.nka, 0);
  assert_int_equal(e.reconnect_waits, 0);
  assert_int_equal(e.stopped, 1);
}

/* New mail that the server stored before a keepalive left, but that came
 * only in the keepalive's answer, is passed to the scheduler with its age.
 * This one was stored years before the silence began, on a server whose
 * push delay is not known yet: no evidence that a NAT lost its push (the
 * server may poll, or the message was moved in with an old date), so the
 * silence is not counted as a failure. */
static void test_push_in_keepalive_answer(void **state) {
  (void)state;
  static const fs_step script[] = {
      LOGIN_SELECT("IMAP4rev1 IDLE", "77", "5"), FS_EXPECT("IDLE"), FS_SEND("+ idling"),
      FS_EXPECT_LINE("DONE"), FS_SEND("* 5 EXISTS"), FS_SEND("$T OK IDLE terminated"),
      FS_EXPECT("UID FETCH 5:*"), NEW_MESSAGE("5", "5", "01-Jan-2020 00:00:00 +0000"),
      /* The callback stopped the session during the fetch: no new IDLE. */
      FS_SEND("$T OK fetched"), LOGOUT_END()};
  ev e = run(script, 1);
  assert_int_equal(e.messages, 1);
  assert_int_equal(e.pushed, 0);
  assert_int_equal(e.nka, 2);
  assert_int_equal(e.ka[1], NI_PUSH_KA_ANSWERED);
  assert_int_equal(e.kst.failures, 0);
  assert_int_equal(e.stopped, 1);
}

/* Learning from nothing, the first keepalive waits start_ms of silence,
 * even though the setup's own round trips (NOTIFY, "+ idling") were
 * silences that survived: growing from those few milliseconds sent the
 * first probe at min_interval_ms (10 s instead of 60 s by default).
 * Time-scaled: start 2 s, floor 0.5 s. */
static void test_first_probe_at_start(void **state) {
  (void)state;
  static const fs_step script[] = {
      LOGIN_SELECT("IMAP4rev1 IDLE NOTIFY", "9", "12"),
      FS_EXPECT("NOTIFY SET"),
      FS_STALL(30), /* a round trip longer than loopback's, as over a network */
      FS_SEND("$T OK NOTIFY completed"),
      FS_EXPECT("IDLE"),
      FS_STALL(30),
      FS_SEND("+ idling"),
      FS_EXPECT_LINE("DONE"),
      FS_SEND("$T OK IDLE terminated"),
      FS_EXPECT("IDLE"),
      FS_SEND("+ idling"),
      FS_CLOSE()};
  ni_ka_config kc;
  ni_ka_config_default(&kc); /* adaptive, nothing known */
  kc.start_ms = 2000;
  kc.min_interval_ms = 500;
  kc.reply_min_ms = 300;
  kc.reply_max_ms = 800;
  ev e = run_with(script, 0, &kc);
  assert_true(e.nka >= 2);
  assert_int_equal(e.ka[0], NI_PUSH_KA_SENT);
  assert_int_equal(e.ka[1], NI_PUSH_KA_ANSWERED);
  assert_true(e.first_ka_silence >= 1900);
  assert_true(e.first_ka_silence < 3000);
  assert_int_equal(e.kst.probes, 1);
}

/* ---- permanent errors: no retry ---- */

/* A wrong password is sent once: the NO ends the session in FAILED, with
 * the server's text, and no second LOGIN follows (servers lock accounts
 * after a few).  The fake server takes one connection; a retry would show
 * as a reconnect-wait and a failed script. */
static void test_wrong_password_fails_once(void **state) {
  (void)state;
  static const fs_step script[] = {
      FS_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] hi"), FS_EXPECT("LOGIN"),
      FS_SEND("$T NO [AUTHENTICATIONFAILED] Authentication failed."), FS_WAIT_EOF(), FS_DONE()};
  ev e = run(script, 0);
  assert_int_equal(e.failed, 1);
  assert_int_equal(e.fail_err, NI_EAUTH);
  assert_non_null(strstr(e.fail_detail, "Authentication failed."));
  assert_int_equal(e.reconnect_waits, 0);
  assert_int_equal(e.logins, 1);
  assert_int_equal(e.st.reconnects, 0);
  assert_true(e.log_levels & (1 << NI_PUSH_LOG_ERROR));
  assert_non_null(strstr(e.log, "C: A0001 LOGIN ***"));
}

/* A NO that says "not now" (RFC 5530 UNAVAILABLE: the server's password
 * backend is down) is no verdict on the password: retried with backoff. */
static void test_unavailable_login_retried(void **state) {
  (void)state;
  static const fs_step script[] = {
      FS_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] hi"), FS_EXPECT("LOGIN"),
      FS_SEND("$T NO [UNAVAILABLE] Temporary authentication failure."), FS_WAIT_EOF(), FS_DONE()};
  ev e = run(script, 0);
  assert_int_equal(e.failed, 0);
  assert_int_equal(e.reconnect_waits, 1);
  assert_int_equal(e.last_err, NI_EAUTH);
}

static void plaintext_no_allow(ni_push_opts *o) {
  o->allow_plaintext = 0;
}

/* Credentials without TLS and without allow_plaintext: refused before a
 * byte of them is sent, for good. */
static void test_plaintext_login_refused(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] hi"), FS_WAIT_EOF(),
                                   FS_DONE()};
  tweak tw = {.opts = plaintext_no_allow, .no_password_check = 1};
  ev e = run_full(script, 0, NULL, &tw);
  assert_int_equal(e.failed, 1);
  assert_int_equal(e.fail_err, NI_EPLAINTEXT);
  assert_int_equal(e.logins, 0);
  assert_int_equal(e.reconnect_waits, 0);
}

/* A server without IDLE cannot push: a permanent error, not a loop of
 * logins every few seconds. */
static void test_no_idle_fails(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1] hi"), FS_EXPECT("LOGIN"),
                                   FS_SEND("$T OK [CAPABILITY IMAP4rev1] logged in"), FS_WAIT_EOF(),
                                   FS_DONE()};
  ev e = run(script, 0);
  assert_int_equal(e.failed, 1);
  assert_int_equal(e.fail_err, NI_ENOCAP);
  assert_string_equal(e.fail_detail, "server lacks IDLE");
}

static char g_certs[64]; /* certificates made by fs_make_certs() */
static char g_ca_file[128];

static void imaps_other_ca(ni_push_opts *o) {
  o->security = NI_PUSH_IMAPS;
  snprintf(g_ca_file, sizeof g_ca_file, "%s/other-ca.pem", g_certs);
  o->ca_file = g_ca_file;
}

/* A certificate no trusted CA signed: permanent, no login attempted. */
static void test_untrusted_certificate_fails(void **state) {
  (void)state;
  char prefix[128];
  snprintf(prefix, sizeof prefix, "%s/server", g_certs);
  const fs_step script[] = {FS_TLS(prefix), FS_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] hi"),
                            FS_WAIT_EOF(), FS_DONE()};
  tweak tw = {.opts = imaps_other_ca, .no_password_check = 1, .server_fails = 1};
  ev e = run_full(script, 0, NULL, &tw);
  assert_int_equal(e.failed, 1);
  assert_int_equal(e.fail_err, NI_ECERT);
  assert_non_null(strstr(e.fail_detail, "certificate verify failed"));
}

static void zero_security(ni_push_opts *o) {
  o->security = 0;
  o->allow_plaintext = 0;
}

/* The zero value of the options is IMAPS: the first bytes the server gets
 * are a TLS ClientHello (a handshake record, 0x16 0x03), not IMAP. */
static void test_zero_options_mean_tls(void **state) {
  (void)state;
  static const fs_step script[] = {FS_WAIT_EOF(), FS_DONE()};
  tweak tw = {.opts = zero_security, .no_password_check = 1};
  ni_ka_config kc;
  ni_ka_config_default(&kc);
  /* The client gives up on the silent server after setup_timeout_ms. */
  ev e = run_full(script, 0, &kc, &tw);
  assert_int_equal(e.first[0], 0x16);
  assert_int_equal(e.first[1], 0x03);
  assert_int_equal(e.logins, 0);
}

/* ---- starting from a known last UID ---- */

static void known_uid(ni_push_opts *o) {
  o->uidvalidity = 77;
  o->last_uid = 3;
}

/* The application knew UIDs up to 3 of UIDVALIDITY 77; UIDs 4 and 5 arrived
 * while it was away: each is reported once, marked backlog, before IDLE. */
static void test_start_from_known_uid(void **state) {
  (void)state;
  static const fs_step script[] = {
      LOGIN_SELECT("IMAP4rev1 IDLE", "77", "6"),
      FS_EXPECT("UID FETCH 4:* (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT)])"),
      NEW_MESSAGE("1", "4", "01-Jan-2020 00:00:00 +0000"),
      NEW_MESSAGE("2", "5", "01-Jan-2020 00:00:00 +0000"),
      FS_SEND("$T OK fetched"),
      FS_EXPECT("IDLE"),
      FS_SEND("+ idling"),
      FS_CLOSE()};
  tweak tw = {.opts = known_uid};
  ev e = run_full(script, 0, NULL, &tw);
  assert_int_equal(e.messages, 2);
  assert_int_equal(e.uids[0], 4);
  assert_int_equal(e.uids[1], 5);
  assert_int_equal(e.backlog, 2);
  assert_int_equal(e.nlate, 0);
  assert_int_equal(e.st.messages_late, 0);
  assert_int_equal(e.st.worst_delay_ms, 0); /* years old, but no push was late */
  assert_int_equal(e.st.last_uid, 5);
  assert_int_equal(e.st.uidvalidity, 77);
  assert_int_equal(e.uv_calls, 0);
}

static void stale_uidvalidity(ni_push_opts *o) {
  o->uidvalidity = 76;
  o->last_uid = 3;
}

/* The UIDVALIDITY known is not the mailbox's any more: UIDs 1..5 of the new
 * one are not "above 3" of the old one, so nothing is fetched; the
 * application is told, and the session carries on from UID 5. */
static void test_start_uidvalidity_changed(void **state) {
  (void)state;
  static const fs_step script[] = {LOGIN_SELECT("IMAP4rev1 IDLE", "77", "6"), FS_EXPECT("IDLE"),
                                   FS_SEND("+ idling"), FS_CLOSE()};
  tweak tw = {.opts = stale_uidvalidity};
  ev e = run_full(script, 0, NULL, &tw);
  assert_int_equal(e.messages, 0);
  assert_int_equal(e.uv_calls, 1);
  assert_int_equal(e.uv_old, 76);
  assert_int_equal(e.uv_new, 77);
  assert_int_equal(e.uv_last, 5);
  assert_int_equal(e.st.last_uid, 5);
  assert_int_equal(e.st.uidvalidity, 77);
}

/* ---- OAuth2 ---- */

static void oauth2(ni_push_opts *o) {
  o->auth = NI_PUSH_AUTH_OAUTH2;
  o->password = NULL;
  o->allow_plaintext = 1;
}

#define XOAUTH2_EXPIRED "dXNlcj1hbGljZQFhdXRoPUJlYXJlciB0b2suZW4tZXhwaXJlZAEB"
#define XOAUTH2_FRESH "dXNlcj1hbGljZQFhdXRoPUJlYXJlciB0b2suZW4tZnJlc2gBAQ=="
/* base64 of {"status":"401","schemes":"bearer","scope":"mail"} */
#define XOAUTH2_401 "+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJtYWlsIn0="

/* An expired token: refused with status 401, the session asks once for a
 * fresh one and logs in with it on the same connection. */
static void test_oauth2_refresh(void **state) {
  (void)state;
  static const fs_step script[] = {
      FS_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 IDLE] hi"),
      FS_EXPECT("AUTHENTICATE XOAUTH2 " XOAUTH2_EXPIRED),
      FS_SEND(XOAUTH2_401),
      FS_EXPECT_LINE(""),
      FS_SEND("$T NO [AUTHENTICATIONFAILED] Invalid credentials"),
      FS_EXPECT("AUTHENTICATE XOAUTH2 " XOAUTH2_FRESH),
      FS_SEND("$T OK [CAPABILITY IMAP4rev1 IDLE] logged in"),
      FS_EXPECT("SELECT INBOX"),
      FS_SEND("* OK [UIDVALIDITY 9] ok"),
      FS_SEND("* OK [UIDNEXT 4] ok"),
      FS_SEND("$T OK [READ-WRITE] selected"),
      FS_EXPECT("IDLE"),
      FS_SEND("+ idling"),
      FS_CLOSE()};
  tweak tw = {.opts = oauth2, .tokens = {"tok.en-expired", "tok.en-fresh"}, .no_password_check = 1};
  ev e = run_full(script, 0, NULL, &tw);
  assert_int_equal(e.failed, 0);
  assert_int_equal(e.token_asks, 2);
  assert_int_equal(e.token_refreshes, 1);
  assert_int_equal(e.auths, 2);
  assert_int_equal(e.reconnect_waits, 1); /* the server's close at the end */
  assert_int_equal(e.st.connects, 1);
  assert_non_null(strstr(e.log, "AUTHENTICATE XOAUTH2 ***"));
  assert_null(strstr(e.log, XOAUTH2_FRESH));
}

/* The fresh token is refused too: permanent, no third try. */
static void test_oauth2_refused_twice(void **state) {
  (void)state;
  static const fs_step script[] = {
      FS_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 IDLE] hi"),
      FS_EXPECT("AUTHENTICATE XOAUTH2 " XOAUTH2_EXPIRED),
      FS_SEND(XOAUTH2_401),
      FS_EXPECT_LINE(""),
      FS_SEND("$T NO [AUTHENTICATIONFAILED] Invalid credentials"),
      FS_EXPECT("AUTHENTICATE XOAUTH2 " XOAUTH2_EXPIRED),
      FS_SEND(XOAUTH2_401),
      FS_EXPECT_LINE(""),
      FS_SEND("$T NO [AUTHENTICATIONFAILED] Invalid credentials"),
      FS_WAIT_EOF(),
      FS_DONE()};
  tweak tw = {
      .opts = oauth2, .tokens = {"tok.en-expired", "tok.en-expired"}, .no_password_check = 1};
  ev e = run_full(script, 0, NULL, &tw);
  assert_int_equal(e.failed, 1);
  assert_int_equal(e.fail_err, NI_EAUTH);
  assert_non_null(strstr(e.fail_detail, "fresh access token refused too (401)"));
  assert_int_equal(e.token_asks, 2);
  assert_int_equal(e.auths, 2);
  assert_int_equal(e.reconnect_waits, 0);
}

/* An application that has no token: the session fails at once. */
static void test_oauth2_no_token(void **state) {
  (void)state;
  static const fs_step script[] = {
      FS_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 IDLE] hi"), FS_WAIT_EOF(),
      FS_DONE()};
  tweak tw = {.opts = oauth2, .no_password_check = 1};
  ev e = run_full(script, 0, NULL, &tw);
  assert_int_equal(e.failed, 1);
  assert_int_equal(e.fail_err, NI_EAUTH);
  assert_int_equal(e.auths, 0);
}

/* ---- SIGPIPE ---- */

/* The session's socket: the descriptor connected to port on 127.0.0.1. */
static int socket_to(uint16_t port) {
  for (int fd = 3; fd < 1024; fd++) {
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    if (getpeername(fd, (struct sockaddr *)&sa, &len) == 0 && sa.sin_family == AF_INET &&
        ntohs(sa.sin_port) == port)
      return fd;
  }
  return -1;
}

typedef struct pipe_case {
  uint16_t port;
  int step;   /* 0 fine; else the check that failed (the child's exit code) */
  int raised; /* SIGPIPE was pending (blocked) right after the write */
  int stopped;
  int fd; /* the session's socket, found while it was connected */
} pipe_case;

static int sigpipe_pending(void) {
  sigset_t set;
  sigpending(&set);
  return sigismember(&set, SIGPIPE);
}

static int sigpipe_blocked(void) {
  sigset_t cur;
  pthread_sigmask(SIG_BLOCK, NULL, &cur);
  return sigismember(&cur, SIGPIPE);
}

static void pipe_on_state(ni_push *p, ni_push_state s, int err, const char *detail, void *ud) {
  pipe_case *pc = ud;
  (void)err;
  (void)detail;
  if (s == NI_PUSH_STOPPED || s == NI_PUSH_RECONNECT_WAIT) {
    pc->stopped = 1;
    if (s == NI_PUSH_RECONNECT_WAIT) ni_push_stop(p, 0);
    return;
  }
  if (s == NI_PUSH_AUTHENTICATING)
    pc->fd = socket_to(pc->port); /* a reset socket has no peer address */
  if (s != NI_PUSH_IDLE || pc->raised) return;
  if (!sigpipe_blocked()) {
    pc->step = 11; /* the running session must hold SIGPIPE blocked */
    return;
  }
  /* The server resets the connection 200 ms after "+ idling".  Wait for the
   * RST, and take its error off the socket as a read would, so that the
   * next write on it finds the connection dead and raises SIGPIPE. */
  usleep(600 * 1000);
  int soerr = 0;
  socklen_t len = sizeof soerr;
  if (pc->fd < 0 || getsockopt(pc->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 ||
      soerr != ECONNRESET) {
    pc->step = 12;
    return;
  }
  /* A graceful stop writes DONE at once: that write raises SIGPIPE. */
  ni_push_stop(p, 1);
  pc->raised = sigpipe_pending();
  if (!pc->raised) pc->step = 13;
}

/* The child: SIGPIPE at its default action (death), a session whose peer
 * resets the connection, a write on it.  Exits 0 when it survived and left
 * no SIGPIPE pending and the signal mask as it found it. */
static int sigpipe_child(uint16_t port) {
  signal(SIGPIPE, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  pipe_case pc = {port, 0, 0, 0, -1};
  uv_loop_t loop;
  uv_loop_init(&loop);
  ni_push_opts o;
  memset(&o, 0, sizeof o);
  o.host = "127.0.0.1";
  o.port = port;
  o.security = NI_PUSH_PLAINTEXT;
  o.allow_plaintext = 1;
  o.user = "alice";
  o.password = "not-a-real-secret";
  o.setup_timeout_ms = 4000;
  ni_push_cb cb = {.on_state = pipe_on_state};
  ni_push *p = NULL;
  if (ni_push_new(&loop, &o, &cb, &pc, &p) != 0 || ni_push_start(p) != 0) return 10;
  uv_run(&loop, UV_RUN_DEFAULT);
  if (pc.step) return pc.step;
  if (!pc.stopped) return 14;
  ni_push_free(p);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  if (sigpipe_pending()) return 15; /* the library must consume the SIGPIPE it kept from us */
  if (sigpipe_blocked()) return 16; /* and give the thread its mask back */
  return 0;
}

static void test_sigpipe_after_reset(void **state) {
  (void)state;
  static const fs_step script[] = {LOGIN_SELECT("IMAP4rev1 IDLE", "77", "5"), FS_EXPECT("IDLE"),
                                   FS_SEND("+ idling"), FS_STALL(200), FS_RESET()};
  fs *s = fs_start(script);
  assert_non_null(s);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) _exit(sigpipe_child(fs_port(s)));
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (WIFSIGNALED(status)) fail_msg("the client was killed by signal %d", WTERMSIG(status));
  assert_true(WIFEXITED(status));
  if (WEXITSTATUS(status) != 0) fail_msg("the client failed check %d", WEXITSTATUS(status));
  fs_wait(s);
  fs_free(s);
}

static int make_certs(void **state) {
  (void)state;
  snprintf(g_certs, sizeof g_certs, "/tmp/natidle-push-fake.XXXXXX");
  return mkdtemp(g_certs) && fs_make_certs(g_certs) == 0 ? 0 : -1;
}

static int remove_certs(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_certs);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_idle_fetch_and_keepalives),
      cmocka_unit_test(test_notify_and_graceful_stop),
      cmocka_unit_test(test_push_in_keepalive_answer),
      cmocka_unit_test(test_first_probe_at_start),
      cmocka_unit_test(test_wrong_password_fails_once),
      cmocka_unit_test(test_unavailable_login_retried),
      cmocka_unit_test(test_plaintext_login_refused),
      cmocka_unit_test(test_no_idle_fails),
      cmocka_unit_test(test_untrusted_certificate_fails),
      cmocka_unit_test(test_zero_options_mean_tls),
      cmocka_unit_test(test_start_from_known_uid),
      cmocka_unit_test(test_start_uidvalidity_changed),
      cmocka_unit_test(test_oauth2_refresh),
      cmocka_unit_test(test_oauth2_refused_twice),
      cmocka_unit_test(test_oauth2_no_token),
      cmocka_unit_test(test_sigpipe_after_reset),
  };
  return cmocka_run_group_tests(tests, make_certs, remove_certs);
}
