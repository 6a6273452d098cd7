/* test_optim.c: the optimisers against PyTorch 1.13 and against closed forms.
 *
 * Golden trajectories: tests/golden/optim.safetensors (tools/gen_golden_optim.py) holds 20
 * steps of each configuration below on the objective
 *     loss = sum(10 (v - u^2)^2 + (1 - u)^2) + sum((A w - B)^2) + 0.1 (sum w)^2
 * (u, v (3), w (2, 3); elementwise products), built here from the same ops, and one L-BFGS
 * run on Rosenbrock's function whose line search zooms. Every step's parameters, loss and
 * (L-BFGS) closure-call count are compared.
 *
 * Analytic cases use hand-written gradients, so they test the optimiser alone: SGD on a
 * diagonal quadratic against (1 - lr (a + wd))^k, Adam's first step of exactly lr per
 * element, L-BFGS on a convex quadratic and on Rosenbrock's function.
 */
#include <math.h>
#include <string.h>
#include "atelier/ops.h"
#include "atelier/optim.h"
#include "atelier/safetensors.h"
#include "harness.h"

#define GOLDEN_PATH "tests/golden/optim.safetensors"
enum { STEPS = 20 };

/* ---- the golden objective ---- */

typedef struct problem {
    arena *params, *step;
    int np;            /* 3, or 1 for Rosenbrock's function */
    tensor *p[3];      /* u (3), v (3), w (2, 3); or x (2) */
    tensor *a, *b;     /* (2, 3) constants */
} problem;

static float rosen_closure(void *user);

/* The loss as tools/gen_golden_optim.py's objective(), op for op; NULL on failure. */
static tensor *objective(problem *pr) {
    arena *s = pr->step;
    tensor *u = pr->p[0], *v = pr->p[1], *w = pr->p[2];
    tensor *valley = op_mul_scalar(s, op_square(s, op_sub(s, v, op_square(s, u))), 10);
    tensor *rosen = op_sum(s, op_add(s, valley, op_square(s, op_rsub_scalar(s, u, 1))), -1, false);
    tensor *fit = op_sum(s, op_square(s, op_sub(s, op_mul(s, pr->a, w), pr->b)), -1, false);
    tensor *couple = op_mul_scalar(s, op_square(s, op_sum(s, w, -1, false)), 0.1f);
    return op_add(s, op_add(s, rosen, fit), couple);
}

/* The closure of optim.h: zero the gradients, loss, backward; NaN on failure. */
static float problem_closure(void *user) {
    problem *pr = user;
    if (pr->np == 1) return rosen_closure(pr->p[0]);
    for (int i = 0; i < 3; i++) tensor_zero_grad(pr->p[i]);
    tensor *loss = objective(pr);
    float value = loss && tensor_backward(loss) == STATUS_OK ? loss->data[0] : NAN;
    arena_reset(pr->step);
    return value;
}

/* The golden problem of configuration `name`: "rosen_*" minimise Rosenbrock's function
 * (test_lbfgs_rosenbrock's closure), the others the objective above. */
static bool problem_init(problem *pr, const safetensors *f, const char *name) {
    pr->params = arena_new(1 << 16);
    pr->step = arena_new(1 << 16);
    bool rosen = !strncmp(name, "rosen", 5);
    const char *names[] = {"init.u", "init.v", "init.w", "init.x"};
    pr->np = rosen ? 1 : 3;
    for (int i = 0; i < pr->np; i++) {
        pr->p[i] = safetensors_get(f, pr->params, names[rosen ? 3 : i]);
        if (!pr->p[i]) return false;
        tensor_requires_grad(pr->p[i]);
    }
    pr->a = safetensors_get(f, pr->params, "A");
    pr->b = safetensors_get(f, pr->params, "B");
    return pr->a && pr->b;
}

static void problem_free(problem *pr) {
    arena_free(pr->step);
    arena_free(pr->params);
}

/* ---- golden trajectories ---- */

