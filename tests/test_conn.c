/*
 * tests/test_conn.c - the IMAP connection and client against a scripted fake
 * server on 127.0.0.1: faults (garbage, BYE, stall, reset, close, a huge
 * literal), STARTTLS injection and downgrade, login rules, OAuth2 logins,
 * NAMESPACE and its LIST fallback, literals, IDLE, certificate checks, and
 * freeing from inside callbacks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakeserver.h"
#include "imap/sasl.h"
#include "natidle/conn.h"

/* Certificates made once for the whole run. */
static char g_dir[256];

/* What the callbacks saw. */
typedef struct ev {
  int connect_called, connect_status;
  int end_called, end_err;
  ni_end end_how;
  int cmd_called, cmd_status;
  int idling, exists, untagged;
  int saw_injected;
  char errstr[320];
  uint64_t io_in, io_out;
  int io_checked;
  char trace[16384];
  size_t trace_n;
  int namespaces, uidnext_seen;
  /* After an OAuth2 login: ni_imap_oauth_refusal() and its status. */
  ni_oauth_refusal refusal;
  char oauth_status[64];
  /* After ni_imap_namespace(): ni_imap_personal_namespace(). */
  int ns_rc;
  char ns_prefix[64], ns_delim;
  /* What to do once connected. */
  void (*then)(ni_imap *c, struct ev *e);
  const char *user, *pass;
  ni_oauth_mech mech;
} ev;

/* memmem is a GNU extension; this is all the tests need. */
static const char *find(const char *h, size_t hn, const char *needle, size_t nn) {
  for (size_t i = 0; i + nn <= hn; i++)
    if (memcmp(h + i, needle, nn) == 0) return h + i;
  return NULL;
}

static void on_untagged(ni_imap *c, const ni_resp *r, void *ud) {
  ev *e = ud;
  (void)c;
  e->untagged++;
  if (r->type == NI_R_EXISTS) e->exists = (int)r->number;
  if (r->type == NI_R_NAMESPACE) e->namespaces++;
  if (r->code.n && strcmp(r->code.p, "UIDNEXT") == 0) e->uidnext_seen++;
  if (find(r->raw.p, r->raw.n, "INJECTED", 8) || find(r->raw.p, r->raw.n, "injected", 8))
    e->saw_injected = 1;
  if (r->type == NI_R_EXISTS && ni_imap_is_idling(c)) assert_int_equal(ni_imap_idle_done(c), 0);
}

static void on_io(ni_imap *c, int dir, size_t n, ni_ms now, void *ud) {
  ev *e = ud;
  (void)c;
  assert_true(now <= ni_imap_now());
  if (dir)
    e->io_out += n;
  else
    e->io_in += n;
}

static void on_end(ni_imap *c, ni_end how, int err, void *ud) {
  ev *e = ud;
  /* Every wire byte was reported through on_io. */
  assert_int_equal(e->io_in, ni_imap_bytes_in(c));
  if (how == NI_END_LOCAL) {
    assert_int_equal(e->io_out, ni_imap_bytes_out(c));
    e->io_checked = 1;
  }
  snprintf(e->errstr, sizeof e->errstr, "%s", ni_imap_errstr(c));
  e->end_called++;
  e->end_how = how;
  e->end_err = err;
  /* Freeing from inside the callback is allowed (deferred). */
  ni_imap_free(c);
}

static void on_trace(ni_imap *c, int dir, const char *line, size_t n, void *ud) {
  ev *e = ud;
  (void)c;
  if (e->trace_n + n + 4 < sizeof e->trace) {
    e->trace[e->trace_n++] = dir ? '>' : '<';
    memcpy(e->trace + e->trace_n, line, n);
    e->trace_n += n;
    e->trace[e->trace_n++] = '\n';
    e->trace[e->trace_n] = '\0';
  }
}

static void cmd_done(ni_imap *c, int status, const ni_resp *r, void *arg) {
  ev *e = arg;
  const char *st = NULL, *prefix = NULL;
  (void)r;
  e->cmd_called++;
  e->cmd_status = status;
  e->refusal = ni_imap_oauth_refusal(c, &st);
  snprintf(e->oauth_status, sizeof e->oauth_status, "%s", st);
  e->ns_rc = ni_imap_personal_namespace(c, &prefix, &e->ns_delim);
  snprintf(e->ns_prefix, sizeof e->ns_prefix, "%s", prefix ? prefix : "(none)");
  if (status == 0 || status == NI_ENO || status == NI_EBAD || status == NI_EAUTH) ni_imap_close(c);
}

static void connect_done(ni_imap *c, int status, const ni_resp *r, void *arg) {
  ev *e = arg;
  (void)r;
  e->connect_called++;
  e->connect_status = status;
  if (status == 0) {
    if (e->then)
      e->then(c, e);
    else
      ni_imap_close(c);
  }
}

/* Guard: the whole test may not run for more than 10 s. */
static void on_guard(uv_timer_t *t) {
  ni_imap *c = t->data;
  fail_msg("test timed out");
  ni_imap_close(c);
}

static void run_client(const ni_imap_opts *o, ev *e) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  ni_imap_cb cb = {on_untagged, on_io, on_end, on_trace};
  ni_imap *c = ni_imap_new(&loop, o, &cb, e);
  assert_non_null(c);
  uv_timer_t guard;
  uv_timer_init(&loop, &guard);
  guard.data = c;
  uv_timer_start(&guard, on_guard, 10000, 0);
  uv_unref((uv_handle_t *)&guard);
  assert_int_equal(ni_imap_connect(c, connect_done, e), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&guard, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  assert_int_equal(e->connect_called, 1);
  assert_true(e->end_called <= 1);
}

