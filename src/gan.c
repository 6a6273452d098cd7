/* gan.c: GAN training (gan.h): config, one step (D updates with losses and penalties,
 * then a G update with the optional style loss), the EMA of G, sampling. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/diffaug.h"
#include "atelier/dist.h"
#include "atelier/ops.h"
#include "atelier/rng.h"
#include "atelier/featnet.h"
#include "gan_internal.h"

/* ---- config ---- */

gan_config gan_defaults(void) {
    return (gan_config){.arch = GAN_ARCH_DCGAN, .size = 64, .ngf = 64, .ndf = 64, .z_dim = 100,
                        .loss = GAN_LOSS_BCE, .gp = 10, .batch = 64, .lr_g = 2e-4f, .lr_d = 2e-4f,
                        .beta1 = 0.5f, .beta2 = 0.999f, .d_steps = 1, .g_steps = 1, .seed = 1,
                        .g_hidden = 3, .d_hidden = 3};
}

static const char *const ARCH_NAMES[] = {"dcgan", "resnet", "mlp"};
static const char *const LOSS_NAMES[] = {"bce", "hinge", "wgan-gp", "least-squares"};

const char *gan_arch_name(gan_arch a) { return (unsigned)a < 3 ? ARCH_NAMES[a] : "?"; }
const char *gan_loss_name(gan_loss l) { return (unsigned)l < 4 ? LOSS_NAMES[l] : "?"; }

status gan_arch_parse(const char *s, gan_arch *out) {
    for (int i = 0; s && i < 3; i++)
        if (strcmp(s, ARCH_NAMES[i]) == 0) { *out = (gan_arch)i; return STATUS_OK; }
    return error_set(STATUS_ARG, "unknown architecture \"%.40s\" (dcgan, resnet or mlp)", s ? s : "");
}

status gan_loss_parse(const char *s, gan_loss *out) {
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, LOSS_NAMES[i]) == 0) { *out = (gan_loss)i; return STATUS_OK; }
    return error_set(STATUS_ARG, "unknown loss \"%.40s\" (bce, hinge, wgan-gp or least-squares)", s ? s : "");
}

const char *gan_diffaug_str(unsigned bits, char *buf) {
    buf[0] = 0;
    if (bits & DIFFAUG_COLOR) strcat(buf, "color,");
    if (bits & DIFFAUG_TRANSLATION) strcat(buf, "translation,");
    if (bits & DIFFAUG_CUTOUT) strcat(buf, "cutout,");
    size_t n = strlen(buf);
    if (n) buf[n - 1] = 0;
    else strcpy(buf, "none");
    return buf;
}

char *gan_config_json(const gan_config *c) {
    char aug[64], *s = malloc(1024);
    if (!s) return NULL;
    snprintf(s, 1024,
             "{\"arch\":\"%s\",\"size\":%d,\"ngf\":%d,\"ndf\":%d,\"z_dim\":%d,\"loss\":\"%s\","
             "\"spectral_norm\":%s,\"diffaug\":\"%s\",\"r1\":%g,\"gp\":%g,\"ema\":%g,\"batch\":%d,"
             "\"lr_g\":%g,\"lr_d\":%g,\"beta1\":%g,\"beta2\":%g,\"d_steps\":%d,\"seed\":%llu,"
             "\"style_weight\":%g,\"style_net\":\"%s\"}",
             gan_arch_name(c->arch), c->size, c->ngf, c->ndf, c->z_dim, gan_loss_name(c->loss),
             c->spectral_norm ? "true" : "false", gan_diffaug_str(c->diffaug, aug), c->r1, c->gp,
             c->ema, c->batch, c->lr_g, c->lr_d, c->beta1, c->beta2, c->d_steps,
             (unsigned long long)c->seed, c->style_weight, c->style_net[0] ? c->style_net : "vgg19");
    return s;
}

