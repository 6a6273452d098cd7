/* test_gif.c: the animated GIF writer (gif.h).
 *
 * Every file is read back by the small GIF decoder below (header, logical screen, global
 * colour table, extensions, image descriptors, LZW with clear codes), written from the
 * GIF89a specification independently of src/gif.c, and compared with the source frames.
 * Frames are synthetic: colours on the 8-bit grid k / 255 so that the quantisation of
 * the source is exact, gradients, and uniform noise.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "atelier/gif.h"
#include "harness.h"

/* ---- a small GIF decoder ---- */

#define DEC_MAX_FRAMES 16

typedef struct gif_file {
    int w, h;
    uint8_t pal[256][3];
    int npal;
    bool has_loop;
    int loop;
    int nframes;
    int delay[DEC_MAX_FRAMES];
    uint8_t *idx[DEC_MAX_FRAMES];  /* (h, w) palette indices */
    int clears;                    /* clear codes seen in all frames */
} gif_file;

static void gif_file_free(gif_file *g) {
    for (int f = 0; f < g->nframes; f++) free(g->idx[f]);
}

typedef struct reader {
    const uint8_t *p;
    size_t n, at;
    bool bad;
} reader;

static unsigned rd_u8(reader *r) {
    if (r->at >= r->n) { r->bad = true; return 0; }
    return r->p[r->at++];
}

static unsigned rd_u16(reader *r) {
    unsigned lo = rd_u8(r);
    return lo | rd_u8(r) << 8;
}

/* Concatenates data sub-blocks up to the terminator into a malloc'd buffer. */
static uint8_t *rd_blocks(reader *r, size_t *n) {
    uint8_t *out = NULL;
    *n = 0;
    for (unsigned len; (len = rd_u8(r)) != 0 && !r->bad;) {
        if (r->at + len > r->n) { r->bad = true; break; }
        out = realloc(out, *n + len);
        memcpy(out + *n, r->p + r->at, len);
        *n += len;
        r->at += len;
    }
    return out;
}

/* LZW as GIF89a appendix F: returns false on any inconsistency or a pixel count != npix. */
static bool lzw_decode(const uint8_t *d, size_t n, int min_size, uint8_t *out, size_t npix, int *clears) {
    static uint16_t prefix[4096];
    static uint8_t suffix[4096], first[4096];
    static uint16_t len[4096];
    int clear = 1 << min_size, eoi = clear + 1, bits = min_size + 1, next = clear + 2, prev = -1;
    for (int c = 0; c < clear; c++) { suffix[c] = first[c] = (uint8_t)c; len[c] = 1; }
    size_t bit = 0, o = 0;
    for (;;) {
        if (bit + (size_t)bits > n * 8) return false;  /* ran out before the end code */
        int code = 0;
        for (int k = 0; k < bits; k++, bit++) code |= ((d[bit >> 3] >> (bit & 7)) & 1) << k;
        if (code == clear) { bits = min_size + 1; next = clear + 2; prev = -1; (*clears)++; continue; }
        if (code == eoi) break;
        if (prev < 0) {  /* the first code after a clear: a single index */
            if (code >= clear || o >= npix) return false;
            out[o++] = (uint8_t)code;
            prev = code;
            continue;
        }
        if (code > next) return false;
        int str = code < next ? code : prev;  /* code == next: prev's string plus its first */
        size_t l = len[str] + (code == next);
        if (o + l > npix) return false;
        for (int c = str, k = len[str] - 1; k >= 0; k--, c = prefix[c]) out[o + k] = suffix[c];
        if (code == next) out[o + l - 1] = first[prev];
        o += l;
        if (next < 4096) {
            prefix[next] = (uint16_t)prev;
            suffix[next] = first[code < next ? code : prev];
            first[next] = first[prev];
            len[next] = len[prev] + 1;
            if (++next == (1 << bits) && bits < 12) bits++;
        }
        prev = code;
    }
    return o == npix;
}

