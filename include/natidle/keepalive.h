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
 * Time.  Time is ni_ms, milliseconds on one clock for every call, and that
 * clock must keep counting while the device is suspended, because the NAT's
 * idle timer does: a phone in deep sleep for ten minutes has had ten minutes
 * of silence on its connection.  Use
 *  - Linux, Android (NDK): clock_gettime(CLOCK_BOOTTIME); from Java,
 *    SystemClock.elapsedRealtime().  Not CLOCK_MONOTONIC, which stops in
 *    suspend; libuv's uv_now() and uv_hrtime() read CLOCK_MONOTONIC, so a
 *    libuv program arms its timers with libuv but must read `now` for the
 *    scheduler from CLOCK_BOOTTIME (timer delays are differences, so the
 *    two clocks mix safely there);
 *  - iOS, macOS: mach_continuous_time() (scaled by mach_timebase_info).
 *    Not mach_absolute_time() nor CLOCK_UPTIME_RAW, which stop in sleep;
 *  - Windows: QueryInterruptTime() or GetTickCount64(), which count sleep
 *    and hibernation.  Not QueryUnbiasedInterruptTime(), which leaves them
 *    out.
 * With such a clock a device that slept through its alarm shows as a jump:
 * the next call's `now` lies later than the expiry the scheduler gave by
 * more than NI_KA_JUMP_MS (or a quarter of the interval, whichever is
 * longer).  The connection is then verified instead of trusted: with no
 * keepalive out, one is due at once and gets the generous deadline
 * (reply_max_ms); a keepalive that was out gets one more reply_max_ms
 * before its verdict.  A silence that spanned the sleep is evidence of
 * nothing: not a silence survived, not a death, and a round trip that
 * spanned it is no sample.  (With a clock that stops in suspend the jump
 * cannot be seen, and a mapping that died during the sleep is only found
 * at the next keepalive.)  A `now` that goes backwards is treated as the
 * latest time seen.  "Silence" is the time since the last byte in either
 * direction on the connection: a NAT forgets a mapping after its idle
 * timeout of silence, and any byte resets it.
 *
 * How the cadence is chosen:
 *  - A known bracket (the NAT kept a mapping through lower_ms of silence and
 *    lost one after upper_ms) gives a cadence of lower_ms - margin, where the
 *    margin is max(margin_min_ms, margin_permille of lower_ms, the round
 *    trip): 2 s for the NAT's timer granularity and the caller's timer
 *    slop, 5 % because deferred alarms and clock drift grow with the
 *    interval, and the round trip because the NAT's silence began when the
 *    server's last packet crossed it, before the client saw that packet,
 *    and ends only when the keepalive reaches it, after the phone's radio
 *    woke up.  The round trip is the larger of the smoothed one and the
 *    slowest recent one measured after at least half the lower bound's
 *    silence (see ni_lat in natidle/latency.h), so a radio that takes 3 s
 *    to wake costs 3 s of margin, not a keepalive lost at the NAT.  Until
 *    such a round trip is measured the margin is at least margin_min_ms +
 *    NI_KA_WAKE_GUESS_MS (a slow cellular wake-up), which matters only
 *    for bounds under 100 s; the first answered keepalive replaces it.
 *  - With nothing known (or a bracket wider than the resolution, lower/16)
 *    and learning on, the scheduler learns: it starts at start_ms, grows
 *    the interval by half while keepalives are answered, and bisects the
 *    bracket on a failure, so it settles in O(log) failures.  Once settled
 *    it keeps the cadence just below the learned lower bound and re-probes
 *    upward by a small step once every reprobe_ms (about a day), never soon
 *    after a failure.  Learning probes are sent at the probed silence
 *    itself, without margin; only the steady cadence carries the margin.
 *  - Never more than autologout_ms - 1 min of silence (RFC 2177: re-IDLE at
 *    least every 29 min when the server logs out after 30), and inside IDLE a
 *    re-IDLE at least that often even when traffic keeps the NAT busy.
 *  - Every keepalive has two deadlines (see "Deadlines and late answers"
 *    below): its reply deadline, by which an answer is expected, from the
 *    round trips measured after a comparable silence, and a later verdict
 *    deadline, at which an unanswered keepalive is reported as NI_KA_DEAD
 *    within seconds, not after TCP's retransmission timeout of many
 *    minutes.  An answer between the two is late, and still an answer.
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
 *    (two in a row restart learning below it).  And the first keepalive
 *    lost less than reply_max_ms below a lower bound the caller gave,
 *    before any keepalive was ever answered, may have been held back past
 *    the bound by a radio slower to wake than the margin (with its 3-s
 *    guess, NI_KA_WAKE_GUESS_MS) allows: it is
 *    excused (ni_ka_stats.excused), and the next keepalive goes at half
 *    the lower bound to measure that radio; the margin then covers it.
 *    Only one loss per ni_ka_init() is excused.
 *  - Not every message seen first in a keepalive's answer is a push the NAT
 *    lost: servers that poll (Cyrus without idled, Courier: about once a
 *    minute) or push after a delay report new mail late, and a keepalive's
 *    answer may simply come before their push.  The scheduler learns the
 *    server's push delay (NI_KA_EV_PUSH_DELAY) and judges such mail by its
 *    age (NI_KA_EV_PUSH_IN_NOOP); even a message that passes that test is
 *    one ambiguous signal and needs a second before it is believed.  The
 *    exact rule is under "Mail in a keepalive's answer" below.
 *  - Without learning, failures may lower the cadence below the bracket
 *    given, for safety, but not for good: after reprobe_ms / 8 (3 h)
 *    without a failure the bracket given is back.  A slow answer is never
 *    a failure: it says nothing about the NAT.
 *
 * Deadlines and late answers.  A keepalive that left after a silence s
 * gets
 *
 *     reply timeout   R = max(reply_min_ms, NI_KA_REPLY_FACTOR x W
 *                             + NI_KA_REPLY_SLACK_MS), at most reply_max_ms,
 *     verdict timeout V = min(2 x R, reply_max_ms), and never less than R,
 *
 * where W is the slowest of the recent round trips measured after a silence
 * of at least min(s, NI_LAT_SLEEP_MS) (ni_lat_worst_after()).  Before any
 * such round trip is known, nothing is known of how long the radio takes
 * to wake after such a silence, and R = V = reply_max_ms, the generous cap.
 * Every answered keepalive is a sample, with the silence before it, so the
 * next deadline after a like silence covers it.  The scheduler arms its
 * expiry at the verdict (ni_ka_dead_deadline()); the reply deadline
 * (ni_ka_reply_deadline()) only tells an answer on time from a late one.
 * A late answer, after the reply deadline and before the verdict, is an
 * answer like any other: a success for the silence before it, a sample for
 * the estimator, and counted in ni_ka_stats.late.  The caller needs to do
 * nothing for it but report NI_KA_EV_KA_ANSWERED as usual.  So the design
 * is: the caller tears the connection down only at NI_KA_DEAD, which comes
 * at the second, longer deadline, and sends nothing in between.
 *
 * Even an answer read after NI_KA_DEAD, before the caller reported the
 * connection closed (NI_KA_EV_LOST) or a new one (NI_KA_EV_CONNECTED), e.g.
 * bytes already in the socket buffer when the verdict's timer fired, takes
 * the verdict back when reported as NI_KA_EV_KA_ANSWERED (its NI_KA_EV_RX
 * before it is refused, as any RX while disconnected, and changes
 * nothing): what the death taught is undone, the answer teaches as a late
 * one, and the session is connected again, on the same connection if the
 * caller still has it (ni_ka_stats.revived).  A caller that closed the
 * connection at NI_KA_DEAD may report NI_KA_EV_LOST (accepted once, it
 * teaches nothing and ends that chance) and goes on with its reconnect.
 *
 * Relying on the server's keepalive.  Many servers write into IDLE on
 * their own: Dovecot sends "* OK Still here" every imap_idle_notify_interval
 * (2 min by default).  Each such response crosses the NAT and restarts its
 * idle timer, so a client keepalive beside it only adds radio wakeups (a
 * cadence just below 2 min doubles them, since the server's keepalive and
 * the client's fall at different moments).  natidle probe reports such a
 * server as masked_by_server.  With server_keepalive_ms S set, the
 * scheduler relies on the server (ni_ka_server(): NI_KA_SRV_RELYING):
 *  - While bytes from the server (NI_KA_EV_RX: its keepalive, or any other
 *    response) come at least every S + grace (ni_ka_server_watch()), the
 *    client sends nothing of its own.  grace is server_grace_ms, or
 *    automatically max(margin_min_ms, margin_permille of S, the smoothed
 *    round trip): 6 s for 2 min.
 *  - The RFC 2177 re-IDLE rides on the server's keepalive: when the next one
 *    (S later) would come after the re-IDLE limit, the re-IDLE is due at
 *    once, right after the server's keepalive woke the radio, so it adds no
 *    wakeup (ni_ka_stats.rides).
 *  - A silence that reaches S + grace means the server's keepalive was
 *    missed (a server reconfigured, another backend, or a mapping that died
 *    with the keepalive): the keepalive due then goes out at once
 *    (ni_ka_stats.server_missed), and the session falls back
 *    (NI_KA_SRV_FALLBACK) to its own cadence: the bracket's, lower - margin,
 *    below what the NAT is known to keep.  An unanswered one is NI_KA_DEAD
 *    as any other.
 *  - Back to relying when the server speaks again on its own: bytes in IDLE,
 *    with no keepalive out, after at least NI_KA_FLOOR_MS of silence, that
 *    are not the "+ idling" of a new IDLE nor a push (IDLE_ENTERED,
 *    IDLE_LEFT or PUSH_IN_IDLE reported at the same `now` take it back)
 *    (ni_ka_stats.server_resumed).  Never while the NAT is known to kill
 *    a silence of S + grace or less (an upper bound at or below it): the
 *    server's keepalive would come too late, so such a session keeps the
 *    connection alive itself from the start.  A server that restarts its
 *    keepalive timer at every IDLE never speaks before a client cadence
 *    shorter than S; so once every NI_KA_SERVER_RETRY_MS in fallback, one
 *    silence is let run to S + grace to give it the chance.
 * A caller learns of the changes as of the bracket's: by asking
 * ni_ka_server() after its calls.  Learning works as without: a server's
 * keepalive is a silence survived.
 *
 * Persisting what was learned: ni_ka_bracket() gives the bracket and a change
 * counter; ni_ka_state_save()/ni_ka_state_load() keep one bracket per network
 * label in a small text file written atomically.  The counter is the way to
 * learn that the bracket changed, instead of a callback: the scheduler
 * changes it only inside an ni_ka_ call the caller made, so the caller
 * compares it after its calls (e.g. after each batch of events, or before
 * re-arming its timer) and saves when it moved, without re-entrancy.
 *
 * Several sessions of one process (several accounts) should share wakeups:
 * put them in an ni_ka_group and arm one timer for the group.
 */
#ifndef NATIDLE_KEEPALIVE_H
#define NATIDLE_KEEPALIVE_H

#include "natidle/common.h"
#include "natidle/latency.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults of ni_ka_config_default(), in milliseconds unless noted. */
#define NI_KA_AUTOLOGOUT_MS (30u * 60u * 1000u) /* RFC 2177 / RFC 3501 30 min */
#define NI_KA_MARGIN_MIN_MS 2000u               /* RTT + timer slop + NAT tick */
#define NI_KA_MARGIN_PERMILLE 50u               /* 5 % of the interval */
#define NI_KA_WAKE_GUESS_MS 3000u               /* radio wake-up, before one is measured */
#define NI_KA_MIN_INTERVAL_MS 10000u            /* never more often than 10 s */
#define NI_KA_START_MS 60000u                   /* first learning probe: 60 s */
#define NI_KA_REPLY_MIN_MS 3000u                /* reply deadline floor */
#define NI_KA_REPLY_MAX_MS 15000u               /* reply and verdict cap */
#define NI_KA_REPROBE_MS (24u * 3600u * 1000u)  /* re-probe upward once a day */
/* The reply timeout from round trips measured after a comparable silence:
 * twice the slowest, plus a second (see "Deadlines and late answers").
 * Twice, because the slowest recent wake-up is not the slowest there will
 * be; the second, for the server's own time to answer. */
#define NI_KA_REPLY_FACTOR 2u
#define NI_KA_REPLY_SLACK_MS 1000u
/* A call whose `now` is later than the expiry the scheduler gave by more
 * than this, or by more than a quarter of the interval, whichever is
 * longer, means the device slept through its alarm (see "Time" above).
 * Shorter delays are a phone's deferred alarms, which the margin covers. */
#define NI_KA_JUMP_MS 10000u
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

/* In fallback after a missed server keepalive, one silence is let run to
 * the server's watch this often, to see whether it speaks again (see
 * "Relying on the server's keepalive"). */
#define NI_KA_SERVER_RETRY_MS (3600u * 1000u)

/* ni_ka_config.adaptive: learning off, whatever else the config holds. */
#define NI_KA_LEARN_OFF (-1)

/*
 * What the scheduler was told and how it should behave.  A config zeroed
 * with memset or `= {0}` means every default, learning included: each field
 * left at 0 takes its default (the NI_KA_ values above for autologout_ms,
 * margin_min_ms, margin_permille, min_interval_ms, start_ms, reprobe_ms,
 * reply_min_ms, reply_max_ms; 1 for seed) or means "unknown" or
 * "automatic" where there is no default value (nat_lower_ms, nat_upper_ms,
 * margin_ms, max_interval_ms, coalesce_ms, each described below).  So
 * ni_ka_config_default() is a convenience, not a requirement: it fills in
 * those same defaults.  Learning is controlled by `adaptive`:
 *
 *     adaptive        zeroed config      config from ni_ka_config_default()
 *     1 (or > 0)      learn              learn (its value)
 *     0               learn (default)    do not learn
 *     NI_KA_LEARN_OFF do not learn       do not learn
 *
 * NI_KA_LEARN_OFF is the explicit way to turn learning off in any config;
 * the middle line keeps older callers that set adaptive 0 after
 * ni_ka_config_default() working as before.  (The private `defaulted`
 * field tells the two kinds of config apart; a struct copy of a config
 * from ni_ka_config_default() counts as one.)
 */
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
   * max(margin_min_ms, margin_permille/1000 x lower bound, round trip; see
   * the top of this file). */
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
  /* Learning (see the table above): learn the bracket online, or keep the
   * cadence given by the bracket, never probing upward (failures still
   * lower it for a while, for safety; see the top of this file).  Without
   * learning, a bracket with only upper_ms gives half of it, and no
   * bracket at all gives start_ms. */
  int adaptive;
  ni_ms start_ms;   /* first interval tried when nothing is known */
  ni_ms reprobe_ms; /* time between upward re-probes once settled */
  /* Bounds of every keepalive's reply timeout; reply_max_ms also bounds its
   * verdict timeout (see "Deadlines and late answers"). */
  ni_ms reply_min_ms;
  ni_ms reply_max_ms;
  /* How far a keepalive may be pulled forward to share another session's
   * wakeup in an ni_ka_group.  0 = half of the session's interval, which
   * is also the most allowed. */
  ni_ms coalesce_ms;
  /* The server's own keepalive during IDLE (e.g. Dovecot's "* OK Still
   * here" every imap_idle_notify_interval), ms: rely on it and send
   * nothing while it comes (see "Relying on the server's keepalive").
   * 0 = none: the client keeps the connection alive by itself. */
  ni_ms server_keepalive_ms;
  /* How late the server's keepalive may be before it counts as missed.
   * 0 = automatic: max(margin_min_ms, margin_permille of
   * server_keepalive_ms, the smoothed round trip). */
  ni_ms server_grace_ms;
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
  NI_KA_DEAD      /* the keepalive was not answered by its verdict
                     deadline: the connection is dead; close it and
                     reconnect, then report NI_KA_EV_CONNECTED (an answer
                     read before the close may still take the verdict
                     back: see "Deadlines and late answers") */
} ni_ka_action;

