/* test_lab.c: the GAN lab's library (lab.h): it trains the ring with the engine and the
 * fakes come to the ring; the collapse preset collapses and raises the alarm; step mode
 * moves D or G alone; settings from JSON with one-line reasons; the state as JSON. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/lab.h"
#include "harness.h"
#include "../src/json.h"
#include "../src/lab/lab_internal.h"

static bool on_ref(void) { return strcmp(backend_current()->name, "ref") == 0; }

/* Mean distance of the shown fakes to the ring's circle (radius 0.3 around the centre). */
static double ring_distance(const char *state) {
    json_error err;
    json_value *v = json_parse(state, strlen(state), &err);
    const json_value *f = v ? json_get(v, "fake") : NULL;
    double sum = 0;
    int n = f ? f->count / 2 : 0;
    for (int i = 0; i < n; i++)
        sum += fabs(hypot(f->items[2 * i].number - 0.5, f->items[2 * i + 1].number - 0.5) - 0.3);
    json_free(v);
    return n ? sum / n : NAN;
}

static void test_ring_learned(void) {
    int iters = on_ref() ? 300 : 2000;   /* the reference backend is ~20x slower */
    lab_settings s = lab_defaults();
    lab *l = lab_new(&s);
    CHECK(l != NULL);
    if (!l) return;
    lab_measures m0, m1;
    char *st0 = lab_state_json(l);
    CHECK(lab_measure(l, &m0) == STATUS_OK);
    CHECK(lab_step(l, LAB_STEP_BOTH, iters) == STATUS_OK);
    CHECK(lab_measure(l, &m1) == STATUS_OK);
    char *st1 = lab_state_json(l);
    double r0 = st0 ? ring_distance(st0) : NAN, r1 = st1 ? ring_distance(st1) : NAN;
    printf("# ring, %d iterations: distance to the ring %.4f -> %.4f, to the nearest real %.4f -> %.4f, "
           "JS %.3f -> %.3f, KL %.3f -> %.3f, modes %d -> %d of 8, diversity %.2f\n", iters, r0, r1,
           m0.fake_to_real, m1.fake_to_real, m0.js, m1.js, m0.kl, m1.kl, m0.modes_covered, m1.modes_covered,
           m1.diversity_ratio);
    /* the reference run is shorter: the ring is there, its modes not all filled yet */
    double ring = on_ref() ? 0.06 : 0.03;
    int modes = on_ref() ? 5 : 7;
    CHECK_MSG(r1 < ring && m1.fake_to_real < ring, "distance to the ring %.4f -> %.4f, to the nearest real %.4f", r0, r1, m1.fake_to_real);
    CHECK_MSG(m1.js < 0.6 * m0.js, "JS %.3f -> %.3f", m0.js, m1.js);
    CHECK_MSG(m1.modes_covered >= modes && m1.modes == 8, "%d modes of %d", m1.modes_covered, m1.modes);
    CHECK(!m1.collapse);
    free(st0);
    free(st1);
    lab_free(l);
}

static void test_collapse_preset(void) {
    if (on_ref()) { test_skip("the collapse takes 500 wide iterations: the cpu run checks it"); return; }
    lab_settings s;
    CHECK(lab_preset("collapse", &s) == STATUS_OK);
    lab *l = lab_new(&s);
    CHECK(l != NULL);
    if (!l) return;
    lab_measures m;
    CHECK(lab_step(l, LAB_STEP_BOTH, 500) == STATUS_OK);
    CHECK(lab_measure(l, &m) == STATUS_OK);
    printf("# collapse preset, 500 iterations: modes %d of 8, diversity %.2f, alarm %d\n", m.modes_covered,
           m.diversity_ratio, m.collapse);
    CHECK_MSG(m.collapse && m.modes_covered <= 3, "modes %d, diversity %.2f", m.modes_covered, m.diversity_ratio);
    lab_free(l);
}

/* The fakes (first n numbers of "fake") and the heat map of a state. */
static void state_arrays(lab *l, float *fake, float *heat) {
    char *st = lab_state_json(l);
    json_error err;
    json_value *v = st ? json_parse(st, strlen(st), &err) : NULL;
    const json_value *f = v ? json_get(v, "fake") : NULL, *h = v ? json_get(v, "heat") : NULL;
    CHECK(f && f->count == 2 * LAB_SHOW && h && h->count == LAB_GRID * LAB_GRID);
    for (int i = 0; f && i < f->count; i++) fake[i] = (float)f->items[i].number;
    for (int i = 0; h && i < h->count; i++) heat[i] = (float)h->items[i].number;
    json_free(v);
    free(st);
}

