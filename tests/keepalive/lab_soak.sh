#!/usr/bin/env bash
# Soak tests of natidle keepalive behind the lab's carrier NAT (label lab).
#   lab_soak.sh nat-timeout   --nat-timeout T: every push within seconds, and
#                             the keepalive count within its bound
#   lab_soak.sh interval      --interval above T: the push is lost, the
#                             unanswered keepalive is detected, the message
#                             comes late after the reconnect, exactly once
#   lab_soak.sh flush         conntrack flushed mid-run (plain IDLE): the
#                             session reconnects, no message lost or doubled
#   lab_soak.sh polling-cyrus | polling-courier
#                             a server that reports new mail to IDLE only
#                             by polling (every 5 s here), no NAT to speak
#                             of: every message once, within a poll, and no
#                             keepalive lost, no reconnect, the cadence never
#                             lowered (mail seen in keepalive answers is a
#                             late push, not a lost one)
# Each case brings up its own lab (name natidle-ka-<case>-<pid>) and tears it
# down on exit, also on failure.  The appender runs in the server's
# namespace, so it never crosses the NAT; natidle runs in the client's.
# Needs root; exits 77 (skipped) without it.
set -euo pipefail
: "${NATIDLE_SRC:?}" "${NATIDLE_BIN:?}"
CASE=${1:?usage: lab_soak.sh nat-timeout|interval|flush}
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
# NATIDLE_LAB, when set, is the lab script to run instead (as for natidle lab).
read -r -a LAB <<<"${NATIDLE_LAB:-$NATIDLE_BIN lab}"
SOAK=$NATIDLE_SRC/tests/keepalive/soak.py
T=6 # the NAT's idle timeout in this test, seconds

NAME=ka${CASE:0:3}${CASE: -3}$$
NAME=${NAME:0:20}
SERVER_ARGS=()
case $CASE in
  polling-cyrus) T=600 SERVER_ARGS=(--server cyrus --server-opt idle-poll=5) ;;
  polling-courier) T=600 SERVER_ARGS=(--server courier --server-opt idle-timeout=5) ;;
esac
WORK=$(mktemp -d /tmp/natidle-ka-lab.XXXXXX)
chmod 755 "$WORK"
cleanup() {
  "${LAB[@]}" down "$NAME" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"${LAB[@]}" up "$NAME" --timeout "$T" --mode drop --accounts 1 "${SERVER_ARGS[@]}" >"$WORK/up.log" 2>&1 ||
  { cat "$WORK/up.log" >&2; echo "lab up failed" >&2; exit 1; }
declare -A E
while IFS= read -r line; do
  [[ $line == *=* ]] && E[${line%%=*}]=${line#*=}
done < <("${LAB[@]}" env "$NAME")
for k in SERVER_ADDR CA_FILE USER PASSWORD_FILE; do
  [ -n "${E[$k]:-}" ] || { echo "lab env lacks $k" >&2; exit 1; }
done
PORT=${E[PORT_IMAPS]:-993}

# The appender connects from the server's side when the lab names it.
APPEND_IN=()
[ -n "${E[NS_SERVER]:-}" ] && APPEND_IN=(ip netns exec "${E[NS_SERVER]}")
soak=("${APPEND_IN[@]}" python3 "$SOAK" --host "${E[SERVER_ADDR]}" --port "$PORT"
      --ca-file "${E[CA_FILE]}" --user "${E[USER]}" --password-file "${E[PASSWORD_FILE]}"
      --log "$WORK/ka.csv")
ka=("${LAB[@]}" exec "$NAME" "$NATIDLE_BIN" keepalive --server "${E[SERVER_ADDR]}" --port "$PORT"
    --ca-file "${E[CA_FILE]}" --user "${E[USER]}" --password-file "${E[PASSWORD_FILE]}"
    --log "$WORK/ka.csv")

case $CASE in
nat-timeout)
  # Cadence T minus the 2 s margin = 4 s of silence.  The first gap (9 s)
  # needs two keepalives; the count may not exceed one per 3.5 s.  Pushes
  # must arrive within 2.5 s (Dovecot's NOTIFY batches for ~0.5 s).
  "${soak[@]}" --messages 5 --first-gap 9 --gap 1:9 --max-delay 2.5 --max-reconnects 0 \
    --keepalives 2:100 --keepalive-every 3.5 --expect-event keepalive/answered \
    --expect-event message/pushed \
    -- "${ka[@]}" --nat-timeout "$T"
  ;;
interval)
  # Keepalives every 10 s of silence on a 6 s NAT: the message appended
  # after 8 s of silence is dropped by the NAT, the keepalive at 10 s too.
  # The reply deadline must catch it; the message then comes by the resync.
  "${soak[@]}" --messages 2 --first-gap 8 --gap 1:2 --settle 40 --expect-late "$T" \
    --min-reconnects 1 --expect-event keepalive/unanswered --expect-event message/late \
    -- "${ka[@]}" --interval 10
  ;;
flush)
  # The NAT forgets every mapping after the second message (5 s in: one
  # keepalive has been answered, so the reply deadline is short).  The next
  # keepalive goes unanswered; the session reconnects and resyncs.
  "${soak[@]}" --messages 5 --first-gap 5 --gap 0.5:4 --settle 30 \
    --flush-cmd "${LAB[*]} flush $NAME" --flush-after 2 --min-reconnects 1 \
    --expect-event keepalive/unanswered --expect-event message/fetched \
    -- "${ka[@]}" --nat-timeout "$T" --no-notify
  ;;
polling-*)
  # Keepalives every 6 s (a NAT of 8 s, as far as the client knows); the
  # server reports each message at its next poll, up to 5 s late, often
  # first in a keepalive's answer.
  "${soak[@]}" --messages 3 --first-gap 8 --gap 7:12 --settle 12 --max-delay 8 \
    --max-reconnects 0 --keepalives 1:100 --expect-event keepalive/answered \
    -- "${ka[@]}" --nat-timeout 8 --no-notify
  python3 - "$WORK/ka.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
bad = [r for r in rows if r["event"] == "keepalive" and r["outcome"] != "answered"]
cad = [float(r["cadence_s"]) for r in rows if r["event"] == "cadence" and r.get("cadence_s")]
if bad:
    sys.exit("FAIL: keepalives not answered: %d" % len(bad))
if cad and min(cad) < cad[0]:
    sys.exit("FAIL: the cadence was lowered from %.1f s to %.1f s" % (cad[0], min(cad)))
print("ok: %d keepalives answered, cadence %s" % (
    sum(1 for r in rows if r["event"] == "keepalive"), cad[:1] and "%.1f s throughout" % cad[0]))
PY
  ;;
*)
  echo "unknown case $CASE" >&2
  exit 2
  ;;
esac
