#!/usr/bin/env bash
# natidle keepalive's logins against a real Dovecot on 127.0.0.1 (label
# imap), whose oauth2 passdb checks HS256 JWTs with a key made here:
#   wrong-password  two accounts, one with a wrong password: that one is
#                   tried exactly once (Dovecot logs one failed login for
#                   it), reported failed, while the other keeps running
#   oauth2-refresh  --oauth2-token-cmd prints an expired token, and a valid
#                   one when NATIDLE_OAUTH2_REFRESH=1: the refused token is
#                   refreshed once, the session reaches IDLE and mail is
#                   pushed; no token appears in its output or log
#   oauth2-expired  --oauth2-token-file holds an expired token: refused,
#                   read again, refused again: the session fails for good
#                   (exit 3) after two attempts, not a loop of them
# The wrong password comes first: Dovecot delays every login from an address
# after a failure (auth_penalty), and the good account must log in at once.
# Needs root (Dovecot switches users); exits 77 (skipped) without it.
set -euo pipefail
: "${NATIDLE_SRC:?}" "${NATIDLE_BIN:?}"
. "$NATIDLE_SRC/tests/keepalive/dovecot.sh"
rc=0
fail() { echo "FAIL: $*"; rc=1; }

# The signing key, in Dovecot's layout <azp>/<alg>/<kid> ("default" for a
# token that names neither).
mkdir -p "$WORK/keys/default/HS256" "$WORK/tok"
chmod 700 "$WORK/keys" "$WORK/tok"
python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode(), end="")' \
  >"$WORK/keys/default/HS256/default"

dovecot_start --accounts 2 --oauth2 "$WORK/keys"
read -r U1 U2 <<<"${E[USERS]}"

# Tokens for the first account: valid for an hour, and expired an hour ago.
python3 - "$WORK" "$U1" <<'PY'
import base64, hashlib, hmac, json, os, sys, time
work, user = sys.argv[1:3]
key = base64.b64decode(open(os.path.join(work, "keys/default/HS256/default")).read())
enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
for name, exp in (("valid", now + 3600), ("expired", now - 3600)):
    signing = enc(b'{"alg":"HS256","typ":"JWT"}') + "." + enc(
        json.dumps({"sub": user, "iat": exp - 7200, "exp": exp}).encode())
    sig = enc(hmac.new(key, signing.encode(), hashlib.sha256).digest())
    fd = os.open(os.path.join(work, "tok", name), os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, (signing + "." + sig).encode())
    os.close(fd)
PY
# A token's signature: what must never show in output or logs.
secret_of() { sed 's/.*\.//' "$WORK/tok/$1"; }

conn=(--server "${E[HOST]}" --port "${E[PORT_IMAPS]}" --ca-file "${E[CA_FILE]}")
# Failed logins of a user so far, as Dovecot counts them: one line per
# connection, "auth failed, N attempts in S secs ... user=<NAME>".
auth_failures() {
  { grep -o "auth failed, [0-9]* attempts.*user=<$1>" "${E[LOG]}" || true; } |
    awk '{n += $3} END {print n + 0}'
}

echo "=== wrong-password"
printf 'not-the-password' >"$WORK/wrong"
chmod 600 "$WORK/wrong"
printf '%s %s\n%s %s\n' "$U2" "$WORK/wrong" "$U1" "${E[PASSWORD_DIR]}/$U1" >"$WORK/accounts"
before=$(auth_failures "$U2")
wrc=0
timeout 30 "$NATIDLE_BIN" keepalive "${conn[@]}" --accounts "$WORK/accounts" --nat-timeout 30 \
  --duration 6 --log "$WORK/wrong.csv" >"$WORK/wrong.out" 2>"$WORK/wrong.err" || wrc=$?
