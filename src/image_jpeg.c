/* image_jpeg.c: JPEG through libjpeg(-turbo), and EXIF orientation.
 *
 * libjpeg's error_exit must not return; ours records the message and longjmps back to the
 * decoder, so a corrupt file is one error_set line. Its warnings are silenced, but those
 * that mean the entropy-coded data is damaged or cut short (libjpeg would fill the rest
 * with grey and carry on) fail the read at once, naming the problem.
 *
 * Hostile files (image.h). Before anything is sized from the frame header, a Huffman-coded
 * file must hold at least a bit per 8x8 block after its headers (every block of a
 * sequential scan costs two or more; a progressive file's first DC scan at least one per
 * block of its component), so a 700-byte file cannot claim 10000x10000. The whole-image
 * coefficient arrays of progressive and multi-scan files are then at most 128 bytes per
 * block, 8 per pixel, within the pixel limit. Each scan is a pass over its blocks however
 * few bytes it takes, so more than IMAGE_MAX_JPEG_SCANS scans are refused (libjpeg's
 * standard progression has 10). Arithmetic-coded files have no such floor: the pixel
 * limit bounds them.
 *
 * EXIF orientation (EXIF 2.3, tag 0x0112 in IFD0 of the APP1 "Exif" segment's TIFF
 * structure) is parsed here and applied after decoding; values 5..8 swap width and height.
 */
#include "image_internal.h"
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

/* How a decode ended early: the longjmp value, choosing the message's prefix. */
enum { JPEG_FAIL_ERROR = 1, JPEG_FAIL_DAMAGE, JPEG_FAIL_SCANS };

typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    struct jpeg_progress_mgr progress;  /* decoding: counts the scans */
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];   /* the fatal error or damaging warning */
} jpeg_err;

static void jpeg_on_error(j_common_ptr cinfo) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jmp, JPEG_FAIL_ERROR);
}

/* level -1 is a warning; trace messages (level >= 0) are ignored. A warning that the data
 * is damaged or has run out ends the read there and then: libjpeg would make up the rest
 * of the image, however large, before we could refuse it. */
static void jpeg_on_message(j_common_ptr cinfo, int level) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    if (level >= 0) return;
    cinfo->err->num_warnings++;
    int code = cinfo->err->msg_code;
    bool damaging = code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE ||
                    code == JWRN_MUST_RESYNC || code == JWRN_NOT_SEQUENTIAL || code == JWRN_ARITH_BAD_CODE;
    if (!damaging) return;
    (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jmp, JPEG_FAIL_DAMAGE);
}

/* libjpeg calls this before each row of input it takes in, so a new scan is seen at once. */
static void jpeg_on_progress(j_common_ptr cinfo) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    if (((j_decompress_ptr)cinfo)->input_scan_number <= IMAGE_MAX_JPEG_SCANS) return;
    snprintf(e->msg, sizeof e->msg, "more than %d scans", IMAGE_MAX_JPEG_SCANS);
    longjmp(e->jmp, JPEG_FAIL_SCANS);
}

static void jpeg_quiet(j_common_ptr cinfo) { (void)cinfo; }

static void jpeg_err_init(jpeg_err *e, struct jpeg_error_mgr **slot) {
    memset(e, 0, sizeof *e);
    *slot = jpeg_std_error(&e->pub);
    e->pub.error_exit = jpeg_on_error;
    e->pub.emit_message = jpeg_on_message;
    e->pub.output_message = jpeg_quiet;
}

static unsigned rd16(const unsigned char *p, bool le) { return le ? p[0] | p[1] << 8 : p[0] << 8 | p[1]; }
static uint32_t rd32(const unsigned char *p, bool le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int image_exif_orientation(const unsigned char *p, size_t n) {
    if (n < 14 || memcmp(p, "Exif\0\0", 6) != 0) return 1;
    const unsigned char *t = p + 6;  /* the TIFF header: byte order, 42, IFD0 offset */
    size_t tn = n - 6;
    bool le = t[0] == 'I' && t[1] == 'I';
    if (!le && !(t[0] == 'M' && t[1] == 'M')) return 1;
    if (rd16(t + 2, le) != 42) return 1;
    uint32_t ifd = rd32(t + 4, le);
    if (ifd > tn || tn - ifd < 2) return 1;
    unsigned count = rd16(t + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > tn) return 1;
        if (rd16(t + e, le) == 0x0112 && rd16(t + e + 2, le) == 3 && rd32(t + e + 4, le) == 1) {
            unsigned v = rd16(t + e + 8, le);
            return v >= 1 && v <= 8 ? (int)v : 1;
        }
    }
    return 1;
}

