/*
 * tests/test_conn_auth.c - logging in over the IMAP connection, against a
 * scripted fake server on 127.0.0.1: STARTTLS (refused, missing, after
 * PREAUTH, with injected plaintext), no secret without TLS, LOGIN and
 * AUTHENTICATE PLAIN with and without SASL-IR, and OAuth2 logins and their
 * refusals.  Secrets never show in the trace.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conn_harness.h"
#include "fakeserver.h"
#include "imap/sasl.h"
#include "natidle/conn.h"

/* ---- STARTTLS ---- */

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
  cert_path(prefix, sizeof prefix, "server");
  const fs_step script[] = {
      FS_SEND("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hi"), FS_EXPECT("STARTTLS"),
      /* One write: the OK and an injected plaintext tail in the same segment. */
      FS_SEND_RAW("$T OK begin TLS\r\n* CAPABILITY IMAP4rev1 INJECTED\r\n* BYE injected\r\n"),
      FS_TLS(prefix), FS_EXPECT("CAPABILITY"), FS_SEND("* CAPABILITY IMAP4rev1 AUTH=PLAIN IDLE"),
      FS_SEND("$T OK"), FS_WAIT_EOF(), FS_DONE()};
  fs *s = fs_start(script);
  assert_non_null(s);
  char ca[300];
  cert_path(ca, sizeof ca, "ca.pem");
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

/* ---- login ---- */

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

static void test_logindisabled(void **state) {
  (void)state;
  static const fs_step script[] = {FS_SEND("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi"),
                                   FS_WAIT_EOF(), FS_DONE()};
  login_case(script, "secret", NI_ENOCAP);
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
  const char *at = find_bytes(rx, n, k_bearer_head, strlen(k_bearer_head));
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

int main(void) {
  const struct CMUnitTest tests[] = {
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
      cmocka_unit_test(test_logindisabled),
  };
  return cmocka_run_group_tests(tests, setup_certs, remove_certs);
}
