/* ops_basic.c: elementwise ops with broadcasting, scalar forms, activations and
 * reductions, and the helpers every op file shares (ops_internal.h). */
#include <stdio.h>
#include "ops_internal.h"

/* ---- shared helpers ---- */

float *ops_grad_or_null(tensor *t) { return t && t->requires_grad ? tensor_grad(t) : NULL; }

void ops_act_mask(tensor *y, float slope) {
    float *g = y->grad;
    const float *v = y->data;
    int64_t n = y->numel;
    /* elementwise: the same result on any number of threads */
    #pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; i++)
        if (!(v[i] > 0)) g[i] = slope == 0 ? 0.0f : g[i] * slope;
}

int ops_axis(const char *op, int axis, int ndim) {
    int ax = axis < 0 ? axis + ndim : axis;
    if (ax < 0 || ax >= ndim) {
        error_set(STATUS_ARG, "%s: axis %d out of range for %d dims", op, axis, ndim);
        return -1;
    }
    return ax;
}

bool ops_check_ndim(const char *op, const char *what, const tensor *x, int ndim) {
    char buf[64];
    if (x->ndim == ndim) return true;
    error_set(STATUS_SHAPE, "%s: %s must have %d dims%s, got %s", op, what, ndim,
              ndim == 4 ? " (N, C, H, W)" : "", tensor_shape_str(x, buf));
    return false;
}

bool ops_check_same(const char *op, const char *what_a, const tensor *x, const char *what_b,
                    const tensor *y) {
    char b1[64], b2[64];
    if (tensor_same_shape(x, y)) return true;
    error_set(STATUS_SHAPE, "%s: %s %s and %s %s differ", op, what_a, tensor_shape_str(x, b1),
              what_b, tensor_shape_str(y, b2));
    return false;
}

void ops_shape4(const tensor *t, int out[4]) {
    int pad = 4 - t->ndim;
    for (int i = 0; i < 4; i++) out[i] = i < pad ? 1 : t->shape[i - pad];
}

/* ---- binary ops with broadcasting ---- */

static const char *binop_name(binop op) {
    static const char *names[] = {"add", "sub", "mul", "div"};
    return names[op];
}

/* numpy broadcasting: align shapes on the right; each pair of dims equal or one of them 1 */
static bool broadcast_shape(binop op, const tensor *x, const tensor *y, int *ndim, int shape[4]) {
    char b1[64], b2[64];
    int xs[4], ys[4];
    ops_shape4(x, xs);
    ops_shape4(y, ys);
    *ndim = x->ndim > y->ndim ? x->ndim : y->ndim;
    for (int d = 0; d < 4; d++) {
        if (xs[d] != ys[d] && xs[d] != 1 && ys[d] != 1) {
            error_set(STATUS_SHAPE, "%s: shapes %s and %s cannot broadcast", binop_name(op),
                      tensor_shape_str(x, b1), tensor_shape_str(y, b2));
            return false;
        }
        if (d >= 4 - *ndim) shape[d - (4 - *ndim)] = xs[d] > ys[d] ? xs[d] : ys[d];
    }
    return true;
}

static void binary_backward(tensor *y) {
    binop op = *(binop *)y->saved;
    tensor *a = y->src[0], *b = y->src[1];
    int as[4], bs[4], ys[4];
    ops_shape4(a, as); ops_shape4(b, bs); ops_shape4(y, ys);
    backend_current()->binary_backward(op, ops_grad_or_null(a), ops_grad_or_null(b), y->grad,
                                       a->data, b->data, as, bs, ys);
}

static tensor *binary(arena *ar, binop op, tensor *x, tensor *y) {
    if (!x || !y) return NULL;
    int ndim, shape[4], as[4], bs[4], ys[4];
    if (!broadcast_shape(op, x, y, &ndim, shape)) return NULL;
    tensor *out = tensor_op_result(ar, ndim, shape, binop_name(op), binary_backward,
                                   (tensor *[]){x, y}, 2);
    if (!out) return NULL;
    if (out->backward) {
        if (!(out->saved = arena_alloc(ar, sizeof(binop)))) return NULL;
        *(binop *)out->saved = op;
    }
    ops_shape4(x, as); ops_shape4(y, bs); ops_shape4(out, ys);
    backend_current()->binary_forward(op, out->data, x->data, y->data, as, bs, ys);
    return out;
}

tensor *op_add(arena *a, tensor *x, tensor *y) { return binary(a, BINOP_ADD, x, y); }
tensor *op_sub(arena *a, tensor *x, tensor *y) { return binary(a, BINOP_SUB, x, y); }
tensor *op_mul(arena *a, tensor *x, tensor *y) { return binary(a, BINOP_MUL, x, y); }
tensor *op_div(arena *a, tensor *x, tensor *y) { return binary(a, BINOP_DIV, x, y); }

/* ---- unary ops and scalar forms ---- */

typedef struct unary_saved { unop op; float alpha; } unary_saved;

static void unary_backward(tensor *y) {
    unary_saved *s = y->saved;
    tensor *x = y->src[0];
    backend_current()->unary_backward(s->op, tensor_grad(x), y->grad, x->data, y->data,
                                      x->numel, s->alpha);
}

