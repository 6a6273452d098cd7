/* common.c: losses, projections and checks shared by every attack. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "attack_internal.h"

attack_opts attack_defaults(void) {
    return (attack_opts){
        .method = ATTACK_METHOD_PGD, .norm = ATTACK_NORM_LINF, .eps = 8.0f / 255.0f,
        .steps = 10, .step_size = 0, .restarts = 1, .random_start = true, .target = -1,
        .seed = 1, .cw_search = 5, .cw_c = 1.0f, .cw_kappa = 0, .early_stop = false,
    };
}

const char *attack_method_name(attack_method m) {
    switch (m) {
    case ATTACK_METHOD_FGSM: return "fgsm";
    case ATTACK_METHOD_PGD: return "pgd";
    case ATTACK_METHOD_CW: return "cw";
    case ATTACK_METHOD_NOISE: return "noise";
    }
    return "?";
}

const char *attack_norm_name(attack_norm n) { return n == ATTACK_NORM_L2 ? "l2" : "linf"; }

int64_t attack_dim(const attack_model *m) {
    return (int64_t)m->channels * m->height * m->width;
}

status attack_check(const attack_model *m, int n, const attack_opts *o) {
    if (!m || !m->forward || m->classes < 2 || attack_dim(m) < 1)
        return error_set(STATUS_ARG, "attack: the model has no forward, or fewer than 2 classes");
    if (n < 1) return error_set(STATUS_ARG, "attack: no images (n = %d)", n);
    if (!(o->eps >= 0) || !isfinite(o->eps))
        return error_set(STATUS_ARG, "attack: eps %g is not a number >= 0", (double)o->eps);
    if (o->norm == ATTACK_NORM_LINF && o->eps > 1)
        return error_set(STATUS_ARG, "attack: linf eps %g is above 1 (pixels are in [0,1])",
                         (double)o->eps);
    if (o->steps < 1 || o->steps > 100000)
        return error_set(STATUS_ARG, "attack: steps %d is not in [1, 100000]", o->steps);
    if (o->restarts < 1 || o->restarts > 1000)
        return error_set(STATUS_ARG, "attack: restarts %d is not in [1, 1000]", o->restarts);
    if (!(o->step_size >= 0) || !isfinite(o->step_size))
        return error_set(STATUS_ARG, "attack: step size %g is not a number >= 0",
                         (double)o->step_size);
    if (o->target >= m->classes || o->target < -1)
        return error_set(STATUS_ARG, "attack: target class %d is not in [0, %d)", o->target,
                         m->classes);
    if (o->cw_search < 1 || o->cw_search > 100)
        return error_set(STATUS_ARG, "attack: cw search steps %d is not in [1, 100]", o->cw_search);
    return STATUS_OK;
}

float attack_loss_logits(const float *logits, int n, int k, const int *labels,
                         attack_loss loss, float *dlogits) {
    double total = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (int64_t)i * k;
        float *dz = dlogits ? dlogits + (int64_t)i * k : NULL;
        int y = labels[i];
        if (loss == ATTACK_LOSS_CE) {
            /* -log softmax(z)[y] = logsumexp(z) - z[y]; d/dz = softmax(z) - onehot(y) */
            float mx = z[0];
            for (int j = 1; j < k; j++) mx = fmaxf(mx, z[j]);
            double s = 0;
            for (int j = 0; j < k; j++) s += exp((double)z[j] - mx);
            total += mx + log(s) - z[y];
            if (dz) {
                for (int j = 0; j < k; j++) dz[j] = (float)(exp((double)z[j] - mx) / s);
                dz[y] -= 1.0f;
            }
        } else {
            /* z[y] - max_{j != y} z[j]; d/dz: +1 at y, -1 at the runner-up */
            int r = y == 0 ? 1 : 0;
            for (int j = 0; j < k; j++)
                if (j != y && z[j] > z[r]) r = j;
            total += (double)z[y] - z[r];
            if (dz) {
                memset(dz, 0, sizeof(float) * k);
                dz[y] = 1.0f;
                dz[r] = -1.0f;
            }
        }
    }
    return (float)total;
}

