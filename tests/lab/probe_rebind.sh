#!/usr/bin/env bash
# natidle probe across a rebind: the NAT's public address changes about 2/5
# into the run (a phone changing cell, a carrier NAT rebinding), and every
# mapping is gone at once, the control connection's included.  The probe
# takes it as a network event, not as a timeout: the silences that spanned
# it are recorded `aborted`, their sessions start afresh, and the run still
# brackets the NAT's timeout with the verdict measured.
# shellcheck disable=SC2015 # "[ test ] && ok || fail": fail when either fails
# shellcheck source=tests/lab/lib.sh
. "$(dirname "$0")/lib.sh"
lab_test_init lab-probe-rebind

T=20
# The expected run takes about 2.5 T + 30 s; the rebind comes at 2/5 of it,
# when the sessions' silences are spread up to T.
AT=$(((25 * T / 10 + 30) * 2 / 5))
LIMIT=300
bin=${NATIDLE_BIN:-$T_SRC/build/natidle}
[ -x "$bin" ] || { fail "no natidle binary ($bin)"; finish; }
chmod 755 "$T_TMP" # readable once the probe runs as nobody

lab_up "rb$$" --timeout "$T" --mode drop
obs=$T_TMP/obs.csv sum=$T_TMP/sum.csv
start=$SECONDS
timeout -k 10 "$LIMIT" "${LAB_CMD[@]}" exec "${E[LAB]}" "$bin" probe --server "${E[SERVER_ADDR]}" \
  --tls imaps --ca-file "${E[CA_FILE]}" --user "${E[USER]}" --password-file "${E[PASSWORD_FILE]}" \
  --max $((3 * T)) --network "lab-rebind-$T" --csv "$obs" --summary "$sum" \
  >"$T_TMP/out" 2>"$T_TMP/err" &
pid=$!
sleep "$AT"
rebound_ms=$(date +%s%3N)
lab rebind "${E[LAB]}" || fail "lab rebind failed"
rc=0
wait "$pid" || rc=$?
wall=$((SECONDS - start))
[ "$rc" -eq 0 ] || fail "probe exit $rc after $wall s: $(tail -5 "$T_TMP/err" | tr '\n' ' ')"
say "$(cat "$T_TMP/out") (wall $wall s, rebind at $AT s)"

# The bracket holds T, within the lab's precision (half a second: a
# mapping's timer starts at its last packet, which the client's ACK may
# follow).
IFS=, read -r lo hi verdict <<<"$(python3 - "$sum" <<'PY'
import csv, sys
r = [x for x in csv.DictReader(open(sys.argv[1])) if x["direction"] == "inbound"][-1]
print("%s,%s,%s" % (r["lower_s"], r["upper_s"] or "inf", r["verdict"]))
PY
)" || fail "no summary row"
[ "$verdict" = measured ] && ok "verdict measured" || fail "verdict '$verdict', not measured"
if awk -v l="$lo" -v h="$hi" -v t="$T" 'BEGIN { exit !(l < t + 0.5 && t <= h + 0.5 && l < h) }'; then
  ok "bracket ($lo, $hi] holds T = $T s across the rebind"
else
  fail "bracket ($lo, $hi] misses T = $T s"
fi

# The event left aborted rows within a minute after it, and no death below T.
python3 - "$obs" "$T" "$rebound_ms" <<'PY' && ok "aborted rows after the rebind, no death below T" || fail "observations"
import csv, sys, datetime
t, at = float(sys.argv[2]), int(sys.argv[3]) / 1000.0
def when(r):
    return datetime.datetime.strptime(r["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
rows = list(csv.DictReader(open(sys.argv[1])))
near = [r for r in rows if r["outcome"] == "aborted" and at - 1 <= when(r) <= at + 60]
low = [r for r in rows if r["outcome"].startswith("dead_") and float(r["silence_s"]) < t - 0.5]
print("%d rows, %d aborted after the rebind, %d deaths below T" % (len(rows), len(near), len(low)))
for r in low:
    print("false death: session", r["session"], r["silence_s"], r["outcome"])
sys.exit(0 if near and not low else 1)
PY

n=$(grep -c 'network event' "$T_TMP/err" || true)
[ "$n" -eq 1 ] && ok "the output names the network event once" ||
  fail "'network event' named $n times: $(grep -i 'control connection' "$T_TMP/err" | tr '\n' ' ')"
if [ "$T_FAILS" -ne 0 ]; then
  say "the probe's log and observations:"
  grep -v ': idle$' "$T_TMP/err" >&2 || true
  cut -d, -f6-14 "$obs" >&2 || true
fi
finish
