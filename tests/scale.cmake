# Scale benchmark smoke run: N = 200 idle sessions against the benchmark's
# own loopback server.  Checks that the table row is there and its numbers
# are sane; the memory and CPU goals belong to the benchmark, not the test.
ni_script_test(scale_smoke tests/scale_smoke.sh LABELS slow TIMEOUT 120)