void attack_project(const float *x, float *x_adv, int n, int64_t d, attack_norm norm, float eps) {
    for (int i = 0; i < n; i++) {
        const float *xi = x + i * d;
        float *ai = x_adv + i * d;
        if (norm == ATTACK_NORM_LINF) {
            for (int64_t j = 0; j < d; j++) {
                float lo = fmaxf(0.0f, xi[j] - eps), hi = fminf(1.0f, xi[j] + eps);
                float v = ai[j];
                ai[j] = v != v ? xi[j] : fminf(fmaxf(v, lo), hi);
            }
        } else {
            double ss = 0;
            for (int64_t j = 0; j < d; j++) ss += (double)(ai[j] - xi[j]) * (ai[j] - xi[j]);
            double norm2 = sqrt(ss);
            /* a hair inside, so float rounding of x + delta never pokes out of the ball */
            float scale = norm2 > eps ? (float)(eps / norm2) * (1.0f - 1e-6f) : 1.0f;
            for (int64_t j = 0; j < d; j++) {
                float v = xi[j] + (ai[j] - xi[j]) * scale;
                ai[j] = v != v ? xi[j] : fminf(fmaxf(v, 0.0f), 1.0f);
            }
        }
    }
}

void attack_step(float *x_adv, const float *g, int n, int64_t d, attack_norm norm, float s, float a) {
    for (int i = 0; i < n; i++) {
        float *ai = x_adv + i * d;
        const float *gi = g + i * d;
        if (norm == ATTACK_NORM_LINF) {
            for (int64_t j = 0; j < d; j++)
                ai[j] += s * a * (float)((gi[j] > 0) - (gi[j] < 0));
        } else {
            double ss = 0;
            for (int64_t j = 0; j < d; j++) ss += (double)gi[j] * gi[j];
            if (ss <= 0) continue;
            float k = s * a / (float)sqrt(ss);
            for (int64_t j = 0; j < d; j++) ai[j] += k * gi[j];
        }
    }
}

void attack_random_in_ball(rng *r, float *delta, int n, int64_t d, attack_norm norm, float eps) {
    if (norm == ATTACK_NORM_LINF) {
        rng_uniform(r, delta, (int64_t)n * d, -eps, eps);
        return;
    }
    /* uniform in the d-ball: a gaussian direction, radius eps u^(1/d) */
    rng_normal(r, delta, (int64_t)n * d, 0, 1);
    for (int i = 0; i < n; i++) {
        float *di = delta + i * d;
        double ss = 0;
        for (int64_t j = 0; j < d; j++) ss += (double)di[j] * di[j];
        double radius = eps * pow(rng_float(r), 1.0 / (double)d);
        float k = ss > 0 ? (float)(radius / sqrt(ss)) : 0;
        for (int64_t j = 0; j < d; j++) di[j] *= k;
    }
}

float attack_labels(const attack_opts *o, const int *labels, int n, int *use) {
    for (int i = 0; i < n; i++) use[i] = o->target >= 0 ? o->target : labels[i];
    return o->target >= 0 ? -1.0f : 1.0f;
}

status attack_score(const attack_model *m, const float *x, const int *use, int n,
                    attack_loss loss, float *per_loss, int *pred) {
    int k = m->classes;
    float *z = malloc(sizeof(float) * (size_t)n * k);
    if (!z) return error_set(STATUS_NOMEM, "attack: out of memory for %d logits", n * k);
    status s = m->forward(m->self, x, n, z, use, loss, NULL);
    if (s == STATUS_OK) {
        for (int i = 0; i < n; i++) {
            const float *zi = z + (int64_t)i * k;
            if (per_loss) per_loss[i] = attack_loss_logits(zi, 1, k, use + i, loss, NULL);
            if (pred) {
                int b = 0;
                for (int j = 1; j < k; j++)
                    if (zi[j] > zi[b]) b = j;
                pred[i] = b;
            }
        }
    }
    free(z);
    return s;
}

status attack_predict(const attack_model *m, const float *x, int n, int *pred) {
    if (!m || !m->forward || n < 1) return error_set(STATUS_ARG, "attack_predict: no model or no images");
    int *dummy = calloc((size_t)n, sizeof(int));
    if (!dummy) return error_set(STATUS_NOMEM, "attack_predict: out of memory");
    status s = attack_score(m, x, dummy, n, ATTACK_LOSS_CE, NULL, pred);
    free(dummy);
    return s;
}

bool attack_in_ball(const float *x, const float *x_adv, int n, int d, attack_norm norm,
                    float eps, float tol) {
    for (int i = 0; i < n; i++) {
        double ss = 0;
        for (int j = 0; j < d; j++) {
            float a = x_adv[(int64_t)i * d + j], v = a - x[(int64_t)i * d + j];
            if (!(a >= 0.0f && a <= 1.0f)) return false;
            if (norm == ATTACK_NORM_LINF && fabsf(v) > eps + tol) return false;
            ss += (double)v * v;
        }
        if (norm == ATTACK_NORM_L2 && sqrt(ss) > eps + tol) return false;
    }
    return true;
}
