/* gradcheck.h: check an op's backward against central finite differences.
 *
 * f maps the inputs to one output tensor. The check forms L = sum_i r_i out_i with fixed
 * random weights r (so every output element matters), runs backward for the analytic
 * d L / d input, and compares each element with (L(x + eps) - L(x - eps)) / (2 eps), L summed
 * in double. Elements near a kink (ReLU at 0, max-pool ties, |x| at 0) are detected and
 * skipped: there the estimates with eps and eps/2 disagree. Failing more than max_skip of
 * the elements that way is itself a failure.
 *
 * Only inputs with requires_grad are checked. The inputs must live outside the arena f
 * allocates in (f gets a scratch arena, reset between calls).
 */
#ifndef ATELIER_GRADCHECK_H
#define ATELIER_GRADCHECK_H
#include <stdbool.h>
#include "atelier/tensor.h"

typedef tensor *(*gradcheck_fn)(arena *a, tensor **in, void *user);

typedef struct gradcheck_opts {
    float eps;       /* 1e-2: large enough that float32 rounding stays below 1e-4 */
    double atol;     /* 2e-3 */
    double rtol;     /* 2e-2 */
    double max_skip; /* 0.1: fraction of elements that may be skipped as kinks */
    uint64_t seed;   /* for the weights r */
} gradcheck_opts;

gradcheck_opts gradcheck_defaults(void);
/* Returns true when all checked elements agree; reports the worst ones through the
 * harness (test_fail) with `name` and the input index. */
bool gradcheck(const char *name, gradcheck_fn f, tensor **in, int nin, void *user,
               gradcheck_opts o);

#endif
