/* Exit codes of the natidle tool for what the engines return (cli/exit.c). */
#ifndef NATIDLE_CLI_EXIT_H
#define NATIDLE_CLI_EXIT_H

#include "probe/prober.h"

/* The exit code of `natidle probe` (enum ni_exit) for what ni__probe_run()
 * returned: rc, and when rc is 0, how the run ended. */
int ni__probe_exit_code(int rc, ni_probe_end end);

#endif
