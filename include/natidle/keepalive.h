/*
 * natidle/keepalive.h - the keepalive scheduler of libnatidle.
 *
 * The scheduler decides when a push session (an IMAP connection sitting in
 * IDLE) must send a keepalive so that the carrier NAT in front of it never
 * forgets the connection, while sending as few keepalives as possible: every
 * keepalive wakes the phone's radio.
 *
 * It does no I/O and reads no clock.  The caller tells it what happened and
 * when, asks when it must be called again, and is told what to send:
 *
 *     ni_ka ka;
 *     ni_ka_config cfg;
 *     ni_ka_config_default(&cfg);
 *     ni_ka_init(&ka, &cfg);
 *     ... ni_ka_on_event(&ka, &(ni_ka_event){.type = NI_KA_EV_CONNECTED}, now);
 *     timer = ni_ka_get_expiry(&ka);               // arm one timer
 *     ... when it fires:
 *     switch (ni_ka_handle_expiry(&ka, now)) {
 *     case NI_KA_NOOP:   send "tag NOOP"; break;
 *     case NI_KA_REIDLE: send "DONE", then "tag IDLE"; break;
 *     case NI_KA_DEAD:   close the connection, reconnect; break;
 *     case NI_KA_NONE:   break;
 *     }
 *     timer = ni_ka_get_expiry(&ka);               // re-arm after every call
 *
 * Memory follows libuv: the caller allocates ni_ka (and ni_ka_group) and
 * initialises it with _init; nothing here allocates, so there is no _close.
 * The struct fields are visible only so the caller can allocate the struct;
 * they are private: use the functions.
 *
 * Time is ni_ms, milliseconds on any monotonic clock of the caller's choice,
 * as long as every call uses the same clock.  A `now` that goes backwards is
 * treated as the latest time seen.  "Silence" is the time since the last byte
 * in either direction on the connection: a NAT forgets a mapping after its
 * idle timeout of silence, and any byte resets it.
 *
 * How the cadence is chosen:
 *  - A known bracket (the NAT kept a mapping through lower_ms of silence and
 *    lost one after upper_ms) gives a cadence of lower_ms - margin, where the
 *    margin is max(margin_min_ms, margin_permille of lower_ms, smoothed RTT):
 *    2 s for the NAT's timer granularity and the caller's timer slop, 5 %
 *    because deferred alarms and clock drift grow with the interval, and one
 *    RTT because the NAT's silence began when the server's last packet
 *    crossed it, before the client saw that packet.
 *  - With nothing known (or a bracket wider than the resolution, lower/16)
 *    and `adaptive` set, the scheduler learns: it starts at start_ms, grows
 *    the interval by half while keepalives are answered, and bisects the
 *    bracket on a failure, so it settles in O(log) failures.  Once settled
 *    it keeps the cadence just below the learned lower bound and re-probes
 *    upward by a small step once every reprobe_ms (about a day), never soon
 *    after a failure.  Learning probes are sent at the probed silence
 *    itself, without margin; only the steady cadence carries the margin.
 *  - Never more than autologout_ms - 1 min of silence (RFC 2177: re-IDLE at
 *    least every 29 min when the server logs out after 30), and inside IDLE a
 *    re-IDLE at least that often even when traffic keeps the NAT busy.
 *  - Every keepalive has a reply deadline of max(reply_min_ms, 4 x smoothed
 *    RTT), capped at reply_max_ms (reply_max_ms before the first RTT sample):
 *    an unanswered keepalive is reported as NI_KA_DEAD within seconds, not
 *    after TCP's retransmission timeout of many minutes.  The 3-s floor
 *    covers a phone radio's wake-up from idle (1-2 s on 3G/LTE); the 15-s
 *    cap keeps a path that became slow from hiding a dead connection.
 *  - For the lower bound the caller gave (nat_lower_ms), or a longer one
 *    learned since, the margin wins over min_interval_ms: the cadence is
 *    lower - margin even below min_interval_ms (a NAT known to forget after
 *    8 s gets 6 s), down to the floor, min(min_interval_ms, NI_KA_FLOOR_MS).
 *    A lower bound learned by the scheduler alone, or re-learned below the
 *    one given after failures, keeps min_interval_ms as its floor, as a
 *    guard against noise.  Whenever a floor lifts the steady cadence above
 *    lower - margin, ni_ka_margin() says how much margin is really left (0
 *    if none) and ni_ka_warnings() has NI_KA_WARN_MARGIN set.
 *  - Not every lost keepalive is the NAT's doing: one lost at a silence that
 *    survived before is retried at the same silence before it is believed
 *    (two in a row restart learning below it).
 *  - Not every message seen first in a keepalive's answer is a push the NAT
 *    lost: servers that poll (Cyrus without idled, Courier: about once a
 *    minute) or push after a delay report new mail late, and a keepalive's
 *    answer may simply come before their push.  The scheduler learns the
 *    server's push delay (NI_KA_EV_PUSH_DELAY) and judges such mail by its
 *    age (NI_KA_EV_PUSH_IN_NOOP); even a message that passes that test is
 *    one ambiguous signal and needs a second before it is believed.  The
 *    exact rule is under "Mail in a keepalive's answer" below.
 *  - Without learning (adaptive 0), failures may lower the cadence below
 *    the bracket given, for safety, but not for good: after reprobe_ms / 8
 *    (3 h) without a failure the bracket given is back.
 *
 * Persisting what was learned: ni_ka_bracket() gives the bracket and a change
 * counter; ni_ka_state_save()/ni_ka_state_load() keep one bracket per network
 * label in a small text file written atomically.
 *
 * Several sessions of one process (several accounts) should share wakeups:
 * put them in an ni_ka_group and arm one timer for the group.
 */
