/*
 * probe/pcap.h - evidence from the wire for `natidle probe`: a libpcap
 * capture of the probe's own connections, and what its packets say about
 * each check (the silence the NAT really saw, retransmissions of DONE, who
 * sent a RST, packets that refreshed a mapping during a silence).
 * Internal to the natidle tool (not part of libnatidle).
 *
 * Two layers:
 *  - the analysis (probe/evidence.c): a packet parser and a per-connection
 *    packet history fed parsed packets and timestamps.  No I/O, no clock,
 *    no libpcap: tests drive it with synthetic packets.
 *  - the capture (probe/pcap.c): libpcap, the BPF filter, the clock
 *    conversion, the --pcap-out file and the privilege drop.
 *
 * Time is ni_ms on the clock of ni_imap_now() (monotonic milliseconds).
 * libpcap stamps packets with the wall clock (struct timeval, CLOCK_REALTIME
 * on Linux; no monotonic time stamp type exists there), so the capture
 * converts each stamp with the offset CLOCK_REALTIME - CLOCK_MONOTONIC,
 * measured again before every batch of packets is read.  Measuring it again
 * keeps the conversion right across a step of the wall clock (an NTP step
 * during a run of several hours), to within the time a batch waits.
 *
 * Errors are negative ints: -errno or NI_E* from natidle/common.h.
 */
#ifndef NATIDLE_PROBE_PCAP_H
#define NATIDLE_PROBE_PCAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "natidle/common.h"

/* ---- Limits ------------------------------------------------------------ */

/* Connections watched at once.  The probe has at most 64 sessions plus its
 * control connection; a connection is unwatched when it closes. */
#define NI_PCAP_MAX_CONNS 128
/* Packets remembered per connection (the newest ones).  A silence holds
 * only a handful of packets unless something refreshes the mapping all the
 * time, and the evidence says when history was lost. */
#define NI_PCAP_HISTORY 256
/* Distinct server addresses in one filter. */
#define NI_PCAP_MAX_HOSTS 4
/* Bytes captured per packet: link header, IPv6 with a few extension
 * headers and a TCP header with options.  The payload is never needed. */
#define NI_PCAP_SNAPLEN 256
/* Pure ACKs this long after the silence began close the exchange that
 * started it (a delayed ACK of the IDLE continuation): not a refresh. */
#define NI_PCAP_SETTLE_MS 500
/* Packet stamps and ni_imap_now() are both truncated to milliseconds and
 * converted between clocks: a packet this close before the start of a
 * check is counted as part of the check. */
#define NI_PCAP_SLACK_MS 2

/* ---- Packets (probe/evidence.c) --------------------------------------- */

/* TCP flag bits as in the header's 13th byte. */
enum {
  NI_TCP_FIN = 0x01,
  NI_TCP_SYN = 0x02,
  NI_TCP_RST = 0x04,
  NI_TCP_PSH = 0x08,
  NI_TCP_ACK = 0x10
};

/* One TCP segment, parsed. */
typedef struct ni__pkt {
  int family;      /* AF_INET or AF_INET6 */
  uint8_t src[16]; /* source address: 4 bytes for IPv4, 16 for IPv6 */
  uint8_t dst[16];
  uint16_t sport, dport;
  uint32_t seq, ack;
  uint8_t flags; /* NI_TCP_* */
  uint8_t ttl;   /* IPv4 TTL or IPv6 hop limit */
  uint32_t len;  /* TCP payload bytes on the wire (from the IP lengths) */
} ni__pkt;

/* Parse one captured frame of link type dlt (a DLT_* value: EN10MB,
 * LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL, LOOP) holding caplen bytes
 * of a wirelen-byte packet.  Every length is checked against caplen and
 * against the headers' own lengths; nothing outside data[0..caplen) is read.
 * Returns 0 and fills *out for a TCP segment, -ENOTSUP for anything else
 * (another protocol, a later IP fragment, an unknown link type) and
 * NI_EPARSE for a malformed or truncated header. */
int ni__pkt_parse(int dlt, const uint8_t *data, size_t caplen, size_t wirelen, ni__pkt *out);

/* Write the BPF filter that captures only the given connections into buf:
 * "tcp and host S and port P and (port A or port B ...)", with
 * "(host S1 or host S2)" when there are several server addresses.  hosts
 * are server addresses (AF_INET or AF_INET6; the port of the first is the
 * server port); ports are the local ports.  No port gives a filter that
 * matches nothing.  Returns 0, -ENOSPC when buf is too small, NI_EUSAGE for
 * no host or an unknown address family. */
