/* metrics.c: KID, diversity and memorisation on VGG-19 features (metrics.h).
 *
 * The measures are plain loops over rows of floats with every sum in double: n and m are
 * hundreds to a few thousand, d is 2816, so the O(n m d) distance and kernel loops are the
 * whole cost and need nothing cleverer than four independent accumulators.
 */
#include "atelier/metrics.h"
#include <math.h>
#include <stdlib.h>
#include "atelier/featnet.h"
#include "atelier/ops.h"
#include "atelier/rng.h"

#define FEAT_LAYERS 4
#define FEAT_CHUNK 16      /* images through VGG at a time */
#define FEAT_MIN_SIDE 64   /* smaller images are upsampled to this */

static const char *const feat_names[FEAT_LAYERS] = {"relu2_1", "relu3_1", "relu4_1", "relu5_1"};
static const int feat_channels[FEAT_LAYERS] = {128, 256, 512, 512};

int metrics_feature_dim(void) {
    int d = 0;
    for (int l = 0; l < FEAT_LAYERS; l++) d += 2 * feat_channels[l];
    return d;
}

/* ---- row helpers ---- */

/* a . b over d floats, in double with four partial sums (the loop can pipeline) */
static double dot(const float *a, const float *b, int d) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int k = 0;
    for (; k + 4 <= d; k += 4) {
        s0 += (double)a[k] * b[k];
        s1 += (double)a[k + 1] * b[k + 1];
        s2 += (double)a[k + 2] * b[k + 2];
        s3 += (double)a[k + 3] * b[k + 3];
    }
    for (; k < d; k++) s0 += (double)a[k] * b[k];
    return (s0 + s1) + (s2 + s3);
}

/* |a - b| over d floats: differences first, so near rows do not cancel */
static double dist(const float *a, const float *b, int d) {
    double s0 = 0, s1 = 0;
    int k = 0;
    for (; k + 2 <= d; k += 2) {
        double u = (double)a[k] - b[k], v = (double)a[k + 1] - b[k + 1];
        s0 += u * u;
        s1 += v * v;
    }
    for (; k < d; k++) { double u = (double)a[k] - b[k]; s0 += u * u; }
    return sqrt(s0 + s1);
}

/* KID's polynomial kernel, degree 3, gamma 1/d, coefficient 1 (Binkowski et al.) */
static double kernel(const float *a, const float *b, int d) {
    double t = dot(a, b, d) / d + 1.0;
    return t * t * t;
}

/* rows x (n, d) and y (m, d) present and of usable sizes, else STATUS_ARG naming them */
static status check_rows(const char *fn, const float *x, int n, int nmin, const float *y, int m,
                         int mmin, int d) {
    if (d < 1) return error_set(STATUS_ARG, "%s: feature dimension %d must be >= 1", fn, d);
    if (n < nmin || (y && m < mmin))
        return error_set(STATUS_ARG, "%s: %d and %d rows, need at least %d and %d", fn, n, m,
                         nmin, mmin);
    if (!x || (mmin > 0 && !y)) return error_set(STATUS_ARG, "%s: NULL rows", fn);
    return STATUS_OK;
}

/* the median of v[0..n) (n >= 1), sorting v; the mean of the middle two for even n */
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- MMD and KID ---- */

/* unbiased MMD^2 of rows xi[0..n) of x against rows yi[0..m) of y (NULL index: all rows in
 * order). The within-set sums run over i < j and count twice, as k is symmetric. */
static double mmd2_rows(const float *x, const int *xi, int n, const float *y, const int *yi,
                        int m, int d) {
#define ROW(p, idx, i) ((p) + (size_t)((idx) ? (idx)[i] : (i)) * d)
    double kxx = 0, kyy = 0, kxy = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) kxx += kernel(ROW(x, xi, i), ROW(x, xi, j), d);
    for (int i = 0; i < m; i++)
        for (int j = i + 1; j < m; j++) kyy += kernel(ROW(y, yi, i), ROW(y, yi, j), d);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) kxy += kernel(ROW(x, xi, i), ROW(y, yi, j), d);
#undef ROW
    return 2 * kxx / ((double)n * (n - 1)) + 2 * kyy / ((double)m * (m - 1))
         - 2 * kxy / ((double)n * m);
}

double metrics_mmd2_unbiased(const float *x, int n, const float *y, int m, int d) {
    if (check_rows("metrics_mmd2_unbiased", x, n, 2, y, m, 2, d) != STATUS_OK) return NAN;
    return mmd2_rows(x, NULL, n, y, NULL, m, d);
}

