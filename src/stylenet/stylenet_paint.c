/* stylenet_paint.c: a photo painted by a fast style network (stylenet.h), whole or, past
 * STYLENET_WHOLE_PIXELS, in overlapping tiles that share one set of instance statistics
 * (those of the whole picture at a size that runs whole), blended with linear ramps over
 * the overlap. Then the strength and the colours. Memory: one tile's activations. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/color.h"
#include "atelier/ops.h"
#include "stylenet_internal.h"
#include "../tiles_internal.h"

#define MIN_SIDE 16

stylenet_paint_opts stylenet_paint_defaults(void) {
    return (stylenet_paint_opts){.strength = 1.0f, .tile = 512, .overlap = 64, .whole_pixels = STYLENET_WHOLE_PIXELS};
}

static status check_opts(const stylenet *m, const stylenet_paint_opts *o) {
    if (!(o->strength >= 0 && o->strength <= 1)) return error_set(STATUS_ARG, "strength %g: want 0 .. 1", o->strength);
    if (o->size && (o->size < MIN_SIDE || o->size > 65536)) return error_set(STATUS_ARG, "size %d: want %d .. 65536", o->size, MIN_SIDE);
    if (o->tile < 128 || o->tile > 8192 || o->tile % 4) return error_set(STATUS_ARG, "tile %d: want a multiple of 4 in 128 .. 8192", o->tile);
    if (o->overlap < 16 || 2 * o->overlap >= o->tile) return error_set(STATUS_ARG, "overlap %d: want 16 .. tile / 2", o->overlap);
    if (o->whole_pixels < 64 * 64) return error_set(STATUS_ARG, "whole_pixels %lld: want at least 4096", (long long)o->whole_pixels);
    if (o->mix) {
        double sum = 0;
        for (int s = 0; s < m->nstyles; s++) {
            if (!(o->mix[s] >= 0) || !isfinite(o->mix[s])) return error_set(STATUS_ARG, "style weights must be >= 0");
            sum += o->mix[s];
        }
        if (!(sum > 0)) return error_set(STATUS_ARG, "the style weights sum to 0");
    }
    return STATUS_OK;
}

/* The network on planes rgb (3, h, w) -> (3, h, w): reflection-padded to multiples of 4,
 * run (with st's statistics when st), cropped back. Into out (3 h w floats). */
static status run_planes(const stylenet *m, arena *a, const float *rgb, int h, int w, tensor *mix, stylenet_stats *st,
                         float *out) {
    int ph = (4 - h % 4) % 4, pw = (4 - w % 4) % 4;
    tensor *x = tensor_from(a, 4, (int[]){1, 3, h, w}, rgb);
    if (x && (ph || pw)) x = op_pad(a, x, h > ph && w > pw ? PAD_REFLECT : PAD_REPLICATE, 0, ph, 0, pw);
    tensor *y = x ? stylenet_forward_stats(m, a, x, mix, st) : NULL;
    if (!y) return error_status();
    int yw = w + pw, yh = h + ph;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < h; i++)
            memcpy(out + ((int64_t)c * h + i) * w, y->data + ((int64_t)c * yh + i) * yw, sizeof(float) * (size_t)w);
    arena_reset(a);
    return STATUS_OK;
}

typedef struct paint_ctx {
    const stylenet *m;
    const stylenet_paint_opts *o;
    arena *a;
    tensor *mix;
} paint_ctx;

/* The statistics of the whole picture rgb (3, h, w), run at up to whole_pixels. */
static status record_stats(paint_ctx *p, const image *photo, int h, int w, stylenet_stats *st) {
    double f = sqrt((double)p->o->whole_pixels / ((double)h * w));
    int sw = (int)(w * f), sh = (int)(h * f);
    if (sw < MIN_SIDE) sw = MIN_SIDE;
    if (sh < MIN_SIDE) sh = MIN_SIDE;
    image *small = image_resize(photo, sw, sh);
    float *out = small ? malloc(sizeof(float) * 3 * (size_t)sw * sh) : NULL;
    status s = !out ? error_set(STATUS_NOMEM, "stylenet: out of memory") : STATUS_OK;
    if (s == STATUS_OK) {
        st->mode = STATS_RECORD;
        s = run_planes(p->m, p->a, small->data, sh, sw, p->mix, st, out);
        st->mode = STATS_USE;
    }
    free(out);
    image_free(small);
    return s;
}

