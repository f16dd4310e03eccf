/*
 * tests/fakeserver.h - a scripted fake IMAP server on 127.0.0.1 for tests.
 *
 * The server runs a script of steps in a thread of its own with blocking
 * sockets, so the code under test can run its libuv loop in the test's
 * thread.  It accepts one connection and runs the steps in order; every wait
 * is bounded (5 s per read), so a broken client cannot hang a test.
 *
 *   static const fs_step script[] = {
 *     FS_SEND("* OK [CAPABILITY IMAP4rev1 IDLE] ready"),
 *     FS_EXPECT("NOOP"),              // client line, tag stripped
 *     FS_SEND("$T OK done"),          // $T = tag of the last line expected
 *     FS_CLOSE(),
 *     FS_DONE()
 *   };
 *   fs *s = fs_start(script);  ... run the client on fs_port(s) ...
 *   assert fs_wait(s) == 0, else fs_error(s) says which step failed.
 *
 * FS_SEND appends CRLF; FS_SEND_RAW sends the bytes as given.
 */
#ifndef NATIDLE_TESTS_FAKESERVER_H
#define NATIDLE_TESTS_FAKESERVER_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  FS_OP_DONE = 0,     /* end of script (the connection is then closed) */
  FS_OP_SEND,         /* send s + CRLF ($T replaced by the last tag) */
  FS_OP_SEND_RAW,     /* send s exactly ($T replaced) */
  FS_OP_EXPECT,       /* read one line; after its tag it must start with s
                         (case-insensitive); remember the tag */
  FS_OP_EXPECT_EXACT, /* as FS_OP_EXPECT, but the rest after the tag must
                         equal s exactly */
  FS_OP_EXPECT_LINE,  /* read one untagged line (e.g. DONE); it must equal s
                         exactly; the remembered tag is kept */
  FS_OP_EXPECT_LIT,   /* read n literal bytes, then the rest of that line */
  FS_OP_STALL,        /* sleep n ms, reading nothing */
  FS_OP_CLOSE,        /* close (FIN) and end the script */
  FS_OP_RESET,        /* SO_LINGER 0 and close (RST), end the script */
  FS_OP_GARBAGE,      /* send n bytes that are not IMAP */
  FS_OP_TLS,          /* TLS server handshake with s.pem / s.key (s = path prefix) */
  FS_OP_WAIT_EOF,     /* read until the client closes (or 5 s pass: failure) */
  FS_OP_QUIET         /* for n ms the client must send nothing (e.g. a literal
                         or SASL response before the "+" that allows it) */
} fs_op;

typedef struct fs_step {
  fs_op op;
  const char *s;
  size_t n;
} fs_step;

#define FS_SEND(text)                                                                              \
  { FS_OP_SEND, (text), 0 }
#define FS_SEND_RAW(text)                                                                          \
  { FS_OP_SEND_RAW, (text), 0 }
#define FS_EXPECT(prefix)                                                                          \
  { FS_OP_EXPECT, (prefix), 0 }
#define FS_EXPECT_EXACT(text)                                                                      \
  { FS_OP_EXPECT_EXACT, (text), 0 }
#define FS_EXPECT_LINE(text)                                                                       \
  { FS_OP_EXPECT_LINE, (text), 0 }
#define FS_EXPECT_LIT(nbytes)                                                                      \
  { FS_OP_EXPECT_LIT, NULL, (nbytes) }
#define FS_STALL(ms)                                                                               \
  { FS_OP_STALL, NULL, (ms) }
#define FS_CLOSE()                                                                                 \
  { FS_OP_CLOSE, NULL, 0 }
#define FS_RESET()                                                                                 \
  { FS_OP_RESET, NULL, 0 }
#define FS_GARBAGE(nbytes)                                                                         \
  { FS_OP_GARBAGE, NULL, (nbytes) }
#define FS_TLS(prefix)                                                                             \
  { FS_OP_TLS, (prefix), 0 }
#define FS_WAIT_EOF()                                                                              \
  { FS_OP_WAIT_EOF, NULL, 0 }
#define FS_QUIET(ms)                                                                               \
  { FS_OP_QUIET, NULL, (ms) }
#define FS_DONE()                                                                                  \
  { FS_OP_DONE, NULL, 0 }

typedef struct fs fs;

/* Listen on 127.0.0.1 (a free port) and run script (terminated by
 * FS_DONE(); it must outlive the server) on the first connection.  Returns
 * NULL on failure. */
fs *fs_start(const fs_step *script);

/* The port the server listens on. */
uint16_t fs_port(const fs *s);

/* Wait for the script to end.  Returns 0 when every step succeeded, -1
 * otherwise (fs_error() says why). */
int fs_wait(fs *s);

/* What went wrong ("" if nothing). */
const char *fs_error(const fs *s);

/* Everything the client sent (after TLS decryption), NUL-terminated. */
const char *fs_received(const fs *s, size_t *n);

/* Stop (if still running) and free. */
void fs_free(fs *s);

/* Create test certificates in dir with the openssl command:
 *   ca.pem            a throwaway CA
 *   server.pem/.key   signed by ca, for IP 127.0.0.1 and DNS localhost
 *   wrongname.pem/.key signed by ca, for DNS wrong-name.invalid only
 *   other-ca.pem      an unrelated CA (trusting it must refuse server.pem)
 * Returns 0, or -1 when openssl failed. */
int fs_make_certs(const char *dir);

#endif /* NATIDLE_TESTS_FAKESERVER_H */
