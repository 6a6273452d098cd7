/* lab.c: one GAN lab (lab.h): settings, the distributions, training through gan.h, the
 * measures and the state the page draws. No threads here: lab_http.c owns those. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/lab.h"
#include "atelier/metrics.h"
#include "atelier/ops.h"
#include "atelier/rng.h"
#include "lab_internal.h"

#define NREF 20000       /* reals in the histogram */
#define NFAKE 2000       /* fakes measured */
#define NNEAR 500        /* reals for the nearest-neighbour distance */
#define HIST_MAX 400     /* history entries kept (halved when full) */
#define MANIFOLD_2D 21   /* grid points per side of the noise grid */
#define MANIFOLD_1D 101

static const char *const DIST_NAMES[] = {"line", "two-gaussians", "ring", "three-blobs", "drawn"};

const char *lab_dist_name(lab_dist d) { return (unsigned)d <= LAB_DIST_DRAWN ? DIST_NAMES[d] : "?"; }

lab_settings lab_defaults(void) {
    lab_settings s = {.dist = LAB_DIST_RING, .noise_dim = 2, .noise = GAN_NOISE_NORMAL, .g_layers = 2,
                      .d_layers = 2, .opt = GAN_OPT_ADAM, .loss = GAN_LOSS_BCE, .lr_g = 1e-3f, .lr_d = 3e-3f,
                      .beta1 = 0.5f, .k_d = 1, .k_g = 1, .batch = 64, .seed = 1};
    for (int i = 0; i < GAN_MLP_MAX_HIDDEN; i++) s.g_units[i] = s.d_units[i] = 64;
    return s;
}

status lab_preset(const char *name, lab_settings *out) {
    lab_settings s = lab_defaults();
    if (!strcmp(name, "collapse")) {
        /* test_gan's collapse: high momentum and a large step on wide nets */
        s.g_layers = s.d_layers = 3;
        for (int i = 0; i < GAN_MLP_MAX_HIDDEN; i++) s.g_units[i] = s.d_units[i] = 100;
        s.lr_g = s.lr_d = 3e-3f;
        s.beta1 = 0.9f;
        s.batch = 128;
    } else if (strcmp(name, "default")) {
        return error_set(STATUS_ARG, "preset \"%.40s\": default or collapse", name);
    }
    *out = s;
    return STATUS_OK;
}

status lab_settings_check(const lab_settings *s) {
    if ((unsigned)s->dist > LAB_DIST_DRAWN) return error_set(STATUS_ARG, "dist: line, two-gaussians, ring, three-blobs or drawn");
    if (s->dist == LAB_DIST_DRAWN && (s->npoints < 2 || s->npoints > LAB_MAX_POINTS))
        return error_set(STATUS_ARG, "points: %d given; a drawn distribution needs 2..%d", s->npoints, LAB_MAX_POINTS);
    for (int i = 0; i < 2 * s->npoints && i < 2 * LAB_MAX_POINTS; i++)
        if (!(s->points[i] >= 0 && s->points[i] <= 1)) return error_set(STATUS_ARG, "points: point %d is outside [0, 1]^2", i / 2);
    if (s->noise_dim < 1 || s->noise_dim > 2) return error_set(STATUS_ARG, "noise_dim %d: must be 1 or 2", s->noise_dim);
    if ((unsigned)s->noise > GAN_NOISE_UNIFORM) return error_set(STATUS_ARG, "noise: gaussian or uniform");
    if (s->g_layers < 0 || s->g_layers > GAN_MLP_MAX_HIDDEN) return error_set(STATUS_ARG, "g_layers %d: must be 0..5", s->g_layers);
    if (s->d_layers < 0 || s->d_layers > GAN_MLP_MAX_HIDDEN) return error_set(STATUS_ARG, "d_layers %d: must be 0..5", s->d_layers);
    for (int i = 0; i < GAN_MLP_MAX_HIDDEN; i++) {
        if (s->g_units[i] < 1 || s->g_units[i] > 100) return error_set(STATUS_ARG, "g_units %d: must be 1..100", s->g_units[i]);
        if (s->d_units[i] < 1 || s->d_units[i] > 100) return error_set(STATUS_ARG, "d_units %d: must be 1..100", s->d_units[i]);
    }
    if ((unsigned)s->opt > GAN_OPT_SGD) return error_set(STATUS_ARG, "optimizer: adam or sgd");
    if ((unsigned)s->loss > GAN_LOSS_LSGAN) return error_set(STATUS_ARG, "loss: log, least-squares, hinge or wgan-gp");
    if (!(s->lr_g > 0 && s->lr_g <= 1)) return error_set(STATUS_ARG, "lr_g %g: must be in (0, 1]", s->lr_g);
    if (!(s->lr_d > 0 && s->lr_d <= 1)) return error_set(STATUS_ARG, "lr_d %g: must be in (0, 1]", s->lr_d);
    if (!(s->beta1 >= 0 && s->beta1 < 1)) return error_set(STATUS_ARG, "beta1 %g: must be in [0, 1)", s->beta1);
    if (s->k_d < 1 || s->k_d > 10) return error_set(STATUS_ARG, "k_d %d: must be 1..10", s->k_d);
    if (s->k_g < 1 || s->k_g > 10) return error_set(STATUS_ARG, "k_g %d: must be 1..10", s->k_g);
    if (s->batch < 8 || s->batch > 512) return error_set(STATUS_ARG, "batch %d: must be 8..512", s->batch);
    return STATUS_OK;
}

