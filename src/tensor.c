/* tensor.c: tensor creation, views, and the reverse-mode autodiff engine (see tensor.h). */
#include "atelier/tensor.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local bool g_grad_enabled = true;

bool autograd_set(bool enabled) {
    bool was = g_grad_enabled;
    g_grad_enabled = enabled;
    return was;
}

bool autograd_enabled(void) { return g_grad_enabled; }

const char *shape_str(int ndim, const int *shape, char *buf) {
    int len = sprintf(buf, "(");
    for (int i = 0; i < ndim; i++) len += sprintf(buf + len, i ? ", %d" : "%d", shape[i]);
    sprintf(buf + len, ")");
    return buf;
}

const char *tensor_shape_str(const tensor *t, char *buf) { return shape_str(t->ndim, t->shape, buf); }

bool tensor_same_shape(const tensor *a, const tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

/* A tensor header with a checked shape; data not yet set. */
static tensor *tensor_header(arena *a, int ndim, const int *shape) {
    char buf[64];
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS) {
        error_set(STATUS_SHAPE, "tensor: %d dims requested, at most %d supported", ndim, TENSOR_MAX_DIMS);
        return NULL;
    }
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1) {
            error_set(STATUS_SHAPE, "tensor: shape %s has a dim < 1", shape_str(ndim, shape, buf));
            return NULL;
        }
        numel *= shape[i];
    }
    if (numel > ((int64_t)1 << 34)) {
        error_set(STATUS_SHAPE, "tensor: shape %s is too large", shape_str(ndim, shape, buf));
        return NULL;
    }
    tensor *t = arena_alloc(a, sizeof *t);
    if (!t) return NULL;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    t->arena = a;
    return t;
}

tensor *tensor_new(arena *a, int ndim, const int *shape) {
    tensor *t = tensor_header(a, ndim, shape);
    if (!t) return NULL;
    t->data = arena_alloc(a, sizeof(float) * t->numel);
    return t->data ? t : NULL;
}

tensor *tensor_from(arena *a, int ndim, const int *shape, const float *data) {
    tensor *t = tensor_new(a, ndim, shape);
    if (t) memcpy(t->data, data, sizeof(float) * t->numel);
    return t;
}

tensor *tensor_scalar(arena *a, float v) {
    tensor *t = tensor_new(a, 0, NULL);
    if (t) t->data[0] = v;
    return t;
}

tensor *tensor_like(arena *a, const tensor *t) { return t ? tensor_new(a, t->ndim, t->shape) : NULL; }

tensor *tensor_copy(arena *a, const tensor *t) {
    return t ? tensor_from(a, t->ndim, t->shape, t->data) : NULL;
}

tensor *tensor_fill(tensor *t, float v) {
    if (t)
        for (int64_t i = 0; i < t->numel; i++) t->data[i] = v;
    return t;
}

/* ---- views: share data and gradient with the base tensor ---- */

static void view_backward(tensor *out) {
    (void)out;  /* the view's gradient is its base's storage: nothing to move */
}

static tensor *tensor_view(arena *a, tensor *t, int ndim, const int *shape, int64_t offset) {
    tensor *v = tensor_header(a, ndim, shape);
    if (!v) return NULL;
    tensor *base = t->base ? t->base : t;
    v->base = base;
    v->offset = (t->base ? t->offset : 0) + offset;
    v->data = base->data + v->offset;
    v->op = "view";
    v->requires_grad = t->requires_grad;
    if (t->requires_grad && g_grad_enabled) {
        v->backward = view_backward;  /* keeps t after v in the walk, so t sees v's uses */
        v->src[0] = t;
        v->nsrc = 1;
    }
    return v;
}

tensor *tensor_reshape(arena *a, tensor *t, int ndim, const int *shape) {
    if (!t) return NULL;
    char b1[64], b2[64];
    int dims[TENSOR_MAX_DIMS], infer = -1;
    int64_t known = 1;
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS) {
        error_set(STATUS_SHAPE, "reshape: %d dims requested, at most %d supported", ndim, TENSOR_MAX_DIMS);
        return NULL;
    }
    for (int i = 0; i < ndim; i++) {
        dims[i] = shape[i];
        if (shape[i] == -1 && infer < 0) infer = i;
        else known *= shape[i];
    }
    if (infer >= 0 && known > 0 && t->numel % known == 0) dims[infer] = (int)(t->numel / known);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= dims[i];
    if (numel != t->numel || (infer >= 0 && known <= 0)) {
        error_set(STATUS_SHAPE, "reshape: cannot view %s as %s", tensor_shape_str(t, b1),
                  shape_str(ndim, shape, b2));
        return NULL;
    }
    return tensor_view(a, t, ndim, dims, 0);
}

tensor *tensor_narrow(arena *a, tensor *t, int start, int len) {
    if (!t) return NULL;
    char buf[64];
    if (t->ndim < 1 || start < 0 || len < 1 || start + len > t->shape[0]) {
        error_set(STATUS_SHAPE, "narrow: rows [%d, %d) out of range for %s", start, start + len,
                  tensor_shape_str(t, buf));
        return NULL;
    }
    int shape[TENSOR_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) shape[i] = t->shape[i];
    shape[0] = len;
    return tensor_view(a, t, t->ndim, shape, (int64_t)start * (t->numel / t->shape[0]));
}

/* ---- autodiff ---- */

void tensor_requires_grad(tensor *t) {
    if (t) t->requires_grad = true;
}

