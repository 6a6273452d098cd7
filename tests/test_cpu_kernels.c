/* The cpu backend's OpenMP kernels (cpu_eltwise.c, cpu_spatial.c, cpu_norm.c) against the
 * reference, kernel by kernel: every op, mode and option, forward and backward, on awkward
 * shapes (1, 3, 5, 7, 17) and on tensors large enough (2x64x33x35) for the parallel paths.
 *
 * Each case runs three times: on ref, on cpu with 1 thread and on cpu with 2 threads. Every
 * output buffer (gradients included) starts from the same non-zero values, so backward's ADD
 * semantics is checked, and optional gradients are passed as NULL in some cases.
 * - cpu (1 thread) vs ref: |cpu - ref| <= 1e-5 + 1e-5 |ref|. The kernels use the
 *   reference's float formulas; they differ only where sums run in another order (double
 *   over 8 lanes here, in double or float sequentially in the ref) or where gcc fuses a
 *   multiply-add, i.e. by a few float ulps (~1e-7 relative) of each term. Broadcast
 *   gradients that the reference sums in FLOAT over m terms carry its error of ~eps sqrt(m)
 *   relative, so those sums either stay below ~7000 terms or use values whose float sums
 *   are exact (multiples of 1/8).
 * - cpu 1 thread vs 2 threads: bitwise equal (cpu.h: outputs are partitioned, sums use a
 *   chunking fixed by the shape).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "atelier/backend.h"
#include "atelier/rng.h"

#define ATOL 1e-5
#define RTOL 1e-5

static const backend *g_cpu;

/* Variant v of a case: 0 ref, 1 cpu on 1 thread, 2 cpu on 2 threads. */
static const backend *variant(int v) {
    if (v == 0) return backend_ref();
    backend_set_threads(v);
    return g_cpu;
}


/* Values in [-4, 4) that are multiples of 1/8: float sums of up to ~1e5 of them are exact. */
static float *rnd_q(int64_t n, uint64_t seed) {
    float *p = test_rand_buf(n, seed, -32, 32);
    for (int64_t i = 0; i < n; i++) p[i] = floorf(p[i]) / 8.0f;
    return p;
}

/* Three copies (one per variant) of n values from seed: output buffers start non-zero. */
static float *outs3(int64_t n, uint64_t seed) {
    float *p = malloc(sizeof(float) * 3 * (n > 0 ? n : 1));
    rng r = rng_new(seed);
    rng_uniform(&r, p, n, -0.5f, 0.5f);
    memcpy(p + n, p, sizeof(float) * n);
    memcpy(p + 2 * n, p, sizeof(float) * n);
    return p;
}

/* cpu (1 thread) within atol + RTOL |ref| of ref, and bitwise equal to cpu on 2 threads. */
static void check3_atol(const char *what, const float *o, int64_t n, double atol) {
    char buf[200];
    snprintf(buf, sizeof buf, "%s: cpu vs ref", what);
    test_close_array(__FILE__, __LINE__, buf, o + n, o, n, atol, RTOL);
    CHECK_MSG(memcmp(o + n, o + 2 * n, sizeof(float) * n) == 0, "%s: 1 vs 2 threads differ", what);
}

static void check3(const char *what, const float *o, int64_t n) { check3_atol(what, o, n, ATOL); }

static bool have_cpu(void) {
    g_cpu = backend_find("cpu");
    if (!g_cpu) test_skip("this build has no cpu backend");
    return g_cpu != NULL;
}

static int64_t numel4(const int s[4]) { return (int64_t)s[0] * s[1] * s[2] * s[3]; }

/* ---- binary ---- */