static ni_imap_opts opts_for(fs *s, ni_tls_mode mode) {
  ni_imap_opts o;
  memset(&o, 0, sizeof o);
  o.host = "127.0.0.1";
  o.port = fs_port(s);
  o.tls = mode;
  o.connect_timeout_ms = 3000;
  return o;
}

static void path(char *out, size_t n, const char *name) {
  snprintf(out, n, "%s/%s", g_dir, name);
}

/* Start the fake server with script, run a client against it (e->then runs
 * once connected) and return the server for more checks. */
static fs *run_script_tls(const fs_step *script, ni_tls_mode mode, ev *e, int allow_plaintext) {
  fs *s = fs_start(script);
  assert_non_null(s);
  ni_imap_opts o = opts_for(s, mode);
  o.allow_plaintext = allow_plaintext;
  run_client(&o, e);
  return s;
}

static fs *run_script(const fs_step *script, ev *e, int allow_plaintext) {
  return run_script_tls(script, NI_TLS_NONE, e, allow_plaintext);
}

static void test_garbage(void **state) {
  (void)state;
  static const fs_step script[] = {FS_GARBAGE(64), FS_WAIT_EOF(), FS_DONE()};
  ev e = {0};
  fs *s = run_script(script, &e, 0);
  assert_true(e.connect_status == NI_EPARSE || e.connect_status == NI_ELIMIT);
  assert_int_equal(e.end_how, NI_END_PROTOCOL);
  assert_int_equal(fs_wait(s), 0);
  fs_free(s);
}

static void send_noop(ni_imap *c, ev *e) {
  assert_int_equal(ni_imap_noop(c, cmd_done, e), 0);
}

/* A server fault while a NOOP is running: the NOOP and on_end see it. */
static void fault_after_noop(const fs_step *script, int want_status, ni_end want_end) {
  ev e = {0};
  e.then = send_noop;
  fs *s = run_script(script, &e, 0);
  assert_int_equal(e.connect_status, 0);
  assert_int_equal(e.cmd_called, 1);
  assert_int_equal(e.cmd_status, want_status);
  assert_int_equal(e.end_called, 1);
  assert_int_equal(e.end_how, want_end);
  assert_int_equal(e.end_err, want_status);
  fs_wait(s);
  fs_free(s);
}

static void test_bye_mid(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] hi"),
                                   FS_EXPECT("NOOP"), FS_SEND("* BYE going away"), FS_CLOSE(),
                                   FS_DONE()};
  fault_after_noop(script, NI_EBYE, NI_END_BYE);
}

static void test_reset(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1] hi"), FS_EXPECT("NOOP"),
                                   FS_RESET(), FS_DONE()};
  fault_after_noop(script, NI_ERESET, NI_END_RESET);
}

static void test_closed(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1] hi"), FS_EXPECT("NOOP"),
                                   FS_CLOSE(), FS_DONE()};
  fault_after_noop(script, NI_ECLOSED, NI_END_CLOSED);
}

static long maxrss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

static void test_huge_literal(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1] hi"),
                                   FS_EXPECT("NOOP"),
                                   FS_SEND_RAW("* 1 FETCH (BODY[] {1073741824}\r\n"),
                                   FS_GARBAGE(65536),
                                   FS_WAIT_EOF(),
                                   FS_DONE()};
  long before = maxrss_kb();
  fault_after_noop(script, NI_ELIMIT, NI_END_PROTOCOL);
  /* The 1 GB announcement is refused up front, not buffered. */
  assert_true(maxrss_kb() - before < 32 * 1024);
}

static void stall_case(ni_tls_mode mode, const char *phase) {
  static const fs_step script[] = {FS_STALL(1500), FS_DONE()};
  fs *s = fs_start(script);
  assert_non_null(s);
  ev e = {0};
  ni_imap_opts o = opts_for(s, mode);
  o.connect_timeout_ms = 200;
  ni_ms t0 = ni_imap_now();
  run_client(&o, &e);
  assert_int_equal(e.connect_status, NI_ETIMEDOUT);
  assert_int_equal(e.end_how, NI_END_TIMEOUT);
  assert_true(ni_imap_now() - t0 >= 190);
  if (!strstr(e.errstr, phase)) fail_msg("errstr '%s' lacks '%s'", e.errstr, phase);
  fs_free(s);
}

static void test_stall(void **state) {
  (void)state;
  stall_case(NI_TLS_NONE, "waiting for the greeting");
  stall_case(NI_TLS_IMAPS, "TLS handshake");
}

/* The connect sequence must fail with want, errstr naming why. */
static void starttls_fails(const fs_step *script, int want, const char *why) {
  ev e = {0};
  fs *s = run_script_tls(script, NI_TLS_STARTTLS, &e, 0);
  assert_int_equal(e.connect_status, want);
  if (!strstr(e.errstr, why)) fail_msg("errstr '%s' lacks '%s'", e.errstr, why);
  assert_int_equal(fs_wait(s), 0);
  fs_free(s);
}

static void test_starttls_refused(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS] hi"),
                                   FS_EXPECT("STARTTLS"), FS_SEND("$T NO not today"), FS_WAIT_EOF(),
                                   FS_DONE()};
  starttls_fails(script, NI_ETLS, "not today");
}

static void test_starttls_preauth(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] hi"),
                                   FS_WAIT_EOF(), FS_DONE()};
  starttls_fails(script, NI_ENOCAP, "PREAUTH");
}

static void check_tls_caps(ni_imap *c, ev *e) {
  (void)e;
  assert_true(ni_imap_is_tls(c));
  assert_false(ni_imap_has_cap(c, "INJECTED"));
  assert_true(ni_imap_has_cap(c, "AUTH=PLAIN"));
  ni_imap_close(c);
}

