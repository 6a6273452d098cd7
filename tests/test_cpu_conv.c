/* The cpu backend's convolution kernels (oneDNN, src/cpu/cpu_conv.c) against the reference
 * backend, kernel by kernel through the public tables, over awkward geometries: kernel
 * sizes 1, 3, 5, 7; strides 1-3; pads 0-2; dilation 1-2; groups 1, 2 and depthwise; with
 * and without bias; transposed with output padding; a VGG-like 64->64 layer; batch 1 and 4.
 *
 * Backward kernels ADD into their gradients and skip NULL ones (backend.h): the gradient
 * buffers start non-zero and identical on both backends, and every subset of them is tried.
 *
 * Tolerance |cpu - ref| <= 1e-4 + 1e-4 |ref|: inputs lie in [-1, 1], so each output is a sum
 * of at most a few thousand terms of size <= 1 (up to N OH OW = 4096 for a weight
 * gradient); oneDNN sums in float in a blocked order and the reference in another order
 * (in double for weight gradients), so the two differ by float rounding, ~1e-6 relative to
 * the sum's terms, far inside the tolerance, while any indexing error is O(1). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "atelier/backend.h"
#include "atelier/rng.h"

#define ATOL 1e-4
#define RTOL 1e-4

typedef struct conv_case {
    int n, c, h, w, oc, kh, kw, stride, pad, dil, groups, out_pad;
    bool bias;
} conv_case;



static float *copy_buf(const float *src, int64_t n) {
    float *p = malloc(sizeof(float) * (n > 0 ? n : 1));
    memcpy(p, src, sizeof(float) * n);
    return p;
}

/* The geometry of case k; false if its output would be empty. */
static bool case_params(const conv_case *k, bool transpose, conv2d_params *p) {
    *p = (conv2d_params){.n = k->n, .c = k->c, .h = k->h, .w = k->w, .oc = k->oc, .kh = k->kh,
                         .kw = k->kw, .stride_h = k->stride, .stride_w = k->stride,
                         .pad_h = k->pad, .pad_w = k->pad, .dil_h = k->dil, .dil_w = k->dil,
                         .groups = k->groups};
    if (transpose) {
        p->out_pad_h = p->out_pad_w = k->out_pad;
        p->oh = (k->h - 1) * k->stride - 2 * k->pad + k->dil * (k->kh - 1) + k->out_pad + 1;
        p->ow = (k->w - 1) * k->stride - 2 * k->pad + k->dil * (k->kw - 1) + k->out_pad + 1;
    } else {
        p->oh = (k->h + 2 * k->pad - k->dil * (k->kh - 1) - 1) / k->stride + 1;
        p->ow = (k->w + 2 * k->pad - k->dil * (k->kw - 1) - 1) / k->stride + 1;
    }
    return p->oh > 0 && p->ow > 0 && k->h + 2 * k->pad >= k->dil * (k->kh - 1) + 1;
}

static void describe(char *buf, size_t len, const conv_case *k, bool transpose) {
    snprintf(buf, len, "%s n%d c%d %dx%d oc%d k%dx%d s%d p%d d%d g%d op%d bias%d",
             transpose ? "conv_transpose2d" : "conv2d", k->n, k->c, k->h, k->w, k->oc, k->kh,
             k->kw, k->stride, k->pad, k->dil, k->groups, k->out_pad, k->bias);
}

