/* color.h: colour statistics and colour transfer for style transfer.
 *
 * Pixels are planar float RGB (3, N) in [0, 1], as image.h lays them out (alpha, when there
 * is a 4th plane, is left alone by every function here).
 *
 *   luminance       Y = 0.299 R + 0.587 G + 0.114 B (BT.601), with the chroma of YIQ:
 *                   I = 0.596 R - 0.274 G - 0.322 B, Q = 0.211 R - 0.523 G + 0.312 B.
 *                   color_set_luma replaces an image's Y and keeps its I and Q: Gatys et
 *                   al.'s "luminance-only transfer" that keeps the photo's colours.
 *   colour transfer color_transfer maps pixels whose mean and covariance are `from` onto
 *                   `to`: x' = A (x - mu_from) + mu_to with A = C_to^(1/2) C_from^(-1/2)
 *                   (symmetric square roots, eigenvalues floored at 1e-4 so flat images do
 *                   not blow up). The result has exactly `to`'s mean and covariance (up to
 *                   the floor), before clamping to [0, 1].
 *
 * Example:
 * EXAMPLE_BEGIN
 *   float px[3 * 4] = {0.1f, 0.2f, 0.3f, 0.4f,   0.5f, 0.5f, 0.6f, 0.6f,   0.9f, 0.7f, 0.8f, 0.6f};
 *   float ref[3 * 4] = {0.8f, 0.6f, 0.7f, 0.9f,  0.2f, 0.1f, 0.3f, 0.2f,   0.1f, 0.3f, 0.2f, 0.1f};
 *   color_stats from = color_stats_compute(px, 4), to = color_stats_compute(ref, 4);
 *   color_transfer(px, 4, &from, &to, false);                // px now has ref's mean and covariance
 *   color_stats now = color_stats_compute(px, 4);
 *   for (int c = 0; c < 3; c++) if (fabs(now.mean[c] - to.mean[c]) > 1e-5) return 1;
 *   float y[4];
 *   color_luma(px, 4, y);                                   // (4) luminance
 *   color_set_luma(px, 4, (const float[]){0.5f, 0.5f, 0.5f, 0.5f});
 *   color_luma(px, 4, y);
 *   if (fabsf(y[2] - 0.5f) > 1e-5f) return 1;
 * EXAMPLE_END
 */
#ifndef ATELIER_COLOR_H
#define ATELIER_COLOR_H
#include <stdbool.h>
#include <stdint.h>

typedef struct color_stats {
    double mean[3];      /* R, G, B */
    double cov[3][3];    /* population covariance */
} color_stats;

/* rgb (3, n) planar */
color_stats color_stats_compute(const float *rgb, int64_t n);
/* A blend of several images' statistics: weights w (k), summing to 1; the mixture's mean
 * and covariance (each component's covariance plus the spread of the means). */
color_stats color_stats_blend(const color_stats *s, const float *w, int k);
/* In place; clamp: clip the result to [0, 1]. */
void color_transfer(float *rgb, int64_t n, const color_stats *from, const color_stats *to, bool clamp);
void color_luma(const float *rgb, int64_t n, float *y);               /* y (n) */
void color_set_luma(float *rgb, int64_t n, const float *y);           /* keeps I, Q; clamps */
/* Shifts and scales y (n) to the given mean and standard deviation (of another luminance). */
void color_match_luma(float *y, int64_t n, double mean, double std);
void color_luma_stats(const float *y, int64_t n, double *mean, double *std);

#endif
