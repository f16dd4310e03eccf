/*
 * tests/test_conn.c - the IMAP connection and client against a scripted fake
 * server on 127.0.0.1: faults (garbage, BYE, stall, reset, close, a huge
 * literal, a stray tag, a refused connection), NAMESPACE and its LIST
 * fallback, SELECT, IDLE, literals, certificate checks, LOGOUT, and freeing
 * from inside callbacks.  Logins and STARTTLS: test_conn_auth.c.
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

#include "conn_harness.h"
#include "fakeserver.h"
#include "natidle/conn.h"

/* ---- faults ---- */

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
  assert_non_null(find_bytes(rx, n, "INBOX {9", 8));
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
  cert_path(prefix, sizeof prefix, cert);
  cert_path(ca, sizeof ca, ca_name);
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
  cert_path(src, sizeof src, "ca.pem");
  cert_path(copy, sizeof copy, "ca-preloaded.pem");
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_bye_mid),
      cmocka_unit_test(test_reset),
      cmocka_unit_test(test_closed),
      cmocka_unit_test(test_huge_literal),
      cmocka_unit_test(test_stall),
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
      cmocka_unit_test(test_logout),
      cmocka_unit_test(test_unexpected_tag),
      cmocka_unit_test(test_refused),
  };
  return cmocka_run_group_tests(tests, setup_certs, remove_certs);
}
