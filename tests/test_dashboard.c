/* The dashboard's snapshot (dashboard.h) without a browser: the step series stay within
 * history_max by merging neighbours, and each point is the exact mean of the steps it
 * covers; the evaluations are thinned the same way, keeping the newest; the speed is
 * measured over the last DASHBOARD_RATE_WINDOW seconds and gives the time left; the phase
 * follows the run; the grid is laid out as dataset_write_grid does. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/arena.h"
#include "atelier/dashboard.h"
#include "atelier/image.h"
#include "harness.h"

/* The numbers of the array after "key": [ into out (at most max); their count, or -1. */
static int json_array(const char *js, const char *key, double *out, int max) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": [", key);
    const char *p = strstr(js, pat);
    if (!p) return -1;
    p += strlen(pat);
    int n = 0;
    while (*p && *p != ']' && n < max) {
        char *end;
        out[n++] = strtod(p, &end);
        p = *end == ',' ? end + 1 : end;
    }
    return n;
}

static double json_num(const char *js, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(js, pat);
    return p && strncmp(p + strlen(pat), "null", 4) ? strtod(p + strlen(pat), NULL) : NAN;
}

static dashboard *start(int history) {
    dashboard_opts o = dashboard_defaults();
    o.port = 0;
    o.history_max = history;
    o.title = "a \"quoted\" run";
    dashboard *d = dashboard_start(&o);
    CHECK_MSG(d, "%s", error_message());
    return d;
}

static void test_series_bounded_means(void) {
    dashboard *d = start(16);
    if (!d) return;
    dashboard_set_run(d, NULL, 0, 1000);
    /* d_loss = step, g_loss = 2 step: a point's value is the mean of its steps */
    for (int s = 1; s <= 100; s++) {
        gan_stats st = {.d_loss = s, .g_loss = 2.0 * s, .d_real = 1, .d_fake = -1};
        dashboard_publish_step(d, s, &st, 0.5 * s);
    }
    char *js = dashboard_state_json(d);
    CHECK(js);
    if (!js) { dashboard_stop(d); return; }
    double step[32], dl[32], gl[32];
    int n = json_array(js, "step", step, 32);
    CHECK_MSG(n == json_array(js, "d_loss", dl, 32) && n == json_array(js, "g_loss", gl, 32), "%s", js);
    /* 100 steps in at most 16 points: buckets of 8 (16 x 8 = 128 >= 100 > 16 x 4) */
    CHECK_MSG(json_num(js, "every") == 8 && n == 13, "every %g, %d points", json_num(js, "every"), n);
    for (int i = 0; i < n; i++) {
        double first = 8.0 * i + 1, last = i == n - 1 ? 100 : 8.0 * (i + 1);
        CHECK_NEAR(step[i], last, 0, 0);
        CHECK_NEAR(dl[i], (first + last) / 2, 1e-4, 0);   /* %.6g in the JSON */
        CHECK_NEAR(gl[i], first + last, 1e-4, 0);
    }
    /* 2 steps a second (0.5 s each), 900 steps left */
    CHECK_NEAR(json_num(js, "steps_per_second"), 2, 1e-6, 0);
    CHECK_NEAR(json_num(js, "seconds_left"), 450, 1e-3, 0);
    CHECK(strstr(js, "\"title\": \"a \\\"quoted\\\" run\"") && strstr(js, "\"config\": null") &&
          strstr(js, "\"phase\": \"training\"") && strstr(js, "\"grid\": null"));
    free(js);
    dashboard_set_phase(d, "finished");
    js = dashboard_state_json(d);
    CHECK(js && strstr(js, "\"phase\": \"finished\"") && json_num(js, "seconds_left") == 0);
    free(js);
    dashboard_stop(d);
}

/* The speed is that of the last 30 s: 1 step a second for 100 s, then 4 a second; the
 * history published before dashboard_set_run does not count. */
static void test_rate_window(void) {
    dashboard *d = start(600);
    if (!d) return;
    gan_stats st = {0};
    int s = 0;
    /* a resumed run's history first (its times are another process's): charted, not timed */
    while (s < 500) dashboard_publish_step(d, ++s, &st, 0);
    dashboard_set_run(d, NULL, 500, 10000);
    for (double t = 1; t <= 100; t += 1) {
        dashboard_publish_step(d, ++s, &st, t);
        if (t == 10) {
            char *early = dashboard_state_json(d);
            CHECK_MSG(early && fabs(json_num(early, "steps_per_second") - 1) < 1e-9, "%g step/s at 10 s",
                      early ? json_num(early, "steps_per_second") : NAN);
            free(early);
        }
    }
    for (double t = 100.25; t <= 160; t += 0.25) dashboard_publish_step(d, ++s, &st, t);
    char *js = dashboard_state_json(d);
    CHECK(js);
    /* the window starts at a sample at most 30 s (and about 0.47 s more) back */
    if (js) CHECK_MSG(fabs(json_num(js, "steps_per_second") - 4) < 0.1, "%g step/s", json_num(js, "steps_per_second"));
    free(js);
    dashboard_stop(d);
}

