/* test_attack.c: adversarial attacks (attack.h).
 *
 * (a) the input gradient of every op path the attacks go through (the small CNN of
 *     classify.h, the MobileNetV2 head's depthwise convs, ReLU6, batch norm in eval mode,
 *     padding, bilinear resizing) against central differences, and the adapter's
 *     d loss / d x for both losses against differences of the loss itself;
 * (b) agreement with PyTorch: tests/golden/attack.safetensors (tools/attack_torch.py) holds
 *     a small CNN, 4 images and FGSM, targeted FGSM, PGD linf and PGD L2 outputs;
 * (c) every attack's output lies in [0,1] and in its eps ball;
 * (d) a synthetic task (Tsipras et al. 2019's robust vs non-robust features): PGD drives
 *     a plainly trained MLP's accuracy near 0 while random noise of the same size does
 *     not; PGD adversarial training raises robust accuracy; the sanity orderings hold;
 * (e) C&W L2 and the universal perturbation work; bad options are refused.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/attack.h"
#include "atelier/init.h"
#include "atelier/ops.h"
#include "atelier/optim.h"
#include "atelier/rng.h"
#include "atelier/safetensors.h"
#include "gradcheck.h"
#include "harness.h"

#define GOLDEN_PATH "tests/golden/attack.safetensors"

/* ---- (a) gradients of the op paths ---- */

typedef struct small_cnn {
    tensor *c1w, *c1b, *c2w, *c2b, *fcw, *fcb;  /* (4,3,3,3) (4) (8,4,3,3) (8) (K,8) (K) */
} small_cnn;

/* x (N, 3, H, W) -> (N, K): the CNN of tools/attack_torch.py */
static tensor *small_cnn_logits(void *net, arena *a, tensor *x) {
    small_cnn *m = net;
    conv2d_opts o = conv2d_defaults();
    o.pad = 1;
    tensor *h = op_max_pool2d(a, op_relu(a, op_conv2d(a, op_sub_scalar(a, x, 0.5f), m->c1w, m->c1b, o)), 2, 2, 0);
    h = op_conv2d_relu(a, h, m->c2w, m->c2b, o);
    return op_linear(a, op_mean(a, h, 4 | 8, false), m->fcw, m->fcb);
}

static tensor *rand_tensor(arena *a, rng *r, int ndim, const int *shape, float lo, float hi) {
    tensor *t = tensor_new(a, ndim, shape);
    init_uniform(t, r, lo, hi);
    return t;
}

static small_cnn small_cnn_random(arena *a, rng *r, int k) {
    small_cnn m = {
        rand_tensor(a, r, 4, (int[]){4, 3, 3, 3}, -0.8f, 0.8f), rand_tensor(a, r, 1, (int[]){4}, -0.1f, 0.1f),
        rand_tensor(a, r, 4, (int[]){8, 4, 3, 3}, -0.5f, 0.5f), rand_tensor(a, r, 1, (int[]){8}, -0.1f, 0.1f),
        rand_tensor(a, r, 2, (int[]){k, 8}, -1, 1), rand_tensor(a, r, 1, (int[]){k}, -0.1f, 0.1f),
    };
    return m;
}

static tensor *path_small_cnn(arena *a, tensor **in, void *user) {
    return small_cnn_logits(user, a, in[0]);
}

/* resize (classify_forward resizes other sizes bilinearly) then the CNN */
static tensor *path_resize_cnn(arena *a, tensor **in, void *user) {
    return small_cnn_logits(user, a, op_upsample_to(a, in[0], UPSAMPLE_BILINEAR, 8, 8, false));
}

typedef struct mbv2_block { tensor *pw, *dw, *gamma, *beta, *mean, *var; } mbv2_block;

/* a MobileNetV2-style block: pad, conv 1x1, batch norm (eval), ReLU6, depthwise 3x3
 * stride 2, ReLU6, avg-pool, scale and shift */
