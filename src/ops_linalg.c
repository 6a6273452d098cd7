/* ops_linalg.c: matrix products (ops.h): matmul, linear (a fully connected layer) and the
 * Gram matrix of style transfer. All arithmetic goes through the backend's gemm (backend.h),
 * forward and backward, so a fast backend speeds these up without touching this file.
 *
 * Gradients of C = A B (all row-major): dA += dC B^T, dB += A^T dC. Backward gemms run with
 * beta = 1 so they add into the gradient buffers, as every backward does.
 */
#include "ops_internal.h"

/* ---- matmul: (M, K) @ (K, N) -> (M, N), or batched (B, M, K) @ (B, K, N) -> (B, M, N) ---- */

typedef struct matmul_dims { int batch, m, k, n; } matmul_dims;

/* Checks x and y for matmul and fills the dims; false (STATUS_SHAPE) naming both shapes. */
static bool matmul_check(const tensor *x, const tensor *y, matmul_dims *d) {
    char b1[64], b2[64];
    bool ranks_ok = x->ndim == y->ndim && (x->ndim == 2 || x->ndim == 3);
    int r = x->ndim;
    if (!ranks_ok || x->shape[r - 1] != y->shape[r - 2] || (r == 3 && x->shape[0] != y->shape[0])) {
        error_set(STATUS_SHAPE, "matmul: cannot multiply %s by %s: want (M, K) @ (K, N) or "
                  "(B, M, K) @ (B, K, N)", tensor_shape_str(x, b1), tensor_shape_str(y, b2));
        return false;
    }
    *d = (matmul_dims){r == 3 ? x->shape[0] : 1, x->shape[r - 2], x->shape[r - 1], y->shape[r - 1]};
    return true;
}

static void matmul_backward(tensor *out) {
    tensor *x = out->src[0], *y = out->src[1];
    const matmul_dims *d = out->saved;
    const backend *be = backend_current();
    float *dx = ops_grad_or_null(x), *dy = ops_grad_or_null(y);
    int64_t xs = (int64_t)d->m * d->k, ys = (int64_t)d->k * d->n, os = (int64_t)d->m * d->n;
    for (int b = 0; b < d->batch; b++) {
        const float *g = out->grad + b * os;  // (M, N)
        if (dx)  // dX (M, K) += dOut (M, N) @ Y^T, Y (K, N)
            be->gemm(false, true, d->m, d->k, d->n, 1.0f, g, d->n, y->data + b * ys, d->n,
                     1.0f, dx + b * xs, d->k);
        if (dy)  // dY (K, N) += X^T @ dOut, X (M, K)
            be->gemm(true, false, d->k, d->n, d->m, 1.0f, x->data + b * xs, d->k, g, d->n,
                     1.0f, dy + b * ys, d->n);
    }
}

tensor *op_matmul(arena *a, tensor *x, tensor *y) {
    // x (M, K) or (B, M, K), y (K, N) or (B, K, N) -> (M, N) or (B, M, N)
    matmul_dims d;
    if (!x || !y || !matmul_check(x, y, &d)) return NULL;
    int shape[3] = {d.batch, d.m, d.n};
    int r = x->ndim;
    tensor *out = tensor_op_result(a, r, r == 3 ? shape : shape + 1, "matmul", matmul_backward,
                                   (tensor *[]){x, y}, 2);
    if (!out) return NULL;
    if (out->backward) {
        if (!(out->saved = arena_alloc(a, sizeof d))) return NULL;
        *(matmul_dims *)out->saved = d;
    }
    int64_t xs = (int64_t)d.m * d.k, ys = (int64_t)d.k * d.n, os = (int64_t)d.m * d.n;
    const backend *be = backend_current();
    for (int b = 0; b < d.batch; b++)
        be->gemm(false, false, d.m, d.n, d.k, 1.0f, x->data + b * xs, d.k, y->data + b * ys,
                 d.n, 0.0f, out->data + b * os, d.n);
    return out;
}

/* ---- linear: y (N, OUT) = x (N, IN) @ w^T + b, w (OUT, IN), b (OUT) ---- */

/* A column of N ones: the bias is broadcast over rows as ones (N, 1) @ b (1, OUT), and its
 * gradient is the column sum ones^T (1, N) @ dy (N, OUT), both one gemm. */
static float *ones_new(arena *a, int n) {
    float *o = arena_alloc(a, sizeof(float) * n);
    for (int i = 0; o && i < n; i++) o[i] = 1.0f;
    return o;
}

