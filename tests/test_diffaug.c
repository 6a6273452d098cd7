/* test_diffaug.c: DiffAugment (diffaug.h, src/diffaug.c).
 *
 * (a) against PyTorch: tests/golden/diffaug.safetensors is written by
 *     tools/gen_diffaug_golden.py, the official functions with the draws passed in, on a
 *     (3, 3, 16, 16) sine-pattern input (rebuilt here with test_sin_pattern) with
 *     translations at both extremes and cutouts clipped by every border. Output and the
 *     gradient of sum(out * R) agree within 1e-6 absolute: the same float32 operations in
 *     the same order as ATen, only the means' summation order differs (768 terms ~1 each,
 *     ~1e-7), and values stay below ~4 (ulp 4.8e-7).
 * (b) gradcheck of each part and of all three, on odd and even, non-square sizes.
 * (c) hand-made cases for the geometry on a non-square image (odd cutout size).
 * (d) diffaug_parse and diffaug_draw: errors, determinism, ranges.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/diffaug.h"
#include "atelier/ops.h"
#include "atelier/safetensors.h"
#include "gradcheck.h"
#include "harness.h"

#define GOLDEN_PATH "tests/golden/diffaug.safetensors"
#define GOLDEN_ATOL 1e-6

/* ---- (a) PyTorch ---- */

/* float32 values of golden tensor name, n of them, or NULL (a failure). */
static const float *golden(safetensors *f, arena *a, const char *name, int64_t n) {
    tensor *t = safetensors_get(f, a, name);
    if (!t || t->numel != n) {
        test_fail(__FILE__, __LINE__, "%s: missing or wrong size: %s", name, error_message());
        return NULL;
    }
    return t->data;
}

/* The official draws r in [0, 1) and integers -> ours, with the official float32
 * expressions; the official _x is along H (our y). */
static bool golden_draws(safetensors *f, arena *a, diffaug_draws *d) {
    const float *rb = golden(f, a, "r_brightness", 3), *rs = golden(f, a, "r_saturation", 3);
    const float *rc = golden(f, a, "r_contrast", 3), *tx = golden(f, a, "translation_y", 3);
    const float *ty = golden(f, a, "translation_x", 3), *cx = golden(f, a, "offset_y", 3);
    const float *cy = golden(f, a, "offset_x", 3);
    if (!rb || !rs || !rc || !tx || !ty || !cx || !cy) return false;
    if (diffaug_draw(a, DIFFAUG_ALL, 3, 16, 16, 0, 0, d) != STATUS_OK) return false;
    for (int i = 0; i < 3; i++) {
        d->brightness[i] = rb[i] - 0.5f;
        d->saturation[i] = rs[i] * 2.0f;
        d->contrast[i] = rc[i] + 0.5f;
        d->tx[i] = (int)tx[i]; d->ty[i] = (int)ty[i];
        d->cut_x[i] = (int)cx[i]; d->cut_y[i] = (int)cy[i];
    }
    return true;
}

static double sum_of(const tensor *t) {
    double s = 0;
    for (int64_t i = 0; i < t->numel; i++) s += t->data[i];
    return s;
}

static void test_golden_torch(void) {
    safetensors *f = safetensors_open(GOLDEN_PATH);
    CHECK_MSG(f, "%s (run from the repository root)", error_message());
    if (!f) return;
    arena *a = arena_new(1 << 20);
    const int shape[4] = {3, 3, 16, 16};
    tensor *x = test_sin_pattern(a, 4, shape, 0.37, 0.1, 1.2);
    tensor *r = test_sin_pattern(a, 4, shape, 0.731, -0.4, 1.0);
    tensor_requires_grad(x);
    const float *xs = golden(f, a, "x_sum", 1), *rs = golden(f, a, "r_sum", 1);
    const float *out = golden(f, a, "out", x->numel), *gx = golden(f, a, "grad_x", x->numel);
    diffaug_draws d;
    if (xs && rs && out && gx && golden_draws(f, a, &d)) {
        CHECK_NEAR(sum_of(x), xs[0], 1e-4, 0);  // the same input as the script's
        CHECK_NEAR(sum_of(r), rs[0], 1e-4, 0);
        tensor *y = diffaug_apply(a, x, DIFFAUG_ALL, &d);
        CHECK_OK(y);
        if (y) {
            CHECK_ARRAY(y->data, out, y->numel, GOLDEN_ATOL, 0);
            CHECK(tensor_backward(op_sum(a, op_mul(a, y, r), -1, false)) == STATUS_OK);
            CHECK_ARRAY(x->grad, gx, x->numel, GOLDEN_ATOL, 0);
        }
    }
    error_clear();
    arena_free(a);
    safetensors_close(f);
}

