/*
 * The analysis half of the probe's packet capture: a bounded, defensive
 * parser of captured frames down to the TCP header, the capture filter's
 * text, and a per-connection packet history that answers what the wire
 * saw during a silence.  No I/O, no clock: packets and times come in as
 * arguments (see probe/pcap.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pcap/dlt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe/pcap.h"

/* ---- packet parsing ----------------------------------------------------- */

/* Ethertypes and IP protocol numbers used below. */
#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd
#define ETH_VLAN 0x8100
#define ETH_QINQ 0x88a8
#define ETH_QINQ_OLD 0x9100
#define PROTO_TCP 6
/* IPv6 extension headers that may come before TCP. */
#define IP6_HOPOPTS 0
#define IP6_ROUTING 43
#define IP6_FRAGMENT 44
#define IP6_AH 51
#define IP6_DSTOPTS 60
/* At most this many IPv6 extension headers are walked: a legitimate packet
 * has two or three; more is a hostile capture. */
#define IP6_MAX_EXT 8
/* At most this many VLAN tags in front of the IP header. */
#define MAX_VLAN 2

static uint16_t be16(const uint8_t *p) {
  return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Do n bytes starting at off fit in a capture of caplen bytes?  Written so
 * that no sum can overflow. */
static int fits(size_t off, size_t n, size_t caplen) {
  return off <= caplen && n <= caplen - off;
}

/* The TCP header at data[off], inside an IP packet whose TCP segment is
 * seglen bytes long on the wire. */
static int parse_tcp(const uint8_t *data, size_t caplen, size_t off, size_t seglen, ni__pkt *out) {
  if (!fits(off, 20, caplen)) return NI_EPARSE;
  const uint8_t *t = data + off;
  size_t doff = (size_t)(t[12] >> 4) * 4;
  if (doff < 20 || doff > seglen) return NI_EPARSE;
  out->sport = be16(t);
  out->dport = be16(t + 2);
  out->seq = be32(t + 4);
  out->ack = be32(t + 8);
  out->flags = t[13];
  out->len = (uint32_t)(seglen - doff);
  return 0;
}

/* The length of an IP packet's payload when its header says 0: a packet
 * the kernel segments later (TSO), or an IPv6 jumbogram.  The frame's wire
 * length is then the only measure. */
static int wire_rest(size_t wirelen, size_t off, size_t hdr, size_t *rest) {
  if (wirelen < off || wirelen - off < hdr) return NI_EPARSE;
  *rest = wirelen - off - hdr;
  return 0;
}

/* The fixed part (hlen bytes) of an IP header of the given version at
 * data[off], or NULL when it is truncated or of another version. */
static const uint8_t *ip_header(const uint8_t *data, size_t caplen, size_t off, size_t hlen,
                                unsigned version) {
  if (!fits(off, hlen, caplen) || (unsigned)(data[off] >> 4) != version) return NULL;
  return data + off;
}

static int parse_ipv4(const uint8_t *data, size_t caplen, size_t wirelen, size_t off,
                      ni__pkt *out) {
  const uint8_t *h = ip_header(data, caplen, off, 20, 4);
  if (!h) return NI_EPARSE;
  size_t ihl = (size_t)(h[0] & 0x0f) * 4;
  if (ihl < 20 || !fits(off, ihl, caplen)) return NI_EPARSE;
  size_t total = be16(h + 2), seglen;
  if (total == 0) {
    if (wire_rest(wirelen, off, ihl, &seglen) != 0) return NI_EPARSE;
  } else {
    if (total < ihl) return NI_EPARSE;
    seglen = total - ihl;
  }
  /* A later fragment has no TCP header; the first one does. */
  if ((be16(h + 6) & 0x1fff) != 0) return -ENOTSUP;
  if (h[9] != PROTO_TCP) return -ENOTSUP;
  out->family = AF_INET;
  memset(out->src, 0, sizeof out->src);
  memset(out->dst, 0, sizeof out->dst);
  memcpy(out->src, h + 12, 4);
  memcpy(out->dst, h + 16, 4);
  out->ttl = h[8];
  return parse_tcp(data, caplen, off + ihl, seglen, out);
}

static int parse_ipv6(const uint8_t *data, size_t caplen, size_t wirelen, size_t off,
                      ni__pkt *out) {
  const uint8_t *h = ip_header(data, caplen, off, 40, 6);
  if (!h) return NI_EPARSE;
  size_t plen = be16(h + 4);
  if (plen == 0 && wire_rest(wirelen, off, 40, &plen) != 0) return NI_EPARSE;
  unsigned nh = h[6];
  out->family = AF_INET6;
  memcpy(out->src, h + 8, 16);
  memcpy(out->dst, h + 24, 16);
  out->ttl = h[7];
  size_t p = off + 40;
  for (int i = 0; i <= IP6_MAX_EXT; i++) {
    size_t hlen;
    if (nh == PROTO_TCP) return parse_tcp(data, caplen, p, plen, out);
    if (i == IP6_MAX_EXT) break;
    switch (nh) {
    case IP6_HOPOPTS:
    case IP6_ROUTING:
    case IP6_DSTOPTS:
      if (!fits(p, 2, caplen)) return NI_EPARSE;
      hlen = ((size_t)data[p + 1] + 1) * 8;
      break;
    case IP6_AH:
      if (!fits(p, 2, caplen)) return NI_EPARSE;
      hlen = ((size_t)data[p + 1] + 2) * 4;
      break;
    case IP6_FRAGMENT:
      if (!fits(p, 8, caplen)) return NI_EPARSE;
      if ((be16(data + p + 2) >> 3) != 0) return -ENOTSUP; /* a later fragment */
      hlen = 8;
      break;
    default:
      return -ENOTSUP; /* ESP, no next header, UDP, ICMPv6, ... */
    }
    if (hlen > plen) return NI_EPARSE;
    nh = data[p];
    p += hlen;
    plen -= hlen;
  }
  return -ENOTSUP;
}

/* An IP packet whose version is in its first nibble. */
static int parse_ip(const uint8_t *data, size_t caplen, size_t wirelen, size_t off, ni__pkt *out) {
  if (!fits(off, 1, caplen)) return NI_EPARSE;
  switch (data[off] >> 4) {
  case 4:
    return parse_ipv4(data, caplen, wirelen, off, out);
  case 6:
    return parse_ipv6(data, caplen, wirelen, off, out);
  default:
    return -ENOTSUP;
  }
}

static int parse_ethertype(unsigned type, const uint8_t *data, size_t caplen, size_t wirelen,
                           size_t off, ni__pkt *out) {
  if (type == ETH_IPV4) return parse_ipv4(data, caplen, wirelen, off, out);
  if (type == ETH_IPV6) return parse_ipv6(data, caplen, wirelen, off, out);
  return -ENOTSUP;
}

int ni__pkt_parse(int dlt, const uint8_t *data, size_t caplen, size_t wirelen, ni__pkt *out) {
  if (!data || !out) return NI_EPARSE;
  memset(out, 0, sizeof *out);
  /* A frame is never longer on the wire than what was captured of it. */
  if (wirelen < caplen) wirelen = caplen;
  switch (dlt) {
  case DLT_EN10MB: {
    if (!fits(0, 14, caplen)) return NI_EPARSE;
    size_t off = 12;
    unsigned type = be16(data + off);
    for (int i = 0; i < MAX_VLAN && (type == ETH_VLAN || type == ETH_QINQ || type == ETH_QINQ_OLD);
         i++) {
      off += 4;
      if (!fits(off, 2, caplen)) return NI_EPARSE;
      type = be16(data + off);
    }
    return parse_ethertype(type, data, caplen, wirelen, off + 2, out);
  }
  case DLT_LINUX_SLL:
    /* Packet type, ARPHRD type, address length, 8 address bytes, protocol. */
    if (!fits(0, 16, caplen)) return NI_EPARSE;
    return parse_ethertype(be16(data + 14), data, caplen, wirelen, 16, out);
#ifdef DLT_LINUX_SLL2
  case DLT_LINUX_SLL2:
    /* Protocol, reserved, interface index, ARPHRD type, packet type,
     * address length, 8 address bytes. */
    if (!fits(0, 20, caplen)) return NI_EPARSE;
    return parse_ethertype(be16(data), data, caplen, wirelen, 20, out);
#endif
  case DLT_NULL:
  case DLT_LOOP:
    /* A 4-byte address family (host or network order, and its value
     * differs between systems): the IP version nibble says more. */
    if (!fits(0, 4, caplen)) return NI_EPARSE;
    return parse_ip(data, caplen, wirelen, 4, out);
  case DLT_RAW:
#ifdef DLT_IPV4
  case DLT_IPV4:
#endif
#ifdef DLT_IPV6
  case DLT_IPV6:
#endif
    return parse_ip(data, caplen, wirelen, 0, out);
  default:
    return -ENOTSUP;
  }
}

/* ---- the filter --------------------------------------------------------- */

/* An address in a comparable form: family, 4 or 16 bytes, port.  An
 * IPv4-mapped IPv6 address counts as the IPv4 address it carries, since
 * that is what the packets carry. */
typedef struct addr {
  int family;
  uint8_t a[16];
  uint16_t port;
} addr;

static int addr_from(const struct sockaddr *sa, addr *out) {
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  memset(out, 0, sizeof *out);
  if (!sa) return NI_EUSAGE;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    out->family = AF_INET;
    memcpy(out->a, &s4->sin_addr, 4);
    out->port = ntohs(s4->sin_port);
    return 0;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    const uint8_t *b = (const uint8_t *)&s6->sin6_addr;
    out->port = ntohs(s6->sin6_port);
    if (!memcmp(b, mapped, sizeof mapped)) {
      out->family = AF_INET;
      memcpy(out->a, b + 12, 4);
    } else {
      out->family = AF_INET6;
      memcpy(out->a, b, 16);
    }
    return 0;
  }
  return NI_EUSAGE;
}

