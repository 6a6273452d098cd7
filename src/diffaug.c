/* diffaug.c: DiffAugment (see diffaug.h), composed of existing ops.
 *
 * color: op_add / op_mul with (N, 1, 1, 1) factors and op_mean (keepdim) for the means,
 * in the official order of operations, (x - m) * f + m, so float32 rounds as PyTorch does.
 * translation: one zero pad of the whole batch by (sy, sx), then per sample a window of
 * H x W at (sy + ty, sx + tx) (tensor_narrow, two op_slice), concatenated back. Reading
 * in[y + ty] with zeros outside is what the official gather from a 1-padded copy at
 * clamp(y + ty + 1, 0, H + 1) gives, since |ty| <= sy and every clamped index is a pad.
 * cutout: a constant (N, 1, H, W) mask of ones with the clamped square zeroed, op_mul.
 */
#include "atelier/diffaug.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/ops.h"
#include "atelier/rng.h"

/* The parts' streams: one per field, so a part's numbers do not depend on the others. */
enum { F_BRIGHTNESS, F_SATURATION, F_CONTRAST, F_TX, F_TY, F_CUT_X, F_CUT_Y };

static int shift_of(int side) { return (int)(side * 0.125 + 0.5); }  /* ratio 1/8 */
static int cut_of(int side) { return (int)(side * 0.5 + 0.5); }      /* ratio 1/2 */

/* ---- parsing ---- */

