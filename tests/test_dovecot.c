/*
 * tests/test_dovecot.c - the IMAP client against a real Dovecot on loopback.
 *
 * Run by tests/test_dovecot.sh, which starts a private Dovecot instance and
 * passes it in the environment: NI_DV_HOST, NI_DV_PORT_IMAP, NI_DV_PORT_IMAPS,
 * NI_DV_CA_FILE, NI_DV_USER, NI_DV_PASSWORD_FILE, NI_DV_TMP (a scratch
 * directory), NI_DV_MISMATCH_HOST (a name for the server's address that
 * its certificate does not carry; empty skips that case), NI_DV_TOKEN_DIR
 * (OAuth2 access tokens for NI_DV_USER, one file each: valid, expired,
 * badsig) and NI_DV_NO_SASL_IR_FROM (a loopback source address to which
 * the server offers no SASL-IR and only a short capability list).
 *
 * The test is linear: each step starts one operation and runs the loop until
 * its callback has run (bounded by a guard timer).
 */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakeserver.h"
#include "natidle/conn.h"

#define STEP_MS 10000 /* no single step may take longer */

static const char *g_host, *g_ca, *g_user, *g_tmp, *g_mismatch, *g_token_dir, *g_no_sasl_ir;
static uint16_t g_port_imap, g_port_imaps;
static char g_pass[256];
static uv_loop_t g_loop;

/* The result of one operation. */
typedef struct res {
  int done, status;
  char text[256];
} res;

static void done_cb(ni_imap *c, int status, const ni_resp *r, void *arg) {
  res *x = arg;
  (void)c;
  x->done = 1;
  x->status = status;
  if (r) snprintf(x->text, sizeof x->text, "%.*s", (int)r->text.n, r->text.p);
}

static void on_tick(uv_timer_t *t) {
  (void)t;
}

