/* Password input that keeps the secret out of argv, logs and core dumps. */
#include "cli/password.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/secret.h"

#include "natidle/common.h"

/* The longest secret accepted: IMAP servers limit passwords far below this,
 * but an OAuth2 access token (a signed JWT with its claims) can take a few
 * kilobytes. */
#define NI_SECRET_MAX 16384

void ni__no_core_dumps(void) {
  struct rlimit rl = {0, 0};
  (void)setrlimit(RLIMIT_CORE, &rl);
  /* Also makes /proc/PID/mem and ptrace unavailable to other users' processes. */
  (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static char *secret_alloc(void) {
  char *buf = calloc(1, NI_SECRET_MAX + 1);
  if (buf) (void)mlock(buf, NI_SECRET_MAX + 1); /* best effort: may fail without CAP_IPC_LOCK */
  return buf;
}

void ni__cred_free(char *s) {
  if (!s) return;
  ni__wipe(s, NI_SECRET_MAX + 1);
  (void)munlock(s, NI_SECRET_MAX + 1);
  free(s);
}

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void strip_eol(char *s) {
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
    s[--n] = '\0';
}

/* Read the first line of fd into buf (NI_SECRET_MAX bytes at most), until
 * a line end, the end of the input or the deadline (ms on CLOCK_MONOTONIC,
 * 0 = none).  Returns the bytes read or -errno. */
static ssize_t read_line(int fd, char *buf, uint64_t deadline) {
  size_t used = 0;
  while (used < NI_SECRET_MAX) {
    if (deadline) {
      uint64_t now = mono_ms();
      struct pollfd p = {fd, POLLIN, 0};
      int r = now >= deadline ? 0 : poll(&p, 1, (int)(deadline - now));
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) return -ETIMEDOUT;
    }
    ssize_t n = read(fd, buf + used, NI_SECRET_MAX - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) break;
    used += (size_t)n;
    if (memchr(buf, '\n', used)) break;
  }
  buf[used] = '\0';
  char *nl = strchr(buf, '\n');
  if (nl) ni__wipe(nl, used - (size_t)(nl - buf)); /* keep only the first line */
  strip_eol(buf);
  return (ssize_t)used;
}

static int from_file(const char *path, const char *what, char *buf, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
    return NI_EUSAGE;
  }
  struct stat st;
  if (fstat(fd, &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      close(fd);
      snprintf(err, errlen, "%s %s is not a regular file", what, path);
      return NI_EUSAGE;
    }
    if (st.st_mode & (S_IRGRP | S_IROTH))
      fprintf(stderr,
              "natidle: warning: %s %s is readable by other users "
              "(chmod 600 %s)\n",
              what, path, path);
  }
  ssize_t n = read_line(fd, buf, 0);
  close(fd);
  if (n < 0) {
    snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror((int)-n));
    return NI_EUSAGE;
  }
  if (buf[0] == '\0') {
    snprintf(err, errlen, "%s %s is empty", what, path);
    return NI_EUSAGE;
  }
  return 0;
}

static int from_tty(char *buf, char *err, size_t errlen) {
  int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0 || !isatty(STDIN_FILENO)) {
    if (fd >= 0) close(fd);
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
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n' || c == '\r') break;
    if (used == NI_SECRET_MAX) {
      rc = NI_EUSAGE;
      snprintf(err, errlen, "password longer than %d bytes", NI_SECRET_MAX);
      break;
    }
    buf[used++] = c;
  }
  buf[used] = '\0';
  (void)!write(fd, "\n", 1);
  if (restore) (void)tcsetattr(fd, TCSAFLUSH, &old);
  close(fd);
  if (rc == 0 && used == 0) {
    snprintf(err, errlen, "empty password");
    rc = NI_EUSAGE;
  }
  return rc;
}

int ni__cred_read(const char *password_file, char **out, char *err, size_t errlen) {
  *out = NULL;
  if (errlen) err[0] = '\0';
  ni__no_core_dumps();
  char *buf = secret_alloc();
  if (!buf) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  int rc;
  const char *env = getenv(NI_PASSWORD_ENV);
  if (password_file) {
    rc = from_file(password_file, "password file", buf, err, errlen);
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
    ni__cred_free(buf);
    return rc;
  }
  *out = buf;
  return 0;
}

int ni__cred_read_file(const char *path, const char *what, char **out, char *err, size_t errlen) {
  *out = NULL;
  ni__no_core_dumps();
  char *buf = secret_alloc();
  if (!buf) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  int rc = from_file(path, what, buf, err, errlen);
  if (rc != 0) {
    ni__cred_free(buf);
    return rc;
  }
  *out = buf;
  return 0;
}

int ni__cred_from_command(const char *cmd, const char *what, unsigned timeout_ms, char **out,
                          char *err, size_t errlen) {
  *out = NULL;
  ni__no_core_dumps();
  char *buf = secret_alloc();
  int fds[2];
  if (!buf || pipe(fds) != 0) {
    snprintf(err, errlen, "cannot run the %s: %s", what, buf ? strerror(errno) : "out of memory");
    ni__cred_free(buf);
    return buf ? -errno : -ENOMEM;
  }
  /* Only the child's stdout may hold the write end, or the read below
   * would wait for the exit of any other child that inherited it. */
  (void)fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  (void)fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(fds[0]);
    close(fds[1]);
    ni__cred_free(buf);
    snprintf(err, errlen, "cannot run the %s: %s", what, strerror(e));
    return -e;
  }
  if (pid == 0) {
    /* The child: stdin from /dev/null (a token command must not wait for
     * input natidle will never give), stdout into the pipe, stderr
     * inherited so its messages reach the user. */
    int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(fds[1], STDOUT_FILENO) < 0) _exit(127);
    signal(SIGPIPE, SIG_DFL);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  ssize_t n = read_line(fds[0], buf, mono_ms() + timeout_ms);
  close(fds[0]);
  if (n == -ETIMEDOUT) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  int rc = 0;
  if (n == -ETIMEDOUT)
    snprintf(err, errlen, "the %s printed no line within %u s", what, timeout_ms / 1000);
  else if (n < 0)
    snprintf(err, errlen, "cannot read the %s's output: %s", what, strerror((int)-n));
  else if (WIFSIGNALED(status))
    snprintf(err, errlen, "the %s was killed by signal %d", what, WTERMSIG(status));
  else if (WEXITSTATUS(status) != 0)
    snprintf(err, errlen, "the %s exited with status %d", what, WEXITSTATUS(status));
  else if (buf[0] == '\0')
    snprintf(err, errlen, "the %s printed an empty line", what);
  else
    rc = 1;
  if (rc != 1) {
    ni__cred_free(buf);
    return NI_EUSAGE;
  }
  *out = buf;
  return 0;
}
