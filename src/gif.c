/* gif.c: the animated GIF89a writer (see gif.h).
 *
 * Pipeline: frames -> 8-bit RGB -> one palette (exact colours, or median cut + k-means over
 * samples) -> per frame palette indices (nearest or Floyd-Steinberg) -> LZW -> blocks.
 * Colours travel as 0xRRGGBB in a uint32_t. The GIF89a specification (W3C/CompuServe,
 * 1990) is the reference for every block written here; section numbers below are its.
 */
#include "atelier/gif.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "file_internal.h"
#include "image_internal.h"

#define GIF_MAX_SAMPLES (1 << 18)  /* pixels the palette is computed from */
#define GIF_KMEANS_PASSES 4
#define GIF_CACHE_BITS 16          /* nearest-colour cache: 2^16 direct-mapped slots */
#define LZW_HASH_SIZE 8192         /* > 4096 codes, so the table stays under half full */

gif_opts gif_defaults(void) {
    return (gif_opts){.delay_cs = 5, .loop = 0, .dither = true};
}

/* ---- a growing byte buffer (an allocation failure is remembered, checked once) ---- */

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} bytes;

static void bytes_put(bytes *b, const void *src, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void bytes_u8(bytes *b, unsigned v) {
    uint8_t c = (uint8_t)v;
    bytes_put(b, &c, 1);
}

static void bytes_u16(bytes *b, unsigned v) {  /* GIF is little-endian */
    uint8_t c[2] = {(uint8_t)(v & 255), (uint8_t)(v >> 8)};
    bytes_put(b, c, 2);
}

/* ---- pixels ---- */

/* Pixel i (in the plane, y * w + x) of im as 0xRRGGBB, each channel quantised to 8 bits. */
static uint32_t pixel_rgb(const image *im, size_t i) {
    size_t plane = (size_t)im->w * im->h;
    return image_quant(im->data[i], 255) << 16 | image_quant(im->data[plane + i], 255) << 8 |
           image_quant(im->data[2 * plane + i], 255);
}

static unsigned chan(uint32_t c, int ch) { return (c >> (16 - 8 * ch)) & 255; }

static uint32_t hash32(uint64_t x) {  /* murmur3's finaliser */
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (uint32_t)x;
}

/* ---- the palette and nearest-colour search ---- */

typedef struct palette {
    int n;                 /* colours in use, 1..256; the file pads the table with entry 0 */
    uint8_t rgb[256][3];
    uint8_t order[256];    /* palette indices sorted by green */
    int gfirst[257];       /* first position in order with green >= g */
    uint32_t *cache_key;   /* (2^GIF_CACHE_BITS) colour + 1 per slot, 0 when empty */
    uint8_t *cache_idx;    /* (2^GIF_CACHE_BITS) its nearest index */
} palette;

/* Sorts the entries by green (a counting sort) for nearest_search. */
static void nearest_init(palette *p) {
    int start[257] = {0};
    for (int k = 0; k < p->n; k++) start[p->rgb[k][1] + 1]++;
    for (int g = 0; g < 256; g++) start[g + 1] += start[g];
    memcpy(p->gfirst, start, sizeof start);
    for (int k = 0; k < p->n; k++) p->order[start[p->rgb[k][1]]++] = (uint8_t)k;
}

/* Squared distance of palette entry at sorted position i to (r, g, b), or -1 once the green
 * difference alone reaches best (nothing further along that direction can be nearer). */
static int dist_at(const palette *p, int i, int r, int g, int b, int best) {
    const uint8_t *c = p->rgb[p->order[i]];
    int dg = c[1] - g;
    if (dg * dg >= best) return -1;
    int dr = c[0] - r, db = c[2] - b;
    return dr * dr + dg * dg + db * db;
}

/* The palette index nearest to (r, g, b) in Euclidean RGB: search outwards in green order
 * from g, stopping each direction when green alone is too far. */
static int nearest_search(const palette *p, int r, int g, int b) {
    int best = INT_MAX, bi = 0, up = p->gfirst[g], down = up - 1;
    while (up < p->n || down >= 0) {
        if (up < p->n) {
            int d = dist_at(p, up, r, g, b, best);
            if (d < 0) up = p->n;
            else { if (d < best) { best = d; bi = p->order[up]; } up++; }
        }
        if (down >= 0) {
            int d = dist_at(p, down, r, g, b, best);
            if (d < 0) down = -1;
            else { if (d < best) { best = d; bi = p->order[down]; } down--; }
        }
    }
    return bi;
}

static int nearest(palette *p, uint32_t c) {
    uint32_t h = (c * 2654435761u) >> (32 - GIF_CACHE_BITS);
    if (p->cache_key[h] == c + 1) return p->cache_idx[h];
    int k = nearest_search(p, (int)chan(c, 0), (int)chan(c, 1), (int)chan(c, 2));
    p->cache_key[h] = c + 1;
    p->cache_idx[h] = (uint8_t)k;
    return k;
}

static void palette_set(palette *p, int k, uint32_t c) {
    for (int ch = 0; ch < 3; ch++) p->rgb[k][ch] = (uint8_t)chan(c, ch);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* When all frames hold at most 256 distinct colours, make them the palette (sorted) and
 * return true: such frames then map exactly. */
static bool palette_exact(image *const *frames, int n, palette *p) {
    enum { SLOTS = 512, EMPTY = 0xFFFFFFFFu };  /* colours are < 2^24, never EMPTY */
    uint32_t set[SLOTS], found[256];
    memset(set, 0xFF, sizeof set);
    int count = 0;
    size_t plane = (size_t)frames[0]->w * frames[0]->h;
    for (int f = 0; f < n; f++)
        for (size_t i = 0; i < plane; i++) {
            uint32_t c = pixel_rgb(frames[f], i);
            uint32_t h = (c * 2654435761u) >> 23;
            while (set[h] != EMPTY && set[h] != c) h = (h + 1) & (SLOTS - 1);
            if (set[h] == c) continue;
            if (count == 256) return false;
            set[h] = c;
            found[count++] = c;
        }
    qsort(found, (size_t)count, sizeof found[0], cmp_u32);
    for (int k = 0; k < count; k++) palette_set(p, k, found[k]);
    p->n = count;
    return true;
}

/* ---- median cut over weighted colours ---- */

typedef struct wcolour {
    uint32_t c;  /* 0xRRGGBB */
    uint32_t w;  /* how many samples have it */
} wcolour;

/* The distinct colours of up to GIF_MAX_SAMPLES pixels with their counts; *m of them, sorted.
 * All pixels when there are few, else one at a hashed offset inside each of equal strides. */
static wcolour *sample_colours(image *const *frames, int n, size_t *m) {
    size_t plane = (size_t)frames[0]->w * frames[0]->h;
    uint64_t total = (uint64_t)plane * (uint64_t)n;
    size_t ns = total < GIF_MAX_SAMPLES ? (size_t)total : GIF_MAX_SAMPLES;
    uint32_t *s = malloc(ns * sizeof *s);
    wcolour *u = malloc(ns * sizeof *u);
    if (!s || !u) { free(s); free(u); return NULL; }
    for (size_t k = 0; k < ns; k++) {
        uint64_t lo = k * total / ns, hi = (k + 1) * total / ns;
        uint64_t at = lo + (ns == total ? 0 : hash32(k) % (hi - lo));
        s[k] = pixel_rgb(frames[at / plane], (size_t)(at % plane));
    }
    qsort(s, ns, sizeof *s, cmp_u32);
    size_t nu = 0;
    for (size_t k = 0; k < ns; k++) {
        if (nu > 0 && u[nu - 1].c == s[k]) u[nu - 1].w++;
        else u[nu++] = (wcolour){s[k], 1};
    }
    free(s);
    *m = nu;
    return u;
}

typedef struct box {
    size_t lo, hi;  /* entries [lo, hi) of the colour array */
    double sse;     /* weighted squared error about the mean; 0 when it cannot be cut */
    int ch;         /* the channel with the largest squared error */
} box;

static void box_measure(const wcolour *u, box *b) {
    double sw = 0, s[3] = {0}, ss[3] = {0};
    for (size_t i = b->lo; i < b->hi; i++)
        for (int ch = 0; ch < 3; ch++) {
            double v = chan(u[i].c, ch), w = u[i].w;
            if (ch == 0) sw += w;
            s[ch] += w * v;
            ss[ch] += w * v * v;
        }
    b->sse = 0;
    b->ch = 0;
    double widest = -1;
    for (int ch = 0; ch < 3; ch++) {
        double e = ss[ch] - s[ch] * s[ch] / sw;
        b->sse += e;
        if (e > widest) { widest = e; b->ch = ch; }
    }
    if (b->hi - b->lo < 2) b->sse = 0;
}

/* Stable counting sort of u[0..n) by channel ch, through tmp. */
static void sort_by_channel(wcolour *u, wcolour *tmp, size_t n, int ch) {
    size_t start[257] = {0};
    for (size_t i = 0; i < n; i++) start[chan(u[i].c, ch) + 1]++;
    for (int v = 0; v < 256; v++) start[v + 1] += start[v];
    for (size_t i = 0; i < n; i++) tmp[start[chan(u[i].c, ch)]++] = u[i];
    memcpy(u, tmp, n * sizeof *u);
}

/* Cuts b at the weighted median of its widest channel; the upper part becomes nb. */
static void box_split(wcolour *u, wcolour *tmp, box *b, box *nb) {
    sort_by_channel(u + b->lo, tmp, b->hi - b->lo, b->ch);
    double total = 0, acc = 0;
    for (size_t i = b->lo; i < b->hi; i++) total += u[i].w;
    size_t cut = b->lo + 1;
    for (size_t i = b->lo; i < b->hi; i++) {
        acc += u[i].w;
        if (2 * acc >= total) { cut = i + 1; break; }
    }
    if (cut >= b->hi) cut = b->hi - 1;
    *nb = (box){.lo = cut, .hi = b->hi};
    b->hi = cut;
    box_measure(u, b);
    box_measure(u, nb);
}

/* Heckbert's median cut into at most 256 boxes; each box's weighted mean is a colour. */
static void median_cut(wcolour *u, wcolour *tmp, size_t m, palette *p) {
    box boxes[256];
    int nb = 1;
    boxes[0] = (box){.lo = 0, .hi = m};
    box_measure(u, &boxes[0]);
    while (nb < 256) {
        int pick = 0;
        for (int k = 1; k < nb; k++) if (boxes[k].sse > boxes[pick].sse) pick = k;
        if (!(boxes[pick].sse > 0)) break;
        box_split(u, tmp, &boxes[pick], &boxes[nb]);
        nb++;
    }
    for (int k = 0; k < nb; k++) {
        double s[3] = {0}, sw = 0;
        for (size_t i = boxes[k].lo; i < boxes[k].hi; i++) {
            for (int ch = 0; ch < 3; ch++) s[ch] += (double)u[i].w * chan(u[i].c, ch);
            sw += u[i].w;
        }
        for (int ch = 0; ch < 3; ch++) p->rgb[k][ch] = (uint8_t)(s[ch] / sw + 0.5);
    }
    p->n = nb;
}

/* Lloyd's k-means from the median-cut colours: each pass moves every palette colour to
 * the weighted mean of the samples nearest to it (a colour nothing is near stays put). */
static void kmeans_refine(const wcolour *u, size_t m, palette *p) {
    for (int pass = 0; pass < GIF_KMEANS_PASSES; pass++) {
        double sum[256][4];
        memset(sum, 0, sizeof sum);
        nearest_init(p);
        for (size_t i = 0; i < m; i++) {
            uint32_t c = u[i].c;
            int k = nearest_search(p, (int)chan(c, 0), (int)chan(c, 1), (int)chan(c, 2));
            for (int ch = 0; ch < 3; ch++) sum[k][ch] += (double)u[i].w * chan(c, ch);
            sum[k][3] += u[i].w;
        }
        for (int k = 0; k < p->n; k++)
            if (sum[k][3] > 0)
                for (int ch = 0; ch < 3; ch++) p->rgb[k][ch] = (uint8_t)(sum[k][ch] / sum[k][3] + 0.5);
    }
}

static status palette_build(const char *who, image *const *frames, int n, palette *p) {
    if (!palette_exact(frames, n, p)) {
        size_t m = 0;
        wcolour *u = sample_colours(frames, n, &m);
        wcolour *tmp = u ? malloc(m * sizeof *tmp) : NULL;
        if (!tmp) { free(u); return error_set(STATUS_NOMEM, "%s: out of memory for the palette", who); }
        median_cut(u, tmp, m, p);
        kmeans_refine(u, m, p);
        free(tmp);
        free(u);
    }
    nearest_init(p);
    p->cache_key = calloc((size_t)1 << GIF_CACHE_BITS, sizeof *p->cache_key);
    p->cache_idx = calloc((size_t)1 << GIF_CACHE_BITS, 1);
    if (!p->cache_key || !p->cache_idx) return error_set(STATUS_NOMEM, "%s: out of memory", who);
    return STATUS_OK;
}

/* ---- mapping a frame to palette indices ---- */

static void map_nearest(palette *p, const image *im, uint8_t *idx) {
    size_t plane = (size_t)im->w * im->h;
    for (size_t i = 0; i < plane; i++) idx[i] = (uint8_t)nearest(p, pixel_rgb(im, i));
}

/* Floyd & Steinberg 1976: each pixel's error (wanted minus chosen, in 8-bit units) goes 7/16
 * right, 3/16 down-left, 5/16 down, 1/16 down-right. err holds two rows of (w + 2) x 3
 * floats: the current row's and the next's, one pixel of padding on each side. */
static void map_dither(palette *p, const image *im, uint8_t *idx, float *err) {
    int w = im->w;
    size_t row = (size_t)(w + 2) * 3;
    float *cur = err, *next = err + row;
    memset(cur, 0, row * sizeof *cur);
    for (int y = 0; y < im->h; y++) {
        memset(next, 0, row * sizeof *next);
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            uint32_t src = pixel_rgb(im, i), q = 0;
            float want[3];
            for (int ch = 0; ch < 3; ch++) {
                float v = (float)chan(src, ch) + cur[(x + 1) * 3 + ch];
                want[ch] = v < 0 ? 0 : v > 255 ? 255 : v;
                q = q << 8 | (uint32_t)(want[ch] + 0.5f);
            }
            int k = nearest(p, q);
            idx[i] = (uint8_t)k;
            for (int ch = 0; ch < 3; ch++) {
                float e = want[ch] - p->rgb[k][ch];
                cur[(x + 2) * 3 + ch] += e * (7.0f / 16);
                next[x * 3 + ch] += e * (3.0f / 16);
                next[(x + 1) * 3 + ch] += e * (5.0f / 16);
                next[(x + 2) * 3 + ch] += e * (1.0f / 16);
            }
        }
        float *t = cur; cur = next; next = t;
    }
}

/* ---- LZW (GIF89a appendix F): variable-length codes, LSB first, in sub-blocks ---- */

typedef struct lzw {
    bytes *out;
    uint8_t block[255];       /* a data sub-block being filled */
    int nblock;
    uint32_t acc;             /* bits not yet written, LSB first */
    int nacc;
    int32_t key[LZW_HASH_SIZE];   /* prefix code << 8 | next index; -1 when empty */
    uint16_t code[LZW_HASH_SIZE]; /* the code of that string */
} lzw;

static void lzw_byte(lzw *z, unsigned v) {
    z->block[z->nblock++] = (uint8_t)v;
    if (z->nblock == 255) {
        bytes_u8(z->out, 255);
        bytes_put(z->out, z->block, 255);
        z->nblock = 0;
    }
}

static void lzw_code(lzw *z, unsigned code, int bits) {
    z->acc |= (uint32_t)code << z->nacc;
    z->nacc += bits;
    for (; z->nacc >= 8; z->nacc -= 8, z->acc >>= 8) lzw_byte(z, z->acc & 255);
}

/* The last partial byte, the last sub-block and the block terminator. */
static void lzw_finish(lzw *z) {
    if (z->nacc > 0) lzw_byte(z, z->acc & 255);
    if (z->nblock > 0) {
        bytes_u8(z->out, (unsigned)z->nblock);
        bytes_put(z->out, z->block, (size_t)z->nblock);
    }
    bytes_u8(z->out, 0);
}

/* Codes: 0..255 the indices, 256 clear, 257 end of information, then strings from 258. A
 * decoder adds each string one code after the encoder, so the code width grows as soon as
 * the code just assigned needs the next width; at 4096 codes a clear starts over. */
static void lzw_encode(lzw *z, bytes *out, const uint8_t *idx, size_t n) {
    enum { CLEAR = 256, EOI = 257, FIRST = 258, MAX_CODES = 4096 };
    *z = (lzw){.out = out};
    memset(z->key, 0xFF, sizeof z->key);
    bytes_u8(out, 8);  /* minimum code size */
    int bits = 9, next = FIRST;
    lzw_code(z, CLEAR, bits);
    unsigned cur = idx[0];
    for (size_t i = 1; i < n; i++) {
        int32_t key = (int32_t)(cur << 8 | idx[i]);
        uint32_t h = ((uint32_t)key * 2654435761u) >> 19;  /* 13 bits */
        while (z->key[h] >= 0 && z->key[h] != key) h = (h + 1) & (LZW_HASH_SIZE - 1);
        if (z->key[h] == key) { cur = z->code[h]; continue; }
        lzw_code(z, cur, bits);
        if (next == MAX_CODES) {
            lzw_code(z, CLEAR, bits);
            memset(z->key, 0xFF, sizeof z->key);
            bits = 9;
            next = FIRST;
        } else {
            z->key[h] = key;
            z->code[h] = (uint16_t)next;
            if (next == (1 << bits)) bits++;
            next++;
        }
        cur = idx[i];
    }
    lzw_code(z, cur, bits);
    if (next == (1 << bits) && bits < 12) bits++;  /* the decoder adds a string for cur */
    lzw_code(z, EOI, bits);
    lzw_finish(z);
}

/* ---- the file's blocks ---- */

/* Header, logical screen descriptor (section 18) with a 256-entry global colour table
 * (flags 0xF7: table present, 8-bit colour resolution, unsorted, 2^(7+1) entries) and the
 * NETSCAPE2.0 application extension (sub-block 1: the loop count). */
static void put_header(bytes *b, int w, int h, const palette *p, int loop) {
    bytes_put(b, "GIF89a", 6);
    bytes_u16(b, (unsigned)w);
    bytes_u16(b, (unsigned)h);
    bytes_u8(b, 0xF7);
    bytes_u8(b, 0);  /* background colour index */
    bytes_u8(b, 0);  /* no aspect ratio */
    for (int k = 0; k < 256; k++) bytes_put(b, p->rgb[k < p->n ? k : 0], 3);
    bytes_put(b, "\x21\xFF\x0BNETSCAPE2.0\x03\x01", 16);
    bytes_u16(b, (unsigned)loop);
    bytes_u8(b, 0);
}

/* Graphic control extension (section 23: disposal 1, keep the frame; no transparency) and
 * an image descriptor (section 20) covering the screen, no local table, not interlaced. */
static void put_frame_header(bytes *b, int w, int h, int delay_cs) {
    bytes_put(b, "\x21\xF9\x04\x04", 4);
    bytes_u16(b, (unsigned)delay_cs);
    bytes_u8(b, 0);  /* transparent index (unused) */
    bytes_u8(b, 0);
    bytes_u8(b, 0x2C);
    bytes_u16(b, 0);
    bytes_u16(b, 0);
    bytes_u16(b, (unsigned)w);
    bytes_u16(b, (unsigned)h);
    bytes_u8(b, 0);
}

static status check_args(const char *who, image *const *frames, int n, const gif_opts *o) {
    if (n < 1) return error_set(STATUS_ARG, "%s: need at least one frame (got %d)", who, n);
    if (!frames) return error_set(STATUS_ARG, "%s: frames is NULL", who);
    for (int f = 0; f < n; f++) {
        const image *im = frames[f];
        if (!im || !im->data) return error_set(STATUS_ARG, "%s: frame %d is NULL", who, f);
        if (im->c != 3 && im->c != 4)
            return error_set(STATUS_ARG, "%s: frame %d has %d channels (want 3 or 4)", who, f, im->c);
        if (im->w < 1 || im->h < 1 || im->w > 65535 || im->h > 65535)
            return error_set(STATUS_ARG, "%s: frame %d is %dx%d; GIF sides must be 1..65535",
                             who, f, im->w, im->h);
        if (im->w != frames[0]->w || im->h != frames[0]->h)
            return error_set(STATUS_ARG, "%s: frame %d is %dx%d but frame 0 is %dx%d", who, f,
                             im->w, im->h, frames[0]->w, frames[0]->h);
    }
    if (o->delay_cs < 0 || o->delay_cs > 65535)
        return error_set(STATUS_ARG, "%s: delay_cs %d is outside 0..65535", who, o->delay_cs);
    if (o->loop < 0 || o->loop > 65535)
        return error_set(STATUS_ARG, "%s: loop %d is outside 0..65535", who, o->loop);
    return STATUS_OK;
}

/* Maps and compresses every frame after the header; the trailer ends the file. */
static status put_frames(const char *who, bytes *b, image *const *frames, int n,
                         const gif_opts *o, palette *p) {
    int w = frames[0]->w, h = frames[0]->h;
    uint8_t *idx = malloc((size_t)w * h);
    float *err = o->dither ? malloc((size_t)(w + 2) * 3 * 2 * sizeof *err) : NULL;
    lzw *z = malloc(sizeof *z);
    status s = STATUS_OK;
    if (!idx || !z || (o->dither && !err)) {
        s = error_set(STATUS_NOMEM, "%s: out of memory for %dx%d frames", who, w, h);
        goto done;
    }
    for (int f = 0; f < n && !b->oom; f++) {
        if (o->dither) map_dither(p, frames[f], idx, err);
        else map_nearest(p, frames[f], idx);
        put_frame_header(b, w, h, o->delay_cs);
        lzw_encode(z, b, idx, (size_t)w * h);
    }
    bytes_u8(b, 0x3B);
    if (b->oom) s = error_set(STATUS_NOMEM, "%s: out of memory for the encoded file", who);
done:
    free(idx); free(err); free(z);
    return s;
}

static status encode(const char *who, image *const *frames, int n, const gif_opts *o,
                     uint8_t **out, size_t *len) {
    gif_opts d = o ? *o : gif_defaults();
    status s = check_args(who, frames, n, &d);
    if (s != STATUS_OK) return s;
    palette *p = calloc(1, sizeof *p);
    if (!p) return error_set(STATUS_NOMEM, "%s: out of memory", who);
    bytes b = {0};
    s = palette_build(who, frames, n, p);
    if (s == STATUS_OK) {
        put_header(&b, frames[0]->w, frames[0]->h, p, d.loop);
        s = put_frames(who, &b, frames, n, &d, p);
    }
    free(p->cache_key); free(p->cache_idx); free(p);
    if (s != STATUS_OK) { free(b.p); return s; }
    *out = b.p;
    *len = b.n;
    return STATUS_OK;
}

status gif_encode(image *const *frames, int n, const gif_opts *o, uint8_t **out, size_t *len) {
    if (!out || !len) return error_set(STATUS_ARG, "gif_encode: out and len must not be NULL");
    *out = NULL;
    *len = 0;
    return encode("gif_encode", frames, n, o, out, len);
}

status gif_write(const char *path, image *const *frames, int n, const gif_opts *o) {
    if (!path || !path[0]) return error_set(STATUS_ARG, "gif_write: empty path");
    uint8_t *buf = NULL;
    size_t len = 0;
    status s = encode(path, frames, n, o, &buf, &len);
    if (s == STATUS_OK) s = file_write_atomic(path, buf, len);
    free(buf);
    return s;
}
