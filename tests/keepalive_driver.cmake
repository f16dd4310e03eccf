# The push driver: pure helpers (unit), and lab soak tests (label lab).
ni_unit_test(test_push SOURCES test_push.c)
# natidle keepalive against a real Dovecot on loopback (root).
ni_script_test(push_loopback tests/keepalive/push_loopback.sh LABELS imap TIMEOUT 180)
set_tests_properties(push_loopback PROPERTIES SKIP_RETURN_CODE 77)
# Soak tests behind the lab's carrier NAT (root); each brings up its own lab.
foreach(case nat-timeout interval flush polling-cyrus polling-courier)
  ni_script_test(keepalive_lab_${case} tests/keepalive/lab_soak.sh LABELS lab TIMEOUT 150
                 ARGS ${case})
  set_tests_properties(keepalive_lab_${case} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
# The driver against the scripted fake server on 127.0.0.1 (no root).
ni_unit_test(test_push_fake SOURCES test_push_fake.c fakeserver.c TIMEOUT 60)
# examples/poll_client, the scheduler alone on plain sockets, behind the lab's
# NAT (root).
ni_script_test(poll_client_lab tests/keepalive/poll_client_lab.sh LABELS lab TIMEOUT 90)
# Password and OAuth2 logins against a real Dovecot (root): a refused token
# refreshed once, a permanent refusal, a wrong password tried once.
ni_script_test(push_auth tests/keepalive/push_auth.sh LABELS imap TIMEOUT 120)
# natidle keepalive across a rebind of the lab's NAT (root, about 70 s): it
# reconnects, resyncs, and learns no shorter timeout from the event.
ni_script_test(keepalive_lab_rebind tests/keepalive/lab_rebind.sh LABELS lab TIMEOUT 300)