static void test_starttls_injection(void **state) {
  (void)state;
  char prefix[300];
  path(prefix, sizeof prefix, "server");
  const fs_step script[] = {
      FS_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hi"), FS_EXPECT("STARTTLS"),
      /* One write: the OK and an injected plaintext tail in the same segment. */
      FS_SEND_RAW("$T OK begin TLS\r\n* CAPABILITY IMAP4rev1 INJECTED\r\n* BYE injected\r\n"),
      FS_TLS(prefix), FS_EXPECT("CAPABILITY"), FS_SEND("* CAPABILITY IMAP4rev1 AUTH=PLAIN IDLE"),
      FS_SEND("$T OK"), FS_WAIT_EOF(), FS_DONE()};
  fs *s = fs_start(script);
  assert_non_null(s);
  char ca[300];
  path(ca, sizeof ca, "ca.pem");
  ev e = {0};
  e.then = check_tls_caps;
  ni_imap_opts o = opts_for(s, NI_TLS_STARTTLS);
  o.ca_file = ca;
  run_client(&o, &e);
  /* The handshake may proceed (tail dropped) or fail cleanly (tail arrived
   * later and reached TLS); the injected lines are never parsed. */
  assert_true(e.connect_status == 0 || e.connect_status == NI_ETLS);
  assert_false(e.saw_injected);
  if (e.connect_status == 0) {
    assert_int_equal(e.end_how, NI_END_LOCAL);
    if (fs_wait(s) != 0) fail_msg("fake server: %s", fs_error(s));
  }
  fs_free(s);
}

static void try_login(ni_imap *c, ev *e) {
  int r = ni_imap_login(c, e->user, e->pass, cmd_done, e);
  if (r < 0) {
    e->cmd_called++;
    e->cmd_status = r;
    ni_imap_close(c);
  }
}

/* The client must refuse before sending a single byte. */
static void refused_silently_script(const fs_step *script, ni_tls_mode mode, int allow_plaintext,
                                    ev *e) {
  fs *s = run_script_tls(script, mode, e, allow_plaintext);
  assert_int_equal(fs_wait(s), 0);
  size_t n;
  fs_received(s, &n);
  assert_int_equal(n, 0);
  fs_free(s);
}

static void refused_silently(ni_tls_mode mode, int allow_plaintext, ev *e) {
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi"),
                                   FS_WAIT_EOF(), FS_DONE()};
  refused_silently_script(script, mode, allow_plaintext, e);
}

static void test_starttls_missing(void **state) {
  (void)state;
  ev e = {0};
  /* Even with plaintext allowed: no silent downgrade. */
  refused_silently(NI_TLS_STARTTLS, 1, &e);
  assert_int_equal(e.connect_status, NI_ENOCAP);
}

static void test_plaintext_refused(void **state) {
  (void)state;
  ev e = {0};
  e.then = try_login;
  e.user = "user";
  e.pass = "secret";
  refused_silently(NI_TLS_NONE, 0, &e);
  assert_int_equal(e.connect_status, 0);
  assert_int_equal(e.cmd_status, NI_EPLAINTEXT);
}

static void login_case(const fs_step *script, const char *pass, int want) {
  ev e = {0};
  e.then = try_login;
  e.user = "user";
  e.pass = pass;
  fs *s = run_script(script, &e, 1);
  assert_int_equal(e.connect_status, 0);
  assert_int_equal(e.cmd_called, 1);
  assert_int_equal(e.cmd_status, want);
  if (fs_wait(s) != 0) fail_msg("fake server: %s", fs_error(s));
  /* The password never shows in the trace, in clear or base64. */
  assert_null(strstr(e.trace, pass));
  assert_null(strstr(e.trace, "AHVzZXIAc2VjcmV0"));
  if (want != NI_ENOCAP) assert_non_null(strstr(e.trace, "***"));
  fs_free(s);
}

static void test_login_sasl_ir(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] hi"),
                                   FS_EXPECT("AUTHENTICATE PLAIN AHVzZXIAc2VjcmV0"),
                                   FS_SEND("$T OK [CAPABILITY IMAP4rev1 IDLE] logged in"),
                                   FS_WAIT_EOF(), FS_DONE()};
  login_case(script, "secret", 0);
}

static void test_login_continuation_refused(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi"),
                                   FS_EXPECT("AUTHENTICATE PLAIN"),
                                   FS_SEND("+ "),
                                   FS_EXPECT_LINE("AHVzZXIAc2VjcmV0"),
                                   FS_SEND("$T NO [AUTHENTICATIONFAILED] bad password"),
                                   FS_WAIT_EOF(),
                                   FS_DONE()};
  login_case(script, "secret", NI_EAUTH);
}

static void test_login_literal(void **state) {
  (void)state;
  /* LOGIN (no AUTH=PLAIN): an 8-bit password goes as a synchronizing
   * literal, sent only after the "+". */
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1] hi"),
                                   FS_EXPECT("LOGIN user {7}"),
                                   FS_SEND("+ go ahead"),
                                   FS_EXPECT_LIT(7),
                                   FS_SEND("* CAPABILITY IMAP4rev1 IDLE"),
                                   FS_SEND("$T OK welcome"),
                                   FS_WAIT_EOF(),
                                   FS_DONE()};
  login_case(script,
             "s\xc3\xa9"
             "cret",
             0);
}

/* A PLAIN login without SASL-IR: the initial response waits for the
 * server's "+" (nothing is sent before it). */
static void test_login_no_sasl_ir(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi"),
                                   FS_EXPECT_EXACT("AUTHENTICATE PLAIN"),
                                   FS_QUIET(100),
                                   FS_SEND("+ "),
                                   FS_EXPECT_LINE("AHVzZXIAc2VjcmV0"),
                                   FS_SEND("$T OK [CAPABILITY IMAP4rev1 IDLE] logged in"),
                                   FS_WAIT_EOF(),
                                   FS_DONE()};
  login_case(script, "secret", 0);
}

