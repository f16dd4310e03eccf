/*
 * The probe's own mailboxes: their names, their creation before the
 * sessions connect, and their removal, at the end of a run or of leftovers
 * with --cleanup.  They live in one tree, ROOT<sep>RUN<sep>N, where ROOT is
 * "natidle-probe" under the personal namespace (RFC 2342): "natidle-probe"
 * on Dovecot, "INBOX.natidle-probe" on Cyrus and Courier as Debian ships
 * them.  A server without NAMESPACE gets the top level first and, when it
 * refuses that, a tree below INBOX.  A mailbox is deleted only when every
 * message in it is one of the probe's markers; one that holds anything
 * else is kept and reported, and so is one the server refuses to delete.
 * Everything runs on the control connection, one command at a time, and
 * over a long round trip the removal also on helper connections, one
 * mailbox each at a time, children always before their parents.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "probe/internal.h"

/* UID SEARCH criteria for the markers of one run ("" for any run). */
#define MARKER_CRITERIA "HEADER X-Natidle-Probe \"%s\""
/* How many trees --cleanup looks in: below the personal namespace, at the
 * top level and below INBOX (where earlier runs may have made theirs). */
#define ROOTS 3

/* ---- names and creation ---------------------------------------------------- */

/* The candidate tree i (0..ROOTS-1) into buf; returns 0, or -1 when it is
 * the same as an earlier one (and so already cleaned) or cannot be named. */
static int root_name(const ni__probe *p, unsigned i, char *buf, size_t len) {
  int n;
  if (i == 0)
    n = snprintf(buf, len, "%s" PROBE_ROOT, p->id.ns);
  else if (i == 1)
    n = p->id.ns[0] ? snprintf(buf, len, PROBE_ROOT) : -1;
  else
    n = p->id.sep && strncmp(p->id.ns, "INBOX", 5)
            ? snprintf(buf, len, "INBOX%c" PROBE_ROOT, p->id.sep)
            : -1;
  return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Name the run's tree and its mailboxes below root. */
static void name_mailboxes(ni__probe *p, const char *root) {
  snprintf(p->id.root, sizeof p->id.root, "%s", root);
  snprintf(p->id.prefix, sizeof p->id.prefix, "%s%c%s", p->id.root, p->id.sep, p->id.run_id);
  for (unsigned i = 0; i < p->k; i++)
    snprintf(p->ss[i].mbox, sizeof p->ss[i].mbox, "%s%c%u", p->id.prefix, p->id.sep, p->ss[i].num);
}

static void create_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg);

/* Create the mailboxes of sessions from..k-1 (pipelined). */
static void create_from(ni__probe *p, unsigned from) {
  p->n.creates_left = p->k - from;
  for (unsigned i = from; i < p->k; i++)
    if (ni_imap_create(p->ctl.c, p->ss[i].mbox, create_cb, &p->ss[i]) != 0) {
      ni__ctl_fatal(p, NI_ESTATE, AT_SETUP, NULL);
      return;
    }
}

