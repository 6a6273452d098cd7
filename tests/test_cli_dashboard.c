/* `atelier gan train --dashboard` end to end: tiny trainings on small synthetic pictures,
 * run as child processes with the dashboard on a free port of 127.0.0.1 and read by a small
 * HTTP client. The state updates while training runs (the step grows, the losses and the
 * speed are there, the grid PNG decodes to the 8 x 8 grid of the run's size), the page comes
 * with its Content-Security-Policy, writes are refused (405), the token is enforced (401),
 * bad ports and flags get one clear line, and a run polled all along by the dashboard ends
 * in the same checkpoint, generator and sample bytes as the same run without it. The
 * browser test (tests/browser/dashboard.mjs, when chromium and playwright-core are
 * installed) watches the page update and checks it at 390 px. */
#define _GNU_SOURCE   /* strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "atelier/image.h"
#include "harness.h"

#define TINY " --size 32 --ngf 4 --ndf 4 --z-dim 8 --batch 4 --quiet"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* How much longer things may take here than on the cpu backend in a plain build. */
static double slow(void) {
    double f = strcmp(backend_current()->name, "ref") ? 1 : 4;
#if defined(__SANITIZE_ADDRESS__)
    f *= 4;
#endif
    return f;
}

/* The evaluations' VGG-19 takes seconds on the cpu backend but minutes on the reference
 * one; what the dashboard does with an evaluation does not depend on the backend, so the
 * cases that wait for one do so on the cpu backend only. */
static bool with_evals(void) { return strcmp(backend_current()->name, "ref") != 0; }

/* ---- the HTTP client (harness.h) ---- */

typedef test_resp resp;
#define resp_free test_resp_free

static int http(int port, const char *method, const char *path, const char *headers, resp *r) {
    return test_http(port, method, path, headers, NULL, 0, r);
}

static int get(int port, const char *path, resp *r) { return http(port, "GET", path, "", r); }

/* The number after "key": in a JSON text, or NAN. */
static double json_num(const char *js, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = js ? strstr(js, pat) : NULL;
    if (!p || !strncmp(p + strlen(pat), "null", 4)) return NAN;
    return strtod(p + strlen(pat), NULL);
}

/* The count of numbers in the array after "key": [ ... ]. */
static int json_array_len(const char *js, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": [", key);
    const char *p = js ? strstr(js, pat) : NULL;
    if (!p) return -1;
    p += strlen(pat);
    if (*p == ']') return 0;
    int n = 1;
    for (; *p && *p != ']'; p++) n += *p == ',';
    return n;
}

/* ---- trainings in the background ---- */

typedef struct run { pid_t pid; int port; char log[256]; } run;
static run *g_live[8];

static void kill_all(void) {
    for (int i = 0; i < 8; i++)
        if (g_live[i] && g_live[i]->pid > 0) { kill(g_live[i]->pid, SIGKILL); waitpid(g_live[i]->pid, NULL, 0); }
}

static void track(run *r, bool on) {
    for (int i = 0; i < 8; i++)
        if (on ? !g_live[i] : g_live[i] == r) { g_live[i] = on ? r : NULL; return; }
}

/* Starts `atelier gan train ARGS` in test_dir and waits until its dashboard answers. */
static bool run_start(run *r, const char *args) {
    static int k;
    memset(r, 0, sizeof *r);
    snprintf(r->log, sizeof r->log, "%s/train-%d.log", test_dir, k++);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd %s && exec " ATELIER_BIN " gan train %s >%s 2>&1", test_dir, args, r->log);
    fflush(stdout);
    if ((r->pid = fork()) == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);   /* a crashed test leaves no training behind */
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    if (r->pid < 0) return false;
    track(r, true);
    static const char at[] = "dashboard on http://127.0.0.1:";
    for (double t0 = now_s(); now_s() - t0 < 30 * slow(); usleep(20000)) {
        size_t n;
        char *log = (char *)test_read_file(r->log, &n);
        const char *p = log ? strstr(log, at) : NULL;
        if (p) r->port = atoi(p + strlen(at));
        free(log);
        resp h = {0};
        if (r->port && get(r->port, "/healthz", &h) == 200) { resp_free(&h); return true; }
        resp_free(&h);
        if (waitpid(r->pid, NULL, WNOHANG) == r->pid) { r->pid = 0; track(r, false); break; }
    }
    fprintf(stderr, "the training's dashboard did not start: see %s\n", r->log);
    return false;
}

