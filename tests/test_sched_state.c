/*
 * Tests of the per-network state file: round trips, several networks,
 * updates, and what a crash mid-write or a damaged file leaves behind.
 * Every test works in its own temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>

#include "natidle/keepalive.h"

typedef struct dir {
  char path[64];
  char file[96];
} dir;

static int setup(void **state) {
  dir *d = calloc(1, sizeof(*d));
  if (!d) return -1;
  snprintf(d->path, sizeof(d->path), "/tmp/natidle-state-XXXXXX");
  if (!mkdtemp(d->path)) {
    free(d);
    return -1;
  }
  snprintf(d->file, sizeof(d->file), "%s/keepalive.state", d->path);
  *state = d;
  return 0;
}

static int teardown(void **state) {
  dir *d = *state;
  /* Only what this test created: the files in its own directory. */
  DIR *dp = opendir(d->path);
  int rc = dp ? 0 : -1;
  struct dirent *de;
  while (dp && (de = readdir(dp)) != NULL) {
    char p[sizeof(d->path) + sizeof(de->d_name) + 2];
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    snprintf(p, sizeof(p), "%s/%s", d->path, de->d_name);
    rc |= unlink(p);
  }
  if (dp) closedir(dp);
  rc |= rmdir(d->path);
  free(d);
  return rc ? -1 : 0;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static char buf[65536];
  *len = fread(buf, 1, sizeof(buf) - 1, f);
  buf[*len] = '\0';
  fclose(f);
  return buf;
}

