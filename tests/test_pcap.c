/*
 * tests/test_pcap.c - the probe's packet evidence without capturing: the
 * frame parser on every link type and on hostile frames, the filter text
 * (compiled and run by libpcap on synthetic packets), the analysis of
 * synthetic packet sequences (wire silence, DONE retransmissions, RST
 * origin by TTL, refreshes, IPv6), pcap files written with pcap_open_dead
 * and read back, the regression captures in tests/pcap/, and the privilege
 * drop (in a child process).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/prng.h"
#include "probe/pcap.h"

/* ---- frames ------------------------------------------------------------- */

/* The lab's addresses: client 100.64.0.2, server 203.0.113.2 port 993. */
static const uint8_t CLI4[4] = {100, 64, 0, 2};
static const uint8_t SRV4[4] = {203, 0, 113, 2};
static const uint8_t OTHER4[4] = {198, 51, 100, 7};
/* IPv6 tests use the loopback address on both ends: the ports tell the
 * directions apart. */
static const uint8_t LO6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
#define SRV_PORT 993
#define CLI_PORT 40001

typedef struct seg {
  int family;
  const uint8_t *src, *dst;
  uint16_t sport, dport;
  uint32_t seq, ack;
  uint8_t flags, ttl;
  uint32_t len; /* payload bytes (zeros), at most 64 in the frame */
} seg;

static void put16(uint8_t *p, unsigned v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v) {
  put16(p, v >> 16);
  put16(p + 2, v & 0xffff);
}

/* IP header + TCP header (20 bytes) + payload into b; returns the length. */
static size_t build_ip(uint8_t *b, const seg *s) {
  size_t ip = s->family == AF_INET ? 20 : 40, n = ip + 20 + s->len;
  memset(b, 0, n);
  if (s->family == AF_INET) {
    b[0] = 0x45;
    put16(b + 2, (unsigned)n);
    put16(b + 6, 0x4000); /* DF */
    b[8] = s->ttl;
    b[9] = 6;
    memcpy(b + 12, s->src, 4);
    memcpy(b + 16, s->dst, 4);
  } else {
    b[0] = 0x60;
    put16(b + 4, (unsigned)(20 + s->len));
    b[6] = 6;
    b[7] = s->ttl;
    memcpy(b + 8, s->src, 16);
    memcpy(b + 24, s->dst, 16);
  }
  uint8_t *t = b + ip;
  put16(t, s->sport);
  put16(t + 2, s->dport);
  put32(t + 4, s->seq);
  put32(t + 8, s->ack);
  t[12] = 5 << 4;
  t[13] = s->flags;
  put16(t + 14, 65535);
  return n;
}

/* A whole frame of link type dlt. */
static size_t build_frame(uint8_t *b, int dlt, const seg *s) {
  unsigned type = s->family == AF_INET ? 0x0800 : 0x86dd;
  size_t h = 0;
  switch (dlt) {
  case DLT_EN10MB:
    memset(b, 0, 14);
    put16(b + 12, type);
    h = 14;
    break;
  case DLT_LINUX_SLL:
    memset(b, 0, 16);
    put16(b + 14, type);
    h = 16;
    break;
  case DLT_LINUX_SLL2:
    memset(b, 0, 20);
    put16(b, type);
    h = 20;
    break;
  case DLT_NULL:
    memset(b, 0, 4);
    b[0] = s->family == AF_INET ? 2 : 10;
    h = 4;
    break;
  default:
    h = 0;
    break;
  }
  return h + build_ip(b + h, s);
}

static seg out_seg(uint32_t seq, uint32_t len, uint8_t flags) {
  seg s = {AF_INET, CLI4, SRV4, CLI_PORT, SRV_PORT, seq, 5000, flags, 64, len};
  return s;
}

static seg in_seg(uint32_t seq, uint32_t len, uint8_t flags, uint8_t ttl) {
  seg s = {AF_INET, SRV4, CLI4, SRV_PORT, CLI_PORT, seq, 1000, flags, ttl, len};
  return s;
}

/* ---- parser ------------------------------------------------------------- */

