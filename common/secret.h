/*
 * common/secret.h - keeping a password (or an access token) in memory
 * without a plaintext copy, and wiping what held it.  Used by the probe, the
 * push driver and the tool.  libc only.
 *
 * A session lives for days and reconnects at any time, so it must keep its
 * secret; it keeps it masked, XORed with a random pad held in another
 * allocation.  The plaintext then exists only while a login is being built,
 * and a heap scan, a swapped-out page or a debugger's dump of a running
 * session finds no copy of it.
 */
#ifndef NATIDLE_COMMON_SECRET_H
#define NATIDLE_COMMON_SECRET_H

#include <stddef.h>

/* Zero n bytes in a way the compiler may not drop as a dead store.  The one
 * wipe primitive of the tree.  NULL or n == 0 is fine. */
void ni__wipe(void *p, size_t n);

/* A masked secret.  Zero-initialise it; ni__secret_drop() makes it zero
 * again. */
typedef struct ni__secret {
  unsigned char *mask; /* secret XOR pad, len bytes */
  unsigned char *pad;  /* len random bytes, a separate allocation */
  size_t len;
} ni__secret;

/* Keep a copy of the n bytes at p, masked.  The caller still owns (and
 * wipes) p.  A secret already held is dropped first.  Returns 0 or -ENOMEM.
 * The pad comes from getentropy(); without an entropy source a weak pad
 * still keeps the plaintext out of memory, which is all the mask is for. */
int ni__secret_keep(ni__secret *s, const void *p, size_t n);

/* The plaintext in a fresh NUL-terminated buffer of len + 1 bytes, or NULL
 * when out of memory.  Release it with ni__secret_free_plain() at once. */
char *ni__secret_reveal(const ni__secret *s);

/* Wipe and free a buffer from ni__secret_reveal().  NULL is fine. */
void ni__secret_free_plain(const ni__secret *s, char *plain);

/* Wipe and free the masked copy. */
void ni__secret_drop(ni__secret *s);

#endif
