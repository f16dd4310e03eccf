/*
 * keepalive/ka_internal.h - what the scheduler's files share and nothing
 * outside keepalive/ should use: the learning step (learn.c), the firing of
 * a keepalive (sched.c) used by the group (coalesce.c).
 */
#ifndef NATIDLE_KA_INTERNAL_H
#define NATIDLE_KA_INTERNAL_H

#include "natidle/keepalive.h"

/* a + b, stopping at NI_TIME_NEVER: a caller's clock may start anywhere,
 * and a deadline that wrapped around would fire at once. */
static inline ni_ms ni__ka_add(ni_ms a, ni_ms b) {
  return a > NI_TIME_NEVER - b ? NI_TIME_NEVER : a + b;
}

/* Session states (ni_ka.state). */
enum { NI__KA_DISCONNECTED = 0, NI__KA_CONNECTED = 1, NI__KA_STOPPED = 2 };

/* The reply timeout of a keepalive that leaves after `silence` ms (see
 * "Deadlines and late answers" in keepalive.h), and the verdict timeout
 * that goes with a reply timeout. */
ni_ms ni__ka_reply_timeout_for(const ni_ka *s, ni_ms silence);
ni_ms ni__ka_verdict_timeout(const ni_ka *s, ni_ms reply_timeout);

/* The longest silence allowed by the server's logout rule (ms). */
ni_ms ni__ka_reidle_limit(const ni_ka *s);

/* The longest interval the scheduler will use: the re-IDLE limit, or
 * max_interval_ms when smaller. */
ni_ms ni__ka_cap(const ni_ka *s);

/* The bracket width under which learning stops (ms). */
ni_ms ni__ka_resolution(const ni_ka *s);

/* The floor of any steady cadence: min(min_interval_ms, NI_KA_FLOOR_MS). */
ni_ms ni__ka_floor(const ni_ka *s);

/* The loss of the outstanding keepalive (at its silence) is excused rather
 * than held against the NAT: it left less than reply_max_ms below a lower
 * bound the caller gave, before any keepalive was answered, so a radio
 * slower to wake than the margin may have held it back until the NAT had
 * forgotten the mapping.  One loss per ni_ka_init() at most (see
 * keepalive.h). */
int ni__ka_excusable(const ni_ka *s);

/* The NAT survived `silence` ms / did not survive it; `now` is the time the
 * evidence arrived.  Both keep the bracket consistent.  `ambiguous`: the
 * loss may well not be the NAT's doing (a message in a keepalive's answer
 * that the rule of NI_KA_EV_PUSH_IN_NOOP counts as evidence): it is
 * believed only when it confirms an earlier one, at any silence.  A
 * keepalive that went unanswered is believed at once above the lower
 * bound and needs confirmation at or below it. */
void ni__ka_learn_alive(ni_ka *s, ni_ms silence);
void ni__ka_learn_dead(ni_ka *s, ni_ms silence, ni_ms now, int ambiguous);

/* What a message seen first in a keepalive's answer says, by the rule of
 * NI_KA_EV_PUSH_IN_NOOP: its age (0 = unknown) against the silence before
 * that keepalive.  Also learns the push delay it reveals. */
enum { NI__KA_MAIL_LATE = 0, NI__KA_MAIL_AMBIGUOUS = 1, NI__KA_MAIL_LOST = 2 };
int ni__ka_judge_mail(ni_ka *s, ni_ms age, ni_ms silence);

/* One push delay sample (ms).  Returns 1, or 0 if it was discarded as no
 * push delay at all (longer than the re-IDLE limit). */
int ni__ka_push_sample(ni_ka *s, ni_ms delay);

/* Choose the next interval (steady cadence or learning probe) from the
 * bracket, at `now`. */
void ni__ka_choose_interval(ni_ka *s, ni_ms now);

/* The next keepalive's due time while connected and idle of keepalives. */
ni_ms ni__ka_next_due(const ni_ka *s);

/* Send the keepalive now: record it as outstanding, with its deadlines,
 * and return its action.  A keepalive that verifies the connection after a
 * sleep (ni_ka.verify) gets the generous deadline and teaches nothing. */
ni_ka_action ni__ka_fire(ni_ka *s, ni_ms now);

/* Move s to its current place in its group's heaps (nothing when it is in
 * no group).  Every public call that changes a session's state ends here. */
void ni__ka_group_sync(ni_ka *s);

/* 1 if s is really linked in the group it names (s->group), 0 if s->group
 * is stale or garbage: ni_ka_init() may get either. */
int ni__ka_in_group(const ni_ka *s);

/* 0 if the group's heaps are consistent (links, counts, order, and every
 * key equal to what its session gives now), else -1.  For the tests. */
int ni__ka_group_check(const ni_ka_group *g);

/* Next value of the session's xorshift64 generator. */
uint64_t ni__ka_random(ni_ka *s);

/* The state file's parser without the file: validate the image
 * in[0..len) and write its canonical form (what ni_ka_state_save would
 * write for the same table) to out, which must hold NI__KA_STATE_FILE_MAX
 * bytes.  Returns 0, -EBADMSG, NI_EUSAGE or -ENOMEM.  For the fuzzer. */
#define NI__KA_STATE_FILE_MAX 65536
int ni__ka_state_canon(const char *in, size_t len, char *out, size_t cap, size_t *outlen);

#endif /* NATIDLE_KA_INTERNAL_H */