/* Run the loop until *flag is set or STEP_MS pass; returns 0 or -1. */
static int wait_flag(const int *flag) {
  uv_timer_t tick;
  uv_timer_init(&g_loop, &tick);
  uv_timer_start(&tick, on_tick, 50, 50);
  ni_ms t0 = ni_imap_now();
  while (!*flag && ni_imap_now() - t0 < STEP_MS)
    uv_run(&g_loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(&g_loop, UV_RUN_NOWAIT);
  return *flag ? 0 : -1;
}

static int wait_res(res *x) {
  if (wait_flag(&x->done) < 0) fail_msg("step timed out");
  return x->status;
}

/* What a session's untagged responses told us. */
typedef struct sess {
  ni_imap *c;
  uint32_t exists;
  int list_hits;
  const char *list_needle;
  int ended;
  int namespaces;
  char trace[8192];
  size_t trace_n;
} sess;

static void s_untagged(ni_imap *c, const ni_resp *r, void *ud) {
  sess *s = ud;
  (void)c;
  if (r->type == NI_R_EXISTS) s->exists = r->number;
  if (r->type == NI_R_LIST && s->list_needle && strstr(r->data.p, s->list_needle)) s->list_hits++;
  if (r->type == NI_R_NAMESPACE) s->namespaces++;
}

/* The protocol trace, one line each, "<" from the server and ">" to it. */
static void s_trace(ni_imap *c, int dir, const char *line, size_t n, void *ud) {
  sess *s = ud;
  (void)c;
  if (s->trace_n + n + 3 < sizeof s->trace) {
    s->trace[s->trace_n++] = dir ? '>' : '<';
    memcpy(s->trace + s->trace_n, line, n);
    s->trace_n += n;
    s->trace[s->trace_n++] = '\n';
    s->trace[s->trace_n] = '\0';
  }
}

static void s_end(ni_imap *c, ni_end how, int err, void *ud) {
  sess *s = ud;
  (void)c;
  (void)how;
  (void)err;
  s->ended = 1;
}

/* Connect from the local address from (NULL: any); returns the connect
 * status, s->c is set either way. */
static int open_sess_from(sess *s, ni_tls_mode mode, const char *host, const char *ca, int plain_ok,
                          const char *from) {
  memset(s, 0, sizeof *s);
  ni_imap_opts o;
  memset(&o, 0, sizeof o);
  o.host = host;
  o.port = mode == NI_TLS_IMAPS ? g_port_imaps : g_port_imap;
  o.tls = mode;
  o.ca_file = ca;
  o.allow_plaintext = plain_ok;
  o.connect_timeout_ms = 5000;
  o.bind_addr = from;
  ni_imap_cb cb = {s_untagged, NULL, s_end, s_trace};
  s->c = ni_imap_new(&g_loop, &o, &cb, s);
  assert_non_null(s->c);
  res x = {0};
  assert_int_equal(ni_imap_connect(s->c, done_cb, &x), 0);
  return wait_res(&x);
}

static int open_sess(sess *s, ni_tls_mode mode, const char *host, const char *ca, int plain_ok) {
  return open_sess_from(s, mode, host, ca, plain_ok, NULL);
}

static void login_sess(sess *s) {
  res x = {0};
  assert_int_equal(ni_imap_login(s->c, g_user, g_pass, done_cb, &x), 0);
  if (wait_res(&x) != 0) fail_msg("login failed: %s", ni_imap_errstr(s->c));
  assert_true(ni_imap_is_authenticated(s->c));
  /* Capabilities were re-read after login: Dovecot adds IDLE and more. */
  assert_true(ni_imap_has_cap(s->c, "IDLE"));
  assert_true(ni_imap_has_cap(s->c, "UIDPLUS"));
}

static void close_sess(sess *s) {
  if (!s->c) return;
  if (!ni_imap_is_ended(s->c)) {
    res x = {0};
    if (ni_imap_logout(s->c, done_cb, &x) == 0) wait_res(&x);
  }
  ni_imap_free(s->c);
  s->c = NULL;
  uv_run(&g_loop, UV_RUN_NOWAIT);
}

static void login_case(ni_tls_mode mode, int want_tls) {
  sess s;
  assert_int_equal(open_sess(&s, mode, g_host, g_ca, mode == NI_TLS_NONE), 0);
  assert_int_equal(ni_imap_is_tls(s.c), want_tls);
  login_sess(&s);
  close_sess(&s);
}

static void test_login_plain(void **state) {
  (void)state;
  login_case(NI_TLS_NONE, 0);
}

static void test_login_starttls(void **state) {
  (void)state;
  login_case(NI_TLS_STARTTLS, 1);
}

static void test_login_imaps(void **state) {
  (void)state;
  login_case(NI_TLS_IMAPS, 1);
}

static void test_plaintext_refused(void **state) {
  (void)state;
  sess s;
  assert_int_equal(open_sess(&s, NI_TLS_NONE, g_host, g_ca, 0), 0);
  res x = {0};
  assert_int_equal(ni_imap_login(s.c, g_user, g_pass, done_cb, &x), NI_EPLAINTEXT);
  close_sess(&s);
}

static void test_bad_password(void **state) {
  (void)state;
  sess s;
  assert_int_equal(open_sess(&s, NI_TLS_IMAPS, g_host, g_ca, 0), 0);
  res x = {0};
  assert_int_equal(ni_imap_login(s.c, g_user, "not-the-password", done_cb, &x), 0);
  assert_int_equal(wait_res(&x), NI_EAUTH);
  assert_non_null(strstr(ni_imap_errstr(s.c), "login refused"));
  assert_null(strstr(ni_imap_errstr(s.c), "not-the-password"));
  close_sess(&s);
}

static void cert_refused(ni_tls_mode mode, const char *host, const char *ca, const char *why) {
  sess s;
  int r = open_sess(&s, mode, host, ca, 0);
  if (r != NI_ECERT || !strstr(ni_imap_errstr(s.c), why))
    fail_msg("want NI_ECERT with '%s', got %s: %s", why, ni_err_name(r), ni_imap_errstr(s.c));
  close_sess(&s);
}

static void test_other_ca(void **state) {
  (void)state;
  char other[512];
  snprintf(other, sizeof other, "%s/other-ca.pem", g_tmp);
  cert_refused(NI_TLS_IMAPS, g_host, other, "unable to get local issuer certificate");
  cert_refused(NI_TLS_STARTTLS, g_host, other, "unable to get local issuer certificate");
}

static void test_name_mismatch(void **state) {
  (void)state;
  if (!*g_mismatch) skip(); /* no second name for 127.0.0.1 on this machine */
  cert_refused(NI_TLS_IMAPS, g_mismatch, g_ca, "mismatch");
}

static void test_idle_exists(void **state) {
  (void)state;
  char box[64];
  snprintf(box, sizeof box, "natidle-idle-%ld", (long)getpid());
  sess a, b;
  assert_int_equal(open_sess(&a, NI_TLS_IMAPS, g_host, g_ca, 0), 0);
  login_sess(&a);
  assert_int_equal(open_sess(&b, NI_TLS_IMAPS, g_host, g_ca, 0), 0);
  login_sess(&b);
  res x = {0};
  assert_int_equal(ni_imap_create(b.c, box, done_cb, &x), 0);
  assert_int_equal(wait_res(&x), 0);
  memset(&x, 0, sizeof x);
  assert_int_equal(ni_imap_select(a.c, box, 0, done_cb, &x), 0);
  assert_int_equal(wait_res(&x), 0);
  assert_int_equal(a.exists, 0);

  res idle = {0};
  int idling = 0;
  assert_int_equal(ni_imap_idle(a.c, NULL, done_cb, &idle), 0);
  /* Wait for the "+": ni_imap_is_idling() turns true. */
  ni_ms t0 = ni_imap_now();
  while (!ni_imap_is_idling(a.c) && ni_imap_now() - t0 < STEP_MS)
    uv_run(&g_loop, UV_RUN_ONCE);
  idling = ni_imap_is_idling(a.c);
  assert_true(idling);

  static const char msg[] = "From: a@example.org\r\nSubject: natidle idle test\r\n"
                            "X-Natidle-Probe: test\r\n\r\nhello\r\n";
  memset(&x, 0, sizeof x);
  uint64_t rx_before = ni_imap_bytes_in(a.c);
  assert_int_equal(ni_imap_append(b.c, box, "(\\Seen)", msg, sizeof msg - 1, done_cb, &x), 0);
  assert_int_equal(wait_res(&x), 0);
  t0 = ni_imap_now();
  while (a.exists == 0 && ni_imap_now() - t0 < STEP_MS)
    uv_run(&g_loop, UV_RUN_ONCE);
  assert_int_equal(a.exists, 1);
  assert_true(ni_imap_bytes_in(a.c) > rx_before);
  assert_int_equal(ni_imap_idle_done(a.c), 0);
  assert_int_equal(wait_res(&idle), 0);
  assert_false(ni_imap_is_idling(a.c));

  /* NOTIFY SET is accepted when advertised (Dovecot does after login). */
  if (ni_imap_has_cap(a.c, "NOTIFY")) {
    memset(&x, 0, sizeof x);
    assert_int_equal(
        ni_imap_notify_set(a.c, "(selected (MessageNew (uid) MessageExpunge))", done_cb, &x), 0);
    if (wait_res(&x) != 0) fail_msg("NOTIFY SET refused: %s", x.text);
    memset(&x, 0, sizeof x);
    assert_int_equal(ni_imap_notify_none(a.c, done_cb, &x), 0);
    assert_int_equal(wait_res(&x), 0);
  } else {
    assert_int_equal(ni_imap_notify_none(a.c, done_cb, &x), NI_ENOCAP);
  }

  memset(&x, 0, sizeof x);
  assert_int_equal(ni_imap_status(b.c, box, "(MESSAGES UIDNEXT)", done_cb, &x), 0);
  assert_int_equal(wait_res(&x), 0);
  memset(&x, 0, sizeof x);
  assert_int_equal(ni_imap_uid_search(a.c, "ALL", done_cb, &x), 0);
  assert_int_equal(wait_res(&x), 0);
  memset(&x, 0, sizeof x);
  assert_int_equal(ni_imap_uid_fetch(a.c, "1:*", "(UID FLAGS ENVELOPE)", done_cb, &x), 0);
  assert_int_equal(wait_res(&x), 0);
  memset(&x, 0, sizeof x);
  assert_int_equal(ni_imap_uid_store(a.c, "1:*", "+FLAGS.SILENT", "(\\Deleted)", done_cb, &x), 0);
  assert_int_equal(wait_res(&x), 0);
  memset(&x, 0, sizeof x);
  assert_int_equal(ni_imap_uid_expunge(a.c, "1:*", done_cb, &x), 0);
  assert_int_equal(wait_res(&x), 0);
  close_sess(&a);
  memset(&x, 0, sizeof x);
  assert_int_equal(ni_imap_delete(b.c, box, done_cb, &x), 0);
  assert_int_equal(wait_res(&x), 0);
  close_sess(&b);
}

/* Run "VERB <name as a literal>" through the generic command path. */
static int literal_cmd(sess *s, const char *verb, const char *name) {
  ni_cmd *cmd = ni_cmd_new(verb);
  assert_non_null(cmd);
  assert_int_equal(ni_cmd_literal(cmd, name, strlen(name)), 0);
  res x = {0};
  assert_int_equal(ni_imap_cmd(s->c, cmd, done_cb, &x), 0);
  return wait_res(&x);
}

static int list_count(sess *s, const char *needle) {
  s->list_hits = 0;
  s->list_needle = needle;
  res x = {0};
  assert_int_equal(ni_imap_list(s->c, "", "natidle-name-*", done_cb, &x), 0);
  assert_int_equal(wait_res(&x), 0);
  s->list_needle = NULL;
  return s->list_hits;
}

static void test_mailbox_names(void **state) {
  (void)state;
  sess s;
  assert_int_equal(open_sess(&s, NI_TLS_STARTTLS, g_host, g_ca, 0), 0);
  login_sess(&s);
  /* Quote, space and a modified UTF-7 "é" ("&AOk-"), sent as a literal. */
  char name[96];
  snprintf(name, sizeof name, "natidle-name-%ld \"q\" caf&AOk-", (long)getpid());
  assert_int_equal(literal_cmd(&s, "CREATE", name), 0);
  assert_int_equal(list_count(&s, "caf&AOk-"), 1);
  assert_int_equal(literal_cmd(&s, "DELETE", name), 0);
  assert_int_equal(list_count(&s, "caf&AOk-"), 0);
  res x = {0};
  /* The helpers take UTF-8 and send modified UTF-7: the same mailbox. */
  char utf8[96];
  snprintf(utf8, sizeof utf8, "natidle-name-%ld \"q\" caf\xc3\xa9", (long)getpid());
  memset(&x, 0, sizeof x);
  assert_int_equal(ni_imap_create(s.c, utf8, done_cb, &x), 0);
  assert_int_equal(wait_res(&x), 0);
  assert_int_equal(list_count(&s, "caf&AOk-"), 1);
  memset(&x, 0, sizeof x);
  assert_int_equal(ni_imap_delete(s.c, utf8, done_cb, &x), 0);
  assert_int_equal(wait_res(&x), 0);
  assert_int_equal(list_count(&s, "caf&AOk-"), 0);
  /* Raw 8-bit through the generic path goes out as a literal; Dovecot
   * without UTF8=ACCEPT refuses it with NO and the connection stays usable. */
  assert_int_equal(literal_cmd(&s, "CREATE", utf8), NI_ENO);
  memset(&x, 0, sizeof x);
  assert_int_equal(ni_imap_noop(s.c, done_cb, &x), 0);
  assert_int_equal(wait_res(&x), 0);
  close_sess(&s);
}

/* Heap held by idle TLS sessions (after login, IDLE running).  The goal is
 * well under 64 KiB each; glibc's mallinfo2 sees only the real allocator, so
 * the check is skipped when a sanitizer replaces it (arena stays 0). */
static void test_idle_session_memory(void **state) {
  (void)state;
  enum { N = 8 };
  static sess s[N];
  /* One session first, so shared state (the CA store) is not counted. */
  sess warm;
  assert_int_equal(open_sess(&warm, NI_TLS_IMAPS, g_host, g_ca, 0), 0);
  login_sess(&warm);
  struct mallinfo2 m0 = mallinfo2();
  for (int i = 0; i < N; i++) {
    assert_int_equal(open_sess(&s[i], NI_TLS_IMAPS, g_host, g_ca, 0), 0);
    login_sess(&s[i]);
    res x = {0};
    assert_int_equal(ni_imap_select(s[i].c, "INBOX", 1, done_cb, &x), 0);
    assert_int_equal(wait_res(&x), 0);
    assert_int_equal(ni_imap_idle(s[i].c, NULL, done_cb, &x), 0);
    ni_ms t0 = ni_imap_now();
    while (!ni_imap_is_idling(s[i].c) && ni_imap_now() - t0 < STEP_MS)
      uv_run(&g_loop, UV_RUN_ONCE);
    assert_true(ni_imap_is_idling(s[i].c));
  }
  struct mallinfo2 m1 = mallinfo2();
  if (m0.arena > 0 && m1.uordblks > m0.uordblks) {
    size_t per = (m1.uordblks - m0.uordblks) / N;
    printf("# heap per idle IMAPS session: %zu bytes\n", per);
    assert_true(per < 64 * 1024);
  }
  for (int i = 0; i < N; i++) {
    ni_imap_free(s[i].c); /* closes without DONE/LOGOUT; callbacks dropped */
    s[i].c = NULL;
  }
  close_sess(&warm);
}

/* ---- OAuth2 (Dovecot's oauth2 passdb, JWTs checked locally) ---- */

/* Read the token named name (valid, expired, badsig) into buf. */
static size_t read_token(const char *name, char *buf, size_t cap) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", g_token_dir, name);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  size_t n = fread(buf, 1, cap - 1, f);
  fclose(f);
  assert_true(n > 0 && n < cap - 1);
  buf[n] = '\0';
  return n;
}

