/* nn.h: building blocks above single ops.
 *
 * Spectral normalisation (Miyato et al. 2018) divides a conv or linear weight by an
 * estimate of its largest singular value, sigma = u^T W v, where W is the weight viewed as
 * (OUT, rest) and u, v are persistent vectors refined by power iteration at every training
 * forward: v = normalize(W^T u), u = normalize(W v). As in torch.nn.utils.spectral_norm,
 * u and v are constants for the gradient, which flows through sigma to W:
 * d(W/sigma)/dW applied to G is G/sigma - (sum(G * W) / sigma^2) u v^T.
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include "atelier/ops.h"
 * EXAMPLE_BEGIN
 *   arena *params = arena_new(1 << 16), *step = arena_new(1 << 16);
 *   tensor *w = tensor_new(params, 2, (int[]){2, 2});
 *   w->data[0] = 3; w->data[3] = 1;                   // diag(3, 1): sigma = 3
 *   spectral_norm *sn = spectral_norm_new(params, w, 7);
 *   tensor *wn = NULL;
 *   for (int i = 0; i < 10; i++) { wn = spectral_norm_apply(sn, step, w, true); }
 *   if (!wn || fabsf(wn->data[0] - 1.0f) > 1e-4f || fabsf(wn->data[3] - 1.0f / 3) > 1e-4f) return 1;
 *   arena_free(step); arena_free(params);
 * EXAMPLE_END
 */
#ifndef ATELIER_NN_H
#define ATELIER_NN_H
#include "atelier/tensor.h"

typedef struct spectral_norm {
    tensor *u;             /* (OUT) persistent, in the params arena */
    tensor *v;             /* (IN * KH * KW) persistent */
    int power_iterations;  /* per training forward, PyTorch's default 1 */
    float eps;             /* PyTorch's 1e-12 */
} spectral_norm;

/* u, v start as normalised normal vectors drawn from seed; NULL on failure. */
spectral_norm *spectral_norm_new(arena *params, const tensor *w, uint64_t seed);
/* W / sigma, differentiable in W. training: run power_iterations first (updating u, v). */
tensor *spectral_norm_apply(spectral_norm *sn, arena *a, tensor *w, bool training);

#endif
