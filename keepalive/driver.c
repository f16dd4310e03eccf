/*
 * The push driver: thin libuv glue between one IMAP connection (natidle/conn.h)
 * and the keepalive scheduler (natidle/keepalive.h).  See natidle/push.h.
 *
 * One uv timer serves the whole session.  Its deadline is recomputed after
 * every scheduler call and every state change as the earliest of: the
 * scheduler's expiry (next keepalive or a keepalive's reply deadline) while a
 * connection is up, the setup deadline while connecting, and the end of the
 * backoff while waiting to reconnect.
 */
#include "natidle/push.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/prng.h"
#include "common/secret.h"
#include "keepalive/driver_internal.h"

/* Fetch attributes for a new message, on both paths: the UID, the server's
 * arrival time (for the push delay) and the three header fields shown to
 * the user.  BODY.PEEK leaves \Seen alone. */
#define NI_PUSH_FETCH_ITEMS "(UID INTERNALDATE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT)])"
#define NI_PUSH_NOTIFY_SPEC                                                                        \
  "(selected (MessageNew (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT)]) "          \
  "MessageExpunge))"

/* A connection that stayed up this long resets the reconnect backoff. */
#define NI_PUSH_STABLE_MS 60000u

/* A stopping session gives the server this long to answer LOGOUT. */
#define NI_PUSH_LOGOUT_MS 1000u

#define NI_PUSH_FIELD_MAX 512

struct ni_push_group {
  uv_loop_t *loop;
  uv_timer_t timer; /* the scheduler timer of every session in the group */
  ni_ka_group kg;
  size_t sessions;
  int closing;
  ni_ms last_traffic; /* last wire byte of any session, for wakeups */
  uint64_t wakeups;
};

struct ni_push {
  uv_loop_t *loop;
  uv_timer_t timer; /* setup, backoff and LOGOUT deadlines */
  ni_imap *c;       /* the current connection, NULL between connections */
  ni_ka ka;         /* in group->kg from ni_push_new() to ni_push_free() */
  ni_push_group *group;
  int own_group;    /* group was created for this session alone */
  ni_push_cb cb;
  void *ud;

  /* Options (strings owned).  A session lives for days and reconnects at
   * any time, so it keeps the password, masked (common/secret.h): the
   * plaintext exists only while a login is being built (ni_imap_login()
   * copies it into the command and wipes its copies once sent). */
  char *account, *host, *user, *ca_file, *mailbox;
  ni__secret password;
  uint16_t port;
  ni_tls_mode tls;
  int insecure, allow_plaintext, no_notify;
  ni_ms setup_timeout, backoff_min, backoff_max;
  uint64_t rng;

  ni_push_state state;
  int running;   /* between ni_push_start() and the end of ni_push_stop() */
  int stopping;  /* a graceful LOGOUT is under way */
  int freed;     /* ni_push_free() was called: no more callbacks */

  /* Connection-scoped state, reset by every connect. */
  ni_ms setup_deadline;   /* NI_TIME_NEVER once in IDLE */
  ni_ms stop_deadline;    /* end of the LOGOUT grace, or NI_TIME_NEVER */
  ni_ms reconnect_at;     /* NI_TIME_NEVER unless waiting to reconnect */
  uint32_t sel_uidvalidity, sel_uidnext;
  int notify;             /* NOTIFY SET succeeded on this connection */
  int need_fetch;         /* new messages to fetch once out of IDLE */
  ni_ms need_fetch_since; /* when the EXISTS that asked for it arrived */
  ni_ms fetch_since;      /* the same, for the fetch in flight */
  int need_fetch_pushed;  /* that EXISTS was pushed inside IDLE */
  int fetch_pushed;       /* the same, for the fetch in flight */
  int resyncing;          /* the fetch in flight is a post-reconnect resync */
  int baseline;           /* the fetch in flight only learns the highest UID */
  int ka_inflight;        /* a keepalive was sent and not yet answered */
  int ka_suspect;         /* an EXISTS came in a keepalive's answer */
  int in_idle_cmd;        /* an IDLE command is queued or running */
  int64_t ka_sent_wall;   /* its wall-clock time, ms */
  ni_ka_action ka_action;
  ni_ms ka_sent_at, ka_interval;
  unsigned attempts;      /* consecutive failed connects, for the backoff */
  ni_ms up_since;         /* first IDLE of the current connection, 0 = not yet */
  int ka_connected;       /* the scheduler was told CONNECTED, not yet LOST */
  int started_once;       /* later connects count as reconnects */

  ni_ms last_traffic;     /* last wire read or write, any connection */
  ni_push_stats st;
};

/* ---- small helpers ------------------------------------------------------ */

