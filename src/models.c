/* models.c: VGG-19, Johnson's transformer net, AdaIN and DCGAN as structs + forward
 * functions over ops. See models.h for the architectures and their references. */
#include "atelier/models.h"
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "atelier/init.h"
#include "atelier/ops.h"
#include "atelier/rng.h"
#include "models_internal.h"

/* ---- parameter tables ---- */

int64_t model_params_count(const model_params *p) {
    int64_t n = 0;
    for (int i = 0; i < p->n; i++) n += p->tensors[i]->numel;
    return n;
}

void model_params_set_trainable(model_params *p, bool on) {
    for (int i = 0; i < p->n; i++) {
        if (on) tensor_requires_grad(p->tensors[i]);
        else p->tensors[i]->requires_grad = false;
    }
}

tensor *model_params_find(const model_params *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->names[i], name) == 0) return p->tensors[i];
    return NULL;
}

/* Room for cap entries in the arena; false (error set by arena_alloc) when out of memory. */
bool table_new(model_params *p, arena *a, int cap) {
    p->n = 0;
    p->names = arena_alloc(a, sizeof *p->names * (size_t)cap);
    p->tensors = arena_alloc(a, sizeof *p->tensors * (size_t)cap);
    return p->names && p->tensors;
}

/* A new zero tensor named by fmt, appended to p (which has room); NULL when out of memory.
 * Parameters (grad true) require a gradient; buffers do not. */
tensor *table_add(model_params *p, arena *a, bool grad, int ndim, const int *shape,
                         const char *fmt, ...) {
    char buf[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *name = arena_alloc(a, strlen(buf) + 1);
    tensor *t = tensor_new(a, ndim, shape);
    if (!name || !t) return NULL;
    memcpy(name, buf, strlen(buf) + 1);
    if (grad) tensor_requires_grad(t);
    p->names[p->n] = name;
    p->tensors[p->n] = t;
    p->n++;
    return t;
}

/* PyTorch's default for conv layers: weight kaiming uniform with a = sqrt(5), i.e. within
 * 1/sqrt(fan_in), and bias uniform within 1/sqrt(fan_in). */
void init_torch_default_conv(tensor *w, tensor *b, rng *r) {
    int fan_in, fan_out;
    init_fans(w, &fan_in, &fan_out);
    init_kaiming_uniform(w, r, sqrtf(5.0f), false);
    if (b) {
        float bound = 1.0f / sqrtf((float)fan_in);
        init_uniform(b, r, -bound, bound);
    }
}

/* ---- VGG-19 ---- */

/* Output channels of each conv, and the torchvision features index of each conv. */
static const int vgg_oc[VGG19_CONVS] = {64, 64, 128, 128, 256, 256, 256, 256,
                                        512, 512, 512, 512, 512, 512, 512, 512};
static const int vgg_index[VGG19_CONVS] = {0, 2, 5, 7, 10, 12, 14, 16,
                                           19, 21, 23, 25, 28, 30, 32, 34};
static const char *const vgg_names[VGG19_CONVS] = {
    "relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu3_4",
    "relu4_1", "relu4_2", "relu4_3", "relu4_4", "relu5_1", "relu5_2", "relu5_3", "relu5_4"};

/* Convs that start a new group (a pool comes before them). */
static bool vgg_pool_before(int i) { return i == 2 || i == 4 || i == 8 || i == 12; }

int vgg19_layer_index(const char *name) {
    for (int i = 0; name && i < VGG19_CONVS; i++)
        if (strcmp(name, vgg_names[i]) == 0) return i;
    return -1;
}

const char *vgg19_layer_name(int i) { return i >= 0 && i < VGG19_CONVS ? vgg_names[i] : NULL; }

status vgg19_init(vgg19 *m, arena *params, uint64_t seed, vgg_pool pool, const char *last) {
    memset(m, 0, sizeof *m);
    int lastidx = last ? vgg19_layer_index(last) : VGG19_CONVS - 1;
    if (lastidx < 0) return error_set(STATUS_ARG, "vgg19_init: no layer named '%s' (relu1_1 .. relu5_4)", last);
    m->pool = pool;
    m->nconv = lastidx + 1;
    if (!table_new(&m->params, params, 2 * m->nconv)) return error_status();
    rng r = rng_new(seed);
    for (int i = 0, c = 3; i < m->nconv; c = vgg_oc[i], i++) {
        m->w[i] = table_add(&m->params, params, true, 4, (int[]){vgg_oc[i], c, 3, 3},
                            "features.%d.weight", vgg_index[i]);
        m->b[i] = table_add(&m->params, params, true, 1, (int[]){vgg_oc[i]},
                            "features.%d.bias", vgg_index[i]);
        if (!m->w[i] || !m->b[i]) return error_status();
        init_kaiming_normal(m->w[i], &r, 0.0f, true);  // torchvision: fan_out, relu; bias 0
    }
    return STATUS_OK;
}

/* ---- inference in bounded memory ----
 * With gradients off nothing needs a layer's intermediates (or its input) once its output
 * exists, yet an arena frees only all at once. So in inference each layer runs in a work
 * arena, its output is copied into one of two holding arenas (alternating: the other holds
 * the layer's input), and the work arena is reset. Peak memory: one layer's intermediates
 * plus two activations, instead of every activation of the network. With gradients on,
 * everything stays in the caller's arena for backward and these calls change nothing. */

/* The scratch arenas, one set per thread, kept between calls: an inference loop then runs
 * in memory that is already mapped (no page faults per image). */
static _Thread_local arena *g_scratch[3];
/* A thread that ends (a web worker, jobs.h) frees its set through this key's destructor. */
static pthread_key_t g_scratch_key;
static pthread_once_t g_scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *set) {
    arena **a = set;   /* this thread's g_scratch */
    for (int i = 0; i < 3; i++) { arena_free(a[i]); a[i] = NULL; }
}