/* Forward and every backward subset of one case, cpu against ref. */
static void check_case(const backend *cpu, const conv_case *k, bool transpose, uint64_t seed) {
    conv2d_params p;
    if (!case_params(k, transpose, &p)) return;
    const backend *ref = backend_ref();
    char what[160];
    describe(what, sizeof what, k, transpose);
    int64_t nx = (int64_t)k->n * k->c * k->h * k->w, ny = (int64_t)k->n * k->oc * p.oh * p.ow;
    int64_t nw = transpose ? (int64_t)k->c * (k->oc / k->groups) * k->kh * k->kw
                           : (int64_t)k->oc * (k->c / k->groups) * k->kh * k->kw;
    float *x = test_rand_buf(nx, seed, -1, 1), *w = test_rand_buf(nw, seed + 1, -1, 1);
    float *b = k->bias ? test_rand_buf(k->oc, seed + 2, -1, 1) : NULL;
    float *dy = test_rand_buf(ny, seed + 3, -1, 1);
    float *y1 = test_rand_buf(ny, seed + 4, 5, 6), *y2 = test_rand_buf(ny, seed + 5, -6, -5); /* forward overwrites */
    void (*fwd_cpu)(float *, const float *, const float *, const float *, const conv2d_params *) =
        transpose ? cpu->conv_transpose2d_forward : cpu->conv2d_forward;
    void (*fwd_ref)(float *, const float *, const float *, const float *, const conv2d_params *) =
        transpose ? ref->conv_transpose2d_forward : ref->conv2d_forward;
    fwd_cpu(y1, x, w, b, &p);
    fwd_ref(y2, x, w, b, &p);
    CHECK_MSG(CHECK_ARRAY(y1, y2, ny, ATOL, RTOL), "%s: forward", what);

    /* backward: mask bit 0 = dx, 1 = dw, 2 = db; every subset, gradients pre-filled */
    void (*bwd_cpu)(float *, float *, float *, const float *, const float *, const float *,
                    const conv2d_params *) =
        transpose ? cpu->conv_transpose2d_backward : cpu->conv2d_backward;
    void (*bwd_ref)(float *, float *, float *, const float *, const float *, const float *,
                    const conv2d_params *) =
        transpose ? ref->conv_transpose2d_backward : ref->conv2d_backward;
    float *g0[3] = {test_rand_buf(nx, seed + 6, -1, 1), test_rand_buf(nw, seed + 7, -1, 1),
                    test_rand_buf(k->oc, seed + 8, -1, 1)};
    int64_t gn[3] = {nx, nw, k->oc};
    for (int mask = 1; mask < 8; mask++) {
        float *g1[3], *g2[3];
        for (int i = 0; i < 3; i++) {
            g1[i] = mask >> i & 1 ? copy_buf(g0[i], gn[i]) : NULL;
            g2[i] = mask >> i & 1 ? copy_buf(g0[i], gn[i]) : NULL;
        }
        bwd_cpu(g1[0], g1[1], g1[2], dy, x, w, &p);
        bwd_ref(g2[0], g2[1], g2[2], dy, x, w, &p);
        static const char *names[3] = {"dx", "dw", "db"};
        for (int i = 0; i < 3; i++) {
            if (g1[i])
                CHECK_MSG(CHECK_ARRAY(g1[i], g2[i], gn[i], ATOL, RTOL), "%s: %s (mask %d)", what,
                          names[i], mask);
            free(g1[i]);
            free(g2[i]);
        }
    }
    for (int i = 0; i < 3; i++) free(g0[i]);
    free(x); free(w); free(b); free(dy); free(y1); free(y2);
}

static void run_cases(const conv_case *cases, int count, bool transpose) {
    const backend *cpu = test_backend_or_skip("cpu");
    if (!cpu) return;
    for (int i = 0; i < count; i++) check_case(cpu, &cases[i], transpose, 100 + 10 * (uint64_t)i);
}

static const conv_case CONV_CASES[] = {
    /* n  c   h   w  oc kh kw s  p  d  g op bias */
    {1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, true},     /* everything 1 */
    {1, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 0, true},     /* small, non-square */
    {2, 3, 9, 11, 5, 5, 5, 2, 2, 1, 1, 0, false},   /* 5x5 stride 2 */
    {1, 3, 13, 13, 8, 7, 7, 3, 2, 1, 1, 0, true},   /* 7x7 stride 3 */
    {2, 4, 8, 9, 6, 3, 1, 1, 0, 1, 2, 0, true},     /* non-square kernel, 2 groups */
    {1, 5, 10, 7, 5, 3, 3, 2, 1, 1, 5, 0, true},    /* depthwise, stride 2 */
    {2, 6, 9, 9, 6, 3, 3, 1, 2, 2, 3, 0, false},    /* dilated, 3 groups */
    {1, 4, 12, 10, 8, 3, 3, 1, 2, 2, 1, 0, true},   /* dilated */
    {3, 7, 5, 6, 3, 1, 1, 1, 0, 1, 1, 0, true},     /* 1x1 */
    {1, 16, 6, 6, 32, 3, 3, 3, 1, 1, 1, 0, true},   /* stride 3, blocked channels */
    {1, 32, 11, 11, 48, 3, 3, 1, 1, 1, 2, 0, true}, /* blocked, 2 groups */
    {1, 64, 32, 32, 64, 3, 3, 1, 1, 1, 1, 0, true}, /* VGG-like */
    {4, 64, 32, 32, 64, 3, 3, 1, 1, 1, 1, 0, true}, /* VGG-like, batch 4 */
    {4, 3, 17, 15, 16, 9, 9, 1, 4, 1, 1, 0, true},  /* fast-style first layer (9x9), RGB */
};

