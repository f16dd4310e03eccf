/*
 * poll_client: a complete push-mail client on natidle/keepalive.h alone,
 * with plain sockets and poll(2): no libuv, no libnatidle driver.  It shows
 * how a client with an event loop of its own (a phone app, a desktop mail
 * client) feeds the keepalive scheduler: every event goes in with a
 * timestamp, the scheduler says when to wake up and what to send.
 *
 * It logs in, SELECTs a mailbox, waits in IDLE and prints one line per new
 * message, exactly once: after a lost connection it fetches every UID above
 * the last one it printed.  Build it against the installed scheduler:
 *
 *     cc -std=c11 poll_client.c $(pkg-config --cflags --libs natidle-keepalive) -o poll_client
 *
 *     NATIDLE_PASSWORD=... ./poll_client --allow-plaintext [--nat-timeout S]
 *         [--mailbox NAME] HOST PORT USER
 *
 * TLS is left out to keep the example to libc: this client speaks plain
 * IMAP, and sends the password only when told --allow-plaintext (use it on
 * a test network, such as natidle's lab).  A real client wraps the socket
 * in its TLS library: read and write through it, and when poll() is asked
 * about the socket also ask the TLS library whether it holds decrypted
 * bytes already (OpenSSL: SSL_pending()).  Nothing else changes.
 *
 * Output: "new uid=N subject="..."" on stdout per message; progress on
 * stderr ("poll_client: state idle", keepalives, reconnects); on SIGINT or
 * SIGTERM a tally line on stdout, then exit status 130.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <natidle/keepalive.h>

#define BUF_MAX 65536

/* Where the IMAP conversation is; the scheduler knows the rest. */
typedef enum {
  S_DOWN,     /* no connection: waiting to reconnect */
  S_GREETING, /* connected, waiting for "* OK" */
  S_LOGIN,    /* LOGIN sent */
  S_SELECT,   /* SELECT sent */
  S_FETCH,    /* UID FETCH of new messages sent */
  S_IDLE,     /* IDLE sent ("+" not yet seen, or idling) */
  S_DONE,     /* DONE sent, waiting for IDLE's tagged OK */
  S_NOOP      /* NOOP sent (a keepalive outside IDLE) */
} state;

typedef struct client {
  const char *host, *port, *user, *password, *mailbox;
  int fd;
  state st;
  unsigned tag; /* number of the last tag sent: A<tag> */
  char in[BUF_MAX];
  size_t in_n;
  unsigned long uidvalidity, uidnext, last_uid; /* last_uid: last printed */
  unsigned long known_uidvalidity;              /* of the mailbox before a reconnect */
  int need_fetch;                               /* an EXISTS arrived: fetch after IDLE */
  int ka_out;                                   /* a keepalive is waiting for its answer */
  int idling;                                   /* IDLE's "+" arrived: DONE may be sent */
  int connected;                                /* the scheduler was told CONNECTED, not yet LOST */
  int started;                                  /* later connects are reconnects */
  ni_ms ka_sent, last_io;
  ni_ms reconnect_at, backoff;
  ni_ka ka;
  unsigned long keepalives, answered, unanswered, reconnects, messages;
} client;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

/* The scheduler's clock.  On Linux CLOCK_BOOTTIME keeps counting while the
 * machine sleeps, and so do the NAT's timers: a phone that dozed 10 minutes
 * has had 10 minutes of silence on its connection. */
static ni_ms now_ms(void) {
  struct timespec ts;
#ifdef CLOCK_BOOTTIME
  if (clock_gettime(CLOCK_BOOTTIME, &ts) == 0)
    return (ni_ms)ts.tv_sec * 1000u + (ni_ms)ts.tv_nsec / 1000000u;
#endif
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (ni_ms)ts.tv_sec * 1000u + (ni_ms)ts.tv_nsec / 1000000u;
}

