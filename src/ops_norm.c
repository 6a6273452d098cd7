/* ops_norm.c: normalisation ops (ops.h) over the backend's norm kernels (backend.h).
 *
 * Instance norm and AdaIN are the heart of feed-forward style transfer (Ulyanov et al. 2016;
 * Huang & Belongie 2017); batch norm is DCGAN's. Each op checks x is (N, C, H, W) and that
 * every per-channel tensor has C entries, then runs the kernel; the graph records x and the
 * affine parameters that are present (gamma and beta are optional).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ops_internal.h"

/* What the backward of instance/batch norm needs: the statistics the forward used and where
 * gamma and beta sit in y->src (-1 when absent). */
typedef struct norm_saved {
    float *mean, *rstd;          /* (N*C) instance, (C) batch train; unused in eval */
    float *running_mean, *running_var;  /* (C) copies, batch norm eval only */
    int gamma_at, beta_at;
    float eps;
    float slope;                 /* batch_norm_act: the activation's slope below 0 (0: ReLU) */
    op_allreduce sync;           /* batch_norm_sync: the all-reduce */
    double count;                /* batch_norm_sync: values per channel over every process */
} norm_saved;

/* x (N, C, H, W) as (n, c, hw) */
static void norm_dims(const tensor *x, int *n, int *c, int *hw) {
    *n = x->shape[0];
    *c = x->shape[1];
    *hw = x->shape[2] * x->shape[3];
}

/* A per-channel tensor p (C), if present, must have exactly x's C entries; where
 * per_sample (instance norm), (N, C) is also taken: one row per sample (conditional
 * instance norm, Dumoulin et al. 2017). */
static bool norm_check_channel(const char *op, const char *what, const tensor *p,
                               const tensor *x, bool per_sample) {
    char bp[64], bx[64];
    if (!p || (p->ndim == 1 && p->shape[0] == x->shape[1])) return true;
    if (per_sample && p->ndim == 2 && p->shape[0] == x->shape[0] && p->shape[1] == x->shape[1]) return true;
    error_set(STATUS_SHAPE, "%s: %s %s does not match x %s with %d channels", op, what,
              tensor_shape_str(p, bp), tensor_shape_str(x, bx), x->shape[1]);
    return false;
}

/* Sample b's row of a per-channel array: the whole (C) array, or row b of (N, C). */
static float *norm_row(const tensor *p, float *data, int b, int c) {
    return !data ? NULL : p->ndim == 2 ? data + (int64_t)b * c : data;
}

static bool norm_per_sample(const tensor *gamma, const tensor *beta) {
    return (gamma && gamma->ndim == 2) || (beta && beta->ndim == 2);
}

/* The instance norm kernel, over the whole batch at once when gamma and beta are shared,
 * else sample by sample with each sample's row. */
static void instance_norm_run(float *y, float *mean, float *rstd, const float *x, const tensor *gamma,
                              const tensor *beta, int n, int c, int hw, float eps) {
    const backend *be = backend_current();
    if (!norm_per_sample(gamma, beta)) {
        be->instance_norm_forward(y, mean, rstd, x, gamma ? gamma->data : NULL, beta ? beta->data : NULL,
                                  n, c, hw, eps);
        return;
    }
    for (int b = 0; b < n; b++) {
        int64_t off = (int64_t)b * c * hw;
        be->instance_norm_forward(y + off, mean + (int64_t)b * c, rstd + (int64_t)b * c, x + off,
                                  gamma ? norm_row(gamma, gamma->data, b, c) : NULL,
                                  beta ? norm_row(beta, beta->data, b, c) : NULL, 1, c, hw, eps);
    }
}

/* Builds y with src = {x, gamma?, beta?} and, when it records, a norm_saved with `nstat`
 * floats for mean and rstd. NULL on failure. */
static tensor *norm_result(arena *a, tensor *x, tensor *gamma, tensor *beta, const char *op,
                           backward_fn backward, int nstat, float eps) {
    tensor *src[3] = {x};
    int nsrc = 1, gamma_at = -1, beta_at = -1;
    if (gamma) { gamma_at = nsrc; src[nsrc++] = gamma; }
    if (beta) { beta_at = nsrc; src[nsrc++] = beta; }
    tensor *y = tensor_op_result(a, 4, x->shape, op, backward, src, nsrc);
    if (!y) return NULL;
    norm_saved *s = arena_alloc(a, sizeof *s);
    float *stats = arena_alloc(a, sizeof(float) * 2 * (size_t)nstat);
    if (!s || !stats) return NULL;
    *s = (norm_saved){.mean = stats, .rstd = stats + nstat, .gamma_at = gamma_at,
                      .beta_at = beta_at, .eps = eps};
    y->saved = s;
    return y;
}

