/* Exit codes: the engines return error codes and how a run ended; only the
 * tool knows what a process exit status means (README "Failure modes"). */
#include "cli/exit.h"

#include "natidle/common.h"

int ni__probe_exit_code(int rc, ni_probe_end end) {
  switch (rc) {
  case 0:
    break;
  case NI_EREFUSED:
    return NI_EXIT_REFUSED;
  case NI_ENOPUSH:
    return NI_EXIT_NO_PUSH;
  case NI_EPARSE:
  case NI_ELIMIT:
    /* The server broke the protocol (or natidle's limits): a failure of
     * the server, like a broken connection, not of natidle. */
    return NI_EXIT_NETWORK;
  default:
    return ni_exit_code_for(rc);
  }
  switch (end) {
  case NI_PROBE_END_VERDICT:
  case NI_PROBE_END_CLEANED:
    return NI_EXIT_OK;
  case NI_PROBE_END_INCONCLUSIVE:
    return NI_EXIT_INCONCLUSIVE;
  case NI_PROBE_END_INTERRUPTED:
    return NI_EXIT_INTERRUPTED;
  case NI_PROBE_END_SAFETY:
    return NI_EXIT_SAFETY;
  case NI_PROBE_END_NO_PUSH:
    return NI_EXIT_NO_PUSH;
  }
  return NI_EXIT_FAILURE;
}