static void check_parsed(const ni__pkt *k, const seg *s) {
  assert_int_equal(k->family, s->family);
  assert_memory_equal(k->src, s->src, s->family == AF_INET ? 4 : 16);
  assert_memory_equal(k->dst, s->dst, s->family == AF_INET ? 4 : 16);
  assert_int_equal(k->sport, s->sport);
  assert_int_equal(k->dport, s->dport);
  assert_int_equal(k->seq, s->seq);
  assert_int_equal(k->ack, s->ack);
  assert_int_equal(k->flags, s->flags);
  assert_int_equal(k->ttl, s->ttl);
  assert_int_equal(k->len, s->len);
}

static const int all_dlts[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL, DLT_RAW};

static void test_parse_link_types(void **state) {
  uint8_t b[256];
  ni__pkt k;
  seg v4 = out_seg(0xfffffff0u, 12, NI_TCP_ACK | NI_TCP_PSH);
  seg v6 = {AF_INET6, LO6, LO6, CLI_PORT, SRV_PORT, 7, 9, NI_TCP_RST, 51, 0};
  for (size_t i = 0; i < sizeof all_dlts / sizeof *all_dlts; i++) {
    size_t n = build_frame(b, all_dlts[i], &v4);
    assert_int_equal(ni__pkt_parse(all_dlts[i], b, n, n, &k), 0);
    check_parsed(&k, &v4);
    n = build_frame(b, all_dlts[i], &v6);
    assert_int_equal(ni__pkt_parse(all_dlts[i], b, n, n, &k), 0);
    check_parsed(&k, &v6);
  }
  /* A capture cut after the TCP header still gives the payload length
   * from the IP header. */
  seg big = in_seg(100, 1400, NI_TCP_ACK, 63);
  uint8_t *wide = malloc(1600);
  assert_non_null(wide);
  size_t n = build_frame(wide, DLT_EN10MB, &big);
  assert_int_equal(ni__pkt_parse(DLT_EN10MB, wide, 14 + 40, n, &k), 0);
  assert_int_equal(k.len, 1400);
  free(wide);
}

static void test_parse_vlan_and_others(void **state) {
  uint8_t b[256], v[256];
  ni__pkt k;
  seg s = in_seg(1, 3, NI_TCP_ACK, 63);
  size_t n = build_frame(b, DLT_EN10MB, &s);
  /* Two VLAN tags between the MAC addresses and the ethertype. */
  memcpy(v, b, 12);
  put16(v + 12, 0x88a8);
  put16(v + 14, 5);
  put16(v + 16, 0x8100);
  put16(v + 18, 6);
  memcpy(v + 20, b + 12, n - 12);
  assert_int_equal(ni__pkt_parse(DLT_EN10MB, v, n + 8, n + 8, &k), 0);
  check_parsed(&k, &s);
  /* A third tag is more than a real frame has. */
  memcpy(v, b, 12);
  for (int i = 0; i < 3; i++) {
    put16(v + 12 + 4 * i, 0x8100);
    put16(v + 14 + 4 * i, 7);
  }
  memcpy(v + 24, b + 12, n - 12);
  assert_int_equal(ni__pkt_parse(DLT_EN10MB, v, n + 12, n + 12, &k), -ENOTSUP);
  /* ARP, UDP, an unknown link type: not TCP, not an error. */
  put16(b + 12, 0x0806);
  assert_int_equal(ni__pkt_parse(DLT_EN10MB, b, n, n, &k), -ENOTSUP);
  n = build_frame(b, DLT_EN10MB, &s);
  b[14 + 9] = 17;
  assert_int_equal(ni__pkt_parse(DLT_EN10MB, b, n, n, &k), -ENOTSUP);
  assert_int_equal(ni__pkt_parse(DLT_PPP, b, n, n, &k), -ENOTSUP);
  /* A later fragment has no TCP header. */
  n = build_frame(b, DLT_RAW, &s);
  put16(b + 6, 0x0010);
  assert_int_equal(ni__pkt_parse(DLT_RAW, b, n, n, &k), -ENOTSUP);
  /* IPv4 total length 0 (a segment the kernel splits later): the frame's
   * wire length counts. */
  n = build_frame(b, DLT_RAW, &s);
  put16(b + 2, 0);
  assert_int_equal(ni__pkt_parse(DLT_RAW, b, n, n + 1000, &k), 0);
  assert_int_equal(k.len, 1003);
}

