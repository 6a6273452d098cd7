/* ref_spatial.c: pooling, resizing and padding kernels of the reference backend.
 *
 * All tensors are (N, C, H, W), row-major and contiguous; every kernel works on one (n, c)
 * plane at a time, since none of them mixes channels. Index conventions follow PyTorch so
 * that results match torch.nn.functional bit for bit up to float rounding:
 * - pooling: floor mode; avg pool divides by KH*KW when count_include_pad (the default),
 *   else by the number of real pixels in the window; max pool treats padding as -inf and
 *   keeps the first maximum in row-major window order (a NaN wins, as in torch);
 * - nearest: src = floor(dst * in / out), with in / out rounded to float as in ATen;
 * - bilinear (see area_pixel_compute_source_index in ATen's UpSample.h): with
 *   align_corners false src = (dst + 0.5) in / out - 0.5 clamped at 0, with align_corners
 *   true src = dst (in - 1) / (out - 1);
 * - reflection padding mirrors about the edge pixel without repeating it (ReflectionPad2d),
 *   replicate repeats the edge pixel, zero fills with 0.
 * Backward kernels ADD into dx (backend.h).
 */
#include <math.h>
#include "ref/ref.h"

/* ---- pooling ---- */

/* The clipped window of output (oy, ox) in input coordinates: rows [*y0, *y1), cols [*x0, *x1). */
void ref_pool_window(const pool2d_params *p, int oy, int ox, int *y0, int *y1, int *x0,
                        int *x1) {
    int ys = oy * p->stride_h - p->pad_h, xs = ox * p->stride_w - p->pad_w;
    *y0 = ys < 0 ? 0 : ys;
    *x0 = xs < 0 ? 0 : xs;
    *y1 = ys + p->kh > p->h ? p->h : ys + p->kh;
    *x1 = xs + p->kw > p->w ? p->w : xs + p->kw;
}

/* The divisor of an average window: KH*KW over the padded window (PyTorch's default, which
 * in floor mode with pad <= kernel/2 is the whole kernel), else the real pixels only. */
float ref_pool_divisor(const pool2d_params *p, int y0, int y1, int x0, int x1) {
    if (p->count_include_pad) return (float)(p->kh * p->kw);
    return (float)((y1 - y0) * (x1 - x0));
}

/* ---- per-plane pooling: the bodies every backend shares (xp (H, W), yp (OH, OW)) ---- */

void ref_avg_pool2d_plane(float *yp, const float *xp, const pool2d_params *p) {
    for (int oy = 0; oy < p->oh; oy++)
        for (int ox = 0; ox < p->ow; ox++) {
            int y0, y1, x0, x1;
            ref_pool_window(p, oy, ox, &y0, &y1, &x0, &x1);
            float s = 0;
            for (int iy = y0; iy < y1; iy++)
                for (int ix = x0; ix < x1; ix++) s += xp[iy * p->w + ix];
            yp[oy * p->ow + ox] = s / ref_pool_divisor(p, y0, y1, x0, x1);
        }
}

/* dxp (H, W) += each window's dy / divisor */
void ref_avg_pool2d_plane_backward(float *dxp, const float *dyp, const pool2d_params *p) {
    for (int oy = 0; oy < p->oh; oy++)
        for (int ox = 0; ox < p->ow; ox++) {
            int y0, y1, x0, x1;
            ref_pool_window(p, oy, ox, &y0, &y1, &x0, &x1);
            float g = dyp[oy * p->ow + ox] / ref_pool_divisor(p, y0, y1, x0, x1);
            for (int iy = y0; iy < y1; iy++)
                for (int ix = x0; ix < x1; ix++) dxp[iy * p->w + ix] += g;
        }
}

/* Index (iy * W + ix) of the first maximum of a window of plane xp, or -1 if the window
 * holds only padding (which counts as -inf). NaN counts as the maximum, as in torch. */
int ref_pool_argmax(const pool2d_params *p, const float *xp, int oy, int ox) {
    int y0, y1, x0, x1, best = -1;
    ref_pool_window(p, oy, ox, &y0, &y1, &x0, &x1);
    float m = -INFINITY;
    for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) {
            float v = xp[iy * p->w + ix];
            if (best < 0 || v > m || isnan(v)) {
                best = iy * p->w + ix;
                m = v;
                if (isnan(v)) return best;
            }
        }
    return best;
}

void ref_max_pool2d_plane(float *yp, const float *xp, const pool2d_params *p) {
    for (int oy = 0; oy < p->oh; oy++)
        for (int ox = 0; ox < p->ow; ox++) {
            int i = ref_pool_argmax(p, xp, oy, ox);
            yp[oy * p->ow + ox] = i < 0 ? -INFINITY : xp[i];
        }
}

