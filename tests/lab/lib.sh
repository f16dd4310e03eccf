# shellcheck shell=bash
# Shared helpers of the lab integration tests (sourced, not run).
#
# Each test brings up its own lab, named after the test and its pid so
# tests can run in parallel, and a trap removes the lab on exit even when
# the test fails.  Tests exit 77 (skipped) without root; a missing tool is
# a failure (./run installs every tool the tests use).

set -euo pipefail

T_SRC=${NATIDLE_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
T_DIR=$T_SRC/tests/lab
T_LABS=()
T_FAILS=0

say() { printf '%s: %s\n' "${T_NAME:-lab-test}" "$*" >&2; }
fail() { say "FAIL: $*"; T_FAILS=$((T_FAILS + 1)); }
ok() { say "ok: $*"; }

# The lab is driven through "natidle lab" when the binary is there (that is
# what users run), else through the script itself.
if [ -n "${NATIDLE_BIN:-}" ] && [ -x "$NATIDLE_BIN" ]; then
  export NATIDLE_SRC=$T_SRC
  LAB_CMD=("$NATIDLE_BIN" lab)
else
  LAB_CMD=(bash "$T_SRC/lab/natidle-lab")
fi
lab() { timeout 90 "${LAB_CMD[@]}" "$@"; }

skip_unless_possible() {
  if [ "$(id -u)" -ne 0 ]; then
    say "skipped: the lab needs root"
    exit 77
  fi
  local c
  for c in ip nft conntrack tc dovecot python3 ping "$@"; do
    command -v "$c" >/dev/null || { say "FAIL: '$c' is not installed (sudo ./run deps)"; exit 1; }
  done
}

# wait_ns_process NS: wait (up to 5 s) until a process runs in namespace NS.
wait_ns_process() {
  local i
  for i in $(seq 100); do
    [ -n "$(ip netns pids "$1" 2>/dev/null)" ] && return 0
    sleep 0.05
  done
  fail "no process appeared in namespace $1"
}

cleanup() {
  local rc=$? l
  trap - EXIT
  for l in "${T_LABS[@]}"; do
    timeout 60 bash "$T_SRC/lab/natidle-lab" down "$l" >/dev/null 2>&1 ||
      say "cleanup: down $l failed"
  done
  [ -n "${T_TMP:-}" ] && rm -rf -- "$T_TMP"
  if [ "$rc" -eq 0 ] && [ "$T_FAILS" -ne 0 ]; then rc=1; fi
  exit "$rc"
}

# lab_test_init NAME: skip when impossible, arm the cleanup, make T_TMP.
lab_test_init() {
  T_NAME=$1
  skip_unless_possible
  trap cleanup EXIT
  T_TMP=$(mktemp -d "/tmp/natidle-$T_NAME.XXXXXX")
}

# finish: the test's verdict from the checks made.
finish() {
  if [ "$T_FAILS" -ne 0 ]; then say "$T_FAILS check(s) failed"; exit 1; fi
  say "passed"
}

# lab_up NAME ARGS...: bring up a lab that the EXIT trap removes, and load
# its environment into the associative array E (E[SERVER_ADDR], ...).
declare -A E=()
lab_up() {
  local name=$1 out line
  shift
  T_LABS+=("$name")
  out=$(lab up "$name" "$@") || { say "lab up $name failed"; exit 1; }
  E=()
  while IFS= read -r line; do
    E[${line%%=*}]=${line#*=}
  done <<<"$out"
  [ -n "${E[SERVER_ADDR]:-}" ] || { say "lab up $name printed no SERVER_ADDR"; exit 1; }
}

# push_run OUTFILE USER SILENCE [idle_push options...]: one IDLE push
# experiment in the client namespace of the lab loaded in E, over IMAPS
# with the lab's CA.  Meant to run in the background (&).  PUSH_HOST, when
# set, is the server address to use instead of E[SERVER_ADDR] (an IPv6 one).
push_run() {
  local out=$1 user=$2 silence=$3
  shift 3
  timeout 120 "${LAB_CMD[@]}" exec "${E[LAB]}" python3 "$T_DIR/idle_push.py" \
    --host "${PUSH_HOST:-${E[SERVER_ADDR]}}" --port "${E[PORT_IMAPS]}" --ca-file "${E[CA_FILE]}" \
    --user "$user" --password-file "${E[PASSWORD_DIR]}/$user" --silence "$silence" "$@" >"$out"
}

# alive_and_dead T [idle_push options for the dead run...]: two experiments
# at once on two accounts (each mailbox's APPEND reaches only its own
# session): $T_TMP/alive silent T - 2 s, $T_TMP/dead silent T + 2 s.  The
# alive margin covers the second connection's login and Dovecot's 0.5 s
# notification delay, which both come before the push.
alive_and_dead() {
  local t=$1 a d
  shift
  push_run "$T_TMP/alive" natidle1 $((t - 2)) & a=$!
  push_run "$T_TMP/dead" natidle2 $((t + 2)) --wait-push 2 "$@" & d=$!
  wait "$a" || fail "the alive run did not complete"
  wait "$d" || fail "the dead run did not complete"
  expect "$T_TMP/alive" EXISTS_BEFORE_DONE yes "silent T - 2 s: the push arrives"
  expect "$T_TMP/alive" DONE_RESULT ok "silent T - 2 s: DONE answered"
  expect "$T_TMP/dead" SILENCE_BYTES 0 "nothing reached the dead session while silent"
  expect "$T_TMP/dead" EXISTS_BEFORE_DONE no "silent T + 2 s: the push does not arrive"
}

# append_mail USER SUBJECT: one message into USER's INBOX on the lab in E,
# from the server's own namespace, so the appender never crosses the NAT.
append_mail() {
  ip netns exec "${E[NS_SERVER]}" python3 - "$T_SRC/tests/keepalive" "${E[SERVER_ADDR]}" \
    "${E[PORT_IMAPS]}" "${E[CA_FILE]}" "${E[PASSWORD_DIR]}/$1" "$1" "$2" <<'EOF'
import sys, types
sys.path.insert(0, sys.argv[1])
from soak import Appender
a = types.SimpleNamespace(host=sys.argv[2], port=int(sys.argv[3]), tls="imaps",
                          ca_file=sys.argv[4], user=sys.argv[6], password_file=sys.argv[5],
                          mailbox="INBOX")
app = Appender(a)
app.append(sys.argv[7])
app.close()
EOF
  say "appended '$2'"
}

# result FILE KEY: a value printed by idle_push.py.
result() { sed -n "s/^$2=//p" "$1"; }

# expect FILE KEY VALUE WHAT: checks one result, saying what it means.
expect() {
  local got
  got=$(result "$1" "$2")
  if [ "$got" = "$3" ]; then ok "$4 ($2=$got)"; else fail "$4: expected $2=$3, got '${got}' ($(tr '\n' ' ' <"$1"))"; fi
}
