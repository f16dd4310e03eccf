/*
 * Fuzz target: the keepalive state file parser (keepalive/state.c).  Any
 * bytes are either refused with -EBADMSG or accepted; an accepted file's
 * canonical form must be accepted again and render to itself.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keepalive/ka_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char a[NI__KA_STATE_FILE_MAX], b[NI__KA_STATE_FILE_MAX];
  size_t alen = 0, blen = 0;
  int rc = ni__ka_state_canon((const char *)data, size, a, sizeof(a), &alen);
  if (rc == -EBADMSG) return 0;
  if (rc != 0) abort();
  if (ni__ka_state_canon(a, alen, b, sizeof(b), &blen) != 0) abort();
  if (alen != blen || memcmp(a, b, alen)) abort();
  return 0;
}