/* ---- OAuth2 ---- */

static const char k_token[] = "tok.en-1";
/* base64("user=user" ^A "auth=Bearer tok.en-1" ^A ^A) */
static const char k_xoauth2[] = "dXNlcj11c2VyAWF1dGg9QmVhcmVyIHRvay5lbi0xAQE=";
/* base64 of the first 30 bytes of OAUTHBEARER's message to 127.0.0.1:
 * "n,a=user," ^A "host=127.0.0.1" ^A "port=" */
static const char k_bearer_head[] = "bixhPXVzZXIsAWhvc3Q9MTI3LjAuMC4xAXBvcnQ9";

static void try_oauth(ni_imap *c, ev *e) {
  int r = ni_imap_authenticate_oauth2(c, e->user, e->pass, strlen(e->pass), e->mech, cmd_done, e);
  if (r < 0) {
    e->cmd_called++;
    e->cmd_status = r;
    ni_imap_close(c);
  }
}

/* Set e up for an OAuth2 login once connected. */
static void oauth_ev(ev *e, const char *user, const char *token, ni_oauth_mech mech) {
  memset(e, 0, sizeof *e);
  e->then = try_oauth;
  e->user = user;
  e->pass = token;
  e->mech = mech;
}

/* Run an OAuth2 login with the test token against script. */
static fs *oauth_case(const fs_step *script, ni_oauth_mech mech, int want, ev *e) {
  oauth_ev(e, "user", k_token, mech);
  fs *s = run_script(script, e, 1);
  assert_int_equal(e->connect_status, 0);
  assert_int_equal(e->cmd_called, 1);
  assert_int_equal(e->cmd_status, want);
  if (fs_wait(s) != 0) fail_msg("fake server: %s", fs_error(s));
  /* The token never shows in the trace, in clear or in base64. */
  assert_null(strstr(e->trace, k_token));
  assert_null(strstr(e->trace, k_xoauth2));
  assert_null(strstr(e->trace, k_bearer_head));
  return s;
}

/* The OAUTHBEARER message on the wire, decoded, must be RFC 7628's with the
 * server's address and port. */
static void check_bearer_message(fs *s) {
  size_t n, dn;
  const char *rx = fs_received(s, &n);
  const char *at = find(rx, n, k_bearer_head, strlen(k_bearer_head));
  assert_non_null(at);
  size_t len = strcspn(at, "\r\n");
  unsigned char dec[256];
  assert_true(len < 300);
  dn = ni__base64_decode(at, len, dec);
  char want[128];
  int k = snprintf(want, sizeof want,
                   "n,a=user,\x01host=127.0.0.1\x01port=%u\x01"
                   "auth=Bearer tok.en-1\x01\x01",
                   (unsigned)fs_port(s));
  assert_int_equal(dn, (size_t)k);
  assert_memory_equal(dec, want, dn);
}

static void test_oauth_bearer_sasl_ir(void **state) {
  (void)state;
  static const fs_step script[] = {
      FS_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=XOAUTH2 AUTH=OAUTHBEARER] hi"),
      FS_EXPECT("AUTHENTICATE OAUTHBEARER bixhPXVzZXIsAWhvc3Q9MTI3LjAuMC4xAXBvcnQ9"),
      FS_SEND("$T OK [CAPABILITY IMAP4rev1 IDLE] Logged in"), FS_WAIT_EOF(), FS_DONE()};
  ev e;
  fs *s = oauth_case(script, NI_OAUTH_AUTO, 0, &e);
  assert_int_equal(e.refusal, NI_OAUTH_NOT_REFUSED);
  assert_string_equal(e.oauth_status, "");
  assert_non_null(strstr(e.trace, "AUTHENTICATE OAUTHBEARER ***"));
  check_bearer_message(s);
  fs_free(s);
}

/* XOAUTH2 forced although OAUTHBEARER is offered, without SASL-IR: the
 * message waits for the "+". */
static void test_oauth_xoauth2_continuation(void **state) {
  (void)state;
  static const fs_step script[] = {
      FS_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=XOAUTH2 AUTH=OAUTHBEARER] hi"),
      FS_EXPECT_EXACT("AUTHENTICATE XOAUTH2"),
      FS_QUIET(100),
      FS_SEND("+ "),
      FS_EXPECT_LINE("dXNlcj11c2VyAWF1dGg9QmVhcmVyIHRvay5lbi0xAQE="),
      FS_SEND("$T OK Logged in"),
      FS_EXPECT("CAPABILITY"),
      FS_SEND("* CAPABILITY IMAP4rev1 IDLE"),
      FS_SEND("$T OK done"),
      FS_WAIT_EOF(),
      FS_DONE()};
  ev e;
  fs *s = oauth_case(script, NI_OAUTH_XOAUTH2, 0, &e);
  assert_non_null(strstr(e.trace, "AUTHENTICATE XOAUTH2 ***"));
  fs_free(s);
}

/* An expired token with OAUTHBEARER: the error challenge (ended by a bare
 * LF, as servers do) is answered with %x01 and its status kept. */
