/* gif.h: writing animated GIFs (GIF89a), for latent-space walks and training snapshots.
 *
 * Frames are images (image.h) of one size; each is quantised to 8-bit RGB (clamped,
 * rounded to nearest; alpha is ignored) and mapped onto one global 256-colour palette:
 *
 *   palette   If all frames hold at most 256 distinct colours, the palette is exactly those
 *             colours (so such frames round-trip exactly). Otherwise up to 2^18 pixels are
 *             sampled deterministically from all frames (a hashed offset inside each stride,
 *             so regular patterns do not alias), split by median cut (Heckbert 1982: the box
 *             with the largest squared error is cut at the weighted median of its widest
 *             channel) into 256 boxes, and refined by 4 passes of k-means (Lloyd).
 *   mapping   Each pixel takes its nearest palette colour (Euclidean in 8-bit RGB), or with
 *             dither on, Floyd-Steinberg error diffusion (1976; 7/16 3/16 5/16 1/16, left to
 *             right, top to bottom). Both are deterministic: the same frames give the same
 *             bytes.
 *   file      "GIF89a", a logical screen with the global palette, a NETSCAPE2.0 application
 *             extension with the loop count, then per frame a graphic control extension
 *             (the delay, no transparency) and a full-size image with LZW data (minimum code
 *             size 8, codes from 9 to 12 bits, a clear code whenever the table is full);
 *             the trailer 0x3B.
 *
 * gif_write is atomic as image_write is: a temporary file in the target's directory,
 * fsync, rename; a failed write leaves no partial file and an existing target untouched.
 * Errors (no frames, a NULL frame, frames of different sizes, a side outside 1..65535, a
 * delay or loop count outside 0..65535, an unwritable path) return a status with one line
 * in error_message().
 *
 * Example:
 * EXAMPLE_BEGIN
 *   image *frames[4];
 *   for (int f = 0; f < 4; f++) {                        // a colour ramp sliding right
 *       frames[f] = image_new(32, 16, 3);                  // (3, 16, 32)
 *       for (int c = 0; c < 3; c++)
 *           for (int i = 0; i < 16 * 32; i++)
 *               frames[f]->data[c * 512 + i] = (float)((i % 32 + 8 * f + 10 * c) % 32) / 31.0f;
 *   }
 *   gif_opts o = gif_defaults();                         // 5 cs a frame, loop forever, dither
 *   o.delay_cs = 10;
 *   uint8_t *bytes; size_t n;
 *   if (gif_encode(frames, 4, &o, &bytes, &n) != STATUS_OK) return 1;
 *   if (n < 800 || memcmp(bytes, "GIF89a", 6) != 0 || bytes[n - 1] != 0x3B) return 1;
 *   free(bytes);
 *   if (gif_write("example_gif.gif", frames, 4, &o) != STATUS_OK) return 1;
 *   if (gif_write("example_gif.gif", frames, 0, &o) == STATUS_OK) return 1;   // no frames
 *   error_clear();
 *   for (int f = 0; f < 4; f++) image_free(frames[f]);
 *   remove("example_gif.gif");
 * EXAMPLE_END
 */
#ifndef ATELIER_GIF_H
#define ATELIER_GIF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "atelier/error.h"
#include "atelier/image.h"

typedef struct gif_opts {
    int delay_cs;   /* each frame's delay in centiseconds, 0..65535 (browsers slow < 2 to 10) */
    int loop;       /* NETSCAPE2.0 repeat count, 0..65535; 0 loops forever */
    bool dither;    /* Floyd-Steinberg error diffusion; off: nearest colour */
} gif_opts;

/* delay 5 cs (20 frames a second), loop forever, dither on. */
gif_opts gif_defaults(void);

/* The whole file in memory: *out is malloc'd (the caller frees) and *len its size. o may
 * be NULL for the defaults. On failure *out is NULL and *len 0. */
status gif_encode(image *const *frames, int n, const gif_opts *o, uint8_t **out, size_t *len);
/* gif_encode, then an atomic write to path. */
status gif_write(const char *path, image *const *frames, int n, const gif_opts *o);

#endif
