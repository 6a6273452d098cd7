/* ref_loss.c: loss kernels of the reference backend (contracts in backend.h).
 *
 * Each elementwise loss is mean over n of l(x_i, t_i); sums are kept in double. The
 * gradients match PyTorch's, including at the kinks: L1's sign(x - t) is 0 at x == t and
 * hinge's max(0, .) has gradient 0 where 1 - t x == 0 (relu's convention).
 */
#include <math.h>
#include "ref/ref.h"

/* One element's loss. BCE with logits in the stable form (as PyTorch):
 * max(x, 0) - x t + log(1 + exp(-|x|)) never exponentiates a positive number. */
static double loss_elem(loss_kind k, double x, double t) {
    switch (k) {
    case LOSS_MSE: return (x - t) * (x - t);
    case LOSS_L1: return fabs(x - t);
    case LOSS_BCE_LOGITS: return fmax(x, 0.0) - x * t + log1p(exp(-fabs(x)));
    case LOSS_HINGE: return fmax(0.0, 1.0 - t * x);
    }
    return 0.0;
}

/* d l / d x and d l / d t for one element.
 * BCE: d/dx = sigmoid(x) - t, d/dt = -x. Hinge: -t and -x where 1 - t x > 0. */
static void loss_elem_grad(loss_kind k, double x, double t, double *gx, double *gt) {
    switch (k) {
    case LOSS_MSE: *gx = 2.0 * (x - t); break;
    case LOSS_L1: *gx = (x > t) - (x < t); break;
    case LOSS_BCE_LOGITS: *gx = 1.0 / (1.0 + exp(-x)) - t; *gt = -x; return;
    case LOSS_HINGE:
        *gx = 1.0 - t * x > 0 ? -t : 0.0;
        *gt = 1.0 - t * x > 0 ? -x : 0.0;
        return;
    }
    *gt = -*gx;  /* MSE and L1 depend on x - t only */
}

/* *out = mean_i l(x_i, t_i); x, t (n) */
void ref_loss_forward(loss_kind k, float *out, const float *x, const float *t, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += loss_elem(k, x[i], t[i]);
    *out = (float)(s / (double)n);
}

/* dx (n) += dout * dl/dx / n; dt (n, or NULL) likewise */
void ref_loss_backward(loss_kind k, float *dx, float *dt, float dout, const float *x,
                       const float *t, int64_t n) {
    double scale = (double)dout / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double gx = 0, gt = 0;
        loss_elem_grad(k, x[i], t[i], &gx, &gt);
        if (dx) dx[i] += (float)(scale * gx);
        if (dt) dt[i] += (float)(scale * gt);
    }
}

/* ---- total variation: x (N, C, H, W) ----
 * out = sum (x[i+1, j] - x[i, j])^2 / (N C (H-1) W) + sum (x[i, j+1] - x[i, j])^2 / (N C H (W-1));
 * a term with no differences (H == 1 or W == 1) is 0. */

void ref_tv_forward(float *out, const float *x, int n, int c, int h, int w) {
    double sv = 0, sh = 0;
    for (int64_t p = 0; p < (int64_t)n * c; p++) {
        const float *xp = x + p * h * w;
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                double v = xp[i * w + j];
                if (i + 1 < h) sv += (xp[(i + 1) * w + j] - v) * (xp[(i + 1) * w + j] - v);
                if (j + 1 < w) sh += (xp[i * w + j + 1] - v) * (xp[i * w + j + 1] - v);
            }
    }
    double nv = (double)n * c * (h - 1) * w, nh = (double)n * c * h * (w - 1);
    *out = (float)((nv > 0 ? sv / nv : 0.0) + (nh > 0 ? sh / nh : 0.0));
}

/* Each difference d = x[b] - x[a] contributes 2 d / count to dx[b] and its negative to dx[a]. */
void ref_tv_backward(float *dx, float dout, const float *x, int n, int c, int h, int w) {
    if (!dx) return;
    double nv = (double)n * c * (h - 1) * w, nh = (double)n * c * h * (w - 1);
    double kv = nv > 0 ? 2.0 * dout / nv : 0.0, kh = nh > 0 ? 2.0 * dout / nh : 0.0;
    for (int64_t p = 0; p < (int64_t)n * c; p++) {
        const float *xp = x + p * h * w;
        float *gp = dx + p * h * w;
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                int64_t a = i * w + j;
                if (i + 1 < h) {
                    double g = kv * (xp[a + w] - xp[a]);
                    gp[a + w] += (float)g;
                    gp[a] -= (float)g;
                }
                if (j + 1 < w) {
                    double g = kh * (xp[a + 1] - xp[a]);
                    gp[a + 1] += (float)g;
                    gp[a] -= (float)g;
                }
            }
    }
}
