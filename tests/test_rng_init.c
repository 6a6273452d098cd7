/* The counter-based generator and the initialisers' statistics against their formulas. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "atelier/init.h"

static void moments(const float *x, int64_t n, double *mean, double *var) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < n; i++) m += x[i];
    m /= n;
    for (int64_t i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
    *mean = m;
    *var = v / n;
}

/* The stream does not depend on how it is cut into calls: the basis of thread-count
 * independence (each block of a parallel fill is rng_uniform_at with its own counter). */
static void test_stream_is_independent_of_blocking(void) {
    enum { N = 10007 };
    float *whole = malloc(sizeof(float) * N), *parts = malloc(sizeof(float) * N);
    rng r = rng_new(123);
    rng_uniform(&r, whole, N, -1, 1);
    for (int start = 0; start < N; start += 1000) {   /* as 11 "threads" would */
        int len = N - start < 1000 ? N - start : 1000;
        rng_uniform_at(123, (uint64_t)start, parts + start, len, -1, 1);
    }
    CHECK(memcmp(whole, parts, sizeof(float) * N) == 0);
    CHECK(r.counter == N);
    rng other = rng_new(124);
    rng_uniform(&other, parts, N, -1, 1);
    int same = 0;
    for (int i = 0; i < N; i++) same += whole[i] == parts[i];
    CHECK(same < 10);  /* another seed, another stream */
    free(whole); free(parts);
}

static void test_uniform_and_normal_moments(void) {
    enum { N = 200000 };
    float *x = malloc(sizeof(float) * N);
    double m, v;
    rng r = rng_new(9);
    rng_uniform(&r, x, N, 2, 5);  /* mean 3.5, var 9/12 */
    moments(x, N, &m, &v);
    /* 5 standard errors: sqrt(0.75 / N) = 0.0019 */
    CHECK_NEAR(m, 3.5, 0.01, 0);
    CHECK_NEAR(v, 0.75, 0.01, 0);
    for (int i = 0; i < N; i++) CHECK(x[i] >= 2 && x[i] < 5);
    rng_normal(&r, x, N, -1, 2);
    moments(x, N, &m, &v);
    CHECK_NEAR(m, -1.0, 0.03, 0);
    CHECK_NEAR(v, 4.0, 0.06, 0);
    int beyond3 = 0;
    for (int i = 0; i < N; i++) beyond3 += fabsf(x[i] + 1) > 6;
    CHECK(beyond3 > 300 && beyond3 < 800);  /* P(|z| > 3) = 0.0027: 540 expected */
    free(x);
}

static void test_fans(void) {
    arena *a = arena_new(1 << 16);
    int fi, fo;
    init_fans(tensor_new(a, 4, (int[]){16, 8, 3, 5}), &fi, &fo);
    CHECK(fi == 8 * 15 && fo == 16 * 15);
    init_fans(tensor_new(a, 2, (int[]){10, 20}), &fi, &fo);
    CHECK(fi == 20 && fo == 10);
    arena_free(a);
}

static void test_kaiming_and_xavier_stds(void) {
    arena *a = arena_new(1 << 22);
    tensor *w = tensor_new(a, 4, (int[]){256, 64, 3, 3});  /* fan_in 576, fan_out 2304 */
    rng r = rng_new(5);
    double m, v;
    init_kaiming_normal(w, &r, 0.0f, false);
    moments(w->data, w->numel, &m, &v);
    CHECK_NEAR(sqrt(v), sqrt(2.0 / 576), 0, 0.02);
    init_kaiming_uniform(w, &r, 0.2f, true);  /* leaky ReLU gain, fan_out */
    moments(w->data, w->numel, &m, &v);
    CHECK_NEAR(sqrt(v), sqrt(2.0 / 1.04) / sqrt(2304.0), 0, 0.02);
    init_xavier_uniform(w, &r, 1.0f);
    moments(w->data, w->numel, &m, &v);
    CHECK_NEAR(sqrt(v), sqrt(2.0 / (576 + 2304)), 0, 0.02);
    init_xavier_normal(w, &r, 2.0f);
    moments(w->data, w->numel, &m, &v);
    CHECK_NEAR(sqrt(v), 2.0 * sqrt(2.0 / (576 + 2304)), 0, 0.02);
    init_zeros(w);
    moments(w->data, w->numel, &m, &v);
    CHECK(m == 0 && v == 0);
    arena_free(a);
}

/* W W^T = gain^2 I for a wide matrix; W^T W = gain^2 I for a tall one (conv shapes too). */
static void test_orthogonal(void) {
    arena *a = arena_new(1 << 20);
    int shapes[][4] = {{8, 3, 3, 3}, {40, 6, 1, 1}};
    for (int s = 0; s < 2; s++) {
        tensor *w = tensor_new(a, 4, shapes[s]);
        rng r = rng_new(11);
        CHECK(init_orthogonal(w, &r, 1.5f) == STATUS_OK);
        int rows = w->shape[0], cols = (int)(w->numel / rows), k = rows < cols ? rows : cols;
        double worst = 0;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                double dot = 0;
                for (int p = 0; p < (rows < cols ? cols : rows); p++)
                    dot += rows < cols ? (double)w->data[i * cols + p] * w->data[j * cols + p]
                                       : (double)w->data[p * cols + i] * w->data[p * cols + j];
                worst = fmax(worst, fabs(dot - (i == j ? 2.25 : 0.0)));
            }
        CHECK_MSG(worst < 1e-5, "shape %d: |W W^T - gain^2 I| = %g", s, worst);
    }
    CHECK(init_orthogonal(tensor_new(a, 1, (int[]){4}), &(rng){0}, 1) == STATUS_SHAPE);
    error_clear();
    arena_free(a);
}

int main(void) {
    RUN(test_stream_is_independent_of_blocking);
    RUN(test_uniform_and_normal_moments);
    RUN(test_fans);
    RUN(test_kaiming_and_xavier_stds);
    RUN(test_orthogonal);
    return test_finish();
}
