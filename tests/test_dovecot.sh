#!/usr/bin/env bash
# The IMAP client against a real Dovecot (label imap): starts a private
# instance on 127.0.0.1 with lab/dovecot-instance on free high ports, runs
# the test_dovecot binary against it, and stops it again, also on failure.
# Needs root (Dovecot switches users); exits 77 (skipped) without it.
set -euo pipefail
: "${NATIDLE_SRC:?}" "${NATIDLE_BUILD:?}"
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
if ! command -v dovecot >/dev/null; then echo "FAIL: dovecot-imapd is not installed (sudo ./run deps)"; exit 1; fi
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

# Random high ports so that parallel runs do not collide; a few tries.
out=
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 20000))
  if out=$("$INSTANCE" start "$DIR" --listen 127.0.0.1 --port-imap "$port" \
             --port-imaps "$((port + 1))" 2>"$WORK/start.err"); then
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
