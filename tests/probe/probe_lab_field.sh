#!/usr/bin/env bash
# natidle probe under field conditions on the carrier NAT lab.
#   probe_lab_field.sh        300 ms of round trip and 1 % loss each way in
#                             front of a NAT with a 12 s timeout; also: a
#                             summary file of the older layout is refused
#                             with a message that says so.
#   probe_lab_field.sh radio  a radio that sleeps after 10 s without a frame
#                             and takes 2 s to wake, 1 % loss and 200 ms of
#                             round trip in front of a 15 s NAT: every check
#                             near the timeout wakes it.
# The bracket in the NAT's terms (nat_lower_s, nat_upper_s) holds the
# timeout and the client-terms bracket is still written.  No wall-clock
# assertion beyond the generous limit of the run.
source "$(dirname "$0")/lib.sh"
variant=${1:-latency}
obs=$WORK/obs.csv sum=$WORK/sum.csv
if [ "$variant" = radio ]; then
  T=15 rtt_min=150 name="ltr$$"
  name=${name:0:12}
  lab_up "$name" --timeout "$T" --mode drop --radio 10:2000 --loss 1 --latency 200
else
  T=12 rtt_min=250 name="ltf$$"
  name=${name:0:12}
  lab_up "$name" --timeout "$T" --mode drop --latency 300 --loss 1
fi

[ "$variant" = radio ] || {
# An old-layout summary (14 columns) is refused before anything is measured.
old=$WORK/old-summary.csv
printf '%s\n' "run_id,network,server,port,tls,direction,lower_s,upper_s,estimate_s,observations,wall_s,server_keepalive_s,recommended_keepalive_s,verdict" >"$old"
cp "$old" "$old.orig"
if PROBE_LIMIT=60 lab_probe --max 30 --csv "$WORK/old-obs.csv" --summary "$old" >"$WORK/old.out" 2>&1; then
  fail "appending to an old-layout summary was not refused"
fi
grep -q "older natidle" "$WORK/old.out" || { cat "$WORK/old.out" >&2; fail "no clear message for an old-layout summary"; }
cmp -s "$old" "$old.orig" || fail "the old-layout summary was changed"
}

PROBE_LIMIT=240 lab_probe --max $((3 * T)) --network "lab-field-$variant-$T" --csv "$obs" --summary "$sum" \
  --verbose >"$WORK/out" 2>"$WORK/err" || { tail -40 "$WORK/err" >&2; fail "probe failed"; }
cat "$WORK/out"
[ "$(summary_field "$sum" inbound verdict)" = measured ] || { tail -40 "$WORK/err" >&2; fail "verdict not measured"; }
python3 - "$sum" "$T" "$rtt_min" <<'PY' || { tail -40 "$WORK/err" >&2; fail "the NAT-terms bracket misses the lab's timeout"; }
import csv, sys
r = [r for r in csv.DictReader(open(sys.argv[1])) if r["direction"] == "inbound"][-1]
t = float(sys.argv[2])
lo, up = float(r["lower_s"]), float(r["upper_s"])
nlo, nup = float(r["nat_lower_s"]), float(r["nat_upper_s"])
basis, rtt = r["bracket_basis"], float(r["path_rtt_ms"])
print("client (%.3f, %.3f], NAT (%.3f, %.3f] (%s, rtt %.0f ms), T = %.0f s" % (lo, up, nlo, nup, basis, rtt, t))
ok = basis in ("capture", "client_rtt") and nlo <= lo and nup >= up - 1e-9
ok = ok and float(sys.argv[3]) <= rtt <= 1500  # the lab's round trip, measured
ok = ok and nlo < t <= nup              # the NAT's own terms hold T exactly
sys.exit(0 if ok else 1)
PY
# The report reads the new summary.
"$BIN" report summary "$sum" >"$WORK/report.out" || fail "natidle report cannot read the summary"
say "passed"