static status paint_tiles(paint_ctx *p, const image *photo, const float *rgb, int h, int w, float *out) {
    const stylenet_paint_opts *o = p->o;
    int ys[4096], xs[4096];
    int ny = tile_starts(h, o->tile, o->overlap, ys, 4096), nx = tile_starts(w, o->tile, o->overlap, xs, 4096);
    int th = h < o->tile ? h : o->tile, tw = w < o->tile ? w : o->tile;
    stylenet_stats st;
    status s = stylenet_stats_alloc(p->m, &st);
    if (s != STATUS_OK) return s;
    float *acc = calloc((size_t)h * w, sizeof(float)), *in = malloc(sizeof(float) * 3 * (size_t)th * tw),
          *y = malloc(sizeof(float) * 3 * (size_t)th * tw);
    if (!acc || !in || !y) s = error_set(STATUS_NOMEM, "stylenet: out of memory for tiles");
    if (s == STATUS_OK) s = record_stats(p, photo, h, w, &st);
    memset(out, 0, sizeof(float) * 3 * (size_t)h * w);
    for (int ty = 0; s == STATUS_OK && ty < ny; ty++)
        for (int tx = 0; s == STATUS_OK && tx < nx; tx++) {
            int y0 = ys[ty], x0 = xs[tx];
            for (int c = 0; c < 3; c++)
                for (int i = 0; i < th; i++)
                    memcpy(in + ((int64_t)c * th + i) * tw, rgb + ((int64_t)c * h + y0 + i) * w + x0, sizeof(float) * (size_t)tw);
            if ((s = run_planes(p->m, p->a, in, th, tw, p->mix, &st, y)) != STATUS_OK) break;
            /* ramps over the overlap with the previous and the next tile on each axis */
            int top = ty ? ys[ty - 1] + th - y0 : 0, bottom = ty + 1 < ny ? y0 + th - ys[ty + 1] : 0;
            int left = tx ? xs[tx - 1] + tw - x0 : 0, right = tx + 1 < nx ? x0 + tw - xs[tx + 1] : 0;
            for (int i = 0; i < th; i++) {
                float wy = tile_ramp(i, th, top, bottom);
                for (int j = 0; j < tw; j++) {
                    float wt = wy * tile_ramp(j, tw, left, right);
                    int64_t q = (int64_t)(y0 + i) * w + x0 + j;
                    acc[q] += wt;
                    for (int c = 0; c < 3; c++) out[(int64_t)c * h * w + q] += wt * y[((int64_t)c * th + i) * tw + j];
                }
            }
            if (o->callback && !o->callback(ty * nx + tx + 1, nx * ny, o->user))
                s = error_set(STATUS_ARG, "stylenet: stopped");
        }
    for (int64_t q = 0; s == STATUS_OK && q < (int64_t)h * w; q++)
        for (int c = 0; c < 3; c++) out[(int64_t)c * h * w + q] /= acc[q] > 0 ? acc[q] : 1.0f;
    free(acc); free(in); free(y);
    stylenet_stats_free(&st);
    return s;
}

image *stylenet_paint(const stylenet *m, const image *photo, const stylenet_paint_opts *o) {
    stylenet_paint_opts d = stylenet_paint_defaults();
    if (!o) o = &d;
    if (check_opts(m, o) != STATUS_OK) return NULL;
    int w = photo->w, h = photo->h;
    if (o->size) {
        double f = (double)o->size / (w > h ? w : h);
        w = (int)lround(w * f);
        h = (int)lround(h * f);
    }
    if (w < MIN_SIDE || h < MIN_SIDE) {
        error_set(STATUS_ARG, "the photo would be %dx%d: at least %dx%d pixels are needed", w, h, MIN_SIDE, MIN_SIDE);
        return NULL;
    }
    image *src = (w == photo->w && h == photo->h) ? image_copy(photo) : image_resize(photo, w, h);
    image *out = src ? image_new(w, h, photo->c) : NULL;
    arena *a = arena_new(4 << 20);
    paint_ctx p = {.m = m, .o = o, .a = a};
    float *mixw = calloc((size_t)m->nstyles, sizeof(float));
    status s = (!out || !a || !mixw) ? error_set(STATUS_NOMEM, "stylenet: out of memory") : STATUS_OK;
    bool was = autograd_set(false);
    if (s == STATUS_OK) {
        double sum = 0;
        for (int k = 0; k < m->nstyles; k++) sum += o->mix ? o->mix[k] : (k == 0);
        for (int k = 0; k < m->nstyles; k++) mixw[k] = (float)((o->mix ? o->mix[k] : (k == 0)) / sum);
        arena *keep = arena_new(1 << 16);
        p.mix = keep ? tensor_from(keep, 2, (int[]){1, m->nstyles}, mixw) : NULL;
        if (!p.mix) s = error_status();
        else if ((int64_t)w * h <= o->whole_pixels) s = run_planes(m, a, src->data, h, w, p.mix, NULL, out->data);
        else s = paint_tiles(&p, src, src->data, h, w, out->data);
        arena_free(keep);
    }
    autograd_set(was);
    int64_t n = (int64_t)w * h;
    if (s == STATUS_OK && o->preserve_colors) {   /* the painting's luminance on the photo's chroma */
        float *y = malloc(sizeof(float) * (size_t)n);
        if (!y) s = error_set(STATUS_NOMEM, "stylenet: out of memory");
        else {
            color_luma(out->data, n, y);
            memcpy(out->data, src->data, sizeof(float) * 3 * (size_t)n);
            color_set_luma(out->data, n, y);
        }
        free(y);
    }
    if (s == STATUS_OK) {
        float k = o->strength;
        for (int64_t i = 0; i < 3 * n; i++) {
            float v = k * out->data[i] + (1 - k) * src->data[i];
            out->data[i] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
        if (photo->c == 4) memcpy(out->data + 3 * n, src->data + 3 * n, sizeof(float) * (size_t)n);
    }
    free(mixw);
    arena_free(a);
    image_free(src);
    if (s != STATUS_OK) { image_free(out); return NULL; }
    return out;
}
