/* cpu_eltwise.c: elementwise ops, broadcasting, reductions, block copies and losses of the
 * fast CPU backend (contracts in backend.h; the reference loops in ref_basic.c and
 * ref_loss.c are the specification).
 *
 * Shapes are collapsed first: dims of size 1 in the output are dropped and neighbouring dims
 * that every operand either has or broadcasts alike are merged, so (N, C, H, W) + (C, 1, 1)
 * becomes (N, C, H*W) with b strided (0, 1, 0). The innermost collapsed dim is a "row": a
 * contiguous run in the output over which each operand has stride 1 or 0, and the loops
 * over a row are simple enough for gcc to vectorise.
 *
 * Thread-count independence (cpu.h): every parallel loop runs over pieces of the OUTPUT (or
 * of the gradient buffer being written); a reduction along the rows is cut into chunks of a
 * fixed number of elements, summed in double over 8 lanes, and the chunk sums are added in
 * chunk order, so the thread count never changes a result. Where a broadcast gradient is
 * reduced across rows ("vertical": db (W) from dy (N, C, H, W)) the float additions run in
 * the reference's order and match it bit for bit.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cpu/cpu.h"

#define PAR_MIN 32768   /* elements below which a kernel stays on one thread */
#define BLOCK 2048      /* row block: one parallel task; also the scratch buffer size */
#define CHUNK 16384     /* elements per partial sum of a long reduction (fixed: determinism) */

/* ---- collapsed broadcast views ---- */

/* Up to 3 tensors over one full shape: ext[d] is the extent of collapsed dim d, st[t][d]
 * tensor t's stride along it (0 where t broadcasts). Tensor 0 is the full one. */
typedef struct view { int nd, nt; int64_t ext[4], st[3][4]; } view;

static view view_build(const int full[4], const int *shapes[], int nt) {
    view v = {.nd = 0, .nt = nt};
    bool has[3][4];
    for (int d = 0; d < 4; d++) {
        if (full[d] == 1) continue;
        bool h[3];
        for (int t = 0; t < nt; t++) h[t] = shapes[t][d] != 1;
        bool same = v.nd > 0;
        for (int t = 0; t < nt && same; t++) same = has[t][v.nd - 1] == h[t];
        if (same) {
            v.ext[v.nd - 1] *= full[d];
        } else {
            v.ext[v.nd] = full[d];
            for (int t = 0; t < nt; t++) has[t][v.nd] = h[t];
            v.nd++;
        }
    }
    if (v.nd == 0) {  /* a single element */
        v.nd = 1;
        v.ext[0] = 1;
        for (int t = 0; t < nt; t++) has[t][0] = true;
    }
    for (int t = 0; t < nt; t++) {
        int64_t s = 1;
        for (int d = v.nd - 1; d >= 0; d--) {
            v.st[t][d] = has[t][d] ? s : 0;
            if (has[t][d]) s *= v.ext[d];
        }
    }
    return v;
}

/* Offsets of the row with index (kept index k, reduced index q) for every tensor: dims
 * 0 .. nd-2 split into those where tensor `red` broadcasts (counted by q) and the rest
 * (counted by k), the last dim varying fastest within each. red = -1: every dim is k's. */
static void row_offsets(const view *v, int red, int64_t k, int64_t q, int64_t off[3]) {
    for (int t = 0; t < v->nt; t++) off[t] = 0;
    for (int d = v->nd - 2; d >= 0; d--) {
        int64_t i;
        if (red >= 0 && v->st[red][d] == 0) { i = q % v->ext[d]; q /= v->ext[d]; }
        else { i = k % v->ext[d]; k /= v->ext[d]; }
        for (int t = 0; t < v->nt; t++) off[t] += i * v->st[t][d];
    }
}

/* Number of kept and reduced rows for tensor red (over dims 0 .. nd-2). */
static void row_counts(const view *v, int red, int64_t *kept, int64_t *reduced) {
    *kept = *reduced = 1;
    for (int d = 0; d < v->nd - 1; d++) {
        if (red >= 0 && v->st[red][d] == 0) *reduced *= v->ext[d];
        else *kept *= v->ext[d];
    }
}

