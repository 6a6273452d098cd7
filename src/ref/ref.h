/* ref.h: the reference backend's kernels (see backend.h for each one's contract).
 * Plain loops, no tricks: this is the specification the fast backends are tested against. */
#ifndef ATELIER_REF_H
#define ATELIER_REF_H
#include "atelier/backend.h"

/* ref_basic.c */
void ref_gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a,
              int lda, const float *b, int ldb, float beta, float *c, int ldc);
void ref_binary_forward(binop op, float *y, const float *a, const float *b,
                        const int ashape[4], const int bshape[4], const int yshape[4]);
void ref_binary_backward(binop op, float *da, float *db, const float *dy, const float *a,
                         const float *b, const int ashape[4], const int bshape[4],
                         const int yshape[4]);
void ref_unary_forward(unop op, float *y, const float *x, int64_t n, float alpha);
void ref_unary_backward(unop op, float *dx, const float *dy, const float *x, const float *y,
                        int64_t n, float alpha);
void ref_reduce_forward(reduce_kind k, float *y, const float *x, const int shape[4], int axes);
void ref_reduce_backward(reduce_kind k, float *dx, const float *dy, const float *x,
                         const int shape[4], int axes);
void ref_axis_copy(float *y, const float *x, int64_t outer, int ylen, int xlen, int64_t inner,
                   int yoff, int xoff, int len, bool accumulate);

/* ref_conv.c */
void ref_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                        const conv2d_params *p);
void ref_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                         const float *w, const conv2d_params *p);
void ref_conv_transpose2d_forward(float *y, const float *x, const float *w, const float *b,
                                  const conv2d_params *p);
void ref_conv_transpose2d_backward(float *dx, float *dw, float *db, const float *dy,
                                   const float *x, const float *w, const conv2d_params *p);

/* ref_spatial.c */
/* Pooling's rules (shared with faster backends): the window [y0, y1) x [x0, x1) of output
 * (oy, ox) clipped to the input; avg pool's divisor; max pool's first maximum (row-major,
 * NaN wins; -1 for a window of padding only). */
void ref_pool_window(const pool2d_params *p, int oy, int ox, int *y0, int *y1, int *x0, int *x1);
float ref_pool_divisor(const pool2d_params *p, int y0, int y1, int x0, int x1);
int ref_pool_argmax(const pool2d_params *p, const float *xp, int oy, int ox);
/* Padding's rule: the source index of padded index i along an axis of n, -1 for a zero. */
int ref_pad_source(pad_mode m, int i, int n);
/* One plane of each pooling kernel: xp, dxp (H, W); yp, dyp (OH, OW). */
void ref_avg_pool2d_plane(float *yp, const float *xp, const pool2d_params *p);
void ref_avg_pool2d_plane_backward(float *dxp, const float *dyp, const pool2d_params *p);
void ref_max_pool2d_plane(float *yp, const float *xp, const pool2d_params *p);
void ref_max_pool2d_plane_backward(float *dxp, const float *dyp, const float *xp,
                                   const pool2d_params *p);
/* Upsampling's source coordinates, as PyTorch computes them (shared with faster backends):
 * nearest: floor(dst * (in / out rounded to float)); bilinear: taps i0, i1 and weight l1 of i1. */
int ref_nearest_source(int dst, int in, int out);
void ref_linear_taps(bool align_corners, int dst, int in, int out, int *i0, int *i1, float *l1);
void ref_avg_pool2d_forward(float *y, const float *x, const pool2d_params *p);
void ref_avg_pool2d_backward(float *dx, const float *dy, const pool2d_params *p);
void ref_max_pool2d_forward(float *y, const float *x, const pool2d_params *p);
void ref_max_pool2d_backward(float *dx, const float *dy, const float *x, const pool2d_params *p);
void ref_upsample_forward(upsample_mode m, bool align_corners, float *y, const float *x, int n,
                          int c, int h, int w, int oh, int ow);
void ref_upsample_backward(upsample_mode m, bool align_corners, float *dx, const float *dy,
                           int n, int c, int h, int w, int oh, int ow);
void ref_pad_forward(pad_mode m, float *y, const float *x, int n, int c, int h, int w, int top,
                     int bottom, int left, int right);
void ref_pad_backward(pad_mode m, float *dx, const float *dy, int n, int c, int h, int w,
                      int top, int bottom, int left, int right);

/* ref_norm.c */
void ref_instance_norm_forward(float *y, float *mean, float *rstd, const float *x,
                               const float *gamma, const float *beta, int n, int c, int hw,
                               float eps);
void ref_instance_norm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                                const float *x, const float *mean, const float *rstd,
                                const float *gamma, int n, int c, int hw);
void ref_batch_norm_forward_train(float *y, float *mean, float *rstd, float *running_mean,
                                  float *running_var, const float *x, const float *gamma,
                                  const float *beta, int n, int c, int hw, float eps,
                                  float momentum);
void ref_batch_norm_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
                                   const float *x, const float *mean, const float *rstd,
                                   const float *gamma, int n, int c, int hw);
void ref_batch_norm_forward_eval(float *y, const float *x, const float *gamma,
                                 const float *beta, const float *running_mean,
                                 const float *running_var, int n, int c, int hw, float eps);
void ref_batch_norm_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dy,
                                  const float *x, const float *gamma, const float *running_mean,
                                  const float *running_var, int n, int c, int hw, float eps);
void ref_adain_forward(float *y, const float *x, const float *s, int n, int c, int hwx, int hws,
                       float eps);
void ref_adain_backward(float *dx, float *ds, const float *dy, const float *x, const float *s,
                        int n, int c, int hwx, int hws, float eps);

/* ref_loss.c */
void ref_loss_forward(loss_kind k, float *out, const float *x, const float *t, int64_t n);
void ref_loss_backward(loss_kind k, float *dx, float *dt, float dout, const float *x,
                       const float *t, int64_t n);
void ref_tv_forward(float *out, const float *x, int n, int c, int h, int w);
void ref_tv_backward(float *dx, float dout, const float *x, int n, int c, int h, int w);

#endif