static void create_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__sess *s = arg;
  ni__probe *p = s->p;
  /* The sessions start once the first mailbox is made (PH_CALIBRATE). */
  if (p->phase != PH_CREATE && p->phase != PH_CALIBRATE) return;
  if (s == &p->ss[0] && p->ctl.create_sent && status == 0 && p->ctl.srtt_ms <= 0)
    p->ctl.srtt_ms = (double)(ni_imap_now() - p->ctl.create_sent);
  p->ctl.create_sent = 0;
  if (status != 0) {
    if (!tagged) {
      /* The connection failed: on_end reports it. */
      return;
    }
    /* RFC 5530's code, or the words of a server that sends none. */
    char text[200];
    snprintf(text, sizeof text, "%.*s", (int)tagged->text.n, tagged->text.p);
    for (char *q = text; *q; q++)
      *q = (char)tolower((unsigned char)*q);
    int exists = (tagged->code.n && !strncmp(tagged->code.p, "ALREADYEXISTS", 13)) ||
                 strstr(text, "already exist");
    if (exists && p->o->resume) {
      /* A resumed run finds its own mailboxes again. */
    } else if (exists) {
      /* The name carries this run's own time stamp and random id, so no
       * one else made it, yet Dovecot has answered so to one CREATE of the
       * burst (while the sessions logged in).  Using it is safe: checks
       * only APPEND markers to it, and the cleanup deletes it only if it
       * holds nothing but them. */
      ni__note(p, 1, "CREATE %s: the server says it exists already (%.*s): using it", s->mbox,
               (int)tagged->text.n, tagged->text.p);
    } else if (p->o->resume) {
      /* Some servers refuse to create a mailbox that exists without saying
       * so (Courier: "Cannot create this folder."), and an interrupted run
       * may have left one half made.  The session's SELECT tells whether
       * the mailbox is there. */
      ni__note(p, 1, "CREATE %s refused (%.*s): resuming, SELECT will tell", s->mbox,
               (int)tagged->text.n, tagged->text.p);
    } else if (s == &p->ss[0] && !p->id.has_ns && !p->id.in_inbox && p->id.sep) {
      /* Without NAMESPACE the top level was a guess; many servers keep a
       * user's mailboxes below INBOX (Cyrus and Courier as shipped). */
      char root[sizeof p->id.root];
      snprintf(root, sizeof root, "INBOX%c" PROBE_ROOT, p->id.sep);
      ni__note(p, 1, "CREATE %s refused (%.*s): trying below INBOX", s->mbox, (int)tagged->text.n,
               tagged->text.p);
      p->id.in_inbox = 1;
      name_mailboxes(p, root);
      create_from(p, 0);
      return;
    } else {
      char why[300];
      if (tagged->code.n)
        snprintf(why, sizeof why, "[%.*s] %.*s", (int)tagged->code.n, tagged->code.p,
                 (int)tagged->text.n, tagged->text.p);
      else
        snprintf(why, sizeof why, "%.*s", (int)tagged->text.n, tagged->text.p);
      ni__error(p,
                "cannot create mailbox %s: %s (the server refuses to write; "
                "--read-only measures the outbound direction without writing anything)",
                s->mbox, why);
      p->end.fatal = NI_EREFUSED;
      ni__begin_shutdown(p);
      return;
    }
  }
  if (s == &p->ss[0] && p->n.creates_left == 1 && p->k > 1 && p->phase == PH_CREATE) {
    /* The first one worked: the others go in one burst, and the sessions
     * connect and log in meanwhile (each SELECTs its mailbox once it is
     * there: ni__sess_mailbox_ready). */
    ni__sess_mailbox_ready(s);
    create_from(p, 1);
    if (p->phase == PH_CREATE) ni__sessions_start(p);
    return;
  }
  ni__sess_mailbox_ready(s);
  if (--p->n.creates_left > 0) return;
  if (p->phase == PH_CREATE)
    ni__sessions_start(p);
  else
    ni__kick(p); /* calibration waited for the control connection */
}

/* The personal namespace is known: name the mailboxes and create them
 * (outbound checks need none). */