#ifndef NATIDLE_KEEPALIVE_H
#define NATIDLE_KEEPALIVE_H

#include "natidle/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults of ni_ka_config_default(), in milliseconds unless noted. */
#define NI_KA_AUTOLOGOUT_MS (30u * 60u * 1000u) /* RFC 2177 / RFC 3501 30 min */
#define NI_KA_MARGIN_MIN_MS 2000u               /* RTT + timer slop + NAT tick */
#define NI_KA_MARGIN_PERMILLE 50u               /* 5 % of the interval */
#define NI_KA_MIN_INTERVAL_MS 10000u            /* never more often than 10 s */
#define NI_KA_START_MS 60000u                   /* first learning probe: 60 s */
#define NI_KA_REPLY_MIN_MS 3000u                /* reply deadline floor */
#define NI_KA_REPLY_MAX_MS 15000u               /* reply deadline cap */
#define NI_KA_REPROBE_MS (24u * 3600u * 1000u)  /* re-probe upward once a day */
/* The floor of the cadence: no keepalive more often than every 2 s, unless
 * min_interval_ms is set lower.  A phone's radio stays up about 2 s after a
 * packet, so a shorter cadence keeps it up for good: the connection is then
 * no longer idle, and no keepalive schedule can make it cheap. */
#define NI_KA_FLOOR_MS 2000u
/* Slack on the age of a message seen in a keepalive's answer (see
 * NI_KA_EV_PUSH_IN_NOOP): INTERNALDATE has whole seconds, and the server's
 * clock and the caller's may differ by about a second. */
#define NI_KA_AGE_SLACK_MS 2000u
/* Push delays needed before mail in a keepalive's answer can be judged. */
#define NI_KA_PUSH_MIN_SAMPLES 4u
/* The push delay estimate is the largest of the last 16 to 32 delays. */
#define NI_KA_PUSH_WINDOW 16u

/* What the scheduler was told and how it should behave.  Fill it with
 * ni_ka_config_default() and change what you know.  A config that did not
 * come from ni_ka_config_default() (e.g. one zeroed with memset or `= {0}`)
 * is accepted too: every field left at 0 then takes its default, `adaptive`
 * included (learning on); only in a config made by ni_ka_config_default()
 * does adaptive 0 mean "do not learn". */
