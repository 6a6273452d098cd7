/* bench.c: atelier_bench, one workload timed, one JSON line out (scripts/bench.sh runs
 * every workload here and in bench/bench_torch.py, the same in PyTorch, and compares).
 *
 * Workloads (batch 1 unless said):
 *   gatys-256, gatys-512  one step of Gatys et al.'s style transfer: VGG-19 to relu5_1,
 *                         content loss (mse) at relu4_2, Gram-matrix style losses (mse) at
 *                         relu1_1 .. relu5_1, the gradient for the image only (VGG frozen),
 *                         one Adam update of the image
 *   fast-style-512/1024   Johnson et al.'s transformer net, inference
 *   stylenet-512/1024     a fast style network of stylenet.h (width 0.5, 11 styles, random
 *                         weights), one image in style 0, inference
 *   video-360             one frame of `atelier video --temporal` at 640x360: the stylenet
 *                         network above on the frame, DIS optical flow (flow.h, medium
 *                         preset) both ways between it and the previous frame with the
 *                         occlusion mask, the previous output warped and blended (0.7,
 *                         the command's default; its detail step is left out); frames
 *                         are a texture moving 3 px right and 1 px down a frame
 *   stylenet-train-256    one stylenet_trainer_step of that network: a batch of 4 photos of
 *                         256 x 256, the loss on InceptionV3 (installed), backward, Adam
 *   adain-512             AdaIN: VGG-19 to relu4_1 on content and style, AdaIN, decoder;
 *                         inference
 *   dcgan-64              one D step and one G step at batch 64 (Adam lr 2e-4, betas
 *                         (0.5, 0.999), bce_with_logits), as pytorch/examples/dcgan
 *   sgemm                 the machine's sgemm peak: backend gemm, 2048^3, best of 3
 *
 * ms is the median of --iters timed iterations after 2 warm-ups (times_ms lists them all,
 * warmup_ms the warm-ups, in the order run). gflop counts the convolutions' and matrix
 * products' floating-point operations from the layer shapes:
 * 2 N OC OH OW (C / groups) KH KW for a conv forward, the same for its backward-data and
 * for its backward-weights, each counted only where it is computed (not for inputs or
 * weights that need no gradient). Elementwise ops, norms and pools are not counted.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "atelier/backend.h"
#include "atelier/featnet.h"
#include "atelier/models.h"
#include "atelier/ops.h"
#include "atelier/optim.h"
#include "atelier/rng.h"
#include "atelier/flow.h"
#include "atelier/stylenet.h"

#define MAX_ITERS 1000
#define WARMUP 2

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;  // kilobytes on Linux
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* 2 N OC OH OW C K K: a conv forward, or its backward-data, or its backward-weights */
static double conv_flop(int n, int c, int oc, int oh, int ow, int k) {
    return 2.0 * n * oc * oh * ow * c * k * k;
}

/* a transposed conv from (N, C, H, W) to OC channels: the conv forward it is the
 * backward-data of, counted from its input side */
static double convt_flop(int n, int c, int h, int w, int oc, int k) {
    return 2.0 * n * c * h * w * oc * k * k;
}

/* every iteration's time, warm-ups first, in the order run (for the JSON line) */
static double iter_ms[WARMUP + MAX_ITERS];

/* Run step WARMUP + iters times; return the median of the timed ones (NAN on failure). */
typedef bool (*step_fn)(void *ctx);
static double time_steps(step_fn step, void *ctx, int iters) {
    double t[MAX_ITERS];
    for (int i = 0; i < WARMUP + iters; i++) {
        double t0 = now_ms();
        if (!step(ctx)) return NAN;
        iter_ms[i] = now_ms() - t0;
        if (i >= WARMUP) t[i - WARMUP] = iter_ms[i];
    }
    qsort(t, (size_t)iters, sizeof t[0], cmp_double);
    return iters % 2 ? t[iters / 2] : 0.5 * (t[iters / 2 - 1] + t[iters / 2]);
}

static tensor *rand_tensor(arena *a, int ndim, const int *shape, uint64_t seed, float lo, float hi) {
    tensor *t = tensor_new(a, ndim, shape);
    if (t) rng_uniform_at(seed, 0, t->data, t->numel, lo, hi);
    return t;
}

