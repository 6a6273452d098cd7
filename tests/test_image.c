/* test_image.c: image reading, writing and resizing (image.h).
 *
 * Images are synthetic (gradients plus noise, on the 8- or 16-bit grid so that PNG round
 * trips are exact). Variants our writer does not produce (grey, grey+alpha, 1-bit,
 * palette with and without tRNS, interlaced, 16-bit grey; greyscale JPEG) are written
 * here with libpng and libjpeg directly; EXIF orientations are APP1 segments spliced into
 * a JPEG we wrote. Bad input is made by truncating, flipping bytes and forging headers.
 */
#define _DEFAULT_SOURCE   /* wait4 */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <png.h>
#include <jpeglib.h>
#include <zlib.h>
#include "atelier/image.h"
#include "harness.h"


/* A path in test_dir that lives as long as the enclosing block (tmp_path's rotate). */
#define TMP_PATH(var, name) char var[256]; snprintf(var, sizeof var, "%s/%s", test_dir, name)

static void save_bytes(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (n) fwrite(b, 1, n, f);
    fclose(f);
}

static uint64_t g_rng;
static unsigned rnd(unsigned mod) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)(g_rng >> 33) % mod;
}

/* Gradients plus noise, every value on the grid k / levels (levels 255 or 65535). Alpha,
 * when present, stays in [0.2, 1] unless zero_alpha, which makes a few pixels transparent. */
static image *make_image(int w, int h, int c, unsigned levels, uint64_t seed, bool zero_alpha) {
    image *im = image_new(w, h, c);
    g_rng = seed;
    size_t plane = (size_t)w * h;
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double g = ch == 0 ? (double)x / w : ch == 1 ? (double)y / h : (double)(x + y) / (w + h);
                if (ch == 3) g = 0.2 + 0.8 * (double)(x + 2 * y) / (w + 2 * h);
                double v = g * 0.9 + 0.1 * rnd(1000) / 1000.0;
                unsigned q = (unsigned)lround(v * levels);
                if (ch == 3 && zero_alpha && (x * 7 + y) % 11 == 0) q = 0;
                im->data[ch * plane + (size_t)y * w + x] = (float)q / (float)levels;
            }
    return im;
}

static double psnr(const image *a, const image *b, int channels) {
    double se = 0;
    size_t n = (size_t)a->w * a->h * channels;
    for (size_t i = 0; i < n; i++) se += (a->data[i] - b->data[i]) * (double)(a->data[i] - b->data[i]);
    return se == 0 ? 99 : 10 * log10(1.0 / (se / n));
}

static bool same_pixels(const image *a, const image *b) {
    return a && b && a->w == b->w && a->h == b->h && a->c == b->c &&
           memcmp(a->data, b->data, (size_t)a->w * a->h * a->c * sizeof(float)) == 0;
}

