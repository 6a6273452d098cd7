/* stylenet_train.c: training a fast style network (stylenet.h) against a feature network:
 * the style targets, the loss, Adam steps and checkpoints that resume exactly.
 *
 * A checkpoint (checkpoint_save_meta) holds the network's parameters under their names,
 * Adam's state, the style targets ("gram.L" (S, C, C) per style layer, "gram_norm"
 * (S, L)) and the config as metadata, so a run resumes without its style images. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/dist.h"
#include "atelier/featnet.h"
#include "atelier/ops.h"
#include "atelier/optim.h"
#include "atelier/rng.h"
#include "atelier/safetensors.h"
#include "atelier/stylize.h"
#include "stylenet_internal.h"

#define MAX_LAYERS 16

struct stylenet_trainer {
    stylenet_train_config c;
    featnet *fn;                              /* borrowed */
    arena *params, *state, *step;
    stylenet net;
    optim *opt;
    int64_t steps;
    int ns, nc;                               /* style and content layers */
    char lname[2 * MAX_LAYERS][64];           /* style layers, then content layers */
    const char *names[2 * MAX_LAYERS];
    float sw[MAX_LAYERS], cw[MAX_LAYERS];     /* normalised style weights; content weights */
    tensor *gram[MAX_LAYERS];                 /* (S, C, C) */
    tensor *gram_norm;                        /* (S, L): 1 / mean(G^2) */
    dist *dist;                               /* during a data-parallel step, else NULL */
    int first;                                /* ... and the first row of the batch that is ours */
};

stylenet_train_config stylenet_train_defaults(const featnet *loss_net) {
    stylenet_train_config c = {.nstyles = 1, .width = 0.5f, .image_size = 256, .style_size = 512, .batch = 4,
                               .lr = 1e-3f, .seed = 1, .val = 4};
    stylize_opts d = stylize_featnet_defaults(loss_net);
    c.content_weight = d.content_weight;
    c.style_weight = d.style_weight;
    c.tv_weight = d.tv_weight;
    snprintf(c.loss_net, sizeof c.loss_net, "%s", featnet_name(loss_net));
    snprintf(c.content_layers, sizeof c.content_layers, "%s", d.content_layers ? d.content_layers : "");
    snprintf(c.style_layers, sizeof c.style_layers, "%s", d.style_layers ? d.style_layers : "");
    return c;
}

static status check_config(const stylenet_train_config *c) {
    if (c->image_size < 32 || c->image_size > 2048 || c->image_size % 4)
        return error_set(STATUS_ARG, "--image-size %d: want a multiple of 4 in 32 .. 2048", c->image_size);
    if (c->style_size < 32 || c->style_size > 4096) return error_set(STATUS_ARG, "--style-size %d: want 32 .. 4096", c->style_size);
    if (c->batch < 1 || c->batch > 256) return error_set(STATUS_ARG, "--batch %d: want 1 .. 256", c->batch);
    if (!(c->lr > 0 && c->lr < 1)) return error_set(STATUS_ARG, "--lr %g: want (0, 1)", c->lr);
    if (!(c->content_weight >= 0 && c->style_weight >= 0 && c->tv_weight >= 0) || !isfinite(c->content_weight) ||
        !isfinite(c->style_weight) || !isfinite(c->tv_weight))
        return error_set(STATUS_ARG, "the loss weights must be finite and >= 0");
    if (!(c->temporal_weight >= 0 && isfinite(c->temporal_weight)))
        return error_set(STATUS_ARG, "--temporal-weight %g: want a finite weight >= 0", c->temporal_weight);
    return STATUS_OK;
}

static status prefix(const char *what) {
    char m[512];
    snprintf(m, sizeof m, "%s", error_message());
    status s = error_status();
    error_clear();
    return error_set(s, "%s: %s", what, m);
}

