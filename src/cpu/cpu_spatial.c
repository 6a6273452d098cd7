/* cpu_spatial.c: pooling, upsampling and padding of the fast CPU backend (contracts in
 * backend.h, index conventions in ref_spatial.c, which is the specification).
 *
 * None of these kernels mixes channels, so every one runs in parallel over the (n, c)
 * planes of its OUTPUT (for backward: of dx). Within a plane the loops follow the
 * reference's order, so the float sums of the backward scatters are the reference's, bit
 * for bit, whatever the thread count. Source indices and weights along each axis are
 * computed once per call into small tables, with the reference's own float arithmetic.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cpu/cpu.h"
#include "ref/ref.h"

#define PAR_MIN 32768  /* elements below which a kernel stays on one thread */

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) abort();  /* index tables of a few KB: out of memory here is fatal */
    return p;
}

/* ---- pooling ---- */

/* Parallel over planes (n, c); each plane is the reference's body, so results match it
 * bit for bit and do not depend on the thread count. */
#define FOR_EACH_PLANE(p) \
    _Pragma("omp parallel for schedule(static) if ((int64_t)(p)->n * (p)->c * (p)->h * (p)->w > PAR_MIN)") \
    for (int64_t nc = 0; nc < (int64_t)(p)->n * (p)->c; nc++)

/* The reference's plane bodies with the window arithmetic inlined: the same sums in the
 * same order (so the same bits), without a call and a divisor per output. Each output row
 * splits into the outputs whose window lies wholly inside the row horizontally (the
 * interior, [oa, ob)) and the few at the borders. The interior runs as loops over the
 * outputs innermost, which the compiler vectorises: each lane still adds its window's
 * values in the reference's row-major order, so its sum has the reference's bits. */
static inline void pool_span(int o, int stride, int pad, int k, int n, int *a, int *b) {
    int s = o * stride - pad;
    *a = s < 0 ? 0 : s;
    *b = s + k > n ? n : s + k;
}

/* the outputs ox in [*oa, *ob) whose windows [ox * stride - pad, + k) lie inside [0, n) */
static void pool_interior(const pool2d_params *p, int *oa, int *ob) {
    int a = (p->pad_w + p->stride_w - 1) / p->stride_w;       /* first ox with ox*s - pad >= 0 */
    int b = p->w + p->pad_w - p->kw < 0 ? 0 : (p->w + p->pad_w - p->kw) / p->stride_w + 1;  /* ox*s - pad + k <= w */
    if (b > p->ow) b = p->ow;
    if (a > b) a = b;
    *oa = a;
    *ob = b;
}

#define POOL_ROW_MAX 4096  /* interior rows wider than this take the scalar path */

static float avg_window(const float *xp, const pool2d_params *p, int y0, int y1, int ox) {
    int x0, x1;
    pool_span(ox, p->stride_w, p->pad_w, p->kw, p->w, &x0, &x1);
    float s = 0;
    for (int iy = y0; iy < y1; iy++) {
        const float *r = xp + (int64_t)iy * p->w;
        for (int ix = x0; ix < x1; ix++) s += r[ix];
    }
    return s / (p->count_include_pad ? (float)(p->kh * p->kw) : (float)((y1 - y0) * (x1 - x0)));
}

static void avg_plane(float *restrict yp, const float *restrict xp, const pool2d_params *p) {
    int oa, ob, sw = p->stride_w, kw = p->kw;
    pool_interior(p, &oa, &ob);
    if (ob - oa > POOL_ROW_MAX) oa = ob = 0;
    float acc[POOL_ROW_MAX];
    for (int oy = 0; oy < p->oh; oy++) {
        int y0, y1;
        pool_span(oy, p->stride_h, p->pad_h, p->kh, p->h, &y0, &y1);
        float *yr = yp + (int64_t)oy * p->ow;
        for (int ox = 0; ox < oa; ox++) yr[ox] = avg_window(xp, p, y0, y1, ox);
        if (ob > oa) {
            int n = ob - oa;
            const float *base = xp + (int64_t)oa * sw - p->pad_w;
            for (int i = 0; i < n; i++) acc[i] = 0;
            for (int iy = y0; iy < y1; iy++) {
                const float *r = base + (int64_t)iy * p->w;
                for (int kx = 0; kx < kw; kx++)
                    for (int i = 0; i < n; i++) acc[i] += r[(int64_t)i * sw + kx];
            }
            float div = p->count_include_pad ? (float)(p->kh * kw) : (float)((y1 - y0) * kw);
            for (int i = 0; i < n; i++) yr[oa + i] = acc[i] / div;
        }
        for (int ox = ob > oa ? ob : oa; ox < p->ow; ox++) yr[ox] = avg_window(xp, p, y0, y1, ox);
    }
}