/* ---- binary ops ---- */

/* One row piece of y = a op b; sa, sb are 1 (contiguous) or 0 (broadcast). */
#define ROW_LOOPS(EXPR)                                                                  \
    do {                                                                                 \
        if (sa && sb) for (int64_t j = 0; j < n; j++) { float av = a[j], bv = b[j]; y[j] = (EXPR); } \
        else if (sa) { float bv = b[0]; for (int64_t j = 0; j < n; j++) { float av = a[j]; y[j] = (EXPR); } } \
        else if (sb) { float av = a[0]; for (int64_t j = 0; j < n; j++) { float bv = b[j]; y[j] = (EXPR); } } \
        else { float av = a[0], bv = b[0]; for (int64_t j = 0; j < n; j++) y[j] = (EXPR); } \
    } while (0)

static void binary_row(binop op, float *y, const float *a, int64_t sa, const float *b,
                       int64_t sb, int64_t n) {
    switch (op) {
    case BINOP_ADD: ROW_LOOPS(av + bv); break;
    case BINOP_SUB: ROW_LOOPS(av - bv); break;
    case BINOP_MUL: ROW_LOOPS(av * bv); break;
    case BINOP_DIV: ROW_LOOPS(av / bv); break;
    }
}

void cpu_binary_forward(binop op, float *y, const float *a, const float *b,
                        const int ashape[4], const int bshape[4], const int yshape[4]) {
    // y (yshape) = a (ashape) op b (bshape), broadcasting
    const int *shapes[3] = {yshape, ashape, bshape};
    view v = view_build(yshape, shapes, 3);
    int64_t rows, unused, len = v.ext[v.nd - 1];
    row_counts(&v, -1, &rows, &unused);
    int64_t nblk = (len + BLOCK - 1) / BLOCK, tasks = rows * nblk;
    int64_t sa = v.st[1][v.nd - 1], sb = v.st[2][v.nd - 1];
    #pragma omp parallel for schedule(static) if (rows * len > PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t off[3], j0 = t % nblk * BLOCK, n = len - j0 < BLOCK ? len - j0 : BLOCK;
        row_offsets(&v, -1, t / nblk, 0, off);
        binary_row(op, y + off[0] + j0, a + off[1] + j0 * sa, sa, b + off[2] + j0 * sb, sb, n);
    }
}

/* Gradient contributions of one row piece to operand `which` (0: a, 1: b), as the
 * reference computes them: g[j] = dy[j] * d(a op b)/d(a or b). */
#define GRAD_LOOPS(EXPR)                                                                 \
    do {                                                                                 \
        if (sa && sb) for (int64_t j = 0; j < n; j++) { float av = a[j], bv = b[j]; (void)av; (void)bv; g[j] = dy[j] * (EXPR); } \
        else if (sa) { float bv = b[0]; for (int64_t j = 0; j < n; j++) { float av = a[j]; (void)av; (void)bv; g[j] = dy[j] * (EXPR); } } \
        else if (sb) { float av = a[0]; for (int64_t j = 0; j < n; j++) { float bv = b[j]; (void)av; (void)bv; g[j] = dy[j] * (EXPR); } } \
        else { float av = a[0], bv = b[0]; (void)av; (void)bv; for (int64_t j = 0; j < n; j++) g[j] = dy[j] * (EXPR); } \
    } while (0)

static void grad_row(binop op, int which, float *g, const float *dy, const float *a,
                     int64_t sa, const float *b, int64_t sb, int64_t n) {
    switch (op) {
    case BINOP_ADD: for (int64_t j = 0; j < n; j++) g[j] = dy[j]; break;
    case BINOP_SUB:
        if (which == 0) for (int64_t j = 0; j < n; j++) g[j] = dy[j];
        else for (int64_t j = 0; j < n; j++) g[j] = dy[j] * -1.0f;
        break;
    case BINOP_MUL:
        if (which == 0) GRAD_LOOPS(bv);
        else GRAD_LOOPS(av);
        break;
    case BINOP_DIV:
        if (which == 0) GRAD_LOOPS(1 / bv);
        else GRAD_LOOPS(-av / (bv * bv));
        break;
    }
}

