/*
 * imap/client.c - the IMAP client over the transport of conn.c: tags, the
 * command queue, continuations, the connect sequence (greeting, CAPABILITY,
 * STARTTLS), the routing of responses, and IDLE.  The commands are built in
 * imap/client_cmd.c, the logins in imap/client_auth.c.
 *
 * One command is on the wire at a time; the others wait in the queue.  That
 * keeps continuation routing unambiguous ("+" always belongs to the head of
 * the queue), and natidle's sessions never need pipelining: a probe session
 * is silent, and the control connection runs one command per event.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/conn_internal.h"
#include "imap/sasl.h"

/* ---- tracing ---- */

/* If line ends with a literal announcement {N} or {N+} / {N-}, return N
 * (the bytes that follow the CRLF), else 0. */
static size_t literal_at_end(const char *line, size_t n) {
  if (n < 3 || line[n - 1] != '}') return 0;
  size_t i = n - 1;
  if (line[i - 1] == '+' || line[i - 1] == '-') i--;
  size_t end = i, v = 0;
  while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
    i--;
  if (i == end || i == 0 || line[i - 1] != '{' || end - i > 12) return 0;
  for (size_t k = i; k < end; k++)
    v = v * 10 + (size_t)(line[k] - '0');
  return v;
}

/* Trace text line by line; literal contents (lit bytes at the start, and
 * after every announcement) are replaced by "[N bytes]". */
static void trace_text(ni_imap *c, int dir, const char *p, size_t n, size_t lit) {
  char out[1024];
  while (n > 0) {
    size_t o = 0;
    if (lit) {
      size_t skip = lit < n ? lit : n;
      o = (size_t)snprintf(out, sizeof out, "[%zu bytes]", lit);
      p += skip;
      n -= skip;
      lit = 0;
    }
    const char *nl = memchr(p, '\n', n);
    size_t len = nl ? (size_t)(nl - p) + 1 : n;
    size_t body = len;
    while (body > 0 && (p[body - 1] == '\n' || p[body - 1] == '\r'))
      body--;
    lit = literal_at_end(p, body);
    size_t room = sizeof out - o - 4;
    size_t take = body < room ? body : room;
    memcpy(out + o, p, take);
    o += take;
    if (take < body) {
      memcpy(out + o, "...", 3);
      o += 3;
    }
    if (o > 0 || len > 0) ni__trace(c, dir, out, o);
    p += len;
    n -= len;
  }
}

/* ---- the queue ---- */

static void pcmd_free(ni__pcmd *p) {
  if (!p) return;
  ni_cmd_free(p->cmd);
  ni__sasl_free(p->sasl, p->sasl_n);
  free(p);
}

void ni__client_call_done(ni_imap *c, ni_imap_done_cb cb, void *arg, int status, const ni_resp *r) {
  if (cb) NI__USER(c, cb(c, status, r, arg));
}

/* Send the head command's chunks, from next_chunk up to the next one that
 * must wait for a "+" continuation, in one write. */
static void send_chunks(ni_imap *c, ni__pcmd *p) {
  size_t nch = ni_cmd_nchunks(p->cmd), first = p->next_chunk, total = 0, last = first;
  size_t taglen = first == 0 ? strlen(p->tag) + 1 : 0;
  do {
    total += ni_cmd_chunk(p->cmd, last).n;
    last++;
  } while (last < nch && !ni_cmd_chunk_needs_continuation(p->cmd, last));
  char *buf = malloc(taglen + total);
  if (!buf) {
    ni__conn_end(c, NI_END_ERROR, -ENOMEM);
    return;
  }
  size_t o = 0;
  if (taglen) {
    memcpy(buf, p->tag, taglen - 1);
    buf[taglen - 1] = ' ';
    o = taglen;
  }
  for (size_t i = first; i < last; i++) {
    ni_str ch = ni_cmd_chunk(p->cmd, i);
    memcpy(buf + o, ch.p, ch.n);
    o += ch.n;
  }
  size_t lit = 0;
  if (first > 0) {
    ni_str prev = ni_cmd_chunk(p->cmd, first - 1);
    size_t pn = prev.n;
    while (pn > 0 && (prev.p[pn - 1] == '\n' || prev.p[pn - 1] == '\r'))
      pn--;
    lit = literal_at_end(prev.p, pn);
  }
  /* State first: the trace callback may queue another command. */
  p->started = 1;
  if (p->is_logout) c->logout_sent = 1;
  p->next_chunk = last;
  ni__conn_send(c, buf, o, p->secret);
  if (!p->secret)
    trace_text(c, 1, buf, o, lit);
  else if (first == 0)
    trace_text(c, 1, p->label, strlen(p->label), 0);
  if (p->secret) ni__wipe(buf, o);
  free(buf);
  if (p->next_chunk >= nch) {
    ni_cmd_free(p->cmd); /* wipes a password it may hold */
    p->cmd = NULL;
  }
}