/* An image call that must fail with status s and a message naming part (and one line). */
#define CHECK_IMG_FAILS(expr, s, part)                                                     \
    do {                                                                                   \
        error_clear();                                                                     \
        image *r_ = (expr);                                                                \
        CHECK_MSG(r_ == NULL, "%s succeeded", #expr);                                      \
        image_free(r_);                                                                    \
        CHECK_MSG(error_status() == (s), "%s: status %s, want %s (%s)", #expr,             \
                  status_name(error_status()), status_name(s), error_message());          \
        CHECK_MSG(strstr(error_message(), (part)) && !strchr(error_message(), '\n'),       \
                  "%s: message '%s' lacks '%s'", #expr, error_message(), (part));          \
        error_clear();                                                                     \
    } while (0)

/* ---- PNG ---- */

static void test_png_round_trip(void) {
    TMP_PATH(path, "round.png");
    for (int c = 3; c <= 4; c++)
        for (int depth = 8; depth <= 16; depth += 8) {
            image *im = make_image(37, 23, c, depth == 8 ? 255 : 65535, 1 + c, true);
            image_write_opts o = {.png_bit_depth = depth};
            CHECK(image_write(path, im, &o) == STATUS_OK);
            image *back = image_read(path, NULL);
            CHECK_MSG(same_pixels(im, back), "PNG %d-bit %d channels: not exact (%s)", depth, c, error_message());
            image_free(back);
            image_free(im);
        }
    /* a value off the grid is rounded to the nearest level */
    image *im = image_new(2, 1, 3);
    im->data[0] = 100.4f / 255; im->data[1] = 100.6f / 255;
    CHECK(image_write(path, im, NULL) == STATUS_OK);
    image *back = image_read(path, NULL);
    CHECK(back && back->data[0] == 100.0f / 255 && back->data[1] == 101.0f / 255);
    image_free(back); image_free(im);
    remove(path);
}

/* Writes a PNG with libpng directly: rows are packed as libpng expects for the type. */
static void write_raw_png(const char *path, int w, int h, int type, int depth, int interlace,
                          const unsigned char *pixels, size_t rowbytes, const png_color *pal,
                          int npal, const unsigned char *trns, int ntrns) {
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, depth, type, interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, npal);
    if (trns) png_set_tRNS(png, info, trns, ntrns, NULL);
    png_text t[2] = {{.compression = PNG_TEXT_COMPRESSION_NONE, .key = "Creation Time", .text = "today"},
                     {.compression = PNG_TEXT_COMPRESSION_NONE, .key = "Title", .text = "caf\xe9"}};
    png_set_text(png, info, t, 2);
    png_write_info(png, info);
    png_bytep *rows = malloc(h * sizeof *rows);
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)pixels + y * rowbytes;
    png_write_image(png, rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(f);
}

static float px(const image *im, int ch, int x, int y) { return im->data[((size_t)ch * im->h + y) * im->w + x]; }

static void test_png_grey_and_16bit(void) {
    enum { W = 9, H = 5 };
    TMP_PATH(path, "grey.png");
    unsigned char b[W * H * 6];  /* enough for RGB 16-bit */
    for (int i = 0; i < W * H * 6; i++) b[i] = (unsigned char)(i * 37 + 11);
    write_raw_png(path, W, H, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, b, W, NULL, 0, NULL, 0);
    image *im = image_read(path, NULL);
    CHECK(im && im->c == 3 && im->w == W && im->h == H);
    for (int y = 0; im && y < H; y++)
        for (int x = 0; x < W; x++)
            for (int ch = 0; ch < 3; ch++) CHECK(px(im, ch, x, y) == b[y * W + x] / 255.0f);
    CHECK(im && image_text_get(im, "Title") && strcmp(image_text_get(im, "Title"), "caf\xc3\xa9") == 0);
    CHECK(im && im->ntext == 1);  /* "Creation Time" is not a valid key: ignored */
    image_free(im);
    write_raw_png(path, W, H, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, b, 2 * W, NULL, 0, NULL, 0);
    im = image_read(path, NULL);
    CHECK(im && im->c == 4);
    for (int y = 0; im && y < H; y++)
        for (int x = 0; x < W; x++) {
            CHECK(px(im, 1, x, y) == b[y * 2 * W + 2 * x] / 255.0f);
            CHECK(px(im, 3, x, y) == b[y * 2 * W + 2 * x + 1] / 255.0f);
        }
    image_free(im);
    write_raw_png(path, W, H, PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, b, 2 * W, NULL, 0, NULL, 0);
    im = image_read(path, NULL);
    CHECK(im && im->c == 3);
    for (int y = 0; im && y < H; y++)
        for (int x = 0; x < W; x++)
            CHECK(px(im, 2, x, y) == (b[y * 2 * W + 2 * x] << 8 | b[y * 2 * W + 2 * x + 1]) / 65535.0f);
    image_free(im);
    write_raw_png(path, W, H, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_ADAM7, b, 6 * W, NULL, 0, NULL, 0);
    im = image_read(path, NULL);
    CHECK(im && im->c == 3);
    for (int y = 0; im && y < H; y++)
        for (int x = 0; x < W; x++) {
            const unsigned char *p = b + y * 6 * W + 6 * x + 2;  /* green, big-endian */
            CHECK(px(im, 1, x, y) == (p[0] << 8 | p[1]) / 65535.0f);
        }
    image_free(im);
    remove(path);
}

static void test_png_palette_and_1bit(void) {
    enum { W = 10, H = 3 };
    TMP_PATH(path, "pal.png");
    png_color pal[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
    unsigned char trns[2] = {0, 128};
    unsigned char idx[W * H];
    for (int i = 0; i < W * H; i++) idx[i] = (unsigned char)(i % 4);
    for (int with_trns = 0; with_trns < 2; with_trns++) {
        write_raw_png(path, W, H, PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, idx, W, pal, 4,
                      with_trns ? trns : NULL, 2);
        image *im = image_read(path, NULL);
        CHECK(im && im->c == (with_trns ? 4 : 3));
        for (int i = 0; im && i < W * H; i++) {
            int k = idx[i];
            CHECK(px(im, 0, i % W, i / W) == pal[k].red / 255.0f);
            CHECK(px(im, 2, i % W, i / W) == pal[k].blue / 255.0f);
            if (with_trns) CHECK(px(im, 3, i % W, i / W) == (k < 2 ? trns[k] : 255) / 255.0f);
        }
        image_free(im);
    }
    unsigned char bits[2 * H] = {0xa5, 0x80, 0x0f, 0x40, 0xff, 0x00};  /* 10 pixels in 2 bytes a row */
    write_raw_png(path, W, H, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, bits, 2, NULL, 0, NULL, 0);
    image *im = image_read(path, NULL);
    CHECK(im && im->c == 3);
    for (int y = 0; im && y < H; y++)
        for (int x = 0; x < W; x++) CHECK(px(im, 0, x, y) == (float)((bits[2 * y + x / 8] >> (7 - x % 8)) & 1));
    image_free(im);
    remove(path);
}

static void test_png_text(void) {
    TMP_PATH(path, "text.png");
    image *im = make_image(8, 8, 4, 255, 3, false);
    CHECK(image_text_set(im, "prompt", "a cat") == STATUS_OK);
    CHECK(image_text_set(im, "prompt", "a dog & <cat>") == STATUS_OK);   /* replaces */
    CHECK(image_text_set(im, "Author", "J\xc3\xa9r\xc3\xb4me") == STATUS_OK);  /* UTF-8: iTXt */
    CHECK(image_text_set(im, "bad key", "x") == STATUS_ARG);
    CHECK(image_text_set(im, "a=b", "x") == STATUS_ARG);
    error_clear();
    CHECK(im->ntext == 2);
    CHECK(image_write(path, im, NULL) == STATUS_OK);
    image *back = image_read(path, NULL);
    CHECK(back && back->ntext == 2);
    CHECK(back && strcmp(image_text_get(back, "prompt"), "a dog & <cat>") == 0);
    CHECK(back && strcmp(image_text_get(back, "Author"), "J\xc3\xa9r\xc3\xb4me") == 0);
    CHECK(back && image_text_get(back, "absent") == NULL);
    image_free(back); image_free(im);
    remove(path);
}

/* ---- JPEG ---- */

static void test_jpeg_round_trip(void) {
    TMP_PATH(path, "round.jpg");
    image *im = make_image(64, 40, 3, 255, 5, false);
    CHECK(image_write(path, im, NULL) == STATUS_OK);
    image *back = image_read(path, NULL);
    CHECK(back && back->w == 64 && back->h == 40 && back->c == 3);
    double p = back ? psnr(im, back, 3) : 0;
    CHECK_MSG(p > 31, "JPEG q92 PSNR %.1f dB", p);   /* measured 32.7 dB: the 10% noise is the hard part */
    image_free(back);
    image_write_opts lo = {.quality = 20};
    CHECK(image_write(path, im, &lo) == STATUS_OK);
    back = image_read(path, NULL);
    double p20 = back ? psnr(im, back, 3) : 0;
    CHECK_MSG(p20 < p && p20 > 20, "JPEG q20 PSNR %.1f dB (q92 %.1f)", p20, p);
    image_free(back); image_free(im);
    im = make_image(16, 16, 4, 255, 6, false);          /* alpha is dropped */
    CHECK(image_write(path, im, NULL) == STATUS_OK);
    back = image_read(path, NULL);
    CHECK(back && back->c == 3 && psnr(im, back, 3) > 30);
    image_free(back); image_free(im);
    remove(path);
}

static void test_jpeg_grey_and_text(void) {
    TMP_PATH(path, "grey.jpg");
    enum { W = 24, H = 16 };
    FILE *f = fopen(path, "wb");
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = W; ci.image_height = H; ci.input_components = 1; ci.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 100, TRUE);
    jpeg_start_compress(&ci, TRUE);
    jpeg_write_marker(&ci, JPEG_COM, (const JOCTET *)"made by hand", 12);
    unsigned char row[W];
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) row[x] = (unsigned char)(x * 10);
        JSAMPROW r = row;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    fclose(f);
    image *im = image_read(path, NULL);
    CHECK(im && im->c == 3 && im->w == W);
    for (int x = 0; im && x < W; x++) {
        CHECK_NEAR(px(im, 0, x, 5), x * 10 / 255.0, 3 / 255.0, 0);
        CHECK(px(im, 0, x, 5) == px(im, 2, x, 5));
    }
    CHECK(im && image_text_get(im, "comment") && strcmp(image_text_get(im, "comment"), "made by hand") == 0);
    image_free(im);
    im = make_image(16, 16, 3, 255, 7, false);
    image_text_set(im, "prompt", "x=y & \xc3\xa9");
    image_text_set(im, "seed", "42");
    CHECK(image_write(path, im, NULL) == STATUS_OK);
    image *back = image_read(path, NULL);
    CHECK(back && back->ntext == 2 && strcmp(image_text_get(back, "prompt"), "x=y & \xc3\xa9") == 0);
    CHECK(back && strcmp(image_text_get(back, "seed"), "42") == 0);
    image_free(back); image_free(im);
    remove(path);
}