static status config_check(const gan_config *c) {
    if (c->arch == GAN_ARCH_MLP) {
        if (c->size < 1 || c->size > 64) return error_set(STATUS_ARG, "gan: mlp data dimension %d must be in 1..64", c->size);
        if (c->diffaug || c->style_weight > 0)
            return error_set(STATUS_ARG, "gan: --diffaug and --style-weight need images (not the mlp arch)");
    } else if (c->size != 32 && c->size != 64 && c->size != 128) {
        return error_set(STATUS_ARG, "gan: --size %d must be 32, 64 or 128", c->size);
    }
    if (c->ngf < 1 || c->ndf < 1 || c->ngf > 1024 || c->ndf > 1024)
        return error_set(STATUS_ARG, "gan: --ngf %d and --ndf %d must be in 1..1024", c->ngf, c->ndf);
    if (c->z_dim < 1 || c->z_dim > 4096) return error_set(STATUS_ARG, "gan: --z-dim %d must be in 1..4096", c->z_dim);
    if (c->batch < 2 || c->batch > 4096) return error_set(STATUS_ARG, "gan: --batch %d must be in 2..4096", c->batch);
    if (c->d_steps < 1 || c->d_steps > 100) return error_set(STATUS_ARG, "gan: --d-steps %d must be in 1..100", c->d_steps);
    if (c->g_steps < 1 || c->g_steps > 100) return error_set(STATUS_ARG, "gan: g_steps %d must be in 1..100", c->g_steps);
    if ((unsigned)c->loss > GAN_LOSS_LSGAN || (unsigned)c->opt > GAN_OPT_SGD || (unsigned)c->noise > GAN_NOISE_UNIFORM)
        return error_set(STATUS_ARG, "gan: unknown loss, optimiser or noise");
    if (c->arch != GAN_ARCH_MLP && (c->noise != GAN_NOISE_NORMAL || c->g_hidden != 3 || c->d_hidden != 3))
        return error_set(STATUS_ARG, "gan: uniform noise and hidden layers are for the mlp arch");
    if (c->g_hidden < 0 || c->g_hidden > GAN_MLP_MAX_HIDDEN || c->d_hidden < 0 || c->d_hidden > GAN_MLP_MAX_HIDDEN)
        return error_set(STATUS_ARG, "gan: hidden layers %d (G) and %d (D) must be in 0..%d", c->g_hidden, c->d_hidden, GAN_MLP_MAX_HIDDEN);
    for (int i = 0; i < GAN_MLP_MAX_HIDDEN; i++)
        if (c->g_units[i] < 0 || c->g_units[i] > 1024 || c->d_units[i] < 0 || c->d_units[i] > 1024)
            return error_set(STATUS_ARG, "gan: hidden layer %d has %d (G) and %d (D) units; must be in 1..1024", i, c->g_units[i], c->d_units[i]);
    if (!(c->lr_g > 0 && c->lr_g < 1 && c->lr_d > 0 && c->lr_d < 1))
        return error_set(STATUS_ARG, "gan: learning rates must be in (0, 1)");
    if (!(c->beta1 >= 0 && c->beta1 < 1 && c->beta2 >= 0 && c->beta2 < 1))
        return error_set(STATUS_ARG, "gan: --beta1 and --beta2 must be in [0, 1)");
    if (!(c->ema >= 0 && c->ema < 1)) return error_set(STATUS_ARG, "gan: --ema %g must be in [0, 1)", c->ema);
    if (!(c->r1 >= 0 && c->r1 < 1e6 && c->gp >= 0 && c->gp < 1e6 && c->style_weight >= 0 && c->style_weight < 1e9))
        return error_set(STATUS_ARG, "gan: --r1, gp and --style-weight must be >= 0 and finite");
    if (strnlen(c->style_net, sizeof c->style_net) == sizeof c->style_net ||
        strspn(c->style_net, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-") != strlen(c->style_net))
        return error_set(STATUS_ARG, "gan: --style-net '%.64s': a network name or path (letters, digits, _ . / -; under 64 bytes)", c->style_net);
    return STATUS_OK;
}

/* ---- random draws: pure functions of (seed, stream, step, k) ---- */

enum { STREAM_ZD = 1, STREAM_ZG, STREAM_AUG, STREAM_ALPHA, STREAM_SAMPLE, STREAM_INIT, STREAM_CAL };

static uint64_t mix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t key(uint64_t seed, uint64_t stream, uint64_t step, uint64_t k) {
    return mix(mix(mix(seed ^ (stream << 56)) ^ step) ^ (k * 0x632BE59BD9B4E019ull));
}

static tensor *normal_rows(arena *a, int n, int d, uint64_t seed_key) {
    tensor *z = tensor_new(a, 2, (int[]){n, d});
    if (!z) return NULL;
    rng r = rng_new(seed_key);
    rng_normal(&r, z->data, z->numel, 0, 1);
    return z;
}

/* n latents of the gan's noise */
static tensor *noise_rows(const gan *g, arena *a, int n, uint64_t seed_key) {
    if (g->c.noise == GAN_NOISE_NORMAL) return normal_rows(a, n, g->c.z_dim, seed_key);
    tensor *z = tensor_new(a, 2, (int[]){n, g->c.z_dim});
    if (!z) return NULL;
    rng r = rng_new(seed_key);
    rng_uniform(&r, z->data, z->numel, -1, 1);
    return z;
}

static tensor *latents(arena *a, int nz, gan_noise noise, uint64_t seed, int first, int n);

tensor *gan_latents(arena *a, int nz, uint64_t seed, int first, int n) {
    return latents(a, nz, GAN_NOISE_NORMAL, seed, first, n);
}

static tensor *latents(arena *a, int nz, gan_noise noise, uint64_t seed, int first, int n) {
    if (n < 1 || nz < 1 || first < 0) {
        error_set(STATUS_ARG, "gan_latents: n %d, nz %d, first %d", n, nz, first);
        return NULL;
    }
    tensor *z = tensor_new(a, 2, (int[]){n, nz});
    for (int i = 0; z && i < n; i++) {
        rng r = rng_new(key(seed, STREAM_SAMPLE, (uint64_t)(first + i), 0));
        if (noise == GAN_NOISE_UNIFORM) rng_uniform(&r, z->data + (int64_t)i * nz, nz, -1, 1);
        else rng_normal(&r, z->data + (int64_t)i * nz, nz, 0, 1);
    }
    return z;
}

tensor *gan_latents_of(const gan *g, arena *a, uint64_t seed, int first, int n) {
    return latents(a, g->c.z_dim, g->c.noise, seed, first, n);
}

void gan_slerp(const float *z0, const float *z1, int nz, float t, float *out) {
    double n0 = 0, n1 = 0, dot = 0;
    for (int i = 0; i < nz; i++) { n0 += (double)z0[i] * z0[i]; n1 += (double)z1[i] * z1[i]; dot += (double)z0[i] * z1[i]; }
    double c = dot / (sqrt(n0 * n1) + 1e-30), omega = acos(fmax(-1.0, fmin(1.0, c)));
    double s = sin(omega), w0 = 1 - t, w1 = t;
    if (s > 1e-6) { w0 = sin((1 - t) * omega) / s; w1 = sin(t * omega) / s; }
    for (int i = 0; i < nz; i++) out[i] = (float)(w0 * z0[i] + w1 * z1[i]);
}

/* ---- life cycle ---- */

static optim *make_adam(gan *g, gan_net *n, float lr) {
    if (g->c.opt == GAN_OPT_SGD) return optim_sgd(g->state, n->params.tensors, n->params.n, sgd_defaults(lr));
    adam_opts o = adam_defaults(lr);
    o.beta1 = g->c.beta1;
    o.beta2 = g->c.beta2;
    return optim_adam(g->state, n->params.tensors, n->params.n, o);
}

static void ema_copy(gan_net *dst, const gan_net *src, float decay) {
    for (int i = 0; i < src->params.n; i++) {
        float *d = dst->params.tensors[i]->data, *s = src->params.tensors[i]->data;
        for (int64_t j = 0; j < src->params.tensors[i]->numel; j++) d[j] = decay * d[j] + (1 - decay) * s[j];
    }
    for (int i = 0; i < src->buffers.n; i++)
        memcpy(dst->buffers.tensors[i]->data, src->buffers.tensors[i]->data,
               sizeof(float) * (size_t)src->buffers.tensors[i]->numel);
}

void gan_ema_reset(gan *g) { if (g->c.ema > 0) ema_copy(&g->E, &g->G, 0); }

gan *gan_new(const gan_config *c) {
    if (!c || config_check(c) != STATUS_OK) return NULL;
    gan *g = calloc(1, sizeof *g);
    if (!g) { error_set(STATUS_NOMEM, "gan: out of memory"); return NULL; }
    g->c = *c;
    g->hi = c->batch;
    g->params = arena_new(1 << 20);
    g->state = arena_new(1 << 20);
    g->work = arena_new(8 << 20);
    bool ok = g->params && g->state && g->work
           && gan_net_init(&g->G, g->params, c, true, key(c->seed, STREAM_INIT, 0, 0)) == STATUS_OK
           && gan_net_init(&g->D, g->params, c, false, key(c->seed, STREAM_INIT, 1, 0)) == STATUS_OK;
    if (ok && c->ema > 0) {
        ok = gan_net_init(&g->E, g->params, c, true, key(c->seed, STREAM_INIT, 0, 0)) == STATUS_OK;
        if (ok) { ema_copy(&g->E, &g->G, 0); model_params_set_trainable(&g->E.params, false); }
    }
    if (ok) {
        g->og = make_adam(g, &g->G, c->lr_g);
        g->od = make_adam(g, &g->D, c->lr_d);
        ok = g->og && g->od;
    }
    if (!ok) { gan_free(g); return NULL; }
    return g;
}

void gan_free(gan *g) {
    if (!g) return;
    optim_free(g->og);
    optim_free(g->od);
    arena_free(g->params);
    arena_free(g->state);
    arena_free(g->work);
    featnet_free(g->style_fn);
    free(g);
}

const gan_config *gan_get_config(const gan *g) { return &g->c; }
int64_t gan_step(const gan *g) { return g->step; }
gan_net *gan_sampler(gan *g) { return g->c.ema > 0 ? &g->E : &g->G; }
status gan_set_rates(gan *g, float lr_g, float lr_d, int d_steps, int g_steps) {
    gan_config c = g->c;
    c.lr_g = lr_g; c.lr_d = lr_d; c.d_steps = d_steps; c.g_steps = g_steps;
    if (config_check(&c) != STATUS_OK) return error_status();
    g->c = c;
    optim_set_lr(g->og, lr_g);
    optim_set_lr(g->od, lr_d);
    return STATUS_OK;
}

gan_net *gan_discriminator(gan *g) { return &g->D; }
gan_net *gan_generator(gan *g) { return &g->G; }

/* ---- losses ---- */

static tensor *bce_const(arena *a, tensor *logits, float target) {
    tensor *t = logits ? tensor_fill(tensor_like(a, logits), target) : NULL;
    return op_bce_with_logits(a, logits, t);
}

/* mean (x - target)^2 */
static tensor *sq_mean(arena *a, tensor *x, float target) {
    return op_mean(a, op_square(a, op_add_scalar(a, x, -target)), -1, false);
}

static tensor *d_loss(gan *g, arena *a, tensor *real, tensor *fake) {
    switch (g->c.loss) {
    case GAN_LOSS_BCE: return op_add(a, bce_const(a, real, 1), bce_const(a, fake, 0));
    case GAN_LOSS_HINGE: return op_add(a, op_hinge_loss(a, real, 1), op_hinge_loss(a, fake, -1));
    case GAN_LOSS_LSGAN: return op_mul_scalar(a, op_add(a, sq_mean(a, real, 1), sq_mean(a, fake, 0)), 0.5f);
    default: return op_sub(a, op_mean(a, fake, -1, false), op_mean(a, real, -1, false));
    }
}

static tensor *g_loss(gan *g, arena *a, tensor *fake) {
    if (g->c.loss == GAN_LOSS_BCE) return bce_const(a, fake, 1);
    if (g->c.loss == GAN_LOSS_LSGAN) return op_mul_scalar(a, sq_mean(a, fake, 1), 0.5f);
    return op_neg(a, op_mean(a, fake, -1, false));
}

static double mean_of(const tensor *t) {
    double s = 0;
    for (int64_t i = 0; i < t->numel; i++) s += t->data[i];
    return s / (double)t->numel;
}

/* ---- D on augmented input ---- */

/* T(x) with the augmentation draws of `counter` (identity without DiffAugment). */
static tensor *augment(gan *g, arena *a, tensor *x, uint64_t counter) {
    if (!g->c.diffaug || !x) return x;
    diffaug_draws d;
    /* this process's rows of a batch: the draws of the whole batch, those rows of them */
    int n = x->shape[0];
    bool part = g->dist && n == g->hi - g->lo;
    int lo = part ? g->lo : 0, total = part ? g->c.batch : n;
    if (diffaug_draw(a, g->c.diffaug, total, x->shape[2], x->shape[3],
                     key(g->c.seed, STREAM_AUG, counter, 0), 0, &d) != STATUS_OK) return NULL;
    float **f[] = {&d.brightness, &d.saturation, &d.contrast};
    int **i[] = {&d.tx, &d.ty, &d.cut_x, &d.cut_y};
    for (int k = 0; k < 3; k++) if (*f[k]) *f[k] += lo;
    for (int k = 0; k < 4; k++) if (*i[k]) *i[k] += lo;
    d.n = n;
    return diffaug_apply(a, x, g->c.diffaug, &d);
}

static tensor *d_of(gan *g, arena *a, tensor *x, uint64_t aug, bool training) {
    return gan_d_forward(&g->D, a, augment(g, a, x, aug), training);
}

/* gx = grad_x of S = sum D(T(x)) (eval mode: no power iteration); D's grads zeroed after. */
static status d_input_grad(gan *g, arena *a, const tensor *x, uint64_t aug, float *gx) {
    tensor *xl = tensor_copy(a, x);
    if (!xl) return error_status();
    tensor_requires_grad(xl);
    tensor *s = op_sum(a, d_of(g, a, xl, aug, false), -1, false);
    if (!s || tensor_backward(s) != STATUS_OK) return error_status();
    memcpy(gx, tensor_grad(xl), sizeof(float) * (size_t)x->numel);
    optim_zero_grad(g->od);
    return STATUS_OK;
}

/* Adds coef * grad_theta (grad_x S . v) to D's gradients: a central difference of S along v. */
static status d_hvp(gan *g, arena *a, const tensor *x, const float *v, double coef, uint64_t aug) {
    double ss[2] = {0, (double)x->numel};
    for (int64_t i = 0; i < x->numel; i++) ss[0] += (double)v[i] * v[i];
    /* the step e from the whole batch's v, as one process takes it */
    if (g->dist && dist_allreduce_sum_f64(g->dist, ss, 2) != STATUS_OK) return error_status();
    double rms = sqrt(ss[0] / ss[1]);
    if (rms == 0 || coef == 0) return STATUS_OK;
    float e = (float)(1e-3 / rms);
    tensor *xp = tensor_copy(a, x), *xm = tensor_copy(a, x);
    if (!xp || !xm) return error_status();
    for (int64_t i = 0; i < x->numel; i++) { xp->data[i] += e * v[i]; xm->data[i] -= e * v[i]; }
    tensor *sp = op_sum(a, d_of(g, a, xp, aug, false), -1, false);
    tensor *sm = op_sum(a, d_of(g, a, xm, aug, false), -1, false);
    tensor *l = op_mul_scalar(a, op_sub(a, sp, sm), (float)(coef / (2.0 * e)));
    if (!l || tensor_backward(l) != STATUS_OK) return error_status();
    return STATUS_OK;
}

/* The rows of the whole batch that x's rows are part of (x's own alone), and where x's
 * first row sits in it. */
static int whole(const gan *g, const tensor *x) { return g->dist ? g->c.batch : x->shape[0]; }
static int first_row(const gan *g) { return g->dist ? g->lo : 0; }

/* R1 on reals: value r1/2 * mean_i |g_i|^2; returns it in *value (this process's part). */
static status r1_penalty(gan *g, arena *a, const tensor *real, uint64_t aug, float *gx, double *value) {
    if (d_input_grad(g, a, real, aug, gx) != STATUS_OK) return error_status();
    double ss = 0;
    for (int64_t i = 0; i < real->numel; i++) ss += (double)gx[i] * gx[i];
    *value = ss / whole(g, real);
    return STATUS_OK;
}

/* WGAN-GP interpolates and their per-sample gradient norms: fills v with the HVP
 * direction 2 (|g_i| - 1) / |g_i| g_i and *value with mean (|g_i| - 1)^2. */
static tensor *gp_points(gan *g, arena *a, const tensor *real, const tensor *fake, float *v,
                         uint64_t aug, int k, double *value) {
    int n = real->shape[0];
    int64_t per = real->numel / n;
    tensor *xh = tensor_copy(a, real);
    if (!xh) return NULL;
    float alpha_all[4096], *alpha = alpha_all + first_row(g);   /* the whole batch's draws, our rows */
    rng r = rng_new(key(g->c.seed, STREAM_ALPHA, (uint64_t)g->step, (uint64_t)k));
    rng_uniform(&r, alpha_all, whole(g, real), 0, 1);
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < per; j++)
            xh->data[i * per + j] = alpha[i] * real->data[i * per + j] + (1 - alpha[i]) * fake->data[i * per + j];
    if (d_input_grad(g, a, xh, aug, v) != STATUS_OK) return NULL;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        double ss = 0;
        for (int64_t j = 0; j < per; j++) ss += (double)v[i * per + j] * v[i * per + j];
        double norm = sqrt(ss), c = norm > 1e-12 ? 2 * (norm - 1) / norm : 0;
        for (int64_t j = 0; j < per; j++) v[i * per + j] *= (float)c;
        sum += (norm - 1) * (norm - 1);
    }
    *value = sum / whole(g, real);
    return xh;
}

