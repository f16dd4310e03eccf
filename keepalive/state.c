/*
 * keepalive/state.c - what the scheduler learned, per network, on disk.
 *
 * Format (text, so a person can read and fix it):
 *
 *     natidle-keepalive-state 1
 *     <label> TAB <lower_ms> TAB <upper_ms> TAB <updated_unix_s>
 *     end <number of network lines>
 *
 * The trailer exists so that a truncated file is recognised as such even
 * when it was cut exactly at a line end.  The whole file is validated
 * before anything in it is believed: a file that fails any check is
 * ignored as a whole (-EBADMSG), because a half-trusted bracket is worse
 * than none (learning from nothing costs a few probes; a wrong lower bound
 * costs broken push).
 *
 * Writes are atomic: the new content goes to a fresh temporary file next to
 * the target (mkstemp, so two writers never share one), is fsync'ed, renamed
 * over the target, and the directory is fsync'ed so the rename itself
 * survives a power cut.  A crash at any point leaves the old or the new
 * file, plus perhaps a temporary file that nothing reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keepalive/ka_internal.h"

#define MAGIC "natidle-keepalive-state 1\n"
/* Largest valid file: the header, NI_KA_STATE_MAX lines of at most a label,
 * three 20-digit numbers and four separators, and the trailer. */
#define LINE_MAX_LEN (NI_KA_LABEL_MAX + 3 * 20 + 4)
#define FILE_MAX (sizeof(MAGIC) + NI_KA_STATE_MAX * LINE_MAX_LEN + 32)
_Static_assert(FILE_MAX <= NI__KA_STATE_FILE_MAX, "the fuzzer's buffer holds any state file");

typedef struct entry {
  char label[NI_KA_LABEL_MAX + 1];
  ni_ms lower, upper;
  uint64_t updated;
} entry;

typedef struct table {
  size_t n;
  entry e[NI_KA_STATE_MAX];
} table;

/* A label: 1..NI_KA_LABEL_MAX bytes, printable ASCII or UTF-8 bytes, no
 * tab, no control characters (they would break the line format). */
static int label_ok(const char *l, size_t len) {
  if (len == 0 || len > NI_KA_LABEL_MAX) return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)l[i];
    if (c < 0x20 || c == 0x7f) return 0;
  }
  return 1;
}

/* A decimal number of 1..20 digits that fits in 64 bits; no sign, no
 * spaces.  Returns the number of bytes used, 0 on failure. */
static size_t parse_u64(const char *p, const char *end, uint64_t *out) {
  uint64_t v = 0;
  size_t i = 0;
  for (; p + i < end && p[i] >= '0' && p[i] <= '9'; i++) {
    unsigned d = (unsigned)(p[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return 0;
    v = v * 10 + d;
  }
  if (i == 0 || i > 20) return 0;
  *out = v;
  return i;
}

/* Parse one network line [p, eol) into *e. */
static int parse_line(const char *p, const char *eol, entry *e) {
  const char *tab = memchr(p, '\t', (size_t)(eol - p));
  if (!tab || !label_ok(p, (size_t)(tab - p))) return -1;
  memcpy(e->label, p, (size_t)(tab - p));
  e->label[tab - p] = '\0';
  p = tab + 1;
  uint64_t v[3];
  for (int i = 0; i < 3; i++) {
    size_t n = parse_u64(p, eol, &v[i]);
    if (!n) return -1;
    p += n;
    if (i < 2) {
      if (p >= eol || *p != '\t') return -1;
      p++;
    }
  }
  if (p != eol || (v[1] && v[0] > v[1])) return -1;
  e->lower = v[0];
  e->upper = v[1];
  e->updated = v[2];
  return 0;
}

/* Validate and parse a whole file image. */
static int parse_file(const char *buf, size_t len, table *t) {
  const char *p = buf, *end = buf + len;
  t->n = 0;
  if (len < sizeof(MAGIC) - 1 || memcmp(p, MAGIC, sizeof(MAGIC) - 1)) return -EBADMSG;
  p += sizeof(MAGIC) - 1;
  for (;;) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) return -EBADMSG; /* truncated: no trailer */
    /* Network lines always hold tabs and labels never do, so a label may
     * well start with "end ": only a line without a tab is the trailer. */
    if (!memchr(p, '\t', (size_t)(eol - p))) {
      uint64_t n;
      if ((size_t)(eol - p) <= 4 || memcmp(p, "end ", 4)) return -EBADMSG;
      if (parse_u64(p + 4, eol, &n) != (size_t)(eol - p - 4) || n != t->n || eol + 1 != end)
        return -EBADMSG;
      return 0;
    }
    if (t->n == NI_KA_STATE_MAX) return -EBADMSG;
    entry *e = &t->e[t->n];
    if (parse_line(p, eol, e)) return -EBADMSG;
    for (size_t i = 0; i < t->n; i++)
      if (!strcmp(t->e[i].label, e->label)) return -EBADMSG; /* never written by us */
    t->n++;
    p = eol + 1;
  }
}

