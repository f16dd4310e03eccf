/*
 * The capture half of the probe's packet evidence: libpcap on the
 * interface toward the server, a kernel filter that passes only the
 * probe's own connections, the --pcap-out file, the clock conversion and
 * the privilege drop that follows the opening (tcpdump's order: open the
 * device, then give up root before the first untrusted byte is parsed).
 * The analysis itself is in probe/evidence.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <ifaddrs.h>
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "probe/pcap.h"

/* Kernel buffer for the capture: a few seconds of a busy link even if the
 * event loop stalls; the probe's own traffic is tiny. */
#define BUFFER_BYTES (4 * 1024 * 1024)
/* Packets read per ni__pcap_dispatch() call, so a flood cannot hold the
 * event loop; what is left is read on the next poll. */
#define DISPATCH_MAX 4096
/* Room for the filter text: 128 ports of " or port 65535" and the hosts. */
#define FILTER_MAX 4096

struct ni_pcap {
  pcap_t *h;
  pcap_dumper_t *dump;
  int dlt;
  ni__ev *ev;
  struct sockaddr_storage server;
  char iface[64];
  int64_t offset_ms;                      /* CLOCK_REALTIME - CLOCK_MONOTONIC */
  unsigned bad;                           /* frames that did not parse */
  unsigned drops_at[NI_PCAP_MAX_CONNS];   /* kernel drops when a silence began ... */
  uint16_t drops_port[NI_PCAP_MAX_CONNS]; /* ... for this local port */
};