/* What happened on the connection.  When to report which is in "The event
 * protocol" below. */
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
                             after a write queue); restarts its deadlines */
  NI_KA_EV_KA_ANSWERED,   /* the keepalive was answered (tagged OK of the
                             NOOP, or of DONE for a re-IDLE); rtt_ms set.
                             Also right after NI_KA_DEAD: a late answer */
  NI_KA_EV_KA_UNANSWERED, /* the caller gave up on the keepalive itself
                             (the scheduler reports NI_KA_DEAD on its own
                             deadline; use this only for other reasons) */
  NI_KA_EV_LOST,          /* the connection broke (RST, FIN, error);
                             silent_ms = its silence when it broke;
                             permanent = the caller gives up for good */
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
   * time since the keepalive left (handle_expiry, or KA_SENT). */
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
  /* LOST: nonzero when the caller will not reconnect without a change only
   * the user can make (login or token refused, account disabled, server
   * certificate rejected, the mailbox gone).  The session then stops
   * (NI_KA_ST_STOPPED): nothing is due, ni_ka_get_expiry() is
   * NI_TIME_NEVER, every event but this one and PUSH_DELAY is refused
   * with NI_ESTATE, until ni_ka_init().  Such a loss teaches nothing about
   * the NAT.  Valid in any state, so a reconnect that fails for good (no
   * CONNECTED since the last loss) is reported too. */
  int permanent;
} ni_ka_event;