static void scratch_key_new(void) { pthread_key_create(&g_scratch_key, scratch_free); }

void layer_seq_begin(layer_seq *s, arena *out) {
    *s = (layer_seq){.out = out, .on = !autograd_enabled()};
    if (!s->on) return;
    if (!g_scratch[0]) {
        pthread_once(&g_scratch_once, scratch_key_new);
        pthread_setspecific(g_scratch_key, g_scratch);
    }
    for (int i = 0; i < 3; i++)
        if (!g_scratch[i] && !(g_scratch[i] = arena_new(4 << 20))) s->on = false;  /* fall back */
    s->work = g_scratch[0];
    s->hold[0] = g_scratch[1];
    s->hold[1] = g_scratch[2];
}

/* The arena the current layer computes its intermediates in. */
arena *layer_seq_arena(const layer_seq *s) { return s->on ? s->work : s->out; }

/* The arena the current layer's last op writes its output to: the holding arena that does
 * not hold the layer's input (emptied now). */
arena *layer_seq_output(layer_seq *s) {
    if (!s->on) return s->out;
    s->cur ^= 1;
    arena_reset(s->hold[s->cur]);
    return s->hold[s->cur];
}

/* The layer is done: t (made in layer_seq_output's arena) is kept, its intermediates dropped. */
tensor *layer_seq_keep(layer_seq *s, tensor *t) {
    if (s->on) arena_reset(s->work);
    return t;
}

/* The network's result t, in the caller's arena; the scratch arenas are emptied. */
tensor *layer_seq_end(layer_seq *s, tensor *t) {
    if (!s->on) return t;
    tensor *r = t ? tensor_copy(s->out, t) : NULL;
    for (int i = 0; i < 3; i++) arena_reset(g_scratch[i]);
    return r;
}

status vgg19_forward(const vgg19 *m, arena *a, tensor *x, int n, const char *const *names,
                     tensor **outs) {
    int deepest = -1, idx[VGG19_CONVS * 2];
    if (n > VGG19_CONVS * 2) return error_set(STATUS_ARG, "vgg19_forward: %d layers asked, at most %d", n, VGG19_CONVS * 2);
    for (int k = 0; k < n; k++) {
        idx[k] = vgg19_layer_index(names[k]);
        if (idx[k] < 0) return error_set(STATUS_ARG, "vgg19_forward: no layer named '%s' (relu1_1 .. relu5_4)", names[k]);
        if (idx[k] >= m->nconv)
            return error_set(STATUS_ARG, "vgg19_forward: layer %s was not built (the net ends at %s)",
                             names[k], vgg_names[m->nconv - 1]);
        if (idx[k] > deepest) deepest = idx[k];
        outs[k] = NULL;
    }
    conv2d_opts o = conv2d_defaults();
    o.pad = 1;
    tensor *h = x;
    layer_seq s;
    layer_seq_begin(&s, a);
    arena *w = layer_seq_arena(&s);
    for (int i = 0; i <= deepest && h; i++) {
        if (vgg_pool_before(i))
            h = m->pool == VGG_POOL_MAX ? op_max_pool2d(w, h, 2, 2, 0) : op_avg_pool2d(w, h, 2, 2, 0);
        h = layer_seq_keep(&s, op_conv2d_relu(layer_seq_output(&s), h, m->w[i], m->b[i], o));  // (N, OC, H', W')
        for (int k = 0; k < n && h; k++)
            if (idx[k] == i) outs[k] = s.on ? tensor_copy(a, h) : h;  /* requested: the caller's */
    }
    layer_seq_end(&s, NULL);
    return h ? STATUS_OK : error_status();
}