/* ---- one step ---- */

/* G's samples for this process's rows of a batch of n (the whole batch's latents, those rows) */
static tensor *fake_batch(gan *g, arena *a, int n, uint64_t stream, int k, bool grad) {
    tensor *z = noise_rows(g, a, n, key(g->c.seed, stream, (uint64_t)g->step, (uint64_t)k));
    if (z && g->dist) z = tensor_narrow(a, z, g->lo, g->hi - g->lo);
    bool prev = autograd_set(grad);
    tensor *x = gan_g_forward(&g->G, a, z, true);
    autograd_set(prev);
    return x;
}

/* D's gradients copied out (d_input_grad zeroes them), then added back. */
static float *grads_save(gan *g, arena *a) {
    int64_t total = 0;
    for (int i = 0; i < g->D.params.n; i++) total += g->D.params.tensors[i]->numel;
    float *s = arena_alloc(a, sizeof(float) * (size_t)total), *p = s;
    for (int i = 0; s && i < g->D.params.n; i++) {
        tensor *t = g->D.params.tensors[i];
        memcpy(p, tensor_grad(t), sizeof(float) * (size_t)t->numel);
        p += t->numel;
    }
    return s;
}

static void grads_add(gan *g, const float *s) {
    for (int i = 0; i < g->D.params.n; i++) {
        tensor *t = g->D.params.tensors[i];
        float *gr = tensor_grad(t);
        for (int64_t j = 0; j < t->numel; j++) gr[j] += s[j];
        s += t->numel;
    }
}

