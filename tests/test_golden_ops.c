/* test_golden_ops.c: every op in ops.h against PyTorch.
 *
 * tests/golden/ops.safetensors is written by tools/gen_golden_ops.py: per case the inputs,
 * PyTorch's output "<case>.out", a random weight "<case>.R" of the output's shape and the
 * gradients "<case>.grad_<input>" of L = sum(out * R). Each case here runs the Atelier op on
 * the same inputs, compares the output, then runs tensor_backward on
 * op_sum(op_mul(out, R)) and compares every input's gradient. The tables below repeat each
 * case's options (the script keeps them in the file's metadata too), and the last test checks
 * that every case in the file was run, so a case added to the script cannot go unchecked.
 *
 * Tolerances, |got - want| <= atol + rtol |want|, float32 against float32 (eps = 6e-8):
 *  - TOL_ELEM: one or two rounded operations per element; libm and PyTorch's vectorised
 *    exp/log/tanh differ by a few ulp, so rtol 1e-5 (~100 ulp) leaves room, and atol 1e-6
 *    covers results that cancel to near zero (x - y, the tails of sigmoid).
 *  - TOL_SUM: reductions and losses over up to 210 elements of size ~1, summed in another
 *    order than PyTorch's: the error grows like n eps |sum of terms| ~ 210 * 6e-8 * 30.
 *  - TOL_DOT: matmul, conv and their gradients: dot products of up to K = 50 terms
 *    forward and N OH OW ~ 100 terms for weight gradients, values ~3 each: 1e-4.
 *  - TOL_NORM: normalisation divides by a standard deviation and its backward subtracts
 *    means of dy and dy * xhat: cancellation makes the absolute error scale with |dy| rstd
 *    (~3 here), not with the element, hence the larger atol.
 * Set GOLDEN_VERBOSE=1 to print the worst difference of every comparison.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/ops.h"
#include "atelier/safetensors.h"
#include "harness.h"

typedef struct tol { double atol, rtol; } tol;
static const tol TOL_ELEM = {1e-6, 1e-5};
static const tol TOL_SUM = {1e-5, 1e-5};
static const tol TOL_DOT = {1e-4, 1e-4};
static const tol TOL_NORM = {2e-4, 1e-4};

#define GOLDEN_PATH "tests/golden/ops.safetensors"
#define MAX_CASES 256

static safetensors *g_file;
static arena *g_arena;
static char g_done[MAX_CASES][64];  /* the cases run so far */
static int g_ndone;

/* "<case>.<name>" from the golden file, or NULL (a failure naming it). */
static tensor *load(const char *cas, const char *name) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", cas, name);
    tensor *t = g_file ? safetensors_get(g_file, g_arena, key) : NULL;
    if (!t) test_fail(__FILE__, __LINE__, "cannot load %s: %s", key, error_message());
    return t;
}

/* An input that requires a gradient. */
static tensor *input(const char *cas, const char *name) {
    tensor *t = load(cas, name);
    if (t) tensor_requires_grad(t);
    return t;
}

/* Prints the worst absolute difference and where it is, when GOLDEN_VERBOSE is set. */
static void report(const char *what, const float *got, const float *want, int64_t n) {
    if (!getenv("GOLDEN_VERBOSE")) return;
    double worst = 0, at = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (d > worst) { worst = d; at = want[i]; }
    }
    printf("    %-40s max |diff| %.3g (ref %.3g)\n", what, worst, at);
}

/* got against the golden tensor "<case>.<name>": same shape, close values. */
static void compare(const char *cas, const char *name, const tensor *got, const float *gdata,
                    tol t) {
    tensor *want = load(cas, name);
    if (!want) return;
    char what[160], b1[64], b2[64];
    snprintf(what, sizeof what, "%s.%s", cas, name);
    if (!got || !gdata) { test_fail(__FILE__, __LINE__, "%s: no result", what); return; }
    if (got->ndim != want->ndim || memcmp(got->shape, want->shape, got->ndim * sizeof(int))) {
        test_fail(__FILE__, __LINE__, "%s: shape %s, want %s", what, tensor_shape_str(got, b1),
                  tensor_shape_str(want, b2));
        return;
    }
    test_close_array(__FILE__, __LINE__, what, gdata, want->data, want->numel, t.atol, t.rtol);
    report(what, gdata, want->data, want->numel);
}