/* ---- gatys ---- */

#define GATYS_STYLE 5
static const char *const gatys_layers[GATYS_STYLE + 1] = {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1", "relu4_2"};

typedef struct gatys_ctx {
    vgg19 vgg;
    arena *params, *step;
    tensor *img;                     /* (1, 3, S, S) the optimised image */
    tensor *content;                 /* relu4_2 of the content image */
    tensor *gram[GATYS_STYLE];       /* (1, C, C) of the style image */
    optim *opt;
} gatys_ctx;

static tensor *gatys_loss(gatys_ctx *g, tensor *img) {
    tensor *f[GATYS_STYLE + 1];
    if (vgg19_forward(&g->vgg, g->step, vgg_normalize(g->step, img), GATYS_STYLE + 1, gatys_layers, f) != STATUS_OK)
        return NULL;
    tensor *loss = op_mse_loss(g->step, f[GATYS_STYLE], g->content);
    for (int i = 0; i < GATYS_STYLE; i++)
        loss = op_add(g->step, loss, op_mul_scalar(g->step, op_mse_loss(g->step, op_gram(g->step, f[i]), g->gram[i]), 1e3f));
    return loss;
}

static bool gatys_step(void *ctx) {
    gatys_ctx *g = ctx;
    arena_reset(g->step);
    optim_zero_grad(g->opt);
    tensor *loss = gatys_loss(g, g->img);
    return loss && tensor_backward(loss) == STATUS_OK && optim_step(g->opt) == STATUS_OK;
}

static bool gatys_setup(gatys_ctx *g, int s) {
    g->params = arena_new(1 << 24);
    g->step = arena_new(1 << 24);
    if (!g->params || !g->step || vgg19_init(&g->vgg, g->params, 1, VGG_POOL_MAX, "relu5_1") != STATUS_OK) return false;
    model_params_set_trainable(&g->vgg.params, false);
    tensor *content = rand_tensor(g->params, 4, (int[]){1, 3, s, s}, 2, 0.0f, 1.0f);
    tensor *style = rand_tensor(g->params, 4, (int[]){1, 3, s, s}, 3, 0.0f, 1.0f);
    if (!content || !style) return false;
    tensor *f[GATYS_STYLE + 1];
    bool was = autograd_set(false);
    bool ok = vgg19_forward(&g->vgg, g->step, vgg_normalize(g->step, content), GATYS_STYLE + 1, gatys_layers, f) == STATUS_OK
        && (g->content = tensor_copy(g->params, f[GATYS_STYLE])) != NULL
        && vgg19_forward(&g->vgg, g->step, vgg_normalize(g->step, style), GATYS_STYLE, gatys_layers, f) == STATUS_OK;
    for (int i = 0; ok && i < GATYS_STYLE; i++) ok = (g->gram[i] = tensor_copy(g->params, op_gram(g->step, f[i]))) != NULL;
    autograd_set(was);
    arena_reset(g->step);
    if (!ok || !(g->img = tensor_copy(g->params, content))) return false;
    tensor_requires_grad(g->img);
    g->opt = optim_adam(g->params, &g->img, 1, adam_defaults(0.02f));
    return g->opt != NULL;
}

/* convs 1_1 .. 5_1 forward and backward-data (the image needs its gradient); the Gram
 * matrices forward (one product) and backward (two) */
static double gatys_flop(int s) {
    static const int oc[13] = {64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512};
    double f = 0;
    int c = 3, side = s;
    for (int i = 0; i < 13; i++) {
        if (i == 2 || i == 4 || i == 8 || i == 12) side /= 2;
        f += 2 * conv_flop(1, c, oc[i], side, side, 3);
        if (i == 0 || i == 2 || i == 4 || i == 8 || i == 12) f += 3 * 2.0 * oc[i] * oc[i] * side * side;
        c = oc[i];
    }
    return f;
}

static double run_gatys(int s, int iters, double *gflop) {
    gatys_ctx g = {0};
    if (!gatys_setup(&g, s)) return NAN;
    *gflop = gatys_flop(s) / 1e9;
    double ms = time_steps(gatys_step, &g, iters);
    optim_free(g.opt);
    arena_free(g.step);
    arena_free(g.params);
    return ms;
}

/* ---- gatys on a trained network (featnet.h): the stylize recipe's layers ---- */

#define NET_MAX_STYLE 8
typedef struct net_gatys {
    featnet *net;
    arena *params, *step;
    int ns;
    const char *names[NET_MAX_STYLE + 1];   /* style layers, then the content layer */
    tensor *img, *content, *gram[NET_MAX_STYLE];
    optim *opt;
} net_gatys;

static tensor *net_gatys_loss(net_gatys *g, tensor *img) {
    tensor *f[NET_MAX_STYLE + 1];
    if (featnet_forward(g->net, g->step, img, g->ns + 1, g->names, f) != STATUS_OK) return NULL;
    tensor *loss = op_mse_loss(g->step, f[g->ns], g->content);
    for (int i = 0; i < g->ns; i++)
        loss = op_add(g->step, loss, op_mul_scalar(g->step, op_mse_loss(g->step, op_gram(g->step, f[i]), g->gram[i]), 1e3f));
    return loss;
}

static bool net_gatys_step(void *ctx) {
    net_gatys *g = ctx;
    arena_reset(g->step);
    optim_zero_grad(g->opt);
    tensor *loss = net_gatys_loss(g, g->img);
    return loss && tensor_backward(loss) == STATUS_OK && optim_step(g->opt) == STATUS_OK;
}

/* net: "inception_v3" or "mobilenet_v2", installed (scripts/install-models.sh); the input
 * as stylize feeds it: [0, 1], reflect-padded (16 / 8 px) */
static double run_net_gatys(const char *net, int s, int iters) {
    static const char *const inc[] = {"activation_1", "activation_3", "activation_5", "mixed0", "mixed2", "mixed1"};
    static const char *const mob[] = {"Conv1_relu", "block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu", "block_6_expand_relu"};
    net_gatys g = {0};
    double ms = NAN;
    bool is_inc = !strcmp(net, "inception_v3");
    g.ns = is_inc ? 5 : 4;
    for (int i = 0; i <= g.ns; i++) g.names[i] = is_inc ? inc[i] : mob[i];
    if (!(g.net = featnet_open(net, NULL, NULL))) return NAN;
    g.params = arena_new(1 << 24);
    g.step = arena_new(1 << 24);
    tensor *content = g.params ? rand_tensor(g.params, 4, (int[]){1, 3, s, s}, 2, 0.0f, 1.0f) : NULL;
    tensor *style = g.params ? rand_tensor(g.params, 4, (int[]){1, 3, s, s}, 3, 0.0f, 1.0f) : NULL;
    tensor *f[NET_MAX_STYLE + 1];
    bool was = autograd_set(false);
    bool ok = g.step && content && style && featnet_forward(g.net, g.step, content, g.ns + 1, g.names, f) == STATUS_OK &&
              (g.content = tensor_copy(g.params, f[g.ns])) && featnet_forward(g.net, g.step, style, g.ns, g.names, f) == STATUS_OK;
    for (int i = 0; ok && i < g.ns; i++) ok = (g.gram[i] = tensor_copy(g.params, op_gram(g.step, f[i]))) != NULL;
    autograd_set(was);
    if (g.step) arena_reset(g.step);
    if (ok && (g.img = tensor_copy(g.params, content))) {
        tensor_requires_grad(g.img);
        if ((g.opt = optim_adam(g.params, &g.img, 1, adam_defaults(0.02f)))) ms = time_steps(net_gatys_step, &g, iters);
    }
    optim_free(g.opt);
    arena_free(g.step);
    arena_free(g.params);
    featnet_free(g.net);
    return ms;
}

/* ---- fast style (Johnson) ---- */

typedef struct fast_ctx { johnson_net net; arena *params, *step; tensor *x; } fast_ctx;

static bool fast_step(void *ctx) {
    fast_ctx *f = ctx;
    arena_reset(f->step);
    return johnson_forward(&f->net, f->step, f->x) != NULL;
}

static double fast_flop(int s) {
    double f = conv_flop(1, 3, 32, s, s, 9) + conv_flop(1, 32, 64, s / 2, s / 2, 3)
             + conv_flop(1, 64, 128, s / 4, s / 4, 3) + 10 * conv_flop(1, 128, 128, s / 4, s / 4, 3)
             + conv_flop(1, 128, 64, s / 2, s / 2, 3) + conv_flop(1, 64, 32, s, s, 3)
             + conv_flop(1, 32, 3, s, s, 9);
    return f;
}

static double run_fast(int s, int iters, double *gflop) {
    fast_ctx f = {0};
    f.params = arena_new(1 << 24);
    f.step = arena_new(1 << 24);
    if (!f.params || !f.step || johnson_init(&f.net, f.params, 1) != STATUS_OK) return NAN;
    if (!(f.x = rand_tensor(f.params, 4, (int[]){1, 3, s, s}, 4, 0.0f, 255.0f))) return NAN;
    *gflop = fast_flop(s) / 1e9;
    autograd_set(false);
    double ms = time_steps(fast_step, &f, iters);
    arena_free(f.step);
    arena_free(f.params);
    return ms;
}

/* ---- fast style networks (stylenet.h) ---- */

#define STYLENET_BENCH_STYLES 11
#define STYLENET_BENCH_WIDTH 0.5f

typedef struct stylenet_ctx { stylenet net; arena *params, *step; tensor *x, *mix; } stylenet_ctx;

static bool stylenet_step(void *ctx) {
    stylenet_ctx *c = ctx;
    arena_reset(c->step);
    return stylenet_forward(&c->net, c->step, c->x, c->mix) != NULL;
}

/* the forward convs of stylenet.h at N x S x S */
static double stylenet_flop(const stylenet *m, int n, int s) {
    int c1 = m->c1, c2 = m->c2, c3 = m->c3;
    return conv_flop(n, 3, c1, s, s, 9) + conv_flop(n, c1, c2, s / 2, s / 2, 3) + conv_flop(n, c2, c3, s / 4, s / 4, 3)
         + 10 * conv_flop(n, c3, c3, s / 4, s / 4, 3) + conv_flop(n, c3, c2, s / 2, s / 2, 3)
         + conv_flop(n, c2, c1, s, s, 3) + conv_flop(n, c1, 3, s, s, 9);
}

/* inference: width 0.5, 11 styles, one (1, 3, S, S) image in style 0 */
static double run_stylenet(int s, int iters, double *gflop) {
    stylenet_ctx c = {0};
    c.params = arena_new(1 << 24);
    c.step = arena_new(1 << 24);
    if (!c.params || !c.step || stylenet_init(&c.net, c.params, 1, STYLENET_BENCH_STYLES, STYLENET_BENCH_WIDTH) != STATUS_OK)
        return NAN;
    c.x = rand_tensor(c.params, 4, (int[]){1, 3, s, s}, 9, 0.0f, 1.0f);
    c.mix = tensor_new(c.params, 2, (int[]){1, STYLENET_BENCH_STYLES});
    if (!c.x || !c.mix) return NAN;
    c.mix->data[0] = 1.0f;
    *gflop = stylenet_flop(&c.net, 1, s) / 1e9;
    autograd_set(false);
    double ms = time_steps(stylenet_step, &c, iters);
    arena_free(c.step);
    arena_free(c.params);
    return ms;
}

/* video-360: the fast path of `atelier video` with --temporal, one frame (640x360) */
typedef struct video_ctx {
    stylenet_ctx sn;
    image *frames[2], *prev_out, *out, *warped;
    flow_field fwd, bwd;
    float *mask;
    int t;
} video_ctx;

static bool video_step(void *ctx) {
    video_ctx *c = ctx;
    image *cur = c->frames[c->t & 1], *prev = c->frames[(c->t + 1) & 1];
    c->t++;
    arena_reset(c->sn.step);
    tensor *x = image_to_tensor(c->sn.step, cur);
    tensor *y = x ? stylenet_forward(&c->sn.net, c->sn.step, x, c->sn.mix) : NULL;
    if (!y) return false;
    memcpy(c->out->data, y->data, sizeof(float) * 3 * (size_t)cur->w * cur->h);
    flow_field_free(&c->fwd);
    flow_field_free(&c->bwd);
    if (flow_pair_compute(cur, prev, &c->fwd, &c->bwd, c->mask) != STATUS_OK) return false;
    if (flow_warp(c->prev_out, &c->fwd, c->warped) != STATUS_OK) return false;
    if (flow_blend(c->out, c->warped, c->mask, 0.7f, c->out) != STATUS_OK) return false;
    image *t = c->prev_out;
    c->prev_out = c->out;
    c->out = t;
    return true;
}

static double run_video(int iters, double *gflop) {
    const int w = 640, h = 360;
    video_ctx c = {0};
    c.sn.params = arena_new(1 << 24);
    c.sn.step = arena_new(1 << 24);
    if (!c.sn.params || !c.sn.step ||
        stylenet_init(&c.sn.net, c.sn.params, 1, STYLENET_BENCH_STYLES, STYLENET_BENCH_WIDTH) != STATUS_OK)
        return NAN;
    c.sn.mix = tensor_new(c.sn.params, 2, (int[]){1, STYLENET_BENCH_STYLES});
    if (!c.sn.mix) return NAN;
    c.sn.mix->data[0] = 1.0f;
    for (int f = 0; f < 2; f++) {
        if (!(c.frames[f] = image_new(w, h, 3))) return NAN;
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    double u = x - 3 * f, v = y - f;
                    c.frames[f]->data[((size_t)ch * h + y) * w + x] =
                        (float)(0.5 + 0.25 * sin(0.11 * u + ch) * cos(0.07 * v) + 0.2 * sin(0.031 * u * v / 40 + 0.3 * ch));
                }
    }
    c.prev_out = image_new(w, h, 3);
    c.out = image_new(w, h, 3);
    c.warped = image_new(w, h, 3);
    c.mask = malloc(sizeof(float) * w * h);
    if (!c.prev_out || !c.out || !c.warped || !c.mask) return NAN;
    *gflop = 0;   /* the network's GFLOP would hide the flow's share; not counted */
    autograd_set(false);
    double ms = time_steps(video_step, &c, iters);
    flow_field_free(&c.fwd);
    flow_field_free(&c.bwd);
    free(c.mask);
    image_free(c.frames[0]);
    image_free(c.frames[1]);
    image_free(c.prev_out);
    image_free(c.out);
    image_free(c.warped);
    arena_free(c.sn.step);
    arena_free(c.sn.params);
    return ms;
}

