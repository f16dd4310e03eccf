# The tool (cli/): the option parser, the password reader, formatting.
ni_unit_test(test_options SOURCES test_options.c)
ni_unit_test(test_password SOURCES test_password.c)
ni_unit_test(test_util SOURCES test_util.c)
