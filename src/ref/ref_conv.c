/* ref_conv.c: reference kernels for conv2d and conv_transpose2d (see backend.h).
 *
 * Both ops are the same set of connections between a "small" tensor S and a "large" one L:
 *
 *   S[n, s, i, j]  <->  L[n, g LCG + l, i st_h - pad_h + kh dil_h, j st_w - pad_w + kw dil_w]
 *   through the weight W[s, l, kh, kw],  g = s / SCG (the group of s),
 *
 * with SCG = SC / groups and LCG = LC / groups channels per group. Connections that land in
 * the padding are absent. conv2d reads L = x and writes S = y (a gather); conv_transpose2d
 * reads S = x and writes L = y (a scatter): each op's forward is the other's input gradient,
 * which is how PyTorch defines the transposed convolution. The weight layouts agree too:
 * conv2d's w is (OC, C/groups, KH, KW) = (SC, LCG, ..), conv_transpose2d's w is
 * (C, OC/groups, KH, KW) = (SC, LCG, ..). So three loops serve all eight directions:
 *
 *   gather:  S[s, i, j]       += sum W[s, l, kh, kw] L[l, ...]   conv2d fwd, transpose dx
 *   scatter: L[l, ...]        += sum W[s, l, kh, kw] S[s, i, j]  conv2d dx, transpose fwd
 *   wgrad:   dW[s, l, kh, kw] += sum S[s, i, j] L[l, ...]        both dw (S, L = dy, x or x, dy)
 *
 * Plain direct loops, no im2col: this file is the specification, not the fast path.
 */
#include "ref/ref.h"

/* The connection geometry above, in the small/large terms. */
typedef struct conv_geom {
    int n, groups;
    int sc, sh, sw;  /* S (N, SC, SH, SW) */
    int lc, lh, lw;  /* L (N, LC, LH, LW) */
    int kh, kw, st_h, st_w, pad_h, pad_w, dil_h, dil_w;
} conv_geom;

/* conv2d: S = y (N, OC, OH, OW), L = x (N, C, H, W). */
static conv_geom geom_conv(const conv2d_params *p) {
    return (conv_geom){p->n, p->groups, p->oc, p->oh, p->ow, p->c, p->h, p->w, p->kh, p->kw,
                       p->stride_h, p->stride_w, p->pad_h, p->pad_w, p->dil_h, p->dil_w};
}

/* conv_transpose2d: S = x (N, C, H, W), L = y (N, OC, OH, OW). */
static conv_geom geom_transpose(const conv2d_params *p) {
    return (conv_geom){p->n, p->groups, p->c, p->h, p->w, p->oc, p->oh, p->ow, p->kh, p->kw,
                       p->stride_h, p->stride_w, p->pad_h, p->pad_w, p->dil_h, p->dil_w};
}

/* Every connection of the convolution: S[n, s, i, j] sees L[n, l, li, lj] through weight
 * W[s, l, kh, kw] with li = i stride - pad + kh dil (likewise lj), l in s's group.
 * gather: S (N, SC, SH, SW) += W * L   (conv2d forward, conv_transpose2d's dx)
 * scatter: L (N, LC, LH, LW) += W^T * S (its transpose: conv2d's dx, conv_transpose2d forward) */
static void conv_connect(float *S, float *L, const float *W, const conv_geom *g, bool gather) {
    int scg = g->sc / g->groups, lcg = g->lc / g->groups;
    for (int n = 0; n < g->n; n++)
    for (int s = 0; s < g->sc; s++)
    for (int l = 0; l < lcg; l++) {
        float *sp = S + ((int64_t)n * g->sc + s) * g->sh * g->sw;
        float *lp = L + ((int64_t)n * g->lc + s / scg * lcg + l) * g->lh * g->lw;
        const float *wp = W + ((int64_t)s * lcg + l) * g->kh * g->kw;
        for (int kh = 0; kh < g->kh; kh++)
        for (int kw = 0; kw < g->kw; kw++)
        for (int i = 0; i < g->sh; i++) {
            int li = i * g->st_h - g->pad_h + kh * g->dil_h;
            if (li < 0 || li >= g->lh) continue;
            for (int j = 0; j < g->sw; j++) {
                int lj = j * g->st_w - g->pad_w + kw * g->dil_w;
                if (lj < 0 || lj >= g->lw) continue;
                float w = wp[kh * g->kw + kw];
                if (gather) sp[i * g->sw + j] += w * lp[li * g->lw + lj];
                else lp[li * g->lw + lj] += w * sp[i * g->sw + j];
            }
        }
    }
}