/* Data-parallel: every rank's gradients of net summed, in one buffer (each rank's loss is
 * its rows' part of the whole batch's mean, so the sum is the whole batch's gradient). */
static status grads_allreduce(gan *g, arena *a, const gan_net *n) {
    if (!g->dist) return STATUS_OK;
    int64_t total = 0;
    for (int i = 0; i < n->params.n; i++) total += n->params.tensors[i]->numel;
    float *buf = arena_alloc(a, sizeof(float) * (size_t)total), *p = buf;
    if (!buf) return error_status();
    for (int i = 0; i < n->params.n; i++) {
        tensor *t = n->params.tensors[i];
        memcpy(p, tensor_grad(t), sizeof(float) * (size_t)t->numel);
        p += t->numel;
    }
    if (dist_allreduce_sum(g->dist, buf, total) != STATUS_OK) return error_status();
    p = buf;
    for (int i = 0; i < n->params.n; i++) {
        tensor *t = n->params.tensors[i];
        memcpy(tensor_grad(t), p, sizeof(float) * (size_t)t->numel);
        p += t->numel;
    }
    return STATUS_OK;
}

/* A loss that is a mean over this process's rows, as its part of the whole batch's mean. */
static tensor *share_of(const gan *g, arena *a, tensor *loss) {
    if (!g->dist || !loss) return loss;
    return op_mul_scalar(a, loss, (float)(g->hi - g->lo) / (float)g->c.batch);
}

