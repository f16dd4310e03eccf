/*
 * Packet evidence and privileges, in tcpdump's order: open the capture
 * while the process may, then give up root (groups, gid, uid, every
 * capability) before the first connection, so that no byte from the
 * network is parsed with privileges.  Capturing is optional: without the
 * privilege the probe says so once and goes on.
 *
 * The capture must know the server's address before it opens (the "auto"
 * interface is the one the kernel routes the server through), and looking
 * a name up parses DNS answers from the network.  So the name is resolved
 * by a child process that has already given up its privileges, and the
 * root parent only reads a fixed-size address back from it.  The
 * connections themselves resolve the name again after the drop.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe/internal.h"

/* ---- resolving the server without privileges ------------------------------ */

/* What the resolver child sends back. */
typedef enum resolve_rc { RESOLVED, RESOLVE_NO_DROP, RESOLVE_FAILED } resolve_rc;

typedef struct resolved {
  resolve_rc rc;
  struct sockaddr_storage addr;
  char err[256];
} resolved;

/* The server's address as the connections will pick it (imap/conn.c):
 * the first of the family --family asks for, else the first IPv4 address,
 * else the first of any family.  With --family 6 a server that also has
 * an IPv4 address is captured on its IPv6 one, where the probe connects. */
static int server_addr(const ni__probe *p, struct sockaddr_storage *ss) {
  struct addrinfo hints, *res = NULL, *ai;
  char port[16];
  int want = p->o->family == 6 ? AF_INET6 : AF_INET;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = p->o->family == 4 ? AF_INET : p->o->family == 6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(port, sizeof port, "%u", p->id.port);
  if (getaddrinfo(p->o->server, port, &hints, &res) != 0 || !res) return NI_EDNS;
  for (ai = res; ai && ai->ai_family != want; ai = ai->ai_next)
    ;
  if (!ai && p->o->family == 0) ai = res;
  if (!ai || ai->ai_addrlen > sizeof *ss) {
    freeaddrinfo(res);
    return NI_EDNS;
  }
  memset(ss, 0, sizeof *ss);
  memcpy(ss, ai->ai_addr, ai->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

/* The resolver child: drop privileges as the parent will, resolve, send
 * the answer, exit without running the parent's exit handlers. */
static void resolver_child(const ni__probe *p, int fd) {
  resolved r;
  memset(&r, 0, sizeof r);
  if (ni__pcap_drop_privileges(p->o->run_as, r.err, sizeof r.err) != 0)
    r.rc = RESOLVE_NO_DROP;
  else if (server_addr(p, &r.addr) != 0)
    r.rc = RESOLVE_FAILED;
  const char *b = (const char *)&r;
  size_t left = sizeof r;
  while (left > 0) {
    ssize_t n = write(fd, b, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    b += n;
    left -= (size_t)n;
  }
  _exit(0);
}

/* Resolve the server in a child that has dropped its privileges.  Fills
 * *out; anything but a whole answer with an IPv4 or IPv6 address is a
 * failure. */
static void resolve_unprivileged(const ni__probe *p, resolved *out) {
  memset(out, 0, sizeof *out);
  out->rc = RESOLVE_FAILED;
  int fds[2];
  if (pipe(fds) != 0) return;
  /* SIGINT and SIGTERM stay blocked until the child has its own default
   * handlers back: the parent's handlers would report the child's signals
   * to the parent's loop. */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigprocmask(SIG_BLOCK, &block, &old);
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(fds[0]);
    resolver_child(p, fds[1]);
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
  close(fds[1]);
  resolved r;
  size_t got = 0;
  while (pid > 0 && got < sizeof r) {
    ssize_t n = read(fds[0], (char *)&r + got, sizeof r - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fds[0]);
  while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
    ;
  if (got != sizeof r) return;
  r.err[sizeof r.err - 1] = '\0';
  if (r.rc == RESOLVED && r.addr.ss_family != AF_INET && r.addr.ss_family != AF_INET6)
    r.rc = RESOLVE_FAILED;
  *out = r;
}

/* ---- the capture ---------------------------------------------------------- */

static void pcap_cb(uv_poll_t *h, int status, int events) {
  ni__probe *p = h->data;
  if (status == 0 && p->cap.pcap) ni__pcap_dispatch(p->cap.pcap);
}

/* Open the capture if the process may; otherwise say why, once. */
static void capture_try(ni__probe *p, int privileged) {
  const ni_probe_opts *o = p->o;
  char err[256] = "";
  resolved r;
  resolve_unprivileged(p, &r);
  if (r.rc == RESOLVE_NO_DROP && privileged)
    return; /* the drop that follows fails the same way and stops the run with the reason */
  if (r.rc == RESOLVE_NO_DROP) {
    ni__note(p, 0, "no packet evidence: %s", r.err);
    return;
  }
  if (r.rc != RESOLVED) {
    ni__note(p, 0, "no packet evidence: cannot resolve %s before connecting", o->server);
    return;
  }
  if (ni__pcap_open(&p->cap.pcap, o->capture_iface ? o->capture_iface : "auto",
                    (struct sockaddr *)&r.addr, o->pcap_out, err, sizeof err) != 0) {
    p->cap.pcap = NULL;
    ni__note(p, 0, "no packet evidence: %s", err);
  } else if (uv_poll_init(&p->loop, &p->cap.poll, ni__pcap_fd(p->cap.pcap)) == 0) {
    p->cap.poll.data = p;
    p->cap.polling = 1;
    uv_poll_start(&p->cap.poll, UV_READABLE, pcap_cb);
    ni__note(p, 1, "capturing on %s for packet evidence", ni__pcap_iface(p->cap.pcap));
  }
}

/* Open the packet capture, then give up root before the first connection.
 * A privileged process always drops to --pcap-user (default nobody) unless
 * capturing was turned off; the summary file is opened first, the --csv
 * file already is.  Returns 0, or an error after which the run must stop
 * (the privileges could not be dropped, or the CA file is out of reach
 * afterwards). */
int ni__capture_open(ni__probe *p) {
  const ni_probe_opts *o = p->o;
  char err[256] = "";
  int privileged = getuid() == 0 || geteuid() == 0;
  if (!o->no_capture) capture_try(p, privileged);
  if (!o->run_as && (o->no_capture || (!privileged && !p->cap.pcap))) return 0;
  if (o->summary_path) {
    int e = 0;
    p->summary = ni_csv_writer_open(o->summary_path, ni_summary_columns, NI_SUMMARY_NCOLS, &e);
    if (!p->summary) {
      ni__error(p, "cannot open %s: %s", o->summary_path,
                e == NI_EMISMATCH ? ni__summary_mismatch(o->summary_path) : ni_strerror(e));
      return e;
    }
  }
  /* Every connection after the drop verifies against these anchors, read
   * now while the CA file (often root's own) can still be read. */
  int rc = ni_tls_preload_ca(o->ca_file, err, sizeof err);
  if (rc != 0) {
    ni__error(p, "%s", err);
    return NI_EUSAGE;
  }
  p->cap.ca_preloaded = 1;
  rc = ni__pcap_drop_privileges(o->run_as, err, sizeof err);
  if (rc != 0) {
    ni__error(p, "%s", err);
    return rc;
  }
  ni__note(p, 1, "running as %s from now on", o->run_as ? o->run_as : "nobody");
  return 0;
}

/* After the loop has stopped: say whether the capture kept up, close it
 * and forget the preloaded CA. */
void ni__capture_close(ni__probe *p) {
  if (p->cap.pcap) {
    unsigned got = 0, dropped = 0;
    ni__pcap_stats(p->cap.pcap, &got, &dropped);
    if (dropped) ni__note(p, 0, "the capture dropped %u of %u packets", dropped, got + dropped);
    ni__pcap_close(p->cap.pcap);
    p->cap.pcap = NULL;
  }
  if (p->cap.ca_preloaded) ni_tls_unload_ca(p->o->ca_file);
  p->cap.ca_preloaded = 0;
}
