/* gan_nets.c: the GAN architectures of gan.h (dcgan, resnet, mlp) as weight lists and
 * forward functions. Weights are named "w.I" / "b.I" in forward order, batch norms
 * "bn.J.weight|bias|running_mean|running_var". */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "atelier/gan.h"
#include "atelier/init.h"
#include "atelier/ops.h"
#include "atelier/rng.h"
#include "models_internal.h"

static int log2_int(int v) { int k = 0; while ((1 << k) < v) k++; return k; }

/* ---- building the weight lists ---- */

typedef struct builder { gan_net *n; arena *a; rng r; bool ok; } builder;

/* A conv (4-d shape) or linear (2-d) weight, normal(0, 0.02) for dcgan, else kaiming
 * uniform as torch's default layer init; with a bias when bias. */
static void add_weight(builder *B, int ndim, const int *shape, bool bias) {
    gan_net *n = B->n;
    if (!B->ok || n->nw >= 40) { B->ok = false; return; }
    int i = n->nw;
    tensor *w = table_add(&n->params, B->a, true, ndim, shape, "w.%d", i);
    tensor *b = NULL;
    int bias_len = shape[0];
    if (w && n->arch != GAN_ARCH_MLP && ndim == 4 && n->generator && n->arch == GAN_ARCH_DCGAN)
        bias_len = shape[1];                          /* convT weights are (IN, OUT, K, K) */
    if (w && bias) b = table_add(&n->params, B->a, true, 1, (int[]){bias_len}, "b.%d", i);
    if (!w || (bias && !b)) { B->ok = false; return; }
    if (n->arch == GAN_ARCH_DCGAN) init_normal(w, &B->r, 0, 0.02f);
    else init_kaiming_uniform(w, &B->r, sqrtf(5.0f), false);
    if (b) {
        int fan_in, fan_out;
        init_fans(w, &fan_in, &fan_out);
        float bound = 1.0f / sqrtf((float)fan_in);
        init_uniform(b, &B->r, -bound, bound);
    }
    n->w[i] = w;
    n->b[i] = b;
    if (n->sn) {
        n->snw[i] = spectral_norm_new(B->a, w, rng_u64(&B->r));
        if (!n->snw[i]) { B->ok = false; return; }
        /* u and v persist with the weights (checkpoints restore them exactly) */
        tensor *u = table_add(&n->buffers, B->a, false, 1, n->snw[i]->u->shape, "sn.%d.u", i);
        tensor *v = table_add(&n->buffers, B->a, false, 1, n->snw[i]->v->shape, "sn.%d.v", i);
        if (!u || !v) { B->ok = false; return; }
        memcpy(u->data, n->snw[i]->u->data, sizeof(float) * (size_t)u->numel);
        memcpy(v->data, n->snw[i]->v->data, sizeof(float) * (size_t)v->numel);
        n->snw[i]->u = u;
        n->snw[i]->v = v;
    }
    n->nw++;
}

static void add_bn(builder *B, int c) {
    gan_net *n = B->n;
    if (!B->ok || n->nbn >= 24) { B->ok = false; return; }
    int j = n->nbn;
    n->gamma[j] = table_add(&n->params, B->a, true, 1, &c, "bn.%d.weight", j);
    n->beta[j] = table_add(&n->params, B->a, true, 1, &c, "bn.%d.bias", j);
    n->rmean[j] = table_add(&n->buffers, B->a, false, 1, &c, "bn.%d.running_mean", j);
    n->rvar[j] = table_add(&n->buffers, B->a, false, 1, &c, "bn.%d.running_var", j);
    if (!n->gamma[j] || !n->beta[j] || !n->rmean[j] || !n->rvar[j]) { B->ok = false; return; }
    if (n->arch == GAN_ARCH_DCGAN) init_normal(n->gamma[j], &B->r, 1, 0.02f);
    else tensor_fill(n->gamma[j], 1);
    tensor_fill(n->rvar[j], 1);
    n->nbn++;
}

static void conv(builder *B, int oc, int ic, int k, bool bias) { add_weight(B, 4, (int[]){oc, ic, k, k}, bias); }
static void convT(builder *B, int ic, int oc, int k, bool bias) { add_weight(B, 4, (int[]){ic, oc, k, k}, bias); }
static void linear(builder *B, int out, int in, bool bias) { add_weight(B, 2, (int[]){out, in}, bias); }

static void build_dcgan(builder *B) {
    gan_net *n = B->n;
    int k = n->depth, F = n->width;
    if (n->generator) {
        convT(B, n->nz, F << (k - 1), 4, false);
        add_bn(B, F << (k - 1));
        for (int j = 1; j < k; j++) {
            convT(B, F << (k - j), F << (k - j - 1), 4, false);
            add_bn(B, F << (k - j - 1));
        }
        convT(B, F, n->nc, 4, false);
        return;
    }
    conv(B, F, n->nc, 4, !n->bn);
    for (int j = 1; j < k; j++) {
        conv(B, F << j, F << (j - 1), 4, !n->bn);
        if (n->bn) add_bn(B, F << j);
    }
    conv(B, 1, F << (k - 1), 4, !n->bn);
}