/* An APP1 Exif segment holding only IFD0 with Orientation = o, in either byte order. */
static size_t exif_segment(unsigned char *s, int o, bool le) {
    static const unsigned char be_tiff[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1,
                                            0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    static const unsigned char le_tiff[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0,
                                            0x12, 0x01, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    size_t n = 2 + 6 + sizeof be_tiff;
    s[0] = 0xff; s[1] = 0xe1; s[2] = (unsigned char)(n >> 8); s[3] = (unsigned char)n;
    memcpy(s + 4, "Exif\0\0", 6);
    memcpy(s + 10, le ? le_tiff : be_tiff, sizeof be_tiff);
    s[10 + 18 + (le ? 0 : 1)] = (unsigned char)o;  /* the value field's first short */
    return 2 + n;
}

static void test_jpeg_exif_orientation(void) {
    /* 48x32 grey with coloured 16x16 corners: red top-left, green top-right */
    image *im = image_new(48, 32, 3);
    for (size_t i = 0; i < 48 * 32 * 3; i++) im->data[i] = 0.5f;
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++) {
            im->data[((size_t)0 * 32 + y) * 48 + x] = 1; im->data[((size_t)1 * 32 + y) * 48 + x] = 0;
            im->data[((size_t)2 * 32 + y) * 48 + x] = 0;
            im->data[((size_t)0 * 32 + y) * 48 + 32 + x] = 0; im->data[((size_t)1 * 32 + y) * 48 + 32 + x] = 1;
            im->data[((size_t)2 * 32 + y) * 48 + 32 + x] = 0;
        }
    TMP_PATH(path, "plain.jpg");
    TMP_PATH(opath, "oriented.jpg");
    image_write_opts q = {.quality = 100};
    CHECK(image_write(path, im, &q) == STATUS_OK);
    size_t n;
    unsigned char *jpg = test_read_file(path, &n), *out = malloc(n + 64);
    /* where the stored top-left (red) and top-right (green) corners are displayed:
     * 0 top-left, 1 top-right, 2 bottom-right, 3 bottom-left */
    static const int red_at[9] = {0, 0, 1, 2, 3, 0, 1, 2, 3}, green_at[9] = {0, 1, 0, 3, 2, 3, 2, 1, 0};
    for (int o = 1; o <= 8; o++)
        for (int le = 0; le < 2; le++) {
            memcpy(out, jpg, 2);
            size_t k = exif_segment(out + 2, o, le);
            memcpy(out + 2 + k, jpg + 2, n - 2);
            save_bytes(opath, out, n + k);
            image *r = image_read(opath, NULL);
            CHECK_MSG(r, "orientation %d: %s", o, error_message());
            if (!r) continue;
            CHECK(r->w == (o >= 5 ? 32 : 48) && r->h == (o >= 5 ? 48 : 32));
            int cx[4] = {4, r->w - 5, r->w - 5, 4}, cy[4] = {4, 4, r->h - 5, r->h - 5};
            CHECK_MSG(px(r, 0, cx[red_at[o]], cy[red_at[o]]) > 0.9f, "orientation %d: red corner", o);
            CHECK_MSG(px(r, 1, cx[green_at[o]], cy[green_at[o]]) > 0.9f, "orientation %d: green corner", o);
            image_free(r);
        }
    free(jpg); free(out); image_free(im);
    remove(path); remove(opath);
}

/* ---- WebP ---- */

static void test_webp_round_trip(void) {
    TMP_PATH(path, "round.webp");
    for (int c = 3; c <= 4; c++) {
        image *im = make_image(40, 30, c, 255, 10 + c, false);
        CHECK(image_write(path, im, NULL) == STATUS_OK);
        image *back = image_read(path, NULL);
        CHECK(back && back->c == c && back->w == 40 && back->h == 30);
        double p = back ? psnr(im, back, c) : 0;
        CHECK_MSG(p > 30, "lossy WebP %d channels: PSNR %.1f dB", c, p);  /* measured 31.9 and 32.9 */
        image_free(back); image_free(im);
        im = make_image(40, 30, c, 255, 20 + c, true);   /* includes alpha 0: kept exactly */
        image_write_opts o = {.webp_lossless = true};
        CHECK(image_write(path, im, &o) == STATUS_OK);
        back = image_read(path, NULL);
        CHECK_MSG(same_pixels(im, back), "lossless WebP %d channels not exact", c);
        image_free(back); image_free(im);
    }
    remove(path);
}

static void test_webp_text(void) {
    TMP_PATH(path, "text.webp");
    image *im = make_image(12, 12, 4, 255, 30, false);
    image_text_set(im, "prompt", "<a> & \"b\" \xc3\xa9");
    image_text_set(im, "model.name", "johnson");
    CHECK(image_write(path, im, NULL) == STATUS_OK);
    image *back = image_read(path, NULL);
    CHECK(back && back->ntext == 2);
    CHECK(back && strcmp(image_text_get(back, "prompt"), "<a> & \"b\" \xc3\xa9") == 0);
    CHECK(back && strcmp(image_text_get(back, "model.name"), "johnson") == 0);
    image_free(back); image_free(im);
    remove(path);
}

/* ---- sniffing and bad input ---- */

static void test_sniff_by_content(void) {
    image *im = make_image(8, 6, 3, 255, 40, false);
    CHECK(image_write(test_tmp_path("x.png"), im, NULL) == STATUS_OK);
    CHECK(rename(test_tmp_path("x.png"), test_tmp_path("x.jpg")) == 0);   /* a PNG named .jpg */
    image *back = image_read(test_tmp_path("x.jpg"), NULL);
    CHECK(same_pixels(im, back));
    image_free(back);
    save_bytes(test_tmp_path("x.gif"), (const unsigned char *)"GIF89a\1\0\1\0\0\0\0;", 14);
    CHECK_IMG_FAILS(image_read(test_tmp_path("x.gif"), NULL), STATUS_FORMAT, "unknown image format");
    CHECK_IMG_FAILS(image_read(test_tmp_path("missing.png"), NULL), STATUS_IO, "missing.png: cannot open");
    CHECK_IMG_FAILS(image_read(test_dir, NULL), STATUS_IO, "is a directory");
    save_bytes(test_tmp_path("empty.png"), NULL, 0);
    CHECK_IMG_FAILS(image_read(test_tmp_path("empty.png"), NULL), STATUS_FORMAT, "empty file");
    remove(test_tmp_path("x.jpg")); remove(test_tmp_path("x.gif")); remove(test_tmp_path("empty.png"));
    image_free(im);
}

/* Writes im in each format (lossy and lossless WebP) and returns the file's bytes. */
static unsigned char *encoded(const image *im, const char *name, const image_write_opts *o, size_t *n) {
    const char *path = test_tmp_path(name);
    CHECK(image_write(path, im, o) == STATUS_OK);
    unsigned char *b = test_read_file(path, n);
    remove(path);
    return b;
}

static void test_truncated(void) {
    image *im = make_image(64, 48, 4, 255, 50, false);
    image_text_set(im, "k", "v");
    const char *names[4] = {"t.png", "t.jpg", "t.webp", "t.webp"};
    image_write_opts opts[4] = {{0}, {0}, {0}, {.webp_lossless = true}};
    TMP_PATH(bad, "truncated.img");
    for (int f = 0; f < 4; f++) {
        size_t n;
        unsigned char *b = encoded(im, names[f], &opts[f], &n);
        size_t cuts[] = {1, 2, 8, 20, 33, 60, n / 4, n / 2, 3 * n / 4, n - 30};
        for (int i = 0; i < 10; i++) {
            save_bytes(bad, b, cuts[i]);
            error_clear();
            image *r = image_read(bad, NULL);
            CHECK_MSG(!r, "%s cut at %zu of %zu bytes was read", names[f], cuts[i], n);
            CHECK_MSG(error_status() == STATUS_FORMAT && strstr(error_message(), bad),
                      "%s cut at %zu: %s", names[f], cuts[i], error_message());
            image_free(r);
            error_clear();
        }
        free(b);
    }
    remove(bad);
    image_free(im);
}

/* Flip each of the first 64 bytes in turn: never a crash; PNG's CRCs catch every one. */
static void test_flipped_bytes(void) {
    image *im = make_image(32, 32, 3, 255, 60, false);
    const char *names[3] = {"f.png", "f.jpg", "f.webp"};
    TMP_PATH(bad, "flipped.img");
    for (int f = 0; f < 3; f++) {
        size_t n;
        unsigned char *b = encoded(im, names[f], NULL, &n);
        for (size_t i = 0; i < 64 && i < n; i++) {
            b[i] ^= 0x5a;
            save_bytes(bad, b, n);
            b[i] ^= 0x5a;
            error_clear();
            image *r = image_read(bad, NULL);
            if (f == 0) CHECK_MSG(!r, "PNG with byte %zu flipped was read", i);
            if (!r) CHECK_MSG(strstr(error_message(), bad) && !strchr(error_message(), '\n'),
                              "%s byte %zu: '%s'", names[f], i, error_message());
            image_free(r);
            error_clear();
        }
        free(b);
    }
    remove(bad);
    image_free(im);
}

static uint32_t crc32_png(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16); p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

/* Rewrites the IHDR of a PNG we wrote to claim w x h, with a valid CRC. */
static void forge_png_size(unsigned char *b, uint32_t w, uint32_t h) {
    put32(b + 16, w);
    put32(b + 20, h);
    put32(b + 29, crc32_png(b + 12, 17));
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void test_bombs_and_limits(void) {
    image *im = make_image(16, 16, 3, 255, 70, false);
    TMP_PATH(bad, "bomb.img");
    size_t n;
    unsigned char *b = encoded(im, "b.png", NULL, &n);
    forge_png_size(b, 100000, 100000);
    save_bytes(bad, b, n);
    double t0 = seconds();
    CHECK_IMG_FAILS(image_read(bad, NULL), STATUS_ARG, "100000x100000 is 10000000000 pixels, over the limit");
    CHECK_MSG(seconds() - t0 < 0.5, "the refusal took %.2f s", seconds() - t0);
    forge_png_size(b, 0, 16);
    save_bytes(bad, b, n);
    CHECK_IMG_FAILS(image_read(bad, NULL), STATUS_FORMAT, "corrupt PNG");
    forge_png_size(b, 2000000, 1);
    save_bytes(bad, b, n);
    CHECK_IMG_FAILS(image_read(bad, NULL), STATUS_FORMAT, "corrupt PNG");
    free(b);
    b = encoded(im, "b.jpg", NULL, &n);   /* SOF0 of libjpeg's output: FFC0 len(2) P(1) H(2) W(2) */
    unsigned char *sof = NULL;
    for (size_t i = 2; i + 9 < n && !sof; i++) if (b[i] == 0xff && b[i + 1] == 0xc0) sof = b + i;
    CHECK(sof != NULL);
    if (sof) { sof[5] = 0xea; sof[6] = 0x60; sof[7] = 0xea; sof[8] = 0x60; }  /* 60000x60000 */
    save_bytes(bad, b, n);
    CHECK_IMG_FAILS(image_read(bad, NULL), STATUS_ARG, "60000x60000 is 3600000000 pixels");
    free(b);
    image_write_opts lossless = {.webp_lossless = true};
    b = encoded(im, "b.webp", &lossless, &n);
    CHECK(memcmp(b + 12, "VP8L", 4) == 0 && b[20] == 0x2f);
    uint32_t bits = 16383u | 16383u << 14;     /* 16384x16384, no alpha, version 0 */
    b[21] = (unsigned char)bits; b[22] = (unsigned char)(bits >> 8); b[23] = (unsigned char)(bits >> 16);
    b[24] = (unsigned char)(bits >> 24);
    save_bytes(bad, b, n);
    CHECK_IMG_FAILS(image_read(bad, NULL), STATUS_ARG, "16384x16384");
    free(b);
    CHECK(image_write(bad, im, &(image_write_opts){0}) == STATUS_ARG);   /* .img: refused */
    error_clear();
    CHECK(image_write(test_tmp_path("ok.png"), im, NULL) == STATUS_OK);
    CHECK_IMG_FAILS(image_read(test_tmp_path("ok.png"), &(image_read_opts){.max_pixels = 255}), STATUS_ARG, "over the limit of 255");
    image *r = image_read(test_tmp_path("ok.png"), &(image_read_opts){.max_pixels = 256});
    CHECK(r != NULL);
    image_free(r);
    remove(test_tmp_path("ok.png")); remove(bad);
    image_free(im);
}

/* ---- hostile input: a small file never costs much (image.h, "Hostile input") ----
 *
 * Each file is read in a forked child, so that a regression costs the child and not this
 * process, and so that the peak RSS (wait4's ru_maxrss) and CPU time measured are the
 * read's own. The baseline is the child's RSS just after the fork, with the free memory
 * it inherited given back and the peak reset (Linux: /proc/self/clear_refs); an alarm
 * kills a child that hangs. The bounds are far above what the fixed reader needs (29 MB
 * and 0.15 s for the zTXt bomb, under 13 MB and 15 ms for the rest) and far below what
 * the unfixed one took (up to 2 GB of RSS, 1.4 GB of address space, 2 s of CPU). */

#define HOSTILE_RSS_MB 64.0   /* peak RSS above the baseline */
#define HOSTILE_CPU_S 0.5     /* user plus system time of the child */
#define HOSTILE_VM_MB 256.0   /* address space: no large reservation for pixels never written */

typedef struct hostile_run {
    bool read;            /* image_read returned an image */
    status st;            /* else error_status() and error_message() */
    char msg[400];
    int w, h, ntext;      /* of the image, when read */
    double rss_mb;        /* peak RSS above the child's start (test_child_cost) */
    double vm_mb;         /* peak address space above the child's at the fork (VmPeak) */
    double cpu_s, wall_s;
    int died;             /* the signal that killed the child, -1 if it said nothing */
} hostile_run;

/* A "Name:" line of /proc/self/status in kB; 0 where there is none. */
static long proc_status_kb(const char *name) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, name, strlen(name)) == 0) kb = atol(line + strlen(name));
    if (f) fclose(f);
    return kb;
}