typedef struct ni_ka_config {
  /* The NAT's idle timeout bracket, if measured (e.g. by natidle probe, or
   * loaded with ni_ka_state_load()): a mapping survived lower_ms of silence
   * and one died after upper_ms.  0 = unknown. */
  ni_ms nat_lower_ms;
  ni_ms nat_upper_ms;
  /* The server's inactivity logout; the cadence and the re-IDLE deadline are
   * kept one minute below it.  0 = default (30 min). */
  ni_ms autologout_ms;
  /* Safety margin below the learned lower bound.  0 = automatic:
   * max(margin_min_ms, margin_permille/1000 x lower bound, smoothed RTT). */
  ni_ms margin_ms;
  ni_ms margin_min_ms;
  unsigned margin_permille;
  /* Bounds of the interval between keepalives.  min_interval_ms bounds
   * what the scheduler picks on its own (learning probes, guesses without
   * a lower bound, a cadence from a bracket it learned) and is the
   * shortest silence at which a NAT is believed to have lost a push; a
   * cadence from a lower bound given here keeps its margin below it, down
   * to min(min_interval_ms, NI_KA_FLOOR_MS).  max_interval_ms 0 = only the
   * autologout limit applies. */
  ni_ms min_interval_ms;
  ni_ms max_interval_ms;
  /* Learning: 1 = learn the bracket online (default), 0 = keep the cadence
   * given by the bracket, never probing upward (failures still lower it
   * for a while, for safety; see the top of this file).  Without learning,
   * a bracket with only upper_ms gives half of it, and no bracket at all
   * gives start_ms.  0 means "off" only in a config made by
   * ni_ka_config_default() (see above). */
  int adaptive;
  ni_ms start_ms;   /* first interval tried when nothing is known */
  ni_ms reprobe_ms; /* time between upward re-probes once settled */
  /* Reply deadline bounds for every keepalive. */
  ni_ms reply_min_ms;
  ni_ms reply_max_ms;
  /* How far a keepalive may be pulled forward to share another session's
   * wakeup in an ni_ka_group.  0 = half of the session's interval, which
   * is also the most allowed. */
  ni_ms coalesce_ms;
  /* Seed of the scheduler's private xorshift generator (used to spread the
   * re-probes of many clients in time).  Same seed, same decisions. */
  uint64_t seed;
  /* Private: set by ni_ka_config_default(), so that ni_ka_init() can tell
   * a deliberate adaptive 0 from a field nobody set. */
  uint32_t defaulted;
} ni_ka_config;

/* What the caller must do now. */
typedef enum ni_ka_action {
  NI_KA_NONE = 0, /* nothing */
  NI_KA_NOOP,     /* outside IDLE: send "tag NOOP" */
  NI_KA_REIDLE,   /* inside IDLE: send "DONE", then "tag IDLE" (cheaper than
                     leaving IDLE for a NOOP: one round trip) */
  NI_KA_DEAD      /* the keepalive was not answered by its reply deadline:
                     the connection is dead; close it and reconnect, then
                     report NI_KA_EV_CONNECTED */
} ni_ka_action;

/* What happened on the connection. */
typedef enum ni_ka_event_type {
  NI_KA_EV_CONNECTED = 1, /* logged in and ready (mailbox selected): the
                             silence clock starts */
  NI_KA_EV_RX,            /* bytes arrived (any response, untagged or not).
                             After a silence this proves the mapping alive */
  NI_KA_EV_TX,            /* the application sent bytes of its own */
  NI_KA_EV_IDLE_ENTERED,  /* "+ idling" arrived: the session is in IDLE */
  NI_KA_EV_IDLE_LEFT,     /* the session left IDLE (DONE answered) for
                             other commands */
  NI_KA_EV_KA_SENT,       /* optional: the keepalive asked for by the last
                             handle_expiry actually left only now (e.g.
                             after a write queue); restarts its deadline */
  NI_KA_EV_KA_ANSWERED,   /* the keepalive was answered (tagged OK of the
                             NOOP, or of DONE for a re-IDLE); rtt_ms set */
  NI_KA_EV_KA_UNANSWERED, /* the caller gave up on the keepalive itself
                             (the scheduler reports NI_KA_DEAD on its own
                             deadline; use this only for other reasons) */
  NI_KA_EV_LOST,          /* the connection broke (RST, FIN, error);
                             silent_ms = its silence when it broke */
  NI_KA_EV_PUSH_IN_IDLE,  /* new mail was pushed inside IDLE (EXISTS/RECENT/
                             FETCH): push works at the current silence */
  NI_KA_EV_PUSH_IN_NOOP,  /* a new message was seen first in the answer to
                             the keepalive (outstanding, or the last one
                             answered); age_ms set.  Either a push the NAT
                             lost (it forgot the mapping and re-created it
                             for our packet) or one the server had not yet
                             sent: see "Mail in a keepalive's answer"
                             below.  Report every such message; the
                             scheduler keeps the strongest. */
  NI_KA_EV_PUSH_DELAY     /* a message was pushed inside IDLE delay_ms after
                             it reached the server, as far as the caller
                             knows (e.g. from INTERNALDATE).  Teaches the
                             server's push delay; a delay above the re-IDLE
                             limit is ignored (a message with an old date,
                             e.g. moved in from another folder).  Valid in
                             any state. */
} ni_ka_event_type;