/* ---- distributions ---- */

typedef struct mode { float x, y, sigma; } mode;

/* The modes of a mixture (their count; 0 for line and drawn). */
static int dist_modes(lab_dist d, mode *m) {
    switch (d) {
    case LAB_DIST_TWO_GAUSSIANS:
        m[0] = (mode){0.3f, 0.65f, 0.06f};
        m[1] = (mode){0.7f, 0.35f, 0.06f};
        return 2;
    case LAB_DIST_RING:
        for (int k = 0; k < 8; k++)
            m[k] = (mode){0.5f + 0.3f * cosf(6.2831853f * k / 8), 0.5f + 0.3f * sinf(6.2831853f * k / 8), 0.02f};
        return 8;
    case LAB_DIST_THREE_BLOBS:
        m[0] = (mode){0.25f, 0.3f, 0.05f};
        m[1] = (mode){0.75f, 0.3f, 0.05f};
        m[2] = (mode){0.5f, 0.75f, 0.05f};
        return 3;
    default: return 0;
    }
}

/* n points of the distribution into xy (n, 2), plane coordinates. */
static void dist_sample(const lab_settings *s, rng *r, int n, float *xy) {
    mode m[8];
    int k = dist_modes(s->dist, m);
    for (int i = 0; i < n; i++) {
        float e[2], u = (float)(rng_u64(r) >> 11) * (1.0f / 9007199254740992.0f);
        float *p = xy + 2 * i;
        if (s->dist == LAB_DIST_LINE) {
            rng_normal(r, e, 1, 0, 0.01f);
            p[0] = 0.15f + 0.7f * u - 0.6f * e[0] / 0.922f;    /* across: (-0.6, 0.7) / |.| */
            p[1] = 0.2f + 0.6f * u + 0.7f * e[0] / 0.922f;
        } else if (s->dist == LAB_DIST_DRAWN) {
            int j = (int)(rng_u64(r) % (uint64_t)s->npoints);
            rng_normal(r, e, 2, 0, 0.015f);
            p[0] = s->points[2 * j] + e[0];
            p[1] = s->points[2 * j + 1] + e[1];
        } else {
            const mode *c = &m[rng_u64(r) % (uint64_t)k];
            rng_normal(r, e, 2, 0, c->sigma);
            p[0] = c->x + e[0];
            p[1] = c->y + e[1];
        }
    }
}

/* gan_data_fn: a batch for D update k of step, in the engine's [-1, 1]. */
static tensor *lab_data(void *user, arena *a, int64_t step, int k, int n) {
    lab *l = user;
    tensor *x = tensor_new(a, 2, (int[]){n, 2});
    if (!x) return NULL;
    rng r = rng_new(l->s.seed * 0x9E3779B97F4A7C15ull ^ ((uint64_t)step * 16 + (uint64_t)k + 1) * 0xBF58476D1CE4E5B9ull);
    dist_sample(&l->s, &r, n, x->data);
    for (int64_t i = 0; i < x->numel; i++) x->data[i] = 2 * x->data[i] - 1;
    return x;
}

/* ---- life cycle ---- */