/* The layers, the network, Adam; the style targets' tensors (zero). */
static stylenet_trainer *trainer_alloc(const stylenet_train_config *c, featnet *fn) {
    if (check_config(c) != STATUS_OK) return NULL;
    stylenet_trainer *t = calloc(1, sizeof *t);
    if (!t) { error_set(STATUS_NOMEM, "stylenet: out of memory"); return NULL; }
    t->c = *c;
    t->fn = fn;
    t->params = arena_new(1 << 20);
    t->state = arena_new(1 << 20);
    t->step = arena_new(64 << 20);
    if (!t->params || !t->state || !t->step) goto fail;
    t->ns = stylize_net_layers(fn, c->style_layers, t->lname, t->sw, MAX_LAYERS);
    if (t->ns < 0) { prefix("--style-layers"); goto fail; }
    t->nc = stylize_net_layers(fn, c->content_layers, t->lname + t->ns, t->cw, MAX_LAYERS);
    if (t->nc < 0) { prefix("--content-layers"); goto fail; }
    double sum = 0;
    for (int l = 0; l < t->ns; l++) sum += t->sw[l];
    for (int l = 0; l < t->ns; l++) t->sw[l] = (float)(t->sw[l] / sum);
    for (int l = 0; l < t->ns + t->nc; l++) t->names[l] = t->lname[l];
    if (stylenet_init(&t->net, t->params, c->seed, c->nstyles, c->width) != STATUS_OK) goto fail;
    if (!(t->opt = optim_adam(t->state, t->net.params.tensors, t->net.params.n, adam_defaults(c->lr)))) goto fail;
    if (!(t->gram_norm = tensor_new(t->params, 2, (int[]){c->nstyles, t->ns}))) goto fail;
    return t;
fail:
    stylenet_trainer_free(t);
    return NULL;
}

/* The Gram matrices of style s from its image, resized to style_size on the long side. */
static status style_target(stylenet_trainer *t, const image *im, int s) {
    int w = im->w, h = im->h, side = t->c.style_size;
    double f = (double)side / (w > h ? w : h);
    w = (int)lround(w * f);
    h = (int)lround(h * f);
    if (w < 32 || h < 32) return error_set(STATUS_ARG, "style image %d would be %dx%d: at least 32x32 is needed", s + 1, w, h);
    image *r = image_resize(im, w, h);
    if (!r) return error_status();
    bool was = autograd_set(false);
    tensor *x = tensor_from(t->step, 4, (int[]){1, 3, h, w}, r->data), *f_[MAX_LAYERS];
    image_free(r);
    status st = x ? featnet_forward(t->fn, t->step, x, t->ns, t->names, f_) : error_status();
    for (int l = 0; st == STATUS_OK && l < t->ns; l++) {
        tensor *g = op_gram(t->step, f_[l]);   // (1, C, C)
        if (!g) { st = error_status(); break; }
        int c = g->shape[1];
        if (!t->gram[l] && !(t->gram[l] = tensor_new(t->params, 3, (int[]){t->c.nstyles, c, c}))) { st = error_status(); break; }
        memcpy(t->gram[l]->data + (int64_t)s * c * c, g->data, sizeof(float) * (size_t)c * c);
        double m = 0;
        for (int64_t i = 0; i < g->numel; i++) m += (double)g->data[i] * g->data[i];
        m /= (double)g->numel;
        t->gram_norm->data[s * t->ns + l] = m > 1e-24 ? (float)(1.0 / m) : 0.0f;
    }
    autograd_set(was);
    arena_reset(t->step);
    return st;
}

stylenet_trainer *stylenet_trainer_new(const stylenet_train_config *c, featnet *loss_net, const image *const *styles,
                                       const char *const *names) {
    stylenet_trainer *t = trainer_alloc(c, loss_net);
    if (!t) return NULL;
    for (int s = 0; s < c->nstyles; s++) {
        stylenet_name_clean(names ? names[s] : t->net.names[s], t->net.names[s]);
        for (int k = 0; k < s; k++)
            if (!strcmp(t->net.names[k], t->net.names[s])) {
                error_set(STATUS_ARG, "two styles are named '%s': give each its own name", t->net.names[s]);
                stylenet_trainer_free(t);
                return NULL;
            }
        if (style_target(t, styles[s], s) != STATUS_OK) { stylenet_trainer_free(t); return NULL; }
    }
    return t;
}

void stylenet_trainer_free(stylenet_trainer *t) {
    if (!t) return;
    optim_free(t->opt);
    arena_free(t->params);
    arena_free(t->state);
    arena_free(t->step);
    free(t);
}

