/*
 * imap/client_cmd.c - the IMAP commands the client builds for its callers
 * (SELECT, APPEND, UID FETCH, NOTIFY, LOGOUT, ...) and NAMESPACE with its
 * LIST fallback, which keeps the personal namespace for later.  Mailbox
 * names go out in modified UTF-7, literals without a "+" where the server
 * allows it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "imap/conn_internal.h"

/* ---- commands ---- */

/* Literals without waiting for "+": LITERAL+ always, LITERAL- up to 4096
 * bytes (RFC 7888). */
int ni__client_nonsync_ok(const ni_imap *c, size_t n) {
  return ni_imap_has_cap(c, "LITERAL+") || (n <= 4096 && ni_imap_has_cap(c, "LITERAL-"));
}

/* Add a mailbox name given in UTF-8: modified UTF-7 on the wire, since the
 * client never enables UTF8=ACCEPT. */
static int add_mailbox(const ni_imap *c, ni_cmd *cmd, const char *name) {
  ni_cmd_literal_plus(cmd, ni__client_nonsync_ok(c, strlen(name) * 3));
  return ni_cmd_mailbox(cmd, name, strlen(name), 0);
}

/* Build and queue "VERB [mailbox] [atoms...]": mailbox may be NULL, atoms
 * are raw and NULL-terminated. */
static int simple(ni_imap *c, const char *verb, const char *str, const char *const *atoms,
                  ni_imap_done_cb cb, void *arg) {
  if (!ni__client_ready(c)) return NI_ESTATE;
  ni_cmd *cmd = ni_cmd_new(verb);
  if (!cmd) return -ENOMEM;
  int r = 0;
  if (str) r = add_mailbox(c, cmd, str);
  for (size_t i = 0; r == 0 && atoms && atoms[i]; i++)
    r = ni_cmd_atom(cmd, atoms[i]);
  if (r < 0) {
    ni_cmd_free(cmd);
    return r;
  }
  return ni_imap_cmd(c, cmd, cb, arg);
}

int ni_imap_select(ni_imap *c, const char *mailbox, int read_only, ni_imap_done_cb cb, void *arg) {
  if (!mailbox) return NI_EUSAGE;
  return simple(c, read_only ? "EXAMINE" : "SELECT", mailbox, NULL, cb, arg);
}

int ni_imap_create(ni_imap *c, const char *mailbox, ni_imap_done_cb cb, void *arg) {
  return mailbox ? simple(c, "CREATE", mailbox, NULL, cb, arg) : NI_EUSAGE;
}

int ni_imap_delete(ni_imap *c, const char *mailbox, ni_imap_done_cb cb, void *arg) {
  return mailbox ? simple(c, "DELETE", mailbox, NULL, cb, arg) : NI_EUSAGE;
}

int ni_imap_noop(ni_imap *c, ni_imap_done_cb cb, void *arg) {
  return simple(c, "NOOP", NULL, NULL, cb, arg);
}

int ni_imap_capability(ni_imap *c, ni_imap_done_cb cb, void *arg) {
  return simple(c, "CAPABILITY", NULL, NULL, cb, arg);
}

int ni_imap_expunge(ni_imap *c, ni_imap_done_cb cb, void *arg) {
  return simple(c, "EXPUNGE", NULL, NULL, cb, arg);
}

int ni_imap_uid_search(ni_imap *c, const char *criteria, ni_imap_done_cb cb, void *arg) {
  const char *a[] = {criteria, NULL};
  return criteria ? simple(c, "UID SEARCH", NULL, a, cb, arg) : NI_EUSAGE;
}

int ni_imap_uid_fetch(ni_imap *c, const char *set, const char *items, ni_imap_done_cb cb,
                      void *arg) {
  const char *a[] = {set, items, NULL};
  return set && items ? simple(c, "UID FETCH", NULL, a, cb, arg) : NI_EUSAGE;
}

int ni_imap_uid_store(ni_imap *c, const char *set, const char *op, const char *flags,
                      ni_imap_done_cb cb, void *arg) {
  const char *a[] = {set, op, flags, NULL};
  return set && op && flags ? simple(c, "UID STORE", NULL, a, cb, arg) : NI_EUSAGE;
}

int ni_imap_uid_expunge(ni_imap *c, const char *set, ni_imap_done_cb cb, void *arg) {
  const char *a[] = {set, NULL};
  if (!set) return NI_EUSAGE;
  if (ni__client_ready(c) && !ni_imap_has_cap(c, "UIDPLUS")) return NI_ENOCAP;
  return simple(c, "UID EXPUNGE", NULL, a, cb, arg);
}

int ni_imap_notify_set(ni_imap *c, const char *spec, ni_imap_done_cb cb, void *arg) {
  const char *a[] = {spec, NULL};
  if (!spec) return NI_EUSAGE;
  if (ni__client_ready(c) && !ni_imap_has_cap(c, "NOTIFY")) return NI_ENOCAP;
  return simple(c, "NOTIFY SET", NULL, a, cb, arg);
}

int ni_imap_notify_none(ni_imap *c, ni_imap_done_cb cb, void *arg) {
  if (ni__client_ready(c) && !ni_imap_has_cap(c, "NOTIFY")) return NI_ENOCAP;
  return simple(c, "NOTIFY NONE", NULL, NULL, cb, arg);
}