static gan_config lab_gan_config(const lab_settings *s) {
    gan_config c = gan_defaults();
    c.arch = GAN_ARCH_MLP;
    c.size = 2;
    c.z_dim = s->noise_dim;
    c.noise = s->noise;
    c.g_hidden = s->g_layers;
    c.d_hidden = s->d_layers;
    memcpy(c.g_units, s->g_units, sizeof c.g_units);
    memcpy(c.d_units, s->d_units, sizeof c.d_units);
    c.ngf = s->g_units[0];
    c.ndf = s->d_units[0];
    c.opt = s->opt;
    c.loss = s->loss;
    c.lr_g = s->lr_g < 1 ? s->lr_g : 0.999f;     /* gan wants (0, 1) */
    c.lr_d = s->lr_d < 1 ? s->lr_d : 0.999f;
    c.beta1 = s->beta1;
    c.beta2 = s->loss == GAN_LOSS_WGAN_GP ? 0.9f : 0.999f;
    c.d_steps = s->k_d;
    c.g_steps = s->k_g;
    c.batch = s->batch;
    c.seed = s->seed;
    return c;
}

static void hist_of(const float *xy, int n, float *h) {
    memset(h, 0, sizeof(float) * LAB_GRID * LAB_GRID);
    for (int i = 0; i < n; i++) {
        if (!isfinite(xy[2 * i]) || !isfinite(xy[2 * i + 1])) continue;   /* a diverged G */
        float fx = fminf(fmaxf(xy[2 * i] * LAB_GRID, -1), LAB_GRID), fy = fminf(fmaxf(xy[2 * i + 1] * LAB_GRID, -1), LAB_GRID);
        int cx = (int)floorf(fx), cy = (int)floorf(fy);
        cx = cx < 0 ? 0 : cx >= LAB_GRID ? LAB_GRID - 1 : cx;
        cy = cy < 0 ? 0 : cy >= LAB_GRID ? LAB_GRID - 1 : cy;
        h[cy * LAB_GRID + cx] += 1;
    }
    double sum = 0;
    for (int i = 0; i < LAB_GRID * LAB_GRID; i++) sum += h[i] += 1e-4f * (float)n;
    for (int i = 0; i < LAB_GRID * LAB_GRID; i++) h[i] = (float)(h[i] / sum);
}

/* The reals of the distribution: the shown ones, the nearest-neighbour set, the histogram
 * and their diversity. */
static status lab_reals(lab *l) {
    float *ref = malloc(sizeof(float) * 2 * NREF);
    if (!ref) return error_set(STATUS_NOMEM, "lab: out of memory");
    rng r = rng_new(l->s.seed ^ 0x5eed5eedull);
    dist_sample(&l->s, &r, NREF, ref);
    hist_of(ref, NREF, l->real_hist);
    memcpy(l->real_show, ref, sizeof l->real_show);
    memcpy(l->real_near, ref + 2 * LAB_SHOW, sizeof l->real_near);
    l->real_diversity = metrics_diversity(ref + 2 * (LAB_SHOW + NNEAR), NFAKE, 2);
    free(ref);
    return STATUS_OK;
}

static status lab_build(lab *l) {
    gan_free(l->g);
    gan_config c = lab_gan_config(&l->s);
    if (!(l->g = gan_new(&c))) return error_status();
    l->iter = 0;
    l->nhist = 0;
    l->every = 1;
    l->loss_n = 0;
    l->loss_d = l->loss_g = 0;
    l->have_measures = false;
    return lab_reals(l);
}

lab *lab_new(const lab_settings *s) {
    if (lab_settings_check(s) != STATUS_OK) return NULL;
    lab *l = calloc(1, sizeof *l);
    if (!l) { error_set(STATUS_NOMEM, "lab: out of memory"); return NULL; }
    l->s = *s;
    l->a = arena_new(1 << 20);
    if (!l->a || lab_build(l) != STATUS_OK) { lab_free(l); return NULL; }
    return l;
}

void lab_free(lab *l) {
    if (!l) return;
    gan_free(l->g);
    arena_free(l->a);
    free(l);
}

const lab_settings *lab_get_settings(const lab *l) { return &l->s; }
int64_t lab_iterations(const lab *l) { return l->iter; }
status lab_reset(lab *l) { return lab_build(l); }

/* Whether only the rates (learning rates, k) differ. */
static bool rates_only(const lab_settings *a, const lab_settings *b) {
    lab_settings x = *a;
    x.lr_g = b->lr_g; x.lr_d = b->lr_d; x.k_d = b->k_d; x.k_g = b->k_g;
    return memcmp(&x, b, sizeof x) == 0;
}

