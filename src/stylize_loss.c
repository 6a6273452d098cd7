/* stylize_loss.c: the targets of style transfer (content features, blended Gram matrices),
 * the loss L = a L_content + b L_style + c L_tv (stylize.h) and the optimisation loop. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/ops.h"
#include "atelier/optim.h"
#include "stylize_internal.h"

/* The network's input: x (1, 1 or 3, H, W) in [0, 1] -> (1, 3, H, W) in [0, 1]; the
 * feature network normalises it its own way (featnet.h). */
static tensor *net_input(arena *a, tensor *x) {
    if (x && x->shape[1] == 1) x = op_concat(a, (tensor *[]){x, x, x}, 3, 1);
    return x;
}

static status features(stylize_state *s, arena *a, tensor *x, int n, const char *const *names, tensor **f) {
    x = net_input(a, x);
    return x ? featnet_forward(s->net->fn, a, x, n, names, f) : error_status();
}

static double mean_square(const tensor *t) {
    double acc = 0;
    for (int64_t i = 0; i < t->numel; i++) acc += (double)t->data[i] * t->data[i];
    return t->numel ? acc / (double)t->numel : 0;
}

status stylize_content_targets(stylize_state *s, const planes *content) {
    bool was = autograd_set(false);
    tensor *f[STYLIZE_MAX_LAYERS];
    tensor *x = planes_tensor(s->step, content);
    status st = x ? features(s, s->step, x, s->nc, s->names + s->ns, f) : error_status();
    for (int l = 0; st == STATUS_OK && l < s->nc; l++) {
        if (!(s->content_f[l] = tensor_copy(s->keep, f[l]))) st = error_status();
        else {
            double m = mean_square(f[l]);
            s->content_norm[l] = m > 1e-12 ? 1.0 / m : 0.0;  /* a dead layer adds nothing */
        }
    }
    autograd_set(was);
    arena_reset(s->step);
    return st;
}

/* The Gram matrices of one image at the style layers, accumulated block by block for large
 * images: each block is run with a margin of context, and only the features of its interior
 * count, so the sum over blocks is the whole image's F F^T (up to the margin's reach). */
#define GRAM_BLOCK 512
#define GRAM_MARGIN 48
#define GRAM_WHOLE ((int64_t)1024 * 1024)

static status gram_block(stylize_state *s, const planes *im, int y0, int y1, int x0, int x1, double **acc,
                         int64_t *count, int *chans) {
    bool whole = (int64_t)im->h * im->w <= GRAM_WHOLE;
    int py0 = whole ? 0 : (y0 - GRAM_MARGIN < 0 ? 0 : y0 - GRAM_MARGIN);
    int px0 = whole ? 0 : (x0 - GRAM_MARGIN < 0 ? 0 : x0 - GRAM_MARGIN);
    int py1 = whole ? im->h : (y1 + GRAM_MARGIN > im->h ? im->h : y1 + GRAM_MARGIN);
    int px1 = whole ? im->w : (x1 + GRAM_MARGIN > im->w ? im->w : x1 + GRAM_MARGIN);
    planes *crop = planes_crop(im, py0, px0, py1 - py0, px1 - px0);
    tensor *f[STYLIZE_MAX_LAYERS], *x = crop ? planes_tensor(s->step, crop) : NULL;
    planes_free(crop);
    status st = x ? features(s, s->step, x, s->ns, s->names, f) : error_status();
    for (int l = 0; st == STATUS_OK && l < s->ns; l++) {
        /* the block's interior in feature positions: the layer's scale is its size's ratio to
         * the crop's (VGG: 2^pools, exactly, on crops that are multiples of 16) */
        int fh = f[l]->shape[2], fw = f[l]->shape[3], ch = py1 - py0, cw = px1 - px0;
        int a0 = (int)((int64_t)(y0 - py0) * fh / ch), a1 = y1 == py1 ? fh : (int)((int64_t)(y1 - py0) * fh / ch);
        int b0 = (int)((int64_t)(x0 - px0) * fw / cw), b1 = x1 == px1 ? fw : (int)((int64_t)(x1 - px0) * fw / cw);
        int c = f[l]->shape[1];
        if (!acc[l]) {   /* the first block tells the layer's channels */
            if (!(acc[l] = calloc((size_t)c * c, sizeof(double)))) { st = error_set(STATUS_NOMEM, "stylize: out of memory for Gram matrices"); break; }
            chans[l] = c;
        }
        if (a1 <= a0 || b1 <= b0) continue;
        tensor *in = op_slice(s->step, op_slice(s->step, f[l], 2, a0, a1), 3, b0, b1);
        tensor *gm = op_gram(s->step, in);
        if (!gm) { st = error_status(); break; }
        double n = (double)(a1 - a0) * (b1 - b0);
        for (int64_t i = 0; i < gm->numel; i++) acc[l][i] += gm->data[i] * n;
        count[l] += (int64_t)n;
    }
    arena_reset(s->step);
    return st;
}