static void linear_backward(tensor *y) {
    tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    const backend *be = backend_current();
    int n = x->shape[0], in = x->shape[1], out = w->shape[0];
    float *dx = ops_grad_or_null(x), *dw = ops_grad_or_null(w), *db = ops_grad_or_null(b);
    if (dx)  // dx (N, IN) += dy (N, OUT) @ w (OUT, IN)
        be->gemm(false, false, n, in, out, 1.0f, y->grad, out, w->data, in, 1.0f, dx, in);
    if (dw)  // dw (OUT, IN) += dy^T @ x (N, IN)
        be->gemm(true, false, out, in, n, 1.0f, y->grad, out, x->data, in, 1.0f, dw, in);
    if (db)  // db (1, OUT) += ones (1, N) @ dy (N, OUT)
        be->gemm(false, false, 1, out, n, 1.0f, y->saved, n, y->grad, out, 1.0f, db, out);
}

static bool linear_check(const tensor *x, const tensor *w, const tensor *b) {
    char b1[64], b2[64], b3[64];
    if (!ops_check_ndim("linear", "input", x, 2) || !ops_check_ndim("linear", "weight", w, 2))
        return false;
    if (x->shape[1] != w->shape[1]) {
        error_set(STATUS_SHAPE, "linear: input %s has %d features but weight %s expects %d",
                  tensor_shape_str(x, b1), x->shape[1], tensor_shape_str(w, b2), w->shape[1]);
        return false;
    }
    if (b && !(b->ndim == 1 && b->shape[0] == w->shape[0])) {
        error_set(STATUS_SHAPE, "linear: bias %s does not fit weight %s: want (%d)",
                  tensor_shape_str(b, b3), tensor_shape_str(w, b2), w->shape[0]);
        return false;
    }
    return true;
}

tensor *op_linear(arena *a, tensor *x, tensor *w, tensor *b) {
    // x (N, IN), w (OUT, IN), b (OUT) or NULL -> (N, OUT)
    if (!x || !w || !linear_check(x, w, b)) return NULL;
    int n = x->shape[0], in = x->shape[1], out = w->shape[0];
    tensor *y = tensor_op_result(a, 2, (int[]){n, out}, "linear", linear_backward,
                                 (tensor *[]){x, w, b}, 3);
    if (!y) return NULL;
    float *ones = b ? ones_new(a, n) : NULL;
    if (b && !ones) return NULL;
    y->saved = ones;  /* backward needs it for db only; NULL without a bias */
    const backend *be = backend_current();
    if (b)  // y (N, OUT) = ones (N, 1) @ b (1, OUT)
        be->gemm(false, false, n, out, 1, 1.0f, ones, 1, b->data, out, 0.0f, y->data, out);
    // y (N, OUT) += x (N, IN) @ w^T, w (OUT, IN)
    be->gemm(false, true, n, out, in, 1.0f, x->data, in, w->data, in, b ? 1.0f : 0.0f, y->data, out);
    return y;
}

/* ---- gram: f (N, C, H, W) -> G (N, C, C) = F F^T / (H W), F = f[n] as (C, HW) ----
 * The style representation of Gatys et al. 2016 ("Image Style Transfer Using CNNs"),
 * normalised by the number of positions H W so that its scale does not depend on the image
 * size (PyTorch's tutorial divides by N C H W instead; callers can rescale).
 * Backward: dF += (dG + dG^T) F / (H W). */

static void gram_backward(tensor *g) {
    tensor *f = g->src[0];
    float *df = ops_grad_or_null(f);
    if (!df) return;
    const backend *be = backend_current();
    int n = f->shape[0], c = f->shape[1], hw = f->shape[2] * f->shape[3];
    float scale = 1.0f / (float)hw;
    for (int i = 0; i < n; i++) {
        const float *F = f->data + (int64_t)i * c * hw, *dG = g->grad + (int64_t)i * c * c;
        float *dF = df + (int64_t)i * c * hw;
        // dF (C, HW) += dG (C, C) @ F / HW, then += dG^T @ F / HW
        be->gemm(false, false, c, hw, c, scale, dG, c, F, hw, 1.0f, dF, hw);
        be->gemm(true, false, c, hw, c, scale, dG, c, F, hw, 1.0f, dF, hw);
    }
}

tensor *op_gram(arena *a, tensor *f) {
    // f (N, C, H, W) -> (N, C, C)
    if (!f || !ops_check_ndim("gram", "features", f, 4)) return NULL;
    int n = f->shape[0], c = f->shape[1], hw = f->shape[2] * f->shape[3];
    tensor *g = tensor_op_result(a, 3, (int[]){n, c, c}, "gram", gram_backward, &f, 1);
    if (!g) return NULL;
    const backend *be = backend_current();
    for (int i = 0; i < n; i++) {
        const float *F = f->data + (int64_t)i * c * hw;
        // G (C, C) = F (C, HW) @ F^T / HW
        be->gemm(false, true, c, c, hw, 1.0f / (float)hw, F, hw, F, hw, 0.0f,
                 g->data + (int64_t)i * c * c, c);
    }
    return g;
}
