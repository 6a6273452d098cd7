/* test_conv.c: conv2d and conv_transpose2d (ops_conv.c, ref/ref_conv.c).
 *
 * Checks: hand-computed small cases; output-shape formulas; forward values from PyTorch 1.13
 * (inputs are a closed-form pattern, test_sin_pattern() below, so only the outputs are pasted); the
 * adjoint identity <conv2d(x), u> = <x, conv_transpose2d(u)> that ties the two ops'
 * conventions together; the kernels' accumulate/NULL contract; gradchecks of x, w and b over
 * awkward sizes and every option; and the error paths.
 *
 * Forward tolerance vs PyTorch: 1e-5 absolute and relative: float sums of at most 36
 * products of magnitude <= 1 in another order (~1e-6) and literals printed to 7 digits.
 */
#include <math.h>
#include <string.h>
#include "harness.h"
#include "gradcheck.h"
#include "atelier/ops.h"

#define TORCH_TOL 1e-5



static conv2d_opts opts(int stride, int pad, int dilation, int groups, int out_pad) {
    conv2d_opts o = conv2d_defaults();
    o.stride = stride; o.pad = pad; o.dilation = dilation; o.groups = groups; o.out_pad = out_pad;
    return o;
}

/* ---- hand-computed cases ---- */

/* x (1, 1, 3, 3) = 1..9, w (1, 1, 2, 2) = ones, b = 0.5: each output is a 2x2 window sum. */
static void test_conv2d_hand(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 4, (int[]){1, 1, 3, 3}, (float[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
    tensor *w = tensor_fill(tensor_new(a, 4, (int[]){1, 1, 2, 2}), 1.0f);
    tensor *b = tensor_from(a, 1, (int[]){1}, (float[]){0.5f});
    tensor *y = op_conv2d(a, x, w, b, conv2d_defaults());
    CHECK_OK(y);
    if (y) {
        CHECK(y->ndim == 4 && y->shape[2] == 2 && y->shape[3] == 2);
        CHECK_ARRAY(y->data, ((float[]){12.5f, 16.5f, 24.5f, 28.5f}), 4, 0, 0);
    }
    /* stride 2, pad 1: windows at (-1, -1), (-1, 1), (1, -1), (1, 1) see 1; 2+3; 4+7; 5+6+8+9 */
    y = op_conv2d(a, x, w, NULL, opts(2, 1, 1, 1, 0));
    CHECK_OK(y);
    if (y) CHECK_ARRAY(y->data, ((float[]){1, 5, 11, 28}), 4, 0, 0);
    /* dilation 2 with a 2x2 kernel: the corners 1 + 3 + 7 + 9 */
    y = op_conv2d(a, x, w, NULL, opts(1, 0, 2, 1, 0));
    CHECK_OK(y);
    if (y) CHECK(y->numel == 1 && y->data[0] == 20.0f);
    arena_free(a);
}

/* x (1, 1, 2, 2) = 1..4 with w ones (1, 1, 2, 2): stride 1 overlaps the spread windows,
 * stride 2 tiles them (each pixel becomes a 2x2 block). */
static void test_conv_transpose2d_hand(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 4, (int[]){1, 1, 2, 2}, (float[]){1, 2, 3, 4});
    tensor *w = tensor_fill(tensor_new(a, 4, (int[]){1, 1, 2, 2}), 1.0f);
    tensor *y = op_conv_transpose2d(a, x, w, NULL, conv2d_defaults());
    CHECK_OK(y);
    if (y) {
        CHECK(y->shape[2] == 3 && y->shape[3] == 3);
        CHECK_ARRAY(y->data, ((float[]){1, 3, 2, 4, 10, 6, 3, 7, 4}), 9, 0, 0);
    }
    tensor *b = tensor_from(a, 1, (int[]){1}, (float[]){-1});
    y = op_conv_transpose2d(a, x, w, b, opts(2, 0, 1, 1, 1));  /* out_pad 1: a row of bias */
    CHECK_OK(y);
    if (y) {
        CHECK(y->shape[2] == 5 && y->shape[3] == 5);
        float want[25] = {0, 0, 1, 1, -1,  0, 0, 1, 1, -1,  2, 2, 3, 3, -1,  2, 2, 3, 3, -1,
                          -1, -1, -1, -1, -1};
        CHECK_ARRAY(y->data, want, 25, 0, 0);
    }
    arena_free(a);
}

/* groups 2 on x (1, 2, 1, 1) = {2, 3}, w (4, 1, 1, 1) = {1, 10, 100, 1000}: outputs 0, 1 see
 * channel 0 only, outputs 2, 3 channel 1 only. */
static void test_conv2d_groups_hand(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 4, (int[]){1, 2, 1, 1}, (float[]){2, 3});
    tensor *w = tensor_from(a, 4, (int[]){4, 1, 1, 1}, (float[]){1, 10, 100, 1000});
    tensor *y = op_conv2d(a, x, w, NULL, opts(1, 0, 1, 2, 0));
    CHECK_OK(y);
    if (y) CHECK_ARRAY(y->data, ((float[]){2, 20, 300, 3000}), 4, 0, 0);
    /* transpose, groups 2: x (1, 4, 1, 1) = {1, 1, 1, 1}, w (4, 1, ..) -> y (1, 2, 1, 1):
     * y0 = w0 + w1, y1 = w2 + w3 */
    tensor *xt = tensor_fill(tensor_new(a, 4, (int[]){1, 4, 1, 1}), 1.0f);
    y = op_conv_transpose2d(a, xt, w, NULL, opts(1, 0, 1, 2, 0));
    CHECK_OK(y);
    if (y) CHECK(y->shape[1] == 2 && y->data[0] == 11 && y->data[1] == 1100);
    arena_free(a);
}