/* The penalty's value (before its weight) and, added to D's gradients, the gradient of
 * weight * value. Needs v of real->numel floats of scratch. */
static status d_penalty(gan *g, arena *a, const tensor *real, const tensor *fake, int k,
                        uint64_t aug, double *value) {
    *value = 0;
    bool want_r1 = g->c.r1 > 0, want_gp = g->c.loss == GAN_LOSS_WGAN_GP && g->c.gp > 0;
    if (!want_r1 && !want_gp) return STATUS_OK;
    float *v = arena_alloc(a, sizeof(float) * (size_t)real->numel);
    if (!v) return error_status();
    const tensor *px = real;
    int n = whole(g, real);
    double coef;
    if (want_r1) {
        if (r1_penalty(g, a, real, aug, v, value) != STATUS_OK) return error_status();
        *value *= 0.5;                   /* mean |g|^2 / 2 */
        coef = g->c.r1 / n;
    } else {
        px = gp_points(g, a, real, fake, v, aug, k, value);
        if (!px) return error_status();
        coef = g->c.gp / n;
    }
    return d_hvp(g, a, px, v, coef, aug);
}

status gan_penalty_grad(gan *g, const tensor *real, const tensor *fake, double *value) {
    optim_zero_grad(g->od);
    status s = d_penalty(g, g->work, real, fake, 0, 0, value);
    arena_reset(g->work);
    return s;
}

