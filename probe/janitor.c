/*
 * The probe's own mailboxes: their names (natidle-probe<sep><run><sep><n>,
 * with the server's hierarchy separator), their creation before the
 * sessions connect, and their removal, at the end of a run or of leftovers
 * with --cleanup.  A mailbox is deleted only when every message in it is
 * one of the probe's markers; one that holds anything else is kept and
 * reported.  Everything runs on the control connection, one command at a
 * time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe/internal.h"

/* UID SEARCH criteria for the markers of one run ("" for any run). */
#define MARKER_CRITERIA "HEADER X-Natidle-Probe \"%s\""
/* The root of every probe mailbox. */
#define PROBE_ROOT "natidle-probe"

/* ---- names and creation ---------------------------------------------------- */

static void create_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__sess *s = arg;
  ni__probe *p = s->p;
  if (p->phase != PH_CREATE)
    return;
  if (status != 0) {
    int exists = tagged && tagged->code.n && !strncmp(tagged->code.p, "ALREADYEXISTS", 13);
    if (!(exists && p->o->resume)) {
      ni__error(p, "cannot create mailbox %s: %s", s->mbox,
                tagged ? tagged->text.p : ni_strerror(status));
      p->end.fatal = status;
      ni__begin_shutdown(p);
      return;
    }
  }
  if (--p->n.creates_left == 0)
    ni__sessions_start(p);
}

/* The separator is known: name the mailboxes and create them (outbound
 * checks need none). */
static void list_sep_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__probe *p = arg;
  if (status != 0) {
    ni__ctl_fatal(p, status, AT_SETUP, NULL);
    return;
  }
  snprintf(p->id.prefix, sizeof p->id.prefix, PROBE_ROOT "%c%s", p->id.sep, p->id.run_id);
  for (unsigned i = 0; i < p->k; i++)
    snprintf(p->ss[i].mbox, sizeof p->ss[i].mbox, "%s%c%u", p->id.prefix, p->id.sep,
             p->ss[i].num);
  if (!(p->o->direction & NI_PDIR_INBOUND)) {
    ni__sessions_start(p);
    return;
  }
  p->phase = PH_CREATE;
  p->n.creates_left = p->k;
  for (unsigned i = 0; i < p->k; i++)
    if (ni_imap_create(c, p->ss[i].mbox, create_cb, &p->ss[i]) != 0) {
      ni__ctl_fatal(p, NI_ESTATE, AT_SETUP, NULL);
      return;
    }
}

static void cleanup_mode_start(ni__probe *p);

static void cleanup_list_sep_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__probe *p = arg;
  if (status != 0) {
    ni__ctl_fatal(p, status, AT_SETUP, NULL);
    return;
  }
  cleanup_mode_start(p);
}

/* Logged in: ask for the hierarchy separator (LIST "" "" answers with it),
 * then name and create the mailboxes, or clean up.  Returns 0 or an error
 * from sending LIST. */
int ni__mailboxes_begin(ni__probe *p) {
  return ni_imap_list(p->ctl.c, "", "", p->o->cleanup ? cleanup_list_sep_cb : list_sep_cb, p);
}

/* ---- the list of mailboxes to clean ----------------------------------------- */

static void jan_next(ni__probe *p);

static int jan_add(ni__janitor *j, const char *name) {
  if (j->n == j->cap) {
    size_t ncap = j->cap ? j->cap * 2 : 16;
    char **nn = realloc(j->names, ncap * sizeof *nn);
    if (!nn)
      return -ENOMEM;
    j->names = nn;
    j->cap = ncap;
  }
  j->names[j->n] = strdup(name);
  if (!j->names[j->n])
    return -ENOMEM;
  j->n++;
  return 0;
}

void ni__janitor_free(ni__janitor *j) {
  for (size_t i = 0; i < j->n; i++)
    free(j->names[i]);
  free(j->names);
  memset(j, 0, sizeof *j);
}

/* Parse the data of a LIST response: (flags) "sep" name.  Writes the
 * separator (0 for NIL) and the name; returns 0, or -1 for a form we do not
 * handle (a name sent as a literal is never one of ours). */
static int parse_list(ni_str d, char *sep, char *name, size_t len) {
  const char *q = d.p, *e = d.p + d.n;
  while (q < e && *q == ' ')
    q++;
  if (e - q >= 5 && !strncmp(q, "LIST ", 5))
    q += 5;
  if (q >= e || *q != '(')
    return -1;
  const char *close = memchr(q, ')', (size_t)(e - q));
  if (!close)
    return -1;
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
      if (*q == '\\' && q + 1 < e)
        q++;
      if (n + 1 < len)
        name[n++] = *q;
    }
  } else if (q < e && *q == '{') {
    return -1;
  } else {
    for (; q < e && *q != ' ' && *q != '\r' && *q != '\n'; q++)
      if (n + 1 < len)
        name[n++] = *q;
  }
  name[n] = '\0';
  return 0;
}