/* The optimiser of each golden configuration, with tools/gen_golden_optim.py's options. */
static optim *golden_optim(const char *name, arena *state, tensor **p) {
    sgd_opts s = sgd_defaults(0.002f);
    s.momentum = 0.9f, s.weight_decay = 0.01f;
    adam_opts a = adam_defaults(0.05f);
    lbfgs_opts l = lbfgs_defaults();
    l.max_iter = 5;
    if (!strcmp(name, "sgd")) return optim_sgd(state, p, 3, sgd_defaults(0.005f));
    if (!strcmp(name, "sgd_momentum")) return s.dampening = 0.1f, optim_sgd(state, p, 3, s);
    if (!strcmp(name, "sgd_nesterov")) return s.nesterov = true, optim_sgd(state, p, 3, s);
    if (!strcmp(name, "adam")) return a.weight_decay = 0.01f, optim_adam(state, p, 3, a);
    if (!strcmp(name, "adamw")) return a.weight_decay = 0.1f, optim_adamw(state, p, 3, a);
    if (!strcmp(name, "lbfgs_lr1")) return optim_lbfgs(state, p, 3, l);
    if (!strcmp(name, "lbfgs_lr05")) return l.lr = 0.5f, l.history_size = 3, optim_lbfgs(state, p, 3, l);
    l.strong_wolfe = true;
    if (!strcmp(name, "lbfgs_wolfe")) return optim_lbfgs(state, p, 3, l);
    if (!strcmp(name, "lbfgs_wolfe_lr2")) return l.lr = 2, optim_lbfgs(state, p, 3, l);
    if (!strcmp(name, "rosen_wolfe_lr10")) return l.lr = 10, optim_lbfgs(state, p, 1, l);
    return NULL;
}

/* Row k of the golden "<name>.<what>" (STEPS, ...), or NULL (a failure naming it). */
static const float *golden_row(const safetensors *f, arena *a, const char *name, const char *what,
                               int k) {
    char key[64];
    snprintf(key, sizeof key, "%s.%s", name, what);
    tensor *t = safetensors_get(f, a, key);
    CHECK_MSG(t && t->shape[0] == STEPS, "golden %s: %s", key, t ? "not 20 rows" : error_message());
    return t && t->shape[0] == STEPS ? t->data + k * (t->numel / STEPS) : NULL;
}

/* Runs one configuration for 20 steps and compares every step k with PyTorch: parameters
 * within 2e-6 + 2e-6 |ref| + drift_factor drift_k, the loss within 2e-6 |ref| +
 * drift_factor drift_k (the gradients here are O(1), so the loss moves by about the
 * parameters' error), where drift_k is how far float32 rounding alone moved torch's run
 * from float64 by step k (the golden "<name>.drift"). For L-BFGS also the closure calls of
 * every step until the loss is within 2x its minimum: later the loss-change stopping rule
 * (|f - f_prev| < 1e-9) compares float32 noise of the loss. */
static void golden_run(const safetensors *f, const char *name, double drift_factor) {
    problem pr;
    CHECK_OK(problem_init(&pr, f, name) ? pr.a : NULL);
    optim *o = golden_optim(name, pr.params, pr.p);
    CHECK_OK(o);
    arena *g = arena_new(1 << 16);
    const float *drift = golden_row(f, g, name, "drift", 0), *losses = golden_row(f, g, name, "loss", 0);
    bool lbfgs = o && !strcmp(optim_name(o), "lbfgs");
    const float *evals = lbfgs ? golden_row(f, g, name, "evals", 0) : NULL;
    double worst = 0, worst_loss = 0;
    const char *what[] = {"u", "v", "w"};
    if (pr.np == 1) what[0] = "x";
    for (int k = 0; o && drift && losses && k < STEPS; k++) {
        int evals_before = optim_evals(o);
        float loss = lbfgs ? optim_lbfgs_step(o, problem_closure, &pr) : problem_closure(&pr);
        if (!lbfgs) CHECK(optim_step(o) == STATUS_OK);
        double tol = 2e-6 + drift_factor * drift[k];
        CHECK_MSG(test_near(loss, losses[k], tol - 2e-6, 2e-6), "%s step %d: loss %.9g, want %.9g",
                  name, k + 1, loss, losses[k]);
        worst_loss = fmax(worst_loss, fabs(loss - losses[k]));
        for (int i = 0; i < pr.np; i++) {
            const float *row = golden_row(f, g, name, what[i], k);
            for (int64_t j = 0; row && j < pr.p[i]->numel; j++)
                worst = fmax(worst, fabs((double)pr.p[i]->data[j] - row[j]));
            if (row && !CHECK_ARRAY(pr.p[i]->data, row, pr.p[i]->numel, tol, 2e-6))
                fprintf(stderr, "    (%s, parameter %s after step %d)\n", name, what[i], k + 1);
        }
        if (lbfgs && evals && losses[k] > 2 * losses[STEPS - 1]) {
            int want = (int)evals[k] - (k ? (int)evals[k - 1] : 0);
            CHECK_MSG(optim_evals(o) - evals_before == want, "%s step %d: %d closure calls, want %d",
                      name, k + 1, optim_evals(o) - evals_before, want);
        }
    }
    CHECK(!o || optim_steps(o) == STEPS);
    printf("    %-16s over 20 steps: max |param - torch| %.3g, max |loss - torch| %.3g\n",
           name, worst, worst_loss);
    arena_free(g);
    optim_free(o);
    problem_free(&pr);
}