/*
 * The event protocol: which IMAP wire event is which call.  `now` is the
 * time the caller saw the event (read it from the clock once per batch of
 * bytes handled; see "Time" above).  Every call may move the expiry:
 * re-arm the timer after the last call of a batch.
 *
 *   on the wire                                    call
 *   ---------------------------------------------  ----------------------------
 *   connection set up: greeting, (STARTTLS,)       nothing until ready, then
 *   LOGIN/AUTHENTICATE, SELECT, any resync done    NI_KA_EV_CONNECTED
 *   any bytes received (every response, untagged   NI_KA_EV_RX, first, for
 *   or tagged, "+" continuations included)         each batch read
 *   any bytes sent by the application (its own     NI_KA_EV_TX
 *   commands, "tag IDLE", NOTIFY, FETCH...)
 *   "tag IDLE" answered by "+ idling"              NI_KA_EV_RX, then
 *                                                  NI_KA_EV_IDLE_ENTERED
 *   DONE (the application's, to run commands)      NI_KA_EV_TX; its tagged OK:
 *   answered by the IDLE's tagged OK               RX, then NI_KA_EV_IDLE_LEFT
 *   handle_expiry() returned NI_KA_NOOP/REIDLE:    nothing more (the keepalive
 *   "tag NOOP", or "DONE" (then "tag IDLE")        counts as sent at that
 *   written at once                                `now`); its bytes may also
 *                                                  be reported as TX
 *   ...written only later (queued behind other     NI_KA_EV_KA_SENT when it
 *   writes)                                        leaves
 *   the keepalive's answer: the NOOP's tagged OK,  NI_KA_EV_RX, then
 *   or for a re-IDLE the tagged OK of the IDLE      NI_KA_EV_KA_ANSWERED
 *   that DONE ended                                (rtt_ms, or 0)
 *   for a re-IDLE, the new IDLE's "+ idling"       NI_KA_EV_RX,
 *                                                  NI_KA_EV_IDLE_ENTERED
 *   EXISTS / RECENT / FETCH pushed inside IDLE     NI_KA_EV_RX, then
 *                                                  NI_KA_EV_PUSH_IN_IDLE; and
 *                                                  NI_KA_EV_PUSH_DELAY with
 *                                                  now - INTERNALDATE once the
 *                                                  date is known (per message)
 *   a new message seen first in a keepalive's      NI_KA_EV_PUSH_IN_NOOP with
 *   answer (an EXISTS before its tagged OK, or     age_ms = time the keepalive
 *   found by the FETCH right after it)             left - INTERNALDATE (per
 *                                                  message; 0 if unknown)
 *   the connection broke: RST, FIN, TLS or read    NI_KA_EV_LOST, silent_ms =
 *   error, BYE, while nothing of ours awaited an   now - ni_ka_last_activity()
 *   answer                                         if it broke on its own in
 *                                                  a silence, else 0
 *   ...or the caller tore it down (a command       NI_KA_EV_LOST, silent_ms 0
 *   timed out, the application closed it, a        (after NI_KA_DEAD, which
 *   network change)                                ended the session already,
 *                                                  optional: it only ends a
 *                                                  late answer's chance)
 *   login refused / account gone / certificate     NI_KA_EV_LOST, permanent 1
 *   rejected (at any point, also while
 *   reconnecting): the caller gives up
 *   the caller gives up on a keepalive for a       NI_KA_EV_KA_UNANSWERED
 *   reason of its own
 *
 * Pipelined DONE + IDLE: a caller may write "DONE" and the next "tag IDLE"
 * together.  The keepalive is still answered by the tagged OK of the IDLE
 * that DONE ended (NI_KA_EV_KA_ANSWERED, which also restarts the re-IDLE
 * clock), and the new IDLE's "+ idling" that follows is
 * NI_KA_EV_IDLE_ENTERED.  Nothing is reported for the second command
 * before its "+": the session stays in IDLE for the scheduler throughout,
 * so the next keepalive is a re-IDLE again.  Do not report IDLE_LEFT for a
 * keepalive's DONE.
 *
 * Valid events per state (ni_ka_get_status()); anything else returns
 * NI_ESTATE and changes nothing but the time seen (see ni_ka_on_event()):
 *
 *   NI_KA_ST_DOWN     CONNECTED, PUSH_DELAY; right after NI_KA_DEAD also
 *   (disconnected)    KA_ANSWERED (a late answer: back to UP) and LOST
 *                     (the caller closed it: teaches nothing, returns 0);
 *                     LOST with permanent set.
 *   NI_KA_ST_UP       CONNECTED (a new connection replaces this one), RX,
 *   (connected, no    TX, IDLE_ENTERED, IDLE_LEFT, LOST, PUSH_IN_IDLE,
 *   keepalive out)    PUSH_DELAY; PUSH_IN_NOOP only after a keepalive was
 *                     answered on this connection.
 *   NI_KA_ST_WAITING  everything UP takes, and KA_SENT, KA_ANSWERED,
 *   (a keepalive out) KA_UNANSWERED, PUSH_IN_NOOP.
 *   NI_KA_ST_STOPPED  PUSH_DELAY, LOST with permanent set (returns 0, no
 *                     change); nothing else until ni_ka_init().
 *
 * A caller computes the silence of its connection as
 * now - ni_ka_last_activity(): the time of the last byte either way as
 * reported (RX, TX, any event that implies bytes, a keepalive sent).
 */

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
 * learned too.  The rule holds for late answers as for answers on time.
 * The messages of a keepalive whose silence spanned a sleep, or that left
 * before ni_ka_reconfigure(), teach nothing.
 */