/* ---- output shapes ---- */

static void check_shape(tensor *y, int n, int c, int h, int w) {
    CHECK_MSG(y && y->ndim == 4 && y->shape[0] == n && y->shape[1] == c && y->shape[2] == h &&
              y->shape[3] == w, "want (%d, %d, %d, %d): %s", n, c, h, w,
              y ? "shape differs" : error_message());
}

static void test_output_shapes(void) {
    arena *a = arena_new(1 << 20);
    tensor *x = tensor_new(a, 4, (int[]){2, 4, 7, 9});
    tensor *w3 = tensor_new(a, 4, (int[]){6, 2, 3, 3});   /* conv2d, groups 2 */
    // OH = (7 + 2*2 - 2*2 - 1) / 2 + 1 = 4, OW = (9 + 4 - 4 - 1) / 2 + 1 = 5
    check_shape(op_conv2d(a, x, w3, NULL, opts(2, 2, 2, 2, 0)), 2, 6, 4, 5);
    // OH = (7 - 3) / 3 + 1 = 2 (floor), OW = (9 - 3) / 3 + 1 = 3
    check_shape(op_conv2d(a, x, w3, NULL, opts(3, 0, 1, 2, 0)), 2, 6, 2, 3);
    conv2d_opts o = conv2d_defaults();
    o.stride_w = 2; o.pad_h = 1; o.dil_w = 3; o.groups = 2;
    // OH = (7 + 2 - 2 - 1) / 1 + 1 = 7, OW = (9 + 0 - 6 - 1) / 2 + 1 = 2
    check_shape(op_conv2d(a, x, w3, NULL, o), 2, 6, 7, 2);
    tensor *wt = tensor_new(a, 4, (int[]){4, 3, 3, 3});   /* transpose, groups 2 -> OC 6 */
    // OH = (7 - 1) 2 - 2 + 2 + 1 + 1 = 14, OW = (9 - 1) 2 - 2 + 2 + 1 + 1 = 18
    check_shape(op_conv_transpose2d(a, x, wt, NULL, opts(2, 1, 1, 2, 1)), 2, 6, 14, 18);
    // OH = (7 - 1) 3 - 0 + 2 (3 - 1) + 1 + 1 = 24, OW = 8 * 3 + 4 + 2 = 30 (out_pad 1 < stride 3)
    check_shape(op_conv_transpose2d(a, x, wt, NULL, opts(3, 0, 2, 2, 1)), 2, 6, 24, 30);
    arena_free(a);
}

/* ---- agreement with PyTorch ---- */

/* PyTorch: x = test_sin_pattern((1,4,5,7), 0.37, 0.1); w = test_sin_pattern((4,2,3,3), 0.23, 0.5, 0.5);
 * b = test_sin_pattern((4,), 1.1, 0.3, 0.2); F.conv2d(x, w, b, stride=2, padding=1, dilation=2, groups=2) */
static void test_conv2d_torch_groups(void) {
    static const float want[24] = {0.294716f, 0.2706873f, -0.1655127f, 0.2708766f, -0.1919426f,
        -0.6539096f, 0.109167f, -0.4645427f, -0.3940787f, -0.01307188f, -0.2020414f, 0.1537079f,
        0.9581965f, 1.709306f, 1.494894f, 0.9836814f, 1.566244f, 1.172344f, -0.2557117f,
        -0.6582219f, -0.8438916f, -0.7838235f, -1.497934f, -1.402619f};
    arena *a = arena_new(1 << 16);
    tensor *x = test_sin_pattern(a, 4, (int[]){1, 4, 5, 7}, 0.37, 0.1, 1);
    tensor *w = test_sin_pattern(a, 4, (int[]){4, 2, 3, 3}, 0.23, 0.5, 0.5);
    tensor *b = test_sin_pattern(a, 1, (int[]){4}, 1.1, 0.3, 0.2);
    tensor *y = op_conv2d(a, x, w, b, opts(2, 1, 2, 2, 0));
    check_shape(y, 1, 4, 2, 3);
    if (y) CHECK_ARRAY(y->data, want, 24, TORCH_TOL, TORCH_TOL);
    arena_free(a);
}

