/* test_flow.c: optical flow, occlusion masks, warping, the warping error and the temporal
 * blend (flow.h), and the temporal term of stylize (stylize.h): known shifts of a synthetic
 * texture, agreement with cv2.DISOpticalFlow (tools/flow_cv2.py --golden), gradients against
 * finite differences, bad inputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/flow.h"
#include "atelier/ops.h"
#include "atelier/rng.h"
#include "atelier/safetensors.h"
#include "atelier/stylize.h"
#include "gradcheck.h"
#include "harness.h"
#include "../src/stylize_internal.h"

/* A smooth texture of several orientations and scales (no aperture problem), defined at any
 * real (x, y), so a frame shifted by a non-integer amount is exact: frame(x) = tex(x - dx). */
static double tex(double x, double y, int c) {
    return 0.5 + 0.12 * sin(0.41 * x + 0.13 * y + c) + 0.10 * sin(-0.17 * x + 0.37 * y + 1.3) +
           0.08 * sin(0.23 * x - 0.29 * y + 2.1 + 0.4 * c) + 0.08 * cos(0.061 * x) * sin(0.093 * y + 0.7);
}

static image *shifted(int w, int h, double dx, double dy) {
    image *im = image_new(w, h, 3);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) im->data[(c * h + y) * w + x] = (float)tex(x - dx, y - dy, c);
    return im;
}

/* Mean end-point error of f against the constant (dx, dy), `margin` px from the borders. */
static double mean_epe(const flow_field *f, double dx, double dy, int margin) {
    double acc = 0;
    int n = 0;
    for (int y = margin; y < f->h - margin; y++)
        for (int x = margin; x < f->w - margin; x++) {
            double eu = f->u[y * f->w + x] - dx, ev = f->v[y * f->w + x] - dy;
            acc += sqrt(eu * eu + ev * ev);
            n++;
        }
    return acc / n;
}

static void test_known_shifts(void) {
    const double shifts[][2] = {{3, 0}, {0, -2}, {2.5, -1.25}, {-4.3, 2.7}, {0.4, 0.3}};
    for (size_t k = 0; k < sizeof shifts / sizeof shifts[0]; k++) {
        double dx = shifts[k][0], dy = shifts[k][1];
        image *a = shifted(160, 120, 0, 0), *b = shifted(160, 120, dx, dy);
        flow_field f = {0};
        CHECK_MSG(flow_compute(a, b, &f) == STATUS_OK, "flow: %s", error_message());
        if (f.u) {
            CHECK(f.w == 160 && f.h == 120);
            double epe = mean_epe(&f, dx, dy, 16);
            CHECK_MSG(epe < 0.5, "shift (%g, %g): mean end-point error %.3f px", dx, dy, epe);
        }
        /* the other presets run too (the README compares them) */
        flow_field g = {0};
        CHECK(flow_compute_opts(a, b, &(flow_opts){FLOW_PRESET_ULTRAFAST}, &g) == STATUS_OK);
        flow_field_free(&g);
        flow_field_free(&f);
        image_free(a);
        image_free(b);
    }
}

/* A flow field of a constant (u, v). */
static flow_field const_flow(int w, int h, float u, float v) {
    flow_field f = {w, h, malloc(sizeof(float) * w * h), malloc(sizeof(float) * w * h)};
    for (int i = 0; i < w * h; i++) { f.u[i] = u; f.v[i] = v; }
    return f;
}

