/* image.c: images in memory, text metadata, file reading by sniffing, atomic writing
 * by extension, and tensor conversion (see image.h). The codecs are in image_png.c,
 * image_jpeg.c and image_webp.c; resizing in image_resize.c. */
#include "image_internal.h"
#include "file_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define IMAGE_MAX_FILE_BYTES ((int64_t)1 << 30)  /* larger files are refused unread */

image *image_new(int w, int h, int c) {
    if (w < 1 || h < 1 || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE || (c != 3 && c != 4)) {
        error_set(STATUS_ARG, "image_new: bad size %dx%d with %d channels (want 3 or 4)", w, h, c);
        return NULL;
    }
    image *im = calloc(1, sizeof *im);
    float *data = calloc((size_t)w * h * c, sizeof(float));
    if (!im || !data) {
        free(im); free(data);
        error_set(STATUS_NOMEM, "image_new: out of memory for %dx%dx%d", w, h, c);
        return NULL;
    }
    im->w = w; im->h = h; im->c = c; im->data = data;
    return im;
}

void image_free(image *im) {
    if (!im) return;
    for (int i = 0; i < im->ntext; i++) { free(im->text[i].key); free(im->text[i].value); }
    free(im->text);
    free(im->data);
    free(im);
}

image *image_copy(const image *im) {
    image *out = image_new(im->w, im->h, im->c);
    if (!out) return NULL;
    memcpy(out->data, im->data, (size_t)im->w * im->h * im->c * sizeof(float));
    for (int i = 0; i < im->ntext; i++)
        if (image_text_set(out, im->text[i].key, im->text[i].value) != STATUS_OK) {
            image_free(out);
            return NULL;
        }
    return out;
}

