/* test_norm.c: instance norm, batch norm (train and eval) and AdaIN.
 *
 * Forward values and running statistics are compared with PyTorch 1.13 (literals below,
 * printed by torch.nn.BatchNorm2d / InstanceNorm2d and by the AdaIN authors' calc_mean_std
 * on the same inputs); gradients are checked against central differences on awkward sizes
 * (1, 3, 5, 7), with and without the affine parameters, and to both of AdaIN's inputs.
 * Tolerance 1e-5 on forward values: float32 results of O(1) computed in double by both.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/ops.h"
#include "gradcheck.h"
#include "harness.h"

/* x (2, 2, 1, 3) and the affine parameters shared by the PyTorch comparisons */
static const float X[12] = {0.5f, -1.0f, 2.0f, 1.5f, 0.25f, -0.75f,
                            3.0f, 0.0f, -2.0f, 1.0f, 1.0f, 4.0f};
static const float GAMMA[2] = {1.5f, -0.5f}, BETA[2] = {0.25f, 2.0f};


/* True when the last error has status s and its message names every string in want. */
static bool error_names(status s, const char *want1, const char *want2) {
    const char *m = error_message();
    bool ok = error_status() == s && strstr(m, want1) && (!want2 || strstr(m, want2));
    if (!ok) test_fail(__FILE__, __LINE__, "error %s \"%s\", want %s naming %s %s",
                       status_name(error_status()), m, status_name(s), want1, want2 ? want2 : "");
    error_clear();
    return ok;
}

/* ---- instance norm ---- */

static void test_instance_norm_matches_torch(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 4, (int[]){2, 2, 1, 3}, X);
    tensor *g = tensor_from(a, 1, (int[]){2}, GAMMA), *b = tensor_from(a, 1, (int[]){2}, BETA);
    tensor *y = op_instance_norm(a, x, g, b, 1e-5f);
    CHECK_OK(y);
    /* torch.nn.InstanceNorm2d(2, affine=True) with weight GAMMA, bias BETA */
    static const float want[12] = {0.25f, -1.5871111f, 2.087111f, 1.3662534f, 2.0452676f,
                                   2.5884788f, 2.1966546f, 0.006668163f, -1.4533228f,
                                   2.3535526f, 2.3535526f, 1.2928951f};
    if (y) CHECK_ARRAY(y->data, want, 12, 1e-5, 1e-5);
    /* without affine, by hand: {1, 2, 3, 4} has mean 2.5 and biased variance 1.25 */
    tensor *x2 = tensor_from(a, 4, (int[]){1, 1, 2, 2}, (float[]){1, 2, 3, 4});
    tensor *y2 = op_instance_norm(a, x2, NULL, NULL, 0.0f);
    CHECK_OK(y2);
    if (y2) {
        float r = 1.0f / sqrtf(1.25f);
        CHECK_ARRAY(y2->data, ((float[]){-1.5f * r, -0.5f * r, 0.5f * r, 1.5f * r}), 4, 1e-6, 1e-6);
    }
    arena_free(a);
}

static tensor *instance_norm_fn(arena *a, tensor **in, void *user) {
    return op_instance_norm(a, in[0], in[1], in[2], 1e-5f);
}

static void test_instance_norm_gradcheck(void) {
    static const int shapes[][4] = {{1, 3, 5, 7}, {3, 1, 1, 5}, {2, 5, 3, 1}, {1, 1, 7, 3}};
    arena *a = arena_new(1 << 20);
    for (int k = 0; k < 4; k++) {
        const int *s = shapes[k];
        tensor *x = test_leaf(a, 4, s, 10 + k, -2, 2);
        tensor *g = test_leaf(a, 1, &s[1], 20 + k, 0.5f, 1.5f);
        tensor *b = test_leaf(a, 1, &s[1], 30 + k, -1, 1);
        gradcheck("instance_norm affine", instance_norm_fn, (tensor *[]){x, g, b}, 3, NULL,
                  gradcheck_defaults());
        gradcheck("instance_norm", instance_norm_fn, (tensor *[]){x, NULL, NULL}, 3, NULL,
                  gradcheck_defaults());
    }
    arena_free(a);
}

/* The fused relu(instance_norm) against the two ops: values and every gradient, then a
 * finite-difference check of its own (awkward shapes: 1 channel, 3x5 planes). */
