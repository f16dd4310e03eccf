/*
 * imap/client_auth.c - logging in: LOGIN or AUTHENTICATE PLAIN with a
 * password, AUTHENTICATE OAUTHBEARER or XOAUTH2 with an access token, and
 * why an OAuth2 server refused one.  The SASL messages themselves are built
 * in imap/sasl.c; no secret is sent without TLS unless plaintext is allowed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/conn_internal.h"
#include "imap/sasl.h"

int ni_imap_is_authenticated(const ni_imap *c) {
  return c->authenticated;
}

/* ---- login ---- */

static void login_caps_done(ni_imap *c, ni__pcmd *p, int status, const ni_resp *r) {
  (void)status;
  /* The login itself succeeded; a failing CAPABILITY leaves the old list. */
  ni__client_call_done(c, p->cb, p->arg, 0, r);
}

/* Say why a login was refused, with what an OAuth2 server added. */
static void login_refused(ni_imap *c, const ni__pcmd *p, const ni_resp *r) {
  int n = (int)(r->text.n > 200 ? 200 : r->text.n);
  if (!p->oauth) {
    ni__errf(c, "login refused by %s: %.*s", c->host, n, r->text.p);
    return;
  }
  c->oauth_refusal = c->oauth_status[0] && ni__oauth2_status_is_token(c->oauth_status)
                         ? NI_OAUTH_TOKEN_REFUSED
                         : NI_OAUTH_REFUSED;
  ni__errf(c, "login refused by %s: %.*s (%s%s)", c->host, n, r->text.p,
           c->oauth_refusal == NI_OAUTH_TOKEN_REFUSED ? "token refused, status "
           : c->oauth_status[0]                       ? "OAuth2 status "
                                                      : "no OAuth2 error status",
           c->oauth_status);
}

static void login_done(ni_imap *c, ni__pcmd *p, int status, const ni_resp *r) {
  if (status != 0) {
    login_refused(c, p, r);
    ni__client_call_done(c, p->cb, p->arg, NI_EAUTH, r);
    return;
  }
  c->authenticated = 1;
  if (c->caps_gen != p->caps_gen) {
    /* The server sent its new capabilities with the login response. */
    ni__client_call_done(c, p->cb, p->arg, 0, r);
    return;
  }
  /* Capabilities change after login (RFC 3501 6.2.3); read them again
   * before telling the caller, who may look for IDLE or NOTIFY. */
  ni_cmd *cmd = ni_cmd_new("CAPABILITY");
  if (!cmd || !ni__client_enqueue(c, cmd, p->cb, p->arg, login_caps_done, NI__Q_PLAIN))
    ni__conn_end(c, NI_END_ERROR, -ENOMEM);
}

/* The checks every login makes before anything is sent: the connection can
 * log in, and a secret goes out only under TLS unless plaintext was
 * allowed.  what names the secret in the error text. */
static int login_allowed(ni_imap *c, const char *what) {
  if (!ni__client_ready(c) || c->authenticated) return NI_ESTATE;
  if (!c->tls_up && !c->allow_plaintext) {
    ni__errf(c, "refusing to send the %s to %s without TLS", what, c->host);
    return NI_EPLAINTEXT;
  }
  return 0;
}

/* Queue "AUTHENTICATE mech" with the base64 initial response sasl[0..n)
 * (from ni__sasl_*, with room for CRLF; taken over in all cases, wiped
 * after use).  With SASL-IR (RFC 4959) it goes on the command line;
 * otherwise it waits for the server's empty "+" challenge.  Returns the
 * queued command or NULL when out of memory. */
static ni__pcmd *queue_authenticate(ni_imap *c, const char *mech, char *sasl, size_t n,
                                    ni_imap_done_cb cb, void *arg) {
  char verb[48];
  snprintf(verb, sizeof verb, "AUTHENTICATE %s", mech);
  ni_cmd *cmd = sasl ? ni_cmd_new(verb) : NULL;
  int r = 0;
  if (cmd) {
    ni_cmd_secret(cmd);
    if (ni_imap_has_cap(c, "SASL-IR")) {
      r = ni_cmd_atom(cmd, sasl);
      ni__sasl_free(sasl, n);
      sasl = NULL;
    } else {
      memcpy(sasl + n, "\r\n", 3);
      n += 2;
    }
  }
  ni__pcmd *p = cmd && r == 0 ? ni__client_enqueue(c, cmd, cb, arg, login_done, NI__Q_AUTH) : NULL;
  if (!p) {
    if (r < 0) ni_cmd_free(cmd);
    ni__sasl_free(sasl, n);
    return NULL;
  }
  /* Needed only once the "+" arrives, which cannot happen before this
   * returns. */
  p->sasl = sasl;
  p->sasl_n = n;
  return p;
}