/* dxp (H, W) += dy at each window's first maximum */
void ref_max_pool2d_plane_backward(float *dxp, const float *dyp, const float *xp,
                                   const pool2d_params *p) {
    for (int oy = 0; oy < p->oh; oy++)
        for (int ox = 0; ox < p->ow; ox++) {
            int i = ref_pool_argmax(p, xp, oy, ox);
            if (i >= 0) dxp[i] += dyp[oy * p->ow + ox];
        }
}

/* ---- the kernels: one plane (n, c) at a time ---- */

void ref_avg_pool2d_forward(float *y, const float *x, const pool2d_params *p) {
    // y (N, C, OH, OW), x (N, C, H, W)
    int64_t hw = (int64_t)p->h * p->w, ohw = (int64_t)p->oh * p->ow;
    for (int64_t nc = 0; nc < (int64_t)p->n * p->c; nc++) ref_avg_pool2d_plane(y + nc * ohw, x + nc * hw, p);
}

void ref_avg_pool2d_backward(float *dx, const float *dy, const pool2d_params *p) {
    // dx (N, C, H, W), dy (N, C, OH, OW)
    if (!dx) return;
    int64_t hw = (int64_t)p->h * p->w, ohw = (int64_t)p->oh * p->ow;
    for (int64_t nc = 0; nc < (int64_t)p->n * p->c; nc++) ref_avg_pool2d_plane_backward(dx + nc * hw, dy + nc * ohw, p);
}

void ref_max_pool2d_forward(float *y, const float *x, const pool2d_params *p) {
    // y (N, C, OH, OW), x (N, C, H, W)
    int64_t hw = (int64_t)p->h * p->w, ohw = (int64_t)p->oh * p->ow;
    for (int64_t nc = 0; nc < (int64_t)p->n * p->c; nc++) ref_max_pool2d_plane(y + nc * ohw, x + nc * hw, p);
}

void ref_max_pool2d_backward(float *dx, const float *dy, const float *x, const pool2d_params *p) {
    // dx (N, C, H, W), dy (N, C, OH, OW), x (N, C, H, W)
    if (!dx) return;
    int64_t hw = (int64_t)p->h * p->w, ohw = (int64_t)p->oh * p->ow;
    for (int64_t nc = 0; nc < (int64_t)p->n * p->c; nc++)
        ref_max_pool2d_plane_backward(dx + nc * hw, dy + nc * ohw, x + nc * hw, p);
}

/* ---- upsampling ---- */

/* Nearest source index: floor(dst * in / out), computed as PyTorch does, with the scale
 * in / out rounded to float first (ATen's nearest_idx). That differs from the exact
 * integer floor for a few size pairs (14 -> 46: dst 23 reads 6, not 7); we follow PyTorch
 * so that a network resized here matches one resized there. */
int ref_nearest_source(int dst, int in, int out) {
    float scale = (float)in / (float)out;
    int s = (int)floorf((float)dst * scale);
    return s < in ? s : in - 1;
}

/* Bilinear taps along one axis: dst -> (*i0, *i1, weight *l1 of i1), as in ATen's
 * area_pixel_compute_source_index and compute_source_index_and_lambda. */
void ref_linear_taps(bool align_corners, int dst, int in, int out, int *i0, int *i1,
                        float *l1) {
    float src;
    if (align_corners) {
        float scale = out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
        src = scale * (float)dst;
    } else {
        float scale = (float)in / (float)out;
        src = scale * ((float)dst + 0.5f) - 0.5f;
        if (src < 0) src = 0;
    }
    *i0 = (int)src;
    if (*i0 > in - 1) *i0 = in - 1;
    *i1 = *i0 < in - 1 ? *i0 + 1 : *i0;
    *l1 = src - (float)*i0;
}

static void upsample_nearest_plane(float *y, const float *x, int h, int w, int oh, int ow,
                                   bool backward) {
    // forward: y (OH, OW) = x (H, W) gathered; backward: x is dy (OH, OW), y is dx (H, W)
    for (int oy = 0; oy < oh; oy++) {
        int iy = ref_nearest_source(oy, h, oh);
        for (int ox = 0; ox < ow; ox++) {
            int ix = ref_nearest_source(ox, w, ow);
            if (backward) y[iy * w + ix] += x[oy * ow + ox];
            else y[oy * ow + ox] = x[iy * w + ix];
        }
    }
}

