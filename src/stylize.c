/* stylize.c: the style-transfer run (stylize.h): the network, options, sizes, colour
 * handling, multiresolution and the output. The loss and optimiser are in stylize_loss.c,
 * the tiles in stylize_tile.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "atelier/ops.h"
#include "atelier/rng.h"
#include "atelier/safetensors.h"
#include "atelier/models.h"
#include "atelier/weights.h"
#include "stylize_internal.h"

/* ---- planes: the pixels the network sees ---- */

planes *planes_new(int c, int h, int w) {
    planes *p = calloc(1, sizeof *p);
    if (p) p->data = calloc((size_t)c * h * w, sizeof(float));
    if (!p || !p->data) {
        free(p);
        error_set(STATUS_NOMEM, "stylize: out of memory for a %dx%d image", w, h);
        return NULL;
    }
    p->c = c; p->h = h; p->w = w;
    return p;
}

void planes_free(planes *p) {
    if (p) free(p->data);
    free(p);
}

planes *planes_crop(const planes *p, int y, int x, int h, int w) {
    planes *r = planes_new(p->c, h, w);
    for (int c = 0; r && c < p->c; c++)
        for (int i = 0; i < h; i++)
            memcpy(r->data + ((int64_t)c * h + i) * w, p->data + ((int64_t)c * p->h + y + i) * p->w + x,
                   (size_t)w * sizeof(float));
    return r;
}

tensor *planes_tensor(arena *a, const planes *p) {
    return tensor_from(a, 4, (int[]){1, p->c, p->h, p->w}, p->data);
}

static planes *planes_of_tensor(const tensor *t) {
    planes *p = planes_new(t->shape[1], t->shape[2], t->shape[3]);
    if (p) memcpy(p->data, t->data, (size_t)t->numel * sizeof(float));
    return p;
}

/* RGB planes of an image resized to w x h (alpha dropped). */
static planes *rgb_planes(const image *im, int w, int h) {
    image *r = im->w == w && im->h == h ? (image *)im : image_resize(im, w, h);
    planes *p = r ? planes_new(3, h, w) : NULL;
    if (p) memcpy(p->data, r->data, (size_t)3 * w * h * sizeof(float));
    if (r != im) image_free(r);
    return p;
}

/* The planes the network sees: RGB, or luminance. */
static planes *net_planes(const planes *rgb, bool luma) {
    if (!luma) return planes_crop(rgb, 0, 0, rgb->h, rgb->w);
    planes *y = planes_new(1, rgb->h, rgb->w);
    if (y) color_luma(rgb->data, (int64_t)rgb->h * rgb->w, y->data);
    return y;
}

/* Bilinear resize of planes (any channel count) through the upsample op. */
static planes *planes_resize(const planes *p, int h, int w) {
    arena *a = arena_new((size_t)p->c * (h * w + p->h * p->w) * sizeof(float) + 4096);
    bool was = autograd_set(false);
    tensor *t = a ? op_upsample_to(a, planes_tensor(a, p), UPSAMPLE_BILINEAR, h, w, false) : NULL;
    planes *r = t ? planes_of_tensor(t) : NULL;
    autograd_set(was);
    arena_free(a);
    return r;
}

/* ---- the network ---- */

/* The built-in network is torchvision's VGG-19 initialisation (kaiming normal, fan_out,
 * zero biases) from a fixed seed (featnet.c), unchanged: what makes it paint is how it is
 * used (see stylize_defaults and the README's "The built-in network"). */

/* The recipes of the trained networks (the README's screen gives the evidence): the layers
 * and the weights. */
typedef struct net_recipe {
    const char *net;              /* its input (range, padding): featnet.c */
    const char *content_layers, *style_layers;
    float content_weight, style_weight, tv_weight;
    stylize_color color;
    int multires, iterations;
} net_recipe;