/* dW (SC, LC/groups, KH, KW) += sum over n, i, j of S[n, s, i, j] L[n, l, li, lj]. */
static void conv_wgrad(float *dW, const float *S, const float *L, const conv_geom *g) {
    int scg = g->sc / g->groups, lcg = g->lc / g->groups;
    for (int s = 0; s < g->sc; s++)
    for (int l = 0; l < lcg; l++)
    for (int kh = 0; kh < g->kh; kh++)
    for (int kw = 0; kw < g->kw; kw++) {
        double acc = 0;  /* sums N SH SW products: double keeps the reference exact enough */
        for (int n = 0; n < g->n; n++) {
            const float *sp = S + ((int64_t)n * g->sc + s) * g->sh * g->sw;
            const float *lp = L + ((int64_t)n * g->lc + s / scg * lcg + l) * g->lh * g->lw;
            for (int i = 0; i < g->sh; i++) {
                int li = i * g->st_h - g->pad_h + kh * g->dil_h;
                if (li < 0 || li >= g->lh) continue;
                for (int j = 0; j < g->sw; j++) {
                    int lj = j * g->st_w - g->pad_w + kw * g->dil_w;
                    if (lj >= 0 && lj < g->lw) acc += (double)sp[i * g->sw + j] * lp[li * g->lw + lj];
                }
            }
        }
        dW[(((int64_t)s * lcg + l) * g->kh + kh) * g->kw + kw] += (float)acc;
    }
}

/* y (N, C, HW) = b[c] broadcast, or 0 when b is NULL: the forward's starting value. */
static void bias_fill(float *y, const float *b, int n, int c, int64_t hw) {
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            float *yp = y + ((int64_t)i * c + ch) * hw;
            for (int64_t k = 0; k < hw; k++) yp[k] = b ? b[ch] : 0.0f;
        }
}

/* db (C) += sum over n and HW of dy (N, C, HW). */
static void bias_grad(float *db, const float *dy, int n, int c, int64_t hw) {
    for (int ch = 0; ch < c; ch++) {
        double acc = 0;
        for (int i = 0; i < n; i++) {
            const float *dp = dy + ((int64_t)i * c + ch) * hw;
            for (int64_t k = 0; k < hw; k++) acc += dp[k];
        }
        db[ch] += (float)acc;
    }
}

/* ---- conv2d: x (N, C, H, W), w (OC, C/groups, KH, KW), b (OC) -> y (N, OC, OH, OW) ---- */

void ref_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                        const conv2d_params *p) {
    conv_geom g = geom_conv(p);
    bias_fill(y, b, p->n, p->oc, (int64_t)p->oh * p->ow);
    conv_connect(y, (float *)x, w, &g, true);
    if (p->relu)
        for (int64_t i = 0; i < (int64_t)p->n * p->oc * p->oh * p->ow; i++) y[i] = y[i] > 0 ? y[i] : 0;
}

void ref_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                         const float *w, const conv2d_params *p) {
    conv_geom g = geom_conv(p);
    if (dx) conv_connect((float *)dy, dx, w, &g, false);
    if (dw) conv_wgrad(dw, dy, x, &g);
    if (db) bias_grad(db, dy, p->n, p->oc, (int64_t)p->oh * p->ow);
}

/* ---- conv_transpose2d: x (N, C, H, W), w (C, OC/groups, KH, KW), b (OC) -> y (N, OC, OH, OW) ---- */

void ref_conv_transpose2d_forward(float *y, const float *x, const float *w, const float *b,
                                  const conv2d_params *p) {
    conv_geom g = geom_transpose(p);
    bias_fill(y, b, p->n, p->oc, (int64_t)p->oh * p->ow);
    conv_connect((float *)x, y, w, &g, false);
}

void ref_conv_transpose2d_backward(float *dx, float *dw, float *db, const float *dy,
                                   const float *x, const float *w, const conv2d_params *p) {
    conv_geom g = geom_transpose(p);
    if (dx) conv_connect(dx, (float *)dy, w, &g, true);
    if (dw) conv_wgrad(dw, x, dy, &g);
    if (db) bias_grad(db, dy, p->n, p->oc, (int64_t)p->oh * p->ow);
}