/* gr (operand `which`'s gradient) += its part of dy, where gr has no broadcast dim along
 * the rows ("vertical"): each task owns a block of gr's last dim and adds the reduced rows
 * in the reference's order. */
static void binary_grad_vertical(binop op, int which, float *gr, const view *v,
                                 const float *dy, const float *a, const float *b) {
    int red = which + 1;
    int64_t kept, reduced, len = v->ext[v->nd - 1];
    row_counts(v, red, &kept, &reduced);
    int64_t nblk = (len + BLOCK - 1) / BLOCK, tasks = kept * nblk;
    int64_t sa = v->st[1][v->nd - 1], sb = v->st[2][v->nd - 1];
    #pragma omp parallel for schedule(static) if (kept * reduced * len > PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        float tmp[BLOCK];
        int64_t j0 = t % nblk * BLOCK, n = len - j0 < BLOCK ? len - j0 : BLOCK, off[3];
        float *dst = NULL;
        for (int64_t q = 0; q < reduced; q++) {
            row_offsets(v, red, t / nblk, q, off);
            if (!dst) dst = gr + off[red] + j0;
            grad_row(op, which, tmp, dy + off[0] + j0, a + off[1] + j0 * sa, sa,
                     b + off[2] + j0 * sb, sb, n);
            for (int64_t j = 0; j < n; j++) dst[j] += tmp[j];
        }
    }
}

/* gr += its part of dy where gr broadcasts along the rows ("horizontal"): each gr element
 * sums whole rows; the sum is cut into CHUNK-element pieces summed in double in parallel,
 * then added in piece order. */
static void binary_grad_horizontal(binop op, int which, float *gr, const view *v,
                                   const float *dy, const float *a, const float *b) {
    int red = which + 1;
    int64_t kept, reduced, len = v->ext[v->nd - 1];
    row_counts(v, red, &kept, &reduced);
    int64_t per = reduced * len, nch = (per + CHUNK - 1) / CHUNK, tasks = kept * nch;
    int64_t sa = v->st[1][v->nd - 1], sb = v->st[2][v->nd - 1];
    double *part = malloc(sizeof(double) * tasks);
    if (!part) abort();  /* a few bytes per CHUNK elements: out of memory is fatal */
    #pragma omp parallel for schedule(static) if (kept * per > PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        float tmp[BLOCK];
        int64_t k = t / nch, e = t % nch * CHUNK, e1 = e + CHUNK < per ? e + CHUNK : per, off[3];
        double s = 0;
        while (e < e1) {  /* piece of row q from column j */
            int64_t q = e / len, j = e % len, n = len - j;
            if (n > e1 - e) n = e1 - e;
            if (n > BLOCK) n = BLOCK;
            row_offsets(v, red, k, q, off);
            grad_row(op, which, tmp, dy + off[0] + j, a + off[1] + j * sa, sa,
                     b + off[2] + j * sb, sb, n);
            s += cpu_sum8(tmp, n);
            e += n;
        }
        part[t] = s;
    }
    for (int64_t k = 0; k < kept; k++) {
        int64_t off[3];
        row_offsets(v, red, k, 0, off);
        double s = 0;
        for (int64_t c = 0; c < nch; c++) s += part[k * nch + c];
        gr[off[red]] += (float)s;
    }
    free(part);
}