static tensor *path_mbv2(arena *a, tensor **in, void *user) {
    mbv2_block *b = user;
    conv2d_opts o = conv2d_defaults();
    tensor *h = op_pad(a, in[0], PAD_ZERO, 1, 0, 1, 0);
    h = op_conv2d(a, h, b->pw, NULL, o);
    h = op_batch_norm(a, h, b->gamma, b->beta, b->mean, b->var, false, 0.1f, 1e-3f);
    h = op_relu_cap(a, h, 6.0f);
    conv2d_opts dw = conv2d_defaults();
    dw.groups = 6; dw.stride = 2; dw.pad = 1;
    h = op_relu_cap(a, op_conv2d(a, h, b->dw, NULL, dw), 6.0f);
    h = op_avg_pool2d(a, h, 2, 2, 0);
    return op_add_scalar(a, op_mul_scalar(a, h, 2.0f), -1.0f);
}

/* h = 1e-3: ReLU and max-pool kinks lie everywhere in a CNN of random weights, and a
 * pixel moves ~36 conv outputs; the loss is ~1 so float rounding stays ~1e-4 */
static void test_op_path_gradients(void) {
    gradcheck_opts go = gradcheck_defaults();
    go.eps = 1e-3f;
    arena *p = arena_new(1 << 16);
    rng r = rng_new(3);
    small_cnn m = small_cnn_random(p, &r, 3);
    tensor *x = rand_tensor(p, &r, 4, (int[]){2, 3, 8, 8}, 0, 1);
    tensor_requires_grad(x);
    CHECK(gradcheck("small_cnn", path_small_cnn, &x, 1, &m, go));
    tensor *xr = rand_tensor(p, &r, 4, (int[]){2, 3, 11, 13}, 0, 1);
    tensor_requires_grad(xr);
    CHECK(gradcheck("resize_cnn", path_resize_cnn, &xr, 1, &m, go));
    mbv2_block b = {
        rand_tensor(p, &r, 4, (int[]){6, 3, 1, 1}, -1, 1), rand_tensor(p, &r, 4, (int[]){6, 1, 3, 3}, -1, 1),
        rand_tensor(p, &r, 1, (int[]){6}, 0.5f, 1.5f), rand_tensor(p, &r, 1, (int[]){6}, -0.5f, 0.5f),
        rand_tensor(p, &r, 1, (int[]){6}, -0.2f, 0.2f), rand_tensor(p, &r, 1, (int[]){6}, 0.5f, 2),
    };
    tensor *xm = rand_tensor(p, &r, 4, (int[]){2, 3, 9, 9}, 0, 1);
    tensor_requires_grad(xm);
    CHECK(gradcheck("mbv2_block", path_mbv2, &xm, 1, &b, go));
    arena_free(p);
}

/* The adapter's d loss / d x against central differences of attack_loss_logits, both
 * losses, in float with h = 1e-3 (the loss is piecewise smooth; a kink between x +- h
 * shows as disagreement: 1 in 20 may). */
static void test_adapter_gradient(void) {
    arena *p = arena_new(1 << 16);
    rng r = rng_new(5);
    small_cnn net = small_cnn_random(p, &r, 3);
    attack_net an = {.logits = small_cnn_logits, .net = &net, .batch = 1};  /* chunks of 1 */
    attack_model m;
    CHECK(attack_model_from_net(&m, &an, 3, 3, 8, 8) == STATUS_OK);
    enum { N = 2, D = 3 * 8 * 8 };
    float x[N * D], g[N * D], z[N * 3], xp[N * D];
    rng_uniform(&r, x, N * D, 0.1f, 0.9f);
    int labels[N] = {1, 2};
    for (int loss = 0; loss < 2; loss++) {
        CHECK(m.forward(m.self, x, N, z, labels, (attack_loss)loss, g) == STATUS_OK);
        int bad = 0, checked = 0;
        for (int j = 0; j < N * D; j += 7) {
            float h = 1e-3f, lp, lm;
            memcpy(xp, x, sizeof x);
            xp[j] = x[j] + h;
            m.forward(m.self, xp, N, z, labels, (attack_loss)loss, NULL);
            lp = attack_loss_logits(z, N, 3, labels, (attack_loss)loss, NULL);
            xp[j] = x[j] - h;
            m.forward(m.self, xp, N, z, labels, (attack_loss)loss, NULL);
            lm = attack_loss_logits(z, N, 3, labels, (attack_loss)loss, NULL);
            double fd = (lp - lm) / (2 * h);
            checked++;
            if (!test_near(g[j], fd, 2e-3, 2e-2)) bad++;
        }
        CHECK_MSG(bad <= checked / 20, "loss %d: %d of %d gradients disagree", loss, bad, checked);
    }
    attack_net_free(&an);
    arena_free(p);
}

