/* init.c: weight initialisers with torch.nn.init's formulas (see init.h). */
#include "atelier/init.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void init_fans(const tensor *t, int *fan_in, int *fan_out) {
    int64_t receptive = 1;
    for (int d = 2; d < t->ndim; d++) receptive *= t->shape[d];
    int in = t->ndim >= 2 ? t->shape[1] : t->shape[0], out = t->ndim >= 1 ? t->shape[0] : 1;
    *fan_in = (int)(in * receptive);
    *fan_out = (int)(out * receptive);
}

void init_zeros(tensor *t) { memset(t->data, 0, sizeof(float) * t->numel); }

void init_uniform(tensor *t, rng *r, float lo, float hi) { rng_uniform(r, t->data, t->numel, lo, hi); }

void init_normal(tensor *t, rng *r, float mean, float std) { rng_normal(r, t->data, t->numel, mean, std); }

/* He et al. 2015: std = gain / sqrt(fan), gain = sqrt(2 / (1 + slope^2)) */
static float kaiming_std(const tensor *t, float slope, bool fan_out) {
    int fi, fo;
    init_fans(t, &fi, &fo);
    return sqrtf(2.0f / (1.0f + slope * slope)) / sqrtf((float)(fan_out ? fo : fi));
}

void init_kaiming_uniform(tensor *t, rng *r, float slope, bool fan_out) {
    float bound = sqrtf(3.0f) * kaiming_std(t, slope, fan_out);
    init_uniform(t, r, -bound, bound);
}

void init_kaiming_normal(tensor *t, rng *r, float slope, bool fan_out) {
    init_normal(t, r, 0.0f, kaiming_std(t, slope, fan_out));
}

/* Glorot & Bengio 2010: std = gain sqrt(2 / (fan_in + fan_out)) */
void init_xavier_uniform(tensor *t, rng *r, float gain) {
    int fi, fo;
    init_fans(t, &fi, &fo);
    float bound = gain * sqrtf(6.0f / (float)(fi + fo));
    init_uniform(t, r, -bound, bound);
}

void init_xavier_normal(tensor *t, rng *r, float gain) {
    int fi, fo;
    init_fans(t, &fi, &fo);
    init_normal(t, r, 0.0f, gain * sqrtf(2.0f / (float)(fi + fo)));
}

/* Orthonormalise the rows of q (k, len) in place by modified Gram-Schmidt in double, which
 * is QR of q^T with R's diagonal made positive: the same matrix torch's sign fix gives. */
static bool orthonormal_rows(double *q, int k, int len) {
    for (int i = 0; i < k; i++) {
        for (int j = 0; j < i; j++) {
            double dot = 0;
            for (int p = 0; p < len; p++) dot += q[(int64_t)i * len + p] * q[(int64_t)j * len + p];
            for (int p = 0; p < len; p++) q[(int64_t)i * len + p] -= dot * q[(int64_t)j * len + p];
        }
        double nrm = 0;
        for (int p = 0; p < len; p++) nrm += q[(int64_t)i * len + p] * q[(int64_t)i * len + p];
        if (nrm < 1e-300) return false;
        for (int p = 0; p < len; p++) q[(int64_t)i * len + p] /= sqrt(nrm);
    }
    return true;
}

status init_orthogonal(tensor *t, rng *r, float gain) {
    char buf[64];
    if (t->ndim < 2)
        return error_set(STATUS_SHAPE, "init_orthogonal: needs at least 2 dims, got %s", tensor_shape_str(t, buf));
    int rows = t->shape[0], cols = (int)(t->numel / rows);
    bool by_rows = rows <= cols;            /* orthonormalise the shorter side */
    int k = by_rows ? rows : cols, len = by_rows ? cols : rows;
    double *q = malloc(sizeof(double) * k * len);
    float *g = malloc(sizeof(float) * k * len);
    if (!q || !g) { free(q); free(g); return error_set(STATUS_NOMEM, "init_orthogonal: out of memory"); }
    rng_normal(r, g, (int64_t)k * len, 0.0f, 1.0f);
    for (int64_t i = 0; i < (int64_t)k * len; i++) q[i] = g[i];
    bool ok = orthonormal_rows(q, k, len);
    for (int i = 0; ok && i < k; i++)
        for (int p = 0; p < len; p++)
            t->data[by_rows ? (int64_t)i * cols + p : (int64_t)p * cols + i] = (float)(gain * q[(int64_t)i * len + p]);
    free(q); free(g);
    return ok ? STATUS_OK : error_set(STATUS_ARG, "init_orthogonal: degenerate random matrix (try another seed)");
}
