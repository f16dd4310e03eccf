# The IMAP connection and client (imap/conn.c, imap/client*.c, imap/tls.c).
# test_conn and test_conn_auth (logins, STARTTLS): against the scripted fake
# server on 127.0.0.1, run by conn_harness.c (fakeserver.c is reusable by
# other tests: add it to their SOURCES).
ni_unit_test(test_conn SOURCES test_conn.c conn_harness.c fakeserver.c LABELS unit TIMEOUT 120)
ni_unit_test(test_conn_auth SOURCES test_conn_auth.c conn_harness.c fakeserver.c LABELS unit
  TIMEOUT 120)

# test_dovecot: against a real Dovecot started by test_dovecot.sh (root).
# The binary is not a test by itself: it needs the instance's environment.
add_executable(test_dovecot test_dovecot.c fakeserver.c)
target_link_libraries(test_dovecot PRIVATE natidle_cli PkgConfig::CMOCKA)
target_include_directories(test_dovecot PRIVATE ${PROJECT_SOURCE_DIR}/tests)
ni_script_test(test_dovecot_imap tests/test_dovecot.sh LABELS imap TIMEOUT 180)
set_tests_properties(test_dovecot_imap PROPERTIES SKIP_RETURN_CODE 77)