/* One image: descriptor, optional local table (refused: we write none), LZW data. */
static bool decode_image(reader *r, gif_file *g, int delay) {
    unsigned x = rd_u16(r), y = rd_u16(r), w = rd_u16(r), h = rd_u16(r), flags = rd_u8(r);
    if (r->bad || x || y || (int)w != g->w || (int)h != g->h || (flags & 0xC0)) return false;
    if (g->nframes == DEC_MAX_FRAMES) return false;
    int min_size = (int)rd_u8(r);
    size_t n;
    uint8_t *data = rd_blocks(r, &n);
    uint8_t *idx = malloc((size_t)w * h);
    bool ok = !r->bad && min_size >= 2 && min_size <= 8 &&
              lzw_decode(data, n, min_size, idx, (size_t)w * h, &g->clears);
    free(data);
    if (!ok) { free(idx); return false; }
    g->idx[g->nframes] = idx;
    g->delay[g->nframes++] = delay;
    return true;
}

/* An extension: graphic control (delay) or NETSCAPE2.0 (loop); others are skipped. */
static bool decode_extension(reader *r, gif_file *g, int *delay) {
    unsigned label = rd_u8(r);
    size_t n;
    uint8_t *data = rd_blocks(r, &n);
    bool ok = !r->bad;
    if (ok && label == 0xF9) {
        ok = n == 4;
        if (ok) *delay = data[1] | data[2] << 8;
    } else if (ok && label == 0xFF && n >= 11 && memcmp(data, "NETSCAPE2.0", 11) == 0) {
        ok = n == 14 && data[11] == 1;
        g->has_loop = ok;
        if (ok) g->loop = data[12] | data[13] << 8;
    }
    free(data);
    return ok;
}

/* The whole file; false (with what was decoded freed) if it is malformed. */
static bool gif_decode(const uint8_t *p, size_t n, gif_file *g) {
    memset(g, 0, sizeof *g);
    reader r = {p, n, 0, false};
    if (n < 13 || memcmp(p, "GIF89a", 6) != 0) return false;
    r.at = 6;
    g->w = (int)rd_u16(&r);
    g->h = (int)rd_u16(&r);
    unsigned flags = rd_u8(&r);
    rd_u8(&r); rd_u8(&r);
    if (!(flags & 0x80)) return false;  /* we always write a global table */
    g->npal = 2 << (flags & 7);
    for (int k = 0; k < g->npal; k++)
        for (int c = 0; c < 3; c++) g->pal[k][c] = (uint8_t)rd_u8(&r);
    int delay = -1;
    for (;;) {
        unsigned tag = rd_u8(&r);
        bool ok = !r.bad;
        if (ok && tag == 0x3B) return r.at == n;
        if (ok && tag == 0x21) ok = decode_extension(&r, g, &delay);
        else if (ok && tag == 0x2C) { ok = decode_image(&r, g, delay); delay = -1; }
        else ok = false;
        if (!ok) { gif_file_free(g); return false; }
    }
}

/* ---- helpers ---- */

static uint64_t g_rng;
static unsigned rnd(unsigned mod) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)(g_rng >> 33) % mod;
}

static unsigned q8(float v) {  /* the writer's quantisation (image_quant) */
    if (!(v > 0.0f)) return 0;
    if (v >= 1.0f) return 255;
    return (unsigned)(v * 255.0f + 0.5f);
}

/* Uniform random colours on the 8-bit grid. */
static image *noise_image(int w, int h, int c, uint64_t seed) {
    image *im = image_new(w, h, c);
    g_rng = seed;
    for (size_t i = 0; i < (size_t)w * h * c; i++) im->data[i] = (float)rnd(256) / 255.0f;
    return im;
}

/* A frame using only the colours of a table of ncol random colours. */
static image *few_colour_image(int w, int h, int ncol, uint64_t seed) {
    uint8_t table[256][3];
    g_rng = seed;
    for (int k = 0; k < ncol; k++)
        for (int c = 0; c < 3; c++) table[k][c] = (uint8_t)rnd(256);
    image *im = image_new(w, h, 3);
    size_t plane = (size_t)w * h;
    for (size_t i = 0; i < plane; i++) {
        int k = i < (size_t)ncol ? (int)i : (int)rnd((unsigned)ncol);  /* every colour appears */
        for (int c = 0; c < 3; c++) im->data[c * plane + i] = (float)table[k][c] / 255.0f;
    }
    return im;
}

