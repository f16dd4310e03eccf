#!/usr/bin/env bash
# loose mode (nf_conntrack_tcp_loose=1): after expiry the push is lost while
# the client stays silent; the client's DONE re-creates the mapping, the
# server's retransmission of the lost push gets through, and the late
# "* N EXISTS" arrives just before the tagged OK of DONE.  To a client this
# looks like a healthy connection: the worst case for push mail.
# shellcheck source=tests/lab/lib.sh
. "$(dirname "$0")/lib.sh"
lab_test_init lab-loose

T=4
lab_up "t-loose-$$" --timeout "$T" --mode loose

alive_and_dead "$T" --wait-done 5

expect "$T_TMP/dead" DONE_RESULT ok "silent T + 2 s: DONE still gets its tagged OK"
expect "$T_TMP/dead" EXISTS_AFTER_DONE yes "the lost push arrives late, after DONE, before the OK"
# The late EXISTS and the OK come with the server's next retransmission of
# the lost push (exponential backoff), not at once.
say "DONE answered after $(result "$T_TMP/dead" DONE_MS) ms"
finish
