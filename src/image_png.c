/* image_png.c: PNG through libpng, decoding from memory and encoding to a FILE.
 *
 * libpng reports errors by longjmp from its error callback; ours records the message and
 * jumps back to the setjmp in the caller, so a corrupt file becomes one error_set line,
 * and warnings are dropped (the library prints nothing). Every transform is asked of
 * libpng: palette and tRNS expand to RGB(A), grey to RGB, 1/2/4-bit to 8; 16-bit samples
 * arrive big-endian and are scaled by 1/65535.
 *
 * Hostile files (image.h). libpng 1.6 takes a chunk length past the end of the data for a
 * warning ("chunk data is too large") and allocates and zeroes it before it finds the file
 * cut, so before libpng starts, png_check_chunks walks the chunks in memory and refuses a
 * length that overruns the file; the IDAT bytes it counts must be able to inflate to the
 * image (deflate packs at most 1032 bytes into one). Everything libpng allocates itself
 * (text, profiles, zlib state, its row buffers) comes from png_heap_alloc, within a budget
 * of PNG_HEAP_BASE + 2 bytes per byte of file + 32 per pixel of width: past it, libpng
 * drops the chunk (zTXt/iTXt that inflate to megabytes) or fails the read.
 */
#include "image_internal.h"
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#define PNG_HEAP_BASE ((size_t)16 << 20)  /* libpng's own memory beyond 2n + 32w bytes */
#define PNG_DEFLATE_MAX_RATIO 1032        /* 258 bytes per 2-bit match (RFC 1951) */

typedef struct png_ctx {
    const unsigned char *p;  /* decoding: the file in memory */
    size_t n, pos;
    size_t heap, heap_max;   /* libpng's live allocations and their budget */
    size_t refused;          /* the first allocation refused for the budget, 0 if none */
    char msg[200];           /* libpng's last error */
} png_ctx;

/* libpng's allocator: malloc with a size header, so that the live total can be kept. */
typedef union png_block { size_t size; max_align_t align; } png_block;

static png_voidp png_heap_alloc(png_structp png, png_alloc_size_t size) {
    png_ctx *c = png_get_mem_ptr(png);
    if (size > c->heap_max - c->heap) {
        if (!c->refused) c->refused = size;
        return NULL;
    }
    png_block *b = malloc(sizeof *b + size);
    if (!b) return NULL;
    b->size = size;
    c->heap += size;
    return b + 1;
}

static void png_heap_free(png_structp png, png_voidp p) {
    png_ctx *c = png_get_mem_ptr(png);
    png_block *b = (png_block *)p - 1;
    c->heap -= b->size;
    free(b);
}

static uint32_t png_be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Every chunk up to IEND must fit in the file (a chunk is length, type, data, CRC). Counts
 * the IDAT bytes. A file that ends between chunks is left to libpng (it says truncated). */
static status png_check_chunks(const char *path, const unsigned char *buf, size_t n, uint64_t *idat) {
    *idat = 0;
    for (size_t pos = 8; n - pos >= 8; ) {
        uint32_t len = png_be32(buf + pos);
        const unsigned char *t = buf + pos + 4;
        char type[5] = "?";
        bool named = true;
        for (int i = 0; i < 4; i++) named = named && ((t[i] | 0x20) >= 'a' && (t[i] | 0x20) <= 'z');
        if (named) { memcpy(type, t, 4); type[4] = 0; }
        if (len > n - pos - 8 || n - pos - 8 - len < 4)
            return error_set(STATUS_FORMAT, "%s: corrupt PNG: the %s chunk at byte %zu claims %u bytes, "
                             "only %zu remain (truncated file)", path, type, pos, len, n - pos - 8);
        if (memcmp(t, "IDAT", 4) == 0) *idat += len;
        if (memcmp(t, "IEND", 4) == 0) break;
        pos += 12 + (size_t)len;
    }
    return STATUS_OK;
}

static void png_on_error(png_structp png, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png; (void)msg;    /* warnings (bad ancillary chunks) are not failures: stay quiet */
}

