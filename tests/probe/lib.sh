# Shared helpers of the probe's shell tests (sourced, not run).
# Needs NATIDLE_BIN and NATIDLE_SRC from ctest (ni_script_test).
set -euo pipefail
: "${NATIDLE_BIN:?run through ctest}" "${NATIDLE_SRC:?run through ctest}"
BIN=$NATIDLE_BIN
SRC=$NATIDLE_SRC
LAB=${NATIDLE_LAB:-$SRC/lab/natidle-lab}
IMAPCTL=$SRC/tests/probe/imapctl.py
WORK=$(mktemp -d /tmp/natidle-probe-test.XXXXXX)
chmod 755 "$WORK"
CLEANUPS=()

fail() { echo "FAIL: $*" >&2; exit 1; }
say() { echo "--- $*" >&2; }

# Run every registered cleanup, newest first, even when the test failed.
run_cleanups() {
  local i
  for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do
    eval "${CLEANUPS[$i]}" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap run_cleanups EXIT
on_exit() { CLEANUPS+=("$1"); }

if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root (Dovecot instances, network namespaces)" >&2; exit 77; fi

# A private Dovecot on loopback with free ports; sets DC_HOST, DC_PORT_IMAP,
# DC_PORT_IMAPS, DC_CA_FILE, DC_USER, DC_PASSWORD_FILE, DC_DIR.
start_dovecot() {
  local dir=$WORK/dovecot p1 p2
  read -r p1 p2 < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
  on_exit "bash '$SRC/lab/dovecot-instance' stop '$dir'"
  bash "$SRC/lab/dovecot-instance" start "$dir" --listen 127.0.0.1 \
    --port-imap "$p1" --port-imaps "$p2" "$@" >"$WORK/dovecot.env"
  eval "$(sed -n 's/^\([A-Z_]*\)=\(.*\)$/DC_\1="\2"/p' "$WORK/dovecot.env")"
}

# natidle probe, bounded in time like lab_probe.
run_probe() { timeout -k 10 "${PROBE_LIMIT:-60}" "$BIN" probe "$@"; }

# The probe's connection options for that Dovecot over IMAPS.
dc_args() {
  echo --server "$DC_HOST" --port "$DC_PORT_IMAPS" --tls imaps --ca-file "$DC_CA_FILE" \
    --user "$DC_USER" --password-file "$DC_PASSWORD_FILE"
}

imapctl() { python3 "$IMAPCTL" "$DC_HOST" "$DC_PORT_IMAPS" "$DC_CA_FILE" "$DC_USER" "$DC_PASSWORD_FILE" "$@"; }

# Data rows (header excluded) of a CSV file; 0 when it does not exist.
csv_rows() { [ -f "$1" ] && echo $(($(wc -l <"$1") - 1)) || echo 0; }

# Field of the summary row for a direction: summary_field FILE DIRECTION COLUMN
summary_field() {
  python3 - "$@" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["direction"] == sys.argv[2]]
print(rows[-1][sys.argv[3]] if rows else "")
PY
}

# Number of observation rows with a given outcome (and direction, optional).
count_outcome() {
  python3 - "$@" <<'PY'
import csv, sys
n = 0
for r in csv.DictReader(open(sys.argv[1])):
    if r["outcome"] == sys.argv[2] and (len(sys.argv) < 4 or r["direction"] == sys.argv[3]):
        n += 1
print(n)
PY
}

# A carrier NAT lab of our own: lab_up NAME lab-options...; sets LAB_NAME and
# the lab's KEY=VALUE environment as LAB_* variables, and takes it down on
# exit.
lab_up() {
  LAB_NAME=$1
  shift
  [ -x "$LAB" ] || fail "no lab at $LAB"
  on_exit "'$LAB' down '$LAB_NAME'"
  "$LAB" up "$LAB_NAME" "$@" >"$WORK/lab.out" 2>&1 || { cat "$WORK/lab.out" >&2; fail "lab up failed"; }
  "$LAB" env "$LAB_NAME" >"$WORK/lab.env"
  eval "$(sed -n 's/^\([A-Z_][A-Z0-9_]*\)=\(.*\)$/LAB_\1="\2"/p' "$WORK/lab.env")"
}

# Run natidle probe in the lab's client namespace against its server, bounded
# in time (SIGTERM, then SIGKILL) so that a hung probe fails the test with
# its cleanup done instead of being killed with the test by ctest.
lab_probe() {
  timeout -k 10 "${PROBE_LIMIT:-120}" "$LAB" exec "$LAB_NAME" "$BIN" probe --server "$LAB_SERVER_ADDR" --tls imaps \
    --ca-file "$LAB_CA_FILE" --user "$LAB_USER" --password-file "$LAB_PASSWORD_FILE" "$@"
}

# bracket_holds SUMMARY DIRECTION T: L - tol <= T <= U + tol, tol = max(1 s, 3 % of T).
bracket_holds() {
  python3 - "$@" <<'PY'
import csv, sys
f, d, t = sys.argv[1], sys.argv[2], float(sys.argv[3])
rows = [r for r in csv.DictReader(open(f)) if r["direction"] == d]
if not rows or not rows[-1]["upper_s"]:
    sys.exit("no bracket for %s" % d)
lo, up = float(rows[-1]["lower_s"]), float(rows[-1]["upper_s"])
tol = max(1.0, 0.03 * t)
ok = lo - tol <= t <= up + tol
print("bracket (%.3f, %.3f] for T = %.1f: %s" % (lo, up, t, "holds" if ok else "MISSES"))
sys.exit(0 if ok else 1)
PY
}