/* Start the head command if nothing is on the wire. */
static void pump(ni_imap *c) {
  ni__pcmd *p = c->q_head;
  if (!p || p->started || (c->st != NI__ST_READY && c->st != NI__ST_SETUP)) return;
  send_chunks(c, p);
}

/* Queue cmd (and send it when nothing else is on the wire: the command is
 * fully set up here, before it can start). */
ni__pcmd *ni__client_enqueue(ni_imap *c, ni_cmd *cmd, ni_imap_done_cb cb, void *arg,
                             ni__internal_done internal, int kind) {
  int r = ni_cmd_finish(cmd); /* NI_EUSAGE: the caller had finished it already */
  ni__pcmd *p = (r == 0 || r == NI_EUSAGE) ? calloc(1, sizeof *p) : NULL;
  if (!p) {
    ni_cmd_free(cmd);
    return NULL;
  }
  snprintf(p->tag, sizeof p->tag, "A%04u", (unsigned)c->next_tag++);
  p->cmd = cmd;
  p->cb = cb;
  p->arg = arg;
  p->internal = internal;
  p->is_logout = kind == NI__Q_LOGOUT;
  p->is_idle = kind == NI__Q_IDLE;
  p->is_auth = kind == NI__Q_AUTH;
  p->caps_gen = c->caps_gen;
  if (ni_cmd_is_secret(cmd)) {
    /* The trace shows the tag and the verb only, and for AUTHENTICATE
     * the mechanism too (it is no secret, and says which one was used). */
    ni_str ch = ni_cmd_chunk(cmd, 0);
    size_t v = 0;
    int words = kind == NI__Q_AUTH ? 2 : 1;
    while (v < ch.n && v < 32 && ch.p[v] != '\r' && (ch.p[v] != ' ' || --words > 0))
      v++;
    p->secret = 1;
    snprintf(p->label, sizeof p->label, "%s %.*s ***", p->tag, (int)v, ch.p);
  }
  if (c->q_tail)
    c->q_tail->next = p;
  else
    c->q_head = p;
  c->q_tail = p;
  pump(c);
  return p;
}

static ni__pcmd *pop_head(ni_imap *c) {
  ni__pcmd *p = c->q_head;
  if (p) {
    c->q_head = p->next;
    if (!c->q_head) c->q_tail = NULL;
    p->next = NULL;
  }
  return p;
}

/* ---- capabilities ---- */

static void set_caps(ni_imap *c, ni_str caps) {
  char *d = malloc(caps.n + 1);
  if (!d) return;
  memcpy(d, caps.p, caps.n);
  d[caps.n] = '\0';
  free(c->caps);
  c->caps = d;
  c->caps_n = caps.n;
  c->caps_gen++;
}

static void clear_caps(ni_imap *c) {
  free(c->caps);
  c->caps = NULL;
  c->caps_n = 0;
}

ni_str ni_imap_caps(const ni_imap *c) {
  ni_str s = {"", 0};
  if (c->caps) {
    s.p = c->caps;
    s.n = c->caps_n;
  }
  return s;
}