/* Where displayed pixel (x, y) comes from in the stored w x h image. */
static void orient_source(int o, int w, int h, int x, int y, int *sx, int *sy) {
    switch (o) {
    case 2: *sx = w - 1 - x; *sy = y; break;              /* mirrored left-right */
    case 3: *sx = w - 1 - x; *sy = h - 1 - y; break;      /* rotated 180 */
    case 4: *sx = x; *sy = h - 1 - y; break;              /* mirrored top-bottom */
    case 5: *sx = y; *sy = x; break;                      /* transposed */
    case 6: *sx = y; *sy = h - 1 - x; break;              /* needs 90 clockwise */
    case 7: *sx = w - 1 - y; *sy = h - 1 - x; break;      /* transversed */
    case 8: *sx = w - 1 - y; *sy = x; break;              /* needs 90 counter-clockwise */
    default: *sx = x; *sy = y; break;
    }
}

status image_orient(image *im, int orientation) {
    if (orientation <= 1 || orientation > 8) return STATUS_OK;
    int w = im->w, h = im->h, ow = orientation >= 5 ? h : w, oh = orientation >= 5 ? w : h;
    float *out = malloc((size_t)w * h * im->c * sizeof(float));
    if (!out) return error_set(STATUS_NOMEM, "image_orient: out of memory");
    size_t plane = (size_t)w * h;
    for (int ch = 0; ch < im->c; ch++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                int sx, sy;
                orient_source(orientation, w, h, x, y, &sx, &sy);
                out[ch * plane + (size_t)y * ow + x] = im->data[ch * plane + (size_t)sy * w + sx];
            }
    free(im->data);
    im->data = out;
    im->w = ow;
    im->h = oh;
    return STATUS_OK;
}

/* One decoded scanline (RGB, or CMYK as Adobe writes it: inverted) into the planes. */
static void jpeg_row_to_planes(image *im, int y, const JSAMPLE *row, bool cmyk, bool inverted) {
    size_t plane = (size_t)im->w * im->h;
    for (int x = 0; x < im->w; x++) {
        float rgb[3];
        if (cmyk) {
            const JSAMPLE *p = row + 4 * x;
            for (int ch = 0; ch < 3; ch++) {
                float c = p[ch] / 255.0f, k = p[3] / 255.0f;
                rgb[ch] = inverted ? c * k : (1 - c) * (1 - k);
            }
        } else
            for (int ch = 0; ch < 3; ch++) rgb[ch] = row[3 * x + ch] / 255.0f;
        for (int ch = 0; ch < 3; ch++) im->data[ch * plane + (size_t)y * im->w + x] = rgb[ch];
    }
}

/* All scanlines into im, then the end of the file (libjpeg errors longjmp to our caller). */
static void jpeg_read_pixels(struct jpeg_decompress_struct *ci, image *im, JSAMPLE *row, bool cmyk) {
    while (ci->output_scanline < ci->output_height) {
        int y = (int)ci->output_scanline;
        JSAMPLE *rows[1] = {row};
        jpeg_read_scanlines(ci, rows, 1);
        jpeg_row_to_planes(im, y, row, cmyk, ci->saw_Adobe_marker);
    }
    jpeg_finish_decompress(ci);
}

/* COM markers become text ("key=value", or key "comment"); APP1 Exif gives the orientation. */
static int jpeg_collect_markers(struct jpeg_decompress_struct *ci, image *im) {
    int orientation = 1;
    for (jpeg_saved_marker_ptr m = ci->marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 1) {
            int o = image_exif_orientation(m->data, m->data_length);
            if (o != 1) orientation = o;
            continue;
        }
        if (m->marker != JPEG_COM || memchr(m->data, 0, m->data_length)) continue;
        char *s = malloc(m->data_length + 1);
        if (!s) continue;
        memcpy(s, m->data, m->data_length);
        s[m->data_length] = 0;
        char *eq = strchr(s, '=');
        if (eq) *eq = 0;
        if (!eq) image_text_set(im, "comment", s);
        else if (image_text_key_valid(s)) image_text_set(im, s, eq + 1);
        free(s);
    }
    return orientation;
}

/* A Huffman-coded file must hold at least a bit per block after its headers (see the top):
 * every block where one scan covers all components, those of the smallest component where
 * scans are separate (progressive, or sequential one component at a time). */
static status jpeg_check_data(const char *path, struct jpeg_decompress_struct *ci) {
    if (ci->arith_code) return STATUS_OK;
    uint64_t all = 0, least = UINT64_MAX;
    for (int i = 0; i < ci->num_components; i++) {
        const jpeg_component_info *k = &ci->comp_info[i];
        uint64_t blocks = (uint64_t)k->width_in_blocks * k->height_in_blocks;
        all += blocks;
        if (blocks < least) least = blocks;
    }
    bool one_scan = !ci->progressive_mode && ci->comps_in_scan == ci->num_components;
    uint64_t need = (one_scan ? all : least) / 8;
    size_t have = ci->src->bytes_in_buffer;
    if (have < need)
        return error_set(STATUS_FORMAT, "%s: truncated JPEG: %ux%u needs at least %llu bytes of coded data, "
                         "the file has %zu after its headers", path, ci->image_width, ci->image_height,
                         (unsigned long long)need, have);
    return STATUS_OK;
}