static tensor *instance_norm_relu_fn(arena *a, tensor **in, void *user) {
    return user ? op_instance_norm_relu(a, in[0], in[1], in[2], 1e-5f)
                : op_relu(a, op_instance_norm(a, in[0], in[1], in[2], 1e-5f));
}

static void test_instance_norm_relu_matches_composition(void) {
    static const int shapes[][4] = {{2, 3, 5, 7}, {1, 1, 3, 5}};
    arena *a = arena_new(1 << 20), *s = arena_new(1 << 20);
    for (int k = 0; k < 2; k++) {
        const int *sh = shapes[k];
        tensor *in[3] = {test_leaf(a, 4, sh, 40 + k, -2, 2), test_leaf(a, 1, &sh[1], 50 + k, 0.5f, 1.5f),
                         test_leaf(a, 1, &sh[1], 60 + k, -0.5f, 0.5f)};
        float *want[4] = {0}, *got[4] = {0};
        for (int fused = 0; fused < 2; fused++) {
            for (int i = 0; i < 3; i++) tensor_zero_grad(in[i]);
            tensor *y = instance_norm_relu_fn(s, in, fused ? (void *)1 : NULL);
            tensor *w = test_leaf(s, 4, sh, 70 + k, -1, 1);   /* a loss that weighs every element */
            tensor *loss = op_sum(s, op_mul(s, y, w), -1, false);
            CHECK_OK(loss);
            if (!loss || tensor_backward(loss) != STATUS_OK) goto done;
            if (fused) CHECK(strcmp(y->op, "instance_norm_relu") == 0);
            float **dst = fused ? got : want;
            tensor *t[4] = {y, in[0], in[1], in[2]};
            for (int i = 0; i < 4; i++) {
                const float *src = i ? t[i]->grad : t[i]->data;
                dst[i] = arena_alloc(a, sizeof(float) * t[i]->numel);
                memcpy(dst[i], src, sizeof(float) * t[i]->numel);
            }
            arena_reset(s);
        }
        int64_t n[4] = {in[0]->numel, in[0]->numel, in[1]->numel, in[2]->numel};
        for (int i = 0; i < 4; i++)
            CHECK(test_close_array(__FILE__, __LINE__, "fused vs relu(instance_norm)", got[i], want[i], n[i], 1e-6, 1e-5));
        CHECK(gradcheck("instance_norm_relu", instance_norm_relu_fn, in, 3, (void *)1, gradcheck_defaults()));
    }
done:
    arena_free(a); arena_free(s);
}

/* In place (inference): the fused op's values over x itself; refused inside a graph. */
static void test_instance_norm_relu_inplace(void) {
    arena *a = arena_new(1 << 20);
    tensor *x = test_leaf(a, 4, (int[]){2, 3, 5, 7}, 80, -2, 2), *g = test_leaf(a, 1, (int[]){3}, 81, 0.5f, 1.5f),
           *b = test_leaf(a, 1, (int[]){3}, 82, -0.5f, 0.5f);
    bool was = autograd_set(false);
    tensor *want = op_instance_norm_relu(a, x, g, b, 1e-5f);
    CHECK(op_instance_norm_relu_inplace(x, g, b, 1e-5f) == NULL && error_status() == STATUS_ARG);  /* x requires grad */
    error_clear();
    tensor *y = tensor_copy(a, x);
    CHECK(op_instance_norm_relu_inplace(y, g, b, 1e-5f) == y);
    if (want) CHECK(test_close_array(__FILE__, __LINE__, "in place", y->data, want->data, want->numel, 0, 0));
    autograd_set(true);
    tensor *z = op_mul_scalar(a, x, 2.0f);   /* recorded: part of a graph */
    CHECK(op_instance_norm_relu_inplace(z, g, b, 1e-5f) == NULL && error_status() == STATUS_ARG);
    error_clear();
    autograd_set(was);
    arena_free(a);
}

/* Conditional instance norm (gamma, beta (N, C)): sample b equals an instance norm of
 * that sample alone with row b; the fused ReLU and the in-place form agree; gradients to
 * the rows by finite differences (also with a shared (C) beta beside an (N, C) gamma). */
