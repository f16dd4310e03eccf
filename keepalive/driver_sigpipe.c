/*
 * SIGPIPE in the push driver's thread (see natidle/push.h, "SIGPIPE").
 *
 * libuv writes to sockets with write(2), which raises SIGPIPE on a
 * connection the peer has reset, and whose default action ends the
 * process.  MSG_NOSIGNAL cannot be passed through uv_write(), and Linux has
 * no SO_NOSIGPIPE.  A library must not change the process's disposition
 * (the application and its other threads may rely on it), so the driver
 * blocks the signal in its own thread only: a SIGPIPE raised by a write of
 * that thread while it is blocked stays pending on the thread, and the
 * write fails with EPIPE, which the connection reports as an error.
 *
 * The block lasts as long as sessions run, not just around the driver's
 * own writes: libuv also writes from inside uv_run() (queued data when the
 * socket becomes writable, in its pending and poll phases), where the
 * driver has no hook.  When the last hold of the thread is released, the
 * SIGPIPEs raised meanwhile are taken off the pending set with
 * sigtimedwait() and the old mask comes back, so the application never
 * receives them.  (Unblocking with one still pending would deliver it at
 * once.)
 */
#include <errno.h>
#include <signal.h>
#include <time.h>

#include "keepalive/driver_internal.h"

/* Holds taken by the running sessions of this thread, and whether the
 * first one blocked SIGPIPE (it was not blocked before). */
static _Thread_local unsigned t_holds;
static _Thread_local int t_blocked;

void ni__sigpipe_hold(void) {
  if (t_holds++ > 0) return;
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  /* A thread that blocks SIGPIPE already has made its choice: leave it. */
  t_blocked = pthread_sigmask(SIG_BLOCK, &set, &old) == 0 && !sigismember(&old, SIGPIPE);
}

void ni__sigpipe_release(void) {
  if (t_holds == 0 || --t_holds > 0 || !t_blocked) return;
  t_blocked = 0;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  /* Every SIGPIPE pending now was raised while we blocked it: consume it
   * (standard signals do not queue, but a second one may be raised by
   * another thread's kill() between two calls, hence the loop). */
  const struct timespec zero = {0, 0};
  for (;;) {
    int s = sigtimedwait(&set, NULL, &zero);
    if (s == SIGPIPE || (s < 0 && errno == EINTR)) continue;
    break;
  }
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}