static tensor *norm_src(tensor *y, int at) { return at < 0 ? NULL : y->src[at]; }

/* ---- instance norm ---- */

static void instance_norm_backward(tensor *y) {
    norm_saved *s = y->saved;
    tensor *x = y->src[0], *gamma = norm_src(y, s->gamma_at), *beta = norm_src(y, s->beta_at);
    int n, c, hw;
    norm_dims(x, &n, &c, &hw);
    const backend *be = backend_current();
    float *dx = ops_grad_or_null(x), *dg = gamma ? ops_grad_or_null(gamma) : NULL,
          *db = beta ? ops_grad_or_null(beta) : NULL;
    if (!norm_per_sample(gamma, beta)) {
        be->instance_norm_backward(dx, dg, db, y->grad, x->data, s->mean, s->rstd,
                                   gamma ? gamma->data : NULL, n, c, hw);
        return;
    }
    for (int b = 0; b < n; b++) {   /* (N, C) rows: each sample's gradient to its own row */
        int64_t off = (int64_t)b * c * hw;
        be->instance_norm_backward(dx ? dx + off : NULL, gamma ? norm_row(gamma, dg, b, c) : NULL,
                                   beta ? norm_row(beta, db, b, c) : NULL, y->grad + off, x->data + off,
                                   s->mean + (int64_t)b * c, s->rstd + (int64_t)b * c,
                                   gamma ? norm_row(gamma, gamma->data, b, c) : NULL, 1, c, hw);
    }
}

/* relu(instance_norm): dy masked in place (ops_act_mask), then instance norm's, which
 * needs x and the statistics, not y. */
static void instance_norm_relu_backward(tensor *y) {
    ops_act_mask(y, 0);
    instance_norm_backward(y);
}

static tensor *instance_norm_op(arena *a, tensor *x, tensor *gamma, tensor *beta, float eps, bool relu) {
    char bx[64];
    const char *name = relu ? "instance_norm_relu" : "instance_norm";
    if (!x || !ops_check_ndim(name, "x", x, 4)) return NULL;
    if (!norm_check_channel(name, "gamma", gamma, x, true) || !norm_check_channel(name, "beta", beta, x, true)) return NULL;
    int n, c, hw;
    norm_dims(x, &n, &c, &hw);
    if (hw < 2) {  /* one value per plane normalises to 0: always a mistake (PyTorch refuses) */
        error_set(STATUS_SHAPE, "%s: x %s needs more than 1 spatial element", name, tensor_shape_str(x, bx));
        return NULL;
    }
    /* the statistics are needed by the kernel even when nothing is recorded */
    tensor *y = norm_result(a, x, gamma, beta, name, relu ? instance_norm_relu_backward : instance_norm_backward,
                            n * c, eps);
    if (!y) return NULL;
    norm_saved *s = y->saved;
    const backend *be = backend_current();
    instance_norm_run(y->data, s->mean, s->rstd, x->data, gamma, beta, n, c, hw, eps);
    if (relu) be->unary_forward(UNOP_RELU, y->data, y->data, y->numel, 0);   /* in place */
    return y;
}

/* x (N, C, H, W), gamma, beta (C) or NULL -> (N, C, H, W) */
tensor *op_instance_norm(arena *a, tensor *x, tensor *gamma, tensor *beta, float eps) {
    return instance_norm_op(a, x, gamma, beta, eps, false);
}

tensor *op_instance_norm_relu(arena *a, tensor *x, tensor *gamma, tensor *beta, float eps) {
    return instance_norm_op(a, x, gamma, beta, eps, true);
}