static void png_read_mem(png_structp png, png_bytep out, size_t len) {
    png_ctx *c = png_get_io_ptr(png);
    if (len > c->n - c->pos) png_error(png, "unexpected end of file (truncated)");
    memcpy(out, c->p + c->pos, len);
    c->pos += len;
}

/* tEXt/zTXt are Latin-1: re-encode as UTF-8 (at most twice as long). */
static char *latin1_to_utf8(const char *s) {
    char *out = malloc(2 * strlen(s) + 1), *o = out;
    if (!out) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x80) *o++ = (char)*p;
        else { *o++ = (char)(0xc0 | (*p >> 6)); *o++ = (char)(0x80 | (*p & 0x3f)); }
    }
    *o = 0;
    return out;
}

/* Keeps the text chunks whose keys are valid image.h keys; others are ignored. */
static void png_collect_text(png_structp png, png_infop info, image *im) {
    png_textp text = NULL;
    int n = 0;
    png_get_text(png, info, &text, &n);
    for (int i = 0; i < n; i++) {
        bool latin1 = text[i].compression == PNG_TEXT_COMPRESSION_NONE ||
                      text[i].compression == PNG_TEXT_COMPRESSION_zTXt;
        if (!image_text_key_valid(text[i].key)) continue;
        char *v = latin1 ? latin1_to_utf8(text[i].text) : NULL;
        image_text_set(im, text[i].key, v ? v : text[i].text);
        free(v);
    }
}

/* Interleaved rows (8 or 16 bit) to planar floats. */
static void png_rows_to_planes(image *im, png_bytep *rows, int depth) {
    size_t plane = (size_t)im->w * im->h;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++)
            for (int ch = 0; ch < im->c; ch++) {
                size_t k = (size_t)x * im->c + ch;
                float v = depth == 16 ? (float)((rows[y][2 * k] << 8) | rows[y][2 * k + 1]) / 65535.0f
                                      : (float)rows[y][k] / 255.0f;
                im->data[ch * plane + (size_t)y * im->w + x] = v;
            }
}

/* Asks libpng for RGB or RGBA, 8 or 16 bit, de-interlaced; returns the row size. */
static size_t png_set_transforms(png_structp png, png_infop info, int *c, int *depth) {
    png_set_expand(png);          /* palette -> RGB, tRNS -> alpha, low bit depths -> 8 */
    png_set_gray_to_rgb(png);
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);
    *c = png_get_channels(png, info);
    *depth = png_get_bit_depth(png, info);
    if ((*c != 3 && *c != 4) || (*depth != 8 && *depth != 16)) png_error(png, "unexpected layout");
    return png_get_rowbytes(png, info);
}

/* After png_read_info: the IDAT bytes must be able to inflate to the image's rows (at
 * least rowbytes per row, whether interlaced or not), else the file is refused before its
 * pixels are allocated. Then the heap budget grows by libpng's row buffers. */
static status png_check_data(const char *path, png_structp png, png_infop info, png_ctx *c, uint64_t idat) {
    uint32_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    uint64_t need = (uint64_t)png_get_rowbytes(png, info) * h / PNG_DEFLATE_MAX_RATIO;
    if (idat < need)
        return error_set(STATUS_FORMAT, "%s: corrupt PNG: %ux%u needs at least %llu bytes of compressed "
                         "image data, the file has %llu (truncated?)", path, w, h,
                         (unsigned long long)need, (unsigned long long)idat);
    c->heap_max += (size_t)32 * (w + 64);
    return STATUS_OK;
}

