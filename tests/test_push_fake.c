/* The push driver against the scripted fake server (tests/fakeserver.c):
 * the IDLE + FETCH path, keepalives answered and unanswered, the NOTIFY
 * path and a graceful stop.  Time-scaled: the NAT "times out" after 1.5 s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
  ni_ka_stats kst; /* the scheduler's counters when the session stopped */
  ni_ms first_ka_silence; /* silence before the first keepalive sent */
} ev;

static void on_message(ni_push *p, const ni_push_msg *m, void *ud) {
  ev *e = ud;
  e->messages++;
  e->uid = m->uid;
  snprintf(e->from, sizeof e->from, "%s", m->from);
  snprintf(e->to, sizeof e->to, "%s", m->to);
  snprintf(e->subject, sizeof e->subject, "%s", m->subject);
  e->internaldate = m->internaldate;
  e->pushed = m->pushed;
  e->late = m->late;
  if (e->stop_on_message)
    assert_int_equal(ni_push_stop(p, 1), 0);
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
}

static void on_keepalive(ni_push *p, const ni_push_ka_event *kev, void *ud) {
  ev *e = ud;
  (void)p;
  if (kev->kind == NI_PUSH_KA_SENT && !e->first_ka_silence)
    e->first_ka_silence = kev->interval_ms;
  if (e->nka < 8)
    e->ka[e->nka++] = kev->kind;
}

/* Run a session against the script until it stops; stop_on_message: the
 * first new message stops the session gracefully.  kc_in: the scheduler's
 * configuration, NULL for a known NAT timeout of 1.5 s. */
static ev run_with(const fs_step *script, int stop_on_message, const ni_ka_config *kc_in) {
  ev ev_, *e = &ev_;
  memset(e, 0, sizeof *e);
  e->stop_on_message = stop_on_message;
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
  if (kc_in)
    kc = *kc_in;

  ni_push_opts o;
  memset(&o, 0, sizeof o);
  o.host = "127.0.0.1";
  o.port = fs_port(s);
  o.tls = NI_TLS_NONE;
  o.allow_plaintext = 1;
  o.user = "alice";
  o.password = "not-a-real-secret";
  o.ka = &kc;
  o.setup_timeout_ms = 4000;
  o.seed = 5;
  ni_push_cb cb = {on_message, on_state, on_keepalive};
  ni_push *p = NULL;
  assert_int_equal(ni_push_new(&loop, &o, &cb, e, &p), 0);
  assert_int_equal(ni_push_start(p), 0);
  assert_int_equal(ni_push_start(p), NI_ESTATE);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(ni_push_get_state(p), NI_PUSH_STOPPED);
  ni_push_free(p);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  if (fs_wait(s) != 0)
    fail_msg("fake server: %s", fs_error(s));
  size_t n;
  const char *sent = fs_received(s, &n);
  /* The password went out once, in the LOGIN command only. */
  const char *pw = strstr(sent, "not-a-real-secret");
  assert_non_null(pw);
  assert_null(strstr(pw + 1, "not-a-real-secret"));
  fs_free(s);
  return ev_;
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
  FS_SEND_RAW("* " seq " FETCH (UID " uid " INTERNALDATE \"" date "\" "                             \
              "BODY[HEADER.FIELDS (FROM TO SUBJECT)] {" HDR_LEN "}\r\n" HDR ")\r\n")
/* A graceful stop seen from the server after the IDLE ended. */
#define LOGOUT_END()                                                                               \
  FS_EXPECT("LOGOUT"), FS_SEND("* BYE logging out"), FS_SEND("$T OK LOGOUT completed"),            \
      FS_WAIT_EOF(), FS_DONE()

static void test_idle_fetch_and_keepalives(void **state) {
  (void)state;
  static const fs_step script[] = {
      LOGIN_SELECT("IMAP4rev1 IDLE", "77", "5"),
      FS_EXPECT("IDLE"),
      FS_SEND("+ idling"),
      FS_STALL(100),
      /* New mail: the client leaves IDLE at once and fetches it. */
      FS_SEND("* 5 EXISTS"),
      FS_EXPECT_LINE("DONE"),
      FS_SEND("$T OK IDLE terminated"),
      FS_EXPECT("UID FETCH 5:* (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT)])"),
      NEW_MESSAGE("5", "5", "27-Nov-2026 21:55:03 +0000"),
      FS_SEND("$T OK fetched"),
      FS_EXPECT("IDLE"),
      FS_SEND("+ idling"),
      /* After 1 s of silence: a keepalive (DONE), answered. */
      FS_EXPECT_LINE("DONE"),
      FS_SEND("$T OK IDLE terminated"),
      FS_EXPECT("IDLE"),
      FS_SEND("+ idling"),
      /* The next one is not answered: the client must give up on its own. */
      FS_EXPECT_LINE("DONE"),
      FS_WAIT_EOF(),
      FS_DONE()};
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
      FS_SEND("$T OK NOTIFY completed"),
      FS_EXPECT("IDLE"),
      FS_SEND("+ idling"),
      FS_STALL(100),
      /* An old message's flag change is no new mail; the pushed one is. */
      FS_SEND("* 3 FETCH (UID 7 FLAGS (\\Seen))"),
      FS_SEND("* 11 EXISTS"),
      NEW_MESSAGE("11", "12", "27-Nov-2026 21:55:03 +0000"),
      /* The callback stops the session: DONE, then LOGOUT. */
      FS_EXPECT_LINE("DONE"),
      FS_SEND("$T OK IDLE terminated"),
      LOGOUT_END()};
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
      LOGIN_SELECT("IMAP4rev1 IDLE", "77", "5"),
      FS_EXPECT("IDLE"),
      FS_SEND("+ idling"),
      FS_EXPECT_LINE("DONE"),
      FS_SEND("* 5 EXISTS"),
      FS_SEND("$T OK IDLE terminated"),
      FS_EXPECT("UID FETCH 5:*"),
      NEW_MESSAGE("5", "5", "01-Jan-2020 00:00:00 +0000"),
      /* The callback stopped the session during the fetch: no new IDLE. */
      FS_SEND("$T OK fetched"),
      LOGOUT_END()};
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_idle_fetch_and_keepalives),
      cmocka_unit_test(test_notify_and_graceful_stop),
      cmocka_unit_test(test_push_in_keepalive_answer),
      cmocka_unit_test(test_first_probe_at_start),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