typedef struct ni_ka_event {
  ni_ka_event_type type;
  /* KA_ANSWERED: the keepalive's round trip; 0 = let the scheduler use the
   * time since it asked for the keepalive. */
  ni_ms rtt_ms;
  /* LOST: how long the connection had been silent when it broke, if the
   * caller knows it died on its own (e.g. a RST while nothing was sent);
   * 0 = unknown, and then the loss says nothing about the NAT. */
  ni_ms silent_ms;
  /* PUSH_IN_NOOP: how long before the keepalive left the message reached
   * the server (ms); 0 = unknown.  A message that reached it after the
   * keepalive left proves nothing and needs no event. */
  ni_ms age_ms;
  /* PUSH_DELAY: from the message's arrival on the server to its push (ms). */
  ni_ms delay_ms;
} ni_ka_event;

/*
 * Mail in a keepalive's answer (NI_KA_EV_PUSH_IN_NOOP).  Servers that poll
 * (Cyrus without idled, Courier: about once a minute) or push after a delay
 * report new mail late, so a message seen first in a keepalive's answer
 * may be a push the server had not yet sent.  With
 *
 *     a = age_ms, s = the silence before that keepalive,
 *     D = the server's push delay (ni_ka_push_delay()),
 *     r = 2 x smoothed RTT (reply_max_ms before the first sample),
 *     threshold = D + max(NI_KA_AGE_SLACK_MS, D / 4) + r,   all in ms:
 *
 *  - The message is evidence that the NAT lost its push when D is known
 *    (NI_KA_PUSH_MIN_SAMPLES delays reported), a > threshold (later than
 *    any push the server is seen to send, or than a push crossing the
 *    keepalive on the wire), and s + D - a >= min_interval_ms (the push
 *    was due inside the silence, after a silence long enough for a NAT to
 *    matter).  It is one ambiguous signal: the same silence is tried again
 *    (like a keepalive lost below the lower bound, but at any silence) and
 *    only a second failure before a success at that silence is believed.
 *    Once one is believed, the NAT is known to re-create a forgotten
 *    mapping for the keepalive (it was answered, the push was lost): from
 *    then on an answered keepalive no longer counts as a silence survived;
 *    only bytes from the server after a silence do.
 *  - Of unknown age (a = 0), or while D is not known, it is ambiguous and
 *    never evidence by itself: that keepalive does not count as a silence
 *    survived, nor as one the NAT killed.
 *  - Otherwise it is a late push, and the keepalive counts as survived.
 * When a > s, the push was not sent before the silence began, while the
 * mapping was alive: the server's delay is at least a - s, and that is
 * learned too.
 */

/* Counters, for reports and the benchmark. */
typedef struct ni_ka_stats {
  uint64_t keepalives; /* NOOP + REIDLE asked for */
  uint64_t answered;   /* keepalives answered */
  uint64_t dead;       /* keepalives that missed their deadline or were
                          reported unanswered */
  uint64_t lost;       /* NI_KA_EV_LOST events */
  uint64_t probes;     /* keepalives that were learning probes */
  uint64_t failures;   /* silences the NAT did not survive (dead, a
                          telling loss, a message in a keepalive's answer
                          that is evidence by the rule above), believed
                          or not yet */
  uint64_t pulled;     /* keepalives sent early to share a group wakeup */
} ni_ka_stats;

struct ni_ka_group;

/* Private: a session's place in one of its group's binary min-heaps (see
 * ni_ka_group).  Linked through the sessions themselves, so that a group
 * allocates nothing. */
typedef struct ni__ka_node {
  struct ni__ka_node *left, *right, *parent;
  ni_ms key;
  int in_heap;
} ni__ka_node;

/* Private: a binary min-heap of ni__ka_node by key. */
typedef struct ni__ka_heap {
  ni__ka_node *root;
  size_t n;
} ni__ka_heap;