/* SIGINT (the training saves a checkpoint and stops), or 0 to wait for its end; the exit
 * status, or -1 when it did not end in time (then killed). */
static int run_stop(run *r, int sig, double wait) {
    if (r->pid <= 0) return -1;
    if (sig) kill(r->pid, sig);
    int st = 0, rc = -2;
    for (double t0 = now_s(); now_s() - t0 < wait * slow(); usleep(20000))
        if (waitpid(r->pid, &st, WNOHANG) == r->pid) { rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1; break; }
    if (rc == -2) { kill(r->pid, SIGKILL); waitpid(r->pid, NULL, 0); rc = -1; }
    track(r, false);
    r->pid = 0;
    return rc;
}

/* Polls the state until its step is at least `step`; the JSON in r. */
static bool wait_step(run *r, const char *auth, double step, double timeout, resp *out) {
    memset(out, 0, sizeof *out);
    for (double t0 = now_s(); now_s() - t0 < timeout * slow(); usleep(50000)) {
        resp_free(out);
        if (http(r->port, "GET", "/api/state", auth, out) == 200 && json_num(out->body, "step") >= step) return true;
    }
    return false;
}

static int run_cli(const char *args, char *out, char *err) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd %s && " ATELIER_BIN " %s", test_dir, args);
    return test_shell(cmd, out, err);
}


/* The grid PNG: decodes to 8 x 8 cells of 32 px with 2 px gutters, and is not blank. */
static void check_grid(int port, const char *auth) {
    resp g;
    CHECK_MSG(http(port, "GET", "/api/grid.png", auth, &g) == 200, "grid: HTTP %d %s", g.code, g.body ? g.body : "");
    CHECK(strcasestr(g.head, "content-type: image/png") && strcasestr(g.head, "cache-control: no-store"));
    const char *path = test_tmp_path("fetched-grid.png");
    FILE *f = fopen(path, "wb");
    if (f) { fwrite(g.body, 1, g.len, f); fclose(f); }
    resp_free(&g);
    image *im = image_read(path, NULL);
    CHECK_MSG(im && im->w == 8 * 32 + 9 * 2 && im->h == im->w, "grid: %s", im ? "wrong size" : error_message());
    if (im) {
        double sum = 0, sq = 0;
        int n = 32 * 32;   /* the first cell */
        for (int y = 2; y < 34; y++)
            for (int x = 2; x < 34; x++) { double v = im->data[y * im->w + x]; sum += v; sq += v * v; }
        CHECK_MSG(sq / n - (sum / n) * (sum / n) > 1e-5, "the grid's first cell is flat");
    }
    image_free(im);
    error_clear();
}

/* ---- the cases ---- */

static void test_help(void) {
    char out[8192], err[8192];
    CHECK(run_cli("gan train --help", out, err) == 0);
    CHECK_MSG(strstr(out, "--dashboard [PORT]") && strstr(out, "[8091]") && strstr(out, "--dashboard-host") &&
              strstr(out, "[127.0.0.1]") && strstr(out, "--dashboard-token") && strstr(out, "ATELIER_TOKEN"), "%s", out);
}

/* One line on stderr naming the problem, exit 2 for flags and 1 for a port in use, and no
 * run folder left behind. */
static void check_refused(const char *args, int want_rc, const char *word) {
    char out[8192], err[8192], cmd[1024];
    snprintf(cmd, sizeof cmd, "gan train --data imgs --out refused --steps 2%s %s", TINY, args);
    int rc = run_cli(cmd, out, err);
    CHECK_MSG(rc == want_rc && test_count_lines(err) == 1 && strstr(err, word),
              "'%s': exit %d (want %d), stderr: %s", args, rc, want_rc, err);
    struct stat st;
    CHECK_MSG(stat(test_tmp_path("refused"), &st) != 0, "'%s' left a run folder", args);
}