tensor *vgg_normalize(arena *a, tensor *x) {
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    tensor *tm = tensor_from(a, 4, (int[]){1, 3, 1, 1}, mean);
    tensor *ts = tensor_from(a, 4, (int[]){1, 3, 1, 1}, std);
    if (!tm || !ts) return NULL;
    return op_div(a, op_sub(a, x, tm), ts);
}

/* ---- Johnson et al.'s transformer net ---- */

/* conv weights (OC, C, K, K) + bias named PREFIX.conv2d.{weight,bias}, PyTorch default init */
static bool add_conv(model_params *p, arena *a, rng *r, conv_weights *cw, int c, int oc, int k,
                     const char *prefix) {
    cw->w = table_add(p, a, true, 4, (int[]){oc, c, k, k}, "%s.weight", prefix);
    cw->b = table_add(p, a, true, 1, (int[]){oc}, "%s.bias", prefix);
    if (!cw->w || !cw->b) return false;
    init_torch_default_conv(cw->w, cw->b, r);
    return true;
}

/* instance or batch norm affine weights (C), gamma 1 and beta 0 */
static bool add_norm(model_params *p, arena *a, norm_weights *nw, int c, const char *prefix) {
    nw->gamma = table_add(p, a, true, 1, (int[]){c}, "%s.weight", prefix);
    nw->beta = table_add(p, a, true, 1, (int[]){c}, "%s.bias", prefix);
    if (!nw->gamma || !nw->beta) return false;
    tensor_fill(nw->gamma, 1.0f);
    return true;
}

status johnson_init(johnson_net *m, arena *params, uint64_t seed) {
    memset(m, 0, sizeof *m);
    model_params *p = &m->params;
    rng r = rng_new(seed);
    char name[64];
    bool ok = table_new(p, params, 2 * (6 + 10 + 5 + 20))
        && add_conv(p, params, &r, &m->conv1, 3, 32, 9, "conv1.conv2d") && add_norm(p, params, &m->in1, 32, "in1")
        && add_conv(p, params, &r, &m->conv2, 32, 64, 3, "conv2.conv2d") && add_norm(p, params, &m->in2, 64, "in2")
        && add_conv(p, params, &r, &m->conv3, 64, 128, 3, "conv3.conv2d") && add_norm(p, params, &m->in3, 128, "in3");
    for (int i = 0; ok && i < 5; i++) {
        snprintf(name, sizeof name, "res%d.conv1.conv2d", i + 1);
        ok = add_conv(p, params, &r, &m->res[i].conv1, 128, 128, 3, name);
        snprintf(name, sizeof name, "res%d.in1", i + 1);
        ok = ok && add_norm(p, params, &m->res[i].in1, 128, name);
        snprintf(name, sizeof name, "res%d.conv2.conv2d", i + 1);
        ok = ok && add_conv(p, params, &r, &m->res[i].conv2, 128, 128, 3, name);
        snprintf(name, sizeof name, "res%d.in2", i + 1);
        ok = ok && add_norm(p, params, &m->res[i].in2, 128, name);
    }
    ok = ok && add_conv(p, params, &r, &m->deconv1, 128, 64, 3, "deconv1.conv2d") && add_norm(p, params, &m->in4, 64, "in4")
        && add_conv(p, params, &r, &m->deconv2, 64, 32, 3, "deconv2.conv2d") && add_norm(p, params, &m->in5, 32, "in5")
        && add_conv(p, params, &r, &m->deconv3, 32, 3, 9, "deconv3.conv2d");
    return ok ? STATUS_OK : error_status();
}

