#!/usr/bin/env bash
# A fault in the middle of a natidle probe on the carrier NAT lab (NAT idle
# timeout 6 s, drop mode):
#   probe_fault.sh restart   Dovecot restarted (every connection closed)
#   probe_fault.sh flush     every NAT mapping forgotten at once
#   probe_fault.sh link      the client's link down for 3 s
#   probe_fault.sh latency   300 ms of round trip added mid-run
# The fault comes once the sessions are silent toward their targets.  The
# probe must notice it through its control connection, record the checks
# of that window as aborted (a fault is not the NAT's timeout), reconnect
# its sessions, and still end with a measured bracket containing 6 s, its
# mailboxes removed.
# Each case brings up a lab of its own; the EXIT trap removes it.
. "$NATIDLE_SRC/tests/lab/lib.sh"
. "$NATIDLE_SRC/tests/faults/lib.sh"
CASE=${1:?usage: probe_fault.sh restart|flush|link|latency}
lab_test_init "fault-$CASE"
T=6
L=f${CASE:0:4}$$
lab_up "$L" --timeout "$T" --mode drop --accounts 1

probe_start "$T_TMP/obs.csv" "$T_TMP/sum.csv" --max 30 --sessions 6
# The fault comes when the first checks are in (calibration is over and the
# sessions are silent toward their targets).
wait_rows "$T_TMP/obs.csv" 3
say "fault: $CASE after $(csv_rows "$T_TMP/obs.csv") observations"
case $CASE in
  restart) lab restart-dovecot "$L" || fail "restart-dovecot failed" ;;
  flush) lab flush "$L" || fail "flush failed" ;;
  link)
    lab link "$L" down || fail "link down failed"
    sleep 3
    lab link "$L" up || fail "link up failed"
    ;;
  latency) lab set "$L" --latency 300 || fail "set --latency failed" ;;
  *) say "unknown case $CASE"; exit 2 ;;
esac
probe_wait
keep_files "$T_TMP/obs.csv" "$T_TMP/sum.csv" "$T_TMP/probe.err"
check_verdict "$T_TMP/obs.csv" "$T_TMP/sum.csv" "$T"
# What the fault did: a lost control connection voids its window.  A
# change of latency breaks nothing, so it need not abort anything.
if [ "$CASE" != latency ]; then
  n=$(count_outcome "$T_TMP/obs.csv" aborted)
  [ "$n" -ge 1 ] && ok "$n observation(s) aborted by the fault" ||
    fail "no aborted observation after the fault ($(outcomes "$T_TMP/obs.csv"))"
  grep -qi 'control connection' "$T_TMP/probe.err" && ok "the control connection noticed" ||
    fail "no word about the control connection: $(tail -n 5 "$T_TMP/probe.err")"
fi
no_leftover_mailboxes
finish
