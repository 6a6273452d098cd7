/* test_linalg.c: matmul, linear and gram (ops_linalg.c over the backend's gemm).
 *
 * Checks: hand-computed products; values (and the gram gradient) from PyTorch 1.13 on
 * closed-form inputs (test_sin_pattern() below, so only the outputs are pasted); gradchecks over awkward
 * sizes, batched and not, with and without bias; gradients reaching only what requires them;
 * and the error paths.
 *
 * Tolerance vs PyTorch: 1e-5 absolute and relative: float sums of at most 10 products of
 * magnitude <= 1 in another order, and literals printed to 7 digits.
 */
#include <math.h>
#include <string.h>
#include "harness.h"
#include "gradcheck.h"
#include "atelier/ops.h"

#define TORCH_TOL 1e-5



/* ---- hand-computed ---- */

static void test_matmul_hand(void) {
    arena *a = arena_new(1 << 16);
    /* (2, 3) @ (3, 2): [[1,2,3],[4,5,6]] @ [[1,0],[0,1],[1,1]] = [[4,5],[10,11]] */
    tensor *x = tensor_from(a, 2, (int[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    tensor *y = tensor_from(a, 2, (int[]){3, 2}, (float[]){1, 0, 0, 1, 1, 1});
    tensor *z = op_matmul(a, x, y);
    CHECK_OK(z);
    if (z) {
        CHECK(z->ndim == 2 && z->shape[0] == 2 && z->shape[1] == 2);
        CHECK_ARRAY(z->data, ((float[]){4, 5, 10, 11}), 4, 0, 0);
    }
    /* batched (2, 1, 2) @ (2, 2, 1): batch 0 [1,2].[3,4] = 11, batch 1 [5,6].[7,8] = 83 */
    x = tensor_from(a, 3, (int[]){2, 1, 2}, (float[]){1, 2, 5, 6});
    y = tensor_from(a, 3, (int[]){2, 2, 1}, (float[]){3, 4, 7, 8});
    z = op_matmul(a, x, y);
    CHECK_OK(z);
    if (z) {
        CHECK(z->ndim == 3 && z->shape[0] == 2 && z->shape[1] == 1 && z->shape[2] == 1);
        CHECK(z->data[0] == 11 && z->data[1] == 83);
    }
    arena_free(a);
}

/* x (2, 2) @ w^T + b with w (3, 2): rows [1, 2], [3, 4]; w rows [1, 0], [0, 1], [1, 1];
 * b = [10, 20, 30]: [[11, 22, 33], [13, 24, 37]]. Then d sum(y) / d: x = column sums of w
 * = [2, 2] per row, w = column sums of x = [4, 6] per row, b = 2 (rows) each. */
static void test_linear_hand(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 2, (int[]){2, 2}, (float[]){1, 2, 3, 4});
    tensor *w = tensor_from(a, 2, (int[]){3, 2}, (float[]){1, 0, 0, 1, 1, 1});
    tensor *b = tensor_from(a, 1, (int[]){3}, (float[]){10, 20, 30});
    tensor_requires_grad(x); tensor_requires_grad(w); tensor_requires_grad(b);
    tensor *y = op_linear(a, x, w, b);
    CHECK_OK(y);
    if (y) {
        CHECK_ARRAY(y->data, ((float[]){11, 22, 33, 13, 24, 37}), 6, 0, 0);
        CHECK(tensor_backward(op_sum(a, y, -1, false)) == STATUS_OK);
        CHECK_ARRAY(x->grad, ((float[]){2, 2, 2, 2}), 4, 0, 0);
        CHECK_ARRAY(w->grad, ((float[]){4, 6, 4, 6, 4, 6}), 6, 0, 0);
        CHECK_ARRAY(b->grad, ((float[]){2, 2, 2}), 3, 0, 0);
    }
    y = op_linear(a, x, w, NULL);
    CHECK_OK(y);
    if (y) CHECK_ARRAY(y->data, ((float[]){1, 2, 3, 3, 4, 7}), 6, 0, 0);
    arena_free(a);
}

/* f (1, 2, 1, 2) = [[1, 2], [3, 4]] as (C, HW): F F^T = [[5, 11], [11, 25]], / HW = 2. */
static void test_gram_hand(void) {
    arena *a = arena_new(1 << 16);
    tensor *f = tensor_from(a, 4, (int[]){1, 2, 1, 2}, (float[]){1, 2, 3, 4});
    tensor *g = op_gram(a, f);
    CHECK_OK(g);
    if (g) {
        CHECK(g->ndim == 3 && g->shape[0] == 1 && g->shape[1] == 2 && g->shape[2] == 2);
        CHECK_ARRAY(g->data, ((float[]){2.5f, 5.5f, 5.5f, 12.5f}), 4, 0, 0);
    }
    arena_free(a);
}

/* ---- agreement with PyTorch ---- */

/* PyTorch: torch.bmm(test_sin_pattern((2,3,4), 0.37, 0.1), test_sin_pattern((2,4,5), 0.23, 0.5)) */
static void test_matmul_torch(void) {
    static const float want[30] = {0.0721494f, -0.2252149f, -0.5107178f, -0.7693228f,
        -0.9874095f, 1.335143f, 1.257288f, 1.113216f, 0.9105136f, 0.659857f, 0.1699697f,
        0.4532157f, 0.7125921f, 0.9344382f, 1.10707f, -0.2672374f, -0.5663198f, -0.8355757f,
        -1.060824f, -1.230202f, 1.224701f, 1.130701f, 0.9771509f, 0.7721366f, 0.5264559f,
        0.4893285f, 0.7713648f, 1.012775f, 1.200846f, 1.325671f};
    arena *a = arena_new(1 << 16);
    tensor *z = op_matmul(a, test_sin_pattern(a, 3, (int[]){2, 3, 4}, 0.37, 0.1, 1),
                          test_sin_pattern(a, 3, (int[]){2, 4, 5}, 0.23, 0.5, 1));
    CHECK_OK(z);
    if (z) CHECK_ARRAY(z->data, want, 30, TORCH_TOL, TORCH_TOL);
    arena_free(a);
}

/* PyTorch: F.linear(test_sin_pattern((3,4), 0.51, -0.2), test_sin_pattern((2,4), 0.19, 0.7), test_sin_pattern((2,), 1.1, 0.3)) */
static void test_linear_torch(void) {
    static const float want[6] = {1.976971f, 2.667456f, 1.498224f, 2.717672f, -2.473599f,
                                  -2.263096f};
    arena *a = arena_new(1 << 16);
    tensor *y = op_linear(a, test_sin_pattern(a, 2, (int[]){3, 4}, 0.51, -0.2, 1),
                          test_sin_pattern(a, 2, (int[]){2, 4}, 0.19, 0.7, 1), test_sin_pattern(a, 1, (int[]){2}, 1.1, 0.3, 1));
    CHECK_OK(y);
    if (y) CHECK_ARRAY(y->data, want, 6, TORCH_TOL, TORCH_TOL);
    arena_free(a);
}

/* PyTorch: f = test_sin_pattern((2,3,2,5), 0.41, 0.2); F = f.reshape(2, 3, 10);
 * G = F @ F.transpose(1, 2) / 10; (G * test_sin_pattern((2,3,3), 0.77, 0.4)).sum().backward() */
static void test_gram_torch(void) {
    static const float want_g[18] = {0.4401623f, -0.321256f, -0.07083099f, -0.321256f,
        0.5987464f, -0.3670916f, -0.07083099f, -0.3670916f, 0.492857f, 0.4060987f, -0.26735f,
        -0.09874028f, -0.26735f, 0.5708371f, -0.3889117f, -0.09874028f, -0.3889117f,
        0.5458518f};
    static const float want_df[60] = {-0.108955f, -0.09046866f, -0.05698638f, -0.01405813f,
        0.03120036f, 0.07128715f, 0.09955749f, 0.1113253f, 0.1046401f, 0.08060987f,
        -0.02951142f, 0.0641802f, 0.1472334f, 0.2058815f, 0.2304029f, 0.2167332f, 0.1671381f,
        0.08983851f, -0.00235258f, -0.09415372f, 0.1716753f, 0.1671966f, 0.1350036f,
        0.08043268f, 0.01252937f, -0.0574508f, -0.117908f, -0.158821f, -0.1734081f,
        -0.1592513f, -0.07528641f, -0.01853581f, 0.04128727f, 0.09426663f, 0.1316205f,
        0.1471572f, 0.1383013f, 0.1065209f, 0.05708371f, -0.001815572f, 0.04494162f,
        0.1221432f, 0.1790985f, 0.2063668f, 0.199428f, 0.1594324f, 0.09300951f, 0.01116953f,
        -0.0725219f, -0.1441922f, 0.2183054f, 0.2013879f, 0.1510885f, 0.07574505f,
        -0.01215383f, -0.0980381f, -0.1676717f, -0.2095124f, -0.2166246f, -0.1878295f};
    arena *a = arena_new(1 << 16);
    tensor *f = test_sin_pattern(a, 4, (int[]){2, 3, 2, 5}, 0.41, 0.2, 1);
    tensor_requires_grad(f);
    tensor *g = op_gram(a, f);
    CHECK_OK(g);
    if (g) {
        CHECK_ARRAY(g->data, want_g, 18, TORCH_TOL, TORCH_TOL);
        tensor *r = test_sin_pattern(a, 3, (int[]){2, 3, 3}, 0.77, 0.4, 1);
        CHECK(tensor_backward(op_sum(a, op_mul(a, g, r), -1, false)) == STATUS_OK);
        CHECK_ARRAY(f->grad, want_df, 60, TORCH_TOL, TORCH_TOL);
    }
    arena_free(a);
}

/* ---- gradchecks ---- */

/* Matmul and linear are linear in each input and gram is quadratic, so central differences
 * are exact up to float rounding (~1e-4 after / 2 eps): 1e-3 catches a 1% error that the
 * default 2% would let through. */
static gradcheck_opts tight(void) {
    gradcheck_opts o = gradcheck_defaults();
    o.atol = 1e-3;
    o.rtol = 1e-3;
    return o;
}

static tensor *matmul_fn(arena *a, tensor **in, void *user) { return op_matmul(a, in[0], in[1]); }
static tensor *linear_fn(arena *a, tensor **in, void *user) { return op_linear(a, in[0], in[1], in[2]); }
static tensor *gram_fn(arena *a, tensor **in, void *user) { return op_gram(a, in[0]); }

static void test_matmul_gradcheck(void) {
    static const int dims[][4] = {  /* batch (0 = unbatched), M, K, N */
        {0, 1, 1, 1}, {0, 3, 5, 7}, {0, 7, 1, 3}, {3, 2, 5, 1}, {1, 5, 3, 7}, {2, 1, 7, 5},
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        arena *a = arena_new(1 << 16);
        int b = dims[i][0], m = dims[i][1], k = dims[i][2], n = dims[i][3];
        tensor *in[2];
        if (b) {
            in[0] = test_leaf(a, 3, (int[]){b, m, k}, 20 + i, -1.0f, 1.0f);
            in[1] = test_leaf(a, 3, (int[]){b, k, n}, 40 + i, -1.0f, 1.0f);
        } else {
            in[0] = test_leaf(a, 2, (int[]){m, k}, 20 + i, -1.0f, 1.0f);
            in[1] = test_leaf(a, 2, (int[]){k, n}, 40 + i, -1.0f, 1.0f);
        }
        char name[48];
        snprintf(name, sizeof name, "matmul (%d) %dx%d @ %dx%d", b, m, k, k, n);
        gradcheck(name, matmul_fn, in, 2, NULL, tight());
        arena_free(a);
    }
}

static void test_linear_gradcheck(void) {
    static const int dims[][4] = {  /* N, IN, OUT, bias */
        {1, 1, 1, 1}, {3, 5, 7, 1}, {5, 7, 3, 0}, {7, 3, 1, 1}, {2, 1, 5, 0},
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        arena *a = arena_new(1 << 16);
        int n = dims[i][0], in_f = dims[i][1], out_f = dims[i][2];
        tensor *in[3] = {
            test_leaf(a, 2, (int[]){n, in_f}, 60 + i, -1.0f, 1.0f),
            test_leaf(a, 2, (int[]){out_f, in_f}, 70 + i, -1.0f, 1.0f),
            dims[i][3] ? test_leaf(a, 1, (int[]){out_f}, 80 + i, -1.0f, 1.0f) : NULL,
        };
        char name[48];
        snprintf(name, sizeof name, "linear %dx%d -> %d%s", n, in_f, out_f,
                 dims[i][3] ? " + bias" : "");
        gradcheck(name, linear_fn, in, 3, NULL, tight());
        arena_free(a);
    }
}

static void test_gram_gradcheck(void) {
    static const int shapes[][4] = {{1, 1, 1, 1}, {1, 3, 5, 7}, {2, 5, 1, 3}, {3, 2, 3, 1}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        arena *a = arena_new(1 << 16);
        tensor *in[1] = {test_leaf(a, 4, shapes[i], 90 + i, -1.0f, 1.0f)};
        char name[48];
        snprintf(name, sizeof name, "gram (%d, %d, %d, %d)", shapes[i][0], shapes[i][1],
                 shapes[i][2], shapes[i][3]);
        gradcheck(name, gram_fn, in, 1, NULL, tight());
        arena_free(a);
    }
}

/* Only inputs that require a gradient get one; repeated backward accumulates. */
static void test_grad_only_where_required(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_fill(tensor_new(a, 2, (int[]){2, 3}), 1.0f);
    tensor *w = test_leaf(a, 2, (int[]){4, 3}, 3, -1.0f, 1.0f);
    tensor *b = tensor_new(a, 1, (int[]){4});
    for (int k = 0; k < 2; k++)
        CHECK(tensor_backward(op_sum(a, op_linear(a, x, w, b), -1, false)) == STATUS_OK);
    CHECK(x->grad == NULL && b->grad == NULL && w->grad != NULL);
    /* d sum / d w[o, i] = sum over rows of x[:, i] = 2, twice */
    if (w->grad) CHECK_ARRAY(w->grad, ((float[]){4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4}), 12, 0, 0);
    arena_free(a);
}

/* ---- error paths ---- */

static void check_error(const char *what, tensor *y, const char *n1, const char *n2) {
    CHECK_MSG(y == NULL, "%s: expected failure", what);
    CHECK_MSG(error_status() == STATUS_SHAPE, "%s: status %s, want shape (%s)", what,
              status_name(error_status()), error_message());
    CHECK_MSG(strstr(error_message(), n1) != NULL, "%s: '%s' lacks '%s'", what, error_message(), n1);
    CHECK_MSG(strstr(error_message(), n2) != NULL, "%s: '%s' lacks '%s'", what, error_message(), n2);
    error_clear();
}

static void test_errors(void) {
    arena *a = arena_new(1 << 16);
    tensor *m23 = tensor_new(a, 2, (int[]){2, 3}), *m43 = tensor_new(a, 2, (int[]){4, 3});
    tensor *b234 = tensor_new(a, 3, (int[]){2, 3, 4}), *b345 = tensor_new(a, 3, (int[]){3, 4, 5});
    check_error("matmul inner", op_matmul(a, m23, m43), "(2, 3)", "(4, 3)");
    check_error("matmul ranks", op_matmul(a, b234, m43), "(2, 3, 4)", "(4, 3)");
    check_error("matmul batch", op_matmul(a, b234, b345), "(2, 3, 4)", "(3, 4, 5)");
    check_error("matmul 1-d", op_matmul(a, tensor_new(a, 1, (int[]){3}), m23), "(3)", "(2, 3)");
    check_error("linear features", op_linear(a, m23, tensor_new(a, 2, (int[]){5, 4}), NULL),
                "(2, 3)", "(5, 4)");
    check_error("linear bias", op_linear(a, m23, m43, tensor_new(a, 1, (int[]){3})), "(3)",
                "(4, 3)");
    check_error("linear 3-d", op_linear(a, b234, m43, NULL), "input", "(2, 3, 4)");
    check_error("gram 3-d", op_gram(a, b234), "gram", "(2, 3, 4)");
    /* a NULL input keeps the first reason */
    error_set(STATUS_IO, "earlier failure");
    CHECK(op_matmul(a, NULL, m23) == NULL && op_linear(a, m23, NULL, NULL) == NULL &&
          op_gram(a, NULL) == NULL);
    CHECK(error_status() == STATUS_IO);
    error_clear();
    arena_free(a);
}

int main(void) {
    RUN(test_matmul_hand);
    RUN(test_linear_hand);
    RUN(test_gram_hand);
    RUN(test_matmul_torch);
    RUN(test_linear_torch);
    RUN(test_gram_torch);
    RUN(test_matmul_gradcheck);
    RUN(test_linear_gradcheck);
    RUN(test_gram_gradcheck);
    RUN(test_grad_only_where_required);
    RUN(test_errors);
    return test_finish();
}
