/*
 * ni__probe_run: one probe run (or --cleanup) on a fresh libuv loop.  Opens
 * the output files, reads a resumed run, opens the capture and drops
 * privileges, connects the control connection, and from there the phases
 * follow each other through callbacks (probe/internal.h lists the files):
 * mailboxes, calibration, the search, then the shutdown, which ends IDLE,
 * logs out, removes the probe mailboxes and reports the results.
 *
 * Where to check is decided by probe/search.h; the engine only measures.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe/internal.h"

/* ---- the end of the search ------------------------------------------------ */

void ni__stop_searches(ni__probe *p) {
  ni__search_stop(p->search.in);
  ni__search_stop(p->search.out);
}

/* The run is over when every direction asked for has a verdict.  With
 * --direction both, an outbound search still open above the inbound
 * bracket goes on with outbound checks. */
void ni__maybe_finish(ni__probe *p) {
  if (p->phase != PH_RUN) return;
  if (p->search.in && ni__search_verdict(p->search.in) == NI_VERDICT_RUNNING) return;
  if (p->search.out && ni__search_verdict(p->search.out) == NI_VERDICT_RUNNING) {
    if (p->search.cur != NI_PDIR_OUTBOUND) {
      p->search.cur = NI_PDIR_OUTBOUND;
      ni__note(p, 0, "inbound done; going on with outbound checks");
      ni__retarget_all(p);
    }
    return;
  }
  ni__begin_shutdown(p);
}

/* After a result, targets move and the run may be over.  Done from the
 * loop rather than inside the callback that produced the result, so no
 * session changes state under the feet of the code that handles it. */
static void kick_cb(uv_timer_t *t) {
  ni__probe *p = t->data;
  if (p->phase == PH_CALIBRATE) ni__calibrate_step(p);
  ni__retarget_all(p);
  ni__maybe_finish(p);
}

void ni__kick(ni__probe *p) {
  if (!uv_is_closing((uv_handle_t *)&p->h.kick)) uv_timer_start(&p->h.kick, kick_cb, 0, 0);
}

/* ---- shutdown -------------------------------------------------------------- */

