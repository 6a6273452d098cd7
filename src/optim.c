/* optim.c: SGD, Adam and AdamW, and the API common to every optimiser (see optim.h).
 *
 * The updates follow torch.optim's single-tensor implementations in PyTorch 1.13
 * (torch/optim/sgd.py, adam.py, adamw.py) operation by operation, each rounded to float32
 * as torch's kernels round it, so 20 steps stay within a few float32 ulps of PyTorch. The
 * scalar coefficients derived from the options (1 - beta1, lr / (1 - beta1^t)) are Python
 * doubles in torch and are computed in double here too, then rounded to float, as a
 * kernel's scalar argument is.
 *
 * L-BFGS lives in lbfgs.c.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "optim_internal.h"

sgd_opts sgd_defaults(float lr) {
    return (sgd_opts){.lr = lr, .momentum = 0, .dampening = 0, .weight_decay = 0, .nesterov = false};
}

adam_opts adam_defaults(float lr) {
    return (adam_opts){.lr = lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0};
}

adam_opts adamw_defaults(float lr) {
    adam_opts o = adam_defaults(lr);
    o.weight_decay = 0.01f;
    return o;
}

lbfgs_opts lbfgs_defaults(void) {
    return (lbfgs_opts){.lr = 1, .max_iter = 20, .max_eval = 0, .tolerance_grad = 1e-7f,
                        .tolerance_change = 1e-9f, .history_size = 100, .strong_wolfe = false};
}

/* ---- creation ---- */

static const char *kind_name(optim_kind k) {
    switch (k) {
    case OPTIM_SGD: return "sgd";
    case OPTIM_ADAM: return "adam";
    case OPTIM_ADAMW: return "adamw";
    case OPTIM_LBFGS: return "lbfgs";
    }
    return "?";
}

/* The checks every optimiser makes on its parameter list. */
static bool params_check(const char *who, arena *state, tensor **params, int n) {
    if (!state) { error_set(STATUS_ARG, "%s: no state arena", who); return false; }
    if (!params || n < 1) {
        error_set(STATUS_ARG, "%s: no parameters (params %p, n %d)", who, (void *)params, n);
        return false;
    }
    for (int i = 0; i < n; i++) {
        if (!params[i]) { error_set(STATUS_ARG, "%s: parameter %d is NULL", who, i); return false; }
        if (!params[i]->requires_grad) {
            error_set(STATUS_ARG, "%s: parameter %d does not require grad "
                      "(call tensor_requires_grad on it)", who, i);
            return false;
        }
    }
    return true;
}

/* A zeroed optim holding a copy of the parameter array, all in the state arena (so SGD and
 * Adam need no optim_free); NULL (and error_set) on failure. */
static optim *optim_new(optim_kind kind, arena *state, tensor **params, int n) {
    if (!params_check(kind_name(kind), state, params, n)) return NULL;
    optim *o = arena_alloc(state, sizeof *o);
    if (!o) return NULL;
    o->params = arena_alloc(state, sizeof(tensor *) * n);
    o->buf_ready = arena_alloc(state, sizeof(bool) * n);
    o->names = arena_alloc(state, sizeof *o->names * 2 * (size_t)n);
    if (!o->params || !o->buf_ready || !o->names) return NULL;
    memcpy(o->params, params, sizeof(tensor *) * n);
    o->kind = kind;
    o->state = state;
    o->n = n;
    return o;
}

/* bufs[i] = zeros shaped like params[i], in the state arena; names "<prefix>.<i>". */
static tensor **state_tensors(optim *o, const char *prefix, int name_slot) {
    tensor **bufs = arena_alloc(o->state, sizeof(tensor *) * o->n);
    if (!bufs) return NULL;
    for (int i = 0; i < o->n; i++) {
        bufs[i] = tensor_like(o->state, o->params[i]);
        if (!bufs[i]) return NULL;
        snprintf(o->names[2 * i + name_slot], sizeof o->names[0], "%s.%d", prefix, i);
    }
    return bufs;
}

