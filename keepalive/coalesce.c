/*
 * keepalive/coalesce.c - sessions of one process sharing wakeups.
 *
 * On a phone the cost of a keepalive is mostly the radio waking up, not the
 * bytes.  Two accounts whose keepalives fall a few minutes apart wake the
 * radio twice; sent together they wake it once.  The group therefore sends,
 * whenever one session must act, also the keepalives of the other sessions
 * that would be due within their coalesce window.  Pulling forward is
 * always safe for the NAT (a shorter silence), so the only thing to guard is
 * the cadence: a pulled session keeps at least 1 - window/interval of it
 * (half by default, and never less).  Why half: two sessions with the same
 * cadence are, one way round or the other, at most half a cycle apart, so a
 * window of half the interval brings them into phase at their first shared
 * wakeup and they stay there; any smaller window can leave two accounts
 * waking the radio separately forever.  A session with a longer cadence
 * than its neighbours is pulled along more often than it would send on its
 * own, but only into wakeups that happen anyway: more bytes, no more
 * wakeups.  Learning probes are never pulled: a probe sent early would
 * measure a shorter silence than the one it is meant to test, and learning
 * could stall.
 */
#include <stddef.h>

#include "keepalive/ka_internal.h"

/* ni_ka_init() reads a session's group link to tell a member from fresh
 * memory, and fresh memory is uninitialised by design (`ni_ka ka;
 * ni_ka_init(&ka, ...)`).  Those fields are overwritten right after, so
 * memory checkers are told they are defined, lest every such call be
 * reported; nothing the caller left undefined elsewhere is hidden. */
#if defined(__has_feature)
#if __has_feature(memory_sanitizer)
#include <sanitizer/msan_interface.h>
#define NI__KA_READ_ANYWAY(p, n) __msan_unpoison((p), (n))
#endif
#endif
#if !defined(NI__KA_READ_ANYWAY) && defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define NI__KA_READ_ANYWAY(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#endif
#endif
#ifndef NI__KA_READ_ANYWAY
#define NI__KA_READ_ANYWAY(p, n) ((void)(p), (void)(n))
#endif

/*
 * The group's two heaps.  A scan over every member on every call would make
 * the group's cost grow with its size: with thousands of sessions, every
 * byte on any connection re-arms the group's timer, and a keepalive burst
 * asks the group once per session.  Each session therefore sits in two
 * binary min-heaps linked through its own ni__ka_node (so the group still
 * allocates nothing):
 *
 *  - `due`, keyed by ni_ka_get_expiry(): the group's expiry is its root, and
 *    the sessions due at `now` are popped from it in order;
 *  - `pull`, keyed by next due time minus coalesce window, holding exactly
 *    the sessions that could be pulled forward (connected, no keepalive
 *    outstanding, not probing): at a shared wakeup the pullable sessions are
 *    those whose key has passed, so no other session is looked at.
 *
 * Every ni_ka_ call that changes a member's state ends in
 * ni__ka_group_sync(), which moves it in both heaps in O(log N).  The heap
 * is the textbook one laid out as a pointer tree: node i's children are 2i
 * and 2i + 1, and the path from the root to node i is read off i's binary
 * digits below its leading one.
 */

static ni_ka *ka_of_due(ni__ka_node *n) {
  return (ni_ka *)(void *)((char *)n - offsetof(ni_ka, due_node));
}

static ni_ka *ka_of_pull(ni__ka_node *n) {
  return (ni_ka *)(void *)((char *)n - offsetof(ni_ka, pull_node));
}

/* The session holding node n at offset off, for the read-only checker. */
static const ni_ka *ka_at(const ni__ka_node *n, size_t off) {
  return (const ni_ka *)(const void *)((const char *)n - off);
}

/* The slot (the root pointer or a child pointer) of heap position pos
 * (1-based); *parent gets the node that holds it (NULL for the root). */
static ni__ka_node **heap_slot(ni_ka_group *g, ni__ka_heap *h, size_t pos, ni__ka_node **parent) {
  ni__ka_node **slot = &h->root;
  int bit = 0;
  *parent = NULL;
  while (bit + 1 < (int)(sizeof pos * 8) && (pos >> (bit + 1)) != 0)
    bit++;
  while (bit-- > 0) {
    *parent = *slot;
    g->visits++;
    slot = (pos >> bit) & 1 ? &(*parent)->right : &(*parent)->left;
  }
  return slot;
}

/* Exchange child c with its parent p in the tree (keys stay with nodes). */
static void heap_swap(ni__ka_heap *h, ni__ka_node *p, ni__ka_node *c) {
  ni__ka_node *pp = p->parent, *pl = p->left, *pr = p->right;
  ni__ka_node *cl = c->left, *cr = c->right;
  c->parent = pp;
  if (!pp)
    h->root = c;
  else if (pp->left == p)
    pp->left = c;
  else
    pp->right = c;
  if (pl == c) {
    c->left = p;
    c->right = pr;
    if (pr) pr->parent = c;
  } else {
    c->right = p;
    c->left = pl;
    if (pl) pl->parent = c;
  }
  p->parent = c;
  p->left = cl;
  p->right = cr;
  if (cl) cl->parent = p;
  if (cr) cr->parent = p;
}