static safetensors *golden_open(void) {
    safetensors *f = safetensors_open(GOLDEN_PATH);
    CHECK_MSG(f, "%s (regenerate with /usr/bin/python3 tools/gen_golden_optim.py)", error_message());
    return f;
}

/* SGD, Adam, AdamW: the same float32 operations in the same order as torch's kernels; what
 * differs is the last bit of the loss's sums and of derived constants like 1 - beta1 (a
 * double of 0.9 in torch, of 0.9f here). PyTorch's own float32 run stays within 5e-7 of its
 * float64 run over these 20 steps, so a fixed 2e-6 + 2e-6 |ref| leaves 4x room (we see
 * < 5e-7) and still catches any wrong term (each moves the first step by > 1e-4). */
static void test_golden_first_order(void) {
    safetensors *f = golden_open();
    if (!f) return;
    const char *names[] = {"sgd", "sgd_momentum", "sgd_nesterov", "adam", "adamw"};
    for (int i = 0; i < 5; i++) golden_run(f, names[i], 0);
    safetensors_close(f);
}

/* L-BFGS amplifies rounding: each step's direction depends on all earlier gradient
 * differences, and PyTorch's own float32 and float64 runs part by 2e-5 after 3 steps and
 * 4e-3 later. Our run differs from torch's float32 one by 1 to 4 times that drift (dot
 * products round differently from BLAS sdot), so the tolerance is 10x the drift. A wrong
 * rule (the first step's scaling, H_diag, the history order, a Wolfe test) moves the
 * parameters by > 1e-2 within 2 steps, where the drift is < 1e-6. */
static void test_golden_lbfgs(void) {
    safetensors *f = golden_open();
    if (!f) return;
    const char *names[] = {"lbfgs_lr1", "lbfgs_lr05", "lbfgs_wolfe", "lbfgs_wolfe_lr2",
                           "rosen_wolfe_lr10"};
    for (int i = 0; i < 5; i++) golden_run(f, names[i], 10);
    safetensors_close(f);
}

/* ---- analytic cases (hand-written gradients) ---- */

/* Plain SGD with weight decay on f = 1/2 sum a_i x_i^2 contracts each x_i by
 * (1 - lr (a_i + wd)) per step: after k steps x_i = (1 - lr (a_i + wd))^k x0_i. */
static void test_sgd_quadratic_closed_form(void) {
    arena *a = arena_new(1 << 16);
    const float curv[4] = {0.5f, 1, 2, 4}, x0[4] = {1, -2, 3, 0.5f};
    tensor *x = tensor_from(a, 1, (int[]){4}, x0);
    tensor_requires_grad(x);
    sgd_opts s = sgd_defaults(0.1f);
    s.weight_decay = 0.05f;
    optim *o = optim_sgd(a, &x, 1, s);
    CHECK_OK(o);
    enum { K = 30 };
    for (int k = 0; o && k < K; k++) {
        float *g = tensor_grad(x);
        for (int i = 0; i < 4; i++) g[i] = curv[i] * x->data[i];
        CHECK(optim_step(o) == STATUS_OK);
    }
    /* ~4 float32 roundings per step, each <= 6e-8 relative: 30 steps stay under 1e-5 */
    for (int i = 0; i < 4; i++)
        CHECK_NEAR(x->data[i], x0[i] * pow(1 - 0.1 * (curv[i] + 0.05), K), 1e-9, 2e-5);
    CHECK(optim_steps(o) == K);
    optim_free(o);
    arena_free(a);
}

