/* ref_norm.c: normalisation kernels of the reference backend (contracts in backend.h).
 *
 * Instance norm (Ulyanov et al. 2016) normalises each (n, c) plane over HW; batch norm
 * (Ioffe & Szegedy 2015) normalises each channel over (N, HW); AdaIN (Huang & Belongie
 * 2017) normalises each (n, c) plane of x and gives it the mean and std of the style's plane.
 * Means and variances are accumulated in double: a plane of 256x256 floats summed in float
 * loses about 3 digits.
 *
 * All three share one backward identity. With xhat = (x - mu) * rstd over a group of m values
 * and g = dL/dxhat, the biased-variance normaliser has
 *   dL/dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),
 * and the unbiased one (AdaIN) divides sum(g * xhat) by m - 1 instead of m.
 */
#include <math.h>
#include <stddef.h>
#include "ref/ref.h"

/* Mean and variance (divided by m - ddof) of m values at stride `stride` in blocks of `hw`:
 * element k of the group is x[(k / hw) * stride + k % hw]. */
static void group_stats(const float *x, int64_t count, int hw, int64_t stride, int ddof,
                        double *mean, double *var) {
    double s = 0;
    for (int64_t b = 0; b < count; b++)
        for (int i = 0; i < hw; i++) s += x[b * stride + i];
    int64_t m = count * hw;
    double mu = s / (double)m, ss = 0;
    for (int64_t b = 0; b < count; b++)
        for (int i = 0; i < hw; i++) {
            double d = x[b * stride + i] - mu;
            ss += d * d;
        }
    *mean = mu;
    *var = m - ddof > 0 ? ss / (double)(m - ddof) : 0.0;
}

/* y = (x - mean) * rstd * gamma + beta over one group (same layout as group_stats). */
static void group_normalize(float *y, const float *x, int64_t count, int hw, int64_t stride,
                            float mean, float rstd, float gamma, float beta) {
    for (int64_t b = 0; b < count; b++)
        for (int i = 0; i < hw; i++) {
            int64_t j = b * stride + i;
            y[j] = (x[j] - mean) * rstd * gamma + beta;
        }
}

/* dx += rstd * (g - mean(g) - xhat * sum(g xhat) / denom) with g = dy * gamma, over one group;
 * dgamma, dbeta (scalars, may be NULL) += sum(dy xhat), sum(dy). denom is m for the biased
 * variance and m - 1 for the unbiased one. */
static void group_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                           const float *x, int64_t count, int hw, int64_t stride, float mean,
                           float rstd, float gamma, double denom) {
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t b = 0; b < count; b++)
        for (int i = 0; i < hw; i++) {
            int64_t j = b * stride + i;
            sum_dy += dy[j];
            sum_dy_xhat += (double)dy[j] * (x[j] - mean) * rstd;
        }
    if (dgamma) *dgamma += (float)sum_dy_xhat;
    if (dbeta) *dbeta += (float)sum_dy;
    if (!dx) return;
    double m = (double)count * hw;
    double mean_g = gamma * sum_dy / m, proj = gamma * sum_dy_xhat / denom;
    for (int64_t b = 0; b < count; b++)
        for (int i = 0; i < hw; i++) {
            int64_t j = b * stride + i;
            double xhat = (x[j] - mean) * rstd;
            dx[j] += (float)(rstd * (gamma * dy[j] - mean_g - xhat * proj));
        }
}

/* ---- instance norm: x, y (N, C, HW); gamma, beta (C) or NULL; mean, rstd (N*C) ---- */

void ref_instance_norm_forward(float *y, float *mean, float *rstd, const float *x,
                               const float *gamma, const float *beta, int n, int c, int hw,
                               float eps) {
    for (int p = 0; p < n * c; p++) {
        const float *xp = x + (int64_t)p * hw;
        double mu, var;
        group_stats(xp, 1, hw, hw, 0, &mu, &var);
        mean[p] = (float)mu;
        rstd[p] = (float)(1.0 / sqrt(var + eps));
        float g = gamma ? gamma[p % c] : 1.0f, b = beta ? beta[p % c] : 0.0f;
        group_normalize(y + (int64_t)p * hw, xp, 1, hw, hw, mean[p], rstd[p], g, b);
    }
}

void ref_instance_norm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                                const float *x, const float *mean, const float *rstd,
                                const float *gamma, int n, int c, int hw) {
    for (int p = 0; p < n * c; p++) {
        int64_t off = (int64_t)p * hw;
        float g = gamma ? gamma[p % c] : 1.0f;
        group_backward(dx ? dx + off : NULL, dgamma ? &dgamma[p % c] : NULL,
                       dbeta ? &dbeta[p % c] : NULL, dy + off, x + off, 1, hw, hw, mean[p],
                       rstd[p], g, hw);
    }
}

/* ---- batch norm: x, y (N, C, HW); gamma, beta, running stats, mean, rstd (C) ---- */

/* Channel ch of (N, C, HW) is N blocks of HW values, C*HW apart. PyTorch's running update:
 * r = (1 - momentum) r + momentum * stat, with the unbiased variance for running_var. */
