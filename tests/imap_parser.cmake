# The IMAP response parser (imap/parser*.c) and the command builder
# (imap/command.c).  test_parser: the grammar and the readers of its data;
# test_parser_framing: splits, line ends, limits, guard pages.  Both share
# the checks of parser_check.c.
ni_unit_test(test_parser SOURCES test_parser.c parser_check.c LABELS unit TIMEOUT 120)
ni_unit_test(test_parser_framing SOURCES test_parser_framing.c parser_check.c LABELS unit TIMEOUT 120)
ni_unit_test(test_command SOURCES test_command.c LABELS unit)
