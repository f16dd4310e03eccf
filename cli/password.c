/* Password input that keeps the secret out of argv, logs and core dumps. */
#include "cli/password.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "common/secret.h"

#include "natidle/common.h"

/* The longest password accepted; IMAP servers limit far below this. */
#define NI_SECRET_MAX 1024

void ni_secret_no_core(void) {
  struct rlimit rl = {0, 0};
  (void)setrlimit(RLIMIT_CORE, &rl);
  /* Also makes /proc/PID/mem and ptrace unavailable to other users' processes. */
  (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static char *secret_alloc(void) {
  char *buf = calloc(1, NI_SECRET_MAX + 1);
  if (buf)
    (void)mlock(buf, NI_SECRET_MAX + 1); /* best effort: may fail without CAP_IPC_LOCK */
  return buf;
}

void ni_secret_free(char *s) {
  if (!s)
    return;
  ni__wipe(s, NI_SECRET_MAX + 1);
  (void)munlock(s, NI_SECRET_MAX + 1);
  free(s);
}

static void strip_eol(char *s) {
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
    s[--n] = '\0';
}

static int from_file(const char *path, char *buf, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "cannot read password file %s: %s", path, strerror(errno));
    return NI_EUSAGE;
  }
  struct stat st;
  if (fstat(fd, &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      close(fd);
      snprintf(err, errlen, "password file %s is not a regular file", path);
      return NI_EUSAGE;
    }
    if (st.st_mode & (S_IRGRP | S_IROTH))
      fprintf(stderr,
              "natidle: warning: password file %s is readable by other users "
              "(chmod 600 %s)\n",
              path, path);
  }
  size_t used = 0;
  while (used < NI_SECRET_MAX) {
    ssize_t n = read(fd, buf + used, NI_SECRET_MAX - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      snprintf(err, errlen, "cannot read password file %s: %s", path, strerror(e));
      return NI_EUSAGE;
    }
    if (n == 0)
      break;
    used += (size_t)n;
    if (memchr(buf, '\n', used))
      break;
  }
  close(fd);
  buf[used] = '\0';
  char *nl = strchr(buf, '\n');
  if (nl)
    ni__wipe(nl, used - (size_t)(nl - buf)); /* keep only the first line */
  strip_eol(buf);
  if (buf[0] == '\0') {
    snprintf(err, errlen, "password file %s is empty", path);
    return NI_EUSAGE;
  }
  return 0;
}

static int from_tty(char *buf, char *err, size_t errlen) {
  int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0 || !isatty(STDIN_FILENO)) {
    if (fd >= 0)
      close(fd);
    snprintf(err, errlen,
             "no password: use --password-file FILE or the " NI_PASSWORD_ENV
             " environment variable (there is no terminal to prompt on)");
    return NI_EUSAGE;
  }
  struct termios old, quiet;
  int restore = tcgetattr(fd, &old) == 0;
  if (restore) {
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    quiet.c_lflag |= ICANON;
    (void)tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  static const char prompt[] = "IMAP password: ";
  (void)!write(fd, prompt, sizeof prompt - 1);
  size_t used = 0;
  int rc = 0;
  for (;;) {
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0 || c == '\n' || c == '\r')
      break;
    if (used == NI_SECRET_MAX) {
      rc = NI_EUSAGE;
      snprintf(err, errlen, "password longer than %d bytes", NI_SECRET_MAX);
      break;
    }
    buf[used++] = c;
  }
  buf[used] = '\0';
  (void)!write(fd, "\n", 1);
  if (restore)
    (void)tcsetattr(fd, TCSAFLUSH, &old);
  close(fd);
  if (rc == 0 && used == 0) {
    snprintf(err, errlen, "empty password");
    rc = NI_EUSAGE;
  }
  return rc;
}

int ni_secret_read(const char *password_file, char **out, char *err, size_t errlen) {
  *out = NULL;
  if (errlen)
    err[0] = '\0';
  ni_secret_no_core();
  char *buf = secret_alloc();
  if (!buf) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  int rc;
  const char *env = getenv(NI_PASSWORD_ENV);
  if (password_file) {
    rc = from_file(password_file, buf, err, errlen);
  } else if (env && env[0]) {
    size_t n = strlen(env);
    if (n > NI_SECRET_MAX) {
      snprintf(err, errlen, NI_PASSWORD_ENV " longer than %d bytes", NI_SECRET_MAX);
      rc = NI_EUSAGE;
    } else {
      memcpy(buf, env, n + 1);
      rc = 0;
    }
    /* The environment block stays in memory; overwrite it before unsetting. */
    ni__wipe((char *)env, n);
    unsetenv(NI_PASSWORD_ENV);
  } else {
    rc = from_tty(buf, err, errlen);
  }
  if (rc != 0) {
    ni_secret_free(buf);
    return rc;
  }
  *out = buf;
  return 0;
}