static void build_resnet(builder *B) {
    gan_net *n = B->n;
    int k = n->depth, F = n->width;
    if (n->generator) {
        int c0 = F << (k - 1);
        linear(B, c0 * 16, n->nz, true);
        for (int j = 0; j < k; j++) {
            int ci = j == 0 ? c0 : F << (k - j), co = F << (k - 1 - j);
            if (j == 0) ci = c0;
            add_bn(B, ci);
            conv(B, co, ci, 3, true);
            add_bn(B, co);
            conv(B, co, co, 3, true);
            conv(B, co, ci, 1, true);
        }
        add_bn(B, F);
        conv(B, n->nc, F, 3, true);
        return;
    }
    for (int j = 0; j < k; j++) {
        int ci = j == 0 ? n->nc : F << (j - 1), co = F << j;
        conv(B, co, ci, 3, true);
        conv(B, co, co, 3, true);
        conv(B, co, ci, 1, true);
    }
    linear(B, 1, F << (k - 1), true);
}

/* hidden layers of units[i] (0 = the net's width), then the output layer */
static void build_mlp(builder *B, int hidden, const int *units) {
    gan_net *n = B->n;
    int in = n->generator ? n->nz : n->size, out = n->generator ? n->size : 1;
    for (int i = 0; i < hidden; i++) {
        int u = units[i] > 0 ? units[i] : n->width;
        linear(B, u, in, true);
        in = u;
    }
    linear(B, out, in, true);
}

status gan_net_init(gan_net *n, arena *params, const gan_config *c, bool generator, uint64_t seed) {
    memset(n, 0, sizeof *n);
    n->arch = c->arch;
    n->generator = generator;
    n->size = c->size;
    n->nc = 3;
    n->bn_momentum = 0.1f;
    n->nz = c->z_dim;
    n->noise = c->noise;
    n->width = generator ? c->ngf : c->ndf;
    bool penalty = c->r1 > 0 || c->loss == GAN_LOSS_WGAN_GP;
    n->sn = !generator && c->spectral_norm;
    n->bn = generator ? c->arch != GAN_ARCH_MLP : (c->arch == GAN_ARCH_DCGAN && !c->spectral_norm && !penalty);
    n->depth = c->arch == GAN_ARCH_MLP ? 0 : log2_int(c->size / 4);
    if (!table_new(&n->params, params, 100) || !table_new(&n->buffers, params, 120)) return error_status();
    builder B = {n, params, rng_new(seed), true};
    if (c->arch == GAN_ARCH_DCGAN) build_dcgan(&B);
    else if (c->arch == GAN_ARCH_RESNET) build_resnet(&B);
    else if (generator) build_mlp(&B, c->g_hidden, c->g_units);
    else build_mlp(&B, c->d_hidden, c->d_units);
    if (!B.ok) return error_status() != STATUS_OK ? error_status()
                      : error_set(STATUS_ARG, "gan: network too deep for size %d", c->size);
    return STATUS_OK;
}

/* ---- forward ---- */

/* weight i, through spectral norm when the net has it */
static tensor *W(gan_net *n, arena *a, int i, bool training) {
    return n->sn ? spectral_norm_apply(n->snw[i], a, n->w[i], training) : n->w[i];
}

static tensor *bn(gan_net *n, arena *a, tensor *x, int j, bool training) {
    if (training && n->bn_sync)
        return op_batch_norm_sync(a, x, n->gamma[j], n->beta[j], n->rmean[j], n->rvar[j], n->bn_momentum, 1e-5f, n->bn_sync);
    return op_batch_norm(a, x, n->gamma[j], n->beta[j], n->rmean[j], n->rvar[j], training, n->bn_momentum, 1e-5f);
}

static tensor *dcgan_gen(gan_net *n, arena *a, tensor *z, bool training) {
    conv2d_opts first = conv2d_defaults(), up = conv2d_defaults();
    up.stride = 2;
    up.pad = 1;
    tensor *h = tensor_reshape(a, z, 4, (int[]){z->shape[0], n->nz, 1, 1});
    for (int i = 0; i < n->depth; i++) {
        h = op_conv_transpose2d(a, h, W(n, a, i, training), NULL, i == 0 ? first : up);
        h = op_relu(a, bn(n, a, h, i, training));
    }
    return op_tanh(a, op_conv_transpose2d(a, h, W(n, a, n->depth, training), NULL, up));
}