/* Tell the scheduler what happened (see "events" in natidle/keepalive.h). */
static void ka_event(client *c, ni_ka_event_type type, ni_ms rtt, ni_ms silent) {
  ni_ka_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = type;
  ev.rtt_ms = rtt;
  ev.silent_ms = silent;
  ni_ka_on_event(&c->ka, &ev, now_ms());
}

/* Leave IDLE: DONE, answered by IDLE's tagged OK. */
static void send_done(client *c);

static void lost(client *c, const char *why, ni_ms silent);

/* Write all of buf.  MSG_NOSIGNAL: a reset connection fails with EPIPE
 * instead of raising SIGPIPE.  Every write is traffic the NAT sees. */
static int send_all(client *c, const char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = send(c->fd, buf, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      lost(c, strerror(errno), 0);
      return -1;
    }
    buf += w;
    n -= (size_t)w;
  }
  c->last_io = now_ms();
  if (c->connected) ka_event(c, NI_KA_EV_TX, 0, 0);
  return 0;
}

static void send_done(client *c) {
  if (!c->idling) return; /* DONE before the "+" is a protocol error: sent when it comes */
  c->idling = 0;
  if (send_all(c, "DONE\r\n", 6) == 0) c->st = S_DONE;
}

/* Send "A<n> " fmt CRLF with a new tag. */
static int command(client *c, const char *fmt, const char *arg1, const char *arg2) {
  char line[1024];
  int n = snprintf(line, sizeof line, "A%u ", ++c->tag);
  int m = snprintf(line + n, sizeof line - (size_t)n - 2, fmt, arg1, arg2);
  if (m < 0 || (size_t)(n + m) >= sizeof line - 2) return -1;
  memcpy(line + n + m, "\r\n", 2);
  return send_all(c, line, (size_t)(n + m + 2));
}

/* An IMAP quoted string (RFC 3501 4.3) of s, or NULL when s cannot be one. */
static const char *quoted(const char *s, char *out, size_t cap) {
  size_t w = 0;
  out[w++] = '"';
  for (; *s; s++) {
    if (*s == '\r' || *s == '\n' || w + 4 > cap) return NULL;
    if (*s == '"' || *s == '\\') out[w++] = '\\';
    out[w++] = *s;
  }
  out[w++] = '"';
  out[w] = 0;
  return out;
}

static void go_idle(client *c) {
  if (c->need_fetch) {
    char set[32];
    c->need_fetch = 0;
    snprintf(set, sizeof set, "%lu:*", c->last_uid + 1);
    c->st = S_FETCH;
    command(c, "UID FETCH %s (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])%s", set, "");
    return;
  }
  c->st = S_IDLE;
  c->idling = 0;
  command(c, "IDLE%s%s", "", "");
}

static void connect_to(client *c) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(c->host, c->port, &hints, &res);
  if (rc != 0) {
    lost(c, gai_strerror(rc), 0);
    return;
  }
  c->fd = -1;
  for (struct addrinfo *ai = res; ai && c->fd < 0; ai = ai->ai_next) {
    c->fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (c->fd >= 0 && connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      close(c->fd);
      c->fd = -1;
    }
  }
  freeaddrinfo(res);
  if (c->fd < 0) {
    lost(c, "cannot connect", 0);
    return;
  }
  c->st = S_GREETING;
  c->in_n = 0;
  c->ka_out = 0;
  c->need_fetch = 0;
  c->last_io = now_ms();
  if (c->started) c->reconnects++;
  c->started = 1;
  fprintf(stderr, "poll_client: connected to %s:%s\n", c->host, c->port);
}

/* The connection broke (or the scheduler declared it dead): tell the
 * scheduler, close, and come back after a growing delay. */
static void lost(client *c, const char *why, ni_ms silent) {
  if (c->fd >= 0) {
    close(c->fd);
    c->fd = -1;
  }
  if (c->connected) ka_event(c, NI_KA_EV_LOST, 0, silent);
  c->connected = 0;
  c->st = S_DOWN;
  c->backoff = c->backoff ? (c->backoff * 2 > 60000 ? 60000 : c->backoff * 2) : 1000;
  c->reconnect_at = now_ms() + c->backoff;
  fprintf(stderr, "poll_client: connection lost (%s); reconnecting in %.0f s\n", why,
          (double)c->backoff / 1000.0);
}

