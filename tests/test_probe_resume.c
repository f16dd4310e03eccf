/* Tests of --resume's reading of the observations CSV (probe/resume.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "natidle/common.h"
#include "probe/prober.h"

#define HDR                                                                                        \
  "run_id,network,server,port,tls,session,target_s,silence_s,direction,outcome,detect_ms,"         \
  "rtt_ms,evidence,at\n"

/* Write text to a fresh temporary file; returns its path (static buffer). */
static const char *tmpfile_with(const char *text) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/test_probe_resume.XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  size_t n = strlen(text);
  assert_int_equal(write(fd, text, n), (ssize_t)n);
  close(fd);
  return path;
}

static void test_outcome_alive(void **state) {
  (void)state;
  assert_int_equal(ni__outcome_alive("alive"), 1);
  assert_int_equal(ni__outcome_alive("dead_silent"), 0);
  assert_int_equal(ni__outcome_alive("dead_reset"), 0);
  assert_int_equal(ni__outcome_alive("dead_closed"), 0);
  assert_int_equal(ni__outcome_alive("dead_inbound"), 0);
  assert_int_equal(ni__outcome_alive("refreshed"), -1);
  assert_int_equal(ni__outcome_alive("aborted"), -1);
  assert_int_equal(ni__outcome_alive("error"), -1);
  assert_int_equal(ni__outcome_alive("dead_unknown"), -1);
  assert_int_equal(ni__outcome_alive(NULL), -1);
}

static void test_missing_and_empty(void **state) {
  (void)state;
  ni_resume r;
  char err[256];
  assert_int_equal(
      ni__resume_load("/nonexistent/natidle.csv", "s", 993, "imaps", &r, err, sizeof err), 0);
  assert_string_equal(r.run_id, "");
  assert_int_equal(r.nobs, 0);
  const char *p = tmpfile_with("");
  assert_int_equal(ni__resume_load(p, "s", 993, "imaps", &r, err, sizeof err), 0);
  assert_string_equal(r.run_id, "");
  unlink(p);
  p = tmpfile_with(HDR);
  assert_int_equal(ni__resume_load(p, "s", 993, "imaps", &r, err, sizeof err), 0);
  assert_string_equal(r.run_id, "");
  ni__resume_free(&r);
  unlink(p);
}

static void test_last_run_only(void **state) {
  (void)state;
  const char *p = tmpfile_with(
      HDR "runA,,mail.example.org,993,imaps,1,5.000,5.010,inbound,alive,500,1,,t\n"
          "runB,lab,mail.example.org,993,imaps,3,2.000,2.004,inbound,alive,503,1,,t\n"
          "runB,lab,mail.example.org,993,imaps,4,9.000,9.500,inbound,dead_silent,,1,,t\n"
          "runB,lab,mail.example.org,993,imaps,2,7.000,7.100,inbound,refreshed,,1,,t\n"
          "runB,lab,mail.example.org,993,imaps,5,30.000,30.000,outbound,alive,2,1,,t\n"
          "runB,lab,mail.example.org,993,imaps,1,8.000,8.300,inbound,aborted,,1,,t\n");
  ni_resume r;
  char err[256];
  assert_int_equal(ni__resume_load(p, "mail.example.org", 993, "imaps", &r, err, sizeof err), 0);
  assert_string_equal(r.run_id, "runB");
  assert_int_equal(r.rows, 5);
  assert_int_equal(r.nobs, 3); /* refreshed and aborted say nothing */
  assert_int_equal(r.max_session, 5);
  assert_true(r.obs[0].silence_s == 2.004 && r.obs[0].alive == 1);
  assert_int_equal(r.obs[0].direction, NI_PDIR_INBOUND);
  assert_true(r.obs[1].silence_s == 9.5 && r.obs[1].alive == 0);
  assert_int_equal(r.obs[2].direction, NI_PDIR_OUTBOUND);
  ni__resume_free(&r);
  unlink(p);
}

static void test_mismatch(void **state) {
  (void)state;
  const char *p =
      tmpfile_with(HDR "runB,,mail.example.org,993,imaps,1,2.000,2.004,inbound,alive,5,1,,t\n");
  ni_resume r;
  char err[256];
  assert_int_equal(ni__resume_load(p, "other.example.org", 993, "imaps", &r, err, sizeof err),
                   NI_EMISMATCH);
  assert_non_null(strstr(err, "runB"));
  assert_int_equal(ni__resume_load(p, "mail.example.org", 143, "imaps", &r, err, sizeof err),
                   NI_EMISMATCH);
  assert_int_equal(ni__resume_load(p, "mail.example.org", 993, "starttls", &r, err, sizeof err),
                   NI_EMISMATCH);
  unlink(p);
  /* Another kind of CSV is not an observations file. */
  p = tmpfile_with("a,b\n1,2\n");
  assert_int_equal(ni__resume_load(p, "mail.example.org", 993, "imaps", &r, err, sizeof err),
                   NI_EMISMATCH);
  unlink(p);
}

static void test_malformed(void **state) {
  (void)state;
  const char *p = tmpfile_with(HDR "runB,\"unterminated,mail,993,imaps\n");
  ni_resume r;
  char err[256];
  assert_int_equal(ni__resume_load(p, "mail", 993, "imaps", &r, err, sizeof err), NI_ECSV);
  assert_true(err[0] != '\0');
  unlink(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_outcome_alive), cmocka_unit_test(test_missing_and_empty),
      cmocka_unit_test(test_last_run_only), cmocka_unit_test(test_mismatch),
      cmocka_unit_test(test_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
