/* test_metrics.c: the GAN evaluation measures of metrics.h.
 *
 *  - golden: tests/golden/metrics.safetensors (tools/gen_metrics_golden.py) holds two
 *    small fixed sets, x (20, 8) and y (25, 8), and PyTorch's float64 mmd2_unbiased,
 *    diversity and memorisation numbers on them, as exact decimal strings in its metadata.
 *    Both sides sum the same float32 inputs in double, in different orders: the rounding
 *    differences are ~n eps_64 ~ 1e-14 relative, so 1e-9 is loose yet catches any slip in
 *    a formula (a wrong normaliser, an included diagonal, a lower median).
 *  - properties on Gaussian rows: KID ~0 for one distribution and growing with a shift,
 *    determinism by seed, zero diversity for copies and the collapse warning, copies
 *    caught by memorisation and an independent sample not, and errors for bad sizes.
 *  - features: two 32x32 images (and one again) through the seeded VGG-19, upsampled to 64.
 */
#include <math.h>
#include <stdlib.h>
#include "atelier/metrics.h"
#include "atelier/rng.h"
#include "atelier/safetensors.h"
#include "harness.h"

#define GOLDEN_PATH "tests/golden/metrics.safetensors"
#define GOLDEN_RTOL 1e-9

/* n rows of d normals with mean mu and std sd, malloc'd */
static float *normal_rows(int n, int d, uint64_t seed, float mu, float sd) {
    float *x = malloc((size_t)n * d * sizeof *x);
    rng r = rng_new(seed);
    if (x) rng_normal(&r, x, (int64_t)n * d, mu, sd);
    return x;
}

/* the metadata value `key` of the golden file as a double, or NAN (a failure naming it) */
static double golden_value(const safetensors *f, const char *key) {
    const char *s = safetensors_metadata(f, key);
    if (!s) { test_fail(__FILE__, __LINE__, "golden metadata lacks %s", key); return NAN; }
    return strtod(s, NULL);
}

static void test_golden(void) {
    safetensors *f = safetensors_open(GOLDEN_PATH);
    arena *a = arena_new(1 << 16);
    if (!f) { test_fail(__FILE__, __LINE__, "%s", error_message()); arena_free(a); return; }
    tensor *x = safetensors_get(f, a, "x"), *y = safetensors_get(f, a, "y");
    CHECK_OK(x); CHECK_OK(y);
    if (!x || !y) goto done;
    int n = x->shape[0], m = y->shape[0], d = x->shape[1];
    CHECK(n == 20 && m == 25 && d == 8 && y->shape[1] == d);
    CHECK_NEAR(metrics_mmd2_unbiased(x->data, n, y->data, m, d), golden_value(f, "mmd2"), 0, GOLDEN_RTOL);
    CHECK_NEAR(metrics_mmd2_unbiased(y->data, m, x->data, n, d), golden_value(f, "mmd2"), 0, GOLDEN_RTOL);
    CHECK_NEAR(metrics_mmd2_unbiased(x->data, 10, x->data + 10 * d, 10, d),
               golden_value(f, "mmd2_xx"), 0, GOLDEN_RTOL);
    CHECK_NEAR(metrics_diversity(x->data, n, d), golden_value(f, "diversity_x"), 0, GOLDEN_RTOL);
    CHECK_NEAR(metrics_diversity(y->data, m, d), golden_value(f, "diversity_y"), 0, GOLDEN_RTOL);
    metrics_memo memo;
    CHECK(metrics_memorisation(x->data, n, y->data, m, d, golden_value(f, "copy_threshold"),
                               &memo) == STATUS_OK);
    CHECK_NEAR(memo.fake_nn_median, golden_value(f, "memo.fake_nn_median"), 0, GOLDEN_RTOL);
    CHECK_NEAR(memo.real_nn_median, golden_value(f, "memo.real_nn_median"), 0, GOLDEN_RTOL);
    CHECK_NEAR(memo.ratio, golden_value(f, "memo.ratio"), 0, GOLDEN_RTOL);
    CHECK_NEAR(memo.copy_fraction, golden_value(f, "memo.copy_fraction"), 0, GOLDEN_RTOL);
done:
    safetensors_close(f);
    arena_free(a);
}

