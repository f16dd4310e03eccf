/*
 * probe/prober.h - the probe engine behind `natidle probe`: the silent IDLE
 * sessions, the control connection, the checks, calibration, connection
 * limits, CSV output, resume and cleanup.  Internal to the natidle tool (not
 * part of libnatidle).
 *
 * The engine prints nothing and knows no exit codes: it reports through an
 * event callback (progress, status snapshots, error lines, the results) and
 * returns an error code plus how the run ended; the tool (cli/probe.c)
 * turns those into terminal output and an exit code.
 *
 * The search itself (which silence to test next, when the bracket is good
 * enough) lives in probe/search.h and does no I/O; the engine owns
 * everything that touches the network, the clock and the files.
 */
#ifndef NATIDLE_PROBER_H
#define NATIDLE_PROBER_H

#include <stddef.h>

#include "natidle/common.h"
#include "probe/search.h"

/* Which direction(s) of the NAT mapping a run measures.  Inbound: can the
 * server still push to the client after a silence?  Outbound: can the client
 * still reach the server?  BOTH is the two bits together. */
typedef enum ni_probe_dir {
  NI_PDIR_INBOUND = 1,
  NI_PDIR_OUTBOUND = 2,
  NI_PDIR_BOTH = 3
} ni_probe_dir;

/* "inbound" or "outbound", as in the CSV files and the result lines. */
const char *ni__probe_dir_name(ni_probe_dir dir);

/* Everything `natidle probe` was asked to do.  Strings are borrowed for the
 * duration of ni__probe_run(). */
typedef struct ni_probe_opts {
  const char *server;
  unsigned port; /* 0: 993 for imaps, 143 otherwise */
  int tls;       /* ni_tls_mode */
  const char *user;
  /* The password, masked: byte i is pw_masked[i] ^ pw_key[i], so that no
   * copy of it in the clear stays in memory between logins. */
  const unsigned char *pw_masked, *pw_key;
  size_t pw_len;
  /* OAuth2 instead of the password, when token is not NULL: token() writes
   * the access token to use into buf (cap bytes; *len its length, no NUL
   * needed) and returns 0, or an error with a one-line reason in err.
   * refresh = 1 asks for a fresh token because the server refused the last
   * one (the tool runs --oauth2-token-cmd again, or re-reads the file).  The
   * engine wipes buf after each login and never shows the token. */
  int (*token)(void *arg, int refresh, char *buf, size_t cap, size_t *len, char *err,
               size_t errlen);
  void *token_arg;
  int oauth_mech; /* ni_oauth_mech */
  const char *ca_file;
  int insecure;
  int allow_plaintext;
  int family;          /* 0: any (IPv4 first); 4 or 6: that IP version */
  double min_s, max_s; /* the silences the search may test */
  double resolution_s; /* 0: max(1 s, 2 % of the lower bound) */
  unsigned sessions;   /* K silent sessions (plus one control connection) */
  int direction;       /* NI_PDIR_* */
  int strategy;        /* ni_strategy value */
  int read_only;       /* EXAMINE INBOX, no writes at all (outbound only) */
  const char *network; /* free label written to the CSV files */
  const char *csv_path;
  const char *summary_path;
  int resume;
  int cleanup; /* remove leftovers of interrupted runs, then exit */
  int quiet, verbose;
  unsigned max_checks;       /* hard cap on checks (and so on APPENDs) */
  double noop_s;             /* control connection NOOP interval, 0 = automatic */
  double push_wait_s;        /* how long the first push may take (0: CAL_PUSH_WAIT_MS) */
  int no_capture;            /* no libpcap evidence */
  const char *capture_iface; /* interface to capture on, NULL = auto */
  const char *pcap_out;      /* keep the capture in this pcap file */
  const char *run_as;        /* user to switch to once the capture is open */
} ni_probe_opts;

/* ---- Events: how the engine reports ------------------------------------ */

/* What the live status line shows. */
typedef struct ni_status_view {
  double lower_s, upper_s; /* bracket; upper_s < 0 when no dead seen yet */
  unsigned armed, checking, reconnecting, parked;
  unsigned checks;
  double next_check_s; /* < 0 when none armed */
  double eta_s;        /* < 0 when unknown */
} ni_status_view;