/* Counters, for reports and the benchmark. */
typedef struct ni_ka_stats {
  uint64_t keepalives;     /* NOOP + REIDLE asked for */
  uint64_t answered;       /* keepalives answered (late ones included) */
  uint64_t dead;           /* keepalives that missed their verdict deadline or
                              were reported unanswered */
  uint64_t lost;           /* NI_KA_EV_LOST events */
  uint64_t probes;         /* keepalives that were learning probes */
  uint64_t failures;       /* silences the NAT did not survive (dead, a
                              telling loss, a message in a keepalive's answer
                              that is evidence by the rule above), believed
                              or not yet, excused ones included */
  uint64_t pulled;         /* keepalives sent early to share a group wakeup */
  uint64_t late;           /* keepalives answered after their reply deadline */
  uint64_t revived;        /* NI_KA_DEAD verdicts taken back by an answer read
                              before the connection was closed */
  uint64_t excused;        /* losses not held against the NAT: the radio's
                              wake-up, not yet measured, may have held the
                              keepalive back (see the top of this file) */
  uint64_t jumps;          /* times the device slept through its alarm */
  uint64_t server_missed;  /* the server's keepalive did not come within
                              its watch: the client took over */
  uint64_t server_resumed; /* the server spoke again: relying on it again */
  uint64_t rides;          /* re-IDLEs sent right after the server's
                              keepalive, adding no wakeup */
} ni_ka_stats;

