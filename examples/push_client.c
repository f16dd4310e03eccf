/* Placeholder: a push client built on libnatidle lands with the driver. */
#include <stdio.h>

#include "natidle/common.h"

int main(void) {
  printf("libnatidle %s\n", ni_version());
  return 0;
}
