/* ops_conv.c: 2-d convolution and transposed convolution (ops.h), over the backend's
 * conv kernels (backend.h, reference in ref/ref_conv.c).
 *
 * Shapes (as PyTorch's torch.nn.functional.conv2d / conv_transpose2d):
 *   conv2d:           x (N, C, H, W), w (OC, C/groups, KH, KW), b (OC) -> y (N, OC, OH, OW),
 *                     OH = (H + 2 pad - dil (KH - 1) - 1) / stride + 1
 *   conv_transpose2d: x (N, C, H, W), w (C, OC/groups, KH, KW), b (OC) -> y (N, OC, OH, OW),
 *                     OH = (H - 1) stride - 2 pad + dil (KH - 1) + out_pad + 1
 * (likewise OW). Options that are wrong in themselves (stride 0, groups 0, out_pad too large)
 * are STATUS_ARG; shapes that do not fit each other are STATUS_SHAPE and the message names
 * both shapes, so the arguments are validated as PyTorch does before any kernel runs.
 */
#include <stdio.h>
#include "ops_internal.h"

conv2d_opts conv2d_defaults(void) {
    return (conv2d_opts){.stride = 1, .pad = 0, .dilation = 1, .groups = 1};
}

static int pick(int specific, int general) { return specific ? specific : general; }

/* The per-dimension options of o, range-checked, into p (geometry comes later). */
static bool resolve_opts(const char *op, conv2d_opts o, bool transpose, conv2d_params *p) {
    p->stride_h = pick(o.stride_h, o.stride); p->stride_w = pick(o.stride_w, o.stride);
    p->pad_h = pick(o.pad_h, o.pad);          p->pad_w = pick(o.pad_w, o.pad);
    p->dil_h = pick(o.dil_h, o.dilation);     p->dil_w = pick(o.dil_w, o.dilation);
    p->groups = o.groups;
    p->out_pad_h = p->out_pad_w = o.out_pad;
    if (p->stride_h < 1 || p->stride_w < 1 || p->dil_h < 1 || p->dil_w < 1 || p->groups < 1 ||
        p->pad_h < 0 || p->pad_w < 0) {
        error_set(STATUS_ARG, "%s: stride %dx%d, pad %dx%d, dilation %dx%d, groups %d: need "
                  "stride, dilation, groups >= 1 and pad >= 0", op, p->stride_h, p->stride_w,
                  p->pad_h, p->pad_w, p->dil_h, p->dil_w, p->groups);
        return false;
    }
    if (!transpose && o.out_pad != 0) {
        error_set(STATUS_ARG, "conv2d: out_pad %d is for conv_transpose2d only", o.out_pad);
        return false;
    }
    /* PyTorch: "output padding must be smaller than either stride or dilation" */
    if (o.out_pad < 0 || (o.out_pad >= p->stride_h && o.out_pad >= p->dil_h) ||
        (o.out_pad >= p->stride_w && o.out_pad >= p->dil_w)) {
        error_set(STATUS_ARG, "%s: out_pad %d must be >= 0 and smaller than stride %dx%d or "
                  "dilation %dx%d", op, o.out_pad, p->stride_h, p->stride_w, p->dil_h, p->dil_w);
        return false;
    }
    return true;
}

/* x, w 4-d; x's channels meet w's dim 1 (times groups) for conv2d, w's dim 0 for
 * conv_transpose2d; w's dim 0 is split into groups (conv2d's output channels,
 * conv_transpose2d's input channels) and so must divide by them. */
static bool check_channels(const char *op, const tensor *x, const tensor *w, int groups,
                           bool transpose) {
    char b1[64], b2[64];
    if (!ops_check_ndim(op, "input", x, 4) || !ops_check_ndim(op, "weight", w, 4)) return false;
    int expect = transpose ? w->shape[0] : w->shape[1] * groups;
    if (x->shape[1] != expect) {
        char per[64] = "";
        if (!transpose && groups > 1)
            snprintf(per, sizeof per, " (%d per group x %d groups)", w->shape[1], groups);
        error_set(STATUS_SHAPE, "%s: input %s has %d channels but weight %s expects %d%s", op,
                  tensor_shape_str(x, b1), x->shape[1], tensor_shape_str(w, b2), expect, per);
        return false;
    }
    if (w->shape[0] % groups != 0) {
        error_set(STATUS_SHAPE, "%s: weight %s has %d %s channels, not divisible by groups %d",
                  op, tensor_shape_str(w, b2), w->shape[0], transpose ? "input" : "output",
                  groups);
        return false;
    }
    return true;
}

/* b is NULL or (OC). */
static bool check_bias(const char *op, const tensor *b, const tensor *w, int oc) {
    char b1[64], b2[64];
    if (!b || (b->ndim == 1 && b->shape[0] == oc)) return true;
    error_set(STATUS_SHAPE, "%s: bias %s does not fit weight %s: want (%d)", op,
              tensor_shape_str(b, b1), tensor_shape_str(w, b2), oc);
    return false;
}

