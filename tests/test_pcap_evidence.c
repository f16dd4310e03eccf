/*
 * tests/test_pcap_evidence.c - the probe's packet evidence from synthetic
 * packet sequences, without capturing: wire silence, DONE retransmissions,
 * RST origin by TTL, refreshes, IPv6, connections kept apart, limits; and
 * the same read back from pcap files written with pcap_open_dead.
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
#include <unistd.h>

#include <cmocka.h>

#include "pcap_frames.h"
#include "probe/pcap.h"

/* ---- analysis ----------------------------------------------------------- */

static void feed(ni__ev *ev, const seg *s, ni_ms t) {
  uint8_t b[256];
  size_t n = build_frame(b, DLT_EN10MB, s);
  ni__pkt k;
  assert_int_equal(ni__pkt_parse(DLT_EN10MB, b, n, n, &k), 0);
  assert_int_equal(ni__ev_packet(ev, &k, t), 0);
}

/* Client and server sequence numbers of the synthetic connections. */
#define CSEQ 1000u
#define SSEQ 5000u
#define S0 100000u /* the application's silence start */

/* The opening of a silence: "+ idling" from the server just before the
 * application notices, the client's delayed ACK just after. */
static void open_silence(ni__ev *ev) {
  seg idle = out_seg(CSEQ - 12, 12, NI_TCP_ACK | NI_TCP_PSH);
  feed(ev, &idle, S0 - 3);
  seg plus = in_seg(SSEQ - 12, 12, NI_TCP_ACK | NI_TCP_PSH, 63);
  feed(ev, &plus, S0 - 1);
  ni__ev_silence_begin(ev, CLI_PORT, S0);
  seg ack = out_seg(CSEQ, 0, NI_TCP_ACK);
  feed(ev, &ack, S0 + 40);
}

static void test_alive_push(void **state) {
  ni__ev *ev = ev_lab();
  open_silence(ev);
  ni_ms check = S0 + 37000;
  seg exists = in_seg(SSEQ, 30, NI_TCP_ACK | NI_TCP_PSH, 63);
  feed(ev, &exists, check + 6);
  seg done = out_seg(CSEQ, 8, NI_TCP_ACK | NI_TCP_PSH);
  feed(ev, &done, check + 7);
  ni__evidence e;
  assert_int_equal(ni__ev_analyse(ev, CLI_PORT, check, 0, &e), 0);
  assert_true(e.have_wire);
  /* From the delayed ACK to the push. */
  assert_float_equal(e.wire_silence_s, 36.966, 1e-9);
  assert_float_equal(e.last_in_rel, -0.001, 1e-9);
  assert_float_equal(e.last_out_rel, 0.040, 1e-9);
  assert_int_equal(e.done_rexmit, 0);
  assert_int_equal(e.rst, NI_RST_NONE);
  assert_int_equal(e.refreshes, 0);
  assert_int_equal(e.server_ttl, 63);
  char buf[256];
  assert_true(ni__evidence_format(&e, buf, sizeof buf) > 0);
  assert_string_equal(buf, "wire_silence=36.966 last_in=-0.001 last_out=0.040 done_rexmit=0 "
                           "server_ttl=63");
  ni__ev_free(ev);
}

