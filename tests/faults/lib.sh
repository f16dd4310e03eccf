# Helpers of the fault-injection tests (sourced after tests/lab/lib.sh and
# lab_up, which fill in E, L and T_TMP).
IMAPCTL=$T_SRC/tests/probe/imapctl.py
: "${NATIDLE_BIN:?run through ctest}"

# probe_start OBS SUMMARY ARGS...: natidle probe in the lab's client
# namespace, in the background (PROBE_PID), --verbose log in
# $T_TMP/probe.err.  Bounded: killed after 240 s whatever happens.
probe_start() {
  local obs=$1 sum=$2
  shift 2
  timeout -s KILL 240 "${LAB_CMD[@]}" exec "$L" "$NATIDLE_BIN" probe --server "${E[SERVER_ADDR]}" \
    --port "${E[PORT_IMAPS]}" --ca-file "${E[CA_FILE]}" --user "${E[USER]}" \
    --password-file "${E[PASSWORD_FILE]}" --csv "$obs" --summary "$sum" --verbose "$@" \
    >"$T_TMP/probe.out" 2>>"$T_TMP/probe.err" </dev/null &
  PROBE_PID=$!
}

# probe_wait: wait for the probe; its exit status in PROBE_RC.
probe_wait() {
  PROBE_RC=0
  wait "$PROBE_PID" || PROBE_RC=$?
}

# keep_files FILE...: copies for a post-mortem in $NATIDLE_KEEP, when set.
keep_files() {
  [ -n "${NATIDLE_KEEP:-}" ] || return 0
  mkdir -p "$NATIDLE_KEEP/$T_NAME"
  cp "$@" "$NATIDLE_KEEP/$T_NAME/" 2>/dev/null || true
}

csv_rows() { [ -f "$1" ] && echo $(($(wc -l <"$1") - 1)) || echo 0; }

# wait_rows FILE N: wait (60 s at most) for N data rows in FILE.
wait_rows() {
  local i
  for ((i = 0; i < 600; i++)); do
    [ "$(csv_rows "$1")" -ge "$2" ] && return 0
    kill -0 "$PROBE_PID" 2>/dev/null || break
    sleep 0.1
  done
  say "no $2 rows in $(basename "$1"): $(tail -n 5 "$T_TMP/probe.err" | tr '\n' '|')"
  exit 1
}

# count_outcome FILE OUTCOME: observation rows with that outcome.
count_outcome() {
  python3 - "$1" "$2" <<'PY'
import csv, sys
print(sum(1 for r in csv.DictReader(open(sys.argv[1])) if r["outcome"] == sys.argv[2]))
PY
}

# outcomes FILE: "alive=5 dead_silent=3 ..." for messages.
outcomes() {
  python3 - "$1" <<'PY'
import collections, csv, sys
c = collections.Counter(r["outcome"] for r in csv.DictReader(open(sys.argv[1])))
print(" ".join(f"{k}={v}" for k, v in sorted(c.items())))
PY
}

# check_verdict OBS SUMMARY T: exit 0, one inbound summary row "measured"
# whose bracket (lower, upper] holds T (give or take 0.5 s of timer and
# conntrack granularity), and no death recorded below T - 0.5 s nor any
# survival above T + 0.5 s: a fault never passes for the NAT's timeout.
check_verdict() {
  local obs=$1 sum=$2 t=$3 res
  [ "$PROBE_RC" -eq 0 ] && ok "probe exit 0" ||
    fail "probe exit $PROBE_RC: $(tail -n 5 "$T_TMP/probe.err" | tr '\n' '|')"
  res=$(python3 - "$obs" "$sum" "$t" <<'PY'
import csv, sys
obs, summ, t = sys.argv[1], sys.argv[2], float(sys.argv[3])
rows = [r for r in csv.DictReader(open(summ)) if r["direction"] == "inbound"]
if len(rows) != 1:
    print(f"FAIL {len(rows)} inbound summary rows"); sys.exit()
r = rows[0]
lo, hi = float(r["lower_s"] or "nan"), float(r["upper_s"] or "nan")
bad = []
if r["verdict"] != "measured":
    bad.append(f"verdict {r['verdict']}")
if not (lo < t + 0.5 and hi > t - 0.5):
    bad.append(f"bracket ({lo}, {hi}] misses {t}")
for o in csv.DictReader(open(obs)):
    s = float(o["silence_s"] or "nan")
    if o["direction"] == "inbound" and o["outcome"].startswith("dead") and s < t - 0.5:
        bad.append(f"{o['outcome']} at {s} s (session {o['session']})")
    if o["direction"] == "inbound" and o["outcome"] == "alive" and s > t + 0.5:
        bad.append(f"alive at {s} s (session {o['session']})")
print(("FAIL " + "; ".join(bad)) if bad else f"OK bracket ({lo}, {hi}], {r['observations']} observations")
PY
)
  case $res in
    OK*) ok "${res#OK }" ;;
    *) fail "${res#FAIL } ($(outcomes "$obs"))" ;;
  esac
}

# imapctl ARGS...: tests/probe/imapctl.py against the lab's server, from
# the client namespace.
imapctl() {
  timeout 60 "${LAB_CMD[@]}" exec "$L" python3 "$IMAPCTL" "${E[SERVER_ADDR]}" "${E[PORT_IMAPS]}" \
    "${E[CA_FILE]}" "${E[USER]}" "${E[PASSWORD_FILE]}" "$@"
}

no_leftover_mailboxes() {
  local left
  left=$(imapctl list 'natidle-probe*') || { fail "cannot list mailboxes"; return; }
  [ -z "$left" ] && ok "no probe mailbox left" || fail "probe mailboxes left: $left"
}
