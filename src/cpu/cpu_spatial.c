/* cpu_spatial.c: every kernel delegates to the reference backend for now. */
#include "cpu/cpu.h"
#include "ref/ref.h"

void cpu_avg_pool2d_forward(float *y, const float *x, const pool2d_params *p) {
    ref_avg_pool2d_forward(y, x, p);
}

void cpu_avg_pool2d_backward(float *dx, const float *dy, const pool2d_params *p) {
    ref_avg_pool2d_backward(dx, dy, p);
}

void cpu_max_pool2d_forward(float *y, const float *x, const pool2d_params *p) {
    ref_max_pool2d_forward(y, x, p);
}

void cpu_max_pool2d_backward(float *dx, const float *dy, const float *x, const pool2d_params *p) {
    ref_max_pool2d_backward(dx, dy, x, p);
}

void cpu_upsample_forward(upsample_mode m, bool align_corners, float *y, const float *x, int n,
                          int c, int h, int w, int oh, int ow) {
    ref_upsample_forward(m, align_corners, y, x, n, c, h, w, oh, ow);
}

void cpu_upsample_backward(upsample_mode m, bool align_corners, float *dx, const float *dy,
                           int n, int c, int h, int w, int oh, int ow) {
    ref_upsample_backward(m, align_corners, dx, dy, n, c, h, w, oh, ow);
}

void cpu_pad_forward(pad_mode m, float *y, const float *x, int n, int c, int h, int w, int top,
                     int bottom, int left, int right) {
    ref_pad_forward(m, y, x, n, c, h, w, top, bottom, left, right);
}

void cpu_pad_backward(pad_mode m, float *dx, const float *dy, int n, int c, int h, int w,
                      int top, int bottom, int left, int right) {
    ref_pad_backward(m, dx, dy, n, c, h, w, top, bottom, left, right);
}
