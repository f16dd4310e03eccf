/*
 * Mail of the push session (see natidle/push.h): the header fields and the
 * INTERNALDATE of a FETCH, each new message reported once, the resync after
 * a (re)connect, and the timing of mail that the scheduler learns from.
 */
#include <stdio.h>
#include <string.h>

#include "keepalive/driver_internal.h"

static int lower(int ch) {
  return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

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
        if (ch == '\r') continue;
        if (ch == ' ' || ch == '\t') {
          space = w > 0;
          continue;
        }
        if (space && w + 1 < outlen) out[w++] = ' ';
        space = 0;
        if (w + 1 < outlen) out[w++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
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
    if (s[i] < '0' || s[i] > '9') return -1;
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
    if (k < kl) continue;
    /* date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP
     *             time SP zone DQUOTE   (RFC 3501 9) */
    const char *s = raw + i + kl;
    size_t left = n - i - kl;
    if (left < 27) return -1;
    char buf[27];
    memcpy(buf, s, 26);
    buf[26] = 0;
    if (buf[0] == ' ') buf[0] = '0';
    int day, year, hh, mm, ss, zh, zm;
    if (digits(buf, 2, &day) || buf[2] != '-' || buf[6] != '-' || digits(buf + 7, 4, &year) ||
        buf[11] != ' ' || digits(buf + 12, 2, &hh) || buf[14] != ':' || digits(buf + 15, 2, &mm) ||
        buf[17] != ':' || digits(buf + 18, 2, &ss) || buf[20] != ' ' ||
        (buf[21] != '+' && buf[21] != '-') || digits(buf + 22, 2, &zh) ||
        digits(buf + 24, 2, &zm) || s[26] != '"')
      return -1;
    int mon = 0;
    for (int m = 0; m < 12 && !mon; m++)
      if (lower((unsigned char)buf[3]) == months[3 * m] &&
          lower((unsigned char)buf[4]) == months[3 * m + 1] &&
          lower((unsigned char)buf[5]) == months[3 * m + 2])
        mon = m + 1;
    if (!mon || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || zm > 59) return -1;
    int64_t t =
        days_from_civil(year, (unsigned)mon, (unsigned)day) * 86400 + hh * 3600 + mm * 60 + ss;
    int64_t zone = (int64_t)zh * 3600 + zm * 60;
    return buf[21] == '+' ? t - zone : t + zone;
  }
  return -1;
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
  ni__push_group_rearm(p->group);
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
  if (!p->ka_inflight && !p->ka_suspect) return;
  ni_ka_event ev = {.type = NI_KA_EV_PUSH_IN_NOOP};
  if (internaldate_sane(internaldate, ni__push_wall_ms())) {
    int64_t age = p->ka_sent_wall - internaldate * 1000;
    if (age <= 0) return;
    ev.age_ms = (ni_ms)age;
  }
  ka_mail_event(p, &ev);
}

/* A message pushed inside IDLE (by NOTIFY, or fetched after an EXISTS that
 * came in IDLE): its delay from the server's INTERNALDATE to the push, for
 * the scheduler's estimate of how late this server pushes.  seen_at is when
 * the push arrived (ni_imap_now() clock), now the current time. */
static void report_push_delay(ni_push *p, int64_t internaldate, ni_ms seen_at, ni_ms now) {
  int64_t wall = ni__push_wall_ms();
  if (!internaldate_sane(internaldate, wall)) return;
  int64_t d = wall - (int64_t)(now - seen_at) - internaldate * 1000;
  ni_ka_event ev = {.type = NI_KA_EV_PUSH_DELAY, .delay_ms = d > 0 ? (ni_ms)d : 0};
  ka_mail_event(p, &ev);
}

/* ---- end of mail timing ---- */

/* Report one FETCH of a message whose UID is above the last one known. */
void ni__push_report_fetch(ni_push *p, const ni_resp *r) {
  const ni_fetch *f = &r->fetch;
  if (!f->has_uid) return;
  if (p->baseline) {
    if (f->uid > p->st.last_uid) p->st.last_uid = f->uid;
    return;
  }
  if (f->uid <= p->st.last_uid) return; /* already reported, or a flag change of an old message */
  ni_ms now = ni_imap_now();
  if (!f->header.n && !f->has_envelope) {
    /* A bare notification (UID or FLAGS only): fetch the fields. */
    if (!p->need_fetch) p->need_fetch_since = now;
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
    int64_t d = ni__push_wall_ms() - m.internaldate * 1000;
    m.delay_ms = d > 0 ? (ni_ms)d : 0;
  } else {
    m.delay_ms = now - m.seen_at;
  }
  /* The first sync of a session started from a known last UID finds mail
   * that arrived while no session ran; a later one, mail whose push a lost
   * connection kept from us. */
  m.backlog = p->resyncing && !p->synced_once;
  m.late = p->resyncing && p->synced_once;
  m.pushed = p->notify && (p->state == NI_PUSH_IDLE || p->state == NI_PUSH_KEEPALIVE);
  check_push_in_keepalive(p, m.internaldate);
  if (m.pushed && p->state == NI_PUSH_IDLE) ni__push_ka_event(p, NI_KA_EV_PUSH_IN_IDLE, 0, 0, now);
  if ((m.pushed && p->state == NI_PUSH_IDLE) ||
      (p->state == NI_PUSH_FETCHING && p->fetch_pushed && !p->ka_suspect && !p->ka_inflight))
    report_push_delay(p, m.internaldate, m.seen_at, now);
  p->st.last_uid = f->uid;
  p->st.messages++;
  if (m.late) p->st.messages_late++;
  /* A backlog message's delay is how long the application was away, not
   * how late a push came. */
  if (!m.backlog && m.delay_ms > p->st.worst_delay_ms) p->st.worst_delay_ms = m.delay_ms;
  ni__push_log(p, NI_PUSH_LOG_DEBUG, "new message uid %lu%s", (unsigned long)m.uid,
               m.backlog  ? " (backlog)"
               : m.late   ? " (late)"
               : m.pushed ? " (pushed)"
                          : "");
  if (!p->freed && p->cb.on_message) p->cb.on_message(p, &m, p->ud);
}

