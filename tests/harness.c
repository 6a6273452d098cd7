#define _DEFAULT_SOURCE   /* wait4 */
#define _GNU_SOURCE   /* strcasestr */
#include "harness.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <malloc.h>
#include <sys/resource.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>
#include "atelier/rng.h"

static int g_passed, g_failed, g_skipped;
static int g_case_failures;
static bool g_case_skipped;
static const char *g_case;

void test_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  FAIL %s (%s:%d): ", g_case ? g_case : "?", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    g_case_failures++;
}

void test_skip(const char *why) {
    printf("  skip %s: %s\n", g_case, why);
    g_case_skipped = true;
}

void test_run(const char *name, void (*fn)(void)) {
    g_case = name;
    g_case_failures = 0;
    g_case_skipped = false;
    error_clear();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fn();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (g_case_failures) {
        g_failed++;
        printf("not ok %s (%d failures, %.0f ms)\n", name, g_case_failures, ms);
    } else if (g_case_skipped) {
        g_skipped++;
        printf("skip   %s\n", name);
    } else {
        g_passed++;
        printf("ok     %s (%.0f ms)\n", name, ms);
    }
    fflush(stdout);
    g_case = NULL;
}

int test_finish(void) {
    if (g_skipped)
        printf("%d passed, %d failed, %d skipped\n", g_passed, g_failed, g_skipped);
    else
        printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}

bool test_near(double got, double want, double atol, double rtol) {
    if (isnan(got) || isnan(want)) return false;
    return fabs(got - want) <= atol + rtol * fabs(want);
}

bool test_close_array(const char *file, int line, const char *what, const float *got,
                      const float *want, int64_t n, double atol, double rtol) {
    int64_t bad = 0, worst = -1;
    double worst_excess = 0;
    for (int64_t i = 0; i < n; i++) {
        double excess = fabs((double)got[i] - want[i]) - (atol + rtol * fabs(want[i]));
        if (isnan(got[i]) != isnan(want[i]) || (!isnan(want[i]) && excess > 0)) {
            bad++;
            if (worst < 0 || excess > worst_excess || isnan(got[i])) { worst = i; worst_excess = excess; }
        }
    }
    if (bad)
        test_fail(file, line, "%s: %lld of %lld elements differ; worst [%lld] = %.9g, want %.9g "
                  "(atol %g rtol %g)", what, (long long)bad, (long long)n, (long long)worst,
                  got[worst], want[worst], atol, rtol);
    return bad == 0;
}

void test_fill_uniform(tensor *t, uint64_t seed, float lo, float hi) {
    rng r = rng_new(seed);
    rng_uniform(&r, t->data, t->numel, lo, hi);
}

tensor *test_leaf(arena *a, int ndim, const int *shape, uint64_t seed, float lo, float hi) {
    tensor *t = tensor_new(a, ndim, shape);
    if (!t) return NULL;
    test_fill_uniform(t, seed, lo, hi);
    tensor_requires_grad(t);
    return t;
}

tensor *test_sin_pattern(arena *ar, int ndim, const int *shape, double a, double b, double s) {
    tensor *t = tensor_new(ar, ndim, shape);
    for (int64_t i = 0; t && i < t->numel; i++) t->data[i] = (float)(s * sin(a * (double)i + b));
    return t;
}

int test_count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

void test_remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    char path[512];
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (remove(path) != 0) test_remove_tree(path);
        remove(path);
    }
    closedir(d);
    rmdir(dir);
}

char test_dir[64];

bool test_make_dir(void) {
    strcpy(test_dir, "/tmp/atelier-test-XXXXXX");
    if (mkdtemp(test_dir)) return true;
    perror("mkdtemp");
    return false;
}

const char *test_tmp_path(const char *name) {
    static char buf[4][256];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 256, "%s/%s", test_dir, name);
    return p;
}

const backend *test_backend_or_skip(const char *name) {
    const backend *be = backend_find(name);
    if (!be) {
        char why[128];
        snprintf(why, sizeof why, "this build has no %s backend (needs libdnnl-dev, libopenblas-openmp-dev)", name);
        test_skip(why);
    }
    return be;
}

float *test_rand_buf(int64_t n, uint64_t seed, float lo, float hi) {
    float *p = malloc(sizeof(float) * (n > 0 ? n : 1));
    if (!p) abort();  /* a test without memory cannot go on */
    rng r = rng_new(seed);
    rng_uniform(&r, p, n, lo, hi);
    return p;
}

int test_shell(const char *cmd, char *out, char *err) {
    char full[4096];
    snprintf(full, sizeof full, "%s >%s/out 2>%s/err", cmd, test_dir, test_dir);
    int rc = system(full);
    const char *names[2] = {"out", "err"};
    char *bufs[2] = {out, err};
    for (int i = 0; i < 2; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", test_dir, names[i]);
        FILE *f = fopen(path, "rb");
        size_t n = f ? fread(bufs[i], 1, 8191, f) : 0;
        bufs[i][n] = 0;
        if (f) fclose(f);
    }
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int test_count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

unsigned char *test_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = len >= 0 ? malloc((size_t)len + 1) : NULL;
    *n = b ? fread(b, 1, (size_t)len, f) : 0;
    if (b) b[*n] = 0;
    fclose(f);
    return b;
}