static void test_warp(void) {
    int w = 20, h = 12;
    image *src = image_new(w, h, 4), *out = image_new(w, h, 4);   /* any plane count */
    for (int i = 0; i < 4 * w * h; i++) src->data[i] = (float)((i * 37) % 101) / 100.0f;
    /* integer shift: exact inside, clamped to the border outside */
    flow_field f = const_flow(w, h, 2, -1);
    CHECK(flow_warp(src, &f, out) == STATUS_OK);
    int bad = 0;
    for (int c = 0; c < 4; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int sx = x + 2 > w - 1 ? w - 1 : x + 2, sy = y - 1 < 0 ? 0 : y - 1;
                bad += out->data[(c * h + y) * w + x] != src->data[(c * h + sy) * w + sx];
            }
    CHECK_MSG(bad == 0, "%d pixels of an integer warp differ", bad);
    /* half a pixel: the mean of the two neighbours */
    flow_field g = const_flow(w, h, 0.5f, 0);
    CHECK(flow_warp(src, &g, out) == STATUS_OK);
    CHECK_NEAR(out->data[(2 * h + 5) * w + 7], 0.5 * (src->data[(2 * h + 5) * w + 7] + src->data[(2 * h + 5) * w + 8]), 1e-6, 0);
    /* bicubic: an integer shift is exact too; at half a pixel the 4 taps
     * (-3/32, 19/32, 19/32, -3/32) of Keys' kernel with a = -0.75 */
    CHECK(flow_warp_cubic(src, &f, out) == STATUS_OK);
    bad = 0;
    for (int c = 0; c < 4; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int sx = x + 2 > w - 1 ? w - 1 : x + 2, sy = y - 1 < 0 ? 0 : y - 1;
                bad += fabsf(out->data[(c * h + y) * w + x] - src->data[(c * h + sy) * w + sx]) > 1e-6f;
            }
    CHECK_MSG(bad == 0, "%d pixels of an integer bicubic warp differ", bad);
    CHECK(flow_warp_cubic(src, &g, out) == STATUS_OK);
    const float *row = src->data + (2 * h + 5) * w;
    CHECK_NEAR(out->data[(2 * h + 5) * w + 7], (-3 * row[6] + 19 * row[7] + 19 * row[8] - 3 * row[9]) / 32.0, 1e-6, 0);
    CHECK(flow_warp_cubic(src, &g, src) == STATUS_ARG);
    flow_field_free(&f);
    flow_field_free(&g);
    image_free(src);
    image_free(out);
    /* what the blend needs: resampled ten times (there and back by 0.4 px), a noise keeps far
     * more of its fine detail (energy about its 3x3 mean) through bicubic than bilinear */
    int W = 48, H = 40;
    image *im[2], *tmp = image_new(W, H, 3);
    rng r = rng_new(5);
    flow_field fw = const_flow(W, H, 0.4f, 0.4f), bw = const_flow(W, H, -0.4f, -0.4f);
    double energy[2];
    image *noise = image_new(W, H, 3);
    rng_uniform(&r, noise->data, 3 * W * H, 0, 1);
    for (int k = 0; k < 2; k++) {   /* the same noise through each */
        im[k] = image_copy(noise);
        for (int it = 0; it < 5; it++) {
            CHECK((k ? flow_warp_cubic : flow_warp)(im[k], &fw, tmp) == STATUS_OK);
            CHECK((k ? flow_warp_cubic : flow_warp)(tmp, &bw, im[k]) == STATUS_OK);
        }
        double e = 0;
        const float *p = im[k]->data;
        for (int y = 4; y < H - 4; y++)
            for (int x = 4; x < W - 4; x++) {
                double mean = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) mean += p[(y + dy) * W + x + dx] / 9.0;
                e += (p[y * W + x] - mean) * (p[y * W + x] - mean);
            }
        energy[k] = e;
    }
    CHECK_MSG(energy[1] > 20 * energy[0], "fine detail after 10 resamplings: bicubic %.3g, bilinear %.3g", energy[1], energy[0]);
    flow_field_free(&fw);
    flow_field_free(&bw);
    image_free(im[0]); image_free(im[1]); image_free(tmp); image_free(noise);
}

static double mask_mean(const float *m, int w, int x0, int x1, int y0, int y1) {
    double acc = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) acc += m[y * w + x];
    return acc / ((double)(x1 - x0) * (y1 - y0));
}

/* The whole view moves right by 5 px: b's first 5 columns are new (disoccluded), and a's last
 * 5 columns leave the frame. */