void ni__janitor_untagged(ni__probe *p, const ni_resp *r) {
  ni__janitor *j = &p->jan;
  if (r->type == NI_R_LIST) {
    char sep = 0, name[512];
    if (parse_list(r->data, &sep, name, sizeof name) != 0)
      return;
    if (p->phase == PH_CONNECT && name[0] == '\0') {
      p->id.sep = sep ? sep : '/';
      return;
    }
    /* Only the probe's own tree: "natidle-probe" and what is below it,
     * never a user's "natidle-probes" that the LIST pattern also matches. */
    size_t n = strlen(j->root);
    if (j->listing && !strncmp(name, j->root, n) && (name[n] == '\0' || name[n] == p->id.sep))
      jan_add(j, name);
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
    j->deleted++;
    ni__note(p, 1, "deleted %s", j->names[j->i]);
  }
  jan_skip(p);
}

static void jan_close_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__probe *p = arg;
  ni__janitor *j = &p->jan;
  if (j->all != j->ours) {
    j->refused++;
    p->end.safety = 1;
    ni__error(p, "refusing to delete %s: it holds %u messages natidle did not write",
              j->names[j->i], j->all - j->ours);
    jan_skip(p);
    return;
  }
  if (ni_imap_delete(c, j->names[j->i], jan_delete_cb, p) != 0)
    jan_next(p);
}

static void jan_search_ours_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__probe *p = arg;
  ni__janitor *j = &p->jan;
  j->counting = NULL;
  if (status != 0)
    j->ours = 0; /* unknown: counts as foreign, so nothing is deleted */
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
  if (status != 0)
    j->all = UINT32_MAX;
  jan_count(p, j->criteria, &j->ours, jan_search_ours_cb);
}

static void jan_examine_cb(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni__probe *p = arg;
  ni__janitor *j = &p->jan;
  if (status != 0) {
    /* Not selectable (a \Noselect parent): it holds no messages.  Deleting
     * it fails harmlessly while it still has children. */
    if (ni_imap_delete(c, j->names[j->i], jan_delete_cb, p) != 0)
      jan_skip(p);
    return;
  }
  j->all = j->ours = 0;
  jan_count(p, "ALL", &j->all, jan_search_all_cb);
}

static void jan_next(ni__probe *p) {
  ni__janitor *j = &p->jan;
  if (p->ctl.state != CT_READY || !p->ctl.c)
    j->i = j->n;
  if (j->i >= j->n) {
    void (*done)(ni__probe *) = j->done;
    j->done = NULL;
    if (done)
      done(p);
    return;
  }
  if (ni_imap_select(p->ctl.c, j->names[j->i], 1, jan_examine_cb, p) != 0) {
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
  char pattern[260];
  ni__janitor_free(j);
  snprintf(j->root, sizeof j->root, "%s", root);
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
  ni__janitor *j = &p->jan;
  if (j->deleted || j->refused)
    ni__note(p, 1, "cleanup: %u mailboxes deleted, %u refused", j->deleted, j->refused);
  p->phase = PH_DONE;
  if (p->ctl.state == CT_READY && p->ctl.c) {
    p->ctl.state = CT_LOGOUT;
    if (ni_imap_logout(p->ctl.c, ni__ignore_cb, NULL) == 0)
      return; /* on_end comes back to ni__shutdown_step */
  }
  ni__finish(p);
}

static void cleanup_parent(ni__probe *p) {
  /* The run's parent mailboxes, when they are real (selectable) and empty,
   * or \Noselect with no children left. */
  jan_start(p, PROBE_ROOT, 0, p->id.run_id, ni__cleanup_done);
}

/* Remove the run's own mailboxes, then their parent. */
void ni__cleanup_run_mailboxes(ni__probe *p) {
  jan_start(p, p->id.prefix, 1, p->id.run_id, cleanup_parent);
}

static void cleanup_mode_done(ni__probe *p) {
  if (!p->end.fatal) {
    ni_probe_event ev = {
        .kind = NI_PROBE_EV_CLEANUP, .deleted = p->jan.deleted, .refused = p->jan.refused};
    ni__emit(p, &ev);
  }
  ni__cleanup_done(p);
}

/* Cleanup mode: once logged in, look for every natidle-probe mailbox that
 * holds nothing but markers of any run. */
static void cleanup_mode_start(ni__probe *p) {
  p->phase = PH_CLEANUP;
  jan_start(p, PROBE_ROOT, 1, "", cleanup_mode_done);
}