/* Build an IPv6 packet with the given extension headers (each 8 bytes,
 * next header chained) in front of TCP. */
static size_t build_v6_ext(uint8_t *b, const uint8_t *types, size_t n, uint16_t frag_off) {
  seg s = {AF_INET6, LO6, LO6, SRV_PORT, CLI_PORT, 1, 1, NI_TCP_ACK, 60, 0};
  uint8_t tcp[80];
  size_t tl = build_ip(tcp, &s) - 40; /* the TCP part */
  memcpy(b, tcp, 40);
  b[6] = n ? types[0] : 6;
  size_t p = 40;
  for (size_t i = 0; i < n; i++) {
    memset(b + p, 0, 8);
    b[p] = i + 1 < n ? types[i + 1] : 6;
    if (types[i] == 44) put16(b + p + 2, (unsigned)(frag_off << 3));
    p += 8;
  }
  memcpy(b + p, tcp + 40, tl);
  put16(b + 4, (unsigned)(p - 40 + tl));
  return p + tl;
}

static void test_parse_ipv6_extensions(void **state) {
  uint8_t b[512];
  ni__pkt k;
  const uint8_t ok[] = {0, 60, 43, 44};
  size_t n = build_v6_ext(b, ok, 4, 0);
  assert_int_equal(ni__pkt_parse(DLT_RAW, b, n, n, &k), 0);
  assert_int_equal(k.sport, SRV_PORT);
  assert_int_equal(k.ttl, 60);
  /* A later fragment. */
  n = build_v6_ext(b, ok, 4, 3);
  assert_int_equal(ni__pkt_parse(DLT_RAW, b, n, n, &k), -ENOTSUP);
  /* A chain longer than any real packet's is refused, not walked. */
  uint8_t many[12];
  memset(many, 60, sizeof many);
  n = build_v6_ext(b, many, sizeof many, 0);
  assert_int_equal(ni__pkt_parse(DLT_RAW, b, n, n, &k), -ENOTSUP);
  /* An extension header longer than the payload. */
  n = build_v6_ext(b, ok, 1, 0);
  b[41] = 200;
  assert_int_equal(ni__pkt_parse(DLT_RAW, b, n, n, &k), NI_EPARSE);
  /* ESP: nothing to read past it. */
  n = build_v6_ext(b, ok, 1, 0);
  b[40] = 50;
  assert_int_equal(ni__pkt_parse(DLT_RAW, b, n, n, &k), -ENOTSUP);
}

static void test_parse_malformed(void **state) {
  uint8_t b[256];
  ni__pkt k;
  seg s = in_seg(1, 10, NI_TCP_ACK, 63);
  size_t n;
  /* IHL below 5 words. */
  n = build_frame(b, DLT_RAW, &s);
  b[0] = 0x44;
  assert_int_equal(ni__pkt_parse(DLT_RAW, b, n, n, &k), NI_EPARSE);
  /* IHL beyond the capture. */
  n = build_frame(b, DLT_RAW, &s);
  b[0] = 0x4f;
  assert_int_equal(ni__pkt_parse(DLT_RAW, b, 40, 40, &k), NI_EPARSE);
  /* Total length shorter than the IP header. */
  n = build_frame(b, DLT_RAW, &s);
  put16(b + 2, 12);
  assert_int_equal(ni__pkt_parse(DLT_RAW, b, n, n, &k), NI_EPARSE);
  /* TCP data offset below 5 words, and beyond the segment. */
  n = build_frame(b, DLT_RAW, &s);
  b[20 + 12] = 4 << 4;
  assert_int_equal(ni__pkt_parse(DLT_RAW, b, n, n, &k), NI_EPARSE);
  b[20 + 12] = 15 << 4;
  assert_int_equal(ni__pkt_parse(DLT_RAW, b, n, n, &k), NI_EPARSE);
  /* Version nibble that matches neither the ethertype nor anything. */
  n = build_frame(b, DLT_EN10MB, &s);
  b[14] = 0x65;
  assert_int_equal(ni__pkt_parse(DLT_EN10MB, b, n, n, &k), NI_EPARSE);
  n = build_frame(b, DLT_RAW, &s);
  b[0] = 0x55;
  assert_int_equal(ni__pkt_parse(DLT_RAW, b, n, n, &k), -ENOTSUP);
  /* NULL input. */
  assert_int_equal(ni__pkt_parse(DLT_RAW, NULL, 0, 0, &k), NI_EPARSE);
}

