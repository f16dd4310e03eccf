/* Tests of the subcommands' option parser (cli/options.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cli/options.h"
#include "natidle/common.h"

typedef struct fixture {
  ni__conn_args ca;
  int flag, count_given;
  unsigned long count;
  double secs;
  const char *out;
} fixture;

static int parse(fixture *f, int argc, char **argv, int *first) {
  memset(f, 0, sizeof *f);
  const ni__opt opts[] = {
      NI__CONN_OPTS(&f->ca),
      {"flag", 0, NI__OPT_FLAG, &f->flag, 0, 0, NULL},
      {"count", 0, NI__OPT_UINT, &f->count, 1, 64, &f->count_given},
      {"secs", 0, NI__OPT_SECONDS, &f->secs, 0.5, 3600, NULL},
      {"output", 'o', NI__OPT_STRING, &f->out, 0, 0, NULL},
  };
  return ni__opts_parse("test", argc, argv, opts, sizeof opts / sizeof opts[0], first);
}

#define ARGV(...)                                                                                  \
  (char *[]) {                                                                                     \
    "test", __VA_ARGS__, NULL                                                                      \
  }
#define ARGC(...) ((int)(sizeof((char *[]){"test", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(f, first, ...) parse(f, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), first)

static void test_values(void **state) {
  (void)state;
  fixture f;
  assert_int_equal(PARSE(&f, NULL, "--server", "imap.example.org", "--port=143", "--flag",
                         "--count", "8", "--secs", "5m", "-o", "out.html", "--insecure",
                         "--network", "lte"),
                   0);
  assert_string_equal(f.ca.server, "imap.example.org");
  assert_int_equal(f.ca.port, 143);
  assert_int_equal(f.flag, 1);
  assert_int_equal(f.count, 8);
  assert_int_equal(f.count_given, 1);
  assert_true(f.secs == 300);
  assert_string_equal(f.out, "out.html");
  assert_int_equal(f.ca.insecure, 1);
  assert_string_equal(f.ca.network, "lte");
  assert_int_equal(f.ca.allow_plaintext, 0);
}

static void test_bad_values(void **state) {
  (void)state;
  fixture f;
  assert_int_equal(PARSE(&f, NULL, "--count", "65"), NI_EUSAGE);
  assert_int_equal(PARSE(&f, NULL, "--count", "0"), NI_EUSAGE);
  assert_int_equal(PARSE(&f, NULL, "--secs", "0.1"), NI_EUSAGE);
  assert_int_equal(PARSE(&f, NULL, "--secs", "nan"), NI_EUSAGE);
  assert_int_equal(PARSE(&f, NULL, "--port", "65536"), NI_EUSAGE);
  assert_int_equal(PARSE(&f, NULL, "--port"), NI_EUSAGE); /* needs a value */
  assert_int_equal(PARSE(&f, NULL, "--flag=1"), NI_EUSAGE);
  assert_int_equal(PARSE(&f, NULL, "--bogus"), NI_EUSAGE);
  assert_int_equal(PARSE(&f, NULL, "-x"), NI_EUSAGE);
  assert_int_equal(f.count_given, 0);
}

/* Any abbreviation of --password is refused before getopt could read it as
 * --password-file; --password-file itself and its abbreviation --password-f
 * are fine. */
static void test_family(void **state) {
  (void)state;
  fixture f;
  int family = -1;
  assert_int_equal(PARSE(&f, NULL, "--family", "6"), 0);
  assert_string_equal(f.ca.family, "6");
  assert_int_equal(ni__conn_family("test", f.ca.family, &family), 0);
  assert_int_equal(family, 6);
  assert_int_equal(PARSE(&f, NULL, "--family=4"), 0);
  assert_int_equal(ni__conn_family("test", f.ca.family, &family), 0);
  assert_int_equal(family, 4);
  assert_int_equal(PARSE(&f, NULL, "--server", "h"), 0);
  assert_null(f.ca.family);
  assert_int_equal(ni__conn_family("test", f.ca.family, &family), 0);
  assert_int_equal(family, 0);
  const char *bad[] = {"5", "46", "", "ipv6", "06"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(ni__conn_family("test", bad[i], &family), NI_EUSAGE);
  assert_int_equal(PARSE(&f, NULL, "--family"), NI_EUSAGE);
  /* The shared help documents it for both subcommands, keepalive too. */
  const char *h = strstr(ni__conn_opts_help, "--family 4|6");
  assert_non_null(h);
  assert_null(strstr(h, "probe only"));
  assert_non_null(strstr(h, "keepalive"));
}

static void test_password_refused(void **state) {
  (void)state;
  fixture f;
  assert_int_equal(PARSE(&f, NULL, "--password", "hunter2"), NI_EUSAGE);
  assert_int_equal(PARSE(&f, NULL, "--password=hunter2"), NI_EUSAGE);
  assert_int_equal(PARSE(&f, NULL, "--pass", "hunter2"), NI_EUSAGE);
  assert_int_equal(PARSE(&f, NULL, "--password-file", "pw"), 0);
  assert_string_equal(f.ca.password_file, "pw");
  assert_int_equal(PARSE(&f, NULL, "--password-f", "pw"), 0);
  /* After "--" everything is an operand. */
  int first = 0;
  assert_int_equal(PARSE(&f, &first, "--", "--password"), 0);
}

static void test_operands_and_help(void **state) {
  (void)state;
  fixture f;
  int first = -1;
  char **argv = ARGV("a.csv", "--flag", "b.csv");
  assert_int_equal(parse(&f, 4, argv, &first), 0);
  assert_int_equal(first, 2);
  assert_string_equal(argv[first], "a.csv");
  assert_string_equal(argv[first + 1], "b.csv");
  assert_int_equal(f.flag, 1);
  assert_int_equal(PARSE(&f, NULL, "stray"), NI_EUSAGE);
  assert_int_equal(PARSE(&f, NULL, "--help"), 1);
  assert_int_equal(PARSE(&f, NULL, "--flag", "-h"), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_bad_values),
      cmocka_unit_test(test_family),
      cmocka_unit_test(test_password_refused),
      cmocka_unit_test(test_operands_and_help),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
