/* Exit codes of the natidle tool for what the engines return (cli/exit.c). */
#ifndef NATIDLE_CLI_EXIT_H
#define NATIDLE_CLI_EXIT_H

#include "probe/prober.h"

/* Exit codes that only `natidle probe` uses, next to enum ni_exit (README
 * "Failure modes"). */
enum {
  /* The server's IDLE never reported the probe's new message (verdict
   * no_push): inbound push cannot be measured with this server. */
  NI_EXIT_NO_PUSH = 9,
  /* The server refused to create the probe's mailboxes or to APPEND to
   * them (a read-only account, a quota, a namespace policy): --read-only
   * measures the outbound direction without writing. */
  NI_EXIT_REFUSED = 10
};

/* The exit code of `natidle probe` (enum ni_exit, or the codes above) for
 * what ni__probe_run() returned: rc, and when rc is 0, how the run ended. */
int ni__probe_exit_code(int rc, ni_probe_end end);

#endif