void ref_batch_norm_forward_train(float *y, float *mean, float *rstd, float *running_mean,
                                  float *running_var, const float *x, const float *gamma,
                                  const float *beta, int n, int c, int hw, float eps,
                                  float momentum) {
    int64_t stride = (int64_t)c * hw, m = (int64_t)n * hw;
    for (int ch = 0; ch < c; ch++) {
        double mu, var;
        group_stats(x + (int64_t)ch * hw, n, hw, stride, 0, &mu, &var);
        mean[ch] = (float)mu;
        rstd[ch] = (float)(1.0 / sqrt(var + eps));
        float g = gamma ? gamma[ch] : 1.0f, b = beta ? beta[ch] : 0.0f;
        group_normalize(y + (int64_t)ch * hw, x + (int64_t)ch * hw, n, hw, stride, mean[ch],
                        rstd[ch], g, b);
        double unbiased = m > 1 ? var * (double)m / (double)(m - 1) : var;
        if (running_mean)
            running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mu);
        if (running_var)
            running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * unbiased);
    }
}

void ref_batch_norm_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
                                   const float *x, const float *mean, const float *rstd,
                                   const float *gamma, int n, int c, int hw) {
    int64_t stride = (int64_t)c * hw;
    for (int ch = 0; ch < c; ch++) {
        int64_t off = (int64_t)ch * hw;
        float g = gamma ? gamma[ch] : 1.0f;
        group_backward(dx ? dx + off : NULL, dgamma ? &dgamma[ch] : NULL,
                       dbeta ? &dbeta[ch] : NULL, dy + off, x + off, n, hw, stride, mean[ch],
                       rstd[ch], g, (double)n * hw);
    }
}

/* Eval: an affine map per channel, y = (x - rm) / sqrt(rv + eps) * gamma + beta. */
void ref_batch_norm_forward_eval(float *y, const float *x, const float *gamma,
                                 const float *beta, const float *running_mean,
                                 const float *running_var, int n, int c, int hw, float eps) {
    int64_t stride = (int64_t)c * hw;
    for (int ch = 0; ch < c; ch++) {
        float rstd = (float)(1.0 / sqrt((double)running_var[ch] + eps));
        float g = gamma ? gamma[ch] : 1.0f, b = beta ? beta[ch] : 0.0f;
        int64_t off = (int64_t)ch * hw;
        group_normalize(y + off, x + off, n, hw, stride, running_mean[ch], rstd, g, b);
    }
}

/* The statistics are constants here: dx = dy * gamma * rstd, dgamma = sum(dy xhat). */
void ref_batch_norm_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dy,
                                  const float *x, const float *gamma, const float *running_mean,
                                  const float *running_var, int n, int c, int hw, float eps) {
    int64_t stride = (int64_t)c * hw;
    for (int ch = 0; ch < c; ch++) {
        float rstd = (float)(1.0 / sqrt((double)running_var[ch] + eps));
        float g = gamma ? gamma[ch] : 1.0f;
        double sdy = 0, sdy_xhat = 0;
        for (int b = 0; b < n; b++)
            for (int i = 0; i < hw; i++) {
                int64_t j = (int64_t)ch * hw + b * stride + i;
                sdy += dy[j];
                sdy_xhat += (double)dy[j] * (x[j] - running_mean[ch]) * rstd;
                if (dx) dx[j] += dy[j] * g * rstd;
            }
        if (dgamma) dgamma[ch] += (float)sdy_xhat;
        if (dbeta) dbeta[ch] += (float)sdy;
    }
}

/* ---- AdaIN: x, y (N, C, HWX), s (N, C, HWS); std = sqrt(unbiased var + eps) ---- */

void ref_adain_forward(float *y, const float *x, const float *s, int n, int c, int hwx,
                       int hws, float eps) {
    for (int p = 0; p < n * c; p++) {
        const float *xp = x + (int64_t)p * hwx;
        double mx, vx, ms, vs;
        group_stats(xp, 1, hwx, hwx, 1, &mx, &vx);
        group_stats(s + (int64_t)p * hws, 1, hws, hws, 1, &ms, &vs);
        float rstd_x = (float)(1.0 / sqrt(vx + eps)), std_s = (float)sqrt(vs + eps);
        group_normalize(y + (int64_t)p * hwx, xp, 1, hwx, hwx, (float)mx, rstd_x, std_s,
                        (float)ms);
    }
}

/* y = std_s * xhat + mean_s. To x: the normaliser's backward with gamma = std_s and the
 * unbiased denominator hwx - 1. To s: dL/dmean_s = sum(dy), dL/dstd_s = sum(dy xhat), and
 * d mean_s / d s_k = 1 / hws, d std_s / d s_k = (s_k - mean_s) / ((hws - 1) std_s). */
void ref_adain_backward(float *dx, float *ds, const float *dy, const float *x, const float *s,
                        int n, int c, int hwx, int hws, float eps) {
    for (int p = 0; p < n * c; p++) {
        const float *xp = x + (int64_t)p * hwx, *sp = s + (int64_t)p * hws;
        double mx, vx, ms, vs;
        group_stats(xp, 1, hwx, hwx, 1, &mx, &vx);
        group_stats(sp, 1, hws, hws, 1, &ms, &vs);
        float rstd_x = (float)(1.0 / sqrt(vx + eps)), std_s = (float)sqrt(vs + eps);
        float d_std = 0, d_mean = 0;
        group_backward(dx ? dx + (int64_t)p * hwx : NULL, &d_std, &d_mean, dy + (int64_t)p * hwx,
                       xp, 1, hwx, hwx, (float)mx, rstd_x, std_s, hwx > 1 ? hwx - 1 : 1);
        if (!ds) continue;
        double k_std = hws > 1 ? d_std / ((double)(hws - 1) * std_s) : 0.0;
        for (int i = 0; i < hws; i++)
            ds[(int64_t)p * hws + i] += (float)(d_mean / hws + k_std * (sp[i] - ms));
    }
}