/* attack_loss_logits itself: CE and margin values and gradients on known numbers. */
static void test_loss_logits(void) {
    float z[6] = {1, 2, 0.5f, -1, 3, 3.5f}, dz[6];
    int y[2] = {0, 2};
    float ce = attack_loss_logits(z, 2, 3, y, ATTACK_LOSS_CE, dz);
    double l0 = log(exp(1.0) + exp(2.0) + exp(0.5)) - 1, l1 = log(exp(-1.0) + exp(3.0) + exp(3.5)) - 3.5;
    CHECK_NEAR(ce, l0 + l1, 1e-5, 1e-6);
    CHECK_NEAR(dz[0], exp(1.0) / (exp(1.0) + exp(2.0) + exp(0.5)) - 1, 1e-6, 1e-5);
    float mg = attack_loss_logits(z, 2, 3, y, ATTACK_LOSS_MARGIN, dz);
    CHECK_NEAR(mg, (1 - 2) + (3.5 - 3), 1e-6, 0);
    float want[6] = {1, -1, 0, 0, -1, 1};
    CHECK_ARRAY(dz, want, 6, 0, 0);
}

/* ---- (b) PyTorch ---- */

static const float *golden(safetensors *f, arena *a, const char *name, int64_t n) {
    tensor *t = safetensors_get(f, a, name);
    if (!t || t->numel != n) {
        test_fail(__FILE__, __LINE__, "%s: missing or wrong size: %s", name, error_message());
        return NULL;
    }
    return t->data;
}

/* Pixels of got and want agree within atol, except where PyTorch's gradient was tiny at
 * some step (|g| < gtiny: its sign is decided by rounding, both answers are right). */
static void check_perturbation(const char *what, const float *got, const float *want,
                               const float *gmin, int64_t n, float atol, float gtiny) {
    int64_t bad = 0, skipped = 0, worst = -1;
    float worst_d = 0;
    for (int64_t i = 0; i < n; i++) {
        if (gmin[i] < gtiny) { skipped++; continue; }
        float d = fabsf(got[i] - want[i]);
        if (d > atol) bad++;
        if (d > worst_d) { worst_d = d; worst = i; }
    }
    CHECK_MSG(bad == 0, "%s: %lld of %lld pixels differ from PyTorch (worst %g at %lld)", what,
              (long long)bad, (long long)n, (double)worst_d, (long long)worst);
    CHECK_MSG(skipped <= n / 50, "%s: %lld pixels skipped as near-zero gradients", what, (long long)skipped);
}

