/* cpu_conv.c: every kernel delegates to the reference backend for now. */
#include "cpu/cpu.h"
#include "ref/ref.h"

void cpu_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                        const conv2d_params *p) {
    ref_conv2d_forward(y, x, w, b, p);
}

void cpu_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                         const float *w, const conv2d_params *p) {
    ref_conv2d_backward(dx, dw, db, dy, x, w, p);
}

void cpu_conv_transpose2d_forward(float *y, const float *x, const float *w, const float *b,
                                  const conv2d_params *p) {
    ref_conv_transpose2d_forward(y, x, w, b, p);
}

void cpu_conv_transpose2d_backward(float *dx, float *dw, float *db, const float *dy,
                                   const float *x, const float *w, const conv2d_params *p) {
    ref_conv_transpose2d_backward(dx, dw, db, dy, x, w, p);
}
