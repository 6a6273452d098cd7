/* test_spatial.c: pooling, upsampling and padding (ops_spatial.c, ref/ref_spatial.c).
 *
 * Three kinds of checks: small cases whose numbers come from PyTorch 1.13 (the script is
 * quoted beside each one), hand-computed cases for the conventions PyTorch does not show
 * directly (ties, -inf padding, accumulation), and gradchecks over awkward sizes and every
 * option. Forward tolerances are 1e-5 absolute: the same float formulas as ATen, so only
 * the order of additions differs.
 */
#include <math.h>
#include <string.h>
#include "harness.h"
#include "gradcheck.h"
#include "atelier/ops.h"

#define FWD_ATOL 1e-5

/* x (1, 1, 4, 5) shared by the pooling cases. */
static const float POOL_X[20] = {3, -1, 4, 1, -5, 9, 2, -6, 5, 3, -5, 8, 9, 7, -9, 3, 2, 3, 8, -4};
/* weights r (1, 1, 2, 3) of the pooled output: the gradient is d sum(y r) / dx */
static const float POOL_R[6] = {-0.5f, 0, 0.5f, 1, 1.5f, 2};

static int64_t gcd(int64_t a, int64_t b) { return b ? gcd(b, a % b) : a; }

/* A leaf (shape) in arena a filled with distinct values spaced 0.1 apart, in a scrambled
 * order: no two elements within 2 eps of each other, so max pool has no kinks to skip. */
static tensor *distinct_leaf(arena *a, int ndim, const int *shape) {
    tensor *t = tensor_new(a, ndim, shape);
    int64_t n = t->numel, step = 37;
    while (gcd(step, n) != 1) step += 2;  /* i -> i step mod n is then a permutation */
    for (int64_t i = 0; i < n; i++) t->data[i] = (float)((i * step) % n) * 0.1f - 0.05f * n;
    tensor_requires_grad(t);
    return t;
}

/* Runs y = pool(x), then backward from sum(y * r); checks both against PyTorch's numbers. */
static void check_pool_torch(bool is_max, const float *want_y, const float *want_dx) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 4, (int[]){1, 1, 4, 5}, POOL_X);
    tensor_requires_grad(x);
    tensor *y = is_max ? op_max_pool2d(a, x, 3, 2, 1) : op_avg_pool2d(a, x, 3, 2, 1);
    CHECK_OK(y);
    if (y) {
        CHECK(y->ndim == 4 && y->shape[2] == 2 && y->shape[3] == 3);
        CHECK_ARRAY(y->data, want_y, 6, FWD_ATOL, 0);
        tensor *r = tensor_from(a, 4, y->shape, POOL_R);
        CHECK(tensor_backward(op_sum(a, op_mul(a, y, r), -1, false)) == STATUS_OK);
        CHECK_ARRAY(x->grad, want_dx, 20, FWD_ATOL, 0);
    }
    arena_free(a);
}

/* PyTorch: x = POOL_X as (1, 1, 4, 5); y = F.avg_pool2d(x, 3, 2, 1);
 * (y * POOL_R).sum().backward() */
static void test_avg_pool2d_torch(void) {
    static const float y[6] = {1.444444f, 0.5555556f, 0.4444444f, 2.111111f, 4.222222f, 1.111111f};
    static const float dx[20] = {-0.05555556f, -0.05555556f, 0, 0.05555556f, 0.05555556f,
        0.05555556f, 0.2222222f, 0.1666667f, 0.4444444f, 0.2777778f, 0.1111111f, 0.2777778f,
        0.1666667f, 0.3888889f, 0.2222222f, 0.1111111f, 0.2777778f, 0.1666667f, 0.3888889f,
        0.2222222f};
    check_pool_torch(false, y, dx);
}

/* PyTorch: as above with F.max_pool2d(x, 3, 2, 1) */
static void test_max_pool2d_torch(void) {
    static const float y[6] = {9, 5, 5, 9, 9, 8};
    static const float dx[20] = {0, 0, 0, 0, 0, 0.5f, 0, 0, 0.5f, 0, 0, 0, 1.5f, 0, 0, 0, 0, 0,
                                 2, 0};
    check_pool_torch(true, y, dx);
}