static image *gradient_image(int w, int h) {
    image *im = image_new(w, h, 3);
    size_t plane = (size_t)w * h;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            im->data[i] = (float)x / (w - 1);
            im->data[plane + i] = (float)y / (h - 1);
            im->data[2 * plane + i] = 0.2f + 0.6f * (float)(x + y) / (w + h - 2);
        }
    return im;
}

/* Encodes frames and decodes the result; false (after a CHECK failure) if either fails. */
static bool round_trip(image *const *frames, int n, const gif_opts *o, gif_file *g) {
    uint8_t *buf = NULL;
    size_t len = 0;
    status s = gif_encode(frames, n, o, &buf, &len);
    CHECK_MSG(s == STATUS_OK, "gif_encode: %s", error_message());
    if (s != STATUS_OK) return false;
    bool ok = gif_decode(buf, len, g);
    CHECK_MSG(ok, "our decoder refused the file (%zu bytes)", len);
    free(buf);
    return ok;
}

/* The decoded colour of pixel i of frame f, channel c, in [0, 1]. */
static float decoded(const gif_file *g, int f, size_t i, int c) {
    return (float)g->pal[g->idx[f][i]][c] / 255.0f;
}

/* Mean absolute error of frame f against im, per channel. */
static void mean_abs_error(const gif_file *g, int f, const image *im, double err[3]) {
    size_t plane = (size_t)im->w * im->h;
    for (int c = 0; c < 3; c++) {
        double s = 0;
        for (size_t i = 0; i < plane; i++) s += fabs(decoded(g, f, i, c) - im->data[c * plane + i]);
        err[c] = s / plane;
    }
}

/* ---- cases ---- */

static void test_structure(void) {
    image *fr[3] = {noise_image(20, 10, 3, 1), noise_image(20, 10, 4, 2), noise_image(20, 10, 3, 3)};
    gif_opts o = {.delay_cs = 7, .loop = 3, .dither = false};
    gif_file g;
    if (round_trip(fr, 3, &o, &g)) {
        CHECK(g.w == 20 && g.h == 10 && g.npal == 256);
        CHECK(g.nframes == 3);
        for (int f = 0; f < g.nframes; f++) CHECK_MSG(g.delay[f] == 7, "frame %d delay %d", f, g.delay[f]);
        CHECK(g.has_loop && g.loop == 3);
        CHECK(g.clears >= 3);  /* each frame starts with a clear code */
        gif_file_free(&g);
    }
    gif_opts d = gif_defaults();
    CHECK(d.delay_cs == 5 && d.loop == 0 && d.dither);
    if (round_trip(fr, 2, NULL, &g)) {
        CHECK(g.nframes == 2 && g.delay[0] == 5 && g.delay[1] == 5 && g.has_loop && g.loop == 0);
        gif_file_free(&g);
    }
    for (int f = 0; f < 3; f++) image_free(fr[f]);
}

/* <= 256 distinct colours (over all frames together) round-trip exactly, dithered or not. */
static void test_exact_colours(void) {
    image *fr[2] = {few_colour_image(40, 30, 150, 10), few_colour_image(40, 30, 106, 11)};
    image *one[1] = {few_colour_image(17, 5, 1, 12)};  /* a single colour */
    for (int dither = 0; dither < 2; dither++) {
        gif_opts o = gif_defaults();
        o.dither = dither;
        gif_file g;
        if (!round_trip(fr, 2, &o, &g)) continue;
        int wrong = 0;
        size_t plane = 40 * 30;
        for (int f = 0; f < 2; f++)
            for (size_t i = 0; i < plane; i++)
                for (int c = 0; c < 3; c++) wrong += decoded(&g, f, i, c) != fr[f]->data[c * plane + i];
        CHECK_MSG(wrong == 0, "dither %d: %d values differ", dither, wrong);
        gif_file_free(&g);
        if (!round_trip(one, 1, &o, &g)) continue;
        for (size_t i = 0; i < 85; i++)
            for (int c = 0; c < 3; c++) CHECK(decoded(&g, 0, i, c) == one[0]->data[c * 85 + i]);
        gif_file_free(&g);
    }
    image_free(fr[0]); image_free(fr[1]); image_free(one[0]);
}