/* training: width 0.5, 11 styles (deterministic noise images of S x S, taken at that size),
 * the loss of stylenet.h on InceptionV3 with its stylize recipe (stylenet_train_defaults),
 * one stylenet_trainer_step on a batch of (4, 3, S, S) photos */
#define STYLENET_TRAIN_BATCH 4

typedef struct stylenet_train_ctx { stylenet_trainer *t; tensor *photos; } stylenet_train_ctx;

static bool stylenet_train_step(void *ctx) {
    stylenet_train_ctx *c = ctx;
    stylenet_train_stats st;
    return stylenet_trainer_step(c->t, c->photos, &st) == STATUS_OK;
}

static double run_stylenet_train(int s, int iters) {
    featnet *fn = featnet_open("inception_v3", NULL, NULL);
    if (!fn) return NAN;
    image *styles[STYLENET_BENCH_STYLES] = {0};
    bool ok = true;
    for (int i = 0; ok && i < STYLENET_BENCH_STYLES; i++)
        if ((ok = (styles[i] = image_new(s, s, 3)) != NULL)) rng_uniform_at(20 + (uint64_t)i, 0, styles[i]->data, 3 * (int64_t)s * s, 0.0f, 1.0f);
    stylenet_train_config cfg = stylenet_train_defaults(fn);
    cfg.nstyles = STYLENET_BENCH_STYLES;
    cfg.width = STYLENET_BENCH_WIDTH;
    cfg.image_size = s;
    cfg.style_size = s;
    cfg.batch = STYLENET_TRAIN_BATCH;
    arena *a = arena_new(1 << 24);
    stylenet_train_ctx c = {0};
    if (ok && a) c.t = stylenet_trainer_new(&cfg, fn, (const image *const *)styles, NULL);
    if (c.t) c.photos = rand_tensor(a, 4, (int[]){STYLENET_TRAIN_BATCH, 3, s, s}, 10, 0.0f, 1.0f);
    double ms = c.photos ? time_steps(stylenet_train_step, &c, iters) : NAN;
    stylenet_trainer_free(c.t);
    arena_free(a);
    for (int i = 0; i < STYLENET_BENCH_STYLES; i++) image_free(styles[i]);
    featnet_free(fn);
    return ms;
}

