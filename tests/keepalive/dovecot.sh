# Sourced by the driver's tests against a real Dovecot on 127.0.0.1
# (tests/keepalive/push_*.sh): checks root and Dovecot (exit 77 to skip
# without root), makes $WORK, and starts a private instance in $WORK/dovecot
# on two free ports with dovecot_start [dovecot-instance options...]; its
# KEY=VALUE lines land in the array E.  The instance and $WORK go away on
# exit.  Needs NATIDLE_SRC.
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
if ! command -v dovecot >/dev/null; then echo "FAIL: dovecot-imapd is not installed (sudo ./run deps)"; exit 1; fi
INSTANCE=$NATIDLE_SRC/lab/dovecot-instance
SOAK=$NATIDLE_SRC/tests/keepalive/soak.py

WORK=$(mktemp -d /tmp/natidle-push-test.XXXXXX)
chmod 755 "$WORK" # Dovecot's login processes must reach their sockets
DIR=$WORK/dovecot
cleanup() {
  "$INSTANCE" stop "$DIR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
declare -A E

dovecot_start() {
  # Two ports the kernel just reported free (the race with other tests is
  # short: Dovecot binds them at once).
  local p1 p2 out line
  read -r p1 p2 < <(python3 -c 'import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))')
  out=$("$INSTANCE" start "$DIR" --listen 127.0.0.1 --port-imap "$p1" --port-imaps "$p2" "$@") ||
    { echo "cannot start Dovecot" >&2; exit 1; }
  while IFS= read -r line; do E[${line%%=*}]=${line#*=}; done <<<"$out"
}
