/* flow.c: occlusion masks, warping, the warping error and the temporal blend (flow.h); the
 * flow itself is OpenCV's DIS (flow_cv.cpp), reached through flow_internal.h.
 * Legend: w, h the frame's size; a flow plane and a mask are (h, w), an image (c, h, w). */
#include "atelier/flow.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flow_internal.h"

/* DIS works on patches of 8 px over a pyramid; smaller frames are refused rather than
 * handed to it. */
#define FLOW_MIN_SIDE 16

static status check_image(const char *fn, const char *name, const image *im) {
    if (!im || !im->data) return error_set(STATUS_ARG, "%s: %s is NULL", fn, name);
    if (im->w < 1 || im->h < 1 || im->c < 1)
        return error_set(STATUS_ARG, "%s: %s has a bad size %dx%dx%d", fn, name, im->w, im->h, im->c);
    return STATUS_OK;
}

static status check_field(const char *fn, const char *name, const flow_field *f) {
    if (!f || !f->u || !f->v) return error_set(STATUS_ARG, "%s: %s is NULL or empty", fn, name);
    if (f->w < 1 || f->h < 1)
        return error_set(STATUS_ARG, "%s: %s has a bad size %dx%d", fn, name, f->w, f->h);
    return STATUS_OK;
}

static status check_same(const char *fn, const image *a, const image *b) {
    if (a->w != b->w || a->h != b->h || a->c != b->c)
        return error_set(STATUS_SHAPE, "%s: images of %dx%dx%d and %dx%dx%d differ", fn, a->w,
                         a->h, a->c, b->w, b->h, b->c);
    return STATUS_OK;
}

/* Rec. 601 luma of the first three planes, rounded to 8 bits (what DIS takes). (h, w) */
static void luma8(const image *im, uint8_t *out) {
    size_t n = (size_t)im->w * im->h;
    const float *r = im->data, *g = r + n, *b = g + n;
    for (size_t i = 0; i < n; i++) {
        float y = 0.299f * r[i] + 0.587f * g[i] + 0.114f * b[i];
        y = y < 0 ? 0 : y > 1 ? 1 : y;
        out[i] = (uint8_t)lrintf(y * 255.0f);
    }
}

void flow_field_free(flow_field *f) {
    if (!f) return;
    free(f->u);
    free(f->v);
    memset(f, 0, sizeof *f);
}