/* ---- AdaIN ---- */

typedef struct adain_ctx { adain_net net; arena *params, *step; tensor *content, *style; } adain_ctx;

static bool adain_step(void *ctx) {
    adain_ctx *c = ctx;
    arena_reset(c->step);
    return adain_forward(&c->net, c->step, c->content, c->style, 1.0f) != NULL;
}

static double adain_flop(int s) {
    static const int oc[9] = {64, 64, 128, 128, 256, 256, 256, 256, 512};
    static const int dc[9] = {512, 256, 256, 256, 256, 128, 128, 64, 64};
    static const int doc[9] = {256, 256, 256, 256, 128, 128, 64, 64, 3};
    double f = 0;
    int c = 3, side = s;
    for (int i = 0; i < 9; i++) {   // the encoder, on content and style
        if (i == 2 || i == 4 || i == 8) side /= 2;
        f += 2 * conv_flop(1, c, oc[i], side, side, 3);
        c = oc[i];
    }
    for (int i = 0; i < 9; i++) {   // the decoder, from S/8
        if (i == 1 || i == 5 || i == 7) side *= 2;
        f += conv_flop(1, dc[i], doc[i], side, side, 3);
    }
    return f;
}

static double run_adain(int s, int iters, double *gflop) {
    adain_ctx c = {0};
    c.params = arena_new(1 << 24);
    c.step = arena_new(1 << 24);
    if (!c.params || !c.step || adain_init(&c.net, c.params, 1) != STATUS_OK) return NAN;
    c.content = rand_tensor(c.params, 4, (int[]){1, 3, s, s}, 5, 0.0f, 1.0f);
    c.style = rand_tensor(c.params, 4, (int[]){1, 3, s, s}, 6, 0.0f, 1.0f);
    if (!c.content || !c.style) return NAN;
    *gflop = adain_flop(s) / 1e9;
    autograd_set(false);
    double ms = time_steps(adain_step, &c, iters);
    arena_free(c.step);
    arena_free(c.params);
    return ms;
}

