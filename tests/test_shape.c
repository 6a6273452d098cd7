/* test_shape.c: concat and slice (ops_shape.c over the backend's axis_copy).
 *
 * Hand-computed cases (a copy is exact, so tolerances are 0), gradchecks on awkward shapes
 * for every axis, more than 4 inputs (the op builds a tree: a tensor records at most 4
 * sources), gradients reaching a tensor used twice, and the error paths.
 */
#include <string.h>
#include "harness.h"
#include "gradcheck.h"
#include "atelier/ops.h"



/* (2, 3) ++ (2, 1) along axis 1 and (1, 3) ++ (2, 3) along axis 0, by hand. */
static void test_concat_values(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 2, (int[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    tensor *y = tensor_from(a, 2, (int[]){2, 1}, (float[]){7, 8});
    tensor *z = tensor_from(a, 2, (int[]){1, 3}, (float[]){9, 10, 11});
    tensor *c1 = op_concat(a, (tensor *[]){x, y}, 2, -1);
    CHECK_OK(c1);
    if (c1) {
        CHECK(c1->ndim == 2 && c1->shape[0] == 2 && c1->shape[1] == 4);
        CHECK_ARRAY(c1->data, ((float[]){1, 2, 3, 7, 4, 5, 6, 8}), 8, 0, 0);
    }
    tensor *c0 = op_concat(a, (tensor *[]){z, x}, 2, 0);
    CHECK_OK(c0);
    if (c0) {
        CHECK(c0->shape[0] == 3 && c0->shape[1] == 3);
        CHECK_ARRAY(c0->data, ((float[]){9, 10, 11, 1, 2, 3, 4, 5, 6}), 9, 0, 0);
    }
    tensor *one = op_concat(a, &x, 1, 0);  // a single input: a copy
    CHECK_OK(one);
    if (one) CHECK(one->data != x->data && memcmp(one->data, x->data, 6 * sizeof(float)) == 0);
    arena_free(a);
}

/* Seven (1, k) pieces along axis 1: more inputs than a tensor can record. */
static void test_concat_many(void) {
    arena *a = arena_new(1 << 16);
    tensor *xs[7];
    float want[28];
    int n = 0;
    for (int i = 0; i < 7; i++) {
        xs[i] = tensor_new(a, 2, (int[]){1, i % 3 + 1});
        for (int j = 0; j < xs[i]->numel; j++) want[n++] = xs[i]->data[j] = 10.0f * i + j;
        tensor_requires_grad(xs[i]);
    }
    tensor *y = op_concat(a, xs, 7, 1);
    CHECK_OK(y);
    if (y) {
        CHECK(y->shape[0] == 1 && y->shape[1] == n);
        CHECK_ARRAY(y->data, want, n, 0, 0);
        // d sum(y * w) / d xs = the matching slice of w
        tensor *w = tensor_new(a, 2, y->shape);
        for (int i = 0; i < n; i++) w->data[i] = (float)(i + 1);
        CHECK(tensor_backward(op_sum(a, op_mul(a, y, w), -1, false)) == STATUS_OK);
        for (int i = 0, off = 0; i < 7; off += (int)xs[i]->numel, i++)
            CHECK_ARRAY(xs[i]->grad, w->data + off, xs[i]->numel, 0, 0);
    }
    arena_free(a);
}

typedef struct concat_case { int n, axis; } concat_case;

static tensor *concat_fn(arena *a, tensor **in, void *user) {
    const concat_case *c = user;
    return op_concat(a, in, c->n, c->axis);
}

/* Every axis of a 4-d tensor (1, 3, 5, 7) with pieces of 1..3 along it; 3-d and 1-d too. */
static void test_concat_gradcheck(void) {
    arena *a = arena_new(1 << 16);
    for (int axis = 0; axis < 4; axis++) {
        tensor *in[3];
        for (int i = 0; i < 3; i++) {
            int shape[4] = {1, 3, 5, 7};
            shape[axis] = i + 1;
            in[i] = test_leaf(a, 4, shape, 100 + 10 * axis + i, -1, 1);
        }
        concat_case c = {3, axis - 4};  // negative axes, to cover them too
        char name[48];
        snprintf(name, sizeof name, "concat 4-d axis %d", axis);
        gradcheck(name, concat_fn, in, 3, &c, gradcheck_defaults());
    }
    tensor *in3[2] = {test_leaf(a, 3, (int[]){2, 3, 5}, 1, -1, 1), test_leaf(a, 3, (int[]){2, 1, 5}, 2, -1, 1)};
    gradcheck("concat 3-d axis 1", concat_fn, in3, 2, &(concat_case){2, 1}, gradcheck_defaults());
    tensor *in6[6];
    for (int i = 0; i < 6; i++) in6[i] = test_leaf(a, 1, (int[]){i + 1}, 50 + i, -1, 1);
    gradcheck("concat 6 x 1-d", concat_fn, in6, 6, &(concat_case){6, 0}, gradcheck_defaults());
    arena_free(a);
}

/* x (3, 5) = 0..14: axis 1 [1, 4), [-3, -1), axis 0 [2, 3), axis -2 [-3, 2), by hand. */
static void test_slice_values(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_new(a, 2, (int[]){3, 5});
    for (int i = 0; i < 15; i++) x->data[i] = (float)i;
    tensor *y = op_slice(a, x, 1, 1, 4);
    CHECK_OK(y);
    if (y) {
        CHECK(y->shape[0] == 3 && y->shape[1] == 3);
        CHECK_ARRAY(y->data, ((float[]){1, 2, 3, 6, 7, 8, 11, 12, 13}), 9, 0, 0);
    }
    y = op_slice(a, x, -1, -3, -1);  // columns 2, 3
    CHECK_OK(y);
    if (y) CHECK_ARRAY(y->data, ((float[]){2, 3, 7, 8, 12, 13}), 6, 0, 0);
    y = op_slice(a, x, 0, 2, 3);
    CHECK_OK(y);
    if (y) {
        CHECK(y->shape[0] == 1 && y->shape[1] == 5);
        CHECK_ARRAY(y->data, ((float[]){10, 11, 12, 13, 14}), 5, 0, 0);
    }
    y = op_slice(a, x, -2, -3, 2);  // rows 0, 1
    CHECK_OK(y);
    if (y) CHECK_ARRAY(y->data, ((float[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9}), 10, 0, 0);
    y = op_slice(a, x, 1, 0, 5);  // the whole axis: a copy
    CHECK_OK(y);
    if (y) CHECK(y->data != x->data && memcmp(y->data, x->data, 15 * sizeof(float)) == 0);
    arena_free(a);
}

typedef struct slice_case { int axis, start, end; } slice_case;

static tensor *slice_fn(arena *a, tensor **in, void *user) {
    const slice_case *c = user;
    return op_slice(a, in[0], c->axis, c->start, c->end);
}

static void test_slice_gradcheck(void) {
    static const slice_case cases[] = {
        {0, 0, 1}, {1, 1, 3}, {2, -4, -1}, {3, 6, 7}, {-1, 0, 7}, {-3, -2, 3}, {2, 0, -1},
    };
    arena *a = arena_new(1 << 16);
    tensor *x = test_leaf(a, 4, (int[]){1, 3, 5, 7}, 9, -1, 1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[48];
        snprintf(name, sizeof name, "slice case %zu", i);
        gradcheck(name, slice_fn, &x, 1, (void *)&cases[i], gradcheck_defaults());
    }
    arena_free(a);
}

/* x used twice: slices of it concatenated back (in swapped order) and x itself concatenated
 * with itself; the gradients of both uses add up. */
static void test_shape_reuse_accumulates(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_new(a, 3, (int[]){2, 4, 3});
    for (int i = 0; i < 24; i++) x->data[i] = (float)i;
    tensor_requires_grad(x);
    tensor *lo = op_slice(a, x, 1, 0, 1), *hi = op_slice(a, x, 1, 1, 4);
    tensor *swapped = op_concat(a, (tensor *[]){hi, lo}, 2, 1);  // rows 1, 2, 3, 0 of each n
    CHECK_OK(swapped);
    if (swapped) CHECK(swapped->data[0] == 3 && swapped->data[9] == 0 && swapped->data[12] == 15);
    tensor *twice = op_concat(a, (tensor *[]){x, x}, 2, 0);  // (4, 4, 3)
    tensor *loss = op_add(a, op_sum(a, swapped, -1, false), op_sum(a, twice, -1, false));
    CHECK_OK(loss);
    if (loss && tensor_backward(loss) == STATUS_OK)
        for (int i = 0; i < 24; i++) CHECK_NEAR(x->grad[i], 3.0, 0, 0);  // 1 + 2
    arena_free(a);
}

static void test_shape_errors(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_new(a, 3, (int[]){2, 3, 5});
    tensor *y = tensor_new(a, 3, (int[]){2, 4, 5});
    tensor *z = tensor_new(a, 2, (int[]){2, 3});
    // shapes differ outside the axis: both shapes named
    CHECK_FAILS(op_concat(a, (tensor *[]){x, y}, 2, 2), STATUS_SHAPE, "(2, 3, 5)");
    CHECK_FAILS(op_concat(a, (tensor *[]){x, y}, 2, 2), STATUS_SHAPE, "(2, 4, 5)");
    CHECK_FAILS(op_concat(a, (tensor *[]){x, z}, 2, 0), STATUS_SHAPE, "(2, 3)");
    CHECK_FAILS(op_concat(a, (tensor *[]){x, y}, 2, 3), STATUS_ARG, "axis 3");
    CHECK_FAILS(op_concat(a, (tensor *[]){x}, 0, 0), STATUS_ARG, "concat");
    CHECK_OK(op_concat(a, (tensor *[]){x, y}, 2, -2));  // (2, 7, 5)
    CHECK_FAILS(op_slice(a, x, 1, 2, 2), STATUS_ARG, "[2, 2)");       // empty
    CHECK_FAILS(op_slice(a, x, 1, 2, 1), STATUS_ARG, "[2, 1)");       // reversed
    CHECK_FAILS(op_slice(a, x, 2, 0, 6), STATUS_ARG, "(2, 3, 5)");    // end past the axis
    CHECK_FAILS(op_slice(a, x, 2, -6, 2), STATUS_ARG, "[-6, 2)");     // start before it
    CHECK_FAILS(op_slice(a, x, 2, -1, -1), STATUS_ARG, "[-1, -1)");   // empty from the end
    CHECK_FAILS(op_slice(a, x, -4, 0, 1), STATUS_ARG, "axis -4");
    // a NULL input keeps the first reason
    error_clear();
    tensor *bad = op_concat(a, (tensor *[]){op_slice(a, x, 0, 5, 6), x}, 2, 0);
    CHECK(bad == NULL && error_status() == STATUS_ARG && strstr(error_message(), "slice:"));
    error_clear();
    CHECK(op_slice(a, NULL, 0, 0, 1) == NULL && error_status() == STATUS_OK);
    arena_free(a);
}

int main(void) {
    RUN(test_concat_values);
    RUN(test_concat_many);
    RUN(test_concat_gradcheck);
    RUN(test_slice_values);
    RUN(test_slice_gradcheck);
    RUN(test_shape_reuse_accumulates);
    RUN(test_shape_errors);
    return test_finish();
}
