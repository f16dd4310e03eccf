/*
 * tests/test_pcap.c - the probe's packet capture without capturing: the
 * frame parser on every link type and on hostile frames (synthetic, and the
 * regression captures in tests/pcap/), the filter text (compiled and run by
 * libpcap on synthetic packets), and the privilege drop (in a child
 * process).  The analysis of what was captured: test_pcap_evidence.c.
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
#include "pcap_frames.h"
#include "probe/pcap.h"

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

/* The length of the link header of dlt in build_frame()'s frames. */
static size_t link_len(int dlt) {
  return dlt == DLT_EN10MB ? 14 : dlt == DLT_LINUX_SLL ? 16 : dlt == DLT_LINUX_SLL2 ? 20 : 0;
}

/* Crafted and hostile IPv6 frames on every link type the capture reads:
 * the hop limit is reported as is, extension headers are skipped within
 * the capture and the payload length, and every lie is refused. */
static void test_parse_ipv6_hostile(void **state) {
  const int dlts[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW};
  for (size_t i = 0; i < sizeof dlts / sizeof *dlts; i++) {
    int dlt = dlts[i];
    size_t h = link_len(dlt);
    uint8_t b[512], *ip = b + h;
    ni__pkt k;
    size_t n;
    /* The lab's addresses, hop limits 0, 1, 63 and 255 as they are. */
    const uint8_t hops[] = {0, 1, 63, 255};
    for (size_t j = 0; j < sizeof hops; j++) {
      seg s = {AF_INET6, SRV6, CLI6, SRV_PORT, CLI_PORT, 9, 10, NI_TCP_ACK | NI_TCP_PSH,
               hops[j],  30};
      n = build_frame(b, dlt, &s);
      assert_int_equal(ni__pkt_parse(dlt, b, n, n, &k), 0);
      check_parsed(&k, &s);
    }
    seg s = {AF_INET6, CLI6, SRV6, CLI_PORT, SRV_PORT, 1, 2, NI_TCP_ACK, 64, 8};
    /* Extension headers behind each link header: hop-by-hop, routing,
     * destination options, a first fragment, AH (its length in 4-byte
     * words plus 2), then TCP. */
    uint8_t v6[128];
    size_t vn = build_ip(v6, &s);
    memcpy(ip, v6, 40);
    const uint8_t chain[] = {0, 43, 60, 44, 51, 6};
    ip[6] = chain[0];
    size_t p = 40;
    for (size_t j = 0; j + 1 < sizeof chain; j++) {
      size_t len = chain[j] == 51 ? 16 : 8;
      memset(ip + p, 0, len);
      ip[p] = chain[j + 1];
      if (chain[j] == 51) ip[p + 1] = 2;             /* (2 + 2) * 4 = 16 bytes */
      if (chain[j] == 44) put16(ip + p + 2, 0x0001); /* offset 0, more fragments */
      p += len;
    }
    memcpy(ip + p, v6 + 40, vn - 40);
    put16(ip + 4, (unsigned)(p - 40 + vn - 40));
    n = h + p + vn - 40;
    assert_int_equal(ni__pkt_parse(dlt, b, n, n, &k), 0);
    assert_int_equal(k.sport, CLI_PORT);
    assert_int_equal(k.len, 8);
    assert_int_equal(k.ttl, 64);
    /* The same frame cut anywhere inside its headers is refused. */
    for (size_t cut = 0; cut < n - 8; cut++) {
      int rc = ni__pkt_parse(dlt, b, cut, n, &k);
      assert_true(rc == NI_EPARSE || rc == -ENOTSUP);
    }
    /* A payload length that ends inside an extension header, or before
     * the TCP header is whole. */
    put16(ip + 4, 12);
    assert_int_equal(ni__pkt_parse(dlt, b, n, n, &k), NI_EPARSE);
    put16(ip + 4, (unsigned)(p - 40 + 10));
    assert_int_equal(ni__pkt_parse(dlt, b, n, n, &k), NI_EPARSE);
    /* Payload length 0 (a segment the kernel splits later): the frame's
     * wire length counts. */
    n = build_frame(b, dlt, &s);
    put16(ip + 4, 0);
    assert_int_equal(ni__pkt_parse(dlt, b, n, n + 1000, &k), 0);
    assert_int_equal(k.len, 1008);
    /* ... and a wire length shorter than the header is the capture's. */
    assert_int_equal(ni__pkt_parse(dlt, b, n, 3, &k), 0);
    assert_int_equal(k.len, 8);
    /* A payload length beyond the capture: the header is there, the
     * length is the header's word. */
    n = build_frame(b, dlt, &s);
    put16(ip + 4, 1420);
    assert_int_equal(ni__pkt_parse(dlt, b, n, n, &k), 0);
    assert_int_equal(k.len, 1400);
    /* An IPv4 header behind the IPv6 link type, and the other way round. */
    n = build_frame(b, dlt, &s);
    ip[0] = 0x45;
    if (dlt != DLT_RAW) assert_int_equal(ni__pkt_parse(dlt, b, n, n, &k), NI_EPARSE);
    /* No next header, ICMPv6, UDP, ESP: not TCP, not an error. */
    const uint8_t others[] = {59, 58, 17, 50};
    for (size_t j = 0; j < sizeof others; j++) {
      n = build_frame(b, dlt, &s);
      ip[6] = others[j];
      assert_int_equal(ni__pkt_parse(dlt, b, n, n, &k), -ENOTSUP);
    }
    /* An AH header that claims more than the payload. */
    n = build_frame(b, dlt, &s);
    memmove(ip + 48, ip + 40, n - h - 40);
    memset(ip + 40, 0, 8);
    ip[6] = 51;
    ip[40] = 6;
    ip[41] = 255;
    put16(ip + 4, (unsigned)(n - h - 40 + 8));
    assert_int_equal(ni__pkt_parse(dlt, b, n + 8, n + 8, &k), NI_EPARSE);
  }
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

/* The filter text (the lab's server, local ports CLI_PORT and 40002)
 * passes the lab connection's segments of the family use_family() chose on
 * every link type, and none to another port or from another host. */
static void check_selects(const char *text, const uint8_t *other_host) {
  for (size_t i = 0; i < sizeof all_dlts / sizeof *all_dlts; i++) {
    int dlt = all_dlts[i];
    seg in = in_seg(1, 10, NI_TCP_ACK, 63), out = out_seg(1, 0, NI_TCP_ACK);
    assert_true(filter_passes(text, dlt, &in));
    assert_true(filter_passes(text, dlt, &out));
    seg p2 = out;
    p2.sport = 40002;
    assert_true(filter_passes(text, dlt, &p2));
    seg wrong_port = out;
    wrong_port.sport = 40003;
    assert_false(filter_passes(text, dlt, &wrong_port));
    seg wrong_srv_port = out;
    wrong_srv_port.dport = 143;
    assert_false(filter_passes(text, dlt, &wrong_srv_port));
    seg wrong_host = out;
    wrong_host.dst = other_host;
    assert_false(filter_passes(text, dlt, &wrong_host));
  }
}

/* The filter, compiled by libpcap, passes the watched connections and
 * nothing else. */
static void test_filter_selects(void **state) {
  char buf[512];
  struct sockaddr_in srv = sa4(SRV4, SRV_PORT);
  const struct sockaddr *one[] = {(const struct sockaddr *)&srv};
  uint16_t ports[] = {CLI_PORT, 40002};
  assert_int_equal(ni__pcap_filter_build(one, 1, ports, 2, buf, sizeof buf), 0);
  check_selects(buf, OTHER4);
  /* Over IPv6: the lab's IPv6 path. */
  struct sockaddr_in6 srv6 = sa6(SRV6, SRV_PORT);
  const struct sockaddr *one6[] = {(const struct sockaddr *)&srv6};
  char buf6[512];
  assert_int_equal(ni__pcap_filter_build(one6, 1, ports, 2, buf6, sizeof buf6), 0);
  assert_string_equal(buf6,
                      "tcp and host 2001:db8:113::2 and port 993 and (port 40001 or port 40002)");
  use_family(AF_INET6);
  check_selects(buf6, OTHER6);
  /* The IPv4 filter passes no IPv6 packet, and the IPv6 one no IPv4 one. */
  seg in6 = in_seg(1, 10, NI_TCP_ACK, 63);
  for (size_t i = 0; i < sizeof all_dlts / sizeof *all_dlts; i++)
    assert_false(filter_passes(buf, all_dlts[i], &in6));
  use_family(AF_INET);
  seg in4 = in_seg(1, 10, NI_TCP_ACK, 63);
  assert_false(filter_passes(buf6, DLT_EN10MB, &in4));
  char none[512];
  assert_int_equal(ni__pcap_filter_build(one, 1, ports, 0, none, sizeof none), 0);
  seg in = in_seg(1, 10, NI_TCP_ACK, 63);
  assert_false(filter_passes(none, DLT_EN10MB, &in));
}

/* ---- hostile captures ----------------------------------------------------- */

/* Hostile frames kept as regression captures in tests/pcap/: every frame
 * parses or is refused, nothing crashes. */
static void test_regression_captures(void **state) {
  const char *src = getenv("NATIDLE_SRC");
  if (!src) skip();
  /* hostile-sll2-ipv6.pcap: the lab's IPv6 path, cooked v2 headers. */
  const char *files[] = {"hostile-en10mb.pcap", "hostile-raw.pcap", "hostile-sll2-ipv6.pcap"};
  const int families[] = {AF_INET, AF_INET, AF_INET6};
  for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
    use_family(families[f]);
    char path[1024], eb[PCAP_ERRBUF_SIZE];
    snprintf(path, sizeof path, "%s/tests/pcap/%s", src, files[f]);
    pcap_t *r = pcap_open_offline(path, eb);
    if (!r) fprintf(stderr, "%s: %s\n", path, eb);
    assert_non_null(r);
    ni__ev *ev = ev_lab();
    unsigned mine = 0;
    struct pcap_pkthdr *h;
    const u_char *data;
    unsigned frames = 0, parsed = 0;
    while (pcap_next_ex(r, &h, &data) == 1) {
      ni__pkt k;
      int rc = ni__pkt_parse(pcap_datalink(r), data, h->caplen, h->len, &k);
      assert_true(rc == 0 || rc == NI_EPARSE || rc == -ENOTSUP);
      if (rc == 0) {
        parsed++;
        if (ni__ev_packet(ev, &k, (ni_ms)h->ts.tv_sec * 1000) == 0) mine++;
      }
      frames++;
    }
    pcap_close(r);
    ni__evidence e;
    assert_int_equal(ni__ev_analyse(ev, CLI_PORT, 1, 0, &e), 0);
    /* Each file holds a few good frames among the hostile ones. */
    assert_true(frames >= 10);
    assert_true(parsed >= 1 && parsed < frames);
    assert_true(mine >= 1);
    if (families[f] == AF_INET6) {
      /* The push, DONE, the firewall's RST, the frame behind five
       * extension headers and the one with payload length 0; the RST's
       * hop limit tells it from the server. */
      assert_int_equal(mine, 5);
      assert_int_equal(ni__ev_analyse(ev, CLI_PORT, 1001000, 0, &e), 0);
      assert_int_equal(e.rst, NI_RST_MIDDLEBOX);
      assert_int_equal(e.rst_ttl, 64);
      assert_int_equal(e.server_ttl, 63);
    }
    ni__ev_free(ev);
  }
  use_family(AF_INET);
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
      cmocka_unit_test(test_parse_link_types),      cmocka_unit_test(test_parse_vlan_and_others),
      cmocka_unit_test(test_parse_ipv6_extensions), cmocka_unit_test(test_parse_ipv6_hostile),
      cmocka_unit_test(test_parse_malformed),       cmocka_unit_test(test_parse_every_prefix),
      cmocka_unit_test(test_parse_mutations),       cmocka_unit_test(test_filter_text),
      cmocka_unit_test(test_filter_selects),        cmocka_unit_test(test_regression_captures),
      cmocka_unit_test(test_privilege_drop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