/* dxp (H, W) += each window's dy / divisor, in the reference's order (outputs in
 * row-major order; a window's pixels in row-major order): windows overlap, so a dx
 * element's sum depends on that order. The interior only saves the window arithmetic and
 * the divisions. */
static void avg_plane_backward(float *restrict dxp, const float *restrict dyp, const pool2d_params *p) {
    int oa, ob, sw = p->stride_w, kw = p->kw;
    pool_interior(p, &oa, &ob);
    if (ob - oa > POOL_ROW_MAX) oa = ob = 0;
    float g[POOL_ROW_MAX];
    for (int oy = 0; oy < p->oh; oy++) {
        int y0, y1;
        pool_span(oy, p->stride_h, p->pad_h, p->kh, p->h, &y0, &y1);
        const float *dr = dyp + (int64_t)oy * p->ow;
        for (int ox = 0; ox < p->ow; ox++) {
            if (ox == oa && ob > oa) {   /* the interior, in one go */
                int n = ob - oa;
                float div = p->count_include_pad ? (float)(p->kh * kw) : (float)((y1 - y0) * kw);
                for (int i = 0; i < n; i++) g[i] = dr[oa + i] / div;
                float *base = dxp + (int64_t)oa * sw - p->pad_w;
                for (int iy = y0; iy < y1; iy++) {
                    float *r = base + (int64_t)iy * p->w;
                    for (int i = 0; i < n; i++) {
                        float gi = g[i], *q = r + (int64_t)i * sw;
                        for (int kx = 0; kx < kw; kx++) q[kx] += gi;
                    }
                }
                ox = ob - 1;
                continue;
            }
            int x0, x1;
            pool_span(ox, sw, p->pad_w, kw, p->w, &x0, &x1);
            float gg = dr[ox] / (p->count_include_pad ? (float)(p->kh * kw) : (float)((y1 - y0) * (x1 - x0)));
            for (int iy = y0; iy < y1; iy++)
                for (int ix = x0; ix < x1; ix++) dxp[(int64_t)iy * p->w + ix] += gg;
        }
    }
}

/* the window's first maximum (row-major; a NaN wins, the last one), -1 if empty */
static inline int max_index(const float *xp, int w, int y0, int y1, int x0, int x1) {
    int best = -1;
    float m = -INFINITY;
    for (int iy = y0; iy < y1; iy++) {
        const float *r = xp + (int64_t)iy * w;
        for (int ix = x0; ix < x1; ix++) {
            float v = r[ix];
            if (best < 0 || v > m || v != v) { m = v; best = iy * w + ix; }
        }
    }
    return best;
}

/* The interior of one output row of max pooling: each lane's maximum and its index, with
 * max_index's rule (the first maximum in row-major order; a NaN wins, the last one). */
static void max_row_interior(float *restrict m, int *restrict at, const float *xp, const pool2d_params *p, int y0,
                             int y1, int oa, int n) {
    int sw = p->stride_w, kw = p->kw, w = p->w;
    for (int iy = y0; iy < y1; iy++) {
        const float *r = xp + (int64_t)iy * w + (int64_t)oa * sw - p->pad_w;
        int rowidx = iy * w + oa * sw - p->pad_w;
        for (int kx = 0; kx < kw; kx++) {
            if (iy == y0 && kx == 0) {
                for (int i = 0; i < n; i++) { m[i] = r[(int64_t)i * sw]; at[i] = rowidx + i * sw; }
                continue;
            }
            for (int i = 0; i < n; i++) {
                float v = r[(int64_t)i * sw + kx];
                int take = v > m[i] || v != v;
                m[i] = take ? v : m[i];
                at[i] = take ? rowidx + i * sw + kx : at[i];
            }
        }
    }
}

