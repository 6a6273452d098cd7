/* ref_basic.c: reference kernels for gemm, elementwise ops, reductions and axis copies.
 * Plain loops over contiguous row-major arrays; the contracts are in backend.h. */
#include <math.h>
#include <string.h>
#include "ref/ref.h"

/* ---- gemm: C (M, N) = alpha op(A) op(B) + beta C ---- */

void ref_gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a,
              int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double acc = 0;  /* double: the reference should not lose accuracy on long sums */
            for (int p = 0; p < k; p++) {
                float av = trans_a ? a[(int64_t)p * lda + i] : a[(int64_t)i * lda + p];
                float bv = trans_b ? b[(int64_t)j * ldb + p] : b[(int64_t)p * ldb + j];
                acc += (double)av * bv;
            }
            float *cij = &c[(int64_t)i * ldc + j];
            *cij = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *cij));
        }
    }
}

/* ---- broadcasting binary ops ---- */

/* Flat index into a tensor of shape s (4 dims) for the output position (i0..i3), where
 * dims of size 1 broadcast. */
static int64_t bcast_index(const int s[4], int i0, int i1, int i2, int i3) {
    int64_t j0 = s[0] == 1 ? 0 : i0, j1 = s[1] == 1 ? 0 : i1;
    int64_t j2 = s[2] == 1 ? 0 : i2, j3 = s[3] == 1 ? 0 : i3;
    return ((j0 * s[1] + j1) * s[2] + j2) * s[3] + j3;
}

static float binary_apply(binop op, float a, float b) {
    switch (op) {
    case BINOP_ADD: return a + b;
    case BINOP_SUB: return a - b;
    case BINOP_MUL: return a * b;
    case BINOP_DIV: return a / b;
    }
    return 0;
}

void ref_binary_forward(binop op, float *y, const float *a, const float *b,
                        const int as[4], const int bs[4], const int ys[4]) {
    int64_t o = 0;
    for (int i0 = 0; i0 < ys[0]; i0++)
        for (int i1 = 0; i1 < ys[1]; i1++)
            for (int i2 = 0; i2 < ys[2]; i2++)
                for (int i3 = 0; i3 < ys[3]; i3++, o++)
                    y[o] = binary_apply(op, a[bcast_index(as, i0, i1, i2, i3)],
                                        b[bcast_index(bs, i0, i1, i2, i3)]);
}

/* d(a op b)/da and /db at one point */
static void binary_partials(binop op, float a, float b, float *pa, float *pb) {
    switch (op) {
    case BINOP_ADD: *pa = 1; *pb = 1; return;
    case BINOP_SUB: *pa = 1; *pb = -1; return;
    case BINOP_MUL: *pa = b; *pb = a; return;
    case BINOP_DIV: *pa = 1 / b; *pb = -a / (b * b); return;
    }
}

/* Broadcast dims receive the sum of the output gradient over the positions they fed. */
void ref_binary_backward(binop op, float *da, float *db, const float *dy, const float *a,
                         const float *b, const int as[4], const int bs[4], const int ys[4]) {
    int64_t o = 0;
    for (int i0 = 0; i0 < ys[0]; i0++)
        for (int i1 = 0; i1 < ys[1]; i1++)
            for (int i2 = 0; i2 < ys[2]; i2++)
                for (int i3 = 0; i3 < ys[3]; i3++, o++) {
                    int64_t ia = bcast_index(as, i0, i1, i2, i3), ib = bcast_index(bs, i0, i1, i2, i3);
                    float pa = 0, pb = 0;
                    binary_partials(op, a[ia], b[ib], &pa, &pb);
                    if (da) da[ia] += dy[o] * pa;
                    if (db) db[ib] += dy[o] * pb;
                }
}

/* ---- unary ops ---- */

static float unary_apply(unop op, float x, float alpha) {
    switch (op) {
    case UNOP_RELU: return x > 0 ? x : 0;
    case UNOP_LEAKY_RELU: return x > 0 ? x : alpha * x;
    case UNOP_RELU_CAP: return x > 0 ? (x < alpha ? x : alpha) : 0;
    case UNOP_TANH: return tanhf(x);
    case UNOP_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case UNOP_ADD_SCALAR: return x + alpha;
    case UNOP_MUL_SCALAR: return x * alpha;
    case UNOP_RSUB_SCALAR: return alpha - x;
    case UNOP_RDIV_SCALAR: return alpha / x;
    case UNOP_POW_SCALAR: return powf(x, alpha);
    case UNOP_EXP: return expf(x);
    case UNOP_LOG: return logf(x);
    case UNOP_SQRT: return sqrtf(x);
    case UNOP_ABS: return fabsf(x);
    case UNOP_SQUARE: return x * x;
    case UNOP_NEG: return -x;
    }
    return 0;
}