static void test_bad_flags(void) {
    check_refused("--dashboard 70000", 2, "--dashboard wants a whole number in 0 .. 65535");
    check_refused("--dashboard=-3", 2, "--dashboard wants a whole number");
    check_refused("--dashboard port", 2, "got 'port'");
    check_refused("--dashboard --dashboard-host localhost", 2, "--dashboard-host 'localhost': give an IPv4 address");
    check_refused("--dashboard-token abc", 2, "need --dashboard");
    check_refused("--dashboard-host 0.0.0.0", 2, "need --dashboard");
    check_refused("--dashboard --dashboard-token ''", 2, "--dashboard-token: empty token");
    /* a port in use: told at once, before any data is read */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 1) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0;
    CHECK(ok);
    if (ok) {
        char args[128], want[128];
        snprintf(args, sizeof args, "--dashboard %d", ntohs(a.sin_port));
        snprintf(want, sizeof want, "cannot listen on 127.0.0.1:%d (in use?)", ntohs(a.sin_port));
        check_refused(args, 1, want);
    }
    if (fd >= 0) close(fd);
}

static void test_live_state(void) {
    run r;
    char args[512];
    snprintf(args, sizeof args, "--data imgs --out live --steps 1000000 --sample-every 5 --eval-every %d --eval-samples 8"
             " --checkpoint-every 0 --dashboard 0" TINY, with_evals() ? 30 : 0);
    if (!run_start(&r, args)) { CHECK(false); return; }
    resp a, b, x;
    CHECK_MSG(wait_step(&r, "", 3, 60, &a), "the step did not reach 3: %s", a.body ? a.body : "(no answer)");
    CHECK(strcasestr(a.head, "content-type: application/json") && strcasestr(a.head, "cache-control: no-store"));
    double s1 = json_num(a.body, "step");
    CHECK_MSG(wait_step(&r, "", s1 + 5, 60, &b), "the step stayed at %g", s1);
    double s2 = json_num(b.body, "step");
    CHECK_MSG(s2 >= s1 + 5, "step %g then %g", s1, s2);
    /* the losses: one point per step so far (buckets of 1 while under 600 steps) */
    int nd = json_array_len(b.body, "d_loss"), ng = json_array_len(b.body, "g_loss");
    CHECK_MSG(nd == (int)s2 && ng == nd && json_array_len(b.body, "d_real") == nd && json_array_len(b.body, "d_fake") == nd,
              "series of %d, %d points at step %g", nd, ng, s2);
    CHECK_MSG(strstr(b.body, "\"phase\": \"training\"") && strstr(b.body, "\"title\": \"live\"") &&
              strstr(b.body, "\"arch\":\"dcgan\""), "%.300s", b.body);
    CHECK_MSG(json_num(b.body, "total_steps") == 1000000 && json_num(b.body, "steps_per_second") > 0 &&
              json_num(b.body, "seconds_left") > 0 && json_num(b.body, "seconds") > 0, "%.400s", b.body);
    const char *dl = strstr(b.body, "\"d_loss\": [");
    CHECK(dl && isfinite(strtod(dl + 11, NULL)) && strtod(dl + 11, NULL) > 0);
    CHECK_MSG(json_num(b.body, "version") >= 1, "no grid in %.300s", b.body);
    check_grid(r.port, "");
    /* an evaluation comes in with its alarms */
    if (with_evals()) {
        resp e;
        CHECK_MSG(wait_step(&r, "", 31, 90, &e) && strstr(e.body, "\"evals\": [{\"step\": 30, \"kid\": ") &&
                  strstr(e.body, "\"collapse_warning\": "), "%s", e.body ? strstr(e.body, "\"evals\"") : "(none)");
        resp_free(&e);
    } else CHECK(strstr(b.body, "\"evals\": []"));
    /* the page, with nothing but itself allowed; read-only; unknown paths */
    CHECK(get(r.port, "/", &x) == 200 && strcasestr(x.head, "content-security-policy: default-src 'none'") &&
          strstr(x.body, "<canvas id=\"c-loss\"") && !strstr(x.body, "http://") && !strstr(x.body, "https://"));
    resp_free(&x);
    CHECK(http(r.port, "POST", "/api/state", "Content-Length: 0\r\n", &x) == 405 && strcasestr(x.head, "allow: GET, HEAD"));
    resp_free(&x);
    CHECK(http(r.port, "DELETE", "/", "", &x) == 405);
    resp_free(&x);
    CHECK(get(r.port, "/api/nothing", &x) == 404 && strstr(x.body, "no such path"));
    resp_free(&x);
    resp_free(&a);
    resp_free(&b);
    /* Ctrl-C: the checkpoint is saved, the dashboard goes with the process */
    int port = r.port;
    CHECK_MSG(run_stop(&r, SIGINT, 30) == 130, "the training did not stop on SIGINT with 130");
    CHECK(access(test_tmp_path("live/checkpoint.safetensors"), F_OK) == 0);
    CHECK(get(port, "/healthz", &x) == -1);
    resp_free(&x);
}