/* Where a session stands (ni_ka_get_status()). */
typedef enum ni_ka_status {
  NI_KA_ST_DOWN = 0, /* no connection: nothing is due */
  NI_KA_ST_UP,       /* connected, no keepalive out: the next one is due at
                        ni_ka_get_expiry() */
  NI_KA_ST_WAITING,  /* connected, a keepalive is out: its verdict is due at
                        ni_ka_get_expiry() */
  NI_KA_ST_STOPPED   /* given up for good (a permanent NI_KA_EV_LOST) */
} ni_ka_status;

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

/* Private: what a NI_KA_DEAD verdict changed, so that a late answer can
 * take it back. */
typedef struct ni__ka_undo {
  ni_ms lower, upper, strike, reprobe_at, last_failure;
  uint64_t failures, excused_n;
  int recreates, excused, measure;
  int action; /* the keepalive's ni_ka_action */
} ni__ka_undo;

/* One push session's scheduler.  Caller-allocated; fields are private. */
typedef struct ni_ka {
  ni_ka_config cfg;
  int state;       /* private: disconnected / connected / stopped */
  int in_idle;     /* the session sits in IDLE */
  int outstanding; /* keepalive awaiting its answer: its ni_ka_action */
  int out_probe;   /* ...and it was a learning probe */
  int out_taint;   /* ...and what mail in its answer said (0 nothing,
                      1 ambiguous, 2 evidence) */
  int out_void;    /* ...and it teaches nothing about the NAT: it left
                      before a reconfiguration, or its silence spanned a
                      sleep */
  int out_blind;   /* ...and it left with no round trip known after a
                      comparable silence */
  int out_slept;   /* ...and the device slept while it was out: its round
                      trip is no sample */
  int out_grace;   /* ...and its verdict was put off once for that */
  int prev_taint;  /* the same for the last answered keepalive */
  int probing;     /* the current interval is a learning probe */
  int floor_hit;   /* the steady cadence was raised to the floor */
  int recreates;   /* the NAT re-creates forgotten mappings: answers do
                      not prove a silence was survived */
  int excused;     /* a loss was excused (one per ni_ka_init()) */
  int measure;     /* ...so the next keepalive measures the radio */
  int verify;      /* the device slept through its alarm: a keepalive is
                      due at verify_at, to verify the connection */
  int slept;       /* the silence in progress spanned that sleep */
  int revivable;   /* a NI_KA_DEAD verdict a late answer may take back */
  int srv;         /* ni_ka_server_state */
  int srv_taken;   /* the last relying was taken up at srv_taken_at by an
                      RX that an event at the same time may take back */
  ni_ms srv_taken_at;
  ni_ms srv_retry_at; /* in fallback: next silence let run to the watch */
  int have_rtt;
  ni_ms now;           /* latest time seen */
  ni_ms last_activity; /* last byte either way */
  ni_ms idle_since;    /* IDLE (re)entered */
  ni_ms out_sent_at;   /* outstanding keepalive left */
  ni_ms out_deadline;  /* ...should be answered by (reply deadline) */
  ni_ms out_dead_at;   /* ...is declared dead then (verdict deadline) */
  ni_ms out_timeout;   /* ...its reply timeout */
  ni_ms out_silence;   /* silence when it left */
  ni_ms verify_at;     /* the verification is due then */
  ni_ms prev_silence;  /* silence of the last answered keepalive */
  ni_ms prev_lower;    /* bracket and strike before that answer, to undo */
  ni_ms prev_upper;    /* its success if mail in it says so */
  ni_ms prev_strike;
  int prev_valid;
  ni_ms lower, upper; /* learned bracket; upper NI_TIME_NEVER = unknown */
  ni_ms srtt, rttvar;
  ni_lat lat;          /* round trips with the silence before each */
  ni_ms interval;      /* silence after which the next keepalive is due */
  ni_ms reprobe_at;    /* earliest next upward re-probe; 0 = not set */
  ni_ms strike;        /* silence of an unconfirmed loss; 0 = none */
  ni_ms last_failure;  /* time of the last failure, believed or not */
  ni__ka_undo undo;    /* what the last NI_KA_DEAD verdict changed */
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

/* Fill `c` with the defaults above: nothing known, learning on, 30-min
 * autologout, automatic margin, seed 1. */
NI_API void ni_ka_config_default(ni_ka_config *c);

/* Initialise `s` from `c` (copied).  The session starts disconnected: report
 * NI_KA_EV_CONNECTED when it is ready.  Zero fields of `c` take their
 * default (see ni_ka_config).  `s` may be uninitialised memory, or a
 * session already initialised (a stopped one too): one that is in an
 * ni_ka_group stays in it (at its new, disconnected, place), so
 * re-initialising a member is safe.  Everything learned is forgotten,
 * round trips included; keep the bracket with ni_ka_bracket() first to
 * carry it over.  A session that is configured for a NAT timeout it cannot
 * keep the margin below is still initialised: see ni_ka_warnings().
 * Returns 0, or NI_EUSAGE if a pointer is NULL or the config is
 * inconsistent (lower > upper when both are given, min_interval_ms >
 * max_interval_ms, reply_min_ms > reply_max_ms, margin_permille >= 1000);
 * `s` is then left as it was. */
NI_API int ni_ka_init(ni_ka *s, const ni_ka_config *c);

/* Replace what a live session was told, at `now`: e.g. on a network change,
 * the bracket stored for the new network (or none).  The bracket, its
 * pending strike and the re-probe clock are taken from `c` as by
 * ni_ka_init(), and so is whether it relies on the server's keepalive (as
 * at the start: relying, when one is configured); the connection state
 * (stopped included), an outstanding
 * keepalive (whose outcome then teaches nothing about the NAT), the
 * counters, the RTT estimate and round trips after silences, the server's
 * push delay and the group membership are kept.  A NI_KA_DEAD verdict can
 * no longer be taken back.  Returns 0, or NI_EUSAGE as ni_ka_init() (the
 * session is then unchanged). */
NI_API int ni_ka_reconfigure(ni_ka *s, const ni_ka_config *c, ni_ms now);

/* Tell the scheduler what happened at time `now` (ms).  Returns 0,
 * NI_EUSAGE for a NULL pointer or an unknown event type, or NI_ESTATE for an
 * event that makes no sense in the current state (see "The event protocol"
 * above; e.g. KA_ANSWERED with no keepalive outstanding); such an event is
 * ignored, the scheduler stays consistent (its `now` still counts as time
 * seen, a jump in it included). */
NI_API int ni_ka_on_event(ni_ka *s, const ni_ka_event *ev, ni_ms now);

/* When ni_ka_handle_expiry() must next be called (ms, same clock as `now`):
 * the next keepalive's due time, or the outstanding keepalive's verdict
 * deadline; NI_TIME_NEVER when nothing is due (disconnected, stopped).
 * Call it again after every other ni_ka_ call and re-arm the timer. */
NI_API ni_ms ni_ka_get_expiry(const ni_ka *s);

/* Run what is due at `now`: returns the action the caller must take now
 * (NI_KA_NONE if nothing was due).  A NOOP or REIDLE is counted as sent at
 * `now` and its deadlines start; NI_KA_DEAD means the connection must be
 * closed and re-established.  A `now` past the expiry by more than the jump
 * threshold (see "Time") verifies the connection instead of trusting it:
 * a keepalive with the generous deadline, or a verdict put off once. */
NI_API ni_ka_action ni_ka_handle_expiry(ni_ka *s, ni_ms now);

/* Where the session stands: NI_KA_ST_DOWN, _UP, _WAITING or _STOPPED
 * (NI_KA_ST_DOWN for NULL). */
NI_API ni_ka_status ni_ka_get_status(const ni_ka *s);

/* The reply timeout (ms) a keepalive gets when it leaves after
 * ni_ka_interval() of silence (see "Deadlines and late answers"): from the
 * round trips measured after such a silence, reply_max_ms while none is
 * known; always within [reply_min_ms, reply_max_ms]. */
NI_API ni_ms ni_ka_reply_timeout(const ni_ka *s);

/* The absolute reply deadline (ms) of the outstanding keepalive, after
 * which its answer is late (but still an answer), or NI_TIME_NEVER when
 * none is outstanding. */
NI_API ni_ms ni_ka_reply_deadline(const ni_ka *s);

/* The absolute verdict deadline (ms) of the outstanding keepalive, when
 * ni_ka_handle_expiry() reports NI_KA_DEAD if no answer came, or
 * NI_TIME_NEVER when none is outstanding.  Never before the reply
 * deadline. */
NI_API ni_ms ni_ka_dead_deadline(const ni_ka *s);

/* The time (ms) of the last byte either way on the current connection, as
 * reported (the connection's start, RX, TX, a keepalive sent...), so that
 * the caller can compute its silence as now - this; NI_TIME_NEVER when
 * there is no connection (down or stopped). */
NI_API ni_ms ni_ka_last_activity(const ni_ka *s);

/* The silence (ms) after which the next keepalive is due: the current
 * cadence, or the learning probe being tried. */
NI_API ni_ms ni_ka_interval(const ni_ka *s);

/* 1 if the current interval is a learning probe, 0 if it is the steady
 * cadence. */
NI_API int ni_ka_is_probing(const ni_ka *s);

/* The safety margin (ms) the steady cadence keeps below the lower bound:
 * max(margin_min_ms, margin_permille of the lower bound, round trip; see
 * the top of this file), or margin_ms when set; less when a floor holds
 * the cadence closer to the lower bound: lower bound - floor, or 0 when
 * the floor is at or above the lower bound. */
NI_API ni_ms ni_ka_margin(const ni_ka *s);

/* The steady cadence (ms) a session keeps for a NAT known to hold lower_ms
 * of silence, without one: what ni_ka_interval() gives after ni_ka_init()
 * with nat_lower_ms = lower_ms, learning off and no server keepalive, once
 * the round trips below are measured.  It is lower_ms less the margin
 * (max(margin_min_ms, margin_permille of lower_ms, the round trip), see
 * the top of this file), not below min(min_interval_ms, NI_KA_FLOOR_MS),
 * not above the autologout limit or max_interval_ms.  c: the rest of the
 * config (NULL: ni_ka_config_default()).  srtt_ms: the smoothed round trip
 * of the path (0: none measured).  worst_ms: the slowest round trip after
 * a silence of at least half of lower_ms (NI_TIME_NEVER: none measured;
 * the margin then allows for a slow radio wake-up, NI_KA_WAKE_GUESS_MS).
 * natidle probe recommends this cadence for the bracket it measured.
 * Returns 0 for lower_ms 0 or NI_TIME_NEVER, or a config ni_ka_init()
 * refuses. */
NI_API ni_ms ni_ka_cadence_for(const ni_ka_config *c, ni_ms lower_ms, ni_ms srtt_ms,
                               ni_ms worst_ms);

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
 * reported.  A caller may use it to tell a late push from a lost one in
 * its own reports, as the scheduler does (see "Mail in a keepalive's
 * answer"). */
NI_API ni_ms ni_ka_push_delay(const ni_ka *s);

/* The bracket learned so far: *lower = longest silence seen survived,
 * *upper = shortest silence seen fatal; 0 = unknown for either.  Either
 * pointer may be NULL.  Returns the bracket's change counter: it grows
 * every time the bracket changes (and may grow when it was reset to the
 * same values, e.g. by ni_ka_reconfigure()), and never otherwise.  This is
 * how a caller learns of a change (see "Persisting what was learned"):
 *
 *     unsigned gen = ni_ka_bracket(&ka, &lo, &up);
 *     if (gen != saved_gen) { ni_ka_state_save(path, net, lo, up, t);
 *                             saved_gen = gen; }
 */
NI_API unsigned ni_ka_bracket(const ni_ka *s, ni_ms *lower, ni_ms *upper);

/* Whether the session relies on the server's keepalive (see "Relying on
 * the server's keepalive"). */
typedef enum ni_ka_server_state {
  NI_KA_SRV_NONE = 0, /* no server keepalive configured */
  NI_KA_SRV_RELYING,  /* the server's keepalive holds the mapping: the
                         client sends nothing while it comes */
  NI_KA_SRV_FALLBACK  /* it was missed: the client keeps the connection
                         alive at its own cadence until the server speaks
                         again */
} ni_ka_server_state;

/* Where the session stands with the server's keepalive (NI_KA_SRV_NONE for
 * NULL).  Ask after the calls, as for the bracket: it changes only inside
 * ni_ka_ calls. */
NI_API ni_ka_server_state ni_ka_server(const ni_ka *s);

/* The silence (ms) after which the server's keepalive counts as missed:
 * server_keepalive_ms plus its grace; 0 when none is configured. */
NI_API ni_ms ni_ka_server_watch(const ni_ka *s);

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
