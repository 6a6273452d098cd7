/* image.h: reading, writing and resizing images (PNG, JPEG, WebP).
 *
 * An image is planar float32 in [0, 1], laid out (C, H, W) so that it maps onto a tensor
 * (1, C, H, W) without reshuffling. C is 3 (RGB) or 4 (RGBA, alpha straight, not
 * premultiplied, as the 4th plane). Grey, grey+alpha and palette files expand to RGB(A).
 *
 * Reading sniffs the format from the file's first bytes, never from its name: PNG (1, 2, 4,
 * 8 and 16 bit; grey, grey+alpha, RGB, RGBA, palette with or without tRNS), JPEG (grey,
 * RGB, CMYK; the EXIF Orientation tag is applied, all 8 values) and WebP (lossy or
 * lossless, with alpha). The pixel count is checked against a limit from the header,
 * before any pixel memory is allocated (decompression bombs). A malformed or truncated
 * file is refused with one line naming the file and the problem (error.h); it never
 * crashes and the libraries print nothing.
 *
 * Hostile input: what reading a file of n bytes may cost. Memory: at most 24 bytes per
 * pixel (the float planes, with the codec's 8/16-bit rows or JPEG coefficients), allocated
 * only once the size is within image_read_opts.max_pixels (100 megapixels by default,
 * hence 2.4 GB at most), plus the libraries' working rows (a few rows of the image), plus
 * about 8n + 48 MB for the rest (the file, text, libpng's heap, capped at 16 MB + 2n).
 * Time: linear in n plus the pixels; a progressive JPEG makes one pass over its
 * coefficients per scan, and more than IMAGE_MAX_JPEG_SCANS scans are refused. A file that
 * claims more than it holds (a chunk length past its end; 10000x10000 pixels in 700 bytes
 * of JPEG or in a short run of PNG image data) is refused before anything is sized from
 * the claim, and decoding stops at the first damaged or missing data instead of making up
 * the rest. Files that really do make a large image from few bytes (a flat PNG compresses
 * 1000:1, arithmetic-coded JPEG and lossless WebP further) are bounded by the pixel limit
 * alone: lower max_pixels where a file's size must bound its cost. Two known exceptions,
 * both in WebP, where a flat picture can legitimately be a few bytes: its 8-bit output
 * (3 or 4 bytes a pixel, within the pixel limit) is reserved from the header's size before
 * libwebp has decoded, so a 70-byte file claiming 10000x10000 reserves 300 MB of address
 * space (untouched: the resident memory stays small, and the decode fails at once); and
 * libwebp 1.2 builds about 5 KB of tables (12 KB of address space) for each prefix-code
 * group a lossless file uses, up to 65536 groups: 300 KB of file can cost 370 MB.
 *
 * Writing chooses the format by the extension (.png .jpg .jpeg .webp, any case; others are
 * refused). PNG keeps alpha, 8 bit (default) or 16 bit; WebP keeps alpha, lossy (default)
 * or lossless; JPEG has no alpha channel, so an RGBA image is written with its alpha
 * dropped (composite it yourself first if you want a background). Values outside [0, 1]
 * are clamped. Writing is atomic: a temporary file in the target's directory, fsync,
 * rename. A failed write leaves no partial file and an existing target untouched.
 *
 * Text metadata: key/value pairs carried by the image (image_text_set/get). Keys are 1 to
 * 79 characters of [A-Za-z0-9_.-] starting with a letter or '_'; values are UTF-8 text
 * without NUL. Stored as PNG tEXt (ASCII values) or iTXt chunks; as one JPEG COM marker
 * "key=value" per pair; as WebP XMP: <atelier:key>value</atelier:key> elements inside the
 * packet's rdf:Description. Each reads back as written. Reading also collects the PNG text
 * chunks and JPEG comments of other programs (a comment without '=' gets the key "comment").
 *
 * Resizing (image_resize) is separable and per axis: area averaging (an exact box filter
 * with fractional coverage) where the axis shrinks, Lanczos-3 where it grows. Colour is
 * premultiplied by alpha while filtering, so transparent pixels do not bleed.
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include "atelier/tensor.h"
 * EXAMPLE_BEGIN
 *   image *im = image_new(64, 48, 3);                    // (3, 48, 64), zeros
 *   for (int i = 0; i < 3 * 48 * 64; i++) im->data[i] = (float)(i % 64) / 63.0f;
 *   if (image_text_set(im, "prompt", "a gradient") != STATUS_OK) return 1;
 *   if (image_write("example_image.png", im, NULL) != STATUS_OK) return 1;
 *   image *back = image_read("example_image.png", NULL);
 *   if (!back) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   if (back->w != 64 || back->h != 48 || back->c != 3) return 1;
 *   if (fabsf(back->data[5] - im->data[5]) > 0.5f / 255) return 1;   // 8-bit quantisation
 *   if (strcmp(image_text_get(back, "prompt"), "a gradient") != 0) return 1;
 *   image *small = image_resize_long_side(back, 32);     // 32x24: the 2x2 means
 *   if (!small || small->w != 32 || small->h != 24) return 1;
 *   arena *a = arena_new(1 << 16);
 *   tensor *t = image_to_tensor(a, small);               // (1, 3, 24, 32)
 *   if (!t || t->shape[1] != 3 || t->shape[3] != 32) return 1;
 *   if (image_write("example_image.gif", im, NULL) == STATUS_OK) return 1;  // refused
 *   error_clear();
 *   image_free(small); image_free(back); image_free(im); arena_free(a);
 *   remove("example_image.png");
 * EXAMPLE_END
 */