/* The kernel's count_include_pad = false (not reachable from op_avg_pool2d, which follows
 * PyTorch's default). PyTorch: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False). */
static void test_avg_pool2d_exclude_pad(void) {
    static const float want[6] = {3.25f, 0.83333331f, 1, 3.1666667f, 4.2222223f, 1.6666666f};
    pool2d_params p = {.n = 1, .c = 1, .h = 4, .w = 5, .oh = 2, .ow = 3, .kh = 3, .kw = 3,
                       .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1,
                       .count_include_pad = false};
    float y[6], dx[20] = {0}, dy[6] = {1, 1, 1, 1, 1, 1};
    backend_ref()->avg_pool2d_forward(y, POOL_X, &p);
    CHECK_ARRAY(y, want, 6, FWD_ATOL, 0);
    // x[0][0] lies only in window (0, 0), which has 4 real pixels: its gradient is 1/4
    backend_ref()->avg_pool2d_backward(dx, dy, &p);
    CHECK_NEAR(dx[0], 0.25, 1e-7, 0);
    // x[1][2] lies in window (0, 1) (rows 0..1 real, cols 1..3: 6 pixels) and window (1, 1)
    // (rows 1..3, cols 1..3: 9 pixels): 1/6 + 1/9
    CHECK_NEAR(dx[1 * 5 + 2], 1.0 / 6 + 1.0 / 9, 1e-6, 0);
}

/* Ties go to the first maximum in row-major window order; padding is -inf, never 0. */
static void test_max_pool2d_ties_and_padding(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_fill(tensor_new(a, 4, (int[]){1, 1, 2, 2}), -1.0f);
    tensor_requires_grad(x);
    // (1, 1, 3, 3): every window holds at least one real pixel
    tensor *y = op_max_pool2d(a, x, 2, 1, 1);
    CHECK_OK(y);
    if (y) {
        for (int i = 0; i < 9; i++) CHECK_NEAR(y->data[i], -1.0, 0, 0);  // not the pad's 0
        CHECK(tensor_backward(op_sum(a, y, -1, false)) == STATUS_OK);
        // window (oy, ox) covers real rows oy-1..oy; its first real pixel is
        // (max(oy-1, 0), max(ox-1, 0)); counting, x[0][0] is first in 4 windows, x[0][1] in 2,
        // x[1][0] in 2, x[1][1] in 1.
        float want[4] = {4, 2, 2, 1};
        CHECK_ARRAY(x->grad, want, 4, 0, 0);
    }
    arena_free(a);
}

/* Backward kernels add into dx and skip a NULL dx (backend.h): running one twice on the
 * same buffer must give twice the gradient of running it once. */
static void test_spatial_backward_accumulates(void) {
    const backend *be = backend_ref();
    pool2d_params p = {.n = 1, .c = 1, .h = 4, .w = 5, .oh = 2, .ow = 3, .kh = 3, .kw = 3,
                       .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1,
                       .count_include_pad = true};
    float dy[30], once[20], twice[20];
    for (int i = 0; i < 30; i++) dy[i] = 0.25f * i - 2;
    for (int kernel = 0; kernel < 4; kernel++) {
        memset(once, 0, sizeof once);
        memset(twice, 0, sizeof twice);
        for (int k = 0; k < 3; k++) {
            float *dx = k == 0 ? once : twice;
            switch (kernel) {
            case 0: be->max_pool2d_backward(dx, dy, POOL_X, &p); break;
            case 1: be->avg_pool2d_backward(dx, dy, &p); break;
            // dx (1, 1, 4, 5) from dy (1, 1, 4, 6), and from dy (1, 1, 5, 6) (padded 1, 0, 0, 1)
            case 2:
                be->upsample_backward(UPSAMPLE_BILINEAR, false, dx, dy, 1, 1, 4, 5, 4, 6);
                break;
            default: be->pad_backward(PAD_REFLECT, dx, dy, 1, 1, 4, 5, 1, 0, 0, 1); break;
            }
        }
        float s = 0;
        for (int i = 0; i < 20; i++) s += fabsf(once[i]);
        CHECK_MSG(s > 0, "backward kernel %d wrote nothing", kernel);
        for (int i = 0; i < 20; i++) CHECK_NEAR(twice[i], 2 * once[i], 1e-6, 0);
    }
    // NULL gradient outputs are skipped, not written (this would crash otherwise)
    be->avg_pool2d_backward(NULL, dy, &p);
    be->max_pool2d_backward(NULL, dy, POOL_X, &p);
    be->upsample_backward(UPSAMPLE_NEAREST, false, NULL, dy, 1, 1, 4, 5, 4, 6);
    be->pad_backward(PAD_ZERO, NULL, dy, 1, 1, 4, 5, 1, 0, 0, 1);
}

