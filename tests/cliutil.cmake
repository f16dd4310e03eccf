ni_unit_test(test_cliutil SOURCES test_cliutil.c)