static status d_update(gan *g, gan_data_fn data, void *user, int k, gan_stats *st) {
    arena *a = g->work;
    int n = g->c.batch;
    uint64_t aug_real = ((uint64_t)g->step * 64 + (uint64_t)k) * 2, aug_fake = aug_real + 1;
    tensor *real = data(user, a, g->step, k, n);
    if (real && g->dist && real->ndim >= 1 && real->shape[0] == n) real = tensor_narrow(a, real, g->lo, g->hi - g->lo);
    tensor *fake = fake_batch(g, a, n, STREAM_ZD, k, false);
    if (!real || !fake) return error_status();
    if (!tensor_same_shape(real, fake)) {
        char b1[64], b2[64];
        return error_set(STATUS_SHAPE, "gan: real batch %s but generated %s", tensor_shape_str(real, b1), tensor_shape_str(fake, b2));
    }
    optim_zero_grad(g->od);
    tensor *lr = d_of(g, a, real, aug_real, true), *lf = d_of(g, a, fake, aug_fake, true);
    tensor *loss = share_of(g, a, d_loss(g, a, lr, lf));
    if (!loss || tensor_backward(loss) != STATUS_OK) return error_status();
    /* the penalty after the main pass: its power iteration has run, and its gradients add */
    double pen;
    float *keep = NULL;
    if (g->c.r1 > 0 || g->c.loss == GAN_LOSS_WGAN_GP) {
        keep = grads_save(g, a);
        if (!keep) return error_status();
    }
    if (d_penalty(g, a, real, fake, k, aug_real, &pen) != STATUS_OK) return error_status();
    if (keep) grads_add(g, keep);
    float w = g->c.r1 > 0 ? g->c.r1 : g->c.loss == GAN_LOSS_WGAN_GP ? g->c.gp : 0;
    double part = g->dist ? (double)(g->hi - g->lo) / g->c.batch : 1;   /* summed over the ranks later */
    st->d_loss = loss->data[0] + w * pen;
    st->d_real = mean_of(lr) * part;
    st->d_fake = mean_of(lf) * part;
    st->penalty = pen;
    if (grads_allreduce(g, a, &g->D) != STATUS_OK) return error_status();
    return optim_step(g->od);
}

/* x (N, 3, H, W) in [0, 1] -> the style layers' features */
static status style_features(gan *g, arena *a, tensor *x, tensor **f) {
    static const char *const vgg_names[GAN_STYLE_LAYERS] = {"relu1_1", "relu2_1", "relu3_1"};
    if (g->style_fn) return featnet_forward(g->style_fn, a, x, GAN_STYLE_LAYERS, g->style_layers, f);
    return vgg19_forward(&g->vgg, a, vgg_normalize(a, x), GAN_STYLE_LAYERS, vgg_names, f);
}

/* The style network: the built-in VGG-19 to relu3_1 (seed 0), or c.style_net's texture layers. */
status gan_style_net_init(gan *g) {
    if (!g->c.style_net[0] || !strcmp(g->c.style_net, "vgg19")) {
        if (vgg19_init(&g->vgg, g->params, 0, VGG_POOL_MAX, "relu3_1") != STATUS_OK) return error_status();
        model_params_set_trainable(&g->vgg.params, false);
        return STATUS_OK;
    }
    if (!g->style_fn && !(g->style_fn = featnet_open(g->c.style_net, NULL, NULL))) return error_status();
    if (featnet_texture_layers(g->style_fn, g->style_layers) != GAN_STYLE_LAYERS)
        return error_set(STATUS_ARG, "gan: --style-net %s: no texture layers known for it (inception_v3, mobilenet_v2 or vgg19)",
                         g->c.style_net);
    return STATUS_OK;
}

static tensor *style_loss(gan *g, arena *a, tensor *fake) {
    tensor *f[GAN_STYLE_LAYERS];
    tensor *x = op_mul_scalar(a, op_add_scalar(a, fake, 1), 0.5f);     /* [-1, 1] -> [0, 1] */
    if (style_features(g, a, x, f) != STATUS_OK) return NULL;
    tensor *sum = NULL;
    for (int l = 0; l < GAN_STYLE_LAYERS; l++) {
        tensor *t = g->style_gram[l];
        double tt = 0;
        for (int64_t i = 0; i < t->numel; i++) tt += (double)t->data[i] * t->data[i];
        tt = tt / (double)t->numel + 1e-12;
        tensor *d = op_mean(a, op_square(a, op_sub(a, op_gram(a, f[l]), t)), -1, false);
        d = op_div_scalar(a, d, (float)tt);
        sum = sum ? op_add(a, sum, d) : d;
    }
    return op_div_scalar(a, sum, GAN_STYLE_LAYERS);
}