/* ---- (b) gradients ---- */

typedef struct aug_case { unsigned policy; const diffaug_draws *d; } aug_case;

static tensor *aug_fn(arena *a, tensor **in, void *user) {
    const aug_case *c = user;
    return diffaug_apply(a, in[0], c->policy, c->d);
}

static void gradcheck_policy(const char *name, unsigned policy, int h, int w, uint64_t seed) {
    arena *keep = arena_new(1 << 16);
    tensor *x = test_leaf(keep, 4, (int[]){3, 2, h, w}, seed, -1, 1);
    diffaug_draws d;
    CHECK(diffaug_draw(keep, DIFFAUG_ALL, 3, h, w, seed, 1, &d) == STATUS_OK);
    // the extremes: sample 0 shifted and cut at one corner, sample 1 at the other
    int sy = (int)(h * 0.125 + 0.5), sx = (int)(w * 0.125 + 0.5);
    d.ty[0] = -sy; d.tx[0] = sx; d.ty[1] = sy; d.tx[1] = -sx;
    d.cut_y[0] = 0; d.cut_x[0] = w - (int)(w * 0.5 + 0.5) % 2;
    d.cut_y[1] = h - (int)(h * 0.5 + 0.5) % 2; d.cut_x[1] = 0;
    aug_case c = {policy, &d};
    gradcheck(name, aug_fn, &x, 1, &c, gradcheck_defaults());
    arena_free(keep);
}

static void test_gradcheck_parts(void) {
    gradcheck_policy("color", DIFFAUG_COLOR, 6, 7, 11);
    gradcheck_policy("translation", DIFFAUG_TRANSLATION, 6, 7, 12);
    gradcheck_policy("cutout", DIFFAUG_CUTOUT, 6, 7, 13);
    gradcheck_policy("all", DIFFAUG_ALL, 9, 8, 14);
}

/* ---- (c) geometry by hand ---- */

/* x (1, 2, 14, 10), x = 1 + index (nothing is 0 before the cutout). H 14: shift
 * int(1.75 + 0.5) = 2, cutout int(7.5) = 7 (odd: centres 0..13); W 10: shift 1, cutout 5. */
static void test_geometry_by_hand(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_new(a, 4, (int[]){1, 2, 14, 10});
    for (int64_t i = 0; i < x->numel; i++) x->data[i] = (float)(1 + i);
    diffaug_draws d;
    CHECK(diffaug_draw(a, DIFFAUG_TRANSLATION | DIFFAUG_CUTOUT, 1, 14, 10, 5, 0, &d) == STATUS_OK);
    d.ty[0] = -2; d.tx[0] = 1;        // out[y][x] = in[y - 2][x + 1]
    d.cut_y[0] = 13; d.cut_x[0] = 0;  // rows 10..16 -> 10..13, cols -2..2 -> 0..2
    tensor *t = diffaug_apply(a, x, DIFFAUG_TRANSLATION, &d);
    tensor *y = diffaug_apply(a, x, DIFFAUG_TRANSLATION | DIFFAUG_CUTOUT, &d);
    CHECK_OK(y);
    if (!t || !y) { arena_free(a); return; }
    int bad_t = 0, bad_y = 0;
    for (int c = 0; c < 2; c++)
        for (int r = 0; r < 14; r++)
            for (int q = 0; q < 10; q++) {
                int i = (c * 14 + r) * 10 + q;
                bool inside = r - 2 >= 0 && q + 1 < 10, hole = r >= 10 && q <= 2;
                float want = inside ? x->data[(c * 14 + r - 2) * 10 + q + 1] : 0.0f;
                if (t->data[i] != want && bad_t++ == 0)
                    test_fail(__FILE__, __LINE__, "translated (%d, %d, %d) = %g, want %g", c, r, q, t->data[i], want);
                if (y->data[i] != (hole ? 0.0f : want) && bad_y++ == 0)
                    test_fail(__FILE__, __LINE__, "cut (%d, %d, %d) = %g, want %g", c, r, q, y->data[i], hole ? 0.0f : want);
            }
    CHECK(t->data[5 * 10 + 3] == x->data[3 * 10 + 4]);  // one element spelled out
    arena_free(a);
}

/* Color on a constant image: saturation and contrast leave it, brightness shifts it. */
static void test_color_constant(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_fill(tensor_new(a, 4, (int[]){2, 3, 4, 5}), 0.25f);
    diffaug_draws d;
    CHECK(diffaug_draw(a, DIFFAUG_COLOR, 2, 4, 5, 9, 3, &d) == STATUS_OK);
    tensor *y = diffaug_apply(a, x, DIFFAUG_COLOR, &d);
    CHECK_OK(y);
    for (int i = 0; y && i < 2; i++)
        for (int j = 0; j < 60; j++) CHECK_NEAR(y->data[i * 60 + j], 0.25 + d.brightness[i], 1e-6, 0);
    arena_free(a);
}

