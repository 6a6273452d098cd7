/* cw.c: Carlini & Wagner's L2 attack (2017), "Towards Evaluating the Robustness of Neural
 * Networks", section V.A: x_adv = (tanh(w) + 1) / 2 keeps pixels in [0,1] without clipping;
 * minimise ||x_adv - x||_2^2 + c f(x_adv) with Adam, f = max(margin, -kappa) where the
 * margin is z[y] - max_{j != y} z[j] (untargeted) or max_{j != t} z[j] - z[t] (targeted);
 * a binary search per image finds the smallest c that succeeds. Arrays are (N, D). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "attack_internal.h"

typedef struct cw_state {
    float *w, *w0, *xa, *g, *gw, *m1, *m2;  /* (N, D) */
    float *z;                                /* (N, K) */
    float *c, *lo, *hi, *best_l2;            /* (N) */
    int *use, *ok;                           /* (N) */
} cw_state;

static void cw_free(cw_state *st) {
    free(st->w); free(st->w0); free(st->xa); free(st->g); free(st->gw); free(st->m1); free(st->m2);
    free(st->z); free(st->c); free(st->lo); free(st->hi); free(st->best_l2); free(st->use); free(st->ok);
}

static bool cw_alloc(cw_state *st, int n, int64_t d, int k) {
    size_t nd = sizeof(float) * (size_t)(n * d), nf = sizeof(float) * (size_t)n;
    st->w = malloc(nd); st->w0 = malloc(nd); st->xa = malloc(nd); st->g = malloc(nd);
    st->gw = malloc(nd); st->m1 = malloc(nd); st->m2 = malloc(nd);
    st->z = malloc(sizeof(float) * (size_t)n * k);
    st->c = malloc(nf); st->lo = malloc(nf); st->hi = malloc(nf); st->best_l2 = malloc(nf);
    st->use = malloc(sizeof(int) * (size_t)n); st->ok = malloc(sizeof(int) * (size_t)n);
    return st->w && st->w0 && st->xa && st->g && st->gw && st->m1 && st->m2 && st->z && st->c &&
           st->lo && st->hi && st->best_l2 && st->use && st->ok;
}

/* One Adam step of every image's w on the C&W objective; records successes in x_adv. */
static status cw_step(const attack_model *m, const float *x, int n, int64_t d, float sign,
                      const attack_opts *o, float lr, int t, cw_state *st, float *x_adv) {
    int k = m->classes;
    for (int64_t j = 0; j < n * d; j++) st->xa[j] = 0.5f * (tanhf(st->w[j]) + 1.0f);
    status s = m->forward(m->self, st->xa, n, st->z, st->use, ATTACK_LOSS_MARGIN, st->g);
    if (s) return s;
    float b1 = 0.9f, b2 = 0.999f;
    float c1 = 1.0f - powf(b1, (float)t), c2 = 1.0f - powf(b2, (float)t);
    for (int i = 0; i < n; i++) {
        float f = sign * attack_loss_logits(st->z + (int64_t)i * k, 1, k, st->use + i,
                                            ATTACK_LOSS_MARGIN, NULL);
        const float *xi = x + i * d;
        float *ai = st->xa + i * d;
        double l2 = 0;
        for (int64_t j = 0; j < d; j++) l2 += (double)(ai[j] - xi[j]) * (ai[j] - xi[j]);
        if (f < -o->cw_kappa || (o->cw_kappa == 0 && f < 0)) {
            st->ok[i] = 1;
            if (l2 < st->best_l2[i]) {
                st->best_l2[i] = (float)l2;
                memcpy(x_adv + i * d, ai, sizeof(float) * (size_t)d);
            }
        }
        float ci = f > -o->cw_kappa ? st->c[i] * sign : 0.0f;
        for (int64_t j = 0; j < d; j++) {
            int64_t q = i * d + j;
            float th = 2.0f * ai[j] - 1.0f;                     /* tanh(w) */
            float ga = 2.0f * (ai[j] - xi[j]) + ci * st->g[q];  /* d objective / d x_adv */
            float gw = ga * 0.5f * (1.0f - th * th);            /* d x_adv / d w */
            st->m1[q] = b1 * st->m1[q] + (1 - b1) * gw;
            st->m2[q] = b2 * st->m2[q] + (1 - b2) * gw * gw;
            st->w[q] -= lr * (st->m1[q] / c1) / (sqrtf(st->m2[q] / c2) + 1e-8f);
        }
    }
    return STATUS_OK;
}

status attack_cw(const attack_model *m, const float *x, const int *labels, int n,
                 const attack_opts *o, float *x_adv) {
    status s = attack_check(m, n, o);
    if (s) return s;
    if (!(o->cw_c > 0) || !(o->cw_kappa >= 0))
        return error_set(STATUS_ARG, "attack: cw c must be > 0 and kappa >= 0");
    int64_t d = attack_dim(m), nd = n * d;
    float lr = o->step_size > 0 ? o->step_size : 0.01f;
    cw_state st = {0};
    if (!cw_alloc(&st, n, d, m->classes)) {
        cw_free(&st);
        return error_set(STATUS_NOMEM, "attack: out of memory for C&W");
    }
    float sign = attack_labels(o, labels, n, st.use);
    for (int64_t j = 0; j < nd; j++) {
        float v = fminf(fmaxf(x[j], 1e-6f), 1.0f - 1e-6f);
        st.w0[j] = atanhf(2.0f * v - 1.0f);
    }
    memcpy(x_adv, x, sizeof(float) * (size_t)nd);  /* no success: the image itself */
    for (int i = 0; i < n; i++) {
        st.c[i] = o->cw_c;
        st.lo[i] = 0;
        st.hi[i] = 1e10f;
        st.best_l2[i] = INFINITY;
    }
    for (int search = 0; search < o->cw_search; search++) {
        memcpy(st.w, st.w0, sizeof(float) * (size_t)nd);
        memset(st.m1, 0, sizeof(float) * (size_t)nd);
        memset(st.m2, 0, sizeof(float) * (size_t)nd);
        memset(st.ok, 0, sizeof(int) * (size_t)n);
        for (int t = 1; t <= o->steps; t++) {
            s = cw_step(m, x, n, d, sign, o, lr, t, &st, x_adv);
            if (s) goto done;
        }
        for (int i = 0; i < n; i++) {   /* the binary search of section V.A */
            if (st.ok[i]) {
                st.hi[i] = fminf(st.hi[i], st.c[i]);
                st.c[i] = 0.5f * (st.lo[i] + st.hi[i]);
            } else {
                st.lo[i] = fmaxf(st.lo[i], st.c[i]);
                st.c[i] = st.hi[i] < 1e9f ? 0.5f * (st.lo[i] + st.hi[i]) : st.c[i] * 10;
            }
        }
    }
    attack_project(x, x_adv, n, d, o->norm, o->eps > 0 ? o->eps : INFINITY);
done:
    cw_free(&st);
    return s;
}
