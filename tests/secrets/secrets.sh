#!/usr/bin/env bash
# The IMAP password of natidle probe and natidle keepalive, against a
# loopback Dovecot (IMAPS):
#   - never in stdout, stderr (--verbose included), the CSV files or the
#     keepalive log;
#   - never in /proc/PID/cmdline or /proc/PID/environ of the running process
#     (NATIDLE_PASSWORD is removed from the environment once read);
#   - core dumps off while it is held: RLIMIT_CORE 0 in /proc/PID/limits and
#     the process not dumpable (its /proc/PID files then belong to root even
#     though it runs as nobody, see proc(5));
#   - not in the process's memory once logged in, neither as itself nor as
#     the base64 SASL PLAIN message it was sent in, also after the logins of
#     a reconnect (Dovecot restarted); memscan.py reads every mapping through
#     /proc/PID/mem, as root.
# The commands run as the unprivileged user nobody, as a user would.
source "$NATIDLE_SRC/tests/probe/lib.sh"
MEMSCAN=$SRC/tests/secrets/memscan.py
start_dovecot

RUN=$WORK/run
mkdir -m 0700 "$RUN"
install -m 0600 "$DC_PASSWORD_FILE" "$RUN/pw"
install -m 0644 "$DC_CA_FILE" "$RUN/ca.pem"
chown -R nobody:nogroup "$RUN"
PW=$(cat "$DC_PASSWORD_FILE")
# The secrets to look for: the password and its SASL PLAIN form on the wire.
python3 - "$DC_USER" "$PW" >"$WORK/needles" <<'PY'
import base64, sys
user, pw = sys.argv[1], sys.argv[2]
print(pw)
print(base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode())
PY
AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
CONN=(--server "$DC_HOST" --port "$DC_PORT_IMAPS" --tls imaps --ca-file "$RUN/ca.pem" --user "$DC_USER")
FAILS=0
bad() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

# wait_for WHAT CMD...: poll (bounded, 20 s) until CMD succeeds.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 200); do "$@" && return 0; sleep 0.1; done
  fail "timed out waiting for $what"
}
has_rows() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge 2 ]; }

# check_process NAME PID: the checks on a running, logged-in process.
check_process() {
  local name=$1 pid=$2
  tr '\0' '\n' <"/proc/$pid/cmdline" >"$WORK/$name.cmdline"
  tr '\0' '\n' <"/proc/$pid/environ" >"$WORK/$name.environ"
  ! grep -qF -- "$PW" "$WORK/$name.cmdline" || bad "$name: password in /proc/PID/cmdline"
  ! grep -qF -- "$PW" "$WORK/$name.environ" || bad "$name: password in /proc/PID/environ"
  grep -qE '^Max core file size +0 +0 ' "/proc/$pid/limits" ||
    bad "$name: core dumps not disabled: $(grep 'core file' "/proc/$pid/limits")"
  [ "$(stat -c %U "/proc/$pid/status")" = root ] ||
    bad "$name: the process is dumpable (/proc/PID owned by $(stat -c %U "/proc/$pid/status"))"
  local rc=0 ignore=()
  # The sanitizer runtime copies the initial environment for itself.
  grep -qs '^NATIDLE_SANITIZE:BOOL=ON' "${NATIDLE_BUILD:-/nonexistent}/CMakeCache.txt" &&
    ignore=(NATIDLE_PASSWORD=)
  python3 "$MEMSCAN" "$pid" "$WORK/needles" "${ignore[@]}" >"$WORK/$name.scan" 2>&1 || rc=$?
  case $rc in
    0) say "$name: no copy of the password in memory" ;;
    1) bad "$name: the password is in memory after login:"; head -n 8 "$WORK/$name.scan" >&2 ;;
    *) bad "$name: memory scan failed: $(cat "$WORK/$name.scan")" ;;
  esac
}

no_password_in() {
  local f
  for f in "$@"; do
    [ -e "$f" ] || continue
    ! grep -qF -- "$PW" "$f" || bad "password written to $(basename "$f")"
  done
}

say "probe (password file, --verbose)"
"${AS_NOBODY[@]}" "$BIN" probe "${CONN[@]}" --password-file "$RUN/pw" --max 30 --sessions 2 \
  --verbose --csv "$RUN/obs.csv" --summary "$RUN/sum.csv" >"$WORK/probe.out" 2>"$WORK/probe.err" &
pid=$!
on_exit "kill -9 $pid"
wait_for "the probe's first observation" has_rows "$RUN/obs.csv"
check_process probe "$pid"
# Logins after a reconnect must leave no copy either: Dovecot restarts, the
# control connection comes back.
bash "$SRC/lab/dovecot-instance" restart "$DC_DIR" >/dev/null
wait_for "the control connection to come back" grep -q 'control connection back\|network event: the control connection' "$WORK/probe.err"
sleep 1
check_process probe-reconnected "$pid"
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 130 ] || bad "probe: exit $rc after SIGINT, 130 expected"
[ "$(wc -l <"$WORK/probe.err")" -ge 3 ] || bad "probe --verbose printed no events"
no_password_in "$WORK/probe.out" "$WORK/probe.err" "$RUN/obs.csv" "$RUN/sum.csv"

say "keepalive (NATIDLE_PASSWORD, --log)"
NATIDLE_PASSWORD=$PW "${AS_NOBODY[@]}" "$BIN" keepalive "${CONN[@]}" --nat-timeout 30 \
  --duration 30 --log "$RUN/ka.csv" >"$WORK/ka.out" 2>"$WORK/ka.err" &
pid=$!
on_exit "kill -9 $pid"
wait_for "the keepalive session to reach IDLE" grep -qs ',connect,,ok,' "$RUN/ka.csv"
check_process keepalive "$pid"
bash "$SRC/lab/dovecot-instance" restart "$DC_DIR" >/dev/null
connected_twice() { [ "$(grep -c ',connect,,ok,' "$RUN/ka.csv")" -ge 2 ]; }
wait_for "the keepalive session to reconnect" connected_twice
check_process keepalive-reconnected "$pid"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 130 ] || bad "keepalive: exit $rc after SIGTERM, 130 expected"
no_password_in "$WORK/ka.out" "$WORK/ka.err" "$RUN/ka.csv"

[ "$FAILS" -eq 0 ] || { echo "$FAILS check(s) failed" >&2; exit 1; }
say "all secret-handling checks passed"