static const net_recipe g_recipes[] = {
    {"inception_v3", "mixed1", "activation_1,activation_3,activation_5,mixed0,mixed2",
     1.0f, 100.0f, 10.0f, STYLIZE_COLOR_RGB, 1, 300},
    {"mobilenet_v2", "block_6_expand_relu", "Conv1_relu,block_1_expand_relu,block_3_expand_relu,block_6_expand_relu",
     1.0f, 100.0f, 10.0f, STYLIZE_COLOR_RGB, 1, 300},
};

static const net_recipe *recipe_of(const featnet *fn) {
    for (size_t i = 0; i < sizeof g_recipes / sizeof g_recipes[0]; i++)
        if (featnet_get_kind(fn) == FEATNET_TFJS && !strcmp(featnet_name(fn), g_recipes[i].net)) return &g_recipes[i];
    return NULL;
}

static stylize_net *wrap(featnet *fn) {
    stylize_net *n = fn ? calloc(1, sizeof *n) : NULL;
    if (fn && !n) { featnet_free(fn); error_set(STATUS_NOMEM, "stylize: out of memory"); return NULL; }
    if (n) n->fn = fn;
    return n;
}

stylize_net *stylize_net_new(const char *weights, vgg_pool pool, const char *last) {
    return wrap(featnet_vgg19(weights, pool, last));
}

stylize_net *stylize_net_open(const char *net, const char *dir, const char *weights, vgg_pool pool) {
    if (!net || !strcmp(net, "vgg19") || !strcmp(net, "vgg")) return stylize_net_new(weights, pool, NULL);
    return wrap(featnet_open(net, dir, weights));
}

status stylize_net_save(const stylize_net *net, const char *path) {
    const vgg19 *v = featnet_vgg(net->fn);
    if (!v) return error_set(STATUS_ARG, "--export-net: only VGG-19 networks can be exported (%s is a TF.js model already)", featnet_name(net->fn));
    const char *meta[] = {"network", featnet_builtin(net->fn) ? "atelier built-in VGG-19" : "VGG-19 from a weights file"};
    return safetensors_save(path, v->params.names, v->params.tensors, v->params.n, meta, 1);
}

void stylize_net_free(stylize_net *net) {
    if (!net) return;
    featnet_free(net->fn);
    free(net);
}

bool stylize_net_builtin(const stylize_net *net) { return featnet_builtin(net->fn); }
const vgg19 *stylize_net_vgg(const stylize_net *net) { return featnet_vgg(net->fn); }
featnet *stylize_net_featnet(stylize_net *net) { return net->fn; }

/* ---- options ---- */

stylize_opts stylize_defaults(bool builtin) {
    stylize_opts o = {
        .size = 512, .style_scale = 1.0f,
        .content_weight = 1.0f, .style_weight = 10.0f, .tv_weight = 1.0f,
        .content_layers = "relu4_2", .style_layers = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
        .iterations = 300, .optimizer = STYLIZE_LBFGS, .lr = 1.0f,
        .init = STYLIZE_INIT_CONTENT, .seed = 0, .color = STYLIZE_COLOR_RGB, .multires = 1,
    };
    if (builtin) {
        /* Random features are not perceptual: in RGB they repaint the picture with colour
         * speckle. Seen through luminance only, after the photo takes the style's palette,
         * and with a strong style term (shallow layers weighted up), they give the painting's
         * brush texture; relu3_2 beside relu4_2 keeps the photo's structure, a little tv
         * keeps luminance speckle down, and the coarse level of multires lays strokes at the
         * painting's scale. (The README's "The built-in network" gives the evidence.) */
        o.color = STYLIZE_COLOR_PALETTE;
        o.content_layers = "relu3_2,relu4_2";
        o.style_layers = "relu1_1,relu2_1,relu3_1,relu4_1:0.5,relu5_1:0.25";
        o.style_weight = 300.0f;
        o.tv_weight = 10.0f;
        o.multires = 2;
        o.iterations = 200;
    }
    return o;
}