static void test_pytorch_agreement(void) {
    safetensors *f = safetensors_open(GOLDEN_PATH);
    if (!f) { test_fail(__FILE__, __LINE__, "%s: %s", GOLDEN_PATH, error_message()); return; }
    arena *a = arena_new(1 << 16);
    small_cnn net = {
        safetensors_get(f, a, "c1.weight"), safetensors_get(f, a, "c1.bias"),
        safetensors_get(f, a, "c2.weight"), safetensors_get(f, a, "c2.bias"),
        safetensors_get(f, a, "fc.weight"), safetensors_get(f, a, "fc.bias"),
    };
    enum { N = 4, D = 3 * 8 * 8, K = 3 };
    const float *x = golden(f, a, "x", N * D), *yl = golden(f, a, "labels", N);
    const float *zt = golden(f, a, "logits", N * K), *gt = golden(f, a, "grad", N * D);
    if (!net.c1w || !net.fcb || !x || !yl || !zt || !gt) goto done;
    int y[N];
    for (int i = 0; i < N; i++) y[i] = (int)yl[i];
    attack_net an = {.logits = small_cnn_logits, .net = &net};
    attack_model m;
    CHECK(attack_model_from_net(&m, &an, K, 3, 8, 8) == STATUS_OK);
    float z[N * K], g[N * D], adv[N * D];
    CHECK(m.forward(m.self, x, N, z, y, ATTACK_LOSS_CE, g) == STATUS_OK);
    /* logits and gradients: float32 sums of ~100 terms in another order: 1e-5 */
    CHECK_ARRAY(z, zt, N * K, 1e-5, 1e-4);
    CHECK_ARRAY(g, gt, N * D, 1e-6, 1e-3);
    /* perturbations: x + eps sign(g) in float is exact given the sign, so a pixel either
     * agrees to rounding (1e-6) or its sign differs; skip |g| < 1e-6 (PyTorch's gradient of
     * a pixel whose every path is cut by ReLU or max-pool is exactly 0 on both sides). */
    attack_opts o = attack_defaults();
    o.method = ATTACK_METHOD_FGSM; o.eps = 8.0f / 255;
    CHECK(attack_run(&m, x, y, N, &o, adv) == STATUS_OK);
    check_perturbation("fgsm", adv, golden(f, a, "fgsm", N * D), golden(f, a, "fgsm_gmin", N * D), N * D, 1e-6f, 1e-6f);
    o.target = 2;
    CHECK(attack_run(&m, x, y, N, &o, adv) == STATUS_OK);
    check_perturbation("fgsm_tgt", adv, golden(f, a, "fgsm_tgt", N * D), golden(f, a, "fgsm_tgt_gmin", N * D), N * D, 1e-6f, 1e-6f);
    o = attack_defaults();
    o.method = ATTACK_METHOD_PGD; o.eps = 8.0f / 255; o.steps = 3; o.step_size = 2.0f / 255;
    o.random_start = false;
    CHECK(attack_run(&m, x, y, N, &o, adv) == STATUS_OK);
    check_perturbation("pgd", adv, golden(f, a, "pgd", N * D), golden(f, a, "pgd_gmin", N * D), N * D, 1e-6f, 1e-6f);
    /* L2: the step g / ||g|| carries the gradient's float error (1e-3 relative above): 1e-5 */
    o.norm = ATTACK_NORM_L2; o.eps = 0.5f; o.step_size = 0.2f;
    CHECK(attack_run(&m, x, y, N, &o, adv) == STATUS_OK);
    check_perturbation("pgd_l2", adv, golden(f, a, "pgd_l2", N * D), golden(f, a, "pgd_l2_gmin", N * D), N * D, 1e-5f, 0);
    attack_net_free(&an);
done:
    arena_free(a);
    safetensors_close(f);
}

/* ---- (c) bounds ---- */