test_cost test_child_cost(void (*fn)(void *out, void *user), void *user, void *out, size_t size) {
    test_cost c = {.died = -1};
    int fd[2];
    if (pipe(fd) != 0) return c;
    fflush(stdout);
    fflush(stderr);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        alarm(30);
#ifdef __GLIBC__
        malloc_trim(0);    /* free pages inherited from the parent: fn may not reuse them */
#endif
        FILE *peak = fopen("/proc/self/clear_refs", "w");   /* "5": the peak RSS restarts here */
        if (peak) { fputs("5", peak); fclose(peak); }
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        long rss0 = ru.ru_maxrss;
        fn(out, user);
        bool ok = write(fd[1], &rss0, sizeof rss0) == (ssize_t)sizeof rss0 && write(fd[1], out, size) == (ssize_t)size;
        _exit(ok ? 0 : 1);
    }
    close(fd[1]);
    long rss0 = 0;
    size_t got = 0, want = sizeof rss0 + size;
    while (pid > 0 && got < want) {
        ssize_t k = got < sizeof rss0 ? read(fd[0], (char *)&rss0 + got, sizeof rss0 - got)
                                      : read(fd[0], (char *)out + (got - sizeof rss0), want - got);
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd[0]);
    int ws = 0;
    struct rusage ru = {0};
    if (pid > 0) wait4(pid, &ws, 0, &ru);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    c.wall_s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    c.died = got != want ? (WIFSIGNALED(ws) ? WTERMSIG(ws) : -1) : 0;
    c.rss_mb = (ru.ru_maxrss - rss0) / 1024.0;
    c.cpu_s = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
    return c;
}

bool test_exists(const char *name) { return access(test_tmp_path(name), F_OK) == 0; }

bool test_same_file(const char *a, const char *b) {
    size_t na, nb;
    unsigned char *x = test_read_file(test_tmp_path(a), &na), *y = test_read_file(test_tmp_path(b), &nb);
    bool same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static bool browser_missing(const char *what) {
    const char *require = getenv("ATELIER_REQUIRE_BROWSER");
    char why[256];
    snprintf(why, sizeof why, "needs %s: run scripts/install-browser-test.sh", what);
    if (require && *require && strcmp(require, "0")) CHECK_MSG(false, "ATELIER_REQUIRE_BROWSER is set and the browser test %s", why);
    else test_skip(why);
    return false;
}

bool test_browser_ready(void) {
    char out[8192], err[8192];
    if (access("/usr/bin/chromium", X_OK) != 0) return browser_missing("chromium");
    if (test_shell("node --version", out, err) != 0) return browser_missing("node (nodejs)");
    if (access("tests/browser/node_modules/playwright-core", F_OK) != 0) return browser_missing("playwright-core");
    return true;
}

/* ---- a small HTTP/1.1 client ---- */

void test_resp_free(test_resp *r) { free(r->body); r->body = NULL; }

int test_connect_port(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {120, 0};   /* no test waits this long on one read */
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
    return fd;
}

bool test_send_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        c += k;
        n -= (size_t)k;
    }
    return true;
}

/* In place: a chunked body to its bytes. */
static size_t dechunk(char *b, size_t n) {
    size_t in = 0, out = 0;
    while (in < n) {
        char *end;
        unsigned long k = strtoul(b + in, &end, 16);
        char *nl = strstr(end, "\r\n");
        if (!nl || k == 0) break;
        in = (size_t)(nl + 2 - b);
        if (in + k > n) k = n - in;
        memmove(b + out, b + in, k);
        out += k;
        in += k + 2;
    }
    b[out] = 0;
    return out;
}

bool test_read_resp(int fd, test_resp *r) {
    memset(r, 0, sizeof *r);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (ssize_t k; buf && (k = recv(fd, buf + n, cap - n, 0)) > 0;) {
        n += (size_t)k;
        if (n == cap) {
            char *more = realloc(buf, (cap *= 2) + 1);
            if (!more) { free(buf); buf = NULL; }
            buf = more;
        }
    }
    if (!buf) return false;
    buf[n] = 0;
    char *sep = strstr(buf, "\r\n\r\n");
    if (!sep || sscanf(buf, "HTTP/1.%*d %d", &r->code) != 1) { free(buf); return false; }
    size_t hl = (size_t)(sep - buf);
    snprintf(r->head, sizeof r->head, "%.*s", (int)(hl < sizeof r->head ? hl : sizeof r->head - 1), buf);
    r->len = n - hl - 4;
    memmove(buf, sep + 4, r->len + 1);
    r->body = buf;
    if (strcasestr(r->head, "transfer-encoding: chunked")) r->len = dechunk(r->body, r->len);
    return true;
}

int test_http(int port, const char *method, const char *path, const char *headers, const void *body, size_t blen,
              test_resp *r) {
    memset(r, 0, sizeof *r);
    int fd = test_connect_port(port);
    if (fd < 0) return -1;
    char head[2048];
    int hn = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s", method, path,
                      headers);
    if (body) hn += snprintf(head + hn, sizeof head - (size_t)hn, "Content-Length: %zu\r\n", blen);
    hn += snprintf(head + hn, sizeof head - (size_t)hn, "\r\n");
    /* the server may answer (413) and close before taking the whole body: read it anyway */
    if (test_send_all(fd, head, (size_t)hn) && body) test_send_all(fd, body, blen);
    bool ok = test_read_resp(fd, r);
    close(fd);
    return ok ? r->code : -1;
}