/* ConvLayer of fast_neural_style: reflection pad K/2, then conv with stride. */
static tensor *reflect_conv(arena *a, tensor *x, const conv_weights *cw, int stride) {
    int pad = cw->w->shape[2] / 2;
    conv2d_opts o = conv2d_defaults();
    o.stride = stride;
    return op_conv2d(a, op_pad(a, x, PAD_REFLECT, pad, pad, pad, pad), cw->w, cw->b, o);
}

/* relu(instance_norm(x)), fused: one activation, in out */
static tensor *in_relu(arena *out, tensor *x, const norm_weights *nw) {
    return op_instance_norm_relu(out, x, nw->gamma, nw->beta, 1e-5f);
}

/* ConvLayer + instance norm + ReLU as one layer of the sequence. In inference the conv
 * writes straight into the layer's output arena and the norm runs over it in place: no
 * activation but the layer's output (at 1024 px the 32-channel layers are 128 MB each). */
static tensor *conv_in_relu(layer_seq *s, tensor *x, const conv_weights *cw, int stride, const norm_weights *nw) {
    arena *w = layer_seq_arena(s), *o = layer_seq_output(s);
    if (!s->on) return in_relu(o, reflect_conv(w, x, cw, stride), nw);
    int pad = cw->w->shape[2] / 2;
    conv2d_opts co = conv2d_defaults();
    co.stride = stride;
    tensor *y = op_conv2d(o, op_pad(w, x, PAD_REFLECT, pad, pad, pad, pad), cw->w, cw->b, co);
    return layer_seq_keep(s, op_instance_norm_relu_inplace(y, nw->gamma, nw->beta, 1e-5f));
}

/* UpsampleConvLayer + instance norm + ReLU: nearest x2, reflection pad, conv. The
 * upsampled tensor is dead once padded, so in inference it lives in the layer's output
 * arena until then (the largest tensors of the network: at 1024 px, 256 MB each), and the
 * conv then writes its output there, normalised in place. */
static tensor *up_layer(layer_seq *s, tensor *h, const conv_weights *cw, const norm_weights *nw) {
    arena *w = layer_seq_arena(s), *o = layer_seq_output(s);
    int pad = cw->w->shape[2] / 2;
    tensor *padded = op_pad(w, op_upsample(o, h, UPSAMPLE_NEAREST, 2), PAD_REFLECT, pad, pad, pad, pad);
    if (!s->on) return in_relu(o, op_conv2d(w, padded, cw->w, cw->b, conv2d_defaults()), nw);
    arena_reset(o);  /* drops the upsampled tensor */
    tensor *y = op_conv2d(o, padded, cw->w, cw->b, conv2d_defaults());
    return layer_seq_keep(s, op_instance_norm_relu_inplace(y, nw->gamma, nw->beta, 1e-5f));
}

tensor *johnson_forward(const johnson_net *m, arena *a, tensor *x) {
    layer_seq s;
    layer_seq_begin(&s, a);
    arena *w = layer_seq_arena(&s);  /* the caller's arena when training: see layer_seq */
    tensor *h = conv_in_relu(&s, x, &m->conv1, 1, &m->in1);
    h = conv_in_relu(&s, h, &m->conv2, 2, &m->in2);
    h = conv_in_relu(&s, h, &m->conv3, 2, &m->in3);
    for (int i = 0; i < 5; i++) {                                        // (N, 128, H/4, W/4)
        tensor *r = in_relu(w, reflect_conv(w, h, &m->res[i].conv1, 1), &m->res[i].in1);
        r = op_instance_norm(w, reflect_conv(w, r, &m->res[i].conv2, 1),
                             m->res[i].in2.gamma, m->res[i].in2.beta, 1e-5f);
        h = layer_seq_keep(&s, op_add(layer_seq_output(&s), h, r));
    }
    h = up_layer(&s, h, &m->deconv1, &m->in4);                          // (N, 64, H/2, W/2)
    h = up_layer(&s, h, &m->deconv2, &m->in5);                          // (N, 32, H, W)
    return layer_seq_end(&s, reflect_conv(w, h, &m->deconv3, 1));             // (N, 3, H, W)
}

/* ---- AdaIN ---- */