static void test_instance_norm_per_sample(void) {
    arena *a = arena_new(1 << 20);
    const int sh[4] = {3, 4, 3, 5};
    tensor *x = test_leaf(a, 4, sh, 90, -2, 2);
    tensor *g = test_leaf(a, 2, (int[]){3, 4}, 91, 0.5f, 1.5f), *b = test_leaf(a, 2, (int[]){3, 4}, 92, -1, 1);
    tensor *b1 = test_leaf(a, 1, (int[]){4}, 93, -1, 1);
    tensor *y = op_instance_norm(a, x, g, b, 1e-5f), *yr = op_instance_norm_relu(a, x, g, b, 1e-5f);
    CHECK_OK(y);
    CHECK_OK(yr);
    for (int k = 0; y && yr && k < 3; k++) {
        tensor *xk = op_slice(a, x, 0, k, k + 1);
        tensor *gk = tensor_reshape(a, op_slice(a, g, 0, k, k + 1), 1, (int[]){4});
        tensor *bk = tensor_reshape(a, op_slice(a, b, 0, k, k + 1), 1, (int[]){4});
        tensor *want = op_instance_norm(a, xk, gk, bk, 1e-5f);
        CHECK_OK(want);
        if (!want) break;
        int64_t m = want->numel;
        CHECK(test_close_array(__FILE__, __LINE__, "row k", y->data + k * m, want->data, m, 0, 0));
        for (int64_t i = 0; i < m; i++)
            if (yr->data[k * m + i] != fmaxf(want->data[i], 0.0f)) { CHECK(!"fused relu differs"); break; }
    }
    bool was = autograd_set(false);
    tensor *xc = tensor_copy(a, x);
    CHECK(op_instance_norm_relu_inplace(xc, g, b, 1e-5f) == xc);
    if (yr) CHECK(test_close_array(__FILE__, __LINE__, "in place", xc->data, yr->data, yr->numel, 0, 0));
    autograd_set(was);
    CHECK(gradcheck("instance_norm (N, C) rows", instance_norm_fn, (tensor *[]){x, g, b}, 3, NULL, gradcheck_defaults()));
    CHECK(gradcheck("instance_norm (N, C) gamma, (C) beta", instance_norm_fn, (tensor *[]){x, g, b1}, 3, NULL,
                    gradcheck_defaults()));
    CHECK(gradcheck("instance_norm_relu (N, C)", instance_norm_relu_fn, (tensor *[]){x, g, b}, 3, (void *)1,
                    gradcheck_defaults()));
    /* rows for another batch size, or (N, C) in batch norm, are refused */
    CHECK(op_instance_norm(a, op_slice(a, x, 0, 0, 2), g, b, 1e-5f) == NULL);
    error_names(STATUS_SHAPE, "(3, 4)", "(2, 4, 3, 5)");
    CHECK(op_batch_norm(a, x, g, NULL, NULL, NULL, true, 0.1f, 1e-5f) == NULL);
    error_names(STATUS_SHAPE, "batch_norm", "(3, 4)");
    arena_free(a);
}

/* ---- batch norm ---- */

/* The fused leaky_relu(batch_norm) (slope 0: ReLU) against the two ops, training and
 * eval: values, every gradient, the running statistics. (No finite differences of its own:
 * in training every x moves every output, so some output always sits near the kink; the two
 * ops it equals are checked by finite differences above and in test_basic_ops.) */
typedef struct fused_bn_case { bool fused, training; float slope; tensor *rm, *rv; } fused_bn_case;

static tensor *batch_norm_act_fn(arena *a, tensor **in, void *user) {
    fused_bn_case *k = user;
    if (k->fused) return op_batch_norm_act(a, in[0], in[1], in[2], k->rm, k->rv, k->training, 0.1f, 1e-5f, k->slope);
    tensor *y = op_batch_norm(a, in[0], in[1], in[2], k->rm, k->rv, k->training, 0.1f, 1e-5f);
    return k->slope == 0 ? op_relu(a, y) : op_leaky_relu(a, y, k->slope);
}

