/*
 * probe/prober.h - the probe run of `natidle probe`: the silent IDLE
 * sessions, the control connection, the checks, calibration, connection
 * limits, CSV output, resume and cleanup.  Internal to the natidle tool (not
 * part of libnatidle).
 *
 * The search itself (which silence to test next, when the bracket is good
 * enough) lives in probe/search.h and does no I/O; this file owns everything
 * that touches the network, the clock and the files.
 */
#ifndef NATIDLE_PROBER_H
#define NATIDLE_PROBER_H

#include <stddef.h>
#include <stdio.h>

#include "natidle/common.h"

/* Which direction(s) of the NAT mapping a run measures.  Inbound: can the
 * server still push to the client after a silence?  Outbound: can the client
 * still reach the server? */
enum {
  NI_PDIR_INBOUND = 1,
  NI_PDIR_OUTBOUND = 2,
  NI_PDIR_BOTH = 3
};

/* Everything `natidle probe` was asked to do.  Strings are borrowed for the
 * duration of ni__probe_run(). */
typedef struct ni_probe_opts {
  const char *server;
  unsigned port;           /* 0: 993 for imaps, 143 otherwise */
  int tls;                 /* ni_tls_mode */
  const char *user;
  /* The password, masked: byte i is pw_masked[i] ^ pw_key[i], so that no
   * copy of it in the clear stays in memory between logins. */
  const unsigned char *pw_masked, *pw_key;
  size_t pw_len;
  const char *ca_file;
  int insecure;
  int allow_plaintext;
  double min_s, max_s;     /* the silences the search may test */
  double resolution_s;     /* 0: max(1 s, 2 % of the lower bound) */
  unsigned sessions;       /* K silent sessions (plus one control connection) */
  int direction;           /* NI_PDIR_* */
  int strategy;            /* ni_strategy value */
  int read_only;           /* EXAMINE INBOX, no writes at all (outbound only) */
  const char *network;     /* free label written to the CSV files */
  const char *csv_path;
  const char *summary_path;
  int resume;
  int cleanup;             /* remove leftovers of interrupted runs, then exit */
  int quiet, verbose;
  unsigned max_checks;     /* hard cap on checks (and so on APPENDs) */
  double noop_s;           /* control connection NOOP interval, 0 = automatic */
  int no_capture;          /* no libpcap evidence */
  const char *capture_iface; /* interface to capture on, NULL = auto */
  const char *pcap_out;    /* keep the capture in this pcap file */
  const char *run_as;      /* user to switch to once the capture is open */
} ni_probe_opts;

/* Run the probe (or the cleanup) described by o on a fresh event loop.
 * Prints progress on stderr and the result line on stdout.  Returns a process
 * exit code (enum ni_exit). */
int ni__probe_run(const ni_probe_opts *o);

/* ---- Status output (probe/status.c) ------------------------------------ */

enum { NI_STATUS_QUIET, NI_STATUS_LOG, NI_STATUS_TTY };

typedef struct ni_status {
  int mode;          /* NI_STATUS_* */
  int verbose;
  FILE *f;           /* stderr */
  ni_ms t0;          /* start of the run, for the elapsed time */
  ni_ms last_draw;   /* when the live line was last drawn */
  int shown;         /* a live line is on screen and must be erased first */
} ni_status;

/* What the live status line shows. */
typedef struct ni_status_view {
  double lower_s, upper_s;  /* bracket; upper_s < 0 when no dead seen yet */
  unsigned armed, checking, reconnecting, parked;
  unsigned checks;
  double next_check_s;      /* < 0 when none armed */
  double eta_s;             /* < 0 when unknown */
} ni_status_view;

/* Choose the mode: quiet, else a live line on a terminal, else log lines. */
void ni__status_init(ni_status *st, FILE *f, int quiet, int verbose, ni_ms now);

/* One event.  level 0: always shown (unless quiet); 1: shown as a log line,
 * and on a terminal only with --verbose; 2: only with --verbose. */
void ni__status_event(ni_status *st, ni_ms now, int level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    /* Lets the compiler check the format string against its arguments. */
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Redraw the live line on a terminal, at most four times a second unless
 * force is set.  Does nothing in the other modes. */
void ni__status_draw(ni_status *st, ni_ms now, const ni_status_view *v, int force);

/* Erase the live line (before the final output). */
void ni__status_clear(ni_status *st);

/* ---- Resume (probe/resume.c) ------------------------------------------- */

/* One earlier observation that says something about the mapping. */
typedef struct ni_resume_obs {
  double silence_s;
  int direction;  /* NI_PDIR_INBOUND or NI_PDIR_OUTBOUND */
  int alive;      /* 1 alive, 0 dead */
  int outcome;    /* index into ni_obs_outcomes */
} ni_resume_obs;

typedef struct ni_resume {
  char run_id[64];      /* "" when the file holds no earlier run */
  size_t rows;          /* rows of that run, whatever their outcome */
  size_t nobs;          /* usable observations (alive or dead) */
  ni_resume_obs *obs;
  unsigned max_session; /* highest session number used */
} ni_resume;

/* Read the observations of the last run in the CSV file at path.  The rows
 * of that run must name the same server, port and tls mode, else
 * NI_EMISMATCH.  A missing or empty file gives an empty ni_resume and 0.
 * Returns 0, NI_EMISMATCH, NI_ECSV or -errno, with a one-line reason in err. */
int ni__resume_load(const char *path, const char *server, unsigned port, const char *tls,
                    ni_resume *out, char *err, size_t errlen);

/* Free what ni__resume_load allocated. */
void ni__resume_free(ni_resume *r);

/* Map an outcome name to 1 (alive), 0 (dead) or -1 (no information:
 * refreshed, aborted, error, unknown). */
int ni__outcome_alive(const char *outcome);

#endif