static void test_outputs_stay_in_bounds(void) {
    arena *p = arena_new(1 << 16);
    rng r = rng_new(7);
    small_cnn net = small_cnn_random(p, &r, 3);
    attack_net an = {.logits = small_cnn_logits, .net = &net};
    attack_model m;
    attack_model_from_net(&m, &an, 3, 3, 8, 8);
    enum { N = 6, D = 3 * 8 * 8 };
    float x[N * D], adv[N * D], delta[D];
    rng_uniform(&r, x, N * D, 0, 1);
    for (int j = 0; j < N * D; j += 5) x[j] = (j / 5) % 2 ? 1.0f : 0.0f;  /* pixels at the walls */
    int y[N] = {0, 1, 2, 0, 1, 2};
    struct { attack_method method; attack_norm norm; float eps; int target; } cases[] = {
        {ATTACK_METHOD_FGSM, ATTACK_NORM_LINF, 8.0f / 255, -1}, {ATTACK_METHOD_FGSM, ATTACK_NORM_L2, 0.5f, -1},
        {ATTACK_METHOD_PGD, ATTACK_NORM_LINF, 8.0f / 255, -1}, {ATTACK_METHOD_PGD, ATTACK_NORM_L2, 0.5f, -1},
        {ATTACK_METHOD_PGD, ATTACK_NORM_LINF, 0.3f, 1}, {ATTACK_METHOD_PGD, ATTACK_NORM_L2, 3.0f, 2},
        {ATTACK_METHOD_CW, ATTACK_NORM_L2, 0.3f, -1}, {ATTACK_METHOD_CW, ATTACK_NORM_LINF, 0.05f, 0},
        {ATTACK_METHOD_NOISE, ATTACK_NORM_LINF, 16.0f / 255, -1}, {ATTACK_METHOD_NOISE, ATTACK_NORM_L2, 1.0f, -1},
        {ATTACK_METHOD_PGD, ATTACK_NORM_LINF, 0, -1}, {ATTACK_METHOD_PGD, ATTACK_NORM_LINF, 16.0f / 255, -2},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        attack_opts o = attack_defaults();
        o.method = cases[c].method; o.norm = cases[c].norm; o.eps = cases[c].eps;
        o.target = cases[c].target < -1 ? -1 : cases[c].target; o.early_stop = cases[c].target < -1;
        o.restarts = 2; o.steps = o.method == ATTACK_METHOD_CW ? 30 : 10;
        o.cw_search = 2;
        memset(adv, 0xff, sizeof adv);  /* NaNs: a pixel left unwritten fails the check */
        CHECK_MSG(attack_run(&m, x, y, N, &o, adv) == STATUS_OK, "case %zu: %s", c, error_message());
        /* tol 1e-6: the linf bound x +- eps rounds in float */
        CHECK_MSG(attack_in_ball(x, adv, N, D, o.norm, o.eps, 1e-6f), "case %zu (%s %s eps %g) left [0,1] or the ball",
                  c, attack_method_name(o.method), attack_norm_name(o.norm), (double)o.eps);
    }
    for (int norm = 0; norm < 2; norm++) {
        attack_opts o = attack_defaults();
        o.norm = (attack_norm)norm; o.eps = norm ? 1.0f : 0.1f; o.steps = 5;
        CHECK(attack_universal(&m, x, y, N, &o, 4, delta) == STATUS_OK);
        attack_apply_universal(x, N, D, delta, adv);
        CHECK(attack_in_ball(x, adv, N, D, o.norm, o.eps, 1e-6f));
        double ss = 0, mx = 0;
        for (int j = 0; j < D; j++) { ss += (double)delta[j] * delta[j]; mx = fmax(mx, fabs(delta[j])); }
        CHECK_MSG((norm ? sqrt(ss) : mx) <= o.eps + 1e-6, "universal delta of size %g, eps %g",
                  norm ? sqrt(ss) : mx, (double)o.eps);
    }
    attack_net_free(&an);
    arena_free(p);
}