static status g_update(gan *g, int k, gan_stats *st) {
    arena *a = g->work;
    model_params_set_trainable(&g->D.params, false);
    optim_zero_grad(g->og);
    tensor *fake = fake_batch(g, a, g->c.batch, STREAM_ZG, k, true);
    uint64_t aug = ((uint64_t)g->step * 64 + 63 - (uint64_t)k) * 2;
    tensor *loss = share_of(g, a, g_loss(g, a, d_of(g, a, fake, aug, true)));
    st->style = 0;
    if (loss && g->have_style && g->c.style_weight > 0) {
        tensor *s = share_of(g, a, style_loss(g, a, fake));
        if (s) st->style = s->data[0];
        loss = op_add(a, loss, op_mul_scalar(a, s, g->c.style_weight));
    }
    status s = loss ? tensor_backward(loss) : error_status();
    model_params_set_trainable(&g->D.params, true);
    if (s != STATUS_OK) return s;
    st->g_loss = loss->data[0];
    if ((s = grads_allreduce(g, a, &g->G)) != STATUS_OK || (s = optim_step(g->og)) != STATUS_OK) return s;
    if (g->c.ema > 0) {     /* warm-up: early on the average must not be mostly the init */
        float warm = (float)(1 + g->step) / (float)(10 + g->step);
        ema_copy(&g->E, &g->G, g->c.ema < warm ? g->c.ema : warm);
    }
    return STATUS_OK;
}

/* After the updates of a step: the losses must be finite; the step counts. */
static status step_done(gan *g, status s, const gan_stats *st, gan_stats *out) {
    if (s != STATUS_OK) return s;
    if (!isfinite(st->d_loss) || !isfinite(st->g_loss))
        return error_set(STATUS_ARG, "gan: the loss became %s at step %lld (D %g, G %g); lower the learning rates",
                         "non-finite", (long long)g->step, st->d_loss, st->g_loss);
    g->step++;
    if (out) *out = *st;
    return STATUS_OK;
}

status gan_set_dist(gan *g, dist *d) {
    if (d && dist_size(d) > g->c.batch)
        return error_set(STATUS_ARG, "gan: %d processes for a batch of %d: give each at least one row (--batch)",
                         dist_size(d), g->c.batch);
    g->dist = d && dist_size(d) > 1 ? d : NULL;
    g->lo = 0;
    g->hi = g->c.batch;
    if (g->dist) dist_share(g->c.batch, dist_rank(d), dist_size(d), &g->lo, &g->hi);
    return STATUS_OK;
}

static status sum_over_ranks(void *user, double *buf, int n) { return dist_allreduce_sum_f64(user, buf, n); }

/* A hash of G's and D's weights: the ranks must hold the same bits. */
static status check_same_weights(gan *g) {
    uint64_t h[2] = {1469598103934665603ULL, 1469598103934665603ULL};
    const gan_net *nets[2] = {&g->G, &g->D};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < nets[k]->params.n; i++) {
            const tensor *w = nets[k]->params.tensors[i];
            for (int64_t j = 0; j < w->numel; j++) {
                uint32_t bits;
                memcpy(&bits, &w->data[j], sizeof bits);
                h[k] = (h[k] ^ bits) * 1099511628211ULL;
            }
        }
    return dist_check_same(g->dist, h, sizeof h);
}

status gan_train_step(gan *g, gan_data_fn data, void *user, gan_stats *out) {
    if (!g || !data) return error_set(STATUS_ARG, "gan_train_step: no gan or no data function");
    gan_stats st = {0};
    status s = STATUS_OK;
    if (g->dist) {   /* batch norm over every rank's rows */
        g->sync = (op_allreduce){sum_over_ranks, g->dist};
        g->G.bn_sync = g->D.bn_sync = &g->sync;
    }
    for (int k = 0; k < g->c.d_steps && s == STATUS_OK; k++) {
        s = d_update(g, data, user, k, &st);
        arena_reset(g->work);
    }
    for (int k = 0; k < g->c.g_steps && s == STATUS_OK; k++) {
        s = g_update(g, k, &st);
        arena_reset(g->work);
    }
    g->G.bn_sync = g->D.bn_sync = NULL;
    if (g->dist && s == STATUS_OK) {   /* the whole batch's losses: the ranks' parts summed */
        double v[6] = {st.d_loss, st.g_loss, st.d_real, st.d_fake, st.penalty, st.style};
        s = dist_allreduce_sum_f64(g->dist, v, 6);
        st = (gan_stats){v[0], v[1], v[2], v[3], v[4], v[5]};
        if (s == STATUS_OK) s = check_same_weights(g);
    }
    return step_done(g, s, &st, out);
}

status gan_train_d(gan *g, gan_data_fn data, void *user, gan_stats *out) {
    if (!g || !data) return error_set(STATUS_ARG, "gan_train_d: no gan or no data function");
    if (g->dist) return error_set(STATUS_ARG, "gan_train_d: one process only (gan_set_dist)");
    gan_stats st = {0};
    status s = d_update(g, data, user, 0, &st);
    arena_reset(g->work);
    return step_done(g, s, &st, out);
}

status gan_train_g(gan *g, gan_stats *out) {
    if (!g) return error_set(STATUS_ARG, "gan_train_g: no gan");
    if (g->dist) return error_set(STATUS_ARG, "gan_train_g: one process only (gan_set_dist)");
    gan_stats st = {0};
    status s = g_update(g, 0, &st);
    arena_reset(g->work);
    return step_done(g, s, &st, out);
}