int ni__pcap_filter_build(const struct sockaddr *const *hosts, size_t nhosts, const uint16_t *ports,
                          size_t nports, char *buf, size_t len);

/* ---- Per-connection analysis (probe/evidence.c) ------------------------ */

typedef struct ni__ev ni__ev;

/* Who sent a RST seen on a connection. */
enum {
  NI_RST_NONE = 0,
  NI_RST_SERVER,    /* same IP TTL / hop limit as the server's own packets */
  NI_RST_MIDDLEBOX, /* a different TTL: made on the path (a NAT, a firewall) */
  NI_RST_UNKNOWN,   /* no packet of the server seen to compare with */
  NI_RST_CLIENT     /* sent by this machine */
};

/* What refreshed a mapping during a silence. */
enum {
  NI_REFRESH_NONE = 0,
  NI_REFRESH_SERVER_DATA,
  NI_REFRESH_CLIENT_DATA,
  NI_REFRESH_TCP_KEEPALIVE,        /* this machine's TCP keepalive probe */
  NI_REFRESH_SERVER_TCP_KEEPALIVE, /* the server's TCP keepalive probe */
  NI_REFRESH_SERVER_ACK,           /* a bare ACK (window update, duplicate) */
  NI_REFRESH_CLIENT_ACK,
  NI_REFRESH_SERVER_FIN,
  NI_REFRESH_CLIENT_FIN
};

/* The evidence for one check, as ni__ev_analyse() finds it.  Times in
 * seconds; "rel" times are relative to the silence start the application
 * gave with ni__ev_silence_begin() (or to the check when it gave none). */
typedef struct ni__evidence {
  int have_wire;         /* a packet before the check was seen */
  double wire_silence_s; /* valid when have_wire */
  int have_last_in, have_last_out;
  double last_in_rel, last_out_rel; /* last packet each way before the check */
  unsigned done_rexmit;             /* client data segments sent again after the check began */
  int rst;                          /* NI_RST_*: the first RST after the silence began */
  int rst_ttl;                      /* its TTL, -1 when none */
  int server_ttl;                   /* TTL of the server's packets, -1 when none seen */
  double rst_rel;
  unsigned refreshes; /* packets that refreshed the mapping during the silence */
  int refresh;        /* NI_REFRESH_* of the first of them */
  double refresh_rel;
  int partial;      /* packets of this silence fell out of the history */
  unsigned packets; /* packets remembered for the connection */
} ni__evidence;

/* A tracker for the connections of one probe run.  Returns NULL when out of
 * memory. */
ni__ev *ni__ev_new(void);
void ni__ev_free(ni__ev *ev);

/* Watch the connection from local_port to peer (server address and port).
 * Watching a port again starts it afresh (a new connection from a reused
 * port).  Returns 0, -ENOSPC when NI_PCAP_MAX_CONNS are watched, NI_EUSAGE
 * for an address that is not IPv4 or IPv6, -ENOMEM. */
int ni__ev_watch(ni__ev *ev, const struct sockaddr *peer, uint16_t local_port);

/* Forget a connection (unknown ports are ignored). */
void ni__ev_unwatch(ni__ev *ev, uint16_t local_port);

/* The watched local ports (at most max of them) and the distinct server
 * addresses (at most NI_PCAP_MAX_HOSTS, pointers into ev, valid until the
 * next watch or unwatch).  Return the number written. */
size_t ni__ev_ports(const ni__ev *ev, uint16_t *ports, size_t max);
size_t ni__ev_hosts(const ni__ev *ev, const struct sockaddr **hosts, size_t max);

/* The application believes the silence of the connection starts at t. */
void ni__ev_silence_begin(ni__ev *ev, uint16_t local_port, ni_ms t);

/* One packet seen at time t.  Returns 0 when it belongs to a watched
 * connection, -ENOENT otherwise. */
int ni__ev_packet(ni__ev *ev, const ni__pkt *k, ni_ms t);

/* The evidence for the check of the connection that began at check_time
 * (the marker was sent, or DONE for an outbound check).  Before check_time
 * is the silence.  The first packet after it ends the silence on the wire
 * if it comes from the server before the client sends anything (the push
 * got through); otherwise the silence is taken to end push_ms after
 * check_time, when the push was due at the NAT (the calibrated push time
 * for an inbound check, 0 for an outbound one).  check_time NI_TIME_NEVER
 * means the silence ended without a check (a refresh, the connection
 * died): every packet belongs to the silence and there is no wire
 * silence to give.  Returns 0, or -ENOENT when the port is not watched. */
