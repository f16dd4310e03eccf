/* The column lists and allowed values of the CSV files natidle writes.
 * docs/CSV.md describes every column; keep the two in step. */
#include <string.h>

#include "natidle/csv.h"

const char *const ni_obs_columns[NI_OBS_NCOLS] = {
    "run_id",    "network",   "server",  "port",      "tls",    "session",  "target_s",
    "silence_s", "direction", "outcome", "detect_ms", "rtt_ms", "evidence", "at"};

const char *const ni_summary_columns[NI_SUMMARY_NCOLS] = {"run_id",
                                                          "network",
                                                          "server",
                                                          "port",
                                                          "tls",
                                                          "direction",
                                                          "lower_s",
                                                          "upper_s",
                                                          "estimate_s",
                                                          "observations",
                                                          "wall_s",
                                                          "server_keepalive_s",
                                                          "recommended_keepalive_s",
                                                          "verdict",
                                                          "nat_lower_s",
                                                          "nat_upper_s",
                                                          "bracket_basis",
                                                          "path_rtt_ms"};

const char *const ni_bracket_bases[] = {"capture", "client_rtt", NULL};

/* The first eight are the log's original layout; the rest were appended so
 * that older readers, which look columns up by name, keep working. */
const char *const ni_kalog_columns[NI_KALOG_NCOLS] = {
    "at",       "account", "event",    "interval_s", "outcome", "rtt_ms",  "bytes_out",
    "bytes_in", "network", "delay_ms", "wakeups",    "lower_s", "upper_s", "cadence_s"};

const char *const ni_kalog_events[] = {"start",   "connect", "lost", "keepalive",
                                       "message", "cadence", "stop", NULL};

const char *const ni_obs_outcomes[] = {"alive",       "dead_silent",  "dead_reset",
                                       "dead_closed", "dead_inbound", "refreshed",
                                       "aborted",     "error",        NULL};

const char *const ni_verdicts[] = {"measured",     "above_max", "masked_by_server",
                                   "inconclusive", "no_push",   NULL};

int ni_csv_is_one_of(const char *s, const char *const *list) {
  for (; s && *list; list++)
    if (strcmp(s, *list) == 0) return 1;
  return 0;
}
