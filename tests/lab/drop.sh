#!/usr/bin/env bash
# drop mode: an expired NAT mapping silently loses the push, and the client's
# next packet gets no answer; a mapping silent for less than the timeout
# still carries the push.
# shellcheck source=tests/lab/lib.sh
. "$(dirname "$0")/lib.sh"
lab_test_init lab-drop

T=4
lab_up "t-drop-$$" --timeout "$T" --mode drop

# Both sessions run at once, on two accounts (so each mailbox's APPEND
# reaches only its own session): one silent T - 1.5 s, one silent T + 2 s.
push_run "$T_TMP/alive" natidle1 2.5 & a=$!
push_run "$T_TMP/dead" natidle2 $((T + 2)) --wait-push 2 --wait-done 3 & d=$!
wait "$a" || fail "alive run did not complete"
wait "$d" || fail "dead run did not complete"

expect "$T_TMP/alive" EXISTS_BEFORE_DONE yes "silent 2.5 s < T: the push arrives"
expect "$T_TMP/alive" DONE_RESULT ok "silent 2.5 s < T: DONE answered"
expect "$T_TMP/dead" SILENCE_BYTES 0 "nothing reached the dead session while silent"
expect "$T_TMP/dead" EXISTS_BEFORE_DONE no "silent T + 2 s: the push is lost"
expect "$T_TMP/dead" DONE_RESULT silent "silent T + 2 s: DONE gets no answer at all"

# The NAT really has the timeout and the loose setting of drop mode.
status=$(lab status "t-drop-$$") || fail "status failed"
if grep -q "tcp_timeout_established=$T tcp_loose=0" <<<"$status"; then
  ok "status shows the NAT's conntrack settings"
else
  fail "status: $status"
fi
finish