/* Every prefix of a frame, placed right before an unmapped page so that
 * reading one byte too far crashes the test. */
static void test_parse_every_prefix(void **state) {
  long pg = sysconf(_SC_PAGESIZE);
  uint8_t *area =
      mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(area != MAP_FAILED);
  assert_int_equal(mprotect(area + pg, (size_t)pg, PROT_NONE), 0);
  uint8_t b[256];
  const uint8_t ext[] = {0, 44};
  for (size_t i = 0; i < sizeof all_dlts / sizeof *all_dlts; i++) {
    for (int fam = 0; fam < 3; fam++) {
      size_t n;
      if (fam == 2 && all_dlts[i] != DLT_RAW) continue;
      if (fam == 2) {
        n = build_v6_ext(b, ext, 2, 0);
      } else {
        seg s = {fam ? AF_INET6 : AF_INET,
                 fam ? LO6 : SRV4,
                 fam ? LO6 : CLI4,
                 SRV_PORT,
                 CLI_PORT,
                 1,
                 2,
                 NI_TCP_ACK,
                 63,
                 5};
        n = build_frame(b, all_dlts[i], &s);
      }
      for (size_t cut = 0; cut <= n; cut++) {
        uint8_t *at = area + pg - cut;
        memcpy(at, b, cut);
        ni__pkt k;
        int rc = ni__pkt_parse(all_dlts[i], at, cut, n, &k);
        /* Only whole headers parse; the payload may be cut. */
        size_t hdrs = n - (fam == 2 ? 0 : 5);
        if (cut >= hdrs)
          assert_int_equal(rc, 0);
        else
          assert_true(rc == NI_EPARSE || rc == -ENOTSUP);
      }
    }
  }
  munmap(area, (size_t)pg * 2);
}

/* Random mutations of valid frames (seeded, bounded): any answer but a
 * crash or an out-of-range result. */
static void test_parse_mutations(void **state) {
  uint8_t b[256];
  uint64_t x = 0x9e3779b97f4a7c15u;
  for (int round = 0; round < 20000; round++) {
    int dlt = all_dlts[round % 5];
    seg s = {round & 1 ? AF_INET6 : AF_INET,
             round & 1 ? LO6 : CLI4,
             round & 1 ? LO6 : SRV4,
             CLI_PORT,
             SRV_PORT,
             1,
             2,
             NI_TCP_ACK,
             64,
             (uint32_t)(round % 40)};
    size_t n = build_frame(b, dlt, &s);
    for (int m = 0; m < 4; m++) {
      ni__prng_next(&x);
      b[x % n] = (uint8_t)(x >> 32);
    }
    size_t cut = ni__prng_next(&x) % (n + 1);
    ni__pkt k;
    int rc = ni__pkt_parse(dlt, b, cut, n, &k);
    assert_true(rc == 0 || rc == NI_EPARSE || rc == -ENOTSUP);
    if (rc == 0) assert_true(k.len <= 65535);
  }
}

/* ---- filter ------------------------------------------------------------- */

static struct sockaddr_in sa4(const uint8_t a[4], uint16_t port) {
  struct sockaddr_in s;
  memset(&s, 0, sizeof s);
  s.sin_family = AF_INET;
  s.sin_port = htons(port);
  memcpy(&s.sin_addr, a, 4);
  return s;
}