static void on_fetch_done(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  (void)c;
  (void)tagged;
  if (ni__push_cmd_failed(p, status, "UID FETCH")) return;
  p->ka_suspect = 0;
  if (!p->stopping) ni__push_go_idle(p);
}

/* UID FETCH every message above the last UID known.  "N:*" also returns the
 * highest message when it is below N, which ni__push_report_fetch() skips. */
void ni__push_start_fetch(ni_push *p) {
  char set[32];
  snprintf(set, sizeof set, "%lu:*", (unsigned long)p->st.last_uid + 1);
  ni__push_set_state(p, NI_PUSH_FETCHING, 0, "");
  /* Cleared before sending: an EXISTS during the fetch sets it again. */
  p->fetch_since = p->need_fetch ? p->need_fetch_since : ni_imap_now();
  p->fetch_pushed = p->need_fetch && p->need_fetch_pushed;
  p->need_fetch = 0;
  int rc = ni_imap_uid_fetch(p->c, set, NI_PUSH_FETCH_ITEMS, on_fetch_done, p);
  if (rc < 0) ni__push_cmd_failed(p, rc, "UID FETCH");
}

/* The sync is over: tell the application when the UIDVALIDITY it knew is
 * void (now that the new last UID is known), then go on to IDLE. */
static void sync_over(ni_push *p, ni_imap *c) {
  uint32_t old = p->old_uidvalidity;
  p->old_uidvalidity = 0;
  if (old && !p->freed && p->cb.on_uidvalidity) {
    p->cb.on_uidvalidity(p, old, p->st.uidvalidity, p->st.last_uid, p->ud);
    if (p->freed || p->c != c) return; /* the callback freed or stopped the session */
  }
  ni__push_after_sync(p);
}

static void on_sync_done(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  (void)tagged;
  if (ni__push_cmd_failed(p, status, p->baseline ? "UID FETCH *" : "UID FETCH (resync)")) return;
  sync_over(p, c);
}

void ni__push_on_selected(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  (void)tagged;
  if (ni__push_cmd_failed(p, status, "SELECT")) return;
  const char *items = NI_PUSH_FETCH_ITEMS;
  char set[32];
  ni__push_log(p, NI_PUSH_LOG_INFO, "selected %s: uidvalidity %lu, uidnext %lu", p->mailbox,
               (unsigned long)p->sel_uidvalidity, (unsigned long)p->sel_uidnext);
  if (p->st.uidvalidity && p->sel_uidvalidity == p->st.uidvalidity) {
    /* The mailbox we knew (from an earlier connection, or from the
     * application's opts.last_uid): fetch what arrived meanwhile. */
    if (p->sel_uidnext && p->sel_uidnext - 1 <= p->st.last_uid) {
      ni__push_after_sync(p);
      return;
    }
    p->resyncing = 1;
    snprintf(set, sizeof set, "%lu:*", (unsigned long)p->st.last_uid + 1);
    ni__push_set_state(p, NI_PUSH_SYNCING, 0, "");
  } else {
    if (p->st.uidvalidity) {
      /* UIDs of the old UIDVALIDITY mean nothing now, so "above the last
       * UID seen" cannot be asked.  Start over from the mailbox as it is. */
      char buf[128];
      snprintf(buf, sizeof buf, "uidvalidity changed from %lu to %lu: resync from now",
               (unsigned long)p->st.uidvalidity, (unsigned long)p->sel_uidvalidity);
      p->old_uidvalidity = p->st.uidvalidity;
      ni__push_log(p, NI_PUSH_LOG_WARN, "%s", buf);
      ni__push_set_state(p, NI_PUSH_SYNCING, 0, buf);
      if (p->freed || p->c != c) return; /* the callback freed or stopped the session */
    }
    p->st.uidvalidity = p->sel_uidvalidity;
    if (p->sel_uidnext) {
      p->st.last_uid = p->sel_uidnext - 1;
      sync_over(p, c);
      return;
    }
    /* No UIDNEXT in the SELECT answer: learn the highest UID instead. */
    p->st.last_uid = 0;
    p->baseline = 1;
    items = "(UID)";
    snprintf(set, sizeof set, "*");
    ni__push_set_state(p, NI_PUSH_SYNCING, 0, "");
  }
  if (p->freed || p->c != c) return; /* the callback freed or stopped the session */
  int rc = ni_imap_uid_fetch(c, set, items, on_sync_done, p);
  if (rc < 0) ni__push_cmd_failed(p, rc, "UID FETCH");
}
