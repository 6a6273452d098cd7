/* lbfgs.c: L-BFGS, a port of torch.optim.LBFGS (PyTorch 1.13, torch/optim/lbfgs.py), itself
 * after minFunc (Schmidt) and torch7's optim (lbfgs.lua, lswolfe.lua, polyinterp.lua).
 *
 * All parameters are flattened into one vector of numel floats. Each iteration computes a
 * direction d = -H g by the two-loop recursion over the last history_size pairs
 * (y = g_k - g_{k-1}, s = t d) with H_0 = ys / yy (Nocedal & Wright, Numerical
 * Optimization, 2nd ed., Algorithm 7.4 and eq. 7.20), then steps by t d with t fixed (lr;
 * the very first step lr min(1, 1 / |g|_1)) or found by the strong Wolfe line search
 * (Algorithms 3.5 and 3.6, with cubic interpolation, eq. 3.59).
 *
 * Precision mirrors torch: vectors, dot products and the scalars derived from them are
 * float32 (torch's 0-dim tensors); losses are doubles (torch turns them into Python floats).
 * Comparisons between the two happen in float32, as torch's tensor-vs-float comparisons do.
 * Dot products accumulate in double and round once: within an ulp of torch's BLAS sdot.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "optim_internal.h"

#define LS_C1 1e-4f        /* sufficient decrease (Armijo) constant, torch's c1 */
#define LS_C2 0.9f         /* curvature constant, torch's c2 */
#define LS_MAX 25          /* line search evaluations, torch's max_ls */
#define LS_TOL_CHANGE 1e-9f /* torch's _strong_wolfe default: LBFGS does not pass its own */

/* ---- flat vectors ---- */

static float vec_dot(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (float)s;
}

static float vec_abs_max(const float *a, int64_t n) {
    float m = 0;
    for (int64_t i = 0; i < n; i++) m = fabsf(a[i]) > m ? fabsf(a[i]) : m;
    return m;
}

static float vec_abs_sum(const float *a, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += fabsf(a[i]);
    return (float)s;
}

/* y += alpha x, torch's y.add_(x, alpha=alpha) */
static void vec_axpy(float *y, float alpha, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = y[i] + alpha * x[i];
}

/* torch's _gather_flat_grad: the gradients end to end, zeros for a parameter without one. */
static void gather_flat_grad(const optim *o, float *out) {
    for (int i = 0; i < o->n; i++) {
        const tensor *p = o->params[i];
        if (p->grad) memcpy(out, p->grad, sizeof(float) * p->numel);
        else memset(out, 0, sizeof(float) * p->numel);
        out += p->numel;
    }
}

/* params = x + t d (torch's _add_grad from x); x NULL: from the parameters themselves. */
static void params_add(const optim *o, const float *x, float t, const float *d) {
    for (int i = 0; i < o->n; i++) {
        tensor *p = o->params[i];
        for (int64_t j = 0; j < p->numel; j++) p->data[j] = (x ? x[j] : p->data[j]) + t * d[j];
        if (x) x += p->numel;
        d += p->numel;
    }
}

static void params_copy(const optim *o, float *to_flat, const float *from_flat) {
    for (int i = 0; i < o->n; i++) {
        tensor *p = o->params[i];
        if (to_flat) memcpy(to_flat, p->data, sizeof(float) * p->numel), to_flat += p->numel;
        else memcpy(p->data, from_flat, sizeof(float) * p->numel), from_flat += p->numel;
    }
}

/* ---- state ---- */

status lbfgs_init(optim *o) {
    lbfgs_state *lb = calloc(1, sizeof *lb);
    if (!lb) return error_set(STATUS_NOMEM, "lbfgs: out of memory");
    o->lb = lb;
    for (int i = 0; i < o->n; i++) lb->numel += o->params[i]->numel;
    int h = o->lbfgs.history_size;
    size_t bytes = sizeof(float) * lb->numel;
    lb->h_diag = 1;
    lb->old_dirs = calloc(h, sizeof(float *));
    lb->old_stps = calloc(h, sizeof(float *));
    lb->ro = calloc(h, sizeof(float));
    lb->al = calloc(h, sizeof(float));
    float **vecs[] = {&lb->d, &lb->flat_grad, &lb->prev_flat_grad, &lb->y, &lb->s,
                      &lb->x_init, &lb->g_prev, &lb->g_new, &lb->bracket_g[0], &lb->bracket_g[1]};
    int nvec = o->lbfgs.strong_wolfe ? 10 : 5;  /* the last five serve the line search */
    bool ok = lb->old_dirs && lb->old_stps && lb->ro && lb->al;
    for (int i = 0; i < nvec && ok; i++) ok = (*vecs[i] = malloc(bytes)) != NULL;
    if (!ok) return error_set(STATUS_NOMEM, "lbfgs: out of memory for %lld parameters",
                              (long long)lb->numel);
    return STATUS_OK;
}

