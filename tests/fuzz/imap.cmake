# The IMAP response parser, fed in several splits that must agree.
ni_fuzz_target(fuzz_parser fuzz_parser.c)