/* Same distribution: KID's mean within 3 of its subset stds of 0. Shifting the fakes' mean
 * by 0.5 then 1 (per dim, std 1) raises it far above that, and monotonically. */
static void test_kid_shift(void) {
    enum { N = 300, D = 16 };
    float *real = normal_rows(N, D, 1, 0, 1), *fake[3];
    const float shift[3] = {0.0f, 0.5f, 1.0f};
    double mean[3], sd[3];
    for (int s = 0; s < 3; s++) {
        fake[s] = normal_rows(N, D, 2, shift[s], 1);
        CHECK(metrics_kid(fake[s], N, real, N, D, 50, 100, 9, &mean[s], &sd[s]) == STATUS_OK);
    }
    CHECK_MSG(fabs(mean[0]) < 3 * sd[0] && sd[0] > 0, "same distribution: KID %g +- %g", mean[0], sd[0]);
    CHECK_MSG(mean[1] > mean[0] + 3 * sd[0] && mean[1] > 3 * sd[1], "shift 0.5: KID %g +- %g", mean[1], sd[1]);
    CHECK_MSG(mean[2] > mean[1] + 3 * sd[1], "shift 1: KID %g +- %g, shift 0.5: %g", mean[2], sd[2], mean[1]);
    for (int s = 0; s < 3; s++) free(fake[s]);
    free(real);
}

/* The same seed gives the same numbers bit for bit, another seed other ones; a subset size
 * above min(n, m) is clamped (so equals asking for min(n, m)); one subset has std 0. */
static void test_kid_determinism(void) {
    enum { N = 60, M = 40, D = 8 };
    float *x = normal_rows(N, D, 3, 0, 1), *y = normal_rows(M, D, 4, 0.2f, 1);
    double m1, s1, m2, s2, m3, s3;
    CHECK(metrics_kid(x, N, y, M, D, 20, 30, 5, &m1, &s1) == STATUS_OK);
    CHECK(metrics_kid(x, N, y, M, D, 20, 30, 5, &m2, &s2) == STATUS_OK);
    CHECK(m1 == m2 && s1 == s2);
    CHECK(metrics_kid(x, N, y, M, D, 20, 30, 6, &m3, &s3) == STATUS_OK);
    CHECK(m3 != m1 && s3 != s1);
    CHECK(metrics_kid(x, N, y, M, D, 20, 1000, 5, &m1, &s1) == STATUS_OK);
    CHECK(metrics_kid(x, N, y, M, D, 20, M, 5, &m2, &s2) == STATUS_OK);
    CHECK(m1 == m2 && s1 == s2);
    // subsets of all rows of both sets (n = m = subset size) are the full sets: plain MMD
    CHECK(metrics_kid(x, M, y, M, D, 3, M, 5, &m1, &s1) == STATUS_OK);
    CHECK_NEAR(m1, metrics_mmd2_unbiased(x, M, y, M, D), 0, 1e-12);
    CHECK_NEAR(s1, 0, 1e-12, 0);
    free(x); free(y);
}

/* n copies of one row have diversity 0; Gaussian rows sqrt(2 d)-ish; the collapse warning
 * fires for a set squeezed to 0.1 of the reals' spread and not for a fresh sample. */
static void test_diversity_collapse(void) {
    enum { N = 50, D = 16 };
    float *real = normal_rows(N, D, 7, 0, 1), *fake = normal_rows(N, D, 8, 0, 1);
    float *same = malloc(sizeof(float) * N * D), *squeezed = malloc(sizeof(float) * N * D);
    for (int i = 0; i < N * D; i++) {
        same[i] = real[i % D];
        squeezed[i] = 0.1f * fake[i];
    }
    CHECK(metrics_diversity(same, N, D) == 0.0);
    CHECK(metrics_diversity(real, 1, D) == 0.0);
    CHECK_NEAR(metrics_diversity(real, N, D), sqrt(2.0 * D), 0, 0.1);   // E|x - y| ~ sqrt(2d)
    metrics_report r;
    CHECK(metrics_compare(fake, N, real, N, D, 1, &r) == STATUS_OK);
    CHECK_MSG(!r.collapse_warning && r.diversity_ratio > 0.8 && r.diversity_ratio < 1.25,
              "healthy: diversity ratio %g", r.diversity_ratio);
    CHECK(!r.copy_warning);
    CHECK_NEAR(r.diversity_fake, metrics_diversity(fake, N, D), 0, 0);
    CHECK(metrics_compare(squeezed, N, real, N, D, 1, &r) == STATUS_OK);
    CHECK_NEAR(r.diversity_ratio, 0.1 * metrics_diversity(fake, N, D) / metrics_diversity(real, N, D), 0, 1e-6);
    CHECK(r.collapse_warning);
    CHECK(metrics_compare(same, N, real, N, D, 1, &r) == STATUS_OK);
    CHECK(r.collapse_warning && r.diversity_fake == 0.0);
    free(real); free(fake); free(same); free(squeezed);
}

