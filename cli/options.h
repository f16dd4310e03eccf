/*
 * cli/options.h - the one option parser of the natidle subcommands.
 *
 * Each subcommand describes its options in a table (the same table its
 * --help text documents) and calls ni__opts_parse(), which runs
 * getopt_long over it, converts and bounds-checks every value, and prints
 * every usage error in one format:
 *
 *     natidle CMD: <what is wrong>; try 'natidle help CMD'
 *
 * The connection options every network subcommand shares are one block,
 * NI__CONN_OPTS, filling an ni__conn_args.
 */
#ifndef NATIDLE_CLI_OPTIONS_H
#define NATIDLE_CLI_OPTIONS_H

#include <stddef.h>

typedef enum ni__opt_kind {
  NI__OPT_FLAG,    /* no value: *(int *)dest = 1 */
  NI__OPT_STRING,  /* *(const char **)dest = the value (borrowed from argv) */
  NI__OPT_UINT,    /* *(unsigned long *)dest, a whole number in [min, max] */
  NI__OPT_SECONDS, /* *(double *)dest, seconds with an optional s/m/h suffix */
} ni__opt_kind;

typedef struct ni__opt {
  const char *name; /* long name without the dashes */
  char short_name;  /* a one-letter alias, or 0 */
  ni__opt_kind kind;
  void *dest;
  double min, max; /* bounds of UINT and SECONDS values */
  int *given;      /* when not NULL, set to 1 when the option is present */
} ni__opt;

/* The options of a connection to an IMAP server. */
typedef struct ni__conn_args {
  const char *server, *tls, *user, *password_file, *ca_file, *network;
  const char *family; /* "4", "6", or NULL: see ni__conn_family() */
  unsigned long port; /* 0: the TLS mode's default */
  int insecure, allow_plaintext;
} ni__conn_args;

/* The block of connection options, for a subcommand's table. */
#define NI__CONN_OPTS(ca)                                                                          \
  {"server", 0, NI__OPT_STRING, &(ca)->server, 0, 0, NULL},                                        \
      {"port", 0, NI__OPT_UINT, &(ca)->port, 1, 65535, NULL},                                      \
      {"tls", 0, NI__OPT_STRING, &(ca)->tls, 0, 0, NULL},                                          \
      {"user", 0, NI__OPT_STRING, &(ca)->user, 0, 0, NULL},                                        \
      {"password-file", 0, NI__OPT_STRING, &(ca)->password_file, 0, 0, NULL},                      \
      {"ca-file", 0, NI__OPT_STRING, &(ca)->ca_file, 0, 0, NULL},                                  \
      {"insecure", 0, NI__OPT_FLAG, &(ca)->insecure, 0, 0, NULL},                                  \
      {"allow-plaintext", 0, NI__OPT_FLAG, &(ca)->allow_plaintext, 0, 0, NULL},                    \
      {"network", 0, NI__OPT_STRING, &(ca)->network, 0, 0, NULL}, {                                \
    "family", 0, NI__OPT_STRING, &(ca)->family, 0, 0, NULL                                         \
  }

/* The help text of the connection block, for the OPTIONS section of a
 * subcommand's --help. */
extern const char ni__conn_opts_help[];

/* The IP version --family asks for: *family = 4 or 6, or 0 when the option
 * was not given (any: IPv4 first).  Anything else is a usage error of cmd,
 * printed; returns 0 or NI_EUSAGE. */
int ni__conn_family(const char *cmd, const char *value, int *family);

/*
 * Parse argv[1..argc-1] against opts[0..n-1] plus -h/--help.  Options and
 * operands may be mixed; on return the operands are argv[*first ..
 * argc-1] (argv is permuted, as GNU getopt does).  first may be NULL when
 * the subcommand takes no operands (then any operand is a usage error).
 * An option name abbreviated to a prefix of "--password" is refused
 * without echoing its value: it is the password itself more often than a
 * file name.  Unknown options are named without what follows a '=' (it may
 * be a secret).
 * Returns 0, 1 when --help was asked (nothing printed: the caller prints
 * its help), or NI_EUSAGE after printing the one-line error.
 */
int ni__opts_parse(const char *cmd, int argc, char **argv, const ni__opt *opts, size_t n,
                   int *first);

/* Print "natidle CMD: <message>; try 'natidle help CMD'" on stderr. */
void ni__usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    /* Lets the compiler check the format string against its arguments. */
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