static unsigned part_bit(const char *w, size_t len) {
    static const struct { const char *name; unsigned bit; } parts[] = {
        {"color", DIFFAUG_COLOR}, {"translation", DIFFAUG_TRANSLATION},
        {"cutout", DIFFAUG_CUTOUT}, {"none", 0}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (strlen(parts[i].name) == len && strncmp(parts[i].name, w, len) == 0)
            return parts[i].bit;
    return ~0u;
}

unsigned diffaug_parse(const char *spec, status *st) {
    status dummy;
    if (!st) st = &dummy;
    *st = STATUS_OK;
    if (!spec || spec[strspn(spec, " \t")] == 0) return 0;
    unsigned policy = 0;
    for (const char *p = spec;; p++) {
        size_t len = strcspn(p, ",");
        const char *word = p;
        size_t wl = len;
        while (wl > 0 && isspace((unsigned char)*word)) word++, wl--;
        while (wl > 0 && isspace((unsigned char)word[wl - 1])) wl--;
        unsigned bit = part_bit(word, wl);
        if (bit == ~0u) {
            *st = error_set(STATUS_ARG, "diffaug: unknown part '%.*s' in '%s' (known: color, "
                            "translation, cutout, none)", (int)wl, word, spec);
            return 0;
        }
        policy |= bit;
        p += len;
        if (!*p) break;
    }
    return policy;
}

/* ---- drawing ---- */

static void draw_uniform(uint64_t key, int field, float *out, int n) {
    rng f = {key, (uint64_t)field};
    rng_uniform_at(rng_u64(&f), 0, out, n, 0.0f, 1.0f);
}

/* out[i] uniform over the integers [lo, lo + range). (The modulo's bias is range / 2^64.) */
static void draw_int(uint64_t key, int field, int *out, int n, int lo, int range) {
    rng f = {key, (uint64_t)field};
    rng r = rng_new(rng_u64(&f));
    for (int i = 0; i < n; i++) out[i] = lo + (int)(rng_u64(&r) % (uint64_t)range);
}

static status draw_color(arena *a, uint64_t key, diffaug_draws *d) {
    int n = d->n;
    d->brightness = arena_alloc(a, n * sizeof(float));
    d->saturation = arena_alloc(a, n * sizeof(float));
    d->contrast = arena_alloc(a, n * sizeof(float));
    if (!d->brightness || !d->saturation || !d->contrast) return error_status();
    draw_uniform(key, F_BRIGHTNESS, d->brightness, n);
    draw_uniform(key, F_SATURATION, d->saturation, n);
    draw_uniform(key, F_CONTRAST, d->contrast, n);
    for (int i = 0; i < n; i++) {  /* the official float32 expressions of r */
        d->brightness[i] = d->brightness[i] - 0.5f;
        d->saturation[i] = d->saturation[i] * 2.0f;
        d->contrast[i] = d->contrast[i] + 0.5f;
    }
    return STATUS_OK;
}

static status draw_geometry(arena *a, uint64_t key, unsigned policy, int h, int w, diffaug_draws *d) {
    int n = d->n;
    if (policy & DIFFAUG_TRANSLATION) {
        d->tx = arena_alloc(a, n * sizeof(int));
        d->ty = arena_alloc(a, n * sizeof(int));
        if (!d->tx || !d->ty) return error_status();
        draw_int(key, F_TX, d->tx, n, -shift_of(w), 2 * shift_of(w) + 1);
        draw_int(key, F_TY, d->ty, n, -shift_of(h), 2 * shift_of(h) + 1);
    }
    if (policy & DIFFAUG_CUTOUT) {
        d->cut_x = arena_alloc(a, n * sizeof(int));
        d->cut_y = arena_alloc(a, n * sizeof(int));
        if (!d->cut_x || !d->cut_y) return error_status();
        draw_int(key, F_CUT_X, d->cut_x, n, 0, w + 1 - cut_of(w) % 2);
        draw_int(key, F_CUT_Y, d->cut_y, n, 0, h + 1 - cut_of(h) % 2);
    }
    return STATUS_OK;
}

status diffaug_draw(arena *a, unsigned policy, int n, int h, int w, uint64_t seed,
                    uint64_t counter, diffaug_draws *d) {
    if (!a || !d || n < 1 || h < 1 || w < 1 || (policy & ~DIFFAUG_ALL))
        return error_set(STATUS_ARG, "diffaug_draw: needs an arena, draws, n, h, w >= 1 (got %d, "
                         "%d, %d) and a known policy (got 0x%x)", n, h, w, policy);
    memset(d, 0, sizeof *d);
    d->n = n;
    rng k = {seed, counter};
    uint64_t key = rng_u64(&k);
    if ((policy & DIFFAUG_COLOR) && draw_color(a, key, d) != STATUS_OK) return error_status();
    return draw_geometry(a, key, policy, h, w, d);
}

/* ---- applying ---- */

/* d fits x (N, C, H, W) for policy: one line naming the first problem otherwise. */
static bool draws_fit(const tensor *x, unsigned policy, const diffaug_draws *d) {
    char buf[64];
    int n = x->shape[0], h = x->shape[2], w = x->shape[3];
    if (!d || d->n != n) {
        error_set(STATUS_SHAPE, "diffaug: %d draws for input %s", d ? d->n : 0, tensor_shape_str(x, buf));
        return false;
    }
    if (((policy & DIFFAUG_COLOR) && (!d->brightness || !d->saturation || !d->contrast)) ||
        ((policy & DIFFAUG_TRANSLATION) && (!d->tx || !d->ty)) ||
        ((policy & DIFFAUG_CUTOUT) && (!d->cut_x || !d->cut_y))) {
        error_set(STATUS_ARG, "diffaug: the draws lack a part of policy 0x%x (drawn for another policy?)", policy);
        return false;
    }
    for (int i = 0; i < n; i++) {
        bool ok = !(policy & DIFFAUG_TRANSLATION) ||
                  (abs(d->tx[i]) <= shift_of(w) && abs(d->ty[i]) <= shift_of(h));
        ok = ok && (!(policy & DIFFAUG_CUTOUT) ||
                    (d->cut_x[i] >= 0 && d->cut_x[i] <= w - cut_of(w) % 2 &&
                     d->cut_y[i] >= 0 && d->cut_y[i] <= h - cut_of(h) % 2));
        if (!ok) {
            error_set(STATUS_ARG, "diffaug: draw %d is out of range for input %s (drawn for "
                      "another size?)", i, tensor_shape_str(x, buf));
            return false;
        }
    }
    return true;
}

/* (N, 1, 1, 1) constant from n per-sample values. */
static tensor *per_sample(arena *a, const float *v, int n) {
    return tensor_from(a, 4, (int[]){n, 1, 1, 1}, v);
}

/* (x - m) * f + m */
static tensor *scale_about(arena *a, tensor *x, tensor *m, tensor *f) {
    return op_add(a, op_mul(a, op_sub(a, x, m), f), m);
}

static tensor *apply_color(arena *a, tensor *x, const diffaug_draws *d) {
    x = op_add(a, x, per_sample(a, d->brightness, d->n));
    x = scale_about(a, x, op_mean(a, x, 1 << 1, true), per_sample(a, d->saturation, d->n));
    return scale_about(a, x, op_mean(a, x, (1 << 1) | (1 << 2) | (1 << 3), true),
                       per_sample(a, d->contrast, d->n));
}

static tensor *apply_translation(arena *a, tensor *x, const diffaug_draws *d) {
    int n = x->shape[0], h = x->shape[2], w = x->shape[3];
    int sy = shift_of(h), sx = shift_of(w);
    tensor *padded = op_pad(a, x, PAD_ZERO, sy, sy, sx, sx);
    tensor **parts = arena_alloc(a, n * sizeof *parts);
    if (!padded || !parts) return NULL;
    for (int i = 0; i < n; i++) {
        int y0 = sy + d->ty[i], x0 = sx + d->tx[i];
        tensor *v = tensor_narrow(a, padded, i, 1);
        v = op_slice(a, v, 2, y0, y0 + h);
        if (!(parts[i] = op_slice(a, v, 3, x0, x0 + w))) return NULL;
    }
    return op_concat(a, parts, n, 0);
}

/* rows [c - k/2, c - k/2 + k) of a side, clamped: the official clamped grid's set. */
static void cut_range(int c, int k, int side, int *lo, int *hi) {
    *lo = c - k / 2 < 0 ? 0 : c - k / 2;
    *hi = c - k / 2 + k > side ? side : c - k / 2 + k;
}

static tensor *apply_cutout(arena *a, tensor *x, const diffaug_draws *d) {
    int n = x->shape[0], h = x->shape[2], w = x->shape[3];
    tensor *mask = tensor_fill(tensor_new(a, 4, (int[]){n, 1, h, w}), 1.0f);
    if (!mask) return NULL;
    for (int i = 0; i < n; i++) {
        int y0, y1, x0, x1;
        cut_range(d->cut_y[i], cut_of(h), h, &y0, &y1);
        cut_range(d->cut_x[i], cut_of(w), w, &x0, &x1);
        for (int y = y0; y < y1; y++)
            for (int xx = x0; xx < x1; xx++) mask->data[((size_t)i * h + y) * w + xx] = 0.0f;
    }
    return op_mul(a, x, mask);
}

tensor *diffaug_apply(arena *a, tensor *x, unsigned policy, const diffaug_draws *d) {
    if (!x) return NULL;
    if (policy & ~DIFFAUG_ALL) {
        error_set(STATUS_ARG, "diffaug: unknown policy bits 0x%x", policy & ~DIFFAUG_ALL);
        return NULL;
    }
    if (policy == 0) return x;
    char buf[64];
    if (x->ndim != 4) {
        error_set(STATUS_SHAPE, "diffaug: input %s must be (N, C, H, W)", tensor_shape_str(x, buf));
        return NULL;
    }
    if (!a || !draws_fit(x, policy, d)) return NULL;
    if (policy & DIFFAUG_COLOR) x = apply_color(a, x, d);
    if (x && (policy & DIFFAUG_TRANSLATION)) x = apply_translation(a, x, d);
    if (x && (policy & DIFFAUG_CUTOUT)) x = apply_cutout(a, x, d);
    return x;
}
