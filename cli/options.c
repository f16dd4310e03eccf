/* The subcommands' option parser (see options.h). */
#include "cli/options.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/num.h"
#include "natidle/common.h"

const char ni__conn_opts_help[] =
    "  Connection (shared by probe and keepalive):\n"
    "    --server HOST        IMAP server (name or address)\n"
    "    --port N             port (default 993 for imaps, 143 otherwise)\n"
    "    --tls MODE           imaps (default), starttls (required, never skipped) or\n"
    "                         none (needs --allow-plaintext to send a password)\n"
    "    --user NAME          login name\n"
    "    --password-file FILE the password is the file's first line; otherwise\n"
    "                         $NATIDLE_PASSWORD, otherwise a prompt on the terminal.\n"
    "                         Never on the command line.\n"
    "    --ca-file FILE       trust this CA (PEM) instead of the system's\n"
    "    --insecure           do not verify the server's certificate\n"
    "    --allow-plaintext    allow a login without TLS\n"
    "    --network LABEL      label of the network, written to the CSV files and\n"
    "                         used to remember what was learned\n"
    "    --family 4|6         connect over IPv4 or IPv6 only (default: IPv4 when the\n"
    "                         server has an IPv4 address, else what it has); with\n"
    "                         keepalive, every account's connections\n";

int ni__conn_family(const char *cmd, const char *value, int *family) {
  *family = 0;
  if (!value) return 0;
  if (!strcmp(value, "4") || !strcmp(value, "6")) {
    *family = value[0] - '0';
    return 0;
  }
  ni__usage_error(cmd, "--family must be 4 or 6, not '%s'", value);
  return NI_EUSAGE;
}

void ni__usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "natidle %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "; try 'natidle help %s'\n", cmd);
  va_end(ap);
}

/* getopt_long takes any unambiguous abbreviation, so "--password SECRET"
 * would be read as "--password-file SECRET" and the password echoed back as
 * a file name.  Refuse the abbreviations that look like a password option,
 * without repeating what follows them. */
static int refuse_password_option(const char *cmd, int argc, char **argv) {
  static const char pwfile[] = "--password-file";
  for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
    size_t n = strcspn(argv[i], "=");
    if (n >= 5 && n <= strlen("--password") && !strncmp(argv[i], pwfile, n)) {
      ni__usage_error(cmd,
                      "unknown option '%.*s': passwords are never taken from the command "
                      "line (use --password-file FILE, NATIDLE_PASSWORD or the prompt)",
                      (int)n, argv[i]);
      return NI_EUSAGE;
    }
  }
  return 0;
}

/* Store one option's value.  Returns 0 or NI_EUSAGE (message printed). */
static int store(const char *cmd, const ni__opt *o, const char *v) {
  int rc = 0;
  switch (o->kind) {
  case NI__OPT_FLAG:
    *(int *)o->dest = 1;
    break;
  case NI__OPT_STRING:
    *(const char **)o->dest = v;
    break;
  case NI__OPT_UINT:
    rc = ni__parse_uint(v, (unsigned long)o->min, (unsigned long)o->max, (unsigned long *)o->dest);
    break;
  case NI__OPT_SECONDS:
    rc = ni__parse_seconds(v, o->min, o->max, (double *)o->dest);
    break;
  }
  if (rc != 0) {
    ni__usage_error(cmd, "invalid value '%s' for --%s", v, o->name);
    return NI_EUSAGE;
  }
  if (o->given) *o->given = 1;
  return 0;
}

enum { MAX_OPTS = 64, HELP = 1000 };

int ni__opts_parse(const char *cmd, int argc, char **argv, const ni__opt *opts, size_t n,
                   int *first) {
  if (n >= MAX_OPTS) return NI_EUSAGE; /* a table this large is a bug, caught by the tests */
  if (refuse_password_option(cmd, argc, argv) != 0) return NI_EUSAGE;
  struct option lo[MAX_OPTS + 1];
  char shorts[2 * MAX_OPTS + 4] = ":h";
  size_t ns = 2;
  for (size_t i = 0; i < n; i++) {
    lo[i].name = opts[i].name;
    lo[i].has_arg = opts[i].kind == NI__OPT_FLAG ? no_argument : required_argument;
    lo[i].flag = NULL;
    lo[i].val = (int)(HELP + 1 + i);
    if (opts[i].short_name) {
      shorts[ns++] = opts[i].short_name;
      if (opts[i].kind != NI__OPT_FLAG) shorts[ns++] = ':';
    }
  }
  lo[n] = (struct option){"help", no_argument, NULL, HELP};
  lo[n + 1] = (struct option){NULL, 0, NULL, 0};
  shorts[ns] = '\0';

  optind = 1;
  opterr = 0;
  int ch, help = 0;
  while ((ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
    if (ch == 'h' || ch == HELP) {
      help = 1;
      continue;
    }
    if (ch == ':') {
      ni__usage_error(cmd, "%s needs a value", argv[optind - 1]);
      return NI_EUSAGE;
    }
    const ni__opt *o = NULL;
    if (ch > HELP && ch <= HELP + (int)n) o = &opts[ch - HELP - 1];
    for (size_t i = 0; !o && ch != '?' && i < n; i++)
      if (opts[i].short_name == ch) o = &opts[i];
    if (!o) {
      const char *a = argv[optind - 1];
      if (optopt > HELP && optopt <= HELP + (int)n)
        ni__usage_error(cmd, "--%s takes no value", opts[optopt - HELP - 1].name);
      else if (optopt == HELP)
        ni__usage_error(cmd, "--help takes no value");
      else if (optopt && optopt < HELP)
        ni__usage_error(cmd, "unknown option '-%c'", optopt);
      else /* the name only: "--opt=VALUE" may carry something secret */
        ni__usage_error(cmd, "unknown option '%.*s'", (int)strcspn(a, "="), a);
      return NI_EUSAGE;
    }
    if (store(cmd, o, optarg) != 0) return NI_EUSAGE;
  }
  if (help) return 1;
  if (first)
    *first = optind;
  else if (optind < argc) {
    ni__usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    return NI_EUSAGE;
  }
  return 0;
}
