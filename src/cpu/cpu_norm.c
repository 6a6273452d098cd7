/* cpu_norm.c: instance norm, batch norm and AdaIN of the fast CPU backend (contracts in
 * backend.h; ref_norm.c is the specification and derives the shared backward identity
 *   dL/dx = rstd * (g - mean(g) - xhat * sum(g xhat) / denom),  g = gamma dy).
 *
 * Instance norm and AdaIN run in parallel over the (n, c) planes, batch norm's statistics
 * over the channels and its elementwise passes over the planes. Every sum is over one plane
 * (a channel's planes are added in n order) in double over 8 lanes, so the results do not
 * depend on the thread count and agree with the reference's double sums to ~1e-7. Per-plane
 * contributions to the per-channel dgamma and dbeta are kept in a scratch array and added
 * afterwards in the reference's order (n = 0, 1, ...), by the thread that owns the channel.
 */
#include <math.h>
#include <stdlib.h>
#include "cpu/cpu.h"

#define PAR_MIN 32768  /* elements below which a kernel stays on one thread */

/* *sdy = sum dy, *sdyx = sum dy (x - mean) with x - mean rounded to float as in the
 * reference's xhat; both in double. */
static void sums_dy(const float *dy, const float *x, int64_t n, float mean, double *sdy,
                    double *sdyx) {
    double a[8] = {0}, b[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) {
            a[k] += (double)dy[i + k];
            b[k] += (double)dy[i + k] * (double)(x[i + k] - mean);
        }
    for (int k = 0; i < n; i++, k++) {
        a[k] += (double)dy[i];
        b[k] += (double)dy[i] * (double)(x[i] - mean);
    }
    *sdy += cpu_lanes_total(a);
    *sdyx += cpu_lanes_total(b);
}

/* y = (x - mean) * rstd * gamma + beta over n values */
static void normalize(float *y, const float *x, int64_t n, float mean, float rstd, float gamma,
                      float beta) {
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mean) * rstd * gamma + beta;
}

/* dx += rstd * (gamma dy - mean_g - xhat proj) over n values, in double after the float
 * product gamma dy, exactly as the reference (with one value per plane it is all rounding,
 * amplified by rstd = 1 / sqrt(eps)) */
static void backward_dx(float *dx, const float *dy, const float *x, int64_t n, float mean,
                        float rstd, float gamma, double mean_g, double proj) {
    for (int64_t i = 0; i < n; i++) {
        double xhat = (double)(x[i] - mean) * rstd;
        dx[i] += (float)(rstd * ((double)(gamma * dy[i]) - mean_g - xhat * proj));
    }
}

/* ---- instance norm: x, y, dy, dx (N, C, HW); gamma, beta (C) or NULL; mean, rstd (N*C) ---- */

void cpu_instance_norm_forward(float *y, float *mean, float *rstd, const float *x,
                               const float *gamma, const float *beta, int n, int c, int hw,
                               float eps) {
    #pragma omp parallel for schedule(static) if ((int64_t)n * c * hw > PAR_MIN)
    for (int p = 0; p < n * c; p++) {
        const float *xp = x + (int64_t)p * hw;
        double mu = cpu_sum8(xp, hw) / hw, var = cpu_sumsq8(xp, hw, mu) / hw;
        mean[p] = (float)mu;
        rstd[p] = (float)(1.0 / sqrt(var + eps));
        float g = gamma ? gamma[p % c] : 1.0f, b = beta ? beta[p % c] : 0.0f;
        normalize(y + (int64_t)p * hw, xp, hw, mean[p], rstd[p], g, b);
    }
}

void cpu_instance_norm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                                const float *x, const float *mean, const float *rstd,
                                const float *gamma, int n, int c, int hw) {
    // per plane p: sums of dy and dy xhat (kept for dgamma, dbeta (C)), then dx
    double *sums = malloc(sizeof(double) * 2 * (n * c > 0 ? n * c : 1));
    if (!sums) abort();  /* 16 bytes per plane: out of memory here is fatal */
    #pragma omp parallel for schedule(static) if ((int64_t)n * c * hw > PAR_MIN)
    for (int p = 0; p < n * c; p++) {
        int64_t off = (int64_t)p * hw;
        double sdy = 0, sdyx = 0;
        sums_dy(dy + off, x + off, hw, mean[p], &sdy, &sdyx);
        sdyx *= rstd[p];
        sums[2 * p] = sdy;
        sums[2 * p + 1] = sdyx;
        if (!dx) continue;
        float g = gamma ? gamma[p % c] : 1.0f;
        backward_dx(dx + off, dy + off, x + off, hw, mean[p], rstd[p], g, g * sdy / hw,
                    g * sdyx / hw);
    }
    for (int ch = 0; ch < c; ch++)
        for (int b = 0; b < n; b++) {
            int p = b * c + ch;
            if (dgamma) dgamma[ch] += (float)sums[2 * p + 1];
            if (dbeta) dbeta[ch] += (float)sums[2 * p];
        }
    free(sums);
}