void lbfgs_free(lbfgs_state *lb) {
    if (!lb) return;
    for (int i = 0; i < lb->hist_alloc; i++) free(lb->old_dirs[i]), free(lb->old_stps[i]);
    free(lb->old_dirs); free(lb->old_stps); free(lb->ro); free(lb->al);
    free(lb->d); free(lb->flat_grad); free(lb->prev_flat_grad); free(lb->y); free(lb->s);
    free(lb->x_init); free(lb->g_prev); free(lb->g_new);
    free(lb->bracket_g[0]); free(lb->bracket_g[1]);
    free(lb);
}

/* ---- direction: the two-loop recursion ---- */

/* Appends (lb->y, lb->s) to the history, dropping the oldest pair when it is full. The pair's
 * buffers are swapped with the slot's, so the scratch y and s stay allocated. */
static status history_push(lbfgs_state *lb, int history_size, float ys) {
    int slot;
    if (lb->hist_len == history_size) {
        slot = lb->hist_first;
        lb->hist_first = (lb->hist_first + 1) % history_size;
    } else {
        slot = (lb->hist_first + lb->hist_len) % history_size;
        if (slot >= lb->hist_alloc) {  /* the ring grows by one slot at a time, lazily */
            lb->old_dirs[slot] = malloc(sizeof(float) * lb->numel);
            lb->old_stps[slot] = malloc(sizeof(float) * lb->numel);
            lb->hist_alloc++;
            if (!lb->old_dirs[slot] || !lb->old_stps[slot])
                return error_set(STATUS_NOMEM, "lbfgs: out of memory for the history");
        }
        lb->hist_len++;
    }
    float *y = lb->old_dirs[slot], *s = lb->old_stps[slot];
    lb->old_dirs[slot] = lb->y, lb->old_stps[slot] = lb->s;
    lb->y = y, lb->s = s;
    lb->ro[slot] = 1.0f / ys;
    return STATUS_OK;
}

/* d = -H g with H from the history (torch's loop "iteration in L-BFGS loop collapsed to use
 * just one buffer"): q = -g; for newest..oldest: al_i = ro_i s_i.q, q -= al_i y_i;
 * r = H_diag q; for oldest..newest: be_i = ro_i y_i.r, r += (al_i - be_i) s_i. */
static void two_loop(lbfgs_state *lb, int history_size) {
    int64_t n = lb->numel;
    float *q = lb->d;
    for (int64_t j = 0; j < n; j++) q[j] = -lb->flat_grad[j];
    for (int k = lb->hist_len - 1; k >= 0; k--) {
        int i = (lb->hist_first + k) % history_size;
        lb->al[i] = vec_dot(lb->old_stps[i], q, n) * lb->ro[i];
        vec_axpy(q, -lb->al[i], lb->old_dirs[i], n);
    }
    for (int64_t j = 0; j < n; j++) q[j] = q[j] * lb->h_diag;
    for (int k = 0; k < lb->hist_len; k++) {
        int i = (lb->hist_first + k) % history_size;
        float be = vec_dot(lb->old_dirs[i], q, n) * lb->ro[i];
        vec_axpy(q, lb->al[i] - be, lb->old_stps[i], n);
    }
}

/* The search direction of this iteration into lb->d: steepest descent on the very first
 * iteration, else the history is updated with the last step (only when ys > 1e-10, which
 * keeps H positive definite) and d = -H g. */
