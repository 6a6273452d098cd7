/* ops.h: differentiable operations on tensors.
 *
 * Every op takes the arena its result lives in (usually the step's), checks shapes, runs a
 * kernel of the current backend (backend.h) and, when gradients are enabled and an input
 * requires one, records itself for tensor_backward. Gradients reach every input that
 * requires one: weights, biases and the input image alike.
 *
 * Failure: an op returns NULL and records one line (error.h) naming the op and the shapes,
 * e.g. "conv2d: input (1, 4, 8, 8) has 4 channels but weight (16, 3, 3, 3) expects 3".
 * An op given a NULL input returns NULL and keeps the first reason, so a whole chain can be
 * checked once at its end.
 *
 * Axes: `axis` arguments may be negative (from the end). `axes` is a bit mask over the
 * dims (bit i = dim i) or -1 for all dims.
 *
 * Example:
 * EXAMPLE_BEGIN
 *   arena *a = arena_new(1 << 20);
 *   tensor *x = tensor_new(a, 4, (int[]){1, 3, 8, 8});                   // (N, C, H, W)
 *   tensor *w = tensor_fill(tensor_new(a, 4, (int[]){4, 3, 3, 3}), 0.1f); // (OC, C, KH, KW)
 *   tensor *b = tensor_new(a, 1, (int[]){4});
 *   tensor_fill(x, 1.0f);
 *   tensor_requires_grad(x);
 *   conv2d_opts o = conv2d_defaults(); o.pad = 1;
 *   tensor *y = op_relu(a, op_conv2d(a, x, w, b, o));                     // (1, 4, 8, 8)
 *   tensor *loss = op_mean(a, y, -1, false);
 *   if (!loss) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   if (tensor_backward(loss) != STATUS_OK || x->grad == NULL) return 1;
 *   // a shape mismatch is reported with both shapes:
 *   tensor *bad = op_add(a, x, tensor_new(a, 2, (int[]){5, 7}));
 *   if (bad || error_status() != STATUS_SHAPE) return 1;
 *   error_clear();
 *   arena_free(a);
 * EXAMPLE_END
 */
#ifndef ATELIER_OPS_H
#define ATELIER_OPS_H
#include "atelier/tensor.h"
#include "atelier/backend.h"

/* ---- elementwise, with numpy broadcasting ---- */
tensor *op_add(arena *a, tensor *x, tensor *y);
tensor *op_sub(arena *a, tensor *x, tensor *y);
tensor *op_mul(arena *a, tensor *x, tensor *y);
tensor *op_div(arena *a, tensor *x, tensor *y);
tensor *op_add_scalar(arena *a, tensor *x, float s);   /* x + s */
tensor *op_sub_scalar(arena *a, tensor *x, float s);   /* x - s */
tensor *op_rsub_scalar(arena *a, tensor *x, float s);  /* s - x */
tensor *op_mul_scalar(arena *a, tensor *x, float s);   /* x * s */
tensor *op_div_scalar(arena *a, tensor *x, float s);   /* x / s */
tensor *op_rdiv_scalar(arena *a, tensor *x, float s);  /* s / x */
tensor *op_pow_scalar(arena *a, tensor *x, float p);   /* x ^ p */
tensor *op_relu(arena *a, tensor *x);
tensor *op_leaky_relu(arena *a, tensor *x, float slope);
tensor *op_relu_cap(arena *a, tensor *x, float cap);   /* min(max(x, 0), cap): ReLU6 with cap 6 */
tensor *op_tanh(arena *a, tensor *x);
tensor *op_sigmoid(arena *a, tensor *x);
tensor *op_exp(arena *a, tensor *x);
tensor *op_log(arena *a, tensor *x);
tensor *op_sqrt(arena *a, tensor *x);
tensor *op_abs(arena *a, tensor *x);
tensor *op_square(arena *a, tensor *x);
tensor *op_neg(arena *a, tensor *x);

/* ---- reductions: over the dims in `axes` (bit mask, -1 = all); keepdim keeps them as 1 ---- */
tensor *op_sum(arena *a, tensor *x, int axes, bool keepdim);
tensor *op_mean(arena *a, tensor *x, int axes, bool keepdim);
tensor *op_var(arena *a, tensor *x, int axes, bool unbiased, bool keepdim);

/* ---- shape ---- */
tensor *op_concat(arena *a, tensor **xs, int n, int axis); /* same shapes but along axis */
tensor *op_slice(arena *a, tensor *x, int axis, int start, int end); /* [start, end), a copy */

/* ---- linear algebra ---- */
tensor *op_matmul(arena *a, tensor *x, tensor *y); /* (M, K) @ (K, N), or batched (B, M, K) @ (B, K, N) */
tensor *op_linear(arena *a, tensor *x, tensor *w, tensor *b); /* x (N, IN), w (OUT, IN), b (OUT) or NULL -> (N, OUT) */
tensor *op_gram(arena *a, tensor *f); /* f (N, C, H, W) -> (N, C, C) = F F^T / (H W) */