static int addr_text(const addr *a, char *buf, size_t len) {
  return inet_ntop(a->family, a->a, buf, (socklen_t)len) ? 0 : NI_EUSAGE;
}

/* Append printf-formatted text to buf, which holds *used bytes.  Returns
 * -ENOSPC once the text does not fit (the caller then empties buf). */
static int appendf(char *buf, size_t len, size_t *used, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    /* Lets the compiler check the format string against its arguments. */
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int appendf(char *buf, size_t len, size_t *used, const char *fmt, ...) {
  if (*used >= len) return -ENOSPC;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + *used, len - *used, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= len - *used) {
    *used = len;
    return -ENOSPC;
  }
  *used += (size_t)n;
  return 0;
}

int ni__pcap_filter_build(const struct sockaddr *const *hosts, size_t nhosts, const uint16_t *ports,
                          size_t nports, char *buf, size_t len) {
  if (!buf || len == 0) return -ENOSPC;
  buf[0] = '\0';
  if (!hosts || nhosts == 0) return NI_EUSAGE;
  size_t used = 0;
  addr first;
  char text[INET6_ADDRSTRLEN];
  int rc = appendf(buf, len, &used, "tcp and %s", nhosts > 1 ? "(" : "");
  for (size_t i = 0; i < nhosts && rc == 0; i++) {
    addr a;
    if (addr_from(hosts[i], &a) != 0 || addr_text(&a, text, sizeof text) != 0) {
      buf[0] = '\0';
      return NI_EUSAGE;
    }
    if (i == 0) first = a;
    rc = appendf(buf, len, &used, "%shost %s", i ? " or " : "", text);
  }
  if (rc == 0)
    rc = appendf(buf, len, &used, "%s and port %u", nhosts > 1 ? ")" : "", (unsigned)first.port);
  /* No connection to watch: "len = 0" holds for no packet at all, so the
   * kernel passes nothing until a port is watched. */
  if (nports == 0 && rc == 0) rc = appendf(buf, len, &used, " and len = 0");
  for (size_t i = 0; i < nports && rc == 0; i++)
    rc = appendf(buf, len, &used, "%s%u", i ? " or port " : " and (port ", (unsigned)ports[i]);
  if (nports > 0 && rc == 0) rc = appendf(buf, len, &used, ")");
  if (rc != 0) buf[0] = '\0';
  return rc;
}

