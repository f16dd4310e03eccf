/*
 * Reading the IMAP password without ever putting it in argv, logs or core
 * dumps.  Shared by `natidle probe` and `natidle keepalive`.
 */
#ifndef NATIDLE_SECRET_H
#define NATIDLE_SECRET_H

#include <stddef.h>

/* Name of the environment variable read when no password file is given. */
#define NI_PASSWORD_ENV "NATIDLE_PASSWORD"

/*
 * Read the password, in this order:
 *   1. password_file, when not NULL: its first line (trailing CR/LF removed).
 *      A file readable by group or others gets a warning on stderr; an
 *      unreadable or empty file is an error.
 *   2. the NATIDLE_PASSWORD environment variable, which is then removed from
 *      the environment so child processes never inherit it.
 *   3. a prompt without echo on /dev/tty, when stdin is a terminal.
 * Before the password is read, core dumps are disabled for the process
 * (RLIMIT_CORE 0 and PR_SET_DUMPABLE 0), and the buffer is locked in memory
 * when the system allows it.
 * Returns 0 and a NUL-terminated string in *out (release it with
 * ni__cred_free), or NI_EUSAGE with a one-line reason in err.
 */
int ni__cred_read(const char *password_file, char **out, char *err, size_t errlen);

/*
 * Read a secret from the first line of a file, as ni__cred_read does for
 * the password file; `what` names it in messages ("OAuth2 token file").
 * Returns 0 and the secret in *out (release with ni__cred_free), or
 * NI_EUSAGE with a one-line reason in err.
 */
int ni__cred_read_file(const char *path, const char *what, char **out, char *err, size_t errlen);

/*
 * Run `cmd` with /bin/sh -c, its stdin from /dev/null and its stderr
 * passed through, and take the first line its stdout prints as the secret
 * (e.g. an OAuth2 access token from a token helper, as isync's PassCmd).
 * The command must print the line within timeout_ms and exit 0; else the
 * child is killed and the call fails.  The secret never passes through
 * argv or the environment.  `what` names the command in messages.
 * Returns 0 and the secret in *out (release with ni__cred_free), or
 * NI_EUSAGE with a one-line reason in err.
 */
int ni__cred_from_command(const char *cmd, const char *what, unsigned timeout_ms, char **out,
                          char *err, size_t errlen);

/* Cleanse and free a password from ni__cred_read.  NULL is fine. */
void ni__cred_free(char *s);

/* Disable core dumps for this process (also done by ni__cred_read). */
void ni__no_core_dumps(void);

#endif
