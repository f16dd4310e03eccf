#!/usr/bin/env bash
# A server keepalive shorter than the NAT timeout ("* OK Still here" every
# 1 s, NAT timeout 4 s) refreshes the mapping: the push survives a silence
# (of the client) well beyond the NAT timeout.
# shellcheck source=tests/lab/lib.sh
. "$(dirname "$0")/lib.sh"
lab_test_init lab-server-keepalive

T=4
lab_up "t-ska-$$" --timeout "$T" --mode drop --server-keepalive 1

push_run "$T_TMP/long" natidle1 $((T + 3)) --wait-push 3 & l=$!
wait "$l" || fail "run did not complete"

expect "$T_TMP/long" EXISTS_BEFORE_DONE yes "client silent T + 3 s with server keepalives: the push arrives"
expect "$T_TMP/long" DONE_RESULT ok "DONE answered"
n=$(result "$T_TMP/long" STILL_HERE)
if [ "${n:-0}" -ge $((T / 2)) ]; then
  ok "the server sent keepalives during the silence ($n)"
else
  fail "expected at least $((T / 2)) '* OK Still here' during $((T + 3)) s, got ${n:-none}"
fi
finish
