/*
 * tests/conn_harness.c - runs the IMAP client of natidle against the
 * scripted fake server (fakeserver.c) for the connection's tests: the
 * callbacks that record what happened in an ev, a guard against a test that
 * hangs, and the certificates made once for the whole run.
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

/* Certificates made once for the whole run. */
static char g_dir[256];

/* memmem is a GNU extension; this is all the tests need. */
const char *find_bytes(const char *h, size_t hn, const char *needle, size_t nn) {
  for (size_t i = 0; i + nn <= hn; i++)
    if (memcmp(h + i, needle, nn) == 0) return h + i;
  return NULL;
}

void on_untagged(ni_imap *c, const ni_resp *r, void *ud) {
  ev *e = ud;
  (void)c;
  e->untagged++;
  if (r->type == NI_R_EXISTS) e->exists = (int)r->number;
  if (r->type == NI_R_NAMESPACE) e->namespaces++;
  if (r->code.n && strcmp(r->code.p, "UIDNEXT") == 0) e->uidnext_seen++;
  if (find_bytes(r->raw.p, r->raw.n, "INJECTED", 8) ||
      find_bytes(r->raw.p, r->raw.n, "injected", 8))
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

void cmd_done(ni_imap *c, int status, const ni_resp *r, void *arg) {
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

void connect_done(ni_imap *c, int status, const ni_resp *r, void *arg) {
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

void run_client(const ni_imap_opts *o, ev *e) {
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

ni_imap_opts opts_for(fs *s, ni_tls_mode mode) {
  ni_imap_opts o;
  memset(&o, 0, sizeof o);
  o.host = "127.0.0.1";
  o.port = fs_port(s);
  o.tls = mode;
  o.connect_timeout_ms = 3000;
  return o;
}

void cert_path(char *out, size_t n, const char *name) {
  snprintf(out, n, "%s/%s", g_dir, name);
}

/* Start the fake server with script, run a client against it (e->then runs
 * once connected) and return the server for more checks. */
fs *run_script_tls(const fs_step *script, ni_tls_mode mode, ev *e, int allow_plaintext) {
  fs *s = fs_start(script);
  assert_non_null(s);
  ni_imap_opts o = opts_for(s, mode);
  o.allow_plaintext = allow_plaintext;
  run_client(&o, e);
  return s;
}

fs *run_script(const fs_step *script, ev *e, int allow_plaintext) {
  return run_script_tls(script, NI_TLS_NONE, e, allow_plaintext);
}

int setup_certs(void **state) {
  (void)state;
  const char *tmp = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/natidle-conn-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(g_dir) || fs_make_certs(g_dir) != 0) return -1;
  return 0;
}

int remove_certs(void **state) {
  (void)state;
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}
