/* test_loss.c: MSE, L1, BCE with logits, hinge and total variation.
 *
 * Values and gradients (to x and to the target) are compared with PyTorch 1.13
 * (torch.nn.functional.mse_loss, l1_loss, binary_cross_entropy_with_logits, and
 * relu(1 - sign x).mean() for the hinge; literals below), including L1's and hinge's kinks
 * where PyTorch's gradient is 0, and logits of +-30, +-40 where a naive BCE overflows.
 * Gradients on random inputs are checked against central differences.
 * Tolerance 1e-6: O(1) means of 6 terms, summed in double.
 */
#include <string.h>
#include "atelier/ops.h"
#include "gradcheck.h"
#include "harness.h"


typedef tensor *(*loss_fn)(arena *, tensor *, tensor *);

/* loss(x, t) on 6 elements: checks the scalar and both gradients. */
static void check_loss(loss_fn f, const float *x6, const float *t6, float want,
                       const float *want_gx, const float *want_gt) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 2, (int[]){2, 3}, x6), *t = tensor_from(a, 2, (int[]){2, 3}, t6);
    tensor_requires_grad(x);
    tensor_requires_grad(t);
    tensor *l = f(a, x, t);
    CHECK_OK(l);
    if (!l) { arena_free(a); return; }
    CHECK(l->ndim == 0 && l->numel == 1);
    CHECK_NEAR(l->data[0], want, 1e-6, 1e-6);
    CHECK(tensor_backward(l) == STATUS_OK);
    CHECK_ARRAY(x->grad, want_gx, 6, 1e-6, 1e-6);
    CHECK_ARRAY(t->grad, want_gt, 6, 1e-6, 1e-6);
    arena_free(a);
}

/* x[1] == t[1]: the kink, where PyTorch's gradient is 0 */
static const float XS[6] = {0.5f, -1.25f, 2.0f, 0.0f, 3.0f, -0.5f};
static const float TS[6] = {1.0f, -1.25f, -1.0f, 0.5f, 2.0f, 0.25f};

static void test_mse_matches_torch(void) {
    check_loss(op_mse_loss, XS, TS, 1.84375f,
               (float[]){-0.16666667f, 0, 1, -0.16666667f, 0.33333334f, -0.25f},
               (float[]){0.16666667f, 0, -1, 0.16666667f, -0.33333334f, 0.25f});
}

static void test_l1_matches_torch(void) {
    const float k = 1.0f / 6;
    check_loss(op_l1_loss, XS, TS, 0.95833331f, (float[]){-k, 0, k, -k, k, -k},
               (float[]){k, 0, -k, k, -k, k});
}

static void test_bce_matches_torch(void) {
    check_loss(op_bce_with_logits, (float[]){0.5f, -1.25f, 30.0f, -40.0f, 3.0f, 0.0f},
               (float[]){1.0f, 0.0f, 0.0f, 1.0f, 0.25f, 0.5f}, 12.28629f,
               (float[]){-0.062923439f, 0.037116688f, 0.16666667f, -0.16666667f, 0.11709569f, 0},
               (float[]){-0.083333336f, 0.20833333f, -5.0f, 6.6666665f, -0.5f, 0});
}

/* relu(1 - sign x).mean() in PyTorch; x[3] = 1 sits on the kink for sign +1 */
static void test_hinge_matches_torch(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 1, (int[]){6}, (float[]){0.5f, -1.25f, 2.0f, 1.0f, -3.0f, 0.25f});
    tensor_requires_grad(x);
    const float k = 1.0f / 6;
    static const float want[2] = {1.25f, 1.2916666f};
    const float want_g[2][6] = {{-k, -k, 0, 0, -k, -k}, {k, 0, k, k, 0, k}};
    for (int s = 0; s < 2; s++) {
        tensor_zero_grad(x);
        tensor *l = op_hinge_loss(a, x, s == 0 ? 1.0f : -1.0f);
        CHECK_OK(l);
        if (!l) continue;
        CHECK(l->ndim == 0);
        CHECK_NEAR(l->data[0], want[s], 1e-6, 1e-6);
        CHECK(tensor_backward(l) == STATUS_OK);
        CHECK_ARRAY(x->grad, want_g[s], 6, 1e-7, 1e-6);
    }
    arena_free(a);
}

static tensor *mse_fn(arena *a, tensor **in, void *u) { return op_mse_loss(a, in[0], in[1]); }
static tensor *l1_fn(arena *a, tensor **in, void *u) { return op_l1_loss(a, in[0], in[1]); }
static tensor *bce_fn(arena *a, tensor **in, void *u) { return op_bce_with_logits(a, in[0], in[1]); }
static tensor *hinge_fn(arena *a, tensor **in, void *u) {
    return op_hinge_loss(a, in[0], *(float *)u);
}

/* Random inputs rarely sit within eps of L1's and hinge's kinks; the checker skips any that do. */
static void test_loss_gradcheck(void) {
    static const int shapes[][4] = {{1, 3, 5, 7}, {7}, {5, 1, 3}, {1}};
    static const int ndims[] = {4, 1, 3, 1};
    arena *a = arena_new(1 << 20);
    for (int k = 0; k < 4; k++) {
        tensor *x = test_leaf(a, ndims[k], shapes[k], 200 + k, -2, 2);
        tensor *t = test_leaf(a, ndims[k], shapes[k], 300 + k, -2, 2);
        tensor *p = test_leaf(a, ndims[k], shapes[k], 400 + k, 0, 1);  /* probabilities */
        gradcheck("mse", mse_fn, (tensor *[]){x, t}, 2, NULL, gradcheck_defaults());
        gradcheck("l1", l1_fn, (tensor *[]){x, t}, 2, NULL, gradcheck_defaults());
        gradcheck("bce_with_logits", bce_fn, (tensor *[]){x, p}, 2, NULL, gradcheck_defaults());
        float plus = 1.0f, minus = -1.0f;
        gradcheck("hinge +1", hinge_fn, (tensor *[]){x}, 1, &plus, gradcheck_defaults());
        gradcheck("hinge -1", hinge_fn, (tensor *[]){x}, 1, &minus, gradcheck_defaults());
    }
    arena_free(a);
}

