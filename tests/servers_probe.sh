#!/usr/bin/env bash
# natidle probe against a real IMAP server in the lab (root):
#
#   servers_probe.sh VARIANT nonat   no NAT in the way (the lab's NAT forgets
#                                    nothing for 600 s): above_max
#   servers_probe.sh VARIANT nat T   a NAT that forgets idle mappings after T
#                                    s: the bracket (L, U] holds T
#   servers_probe.sh courier-nopush  Courier whose IDLE polls once an hour:
#                                    verdict no_push, exit 9
#   servers_probe.sh VARIANT killed  a probe killed with SIGKILL leaves its
#                                    mailboxes below the personal namespace:
#                                    --cleanup finds and removes them; a
#                                    second killed run is continued with
#                                    --resume, which finds its mailboxes
#                                    there and removes them at the end
#
# VARIANT: cyrus (Debian's default: namespace "INBOX.", no idled, so IDLE
# polls, here every 5 s), cyrus-idled, cyrus-altns (altnamespace yes, idled),
# cyrus-altns-poll (altnamespace yes, no idled), courier (Debian's default:
# namespace "INBOX.", IDLE polls, here every 5 s), courier-enhanced.
#
# Every run also checks that nothing is left behind and that the user's
# mail did not change: the account's mailboxes and its INBOX are the same
# before and after.  Cyrus and Courier come from Debian packages that
# lab/server-debs downloads on first use.
# shellcheck source=tests/probe/lib.sh
source "$(dirname "$0")/probe/lib.sh"

V=${1:-} MODE=${2:-nonat} T=${3:-9}
POLL=5
case $V in
  cyrus) ARGS=(--server cyrus --server-opt "idle-poll=$POLL") NS=INBOX. POLLS=1 ;;
  cyrus-idled) ARGS=(--server cyrus --server-opt idled=yes) NS=INBOX. POLLS=0 ;;
  cyrus-altns) ARGS=(--server cyrus --server-opt altnamespace=yes --server-opt idled=yes) NS= POLLS=0 ;;
  cyrus-altns-poll) ARGS=(--server cyrus --server-opt altnamespace=yes --server-opt "idle-poll=$POLL") NS= POLLS=1 ;;
  courier) ARGS=(--server courier --server-opt "idle-timeout=$POLL") NS=INBOX. POLLS=1 ;;
  courier-enhanced) ARGS=(--server courier --server-opt enhanced-idle=yes) NS=INBOX. POLLS=0 ;;
  courier-nopush) ARGS=(--server courier --server-opt idle-timeout=3600) NS=INBOX. POLLS=0 MODE=nopush ;;
  *) fail "usage: servers_probe.sh VARIANT nonat|nat [T]|killed" ;;
esac
[ "$MODE" != nat ] && T=600

name="sp${V:0:3}${V: -3}${MODE:0:2}$$"
lab_up "${name:0:20}" --timeout "$T" "${ARGS[@]}"
say "$V ($MODE, T = $T s): ${LAB_SERVER_KIND:-?} ${LAB_SERVER_VERSION:-?}, server up in ${LAB_SERVER_UP_MS:-?} ms"

ctl() {
  timeout 30 "$LAB" exec "$LAB_NAME" python3 "$IMAPCTL" "$LAB_SERVER_ADDR" "$LAB_PORT_IMAPS" \
    "$LAB_CA_FILE" "$LAB_USER" "$LAB_PASSWORD_FILE" "$@"
}
ctl list '*' | sort >"$WORK/boxes.before"
ctl dump INBOX >"$WORK/inbox.before"

obs=$WORK/obs.csv sum=$WORK/sum.csv
t0=$(date +%s%3N)
rc=0
case $MODE in
nonat)
  lab_probe --min 2 --max 8 --sessions 4 --no-capture --verbose --csv "$obs" --summary "$sum" \
    >"$WORK/out" 2>"$WORK/err" || rc=$?
  ;;
nat)
  lab_probe --min 2 --max 25 --sessions 4 --no-capture --verbose --csv "$obs" --summary "$sum" \
    >"$WORK/out" 2>"$WORK/err" || rc=$?
  ;;
nopush)
  lab_probe --min 2 --max 8 --sessions 2 --no-capture --verbose --push-wait 12 --csv "$obs" \
    --summary "$sum" >"$WORK/out" 2>"$WORK/err" || rc=$?
  ;;