static void ns_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__probe *p = arg;
  if (status != 0) {
    ni__ctl_fatal(p, status, AT_SETUP, NULL);
    return;
  }
  const char *prefix = "";
  char delim = 0;
  ni_imap_personal_namespace(c, &prefix, &delim);
  p->id.has_ns = ni_imap_has_cap(c, "NAMESPACE");
  /* A server without hierarchy gets '/' in names it then treats as flat. */
  p->id.sep = delim ? delim : '/';
  snprintf(p->id.ns, sizeof p->id.ns, "%s", prefix ? prefix : "");
  ni__note(p, 2, "personal namespace \"%s\", separator '%c'%s", p->id.ns, p->id.sep,
           p->id.has_ns ? "" : " (no NAMESPACE: from LIST)");
  if (p->o->cleanup) {
    p->phase = PH_CLEANUP;
    p->clean.root = 0;
    ni__cleanup_next_root(p);
    return;
  }
  char root[sizeof p->id.root];
  root_name(p, 0, root, sizeof root);
  name_mailboxes(p, root);
  if (!(p->o->direction & NI_PDIR_INBOUND)) {
    ni__sessions_start(p);
    return;
  }
  p->phase = PH_CREATE;
  /* One first, alone: if the server refuses it, the others are not sent. */
  p->n.creates_left = 1;
  p->ctl.create_sent = ni_imap_now();
  if (ni_imap_create(c, p->ss[0].mbox, create_cb, &p->ss[0]) != 0)
    ni__ctl_fatal(p, NI_ESTATE, AT_SETUP, NULL);
}

/* Logged in: learn the personal namespace (NAMESPACE, or LIST "" "" for
 * the separator), then name and create the mailboxes, or clean up.
 * Returns 0 or an error from sending the command. */
int ni__mailboxes_begin(ni__probe *p) {
  return ni_imap_namespace(p->ctl.c, ns_cb, p);
}

/* ---- the list of mailboxes to clean ----------------------------------------- */

static void jan_dispatch(ni__probe *p);

static int jan_add(ni__janitor *j, const char *name) {
  if (j->n == j->cap) {
    size_t ncap = j->cap ? j->cap * 2 : 16;
    char **nn = realloc(j->names, ncap * sizeof *nn);
    if (!nn) return -ENOMEM;
    j->names = nn;
    unsigned char *nk = realloc(j->kept, ncap);
    if (!nk) return -ENOMEM;
    j->kept = nk;
    unsigned char *ns = realloc(j->st, ncap);
    if (!ns) return -ENOMEM;
    j->st = ns;
    j->cap = ncap;
  }
  j->names[j->n] = strdup(name);
  if (!j->names[j->n]) return -ENOMEM;
  j->kept[j->n] = 0;
  j->st[j->n] = JS_TODO;
  j->n++;
  return 0;
}

void ni__janitor_free(ni__janitor *j) {
  for (size_t i = 0; i < j->n; i++)
    free(j->names[i]);
  free(j->names);
  free(j->kept);
  free(j->st);
  memset(j, 0, sizeof *j);
}

/* Mailbox i stays: so do the mailboxes above it, whose DELETE would fail
 * (or, on some servers, take it along). */
static void jan_keep(ni__probe *p, size_t i) {
  ni__janitor *j = &p->jan;
  const char *me = j->names[i];
  j->kept[i] = 1;
  for (size_t k = 0; k < j->n; k++) {
    size_t n = strlen(j->names[k]);
    if (k != i && !strncmp(me, j->names[k], n) && me[n] == p->id.sep) j->kept[k] = 1;
  }
}

/* Parse the data of a LIST response: (flags) "sep" name.  Writes the
 * separator (0 for NIL) and the name; returns 0, or -1 for a form we do not
 * handle (a name sent as a literal is never one of ours). */