int ni_imap_login(ni_imap *c, const char *user, const char *pass, ni_imap_done_cb cb, void *arg) {
  if (!c || !user || !pass) return NI_EUSAGE;
  int r = login_allowed(c, "password");
  if (r < 0) return r;
  if (ni_imap_has_cap(c, "AUTH=PLAIN")) {
    size_t n = 0;
    char *sasl = ni__sasl_plain(user, pass, &n);
    return queue_authenticate(c, "PLAIN", sasl, n, cb, arg) ? 0 : -ENOMEM;
  }
  if (ni_imap_has_cap(c, "LOGINDISABLED")) {
    ni__errf(c, "server %s disables LOGIN and offers no AUTH=PLAIN", c->host);
    return NI_ENOCAP;
  }
  ni_cmd *cmd = ni_cmd_new("LOGIN");
  if (!cmd) return -ENOMEM;
  ni_cmd_secret(cmd);
  ni_cmd_literal_plus(cmd, ni__client_nonsync_ok(c, strlen(user) + strlen(pass)));
  r = ni_cmd_string(cmd, user, strlen(user));
  if (r == 0) r = ni_cmd_string(cmd, pass, strlen(pass));
  if (r < 0) {
    ni_cmd_free(cmd);
    return r;
  }
  return ni__client_enqueue(c, cmd, cb, arg, login_done, NI__Q_PLAIN) ? 0 : -ENOMEM;
}

/* ---- OAuth2 ---- */

/* No control characters (they would split the SASL message's fields), and
 * for a token nothing outside printable ASCII either (RFC 6750 2.1 allows
 * less still, but other tokens are seen in the wild). */
static int oauth_text_ok(const char *s, size_t n, int token) {
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch < 0x20 || ch == 0x7f || (token && (ch == ' ' || ch > 0x7e))) return 0;
  }
  return n > 0;
}

int ni_imap_authenticate_oauth2(ni_imap *c, const char *user, const char *token, size_t len,
                                ni_oauth_mech mech, ni_imap_done_cb cb, void *arg) {
  if (!c || !user || !token || !oauth_text_ok(user, strlen(user), 0) ||
      !oauth_text_ok(token, len, 1) || (unsigned)mech > NI_OAUTH_XOAUTH2)
    return NI_EUSAGE;
  int r = login_allowed(c, "access token");
  if (r < 0) return r;
  int bearer = ni_imap_has_cap(c, "AUTH=OAUTHBEARER"), xoauth2 = ni_imap_has_cap(c, "AUTH=XOAUTH2");
  if (mech == NI_OAUTH_AUTO && !bearer && !xoauth2) {
    ni__errf(c, "server %s offers neither AUTH=OAUTHBEARER nor AUTH=XOAUTH2", c->host);
    return NI_ENOCAP;
  }
  if (mech == NI_OAUTH_AUTO) mech = bearer ? NI_OAUTH_OAUTHBEARER : NI_OAUTH_XOAUTH2;
  if (mech == NI_OAUTH_OAUTHBEARER ? !bearer : !xoauth2) {
    ni__errf(c, "server %s does not offer AUTH=%s", c->host,
             mech == NI_OAUTH_OAUTHBEARER ? "OAUTHBEARER" : "XOAUTH2");
    return NI_ENOCAP;
  }
  c->oauth_refusal = NI_OAUTH_NOT_REFUSED;
  c->oauth_status[0] = '\0';
  bearer = mech == NI_OAUTH_OAUTHBEARER;
  size_t n = 0;
  char *sasl = ni__sasl_oauth2(bearer, user, c->host, c->port, token, len, &n);
  ni__pcmd *p = queue_authenticate(c, bearer ? "OAUTHBEARER" : "XOAUTH2", sasl, n, cb, arg);
  if (!p) return -ENOMEM;
  p->oauth = bearer ? 1 : 2;
  return 0;
}

/* The server refused the token and says why in a "+" challenge (RFC 7628
 * 3.2.2): keep its status, and answer as the exchange requires before the
 * tagged NO can come: a single %x01 for OAUTHBEARER, an empty line for
 * XOAUTH2. */
void ni__client_oauth_challenge(ni_imap *c, ni__pcmd *p, const ni_resp *r) {
  p->oauth_answered = 1;
  if (ni__oauth2_error_status(r->text.p, r->text.n, c->oauth_status, sizeof c->oauth_status) < 0)
    c->oauth_status[0] = '\0';
  if (p->oauth == 1) {
    ni__conn_send(c, "AQ==\r\n", 6, 0);
    ni__trace(c, 1, "AQ==", 4);
  } else {
    ni__conn_send(c, "\r\n", 2, 0);
    ni__trace(c, 1, "", 0);
  }
}

ni_oauth_refusal ni_imap_oauth_refusal(const ni_imap *c, const char **status) {
  if (status) *status = c->oauth_status;
  return c->oauth_refusal;
}