status flow_compute_opts(const image *a, const image *b, const flow_opts *o, flow_field *out) {
    if (!out) return error_set(STATUS_ARG, "flow_compute: out is NULL");
    memset(out, 0, sizeof *out);
    status s;
    if ((s = check_image("flow_compute", "a", a)) || (s = check_image("flow_compute", "b", b)))
        return s;
    if (a->w != b->w || a->h != b->h)
        return error_set(STATUS_SHAPE, "flow_compute: frames of %dx%d and %dx%d differ", a->w,
                         a->h, b->w, b->h);
    if (a->c < 3 || b->c < 3)
        return error_set(STATUS_ARG, "flow_compute: frames need 3 or 4 planes, not %d and %d",
                         a->c, b->c);
    if (a->w < FLOW_MIN_SIDE || a->h < FLOW_MIN_SIDE)
        return error_set(STATUS_ARG, "flow_compute: a %dx%d frame is too small (at least %dx%d)",
                         a->w, a->h, FLOW_MIN_SIDE, FLOW_MIN_SIDE);
    int preset = o ? (int)o->preset : FLOW_PRESET_MEDIUM;
    if (preset < FLOW_PRESET_ULTRAFAST || preset > FLOW_PRESET_MEDIUM)
        return error_set(STATUS_ARG, "flow_compute: unknown preset %d", preset);
    size_t n = (size_t)a->w * a->h;
    uint8_t *ga = malloc(n), *gb = malloc(n);
    out->u = malloc(n * sizeof(float));
    out->v = malloc(n * sizeof(float));
    if (!ga || !gb || !out->u || !out->v) {
        s = error_set(STATUS_NOMEM, "flow_compute: out of memory for a %dx%d flow", a->w, a->h);
        goto fail;
    }
    luma8(a, ga);
    luma8(b, gb);
    char err[256] = {0};
    if (flow_cv_dis(ga, gb, a->w, a->h, preset, out->u, out->v, err, sizeof err) != 0) {
        for (char *p = err; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
        s = error_set(STATUS_ARG, "flow_compute: OpenCV DIS failed: %s", err);
        goto fail;
    }
    out->w = a->w;
    out->h = a->h;
    free(ga);
    free(gb);
    return STATUS_OK;
fail:
    free(ga);
    free(gb);
    flow_field_free(out);
    return s;
}

status flow_compute(const image *a, const image *b, flow_field *out) {
    return flow_compute_opts(a, b, NULL, out);
}

/* Bilinear sample of plane p (h, w) at (x, y), borders clamped. */
static float sample(const float *p, int w, int h, float x, float y) {
    x = x < 0 ? 0 : x > w - 1 ? (float)(w - 1) : x;
    y = y < 0 ? 0 : y > h - 1 ? (float)(h - 1) : y;
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    float fx = x - x0, fy = y - y0;
    float top = p[(size_t)y0 * w + x0] + fx * (p[(size_t)y0 * w + x1] - p[(size_t)y0 * w + x0]);
    float bot = p[(size_t)y1 * w + x0] + fx * (p[(size_t)y1 * w + x1] - p[(size_t)y1 * w + x0]);
    return top + fy * (bot - top);
}

/* Keys' cubic convolution weights (a = -0.75, as OpenCV's INTER_CUBIC) of the 4 taps at
 * offsets -1, 0, 1, 2 for a fraction t in [0, 1). They sum to 1 and interpolate. */
static void cubic_weights(float t, float k[4]) {
    const float a = -0.75f;
    float t1 = 1 + t, t2 = 1 - t, t3 = 2 - t;
    k[0] = ((a * t1 - 5 * a) * t1 + 8 * a) * t1 - 4 * a;
    k[1] = ((a + 2) * t - (a + 3)) * t * t + 1;
    k[2] = ((a + 2) * t2 - (a + 3)) * t2 * t2 + 1;
    k[3] = ((a * t3 - 5 * a) * t3 + 8 * a) * t3 - 4 * a;
}

/* Bicubic sample of plane p (h, w) at (x, y): the point clamped into the frame, the taps
 * clamped to the border. */
static float sample_cubic(const float *p, int w, int h, float x, float y) {
    x = x < 0 ? 0 : x > w - 1 ? (float)(w - 1) : x;
    y = y < 0 ? 0 : y > h - 1 ? (float)(h - 1) : y;
    int x0 = (int)x, y0 = (int)y;
    float kx[4], ky[4];
    cubic_weights(x - x0, kx);
    cubic_weights(y - y0, ky);
    int xs[4];
    for (int j = 0; j < 4; j++) {
        int xx = x0 - 1 + j;
        xs[j] = xx < 0 ? 0 : xx > w - 1 ? w - 1 : xx;
    }
    float acc = 0;
    for (int i = 0; i < 4; i++) {
        int yy = y0 - 1 + i;
        const float *row = p + (size_t)(yy < 0 ? 0 : yy > h - 1 ? h - 1 : yy) * w;
        acc += ky[i] * (kx[0] * row[xs[0]] + kx[1] * row[xs[1]] + kx[2] * row[xs[2]] + kx[3] * row[xs[3]]);
    }
    return acc;
}

static status warp_with(const char *fn, const image *src, const flow_field *f, image *out, bool cubic) {
    status s;
    if ((s = check_image(fn, "src", src)) || (s = check_field(fn, "flow", f)) ||
        (s = check_image(fn, "out", out)))
        return s;
    if (f->w != src->w || f->h != src->h)
        return error_set(STATUS_SHAPE, "%s: a %dx%d flow for a %dx%d image", fn, f->w, f->h,
                         src->w, src->h);
    if ((s = check_same(fn, src, out))) return s;
    if (out == src || out->data == src->data)
        return error_set(STATUS_ARG, "%s: out must not be src", fn);
    int w = src->w, h = src->h;
    size_t n = (size_t)w * h;
    for (int c = 0; c < src->c; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                size_t i = (size_t)y * w + x;
                const float *p = src->data + c * n;
                float sx = x + f->u[i], sy = y + f->v[i];
                out->data[c * n + i] = cubic ? sample_cubic(p, w, h, sx, sy) : sample(p, w, h, sx, sy);
            }
    return STATUS_OK;
}

status flow_warp(const image *src, const flow_field *f, image *out) {
    return warp_with("flow_warp", src, f, out, false);
}

status flow_warp_cubic(const image *src, const flow_field *f, image *out) {
    return warp_with("flow_warp_cubic", src, f, out, true);
}

/* |grad u|^2 + |grad v|^2 at (x, y): central differences, one-sided at the border. */
static float grad_sq(const flow_field *f, int x, int y) {
    int w = f->w, h = f->h;
    int xl = x > 0 ? x - 1 : x, xr = x < w - 1 ? x + 1 : x;
    int yu = y > 0 ? y - 1 : y, yd = y < h - 1 ? y + 1 : y;
    float dx = xr > xl ? (float)(xr - xl) : 1, dy = yd > yu ? (float)(yd - yu) : 1;
    float ux = (f->u[(size_t)y * w + xr] - f->u[(size_t)y * w + xl]) / dx;
    float vx = (f->v[(size_t)y * w + xr] - f->v[(size_t)y * w + xl]) / dx;
    float uy = (f->u[(size_t)yd * w + x] - f->u[(size_t)yu * w + x]) / dy;
    float vy = (f->v[(size_t)yd * w + x] - f->v[(size_t)yu * w + x]) / dy;
    return ux * ux + uy * uy + vx * vx + vy * vy;
}

status flow_occlusion(const flow_field *fwd, const flow_field *bwd, float *mask) {
    status s;
    if ((s = check_field("flow_occlusion", "fwd", fwd)) ||
        (s = check_field("flow_occlusion", "bwd", bwd)))
        return s;
    if (!mask) return error_set(STATUS_ARG, "flow_occlusion: mask is NULL");
    if (fwd->w != bwd->w || fwd->h != bwd->h)
        return error_set(STATUS_SHAPE, "flow_occlusion: flows of %dx%d and %dx%d differ", fwd->w,
                         fwd->h, bwd->w, bwd->h);
    int w = fwd->w, h = fwd->h;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            float u = fwd->u[i], v = fwd->v[i];
            float tx = x + u, ty = y + v;
            if (!(tx >= 0 && tx <= w - 1 && ty >= 0 && ty <= h - 1)) {  /* also NaN */
                mask[i] = 0;
                continue;
            }
            float bu = sample(bwd->u, w, h, tx, ty), bv = sample(bwd->v, w, h, tx, ty);
            float su = u + bu, sv = v + bv;
            float ww = u * u + v * v, bb = bu * bu + bv * bv;
            int occluded = su * su + sv * sv > 0.01f * (ww + bb) + 0.5f;
            int boundary = grad_sq(fwd, x, y) > 0.01f * ww + 0.002f;
            mask[i] = occluded || boundary ? 0.0f : 1.0f;
        }
    return STATUS_OK;
}