/* ---- total variation ---- */

/* x (1, 1, 2, 3) = {1, 2, 4; 0, 3, 3}: vertical (1 + 1 + 1) / 3 = 1, horizontal
 * (1 + 4 + 9 + 0) / 4 = 3.5, so 4.5; the gradient from PyTorch 1.13 (autograd of the
 * same two means). */
static void test_tv_by_hand(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 4, (int[]){1, 1, 2, 3}, (float[]){1, 2, 4, 0, 3, 3});
    tensor_requires_grad(x);
    tensor *l = op_tv_loss(a, x);
    CHECK_OK(l);
    if (l) {
        CHECK(l->ndim == 0);
        CHECK_NEAR(l->data[0], 4.5, 1e-6, 0);
        CHECK(tensor_backward(l) == STATUS_OK);
        CHECK_ARRAY(x->grad, ((float[]){0.16666669f, -1.1666667f, 1.6666667f, -2.1666667f,
                                        2.1666667f, -0.66666669f}), 6, 1e-6, 1e-6);
    }
    arena_free(a);
}

/* Degenerate images: one row has no vertical differences, one column no horizontal ones,
 * one pixel none at all (the loss and its gradient are 0, not NaN). */
static void test_tv_degenerate(void) {
    arena *a = arena_new(1 << 16);
    tensor *row = tensor_from(a, 4, (int[]){1, 1, 1, 4}, (float[]){0, 1, 3, 6});
    tensor *col = tensor_from(a, 4, (int[]){1, 1, 3, 1}, (float[]){2, 0, 4});
    tensor *dot = tensor_from(a, 4, (int[]){1, 1, 1, 1}, (float[]){5});
    tensor_requires_grad(dot);
    tensor *lr = op_tv_loss(a, row), *lc = op_tv_loss(a, col), *ld = op_tv_loss(a, dot);
    CHECK_OK(lr && lc && ld);
    if (!lr || !lc || !ld) { arena_free(a); return; }
    CHECK_NEAR(lr->data[0], (1.0 + 4.0 + 9.0) / 3.0, 1e-6, 0);
    CHECK_NEAR(lc->data[0], (4.0 + 16.0) / 2.0, 1e-6, 0);
    CHECK(ld->data[0] == 0.0f);
    CHECK(tensor_backward(ld) == STATUS_OK && dot->grad && dot->grad[0] == 0.0f);
    arena_free(a);
}

static tensor *tv_fn(arena *a, tensor **in, void *u) { return op_tv_loss(a, in[0]); }

static void test_tv_gradcheck(void) {
    static const int shapes[][4] = {{1, 3, 5, 7}, {1, 1, 1, 7}, {3, 1, 5, 1}, {2, 1, 3, 3}};
    arena *a = arena_new(1 << 20);
    for (int k = 0; k < 4; k++) {
        tensor *x = test_leaf(a, 4, shapes[k], 500 + k, -2, 2);
        gradcheck("tv", tv_fn, (tensor *[]){x}, 1, NULL, gradcheck_defaults());
    }
    arena_free(a);
}

/* ---- error paths ---- */

static void expect_error(status s, const char *want1, const char *want2) {
    const char *m = error_message();
    CHECK_MSG(error_status() == s && strstr(m, want1) && strstr(m, want2),
              "error %s \"%s\", want %s naming %s and %s", status_name(error_status()), m,
              status_name(s), want1, want2);
    error_clear();
}

static void test_loss_errors(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_new(a, 2, (int[]){2, 3}), *t = tensor_new(a, 2, (int[]){3, 2});
    CHECK(op_mse_loss(a, x, t) == NULL);
    expect_error(STATUS_SHAPE, "(2, 3)", "(3, 2)");
    CHECK(op_l1_loss(a, x, t) == NULL);
    expect_error(STATUS_SHAPE, "l1_loss", "(3, 2)");
    CHECK(op_bce_with_logits(a, x, tensor_new(a, 1, (int[]){6})) == NULL);
    expect_error(STATUS_SHAPE, "(2, 3)", "(6)");
    CHECK(op_hinge_loss(a, x, 0.5f) == NULL);
    expect_error(STATUS_ARG, "hinge_loss", "0.5");
    CHECK(op_tv_loss(a, x) == NULL);
    expect_error(STATUS_SHAPE, "tv_loss", "(2, 3)");
    error_set(STATUS_IO, "earlier failure");
    CHECK(op_mse_loss(a, NULL, t) == NULL && op_tv_loss(a, NULL) == NULL);
    CHECK(op_hinge_loss(a, NULL, 1.0f) == NULL);
    expect_error(STATUS_IO, "earlier", "failure");
    arena_free(a);
}

int main(void) {
    RUN(test_mse_matches_torch);
    RUN(test_l1_matches_torch);
    RUN(test_bce_matches_torch);
    RUN(test_hinge_matches_torch);
    RUN(test_loss_gradcheck);
    RUN(test_tv_by_hand);
    RUN(test_tv_degenerate);
    RUN(test_tv_gradcheck);
    RUN(test_loss_errors);
    return test_finish();
}