/* Adam's first step is lr in magnitude whatever the gradient's scale: m_hat = g and
 * v_hat = g^2 after bias correction, so the step is lr g / (|g| + eps) (Kingma & Ba 2015,
 * section 2.1). AdamW first scales p by 1 - lr wd. */
static void test_adam_first_step_is_lr(void) {
    arena *a = arena_new(1 << 16);
    const float grads[5] = {1e-3f, -0.5f, 2, -1e3f, 7};
    for (int decoupled = 0; decoupled < 2; decoupled++) {
        tensor *x = tensor_fill(tensor_new(a, 1, (int[]){5}), 2.0f);
        tensor_requires_grad(x);
        adam_opts opts = decoupled ? adamw_defaults(0.01f) : adam_defaults(0.01f);
        if (decoupled) opts.weight_decay = 0.1f;
        optim *o = decoupled ? optim_adamw(a, &x, 1, opts) : optim_adam(a, &x, 1, opts);
        CHECK_OK(o);
        memcpy(tensor_grad(x), grads, sizeof grads);
        CHECK(o && optim_step(o) == STATUS_OK);
        for (int i = 0; i < 5; i++) {
            double start = decoupled ? 2.0 * (1 - 0.01 * 0.1) : 2.0;
            double want = start - 0.01 * (grads[i] > 0 ? 1 : -1);
            /* eps / |g| <= 1e-5 of the step (1e-7), plus float32 rounding of p ~ 2 (2.4e-7) */
            CHECK_NEAR(x->data[i], want, 4e-7, 0);
        }
        optim_free(o);
    }
    arena_free(a);
}

/* A convex quadratic f = 1/2 e^T H e, e = x - x*, H = M M^T + I (n = 6, condition ~ 10). */
enum { QN = 6 };
typedef struct quad { tensor *x; double h[QN][QN]; float xs[QN]; } quad;

static void quad_init(quad *q, arena *a) {
    double m[QN][QN];
    for (int i = 0; i < QN; i++)
        for (int j = 0; j < QN; j++) m[i][j] = ((i * 7 + j * 3) % 11) / 11.0 - 0.5;
    for (int i = 0; i < QN; i++) {
        q->xs[i] = 0.25f * (float)(i + 1) - 0.5f;
        for (int j = 0; j < QN; j++) {
            q->h[i][j] = i == j;
            for (int k = 0; k < QN; k++) q->h[i][j] += m[i][k] * m[j][k];
        }
    }
    q->x = tensor_new(a, 1, (int[]){QN});
    tensor_requires_grad(q->x);
}

static float quad_closure(void *user) {
    quad *q = user;
    float *g = tensor_grad(q->x);
    double f = 0;
    for (int i = 0; i < QN; i++) {
        double hi = 0;
        for (int j = 0; j < QN; j++) hi += q->h[i][j] * (q->x->data[j] - q->xs[j]);
        g[i] = (float)hi;
        f += 0.5 * hi * (q->x->data[i] - q->xs[i]);
    }
    return (float)f;
}

/* L-BFGS reaches the minimiser of a convex quadratic in 2n iterations, with or without the
 * line search (not in n: torch's steps are not exact line minimisations). */
