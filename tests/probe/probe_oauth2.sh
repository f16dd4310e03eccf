#!/usr/bin/env bash
# natidle probe with OAuth2 instead of a password, against a loopback
# Dovecot whose oauth2 passdb validates JWTs locally (HS256, a key made
# here): a valid token from --oauth2-token-file; an expired one from
# --oauth2-token-cmd, refreshed once through the command; a command that
# only ever gives expired tokens (one refresh, then exit 3); an expired
# token file (read again once, then exit 3).  The token never appears in
# the output, the log or the CSV files.
source "$(dirname "$0")/lib.sh"

mkdir -p "$WORK/keys/default/HS256" "$WORK/tokens"
chmod 700 "$WORK/keys" "$WORK/tokens"
python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode(), end="")' \
  >"$WORK/keys/default/HS256/default"
start_dovecot --oauth2 "$WORK/keys"

# Tokens for the account: valid for an hour, and expired an hour ago.
python3 - "$WORK" "$DC_USER" <<'PY'
import base64, hashlib, hmac, json, os, sys, time
work, user = sys.argv[1], sys.argv[2]
with open(os.path.join(work, "keys/default/HS256/default")) as f:
    key = base64.b64decode(f.read())
def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def jwt(exp):
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"sub": user, "iat": min(int(time.time()), exp) - 60,
                              "exp": exp}).encode())
    sig = hmac.new(key, (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64url(sig)
now = int(time.time())
for name, exp in (("valid", now + 3600), ("expired", now - 3600)):
    fd = os.open(os.path.join(work, "tokens", name), os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(jwt(exp))
PY

# A token command: prints the expired token for its first N calls, then the
# valid one, and counts its calls.
cat >"$WORK/tokcmd.sh" <<EOF
#!/bin/sh
n=\$(cat "$WORK/calls" 2>/dev/null || echo 0)
n=\$((n + 1))
echo "\$n" >"$WORK/calls"
if [ "\$n" -le "\${EXPIRED_CALLS:-0}" ]; then cat "$WORK/tokens/expired"; else cat "$WORK/tokens/valid"; fi
EOF
chmod 700 "$WORK/tokcmd.sh"

A=(--server "$DC_HOST" --port "$DC_PORT_IMAPS" --tls imaps --ca-file "$DC_CA_FILE" --user "$DC_USER"
   --max 3 --sessions 2 --no-capture --verbose)
no_token_in() {
  local f t
  for t in "$WORK/tokens/valid" "$WORK/tokens/expired"; do
    for f in "$@"; do
      [ -f "$f" ] || continue
      ! grep -qF "$(cut -c1-40 "$t")" "$f" || fail "a token in $f"
      ! grep -qF "$(rev "$t" | cut -c1-20 | rev)" "$f" || fail "a token's signature in $f"
    done
  done
}

say "1. a valid token from --oauth2-token-file"
rc=0
run_probe "${A[@]}" --oauth2-token-file "$WORK/tokens/valid" --csv "$WORK/1.csv" \
  --summary "$WORK/1s.csv" >"$WORK/1.out" 2>"$WORK/1.err" || rc=$?
cat "$WORK/1.out"
[ "$rc" -eq 0 ] || { tail "$WORK/1.err" >&2; fail "exit $rc"; }
[ "$(summary_field "$WORK/1s.csv" inbound verdict)" = above_max ] || fail "not above_max"
no_token_in "$WORK/1.out" "$WORK/1.err" "$WORK/1.csv" "$WORK/1s.csv"

say "2. an expired token from --oauth2-token-cmd: refreshed once"
echo 0 >"$WORK/calls"
rc=0
EXPIRED_CALLS=2 run_probe "${A[@]}" --oauth2-token-cmd "$WORK/tokcmd.sh" --csv "$WORK/2.csv" \
  --summary "$WORK/2s.csv" >"$WORK/2.out" 2>"$WORK/2.err" || rc=$?
cat "$WORK/2.out"
[ "$rc" -eq 0 ] || { tail "$WORK/2.err" >&2; fail "exit $rc"; }
grep -q 'refused the OAuth2 token .*getting a fresh one' "$WORK/2.err" || fail "no refresh said"
[ "$(grep -c 'refused the OAuth2 token' "$WORK/2.err")" -eq 1 ] || fail "more than one refresh"
[ "$(summary_field "$WORK/2s.csv" inbound verdict)" = above_max ] || fail "not above_max"
no_token_in "$WORK/2.out" "$WORK/2.err" "$WORK/2.csv" "$WORK/2s.csv"

say "3. a command that only gives expired tokens: one refresh, then exit 3"
echo 0 >"$WORK/calls"
rc=0
EXPIRED_CALLS=99 run_probe "${A[@]}" --oauth2-token-cmd "$WORK/tokcmd.sh" --csv "$WORK/3.csv" \
  >"$WORK/3.out" 2>"$WORK/3.err" || rc=$?
[ "$rc" -eq 3 ] || { tail "$WORK/3.err" >&2; fail "exit $rc, 3 expected"; }
grep -q 'refused a freshly obtained OAuth2 token too' "$WORK/3.err" || fail "no permanent refusal said"
# The tool's own check, the login, the one refresh.
[ "$(cat "$WORK/calls")" -eq 3 ] || fail "the command ran $(cat "$WORK/calls") times, 3 expected"
no_token_in "$WORK/3.out" "$WORK/3.err" "$WORK/3.csv"

say "4. an expired token file: read again once, then exit 3"
rc=0
run_probe "${A[@]}" --oauth2-token-file "$WORK/tokens/expired" --csv "$WORK/4.csv" \
  >"$WORK/4.out" 2>"$WORK/4.err" || rc=$?
[ "$rc" -eq 3 ] || { tail "$WORK/4.err" >&2; fail "exit $rc, 3 expected"; }
no_token_in "$WORK/4.out" "$WORK/4.err" "$WORK/4.csv"

say "5. usage: a token file and a token command together, a missing file"
rc=0
"$BIN" probe "${A[@]}" --oauth2-token-file "$WORK/tokens/valid" --oauth2-token-cmd true \
  --csv "$WORK/5.csv" 2>"$WORK/5.err" || rc=$?
[ "$rc" -eq 2 ] || fail "both sources: exit $rc, 2 expected"
rc=0
"$BIN" probe "${A[@]}" --oauth2-token-file "$WORK/missing" --csv "$WORK/5.csv" 2>"$WORK/5.err" || rc=$?
[ "$rc" -eq 2 ] || fail "missing token file: exit $rc, 2 expected"
say "ok"