/* ---- per-connection history --------------------------------------------- */

enum { DIR_IN = 0, DIR_OUT = 1 };
enum { K_REXMIT = 1, K_KEEPALIVE = 2 };

/* One remembered packet. */
typedef struct rec {
  ni_ms t;
  uint32_t seq, len;
  uint8_t dir, flags, ttl, kind;
} rec;

/* Distinct TTLs of the server's own packets remembered per connection (a
 * route change can add one). */
#define MAX_TTLS 4

typedef struct conn {
  uint16_t port; /* local port */
  addr peer;
  struct sockaddr_storage peer_sa;
  int has_silence;
  ni_ms silence;
  uint32_t nxt[2]; /* next sequence number expected each way */
  uint8_t nxt_ok[2];
  uint8_t ttls[MAX_TTLS];
  unsigned nttl;
  int last_ttl; /* the server's latest non-RST packet */
  rec ring[NI_PCAP_HISTORY];
  size_t head, count; /* next slot to write, records held */
  int lost;           /* a record was overwritten ... */
  ni_ms lost_t;       /* ... the newest of them at this time */
} conn;

struct ni__ev {
  conn *c[NI_PCAP_MAX_CONNS];
};

ni__ev *ni__ev_new(void) {
  return calloc(1, sizeof(ni__ev));
}