static void errf(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    /* Lets the compiler check the format string against its arguments. */
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void errf(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static int64_t clock_ms(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ni_imap_now() is uv_hrtime(), which is CLOCK_MONOTONIC on Linux. */
static void measure_offset(ni_pcap *p) {
  p->offset_ms = clock_ms(CLOCK_REALTIME) - clock_ms(CLOCK_MONOTONIC);
}

static socklen_t sa_len(const struct sockaddr *sa) {
  return sa->sa_family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6)
                                   : (socklen_t)sizeof(struct sockaddr_in);
}

/* The interface the kernel would use toward server: connect a UDP socket
 * (which sends nothing), read the local address it chose and find the
 * interface that holds it. */
static int route_iface(const struct sockaddr *server, char *name, size_t len) {
  int fd = socket(server->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  struct sockaddr_storage local;
  socklen_t ll = sizeof local;
  int rc = 0;
  if (connect(fd, server, sa_len(server)) != 0 ||
      getsockname(fd, (struct sockaddr *)&local, &ll) != 0)
    rc = -errno;
  close(fd);
  if (rc != 0) return rc;
  struct ifaddrs *ifs = NULL, *i;
  if (getifaddrs(&ifs) != 0) return -errno;
  rc = -ENOENT;
  for (i = ifs; i && rc != 0; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != local.ss_family) continue;
    int same = local.ss_family == AF_INET
                   ? !memcmp(&((struct sockaddr_in *)i->ifa_addr)->sin_addr,
                             &((struct sockaddr_in *)&local)->sin_addr, sizeof(struct in_addr))
                   : !memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr,
                             &((struct sockaddr_in6 *)&local)->sin6_addr, sizeof(struct in6_addr));
    if (same) {
      snprintf(name, len, "%s", i->ifa_name);
      rc = 0;
    }
  }
  freeifaddrs(ifs);
  return rc;
}

static int supported_dlt(int dlt) {
  uint8_t frame[1] = {0};
  ni__pkt k;
  /* The parser knows the link type when it finds an empty frame short,
   * rather than of an unknown type. */
  return ni__pkt_parse(dlt, frame, 0, 0, &k) != -ENOTSUP;
}

/* Install the filter for the watched connections. */
static int apply_filter(ni_pcap *p, char *err, size_t errlen) {
  const struct sockaddr *hosts[NI_PCAP_MAX_HOSTS];
  uint16_t ports[NI_PCAP_MAX_CONNS];
  size_t nh = ni__ev_hosts(p->ev, hosts, NI_PCAP_MAX_HOSTS);
  size_t np = ni__ev_ports(p->ev, ports, NI_PCAP_MAX_CONNS);
  if (nh == 0) {
    hosts[0] = (const struct sockaddr *)&p->server;
    nh = 1;
  }
  char text[FILTER_MAX];
  int rc = ni__pcap_filter_build(hosts, nh, ports, np, text, sizeof text);
  if (rc != 0) {
    errf(err, errlen, "cannot build the capture filter: %s", ni_strerror(rc));
    return rc;
  }
  struct bpf_program prog;
  if (pcap_compile(p->h, &prog, text, 1, PCAP_NETMASK_UNKNOWN) != 0) {
    errf(err, errlen, "capture filter \"%s\": %s", text, pcap_geterr(p->h));
    return NI_EUSAGE;
  }
  rc = pcap_setfilter(p->h, &prog);
  pcap_freecode(&prog);
  if (rc != 0) {
    errf(err, errlen, "cannot set the capture filter: %s", pcap_geterr(p->h));
    return -EIO;
  }
  return 0;
}

int ni__pcap_open(ni_pcap **out, const char *iface, const struct sockaddr *server,
                  const char *out_file, char *err, size_t errlen) {
  char ebuf[PCAP_ERRBUF_SIZE] = "";
  *out = NULL;
  if (!server || (server->sa_family != AF_INET && server->sa_family != AF_INET6)) {
    errf(err, errlen, "capture: no IPv4 or IPv6 server address");
    return NI_EUSAGE;
  }
  ni_pcap *p = calloc(1, sizeof *p);
  if (!p || !(p->ev = ni__ev_new())) {
    free(p);
    errf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  memcpy(&p->server, server, sa_len(server));
  if (!iface || !strcmp(iface, "auto")) {
    if (route_iface(server, p->iface, sizeof p->iface) != 0)
      snprintf(p->iface, sizeof p->iface, "any");
  } else {
    snprintf(p->iface, sizeof p->iface, "%s", iface);
  }
  int rc = 0;
  p->h = pcap_create(p->iface, ebuf);
  if (!p->h) {
    errf(err, errlen, "cannot capture on %s: %s", p->iface, ebuf);
    rc = -ENODEV;
    goto fail;
  }
  /* Immediate mode: packets reach the analysis as they arrive, not when a
   * buffer block fills, so the evidence of a check is complete when the
   * check ends. */
  if (pcap_set_snaplen(p->h, NI_PCAP_SNAPLEN) != 0 || pcap_set_promisc(p->h, 0) != 0 ||
      pcap_set_immediate_mode(p->h, 1) != 0 || pcap_set_buffer_size(p->h, BUFFER_BYTES) != 0) {
    errf(err, errlen, "cannot set up the capture on %s", p->iface);
    rc = -EINVAL;
    goto fail;
  }
  int act = pcap_activate(p->h);
  if (act < 0) {
    int perm = act == PCAP_ERROR_PERM_DENIED;
#ifdef PCAP_ERROR_CAPTURE_NOTSUP
    perm = perm || act == PCAP_ERROR_CAPTURE_NOTSUP;
#endif
    errf(err, errlen, "cannot capture on %s: %s%s", p->iface,
         act == PCAP_ERROR ? pcap_geterr(p->h) : pcap_statustostr(act),
         act == PCAP_ERROR_PERM_DENIED ? " (capturing needs root or CAP_NET_RAW)" : "");
    rc = perm ? -EPERM : act == PCAP_ERROR_NO_SUCH_DEVICE ? -ENODEV : -EIO;
    goto fail;
  }
  p->dlt = pcap_datalink(p->h);
  if (!supported_dlt(p->dlt)) {
    errf(err, errlen, "cannot capture on %s: link type %s is not supported", p->iface,
         pcap_datalink_val_to_name(p->dlt) ? pcap_datalink_val_to_name(p->dlt) : "?");
    rc = -ENOTSUP;
    goto fail;
  }
  if ((rc = apply_filter(p, err, errlen)) != 0) goto fail;
  if (pcap_setnonblock(p->h, 1, ebuf) != 0) {
    errf(err, errlen, "cannot capture on %s: %s", p->iface, ebuf);
    rc = -EIO;
    goto fail;
  }
  if (pcap_get_selectable_fd(p->h) < 0) {
    errf(err, errlen, "cannot capture on %s: no pollable descriptor", p->iface);
    rc = -ENOTSUP;
    goto fail;
  }
  /* Opened now, while the process may still create files anywhere: the
   * privilege drop comes next. */
  if (out_file && !(p->dump = pcap_dump_open(p->h, out_file))) {
    errf(err, errlen, "cannot write %s: %s", out_file, pcap_geterr(p->h));
    rc = -EIO;
    goto fail;
  }
  measure_offset(p);
  *out = p;
  return 0;
fail:
  ni__pcap_close(p);
  return rc;
}

/* ---- the privilege drop ------------------------------------------------- */

/* The capability sets of this process, through the raw system calls so
 * that no libcap is needed. */
static int caps_get(struct __user_cap_data_struct d[2]) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  memset(d, 0, 2 * sizeof *d);
  return syscall(SYS_capget, &hdr, d) == 0 ? 0 : -errno;
}

static int caps_clear(void) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof d);
  return syscall(SYS_capset, &hdr, d) == 0 ? 0 : -errno;
}

