# The shared helpers (common/): number parsing, masked secrets, the PRNG.
ni_unit_test(test_num SOURCES test_num.c)
ni_unit_test(test_secret SOURCES test_secret.c)
ni_unit_test(test_prng SOURCES test_prng.c)
