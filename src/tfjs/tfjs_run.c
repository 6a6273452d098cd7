/* tfjs_run.c: the forward pass of a loaded TF.js layers model (tfjs.h) through the ops, in
 * NCHW, with Keras' padding rules. Only the layers the requested outputs depend on run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/ops.h"
#include "tfjs_internal.h"

/* TF's 'same' padding along one axis: the output is ceil(in / stride); the padding it takes
 * goes half before and the rest (the larger half) after. */
static void same_pad(int in, int k, int s, int d, int *before, int *after) {
    int out = (in + s - 1) / s, total = (out - 1) * s + (k - 1) * d + 1 - in;
    if (total < 0) total = 0;
    *before = total / 2;
    *after = total - *before;
}

static tensor *softmax(arena *a, tensor *x) {
    if (!x) return NULL;
    float mx = -INFINITY;   /* a constant shift: softmax and its gradient do not change */
    for (int64_t i = 0; i < x->numel; i++) mx = x->data[i] > mx ? x->data[i] : mx;
    tensor *e = op_exp(a, op_sub_scalar(a, x, isfinite(mx) ? mx : 0.0f));
    return op_div(a, e, op_sum(a, e, 1 << 1, true));
}

static tensor *activate(arena *a, tensor *x, tfjs_act act) {
    switch (act) {
    case TFJS_ACT_LINEAR: return x;
    case TFJS_ACT_RELU: return op_relu(a, x);
    case TFJS_ACT_RELU6: return op_relu_cap(a, x, 6.0f);
    case TFJS_ACT_SIGMOID: return op_sigmoid(a, x);
    case TFJS_ACT_TANH: return op_tanh(a, x);
    case TFJS_ACT_SOFTMAX: return softmax(a, x);
    }
    return x;
}

static bool needs_4d(const tfjs_model *m, const tfjs_layer *L, const tensor *x) {
    if (x->ndim == 4) return true;
    char buf[64];
    error_set(STATUS_SHAPE, "%s: layer '%s' (%s) wants a spatial input but gets %s", m->path, L->name, L->cls, tensor_shape_str(x, buf));
    return false;
}

/* Conv2D / DepthwiseConv2D with weights w, b (the folded ones when fused); relu fuses a ReLU. */
static tensor *conv(arena *a, const tfjs_layer *L, tensor *x, tensor *w, tensor *b, bool relu) {
    int t = 0, bt = 0, l = 0, r = 0;
    if (L->same) {
        same_pad(x->shape[2], L->kh, L->sh, L->dh, &t, &bt);
        same_pad(x->shape[3], L->kw, L->sw, L->dw, &l, &r);
    }
    conv2d_opts o = conv2d_defaults();
    o.stride_h = L->sh; o.stride_w = L->sw;
    o.dil_h = L->dh; o.dil_w = L->dw;
    o.groups = L->groups;
    if (t == bt && l == r) { o.pad_h = t; o.pad_w = l; }
    else x = op_pad(a, x, PAD_ZERO, t, bt, l, r);
    return relu ? op_conv2d_relu(a, x, w, b, o) : op_conv2d(a, x, w, b, o);
}

static tensor *pool(arena *a, const tfjs_layer *L, tensor *x) {
    int t = 0, bt = 0, l = 0, r = 0, k = L->kh, s = L->sh;
    if (L->same) {
        same_pad(x->shape[2], k, s, 1, &t, &bt);
        same_pad(x->shape[3], k, s, 1, &l, &r);
    }
    bool padded = t || bt || l || r;
    if (L->kind == TFJS_MAXPOOL) {
        /* replicated edges never win a max that the edge pixel itself would not: the same
         * result as TF's padding with -inf */
        if (padded) x = op_pad(a, x, PAD_REPLICATE, t, bt, l, r);
        return op_max_pool2d(a, x, k, s, 0);
    }
    if (!padded) return op_avg_pool2d(a, x, k, s, 0);
    /* TF's 'same' average counts only real pixels: the pool over zero padding (divided by
     * k^2) times k^2 / (the real pixels in each window), a constant map (1, 1, OH, OW).
     * Symmetric padding (odd k, stride 1: Inception's branches) pads inside the pool, with no
     * padded copy of x. */
    bool sym = t == bt && l == r && t == l && t <= k / 2;
    tensor *sum = sym ? op_avg_pool2d(a, x, k, s, t) : op_avg_pool2d(a, op_pad(a, x, PAD_ZERO, t, bt, l, r), k, s, 0);
    if (!sum) return NULL;
    int oh = sum->shape[2], ow = sum->shape[3], h = x->shape[2], w = x->shape[3];
    tensor *scale = tensor_new(a, 4, (int[]){1, 1, oh, ow});
    if (!scale) return NULL;
    for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++) {
            int y0 = i * s - t, x0 = j * s - l;
            int ry = (y0 + k > h ? h : y0 + k) - (y0 < 0 ? 0 : y0), rx = (x0 + k > w ? w : x0 + k) - (x0 < 0 ? 0 : x0);
            scale->data[i * ow + j] = (float)(k * k) / (float)(ry * rx);
        }
    return op_mul(a, sum, scale);
}

