/*
 * push_client: the smallest useful mail client built on libnatidle.
 *
 * It keeps one IMAP account in IDLE, prints a line for every new message and
 * lets the library decide when to send keepalives.  Build it against the
 * installed library:
 *
 *     cc push_client.c $(pkg-config --cflags --libs natidle) -o push_client
 *
 * Run it with the password in the environment (never on the command line):
 *
 *     NATIDLE_PASSWORD=... ./push_client imap.example.org alice [NAT_TIMEOUT_S]
 *
 * The optional NAT timeout (e.g. measured with "natidle probe") lets the
 * scheduler keep every silence just below it; without it the scheduler
 * learns the timeout by itself.  Ctrl-C stops it.  The connection is IMAPS
 * with the certificate verified: the zero value of ni_push_opts is the safe
 * one.  A wrong password ends it (the library does not retry a refused
 * login: servers lock accounts for that).
 *
 * It builds as strict ISO C11 (-std=c11 -pedantic): natidle/push.h needs
 * nothing else, and the POSIX declarations <uv.h> needs are asked for by
 * name below.
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include <natidle/push.h>

static void on_message(ni_push *p, const ni_push_msg *m, void *ud) {
  (void)p;
  (void)ud;
  printf("new mail %u from %s: %s%s\n", (unsigned)m->uid, m->from, m->subject,
         m->late ? " (late: found after a reconnect)" : "");
  fflush(stdout);
}

static void on_state(ni_push *p, ni_push_state s, int err, const char *detail, void *ud) {
  uv_signal_t *sig = ud;
  (void)p;
  fprintf(stderr, "[%s] %s\n", ni_push_state_name(s),
          *detail ? detail
          : err   ? ni_strerror(err)
                  : "");
  /* A permanent error (wrong password, untrusted certificate...): the
   * session has stopped for good; let the loop end. */
  if (s == NI_PUSH_FAILED && !uv_is_closing((uv_handle_t *)sig)) uv_close((uv_handle_t *)sig, NULL);
}

static void on_keepalive(ni_push *p, const ni_push_ka_event *ev, void *ud) {
  (void)p;
  (void)ud;
  if (ev->kind == NI_PUSH_KA_ANSWERED)
    fprintf(stderr, "keepalive after %.0f s of silence, answered in %u ms\n",
            (double)ev->interval_ms / 1000.0, (unsigned)ev->rtt_ms);
  else if (ev->kind == NI_PUSH_KA_UNANSWERED)
    fprintf(stderr, "keepalive unanswered: reconnecting\n");
}

static void on_sigint(uv_signal_t *h, int signum) {
  ni_push *p = h->data;
  (void)signum;
  ni_push_stop(p, 1);               /* LOGOUT, then the session goes quiet */
  uv_close((uv_handle_t *)h, NULL); /* the loop ends once the session is stopped */
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: NATIDLE_PASSWORD=... %s HOST USER [NAT_TIMEOUT_S]\n", argv[0]);
    return 2;
  }
  const char *password = getenv("NATIDLE_PASSWORD");
  if (!password) {
    fprintf(stderr, "set NATIDLE_PASSWORD\n");
    return 2;
  }

  /* What the scheduler knows about the NAT. */
  ni_ka_config ka;
  ni_ka_config_default(&ka);
  if (argc > 3) {
    ka.nat_lower_ms = ka.nat_upper_ms = (ni_ms)(atof(argv[3]) * 1000.0);
    ka.adaptive = 0;
  }

  ni_push_opts o = {0}; /* IMAPS, certificate verified, INBOX */
  o.host = argv[1];
  o.user = argv[2];
  o.password = password; /* copied; the library wipes its copy on free */
  o.ka = &ka;

  uv_loop_t *loop = uv_default_loop();
  uv_signal_t sig;
  uv_signal_init(loop, &sig);

  ni_push_cb cb = {0};
  cb.on_message = on_message;
  cb.on_state = on_state;
  cb.on_keepalive = on_keepalive;
  ni_push *p;
  int rc = ni_push_new(loop, &o, &cb, &sig, &p);
  if (rc < 0) {
    fprintf(stderr, "ni_push_new: %s\n", ni_strerror(rc));
    return 1;
  }
  sig.data = p;
  uv_signal_start(&sig, on_sigint, SIGINT);

  ni_push_start(p);
  uv_run(loop, UV_RUN_DEFAULT);

  ni_push_stats st;
  ni_push_get_stats(p, &st);
  printf("%llu messages, %llu keepalives, %llu reconnects\n", (unsigned long long)st.messages,
         (unsigned long long)st.keepalives, (unsigned long long)st.reconnects);
  int failed = ni_push_get_state(p) == NI_PUSH_FAILED;
  ni_push_free(p);
  uv_run(loop, UV_RUN_DEFAULT); /* lets the session's handles close */
  uv_loop_close(loop);
  return failed ? 1 : 0;
}