/* PyTorch: x = test_sin_pattern((2,3,4,5), 0.51, -0.2); w = test_sin_pattern((2,3,2,3), 0.19, 0.7, 0.5);
 * F.conv2d(x, w, None, stride=(1,2), padding=(2,0), dilation=(2,1)) */
static void test_conv2d_torch_nonsquare(void) {
    static const float want[48] = {-0.8715299f, 0.5462042f, 1.379419f, 0.3041076f, -2.108889f,
        -1.001692f, 1.817266f, 1.868564f, -0.7072089f, -0.7595689f, 0.3321425f, 0.8331585f,
        0.8600264f, -0.7342257f, -1.488985f, -0.2049139f, 2.423519f, 0.7699358f, -2.337874f,
        -1.961495f, 1.099143f, 0.939928f, -0.6736777f, -1.177599f, -1.453937f, -0.6150565f,
        1.302323f, 1.25142f, -1.532209f, -2.040862f, 0.4609491f, 1.997761f, -0.1516917f,
        -0.7851557f, -0.3359938f, 0.4820603f, 1.601624f, 0.5605057f, -1.511201f, -1.321483f,
        2.086644f, 2.25468f, -0.9711319f, -2.464866f, 0.4414121f, 1.163067f, 0.2436061f,
        -0.8559157f};
    arena *a = arena_new(1 << 16);
    tensor *x = test_sin_pattern(a, 4, (int[]){2, 3, 4, 5}, 0.51, -0.2, 1);
    tensor *w = test_sin_pattern(a, 4, (int[]){2, 3, 2, 3}, 0.19, 0.7, 0.5);
    conv2d_opts o = conv2d_defaults();
    o.stride_w = 2; o.pad_h = 2; o.dil_h = 2;
    tensor *y = op_conv2d(a, x, w, NULL, o);
    check_shape(y, 2, 2, 6, 2);
    if (y) CHECK_ARRAY(y->data, want, 48, TORCH_TOL, TORCH_TOL);
    arena_free(a);
}

/* PyTorch: x = test_sin_pattern((1,4,2,2), 0.41, 0.2); w = test_sin_pattern((4,2,3,3), 0.29, -0.4, 0.5);
 * b = test_sin_pattern((4,), 0.9, 0.1, 0.2);
 * F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=2) */
static void test_conv_transpose2d_torch_groups(void) {
    static const float want[64] = {-0.05550376f, 0.01202535f, 0.1011456f, 0.2632965f,
        0.1176315f, 0.531702f, 0.4274692f, 0.6441218f, 0.2443388f, 0.5906914f, 0.3503405f,
        0.448915f, 0.569629f, 1.087038f, 0.533356f, 0.5121707f, 0.503029f, 0.7374647f,
        0.3917715f, 0.2279768f, 0.5473666f, 0.6129318f, 0.23125f, -0.03186905f, 0.2434708f,
        0.1399441f, 0.08270893f, -0.05846809f, -0.2192556f, -0.673694f, -0.2738013f,
        -0.3299746f, 0.6517193f, 1.201217f, 0.7458556f, 0.7768946f, 1.061163f, 1.982568f,
        1.091786f, 1.046313f, 0.7477315f, 1.218736f, 0.6570361f, 0.6012524f, 0.5756498f,
        0.7655954f, 0.3939976f, 0.2598349f, -0.1725716f, -0.5470314f, -0.3165658f, -0.4280185f,
        -0.5335753f, -1.342921f, -0.7247844f, -0.8158324f, -0.3969812f, -0.8784405f,
        -0.4004883f, -0.4175239f, -0.4712114f, -0.8660865f, -0.3321614f, -0.2368919f};
    arena *a = arena_new(1 << 16);
    tensor *x = test_sin_pattern(a, 4, (int[]){1, 4, 2, 2}, 0.41, 0.2, 1);
    tensor *w = test_sin_pattern(a, 4, (int[]){4, 2, 3, 3}, 0.29, -0.4, 0.5);
    tensor *b = test_sin_pattern(a, 1, (int[]){4}, 0.9, 0.1, 0.2);
    tensor *y = op_conv_transpose2d(a, x, w, b, opts(2, 1, 1, 2, 1));
    check_shape(y, 1, 4, 4, 4);
    if (y) CHECK_ARRAY(y->data, want, 64, TORCH_TOL, TORCH_TOL);
    arena_free(a);
}

