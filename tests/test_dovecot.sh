#!/usr/bin/env bash
# The IMAP client against a real Dovecot (label imap): starts a private
# instance on 127.0.0.1 with lab/dovecot-instance on free high ports, runs
# the test_dovecot binary against it, and stops it again, also on failure.
# The instance also takes OAuth2 tokens (JWTs checked with a key made here;
# python3's standard library mints them) and offers no SASL-IR to clients
# from 127.0.0.9.  Needs root (Dovecot switches users); exits 77 (skipped)
# without it.
set -euo pipefail
: "${NATIDLE_SRC:?}" "${NATIDLE_BUILD:?}"
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
if ! command -v dovecot >/dev/null; then echo "FAIL: dovecot-imapd is not installed (sudo ./run deps)"; exit 1; fi
if ! command -v python3 >/dev/null; then echo "FAIL: python3 is not installed"; exit 1; fi
BIN=$NATIDLE_BUILD/tests/test_dovecot
INSTANCE=$NATIDLE_SRC/lab/dovecot-instance

WORK=$(mktemp -d /tmp/natidle-dovecot-test.XXXXXX)
# Dovecot's login processes must reach their sockets under the instance dir.
chmod 755 "$WORK"
DIR=$WORK/dovecot
cleanup() {
  "$INSTANCE" stop "$DIR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# OAuth2: a random HS256 key in Dovecot's key layout (<azp>/<alg>/<kid>,
# "default" for a token without azp or kid), and tokens for the first
# account: valid for an hour, expired an hour ago, and signed with another
# key.  Each token is a file of its own, readable by root only.
mkdir -p "$WORK/oauth2-keys/default/HS256" "$WORK/tokens"
chmod 700 "$WORK/oauth2-keys" "$WORK/tokens"
python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode(), end="")' \
  >"$WORK/oauth2-keys/default/HS256/default"
mint_tokens() {
  python3 - "$WORK" "$1" <<'PY'
import base64, hashlib, hmac, json, os, sys, time
work, user = sys.argv[1], sys.argv[2]
with open(os.path.join(work, "oauth2-keys/default/HS256/default")) as f:
    key = base64.b64decode(f.read())

def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def jwt(secret, exp):
    now = int(time.time())
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"sub": user, "iat": min(now, exp) - 60, "exp": exp}).encode())
    sig = hmac.new(secret, (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64url(sig)

now = int(time.time())
for name, secret, exp in (("valid", key, now + 3600), ("expired", key, now - 3600),
                          ("badsig", os.urandom(32), now + 3600)):
    path = os.path.join(work, "tokens", name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(jwt(secret, exp))
PY
}

# Random high ports so that parallel runs do not collide; a few tries.
out=
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 20000))
  if out=$("$INSTANCE" start "$DIR" --listen 127.0.0.1 --port-imap "$port" \
             --port-imaps "$((port + 1))" --oauth2 "$WORK/oauth2-keys" \
             --no-sasl-ir-from 127.0.0.9 2>"$WORK/start.err"); then
    break
  fi
  out=
  "$INSTANCE" stop "$DIR" >/dev/null 2>&1 || true
  rm -rf "$DIR"
done
if [ -z "$out" ]; then
  echo "cannot start Dovecot:" >&2
  cat "$WORK/start.err" >&2
  exit 1
fi
while IFS= read -r line; do
  key=${line%%=*}
  val=${line#*=}
  case $key in
    HOST | PORT_IMAP | PORT_IMAPS | CA_FILE | USER | PASSWORD_FILE) export "NI_DV_$key=$val" ;;
  esac
done <<<"$out"
mint_tokens "$NI_DV_USER"
export NI_DV_TOKEN_DIR=$WORK/tokens
export NI_DV_NO_SASL_IR_FROM=127.0.0.9

# A name for 127.0.0.1 that the certificate (IP:127.0.0.1, DNS:localhost)
# does not carry: the machine's own name when it resolves there, otherwise
# the IPv4-mapped IPv6 form of the address (when the kernel has IPv6).
# Empty skips that case.
if [ -z "${NI_DV_MISMATCH_HOST+set}" ]; then
  name=$(hostname)
  NI_DV_MISMATCH_HOST=
  if [ "$name" != localhost ] && getent ahostsv4 "$name" | grep -q '^127\.0\.0\.1 '; then
    NI_DV_MISMATCH_HOST=$name
  elif [ -e /proc/net/if_inet6 ]; then
    NI_DV_MISMATCH_HOST=::ffff:127.0.0.1
  fi
fi
export NI_DV_MISMATCH_HOST
mkdir "$WORK/certs"
export NI_DV_TMP=$WORK/certs

rc=0
"$BIN" || rc=$?
if [ $rc -ne 0 ]; then
  echo "--- Dovecot log (tail)" >&2
  tail -n 30 "$DIR/dovecot.log" >&2 || true
fi
exit $rc