static void binary_case(const int as[4], const int bs[4], bool quantised) {
    int ys[4];
    for (int d = 0; d < 4; d++) ys[d] = as[d] > bs[d] ? as[d] : bs[d];
    int64_t na = numel4(as), nb = numel4(bs), ny = numel4(ys);
    float *a = quantised ? rnd_q(na, 1) : test_rand_buf(na, 1, -1, 1);
    float *b = test_rand_buf(nb, 2, 0.5f, 2);  /* away from 0 for DIV */
    float *dy = quantised ? rnd_q(ny, 3) : test_rand_buf(ny, 3, -1, 1);
    const char *names[] = {"add", "sub", "mul", "div"};
    for (int op = 0; op < 4; op++) {
        if (quantised && op >= BINOP_MUL) continue;  /* exact sums only for add and sub */
        char what[160];
        float *y = outs3(ny, 4), *da = outs3(na, 5), *db = outs3(nb, 6);
        if (quantised) for (int64_t i = 0; i < 3 * nb; i++) db[i] = 0;
        for (int v = 0; v < 3; v++) {
            const backend *be = variant(v);
            be->binary_forward(op, y + v * ny, a, b, as, bs, ys);
            be->binary_backward(op, da + v * na, db + v * nb, dy, a, b, as, bs, ys);
            /* NULL gradients are skipped: these must leave everything else alone */
            be->binary_backward(op, NULL, NULL, dy, a, b, as, bs, ys);
        }
        snprintf(what, sizeof what, "binary %s (%d,%d,%d,%d) op (%d,%d,%d,%d)", names[op],
                 as[0], as[1], as[2], as[3], bs[0], bs[1], bs[2], bs[3]);
        char w2[200];
        snprintf(w2, sizeof w2, "%s y", what); check3(w2, y, ny);
        /* A broadcast gradient is the reference's float sum of m = ny / n terms of size
         * <= ~2 (dy, b, 1/b, a/b^2 here): its rounding error grows like eps |term| m (a
         * random walk of partial sums ~sqrt(m) |term|, each rounded, over m steps), so the
         * absolute tolerance grows with m; cpu sums in double. */
        double atol_a = ATOL + 1e-7 * (double)(ny / na), atol_b = ATOL + 1e-7 * (double)(ny / nb);
        snprintf(w2, sizeof w2, "%s da", what); check3_atol(w2, da, na, atol_a);
        snprintf(w2, sizeof w2, "%s db", what); check3_atol(w2, db, nb, atol_b);
        /* one gradient at a time */
        float *db2 = outs3(nb, 7);
        for (int v = 0; v < 3; v++)
            variant(v)->binary_backward(op, NULL, db2 + v * nb, dy, a, b, as, bs, ys);
        snprintf(w2, sizeof w2, "%s db alone", what); check3_atol(w2, db2, nb, atol_b);
        free(y); free(da); free(db); free(db2);
    }
    free(a); free(b); free(dy);
}