/* Empty the bounding set while CAP_SETPCAP is still held, so that no
 * program run later can gain a capability from its file. */
static int bounding_clear(void) {
  for (int cap = 0; cap < 64; cap++) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
      break; /* past the last capability this kernel knows */
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) return -errno;
  }
  return 0;
}

int ni__pcap_drop_privileges(const char *user, char *err, size_t errlen) {
  const char *name = user ? user : "nobody";
  int was_root = getuid() == 0 || geteuid() == 0;
  uid_t uid = getuid();
  gid_t gid = getgid();
  int rc;
  if (was_root) {
    errno = 0;
    struct passwd *pw = getpwnam(name);
    if (!pw) {
      errf(err, errlen, "cannot drop privileges: no user '%s'", name);
      return errno ? -errno : NI_EUSAGE;
    }
    if (pw->pw_uid == 0) {
      errf(err, errlen, "cannot drop privileges: user '%s' is root", name);
      return NI_EUSAGE;
    }
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    if ((rc = bounding_clear()) != 0) {
      errf(err, errlen, "cannot drop privileges: clearing the capability bounding set: %s",
           strerror(-rc));
      return rc;
    }
    /* Groups first: once the uid is gone, so is the right to change them. */
    if (setgroups(1, &gid) != 0) {
      rc = -errno;
      errf(err, errlen, "cannot drop privileges: setgroups: %s", strerror(errno));
      return rc;
    }
    if (setgid(gid) != 0) {
      rc = -errno;
      errf(err, errlen, "cannot drop privileges: setgid(%u): %s", (unsigned)gid, strerror(errno));
      return rc;
    }
    /* As root, setuid() sets the real, effective and saved ids, and the
     * kernel clears the permitted and effective capabilities with them. */
    if (setuid(uid) != 0) {
      rc = -errno;
      errf(err, errlen, "cannot drop privileges: setuid(%u): %s", (unsigned)uid, strerror(errno));
      return rc;
    }
  }
  /* A process that is not root may still hold capabilities (a binary given
   * cap_net_raw): clear whatever is left. */
  if ((rc = caps_clear()) != 0) {
    errf(err, errlen, "cannot drop privileges: capset: %s", strerror(-rc));
    return rc;
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    rc = -errno;
    errf(err, errlen, "cannot drop privileges: no_new_privs: %s", strerror(errno));
    return rc;
  }
  /* Verify rather than trust. */
  struct __user_cap_data_struct d[2];
  if ((rc = caps_get(d)) != 0) {
    errf(err, errlen, "cannot verify the privilege drop: capget: %s", strerror(-rc));
    return rc;
  }
  if (d[0].effective || d[1].effective || d[0].permitted || d[1].permitted || d[0].inheritable ||
      d[1].inheritable) {
    errf(err, errlen, "privilege drop failed: capabilities remain");
    return -EPERM;
  }
  if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid) {
    errf(err, errlen, "privilege drop failed: still uid %u/%u gid %u/%u", (unsigned)getuid(),
         (unsigned)geteuid(), (unsigned)getgid(), (unsigned)getegid());
    return -EPERM;
  }
  if (was_root && (setuid(0) == 0 || seteuid(0) == 0)) {
    errf(err, errlen, "privilege drop failed: root could be regained");
    return -EPERM;
  }
  return 0;
}

/* ---- running ------------------------------------------------------------ */

int ni__pcap_fd(ni_pcap *p) {
  return p && p->h ? pcap_get_selectable_fd(p->h) : -1;
}

static void on_packet(u_char *user, const struct pcap_pkthdr *hdr, const u_char *bytes) {
  ni_pcap *p = (ni_pcap *)user;
  if (p->dump) pcap_dump((u_char *)p->dump, hdr, bytes);
  ni__pkt k;
  int rc = ni__pkt_parse(p->dlt, bytes, hdr->caplen, hdr->len, &k);
  if (rc != 0) {
    if (rc == NI_EPARSE) p->bad++;
    return;
  }
  int64_t wall = (int64_t)hdr->ts.tv_sec * 1000 + (int64_t)hdr->ts.tv_usec / 1000;
  int64_t mono = wall - p->offset_ms;
  ni__ev_packet(p->ev, &k, mono > 0 ? (ni_ms)mono : 0);
}

