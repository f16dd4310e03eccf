/*
 * tests/pcap_frames.c - synthetic TCP segments, built into frames of each
 * link type the probe's capture reads, for the tests of its packet parser,
 * filter and analysis.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "pcap_frames.h"

/* The lab's addresses: client 100.64.0.2, server 203.0.113.2 port 993. */
const uint8_t CLI4[4] = {100, 64, 0, 2};
const uint8_t SRV4[4] = {203, 0, 113, 2};
const uint8_t OTHER4[4] = {198, 51, 100, 7};
/* The lab's IPv6 path: client 2001:db8:64::2, server 2001:db8:113::2. */
const uint8_t CLI6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
const uint8_t SRV6[16] = {0x20, 0x01, 0x0d, 0xb8, 0x01, 0x13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
const uint8_t OTHER6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0x51, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
/* Some IPv6 tests use the loopback address on both ends: the ports tell
 * the directions apart. */
const uint8_t LO6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

void put16(uint8_t *p, unsigned v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

void put32(uint8_t *p, uint32_t v) {
  put16(p, v >> 16);
  put16(p + 2, v & 0xffff);
}

/* IP header + TCP header (20 bytes) + payload into b; returns the length. */
size_t build_ip(uint8_t *b, const seg *s) {
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
size_t build_frame(uint8_t *b, int dlt, const seg *s) {
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

static int lab_family = AF_INET;

void use_family(int family) {
  lab_family = family;
}

seg out_seg(uint32_t seq, uint32_t len, uint8_t flags) {
  seg s = {AF_INET, CLI4, SRV4, CLI_PORT, SRV_PORT, seq, 5000, flags, 64, len};
  if (lab_family == AF_INET6) {
    s.family = AF_INET6;
    s.src = CLI6;
    s.dst = SRV6;
  }
  return s;
}

seg in_seg(uint32_t seq, uint32_t len, uint8_t flags, uint8_t ttl) {
  seg s = out_seg(seq, len, flags);
  const uint8_t *cli = s.src;
  s.src = s.dst;
  s.dst = cli;
  s.sport = SRV_PORT;
  s.dport = CLI_PORT;
  s.ack = 1000;
  s.ttl = ttl;
  return s;
}

struct sockaddr_in sa4(const uint8_t a[4], uint16_t port) {
  struct sockaddr_in s;
  memset(&s, 0, sizeof s);
  s.sin_family = AF_INET;
  s.sin_port = htons(port);
  memcpy(&s.sin_addr, a, 4);
  return s;
}

struct sockaddr_in6 sa6(const uint8_t a[16], uint16_t port) {
  struct sockaddr_in6 s;
  memset(&s, 0, sizeof s);
  s.sin6_family = AF_INET6;
  s.sin6_port = htons(port);
  memcpy(&s.sin6_addr, a, 16);
  return s;
}

/* A tracker watching one IPv4 connection CLI_PORT -> server. */
ni__ev *ev4(void) {
  ni__ev *ev = ni__ev_new();
  assert_non_null(ev);
  struct sockaddr_in srv = sa4(SRV4, SRV_PORT);
  assert_int_equal(ni__ev_watch(ev, (const struct sockaddr *)&srv, CLI_PORT), 0);
  return ev;
}

ni__ev *ev_lab(void) {
  if (lab_family != AF_INET6) return ev4();
  ni__ev *ev = ni__ev_new();
  assert_non_null(ev);
  struct sockaddr_in6 srv = sa6(SRV6, SRV_PORT);
  assert_int_equal(ni__ev_watch(ev, (const struct sockaddr *)&srv, CLI_PORT), 0);
  return ev;
}