/* ---- DCGAN ---- */

#define DCGAN_BATCH 64
#define DCGAN_NZ 100

typedef struct dcgan_ctx {
    dcgan_g g;
    dcgan_d d;
    optim *opt_g, *opt_d;
    arena *params, *step;
    tensor *real;       /* (64, 3, 64, 64) in [-1, 1] */
    rng r;
} dcgan_ctx;

static tensor *bce_const(arena *a, tensor *logits, float target) {
    if (!logits) return NULL;
    tensor *t = tensor_fill(tensor_new(a, 1, logits->shape), target);
    return op_bce_with_logits(a, logits, t);
}

/* pytorch/examples/dcgan's loop body: D on real (label 1) and on fake.detach() (label 0),
 * step D; then D on fake (label 1) through G, step G. */
static bool dcgan_step(void *ctx) {
    dcgan_ctx *c = ctx;
    arena *a = c->step;
    arena_reset(a);
    tensor *z = tensor_new(a, 4, (int[]){DCGAN_BATCH, DCGAN_NZ, 1, 1});
    if (!z) return false;
    rng_normal(&c->r, z->data, z->numel, 0.0f, 1.0f);
    tensor *fake = dcgan_g_forward(&c->g, a, z, true);
    if (!fake) return false;
    optim_zero_grad(c->opt_d);
    tensor *err_d = op_add(a, bce_const(a, dcgan_d_forward(&c->d, a, c->real, true), 1.0f),
                           bce_const(a, dcgan_d_forward(&c->d, a, tensor_copy(a, fake), true), 0.0f));
    if (!err_d || tensor_backward(err_d) != STATUS_OK || optim_step(c->opt_d) != STATUS_OK) return false;
    optim_zero_grad(c->opt_g);
    tensor *err_g = bce_const(a, dcgan_d_forward(&c->d, a, fake, true), 1.0f);
    return err_g && tensor_backward(err_g) == STATUS_OK && optim_step(c->opt_g) == STATUS_OK;
}