static void close_handle(uv_handle_t *h) {
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* Report the results and close everything; the loop then runs dry. */
void ni__finish(ni__probe *p) {
  if (p->end.finished) return;
  p->end.finished = 1;
  uv_timer_stop(&p->h.stop);
  if (!p->end.fatal) ni__results(p, (double)(ni_imap_now() - p->t0) / 1000.0);
  for (unsigned i = 0; i < p->k; i++) {
    ni__sess_drop_conn(&p->ss[i]);
    close_handle((uv_handle_t *)&p->ss[i].timer);
  }
  if (p->ctl.c) {
    ni_imap_free(p->ctl.c);
    p->ctl.c = NULL;
  }
  ni__janitor_close(p);
  close_handle((uv_handle_t *)&p->ctl.timer);
  if (p->cap.polling) close_handle((uv_handle_t *)&p->cap.poll);
  close_handle((uv_handle_t *)&p->h.wall);
  close_handle((uv_handle_t *)&p->h.tick);
  close_handle((uv_handle_t *)&p->h.stop);
  close_handle((uv_handle_t *)&p->h.kick);
  close_handle((uv_handle_t *)&p->h.sigint);
  close_handle((uv_handle_t *)&p->h.sigterm);
}

/* Shutdown took too long (or a second signal came): drop whatever is left. */
static void stop_now(ni__probe *p) {
  if (p->phase == PH_CLEANUP && p->id.prefix[0])
    ni__note(p, 0,
             "shutdown timed out before the probe mailboxes %s were removed: run "
             "'natidle probe --cleanup'",
             p->id.prefix);
  else
    ni__note(p, 0, "shutdown timed out");
  for (unsigned i = 0; i < p->k; i++)
    if (p->ss[i].c) {
      ni__sess_drop_conn(&p->ss[i]);
      p->ss[i].state = SS_OFF;
    }
  if (p->ctl.c) {
    ni_imap_free(p->ctl.c);
    p->ctl.c = NULL;
    p->ctl.state = CT_OFF;
  }
  p->jan.done = NULL;
  p->jan.working = 0;
  ni__janitor_close(p);
  p->phase = PH_DONE;
  ni__finish(p);
}

static void stop_timer_cb(uv_timer_t *t) {
  stop_now(t->data);
}

/* Called whenever something shutting down finished; moves to the next
 * stage when nothing is left in the current one. */
void ni__shutdown_step(ni__probe *p) {
  if (p->phase == PH_DONE) {
    ni__finish(p);
    return;
  }
  if (p->phase != PH_SHUTDOWN) return; /* PH_CLEANUP: the janitor calls back when it is done */
  for (unsigned i = 0; i < p->k; i++)
    if (p->ss[i].c) return;
  int wrote = !p->o->read_only && (p->o->direction & NI_PDIR_INBOUND) && p->id.prefix[0];
  if (wrote && p->ctl.state == CT_READY) {
    p->phase = PH_CLEANUP;
    uv_timer_start(&p->h.stop, stop_timer_cb, SHUTDOWN_MS, 0);
    ni__cleanup_run_mailboxes(p);
  } else if (wrote && p->ctl.state == CT_SETUP) {
    /* The control connection is coming back: ctl_ready() calls again. */
  } else if (wrote && !p->end.cleanup_retry) {
    /* Our mailboxes must not stay behind: one more connection for them. */
    p->end.cleanup_retry = 1;
    ni__ctl_connect(p);
  } else {
    if (wrote && !p->end.fatal)
      ni__note(p, 0, "could not remove the probe mailboxes %s: run 'natidle probe --cleanup'",
               p->id.prefix);
    p->phase = PH_CLEANUP;
    ni__cleanup_done(p);
  }
}

/* Once the search is over, a session silent longer than the longest
 * silence seen alive (or with a check in flight) may have lost its
 * mapping.  An interrupted run still ends every session's IDLE: its checks
 * in flight are observations that --resume goes on from. */
static int may_be_dead(const ni__probe *p, const ni__sess *s) {
  double lo = 0, up = INFINITY;
  if (p->end.interrupted || !p->search.in || p->o->direction != NI_PDIR_INBOUND) return 0;
  if (s->state == SS_CHECK) return 1;
  ni__search_bracket(p->search.in, &lo, &up);
  return lo > 0 && (double)ni__silence_of(s, ni_imap_now()) / 1000.0 >= lo;
}

void ni__begin_shutdown(ni__probe *p) {
  if (p->phase >= PH_SHUTDOWN) return;
  ni__stop_searches(p);
  int started = p->phase > PH_CONNECT;
  p->phase = PH_SHUTDOWN;
  uv_timer_stop(&p->h.wall);
  uv_timer_start(&p->h.stop, stop_timer_cb, SHUTDOWN_MS, 0);
  for (unsigned i = 0; i < p->k; i++) {
    ni__sess *s = &p->ss[i];
    ni__timer_clear(s);
    s->armed = NULL;
    if (!s->c) {
      s->state = SS_OFF;
      continue;
    }
    switch (s->state) {
    case SS_SILENT:
    case SS_CHECK:
      if (may_be_dead(p, s)) {
        /* Its mapping may be gone: a DONE would wait out the done timer
         * for an answer that never comes (seconds at a long round trip),
         * and the search needs nothing more from it. */
        ni__sess_drop_conn(s);
        s->state = SS_OFF;
        break;
      }
      /* A check in flight: the push was not seen, the mapping may be dead
       * and DONE never answered; the done timer bounds the wait. */
      ni__sess_check_done_now(s);
      break;
    case SS_DONE:
    case SS_REIDLE:
    case SS_LOGOUT:
      ni__timer_set(s, TK_DONE, ni_imap_now() + DONE_WAIT_MS(p));
      break;
    default:
      ni__sess_drop_conn(s);
      s->state = SS_OFF;
      break;
    }
  }
  if (!started && !p->ctl.c) {
    p->phase = PH_DONE;
    ni__finish(p);
    return;
  }
  ni__shutdown_step(p);
}

/* ---- signals and timers ---------------------------------------------------- */

static void on_signal(uv_signal_t *h, int signum) {
  ni__probe *p = h->data;
  p->end.signals++;
  if (p->end.signals == 1) {
    p->end.interrupted = 1;
    ni__note(p, 0, "interrupted: ending IDLE, logging out, removing the probe mailboxes");
    ni__begin_shutdown(p);
  } else {
    stop_now(p);
  }
}

static void wall_cb(uv_timer_t *t) {
  ni__probe *p = t->data;
  ni__note(p, 0, "time limit reached: stopping");
  ni__begin_shutdown(p);
}

static void tick_cb(uv_timer_t *t) {
  ni__status(t->data);
}

static void timer_init(ni__probe *p, uv_timer_t *t) {
  uv_timer_init(&p->loop, t);
  t->data = p;
}

static void signal_init(ni__probe *p, uv_signal_t *h, int signum) {
  uv_signal_init(&p->loop, h);
  h->data = p;
  uv_signal_start(h, on_signal, signum);
}

/* ---- setup ----------------------------------------------------------------- */

static void make_run_id(char *buf, size_t len) {
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  char ts[32];
  strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
  unsigned char r[2] = {0, 0};
  if (uv_random(NULL, NULL, r, sizeof r, 0, NULL) != 0) {
    r[0] = (unsigned char)(uv_hrtime() >> 8);
    r[1] = (unsigned char)uv_hrtime();
  }
  snprintf(buf, len, "%s-%02x%02x", ts, r[0], r[1]);
}

/* Open the CSV files and read a resumed run.  Returns 0, NI_EMISMATCH for
 * a file of another kind or another server, NI_EUSAGE for one that cannot
 * be used at all. */
static int open_files(ni__probe *p) {
  const ni_probe_opts *o = p->o;
  int err = 0;
  /* Opening first repairs a row cut short by a killed run, so that the
   * resume reader sees only whole rows. */
  p->csv = ni_csv_writer_open(o->csv_path, ni_obs_columns, NI_OBS_NCOLS, &err);
  if (!p->csv) {
    ni__error(p, "cannot open %s: %s", o->csv_path,
              err == NI_EMISMATCH ? "it is not an observations file" : ni_strerror(err));
    return err == NI_EMISMATCH ? NI_EMISMATCH : NI_EUSAGE;
  }
  /* The summary is written at the end, possibly hours from now: find out
   * now whether it can be (a directory that is not there, a file of
   * another layout), not when the measurement is done. */
  if (o->summary_path) {
    ni_csv_writer *sw =
        ni_csv_writer_open(o->summary_path, ni_summary_columns, NI_SUMMARY_NCOLS, &err);
    if (!sw) {
      ni__error(p, "cannot open %s: %s", o->summary_path,
                err == NI_EMISMATCH ? ni__summary_mismatch(o->summary_path) : ni_strerror(err));
      return err == NI_EMISMATCH ? NI_EMISMATCH : NI_EUSAGE;
    }
    ni_csv_writer_close(sw);
  }
  if (o->resume) {
    char why[512];
    int rc = ni__resume_load(o->csv_path, o->server, p->id.port, p->id.tls_name, &p->resume, why,
                             sizeof why);
    if (rc != 0) {
      ni__error(p, "cannot resume: %s", why);
      return rc == NI_EMISMATCH ? NI_EMISMATCH : NI_EUSAGE;
    }
  }
  return 0;
}

/* The loop and every handle of the run.  Returns 0 or -ENOMEM. */
static int make_loop(ni__probe *p) {
  p->ss = calloc(p->k ? p->k : 1, sizeof *p->ss);
  if (!p->ss || uv_loop_init(&p->loop) != 0) return -ENOMEM;
  for (unsigned i = 0; i < p->k; i++) {
    ni__sess *s = &p->ss[i];
    s->p = p;
    s->slot = i;
    s->num = p->resume.max_session + i + 1;
    uv_timer_init(&p->loop, &s->timer);
    s->timer.data = s;
  }
  timer_init(p, &p->ctl.timer);
  timer_init(p, &p->h.wall);
  timer_init(p, &p->h.tick);
  timer_init(p, &p->h.stop);
  timer_init(p, &p->h.kick);
  signal_init(p, &p->h.sigint, SIGINT);
  signal_init(p, &p->h.sigterm, SIGTERM);
  uv_timer_start(&p->h.wall, wall_cb,
                 (uint64_t)llround(p->o->max_s * 1000.0 * WALL_FACTOR) + WALL_EXTRA_MS, 0);
  if (p->hooks.status_ms)
    uv_timer_start(&p->h.tick, tick_cb, p->hooks.status_ms, p->hooks.status_ms);
  return 0;
}

/* How a run that did not fail ended. */
static ni_probe_end end_of(const ni__probe *p) {
  if (p->end.safety) return NI_PROBE_END_SAFETY;
  if (p->end.interrupted) return NI_PROBE_END_INTERRUPTED;
  if (p->o->cleanup) return NI_PROBE_END_CLEANED;
  if (p->end.nopush) return NI_PROBE_END_NO_PUSH;
  if (p->end.inconclusive) return NI_PROBE_END_INCONCLUSIVE;
  if (!p->search.in && !p->search.out) return NI_PROBE_END_INCONCLUSIVE;
  /* A bracket as narrow as the path allows is a result (ni__results). */
  if (!p->n.narrowest &&
      ((p->search.in && ni__search_verdict(p->search.in) == NI_VERDICT_INCONCLUSIVE) ||
       (p->search.out && ni__search_verdict(p->search.out) == NI_VERDICT_INCONCLUSIVE)))
    return NI_PROBE_END_INCONCLUSIVE;
  return NI_PROBE_END_VERDICT;
}

static void probe_free(ni__probe *p) {
  ni_csv_writer_close(p->csv);
  ni_csv_writer_close(p->summary);
  ni__search_free(p->search.in);
  ni__search_free(p->search.out);
  ni__resume_free(&p->resume);
  ni__janitor_free(&p->jan);
  free(p->ss);
  free(p);
}

int ni__probe_run(const ni_probe_opts *o, const ni_probe_hooks *h, ni_probe_end *end) {
  *end = NI_PROBE_END_VERDICT;
  ni__probe *p = calloc(1, sizeof *p);
  if (!p) {
    if (h && h->cb) {
      ni_probe_event ev = {
          .kind = NI_PROBE_EV_ERROR, .now = ni_imap_now(), .text = "out of memory"};
      h->cb(&ev, h->arg);
    }
    return -ENOMEM;
  }
  p->o = o;
  if (h) p->hooks = *h;
  p->k = o->cleanup ? 0 : o->sessions ? o->sessions : 8;
  p->id.tls_name = ni_tls_mode_name((ni_tls_mode)o->tls);
  p->id.port = o->port ? o->port : (o->tls == NI_TLS_IMAPS ? 993 : 143);
  p->id.sep = '/';
  p->t0 = ni_imap_now();
  double noop = o->noop_s > 0 ? o->noop_s : fmin(NOOP_MAX_S, fmax(NOOP_MIN_S, o->min_s / 2.0));
  p->t.noop_ms = (ni_ms)llround(noop * 1000.0);
  p->t.noop_deadline_ms = NOOP_MISSES * p->t.noop_ms > NOOP_DEADLINE_SETUP_MS
                              ? NOOP_MISSES * p->t.noop_ms
                              : NOOP_DEADLINE_SETUP_MS;
  p->t.detect_ms = DETECT_DEFAULT_MS;

  int rc = o->cleanup ? 0 : open_files(p);
  if (rc != 0) {
    probe_free(p);
    return rc;
  }
  if (p->resume.run_id[0])
    snprintf(p->id.run_id, sizeof p->id.run_id, "%s", p->resume.run_id);
  else
    make_run_id(p->id.run_id, sizeof p->id.run_id);
  if ((rc = make_loop(p)) != 0) {
    ni__error(p, "out of memory");
    probe_free(p);
    return rc;
  }

  rc = o->cleanup ? 0 : ni__capture_open(p);
  if (rc != 0) {
    p->end.fatal = rc;
    p->phase = PH_DONE;
    ni__finish(p);
  } else {
    if (!o->cleanup)
      ni__note(p, 1, "run %s: %u sessions against %s port %u (%s)", p->id.run_id, p->k, o->server,
               p->id.port, p->id.tls_name);
    /* After login, the control connection asks for the personal
     * namespace; the mailboxes (or the cleanup) start from its answer. */
    p->phase = PH_CONNECT;
    ni__ctl_connect(p);
  }
  uv_run(&p->loop, UV_RUN_DEFAULT);
  /* Handles closed in ni__finish(); run until the connections' own
   * handles are gone too. */
  uv_run(&p->loop, UV_RUN_DEFAULT);
  rc = p->end.fatal;
  *end = end_of(p);
  int success = *end == NI_PROBE_END_VERDICT || *end == NI_PROBE_END_CLEANED;
  if (uv_loop_close(&p->loop) != 0 && rc == 0 && success)
    rc = -EBUSY; /* a handle left open: a bug, not a measurement */
  ni__capture_close(p);
  probe_free(p);
  return rc;
}
