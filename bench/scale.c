/*
 * bench/scale.c - one process holding N idle push sessions (libnatidle's
 * ni_push driver, as a mail client would use it) against a loopback IMAP
 * server, measuring what each idle session costs:
 *
 *  - resident memory per session: VmRSS (from /proc/self/status) once all N
 *    sessions are logged in and idle, minus VmRSS with one session up,
 *    divided by N; again after malloc_trim(0), which shows how much of it is
 *    only held by the allocator; the malloc'd bytes still in use (mallinfo2);
 *    and OpenSSL's own live allocations, counted through
 *    CRYPTO_set_mem_functions(), which is the TLS part of a session;
 *  - CPU time per keepalive: getrusage() user + system time over a window in
 *    which the scheduler sends K keepalives (a short NAT timeout is given so
 *    that it does), divided by the K keepalives answered in the window.
 *
 * It prints one line of key=value pairs (bench/scale-bench makes the table)
 * and exits 0 when every session reached IDLE and keepalives were answered,
 * 1 otherwise.  Everything is bounded: N is capped, every phase has a time
 * limit, and only loopback (127.0.0.0/8) servers are accepted.
 *
 * usage: bench_scale --port N [--host 127.0.0.1] [--tls imaps|none]
 *          [--ca-file PEM] [--sessions N] [--concurrency N] [--nat-timeout S]
 *          [--window S] [--ramp-timeout S] [--group private|shared]
 *          [--user NAME --password-file FILE]
 * Without --user the session logs in as "bench" (bench_scale_server
 * accepts anything); a real server's password is read from a file, never
 * taken from the command line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>

#ifdef __GLIBC__
/* malloc_trim() and mallinfo2() are glibc's; elsewhere those figures are
 * reported as unknown (-1). */
#include <malloc.h>
#endif

#include <openssl/crypto.h>

#include "natidle/conn.h"
#include "natidle/push.h"

#define SCALE_MAX_SESSIONS 20000L
/* How often the driver loop wakes up to start sessions and check phases. */
#define SCALE_TICK_MS 50u

/* ---- OpenSSL heap accounting ------------------------------------------------ */

/* OpenSSL's allocations go through these, so the bytes OpenSSL holds at any
 * moment are known exactly.  Sizes come from glibc's malloc_usable_size()
 * rather than a size header, so counting adds nothing to what is measured;
 * without glibc nothing is counted (tls_counted=0). */
static atomic_llong g_ossl_live, g_ossl_blocks;

#ifdef __GLIBC__
static void *ossl_malloc(size_t n, const char *file, int line) {
  (void)file;
  (void)line;
  void *p = malloc(n);
  if (p) {
    atomic_fetch_add(&g_ossl_live, (long long)malloc_usable_size(p));
    atomic_fetch_add(&g_ossl_blocks, 1);
  }
  return p;
}

static void ossl_free(void *p, const char *file, int line) {
  (void)file;
  (void)line;
  if (!p) return;
  atomic_fetch_sub(&g_ossl_live, (long long)malloc_usable_size(p));
  atomic_fetch_sub(&g_ossl_blocks, 1);
  free(p);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line) {
  if (!p) return ossl_malloc(n, file, line);
  if (n == 0) {
    ossl_free(p, file, line);
    return NULL;
  }
  long long old = (long long)malloc_usable_size(p);
  void *q = realloc(p, n);
  if (q) atomic_fetch_add(&g_ossl_live, (long long)malloc_usable_size(q) - old);
  return q;
}

static int count_openssl(void) {
  return CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free);
}
#else
static int count_openssl(void) {
  return 0;
}
#endif

/* ---- process figures ------------------------------------------------------- */

/* VmRSS in KiB, or -1. */
static long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

/* Bytes malloc'd and not freed, or -1 when the allocator cannot say. */
static long long heap_in_use(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
  struct mallinfo2 mi = mallinfo2();
  return (long long)(mi.uordblks + mi.hblkhd);
#else
  return -1;
#endif
}

static void trim(void) {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

/* User + system CPU time of this process, in microseconds. */
static long long cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec +
         ru.ru_stime.tv_usec;
}

/* ---- the sessions ------------------------------------------------------------ */

typedef struct sess {
  ni_push *p;
  unsigned char started, ready, idle;
} sess;

static uv_loop_t g_loop;
static sess *g_s;
static long g_n; /* sessions, index 0 is the warm-up session */
static long g_started, g_ready, g_idle_now, g_ready_limit;
static long g_concurrency = 200;
static uint64_t g_ka_answered, g_ka_unanswered;
static int g_verbose;
static ni_push_opts g_opts;
static ni_ka_config g_ka;