static void sift_up(ni_ka_group *g, ni__ka_heap *h, ni__ka_node *n) {
  while (n->parent && n->key < n->parent->key) {
    g->visits++;
    heap_swap(h, n->parent, n);
  }
}

static void sift_down(ni_ka_group *g, ni__ka_heap *h, ni__ka_node *n) {
  for (;;) {
    ni__ka_node *m = n;
    if (n->left && n->left->key < m->key) m = n->left;
    if (n->right && n->right->key < m->key) m = n->right;
    if (m == n) return;
    g->visits++;
    heap_swap(h, n, m);
  }
}

static void heap_insert(ni_ka_group *g, ni__ka_heap *h, ni__ka_node *n, ni_ms key) {
  ni__ka_node *parent;
  ni__ka_node **slot = heap_slot(g, h, h->n + 1, &parent);
  n->left = n->right = NULL;
  n->parent = parent;
  n->key = key;
  n->in_heap = 1;
  *slot = n;
  h->n++;
  sift_up(g, h, n);
}

static void heap_remove(ni_ka_group *g, ni__ka_heap *h, ni__ka_node *n) {
  ni__ka_node *parent;
  ni__ka_node **slot = heap_slot(g, h, h->n, &parent);
  ni__ka_node *last = *slot;
  *slot = NULL;
  h->n--;
  n->in_heap = 0;
  if (last != n) {
    /* The last node takes n's place, then finds its own. */
    last->left = n->left;
    last->right = n->right;
    last->parent = n->parent;
    if (last->left) last->left->parent = last;
    if (last->right) last->right->parent = last;
    if (!n->parent)
      h->root = last;
    else if (n->parent->left == n)
      n->parent->left = last;
    else
      n->parent->right = last;
    sift_down(g, h, last);
    sift_up(g, h, last);
  }
  n->left = n->right = n->parent = NULL;
}

static void heap_rekey(ni_ka_group *g, ni__ka_heap *h, ni__ka_node *n, ni_ms key) {
  ni_ms old = n->key;
  g->visits++;
  n->key = key;
  if (key < old)
    sift_up(g, h, n);
  else if (key > old)
    sift_down(g, h, n);
}

/* How far ahead of its due time a session may send to share a wakeup. */
static ni_ms pull_window(const ni_ka *s) {
  ni_ms half = s->interval / 2;
  ni_ms w = s->cfg.coalesce_ms ? s->cfg.coalesce_ms : half;
  return w < half ? w : half;
}

/* Whether s could be pulled forward at all: learning probes never are (a
 * probe sent early would measure a shorter silence than the one it is meant
 * to test), nor a session with a keepalive out or no connection. */
static int may_pull(const ni_ka *s) {
  /* Nor one relying on the server's keepalive: it sends nothing at all
   * while that comes. */
  return s->state == NI__KA_CONNECTED && !s->outstanding && !s->probing &&
         s->srv != NI_KA_SRV_RELYING;
}

/* The earliest `now` at which s may be pulled: it is pullable at `now`
 * when its due time is after `now` but within its window, i.e. when
 * due - window <= now < due. */
static ni_ms pull_from(const ni_ka *s) {
  ni_ms due = ni__ka_next_due(s), w = pull_window(s);
  return due > w ? due - w : 0;
}

void ni__ka_group_sync(ni_ka *s) {
  ni_ka_group *g = s->group;
  if (!g) return;
  heap_rekey(g, &g->due, &s->due_node, ni_ka_get_expiry(s));
  if (!may_pull(s)) {
    if (s->pull_node.in_heap) heap_remove(g, &g->pull, &s->pull_node);
  } else if (s->pull_node.in_heap) {
    heap_rekey(g, &g->pull, &s->pull_node, pull_from(s));
  } else {
    heap_insert(g, &g->pull, &s->pull_node, pull_from(s));
  }
}

/* Count the nodes under n if they are consistent (links, heap order, each
 * key equal to the value recomputed from its session); -1 at the first
 * inconsistency. */
static long check_tree(const ni__ka_node *n, const ni__ka_node *parent, int pull) {
  if (!n) return 0;
  if (n->parent != parent || !n->in_heap) return -1;
  if (parent && n->key < parent->key) return -1;
  const ni_ka *s = ka_at(n, pull ? offsetof(ni_ka, pull_node) : offsetof(ni_ka, due_node));
  if (pull ? !may_pull(s) || n->key != pull_from(s) : n->key != ni_ka_get_expiry(s)) return -1;
  long l = check_tree(n->left, n, pull), r = check_tree(n->right, n, pull);
  if (l < 0 || r < 0) return -1;
  return 1 + l + r;
}