static status lbfgs_direction(lbfgs_state *lb, int history_size) {
    int64_t n = lb->numel;
    if (lb->n_iter == 1) {
        for (int64_t j = 0; j < n; j++) lb->d[j] = -lb->flat_grad[j];
        lb->hist_len = lb->hist_first = 0;
        lb->h_diag = 1;
        return STATUS_OK;
    }
    for (int64_t j = 0; j < n; j++) {
        lb->y[j] = lb->flat_grad[j] - lb->prev_flat_grad[j];
        lb->s[j] = lb->d[j] * lb->t;
    }
    float ys = vec_dot(lb->y, lb->s, n);
    if (ys > 1e-10f) {
        float yy = vec_dot(lb->y, lb->y, n);
        if (history_push(lb, history_size, ys) != STATUS_OK) return STATUS_NOMEM;
        lb->h_diag = ys / yy;
    }
    two_loop(lb, history_size);
    return STATUS_OK;
}

/* ---- the strong Wolfe line search (torch's _strong_wolfe, from lswolfe.lua) ---- */

/* Python's max(a, b) and min(a, b): the first unless the second compares larger (smaller),
 * so a NaN propagates as it does in torch. */
static float py_max(float a, float b) { return b > a ? b : a; }
static float py_min(float a, float b) { return b < a ? b : a; }

/* The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clamped to
 * [lo, hi] (Nocedal & Wright eq. 3.59); the bracket's midpoint when the cubic has none.
 * (f1 - f2) is a difference of Python floats in torch, rounded once to float32. */
static float cubic_interpolate(float x1, double f1, float g1, float x2, double f2, float g2,
                               float lo, float hi) {
    float d1 = (g1 + g2) - (float)(3.0 * (f1 - f2)) / (x1 - x2);
    float d2_square = d1 * d1 - g1 * g2;
    if (!(d2_square >= 0)) return (lo + hi) / 2.0f;
    float d2 = sqrtf(d2_square), min_pos;
    if (x1 <= x2) min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2));
    else min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    return py_min(py_max(min_pos, lo), hi);
}

static float cubic_between(float x1, double f1, float g1, float x2, double f2, float g2) {
    return x1 <= x2 ? cubic_interpolate(x1, f1, g1, x2, f2, g2, x1, x2)
                    : cubic_interpolate(x1, f1, g1, x2, f2, g2, x2, x1);
}

/* One line search probe (torch's _directional_evaluate): the loss and lb->g_new at
 * x_init + t d; the parameters are put back to x_init. NaN when the closure fails. */
static double probe(optim *o, optim_closure closure, void *user, float t) {
    lbfgs_state *lb = o->lb;
    params_add(o, lb->x_init, t, lb->d);
    double f = closure(user);
    o->evals++;
    gather_flat_grad(o, lb->g_new);
    params_copy(o, NULL, lb->x_init);
    return f;
}

/* The line search's bracket: two points (or one, once a Wolfe point is found) with their
 * losses, gradients (lb->bracket_g) and directional derivatives. */
typedef struct bracket { float t[2]; double f[2]; float gtd[2]; float *g[2]; } bracket;

static void bracket_set(bracket *b, int i, float t, double f, const float *g, float gtd, int64_t n) {
    b->t[i] = t, b->f[i] = f, b->gtd[i] = gtd;
    if (b->g[i] != g) memcpy(b->g[i], g, sizeof(float) * n);
}

/* The sufficient decrease (Armijo) test, in float32 as torch compares a Python float with
 * the 0-dim tensor f + c1 t gtd. */
static bool armijo_fails(double f_new, double f, float t, float gtd) {
    return (float)f_new > (float)f + LS_C1 * t * gtd;
}

typedef struct wolfe {
    optim *o;
    optim_closure closure;
    void *user;
    double f;       /* loss at t = 0 */
    float gtd;      /* directional derivative at t = 0 */
    int evals, iter;
    bool done;      /* a point satisfying the strong Wolfe conditions is in the bracket */
    bracket b;
} wolfe;

/* Phase one (Nocedal & Wright Algorithm 3.5): from t, extrapolate by cubic interpolation in
 * [t + 0.01 (t - t_prev), 10 t] until [t_prev, t] brackets a strong Wolfe point or t is one.
 * false when the closure fails. */
