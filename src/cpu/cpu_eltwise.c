/* cpu_eltwise.c: every kernel delegates to the reference backend for now. */
#include "cpu/cpu.h"
#include "ref/ref.h"

void cpu_binary_forward(binop op, float *y, const float *a, const float *b,
                        const int ashape[4], const int bshape[4], const int yshape[4]) {
    ref_binary_forward(op, y, a, b, ashape, bshape, yshape);
}

void cpu_binary_backward(binop op, float *da, float *db, const float *dy, const float *a,
                         const float *b, const int ashape[4], const int bshape[4],
                         const int yshape[4]) {
    ref_binary_backward(op, da, db, dy, a, b, ashape, bshape, yshape);
}

void cpu_unary_forward(unop op, float *y, const float *x, int64_t n, float alpha) {
    ref_unary_forward(op, y, x, n, alpha);
}

void cpu_unary_backward(unop op, float *dx, const float *dy, const float *x, const float *y,
                        int64_t n, float alpha) {
    ref_unary_backward(op, dx, dy, x, y, n, alpha);
}

void cpu_reduce_forward(reduce_kind k, float *y, const float *x, const int shape[4], int axes) {
    ref_reduce_forward(k, y, x, shape, axes);
}

void cpu_reduce_backward(reduce_kind k, float *dx, const float *dy, const float *x,
                         const int shape[4], int axes) {
    ref_reduce_backward(k, dx, dy, x, shape, axes);
}

void cpu_axis_copy(float *y, const float *x, int64_t outer, int ylen, int xlen, int64_t inner,
                   int yoff, int xoff, int len, bool accumulate) {
    ref_axis_copy(y, x, outer, ylen, xlen, inner, yoff, xoff, len, accumulate);
}

void cpu_loss_forward(loss_kind k, float *out, const float *x, const float *t, int64_t n) {
    ref_loss_forward(k, out, x, t, n);
}

void cpu_loss_backward(loss_kind k, float *dx, float *dt, float dout, const float *x,
                       const float *t, int64_t n) {
    ref_loss_backward(k, dx, dt, dout, x, t, n);
}

void cpu_tv_forward(float *out, const float *x, int n, int c, int h, int w) {
    ref_tv_forward(out, x, n, c, h, w);
}

void cpu_tv_backward(float *dx, float dout, const float *x, int n, int c, int h, int w) {
    ref_tv_backward(dx, dout, x, n, c, h, w);
}