status lab_set(lab *l, const lab_settings *s) {
    if (lab_settings_check(s) != STATUS_OK) return error_status();
    if (rates_only(&l->s, s)) {
        gan_config c = lab_gan_config(s);
        if (gan_set_rates(l->g, c.lr_g, c.lr_d, c.d_steps, c.g_steps) != STATUS_OK) return error_status();
        l->s = *s;
        return STATUS_OK;
    }
    l->s = *s;
    return lab_build(l);
}

status lab_step(lab *l, lab_step_kind kind, int n) {
    if (n < 0 || n > 100000) return error_set(STATUS_ARG, "lab_step: n %d must be in 0..100000", n);
    for (int i = 0; i < n; i++) {
        gan_stats st;
        status s = kind == LAB_STEP_D ? gan_train_d(l->g, lab_data, l, &st)
                 : kind == LAB_STEP_G ? gan_train_g(l->g, &st)
                 : gan_train_step(l->g, lab_data, l, &st);
        if (s != STATUS_OK) return s;
        if (kind != LAB_STEP_G) l->last_d = st.d_loss;
        if (kind != LAB_STEP_D) l->last_g = st.g_loss;
        l->loss_d += l->last_d;
        l->loss_g += l->last_g;
        l->loss_n++;
        l->iter++;
    }
    if (n > 0) l->have_measures = false;
    return STATUS_OK;
}

/* ---- measures ---- */

static tensor *to_plane(tensor *x) {
    for (int64_t i = 0; x && i < x->numel; i++) x->data[i] = 0.5f * (x->data[i] + 1);
    return x;
}

/* G's samples of fixed latents (seed), plane coordinates: (n, 2) */
static tensor *fakes(lab *l, uint64_t seed, int n) {
    tensor *z = gan_latents_of(l->g, l->a, seed, 0, n);
    bool prev = autograd_set(false);
    tensor *x = z ? gan_g_forward(gan_generator(l->g), l->a, z, false) : NULL;
    autograd_set(prev);
    return to_plane(x);
}

static void divergences(const float *p, const float *q, double *kl, double *js) {
    double a = 0, b = 0, c = 0;
    for (int i = 0; i < LAB_GRID * LAB_GRID; i++) {
        double m = 0.5 * (p[i] + q[i]);
        a += p[i] * log(p[i] / q[i]);
        b += p[i] * log(p[i] / m);
        c += q[i] * log(q[i] / m);
    }
    *kl = a;
    *js = 0.5 * (b + c);
}

static int modes_covered(const lab *l, const float *xy, int n, int *k) {
    mode m[8];
    *k = dist_modes(l->s.dist, m);
    int covered = 0;
    for (int j = 0; j < *k; j++) {
        float rad = fmaxf(3 * m[j].sigma, 0.04f);
        int cnt = 0;
        for (int i = 0; i < n; i++) cnt += hypotf(xy[2 * i] - m[j].x, xy[2 * i + 1] - m[j].y) < rad;
        covered += cnt * 4 * *k >= n;
    }
    return covered;
}

static double mean_nearest(const lab *l, const float *xy, int n) {
    double sum = 0;
    for (int i = 0; i < n; i++) {
        float best = 1e9f;
        for (int j = 0; j < NNEAR; j++) {
            float dx = xy[2 * i] - l->real_near[2 * j], dy = xy[2 * i + 1] - l->real_near[2 * j + 1];
            float d2 = dx * dx + dy * dy;
            if (d2 < best) best = d2;
        }
        sum += sqrtf(best);
    }
    return sum / n;
}

static void history_push(lab *l, const lab_measures *m) {
    if (l->nhist > 0 && l->hist[l->nhist - 1].iter == l->iter) { l->hist[l->nhist - 1].m = *m; return; }
    if (l->nhist == HIST_MAX) {         /* keep every other: the whole run at half the detail */
        for (int i = 0; i < HIST_MAX / 2; i++) l->hist[i] = l->hist[2 * i + 1];
        l->nhist = HIST_MAX / 2;
    }
    l->hist[l->nhist++] = (lab_hist){l->iter, *m};
}