/* Read the file at `path` into a table.  -ENOENT if absent. */
static int read_table(const char *path, table *t) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  char *buf = malloc(FILE_MAX + 1);
  if (!buf) {
    close(fd);
    return -ENOMEM;
  }
  size_t len = 0;
  int rc = 0;
  for (;;) {
    ssize_t n = read(fd, buf + len, FILE_MAX + 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = -errno;
      break;
    }
    if (n == 0) break;
    len += (size_t)n;
    if (len > FILE_MAX) {
      rc = -EBADMSG; /* larger than any file we write */
      break;
    }
  }
  close(fd);
  if (rc == 0) rc = parse_file(buf, len, t);
  free(buf);
  return rc;
}

NI_API int ni_ka_state_load(const char *path, const char *network, ni_ms *lower_ms, ni_ms *upper_ms,
                            uint64_t *updated_unix_s) {
  if (!path || !network || !label_ok(network, strlen(network))) return NI_EUSAGE;
  table *t = malloc(sizeof(*t));
  if (!t) return -ENOMEM;
  int rc = read_table(path, t);
  if (rc == 0) {
    rc = -ENOENT;
    for (size_t i = 0; i < t->n; i++) {
      if (strcmp(t->e[i].label, network)) continue;
      if (lower_ms) *lower_ms = t->e[i].lower;
      if (upper_ms) *upper_ms = t->e[i].upper;
      if (updated_unix_s) *updated_unix_s = t->e[i].updated;
      rc = 0;
      break;
    }
  }
  free(t);
  return rc;
}

static int write_all(int fd, const char *p, size_t len) {
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* fsync the directory holding `path`, so that a rename into it is durable. */
static int sync_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
  if (!dir) return -ENOMEM;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  free(dir);
  if (fd < 0) return -errno;
  int rc = fsync(fd) ? -errno : 0;
  close(fd);
  return rc;
}

/* The file image of a table; `cap` >= FILE_MAX always suffices. */
static size_t render(const table *t, char *buf, size_t cap) {
  size_t len = (size_t)snprintf(buf, cap, "%s", MAGIC);
  for (size_t i = 0; i < t->n && len < cap; i++)
    len += (size_t)snprintf(buf + len, cap - len, "%s\t%llu\t%llu\t%llu\n", t->e[i].label,
                            (unsigned long long)t->e[i].lower, (unsigned long long)t->e[i].upper,
                            (unsigned long long)t->e[i].updated);
  if (len < cap) len += (size_t)snprintf(buf + len, cap - len, "end %zu\n", t->n);
  return len < cap ? len : cap;
}

int ni__ka_state_canon(const char *in, size_t len, char *out, size_t cap, size_t *outlen) {
  if (cap < FILE_MAX) return NI_EUSAGE;
  table *t = malloc(sizeof(*t));
  if (!t) return -ENOMEM;
  int rc = len > FILE_MAX ? -EBADMSG : parse_file(in, len, t);
  if (rc == 0) *outlen = render(t, out, cap);
  free(t);
  return rc;
}

/* Render the table and replace the file at `path` atomically. */
static int write_table(const char *path, const table *t) {
  char *buf = malloc(FILE_MAX);
  if (!buf) return -ENOMEM;
  size_t len = render(t, buf, FILE_MAX);

  size_t plen = strlen(path);
  char *tmp = malloc(plen + sizeof(".tmp.XXXXXX"));
  if (!tmp) {
    free(buf);
    return -ENOMEM;
  }
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp.XXXXXX", sizeof(".tmp.XXXXXX"));
  int rc = 0;
  int fd = mkstemp(tmp);
  if (fd < 0) {
    rc = -errno;
  } else {
    rc = write_all(fd, buf, len);
    if (rc == 0 && fsync(fd)) rc = -errno;
    if (close(fd) && rc == 0) rc = -errno;
    if (rc == 0 && rename(tmp, path)) rc = -errno;
    if (rc)
      unlink(tmp);
    else
      rc = sync_dir(path);
  }
  free(tmp);
  free(buf);
  return rc;
}

NI_API int ni_ka_state_save(const char *path, const char *network, ni_ms lower_ms, ni_ms upper_ms,
                            uint64_t now_unix_s) {
  if (!path || !network || !label_ok(network, strlen(network))) return NI_EUSAGE;
  if (upper_ms && lower_ms > upper_ms) return NI_EUSAGE;
  table *t = malloc(sizeof(*t));
  if (!t) return -ENOMEM;
  int rc = read_table(path, t);
  if (rc == -ENOENT || rc == -EBADMSG) {
    t->n = 0; /* start afresh: nothing, or nothing trustworthy, was there */
  } else if (rc) {
    free(t);
    return rc;
  }
  size_t i = 0;
  while (i < t->n && strcmp(t->e[i].label, network))
    i++;
  if (i == t->n && t->n == NI_KA_STATE_MAX) {
    /* Full: the least recently updated network makes room. */
    i = 0;
    for (size_t j = 1; j < t->n; j++)
      if (t->e[j].updated < t->e[i].updated) i = j;
  } else if (i == t->n) {
    t->n++;
  }
  entry *e = &t->e[i];
  snprintf(e->label, sizeof(e->label), "%s", network);
  e->lower = lower_ms;
  e->upper = upper_ms;
  e->updated = now_unix_s;
  rc = write_table(path, t);
  free(t);
  return rc;
}
