/*
 * natidle/latency.h - round trips and push delays measured after a silence.
 *
 * On a cellular link the first packet after some seconds of silence pays for
 * waking the radio (promotion or paging: hundreds of ms to a few seconds),
 * and a server that polls its mailboxes pushes new mail seconds after it
 * arrived.  A deadline computed from round trips of a fresh, awake
 * connection is therefore too short for the exchanges that matter: a
 * keepalive after minutes of silence, or a probe's check after its target
 * silence.  This estimator keeps each sample with the silence that came
 * before it, and answers for a given silence from the samples taken after a
 * comparable one.  Used by the keepalive scheduler (its reply deadline) and
 * by the probe (its detection deadline); a client may use it too.
 *
 * No I/O, no clock, no allocation: the caller owns the struct (zero it or
 * call ni_lat_init) and passes every time in as an argument.  Not
 * thread-safe: one estimator per session, used from one thread.
 */
#ifndef NATIDLE_LATENCY_H
#define NATIDLE_LATENCY_H

#include "natidle/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Samples kept; older ones are forgotten, so the estimate follows a path
 * that changed. */
#define NI_LAT_SAMPLES 16
/* A sample taken after at least this much silence speaks for any longer
 * silence: radios reach their deepest idle state within tens of seconds
 * (LTE's inactivity timer is about 10 s, 3G's FACH-to-idle about 12 s). */
#define NI_LAT_SLEEP_MS 30000u

typedef struct ni_lat {
  /* Private: use the functions. */
  struct {
    ni_ms silence_ms, value_ms;
  } s[NI_LAT_SAMPLES];
  unsigned n, next;
} ni_lat;

/* Forget every sample. */
NI_API void ni_lat_init(ni_lat *l);

/* Record that an exchange which followed silence_ms of silence on the path
 * took value_ms (a round trip, or a push's delay).  NI_TIME_NEVER values are
 * ignored. */
NI_API void ni_lat_add(ni_lat *l, ni_ms silence_ms, ni_ms value_ms);

/* The worst recent value among the samples taken after a silence of at
 * least min(silence_ms, NI_LAT_SLEEP_MS): what an exchange after silence_ms
 * may take.  NI_TIME_NEVER when no sample qualifies (nothing is known yet
 * about such a silence: use a generous default). */
NI_API ni_ms ni_lat_worst_after(const ni_lat *l, ni_ms silence_ms);

/* The worst recent value of all samples, whatever the silence before them;
 * NI_TIME_NEVER when there is none. */
NI_API ni_ms ni_lat_worst(const ni_lat *l);

/* Number of samples held (at most NI_LAT_SAMPLES), and of those taken after
 * at least min(silence_ms, NI_LAT_SLEEP_MS) of silence. */
NI_API unsigned ni_lat_count(const ni_lat *l, ni_ms silence_ms);

/*
 * A deadline for an exchange after silence_ms of silence:
 * max(floor_ms, factor x worst + slack_ms) over the samples of
 * ni_lat_worst_after(), at most cap_ms; cap_ms when no sample qualifies.
 * A late answer is still an answer: a caller that sees one after the
 * deadline should add it as a sample, so the next deadline covers it.
 */
NI_API ni_ms ni_lat_deadline(const ni_lat *l, ni_ms silence_ms, unsigned factor, ni_ms slack_ms,
                             ni_ms floor_ms, ni_ms cap_ms);

/*
 * The value that pct % of the samples taken after a silence of at least
 * min(silence_ms, NI_LAT_SLEEP_MS) do not exceed (nearest rank: with n
 * samples, the ceil(pct x n / 100)-th smallest; pct 100 is the worst,
 * pct 50 the median).  NI_TIME_NEVER when no sample qualifies.
 */
NI_API ni_ms ni_lat_quantile_after(const ni_lat *l, ni_ms silence_ms, unsigned pct);

/*
 * A deadline from the distribution of the samples after a comparable
 * silence rather than from a multiple of the worst one:
 *   hi + spread_factor x (hi - median) + extra_ms
 * where hi is the NI_LAT_DEADLINE_PCT quantile (ni_lat_quantile_after), at
 * least floor_ms, at most cap_ms; cap_ms when no sample qualifies.  A path
 * whose samples agree gets a deadline just above them, one that scatters
 * gets room in proportion; extra_ms is what no sample shows, such as one
 * retransmission timeout of a lost packet (the caller knows its round
 * trip).  Saturating: never a wrapped deadline.
 */
#define NI_LAT_DEADLINE_PCT 90
NI_API ni_ms ni_lat_deadline_dist(const ni_lat *l, ni_ms silence_ms, unsigned spread_factor,
                                  ni_ms extra_ms, ni_ms floor_ms, ni_ms cap_ms);

/*
 * What a TCP sender waits before it sends a lost segment again, for a path
 * of smoothed round trip srtt_ms: srtt + max(200 ms, srtt / 2) (Linux: srtt
 * + max(4 x rttvar, 200 ms), with rttvar about srtt / 8 on a steady path).
 * A deadline that should survive one lost packet adds this.
 */
NI_API ni_ms ni_lat_rto(ni_ms srtt_ms);

#ifdef __cplusplus
}
#endif
#endif