void ni__ev_free(ni__ev *ev) {
  if (!ev) return;
  for (size_t i = 0; i < NI_PCAP_MAX_CONNS; i++)
    free(ev->c[i]);
  free(ev);
}

static conn *find(const ni__ev *ev, uint16_t port) {
  for (size_t i = 0; i < NI_PCAP_MAX_CONNS; i++)
    if (ev->c[i] && ev->c[i]->port == port) return ev->c[i];
  return NULL;
}

int ni__ev_watch(ni__ev *ev, const struct sockaddr *peer, uint16_t local_port) {
  addr a;
  if (addr_from(peer, &a) != 0) return NI_EUSAGE;
  conn *c = find(ev, local_port);
  if (!c) {
    size_t i = 0;
    while (i < NI_PCAP_MAX_CONNS && ev->c[i])
      i++;
    if (i == NI_PCAP_MAX_CONNS) return -ENOSPC;
    c = malloc(sizeof *c);
    if (!c) return -ENOMEM;
    ev->c[i] = c;
  }
  memset(c, 0, sizeof *c);
  c->port = local_port;
  c->peer = a;
  c->last_ttl = -1;
  /* The normalised address, for the filter. */
  if (a.family == AF_INET) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&c->peer_sa;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(a.port);
    memcpy(&s4->sin_addr, a.a, 4);
  } else {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&c->peer_sa;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(a.port);
    memcpy(&s6->sin6_addr, a.a, 16);
  }
  return 0;
}

void ni__ev_unwatch(ni__ev *ev, uint16_t local_port) {
  for (size_t i = 0; i < NI_PCAP_MAX_CONNS; i++)
    if (ev->c[i] && ev->c[i]->port == local_port) {
      free(ev->c[i]);
      ev->c[i] = NULL;
    }
}

size_t ni__ev_ports(const ni__ev *ev, uint16_t *ports, size_t max) {
  size_t n = 0;
  for (size_t i = 0; i < NI_PCAP_MAX_CONNS && n < max; i++)
    if (ev->c[i]) ports[n++] = ev->c[i]->port;
  return n;
}

size_t ni__ev_hosts(const ni__ev *ev, const struct sockaddr **hosts, size_t max) {
  size_t n = 0;
  const conn *seen[NI_PCAP_MAX_HOSTS];
  for (size_t i = 0; i < NI_PCAP_MAX_CONNS && n < max && n < NI_PCAP_MAX_HOSTS; i++) {
    const conn *c = ev->c[i];
    if (!c) continue;
    size_t j = 0;
    while (j < n && !(seen[j]->peer.family == c->peer.family &&
                      !memcmp(seen[j]->peer.a, c->peer.a, sizeof c->peer.a)))
      j++;
    if (j < n) continue;
    seen[n] = c;
    hosts[n++] = (const struct sockaddr *)&c->peer_sa;
  }
  return n;
}

void ni__ev_silence_begin(ni__ev *ev, uint16_t local_port, ni_ms t) {
  conn *c = find(ev, local_port);
  if (c) {
    c->has_silence = 1;
    c->silence = t;
  }
}

/* Is sequence number a before b (modulo 2^32, RFC 9293 3.4)? */
static int seq_lt(uint32_t a, uint32_t b) {
  return (uint32_t)(a - b) >= 0x80000000u;
}

static int same_addr(const addr *a, const uint8_t *b) {
  return !memcmp(a->a, b, a->family == AF_INET ? 4 : 16);
}

static void add_ttl(conn *c, uint8_t ttl) {
  c->last_ttl = ttl;
  for (unsigned i = 0; i < c->nttl; i++)
    if (c->ttls[i] == ttl) return;
  if (c->nttl < MAX_TTLS) c->ttls[c->nttl++] = ttl;
}