static void test_binary(void) {
    if (!have_cpu()) return;
    static const int cases[][2][4] = {
        {{2, 64, 33, 35}, {2, 64, 33, 35}},  /* same shapes */
        {{2, 64, 33, 35}, {1, 64, 1, 1}},    /* per channel */
        {{2, 64, 33, 35}, {2, 64, 1, 1}},    /* per (n, c) */
        {{2, 64, 33, 35}, {1, 1, 1, 35}},    /* along rows: the "vertical" reduction */
        {{2, 64, 33, 35}, {1, 1, 33, 1}},
        {{1, 64, 1, 1}, {2, 64, 33, 35}},    /* a broadcast, b full */
        {{2, 1, 33, 35}, {1, 64, 1, 1}},     /* both broadcast: an outer product */
        {{2, 3, 33, 35}, {1, 1, 1, 1}},      /* b a scalar (6930 terms: float sum in ref) */
        {{1, 1, 1, 1}, {2, 3, 33, 35}},      /* a a scalar */
        {{1, 3, 5, 7}, {1, 3, 1, 7}},
        {{3, 1, 5, 1}, {1, 7, 1, 17}},
        {{1, 1, 1, 17}, {5, 1, 1, 1}},
        {{1, 1, 1, 1}, {1, 1, 1, 1}},
        {{7, 1, 1, 1}, {7, 1, 1, 1}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        binary_case(cases[i][0], cases[i][1], false);
    /* long broadcast sums (chunked in cpu): values whose float sums are exact */
    binary_case((int[]){2, 64, 33, 35}, (int[]){1, 1, 1, 1}, true);
    binary_case((int[]){2, 64, 33, 35}, (int[]){2, 1, 1, 1}, true);
    binary_case((int[]){1, 1, 1, 1}, (int[]){1, 17, 99, 101}, true);
}

/* ---- unary ---- */

static void test_unary(void) {
    if (!have_cpu()) return;
    const int64_t sizes[] = {1, 7, 17, 147840};
    for (int op = UNOP_RELU; op <= UNOP_NEG; op++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int64_t n = sizes[s];
            bool positive = op == UNOP_LOG || op == UNOP_SQRT || op == UNOP_POW_SCALAR;
            float *x = positive ? test_rand_buf(n, 10, 0.1f, 3) : test_rand_buf(n, 10, -3, 3);
            if (!positive && n > 3) x[1] = 0.0f;  /* the kinks of relu and abs */
            if (op == UNOP_RDIV_SCALAR) for (int64_t i = 0; i < n; i++) x[i] += x[i] < 0 ? -0.5f : 0.5f;
            float *dy = test_rand_buf(n, 11, -1, 1), *y = outs3(n, 12), *dx = outs3(n, 13);
            float alpha = op == UNOP_POW_SCALAR ? 2.5f : 0.2f;
            for (int v = 0; v < 3; v++) {
                const backend *be = variant(v);
                be->unary_forward(op, y + v * n, x, n, alpha);
                /* backward from ref's y, so only the derivative is compared */
                be->unary_backward(op, dx + v * n, dy, x, y, n, alpha);
            }
            char what[80];
            snprintf(what, sizeof what, "unary op %d n %lld y", op, (long long)n);
            check3(what, y, n);
            snprintf(what, sizeof what, "unary op %d n %lld dx", op, (long long)n);
            check3(what, dx, n);
            if (op == UNOP_POW_SCALAR) {  /* alpha 0: derivative 0 */
                for (int v = 0; v < 3; v++) variant(v)->unary_backward(op, dx + v * n, dy, x, y, n, 0.0f);
                check3("unary pow alpha 0 dx", dx, n);
            }
            free(x); free(dy); free(y); free(dx);
        }
}

/* ---- reduce ---- */

static void test_reduce(void) {
    if (!have_cpu()) return;
    static const int shapes[][4] = {{2, 17, 33, 35}, {1, 3, 5, 7}, {3, 1, 1, 5}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int *sh = shapes[s];
        int64_t n = numel4(sh);
        float *x = test_rand_buf(n, 20 + s, -1, 2);
        for (int axes = 0; axes < 16; axes++) {
            int ys[4];
            for (int d = 0; d < 4; d++) ys[d] = axes >> d & 1 ? 1 : sh[d];
            int64_t ny = numel4(ys);
            if (ny == n && axes != 0) continue;  /* reducing only dims of 1: same as axes 0 */
            float *dy = test_rand_buf(ny, 30 + axes, -1, 1);
            for (int k = REDUCE_SUM; k <= REDUCE_VAR_UNBIASED; k++) {
                float *y = outs3(ny, 31), *dx = outs3(n, 32);
                for (int v = 0; v < 3; v++) {
                    const backend *be = variant(v);
                    be->reduce_forward(k, y + v * ny, x, sh, axes);
                    be->reduce_backward(k, dx + v * n, dy, x, sh, axes);
                }
                char what[120];
                snprintf(what, sizeof what, "reduce kind %d axes %d shape %zu y", k, axes, s);
                check3(what, y, ny);
                snprintf(what, sizeof what, "reduce kind %d axes %d shape %zu dx", k, axes, s);
                check3(what, dx, n);
                free(y); free(dx);
            }
            free(dy);
        }
        free(x);
    }
}

/* ---- axis_copy ---- */

static void test_axis_copy(void) {
    if (!have_cpu()) return;
    /* outer, ylen, xlen, inner, yoff, xoff, len */
    static const int cases[][7] = {
        {2, 64, 40, 1155, 10, 3, 37}, {1, 7, 5, 100000, 2, 0, 5}, {17, 3, 5, 1, 1, 2, 2},
        {1, 1, 1, 1, 0, 0, 1}, {5, 9, 9, 7, 0, 0, 9},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int *k = cases[c];
        int64_t ny = (int64_t)k[0] * k[1] * k[3], nx = (int64_t)k[0] * k[2] * k[3];
        float *x = test_rand_buf(nx, 40 + c, -1, 1);
        for (int acc = 0; acc < 2; acc++) {
            float *y = outs3(ny, 41);
            for (int v = 0; v < 3; v++)
                variant(v)->axis_copy(y + v * ny, x, k[0], k[1], k[2], k[3], k[4], k[5], k[6], acc);
            char what[80];
            snprintf(what, sizeof what, "axis_copy case %zu accumulate %d", c, acc);
            check3(what, y, ny);
            free(y);
        }
        free(x);
    }
}

/* ---- losses and total variation ---- */

static void test_loss(void) {
    if (!have_cpu()) return;
    const int64_t sizes[] = {1, 7, 100003};
    for (int k = LOSS_MSE; k <= LOSS_HINGE; k++)
        for (size_t s = 0; s < 3; s++) {
            int64_t n = sizes[s];
            float *x = test_rand_buf(n, 50, -3, 3), *t = test_rand_buf(n, 51, k == LOSS_BCE_LOGITS ? 0 : -3, k == LOSS_BCE_LOGITS ? 1 : 3);
            if (k == LOSS_HINGE) for (int64_t i = 0; i < n; i++) t[i] = t[i] < 0 ? -1.0f : 1.0f;
            if (n > 3) x[2] = t[2];  /* the kinks of L1 (x == t) and hinge (t x == 1) */
            float *out = outs3(1, 52), *dx = outs3(n, 53), *dt = outs3(n, 54), *dx2 = outs3(n, 55);
            for (int v = 0; v < 3; v++) {
                const backend *be = variant(v);
                be->loss_forward(k, out + v, x, t, n);
                be->loss_backward(k, dx + v * n, dt + v * n, 0.7f, x, t, n);
                be->loss_backward(k, dx2 + v * n, NULL, -1.3f, x, t, n);
            }
            char what[80];
            snprintf(what, sizeof what, "loss %d n %lld out", k, (long long)n); check3(what, out, 1);
            snprintf(what, sizeof what, "loss %d n %lld dx", k, (long long)n); check3(what, dx, n);
            snprintf(what, sizeof what, "loss %d n %lld dt", k, (long long)n); check3(what, dt, n);
            snprintf(what, sizeof what, "loss %d n %lld dx (dt NULL)", k, (long long)n); check3(what, dx2, n);
            free(x); free(t); free(out); free(dx); free(dt); free(dx2);
        }
}

static void test_tv(void) {
    if (!have_cpu()) return;
    static const int shapes[][4] = {{2, 64, 33, 35}, {1, 3, 5, 7}, {1, 3, 1, 7}, {1, 1, 5, 1}, {1, 1, 1, 1}, {2, 3, 17, 9}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int *sh = shapes[s];
        int64_t n = numel4(sh);
        float *x = test_rand_buf(n, 60 + s, -1, 1), *out = outs3(1, 61), *dx = outs3(n, 62);
        for (int v = 0; v < 3; v++) {
            const backend *be = variant(v);
            be->tv_forward(out + v, x, sh[0], sh[1], sh[2], sh[3]);
            be->tv_backward(dx + v * n, 0.9f, x, sh[0], sh[1], sh[2], sh[3]);
            be->tv_backward(NULL, 0.9f, x, sh[0], sh[1], sh[2], sh[3]);
        }
        char what[80];
        snprintf(what, sizeof what, "tv shape %zu out", s); check3(what, out, 1);
        snprintf(what, sizeof what, "tv shape %zu dx", s); check3(what, dx, n);
        free(x); free(out); free(dx);
    }
}

/* ---- pooling ---- */

static void pool_case(int n, int c, int h, int w, int k, int stride, int pad, bool include_pad) {
    pool2d_params p = {.n = n, .c = c, .h = h, .w = w, .kh = k, .kw = k, .stride_h = stride,
                       .stride_w = stride, .pad_h = pad, .pad_w = pad,
                       .count_include_pad = include_pad};
    p.oh = (h + 2 * pad - k) / stride + 1;
    p.ow = (w + 2 * pad - k) / stride + 1;
    int64_t nx = (int64_t)n * c * h * w, ny = (int64_t)n * c * p.oh * p.ow;
    float *x = rnd_q(nx, 70);  /* few distinct values: max pool sees ties */
    float *xr = test_rand_buf(nx, 76, -1, 1);  /* any values: average pooling's sums round */
    float *dy = test_rand_buf(ny, 71, -1, 1);
    float *ya = outs3(ny, 72), *ym = outs3(ny, 73), *dxa = outs3(nx, 74), *dxm = outs3(nx, 75);
    for (int v = 0; v < 3; v++) {
        const backend *be = variant(v);
        be->avg_pool2d_forward(ya + v * ny, xr, &p);
        be->avg_pool2d_backward(dxa + v * nx, dy, &p);
        be->avg_pool2d_backward(NULL, dy, &p);
        be->max_pool2d_forward(ym + v * ny, x, &p);
        be->max_pool2d_backward(dxm + v * nx, dy, x, &p);
        be->max_pool2d_backward(NULL, dy, x, &p);
    }
    char what[120];
    const char *names[] = {"avg y", "avg dx", "max y", "max dx"};
    float *bufs[] = {ya, dxa, ym, dxm};
    int64_t sizes[] = {ny, nx, ny, nx};
    for (int i = 0; i < 4; i++) {
        snprintf(what, sizeof what, "pool %s (%d,%d,%d,%d) k %d s %d p %d incl %d", names[i], n,
                 c, h, w, k, stride, pad, include_pad);
        check3(what, bufs[i], sizes[i]);
        /* the same sums in the same order as the reference: the same bits */
        CHECK_MSG(memcmp(bufs[i], bufs[i] + sizes[i], sizeof(float) * (size_t)sizes[i]) == 0, "%s: cpu and ref bits differ", what);
    }
    free(x); free(xr); free(dy); free(ya); free(ym); free(dxa); free(dxm);
}

static void test_pool(void) {
    if (!have_cpu()) return;
    for (int incl = 0; incl < 2; incl++) {
        pool_case(2, 64, 33, 35, 3, 2, 1, incl);
        pool_case(2, 64, 33, 35, 2, 2, 0, incl);
        pool_case(1, 3, 5, 7, 3, 1, 1, incl);
        pool_case(1, 3, 5, 7, 5, 3, 2, incl);
        pool_case(3, 1, 1, 17, 1, 1, 0, incl);
        /* InceptionV3's: 3x3 stride 1 'same', 3x3 stride 2 'valid' */
        pool_case(2, 5, 35, 35, 3, 1, 1, incl);
        pool_case(1, 4, 71, 71, 3, 2, 0, incl);
        pool_case(1, 2, 9, 40, 3, 2, 1, incl);
    }
}

/* ---- upsampling ---- */

static void upsample_case(int n, int c, int h, int w, int oh, int ow) {
    int64_t nx = (int64_t)n * c * h * w, ny = (int64_t)n * c * oh * ow;
    float *x = test_rand_buf(nx, 80, -1, 1), *dy = test_rand_buf(ny, 81, -1, 1);
    for (int mode = 0; mode < 3; mode++) {  /* nearest, bilinear, bilinear align_corners */
        upsample_mode m = mode == 0 ? UPSAMPLE_NEAREST : UPSAMPLE_BILINEAR;
        bool ac = mode == 2;
        float *y = outs3(ny, 82), *dx = outs3(nx, 83);
        for (int v = 0; v < 3; v++) {
            const backend *be = variant(v);
            be->upsample_forward(m, ac, y + v * ny, x, n, c, h, w, oh, ow);
            be->upsample_backward(m, ac, dx + v * nx, dy, n, c, h, w, oh, ow);
            be->upsample_backward(m, ac, NULL, dy, n, c, h, w, oh, ow);
        }
        char what[120];
        snprintf(what, sizeof what, "upsample mode %d %dx%d -> %dx%d y", mode, h, w, oh, ow);
        check3(what, y, ny);
        snprintf(what, sizeof what, "upsample mode %d %dx%d -> %dx%d dx", mode, h, w, oh, ow);
        check3(what, dx, nx);
        free(y); free(dx);
    }
    free(x); free(dy);
}

static void test_upsample(void) {
    if (!have_cpu()) return;
    upsample_case(2, 64, 33, 35, 66, 70);
    upsample_case(2, 64, 14, 14, 46, 46);  /* nearest's float-rounded scale: 14 -> 46 */
    upsample_case(1, 3, 5, 7, 17, 3);      /* up along one axis, down along the other */
    upsample_case(1, 3, 5, 7, 1, 1);       /* align_corners with one output */
    upsample_case(3, 1, 1, 1, 5, 7);
    upsample_case(1, 5, 17, 17, 7, 5);
}

/* ---- padding ---- */

static void pad_case(int n, int c, int h, int w, int t, int b, int l, int r) {
    int oh = h + t + b, ow = w + l + r;
    int64_t nx = (int64_t)n * c * h * w, ny = (int64_t)n * c * oh * ow;
    float *x = test_rand_buf(nx, 90, -1, 1), *dy = test_rand_buf(ny, 91, -1, 1);
    for (int m = PAD_ZERO; m <= PAD_REPLICATE; m++) {
        float *y = outs3(ny, 92), *dx = outs3(nx, 93);
        for (int v = 0; v < 3; v++) {
            const backend *be = variant(v);
            be->pad_forward(m, y + v * ny, x, n, c, h, w, t, b, l, r);
            be->pad_backward(m, dx + v * nx, dy, n, c, h, w, t, b, l, r);
            be->pad_backward(m, NULL, dy, n, c, h, w, t, b, l, r);
        }
        char what[120];
        snprintf(what, sizeof what, "pad mode %d %dx%d (%d,%d,%d,%d) y", m, h, w, t, b, l, r);
        check3(what, y, ny);
        snprintf(what, sizeof what, "pad mode %d %dx%d (%d,%d,%d,%d) dx", m, h, w, t, b, l, r);
        check3(what, dx, nx);
        free(y); free(dx);
    }
    free(x); free(dy);
}

static void test_pad(void) {
    if (!have_cpu()) return;
    pad_case(2, 64, 33, 35, 1, 2, 3, 0);
    pad_case(2, 64, 33, 35, 4, 4, 4, 4);
    pad_case(1, 3, 5, 7, 4, 4, 6, 6);  /* the largest reflection pads */
    pad_case(1, 3, 5, 7, 0, 0, 0, 0);
    pad_case(3, 1, 2, 2, 1, 0, 0, 1);
}

/* ---- normalisation ---- */

static void instance_norm_case(int n, int c, int hw, bool affine) {
    int64_t nx = (int64_t)n * c * hw, np = (int64_t)n * c;
    float *x = test_rand_buf(nx, 100, -1, 3), *dy = test_rand_buf(nx, 101, -1, 1);
    float *gamma = affine ? test_rand_buf(c, 102, 0.5f, 1.5f) : NULL, *beta = affine ? test_rand_buf(c, 103, -1, 1) : NULL;
    float *y = outs3(nx, 104), *mean = outs3(np, 105), *rstd = outs3(np, 106);
    float *dx = outs3(nx, 107), *dg = outs3(c, 108), *dbeta = outs3(c, 109), *dx2 = outs3(nx, 110);
    for (int v = 0; v < 3; v++) {
        const backend *be = variant(v);
        be->instance_norm_forward(y + v * nx, mean + v * np, rstd + v * np, x, gamma, beta, n, c, hw, 1e-5f);
        /* backward from ref's statistics, so only the backward is compared */
        be->instance_norm_backward(dx + v * nx, affine ? dg + v * c : NULL, affine ? dbeta + v * c : NULL,
                                   dy, x, mean, rstd, gamma, n, c, hw);
        be->instance_norm_backward(NULL, affine ? dg + v * c : NULL, NULL, dy, x, mean, rstd, gamma, n, c, hw);
        be->instance_norm_backward(dx2 + v * nx, NULL, NULL, dy, x, mean, rstd, gamma, n, c, hw);
    }
    char what[120];
    const char *names[] = {"y", "mean", "rstd", "dx", "dgamma", "dbeta", "dx alone"};
    float *bufs[] = {y, mean, rstd, dx, dg, dbeta, dx2};
    int64_t sizes[] = {nx, np, np, nx, c, c, nx};
    for (int i = 0; i < 7; i++) {
        snprintf(what, sizeof what, "instance norm (%d,%d,%d) affine %d %s", n, c, hw, affine, names[i]);
        check3(what, bufs[i], sizes[i]);
    }
    free(x); free(dy); free(gamma); free(beta); free(y); free(mean); free(rstd);
    free(dx); free(dg); free(dbeta); free(dx2);
}

static void batch_norm_case(int n, int c, int hw, bool affine) {
    int64_t nx = (int64_t)n * c * hw;
    float *x = test_rand_buf(nx, 120, -1, 3), *dy = test_rand_buf(nx, 121, -1, 1);
    float *gamma = affine ? test_rand_buf(c, 122, 0.5f, 1.5f) : NULL, *beta = affine ? test_rand_buf(c, 123, -1, 1) : NULL;
    float *y = outs3(nx, 124), *mean = outs3(c, 125), *rstd = outs3(c, 126);
    float *rm = outs3(c, 127), *rv = outs3(c, 128);
    for (int i = 0; i < 3 * c; i++) rv[i] += 1.0f;  /* a variance */
    float *dx = outs3(nx, 129), *dg = outs3(c, 130), *dbeta = outs3(c, 131);
    float *ye = outs3(nx, 132), *dxe = outs3(nx, 133), *dge = outs3(c, 134), *dbe = outs3(c, 135);
    for (int v = 0; v < 3; v++) {
        const backend *be = variant(v);
        be->batch_norm_forward_train(y + v * nx, mean + v * c, rstd + v * c, affine ? rm + v * c : NULL,
                                     affine ? rv + v * c : NULL, x, gamma, beta, n, c, hw, 1e-5f, 0.1f);
        be->batch_norm_backward_train(dx + v * nx, affine ? dg + v * c : NULL,
                                      affine ? dbeta + v * c : NULL, dy, x, mean, rstd, gamma, n, c, hw);
        be->batch_norm_backward_train(NULL, affine ? dg + v * c : NULL, NULL, dy, x, mean, rstd, gamma, n, c, hw);
        be->batch_norm_forward_eval(ye + v * nx, x, gamma, beta, rm, rv, n, c, hw, 1e-5f);
        be->batch_norm_backward_eval(dxe + v * nx, affine ? dge + v * c : NULL, affine ? dbe + v * c : NULL,
                                     dy, x, gamma, rm, rv, n, c, hw, 1e-5f);
        be->batch_norm_backward_eval(NULL, NULL, affine ? dbe + v * c : NULL, dy, x, gamma, rm, rv, n, c, hw, 1e-5f);
    }
    char what[120];
    const char *names[] = {"y", "mean", "rstd", "running_mean", "running_var", "dx", "dgamma",
                           "dbeta", "eval y", "eval dx", "eval dgamma", "eval dbeta"};
    float *bufs[] = {y, mean, rstd, rm, rv, dx, dg, dbeta, ye, dxe, dge, dbe};
    int64_t sizes[] = {nx, c, c, c, c, nx, c, c, nx, nx, c, c};
    for (int i = 0; i < 12; i++) {
        snprintf(what, sizeof what, "batch norm (%d,%d,%d) affine %d %s", n, c, hw, affine, names[i]);
        check3(what, bufs[i], sizes[i]);
    }
    free(x); free(dy); free(gamma); free(beta); free(y); free(mean); free(rstd); free(rm);
    free(rv); free(dx); free(dg); free(dbeta); free(ye); free(dxe); free(dge); free(dbe);
}

static void adain_case(int n, int c, int hwx, int hws) {
    int64_t nx = (int64_t)n * c * hwx, ns = (int64_t)n * c * hws;
    float *x = test_rand_buf(nx, 140, -1, 3), *s = test_rand_buf(ns, 141, -2, 1), *dy = test_rand_buf(nx, 142, -1, 1);
    float *y = outs3(nx, 143), *dx = outs3(nx, 144), *ds = outs3(ns, 145), *ds2 = outs3(ns, 146);
    for (int v = 0; v < 3; v++) {
        const backend *be = variant(v);
        be->adain_forward(y + v * nx, x, s, n, c, hwx, hws, 1e-5f);
        be->adain_backward(dx + v * nx, ds + v * ns, dy, x, s, n, c, hwx, hws, 1e-5f);
        be->adain_backward(NULL, ds2 + v * ns, dy, x, s, n, c, hwx, hws, 1e-5f);
        be->adain_backward(dx + v * nx, NULL, dy, x, s, n, c, hwx, hws, 1e-5f);
    }
    char what[120];
    const char *names[] = {"y", "dx", "ds", "ds alone"};
    float *bufs[] = {y, dx, ds, ds2};
    int64_t sizes[] = {nx, nx, ns, ns};
    for (int i = 0; i < 4; i++) {
        snprintf(what, sizeof what, "adain (%d,%d,%d,%d) %s", n, c, hwx, hws, names[i]);
        check3(what, bufs[i], sizes[i]);
    }
    free(x); free(s); free(dy); free(y); free(dx); free(ds); free(ds2);
}

static void test_norm(void) {
    if (!have_cpu()) return;
    for (int affine = 0; affine < 2; affine++) {
        instance_norm_case(2, 64, 33 * 35, affine);
        instance_norm_case(1, 3, 5 * 7, affine);
        instance_norm_case(3, 5, 1, affine);  /* one pixel: zero variance */
        instance_norm_case(1, 1, 70001, affine);
        batch_norm_case(2, 64, 33 * 35, affine);
        batch_norm_case(5, 3, 7, affine);
        batch_norm_case(1, 17, 1, affine);
        batch_norm_case(7, 1, 17, affine);
    }
    adain_case(2, 64, 33 * 35, 17 * 19);
    adain_case(1, 3, 5 * 7, 17);
    adain_case(3, 5, 1, 7);   /* one pixel of content */
    adain_case(1, 7, 17, 1);  /* one pixel of style */
}

int main(void) {
    RUN(test_binary);
    RUN(test_unary);
    RUN(test_reduce);
    RUN(test_axis_copy);
    RUN(test_loss);
    RUN(test_tv);
    RUN(test_pool);
    RUN(test_upsample);
    RUN(test_pad);
    RUN(test_norm);
    backend_set_threads(0);
    return test_finish();
}