static double dcgan_flop(void) {
    const int n = DCGAN_BATCH;
    // G: conv_transpose from (C, H) to OC, 4x4
    static const int gc[5] = {DCGAN_NZ, 512, 256, 128, 64}, gh[5] = {1, 4, 8, 16, 32}, goc[5] = {512, 256, 128, 64, 3};
    // D: conv from C to OC at output side OH, 4x4
    static const int dc[5] = {3, 64, 128, 256, 512}, doc[5] = {64, 128, 256, 512, 1}, doh[5] = {32, 16, 8, 4, 1};
    double gf = 0, gf_data = 0, df = 0, df_data = 0;
    for (int i = 0; i < 5; i++) {
        double x = convt_flop(n, gc[i], gh[i], gh[i], goc[i], 4);
        gf += x;
        if (i > 0) gf_data += x;   // z needs no gradient
        double y = conv_flop(n, dc[i], doc[i], doh[i], doh[i], 4);
        df += y;
        if (i > 0) df_data += y;   // real and detached fake need none
    }
    double d_step = gf + 2 * df + 2 * df /* weights */ + 2 * df_data;
    double g_step = df + df /* data, to the fake */ + df /* D's weights, as PyTorch */ + gf /* weights */ + gf_data;
    return d_step + g_step;
}