static struct sockaddr_in6 sa6(const uint8_t a[16], uint16_t port) {
  struct sockaddr_in6 s;
  memset(&s, 0, sizeof s);
  s.sin6_family = AF_INET6;
  s.sin6_port = htons(port);
  memcpy(&s.sin6_addr, a, 16);
  return s;
}

/* Does the compiled filter pass this frame? */
static int filter_passes(const char *text, int dlt, const seg *s) {
  pcap_t *dead = pcap_open_dead(dlt, 65535);
  assert_non_null(dead);
  struct bpf_program prog;
  if (pcap_compile(dead, &prog, text, 1, PCAP_NETMASK_UNKNOWN) != 0) {
    fprintf(stderr, "filter '%s': %s\n", text, pcap_geterr(dead));
    fail();
  }
  uint8_t b[256];
  size_t n = build_frame(b, dlt, s);
  struct pcap_pkthdr h;
  memset(&h, 0, sizeof h);
  h.caplen = h.len = (bpf_u_int32)n;
  int pass = pcap_offline_filter(&prog, &h, b) != 0;
  pcap_freecode(&prog);
  pcap_close(dead);
  return pass;
}

static void test_filter_text(void **state) {
  char buf[512];
  struct sockaddr_in srv = sa4(SRV4, SRV_PORT), other = sa4(OTHER4, SRV_PORT);
  const struct sockaddr *one[] = {(const struct sockaddr *)&srv};
  const struct sockaddr *two[] = {(const struct sockaddr *)&srv, (const struct sockaddr *)&other};
  uint16_t ports[] = {40001, 40002};
  assert_int_equal(ni__pcap_filter_build(one, 1, ports, 2, buf, sizeof buf), 0);
  assert_string_equal(buf, "tcp and host 203.0.113.2 and port 993 and (port 40001 or port 40002)");
  assert_int_equal(ni__pcap_filter_build(two, 2, ports, 1, buf, sizeof buf), 0);
  assert_string_equal(
      buf, "tcp and (host 203.0.113.2 or host 198.51.100.7) and port 993 and (port 40001)");
  assert_int_equal(ni__pcap_filter_build(one, 1, ports, 0, buf, sizeof buf), 0);
  assert_string_equal(buf, "tcp and host 203.0.113.2 and port 993 and len = 0");
  /* IPv6, and an IPv4-mapped address written as the IPv4 it is. */
  struct sockaddr_in6 s6 = sa6(LO6, 143);
  const struct sockaddr *v6[] = {(const struct sockaddr *)&s6};
  assert_int_equal(ni__pcap_filter_build(v6, 1, ports, 1, buf, sizeof buf), 0);
  assert_string_equal(buf, "tcp and host ::1 and port 143 and (port 40001)");
  uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 2};
  s6 = sa6(mapped, 993);
  assert_int_equal(ni__pcap_filter_build(v6, 1, ports, 1, buf, sizeof buf), 0);
  assert_string_equal(buf, "tcp and host 203.0.113.2 and port 993 and (port 40001)");
  /* Too small: an error and an empty string, never a cut filter. */
  for (size_t len = 1; len < 69; len++) {
    assert_int_equal(ni__pcap_filter_build(one, 1, ports, 2, buf, len), -ENOSPC);
    assert_string_equal(buf, "");
  }
  assert_int_equal(ni__pcap_filter_build(one, 1, ports, 2, buf, 69), 0);
  /* No host, or a family that is not IP. */
  assert_int_equal(ni__pcap_filter_build(one, 0, ports, 2, buf, sizeof buf), NI_EUSAGE);
  struct sockaddr un = {.sa_family = AF_UNIX};
  const struct sockaddr *bad[] = {&un};
  assert_int_equal(ni__pcap_filter_build(bad, 1, ports, 2, buf, sizeof buf), NI_EUSAGE);
  /* 128 ports fit the capture's buffer size. */
  uint16_t many[NI_PCAP_MAX_CONNS];
  for (size_t i = 0; i < NI_PCAP_MAX_CONNS; i++)
    many[i] = (uint16_t)(60000 + i);
  char big[4096];
  assert_int_equal(ni__pcap_filter_build(two, 2, many, NI_PCAP_MAX_CONNS, big, sizeof big), 0);
}