static void mark_done(const char *cas) {
    if (g_ndone < MAX_CASES) snprintf(g_done[g_ndone++], sizeof g_done[0], "%s", cas);
}

/* The heart of every test: out against "<case>.out", then L = sum(out * R) backward and the
 * gradient of each in[i] against "<case>.grad_<names[i]>". Resets the arena. */
static void check_case(const char *cas, tensor *out, tensor **in, const char *const *names,
                       int n, tol t) {
    mark_done(cas);
    if (!out) {
        test_fail(__FILE__, __LINE__, "%s: op failed: %s", cas, error_message());
        goto done;
    }
    compare(cas, "out", out, out->data, t);
    tensor *r = load(cas, "R");
    if (!r || r->numel != out->numel) goto done;
    tensor *rr = tensor_from(g_arena, out->ndim, out->shape, r->data);
    tensor *loss = op_sum(g_arena, op_mul(g_arena, out, rr), -1, false);
    if (!loss || tensor_backward(loss) != STATUS_OK) {
        test_fail(__FILE__, __LINE__, "%s: backward failed: %s", cas, error_message());
        goto done;
    }
    for (int i = 0; i < n; i++) {
        char gname[64];
        snprintf(gname, sizeof gname, "grad_%s", names[i]);
        compare(cas, gname, in[i], in[i] ? in[i]->grad : NULL, t);
    }
done:
    error_clear();
    arena_reset(g_arena);
}

/* ---- elementwise ---- */

typedef tensor *(*binary_fn)(arena *, tensor *, tensor *);

static void test_binary(void) {
    static const struct { const char *cas; binary_fn fn; } cases[] = {
        {"add_same", op_add}, {"add_bcast", op_add}, {"sub_bcast", op_sub},
        {"mul_bcast", op_mul}, {"mul_bcast_left", op_mul}, {"div_bcast", op_div},
        {"div_bcast_left", op_div},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *c = cases[i].cas;
        tensor *in[2] = {input(c, "x"), input(c, "y")};
        /* the broadcast operand's gradient sums up to 42 elements: a reduction's tolerance */
        check_case(c, cases[i].fn(g_arena, in[0], in[1]), in, (const char *[]){"x", "y"}, 2,
                   TOL_SUM);
    }
}

typedef tensor *(*scalar_fn)(arena *, tensor *, float);

