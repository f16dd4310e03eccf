# The IMAP connection and client (imap/conn.c, imap/client.c, imap/tls.c).
# test_conn: against the scripted fake server on 127.0.0.1 (fakeserver.c is
# reusable by other tests: add it to their SOURCES).
ni_unit_test(test_conn SOURCES test_conn.c fakeserver.c LABELS unit TIMEOUT 120)
