#!/usr/bin/env bash
# natidle probe against the carrier NAT lab:
#   probe_lab_nat.sh drop|reset TIMEOUT   inbound timeout measured, the bracket
#                                         holds TIMEOUT within max(1 s, 3 %);
#                                         drop gives dead_silent, reset dead_reset
#   probe_lab_nat.sh loose TIMEOUT        --direction both: inbound measured,
#                                         outbound alive above it (dead_inbound)
#   probe_lab_nat.sh masked TIMEOUT S     a server keepalive every S < TIMEOUT:
#                                         verdict masked_by_server with S
#   probe_lab_nat.sh outage TIMEOUT       the client's link goes down for a
#                                         while: the checks of that window are
#                                         aborted, never dead, and the bracket
#                                         still holds TIMEOUT
source "$(dirname "$0")/lib.sh"
mode=$1 T=$2 S=${3:-}
name="pr${mode:0:1}${T}x$$"
name=${name:0:12}
obs=$WORK/obs.csv sum=$WORK/sum.csv

case $mode in
drop | reset)
  lab_up "$name" --timeout "$T" --mode "$mode"
  lab_probe --max 30 --network "lab-$mode-$T" --csv "$obs" --summary "$sum" | tee "$WORK/out"
  [ "$(summary_field "$sum" inbound verdict)" = measured ] || fail "verdict not measured"
  bracket_holds "$sum" inbound "$T" || fail "bracket misses the lab's timeout"
  want=dead_silent other=dead_reset
  [ "$mode" = reset ] && want=dead_reset other=dead_silent
  [ "$(count_outcome "$obs" "$want")" -ge 1 ] || fail "no $want observation"
  [ "$(count_outcome "$obs" "$other")" -eq 0 ] || fail "$other observations in $mode mode"
  grep -q "^timeout .* keep alive every" "$WORK/out" || fail "result line"
  ;;
loose)
  lab_up "$name" --timeout "$T" --mode loose
  lab_probe --max 30 --direction both --network "lab-loose-$T" --csv "$obs" --summary "$sum" |
    tee "$WORK/out"
  [ "$(summary_field "$sum" inbound verdict)" = measured ] || fail "inbound not measured"
  bracket_holds "$sum" inbound "$T" || fail "inbound bracket misses the lab's timeout"
  [ "$(count_outcome "$obs" dead_inbound inbound)" -ge 1 ] || fail "no dead_inbound observation"
  out_lower=$(summary_field "$sum" outbound lower_s)
  in_upper=$(summary_field "$sum" inbound upper_s)
  python3 -c "import sys; sys.exit(0 if float('$out_lower') > float('$in_upper') else 1)" ||
    fail "outbound ($out_lower) not reported above the inbound timeout ($in_upper)"
  [ "$(grep -c '' "$WORK/out")" -eq 2 ] || fail "one result line per direction expected"
  ;;
masked)
  lab_up "$name" --timeout "$T" --mode drop --server-keepalive "$S"
  lab_probe --max 30 --network "lab-masked-$T" --csv "$obs" --summary "$sum" | tee "$WORK/out"
  [ "$(summary_field "$sum" inbound verdict)" = masked_by_server ] || fail "verdict not masked_by_server"
  ka=$(summary_field "$sum" inbound server_keepalive_s)
  python3 -c "import sys; sys.exit(0 if abs(float('$ka') - $S) <= 0.25 * $S else 1)" ||
    fail "server keepalive $ka s, expected about $S s"
  [ "$(count_outcome "$obs" refreshed)" -ge 1 ] || fail "no refreshed observation"
  ;;
outage)
  lab_up "$name" --timeout "$T" --mode drop
  lab_probe --max $((3 * T)) --network "lab-outage-$T" --csv "$obs" --summary "$sum" \
    >"$WORK/out" 2>"$WORK/err" &
  pid=$!
  on_exit "kill $pid"
  # The outage starts once a few checks are in, and lasts longer than the
  # detection deadline and the control connection's NOOP deadline.
  for _ in $(seq 300); do [ "$(csv_rows "$obs")" -ge 3 ] && break; sleep 0.1; done
  "$LAB" link "$LAB_NAME" down
  sleep 8
  "$LAB" link "$LAB_NAME" up
  wait "$pid" || { cat "$WORK/err"; fail "probe failed"; }
  cat "$WORK/out"
  [ "$(count_outcome "$obs" aborted)" -ge 1 ] || { cat "$WORK/err"; fail "no aborted observation"; }
  python3 - "$obs" "$T" <<'PY' || fail "a death below the NAT timeout was recorded"
import csv, sys
t = float(sys.argv[2])
tol = max(1.0, 0.03 * t)
bad = [r for r in csv.DictReader(open(sys.argv[1]))
       if r["outcome"].startswith("dead_") and float(r["silence_s"]) < t - tol]
for r in bad:
    print("false death:", r["session"], r["silence_s"], r["outcome"])
sys.exit(1 if bad else 0)
PY
  [ "$(summary_field "$sum" inbound verdict)" = measured ] || fail "verdict not measured"
  bracket_holds "$sum" inbound "$T" || fail "bracket misses the lab's timeout"
  ;;
*) fail "unknown mode $mode" ;;
esac
say "ok: $mode $T"
