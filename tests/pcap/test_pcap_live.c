/*
 * tests/pcap/test_pcap_live.c - the capture for real, on loopback (needs
 * root or CAP_NET_RAW; label lab): open on "auto" toward a loopback
 * listener, drop privileges, then watch a connection.  The filter changes
 * after the drop still work, the evidence sees the silence with the
 * application's clock, and the --pcap-out file holds the watched
 * connection's packets and nothing of another connection to the same
 * server.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "natidle/conn.h"
#include "probe/pcap.h"

/* A directory the test's process can still use after it became nobody;
 * made and removed by the parent process, which keeps its privileges. */
static char dir[] = "/tmp/natidle-pcap-live-XXXXXX";

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static uint16_t port_of(int fd, int peer) {
  struct sockaddr_in a;
  socklen_t l = sizeof a;
  int rc = peer ? getpeername(fd, (struct sockaddr *)&a, &l)
                : getsockname(fd, (struct sockaddr *)&a, &l);
  assert_int_equal(rc, 0);
  return ntohs(a.sin_port);
}

/* A connected pair: client side in *cli, server side in *srv. */
static void connect_pair(int lfd, const struct sockaddr_in *to, int *cli, int *srv) {
  *cli = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(*cli >= 0);
  assert_int_equal(connect(*cli, (const struct sockaddr *)to, sizeof *to), 0);
  *srv = accept(lfd, NULL, NULL);
  assert_true(*srv >= 0);
}

static void say(int fd, const char *s) {
  assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void test_live_loopback(void **state) {
  if (geteuid() != 0) skip();
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(lfd >= 0);
  struct sockaddr_in srv;
  memset(&srv, 0, sizeof srv);
  srv.sin_family = AF_INET;
  srv.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(lfd, (struct sockaddr *)&srv, sizeof srv), 0);
  assert_int_equal(listen(lfd, 4), 0);
  srv.sin_port = htons(port_of(lfd, 0));

  char out[256], err[256];
  snprintf(out, sizeof out, "%s/probe.pcap", dir);
  ni_pcap *p = NULL;
  int rc = ni__pcap_open(&p, "auto", (struct sockaddr *)&srv, out, err, sizeof err);
  if (rc != 0) fprintf(stderr, "open: %s\n", err);
  assert_int_equal(rc, 0);
  assert_string_equal(ni__pcap_iface(p), "lo");
  assert_true(ni__pcap_fd(p) >= 0);
  /* From here on the process is "nobody": what follows must work without
   * privileges. */
  rc = ni__pcap_drop_privileges(NULL, err, sizeof err);
  if (rc != 0) fprintf(stderr, "drop: %s\n", err);
  assert_int_equal(rc, 0);
  assert_true(geteuid() != 0);

  int a, as, b, bs;
  connect_pair(lfd, &srv, &a, &as);
  connect_pair(lfd, &srv, &b, &bs);
  uint16_t pa = port_of(a, 0), pb = port_of(b, 0);
  assert_int_equal(ni__pcap_watch(p, NULL, pa), 0);
  sleep_ms(20);
  say(a, "A1 IDLE\r\n");
  say(b, "B1 NOOP\r\n");
  sleep_ms(20);
  say(as, "+ idling\r\n");
  say(bs, "B1 OK\r\n");
  sleep_ms(50);
  ni_ms silence = ni_imap_now();
  ni__pcap_silence_begin(p, pa, silence);
  /* Traffic on the unwatched connection during the silence. */
  for (int i = 0; i < 5; i++) {
    sleep_ms(60);
    say(b, "B2 NOOP\r\n");
  }
  ni_ms check = ni_imap_now();
  say(as, "* 1 EXISTS\r\n");
  sleep_ms(50);
  char buf[512];
  double wire = -1;
  assert_int_equal(ni__pcap_evidence(p, pa, check, 0, buf, sizeof buf, &wire), 0);
  fprintf(stderr, "evidence: %s (app silence %.3f s)\n", buf, (double)(check - silence) / 1000.0);
  /* The silence on the wire started with the client's ACK of "+ idling"
   * at the latest, and ended with the push: close to the application's. */
  double app = (double)(check - silence) / 1000.0;
  assert_true(wire > 0);
  assert_true(wire >= app - 0.02 && wire <= app + 0.15);
  assert_non_null(strstr(buf, "done_rexmit=0"));
  assert_null(strstr(buf, "refresh="));
  /* The unwatched port has no evidence. */
  assert_int_equal(ni__pcap_evidence(p, pb, check, 0, buf, sizeof buf, NULL), -ENOENT);
  unsigned recv = 0, drop = 0;
  ni__pcap_stats(p, &recv, &drop);
  assert_true(recv >= 4);
  assert_int_equal(drop, 0);
  ni__pcap_unwatch(p, pa);
  ni__pcap_close(p);
  close(a);
  close(as);
  close(b);
  close(bs);
  close(lfd);

  /* The file: only the watched connection. */
  char eb[PCAP_ERRBUF_SIZE];
  pcap_t *r = pcap_open_offline(out, eb);
  assert_non_null(r);
  struct pcap_pkthdr *h;
  const u_char *data;
  unsigned n = 0;
  while (pcap_next_ex(r, &h, &data) == 1) {
    ni__pkt k;
    assert_int_equal(ni__pkt_parse(pcap_datalink(r), data, h->caplen, h->len, &k), 0);
    assert_true((k.sport == pa && k.dport == ntohs(srv.sin_port)) ||
                (k.dport == pa && k.sport == ntohs(srv.sin_port)));
    n++;
  }
  pcap_close(r);
  assert_true(n >= 4);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_live_loopback)};
  if (!mkdtemp(dir) || chmod(dir, 0755) != 0) {
    perror("mkdtemp");
    return 1;
  }
  /* The test drops the privileges of its process: run it in a child. */
  pid_t pid = fork();
  if (pid == 0) _exit(cmocka_run_group_tests(tests, NULL, NULL));
  int st = 1;
  if (pid < 0 || waitpid(pid, &st, 0) != pid) st = 1;
  char path[300];
  snprintf(path, sizeof path, "%s/probe.pcap", dir);
  unlink(path);
  rmdir(dir);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