static void on_state(ni_push *p, ni_push_state st, int err, const char *detail, void *ud) {
  sess *s = ud;
  (void)p;
  int idle = st == NI_PUSH_IDLE || st == NI_PUSH_KEEPALIVE;
  if (idle != s->idle) {
    g_idle_now += idle ? 1 : -1;
    s->idle = (unsigned char)idle;
  }
  if (st == NI_PUSH_IDLE && !s->ready) {
    s->ready = 1;
    g_ready++;
  }
  if (err && g_verbose)
    fprintf(stderr, "bench_scale: session %ld: %s: %s %s\n", (long)(s - g_s),
            ni_push_state_name(st), ni_strerror(err), detail);
}

static void on_keepalive(ni_push *p, const ni_push_ka_event *ev, void *ud) {
  (void)p;
  (void)ud;
  if (ev->kind == NI_PUSH_KA_ANSWERED) g_ka_answered++;
  if (ev->kind == NI_PUSH_KA_UNANSWERED) g_ka_unanswered++;
}

static const ni_push_cb g_cb = {.on_state = on_state, .on_keepalive = on_keepalive};

/* Start sessions until `limit` have started, keeping at most
 * g_concurrency in setup at once: a burst of thousands of handshakes would
 * overflow the server's accept queue and time out for no good reason. */
static int start_more(long limit) {
  while (g_started < limit && g_started - g_ready < g_concurrency) {
    sess *s = &g_s[g_started];
    ni_ka_config kc = g_ka;
    kc.seed = (uint64_t)g_started + 1;
    g_opts.ka = &kc;
    g_opts.seed = (uint64_t)g_started + 1;
    int r = ni_push_new(&g_loop, &g_opts, &g_cb, s, &s->p);
    g_opts.ka = NULL; /* kc was copied and is about to go out of scope */
    if (r == 0) r = ni_push_start(s->p);
    if (r < 0) {
      fprintf(stderr, "bench_scale: session %ld: %s\n", g_started, ni_strerror(r));
      return r;
    }
    s->started = 1;
    g_started++;
  }
  return 0;
}

static void on_tick(uv_timer_t *t) {
  (void)t;
  if (start_more(g_ready_limit) < 0) g_ready_limit = g_started;
}

/* Run the loop until *counter reaches target or timeout_ms passes. */
static int run_until(const long *counter, long target, ni_ms timeout_ms) {
  ni_ms end = ni_imap_now() + timeout_ms;
  while (*counter < target && ni_imap_now() < end)
    uv_run(&g_loop, UV_RUN_ONCE);
  return *counter >= target;
}

static void run_for(ni_ms ms) {
  ni_ms end = ni_imap_now() + ms;
  while (ni_imap_now() < end)
    uv_run(&g_loop, UV_RUN_ONCE);
}

/* ---- command line ------------------------------------------------------------ */

static long num_arg(const char *s, long lo, long hi, const char *what) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) {
    fprintf(stderr, "bench_scale: %s must be a number from %ld to %ld, not '%s'\n", what, lo, hi,
            s);
    exit(2);
  }
  return v;
}

/* Read a password file (the password alone; one trailing newline is
 * dropped) into buf.  Returns 0, or -1 with a message. */
static int read_password(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "bench_scale: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t n = fread(buf, 1, cap - 1, f);
  int big = !feof(f);
  fclose(f);
  if (big) {
    fprintf(stderr, "bench_scale: %s: password too long\n", path);
    return -1;
  }
  buf[n] = 0;
  if (n && buf[n - 1] == '\n') buf[--n] = 0;
  if (n && buf[n - 1] == '\r') buf[--n] = 0;
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: bench_scale --port N [--host 127.0.0.x] [--tls imaps|none] [--ca-file PEM]\n"
          "         [--sessions N] [--concurrency N] [--nat-timeout S] [--window S]\n"
          "         [--ramp-timeout S] [--group private|shared] [--verbose]\n"
          "         [--user NAME --password-file FILE]\n");
  exit(2);
}