/* The filter, compiled by libpcap, passes the watched connections and
 * nothing else. */
static void test_filter_selects(void **state) {
  char buf[512];
  struct sockaddr_in srv = sa4(SRV4, SRV_PORT);
  const struct sockaddr *one[] = {(const struct sockaddr *)&srv};
  uint16_t ports[] = {CLI_PORT, 40002};
  assert_int_equal(ni__pcap_filter_build(one, 1, ports, 2, buf, sizeof buf), 0);
  for (size_t i = 0; i < sizeof all_dlts / sizeof *all_dlts; i++) {
    int dlt = all_dlts[i];
    seg in = in_seg(1, 10, NI_TCP_ACK, 63), out = out_seg(1, 0, NI_TCP_ACK);
    assert_true(filter_passes(buf, dlt, &in));
    assert_true(filter_passes(buf, dlt, &out));
    seg p2 = out;
    p2.sport = 40002;
    assert_true(filter_passes(buf, dlt, &p2));
    seg wrong_port = out;
    wrong_port.sport = 40003;
    assert_false(filter_passes(buf, dlt, &wrong_port));
    seg wrong_srv_port = out;
    wrong_srv_port.dport = 143;
    assert_false(filter_passes(buf, dlt, &wrong_srv_port));
    seg wrong_host = out;
    wrong_host.dst = OTHER4;
    assert_false(filter_passes(buf, dlt, &wrong_host));
  }
  char none[512];
  assert_int_equal(ni__pcap_filter_build(one, 1, ports, 0, none, sizeof none), 0);
  seg in = in_seg(1, 10, NI_TCP_ACK, 63);
  assert_false(filter_passes(none, DLT_EN10MB, &in));
}

/* ---- analysis ----------------------------------------------------------- */

/* A tracker watching one IPv4 connection CLI_PORT -> server. */
static ni__ev *ev4(void) {
  ni__ev *ev = ni__ev_new();
  assert_non_null(ev);
  struct sockaddr_in srv = sa4(SRV4, SRV_PORT);
  assert_int_equal(ni__ev_watch(ev, (const struct sockaddr *)&srv, CLI_PORT), 0);
  return ev;
}

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
  ni__ev *ev = ev4();
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
  ni__ev *ev = ev4();
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
  ev = ev4();
  open_silence(ev);
  seg push = in_seg(SSEQ, 30, NI_TCP_ACK | NI_TCP_PSH, 63);
  feed(ev, &push, check + 12);
  assert_int_equal(ni__ev_analyse(ev, CLI_PORT, check, 35, &e), 0);
  assert_float_equal(e.wire_silence_s, 44.972, 1e-9);
  ni__ev_free(ev);
}

/* Sequence numbers wrap: a retransmission across 2^32 is still one. */
static void test_rexmit_wraps(void **state) {
  ni__ev *ev = ev4();
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
  ni__ev *ev = ni__ev_new();
  struct sockaddr_in srv = sa4(SRV4, SRV_PORT);
  assert_int_equal(ni__ev_watch(ev, (const struct sockaddr *)&srv, CLI_PORT), 0);
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
  ni__ev *ev = ev4();
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
  ni__ev *ev = ev4();
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
    ev = ev4();
    open_silence(ev);
    feed(ev, &cases[i].s, S0 + 61002);
    assert_int_equal(ni__ev_analyse(ev, CLI_PORT, S0 + 90000, 0, &e), 0);
    assert_int_equal(e.refresh, cases[i].kind);
    assert_float_equal(e.refresh_rel, 61.002, 1e-9);
    assert_int_equal(e.refreshes, 1);
    ni__ev_free(ev);
  }
  /* A silence that a server keepalive ended, without any check. */
  ev = ev4();
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
  ev = ev4();
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