static void max_plane(float *restrict yp, const float *restrict xp, const pool2d_params *p) {
    int oa, ob;
    pool_interior(p, &oa, &ob);
    if (ob - oa > POOL_ROW_MAX) oa = ob = 0;
    int at[POOL_ROW_MAX];
    for (int oy = 0; oy < p->oh; oy++) {
        int y0, y1;
        pool_span(oy, p->stride_h, p->pad_h, p->kh, p->h, &y0, &y1);
        float *yr = yp + (int64_t)oy * p->ow;
        for (int ox = 0; ox < p->ow; ox++) {
            if (ox == oa && ob > oa && y1 > y0) {
                max_row_interior(yr + oa, at, xp, p, y0, y1, oa, ob - oa);
                ox = ob - 1;
                continue;
            }
            int x0, x1;
            pool_span(ox, p->stride_w, p->pad_w, p->kw, p->w, &x0, &x1);
            int i = max_index(xp, p->w, y0, y1, x0, x1);
            yr[ox] = i < 0 ? -INFINITY : xp[i];
        }
    }
}

/* dx += dy at each window's first maximum, the outputs in row-major order (the
 * reference's order of the sums) */
static void max_plane_backward(float *restrict dxp, const float *restrict dyp, const float *restrict xp,
                               const pool2d_params *p) {
    int oa, ob;
    pool_interior(p, &oa, &ob);
    if (ob - oa > POOL_ROW_MAX) oa = ob = 0;
    float m[POOL_ROW_MAX];
    int at[POOL_ROW_MAX];
    for (int oy = 0; oy < p->oh; oy++) {
        int y0, y1;
        pool_span(oy, p->stride_h, p->pad_h, p->kh, p->h, &y0, &y1);
        const float *dr = dyp + (int64_t)oy * p->ow;
        for (int ox = 0; ox < p->ow; ox++) {
            if (ox == oa && ob > oa && y1 > y0) {
                int n = ob - oa;
                max_row_interior(m, at, xp, p, y0, y1, oa, n);
                for (int i = 0; i < n; i++) dxp[at[i]] += dr[oa + i];
                ox = ob - 1;
                continue;
            }
            int x0, x1;
            pool_span(ox, p->stride_w, p->pad_w, p->kw, p->w, &x0, &x1);
            int i = max_index(xp, p->w, y0, y1, x0, x1);
            if (i >= 0) dxp[i] += dr[ox];
        }
    }
}

void cpu_avg_pool2d_forward(float *y, const float *x, const pool2d_params *p) {
    // y (N, C, OH, OW), x (N, C, H, W)
    int64_t hw = (int64_t)p->h * p->w, ohw = (int64_t)p->oh * p->ow;
    FOR_EACH_PLANE(p) avg_plane(y + nc * ohw, x + nc * hw, p);
}

void cpu_avg_pool2d_backward(float *dx, const float *dy, const pool2d_params *p) {
    // dx (N, C, H, W) += each window's dy / divisor
    if (!dx) return;
    int64_t hw = (int64_t)p->h * p->w, ohw = (int64_t)p->oh * p->ow;
    FOR_EACH_PLANE(p) avg_plane_backward(dx + nc * hw, dy + nc * ohw, p);
}

void cpu_max_pool2d_forward(float *y, const float *x, const pool2d_params *p) {
    // y (N, C, OH, OW), x (N, C, H, W)
    int64_t hw = (int64_t)p->h * p->w, ohw = (int64_t)p->oh * p->ow;
    FOR_EACH_PLANE(p) max_plane(y + nc * ohw, x + nc * hw, p);
}

void cpu_max_pool2d_backward(float *dx, const float *dy, const float *x, const pool2d_params *p) {
    // dx (N, C, H, W) += dy at each window's first maximum
    if (!dx) return;
    int64_t hw = (int64_t)p->h * p->w, ohw = (int64_t)p->oh * p->ow;
    FOR_EACH_PLANE(p) max_plane_backward(dx + nc * hw, dy + nc * ohw, x + nc * hw, p);
}

/* ---- upsampling ---- */

/* Taps of every output index along one axis: i0, i1 (int) and l1 (the weight of i1). */
typedef struct taps { int *i0, *i1; float *l1; } taps;

