/* Round trips and push delays measured after a silence (see latency.h). */
#include "natidle/latency.h"

#include <stdlib.h>
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

static int cmp_ms(const void *a, const void *b) {
  ni_ms x = *(const ni_ms *)a, y = *(const ni_ms *)b;
  return x < y ? -1 : x > y;
}

/* The qualifying samples after silence_ms, sorted; returns how many. */
static unsigned sorted_after(const ni_lat *l, ni_ms silence_ms, ni_ms *v) {
  unsigned n = 0;
  ni_ms min = need(silence_ms);
  for (unsigned i = 0; i < l->n && i < NI_LAT_SAMPLES; i++)
    if (l->s[i].silence_ms >= min) v[n++] = l->s[i].value_ms;
  qsort(v, n, sizeof v[0], cmp_ms);
  return n;
}

static ni_ms rank(const ni_ms *v, unsigned n, unsigned pct) {
  if (pct > 100) pct = 100;
  unsigned r = (pct * n + 99) / 100;
  return v[r ? r - 1 : 0];
}

ni_ms ni_lat_quantile_after(const ni_lat *l, ni_ms silence_ms, unsigned pct) {
  ni_ms v[NI_LAT_SAMPLES];
  unsigned n = sorted_after(l, silence_ms, v);
  return n ? rank(v, n, pct) : NI_TIME_NEVER;
}

static ni_ms sat_add(ni_ms a, ni_ms b) {
  return a > NI_TIME_NEVER - b ? NI_TIME_NEVER : a + b;
}

ni_ms ni_lat_deadline_dist(const ni_lat *l, ni_ms silence_ms, unsigned spread_factor,
                           ni_ms extra_ms, ni_ms floor_ms, ni_ms cap_ms) {
  ni_ms v[NI_LAT_SAMPLES];
  unsigned n = sorted_after(l, silence_ms, v);
  if (!n) return cap_ms;
  ni_ms hi = rank(v, n, NI_LAT_DEADLINE_PCT), med = rank(v, n, 50);
  ni_ms spread = hi - med;
  ni_ms room = spread_factor && spread > NI_TIME_NEVER / spread_factor ? NI_TIME_NEVER
                                                                       : spread * spread_factor;
  ni_ms d = sat_add(sat_add(hi, room), extra_ms);
  if (d < floor_ms) d = floor_ms;
  return d > cap_ms ? cap_ms : d;
}

ni_ms ni_lat_rto(ni_ms srtt_ms) {
  ni_ms var = srtt_ms / 2 > 200 ? srtt_ms / 2 : 200;
  return sat_add(srtt_ms, var);
}