static double run_dcgan(int iters, double *gflop) {
    dcgan_ctx c = {0};
    c.params = arena_new(1 << 24);
    c.step = arena_new(1 << 24);
    c.r = rng_new(7);
    if (!c.params || !c.step || dcgan_g_init(&c.g, c.params, 1, DCGAN_NZ, 64, 3) != STATUS_OK
        || dcgan_d_init(&c.d, c.params, 2, 64, 3) != STATUS_OK)
        return NAN;
    adam_opts o = adam_defaults(2e-4f);
    o.beta1 = 0.5f;
    c.opt_g = optim_adam(c.params, c.g.params.tensors, c.g.params.n, o);
    c.opt_d = optim_adam(c.params, c.d.params.tensors, c.d.params.n, o);
    c.real = rand_tensor(c.params, 4, (int[]){DCGAN_BATCH, 3, 64, 64}, 8, -1.0f, 1.0f);
    if (!c.opt_g || !c.opt_d || !c.real) return NAN;
    *gflop = dcgan_flop() / 1e9;
    double ms = time_steps(dcgan_step, &c, iters);
    optim_free(c.opt_g);
    optim_free(c.opt_d);
    arena_free(c.step);
    arena_free(c.params);
    return ms;
}

/* ---- sgemm peak ---- */