/* Keras' Flatten is channels-last: (N, C, H, W) -> (N, H W C) in (h, w, c) order. */
static tensor *flatten(arena *a, tensor *x) {
    if (x->ndim == 2) return x;
    int n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
    if (h * w == 1) return tensor_reshape(a, x, 2, (int[]){n, c});
    if ((int64_t)h * w > 4096) { error_set(STATUS_SHAPE, "flatten: %dx%d positions is too many (at most 4096)", h, w); return NULL; }
    tensor **cols = arena_alloc(a, (size_t)h * w * sizeof *cols);
    if (!cols) return NULL;
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++)
            cols[i * w + j] = tensor_reshape(a, op_slice(a, op_slice(a, x, 2, i, i + 1), 3, j, j + 1), 2, (int[]){n, c});
    for (int i = 0; i < h * w; i++) if (!cols[i]) return NULL;
    return op_concat(a, cols, h * w, 1);
}

static tensor *reshape(arena *a, const tfjs_model *m, const tfjs_layer *L, tensor *x) {
    int64_t f = x->numel / x->shape[0], prod = 1;
    for (int i = 0; i < L->reshape_n; i++) prod *= L->reshape[i];
    bool flat_in = x->ndim == 2 || (x->ndim == 4 && x->shape[2] * x->shape[3] == 1);
    if (prod == f && flat_in) {
        if (L->reshape_n == 1) return tensor_reshape(a, x, 2, (int[]){x->shape[0], (int)f});
        if (L->reshape_n == 3 && L->reshape[0] * L->reshape[1] == 1)
            return tensor_reshape(a, x, 4, (int[]){x->shape[0], (int)f, 1, 1});
    }
    char buf[64];
    error_set(STATUS_SHAPE, "%s: layer '%s': Reshape of %s to that target is not supported (only to or from a flat vector)",
              m->path, L->name, tensor_shape_str(x, buf));
    return NULL;
}

static int concat_axis(const tfjs_layer *L, int ndim) {
    int ax = L->axis < 0 ? ndim - 1 : L->axis;   /* Keras axis, channels last */
    if (ndim == 2) return ax == 1 ? 1 : -1;
    return ax == 3 ? 1 : ax == 1 ? 2 : ax == 2 ? 3 : -1;
}

/* One layer that is not part of a fused convolution. */
static tensor *layer_forward(arena *a, const tfjs_model *m, const tfjs_layer *L, tensor **val, tensor *x) {
    tensor *in = L->nin ? val[L->in[0]] : x;
    if (!in) return NULL;
    char buf[64];
    switch (L->kind) {
    case TFJS_INPUT:
        if (x->ndim != 4 || (m->in_c && x->shape[1] != m->in_c)) {
            error_set(STATUS_SHAPE, "%s: input %s, but the model takes (N, %d, H, W)", m->path, tensor_shape_str(x, buf), m->in_c);
            return NULL;
        }
        return x;
    case TFJS_CONV: case TFJS_DEPTHWISE:
        return needs_4d(m, L, in) ? activate(a, conv(a, L, in, L->w, L->b, false), L->act) : NULL;
    case TFJS_BATCHNORM: {
        tensor *t = in->ndim == 2 ? tensor_reshape(a, in, 4, (int[]){in->shape[0], in->shape[1], 1, 1}) : in;
        tensor *y = op_batch_norm(a, t, L->gamma, L->beta, L->mean, L->var, false, 0.0f, L->eps);
        return y && in->ndim == 2 ? tensor_reshape(a, y, 2, in->shape) : y;
    }
    case TFJS_ACTIVATION: return activate(a, in, L->act);
    case TFJS_RELU:
        return L->max_value >= 0 ? op_relu_cap(a, in, L->max_value) : L->slope != 0 ? op_leaky_relu(a, in, L->slope) : op_relu(a, in);
    case TFJS_ADD: {
        tensor *y = in;
        for (int k = 1; k < L->nin; k++) y = op_add(a, y, val[L->in[k]]);
        return y;
    }
    case TFJS_CONCAT: {
        tensor *xs[TFJS_MAX_INBOUND];
        for (int k = 0; k < L->nin; k++) if (!(xs[k] = val[L->in[k]])) return NULL;
        int ax = concat_axis(L, in->ndim);
        if (ax < 0) { error_set(STATUS_SHAPE, "%s: layer '%s': axis %d does not fit %s", m->path, L->name, L->axis, tensor_shape_str(in, buf)); return NULL; }
        return op_concat(a, xs, L->nin, ax);
    }
    case TFJS_MAXPOOL: case TFJS_AVGPOOL: return needs_4d(m, L, in) ? pool(a, L, in) : NULL;
    case TFJS_ZEROPAD: return needs_4d(m, L, in) ? op_pad(a, in, PAD_ZERO, L->pad[0], L->pad[1], L->pad[2], L->pad[3]) : NULL;
    case TFJS_GLOBALAVG: return needs_4d(m, L, in) ? op_mean(a, in, (1 << 2) | (1 << 3), false) : NULL;
    case TFJS_DENSE:
        if (in->ndim != 2) {
            error_set(STATUS_SHAPE, "%s: layer '%s' (Dense) wants a flat input but gets %s", m->path, L->name, tensor_shape_str(in, buf));
            return NULL;
        }
        return activate(a, op_linear(a, in, L->w, L->b), L->act);
    case TFJS_IDENTITY: return in;
    case TFJS_FLATTEN: return flatten(a, in);
    case TFJS_RESHAPE: return reshape(a, m, L, in);
    }
    return NULL;
}