static void test_mask_border(void) {
    int w = 160, h = 120;
    image *a = shifted(w, h, 0, 0), *b = shifted(w, h, 5, 0);
    flow_field fwd = {0}, bwd = {0};
    float *ma = malloc(sizeof(float) * w * h), *mb = malloc(sizeof(float) * w * h);
    CHECK(flow_pair_compute(a, b, &fwd, &bwd, ma) == STATUS_OK);
    CHECK(flow_occlusion(&bwd, &fwd, mb) == STATUS_OK);   /* b's mask: its flow into a */
    double left = mask_mean(mb, w, 0, 4, 8, h - 8), right = mask_mean(ma, w, w - 4, w, 8, h - 8);
    double mid_a = mask_mean(ma, w, 16, w - 16, 16, h - 16), mid_b = mask_mean(mb, w, 16, w - 16, 16, h - 16);
    CHECK_MSG(left < 0.1, "b's disoccluded left border is %.2f reliable", left);
    CHECK_MSG(right < 0.1, "a's right border, leaving the frame, is %.2f reliable", right);
    CHECK_MSG(mid_a > 0.95 && mid_b > 0.95, "the middle is only %.2f / %.2f reliable", mid_a, mid_b);
    flow_field_free(&fwd);
    flow_field_free(&bwd);
    free(ma);
    free(mb);
    image_free(a);
    image_free(b);
}

/* Each criterion of the check on hand-made flows (20x6): a step in u is a motion boundary;
 * a backward flow that does not undo the forward one is occlusion; a small mismatch is not;
 * targets past the border are out. */
static void test_mask_criteria(void) {
    int w = 20, h = 6;
    flow_field fwd = const_flow(w, h, 0, 0), bwd = const_flow(w, h, 0, 0);
    float mask[20 * 6];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            fwd.u[y * w + x] = x >= 10 ? 1.5f : 0.0f;
            bwd.u[y * w + x] = x >= 11 ? -1.5f : 0.0f;   /* undoes fwd at every target */
        }
    CHECK(flow_occlusion(&fwd, &bwd, mask) == STATUS_OK);
    for (int x = 0; x < w; x++) {
        /* 9 and 10: |grad u|^2 = 0.75^2 > 0.002 + 0.01 |w|^2; 18, 19: x + 1.5 > 19 */
        float want = x == 9 || x == 10 || x >= 18 ? 0.0f : 1.0f;
        CHECK_MSG(mask[3 * w + x] == want, "step: mask at x %d is %g, want %g", x, mask[3 * w + x], want);
    }
    flow_field_free(&fwd);
    flow_field_free(&bwd);
    fwd = const_flow(w, h, 1.5f, 0);
    bwd = const_flow(w, h, 0, 0);                       /* |w + w~|^2 = 2.25 > 0.5225 */
    CHECK(flow_occlusion(&fwd, &bwd, mask) == STATUS_OK);
    CHECK(mask[3 * w + 5] == 0);
    for (int i = 0; i < w * h; i++) bwd.u[i] = -1.0f;  /* 0.25 < 0.01 (2.25 + 1) + 0.5 */
    CHECK(flow_occlusion(&fwd, &bwd, mask) == STATUS_OK);
    CHECK(mask[3 * w + 5] == 1);
    flow_field_free(&fwd);
    flow_field_free(&bwd);
}

/* A textured square moves 6 px right over a still background: the background it uncovers
 * (b's strip left of the square) has no match in a, and the square's edges are motion
 * boundaries; both must be marked, the still background far from it not. */
static void square_frame(image *im, int sx, int sy, int side) {
    int w = im->w, h = im->h;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                bool in = x >= sx && x < sx + side && y >= sy && y < sy + side;
                double v = in ? 1.0 - tex(1.7 * (x - sx) + 40, 1.3 * (y - sy) + 17, 2 - c) : tex(x, y, c);
                im->data[(c * h + y) * w + x] = (float)v;
            }
}