static void test_oauth_token_refused(void **state) {
  (void)state;
  static const fs_step script[] = {
      FS_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER] hi"),
      FS_EXPECT("AUTHENTICATE OAUTHBEARER "),
      FS_SEND_RAW("+ eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=\n"),
      FS_EXPECT_LINE("AQ=="),
      FS_SEND("$T NO [AUTHENTICATIONFAILED] Authentication failed."),
      FS_WAIT_EOF(),
      FS_DONE()};
  ev e;
  fs *s = oauth_case(script, NI_OAUTH_AUTO, NI_EAUTH, &e);
  assert_int_equal(e.refusal, NI_OAUTH_TOKEN_REFUSED);
  assert_string_equal(e.oauth_status, "invalid_token");
  assert_non_null(strstr(e.errstr, "token refused, status invalid_token"));
  assert_non_null(strstr(e.errstr, "Authentication failed."));
  fs_free(s);
}

/* XOAUTH2's error challenge is answered with an empty line; "401" means
 * the token. */
static void test_oauth_xoauth2_401(void **state) {
  (void)state;
  static const fs_step script[] = {
      FS_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi"),
      FS_EXPECT("AUTHENTICATE XOAUTH2 dXNlcj11c2VyAWF1dGg9QmVhcmVyIHRvay5lbi0xAQE="),
      FS_SEND("+ eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJtYWlsIn0="),
      FS_EXPECT_LINE(""),
      FS_SEND("$T NO [AUTHENTICATIONFAILED] Invalid credentials"),
      FS_WAIT_EOF(),
      FS_DONE()};
  ev e;
  fs *s = oauth_case(script, NI_OAUTH_AUTO, NI_EAUTH, &e);
  assert_int_equal(e.refusal, NI_OAUTH_TOKEN_REFUSED);
  assert_string_equal(e.oauth_status, "401");
  fs_free(s);
}

/* Refusals a fresh token would not cure: a scope error, and a NO with no
 * error challenge.  A second challenge is cancelled with "*". */
static void test_oauth_refused_otherwise(void **state) {
  (void)state;
  static const fs_step scope[] = {
      FS_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER] hi"),
      FS_EXPECT("AUTHENTICATE OAUTHBEARER "),
      FS_SEND("+ eyJzdGF0dXMiOiJpbnN1ZmZpY2llbnRfc2NvcGUiLCJzY29wZSI6Im1haWwifQ=="),
      FS_EXPECT_LINE("AQ=="),
      FS_SEND("+ again?"),
      FS_EXPECT_LINE("*"),
      FS_SEND("$T BAD [CLIENTBUG] Authentication cancelled"),
      FS_WAIT_EOF(),
      FS_DONE()};
  static const fs_step bare_no[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi"),
                                    FS_EXPECT("AUTHENTICATE XOAUTH2 "),
                                    FS_SEND("$T NO AUTHENTICATE failed."), FS_WAIT_EOF(),
                                    FS_DONE()};
  ev e;
  fs *s = oauth_case(scope, NI_OAUTH_AUTO, NI_EAUTH, &e);
  assert_int_equal(e.refusal, NI_OAUTH_REFUSED);
  assert_string_equal(e.oauth_status, "insufficient_scope");
  assert_non_null(strstr(e.errstr, "OAuth2 status insufficient_scope"));
  fs_free(s);
  s = oauth_case(bare_no, NI_OAUTH_AUTO, NI_EAUTH, &e);
  assert_int_equal(e.refusal, NI_OAUTH_REFUSED);
  assert_string_equal(e.oauth_status, "");
  assert_non_null(strstr(e.errstr, "no OAuth2 error status"));
  fs_free(s);
}

/* Refused before a byte is sent: no TLS, no mechanism, a bad token. */
static void test_oauth_refused_locally(void **state) {
  (void)state;
  static const fs_step none[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi"),
                                 FS_WAIT_EOF(), FS_DONE()};
  static const fs_step bearer_only[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER] hi"),
                                        FS_WAIT_EOF(), FS_DONE()};
  ev e;
  oauth_ev(&e, "user", k_token, NI_OAUTH_AUTO);
  refused_silently_script(bearer_only, NI_TLS_NONE, 0, &e);
  assert_int_equal(e.cmd_status, NI_EPLAINTEXT);
  assert_non_null(strstr(e.errstr, "refusing to send the access token"));
  oauth_ev(&e, "user", k_token, NI_OAUTH_AUTO);
  refused_silently_script(none, NI_TLS_NONE, 1, &e);
  assert_int_equal(e.cmd_status, NI_ENOCAP);
  oauth_ev(&e, "user", k_token, NI_OAUTH_XOAUTH2);
  refused_silently_script(bearer_only, NI_TLS_NONE, 1, &e);
  assert_int_equal(e.cmd_status, NI_ENOCAP);
  static const char *bad[][2] = {{"user", ""},
                                 {"user", "a\x01"
                                          "b"},
                                 {"user", "a b"},
                                 {"user", "a\r\nA2 LOGOUT"},
                                 {"user", "caf\xc3\xa9"},
                                 {"us\x01"
                                  "er",
                                  "tok"},
                                 {"", "tok"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    oauth_ev(&e, bad[i][0], bad[i][1], NI_OAUTH_AUTO);
    refused_silently_script(bearer_only, NI_TLS_NONE, 1, &e);
    assert_int_equal(e.cmd_status, NI_EUSAGE);
  }
}

/* ---- NAMESPACE ---- */

static void do_namespace(ni_imap *c, ev *e) {
  assert_int_equal(ni_imap_personal_namespace(c, NULL, NULL), NI_ESTATE);
  assert_int_equal(ni_imap_namespace(c, cmd_done, e), 0);
}

static void namespace_case(const fs_step *script, int want_ns, const char *prefix, char delim) {
  ev e = {0};
  e.then = do_namespace;
  fs *s = run_script(script, &e, 0);
  assert_int_equal(e.cmd_status, 0);
  assert_int_equal(e.namespaces, want_ns);
  assert_int_equal(e.ns_rc, 0);
  assert_string_equal(e.ns_prefix, prefix);
  assert_int_equal(e.ns_delim, delim);
  if (fs_wait(s) != 0) fail_msg("fake server: %s", fs_error(s));
  fs_free(s);
}