#ifndef ATELIER_IMAGE_H
#define ATELIER_IMAGE_H
#include <stdbool.h>
#include <stdint.h>
#include "atelier/arena.h"
#include "atelier/error.h"
#include "atelier/tensor.h"

#define IMAGE_DEFAULT_MAX_PIXELS ((int64_t)100 * 1000 * 1000)  /* 100 megapixels */
#define IMAGE_DEFAULT_QUALITY 92
#define IMAGE_MAX_SIDE (1 << 20)      /* no side may exceed this, whatever the limit */
#define IMAGE_MAX_JPEG_SCANS 100      /* a progressive JPEG with more scans is refused */

typedef struct image_text {
    char *key;
    char *value;
} image_text;

typedef struct image {
    int w, h, c;          /* c is 3 (RGB) or 4 (RGBA) */
    float *data;          /* (C, H, W) planar, in [0, 1] */
    image_text *text;     /* (ntext) metadata, owned by the image */
    int ntext;
} image;

typedef struct image_read_opts {
    int64_t max_pixels;   /* refuse files with more pixels than this; 0: 100 megapixels */
} image_read_opts;

typedef struct image_write_opts {
    int quality;          /* JPEG and lossy WebP, 1..100; 0: 92 */
    int png_bit_depth;    /* 8 or 16; 0: 8 */
    bool webp_lossless;   /* false: lossy WebP at `quality` */
} image_write_opts;

/* A new image of zeros, no text; NULL (and error_set) on bad sizes or out of memory. */
image *image_new(int w, int h, int c);
void image_free(image *im);  /* NULL is fine */
image *image_copy(const image *im);  /* pixels and text */

/* Read a PNG, JPEG or WebP file; o may be NULL for the defaults. NULL on failure. */
image *image_read(const char *path, const image_read_opts *o);
/* Write by extension; o may be NULL for the defaults. Writes im's text metadata. */
status image_write(const char *path, const image *im, const image_write_opts *o);

/* Text metadata: set replaces an existing key; get returns NULL when the key is absent. */
status image_text_set(image *im, const char *key, const char *value);
const char *image_text_get(const image *im, const char *key);

/* Resizing; a new image, NULL on failure. w, h >= 1. */
image *image_resize(const image *im, int w, int h);
/* The longer side becomes `size`, the other keeps the aspect ratio (rounded, at least 1). */
image *image_resize_long_side(const image *im, int size);

/* Tensors: image_to_tensor copies into a new (1, C, H, W) tensor in arena a (no text).
 * image_from_tensor accepts (1, C, H, W) or (C, H, W) with C 3 or 4 and copies the values
 * as they are (image_write clamps). */
tensor *image_to_tensor(arena *a, const image *im);
image *image_from_tensor(const tensor *t);

#endif
