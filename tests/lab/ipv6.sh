#!/usr/bin/env bash
# --ipv6: the NAT namespace is a stateful IPv6 firewall with the same idle
# timeout.  An IDLE session over IPv6 silent below the timeout gets its
# push; above it the push is lost, and DONE goes unanswered (drop) or is
# answered by a RST (reset).  Nothing from outside gets in.
# shellcheck source=tests/lab/lib.sh
. "$(dirname "$0")/lib.sh"
lab_test_init lab-ipv6

T=4
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