static stylize_opts recipe_defaults(const net_recipe *r) {
    stylize_opts o = stylize_defaults(false);
    o.content_layers = r->content_layers;
    o.style_layers = r->style_layers;
    o.content_weight = r->content_weight;
    o.style_weight = r->style_weight;
    o.tv_weight = r->tv_weight;
    o.color = r->color;
    o.multires = r->multires;
    o.iterations = r->iterations;
    return o;
}

stylize_opts stylize_trained_defaults(void) { return recipe_defaults(&g_recipes[0]); }

stylize_opts stylize_featnet_defaults(const featnet *fn) {
    if (featnet_get_kind(fn) == FEATNET_VGG19) return stylize_defaults(featnet_builtin(fn));
    const net_recipe *r = recipe_of(fn);
    /* a user's network: the plain algorithm; its layers must be given */
    return r ? recipe_defaults(r) : stylize_defaults(false);
}

stylize_opts stylize_net_defaults(const stylize_net *net) { return stylize_featnet_defaults(net->fn); }

const char *stylize_default_net(const char *dir) {
    char path[4096];
    return featnet_find(g_recipes[0].net, dir, path, sizeof path) ? g_recipes[0].net : "vgg19";
}

vgg_pool stylize_default_pool(bool builtin) { (void)builtin; return VGG_POOL_MAX; }

/* The next "name[:weight]" of a comma list at *p into item (64 bytes) and *w (1 when not
 * given); advances *p. 1: an item, 0: the end, -1: a malformed list (error set). */
static int next_layer(const char *list, const char **p, char item[64], float *w) {
    if (!**p) return 0;
    size_t len = strcspn(*p, ",");
    if (len == 0 || len >= 64) { error_set(STATUS_ARG, "bad layer list '%s'", list); return -1; }
    memcpy(item, *p, len);
    item[len] = 0;
    *p += len;
    if (**p == ',' && !*++*p) { error_set(STATUS_ARG, "bad layer list '%s'", list); return -1; }
    *w = 1.0f;
    char *colon = strchr(item, ':');
    if (colon) {
        char *e;
        *colon = 0;
        *w = strtof(colon + 1, &e);
        if (*e || !(*w > 0) || !isfinite(*w)) { error_set(STATUS_ARG, "bad layer weight in '%s' (want a positive number: relu3_1:0.5)", list); return -1; }
    }
    return 1;
}

int stylize_parse_layers(const char *list, int *index, float *weight, int max) {
    if (!list || !*list) { error_set(STATUS_ARG, "empty layer list"); return -1; }
    int n = 0, r;
    char item[64];
    float w;
    for (const char *p = list; (r = next_layer(list, &p, item, &w)) != 0;) {
        if (r < 0) return -1;
        int idx = vgg19_layer_index(item);
        if (idx < 0) { error_set(STATUS_ARG, "unknown layer '%s' (relu1_1 .. relu5_4)", item); return -1; }
        for (int k = 0; k < n; k++)
            if (index[k] == idx) { error_set(STATUS_ARG, "layer %s listed twice", item); return -1; }
        if (n == max) { error_set(STATUS_ARG, "more than %d layers in '%s'", max, list); return -1; }
        index[n] = idx;
        weight[n++] = w;
    }
    return n;
}