static void test_connections_apart(void **state) {
  ni__ev *ev = ev4();
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
  ev = ev4();
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
  ev = ev4();
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
  ni__ev *ev = ev4();
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

/* Hostile frames kept as regression captures in tests/pcap/: every frame
 * parses or is refused, nothing crashes. */
static void test_regression_captures(void **state) {
  const char *src = getenv("NATIDLE_SRC");
  if (!src) skip();
  const char *files[] = {"hostile-en10mb.pcap", "hostile-raw.pcap"};
  for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
    char path[1024], eb[PCAP_ERRBUF_SIZE];
    snprintf(path, sizeof path, "%s/tests/pcap/%s", src, files[f]);
    pcap_t *r = pcap_open_offline(path, eb);
    if (!r) fprintf(stderr, "%s: %s\n", path, eb);
    assert_non_null(r);
    ni__ev *ev = ev4();
    struct pcap_pkthdr *h;
    const u_char *data;
    unsigned frames = 0, parsed = 0;
    while (pcap_next_ex(r, &h, &data) == 1) {
      ni__pkt k;
      int rc = ni__pkt_parse(pcap_datalink(r), data, h->caplen, h->len, &k);
      assert_true(rc == 0 || rc == NI_EPARSE || rc == -ENOTSUP);
      if (rc == 0) {
        parsed++;
        ni__ev_packet(ev, &k, (ni_ms)h->ts.tv_sec * 1000);
      }
      frames++;
    }
    pcap_close(r);
    ni__evidence e;
    assert_int_equal(ni__ev_analyse(ev, CLI_PORT, 1, 0, &e), 0);
    ni__ev_free(ev);
    /* Each file holds a few good frames among the hostile ones. */
    assert_true(frames >= 10);
    assert_true(parsed >= 1 && parsed < frames);
  }
}

/* ---- privilege drop ----------------------------------------------------------- */

/* Run the drop in a child (the test itself keeps its privileges) and check
 * from inside that nothing is left; returns the child's exit status. */
static int drop_in_child(const char *user) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    char err[256];
    int was_root = geteuid() == 0;
    int rc = ni__pcap_drop_privileges(user, err, sizeof err);
    if (rc != 0) {
      fprintf(stderr, "drop: %s\n", err);
      _exit(rc == NI_EUSAGE ? 3 : 2);
    }
    if (was_root && (getuid() == 0 || geteuid() == 0 || getgid() == 0 || getegid() == 0)) _exit(4);
    if (setuid(0) == 0 || seteuid(0) == 0) _exit(5);
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &hdr, d) != 0 || d[0].effective || d[0].permitted || d[1].effective ||
        d[1].permitted)
      _exit(6);
    /* Capturing needs a privilege that is gone. */
    char eb[PCAP_ERRBUF_SIZE];
    pcap_t *h = pcap_create("lo", eb);
    if (h && pcap_activate(h) >= 0) _exit(7);
    if (h) pcap_close(h);
    _exit(0);
  }
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  return WEXITSTATUS(st);
}

static void test_privilege_drop(void **state) {
  assert_int_equal(drop_in_child(NULL), 0);
  if (geteuid() == 0) {
    assert_int_equal(drop_in_child("nobody"), 0);
    assert_int_equal(drop_in_child("root"), 3);
    assert_int_equal(drop_in_child("natidle-no-such-user"), 3);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_link_types),
      cmocka_unit_test(test_parse_vlan_and_others),
      cmocka_unit_test(test_parse_ipv6_extensions),
      cmocka_unit_test(test_parse_malformed),
      cmocka_unit_test(test_parse_every_prefix),
      cmocka_unit_test(test_parse_mutations),
      cmocka_unit_test(test_filter_text),
      cmocka_unit_test(test_filter_selects),
      cmocka_unit_test(test_alive_push),
      cmocka_unit_test(test_done_retransmissions),
      cmocka_unit_test(test_rexmit_wraps),
      cmocka_unit_test(test_rst_origin),
      cmocka_unit_test(test_refreshes),
      cmocka_unit_test(test_ipv6),
      cmocka_unit_test(test_connections_apart),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_pcap_files),
      cmocka_unit_test(test_regression_captures),
      cmocka_unit_test(test_privilege_drop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