static void test_batch_norm_act_matches_composition(void) {
    arena *a = arena_new(1 << 20), *s = arena_new(1 << 20);
    static const int sh[4] = {3, 2, 4, 5};
    for (int c = 0; c < 4; c++) {
        bool training = c < 2;
        float slope = c % 2 ? 0.2f : 0.0f;
        tensor *in[3] = {test_leaf(a, 4, sh, 90 + c, -2, 2), test_leaf(a, 1, &sh[1], 91 + c, 0.5f, 1.5f),
                         test_leaf(a, 1, &sh[1], 92 + c, -0.5f, 0.5f)};
        float *got[6] = {0}, *want[6] = {0};
        for (int fused = 0; fused < 2; fused++) {
            tensor *rm = tensor_fill(tensor_new(a, 1, &sh[1]), 0.1f), *rv = tensor_fill(tensor_new(a, 1, &sh[1]), 1.5f);
            fused_bn_case k = {fused, training, slope, rm, rv};
            for (int i = 0; i < 3; i++) tensor_zero_grad(in[i]);
            tensor *y = batch_norm_act_fn(s, in, &k);
            tensor *loss = op_sum(s, op_mul(s, y, test_leaf(s, 4, sh, 99, -1, 1)), -1, false);
            CHECK_OK(loss);
            if (!loss || tensor_backward(loss) != STATUS_OK) goto done;
            float **dst = fused ? got : want;
            tensor *t[6] = {y, in[0], in[1], in[2], rm, rv};
            for (int i = 0; i < 6; i++) {
                const float *src = i >= 1 && i <= 3 ? t[i]->grad : t[i]->data;
                dst[i] = arena_alloc(a, sizeof(float) * t[i]->numel);
                memcpy(dst[i], src, sizeof(float) * t[i]->numel);
            }
            arena_reset(s);
        }
        int64_t n[6] = {in[0]->numel, in[0]->numel, 2, 2, 2, 2};
        for (int i = 0; i < 6; i++)
            CHECK(test_close_array(__FILE__, __LINE__, "fused vs act(batch_norm)", got[i], want[i], n[i], 1e-6, 1e-5));
    }
done:
    arena_free(a); arena_free(s);
}

/* PyTorch 1.13, BatchNorm2d(2, momentum=0.1, eps=1e-5), weight GAMMA, bias BETA, running_mean
 * (0.2, -0.1), running_var (1, 2), train(): y = bn(X); then bn(2 X); then eval(): bn(X). */
static void test_batch_norm_matches_torch(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 4, (int[]){2, 2, 1, 3}, X);
    tensor *g = tensor_from(a, 1, (int[]){2}, GAMMA), *b = tensor_from(a, 1, (int[]){2}, BETA);
    tensor *rm = tensor_from(a, 1, (int[]){2}, (float[]){0.2f, -0.1f});
    tensor *rv = tensor_from(a, 1, (int[]){2}, (float[]){1.0f, 2.0f});
    tensor *y = op_batch_norm(a, x, g, b, rm, rv, true, 0.1f, 1e-5f);
    CHECK_OK(y);
    static const float want_y[12] = {0.32381007f, -1.0047709f, 1.652391f, 1.8854806f,
                                     2.3149283f, 2.6584866f, 2.5381117f, -0.11905024f,
                                     -1.8904915f, 2.0572596f, 2.0572596f, 1.0265851f};
    if (y) CHECK_ARRAY(y->data, want_y, 12, 1e-5, 1e-5);
    /* running_var takes the unbiased variance: (1 - 0.1) * 1 + 0.1 * var * 6 / 5 */
    CHECK_ARRAY(rm->data, ((float[]){0.22166666f, 0.026666671f}), 2, 1e-6, 1e-6);
    CHECK_ARRAY(rv->data, ((float[]){1.2441666f, 2.0541666f}), 2, 1e-6, 1e-6);
    CHECK_OK(op_batch_norm(a, op_mul_scalar(a, x, 2.0f), g, b, rm, rv, true, 0.1f, 1e-5f));
    CHECK_ARRAY(rm->data, ((float[]){0.28283334f, 0.25733334f}), 2, 1e-6, 1e-6);
    CHECK_ARRAY(rv->data, ((float[]){2.4964166f, 2.8654165f}), 2, 1e-6, 1e-6);
    tensor *ye = op_batch_norm(a, x, g, b, rm, rv, false, 0.1f, 1e-5f);
    CHECK_OK(ye);
    static const float want_eval[12] = {0.45616978f, -0.96787328f, 1.8802129f, 1.6329461f,
                                        2.0021663f, 2.2975423f, 2.8295748f, -0.018511234f,
                                        -1.9172353f, 1.7806342f, 1.7806342f, 0.89450586f};
    if (ye) CHECK_ARRAY(ye->data, want_eval, 12, 1e-5, 1e-5);
    /* eval leaves the running statistics alone */
    CHECK_ARRAY(rm->data, ((float[]){0.28283334f, 0.25733334f}), 2, 0, 0);
    arena_free(a);
}

