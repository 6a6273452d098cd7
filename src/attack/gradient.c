/* gradient.c: the gradient-sign family: FGSM, PGD (Madry et al.), random noise, universal.
 * Arrays are (N, D) with D = C * H * W, images in [0,1]. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "attack_internal.h"

status attack_noise(const float *x, int n, int d, const attack_opts *o, float *x_adv) {
    if (n < 1 || d < 1 || !(o->eps >= 0) || !isfinite(o->eps))
        return error_set(STATUS_ARG, "attack_noise: bad sizes or eps");
    rng r = rng_new(o->seed);
    int64_t nd = (int64_t)n * d;
    if (o->norm == ATTACK_NORM_LINF) {
        /* random sign: the same linf size as FGSM's step, no information */
        for (int64_t j = 0; j < nd; j++)
            x_adv[j] = x[j] + (rng_u64(&r) >> 63 ? o->eps : -o->eps);
    } else {
        rng_normal(&r, x_adv, nd, 0, 1);   /* a random direction of length eps */
        for (int i = 0; i < n; i++) {
            float *ai = x_adv + (int64_t)i * d;
            double ss = 0;
            for (int j = 0; j < d; j++) ss += (double)ai[j] * ai[j];
            float k = ss > 0 ? (float)(o->eps / sqrt(ss)) : 0;
            for (int j = 0; j < d; j++) ai[j] = x[(int64_t)i * d + j] + k * ai[j];
        }
    }
    attack_project(x, x_adv, n, d, o->norm, o->eps);
    return STATUS_OK;
}

status attack_fgsm(const attack_model *m, const float *x, const int *labels, int n,
                   const attack_opts *o, float *x_adv) {
    status s = attack_check(m, n, o);
    if (s) return s;
    int64_t d = attack_dim(m);
    float *g = malloc(sizeof(float) * (size_t)(n * d));
    float *z = malloc(sizeof(float) * (size_t)n * m->classes);
    int *use = malloc(sizeof(int) * (size_t)n);
    if (!g || !z || !use) { s = error_set(STATUS_NOMEM, "attack: out of memory"); goto done; }
    float sign = attack_labels(o, labels, n, use);
    s = m->forward(m->self, x, n, z, use, ATTACK_LOSS_CE, g);
    if (s) goto done;
    memcpy(x_adv, x, sizeof(float) * (size_t)(n * d));
    attack_step(x_adv, g, n, d, o->norm, sign, o->eps);
    attack_project(x, x_adv, n, d, o->norm, o->eps);
done:
    free(g); free(z); free(use);
    return s;
}

/* Is candidate (loss lc, prediction pc) stronger than the best so far (lb, pb)? A fooled
 * model first (untargeted: pred != label; targeted: pred == target), then the loss. */
static bool stronger(float sign, int want, float lc, int pc, float lb, int pb) {
    bool fc = sign > 0 ? pc != want : pc == want, fb = sign > 0 ? pb != want : pb == want;
    if (fc != fb) return fc;
    return sign * lc > sign * lb;
}

static bool fooled(float sign, int want, int pred) { return sign > 0 ? pred != want : pred == want; }

static int argmax(const float *z, int k) {
    int b = 0;
    for (int j = 1; j < k; j++) b = z[j] > z[b] ? j : b;
    return b;
}

/* One PGD run from cur (N, D) over the images with active[i]: `steps` steps, each on the
 * active images gathered into gx (their gradient into g). With early_stop an image whose
 * current iterate already fools the model leaves the active set and keeps that iterate. */
static status pgd_run(const attack_model *m, const float *x, const int *use, int n, int64_t d,
                      const attack_opts *o, float sign, float a, bool *active, float *cur,
                      float *gx, float *g, float *z, int *ua, int *idx) {
    for (int t = 0; t < o->steps; t++) {
        int na = 0;
        for (int i = 0; i < n; i++)
            if (active[i]) {
                idx[na] = i;
                ua[na] = use[i];
                memcpy(gx + na * d, cur + i * d, sizeof(float) * (size_t)d);
                na++;
            }
        if (na == 0) break;
        status s = m->forward(m->self, gx, na, z, ua, ATTACK_LOSS_CE, g);
        if (s) return s;
        for (int q = 0; q < na; q++) {
            int i = idx[q];
            if (o->early_stop && fooled(sign, use[i], argmax(z + (int64_t)q * m->classes, m->classes))) {
                active[i] = false;
                continue;
            }
            attack_step(cur + i * d, g + q * d, 1, d, o->norm, sign, a);
            attack_project(x + i * d, cur + i * d, 1, d, o->norm, o->eps);
        }
    }
    return STATUS_OK;
}