image *image_png_decode(const char *path, const unsigned char *buf, size_t n, int64_t max_pixels) {
    uint64_t idat;
    if (png_check_chunks(path, buf, n, &idat) != STATUS_OK) return NULL;
    png_ctx ctx = {.p = buf, .n = n, .heap_max = PNG_HEAP_BASE + 2 * n};
    png_structp png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &ctx, png_on_error, png_on_warning,
                                               &ctx, png_heap_alloc, png_heap_free);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        error_set(STATUS_NOMEM, "%s: out of memory starting libpng", path);
        return NULL;
    }
    image *volatile im = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        if (ctx.refused && strstr(ctx.msg, "memory"))   /* libpng's "Out of memory" */
            error_set(STATUS_FORMAT, "%s: PNG refused: libpng needs more than its budget of %zu MB",
                      path, ctx.heap_max >> 20);
        else
            error_set(STATUS_FORMAT, "%s: corrupt PNG: %s", path, ctx.msg);
        goto fail;
    }
    png_set_read_fn(png, &ctx, png_read_mem);
    png_read_info(png, info);
    uint32_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (image_check_size(path, "PNG", w, h, max_pixels) != STATUS_OK) goto fail;
    if (png_check_data(path, png, info, &ctx, idat) != STATUS_OK) goto fail;
    int c, depth;
    size_t rowbytes = png_set_transforms(png, info, &c, &depth);
    rows = calloc(h, sizeof(png_bytep));
    if (!rows || !(rows[0] = malloc(rowbytes * h))) {
        error_set(STATUS_NOMEM, "%s: out of memory for %ux%u pixels", path, w, h);
        goto fail;
    }
    for (uint32_t y = 1; y < h; y++) rows[y] = rows[0] + y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, info);      /* text chunks after the image data land in info too */
    im = image_new((int)w, (int)h, c);   /* only now that the data has filled the rows */
    if (!im) {
        error_set(STATUS_NOMEM, "%s: out of memory for %ux%u pixels", path, w, h);
        goto fail;
    }
    png_rows_to_planes(im, rows, depth);
    png_collect_text(png, info, im);
    free(rows[0]); free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return im;
fail:
    if (rows) free(rows[0]);
    free(rows);
    image_free(im);
    png_destroy_read_struct(&png, &info, NULL);
    return NULL;
}

/* One row of planar floats to interleaved 8- or 16-bit (big-endian) samples. */
static void png_plane_row(const image *im, int y, int depth, png_bytep row) {
    size_t plane = (size_t)im->w * im->h;
    for (int x = 0; x < im->w; x++)
        for (int ch = 0; ch < im->c; ch++) {
            float v = im->data[ch * plane + (size_t)y * im->w + x];
            size_t k = (size_t)x * im->c + ch;
            if (depth == 16) {
                unsigned q = image_quant(v, 65535);
                row[2 * k] = (png_byte)(q >> 8);
                row[2 * k + 1] = (png_byte)(q & 0xff);
            } else row[k] = (png_byte)image_quant(v, 255);
        }
}

/* tEXt for ASCII values (readable by everything), iTXt (UTF-8) otherwise. */
static void png_fill_text(const image *im, png_textp text) {
    for (int i = 0; i < im->ntext; i++) {
        bool ascii = true;
        for (const unsigned char *p = (const unsigned char *)im->text[i].value; *p; p++)
            if (*p >= 0x80) ascii = false;
        text[i].compression = ascii ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
        text[i].key = im->text[i].key;
        text[i].text = im->text[i].value;
    }
}

status image_png_encode(const char *path, FILE *f, const image *im, const image_write_opts *o) {
    png_ctx ctx = {0};
    int depth = o->png_bit_depth;
    png_bytep row = malloc((size_t)im->w * im->c * 2);
    png_textp text = calloc((size_t)im->ntext + 1, sizeof *text);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    status s = STATUS_OK;
    if (!row || !text || !info) {
        s = error_set(STATUS_NOMEM, "%s: out of memory writing PNG", path);
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) {
        s = error_set(STATUS_IO, "%s: PNG write failed: %s", path, ctx.msg);
        goto done;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (uint32_t)im->w, (uint32_t)im->h, depth,
                 im->c == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_fill_text(im, text);
    if (im->ntext > 0) png_set_text(png, info, text, im->ntext);
    png_write_info(png, info);
    for (int y = 0; y < im->h; y++) {
        png_plane_row(im, y, depth, row);
        png_write_row(png, row);
    }
    png_write_end(png, info);
done:
    png_destroy_write_struct(&png, &info);
    free(row);
    free(text);
    return s;
}