static void test_mask_moving_square(void) {
    int w = 160, h = 120, side = 48;
    image *a = image_new(w, h, 3), *b = image_new(w, h, 3);
    square_frame(a, 50, 36, side);
    square_frame(b, 56, 36, side);
    flow_field fb = {0};
    float *mb = malloc(sizeof(float) * w * h);
    CHECK(flow_pair_compute(b, a, &fb, NULL, mb) == STATUS_OK);   /* b -> a, b's mask */
    double strip = mask_mean(mb, w, 50, 56, 40, 80);               /* uncovered in b */
    double far = mask_mean(mb, w, 0, 30, 0, h);                    /* still background */
    double inside = mask_mean(mb, w, 68, 92, 48, 72);              /* the square's middle */
    CHECK_MSG(strip < 0.5, "the uncovered strip is %.2f reliable", strip);
    CHECK_MSG(far > 0.9 && inside > 0.9, "far background %.2f, square's middle %.2f reliable", far, inside);
    flow_field_free(&fb);
    free(mb);
    image_free(a);
    image_free(b);
}

/* Four frames moving 2 px a frame. The warping error (with the clip's own flows and masks) of
 * a steady rendering of it is near 0; a flickering one (each frame's brightness and noise
 * drawn anew) is far higher; the flickering one blended with the warped previous output
 * (the fast path of `atelier video --temporal`) comes down. */
static void test_warping_error(void) {
    enum { N = 4 };
    int w = 96, h = 72;
    image *in[N], *steady[N], *flicker[N], *blended[N];
    flow_field fwd[N - 1] = {{0}}, back[N - 1] = {{0}};
    float *masks[N - 1], *bmasks[N - 1];
    rng r = rng_new(7);
    for (int t = 0; t < N; t++) {
        in[t] = shifted(w, h, 2.0 * t, 0);
        steady[t] = image_copy(in[t]);
        flicker[t] = image_copy(in[t]);
        for (int i = 0; i < 3 * w * h; i++) steady[t]->data[i] = 0.2f + 0.6f * in[t]->data[i];
        float gain = 0.8f + 0.1f * t * (t % 2 ? 1 : -1), noise[3 * 96 * 72];
        rng_normal(&r, noise, 3 * w * h, 0, 0.05f);
        for (int i = 0; i < 3 * w * h; i++) flicker[t]->data[i] = gain * in[t]->data[i] + noise[i];
    }
    for (int t = 0; t + 1 < N; t++) {
        masks[t] = malloc(sizeof(float) * w * h);
        bmasks[t] = malloc(sizeof(float) * w * h);
        CHECK(flow_pair_compute(in[t], in[t + 1], &fwd[t], &back[t], masks[t]) == STATUS_OK);
        CHECK(flow_occlusion(&back[t], &fwd[t], bmasks[t]) == STATUS_OK);
    }
    /* blended: out_t = flicker_t + wt * m * (warp(out_{t-1}) - flicker_t), the flow t -> t-1 */
    blended[0] = image_copy(flicker[0]);
    for (int t = 1; t < N; t++) {
        image *warped = image_new(w, h, 3);
        blended[t] = image_new(w, h, 3);
        CHECK(flow_warp(blended[t - 1], &back[t - 1], warped) == STATUS_OK);
        CHECK(flow_blend(flicker[t], warped, bmasks[t - 1], 0.8f, blended[t]) == STATUS_OK);
        image_free(warped);
    }
    double e_in, e_steady, e_flicker, e_blend;
    const float *const *cm = (const float *const *)masks;
    CHECK(flow_warping_error((const image *const *)in, N, fwd, cm, &e_in) == STATUS_OK);
    CHECK(flow_warping_error((const image *const *)steady, N, fwd, cm, &e_steady) == STATUS_OK);
    CHECK(flow_warping_error((const image *const *)flicker, N, fwd, cm, &e_flicker) == STATUS_OK);
    CHECK(flow_warping_error((const image *const *)blended, N, fwd, cm, &e_blend) == STATUS_OK);
    CHECK_MSG(e_in < 2e-4 && e_steady < 2e-4, "steady clips: E %.2e and %.2e", e_in, e_steady);
    CHECK_MSG(e_flicker > 0.02, "flickering clip: E %.2e", e_flicker);
    CHECK_MSG(e_blend < 0.5 * e_flicker, "blended E %.2e, flickering %.2e", e_blend, e_flicker);
    /* streamed, one pair at a time: the same number */
    flow_werr acc;
    flow_werr_init(&acc);
    CHECK(flow_werr_value(&acc) == 0);
    for (int t = 0; t + 1 < N; t++) CHECK(flow_werr_add(&acc, flicker[t], flicker[t + 1], &fwd[t], masks[t]) == STATUS_OK);
    CHECK_NEAR(flow_werr_value(&acc), e_flicker, 1e-12, 0);
    /* by hand, pair 0 of the flickering clip with an all-ones mask and a zero flow */
    flow_field zero = const_flow(w, h, 0, 0);
    float *ones = malloc(sizeof(float) * w * h);
    for (int i = 0; i < w * h; i++) ones[i] = 1;
    double want = 0, got;
    for (int i = 0; i < 3 * w * h; i++) {
        double d = flicker[0]->data[i] - flicker[1]->data[i];
        want += d * d;
    }
    want /= w * h;
    CHECK(flow_warping_error((const image *const *)flicker, 2, &zero, (const float *const *)&ones, &got) == STATUS_OK);
    CHECK_NEAR(got, want, 0, 1e-9);
    flow_field_free(&zero);
    free(ones);
    for (int t = 0; t < N; t++) {
        image_free(in[t]); image_free(steady[t]); image_free(flicker[t]); image_free(blended[t]);
        if (t + 1 < N) { flow_field_free(&fwd[t]); flow_field_free(&back[t]); free(masks[t]); free(bmasks[t]); }
    }
}

