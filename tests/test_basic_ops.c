/* Elementwise ops with broadcasting, scalar forms, activations and reductions: hand-computed
 * values, gradients against central differences, and error messages. */
#include <math.h>
#include <string.h>
#include "gradcheck.h"
#include "harness.h"
#include "atelier/ops.h"

typedef struct binary_case { binop op; } binary_case;

static tensor *apply_binary(arena *a, tensor **in, void *user) {
    switch (((binary_case *)user)->op) {
    case BINOP_ADD: return op_add(a, in[0], in[1]);
    case BINOP_SUB: return op_sub(a, in[0], in[1]);
    case BINOP_MUL: return op_mul(a, in[0], in[1]);
    case BINOP_DIV: return op_div(a, in[0], in[1]);
    }
    return NULL;
}


static void test_broadcast_values(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 2, (int[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    tensor *row = tensor_from(a, 1, (int[]){3}, (float[]){10, 20, 30});
    tensor *col = tensor_from(a, 2, (int[]){2, 1}, (float[]){100, 200});
    tensor *y = op_add(a, op_mul(a, x, row), col);
    float want[6] = {110, 140, 190, 240, 300, 380};
    CHECK_OK(y);
    CHECK(y->ndim == 2 && y->shape[0] == 2 && y->shape[1] == 3);
    CHECK_ARRAY(y->data, want, 6, 0, 0);
    /* (2, 1) and (3): both broadcast into (2, 3) */
    tensor *z = op_sub(a, col, row);
    float wz[6] = {90, 80, 70, 190, 180, 170};
    CHECK_OK(z);
    CHECK_ARRAY(z->data, wz, 6, 0, 0);
    arena_free(a);
}

static void test_binary_gradients(void) {
    arena *a = arena_new(1 << 16);
    /* shapes chosen so both sides broadcast somewhere: (2, 3, 1, 5) op (3, 4, 1) */
    int sa[4] = {2, 3, 1, 5}, sb[3] = {3, 4, 1};
    for (int op = BINOP_ADD; op <= BINOP_DIV; op++) {
        tensor *in[2] = {test_leaf(a, 4, sa, 1, -1, 1), test_leaf(a, 3, sb, 2, 0.5f, 2)};  /* b away from 0 for div */
        binary_case c = {op};
        CHECK(gradcheck("binary", apply_binary, in, 2, &c, gradcheck_defaults()));
    }
    /* the same tensor on both sides */
    tensor *x = test_leaf(a, 2, (int[]){3, 5}, 3, 0.5f, 2);
    binary_case c = {BINOP_MUL};
    CHECK(gradcheck("mul-self", apply_binary, (tensor *[]){x, x}, 2, &c, gradcheck_defaults()));
    arena_free(a);
}

typedef struct unary_case { const char *name; tensor *(*fn)(arena *, tensor *); float lo, hi; } unary_case;

static tensor *apply_unary(arena *a, tensor **in, void *user) { return ((unary_case *)user)->fn(a, in[0]); }

static tensor *leaky(arena *a, tensor *x) { return op_leaky_relu(a, x, 0.2f); }
static tensor *relu6(arena *a, tensor *x) { return op_relu_cap(a, x, 0.5f); }
static tensor *add_s(arena *a, tensor *x) { return op_add_scalar(a, x, 1.5f); }
static tensor *sub_s(arena *a, tensor *x) { return op_sub_scalar(a, x, 1.5f); }
static tensor *rsub_s(arena *a, tensor *x) { return op_rsub_scalar(a, x, 1.5f); }
static tensor *mul_s(arena *a, tensor *x) { return op_mul_scalar(a, x, -3.0f); }
static tensor *div_s(arena *a, tensor *x) { return op_div_scalar(a, x, 4.0f); }
static tensor *rdiv_s(arena *a, tensor *x) { return op_rdiv_scalar(a, x, 2.0f); }
static tensor *pow_s(arena *a, tensor *x) { return op_pow_scalar(a, x, 2.5f); }

static void test_unary_gradients(void) {
    static const unary_case cases[] = {
        {"relu", op_relu, -1, 1}, {"leaky_relu", leaky, -1, 1}, {"relu_cap", relu6, -1, 1}, {"tanh", op_tanh, -2, 2},
        {"sigmoid", op_sigmoid, -3, 3}, {"exp", op_exp, -1, 1}, {"log", op_log, 0.5f, 3},
        {"sqrt", op_sqrt, 0.5f, 3}, {"abs", op_abs, -1, 1}, {"square", op_square, -2, 2},
        {"neg", op_neg, -1, 1}, {"add_scalar", add_s, -1, 1}, {"sub_scalar", sub_s, -1, 1},
        {"rsub_scalar", rsub_s, -1, 1}, {"mul_scalar", mul_s, -1, 1}, {"div_scalar", div_s, -1, 1},
        {"rdiv_scalar", rdiv_s, 0.5f, 2}, {"pow_scalar", pow_s, 0.5f, 2},
    };
    arena *a = arena_new(1 << 16);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tensor *x = test_leaf(a, 3, (int[]){3, 1, 7}, 10 + i, cases[i].lo, cases[i].hi);
        CHECK_MSG(gradcheck(cases[i].name, apply_unary, &x, 1, (void *)&cases[i], gradcheck_defaults()),
                  "gradcheck %s", cases[i].name);
    }
    arena_free(a);
}

static void test_activation_values(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 1, (int[]){4}, (float[]){-2, -0.5f, 0, 3});
    float relu[4] = {0, 0, 0, 3}, leak[4] = {-0.4f, -0.1f, 0, 3}, cap[4] = {0, 0, 0, 2};
    float sig[4] = {0.11920292f, 0.37754067f, 0.5f, 0.95257413f};  /* 1 / (1 + e^-x) */
    float th[4] = {-0.96402758f, -0.46211716f, 0, 0.99505475f};
    CHECK_ARRAY(op_relu(a, x)->data, relu, 4, 0, 0);
    CHECK_ARRAY(op_leaky_relu(a, x, 0.2f)->data, leak, 4, 1e-7, 0);
    CHECK_ARRAY(op_relu_cap(a, x, 2.0f)->data, cap, 4, 0, 0);
    CHECK_ARRAY(op_sigmoid(a, x)->data, sig, 4, 1e-7, 1e-6);
    CHECK_ARRAY(op_tanh(a, x)->data, th, 4, 1e-7, 1e-6);
    arena_free(a);
}