/* Gradient buffers of intermediate tensors, recycled during one tensor_backward: in
 * reverse topological order a non-leaf's gradient is dead once its own backward has run
 * (every consumer ran before it), so its buffer serves a later request of the same size
 * from the same arena. The step then holds a few gradients at a time, not one per
 * activation. Leaves (parameters, the optimised image) keep theirs. */
typedef struct grad_block { arena *arena; size_t bytes; float *data; } grad_block;
typedef struct grad_pool { grad_block *blocks; int n, cap; } grad_pool;
static _Thread_local grad_pool *g_pool;  /* set while tensor_backward runs */

static float *pool_take(arena *a, size_t bytes) {
    for (int i = g_pool ? g_pool->n - 1 : -1; i >= 0; i--) {
        grad_block *b = &g_pool->blocks[i];
        if (b->arena == a && b->bytes == bytes) {
            float *d = b->data;
            *b = g_pool->blocks[--g_pool->n];
            memset(d, 0, bytes);
            return d;
        }
    }
    return NULL;
}

static void pool_give(tensor *t) {
    grad_pool *p = g_pool;
    if (!p || t->base || !t->backward || !t->grad) return;  /* leaves and views keep theirs */
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        grad_block *nb = realloc(p->blocks, sizeof *nb * cap);
        if (!nb) return;  /* no recycling: only more memory used */
        p->blocks = nb;
        p->cap = cap;
    }
    p->blocks[p->n++] = (grad_block){t->arena, sizeof(float) * t->numel, t->grad};
    t->grad = NULL;
}

float *tensor_grad(tensor *t) {
    if (t->grad) return t->grad;
    if (t->base) {
        t->grad = tensor_grad(t->base) + t->offset;
        return t->grad;
    }
    size_t bytes = sizeof(float) * t->numel;
    t->grad = t->backward ? pool_take(t->arena, bytes) : NULL;
    if (!t->grad) t->grad = arena_alloc(t->arena, bytes);
    ATELIER_ASSERT(t->grad != NULL);  /* out of memory mid-backward: nothing to recover */
    return t->grad;
}

void tensor_zero_grad(tensor *t) {
    if (t && t->grad) memset(t->grad, 0, sizeof(float) * t->numel);
}

void tensor_detach(tensor *t) {
    t->backward = NULL;
    t->nsrc = 0;
    t->requires_grad = false;
}

tensor *tensor_op_result(arena *a, int ndim, const int *shape, const char *op,
                         backward_fn backward, tensor **src, int nsrc) {
    tensor *y = tensor_new(a, ndim, shape);
    if (!y) return NULL;
    y->op = op;
    bool needs = false;
    for (int i = 0; i < nsrc; i++) needs = needs || (src[i] && src[i]->requires_grad);
    if (needs && g_grad_enabled) {
        ATELIER_ASSERT(nsrc <= 4);
        y->requires_grad = true;
        y->backward = backward;
        for (int i = 0; i < nsrc; i++) y->src[i] = src[i];
        y->nsrc = nsrc;
    }
    return y;
}

/* Post-order walk from the loss over inputs that require gradients: every tensor comes
 * after all of its inputs. Iterative, so deep graphs cannot overflow the stack. */
typedef struct walk { tensor **order, **stack; int *next; int n, cap; } walk;

static bool walk_grow(walk *w) {
    int cap = w->cap ? 2 * w->cap : 256;
    tensor **o = realloc(w->order, sizeof(tensor *) * cap);
    if (o) w->order = o;
    tensor **s = realloc(w->stack, sizeof(tensor *) * cap);
    if (s) w->stack = s;
    int *nx = realloc(w->next, sizeof(int) * cap);
    if (nx) w->next = nx;
    if (!o || !s || !nx) return false;
    w->cap = cap;
    return true;
}

static bool walk_graph(walk *w, tensor *root, uint64_t mark) {
    int top = 0;
    if (w->cap < 1 && !walk_grow(w)) return false;
    w->stack[0] = root; w->next[0] = 0; root->mark = mark;
    while (top >= 0) {
        tensor *t = w->stack[top];
        if (w->next[top] < t->nsrc) {
            tensor *s = t->src[w->next[top]++];
            if (!s || !s->requires_grad || s->mark == mark) continue;
            s->mark = mark;
            if (top + 1 >= w->cap && !walk_grow(w)) return false;
            w->stack[++top] = s; w->next[top] = 0;
        } else {
            if (w->n >= w->cap && !walk_grow(w)) return false;
            w->order[w->n++] = t;
            top--;
        }
    }
    return true;
}

status tensor_backward(tensor *loss) {
    static _Thread_local uint64_t g_mark;
    char buf[64];
    if (!loss) return error_status() ? error_status() : error_set(STATUS_ARG, "backward: no loss (NULL)");
    if (loss->numel != 1)
        return error_set(STATUS_SHAPE, "backward: the loss must have one element, got %s",
                         tensor_shape_str(loss, buf));
    if (!loss->requires_grad)
        return error_set(STATUS_ARG, "backward: the loss does not depend on any tensor that requires a gradient");
    walk w = {0};
    status s = STATUS_OK;
    if (!walk_graph(&w, loss, ++g_mark)) {
        s = error_set(STATUS_NOMEM, "backward: out of memory walking the graph");
    } else {
        grad_pool pool = {0};
        g_pool = &pool;
        tensor_grad(loss)[0] += 1.0f;
        for (int i = w.n - 1; i >= 0; i--) {
            tensor *t = w.order[i];
            if (t->backward && t->grad) t->backward(t);
            pool_give(t);
        }
        g_pool = NULL;
        free(pool.blocks);
    }
    free(w.order); free(w.stack); free(w.next);
    return s;
}
