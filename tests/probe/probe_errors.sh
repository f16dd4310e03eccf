#!/usr/bin/env bash
# natidle probe fails cleanly: wrong password, untrusted certificate, no IDLE,
# STARTTLS not offered, plaintext login refused, connection refused, bad
# command lines.  Each gives one line on stderr, the documented exit code,
# and no CSV row claiming a timeout.
source "$(dirname "$0")/lib.sh"
start_dovecot

# expect CODE PATTERN -- probe arguments...: run, compare the exit code and
# the one-line message, and check that no observation or summary row exists.
expect() {
  local code=$1 pattern=$2 rc=0
  shift 3
  rm -f "$WORK/obs.csv" "$WORK/sum.csv"
  run_probe "$@" --csv "$WORK/obs.csv" --summary "$WORK/sum.csv" --max 5 --quiet \
    >"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
  [ "$rc" -eq "$code" ] || { cat "$WORK/err"; fail "expected exit $code, got $rc for: $*"; }
  [ "$(wc -l <"$WORK/err")" -eq 1 ] || { cat "$WORK/err"; fail "expected one line on stderr"; }
  grep -q -- "$pattern" "$WORK/err" || { cat "$WORK/err"; fail "stderr lacks '$pattern'"; }
  grep -q '^natidle probe: ' "$WORK/err" || fail "message not prefixed"
  [ "$(csv_rows "$WORK/obs.csv")" -eq 0 ] || fail "observation rows written"
  [ "$(csv_rows "$WORK/sum.csv")" -eq 0 ] || fail "summary rows written"
  [ ! -s "$WORK/out" ] || { cat "$WORK/out"; fail "a result line was printed"; }
  say "ok: exit $code ($(cat "$WORK/err"))"
}

printf 'not-the-password' >"$WORK/wrong"
chmod 600 "$WORK/wrong"
base=(--server "$DC_HOST" --user "$DC_USER")

say "wrong password"
expect 3 'login failed: .*Authentication failed' -- "${base[@]}" --port "$DC_PORT_IMAPS" \
  --ca-file "$DC_CA_FILE" --password-file "$WORK/wrong"

say "certificate not trusted (no --ca-file)"
expect 4 'certificate verify failed' -- "${base[@]}" --port "$DC_PORT_IMAPS" \
  --password-file "$DC_PASSWORD_FILE"

say "plaintext login refused without --allow-plaintext"
expect 3 'refusing to log in without TLS' -- "${base[@]}" --port "$DC_PORT_IMAP" --tls none \
  --password-file "$DC_PASSWORD_FILE"

say "connection refused"
freeport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
expect 5 'cannot connect' -- "${base[@]}" --port "$freeport" --password-file "$DC_PASSWORD_FILE"

# The fake servers: plaintext, on a free port each.
fake() {
  local mode=$1
  rm -f "$WORK/port.$mode"
  python3 "$SRC/tests/probe/fake_imap.py" "$mode" "$WORK/port.$mode" &
  on_exit "kill $!"
  for _ in $(seq 50); do [ -s "$WORK/port.$mode" ] && break; sleep 0.1; done
  [ -s "$WORK/port.$mode" ] || fail "fake server $mode did not start"
}
fake noidle
fake nostarttls

say "no IDLE capability"
expect 6 'does not offer IDLE' -- --server 127.0.0.1 --port "$(cat "$WORK/port.noidle")" \
  --tls none --allow-plaintext --user someone --password-file "$WORK/wrong"

say "STARTTLS requested but not offered"
expect 6 'does not offer STARTTLS' -- --server 127.0.0.1 --port "$(cat "$WORK/port.nostarttls")" \
  --tls starttls --user someone --password-file "$WORK/wrong"

say "usage errors"
for args in "--server x --user y" "--server x --user y --csv f --min 10 --max 5" \
            "--server x --user y --csv f --read-only --direction inbound" \
            "--server x --user y --csv f --tls tls13" "--server x --user y --csv f --bogus"; do
  rc=0
  # shellcheck disable=SC2086
  "$BIN" probe $args </dev/null >/dev/null 2>"$WORK/err" || rc=$?
  [ "$rc" -eq 2 ] || fail "usage error expected for '$args', got $rc"
  [ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "one-line usage error expected for '$args'"
done
"$BIN" probe --help | grep -q '^EXIT STATUS' || fail "--help lacks EXIT STATUS"
say "all error cases passed"