status lab_measure(lab *l, lab_measures *out) {
    lab_measures m = {0};
    tensor *x = fakes(l, 777, NFAKE);
    if (!x) { arena_reset(l->a); return error_status(); }
    float q[LAB_GRID * LAB_GRID];
    hist_of(x->data, NFAKE, q);
    divergences(l->real_hist, q, &m.kl, &m.js);
    m.fake_to_real = mean_nearest(l, x->data, NFAKE);
    m.diversity_ratio = metrics_diversity(x->data, NFAKE, 2) / (l->real_diversity + 1e-12);
    m.modes_covered = modes_covered(l, x->data, NFAKE, &m.modes);
    m.collapse = m.diversity_ratio < METRICS_COLLAPSE_RATIO || 2 * m.modes_covered < m.modes;
    arena_reset(l->a);
    m.d_loss = l->loss_n ? l->loss_d / l->loss_n : l->last_d;
    m.g_loss = l->loss_n ? l->loss_g / l->loss_n : l->last_g;
    l->loss_d = l->loss_g = 0;
    l->loss_n = 0;
    l->m = m;
    l->have_measures = true;
    history_push(l, &m);
    if (out) *out = m;
    return STATUS_OK;
}

/* ---- the state as JSON ---- */

void sb_printf(strbuf *b, const char *fmt, ...) {
    if (!b->ok) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (n < 0) { b->ok = false; return; }
        if (b->n + (size_t)n < b->cap) { b->n += (size_t)n; return; }
        size_t cap = (b->cap + (size_t)n) * 2;
        char *s = realloc(b->s, cap);
        if (!s) { b->ok = false; return; }
        b->s = s;
        b->cap = cap;
    }
}

static void sb_floats(strbuf *b, const char *name, const float *v, int n, const char *fmt) {
    sb_printf(b, ",\"%s\":[", name);
    for (int i = 0; i < n; i++) {
        float x = isfinite(v[i]) ? v[i] : 0;
        if (i) sb_printf(b, ",");
        sb_printf(b, fmt, (double)x);
    }
    sb_printf(b, "]");
}

/* D's output on the centres of the grid's cells, as a value in [0, 1]: sigmoid of the
 * logit (log and hinge losses), clamped (least squares: targets 1 and 0), or the critic
 * scaled to its range over the plane (WGAN-GP). */
static status heat_map(lab *l, float *h) {
    tensor *x = tensor_new(l->a, 2, (int[]){LAB_GRID * LAB_GRID, 2});
    if (!x) return error_status();
    for (int i = 0; i < LAB_GRID * LAB_GRID; i++) {
        x->data[2 * i] = 2 * ((float)(i % LAB_GRID) + 0.5f) / LAB_GRID - 1;
        x->data[2 * i + 1] = 2 * ((float)(i / LAB_GRID) + 0.5f) / LAB_GRID - 1;
    }
    bool prev = autograd_set(false);
    tensor *d = gan_d_forward(gan_discriminator(l->g), l->a, x, false);
    autograd_set(prev);
    if (!d) return error_status();
    float lo = 1e30f, hi = -1e30f;
    for (int i = 0; i < LAB_GRID * LAB_GRID; i++) { lo = fminf(lo, d->data[i]); hi = fmaxf(hi, d->data[i]); }
    for (int i = 0; i < LAB_GRID * LAB_GRID; i++) {
        float v = d->data[i];
        if (l->s.loss == GAN_LOSS_LSGAN) h[i] = fminf(1, fmaxf(0, v));
        else if (l->s.loss == GAN_LOSS_WGAN_GP) h[i] = hi > lo ? (v - lo) / (hi - lo) : 0.5f;
        else h[i] = 1 / (1 + expf(-v));
    }
    return STATUS_OK;
}

/* The noise grid through G: MANIFOLD_2D^2 points (row by row) or MANIFOLD_1D on a line;
 * uniform noise spans [-1, 1], Gaussian [-2, 2]. */
static tensor *manifold(lab *l, int *side) {
    int nd = l->s.noise_dim, n = nd == 2 ? MANIFOLD_2D * MANIFOLD_2D : MANIFOLD_1D;
    *side = nd == 2 ? MANIFOLD_2D : MANIFOLD_1D;
    float span = l->s.noise == GAN_NOISE_UNIFORM ? 1 : 2;
    tensor *z = tensor_new(l->a, 2, (int[]){n, nd});
    if (!z) return NULL;
    for (int i = 0; i < n; i++) {
        int ix = i % *side, iy = i / *side;
        z->data[nd * i] = span * (2.0f * (float)ix / (float)(*side - 1) - 1);
        if (nd == 2) z->data[nd * i + 1] = span * (2.0f * (float)iy / (float)(*side - 1) - 1);
    }
    bool prev = autograd_set(false);
    tensor *x = gan_g_forward(gan_generator(l->g), l->a, z, false);
    autograd_set(prev);
    return to_plane(x);
}

