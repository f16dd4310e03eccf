/*
 * --resume: read the observations CSV back so an interrupted run continues
 * where it stopped.  The rows stay where they are (the writer appends after
 * them), so nothing is lost and nothing is written twice; this file only
 * rebuilds what the search had learnt from them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/num.h"
#include "natidle/csv.h"
#include "probe/prober.h"

int ni__outcome_alive(const char *outcome) {
  if (!outcome) return -1;
  if (!strcmp(outcome, "alive")) return 1;
  if (!strncmp(outcome, "dead_", 5) && ni_csv_is_one_of(outcome, ni_obs_outcomes)) return 0;
  return -1;
}

static int outcome_index(const char *outcome) {
  for (int i = 0; ni_obs_outcomes[i]; i++)
    if (!strcmp(outcome, ni_obs_outcomes[i])) return i;
  return -1;
}

/* Start collecting a new run: the file may hold several runs one after the
 * other, and only the last one is resumed. */
static void start_run(ni_resume *out, const char *run_id) {
  snprintf(out->run_id, sizeof out->run_id, "%s", run_id);
  out->rows = 0;
  out->nobs = 0;
  out->max_session = 0;
}

static int add_obs(ni_resume *out, size_t *cap, const ni_resume_obs *o) {
  if (out->nobs == *cap) {
    size_t ncap = *cap ? *cap * 2 : 64;
    ni_resume_obs *n = realloc(out->obs, ncap * sizeof *n);
    if (!n) return -ENOMEM;
    out->obs = n;
    *cap = ncap;
  }
  out->obs[out->nobs++] = *o;
  return 0;
}

/* The server, port and tls of the run being collected, to compare with the
 * command line once the last run is known. */
typedef struct run_where {
  char server[256], tls[16];
  unsigned long port;
} run_where;

int ni__resume_load(const char *path, const char *server, unsigned port, const char *tls,
                    ni_resume *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  err[0] = '\0';
  int rc = 0;
  ni_csv_reader *r = ni_csv_reader_open(path, &rc);
  if (!r) {
    if (rc == -ENOENT) return 0;
    if (rc == NI_ECSV) {
      /* An empty file has no header yet: nothing to resume. */
      FILE *f = fopen(path, "r");
      int empty = f && fgetc(f) == EOF;
      if (f) fclose(f);
      if (empty) return 0;
    }
    snprintf(err, errlen, "%s: %s", path, ni_strerror(rc));
    return rc;
  }
  for (size_t i = 0; i < NI_OBS_NCOLS; i++)
    if (!ni_csv_has_column(r, ni_obs_columns[i])) {
      snprintf(err, errlen, "%s: not an observations file (no column %s)", path, ni_obs_columns[i]);
      ni_csv_reader_close(r);
      return NI_EMISMATCH;
    }
  size_t cap = 0;
  run_where where = {{0}, {0}, 0};
  while ((rc = ni_csv_reader_next(r)) == 1) {
    const char *run = ni_csv_get(r, "run_id");
    if (strcmp(run, out->run_id) != 0) {
      start_run(out, run);
      snprintf(where.server, sizeof where.server, "%s", ni_csv_get(r, "server"));
      snprintf(where.tls, sizeof where.tls, "%s", ni_csv_get(r, "tls"));
      if (ni__parse_uint(ni_csv_get(r, "port"), 0, 65535, &where.port) != 0) where.port = 0;
    }
    out->rows++;
    unsigned long sess = 0;
    if (ni__parse_uint(ni_csv_get(r, "session"), 0, 1000000, &sess) == 0 && sess > out->max_session)
      out->max_session = (unsigned)sess;
    const char *outcome = ni_csv_get(r, "outcome");
    int alive = ni__outcome_alive(outcome);
    double silence = 0;
    if (alive < 0 || ni__parse_seconds(ni_csv_get(r, "silence_s"), 0, 1e9, &silence) != 0) continue;
    const char *dir = ni_csv_get(r, "direction");
    ni_resume_obs o = {silence, !strcmp(dir, "outbound") ? NI_PDIR_OUTBOUND : NI_PDIR_INBOUND,
                       alive, outcome_index(outcome)};
    if ((rc = add_obs(out, &cap, &o)) != 0) break;
  }
  if (rc < 0) {
    snprintf(err, errlen, "%s", rc == NI_ECSV ? ni_csv_reader_errstr(r) : ni_strerror(rc));
    ni_csv_reader_close(r);
    ni__resume_free(out);
    return rc;
  }
  ni_csv_reader_close(r);
  if (out->run_id[0] &&
      (strcmp(where.server, server) != 0 || where.port != port || strcmp(where.tls, tls) != 0)) {
    snprintf(err, errlen, "%s holds run %s against %s port %lu (%s), not %s port %u (%s)", path,
             out->run_id, where.server, where.port, where.tls, server, port, tls);
    ni__resume_free(out);
    return NI_EMISMATCH;
  }
  return 0;
}

void ni__resume_free(ni_resume *r) {
  free(r->obs);
  memset(r, 0, sizeof *r);
}