static tensor *unary(arena *a, const char *name, unop op, tensor *x, float alpha) {
    if (!x) return NULL;
    tensor *y = tensor_op_result(a, x->ndim, x->shape, name, unary_backward, &x, 1);
    if (!y) return NULL;
    if (y->backward) {
        unary_saved *s = arena_alloc(a, sizeof *s);
        if (!s) return NULL;
        *s = (unary_saved){op, alpha};
        y->saved = s;
    }
    backend_current()->unary_forward(op, y->data, x->data, x->numel, alpha);
    return y;
}

tensor *op_add_scalar(arena *a, tensor *x, float s) { return unary(a, "add_scalar", UNOP_ADD_SCALAR, x, s); }
tensor *op_sub_scalar(arena *a, tensor *x, float s) { return unary(a, "sub_scalar", UNOP_ADD_SCALAR, x, -s); }
tensor *op_rsub_scalar(arena *a, tensor *x, float s) { return unary(a, "rsub_scalar", UNOP_RSUB_SCALAR, x, s); }
tensor *op_mul_scalar(arena *a, tensor *x, float s) { return unary(a, "mul_scalar", UNOP_MUL_SCALAR, x, s); }
tensor *op_div_scalar(arena *a, tensor *x, float s) { return unary(a, "div_scalar", UNOP_MUL_SCALAR, x, 1.0f / s); }
tensor *op_rdiv_scalar(arena *a, tensor *x, float s) { return unary(a, "rdiv_scalar", UNOP_RDIV_SCALAR, x, s); }
tensor *op_pow_scalar(arena *a, tensor *x, float p) { return unary(a, "pow_scalar", UNOP_POW_SCALAR, x, p); }
tensor *op_relu(arena *a, tensor *x) { return unary(a, "relu", UNOP_RELU, x, 0); }
tensor *op_leaky_relu(arena *a, tensor *x, float slope) { return unary(a, "leaky_relu", UNOP_LEAKY_RELU, x, slope); }
tensor *op_relu_cap(arena *a, tensor *x, float cap) { return unary(a, "relu_cap", UNOP_RELU_CAP, x, cap); }
tensor *op_tanh(arena *a, tensor *x) { return unary(a, "tanh", UNOP_TANH, x, 0); }
tensor *op_sigmoid(arena *a, tensor *x) { return unary(a, "sigmoid", UNOP_SIGMOID, x, 0); }
tensor *op_exp(arena *a, tensor *x) { return unary(a, "exp", UNOP_EXP, x, 0); }
tensor *op_log(arena *a, tensor *x) { return unary(a, "log", UNOP_LOG, x, 0); }
tensor *op_sqrt(arena *a, tensor *x) { return unary(a, "sqrt", UNOP_SQRT, x, 0); }
tensor *op_abs(arena *a, tensor *x) { return unary(a, "abs", UNOP_ABS, x, 0); }
tensor *op_square(arena *a, tensor *x) { return unary(a, "square", UNOP_SQUARE, x, 0); }
tensor *op_neg(arena *a, tensor *x) { return unary(a, "neg", UNOP_NEG, x, 0); }

/* ---- reductions ---- */

typedef struct reduce_saved { reduce_kind kind; int axes4; } reduce_saved;

static void reduce_backward(tensor *y) {
    reduce_saved *s = y->saved;
    tensor *x = y->src[0];
    int xs[4];
    ops_shape4(x, xs);
    backend_current()->reduce_backward(s->kind, tensor_grad(x), y->grad, x->data, xs, s->axes4);
}

/* The result's shape: x's without the reduced dims, or with them as 1 when keepdim. */
static int reduced_shape(const tensor *x, int axes, bool keepdim, int shape[4]) {
    int n = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (!(axes >> d & 1)) shape[n++] = x->shape[d];
        else if (keepdim) shape[n++] = 1;
    }
    return n;
}

static tensor *reduce(arena *a, const char *name, reduce_kind k, tensor *x, int axes, bool keepdim) {
    if (!x) return NULL;
    int all = (1 << x->ndim) - 1, shape[4];
    if (axes == -1) axes = all;
    if (axes < 0 || (axes & ~all)) {
        char buf[64];
        error_set(STATUS_ARG, "%s: axes mask 0x%x names dims that %s does not have", name, axes,
                  tensor_shape_str(x, buf));
        return NULL;
    }
    int ndim = reduced_shape(x, axes, keepdim, shape);
    tensor *y = tensor_op_result(a, ndim, shape, name, reduce_backward, &x, 1);
    if (!y) return NULL;
    int axes4 = axes << (4 - x->ndim), xs[4];  /* the kernel sees x padded to 4 dims */
    if (y->backward) {
        reduce_saved *s = arena_alloc(a, sizeof *s);
        if (!s) return NULL;
        *s = (reduce_saved){k, axes4};
        y->saved = s;
    }
    ops_shape4(x, xs);
    backend_current()->reduce_forward(k, y->data, x->data, xs, axes4);
    return y;
}

tensor *op_sum(arena *a, tensor *x, int axes, bool keepdim) { return reduce(a, "sum", REDUCE_SUM, x, axes, keepdim); }
tensor *op_mean(arena *a, tensor *x, int axes, bool keepdim) { return reduce(a, "mean", REDUCE_MEAN, x, axes, keepdim); }
tensor *op_var(arena *a, tensor *x, int axes, bool unbiased, bool keepdim) {
    return reduce(a, "var", unbiased ? REDUCE_VAR_UNBIASED : REDUCE_VAR, x, axes, keepdim);
}