static taps taps_new(upsample_mode m, bool align_corners, int in, int out) {
    taps t = {xmalloc(sizeof(int) * out), xmalloc(sizeof(int) * out), xmalloc(sizeof(float) * out)};
    for (int o = 0; o < out; o++) {
        if (m == UPSAMPLE_NEAREST) {
            t.i0[o] = t.i1[o] = ref_nearest_source(o, in, out);
            t.l1[o] = 0;
        } else {
            ref_linear_taps(align_corners, o, in, out, &t.i0[o], &t.i1[o], &t.l1[o]);
        }
    }
    return t;
}

static void taps_free(taps t) { free(t.i0); free(t.i1); free(t.l1); }

static void bilinear_plane_forward(float *y, const float *x, int w, int oh, int ow, taps ty,
                                   taps tx) {
    // y (OH, OW) from x (H, W), weights formed as the reference forms them
    for (int oy = 0; oy < oh; oy++) {
        float ly = ty.l1[oy];
        const float *r0 = x + (int64_t)ty.i0[oy] * w, *r1 = x + (int64_t)ty.i1[oy] * w;
        float *yr = y + (int64_t)oy * ow;
        for (int ox = 0; ox < ow; ox++) {
            float lx = tx.l1[ox];
            int x0 = tx.i0[ox], x1 = tx.i1[ox];
            float w00 = (1 - ly) * (1 - lx), w01 = (1 - ly) * lx;
            float w10 = ly * (1 - lx), w11 = ly * lx;
            yr[ox] = w00 * r0[x0] + w01 * r0[x1] + w10 * r1[x0] + w11 * r1[x1];
        }
    }
}

static void bilinear_plane_backward(float *dx, const float *dy, int w, int oh, int ow, taps ty,
                                    taps tx) {
    // dx (H, W) += dy (OH, OW) spread over the taps, in the reference's order
    for (int oy = 0; oy < oh; oy++) {
        float ly = ty.l1[oy];
        float *r0 = dx + (int64_t)ty.i0[oy] * w, *r1 = dx + (int64_t)ty.i1[oy] * w;
        const float *g = dy + (int64_t)oy * ow;
        for (int ox = 0; ox < ow; ox++) {
            float lx = tx.l1[ox];
            int x0 = tx.i0[ox], x1 = tx.i1[ox];
            float w00 = (1 - ly) * (1 - lx), w01 = (1 - ly) * lx;
            float w10 = ly * (1 - lx), w11 = ly * lx;
            r0[x0] += w00 * g[ox];
            r0[x1] += w01 * g[ox];
            r1[x0] += w10 * g[ox];
            r1[x1] += w11 * g[ox];
        }
    }
}

void cpu_upsample_forward(upsample_mode m, bool align_corners, float *y, const float *x, int n,
                          int c, int h, int w, int oh, int ow) {
    // y (N, C, OH, OW), x (N, C, H, W)
    taps ty = taps_new(m, align_corners, h, oh), tx = taps_new(m, align_corners, w, ow);
    int64_t planes = (int64_t)n * c, hw = (int64_t)h * w, ohw = (int64_t)oh * ow;
    #pragma omp parallel for schedule(static) if (planes * ohw > PAR_MIN)
    for (int64_t nc = 0; nc < planes; nc++) {
        const float *xp = x + nc * hw;
        float *yp = y + nc * ohw;
        if (m == UPSAMPLE_NEAREST) {
            for (int oy = 0; oy < oh; oy++) {
                const float *xr = xp + (int64_t)ty.i0[oy] * w;
                float *yr = yp + (int64_t)oy * ow;
                if (oy > 0 && ty.i0[oy] == ty.i0[oy - 1]) {  /* same source row: copy */
                    memcpy(yr, yr - ow, sizeof(float) * ow);
                    continue;
                }
                for (int ox = 0; ox < ow; ox++) yr[ox] = xr[tx.i0[ox]];
            }
        } else {
            bilinear_plane_forward(yp, xp, w, oh, ow, ty, tx);
        }
    }
    taps_free(ty);
    taps_free(tx);
}