/* 64x48 smooth gradient (3072 colours, > 256): a small mean error either way. */
static void test_gradient(void) {
    image *fr[1] = {gradient_image(64, 48)};
    for (int dither = 0; dither < 2; dither++) {
        gif_opts o = gif_defaults();
        o.dither = dither;
        gif_file g;
        if (!round_trip(fr, 1, &o, &g)) continue;
        double err[3];
        mean_abs_error(&g, 0, fr[0], err);
        printf("  gradient 64x48, dither %d: mean abs error %.4f %.4f %.4f\n", dither, err[0], err[1], err[2]);
        for (int c = 0; c < 3; c++)
            CHECK_MSG(err[c] < 0.02, "dither %d channel %d: mean abs error %.4f", dither, c, err[c]);
        gif_file_free(&g);
    }
    image_free(fr[0]);
}

/* Mean over channels and 8x8 blocks of |block mean of decoded - block mean of source|. */
static double block_mean_error(const gif_file *g, const image *im) {
    size_t plane = (size_t)im->w * im->h;
    int bw = im->w / 8, bh = im->h / 8;
    double total = 0;
    for (int by = 0; by < bh; by++)
        for (int bx = 0; bx < bw; bx++)
            for (int c = 0; c < 3; c++) {
                double s = 0;
                for (int y = by * 8; y < by * 8 + 8; y++)
                    for (int x = bx * 8; x < bx * 8 + 8; x++) {
                        size_t i = (size_t)y * im->w + x;
                        s += decoded(g, 0, i, c) - im->data[c * plane + i];
                    }
                total += fabs(s / 64);
            }
    return total / (bw * bh * 3);
}

/* A gradient too rich for 256 colours (256x128, 32768 colours): dithering keeps the local
 * mean colour (8x8 block averages) much closer to the source than the nearest colour. */
static void test_dither_keeps_local_mean(void) {
    image *fr[1] = {gradient_image(256, 128)};
    double blk[2] = {0, 0};
    for (int dither = 0; dither < 2; dither++) {
        gif_opts o = gif_defaults();
        o.dither = dither;
        gif_file g;
        if (!round_trip(fr, 1, &o, &g)) continue;
        blk[dither] = block_mean_error(&g, fr[0]);
        gif_file_free(&g);
    }
    printf("  8x8 block mean error: nearest %.5f, dithered %.5f\n", blk[0], blk[1]);
    CHECK_MSG(blk[1] < 0.5 * blk[0], "8x8 block mean error: dithered %.5f, nearest %.5f", blk[1], blk[0]);
    image_free(fr[0]);
}

/* 300x200 noise: the LZW table fills many times over (clear codes), and each pixel decodes
 * to a palette colour nearest to its source colour (ties allowed). */