typedef struct bn_case { bool training; tensor *rm, *rv; } bn_case;

static tensor *batch_norm_fn(arena *a, tensor **in, void *user) {
    bn_case *c = user;
    return op_batch_norm(a, in[0], in[1], in[2], c->rm, c->rv, c->training, 0.1f, 1e-5f);
}

static void test_batch_norm_gradcheck(void) {
    /* N = 1 with H*W > 1, and H*W = 1 with N > 1: both have several values per channel */
    static const int shapes[][4] = {{1, 3, 5, 7}, {3, 2, 1, 5}, {5, 1, 3, 1}, {7, 3, 1, 1}};
    arena *a = arena_new(1 << 20);
    for (int k = 0; k < 4; k++) {
        const int *s = shapes[k];
        tensor *x = test_leaf(a, 4, s, 40 + k, -2, 2);
        tensor *g = test_leaf(a, 1, &s[1], 50 + k, 0.5f, 1.5f);
        tensor *b = test_leaf(a, 1, &s[1], 60 + k, -1, 1);
        tensor *rm = tensor_new(a, 1, &s[1]), *rv = tensor_new(a, 1, &s[1]);
        test_fill_uniform(rm, 70 + k, -0.5f, 0.5f);
        test_fill_uniform(rv, 80 + k, 0.5f, 2.0f);
        /* training without running stats: with them, each call would move them */
        bn_case train = {true, NULL, NULL}, eval = {false, rm, rv};
        gradcheck("batch_norm train affine", batch_norm_fn, (tensor *[]){x, g, b}, 3, &train,
                  gradcheck_defaults());
        gradcheck("batch_norm train", batch_norm_fn, (tensor *[]){x, NULL, NULL}, 3, &train,
                  gradcheck_defaults());
        gradcheck("batch_norm eval affine", batch_norm_fn, (tensor *[]){x, g, b}, 3, &eval,
                  gradcheck_defaults());
        gradcheck("batch_norm eval", batch_norm_fn, (tensor *[]){x, NULL, NULL}, 3, &eval,
                  gradcheck_defaults());
    }
    arena_free(a);
}

/* ---- synchronised batch norm ---- */

/* One process: the all-reduce is the identity. */
static status sum_alone(void *user, double *buf, int n) { (void)user; (void)buf; (void)n; return STATUS_OK; }

static tensor *batch_norm_sync_fn(arena *a, tensor **in, void *user) {
    (void)user;
    op_allreduce r = {sum_alone, NULL};
    return op_batch_norm_sync(a, in[0], in[1], in[2], NULL, NULL, 0.1f, 1e-5f, &r);
}

/* Alone, it is batch norm: central differences, with and without the affine parameters. */
static void test_batch_norm_sync_gradcheck(void) {
    static const int shapes[][4] = {{1, 3, 5, 7}, {3, 2, 1, 5}, {7, 3, 1, 1}};
    arena *a = arena_new(1 << 20);
    for (int k = 0; k < 3; k++) {
        const int *s = shapes[k];
        tensor *x = test_leaf(a, 4, s, 140 + k, -2, 2);
        tensor *g = test_leaf(a, 1, &s[1], 150 + k, 0.5f, 1.5f), *b = test_leaf(a, 1, &s[1], 160 + k, -1, 1);
        gradcheck("batch_norm_sync affine", batch_norm_sync_fn, (tensor *[]){x, g, b}, 3, NULL, gradcheck_defaults());
        gradcheck("batch_norm_sync", batch_norm_sync_fn, (tensor *[]){x, NULL, NULL}, 3, NULL, gradcheck_defaults());
    }
    arena_free(a);
}

/* Two "processes" as two threads: a barrier all-reduce that gives both the same sum. */
typedef struct pair_reduce {
    pthread_barrier_t bar;
    double *slot[2];
} pair_reduce;

typedef struct sync_rank {
    pair_reduce *pr;
    int rank, lo, hi;                /* rows [lo, hi) of the whole batch */
    const tensor *x, *w, *gamma, *beta;
    arena *a;
    tensor *y, *xr, *g, *b, *rm, *rv;
    status st;
} sync_rank;

static _Thread_local int g_rank;