static char *dup_or_null(const char *s) {
  if (!s)
    return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ni_ms ni__backoff_ms(unsigned attempt, ni_ms min_ms, ni_ms max_ms, uint64_t *rng) {
  if (min_ms == 0)
    min_ms = 1;
  if (max_ms < min_ms)
    max_ms = min_ms;
  ni_ms d = min_ms;
  for (unsigned i = 0; i < attempt && d < max_ms; i++)
    d = d > max_ms / 2 ? max_ms : d * 2;
  if (d > max_ms)
    d = max_ms;
  /* Equal jitter keeps at least half the delay (so a storm of sessions never
   * retries at once at the start) and spreads the other half. */
  ni_ms half = d / 2;
  return half + ni__prng_next(rng) % (d - half + 1);
}

static int lower(int ch) { return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch; }

int ni__header_field(const char *hdr, size_t n, const char *name, char *out, size_t outlen) {
  size_t nl = strlen(name), i = 0;
  out[0] = 0;
  while (i < n) {
    /* i is at the start of a line. */
    size_t eol = i;
    while (eol < n && hdr[eol] != '\n')
      eol++;
    int match = eol - i > nl && hdr[i + nl] == ':';
    for (size_t k = 0; match && k < nl; k++)
      match = lower((unsigned char)hdr[i + k]) == lower((unsigned char)name[k]);
    if (!match) {
      i = eol + 1;
      continue;
    }
    /* Collect the value and its continuation lines (starting with SP/HT). */
    size_t w = 0, j = i + nl + 1;
    int space = 0;
    for (;;) {
      for (; j < eol; j++) {
        unsigned char ch = (unsigned char)hdr[j];
        if (ch == '\r')
          continue;
        if (ch == ' ' || ch == '\t') {
          space = w > 0;
          continue;
        }
        if (space && w + 1 < outlen)
          out[w++] = ' ';
        space = 0;
        if (w + 1 < outlen)
          out[w++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
      }
      if (eol + 1 < n && (hdr[eol + 1] == ' ' || hdr[eol + 1] == '\t')) {
        space = w > 0;
        j = eol + 1;
        eol = j;
        while (eol < n && hdr[eol] != '\n')
          eol++;
        continue;
      }
      break;
    }
    out[w] = 0;
    return (int)w;
  }
  return -1;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil), so no timegm() is needed. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

int64_t ni__internaldate(const char *raw, size_t n) {
  static const char key[] = "INTERNALDATE \"";
  static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
  const size_t kl = sizeof key - 1;
  for (size_t i = 0; i + kl <= n; i++) {
    size_t k = 0;
    while (k < kl && lower((unsigned char)raw[i + k]) == lower((unsigned char)key[k]))
      k++;
    if (k < kl)
      continue;
    /* date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP
     *             time SP zone DQUOTE   (RFC 3501 9) */
    const char *s = raw + i + kl;
    size_t left = n - i - kl;
    if (left < 27)
      return -1;
    char buf[27];
    memcpy(buf, s, 26);
    buf[26] = 0;
    if (buf[0] == ' ')
      buf[0] = '0';
    int day, year, hh, mm, ss, zh, zm;
    if (digits(buf, 2, &day) || buf[2] != '-' || buf[6] != '-' || digits(buf + 7, 4, &year) ||
        buf[11] != ' ' || digits(buf + 12, 2, &hh) || buf[14] != ':' ||
        digits(buf + 15, 2, &mm) || buf[17] != ':' || digits(buf + 18, 2, &ss) ||
        buf[20] != ' ' || (buf[21] != '+' && buf[21] != '-') || digits(buf + 22, 2, &zh) ||
        digits(buf + 24, 2, &zm) || s[26] != '"')
      return -1;
    int mon = 0;
    for (int m = 0; m < 12 && !mon; m++)
      if (lower((unsigned char)buf[3]) == months[3 * m] &&
          lower((unsigned char)buf[4]) == months[3 * m + 1] &&
          lower((unsigned char)buf[5]) == months[3 * m + 2])
        mon = m + 1;
    if (!mon || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || zm > 59)
      return -1;
    int64_t t = days_from_civil(year, (unsigned)mon, (unsigned)day) * 86400 + hh * 3600 +
                mm * 60 + ss;
    int64_t zone = (int64_t)zh * 3600 + zm * 60;
    return buf[21] == '+' ? t - zone : t + zone;
  }
  return -1;
}

/* ---- state and callbacks -------------------------------------------------- */

static void rearm(ni_push *p);
static void group_rearm(ni_push_group *g);
static void start_connect(ni_push *p);
static void go_idle(ni_push *p);
static void start_fetch(ni_push *p);

static ni_push *push_of(ni_ka *s) { return (ni_push *)(void *)((char *)s - offsetof(ni_push, ka)); }

/* Tell the scheduler something; every call is followed by a re-arm of the
 * group's timer, since any event can move the next expiry. */
static void ka_event(ni_push *p, ni_ka_event_type type, ni_ms rtt, ni_ms silent, ni_ms now) {
  ni_ka_event ev = {.type = type, .rtt_ms = rtt, .silent_ms = silent};
  ni_ka_on_event(&p->ka, &ev, now);
  group_rearm(p->group);
}

static void set_state(ni_push *p, ni_push_state s, int err, const char *detail) {
  if (p->state == s && !err && !(detail && *detail))
    return;
  p->state = s;
  if (!p->freed && p->cb.on_state)
    p->cb.on_state(p, s, err, detail ? detail : "", p->ud);
}

static void emit_ka(ni_push *p, ni_push_ka_kind kind, ni_ms now, ni_ms rtt) {
  if (p->freed || !p->cb.on_keepalive)
    return;
  ni_push_ka_event ev = {kind, p->ka_action, now, p->ka_interval, rtt, p->st.bytes_out,
                         p->st.bytes_in};
  p->cb.on_keepalive(p, &ev, p->ud);
}

/* Drop the current connection without a word to the server. */
static void drop_conn(ni_push *p) {
  if (p->c) {
    ni_imap_free(p->c);
    p->c = NULL;
  }
  p->ka_inflight = 0;
  p->ka_suspect = 0;
  p->in_idle_cmd = 0;
  p->need_fetch = 0;
  p->resyncing = 0;
  p->baseline = 0;
  p->notify = 0;
}

/* The connection is gone or declared dead: tell the scheduler, wait out the
 * backoff, reconnect.  `silent` is how long the connection had been silent
 * when it broke by itself (0 = unknown, or we gave up on it). */
static void conn_lost(ni_push *p, int err, const char *detail, ni_ms silent) {
  ni_ms now = ni_imap_now();
  drop_conn(p);
  p->setup_deadline = NI_TIME_NEVER;
  if (p->ka_connected) {
    p->ka_connected = 0;
    ka_event(p, NI_KA_EV_LOST, 0, silent, now);
  }
  if (!p->running || p->stopping) {
    p->running = 0;
    p->stopping = 0;
    p->stop_deadline = NI_TIME_NEVER;
    p->reconnect_at = NI_TIME_NEVER;
    set_state(p, NI_PUSH_STOPPED, 0, "");
    rearm(p);
    return;
  }
  /* A connection that lived a while was a success: start the backoff over.
   * One that dies right after reaching IDLE (a server that kicks every new
   * session) keeps growing it, so such a loop slows down to the cap. */
  if (p->up_since && now - p->up_since >= NI_PUSH_STABLE_MS)
    p->attempts = 0;
  p->up_since = 0;
  ni_ms wait = ni__backoff_ms(p->attempts, p->backoff_min, p->backoff_max, &p->rng);
  if (p->attempts < 32)
    p->attempts++;
  p->reconnect_at = now + wait;
  set_state(p, NI_PUSH_RECONNECT_WAIT, err, detail);
  rearm(p);
}

/* ---- mail timing for the scheduler (NI_KA_EV_PUSH_IN_NOOP and
 * NI_KA_EV_PUSH_DELAY; the rule that judges them is in keepalive.h) ---- */

/* An INTERNALDATE is taken as the moment the message reached the server
 * only when it is sane: not before 2000 (a server clock never set, or a
 * date made up by whoever appended the message) and not later than the
 * local wall clock plus one second of skew between the two machines (more
 * is a wrong clock).  A message moved in from another folder keeps its old
 * INTERNALDATE and still passes; the scheduler's rule copes with that. */
#define NI_PUSH_DATE_MIN_S 946684800 /* 2000-01-01T00:00:00Z */
#define NI_PUSH_DATE_SKEW_MS 1000

static int internaldate_sane(int64_t date_s, int64_t wall_now) {
  return date_s >= NI_PUSH_DATE_MIN_S && date_s <= (wall_now + NI_PUSH_DATE_SKEW_MS) / 1000;
}

static void ka_mail_event(ni_push *p, const ni_ka_event *ev) {
  ni_ka_on_event(&p->ka, ev, ni_imap_now());
  group_rearm(p->group);
}

/* A new message came in the answer to a keepalive rather than as a push
 * during the silence before it.  Either the NAT lost the push (it forgot
 * the mapping and our keepalive re-created it) or the server had not sent
 * it yet; the scheduler tells them apart by the message's age when the
 * keepalive left.  A message stored after that proves nothing and is not
 * reported; one of unknown age is reported with age 0.  Called for every
 * new message; acts only while a keepalive is out, or while fetching after
 * an EXISTS that came in a keepalive's answer. */
static void check_push_in_keepalive(ni_push *p, int64_t internaldate) {
  if (!p->ka_inflight && !p->ka_suspect)
    return;
  ni_ka_event ev = {.type = NI_KA_EV_PUSH_IN_NOOP};
  if (internaldate_sane(internaldate, wall_ms())) {
    int64_t age = p->ka_sent_wall - internaldate * 1000;
    if (age <= 0)
      return;
    ev.age_ms = (ni_ms)age;
  }
  ka_mail_event(p, &ev);
}

/* A message pushed inside IDLE (by NOTIFY, or fetched after an EXISTS that
 * came in IDLE): its delay from the server's INTERNALDATE to the push, for
 * the scheduler's estimate of how late this server pushes.  seen_at is when
 * the push arrived (ni_imap_now() clock), now the current time. */
static void report_push_delay(ni_push *p, int64_t internaldate, ni_ms seen_at, ni_ms now) {
  int64_t wall = wall_ms();
  if (!internaldate_sane(internaldate, wall))
    return;
  int64_t d = wall - (int64_t)(now - seen_at) - internaldate * 1000;
  ni_ka_event ev = {.type = NI_KA_EV_PUSH_DELAY, .delay_ms = d > 0 ? (ni_ms)d : 0};
  ka_mail_event(p, &ev);
}

/* ---- end of mail timing ---- */

/* Report one FETCH of a message whose UID is above the last one known. */
static void report_fetch(ni_push *p, const ni_resp *r) {
  const ni_fetch *f = &r->fetch;
  if (!f->has_uid)
    return;
  if (p->baseline) {
    if (f->uid > p->st.last_uid)
      p->st.last_uid = f->uid;
    return;
  }
  if (f->uid <= p->st.last_uid)
    return; /* already reported, or a flag change of an old message */
  ni_ms now = ni_imap_now();
  if (!f->header.n && !f->has_envelope) {
    /* A bare notification (UID or FLAGS only): fetch the fields. */
    if (!p->need_fetch)
      p->need_fetch_since = now;
    p->need_fetch = 1;
    return;
  }
  char from[NI_PUSH_FIELD_MAX], to[NI_PUSH_FIELD_MAX], subject[NI_PUSH_FIELD_MAX];
  from[0] = to[0] = subject[0] = 0;
  if (f->header.n) {
    ni__header_field(f->header.p, f->header.n, "From", from, sizeof from);
    ni__header_field(f->header.p, f->header.n, "To", to, sizeof to);
    ni__header_field(f->header.p, f->header.n, "Subject", subject, sizeof subject);
  } else {
    snprintf(from, sizeof from, "%.*s", (int)f->env_from.n, f->env_from.p);
    snprintf(subject, sizeof subject, "%.*s", (int)f->env_subject.n, f->env_subject.p);
  }
  ni_push_msg m;
  memset(&m, 0, sizeof m);
  m.uid = f->uid;
  m.uidvalidity = p->st.uidvalidity;
  m.from = from;
  m.to = to;
  m.subject = subject;
  m.internaldate = ni__internaldate(r->raw.p, r->raw.n);
  m.seen_at = p->state == NI_PUSH_FETCHING ? p->fetch_since : now;
  if (m.internaldate >= 0) {
    int64_t d = wall_ms() - m.internaldate * 1000;
    m.delay_ms = d > 0 ? (ni_ms)d : 0;
  } else {
    m.delay_ms = now - m.seen_at;
  }
  m.late = p->resyncing;
  m.pushed = p->notify && (p->state == NI_PUSH_IDLE || p->state == NI_PUSH_KEEPALIVE);
  check_push_in_keepalive(p, m.internaldate);
  if (m.pushed && p->state == NI_PUSH_IDLE)
    ka_event(p, NI_KA_EV_PUSH_IN_IDLE, 0, 0, now);
  if ((m.pushed && p->state == NI_PUSH_IDLE) ||
      (p->state == NI_PUSH_FETCHING && p->fetch_pushed && !p->ka_suspect && !p->ka_inflight))
    report_push_delay(p, m.internaldate, m.seen_at, now);
  p->st.last_uid = f->uid;
  p->st.messages++;
  if (m.late)
    p->st.messages_late++;
  if (m.delay_ms > p->st.worst_delay_ms)
    p->st.worst_delay_ms = m.delay_ms;
  if (!p->freed && p->cb.on_message)
    p->cb.on_message(p, &m, p->ud);
}

static void on_untagged(ni_imap *c, const ni_resp *r, void *ud) {
  ni_push *p = ud;
  (void)c;
  switch (r->type) {
  case NI_R_OK:
    if (p->state == NI_PUSH_SELECTING && r->code.n) {
      if (r->code.n == 11 && !memcmp(r->code.p, "UIDVALIDITY", 11))
        p->sel_uidvalidity = r->code_n1;
      else if (r->code.n == 7 && !memcmp(r->code.p, "UIDNEXT", 7))
        p->sel_uidnext = r->code_n1;
    }
    break;
  case NI_R_EXISTS:
    /* Without NOTIFY, EXISTS is all the push there is: leave IDLE and
     * fetch.  With NOTIFY the FETCH that follows carries the message.  The
     * EXISTS in SELECT's answer counts what UIDNEXT already covers. */
    if (p->notify || p->state == NI_PUSH_SELECTING)
      break;
    if (p->state == NI_PUSH_IDLE)
      ka_event(p, NI_KA_EV_PUSH_IN_IDLE, 0, 0, ni_imap_now());
    else if (p->state == NI_PUSH_KEEPALIVE)
      p->ka_suspect = 1; /* judged by the INTERNALDATE the fetch brings */
    if (!p->need_fetch) {
      p->need_fetch_since = ni_imap_now();
      p->need_fetch_pushed = p->state == NI_PUSH_IDLE; /* its delay is a push delay */
    }
    p->need_fetch = 1;
    if (p->state == NI_PUSH_IDLE && p->c)
      ni_imap_idle_done(p->c);
    break;
  case NI_R_FETCH:
    report_fetch(p, r);
    if (p->need_fetch && p->state == NI_PUSH_IDLE && p->c)
      ni_imap_idle_done(p->c);
    break;
  default:
    break;
  }
}

static void on_io(ni_imap *c, int dir, size_t nbytes, ni_ms now, void *ud) {
  ni_push *p = ud;
  ni_push_group *g = p->group;
  (void)c;
  if (dir) {
    p->st.bytes_out += nbytes;
    /* A send after a silence longer than the radio's tail wakes the radio. */
    if (!p->last_traffic || now - p->last_traffic > NI_PUSH_RADIO_TAIL_MS)
      p->st.wakeups++;
    if (!g->last_traffic || now - g->last_traffic > NI_PUSH_RADIO_TAIL_MS)
      g->wakeups++;
  } else {
    p->st.bytes_in += nbytes;
  }
  p->last_traffic = g->last_traffic = now;
  if (p->ka_connected)
    ka_event(p, dir ? NI_KA_EV_TX : NI_KA_EV_RX, 0, 0, now);
}

static void on_end(ni_imap *c, ni_end how, int err, void *ud) {
  ni_push *p = ud;
  if (c != p->c)
    return;
  char buf[128];
  snprintf(buf, sizeof buf, "connection ended (%s)", ni_end_name(how));
  /* A connection that broke while nothing of ours was waiting for an
   * answer broke on its own after its silence: that tells the scheduler
   * something about the NAT. */
  ni_ms now = ni_imap_now();
  ni_ms silent = 0;
  if ((how == NI_END_RESET || how == NI_END_CLOSED) && p->state == NI_PUSH_IDLE &&
      p->last_traffic && now > p->last_traffic)
    silent = now - p->last_traffic;
  conn_lost(p, err ? err : NI_ECLOSED, buf, silent);
}

static const ni_imap_cb imap_cb = {on_untagged, on_io, on_end, NULL};

/* Completion of a command whose failure ends the connection: say why. */
static int cmd_failed(ni_push *p, int status, const char *what) {
  if (status >= 0)
    return 0;
  char buf[256];
  const char *es = p->c ? ni_imap_errstr(p->c) : "";
  /* The connection's own text is the more precise one when there is one. */
  snprintf(buf, sizeof buf, "%s: %s", what, *es ? es : ni_strerror(status));
  conn_lost(p, status, buf, 0);
  return 1;
}

static void on_idle_done(ni_imap *c, int status, const ni_resp *tagged, void *arg);

static void on_idling(ni_imap *c, void *arg) {
  ni_push *p = arg;
  ni_ms now = ni_imap_now();
  (void)c;
  if (p->setup_deadline != NI_TIME_NEVER) {
    /* First IDLE of this connection: setup is over. */
    p->setup_deadline = NI_TIME_NEVER;
    p->up_since = now;
    p->st.connects++;
    rearm(p);
  }
  /* A keepalive asked for before the "+" arrived has its DONE on the way. */
  set_state(p, p->ka_inflight ? NI_PUSH_KEEPALIVE : NI_PUSH_IDLE, 0, p->notify ? "notify" : "");
  ka_event(p, NI_KA_EV_IDLE_ENTERED, 0, 0, now);
  /* An EXISTS may have come in while the IDLE command was on its way. */
  if (p->need_fetch && p->c)
    ni_imap_idle_done(p->c);
}

static void go_idle(ni_push *p) {
  if (!p->c)
    return;
  if (p->need_fetch) {
    start_fetch(p);
    return;
  }
  int rc = ni_imap_idle(p->c, on_idling, on_idle_done, p);
  if (rc < 0)
    cmd_failed(p, rc, "IDLE");
  else
    p->in_idle_cmd = 1;
}

/* The answer to a keepalive (the tagged OK of DONE or of NOOP). */
static void ka_answered(ni_push *p) {
  ni_ms now = ni_imap_now();
  ni_ms rtt = now - p->ka_sent_at;
  p->ka_inflight = 0;
  p->st.keepalives_answered++;
  ka_event(p, NI_KA_EV_KA_ANSWERED, rtt ? rtt : 1, 0, now);
  emit_ka(p, NI_PUSH_KA_ANSWERED, now, rtt);
}

static void on_noop_done(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  (void)c;
  (void)tagged;
  if (cmd_failed(p, status, "NOOP"))
    return;
  if (p->ka_inflight && p->ka_action == NI_KA_NOOP)
    ka_answered(p);
  if (!p->stopping && p->state != NI_PUSH_FETCHING && p->state != NI_PUSH_SYNCING)
    go_idle(p);
}

static void on_idle_done(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  (void)c;
  (void)tagged;
  p->in_idle_cmd = 0;
  if (cmd_failed(p, status, "IDLE"))
    return;
  if (p->ka_inflight && p->ka_action == NI_KA_REIDLE)
    ka_answered(p);
  if (!p->c || p->stopping)
    return; /* freed or stopped in a callback, or LOGOUT is queued behind */
  if (p->need_fetch)
    ka_event(p, NI_KA_EV_IDLE_LEFT, 0, 0, ni_imap_now());
  go_idle(p);
}

static void on_fetch_done(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  (void)c;
  (void)tagged;
  if (cmd_failed(p, status, "UID FETCH"))
    return;
  p->ka_suspect = 0;
  if (!p->stopping)
    go_idle(p);
}

/* UID FETCH every message above the last UID known.  "N:*" also returns the
 * highest message when it is below N, which report_fetch() skips. */
static void start_fetch(ni_push *p) {
  char set[32];
  snprintf(set, sizeof set, "%lu:*", (unsigned long)p->st.last_uid + 1);
  set_state(p, NI_PUSH_FETCHING, 0, "");
  /* Cleared before sending: an EXISTS during the fetch sets it again. */
  p->fetch_since = p->need_fetch ? p->need_fetch_since : ni_imap_now();
  p->fetch_pushed = p->need_fetch && p->need_fetch_pushed;
  p->need_fetch = 0;
  int rc = ni_imap_uid_fetch(p->c, set, NI_PUSH_FETCH_ITEMS, on_fetch_done, p);
  if (rc < 0)
    cmd_failed(p, rc, "UID FETCH");
}

static void on_notify_done(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  (void)c;
  (void)tagged;
  if (status == NI_ENO || status == NI_EBAD) {
    /* The server offered NOTIFY but refused this request: IDLE alone still
     * works, at the cost of a round trip per message. */
    p->notify = 0;
    set_state(p, p->state, 0, "NOTIFY refused; using IDLE and FETCH");
  } else if (cmd_failed(p, status, "NOTIFY")) {
    return;
  } else {
    p->notify = 1;
  }
  go_idle(p);
}

/* After SELECT (and a resync if needed): the session is ready, so the
 * scheduler's silence clock starts; NOTIFY when possible, then IDLE. */
static void after_sync(ni_push *p) {
  p->resyncing = 0;
  p->baseline = 0;
  p->ka_connected = 1;
  ka_event(p, NI_KA_EV_CONNECTED, 0, 0, ni_imap_now());
  if (!p->no_notify && ni_imap_has_cap(p->c, "NOTIFY")) {
    /* p->notify is set only by the tagged OK: until then an EXISTS may
     * come from before the server took the request, and must be fetched. */
    int rc = ni_imap_notify_set(p->c, NI_PUSH_NOTIFY_SPEC, on_notify_done, p);
    if (rc == 0)
      return;
    if (rc != NI_ENOCAP && cmd_failed(p, rc, "NOTIFY"))
      return;
  }
  go_idle(p);
}

static void on_sync_done(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  (void)c;
  (void)tagged;
  if (cmd_failed(p, status, p->baseline ? "UID FETCH *" : "UID FETCH (resync)"))
    return;
  after_sync(p);
}

static void on_selected(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  (void)tagged;
  if (cmd_failed(p, status, "SELECT"))
    return;
  const char *items = NI_PUSH_FETCH_ITEMS;
  char set[32];
  if (p->st.uidvalidity && p->sel_uidvalidity == p->st.uidvalidity) {
    /* Reconnected to the same mailbox: fetch what arrived meanwhile. */
    if (p->sel_uidnext && p->sel_uidnext - 1 <= p->st.last_uid) {
      after_sync(p);
      return;
    }
    p->resyncing = 1;
    snprintf(set, sizeof set, "%lu:*", (unsigned long)p->st.last_uid + 1);
    set_state(p, NI_PUSH_SYNCING, 0, "");
  } else {
    if (p->st.uidvalidity) {
      /* UIDs of the old UIDVALIDITY mean nothing now, so "above the last
       * UID seen" cannot be asked.  Start over from the mailbox as it is. */
      char buf[128];
      snprintf(buf, sizeof buf, "uidvalidity changed from %lu to %lu: resync from now",
               (unsigned long)p->st.uidvalidity, (unsigned long)p->sel_uidvalidity);
      set_state(p, NI_PUSH_SYNCING, 0, buf);
    }
    p->st.uidvalidity = p->sel_uidvalidity;
    if (p->sel_uidnext) {
      p->st.last_uid = p->sel_uidnext - 1;
      after_sync(p);
      return;
    }
    /* No UIDNEXT in the SELECT answer: learn the highest UID instead. */
    p->st.last_uid = 0;
    p->baseline = 1;
    items = "(UID)";
    snprintf(set, sizeof set, "*");
    set_state(p, NI_PUSH_SYNCING, 0, "");
  }
  int rc = ni_imap_uid_fetch(c, set, items, on_sync_done, p);
  if (rc < 0)
    cmd_failed(p, rc, "UID FETCH");
}

static void on_login(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  (void)tagged;
  if (cmd_failed(p, status, "login"))
    return;
  if (!ni_imap_has_cap(c, "IDLE")) {
    conn_lost(p, NI_ENOCAP, "server lacks IDLE", 0);
    return;
  }
  p->sel_uidvalidity = p->sel_uidnext = 0;
  set_state(p, NI_PUSH_SELECTING, 0, p->mailbox);
  int rc = ni_imap_select(c, p->mailbox, 0, on_selected, p);
  if (rc < 0)
    cmd_failed(p, rc, "SELECT");
}

static void on_connected(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  (void)tagged;
  if (cmd_failed(p, status, "connect"))
    return;
  if (ni_imap_is_authenticated(c)) {
    on_login(c, 0, NULL, p);
    return;
  }
  set_state(p, NI_PUSH_AUTHENTICATING, 0, "");
  char *pw = ni__secret_reveal(&p->password);
  int rc = pw ? ni_imap_login(c, p->user, pw, on_login, p) : -ENOMEM;
  ni__secret_free_plain(&p->password, pw);
  if (rc < 0)
    cmd_failed(p, rc, "login");
}

static void start_connect(ni_push *p) {
  ni_ms now = ni_imap_now();
  p->reconnect_at = NI_TIME_NEVER;
  p->setup_deadline = now + p->setup_timeout;
  if (p->started_once)
    p->st.reconnects++;
  p->started_once = 1;
  ni_imap_opts o;
  memset(&o, 0, sizeof o);
  o.host = p->host;
  o.port = p->port;
  o.tls = p->tls;
  o.ca_file = p->ca_file;
  o.insecure = p->insecure;
  o.allow_plaintext = p->allow_plaintext;
  o.connect_timeout_ms = (uint32_t)p->setup_timeout;
  set_state(p, NI_PUSH_CONNECTING, 0, "");
  if (p->freed || !p->running)
    return; /* the callback freed or stopped the session */
  p->c = ni_imap_new(p->loop, &o, &imap_cb, p);
  if (!p->c) {
    conn_lost(p, -ENOMEM, "out of memory", 0);
    return;
  }
  int rc = ni_imap_connect(p->c, on_connected, p);
  if (rc < 0) {
    conn_lost(p, rc, "connect", 0);
    return;
  }
  rearm(p);
}

/* ---- timers ------------------------------------------------------------------ */

/* Carry out what the scheduler asked of session p at `now`. */
static void ka_act(ni_push *p, ni_ka_action a, ni_ms now) {
  if (a == NI_KA_DEAD) {
    /* The reply deadline passed: a NAT that lost the mapping drops
     * everything silently, and TCP would retransmit for many minutes. */
    p->st.keepalives_unanswered++;
    emit_ka(p, NI_PUSH_KA_UNANSWERED, now, 0);
    if (!p->freed && p->running && !p->stopping)
      conn_lost(p, NI_ETIMEDOUT, "keepalive unanswered", 0);
    return;
  }
  if ((a != NI_KA_NOOP && a != NI_KA_REIDLE) || !p->c || p->stopping)
    return;
  /* An IDLE whose "+" is still on its way counts as idling: DONE goes out
   * as soon as the "+" arrives, where a NOOP would wait behind the IDLE. */
  int idling = p->in_idle_cmd;
  p->ka_inflight = 1;
  p->ka_suspect = 0;
  /* Inside IDLE the keepalive is DONE (its tagged OK is the answer, then
   * IDLE again); outside IDLE (fetching) it is a NOOP queued behind. */
  p->ka_action = idling ? NI_KA_REIDLE : NI_KA_NOOP;
  p->ka_sent_at = now;
  p->ka_sent_wall = wall_ms();
  p->ka_interval = p->last_traffic && now > p->last_traffic ? now - p->last_traffic : 0;
  p->st.keepalives++;
  if (idling) {
    set_state(p, NI_PUSH_KEEPALIVE, 0, "");
    ni_imap_idle_done(p->c);
  } else if (ni_imap_noop(p->c, on_noop_done, p) < 0) {
    cmd_failed(p, NI_ESTATE, "NOOP");
    return;
  }
  emit_ka(p, NI_PUSH_KA_SENT, now, 0);
}

static void on_group_timer(uv_timer_t *t) {
  ni_push_group *g = t->data;
  ni_ms now = ni_imap_now();
  ni_ka_action a;
  ni_ka *s;
  /* Bounded: at one `now` every session acts at most once (a keepalive's
   * reply deadline lies after it, a dead session has none); the cap only
   * guards against a scheduler that keeps answering at the same `now`.
   * ka_act may free sessions, so the count is taken before the loop. */
  size_t cap = 2 * g->sessions + 16;
  for (size_t i = 0; i < cap && (s = ni_ka_group_handle_expiry(&g->kg, now, &a)) != NULL; i++)
    ka_act(push_of(s), a, now);
  group_rearm(g);
}

static void group_rearm(ni_push_group *g) {
  if (g->closing)
    return;
  ni_ms due = ni_ka_group_get_expiry(&g->kg);
  if (due == NI_TIME_NEVER) {
    uv_timer_stop(&g->timer);
    return;
  }
  ni_ms now = ni_imap_now();
  uv_timer_start(&g->timer, on_group_timer, due > now ? due - now : 0, 0);
}

static void on_timer(uv_timer_t *t) {
  ni_push *p = t->data;
  ni_ms now = ni_imap_now();
  if (p->freed)
    return;
  if (p->stop_deadline != NI_TIME_NEVER && now >= p->stop_deadline) {
    conn_lost(p, 0, "", 0); /* LOGOUT not answered in time */
    return;
  }
  if (p->reconnect_at != NI_TIME_NEVER && now >= p->reconnect_at && p->running) {
    start_connect(p);
    return;
  }
  if (p->c && p->setup_deadline != NI_TIME_NEVER && now >= p->setup_deadline) {
    conn_lost(p, NI_ETIMEDOUT, "no answer during setup", 0);
    return;
  }
  rearm(p);
}

static void rearm(ni_push *p) {
  if (p->freed)
    return;
  ni_ms due = p->stop_deadline;
  if (p->reconnect_at < due)
    due = p->reconnect_at;
  if (p->c && p->setup_deadline < due)
    due = p->setup_deadline;
  if (due == NI_TIME_NEVER) {
    uv_timer_stop(&p->timer);
    return;
  }
  ni_ms now = ni_imap_now();
  uv_timer_start(&p->timer, on_timer, due > now ? due - now : 0, 0);
}

/* ---- public API ------------------------------------------------------------- */

const char *ni_push_state_name(ni_push_state s) {
  static const char *const names[] = {"stopped", "connecting", "authenticating",
                                      "selecting", "syncing", "idle",
                                      "keepalive", "fetching", "reconnect-wait"};
  return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

int ni_push_group_new(uv_loop_t *loop, ni_push_group **out) {
  ni_push_group *g = calloc(1, sizeof *g);
  *out = NULL;
  if (!g)
    return -ENOMEM;
  g->loop = loop;
  ni_ka_group_init(&g->kg);
  uv_timer_init(loop, &g->timer);
  g->timer.data = g;
  *out = g;
  return 0;
}

uint64_t ni_push_group_wakeups(const ni_push_group *g) { return g->wakeups; }

static void on_group_closed(uv_handle_t *h) { free(h->data); }

int ni_push_group_free(ni_push_group *g) {
  if (!g)
    return 0;
  if (g->sessions)
    return NI_ESTATE;
  if (!g->closing) {
    g->closing = 1;
    uv_timer_stop(&g->timer);
    uv_close((uv_handle_t *)&g->timer, on_group_closed);
  }
  return 0;
}

static void free_strings(ni_push *p) {
  ni__secret_drop(&p->password);
  free(p->account);
  free(p->host);
  free(p->user);
  free(p->ca_file);
  free(p->mailbox);
}

int ni_push_new(uv_loop_t *loop, const ni_push_opts *o, const ni_push_cb *cb, void *ud,
                ni_push **out) {
  *out = NULL;
  if (!loop || !o || !o->host || !*o->host || !o->user || !*o->user || !o->password)
    return NI_EUSAGE;
  if (o->group && o->group->closing)
    return NI_ESTATE;
  ni_push *p = calloc(1, sizeof *p);
  if (!p)
    return -ENOMEM;
  ni_ka_config kc;
  if (o->ka)
    kc = *o->ka;
  else
    ni_ka_config_default(&kc);
  int rc = ni_ka_init(&p->ka, &kc);
  if (rc < 0) {
    free(p);
    return rc;
  }
  p->loop = loop;
  if (cb)
    p->cb = *cb;
  p->ud = ud;
  p->account = dup_or_null(o->account ? o->account : o->user);
  p->host = dup_or_null(o->host);
  p->user = dup_or_null(o->user);
  int pw_rc = ni__secret_keep(&p->password, o->password, strlen(o->password));
  p->ca_file = dup_or_null(o->ca_file);
  p->mailbox = dup_or_null(o->mailbox ? o->mailbox : "INBOX");
  p->group = o->group;
  if (!p->group) {
    if (ni_push_group_new(loop, &p->group) < 0)
      p->group = NULL;
    p->own_group = 1;
  }
  if (!p->account || !p->host || !p->user || pw_rc < 0 || !p->mailbox || !p->group ||
      (o->ca_file && !p->ca_file)) {
    if (p->own_group)
      ni_push_group_free(p->group);
    free_strings(p);
    free(p);
    return -ENOMEM;
  }
  ni_ka_group_add(&p->group->kg, &p->ka);
  p->group->sessions++;
  p->port = o->port;
  p->tls = o->tls;
  p->insecure = o->insecure;
  p->allow_plaintext = o->allow_plaintext;
  p->no_notify = o->no_notify;
  p->setup_timeout = o->setup_timeout_ms ? o->setup_timeout_ms : 30000;
  p->backoff_min = o->backoff_min_ms ? o->backoff_min_ms : 1000;
  p->backoff_max = o->backoff_max_ms ? o->backoff_max_ms : 300000;
  if (p->backoff_max < p->backoff_min)
    p->backoff_max = p->backoff_min;
  p->rng = o->seed ? o->seed : (uint64_t)uv_hrtime() ^ (uint64_t)(uintptr_t)p;
  p->setup_deadline = p->stop_deadline = p->reconnect_at = NI_TIME_NEVER;
  uv_timer_init(loop, &p->timer);
  p->timer.data = p;
  *out = p;
  return 0;
}

int ni_push_start(ni_push *p) {
  if (p->running || p->freed)
    return NI_ESTATE;
  p->running = 1;
  p->stopping = 0;
  p->stop_deadline = NI_TIME_NEVER;
  start_connect(p);
  return 0;
}

static void on_logout(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  (void)c;
  (void)status;
  (void)tagged;
  conn_lost(p, 0, "", 0);
}

int ni_push_stop(ni_push *p, int graceful) {
  if (!p->running)
    return NI_ESTATE;
  p->reconnect_at = NI_TIME_NEVER;
  if (p->stopping)
    return 0; /* a LOGOUT is already under way */
  if (graceful && p->c && ni_imap_is_authenticated(p->c) && !ni_imap_is_ended(p->c)) {
    p->stopping = 1;
    p->stop_deadline = ni_imap_now() + NI_PUSH_LOGOUT_MS;
    if (ni_imap_is_idling(p->c))
      ni_imap_idle_done(p->c);
    if (ni_imap_logout(p->c, on_logout, p) == 0) {
      rearm(p);
      return 0;
    }
  }
  p->running = 0;
  conn_lost(p, 0, "", 0);
  return 0;
}

ni_push_state ni_push_get_state(const ni_push *p) { return p->state; }

void ni_push_get_stats(const ni_push *p, ni_push_stats *st) { *st = p->st; }

const char *ni_push_account(const ni_push *p) { return p->account; }

void *ni_push_userdata(const ni_push *p) { return p->ud; }

const ni_ka *ni_push_scheduler(const ni_push *p) { return &p->ka; }

int ni_push_uses_notify(const ni_push *p) { return p->notify; }

ni_ms ni_push_reconnect_in(const ni_push *p) {
  if (p->reconnect_at == NI_TIME_NEVER)
    return NI_TIME_NEVER;
  ni_ms now = ni_imap_now();
  return p->reconnect_at > now ? p->reconnect_at - now : 0;
}

static void on_timer_closed(uv_handle_t *h) {
  ni_push *p = h->data;
  free_strings(p);
  free(p);
}

void ni_push_free(ni_push *p) {
  if (!p || p->freed)
    return;
  p->freed = 1;
  p->running = 0;
  if (p->c) {
    ni_imap_free(p->c);
    p->c = NULL;
  }
  ni_ka_group_remove(&p->group->kg, &p->ka);
  p->group->sessions--;
  group_rearm(p->group);
  if (p->own_group)
    ni_push_group_free(p->group);
  uv_timer_stop(&p->timer);
  uv_close((uv_handle_t *)&p->timer, on_timer_closed);
}