/* Drop mode: the push is lost, DONE goes out and is sent again. */
static void test_done_retransmissions(void **state) {
  ni__ev *ev = ev_lab();
  open_silence(ev);
  ni_ms check = S0 + 45000, done_at = check + 2000;
  seg done = out_seg(CSEQ, 8, NI_TCP_ACK | NI_TCP_PSH);
  feed(ev, &done, done_at);
  feed(ev, &done, done_at + 210);
  feed(ev, &done, done_at + 630);
  feed(ev, &done, done_at + 1470);
  ni__evidence e;
  assert_int_equal(ni__ev_analyse(ev, CLI_PORT, check, 0, &e), 0);
  assert_int_equal(e.done_rexmit, 3);
  /* No packet of the server after the check: the silence ends at it, or
   * when the push was due. */
  assert_float_equal(e.wire_silence_s, 44.960, 1e-9);
  assert_int_equal(ni__ev_analyse(ev, CLI_PORT, check, 35, &e), 0);
  assert_float_equal(e.wire_silence_s, 44.995, 1e-9);
  assert_int_equal(e.rst, NI_RST_NONE);
  /* A check that began later sees only its own retransmissions. */
  assert_int_equal(ni__ev_analyse(ev, CLI_PORT, done_at + 300, 0, &e), 0);
  assert_int_equal(e.done_rexmit, 2);
  ni__ev_free(ev);
  /* A push that came through ends it where it passed, whatever was due. */
  ev = ev_lab();
  open_silence(ev);
  seg push = in_seg(SSEQ, 30, NI_TCP_ACK | NI_TCP_PSH, 63);
  feed(ev, &push, check + 12);
  assert_int_equal(ni__ev_analyse(ev, CLI_PORT, check, 35, &e), 0);
  assert_float_equal(e.wire_silence_s, 44.972, 1e-9);
  ni__ev_free(ev);
}

/* Sequence numbers wrap: a retransmission across 2^32 is still one. */
static void test_rexmit_wraps(void **state) {
  ni__ev *ev = ev_lab();
  seg a = out_seg(0xfffffffcu, 8, NI_TCP_ACK);
  feed(ev, &a, 10);
  ni__ev_silence_begin(ev, CLI_PORT, 10);
  seg b = out_seg(4, 8, NI_TCP_ACK);
  feed(ev, &b, 5000);
  feed(ev, &b, 5200);
  feed(ev, &a, 5400); /* the older segment again: still before nxt */
  ni__evidence e;
  assert_int_equal(ni__ev_analyse(ev, CLI_PORT, 5000, 0, &e), 0);
  assert_int_equal(e.done_rexmit, 2);
  ni__ev_free(ev);
}

static int rst_case(uint8_t rst_ttl, int server_packets, int from_client) {
  ni__ev *ev = ev_lab();
  if (server_packets) {
    open_silence(ev);
  } else {
    seg idle = out_seg(CSEQ - 12, 12, NI_TCP_ACK | NI_TCP_PSH);
    feed(ev, &idle, S0 - 3);
    ni__ev_silence_begin(ev, CLI_PORT, S0);
  }
  ni_ms check = S0 + 40000;
  seg done = out_seg(CSEQ, 8, NI_TCP_ACK | NI_TCP_PSH);
  feed(ev, &done, check + 2000);
  seg rst = from_client ? out_seg(CSEQ + 8, 0, NI_TCP_RST) : in_seg(SSEQ, 0, NI_TCP_RST, rst_ttl);
  feed(ev, &rst, check + 2001);
  ni__evidence e;
  assert_int_equal(ni__ev_analyse(ev, CLI_PORT, check, 0, &e), 0);
  if (!from_client) assert_int_equal(e.rst_ttl, rst_ttl);
  assert_float_equal(e.rst_rel, 42.001, 1e-9);
  ni__ev_free(ev);
  return e.rst;
}