int ni__ev_packet(ni__ev *ev, const ni__pkt *k, ni_ms t) {
  conn *c = NULL;
  int dir = DIR_IN;
  for (size_t i = 0; i < NI_PCAP_MAX_CONNS && !c; i++) {
    conn *x = ev->c[i];
    if (!x || x->peer.family != k->family) continue;
    if (k->sport == x->peer.port && k->dport == x->port && same_addr(&x->peer, k->src)) {
      c = x;
      dir = DIR_IN;
    } else if (k->dport == x->peer.port && k->sport == x->port && same_addr(&x->peer, k->dst)) {
      c = x;
      dir = DIR_OUT;
    }
  }
  if (!c) return -ENOENT;
  rec r = {t, k->seq, k->len, (uint8_t)dir, k->flags, k->ttl, 0};
  int syn = (k->flags & NI_TCP_SYN) != 0, fin = (k->flags & NI_TCP_FIN) != 0;
  int rst = (k->flags & NI_TCP_RST) != 0;
  if (syn) {
    /* A new connection (or its retransmitted SYN): its first sequence
     * number starts the count again. */
    c->nxt[dir] = k->seq;
    c->nxt_ok[dir] = 1;
  } else if (!rst && c->nxt_ok[dir]) {
    /* A keepalive probe carries the byte before the next one, and at most
     * one byte (RFC 9293 3.8.4). */
    if (!fin && k->len <= 1 && k->seq == c->nxt[dir] - 1)
      r.kind = K_KEEPALIVE;
    else if ((k->len > 0 || fin) && seq_lt(k->seq, c->nxt[dir]))
      r.kind = K_REXMIT;
  }
  if (!rst && r.kind != K_KEEPALIVE) {
    uint32_t end = k->seq + k->len + (uint32_t)syn + (uint32_t)fin;
    if (!c->nxt_ok[dir] || seq_lt(c->nxt[dir], end)) c->nxt[dir] = end;
    c->nxt_ok[dir] = 1;
  }
  if (dir == DIR_IN && !rst) add_ttl(c, k->ttl);
  if (c->count == NI_PCAP_HISTORY) {
    c->lost = 1;
    c->lost_t = c->ring[c->head].t;
  } else {
    c->count++;
  }
  c->ring[c->head] = r;
  c->head = (c->head + 1) % NI_PCAP_HISTORY;
  return 0;
}

static double rel_s(ni_ms t, ni_ms ref) {
  return t >= ref ? (double)(t - ref) / 1000.0 : -(double)(ref - t) / 1000.0;
}

/* What kind of refresh a packet inside a silence is. */
static int refresh_kind(const rec *r) {
  int in = r->dir == DIR_IN;
  if (r->kind == K_KEEPALIVE)
    return in ? NI_REFRESH_SERVER_TCP_KEEPALIVE : NI_REFRESH_TCP_KEEPALIVE;
  if (r->len > 0) return in ? NI_REFRESH_SERVER_DATA : NI_REFRESH_CLIENT_DATA;
  if (r->flags & NI_TCP_FIN) return in ? NI_REFRESH_SERVER_FIN : NI_REFRESH_CLIENT_FIN;
  return in ? NI_REFRESH_SERVER_ACK : NI_REFRESH_CLIENT_ACK;
}

static int rst_origin(const conn *c, const rec *r) {
  if (r->dir == DIR_OUT) return NI_RST_CLIENT;
  if (c->nttl == 0) return NI_RST_UNKNOWN;
  for (unsigned i = 0; i < c->nttl; i++)
    if (c->ttls[i] == r->ttl) return NI_RST_SERVER;
  return NI_RST_MIDDLEBOX;
}