static status sum_pair(void *user, double *buf, int n) {
    pair_reduce *p = user;
    p->slot[g_rank] = buf;
    pthread_barrier_wait(&p->bar);
    double *o = p->slot[1 - g_rank], *mine = malloc(sizeof(double) * (size_t)n);
    for (int i = 0; i < n; i++) mine[i] = g_rank == 0 ? buf[i] + o[i] : o[i] + buf[i];
    pthread_barrier_wait(&p->bar);     /* both have read both before either writes */
    memcpy(buf, mine, sizeof(double) * (size_t)n);
    free(mine);
    return STATUS_OK;
}

static void *sync_rank_run(void *arg) {
    sync_rank *r = arg;
    g_rank = r->rank;
    arena *a = r->a;
    int m = r->hi - r->lo, c = r->x->shape[1];
    r->xr = tensor_copy(a, tensor_narrow(a, (tensor *)r->x, r->lo, m));
    r->g = tensor_copy(a, r->gamma);
    r->b = tensor_copy(a, r->beta);
    r->rm = tensor_fill(tensor_new(a, 1, &c), 0.1f);
    r->rv = tensor_fill(tensor_new(a, 1, &c), 1.5f);
    tensor_requires_grad(r->xr); tensor_requires_grad(r->g); tensor_requires_grad(r->b);
    op_allreduce red = {sum_pair, r->pr};
    r->y = op_batch_norm_sync(a, r->xr, r->g, r->b, r->rm, r->rv, 0.1f, 1e-5f, &red);
    tensor *w = tensor_narrow(a, (tensor *)r->w, r->lo, m);
    tensor *loss = op_sum(a, op_mul(a, r->y, w), -1, false);
    r->st = loss ? tensor_backward(loss) : error_status();
    return NULL;
}

/* The batch split over two threads (rows 0..1 and 2..4) gives what batch norm gives on the
 * whole: the outputs, dx row by row, the running statistics, and the parts of dgamma and
 * dbeta summed. */
