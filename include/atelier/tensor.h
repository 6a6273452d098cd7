/* tensor.h: float32 tensors of up to 4 dimensions, and reverse-mode autodiff over them.
 *
 * A tensor is contiguous row-major float32 with shape (N, C, H, W) or fewer dimensions,
 * living in an arena (arena.h). Views (tensor_reshape, tensor_narrow) share their base's
 * data and gradient. Ops (ops.h) make new tensors and, when gradients are enabled and an
 * input requires them, record themselves on the result: the inputs, a backward function
 * and whatever it saved. tensor_backward(loss) then visits the graph from a scalar in
 * reverse topological order and accumulates d loss / d t into t->grad for every tensor
 * that requires it: parameters and inputs alike (style transfer optimises the image).
 *
 * Gradients accumulate across calls until tensor_zero_grad. Only leaves (tensors no op
 * made: parameters, inputs) keep their gradient after backward; an intermediate tensor's
 * gradient buffer is recycled during backward once dead, as PyTorch frees it, and its
 * grad is NULL afterwards. Inside autograd_set(false)
 * ops record nothing (inference). A step's graph lives in the step's arena: resetting that
 * arena after backward frees the graph; parameters live in their own arena and survive.
 *
 * Legend for shape comments: N batch, C channels, H height, W width.
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include "atelier/ops.h"
 * EXAMPLE_BEGIN
 *   arena *params = arena_new(1 << 16), *step = arena_new(1 << 16);
 *   tensor *w = tensor_new(params, 1, (int[]){3});          // (3) a parameter
 *   tensor_requires_grad(w);
 *   w->data[0] = 1; w->data[1] = 2; w->data[2] = 3;
 *   tensor *x = tensor_from(step, 1, (int[]){3}, (float[]){4, 5, 6});
 *   tensor *loss = op_sum(step, op_mul(step, w, x), -1, false);    // sum_i w_i x_i
 *   if (!loss || loss->data[0] != 32.0f) return 1;
 *   if (tensor_backward(loss) != STATUS_OK) return 1;
 *   if (w->grad[0] != 4 || w->grad[1] != 5 || w->grad[2] != 6) return 1;  // d/dw = x
 *   arena_reset(step);                                        // the graph is gone, w stays
 *   tensor_zero_grad(w);
 *   arena_free(step); arena_free(params);
 * EXAMPLE_END
 */
#ifndef ATELIER_TENSOR_H
#define ATELIER_TENSOR_H
#include <stdbool.h>
#include <stdint.h>
#include "atelier/arena.h"
#include "atelier/error.h"

#define TENSOR_MAX_DIMS 4

typedef struct tensor tensor;
/* Reads out->grad and adds the inputs' gradients into out->src[i]->grad (tensor_grad). */
typedef void (*backward_fn)(tensor *out);

struct tensor {
    int ndim;                    /* 0 (scalar) .. 4 */
    int shape[TENSOR_MAX_DIMS];  /* the first ndim entries are used */
    int64_t numel;
    float *data;                 /* (numel) contiguous, row-major */
    float *grad;                 /* (numel) or NULL until a gradient arrives */
    arena *arena;                /* where data, grad and op state live */
    bool requires_grad;
    /* the op that made this tensor; backward == NULL for leaves */
    const char *op;              /* its name, for messages ("conv2d"), NULL for leaves */
    backward_fn backward;
    tensor *src[4];
    int nsrc;
    void *saved;                 /* the op's saved values, in arena */
    /* views */
    tensor *base;                /* the tensor whose storage this one shares, or NULL */
    int64_t offset;              /* this view's first element in base */
    uint64_t mark;               /* used by tensor_backward's graph walk */
};

/* Creation. Shapes are given as (ndim, dims); every dim must be >= 1. NULL on failure. */
tensor *tensor_new(arena *a, int ndim, const int *shape);                 /* zeros */
tensor *tensor_from(arena *a, int ndim, const int *shape, const float *data); /* a copy */
tensor *tensor_scalar(arena *a, float v);                                 /* ndim 0 */
tensor *tensor_like(arena *a, const tensor *t);                           /* zeros, same shape */
tensor *tensor_copy(arena *a, const tensor *t);          /* data only, no graph, no grad */
tensor *tensor_fill(tensor *t, float v);                 /* returns t */

/* Views: share data (and gradient) with t; differentiable. NULL on bad shape. */
tensor *tensor_reshape(arena *a, tensor *t, int ndim, const int *shape); /* one dim may be -1 */
tensor *tensor_narrow(arena *a, tensor *t, int start, int len);  /* rows [start, start+len) of dim 0 */

/* Shape helpers. */
bool tensor_same_shape(const tensor *a, const tensor *b);
/* Writes "(2, 3, 4)" into buf (at least 64 bytes) and returns buf. */
const char *tensor_shape_str(const tensor *t, char *buf);
const char *shape_str(int ndim, const int *shape, char *buf);

/* Autodiff. */
void tensor_requires_grad(tensor *t);      /* mark a leaf as wanting a gradient */
float *tensor_grad(tensor *t);             /* t->grad, allocated as zeros if NULL */
void tensor_zero_grad(tensor *t);
status tensor_backward(tensor *loss);      /* loss must have one element */
void tensor_detach(tensor *t);             /* forget how t was made (it becomes a leaf) */
bool autograd_set(bool enabled);           /* returns the previous setting (per thread) */
bool autograd_enabled(void);

/* For op implementations: a new result of `shape` that records `op` when gradients are on
 * and any of the nsrc inputs requires them. src entries may be NULL for absent optional
 * inputs (a bias); the op checks its required inputs for NULL before calling. NULL on
 * allocation failure. */
tensor *tensor_op_result(arena *a, int ndim, const int *shape, const char *op,
                         backward_fn backward, tensor **src, int nsrc);

#endif