/* ---- convolution ---- */
typedef struct conv2d_opts {
    int stride, pad, dilation, groups;  /* same for both spatial dims unless the _h/_w are set */
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;  /* 0 = use the value above */
    int out_pad;                        /* conv_transpose2d only */
} conv2d_opts;
conv2d_opts conv2d_defaults(void);      /* stride 1, pad 0, dilation 1, groups 1 */
tensor *op_conv2d(arena *a, tensor *x, tensor *w, tensor *b, conv2d_opts o); /* b may be NULL */
tensor *op_conv_transpose2d(arena *a, tensor *x, tensor *w, tensor *b, conv2d_opts o);
/* relu(conv2d(x, w, b)) in one pass over the output (the ReLU fused into the convolution, as
 * VGG and most generators use it); the same values and gradients as the two ops. To save
 * an activation-sized buffer per layer, backward masks the result's own .grad in place. */
tensor *op_conv2d_relu(arena *a, tensor *x, tensor *w, tensor *b, conv2d_opts o);

/* ---- pooling, resizing, padding: x (N, C, H, W) ---- */
tensor *op_avg_pool2d(arena *a, tensor *x, int kernel, int stride, int pad);
tensor *op_max_pool2d(arena *a, tensor *x, int kernel, int stride, int pad);
tensor *op_upsample(arena *a, tensor *x, upsample_mode m, int factor);       /* integer factor */
tensor *op_upsample_to(arena *a, tensor *x, upsample_mode m, int oh, int ow, bool align_corners);
tensor *op_pad(arena *a, tensor *x, pad_mode m, int top, int bottom, int left, int right);

/* ---- normalisation: x (N, C, H, W) ---- */
/* gamma, beta (C) or both NULL (no affine); PyTorch's eps is 1e-5. Instance norm also takes
 * gamma, beta (N, C): one row per sample (conditional instance norm, Dumoulin et al. 2017,
 * where each row is the style's, or a blend of styles'). */
tensor *op_instance_norm(arena *a, tensor *x, tensor *gamma, tensor *beta, float eps);
/* relu(instance_norm(x)) in one result (Johnson et al.'s network uses it after most convs):
 * the same values and gradients as the two ops, one activation instead of two. */
tensor *op_instance_norm_relu(arena *a, tensor *x, tensor *gamma, tensor *beta, float eps);
/* The same written over x, for inference (no activation at all): refused (NULL, STATUS_ARG)
 * when x is part of a graph, or when autograd is on and gamma or beta want gradients. */
tensor *op_instance_norm_relu_inplace(tensor *x, tensor *gamma, tensor *beta, float eps);
/* training: batch statistics, updates running_mean/var (C, may be NULL) with momentum
 * (PyTorch's 0.1); eval: uses running_mean/var. */
tensor *op_batch_norm(arena *a, tensor *x, tensor *gamma, tensor *beta, tensor *running_mean,
                      tensor *running_var, bool training, float momentum, float eps);
/* leaky_relu(batch_norm(x), slope) in one result (slope 0: ReLU), as DCGAN's layers use it:
 * the same values and gradients as the two ops, one activation instead of two. */
tensor *op_batch_norm_act(arena *a, tensor *x, tensor *gamma, tensor *beta, tensor *running_mean,
                          tensor *running_var, bool training, float momentum, float eps, float slope);
/* Synchronised batch norm (torch.nn.SyncBatchNorm), training mode: the batch is split over
 * processes, each calls the op on its own rows x (n_r, C, H, W), and the statistics are the
 * whole batch's. sync->sum(sync->user, buf, k) must leave in buf the element-wise sum of
 * every process's buf (an all-reduce); the op calls it once in forward (per channel: count,
 * sum, sum of squares) and once in backward (sum dy, sum dy xhat), so every process must
 * build and differentiate the same graph. y, running_mean/var and dx are those of
 * op_batch_norm on the whole batch; gamma's and beta's gradients are this process's parts
 * (the caller sums them over the processes with the other gradients). A failed sum is
 * error_set and leaves this process's own statistics. */
typedef struct op_allreduce {
    status (*sum)(void *user, double *buf, int n);
    void *user;
} op_allreduce;
tensor *op_batch_norm_sync(arena *a, tensor *x, tensor *gamma, tensor *beta, tensor *running_mean,
                           tensor *running_var, float momentum, float eps, const op_allreduce *sync);
/* x (N, C, H, W), style (N, C, HS, WS) -> x re-normalised to style's per-channel mean/std */
tensor *op_adain(arena *a, tensor *x, tensor *style, float eps);

/* ---- losses: scalar results ---- */
tensor *op_mse_loss(arena *a, tensor *x, tensor *target);
tensor *op_l1_loss(arena *a, tensor *x, tensor *target);
tensor *op_bce_with_logits(arena *a, tensor *logits, tensor *target);
/* mean(max(0, 1 - sign * x)): D on real: sign +1; D on fake: sign -1. (G's hinge loss is
 * -mean(D(G(z))): op_neg of op_mean.) */
tensor *op_hinge_loss(arena *a, tensor *x, float sign);
tensor *op_tv_loss(arena *a, tensor *x); /* see backend.h tv_forward */

#endif
