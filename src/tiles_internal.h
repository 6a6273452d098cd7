/* tiles_internal.h: the layout of overlapping tiles and their blending ramps, shared by
 * the two painters that work tile by tile (stylize_tile.c, stylenet/stylenet_paint.c). */
#ifndef ATELIER_TILES_INTERNAL_H
#define ATELIER_TILES_INTERNAL_H
#include <math.h>

/* Tile origins along a side of n pixels: every tile - overlap, the last one flush with the
 * end; at most max (out has room for max). Returns the count. */
static inline int tile_starts(int n, int tile, int overlap, int *out, int max) {
    if (n <= tile) { out[0] = 0; return 1; }
    int k = 0;
    for (int p = 0;; p += tile - overlap) {
        if (p + tile >= n) p = n - tile;
        if (k < max) out[k++] = p;
        if (p + tile >= n) break;
    }
    return k;
}

/* The weight of position i of n along a tile's side: a linear ramp over `lo` pixels at its
 * start and `hi` at its end (0: that side is the picture's edge, no ramp). */
static inline float tile_ramp(int i, int n, int lo, int hi) {
    float w = 1.0f;
    if (lo && i < lo) w = (i + 0.5f) / lo;
    if (hi && n - 1 - i < hi) w = fminf(w, (n - 1 - i + 0.5f) / hi);
    return w;
}

#endif