static void test_token(void) {
    run r;
    if (!run_start(&r, "--data imgs --out tok --steps 1000000 --sample-every 5 --eval-every 0 --checkpoint-every 0"
                       " --dashboard 0 --dashboard-token s3cret" TINY)) { CHECK(false); return; }
    resp x;
    CHECK(get(r.port, "/api/state", &x) == 401 && strstr(x.body, "token") && strcasestr(x.head, "www-authenticate: Bearer"));
    resp_free(&x);
    CHECK(get(r.port, "/api/grid.png", &x) == 401);
    resp_free(&x);
    CHECK(http(r.port, "GET", "/api/state", "Authorization: Bearer s3cre\r\n", &x) == 401);
    resp_free(&x);
    CHECK(http(r.port, "GET", "/api/state", "Authorization: Bearer s3cret0\r\n", &x) == 401);
    resp_free(&x);
    CHECK(get(r.port, "/api/state?token=wrong", &x) == 401);
    resp_free(&x);
    CHECK(wait_step(&r, "Authorization: Bearer s3cret\r\n", 2, 60, &x));   /* the first grid comes after step 1 */
    resp_free(&x);
    CHECK(get(r.port, "/api/state?token=s3cret", &x) == 200 && json_num(x.body, "step") >= 1);
    resp_free(&x);
    check_grid(r.port, "Authorization: Bearer s3cret\r\n");
    CHECK(get(r.port, "/", &x) == 200);   /* the page itself holds nothing: it asks for the token */
    resp_free(&x);
    size_t n;
    char *log = (char *)test_read_file(r.log, &n);
    CHECK_MSG(log && strstr(log, "it asks for the token") && !strstr(log, "s3cret"), "%s", log ? log : "");
    free(log);
    CHECK(run_stop(&r, SIGINT, 30) == 130);
}

/* The same run with and without the dashboard, read as fast as it answers all along (state
 * and grid): the same checkpoint, generator and sample grids, byte for byte. */