static void test_noise_nearest(void) {
    image *fr[2] = {noise_image(300, 200, 3, 20), noise_image(300, 200, 3, 21)};
    gif_opts o = gif_defaults();
    o.dither = false;
    gif_file g;
    if (!round_trip(fr, 2, &o, &g)) goto out;
    CHECK_MSG(g.clears > 2 * 8, "only %d clear codes", g.clears);
    size_t plane = 300 * 200;
    int bad = 0;
    for (int f = 0; f < 2; f++)
        for (size_t i = 0; i < plane; i++) {
            int src[3], best = 1 << 30;
            for (int c = 0; c < 3; c++) src[c] = (int)q8(fr[f]->data[c * plane + i]);
            for (int k = 0; k < 256; k++) {
                int d = 0;
                for (int c = 0; c < 3; c++) d += (g.pal[k][c] - src[c]) * (g.pal[k][c] - src[c]);
                if (d < best) best = d;
            }
            const uint8_t *got = g.pal[g.idx[f][i]];
            int d = 0;
            for (int c = 0; c < 3; c++) d += (got[c] - src[c]) * (got[c] - src[c]);
            bad += d != best;
        }
    CHECK_MSG(bad == 0, "%d pixels are not mapped to a nearest palette colour", bad);
    /* 256 colours for 16.7 million: the palette must still spread over the cube */
    double err[3];
    mean_abs_error(&g, 0, fr[0], err);
    for (int c = 0; c < 3; c++) CHECK_MSG(err[c] < 0.12, "noise: channel %d error %.4f", c, err[c]);
    gif_file_free(&g);
out:
    image_free(fr[0]); image_free(fr[1]);
}

/* Long runs of one index (strings up to the 4096th code, the KwKwK case) and tiny frames. */
static void test_runs_and_tiny(void) {
    image *flat[1] = {image_new(300, 200, 3)};
    for (size_t i = 0; i < 300 * 200; i++) flat[0]->data[i] = 1.0f;  /* red */
    image *tiny[2] = {noise_image(1, 1, 3, 30), noise_image(1, 1, 3, 31)};
    image *thin[1] = {gradient_image(1000, 1)};
    gif_file g;
    if (round_trip(flat, 1, NULL, &g)) {
        int wrong = 0;
        for (size_t i = 0; i < 300 * 200; i++)
            wrong += g.pal[g.idx[0][i]][0] != 255 || g.pal[g.idx[0][i]][1] || g.pal[g.idx[0][i]][2];
        CHECK(wrong == 0);
        gif_file_free(&g);
    }
    if (round_trip(tiny, 2, NULL, &g)) {
        CHECK(g.w == 1 && g.h == 1 && g.nframes == 2);
        for (int f = 0; f < 2; f++)
            for (int c = 0; c < 3; c++) CHECK(decoded(&g, f, 0, c) == tiny[f]->data[c]);
        gif_file_free(&g);
    }
    if (round_trip(thin, 1, NULL, &g)) {
        double err[3];
        mean_abs_error(&g, 0, thin[0], err);
        CHECK(g.w == 1000 && g.h == 1 && err[0] < 0.01);
        gif_file_free(&g);
    }
    image_free(flat[0]); image_free(tiny[0]); image_free(tiny[1]); image_free(thin[0]);
}

/* The same frames give the same bytes; gif_write writes exactly what gif_encode returns. */
static void test_determinism(void) {
    image *fr[3] = {gradient_image(64, 48), noise_image(64, 48, 3, 40), noise_image(64, 48, 4, 41)};
    gif_opts o = gif_defaults();
    uint8_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    CHECK(gif_encode(fr, 3, &o, &a, &na) == STATUS_OK);
    CHECK(gif_encode(fr, 3, &o, &b, &nb) == STATUS_OK);
    CHECK(a && b && na == nb && na > 1000 && memcmp(a, b, na) == 0);
    const char *path = test_tmp_path("det.gif");
    CHECK(gif_write(path, fr, 3, &o) == STATUS_OK);
    size_t nf = 0;
    unsigned char *file = test_read_file(path, &nf);
    CHECK(file && nf == na && memcmp(file, a, na) == 0);
    o.dither = false;  /* and the option matters */
    free(b);
    CHECK(gif_encode(fr, 3, &o, &b, &nb) == STATUS_OK);
    CHECK(b && (nb != na || memcmp(a, b, na) != 0));
    free(a); free(b); free(file);
    remove(path);
    for (int f = 0; f < 3; f++) image_free(fr[f]);
}

