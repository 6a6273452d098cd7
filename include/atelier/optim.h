/* optim.h: optimisers that update parameters from their gradients.
 *
 * Each behaves like its torch.optim namesake with the same options (the tests compare 20
 * steps against PyTorch). SGD (momentum, dampening, nesterov, weight decay), Adam (L2 weight
 * decay added to the gradient), AdamW (decoupled weight decay) and L-BFGS (two-loop
 * recursion, with no line search or with the strong Wolfe line search, as
 * torch.optim.LBFGS). An optimiser keeps its state in the arena it is given (the model's):
 * state tensors are allocated when it is made, so a checkpoint can be loaded into them
 * before the first step.
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include "atelier/ops.h"
 * EXAMPLE_BEGIN
 *   arena *params = arena_new(1 << 16), *step = arena_new(1 << 16);
 *   tensor *x = tensor_new(params, 1, (int[]){2});
 *   tensor_requires_grad(x);
 *   x->data[0] = 3; x->data[1] = -2;
 *   optim *opt = optim_adam(params, &x, 1, adam_defaults(0.1f));
 *   for (int i = 0; i < 200; i++) {                      // minimise |x|^2
 *       optim_zero_grad(opt);
 *       tensor *loss = op_sum(step, op_square(step, x), -1, false);
 *       if (!loss || tensor_backward(loss) != STATUS_OK) return 1;
 *       optim_step(opt);
 *       arena_reset(step);
 *   }
 *   if (fabsf(x->data[0]) > 0.05f || fabsf(x->data[1]) > 0.05f) return 1;
 *   optim_free(opt);
 *   arena_free(step); arena_free(params);
 * EXAMPLE_END
 */
#ifndef ATELIER_OPTIM_H
#define ATELIER_OPTIM_H
#include <stdbool.h>
#include <stdint.h>
#include "atelier/tensor.h"

typedef struct optim optim;

typedef struct sgd_opts { float lr, momentum, dampening, weight_decay; bool nesterov; } sgd_opts;
typedef struct adam_opts { float lr, beta1, beta2, eps, weight_decay; } adam_opts;
typedef struct lbfgs_opts {
    float lr;               /* 1 */
    int max_iter;           /* iterations per optim_lbfgs_step: 20 */
    int max_eval;           /* closure calls per step: 0 means max_iter * 5 / 4 */
    float tolerance_grad;   /* 1e-7: stop when max |g| <= this */
    float tolerance_change; /* 1e-9: stop when the step or the loss changes less */
    int history_size;       /* 100 */
    bool strong_wolfe;      /* false: fixed step lr (the first scaled by min(1, 1/|g|_1)) */
} lbfgs_opts;

sgd_opts sgd_defaults(float lr);     /* momentum 0, dampening 0, weight_decay 0, no nesterov */
adam_opts adam_defaults(float lr);   /* betas (0.9, 0.999), eps 1e-8, weight_decay 0 */
adam_opts adamw_defaults(float lr);  /* as Adam, weight_decay 0.01 */
lbfgs_opts lbfgs_defaults(void);     /* PyTorch's defaults, as above */

/* NULL (and error_set) on failure. params: tensors that require grad, in the state arena's
 * lifetime; the optimiser keeps the pointer array's contents (it copies it). */
optim *optim_sgd(arena *state, tensor **params, int n, sgd_opts o);
optim *optim_adam(arena *state, tensor **params, int n, adam_opts o);
optim *optim_adamw(arena *state, tensor **params, int n, adam_opts o);
optim *optim_lbfgs(arena *state, tensor **params, int n, lbfgs_opts o);

void optim_zero_grad(optim *o);
/* SGD, Adam, AdamW: one update from the parameters' current gradients (a parameter with
 * no gradient is skipped, as in PyTorch). */
status optim_step(optim *o);
/* L-BFGS: closure zeroes the gradients, computes the loss, runs backward and returns the
 * loss (NaN on failure). One call runs up to max_iter iterations, as torch's step(closure);
 * returns the loss of the first closure call. */
typedef float (*optim_closure)(void *user);
float optim_lbfgs_step(optim *o, optim_closure closure, void *user);
int optim_evals(const optim *o);     /* closure calls so far (L-BFGS) */

void optim_set_lr(optim *o, float lr);
int64_t optim_steps(const optim *o);          /* updates done so far */
void optim_set_steps(optim *o, int64_t steps); /* when resuming from a checkpoint */
/* The state to checkpoint, as named tensors ("exp_avg.0", "exp_avg_sq.0", "momentum.3"...);
 * writes up to max entries and returns how many there are. L-BFGS state is not exposed:
 * its history is rebuilt in a few iterations. */
int optim_state(optim *o, const char **names, tensor **ts, int max);
const char *optim_name(const optim *o);       /* "sgd", "adam", "adamw", "lbfgs" */
void optim_free(optim *o);                    /* frees what is not in the arena; NULL is fine */

#endif
