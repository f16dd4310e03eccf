#!/usr/bin/env bash
# drop mode: an expired NAT mapping silently loses the push, and the client's
# next packet gets no answer; a mapping silent for less than the timeout
# still carries the push.
# shellcheck source=tests/lab/lib.sh
. "$(dirname "$0")/lib.sh"
lab_test_init lab-drop

T=4
lab_up "t-drop-$$" --timeout "$T" --mode drop

alive_and_dead "$T" --wait-done 3

expect "$T_TMP/dead" DONE_RESULT silent "silent T + 2 s: DONE gets no answer at all"

# The NAT really has the timeout and the loose setting of drop mode.
status=$(lab status "t-drop-$$") || fail "status failed"
if grep -q "tcp_timeout_established=$T tcp_loose=0" <<<"$status"; then
  ok "status shows the NAT's conntrack settings"
else
  fail "status: $status"
fi
finish