static void test_batch_norm_sync_split(void) {
    static const int sh[4] = {5, 3, 2, 3};
    arena *a = arena_new(1 << 20);
    tensor *x = test_leaf(a, 4, sh, 171, -2, 2), *w = test_leaf(a, 4, sh, 172, -1, 1);
    tensor *g = test_leaf(a, 1, &sh[1], 173, 0.5f, 1.5f), *b = test_leaf(a, 1, &sh[1], 174, -1, 1);
    tensor *rm = tensor_fill(tensor_new(a, 1, &sh[1]), 0.1f), *rv = tensor_fill(tensor_new(a, 1, &sh[1]), 1.5f);
    tensor *y = op_batch_norm(a, x, g, b, rm, rv, true, 0.1f, 1e-5f);
    tensor *loss = op_sum(a, op_mul(a, y, w), -1, false);
    CHECK_OK(loss);
    if (!loss || tensor_backward(loss) != STATUS_OK) { arena_free(a); return; }
    pair_reduce pr;
    pthread_barrier_init(&pr.bar, NULL, 2);
    sync_rank r[2] = {{.pr = &pr, .rank = 0, .lo = 0, .hi = 2, .x = x, .w = w, .gamma = g, .beta = b, .a = arena_new(1 << 20)},
                      {.pr = &pr, .rank = 1, .lo = 2, .hi = 5, .x = x, .w = w, .gamma = g, .beta = b, .a = arena_new(1 << 20)}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, sync_rank_run, &r[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&pr.bar);
    int64_t per = x->numel / 5;
    for (int i = 0; i < 2; i++) {
        CHECK(r[i].st == STATUS_OK && r[i].y);
        if (r[i].st != STATUS_OK || !r[i].y) continue;
        int64_t off = r[i].lo * per, n = (r[i].hi - r[i].lo) * per;
        CHECK(test_close_array(__FILE__, __LINE__, "y rows", r[i].y->data, y->data + off, n, 1e-5, 1e-5));
        CHECK(test_close_array(__FILE__, __LINE__, "dx rows", r[i].xr->grad, x->grad + off, n, 1e-5, 1e-5));
        CHECK(test_close_array(__FILE__, __LINE__, "running_mean", r[i].rm->data, rm->data, 3, 1e-6, 1e-6));
        CHECK(test_close_array(__FILE__, __LINE__, "running_var", r[i].rv->data, rv->data, 3, 1e-6, 1e-6));
    }
    if (r[0].st == STATUS_OK && r[1].st == STATUS_OK) {
        float dg[3], db[3];
        for (int c = 0; c < 3; c++) { dg[c] = r[0].g->grad[c] + r[1].g->grad[c]; db[c] = r[0].b->grad[c] + r[1].b->grad[c]; }
        CHECK(test_close_array(__FILE__, __LINE__, "dgamma", dg, g->grad, 3, 1e-5, 1e-5));
        CHECK(test_close_array(__FILE__, __LINE__, "dbeta", db, b->grad, 3, 1e-5, 1e-5));
        /* each half alone would be another normalisation: the test can tell */
        CHECK(fabsf(r[0].y->data[0] - y->data[0]) < 1e-5f);
    }
    arena *s = arena_new(1 << 16);
    tensor *alone = op_batch_norm(s, tensor_narrow(s, x, 0, 2), g, b, NULL, NULL, true, 0.1f, 1e-5f);
    CHECK(alone && fabsf(alone->data[0] - y->data[0]) > 1e-2f);
    CHECK(op_batch_norm_sync(s, x, g, b, NULL, NULL, 0.1f, 1e-5f, NULL) == NULL);
    error_names(STATUS_ARG, "batch_norm_sync", NULL);
    arena_free(s);
    arena_free(r[0].a);
    arena_free(r[1].a);
    arena_free(a);
}

/* Training with N = 1 and H*W = 1 per channel: PyTorch refuses, so do we. Eval is fine. */
static void test_batch_norm_single_value(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_fill(tensor_new(a, 4, (int[]){1, 3, 1, 1}), 2.0f);
    tensor *rm = tensor_new(a, 1, (int[]){3}), *rv = tensor_fill(tensor_new(a, 1, (int[]){3}), 4.0f);
    CHECK(op_batch_norm(a, x, NULL, NULL, rm, rv, true, 0.1f, 1e-5f) == NULL);
    error_names(STATUS_SHAPE, "batch_norm", "(1, 3, 1, 1)");
    tensor *y = op_batch_norm(a, x, NULL, NULL, rm, rv, false, 0.1f, 0.0f);
    CHECK_OK(y);
    if (y) CHECK_NEAR(y->data[1], 1.0, 1e-7, 0);  /* (2 - 0) / sqrt(4) */
    arena_free(a);
}

/* Gradients to gamma and beta only (x is a constant): the kernels skip dx. For sum(y),
 * dbeta = N H W per channel and dgamma = sum(xhat), by hand for eval's fixed statistics. */
static void test_batch_norm_params_only(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 4, (int[]){2, 1, 1, 2}, (float[]){1, 3, 5, -1});
    tensor *g = tensor_fill(tensor_new(a, 1, (int[]){1}), 2.0f), *b = tensor_new(a, 1, (int[]){1});
    tensor *rm = tensor_fill(tensor_new(a, 1, (int[]){1}), 1.0f);
    tensor *rv = tensor_fill(tensor_new(a, 1, (int[]){1}), 4.0f);
    tensor_requires_grad(g);
    tensor_requires_grad(b);
    tensor *l = op_sum(a, op_batch_norm(a, x, g, b, rm, rv, false, 0.1f, 0.0f), -1, false);
    CHECK_OK(l);
    if (l) {
        CHECK(tensor_backward(l) == STATUS_OK && x->grad == NULL);
        CHECK_NEAR(b->grad[0], 4.0, 1e-6, 0);
        CHECK_NEAR(g->grad[0], (0 + 2 + 4 - 2) / 2.0, 1e-6, 0);  /* (x - 1) / sqrt(4) */
    }
    arena_free(a);
}

/* ---- AdaIN ---- */

/* The authors' calc_mean_std (unbiased var + eps, sqrt) evaluated in PyTorch 1.13 on
 * x = X (2, 2, 1, 3) and the style below (2, 2, 2, 2), eps 1e-5. */
static void test_adain_matches_torch(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 4, (int[]){2, 2, 1, 3}, X);
    tensor *s = tensor_from(a, 4, (int[]){2, 2, 2, 2},
                            (float[]){1.0f, 2.0f, 4.0f, -1.0f, 0.0f, 3.0f, 0.5f, 0.5f,
                                      2.5f, -3.0f, 1.0f, 2.0f, 0.0f, 1.0f, -1.0f, 0.25f});
    tensor *y = op_adain(a, x, s, 1e-5f);
    CHECK_OK(y);
    static const float want[12] = {1.5f, -0.58166385f, 3.5816638f, 2.4012725f, 0.89990908f,
                                   -0.30118179f, 3.2696457f, 0.29441929f, -1.689065f,
                                   -0.4143995f, -0.4143995f, 1.016299f};
    if (y) CHECK_ARRAY(y->data, want, 12, 1e-5, 1e-5);
    arena_free(a);
}