static double run_sgemm(double *gflop) {
    const int n = 2048;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    if (!a || !b || !c) { free(a); free(b); free(c); return NAN; }
    rng_uniform_at(1, 0, a, (int64_t)n * n, -1.0f, 1.0f);
    rng_uniform_at(2, 0, b, (int64_t)n * n, -1.0f, 1.0f);
    const backend *be = backend_current();
    double best = INFINITY;
    for (int i = 0; i < 4; i++) {  // one warm-up, best of 3
        double t0 = now_ms();
        be->gemm(false, false, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = now_ms() - t0;
        if (i > 0 && t < best) best = t;
    }
    free(a); free(b); free(c);
    *gflop = 2.0 * n * n * n / 1e9;
    return best;
}

static void usage(FILE *f) {
    fprintf(f,
        "usage: atelier_bench WORKLOAD [--iters N] [--threads T] [--backend B] [--name NAME]\n"
        "  WORKLOAD     gatys-256, gatys-512, gatys-inception-512, gatys-mobilenet-512 (the\n"
        "               trained networks, installed by scripts/install-models.sh; their\n"
        "               GFLOP are not counted), fast-style-512, fast-style-1024, adain-512,\n"
        "               dcgan-64, stylenet-512, stylenet-1024, stylenet-train-256 (needs\n"
        "               inception_v3 installed; GFLOP not counted), video-360 (a frame of\n"
        "               atelier video --temporal: network and flow), or sgemm (the\n"
        "               machine's sgemm peak, 2048^3, best of 3)\n"
        "  --iters N    timed iterations after 2 warm-ups; ms is their median (default 5)\n"
        "  --threads T  threads of the cpu backend (default 0: all cores)\n"
        "  --backend B  cpu, cpu-bf16 or ref (default: ATELIER_BACKEND, else the fastest built)\n"
        "  --name NAME  the name printed in the JSON line (default: the workload's)\n"
        "Prints one JSON line: name, backend, threads, iters, ms, gflop, gflops, peak_rss_mb,\n"
        "times_ms (every timed iteration) and warmup_ms (the warm-ups).\n");
}

int main(int argc, char **argv) {
    const char *work = NULL, *be_name = NULL, *name = NULL;
    int iters = 5, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--backend") && i + 1 < argc) be_name = argv[++i];
        else if (!strcmp(argv[i], "--name") && i + 1 < argc) name = argv[++i];
        else if (argv[i][0] != '-' && !work) work = argv[i];
        else { fprintf(stderr, "atelier_bench: unknown argument '%s'\n", argv[i]); usage(stderr); return 2; }
    }
    if (!work) { usage(stderr); return 2; }
    if (iters < 1 || iters > MAX_ITERS) { fprintf(stderr, "atelier_bench: --iters must be 1..%d\n", MAX_ITERS); return 2; }
    if (be_name && backend_select(be_name) != STATUS_OK) {
        fprintf(stderr, "atelier_bench: %s (this build has: %s)\n", error_message(), backend_names());
        return 2;
    }
    backend_set_threads(threads);
    double gflop = 0, ms;
    if (!strcmp(work, "gatys-256")) ms = run_gatys(256, iters, &gflop);
    else if (!strcmp(work, "gatys-512")) ms = run_gatys(512, iters, &gflop);
    else if (!strcmp(work, "gatys-inception-512")) ms = run_net_gatys("inception_v3", 512, iters);
    else if (!strcmp(work, "gatys-mobilenet-512")) ms = run_net_gatys("mobilenet_v2", 512, iters);
    else if (!strcmp(work, "fast-style-512")) ms = run_fast(512, iters, &gflop);
    else if (!strcmp(work, "fast-style-1024")) ms = run_fast(1024, iters, &gflop);
    else if (!strcmp(work, "stylenet-512")) ms = run_stylenet(512, iters, &gflop);
    else if (!strcmp(work, "stylenet-1024")) ms = run_stylenet(1024, iters, &gflop);
    else if (!strcmp(work, "stylenet-train-256")) ms = run_stylenet_train(256, iters);
    else if (!strcmp(work, "video-360")) ms = run_video(iters, &gflop);
    else if (!strcmp(work, "adain-512")) ms = run_adain(512, iters, &gflop);
    else if (!strcmp(work, "dcgan-64")) ms = run_dcgan(iters, &gflop);
    else if (!strcmp(work, "sgemm")) { ms = run_sgemm(&gflop); iters = 3; }
    else { fprintf(stderr, "atelier_bench: unknown workload '%s'\n", work); usage(stderr); return 2; }
    if (isnan(ms)) {
        fprintf(stderr, "atelier_bench: %s failed: %s\n", work, error_message()[0] ? error_message() : "a step failed");
        return 1;
    }
    printf("{\"name\": \"%s\", \"impl\": \"atelier\", \"backend\": \"%s\", \"threads\": %d, \"iters\": %d, "
           "\"ms\": %.3f, \"gflop\": %.4f, \"gflops\": %.2f, \"peak_rss_mb\": %.1f",
           name ? name : work, backend_current()->name, threads, iters, ms, gflop, gflop / (ms / 1e3), peak_rss_mb());
    if (strcmp(work, "sgemm")) {
        printf(", \"times_ms\": [");
        for (int i = 0; i < iters; i++) printf("%s%.3f", i ? ", " : "", iter_ms[WARMUP + i]);
        printf("], \"warmup_ms\": [");
        for (int i = 0; i < WARMUP; i++) printf("%s%.3f", i ? ", " : "", iter_ms[i]);
        printf("]");
    }
    printf("}\n");
    return 0;
}