/* The floor (flow_werr_add_floor): a frame carried on by the flow, measured. Zero for an
 * integer motion; for half a pixel, the bilinear resampling's loss, by hand, and it grows
 * with the texture's fine detail (the reason a painting's floor lies above the input's). */
static void test_warping_error_floor(void) {
    int w = 40, h = 24;
    image *noise = image_new(w, h, 3), *smooth = shifted(w, h, 0, 0);
    rng r = rng_new(11);
    rng_uniform(&r, noise->data, 3 * w * h, 0, 1);
    float *mask = malloc(sizeof(float) * w * h);
    flow_werr e;
    /* an integer motion: carried exactly, no loss */
    flow_field f = const_flow(w, h, 3, -2), b = const_flow(w, h, -3, 2);
    CHECK(flow_occlusion(&f, &b, mask) == STATUS_OK);
    flow_werr_init(&e);
    CHECK(flow_werr_add_floor(&e, noise, &f, &b, mask) == STATUS_OK);
    CHECK_MSG(flow_werr_value(&e) < 1e-12, "integer shift: floor %.3g", flow_werr_value(&e));
    flow_field_free(&f);
    flow_field_free(&b);
    /* half a pixel to the right: C(x) = (cur(x-1) + cur(x)) / 2 (clamped at x = 0), read back at
     * x + 1/2: (C(x) + C(x+1)) / 2; the last column's target is out of frame (mask 0) */
    f = const_flow(w, h, 0.5f, 0), b = const_flow(w, h, -0.5f, 0);
    CHECK(flow_occlusion(&f, &b, mask) == STATUS_OK);
    double want = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x + 1 < w; x++) {
                const float *p = noise->data + (c * h + y) * w;
                double c0 = (p[x > 0 ? x - 1 : 0] + p[x]) / 2.0, c1 = (p[x] + p[x + 1]) / 2.0;
                double d = p[x] - (c0 + c1) / 2;
                want += d * d;
            }
    want /= (double)(w - 1) * h;
    flow_werr_init(&e);
    CHECK(flow_werr_add_floor(&e, noise, &f, &b, mask) == STATUS_OK);
    double fn = flow_werr_value(&e);
    CHECK_NEAR(fn, want, 0, 1e-5);
    flow_werr_init(&e);
    CHECK(flow_werr_add_floor(&e, smooth, &f, &b, mask) == STATUS_OK);
    double fs = flow_werr_value(&e);
    CHECK_MSG(fs > 0 && fs < fn / 100, "floor: smooth texture %.3g, noise %.3g", fs, fn);
    CHECK(flow_werr_add_floor(NULL, noise, &f, &b, mask) == STATUS_ARG);
    CHECK(flow_werr_add_floor(&e, NULL, &f, &b, mask) == STATUS_ARG);
    CHECK(flow_werr_add_floor(&e, noise, &f, &b, NULL) == STATUS_ARG);
    flow_field_free(&f);
    flow_field_free(&b);
    free(mask);
    image_free(noise);
    image_free(smooth);
}