static void test_namespace(void **state) {
  (void)state;
  /* Cyrus in its default configuration. */
  static const fs_step cyrus[] = {
      FS_SEND("* OK [CAPABILITY IMAP4rev1 NAMESPACE] hi"),
      FS_EXPECT("NAMESPACE"),
      FS_SEND("* NAMESPACE ((\"INBOX.\" \".\")) ((\"user.\" \".\")) ((\"\" \".\"))"),
      FS_SEND("$T OK Completed"),
      FS_WAIT_EOF(),
      FS_DONE()};
  /* No NAMESPACE capability: LIST "" "" gives the delimiter. */
  static const fs_step no_cap[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1] hi"),
                                   FS_EXPECT_EXACT("LIST \"\" \"\""),
                                   FS_SEND("* LIST (\\Noselect) \"/\" \"\""),
                                   FS_SEND("$T OK List completed"),
                                   FS_WAIT_EOF(),
                                   FS_DONE()};
  /* No personal namespace, then LIST with a NIL delimiter. */
  static const fs_step nil_personal[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1 NAMESPACE] hi"),
                                         FS_EXPECT("NAMESPACE"),
                                         FS_SEND("* NAMESPACE NIL NIL ((\"#shared/\" \"/\"))"),
                                         FS_SEND("$T OK done"),
                                         FS_EXPECT_EXACT("LIST \"\" \"\""),
                                         FS_SEND("* LIST (\\Noselect) NIL \"\""),
                                         FS_SEND("$T OK done"),
                                         FS_WAIT_EOF(),
                                         FS_DONE()};
  /* NAMESPACE advertised but refused. */
  static const fs_step refused[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1 NAMESPACE] hi"),
                                    FS_EXPECT("NAMESPACE"),
                                    FS_SEND("$T BAD not now"),
                                    FS_EXPECT_EXACT("LIST \"\" \"\""),
                                    FS_SEND("* LIST (\\Noselect) \".\" \"\""),
                                    FS_SEND("$T OK done"),
                                    FS_WAIT_EOF(),
                                    FS_DONE()};
  namespace_case(cyrus, 1, "INBOX.", '.');
  namespace_case(no_cap, 0, "", '/');
  namespace_case(nil_personal, 1, "", '\0');
  namespace_case(refused, 0, "", '.');
}

/* ---- what already worked ---- */

/* SELECT on a server that sends no UIDNEXT (RFC 3501 leaves it optional
 * before RFC 9051): the command completes and the data arrives. */
static void do_select(ni_imap *c, ev *e) {
  assert_int_equal(ni_imap_select(c, "INBOX", 0, cmd_done, e), 0);
}

static void test_select_without_uidnext(void **state) {
  (void)state;
  static const fs_step script[] = {
      FS_SEND("* OK [CAPABILITY IMAP4rev1] hi"),
      FS_EXPECT("SELECT INBOX"),
      FS_SEND("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"),
      FS_SEND("* 2 EXISTS"),
      FS_SEND("* 0 RECENT"),
      FS_SEND("* OK [UIDVALIDITY 1700000000] UIDs valid"),
      FS_SEND("$T OK [READ-WRITE] SELECT completed"),
      FS_WAIT_EOF(),
      FS_DONE()};
  ev e = {0};
  e.then = do_select;
  fs *s = run_script(script, &e, 0);
  assert_int_equal(e.cmd_status, 0);
  assert_int_equal(e.exists, 2);
  assert_int_equal(e.uidnext_seen, 0);
  assert_int_equal(e.untagged, 5);
  if (fs_wait(s) != 0) fail_msg("fake server: %s", fs_error(s));
  fs_free(s);
}

static void on_idling(ni_imap *c, void *arg) {
  ev *e = arg;
  (void)c;
  e->idling++;
}

static void start_idle(ni_imap *c, ev *e) {
  assert_int_equal(ni_imap_idle_done(c), NI_ESTATE);
  assert_int_equal(ni_imap_idle(c, on_idling, cmd_done, e), 0);
}

static void test_idle(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] hi"),
                                   FS_EXPECT("IDLE"),
                                   FS_SEND("+ idling"),
                                   FS_STALL(50),
                                   FS_SEND("* 3 EXISTS"),
                                   FS_EXPECT_LINE("DONE"),
                                   FS_SEND("$T OK IDLE terminated"),
                                   FS_WAIT_EOF(),
                                   FS_DONE()};
  ev e = {0};
  e.then = start_idle;
  fs *s = run_script(script, &e, 0);
  assert_int_equal(e.idling, 1);
  assert_int_equal(e.exists, 3);
  assert_int_equal(e.cmd_status, 0);
  if (fs_wait(s) != 0) fail_msg("fake server: %s", fs_error(s));
  fs_free(s);
}

static void idle_and_done_at_once(ni_imap *c, ev *e) {
  assert_int_equal(ni_imap_idle(c, on_idling, cmd_done, e), 0);
  /* DONE asked for before the "+": sent as soon as it arrives. */
  assert_int_equal(ni_imap_idle_done(c), 0);
  assert_int_equal(ni_imap_idle_done(c), NI_ESTATE);
}

static void test_idle_done_early(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] hi"),
                                   FS_EXPECT("IDLE"),
                                   FS_STALL(50),
                                   FS_SEND("+ idling"),
                                   FS_EXPECT_LINE("DONE"),
                                   FS_SEND("$T OK IDLE terminated"),
                                   FS_WAIT_EOF(),
                                   FS_DONE()};
  ev e = {0};
  e.then = idle_and_done_at_once;
  fs *s = run_script(script, &e, 0);
  assert_int_equal(e.idling, 0);
  assert_int_equal(e.cmd_status, 0);
  if (fs_wait(s) != 0) fail_msg("fake server: %s", fs_error(s));
  fs_free(s);
}

