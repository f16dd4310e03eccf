#!/usr/bin/env bash
# Bad command lines and bad input files for every subcommand (probe,
# keepalive, report, lab): unknown flags, out-of-range numbers, a password
# offered on the command line, missing, unreadable, empty and world-readable
# password files, a --resume file from another server, malformed CSV.  Each
# gets its exit code and one line on stderr, and no password is ever echoed.
# Needs no server: the commands that get as far as connecting are pointed at
# a loopback port nobody listens on.
source "$(dirname "$0")/lib.sh"

FREE=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
P=(probe --server 127.0.0.1 --port "$FREE" --tls none --user u --csv "$WORK/obs.csv" --quiet)
K=(keepalive --server 127.0.0.1 --port "$FREE" --tls none --user u --duration 5)

# expect CODE PATTERN [LINES] -- ARGS...: run natidle ARGS, check the exit
# code, that stderr has LINES lines (default 1; 0: any number) and matches
# PATTERN (an ERE),
# and that the password shows nowhere.
n=0
expect() {
  local code=$1 pat=$2 lines=1 rc=0
  shift 2
  if [ "$1" != -- ]; then lines=$1; shift; fi
  shift
  n=$((n + 1))
  timeout 30 "$BIN" "$@" </dev/null >"$WORK/out" 2>"$WORK/err" || rc=$?
  local what="natidle ${*:1:3}... (${*: -2})"
  if [ "$rc" -ne "$code" ]; then
    bad "$what: exit $rc, $code expected: $(head -c 300 "$WORK/err")"
  elif [ "$lines" -ne 0 ] && [ "$(wc -l <"$WORK/err")" -ne "$lines" ]; then
    bad "$what: $lines line(s) on stderr expected: $(head -c 400 "$WORK/err")"
  elif ! grep -qE -- "$pat" "$WORK/err"; then
    bad "$what: stderr should match '$pat': $(head -c 300 "$WORK/err")"
  fi
  ! grep -qF -- "$SECRET" "$WORK/out" "$WORK/err" ||
    bad "$what: the password is echoed: $(head -c 300 "$WORK/err")"
}

say "top level"
expect 2 'usage: natidle' 0 --
expect 2 "no such command 'frobnicate'" -- frobnicate
expect 2 "no such command 'frobnicate'" -- help frobnicate

say "probe"
expect 2 "unknown option '--bogus'" -- "${P[@]}" --bogus
expect 2 "unknown option" -- "${P[@]}" --password "$SECRET"
expect 2 "unknown option" -- "${P[@]}" "--password=$SECRET"
expect 2 "needs a value" -- "${P[@]}" --port
for a in "--port 0" "--port 65536" "--port 99999999999999999999" "--port -1" "--port 0x10" \
         "--sessions 0" "--sessions 65" "--min nan" "--min -1" "--max 1e400" "--max inf" \
         "--max 86401" "--resolution 0" "--noop 0.1" "--max-checks 0" "--min 20 --max 10" \
         "--tls ssl" "--direction up" "--strategy random"; do
  # shellcheck disable=SC2086
  expect 2 "probe: " -- "${P[@]}" $a
done
expect 2 "required" -- probe --server 127.0.0.1 --user u
expect 2 "cannot read password file" -- "${P[@]}" --password-file "$WORK/missing"
expect 2 "not a regular file" -- "${P[@]}" --password-file "$WORK"
: >"$WORK/empty"
chmod 600 "$WORK/empty"
expect 2 "is empty" -- "${P[@]}" --password-file "$WORK/empty"
expect 2 "no password" -- "${P[@]}" --allow-plaintext
cp "$WORK/pw" "$WORK/pw-open"
chmod 644 "$WORK/pw-open"
expect 5 "readable by other users" 2 -- "${P[@]}" --allow-plaintext --password-file "$WORK/pw-open"
NATIDLE_PASSWORD=$SECRET expect 5 "cannot connect" -- "${P[@]}" --allow-plaintext

# A file of a run against another server: refused before any connection.
cols=run_id,network,server,port,tls,session,target_s,silence_s,direction,outcome,detect_ms,rtt_ms,evidence,at
printf '%s\r\n%s\r\n' "$cols" \
  "20260101T000000Z-0001,home,192.0.2.7,993,imaps,1,10.000,10.012,inbound,alive,3,2,,2026-01-01T00:00:10.000Z" \
  >"$WORK/other.csv"
cp "$WORK/other.csv" "$WORK/other.before"
expect 7 "cannot resume" -- probe --server 127.0.0.1 --port "$FREE" --tls none --allow-plaintext \
  --user u --password-file "$WORK/pw" --csv "$WORK/other.csv" --resume
cmp -s "$WORK/other.csv" "$WORK/other.before" || bad "a refused --resume changed the file"
printf 'run_id,network,verdict\r\nx,y,measured\r\n' >"$WORK/notobs.csv"
expect 7 "not an observations file" -- probe --server 127.0.0.1 --port "$FREE" --tls none \
  --allow-plaintext --user u --password-file "$WORK/pw" --csv "$WORK/notobs.csv" --resume
