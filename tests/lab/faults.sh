#!/usr/bin/env bash
# The lab's fault operations on a running lab (NAT timeout 30 s, far away):
# flush forgets a live mapping, link down/up cuts the client off and brings
# it back, set changes the delay, restart-dovecot disconnects the server's
# clients and keeps accounts, passwords and CA.
# shellcheck source=tests/lab/lib.sh
. "$(dirname "$0")/lib.sh"
lab_test_init lab-faults

L=t-faults-$$
lab_up "$L" --timeout 30 --mode drop

# ping_min: the shortest round trip in ms from the client to the server
# (the first ping may include an ARP exchange), or nothing when no reply
# came.
ping_min() {
  timeout 20 "${LAB_CMD[@]}" exec "$L" ping -n -q -c 3 -i 0.2 -W 2 "${E[SERVER_ADDR]}" 2>/dev/null |
    sed -n 's|^rtt [^=]*= \([0-9.]*\)/.*|\1|p' || true
}

# flush: a session silent for 3 s, its mapping forgotten at 1.5 s.
push_run "$T_TMP/flush" natidle1 3 --wait-push 2 --wait-done 2 & p=$!
sleep 1.5
lab flush "$L" || fail "flush failed"
wait "$p" || fail "flush run did not complete"
expect "$T_TMP/flush" EXISTS_BEFORE_DONE no "after flush the push is lost"
expect "$T_TMP/flush" DONE_RESULT silent "after flush DONE gets no answer"

# link: down at 1 s for about 2 s, push at 6 s: TCP carries on.
push_run "$T_TMP/link" natidle1 6 --wait-push 3 & p=$!
sleep 1
lab link "$L" down || fail "link down failed"
# ping exits 1 when no reply came and 2 on any other error (a missing
# binary gives 126/127): only 1 proves the link is down.
prc=0
timeout 5 "${LAB_CMD[@]}" exec "$L" ping -n -q -c 1 -W 1 "${E[SERVER_ADDR]}" >/dev/null 2>&1 || prc=$?
case $prc in
  0) fail "link down: the server still answers" ;;
  1) ok "link down: no reply from the server" ;;
  *) fail "link down: ping could not run (exit $prc)" ;;
esac
sleep 1
lab link "$L" up || fail "link up failed"
wait "$p" || fail "link run did not complete"
expect "$T_TMP/link" EXISTS_BEFORE_DONE yes "link down for 2 s within the timeout: the push arrives"
if [ -n "$(ping_min)" ]; then ok "link up: the server answers"; else fail "link up: no reply"; fi

# set: 300 ms of round trip, then none again (netem, or the lab's
# user-space link relay on kernels without netem).
say "delay engine: ${E[DELAY_ENGINE]}"
if "${LAB_CMD[@]}" set "$L" --latency 300 2>"$T_TMP/set.err"; then
  rtt=$(ping_min)
  if [ -n "$rtt" ] && awk -v r="$rtt" 'BEGIN { exit !(r >= 290 && r < 3000) }'; then
    ok "set --latency 300: ping round trip $rtt ms"
  else
    fail "set --latency 300: ping round trip '${rtt}' ms"
  fi
  # Captured first: grep -q stopping early would break the writer's pipe.
  env_out=$("${LAB_CMD[@]}" env "$L") || fail "env failed"
  if grep -qx 'LATENCY_MS=300' <<<"$env_out"; then ok "env shows LATENCY_MS=300"; else fail "env does not show the new latency"; fi
  lab set "$L" --latency 0 || fail "set --latency 0 failed"
  rtt=$(ping_min)
  if [ -n "$rtt" ] && awk -v r="$rtt" 'BEGIN { exit !(r < 100) }'; then
    ok "set --latency 0: ping round trip $rtt ms"
  else
    fail "set --latency 0: ping round trip '${rtt}' ms"
  fi
else
  fail "set --latency 300: $(cat "$T_TMP/set.err")"
fi

# restart-dovecot while a session IDLEs: the session is closed by the
# server; the APPEND after the restart logs in with the same password over
# TLS checked against the same CA file (idle_push fails otherwise).
push_run "$T_TMP/restart" natidle1 12 --wait-push 1 --wait-done 2 & p=$!
sleep 1
start=$(date +%s)
lab restart-dovecot "$L" || fail "restart-dovecot failed"
say "restart-dovecot took $(($(date +%s) - start)) s"
if wait "$p"; then ok "after restart-dovecot: login, TLS and APPEND work"; else fail "after restart-dovecot the APPEND failed"; fi
expect "$T_TMP/restart" SILENCE_EOF yes "restart-dovecot closed the IDLE session"
finish