/* Start an OAuth2 login with token name and wait for it; returns its
 * status.  The token is wiped from memory afterwards, and neither it nor its
 * signature may show in the trace or the error text. */
static int oauth_login(sess *s, const char *name, ni_oauth_mech mech) {
  char tok[2048];
  size_t n = read_token(name, tok, sizeof tok);
  res x = {0};
  assert_int_equal(ni_imap_authenticate_oauth2(s->c, g_user, tok, n, mech, done_cb, &x), 0);
  int st = wait_res(&x);
  const char *sig = strrchr(tok, '.');
  assert_non_null(sig);
  assert_null(strstr(s->trace, sig + 1));
  assert_null(strstr(ni_imap_errstr(s->c), sig + 1));
  memset(tok, 0, sizeof tok);
  return st;
}

/* A valid token logs in, with the mechanism chosen, over TLS; from the
 * address the server offers no SASL-IR, the client waits for the "+". */
static void oauth_ok(ni_tls_mode mode, const char *from, ni_oauth_mech mech, const char *label) {
  sess s;
  assert_int_equal(open_sess_from(&s, mode, g_host, g_ca, 0, from), 0);
  assert_true(ni_imap_is_tls(s.c));
  assert_int_equal(ni_imap_has_cap(s.c, "SASL-IR"), from == NULL);
  size_t before = s.trace_n;
  if (oauth_login(&s, "valid", mech) != 0) fail_msg("OAuth2 login failed: %s", ni_imap_errstr(s.c));
  assert_true(ni_imap_is_authenticated(s.c));
  assert_true(ni_imap_has_cap(s.c, "IDLE"));
  assert_int_equal(ni_imap_oauth_refusal(s.c, NULL), NI_OAUTH_NOT_REFUSED);
  const char *sent = strstr(s.trace + before, label);
  if (!sent) fail_msg("'%s' not in the trace:\n%s", label, s.trace + before);
  /* An empty "+" challenge came before the response exactly when there
   * was no SASL-IR. */
  assert_int_equal(strstr(sent, "\n<+") != NULL, from != NULL);
  res x = {0};
  assert_int_equal(ni_imap_noop(s.c, done_cb, &x), 0);
  assert_int_equal(wait_res(&x), 0);
  close_sess(&s);
}