/* the first k entries of perm (a permutation of 0..n-1) become a uniform draw of k distinct
 * rows: a partial Fisher-Yates shuffle. Any permutation is a fine start, so perm carries on
 * from one subset to the next. (The modulo's bias, n / 2^64, is nil.) */
static void draw_rows(rng *r, int *perm, int n, int k) {
    for (int i = 0; i < k; i++) {
        int j = i + (int)(rng_u64(r) % (uint64_t)(n - i));
        int t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
}

status metrics_kid(const float *x, int n, const float *y, int m, int d, int subsets,
                   int subset_size, uint64_t seed, double *mean, double *std) {
    const char *fn = "metrics_kid";
    if (check_rows(fn, x, n, 2, y, m, 2, d) != STATUS_OK) return error_status();
    if (!mean || !std) return error_set(STATUS_ARG, "%s: NULL mean or std", fn);
    if (subsets < 1) return error_set(STATUS_ARG, "%s: %d subsets, need at least 1", fn, subsets);
    int k = subset_size < n ? subset_size : n;
    if (m < k) k = m;
    if (k < 2) return error_set(STATUS_ARG, "%s: subset size %d (asked %d, %d and %d rows) must be >= 2", fn, k, subset_size, n, m);
    int *px = malloc((size_t)n * sizeof *px), *py = malloc((size_t)m * sizeof *py);
    double *v = malloc((size_t)subsets * sizeof *v);
    if (!px || !py || !v) {
        free(px); free(py); free(v);
        return error_set(STATUS_NOMEM, "%s: out of memory for %d subsets", fn, subsets);
    }
    for (int i = 0; i < n; i++) px[i] = i;
    for (int i = 0; i < m; i++) py[i] = i;
    rng r = rng_new(seed);
    double s = 0, ss = 0;
    for (int t = 0; t < subsets; t++) {
        draw_rows(&r, px, n, k);
        draw_rows(&r, py, m, k);
        v[t] = mmd2_rows(x, px, k, y, py, k, d);
        s += v[t];
    }
    *mean = s / subsets;
    for (int t = 0; t < subsets; t++) ss += (v[t] - *mean) * (v[t] - *mean);
    *std = sqrt(ss / subsets);   /* population std, as numpy's default */
    free(px); free(py); free(v);
    return STATUS_OK;
}

/* ---- diversity and memorisation ---- */

double metrics_diversity(const float *x, int n, int d) {
    if (n < 2) return 0.0;
    if (check_rows("metrics_diversity", x, n, 2, NULL, 0, 0, d) != STATUS_OK) return NAN;
    double s = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) s += dist(x + (size_t)i * d, x + (size_t)j * d, d);
    return s / ((double)n * (n - 1) / 2);
}

/* out[i] = distance of row i of a (na, d) to its nearest row of b (nb, d); with `self`
 * (a == b) row i itself is skipped: leave one out. */
static void nearest(const float *a, int na, const float *b, int nb, int d, bool self, double *out) {
    for (int i = 0; i < na; i++) {
        double best = INFINITY;
        for (int j = 0; j < nb; j++) {
            if (self && j == i) continue;
            double e = dist(a + (size_t)i * d, b + (size_t)j * d, d);
            if (e < best) best = e;
        }
        out[i] = best;
    }
}

status metrics_memorisation(const float *fake, int n, const float *real, int m, int d,
                            double copy_threshold, metrics_memo *out) {
    const char *fn = "metrics_memorisation";
    if (check_rows(fn, fake, n, 1, real, m, 2, d) != STATUS_OK) return error_status();
    if (!out) return error_set(STATUS_ARG, "%s: NULL result", fn);
    if (!(copy_threshold >= 0))
        return error_set(STATUS_ARG, "%s: copy threshold %g must be >= 0", fn, copy_threshold);
    double *fd = malloc((size_t)n * sizeof *fd), *rd = malloc((size_t)m * sizeof *rd);
    if (!fd || !rd) {
        free(fd); free(rd);
        return error_set(STATUS_NOMEM, "%s: out of memory for %d + %d distances", fn, n, m);
    }
    nearest(fake, n, real, m, d, false, fd);
    nearest(real, m, real, m, d, true, rd);
    out->real_nn_median = median(rd, m);
    int copies = 0;
    for (int i = 0; i < n; i++) copies += fd[i] < copy_threshold * out->real_nn_median;
    out->fake_nn_median = median(fd, n);
    free(fd); free(rd);
    if (!(out->real_nn_median > 0))
        return error_set(STATUS_ARG, "%s: the reals' median nearest-neighbour distance is %g: "
                         "most real rows have a duplicate, the ratio is undefined", fn,
                         out->real_nn_median);
    out->ratio = out->fake_nn_median / out->real_nn_median;
    out->copy_fraction = (double)copies / n;
    return STATUS_OK;
}