static status check_opts(const stylize_opts *o, int nstyles) {
    if (o->size < STYLIZE_MIN_SIDE || o->size > 65536) return error_set(STATUS_ARG, "--size %d: want 16 .. 65536", o->size);
    if (o->style_size && (o->style_size < STYLIZE_MIN_SIDE || o->style_size > 65536))
        return error_set(STATUS_ARG, "--style-size %d: want 16 .. 65536", o->style_size);
    if (!(o->style_scale > 0 && o->style_scale <= 16)) return error_set(STATUS_ARG, "--style-scale %g: want (0, 16]", o->style_scale);
    if (!(o->content_weight >= 0) || !(o->style_weight >= 0) || !(o->tv_weight >= 0) || !isfinite(o->content_weight) ||
        !isfinite(o->style_weight) || !isfinite(o->tv_weight))
        return error_set(STATUS_ARG, "the loss weights must be finite and >= 0");
    if (o->iterations < 0 || o->iterations > 1000000) return error_set(STATUS_ARG, "--iterations %d: want 0 .. 1000000", o->iterations);
    if (!(o->lr > 0) || !isfinite(o->lr)) return error_set(STATUS_ARG, "--lr %g: want > 0", o->lr);
    if (o->multires < 1 || o->multires > 6) return error_set(STATUS_ARG, "--multires %d: want 1 .. 6", o->multires);
    if (o->tile && (o->tile < 64 || o->tile > 8192)) return error_set(STATUS_ARG, "--tile %d: want 0 (off) or 64 .. 8192", o->tile);
    if (o->tile_iterations < 0) return error_set(STATUS_ARG, "tile iterations %d: want >= 0", o->tile_iterations);
    if (nstyles < 1 || nstyles > 16) return error_set(STATUS_ARG, "%d style images: want 1 .. 16", nstyles);
    if (o->init == STYLIZE_INIT_IMAGE && !o->init_image) return error_set(STATUS_ARG, "--init FILE: no image given");
    if (!(o->temporal_weight >= 0) || !isfinite(o->temporal_weight))
        return error_set(STATUS_ARG, "temporal weight %g: want a finite number >= 0", o->temporal_weight);
    if (o->temporal_weight > 0 && (!o->prior || !o->prior->data || o->prior->c < 3))
        return error_set(STATUS_ARG, "temporal weight %g: needs a prior image (RGB)", o->temporal_weight);
    if (o->temporal_weight > 0 && o->tile && o->size > o->tile)
        return error_set(STATUS_ARG, "the temporal term does not work with --tile");
    if (o->blend) {
        double sum = 0;
        for (int k = 0; k < nstyles; k++) {
            if (!(o->blend[k] >= 0) || !isfinite(o->blend[k])) return error_set(STATUS_ARG, "--style-blend: weights must be >= 0");
            sum += o->blend[k];
        }
        if (!(sum > 0)) return error_set(STATUS_ARG, "--style-blend: the weights sum to 0");
    }
    return STATUS_OK;
}

/* The error so far, with the option's name in front. */
static status prefix_error(const char *option) {
    char m[512];
    snprintf(m, sizeof m, "%s", error_message());
    status st = error_status();
    error_clear();
    return error_set(st, "%s: %s", option, m);
}

int stylize_net_layers(const featnet *fn, const char *list, char (*names)[64], float *weight, int max) {
    const vgg19 *vgg = featnet_vgg(fn);
    if (vgg) {   /* VGG's names, with its own messages */
        int idx[STYLIZE_MAX_LAYERS];
        int n = stylize_parse_layers(list, idx, weight, max < STYLIZE_MAX_LAYERS ? max : STYLIZE_MAX_LAYERS);
        for (int l = 0; l < n; l++) {
            if (idx[l] >= vgg->nconv) {
                error_set(STATUS_ARG, "layer %s was not built (the network ends at %s)", vgg19_layer_name(idx[l]),
                          vgg19_layer_name(vgg->nconv - 1));
                return -1;
            }
            snprintf(names[l], 64, "%s", vgg19_layer_name(idx[l]));
        }
        return n;
    }
    if (!list || !*list) { error_set(STATUS_ARG, "empty layer list"); return -1; }
    int n = 0, r;
    char item[64];
    float w;
    for (const char *p = list; (r = next_layer(list, &p, item, &w)) != 0;) {
        if (r < 0) return -1;
        if (!featnet_has_layer(fn, item)) {
            error_set(STATUS_ARG, "unknown layer '%s' (%s has no such layer: `atelier models show %s` lists them)", item,
                      featnet_name(fn), featnet_name(fn));
            return -1;
        }
        for (int k = 0; k < n; k++)
            if (!strcmp(names[k], item)) { error_set(STATUS_ARG, "layer %s listed twice", item); return -1; }
        if (n == max) { error_set(STATUS_ARG, "more than %d layers in '%s'", max, list); return -1; }
        snprintf(names[n], 64, "%s", item);
        weight[n++] = w;
    }
    return n;
}