void cpu_binary_backward(binop op, float *da, float *db, const float *dy, const float *a,
                         const float *b, const int ashape[4], const int bshape[4],
                         const int yshape[4]) {
    // da (ashape), db (bshape) += the parts of dy (yshape) each operand fed
    const int *shapes[3] = {yshape, ashape, bshape};
    view v = view_build(yshape, shapes, 3);
    float *grads[2] = {da, db};
    for (int which = 0; which < 2; which++) {
        if (!grads[which]) continue;
        if (v.st[which + 1][v.nd - 1] != 0 || v.ext[v.nd - 1] == 1)
            binary_grad_vertical(op, which, grads[which], &v, dy, a, b);
        else
            binary_grad_horizontal(op, which, grads[which], &v, dy, a, b);
    }
}

/* ---- unary ops ---- */

/* The op is switched on outside the loops so each loop is one simple expression. */
#define EACH(EXPR) do { _Pragma("omp parallel for schedule(static) if (n > PAR_MIN)") \
    for (int64_t i = 0; i < n; i++) { float v = x[i]; y[i] = (EXPR); } } while (0)

void cpu_unary_forward(unop op, float *y, const float *x, int64_t n, float alpha) {
    // y (n) = f(x (n))
    switch (op) {
    case UNOP_RELU: EACH(v > 0 ? v : 0); break;
    case UNOP_LEAKY_RELU: EACH(v > 0 ? v : alpha * v); break;
    case UNOP_RELU_CAP: EACH(v > 0 ? (v < alpha ? v : alpha) : 0); break;
    case UNOP_TANH: EACH(tanhf(v)); break;
    case UNOP_SIGMOID: EACH(1.0f / (1.0f + expf(-v))); break;
    case UNOP_ADD_SCALAR: EACH(v + alpha); break;
    case UNOP_MUL_SCALAR: EACH(v * alpha); break;
    case UNOP_RSUB_SCALAR: EACH(alpha - v); break;
    case UNOP_RDIV_SCALAR: EACH(alpha / v); break;
    case UNOP_POW_SCALAR: EACH(powf(v, alpha)); break;
    case UNOP_EXP: EACH(expf(v)); break;
    case UNOP_LOG: EACH(logf(v)); break;
    case UNOP_SQRT: EACH(sqrtf(v)); break;
    case UNOP_ABS: EACH(fabsf(v)); break;
    case UNOP_SQUARE: EACH(v * v); break;
    case UNOP_NEG: EACH(-v); break;
    }
}
#undef EACH

/* dx += dy * f'(x) with the reference's formulas (from x or from y = f(x)). */
#define EACH(EXPR) do { _Pragma("omp parallel for schedule(static) if (n > PAR_MIN)") \
    for (int64_t i = 0; i < n; i++) { float v = x[i], u = y[i]; (void)v; (void)u; \
                                      dx[i] += dy[i] * (EXPR); } } while (0)

void cpu_unary_backward(unop op, float *dx, const float *dy, const float *x, const float *y,
                        int64_t n, float alpha) {
    // dx (n) += dy (n) * f'(x (n)), y (n) = f(x)
    if (!dx) return;
    switch (op) {
    case UNOP_RELU: EACH(v > 0 ? 1.0f : 0.0f); break;
    case UNOP_LEAKY_RELU: EACH(v > 0 ? 1.0f : alpha); break;
    case UNOP_RELU_CAP: EACH(v > 0 && v < alpha ? 1.0f : 0.0f); break;
    case UNOP_TANH: EACH(1.0f - u * u); break;
    case UNOP_SIGMOID: EACH(u * (1.0f - u)); break;
    case UNOP_ADD_SCALAR: EACH(1.0f); break;
    case UNOP_MUL_SCALAR: EACH(alpha); break;
    case UNOP_RSUB_SCALAR: EACH(-1.0f); break;
    case UNOP_RDIV_SCALAR: EACH(-alpha / (v * v)); break;
    case UNOP_POW_SCALAR:
        if (alpha == 0.0f) EACH(0.0f);
        else EACH(alpha * powf(v, alpha - 1.0f));
        break;
    case UNOP_EXP: EACH(u); break;
    case UNOP_LOG: EACH(1.0f / v); break;
    case UNOP_SQRT: EACH(0.5f / u); break;
    case UNOP_ABS: EACH(v > 0 ? 1.0f : (v < 0 ? -1.0f : 0.0f)); break;
    case UNOP_SQUARE: EACH(2.0f * v); break;
    case UNOP_NEG: EACH(-1.0f); break;
    }
}
#undef EACH

