# Helpers of the hostile-server and command-line tests (sourced, not run).
# Needs NATIDLE_BIN and NATIDLE_SRC (ctest's ni_script_test sets them).
set -euo pipefail
: "${NATIDLE_BIN:?run through ctest}" "${NATIDLE_SRC:?run through ctest}"
BIN=$NATIDLE_BIN
HOSTILE=$NATIDLE_SRC/tests/hostile
WORK=$(mktemp -d /tmp/natidle-hostile.XXXXXX)
FAILS=0
PIDS=()

say() { echo "--- $*" >&2; }
bad() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# The password every test uses; it must never show up in any output.
SECRET=hostile-Pw-$$-$RANDOM
printf '%s\n' "$SECRET" >"$WORK/pw"
chmod 600 "$WORK/pw"

# make_certs: a throwaway CA and two server certificates signed by it:
# server (IP 127.0.0.1) and wrongname (DNS wrong-name.invalid only).
make_certs() {
  local d=$WORK n
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 \
    -subj /CN=natidle-hostile-ca 2>/dev/null
  for n in server:IP:127.0.0.1 wrongname:DNS:wrong-name.invalid; do
    openssl req -newkey rsa:2048 -nodes -keyout "$d/${n%%:*}.key" -out "$d/${n%%:*}.csr" \
      -subj "/CN=${n#*:}" 2>/dev/null
    printf 'subjectAltName=%s\n' "${n#*:}" >"$d/ext"
    openssl x509 -req -in "$d/${n%%:*}.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
      -CAcreateserial -out "$d/${n%%:*}.pem" -days 2 -extfile "$d/ext" 2>/dev/null
  done
}

# start_hostile NAME MODE [CERT]: a hostile server; its port in PORT[NAME],
# the lines it received in $WORK/NAME.log.
declare -A PORT=()
start_hostile() {
  local name=$1 mode=$2 cert=${3:-server}
  python3 -W ignore "$HOSTILE/hostile_imap.py" "$mode" "$WORK/$name.port" "$WORK/$name.log" \
    "$WORK/$cert" 2>>"$WORK/servers.err" &
  PIDS+=($!)
}

# wait_ports NAME...: wait (bounded) until the servers listen.
wait_ports() {
  local n
  for n in "$@"; do
    for _ in $(seq 100); do [ -s "$WORK/$n.port" ] && break; sleep 0.1; done
    [ -s "$WORK/$n.port" ] || { cat "$WORK/servers.err" >&2; echo "server $n did not start" >&2; exit 1; }
    PORT[$n]=$(cat "$WORK/$n.port")
  done
}

# sanitized: true when NATIDLE_BIN comes from an ASan/UBSan build, whose
# quarantine of freed memory raises peak RSS far above a normal build's.
sanitized() {
  grep -qs '^NATIDLE_SANITIZE:BOOL=ON' "${NATIDLE_BUILD:-/nonexistent}/CMakeCache.txt"
}

# field FILE KEY: a value from runlimit.py's metrics line.
field() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" "$1"; }

# no_secret FILE...: the password appears in none of the files.
no_secret() {
  local f
  for f in "$@"; do
    [ -e "$f" ] || continue
    ! grep -qF -- "$SECRET" "$f" || bad "the password appears in $(basename "$f")"
  done
}