static const char k_msg9[] = "Subject:\n";

static void append_small(ni_imap *c, ev *e) {
  assert_int_equal(ni_imap_append(c, "INBOX", NULL, k_msg9, 9, cmd_done, e), 0);
}

static void literal_case(const fs_step *script) {
  ev e = {0};
  e.then = append_small;
  fs *s = run_script(script, &e, 0);
  assert_int_equal(e.cmd_status, 0);
  if (fs_wait(s) != 0) fail_msg("fake server: %s", fs_error(s));
  size_t n;
  const char *rx = fs_received(s, &n);
  assert_non_null(find(rx, n, "INBOX {9", 8));
  /* The trace summarises the literal instead of printing it. */
  assert_non_null(strstr(e.trace, "[9 bytes]"));
  fs_free(s);
}

static void test_sync_literal(void **state) {
  (void)state;
  /* No LITERAL+: the 9 bytes wait for the "+". */
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1] hi"),
                                   FS_EXPECT_EXACT("APPEND INBOX {9}"),
                                   FS_QUIET(100),
                                   FS_SEND("+ ok"),
                                   FS_EXPECT_LIT(9),
                                   FS_SEND("$T OK [APPENDUID 1 1] appended"),
                                   FS_WAIT_EOF(),
                                   FS_DONE()};
  literal_case(script);
}

static void test_literal_plus(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1 LITERAL+] hi"),
                                   FS_EXPECT("APPEND INBOX {9+}"),
                                   FS_EXPECT_LIT(9),
                                   FS_SEND("$T OK [APPENDUID 1 1] appended"),
                                   FS_WAIT_EOF(),
                                   FS_DONE()};
  literal_case(script);
}

/* IMAPS against the fake server with a given certificate and CA. */
static void imaps_case(const char *cert, const char *ca_name, int insecure, int want,
                       const char *errpart) {
  char prefix[300], ca[300];
  path(prefix, sizeof prefix, cert);
  path(ca, sizeof ca, ca_name);
  const fs_step script[] = {FS_TLS(prefix), FS_SEND("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi"),
                            FS_WAIT_EOF(), FS_DONE()};
  fs *s = fs_start(script);
  assert_non_null(s);
  ev e = {0};
  ni_imap_opts o = opts_for(s, NI_TLS_IMAPS);
  o.ca_file = ca;
  o.insecure = insecure;
  uv_loop_t loop;
  uv_loop_init(&loop);
  ni_imap_cb cb = {on_untagged, NULL, NULL, NULL};
  ni_imap *c = ni_imap_new(&loop, &o, &cb, &e);
  assert_non_null(c);
  assert_int_equal(ni_imap_connect(c, connect_done, &e), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(e.connect_status, want);
  if (errpart && !strstr(ni_imap_errstr(c), errpart))
    fail_msg("errstr '%s' lacks '%s'", ni_imap_errstr(c), errpart);
  ni_imap_free(c);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
  fs_free(s);
}

static void test_imaps_ok(void **state) {
  (void)state;
  imaps_case("server", "ca.pem", 0, 0, NULL);
}

static void test_imaps_other_ca(void **state) {
  (void)state;
  imaps_case("server", "other-ca.pem", 0, NI_ECERT, "certificate verify failed");
}

static void test_imaps_wrong_name(void **state) {
  (void)state;
  imaps_case("wrongname", "ca.pem", 0, NI_ECERT, "mismatch");
}

static void test_imaps_wrong_name_insecure(void **state) {
  (void)state;
  imaps_case("wrongname", "other-ca.pem", 1, 0, NULL);
}

/* A preloaded CA keeps working after its file is gone (a process that gave
 * up the privileges to read it), until it is unloaded. */
static void test_preload_ca(void **state) {
  (void)state;
  char src[300], copy[300], cmd[700], err[300];
  path(src, sizeof src, "ca.pem");
  path(copy, sizeof copy, "ca-preloaded.pem");
  snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, copy);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(ni_tls_preload_ca(copy, err, sizeof err), 0);
  assert_int_equal(unlink(copy), 0);
  imaps_case("server", "ca-preloaded.pem", 0, 0, NULL);
  ni_tls_unload_ca(copy);
  ni_tls_unload_ca(copy); /* a second unload does nothing */
  imaps_case("server", "ca-preloaded.pem", 0, NI_ETLS, "cannot load CA");
  assert_int_equal(ni_tls_preload_ca(copy, err, sizeof err), NI_ETLS);
  assert_non_null(strstr(err, "cannot load CA"));
}

static void test_logindisabled(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi"),
                                   FS_WAIT_EOF(), FS_DONE()};
  login_case(script, "secret", NI_ENOCAP);
}

static void do_logout(ni_imap *c, ev *e) {
  assert_int_equal(ni_imap_logout(c, cmd_done, e), 0);
}

static void test_logout(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1] hi"),
                                   FS_EXPECT("LOGOUT"),
                                   FS_SEND("* BYE see you"),
                                   FS_SEND("$T OK bye"),
                                   FS_WAIT_EOF(),
                                   FS_DONE()};
  ev e = {0};
  e.then = do_logout;
  fs *s = run_script(script, &e, 0);
  assert_int_equal(e.cmd_status, 0);
  assert_int_equal(e.end_how, NI_END_LOCAL);
  assert_int_equal(e.end_err, 0);
  assert_true(e.io_checked);
  assert_true(e.io_out > 0);
  assert_int_equal(fs_wait(s), 0);
  fs_free(s);
}

