/* ops_spatial.c: pooling, resizing and padding ops over x (N, C, H, W).
 *
 * Each op validates its arguments as PyTorch does (so a network that runs there runs here),
 * saves its geometry for backward and runs the current backend's kernels (backend.h).
 * Arguments that are wrong in themselves (a kernel of 0, a negative pad) are STATUS_ARG;
 * arguments that do not fit this input (a kernel larger than the padded image, a
 * reflection pad as wide as the image) are STATUS_SHAPE, and the message names the shape.
 */
#include "ops_internal.h"

/* ---- pooling ---- */

static void avg_pool2d_backward(tensor *y) {
    const pool2d_params *p = y->saved;
    backend_current()->avg_pool2d_backward(ops_grad_or_null(y->src[0]), y->grad, p);
}

static void max_pool2d_backward(tensor *y) {
    const pool2d_params *p = y->saved;
    tensor *x = y->src[0];
    backend_current()->max_pool2d_backward(ops_grad_or_null(x), y->grad, x->data, p);
}

/* Checks kernel, stride and pad against x (N, C, H, W) and fills the geometry. PyTorch
 * requires pad <= kernel / 2, which also guarantees every window holds a real pixel. */
static bool pool_params(const char *op, const tensor *x, int kernel, int stride, int pad,
                        pool2d_params *p) {
    char buf[64];
    if (!ops_check_ndim(op, "input", x, 4)) return false;
    if (kernel < 1 || stride < 1 || pad < 0 || pad > kernel / 2) {
        error_set(STATUS_ARG, "%s: kernel %d, stride %d, pad %d: need kernel >= 1, stride >= 1 "
                  "and 0 <= pad <= kernel / 2", op, kernel, stride, pad);
        return false;
    }
    int h = x->shape[2], w = x->shape[3];
    if (h + 2 * pad < kernel || w + 2 * pad < kernel) {
        error_set(STATUS_SHAPE, "%s: input %s is smaller than kernel %d with pad %d", op,
                  tensor_shape_str(x, buf), kernel, pad);
        return false;
    }
    *p = (pool2d_params){
        .n = x->shape[0], .c = x->shape[1], .h = h, .w = w,
        .oh = (h + 2 * pad - kernel) / stride + 1, .ow = (w + 2 * pad - kernel) / stride + 1,
        .kh = kernel, .kw = kernel, .stride_h = stride, .stride_w = stride,
        .pad_h = pad, .pad_w = pad, .count_include_pad = true,
    };
    return true;
}

/* The shared body of both pools: y (N, C, OH, OW) from x (N, C, H, W). */
static tensor *pool2d(arena *a, tensor *x, int kernel, int stride, int pad, bool is_max) {
    const char *op = is_max ? "max_pool2d" : "avg_pool2d";
    pool2d_params p;
    if (!x || !pool_params(op, x, kernel, stride, pad, &p)) return NULL;
    tensor *y = tensor_op_result(a, 4, (int[]){p.n, p.c, p.oh, p.ow}, op,
                                 is_max ? max_pool2d_backward : avg_pool2d_backward, &x, 1);
    if (!y) return NULL;
    if (y->backward) {
        pool2d_params *saved = arena_alloc(a, sizeof *saved);
        if (!saved) return NULL;
        *saved = p;
        y->saved = saved;
    }
    const backend *be = backend_current();
    if (is_max) be->max_pool2d_forward(y->data, x->data, &p);
    else be->avg_pool2d_forward(y->data, x->data, &p);
    return y;
}

tensor *op_avg_pool2d(arena *a, tensor *x, int kernel, int stride, int pad) {
    // x (N, C, H, W) -> (N, C, OH, OW), OH = (H + 2 pad - kernel) / stride + 1
    return pool2d(a, x, kernel, stride, pad, false);
}

tensor *op_max_pool2d(arena *a, tensor *x, int kernel, int stride, int pad) {
    // x (N, C, H, W) -> (N, C, OH, OW), OH = (H + 2 pad - kernel) / stride + 1
    return pool2d(a, x, kernel, stride, pad, true);
}

/* ---- upsampling ---- */

typedef struct upsample_saved {
    upsample_mode mode;
    bool align_corners;
} upsample_saved;

static void upsample_backward(tensor *y) {
    const upsample_saved *s = y->saved;
    tensor *x = y->src[0];
    backend_current()->upsample_backward(s->mode, s->align_corners, ops_grad_or_null(x), y->grad,
                                         x->shape[0], x->shape[1], x->shape[2], x->shape[3],
                                         y->shape[2], y->shape[3]);
}

