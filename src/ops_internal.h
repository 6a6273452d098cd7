/* ops_internal.h: helpers shared by the op implementations (src/ops_*.c). Not public.
 *
 * The pattern of an op (see op_relu in ops_basic.c):
 *   1. return NULL if an input is NULL (the reason is already recorded);
 *   2. check shapes; on a mismatch error_set(STATUS_SHAPE, "<op>: ...") naming the shapes
 *      (tensor_shape_str) and return NULL;
 *   3. y = tensor_op_result(a, ndim, shape, "<op>", <op>_backward, src, nsrc): allocates y
 *      and records the graph only when needed (y->backward != NULL);
 *   4. save what backward needs in y->saved (arena_alloc(a, ...)) only if y->backward;
 *   5. run the forward kernel: backend_current()->..._forward(y->data, ...).
 * The backward function reads y->grad and adds into tensor_grad(y->src[i]) for each input
 * with requires_grad; the kernels' backward accumulates, so pass NULL for inputs that do
 * not require a gradient.
 */
#ifndef ATELIER_OPS_INTERNAL_H
#define ATELIER_OPS_INTERNAL_H
#include "atelier/ops.h"

/* NULL-safe: the gradient buffer of t if it requires one, else NULL. */
float *ops_grad_or_null(tensor *t);
/* The backward of an activation fused into the op that made y (conv + ReLU, norm + ReLU or
 * leaky ReLU): y's gradient times the activation's derivative, in place (nothing reads y's
 * gradient after y's own backward; a copy would cost an activation). The derivative is 1
 * where y > 0 and `slope` elsewhere (0 for ReLU, 0 at the kink as op_relu). */
void ops_act_mask(tensor *y, float slope);
/* Normalise a possibly negative axis for ndim dims; -1 (and error_set naming op) if out of range. */
int ops_axis(const char *op, int axis, int ndim);
/* error_set(STATUS_SHAPE) unless x has exactly ndim dims: "<op>: <what> must have 4 dims
 * (N, C, H, W), got (2, 3)". Returns true if fine. */
bool ops_check_ndim(const char *op, const char *what, const tensor *x, int ndim);
/* error_set(STATUS_SHAPE) unless same shapes: "<op>: <what_a> (..) and <what_b> (..) differ". */
bool ops_check_same(const char *op, const char *what_a, const tensor *x, const char *what_b,
                    const tensor *y);
/* t's shape as 4 dims padded on the left with 1s. */
void ops_shape4(const tensor *t, int out[4]);

#endif
