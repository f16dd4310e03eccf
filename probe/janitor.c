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
 * Everything runs on the control connection, one command at a time.
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
  if (p->phase != PH_CREATE) return;
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
    } else if (p->o->resume) {
      /* Some servers refuse to create a mailbox that exists without saying
       * so (Courier: "Cannot create this folder."), and an interrupted run
       * may have left one half made.  The session's SELECT tells whether
       * the mailbox is there. */
      ni__note(p, 1, "CREATE %s refused (%.*s): resuming, SELECT will tell", s->mbox,
               (int)tagged->text.n, tagged->text.p);
    } else if (s == &p->ss[0] && !p->id.has_ns && !p->id.in_inbox && p->id.sep && !exists) {
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
  if (s == &p->ss[0] && p->n.creates_left == 1 && p->k > 1) {
    /* The first one worked: the others go in one burst. */
    create_from(p, 1);
    return;
  }
  if (--p->n.creates_left == 0) ni__sessions_start(p);
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

static void jan_next(ni__probe *p);

static int jan_add(ni__janitor *j, const char *name) {
  if (j->n == j->cap) {
    size_t ncap = j->cap ? j->cap * 2 : 16;
    char **nn = realloc(j->names, ncap * sizeof *nn);
    if (!nn) return -ENOMEM;
    j->names = nn;
    unsigned char *nk = realloc(j->kept, ncap);
    if (!nk) return -ENOMEM;
    j->kept = nk;
    j->cap = ncap;
  }
  j->names[j->n] = strdup(name);
  if (!j->names[j->n]) return -ENOMEM;
  j->kept[j->n] = 0;
  j->n++;
  return 0;
}

void ni__janitor_free(ni__janitor *j) {
  for (size_t i = 0; i < j->n; i++)
    free(j->names[i]);
  free(j->names);
  free(j->kept);
  memset(j, 0, sizeof *j);
}

/* The mailbox being looked at stays: so do the mailboxes above it, whose
 * DELETE would fail (or, on some servers, take it along). */
static void jan_keep(ni__probe *p) {
  ni__janitor *j = &p->jan;
  const char *me = j->names[j->i];
  j->kept[j->i] = 1;
  for (size_t k = 0; k < j->n; k++) {
    size_t n = strlen(j->names[k]);
    if (k != j->i && !strncmp(me, j->names[k], n) && me[n] == p->id.sep) j->kept[k] = 1;
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

void ni__janitor_untagged(ni__probe *p, const ni_resp *r) {
  ni__janitor *j = &p->jan;
  if (r->type == NI_R_LIST) {
    char sep = 0, name[512];
    int nonexistent = 0;
    if (parse_list(r->data, &sep, name, sizeof name, &nonexistent) != 0 || nonexistent) return;
    /* Only the probe's own tree: "natidle-probe" and what is below it,
     * never a user's "natidle-probes" that the LIST pattern also matches. */
    size_t n = strlen(j->root);
    if (j->listing && !strncmp(name, j->root, n) && (name[n] == '\0' || name[n] == p->id.sep))
      jan_add(j, name);
    if (j->looking && !strcmp(name, j->names[j->i])) j->found = 1;
  } else if (r->type == NI_R_EXISTS && j->examining) {
    j->all = r->number;
    j->exists_seen = 1;
  } else if (r->type == NI_R_SEARCH && j->counting) {
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
      (*j->counting)++;
  }
}

/* ---- check, then delete, one mailbox at a time ------------------------------ */

/* Go on with the next mailbox. */
static void jan_skip(ni__probe *p) {
  p->jan.i++;
  jan_next(p);
}

static void jan_delete_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__probe *p = arg;
  ni__janitor *j = &p->jan;
  if (status == 0) {
    p->clean.deleted++;
    ni__note(p, 1, "deleted %s", j->names[j->i]);
  } else if (tagged && tagged->code.n == 11 && !strncmp(tagged->code.p, "NONEXISTENT", 11)) {
    /* Gone already (a parent that went with its last child). */
  } else if (tagged) {
    jan_keep(p);
    if (j->quiet) {
      /* The tree's root is shared with other runs: it stays while they
       * have mailboxes in it. */
      ni__note(p, 2, "kept %s: %.*s", j->names[j->i], (int)tagged->text.n, tagged->text.p);
    } else {
      p->clean.failed++;
      ni__error(p, "cannot delete %s: the server said: %.*s", j->names[j->i], (int)tagged->text.n,
                tagged->text.p);
    }
  }
  jan_skip(p);
}

/* A parent that could not be selected and could not be deleted: a real
 * failure only if it still exists.  Courier lists the levels between
 * INBOX.natidle-probe and a probe mailbox without any folder behind them;
 * they vanish with their last child but DELETE says they do not exist. */
static void jan_look_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__probe *p = arg;
  ni__janitor *j = &p->jan;
  j->looking = 0;
  if (status == 0 && !j->found) {
    ni__note(p, 2, "%s went away with its children", j->names[j->i]);
  } else {
    jan_keep(p);
    p->clean.failed++;
    ni__error(p, "cannot delete %s: the server said: %s", j->names[j->i], j->why);
  }
  jan_skip(p);
}

static void jan_delete_parent_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__probe *p = arg;
  ni__janitor *j = &p->jan;
  if (status == 0 || !tagged || j->quiet ||
      (tagged->code.n == 11 && !strncmp(tagged->code.p, "NONEXISTENT", 11))) {
    jan_delete_cb(c, status, tagged, arg);
    return;
  }
  snprintf(j->why, sizeof j->why, "%.*s", (int)tagged->text.n, tagged->text.p);
  j->looking = 1;
  j->found = 0;
  if (ni_imap_list(c, "", j->names[j->i], jan_look_cb, p) != 0) {
    j->looking = 0;
    jan_delete_cb(c, status, tagged, arg);
  }
}