static const conv_case TRANSPOSE_CASES[] = {
    /* n  c   h   w  oc kh kw s  p  d  g op bias */
    {1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, true},
    {1, 3, 4, 5, 2, 3, 3, 2, 1, 1, 1, 1, true},     /* stride 2, out_pad 1 */
    {2, 4, 5, 4, 6, 4, 4, 2, 1, 1, 2, 0, false},    /* DCGAN-style 4x4 s2, 2 groups */
    {1, 3, 3, 4, 5, 5, 5, 3, 2, 1, 1, 2, true},     /* stride 3, out_pad 2 */
    {1, 6, 5, 5, 6, 3, 3, 2, 0, 2, 6, 1, true},     /* depthwise, dilated, out_pad */
    {2, 5, 6, 3, 3, 7, 7, 1, 2, 1, 1, 0, true},     /* 7x7 stride 1 */
    {1, 4, 4, 4, 2, 3, 3, 1, 0, 2, 2, 1, false},    /* out_pad > pad at stride 1: ref fallback */
    {1, 32, 8, 8, 16, 4, 4, 2, 1, 1, 1, 0, true},   /* blocked DCGAN layer */
    {4, 64, 16, 16, 32, 3, 3, 2, 1, 1, 1, 1, true}, /* fast-style upsampling, batch 4 */
};

/* Winograd F(4x4, 3x3) (the cpu backend's choice for 3x3 stride-1 layers of >= 16
 * channels): the same tolerance as the direct kernels, on awkward sizes too (odd planes
 * not multiples of the 4x4 tiles, channels not multiples of 16, pad 0, batch 3), and it
 * is really what ran; with it off, the direct kernel runs. The error is also measured
 * against the outputs' scale: max |cpu - ref| / max |ref| was 0.6e-6 to 1.4e-6 here
 * (the direct kernel's 0.2e-6 to 0.9e-6); bound 3e-6. */
const char *cpu_conv_last_impl(void);   /* src/cpu/cpu.h: the implementation last run */

static const conv_case WINO_CASES[] = {
    /* n  c   h   w  oc kh kw s  p  d  g op bias */
    {1, 16, 7, 5, 16, 3, 3, 1, 1, 1, 1, 0, true},
    {3, 17, 9, 6, 19, 3, 3, 1, 0, 1, 1, 0, false},
    {1, 32, 11, 13, 48, 3, 3, 1, 1, 1, 1, 0, true},
    {1, 64, 32, 32, 64, 3, 3, 1, 1, 1, 1, 0, true},
};

static double scaled_error(const float *a, const float *b, int64_t n) {
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return scale > 0 ? worst / scale : worst;
}

static void test_winograd(void) {
    const backend *cpu = test_backend_or_skip("cpu");
    if (!cpu) return;
    bool was = backend_set_winograd(true);
    int n = (int)(sizeof WINO_CASES / sizeof WINO_CASES[0]);
    run_cases(WINO_CASES, n, false);
    for (int i = 0; i < n; i++) {
        conv2d_params p;
        case_params(&WINO_CASES[i], false, &p);
        int64_t nx = (int64_t)p.n * p.c * p.h * p.w, ny = (int64_t)p.n * p.oc * p.oh * p.ow, nw = (int64_t)p.oc * p.c * 9;
        float *x = test_rand_buf(nx, 7 + i, -1, 1), *w = test_rand_buf(nw, 8 + i, -1, 1);
        float *y1 = malloc(sizeof(float) * ny), *y2 = malloc(sizeof(float) * ny);
        backend_set_winograd(true);
        cpu->conv2d_forward(y1, x, w, NULL, &p);
        CHECK_MSG(strstr(cpu_conv_last_impl(), "wino") != NULL, "case %d ran %s", i, cpu_conv_last_impl());
        backend_ref()->conv2d_forward(y2, x, w, NULL, &p);
        double e = scaled_error(y1, y2, ny);
        CHECK_MSG(e < 3e-6, "case %d: winograd error %g of the outputs' scale", i, e);
        /* the thread count changes nothing beyond the same bound (here: bitwise equal) */
        backend_set_threads(1);
        cpu->conv2d_forward(y2, x, w, NULL, &p);
        backend_set_threads(2);
        cpu->conv2d_forward(y1, x, w, NULL, &p);
        backend_set_threads(0);
        double et = scaled_error(y1, y2, ny);
        CHECK_MSG(et < 3e-6, "case %d: 1 vs 2 threads differ by %g of the outputs' scale", i, et);
        backend_set_winograd(false);
        cpu->conv2d_forward(y1, x, w, NULL, &p);
        CHECK_MSG(strstr(cpu_conv_last_impl(), "wino") == NULL, "case %d: winograd off still ran %s", i, cpu_conv_last_impl());
        free(x); free(w); free(y1); free(y2);
    }
    backend_set_winograd(was);
}