static void test_oauth2_login(void **state) {
  (void)state;
  oauth_ok(NI_TLS_IMAPS, NULL, NI_OAUTH_AUTO, "AUTHENTICATE OAUTHBEARER ***");
  oauth_ok(NI_TLS_IMAPS, NULL, NI_OAUTH_XOAUTH2, "AUTHENTICATE XOAUTH2 ***");
  oauth_ok(NI_TLS_STARTTLS, g_no_sasl_ir, NI_OAUTH_OAUTHBEARER, "AUTHENTICATE OAUTHBEARER ***");
  oauth_ok(NI_TLS_STARTTLS, g_no_sasl_ir, NI_OAUTH_XOAUTH2, "AUTHENTICATE XOAUTH2 ***");
}

/* Without TLS the token is refused before a byte is sent, unless plaintext
 * was allowed by name. */
static void test_oauth2_plaintext(void **state) {
  (void)state;
  sess s;
  char tok[2048];
  size_t n = read_token("valid", tok, sizeof tok);
  assert_int_equal(open_sess(&s, NI_TLS_NONE, g_host, g_ca, 0), 0);
  uint64_t out = ni_imap_bytes_out(s.c);
  res x = {0};
  assert_int_equal(ni_imap_authenticate_oauth2(s.c, g_user, tok, n, NI_OAUTH_AUTO, done_cb, &x),
                   NI_EPLAINTEXT);
  memset(tok, 0, sizeof tok);
  assert_int_equal(ni_imap_bytes_out(s.c), out);
  assert_non_null(strstr(ni_imap_errstr(s.c), "without TLS"));
  close_sess(&s);
  assert_int_equal(open_sess(&s, NI_TLS_NONE, g_host, g_ca, 1), 0);
  assert_int_equal(oauth_login(&s, "valid", NI_OAUTH_AUTO), 0);
  close_sess(&s);
}