/* PyTorch: x = test_sin_pattern((1,2,2,3), 0.33, 0.0); w = test_sin_pattern((2,1,2,2), 0.61, 0.3, 0.5);
 * y = F.conv_transpose2d(x, w, None, stride=3, padding=2, output_padding=1, dilation=2);
 * r = test_sin_pattern(y.shape, 0.77, 0.4); (y * r).sum().backward()  -> y, x.grad, w.grad.
 * The zeros are output positions no input reaches (stride 3 > the dilated kernel's 3). */
static void test_conv_transpose2d_torch_dilated(void) {
    static const float want_y[18] = {-0.4540766f, -0.107946f, 0, -0.2284211f, 0.1306487f, 0,
        0.3123584f, 0.1123072f, 0, 0.398721f, 0.0555914f, 0, 0, 0, 0, 0, 0, 0};
    static const float want_dx[12] = {0.1650506f, 0.6370809f, -0.1657785f, -0.3762221f,
        0.2718349f, 0.143311f, -0.1927387f, -0.5431431f, 0.1211843f, 0.09859496f, -0.1821004f,
        0.1895576f};
    static const float want_dw[8] = {0.5082266f, 0.04196383f, 0.09481711f, 0.135553f,
        -0.3804096f, -0.2993183f, 0.5208135f, 0.6664063f};
    arena *a = arena_new(1 << 16);
    tensor *x = test_sin_pattern(a, 4, (int[]){1, 2, 2, 3}, 0.33, 0.0, 1);
    tensor *w = test_sin_pattern(a, 4, (int[]){2, 1, 2, 2}, 0.61, 0.3, 0.5);
    tensor_requires_grad(x);
    tensor_requires_grad(w);
    tensor *y = op_conv_transpose2d(a, x, w, NULL, opts(3, 2, 2, 1, 1));
    check_shape(y, 1, 1, 3, 6);
    if (y) {
        CHECK_ARRAY(y->data, want_y, 18, TORCH_TOL, TORCH_TOL);
        tensor *r = test_sin_pattern(a, 4, y->shape, 0.77, 0.4, 1);
        CHECK(tensor_backward(op_sum(a, op_mul(a, y, r), -1, false)) == STATUS_OK);
        CHECK_ARRAY(x->grad, want_dx, 12, TORCH_TOL, TORCH_TOL);
        CHECK_ARRAY(w->grad, want_dw, 8, TORCH_TOL, TORCH_TOL);
    }
    arena_free(a);
}

/* ---- the two ops are adjoint ---- */

static double dot(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* For y = conv2d(x, w) and any u shaped like y: <y, u> = <x, conv_transpose2d(u, w)>, when
 * out_pad = (H + 2 pad - dil (K - 1) - 1) mod stride restores x's size (the cases pick H,
 * W with the same remainder: conv2d_opts has one out_pad for both dims). Checks the weight
 * layout, the group mapping and the padding conventions of both ops against each other. */
static void check_adjoint(int n, int c, int h, int w, int oc, int k, conv2d_opts o) {
    arena *a = arena_new(1 << 20);
    tensor *x = tensor_new(a, 4, (int[]){n, c, h, w});
    tensor *wt = tensor_new(a, 4, (int[]){oc, c / o.groups, k, k});
    test_fill_uniform(x, 1, -1, 1);
    test_fill_uniform(wt, 2, -1, 1);
    tensor *y = op_conv2d(a, x, wt, NULL, o);
    CHECK_OK(y);
    if (!y) { arena_free(a); return; }
    tensor *u = tensor_like(a, y);
    test_fill_uniform(u, 3, -1, 1);
    o.out_pad = (h + 2 * o.pad - o.dilation * (k - 1) - 1) % o.stride;
    tensor *v = op_conv_transpose2d(a, u, wt, NULL, o);
    check_shape(v, n, c, h, w);
    if (v) {
        double lhs = dot(y->data, u->data, y->numel), rhs = dot(x->data, v->data, x->numel);
        CHECK_NEAR(lhs, rhs, 1e-4, 1e-5);
    }
    arena_free(a);
}

