# The carrier NAT lab's integration tests (root: network namespaces,
# nftables, Dovecot).  Each test brings up and removes its own lab, so they
# run in parallel; 77 means skipped (not root, or a tool missing).
foreach(case drop reset loose server_keepalive lifecycle faults radio rebind)
  ni_script_test(lab_${case} tests/lab/${case}.sh LABELS lab TIMEOUT 120)
  set_tests_properties(lab_${case} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()

# IPv6 through the lab, with a probe run over it (about a minute).
ni_script_test(lab_ipv6 tests/lab/ipv6.sh LABELS lab TIMEOUT 180)
set_tests_properties(lab_ipv6 PROPERTIES SKIP_RETURN_CODE 77)

# "natidle lab" finding its script; no root needed.
ni_script_test(lab_cli tests/lab/cli.sh LABELS unit TIMEOUT 60)

# The link relay's model (delay, loss, a radio that sleeps and wakes), no
# interfaces needed.
add_test(NAME lab_link_relay COMMAND python3 ${PROJECT_SOURCE_DIR}/tests/lab/link_relay_test.py)
set_tests_properties(lab_link_relay PROPERTIES TIMEOUT 30 LABELS unit
  ENVIRONMENT "NATIDLE_SRC=${PROJECT_SOURCE_DIR}")

# The probe-server recipe is a configuration Dovecot accepts (doveconf, no
# server started).
ni_script_test(lab_server_config tests/lab/server_config.sh LABELS unit TIMEOUT 60)

# natidle probe across a rebind of the NAT (a 20 s NAT, about 2 minutes):
# the event voids the silences that spanned it, the bracket still holds.
ni_script_test(lab_probe_rebind tests/lab/probe_rebind.sh LABELS lab TIMEOUT 420)
