#!/usr/bin/env bash
# natidle keepalive --family 6 over the lab's IPv6 path (label lab): the lab
# (--ipv6) is a stateful IPv6 firewall with a 6 s idle timeout.  With
# --nat-timeout 6 the keepalives (every 4 s of silence: the timeout minus
# the 2 s margin) keep the firewall's state alive through the 9 s before
# the first message, every message appended from the server's side is
# pushed within seconds, exactly once, with no reconnect.  --family 4 to the
# server's IPv6 address connects to nothing and says why.  About 40 s.
# Needs root; exits 77 (skipped) without it.
# shellcheck source=tests/lab/lib.sh
. "$(dirname "$0")/../lab/lib.sh"
lab_test_init keepalive-ipv6
: "${NATIDLE_BIN:?run through ctest}"
T=6

lab_up "v6ka$$" --ipv6 --timeout "$T" --mode drop --accounts 1
SRV=${E[SERVER_ADDR6]:-}
[ -n "$SRV" ] || { fail "the lab shows no SERVER_ADDR6"; finish; }
PORT=${E[PORT_IMAPS]:-993}
ka=("${LAB_CMD[@]}" exec "${E[LAB]}" "$NATIDLE_BIN" keepalive --server "$SRV" --port "$PORT"
    --ca-file "${E[CA_FILE]}" --user "${E[USER]}" --password-file "${E[PASSWORD_FILE]}")

# --family 4 to an IPv6 address: no connection, the reason said.
rc=0
timeout -k 5 30 "${ka[@]}" --family 4 --duration 3 --log "$T_TMP/v4.csv" >"$T_TMP/v4.out" 2>"$T_TMP/v4.err" || rc=$?
if grep -q 'no IPv4 address' "$T_TMP/v4.err" && ! grep -q ',connect,ok,' "$T_TMP/v4.csv"; then
  ok "--family 4 to $SRV: no connection (exit $rc)"
else
  fail "--family 4 to $SRV: exit $rc, $(tr '\n' ' ' <"$T_TMP/v4.err")"
fi

# The appender connects from the server's side, so it never crosses the
# firewall, and over IPv4: in this lab Dovecot reports a message appended
# over an IPv6 connection to a NOTIFY session only with the session's next
# command (seconds late), one appended over IPv4 at once.  The appender's
# path is not what is tested here.
if ip netns exec "${E[NS_SERVER]}" python3 "$T_SRC/tests/keepalive/soak.py" \
  --host "${E[SERVER_ADDR]}" --port "$PORT" --ca-file "${E[CA_FILE]}" --user "${E[USER]}" \
  --password-file "${E[PASSWORD_FILE]}" --log "$T_TMP/ka.csv" \
  --messages 3 --first-gap 9 --gap 1:9 --max-delay 2.5 --max-reconnects 0 \
  --keepalives 2:100 --keepalive-every 3.5 --expect-event keepalive/answered \
  --expect-event message/pushed \
  -- "${ka[@]}" --family 6 --nat-timeout "$T" --log "$T_TMP/ka.csv"; then
  ok "keepalive --family 6 over the lab's IPv6 firewall: every message pushed, no reconnect"
else
  fail "keepalive --family 6 over the lab's IPv6 firewall"
fi
finish