static void test_adjoint(void) {
    check_adjoint(1, 3, 5, 7, 4, 3, opts(1, 0, 1, 1, 0));
    check_adjoint(2, 4, 7, 5, 6, 3, opts(2, 1, 1, 2, 0));   /* out_pad 0 */
    check_adjoint(1, 6, 9, 12, 3, 3, opts(3, 2, 2, 3, 0));  /* out_pad 2 */
    check_adjoint(1, 2, 6, 8, 4, 2, opts(2, 0, 2, 2, 0));   /* out_pad 1 */
}

/* ---- the reference kernels' contract: backward adds, NULL gradients are skipped ---- */

static void test_kernel_accumulates(void) {
    /* x (1, 1, 2, 2) = 1..4, w (1, 1, 1, 1) = 3, dy = ones: dx = 3, dw = 10, db = 4 */
    conv2d_params p = {.n = 1, .c = 1, .h = 2, .w = 2, .oc = 1, .kh = 1, .kw = 1, .oh = 2,
                       .ow = 2, .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1,
                       .groups = 1};
    float x[4] = {1, 2, 3, 4}, w[1] = {3}, dy[4] = {1, 1, 1, 1};
    float dx[4] = {1, 1, 1, 1}, dw[1] = {100}, db[1] = {-1};
    const backend *ref = backend_ref();
    ref->conv2d_backward(dx, dw, db, dy, x, w, &p);
    CHECK_ARRAY(dx, ((float[]){4, 4, 4, 4}), 4, 0, 0);
    CHECK(dw[0] == 110 && db[0] == 3);
    ref->conv2d_backward(NULL, dw, NULL, dy, x, w, &p);  /* only dw */
    CHECK(dw[0] == 120 && db[0] == 3);
    ref->conv_transpose2d_backward(dx, NULL, db, dy, x, w, &p);
    CHECK_ARRAY(dx, ((float[]){7, 7, 7, 7}), 4, 0, 0);
    CHECK(dw[0] == 120 && db[0] == 7);
}

/* Only inputs that require a gradient get one. */
static void test_grad_only_where_required(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = test_leaf(a, 4, (int[]){1, 2, 3, 3}, 5, -1.0f, 1.0f);
    tensor *w = tensor_fill(tensor_new(a, 4, (int[]){2, 2, 2, 2}), 0.5f);
    tensor *b = tensor_new(a, 1, (int[]){2});
    tensor *y = op_conv2d(a, x, w, b, conv2d_defaults());
    CHECK(tensor_backward(op_sum(a, y, -1, false)) == STATUS_OK);
    CHECK(x->grad != NULL && w->grad == NULL && b->grad == NULL);
    /* x[0,0,0,0] sits in exactly one window of each output channel: 2 channels x 0.5 */
    if (x->grad) CHECK_NEAR(x->grad[0], 1.0, 1e-6, 0);
    arena_free(a);
}

/* ---- gradchecks ---- */

typedef struct conv_case {
    int n, c, h, w, oc, kh, kw;
    conv2d_opts o;
    bool bias, transpose;
} conv_case;

static tensor *conv_fn(arena *a, tensor **in, void *user) {
    const conv_case *k = user;
    return k->transpose ? op_conv_transpose2d(a, in[0], in[1], in[2], k->o)
                        : op_conv2d(a, in[0], in[1], in[2], k->o);
}

static void gradcheck_case(const char *name, const conv_case *k) {
    arena *a = arena_new(1 << 20);
    int g = k->o.groups;
    int wshape[4] = {k->transpose ? k->c : k->oc, k->transpose ? k->oc / g : k->c / g, k->kh, k->kw};
    tensor *in[3] = {
        test_leaf(a, 4, (int[]){k->n, k->c, k->h, k->w}, 11, -1.0f, 1.0f),
        test_leaf(a, 4, wshape, 12, -1.0f, 1.0f),
        k->bias ? test_leaf(a, 1, (int[]){k->oc}, 13, -1.0f, 1.0f) : NULL,
    };
    /* Convolution is linear in each input, so central differences carry no truncation
     * error, only float rounding of the outputs (~1e-6 in L, / 2 eps = 1e-4): the default
     * 2% relative tolerance would let a 1% scaling bug through, 1e-3 does not. */
    gradcheck_opts go = gradcheck_defaults();
    go.atol = 1e-3;
    go.rtol = 1e-3;
    gradcheck(name, conv_fn, in, 3, (void *)k, go);
    arena_free(a);
}