optim *optim_sgd(arena *state, tensor **params, int n, sgd_opts s) {
    /* torch.optim.SGD's argument checks */
    if (!(s.lr >= 0) || !(s.momentum >= 0) || !(s.weight_decay >= 0) || !(s.dampening >= 0)) {
        error_set(STATUS_ARG, "sgd: lr %g, momentum %g, dampening %g, weight_decay %g: all must be >= 0",
                  s.lr, s.momentum, s.dampening, s.weight_decay);
        return NULL;
    }
    if (s.nesterov && (s.momentum <= 0 || s.dampening != 0)) {
        error_set(STATUS_ARG, "sgd: nesterov needs momentum > 0 and dampening 0 (got %g, %g)",
                  s.momentum, s.dampening);
        return NULL;
    }
    optim *o = optim_new(OPTIM_SGD, state, params, n);
    if (!o) return NULL;
    o->sgd = s;
    if (s.momentum != 0 && !(o->buf1 = state_tensors(o, "momentum", 0))) return NULL;
    return o;
}

static optim *adam_new(optim_kind kind, arena *state, tensor **params, int n, adam_opts a) {
    if (!(a.lr >= 0) || !(a.eps >= 0) || !(a.weight_decay >= 0) ||
        !(a.beta1 >= 0 && a.beta1 < 1) || !(a.beta2 >= 0 && a.beta2 < 1)) {
        error_set(STATUS_ARG, "%s: lr %g, eps %g, weight_decay %g must be >= 0 and betas (%g, %g) "
                  "in [0, 1)", kind_name(kind), a.lr, a.eps, a.weight_decay, a.beta1, a.beta2);
        return NULL;
    }
    optim *o = optim_new(kind, state, params, n);
    if (!o) return NULL;
    o->adam = a;
    if (!(o->buf1 = state_tensors(o, "exp_avg", 0)) || !(o->buf2 = state_tensors(o, "exp_avg_sq", 1)))
        return NULL;
    return o;
}

optim *optim_adam(arena *state, tensor **params, int n, adam_opts a) {
    return adam_new(OPTIM_ADAM, state, params, n, a);
}

optim *optim_adamw(arena *state, tensor **params, int n, adam_opts a) {
    return adam_new(OPTIM_ADAMW, state, params, n, a);
}

optim *optim_lbfgs(arena *state, tensor **params, int n, lbfgs_opts l) {
    if (!(l.lr > 0) || l.max_iter < 1 || l.max_eval < 0 || l.history_size < 1 ||
        !(l.tolerance_grad >= 0) || !(l.tolerance_change >= 0)) {
        error_set(STATUS_ARG, "lbfgs: lr %g must be > 0, max_iter %d and history_size %d >= 1, "
                  "max_eval %d and the tolerances >= 0", l.lr, l.max_iter, l.history_size, l.max_eval);
        return NULL;
    }
    optim *o = optim_new(OPTIM_LBFGS, state, params, n);
    if (!o) return NULL;
    if (l.max_eval == 0) l.max_eval = l.max_iter * 5 / 4;  /* torch's default */
    o->lbfgs = l;
    if (lbfgs_init(o) != STATUS_OK) { optim_free(o); return NULL; }  /* frees what was made */
    return o;
}

/* ---- updates ---- */

/* torch's _single_tensor_sgd for one parameter (n elements):
 *   g = grad + wd p;  buf = g on the first step, else momentum buf + (1 - dampening) g;
 *   g = g + momentum buf (nesterov) or buf;  p = p - lr g. */
static void sgd_update(const sgd_opts *s, float *p, const float *grad, float *buf, bool first,
                       int64_t n) {
    float damp = (float)(1.0 - (double)s->dampening), neg_lr = -s->lr;
    for (int64_t j = 0; j < n; j++) {
        float g = grad[j];
        if (s->weight_decay != 0) g = g + s->weight_decay * p[j];
        if (s->momentum != 0) {
            if (first) {
                buf[j] = g;
            } else {
                float m = buf[j] * s->momentum;  /* buf.mul_(momentum).add_(g, alpha): two roundings */
                buf[j] = m + damp * g;
            }
            g = s->nesterov ? g + s->momentum * buf[j] : buf[j];
        }
        p[j] = p[j] + neg_lr * g;
    }
}