/* One push session's scheduler.  Caller-allocated; fields are private. */
typedef struct ni_ka {
  ni_ka_config cfg;
  int state;       /* private: disconnected / connected */
  int in_idle;     /* the session sits in IDLE */
  int outstanding; /* keepalive awaiting its answer: its ni_ka_action */
  int out_probe;   /* ...and it was a learning probe */
  int out_taint;   /* ...and what mail in its answer said (0 nothing,
                      1 ambiguous, 2 evidence) */
  int out_void;    /* ...and it left before a reconfiguration: it teaches
                      nothing about the new network */
  int prev_taint;  /* the same for the last answered keepalive */
  int probing;     /* the current interval is a learning probe */
  int floor_hit;   /* the steady cadence was raised to the floor */
  int recreates;   /* the NAT re-creates forgotten mappings: answers do
                      not prove a silence was survived */
  int have_rtt;
  ni_ms now;           /* latest time seen */
  ni_ms last_activity; /* last byte either way */
  ni_ms idle_since;    /* IDLE (re)entered */
  ni_ms out_sent_at;   /* outstanding keepalive left */
  ni_ms out_deadline;  /* ...and must be answered by */
  ni_ms out_silence;   /* silence when it left */
  ni_ms prev_silence;  /* silence of the last answered keepalive */
  ni_ms prev_lower;    /* bracket and strike before that answer, to undo */
  ni_ms prev_upper;    /* its success if mail in it says so */
  ni_ms prev_strike;
  int prev_valid;
  ni_ms lower, upper; /* learned bracket; upper NI_TIME_NEVER = unknown */
  ni_ms srtt, rttvar;
  ni_ms interval;      /* silence after which the next keepalive is due */
  ni_ms reprobe_at;    /* earliest next upward re-probe; 0 = not set */
  ni_ms strike;        /* silence of an unconfirmed loss; 0 = none */
  ni_ms last_failure;  /* time of the last failure, believed or not */
  ni_ms push_max[2];   /* largest push delay of the current and of the
                          previous window of NI_KA_PUSH_WINDOW samples */
  unsigned push_n;     /* samples in the current window */
  unsigned push_known; /* delays reported (saturating) */
  uint64_t rng;
  unsigned bracket_gen;
  ni_ka_stats stats;
  ni__ka_node due_node;  /* in group->due: keyed by ni_ka_get_expiry() */
  ni__ka_node pull_node; /* in group->pull while it may be pulled forward */
  struct ni_ka_group *group;
  uintptr_t group_key; /* ties `group` to this session's address, so that
                          ni_ka_init() tells a member from stale memory */
} ni_ka;

/* Fill `c` with the defaults above: nothing known, adaptive, 30-min
 * autologout, automatic margin, seed 1. */
NI_API void ni_ka_config_default(ni_ka_config *c);

/* Initialise `s` from `c` (copied).  The session starts disconnected: report
 * NI_KA_EV_CONNECTED when it is ready.  Zero fields of `c` that have a
 * default take it (see ni_ka_config).  `s` may be uninitialised memory, or
 * a session already initialised: one that is in an ni_ka_group stays in it
 * (at its new, disconnected, place), so re-initialising a member is safe.
 * A session that is configured for a NAT timeout it cannot keep the margin
 * below is still initialised: see ni_ka_warnings().  Returns 0, or
 * NI_EUSAGE if a pointer is NULL or the config is inconsistent (lower >
 * upper when both are given, min_interval_ms > max_interval_ms,
 * reply_min_ms > reply_max_ms, margin_permille >= 1000); `s` is then left
 * as it was. */
NI_API int ni_ka_init(ni_ka *s, const ni_ka_config *c);

/* Replace what a live session was told, at `now`: e.g. on a network change,
 * the bracket stored for the new network (or none).  The bracket, its
 * pending strike and the re-probe clock are taken from `c` as by
 * ni_ka_init(); the connection state, an outstanding keepalive (whose
 * outcome then teaches nothing), the counters, the RTT estimate, the
 * server's push delay and the group membership are kept.  Returns 0, or
 * NI_EUSAGE as ni_ka_init() (the session is then unchanged). */
NI_API int ni_ka_reconfigure(ni_ka *s, const ni_ka_config *c, ni_ms now);

