/* libFuzzer target for the probe's packet evidence (probe/evidence.c): the
 * input picks a link type and holds frames (a 2-byte length before each).
 * Every frame must parse or be refused with NI_EPARSE / -ENOTSUP; parsed
 * packets go to a tracker watching the lab's connection (port 40001), a
 * loopback IPv6 one (40002) and one over the lab's IPv6 path (2001:db8:113::2,
 * port 40003), whose evidence must always format within its buffer.  The
 * seeds in corpus/fuzz_pcap hold frames of each (ipv6-*: IPv6 with
 * extension headers, cut and lying frames). */
#include <errno.h>
#include <netinet/in.h>
#include <pcap/dlt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probe/pcap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int dlts[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL, DLT_LOOP, DLT_RAW};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int dlt = dlts[data[0] % (sizeof dlts / sizeof *dlts)];
  ni__ev *ev = ni__ev_new();
  if (!ev) abort();
  struct sockaddr_in s4;
  memset(&s4, 0, sizeof s4);
  s4.sin_family = AF_INET;
  s4.sin_port = htons(993);
  const uint8_t srv[4] = {203, 0, 113, 2};
  memcpy(&s4.sin_addr, srv, 4);
  struct sockaddr_in6 s6;
  memset(&s6, 0, sizeof s6);
  s6.sin6_family = AF_INET6;
  s6.sin6_port = htons(993);
  s6.sin6_addr.s6_addr[15] = 1;
  struct sockaddr_in6 lab6 = s6;
  const uint8_t srv6[16] = {0x20, 0x01, 0x0d, 0xb8, 0x01, 0x13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  memcpy(&lab6.sin6_addr, srv6, 16);
  if (ni__ev_watch(ev, (struct sockaddr *)&s4, 40001) != 0 ||
      ni__ev_watch(ev, (struct sockaddr *)&s6, 40002) != 0 ||
      ni__ev_watch(ev, (struct sockaddr *)&lab6, 40003) != 0)
    abort();
  for (uint16_t port = 40001; port <= 40003; port++)
    ni__ev_silence_begin(ev, port, 1000);
  size_t p = 1;
  ni_ms t = 900;
  while (size - p >= 2) {
    size_t n = (size_t)data[p] << 8 | data[p + 1];
    p += 2;
    if (n > size - p) n = size - p;
    /* A copy of exactly n bytes, so that ASan sees any read past it. */
    uint8_t *frame = malloc(n ? n : 1);
    if (!frame) abort();
    memcpy(frame, data + p, n);
    ni__pkt k;
    int rc = ni__pkt_parse(dlt, frame, n, n + (n & 7) * 100, &k);
    if (rc != 0 && rc != NI_EPARSE && rc != -ENOTSUP) abort();
    if (rc == 0) ni__ev_packet(ev, &k, t);
    free(frame);
    p += n;
    t += 37;
  }
  for (uint16_t port = 40001; port <= 40003; port++) {
    ni__evidence e;
    char buf[512];
    if (ni__ev_analyse(ev, port, 5000, 20, &e) != 0) abort();
    if (ni__evidence_format(&e, buf, sizeof buf) <= 0) abort();
  }
  ni__ev_free(ev);
  return 0;
}
