/*
 * Logging in (see natidle/push.h): the password or an OAuth2 access token
 * asked of the application, and which failures of the connect and login
 * steps are permanent (the session ends in NI_PUSH_FAILED) rather than
 * retried.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/secret.h"
#include "keepalive/driver_internal.h"

/* Response codes of a refusal that says "not now" rather than "never"
 * (RFC 5530): the server is unavailable, overloaded or broken, or the
 * account is busy.  A login refused with one of them is retried. */
static int temporary_refusal(const ni_resp *tagged) {
  static const char *const codes[] = {"UNAVAILABLE", "SERVERBUG", "INUSE", "LIMIT"};
  if (!tagged) return 0;
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    if (tagged->code.n == strlen(codes[i]) && !memcmp(tagged->code.p, codes[i], tagged->code.n))
      return 1;
  return 0;
}

/* Whether a failed connect or login is permanent: retrying cannot help, and
 * for a refused login it hurts, since servers lock an account after a few
 * failed logins in a row.  A certificate that is not trusted, credentials
 * that would go out in clear, a capability the server lacks (STARTTLS, the
 * login mechanism, IDLE), a login the server refused (unless it said it is
 * only for now).  An NI_EAUTH without a tagged answer is a login cut short,
 * not refused. */
static int permanent(int status, const ni_resp *tagged) {
  switch (status) {
  case NI_ECERT:
  case NI_EPLAINTEXT:
  case NI_ENOCAP:
    return 1;
  case NI_EAUTH:
    return tagged && !temporary_refusal(tagged);
  default:
    return 0;
  }
}

/* The completion of a connect or login step: 0 when it succeeded, else 1
 * after failing the session (permanent) or dropping the connection. */
static int setup_failed(ni_push *p, int status, const ni_resp *tagged, const char *what) {
  if (status >= 0) return 0;
  if (!permanent(status, tagged)) return ni__push_cmd_failed(p, status, what);
  char buf[256];
  const char *es = p->c ? ni_imap_errstr(p->c) : "";
  snprintf(buf, sizeof buf, "%s: %s", what, *es ? es : ni_strerror(status));
  ni__push_fail(p, status, buf);
  return 1;
}

static void on_login(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  if (setup_failed(p, status, tagged, "login")) return;
  ni__push_log(p, NI_PUSH_LOG_INFO, "logged in as %s", p->user);
  if (!ni_imap_has_cap(c, "IDLE")) {
    ni__push_fail(p, NI_ENOCAP, "server lacks IDLE");
    return;
  }
  p->sel_uidvalidity = p->sel_uidnext = 0;
  ni__push_set_state(p, NI_PUSH_SELECTING, 0, p->mailbox);
  int rc = ni_imap_select(c, p->mailbox, 0, ni__push_on_selected, p);
  if (rc < 0) ni__push_cmd_failed(p, rc, "SELECT");
}

/* ---- OAuth2 ---- */

/* Ask the application for an access token (cb.on_token, required with
 * OAuth2); ni_push_set_token() carries on. */
static void ask_token(ni_push *p) {
  p->token_wanted = 1;
  ni__push_log(p, NI_PUSH_LOG_INFO, "asking for %s access token",
               p->token_refresh ? "a fresh" : "an");
  p->cb.on_token(p, p->token_refresh, p->ud);
}

static void on_oauth_login(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  if (status != NI_EAUTH || !tagged || temporary_refusal(tagged)) {
    if (status == 0) p->token_refresh = 0;
    on_login(c, status, tagged, p);
    return;
  }
  const char *why = "";
  ni_oauth_refusal r = ni_imap_oauth_refusal(c, &why);
  char buf[256];
  if (r == NI_OAUTH_TOKEN_REFUSED && !p->token_refresh) {
    /* Expired or revoked: the one case a fresh token cures.  Asked for
     * once per login, so that a token source that keeps handing out dead
     * tokens cannot make the session knock forever. */
    p->token_refresh = 1;
    ni__push_log(p, NI_PUSH_LOG_WARN, "the server refused the access token (%s)",
                 *why ? why : "no status");
    if (!ni_imap_is_ended(c)) {
      ask_token(p);
      return;
    }
    /* The server hung up after the refusal: the next connection asks for
     * the fresh token, and its refusal is final. */
    ni__push_cmd_failed(p, NI_ECLOSED, "OAuth2 login");
    return;
  }
  snprintf(buf, sizeof buf, "OAuth2 login: %s%s%s%s",
           r == NI_OAUTH_TOKEN_REFUSED ? "fresh access token refused too" : "access token refused",
           *why ? " (" : "", why, *why ? ")" : "");
  ni__push_fail(p, NI_EAUTH, buf);
}

int ni_push_set_token(ni_push *p, const char *token, size_t len) {
  if (!p || p->freed || !p->token_wanted || !p->c) return NI_ESTATE;
  p->token_wanted = 0;
  if (!token || !len) {
    ni__push_fail(p, NI_EAUTH, "OAuth2 login: no access token to be had");
    return 0;
  }
  ni_oauth_mech mech = p->auth == NI_PUSH_AUTH_OAUTHBEARER ? NI_OAUTH_OAUTHBEARER
                       : p->auth == NI_PUSH_AUTH_XOAUTH2   ? NI_OAUTH_XOAUTH2
                                                           : NI_OAUTH_AUTO;
  int rc = ni_imap_authenticate_oauth2(p->c, p->user, token, len, mech, on_oauth_login, p);
  if (rc == NI_EUSAGE) {
    /* Characters no bearer token holds: the application's token source
     * is broken, and sending it again will not mend it. */
    ni__push_fail(p, NI_EAUTH, "OAuth2 login: the access token is malformed");
    return NI_EUSAGE;
  }
  setup_failed(p, rc, NULL, "OAuth2 login");
  return 0;
}

void ni__push_on_connected(ni_imap *c, int status, const ni_resp *tagged, void *arg) {
  ni_push *p = arg;
  if (setup_failed(p, status, tagged, "connect")) return;
  ni__push_log(p, NI_PUSH_LOG_INFO, "connected to %s%s", p->host,
               ni_imap_is_tls(c) ? " (TLS)" : " (no TLS)");
  if (ni_imap_is_authenticated(c)) {
    on_login(c, 0, NULL, p);
    return;
  }
  ni__push_set_state(p, NI_PUSH_AUTHENTICATING, 0, "");
  if (p->freed || p->c != c) return; /* the callback freed or stopped the session */
  if (p->auth != NI_PUSH_AUTH_PASSWORD) {
    ask_token(p);
    return;
  }
  char *pw = ni__secret_reveal(&p->password);
  int rc = pw ? ni_imap_login(c, p->user, pw, on_login, p) : -ENOMEM;
  ni__secret_free_plain(&p->password, pw);
  setup_failed(p, rc, NULL, "login");
}