/* ---- reductions ---- */

static double reduce_divisor(reduce_kind k, int64_t count) {
    if (k == REDUCE_SUM) return 1.0;
    if (k == REDUCE_VAR_UNBIASED) return (double)count - 1;  /* 0 gives inf/nan, as PyTorch */
    return (double)count;
}

/* The reduction's view: tensor 0 is x, tensor 1 is y (x's shape with the axes set to 1). */
static view reduce_view(const int s[4], int axes, int ys[4]) {
    for (int d = 0; d < 4; d++) ys[d] = axes >> d & 1 ? 1 : s[d];
    const int *shapes[2] = {s, ys};
    return view_build(s, shapes, 2);
}

/* Per-group means (pass var = false) or sums of squared deviations from mean[] (var = true),
 * in double, into out (one per y element). Rows along which y broadcasts ("horizontal")
 * are cut into CHUNK pieces; otherwise ("vertical") each task owns a block of y's last dim
 * and adds the reduced rows in order. */
static void reduce_sums(const view *v, const float *x, const double *mean, double *out) {
    int64_t kept, reduced, len = v->ext[v->nd - 1];
    row_counts(v, 1, &kept, &reduced);
    if (v->st[1][v->nd - 1] != 0 || len == 1) {
        int64_t nblk = (len + BLOCK - 1) / BLOCK, tasks = kept * nblk;
        #pragma omp parallel for schedule(static) if (kept * reduced * len > PAR_MIN)
        for (int64_t t = 0; t < tasks; t++) {
            int64_t j0 = t % nblk * BLOCK, n = len - j0 < BLOCK ? len - j0 : BLOCK, off[3];
            double *acc = NULL;
            for (int64_t q = 0; q < reduced; q++) {
                row_offsets(v, 1, t / nblk, q, off);
                const float *xr = x + off[0] + j0;
                if (!acc) {
                    acc = out + off[1] + j0;
                    for (int64_t j = 0; j < n; j++) acc[j] = 0;
                }
                if (mean) {
                    const double *m = mean + off[1] + j0;
                    for (int64_t j = 0; j < n; j++) {
                        double d = (double)xr[j] - m[j];
                        acc[j] += d * d;
                    }
                } else {
                    for (int64_t j = 0; j < n; j++) acc[j] += (double)xr[j];
                }
            }
        }
        return;
    }
    int64_t per = reduced * len, nch = (per + CHUNK - 1) / CHUNK, tasks = kept * nch;
    double *part = malloc(sizeof(double) * tasks);
    if (!part) abort();
    #pragma omp parallel for schedule(static) if (kept * per > PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t k = t / nch, e = t % nch * CHUNK, e1 = e + CHUNK < per ? e + CHUNK : per, off[3];
        double s = 0;
        while (e < e1) {
            int64_t q = e / len, j = e % len, n = len - j;
            if (n > e1 - e) n = e1 - e;
            row_offsets(v, 1, k, q, off);
            s += mean ? cpu_sumsq8(x + off[0] + j, n, mean[off[1]]) : cpu_sum8(x + off[0] + j, n);
            e += n;
        }
        part[t] = s;
    }
    for (int64_t k = 0; k < kept; k++) {
        int64_t off[3];
        row_offsets(v, 1, k, 0, off);
        double s = 0;
        for (int64_t c = 0; c < nch; c++) s += part[k * nch + c];
        out[off[1]] = s;
    }
    free(part);
}

/* Group sums in double (ny of them, malloc'd); with mean, their means instead. */
static double *reduce_group_sums(const view *v, const float *x, int64_t ny, int64_t count,
                                 bool mean) {
    double *m = malloc(sizeof(double) * (ny > 0 ? ny : 1));
    if (!m) abort();
    reduce_sums(v, x, NULL, m);
    if (mean) for (int64_t o = 0; o < ny; o++) m[o] /= (double)count;
    return m;
}

