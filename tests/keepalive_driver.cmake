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
# Relying on the server's own keepalive behind the lab's NAT (root): a
# masked_by_server summary, Dovecot's "* OK Still here" every 20 s, a 30-s
# NAT: no keepalive of the client's own for 90 s, and push still works.
ni_script_test(keepalive_lab_server_keepalive tests/keepalive/lab_server_keepalive.sh LABELS lab
               TIMEOUT 180)
set_tests_properties(keepalive_lab_server_keepalive PROPERTIES SKIP_RETURN_CODE 77)

# natidle keepalive --family 6 over the lab's IPv6 path (root).
ni_script_test(keepalive_lab_ipv6 tests/keepalive/ipv6.sh LABELS lab TIMEOUT 120)

# natidle keepalive over a link that sleeps like a cellular radio (6 s tail,
# 2 s wake), 1 % loss, 200 ms round trip, behind a 12 s NAT (root).
ni_script_test(keepalive_lab_radio tests/keepalive/lab_radio.sh LABELS lab TIMEOUT 240)

# natidle keepalive across a rebind of the lab's NAT (root, about 70 s): it
# reconnects, resyncs, and learns no shorter timeout from the event.
ni_script_test(keepalive_lab_rebind tests/keepalive/lab_rebind.sh LABELS lab TIMEOUT 300)