static void test_conv2d_gradcheck(void) {
    conv2d_opts ns = conv2d_defaults();  /* non-square options */
    ns.stride_h = 1; ns.stride_w = 2; ns.pad_h = 2; ns.pad_w = 0; ns.dil_h = 2; ns.dil_w = 1;
    static conv_case cases[11];
    int i = 0;
    cases[i++] = (conv_case){1, 3, 5, 7, 4, 3, 3, opts(1, 0, 1, 1, 0), true, false};
    cases[i++] = (conv_case){1, 3, 5, 7, 2, 3, 3, opts(2, 1, 1, 1, 0), true, false};
    cases[i++] = (conv_case){2, 2, 5, 5, 3, 3, 3, opts(1, 2, 2, 1, 0), false, false};
    cases[i++] = (conv_case){1, 4, 5, 7, 6, 3, 3, opts(2, 1, 1, 2, 0), true, false};
    cases[i++] = (conv_case){1, 3, 7, 5, 3, 1, 1, opts(1, 0, 1, 3, 0), true, false};
    cases[i++] = (conv_case){1, 6, 5, 5, 3, 3, 1, opts(2, 2, 2, 3, 0), false, false};
    cases[i++] = (conv_case){1, 1, 1, 1, 1, 1, 1, opts(1, 0, 1, 1, 0), true, false};
    cases[i++] = (conv_case){1, 2, 5, 7, 2, 2, 3, ns, true, false};
    cases[i++] = (conv_case){3, 3, 3, 3, 3, 3, 3, opts(1, 1, 1, 3, 0), false, false};
    cases[i++] = (conv_case){1, 1, 2, 2, 2, 5, 5, opts(1, 2, 1, 1, 0), true, false};
    cases[i++] = (conv_case){2, 6, 7, 5, 4, 3, 2, opts(3, 1, 2, 2, 0), true, false};
    for (int j = 0; j < i; j++) {
        char name[32];
        snprintf(name, sizeof name, "conv2d case %d", j);
        gradcheck_case(name, &cases[j]);
    }
}

static void test_conv_transpose2d_gradcheck(void) {
    conv2d_opts ns = conv2d_defaults();  /* non-square options; out_pad 1 < stride_w 2 and dil_h 2 */
    ns.stride_h = 1; ns.stride_w = 2; ns.pad_h = 1; ns.pad_w = 0; ns.dil_h = 2; ns.out_pad = 1;
    static conv_case cases[9];
    int i = 0;
    cases[i++] = (conv_case){1, 3, 5, 7, 2, 3, 3, opts(1, 0, 1, 1, 0), true, true};
    cases[i++] = (conv_case){1, 3, 3, 5, 2, 3, 3, opts(2, 1, 1, 1, 1), true, true};
    cases[i++] = (conv_case){1, 4, 3, 3, 6, 3, 3, opts(2, 0, 1, 2, 1), false, true};
    cases[i++] = (conv_case){2, 3, 2, 3, 3, 2, 2, opts(3, 2, 2, 3, 1), true, true};
    cases[i++] = (conv_case){1, 2, 3, 3, 2, 3, 3, opts(1, 1, 2, 1, 1), false, true};
    cases[i++] = (conv_case){1, 1, 1, 1, 1, 1, 1, opts(1, 0, 1, 1, 0), true, true};
    cases[i++] = (conv_case){1, 2, 3, 5, 3, 2, 3, ns, true, true};
    cases[i++] = (conv_case){1, 6, 3, 2, 3, 3, 1, opts(2, 1, 1, 3, 1), true, true};
    cases[i++] = (conv_case){2, 2, 1, 3, 4, 5, 3, opts(1, 0, 1, 2, 0), false, true};
    for (int j = 0; j < i; j++) {
        char name[40];
        snprintf(name, sizeof name, "conv_transpose2d case %d", j);
        gradcheck_case(name, &cases[j]);
    }
}

/* ---- error paths ---- */

/* y must be NULL with `st` recorded and a message containing each of the needles. */
static void check_error(const char *what, tensor *y, status st, const char *n1, const char *n2) {
    CHECK_MSG(y == NULL, "%s: expected failure", what);
    CHECK_MSG(error_status() == st, "%s: status %s, want %s (%s)", what,
              status_name(error_status()), status_name(st), error_message());
    CHECK_MSG(strstr(error_message(), n1) != NULL, "%s: '%s' lacks '%s'", what, error_message(), n1);
    if (n2) CHECK_MSG(strstr(error_message(), n2) != NULL, "%s: '%s' lacks '%s'", what,
                      error_message(), n2);
    error_clear();
}

