# The probe's search, driven by the simulated prober (no network, no sleeping).
ni_unit_test(test_search SOURCES test_search.c LABELS unit TIMEOUT 120)