/* Print a FETCH response's message if it is new: "* N FETCH (UID u ...)"
 * with the Subject header in a literal. */
static void on_fetch(client *c, const char *r, size_t n) {
  const char *u = strstr(r, "UID ");
  if (!u || u > r + n) return;
  unsigned long uid = strtoul(u + 4, NULL, 10);
  if (uid <= c->last_uid) return; /* printed already, or a flag change of an old message */
  char subject[256] = "";
  const char *s = strstr(r, "\nSubject:");
  if (s && s < r + n) {
    s += 9;
    while (*s == ' ')
      s++;
    size_t k = 0;
    for (; s < r + n && *s != '\r' && *s != '\n' && k + 2 < sizeof subject; s++) {
      if (*s == '"' || *s == '\\') subject[k++] = '\\';
      subject[k++] = *s;
    }
    subject[k] = 0;
  }
  c->last_uid = uid;
  c->messages++;
  printf("new uid=%lu subject=\"%s\"\n", uid, subject);
  fflush(stdout);
}

/* The answer to a keepalive arrived. */
static void ka_answered(client *c) {
  ni_ms rtt = now_ms() - c->ka_sent;
  c->ka_out = 0;
  c->answered++;
  ka_event(c, NI_KA_EV_KA_ANSWERED, rtt ? rtt : 1, 0);
  fprintf(stderr, "poll_client: keepalive answered in %lu ms\n", (unsigned long)rtt);
}

/* One complete response r[0..n) (literals included, CRLF at the end). */
static void on_response(client *c, const char *r, size_t n) {
  if (c->st == S_GREETING) {
    char u[256], p[256];
    if (strncmp(r, "* OK", 4) != 0 || !quoted(c->user, u, sizeof u) ||
        !quoted(c->password, p, sizeof p)) {
      lost(c, "no greeting, or credentials IMAP cannot quote", 0);
      return;
    }
    c->st = S_LOGIN;
    command(c, "LOGIN %s %s", u, p);
    return;
  }
  if (r[0] == '+') {
    if (c->st == S_IDLE) {
      c->idling = 1;
      ka_event(c, NI_KA_EV_IDLE_ENTERED, 0, 0);
      fprintf(stderr, "poll_client: state idle\n");
      if (c->need_fetch || c->ka_out) /* asked for while "+" was on its way */
        send_done(c);
    }
    return;
  }
  if (r[0] == '*') {
    unsigned long num;
    char word[16];
    if (strncmp(r, "* OK [UIDVALIDITY ", 18) == 0)
      c->uidvalidity = strtoul(r + 18, NULL, 10);
    else if (strncmp(r, "* OK [UIDNEXT ", 14) == 0)
      c->uidnext = strtoul(r + 14, NULL, 10);
    else if (sscanf(r, "* %lu %15s", &num, word) == 2 && strcmp(word, "EXISTS") == 0 &&
             c->st != S_SELECT) {
      /* New mail.  In IDLE the push works: say so, and leave IDLE.  In a
       * keepalive's answer it may be a push the NAT lost; its age is not
       * known here (no INTERNALDATE fetched), which the scheduler takes as
       * a hint, never as proof. */
      c->need_fetch = 1;
      if (c->st == S_IDLE) {
        ka_event(c, NI_KA_EV_PUSH_IN_IDLE, 0, 0);
        send_done(c);
      } else if (c->ka_out) {
        ka_event(c, NI_KA_EV_PUSH_IN_NOOP, 0, 0);
      }
    } else if (sscanf(r, "* %lu %15s", &num, word) == 2 && strcmp(word, "FETCH") == 0) {
      on_fetch(c, r, n);
    }
    return;
  }
  /* Tagged: ours is always the last command sent. */
  const char *sp = memchr(r, ' ', n);
  int ok = sp && strncmp(sp + 1, "OK", 2) == 0;
  if (!ok) {
    fprintf(stderr, "poll_client: command refused: %.*s", (int)n, r);
    lost(c, "refused", 0);
    return;
  }
  switch (c->st) {
  case S_LOGIN: {
    char m[256];
    c->st = S_SELECT;
    c->uidvalidity = c->uidnext = 0;
    command(c, "SELECT %s%s", quoted(c->mailbox, m, sizeof m) ? m : "INBOX", "");
    break;
  }
  case S_SELECT:
    /* Same mailbox as before the reconnect: fetch what came meanwhile.
     * A new UIDVALIDITY voids the old UIDs: start from the mailbox now. */
    if (c->known_uidvalidity != c->uidvalidity || !c->uidnext) {
      c->known_uidvalidity = c->uidvalidity;
      c->last_uid = c->uidnext ? c->uidnext - 1 : 0;
    } else if (c->uidnext - 1 > c->last_uid) {
      c->need_fetch = 1;
    }
    c->backoff = 0;
    c->connected = 1;
    ka_event(c, NI_KA_EV_CONNECTED, 0, 0); /* the silence clock starts */
    go_idle(c);
    break;
  case S_FETCH:
    /* A keepalive that fell due during the fetch was not sent: the fetch's
     * answer proves the connection alive just as well. */
    if (c->ka_out) ka_answered(c);
    go_idle(c);
    break;
  case S_DONE:
    if (c->ka_out) ka_answered(c);
    if (c->need_fetch) ka_event(c, NI_KA_EV_IDLE_LEFT, 0, 0);
    go_idle(c);
    break;
  case S_NOOP:
    ka_answered(c);
    go_idle(c);
    break;
  default:
    break;
  }
}