/* torch's _single_tensor_adam / _single_tensor_adamw for one parameter at step t (Kingma &
 * Ba 2015, Algorithm 1; AdamW: Loshchilov & Hutter 2019, decoupled decay p *= 1 - lr wd):
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *   p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). */
static void adam_update(const adam_opts *a, bool decoupled, int64_t t, float *p, const float *grad,
                        float *m, float *v, int64_t n) {
    double bc1 = 1.0 - pow(a->beta1, (double)t), bc2 = 1.0 - pow(a->beta2, (double)t);
    float one_b1 = (float)(1.0 - a->beta1), one_b2 = (float)(1.0 - a->beta2);
    float neg_step = (float)(-(a->lr / bc1)), bc2_sqrt = (float)sqrt(bc2);
    float decay = (float)(1.0 - (double)a->lr * a->weight_decay);
    for (int64_t j = 0; j < n; j++) {
        float g = grad[j];
        if (decoupled) p[j] = p[j] * decay;
        else if (a->weight_decay != 0) g = g + a->weight_decay * p[j];
        float mb = m[j] * a->beta1, vb = v[j] * a->beta2;
        m[j] = mb + one_b1 * g;
        v[j] = vb + one_b2 * g * g;                   /* addcmul: (value t1) t2 */
        float denom = sqrtf(v[j]) / bc2_sqrt + a->eps;
        p[j] = p[j] + neg_step * m[j] / denom;       /* addcdiv: (value t1) / t2 */
    }
}

status optim_step(optim *o) {
    if (!o) return error_set(STATUS_ARG, "optim_step: NULL optimiser");
    if (o->kind == OPTIM_LBFGS)
        return error_set(STATUS_ARG, "optim_step: lbfgs needs a closure: use optim_lbfgs_step");
    int64_t t = o->steps + 1;
    for (int i = 0; i < o->n; i++) {
        tensor *p = o->params[i];
        if (!p->grad) continue;  /* no gradient reached it: skipped, as in PyTorch */
        if (o->kind == OPTIM_SGD) {
            sgd_update(&o->sgd, p->data, p->grad, o->buf1 ? o->buf1[i]->data : NULL,
                       !o->buf_ready[i], p->numel);
            o->buf_ready[i] = true;
        } else {
            adam_update(&o->adam, o->kind == OPTIM_ADAMW, t, p->data, p->grad, o->buf1[i]->data,
                        o->buf2[i]->data, p->numel);
        }
    }
    o->steps = t;
    return STATUS_OK;
}

/* ---- common ---- */

void optim_zero_grad(optim *o) {
    if (!o) return;
    for (int i = 0; i < o->n; i++) tensor_zero_grad(o->params[i]);
}

int optim_evals(const optim *o) { return o ? o->evals : 0; }

void optim_set_lr(optim *o, float lr) {
    if (!o) return;
    switch (o->kind) {
    case OPTIM_SGD: o->sgd.lr = lr; break;
    case OPTIM_ADAM: case OPTIM_ADAMW: o->adam.lr = lr; break;
    case OPTIM_LBFGS: o->lbfgs.lr = lr; break;
    }
}

int64_t optim_steps(const optim *o) { return o ? o->steps : 0; }

/* Resuming: the momentum buffers then hold a checkpoint's values, so SGD must not restart
 * them from the gradient (torch's first-step rule applies to a fresh buffer only). */
void optim_set_steps(optim *o, int64_t steps) {
    if (!o) return;
    o->steps = steps;
    for (int i = 0; i < o->n; i++) o->buf_ready[i] = steps > 0;
}

int optim_state(optim *o, const char **names, tensor **ts, int max) {
    if (!o || !o->buf1) return 0;
    int per = o->buf2 ? 2 : 1, count = per * o->n;
    for (int k = 0; k < count && k < max; k++) {
        int i = k / per, slot = k % per;
        if (names) names[k] = o->names[2 * i + slot];
        if (ts) ts[k] = slot ? o->buf2[i] : o->buf1[i];
    }
    return count;
}

const char *optim_name(const optim *o) { return o ? kind_name(o->kind) : "?"; }

/* Only L-BFGS's vectors are outside the arena; call this before freeing the state arena. */
void optim_free(optim *o) {
    if (!o) return;
    lbfgs_free(o->lb);
    o->lb = NULL;
}