# The good account ran to the end of --duration.
[ "$wrc" -eq 0 ] || fail "wrong-password: exit $wrc, 0 expected: $(cat "$WORK/wrong.err")"
grep -q "^tally " "$WORK/wrong.out" || fail "wrong-password: no tally"
grep -q "$U1 state idle" "$WORK/wrong.err" || fail "wrong-password: the good account never idle"
grep -q "$U2: .*(not retrying)" "$WORK/wrong.err" || fail "wrong-password: failure not reported"
[ "$(grep -c ",$U2,failed,,auth," "$WORK/wrong.csv")" -eq 1 ] || fail "wrong-password: no single failed row"
[ "$(grep -c ",$U2,connect," "$WORK/wrong.csv" || true)" -eq 0 ] || fail "wrong-password: retried"
sleep 1
after=$(auth_failures "$U2")
[ $((after - before)) -eq 1 ] ||
  fail "wrong-password: Dovecot logged $((after - before)) failed logins for $U2, 1 expected"

# Dovecot delays logins from an address that just failed (auth_penalty), so
# the OAuth2 cases, whose failures are deliberate, come after.
echo "=== oauth2-refresh"
cat >"$WORK/token-cmd" <<SH
#!/bin/sh
# Prints a cached (expired) token, or a fresh one when asked to refresh.
echo "refresh=\${NATIDLE_OAUTH2_REFRESH:-0}" >>"$WORK/calls"
if [ "\${NATIDLE_OAUTH2_REFRESH:-}" = 1 ]; then cat "$WORK/tok/valid"; else cat "$WORK/tok/expired"; fi
SH
chmod 700 "$WORK/token-cmd"
if ! python3 "$SOAK" "${conn[@]/--server/--host}" --user "$U1" --password-file "${E[PASSWORD_DIR]}/$U1" \
     --messages 2 --gap 0.5:1 --max-delay 3 --log "$WORK/refresh.csv" --expect-event connect/ok \
     -- "$NATIDLE_BIN" keepalive "${conn[@]}" --user "$U1" --oauth2-token-cmd "$WORK/token-cmd" \
     --nat-timeout 30 --log "$WORK/refresh.csv" 2>"$WORK/refresh.err"; then
  fail "oauth2-refresh: soak failed"; cat "$WORK/refresh.err"
fi
grep -q "state idle" "$WORK/refresh.err" || fail "oauth2-refresh: never idle"
# Asked once, refused; asked for a fresh one, which logged in.
[ "$(tr '\n' ' ' <"$WORK/calls")" = "refresh=0 refresh=1 " ] ||
  fail "oauth2-refresh: token command calls: $(tr '\n' ' ' <"$WORK/calls")"
grep -q "Login: user=<$U1>, method=OAUTHBEARER" "${E[LOG]}" || fail "oauth2-refresh: no OAuth2 login"
for t in valid expired; do
  if grep -rqF "$(secret_of $t)" "$WORK/refresh.err" "$WORK/refresh.csv"; then
    fail "oauth2-refresh: the $t token shows in the output"
  fi
done

echo "=== oauth2-expired"
before=$(auth_failures "$U1")
erc=0
timeout 30 "$NATIDLE_BIN" keepalive "${conn[@]}" --user "$U1" --oauth2-token-file "$WORK/tok/expired" \
  --nat-timeout 30 --log "$WORK/expired.csv" >"$WORK/expired.out" 2>"$WORK/expired.err" || erc=$?
[ "$erc" -eq 3 ] || fail "oauth2-expired: exit $erc, 3 expected: $(cat "$WORK/expired.err")"
grep -q "fresh access token refused too" "$WORK/expired.err" ||
  fail "oauth2-expired: no reason given: $(cat "$WORK/expired.err")"
grep -q ",failed,,auth," "$WORK/expired.csv" || fail "oauth2-expired: no failed row in the log"
if grep -qF "$(secret_of expired)" "$WORK/expired.err" "$WORK/expired.out" "$WORK/expired.csv"; then
  fail "oauth2-expired: the token shows in the output"
fi
sleep 1 # Dovecot logs the failures as the login process ends
after=$(auth_failures "$U1")
[ $((after - before)) -eq 2 ] ||
  fail "oauth2-expired: Dovecot logged $((after - before)) failed logins for $U1, 2 expected"

if [ $rc -ne 0 ]; then
  echo "--- Dovecot log (tail)" >&2
  tail -n 30 "${E[LOG]}" >&2 || true
fi
exit $rc