static void test_blend(void) {
    image *s = image_new(4, 2, 3), *p = image_new(4, 2, 3), *out = image_new(4, 2, 3);
    for (int i = 0; i < 24; i++) { s->data[i] = 0.2f; p->data[i] = 0.6f; }
    float mask[8] = {1, 1, 0, 0, 0.5f, 1, 1, 1};
    CHECK(flow_blend(s, p, mask, 0.5f, out) == STATUS_OK);
    CHECK_NEAR(out->data[0], 0.4, 1e-6, 0);          /* reliable: halfway */
    CHECK_NEAR(out->data[8 + 2], 0.2, 1e-6, 0);      /* occluded: the stylised frame */
    CHECK_NEAR(out->data[16 + 4], 0.3, 1e-6, 0);     /* half reliable */
    CHECK(flow_blend(s, p, mask, 0.5f, s) == STATUS_OK);   /* in place */
    CHECK_NEAR(s->data[0], 0.4, 1e-6, 0);
    image_free(s); image_free(p); image_free(out);
}

/* The temporal term's gradient against central differences: x, with the prior and a mask of
 * 0, 1 and fractions fixed. */
typedef struct temporal_ctx { tensor *prior, *mask; } temporal_ctx;

static tensor *temporal_fn(arena *a, tensor **in, void *user) {
    temporal_ctx *c = user;
    return stylize_temporal_loss(a, in[0], c->prior, c->mask);
}

static void test_temporal_gradient(void) {
    arena *a = arena_new(1 << 20);
    tensor *x = tensor_new(a, 4, (int[]){1, 3, 5, 6}), *p = tensor_new(a, 4, (int[]){1, 3, 5, 6});
    tensor *m = tensor_new(a, 4, (int[]){1, 1, 5, 6});
    rng r = rng_new(3);
    rng_uniform(&r, x->data, x->numel, 0, 1);
    rng_uniform(&r, p->data, p->numel, 0, 1);
    for (int i = 0; i < 30; i++) m->data[i] = i % 3 == 0 ? 0.0f : i % 3 == 1 ? 1.0f : 0.25f;
    tensor_requires_grad(x);
    temporal_ctx c = {p, m};
    CHECK(gradcheck("temporal", temporal_fn, &x, 1, &c, gradcheck_defaults()));
    /* its value by hand */
    tensor *l = stylize_temporal_loss(a, x, p, m);
    double want = 0;
    for (int ch = 0; ch < 3; ch++)
        for (int i = 0; i < 30; i++) {
            double d = x->data[ch * 30 + i] - p->data[ch * 30 + i];
            want += m->data[i] * d * d;
        }
    CHECK_OK(l);
    if (l) CHECK_NEAR(l->data[0], want / 90, 1e-7, 1e-5);
    arena_free(a);
}

/* The temporal term inside stylize: off by default (a prior given with weight 0 changes
 * nothing, bit for bit); a strong term holds the reliable half of the picture at the prior
 * and leaves the other half to the style. */