int ni_imap_has_cap(const ni_imap *c, const char *cap) {
  return c->caps ? ni_caps_has(ni_imap_caps(c), cap) : 0;
}

/* ---- the connect sequence ---- */

static void connect_done(ni_imap *c) {
  c->st = NI__ST_READY;
  ni__conn_stop_timer(c);
  ni_imap_done_cb cb = c->connect_cb;
  c->connect_cb = NULL;
  ni__client_call_done(c, cb, c->connect_arg, 0, NULL);
  pump(c);
}

static void queue_internal(ni_imap *c, const char *verb, ni__internal_done done) {
  ni_cmd *cmd = ni_cmd_new(verb);
  if (!cmd || !ni__client_enqueue(c, cmd, NULL, NULL, done, NI__Q_PLAIN))
    ni__conn_end(c, NI_END_ERROR, -ENOMEM);
}

static void setup_after_caps(ni_imap *c);

static void setup_caps_done(ni_imap *c, ni__pcmd *p, int status, const ni_resp *r) {
  (void)p;
  if (status != 0) {
    ni__errf(c, "CAPABILITY failed: %.*s", (int)r->text.n, r->text.p);
    ni__conn_end(c, NI_END_PROTOCOL, status);
    return;
  }
  setup_after_caps(c);
}

static void starttls_done(ni_imap *c, ni__pcmd *p, int status, const ni_resp *r) {
  (void)p;
  if (status != 0) {
    ni__errf(c, "server refused STARTTLS: %.*s", (int)r->text.n, r->text.p);
    ni__conn_end(c, NI_END_TLS, NI_ETLS);
    return;
  }
  /* Capabilities learnt before TLS must be forgotten (RFC 3501 6.2.1). */
  clear_caps(c);
  c->starttls_go = 1;
}

static void setup_after_caps(ni_imap *c) {
  if (c->tls_mode == NI_TLS_STARTTLS && !c->tls_up) {
    if (c->authenticated) {
      ni__errf(c, "server sent PREAUTH on a plaintext connection: STARTTLS impossible");
      ni__conn_end(c, NI_END_ERROR, NI_ENOCAP);
      return;
    }
    if (!ni_imap_has_cap(c, "STARTTLS")) {
      ni__errf(c, "server %s does not offer STARTTLS (refusing to continue without TLS)", c->host);
      ni__conn_end(c, NI_END_ERROR, NI_ENOCAP);
      return;
    }
    queue_internal(c, "STARTTLS", starttls_done);
    return;
  }
  connect_done(c);
}

static void on_greeting(ni_imap *c, const ni_resp *r) {
  if (r->type == NI_R_BYE) {
    ni__errf(c, "server refused the connection: %.*s", (int)r->text.n, r->text.p);
    ni__conn_end(c, NI_END_BYE, NI_EBYE);
    return;
  }
  if (r->type != NI_R_OK && r->type != NI_R_PREAUTH) {
    ni__errf(c, "unexpected greeting from %s", c->host);
    ni__conn_end(c, NI_END_PROTOCOL, NI_EPARSE);
    return;
  }
  if (r->type == NI_R_PREAUTH) c->authenticated = 1;
  c->st = NI__ST_SETUP;
  if (r->caps.n)
    setup_after_caps(c);
  else
    queue_internal(c, "CAPABILITY", setup_caps_done);
}

void ni__client_on_transport_ready(ni_imap *c) {
  if (c->st != NI__ST_ENDED) c->st = NI__ST_GREETING;
}

void ni__client_on_tls_ready(ni_imap *c) {
  c->st = NI__ST_SETUP;
  queue_internal(c, "CAPABILITY", setup_caps_done);
}

/* ---- responses ---- */

static int status_of(const ni_resp *r) {
  switch (r->type) {
  case NI_R_OK:
    return 0;
  case NI_R_NO:
    return NI_ENO;
  default:
    return NI_EBAD;
  }
}