void cpu_reduce_forward(reduce_kind k, float *y, const float *x, const int shape[4], int axes) {
    // y (shape with the axes set to 1) = reduce of x (shape)
    int ys[4];
    view v = reduce_view(shape, axes, ys);
    int64_t ny = (int64_t)ys[0] * ys[1] * ys[2] * ys[3];
    int64_t count = ((int64_t)shape[0] * shape[1] * shape[2] * shape[3]) / ny;
    bool var = k == REDUCE_VAR || k == REDUCE_VAR_UNBIASED;
    double *mean = reduce_group_sums(&v, x, ny, count, var);
    if (var) {
        double *ss = malloc(sizeof(double) * ny);
        if (!ss) abort();
        reduce_sums(&v, x, mean, ss);
        for (int64_t o = 0; o < ny; o++) y[o] = (float)(ss[o] / reduce_divisor(k, count));
        free(ss);
    } else {
        for (int64_t o = 0; o < ny; o++)
            y[o] = (float)(mean[o] / reduce_divisor(k, count));
    }
    free(mean);
}

void cpu_reduce_backward(reduce_kind k, float *dx, const float *dy, const float *x,
                         const int shape[4], int axes) {
    // dx (shape) += dy (reduced shape) * d reduce / dx; each dx element has one group
    if (!dx) return;
    int ys[4];
    view v = reduce_view(shape, axes, ys);
    int64_t ny = (int64_t)ys[0] * ys[1] * ys[2] * ys[3];
    int64_t count = ((int64_t)shape[0] * shape[1] * shape[2] * shape[3]) / ny;
    bool var = k == REDUCE_VAR || k == REDUCE_VAR_UNBIASED;
    double div = reduce_divisor(k, count);
    double *mean = var ? reduce_group_sums(&v, x, ny, count, true) : NULL;
    int64_t rows, unused, len = v.ext[v.nd - 1], sy = v.st[1][v.nd - 1];
    row_counts(&v, -1, &rows, &unused);
    int64_t nblk = (len + BLOCK - 1) / BLOCK, tasks = rows * nblk;
    #pragma omp parallel for schedule(static) if (rows * len > PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t j0 = t % nblk * BLOCK, n = len - j0 < BLOCK ? len - j0 : BLOCK, off[3];
        row_offsets(&v, -1, t / nblk, 0, off);
        float *g = dx + off[0] + j0;
        const float *xr = x + off[0] + j0, *d = dy + off[1] + j0 * sy;
        if (var) {
            const double *m = mean + off[1] + j0 * sy;
            if (sy) for (int64_t j = 0; j < n; j++) g[j] += (float)(d[j] * (2.0 * (xr[j] - m[j]) / div));
            else for (int64_t j = 0; j < n; j++) g[j] += (float)(d[0] * (2.0 * (xr[j] - m[0]) / div));
        } else {
            if (sy) for (int64_t j = 0; j < n; j++) g[j] += (float)(d[j] * (1.0 / div));
            else for (int64_t j = 0; j < n; j++) g[j] += (float)(d[0] * (1.0 / div));
        }
    }
    free(mean);
}

/* ---- block copy along an axis ---- */

void cpu_axis_copy(float *y, const float *x, int64_t outer, int ylen, int xlen, int64_t inner,
                   int yoff, int xoff, int len, bool accumulate) {
    // y (outer, ylen, inner)[:, yoff + i, :] (= or +=) x (outer, xlen, inner)[:, xoff + i, :]
    int64_t blk = (int64_t)len * inner, nch = (blk + 4 * BLOCK - 1) / (4 * BLOCK);
    int64_t tasks = outer * nch;
    #pragma omp parallel for schedule(static) if (outer * blk > PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t o = t / nch, j0 = t % nch * 4 * BLOCK, n = blk - j0 < 4 * BLOCK ? blk - j0 : 4 * BLOCK;
        float *dst = y + (o * ylen + yoff) * inner + j0;
        const float *src = x + (o * xlen + xoff) * inner + j0;
        if (accumulate) for (int64_t i = 0; i < n; i++) dst[i] += src[i];
        else memcpy(dst, src, sizeof(float) * n);
    }
}

