#!/usr/bin/env bash
# The keepalive log through natidle report, on the lab's carrier NAT (label
# lab).  natidle keepalive --adaptive --log learns a 12 s NAT from nothing
# while natidle probe measures the same network on a second account; three
# messages arrive: one pushed at once, one while the mapping is gone (its
# push is lost: it comes late, after the failed learning probe's
# reconnect), one once the cadence is steady.  Then:
#   - report summary: every count in its CSV and table matches the log's
#     rows as counted here with Python's csv module (not natidle's reader),
#     and natidle's own tally line;
#   - report plot: the timeline is valid XML and renders in Chromium to a
#     screenshot that is not blank;
#   - report html, without and with the probe's files of the same network:
#     the probe's recommended cadence next to the one the run settled on.
# Learning from nothing starts at 60 s and halves after each failure down to
# the scheduler's 10 s floor (NI_KA_MIN_INTERVAL_MS), so the NAT's timeout
# must lie above 10 s to be learnt: at 12 s the run settles after about
# 3.5 minutes (60, 30 and 15 s fail, 10 s survives, 12.5 s fails, 11.3 s
# survives; each failure also waits out a reply deadline of up to 15 s).
set -euo pipefail
. "$(dirname "$0")/../lab/lib.sh"
lab_test_init keepalive_report
for tool in xmllint; do
  command -v "$tool" >/dev/null || { say "FAIL: $tool is not installed (sudo ./run deps)"; exit 1; }
done
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { say "FAIL: chromium is not installed (sudo ./run deps)"; exit 1; }

T=12
NET=lab-${T}s
LAB=kr$$
W=$T_TMP
chmod 755 "$W"
lab_up "$LAB" --timeout "$T" --mode drop --accounts 2
conn=(--server "${E[SERVER_ADDR]}" --port "${E[PORT_IMAPS]}" --ca-file "${E[CA_FILE]}")

# append SUBJECT: one message into natidle1's INBOX (append_mail).
append() { append_mail natidle1 "$1"; }