static void test_rst_origin(void **state) {
  /* The lab's NAT is one hop closer than the server: 64 against 63. */
  assert_int_equal(rst_case(64, 1, 0), NI_RST_MIDDLEBOX);
  assert_int_equal(rst_case(63, 1, 0), NI_RST_SERVER);
  assert_int_equal(rst_case(64, 0, 0), NI_RST_UNKNOWN);
  assert_int_equal(rst_case(0, 1, 1), NI_RST_CLIENT);
  /* The server's RST is not mistaken for one of its own TTLs changing. */
  ni__ev *ev = ev_lab();
  open_silence(ev);
  seg rst = in_seg(SSEQ, 0, NI_TCP_RST | NI_TCP_ACK, 64);
  feed(ev, &rst, S0 + 30000);
  seg late = in_seg(SSEQ, 0, NI_TCP_RST, 64);
  feed(ev, &late, S0 + 30001);
  ni__evidence e;
  assert_int_equal(ni__ev_analyse(ev, CLI_PORT, S0 + 40000, 0, &e), 0);
  assert_int_equal(e.rst, NI_RST_MIDDLEBOX);
  assert_int_equal(e.server_ttl, 63);
  assert_int_equal(e.refreshes, 0); /* a RST kills the mapping: not a refresh */
  char buf[256];
  assert_true(ni__evidence_format(&e, buf, sizeof buf) > 0);
  assert_non_null(strstr(buf, "rst=middlebox rst_ttl=64 rst_at=30.000 server_ttl=63"));
  ni__ev_free(ev);
}

static void test_refreshes(void **state) {
  ni__ev *ev = ev_lab();
  open_silence(ev);
  /* This machine's TCP keepalive: one byte before the next, no data. */
  seg ka = out_seg(CSEQ - 1, 0, NI_TCP_ACK);
  feed(ev, &ka, S0 + 15002);
  seg ka_ack = in_seg(SSEQ, 0, NI_TCP_ACK, 63);
  feed(ev, &ka_ack, S0 + 15003);
  ni_ms check = S0 + 40000;
  ni__evidence e;
  assert_int_equal(ni__ev_analyse(ev, CLI_PORT, check, 0, &e), 0);
  assert_int_equal(e.refresh, NI_REFRESH_TCP_KEEPALIVE);
  assert_float_equal(e.refresh_rel, 15.002, 1e-9);
  assert_int_equal(e.refreshes, 2);
  /* The NAT saw only the silence since the keepalive's answer. */
  assert_float_equal(e.wire_silence_s, 24.997, 1e-9);
  char buf[256];
  assert_true(ni__evidence_format(&e, buf, sizeof buf) > 0);
  assert_non_null(strstr(buf, "refresh=tcp_keepalive@15.002 refreshes=2"));
  ni__ev_free(ev);

  /* The server's data, its keepalive, a bare ACK after the settling time. */
  struct {
    seg s;
    int kind;
  } cases[] = {
      {in_seg(SSEQ, 20, NI_TCP_ACK | NI_TCP_PSH, 63), NI_REFRESH_SERVER_DATA},
      {in_seg(SSEQ - 1, 1, NI_TCP_ACK, 63), NI_REFRESH_SERVER_TCP_KEEPALIVE},
      {out_seg(CSEQ, 0, NI_TCP_ACK), NI_REFRESH_CLIENT_ACK},
      {in_seg(SSEQ, 0, NI_TCP_ACK | NI_TCP_FIN, 63), NI_REFRESH_SERVER_FIN},
      {out_seg(CSEQ, 5, NI_TCP_ACK), NI_REFRESH_CLIENT_DATA},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ev = ev_lab();
    open_silence(ev);
    feed(ev, &cases[i].s, S0 + 61002);
    assert_int_equal(ni__ev_analyse(ev, CLI_PORT, S0 + 90000, 0, &e), 0);
    assert_int_equal(e.refresh, cases[i].kind);
    assert_float_equal(e.refresh_rel, 61.002, 1e-9);
    assert_int_equal(e.refreshes, 1);
    ni__ev_free(ev);
  }
  /* A silence that a server keepalive ended, without any check. */
  ev = ev_lab();
  open_silence(ev);
  seg still = in_seg(SSEQ, 20, NI_TCP_ACK | NI_TCP_PSH, 63);
  feed(ev, &still, S0 + 120001);
  assert_int_equal(ni__ev_analyse(ev, CLI_PORT, NI_TIME_NEVER, 0, &e), 0);
  assert_false(e.have_wire);
  assert_int_equal(e.refresh, NI_REFRESH_SERVER_DATA);
  assert_float_equal(e.refresh_rel, 120.001, 1e-9);
  assert_float_equal(e.last_in_rel, 120.001, 1e-9);
  assert_true(ni__evidence_format(&e, buf, sizeof buf) > 0);
  assert_string_equal(buf, "last_in=120.001 last_out=0.040 done_rexmit=0 server_ttl=63 "
                           "refresh=server_data@120.001 refreshes=1");
  ni__ev_free(ev);
  /* A bare ACK inside the settling time is the silence's opening. */
  ev = ev_lab();
  open_silence(ev);
  seg ack = in_seg(SSEQ, 0, NI_TCP_ACK, 63);
  feed(ev, &ack, S0 + NI_PCAP_SETTLE_MS);
  assert_int_equal(ni__ev_analyse(ev, CLI_PORT, S0 + 90000, 0, &e), 0);
  assert_int_equal(e.refreshes, 0);
  ni__ev_free(ev);
}