static int parse_list(ni_str d, char *sep, char *name, size_t len, int *nonexistent) {
  const char *q = d.p, *e = d.p + d.n;
  while (q < e && *q == ' ')
    q++;
  if (e - q >= 5 && !strncmp(q, "LIST ", 5)) q += 5;
  if (q >= e || *q != '(') return -1;
  const char *close = memchr(q, ')', (size_t)(e - q));
  if (!close) return -1;
  /* A parent that exists only in name (RFC 5258 \NonExistent, Dovecot's
   * intermediate levels): it goes away with its children. */
  *nonexistent = 0;
  for (const char *f = q; f + 12 <= close; f++)
    if (!strncasecmp(f, "\\NonExistent", 12)) *nonexistent = 1;
  q = close + 1;
  while (q < e && *q == ' ')
    q++;
  if (e - q >= 3 && !strncmp(q, "NIL", 3)) {
    *sep = 0;
    q += 3;
  } else if (e - q >= 3 && q[0] == '"') {
    if (q[1] == '\\' && e - q >= 4) {
      *sep = q[2];
      q += 4;
    } else {
      *sep = q[1];
      q += 3;
    }
  } else
    return -1;
  while (q < e && *q == ' ')
    q++;
  size_t n = 0;
  if (q < e && *q == '"') {
    for (q++; q < e && *q != '"'; q++) {
      if (*q == '\\' && q + 1 < e) q++;
      if (n + 1 < len) name[n++] = *q;
    }
  } else if (q < e && *q == '{') {
    return -1;
  } else {
    for (; q < e && *q != ' ' && *q != '\r' && *q != '\n'; q++)
      if (n + 1 < len) name[n++] = *q;
  }
  name[n] = '\0';
  return 0;
}

/* An untagged response on a worker's connection (and, on the control
 * connection, the LIST of the tree being cleaned). */
static void jan_untagged(ni__probe *p, ni__jworker *w, const ni_resp *r) {
  ni__janitor *j = &p->jan;
  if (r->type == NI_R_LIST) {
    char sep = 0, name[512];
    int nonexistent = 0;
    if (parse_list(r->data, &sep, name, sizeof name, &nonexistent) != 0 || nonexistent) return;
    /* Only the probe's own tree: "natidle-probe" and what is below it,
     * never a user's "natidle-probes" that the LIST pattern also matches. */
    size_t n = strlen(j->root);
    if (!w->helper && j->listing && !strncmp(name, j->root, n) &&
        (name[n] == '\0' || name[n] == p->id.sep))
      jan_add(j, name);
    if (w->looking && w->i != JAN_NONE && !strcmp(name, j->names[w->i])) w->found = 1;
  } else if (r->type == NI_R_EXISTS && w->examining) {
    w->all = r->number;
    w->exists_seen = 1;
  } else if (r->type == NI_R_SEARCH && w->counting) {
    ni_str list = r->data;
    uint32_t v;
    if (list.n >= 6 && !strncmp(list.p, "SEARCH", 6)) {
      list.p += 6;
      list.n -= 6;
    }
    while (list.n && *list.p == ' ') {
      list.p++;
      list.n--;
    }
    while (ni_uint_list_next(&list, &v) == 1)
      (*w->counting)++;
  }
}

void ni__janitor_untagged(ni__probe *p, const ni_resp *r) {
  jan_untagged(p, &p->jw[0], r);
}

/* ---- check, then delete, one mailbox per worker at a time ------------------- */

static ni_imap *wconn(const ni__jworker *w) {
  return w->helper ? w->c : w->p->ctl.c;
}

/* The worker is done with its mailbox: on with the next one. */
static void jan_skip(ni__jworker *w) {
  ni__probe *p = w->p;
  if (w->i != JAN_NONE) p->jan.st[w->i] = JS_DONE;
  w->i = JAN_NONE;
  jan_dispatch(p);
}

/* The worker's connection failed under it: its mailbox goes back to the
 * others (a DELETE that was carried out shows as NONEXISTENT to the next
 * one), and it takes no more. */
static void jan_lost(ni__jworker *w) {
  ni__probe *p = w->p;
  if (w->i != JAN_NONE && p->jan.st) p->jan.st[w->i] = JS_TODO;
  w->i = JAN_NONE;
  w->ready = 0;
  w->examining = w->looking = 0;
  w->counting = NULL;
  jan_dispatch(p);
}

/* A transport error (no tagged answer) on a command of w's. */
static int jan_failed(ni__jworker *w, int status, const ni_resp *tagged) {
  if (status == 0 || tagged) return 0;
  jan_lost(w);
  return 1;
}