static double fin(double x) { return isfinite(x) ? x : 0; }   /* JSON has no NaN */

static void state_measures(strbuf *b, const lab *l) {
    const lab_measures *m = &l->m;
    sb_printf(b, ",\"measures\":{\"d_loss\":%.5g,\"g_loss\":%.5g,\"kl\":%.5g,\"js\":%.5g,\"fake_to_real\":%.5g,"
                 "\"diversity_ratio\":%.4g,\"modes\":%d,\"modes_covered\":%d,\"collapse\":%s}",
              fin(m->d_loss), fin(m->g_loss), fin(m->kl), fin(m->js), fin(m->fake_to_real), fin(m->diversity_ratio),
              m->modes, m->modes_covered, m->collapse ? "true" : "false");
    sb_printf(b, ",\"history\":{\"iter\":[");
    for (int i = 0; i < l->nhist; i++) sb_printf(b, "%s%lld", i ? "," : "", (long long)l->hist[i].iter);
    const char *names[4] = {"d_loss", "g_loss", "kl", "js"};
    for (int k = 0; k < 4; k++) {
        sb_printf(b, "],\"%s\":[", names[k]);
        for (int i = 0; i < l->nhist; i++) {
            const lab_measures *h = &l->hist[i].m;
            double v = k == 0 ? h->d_loss : k == 1 ? h->g_loss : k == 2 ? h->kl : h->js;
            sb_printf(b, "%s%.4g", i ? "," : "", fin(v));
        }
    }
    sb_printf(b, "]}");
}

char *lab_state_json(lab *l) {
    if (!l->have_measures && lab_measure(l, NULL) != STATUS_OK) return NULL;
    strbuf b = {malloc(1 << 16), 0, 1 << 16, true};
    if (!b.s) { error_set(STATUS_NOMEM, "lab: out of memory"); return NULL; }
    char *set = lab_settings_json(&l->s);
    sb_printf(&b, "{\"iteration\":%lld,\"settings\":%s", (long long)l->iter, set ? set : "null");
    free(set);
    float heat[LAB_GRID * LAB_GRID], *grad = NULL;
    tensor *x = fakes(l, 4242, LAB_SHOW);
    int side = 0;
    tensor *mf = manifold(l, &side);
    status s = x && mf ? heat_map(l, heat) : error_status();
    if (s == STATUS_OK && !(grad = arena_alloc(l->a, sizeof(float) * 2 * LAB_SHOW))) s = error_status();
    if (s == STATUS_OK) {
        tensor *xe = tensor_copy(l->a, x);       /* G's gradient at the fakes, engine coordinates */
        for (int64_t i = 0; xe && i < xe->numel; i++) xe->data[i] = 2 * xe->data[i] - 1;
        s = xe ? gan_sample_grad(l->g, xe, grad) : error_status();
        for (int i = 0; s == STATUS_OK && i < 2 * LAB_SHOW; i++) grad[i] = -grad[i];   /* where G moves them */
    }
    if (s == STATUS_OK) {
        sb_floats(&b, "real", l->real_show, 2 * LAB_SHOW, "%.4f");
        sb_floats(&b, "density", l->real_hist, LAB_GRID * LAB_GRID, "%.3g");
        sb_floats(&b, "fake", x->data, 2 * LAB_SHOW, "%.4f");
        sb_floats(&b, "grad", grad, 2 * LAB_SHOW, "%.3g");
        sb_floats(&b, "heat", heat, LAB_GRID * LAB_GRID, "%.3f");
        sb_printf(&b, ",\"manifold_side\":%d,\"manifold_dim\":%d", side, l->s.noise_dim);
        sb_floats(&b, "manifold", mf->data, (int)mf->numel, "%.4f");
        state_measures(&b, l);
        sb_printf(&b, "}\n");
    }
    arena_reset(l->a);
    if (s != STATUS_OK || !b.ok) {
        free(b.s);
        if (s == STATUS_OK) error_set(STATUS_NOMEM, "lab: out of memory");
        return NULL;
    }
    return b.s;
}
