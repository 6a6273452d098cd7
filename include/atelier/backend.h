/* backend.h: the table of kernels that every op runs on.
 *
 * Ops (ops.h) check shapes, allocate results and record the graph; the arithmetic is done by
 * kernels reached through a backend: a table of function pointers. The reference backend
 * ("ref", src/ref/) is plain, obvious C and is the specification; faster backends (oneDNN
 * CPU, CUDA) fill the same table and are tested against it kernel by kernel. Adding a
 * backend never touches autodiff or models.
 *
 * Conventions for every kernel:
 * - pure functions over raw pointers and explicit sizes; output arguments come first;
 * - forward kernels overwrite their outputs;
 * - backward kernels ADD into their gradient outputs (which the caller zeroed or which hold
 *   gradients from other uses), and skip any gradient output that is NULL;
 * - shapes are in the comments; 4-d shapes are (N, C, H, W), row-major, contiguous.
 *
 * The backend is chosen by ATELIER_BACKEND (default: the fastest built) or backend_select.
 *
 * Example:
 * EXAMPLE_BEGIN
 *   if (backend_select("ref") != STATUS_OK) return 1;
 *   const backend *be = backend_current();
 *   float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}, c[4];
 *   // c (2, 2) = a (2, 3) @ b^T where b is (2, 3)
 *   be->gemm(false, true, 2, 2, 3, 1.0f, a, 3, b, 3, 0.0f, c, 2);
 *   if (c[0] != 1 || c[1] != 6 || c[2] != 4 || c[3] != 15) return 1;
 *   if (backend_select("no-such-backend") == STATUS_OK) return 1;
 *   error_clear();
 * EXAMPLE_END
 */
#ifndef ATELIER_BACKEND_H
#define ATELIER_BACKEND_H
#include <stdbool.h>
#include <stdint.h>
#include "atelier/error.h"

typedef enum binop { BINOP_ADD, BINOP_SUB, BINOP_MUL, BINOP_DIV } binop;

typedef enum unop {
    UNOP_RELU, UNOP_LEAKY_RELU,  /* alpha: negative slope */
    UNOP_RELU_CAP,               /* min(max(x, 0), alpha): ReLU6 with alpha 6 */
    UNOP_TANH, UNOP_SIGMOID,
    UNOP_ADD_SCALAR,             /* x + alpha */
    UNOP_MUL_SCALAR,             /* x * alpha */
    UNOP_RSUB_SCALAR,            /* alpha - x */
    UNOP_RDIV_SCALAR,            /* alpha / x */
    UNOP_POW_SCALAR,             /* x ^ alpha */
    UNOP_EXP, UNOP_LOG, UNOP_SQRT, UNOP_ABS, UNOP_SQUARE, UNOP_NEG,
} unop;

typedef enum reduce_kind {
    REDUCE_SUM, REDUCE_MEAN,
    REDUCE_VAR,           /* population variance (divide by n) */
    REDUCE_VAR_UNBIASED,  /* divide by n - 1 */
} reduce_kind;

typedef enum pad_mode { PAD_ZERO, PAD_REFLECT, PAD_REPLICATE } pad_mode;
typedef enum upsample_mode { UPSAMPLE_NEAREST, UPSAMPLE_BILINEAR } upsample_mode;
typedef enum loss_kind {
    LOSS_MSE,        /* mean((x - t)^2) */
    LOSS_L1,         /* mean(|x - t|) */
    LOSS_BCE_LOGITS, /* mean(max(x,0) - x t + log(1 + exp(-|x|))) */
    LOSS_HINGE,      /* mean(max(0, 1 - t x)), t = +1 or -1 per element */
} loss_kind;

/* Convolution geometry. conv2d: x (N, C, H, W), w (OC, C/groups, KH, KW), b (OC),
 * y (N, OC, OH, OW) with OH = (H + 2 pad_h - dil_h (KH - 1) - 1) / stride_h + 1.
 * conv_transpose2d: x (N, C, H, W), w (C, OC/groups, KH, KW), b (OC), y (N, OC, OH, OW) with
 * OH = (H - 1) stride_h - 2 pad_h + dil_h (KH - 1) + out_pad_h + 1. */
typedef struct conv2d_params {
    int n, c, h, w;
    int oc, kh, kw;
    int oh, ow;
    int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
    int out_pad_h, out_pad_w;  /* conv_transpose2d only */
    bool relu;                 /* conv2d forward only: y = max(0, conv + b), fused. Backward
                                * kernels ignore it: the op masks dy by y > 0 first. */
} conv2d_params;