typedef struct read_job { const char *path; const image_read_opts *o; } read_job;

static void read_in_child(void *out, void *user) {
    hostile_run *c = out;
    const read_job *j = user;
    long vm0 = proc_status_kb("VmPeak:");
    error_clear();
    image *im = image_read(j->path, j->o);
    c->vm_mb = (proc_status_kb("VmPeak:") - vm0) / 1024.0;
    c->read = im != NULL;
    c->st = error_status();
    snprintf(c->msg, sizeof c->msg, "%s", error_message());
    if (im) { c->w = im->w; c->h = im->h; c->ntext = im->ntext; }
    image_free(im);
}

static hostile_run hostile_read(const char *path, const image_read_opts *o) {
    hostile_run r = {0};
    read_job j = {path, o};
    test_cost k = test_child_cost(read_in_child, &j, &r, sizeof r);
    r.rss_mb = k.rss_mb;
    r.cpu_s = k.cpu_s;
    r.wall_s = k.wall_s;
    r.died = k.died;
    return r;
}

static void hostile_print(const char *what, size_t n, const hostile_run *r) {
    printf("    %-28s %6zu bytes: %-7s %.3f s CPU (%.3f s wall), peak RSS +%.1f MB, address space +%.0f MB\n",
           what, n, r->read ? "read," : "refused,", r->cpu_s, r->wall_s, r->rss_mb, r->vm_mb);
}