/* dy/dx at one point, from x or from the output y where that is simpler */
static float unary_derivative(unop op, float x, float y, float alpha) {
    switch (op) {
    case UNOP_RELU: return x > 0 ? 1.0f : 0.0f;  /* 0 at the kink, as PyTorch */
    case UNOP_LEAKY_RELU: return x > 0 ? 1.0f : alpha;
    case UNOP_RELU_CAP: return x > 0 && x < alpha ? 1.0f : 0.0f;
    case UNOP_TANH: return 1.0f - y * y;
    case UNOP_SIGMOID: return y * (1.0f - y);
    case UNOP_ADD_SCALAR: return 1.0f;
    case UNOP_MUL_SCALAR: return alpha;
    case UNOP_RSUB_SCALAR: return -1.0f;
    case UNOP_RDIV_SCALAR: return -alpha / (x * x);
    case UNOP_POW_SCALAR: return alpha == 0.0f ? 0.0f : alpha * powf(x, alpha - 1.0f);
    case UNOP_EXP: return y;
    case UNOP_LOG: return 1.0f / x;
    case UNOP_SQRT: return 0.5f / y;
    case UNOP_ABS: return x > 0 ? 1.0f : (x < 0 ? -1.0f : 0.0f);
    case UNOP_SQUARE: return 2.0f * x;
    case UNOP_NEG: return -1.0f;
    }
    return 0;
}

void ref_unary_forward(unop op, float *y, const float *x, int64_t n, float alpha) {
    for (int64_t i = 0; i < n; i++) y[i] = unary_apply(op, x[i], alpha);
}

void ref_unary_backward(unop op, float *dx, const float *dy, const float *x, const float *y,
                        int64_t n, float alpha) {
    if (!dx) return;
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * unary_derivative(op, x[i], y[i], alpha);
}

/* ---- reductions over a set of axes ---- */

/* A reduction group: the output position o (kept dims) and the input positions that feed
 * it (every index along the reduced dims). kept[d] / red[d] are the loop extents. */
typedef struct reduce_geom { int kept[4], red[4]; int64_t stride[4], count; } reduce_geom;

static reduce_geom reduce_geometry(const int s[4], int axes) {
    reduce_geom g;
    g.count = 1;
    int64_t st = 1;
    for (int d = 3; d >= 0; d--) {
        bool r = axes >> d & 1;
        g.kept[d] = r ? 1 : s[d];
        g.red[d] = r ? s[d] : 1;
        g.stride[d] = st;
        st *= s[d];
        if (r) g.count *= s[d];
    }
    return g;
}

/* Offset of the j-th input element of the group starting at base, j in [0, count). */
static int64_t group_offset(const reduce_geom *g, int64_t base, int64_t j) {
    int64_t off = base;
    for (int d = 3; d >= 0; d--) {
        off += (j % g->red[d]) * g->stride[d];
        j /= g->red[d];
    }
    return off;
}

/* Input offset of the first element of output group o. */
static int64_t group_base(const reduce_geom *g, int64_t o) {
    int64_t base = 0;
    for (int d = 3; d >= 0; d--) {
        base += (o % g->kept[d]) * g->stride[d];
        o /= g->kept[d];
    }
    return base;
}

static double group_mean(const reduce_geom *g, const float *x, int64_t base) {
    double acc = 0;  /* double: long sums in the reference stay accurate */
    for (int64_t j = 0; j < g->count; j++) acc += x[group_offset(g, base, j)];
    return acc / (double)g->count;
}

static double reduce_divisor(reduce_kind k, int64_t count) {
    if (k == REDUCE_SUM) return 1.0;
    if (k == REDUCE_VAR_UNBIASED) return (double)count - 1;  /* 0 gives inf/nan, as PyTorch */
    return (double)count;
}

void ref_reduce_forward(reduce_kind k, float *y, const float *x, const int s[4], int axes) {
    reduce_geom g = reduce_geometry(s, axes);
    int64_t ny = (int64_t)g.kept[0] * g.kept[1] * g.kept[2] * g.kept[3];
    bool var = k == REDUCE_VAR || k == REDUCE_VAR_UNBIASED;
    for (int64_t o = 0; o < ny; o++) {
        int64_t base = group_base(&g, o);
        double mean = var ? group_mean(&g, x, base) : 0, acc = 0;
        for (int64_t j = 0; j < g.count; j++) {
            double v = x[group_offset(&g, base, j)] - mean;
            acc += var ? v * v : v;
        }
        y[o] = (float)(acc / reduce_divisor(k, g.count));
    }
}

void ref_reduce_backward(reduce_kind k, float *dx, const float *dy, const float *x,
                         const int s[4], int axes) {
    if (!dx) return;
    reduce_geom g = reduce_geometry(s, axes);
    int64_t ny = (int64_t)g.kept[0] * g.kept[1] * g.kept[2] * g.kept[3];
    bool var = k == REDUCE_VAR || k == REDUCE_VAR_UNBIASED;
    double div = reduce_divisor(k, g.count);
    for (int64_t o = 0; o < ny; o++) {
        int64_t base = group_base(&g, o);
        double mean = var ? group_mean(&g, x, base) : 0;
        for (int64_t j = 0; j < g.count; j++) {
            int64_t at = group_offset(&g, base, j);
            /* d var / dx_j = 2 (x_j - mean) / div: the mean's own dependence sums to zero */
            double d = var ? 2.0 * (x[at] - mean) / div : 1.0 / div;
            dx[at] += (float)(dy[o] * d);
        }
    }
}

/* ---- block copy along an axis ---- */

void ref_axis_copy(float *y, const float *x, int64_t outer, int ylen, int xlen, int64_t inner,
                   int yoff, int xoff, int len, bool accumulate) {
    for (int64_t o = 0; o < outer; o++)
        for (int l = 0; l < len; l++) {
            float *dst = y + (o * ylen + yoff + l) * inner;
            const float *src = x + (o * xlen + xoff + l) * inner;
            for (int64_t i = 0; i < inner; i++) dst[i] = accumulate ? dst[i] + src[i] : src[i];
        }
}