static bool wolfe_bracket(wolfe *w, float t) {
    lbfgs_state *lb = w->o->lb;
    int64_t n = lb->numel;
    double f_new = probe(w->o, w->closure, w->user, t), f_prev = w->f;
    w->evals = 1;
    if (isnan(f_new)) return false;
    float gtd_new = vec_dot(lb->g_new, lb->d, n), t_prev = 0, gtd_prev = w->gtd;
    const float *g_prev = lb->flat_grad;
    for (w->iter = 0; w->iter < LS_MAX; w->iter++) {
        if (armijo_fails(f_new, w->f, t, w->gtd) || (w->iter > 1 && f_new >= f_prev)) break;
        if (fabsf(gtd_new) <= -LS_C2 * w->gtd) {
            bracket_set(&w->b, 0, t, f_new, lb->g_new, gtd_new, n);
            w->done = true;
            return true;
        }
        if (gtd_new >= 0) break;
        float tmp = t;
        t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                              t + 0.01f * (t - t_prev), t * 10);
        t_prev = tmp, f_prev = f_new, gtd_prev = gtd_new;
        memcpy(lb->g_prev, lb->g_new, sizeof(float) * n);
        g_prev = lb->g_prev;
        f_new = probe(w->o, w->closure, w->user, t);
        w->evals++;
        if (isnan(f_new)) return false;
        gtd_new = vec_dot(lb->g_new, lb->d, n);
    }
    if (w->iter == LS_MAX) /* no bracket found: [0, t] */
        t_prev = 0, f_prev = w->f, g_prev = lb->flat_grad, gtd_prev = w->gtd;
    bracket_set(&w->b, 0, t_prev, f_prev, g_prev, gtd_prev, n);
    bracket_set(&w->b, 1, t, f_new, lb->g_new, gtd_new, n);
    return true;
}

/* torch's safeguard on a zoom trial t: when it falls within 10% of the bracket's length of
 * an end, and did so last time too (or lies outside), move it to 10% from that end. */
static float zoom_guard(const bracket *b, float t, bool *insuf_progress) {
    float hi = py_max(b->t[0], b->t[1]), lo = py_min(b->t[0], b->t[1]);
    float eps = 0.1f * (hi - lo);
    if (!(py_min(hi - t, t - lo) < eps)) {
        *insuf_progress = false;
    } else if (*insuf_progress || t >= hi || t <= lo) {
        t = fabsf(t - hi) < fabsf(t - lo) ? hi - eps : lo + eps;
        *insuf_progress = false;
    } else {
        *insuf_progress = true;
    }
    return t;
}

/* Phase two (Nocedal & Wright Algorithm 3.6): shrink the bracket around a strong Wolfe
 * point, keeping b.t[low] the best point so far. Returns low, or -1 when the closure fails. */
static int wolfe_zoom(wolfe *w) {
    lbfgs_state *lb = w->o->lb;
    int64_t n = lb->numel;
    bracket *b = &w->b;
    float d_norm = vec_abs_max(lb->d, n);
    bool insuf_progress = false;
    int low = w->done || b->f[0] <= b->f[1] ? 0 : 1, high = 1 - low;
    while (!w->done && w->iter < LS_MAX) {
        if (fabsf(b->t[1] - b->t[0]) * d_norm < LS_TOL_CHANGE) break;  /* bracket too small */
        float t = cubic_between(b->t[0], b->f[0], b->gtd[0], b->t[1], b->f[1], b->gtd[1]);
        t = zoom_guard(b, t, &insuf_progress);
        double f_new = probe(w->o, w->closure, w->user, t);
        w->evals++, w->iter++;
        if (isnan(f_new)) return -1;
        float gtd_new = vec_dot(lb->g_new, lb->d, n);
        if (armijo_fails(f_new, w->f, t, w->gtd) || f_new >= b->f[low]) {
            bracket_set(b, high, t, f_new, lb->g_new, gtd_new, n);
            low = b->f[0] <= b->f[1] ? 0 : 1, high = 1 - low;
            continue;
        }
        if (fabsf(gtd_new) <= -LS_C2 * w->gtd) w->done = true;
        else if (gtd_new * (b->t[high] - b->t[low]) >= 0)  /* the old high becomes the new low */
            bracket_set(b, high, b->t[low], b->f[low], b->g[low], b->gtd[low], n);
        bracket_set(b, low, t, f_new, lb->g_new, gtd_new, n);
    }
    return low;
}

/* torch's _strong_wolfe from x_init (the parameters, saved here) along lb->d: returns the
 * number of closure calls (-1 on failure) and sets *t, *loss and lb->flat_grad to the
 * point found. The parameters are left at x_init. */