/* The length of the first complete response in buf[0..n), literals
 * included; 0 when it is not complete yet. */
static size_t response_len(const char *buf, size_t n) {
  size_t i = 0;
  for (;;) {
    const char *nl = memchr(buf + i, '\n', n - i);
    if (!nl) return 0;
    size_t end = (size_t)(nl - buf) + 1;
    /* A line ending in "{N}" announces N bytes of literal, then more line. */
    if (end >= 4 && buf[end - 2] == '\r' && buf[end - 3] == '}') {
      size_t j = end - 4;
      while (j > i && buf[j] >= '0' && buf[j] <= '9')
        j--;
      if (buf[j] == '{' && j + 1 < end - 3) {
        size_t lit = strtoul(buf + j + 1, NULL, 10);
        if (lit > BUF_MAX || end + lit > n) return 0;
        i = end + lit;
        continue;
      }
    }
    return end;
  }
}

static void on_readable(client *c) {
  if (c->in_n == sizeof c->in) {
    lost(c, "response too long", 0);
    return;
  }
  ssize_t r = recv(c->fd, c->in + c->in_n, sizeof c->in - c->in_n - 1, 0);
  if (r < 0 && errno == EINTR) return;
  if (r <= 0) {
    /* Broke by itself while idle: the silence before tells the scheduler
     * something about the NAT. */
    ni_ms silent = c->st == S_IDLE && !c->ka_out ? now_ms() - c->last_io : 0;
    lost(c, r == 0 ? "closed by the server" : strerror(errno), silent);
    return;
  }
  c->last_io = now_ms();
  if (c->connected) ka_event(c, NI_KA_EV_RX, 0, 0);
  c->in_n += (size_t)r;
  size_t len;
  while (c->fd >= 0 && (len = response_len(c->in, c->in_n)) > 0) {
    char save = c->in[len];
    c->in[len] = 0; /* NUL-terminated for the parsing above */
    on_response(c, c->in, len);
    c->in[len] = save;
    memmove(c->in, c->in + len, c->in_n - len);
    c->in_n -= len;
  }
}

