# The IMAP response parser and the command builder (imap/parser.c, imap/command.c).
ni_unit_test(test_parser SOURCES test_parser.c LABELS unit TIMEOUT 120)
ni_unit_test(test_command SOURCES test_command.c LABELS unit)