/* acc[l] (C_l, C_l): allocated by the first block (chans[l] = C_l), then summed into. */
static status image_grams(stylize_state *s, const planes *im, double **acc, int *chans) {
    int64_t count[STYLIZE_MAX_LAYERS] = {0};
    status st = STATUS_OK;
    bool whole = (int64_t)im->h * im->w <= GRAM_WHOLE;
    int step = whole ? (im->h > im->w ? im->h : im->w) : GRAM_BLOCK;
    for (int y = 0; st == STATUS_OK && y < im->h; y += step)
        for (int x = 0; st == STATUS_OK && x < im->w; x += step)
            st = gram_block(s, im, y, y + step > im->h ? im->h : y + step, x, x + step > im->w ? im->w : x + step,
                            acc, count, chans);
    for (int l = 0; st == STATUS_OK && l < s->ns; l++) {
        if (!count[l]) return error_set(STATUS_ARG, "stylize: a style image of %dx%d is too small for layer %s",
                                        im->w, im->h, s->names[l]);
        int64_t c = chans[l];
        for (int64_t i = 0; i < c * c; i++) acc[l][i] /= (double)count[l];
    }
    return st;
}

status stylize_style_targets(stylize_state *s, planes **styles, const float *blend, int n) {
    double *acc[STYLIZE_MAX_LAYERS] = {0}, *one[STYLIZE_MAX_LAYERS] = {0};
    int chans[STYLIZE_MAX_LAYERS] = {0};
    status st = STATUS_OK;
    bool was = autograd_set(false);
    for (int k = 0; st == STATUS_OK && k < n; k++) {
        for (int l = 0; l < s->ns; l++)
            if (one[l]) memset(one[l], 0, (size_t)chans[l] * chans[l] * sizeof(double));
        st = image_grams(s, styles[k], one, chans);
        for (int l = 0; st == STATUS_OK && l < s->ns; l++) {
            int64_t c = chans[l];
            if (!acc[l] && !(acc[l] = calloc((size_t)(c * c), sizeof(double)))) {
                st = error_set(STATUS_NOMEM, "stylize: out of memory for Gram matrices");
                break;
            }
            for (int64_t i = 0; i < c * c; i++) acc[l][i] += blend[k] * one[l][i];
        }
    }
    for (int l = 0; st == STATUS_OK && l < s->ns; l++) {
        int c = chans[l];
        tensor *g = tensor_new(s->grams, 3, (int[]){1, c, c});
        if (!g) { st = error_status(); break; }
        for (int64_t i = 0; i < g->numel; i++) g->data[i] = (float)acc[l][i];
        double m = mean_square(g);
        s->gram[l] = g;
        s->gram_norm[l] = m > 1e-24 ? 1.0 / m : 0.0;
    }
    for (int l = 0; l < s->ns; l++) { free(acc[l]); free(one[l]); }
    autograd_set(was);
    return st;
}

