/* The natidle tool's subcommands.  Each takes the arguments after its own
 * name (argv[0] is the subcommand name), prints its man-style help for
 * --help / -h, and returns a process exit code (enum ni_exit). */
#ifndef NATIDLE_COMMANDS_H
#define NATIDLE_COMMANDS_H

int ni__cmd_probe(int argc, char **argv);
int ni__cmd_keepalive(int argc, char **argv);
int ni__cmd_report(int argc, char **argv);
int ni__cmd_lab(int argc, char **argv);

#endif
