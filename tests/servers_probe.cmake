# natidle probe against real IMAP servers in the lab (root): Cyrus 3.6 with
# both namespace settings, with and without idled, and Courier 5.0 as
# shipped and with enhanced IDLE (tests/servers_probe.sh).  Each variant
# twice: without a NAT in the way (above_max, about 20 s) and behind a 9-s
# NAT (the bracket holds 9 s; 40-100 s, the polling servers poll every 5 s),
# and Courier polling once an hour for no_push (about 20 s).  Every run
# checks that no mailbox is left behind and the INBOX did not change.
foreach(variant cyrus cyrus-idled cyrus-altns cyrus-altns-poll courier courier-enhanced)
  string(REPLACE "-" "_" name ${variant})
  ni_script_test(servers_probe_${name}_nonat tests/servers_probe.sh LABELS lab TIMEOUT 150
                 ARGS ${variant} nonat)
  ni_script_test(servers_probe_${name}_nat tests/servers_probe.sh LABELS lab TIMEOUT 180
                 ARGS ${variant} nat 9)
endforeach()
ni_script_test(servers_probe_courier_nopush tests/servers_probe.sh LABELS lab TIMEOUT 150
               ARGS courier-nopush)
# A killed probe's mailboxes below INBOX. are found by --cleanup and by
# --resume (about 40 s).
ni_script_test(servers_probe_cyrus_killed tests/servers_probe.sh LABELS lab TIMEOUT 150
               ARGS cyrus-idled killed)
ni_script_test(servers_probe_courier_killed tests/servers_probe.sh LABELS lab TIMEOUT 150
               ARGS courier-enhanced killed)