static void spit(const char *path, const char *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static void expect(const char *file, const char *net, ni_ms lo, ni_ms up, uint64_t at) {
  ni_ms l = 1, u = 1;
  uint64_t a = 1;
  assert_int_equal(ni_ka_state_load(file, net, &l, &u, &a), 0);
  assert_int_equal(l, lo);
  assert_int_equal(u, up);
  assert_int_equal(a, at);
}

static void test_round_trip(void **state) {
  dir *d = *state;
  assert_int_equal(ni_ka_state_load(d->file, "home", NULL, NULL, NULL), -ENOENT);
  assert_int_equal(ni_ka_state_save(d->file, "home", 295000, 300000, 1700000000), 0);
  expect(d->file, "home", 295000, 300000, 1700000000);
  assert_int_equal(ni_ka_state_load(d->file, "work", NULL, NULL, NULL), -ENOENT);
  size_t len;
  const char *text = slurp(d->file, &len);
  assert_string_equal(text, "natidle-keepalive-state 1\nhome\t295000\t300000\t1700000000\nend 1\n");
}

static void test_several_networks(void **state) {
  dir *d = *state;
  assert_int_equal(ni_ka_state_save(d->file, "carrier A (LTE)", 240000, 0, 10), 0);
  assert_int_equal(ni_ka_state_save(d->file, "wifi:home", 1740000, 0, 11), 0);
  assert_int_equal(ni_ka_state_save(d->file, "carrier B", 55000, 60000, 12), 0);
  assert_int_equal(ni_ka_state_save(d->file, "end 3", 1000, 0, 1), 0); /* looks like a trailer */
  assert_int_equal(ni_ka_state_save(d->file, "carrier A (LTE)", 285000, 300000, 13), 0);
  expect(d->file, "carrier A (LTE)", 285000, 300000, 13);
  expect(d->file, "wifi:home", 1740000, 0, 11);
  expect(d->file, "carrier B", 55000, 60000, 12);
  expect(d->file, "end 3", 1000, 0, 1);
  size_t len;
  const char *text = slurp(d->file, &len);
  assert_non_null(strstr(text, "\nend 4\n"));
}

static void test_bad_arguments(void **state) {
  dir *d = *state;
  char long_label[NI_KA_LABEL_MAX + 2];
  memset(long_label, 'x', sizeof(long_label) - 1);
  long_label[sizeof(long_label) - 1] = '\0';
  assert_int_equal(ni_ka_state_save(d->file, "", 1, 2, 3), NI_EUSAGE);
  assert_int_equal(ni_ka_state_save(d->file, "a\tb", 1, 2, 3), NI_EUSAGE);
  assert_int_equal(ni_ka_state_save(d->file, "a\nb", 1, 2, 3), NI_EUSAGE);
  assert_int_equal(ni_ka_state_save(d->file, long_label, 1, 2, 3), NI_EUSAGE);
  assert_int_equal(ni_ka_state_save(d->file, "x", 5, 2, 3), NI_EUSAGE);
  assert_int_equal(ni_ka_state_save(NULL, "x", 1, 2, 3), NI_EUSAGE);
  assert_int_equal(ni_ka_state_load(d->file, "a\tb", NULL, NULL, NULL), NI_EUSAGE);
  long_label[NI_KA_LABEL_MAX] = '\0'; /* exactly the limit is fine */
  assert_int_equal(ni_ka_state_save(d->file, long_label, 1, 2, 3), 0);
  expect(d->file, long_label, 1, 2, 3);
  /* A directory that does not exist: an error, nothing written. */
  char missing[160];
  snprintf(missing, sizeof(missing), "%s/no/such/dir/state", d->path);
  assert_int_equal(ni_ka_state_save(missing, "x", 1, 2, 3), -ENOENT);
}

/* A crash during a save leaves a temporary file next to the state file:
 * the state file still holds the old state, the temporary file is ignored,
 * and the next save works. */
static void test_leftover_temp_file(void **state) {
  dir *d = *state;
  assert_int_equal(ni_ka_state_save(d->file, "home", 100000, 120000, 1), 0);
  char tmp[160];
  snprintf(tmp, sizeof(tmp), "%s.tmp.Ab12Cd", d->file);
  spit(tmp, "natidle-keepalive-state 1\nhome\t999", 35);
  expect(d->file, "home", 100000, 120000, 1);
  assert_int_equal(ni_ka_state_save(d->file, "home", 110000, 120000, 2), 0);
  expect(d->file, "home", 110000, 120000, 2);
}

/* A file cut at any byte (a copy gone wrong, a full disk without our
 * rename discipline) is refused as a whole, never half-believed and never
 * a crash; the next save replaces it. */
static void test_truncated_file(void **state) {
  dir *d = *state;
  assert_int_equal(ni_ka_state_save(d->file, "one", 100000, 120000, 1), 0);
  assert_int_equal(ni_ka_state_save(d->file, "two", 200000, 0, 2), 0);
  size_t len;
  char full[4096];
  const char *text = slurp(d->file, &len);
  assert_true(len < sizeof(full));
  memcpy(full, text, len + 1);
  for (size_t cut = 0; cut < len; cut++) {
    spit(d->file, full, cut);
    ni_ms lo = 7;
    assert_int_equal(ni_ka_state_load(d->file, "one", &lo, NULL, NULL), -EBADMSG);
    assert_int_equal(lo, 7); /* untouched */
  }
  assert_int_equal(ni_ka_state_save(d->file, "three", 300000, 0, 3), 0);
  expect(d->file, "three", 300000, 0, 3);
  assert_int_equal(ni_ka_state_load(d->file, "one", NULL, NULL, NULL), -ENOENT);
}

static void test_corrupt_files(void **state) {
  dir *d = *state;
  static const char *const bad[] = {
      "natidle-keepalive-state 2\nend 0\n",                                /* another version */
      "natidle-keepalive-state 1\nx\t1\t2\nend 1\n",                       /* missing field */
      "natidle-keepalive-state 1\nx\t1\t2\t3\t4\nend 1\n",                 /* extra field */
      "natidle-keepalive-state 1\nx\t-1\t2\t3\nend 1\n",                   /* sign */
      "natidle-keepalive-state 1\nx\t5\t2\t3\nend 1\n",                    /* lower > upper */
      "natidle-keepalive-state 1\nx\t1\t2\t3\nend 2\n",                    /* wrong count */
      "natidle-keepalive-state 1\nx\t1\t2\t3\nx\t1\t2\t3\nend 2\n",        /* dup */
      "natidle-keepalive-state 1\nx\t1\t2\t3\nend 1\nmore\n",              /* trailing */
      "natidle-keepalive-state 1\nx\t99999999999999999999\t0\t3\nend 1\n", /* overflow */
      "natidle-keepalive-state 1\n\t1\t2\t3\nend 1\n",                     /* empty label */
      "natidle-keepalive-state 1\nx\t1 \t2\t3\nend 1\n",                   /* space in number */
      "natidle-keepalive-state 1\nx\t1\t2\t3\nfin 1\n",                    /* no trailer */
      "garbage",
      "",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    spit(d->file, bad[i], strlen(bad[i]));
    assert_int_equal(ni_ka_state_load(d->file, "x", NULL, NULL, NULL), -EBADMSG);
  }
  /* A valid file written by hand is read. */
  static const char good[] = "natidle-keepalive-state 1\nx\t1\t0\t3\nend 1\n";
  spit(d->file, good, strlen(good));
  expect(d->file, "x", 1, 0, 3);
  /* An oversized file is refused without reading it all into memory. */
  FILE *f = fopen(d->file, "wb");
  assert_non_null(f);
  for (int i = 0; i < 200000; i++)
    fputc('x', f);
  fclose(f);
  assert_int_equal(ni_ka_state_load(d->file, "x", NULL, NULL, NULL), -EBADMSG);
}

/* A full file makes room by dropping the least recently updated network. */
static void test_full_file_evicts_oldest(void **state) {
  dir *d = *state;
  char label[32];
  for (int i = 0; i < NI_KA_STATE_MAX; i++) {
    snprintf(label, sizeof(label), "net-%d", i);
    assert_int_equal(ni_ka_state_save(d->file, label, 1000, 0, (uint64_t)(1000 + i)), 0);
  }
  assert_int_equal(ni_ka_state_save(d->file, "net-0", 2000, 0, 5000), 0); /* refresh */
  assert_int_equal(ni_ka_state_save(d->file, "newcomer", 3000, 0, 6000), 0);
  expect(d->file, "newcomer", 3000, 0, 6000);
  expect(d->file, "net-0", 2000, 0, 5000);
  assert_int_equal(ni_ka_state_load(d->file, "net-1", NULL, NULL, NULL), -ENOENT);
  expect(d->file, "net-2", 1000, 0, 1002);
}

/* The scheduler's bracket goes to the file and comes back as a config. */
static void test_scheduler_round_trip(void **state) {
  dir *d = *state;
  ni_ka k;
  ni_ka_config c;
  ni_ka_config_default(&c);
  c.nat_lower_ms = 280000;
  c.nat_upper_ms = 300000;
  assert_int_equal(ni_ka_init(&k, &c), 0);
  ni_ms lo, up;
  ni_ka_bracket(&k, &lo, &up);
  assert_int_equal(ni_ka_state_save(d->file, "carrier", lo, up, 42), 0);
  ni_ka_config_default(&c);
  assert_int_equal(ni_ka_state_load(d->file, "carrier", &c.nat_lower_ms, &c.nat_upper_ms, NULL), 0);
  ni_ka k2;
  assert_int_equal(ni_ka_init(&k2, &c), 0);
  assert_int_equal(ni_ka_interval(&k2), ni_ka_interval(&k));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_several_networks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
      cmocka_unit_test_setup_teardown(test_leftover_temp_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_truncated_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_corrupt_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_full_file_evicts_oldest, setup, teardown),
      cmocka_unit_test_setup_teardown(test_scheduler_round_trip, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