/* "name:w,name" into s->lname[first..] and weights. */
static int parse_names(stylize_state *s, const char *list, int first, float *weight) {
    return stylize_net_layers(s->net->fn, list, s->lname + first, weight, STYLIZE_MAX_LAYERS);
}

static status setup_layers(stylize_state *s) {
    const stylize_opts *o = s->o;
    s->ns = parse_names(s, o->style_layers, 0, s->sw);
    if (s->ns < 0) return prefix_error("--style-layers");
    s->nc = parse_names(s, o->content_layers, s->ns, s->cw);
    if (s->nc < 0) return prefix_error("--content-layers");
    double sum = 0;
    for (int l = 0; l < s->ns; l++) sum += s->sw[l];
    for (int l = 0; l < s->ns; l++) s->sw[l] = (float)(s->sw[l] / sum);
    for (int l = 0; l < s->ns + s->nc; l++) s->names[l] = s->lname[l];
    return STATUS_OK;
}

/* ---- progress and output ---- */

static double clock_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

status stylize_report(stylize_state *s) {
    const stylize_opts *o = s->o;
    if (!o->callback) return STATUS_OK;
    stylize_progress p = {
        .iteration = s->done, .iterations = s->total, .level = s->level, .levels = s->levels,
        .tile = s->tile, .tiles = s->tiles, .loss = s->last[0], .content = s->last[1],
        .style = s->last[2], .tv = s->last[3], .temporal = s->last[4], .seconds = clock_now() - s->t0, .state = s,
    };
    if (!o->callback(&p, o->user)) s->stopped = true;
    return STATUS_OK;
}

/* The output image from the network's planes x and the photo's RGB at the same size. */
static image *compose(const stylize_state *s, const planes *x, const float *content_rgb) {
    image *im = image_new(x->w, x->h, 3);
    if (!im) return NULL;
    int64_t n = (int64_t)x->h * x->w;
    if (!s->luma) {
        for (int64_t i = 0; i < 3 * n; i++) im->data[i] = x->data[i] < 0 ? 0 : x->data[i] > 1 ? 1 : x->data[i];
        return im;
    }
    memcpy(im->data, content_rgb, (size_t)(3 * n) * sizeof(float));   /* PALETTE: recoloured already */
    color_set_luma(im->data, n, x->data);
    return im;
}

image *stylize_snapshot(const stylize_progress *p) {
    const stylize_state *s = p->state;
    planes *x = NULL;
    if (s->full) {
        x = planes_crop(s->full, 0, 0, s->full->h, s->full->w);
        for (int c = 0; x && c < x->c; c++)
            for (int i = 0; i < s->x->shape[2]; i++)
                memcpy(x->data + ((int64_t)c * x->h + s->tile_y + i) * x->w + s->tile_x,
                       s->x->data + ((int64_t)c * s->x->shape[2] + i) * s->x->shape[3],
                       (size_t)s->x->shape[3] * sizeof(float));
    } else {
        x = planes_of_tensor(s->x);
    }
    image *im = x ? compose(s, x, s->content_rgb) : NULL;
    planes_free(x);
    return im;
}

/* ---- the run ---- */

/* w x h with the long side `side` and content's aspect ratio. */
static void fit_long_side(int cw, int ch, int side, int *w, int *h) {
    if (cw >= ch) { *w = side; *h = (int)lround((double)ch * side / cw); }
    else { *h = side; *w = (int)lround((double)cw * side / ch); }
    if (*w < 1) *w = 1;
    if (*h < 1) *h = 1;
}

typedef struct run_inputs {
    const image *content;
    image *styles[16];      /* the caller's, or recoloured copies (match_colors) */
    bool owned[16];
    float blend[16];        /* normalised */
    int n;
    double luma_mean, luma_std;  /* the photo's, for PRESERVE */
    image *recoloured;      /* PALETTE: the photo with the style's colours (content points here) */
} run_inputs;