typedef struct pool_case { bool is_max; int kernel, stride, pad; } pool_case;

static tensor *pool_fn(arena *a, tensor **in, void *user) {
    const pool_case *c = user;
    return c->is_max ? op_max_pool2d(a, in[0], c->kernel, c->stride, c->pad)
                     : op_avg_pool2d(a, in[0], c->kernel, c->stride, c->pad);
}

/* Every kernel 1..3, stride 1..3, legal pad, on (1, 3, 5, 7) and (2, 1, 3, 4). */
static void test_pool2d_gradcheck(void) {
    static const int shapes[2][4] = {{1, 3, 5, 7}, {2, 1, 3, 4}};
    arena *a = arena_new(1 << 16);
    for (int s = 0; s < 2; s++) {
        tensor *x = distinct_leaf(a, 4, shapes[s]);
        for (int is_max = 0; is_max < 2; is_max++)
            for (int k = 1; k <= 3; k++)
                for (int st = 1; st <= 3; st++)
                    for (int pd = 0; pd <= k / 2; pd++) {
                        pool_case c = {is_max, k, st, pd};
                        char name[96];
                        snprintf(name, sizeof name, "%s k%d s%d p%d shape %d",
                                 is_max ? "max_pool2d" : "avg_pool2d", k, st, pd, s);
                        gradcheck(name, pool_fn, &x, 1, &c, gradcheck_defaults());
                    }
    }
    arena_free(a);
}

static void test_pool2d_shapes(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_new(a, 4, (int[]){2, 3, 7, 5});
    tensor *y = op_avg_pool2d(a, x, 3, 2, 1);  // (7 + 2 - 3) / 2 + 1 = 4, (5 + 2 - 3) / 2 + 1 = 3
    CHECK_OK(y);
    if (y) CHECK(y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 4 && y->shape[3] == 3);
    y = op_max_pool2d(a, x, 2, 3, 0);  // floor mode: (7 - 2) / 3 + 1 = 2, (5 - 2) / 3 + 1 = 2
    CHECK_OK(y);
    if (y) CHECK(y->shape[2] == 2 && y->shape[3] == 2);
    arena_free(a);
}

/* ---- upsampling ---- */

/* u (1, 1, 2, 3) for the PyTorch cases; r (1, 1, 3, 5) = arange(15) * 0.1 - 0.7 */
static const float UP_X[6] = {1, 2, 4, -3, 0.5f, 2};

/* y = upsample_to(UP_X, 3x5), backward from sum(y r); compares with PyTorch. */
static void check_upsample_torch(upsample_mode m, bool ac, const float *want_y,
                                 const float *want_dx) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 4, (int[]){1, 1, 2, 3}, UP_X);
    tensor_requires_grad(x);
    tensor *y = op_upsample_to(a, x, m, 3, 5, ac);
    CHECK_OK(y);
    if (y) {
        CHECK_ARRAY(y->data, want_y, 15, FWD_ATOL, 0);
        tensor *r = tensor_new(a, 4, y->shape);
        for (int i = 0; i < 15; i++) r->data[i] = i * 0.1f - 0.7f;
        CHECK(tensor_backward(op_sum(a, op_mul(a, y, r), -1, false)) == STATUS_OK);
        CHECK_ARRAY(x->grad, want_dx, 6, FWD_ATOL, 0);
    }
    arena_free(a);
}

/* PyTorch: y = F.interpolate(u, size=(3, 5), mode=..., align_corners=...);
 * (y * r).sum().backward() */