expect 2 "cannot open" -- probe --server 127.0.0.1 --port "$FREE" --tls none --allow-plaintext \
  --user u --password-file "$WORK/pw" --csv "$WORK/no/such/dir/obs.csv"

say "keepalive"
expect 2 "unknown option '--bogus'" -- "${K[@]}" --bogus
expect 2 "unknown option '--bogus'" -- "${K[@]}" "--bogus=$SECRET"
expect 2 "unknown option '--password': passwords are never taken" -- "${K[@]}" --password "$SECRET"
expect 2 "unknown option '--password': passwords are never taken" -- "${K[@]}" "--password=$SECRET"
expect 2 "unknown option '--pass': passwords are never taken" -- "${K[@]}" --pass "$SECRET"
expect 2 "needs a value" -- "${K[@]}" --port
for a in "--port 0" "--port 65536" "--nat-timeout 0" "--nat-timeout nan" "--interval inf" \
         "--interval 0.5" "--duration -3" "--duration abc" "--tls ssl" \
         "--nat-timeout 30 --adaptive"; do
  # shellcheck disable=SC2086
  expect 2 "keepalive: " -- "${K[@]}" $a
done
expect 2 "unexpected argument" -- "${K[@]}" stray
expect 2 "are needed" -- keepalive --server 127.0.0.1
expect 2 "cannot read password file" -- "${K[@]}" --password-file "$WORK/missing"
expect 2 "not a regular file" -- "${K[@]}" --password-file "$WORK"
expect 2 "is empty" -- "${K[@]}" --password-file "$WORK/empty"
expect 2 "no password" -- "${K[@]}" --allow-plaintext
expect 5 "readable by other users" 2 -- "${K[@]}" --allow-plaintext --password-file "$WORK/pw-open" --quiet
NATIDLE_PASSWORD=$SECRET expect 5 "connect" -- "${K[@]}" --allow-plaintext --quiet
printf 'u %s\nonly-one-word\n' "$WORK/pw" >"$WORK/accounts"
expect 2 "accounts .*:2: expected" -- keepalive --server 127.0.0.1 --accounts "$WORK/accounts"
printf 'u %s 127.0.0.1 99999\n' "$WORK/pw" >"$WORK/accounts"
expect 2 "bad port" -- keepalive --server 127.0.0.1 --accounts "$WORK/accounts"
expect 2 "accounts" -- keepalive --server 127.0.0.1 --accounts "$WORK/missing"
# A summary is the keepalive's input file: missing, malformed, or of
# another network, it is refused.
expect 2 "from-summary" -- "${K[@]}" --password-file "$WORK/pw" --from-summary "$WORK/missing"
printf 'run_id,network\r\n"unterminated,x\r\n' >"$WORK/bad.csv"
expect 2 "from-summary" -- "${K[@]}" --password-file "$WORK/pw" --from-summary "$WORK/bad.csv"
expect 2 "no measured bracket for network elsewhere" -- "${K[@]}" --password-file "$WORK/pw" \
  --from-summary "$NATIDLE_SRC/tests/reports/summary-home.csv" --network elsewhere
expect 2 "log" -- "${K[@]}" --password-file "$WORK/pw" --log "$WORK/no/such/dir/ka.csv"

say "report"
expect 2 "unknown option" -- report summary --bogus
expect 2 "No such file" -- report summary "$WORK/missing"
expect 2 "bad.csv" -- report summary "$WORK/bad.csv"
expect 2 "needs a value" -- report plot "$WORK/obs.csv" --svg
expect 2 "report" -- report frobnicate
expect 2 "report" -- report plot "$NATIDLE_SRC/tests/reports/obs-carrier-a.csv" --svg "$WORK/x.svg" \
  --direction sideways
expect 1 "report" -- report html "$NATIDLE_SRC/tests/reports/summary-home.csv" \
  -o "$WORK/no/such/dir/r.html"

say "lab"
expect 2 "unknown command" -- lab frobnicate
expect 2 "unknown option '--bogus'" -- lab up t1 --bogus
for a in "--timeout 0" "--timeout 864001" "--timeout abc" "--latency -1" "--latency 60001" \
         "--mode sometimes" "--accounts 0" "--server-keepalive 0"; do
  # shellcheck disable=SC2086
  expect 2 "natidle-lab: " -- lab up t1 $a
done
expect 2 "bad lab name" -- lab up 'bad/name'
expect 2 "bad lab name" -- lab down "$(printf 'x%.0s' $(seq 30))"
expect 2 "link NAME down" -- lab link t1 sideways

[ "$FAILS" -eq 0 ] || { echo "$FAILS of $n check(s) failed" >&2; exit 1; }
say "all $n command-line checks passed"