/* Fakes that are reals plus noise 0.01 (the reals' nearest neighbours are ~4 apart in 16
 * dims): every one a copy, ratio tiny, copy warning. An independent sample: ratio ~1. */
static void test_memorisation(void) {
    enum { M = 200, N = 80, D = 16 };
    float *real = normal_rows(M, D, 11, 0, 1), *noise = normal_rows(N, D, 12, 0, 0.01f);
    float *indep = normal_rows(N, D, 13, 0, 1), *copies = malloc(sizeof(float) * N * D);
    for (int i = 0; i < N * D; i++) copies[i] = real[(i / D) * 2 * D + i % D] + noise[i];  // even rows
    metrics_memo mc, mi;
    CHECK(metrics_memorisation(copies, N, real, M, D, METRICS_COPY_THRESHOLD, &mc) == STATUS_OK);
    CHECK(metrics_memorisation(indep, N, real, M, D, METRICS_COPY_THRESHOLD, &mi) == STATUS_OK);
    CHECK_MSG(mc.copy_fraction == 1.0 && mc.ratio < 0.05, "copies: fraction %g ratio %g", mc.copy_fraction, mc.ratio);
    CHECK_MSG(mi.copy_fraction < 0.05 && mi.ratio > 0.8 && mi.ratio < 1.25,
              "independent: fraction %g ratio %g", mi.copy_fraction, mi.ratio);
    CHECK(mc.real_nn_median == mi.real_nn_median && mi.real_nn_median > 1);
    metrics_report r;
    CHECK(metrics_compare(copies, N, real, M, D, 1, &r) == STATUS_OK);
    CHECK(r.copy_warning && r.memo.copy_fraction == 1.0);
    CHECK(metrics_compare(indep, N, real, M, D, 1, &r) == STATUS_OK);
    CHECK(!r.copy_warning && !r.collapse_warning);
    free(real); free(noise); free(indep); free(copies);
}

