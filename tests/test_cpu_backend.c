/* The cpu backend against the reference: gemm in every layout, and a whole small network
 * (forward and every gradient) on both backends and on 1 and 2 threads. Kernel-by-kernel
 * comparisons are in test_cpu_conv.c and test_cpu_kernels.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "atelier/ops.h"
#include "atelier/rng.h"


/* OpenBLAS and the double-accumulating reference sum k products in different orders:
 * errors ~ k * eps * |a||b|, so the tolerance scales with sqrt(k) (rounding is random). */
static void test_gemm_layouts(void) {
    const backend *cpu = test_backend_or_skip("cpu");
    if (!cpu) return;
    int sizes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 1, 33}, {64, 65, 63}, {1, 300, 129}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int t = 0; t < 4; t++) {
            int m = sizes[s][0], n = sizes[s][1], k = sizes[s][2];
            bool ta = t & 1, tb = t & 2;
            int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 1;  /* padded rows */
            float *a = malloc(sizeof(float) * (ta ? k : m) * lda), *b = malloc(sizeof(float) * (tb ? n : k) * ldb);
            float *c1 = malloc(sizeof(float) * m * ldc), *c2 = malloc(sizeof(float) * m * ldc);
            rng r = rng_new(s * 4 + t);
            rng_uniform(&r, a, (int64_t)(ta ? k : m) * lda, -1, 1);
            rng_uniform(&r, b, (int64_t)(tb ? n : k) * ldb, -1, 1);
            rng_uniform(&r, c1, (int64_t)m * ldc, -1, 1);
            memcpy(c2, c1, sizeof(float) * m * ldc);
            cpu->gemm(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 2.0f, c1, ldc);
            backend_ref()->gemm(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 2.0f, c2, ldc);
            CHECK_MSG(test_close_array(__FILE__, __LINE__, "gemm", c1, c2, (int64_t)m * ldc, 1e-6 * sqrt(k) * 4, 1e-5),
                      "gemm m %d n %d k %d trans %d %d", m, n, k, ta, tb);
            free(a); free(b); free(c1); free(c2);
        }
}

typedef struct net { tensor *x, *w1, *b1, *g, *be, *w2, *w3, *b3; } net;

static net net_new(arena *a) {
    net n = {
        .x = test_leaf(a, 4, (int[]){2, 3, 13, 11}, 1, -1, 1),
        .w1 = test_leaf(a, 4, (int[]){8, 3, 3, 3}, 2, -0.3f, 0.3f),
        .b1 = test_leaf(a, 1, (int[]){8}, 3, -0.1f, 0.1f),
        .g = test_leaf(a, 1, (int[]){8}, 4, 0.5f, 1.5f),
        .be = test_leaf(a, 1, (int[]){8}, 5, -0.1f, 0.1f),
        .w2 = test_leaf(a, 4, (int[]){16, 4, 3, 3}, 6, -0.2f, 0.2f),
        .w3 = test_leaf(a, 4, (int[]){16, 3, 4, 4}, 7, -0.2f, 0.2f),
        .b3 = test_leaf(a, 1, (int[]){3}, 8, -0.1f, 0.1f),
    };
    return n;
}

/* conv -> instance norm -> relu -> grouped strided conv -> batch norm -> leaky relu ->
 * max pool -> upsample -> transposed conv -> tanh -> gram + tv + mse losses */
static tensor *net_loss(arena *a, const net *n) {
    conv2d_opts o1 = conv2d_defaults(), o2 = conv2d_defaults(), o3 = conv2d_defaults();
    o1.pad = 1;
    o2.stride = 2; o2.pad = 1; o2.groups = 2;
    o3.stride = 2; o3.pad = 1;
    tensor *h = op_relu(a, op_instance_norm(a, op_conv2d(a, n->x, n->w1, n->b1, o1), n->g, n->be, 1e-5f));
    h = op_conv2d(a, h, n->w2, NULL, o2);                                      /* (2, 16, 7, 6) */
    h = op_leaky_relu(a, op_batch_norm(a, h, NULL, NULL, NULL, NULL, true, 0.1f, 1e-5f), 0.2f);
    h = op_upsample(a, op_max_pool2d(a, h, 2, 2, 0), UPSAMPLE_BILINEAR, 2);   /* (2, 16, 6, 6) */
    h = op_tanh(a, op_conv_transpose2d(a, h, n->w3, n->b3, o3));               /* (2, 3, 12, 12) */
    tensor *target = tensor_fill(tensor_like(a, h), 0.25f);
    tensor *style = op_mean(a, op_gram(a, h), -1, false);
    return op_add(a, op_add(a, op_mse_loss(a, h, target), op_mul_scalar(a, style, 3.0f)), op_tv_loss(a, h));
}

/* Loss and every gradient of the network on the current backend, into out (malloc'd). */
static float *net_run(const net *n, int *count) {
    arena *a = arena_new(1 << 20);
    tensor *const *p = &n->x;
    for (int i = 0; i < 8; i++) tensor_zero_grad(p[i]);
    tensor *loss = net_loss(a, n);
    float *out = NULL;
    if (loss && tensor_backward(loss) == STATUS_OK) {
        int total = 1;
        for (int i = 0; i < 8; i++) total += (int)p[i]->numel;
        out = malloc(sizeof(float) * total);
        out[0] = loss->data[0];
        for (int i = 0, at = 1; i < 8; at += (int)p[i]->numel, i++) memcpy(out + at, p[i]->grad, sizeof(float) * p[i]->numel);
        *count = total;
    }
    arena_free(a);
    return out;
}

static void test_network_agrees_across_backends_and_threads(void) {
    if (!test_backend_or_skip("cpu")) return;
    arena *a = arena_new(1 << 20);
    net n = net_new(a);
    int count = 0, c2 = 0, c3 = 0;
    CHECK(backend_select("ref") == STATUS_OK);
    float *ref = net_run(&n, &count);
    CHECK(backend_select("cpu") == STATUS_OK);
    backend_set_threads(1);
    float *one = net_run(&n, &c2);
    backend_set_threads(2);
    float *two = net_run(&n, &c3);
    backend_set_threads(0);
    CHECK(ref && one && two && count == c2 && count == c3);
    if (ref && one && two) {
        /* float32 through ~10 layers, sums in other orders: 1e-4 of the gradients' scale */
        CHECK(test_close_array(__FILE__, __LINE__, "cpu vs ref", one, ref, count, 1e-4, 1e-3));
        /* thread count: oneDNN/OpenBLAS may sum in another order; our kernels are exact */
        CHECK(test_close_array(__FILE__, __LINE__, "1 vs 2 threads", two, one, count, 1e-5, 1e-4));
    }
    free(ref); free(one); free(two);
    arena_free(a);
}

int main(void) {
    RUN(test_gemm_layouts);
    RUN(test_network_agrees_across_backends_and_threads);
    return test_finish();
}