/* The bytes, saved as a file, must be refused with status s and a message holding part,
 * within the bounds. */
static void check_hostile_refused(const char *what, const unsigned char *b, size_t n, status s, const char *part) {
    TMP_PATH(path, "hostile.img");
    save_bytes(path, b, n);
    hostile_run r = hostile_read(path, NULL);
    hostile_print(what, n, &r);
    CHECK_MSG(r.died == 0, "%s: the reading child died (signal %d)", what, r.died);
    CHECK_MSG(!r.read, "%s: was read (%dx%d)", what, r.w, r.h);
    CHECK_MSG(r.died || r.read || (r.st == s && strstr(r.msg, part) && strstr(r.msg, path) && !strchr(r.msg, '\n')),
              "%s: status %s, message '%s' (want %s and '%s')", what, status_name(r.st), r.msg, status_name(s), part);
    CHECK_MSG(r.rss_mb < HOSTILE_RSS_MB, "%s: peak RSS +%.1f MB (bound %.0f MB)", what, r.rss_mb, HOSTILE_RSS_MB);
    CHECK_MSG(r.cpu_s < HOSTILE_CPU_S, "%s: %.2f s CPU (bound %.1f s)", what, r.cpu_s, HOSTILE_CPU_S);
    CHECK_MSG(r.vm_mb < HOSTILE_VM_MB, "%s: address space +%.0f MB (bound %.0f MB)", what, r.vm_mb, HOSTILE_VM_MB);
    remove(path);
}

/* Writes a PNG chunk at b: length, type, data, and the CRC of type and data. */
static size_t png_chunk(unsigned char *b, const char *type, const void *data, uint32_t len) {
    put32(b, len);
    memcpy(b + 4, type, 4);
    if (len) memcpy(b + 8, data, len);
    put32(b + 8 + len, crc32_png(b + 4, 4 + (size_t)len));
    return 12 + (size_t)len;
}

/* The signature and IHDR of a w x h 8-bit RGB PNG: 33 bytes. */
static size_t png_head(unsigned char *b, uint32_t w, uint32_t h) {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char ihdr[13] = {0};
    put32(ihdr, w);
    put32(ihdr + 4, h);
    ihdr[8] = 8;
    ihdr[9] = 2;
    memcpy(b, sig, 8);
    return 8 + png_chunk(b + 8, "IHDR", ihdr, 13);
}

/* The IDAT and IEND of a 1x1 RGB image. */
static size_t png_tail_1x1(unsigned char *b) {
    unsigned char raw[4] = {0, 10, 20, 30}, z[64];
    uLongf zn = sizeof z;
    compress2(z, &zn, raw, sizeof raw, 9);
    size_t k = png_chunk(b, "IDAT", z, (uint32_t)zn);
    return k + png_chunk(b + k, "IEND", NULL, 0);
}

/* A chunk that claims 0x7fffffff bytes (2 GB) and holds one: libpng 1.6 took "chunk data is
 * too large" for a warning and allocated and zeroed the 2 GB before finding the file cut. */
static void test_hostile_png_chunk_lengths(void) {
    static const char *types[] = {"tEXt", "zTXt", "iTXt", "sPLT", "iCCP", "eXIf", "pCAL", "sCAL", "prVt"};
    unsigned char b[256];
    char what[64];
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        size_t n = png_head(b, 1, 1);            /* 33 bytes, then 9: a 42-byte file */
        put32(b + n, 0x7fffffffu);
        memcpy(b + n + 4, types[i], 4);
        b[n + 8] = 'k';
        n += 9;
        snprintf(what, sizeof what, "png %s before IDAT", types[i]);
        check_hostile_refused(what, b, n, STATUS_FORMAT, "claims 2147483647 bytes");
    }
    /* the same after the image data (png_read_end) */
    image *im = make_image(16, 16, 3, 255, 90, false);
    size_t n;
    unsigned char *png = encoded(im, "h.png", NULL, &n);
    unsigned char *cut = malloc(n + 64);
    for (int i = 0; i < 3; i++) {
        memcpy(cut, png, n - 12);                /* without its IEND */
        size_t k = n - 12;
        put32(cut + k, 0x7fffffffu);
        memcpy(cut + k + 4, types[i], 4);
        memcpy(cut + k + 8, "key", 4);
        snprintf(what, sizeof what, "png %s after IDAT", types[i]);
        check_hostile_refused(what, cut, k + 12, STATUS_FORMAT, "claims 2147483647 bytes");
    }
    /* 10000x10000 with 12 bytes of image data and an IEND: refused before the pixels */
    n = png_head(cut, 10000, 10000);
    n += png_tail_1x1(cut + n);
    check_hostile_refused("png 10000x10000, 1x1 IDAT", cut, n, STATUS_FORMAT, "image data");
    free(cut);
    free(png);
    image_free(im);
}

