# natidle probe: the runtime against a loopback Dovecot (label imap) and
# against the carrier NAT lab (label lab).  Scripts live in tests/probe/.
ni_script_test(probe_errors tests/probe/probe_errors.sh LABELS imap TIMEOUT 120)
ni_script_test(probe_safety tests/probe/probe_safety.sh LABELS imap TIMEOUT 180)