/* ---- (d) parsing, drawing, errors ---- */

static void test_parse(void) {
    status st;
    CHECK(diffaug_parse("color,translation,cutout", &st) == DIFFAUG_ALL && st == STATUS_OK);
    CHECK(diffaug_parse("cutout, color", &st) == (DIFFAUG_CUTOUT | DIFFAUG_COLOR) && st == STATUS_OK);
    CHECK(diffaug_parse("translation", &st) == DIFFAUG_TRANSLATION && st == STATUS_OK);
    CHECK(diffaug_parse("", &st) == 0 && st == STATUS_OK);
    CHECK(diffaug_parse("none", &st) == 0 && st == STATUS_OK);
    CHECK(diffaug_parse("color", NULL) == DIFFAUG_COLOR);
    const char *bad[] = {"colour", "color,,cutout", "color,", "cutout,rotate", "Color"};
    const char *named[] = {"'colour'", "''", "''", "'rotate'", "'Color'"};
    for (int i = 0; i < 5; i++) {
        error_clear();
        CHECK_MSG(diffaug_parse(bad[i], &st) == 0 && st == STATUS_ARG, "'%s' accepted", bad[i]);
        CHECK_MSG(strstr(error_message(), named[i]), "'%s': message '%s'", bad[i], error_message());
    }
    error_clear();
}

static void test_draw_deterministic(void) {
    arena *a = arena_new(1 << 16);
    diffaug_draws d1, d2, d3, d4, dc;
    CHECK(diffaug_draw(a, DIFFAUG_ALL, 8, 32, 32, 42, 7, &d1) == STATUS_OK);
    CHECK(diffaug_draw(a, DIFFAUG_ALL, 8, 32, 32, 42, 7, &d2) == STATUS_OK);
    CHECK(diffaug_draw(a, DIFFAUG_ALL, 8, 32, 32, 42, 8, &d3) == STATUS_OK);
    CHECK(diffaug_draw(a, DIFFAUG_ALL, 8, 32, 32, 43, 7, &d4) == STATUS_OK);
    CHECK(diffaug_draw(a, DIFFAUG_COLOR, 8, 32, 32, 42, 7, &dc) == STATUS_OK);
    CHECK(memcmp(d1.brightness, d2.brightness, 8 * sizeof(float)) == 0);
    CHECK(memcmp(d1.contrast, d2.contrast, 8 * sizeof(float)) == 0);
    CHECK(memcmp(d1.cut_y, d2.cut_y, 8 * sizeof(int)) == 0);
    CHECK(memcmp(d1.tx, d2.tx, 8 * sizeof(int)) == 0);
    CHECK(memcmp(d1.brightness, d3.brightness, 8 * sizeof(float)) != 0);  // another counter
    CHECK(memcmp(d1.brightness, d4.brightness, 8 * sizeof(float)) != 0);  // another seed
    CHECK(memcmp(d1.cut_x, d3.cut_x, 8 * sizeof(int)) != 0);
    CHECK(memcmp(d1.brightness, d1.saturation, 8 * sizeof(float)) != 0);   // separate streams
    // a part's numbers do not depend on the other parts; absent parts are NULL
    CHECK(memcmp(d1.saturation, dc.saturation, 8 * sizeof(float)) == 0);
    CHECK(dc.tx == NULL && dc.ty == NULL && dc.cut_x == NULL && dc.cut_y == NULL);
    arena_free(a);
}