static void test_ipv6(void **state) {
  ni__ev *ev = ni__ev_new();
  struct sockaddr_in6 srv = sa6(LO6, SRV_PORT);
  assert_int_equal(ni__ev_watch(ev, (const struct sockaddr *)&srv, CLI_PORT), 0);
  seg plus = {AF_INET6, LO6, LO6, SRV_PORT, CLI_PORT, 10, 20, NI_TCP_ACK, 57, 12};
  feed(ev, &plus, 1000);
  ni__ev_silence_begin(ev, CLI_PORT, 1001);
  seg done = {AF_INET6, LO6, LO6, CLI_PORT, SRV_PORT, 20, 22, NI_TCP_ACK, 64, 8};
  feed(ev, &done, 31001);
  seg rst = {AF_INET6, LO6, LO6, SRV_PORT, CLI_PORT, 22, 0, NI_TCP_RST, 64, 0};
  feed(ev, &rst, 31002);
  ni__evidence e;
  assert_int_equal(ni__ev_analyse(ev, CLI_PORT, 31001, 0, &e), 0);
  assert_float_equal(e.wire_silence_s, 30.001, 1e-9);
  assert_int_equal(e.server_ttl, 57);
  assert_int_equal(e.rst, NI_RST_MIDDLEBOX);
  /* The same addresses in IPv4 are another connection. */
  seg v4 = in_seg(1, 1, NI_TCP_ACK, 63);
  uint8_t b[256];
  size_t n = build_frame(b, DLT_RAW, &v4);
  ni__pkt k;
  assert_int_equal(ni__pkt_parse(DLT_RAW, b, n, n, &k), 0);
  assert_int_equal(ni__ev_packet(ev, &k, 40000), -ENOENT);
  ni__ev_free(ev);
}

/* The lab's IPv6 path as the probe captures it (every link type, through
 * the parser): the hop limit is reported under the same keys as the IPv4
 * TTL, and the firewall's RST, one hop closer, is told from the server's. */