static void test_same_bytes(void) {
    char out[8192], err[8192];
    const char *args = "--data imgs --out plain --steps 12 --sample-every 4 --eval-every 0"
                       " --diffaug color,translation,cutout" TINY;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "gan train %s", args);
    CHECK_MSG(run_cli(cmd, out, err) == 0, "%s", err);
    run r;
    snprintf(cmd, sizeof cmd, "--data imgs --out watched --steps 12 --sample-every 4 --eval-every 0"
             " --diffaug color,translation,cutout --dashboard 0" TINY);
    if (!run_start(&r, cmd)) { CHECK(false); return; }
    int polls = 0, grids = 0;
    for (double t0 = now_s(); now_s() - t0 < 120 * slow();) {
        resp x;
        if (get(r.port, "/api/state", &x) == 200) polls++;
        resp_free(&x);
        if (get(r.port, "/api/grid.png", &x) == 200) grids++;
        resp_free(&x);
        int st;
        if (waitpid(r.pid, &st, WNOHANG) == r.pid) {
            CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the watched run failed");
            track(&r, false);
            r.pid = 0;
            break;
        }
        usleep(5000);
    }
    if (r.pid > 0) {
        run_stop(&r, SIGKILL, 5);
        CHECK_MSG(false, "the watched run did not end");
    }
    CHECK_MSG(polls >= 2 && grids >= 1, "polled %d times, %d grids", polls, grids);
    const char *files[] = {"checkpoint.safetensors", "generator.safetensors", "samples_000004.png", "samples_000012.png"};
    for (int i = 0; i < 4; i++) {
        char a[128], b[128];
        snprintf(a, sizeof a, "plain/%s", files[i]);
        snprintf(b, sizeof b, "watched/%s", files[i]);
        CHECK_MSG(test_same_file(a, b), "%s differs with the dashboard", files[i]);
    }
}

/* ---- the browser ---- */

static void test_browser(void) {
    char out[8192], err[8192];
    if (!test_browser_ready()) return;
    run r;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "--data imgs --out browsed --steps 1000000 --sample-every 10 --eval-every %d --eval-samples 8"
             " --checkpoint-every 0 --dashboard 0 --dashboard-token tok" TINY, with_evals() ? 20 : 0);
    if (!run_start(&r, cmd)) { CHECK(false); return; }
    const char *shot = test_tmp_path("dashboard.png"), *phone = test_tmp_path("dashboard-390.png");
    snprintf(cmd, sizeof cmd, "node tests/browser/dashboard.mjs --url http://127.0.0.1:%d/ --token tok --want-kid %d --out %s "
             "--mobile-out %s --timeout %d", r.port, with_evals(), shot, phone, (int)(60 * slow()));
    int rc = test_shell(cmd, out, err);
    CHECK_MSG(rc == 0, "browser test exit %d: %s %s", rc, out, err);
    if (rc == 0) printf("  browser: %.*s\n", (int)strcspn(out, "\n"), out);
    image *im = image_read(shot, NULL), *ph = image_read(phone, NULL);
    CHECK_MSG(im && im->w == 1280 && im->h >= 800, "screenshot: %s", im ? "wrong size" : error_message());
    CHECK_MSG(ph && ph->w == 390 && ph->h > ph->w, "phone screenshot: %s", ph ? "wrong size" : error_message());
    image_free(im);
    image_free(ph);
    error_clear();
    CHECK(run_stop(&r, SIGINT, 30) == 130);
}

/* Eight small pictures of waves, as test_cli_gan makes. */
static bool write_pictures(void) {
    if (mkdir(test_tmp_path("imgs"), 0777) != 0) return false;
    for (int k = 0; k < 8; k++) {
        image *im = image_new(40 + 4 * k, 36, 3);
        if (!im) return false;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < im->h; y++)
                for (int x = 0; x < im->w; x++)
                    im->data[(c * im->h + y) * im->w + x] = 0.5f + 0.45f * sinf(x * 0.2f * (k + 1) + c * 2) * cosf(y * 0.15f + k);
        char name[64];
        snprintf(name, sizeof name, "imgs/p%d.png", k);
        bool ok = image_write(test_tmp_path(name), im, NULL) == STATUS_OK;
        image_free(im);
        if (!ok) return false;
    }
    return true;
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    if (!test_make_dir() || !write_pictures()) {
        fprintf(stderr, "cannot write the test pictures: %s\n", error_message());
        return 1;
    }
    atexit(kill_all);
    RUN(test_help);
    RUN(test_bad_flags);
    RUN(test_live_state);
    RUN(test_token);
    RUN(test_same_bytes);
    RUN(test_browser);
    kill_all();
    if (!getenv("ATELIER_KEEP_TEST_DIR")) test_remove_tree(test_dir);
    return test_finish();
}
