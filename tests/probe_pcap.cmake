# The probe's packet evidence: the analysis on synthetic packets and pcap
# files (no capture privileges needed), and the capture in the carrier NAT
# lab (label lab: root, network namespaces).
ni_unit_test(test_pcap SOURCES test_pcap.c LABELS unit TIMEOUT 60)
ni_unit_test(test_pcap_live SOURCES pcap/test_pcap_live.c LABELS lab TIMEOUT 60)