static status inputs_prepare(run_inputs *in, stylize_state *s, const image *content, const image *const *styles, int n) {
    const stylize_opts *o = s->o;
    int64_t np = (int64_t)content->w * content->h;
    color_stats cs = color_stats_compute(content->data, np), st[16];
    double sum = 0;
    in->content = content;
    in->n = n;
    for (int k = 0; k < n; k++) sum += o->blend ? o->blend[k] : 1.0;
    for (int k = 0; k < n; k++) {
        in->blend[k] = (float)((o->blend ? o->blend[k] : 1.0) / sum);
        in->styles[k] = (image *)styles[k];
        int64_t ns = (int64_t)styles[k]->w * styles[k]->h;
        if (o->match_colors) {
            if (!(in->styles[k] = image_copy(styles[k]))) return error_status();
            in->owned[k] = true;
            color_stats from = color_stats_compute(in->styles[k]->data, ns);
            color_transfer(in->styles[k]->data, ns, &from, &cs, true);
        }
        st[k] = color_stats_compute(in->styles[k]->data, ns);
    }
    s->palette = color_stats_blend(st, in->blend, n);
    if (o->color == STYLIZE_COLOR_PALETTE) {   /* the photo takes the style's colours first */
        image *re = image_copy(content);
        if (!re) return error_status();
        color_transfer(re->data, np, &cs, &s->palette, true);
        in->content = in->recoloured = re;
    }
    float *y = malloc((size_t)np * sizeof(float));
    if (!y) return error_set(STATUS_NOMEM, "stylize: out of memory");
    color_luma(content->data, np, y);
    color_luma_stats(y, np, &in->luma_mean, &in->luma_std);
    free(y);
    return STATUS_OK;
}

static void inputs_free(run_inputs *in) {
    image_free(in->recoloured);
    for (int k = 0; k < in->n; k++)
        if (in->owned[k]) image_free(in->styles[k]);
}

/* The style targets at a picture whose long side is `side`: each style image is scaled to
 * style_size * side / size (style_size: the option, or style_scale * size). */
static status style_targets_at(stylize_state *s, const run_inputs *in, int side) {
    const stylize_opts *o = s->o;
    double base = o->style_size ? o->style_size : o->style_scale * o->size;
    int slong = (int)lround(base * side / o->size);
    planes *sp[16] = {0};
    status st = STATUS_OK;
    for (int k = 0; st == STATUS_OK && k < in->n; k++) {
        int w, h;
        fit_long_side(in->styles[k]->w, in->styles[k]->h, slong, &w, &h);
        if (w < STYLIZE_MIN_SIDE || h < STYLIZE_MIN_SIDE) {
            st = error_set(STATUS_ARG, "style image %d would be %dx%d, smaller than %d px: raise --style-size or lower --multires",
                           k + 1, w, h, STYLIZE_MIN_SIDE);
            break;
        }
        planes *rgb = rgb_planes(in->styles[k], w, h);
        sp[k] = rgb ? net_planes(rgb, s->luma) : NULL;
        planes_free(rgb);
        if (!sp[k]) { st = error_status(); break; }
        if (o->color == STYLIZE_COLOR_PRESERVE) color_match_luma(sp[k]->data, (int64_t)w * h, in->luma_mean, in->luma_std);
    }
    arena_reset(s->grams);
    if (st == STATUS_OK) st = stylize_style_targets(s, sp, in->blend, in->n);
    for (int k = 0; k < in->n; k++) planes_free(sp[k]);
    return st;
}

static planes *initial_planes(stylize_state *s, const planes *crgb) {
    const stylize_opts *o = s->o;
    if (o->init == STYLIZE_INIT_CONTENT) return net_planes(crgb, s->luma);
    if (o->init == STYLIZE_INIT_IMAGE) {
        planes *rgb = rgb_planes(o->init_image, crgb->w, crgb->h);
        planes *p = rgb ? net_planes(rgb, s->luma) : NULL;
        planes_free(rgb);
        return p;
    }
    planes *p = planes_new(s->luma ? 1 : 3, crgb->h, crgb->w);
    if (!p) return NULL;
    int64_t n = (int64_t)p->c * p->h * p->w;
    rng r = rng_new(o->seed);
    rng_normal(&r, p->data, n, 0.5f, 0.15f);
    for (int64_t i = 0; i < n; i++) p->data[i] = p->data[i] < 0 ? 0 : p->data[i] > 1 ? 1 : p->data[i];
    return p;
}

