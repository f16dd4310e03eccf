#!/usr/bin/env bash
# examples/poll_client (the scheduler alone, plain sockets and poll())
# behind the lab's carrier NAT with a 6 s idle timeout (label lab): it logs
# in over plain IMAP, waits in IDLE, and the scheduler's keepalives (every
# 4 s: the timeout minus the 2 s margin) keep the mapping alive through
# silences of 9 to 10 s between messages, so every message appended from
# the server's side is pushed within seconds, printed exactly once, with no
# reconnect.  About 25 s.  Needs root; exits 77 (skipped) without it.
set -euo pipefail
: "${NATIDLE_SRC:?}" "${NATIDLE_BIN:?}" "${NATIDLE_BUILD:?}"
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
read -r -a LAB <<<"${NATIDLE_LAB:-$NATIDLE_BIN lab}"
SOAK=$NATIDLE_SRC/tests/keepalive/soak.py
CLIENT=$NATIDLE_BUILD/poll_client
[ -x "$CLIENT" ] || { echo "FAIL: $CLIENT is not built"; exit 1; }
T=6

NAME=kapoll$$
WORK=$(mktemp -d /tmp/natidle-poll-lab.XXXXXX)
chmod 755 "$WORK"
cleanup() {
  "${LAB[@]}" down "$NAME" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"${LAB[@]}" up "$NAME" --timeout "$T" --mode drop --accounts 1 >"$WORK/up.log" 2>&1 ||
  { cat "$WORK/up.log" >&2; echo "lab up failed" >&2; exit 1; }
declare -A E
while IFS= read -r line; do
  [[ $line == *=* ]] && E[${line%%=*}]=${line#*=}
done < <("${LAB[@]}" env "$NAME")
for k in SERVER_ADDR USER PASSWORD_FILE NS_SERVER; do
  [ -n "${E[$k]:-}" ] || { echo "lab env lacks $k" >&2; exit 1; }
done
PORT=${E[PORT_IMAP]:-143}

# The password reaches the client through its environment (lab exec keeps
# it), never its command line.  The appender runs in the server's namespace,
# so its own connection never crosses the NAT.
NATIDLE_PASSWORD=$(cat "${E[PASSWORD_FILE]}")
export NATIDLE_PASSWORD
ip netns exec "${E[NS_SERVER]}" python3 "$SOAK" --host "${E[SERVER_ADDR]}" --port "$PORT" \
  --tls none --user "${E[USER]}" --password-file "${E[PASSWORD_FILE]}" \
  --messages 3 --first-gap 3 --gap 9:10 --max-delay 2.5 --max-reconnects 0 \
  --keepalives 3:100 --keepalive-every 3.5 \
  -- "${LAB[@]}" exec "$NAME" "$CLIENT" --allow-plaintext --nat-timeout "$T" \
  "${E[SERVER_ADDR]}" "$PORT" "${E[USER]}"
