/* natidle: find a NAT's idle timeout with IMAP IDLE, keep push alive, report. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "natidle/common.h"

static const struct {
  const char *name;
  int (*fn)(int, char **);
  const char *what;
} commands[] = {
    {"probe", ni__cmd_probe, "measure the NAT idle timeout with parallel silent IDLE sessions"},
    {"keepalive", ni__cmd_keepalive, "hold a push session alive with the fewest keepalives"},
    {"report", ni__cmd_report, "merge summaries, draw survival plots, write an HTML report"},
    {"lab", ni__cmd_lab, "bring up a carrier NAT lab with Dovecot on this machine (root)"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
  fprintf(f, "usage: natidle COMMAND [OPTIONS]\n"
             "       natidle help COMMAND\n"
             "       natidle --version\n\ncommands:\n");
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].what);
  fprintf(f, "\nexit codes: 0 ok, 1 failure, 2 usage, 3 auth, 4 TLS, 5 network,\n"
             "            6 capability, 7 data safety, 8 inconclusive, 130 interrupted\n");
}

int main(int argc, char **argv) {
  /* A write to a connection the peer closed must come back as EPIPE, an
   * error the code handles, not kill the process.  The tool ignores SIGPIPE
   * once, here, for every subcommand. */
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    usage(stderr);
    return NI_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
    printf("natidle %s\n", ni_version());
    return NI_EXIT_OK;
  }
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    usage(stdout);
    return NI_EXIT_OK;
  }
  if (!strcmp(cmd, "help")) {
    if (argc < 3) {
      usage(stdout);
      return NI_EXIT_OK;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
      if (!strcmp(argv[2], commands[i].name)) {
        char *hargv[] = {argv[2], "--help", NULL};
        return commands[i].fn(2, hargv);
      }
    fprintf(stderr, "natidle: no such command '%s' (try 'natidle --help')\n", argv[2]);
    return NI_EXIT_USAGE;
  }
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (!strcmp(cmd, commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "natidle: no such command '%s' (try 'natidle --help')\n", cmd);
  return NI_EXIT_USAGE;
}