/* STATUS_ARG naming the first non-finite value of x (n, d) */
static status check_finite(const char *fn, const char *what, const float *x, int n, int d) {
    for (int64_t i = 0; i < (int64_t)n * d; i++)
        if (!isfinite(x[i]))
            return error_set(STATUS_ARG, "%s: %s row %d column %d is %g", fn, what,
                             (int)(i / d), (int)(i % d), x[i]);
    return STATUS_OK;
}

status metrics_compare(const float *fake, int n, const float *real, int m, int d,
                       uint64_t seed, metrics_report *r) {
    const char *fn = "metrics_compare";
    if (check_rows(fn, fake, n, 2, real, m, 2, d) != STATUS_OK) return error_status();
    if (!r) return error_set(STATUS_ARG, "%s: NULL report", fn);
    if (check_finite(fn, "fake", fake, n, d) != STATUS_OK
        || check_finite(fn, "real", real, m, d) != STATUS_OK)
        return error_status();
    int k = n < m ? n : m;
    if (k > METRICS_KID_SUBSET_SIZE) k = METRICS_KID_SUBSET_SIZE;
    if (metrics_kid(fake, n, real, m, d, METRICS_KID_SUBSETS, k, seed, &r->kid, &r->kid_std) != STATUS_OK
        || metrics_memorisation(fake, n, real, m, d, METRICS_COPY_THRESHOLD, &r->memo) != STATUS_OK)
        return error_status();
    r->diversity_fake = metrics_diversity(fake, n, d);
    r->diversity_real = metrics_diversity(real, m, d);
    /* real_nn_median > 0 (checked above) implies two distinct reals: diversity_real > 0 */
    r->diversity_ratio = r->diversity_fake / r->diversity_real;
    r->collapse_warning = r->diversity_ratio < METRICS_COLLAPSE_RATIO;
    r->copy_warning = r->memo.copy_fraction > METRICS_COPY_FRACTION;
    return STATUS_OK;
}

/* ---- VGG-19 features ---- */

/* per-channel spatial mean and population std of f (N, C, H, W) into rows of out (N, D),
 * at column col, scaled by sqrt(D / (4 * 2C)) (see metrics.h) */
static void layer_stats(const tensor *f, float *out, int col) {
    int N = f->shape[0], C = f->shape[1], hw = f->shape[2] * f->shape[3];
    int D = metrics_feature_dim();
    double scale = sqrt((double)D / (FEAT_LAYERS * 2.0 * C));
    for (int i = 0; i < N; i++)
        for (int c = 0; c < C; c++) {
            const float *p = f->data + ((size_t)i * C + c) * hw;
            double s = 0, ss = 0;
            for (int k = 0; k < hw; k++) s += p[k];
            double mean = s / hw;
            for (int k = 0; k < hw; k++) ss += (p[k] - mean) * (p[k] - mean);
            out[(size_t)i * D + col + c] = (float)(mean * scale);
            out[(size_t)i * D + col + C + c] = (float)(sqrt(ss / hw) * scale);
        }
}

/* images [start, start + len) of imgs through VGG into out's rows; all in arena a */
static status features_chunk(const vgg19 *vgg, const tensor *imgs, int start, int len, arena *a,
                             float *out) {
    int H = imgs->shape[2], W = imgs->shape[3], side = H < W ? H : W;
    size_t per = (size_t)3 * H * W;
    tensor *x = tensor_from(a, 4, (int[]){len, 3, H, W}, imgs->data + (size_t)start * per);
    x = op_add_scalar(a, op_mul_scalar(a, x, 0.5f), 0.5f);            // [-1, 1] -> [0, 1]
    if (side < FEAT_MIN_SIDE) {
        int oh = (int)lround((double)H * FEAT_MIN_SIDE / side);
        int ow = (int)lround((double)W * FEAT_MIN_SIDE / side);
        x = op_upsample_to(a, x, UPSAMPLE_BILINEAR, oh, ow, false);
    }
    tensor *f[FEAT_LAYERS];
    if (!x || vgg19_forward(vgg, a, vgg_normalize(a, x), FEAT_LAYERS, feat_names, f) != STATUS_OK)
        return error_status();   /* the failing op's reason */
    for (int l = 0, col = 0; l < FEAT_LAYERS; col += 2 * feat_channels[l], l++)
        layer_stats(f[l], out + (size_t)start * metrics_feature_dim(), col);
    return STATUS_OK;
}

