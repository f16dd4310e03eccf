# The probe's packet evidence: the frame parser, the filter and the
# privilege drop (test_pcap), the analysis on synthetic packets and pcap
# files (test_pcap_evidence), both without capture privileges and sharing
# pcap_frames.c; and the capture in the carrier NAT lab (label lab: root,
# network namespaces).
ni_unit_test(test_pcap SOURCES test_pcap.c pcap_frames.c LABELS unit TIMEOUT 60)
ni_unit_test(test_pcap_evidence SOURCES test_pcap_evidence.c pcap_frames.c LABELS unit TIMEOUT 60)
ni_unit_test(test_pcap_live SOURCES pcap/test_pcap_live.c LABELS lab TIMEOUT 60)
# natidle probe with its capture: against a loopback Dovecot (label imap,
# root), and in the carrier NAT lab (label lab).
ni_script_test(probe_pcap_local tests/pcap/probe_pcap_local.sh LABELS imap TIMEOUT 180)
ni_script_test(probe_pcap_lab_reset tests/pcap/probe_pcap_lab.sh LABELS lab TIMEOUT 180 ARGS reset 4)
ni_script_test(probe_pcap_lab_drop tests/pcap/probe_pcap_lab.sh LABELS lab TIMEOUT 180 ARGS drop 4)
# The same over the lab's IPv6 path (--ipv6, natidle probe --family 6).
ni_script_test(probe_pcap_lab_ipv6_reset tests/pcap/probe_pcap_lab.sh LABELS lab TIMEOUT 180 ARGS reset 4 6)
ni_script_test(probe_pcap_lab_ipv6_drop tests/pcap/probe_pcap_lab.sh LABELS lab TIMEOUT 180 ARGS drop 4 6)