static void test_upsample_torch_2x3_to_3x5(void) {
    static const float near_y[15] = {1, 1, 2, 2, 4, 1, 1, 2, 2, 4, -3, -3, 0.5f, 0.5f, 2};
    static const float near_dx[6] = {-1.6f, -0.8f, -0.09999993f, 0.7f, 1.1f, 0.7f};
    static const float bil_y[15] = {1, 1.4f, 2, 3.2f, 4, -1, -0.09999992f, 1.25f, 2.3f, 3, -3,
                                    -1.6f, 0.5000001f, 1.4f, 2};
    static const float bil_dx[6] = {-1.19f, -0.9f, -0.41f, 0.41f, 0.9000001f, 1.19f};
    static const float ac_y[15] = {1, 1.5f, 2, 3, 4, -1, 0.125f, 1.25f, 2.125f, 3, -3, -1.25f,
                                   0.5f, 1.25f, 2};
    static const float ac_dx[6] = {-1.125f, -1, -0.3749999f, 0.3750001f, 1, 1.125f};
    check_upsample_torch(UPSAMPLE_NEAREST, false, near_y, near_dx);
    check_upsample_torch(UPSAMPLE_BILINEAR, false, bil_y, bil_dx);
    check_upsample_torch(UPSAMPLE_BILINEAR, true, ac_y, ac_dx);
}

static void check_upsample_values(tensor *y, const float *want, int64_t n) {
    CHECK_OK(y);
    if (y) {
        CHECK(y->numel == n);
        if (y->numel == n) CHECK_ARRAY(y->data, want, n, FWD_ATOL, 0);
    }
}

/* Non-integer ratios up and down. PyTorch: u = (arange(15.) * 7 % 11 - 5).reshape(1, 1, 3, 5);
 * F.interpolate(u, size=..., mode=..., align_corners=...) */
static void test_upsample_torch_ratios(void) {
    static const float u[15] = {-5, 2, -2, 5, 1, -3, 4, 0, -4, 3, -1, -5, 2, -2, 5};
    static const float near47[28] = {-5, -5, 2, -2, -2, 5, 1, -5, -5, 2, -2, -2, 5, 1, -3, -3, 4,
                                     0, 0, -4, 3, -1, -1, -5, 2, 2, -2, 5};
    static const float near23[6] = {-5, 2, 5, -3, 4, -4};
    static const float bil47[28] = {-5, -0.99999982f, 0.85714269f, -1.9999995f, 3.0000005f,
        3.2857139f, 1, -3.75f, 0.25000018f, 2.1071427f, -0.75f, -0.66071433f, 0.60714304f, 2.25f,
        -2.25f, -0.60714287f, 0.66071421f, 0.74999976f, -2.1071432f, -0.24999934f, 3.75f, -1,
        -3.2857141f, -2.9999995f, 1.9999998f, -0.85714316f, 1.0000007f, 5};
    static const float bil23[6] = {-2.1666667f, -1.4999998f, 1.9166667f, -1.9166666f, 1.4999998f,
                                   2.166666f};
    static const float ac47[28] = {-5, -0.33333319f, 0.66666651f, -1.9999995f, 2.6666672f,
        3.6666663f, 1, -3.6666665f, 1.0000002f, 1.9999998f, -0.66666663f, -0.88888896f,
        0.11111137f, 2.3333335f, -2.3333333f, -0.1111113f, 0.8888886f, 0.66666651f, -2.0000002f,
        -0.99999928f, 3.6666667f, -1, -3.6666667f, -2.6666663f, 1.9999998f, -0.66666698f,
        0.33333403f, 5};
    static const float ac23[6] = {-5, -2, 1, -1, 2, 5};
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 4, (int[]){1, 1, 3, 5}, u);
    check_upsample_values(op_upsample_to(a, x, UPSAMPLE_NEAREST, 4, 7, false), near47, 28);
    check_upsample_values(op_upsample_to(a, x, UPSAMPLE_NEAREST, 2, 3, false), near23, 6);
    check_upsample_values(op_upsample_to(a, x, UPSAMPLE_BILINEAR, 4, 7, false), bil47, 28);
    check_upsample_values(op_upsample_to(a, x, UPSAMPLE_BILINEAR, 2, 3, false), bil23, 6);
    check_upsample_values(op_upsample_to(a, x, UPSAMPLE_BILINEAR, 4, 7, true), ac47, 28);
    check_upsample_values(op_upsample_to(a, x, UPSAMPLE_BILINEAR, 2, 3, true), ac23, 6);
    arena_free(a);
}