/* zTXt chunks of 4 KB that each inflate to 4 MB: libpng's default limits allow 1000 of
 * them at up to 8 MB each. The image is read; text beyond the budget is dropped. */
static void test_hostile_png_text_bomb(void) {
    enum { CHUNKS = 32, TEXT = 4 << 20 };
    unsigned char *text = malloc(TEXT);
    memset(text, 'a', TEXT);
    uLongf zn = compressBound(TEXT);
    unsigned char *z = malloc(zn + 16), *b = malloc(64 + CHUNKS * (zn + 32) + 128);
    compress2(z + 6, &zn, text, TEXT, 9);
    size_t n = png_head(b, 1, 1);
    for (int i = 0; i < CHUNKS; i++) {
        snprintf((char *)z, 6, "t%03d", i);      /* key, NUL, then method 0 */
        z[5] = 0;
        n += png_chunk(b + n, "zTXt", z, (uint32_t)(zn + 6));
    }
    n += png_tail_1x1(b + n);
    TMP_PATH(path, "bomb.png");
    save_bytes(path, b, n);
    hostile_run r = hostile_read(path, NULL);
    hostile_print("png 32 zTXt of 4 MB each", n, &r);
    CHECK_MSG(r.died == 0 && r.read && r.w == 1 && r.h == 1, "text bomb: %s", r.msg);
    CHECK_MSG(r.ntext >= 1 && r.ntext < CHUNKS, "text bomb: %d texts kept", r.ntext);
    CHECK_MSG(r.rss_mb < HOSTILE_RSS_MB, "text bomb: peak RSS +%.1f MB", r.rss_mb);
    CHECK_MSG(r.cpu_s < HOSTILE_CPU_S, "text bomb: %.2f s CPU", r.cpu_s);
    remove(path);
    free(b); free(z); free(text);
}

/* A JPEG from libjpeg directly: c components (1 or 3) of noise over a gradient, with the
 * progressive scan script given (nscans > 0), libjpeg's standard one (nscans < 0) or none. */
static unsigned char *jpeg_by_hand(int w, int h, int c, const jpeg_scan_info *scans, int nscans,
                                   double noise, unsigned long *n) {
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    unsigned char *out = NULL;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &out, n);
    ci.image_width = (JDIMENSION)w; ci.image_height = (JDIMENSION)h;
    ci.input_components = c; ci.in_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 90, TRUE);
    if (nscans < 0) jpeg_simple_progression(&ci);
    if (nscans > 0) { ci.scan_info = scans; ci.num_scans = nscans; }
    jpeg_start_compress(&ci, TRUE);
    unsigned char *row = malloc((size_t)w * c);
    g_rng = 95;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w * c; x++) row[x] = (unsigned char)((x + y) % 200 + noise * rnd(50));
        JSAMPROW r = row;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    free(row);
    return out;
}

/* Sets the size in the frame header (SOF0 or SOF2: FFCx len(2) P(1) H(2) W(2)). */
static bool jpeg_forge_size(unsigned char *b, size_t n, unsigned w, unsigned h) {
    for (size_t i = 2; i + 9 < n; i++)
        if (b[i] == 0xff && (b[i + 1] == 0xc0 || b[i + 1] == 0xc2)) {
            b[i + 5] = (unsigned char)(h >> 8); b[i + 6] = (unsigned char)h;
            b[i + 7] = (unsigned char)(w >> 8); b[i + 8] = (unsigned char)w;
            return true;
        }
    return false;
}

/* A JPEG cut short whose frame header claims 10000x10000: libjpeg makes up the missing data
 * (a warning, then grey), so the unfixed reader decoded all 10000 rows into 1.2 GB. */
static void test_hostile_jpeg_truncated(void) {
    image *im = make_image(16, 16, 3, 255, 91, false);
    size_t n;
    unsigned char *b = encoded(im, "h.jpg", NULL, &n);
    CHECK(jpeg_forge_size(b, n, 10000, 10000));
    size_t sos = 0;                               /* cut halfway through the coded data */
    for (size_t i = 2; i + 4 < n && !sos; i++)
        if (b[i] == 0xff && b[i + 1] == 0xda) sos = i + 2 + ((size_t)b[i + 2] << 8 | b[i + 3]);
    CHECK(sos > 0 && sos < n);
    check_hostile_refused("jpeg 10000x10000 cut", b, (sos + n) / 2, STATUS_FORMAT, "truncated");
    free(b);
    unsigned long pn = 0;                         /* progressive: whole-image coefficients */
    b = jpeg_by_hand(32, 32, 3, NULL, -1, 1.0, &pn);
    CHECK(jpeg_forge_size(b, pn, 10000, 10000));
    check_hostile_refused("jpeg progressive 10000^2 cut", b, pn / 2, STATUS_FORMAT, "truncated");
    /* the same with the whole progressive file: still far too little data for the size */
    check_hostile_refused("jpeg progressive 10000^2", b, pn, STATUS_FORMAT, "truncated");
    free(b);
    /* data that runs out, in a file not too small for its size: refused at the first
     * sign (libjpeg's "premature end"), not after making up the rest */
    b = jpeg_by_hand(1024, 1024, 1, NULL, 0, 1.0, &pn);
    CHECK(jpeg_forge_size(b, pn, 4000, 4000));
    check_hostile_refused("jpeg 4000x4000 cut", b, pn - 1000, STATUS_FORMAT, "corrupt or truncated JPEG");
    free(b);
    image_free(im);
}

/* A progressive JPEG may have any number of scans, and each costs a pass over all of its
 * blocks however few bytes it takes: the scan count is capped. 253 valid scans here
 * (every AC coefficient alone, in four successive-approximation steps). */