static void test_ipv6_lab(void **state) {
  use_family(AF_INET6);
  const int dlts[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, DLT_NULL};
  for (size_t i = 0; i < sizeof dlts / sizeof *dlts; i++) {
    ni__ev *ev = ev_lab();
    const seg steps[] = {
        in_seg(SSEQ - 12, 12, NI_TCP_ACK | NI_TCP_PSH, 63),
        out_seg(CSEQ, 0, NI_TCP_ACK),
        out_seg(CSEQ, 8, NI_TCP_ACK | NI_TCP_PSH),
        in_seg(SSEQ, 0, NI_TCP_RST, 64),
    };
    const ni_ms at[] = {S0 - 1, S0 + 40, S0 + 33000, S0 + 33001};
    for (size_t j = 0; j < sizeof steps / sizeof *steps; j++) {
      uint8_t b[256];
      size_t n = build_frame(b, dlts[i], &steps[j]);
      ni__pkt k;
      assert_int_equal(ni__pkt_parse(dlts[i], b, n, n, &k), 0);
      assert_int_equal(k.family, AF_INET6);
      assert_int_equal(ni__ev_packet(ev, &k, at[j]), 0);
      if (j == 0) ni__ev_silence_begin(ev, CLI_PORT, S0);
    }
    ni__evidence e;
    assert_int_equal(ni__ev_analyse(ev, CLI_PORT, S0 + 31000, 0, &e), 0);
    char buf[256];
    assert_true(ni__evidence_format(&e, buf, sizeof buf) > 0);
    assert_string_equal(buf, "wire_silence=30.960 last_in=-0.001 last_out=0.040 done_rexmit=0 "
                             "rst=middlebox rst_ttl=64 rst_at=33.001 server_ttl=63");
    /* The same ports from another IPv6 address, or over IPv4: not ours. */
    seg other = in_seg(SSEQ, 4, NI_TCP_ACK, 63);
    other.src = OTHER6;
    uint8_t b[256];
    size_t n = build_frame(b, dlts[i], &other);
    ni__pkt k;
    assert_int_equal(ni__pkt_parse(dlts[i], b, n, n, &k), 0);
    assert_int_equal(ni__ev_packet(ev, &k, S0 + 34000), -ENOENT);
    use_family(AF_INET);
    other = in_seg(SSEQ, 4, NI_TCP_ACK, 63);
    use_family(AF_INET6);
    n = build_frame(b, dlts[i], &other);
    assert_int_equal(ni__pkt_parse(dlts[i], b, n, n, &k), 0);
    assert_int_equal(ni__ev_packet(ev, &k, S0 + 34000), -ENOENT);
    ni__ev_free(ev);
  }
  use_family(AF_INET);
}

static void test_connections_apart(void **state) {
  ni__ev *ev = ev_lab();
  struct sockaddr_in srv = sa4(SRV4, SRV_PORT), other = sa4(OTHER4, SRV_PORT);
  assert_int_equal(ni__ev_watch(ev, (const struct sockaddr *)&srv, 40002), 0);
  assert_int_equal(ni__ev_watch(ev, (const struct sockaddr *)&other, 40003), 0);
  open_silence(ev);
  /* Data on the other connections is no refresh of this one. */
  seg s2 = in_seg(SSEQ, 100, NI_TCP_ACK, 63);
  s2.dport = 40002;
  feed(ev, &s2, S0 + 20000);
  seg s3 = in_seg(SSEQ, 100, NI_TCP_ACK, 63);
  s3.src = OTHER4;
  s3.dport = 40003;
  feed(ev, &s3, S0 + 20000);
  ni__evidence e;
  assert_int_equal(ni__ev_analyse(ev, CLI_PORT, S0 + 30000, 0, &e), 0);
  assert_int_equal(e.refreshes, 0);
  /* Ports and distinct hosts for the filter. */
  uint16_t ports[8];
  const struct sockaddr *hosts[NI_PCAP_MAX_HOSTS];
  assert_int_equal(ni__ev_ports(ev, ports, 8), 3);
  assert_int_equal(ni__ev_hosts(ev, hosts, NI_PCAP_MAX_HOSTS), 2);
  /* A packet to a port no one watches, or from the wrong host. */
  seg stray = in_seg(SSEQ, 1, NI_TCP_ACK, 63);
  stray.dport = 40009;
  uint8_t b[256];
  size_t n = build_frame(b, DLT_EN10MB, &stray);
  ni__pkt k;
  assert_int_equal(ni__pkt_parse(DLT_EN10MB, b, n, n, &k), 0);
  assert_int_equal(ni__ev_packet(ev, &k, 1), -ENOENT);
  stray = in_seg(SSEQ, 1, NI_TCP_ACK, 63);
  stray.src = OTHER4; /* the other host, but on CLI_PORT */
  n = build_frame(b, DLT_EN10MB, &stray);
  assert_int_equal(ni__pkt_parse(DLT_EN10MB, b, n, n, &k), 0);
  assert_int_equal(ni__ev_packet(ev, &k, 1), -ENOENT);
  /* Unwatched: gone. */
  ni__ev_unwatch(ev, 40002);
  assert_int_equal(ni__ev_ports(ev, ports, 8), 2);
  assert_int_equal(ni__ev_analyse(ev, 40002, 1, 0, &e), -ENOENT);
  ni__ev_free(ev);
}

