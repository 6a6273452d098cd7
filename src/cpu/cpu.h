/* cpu.h: the fast CPU backend's kernels. Same contracts as backend.h; each is tested
 * against the reference backend (tests/test_cpu_backend.c, test_cpu_conv.c, test_cpu_kernels.c). oneDNN runs the convolutions,
 * OpenBLAS the gemm, OpenMP the rest. Kernels without a fast version use the reference's.
 *
 * Thread-count independence: every OpenMP loop partitions its OUTPUT among threads, and
 * each output element is computed by one thread in a fixed order, so results do not depend
 * on the thread count. Only oneDNN and OpenBLAS sums may differ in float rounding. */
#ifndef ATELIER_CPU_H
#define ATELIER_CPU_H
#include "atelier/backend.h"

/* cpu_sum.c: sums in double over 8 lanes, in a fixed order */
double cpu_lanes_total(const double acc[8]);
double cpu_sum8(const float *x, int64_t n);
double cpu_sumsq8(const float *x, int64_t n, double mean);  /* sum (x - mean)^2 */

/* cpu_backend.c */
void cpu_set_threads(int n);

/* cpu_gemm.c */
void cpu_gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a,
              int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* cpu_conv.c (oneDNN) */
void cpu_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                        const conv2d_params *p);
void cpu_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                         const float *w, const conv2d_params *p);
void cpu_conv_transpose2d_forward(float *y, const float *x, const float *w, const float *b,
                                  const conv2d_params *p);
void cpu_conv_transpose2d_backward(float *dx, float *dw, float *db, const float *dy,
                                   const float *x, const float *w, const conv2d_params *p);

/* Winograd for the 3x3 convolutions it fits (cpu_conv.c says which; on by default, off
 * with ATELIER_WINOGRAD=0), and the implementation oneDNN ran for the last convolution
 * direction ("jit_wino_4x3:avx512_core", "jit:avx512_core", or "ref" when oneDNN refused). */
void cpu_conv_set_winograd(bool on);
bool cpu_conv_winograd(void);
const char *cpu_conv_last_impl(void);

/* The same on bfloat16 inputs (float32 outputs and accumulation): the cpu-bf16 backend. */
void cpu_bf16_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                             const conv2d_params *p);
void cpu_bf16_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                              const float *w, const conv2d_params *p);
void cpu_bf16_conv_transpose2d_forward(float *y, const float *x, const float *w,
                                       const float *b, const conv2d_params *p);
void cpu_bf16_conv_transpose2d_backward(float *dx, float *dw, float *db, const float *dy,
                                        const float *x, const float *w, const conv2d_params *p);

/* cpu_eltwise.c (OpenMP) */
void cpu_binary_forward(binop op, float *y, const float *a, const float *b,
                        const int ashape[4], const int bshape[4], const int yshape[4]);
void cpu_binary_backward(binop op, float *da, float *db, const float *dy, const float *a,
                         const float *b, const int ashape[4], const int bshape[4],
                         const int yshape[4]);
void cpu_unary_forward(unop op, float *y, const float *x, int64_t n, float alpha);
void cpu_unary_backward(unop op, float *dx, const float *dy, const float *x, const float *y,
                        int64_t n, float alpha);
void cpu_reduce_forward(reduce_kind k, float *y, const float *x, const int shape[4], int axes);
void cpu_reduce_backward(reduce_kind k, float *dx, const float *dy, const float *x,
                         const int shape[4], int axes);
void cpu_axis_copy(float *y, const float *x, int64_t outer, int ylen, int xlen, int64_t inner,
                   int yoff, int xoff, int len, bool accumulate);
void cpu_loss_forward(loss_kind k, float *out, const float *x, const float *t, int64_t n);
void cpu_loss_backward(loss_kind k, float *dx, float *dt, float dout, const float *x,
                       const float *t, int64_t n);
void cpu_tv_forward(float *out, const float *x, int n, int c, int h, int w);
void cpu_tv_backward(float *dx, float dout, const float *x, int n, int c, int h, int w);

/* cpu_spatial.c (OpenMP) */
void cpu_avg_pool2d_forward(float *y, const float *x, const pool2d_params *p);
void cpu_avg_pool2d_backward(float *dx, const float *dy, const pool2d_params *p);
void cpu_max_pool2d_forward(float *y, const float *x, const pool2d_params *p);
void cpu_max_pool2d_backward(float *dx, const float *dy, const float *x, const pool2d_params *p);
void cpu_upsample_forward(upsample_mode m, bool align_corners, float *y, const float *x, int n,
                          int c, int h, int w, int oh, int ow);
void cpu_upsample_backward(upsample_mode m, bool align_corners, float *dx, const float *dy,
                           int n, int c, int h, int w, int oh, int ow);
void cpu_pad_forward(pad_mode m, float *y, const float *x, int n, int c, int h, int w, int top,
                     int bottom, int left, int right);
void cpu_pad_backward(pad_mode m, float *dx, const float *dy, int n, int c, int h, int w,
                      int top, int bottom, int left, int right);

/* cpu_norm.c (OpenMP) */
void cpu_instance_norm_forward(float *y, float *mean, float *rstd, const float *x,
                               const float *gamma, const float *beta, int n, int c, int hw,
                               float eps);
void cpu_instance_norm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                                const float *x, const float *mean, const float *rstd,
                                const float *gamma, int n, int c, int hw);
void cpu_batch_norm_forward_train(float *y, float *mean, float *rstd, float *running_mean,
                                  float *running_var, const float *x, const float *gamma,
                                  const float *beta, int n, int c, int hw, float eps,
                                  float momentum);
void cpu_batch_norm_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
                                   const float *x, const float *mean, const float *rstd,
                                   const float *gamma, int n, int c, int hw);
void cpu_batch_norm_forward_eval(float *y, const float *x, const float *gamma,
                                 const float *beta, const float *running_mean,
                                 const float *running_var, int n, int c, int hw, float eps);
void cpu_batch_norm_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dy,
                                  const float *x, const float *gamma, const float *running_mean,
                                  const float *running_var, int n, int c, int hw, float eps);
void cpu_adain_forward(float *y, const float *x, const float *s, int n, int c, int hwx, int hws,
                       float eps);
void cpu_adain_backward(float *dx, float *ds, const float *dy, const float *x, const float *s,
                        int n, int c, int hwx, int hws, float eps);

#endif