int main(int argc, char **argv) {
  /* Must come before OpenSSL allocates anything. */
  int counted = count_openssl();

  const char *host = "127.0.0.1", *ca_file = NULL, *tls = "imaps", *user = NULL;
  const char *pass_file = NULL;
  static char password[512];
  long port = 0, nat_s = 20, window_s = 60, ramp_s = 300, shared = 0;
  g_n = 1000;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--verbose")) {
      g_verbose = 1;
      continue;
    }
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (!strcmp(a, "--host"))
      host = v;
    else if (!strcmp(a, "--port"))
      port = num_arg(v, 1, 65535, a);
    else if (!strcmp(a, "--tls"))
      tls = v;
    else if (!strcmp(a, "--ca-file"))
      ca_file = v;
    else if (!strcmp(a, "--user"))
      user = v;
    else if (!strcmp(a, "--password-file"))
      pass_file = v;
    else if (!strcmp(a, "--sessions"))
      g_n = num_arg(v, 1, SCALE_MAX_SESSIONS, a);
    else if (!strcmp(a, "--concurrency"))
      g_concurrency = num_arg(v, 1, 4096, a);
    else if (!strcmp(a, "--nat-timeout"))
      nat_s = num_arg(v, 3, 3600, a);
    else if (!strcmp(a, "--window"))
      window_s = num_arg(v, 1, 3600, a);
    else if (!strcmp(a, "--ramp-timeout"))
      ramp_s = num_arg(v, 1, 3600, a);
    else if (!strcmp(a, "--group") && (!strcmp(v, "private") || !strcmp(v, "shared")))
      shared = !strcmp(v, "shared");
    else
      usage();
  }
  struct in_addr ia;
  if (!port || inet_pton(AF_INET, host, &ia) != 1 || (ntohl(ia.s_addr) >> 24) != 127) {
    fprintf(stderr, "bench_scale: --port and a loopback --host (127.0.0.0/8) are required\n");
    return 2;
  }
  if (!user != !pass_file) usage();
  if (pass_file && read_password(pass_file, password, sizeof password) < 0) return 2;
  ni_tls_mode mode;
  if (ni_tls_mode_parse(tls, &mode) < 0 || mode == NI_TLS_STARTTLS) usage();

  /* One descriptor per session: take what the hard limit allows, and say
   * so when even that is too low for N. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && (long long)rl.rlim_cur < (long long)g_n + 64) {
      fprintf(stderr,
              "bench_scale: RLIMIT_NOFILE hard limit %llu is too low for %ld sessions "
              "(raise it with ulimit -Hn or limits.conf)\n",
              (unsigned long long)rl.rlim_cur, g_n);
      return 1;
    }
  }

  /* The keepalive cadence: a NAT known to keep nat_s seconds of silence
   * and to drop 1 s more, no learning, so every session sends a keepalive
   * every nat_s minus the scheduler's margin. */
  ni_ka_config_default(&g_ka);
  g_ka.nat_lower_ms = (ni_ms)nat_s * 1000u;
  g_ka.nat_upper_ms = (ni_ms)nat_s * 1000u + 1000u;
  g_ka.adaptive = 0;
  g_ka.min_interval_ms = 1000;

  uv_loop_init(&g_loop);
  ni_push_group *group = NULL;
  if (shared && ni_push_group_new(&g_loop, &group) < 0) return 1;

  memset(&g_opts, 0, sizeof g_opts);
  g_opts.host = host;
  g_opts.port = (uint16_t)port;
  g_opts.security = mode == NI_TLS_NONE ? NI_PUSH_PLAINTEXT : NI_PUSH_IMAPS;
  g_opts.ca_file = ca_file;
  g_opts.allow_plaintext = mode == NI_TLS_NONE;
  /* The benchmark server accepts any credentials; "bench" is no secret. */
  g_opts.user = user ? user : "bench";
  g_opts.password = pass_file ? password : "bench";
  g_opts.group = group;
  g_opts.setup_timeout_ms = 60000;
  g_opts.backoff_min_ms = 1000;
  g_opts.backoff_max_ms = 10000;

  /* The session table is touched now, so its pages count in the baseline
   * and not as session memory. */
  long total = g_n + 1;
  g_s = calloc((size_t)total, sizeof *g_s);
  if (!g_s) return 1;
  memset(g_s, 0, (size_t)total * sizeof *g_s);

  uv_timer_t tick;
  uv_timer_init(&g_loop, &tick);
  uv_timer_start(&tick, on_tick, SCALE_TICK_MS, SCALE_TICK_MS);

  int ok = 1;
  const char *fail = "";
  long long heap0 = 0, heap1 = 0, ossl0 = 0, ossl1 = 0, blk0 = 0, blk1 = 0, cpu_ramp = 0, cpu0 = 0,
            cpu1 = 0;
  long rss0 = 0, rss1 = 0, rss1t = 0, rss2 = 0;
  uint64_t ka0 = 0, ka1 = 0;
  double ramp_wall_s = 0;

  /* 1. One session first: OpenSSL's global state, the shared SSL_CTX with
   * its CA store and libuv's own buffers are then in the baseline. */
  g_ready_limit = 1;
  if (!run_until(&g_ready, 1, 30000)) {
    ok = 0;
    fail = "the first session did not reach IDLE in 30 s";
    goto out;
  }
  run_for(500);
  trim();
  rss0 = rss_kib();
  heap0 = heap_in_use();
  ossl0 = atomic_load(&g_ossl_live);
  blk0 = atomic_load(&g_ossl_blocks);

  /* 2. The other N. */
  {
    long long c0 = cpu_us();
    ni_ms t0 = ni_imap_now();
    g_ready_limit = total;
    if (!run_until(&g_ready, total, (ni_ms)ramp_s * 1000u)) {
      ok = 0;
      fail = "not every session reached IDLE before --ramp-timeout";
    }
    ramp_wall_s = (double)(ni_imap_now() - t0) / 1000.0;
    cpu_ramp = cpu_us() - c0;
  }
  if (!ok) goto out;

  /* 3. Idle memory: let the last answers and frees settle first. */
  run_for(1000);
  rss1 = rss_kib();
  heap1 = heap_in_use();
  ossl1 = atomic_load(&g_ossl_live);
  blk1 = atomic_load(&g_ossl_blocks);
  trim();
  rss1t = rss_kib();

  /* 4. CPU per keepalive over the window. */
  ka0 = g_ka_answered;
  cpu0 = cpu_us();
  run_for((ni_ms)window_s * 1000u);
  cpu1 = cpu_us();
  ka1 = g_ka_answered;
  rss2 = rss_kib();
  if (ka1 == ka0) {
    ok = 0;
    fail = "no keepalive was answered in the window (window shorter than the cadence?)";
  }