typedef struct reduce_case { int kind, axes; bool keepdim; } reduce_case;

static tensor *apply_reduce(arena *a, tensor **in, void *user) {
    reduce_case *c = user;
    if (c->kind == 0) return op_sum(a, in[0], c->axes, c->keepdim);
    if (c->kind == 1) return op_mean(a, in[0], c->axes, c->keepdim);
    return op_var(a, in[0], c->axes, c->kind == 3, c->keepdim);
}

static void test_reduce_values(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 2, (int[]){2, 3}, (float[]){1, 2, 3, 4, 5, 9});
    tensor *rows = op_sum(a, x, 0x2, false), *cols = op_mean(a, x, 0x1, true);
    tensor *all = op_var(a, x, -1, true, false), *rv = op_var(a, x, 0x2, false, false);
    CHECK(rows->ndim == 1 && rows->shape[0] == 2 && rows->data[0] == 6 && rows->data[1] == 18);
    CHECK(cols->ndim == 2 && cols->shape[0] == 1 && cols->shape[1] == 3);
    CHECK_ARRAY(cols->data, ((float[]){2.5f, 3.5f, 6}), 3, 0, 0);
    /* unbiased variance of {1,2,3,4,5,9}: mean 4, squares 9+4+1+0+1+25 = 40, / 5 = 8 */
    CHECK(all->ndim == 0);
    CHECK_NEAR(all->data[0], 8.0, 1e-6, 0);
    CHECK_ARRAY(rv->data, ((float[]){2.0f / 3, 14.0f / 3}), 2, 1e-6, 1e-6);
    arena_free(a);
}

static void test_reduce_gradients(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = test_leaf(a, 4, (int[]){2, 3, 5, 7}, 5, -1, 1);
    int axes[] = {-1, 0x1, 0x2, 0x4, 0x8, 0xC, 0x5, 0xA};
    for (int kind = 0; kind < 4; kind++)
        for (size_t i = 0; i < sizeof axes / sizeof axes[0]; i++) {
            reduce_case c = {kind, axes[i], i % 2 == 0};
            CHECK_MSG(gradcheck("reduce", apply_reduce, &x, 1, &c, gradcheck_defaults()),
                      "reduce kind %d axes 0x%x", kind, axes[i]);
        }
    arena_free(a);
}

static void test_errors_name_both_shapes(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_new(a, 3, (int[]){2, 3, 4}), *y = tensor_new(a, 2, (int[]){5, 4});
    CHECK(op_mul(a, x, y) == NULL && error_status() == STATUS_SHAPE);
    CHECK(strstr(error_message(), "mul: shapes (2, 3, 4) and (5, 4) cannot broadcast") != NULL);
    error_clear();
    CHECK(op_sum(a, x, 0x8, false) == NULL && error_status() == STATUS_ARG);
    CHECK(strstr(error_message(), "(2, 3, 4)") != NULL);
    error_clear();
    arena_free(a);
}

int main(void) {
    RUN(test_broadcast_values);
    RUN(test_binary_gradients);
    RUN(test_unary_gradients);
    RUN(test_activation_values);
    RUN(test_reduce_values);
    RUN(test_reduce_gradients);
    RUN(test_errors_name_both_shapes);
    return test_finish();
}