/* The temporal term's prior (as the network sees it) and mask at w x h into s->keep, or
 * NULL when the term is off. */
static status temporal_targets(stylize_state *s, int w, int h) {
    const stylize_opts *o = s->o;
    s->prior = s->prior_mask = NULL;
    if (!(o->temporal_weight > 0)) return STATUS_OK;
    planes *rgb = rgb_planes(o->prior, w, h), *p = rgb ? net_planes(rgb, s->luma) : NULL;
    planes *m = planes_new(1, o->prior->h, o->prior->w), *mr = NULL;
    if (m) {
        int64_t n = (int64_t)m->h * m->w;
        for (int64_t i = 0; i < n; i++) m->data[i] = o->prior_mask ? o->prior_mask[i] : 1.0f;
        mr = m->w == w && m->h == h ? m : planes_resize(m, h, w);
    }
    if (p && mr) {
        s->prior = planes_tensor(s->keep, p);
        s->prior_mask = planes_tensor(s->keep, mr);
    }
    if (mr != m) planes_free(mr);
    planes_free(m);
    planes_free(p);
    planes_free(rgb);
    return s->prior && s->prior_mask ? STATUS_OK : error_status();
}

/* One resolution: targets at w x h, x from `start`, optimised. Returns the new x planes;
 * *rgb_out receives the photo's RGB at this size (for the output). */
static planes *run_level(stylize_state *s, const run_inputs *in, const planes *start, int w, int h, planes **rgb_out) {
    planes *crgb = rgb_planes(in->content, w, h), *cnet = crgb ? net_planes(crgb, s->luma) : NULL, *x = NULL;
    status st = cnet ? style_targets_at(s, in, w > h ? w : h) : error_status();
    arena_reset(s->keep);
    if (st == STATUS_OK) st = stylize_content_targets(s, cnet);
    if (st == STATUS_OK) st = temporal_targets(s, w, h);
    planes *init = st != STATUS_OK ? NULL : start ? planes_resize(start, h, w) : initial_planes(s, crgb);
    if (init && (s->x = planes_tensor(s->keep, init))) {
        tensor_requires_grad(s->x);
        s->content_rgb = crgb->data;
        if (stylize_optimise(s, s->o->iterations) == STATUS_OK) x = planes_of_tensor(s->x);
    }
    planes_free(init);
    planes_free(cnet);
    if (x) *rgb_out = crgb;
    else planes_free(crgb);
    return x;
}

/* The whole picture at w x h refined tile by tile from `start`. */
static planes *run_tiles(stylize_state *s, const run_inputs *in, const planes *start, int w, int h, planes **rgb_out) {
    planes *full = planes_resize(start, h, w), *crgb = full ? rgb_planes(in->content, w, h) : NULL;
    planes *cnet = crgb ? net_planes(crgb, s->luma) : NULL;
    status st = cnet ? style_targets_at(s, in, w > h ? w : h) : error_status();
    if (st == STATUS_OK) {
        s->content_rgb = crgb->data;
        int its = s->o->tile_iterations ? s->o->tile_iterations : (s->o->iterations + 1) / 2;
        st = stylize_refine_tiles(s, full, cnet, its);
    }
    planes_free(cnet);
    if (st != STATUS_OK) { planes_free(full); planes_free(crgb); return NULL; }
    *rgb_out = crgb;
    return full;
}

static image *with_alpha(image *out, const image *content) {
    if (!out || content->c != 4) return out;
    image *a = image_resize(content, out->w, out->h), *r = a ? image_new(out->w, out->h, 4) : NULL;
    if (r) {
        int64_t n = (int64_t)out->w * out->h;
        memcpy(r->data, out->data, (size_t)(3 * n) * sizeof(float));
        memcpy(r->data + 3 * n, a->data + 3 * n, (size_t)n * sizeof(float));
    }
    image_free(a);
    image_free(out);
    return r;
}

