/*
 * natidle/common.h - things every part of libnatidle shares: the export
 * macro, the error table and the process exit codes of the natidle tool.
 *
 * Errors are negative ints.  System errors are passed through as -errno;
 * natidle's own errors live in a range of their own (below -4000) and are
 * listed once, in NI_ERRNO_MAP, which also gives ni_strerror() and
 * ni_err_name() their text.
 */
#ifndef NATIDLE_COMMON_H
#define NATIDLE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Public symbols are exported from the shared library; everything else is
 * built with hidden visibility (see CMakeLists.txt).  The attribute is the
 * GCC/Clang spelling; other compilers get nothing, which only costs the
 * symbol hiding. */
#if defined(__GNUC__) || defined(__clang__)
#define NI_API __attribute__((visibility("default")))
#else
#define NI_API
#endif

/* Time in libnatidle is always a uint64_t count of milliseconds on a
 * monotonic clock chosen by the caller.  NI_TIME_NEVER means "no deadline". */
typedef uint64_t ni_ms;
#define NI_TIME_NEVER UINT64_MAX

/* natidle's own error codes: X(name, value, message). */
#define NI_ERRNO_MAP(X)                                                                            \
  X(PARSE, -4001, "malformed IMAP response")                                                       \
  X(LIMIT, -4002, "IMAP response exceeds a configured limit")                                      \
  X(TLS, -4003, "TLS error")                                                                       \
  X(CERT, -4004, "server certificate not trusted")                                                 \
  X(TIMEDOUT, -4005, "timed out")                                                                  \
  X(CLOSED, -4006, "connection closed by peer")                                                    \
  X(RESET, -4007, "connection reset")                                                              \
  X(BYE, -4008, "server said BYE")                                                                 \
  X(NO, -4009, "server answered NO")                                                               \
  X(BAD, -4010, "server answered BAD")                                                             \
  X(AUTH, -4011, "authentication failed")                                                          \
  X(NOCAP, -4012, "server lacks a required capability")                                            \
  X(PLAINTEXT, -4013, "refusing to send credentials without TLS")                                  \
  X(DNS, -4014, "host name lookup failed")                                                         \
  X(STATE, -4015, "operation not valid in this state")                                             \
  X(CSV, -4016, "malformed CSV")                                                                   \
  X(MISMATCH, -4017, "file belongs to another run or server")                                      \
  X(NOTOURS, -4018, "refusing to touch data natidle did not create")                               \
  X(LIMITHIT, -4019, "server refused a connection for a limit")                                    \
  X(CANCELED, -4020, "operation canceled")                                                         \
  X(USAGE, -4021, "invalid argument")                                                              \
  X(NOPUSH, -4022, "server does not report new mail to IDLE sessions")                             \
  X(REFUSED, -4023, "server refused to create or write a mailbox")

enum {
#define NI_ERR_ENUM(name, val, msg) NI_E##name = (val),
  NI_ERRNO_MAP(NI_ERR_ENUM)
#undef NI_ERR_ENUM
};

/* Text for any error this library returns: natidle's own codes and -errno.
 * Never NULL; the string is static. */
NI_API const char *ni_strerror(int err);

/* Short symbolic name of an error, e.g. "NI_ETIMEDOUT" or "ECONNRESET".
 * Never NULL; the string is static. */
NI_API const char *ni_err_name(int err);

/* The library's version, "MAJOR.MINOR.PATCH". */
NI_API const char *ni_version(void);

/*
 * Exit codes of the natidle tool (documented in README "Failure modes").
 */
enum ni_exit {
  NI_EXIT_OK = 0,           /* done; for probe: a verdict was reached */
  NI_EXIT_FAILURE = 1,      /* unexpected internal or I/O failure */
  NI_EXIT_USAGE = 2,        /* bad command line or input file */
  NI_EXIT_AUTH = 3,         /* login refused */
  NI_EXIT_TLS = 4,          /* TLS handshake or certificate failure */
  NI_EXIT_NETWORK = 5,      /* DNS, connect or connection failure */
  NI_EXIT_CAPABILITY = 6,   /* server lacks IDLE / STARTTLS / ... */
  NI_EXIT_SAFETY = 7,       /* refused to touch foreign data / resume mismatch */
  NI_EXIT_INCONCLUSIVE = 8, /* run ended without a usable bracket */
  NI_EXIT_INTERRUPTED = 130 /* stopped by SIGINT/SIGTERM (partial results kept) */
};

/* Map an error to the tool's exit code (e.g. NI_EAUTH -> NI_EXIT_AUTH). */
NI_API int ni_exit_code_for(int err);

#ifdef __cplusplus
}
#endif
#endif /* NATIDLE_COMMON_H */