status gan_sample_grad(gan *g, const tensor *x, float *grad) {
    arena *a = g->work;
    tensor *xl = x ? tensor_copy(a, x) : NULL;
    status s = xl ? STATUS_OK : error_status();
    if (s == STATUS_OK) {
        tensor_requires_grad(xl);
        model_params_set_trainable(&g->D.params, false);
        tensor *loss = op_mul_scalar(a, g_loss(g, a, d_of(g, a, xl, 0, false)), (float)x->shape[0]);
        s = loss ? tensor_backward(loss) : error_status();
        model_params_set_trainable(&g->D.params, true);
        if (s == STATUS_OK) memcpy(grad, tensor_grad(xl), sizeof(float) * (size_t)x->numel);
    }
    arena_reset(a);
    return s;
}

/* ---- style targets ---- */

status gan_set_style(gan *g, const tensor *images) {
    if (!images || images->ndim != 4 || images->shape[1] != 3)
        return error_set(STATUS_ARG, "gan_set_style: images must be (M, 3, H, W)");
    if (!g->have_style && gan_style_net_init(g) != STATUS_OK) return error_status();
    arena *a = arena_new(8 << 20);
    if (!a) return error_status();
    bool prev = autograd_set(false);
    status s = STATUS_OK;
    int m = images->shape[0];
    for (int i = 0; i < m && s == STATUS_OK; i++) {
        tensor *x = tensor_narrow(a, (tensor *)images, i, 1);
        x = op_mul_scalar(a, op_add_scalar(a, x, 1), 0.5f);
        tensor *f[GAN_STYLE_LAYERS];
        s = style_features(g, a, x, f);
        for (int l = 0; l < GAN_STYLE_LAYERS && s == STATUS_OK; l++) {
            tensor *gm = op_gram(a, f[l]);
            if (!gm) { s = error_status(); break; }
            if (i == 0) g->style_gram[l] = tensor_new(g->params, 3, gm->shape);
            if (!g->style_gram[l]) { s = error_status(); break; }
            for (int64_t j = 0; j < gm->numel; j++) g->style_gram[l]->data[j] += gm->data[j] / (float)m;
        }
        arena_reset(a);
    }
    autograd_set(prev);
    arena_free(a);
    if (s == STATUS_OK) g->have_style = true;
    return s;
}

/* ---- sampling ---- */

float *gan_buffers_save(const gan_net *g) {
    int64_t total = 0;
    for (int i = 0; i < g->buffers.n; i++) total += g->buffers.tensors[i]->numel;
    float *s = malloc(sizeof(float) * (size_t)(total + 1)), *p = s;
    for (int i = 0; s && i < g->buffers.n; i++) {
        memcpy(p, g->buffers.tensors[i]->data, sizeof(float) * (size_t)g->buffers.tensors[i]->numel);
        p += g->buffers.tensors[i]->numel;
    }
    return s;
}

void gan_buffers_restore(gan_net *g, float *saved) {
    float *p = saved;
    for (int i = 0; saved && i < g->buffers.n; i++) {
        memcpy(g->buffers.tensors[i]->data, p, sizeof(float) * (size_t)g->buffers.tensors[i]->numel);
        p += g->buffers.tensors[i]->numel;
    }
    free(saved);
}

status gan_net_calibrate(gan_net *g, uint64_t seed) {
    if (g->nbn == 0) return STATUS_OK;
    arena *a = arena_new(8 << 20);
    if (!a) return error_status();
    for (int j = 0; j < g->nbn; j++) { tensor_fill(g->rmean[j], 0); tensor_fill(g->rvar[j], 1); }
    bool prev = autograd_set(false);
    float keep = g->bn_momentum;
    status s = STATUS_OK;
    for (int i = 0; i < 16 && s == STATUS_OK; i++) {
        g->bn_momentum = 1.0f / (float)(i + 1);
        tensor *z = normal_rows(a, 64, g->nz, key(seed, STREAM_CAL, (uint64_t)i, 0));
        if (!gan_g_forward(g, a, z, true)) s = error_status();
        arena_reset(a);
    }
    g->bn_momentum = keep;
    autograd_set(prev);
    arena_free(a);
    return s;
}

tensor *gan_net_sample(gan_net *g, arena *a, uint64_t seed, int first, int n) {
    tensor *z = latents(a, g->nz, g->noise, seed, first, n);
    bool prev = autograd_set(false);
    tensor *x = gan_g_forward(g, a, z, false);
    autograd_set(prev);
    return x;
}

/* Samples with freshly calibrated batch-norm statistics, leaving the net's own untouched
 * (training goes on exactly as without the sample). */
tensor *gan_sample(gan *g, arena *a, uint64_t seed, int first, int n) {
    gan_net *s = gan_sampler(g);
    float *saved = gan_buffers_save(s);
    if (!saved) { error_set(STATUS_NOMEM, "gan: out of memory"); return NULL; }
    tensor *x = gan_net_calibrate(s, g->c.seed) == STATUS_OK ? gan_net_sample(s, a, seed, first, n) : NULL;
    gan_buffers_restore(s, saved);
    return x;
}