static tensor *adain_fn(arena *a, tensor **in, void *user) {
    return op_adain(a, in[0], in[1], 1e-5f);
}

static void test_adain_gradcheck(void) {
    static const int xs[][4] = {{1, 3, 5, 7}, {3, 1, 1, 5}, {2, 2, 3, 1}};
    static const int ss[][4] = {{1, 3, 3, 1}, {3, 1, 7, 1}, {2, 2, 5, 5}};
    arena *a = arena_new(1 << 20);
    for (int k = 0; k < 3; k++) {
        tensor *x = test_leaf(a, 4, xs[k], 90 + k, -2, 2);
        tensor *s = test_leaf(a, 4, ss[k], 100 + k, -1, 3);
        gradcheck("adain", adain_fn, (tensor *[]){x, s}, 2, NULL, gradcheck_defaults());
    }
    arena_free(a);
}

/* ---- error paths ---- */

static void test_norm_errors(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_new(a, 4, (int[]){1, 3, 2, 2}), *x3 = tensor_new(a, 3, (int[]){2, 3, 4});
    tensor *c3 = tensor_new(a, 1, (int[]){3}), *c4 = tensor_new(a, 1, (int[]){4});
    CHECK(op_instance_norm(a, x3, NULL, NULL, 1e-5f) == NULL);
    error_names(STATUS_SHAPE, "instance_norm", "(2, 3, 4)");
    CHECK(op_instance_norm(a, x, c4, c3, 1e-5f) == NULL);
    error_names(STATUS_SHAPE, "(4)", "(1, 3, 2, 2)");
    CHECK(op_instance_norm(a, tensor_new(a, 4, (int[]){2, 3, 1, 1}), NULL, NULL, 1e-5f) == NULL);
    error_names(STATUS_SHAPE, "instance_norm", "(2, 3, 1, 1)");
    CHECK(op_batch_norm(a, x, c3, c3, c3, c4, true, 0.1f, 1e-5f) == NULL);
    error_names(STATUS_SHAPE, "running_var (4)", "(1, 3, 2, 2)");
    CHECK(op_batch_norm(a, x, NULL, NULL, NULL, NULL, false, 0.1f, 1e-5f) == NULL);
    error_names(STATUS_ARG, "batch_norm", "running_mean");
    tensor *s = tensor_new(a, 4, (int[]){1, 2, 4, 4});
    CHECK(op_adain(a, x, s, 1e-5f) == NULL);
    error_names(STATUS_SHAPE, "(1, 3, 2, 2)", "(1, 2, 4, 4)");
    CHECK(op_adain(a, x, tensor_new(a, 4, (int[]){2, 3, 4, 4}), 1e-5f) == NULL);
    error_names(STATUS_SHAPE, "adain", "(2, 3, 4, 4)");
    /* a NULL input keeps the first reason */
    error_set(STATUS_IO, "earlier failure");
    CHECK(op_adain(a, NULL, s, 1e-5f) == NULL && op_instance_norm(a, NULL, NULL, NULL, 0) == NULL);
    CHECK(op_batch_norm(a, NULL, NULL, NULL, NULL, NULL, true, 0.1f, 1e-5f) == NULL);
    error_names(STATUS_IO, "earlier failure", NULL);
    arena_free(a);
}

int main(void) {
    RUN(test_instance_norm_matches_torch);
    RUN(test_instance_norm_gradcheck);
    RUN(test_instance_norm_relu_matches_composition);
    RUN(test_instance_norm_relu_inplace);
    RUN(test_instance_norm_per_sample);
    RUN(test_batch_norm_matches_torch);
    RUN(test_batch_norm_gradcheck);
    RUN(test_batch_norm_act_matches_composition);
    RUN(test_batch_norm_sync_gradcheck);
    RUN(test_batch_norm_sync_split);
    RUN(test_batch_norm_single_value);
    RUN(test_batch_norm_params_only);
    RUN(test_adain_matches_torch);
    RUN(test_adain_gradcheck);
    RUN(test_norm_errors);
    return test_finish();
}