status flow_pair_compute(const image *a, const image *b, flow_field *fwd, flow_field *bwd,
                         float *mask) {
    if (!fwd || !mask) return error_set(STATUS_ARG, "flow_pair_compute: fwd or mask is NULL");
    flow_field back = {0};
    status s = flow_compute(a, b, fwd);
    if (!s) s = flow_compute(b, a, &back);
    if (!s) s = flow_occlusion(fwd, &back, mask);
    if (s) {
        flow_field_free(fwd);
        flow_field_free(&back);
        if (bwd) memset(bwd, 0, sizeof *bwd);
        return s;
    }
    if (bwd) *bwd = back;
    else flow_field_free(&back);
    return STATUS_OK;
}

/* One pair's term: sum_x m(x) ||cur(x) - next(x + w(x))||^2 / sum_x m(x), over the first 3
 * planes; over every pixel when the mask is all zero. */
static status pair_error(const image *cur, const image *next, const flow_field *f,
                         const float *mask, double *out) {
    const char *fn = "flow_warping_error";
    status s;
    if ((s = check_image(fn, "a frame", cur)) || (s = check_image(fn, "a frame", next)) ||
        (s = check_field(fn, "a flow", f)))
        return s;
    if (!mask) return error_set(STATUS_ARG, "%s: a mask is NULL", fn);
    if ((s = check_same(fn, cur, next))) return s;
    if (cur->c < 3) return error_set(STATUS_ARG, "%s: frames need 3 planes, not %d", fn, cur->c);
    if (f->w != cur->w || f->h != cur->h)
        return error_set(STATUS_SHAPE, "%s: a %dx%d flow for %dx%d frames", fn, f->w, f->h,
                         cur->w, cur->h);
    int w = cur->w, h = cur->h;
    size_t n = (size_t)w * h;
    double num = 0, den = 0, all = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            double d2 = 0;
            for (int c = 0; c < 3; c++) {
                float p = sample(next->data + c * n, w, h, x + f->u[i], y + f->v[i]);
                double d = cur->data[c * n + i] - p;
                d2 += d * d;
            }
            num += mask[i] * d2;
            den += mask[i];
            all += d2;
        }
    *out = den > 0 ? num / den : all / (double)n;
    return STATUS_OK;
}