status attack_pgd(const attack_model *m, const float *x, const int *labels, int n,
                  const attack_opts *o, float *x_adv) {
    status s = attack_check(m, n, o);
    if (s) return s;
    int64_t d = attack_dim(m), nd = n * d;
    float a = o->step_size > 0 ? o->step_size : 2.5f * o->eps / (float)o->steps;
    float *g = malloc(sizeof(float) * (size_t)nd), *cur = malloc(sizeof(float) * (size_t)nd);
    float *gx = malloc(sizeof(float) * (size_t)nd);
    float *z = malloc(sizeof(float) * (size_t)n * m->classes);
    float *lc = malloc(sizeof(float) * (size_t)n), *lb = malloc(sizeof(float) * (size_t)n);
    int *use = malloc(sizeof(int) * (size_t)n), *pc = malloc(sizeof(int) * (size_t)n),
        *pb = malloc(sizeof(int) * (size_t)n), *ua = malloc(sizeof(int) * (size_t)n),
        *idx = malloc(sizeof(int) * (size_t)n);
    bool *active = malloc(sizeof(bool) * (size_t)n);
    if (!g || !cur || !gx || !z || !lc || !lb || !use || !pc || !pb || !ua || !idx || !active) {
        s = error_set(STATUS_NOMEM, "attack: out of memory");
        goto done;
    }
    float sign = attack_labels(o, labels, n, use);
    rng r = rng_new(o->seed);
    for (int run = 0; run < o->restarts; run++) {
        if (o->random_start && o->eps > 0) {
            attack_random_in_ball(&r, cur, n, d, o->norm, o->eps);
            for (int64_t j = 0; j < nd; j++) cur[j] += x[j];
        } else {
            memcpy(cur, x, sizeof(float) * (size_t)nd);
        }
        attack_project(x, cur, n, d, o->norm, o->eps);
        /* with early_stop, an image fooled by an earlier run is not attacked again */
        for (int i = 0; i < n; i++) active[i] = !(o->early_stop && run > 0 && fooled(sign, use[i], pb[i]));
        s = pgd_run(m, x, use, n, d, o, sign, a, active, cur, gx, g, z, ua, idx);
        if (s) goto done;
        s = attack_score(m, cur, use, n, ATTACK_LOSS_CE, lc, pc);
        if (s) goto done;
        for (int i = 0; i < n; i++) {
            if (run == 0 || stronger(sign, use[i], lc[i], pc[i], lb[i], pb[i])) {
                lb[i] = lc[i];
                pb[i] = pc[i];
                memcpy(x_adv + i * d, cur + i * d, sizeof(float) * (size_t)d);
            }
        }
    }
done:
    free(g); free(cur); free(gx); free(z); free(lc); free(lb); free(use); free(pc); free(pb);
    free(ua); free(idx); free(active);
    return s;
}

status attack_run(const attack_model *m, const float *x, const int *labels, int n,
                  const attack_opts *o, float *x_adv) {
    switch (o->method) {
    case ATTACK_METHOD_FGSM: return attack_fgsm(m, x, labels, n, o, x_adv);
    case ATTACK_METHOD_PGD: return attack_pgd(m, x, labels, n, o, x_adv);
    case ATTACK_METHOD_CW: return attack_cw(m, x, labels, n, o, x_adv);
    case ATTACK_METHOD_NOISE: {
        status s = attack_check(m, n, o);
        return s ? s : attack_noise(x, n, (int)attack_dim(m), o, x_adv);
    }
    }
    return error_set(STATUS_ARG, "attack: unknown method %d", (int)o->method);
}

void attack_apply_universal(const float *x, int n, int d, const float *delta, float *x_adv) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            float v = x[(int64_t)i * d + j] + delta[j];
            x_adv[(int64_t)i * d + j] = fminf(fmaxf(v, 0.0f), 1.0f);
        }
}

/* PGD on one shared delta (D): every step sums the gradient over the whole set, taken at
 * clip(x_i + delta), in minibatches of `batch` to bound memory. */
status attack_universal(const attack_model *m, const float *x, const int *labels, int n,
                        const attack_opts *o, int batch, float *delta) {
    status s = attack_check(m, n, o);
    if (s) return s;
    if (batch < 1) batch = 32;
    if (batch > n) batch = n;
    int64_t d = attack_dim(m);
    float a = o->step_size > 0 ? o->step_size : 2.5f * o->eps / (float)o->steps;
    float *cur = malloc(sizeof(float) * (size_t)(batch * d)), *g = malloc(sizeof(float) * (size_t)(batch * d));
    float *sum = malloc(sizeof(float) * (size_t)d);
    float *z = malloc(sizeof(float) * (size_t)batch * m->classes);
    int *use = malloc(sizeof(int) * (size_t)n);
    if (!cur || !g || !sum || !z || !use) {
        s = error_set(STATUS_NOMEM, "attack: out of memory");
        goto done;
    }
    float sign = attack_labels(o, labels, n, use);
    rng r = rng_new(o->seed);
    if (o->random_start) attack_random_in_ball(&r, delta, 1, d, o->norm, o->eps);
    else memset(delta, 0, sizeof(float) * (size_t)d);
    for (int t = 0; t < o->steps; t++) {
        memset(sum, 0, sizeof(float) * (size_t)d);
        for (int b = 0; b < n; b += batch) {
            int nb = n - b < batch ? n - b : batch;
            attack_apply_universal(x + b * d, nb, (int)d, delta, cur);
            s = m->forward(m->self, cur, nb, z, use + b, ATTACK_LOSS_CE, g);
            if (s) goto done;
            for (int i = 0; i < nb; i++)
                for (int64_t j = 0; j < d; j++) sum[j] += g[i * d + j];
        }
        attack_step(delta, sum, 1, d, o->norm, sign, a);
        /* project delta alone: the ball around 0, without the [0,1] clip of pixels */
        if (o->norm == ATTACK_NORM_LINF) {
            for (int64_t j = 0; j < d; j++) delta[j] = fminf(fmaxf(delta[j], -o->eps), o->eps);
        } else {
            double ss = 0;
            for (int64_t j = 0; j < d; j++) ss += (double)delta[j] * delta[j];
            if (sqrt(ss) > o->eps) {
                float k = (float)(o->eps / sqrt(ss)) * (1.0f - 1e-6f);
                for (int64_t j = 0; j < d; j++) delta[j] *= k;
            }
        }
    }
done:
    free(cur); free(g); free(sum); free(z); free(use);
    return s;
}