int ni__ev_analyse(const ni__ev *ev, uint16_t local_port, ni_ms check_time, ni_ms push_ms,
                   ni__evidence *out);

/* Format e as the CSV evidence column: space-separated key=value pairs,
 * documented in docs/CSV.md, e.g. "wire_silence=37.204 last_in=-0.001
 * last_out=0.038 done_rexmit=2 rst=middlebox rst_ttl=64 server_ttl=63".
 * Returns the length written, or -ENOSPC when it does not fit (buf is then
 * ""). */
int ni__evidence_format(const ni__evidence *e, char *buf, size_t len);

/* Name of a NI_RST_* / NI_REFRESH_* value ("none" for 0, "?" if unknown). */
const char *ni__rst_name(int rst);
const char *ni__refresh_name(int kind);

/* ---- The capture (probe/pcap.c) --------------------------------------- */

typedef struct ni_pcap ni_pcap;

/* Open a capture of the probe's connections to server (address and port)
 * on iface: an interface name, "any", or "auto" (the interface whose
 * address the kernel picks to reach server; "any" when none matches).
 * out_file (may be NULL) receives every captured packet in pcap format,
 * for tcpdump or Wireshark.  Nothing is captured until a port is watched.
 * Needs the privilege to capture (root or CAP_NET_RAW): call before
 * ni__pcap_drop_privileges().  Returns 0 with *out set, or -EPERM when the
 * process may not capture, or another -errno / NI_E*; err gets one line. */
int ni__pcap_open(ni_pcap **out, const char *iface, const struct sockaddr *server,
                  const char *out_file, char *err, size_t errlen);

/* Give up root: supplementary groups, gid and uid become user's (NULL:
 * "nobody"), each step checked; the capability bounding set is emptied,
 * every remaining capability cleared and no_new_privs set, so nothing can
 * regain them.  A process that is not root only loses its capabilities.
 * Verifies the result (getuid/geteuid, setuid(0) refused, no capability
 * left).  Returns 0, or -errno / NI_EUSAGE (unknown user, user is root)
 * with one line in err: the caller must then stop, not go on privileged. */
int ni__pcap_drop_privileges(const char *user, char *err, size_t errlen);

/* The descriptor to poll for readability (uv_poll_t), or -1. */
int ni__pcap_fd(ni_pcap *p);

/* Read and analyse what the kernel has captured, without blocking (a
 * bounded number of packets per call). */
void ni__pcap_dispatch(ni_pcap *p);

/* Start / stop watching the connection from local_port to peer (NULL: the
 * server given at open).  Rebuilds the kernel filter.  Returns 0 or an
 * error as ni__ev_watch(); a filter the kernel refuses is an error too. */
int ni__pcap_watch(ni_pcap *p, const struct sockaddr *peer, uint16_t local_port);
void ni__pcap_unwatch(ni_pcap *p, uint16_t local_port);

/* The application believes the connection's silence starts at app_time
 * (ni_imap_now()). */
void ni__pcap_silence_begin(ni_pcap *p, uint16_t local_port, ni_ms app_time);

/* The evidence for one check that began at check_time, with the push due
 * at the NAT push_ms later (see ni__ev_analyse), after reading what is
 * pending: the CSV evidence column in buf and the silence on the wire in
 * *wire_silence_s (negative when unknown; may be NULL).  Returns 0, or
 * -ENOENT when the port is not watched (buf is then "").  Adds
 * capture_drops=N when the kernel dropped packets since the silence
 * began. */
int ni__pcap_evidence(ni_pcap *p, uint16_t local_port, ni_ms check_time, ni_ms push_ms, char *buf,
                      size_t len, double *wire_silence_s);

/* Packets the kernel passed to the capture, and those it dropped because
 * the capture fell behind (pcap_stats). */
void ni__pcap_stats(ni_pcap *p, unsigned *received, unsigned *dropped);

/* Packets the capture could not parse (malformed or truncated). */
unsigned ni__pcap_bad_packets(const ni_pcap *p);

/* The interface being captured on. */
const char *ni__pcap_iface(const ni_pcap *p);

/* Close the capture and the --pcap-out file.  NULL is ignored. */
void ni__pcap_close(ni_pcap *p);

#endif