static void test_evals_thinned(void) {
    dashboard *d = start(16);
    if (!d) return;
    for (int k = 1; k <= 40; k++) {
        metrics_report r = {.kid = k, .kid_std = 0.1, .diversity_ratio = 1, .memo = {.ratio = 1, .copy_fraction = 0}};
        r.collapse_warning = k == 40;
        dashboard_publish_eval(d, 100 * k, &r);
    }
    char *js = dashboard_state_json(d);
    CHECK(js);
    if (!js) { dashboard_stop(d); return; }
    int n = 0;
    for (const char *p = js; (p = strstr(p, "{\"step\": ")); p++) n++;
    CHECK_MSG(n >= 8 && n <= 16, "%d evaluations kept", n);
    CHECK(strstr(js, "{\"step\": 4000, \"kid\": 40, ") && strstr(js, "\"collapse_warning\": true"));
    free(js);
    dashboard_stop(d);
}

/* The grid: 5 images of 3x4 in 2 columns -> 3 rows; the cells hold the images mapped to
 * [0, 1], the gutters and the empty cell are white. */
static void test_grid_layout(void) {
    dashboard *d = start(16);
    if (!d) return;
    size_t n = 0;
    CHECK(dashboard_grid_png(d, &n) == NULL);   /* none yet */
    error_clear();
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_new(a, 4, (int[]){5, 3, 3, 4});
    for (int64_t i = 0; i < x->numel; i++) x->data[i] = -1.0f + 2.0f * (float)(i % 7) / 6.0f;
    CHECK(dashboard_publish_grid(d, 7, x, 2) == STATUS_OK);
    unsigned char *png = dashboard_grid_png(d, &n);
    CHECK(png);
    const char *path = test_tmp_path("grid.png");
    FILE *f = fopen(path, "wb");
    if (f && png) { fwrite(png, 1, n, f); fclose(f); }
    free(png);
    image *g = image_read(path, NULL);
    CHECK_MSG(g && g->w == 2 * 4 + 3 * 2 && g->h == 3 * 3 + 4 * 2, "%s", g ? "wrong size" : error_message());
    if (g) {
        size_t plane = (size_t)g->w * g->h;
        /* image 3, channel 1, pixel (y 2, x 1) sits in row 1, column 1 */
        float want = (x->data[((3 * 3 + 1) * 3 + 2) * 4 + 1] + 1.0f) * 0.5f;
        CHECK_NEAR(g->data[plane + (size_t)(2 + 5 + 2) * g->w + 2 + 6 + 1], want, 0.5 / 255 + 1e-6, 0);
        CHECK_NEAR(g->data[(size_t)1 * g->w + 1], 1.0, 0, 0);                 /* a gutter */
        CHECK_NEAR(g->data[(size_t)(2 + 10 + 1) * g->w + 8 + 1], 1.0, 0, 0);  /* the sixth, empty cell */
    }
    image_free(g);
    char *js = dashboard_state_json(d);
    CHECK(js && strstr(js, "\"grid\": {\"version\": 1, \"step\": 7}"));
    free(js);
    tensor *bad = tensor_new(a, 3, (int[]){3, 4, 4});
    CHECK(dashboard_publish_grid(d, 8, bad, 2) == STATUS_SHAPE && strstr(error_message(), "(N, 3, H, W)"));
    error_clear();
    arena_free(a);
    dashboard_stop(d);
}

static void test_bad_options(void) {
    dashboard_opts o = dashboard_defaults();
    o.port = 70000;
    CHECK(!dashboard_start(&o) && strstr(error_message(), "70000"));
    o = dashboard_defaults();
    o.port = 0;
    o.host = "localhost";
    error_clear();
    CHECK(!dashboard_start(&o) && strstr(error_message(), "not an IPv4 address"));
    o.host = "127.0.0.1";
    o.token = "";
    error_clear();
    CHECK(!dashboard_start(&o) && strstr(error_message(), "empty token"));
    o.token = NULL;
    o.history_max = 4;
    error_clear();
    CHECK(!dashboard_start(&o) && strstr(error_message(), "history_max"));
    error_clear();
}

int main(void) {
    if (!test_make_dir()) return 1;
    RUN(test_series_bounded_means);
    RUN(test_rate_window);
    RUN(test_evals_thinned);
    RUN(test_grid_layout);
    RUN(test_bad_options);
    test_remove_tree(test_dir);
    return test_finish();
}