/* Pooling geometry: x (N, C, H, W), y (N, C, OH, OW),
 * OH = (H + 2 pad_h - KH) / stride_h + 1 (floor mode, as PyTorch's default). */
typedef struct pool2d_params {
    int n, c, h, w, oh, ow;
    int kh, kw, stride_h, stride_w, pad_h, pad_w;
    bool count_include_pad;  /* avg pool: divide by KH*KW even over padding (PyTorch default) */
} pool2d_params;

typedef struct backend {
    const char *name;

    /* C (M, N) = alpha * op(A) op(B) + beta * C, row-major; op(A) is (M, K): A is (M, K)
     * with lda >= K, or (K, M) when trans_a. Likewise B (K, N), or (N, K) when trans_b. */
    void (*gemm)(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

    /* y = a op b with numpy broadcasting; all shapes given as 4 dims, padded on the left
     * with 1s. Each of a's and b's dims is 1 or equal to y's. */
    void (*binary_forward)(binop op, float *y, const float *a, const float *b,
                           const int ashape[4], const int bshape[4], const int yshape[4]);
    void (*binary_backward)(binop op, float *da, float *db, const float *dy,
                            const float *a, const float *b,
                            const int ashape[4], const int bshape[4], const int yshape[4]);

    /* y (n) = f(x (n)); backward may use x or y (both given). */
    void (*unary_forward)(unop op, float *y, const float *x, int64_t n, float alpha);  /* y may be x */
    void (*unary_backward)(unop op, float *dx, const float *dy, const float *x,
                           const float *y, int64_t n, float alpha);

    /* y = reduce of x (shape 4 dims) over the dims whose bit is set in axes (bit i = dim i);
     * y has x's shape with those dims set to 1. */
    void (*reduce_forward)(reduce_kind k, float *y, const float *x, const int shape[4], int axes);
    void (*reduce_backward)(reduce_kind k, float *dx, const float *dy, const float *x,
                            const int shape[4], int axes);

    /* Copy a block along one axis: x viewed as (outer, xlen, inner), y as (outer, ylen, inner);
     * y[:, yoff + i, :] (= or +=) x[:, xoff + i, :] for i < len. Slice and concat use it,
     * forward and backward. */
    void (*axis_copy)(float *y, const float *x, int64_t outer, int ylen, int xlen, int64_t inner,
                      int yoff, int xoff, int len, bool accumulate);

    void (*conv2d_forward)(float *y, const float *x, const float *w, const float *b,
                           const conv2d_params *p);
    void (*conv2d_backward)(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, const conv2d_params *p);
    void (*conv_transpose2d_forward)(float *y, const float *x, const float *w, const float *b,
                                     const conv2d_params *p);
    void (*conv_transpose2d_backward)(float *dx, float *dw, float *db, const float *dy,
                                      const float *x, const float *w, const conv2d_params *p);

    void (*avg_pool2d_forward)(float *y, const float *x, const pool2d_params *p);
    void (*avg_pool2d_backward)(float *dx, const float *dy, const pool2d_params *p);
    /* ties go to the first maximum in row-major window order, as in PyTorch */
    void (*max_pool2d_forward)(float *y, const float *x, const pool2d_params *p);
    void (*max_pool2d_backward)(float *dx, const float *dy, const float *x, const pool2d_params *p);

    /* x (N, C, H, W) -> y (N, C, OH, OW). Source coordinates use the ratio H/OH, as
     * PyTorch does with a size (or an integer scale factor). Nearest: src = floor(dst H/OH).
     * Bilinear: align_corners picks PyTorch's two conventions. */
    void (*upsample_forward)(upsample_mode m, bool align_corners, float *y, const float *x,
                             int n, int c, int h, int w, int oh, int ow);
    void (*upsample_backward)(upsample_mode m, bool align_corners, float *dx, const float *dy,
                              int n, int c, int h, int w, int oh, int ow);

    /* x (N, C, H, W) -> y (N, C, H + top + bottom, W + left + right). Reflection needs
     * each pad < the dim it pads; zero fills with 0. */
    void (*pad_forward)(pad_mode m, float *y, const float *x, int n, int c, int h, int w,
                        int top, int bottom, int left, int right);
    void (*pad_backward)(pad_mode m, float *dx, const float *dy, int n, int c, int h, int w,
                         int top, int bottom, int left, int right);

    /* Instance norm: x (N, C, HW) normalised per (n, c) over HW with the biased variance;
     * gamma, beta (C) or NULL (no affine). Saves mean, rstd (N*C) for backward. y may be x
     * (each plane's statistics are taken before it is written). */
    void (*instance_norm_forward)(float *y, float *mean, float *rstd, const float *x,
                                  const float *gamma, const float *beta, int n, int c, int hw,
                                  float eps);
    void (*instance_norm_backward)(float *dx, float *dgamma, float *dbeta, const float *dy,
                                   const float *x, const float *mean, const float *rstd,
                                   const float *gamma, int n, int c, int hw);

    /* Batch norm, training: statistics per channel over (N, HW) with the biased variance;
     * saves mean, rstd (C); updates running_mean/var (C, may be NULL) with momentum,
     * running_var with the unbiased variance, as PyTorch does. */
    void (*batch_norm_forward_train)(float *y, float *mean, float *rstd, float *running_mean,
                                     float *running_var, const float *x, const float *gamma,
                                     const float *beta, int n, int c, int hw, float eps,
                                     float momentum);
    void (*batch_norm_backward_train)(float *dx, float *dgamma, float *dbeta, const float *dy,
                                      const float *x, const float *mean, const float *rstd,
                                      const float *gamma, int n, int c, int hw);
    /* Eval: y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta. */
    void (*batch_norm_forward_eval)(float *y, const float *x, const float *gamma,
                                    const float *beta, const float *running_mean,
                                    const float *running_var, int n, int c, int hw, float eps);
    void (*batch_norm_backward_eval)(float *dx, float *dgamma, float *dbeta, const float *dy,
                                     const float *x, const float *gamma,
                                     const float *running_mean, const float *running_var,
                                     int n, int c, int hw, float eps);

    /* AdaIN (Huang & Belongie 2017): x (N, C, HWX), s (N, C, HWS);
     * y = std(s) (x - mean(x)) / std(x) + mean(s), per (n, c), with
     * std = sqrt(unbiased variance + eps) as in the authors' code. Gradients flow to both. */
    void (*adain_forward)(float *y, const float *x, const float *s, int n, int c, int hwx,
                          int hws, float eps);
    void (*adain_backward)(float *dx, float *ds, const float *dy, const float *x,
                           const float *s, int n, int c, int hwx, int hws, float eps);

    /* Elementwise losses, reduced by the mean over n elements: *out = loss(x (n), t (n)).
     * Backward: dx += dout * d loss / dx, dt likewise (dt may be NULL). */
    void (*loss_forward)(loss_kind k, float *out, const float *x, const float *t, int64_t n);
    void (*loss_backward)(loss_kind k, float *dx, float *dt, float dout, const float *x,
                          const float *t, int64_t n);

    /* Total variation of x (N, C, H, W):
     * *out = mean((x[.., i+1, j] - x[.., i, j])^2) + mean((x[.., i, j+1] - x[.., i, j])^2),
     * each mean over its own number of differences (a term with no differences is 0). */
    void (*tv_forward)(float *out, const float *x, int n, int c, int h, int w);
    void (*tv_backward)(float *dx, float dout, const float *x, int n, int c, int h, int w);
} backend;

const backend *backend_current(void);      /* selects ATELIER_BACKEND (or the default) once */
status backend_select(const char *name);   /* STATUS_ARG if no such backend is built */
const backend *backend_find(const char *name); /* NULL if not built */
const backend *backend_ref(void);          /* the reference backend, always built */
const char *backend_names(void);           /* "cpu, ref": the backends of this build */
/* The cpu backend's threads (OpenMP and OpenBLAS); 0 = all cores. Results never depend on
 * it beyond float rounding in oneDNN's and OpenBLAS's sums. */
void backend_set_threads(int n);
/* The cpu backend runs the 3x3 convolutions it can by Winograd's F(4x4, 3x3) algorithm: ~2x
 * faster for VGG-style layers, with float32 rounding a few times the direct method's
 * (relative error ~1e-6 to 1e-5 of the outputs' scale). false: the direct method
 * everywhere (also ATELIER_WINOGRAD=0 in the environment). Returns the previous setting. */
bool backend_set_winograd(bool on);

#endif