/* Keys are portable across PNG keywords, JPEG "key=value" comments and XMP element names. */
bool image_text_key_valid(const char *key) {
    size_t n = strlen(key);
    if (n < 1 || n > 79) return false;
    if (!((key[0] >= 'A' && key[0] <= 'Z') || (key[0] >= 'a' && key[0] <= 'z') || key[0] == '_'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = key[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                  ch == '_' || ch == '.' || ch == '-';
        if (!ok) return false;
    }
    return true;
}

const char *image_text_get(const image *im, const char *key) {
    for (int i = 0; i < im->ntext; i++)
        if (strcmp(im->text[i].key, key) == 0) return im->text[i].value;
    return NULL;
}

status image_text_set(image *im, const char *key, const char *value) {
    if (!key || !value || !image_text_key_valid(key))
        return error_set(STATUS_ARG, "image_text_set: bad key '%s' (1-79 of [A-Za-z0-9_.-], "
                         "starting with a letter or '_')", key ? key : "(null)");
    char *v = strdup(value);
    if (!v) return error_set(STATUS_NOMEM, "image_text_set: out of memory");
    for (int i = 0; i < im->ntext; i++)
        if (strcmp(im->text[i].key, key) == 0) {
            free(im->text[i].value);
            im->text[i].value = v;
            return STATUS_OK;
        }
    char *k = strdup(key);
    image_text *t = realloc(im->text, (size_t)(im->ntext + 1) * sizeof *t);
    if (!k || !t) {
        free(k); free(v);
        if (t) im->text = t;
        return error_set(STATUS_NOMEM, "image_text_set: out of memory");
    }
    im->text = t;
    im->text[im->ntext].key = k;
    im->text[im->ntext].value = v;
    im->ntext++;
    return STATUS_OK;
}

status image_check_size(const char *path, const char *fmt, int64_t w, int64_t h, int64_t max_pixels) {
    if (w < 1 || h < 1)
        return error_set(STATUS_FORMAT, "%s: %s header gives an empty size %lldx%lld", path, fmt,
                         (long long)w, (long long)h);
    if (w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE)
        return error_set(STATUS_FORMAT, "%s: %s header gives an absurd size %lldx%lld (a side over %d)",
                         path, fmt, (long long)w, (long long)h, IMAGE_MAX_SIDE);
    if (w * h > max_pixels)
        return error_set(STATUS_ARG, "%s: %lldx%lld is %lld pixels, over the limit of %lld "
                         "(image_read_opts.max_pixels)", path, (long long)w, (long long)h,
                         (long long)(w * h), (long long)max_pixels);
    return STATUS_OK;
}

/* Reads a whole regular file into a malloc'd buffer. */
static unsigned char *slurp(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        error_set(STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    unsigned char *buf = NULL;
    if (fstat(fd, &st) != 0) error_set(STATUS_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (S_ISDIR(st.st_mode)) error_set(STATUS_IO, "%s: is a directory, not an image file", path);
    else if (!S_ISREG(st.st_mode)) error_set(STATUS_IO, "%s: not a regular file", path);
    else if (st.st_size == 0) error_set(STATUS_FORMAT, "%s: empty file", path);
    else if (st.st_size > IMAGE_MAX_FILE_BYTES)
        error_set(STATUS_FORMAT, "%s: file of %lld bytes is too large", path, (long long)st.st_size);
    else if (!(buf = malloc((size_t)st.st_size))) error_set(STATUS_NOMEM, "%s: out of memory", path);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            error_set(STATUS_IO, "%s: read failed: %s", path, r < 0 ? strerror(errno) : "file shrank");
            free(buf);
            buf = NULL;
        } else got += (size_t)r;
    }
    close(fd);
    *len = got;
    return buf;
}

image *image_read(const char *path, const image_read_opts *o) {
    int64_t max_pixels = o && o->max_pixels > 0 ? o->max_pixels : IMAGE_DEFAULT_MAX_PIXELS;
    size_t n = 0;
    unsigned char *buf = slurp(path, &n);
    if (!buf) return NULL;
    image *im = NULL;
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && memcmp(buf, png_sig, 8) == 0)
        im = image_png_decode(path, buf, n, max_pixels);
    else if (n >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff)
        im = image_jpeg_decode(path, buf, n, max_pixels);
    else if (n >= 12 && memcmp(buf, "RIFF", 4) == 0 && memcmp(buf + 8, "WEBP", 4) == 0)
        im = image_webp_decode(path, buf, n, max_pixels);
    else
        error_set(STATUS_FORMAT, "%s: unknown image format (not PNG, JPEG or WebP)", path);
    free(buf);
    return im;
}

typedef status (*image_encoder)(const char *, FILE *, const image *, const image_write_opts *);

static image_encoder encoder_for(const char *path) {
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return NULL;
    if (strcasecmp(dot, ".png") == 0) return image_png_encode;
    if (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0) return image_jpeg_encode;
    if (strcasecmp(dot, ".webp") == 0) return image_webp_encode;
    return NULL;
}

typedef struct encode_job { const char *path; const image *im; const image_write_opts *o; image_encoder enc; } encode_job;

static status encode_into(FILE *f, void *user) {
    const encode_job *j = user;
    return j->enc(j->path, f, j->im, j->o);
}

/* Encode into a temporary file beside the target, fsync, rename (file_internal.h). */
static status write_atomic(const char *path, const image *im, const image_write_opts *o,
                           image_encoder enc) {
    encode_job j = {path, im, o, enc};
    return file_write_atomic_fn(path, encode_into, &j);
}

status image_write(const char *path, const image *im, const image_write_opts *o) {
    image_encoder enc = encoder_for(path);
    if (!enc)
        return error_set(STATUS_ARG, "%s: unsupported extension for writing (use .png, .jpg, .jpeg or .webp)", path);
    if (!im || !im->data || im->w < 1 || im->h < 1 || (im->c != 3 && im->c != 4))
        return error_set(STATUS_ARG, "%s: not a valid image to write", path);
    image_write_opts d = o ? *o : (image_write_opts){0};
    if (d.quality == 0) d.quality = IMAGE_DEFAULT_QUALITY;
    if (d.png_bit_depth == 0) d.png_bit_depth = 8;
    if (d.quality < 1 || d.quality > 100)
        return error_set(STATUS_ARG, "%s: quality %d is outside 1..100", path, d.quality);
    if (d.png_bit_depth != 8 && d.png_bit_depth != 16)
        return error_set(STATUS_ARG, "%s: png_bit_depth %d is not 8 or 16", path, d.png_bit_depth);
    return write_atomic(path, im, &d, enc);
}

tensor *image_to_tensor(arena *a, const image *im) {
    tensor *t = tensor_new(a, 4, (int[]){1, im->c, im->h, im->w});
    if (!t) return NULL;
    memcpy(t->data, im->data, (size_t)im->c * im->h * im->w * sizeof(float));
    return t;
}

image *image_from_tensor(const tensor *t) {
    if (!t) return NULL;
    int off = t->ndim == 4 ? 1 : 0;
    char buf[64];
    if ((t->ndim != 3 && t->ndim != 4) || (t->ndim == 4 && t->shape[0] != 1) ||
        (t->shape[off] != 3 && t->shape[off] != 4)) {
        error_set(STATUS_SHAPE, "image_from_tensor: shape %s is not (1, C, H, W) or (C, H, W) "
                  "with C 3 or 4", tensor_shape_str(t, buf));
        return NULL;
    }
    image *im = image_new(t->shape[off + 2], t->shape[off + 1], t->shape[off]);
    if (im) memcpy(im->data, t->data, (size_t)t->numel * sizeof(float));
    return im;
}