/* Refused tokens: expired, or signed with a key the server does not hold.
 * Each case connects from a loopback address of its own, so Dovecot's
 * growing delay after failed logins from one address stays at its first
 * step.  After a refusal the session is still usable: a fresh token logs
 * in on the same connection (what a client does after refreshing). */
static void oauth_refused(const char *token, ni_oauth_mech mech, const char *from,
                          const char *want_status, int retry) {
  sess s;
  const char *status = NULL;
  assert_int_equal(open_sess_from(&s, NI_TLS_IMAPS, g_host, g_ca, 0, from), 0);
  assert_int_equal(oauth_login(&s, token, mech), NI_EAUTH);
  assert_int_equal(ni_imap_oauth_refusal(s.c, &status), NI_OAUTH_TOKEN_REFUSED);
  assert_string_equal(status, want_status);
  assert_non_null(strstr(ni_imap_errstr(s.c), "token refused"));
  assert_false(ni_imap_is_authenticated(s.c));
  if (retry) {
    assert_int_equal(oauth_login(&s, "valid", mech), 0);
    assert_true(ni_imap_is_authenticated(s.c));
    assert_int_equal(ni_imap_oauth_refusal(s.c, NULL), NI_OAUTH_NOT_REFUSED);
  }
  close_sess(&s);
}