static void test_conv2d_errors(void) {
    arena *a = arena_new(1 << 20);
    tensor *x = tensor_new(a, 4, (int[]){1, 4, 8, 8});
    tensor *w = tensor_new(a, 4, (int[]){16, 3, 3, 3});
    conv2d_opts d = conv2d_defaults();
    /* the example of ops.h, word for word */
    CHECK(op_conv2d(a, x, w, NULL, d) == NULL && error_status() == STATUS_SHAPE);
    CHECK_MSG(strcmp(error_message(), "conv2d: input (1, 4, 8, 8) has 4 channels but weight "
                     "(16, 3, 3, 3) expects 3") == 0, "got '%s'", error_message());
    error_clear();
    tensor *w2 = tensor_new(a, 4, (int[]){6, 2, 3, 3});
    check_error("groups channels", op_conv2d(a, x, w2, NULL, opts(1, 0, 1, 3, 0)), STATUS_SHAPE,
                "(1, 4, 8, 8)", "(6, 2, 3, 3)");
    tensor *w5 = tensor_new(a, 4, (int[]){5, 2, 3, 3});
    check_error("groups out", op_conv2d(a, x, w5, NULL, opts(1, 0, 1, 2, 0)), STATUS_SHAPE,
                "(5, 2, 3, 3)", "groups 2");
    tensor *w4 = tensor_new(a, 4, (int[]){16, 4, 3, 3});
    check_error("bias", op_conv2d(a, x, w4, tensor_new(a, 1, (int[]){15}), d), STATUS_SHAPE,
                "(15)", "(16, 4, 3, 3)");
    check_error("bias 2-d", op_conv2d(a, x, w4, tensor_new(a, 2, (int[]){1, 16}), d),
                STATUS_SHAPE, "(1, 16)", "(16, 4, 3, 3)");
    tensor *big = tensor_new(a, 4, (int[]){2, 4, 9, 9});
    check_error("too small", op_conv2d(a, x, big, NULL, d), STATUS_SHAPE, "(1, 4, 8, 8)",
                "(2, 4, 9, 9)");
    /* dilation 4 spans 9 pixels: 8 + 0 - 9 < 0 must not truncate to an output of 1 */
    check_error("dilated too small", op_conv2d(a, x, w4, NULL, opts(2, 0, 4, 1, 0)),
                STATUS_SHAPE, "(1, 4, 8, 8)", "(16, 4, 3, 3)");
    check_error("3-d input", op_conv2d(a, tensor_new(a, 3, (int[]){4, 8, 8}), w4, NULL, d),
                STATUS_SHAPE, "input", "(4, 8, 8)");
    check_error("3-d weight", op_conv2d(a, x, tensor_new(a, 3, (int[]){16, 4, 3}), NULL, d),
                STATUS_SHAPE, "weight", "(16, 4, 3)");
    check_error("stride 0", op_conv2d(a, x, w4, NULL, opts(0, 0, 1, 1, 0)), STATUS_ARG,
                "conv2d", "stride");
    check_error("negative pad", op_conv2d(a, x, w4, NULL, opts(1, -1, 1, 1, 0)), STATUS_ARG,
                "conv2d", "pad");
    check_error("groups 0", op_conv2d(a, x, w4, NULL, opts(1, 0, 1, 0, 0)), STATUS_ARG,
                "conv2d", "groups");
    check_error("out_pad", op_conv2d(a, x, w4, NULL, opts(2, 0, 1, 1, 1)), STATUS_ARG,
                "conv2d", "out_pad");
    /* a NULL input keeps the first reason */
    error_set(STATUS_IO, "earlier failure");
    CHECK(op_conv2d(a, NULL, w4, NULL, d) == NULL);
    CHECK(op_conv2d(a, x, NULL, NULL, d) == NULL);
    CHECK(error_status() == STATUS_IO && strcmp(error_message(), "earlier failure") == 0);
    error_clear();
    arena_free(a);
}

