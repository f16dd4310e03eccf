/*
 * tests/parser_check.h - what the IMAP parser's tests share (parser_check.c):
 * feeding a stream whole, byte by byte and split at every position, and
 * asserting that every way gives the same responses and the same error;
 * single responses parsed after that check; and the recorded streams more
 * than one test reads.
 */
#ifndef NATIDLE_TESTS_PARSER_CHECK_H
#define NATIDLE_TESTS_PARSER_CHECK_H

#include <stddef.h>

#include "natidle/imap.h"

/* A growable byte buffer for a flattened response. */
typedef struct sbuf {
  char *p;
  size_t n, cap;
} sbuf;

/* The outcome of feeding a stream: every response flattened, then the
 * error (0 when none) and its message. */
typedef struct outcome {
  sbuf all;
  int nresp;
  int err;
  char errstr[80];
} outcome;

/* Streams recorded from Dovecot: its greeting, a FETCH with ENVELOPE and a
 * header literal, and SELECT's output ending in a partial line. */
extern const char greeting[];
extern const char fetch_env[];
extern const char select_stream[];

/* Append every field of r to b, so two responses compare with memcmp. */
void flatten(sbuf *b, const ni_resp *r);
/* Feed buf[0..len) in pieces of at most step bytes (0: all at once), with
 * an extra cut at position cut (0: none); the caller frees o->all.p. */
void run_stream(const ni_parser_limits *lim, const char *buf, size_t len, size_t step, size_t cut,
                outcome *o);
/* Fed whole and byte by byte, the stream gives the same outcome, returned
 * in *o (the caller frees o->all.p). */
void check_splits(const ni_parser_limits *lim, const char *buf, size_t len, outcome *o);
/* Split in two anywhere, the stream gives the same outcome as whole. */
void check_every_cut(const ni_parser_limits *lim, const char *buf, size_t len);

/* The one response in s, after check_splits; valid until the next call or
 * teardown_parser(). */
ni_resp parse_len(const char *s, size_t len);
ni_resp parse1(const char *s);
/* The stream fails with err and msg, or gives nresp responses, whole and
 * byte by byte. */
void expect_error_lim(const ni_parser_limits *lim, const char *s, size_t len, int err,
                      const char *msg);
void expect_ok(const ni_parser_limits *lim, const char *s, size_t len, int nresp);
void expect_error(const char *s, int err, const char *msg);
/* s holds want, NUL-terminated. */
void assert_str(ni_str s, const char *want);
/* cmocka teardown: frees the parser parse_len() keeps. */
int teardown_parser(void **state);

#endif /* NATIDLE_TESTS_PARSER_CHECK_H */
