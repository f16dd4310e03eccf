#!/usr/bin/env bash
# rebind: the NAT's public address changes while a session IDLEs (a phone
# changing cell, a carrier NAT rebinding).  The session's mapping is gone:
# its push is lost and its DONE unanswered; a new connection works, from
# the new address.
# shellcheck disable=SC2015 # "[ test ] && ok || fail": fail when either fails
# shellcheck source=tests/lab/lib.sh
. "$(dirname "$0")/lib.sh"
lab_test_init lab-rebind

L=t-rebind-$$
lab_up "$L" --timeout 30 --mode drop
old=${E[NAT_OUTSIDE_ADDR]}

push_run "$T_TMP/spans" natidle1 4 --wait-push 2 --wait-done 2 & p=$!
sleep 1.5
lab rebind "$L" || fail "rebind failed"
wait "$p" || fail "the session spanning the rebind did not complete"
expect "$T_TMP/spans" EXISTS_BEFORE_DONE no "a session spanning the rebind loses its push"
expect "$T_TMP/spans" DONE_RESULT silent "a session spanning the rebind gets no answer to DONE"

env_out=$("${LAB_CMD[@]}" env "$L") || fail "env failed"
new=$(sed -n 's/^NAT_OUTSIDE_ADDR=//p' <<<"$env_out")
if [ -n "$new" ] && [ "$new" != "$old" ]; then ok "NAT_OUTSIDE_ADDR $old -> $new"; else fail "NAT_OUTSIDE_ADDR stays '$new'"; fi

push_run "$T_TMP/after" natidle2 1 & p=$!
wait "$p" || fail "a new connection after the rebind failed"
expect "$T_TMP/after" EXISTS_BEFORE_DONE yes "a new connection after the rebind gets its push"
if ip netns exec "${E[NS_NAT]}" conntrack -L -p tcp 2>/dev/null | grep -q "dst=$new "; then
  ok "new mappings use the new address $new"
else
  fail "no mapping to the new address $new"
fi

# And back: the second rebind returns to the first address.
lab rebind "$L" || fail "second rebind failed"
env_out=$("${LAB_CMD[@]}" env "$L") || fail "env failed"
grep -qx "NAT_OUTSIDE_ADDR=$old" <<<"$env_out" && ok "a second rebind returns to $old" ||
  fail "a second rebind: $(grep NAT_OUTSIDE_ADDR <<<"$env_out")"
finish