int ni__ev_analyse(const ni__ev *ev, uint16_t local_port, ni_ms check_time, ni_ms push_ms,
                   ni__evidence *out) {
  memset(out, 0, sizeof *out);
  out->rst_ttl = -1;
  out->server_ttl = -1;
  const conn *c = find(ev, local_port);
  if (!c) return -ENOENT;
  out->server_ttl = c->last_ttl;
  out->packets = (unsigned)c->count;
  int no_check = check_time == NI_TIME_NEVER;
  ni_ms ref = c->has_silence || no_check ? c->silence : check_time;
  ni_ms begin = no_check                        ? NI_TIME_NEVER
                : check_time > NI_PCAP_SLACK_MS ? check_time - NI_PCAP_SLACK_MS
                                                : 0;
  /* Packets up to this time still belong to the exchange that opened the
   * silence (the application stamps its last read or write a little after
   * the packet passed). */
  ni_ms opened = ref + NI_PCAP_SLACK_MS;
  ni_ms last_any = 0, end = no_check ? 0 : check_time + push_ms;
  int have_end = 0, out_after = 0;
  size_t first = (c->head + NI_PCAP_HISTORY - c->count) % NI_PCAP_HISTORY;
  for (size_t i = 0; i < c->count; i++) {
    const rec *r = &c->ring[(first + i) % NI_PCAP_HISTORY];
    int rst = (r->flags & NI_TCP_RST) != 0;
    int in_silence = c->has_silence ? r->t > opened : r->t >= begin;
    if (rst && in_silence) {
      int o = rst_origin(c, r);
      /* The first RST from the server's side wins over one this machine
       * sent (which usually answers something). */
      if (out->rst == NI_RST_NONE || (out->rst == NI_RST_CLIENT && o != NI_RST_CLIENT)) {
        out->rst = o;
        out->rst_ttl = r->ttl;
        out->rst_rel = rel_s(r->t, ref);
      }
    }
    if (r->t < begin) {
      out->have_wire = 1;
      last_any = r->t;
      if (r->dir == DIR_IN) {
        out->have_last_in = 1;
        out->last_in_rel = rel_s(r->t, ref);
      } else {
        out->have_last_out = 1;
        out->last_out_rel = rel_s(r->t, ref);
      }
      if (!c->has_silence || r->t <= opened || rst) continue;
      int bare_ack =
          r->len == 0 && r->kind != K_KEEPALIVE && !(r->flags & (NI_TCP_SYN | NI_TCP_FIN));
      if (bare_ack && r->t <= ref + NI_PCAP_SETTLE_MS) continue;
      if (out->refreshes++ == 0) {
        out->refresh = refresh_kind(r);
        out->refresh_rel = rel_s(r->t, ref);
      }
      continue;
    }
    /* The check: the server's first packet ends the silence if it comes
     * before the client says anything (the push got through). */
    if (!have_end && !out_after && r->dir == DIR_IN) {
      have_end = 1;
      end = r->t;
    }
    if (r->dir == DIR_OUT) {
      out_after = 1;
      if (r->kind == K_REXMIT && r->len > 0) out->done_rexmit++;
    }
  }
  if (no_check)
    out->have_wire = 0;
  else if (out->have_wire)
    out->wire_silence_s = (double)(end - last_any) / 1000.0;
  if (c->lost && (!c->has_silence || c->lost_t >= c->silence)) out->partial = 1;
  return 0;
}

static const char *const rst_names[] = {"none", "server", "middlebox", "unknown", "client"};
static const char *const refresh_names[] = {"none",          "server_data",          "client_data",
                                            "tcp_keepalive", "server_tcp_keepalive", "server_ack",
                                            "client_ack",    "server_fin",           "client_fin"};

const char *ni__rst_name(int rst) {
  return rst >= 0 && (size_t)rst < sizeof rst_names / sizeof *rst_names ? rst_names[rst] : "?";
}

const char *ni__refresh_name(int kind) {
  return kind >= 0 && (size_t)kind < sizeof refresh_names / sizeof *refresh_names
             ? refresh_names[kind]
             : "?";
}

int ni__evidence_format(const ni__evidence *e, char *buf, size_t len) {
  if (!buf || len == 0) return -ENOSPC;
  buf[0] = '\0';
  size_t used = 0;
  int rc = 0;
  /* Items are written with a leading space, dropped at the end. */
  if (e->have_wire) rc |= appendf(buf, len, &used, " wire_silence=%.3f", e->wire_silence_s);
  if (e->have_last_in) rc |= appendf(buf, len, &used, " last_in=%.3f", e->last_in_rel);
  if (e->have_last_out) rc |= appendf(buf, len, &used, " last_out=%.3f", e->last_out_rel);
  rc |= appendf(buf, len, &used, " done_rexmit=%u", e->done_rexmit);
  if (e->rst != NI_RST_NONE)
    rc |= appendf(buf, len, &used, " rst=%s rst_ttl=%d rst_at=%.3f", ni__rst_name(e->rst),
                  e->rst_ttl, e->rst_rel);
  if (e->server_ttl >= 0) rc |= appendf(buf, len, &used, " server_ttl=%d", e->server_ttl);
  if (e->refreshes)
    rc |= appendf(buf, len, &used, " refresh=%s@%.3f refreshes=%u", ni__refresh_name(e->refresh),
                  e->refresh_rel, e->refreshes);
  if (e->partial)
    rc |= appendf(buf, len, &used, " history=partial");
  else if (e->packets == 0)
    rc |= appendf(buf, len, &used, " history=empty");
  if (rc != 0) {
    buf[0] = '\0';
    return -ENOSPC;
  }
  memmove(buf, buf + 1, used);
  return (int)used - 1;
}