void ni__pcap_dispatch(ni_pcap *p) {
  if (!p || !p->h) return;
  measure_offset(p);
  int total = 0;
  while (total < DISPATCH_MAX) {
    int n = pcap_dispatch(p->h, DISPATCH_MAX - total, on_packet, (u_char *)p);
    if (n <= 0) break; /* nothing more now (0), or an error the next poll meets again */
    total += n;
  }
  if (p->dump && total > 0) pcap_dump_flush(p->dump);
}

int ni__pcap_watch(ni_pcap *p, const struct sockaddr *peer, uint16_t local_port) {
  if (!p) return NI_ESTATE;
  /* Packets of other connections still queued are read first, under the
   * filter they were captured with. */
  ni__pcap_dispatch(p);
  int rc = ni__ev_watch(p->ev, peer ? peer : (const struct sockaddr *)&p->server, local_port);
  if (rc != 0) return rc;
  rc = apply_filter(p, NULL, 0);
  if (rc != 0) ni__ev_unwatch(p->ev, local_port);
  return rc;
}

void ni__pcap_unwatch(ni_pcap *p, uint16_t local_port) {
  if (!p) return;
  ni__pcap_dispatch(p);
  ni__ev_unwatch(p->ev, local_port);
  for (size_t i = 0; i < NI_PCAP_MAX_CONNS; i++)
    if (p->drops_port[i] == local_port) p->drops_port[i] = 0;
  apply_filter(p, NULL, 0);
}

static unsigned kernel_drops(ni_pcap *p) {
  struct pcap_stat st;
  if (pcap_stats(p->h, &st) != 0) return 0;
  return st.ps_drop + st.ps_ifdrop;
}

/* The slot remembering the drop count of a port's silence. */
static size_t drop_slot(ni_pcap *p, uint16_t port) {
  size_t free_slot = NI_PCAP_MAX_CONNS;
  for (size_t i = 0; i < NI_PCAP_MAX_CONNS; i++) {
    if (p->drops_port[i] == port) return i;
    if (p->drops_port[i] == 0 && free_slot == NI_PCAP_MAX_CONNS) free_slot = i;
  }
  return free_slot;
}

void ni__pcap_silence_begin(ni_pcap *p, uint16_t local_port, ni_ms app_time) {
  if (!p) return;
  ni__pcap_dispatch(p);
  ni__ev_silence_begin(p->ev, local_port, app_time);
  size_t i = drop_slot(p, local_port);
  if (i < NI_PCAP_MAX_CONNS && local_port) {
    p->drops_port[i] = local_port;
    p->drops_at[i] = kernel_drops(p);
  }
}

int ni__pcap_evidence(ni_pcap *p, uint16_t local_port, ni_ms check_time, ni_ms push_ms, char *buf,
                      size_t len, double *wire_silence_s) {
  if (wire_silence_s) *wire_silence_s = -1;
  if (buf && len) buf[0] = '\0';
  if (!p) return NI_ESTATE;
  ni__pcap_dispatch(p);
  ni__evidence e;
  int rc = ni__ev_analyse(p->ev, local_port, check_time, push_ms, &e);
  if (rc != 0) return rc;
  if (wire_silence_s && e.have_wire) *wire_silence_s = e.wire_silence_s;
  int n = ni__evidence_format(&e, buf, len);
  size_t i = drop_slot(p, local_port);
  unsigned drops = kernel_drops(p);
  if (n > 0 && i < NI_PCAP_MAX_CONNS && p->drops_port[i] == local_port && drops > p->drops_at[i] &&
      (size_t)n < len)
    snprintf(buf + n, len - (size_t)n, " capture_drops=%u", drops - p->drops_at[i]);
  return 0;
}

void ni__pcap_stats(ni_pcap *p, unsigned *received, unsigned *dropped) {
  struct pcap_stat st;
  memset(&st, 0, sizeof st);
  if (p && p->h) pcap_stats(p->h, &st);
  if (received) *received = st.ps_recv;
  if (dropped) *dropped = st.ps_drop + st.ps_ifdrop;
}

unsigned ni__pcap_bad_packets(const ni_pcap *p) {
  return p ? p->bad : 0;
}

const char *ni__pcap_iface(const ni_pcap *p) {
  return p ? p->iface : "";
}

void ni__pcap_close(ni_pcap *p) {
  if (!p) return;
  if (p->dump) {
    pcap_dump_flush(p->dump);
    pcap_dump_close(p->dump);
  }
  if (p->h) pcap_close(p->h);
  ni__ev_free(p->ev);
  free(p);
}