static void on_tagged(ni_imap *c, const ni_resp *r) {
  ni__pcmd *p = c->q_head;
  if (!p || !p->started || r->tag.n != strlen(p->tag) || memcmp(r->tag.p, p->tag, r->tag.n)) {
    ni__errf(c, "unexpected tagged response %.*s from %s", (int)(r->tag.n > 20 ? 20 : r->tag.n),
             r->tag.p, c->host);
    ni__conn_end(c, NI_END_PROTOCOL, NI_EPARSE);
    return;
  }
  pop_head(c);
  if (p->is_idle) {
    c->idling = 0;
    c->done_wanted = 0;
  }
  int st = status_of(r);
  if (p->internal)
    p->internal(c, p, st, r);
  else
    ni__client_call_done(c, p->cb, p->arg, st, r);
  int was_logout = p->is_logout;
  pcmd_free(p);
  if (was_logout) {
    ni__conn_end(c, NI_END_LOCAL, 0);
    return;
  }
  pump(c);
}

static void send_done_line(ni_imap *c) {
  c->idling = 0;
  c->done_wanted = 0;
  ni__conn_send(c, "DONE\r\n", 6, 0);
  ni__trace(c, 1, "DONE", 4);
}

static void on_continue(ni_imap *c, const ni_resp *r) {
  ni__pcmd *p = c->q_head;
  if (!p || !p->started) {
    ni__errf(c, "unexpected continuation from %s", c->host);
    ni__conn_end(c, NI_END_PROTOCOL, NI_EPARSE);
    return;
  }
  if (p->cmd && p->next_chunk < ni_cmd_nchunks(p->cmd)) {
    send_chunks(c, p);
  } else if (p->is_idle) {
    if (c->idling) return;
    if (c->done_wanted) {
      send_done_line(c);
      return;
    }
    c->idling = 1;
    if (p->on_idling) NI__USER(c, p->on_idling(c, p->arg));
  } else if (p->sasl) {
    char *sasl = p->sasl;
    size_t n = p->sasl_n;
    p->sasl = NULL;
    ni__conn_send(c, sasl, n, 1);
    ni__sasl_free(sasl, n);
    ni__trace(c, 1, "***", 3);
  } else if (p->oauth && !p->oauth_answered) {
    ni__client_oauth_challenge(c, p, r);
  } else if (p->is_auth) {
    /* A further challenge during AUTHENTICATE: cancel the exchange (RFC
     * 3501 6.2.2) rather than guess. */
    ni__conn_send(c, "*\r\n", 3, 0);
    ni__trace(c, 1, "*", 1);
  }
}

static void on_response(ni_imap *c, const ni_resp *r) {
  if (r->caps.n) set_caps(c, r->caps);
  switch (r->kind) {
  case NI_RESP_UNTAGGED:
    if (r->type == NI_R_NAMESPACE)
      ni__client_ns_take_namespace(c, r);
    else if (r->type == NI_R_LIST && c->q_head && c->q_head->is_ns_list)
      ni__client_ns_take_list(c, r);
    if (c->cb.on_untagged) NI__USER(c, c->cb.on_untagged(c, r, c->ud));
    if (c->st == NI__ST_ENDED) return;
    if (c->st == NI__ST_GREETING) {
      on_greeting(c, r);
    } else if (r->type == NI_R_BYE && !c->logout_sent) {
      ni__errf(c, "server said BYE: %.*s", (int)r->text.n, r->text.p);
      ni__conn_end(c, NI_END_BYE, NI_EBYE);
    }
    break;
  case NI_RESP_CONTINUE:
    on_continue(c, r);
    break;
  case NI_RESP_TAGGED:
    on_tagged(c, r);
    break;
  }
}