static double max_diff(const float *a, const float *b, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

static void test_step_mode(void) {
    lab_settings s = lab_defaults();
    lab *l = lab_new(&s);
    CHECK(l != NULL);
    if (!l) return;
    static float f0[2 * LAB_SHOW], h0[LAB_GRID * LAB_GRID], f1[2 * LAB_SHOW], h1[LAB_GRID * LAB_GRID];
    state_arrays(l, f0, h0);
    CHECK(lab_step(l, LAB_STEP_D, 1) == STATUS_OK);           /* D moves, G stays */
    state_arrays(l, f1, h1);
    CHECK(max_diff(f0, f1, 2 * LAB_SHOW) == 0 && max_diff(h0, h1, LAB_GRID * LAB_GRID) > 1e-4);
    CHECK(lab_step(l, LAB_STEP_G, 1) == STATUS_OK);           /* G moves, D stays */
    state_arrays(l, f0, h0);
    CHECK(max_diff(f0, f1, 2 * LAB_SHOW) > 1e-5 && max_diff(h0, h1, LAB_GRID * LAB_GRID) == 0);
    CHECK(lab_iterations(l) == 2);
    lab_free(l);
}

static void test_settings(void) {
    lab_settings s = lab_defaults();
    const char *good = "{\"dist\":\"drawn\",\"points\":[[0.1,0.2],[0.5,0.5],[0.9,0.1]],\"loss\":\"least-squares\","
                       "\"g_layers\":4,\"g_units\":[5,6],\"optimizer\":\"sgd\",\"noise\":\"uniform\",\"noise_dim\":1}";
    CHECK(lab_settings_from_json(good, strlen(good), &s) == STATUS_OK);
    CHECK(s.dist == LAB_DIST_DRAWN && s.npoints == 3 && s.loss == GAN_LOSS_LSGAN && s.g_layers == 4);
    CHECK(s.g_units[0] == 5 && s.g_units[1] == 6 && s.g_units[3] == 6 && s.opt == GAN_OPT_SGD && s.noise_dim == 1);
    lab *l = lab_new(&s);                  /* every new choice trains */
    CHECK(l && lab_step(l, LAB_STEP_BOTH, 20) == STATUS_OK);
    lab_free(l);
    static const char *const bad[][2] = {
        {"{\"g_layers\":6}", "g_layers"}, {"{\"d_units\":101}", "d_units"}, {"{\"noise_dim\":3}", "noise_dim"},
        {"{\"loss\":\"kl\"}", "loss"}, {"{\"lr_d\":0}", "lr_d"}, {"{\"k_g\":0}", "k_g"}, {"{\"batch\":4}", "batch"},
        {"{\"dist\":\"moon\"}", "dist"}, {"{\"points\":[[2,0]]}", "points"}, {"{\"colour\":1}", "colour"},
        {"[1]", "object"}, {"{\"dist\":\"drawn\",\"points\":[[0.5,0.5]]}", "points"}, {"{\"preset\":\"x\"}", "preset"},
        {"{\"optimizer\":\"rmsprop\"}", "optimizer"}, {"{\"lr_g\":\"fast\"}", "lr_g"}, {"{", "JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lab_settings t = lab_defaults();
        status st = lab_settings_from_json(bad[i][0], strlen(bad[i][0]), &t);
        CHECK_MSG(st == STATUS_ARG && strstr(error_message(), bad[i][1]) && !strchr(error_message(), '\n'),
                  "%s: %s", bad[i][0], error_message());
        CHECK(memcmp(&t, &(lab_settings){0}, 0) == 0 && t.g_layers == 2);   /* untouched */
        error_clear();
    }
}

/* Learning rates change on the fly; a new architecture starts afresh. */
static void test_set_live(void) {
    lab_settings s = lab_defaults();
    lab *l = lab_new(&s);
    CHECK(l && lab_step(l, LAB_STEP_BOTH, 5) == STATUS_OK);
    if (!l) return;
    s.lr_d = 0.01f;
    s.k_d = 2;
    CHECK(lab_set(l, &s) == STATUS_OK && lab_iterations(l) == 5);
    s.d_layers = 1;
    CHECK(lab_set(l, &s) == STATUS_OK && lab_iterations(l) == 0);
    CHECK(lab_reset(l) == STATUS_OK && lab_iterations(l) == 0);
    lab_free(l);
}

/* G's arrows: a fake moved a little along its arrow gets a higher D output (G's loss is
 * decreasing in D(G(z)) for every loss). */
static void test_gradients_climb_d(void) {
    lab_settings s = lab_defaults();
    lab *l = lab_new(&s);
    CHECK(l && lab_step(l, LAB_STEP_BOTH, 100) == STATUS_OK);
    if (!l) return;
    char *st = lab_state_json(l);
    json_error err;
    json_value *v = st ? json_parse(st, strlen(st), &err) : NULL;
    const json_value *f = json_get(v, "fake"), *g = json_get(v, "grad");
    CHECK(f && g && f->count == 2 * LAB_SHOW && g->count == 2 * LAB_SHOW);
    arena *a = arena_new(1 << 16);
    tensor *x0 = tensor_new(a, 2, (int[]){LAB_SHOW, 2}), *x1 = tensor_new(a, 2, (int[]){LAB_SHOW, 2});
    for (int i = 0; f && g && i < LAB_SHOW; i++) {
        double gx = g->items[2 * i].number, gy = g->items[2 * i + 1].number, n = hypot(gx, gy) + 1e-30;
        x0->data[2 * i] = (float)(2 * f->items[2 * i].number - 1);
        x0->data[2 * i + 1] = (float)(2 * f->items[2 * i + 1].number - 1);
        x1->data[2 * i] = x0->data[2 * i] + (float)(1e-3 * gx / n);
        x1->data[2 * i + 1] = x0->data[2 * i + 1] + (float)(1e-3 * gy / n);
    }
    bool prev = autograd_set(false);
    tensor *d0 = gan_d_forward(gan_discriminator(l->g), a, x0, false), *d1 = gan_d_forward(gan_discriminator(l->g), a, x1, false);
    autograd_set(prev);
    int up = 0;
    for (int i = 0; d0 && d1 && i < LAB_SHOW; i++) up += d1->data[i] > d0->data[i];
    CHECK_MSG(up >= LAB_SHOW * 95 / 100, "%d of %d fakes moved along their arrow got a higher D", up, LAB_SHOW);
    arena_free(a);
    json_free(v);
    free(st);
    lab_free(l);
}

/* A gan with the lab's choices (layers, widths, uniform noise, SGD, least squares, g_steps)
 * saved as a checkpoint comes back the same: it goes on exactly as without the save. */
static void test_checkpoint_keeps_lab_choices(void) {
    lab_settings s = lab_defaults();
    s.g_layers = 1; s.d_layers = 4; s.g_units[0] = 7; s.d_units[2] = 3;
    s.noise = GAN_NOISE_UNIFORM; s.noise_dim = 1; s.opt = GAN_OPT_SGD; s.loss = GAN_LOSS_LSGAN; s.k_g = 2;
    lab *l = lab_new(&s);
    CHECK(l != NULL);
    if (!l) return;
    CHECK(lab_step(l, LAB_STEP_BOTH, 3) == STATUS_OK);
    char path[512];
    test_make_dir();
    snprintf(path, sizeof path, "%s/lab.safetensors", test_dir);
    CHECK(gan_save_checkpoint(l->g, path) == STATUS_OK);
    gan *g = gan_load_checkpoint(path);
    CHECK_MSG(g != NULL, "%s", error_message());
    if (g) {
        const gan_config *a = gan_get_config(l->g), *b = gan_get_config(g);
        CHECK(b->g_hidden == 1 && b->d_hidden == 4 && b->g_units[0] == 7 && b->d_units[2] == 3 && b->d_units[3] == 64);
        CHECK(b->noise == GAN_NOISE_UNIFORM && b->opt == GAN_OPT_SGD && b->loss == GAN_LOSS_LSGAN && b->g_steps == 2 && b->z_dim == 1);
        CHECK(a->g_steps == b->g_steps);
        arena *ar = arena_new(1 << 16);
        tensor *x = gan_sample(l->g, ar, 5, 0, 8), *y = gan_sample(g, ar, 5, 0, 8);
        CHECK(x && y && x->shape[0] == 8);
        if (x && y) CHECK_ARRAY(y->data, x->data, x->numel, 0, 0);
        arena_free(ar);
        gan_free(g);
    }
    lab_free(l);
}

int main(void) {
    backend_set_threads(1);     /* the nets are tiny: threads only cost (atelier lab does the same) */
    RUN(test_ring_learned);
    RUN(test_collapse_preset);
    RUN(test_step_mode);
    RUN(test_gradients_climb_d);
    RUN(test_settings);
    RUN(test_set_live);
    RUN(test_checkpoint_keeps_lab_choices);
    return test_finish();
}
