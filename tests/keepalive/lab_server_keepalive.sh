#!/usr/bin/env bash
# natidle keepalive relying on the server's own keepalive (label lab).  The
# lab's Dovecot sends "* OK Still here" every 20 s during IDLE behind a NAT
# that forgets after 30 s: what natidle probe reports as masked_by_server.
# Given such a summary (lower_s 18.5, server_keepalive_s 20, no
# recommendation), natidle keepalive --from-summary runs for 90 s and
#   - logs that it relies on the server (a server row, outcome relying) and
#     never that the server's keepalive was missed;
#   - sends no keepalive of its own (no keepalive row, tally keepalives=0),
#     although 90 s of silence is three times the NAT's timeout;
#   - still gets push: a message appended after 50 s (longer than the NAT
#     keeps a silent mapping) is printed as pushed within seconds.
set -euo pipefail
. "$(dirname "$0")/../lab/lib.sh"
lab_test_init keepalive_server_ka

LAB=mk$$
LAB=${LAB:0:12}
NET=lab-masked-30s
W=$T_TMP
chmod 755 "$W"
lab_up "$LAB" --timeout 30 --mode drop --server-keepalive 20
conn=(--server "${E[SERVER_ADDR]}" --port "${E[PORT_IMAPS]}" --ca-file "${E[CA_FILE]}")

cat >"$W/sum.csv" <<EOF
run_id,network,server,port,tls,direction,lower_s,upper_s,estimate_s,observations,wall_s,server_keepalive_s,recommended_keepalive_s,verdict
mk1,$NET,${E[SERVER_ADDR]},${E[PORT_IMAPS]},imaps,inbound,18.500,,,6,61.0,20.0,,masked_by_server
EOF

t0=$SECONDS
timeout 150 "${LAB_CMD[@]}" exec "$LAB" "$NATIDLE_BIN" keepalive "${conn[@]}" --user natidle1 \
  --password-file "${E[PASSWORD_DIR]}/natidle1" --from-summary "$W/sum.csv" --network "$NET" \
  --log "$W/ka.csv" --duration 90 >"$W/ka.out" 2>"$W/ka.err" &
ka_pid=$!
on_exit_kill() { kill "$ka_pid" 2>/dev/null || true; }
trap 'on_exit_kill; cleanup' EXIT

# Until the session is in IDLE (at most 30 s).
for _ in $(seq 300); do
  grep -q ',connect,,ok,' "$W/ka.csv" 2>/dev/null && break
  kill -0 "$ka_pid" 2>/dev/null || break
  sleep 0.1
done
grep -q ',connect,,ok,' "$W/ka.csv" 2>/dev/null ||
  { fail "natidle keepalive never reached IDLE: $(tail -5 "$W/ka.err")"; exit 1; }
say "in IDLE after $((SECONDS - t0)) s"

# 50 s later, one message into natidle1's INBOX from the server's own
# namespace (the appender never crosses the NAT).
sleep 50
ip netns exec "${E[NS_SERVER]}" python3 - "$T_SRC/tests/keepalive" "${E[SERVER_ADDR]}" \
  "${E[PORT_IMAPS]}" "${E[CA_FILE]}" "${E[PASSWORD_DIR]}/natidle1" <<'PY'
import sys, types
sys.path.insert(0, sys.argv[1])
from soak import Appender
opts = dict(host=sys.argv[2], port=int(sys.argv[3]), tls="imaps", ca_file=sys.argv[4],
            user="natidle1", password_file=sys.argv[5], mailbox="INBOX")
box = Appender(types.SimpleNamespace(**opts))
box.append("relying on the server's keepalive")
box.close()
PY
appended=$SECONDS
say "appended after $((appended - t0)) s"
for _ in $(seq 100); do
  grep -q '^new uid=' "$W/ka.out" && break
  sleep 0.1
done
grep -q '^new uid=.*relying on the server' "$W/ka.out" &&
  ok "the message was pushed within $((SECONDS - appended)) s" ||
  fail "the message was not printed within 10 s"

rc=0
wait "$ka_pid" || rc=$?
[ "$rc" -eq 0 ] && ok "natidle keepalive ran its 90 s (exit 0)" ||
  fail "natidle keepalive exited $rc: $(tail -5 "$W/ka.err")"
cat "$W/ka.err" >&2
tally=$(grep '^tally ' "$W/ka.out" || true)
say "$tally"
[[ " $tally " == *" keepalives=0 "* ]] && ok "no keepalive of our own (tally)" ||
  fail "keepalives were sent: $tally"

python3 - "$W/ka.csv" <<'PY' && ok "the log: relying, never missed, no keepalive, the message pushed" ||
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
ev = lambda e, o=None: [r for r in rows if r["event"] == e and (o is None or r["outcome"] == o)]
checks = [
    ("started from the summary", [r["outcome"] for r in ev("start")] == ["from-summary"]),
    ("relies on the server's keepalive every 20 s",
     [float(r["interval_s"]) for r in ev("server", "relying")] == [20.0]),
    ("never missed it", not ev("server", "missed")),
    ("no keepalive row", not ev("keepalive")),
    ("no connection lost", not ev("lost")),
    ("the message was pushed", len(ev("message", "pushed")) == 1),
    ("the own cadence, for a fallback, stays below the server's interval",
     all(float(r["cadence_s"]) < 20 for r in ev("cadence"))),
]
for what, good in checks:
    print("  %s: %s" % (what, "yes" if good else "NO"), file=sys.stderr)
sys.exit(0 if all(g for _, g in checks) else 1)
PY
  fail "the log does not show the server's keepalive relied on: $(cat "$W/ka.csv")"
finish