void ni__client_on_data(ni_imap *c, const char *p, size_t n) {
  while (n > 0 && c->st != NI__ST_ENDED) {
    size_t used = 0;
    ni_resp r;
    int rc = ni_parser_feed(c->parser, p, n, &used, &r);
    p += used;
    n -= used;
    if (rc < 0) {
      ni__errf(c, "protocol error from %s: %s", c->host, ni_parser_errstr(c->parser));
      ni__conn_end(c, NI_END_PROTOCOL, rc);
      return;
    }
    if (rc == 0) return;
    if (c->cb.on_trace) trace_text(c, 0, r.raw.p, r.raw.n, 0);
    on_response(c, &r);
    if (c->starttls_go && c->st != NI__ST_ENDED) {
      /* Whatever followed the STARTTLS OK in plaintext was sent before TLS
       * and could be an attacker's injection: drop it unread (RFC 3501
       * 6.2.1, CVE-2011-0411 class). */
      c->starttls_go = 0;
      if (n > 0 || ni_parser_buffered(c->parser) > 0) {
        char msg[96];
        int k = snprintf(msg, sizeof msg, "[discarded %zu plaintext bytes after STARTTLS]",
                         n + ni_parser_buffered(c->parser));
        ni__trace(c, 0, msg, (size_t)k);
      }
      ni_parser_reset(c->parser);
      ni__conn_start_tls(c);
      return;
    }
  }
}

/* ---- end and free ---- */

void ni__client_report_end(ni_imap *c) {
  int err = c->end_how == NI_END_LOCAL ? NI_ECANCELED : c->end_err;
  if (c->connect_cb) {
    ni_imap_done_cb cb = c->connect_cb;
    c->connect_cb = NULL;
    ni__client_call_done(c, cb, c->connect_arg, err, NULL);
  }
  ni__pcmd *p;
  while ((p = pop_head(c)) != NULL) {
    ni__client_call_done(c, p->cb, p->arg, err, NULL);
    pcmd_free(p);
  }
  if (c->cb.on_end)
    NI__USER(c, c->cb.on_end(c, c->end_how, c->end_how == NI_END_LOCAL ? 0 : c->end_err, c->ud));
}

void ni__client_free(ni_imap *c) {
  ni__pcmd *p;
  while ((p = pop_head(c)) != NULL)
    pcmd_free(p);
  clear_caps(c);
  free(c->ns_prefix);
  c->ns_prefix = NULL;
}

/* ---- commands ---- */

int ni__client_ready(const ni_imap *c) {
  return c && c->st == NI__ST_READY;
}

int ni_imap_cmd(ni_imap *c, ni_cmd *cmd, ni_imap_done_cb cb, void *arg) {
  if (!cmd) return NI_EUSAGE;
  if (!ni__client_ready(c)) {
    ni_cmd_free(cmd);
    return NI_ESTATE;
  }
  return ni__client_enqueue(c, cmd, cb, arg, NULL, NI__Q_PLAIN) ? 0 : -ENOMEM;
}

int ni_imap_idle(ni_imap *c, void (*on_idling)(ni_imap *c, void *arg), ni_imap_done_cb cb,
                 void *arg) {
  if (!ni__client_ready(c)) return NI_ESTATE;
  if (!ni_imap_has_cap(c, "IDLE")) return NI_ENOCAP;
  ni_cmd *cmd = ni_cmd_new("IDLE");
  if (!cmd) return -ENOMEM;
  ni__pcmd *p = ni__client_enqueue(c, cmd, cb, arg, NULL, NI__Q_IDLE);
  if (!p) return -ENOMEM;
  p->on_idling = on_idling; /* needed only once the "+" arrives */
  return 0;
}

int ni_imap_idle_done(ni_imap *c) {
  ni__pcmd *p = c ? c->q_head : NULL;
  if (!p || !p->is_idle || !p->started || c->st == NI__ST_ENDED || c->done_wanted) return NI_ESTATE;
  if (c->idling)
    send_done_line(c);
  else
    c->done_wanted = 1;
  return 0;
}

int ni_imap_is_idling(const ni_imap *c) {
  return c->idling;
}

size_t ni_imap_pending(const ni_imap *c) {
  size_t n = 0;
  for (const ni__pcmd *p = c->q_head; p; p = p->next)
    n++;
  return n;
}