/* The layer whose only input is layer i and which is i's only consumer, or -1. */
static int sole_next(const tfjs_model *m, int i) {
    if (m->layers[i].consumers != 1) return -1;
    for (int j = i + 1; j < m->n; j++)
        if (m->layers[j].nin == 1 && m->layers[j].in[0] == i) return j;
    return -1;
}

static bool plain_relu(const tfjs_layer *L) {
    return (L->kind == TFJS_ACTIVATION && L->act == TFJS_ACT_RELU) ||
           (L->kind == TFJS_RELU && L->max_value < 0 && L->slope == 0);
}

status tfjs_run(const tfjs_model *m, arena *a, tensor *x, int n, const char *const *names, tensor **outs, bool partial) {
    int *idx = malloc((size_t)n * sizeof(int));
    bool *want = calloc((size_t)m->n, sizeof(bool)), *need = calloc((size_t)m->n, sizeof(bool));
    tensor **val = calloc((size_t)m->n, sizeof(tensor *));
    status st = idx && want && need && val ? STATUS_OK : error_set(STATUS_NOMEM, "tfjs: out of memory");
    for (int k = 0; st == STATUS_OK && k < n; k++) {
        if (!names[k] || (idx[k] = tfjs_layer_find(m, names[k])) < 0) {
            st = error_set(STATUS_ARG, "%s: no layer named '%s' (the output layer is '%s')", m->path, names[k] ? names[k] : "(null)",
                           m->layers[m->output].name);
            break;
        }
        want[idx[k]] = need[idx[k]] = true;
    }
    for (int i = m->n - 1; st == STATUS_OK && i >= 0; i--)
        if (need[i])
            for (int k = 0; k < m->layers[i].nin; k++) need[m->layers[i].in[k]] = true;
    for (int i = 0; st == STATUS_OK && i < m->n; i++) {
        const tfjs_layer *L = &m->layers[i];
        if (!need[i] || val[i]) continue;
        bool inputs_ok = true;
        for (int k = 0; k < L->nin; k++) inputs_ok = inputs_ok && val[L->in[k]];
        if (partial && !inputs_ok) continue;   /* after a layer that failed */
        if (L->fold >= 0 && !want[i] && need[L->fold] && val[L->in[0]]) {
            /* conv + batch norm (+ ReLU) as one convolution with the norm folded in */
            int bn = L->fold, next = want[bn] ? -1 : sole_next(m, bn);
            bool relu = next >= 0 && plain_relu(&m->layers[next]) && need[next];
            tensor *in = val[L->in[0]];
            tensor *y = needs_4d(m, L, in) ? conv(a, L, in, L->wf, L->bf, relu) : NULL;
            if (!y) { st = error_status(); break; }
            val[i] = y;   /* not asked for, and only the norm reads it */
            val[bn] = y;
            if (relu) val[next] = y;
            continue;
        }
        if (!(val[i] = layer_forward(a, m, L, val, x))) {
            if (partial) { error_clear(); continue; }
            st = error_status() != STATUS_OK ? error_status() : error_set(STATUS_ARG, "%s: layer '%s' failed", m->path, L->name);
            if (error_message()[0] && !strstr(error_message(), L->name)) {
                /* name the layer in front of an op's message */
                char msg[512];
                snprintf(msg, sizeof msg, "%s", error_message());
                error_clear();
                st = error_set(st, "%s: layer '%s': %s", m->path, L->name, msg);
            }
            break;
        }
    }
    for (int k = 0; st == STATUS_OK && k < n; k++) outs[k] = val[idx[k]];
    if (partial && st == STATUS_OK && n && !outs[0] && !val[m->input]) st = error_set(STATUS_ARG, "%s: no layer could run", m->path);
    free(idx); free(want); free(need); free(val);
    return st;
}