static void test_bad_options(void) {
    arena *p = arena_new(1 << 16);
    rng r = rng_new(7);
    small_cnn net = small_cnn_random(p, &r, 3);
    attack_net an = {.logits = small_cnn_logits, .net = &net};
    attack_model m;
    attack_model_from_net(&m, &an, 3, 3, 8, 8);
    float x[3 * 64] = {0}, adv[3 * 64];
    int y = 0;
    struct { float eps; int target, steps; attack_norm norm; const char *part; } cases[] = {
        {-0.1f, -1, 10, ATTACK_NORM_LINF, "eps"}, {NAN, -1, 10, ATTACK_NORM_LINF, "eps"},
        {1.5f, -1, 10, ATTACK_NORM_LINF, "above 1"}, {0.1f, 3, 10, ATTACK_NORM_LINF, "target class 3"},
        {0.1f, -1, 0, ATTACK_NORM_L2, "steps 0"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        attack_opts o = attack_defaults();
        o.eps = cases[c].eps; o.target = cases[c].target; o.steps = cases[c].steps; o.norm = cases[c].norm;
        error_clear();
        CHECK(attack_run(&m, x, &y, 1, &o, adv) == STATUS_ARG);
        CHECK_MSG(strstr(error_message(), cases[c].part), "case %zu: '%s' lacks '%s'", c, error_message(), cases[c].part);
    }
    error_clear();
    attack_net_free(&an);
    arena_free(p);
}

/* ---- (d) a synthetic task with robust and non-robust features ---- */

enum { TD = 3 * 8 * 8, TH = 32, NTRAIN = 512, NTEST = 200 };

typedef struct mlp { tensor *w1, *b1, *w2, *b2; } mlp;  /* (TH, TD) (TH) (2, TH) (2) */

static tensor *mlp_logits(void *net, arena *a, tensor *x) {
    mlp *m = net;
    tensor *h = op_relu(a, op_linear(a, tensor_reshape(a, x, 2, (int[]){x->shape[0], -1}), m->w1, m->b1));
    return op_linear(a, h, m->w2, m->b2);
}

/* Channel 0 is a robust feature: 0.5 + 0.25 y' with y' = y 90% of the time (a shift of
 * 0.25 per pixel survives eps 0.1). Channels 1, 2 are non-robust: 0.5 + 0.04 y p_j plus
 * noise 0.1, p a fixed sign pattern: useless alone, together ~100% accurate, and an eps of
 * 0.1 (> 0.04) turns them around. */
static void make_task(rng *r, const float *pattern, float *x, int *y, int n) {
    for (int i = 0; i < n; i++) {
        y[i] = (int)(rng_u64(r) >> 63);
        float s = y[i] ? 1.0f : -1.0f, sr = rng_float(r) < 0.9f ? s : -s;
        float *xi = x + (int64_t)i * TD;
        rng_normal(r, xi, TD, 0, 1);
        for (int j = 0; j < TD; j++) {
            float v = j < 64 ? 0.5f + 0.25f * sr + 0.02f * xi[j] : 0.5f + 0.04f * s * pattern[j] + 0.1f * xi[j];
            xi[j] = fminf(fmaxf(v, 0.0f), 1.0f);
        }
    }
}

static float accuracy(const attack_model *m, const float *x, const int *y, int n) {
    int *pred = malloc(sizeof(int) * (size_t)n), right = 0;
    if (attack_predict(m, x, n, pred) != STATUS_OK) { free(pred); return -1; }
    for (int i = 0; i < n; i++) right += pred[i] == y[i];
    free(pred);
    return (float)right / (float)n;
}

static float attacked_accuracy(const attack_model *m, const float *x, const int *y, int n,
                               attack_method method, float eps, int steps, int restarts) {
    float *adv = malloc(sizeof(float) * (size_t)n * TD);
    attack_opts o = attack_defaults();
    o.method = method; o.eps = eps; o.steps = steps; o.restarts = restarts;
    o.early_stop = restarts < 0;
    if (restarts < 0) o.restarts = -restarts;   /* negative: with early stop */
    float acc = -1;
    if (attack_run(m, x, y, n, &o, adv) == STATUS_OK && attack_in_ball(x, adv, n, TD, o.norm, eps, 1e-6f))
        acc = accuracy(m, adv, y, n);
    free(adv);
    return acc;
}

/* Adam on the cross-entropy; adv_eps > 0: each batch replaced by PGD examples (Madry). */
static void train_mlp(mlp *m, arena *p, const float *x, const int *y, float adv_eps, int steps) {
    rng r = rng_new(11);
    m->w1 = tensor_new(p, 2, (int[]){TH, TD}); m->b1 = tensor_new(p, 1, (int[]){TH});
    m->w2 = tensor_new(p, 2, (int[]){2, TH}); m->b2 = tensor_new(p, 1, (int[]){2});
    init_uniform(m->w1, &r, -0.07f, 0.07f); init_uniform(m->w2, &r, -0.17f, 0.17f);
    tensor *ps[4] = {m->w1, m->b1, m->w2, m->b2};
    for (int i = 0; i < 4; i++) tensor_requires_grad(ps[i]);
    optim *opt = optim_adam(p, ps, 4, adam_defaults(1e-2f));
    attack_net an = {.logits = mlp_logits, .net = m};
    attack_model am;
    attack_model_from_net(&am, &an, 2, 3, 8, 8);
    arena *step = arena_new(1 << 20);
    enum { B = 64 };
    float xb[B * TD], xa[B * TD], dz[B * 2];
    int yb[B];
    attack_opts o = attack_defaults();
    o.eps = adv_eps; o.steps = 5;
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < B; i++) {
            int k = (int)(rng_u64(&r) % NTRAIN);
            memcpy(xb + i * TD, x + (int64_t)k * TD, sizeof(float) * TD);
            yb[i] = y[k];
        }
        const float *in = xb;
        if (adv_eps > 0) {
            o.seed = (uint64_t)s + 1;
            CHECK(attack_pgd(&am, xb, yb, B, &o, xa) == STATUS_OK);
            in = xa;
        }
        optim_zero_grad(opt);  /* the attack's backward reached the parameters too */
        arena_reset(step);
        tensor *xt = tensor_from(step, 4, (int[]){B, 3, 8, 8}, in);
        tensor *z = mlp_logits(m, step, xt);
        attack_loss_logits(z->data, B, 2, yb, ATTACK_LOSS_CE, dz);
        for (int j = 0; j < B * 2; j++) dz[j] /= B;   /* the mean cross-entropy */
        tensor *l = op_sum(step, op_mul(step, z, tensor_from(step, 2, (int[]){B, 2}, dz)), -1, false);
        CHECK(tensor_backward(l) == STATUS_OK);
        optim_step(opt);
    }
    optim_free(opt);
    arena_free(step);
    attack_net_free(&an);
}