int ni_imap_list(ni_imap *c, const char *ref, const char *pattern, ni_imap_done_cb cb, void *arg) {
  if (!ref || !pattern) return NI_EUSAGE;
  if (!ni__client_ready(c)) return NI_ESTATE;
  ni_cmd *cmd = ni_cmd_new("LIST");
  if (!cmd) return -ENOMEM;
  ni_cmd_literal_plus(cmd, ni__client_nonsync_ok(c, strlen(ref) + strlen(pattern)));
  /* Both go as strings: the builder quotes "*" and "%" (they are not
   * ATOM-CHARs), which list-mailbox allows. */
  int r = ni_cmd_string(cmd, ref, strlen(ref));
  if (r == 0) r = ni_cmd_string(cmd, pattern, strlen(pattern));
  if (r < 0) {
    ni_cmd_free(cmd);
    return r;
  }
  return ni_imap_cmd(c, cmd, cb, arg);
}

int ni_imap_status(ni_imap *c, const char *mailbox, const char *items, ni_imap_done_cb cb,
                   void *arg) {
  const char *a[] = {items, NULL};
  return mailbox && items ? simple(c, "STATUS", mailbox, a, cb, arg) : NI_EUSAGE;
}

int ni_imap_append(ni_imap *c, const char *mailbox, const char *flags, const char *msg, size_t len,
                   ni_imap_done_cb cb, void *arg) {
  if (!mailbox || !msg) return NI_EUSAGE;
  if (!ni__client_ready(c)) return NI_ESTATE;
  ni_cmd *cmd = ni_cmd_new("APPEND");
  if (!cmd) return -ENOMEM;
  int r = add_mailbox(c, cmd, mailbox);
  if (r == 0 && flags && *flags) r = ni_cmd_atom(cmd, flags);
  if (r == 0) {
    ni_cmd_literal_plus(cmd, ni__client_nonsync_ok(c, len));
    r = ni_cmd_literal(cmd, msg, len);
  }
  if (r < 0) {
    ni_cmd_free(cmd);
    return r;
  }
  return ni_imap_cmd(c, cmd, cb, arg);
}

int ni_imap_logout(ni_imap *c, ni_imap_done_cb cb, void *arg) {
  if (!ni__client_ready(c)) return NI_ESTATE;
  ni_cmd *cmd = ni_cmd_new("LOGOUT");
  if (!cmd) return -ENOMEM;
  return ni__client_enqueue(c, cmd, cb, arg, NULL, NI__Q_LOGOUT) ? 0 : -ENOMEM;
}

/* ---- NAMESPACE ---- */

/* Keep prefix (malloc'ed and taken over; NULL means "") as the personal
 * namespace. */
static void ns_set(ni_imap *c, char *prefix, char delim) {
  free(c->ns_prefix);
  c->ns_prefix = prefix;
  c->ns_delim = delim;
  c->ns_known = 1;
}

/* An untagged NAMESPACE: keep its first personal namespace.  Its prefix is
 * copied to the start of buf, which is then kept as the prefix itself. */
void ni__client_ns_take_namespace(ni_imap *c, const ni_resp *r) {
  ni_namespace ns;
  size_t cap = r->data.n + 2;
  char *buf = malloc(cap);
  if (buf && ni_namespace_parse(r, NI_NS_PERSONAL, &ns, 1, buf, cap) >= 1) {
    ns_set(c, buf, ns.delim);
    return;
  }
  free(buf);
}

/* An untagged LIST while the fallback LIST "" "" runs: the delimiter of the
 * root, with an empty prefix. */
void ni__client_ns_take_list(ni_imap *c, const ni_resp *r) {
  char delim;
  if (ni_list_delimiter(r, &delim) == 0) ns_set(c, NULL, delim);
}

static void ns_list_done(ni_imap *c, ni__pcmd *p, int status, const ni_resp *r) {
  /* A server that answers LIST "" "" without a LIST line has no hierarchy
   * to tell of: a flat name space. */
  if (status == 0 && !c->ns_known) ns_set(c, NULL, '\0');
  ni__client_call_done(c, p->cb, p->arg, status, r);
}

/* Queue LIST "" "" (RFC 3501 6.3.8: the hierarchy delimiter and root). */
static int queue_ns_list(ni_imap *c, ni_imap_done_cb cb, void *arg) {
  ni_cmd *cmd = ni_cmd_new("LIST");
  if (!cmd) return -ENOMEM;
  if (ni_cmd_atom(cmd, "\"\" \"\"") < 0) {
    ni_cmd_free(cmd);
    return -ENOMEM;
  }
  ni__pcmd *p = ni__client_enqueue(c, cmd, cb, arg, ns_list_done, NI__Q_PLAIN);
  if (!p) return -ENOMEM;
  p->is_ns_list = 1; /* read from the first LIST response on */
  return 0;
}

static void namespace_done(ni_imap *c, ni__pcmd *p, int status, const ni_resp *r) {
  if (status == 0 && c->ns_known) {
    ni__client_call_done(c, p->cb, p->arg, 0, r);
    return;
  }
  /* NAMESPACE refused, unreadable or naming no personal namespace: ask for
   * the delimiter the old way. */
  if (queue_ns_list(c, p->cb, p->arg) < 0) ni__conn_end(c, NI_END_ERROR, -ENOMEM);
}

int ni_imap_namespace(ni_imap *c, ni_imap_done_cb cb, void *arg) {
  if (!ni__client_ready(c)) return NI_ESTATE;
  c->ns_known = 0;
  if (!ni_imap_has_cap(c, "NAMESPACE")) return queue_ns_list(c, cb, arg);
  ni_cmd *cmd = ni_cmd_new("NAMESPACE");
  if (!cmd) return -ENOMEM;
  return ni__client_enqueue(c, cmd, cb, arg, namespace_done, NI__Q_PLAIN) ? 0 : -ENOMEM;
}

int ni_imap_personal_namespace(const ni_imap *c, const char **prefix, char *delim) {
  if (!c->ns_known) return NI_ESTATE;
  if (prefix) *prefix = c->ns_prefix ? c->ns_prefix : "";
  if (delim) *delim = c->ns_delim;
  return 0;
}
