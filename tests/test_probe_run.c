/* Tests of the probe engine's contract with the tool (probe/prober.h): it
 * reports through its event callback and prints nothing, it returns an
 * error code and how the run ended, and the tool maps those to its exit
 * codes (cli/exit.c).  Loopback only: the server is a port where nobody
 * listens. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/exit.h"
#include "natidle/common.h"
#include "natidle/conn.h"
#include "probe/prober.h"

/* What the callback saw. */
typedef struct seen {
  unsigned notes, errors, results, cleanups, statuses;
  char error[512];
} seen;

static void on_event(const ni_probe_event *ev, void *arg) {
  seen *s = arg;
  switch (ev->kind) {
  case NI_PROBE_EV_NOTE:
    s->notes++;
    break;
  case NI_PROBE_EV_STATUS:
    s->statuses++;
    break;
  case NI_PROBE_EV_ERROR:
    s->errors++;
    snprintf(s->error, sizeof s->error, "%s", ev->text);
    break;
  case NI_PROBE_EV_RESULT:
    s->results++;
    break;
  case NI_PROBE_EV_CLEANUP:
    s->cleanups++;
    break;
  }
}

/* A loopback port that refuses connections: bound, never listening.
 * Returns the socket (close it when done) and the port in *port. */
static int refusing_port(unsigned *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof a;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

static const unsigned char no_password[1] = {0};

static void opts_for(ni_probe_opts *o, unsigned port) {
  memset(o, 0, sizeof *o);
  o->server = "127.0.0.1";
  o->port = port;
  o->tls = NI_TLS_NONE;
  o->allow_plaintext = 1;
  o->user = "nobody-in-particular";
  o->pw_masked = no_password;
  o->pw_key = no_password;
  o->min_s = 2;
  o->max_s = 10;
  o->sessions = 2;
  o->max_checks = 10;
  o->network = "";
  o->no_capture = 1;
  o->direction = NI_PDIR_INBOUND;
}

/* Run the engine with stdout and stderr sent to a file; returns its rc and
 * asserts that nothing was printed. */
static int run_silently(const ni_probe_opts *o, seen *s, ni_probe_end *end) {
  char path[] = "/tmp/test_probe_run.out.XXXXXX";
  int out = mkstemp(path);
  assert_true(out >= 0);
  unlink(path);
  fflush(stdout);
  fflush(stderr);
  int saved1 = dup(1), saved2 = dup(2);
  dup2(out, 1);
  dup2(out, 2);
  memset(s, 0, sizeof *s);
  ni_probe_hooks h = {on_event, s, 0};
  int rc = ni__probe_run(o, &h, end);
  fflush(stdout);
  fflush(stderr);
  dup2(saved1, 1);
  dup2(saved2, 2);
  close(saved1);
  close(saved2);
  assert_int_equal(lseek(out, 0, SEEK_END), 0);
  close(out);
  return rc;
}

static void test_connect_refused(void **state) {
  (void)state;
  unsigned port;
  int fd = refusing_port(&port);
  char dir[] = "/tmp/test_probe_run.XXXXXX", csv[64];
  assert_non_null(mkdtemp(dir));
  snprintf(csv, sizeof csv, "%s/obs.csv", dir);
  ni_probe_opts o;
  opts_for(&o, port);
  o.csv_path = csv;
  seen s;
  ni_probe_end end;
  int rc = run_silently(&o, &s, &end);
  assert_true(rc < 0);
  assert_int_equal(ni__probe_exit_code(rc, end), NI_EXIT_NETWORK);
  assert_int_equal(s.errors, 1);
  char want[64];
  snprintf(want, sizeof want, "cannot connect to 127.0.0.1 port %u: ", port);
  assert_memory_equal(s.error, want, strlen(want));
  assert_int_equal(s.results, 0);
  assert_int_equal(s.statuses, 0);
  /* The same with --cleanup: no result, no cleanup count. */
  o.cleanup = 1;
  o.csv_path = NULL;
  rc = run_silently(&o, &s, &end);
  assert_int_equal(ni__probe_exit_code(rc, end), NI_EXIT_NETWORK);
  assert_int_equal(s.errors, 1);
  assert_int_equal(s.cleanups, 0);
  close(fd);
  unlink(csv);
  rmdir(dir);
}

static void test_unusable_csv(void **state) {
  (void)state;
  ni_probe_opts o;
  opts_for(&o, 1);
  o.csv_path = "/nonexistent-natidle-dir/obs.csv";
  seen s;
  ni_probe_end end;
  int rc = run_silently(&o, &s, &end);
  assert_int_equal(rc, NI_EUSAGE);
  assert_int_equal(ni__probe_exit_code(rc, end), NI_EXIT_USAGE);
  assert_int_equal(s.errors, 1);
  assert_non_null(strstr(s.error, "cannot open /nonexistent-natidle-dir/obs.csv: "));
}

static void test_exit_codes(void **state) {
  (void)state;
  assert_int_equal(ni__probe_exit_code(0, NI_PROBE_END_VERDICT), NI_EXIT_OK);
  assert_int_equal(ni__probe_exit_code(0, NI_PROBE_END_CLEANED), NI_EXIT_OK);
  assert_int_equal(ni__probe_exit_code(0, NI_PROBE_END_INCONCLUSIVE), NI_EXIT_INCONCLUSIVE);
  assert_int_equal(ni__probe_exit_code(0, NI_PROBE_END_INTERRUPTED), NI_EXIT_INTERRUPTED);
  assert_int_equal(ni__probe_exit_code(0, NI_PROBE_END_SAFETY), NI_EXIT_SAFETY);
  /* An error wins over how the run ended. */
  assert_int_equal(ni__probe_exit_code(NI_EAUTH, NI_PROBE_END_INTERRUPTED), NI_EXIT_AUTH);
  assert_int_equal(ni__probe_exit_code(NI_EMISMATCH, NI_PROBE_END_VERDICT), NI_EXIT_SAFETY);
  assert_int_equal(ni__probe_exit_code(-ENOMEM, NI_PROBE_END_VERDICT), NI_EXIT_FAILURE);
  /* The server's doing is never "unexpected failure": a refused write, a
   * server that does not push, a server that breaks the protocol. */
  assert_int_equal(ni__probe_exit_code(0, NI_PROBE_END_NO_PUSH), NI_EXIT_NO_PUSH);
  assert_int_equal(ni__probe_exit_code(NI_ENOPUSH, NI_PROBE_END_VERDICT), NI_EXIT_NO_PUSH);
  assert_int_equal(ni__probe_exit_code(NI_EREFUSED, NI_PROBE_END_VERDICT), NI_EXIT_REFUSED);
  assert_int_equal(ni__probe_exit_code(NI_EPARSE, NI_PROBE_END_VERDICT), NI_EXIT_NETWORK);
  assert_int_equal(ni__probe_exit_code(NI_ELIMIT, NI_PROBE_END_VERDICT), NI_EXIT_NETWORK);
  assert_int_equal(NI_EXIT_NO_PUSH, 9);
  assert_int_equal(NI_EXIT_REFUSED, 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_connect_refused),
      cmocka_unit_test(test_unusable_csv),
      cmocka_unit_test(test_exit_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