static void test_draw_ranges(void) {
    enum { N = 2000 };
    arena *a = arena_new(1 << 16);
    diffaug_draws d;
    CHECK(diffaug_draw(a, DIFFAUG_ALL, N, 64, 48, 3, 0, &d) == STATUS_OK);
    // H 64: shift 8, cutout 32 (centres 0..64); W 48: shift 6, cutout 24 (centres 0..48)
    int seen_tx[13] = {0}, seen_ty[17] = {0}, cx_max = 0, cy_max = 0, ok = 1;
    double mb = 0, ms = 0, mc = 0;
    for (int i = 0; i < N; i++) {
        ok &= d.brightness[i] >= -0.5f && d.brightness[i] < 0.5f;
        ok &= d.saturation[i] >= 0.0f && d.saturation[i] < 2.0f;
        ok &= d.contrast[i] >= 0.5f && d.contrast[i] <= 1.5f;
        ok &= abs(d.tx[i]) <= 6 && abs(d.ty[i]) <= 8;
        ok &= d.cut_x[i] >= 0 && d.cut_x[i] <= 48 && d.cut_y[i] >= 0 && d.cut_y[i] <= 64;
        if (!ok) { test_fail(__FILE__, __LINE__, "draw %d out of range", i); break; }
        seen_tx[d.tx[i] + 6]++; seen_ty[d.ty[i] + 8]++;
        if (d.cut_x[i] > cx_max) cx_max = d.cut_x[i];
        if (d.cut_y[i] > cy_max) cy_max = d.cut_y[i];
        mb += d.brightness[i] / N; ms += d.saturation[i] / N; mc += d.contrast[i] / N;
    }
    for (int k = 0; k < 13; k++) CHECK_MSG(seen_tx[k] > 0, "tx %d never drawn", k - 6);
    for (int k = 0; k < 17; k++) CHECK_MSG(seen_ty[k] > 0, "ty %d never drawn", k - 8);
    CHECK(cx_max == 48 && cy_max == 64);  // randint's top, inclusive for an even cutout
    CHECK_NEAR(mb, 0.0, 0.03, 0);         // uniform means, 2000 draws: sd ~0.0065 x range
    CHECK_NEAR(ms, 1.0, 0.06, 0);
    CHECK_NEAR(mc, 1.0, 0.03, 0);
    // odd cutout (W 14: 7): centres 0..13 only
    CHECK(diffaug_draw(a, DIFFAUG_CUTOUT, N, 8, 14, 3, 1, &d) == STATUS_OK);
    int top = 0;
    for (int i = 0; i < N; i++) top = d.cut_x[i] > top ? d.cut_x[i] : top;
    CHECK(top == 13);
    arena_free(a);
}

static void test_errors(void) {
    arena *a = arena_new(1 << 16);
    diffaug_draws d, dcolor;
    error_clear();
    CHECK(diffaug_draw(a, DIFFAUG_ALL, 0, 8, 8, 1, 0, &d) == STATUS_ARG);
    CHECK(diffaug_draw(a, 8, 2, 8, 8, 1, 0, &d) == STATUS_ARG);  // unknown bit
    CHECK(diffaug_draw(a, DIFFAUG_ALL, 2, 8, 10, 1, 0, &d) == STATUS_OK);
    CHECK(diffaug_draw(a, DIFFAUG_COLOR, 2, 8, 10, 1, 0, &dcolor) == STATUS_OK);
    tensor *x = tensor_new(a, 4, (int[]){2, 3, 8, 10});
    tensor *x3 = tensor_new(a, 4, (int[]){3, 3, 8, 10});
    CHECK(diffaug_apply(a, x, 0, NULL) == x);  // no policy: x itself
    CHECK_FAILS(diffaug_apply(a, x3, DIFFAUG_ALL, &d), STATUS_SHAPE, "2 draws for input (3, 3, 8, 10)");
    CHECK_FAILS(diffaug_apply(a, tensor_new(a, 3, (int[]){3, 8, 10}), DIFFAUG_COLOR, &d),
                STATUS_SHAPE, "(N, C, H, W)");
    CHECK_FAILS(diffaug_apply(a, x, DIFFAUG_ALL, &dcolor), STATUS_ARG, "lack a part");
    CHECK_FAILS(diffaug_apply(a, x, DIFFAUG_ALL, NULL), STATUS_SHAPE, "0 draws");
    CHECK_FAILS(diffaug_apply(a, x, 16, &d), STATUS_ARG, "unknown policy");
    d.tx[1] = 2;  // W 10: shift 1
    CHECK_FAILS(diffaug_apply(a, x, DIFFAUG_TRANSLATION, &d), STATUS_ARG, "draw 1 is out of range");
    d.tx[1] = 0; d.cut_y[0] = 9;  // H 8: cutout 4, centres 0..8
    CHECK_FAILS(diffaug_apply(a, x, DIFFAUG_CUTOUT, &d), STATUS_ARG, "draw 0 is out of range");
    d.cut_y[0] = 8;
    CHECK_OK(diffaug_apply(a, x, DIFFAUG_ALL, &d));
    CHECK(diffaug_apply(a, NULL, DIFFAUG_ALL, &d) == NULL);
    error_clear();
    arena_free(a);
}

int main(void) {
    RUN(test_golden_torch);
    RUN(test_gradcheck_parts);
    RUN(test_geometry_by_hand);
    RUN(test_color_constant);
    RUN(test_parse);
    RUN(test_draw_deterministic);
    RUN(test_draw_ranges);
    RUN(test_errors);
    return test_finish();
}