/* ---- batch norm: x, y (N, C, HW); gamma, beta, running stats, mean, rstd (C) ---- */

void cpu_batch_norm_forward_train(float *y, float *mean, float *rstd, float *running_mean,
                                  float *running_var, const float *x, const float *gamma,
                                  const float *beta, int n, int c, int hw, float eps,
                                  float momentum) {
    int64_t stride = (int64_t)c * hw, m = (int64_t)n * hw;
    #pragma omp parallel for schedule(static) if ((int64_t)n * c * hw > PAR_MIN)
    for (int ch = 0; ch < c; ch++) {
        const float *xc = x + (int64_t)ch * hw;
        double s = 0, ss = 0;
        for (int b = 0; b < n; b++) s += cpu_sum8(xc + b * stride, hw);
        double mu = s / (double)m;
        for (int b = 0; b < n; b++) ss += cpu_sumsq8(xc + b * stride, hw, mu);
        double var = ss / (double)m;
        mean[ch] = (float)mu;
        rstd[ch] = (float)(1.0 / sqrt(var + eps));
        double unbiased = m > 1 ? var * (double)m / (double)(m - 1) : var;
        if (running_mean)
            running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mu);
        if (running_var)
            running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * unbiased);
    }
    #pragma omp parallel for schedule(static) if ((int64_t)n * c * hw > PAR_MIN)
    for (int p = 0; p < n * c; p++) {
        int ch = p % c;
        float g = gamma ? gamma[ch] : 1.0f, b = beta ? beta[ch] : 0.0f;
        normalize(y + (int64_t)p * hw, x + (int64_t)p * hw, hw, mean[ch], rstd[ch], g, b);
    }
}

void cpu_batch_norm_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
                                   const float *x, const float *mean, const float *rstd,
                                   const float *gamma, int n, int c, int hw) {
    // per channel: sums over its N planes, then dgamma, dbeta (C) and dx per plane
    int64_t stride = (int64_t)c * hw;
    double m = (double)n * hw;
    double *sums = malloc(sizeof(double) * 2 * (c > 0 ? c : 1));
    if (!sums) abort();
    #pragma omp parallel for schedule(static) if ((int64_t)n * c * hw > PAR_MIN)
    for (int ch = 0; ch < c; ch++) {
        double sdy = 0, sdyx = 0;
        for (int b = 0; b < n; b++) {
            int64_t off = b * stride + (int64_t)ch * hw;
            sums_dy(dy + off, x + off, hw, mean[ch], &sdy, &sdyx);
        }
        sdyx *= rstd[ch];
        sums[2 * ch] = sdy;
        sums[2 * ch + 1] = sdyx;
        if (dgamma) dgamma[ch] += (float)sdyx;
        if (dbeta) dbeta[ch] += (float)sdy;
    }
    if (dx) {
        #pragma omp parallel for schedule(static) if ((int64_t)n * c * hw > PAR_MIN)
        for (int p = 0; p < n * c; p++) {
            int ch = p % c;
            int64_t off = (int64_t)p * hw;
            float g = gamma ? gamma[ch] : 1.0f;
            backward_dx(dx + off, dy + off, x + off, hw, mean[ch], rstd[ch], g,
                        g * sums[2 * ch] / m, g * sums[2 * ch + 1] / m);
        }
    }
    free(sums);
}

/* Eval: per channel rstd = 1 / sqrt(running_var + eps), as the reference rounds it. */
static float eval_rstd(const float *running_var, int ch, float eps) {
    return (float)(1.0 / sqrt((double)running_var[ch] + eps));
}

void cpu_batch_norm_forward_eval(float *y, const float *x, const float *gamma,
                                 const float *beta, const float *running_mean,
                                 const float *running_var, int n, int c, int hw, float eps) {
    #pragma omp parallel for schedule(static) if ((int64_t)n * c * hw > PAR_MIN)
    for (int p = 0; p < n * c; p++) {
        int ch = p % c;
        float g = gamma ? gamma[ch] : 1.0f, b = beta ? beta[ch] : 0.0f;
        normalize(y + (int64_t)p * hw, x + (int64_t)p * hw, hw, running_mean[ch],
                  eval_rstd(running_var, ch, eps), g, b);
    }
}