static image *run_all(stylize_state *s, const run_inputs *in, stylize_result *res) {
    const stylize_opts *o = s->o;
    int ow, oh;
    fit_long_side(in->content->w, in->content->h, o->size, &ow, &oh);
    bool tiling = o->tile && o->size > o->tile;
    int work = tiling ? o->tile : o->size, tw = 0, th = 0;
    fit_long_side(in->content->w, in->content->h, (int)lround(work / pow(2, o->multires - 1)), &tw, &th);
    if (tw < STYLIZE_MIN_SIDE || th < STYLIZE_MIN_SIDE) {
        error_set(STATUS_ARG, "the picture would be %dx%d at its coarsest, smaller than %d px: raise --size or lower --multires",
                  tw, th, STYLIZE_MIN_SIDE);
        return NULL;
    }
    int tile_its = o->tile_iterations ? o->tile_iterations : (o->iterations + 1) / 2;
    s->total = o->multires * o->iterations + (tiling ? stylize_tile_count(oh, ow, o->tile) * tile_its : 0);
    planes *cur = NULL, *crgb = NULL;
    for (int lv = 0; lv < o->multires && !s->stopped; lv++) {
        int w, h;
        fit_long_side(in->content->w, in->content->h, (int)lround(work / pow(2, o->multires - 1 - lv)), &w, &h);
        planes *prgb = NULL, *x = NULL;
        s->level = lv;
        x = run_level(s, in, cur, w, h, &prgb);
        planes_free(cur);
        planes_free(crgb);
        cur = x;
        crgb = prgb;
        if (!cur) return NULL;
    }
    if (tiling && !s->stopped) {
        planes *prgb = NULL, *x = run_tiles(s, in, cur, ow, oh, &prgb);
        planes_free(cur);
        planes_free(crgb);
        if (!(cur = x)) return NULL;
        crgb = prgb;
    }
    if (res) {
        res->loss = tiling || s->stopped ? s->last[0] : stylize_eval(s);
        res->content = s->last[1]; res->style = s->last[2]; res->tv = s->last[3]; res->temporal = s->last[4];
    }
    image *out = compose(s, cur, crgb->data);
    if (out && (out->w != ow || out->h != oh)) {   /* stopped before the last level */
        image *r = image_resize(out, ow, oh);
        image_free(out);
        out = r;
    }
    planes_free(cur);
    planes_free(crgb);
    return with_alpha(out, in->content);
}

image *stylize_run(stylize_net *net, const image *content, const image *const *styles, int nstyles,
                   const stylize_opts *o, stylize_result *result) {
    if (!net || !content || !styles || !o) { error_set(STATUS_ARG, "stylize_run: NULL argument"); return NULL; }
    if (check_opts(o, nstyles) != STATUS_OK) return NULL;
    stylize_state s = {.net = net, .o = o, .luma = o->color != STYLIZE_COLOR_RGB, .levels = o->multires, .t0 = clock_now()};
    if (setup_layers(&s) != STATUS_OK) return NULL;
    run_inputs in = {0};
    image *out = NULL;
    s.grams = arena_new(1 << 20);
    s.keep = arena_new(1 << 20);
    s.step = arena_new(64 << 20);
    if (s.grams && s.keep && s.step && inputs_prepare(&in, &s, content, styles, nstyles) == STATUS_OK)
        out = run_all(&s, &in, result);
    else if (!s.grams || !s.keep || !s.step) error_set(STATUS_NOMEM, "stylize: out of memory");
    if (result) {
        result->first_loss = s.first_loss;
        result->iterations = s.done;
        result->seconds = clock_now() - s.t0;
    }
    inputs_free(&in);
    arena_free(s.grams);
    arena_free(s.keep);
    arena_free(s.step);
    return out;
}