static void test_conv2d_cases(void) {
    run_cases(CONV_CASES, (int)(sizeof CONV_CASES / sizeof CONV_CASES[0]), false);
}

static void test_conv_transpose2d_cases(void) {
    run_cases(TRANSPOSE_CASES, (int)(sizeof TRANSPOSE_CASES / sizeof TRANSPOSE_CASES[0]), true);
}

/* The reordered-weight cache must notice a weight changed in place (an optimiser step),
 * in the forward and in backward-data, which may use another layout of the same buffer. */
static void test_weight_cache_sees_updates(void) {
    const backend *cpu = test_backend_or_skip("cpu");
    if (!cpu) return;
    conv_case k = {1, 32, 9, 9, 32, 3, 3, 1, 1, 1, 1, 0, false};
    conv2d_params p;
    case_params(&k, false, &p);
    int64_t nx = 32 * 81, nw = 32 * 32 * 9, ny = 32 * 81;
    float *x = test_rand_buf(nx, 1, -1, 1), *w = test_rand_buf(nw, 2, -1, 1), *dy = test_rand_buf(ny, 3, -1, 1);
    float *y1 = malloc(sizeof(float) * ny), *y2 = malloc(sizeof(float) * ny);
    float *dx1 = calloc(nx, sizeof(float)), *dx2 = calloc(nx, sizeof(float));
    for (int step = 0; step < 3; step++) {
        cpu->conv2d_forward(y1, x, w, NULL, &p);
        backend_ref()->conv2d_forward(y2, x, w, NULL, &p);
        CHECK_MSG(CHECK_ARRAY(y1, y2, ny, ATOL, RTOL), "forward after %d updates", step);
        memset(dx1, 0, sizeof(float) * nx);
        memset(dx2, 0, sizeof(float) * nx);
        cpu->conv2d_backward(dx1, NULL, NULL, dy, x, w, &p);
        backend_ref()->conv2d_backward(dx2, NULL, NULL, dy, x, w, &p);
        CHECK_MSG(CHECK_ARRAY(dx1, dx2, nx, ATOL, RTOL), "backward-data after %d updates", step);
        /* one element in place: y[oc 5, 4, 4] sees w[5, 0, 1, 1] x[0, 4, 4] */
        float before = y1[5 * 81 + 4 * 9 + 4];
        w[((5 * 32 + 0) * 3 + 1) * 3 + 1] += 1.0f;
        cpu->conv2d_forward(y1, x, w, NULL, &p);
        CHECK_NEAR(y1[5 * 81 + 4 * 9 + 4] - before, x[4 * 9 + 4], 1e-4, 1e-4);
    }
    free(x); free(w); free(dy); free(y1); free(y2); free(dx1); free(dx2);
}

/* A weight buffer freed and another allocated at the same address must not hit the cache:
 * the same pointer, different contents, throughout many shapes (primitive cache churn). */
static void test_many_shapes_and_reused_buffers(void) {
    const backend *cpu = test_backend_or_skip("cpu");
    if (!cpu) return;
    for (int i = 0; i < 40; i++) {
        conv_case k = {1, 16 + i % 3, 6 + i % 5, 7, 16, 3, 3, 1 + i % 2, 1, 1, 1, 0, i % 2 == 0};
        conv2d_params p;
        case_params(&k, false, &p);
        int64_t nx = (int64_t)k.c * k.h * k.w, nw = (int64_t)k.oc * k.c * 9, ny = (int64_t)k.oc * p.oh * p.ow;
        float *x = test_rand_buf(nx, i, -1, 1), *w = test_rand_buf(nw, 1000 + i, -1, 1);
        float *b = k.bias ? test_rand_buf(k.oc, 2000 + i, -1, 1) : NULL;
        float *y1 = malloc(sizeof(float) * ny), *y2 = malloc(sizeof(float) * ny);
        cpu->conv2d_forward(y1, x, w, b, &p);
        backend_ref()->conv2d_forward(y2, x, w, b, &p);
        CHECK_MSG(CHECK_ARRAY(y1, y2, ny, ATOL, RTOL), "shape %d", i);
        free(x); free(w); free(b); free(y1); free(y2);
    }
}

int main(void) {
    RUN(test_conv2d_cases);
    RUN(test_conv_transpose2d_cases);
    RUN(test_winograd);
    RUN(test_weight_cache_sees_updates);
    RUN(test_many_shapes_and_reused_buffers);
    return test_finish();
}
