# Reliability and security tests: hostile servers and command-line input
# (loopback, label imap), faults injected into lab probes, secret handling
# and valgrind runs (label lab, root).  Scripts live in tests/hostile/,
# tests/faults/, tests/secrets/ and tests/valgrind/.
ni_script_test(hostile_servers tests/hostile/hostile.sh LABELS imap TIMEOUT 240)
ni_script_test(hostile_cli tests/hostile/cli.sh LABELS unit TIMEOUT 120)
ni_script_test(secrets tests/secrets/secrets.sh LABELS imap TIMEOUT 120)