out:;
  uint64_t reconnects = 0;
  for (long i = 0; i < g_started; i++) {
    ni_push_stats st;
    ni_push_get_stats(g_s[i].p, &st);
    reconnects += st.reconnects;
  }
  double n = (double)g_n;
  uint64_t k = ka1 - ka0;
  printf("n=%ld tls=%s group=%s ready=%ld idle=%ld rss_base_kib=%ld rss_kib=%ld "
         "rss_per_session_kib=%.2f rss_trim_per_session_kib=%.2f heap_per_session_b=%.0f "
         "tls_per_session_b=%.0f tls_blocks_per_session=%.1f tls_counted=%d cpu_us_per_ka=%.2f "
         "keepalives=%" PRIu64 " window_s=%ld unanswered=%" PRIu64 " reconnects=%" PRIu64
         " setup_cpu_ms_per_session=%.3f ramp_s=%.1f rss_after_window_per_session_kib=%.2f"
         " interval_ms=%" PRIu64 " ok=%d\n",
         g_n, ni_tls_mode_name(mode), shared ? "shared" : "private", g_ready - (g_ready > 0),
         g_idle_now - (g_s[0].idle ? 1 : 0), rss0, rss1, (double)(rss1 - rss0) / n,
         (double)(rss1t - rss0) / n, heap0 >= 0 && heap1 >= 0 ? (double)(heap1 - heap0) / n : -1.0,
         (double)(ossl1 - ossl0) / n, (double)(blk1 - blk0) / n, counted,
         k ? (double)(cpu1 - cpu0) / (double)k : 0.0, k, window_s, g_ka_unanswered, reconnects,
         (double)cpu_ramp / 1000.0 / n, ramp_wall_s, rss2 > 0 ? (double)(rss2 - rss0) / n : -1.0,
         g_started ? (uint64_t)ni_ka_interval(ni_push_scheduler(g_s[0].p)) : 0, ok);
  fflush(stdout);
  if (!ok) fprintf(stderr, "bench_scale: %s (%ld of %ld ready)\n", fail, g_ready, total);

  /* Tear down, newest first (a group's list has the newest at its head),
   * bounded in time. */
  for (long i = g_started - 1; i >= 0; i--)
    ni_push_free(g_s[i].p);
  if (group) ni_push_group_free(group);
  /* The tick, unreferenced, keeps waking the loop so the wait is bounded
   * without keeping the loop alive by itself. */
  uv_unref((uv_handle_t *)&tick);
  ni_ms end = ni_imap_now() + 10000;
  while (uv_loop_alive(&g_loop) && ni_imap_now() < end)
    uv_run(&g_loop, UV_RUN_ONCE);
  uv_timer_stop(&tick);
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(&g_loop, UV_RUN_NOWAIT);
  if (uv_loop_close(&g_loop) != 0) fprintf(stderr, "bench_scale: handles left open at exit\n");
  free(g_s);
  OPENSSL_cleanse(password, sizeof password);
  return ok ? 0 : 1;
}