static int strong_wolfe(optim *o, optim_closure closure, void *user, float *t, double *loss,
                        float gtd) {
    lbfgs_state *lb = o->lb;
    wolfe w = {.o = o, .closure = closure, .user = user, .f = *loss, .gtd = gtd,
               .b.g = {lb->bracket_g[0], lb->bracket_g[1]}};
    params_copy(o, lb->x_init, NULL);
    if (!wolfe_bracket(&w, *t)) return -1;
    int low = wolfe_zoom(&w);
    if (low < 0) return -1;
    *t = w.b.t[low];
    *loss = w.b.f[low];
    memcpy(lb->flat_grad, w.b.g[low], sizeof(float) * lb->numel);
    return w.evals;
}

/* ---- the step ---- */

/* One closure call at the current parameters: the loss, and the gradient into flat_grad. */
static double evaluate(optim *o, optim_closure closure, void *user) {
    double f = closure(user);
    o->evals++;
    gather_flat_grad(o, o->lb->flat_grad);
    return f;
}

/* Moves the parameters by t d, t from the line search or fixed (lb->t), and evaluates there
 * unless this is the step's last iteration without line search (torch skips that call: in
 * a stochastic setting it would be wasted). Returns the closure calls, -1 on failure. */
static int lbfgs_move(optim *o, optim_closure closure, void *user, double *loss, float gtd,
                      bool last) {
    lbfgs_state *lb = o->lb;
    if (o->lbfgs.strong_wolfe) {
        int evals = strong_wolfe(o, closure, user, &lb->t, loss, gtd);
        if (evals < 0) return -1;
        params_add(o, NULL, lb->t, lb->d);
        return evals;
    }
    params_add(o, NULL, lb->t, lb->d);
    if (last) return 0;
    *loss = evaluate(o, closure, user);
    return isnan(*loss) ? -1 : 1;
}

/* torch's stopping rules after an iteration: too many closure calls, a gradient below
 * tolerance_grad, or a step or a loss change below tolerance_change. */
static bool lbfgs_should_stop(const optim *o, int current_evals, double loss) {
    const lbfgs_state *lb = o->lb;
    const lbfgs_opts *l = &o->lbfgs;
    if (current_evals >= l->max_eval) return true;
    if (vec_abs_max(lb->flat_grad, lb->numel) <= l->tolerance_grad) return true;
    float step_max = 0;
    for (int64_t j = 0; j < lb->numel; j++) step_max = py_max(step_max, fabsf(lb->d[j] * lb->t));
    if (step_max <= l->tolerance_change) return true;
    return fabs(loss - lb->prev_loss) < l->tolerance_change;
}

float optim_lbfgs_step(optim *o, optim_closure closure, void *user) {
    if (!o || o->kind != OPTIM_LBFGS || !closure) {
        error_set(STATUS_ARG, "optim_lbfgs_step: needs an lbfgs optimiser (got %s) and a closure",
                  o ? optim_name(o) : "NULL");
        return NAN;
    }
    lbfgs_state *lb = o->lb;
    const lbfgs_opts *l = &o->lbfgs;
    o->steps++;
    double orig_loss = evaluate(o, closure, user), loss = orig_loss;
    if (isnan(loss)) return NAN;
    if (vec_abs_max(lb->flat_grad, lb->numel) <= l->tolerance_grad) return (float)orig_loss;
    int current_evals = 1;
    for (int n_iter = 1; n_iter <= l->max_iter; n_iter++) {
        lb->n_iter++;
        if (lbfgs_direction(lb, l->history_size) != STATUS_OK) return NAN;
        memcpy(lb->prev_flat_grad, lb->flat_grad, sizeof(float) * lb->numel);
        lb->prev_loss = loss;
        /* the first step ever is scaled by min(1, 1/|g|_1): H is not yet known */
        lb->t = lb->n_iter == 1 ? py_min(1.0f, 1.0f / vec_abs_sum(lb->flat_grad, lb->numel)) * l->lr
                                : l->lr;
        float gtd = vec_dot(lb->flat_grad, lb->d, lb->numel);
        if (gtd > -l->tolerance_change) break;  /* d is no longer a descent direction */
        int evals = lbfgs_move(o, closure, user, &loss, gtd, n_iter == l->max_iter);
        if (evals < 0) return NAN;
        current_evals += evals;
        if (n_iter == l->max_iter || lbfgs_should_stop(o, current_evals, loss)) break;
    }
    return (float)orig_loss;
}
