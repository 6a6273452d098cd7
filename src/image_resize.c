/* image_resize.c: separable resizing (see image.h).
 *
 * Each axis gets a table of taps: for every output sample, input indices and weights.
 * Shrinking (out <= in) uses area averaging: output i covers the input interval
 * [i s, (i + 1) s) with s = in / out, and each input sample weighs by the length of its
 * overlap divided by s (an exact box filter with fractional coverage; s = 2 gives the 2x2
 * mean). Enlarging uses Lanczos-3, L(x) = sinc(x) sinc(x / 3) for |x| < 3, centred at
 * (i + 0.5) s - 0.5, edges clamped, weights normalised to sum to 1. The horizontal pass
 * keeps double precision for the vertical one. Colour is premultiplied by alpha while
 * filtering and divided back after; results are clamped to [0, 1] (Lanczos rings).
 */
#include "image_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct taps {
    int n;        /* taps per output sample */
    int *idx;     /* (out, n) input indices, clamped into [0, in) */
    double *w;    /* (out, n) weights; each row sums to 1 */
} taps;

static double lanczos3(double x) {
    if (fabs(x) < 1e-12) return 1.0;
    if (fabs(x) >= 3.0) return 0.0;
    double px = 3.14159265358979323846 * x;
    return 3.0 * sin(px) * sin(px / 3.0) / (px * px);
}

static bool taps_alloc(taps *t, int out, int n) {
    t->n = n;
    t->idx = calloc((size_t)out * n, sizeof(int));
    t->w = calloc((size_t)out * n, sizeof(double));
    return t->idx && t->w;
}

static void taps_free(taps *t) { free(t->idx); free(t->w); }

/* Area averaging, out <= in. */
static bool taps_area(taps *t, int in, int out) {
    double s = (double)in / out;
    if (!taps_alloc(t, out, (int)ceil(s) + 1)) return false;
    for (int i = 0; i < out; i++) {
        double lo = i * s, hi = (i + 1) * s;
        int j0 = (int)floor(lo);
        for (int k = 0; k < t->n; k++) {
            int j = j0 + k;
            double cover = fmin(hi, j + 1.0) - fmax(lo, (double)j);
            t->idx[i * t->n + k] = j < in ? j : in - 1;
            t->w[i * t->n + k] = j < in && cover > 0 ? cover / s : 0.0;
        }
    }
    return true;
}

/* Lanczos-3, out > in. */
static bool taps_lanczos(taps *t, int in, int out) {
    double s = (double)in / out;
    if (!taps_alloc(t, out, 6)) return false;
    for (int i = 0; i < out; i++) {
        double centre = (i + 0.5) * s - 0.5, sum = 0;
        int j0 = (int)floor(centre) - 2;
        for (int k = 0; k < 6; k++) {
            int j = j0 + k;
            double w = lanczos3(j - centre);
            t->idx[i * 6 + k] = j < 0 ? 0 : j >= in ? in - 1 : j;
            t->w[i * 6 + k] = w;
            sum += w;
        }
        for (int k = 0; k < 6; k++) t->w[i * 6 + k] /= sum;
    }
    return true;
}

static bool taps_make(taps *t, int in, int out) {
    memset(t, 0, sizeof *t);
    return out <= in ? taps_area(t, in, out) : taps_lanczos(t, in, out);
}

/* Input sample, colour premultiplied by alpha for RGBA. */
static double sample(const image *im, int ch, int y, int x) {
    size_t plane = (size_t)im->w * im->h, at = (size_t)y * im->w + x;
    double v = im->data[ch * plane + at];
    if (im->c == 4 && ch < 3) v *= im->data[3 * plane + at];
    return v;
}

/* (C, H, W) -> (C, H, ow) in double. */
static void pass_horizontal(const image *im, const taps *tx, int ow, double *mid) {
    for (int ch = 0; ch < im->c; ch++)
        for (int y = 0; y < im->h; y++)
            for (int i = 0; i < ow; i++) {
                double acc = 0;
                for (int k = 0; k < tx->n; k++)
                    acc += tx->w[i * tx->n + k] * sample(im, ch, y, tx->idx[i * tx->n + k]);
                mid[((size_t)ch * im->h + y) * ow + i] = acc;
            }
}

/* (C, H, ow) -> (C, oh, ow), then un-premultiply and clamp. */
static void pass_vertical(const double *mid, int h, const taps *ty, image *out) {
    size_t plane = (size_t)out->w * out->h;
    for (int ch = 0; ch < out->c; ch++)
        for (int j = 0; j < out->h; j++)
            for (int x = 0; x < out->w; x++) {
                double acc = 0;
                for (int k = 0; k < ty->n; k++)
                    acc += ty->w[j * ty->n + k] * mid[((size_t)ch * h + ty->idx[j * ty->n + k]) * out->w + x];
                out->data[ch * plane + (size_t)j * out->w + x] = (float)acc;
            }
    for (size_t i = 0; i < plane * out->c; i++)
        out->data[i] = fminf(fmaxf(out->data[i], 0.0f), 1.0f);
    if (out->c != 4) return;
    for (size_t i = 0; i < plane; i++) {
        float a = out->data[3 * plane + i];
        for (int ch = 0; ch < 3; ch++)
            out->data[ch * plane + i] = a > 1e-6f ? fminf(out->data[ch * plane + i] / a, 1.0f) : 0.0f;
    }
}

image *image_resize(const image *im, int w, int h) {
    if (!im) return NULL;
    if (w < 1 || h < 1 || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE) {
        error_set(STATUS_ARG, "image_resize: bad target size %dx%d", w, h);
        return NULL;
    }
    taps tx, ty;
    bool ok = taps_make(&tx, im->w, w) & taps_make(&ty, im->h, h);
    double *mid = ok ? malloc((size_t)im->c * im->h * w * sizeof(double)) : NULL;
    image *out = mid ? image_new(w, h, im->c) : NULL;
    if (!out) {
        if (error_status() == STATUS_OK) error_set(STATUS_NOMEM, "image_resize: out of memory for %dx%d", w, h);
    } else {
        pass_horizontal(im, &tx, w, mid);
        pass_vertical(mid, im->h, &ty, out);
        for (int i = 0; i < im->ntext && out; i++)
            if (image_text_set(out, im->text[i].key, im->text[i].value) != STATUS_OK) {
                image_free(out);
                out = NULL;
            }
    }
    free(mid);
    taps_free(&tx);
    taps_free(&ty);
    return out;
}

image *image_resize_long_side(const image *im, int size) {
    if (!im) return NULL;
    if (size < 1) {
        error_set(STATUS_ARG, "image_resize_long_side: size %d must be at least 1", size);
        return NULL;
    }
    bool wide = im->w >= im->h;
    long other = lround((double)size * (wide ? im->h : im->w) / (wide ? im->w : im->h));
    if (other < 1) other = 1;
    return wide ? image_resize(im, size, (int)other) : image_resize(im, (int)other, size);
}