static void test_scalar(void) {
    static const struct { const char *cas; scalar_fn fn; float s; } cases[] = {
        {"add_scalar", op_add_scalar, 0.7f}, {"sub_scalar", op_sub_scalar, 1.3f},
        {"rsub_scalar", op_rsub_scalar, 2.5f}, {"mul_scalar", op_mul_scalar, -1.7f},
        {"div_scalar", op_div_scalar, 3.0f}, {"rdiv_scalar", op_rdiv_scalar, 2.0f},
        {"pow_scalar_2.5", op_pow_scalar, 2.5f}, {"pow_scalar_-0.5", op_pow_scalar, -0.5f},
        {"pow_scalar_3", op_pow_scalar, 3.0f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tensor *x = input(cases[i].cas, "x");
        check_case(cases[i].cas, cases[i].fn(g_arena, x, cases[i].s), &x,
                   (const char *[]){"x"}, 1, TOL_ELEM);
    }
}

static tensor *leaky_relu_02(arena *a, tensor *x) { return op_leaky_relu(a, x, 0.2f); }

static void test_unary(void) {
    static const struct { const char *cas; tensor *(*fn)(arena *, tensor *); } cases[] = {
        {"relu", op_relu}, {"leaky_relu", leaky_relu_02}, {"tanh", op_tanh},
        {"sigmoid", op_sigmoid}, {"exp", op_exp}, {"log", op_log}, {"sqrt", op_sqrt},
        {"abs", op_abs}, {"square", op_square}, {"neg", op_neg},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tensor *x = input(cases[i].cas, "x");
        check_case(cases[i].cas, cases[i].fn(g_arena, x), &x, (const char *[]){"x"}, 1,
                   TOL_ELEM);
    }
}

/* ---- reductions ---- */

static void test_reduce(void) {
    static const struct { const char *cas; reduce_kind k; int axes; bool keep; } cases[] = {
        {"sum_all", REDUCE_SUM, -1, false}, {"sum_all_keep", REDUCE_SUM, -1, true},
        {"sum_13", REDUCE_SUM, 0xa, false}, {"sum_13_keep", REDUCE_SUM, 0xa, true},
        {"sum_0", REDUCE_SUM, 0x1, false}, {"mean_all", REDUCE_MEAN, -1, false},
        {"mean_02_keep", REDUCE_MEAN, 0x5, true}, {"mean_2", REDUCE_MEAN, 0x4, false},
        {"var_23_biased_keep", REDUCE_VAR, 0xc, true},
        {"var_23_unbiased", REDUCE_VAR_UNBIASED, 0xc, false},
        {"var_0_unbiased_keep", REDUCE_VAR_UNBIASED, 0x1, true},
        {"var_all_biased", REDUCE_VAR, -1, false},
        {"var_all_unbiased", REDUCE_VAR_UNBIASED, -1, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tensor *x = input(cases[i].cas, "x"), *y;
        int ax = cases[i].axes;
        bool keep = cases[i].keep;
        switch (cases[i].k) {
        case REDUCE_SUM: y = op_sum(g_arena, x, ax, keep); break;
        case REDUCE_MEAN: y = op_mean(g_arena, x, ax, keep); break;
        case REDUCE_VAR: y = op_var(g_arena, x, ax, false, keep); break;
        default: y = op_var(g_arena, x, ax, true, keep); break;
        }
        check_case(cases[i].cas, y, &x, (const char *[]){"x"}, 1, TOL_SUM);
    }
}

/* ---- shape ---- */

static void test_concat(void) {
    static const struct { const char *cas; int n, axis; } cases[] = {
        {"concat_axis1", 3, 1}, {"concat_axis0", 2, 0}, {"concat_axis-1", 2, -1},
    };
    static const char *const names[] = {"x0", "x1", "x2"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tensor *xs[3] = {NULL, NULL, NULL};
        for (int k = 0; k < cases[i].n; k++) xs[k] = input(cases[i].cas, names[k]);
        tensor *y = op_concat(g_arena, xs, cases[i].n, cases[i].axis);
        /* copies: exact */
        check_case(cases[i].cas, y, xs, names, cases[i].n, (tol){0, 0});
    }
}

static void test_slice(void) {
    static const struct { const char *cas; int axis, start, end; } cases[] = {
        {"slice_axis1", 1, 2, 6}, {"slice_axis-1", -1, 1, 4}, {"slice_axis0", 0, 2, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tensor *x = input(cases[i].cas, "x");
        tensor *y = op_slice(g_arena, x, cases[i].axis, cases[i].start, cases[i].end);
        /* copies: exact */
        check_case(cases[i].cas, y, &x, (const char *[]){"x"}, 1, (tol){0, 0});
    }
}

/* ---- linear algebra ---- */

static void test_matmul(void) {
    static const char *const cases[] = {"matmul_2d", "matmul_batched", "matmul_1x1"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tensor *in[2] = {input(cases[i], "x"), input(cases[i], "y")};
        check_case(cases[i], op_matmul(g_arena, in[0], in[1]), in, (const char *[]){"x", "y"},
                   2, TOL_DOT);
    }
}

static void test_linear(void) {
    tensor *in[3] = {input("linear_bias", "x"), input("linear_bias", "w"),
                     input("linear_bias", "b")};
    check_case("linear_bias", op_linear(g_arena, in[0], in[1], in[2]), in,
               (const char *[]){"x", "w", "b"}, 3, TOL_DOT);
    tensor *in2[2] = {input("linear_nobias", "x"), input("linear_nobias", "w")};
    check_case("linear_nobias", op_linear(g_arena, in2[0], in2[1], NULL), in2,
               (const char *[]){"x", "w"}, 2, TOL_DOT);
}

static void test_gram(void) {
    static const char *const cases[] = {"gram", "gram_1x1"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tensor *f = input(cases[i], "f");
        check_case(cases[i], op_gram(g_arena, f), &f, (const char *[]){"f"}, 1, TOL_DOT);
    }
}

/* ---- convolution ---- */

typedef struct conv_case {
    const char *cas;
    bool bias;
    int stride[2], pad[2], dil[2], groups, out_pad;
} conv_case;

/* Sets the single values, and the _h/_w ones only where the two differ, so both ways of
 * giving the geometry are exercised. */
static conv2d_opts conv_opts(const conv_case *c) {
    conv2d_opts o = conv2d_defaults();
    o.stride = c->stride[0]; o.pad = c->pad[0]; o.dilation = c->dil[0];
    o.groups = c->groups; o.out_pad = c->out_pad;
    if (c->stride[1] != c->stride[0]) o.stride_w = c->stride[1];
    if (c->pad[1] != c->pad[0]) o.pad_w = c->pad[1];
    if (c->dil[1] != c->dil[0]) o.dil_w = c->dil[1];
    return o;
}

static void run_conv_case(const conv_case *c, bool transpose) {
    tensor *in[3] = {input(c->cas, "x"), input(c->cas, "w"),
                     c->bias ? input(c->cas, "b") : NULL};
    conv2d_opts o = conv_opts(c);
    tensor *y = transpose ? op_conv_transpose2d(g_arena, in[0], in[1], in[2], o)
                          : op_conv2d(g_arena, in[0], in[1], in[2], o);
    check_case(c->cas, y, in, (const char *[]){"x", "w", "b"}, c->bias ? 3 : 2, TOL_DOT);
}

static void test_conv2d(void) {
    static const conv_case cases[] = {
        {"conv2d_basic", true, {1, 1}, {0, 0}, {1, 1}, 1, 0},
        {"conv2d_s2_p1", true, {2, 2}, {1, 1}, {1, 1}, 1, 0},
        {"conv2d_d2_p2_nobias", false, {1, 1}, {2, 2}, {2, 2}, 1, 0},
        {"conv2d_g3_p1", true, {1, 1}, {1, 1}, {1, 1}, 3, 0},
        {"conv2d_depthwise_s2", true, {2, 2}, {1, 1}, {1, 1}, 3, 0},
        {"conv2d_rect_1x3", true, {2, 1}, {0, 1}, {1, 1}, 1, 0},
        {"conv2d_5x5_s3", true, {3, 3}, {2, 2}, {1, 1}, 1, 0},
        {"conv2d_1x1", false, {1, 1}, {0, 0}, {1, 1}, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_conv_case(&cases[i], false);
}

static void test_conv_transpose2d(void) {
    static const conv_case cases[] = {
        {"convt_basic", false, {1, 1}, {0, 0}, {1, 1}, 1, 0},
        {"convt_s2_p1_op1", true, {2, 2}, {1, 1}, {1, 1}, 1, 1},
        {"convt_s2_p0", true, {2, 2}, {0, 0}, {1, 1}, 1, 0},
        {"convt_g2_s2_p1", true, {2, 2}, {1, 1}, {1, 1}, 2, 0},
        {"convt_s3_p1_op2", true, {3, 3}, {1, 1}, {1, 1}, 1, 2},
        {"convt_d2_s2_op1", true, {2, 2}, {1, 1}, {2, 2}, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_conv_case(&cases[i], true);
}

/* ---- pooling, resizing, padding ---- */

static void test_pool(void) {
    static const struct { const char *cas; bool max; int k, s, p; } cases[] = {
        {"avg_pool_k3_s2_p1", false, 3, 2, 1}, {"avg_pool_k2_s2_p0", false, 2, 2, 0},
        {"avg_pool_k3_s1_p1", false, 3, 1, 1}, {"max_pool_k3_s2_p1", true, 3, 2, 1},
        {"max_pool_k2_s2_p0", true, 2, 2, 0}, {"max_pool_k2_s1_p0", true, 2, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tensor *x = input(cases[i].cas, "x");
        tensor *y = cases[i].max ? op_max_pool2d(g_arena, x, cases[i].k, cases[i].s, cases[i].p)
                                 : op_avg_pool2d(g_arena, x, cases[i].k, cases[i].s, cases[i].p);
        check_case(cases[i].cas, y, &x, (const char *[]){"x"}, 1, TOL_ELEM);
    }
}

static void test_upsample(void) {
    /* factor > 0: op_upsample; else op_upsample_to (oh, ow, align_corners) */
    static const struct {
        const char *cas; upsample_mode m; int factor, oh, ow; bool ac;
    } cases[] = {
        {"upsample_nearest_x2", UPSAMPLE_NEAREST, 2, 0, 0, false},
        {"upsample_nearest_x3", UPSAMPLE_NEAREST, 3, 0, 0, false},
        {"upsample_bilinear_x2", UPSAMPLE_BILINEAR, 2, 0, 0, false},
        {"upsample_nearest_to_7x8", UPSAMPLE_NEAREST, 0, 7, 8, false},
        {"upsample_nearest_to_2x3", UPSAMPLE_NEAREST, 0, 2, 3, false},
        {"upsample_bilinear_to_7x8_noac", UPSAMPLE_BILINEAR, 0, 7, 8, false},
        {"upsample_bilinear_to_7x8_ac", UPSAMPLE_BILINEAR, 0, 7, 8, true},
        {"upsample_bilinear_to_2x3_noac", UPSAMPLE_BILINEAR, 0, 2, 3, false},
        {"upsample_bilinear_to_2x3_ac", UPSAMPLE_BILINEAR, 0, 2, 3, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tensor *x = input(cases[i].cas, "x");
        tensor *y = cases[i].factor > 0
                        ? op_upsample(g_arena, x, cases[i].m, cases[i].factor)
                        : op_upsample_to(g_arena, x, cases[i].m, cases[i].oh, cases[i].ow,
                                         cases[i].ac);
        /* a weighted sum of at most 4 inputs forward, a few dozen backward */
        check_case(cases[i].cas, y, &x, (const char *[]){"x"}, 1, TOL_SUM);
    }
}

static void test_pad(void) {
    static const struct { const char *cas; pad_mode m; int t, b, l, r; } cases[] = {
        {"pad_zero", PAD_ZERO, 1, 2, 0, 3}, {"pad_reflect", PAD_REFLECT, 2, 1, 1, 4},
        {"pad_replicate", PAD_REPLICATE, 3, 1, 2, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tensor *x = input(cases[i].cas, "x");
        tensor *y = op_pad(g_arena, x, cases[i].m, cases[i].t, cases[i].b, cases[i].l,
                           cases[i].r);
        /* copies forward; backward sums up to 4 values into an element */
        check_case(cases[i].cas, y, &x, (const char *[]){"x"}, 1, TOL_ELEM);
    }
}

/* ---- normalisation ---- */

static void test_instance_norm(void) {
    const char *c = "instance_norm_affine";
    tensor *in[3] = {input(c, "x"), input(c, "gamma"), input(c, "beta")};
    check_case(c, op_instance_norm(g_arena, in[0], in[1], in[2], 1e-5f), in,
               (const char *[]){"x", "gamma", "beta"}, 3, TOL_NORM);
    c = "instance_norm_plain";
    tensor *x = input(c, "x");
    check_case(c, op_instance_norm(g_arena, x, NULL, NULL, 1e-5f), &x, (const char *[]){"x"},
               1, TOL_NORM);
}

static void test_batch_norm_train(void) {
    const char *c = "batch_norm_train";
    tensor *in[3] = {input(c, "x"), input(c, "gamma"), input(c, "beta")};
    tensor *rm = load(c, "running_mean"), *rv = load(c, "running_var");
    tensor *y = op_batch_norm(g_arena, in[0], in[1], in[2], rm, rv, true, 0.1f, 1e-5f);
    /* running stats: a mean and an unbiased variance over 45 elements, blended */
    if (y && rm && rv) {
        compare(c, "running_mean_after", rm, rm->data, TOL_SUM);
        compare(c, "running_var_after", rv, rv->data, TOL_SUM);
    }
    check_case(c, y, in, (const char *[]){"x", "gamma", "beta"}, 3, TOL_NORM);
}

static void test_batch_norm_eval(void) {
    const char *c = "batch_norm_eval";
    tensor *in[3] = {input(c, "x"), input(c, "gamma"), input(c, "beta")};
    tensor *rm = load(c, "running_mean"), *rv = load(c, "running_var");
    float before = rm ? rm->data[0] : 0;
    tensor *y = op_batch_norm(g_arena, in[0], in[1], in[2], rm, rv, false, 0.1f, 1e-5f);
    CHECK(!rm || rm->data[0] == before);  /* eval must not update the running stats */
    check_case(c, y, in, (const char *[]){"x", "gamma", "beta"}, 3, TOL_NORM);
}

static void test_adain(void) {
    tensor *in[2] = {input("adain", "x"), input("adain", "s")};
    check_case("adain", op_adain(g_arena, in[0], in[1], 1e-5f), in, (const char *[]){"x", "s"},
               2, TOL_NORM);
}

/* ---- losses ---- */

static void test_losses(void) {
    static const struct { const char *cas; binary_fn fn; } cases[] = {
        {"mse_loss", op_mse_loss}, {"l1_loss", op_l1_loss},
        {"bce_with_logits", op_bce_with_logits},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *c = cases[i].cas;
        tensor *in[2] = {input(c, "x"), input(c, "t")};
        check_case(c, cases[i].fn(g_arena, in[0], in[1]), in, (const char *[]){"x", "t"}, 2,
                   TOL_SUM);
    }
    tensor *x = input("hinge_real", "x");
    check_case("hinge_real", op_hinge_loss(g_arena, x, 1.0f), &x, (const char *[]){"x"}, 1,
               TOL_SUM);
    x = input("hinge_fake", "x");
    check_case("hinge_fake", op_hinge_loss(g_arena, x, -1.0f), &x, (const char *[]){"x"}, 1,
               TOL_SUM);
    x = input("tv_loss", "x");
    check_case("tv_loss", op_tv_loss(g_arena, x), &x, (const char *[]){"x"}, 1, TOL_SUM);
}

/* Every "<case>.out" in the file must have been checked by one of the tests above. */
static void test_all_cases_run(void) {
    int n = g_file ? safetensors_count(g_file) : 0, cases = 0;
    for (int i = 0; i < n; i++) {
        const char *name = safetensors_name(g_file, i);
        size_t len = strlen(name);
        if (len < 4 || strcmp(name + len - 4, ".out") != 0) continue;
        cases++;
        bool found = false;
        for (int k = 0; k < g_ndone && !found; k++)
            found = strlen(g_done[k]) == len - 4 && strncmp(g_done[k], name, len - 4) == 0;
        CHECK_MSG(found, "golden case %.*s is in %s but no test runs it", (int)(len - 4), name,
                  GOLDEN_PATH);
    }
    CHECK_MSG(cases >= 90, "only %d cases in %s", cases, GOLDEN_PATH);
}

int main(void) {
    g_file = safetensors_open(GOLDEN_PATH);
    if (!g_file) {
        fprintf(stderr, "%s (run from the repository root; regenerate with "
                "tools/gen_golden_ops.py)\n", error_message());
        return 1;
    }
    g_arena = arena_new(1 << 20);
    RUN(test_binary); RUN(test_scalar); RUN(test_unary); RUN(test_reduce);
    RUN(test_concat); RUN(test_slice); RUN(test_matmul); RUN(test_linear); RUN(test_gram);
    RUN(test_conv2d); RUN(test_conv_transpose2d); RUN(test_pool); RUN(test_upsample);
    RUN(test_pad); RUN(test_instance_norm); RUN(test_batch_norm_train);
    RUN(test_batch_norm_eval); RUN(test_adain); RUN(test_losses); RUN(test_all_cases_run);
    arena_free(g_arena);
    safetensors_close(g_file);
    return test_finish();
}