static int is_nonexistent(const ni_resp *tagged) {
  return tagged && tagged->code.n == 11 && !strncmp(tagged->code.p, "NONEXISTENT", 11);
}

static void jan_delete_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__jworker *w = arg;
  ni__probe *p = w->p;
  ni__janitor *j = &p->jan;
  if (jan_failed(w, status, tagged)) return;
  if (status == 0) {
    p->clean.deleted++;
    ni__note(p, 1, "deleted %s", j->names[w->i]);
  } else if (is_nonexistent(tagged)) {
    /* Gone already (a parent that went with its last child). */
  } else if (tagged) {
    jan_keep(p, w->i);
    if (j->quiet) {
      /* The tree's root is shared with other runs: it stays while they
       * have mailboxes in it. */
      ni__note(p, 2, "kept %s: %.*s", j->names[w->i], (int)tagged->text.n, tagged->text.p);
    } else {
      p->clean.failed++;
      ni__error(p, "cannot delete %s: the server said: %.*s", j->names[w->i], (int)tagged->text.n,
                tagged->text.p);
    }
  }
  jan_skip(w);
}

/* A parent that could not be selected and could not be deleted: a real
 * failure only if it still exists.  Courier lists the levels between
 * INBOX.natidle-probe and a probe mailbox without any folder behind them;
 * they vanish with their last child but DELETE says they do not exist. */
static void jan_look_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__jworker *w = arg;
  ni__probe *p = w->p;
  ni__janitor *j = &p->jan;
  w->looking = 0;
  if (jan_failed(w, status, tagged)) return;
  if (status == 0 && !w->found) {
    ni__note(p, 2, "%s went away with its children", j->names[w->i]);
  } else {
    jan_keep(p, w->i);
    p->clean.failed++;
    ni__error(p, "cannot delete %s: the server said: %s", j->names[w->i], w->why);
  }
  jan_skip(w);
}

static void jan_delete_parent_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__jworker *w = arg;
  ni__janitor *j = &w->p->jan;
  if (status == 0 || !tagged || j->quiet || is_nonexistent(tagged)) {
    jan_delete_cb(c, status, tagged, arg);
    return;
  }
  snprintf(w->why, sizeof w->why, "%.*s", (int)tagged->text.n, tagged->text.p);
  w->looking = 1;
  w->found = 0;
  if (ni_imap_list(c, "", j->names[w->i], jan_look_cb, w) != 0) {
    w->looking = 0;
    jan_delete_cb(c, status, tagged, arg);
  }
}

static void jan_close_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__jworker *w = arg;
  ni__probe *p = w->p;
  ni__janitor *j = &p->jan;
  if (jan_failed(w, status, tagged)) return;
  if (w->all != w->ours) {
    p->clean.refused++;
    jan_keep(p, w->i);
    p->end.safety = 1;
    ni__error(p, "refusing to delete %s: it holds %u messages natidle did not write",
              j->names[w->i], w->all - w->ours);
    jan_skip(w);
    return;
  }
  if (ni_imap_delete(c, j->names[w->i], jan_delete_cb, w) != 0) jan_lost(w);
}

static void jan_search_ours_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__jworker *w = arg;
  w->counting = NULL;
  if (jan_failed(w, status, tagged)) return;
  if (status != 0) w->ours = 0; /* unknown: counts as foreign, so nothing is deleted */
  /* CLOSE on a mailbox opened with EXAMINE expunges nothing (RFC 3501
   * 6.4.2) and leaves the mailbox unselected, so it can be deleted. */
  ni_cmd *cmd = ni_cmd_new("CLOSE");
  if (!cmd || ni_cmd_finish(cmd) != 0 || ni_imap_cmd(c, cmd, jan_close_cb, w) != 0) {
    ni_cmd_free(cmd);
    jan_lost(w);
  }
}

/* Count the messages of the selected mailbox that match criteria into
 * *into, then call cb. */
