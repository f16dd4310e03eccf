# Real IMAP servers in the lab (root): one test per server variant, each
# with a lab of its own (tests/lab/servers.sh).  Cyrus and Courier conflict
# with dovecot-imapd and are run from their Debian packages, downloaded into
# /var/cache/natidle/servers on first use (a failed download fails the
# test).  About 20 s each (40 s for the polling ones, 5 s polls).
foreach(variant dovecot cyrus cyrus-idled cyrus-altns courier courier-enhanced)
  string(REPLACE "-" "_" name ${variant})
  ni_script_test(lab_server_${name} tests/lab/servers.sh LABELS lab TIMEOUT 150 ARGS ${variant})
endforeach()
