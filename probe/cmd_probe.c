/* natidle probe: placeholder until the subcommand lands. */
#include <stdio.h>
#include <string.h>

#include "natidle/common.h"
#include "probe/commands.h"

int ni_cmd_probe(int argc, char **argv) {
  if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    printf("natidle probe: not built yet\n");
    return NI_EXIT_OK;
  }
  fprintf(stderr, "natidle probe: not built yet\n");
  return NI_EXIT_FAILURE;
}