static void jan_count(ni__jworker *w, const char *criteria, uint32_t *into, ni_imap_done_cb cb) {
  w->counting = into;
  if (ni_imap_uid_search(wconn(w), criteria, cb, w) != 0) {
    w->counting = NULL;
    jan_lost(w);
  }
}

static void jan_search_all_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__jworker *w = arg;
  w->counting = NULL;
  if (jan_failed(w, status, tagged)) return;
  if (status != 0) w->all = UINT32_MAX;
  jan_count(w, w->p->jan.criteria, &w->ours, jan_search_ours_cb);
}

static void jan_examine_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__jworker *w = arg;
  ni__janitor *j = &w->p->jan;
  w->examining = 0;
  if (jan_failed(w, status, tagged)) return;
  if (status != 0) {
    /* Not selectable (a \Noselect parent): it holds no messages, and its
     * children were deleted before it. */
    if (ni_imap_delete(c, j->names[w->i], jan_delete_parent_cb, w) != 0) jan_lost(w);
    return;
  }
  /* EXAMINE's EXISTS (required by RFC 3501 7.3.1) is the number of
   * messages: no SEARCH ALL to count them, one round trip less per
   * mailbox, which at 600 ms of round trip is seconds of cleanup. */
  if (w->exists_seen) {
    w->ours = 0;
    if (w->all == 0) {
      jan_search_ours_cb(c, 0, NULL, w); /* empty: nothing to tell apart */
      return;
    }
    jan_count(w, j->criteria, &w->ours, jan_search_ours_cb);
    return;
  }
  w->all = w->ours = 0;
  jan_count(w, "ALL", &w->all, jan_search_all_cb);
}

/* Can worker w take a mailbox now? */
static int jan_usable(const ni__jworker *w) {
  const ni__probe *p = w->p;
  if (!w->ready || w->i != JAN_NONE) return 0;
  return w->helper ? w->c != NULL : p->ctl.state == CT_READY && p->ctl.c != NULL;
}

static size_t depth(const char *name, char sep) {
  size_t d = 0;
  for (; *name; name++)
    d += *name == sep;
  return d;
}

/* The next mailbox to check: the first one left (the names go children
 * first) whose children are all done, so that it is empty when its turn
 * comes.  Kept ones are passed over (something below them stays).
 * JAN_NONE when none can be taken now. */
static size_t jan_pick(ni__probe *p) {
  ni__janitor *j = &p->jan;
  for (size_t i = 0; i < j->n; i++) {
    if (j->st[i] != JS_TODO) continue;
    size_t d = depth(j->names[i], p->id.sep);
    for (size_t k = 0; k < i; k++)
      if (j->st[k] != JS_DONE && depth(j->names[k], p->id.sep) > d) return JAN_NONE;
    if (j->kept[i]) {
      j->st[i] = JS_DONE; /* nothing to report twice */
      continue;
    }
    return i;
  }
  return JAN_NONE;
}

/* Give every idle worker a mailbox; when none is left in work, the pass
 * is over. */
static void jan_dispatch(ni__probe *p) {
  ni__janitor *j = &p->jan;
  if (!j->working) return;
  for (unsigned k = 0; k <= JAN_HELPERS; k++) {
    ni__jworker *w = &p->jw[k];
    if (!jan_usable(w)) continue;
    size_t i = jan_pick(p);
    if (i == JAN_NONE) break;
    j->st[i] = JS_TAKEN;
    w->i = i;
    w->all = w->ours = 0;
    w->exists_seen = 0;
    w->examining = 1;
    if (ni_imap_select(wconn(w), j->names[i], 1, jan_examine_cb, w) != 0) {
      w->examining = 0;
      j->st[i] = JS_TODO;
      w->i = JAN_NONE;
      w->ready = 0;
    }
  }
  int usable = 0;
  for (unsigned k = 0; k <= JAN_HELPERS; k++)
    usable |= jan_usable(&p->jw[k]);
  for (size_t i = 0; i < j->n; i++) {
    if (j->st[i] == JS_TAKEN) return;
    if (j->st[i] == JS_TODO && usable) return;
  }
  j->working = 0;
  void (*done)(ni__probe *) = j->done;
  j->done = NULL;
  if (done) done(p);
}