static void test_oauth2_refused(void **state) {
  (void)state;
  oauth_refused("expired", NI_OAUTH_OAUTHBEARER, "127.0.0.21", "invalid_token", 1);
  oauth_refused("expired", NI_OAUTH_XOAUTH2, "127.0.0.22", "401", 1);
  oauth_refused("badsig", NI_OAUTH_OAUTHBEARER, "127.0.0.23", "invalid_token", 0);
  /* The error challenge after a response sent on "+" (no SASL-IR). */
  oauth_refused("badsig", NI_OAUTH_XOAUTH2, g_no_sasl_ir, "401", 0);
}

/* ---- NAMESPACE ---- */

/* Log in with the password and learn the personal namespace. */
static void namespace_of(sess *s, const char *from, char *prefix, size_t cap, char *delim) {
  const char *p = NULL;
  res x = {0};
  assert_int_equal(open_sess_from(s, NI_TLS_IMAPS, g_host, g_ca, 0, from), 0);
  assert_int_equal(ni_imap_login(s->c, g_user, g_pass, done_cb, &x), 0);
  assert_int_equal(wait_res(&x), 0);
  memset(&x, 0, sizeof x);
  assert_int_equal(ni_imap_namespace(s->c, done_cb, &x), 0);
  assert_int_equal(wait_res(&x), 0);
  assert_int_equal(ni_imap_personal_namespace(s->c, &p, delim), 0);
  snprintf(prefix, cap, "%s", p);
}