/* The full geometry of a convolution of x (N, C, H, W) by w; false if it does not fit. */
static bool conv_geometry(const char *op, const tensor *x, const tensor *w, const tensor *b,
                          conv2d_opts o, bool transpose, conv2d_params *p) {
    char b1[64], b2[64];
    if (!resolve_opts(op, o, transpose, p) || !check_channels(op, x, w, p->groups, transpose))
        return false;
    p->n = x->shape[0]; p->c = x->shape[1]; p->h = x->shape[2]; p->w = x->shape[3];
    p->oc = transpose ? w->shape[1] * p->groups : w->shape[0];
    p->kh = w->shape[2]; p->kw = w->shape[3];
    if (!check_bias(op, b, w, p->oc)) return false;
    /* the extent of a dilated kernel: dil (K - 1) + 1 */
    int64_t span_h = (int64_t)p->dil_h * (p->kh - 1) + 1, span_w = (int64_t)p->dil_w * (p->kw - 1) + 1;
    int64_t oh, ow;
    if (transpose) {
        oh = (int64_t)(p->h - 1) * p->stride_h - 2 * p->pad_h + span_h + p->out_pad_h;
        ow = (int64_t)(p->w - 1) * p->stride_w - 2 * p->pad_w + span_w + p->out_pad_w;
    } else {  /* a negative numerator must not truncate to 0 and pass */
        int64_t nh = p->h + 2 * (int64_t)p->pad_h - span_h, nw = p->w + 2 * (int64_t)p->pad_w - span_w;
        oh = nh < 0 ? 0 : nh / p->stride_h + 1;
        ow = nw < 0 ? 0 : nw / p->stride_w + 1;
    }
    if (oh < 1 || ow < 1 || oh > 1 << 30 || ow > 1 << 30) {
        error_set(STATUS_SHAPE, "%s: input %s with weight %s, pad %dx%d, dilation %dx%d gives "
                  "an output of %lldx%lld", op, tensor_shape_str(x, b1), tensor_shape_str(w, b2),
                  p->pad_h, p->pad_w, p->dil_h, p->dil_w, (long long)oh, (long long)ow);
        return false;
    }
    p->oh = (int)oh; p->ow = (int)ow;
    return true;
}

static void conv2d_backward(tensor *y) {
    tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    backend_current()->conv2d_backward(ops_grad_or_null(x), ops_grad_or_null(w),
                                       ops_grad_or_null(b), y->grad, x->data, w->data, y->saved);
}

/* relu(conv): dy masked by y > 0 in place (ops_act_mask), then conv's. */
static void conv2d_relu_backward(tensor *y) {
    tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    ops_act_mask(y, 0);
    backend_current()->conv2d_backward(ops_grad_or_null(x), ops_grad_or_null(w),
                                       ops_grad_or_null(b), y->grad, x->data, w->data, y->saved);
}

static void conv_transpose2d_backward(tensor *y) {
    tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    backend_current()->conv_transpose2d_backward(ops_grad_or_null(x), ops_grad_or_null(w),
                                                 ops_grad_or_null(b), y->grad, x->data, w->data,
                                                 y->saved);
}

/* The shared body: validate, allocate y (N, OC, OH, OW), save the geometry, run forward. */
static tensor *conv_op(arena *a, tensor *x, tensor *w, tensor *b, conv2d_opts o, bool transpose,
                       bool relu) {
    const char *op = transpose ? "conv_transpose2d" : relu ? "conv2d_relu" : "conv2d";
    conv2d_params p;
    if (!x || !w || !conv_geometry(op, x, w, b, o, transpose, &p)) return NULL;
    p.relu = relu;
    backward_fn bw = transpose ? conv_transpose2d_backward : relu ? conv2d_relu_backward : conv2d_backward;
    tensor *y = tensor_op_result(a, 4, (int[]){p.n, p.oc, p.oh, p.ow}, op, bw, (tensor *[]){x, w, b}, 3);
    if (!y) return NULL;
    if (y->backward) {
        conv2d_params *saved = arena_alloc(a, sizeof *saved);
        if (!saved) return NULL;
        *saved = p;
        y->saved = saved;
    }
    const backend *be = backend_current();
    const float *bd = b ? b->data : NULL;
    if (transpose) be->conv_transpose2d_forward(y->data, x->data, w->data, bd, &p);
    else be->conv2d_forward(y->data, x->data, w->data, bd, &p);
    return y;
}

tensor *op_conv2d(arena *a, tensor *x, tensor *w, tensor *b, conv2d_opts o) {
    // x (N, C, H, W), w (OC, C/groups, KH, KW), b (OC) or NULL -> (N, OC, OH, OW)
    return conv_op(a, x, w, b, o, false, false);
}

tensor *op_conv2d_relu(arena *a, tensor *x, tensor *w, tensor *b, conv2d_opts o) {
    return conv_op(a, x, w, b, o, false, true);
}

tensor *op_conv_transpose2d(arena *a, tensor *x, tensor *w, tensor *b, conv2d_opts o) {
    // x (N, C, H, W), w (C, OC/groups, KH, KW), b (OC) or NULL -> (N, OC, OH, OW)
    return conv_op(a, x, w, b, o, true, false);
}