static void test_temporal_in_stylize(void) {
    enum { S = 24 };   /* small: the reference backend runs it too */
    stylize_net *net = stylize_net_new(NULL, stylize_default_pool(true), "relu1_2");
    CHECK_OK(net);
    if (!net) return;
    image *photo = shifted(S, S, 0, 0), *paint = image_new(S, S, 3), *prior = image_new(S, S, 3);
    for (int i = 0; i < 3 * S * S; i++) paint->data[i] = (float)((i * 7) % 11) / 10.0f;
    for (int i = 0; i < 3 * S * S; i++) prior->data[i] = 0.3f + 0.4f * (float)((i / S) % 2);
    float mask[S * S];
    for (int i = 0; i < S * S; i++) mask[i] = (i % S) < S / 2 ? 1.0f : 0.0f;   /* left half */
    stylize_opts o = stylize_defaults(false);
    o.size = S; o.iterations = 10; o.multires = 1;
    o.style_layers = "relu1_1,relu1_2"; o.content_layers = "relu1_2";
    stylize_result r0, r1, r2;
    image *base = stylize_run(net, photo, (const image *[]){paint}, 1, &o, &r0);
    o.prior = prior; o.prior_mask = mask;                        /* weight 0: off */
    image *same = stylize_run(net, photo, (const image *[]){paint}, 1, &o, &r1);
    CHECK_OK(base); CHECK_OK(same);
    if (base && same) CHECK(memcmp(base->data, same->data, sizeof(float) * 3 * S * S) == 0);
    CHECK(r1.temporal == 0);
    o.temporal_weight = 1e4f;
    o.init = STYLIZE_INIT_IMAGE; o.init_image = prior;
    image *held = stylize_run(net, photo, (const image *[]){paint}, 1, &o, &r2);
    CHECK_OK(held);
    if (held && base) {
        double dl = 0, dr = 0, bl = 0;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++) {
                    int i = (c * S + y) * S + x;
                    double d = fabs(held->data[i] - prior->data[i]);
                    if (x < S / 2) { dl += d; bl += fabs(base->data[i] - prior->data[i]); }
                    else dr += d;
                }
        dl /= 3 * S * (S / 2); dr /= 3 * S * (S / 2); bl /= 3 * S * (S / 2);
        CHECK_MSG(dl < 0.02, "reliable half %.3f from the prior", dl);
        CHECK_MSG(dr > 5 * dl && bl > 5 * dl, "free half %.3f, per-frame %.3f, reliable %.3f from the prior", dr, bl, dl);
        CHECK(r2.temporal > 0 && r2.temporal < 1e-3);
    }
    /* bad options */
    error_clear();
    o.prior = NULL;
    CHECK(stylize_run(net, photo, (const image *[]){paint}, 1, &o, NULL) == NULL);
    CHECK(strstr(error_message(), "prior") != NULL);
    error_clear();
    o.prior = prior; o.temporal_weight = -1;
    CHECK(stylize_run(net, photo, (const image *[]){paint}, 1, &o, NULL) == NULL);
    error_clear();
    image_free(base); image_free(same); image_free(held);
    image_free(photo); image_free(paint); image_free(prior);
    stylize_net_free(net);
}

