#include "gradcheck.h"
#include <math.h>
#include <stdlib.h>
#include "harness.h"
#include "atelier/ops.h"
#include "atelier/rng.h"

gradcheck_opts gradcheck_defaults(void) {
    return (gradcheck_opts){.eps = 1e-2f, .atol = 2e-3, .rtol = 2e-2, .max_skip = 0.1, .seed = 7};
}

/* L = sum r_i out_i in double, with autodiff off; NaN if f fails. */
static double weighted_loss(gradcheck_fn f, arena *a, tensor **in, void *user, const float *r) {
    bool was = autograd_set(false);
    tensor *out = f(a, in, user);
    autograd_set(was);
    if (!out) return NAN;
    double s = 0;
    for (int64_t i = 0; i < out->numel; i++) s += (double)r[i] * out->data[i];
    arena_reset(a);
    return s;
}

static double central_diff(gradcheck_fn f, arena *a, tensor **in, void *user, const float *r,
                           float *x, float eps) {
    float keep = *x;
    *x = keep + eps;
    double lp = weighted_loss(f, a, in, user, r);
    *x = keep - eps;
    double lm = weighted_loss(f, a, in, user, r);
    *x = keep;
    return (lp - lm) / (2.0 * eps);
}

/* Analytic gradients: backward from sum(out * r). Returns the weights r (malloc'd). */
static float *analytic(const char *name, gradcheck_fn f, arena *a, tensor **in, int nin,
                       void *user, uint64_t seed) {
    for (int i = 0; i < nin; i++)
        if (in[i] && in[i]->requires_grad) tensor_zero_grad(in[i]);
    tensor *out = f(a, in, user);
    if (!out) {
        test_fail(__FILE__, __LINE__, "%s: forward failed: %s", name, error_message());
        return NULL;
    }
    float *r = malloc(sizeof(float) * out->numel);
    rng g = rng_new(seed);
    rng_uniform(&g, r, out->numel, -1.0f, 1.0f);
    tensor *rt = tensor_from(a, out->ndim, out->shape, r);
    tensor *loss = op_sum(a, op_mul(a, out, rt), -1, false);
    if (!loss || tensor_backward(loss) != STATUS_OK) {
        test_fail(__FILE__, __LINE__, "%s: backward failed: %s", name, error_message());
        free(r);
        return NULL;
    }
    return r;
}

bool gradcheck(const char *name, gradcheck_fn f, tensor **in, int nin, void *user,
               gradcheck_opts o) {
    arena *a = arena_new(1 << 20);
    float *r = analytic(name, f, a, in, nin, user, o.seed);
    bool ok = r != NULL;
    for (int i = 0; ok && i < nin; i++) {
        tensor *t = in[i];
        if (!t || !t->requires_grad) continue;
        float *g = tensor_grad(t);
        float *ga = malloc(sizeof(float) * t->numel);  /* analytic grads survive the resets */
        for (int64_t j = 0; j < t->numel; j++) ga[j] = g[j];
        arena_reset(a);
        int64_t skipped = 0, bad = 0, worst = -1;
        double worst_err = 0, worst_num = 0;
        for (int64_t j = 0; j < t->numel; j++) {
            double d1 = central_diff(f, a, in, user, r, &t->data[j], o.eps);
            double d2 = central_diff(f, a, in, user, r, &t->data[j], o.eps / 2);
            double tol = o.atol + o.rtol * fabs(d2);
            if (fabs(d1 - d2) > tol) { skipped++; continue; }  /* a kink inside [x-eps, x+eps] */
            double err = fabs(ga[j] - d2);
            if (!(err <= tol)) {
                bad++;
                if (worst < 0 || err > worst_err) { worst = j; worst_err = err; worst_num = d2; }
            }
        }
        if (bad)
            test_fail(__FILE__, __LINE__, "%s: input %d: %lld of %lld gradients differ; worst [%lld] "
                      "analytic %.6g numeric %.6g", name, i, (long long)bad, (long long)t->numel,
                      (long long)worst, ga[worst], worst_num);
        if (skipped > o.max_skip * t->numel)
            test_fail(__FILE__, __LINE__, "%s: input %d: %lld of %lld elements skipped as kinks",
                      name, i, (long long)skipped, (long long)t->numel);
        ok = ok && !bad && skipped <= o.max_skip * t->numel;
        free(ga);
    }
    free(r);
    arena_free(a);
    return ok;
}