static void test_limits(void **state) {
  ni__ev *ev = ni__ev_new();
  struct sockaddr_in srv = sa4(SRV4, SRV_PORT);
  for (unsigned i = 0; i < NI_PCAP_MAX_CONNS; i++)
    assert_int_equal(ni__ev_watch(ev, (const struct sockaddr *)&srv, (uint16_t)(50000 + i)), 0);
  assert_int_equal(ni__ev_watch(ev, (const struct sockaddr *)&srv, 40000), -ENOSPC);
  /* Watching a port again starts it afresh rather than taking a slot. */
  assert_int_equal(ni__ev_watch(ev, (const struct sockaddr *)&srv, 50000), 0);
  struct sockaddr un = {.sa_family = AF_UNIX};
  assert_int_equal(ni__ev_watch(ev, &un, 50000), NI_EUSAGE);
  ni__ev_free(ev);

  /* More packets in one silence than the history holds. */
  ev = ev_lab();
  open_silence(ev);
  for (unsigned i = 0; i < NI_PCAP_HISTORY; i++) {
    seg s = in_seg(SSEQ + i, 1, NI_TCP_ACK, 63);
    feed(ev, &s, S0 + 1000 + i);
  }
  ni__evidence e;
  assert_int_equal(ni__ev_analyse(ev, CLI_PORT, S0 + 50000, 0, &e), 0);
  assert_true(e.partial);
  char buf[512];
  assert_true(ni__evidence_format(&e, buf, sizeof buf) > 0);
  assert_non_null(strstr(buf, "history=partial"));
  /* A buffer too small for the evidence gets nothing rather than half. */
  for (size_t len = 1; len < 20; len++) {
    assert_int_equal(ni__evidence_format(&e, buf, len), -ENOSPC);
    assert_string_equal(buf, "");
  }
  ni__ev_free(ev);

  /* A connection that saw nothing says so. */
  ev = ev_lab();
  assert_int_equal(ni__ev_analyse(ev, CLI_PORT, 1000, 0, &e), 0);
  assert_true(ni__evidence_format(&e, buf, sizeof buf) > 0);
  assert_string_equal(buf, "done_rexmit=0 history=empty");
  ni__ev_free(ev);
  assert_string_equal(ni__rst_name(99), "?");
  assert_string_equal(ni__refresh_name(-1), "?");
}

/* ---- pcap files ------------------------------------------------------------ */

/* One packet of a timeline: the segment and its time. */
typedef struct step {
  seg s;
  ni_ms t;
} step;

/* Write the steps into a pcap file of link type dlt (plus a packet of
 * another connection), read it back through the parser into a tracker, and
 * analyse the check at check. */