int ni__ka_group_check(const ni_ka_group *g) {
  long d = check_tree(g->due.root, NULL, 0), p = check_tree(g->pull.root, NULL, 1);
  return d >= 0 && p >= 0 && (size_t)d == g->due.n && (size_t)p == g->pull.n ? 0 : -1;
}

/* What ni_ka.group_key holds for a member of g: the pair of addresses,
 * mixed, so that memory that merely held a member once (a struct copied
 * from one, or one whose group was re-initialised) does not pass for one. */
static uintptr_t group_key(const ni_ka *s, const ni_ka_group *g) {
  return (uintptr_t)s ^ ((uintptr_t)g << 1) ^ (uintptr_t)0x5bd1e995u;
}

int ni__ka_in_group(const ni_ka *s) {
  NI__KA_READ_ANYWAY(&s->group, sizeof s->group);
  NI__KA_READ_ANYWAY(&s->group_key, sizeof s->group_key);
  NI__KA_READ_ANYWAY(&s->due_node, sizeof s->due_node);
  const ni_ka_group *g = s->group;
  if (!g || s->group_key != group_key(s, g) || s->due_node.in_heap != 1) return 0;
  /* The key holds, yet the group may have been re-initialised (or refilled)
   * without s being removed, as when a client discards a group with its
   * sessions and later reuses their memory: s is a member only if the
   * path from its node leads, link by link, to the group's root.  A heap
   * of any size that fits in memory is less than 64 levels deep. */
  const ni__ka_node *n = &s->due_node;
  for (int depth = 0; n->parent; depth++) {
    const ni__ka_node *p = n->parent;
    if (depth >= 64 || (p->left != n && p->right != n)) return 0;
    n = p;
  }
  return g->due.n > 0 && g->due.root == n;
}

NI_API void ni_ka_group_init(ni_ka_group *g) {
  if (!g) return;
  g->due.root = g->pull.root = NULL;
  g->due.n = g->pull.n = 0;
  g->awake_at = 0;
  g->awake = 0;
  g->wakeups = 0;
  g->visits = 0;
}

NI_API int ni_ka_group_add(ni_ka_group *g, ni_ka *s) {
  if (!g || !s) return NI_EUSAGE;
  if (s->group) return NI_ESTATE;
  s->group = g;
  s->group_key = group_key(s, g);
  s->due_node.in_heap = s->pull_node.in_heap = 0;
  heap_insert(g, &g->due, &s->due_node, ni_ka_get_expiry(s));
  if (may_pull(s)) heap_insert(g, &g->pull, &s->pull_node, pull_from(s));
  return 0;
}

NI_API int ni_ka_group_remove(ni_ka_group *g, ni_ka *s) {
  if (!g || !s || s->group != g || !s->due_node.in_heap) return NI_ESTATE;
  heap_remove(g, &g->due, &s->due_node);
  if (s->pull_node.in_heap) heap_remove(g, &g->pull, &s->pull_node);
  s->group = NULL;
  s->group_key = 0;
  return 0;
}

NI_API ni_ms ni_ka_group_get_expiry(const ni_ka_group *g) {
  if (!g || !g->due.root) return NI_TIME_NEVER;
  return g->due.root->key;
}

NI_API ni_ka *ni_ka_group_handle_expiry(ni_ka_group *g, ni_ms now, ni_ka_action *action) {
  ni_ka_action dummy;
  if (!action) action = &dummy;
  *action = NI_KA_NONE;
  if (!g) return NULL;
  if (g->awake && g->awake_at != now) g->awake = 0;
  /* First whatever is due by its own clock, earliest first.  A member's key
   * is its expiry, kept exact by ni__ka_group_sync(), so the root is due
   * exactly when the session would act; NI_TIME_NEVER is never due. */
  ni__ka_node *n = g->due.root;
  if (n && n->key <= now && n->key != NI_TIME_NEVER) {
    ni_ka *s = ka_of_due(n);
    g->visits++;
    ni_ka_action a = ni_ka_handle_expiry(s, now); /* moves s in the heaps */
    if (a != NI_KA_NONE) {
      if (!g->awake) {
        g->awake = 1;
        g->awake_at = now;
        g->wakeups++;
      }
      *action = a;
      return s;
    }
  }
  /* Then, while the radio is up anyway, whatever would be due soon: the
   * pull heap's members whose window has opened.  Nothing is due any more
   * (the due heap's root is later than `now`), so each of them is due after
   * `now` and within its window. */
  if (!g->awake) return NULL;
  n = g->pull.root;
  if (!n || n->key > now) return NULL;
  ni_ka *s = ka_of_pull(n);
  g->visits++;
  *action = ni__ka_fire(s, now);
  s->stats.pulled++;
  ni__ka_group_sync(s);
  return s;
}
