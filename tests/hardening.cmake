# Reliability and security tests: hostile servers and command-line input
# (loopback, label imap), faults injected into lab probes, secret handling
# and valgrind runs (label lab, root).  Scripts live in tests/hostile/,
# tests/faults/, tests/secrets/ and tests/valgrind/.
ni_script_test(hostile_servers tests/hostile/hostile.sh LABELS imap TIMEOUT 240)
ni_script_test(hostile_cli tests/hostile/cli.sh LABELS unit TIMEOUT 120)
ni_script_test(secrets tests/secrets/secrets.sh LABELS imap TIMEOUT 120)

# Faults during a probe on the lab (root; 77 = skipped).
foreach(fault restart flush link latency)
  ni_script_test(fault_${fault} tests/faults/probe_fault.sh LABELS lab TIMEOUT 300 ARGS ${fault})
  set_tests_properties(fault_${fault} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
ni_script_test(fault_kill_resume tests/faults/kill_resume.sh LABELS lab TIMEOUT 300)
set_tests_properties(fault_kill_resume PROPERTIES SKIP_RETURN_CODE 77)

# valgrind over a short lab probe and a short keepalive run (root; 77 = skipped).
foreach(run probe keepalive)
  ni_script_test(valgrind_${run} tests/valgrind/valgrind.sh LABELS lab TIMEOUT 300 ARGS ${run})
  set_tests_properties(valgrind_${run} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
