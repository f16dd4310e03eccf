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
 * learns the timeout by itself.  Ctrl-C stops it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <natidle/push.h>

static void on_message(ni_push *p, const ni_push_msg *m, void *ud) {
  (void)p;
  (void)ud;
  printf("new mail %u from %s: %s%s\n", (unsigned)m->uid, m->from, m->subject,
         m->late ? " (late: found after a reconnect)" : "");
  fflush(stdout);
}

static void on_state(ni_push *p, ni_push_state s, int err, const char *detail, void *ud) {
  (void)p;
  (void)ud;
  fprintf(stderr, "[%s] %s\n", ni_push_state_name(s), *detail ? detail : err ? ni_strerror(err) : "");
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
  ni_push_stop(p, 1);            /* LOGOUT, then the session goes quiet */
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

  ni_push_opts o = {0};
  o.host = argv[1];
  o.user = argv[2];
  o.password = password; /* copied; the library wipes its copy on free */
  o.tls = NI_TLS_IMAPS;
  o.ka = &ka;

  ni_push_cb cb = {on_message, on_state, on_keepalive};
  uv_loop_t *loop = uv_default_loop();
  ni_push *p;
  int rc = ni_push_new(loop, &o, &cb, NULL, &p);
  if (rc < 0) {
    fprintf(stderr, "ni_push_new: %s\n", ni_strerror(rc));
    return 1;
  }

  uv_signal_t sig;
  uv_signal_init(loop, &sig);
  sig.data = p;
  uv_signal_start(&sig, on_sigint, SIGINT);

  ni_push_start(p);
  uv_run(loop, UV_RUN_DEFAULT);

  ni_push_stats st;
  ni_push_get_stats(p, &st);
  printf("%llu messages, %llu keepalives, %llu reconnects\n", (unsigned long long)st.messages,
         (unsigned long long)st.keepalives, (unsigned long long)st.reconnects);
  ni_push_free(p);
  uv_run(loop, UV_RUN_DEFAULT); /* lets the session's handles close */
  uv_loop_close(loop);
  return 0;
}