#define CHECK_GIF_FAILS(expr, s, part)                                                     \
    do {                                                                                   \
        error_clear();                                                                     \
        status r_ = (expr);                                                                \
        CHECK_MSG(r_ == (s), "%s: status %s, want %s (%s)", #expr, status_name(r_),       \
                  status_name(s), error_message());                                       \
        CHECK_MSG(strstr(error_message(), (part)) && !strchr(error_message(), '\n'),       \
                  "%s: message '%s' lacks '%s'", #expr, error_message(), (part));          \
        error_clear();                                                                     \
    } while (0)

static void test_errors(void) {
    image *a = noise_image(8, 6, 3, 50), *b = noise_image(6, 8, 3, 51), *wide = image_new(65536, 1, 3);
    image *ok2[2] = {a, a}, *mixed[2] = {a, b}, *holes[2] = {a, NULL}, *big[1] = {wide};
    const char *path = test_tmp_path("keep.gif");
    CHECK(gif_write(path, ok2, 1, NULL) == STATUS_OK);
    size_t n0 = 0;
    unsigned char *before = test_read_file(path, &n0);
    CHECK_GIF_FAILS(gif_write(path, ok2, 0, NULL), STATUS_ARG, "at least one frame");
    CHECK_GIF_FAILS(gif_write(path, NULL, 2, NULL), STATUS_ARG, "frames is NULL");
    CHECK_GIF_FAILS(gif_write(path, holes, 2, NULL), STATUS_ARG, "frame 1 is NULL");
    CHECK_GIF_FAILS(gif_write(path, mixed, 2, NULL), STATUS_ARG, "frame 1 is 6x8 but frame 0 is 8x6");
    CHECK_GIF_FAILS(gif_write(path, big, 1, NULL), STATUS_ARG, "1..65535");
    CHECK_GIF_FAILS(gif_write(path, ok2, 2, &(gif_opts){.delay_cs = -1}), STATUS_ARG, "delay_cs -1");
    CHECK_GIF_FAILS(gif_write(path, ok2, 2, &(gif_opts){.loop = 65536}), STATUS_ARG, "loop 65536");
    CHECK_GIF_FAILS(gif_write(test_tmp_path("no/such/dir/x.gif"), ok2, 2, NULL), STATUS_IO,
                    "cannot create a file there");
    CHECK_GIF_FAILS(gif_write(NULL, ok2, 2, NULL), STATUS_ARG, "empty path");
    CHECK_GIF_FAILS(gif_write(test_tmp_path("new.gif"), mixed, 2, NULL), STATUS_ARG, "frame 1 is");
    uint8_t *out = (uint8_t *)1;
    size_t len = 7;
    CHECK_GIF_FAILS(gif_encode(ok2, 0, NULL, &out, &len), STATUS_ARG, "gif_encode: need at least one frame");
    CHECK(out == NULL && len == 0);
    CHECK_GIF_FAILS(gif_encode(ok2, 1, NULL, NULL, &len), STATUS_ARG, "must not be NULL");
    image bad = *a;
    bad.c = 2;
    image *badp[1] = {&bad};
    CHECK_GIF_FAILS(gif_encode(badp, 1, NULL, &out, &len), STATUS_ARG, "2 channels");
    /* a directory named like the target: the rename fails, no temporary file is left */
    const char *dir = test_tmp_path("adir.gif");
    mkdir(dir, 0755);
    CHECK_GIF_FAILS(gif_write(dir, ok2, 2, NULL), STATUS_IO, "cannot replace");
    rmdir(dir);
    size_t n1 = 0;
    unsigned char *after = test_read_file(path, &n1);
    CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0);  /* target untouched */
    CHECK(test_count_entries(test_dir) == 1);                              /* nothing left over */
    free(before); free(after);
    remove(path);
    image_free(a); image_free(b); image_free(wide);
}

int main(void) {
    if (!test_make_dir()) return 1;
    RUN(test_structure);
    RUN(test_exact_colours);
    RUN(test_gradient);
    RUN(test_dither_keeps_local_mean);
    RUN(test_noise_nearest);
    RUN(test_runs_and_tiny);
    RUN(test_determinism);
    RUN(test_errors);
    test_remove_tree(test_dir);
    return test_finish();
}