tensor *op_instance_norm_relu_inplace(tensor *x, tensor *gamma, tensor *beta, float eps) {
    const char *name = "instance_norm_relu_inplace";
    if (!x || !ops_check_ndim(name, "x", x, 4)) return NULL;
    if (x->requires_grad || x->backward || (autograd_enabled() && ((gamma && gamma->requires_grad) ||
                                                                   (beta && beta->requires_grad)))) {
        error_set(STATUS_ARG, "%s: x is part of a graph (inference only: turn autograd off)", name);
        return NULL;
    }
    if (!norm_check_channel(name, "gamma", gamma, x, true) || !norm_check_channel(name, "beta", beta, x, true)) return NULL;
    int n, c, hw;
    norm_dims(x, &n, &c, &hw);
    if (hw < 2) {
        error_set(STATUS_SHAPE, "%s: x needs more than 1 spatial element", name);
        return NULL;
    }
    float *stats = malloc(sizeof(float) * 2 * (size_t)n * c);
    if (!stats) {
        error_set(STATUS_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    const backend *be = backend_current();
    instance_norm_run(x->data, stats, stats + n * c, x->data, gamma, beta, n, c, hw, eps);  /* y may be x: per plane */
    be->unary_forward(UNOP_RELU, x->data, x->data, x->numel, 0);
    free(stats);
    return x;
}

/* ---- batch norm ---- */

static void batch_norm_backward_train(tensor *y) {
    norm_saved *s = y->saved;
    tensor *x = y->src[0], *gamma = norm_src(y, s->gamma_at), *beta = norm_src(y, s->beta_at);
    int n, c, hw;
    norm_dims(x, &n, &c, &hw);
    backend_current()->batch_norm_backward_train(
        ops_grad_or_null(x), ops_grad_or_null(gamma), ops_grad_or_null(beta), y->grad, x->data,
        s->mean, s->rstd, gamma ? gamma->data : NULL, n, c, hw);
}

static void batch_norm_backward_eval(tensor *y) {
    norm_saved *s = y->saved;
    tensor *x = y->src[0], *gamma = norm_src(y, s->gamma_at), *beta = norm_src(y, s->beta_at);
    int n, c, hw;
    norm_dims(x, &n, &c, &hw);
    backend_current()->batch_norm_backward_eval(
        ops_grad_or_null(x), ops_grad_or_null(gamma), ops_grad_or_null(beta), y->grad, x->data,
        gamma ? gamma->data : NULL, s->running_mean, s->running_var, n, c, hw, s->eps);
}

/* Shapes and mode checks shared by both modes of op_batch_norm. */
static bool batch_norm_check(tensor *x, tensor *gamma, tensor *beta, tensor *running_mean,
                             tensor *running_var, bool training) {
    char bx[64];
    const char *op = "batch_norm";
    if (!ops_check_ndim(op, "x", x, 4) || !norm_check_channel(op, "gamma", gamma, x, false) ||
        !norm_check_channel(op, "beta", beta, x, false) ||
        !norm_check_channel(op, "running_mean", running_mean, x, false) ||
        !norm_check_channel(op, "running_var", running_var, x, false))
        return false;
    if (training && (int64_t)x->shape[0] * x->shape[2] * x->shape[3] < 2) {
        error_set(STATUS_SHAPE, "batch_norm: x %s has 1 value per channel; training needs more",
                  tensor_shape_str(x, bx));
        return false;
    }
    if (!training && (!running_mean || !running_var)) {
        error_set(STATUS_ARG, "batch_norm: eval mode needs running_mean and running_var");
        return false;
    }
    return true;
}

/* Eval keeps copies of the running statistics: an optimiser step or a later training forward
 * may change them before backward runs. */
static bool batch_norm_save_running(arena *a, norm_saved *s, const tensor *rm, const tensor *rv) {
    s->running_mean = arena_alloc(a, sizeof(float) * 2 * (size_t)rm->numel);
    if (!s->running_mean) return false;
    s->running_var = s->running_mean + rm->numel;
    for (int64_t i = 0; i < rm->numel; i++) {
        s->running_mean[i] = rm->data[i];
        s->running_var[i] = rv->data[i];
    }
    return true;
}

/* x (N, C, H, W); gamma, beta, running_mean, running_var (C) or NULL -> (N, C, H, W) */
/* An activation fused after batch norm: dy scaled in place by its derivative (ops_act_mask;
 * y > 0 exactly where the norm's output was), then the norm's backward, which needs x and
 * the statistics, not y. */
static void batch_norm_act_backward_train(tensor *y) {
    ops_act_mask(y, ((norm_saved *)y->saved)->slope);
    batch_norm_backward_train(y);
}

static void batch_norm_act_backward_eval(tensor *y) {
    ops_act_mask(y, ((norm_saved *)y->saved)->slope);
    batch_norm_backward_eval(y);
}

static tensor *batch_norm_op(arena *a, tensor *x, tensor *gamma, tensor *beta, tensor *running_mean,
                             tensor *running_var, bool training, float momentum, float eps, bool act, float slope) {
    if (!x || !batch_norm_check(x, gamma, beta, running_mean, running_var, training))
        return NULL;
    int n, c, hw;
    norm_dims(x, &n, &c, &hw);
    const backend *be = backend_current();
    backward_fn bw = act ? (training ? batch_norm_act_backward_train : batch_norm_act_backward_eval)
                         : (training ? batch_norm_backward_train : batch_norm_backward_eval);
    tensor *y = norm_result(a, x, gamma, beta, act ? "batch_norm_act" : "batch_norm", bw, c, eps);
    if (!y) return NULL;
    norm_saved *s = y->saved;
    s->slope = slope;
    const float *g = gamma ? gamma->data : NULL, *b = beta ? beta->data : NULL;
    if (training) {
        be->batch_norm_forward_train(y->data, s->mean, s->rstd,
                                     running_mean ? running_mean->data : NULL,
                                     running_var ? running_var->data : NULL, x->data, g, b, n,
                                     c, hw, eps, momentum);
    } else {
        if (y->backward && !batch_norm_save_running(a, s, running_mean, running_var)) return NULL;
        be->batch_norm_forward_eval(y->data, x->data, g, b, running_mean->data, running_var->data,
                                    n, c, hw, eps);
    }
    if (act) be->unary_forward(slope == 0 ? UNOP_RELU : UNOP_LEAKY_RELU, y->data, y->data, y->numel, slope);
    return y;
}

tensor *op_batch_norm(arena *a, tensor *x, tensor *gamma, tensor *beta, tensor *running_mean,
                      tensor *running_var, bool training, float momentum, float eps) {
    return batch_norm_op(a, x, gamma, beta, running_mean, running_var, training, momentum, eps, false, 0);
}

tensor *op_batch_norm_act(arena *a, tensor *x, tensor *gamma, tensor *beta, tensor *running_mean,
                          tensor *running_var, bool training, float momentum, float eps, float slope) {
    return batch_norm_op(a, x, gamma, beta, running_mean, running_var, training, momentum, eps, true, slope);
}

/* ---- synchronised batch norm ---- */

/* x, dy (n, c, hw) -> s1[ch] = sum x (or dy), s2[ch] = sum x^2 (or dy * xhat, with xhat =
 * (x - mean) rstd when mean is given) over n and hw. */
static void sync_bn_sums(double *s1, double *s2, const float *x, const float *dy, const float *mean,
                         const float *rstd, int n, int c, int hw) {
    for (int ch = 0; ch < c; ch++) {
        double a = 0, b = 0;
        for (int i = 0; i < n; i++) {
            const float *xp = x + ((int64_t)i * c + ch) * hw, *dp = dy ? dy + ((int64_t)i * c + ch) * hw : NULL;
            for (int j = 0; j < hw; j++) {
                if (dp) { a += dp[j]; b += (double)dp[j] * (xp[j] - mean[ch]) * rstd[ch]; }
                else { a += xp[j]; b += (double)xp[j] * xp[j]; }
            }
        }
        s1[ch] = a;
        s2[ch] = b;
    }
}

/* The all-reduce, or (on failure, error_set) this process's own sums. */
static void sync_bn_reduce(const op_allreduce *r, double *buf, int n) {
    if (r->sum(r->user, buf, n) != STATUS_OK && error_status() == STATUS_OK)
        error_set(STATUS_IO, "batch_norm_sync: the all-reduce failed");
}

/* dx = gamma rstd (dy - sum dy / N - xhat sum(dy xhat) / N), the sums over every process;
 * dgamma += this process's sum(dy xhat), dbeta += its sum dy. */
static void batch_norm_sync_backward(tensor *y) {
    norm_saved *s = y->saved;
    tensor *x = y->src[0], *gamma = norm_src(y, s->gamma_at), *beta = norm_src(y, s->beta_at);
    int n, c, hw;
    norm_dims(x, &n, &c, &hw);
    double *buf = malloc(sizeof(double) * 4 * (size_t)c);
    if (!buf) { error_set(STATUS_NOMEM, "batch_norm_sync: out of memory"); return; }
    double *sdy = buf, *sdx = buf + c, *all = buf + 2 * c;
    sync_bn_sums(sdy, sdx, x->data, y->grad, s->mean, s->rstd, n, c, hw);
    float *dg = ops_grad_or_null(gamma), *db = ops_grad_or_null(beta), *dx = ops_grad_or_null(x);
    for (int ch = 0; ch < c; ch++) {
        if (dg) dg[ch] += (float)sdx[ch];
        if (db) db[ch] += (float)sdy[ch];
    }
    memcpy(all, sdy, sizeof(double) * 2 * (size_t)c);
    sync_bn_reduce(&s->sync, all, 2 * c);
    for (int ch = 0; dx && ch < c; ch++) {
        double g = gamma ? gamma->data[ch] : 1.0, k = g * s->rstd[ch];
        double m1 = all[ch] / s->count, m2 = all[c + ch] / s->count;
        for (int i = 0; i < n; i++) {
            int64_t off = ((int64_t)i * c + ch) * hw;
            for (int j = 0; j < hw; j++) {
                double xhat = (x->data[off + j] - s->mean[ch]) * s->rstd[ch];
                dx[off + j] += (float)(k * (y->grad[off + j] - m1 - xhat * m2));
            }
        }
    }
    free(buf);
}

tensor *op_batch_norm_sync(arena *a, tensor *x, tensor *gamma, tensor *beta, tensor *running_mean,
                           tensor *running_var, float momentum, float eps, const op_allreduce *sync) {
    if (!sync || !sync->sum) {
        error_set(STATUS_ARG, "batch_norm_sync: no all-reduce");
        return NULL;
    }
    if (!x || !batch_norm_check(x, gamma, beta, running_mean, running_var, true)) return NULL;
    int n, c, hw;
    norm_dims(x, &n, &c, &hw);
    tensor *y = norm_result(a, x, gamma, beta, "batch_norm_sync", batch_norm_sync_backward, c, eps);
    double *buf = y ? malloc(sizeof(double) * (2 * (size_t)c + 1)) : NULL;
    if (!buf) {
        if (y) error_set(STATUS_NOMEM, "batch_norm_sync: out of memory");
        return NULL;
    }
    norm_saved *s = y->saved;
    s->sync = *sync;
    sync_bn_sums(buf, buf + c, x->data, NULL, NULL, NULL, n, c, hw);
    buf[2 * c] = (double)n * hw;
    sync_bn_reduce(sync, buf, 2 * c + 1);
    double count = s->count = buf[2 * c];
    for (int ch = 0; ch < c; ch++) {
        double mean = buf[ch] / count, var = fmax(buf[c + ch] / count - mean * mean, 0.0);
        s->mean[ch] = (float)mean;
        s->rstd[ch] = (float)(1.0 / sqrt(var + eps));
        if (running_mean) running_mean->data[ch] = (float)((1 - momentum) * running_mean->data[ch] + momentum * mean);
        if (running_var && count > 1)
            running_var->data[ch] = (float)((1 - momentum) * running_var->data[ch] + momentum * var * count / (count - 1));
        float g = gamma ? gamma->data[ch] : 1.0f, b = beta ? beta->data[ch] : 0.0f;
        for (int i = 0; i < n; i++) {
            int64_t off = ((int64_t)i * c + ch) * hw;
            for (int j = 0; j < hw; j++) y->data[off + j] = (x->data[off + j] - s->mean[ch]) * s->rstd[ch] * g + b;
        }
    }
    free(buf);
    return y;
}

/* ---- AdaIN ---- */

static void adain_backward(tensor *y) {
    tensor *x = y->src[0], *style = y->src[1];
    float eps = *(float *)y->saved;
    backend_current()->adain_backward(ops_grad_or_null(x), ops_grad_or_null(style), y->grad,
                                      x->data, style->data, x->shape[0], x->shape[1],
                                      x->shape[2] * x->shape[3],
                                      style->shape[2] * style->shape[3], eps);
}

/* The style must match x in N and C; each needs 2 or more values per plane for the unbiased
 * variance. */
static bool adain_check(const tensor *x, const tensor *style) {
    char bx[64], bs[64];
    if (!ops_check_ndim("adain", "x", x, 4) || !ops_check_ndim("adain", "style", style, 4))
        return false;
    if (x->shape[0] != style->shape[0] || x->shape[1] != style->shape[1]) {
        error_set(STATUS_SHAPE, "adain: x %s and style %s differ in batch or channels",
                  tensor_shape_str(x, bx), tensor_shape_str(style, bs));
        return false;
    }
    if (x->shape[2] * x->shape[3] < 2 || style->shape[2] * style->shape[3] < 2) {
        error_set(STATUS_SHAPE, "adain: x %s and style %s need more than 1 spatial element",
                  tensor_shape_str(x, bx), tensor_shape_str(style, bs));
        return false;
    }
    return true;
}

/* x (N, C, H, W), style (N, C, HS, WS) -> (N, C, H, W) */
tensor *op_adain(arena *a, tensor *x, tensor *style, float eps) {
    if (!x || !style || !adain_check(x, style)) return NULL;
    tensor *y = tensor_op_result(a, 4, x->shape, "adain", adain_backward,
                                 (tensor *[]){x, style}, 2);
    if (!y) return NULL;
    if (y->backward) {
        float *saved = arena_alloc(a, sizeof(float));
        if (!saved) return NULL;
        *saved = eps;
        y->saved = saved;
    }
    backend_current()->adain_forward(y->data, x->data, style->data, x->shape[0], x->shape[1],
                                     x->shape[2] * x->shape[3],
                                     style->shape[2] * style->shape[3], eps);
    return y;
}
