/* `atelier lab` end to end: the server as a child process on a free port, driven over
 * HTTP: the page and its headers; create, step, read state, change settings, play, pause,
 * reset, delete; every bad setting refused with 400 and its reason in one line; bounded
 * bodies and labs; and the browser test (tests/browser/lab.mjs) when chromium is there. */
#define _GNU_SOURCE   /* strcasestr */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "harness.h"
#include "../src/json.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* ---- the HTTP client (harness.h) ---- */

typedef test_resp resp;
#define resp_free test_resp_free

static int http(int port, const char *method, const char *path, const char *body, size_t blen, resp *r) {
    /* a Content-Length always, 0 without a body */
    return test_http(port, method, path, "Content-Type: application/json\r\n", body ? body : "", body ? blen : 0, r);
}

static int post(int port, const char *path, const char *body, resp *r) { return http(port, "POST", path, body, strlen(body), r); }

/* ---- the server ---- */

typedef struct srv { pid_t pid; int port; char log[256]; } srv;

static bool srv_start(srv *s, const char *flags) {
    static int k;
    memset(s, 0, sizeof *s);
    snprintf(s->log, sizeof s->log, "%s/lab-%d.log", test_dir, k++);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "exec " ATELIER_BIN " lab --port 0 %s >%s 2>&1", flags, s->log);
    fflush(stdout);
    if ((s->pid = fork()) == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    for (double t0 = now_s(); s->pid > 0 && now_s() - t0 < 30; usleep(30000)) {
        size_t n;
        char *log = (char *)test_read_file(s->log, &n);
        const char *at = log ? strstr(log, "on http://127.0.0.1:") : NULL;
        if (at) s->port = atoi(at + strlen("on http://127.0.0.1:"));
        free(log);
        if (s->port) return true;
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) break;
    }
    fprintf(stderr, "the lab did not start: see %s\n", s->log);
    return false;
}

static int srv_stop(srv *s) {
    kill(s->pid, SIGTERM);
    int st = 0, rc = -1;
    for (double t0 = now_s(); now_s() - t0 < 20; usleep(20000))
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) { rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1; s->pid = 0; break; }
    if (s->pid > 0) { kill(s->pid, SIGKILL); waitpid(s->pid, NULL, 0); }
    return rc;
}

/* ---- reading answers ---- */

typedef struct lab_view { char id[40]; bool running; int64_t iteration; char loss[24]; int nfake, nheat, ngrad; double near; } lab_view;

static bool view(const resp *r, lab_view *v) {
    memset(v, 0, sizeof *v);
    json_error err;
    json_value *j = r->body ? json_parse(r->body, r->len, &err) : NULL;
    const json_value *id = json_get(j, "id"), *run = json_get(j, "running"), *st = json_get(j, "state");
    const json_value *it = json_get(st, "iteration"), *set = json_get(st, "settings"), *m = json_get(st, "measures");
    bool ok = id && id->type == JSON_STRING && run && it && set && m;
    if (ok) {
        snprintf(v->id, sizeof v->id, "%s", id->string);
        v->running = run->boolean;
        v->iteration = it->integer;
        const json_value *loss = json_get(set, "loss");
        if (loss && loss->type == JSON_STRING) snprintf(v->loss, sizeof v->loss, "%s", loss->string);
        v->nfake = json_get(st, "fake") ? json_get(st, "fake")->count : 0;
        v->nheat = json_get(st, "heat") ? json_get(st, "heat")->count : 0;
        v->ngrad = json_get(st, "grad") ? json_get(st, "grad")->count : 0;
        v->near = json_get(m, "fake_to_real") ? json_get(m, "fake_to_real")->number : NAN;
    }
    json_free(j);
    return ok;
}

/* 400 with {"error": reason}: one line naming `want` */
static void check_400(int code, const resp *r, const char *body, const char *want) {
    CHECK_MSG(code == 400 && r->body && strstr(r->body, "\"error\"") && strstr(r->body, want) &&
              test_count_lines(r->body) == 1, "%s -> %d %s", body, code, r->body ? r->body : "");
}