static void through_file(int dlt, const step *steps, size_t n, ni_ms check, ni__evidence *e) {
  char path[] = "/tmp/natidle-test-pcap-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  pcap_t *dead = pcap_open_dead(dlt, NI_PCAP_SNAPLEN);
  assert_non_null(dead);
  pcap_dumper_t *d = pcap_dump_open(dead, path);
  assert_non_null(d);
  uint8_t b[256];
  for (size_t i = 0; i < n; i++) {
    size_t len = build_frame(b, dlt, &steps[i].s);
    struct pcap_pkthdr h;
    memset(&h, 0, sizeof h);
    h.ts.tv_sec = (time_t)(steps[i].t / 1000);
    h.ts.tv_usec = (suseconds_t)(steps[i].t % 1000) * 1000;
    h.len = (bpf_u_int32)len;
    h.caplen = (bpf_u_int32)(len < NI_PCAP_SNAPLEN ? len : NI_PCAP_SNAPLEN);
    pcap_dump((u_char *)d, &h, b);
  }
  pcap_dump_close(d);
  pcap_close(dead);

  char eb[PCAP_ERRBUF_SIZE];
  pcap_t *r = pcap_open_offline(path, eb);
  assert_non_null(r);
  assert_int_equal(pcap_datalink(r), dlt);
  ni__ev *ev = ev_lab();
  ni__ev_silence_begin(ev, CLI_PORT, S0);
  struct pcap_pkthdr *h;
  const u_char *data;
  size_t got = 0;
  while (pcap_next_ex(r, &h, &data) == 1) {
    ni__pkt k;
    assert_int_equal(ni__pkt_parse(dlt, data, h->caplen, h->len, &k), 0);
    ni_ms t = (ni_ms)h->ts.tv_sec * 1000 + (ni_ms)h->ts.tv_usec / 1000;
    ni__ev_packet(ev, &k, t);
    got++;
  }
  assert_int_equal(got, n);
  pcap_close(r);
  unlink(path);
  assert_int_equal(ni__ev_analyse(ev, CLI_PORT, check, 0, e), 0);
  ni__ev_free(ev);
}

static void test_pcap_files(void **state) {
  /* The reset lab: silence, DONE, the NAT's RST (TTL 64), plus a packet
   * from elsewhere that the tracker ignores. */
  seg other = in_seg(1, 50, NI_TCP_ACK, 63);
  other.dport = 40555;
  step steps[] = {
      {in_seg(SSEQ - 12, 12, NI_TCP_ACK | NI_TCP_PSH, 63), S0 - 1},
      {out_seg(CSEQ, 0, NI_TCP_ACK), S0 + 30},
      {other, S0 + 5000},
      {out_seg(CSEQ, 8, NI_TCP_ACK | NI_TCP_PSH), S0 + 33000},
      {in_seg(SSEQ, 0, NI_TCP_RST, 64), S0 + 33001},
  };
  const int dlts[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW};
  for (size_t i = 0; i < sizeof dlts / sizeof *dlts; i++) {
    ni__evidence e;
    through_file(dlts[i], steps, sizeof steps / sizeof *steps, S0 + 31000, &e);
    assert_int_equal(e.rst, NI_RST_MIDDLEBOX);
    assert_int_equal(e.server_ttl, 63);
    assert_int_equal(e.refreshes, 0);
    assert_float_equal(e.wire_silence_s, 30.970, 1e-9);
  }
}

static int family6(void **state) {
  use_family(AF_INET6);
  return 0;
}

static int family4(void **state) {
  use_family(AF_INET);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_alive_push),        cmocka_unit_test(test_done_retransmissions),
      cmocka_unit_test(test_rexmit_wraps),      cmocka_unit_test(test_rst_origin),
      cmocka_unit_test(test_refreshes),         cmocka_unit_test(test_ipv6),
      cmocka_unit_test(test_connections_apart), cmocka_unit_test(test_limits),
      cmocka_unit_test(test_pcap_files),        cmocka_unit_test(test_ipv6_lab),
  };
  /* The analysis of the lab's connection again over its IPv6 path: the
   * same evidence, the hop limit in place of the TTL. */
  const struct CMUnitTest over_ipv6[] = {
      cmocka_unit_test(test_alive_push),   cmocka_unit_test(test_done_retransmissions),
      cmocka_unit_test(test_rexmit_wraps), cmocka_unit_test(test_rst_origin),
      cmocka_unit_test(test_refreshes),    cmocka_unit_test(test_pcap_files),
  };
  int failed = cmocka_run_group_tests_name("ipv4", tests, NULL, NULL);
  return failed + cmocka_run_group_tests_name("ipv6", over_ipv6, family6, family4);
}
