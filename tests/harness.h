/* harness.h: a small test harness (after redis's testhelp.h).
 *
 * A test file defines static void functions and runs them from main with RUN(fn); CHECK
 * macros record failures with file:line and go on. test_finish() prints
 * "N passed, N failed" (one case = one RUN) and returns the exit status.
 *
 *   static void test_add(void) { CHECK_NEAR(1.0f + 2.0f, 3.0f, 0, 0); }
 *   int main(void) { RUN(test_add); return test_finish(); }
 *
 * Tolerances are of the form |got - want| <= atol + rtol * |want|.
 */
#ifndef ATELIER_TEST_HARNESS_H
#define ATELIER_TEST_HARNESS_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "atelier/tensor.h"
#include "atelier/backend.h"

void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void test_run(const char *name, void (*fn)(void));
void test_skip(const char *why);  /* call inside a case: it counts as skipped, not passed */
int test_finish(void);
bool test_near(double got, double want, double atol, double rtol);
/* Compares n floats; on failure reports the worst element. Returns true if all close. */
bool test_close_array(const char *file, int line, const char *what, const float *got,
                      const float *want, int64_t n, double atol, double rtol);

#define CHECK(cond) \
    do { if (!(cond)) test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); } while (0)
#define CHECK_MSG(cond, ...) \
    do { if (!(cond)) test_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define CHECK_NEAR(got, want, atol, rtol) \
    do { double g_ = (got), w_ = (want); \
         if (!test_near(g_, w_, (atol), (rtol))) \
             test_fail(__FILE__, __LINE__, "%s = %.9g, want %.9g (atol %g rtol %g)", \
                       #got, g_, w_, (double)(atol), (double)(rtol)); } while (0)
#define CHECK_ARRAY(got, want, n, atol, rtol) \
    test_close_array(__FILE__, __LINE__, #got, (got), (want), (n), (atol), (rtol))
/* A tensor-returning expression that must succeed: prints error_message() if NULL. */
#define CHECK_OK(t) \
    do { if (!(t)) test_fail(__FILE__, __LINE__, "%s failed: %s", #t, error_message()); } while (0)
#define RUN(fn) test_run(#fn, fn)

/* expr (a tensor expression) must return NULL with status s and a message containing part. */
#define CHECK_FAILS(expr, s, part)                                                         \
    do {                                                                                   \
        error_clear();                                                                     \
        tensor *r_ = (expr);                                                               \
        CHECK_MSG(r_ == NULL, "%s succeeded", #expr);                                      \
        CHECK_MSG(error_status() == (s), "%s: status %s, want %s (%s)", #expr,             \
                  status_name(error_status()), status_name(s), error_message());          \
        CHECK_MSG(strstr(error_message(), (part)) != NULL, "%s: message '%s' lacks '%s'",  \
                  #expr, error_message(), (part));                                        \
        error_clear();                                                                     \
    } while (0)

/* A fresh directory for a test program's files (test_dir, made by test_make_dir under /tmp;
 * false and a message if it cannot be made), and a path inside it (4 rotating buffers). */
extern char test_dir[64];
bool test_make_dir(void);
const char *test_tmp_path(const char *name);

/* Runs cmd through the shell with stdout and stderr captured in out and err (8 KB each, in
 * test_dir); returns the exit status (-1 if killed). test_count_lines counts '\n's. */
int test_shell(const char *cmd, char *out, char *err);
int test_count_lines(const char *s);

/* A whole file, malloc'd with a NUL after its n bytes (the caller frees); NULL if unreadable. */
unsigned char *test_read_file(const char *path, size_t *n);

/* Files in test_dir by name: whether one exists; whether two have the same bytes (false if
 * either cannot be read). */
bool test_exists(const char *name);
bool test_same_file(const char *a, const char *b);

/* Files: the number of entries in a directory (-1 if it cannot be read); remove a tree. */
int test_count_entries(const char *dir);
void test_remove_tree(const char *dir);

/* What a piece of work costs, measured in a forked child (hostile-input tests): fn(out,
 * user) runs in the child, which first gives back the free heap it inherited and restarts
 * its peak RSS (Linux: /proc/self/clear_refs), so the numbers are fn's own; an alarm (30 s)
 * kills a hang. fn fills out (size bytes), which comes back to the caller's out. rss_mb is
 * the child's peak RSS above its start, cpu_s its user plus system time; died is 0, the
 * signal that killed it, or -1 if it sent nothing back. */
typedef struct test_cost { double rss_mb, cpu_s, wall_s; int died; } test_cost;
test_cost test_child_cost(void (*fn)(void *out, void *user), void *user, void *out, size_t size);

/* The backend of that name, or NULL after test_skip (a build without it skips, not fails). */
const backend *test_backend_or_skip(const char *name);
/* n floats uniform in [lo, hi) from seed, malloc'd (the caller frees). */
float *test_rand_buf(int64_t n, uint64_t seed, float lo, float hi);

/* Deterministic test data: uniform in [lo, hi) from a seed. */
void test_fill_uniform(tensor *t, uint64_t seed, float lo, float hi);
/* A new leaf that requires a gradient, uniform in [lo, hi) from seed: a gradcheck input. */
tensor *test_leaf(arena *a, int ndim, const int *shape, uint64_t seed, float lo, float hi);
/* The browser tests (tests/browser/NAME.mjs: playwright-core and Debian's chromium, set up by
 * scripts/install-browser-test.sh): true when all three are there; else the case is
 * skipped, or fails when ATELIER_REQUIRE_BROWSER is set (CI). Call it inside a case. */
bool test_browser_ready(void);

/* A small HTTP/1.1 client for the tests of Atelier's servers (serve, lab, the dashboard):
 * one request a connection (Connection: close), the whole answer read until the server
 * closes, a chunked body decoded. headers is "" or lines each ending in \r\n; a body (NULL
 * for none) goes with its Content-Length. The answer is read even when the server answered
 * before taking the whole body (a 413). Returns the status code, -1 without an answer. */
typedef struct test_resp {
    int code;
    char head[4096];
    char *body;     /* NUL-terminated, malloc'd: test_resp_free */
    size_t len;
} test_resp;
int test_http(int port, const char *method, const char *path, const char *headers, const void *body, size_t blen,
              test_resp *r);
void test_resp_free(test_resp *r);
int test_connect_port(int port);                          /* 127.0.0.1:port, -1 if refused */
bool test_send_all(int fd, const void *p, size_t n);
bool test_read_resp(int fd, test_resp *r);                /* until the server closes */

/* t[i] = s sin(a i + b) computed in double and rounded: inputs that a PyTorch script can
 * rebuild exactly without a file (torch.tensor([s*math.sin(a*i+b) for i in range(n)])). */
tensor *test_sin_pattern(arena *ar, int ndim, const int *shape, double a, double b, double s);

#endif
