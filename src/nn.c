/* nn.c: spectral normalisation (nn.h), after torch.nn.utils.spectral_norm.
 *
 * Miyato et al. 2018, "Spectral Normalization for GANs": W_SN = W / sigma(W), with sigma the
 * largest singular value of W viewed as (OUT, rest), estimated by one step of power iteration
 * per training forward from persistent u (OUT), v (rest):
 *   v = normalize(W^T u),  u = normalize(W v),  normalize(z) = z / max(||z||, eps),
 *   sigma = u^T W v.
 * u and v are constants for autodiff, so sigma = sum(W * u v^T) is linear in W and the
 * result is composed from existing ops: op_div(W, op_sum(op_mul(W, u v^T))), whose backward
 * is G / sigma - (sum(G * W) / sigma^2) u v^T, as nn.h states.
 */
#include "atelier/nn.h"
#include <math.h>
#include "atelier/ops.h"
#include "atelier/rng.h"

/* z (n) /= max(||z||, eps), the norm in double. */
static void sn_normalize(float *z, int64_t n, float eps) {
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)z[i] * z[i];
    double norm = fmax(sqrt(ss), (double)eps);
    for (int64_t i = 0; i < n; i++) z[i] = (float)(z[i] / norm);
}

/* One power iteration on w (rows, cols): v = normalize(W^T u), then u = normalize(W v). */
static void sn_power_iteration(spectral_norm *sn, const float *w, int rows, int64_t cols) {
    float *u = sn->u->data, *v = sn->v->data;
    for (int64_t j = 0; j < cols; j++) {
        double s = 0;
        for (int i = 0; i < rows; i++) s += (double)w[i * cols + j] * u[i];
        v[j] = (float)s;
    }
    sn_normalize(v, cols, sn->eps);
    for (int i = 0; i < rows; i++) {
        double s = 0;
        for (int64_t j = 0; j < cols; j++) s += (double)w[i * cols + j] * v[j];
        u[i] = (float)s;
    }
    sn_normalize(u, rows, sn->eps);
}

/* w viewed as (OUT, rest) must match u (OUT) and v (rest); spectral_norm_new sets them so. */
static bool sn_check(const spectral_norm *sn, const tensor *w) {
    char bw[64];
    if (w->ndim >= 1 && w->shape[0] == sn->u->numel &&
        w->numel / w->shape[0] == sn->v->numel)
        return true;
    error_set(STATUS_SHAPE, "spectral_norm: weight %s does not match u (%lld) and v (%lld)",
              tensor_shape_str(w, bw), (long long)sn->u->numel, (long long)sn->v->numel);
    return false;
}

/* w (OUT, ...) -> the state, u (OUT) and v (rest) normalised N(0, 1) draws, in params */
spectral_norm *spectral_norm_new(arena *params, const tensor *w, uint64_t seed) {
    char bw[64];
    if (!w) return NULL;
    if (w->ndim < 1) {
        error_set(STATUS_SHAPE, "spectral_norm: weight %s needs at least 1 dim",
                  tensor_shape_str(w, bw));
        return NULL;
    }
    int rows = w->shape[0], cols = (int)(w->numel / rows);
    spectral_norm *sn = arena_alloc(params, sizeof *sn);
    tensor *u = tensor_new(params, 1, (int[]){rows}), *v = tensor_new(params, 1, (int[]){cols});
    if (!sn || !u || !v) return NULL;
    *sn = (spectral_norm){.u = u, .v = v, .power_iterations = 1, .eps = 1e-12f};
    rng r = rng_new(seed);
    rng_normal(&r, u->data, rows, 0.0f, 1.0f);
    rng_normal(&r, v->data, cols, 0.0f, 1.0f);
    sn_normalize(u->data, rows, sn->eps);
    sn_normalize(v->data, cols, sn->eps);
    return sn;
}

/* w (OUT, ...) -> W / sigma (OUT, ...), differentiable in w */
tensor *spectral_norm_apply(spectral_norm *sn, arena *a, tensor *w, bool training) {
    if (!sn || !w || !sn_check(sn, w)) return NULL;
    int rows = w->shape[0];
    int64_t cols = sn->v->numel;
    for (int k = 0; training && k < sn->power_iterations; k++)
        sn_power_iteration(sn, w->data, rows, cols);
    tensor *uv = tensor_new(a, w->ndim, w->shape);  /* u v^T laid out as w; a constant */
    if (!uv) return NULL;
    for (int i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) uv->data[i * cols + j] = sn->u->data[i] * sn->v->data[j];
    tensor *sigma = op_sum(a, op_mul(a, w, uv), -1, false);  /* u^T W v */
    return op_div(a, w, sigma);
}