static void test_hostile_jpeg_scans(void) {
    jpeg_scan_info scans[1 + 63 * 4];
    int k = 0;
    scans[k++] = (jpeg_scan_info){1, {0}, 0, 0, 0, 0};
    for (int c = 1; c <= 63; c++) {
        scans[k++] = (jpeg_scan_info){1, {0}, c, c, 0, 3};
        for (int a = 3; a >= 1; a--) scans[k++] = (jpeg_scan_info){1, {0}, c, c, a, a - 1};
    }
    unsigned long n = 0;
    unsigned char *b = jpeg_by_hand(1024, 1024, 1, scans, k, 0.0, &n);
    check_hostile_refused("jpeg 253 scans", b, n, STATUS_FORMAT, "scans");
    free(b);
    b = jpeg_by_hand(64, 64, 3, NULL, -1, 1.0, &n);    /* libjpeg's 10 scans: read */
    TMP_PATH(path, "prog.jpg");
    save_bytes(path, b, n);
    image *im = image_read(path, NULL);
    CHECK_MSG(im && im->w == 64 && im->h == 64, "standard progressive JPEG: %s", error_message());
    image_free(im);
    remove(path);
    free(b);
}

/* WebP whose header claims 16383x6000 (98 megapixels, under the limit) and whose data is
 * cut: refused from the chunk sizes, before any pixel memory. */
static void test_hostile_webp_truncated(void) {
    image *im = make_image(64, 48, 3, 255, 92, false);
    size_t n;
    unsigned char *b = encoded(im, "h.webp", NULL, &n);
    CHECK(memcmp(b + 12, "VP8 ", 4) == 0 && b[23] == 0x9d && b[24] == 0x01 && b[25] == 0x2a);
    b[26] = 0xff; b[27] = 0x3f; b[28] = 6000 & 0xff; b[29] = 6000 >> 8;
    check_hostile_refused("webp lossy 16383x6000 cut", b, 200, STATUS_FORMAT, "claims");
    free(b);
    image_write_opts lossless = {.webp_lossless = true};
    b = encoded(im, "h.webp", &lossless, &n);
    uint32_t bits = 16382u | 5999u << 14;
    b[21] = (unsigned char)bits; b[22] = (unsigned char)(bits >> 8); b[23] = (unsigned char)(bits >> 16);
    b[24] = (unsigned char)((b[24] & 0xf0) | (bits >> 24));
    check_hostile_refused("webp lossless 16383x6000 cut", b, 200, STATUS_FORMAT, "claims");
    free(b);
    image_free(im);
}

/* ---- writing failures ---- */

static bool png_holds(const char *path, const image *want) {
    image *r = image_read(path, NULL);
    bool same = same_pixels(r, want);
    image_free(r);
    return same;
}

static void test_write_errors(void) {
    image *old = make_image(8, 8, 3, 255, 80, false), *im = make_image(8, 8, 3, 255, 81, false);
    TMP_PATH(path, "keep.png");
    CHECK(image_write(path, old, NULL) == STATUS_OK);
    error_clear();
    CHECK(image_write(test_tmp_path("x.gif"), im, NULL) == STATUS_ARG && strstr(error_message(), "unsupported extension"));
    error_clear();
    CHECK(image_write(test_tmp_path("noext"), im, NULL) == STATUS_ARG);
    error_clear();
    CHECK(image_write(test_tmp_path("no/such/dir/x.png"), im, NULL) == STATUS_IO &&
          strstr(error_message(), "cannot create a file there"));
    error_clear();
    CHECK(image_write(path, im, &(image_write_opts){.quality = 101}) == STATUS_ARG);
    CHECK(image_write(path, im, &(image_write_opts){.png_bit_depth = 12}) == STATUS_ARG);
    error_clear();
    CHECK(png_holds(path, old));
    /* a directory named like the target: the rename fails, no temporary file is left */
    TMP_PATH(dir, "adir.png");
    mkdir(dir, 0755);
    CHECK(image_write(dir, im, NULL) == STATUS_IO && strstr(error_message(), "cannot replace"));
    error_clear();
    CHECK(test_count_entries(test_dir) == 2);
    rmdir(dir);
    /* a write cut short by the file size limit leaves the old file intact */
    image *big = make_image(300, 300, 4, 255, 82, false);
    struct rlimit was, lim;
    getrlimit(RLIMIT_FSIZE, &was);
    lim = was;
    lim.rlim_cur = 4096;
    void (*sig)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    status s = image_write(path, big, NULL);
    status s2 = image_write(test_tmp_path("keep.jpg"), big, &(image_write_opts){.quality = 100});
    status s3 = image_write(test_tmp_path("keep.webp"), big, &(image_write_opts){.webp_lossless = true});
    setrlimit(RLIMIT_FSIZE, &was);
    signal(SIGXFSZ, sig);
    CHECK_MSG(s == STATUS_IO && s2 == STATUS_IO && s3 == STATUS_IO, "cut writes: %d %d %d", s, s2, s3);
    error_clear();
    CHECK(png_holds(path, old));
    CHECK(test_count_entries(test_dir) == 1);
    remove(path);
    image_free(big); image_free(old); image_free(im);
}

/* ---- resizing ---- */

static void test_resize_constant(void) {
    image *im = image_new(13, 7, 4);
    size_t plane = 13 * 7;
    for (size_t i = 0; i < plane; i++) {
        im->data[i] = 0.25f; im->data[plane + i] = 0.5f; im->data[2 * plane + i] = 0.75f; im->data[3 * plane + i] = 0.6f;
    }
    int sizes[][2] = {{5, 3}, {26, 14}, {40, 2}, {1, 1}, {13, 7}, {6, 20}};
    for (int k = 0; k < 6; k++) {
        image *r = image_resize(im, sizes[k][0], sizes[k][1]);
        CHECK(r && r->w == sizes[k][0] && r->h == sizes[k][1] && r->c == 4);
        for (size_t i = 0; r && i < (size_t)r->w * r->h; i++) {
            size_t p = (size_t)r->w * r->h;
            CHECK_NEAR(r->data[i], 0.25, 1e-6, 0);
            CHECK_NEAR(r->data[p + i], 0.5, 1e-6, 0);
            CHECK_NEAR(r->data[2 * p + i], 0.75, 1e-6, 0);
            CHECK_NEAR(r->data[3 * p + i], 0.6, 1e-6, 0);
        }
        image_free(r);
    }
    image_free(im);
}

