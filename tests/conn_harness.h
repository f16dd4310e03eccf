/*
 * tests/conn_harness.h - what the connection's tests share (conn_harness.c):
 * a client run against the scripted fake server, with what its callbacks saw
 * recorded in an ev.
 */
#ifndef NATIDLE_TESTS_CONN_HARNESS_H
#define NATIDLE_TESTS_CONN_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "fakeserver.h"
#include "natidle/conn.h"

/* What the callbacks saw. */
typedef struct ev {
  int connect_called, connect_status;
  int end_called, end_err;
  ni_end end_how;
  int cmd_called, cmd_status;
  int idling, exists, untagged;
  int saw_injected;
  char errstr[320];
  uint64_t io_in, io_out;
  int io_checked;
  char trace[16384];
  size_t trace_n;
  int namespaces, uidnext_seen;
  /* After an OAuth2 login: ni_imap_oauth_refusal() and its status. */
  ni_oauth_refusal refusal;
  char oauth_status[64];
  /* After ni_imap_namespace(): ni_imap_personal_namespace(). */
  int ns_rc;
  char ns_prefix[64], ns_delim;
  /* What to do once connected. */
  void (*then)(ni_imap *c, struct ev *e);
  const char *user, *pass;
  ni_oauth_mech mech;
} ev;

/* Where needle first stands in h[0..hn), or NULL. */
const char *find_bytes(const char *h, size_t hn, const char *needle, size_t nn);

/* Callbacks that record into the ev given as ud or arg.  cmd_done closes
 * the connection once the command is answered; connect_done runs e->then,
 * or closes. */
void on_untagged(ni_imap *c, const ni_resp *r, void *ud);
void cmd_done(ni_imap *c, int status, const ni_resp *r, void *arg);
void connect_done(ni_imap *c, int status, const ni_resp *r, void *arg);

/* Connect with o and run the loop until the client is gone (10 s at most). */
void run_client(const ni_imap_opts *o, ev *e);
/* Options for 127.0.0.1 at the fake server's port. */
ni_imap_opts opts_for(fs *s, ni_tls_mode mode);
/* The path of a file among the run's certificates. */
void cert_path(char *out, size_t n, const char *name);
/* Start the fake server with script and run a client against it (e->then
 * runs once connected); returns the server for more checks. */
fs *run_script_tls(const fs_step *script, ni_tls_mode mode, ev *e, int allow_plaintext);
fs *run_script(const fs_step *script, ev *e, int allow_plaintext);

/* cmocka group setup and teardown: make and remove the certificates. */
int setup_certs(void **state);
int remove_certs(void **state);

#endif /* NATIDLE_TESTS_CONN_HARNESS_H */