/* y (N, C, OH, OW) resized from x (N, C, H, W); the sizes are already checked. */
static tensor *upsample_run(arena *a, const char *op, tensor *x, upsample_mode m, int oh, int ow,
                            bool align_corners) {
    int n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
    tensor *y = tensor_op_result(a, 4, (int[]){n, c, oh, ow}, op, upsample_backward, &x, 1);
    if (!y) return NULL;
    if (y->backward) {
        upsample_saved *s = arena_alloc(a, sizeof *s);
        if (!s) return NULL;
        *s = (upsample_saved){m, align_corners};
        y->saved = s;
    }
    backend_current()->upsample_forward(m, align_corners, y->data, x->data, n, c, h, w, oh, ow);
    return y;
}

static bool upsample_check_mode(const char *op, upsample_mode m) {
    if (m == UPSAMPLE_NEAREST || m == UPSAMPLE_BILINEAR) return true;
    error_set(STATUS_ARG, "%s: unknown mode %d", op, (int)m);
    return false;
}

tensor *op_upsample(arena *a, tensor *x, upsample_mode m, int factor) {
    // x (N, C, H, W) -> (N, C, H factor, W factor); bilinear uses align_corners false, as
    // F.interpolate(scale_factor=factor) does by default
    if (!x || !ops_check_ndim("upsample", "input", x, 4) || !upsample_check_mode("upsample", m))
        return NULL;
    if (factor < 1 || (int64_t)x->shape[2] * factor > INT32_MAX ||
        (int64_t)x->shape[3] * factor > INT32_MAX) {
        error_set(STATUS_ARG, "upsample: factor %d must be >= 1 (and keep sizes in int range)",
                  factor);
        return NULL;
    }
    return upsample_run(a, "upsample", x, m, x->shape[2] * factor, x->shape[3] * factor, false);
}

tensor *op_upsample_to(arena *a, tensor *x, upsample_mode m, int oh, int ow, bool align_corners) {
    // x (N, C, H, W) -> (N, C, OH, OW); any sizes, larger or smaller
    if (!x || !ops_check_ndim("upsample_to", "input", x, 4) ||
        !upsample_check_mode("upsample_to", m))
        return NULL;
    if (oh < 1 || ow < 1) {
        error_set(STATUS_ARG, "upsample_to: size (%d, %d) must be at least (1, 1)", oh, ow);
        return NULL;
    }
    if (align_corners && m == UPSAMPLE_NEAREST) {  // PyTorch refuses this combination too
        error_set(STATUS_ARG, "upsample_to: align_corners applies to bilinear only, not nearest");
        return NULL;
    }
    return upsample_run(a, "upsample_to", x, m, oh, ow, align_corners);
}

/* ---- padding ---- */

typedef struct pad_saved {
    pad_mode mode;
    int top, bottom, left, right;
} pad_saved;

static void pad_backward(tensor *y) {
    const pad_saved *s = y->saved;
    tensor *x = y->src[0];
    backend_current()->pad_backward(s->mode, ops_grad_or_null(x), y->grad, x->shape[0],
                                    x->shape[1], x->shape[2], x->shape[3], s->top, s->bottom,
                                    s->left, s->right);
}

/* Pads must be >= 0; reflection needs each pad < the dim it pads (ReflectionPad2d). */
static bool pad_check(const tensor *x, pad_mode m, const pad_saved *s) {
    char buf[64];
    if (m != PAD_ZERO && m != PAD_REFLECT && m != PAD_REPLICATE) {
        error_set(STATUS_ARG, "pad: unknown mode %d", (int)m);
        return false;
    }
    if (s->top < 0 || s->bottom < 0 || s->left < 0 || s->right < 0) {
        error_set(STATUS_ARG, "pad: pads (top %d, bottom %d, left %d, right %d) must be >= 0",
                  s->top, s->bottom, s->left, s->right);
        return false;
    }
    int h = x->shape[2], w = x->shape[3];
    if (m == PAD_REFLECT && (s->top >= h || s->bottom >= h || s->left >= w || s->right >= w)) {
        error_set(STATUS_SHAPE, "pad: reflection pads (top %d, bottom %d, left %d, right %d) "
                  "must be smaller than input %s's H and W", s->top, s->bottom, s->left,
                  s->right, tensor_shape_str(x, buf));
        return false;
    }
    return true;
}

tensor *op_pad(arena *a, tensor *x, pad_mode m, int top, int bottom, int left, int right) {
    // x (N, C, H, W) -> (N, C, H + top + bottom, W + left + right)
    pad_saved s = {m, top, bottom, left, right};
    if (!x || !ops_check_ndim("pad", "input", x, 4) || !pad_check(x, m, &s)) return NULL;
    int n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
    tensor *y = tensor_op_result(a, 4, (int[]){n, c, h + top + bottom, w + left + right}, "pad",
                                 pad_backward, &x, 1);
    if (!y) return NULL;
    if (y->backward) {
        pad_saved *saved = arena_alloc(a, sizeof *saved);
        if (!saved) return NULL;
        *saved = s;
        y->saved = saved;
    }
    backend_current()->pad_forward(m, y->data, x->data, n, c, h, w, top, bottom, left, right);
    return y;
}