void cpu_batch_norm_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dy,
                                  const float *x, const float *gamma, const float *running_mean,
                                  const float *running_var, int n, int c, int hw, float eps) {
    // the statistics are constants: dx = dy gamma rstd; each thread owns whole channels
    int64_t stride = (int64_t)c * hw;
    #pragma omp parallel for schedule(static) if ((int64_t)n * c * hw > PAR_MIN)
    for (int ch = 0; ch < c; ch++) {
        float rstd = eval_rstd(running_var, ch, eps), g = gamma ? gamma[ch] : 1.0f;
        double sdy = 0, sdyx = 0;
        for (int b = 0; b < n; b++) {
            int64_t off = b * stride + (int64_t)ch * hw;
            if (dgamma || dbeta) sums_dy(dy + off, x + off, hw, running_mean[ch], &sdy, &sdyx);
            if (dx)
                for (int i = 0; i < hw; i++) dx[off + i] += dy[off + i] * g * rstd;
        }
        if (dgamma) dgamma[ch] += (float)(sdyx * rstd);
        if (dbeta) dbeta[ch] += (float)sdy;
    }
}

/* ---- AdaIN: x, y, dy, dx (N, C, HWX), s, ds (N, C, HWS); std = sqrt(unbiased var + eps) ---- */

/* Mean and unbiased variance (0 for a single value) of one plane. */
static void plane_stats(const float *x, int hw, double *mean, double *var) {
    *mean = cpu_sum8(x, hw) / hw;
    *var = hw > 1 ? cpu_sumsq8(x, hw, *mean) / (double)(hw - 1) : 0.0;
}

void cpu_adain_forward(float *y, const float *x, const float *s, int n, int c, int hwx,
                       int hws, float eps) {
    #pragma omp parallel for schedule(static) if ((int64_t)n * c * hwx > PAR_MIN)
    for (int p = 0; p < n * c; p++) {
        const float *xp = x + (int64_t)p * hwx;
        double mx, vx, ms, vs;
        plane_stats(xp, hwx, &mx, &vx);
        plane_stats(s + (int64_t)p * hws, hws, &ms, &vs);
        float rstd_x = (float)(1.0 / sqrt(vx + eps)), std_s = (float)sqrt(vs + eps);
        normalize(y + (int64_t)p * hwx, xp, hwx, (float)mx, rstd_x, std_s, (float)ms);
    }
}

/* To x: the normaliser's backward with gamma = std_s and denominator hwx - 1. To s:
 * ds_k += sum(dy) / hws + sum(dy xhat) (s_k - mean_s) / ((hws - 1) std_s). */
void cpu_adain_backward(float *dx, float *ds, const float *dy, const float *x, const float *s,
                        int n, int c, int hwx, int hws, float eps) {
    #pragma omp parallel for schedule(static) if ((int64_t)n * c * (hwx + hws) > PAR_MIN)
    for (int p = 0; p < n * c; p++) {
        const float *xp = x + (int64_t)p * hwx, *sp = s + (int64_t)p * hws;
        const float *dyp = dy + (int64_t)p * hwx;
        double mx, vx, ms, vs;
        plane_stats(xp, hwx, &mx, &vx);
        plane_stats(sp, hws, &ms, &vs);
        float rstd_x = (float)(1.0 / sqrt(vx + eps)), std_s = (float)sqrt(vs + eps);
        double sdy = 0, sdyx = 0;
        sums_dy(dyp, xp, hwx, (float)mx, &sdy, &sdyx);
        float d_std = (float)(sdyx * rstd_x), d_mean = (float)sdy;  /* as the reference rounds */
        if (dx) {
            double denom = hwx > 1 ? hwx - 1 : 1;
            backward_dx(dx + (int64_t)p * hwx, dyp, xp, hwx, (float)mx, rstd_x, std_s,
                        std_s * sdy / hwx, std_s * (sdyx * rstd_x) / denom);
        }
        if (!ds) continue;
        double k_std = hws > 1 ? d_std / ((double)(hws - 1) * std_s) : 0.0;
        float *dsp = ds + (int64_t)p * hws;
        for (int i = 0; i < hws; i++) dsp[i] += (float)(d_mean / hws + k_std * (sp[i] - ms));
    }
}