/* op_upsample(factor) is F.interpolate(scale_factor=factor), align_corners false.
 * PyTorch: F.interpolate(u (1, 1, 2, 3) = UP_X, scale_factor=2, mode="bilinear") */
static void test_upsample_factor(void) {
    static const float bil[24] = {1, 1.25f, 1.75f, 2.5f, 3.5f, 4, 0, 0.40625f, 1.21875f,
        2.09375f, 3.03125f, 3.5f, -2, -1.28125f, 0.15625f, 1.28125f, 2.09375f, 2.5f, -3, -2.125f,
        -0.375f, 0.875f, 1.625f, 2};
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 4, (int[]){1, 1, 2, 3}, UP_X);
    check_upsample_values(op_upsample(a, x, UPSAMPLE_BILINEAR, 2), bil, 24);
    tensor *y = op_upsample(a, x, UPSAMPLE_NEAREST, 3);  // each pixel becomes a 3x3 block
    CHECK_OK(y);
    if (y) {
        CHECK(y->shape[2] == 6 && y->shape[3] == 9);
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 9; j++)
                CHECK_NEAR(y->data[i * 9 + j], UP_X[(i / 3) * 3 + j / 3], 0, 0);
    }
    check_upsample_values(op_upsample(a, x, UPSAMPLE_BILINEAR, 1), UP_X, 6);  // identity
    arena_free(a);
}

/* Nearest rounds the scale in / out to float before multiplying, as PyTorch does; for
 * 14 -> 46 that picks source 6 for output 23 where the exact floor(23 * 14 / 46) is 7.
 * PyTorch: F.interpolate(arange(14.).reshape(1, 1, 1, 14), size=(1, 46), mode="nearest") */
static void test_upsample_nearest_float_scale(void) {
    static const float want[46] = {0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6,
        6, 6, 6, 7, 7, 7, 8, 8, 8, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 12, 12, 12, 13, 13, 13};
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_new(a, 4, (int[]){1, 1, 1, 14});
    for (int i = 0; i < 14; i++) x->data[i] = (float)i;
    check_upsample_values(op_upsample_to(a, x, UPSAMPLE_NEAREST, 1, 46, false), want, 46);
    arena_free(a);
}

typedef struct up_case { upsample_mode m; int factor, oh, ow; bool ac; } up_case;

static tensor *upsample_fn(arena *a, tensor **in, void *user) {
    const up_case *c = user;
    if (c->factor) return op_upsample(a, in[0], c->m, c->factor);
    return op_upsample_to(a, in[0], c->m, c->oh, c->ow, c->ac);
}

static void test_upsample_gradcheck(void) {
    static const up_case cases[] = {
        {UPSAMPLE_NEAREST, 2, 0, 0, false}, {UPSAMPLE_NEAREST, 3, 0, 0, false},
        {UPSAMPLE_BILINEAR, 2, 0, 0, false}, {UPSAMPLE_BILINEAR, 3, 0, 0, false},
        {UPSAMPLE_NEAREST, 0, 8, 11, false}, {UPSAMPLE_BILINEAR, 0, 8, 11, false},
        {UPSAMPLE_BILINEAR, 0, 8, 11, true}, {UPSAMPLE_NEAREST, 0, 3, 4, false},
        {UPSAMPLE_BILINEAR, 0, 3, 4, false}, {UPSAMPLE_BILINEAR, 0, 3, 4, true},
        {UPSAMPLE_BILINEAR, 0, 1, 1, true}, {UPSAMPLE_BILINEAR, 0, 1, 3, false},
    };
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_new(a, 4, (int[]){1, 2, 5, 7});  // (N, C, H, W), 5x7 -> 8x11 etc.
    test_fill_uniform(x, 11, -1, 1);
    tensor_requires_grad(x);
    tensor *x1 = tensor_new(a, 4, (int[]){2, 1, 1, 3});  // a single row: H = 1 edge cases
    test_fill_uniform(x1, 12, -1, 1);
    tensor_requires_grad(x1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[96];
        snprintf(name, sizeof name, "upsample case %zu", i);
        gradcheck(name, upsample_fn, &x, 1, (void *)&cases[i], gradcheck_defaults());
        snprintf(name, sizeof name, "upsample case %zu on (2, 1, 1, 3)", i);
        gradcheck(name, upsample_fn, &x1, 1, (void *)&cases[i], gradcheck_defaults());
    }
    arena_free(a);
}

