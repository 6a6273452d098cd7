/* Tensors, views, arenas and the autodiff engine's semantics. */
#include <math.h>
#include <string.h>
#include "harness.h"
#include "atelier/ops.h"

static void test_arena_reset_and_peak(void) {
    arena *a = arena_new(4096);
    for (int i = 0; i < 100; i++) CHECK(arena_alloc(a, 1000) != NULL);  /* spans many chunks */
    size_t used = arena_used(a);
    CHECK(used >= 100000);
    arena_reset(a);
    CHECK(arena_used(a) == 0);
    CHECK(arena_peak(a) == used);
    float *p = arena_alloc(a, 64);
    CHECK(p && p[0] == 0.0f && p[15] == 0.0f);
    arena_free(a);
}

static void test_tensor_new_checks_shapes(void) {
    arena *a = arena_new(1 << 16);
    tensor *t = tensor_new(a, 3, (int[]){2, 3, 4});
    CHECK(t && t->numel == 24 && t->ndim == 3);
    CHECK(tensor_new(a, 2, (int[]){2, 0}) == NULL);
    CHECK(error_status() == STATUS_SHAPE);
    CHECK(strstr(error_message(), "(2, 0)") != NULL);
    error_clear();
    CHECK(tensor_new(a, 5, (int[]){1, 1, 1, 1, 1}) == NULL);
    error_clear();
    tensor *s = tensor_scalar(a, 2.5f);
    CHECK(s && s->ndim == 0 && s->numel == 1 && s->data[0] == 2.5f);
    char buf[64];
    CHECK(strcmp(tensor_shape_str(t, buf), "(2, 3, 4)") == 0);
    arena_free(a);
}

static void test_reshape_and_narrow_share_data(void) {
    arena *a = arena_new(1 << 16);
    tensor *t = tensor_new(a, 2, (int[]){4, 6});
    for (int i = 0; i < 24; i++) t->data[i] = (float)i;
    tensor *r = tensor_reshape(a, t, 3, (int[]){2, -1, 3});
    CHECK(r && r->shape[1] == 4 && r->data == t->data);
    tensor *n = tensor_narrow(a, t, 1, 2);
    CHECK(n && n->shape[0] == 2 && n->data[0] == 6.0f && n->numel == 12);
    tensor *nn = tensor_narrow(a, tensor_reshape(a, n, 2, (int[]){4, 3}), 1, 1);  /* view of a view */
    CHECK(nn && nn->data[0] == 9.0f && nn->base == t);
    CHECK(tensor_reshape(a, t, 2, (int[]){5, 5}) == NULL && error_status() == STATUS_SHAPE);
    CHECK(strstr(error_message(), "(4, 6)") && strstr(error_message(), "(5, 5)"));
    error_clear();
    CHECK(tensor_narrow(a, t, 3, 2) == NULL && error_status() == STATUS_SHAPE);
    error_clear();
    arena_free(a);
}

static void test_gradient_through_views(void) {
    arena *a = arena_new(1 << 16);
    tensor *w = tensor_new(a, 2, (int[]){3, 2});
    for (int i = 0; i < 6; i++) w->data[i] = (float)(i + 1);
    tensor_requires_grad(w);
    /* loss = sum(rows 1..2 of w reshaped to (4)) * 2 + sum(w): d/dw = 1 + 2 on rows 1..2 */
    tensor *v = tensor_reshape(a, tensor_narrow(a, w, 1, 2), 1, (int[]){4});
    tensor *loss = op_add(a, op_mul_scalar(a, op_sum(a, v, -1, false), 2.0f), op_sum(a, w, -1, false));
    CHECK_OK(loss);
    CHECK(loss && loss->data[0] == 2 * (3 + 4 + 5 + 6) + 21);
    CHECK(tensor_backward(loss) == STATUS_OK);
    float want[6] = {1, 1, 3, 3, 3, 3};
    CHECK_ARRAY(w->grad, want, 6, 0, 0);
    arena_free(a);
}

static void test_gradients_accumulate_and_zero(void) {
    arena *p = arena_new(1 << 16), *s = arena_new(1 << 16);
    tensor *x = tensor_from(p, 1, (int[]){2}, (float[]){1, -2});
    tensor_requires_grad(x);
    for (int k = 0; k < 3; k++) {
        tensor *loss = op_sum(s, op_square(s, x), -1, false);  /* d/dx = 2x */
        CHECK(tensor_backward(loss) == STATUS_OK);
        arena_reset(s);
    }
    CHECK_NEAR(x->grad[0], 6.0, 0, 0);
    CHECK_NEAR(x->grad[1], -12.0, 0, 0);
    tensor_zero_grad(x);
    CHECK(x->grad[0] == 0 && x->grad[1] == 0);
    arena_free(s); arena_free(p);
}

