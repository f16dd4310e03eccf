#!/usr/bin/env bash
# The lab's life cycle: help and argument errors, "up" twice with one name,
# two labs side by side, and "down" leaving nothing behind (namespaces,
# Dovecot processes, state directory), also after a half-built "up".
# shellcheck source=tests/lab/lib.sh
. "$(dirname "$0")/lib.sh"
lab_test_init lab-lifecycle

A=t-lc-a-$$
B=t-lc-b-$$
C=t-lc-c-$$

# check_exit WANT WHAT CMD...: CMD exits WANT and says why in one line.
check_exit() {
  local want=$1 what=$2 rc=0 lines
  shift 2
  "$@" >/dev/null 2>"$T_TMP/err" || rc=$?
  lines=$(wc -l <"$T_TMP/err")
  if [ "$rc" -eq "$want" ] && [ "$lines" -eq 1 ]; then
    ok "$what: exit $rc, '$(cat "$T_TMP/err")'"
  else
    fail "$what: expected exit $want with one line on stderr, got $rc and $lines line(s): $(cat "$T_TMP/err")"
  fi
}

help=$("${LAB_CMD[@]}" --help) || fail "--help failed"
if grep -q '^SYNOPSIS' <<<"$help"; then ok "--help prints the manual"; else fail "--help"; fi
check_exit 2 "bad --timeout" "${LAB_CMD[@]}" up "$A" --timeout soon
check_exit 2 "bad --mode" "${LAB_CMD[@]}" up "$A" --mode nope
check_exit 2 "bad lab name" "${LAB_CMD[@]}" up "../x"
check_exit 2 "unknown command" "${LAB_CMD[@]}" frobnicate
check_exit 1 "env of a lab that does not exist" "${LAB_CMD[@]}" env "nosuch-$$"

# login_works NAME: a quick push experiment through the NAT.
login_works() {
  push_run "$T_TMP/login-$1" natidle1 0 --wait-push 3 --wait-done 3 &&
    [ "$(result "$T_TMP/login-$1" EXISTS_BEFORE_DONE)" = yes ]
}

# leftovers NAME: what a removed lab left behind, one thing per line.
leftovers() {
  local p link
  for p in /run/netns/natidle-"$1"-*; do
    [ -e "$p" ] && echo "namespace ${p#/run/netns/}"
  done
  [ -e "/run/natidle-lab/$1" ] && echo "/run/natidle-lab/$1"
  for p in /proc/[0-9]*; do
    for link in "$p/cwd" "$p/root"; do
      link=$(readlink "$link" 2>/dev/null) || continue
      case $link in "/run/natidle-lab/$1"/*) echo "process ${p#/proc/} in $link" ;; esac
    done
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -F "/run/natidle-lab/$1/" | sed "s|^|process ${p#/proc/}: |" || true
  done
}

lab_up "$A" --timeout 30
if login_works "$A"; then ok "lab $A works"; else fail "lab $A: no push"; fi

lab_up "$A" --timeout 20 --mode reset
if [ "${E[TIMEOUT]}" = 20 ] && [ "${E[MODE]}" = reset ]; then ok "up twice: the second up's settings hold"; else fail "up twice: TIMEOUT=${E[TIMEOUT]} MODE=${E[MODE]}"; fi
n=0
for ns in /run/netns/natidle-"$A"-*; do [ -e "$ns" ] && n=$((n + 1)); done
want=3
[ "${E[DELAY_ENGINE]}" = relay ] && want=4
if [ "$n" -eq "$want" ]; then ok "up twice: still $want namespaces"; else fail "up twice: $n namespaces, not $want"; fi
if login_works "$A"; then ok "up twice: the lab works"; else fail "up twice: no push"; fi
declare -A a_env=()
for k in "${!E[@]}"; do a_env[$k]=${E[$k]}; done

lab_up "$B" --timeout 30
for k in SERVER_ADDR CLIENT_ADDR NAT_OUTSIDE_ADDR CLIENT_IFACE NAT_IFACE_IN NAT_IFACE_OUT NS_CLIENT; do
  if [ "${E[$k]}" != "${a_env[$k]}" ]; then :; else fail "labs side by side share $k=${E[$k]}"; fi
done
ok "labs side by side: $A on ${a_env[SERVER_ADDR]} (${a_env[CLIENT_IFACE]}), $B on ${E[SERVER_ADDR]} (${E[CLIENT_IFACE]})"
for k in CLIENT_ADDR SERVER_ADDR NAT_OUTSIDE_ADDR NAT_INSIDE_ADDR; do
  case ${E[$k]} in
    100.6[4-9].* | 100.[7-9][0-9].* | 100.1[01][0-9].* | 100.12[0-7].* | 203.0.113.* | 198.51.100.* | 192.0.2.*) ;;
    *) fail "$k=${E[$k]} is outside the lab's address ranges" ;;
  esac
  [[ ${E[$k]} =~ ^[0-9.]+$ ]] || fail "$k is not an address"
done
for k in CLIENT_IFACE NAT_IFACE_IN NAT_IFACE_OUT SERVER_IFACE; do
  [ "${#E[$k]}" -le 15 ] || fail "$k=${E[$k]} is longer than 15 characters"
done
if login_works "$B"; then ok "lab $B works beside $A"; else fail "lab $B: no push"; fi
list=$("${LAB_CMD[@]}" list) || fail "list failed"
if grep -q "^$A " <<<"$list" && grep -q "^$B " <<<"$list"; then ok "list shows both"; else fail "list: $list"; fi

# A client of A still running when A goes down must not survive it.
timeout 60 "${LAB_CMD[@]}" exec "$A" sleep 50 & sleeper=$!
wait_ns_process "natidle-$A-client"
lab down "$A" || fail "down $A failed"
left=$(leftovers "$A")
if [ -z "$left" ]; then ok "down $A left nothing"; else fail "down $A left: $left"; fi
wait "$sleeper" 2>/dev/null || true
# B is unharmed (E still holds B's environment).
if login_works "$B"; then ok "lab $B still works after down $A"; else fail "lab $B broken by down $A"; fi

# A half-built lab: a namespace, a process in it, a state directory without
# a state file.  down removes all of it.
ip netns add "natidle-$C-nat"
mkdir -p "/run/natidle-lab/$C"
T_LABS+=("$C")
ip netns exec "natidle-$C-nat" sleep 50 & sleeper=$!
wait_ns_process "natidle-$C-nat"
lab down "$C" || fail "down of a half-built lab failed"
left=$(leftovers "$C")
if [ -z "$left" ]; then ok "down of a half-built lab left nothing"; else fail "down $C left: $left"; fi
wait "$sleeper" 2>/dev/null || true
if lab down "nosuch-$$"; then ok "down of a lab that is not there succeeds"; else fail "down nosuch"; fi

lab down "$B" || fail "down $B failed"
left=$(leftovers "$B")
if [ -z "$left" ]; then ok "down $B left nothing"; else fail "down $B left: $left"; fi
finish