/* ---- padding ---- */

/* p (1, 1, 2, 3) = [[1, 2, 3], [4, 5, 6]]; PyTorch: y = F.pad(p, (2, 1, 1, 0), mode=...)
 * (left 2, right 1, top 1, bottom 0); r = arange(y.numel()); (y * r).sum().backward() */
static void check_pad_torch(pad_mode m, const float *want_y, const float *want_dx) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 4, (int[]){1, 1, 2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    tensor_requires_grad(x);
    tensor *y = op_pad(a, x, m, 1, 0, 2, 1);
    CHECK_OK(y);
    if (y) {
        CHECK(y->shape[2] == 3 && y->shape[3] == 6);
        CHECK_ARRAY(y->data, want_y, 18, 0, 0);
        tensor *r = tensor_new(a, 4, y->shape);
        for (int i = 0; i < 18; i++) r->data[i] = (float)i;
        CHECK(tensor_backward(op_sum(a, op_mul(a, y, r), -1, false)) == STATUS_OK);
        CHECK_ARRAY(x->grad, want_dx, 6, 0, 0);
    }
    arena_free(a);
}

static void test_pad_torch(void) {
    static const float zero_y[18] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0};
    static const float zero_dx[6] = {8, 9, 10, 14, 15, 16};
    static const float refl_y[18] = {6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5};
    static const float refl_dx[6] = {8, 27, 16, 16, 54, 32};
    static const float repl_y[18] = {1, 1, 1, 2, 3, 3, 1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 6, 6};
    static const float repl_dx[6] = {24, 12, 30, 39, 15, 33};
    check_pad_torch(PAD_ZERO, zero_y, zero_dx);
    check_pad_torch(PAD_REFLECT, refl_y, refl_dx);
    check_pad_torch(PAD_REPLICATE, repl_y, repl_dx);
}

typedef struct pad_case { pad_mode m; int top, bottom, left, right; } pad_case;

static tensor *pad_fn(arena *a, tensor **in, void *user) {
    const pad_case *c = user;
    return op_pad(a, in[0], c->m, c->top, c->bottom, c->left, c->right);
}

static void test_pad_gradcheck(void) {
    static const pad_case cases[] = {
        {PAD_ZERO, 1, 2, 3, 0}, {PAD_ZERO, 0, 0, 0, 0}, {PAD_REFLECT, 1, 1, 1, 1},
        {PAD_REFLECT, 4, 2, 6, 3}, {PAD_REFLECT, 0, 3, 2, 0}, {PAD_REPLICATE, 2, 1, 0, 5},
        {PAD_REPLICATE, 7, 7, 7, 7},
    };
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_new(a, 4, (int[]){1, 3, 5, 7});
    test_fill_uniform(x, 21, -1, 1);
    tensor_requires_grad(x);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "pad case %zu", i);
        gradcheck(name, pad_fn, &x, 1, (void *)&cases[i], gradcheck_defaults());
    }
    arena_free(a);
}

/* ---- errors ---- */


