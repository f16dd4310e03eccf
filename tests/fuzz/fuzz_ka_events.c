/*
 * Fuzz target: the keepalive scheduler fed an arbitrary sequence of events
 * and times (3 bytes per step: what, how much time passes, a parameter).
 * Two sessions share a group; the steps drive the first one, and may also
 * re-initialise or re-configure it in the group (a client on a network
 * change).  Time steps reach an hour, so the device "sleeps through its
 * alarm" often; a loss is now and then one for good (the session stops
 * until a re-init).  It must never ask to be called in the past again
 * after handling an expiry, its interval, deadlines, status and bracket
 * must stay sane, and the group's heaps must stay consistent.
 */
#include <stdint.h>
#include <stdlib.h>

#include "keepalive/ka_internal.h"
#include "natidle/keepalive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Steps: 0 = the timer fires, 1..12 = an event of that type, 13 = re-init,
 * 14 = re-configure with nothing known, 15 = re-configure back. */
#define NSTEPS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ni_ka k, other;
  ni_ka_group g;
  ni_ka_config c, none;
  ni_ka_config_default(&c);
  ni_ka_config_default(&none);
  if (size > 0) {
    /* The first byte picks what is known beforehand. */
    c.adaptive = data[0] & 1;
    c.nat_lower_ms = (data[0] >> 1 & 7) * 60000u;
    c.nat_upper_ms = c.nat_lower_ms ? c.nat_lower_ms + (data[0] >> 4) * 30000u : 0;
    /* A short NAT given, now and then: its cadence goes below 10 s. */
    if ((data[0] >> 1 & 7) == 7) c.nat_lower_ms = c.nat_upper_ms = 3000u + (data[0] >> 4) * 500u;
    data++;
    size--;
  }
  if (ni_ka_init(&k, &c) != 0 || ni_ka_init(&other, &none) != 0) abort();
  ni_ka_group_init(&g);
  if (ni_ka_group_add(&g, &k) != 0 || ni_ka_group_add(&g, &other) != 0) abort();
  const ni_ka_config *cur = &c;
  ni_ms now = 0;
  for (size_t i = 0; i + 3 <= size; i += 3) {
    unsigned what = data[i] % NSTEPS, step = data[i + 1], arg = data[i + 2];
    /* Time steps from milliseconds to about an hour. */
    now += (ni_ms)step * (step & 0x80 ? 30000u : 20u);
    if (what == 0) {
      if (ni_ka_get_expiry(&k) <= now) {
        ni_ka_handle_expiry(&k, now);
        if (ni_ka_get_expiry(&k) <= now) abort();
      }
    } else if (what == 13) {
      if (ni_ka_init(&k, cur) != 0) abort();
    } else if (what >= 14) {
      cur = what == 14 ? &none : &c;
      if (ni_ka_reconfigure(&k, cur, now) != 0) abort();
    } else {
      ni_ka_event e = {.type = (ni_ka_event_type)what,
                       .rtt_ms = (ni_ms)arg * 40u,
                       .silent_ms = (ni_ms)arg * 15000u,
                       .age_ms = (ni_ms)arg * 2000u,
                       .delay_ms = (ni_ms)arg * 500u,
                       .permanent = arg >= 250};
      int rc = ni_ka_on_event(&k, &e, now);
      if (rc != 0 && rc != NI_ESTATE) abort();
    }
    if (ni__ka_group_check(&g) != 0) abort();
    ni_ms lo, up, iv = ni_ka_interval(&k), rt = ni_ka_reply_timeout(&k);
    ni_ka_bracket(&k, &lo, &up);
    if (lo && up && lo > up) abort();
    /* The lower bound given (or a longer one) keeps its margin down to
     * the 2-s floor; all else stays at or above min_interval_ms.  (While
     * disconnected the interval is the last one chosen, and is chosen
     * anew on CONNECTED.) */
    ni_ms floor =
        cur->nat_lower_ms && lo >= cur->nat_lower_ms ? NI_KA_FLOOR_MS : cur->min_interval_ms;
    if (ni_ka_get_expiry(&k) != NI_TIME_NEVER && iv < floor) abort();
    if (iv < NI_KA_FLOOR_MS || iv > 29u * 60000u) abort();
    if (rt < 3000 || rt > 15000) abort();
    /* The margin reported is what the steady cadence keeps: never more
     * than the lower bound itself, and all of it without a warning. */
    if (lo && ni_ka_margin(&k) > lo && ni_ka_warnings(&k)) abort();
    if (ni_ka_warnings(&k) & ~NI_KA_WARN_MARGIN) abort();
    /* Deadlines: the verdict never before the reply deadline, and within
     * reply_max_ms of it; both exactly while a keepalive is out.  Only a
     * connected session has a last activity; a stopped one has nothing
     * due. */
    ni_ka_status st = ni_ka_get_status(&k);
    ni_ms rd = ni_ka_reply_deadline(&k), dd = ni_ka_dead_deadline(&k);
    if ((st == NI_KA_ST_WAITING) != (dd != NI_TIME_NEVER) ||
        (rd == NI_TIME_NEVER) != (dd == NI_TIME_NEVER))
      abort();
    if (dd != NI_TIME_NEVER && (dd < rd || dd - rd > 15000u)) abort();
    if ((st == NI_KA_ST_UP || st == NI_KA_ST_WAITING) != (ni_ka_last_activity(&k) != NI_TIME_NEVER))
      abort();
    if ((st == NI_KA_ST_DOWN || st == NI_KA_ST_STOPPED) && ni_ka_get_expiry(&k) != NI_TIME_NEVER)
      abort();
  }
  if (ni_ka_group_remove(&g, &k) != 0 || ni_ka_group_remove(&g, &other) != 0) abort();
  return 0;
}