/* What the scheduler asked for, now. */
static void on_expiry(client *c) {
  switch (ni_ka_handle_expiry(&c->ka, now_ms())) {
  case NI_KA_REIDLE:
  case NI_KA_NOOP:
    c->keepalives++;
    c->ka_out = 1;
    c->ka_sent = now_ms();
    fprintf(stderr, "poll_client: keepalive\n");
    /* Inside IDLE the keepalive is DONE (its tagged OK is the answer);
     * outside, a NOOP after the command under way. */
    if (c->st == S_IDLE) {
      send_done(c);
    } else if (c->st != S_DONE && c->st != S_FETCH) {
      c->st = S_NOOP;
      command(c, "NOOP%s%s", "", "");
    }
    break;
  case NI_KA_DEAD:
    /* No answer by the reply deadline: the NAT has forgotten us.  TCP
     * would take many minutes to notice. */
    c->unanswered++;
    c->ka_out = 0;
    lost(c, "keepalive unanswered", 0);
    break;
  case NI_KA_NONE:
    break;
  }
}

static int usage(void) {
  fprintf(stderr, "usage: NATIDLE_PASSWORD=... poll_client --allow-plaintext [--nat-timeout S] "
                  "[--mailbox NAME] HOST PORT USER\n");
  return 2;
}

int main(int argc, char **argv) {
  client c;
  memset(&c, 0, sizeof c);
  c.fd = -1;
  c.mailbox = "INBOX";
  double nat_s = 0;
  int plaintext = 0, i = 1;
  for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
    if (strcmp(argv[i], "--allow-plaintext") == 0)
      plaintext = 1;
    else if (strcmp(argv[i], "--nat-timeout") == 0 && i + 1 < argc)
      nat_s = atof(argv[++i]);
    else if (strcmp(argv[i], "--mailbox") == 0 && i + 1 < argc)
      c.mailbox = argv[++i];
    else
      return usage();
  }
  if (argc - i != 3) return usage();
  c.host = argv[i];
  c.port = argv[i + 1];
  c.user = argv[i + 2];
  c.password = getenv("NATIDLE_PASSWORD");
  if (!c.password || !plaintext) {
    fprintf(stderr, "poll_client: set NATIDLE_PASSWORD, and --allow-plaintext: this example "
                    "sends it without TLS\n");
    return 2;
  }

  /* What is known about the NAT: its timeout, or nothing (then the
   * scheduler learns it). */
  ni_ka_config cfg;
  ni_ka_config_default(&cfg);
  if (nat_s > 0) {
    cfg.nat_lower_ms = cfg.nat_upper_ms = (ni_ms)(nat_s * 1000.0);
    cfg.adaptive = 0;
    cfg.min_interval_ms = 1000; /* a short timeout measured is no noise */
  }
  cfg.seed = (uint64_t)now_ms() | 1u;
  if (ni_ka_init(&c.ka, &cfg) != 0) return usage();

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  connect_to(&c);
  while (!g_stop) {
    /* One timer for everything: the scheduler's expiry, or the reconnect. */
    ni_ms due = c.st == S_DOWN ? c.reconnect_at : ni_ka_get_expiry(&c.ka), now = now_ms();
    int timeout = due == NI_TIME_NEVER ? -1 : due <= now ? 0 : (int)(due - now);
    struct pollfd pfd = {c.fd, POLLIN, 0};
    int n = poll(&pfd, c.fd >= 0 ? 1 : 0, timeout);
    if (n < 0 && errno != EINTR) break;
    if (n > 0)
      on_readable(&c);
    else if (n == 0 && c.st == S_DOWN)
      connect_to(&c);
    else if (n == 0)
      on_expiry(&c);
  }
  printf("tally keepalives=%lu answered=%lu unanswered=%lu reconnects=%lu messages=%lu\n",
         c.keepalives, c.answered, c.unanswered, c.reconnects, c.messages);
  fflush(stdout);
  if (c.fd >= 0) close(c.fd);
  return g_stop ? 130 : 1;
}