static tensor *dcgan_disc(gan_net *n, arena *a, tensor *x, bool training) {
    conv2d_opts down = conv2d_defaults(), last = conv2d_defaults();
    down.stride = 2;
    down.pad = 1;
    tensor *h = x;
    for (int i = 0; i < n->depth; i++) {
        h = op_conv2d(a, h, W(n, a, i, training), n->b[i], down);
        if (n->bn && i > 0) h = bn(n, a, h, i - 1, training);
        h = op_leaky_relu(a, h, 0.2f);
    }
    h = op_conv2d(a, h, W(n, a, n->depth, training), n->b[n->depth], last);   /* (N, 1, 1, 1) */
    return h ? tensor_reshape(a, h, 1, (int[]){h->shape[0]}) : NULL;
}

static tensor *conv_same(gan_net *n, arena *a, tensor *x, int i, bool training) {
    conv2d_opts o = conv2d_defaults();
    o.pad = n->w[i]->shape[2] / 2;
    return op_conv2d(a, x, W(n, a, i, training), n->b[i], o);
}

static tensor *resnet_gen(gan_net *n, arena *a, tensor *z, bool training) {
    int c0 = n->width << (n->depth - 1);
    tensor *h = op_linear(a, z, W(n, a, 0, training), n->b[0]);
    h = h ? tensor_reshape(a, h, 4, (int[]){z->shape[0], c0, 4, 4}) : NULL;
    int w = 1, j = 0;
    for (int blk = 0; blk < n->depth; blk++, w += 3, j += 2) {
        tensor *r = op_upsample(a, op_relu(a, bn(n, a, h, j, training)), UPSAMPLE_NEAREST, 2);
        r = conv_same(n, a, r, w, training);
        r = conv_same(n, a, op_relu(a, bn(n, a, r, j + 1, training)), w + 1, training);
        tensor *s = conv_same(n, a, op_upsample(a, h, UPSAMPLE_NEAREST, 2), w + 2, training);
        h = op_add(a, r, s);
    }
    h = op_relu(a, bn(n, a, h, j, training));
    return op_tanh(a, conv_same(n, a, h, w, training));
}

static tensor *resnet_disc(gan_net *n, arena *a, tensor *x, bool training) {
    tensor *h = x;
    int w = 0;
    for (int blk = 0; blk < n->depth; blk++, w += 3) {
        tensor *r = blk == 0 ? h : op_relu(a, h);
        r = conv_same(n, a, op_relu(a, conv_same(n, a, r, w, training)), w + 1, training);
        r = op_avg_pool2d(a, r, 2, 2, 0);
        tensor *s = blk == 0 ? conv_same(n, a, op_avg_pool2d(a, h, 2, 2, 0), w + 2, training)
                             : op_avg_pool2d(a, conv_same(n, a, h, w + 2, training), 2, 2, 0);
        h = op_add(a, r, s);
    }
    h = op_sum(a, op_relu(a, h), (1 << 2) | (1 << 3), false);                 /* (N, C) */
    h = op_linear(a, h, W(n, a, w, training), n->b[w]);                        /* (N, 1) */
    return h ? tensor_reshape(a, h, 1, (int[]){h->shape[0]}) : NULL;
}

static tensor *mlp(gan_net *n, arena *a, tensor *x, bool training) {
    tensor *h = x;
    for (int i = 0; i < n->nw; i++) {
        h = op_linear(a, h, W(n, a, i, training), n->b[i]);
        if (i < n->nw - 1) h = n->generator ? op_relu(a, h) : op_leaky_relu(a, h, 0.2f);
    }
    if (!n->generator && h) h = tensor_reshape(a, h, 1, (int[]){h->shape[0]});
    return h;
}

tensor *gan_g_forward(gan_net *g, arena *a, tensor *z, bool training) {
    if (!z) return NULL;
    if (z->ndim != 2 || z->shape[1] != g->nz) {
        char buf[64];
        error_set(STATUS_SHAPE, "gan: latent of shape %s, want (N, %d)", tensor_shape_str(z, buf), g->nz);
        return NULL;
    }
    if (g->arch == GAN_ARCH_DCGAN) return dcgan_gen(g, a, z, training);
    if (g->arch == GAN_ARCH_RESNET) return resnet_gen(g, a, z, training);
    return mlp(g, a, z, training);
}

tensor *gan_d_forward(gan_net *d, arena *a, tensor *x, bool training) {
    if (!x) return NULL;
    bool ok = d->arch == GAN_ARCH_MLP ? x->ndim == 2 && x->shape[1] == d->size
            : x->ndim == 4 && x->shape[1] == d->nc && x->shape[2] == d->size && x->shape[3] == d->size;
    if (!ok) {
        char buf[64];
        error_set(STATUS_SHAPE, "gan: discriminator input of shape %s does not fit size %d",
                  tensor_shape_str(x, buf), d->size);
        return NULL;
    }
    if (d->arch == GAN_ARCH_DCGAN) return dcgan_disc(d, a, x, training);
    if (d->arch == GAN_ARCH_RESNET) return resnet_disc(d, a, x, training);
    return mlp(d, a, x, training);
}
