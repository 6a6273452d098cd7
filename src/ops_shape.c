/* ops_shape.c: concat and slice, both copies made with the backend's axis_copy.
 *
 * A tensor of shape (d0, .., dk, .., dn) seen along axis k is (outer, dk, inner) with
 * outer = d0 .. d(k-1) and inner = d(k+1) .. dn; axis_copy moves a block [off, off + len)
 * of that middle dim between two such views (backend.h), which is all that concat and slice
 * need, forward and backward.
 */
#include "ops_internal.h"

/* outer and inner sizes of t around axis. */
static void axis_split(const tensor *t, int axis, int64_t *outer, int64_t *inner) {
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < axis; d++) *outer *= t->shape[d];
    for (int d = axis + 1; d < t->ndim; d++) *inner *= t->shape[d];
}

/* ---- concat ---- */

/* y's gradient, split back along the axis into each input that wants it. */
static void concat_backward(tensor *y) {
    int axis = *(const int *)y->saved, off = 0;
    int64_t outer, inner;
    axis_split(y, axis, &outer, &inner);
    for (int i = 0; i < y->nsrc; i++) {
        tensor *x = y->src[i];
        int len = x->shape[axis];
        float *dx = ops_grad_or_null(x);
        if (dx)
            backend_current()->axis_copy(dx, y->grad, outer, len, y->shape[axis], inner, 0, off,
                                         len, true);
        off += len;
    }
}

/* Every xs[i] has xs[0]'s shape except along axis; returns the total length there, or -1. */
static int concat_check(tensor **xs, int n, int axis) {
    char b0[64], bi[64];
    int total = 0;
    for (int i = 0; i < n; i++) {
        bool fits = xs[i]->ndim == xs[0]->ndim;
        for (int d = 0; fits && d < xs[0]->ndim; d++)
            fits = d == axis || xs[i]->shape[d] == xs[0]->shape[d];
        if (!fits) {
            error_set(STATUS_SHAPE, "concat: input 0 %s and input %d %s differ outside axis %d",
                      tensor_shape_str(xs[0], b0), i, tensor_shape_str(xs[i], bi), axis);
            return -1;
        }
        total += xs[i]->shape[axis];
    }
    return total;
}

/* Concatenates up to 4 checked inputs (the most a tensor records as sources). */
static tensor *concat_small(arena *a, tensor **xs, int n, int axis, int total) {
    int shape[TENSOR_MAX_DIMS];
    for (int d = 0; d < xs[0]->ndim; d++) shape[d] = xs[0]->shape[d];
    shape[axis] = total;
    tensor *y = tensor_op_result(a, xs[0]->ndim, shape, "concat", concat_backward, xs, n);
    if (!y) return NULL;
    if (y->backward) {
        int *saved = arena_alloc(a, sizeof *saved);
        if (!saved) return NULL;
        *saved = axis;
        y->saved = saved;
    }
    int64_t outer, inner;
    axis_split(y, axis, &outer, &inner);
    for (int i = 0, off = 0; i < n; off += xs[i]->shape[axis], i++)
        backend_current()->axis_copy(y->data, xs[i]->data, outer, total, xs[i]->shape[axis],
                                     inner, off, 0, xs[i]->shape[axis], false);
    return y;
}

tensor *op_concat(arena *a, tensor **xs, int n, int axis) {
    // xs[i] (.., Li, ..) -> (.., sum Li, ..) along axis; all other dims equal
    if (!xs || n < 1) {
        error_set(STATUS_ARG, "concat: needs at least one input, got %d", n);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!xs[i]) return NULL;
    int ax = ops_axis("concat", axis, xs[0]->ndim);
    if (ax < 0) return NULL;
    int total = concat_check(xs, n, ax);
    if (total < 0) return NULL;
    if (n <= 4) return concat_small(a, xs, n, ax, total);
    // More than 4 inputs: concatenation is associative, so concat groups of up to 4 and then
    // the groups; every node of that tree records at most 4 sources.
    tensor *groups[4];
    int per = (n + 3) / 4, ng = 0;
    for (int i = 0; i < n; i += per, ng++) {
        groups[ng] = op_concat(a, xs + i, n - i < per ? n - i : per, ax);
        if (!groups[ng]) return NULL;
    }
    return op_concat(a, groups, ng, ax);
}

/* ---- slice ---- */

typedef struct slice_saved {
    int axis, start;
} slice_saved;

static void slice_backward(tensor *y) {
    const slice_saved *s = y->saved;
    tensor *x = y->src[0];
    float *dx = ops_grad_or_null(x);
    if (!dx) return;
    int64_t outer, inner;
    axis_split(x, s->axis, &outer, &inner);
    int len = y->shape[s->axis];
    backend_current()->axis_copy(dx, y->grad, outer, x->shape[s->axis], len, inner, s->start, 0,
                                 len, true);
}

tensor *op_slice(arena *a, tensor *x, int axis, int start, int end) {
    // x (.., L, ..) -> (.., end - start, ..): elements [start, end) along axis, a copy;
    // negative start and end count from the end, as in Python
    if (!x) return NULL;
    int ax = ops_axis("slice", axis, x->ndim);
    if (ax < 0) return NULL;
    int len = x->shape[ax], s = start < 0 ? start + len : start, e = end < 0 ? end + len : end;
    if (s < 0 || e > len || s >= e) {
        char buf[64];
        error_set(STATUS_ARG, "slice: [%d, %d) is empty or out of range for axis %d of %s",
                  start, end, ax, tensor_shape_str(x, buf));
        return NULL;
    }
    int shape[TENSOR_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
    shape[ax] = e - s;
    tensor *y = tensor_op_result(a, x->ndim, shape, "slice", slice_backward, &x, 1);
    if (!y) return NULL;
    if (y->backward) {
        slice_saved *saved = arena_alloc(a, sizeof *saved);
        if (!saved) return NULL;
        *saved = (slice_saved){ax, s};
        y->saved = saved;
    }
    int64_t outer, inner;
    axis_split(x, ax, &outer, &inner);
    backend_current()->axis_copy(y->data, x->data, outer, e - s, len, inner, 0, s, e - s, false);
    return y;
}