# wait_row PATTERN SECONDS: until a row of the log matches the ERE.
wait_row() {
  local end=$((SECONDS + $2))
  while [ "$SECONDS" -lt "$end" ]; do
    grep -qE -- "$1" "$W/ka.csv" 2>/dev/null && return 0
    kill -0 "$ka_pid" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

t0=$SECONDS
"${LAB_CMD[@]}" exec "$LAB" "$NATIDLE_BIN" keepalive "${conn[@]}" --user natidle1 \
  --password-file "${E[PASSWORD_DIR]}/natidle1" --adaptive --network "$NET" \
  --log "$W/ka.csv" --duration 480 >"$W/ka.out" 2>"$W/ka.err" &
ka_pid=$!
"${LAB_CMD[@]}" exec "$LAB" "$NATIDLE_BIN" probe "${conn[@]}" --user natidle2 \
  --password-file "${E[PASSWORD_DIR]}/natidle2" --network "$NET" --csv "$W/obs.csv" \
  --summary "$W/sum.csv" --max 120 --no-capture --quiet >"$W/probe.out" 2>"$W/probe.err" &
probe_pid=$!

wait_row ',connect,,ok,' 30 || { fail "natidle keepalive never connected: $(tail -5 "$W/ka.err")"; exit 1; }
sleep 3
append "report pushed at once"
# 25 s of silence later the NAT has forgotten the mapping: this push is lost.
sleep 25
append "report lost push"
wait_row ',cadence,,steady,' 360 || { fail "no steady cadence within 6 minutes"; exit 1; }
say "steady after $((SECONDS - t0)) s"
sleep 2
append "report pushed when steady"
sleep 12
kill -TERM "$ka_pid"
rc=0
wait "$ka_pid" || rc=$?
[ "$rc" -eq 130 ] && ok "natidle keepalive stopped by SIGTERM (130)" ||
  fail "natidle keepalive exited $rc: $(tail -5 "$W/ka.err")"
rc=0
wait "$probe_pid" || rc=$?
[ "$rc" -eq 0 ] && ok "probe: $(tail -1 "$W/probe.out")" || fail "natidle probe exited $rc"
say "keepalive run: $((SECONDS - t0)) s, $(($(wc -l <"$W/ka.csv") - 1)) log rows"

# ---- The log counted here, independently of natidle's reader. ------------
python3 - "$W/ka.csv" >"$W/count" <<'EOF'
import csv, datetime, math, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
def t(r):
    return datetime.datetime.strptime(r["at"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
ev = lambda e, o=None: [r for r in rows if r["event"] == e and (o is None or r["outcome"] == o)]
lost = ev("lost")
reasons = {}
for r in lost:
    reasons[r["outcome"]] = reasons.get(r["outcome"], 0) + 1
delays = sorted(int(r["delay_ms"]) / 1000 for r in ev("message") if r["delay_ms"])
n = len(delays)
cad = ev("cadence")
out = {
    "rows": len(rows),
    "runs": len(ev("start")),
    "covered_s": t(ev("stop")[-1]) - t(ev("start")[0]),
    "keepalives": len(ev("keepalive")),
    "answered": len(ev("keepalive", "answered")),
    "unanswered": len(ev("keepalive", "unanswered")),
    "reconnects": len(lost),
    "reconnect_reasons": " ".join("%s:%d" % kv for kv in reasons.items()),
    "connect_failures": len([r for r in ev("connect") if r["outcome"] != "ok"]),
    "messages_pushed": len(ev("message", "pushed")),
    "messages_fetched": len(ev("message", "fetched")),
    "messages_late": len(ev("message", "late")),
    "delay_median_s": (delays[n // 2] if n % 2 else (delays[n // 2 - 1] + delays[n // 2]) / 2),
    "delay_p95_s": delays[math.ceil(0.95 * n) - 1],
    "delay_max_s": delays[-1],
    "wakeups": int(rows[-1]["wakeups"]),
    "cadence_start_s": float(cad[0]["cadence_s"]),
    "cadence_end_s": float(cad[-1]["cadence_s"]),
    "phase_end": cad[-1]["outcome"],
    "lower_s": float(cad[-1]["lower_s"]),
    "upper_s": float(cad[-1]["upper_s"]),
}
for k, v in out.items():
    print("%s=%s" % (k, v))
EOF
declare -A C=()
while IFS= read -r line; do C[${line%%=*}]=${line#*=}; done <"$W/count"
say "counted: $(tr '\n' ' ' <"$W/count")"

"$NATIDLE_BIN" report summary "$W/ka.csv" --csv "$W/summary.csv"
"$NATIDLE_BIN" report summary "$W/ka.csv" >"$W/table"
cat "$W/table" >&2
# Every counted field against natidle's CSV: numbers within a millisecond.
python3 - "$W/summary.csv" "$W/count" <<'EOF' && ok "report summary --csv matches the counted rows" || fail "report summary --csv disagrees with the counted rows"
import csv, sys
got = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
want = dict(l.rstrip("\n").split("=", 1) for l in open(sys.argv[2]))
assert len(got) == 1, got
bad = []
for k, v in want.items():
    g = got[0][k]
    try:
        same = abs(float(g) - float(v)) <= 0.0015
    except ValueError:
        same = g == v
    if not same:
        bad.append("%s: natidle %r, counted %r" % (k, g, v))
for b in bad:
    print("  " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
# The table says the same.
line=$(grep "^$NET " "$W/table" || true)
for want in "${C[keepalives]} (" "${C[answered]} (" "${C[reconnects]} (${C[reconnect_reasons]})" \
  "${C[messages_pushed]} / ${C[messages_fetched]} / ${C[messages_late]}" \
  "${C[cadence_start_s]%.0} -> " " ${C[phase_end]}"; do
  [[ $line == *"$want"* ]] || fail "the table row lacks '$want': $line"
done
# natidle's own tally line counts the same.
tally=$(grep '^tally ' "$W/ka.out" || true)
for kv in "keepalives=${C[keepalives]}" "answered=${C[answered]}" "unanswered=${C[unanswered]}" \
  "wakeups=${C[wakeups]}" "reconnects=${C[reconnects]}" "late=${C[messages_late]}" \
  "messages=$((C[messages_pushed] + C[messages_fetched] + C[messages_late]))"; do
  [[ " $tally " == *" $kv "* ]] || fail "tally lacks $kv: $tally"
done

# What the run must have shown, behind the counts.
python3 - "$W/count" "$T" <<'EOF' && ok "learnt a bracket around ${T} s and settled below it" || fail "the run did not show what it should"
import sys
c = dict(l.rstrip("\n").split("=", 1) for l in open(sys.argv[1]))
T = float(sys.argv[2])
checks = [
    ("a learning probe went unanswered", int(c["unanswered"]) >= 1),
    ("the lost push came late", int(c["messages_late"]) == 1),
    ("two pushes arrived in IDLE", int(c["messages_pushed"]) == 2),
    ("learning started at 60 s", float(c["cadence_start_s"]) == 60),
    ("the cadence settled", c["phase_end"] == "steady"),
    ("the cadence is below the NAT's timeout", float(c["cadence_end_s"]) < T),
    ("the bracket holds the timeout", float(c["lower_s"]) < T + 1 < float(c["upper_s"]) + 1
     and float(c["upper_s"]) > T - 1),
    ("the late message waited for the reconnect", float(c["delay_max_s"]) > 20),
]
for what, good in checks:
    print("  %s: %s" % (what, "yes" if good else "NO"), file=sys.stderr)
sys.exit(0 if all(g for _, g in checks) else 1)
EOF

# ---- The timeline, rendered by a browser. ---------------------------------
chrome() {
  timeout -k 5 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$W/profile" "$@" 2>"$W/chromium.log"
}
"$NATIDLE_BIN" report plot "$W/ka.csv" --svg "$W/timeline.svg"
xmllint --noout "$W/timeline.svg" && ok "the timeline is well-formed XML" || fail "timeline XML"
chrome --window-size=960,640 --screenshot="$W/timeline.png" "file://$W/timeline.svg" >/dev/null ||
  fail "chromium could not render the timeline"
python3 "$T_SRC/tests/reports/png_stats.py" "$W/timeline.png" --region 70,92,750,372 \
  --min-colours 8 --min-ink 0.02 --want-colour 1a9850 --want-colour d73027 \
  --want-colour 7b3294 >&2 && ok "the timeline's screenshot shows the plot" ||
  fail "the timeline's screenshot looks blank"
[ "$(grep -c '<title>keepalive after' "$W/timeline.svg")" -eq "${C[keepalives]}" ] ||
  fail "the timeline does not mark every keepalive"
"$NATIDLE_BIN" report plot "$W/ka.csv" --summary "$W/sum.csv" --svg "$W/timeline-probe.svg"
xmllint --noout "$W/timeline-probe.svg"
grep -q 'probe: recommended keepalive' "$W/timeline-probe.svg" ||
  fail "the timeline lacks the probe's recommendation"

# ---- The page, without and with the probe's files of the network. ---------
"$NATIDLE_BIN" report html "$W/ka.csv" -o "$W/ka-only.html"
grep -q 'No probe summary of this network was given' "$W/ka-only.html" ||
  fail "the page without probe files does not say so"
"$NATIDLE_BIN" report summary "$W/sum.csv" "$W/ka.csv" >"$W/both-table"
"$NATIDLE_BIN" report html "$W/sum.csv" "$W/obs.csv" "$W/ka.csv" -o "$W/report.html"
chrome --dump-dom "file://$W/report.html" >"$W/dom.html" || fail "chromium could not load the page"
for want in "natidle probe: recommended keepalive" \
  "natidle keepalive, account natidle1: the cadence it settled on" \
  "Keepalive timeline: $NET" "Survival of silent IMAP IDLE sessions: $NET"; do
  grep -qF -- "$want" "$W/dom.html" && ok "the page shows '$want'" || fail "the page lacks '$want'"
done
chrome --window-size=1200,2400 --screenshot="$W/report.png" "file://$W/report.html" >/dev/null &&
  python3 "$T_SRC/tests/reports/png_stats.py" "$W/report.png" --min-colours 8 --min-ink 0.02 \
    --want-colour 1a9850 >&2 || fail "the page's screenshot looks blank"

# Keep the outputs for a look when NATIDLE_KEEP is a directory.
if [ -n "${NATIDLE_KEEP:-}" ] && [ -d "${NATIDLE_KEEP}" ]; then
  cp "$W"/ka.csv "$W"/ka.out "$W"/sum.csv "$W"/obs.csv "$W"/probe.out "$W"/table \
    "$W"/both-table "$W"/summary.csv "$W"/timeline.svg "$W"/timeline-probe.svg \
    "$W"/report.html "$NATIDLE_KEEP"/
fi
finish