static void test_lbfgs_convex_quadratic(void) {
    for (int wolfe = 0; wolfe < 2; wolfe++) {
        arena *a = arena_new(1 << 16);
        quad q;
        quad_init(&q, a);
        lbfgs_opts l = lbfgs_defaults();
        l.max_iter = 2 * QN, l.max_eval = 100, l.strong_wolfe = wolfe;
        optim *o = optim_lbfgs(a, &q.x, 1, l);
        CHECK_OK(o);
        float f0 = o ? optim_lbfgs_step(o, quad_closure, &q) : NAN;
        CHECK(f0 > 1);  /* it returns the loss at the start */
        /* H's eigenvalues are >= 1, so |x - x*| <= |grad|: float32 gradients of ~1e-7 */
        CHECK_ARRAY(q.x->data, q.xs, QN, 1e-5, 0);
        CHECK_MSG(quad_closure(&q) < 1e-10, "%s: f = %g after 2n iterations",
                  wolfe ? "strong wolfe" : "fixed step", quad_closure(&q));
        printf("    %s: %d closure calls\n", wolfe ? "strong wolfe" : "fixed step", optim_evals(o));
        optim_free(o);
        arena_free(a);
    }
}

/* Rosenbrock's function 100 (y - x^2)^2 + (1 - x)^2 from (-1.2, 1): its curved valley is
 * the classic test of a line search. PyTorch's LBFGS(line_search_fn="strong_wolfe",
 * max_iter=100) reaches 3.4e-10 in one step with 43 closure calls. */
static float rosen_closure(void *user) {
    tensor *x = user;
    float a = x->data[0], b = x->data[1], r = b - a * a;
    float *g = tensor_grad(x);
    g[0] = -400 * a * r - 2 * (1 - a);
    g[1] = 200 * r;
    return 100 * r * r + (1 - a) * (1 - a);
}

static void test_lbfgs_rosenbrock(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_from(a, 1, (int[]){2}, (float[]){-1.2f, 1});
    tensor_requires_grad(x);
    lbfgs_opts l = lbfgs_defaults();
    l.max_iter = 100, l.strong_wolfe = true;
    optim *o = optim_lbfgs(a, &x, 1, l);
    CHECK_OK(o);
    float f0 = o ? optim_lbfgs_step(o, rosen_closure, x) : NAN;
    CHECK_NEAR(f0, 24.2, 1e-5, 0);
    float f = rosen_closure(x);
    CHECK_MSG(f < 1e-6f, "rosenbrock: f = %g after one step of 100 iterations", f);
    /* the valley is flat along its floor: f < 1e-6 allows |x - 1| up to ~1e-3 */
    CHECK_ARRAY(x->data, ((float[]){1, 1}), 2, 2e-3, 0);
    CHECK_MSG(optim_evals(o) <= 60, "%d closure calls (torch needs 43)", optim_evals(o));
    printf("    rosenbrock: f = %.3g, x = (%.7f, %.7f), %d closure calls\n", f, x->data[0],
           x->data[1], optim_evals(o));
    optim_free(o);
    arena_free(a);
}

/* ---- the API ---- */

/* params[i] of shape (i + 1, 2), requiring grad */
static void make_params(arena *a, tensor **p, int n) {
    for (int i = 0; i < n; i++) {
        p[i] = tensor_fill(tensor_new(a, 2, (int[]){i + 1, 2}), 1.0f);
        tensor_requires_grad(p[i]);
    }
}

static void test_state_names(void) {
    arena *a = arena_new(1 << 16);
    tensor *p[3];
    make_params(a, p, 3);
    const char *names[8];
    tensor *ts[8];
    optim *adam = optim_adam(a, p, 3, adam_defaults(0.1f));
    CHECK_OK(adam);
    CHECK(optim_state(adam, names, ts, 8) == 6);
    const char *want[] = {"exp_avg.0", "exp_avg_sq.0", "exp_avg.1", "exp_avg_sq.1",
                          "exp_avg.2", "exp_avg_sq.2"};
    for (int k = 0; k < 6; k++) {
        CHECK_MSG(!strcmp(names[k], want[k]), "state %d is %s, want %s", k, names[k], want[k]);
        CHECK(ts[k] && tensor_same_shape(ts[k], p[k / 2]) && ts[k]->data[0] == 0);
    }
    CHECK(optim_state(adam, names, ts, 2) == 6);  /* writes 2, reports all */
    CHECK(!strcmp(optim_name(adam), "adam"));
    sgd_opts s = sgd_defaults(0.1f);
    optim *plain = optim_sgd(a, p, 3, s);
    s.momentum = 0.9f;
    optim *heavy = optim_sgd(a, p, 3, s);
    optim *lbfgs = optim_lbfgs(a, p, 3, lbfgs_defaults());
    CHECK(optim_state(plain, names, ts, 8) == 0);
    CHECK(optim_state(heavy, names, ts, 8) == 3 && !strcmp(names[2], "momentum.2") &&
          tensor_same_shape(ts[2], p[2]));
    CHECK(optim_state(lbfgs, names, ts, 8) == 0);
    CHECK(!strcmp(optim_name(lbfgs), "lbfgs") && !strcmp(optim_name(plain), "sgd"));
    optim *adamw = optim_adamw(a, p, 3, adamw_defaults(0.1f));
    CHECK(!strcmp(optim_name(adamw), "adamw") && optim_state(adamw, NULL, NULL, 0) == 6);
    optim_free(adam); optim_free(plain); optim_free(heavy); optim_free(lbfgs); optim_free(adamw);
    arena_free(a);
}