/* ---- helpers ---------------------------------------------------------------- */

static void jh_free(ni__jworker *w) {
  ni_imap *c = w->c;
  w->c = NULL;
  w->ready = 0;
  ni_imap_free(c);
}

static void jh_on_untagged(ni_imap *c, const ni_resp *r, void *ud) {
  ni__jworker *w = ud;
  jan_untagged(w->p, w, r);
}

static void jh_on_end(ni_imap *c, ni_end how, int err, void *ud) {
  ni__jworker *w = ud;
  jh_free(w);
  jan_lost(w);
}

static void jh_login_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__jworker *w = arg;
  if (status != 0) {
    /* No helper, then: the others and the control connection do without. */
    jh_free(w);
    jan_dispatch(w->p);
    return;
  }
  w->ready = 1;
  jan_dispatch(w->p);
}

static void jh_connect_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__jworker *w = arg;
  if (status != 0) return; /* on_end follows */
  if (ni__login(w->p, c, &w->tok_gen, jh_login_cb, w) != 0) {
    jh_free(w);
    jan_dispatch(w->p);
  }
}

/* Over a long round trip, open helpers for the mailboxes left to clean
 * beyond the one the control connection takes first; at most as many
 * sessions as the server let the run have. */
static void jan_open_helpers(ni__probe *p) {
  ni__janitor *j = &p->jan;
  size_t todo = 0;
  for (size_t i = 0; i < j->n; i++)
    todo += !j->kept[i];
  if (p->jw_started || p->ctl.srtt_ms < JAN_HELPER_RTT_MS || todo < JAN_HELPER_MIN) return;
  unsigned limit = p->search.in ? ni__search_sessions(p->search.in) : p->k;
  unsigned want = todo - 1 < JAN_HELPERS ? (unsigned)(todo - 1) : JAN_HELPERS;
  if (want > limit) want = limit;
  p->jw_started = 1;
  ni_imap_opts io;
  ni__imap_opts(p, &io);
  ni_imap_cb cb = {jh_on_untagged, NULL, jh_on_end, NULL};
  for (unsigned k = 1; k <= want; k++) {
    ni__jworker *w = &p->jw[k];
    w->c = ni_imap_new(&p->loop, &io, &cb, w);
    if (!w->c) break;
    if (ni_imap_connect(w->c, jh_connect_cb, w) != 0) {
      jh_free(w);
      break;
    }
  }
}

/* Log the helpers out (the run is over), or, when it ends at once, close
 * them. */
static void jan_logout_helpers(ni__probe *p) {
  for (unsigned k = 1; k <= JAN_HELPERS; k++) {
    ni__jworker *w = &p->jw[k];
    if (!w->c) continue;
    w->ready = 0;
    if (ni_imap_logout(w->c, ni__ignore_cb, NULL) != 0) jh_free(w);
  }
}

void ni__janitor_close(ni__probe *p) {
  for (unsigned k = 1; k <= JAN_HELPERS; k++)
    jh_free(&p->jw[k]);
}

/* Deepest names first (insertion sort: the lists are short). */
static void sort_children_first(char **v, size_t n, char sep) {
  for (size_t i = 1; i < n; i++) {
    char *x = v[i];
    size_t j = i;
    while (j > 0 && depth(v[j - 1], sep) < depth(x, sep)) {
      v[j] = v[j - 1];
      j--;
    }
    v[j] = x;
  }
}

