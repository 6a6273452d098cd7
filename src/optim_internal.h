/* optim_internal.h: the optimiser struct shared by optim.c (SGD, Adam, AdamW and the common
 * API) and lbfgs.c (L-BFGS). Not public.
 *
 * Memory: the optim struct, its copy of the parameter array, the state names and the
 * checkpointable state tensors (momentum, exp_avg, exp_avg_sq, made at creation so a
 * checkpoint can be loaded into them before the first step) live in the state arena. Only
 * L-BFGS's vectors (numel floats each, the history growing step by step) are malloc'd,
 * and freed by optim_free, which must therefore come before the arena is freed.
 */
#ifndef ATELIER_OPTIM_INTERNAL_H
#define ATELIER_OPTIM_INTERNAL_H
#include "atelier/optim.h"

typedef enum optim_kind { OPTIM_SGD, OPTIM_ADAM, OPTIM_ADAMW, OPTIM_LBFGS } optim_kind;

/* L-BFGS's global state, torch.optim.LBFGS's state dict with the same names. Vectors have
 * numel = the parameters' total element count (all parameters flattened into one). */
typedef struct lbfgs_state {
    int64_t numel;
    int n_iter;             /* iterations over all steps; 0 until the first one */
    float *d;               /* (numel) the last search direction */
    float t;                /* the last step length */
    float h_diag;           /* scale of the initial inverse Hessian, ys / yy */
    float *flat_grad;       /* (numel) the gradient at the current point */
    float *prev_flat_grad;  /* (numel) the gradient where d was computed */
    float *y, *s;           /* (numel) scratch for the newest pair, swapped into the ring */
    double prev_loss;       /* a Python float in torch: kept in double */
    /* history: a ring of up to history_size (y, s) pairs, oldest at hist_first */
    float **old_dirs, **old_stps;  /* [history_size] of (numel), malloc'd as needed */
    float *ro, *al;                /* [history_size]: 1 / ys, two-loop coefficients */
    int hist_len, hist_first, hist_alloc;
    /* scratch for the strong Wolfe line search */
    float *x_init, *g_prev, *g_new, *bracket_g[2];
} lbfgs_state;

struct optim {
    optim_kind kind;
    arena *state;
    tensor **params;   /* [n] a copy of the caller's array */
    int n;
    int64_t steps;
    int evals;         /* closure calls (L-BFGS) */
    sgd_opts sgd;
    adam_opts adam;    /* Adam and AdamW */
    lbfgs_opts lbfgs;
    /* [n] state tensors in the state arena: momentum (SGD, only with momentum != 0) or
     * exp_avg and exp_avg_sq (Adam, AdamW); NULL otherwise */
    tensor **buf1, **buf2;
    bool *buf_ready;   /* [n] SGD: the momentum buffer has been started (first step: = grad) */
    char (*names)[32]; /* [2 n] names for optim_state */
    lbfgs_state *lb;   /* L-BFGS only */
};

/* lbfgs.c */
status lbfgs_init(optim *o);      /* allocates o->lb; error_set on failure */
void lbfgs_free(lbfgs_state *lb); /* NULL is fine */

#endif