static void test_resize_area_mean(void) {
    image *im = make_image(20, 14, 3, 256, 90, false);  /* values k/256: the means are exact */
    image *r = image_resize(im, 10, 7);
    CHECK(r != NULL);
    for (int ch = 0; r && ch < 3; ch++)
        for (int y = 0; y < 7; y++)
            for (int x = 0; x < 10; x++) {
                float want = (px(im, ch, 2 * x, 2 * y) + px(im, ch, 2 * x + 1, 2 * y) +
                              px(im, ch, 2 * x, 2 * y + 1) + px(im, ch, 2 * x + 1, 2 * y + 1)) / 4;
                CHECK(px(r, ch, x, y) == want);
            }
    image_free(r);
    /* 3 -> 2 along x: fractional coverage, output 0 = (a + b/2) / 1.5 */
    image *row = image_new(3, 1, 3);
    row->data[0] = 0.3f; row->data[1] = 0.6f; row->data[2] = 0.9f;
    r = image_resize(row, 2, 1);
    CHECK(r && fabsf(r->data[0] - (0.3f + 0.3f) / 1.5f) < 1e-6f && fabsf(r->data[1] - (0.3f + 0.9f) / 1.5f) < 1e-6f);
    image_free(r); image_free(row);
    image_free(im);
}

static void test_resize_round_trip_and_aspect(void) {
    image *im = image_new(32, 24, 3);
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < 24; y++)
            for (int x = 0; x < 32; x++)
                im->data[((size_t)ch * 24 + y) * 32 + x] = 0.5f + 0.4f * sinf(0.3f * x + ch) * cosf(0.25f * y);
    image *up = image_resize(im, 96, 72), *down = up ? image_resize(up, 32, 24) : NULL;
    CHECK(down != NULL);
    double p = down ? psnr(im, down, 3) : 0;
    CHECK_MSG(p > 50, "3x Lanczos up then area down: PSNR %.1f dB", p);  /* measured 57.7 */
    image_free(up); image_free(down);
    image *l = image_resize_long_side(im, 100);
    CHECK(l && l->w == 100 && l->h == 75);
    image_free(l);
    image *tall = image_new(30, 91, 3);
    l = image_resize_long_side(tall, 45);
    CHECK(l && l->h == 45 && l->w == 15);
    image_free(l);
    l = image_resize_long_side(tall, 1);
    CHECK(l && l->h == 1 && l->w == 1);
    image_free(l);
    CHECK_IMG_FAILS(image_resize(im, 0, 5), STATUS_ARG, "bad target size");
    CHECK_IMG_FAILS(image_resize_long_side(im, 0), STATUS_ARG, "at least 1");
    image_free(tall); image_free(im);
}

/* Transparent red must not bleed into opaque blue when filtering. */
static void test_resize_alpha(void) {
    image *im = image_new(8, 8, 4);
    size_t plane = 64;
    for (size_t i = 0; i < plane; i++) {
        bool left = i % 8 < 4;
        im->data[i] = left ? 1.0f : 0.0f;          /* red, transparent */
        im->data[2 * plane + i] = left ? 0 : 1.0f; /* blue, opaque */
        im->data[3 * plane + i] = left ? 0 : 1.0f;
    }
    for (int k = 0; k < 2; k++) {
        image *r = k ? image_resize(im, 20, 20) : image_resize(im, 3, 3);
        size_t p = r ? (size_t)r->w * r->h : 0;
        for (size_t i = 0; i < p; i++)
            if (r->data[3 * p + i] > 0.01f) CHECK_MSG(r->data[i] < 1e-5f && r->data[2 * p + i] > 0.99f,
                                                      "pixel %zu: red %g blue %g", i, r->data[i], r->data[2 * p + i]);
        image_free(r);
    }
    image_free(im);
}

static void test_tensor_conversion(void) {
    arena *a = arena_new(1 << 16);
    image *im = make_image(5, 4, 4, 255, 95, false);
    tensor *t = image_to_tensor(a, im);
    CHECK(t && t->ndim == 4 && t->shape[0] == 1 && t->shape[1] == 4 && t->shape[2] == 4 && t->shape[3] == 5);
    image *back = image_from_tensor(t);
    CHECK(same_pixels(im, back));
    image_free(back);
    tensor *chw = tensor_reshape(a, t, 3, (int[]){4, 4, 5});
    back = image_from_tensor(chw);
    CHECK(same_pixels(im, back));
    image_free(back);
    tensor *bad = tensor_new(a, 4, (int[]){2, 3, 4, 5});
    CHECK_IMG_FAILS(image_from_tensor(bad), STATUS_SHAPE, "(2, 3, 4, 5)");
    CHECK_IMG_FAILS(image_new(0, 5, 3), STATUS_ARG, "bad size");
    CHECK_IMG_FAILS(image_new(5, 5, 2), STATUS_ARG, "want 3 or 4");
    image_free(im);
    arena_free(a);
}

/* ---- the data kit (../shared/data), when present ---- */

static void test_data_kit(void) {
    FILE *f = fopen("../shared/data/MANIFEST.tsv", "r");
    if (!f) { test_skip("../shared/data absent"); return; }
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char *field[8] = {0}, *save = NULL;
        int k = 0;
        for (char *tok = strtok_r(line, "\t", &save); tok && k < 8; tok = strtok_r(NULL, "\t", &save)) field[k++] = tok;
        if (k < 5 || (strncmp(field[0], "content/", 8) && strncmp(field[0], "style/", 6))) continue;
        int w, h;
        if (sscanf(field[4], "%dx%d", &w, &h) != 2) continue;
        char path[600];
        snprintf(path, sizeof path, "../shared/data/%s", field[0]);
        image *im = image_read(path, NULL);
        CHECK_MSG(im, "%s", error_message());
        if (im) CHECK_MSG(im->w == w && im->h == h, "%s: %dx%d, manifest says %dx%d", path, im->w, im->h, w, h);
        image_free(im);
        error_clear();
        n++;
    }
    fclose(f);
    CHECK_MSG(n >= 20, "only %d content/style images listed", n);
}

int main(void) {
    if (!test_make_dir()) return 1;
    RUN(test_png_round_trip);
    RUN(test_png_grey_and_16bit);
    RUN(test_png_palette_and_1bit);
    RUN(test_png_text);
    RUN(test_jpeg_round_trip);
    RUN(test_jpeg_grey_and_text);
    RUN(test_jpeg_exif_orientation);
    RUN(test_webp_round_trip);
    RUN(test_webp_text);
    RUN(test_sniff_by_content);
    RUN(test_truncated);
    RUN(test_flipped_bytes);
    RUN(test_bombs_and_limits);
    RUN(test_hostile_png_chunk_lengths);
    RUN(test_hostile_png_text_bomb);
    RUN(test_hostile_jpeg_truncated);
    RUN(test_hostile_jpeg_scans);
    RUN(test_hostile_webp_truncated);
    RUN(test_write_errors);
    RUN(test_resize_constant);
    RUN(test_resize_area_mean);
    RUN(test_resize_round_trip_and_aspect);
    RUN(test_resize_alpha);
    RUN(test_tensor_conversion);
    RUN(test_data_kit);
    test_remove_tree(test_dir);
    return test_finish();
}
