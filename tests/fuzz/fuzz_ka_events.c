/*
 * Fuzz target: the keepalive scheduler fed an arbitrary sequence of events
 * and times (3 bytes per step: what, how much time passes, a parameter).
 * It must never ask to be called in the past again after handling an
 * expiry, and its interval, reply timeout and bracket must stay sane.
 */
#include <stdint.h>
#include <stdlib.h>

#include "natidle/keepalive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ni_ka k;
  ni_ka_config c;
  ni_ka_config_default(&c);
  if (size > 0) {
    /* The first byte picks what is known beforehand. */
    c.adaptive = data[0] & 1;
    c.nat_lower_ms = (data[0] >> 1 & 7) * 60000u;
    c.nat_upper_ms = c.nat_lower_ms ? c.nat_lower_ms + (data[0] >> 4) * 30000u : 0;
    data++;
    size--;
  }
  if (ni_ka_init(&k, &c) != 0) abort();
  ni_ms now = 0;
  for (size_t i = 0; i + 3 <= size; i += 3) {
    unsigned what = data[i], step = data[i + 1], arg = data[i + 2];
    /* Time steps from milliseconds to about an hour. */
    now += (ni_ms)step * (step & 0x80 ? 30000u : 20u);
    if (what % 12 == 0) {
      if (ni_ka_get_expiry(&k) <= now) {
        ni_ka_handle_expiry(&k, now);
        if (ni_ka_get_expiry(&k) <= now) abort();
      }
    } else {
      ni_ka_event e = {.type = (ni_ka_event_type)(what % 12),
                       .rtt_ms = (ni_ms)arg * 40u,
                       .silent_ms = (ni_ms)arg * 15000u};
      int rc = ni_ka_on_event(&k, &e, now);
      if (rc != 0 && rc != NI_ESTATE) abort();
    }
    ni_ms lo, up, iv = ni_ka_interval(&k), rt = ni_ka_reply_timeout(&k);
    ni_ka_bracket(&k, &lo, &up);
    if (lo && up && lo > up) abort();
    if (iv < c.min_interval_ms || iv > 29u * 60000u) abort();
    if (rt < 3000 || rt > 15000) abort();
  }
  return 0;
}
