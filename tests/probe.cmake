# natidle probe: resume, the status output and the engine's contract with
# the tool (label unit), the runtime against a loopback Dovecot (label imap)
# and against the carrier NAT lab (label lab).  Scripts live in tests/probe/.
ni_unit_test(test_probe_resume SOURCES test_probe_resume.c)
ni_unit_test(test_status SOURCES test_status.c)
ni_unit_test(test_probe_run SOURCES test_probe_run.c)
ni_script_test(probe_errors tests/probe/probe_errors.sh LABELS imap TIMEOUT 120)
ni_script_test(probe_safety tests/probe/probe_safety.sh LABELS imap TIMEOUT 180)
ni_script_test(probe_lab_drop5 tests/probe/probe_lab_nat.sh LABELS lab TIMEOUT 150 ARGS drop 5)
ni_script_test(probe_lab_reset8 tests/probe/probe_lab_nat.sh LABELS lab TIMEOUT 150 ARGS reset 8)
ni_script_test(probe_lab_loose5 tests/probe/probe_lab_nat.sh LABELS lab TIMEOUT 180 ARGS loose 5)
ni_script_test(probe_lab_masked tests/probe/probe_lab_nat.sh LABELS lab TIMEOUT 150 ARGS masked 12 5)
ni_script_test(probe_lab_outage tests/probe/probe_lab_nat.sh LABELS lab TIMEOUT 180 ARGS outage 10)
ni_script_test(probe_oauth2 tests/probe/probe_oauth2.sh LABELS imap TIMEOUT 120)
# Field conditions (300 ms of round trip, 1 % loss): the bracket in the NAT's
# terms holds the timeout (a few minutes).
ni_script_test(probe_lab_field tests/probe/probe_lab_field.sh LABELS lab TIMEOUT 400)
# A radio that sleeps after 10 s and takes 2 s to wake, 1 % loss, 200 ms of
# round trip, a 15 s NAT: the bracket in the NAT's terms holds it.
ni_script_test(probe_lab_field_radio tests/probe/probe_lab_field.sh LABELS lab TIMEOUT 400
               ARGS radio)