void cpu_upsample_backward(upsample_mode m, bool align_corners, float *dx, const float *dy,
                           int n, int c, int h, int w, int oh, int ow) {
    // dx (N, C, H, W) += dy (N, C, OH, OW) sent back to the taps of each output
    if (!dx) return;
    taps ty = taps_new(m, align_corners, h, oh), tx = taps_new(m, align_corners, w, ow);
    int64_t planes = (int64_t)n * c, hw = (int64_t)h * w, ohw = (int64_t)oh * ow;
    #pragma omp parallel for schedule(static) if (planes * ohw > PAR_MIN)
    for (int64_t nc = 0; nc < planes; nc++) {
        float *dxp = dx + nc * hw;
        const float *dyp = dy + nc * ohw;
        if (m == UPSAMPLE_NEAREST) {
            for (int oy = 0; oy < oh; oy++) {
                float *r = dxp + (int64_t)ty.i0[oy] * w;
                const float *g = dyp + (int64_t)oy * ow;
                for (int ox = 0; ox < ow; ox++) r[tx.i0[ox]] += g[ox];
            }
        } else {
            bilinear_plane_backward(dxp, dyp, w, oh, ow, ty, tx);
        }
    }
    taps_free(ty);
    taps_free(tx);
}

/* ---- padding ---- */

void cpu_pad_forward(pad_mode m, float *y, const float *x, int n, int c, int h, int w, int top,
                     int bottom, int left, int right) {
    // y (N, C, H + top + bottom, W + left + right), x (N, C, H, W): rows are the border
    // columns around a memcpy of the source row
    int oh = h + top + bottom, ow = w + left + right;
    int *sx = xmalloc(sizeof(int) * ow);
    for (int ox = 0; ox < ow; ox++) sx[ox] = ref_pad_source(m, ox - left, w);
    int64_t planes = (int64_t)n * c, hw = (int64_t)h * w, ohw = (int64_t)oh * ow;
    #pragma omp parallel for schedule(static) if (planes * ohw > PAR_MIN)
    for (int64_t nc = 0; nc < planes; nc++) {
        const float *xp = x + nc * hw;
        float *yp = y + nc * ohw;
        for (int oy = 0; oy < oh; oy++) {
            int iy = ref_pad_source(m, oy - top, h);
            float *yr = yp + (int64_t)oy * ow;
            if (iy < 0) { memset(yr, 0, sizeof(float) * ow); continue; }
            const float *xr = xp + (int64_t)iy * w;
            for (int ox = 0; ox < left; ox++) yr[ox] = sx[ox] < 0 ? 0.0f : xr[sx[ox]];
            memcpy(yr + left, xr, sizeof(float) * w);
            for (int ox = left + w; ox < ow; ox++) yr[ox] = sx[ox] < 0 ? 0.0f : xr[sx[ox]];
        }
    }
    free(sx);
}

void cpu_pad_backward(pad_mode m, float *dx, const float *dy, int n, int c, int h, int w,
                      int top, int bottom, int left, int right) {
    // dx (N, C, H, W) += dy (N, C, OH, OW) at the pixel each padded pixel copied, in the
    // reference's order
    if (!dx) return;
    int oh = h + top + bottom, ow = w + left + right;
    int *sx = xmalloc(sizeof(int) * ow);
    for (int ox = 0; ox < ow; ox++) sx[ox] = ref_pad_source(m, ox - left, w);
    int64_t planes = (int64_t)n * c, hw = (int64_t)h * w, ohw = (int64_t)oh * ow;
    #pragma omp parallel for schedule(static) if (planes * ohw > PAR_MIN)
    for (int64_t nc = 0; nc < planes; nc++) {
        float *dxp = dx + nc * hw;
        const float *dyp = dy + nc * ohw;
        for (int oy = 0; oy < oh; oy++) {
            int iy = ref_pad_source(m, oy - top, h);
            if (iy < 0) continue;
            float *r = dxp + (int64_t)iy * w;
            const float *g = dyp + (int64_t)oy * ow;
            for (int ox = 0; ox < left; ox++) if (sx[ox] >= 0) r[sx[ox]] += g[ox];
            for (int ix = 0; ix < w; ix++) r[ix] += g[left + ix];
            for (int ox = left + w; ox < ow; ox++) if (sx[ox] >= 0) r[sx[ox]] += g[ox];
        }
    }
    free(sx);
}