/* ---- losses (formulas of ref_loss.c, in double per element) ---- */

/* Sum of one loss over x[i0, i1), t likewise, in double over 8 lanes. */
static double loss_chunk(loss_kind k, const float *x, const float *t, int64_t n) {
    double acc[8] = {0};
    int64_t i = 0;
    switch (k) {
    case LOSS_MSE:
        for (; i + 8 <= n; i += 8)
            for (int l = 0; l < 8; l++) {
                double d = (double)x[i + l] - t[i + l];
                acc[l] += d * d;
            }
        for (int l = 0; i < n; i++, l++) acc[l] += ((double)x[i] - t[i]) * ((double)x[i] - t[i]);
        break;
    case LOSS_L1:
        for (; i + 8 <= n; i += 8)
            for (int l = 0; l < 8; l++) acc[l] += fabs((double)x[i + l] - t[i + l]);
        for (int l = 0; i < n; i++, l++) acc[l] += fabs((double)x[i] - t[i]);
        break;
    case LOSS_BCE_LOGITS:
        for (int l = 0; i < n; i++, l = (l + 1) & 7) {
            double xv = x[i];
            acc[l] += fmax(xv, 0.0) - xv * t[i] + log1p(exp(-fabs(xv)));
        }
        break;
    case LOSS_HINGE:
        for (; i + 8 <= n; i += 8)
            for (int l = 0; l < 8; l++) acc[l] += fmax(0.0, 1.0 - (double)t[i + l] * x[i + l]);
        for (int l = 0; i < n; i++, l++) acc[l] += fmax(0.0, 1.0 - (double)t[i] * x[i]);
        break;
    }
    return cpu_lanes_total(acc);
}

void cpu_loss_forward(loss_kind k, float *out, const float *x, const float *t, int64_t n) {
    // *out = mean of loss(x (n), t (n)): CHUNK sums in parallel, added in chunk order
    int64_t nch = (n + CHUNK - 1) / CHUNK;
    double *part = malloc(sizeof(double) * (nch > 0 ? nch : 1));
    if (!part) abort();
    #pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t c = 0; c < nch; c++) {
        int64_t i0 = c * CHUNK, m = n - i0 < CHUNK ? n - i0 : CHUNK;
        part[c] = loss_chunk(k, x + i0, t + i0, m);
    }
    double s = 0;
    for (int64_t c = 0; c < nch; c++) s += part[c];
    free(part);
    *out = (float)(s / (double)n);
}

void cpu_loss_backward(loss_kind k, float *dx, float *dt, float dout, const float *x,
                       const float *t, int64_t n) {
    // dx (n) += dout * dl/dx / n; dt (n, or NULL) likewise
    double s = (double)dout / (double)n;
    #pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t c = 0; c < (n + BLOCK - 1) / BLOCK; c++) {
        int64_t i0 = c * BLOCK, i1 = n - i0 < BLOCK ? n : i0 + BLOCK;
        switch (k) {
        case LOSS_MSE:
        case LOSS_L1:  /* depend on x - t only: dt gets the negative */
            for (int64_t i = i0; i < i1; i++) {
                double d = (double)x[i] - t[i];
                double gx = k == LOSS_MSE ? 2.0 * d : (double)((d > 0) - (d < 0));
                if (dx) dx[i] += (float)(s * gx);
                if (dt) dt[i] += (float)(s * -gx);
            }
            break;
        case LOSS_BCE_LOGITS:
            for (int64_t i = i0; i < i1; i++) {
                double xv = x[i];
                if (dx) dx[i] += (float)(s * (1.0 / (1.0 + exp(-xv)) - t[i]));
                if (dt) dt[i] += (float)(s * -xv);
            }
            break;
        case LOSS_HINGE:
            for (int64_t i = i0; i < i1; i++) {
                double xv = x[i], tv = t[i];
                bool on = 1.0 - tv * xv > 0;
                if (dx) dx[i] += (float)(s * (on ? -tv : 0.0));
                if (dt) dt[i] += (float)(s * (on ? -xv : 0.0));
            }
            break;
        }
    }
}