static void jan_list_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__probe *p = arg;
  ni__janitor *j = &p->jan;
  j->listing = 0;
  /* Children before parents, so that parents are empty when their turn
   * comes. */
  sort_children_first(j->names, j->n, p->id.sep);
  jan_open_helpers(p);
  j->working = 1;
  jan_dispatch(p);
}

/* Check and delete root (and with tree, every mailbox below it) when all
 * its messages are markers of run_id ("" for any run), then call done. */
static void jan_start(ni__probe *p, const char *root, int tree, const char *run_id,
                      void (*done)(ni__probe *p)) {
  ni__janitor *j = &p->jan;
  char pattern[sizeof j->root + 2];
  ni__janitor_free(j);
  for (unsigned k = 0; k <= JAN_HELPERS; k++) {
    ni__jworker *w = &p->jw[k];
    w->p = p;
    w->helper = k > 0;
    w->i = JAN_NONE;
    w->looking = w->examining = 0;
    w->counting = NULL;
  }
  p->jw[0].ready = 1;
  snprintf(j->root, sizeof j->root, "%s", root);
  /* The shared root of every run (tree = 0) may rightly stay. */
  j->quiet = !tree;
  snprintf(pattern, sizeof pattern, "%s%s", root, tree ? "*" : "");
  snprintf(j->criteria, sizeof j->criteria, MARKER_CRITERIA, run_id);
  j->done = done;
  j->listing = 1;
  if (p->ctl.state != CT_READY || ni_imap_list(p->ctl.c, "", pattern, jan_list_cb, p) != 0) {
    j->listing = 0;
    j->done = NULL;
    done(p);
  }
}

/* ---- the end of a run, and --cleanup ---------------------------------------- */

/* The janitor is done: log out the control connection, then finish. */
void ni__cleanup_done(ni__probe *p) {
  if (p->clean.deleted || p->clean.refused || p->clean.failed)
    ni__note(p, 1,
             "cleanup: %u mailboxes deleted, %u refused (foreign data), %u not deleted "
             "by the server",
             p->clean.deleted, p->clean.refused, p->clean.failed);
  p->phase = PH_DONE;
  jan_logout_helpers(p);
  if (p->ctl.state == CT_READY && p->ctl.c) {
    p->ctl.state = CT_LOGOUT;
    if (ni_imap_logout(p->ctl.c, ni__ignore_cb, NULL) == 0)
      return; /* on_end comes back to ni__shutdown_step */
  }
  ni__finish(p);
}

static void cleanup_parent(ni__probe *p) {
  /* The tree's root, when it is real (selectable) and empty, or \Noselect
   * with no children left. */
  jan_start(p, p->id.root, 0, p->id.run_id, ni__cleanup_done);
}

/* Remove the run's own mailboxes, then their parent. */
void ni__cleanup_run_mailboxes(ni__probe *p) {
  jan_start(p, p->id.prefix, 1, p->id.run_id, cleanup_parent);
}

static void cleanup_mode_done(ni__probe *p) {
  if (!p->end.fatal) {
    ni_probe_event ev = {.kind = NI_PROBE_EV_CLEANUP,
                         .deleted = p->clean.deleted,
                         .refused = p->clean.refused,
                         .failed = p->clean.failed};
    ni__emit(p, &ev);
  }
  ni__cleanup_done(p);
}

/* Cleanup mode: every tree where a run may have made its mailboxes (below
 * the personal namespace, at the top level, below INBOX), one after the
 * other, removing what holds nothing but markers of any run. */
void ni__cleanup_next_root(ni__probe *p) {
  char root[sizeof p->jan.root];
  while (p->clean.root < ROOTS && root_name(p, p->clean.root, root, sizeof root) != 0)
    p->clean.root++;
  if (p->clean.root >= ROOTS || p->ctl.state != CT_READY) {
    cleanup_mode_done(p);
    return;
  }
  p->clean.root++;
  jan_start(p, root, 1, "", ni__cleanup_next_root);
}