/* Each bad size, NULL or value is refused with a message naming the problem. */
#define CHECK_STATUS(expr, s, part)                                                          \
    do {                                                                                     \
        error_clear();                                                                       \
        status st_ = (expr);                                                                 \
        CHECK_MSG(st_ == (s), "%s: status %s, want %s", #expr, status_name(st_), status_name(s)); \
        CHECK_MSG(strstr(error_message(), (part)) != NULL, "%s: message '%s' lacks '%s'",    \
                  #expr, error_message(), (part));                                          \
        error_clear();                                                                       \
    } while (0)

static void test_errors(void) {
    enum { N = 10, D = 4 };
    float *x = normal_rows(N, D, 21, 0, 1), dup[N * D];
    for (int i = 0; i < N * D; i++) dup[i] = x[i % (2 * D)];   // rows repeat with period 2
    double mu, sd;
    metrics_memo memo;
    metrics_report r;
    error_clear();
    CHECK(isnan(metrics_mmd2_unbiased(x, 1, x, N, D)) && error_status() == STATUS_ARG);
    error_clear();
    CHECK(isnan(metrics_mmd2_unbiased(x, N, x, N, 0)) && strstr(error_message(), "dimension"));
    error_clear();
    CHECK(isnan(metrics_diversity(NULL, N, D)) && error_status() == STATUS_ARG);
    CHECK_STATUS(metrics_kid(x, N, x, 1, D, 5, 5, 1, &mu, &sd), STATUS_ARG, "rows");
    CHECK_STATUS(metrics_kid(x, N, x, N, D, 5, 1, 1, &mu, &sd), STATUS_ARG, "subset size 1");
    CHECK_STATUS(metrics_kid(x, N, x, N, D, 0, 5, 1, &mu, &sd), STATUS_ARG, "0 subsets");
    CHECK_STATUS(metrics_kid(x, N, NULL, N, D, 5, 5, 1, &mu, &sd), STATUS_ARG, "NULL");
    CHECK_STATUS(metrics_memorisation(x, N, x, 1, D, 0.5, &memo), STATUS_ARG, "at least 1 and 2");
    CHECK_STATUS(metrics_memorisation(x, N, dup, N, D, 0.5, &memo), STATUS_ARG, "duplicate");
    CHECK_STATUS(metrics_memorisation(x, N, x, N, D, -1, &memo), STATUS_ARG, "threshold");
    CHECK_STATUS(metrics_compare(x, N, x, N, D, 1, NULL), STATUS_ARG, "NULL report");
    x[7] = NAN;
    CHECK_STATUS(metrics_compare(x, N, dup, N, D, 1, &r), STATUS_ARG, "fake row 1 column 3 is nan");
    free(x);
}

/* Two different 32x32 images and the first again, through the seeded VGG-19 to relu5_1
 * (upsampled to 64): finite features of the stated size, standard deviations >= 0, the
 * same image the same row, different images different rows. And refusals: a net cut
 * short of relu5_1, images that are not (N, 3, H, W). */
static void test_features(void) {
    int D = metrics_feature_dim();
    CHECK(D == 2816);
    arena *p = arena_new(1 << 20), *a = arena_new(1 << 20);
    vgg19 vgg;
    CHECK(vgg19_init(&vgg, p, 1, VGG_POOL_MAX, "relu5_1") == STATUS_OK);
    vgg19 short_vgg = vgg;
    short_vgg.nconv = vgg19_layer_index("relu4_1") + 1;   // as vgg19_init(..., "relu4_1") builds it
    tensor *img = tensor_new(a, 4, (int[]){3, 3, 32, 32});                   // (N, 3, H, W)
    test_fill_uniform(img, 5, -1.0f, 1.0f);
    int64_t per = 3 * 32 * 32;
    memcpy(img->data + 2 * per, img->data, per * sizeof(float));             // image 2 = image 0
    float *f = malloc((size_t)3 * D * sizeof *f);
    bool was = autograd_set(true);
    CHECK(metrics_features(&vgg, img, f) == STATUS_OK);
    CHECK(autograd_enabled());                                               // restored
    autograd_set(was);
    int finite = 0, negative = 0, nonzero = 0;
    for (int64_t i = 0; i < 3 * (int64_t)D; i++) {
        finite += isfinite(f[i]) != 0;
        nonzero += f[i] != 0;
    }
    for (int i = 0; i < 3; i++)   // every std (the second half of each block) is >= 0
        for (int col = 0, l = 0, c[4] = {128, 256, 512, 512}; l < 4; col += 2 * c[l], l++)
            for (int k = 0; k < c[l]; k++) negative += f[(size_t)i * D + col + c[l] + k] < 0;
    CHECK(finite == 3 * D && negative == 0 && nonzero > D);
    CHECK(memcmp(f, f + 2 * D, D * sizeof *f) == 0);
    double diff = 0;
    for (int k = 0; k < D; k++) diff += fabs((double)f[k] - f[D + k]);
    CHECK_MSG(diff > 1e-3 * D, "images 0 and 1 give features %g apart", diff);
    CHECK_STATUS(metrics_features(&short_vgg, img, f), STATUS_ARG, "relu5_1");
    CHECK_STATUS(metrics_features(&vgg, tensor_new(a, 4, (int[]){1, 1, 8, 8}), f), STATUS_SHAPE, "(1, 1, 8, 8)");
    CHECK_STATUS(metrics_features(&vgg, NULL, f), STATUS_ARG, "NULL");
    free(f);
    arena_free(a);
    arena_free(p);
}

int main(void) {
    RUN(test_golden);
    RUN(test_kid_shift);
    RUN(test_kid_determinism);
    RUN(test_diversity_collapse);
    RUN(test_memorisation);
    RUN(test_errors);
    RUN(test_features);
    return test_finish();
}
