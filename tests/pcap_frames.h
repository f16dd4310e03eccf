/*
 * tests/pcap_frames.h - synthetic TCP segments for the tests of the probe's
 * packet evidence (pcap_frames.c): the lab's addresses, segments built into
 * frames of each link type, socket addresses, and a tracker watching one
 * connection.
 */
#ifndef NATIDLE_TESTS_PCAP_FRAMES_H
#define NATIDLE_TESTS_PCAP_FRAMES_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "probe/pcap.h"

/* The lab's addresses: client 100.64.0.2, server 203.0.113.2 port 993; on
 * its IPv6 path client 2001:db8:64::2, server 2001:db8:113::2.  Some IPv6
 * tests use the loopback address on both ends. */
extern const uint8_t CLI4[4];
extern const uint8_t SRV4[4];
extern const uint8_t OTHER4[4];
extern const uint8_t CLI6[16];
extern const uint8_t SRV6[16];
extern const uint8_t OTHER6[16];
extern const uint8_t LO6[16];
#define SRV_PORT 993
#define CLI_PORT 40001

/* One TCP segment. */
typedef struct seg {
  int family;
  const uint8_t *src, *dst;
  uint16_t sport, dport;
  uint32_t seq, ack;
  uint8_t flags, ttl;
  uint32_t len; /* payload bytes (zeros), at most 64 in the frame */
} seg;

/* Big-endian stores. */
void put16(uint8_t *p, unsigned v);
void put32(uint8_t *p, uint32_t v);
/* The IP packet (IP header, TCP header, zero payload), or the whole frame
 * of link type dlt, into b; returns its length. */
size_t build_ip(uint8_t *b, const seg *s);
size_t build_frame(uint8_t *b, int dlt, const seg *s);
/* The family of the lab connection that out_seg(), in_seg() and ev_lab()
 * use: AF_INET (the default) or AF_INET6 (ttl is then the hop limit), so
 * that one test runs over both. */
void use_family(int family);
/* A segment from the client to the server, and one back. */
seg out_seg(uint32_t seq, uint32_t len, uint8_t flags);
seg in_seg(uint32_t seq, uint32_t len, uint8_t flags, uint8_t ttl);
/* Socket addresses of a and port. */
struct sockaddr_in sa4(const uint8_t a[4], uint16_t port);
struct sockaddr_in6 sa6(const uint8_t a[16], uint16_t port);
/* A tracker watching one IPv4 connection CLI_PORT -> server. */
ni__ev *ev4(void);
/* A tracker watching the lab connection CLI_PORT -> server of the family
 * use_family() chose. */
ni__ev *ev_lab(void);

#endif /* NATIDLE_TESTS_PCAP_FRAMES_H */