static void test_synthetic_robustness(void) {
    rng r = rng_new(21);
    float pattern[TD];
    for (int j = 0; j < TD; j++) pattern[j] = rng_u64(&r) >> 63 ? 1.0f : -1.0f;
    float *xtr = malloc(sizeof(float) * NTRAIN * TD), *xte = malloc(sizeof(float) * NTEST * TD);
    int ytr[NTRAIN], yte[NTEST];
    make_task(&r, pattern, xtr, ytr, NTRAIN);
    make_task(&r, pattern, xte, yte, NTEST);
    arena *p = arena_new(1 << 20);
    const float eps = 0.1f;
    mlp plain, robust;
    train_mlp(&plain, p, xtr, ytr, 0, 150);
    train_mlp(&robust, p, xtr, ytr, eps, 150);
    attack_net an = {.logits = mlp_logits, .net = &plain}, ar = {.logits = mlp_logits, .net = &robust};
    attack_model m, mr;
    attack_model_from_net(&m, &an, 2, 3, 8, 8);
    attack_model_from_net(&mr, &ar, 2, 3, 8, 8);
    float clean = accuracy(&m, xte, yte, NTEST);
    float noise = attacked_accuracy(&m, xte, yte, NTEST, ATTACK_METHOD_NOISE, eps, 1, 1);
    float fgsm = attacked_accuracy(&m, xte, yte, NTEST, ATTACK_METHOD_FGSM, eps, 1, 1);
    float pgd10 = attacked_accuracy(&m, xte, yte, NTEST, ATTACK_METHOD_PGD, eps, 10, 1);
    float pgd50 = attacked_accuracy(&m, xte, yte, NTEST, ATTACK_METHOD_PGD, eps, 50, 1);
    float pgd10r = attacked_accuracy(&m, xte, yte, NTEST, ATTACK_METHOD_PGD, eps, 10, 3);
    float rclean = accuracy(&mr, xte, yte, NTEST);
    float rpgd = attacked_accuracy(&mr, xte, yte, NTEST, ATTACK_METHOD_PGD, eps, 10, 1);
    float rpgd50 = attacked_accuracy(&mr, xte, yte, NTEST, ATTACK_METHOD_PGD, eps, 50, 3);
    float rpgd50e = attacked_accuracy(&mr, xte, yte, NTEST, ATTACK_METHOD_PGD, eps, 50, -3);
    float rfgsm = attacked_accuracy(&mr, xte, yte, NTEST, ATTACK_METHOD_FGSM, eps, 1, 1);
    printf("# plain: clean %.3f noise %.3f fgsm %.3f pgd10 %.3f pgd50 %.3f pgd10x3 %.3f\n",
           clean, noise, fgsm, pgd10, pgd50, pgd10r);
    printf("# adversarially trained: clean %.3f fgsm %.3f pgd10 %.3f pgd50x3 %.3f (early stop %.3f)\n", rclean, rfgsm,
           rpgd, rpgd50, rpgd50e);
    /* early stop keeps a fooling iterate: never a higher accuracy */
    CHECK_MSG(rpgd50e <= rpgd50 + 0.01f && rpgd50e >= 0, "early stop %.3f, full %.3f", rpgd50e, rpgd50);
    CHECK_MSG(rpgd <= rfgsm + 0.01f && rpgd50 <= rpgd + 0.01f, "robust model orderings: fgsm %.3f pgd10 %.3f pgd50x3 %.3f",
              rfgsm, rpgd, rpgd50);
    CHECK_MSG(clean >= 0.97f, "plain clean accuracy %.3f", clean);
    CHECK_MSG(noise >= 0.95f, "random noise of eps %g: accuracy %.3f (should barely hurt)", eps, noise);
    CHECK_MSG(pgd10 <= 0.05f, "PGD at eps %g leaves accuracy %.3f (want near 0)", eps, pgd10);
    /* the field's sanity orderings (a small slack for 200 images) */
    CHECK_MSG(pgd10 <= fgsm + 0.01f && pgd50 <= pgd10 + 0.01f && pgd10r <= pgd10 + 0.01f,
              "orderings: fgsm %.3f pgd10 %.3f pgd50 %.3f pgd10x3 %.3f", fgsm, pgd10, pgd50, pgd10r);
    /* the robust feature alone is right 90% of the time: adversarial training finds it */
    CHECK_MSG(rpgd50 >= 0.75f && rpgd50 >= pgd50 + 0.5f, "robust accuracy %.3f (plain %.3f)", rpgd50, pgd50);
    CHECK_MSG(rclean >= 0.8f, "adversarially trained clean accuracy %.3f", rclean);

    /* (e) C&W L2, unbounded: fools (nearly) every image with a perturbation smaller in L2
     * than the linf PGD one (at most eps sqrt(D) = 1.39) */
    float *adv = malloc(sizeof(float) * 40 * TD);
    attack_opts o = attack_defaults();
    o.method = ATTACK_METHOD_CW; o.eps = 0; o.steps = 100; o.cw_search = 4;
    CHECK(attack_run(&m, xte, yte, 40, &o, adv) == STATUS_OK);
    float cw = accuracy(&m, adv, yte, 40);
    double l2 = 0;
    for (int i = 0; i < 40 * TD; i++) l2 += (double)(adv[i] - xte[i]) * (adv[i] - xte[i]);
    l2 = sqrt(l2 / 40);
    printf("# C&W: accuracy %.3f, rms L2 %.3f\n", cw, l2);
    CHECK_MSG(cw <= 0.05f && l2 < 1.0, "C&W accuracy %.3f with L2 %.3f", cw, l2);
    /* universal: one delta for all; the non-robust direction depends on the class, so the
     * best single delta fools one class: about half */
    float *delta = malloc(sizeof(float) * TD);
    o = attack_defaults();
    o.eps = eps; o.steps = 20;
    float *uadv = malloc(sizeof(float) * NTEST * TD);
    CHECK(attack_universal(&m, xte, yte, NTEST, &o, 64, delta) == STATUS_OK);
    attack_apply_universal(xte, NTEST, TD, delta, uadv);
    float uni = accuracy(&m, uadv, yte, NTEST);
    printf("# universal: accuracy %.3f\n", uni);
    CHECK_MSG(uni <= clean - 0.3f, "universal perturbation: accuracy %.3f (clean %.3f)", uni, clean);
    free(delta); free(uadv); free(adv);
    attack_net_free(&an); attack_net_free(&ar);
    arena_free(p);
    free(xtr); free(xte);
}

int main(void) {
    RUN(test_loss_logits);
    RUN(test_op_path_gradients);
    RUN(test_adapter_gradient);
    RUN(test_pytorch_agreement);
    RUN(test_outputs_stay_in_bounds);
    RUN(test_bad_options);
    RUN(test_synthetic_robustness);
    return test_finish();
}