static void test_bad_inputs(void) {
    image *a = shifted(40, 30, 0, 0), *b = shifted(41, 30, 0, 0), *tiny = shifted(8, 8, 0, 0);
    image *a2 = image_new(40, 30, 3), *one = image_new(40, 30, 1);
    flow_field f = {0}, g = const_flow(40, 30, 0, 0), h = const_flow(41, 30, 0, 0);
    float *mask = malloc(sizeof(float) * 41 * 30);
    error_clear();
    CHECK(flow_compute(a, b, &f) == STATUS_SHAPE && f.u == NULL);
    error_clear();
    CHECK(flow_compute(NULL, a, &f) == STATUS_ARG);
    error_clear();
    CHECK(flow_compute(a, a, NULL) == STATUS_ARG);
    error_clear();
    CHECK(flow_compute(tiny, tiny, &f) == STATUS_ARG && strstr(error_message(), "too small"));
    error_clear();
    CHECK(flow_compute(one, one, &f) == STATUS_ARG);
    error_clear();
    CHECK(flow_compute_opts(a, a, &(flow_opts){(flow_preset)7}, &f) == STATUS_ARG);
    error_clear();
    CHECK(flow_warp(a, &h, a2) == STATUS_SHAPE);
    error_clear();
    CHECK(flow_warp(a, &g, b) == STATUS_SHAPE);
    error_clear();
    CHECK(flow_warp(a, &g, a) == STATUS_ARG);
    error_clear();
    CHECK(flow_warp(a, NULL, a2) == STATUS_ARG);
    error_clear();
    CHECK(flow_warp(a, &f, a2) == STATUS_ARG);   /* an empty field */
    error_clear();
    CHECK(flow_occlusion(&g, &h, mask) == STATUS_SHAPE);
    error_clear();
    CHECK(flow_occlusion(&g, &g, NULL) == STATUS_ARG);
    error_clear();
    const image *clip[2] = {a, b};
    const float *masks[1] = {mask};
    double e = -1;
    CHECK(flow_warping_error(clip, 2, &g, masks, &e) == STATUS_SHAPE && e == -1);
    error_clear();
    CHECK(flow_warping_error(clip, 1, &g, masks, &e) == STATUS_ARG);
    error_clear();
    CHECK(flow_warping_error(clip, 2, &g, NULL, &e) == STATUS_ARG);
    error_clear();
    flow_werr acc;
    flow_werr_init(&acc);
    CHECK(flow_werr_add(&acc, a, a2, &g, NULL) == STATUS_ARG && acc.pairs == 0);
    error_clear();
    CHECK(flow_blend(a, b, mask, 0.5f, a2) == STATUS_SHAPE);
    error_clear();
    CHECK(flow_blend(a, a2, mask, 1.5f, a2) == STATUS_ARG);
    error_clear();
    CHECK(flow_blend(a, a2, NULL, 0.5f, a2) == STATUS_ARG);
    error_clear();
    flow_field_free(&f);
    flow_field_free(&f);   /* twice is fine */
    flow_field_free(NULL);
    flow_field_free(&g);
    flow_field_free(&h);
    free(mask);
    image_free(a); image_free(b); image_free(tiny); image_free(a2); image_free(one);
}

/* Agreement with cv2.DISOpticalFlow (the same library through Python) on the same 8-bit
 * frames: tests/golden/flow_dis.safetensors from tools/flow_cv2.py --golden. */
static void test_agrees_with_cv2(void) {
    safetensors *g = safetensors_open("tests/golden/flow_dis.safetensors");
    if (!g) { test_skip("tests/golden/flow_dis.safetensors is missing (tools/flow_cv2.py --golden)"); return; }
    arena *ar = arena_new(1 << 22);
    tensor *fa = safetensors_get(g, ar, "frame_a"), *fb = safetensors_get(g, ar, "frame_b");   /* (H, W) in 0..255 */
    tensor *gu = safetensors_get(g, ar, "u"), *gv = safetensors_get(g, ar, "v");               /* (H, W) */
    CHECK_OK(fa); CHECK_OK(fb); CHECK_OK(gu); CHECK_OK(gv);
    if (fa && fb && gu && gv) {
        int h = fa->shape[0], w = fa->shape[1];
        image *a = image_new(w, h, 3), *b = image_new(w, h, 3);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < w * h; i++) {   /* grey, so the luma is the 8-bit value itself */
                a->data[c * w * h + i] = fa->data[i] / 255.0f;
                b->data[c * w * h + i] = fb->data[i] / 255.0f;
            }
        flow_field f = {0};
        CHECK(flow_compute(a, b, &f) == STATUS_OK);
        if (f.u) {
            /* the same library on the same bytes: equal up to float rounding in its loops */
            CHECK_ARRAY(f.u, gu->data, (int64_t)w * h, 1e-3, 0);
            CHECK_ARRAY(f.v, gv->data, (int64_t)w * h, 1e-3, 0);
        }
        flow_field_free(&f);
        image_free(a);
        image_free(b);
    }
    arena_free(ar);
    safetensors_close(g);
}

int main(void) {
    RUN(test_known_shifts);
    RUN(test_warp);
    RUN(test_mask_criteria);
    RUN(test_mask_border);
    RUN(test_mask_moving_square);
    RUN(test_warping_error);
    RUN(test_warping_error_floor);
    RUN(test_blend);
    RUN(test_temporal_gradient);
    RUN(test_temporal_in_stylize);
    RUN(test_bad_inputs);
    RUN(test_agrees_with_cv2);
    return test_finish();
}