static void test_set_lr_and_steps(void) {
    arena *a = arena_new(1 << 16);
    tensor *p;
    make_params(a, &p, 1);
    optim *o = optim_sgd(a, &p, 1, sgd_defaults(0.1f));
    tensor_grad(p)[0] = 2;
    CHECK(optim_step(o) == STATUS_OK);
    CHECK_NEAR(p->data[0], 1 - 0.1 * 2, 1e-7, 0);
    optim_set_lr(o, 0.5f);
    CHECK(optim_step(o) == STATUS_OK);
    CHECK_NEAR(p->data[0], 1 - 0.1 * 2 - 0.5 * 2, 1e-7, 0);
    CHECK(optim_steps(o) == 2);
    optim_set_steps(o, 41);
    CHECK(optim_step(o) == STATUS_OK && optim_steps(o) == 42);
    optim_zero_grad(o);
    CHECK(p->grad[0] == 0 && p->grad[1] == 0);
    optim_free(o);
    arena_free(a);
}

/* A fresh momentum buffer starts as the gradient (torch); one restored from a checkpoint
 * (optim_set_steps > 0 after loading it) is continued: buf = momentum buf + g. */
static void test_momentum_resume(void) {
    arena *a = arena_new(1 << 16);
    tensor *p, *buf;
    make_params(a, &p, 1);
    sgd_opts s = sgd_defaults(0.1f);
    s.momentum = 0.9f;
    for (int resume = 0; resume < 2; resume++) {
        tensor_fill(p, 1.0f);
        optim *o = optim_sgd(a, &p, 1, s);
        CHECK(optim_state(o, NULL, &buf, 1) == 1);
        tensor_fill(buf, 1.0f);  /* as checkpoint_load would */
        if (resume) optim_set_steps(o, 5);
        tensor_fill(p, 1.0f);
        tensor_grad(p)[0] = 2, p->grad[1] = 2;
        CHECK(optim_step(o) == STATUS_OK);
        double b = resume ? 0.9 * 1 + 2 : 2;
        CHECK_NEAR(buf->data[0], b, 1e-6, 0);
        CHECK_NEAR(p->data[0], 1 - 0.1 * b, 1e-6, 0);
        optim_free(o);
    }
    arena_free(a);
}

/* A parameter no gradient reached is left alone, state included (PyTorch skips it). */
static void test_skips_params_without_grad(void) {
    arena *a = arena_new(1 << 16);
    tensor *p[2];
    make_params(a, p, 2);
    optim *o = optim_adam(a, p, 2, adam_defaults(0.1f));
    tensor *st[4];
    CHECK(optim_state(o, NULL, st, 4) == 4);
    tensor_fill(p[0], 0.0f);
    tensor_grad(p[0])[0] = 1;
    CHECK(p[1]->grad == NULL);
    CHECK(optim_step(o) == STATUS_OK);
    CHECK_NEAR(p[0]->data[0], -0.1, 1e-7, 0);
    CHECK(p[0]->data[1] == 0);  /* zero gradient: m = 0, no move */
    for (int i = 0; i < p[1]->numel; i++) CHECK(p[1]->data[i] == 1 && st[2]->data[i] == 0);
    optim_free(o);
    arena_free(a);
}