static void upsample_bilinear_plane(bool align_corners, float *y, const float *x, int h, int w,
                                    int oh, int ow, bool backward) {
    // forward: y (OH, OW) interpolated from x (H, W); backward: x is dy (OH, OW), y is dx (H, W)
    for (int oy = 0; oy < oh; oy++) {
        int y0, y1;
        float ly;
        ref_linear_taps(align_corners, oy, h, oh, &y0, &y1, &ly);
        for (int ox = 0; ox < ow; ox++) {
            int x0, x1;
            float lx;
            ref_linear_taps(align_corners, ox, w, ow, &x0, &x1, &lx);
            float w00 = (1 - ly) * (1 - lx), w01 = (1 - ly) * lx;
            float w10 = ly * (1 - lx), w11 = ly * lx;
            if (backward) {
                float g = x[oy * ow + ox];
                y[y0 * w + x0] += w00 * g;
                y[y0 * w + x1] += w01 * g;
                y[y1 * w + x0] += w10 * g;
                y[y1 * w + x1] += w11 * g;
            } else {
                y[oy * ow + ox] = w00 * x[y0 * w + x0] + w01 * x[y0 * w + x1] +
                                  w10 * x[y1 * w + x0] + w11 * x[y1 * w + x1];
            }
        }
    }
}

void ref_upsample_forward(upsample_mode m, bool align_corners, float *y, const float *x, int n,
                          int c, int h, int w, int oh, int ow) {
    // y (N, C, OH, OW), x (N, C, H, W)
    for (int64_t nc = 0; nc < (int64_t)n * c; nc++) {
        const float *xp = x + nc * h * w;
        float *yp = y + nc * oh * ow;
        if (m == UPSAMPLE_NEAREST) upsample_nearest_plane(yp, xp, h, w, oh, ow, false);
        else upsample_bilinear_plane(align_corners, yp, xp, h, w, oh, ow, false);
    }
}

void ref_upsample_backward(upsample_mode m, bool align_corners, float *dx, const float *dy,
                           int n, int c, int h, int w, int oh, int ow) {
    // dx (N, C, H, W), dy (N, C, OH, OW): each output's gradient goes back to its taps
    if (!dx) return;
    for (int64_t nc = 0; nc < (int64_t)n * c; nc++) {
        float *dxp = dx + nc * h * w;
        const float *dyp = dy + nc * oh * ow;
        if (m == UPSAMPLE_NEAREST) upsample_nearest_plane(dxp, dyp, h, w, oh, ow, true);
        else upsample_bilinear_plane(align_corners, dxp, dyp, h, w, oh, ow, true);
    }
}

/* ---- padding ---- */

/* The source index along one axis of padded index i (i = -before .. n - 1 + after), or -1
 * for zero padding outside [0, n). Reflection needs the pad < n, so one mirror suffices. */
int ref_pad_source(pad_mode m, int i, int n) {
    if (i >= 0 && i < n) return i;
    switch (m) {
    case PAD_REFLECT: return i < 0 ? -i : 2 * (n - 1) - i;
    case PAD_REPLICATE: return i < 0 ? 0 : n - 1;
    default: return -1;
    }
}

void ref_pad_forward(pad_mode m, float *y, const float *x, int n, int c, int h, int w, int top,
                     int bottom, int left, int right) {
    // y (N, C, H + top + bottom, W + left + right), x (N, C, H, W)
    int oh = h + top + bottom, ow = w + left + right;
    for (int64_t nc = 0; nc < (int64_t)n * c; nc++) {
        const float *xp = x + nc * h * w;
        float *yp = y + nc * oh * ow;
        for (int oy = 0; oy < oh; oy++) {
            int iy = ref_pad_source(m, oy - top, h);
            for (int ox = 0; ox < ow; ox++) {
                int ix = ref_pad_source(m, ox - left, w);
                yp[oy * ow + ox] = (iy < 0 || ix < 0) ? 0.0f : xp[iy * w + ix];
            }
        }
    }
}

void ref_pad_backward(pad_mode m, float *dx, const float *dy, int n, int c, int h, int w,
                      int top, int bottom, int left, int right) {
    // dx (N, C, H, W), dy (N, C, H + top + bottom, W + left + right): each padded pixel's
    // gradient goes back to the pixel it copied (none for zero padding)
    if (!dx) return;
    int oh = h + top + bottom, ow = w + left + right;
    for (int64_t nc = 0; nc < (int64_t)n * c; nc++) {
        float *dxp = dx + nc * h * w;
        const float *dyp = dy + nc * oh * ow;
        for (int oy = 0; oy < oh; oy++) {
            int iy = ref_pad_source(m, oy - top, h);
            for (int ox = 0; ox < ow; ox++) {
                int ix = ref_pad_source(m, ox - left, w);
                if (iy >= 0 && ix >= 0) dxp[iy * w + ix] += dyp[oy * ow + ox];
            }
        }
    }
}