static void test_spatial_errors(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_new(a, 4, (int[]){1, 2, 3, 5});
    tensor *x3 = tensor_new(a, 3, (int[]){2, 3, 5});
    CHECK_FAILS(op_avg_pool2d(a, x3, 2, 2, 0), STATUS_SHAPE, "(2, 3, 5)");
    CHECK_FAILS(op_max_pool2d(a, x, 3, 1, 2), STATUS_ARG, "pad 2");  // pad > kernel / 2
    CHECK_FAILS(op_max_pool2d(a, x, 0, 1, 0), STATUS_ARG, "kernel 0");
    CHECK_FAILS(op_avg_pool2d(a, x, 2, 0, 0), STATUS_ARG, "stride 0");
    CHECK_FAILS(op_avg_pool2d(a, x, 2, 1, -1), STATUS_ARG, "pad -1");
    CHECK_FAILS(op_max_pool2d(a, x, 4, 1, 0), STATUS_SHAPE, "(1, 2, 3, 5)");  // 3 < 4
    CHECK_FAILS(op_upsample(a, x, UPSAMPLE_NEAREST, 0), STATUS_ARG, "factor 0");
    CHECK_FAILS(op_upsample(a, x3, UPSAMPLE_NEAREST, 2), STATUS_SHAPE, "(2, 3, 5)");
    CHECK_FAILS(op_upsample_to(a, x, UPSAMPLE_BILINEAR, 0, 4, false), STATUS_ARG, "(0, 4)");
    CHECK_FAILS(op_upsample_to(a, x, UPSAMPLE_NEAREST, 4, 4, true), STATUS_ARG, "align_corners");
    CHECK_FAILS(op_pad(a, x, PAD_REFLECT, 3, 0, 0, 0), STATUS_SHAPE, "(1, 2, 3, 5)");
    CHECK_FAILS(op_pad(a, x, PAD_REFLECT, 0, 0, 0, 5), STATUS_SHAPE, "(1, 2, 3, 5)");
    CHECK_FAILS(op_pad(a, x, PAD_ZERO, 0, -1, 0, 0), STATUS_ARG, "bottom -1");
    CHECK_FAILS(op_pad(a, x3, PAD_ZERO, 1, 1, 1, 1), STATUS_SHAPE, "(2, 3, 5)");
    CHECK_OK(op_pad(a, x, PAD_REFLECT, 2, 2, 4, 4));  // the largest legal reflection pads
    // a NULL input keeps the first reason
    error_clear();
    tensor *y = op_max_pool2d(a, op_pad(a, x, PAD_REFLECT, 9, 0, 0, 0), 2, 2, 0);
    CHECK(y == NULL && error_status() == STATUS_SHAPE && strstr(error_message(), "pad:") != NULL);
    error_clear();
    CHECK(op_upsample(a, NULL, UPSAMPLE_NEAREST, 2) == NULL && error_status() == STATUS_OK);
    CHECK(op_avg_pool2d(a, NULL, 2, 2, 0) == NULL && error_status() == STATUS_OK);
    arena_free(a);
}

/* Inference: with autograd off the ops record nothing but compute the same values. */
static void test_spatial_no_grad(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 4, (int[]){1, 1, 4, 5}, POOL_X);
    tensor_requires_grad(x);
    bool was = autograd_set(false);
    tensor *y = op_max_pool2d(a, op_upsample(a, op_pad(a, x, PAD_REFLECT, 1, 1, 1, 1),
                                             UPSAMPLE_BILINEAR, 2), 2, 2, 0);
    autograd_set(was);
    CHECK_OK(y);
    if (y) CHECK(y->backward == NULL && y->shape[2] == 6 && y->shape[3] == 7);
    arena_free(a);
}

int main(void) {
    RUN(test_avg_pool2d_torch);
    RUN(test_max_pool2d_torch);
    RUN(test_avg_pool2d_exclude_pad);
    RUN(test_max_pool2d_ties_and_padding);
    RUN(test_spatial_backward_accumulates);
    RUN(test_pool2d_shapes);
    RUN(test_pool2d_gradcheck);
    RUN(test_upsample_torch_2x3_to_3x5);
    RUN(test_upsample_torch_ratios);
    RUN(test_upsample_factor);
    RUN(test_upsample_nearest_float_scale);
    RUN(test_upsample_gradcheck);
    RUN(test_pad_torch);
    RUN(test_pad_gradcheck);
    RUN(test_spatial_errors);
    RUN(test_spatial_no_grad);
    return test_finish();
}
