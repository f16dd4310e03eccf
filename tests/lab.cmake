# The carrier NAT lab's integration tests (root: network namespaces,
# nftables, Dovecot).  Each test brings up and removes its own lab, so they
# run in parallel; 77 means skipped (not root, or a tool missing).
foreach(case drop reset loose server_keepalive lifecycle faults)
  ni_script_test(lab_${case} tests/lab/${case}.sh LABELS lab TIMEOUT 120)
  set_tests_properties(lab_${case} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()

# "natidle lab" finding its script; no root needed.
ni_script_test(lab_cli tests/lab/cli.sh LABELS unit TIMEOUT 60)
