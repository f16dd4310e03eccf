#!/usr/bin/env bash
# natidle keepalive across a rebind of the lab's carrier NAT (label lab): a
# 16 s NAT whose bracket the scheduler learned before (--adaptive with a
# --state file holding (15.5, 16.3] s), so it keeps a steady cadence just
# below it.  Mid-silence the NAT's public address changes (a phone changing
# cell, a carrier NAT rebinding) and every mapping is gone.  From its --log:
#   - the next keepalive goes unanswered, the session reconnects (a lost row,
#     then connect ok) and resyncs: the message appended while the mapping
#     was gone comes once (fetched or late), the one appended after the
#     reconnect is pushed, each printed exactly once;
#   - nothing shorter is learned from the event: the bracket's lower end
#     stays at 15.5 s, no upper end below the NAT's 16 s appears, and a
#     keepalive after the same silence as before is answered again.
# shellcheck disable=SC2015 # "[ test ] && ok || fail": fail when either fails
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
. "$(dirname "$0")/../lab/lib.sh"
lab_test_init keepalive_rebind

T=16 LO_MS=15500 HI_MS=16300
NET=lab-rebind-${T}s
W=$T_TMP
chmod 755 "$W"
lab_up "rbk$$" --timeout "$T" --mode drop --accounts 1
conn=(--server "${E[SERVER_ADDR]}" --port "${E[PORT_IMAPS]}" --ca-file "${E[CA_FILE]}")
printf 'natidle-keepalive-state 1\n%s\t%s\t%s\t%s\nend 1\n' "$NET" "$LO_MS" "$HI_MS" \
  "$(date +%s)" >"$W/state"

# append SUBJECT: one message into natidle1's INBOX (append_mail).
append() { append_mail natidle1 "$1"; }

# rows EVENT [OUTCOME]: how many rows of the log match.
rows() {
  python3 - "$W/ka.csv" "$@" <<'EOF'
import csv, sys
n = 0
try:
    for r in csv.DictReader(open(sys.argv[1], newline="")):
        n += r["event"] == sys.argv[2] and (len(sys.argv) < 4 or r["outcome"] == sys.argv[3])
except FileNotFoundError:
    pass
print(n)
EOF
}

# wait_rows N SECONDS EVENT [OUTCOME]: until the log has N such rows.
wait_rows() {
  local n=$1 end=$((SECONDS + $2))
  shift 2
  while [ "$SECONDS" -lt "$end" ]; do
    [ "$(rows "$@")" -ge "$n" ] && return 0
    kill -0 "$ka_pid" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

t0=$SECONDS
timeout -k 10 240 "${LAB_CMD[@]}" exec "${E[LAB]}" "$NATIDLE_BIN" keepalive "${conn[@]}" \
  --user natidle1 --password-file "${E[PASSWORD_DIR]}/natidle1" --adaptive --state "$W/state" \
  --network "$NET" --log "$W/ka.csv" --duration 200 >"$W/ka.out" 2>"$W/ka.err" &
ka_pid=$!

wait_rows 1 30 connect ok || { fail "natidle keepalive never connected: $(tail -5 "$W/ka.err")"; exit 1; }
# One keepalive at the steady cadence first, so its silence is known.
wait_rows 1 40 keepalive answered || fail "no keepalive answered before the rebind"
append "rebind before"
sleep 4
rebound_ms=$(date +%s%3N)
lab rebind "${E[LAB]}" || fail "lab rebind failed"
say "rebind $((SECONDS - t0)) s into the run"
sleep 2
append "rebind during"
wait_rows 2 60 connect ok || fail "no reconnect within 60 s of the rebind: $(tail -5 "$W/ka.err")"
say "reconnected $((SECONDS - t0)) s into the run"
sleep 2
append "rebind after"
# Two keepalives after the reconnect: the first retries the lost silence.
answered=$(rows keepalive answered)
wait_rows $((answered + 2)) 60 keepalive answered || fail "no two keepalives answered after the reconnect"
kill -TERM "$ka_pid"
rc=0
wait "$ka_pid" || rc=$?
[ "$rc" -eq 130 ] && ok "natidle keepalive stopped by SIGTERM (130)" ||
  fail "natidle keepalive exited $rc: $(tail -5 "$W/ka.err")"
say "run: $((SECONDS - t0)) s, $(($(wc -l <"$W/ka.csv") - 1)) log rows"

for s in before during after; do
  n=$(grep -c "subject=\"rebind $s\"" "$W/ka.out" || true)
  [ "$n" -eq 1 ] && ok "'rebind $s' printed once: $(grep "subject=\"rebind $s\"" "$W/ka.out")" ||
    fail "'rebind $s' printed $n times"
done

python3 - "$W/ka.csv" "$rebound_ms" "$T" "$LO_MS" "$HI_MS" <<'EOF' && ok "reconnected, resynced, learned nothing shorter" || fail "the log does not show it"
import csv, datetime, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
at, T = int(sys.argv[2]) / 1000.0, float(sys.argv[3])
lo, hi = int(sys.argv[4]) / 1000.0, int(sys.argv[5]) / 1000.0
def t(r):
    return datetime.datetime.strptime(r["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
after = [r for r in rows if t(r) >= at]
before = [r for r in rows if t(r) < at]
lost = [r for r in after if r["event"] == "lost"]
conn = [r for r in after if r["event"] == "connect" and r["outcome"] == "ok" and lost and t(r) >= t(lost[0])]
ka_before = [float(r["interval_s"]) for r in before if r["event"] == "keepalive" and r["outcome"] == "answered"]
ka_after = [float(r["interval_s"]) for r in after if r["event"] == "keepalive" and r["outcome"] == "answered"
            and conn and t(r) > t(conn[0])]
cad = [r for r in rows if r["event"] == "cadence"]
lows = [float(r["lower_s"]) for r in cad if r["lower_s"]]
ups = [float(r["upper_s"]) for r in cad if r["upper_s"]]
msgs = [r for r in after if r["event"] == "message"]
for r in cad:
    print("  cadence %s: lower %s upper %s cadence %s" % (r["outcome"], r["lower_s"], r["upper_s"],
                                                       r["cadence_s"]), file=sys.stderr)
checks = [
    ("the session lost its connection after the rebind (%s)" % ",".join(r["outcome"] for r in lost), bool(lost)),
    ("it reconnected after that", bool(conn)),
    ("a message came after the rebind (%s)" % ",".join(r["outcome"] for r in msgs), len(msgs) >= 2),
    ("the lower end never went below %.1f s (%s)" % (lo, min(lows) if lows else "none"),
     bool(lows) and min(lows) >= lo - 0.001),
    ("no upper end below the NAT's %g s (%s)" % (T, min(ups) if ups else "none"),
     all(u >= T - 0.5 for u in ups)),
    ("a keepalive after the reconnect, at the silence before it (%s vs %s)" % (ka_after, ka_before),
     bool(ka_before) and bool(ka_after) and max(ka_after) >= min(ka_before) - 0.5),
]
for what, good in checks:
    print("  %s: %s" % (what, "yes" if good else "NO"), file=sys.stderr)
sys.exit(0 if all(g for _, g in checks) else 1)
EOF
if [ "$T_FAILS" -ne 0 ]; then
  cat "$W/ka.err" >&2
  cut -d, -f1,3-8,10,12-14 "$W/ka.csv" >&2
fi
finish