static void test_errors(void) {
    arena *a = arena_new(1 << 16);
    tensor *p[2];
    make_params(a, p, 2);
    tensor *frozen = tensor_new(a, 1, (int[]){3});
    tensor *with_frozen[2] = {p[0], frozen}, *with_null[2] = {p[0], NULL};
    struct { optim *o; const char *what; } bad[] = {
        {optim_sgd(a, NULL, 2, sgd_defaults(0.1f)), "NULL params"},
        {optim_adam(a, p, 0, adam_defaults(0.1f)), "n = 0"},
        {optim_adamw(a, with_null, 2, adamw_defaults(0.1f)), "a NULL parameter"},
        {optim_lbfgs(a, with_frozen, 2, lbfgs_defaults()), "a parameter without requires_grad"},
        {optim_sgd(NULL, p, 2, sgd_defaults(0.1f)), "no arena"},
        {optim_sgd(a, p, 2, (sgd_opts){.lr = 0.1f, .nesterov = true}), "nesterov without momentum"},
        {optim_sgd(a, p, 2, sgd_defaults(-1)), "negative lr"},
        {optim_adam(a, p, 2, (adam_opts){.lr = 0.1f, .beta1 = 1, .beta2 = 0.9f}), "beta1 = 1"},
        {optim_lbfgs(a, p, 2, (lbfgs_opts){.lr = 1, .max_iter = 0, .history_size = 10}), "max_iter 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        error_clear();
        CHECK_MSG(bad[i].o == NULL, "%s: accepted", bad[i].what);
        optim_free(bad[i].o);
    }
    error_clear();
    CHECK(optim_lbfgs(a, with_frozen, 2, lbfgs_defaults()) == NULL && error_status() == STATUS_ARG);
    CHECK(strstr(error_message(), "parameter 1") && strstr(error_message(), "requires"));
    error_clear();
    optim *sgd = optim_sgd(a, p, 2, sgd_defaults(0.1f)), *lb = optim_lbfgs(a, p, 2, lbfgs_defaults());
    CHECK(isnan(optim_lbfgs_step(sgd, quad_closure, NULL)) && error_status() == STATUS_ARG);
    error_clear();
    CHECK(optim_step(lb) == STATUS_ARG);
    error_clear();
    CHECK(isnan(optim_lbfgs_step(lb, NULL, NULL)) && error_status() == STATUS_ARG);
    error_clear();
    optim_free(sgd);
    optim_free(lb);
    optim_free(NULL);
    arena_free(a);
}

static float nan_closure(void *user) {
    (void)user;
    return NAN;
}

/* A failing closure (NaN) ends the step with NaN; at a stationary point the step makes one
 * closure call and moves nothing (max |g| <= tolerance_grad). */
static void test_lbfgs_nan_and_optimum(void) {
    arena *a = arena_new(1 << 16);
    quad q;
    quad_init(&q, a);
    optim *o = optim_lbfgs(a, &q.x, 1, lbfgs_defaults());
    CHECK(isnan(optim_lbfgs_step(o, nan_closure, NULL)));
    memcpy(q.x->data, q.xs, sizeof q.xs);
    CHECK(optim_lbfgs_step(o, quad_closure, &q) == 0);
    CHECK(optim_evals(o) == 2 && optim_steps(o) == 2);
    CHECK(!memcmp(q.x->data, q.xs, sizeof q.xs));
    optim_free(o);
    arena_free(a);
}

int main(void) {
    RUN(test_golden_first_order);
    RUN(test_golden_lbfgs);
    RUN(test_sgd_quadratic_closed_form);
    RUN(test_adam_first_step_is_lr);
    RUN(test_lbfgs_convex_quadratic);
    RUN(test_lbfgs_rosenbrock);
    RUN(test_state_names);
    RUN(test_set_lr_and_steps);
    RUN(test_momentum_resume);
    RUN(test_skips_params_without_grad);
    RUN(test_errors);
    RUN(test_lbfgs_nan_and_optimum);
    return test_finish();
}
