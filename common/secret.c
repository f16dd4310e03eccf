/* Masked secrets and the wipe primitive (see secret.h). */
#include "common/secret.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Calling memset through a volatile pointer stops the compiler from proving
 * the store dead and removing it; this is portable C, unlike
 * explicit_bzero() or memset_s(). */
static void *(*const volatile wipe_memset)(void *, int, size_t) = memset;

void ni__wipe(void *p, size_t n) {
  if (p && n) wipe_memset(p, 0, n);
}

static void fill_pad(unsigned char *pad, size_t n) {
  size_t off = 0;
  while (off < n) {
    size_t k = n - off > 256 ? 256 : n - off; /* getentropy's limit */
    if (getentropy(pad + off, k) != 0) break;
    off += k;
  }
  if (off == n) return;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t x = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)ts.tv_sec;
  for (size_t i = off; i < n; i++) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    pad[i] = (unsigned char)(x >> 56);
  }
}

int ni__secret_keep(ni__secret *s, const void *p, size_t n) {
  ni__secret_drop(s);
  s->mask = malloc(n + 1);
  s->pad = malloc(n + 1);
  if (!s->mask || !s->pad) {
    free(s->mask);
    free(s->pad);
    s->mask = s->pad = NULL;
    return -ENOMEM;
  }
  fill_pad(s->pad, n + 1);
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    s->mask[i] = b[i] ^ s->pad[i];
  s->len = n;
  return 0;
}

char *ni__secret_reveal(const ni__secret *s) {
  char *pw = malloc(s->len + 1);
  if (!pw) return NULL;
  for (size_t i = 0; i < s->len; i++)
    pw[i] = (char)(s->mask[i] ^ s->pad[i]);
  pw[s->len] = '\0';
  return pw;
}

void ni__secret_free_plain(const ni__secret *s, char *plain) {
  if (!plain) return;
  ni__wipe(plain, s->len + 1);
  free(plain);
}

void ni__secret_drop(ni__secret *s) {
  if (s->mask) ni__wipe(s->mask, s->len + 1);
  if (s->pad) ni__wipe(s->pad, s->len + 1);
  free(s->mask);
  free(s->pad);
  s->mask = s->pad = NULL;
  s->len = 0;
}