/* Tell the scheduler what happened at time `now` (ms).  Returns 0,
 * NI_EUSAGE for a NULL pointer or an unknown event type, or NI_ESTATE for an
 * event that makes no sense in the current state (e.g. KA_ANSWERED with no
 * keepalive outstanding); such an event is ignored, the scheduler stays
 * consistent. */
NI_API int ni_ka_on_event(ni_ka *s, const ni_ka_event *ev, ni_ms now);

/* When ni_ka_handle_expiry() must next be called (ms, same clock as `now`);
 * NI_TIME_NEVER when nothing is due (disconnected).  Call it again after
 * every other ni_ka_ call and re-arm the timer. */
NI_API ni_ms ni_ka_get_expiry(const ni_ka *s);

/* Run what is due at `now`: returns the action the caller must take now
 * (NI_KA_NONE if nothing was due).  A NOOP or REIDLE is counted as sent at
 * `now` and its reply deadline starts; NI_KA_DEAD means the connection must
 * be closed and re-established. */
NI_API ni_ka_action ni_ka_handle_expiry(ni_ka *s, ni_ms now);

/* The time budget (ms) an answer to a keepalive sent now would get:
 * max(reply_min_ms, 4 x smoothed RTT), at most reply_max_ms. */
NI_API ni_ms ni_ka_reply_timeout(const ni_ka *s);

/* The absolute reply deadline (ms) of the outstanding keepalive, or
 * NI_TIME_NEVER when none is outstanding. */
NI_API ni_ms ni_ka_reply_deadline(const ni_ka *s);

/* The silence (ms) after which the next keepalive is due: the current
 * cadence, or the learning probe being tried. */
NI_API ni_ms ni_ka_interval(const ni_ka *s);

/* 1 if the current interval is a learning probe, 0 if it is the steady
 * cadence. */
NI_API int ni_ka_is_probing(const ni_ka *s);

/* The safety margin (ms) the steady cadence keeps below the lower bound:
 * max(margin_min_ms, margin_permille of the lower bound, smoothed RTT), or
 * margin_ms when set; less when a floor (see the top of this file) holds
 * the cadence closer to the lower bound: lower bound - floor, or 0 when
 * the floor is at or above the lower bound. */
NI_API ni_ms ni_ka_margin(const ni_ka *s);

/* Conditions the caller should know of, as a bit mask (0 = none).  Read
 * them after ni_ka_init() and whenever the bracket changed.
 *
 * NI_KA_WARN_MARGIN: the steady cadence in use is held above lower - margin
 * by its floor, so keepalives keep less margin than asked (ni_ka_margin()),
 * or none.  E.g. nat_lower_ms 3 s: cadence 2 s, margin 1 s; nat_lower_ms
 * 1.5 s: cadence 2 s, margin 0, and push will break. */
#define NI_KA_WARN_MARGIN 1u
NI_API unsigned ni_ka_warnings(const ni_ka *s);

/* The server's push delay (ms) as learned from NI_KA_EV_PUSH_DELAY (and
 * from mail in keepalive answers older than the silence before them): the
 * largest of the last NI_KA_PUSH_WINDOW to 2 x NI_KA_PUSH_WINDOW delays.
 * NI_TIME_NEVER while fewer than NI_KA_PUSH_MIN_SAMPLES delays were
 * reported. */
NI_API ni_ms ni_ka_push_delay(const ni_ka *s);

/* The bracket learned so far: *lower = longest silence seen survived,
 * *upper = shortest silence seen fatal; 0 = unknown for either.  Either
 * pointer may be NULL.  Returns a counter that grows every time the bracket
 * changes, so the caller saves it (ni_ka_state_save) only when it moved. */
NI_API unsigned ni_ka_bracket(const ni_ka *s, ni_ms *lower, ni_ms *upper);

/* Copy the counters into *out. */
NI_API void ni_ka_get_stats(const ni_ka *s, ni_ka_stats *out);