static void jan_close_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__probe *p = arg;
  ni__janitor *j = &p->jan;
  if (j->all != j->ours) {
    p->clean.refused++;
    jan_keep(p);
    p->end.safety = 1;
    ni__error(p, "refusing to delete %s: it holds %u messages natidle did not write",
              j->names[j->i], j->all - j->ours);
    jan_skip(p);
    return;
  }
  if (ni_imap_delete(c, j->names[j->i], jan_delete_cb, p) != 0) jan_next(p);
}

static void jan_search_ours_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__probe *p = arg;
  ni__janitor *j = &p->jan;
  j->counting = NULL;
  if (status != 0) j->ours = 0; /* unknown: counts as foreign, so nothing is deleted */
  /* CLOSE on a mailbox opened with EXAMINE expunges nothing (RFC 3501
   * 6.4.2) and leaves the mailbox unselected, so it can be deleted. */
  ni_cmd *cmd = ni_cmd_new("CLOSE");
  if (!cmd || ni_cmd_finish(cmd) != 0 || ni_imap_cmd(c, cmd, jan_close_cb, p) != 0) {
    ni_cmd_free(cmd);
    jan_skip(p);
  }
}

/* Count the messages of the selected mailbox that match criteria into
 * *into, then call cb. */
static void jan_count(ni__probe *p, const char *criteria, uint32_t *into, ni_imap_done_cb cb) {
  ni__janitor *j = &p->jan;
  j->counting = into;
  if (ni_imap_uid_search(p->ctl.c, criteria, cb, p) != 0) {
    j->counting = NULL;
    jan_skip(p);
  }
}

static void jan_search_all_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__probe *p = arg;
  ni__janitor *j = &p->jan;
  if (status != 0) j->all = UINT32_MAX;
  jan_count(p, j->criteria, &j->ours, jan_search_ours_cb);
}

static void jan_examine_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__probe *p = arg;
  ni__janitor *j = &p->jan;
  j->examining = 0;
  if (status != 0) {
    /* Not selectable (a \Noselect parent): it holds no messages, and its
     * children were deleted before it. */
    if (ni_imap_delete(c, j->names[j->i], jan_delete_parent_cb, p) != 0) jan_skip(p);
    return;
  }
  /* EXAMINE's EXISTS (required by RFC 3501 7.3.1) is the number of
   * messages: no SEARCH ALL to count them, one round trip less per
   * mailbox, which at 600 ms of round trip is seconds of cleanup. */
  if (j->exists_seen) {
    uint32_t all = j->all;
    j->ours = 0;
    if (all == 0) {
      jan_search_ours_cb(c, 0, NULL, p); /* empty: nothing to tell apart */
      return;
    }
    jan_count(p, j->criteria, &j->ours, jan_search_ours_cb);
    return;
  }
  j->all = j->ours = 0;
  jan_count(p, "ALL", &j->all, jan_search_all_cb);
}

static void jan_next(ni__probe *p) {
  ni__janitor *j = &p->jan;
  if (p->ctl.state != CT_READY || !p->ctl.c) j->i = j->n;
  if (j->i >= j->n) {
    void (*done)(ni__probe *) = j->done;
    j->done = NULL;
    if (done) done(p);
    return;
  }
  if (j->kept[j->i]) {
    /* Something below it stays, so it stays too: nothing to report twice. */
    jan_skip(p);
    return;
  }
  j->all = 0;
  j->exists_seen = 0;
  j->examining = 1;
  if (ni_imap_select(p->ctl.c, j->names[j->i], 1, jan_examine_cb, p) != 0) {
    j->examining = 0;
    j->i = j->n;
    jan_next(p);
  }
}

static size_t depth(const char *name, char sep) {
  size_t d = 0;
  for (; *name; name++)
    d += *name == sep;
  return d;
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
  j->i = 0;
  jan_next(p);
}

/* Check and delete root (and with tree, every mailbox below it) when all
 * its messages are markers of run_id ("" for any run), then call done. */
static void jan_start(ni__probe *p, const char *root, int tree, const char *run_id,
                      void (*done)(ni__probe *p)) {
  ni__janitor *j = &p->jan;
  char pattern[sizeof j->root + 2];
  ni__janitor_free(j);
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