status metrics_features(const vgg19 *vgg, const tensor *images, float *out) {
    const char *fn = "metrics_features";
    char buf[64];
    if (!vgg || !images || !out) return error_set(STATUS_ARG, "%s: NULL argument", fn);
    if (images->ndim != 4 || images->shape[1] != 3)
        return error_set(STATUS_SHAPE, "%s: images %s, want (N, 3, H, W)", fn,
                         tensor_shape_str(images, buf));
    int need = vgg19_layer_index(feat_names[FEAT_LAYERS - 1]);
    if (vgg->nconv <= need)
        return error_set(STATUS_ARG, "%s: the VGG-19 ends at %s, the features need %s (vgg19_init with last NULL or \"%s\")",
                         fn, vgg->nconv > 0 ? vgg19_layer_name(vgg->nconv - 1) : "nothing",
                         feat_names[FEAT_LAYERS - 1], feat_names[FEAT_LAYERS - 1]);
    arena *a = arena_new(16 << 20);
    if (!a) return error_set(STATUS_NOMEM, "%s: out of memory for a scratch arena", fn);
    bool was = autograd_set(false);
    status s = STATUS_OK;
    for (int start = 0; start < images->shape[0] && s == STATUS_OK; start += FEAT_CHUNK) {
        int len = images->shape[0] - start < FEAT_CHUNK ? images->shape[0] - start : FEAT_CHUNK;
        s = features_chunk(vgg, images, start, len, a, out);
        arena_reset(a);
    }
    autograd_set(was);
    arena_free(a);
    return s;
}

/* ---- trained features ---- */

#define FEATNET_SIDE 299

static const char *pooled_layer(const featnet *f) {
    static const char *const names[] = {"mixed10", "out_relu"};
    for (int i = 0; i < 2; i++)
        if (featnet_has_layer(f, names[i])) return names[i];
    return NULL;
}

int metrics_featnet_dim(const featnet *f) {
    if (!f) { error_set(STATUS_ARG, "metrics_featnet_dim: NULL network"); return -1; }
    if (featnet_vgg(f)) return metrics_feature_dim();
    const char *layer = pooled_layer(f);
    if (!layer) { error_set(STATUS_ARG, "metrics: %s has no pooled feature layer (mixed10 or out_relu)", featnet_name(f)); return -1; }
    arena *a = arena_new(8 << 20);
    bool was = autograd_set(false);
    tensor *x = a ? tensor_fill(tensor_new(a, 4, (int[]){1, 3, 96, 96}), 0.5f) : NULL, *y = NULL;
    int d = x && featnet_forward(f, a, x, 1, &layer, &y) == STATUS_OK ? y->shape[1] : -1;
    autograd_set(was);
    arena_free(a);
    return d;
}

status metrics_featnet_features(const featnet *f, const tensor *images, float *out) {
    const char *fn = "metrics_featnet_features";
    char buf[64];
    if (!f || !images || !out) return error_set(STATUS_ARG, "%s: NULL argument", fn);
    if (featnet_vgg(f)) return metrics_features(featnet_vgg(f), images, out);
    if (images->ndim != 4 || images->shape[1] != 3)
        return error_set(STATUS_SHAPE, "%s: images %s, want (N, 3, H, W)", fn, tensor_shape_str(images, buf));
    const char *layer = pooled_layer(f);
    if (!layer) return error_set(STATUS_ARG, "metrics: %s has no pooled feature layer (mixed10 or out_relu)", featnet_name(f));
    arena *a = arena_new(64 << 20);
    if (!a) return error_set(STATUS_NOMEM, "%s: out of memory for a scratch arena", fn);
    bool was = autograd_set(false);
    status s = STATUS_OK;
    int n = images->shape[0], h = images->shape[2], w = images->shape[3];
    int64_t per = (int64_t)3 * h * w;
    for (int i = 0; i < n && s == STATUS_OK; i++) {   /* one at a time: 299 px activations are large */
        tensor *x = tensor_from(a, 4, (int[]){1, 3, h, w}, images->data + i * per), *y = NULL;
        x = op_add_scalar(a, op_mul_scalar(a, x, 0.5f), 0.5f);
        x = op_upsample_to(a, x, UPSAMPLE_BILINEAR, FEATNET_SIDE, FEATNET_SIDE, false);
        s = x ? featnet_forward(f, a, x, 1, &layer, &y) : error_status();
        if (s == STATUS_OK) {
            int c = y->shape[1];
            int64_t hw = (int64_t)y->shape[2] * y->shape[3];
            for (int k = 0; k < c; k++) {
                double acc = 0;
                for (int64_t j = 0; j < hw; j++) acc += y->data[k * hw + j];
                out[(int64_t)i * c + k] = (float)(acc / (double)hw);
            }
        }
        arena_reset(a);
    }
    autograd_set(was);
    arena_free(a);
    return s;
}
