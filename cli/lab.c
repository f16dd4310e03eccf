/* natidle lab: runs the carrier NAT lab, lab/natidle-lab.
 *
 * The lab is a sequence of ip, nft, tc, conntrack and dovecot commands, so
 * it is a shell script; this subcommand only finds it and hands over the
 * process to it (exec), so exit status, signals, stdin and stdout are the
 * script's own.  "natidle lab --help" prints the script's manual. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "natidle/common.h"

#define LAB_SCRIPT "natidle-lab"

/* Writes "<dir>/<rel>" into buf; returns 0 when it is a regular, readable
 * file, -1 otherwise (including when the path does not fit). */
static int candidate(char *buf, size_t size, const char *dir, const char *rel) {
  int n = snprintf(buf, size, "%s/%s", dir, rel);
  if (n < 0 || (size_t)n >= size) return -1;
  return access(buf, R_OK) == 0 ? 0 : -1;
}

/* Finds the lab script: $NATIDLE_LAB (a path to the script itself), then
 * $NATIDLE_SRC/lab (the tests set it), then next to the executable: the
 * source tree seen from a build directory (<src>/build/natidle ->
 * <src>/lab) and an installed copy beside the binary ($prefix/bin).  The
 * environment only matters to whoever controls it already; sudo resets it
 * by default. */
static int find_lab(char *out, size_t size) {
  const char *env = getenv("NATIDLE_LAB");
  if (env != NULL && env[0] != '\0') {
    int n = snprintf(out, size, "%s", env);
    if (n >= 0 && (size_t)n < size && access(out, R_OK) == 0) return 0;
  }
  env = getenv("NATIDLE_SRC");
  if (env != NULL && env[0] != '\0' && candidate(out, size, env, "lab/" LAB_SCRIPT) == 0) return 0;

  char exe[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) return -1;
  exe[len] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash == NULL) return -1;
  *slash = '\0';
  if (candidate(out, size, exe, "../lab/" LAB_SCRIPT) == 0) return 0;
  if (candidate(out, size, exe, LAB_SCRIPT) == 0) return 0;
  return -1;
}

int ni__cmd_lab(int argc, char **argv) {
  char path[PATH_MAX];
  if (find_lab(path, sizeof path) != 0) {
    fprintf(stderr, "natidle lab: cannot find the lab script " LAB_SCRIPT
                    " (looked in $NATIDLE_SRC/lab, ../lab and the binary's directory; "
                    "set NATIDLE_SRC to the source tree)\n");
    return NI_EXIT_FAILURE;
  }
  if (argc < 1) argc = 1;

  /* bash path args... NULL: run through bash so a copy that lost its
   * executable bit still works. */
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (args == NULL) {
    fprintf(stderr, "natidle lab: out of memory\n");
    return NI_EXIT_FAILURE;
  }
  args[0] = "bash";
  args[1] = path;
  for (int i = 1; i < argc; i++)
    args[i + 1] = argv[i];
  args[argc + 1] = NULL;

  fflush(stdout);
  execvp("bash", args);
  fprintf(stderr, "natidle lab: cannot run bash %s: %s\n", path, strerror(errno));
  free(args);
  return NI_EXIT_FAILURE;
}