static const int dec_c[ADAIN_DECODER_CONVS] = {512, 256, 256, 256, 256, 128, 128, 64, 64};
static const int dec_oc[ADAIN_DECODER_CONVS] = {256, 256, 256, 256, 128, 128, 64, 64, 3};
static const int dec_index[ADAIN_DECODER_CONVS] = {1, 5, 8, 11, 14, 18, 21, 25, 28};
/* decoder convs preceded by a nearest x2 upsample */
static bool dec_up_before(int i) { return i == 1 || i == 5 || i == 7; }

status adain_init(adain_net *m, arena *params, uint64_t seed) {
    memset(m, 0, sizeof *m);
    status s = vgg19_init(&m->enc, params, seed, VGG_POOL_MAX, "relu4_1");
    if (s != STATUS_OK) return s;
    if (!table_new(&m->decoder, params, 2 * ADAIN_DECODER_CONVS)) return error_status();
    rng r = rng_new(seed ^ 0xadadadadULL);
    for (int i = 0; i < ADAIN_DECODER_CONVS; i++) {
        m->w[i] = table_add(&m->decoder, params, true, 4, (int[]){dec_oc[i], dec_c[i], 3, 3},
                            "%d.weight", dec_index[i]);
        m->b[i] = table_add(&m->decoder, params, true, 1, (int[]){dec_oc[i]}, "%d.bias", dec_index[i]);
        if (!m->w[i] || !m->b[i]) return error_status();
        init_torch_default_conv(m->w[i], m->b[i], &r);
    }
    return STATUS_OK;
}

tensor *adain_forward(const adain_net *m, arena *a, tensor *content, tensor *style, float alpha) {
    const char *layer[] = {"relu4_1"};
    tensor *fc, *fs;
    if (!content || !style) return NULL;
    if (vgg19_forward(&m->enc, a, vgg_normalize(a, content), 1, layer, &fc) != STATUS_OK) return NULL;
    if (vgg19_forward(&m->enc, a, vgg_normalize(a, style), 1, layer, &fs) != STATUS_OK) return NULL;
    tensor *t = op_adain(a, fc, fs, 1e-5f);                     // (N, 512, H/8, W/8)
    if (alpha < 1.0f)
        t = op_add(a, op_mul_scalar(a, t, alpha), op_mul_scalar(a, fc, 1.0f - alpha));
    conv2d_opts o = conv2d_defaults();
    layer_seq s;
    layer_seq_begin(&s, a);
    arena *w = layer_seq_arena(&s);  /* the caller's arena when training: see layer_seq */
    for (int i = 0; i < ADAIN_DECODER_CONVS && t; i++) {
        if (dec_up_before(i)) t = op_upsample(w, t, UPSAMPLE_NEAREST, 2);
        tensor *padded = op_pad(w, t, PAD_REFLECT, 1, 1, 1, 1);
        arena *out = layer_seq_output(&s);
        t = layer_seq_keep(&s, i < ADAIN_DECODER_CONVS - 1 ? op_conv2d_relu(out, padded, m->w[i], m->b[i], o)
                                                     : op_conv2d(out, padded, m->w[i], m->b[i], o));
    }
    return layer_seq_end(&s, t);                                       // (N, 3, H, W)
}

/* ---- DCGAN ---- */

/* batch-norm weights and running buffers, initialised as pytorch/examples/dcgan's
 * weights_init (gamma normal(1, 0.02), beta 0) with running mean 0 and variance 1 */
static bool add_bn(model_params *p, model_params *buf, arena *a, rng *r, norm_weights *nw,
                   tensor **rm, tensor **rv, int c, int index) {
    char name[32];
    snprintf(name, sizeof name, "main.%d", index);
    if (!add_norm(p, a, nw, c, name)) return false;
    init_normal(nw->gamma, r, 1.0f, 0.02f);
    *rm = table_add(buf, a, false, 1, (int[]){c}, "main.%d.running_mean", index);
    *rv = table_add(buf, a, false, 1, (int[]){c}, "main.%d.running_var", index);
    if (!*rm || !*rv) return false;
    tensor_fill(*rv, 1.0f);
    return true;
}

