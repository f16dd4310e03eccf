#!/usr/bin/env bash
# natidle keepalive --family 6 over the lab's IPv6 path (label lab): the lab
# (--ipv6) is a stateful IPv6 firewall with a 6 s idle timeout.  With
# --nat-timeout 6 the keepalives (every 4 s of silence: the timeout minus
# the 2 s margin) keep the firewall's state alive through the 9 s before
# the first message, every message appended from the server's side is
# pushed within seconds, exactly once, with no reconnect.  --family 4 to the
# server's IPv6 address connects to nothing and says why.  About 40 s.
# Needs root; exits 77 (skipped) without it.
set -euo pipefail
: "${NATIDLE_SRC:?}" "${NATIDLE_BIN:?}"
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
read -r -a LAB <<<"${NATIDLE_LAB:-$NATIDLE_BIN lab}"
SOAK=$NATIDLE_SRC/tests/keepalive/soak.py
T=6

NAME=v6ka$$
WORK=$(mktemp -d /tmp/natidle-ka-ipv6.XXXXXX)
chmod 755 "$WORK"
cleanup() {
  "${LAB[@]}" down "$NAME" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"${LAB[@]}" up "$NAME" --ipv6 --timeout "$T" --mode drop --accounts 1 >"$WORK/up.log" 2>&1 ||
  { cat "$WORK/up.log" >&2; echo "FAIL: lab up failed" >&2; exit 1; }
declare -A E
while IFS= read -r line; do
  [[ $line == *=* ]] && E[${line%%=*}]=${line#*=}
done < <("${LAB[@]}" env "$NAME")
for k in SERVER_ADDR SERVER_ADDR6 CA_FILE USER PASSWORD_FILE NS_SERVER; do
  [ -n "${E[$k]:-}" ] || { echo "FAIL: lab env lacks $k" >&2; exit 1; }
done
SRV=${E[SERVER_ADDR6]}
PORT=${E[PORT_IMAPS]:-993}
ka=("${LAB[@]}" exec "$NAME" "$NATIDLE_BIN" keepalive --server "$SRV" --port "$PORT"
    --ca-file "${E[CA_FILE]}" --user "${E[USER]}" --password-file "${E[PASSWORD_FILE]}")

# --family 4 to an IPv6 address: no connection, the reason in the log.
rc=0
timeout -k 5 30 "${ka[@]}" --family 4 --duration 3 --log "$WORK/v4.csv" >"$WORK/v4.out" 2>"$WORK/v4.err" || rc=$?
if grep -q 'no IPv4 address' "$WORK/v4.err" "$WORK/v4.csv" 2>/dev/null &&
  ! grep -q ',connect,ok,' "$WORK/v4.csv"; then
  echo "ok: --family 4 to $SRV: no connection (exit $rc)"
else
  echo "FAIL: --family 4 to $SRV: exit $rc, $(tr '\n' ' ' <"$WORK/v4.err")" >&2
  exit 1
fi

# The appender connects from the server's side, so it never crosses the
# firewall, and over IPv4: in this lab Dovecot reports a message appended
# over an IPv6 connection to a NOTIFY session only with the session's next
# command (seconds late), one appended over IPv4 at once.  The appender's
# path is not what is tested here.
ip netns exec "${E[NS_SERVER]}" python3 "$SOAK" --host "${E[SERVER_ADDR]}" --port "$PORT" \
  --ca-file "${E[CA_FILE]}" --user "${E[USER]}" --password-file "${E[PASSWORD_FILE]}" \
  --log "$WORK/ka.csv" \
  --messages 3 --first-gap 9 --gap 1:9 --max-delay 2.5 --max-reconnects 0 \
  --keepalives 2:100 --keepalive-every 3.5 --expect-event keepalive/answered \
  --expect-event message/pushed \
  -- "${ka[@]}" --family 6 --nat-timeout "$T" --log "$WORK/ka.csv"
echo "ok: keepalive --family 6 over the lab's IPv6 firewall"
