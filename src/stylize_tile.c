/* stylize_tile.c: high resolution in bounded memory. The whole image (already stylised at a
 * lower resolution and upsampled) is refined one overlapping tile at a time: each tile
 * starts from the picture as the tiles before it left it, is optimised against the style's
 * Gram matrices (of the whole style image at full size) and its own content features, and
 * is blended back so that no seam shows:
 * - its weight ramps from 0 at every side it shares with another tile to 1 past the
 *   overlap, so a tile's borders (where the network sees zero padding) never reach the
 *   picture, and the picture stays continuous across both ends of each overlap;
 * - its mean per channel is put back to the mean it started from: the coarse pass over
 *   the whole picture set the tones, the tiles add detail (a sky tile matched alone
 *   against the whole painting's statistics otherwise drifts and shows as a block).
 * Memory: the network on one tile, whatever the output size. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "stylize_internal.h"
#include "tiles_internal.h"

/* Blends tile t (c, th, tw) into full at (y, x) with weights ramping over r[0..3] pixels at
 * its top, bottom, left and right sides (0 where the side is the picture's edge). */
static void blend_tile(planes *full, const tensor *t, int y, int x, const int r[4]) {
    int c = full->c, th = t->shape[2], tw = t->shape[3];
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < th; i++) {
            float wy = tile_ramp(i, th, r[0], r[1]);
            float *dst = full->data + ((int64_t)ch * full->h + y + i) * full->w + x;
            const float *src = t->data + ((int64_t)ch * th + i) * tw;
            for (int j = 0; j < tw; j++) {
                float w = wy * tile_ramp(j, tw, r[2], r[3]);
                dst[j] = dst[j] * (1 - w) + src[j] * w;
            }
        }
}

/* Shifts each channel of t (1, c, h, w) by its mean's drift from `mean` (c values). */
static void keep_means(tensor *t, const double *mean) {
    int c = t->shape[1];
    int64_t n = (int64_t)t->shape[2] * t->shape[3];
    for (int ch = 0; ch < c; ch++) {
        float *d = t->data + ch * n;
        double m = 0;
        for (int64_t k = 0; k < n; k++) m += d[k];
        float shift = (float)(mean[ch] - m / n);
        for (int64_t k = 0; k < n; k++) d[k] += shift;
    }
}

static void plane_means(const planes *p, double *mean) {
    int64_t n = (int64_t)p->h * p->w;
    for (int ch = 0; ch < p->c; ch++) {
        double m = 0;
        for (int64_t k = 0; k < n; k++) m += p->data[ch * n + k];
        mean[ch] = m / n;
    }
}

static status refine_one(stylize_state *s, planes *full, const planes *content, int y, int x, int th, int tw,
                         int iterations) {
    planes *cc = planes_crop(content, y, x, th, tw), *xc = planes_crop(full, y, x, th, tw);
    status st = cc && xc ? STATUS_OK : error_status();
    double mean[4] = {0};
    if (xc) plane_means(xc, mean);
    arena_reset(s->keep);   /* the previous tile's; the style targets are in s->grams */
    if (st == STATUS_OK) st = stylize_content_targets(s, cc);
    if (st == STATUS_OK && !(s->x = planes_tensor(s->keep, xc))) st = error_status();
    planes_free(cc);
    planes_free(xc);
    if (st != STATUS_OK) return st;
    tensor_requires_grad(s->x);
    s->tile_y = y;
    s->tile_x = x;
    st = stylize_optimise(s, iterations);
    if (st == STATUS_OK) keep_means(s->x, mean);
    return st;
}

int stylize_tile_count(int h, int w, int tile) {
    int ys[4096], xs[4096];
    return tile_starts(h, tile, tile / 4, ys, 4096) * tile_starts(w, tile, tile / 4, xs, 4096);
}

status stylize_refine_tiles(stylize_state *s, planes *full, const planes *content, int iterations) {
    int tile = s->o->tile, overlap = tile / 4;
    int ys[4096], xs[4096];
    int ny = tile_starts(full->h, tile, overlap, ys, 4096), nx = tile_starts(full->w, tile, overlap, xs, 4096);
    if (ny > 4096 || nx > 4096) return error_set(STATUS_ARG, "--tile %d: too many tiles for %dx%d", tile, full->w, full->h);
    s->full = full;
    s->tiles = ny * nx;
    status st = STATUS_OK;
    for (int i = 0; st == STATUS_OK && i < ny && !s->stopped; i++)
        for (int j = 0; st == STATUS_OK && j < nx && !s->stopped; j++) {
            int th = full->h < tile ? full->h : tile, tw = full->w < tile ? full->w : tile;
            s->tile = i * nx + j;
            st = refine_one(s, full, content, ys[i], xs[j], th, tw, iterations);
            if (st != STATUS_OK) break;
            int r[4] = {i > 0 ? ys[i - 1] + th - ys[i] : 0, i + 1 < ny ? ys[i] + th - ys[i + 1] : 0,
                        j > 0 ? xs[j - 1] + tw - xs[j] : 0, j + 1 < nx ? xs[j] + tw - xs[j + 1] : 0};
            blend_tile(full, s->x, ys[i], xs[j], r);
            s->x = NULL;
        }
    s->full = NULL;
    return st;
}
