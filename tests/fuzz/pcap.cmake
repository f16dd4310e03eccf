# The probe's captured-frame parser and packet analysis fed arbitrary frames.
ni_fuzz_target(fuzz_pcap fuzz_pcap.c)