/* The loss at s->x in arena a; parts (unweighted content, style, tv, temporal) in s->last[1..4]. */
static tensor *loss_at(stylize_state *s, arena *a) {
    const stylize_opts *o = s->o;
    tensor *f[2 * STYLIZE_MAX_LAYERS];
    if (features(s, a, s->x, s->ns + s->nc, s->names, f) != STATUS_OK) return NULL;
    tensor *content = tensor_scalar(a, 0.0f), *style = tensor_scalar(a, 0.0f);
    for (int l = 0; l < s->nc; l++)
        content = op_add(a, content, op_mul_scalar(a, op_mse_loss(a, f[s->ns + l], s->content_f[l]),
                                                   (float)(s->cw[l] * s->content_norm[l])));
    for (int l = 0; l < s->ns; l++)
        style = op_add(a, style, op_mul_scalar(a, op_mse_loss(a, op_gram(a, f[l]), s->gram[l]),
                                               (float)(s->sw[l] * s->gram_norm[l])));
    tensor *tv = op_tv_loss(a, s->x);
    tensor *total = op_add(a, op_add(a, op_mul_scalar(a, content, o->content_weight),
                                     op_mul_scalar(a, style, o->style_weight)),
                           op_mul_scalar(a, tv, o->tv_weight));
    tensor *temporal = NULL;
    if (s->prior) {   /* only when the temporal term is on: the default's graph is unchanged */
        temporal = stylize_temporal_loss(a, s->x, s->prior, s->prior_mask);
        total = op_add(a, total, op_mul_scalar(a, temporal, o->temporal_weight));
    }
    if (!total) return NULL;
    s->last[0] = total->data[0];
    s->last[1] = content->data[0];
    s->last[2] = style->data[0];
    s->last[3] = tv->data[0];
    s->last[4] = temporal ? temporal->data[0] : 0.0;
    return total;
}

tensor *stylize_temporal_loss(arena *a, tensor *x, tensor *prior, tensor *mask) {
    return op_mean(a, op_mul(a, op_square(a, op_sub(a, x, prior)), mask), -1, false);
}

/* The loss is reported as at the start of each iteration (as torch's LBFGS.step returns it):
 * the line search evaluates other points after it. */
typedef struct closure_ctx { stylize_state *s; status st; bool first; double start[5]; } closure_ctx;

static float closure(void *user) {
    closure_ctx *c = user;
    arena_reset(c->s->step);
    tensor_zero_grad(c->s->x);
    tensor *loss = loss_at(c->s, c->s->step);
    if (!loss || tensor_backward(loss) != STATUS_OK) {
        if (c->st == STATUS_OK) c->st = error_status() != STATUS_OK ? error_status() : STATUS_ARG;
        return INFINITY;
    }
    if (c->first) {
        memcpy(c->start, c->s->last, sizeof c->start);
        c->first = false;
    }
    return loss->data[0];
}

double stylize_eval(stylize_state *s) {
    bool was = autograd_set(false);
    arena_reset(s->step);
    tensor *loss = loss_at(s, s->step);
    autograd_set(was);
    arena_reset(s->step);
    return loss ? s->last[0] : NAN;
}

static optim *optimiser_new(stylize_state *s, arena *state) {
    const stylize_opts *o = s->o;
    if (o->optimizer == STYLIZE_ADAM) return optim_adam(state, &s->x, 1, adam_defaults(o->lr));
    lbfgs_opts lo = lbfgs_defaults();
    lo.lr = o->lr;
    lo.max_iter = 1;        /* one iteration per call: progress and early stop between them */
    lo.history_size = 100;
    lo.strong_wolfe = true; /* the style term is stiff: a fixed step can overshoot */
    return optim_lbfgs(state, &s->x, 1, lo);
}

status stylize_optimise(stylize_state *s, int iterations) {
    arena *state = arena_new(1 << 20);
    optim *opt = state ? optimiser_new(s, state) : NULL;
    closure_ctx c = {s, STATUS_OK, false, {0}};
    for (int it = 0; opt && it < iterations && !s->stopped; it++) {
        c.first = true;
        if (s->o->optimizer == STYLIZE_ADAM) {
            closure(&c);
            if (c.st == STATUS_OK && optim_step(opt) != STATUS_OK) c.st = error_status();
        } else {
            optim_lbfgs_step(opt, closure, &c);
        }
        if (c.st != STATUS_OK) break;
        memcpy(s->last, c.start, sizeof c.start);
        if (!isfinite(s->last[0])) { c.st = error_set(STATUS_ARG, "stylize: the loss became %g (try a smaller --lr)", s->last[0]); break; }
        if (!s->done && !s->level && !s->tile) s->first_loss = s->last[0];
        s->done++;
        stylize_report(s);
    }
    status st = !opt ? error_status() : c.st;
    optim_free(opt);
    arena_free(state);
    arena_reset(s->step);
    for (int64_t i = 0; st == STATUS_OK && i < s->x->numel; i++)   /* back into the pixel range */
        s->x->data[i] = s->x->data[i] < 0 ? 0.0f : s->x->data[i] > 1 ? 1.0f : s->x->data[i];
    return st;
}