status dcgan_g_init(dcgan_g *g, arena *params, uint64_t seed, int nz, int ngf, int nc) {
    memset(g, 0, sizeof *g);
    if (nz < 1 || ngf < 1 || nc < 1) return error_set(STATUS_ARG, "dcgan_g_init: nz %d, ngf %d, nc %d must be >= 1", nz, ngf, nc);
    g->nz = nz;
    const int ch[6] = {nz, 8 * ngf, 4 * ngf, 2 * ngf, ngf, nc}, index[5] = {0, 3, 6, 9, 12};
    if (!table_new(&g->params, params, 13) || !table_new(&g->buffers, params, 8)) return error_status();
    rng r = rng_new(seed);
    for (int i = 0; i < 5; i++) {
        // conv_transpose weight (C_in, C_out, 4, 4)
        g->w[i] = table_add(&g->params, params, true, 4, (int[]){ch[i], ch[i + 1], 4, 4}, "main.%d.weight", index[i]);
        if (!g->w[i]) return error_status();
        init_normal(g->w[i], &r, 0.0f, 0.02f);
        if (i < 4 && !add_bn(&g->params, &g->buffers, params, &r, &g->bn[i], &g->running_mean[i],
                             &g->running_var[i], ch[i + 1], index[i] + 1))
            return error_status();
    }
    return STATUS_OK;
}

status dcgan_d_init(dcgan_d *d, arena *params, uint64_t seed, int ndf, int nc) {
    memset(d, 0, sizeof *d);
    if (ndf < 1 || nc < 1) return error_set(STATUS_ARG, "dcgan_d_init: ndf %d, nc %d must be >= 1", ndf, nc);
    const int ch[6] = {nc, ndf, 2 * ndf, 4 * ndf, 8 * ndf, 1}, index[5] = {0, 2, 5, 8, 11};
    if (!table_new(&d->params, params, 11) || !table_new(&d->buffers, params, 6)) return error_status();
    rng r = rng_new(seed);
    for (int i = 0; i < 5; i++) {
        d->w[i] = table_add(&d->params, params, true, 4, (int[]){ch[i + 1], ch[i], 4, 4}, "main.%d.weight", index[i]);
        if (!d->w[i]) return error_status();
        init_normal(d->w[i], &r, 0.0f, 0.02f);
        if (i >= 1 && i <= 3 && !add_bn(&d->params, &d->buffers, params, &r, &d->bn[i - 1],
                                        &d->running_mean[i - 1], &d->running_var[i - 1], ch[i + 1], index[i] + 1))
            return error_status();
    }
    return STATUS_OK;
}

/* PyTorch's BatchNorm2d defaults: momentum 0.1, eps 1e-5 */
/* leaky_relu(batch_norm(x), slope), fused (slope 0: ReLU) */
static tensor *bn_act(arena *a, tensor *x, const norm_weights *nw, tensor *rm, tensor *rv, bool training, float slope) {
    return op_batch_norm_act(a, x, nw->gamma, nw->beta, rm, rv, training, 0.1f, 1e-5f, slope);
}

tensor *dcgan_g_forward(const dcgan_g *g, arena *a, tensor *z, bool training) {
    conv2d_opts first = conv2d_defaults(), up = conv2d_defaults();
    up.stride = 2;
    up.pad = 1;
    tensor *h = z;                                                      // (N, NZ, 1, 1)
    for (int i = 0; i < 4; i++) {
        h = op_conv_transpose2d(a, h, g->w[i], NULL, i == 0 ? first : up);  // 4, 8, 16, 32
        h = bn_act(a, h, &g->bn[i], g->running_mean[i], g->running_var[i], training, 0);
    }
    return op_tanh(a, op_conv_transpose2d(a, h, g->w[4], NULL, up));    // (N, NC, 64, 64)
}

tensor *dcgan_d_forward(const dcgan_d *d, arena *a, tensor *x, bool training) {
    conv2d_opts down = conv2d_defaults(), last = conv2d_defaults();
    down.stride = 2;
    down.pad = 1;
    tensor *h = op_leaky_relu(a, op_conv2d(a, x, d->w[0], NULL, down), 0.2f);  // (N, F, 32, 32)
    for (int i = 1; i < 4; i++) {
        h = op_conv2d(a, h, d->w[i], NULL, down);                              // 16, 8, 4
        h = bn_act(a, h, &d->bn[i - 1], d->running_mean[i - 1], d->running_var[i - 1], training, 0.2f);
    }
    h = op_conv2d(a, h, d->w[4], NULL, last);                                  // (N, 1, 1, 1)
    if (!h) return NULL;
    return tensor_reshape(a, h, 1, (int[]){h->shape[0]});                      // (N) logits
}
