/* Round trips and push delays measured after a silence (see latency.h). */
#include "natidle/latency.h"

#include <string.h>

void ni_lat_init(ni_lat *l) {
  memset(l, 0, sizeof *l);
}

void ni_lat_add(ni_lat *l, ni_ms silence_ms, ni_ms value_ms) {
  if (value_ms == NI_TIME_NEVER) return;
  unsigned i = l->next % NI_LAT_SAMPLES;
  l->s[i].silence_ms = silence_ms;
  l->s[i].value_ms = value_ms;
  l->next = (i + 1) % NI_LAT_SAMPLES;
  if (l->n < NI_LAT_SAMPLES) l->n++;
}

static ni_ms need(ni_ms silence_ms) {
  return silence_ms < NI_LAT_SLEEP_MS ? silence_ms : NI_LAT_SLEEP_MS;
}

ni_ms ni_lat_worst_after(const ni_lat *l, ni_ms silence_ms) {
  ni_ms worst = NI_TIME_NEVER, min = need(silence_ms);
  for (unsigned i = 0; i < l->n && i < NI_LAT_SAMPLES; i++)
    if (l->s[i].silence_ms >= min && (worst == NI_TIME_NEVER || l->s[i].value_ms > worst))
      worst = l->s[i].value_ms;
  return worst;
}

ni_ms ni_lat_worst(const ni_lat *l) {
  return ni_lat_worst_after(l, 0);
}

unsigned ni_lat_count(const ni_lat *l, ni_ms silence_ms) {
  unsigned c = 0;
  ni_ms min = need(silence_ms);
  for (unsigned i = 0; i < l->n && i < NI_LAT_SAMPLES; i++)
    c += l->s[i].silence_ms >= min;
  return c;
}

ni_ms ni_lat_deadline(const ni_lat *l, ni_ms silence_ms, unsigned factor, ni_ms slack_ms,
                      ni_ms floor_ms, ni_ms cap_ms) {
  ni_ms w = ni_lat_worst_after(l, silence_ms);
  if (w == NI_TIME_NEVER) return cap_ms;
  /* Saturating: a huge sample gives the cap, never a wrapped deadline. */
  ni_ms d =
      factor && w > (NI_TIME_NEVER - slack_ms) / factor ? NI_TIME_NEVER : w * factor + slack_ms;
  if (d < floor_ms) d = floor_ms;
  return d > cap_ms ? cap_ms : d;
}