/* ---- the cases ---- */

static bool on_ref(void) {
    const char *b = getenv("ATELIER_BACKEND");
    return b && !strcmp(b, "ref");
}

static void test_help_and_bad_options(void) {
    char out[8192], err[8192];
    CHECK(test_shell(ATELIER_BIN " lab --help", out, err) == 0 && strstr(out, "--port N") && strstr(out, "[8090]"));
    CHECK(test_shell(ATELIER_BIN " lab --port 99999", out, err) == 2 && strstr(err, "--port") && test_count_lines(err) == 1);
    CHECK(test_shell(ATELIER_BIN " lab --frobnicate 1", out, err) == 2 && strstr(err, "--frobnicate") && test_count_lines(err) == 1);
    CHECK(test_shell(ATELIER_BIN " lab --max-labs 0", out, err) == 2 && strstr(err, "--max-labs"));
}

static void test_api(void) {
    srv s;
    if (!srv_start(&s, "--max-labs 2 --idle-pause 1000 --idle-close 2000")) { CHECK(false); return; }
    resp r;
    lab_view v, w;
    char path[128];
    /* the page, with its policy: nothing from elsewhere */
    CHECK(http(s.port, "GET", "/", NULL, 0, &r) == 200 && strstr(r.body, "GAN lab") &&
          strcasestr(r.head, "Content-Security-Policy: default-src 'self'") && !strstr(r.body, "https://"));
    resp_free(&r);
    /* create */
    CHECK(post(s.port, "/api/labs", "{\"dist\":\"ring\"}", &r) == 201 && view(&r, &v));
    CHECK(strlen(v.id) == 32 && v.iteration == 0 && !v.running && v.nfake == 600 && v.nheat == 900 && v.ngrad == 600);
    double near0 = v.near;
    resp_free(&r);
    /* step, then read the state */
    snprintf(path, sizeof path, "/api/labs/%s/step", v.id);
    int n0 = on_ref() ? 300 : 1000;      /* the reference backend is ~20x slower */
    char body[64];
    snprintf(body, sizeof body, "{\"n\":%d}", n0);
    CHECK(post(s.port, path, body, &r) == 200 && view(&r, &w) && w.iteration == n0);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/labs/%s", v.id);
    CHECK(http(s.port, "GET", path, NULL, 0, &r) == 200 && view(&r, &w) && w.iteration == n0);
    CHECK_MSG(w.near < near0, "fakes to the nearest real %.4f -> %.4f", near0, w.near);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/labs/%s/step", v.id);
    CHECK(post(s.port, path, "{\"n\":1,\"what\":\"d\"}", &r) == 200 && view(&r, &w) && w.iteration == n0 + 1);
    resp_free(&r);
    CHECK(post(s.port, path, "{\"what\":\"g\"}", &r) == 200 && view(&r, &w) && w.iteration == n0 + 2);
    resp_free(&r);
    /* settings: a rate goes on training, a loss starts afresh */
    snprintf(path, sizeof path, "/api/labs/%s/settings", v.id);
    CHECK(post(s.port, path, "{\"lr_d\":0.001,\"k_d\":2}", &r) == 200 && view(&r, &w) && w.iteration == n0 + 2);
    resp_free(&r);
    CHECK(post(s.port, path, "{\"loss\":\"hinge\",\"g_layers\":3,\"noise\":\"uniform\"}", &r) == 200 && view(&r, &w) &&
          w.iteration == 0 && !strcmp(w.loss, "hinge"));
    resp_free(&r);
    /* every bad setting: 400, its reason, nothing changed */
    static const char *const bad[][2] = {
        {"{\"g_layers\":6}", "g_layers"}, {"{\"d_layers\":-1}", "d_layers"}, {"{\"g_units\":0}", "g_units"},
        {"{\"d_units\":[5,500]}", "d_units"}, {"{\"noise_dim\":3}", "noise_dim"}, {"{\"noise\":\"pink\"}", "noise"},
        {"{\"loss\":\"kl\"}", "loss"}, {"{\"optimizer\":\"rmsprop\"}", "optimizer"}, {"{\"lr_g\":2}", "lr_g"},
        {"{\"lr_d\":0}", "lr_d"}, {"{\"beta1\":1}", "beta1"}, {"{\"k_d\":11}", "k_d"}, {"{\"k_g\":0}", "k_g"},
        {"{\"batch\":4}", "batch"}, {"{\"dist\":\"moon\"}", "dist"}, {"{\"dist\":\"drawn\",\"points\":[[0.5,0.5]]}", "points"},
        {"{\"points\":[[0.5,1.5],[0.2,0.2]]}", "points"}, {"{\"preset\":\"chaos\"}", "preset"}, {"{\"seed\":-3}", "seed"},
        {"{\"colour\":\"red\"}", "colour"}, {"[1,2]", "object"}, {"{\"lr_g\":", "JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        check_400(post(s.port, path, bad[i][0], &r), &r, bad[i][0], bad[i][1]);
        resp_free(&r);
    }
    snprintf(path, sizeof path, "/api/labs/%s", v.id);
    CHECK(http(s.port, "GET", path, NULL, 0, &r) == 200 && view(&r, &w) && !strcmp(w.loss, "hinge"));
    resp_free(&r);
    snprintf(path, sizeof path, "/api/labs/%s/step", v.id);
    check_400(post(s.port, path, "{\"n\":0}", &r), &r, "n 0", "n:");
    resp_free(&r);
    check_400(post(s.port, path, "{\"n\":5000}", &r), &r, "n 5000", "n:");
    resp_free(&r);
    check_400(post(s.port, path, "{\"what\":\"x\"}", &r), &r, "what x", "what");
    resp_free(&r);
    snprintf(path, sizeof path, "/api/labs/%s/play", v.id);
    check_400(post(s.port, path, "{\"slow\":1}", &r), &r, "slow 1", "slow");
    resp_free(&r);
    check_400(post(s.port, "/api/labs", "{\"batch\":1}", &r), &r, "create batch 1", "batch");
    resp_free(&r);
    /* bodies are bounded: a drawing of 100000 points is refused unread */
    size_t big = 200000;
    char *b = malloc(big + 1);
    memset(b, ' ', big);
    b[0] = '{'; b[big - 1] = '}'; b[big] = 0;
    snprintf(path, sizeof path, "/api/labs/%s/settings", v.id);
    CHECK(http(s.port, "POST", path, b, big, &r) == 413);
    resp_free(&r);
    free(b);
    /* play: it trains on its own; pause stops it */
    snprintf(path, sizeof path, "/api/labs/%s/play", v.id);
    CHECK(post(s.port, path, "{}", &r) == 200 && view(&r, &w) && w.running);
    resp_free(&r);
    double t0 = now_s();
    int64_t it = 0;
    snprintf(path, sizeof path, "/api/labs/%s", v.id);
    while (now_s() - t0 < 20 && it < 100) {
        usleep(100000);
        if (http(s.port, "GET", path, NULL, 0, &r) == 200 && view(&r, &w)) it = w.iteration;
        resp_free(&r);
    }
    CHECK_MSG(it >= 100, "playing: %lld iterations after %.1f s", (long long)it, now_s() - t0);
    /* a second lab at once; the server answers quickly while both train */
    CHECK(post(s.port, "/api/labs", "{\"dist\":\"line\",\"g_units\":100,\"d_units\":100}", &r) == 201 && view(&r, &w));
    char id2[40];
    snprintf(id2, sizeof id2, "%s", w.id);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/labs/%s/play", id2);
    CHECK(post(s.port, path, "{}", &r) == 200);
    resp_free(&r);
    CHECK(post(s.port, "/api/labs", "{}", &r) == 503 && strstr(r.body, "labs are open"));   /* the most: 2 */
    resp_free(&r);
    double worst = 0;
    snprintf(path, sizeof path, "/api/labs/%s", v.id);
    for (int i = 0; i < 10; i++) {
        double t1 = now_s();
        CHECK(http(s.port, "GET", path, NULL, 0, &r) == 200);
        resp_free(&r);
        worst = fmax(worst, now_s() - t1);
    }
    printf("# two labs playing: slowest of 10 reads %.0f ms\n", worst * 1e3);
    CHECK_MSG(worst < 2.0, "a read took %.2f s while two labs played", worst);
    snprintf(path, sizeof path, "/api/labs/%s/pause", v.id);
    CHECK(post(s.port, path, "{}", &r) == 200 && view(&r, &w) && !w.running);
    resp_free(&r);
    /* reset, delete */
    snprintf(path, sizeof path, "/api/labs/%s/reset", v.id);
    CHECK(post(s.port, path, "{}", &r) == 200 && view(&r, &w) && w.iteration == 0 && !strcmp(w.loss, "hinge"));
    resp_free(&r);
    snprintf(path, sizeof path, "/api/labs/%s", v.id);
    CHECK(http(s.port, "DELETE", path, NULL, 0, &r) == 204);
    resp_free(&r);
    CHECK(http(s.port, "GET", path, NULL, 0, &r) == 404);
    resp_free(&r);
    CHECK(http(s.port, "GET", "/api/labs/nonesuch/frob", NULL, 0, &r) == 404);
    resp_free(&r);
    CHECK(srv_stop(&s) == 0);
}

/* A lab nobody asks about pauses. */
static void test_idle_pause(void) {
    srv s;
    if (!srv_start(&s, "--idle-pause 0.5 --idle-close 60")) { CHECK(false); return; }
    resp r;
    lab_view v, w;
    CHECK(post(s.port, "/api/labs", "{}", &r) == 201 && view(&r, &v));
    resp_free(&r);
    char path[128];
    snprintf(path, sizeof path, "/api/labs/%s/play", v.id);
    CHECK(post(s.port, path, "{}", &r) == 200);
    resp_free(&r);
    usleep(1500000);
    snprintf(path, sizeof path, "/api/labs/%s", v.id);
    CHECK(http(s.port, "GET", path, NULL, 0, &r) == 200 && view(&r, &w) && !w.running);
    resp_free(&r);
    int64_t it = w.iteration;
    usleep(300000);
    CHECK(http(s.port, "GET", path, NULL, 0, &r) == 200 && view(&r, &w) && w.iteration == it);
    resp_free(&r);
    CHECK(srv_stop(&s) == 0);
}

/* ---- the browser ---- */

static void test_browser(void) {
    char out[8192], err[8192];
    if (!test_browser_ready()) return;
    srv s;
    if (!srv_start(&s, "")) { CHECK(false); return; }
    char cmd[1024];
    const char *shots = getenv("ATELIER_LAB_SHOTS");   /* where to keep the screenshots (the README's) */
    const char *dir = shots && *shots ? shots : test_dir;
    /* the reference backend trains ~20x slower: longer play, shorter runs after */
    snprintf(cmd, sizeof cmd, "node tests/browser/lab.mjs --url http://127.0.0.1:%d/ --out %s/lab.png --mobile-out %s/lab-390.png "
             "--collapse-out %s/collapse.png%s", s.port, dir, dir, dir,
             on_ref() ? " --collapse-iterations 0 --replay-iterations 200" : "");
    int rc = test_shell(cmd, out, err);
    CHECK_MSG(rc == 0, "browser test exit %d: %s %s", rc, out, err);
    if (rc == 0) printf("  browser: %.*s\n", (int)strcspn(out, "\n"), out);
    CHECK(srv_stop(&s) == 0);
}

int main(void) {
    test_make_dir();
    RUN(test_help_and_bad_options);
    RUN(test_api);
    RUN(test_idle_pause);
    RUN(test_browser);
    return test_finish();
}