/* NAMESPACE where the server offers it, LIST "" "" where it does not (the
 * short capability list): both name the same personal namespace. */
static void test_namespace(void **state) {
  (void)state;
  sess a, b;
  char pa[64], pb[64], da = 'x', db = 'y';
  namespace_of(&a, NULL, pa, sizeof pa, &da);
  assert_true(ni_imap_has_cap(a.c, "NAMESPACE"));
  assert_int_equal(a.namespaces, 1);
  namespace_of(&b, g_no_sasl_ir, pb, sizeof pb, &db);
  assert_false(ni_imap_has_cap(b.c, "NAMESPACE"));
  assert_int_equal(b.namespaces, 0);
  assert_non_null(strstr(b.trace, "LIST \"\" \"\""));
  printf("# personal namespace: prefix \"%s\", delimiter '%c'\n", pa, da ? da : '0');
  assert_string_equal(pa, "");
  assert_string_equal(pb, pa);
  assert_int_equal(db, da);
  assert_true(da == '.' || da == '/');
  close_sess(&a);
  close_sess(&b);
}

static const char *env(const char *k) {
  const char *v = getenv(k);
  if (!v || !*v) {
    fprintf(stderr, "test_dovecot: %s not set (run tests/test_dovecot.sh)\n", k);
    exit(2);
  }
  return v;
}

int main(void) {
  g_host = env("NI_DV_HOST");
  g_ca = env("NI_DV_CA_FILE");
  g_user = env("NI_DV_USER");
  g_tmp = env("NI_DV_TMP");
  g_token_dir = env("NI_DV_TOKEN_DIR");
  g_no_sasl_ir = env("NI_DV_NO_SASL_IR_FROM");
  g_mismatch = getenv("NI_DV_MISMATCH_HOST");
  if (!g_mismatch) g_mismatch = "";
  g_port_imap = (uint16_t)atoi(env("NI_DV_PORT_IMAP"));
  g_port_imaps = (uint16_t)atoi(env("NI_DV_PORT_IMAPS"));
  FILE *f = fopen(env("NI_DV_PASSWORD_FILE"), "r");
  if (!f || !fgets(g_pass, sizeof g_pass, f)) {
    fprintf(stderr, "test_dovecot: cannot read the password file\n");
    return 2;
  }
  fclose(f);
  g_pass[strcspn(g_pass, "\r\n")] = '\0';
  if (fs_make_certs(g_tmp) != 0) {
    fprintf(stderr, "test_dovecot: cannot make the other CA\n");
    return 2;
  }
  uv_loop_init(&g_loop);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_login_plain),   cmocka_unit_test(test_login_starttls),
      cmocka_unit_test(test_login_imaps),   cmocka_unit_test(test_plaintext_refused),
      cmocka_unit_test(test_bad_password),  cmocka_unit_test(test_other_ca),
      cmocka_unit_test(test_name_mismatch), cmocka_unit_test(test_idle_exists),
      cmocka_unit_test(test_mailbox_names), cmocka_unit_test(test_idle_session_memory),
      cmocka_unit_test(test_oauth2_login),  cmocka_unit_test(test_oauth2_plaintext),
      cmocka_unit_test(test_namespace),     cmocka_unit_test(test_oauth2_refused),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  uv_run(&g_loop, UV_RUN_DEFAULT);
  uv_loop_close(&g_loop);
  memset(g_pass, 0, sizeof g_pass);
  return rc;
}