/*
 * Coalesced wakeups.  A group holds sessions of one process; the caller arms
 * one timer at ni_ka_group_get_expiry() and, when it fires, calls
 * ni_ka_group_handle_expiry() with the same `now` until it returns NULL.
 * When one session's keepalive is due, the others whose keepalive would be
 * due within their coalesce window (half of their interval by default)
 * send theirs now too, so the radio wakes once.  A keepalive is never sent
 * later than its own due time, learning probes are never pulled forward (it
 * would falsify what they measure), and a pulled session keeps at least
 * half of its cadence, so cadences cannot collapse.
 * Sessions are linked through their own struct: nothing is allocated.  The
 * group keeps its sessions in two heaps (by expiry, and by the earliest time
 * each may be pulled forward), updated by every ni_ka_ call on a member, so
 * ni_ka_group_get_expiry() is O(1), a member's event costs O(log N), and
 * ni_ka_group_handle_expiry() touches only the sessions that act, at
 * O(log N) each, however many sessions the group holds.
 */
typedef struct ni_ka_group {
  ni__ka_heap due;  /* private: every member, by its expiry */
  ni__ka_heap pull; /* private: members that may be pulled forward, by the
                       earliest time they may be */
  ni_ms awake_at;   /* private: time of the current shared wakeup */
  int awake;        /* private */
  uint64_t wakeups; /* distinct wakeups (times at which a keepalive, or a
                       dead connection's reconnect, happened) */
  uint64_t visits;  /* private: heap nodes and members touched, a measure
                       of the group's work that tests can bound */
} ni_ka_group;

/* Initialise an empty group. */
NI_API void ni_ka_group_init(ni_ka_group *g);

/* Add an initialised session.  Returns 0, NI_EUSAGE for NULL pointers, or
 * NI_ESTATE if the session is already in a group. */
NI_API int ni_ka_group_add(ni_ka_group *g, ni_ka *s);

/* Remove a session (call before discarding a session that is in a group).
 * Returns 0, or NI_ESTATE if it is not in this group.  Remove the sessions
 * before freeing a group's memory too: ni_ka_init() on a session that still
 * names a freed group would read it.  (A group re-initialised with
 * ni_ka_group_init() while sessions were in it is safe: ni_ka_init() on
 * such a session sees that it is no longer a member.) */
NI_API int ni_ka_group_remove(ni_ka_group *g, ni_ka *s);

/* The earliest expiry (ms) of all sessions; NI_TIME_NEVER if none. */
NI_API ni_ms ni_ka_group_get_expiry(const ni_ka_group *g);

/* Return one session that must act at `now` and store its action in
 * *action; NULL (and NI_KA_NONE) when none is left.  Call repeatedly with
 * the same `now` until NULL, then re-arm the timer. */
NI_API ni_ka *ni_ka_group_handle_expiry(ni_ka_group *g, ni_ms now, ni_ka_action *action);

/*
 * Per-network state file.  A small text file, one line per network label:
 *
 *     natidle-keepalive-state 1
 *     <label> TAB <lower_ms> TAB <upper_ms> TAB <updated_unix_s>
 *     ...
 *     end <number of network lines>
 *
 * (upper_ms 0 = unknown).  A label is 1..NI_KA_LABEL_MAX bytes of printable
 * characters without tab (spaces allowed).  The file is rewritten
 * atomically (temporary file, fsync, rename, fsync of the directory), so a
 * crash leaves either the old or the new file; a leftover temporary file is
 * ignored.  At most NI_KA_STATE_MAX networks are kept: saving a new one into
 * a full file drops the least recently updated.
 */
#define NI_KA_LABEL_MAX 128
#define NI_KA_STATE_MAX 256

/* Read the bracket stored for `network` from the file at `path`.  Outputs
 * may be NULL.  Returns 0; -ENOENT if the file or the network is absent;
 * -EBADMSG if the file is corrupt, truncated or of another version (it is
 * then ignored as a whole: nothing is returned); NI_EUSAGE for a bad label;
 * another -errno if the file cannot be read. */
NI_API int ni_ka_state_load(const char *path, const char *network, ni_ms *lower_ms, ni_ms *upper_ms,
                            uint64_t *updated_unix_s);

/* Store the bracket of `network` (upper_ms 0 = unknown), stamped with
 * now_unix_s (the caller's wall clock, seconds), keeping the other networks
 * of a valid existing file (a corrupt one is replaced).  Returns 0,
 * NI_EUSAGE for a bad label or lower > upper, or -errno of the failing file
 * operation (the old file is then unchanged). */
NI_API int ni_ka_state_save(const char *path, const char *network, ni_ms lower_ms, ni_ms upper_ms,
                            uint64_t now_unix_s);

#ifdef __cplusplus
}
#endif
#endif /* NATIDLE_KEEPALIVE_H */