void flow_werr_init(flow_werr *e) {
    if (e) memset(e, 0, sizeof *e);
}

status flow_werr_add(flow_werr *e, const image *cur, const image *next, const flow_field *fwd,
                     const float *mask) {
    if (!e) return error_set(STATUS_ARG, "flow_werr_add: accumulator is NULL");
    double term = 0;
    status s = pair_error(cur, next, fwd, mask, &term);
    if (s) return s;
    e->sum += term;
    e->pairs++;
    return STATUS_OK;
}

status flow_werr_add_floor(flow_werr *e, const image *cur, const flow_field *fwd,
                           const flow_field *bwd, const float *mask) {
    if (!e) return error_set(STATUS_ARG, "flow_werr_add_floor: accumulator is NULL");
    status s;
    if ((s = check_image("flow_werr_add_floor", "cur", cur))) return s;
    image *carried = image_new(cur->w, cur->h, cur->c);
    if (!carried) return error_set(STATUS_NOMEM, "flow_werr_add_floor: out of memory");
    s = flow_warp(cur, bwd, carried);
    if (!s) s = flow_werr_add(e, cur, carried, fwd, mask);
    image_free(carried);
    return s;
}

double flow_werr_value(const flow_werr *e) {
    return e && e->pairs > 0 ? e->sum / e->pairs : 0.0;
}

status flow_warping_error(const image *const *frames, int n, const flow_field *fwd,
                          const float *const *masks, double *out) {
    if (!frames || !fwd || !masks || !out)
        return error_set(STATUS_ARG, "flow_warping_error: NULL argument");
    if (n < 2) return error_set(STATUS_ARG, "flow_warping_error: %d frames (at least 2)", n);
    flow_werr e;
    flow_werr_init(&e);
    for (int t = 0; t + 1 < n; t++) {
        status s = flow_werr_add(&e, frames[t], frames[t + 1], &fwd[t], masks[t]);
        if (s) return s;
    }
    *out = flow_werr_value(&e);
    return STATUS_OK;
}

status flow_blend(const image *s, const image *warped_prev, const float *mask, float weight,
                  image *out) {
    status st;
    if ((st = check_image("flow_blend", "s", s)) ||
        (st = check_image("flow_blend", "warped_prev", warped_prev)) ||
        (st = check_image("flow_blend", "out", out)))
        return st;
    if (!mask) return error_set(STATUS_ARG, "flow_blend: mask is NULL");
    if ((st = check_same("flow_blend", s, warped_prev)) || (st = check_same("flow_blend", s, out)))
        return st;
    if (!(weight >= 0 && weight <= 1))
        return error_set(STATUS_ARG, "flow_blend: weight %g is outside [0, 1]", weight);
    size_t n = (size_t)s->w * s->h;
    for (int c = 0; c < s->c; c++)
        for (size_t i = 0; i < n; i++) {
            float a = s->data[c * n + i], p = warped_prev->data[c * n + i];
            out->data[c * n + i] = a + weight * mask[i] * (p - a);
        }
    return STATUS_OK;
}
