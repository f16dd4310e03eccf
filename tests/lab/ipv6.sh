#!/usr/bin/env bash
# --ipv6: the NAT namespace is a stateful IPv6 firewall with the same idle
# timeout.  An IDLE session over IPv6 silent below the timeout gets its
# push; above it the push is lost, and DONE goes unanswered (drop) or is
# answered by a RST (reset).  Nothing from outside gets in.  natidle probe
# --family 6 measures the timeout over IPv6.
# shellcheck source=tests/lab/lib.sh
. "$(dirname "$0")/lib.sh"
lab_test_init lab-ipv6

T=4

# probe_ipv6: "natidle probe --family 6 --max 2T" over the IPv6 path of the
# lab in E finds T in its bracket; --family 6 to the IPv4 address fails.
probe_ipv6() {
  local bin=${NATIDLE_BIN:-$T_SRC/build/natidle} sum=$T_TMP/probe6.sum lo hi rc=0
  if [ ! -x "$bin" ]; then fail "no natidle binary to probe with ($bin)"; return; fi
  local -a args=(--user natidle1 --password-file "${E[PASSWORD_DIR]}/natidle1" --ca-file "${E[CA_FILE]}"
    --family 6 --max $((2 * T)) --sessions 4 --no-capture --quiet)
  timeout 90 "${LAB_CMD[@]}" exec "${E[LAB]}" "$bin" probe --server "${E[SERVER_ADDR]}" "${args[@]}" \
    --csv "$T_TMP/probe4.csv" >/dev/null 2>"$T_TMP/probe4.err" || rc=$?
  if [ "$rc" -ne 0 ] && grep -q 'has no IPv6 address' "$T_TMP/probe4.err"; then
    ok "probe --family 6 to an IPv4 address: refused (exit $rc)"
  else
    fail "probe --family 6 to an IPv4 address: exit $rc, $(tr '\n' ' ' <"$T_TMP/probe4.err")"
  fi
  local start=$SECONDS
  timeout 90 "${LAB_CMD[@]}" exec "${E[LAB]}" "$bin" probe --server "${E[SERVER_ADDR6]}" "${args[@]}" \
    --csv "$T_TMP/probe6.csv" --summary "$sum" >/dev/null 2>"$T_TMP/probe6.err" ||
    { fail "probe --family 6 failed: $(tail -3 "$T_TMP/probe6.err" | tr '\n' ' ')"; return; }
  IFS=, read -r lo hi <<<"$(awk -F, 'NR == 2 { print $7 "," $8 }' "$sum")"
  say "probe over IPv6: bracket ($lo, $hi] s in $((SECONDS - start)) s"
  if awk -v l="$lo" -v h="$hi" -v t="$T" 'BEGIN { exit !(l >= t - 1 && h <= t + 1 && l < h) }'; then
    ok "probe --family 6 --max $((2 * T)) over IPv6 brackets T = $T s: ($lo, $hi]"
  else
    fail "probe --family 6: bracket ($lo, $hi] does not hold T = $T s"
  fi
}

for mode in drop reset; do
  lab_up "t-ip6$mode-$$" --ipv6 --timeout "$T" --mode "$mode"
  case ${E[SERVER_ADDR6]:-} in
    2001:db8:*) ok "$mode: SERVER_ADDR6=${E[SERVER_ADDR6]} CLIENT_ADDR6=${E[CLIENT_ADDR6]}" ;;
    *) fail "$mode: env shows no SERVER_ADDR6 in 2001:db8::/32 ('${E[SERVER_ADDR6]:-}')"; continue ;;
  esac
  PUSH_HOST=${E[SERVER_ADDR6]}
  if [ "$mode" = drop ]; then
    alive_and_dead "$T" --wait-done 2
    expect "$T_TMP/dead" DONE_RESULT silent "IPv6, silent T + 2 s: DONE is dropped"
    probe_ipv6
    # The firewall lets nothing in that the client did not open.
    if timeout 10 ip netns exec "${E[NS_SERVER]}" ping -6 -n -q -c 2 -i 0.2 -W 1 "${E[CLIENT_ADDR6]}" >/dev/null 2>&1; then
      fail "the server reaches the client over IPv6 unsolicited"
    else
      ok "nothing from outside reaches the client over IPv6"
    fi
  else
    alive_and_dead "$T" --wait-done 3
    expect "$T_TMP/dead" DONE_RESULT reset "IPv6, silent T + 2 s: DONE is answered by a RST"
  fi
  unset PUSH_HOST
done
finish