image *image_jpeg_decode(const char *path, const unsigned char *buf, size_t n, int64_t max_pixels) {
    struct jpeg_decompress_struct ci;
    jpeg_err err;
    memset(&ci, 0, sizeof ci);
    jpeg_err_init(&err, &ci.err);
    image *volatile im = NULL;
    JSAMPLE *volatile row = NULL;
    switch (setjmp(err.jmp)) {
    case 0: break;
    case JPEG_FAIL_DAMAGE: error_set(STATUS_FORMAT, "%s: corrupt or truncated JPEG: %s", path, err.msg); goto fail;
    case JPEG_FAIL_SCANS: error_set(STATUS_FORMAT, "%s: JPEG refused: %s", path, err.msg); goto fail;
    default: error_set(STATUS_FORMAT, "%s: corrupt JPEG: %s", path, err.msg); goto fail;
    }
    jpeg_create_decompress(&ci);
    err.progress.progress_monitor = jpeg_on_progress;
    ci.progress = &err.progress;
    jpeg_mem_src(&ci, buf, (unsigned long)n);
    jpeg_save_markers(&ci, JPEG_COM, 0xffff);
    jpeg_save_markers(&ci, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(&ci, TRUE);
    if (image_check_size(path, "JPEG", ci.image_width, ci.image_height, max_pixels) != STATUS_OK ||
        jpeg_check_data(path, &ci) != STATUS_OK)
        goto fail;
    bool cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
    ci.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&ci);
    im = image_new((int)ci.output_width, (int)ci.output_height, 3);
    row = malloc((size_t)ci.output_width * ci.output_components);
    if (!im || !row) {
        error_set(STATUS_NOMEM, "%s: out of memory for %ux%u pixels", path, ci.output_width, ci.output_height);
        goto fail;
    }
    int orientation = jpeg_collect_markers(&ci, im);  /* finish_decompress frees them */
    jpeg_read_pixels(&ci, im, row, cmyk);
    free(row);
    jpeg_destroy_decompress(&ci);
    if (image_orient(im, orientation) != STATUS_OK) { image_free(im); return NULL; }
    return im;
fail:
    free(row);
    image_free(im);
    jpeg_destroy_decompress(&ci);
    return NULL;
}

/* Text as COM markers "key=value"; a marker holds at most 65533 bytes. */
static status jpeg_write_text(struct jpeg_compress_struct *ci, const image *im, const char *path) {
    for (int i = 0; i < im->ntext; i++) {
        size_t kn = strlen(im->text[i].key), vn = strlen(im->text[i].value);
        if (kn + 1 + vn > 65533)
            return error_set(STATUS_ARG, "%s: text '%s' is too long for a JPEG comment", path, im->text[i].key);
        char *s = malloc(kn + 1 + vn);
        if (!s) return error_set(STATUS_NOMEM, "%s: out of memory", path);
        memcpy(s, im->text[i].key, kn);
        s[kn] = '=';
        memcpy(s + kn + 1, im->text[i].value, vn);
        jpeg_write_marker(ci, JPEG_COM, (const JOCTET *)s, (unsigned)(kn + 1 + vn));
        free(s);
    }
    return STATUS_OK;
}

status image_jpeg_encode(const char *path, FILE *f, const image *im, const image_write_opts *o) {
    struct jpeg_compress_struct ci;
    jpeg_err err;
    memset(&ci, 0, sizeof ci);
    jpeg_err_init(&err, &ci.err);
    JSAMPLE *row = malloc((size_t)im->w * 3);
    volatile status s = row ? STATUS_OK : error_set(STATUS_NOMEM, "%s: out of memory", path);
    if (s != STATUS_OK) return s;
    if (setjmp(err.jmp)) {
        s = error_set(STATUS_IO, "%s: JPEG write failed: %s", path, err.msg);
        goto done;
    }
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)im->w;
    ci.image_height = (JDIMENSION)im->h;
    ci.input_components = 3;                 /* alpha, if any, is dropped (image.h) */
    ci.in_color_space = JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, o->quality, TRUE);
    if (o->quality >= 90) {                  /* full-resolution chroma: no 4:2:0 colour smear */
        ci.comp_info[0].h_samp_factor = 1;
        ci.comp_info[0].v_samp_factor = 1;
    }
    jpeg_start_compress(&ci, TRUE);
    if ((s = jpeg_write_text(&ci, im, path)) != STATUS_OK) goto done;
    size_t plane = (size_t)im->w * im->h;
    while (ci.next_scanline < ci.image_height) {
        size_t y = ci.next_scanline;
        for (int x = 0; x < im->w; x++)
            for (int ch = 0; ch < 3; ch++)
                row[3 * x + ch] = (JSAMPLE)image_quant(im->data[ch * plane + y * im->w + x], 255);
        JSAMPLE *rows[1] = {row};
        jpeg_write_scanlines(&ci, rows, 1);
    }
    jpeg_finish_compress(&ci);
done:
    jpeg_destroy_compress(&ci);
    free(row);
    return s;
}