static void test_unexpected_tag(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1] hi"), FS_EXPECT("NOOP"),
                                   FS_SEND("Z999 OK not yours"), FS_WAIT_EOF(), FS_DONE()};
  fault_after_noop(script, NI_EPARSE, NI_END_PROTOCOL);
}

static void test_refused(void **state) {
  (void)state;
  /* A port nobody listens on: bind one without listening, note it. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  ni_imap_opts o;
  memset(&o, 0, sizeof o);
  o.host = "127.0.0.1";
  o.port = ntohs(sa.sin_port);
  o.connect_timeout_ms = 3000;
  ev e = {0};
  run_client(&o, &e);
  close(fd);
  assert_int_equal(e.connect_status, -ECONNREFUSED);
  assert_int_equal(e.end_how, NI_END_ERROR);
}

static int g_free_end_calls;

static void free_end(ni_imap *c, ni_end how, int err, void *ud) {
  (void)c;
  (void)how;
  (void)err;
  (void)ud;
  g_free_end_calls++;
}

static void free_in_connect(ni_imap *c, int status, const ni_resp *r, void *arg) {
  (void)r;
  int *called = arg;
  (*called)++;
  assert_int_equal(status, 0);
  /* Queue a command, then free: neither its callback nor on_end may run. */
  assert_int_equal(ni_imap_noop(c, free_in_connect, arg), 0);
  ni_imap_free(c);
}

static void test_free_in_callback(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1] hi"), FS_WAIT_EOF(),
                                   FS_DONE()};
  fs *s = fs_start(script);
  assert_non_null(s);
  ni_imap_opts o = opts_for(s, NI_TLS_NONE);
  uv_loop_t loop;
  uv_loop_init(&loop);
  ni_imap_cb cb = {NULL, NULL, free_end, NULL};
  int called = 0;
  ni_imap *c = ni_imap_new(&loop, &o, &cb, NULL);
  assert_int_equal(ni_imap_connect(c, free_in_connect, &called), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(called, 1);
  assert_int_equal(g_free_end_calls, 0);
  assert_int_equal(uv_loop_close(&loop), 0);
  fs_free(s);
}

static void test_names(void **state) {
  (void)state;
  ni_tls_mode m = NI_TLS_NONE;
  assert_int_equal(ni_tls_mode_parse("STARTTLS", &m), 0);
  assert_int_equal(m, NI_TLS_STARTTLS);
  assert_int_equal(ni_tls_mode_parse("imaps", &m), 0);
  assert_int_equal(m, NI_TLS_IMAPS);
  assert_int_equal(ni_tls_mode_parse("ssl", &m), NI_EUSAGE);
  assert_string_equal(ni_end_name(NI_END_RESET), "reset");
  assert_string_equal(ni_end_name(NI_END_LOCAL), "local");
  assert_string_equal(ni_tls_mode_name(NI_TLS_NONE), "none");
  ni_imap_opts o;
  memset(&o, 0, sizeof o);
  uv_loop_t loop;
  uv_loop_init(&loop);
  assert_null(ni_imap_new(&loop, &o, NULL, NULL)); /* no host */
  o.host = "127.0.0.1";
  ni_imap *c = ni_imap_new(&loop, &o, NULL, NULL);
  assert_non_null(c);
  assert_int_equal(ni_imap_noop(c, NULL, NULL), NI_ESTATE);
  ni_imap_free(c); /* never connected: still freed through the loop */
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static int setup_certs(void **state) {
  (void)state;
  const char *tmp = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/natidle-conn-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(g_dir) || fs_make_certs(g_dir) != 0) return -1;
  return 0;
}

static int remove_certs(void **state) {
  (void)state;
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_bye_mid),
      cmocka_unit_test(test_reset),
      cmocka_unit_test(test_closed),
      cmocka_unit_test(test_huge_literal),
      cmocka_unit_test(test_stall),
      cmocka_unit_test(test_starttls_injection),
      cmocka_unit_test(test_starttls_missing),
      cmocka_unit_test(test_starttls_refused),
      cmocka_unit_test(test_starttls_preauth),
      cmocka_unit_test(test_plaintext_refused),
      cmocka_unit_test(test_login_sasl_ir),
      cmocka_unit_test(test_login_continuation_refused),
      cmocka_unit_test(test_login_literal),
      cmocka_unit_test(test_login_no_sasl_ir),
      cmocka_unit_test(test_oauth_bearer_sasl_ir),
      cmocka_unit_test(test_oauth_xoauth2_continuation),
      cmocka_unit_test(test_oauth_token_refused),
      cmocka_unit_test(test_oauth_xoauth2_401),
      cmocka_unit_test(test_oauth_refused_otherwise),
      cmocka_unit_test(test_oauth_refused_locally),
      cmocka_unit_test(test_namespace),
      cmocka_unit_test(test_select_without_uidnext),
      cmocka_unit_test(test_idle),
      cmocka_unit_test(test_idle_done_early),
      cmocka_unit_test(test_sync_literal),
      cmocka_unit_test(test_literal_plus),
      cmocka_unit_test(test_imaps_ok),
      cmocka_unit_test(test_imaps_other_ca),
      cmocka_unit_test(test_imaps_wrong_name),
      cmocka_unit_test(test_imaps_wrong_name_insecure),
      cmocka_unit_test(test_preload_ca),
      cmocka_unit_test(test_free_in_callback),
      cmocka_unit_test(test_logindisabled),
      cmocka_unit_test(test_logout),
      cmocka_unit_test(test_unexpected_tag),
      cmocka_unit_test(test_refused),
  };
  return cmocka_run_group_tests(tests, setup_certs, remove_certs);
}