static void test_conv_transpose2d_errors(void) {
    arena *a = arena_new(1 << 20);
    tensor *x = tensor_new(a, 4, (int[]){1, 4, 8, 8});
    tensor *w = tensor_new(a, 4, (int[]){3, 2, 3, 3});
    check_error("channels", op_conv_transpose2d(a, x, w, NULL, conv2d_defaults()), STATUS_SHAPE,
                "(1, 4, 8, 8)", "(3, 2, 3, 3)");
    tensor *w4 = tensor_new(a, 4, (int[]){4, 2, 3, 3});
    check_error("groups", op_conv_transpose2d(a, x, w4, NULL, opts(1, 0, 1, 3, 0)),
                STATUS_SHAPE, "(4, 2, 3, 3)", "groups 3");
    /* OC = 2 per group x 2 groups = 4: a bias (4) fits, a bias (2) does not */
    CHECK_OK(op_conv_transpose2d(a, x, w4, tensor_new(a, 1, (int[]){4}), opts(1, 0, 1, 2, 0)));
    check_error("bias", op_conv_transpose2d(a, x, w4, tensor_new(a, 1, (int[]){2}),
                                            opts(1, 0, 1, 2, 0)),
                STATUS_SHAPE, "(2)", "(4, 2, 3, 3)");
    /* out_pad must be smaller than stride or dilation (PyTorch's rule) */
    check_error("out_pad = stride", op_conv_transpose2d(a, x, w4, NULL, opts(2, 0, 1, 1, 2)),
                STATUS_ARG, "conv_transpose2d", "out_pad 2");
    check_error("out_pad stride 1", op_conv_transpose2d(a, x, w4, NULL, opts(1, 0, 1, 1, 1)),
                STATUS_ARG, "conv_transpose2d", "out_pad 1");
    CHECK_OK(op_conv_transpose2d(a, x, w4, NULL, opts(1, 0, 2, 1, 1)));  /* < dilation: fine */
    /* padding larger than the output: (1 - 1) 1 - 2 * 2 + 3 = -1 */
    tensor *x1 = tensor_new(a, 4, (int[]){1, 4, 1, 1});
    check_error("empty output", op_conv_transpose2d(a, x1, w4, NULL, opts(1, 2, 1, 1, 0)),
                STATUS_SHAPE, "(1, 4, 1, 1)", "(4, 2, 3, 3)");
    arena_free(a);
}

/* The fused relu(conv) against the two ops it replaces: values and every gradient, on
 * whichever backend runs this test (the ReLU is a oneDNN post-op on the cpu backend). */
static tensor *apply_conv_relu(arena *a, tensor **in, void *user) {
    conv2d_opts o = conv2d_defaults();
    o.pad = 1; o.stride = 2;
    return user ? op_conv2d_relu(a, in[0], in[1], in[2], o) : op_relu(a, op_conv2d(a, in[0], in[1], in[2], o));
}

static void test_conv2d_relu_matches_composition(void) {
    arena *a = arena_new(1 << 20), *s = arena_new(1 << 20);
    tensor *in[3] = {test_leaf(a, 4, (int[]){2, 5, 9, 7}, 1, -1, 1), test_leaf(a, 4, (int[]){6, 5, 3, 3}, 2, -0.3f, 0.3f),
                     test_leaf(a, 1, (int[]){6}, 3, -0.2f, 0.2f)};
    float *want[4], *got[4];
    for (int fused = 0; fused < 2; fused++) {
        for (int i = 0; i < 3; i++) tensor_zero_grad(in[i]);
        tensor *y = apply_conv_relu(s, in, fused ? (void *)1 : NULL);
        tensor *loss = op_sum(s, op_mul(s, y, tensor_fill(tensor_like(s, y), 0.5f)), -1, false);
        CHECK_OK(loss);
        if (!loss || tensor_backward(loss) != STATUS_OK) { arena_free(a); arena_free(s); return; }
        float **dst = fused ? got : want;
        dst[0] = arena_alloc(a, sizeof(float) * y->numel);
        memcpy(dst[0], y->data, sizeof(float) * y->numel);
        for (int i = 0; i < 3; i++) {
            dst[i + 1] = arena_alloc(a, sizeof(float) * in[i]->numel);
            memcpy(dst[i + 1], in[i]->grad, sizeof(float) * in[i]->numel);
        }
        if (fused) CHECK(strcmp(y->op, "conv2d_relu") == 0);
        arena_reset(s);
    }
    int64_t n[4] = {2 * 6 * 5 * 4, in[0]->numel, in[1]->numel, in[2]->numel};
    for (int i = 0; i < 4; i++) CHECK(test_close_array(__FILE__, __LINE__, "fused vs relu(conv)", got[i], want[i], n[i], 1e-5, 1e-5));
    gradcheck_opts go = gradcheck_defaults();
    CHECK(gradcheck("conv2d_relu", apply_conv_relu, in, 3, (void *)1, go));
    arena_free(a); arena_free(s);
}

int main(void) {
    RUN(test_conv2d_relu_matches_composition);
    RUN(test_conv2d_hand);
    RUN(test_conv_transpose2d_hand);
    RUN(test_conv2d_groups_hand);
    RUN(test_output_shapes);
    RUN(test_conv2d_torch_groups);
    RUN(test_conv2d_torch_nonsquare);
    RUN(test_conv_transpose2d_torch_groups);
    RUN(test_conv_transpose2d_torch_dilated);
    RUN(test_adjoint);
    RUN(test_kernel_accumulates);
    RUN(test_grad_only_where_required);
    RUN(test_conv2d_gradcheck);
    RUN(test_conv_transpose2d_gradcheck);
    RUN(test_conv2d_errors);
    RUN(test_conv_transpose2d_errors);
    return test_finish();
}