/* ---- total variation: x (N, C, H, W) ---- */

void cpu_tv_forward(float *out, const float *x, int n, int c, int h, int w) {
    // *out = mean of squared vertical differences + mean of squared horizontal ones;
    // one partial pair per plane, added in plane order
    int64_t planes = (int64_t)n * c, hw = (int64_t)h * w;
    double *part = malloc(sizeof(double) * 2 * (planes > 0 ? planes : 1));
    if (!part) abort();
    #pragma omp parallel for schedule(static) if (planes * hw > PAR_MIN)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * hw;
        double av[8] = {0}, ah[8] = {0};
        for (int i = 0; i < h; i++) {
            const float *r = xp + (int64_t)i * w;
            if (i + 1 < h) {  /* row i+1 minus row i */
                int j = 0;
                for (; j + 8 <= w; j += 8)
                    for (int l = 0; l < 8; l++) {
                        double d = (double)r[w + j + l] - r[j + l];
                        av[l] += d * d;
                    }
                for (int l = 0; j < w; j++, l++) {
                    double d = (double)r[w + j] - r[j];
                    av[l] += d * d;
                }
            }
            int j = 0;
            for (; j + 8 < w; j += 8)
                for (int l = 0; l < 8; l++) {
                    double d = (double)r[j + l + 1] - r[j + l];
                    ah[l] += d * d;
                }
            for (int l = 0; j + 1 < w; j++, l++) {
                double d = (double)r[j + 1] - r[j];
                ah[l] += d * d;
            }
        }
        part[2 * p] = cpu_lanes_total(av);
        part[2 * p + 1] = cpu_lanes_total(ah);
    }
    double sv = 0, sh = 0;
    for (int64_t p = 0; p < planes; p++) { sv += part[2 * p]; sh += part[2 * p + 1]; }
    free(part);
    double nv = (double)n * c * (h - 1) * w, nh = (double)n * c * h * (w - 1);
    *out = (float)((nv > 0 ? sv / nv : 0.0) + (nh > 0 ? sh / nh : 0.0));
}

void cpu_tv_backward(float *dx, float dout, const float *x, int n, int c, int h, int w) {
    // dx (N, C, H, W) += dout * d tv / dx, gathered per pixel in the reference's order:
    // + the difference from above, + the one from the left, - the one below, - the right
    if (!dx) return;
    double nv = (double)n * c * (h - 1) * w, nh = (double)n * c * h * (w - 1);
    double kv = nv > 0 ? 2.0 * dout / nv : 0.0, kh = nh > 0 ? 2.0 * dout / nh : 0.0;
    int64_t planes = (int64_t)n * c, hw = (int64_t)h * w;
    #pragma omp parallel for schedule(static) if (planes * hw > PAR_MIN)
    for (int64_t p = 0; p < planes; p++) {
        const float *xp = x + p * hw;
        float *gp = dx + p * hw;
        for (int i = 0; i < h; i++) {
            const float *r = xp + (int64_t)i * w;
            float *g = gp + (int64_t)i * w;
            for (int j = 0; j < w; j++) {
                float v = g[j];
                if (i > 0) v += (float)(kv * (r[j] - r[j - w]));
                if (j > 0) v += (float)(kh * (r[j] - r[j - 1]));
                if (i + 1 < h) v -= (float)(kv * (r[j + w] - r[j]));
                if (j + 1 < w) v -= (float)(kh * (r[j + 1] - r[j]));
                g[j] = v;
            }
        }
    }
}
