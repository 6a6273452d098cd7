/* image_internal.h: what the image modules share (see image.h).
 *
 * image.c reads a file whole and sniffs its format; each codec file decodes from memory
 * and encodes to an open FILE (the temporary file of an atomic write). Decoders check the
 * size from the header with image_check_size before allocating pixels, and check that the
 * file holds the data its headers claim before sizing anything from them (image.h,
 * "Hostile input"; each codec file's opening comment says how).
 */
#ifndef ATELIER_IMAGE_INTERNAL_H
#define ATELIER_IMAGE_INTERNAL_H
#include <stddef.h>
#include <stdio.h>
#include "atelier/image.h"

/* Decoders: path is for messages only. NULL (and error_set) on failure. */
image *image_png_decode(const char *path, const unsigned char *buf, size_t n, int64_t max_pixels);
image *image_jpeg_decode(const char *path, const unsigned char *buf, size_t n, int64_t max_pixels);
image *image_webp_decode(const char *path, const unsigned char *buf, size_t n, int64_t max_pixels);

/* Encoders write the whole file to f (opts already defaulted and checked). */
status image_png_encode(const char *path, FILE *f, const image *im, const image_write_opts *o);
status image_jpeg_encode(const char *path, FILE *f, const image *im, const image_write_opts *o);
status image_webp_encode(const char *path, FILE *f, const image *im, const image_write_opts *o);

/* STATUS_OK when w x h is a sane size within max_pixels, else error_set naming path and fmt. */
status image_check_size(const char *path, const char *fmt, int64_t w, int64_t h, int64_t max_pixels);
/* Applies EXIF orientation 1..8 (TIFF/EXIF 2.3, tag 0x0112) in place: may swap w and h. */
status image_orient(image *im, int orientation);
/* The EXIF Orientation in an APP1 payload ("Exif\0\0" + TIFF), or 1 when absent/unreadable. */
int image_exif_orientation(const unsigned char *p, size_t n);

/* Keys of image.h's rule: 1-79 of [A-Za-z0-9_.-], starting with a letter or '_'. */
bool image_text_key_valid(const char *key);

/* 8/16-bit quantisation of a value in [0, 1] (clamped, rounded to nearest). */
static inline unsigned image_quant(float v, unsigned maxv) {
    if (!(v > 0.0f)) return 0;   /* also NaN */
    if (v >= 1.0f) return maxv;
    return (unsigned)(v * (float)maxv + 0.5f);
}

#endif