int64_t stylenet_trainer_steps(const stylenet_trainer *t) { return t->steps; }
const stylenet_train_config *stylenet_trainer_config(const stylenet_trainer *t) { return &t->c; }
stylenet *stylenet_trainer_model(stylenet_trainer *t) { return &t->net; }

/* ---- the loss ---- */

/* Over the whole batch: in a data-parallel step the ranks' sums and counts are added, so a
 * rank's share is normalised as one process's whole batch is. */
static double mean_square(const stylenet_trainer *t, const tensor *x) {
    double acc[2] = {0, (double)x->numel};
    for (int64_t i = 0; i < x->numel; i++) acc[0] += (double)x->data[i] * x->data[i];
    if (t->dist && dist_allreduce_sum_f64(t->dist, acc, 2) != STATUS_OK) return NAN;
    return acc[1] > 0 ? acc[0] / acc[1] : 0;
}

/* The temporal term: x moved by (dy, dx) in 0..3 (a crop 4 px smaller) with noise, painted,
 * against the painting of x moved alike. The draws are a pure function of (seed, step) and
 * of each sample's row in the whole batch (first + i), so K processes draw as one. */
static tensor *temporal_term(stylenet_trainer *t, arena *a, tensor *x, tensor *y, tensor *mix) {
    int b = x->shape[0], h = x->shape[2] - 4, w = x->shape[3] - 4;
    rng r = rng_new(t->c.seed * 0x9E3779B97F4A7C15ull + 0x7E3A9u + (uint64_t)t->steps * 0xBF58476D1CE4E5B9ull);
    int dy = (int)(rng_u64(&r) % 4), dx = (int)(rng_u64(&r) % 4);
    uint64_t noise_key = rng_u64(&r);
    bool was = autograd_set(false);
    tensor *moved = op_slice(a, op_slice(a, x, 2, dy, dy + h), 3, dx, dx + w);   /* a copy: x is a constant */
    autograd_set(was);
    int64_t per = moved ? moved->numel / b : 0;
    float *noise = moved ? arena_alloc(a, sizeof(float) * (size_t)per) : NULL;
    if (!noise) return NULL;
    for (int i = 0; i < b; i++) {
        rng n = rng_new(noise_key ^ ((uint64_t)(t->first + i) * 0x94D049BB133111EBull));
        rng_normal(&n, noise, per, 0, 0.02f);
        float *p = moved->data + (int64_t)i * per;
        for (int64_t k = 0; k < per; k++) {
            float v = p[k] + noise[k];
            p[k] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
    }
    tensor *y2 = stylenet_forward(&t->net, a, moved, mix);
    tensor *y1 = op_slice(a, op_slice(a, y, 2, dy, dy + h), 3, dx, dx + w);
    return op_mse_loss(a, y2, y1);
}

/* The loss of photos x (B, 3, S, S) painted in styles style[i]; parts in out. */
static tensor *loss_of(stylenet_trainer *t, arena *a, tensor *x, const int *style, stylenet_train_stats *out) {
    int b = x->shape[0], S = t->c.nstyles;
    tensor *mix = tensor_new(a, 2, (int[]){b, S});
    if (!mix) return NULL;
    for (int i = 0; i < b; i++) mix->data[i * S + style[i]] = 1.0f;
    /* the content targets: the photos' features, constants */
    tensor *fc[MAX_LAYERS];
    bool was = autograd_set(false);
    status st = featnet_forward(t->fn, a, x, t->nc, t->names + t->ns, fc);
    autograd_set(was);
    if (st != STATUS_OK) return NULL;
    tensor *y = stylenet_forward(&t->net, a, x, mix), *f[2 * MAX_LAYERS];
    if (!y || featnet_forward(t->fn, a, y, t->ns + t->nc, t->names, f) != STATUS_OK) return NULL;
    tensor *content = tensor_scalar(a, 0.0f), *style_l = tensor_scalar(a, 0.0f);
    for (int l = 0; l < t->nc; l++) {
        double m = mean_square(t, fc[l]);
        content = op_add(a, content, op_mul_scalar(a, op_mse_loss(a, f[t->ns + l], fc[l]), (float)(t->cw[l] * (m > 1e-12 ? 1.0 / m : 0))));
    }
    for (int l = 0; l < t->ns; l++) {
        tensor *g = op_gram(a, f[l]);   // (B, C, C)
        if (!g) return NULL;
        int c = g->shape[1];
        tensor *target = tensor_new(a, 3, (int[]){b, c, c}), *wt = tensor_new(a, 3, (int[]){b, 1, 1});
        if (!target || !wt) return NULL;
        for (int i = 0; i < b; i++) {
            memcpy(target->data + (int64_t)i * c * c, t->gram[l]->data + (int64_t)style[i] * c * c, sizeof(float) * (size_t)c * c);
            /* each sample's mse against its style, normalised as stylize does, over the batch */
            wt->data[i] = t->sw[l] * t->gram_norm->data[style[i] * t->ns + l] / ((float)b * c * c);
        }
        tensor *d = op_sub(a, g, target);
        style_l = op_add(a, style_l, op_sum(a, op_mul(a, op_mul(a, d, d), wt), -1, false));
    }
    tensor *tv = op_tv_loss(a, y);
    tensor *total = op_add(a, op_add(a, op_mul_scalar(a, content, t->c.content_weight),
                                     op_mul_scalar(a, style_l, t->c.style_weight)),
                           op_mul_scalar(a, tv, t->c.tv_weight));
    tensor *temporal = NULL;
    if (total && t->c.temporal_weight > 0) {
        temporal = temporal_term(t, a, x, y, mix);
        total = op_add(a, total, op_mul_scalar(a, temporal, t->c.temporal_weight));
    }
    if (!total) return NULL;
    if (out) *out = (stylenet_train_stats){total->data[0], content->data[0], style_l->data[0], tv->data[0],
                                           temporal ? temporal->data[0] : 0};
    return total;
}

static status check_photos(const stylenet_trainer *t, const tensor *x) {
    char b[64];
    if (!x || x->ndim != 4 || x->shape[1] != 3 || x->shape[2] % 4 || x->shape[3] % 4 || x->shape[2] < 32 || x->shape[3] < 32)
        return error_set(STATUS_SHAPE, "stylenet training: photos %s: want (B, 3, H, W), H and W multiples of 4, >= 32",
                         x ? tensor_shape_str(x, b) : "missing");
    (void)t;
    return STATUS_OK;
}

status stylenet_trainer_step(stylenet_trainer *t, tensor *photos, stylenet_train_stats *out) {
    return stylenet_trainer_step_dist(t, photos, 0, photos ? photos->shape[0] : 0, NULL, out);
}

/* The ranks' gradients summed, each scaled by its share b / batch: every loss term is a mean
 * over the batch's samples, so the sum is the whole batch's gradient. One buffer, one
 * all-reduce (not one per tensor). */
static status reduce_grads(stylenet_trainer *t, int b, int batch) {
    const model_params *p = &t->net.params;
    int64_t n = 0;
    for (int k = 0; k < p->n; k++) n += p->tensors[k]->numel;
    float *buf = malloc(sizeof(float) * (size_t)n), scale = (float)b / (float)batch;
    if (!buf) return error_set(STATUS_NOMEM, "stylenet training: out of memory");
    int64_t at = 0;
    for (int k = 0; k < p->n; k++) {
        const tensor *w = p->tensors[k];
        for (int64_t i = 0; i < w->numel; i++) buf[at + i] = w->grad ? w->grad[i] * scale : 0.0f;
        at += w->numel;
    }
    status st = dist_allreduce_sum(t->dist, buf, n);
    at = 0;
    for (int k = 0; st == STATUS_OK && k < p->n; k++) {
        tensor *w = p->tensors[k];
        if (w->grad) memcpy(w->grad, buf + at, sizeof(float) * (size_t)w->numel);
        at += w->numel;
    }
    free(buf);
    return st;
}

/* The weights, the same bits on every rank (or a clear error): the all-reduce gives every
 * rank the same sum, so Adam's steps agree. */
static status check_weights(stylenet_trainer *t) {
    const model_params *p = &t->net.params;
    uint64_t h[2] = {0, 0};
    for (int k = 0; k < p->n; k++) {
        const tensor *w = p->tensors[k];
        for (int64_t i = 0; i < w->numel; i++) {
            uint32_t bits;
            memcpy(&bits, &w->data[i], sizeof bits);
            h[k & 1] = (h[k & 1] ^ bits) * 1099511628211ULL;
        }
    }
    return dist_check_same(t->dist, h, sizeof h);
}

status stylenet_trainer_step_dist(stylenet_trainer *t, tensor *photos, int first, int batch, dist *d, stylenet_train_stats *out) {
    if (check_photos(t, photos) != STATUS_OK) return error_status();
    int b = photos->shape[0], style[256];
    if (batch > 256 || first < 0 || first + b > batch)
        return error_set(STATUS_ARG, "stylenet training: rows %d..%d of a batch of %d (at most 256)", first, first + b - 1, batch);
    /* sample i of the whole batch of step t is painted in style (t B + i) mod S, whatever rank has it */
    for (int i = 0; i < b; i++)
        style[i] = (int)(((uint64_t)t->steps * (uint64_t)batch + (uint64_t)(first + i)) % (uint64_t)t->c.nstyles);
    t->dist = d && dist_size(d) > 1 ? d : NULL;
    t->first = t->dist ? first : 0;
    bool was = autograd_set(true);
    optim_zero_grad(t->opt);
    stylenet_train_stats local;
    tensor *loss = loss_of(t, t->step, photos, style, &local);
    status st = !loss ? error_status() : tensor_backward(loss);
    if (t->dist) {   /* every rank reduces, even after a failure of its own, or the others wait for ever */
        double parts[6] = {local.loss * b / batch, local.content * b / batch, local.style * b / batch, local.tv * b / batch,
                           local.temporal * b / batch, st == STATUS_OK ? 0 : 1};
        status rs = reduce_grads(t, b, batch);
        if (rs == STATUS_OK) rs = dist_allreduce_sum_f64(t->dist, parts, 6);
        if (st == STATUS_OK && rs != STATUS_OK) st = rs;
        if (st == STATUS_OK && parts[5] > 0) st = error_set(STATUS_ARG, "stylenet training: another rank failed at step %lld", (long long)t->steps);
        local = (stylenet_train_stats){parts[0], parts[1], parts[2], parts[3], parts[4]};
    }
    if (out) *out = local;
    if (st == STATUS_OK && !isfinite(local.loss))
        st = error_set(STATUS_ARG, "stylenet training: the loss is %g at step %lld (lower --lr)", local.loss, (long long)t->steps);
    if (st == STATUS_OK) st = optim_step(t->opt);
    if (st == STATUS_OK && t->dist) st = check_weights(t);
    if (st == STATUS_OK) t->steps++;
    t->dist = NULL;
    autograd_set(was);
    arena_reset(t->step);
    return st;
}

status stylenet_trainer_set_temporal(stylenet_trainer *t, float weight) {
    stylenet_train_config c = t->c;
    c.temporal_weight = weight;
    if (check_config(&c) != STATUS_OK) return error_status();
    t->c = c;
    return STATUS_OK;
}

status stylenet_trainer_eval(stylenet_trainer *t, tensor *photos, int style, stylenet_train_stats *out) {
    if (check_photos(t, photos) != STATUS_OK) return error_status();
    if (style < 0 || style >= t->c.nstyles) return error_set(STATUS_ARG, "style %d: want 0 .. %d", style, t->c.nstyles - 1);
    int b = photos->shape[0], styles[256];
    if (b > 256) return error_set(STATUS_ARG, "stylenet eval: batch %d (at most 256)", b);
    for (int i = 0; i < b; i++) styles[i] = style;
    bool was = autograd_set(false);
    tensor *loss = loss_of(t, t->step, photos, styles, out);
    autograd_set(was);
    arena_reset(t->step);
    return loss ? STATUS_OK : error_status();
}

/* ---- checkpoints ---- */

typedef struct meta {
    const char *kv[2 * 32];
    char buf[32][STYLENET_MAX_STYLES * STYLENET_NAME_MAX];
    int n;
} meta;

static void meta_put(meta *m, const char *k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void meta_put(meta *m, const char *k, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->buf[m->n], sizeof m->buf[0], fmt, ap);
    va_end(ap);
    m->kv[2 * m->n] = k;
    m->kv[2 * m->n + 1] = m->buf[m->n];
    m->n++;
}

static void meta_config(meta *m, const stylenet_trainer *t) {
    const stylenet_train_config *c = &t->c;
    meta_put(m, "nstyles", "%d", c->nstyles);
    meta_put(m, "width", "%.9g", c->width);
    meta_put(m, "image_size", "%d", c->image_size);
    meta_put(m, "style_size", "%d", c->style_size);
    meta_put(m, "batch", "%d", c->batch);
    meta_put(m, "lr", "%.9g", c->lr);
    meta_put(m, "content_weight", "%.9g", c->content_weight);
    meta_put(m, "style_weight", "%.9g", c->style_weight);
    meta_put(m, "tv_weight", "%.9g", c->tv_weight);
    meta_put(m, "loss_net", "%s", c->loss_net);
    meta_put(m, "content_layers", "%s", c->content_layers);
    meta_put(m, "style_layers", "%s", c->style_layers);
    meta_put(m, "seed", "%llu", (unsigned long long)c->seed);
    meta_put(m, "load_size", "%d", c->load_size);
    meta_put(m, "val", "%d", c->val);
    meta_put(m, "max_images", "%d", c->max_images);
    meta_put(m, "no_flip", "%d", c->no_flip ? 1 : 0);
    meta_put(m, "temporal_weight", "%.9g", c->temporal_weight);
    char names[STYLENET_MAX_STYLES * STYLENET_NAME_MAX];
    stylenet_names_join(&t->net, names, sizeof names);
    meta_put(m, "styles", "%s", names);
}

/* The tensors beside the parameters: the style targets. */
static int extra_tensors(stylenet_trainer *t, const char **names, tensor **ts, char (*buf)[32]) {
    int n = 0;
    for (int l = 0; l < t->ns; l++) {
        snprintf(buf[l], 32, "gram.%d", l);
        names[n] = buf[l];
        ts[n++] = t->gram[l];
    }
    names[n] = "gram_norm";
    ts[n++] = t->gram_norm;
    return n;
}

status stylenet_trainer_save(stylenet_trainer *t, const char *path) {
    meta *m = calloc(1, sizeof *m);
    int np = t->net.params.n;
    const char **names = calloc((size_t)np + MAX_LAYERS + 1, sizeof *names);
    tensor **ts = calloc((size_t)np + MAX_LAYERS + 1, sizeof *ts);
    char buf[MAX_LAYERS][32];
    status s;
    if (!m || !names || !ts) s = error_set(STATUS_NOMEM, "stylenet: out of memory saving");
    else {
        meta_put(m, "kind", "%s", STYLENET_TRAIN_FORMAT);
        meta_config(m, t);
        for (int i = 0; i < np; i++) { names[i] = t->net.params.names[i]; ts[i] = t->net.params.tensors[i]; }
        int n = np + extra_tensors(t, names + np, ts + np, buf);
        s = checkpoint_save_meta(path, names, ts, n, t->opt, t->steps, m->kv, m->n);
    }
    free(m);
    free(names);
    free(ts);
    return s;
}

status stylenet_trainer_export(stylenet_trainer *t, const char *path) {
    meta *m = calloc(1, sizeof *m);
    if (!m) return error_set(STATUS_NOMEM, "stylenet: out of memory saving");
    meta_put(m, "steps", "%lld", (long long)t->steps);
    meta_put(m, "image_size", "%d", t->c.image_size);
    meta_put(m, "style_size", "%d", t->c.style_size);
    meta_put(m, "loss_net", "%s", t->c.loss_net);
    meta_put(m, "content_layers", "%s", t->c.content_layers);
    meta_put(m, "style_layers", "%s", t->c.style_layers);
    meta_put(m, "weights", "%.9g,%.9g,%.9g", t->c.content_weight, t->c.style_weight, t->c.tv_weight);
    status s = stylenet_save(&t->net, path, m->kv, m->n);
    free(m);
    return s;
}

stylenet_trainer *stylenet_trainer_load(const char *path, featnet *loss_net) {
    safetensors *f = safetensors_open(path);
    if (!f) return NULL;
    stylenet_train_config c = {0};
    const char *kind = safetensors_metadata(f, "kind"), *seed = safetensors_metadata(f, "seed");
    char names[STYLENET_MAX_STYLES * STYLENET_NAME_MAX];
    int noflip = 0;
    bool ok = kind && !strcmp(kind, STYLENET_TRAIN_FORMAT);
    if (!ok) {
        safetensors_close(f);
        error_set(STATUS_FORMAT, "%s: not a style network training checkpoint", path);
        return NULL;
    }
    ok = safetensors_metadata_int(f, "nstyles", 1, STYLENET_MAX_STYLES, &c.nstyles) && safetensors_metadata_float(f, "width", &c.width) &&
         safetensors_metadata_int(f, "image_size", 1, 1 << 20, &c.image_size) && safetensors_metadata_int(f, "style_size", 1, 1 << 20, &c.style_size) &&
         safetensors_metadata_int(f, "batch", 1, 1 << 20, &c.batch) && safetensors_metadata_float(f, "lr", &c.lr) &&
         safetensors_metadata_float(f, "content_weight", &c.content_weight) && safetensors_metadata_float(f, "style_weight", &c.style_weight) &&
         safetensors_metadata_float(f, "tv_weight", &c.tv_weight) && safetensors_metadata_str(f, "loss_net", c.loss_net, sizeof c.loss_net) &&
         safetensors_metadata_str(f, "content_layers", c.content_layers, sizeof c.content_layers) &&
         safetensors_metadata_str(f, "style_layers", c.style_layers, sizeof c.style_layers) && seed &&
         safetensors_metadata_str(f, "styles", names, sizeof names) && safetensors_metadata_int(f, "load_size", 0, 1 << 20, &c.load_size) &&
         safetensors_metadata_int(f, "val", 0, 1 << 20, &c.val) && safetensors_metadata_int(f, "max_images", 0, 1 << 30, &c.max_images) &&
         safetensors_metadata_int(f, "no_flip", 0, 1, &noflip);
    if (ok) c.seed = strtoull(seed, NULL, 10);
    c.no_flip = noflip != 0;
    if (!safetensors_metadata(f, "temporal_weight")) c.temporal_weight = 0;   /* older checkpoints: off */
    else if (!safetensors_metadata_float(f, "temporal_weight", &c.temporal_weight)) ok = false;
    safetensors_close(f);
    if (!ok) { error_set(STATUS_FORMAT, "%s: the checkpoint's settings are incomplete", path); return NULL; }
    if (strcmp(c.loss_net, featnet_name(loss_net)) != 0) {
        error_set(STATUS_ARG, "%s was trained against %s, not %s", path, c.loss_net, featnet_name(loss_net));
        return NULL;
    }
    stylenet_trainer *t = trainer_alloc(&c, loss_net);
    if (!t) return NULL;
    if (!stylenet_names_split(&t->net, names)) {
        error_set(STATUS_FORMAT, "%s: the style names do not match the %d styles", path, c.nstyles);
        stylenet_trainer_free(t);
        return NULL;
    }
    /* the Gram tensors' shapes come from the loss network: one probe image */
    bool was = autograd_set(false);
    tensor *probe = tensor_fill(tensor_new(t->step, 4, (int[]){1, 3, 64, 64}), 0.5f), *fs[MAX_LAYERS];
    status st = probe ? featnet_forward(t->fn, t->step, probe, t->ns, t->names, fs) : error_status();
    for (int l = 0; st == STATUS_OK && l < t->ns; l++) {
        int ch = fs[l]->shape[1];
        if (!(t->gram[l] = tensor_new(t->params, 3, (int[]){c.nstyles, ch, ch}))) st = error_status();
    }
    autograd_set(was);
    arena_reset(t->step);
    int np = t->net.params.n;
    const char **tn = calloc((size_t)np + MAX_LAYERS + 1, sizeof *tn);
    tensor **ts = calloc((size_t)np + MAX_LAYERS + 1, sizeof *ts);
    char buf[MAX_LAYERS][32];
    if (st == STATUS_OK && (!tn || !ts)) st = error_set(STATUS_NOMEM, "stylenet: out of memory loading");
    if (st == STATUS_OK) {
        for (int i = 0; i < np; i++) { tn[i] = t->net.params.names[i]; ts[i] = t->net.params.tensors[i]; }
        int n = np + extra_tensors(t, tn + np, ts + np, buf);
        st = checkpoint_load(path, tn, ts, n, t->opt, &t->steps);
    }
    free(tn);
    free(ts);
    if (st != STATUS_OK) { stylenet_trainer_free(t); return NULL; }
    return t;
}