killed)
  # killed_run CSV: a probe stopped by SIGKILL once it has written a row.
  killed_run() {
    lab_probe --min 2 --max 60 --sessions 2 --no-capture --verbose --csv "$1" \
      >>"$WORK/out" 2>>"$WORK/err" &
    local pid=$! i
    # Until a check that says something (alive) is in: --resume starts from it.
    for i in $(seq 300); do
      [ -f "$1" ] && [ "$(count_outcome "$1" alive)" -ge 1 ] && break
      sleep 0.1
    done
    # The probe itself (inside the lab's exec), found by its own CSV path.
    local q cmd
    for q in /proc/[0-9]*; do
      cmd=$(tr '\0' ' ' 2>/dev/null <"$q/cmdline") || continue
      case $cmd in "$BIN probe "*"--csv $1 "*) kill -KILL "${q#/proc/}" 2>/dev/null || true ;; esac
    done
    wait "$pid" 2>/dev/null || true
    sleep 1
    [ -n "$(ctl list "*natidle-probe*")" ] || fail "nothing left behind by a killed run"
  }
  killed_run "$WORK/k1.csv"
  lab_probe --cleanup --verbose >>"$WORK/out" 2>>"$WORK/err" || rc=$?
  grep -Eq '^cleanup: [1-9][0-9]* probe mailboxes deleted, 0 refused .*, 0 not deleted' "$WORK/out" ||
    fail "cleanup line: $(grep '^cleanup' "$WORK/out")"
  [ -z "$(ctl list "*natidle-probe*")" ] || fail "--cleanup left: $(ctl list "*natidle-probe*" | tr '\n' ' ')"
  killed_run "$obs"
  lab_probe --min 2 --max 8 --sessions 2 --no-capture --verbose --resume --csv "$obs" \
    --summary "$sum" >>"$WORK/out" 2>>"$WORK/err" || rc=$?
  grep -q "resumed run" "$WORK/err" || { cat "$obs" >&2; tail -5 "$WORK/err" >&2; fail "the run was not resumed"; }
  ;;
esac
wall=$(($(date +%s%3N) - t0))
cat "$WORK/out"
grep -E 'namespace|calibration|polls|deadline|cleanup|cannot|refused' "$WORK/err" >&2 || true
say "probe exit $rc in $((wall / 1000)).$((wall % 1000 / 100)) s"

# Where the mailboxes went: below the personal namespace.
grep -q "personal namespace \"$NS\"" "$WORK/err" || fail "personal namespace \"$NS\" not used"

case $MODE in
nonat)
  [ "$rc" -eq 0 ] || { tail -20 "$WORK/err" >&2; fail "probe exit $rc"; }
  [ "$(summary_field "$sum" inbound verdict)" = above_max ] || fail "verdict $(summary_field "$sum" inbound verdict), above_max expected"
  [ "$(count_outcome "$obs" dead_silent)$(count_outcome "$obs" dead_inbound)" = 00 ] || fail "a death without a NAT"
  ;;
nat)
  [ "$rc" -eq 0 ] || { tail -20 "$WORK/err" >&2; fail "probe exit $rc"; }
  [ "$(summary_field "$sum" inbound verdict)" = measured ] || fail "verdict $(summary_field "$sum" inbound verdict), measured expected"
  # Strictly: L < T <= U, give or take the NAT's own timer (0.25 s).
  python3 - "$sum" "$T" <<'PY' || fail "the bracket misses the NAT's timeout"
import csv, sys
r = [r for r in csv.DictReader(open(sys.argv[1])) if r["direction"] == "inbound"][-1]
lo, up, t = float(r["lower_s"]), float(r["upper_s"]), float(sys.argv[2])
ok = lo - 0.25 < t <= up + 0.25
print("bracket (%.3f, %.3f] for T = %g: %s" % (lo, up, t, "holds" if ok else "MISSES"))
sys.exit(0 if ok else 1)
PY
  ;;
killed)
  [ "$rc" -eq 0 ] || { tail -20 "$WORK/err" >&2; fail "probe exit $rc"; }
  ;;
nopush)
  [ "$rc" -eq 9 ] || { tail -20 "$WORK/err" >&2; fail "probe exit $rc, 9 (no_push) expected"; }
  [ "$(summary_field "$sum" inbound verdict)" = no_push ] || fail "verdict $(summary_field "$sum" inbound verdict), no_push expected"
  grep -q '^no push' "$WORK/out" || fail "no 'no push' result line"
  ;;
esac
if [ "$MODE" = killed ]; then
  : # several runs: their result lines are checked above
elif [ "$POLLS" = 1 ]; then
  grep -Eq "polls, every [45]\.[0-9] s \(checks timed just before a poll\)" "$WORK/out" ||
    fail "the $POLL-s poll was not recognised"
else
  ! grep -q 'polls, every' "$WORK/out" || fail "a pushing server taken for a polling one"
fi

# Nothing left behind, nothing of the user's changed.
ctl list '*' | sort >"$WORK/boxes.after"
ctl dump INBOX >"$WORK/inbox.after"
cmp -s "$WORK/boxes.before" "$WORK/boxes.after" ||
  fail "mailboxes changed: $(diff "$WORK/boxes.before" "$WORK/boxes.after" | tr '\n' ' ')"
cmp -s "$WORK/inbox.before" "$WORK/inbox.after" || fail "the INBOX changed"
say "ok: $V $MODE in $((wall / 1000)) s"