/* The result of one direction, at the end of a run that measured. */
typedef struct ni_probe_result {
  ni_probe_dir dir;          /* NI_PDIR_INBOUND or NI_PDIR_OUTBOUND */
  ni_verdict verdict;        /* never NI_VERDICT_RUNNING */
  double lower_s, upper_s;   /* the bracket (L, U]; U is INFINITY when no death was seen */
  double estimate_s;         /* the timeout, when the verdict is measured */
  double max_s;              /* --max: what above_max is above */
  unsigned checks;           /* observations that carried information */
  double wall_s;             /* the run's wall time */
  double server_keepalive_s; /* the server's own keepalive interval, 0 when none seen */
  double recommended_s;      /* keepalive interval to use, whole seconds (meant
                              * for measured and above_max); 0 when masked: no
                              * client keepalive, the server's holds the mapping */
  double poll_s;             /* the server reports new mail to IDLE only when it
                              * polls, every poll_s seconds; 0 when it pushes */
  int poll_phase_known;      /* checks were timed just before a poll (else the
                              * bracket was widened by poll_s) */
  /* The bracket in the NAT's terms (docs/CSV.md, summary): the silences
   * above are the client's; the NAT, somewhere on the path, may have seen
   * a silence up to one round trip shorter.  nat_upper_s is INFINITY when
   * upper_s is. */
  double nat_lower_s, nat_upper_s;
  const char *bracket_basis; /* "capture" (the wire showed it) or "client_rtt" */
  double path_rtt_ms;        /* the round trip the lower end was widened by */
} ni_probe_result;

typedef enum ni_probe_event_kind {
  NI_PROBE_EV_NOTE,   /* progress: level and text */
  NI_PROBE_EV_STATUS, /* a snapshot for a live status line: status */
  NI_PROBE_EV_ERROR,  /* an error the user must see, even when quiet: text.
                       * The run stops after most of them, not after all
                       * (a summary row that cannot be written, a probe
                       * mailbox that holds foreign data). */
  NI_PROBE_EV_RESULT, /* the result of one direction: result */
  NI_PROBE_EV_CLEANUP /* --cleanup is done: deleted and refused */
} ni_probe_event_kind;

/* One event.  Pointers are valid during the callback only. */
typedef struct ni_probe_event {
  ni_probe_event_kind kind;
  ni_ms now;                     /* when, on the clock of ni_imap_now() */
  int level;                     /* NOTE: 0 always worth showing, 1 a log line,
                                  * 2 detail for --verbose */
  const char *text;              /* NOTE, ERROR: one line, no newline */
  const ni_status_view *status;  /* STATUS */
  const ni_probe_result *result; /* RESULT */
  unsigned deleted, refused;     /* CLEANUP: probe mailboxes deleted, and kept
                                  * because they held foreign data */
  unsigned failed;               /* CLEANUP: the server refused to delete them */
} ni_probe_event;

typedef void (*ni_probe_event_cb)(const ni_probe_event *ev, void *arg);

/* Where the engine's events go. */
typedef struct ni_probe_hooks {
  ni_probe_event_cb cb; /* NULL: nothing is reported */
  void *arg;
  /* STATUS snapshots every status_ms milliseconds and whenever the targets
   * move (the receiver limits how often it draws); 0: no STATUS events. */
  unsigned status_ms;
} ni_probe_hooks;

/* How a run that returned 0 ended. */
typedef enum ni_probe_end {
  NI_PROBE_END_VERDICT,      /* every direction asked for reached a verdict */
  NI_PROBE_END_INCONCLUSIVE, /* a direction ended without a usable bracket */
  NI_PROBE_END_INTERRUPTED,  /* SIGINT or SIGTERM; what is known was written */
  NI_PROBE_END_SAFETY,       /* a probe mailbox held foreign data and was kept */
  NI_PROBE_END_CLEANED,      /* --cleanup finished */
  NI_PROBE_END_NO_PUSH       /* the server's IDLE never reported the new message
                              * (verdict no_push): nothing to measure inbound */
} ni_probe_end;

/* Run the probe (or the cleanup) described by o on a fresh event loop,
 * reporting through h (may be NULL).  Returns 0 with *end set, or a
 * negative error (NI_E* or -errno) after an ERROR event that said why:
 * NI_EUSAGE for a file named in o that cannot be used, NI_EMISMATCH for a
 * --csv, --summary or --resume file of another kind or server, NI_EREFUSED
 * when the server refused to create or write the probe's mailboxes, NI_EAUTH
 * for a refused login (an OAuth2 token refused again after one refresh
 * included), NI_EPARSE when the server broke the protocol before the run
 * could start, and the connection's or the server's error when the run
 * could not start otherwise.  The
 * one error without an event is -EBUSY after a run that otherwise
 * succeeded: a handle was left open (a bug). */
int ni__probe_run(const ni_probe_opts *o, const ni_probe_hooks *h, ni_probe_end *end);

/* ---- Resume (probe/resume.c) ------------------------------------------- */

/* One earlier observation that says something about the mapping. */
typedef struct ni_resume_obs {
  double silence_s;
  ni_probe_dir direction; /* NI_PDIR_INBOUND or NI_PDIR_OUTBOUND */
  int alive;              /* 1 alive, 0 dead */
  int outcome;            /* index into ni_obs_outcomes */
} ni_resume_obs;

typedef struct ni_resume {
  char run_id[64]; /* "" when the file holds no earlier run */
  size_t rows;     /* rows of that run, whatever their outcome */
  size_t nobs;     /* usable observations (alive or dead) */
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