/* A tensor used twice (a diamond) gets the sum of both paths' gradients. */
static void test_shared_subexpression(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 0, NULL, (float[]){3});
    tensor_requires_grad(x);
    tensor *y = op_mul(a, x, x);          /* x^2 */
    tensor *z = op_mul(a, y, op_add(a, y, x)); /* x^4 + x^3: dz/dx = 4x^3 + 3x^2 = 135 */
    CHECK(tensor_backward(z) == STATUS_OK);
    CHECK_NEAR(x->grad[0], 135.0, 1e-4, 0);
    arena_free(a);
}

static void test_no_grad_mode_records_nothing(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 1, (int[]){2}, (float[]){1, 2});
    tensor_requires_grad(x);
    bool was = autograd_set(false);
    tensor *y = op_sum(a, op_square(a, x), -1, false);
    autograd_set(was);
    CHECK(y && !y->requires_grad && y->backward == NULL && y->data[0] == 5.0f);
    CHECK(tensor_backward(y) == STATUS_ARG);  /* nothing to differentiate */
    error_clear();
    CHECK(autograd_enabled());
    arena_free(a);
}

static void test_backward_needs_a_scalar(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_new(a, 1, (int[]){3});
    tensor_requires_grad(x);
    tensor *y = op_relu(a, x);
    CHECK(tensor_backward(y) == STATUS_SHAPE);
    CHECK(strstr(error_message(), "(3)") != NULL);
    error_clear();
    CHECK(tensor_backward(NULL) != STATUS_OK);
    error_clear();
    arena_free(a);
}

/* A chain of 100000 ops: the graph walk is iterative, so this cannot overflow the stack. */
static void test_deep_graph(void) {
    arena *a = arena_new(16 << 20);
    tensor *x = tensor_from(a, 0, NULL, (float[]){1});
    tensor_requires_grad(x);
    tensor *y = x;
    for (int i = 0; i < 100000; i++) y = op_add_scalar(a, y, 1e-3f);
    CHECK_OK(y);
    CHECK(tensor_backward(y) == STATUS_OK);
    CHECK_NEAR(x->grad[0], 1.0, 0, 0);
    arena_free(a);
}

/* Errors propagate through a chain: the first reason is kept and later ops return NULL. */
static void test_null_propagates(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_new(a, 2, (int[]){2, 3}), *y = tensor_new(a, 2, (int[]){3, 2});
    tensor *z = op_relu(a, op_mean(a, op_add(a, x, y), -1, false));
    CHECK(z == NULL && error_status() == STATUS_SHAPE);
    CHECK(strstr(error_message(), "add: shapes (2, 3) and (3, 2) cannot broadcast") != NULL);
    error_clear();
    arena_free(a);
}

/* Backward recycles intermediate gradients: a chain of 20 ops on 4 MB tensors holds 20
 * activations but only a couple of gradient buffers at a time. Leaves keep theirs. */
static void test_backward_recycles_intermediate_gradients(void) {
    enum { N = 1 << 20, OPS = 20 };
    arena *a = arena_new(1 << 20);
    tensor *x = tensor_fill(tensor_new(a, 1, (int[]){N}), 1.0f);
    tensor_requires_grad(x);
    tensor *y = x, *mid = NULL;
    for (int i = 0; i < OPS; i++) {
        y = op_mul_scalar(a, y, 1.01f);
        if (i == OPS / 2) mid = y;
    }
    tensor *loss = op_sum(a, y, -1, false);
    size_t before = arena_used(a);  /* x, 20 activations, the loss */
    CHECK(tensor_backward(loss) == STATUS_OK);
    CHECK_NEAR(x->grad[0], pow(1.01, OPS), 1e-6, 1e-5);
    CHECK_NEAR(x->grad[N - 1], pow(1.01, OPS), 1e-6, 1e-5);
    CHECK(mid->grad == NULL);  /* an intermediate's gradient is not kept */
    size_t grads = arena_used(a) - before;  /* x's gradient plus the recycled buffers */
    CHECK_MSG(grads <= 4 * sizeof(float) * (size_t)N, "backward took %zu MB for gradients", grads >> 20);
    arena_free(a);
}

int main(void) {
    RUN(test_backward_recycles_intermediate_gradients);
    RUN(test_arena_reset_and_peak);
    RUN(test_tensor_new_checks_shapes);
    RUN(test_reshape_and_narrow_share_data);
    RUN(test_gradient_through_views);
    RUN(test_gradients_accumulate_and_zero);
    RUN(test_shared_subexpression);
    RUN(test_no_grad_mode_records_nothing);
    RUN(test_backward_needs_a_scalar);
    RUN(test_deep_graph);
    RUN(test_null_propagates);
    return test_finish();
}
