/* attack.h: adversarial examples (FGSM, PGD, C&W L2, universal) on any image classifier.
 *
 * An attack sees a model only through attack_model: logits for a batch of images in [0,1]
 * and, on request, the gradient of a loss with respect to the pixels. Anything Atelier can
 * run (a classifier of classify.h, a network built from ops.h) becomes attackable through
 * a small adapter; attack_model_from_net is the adapter for a network written with ops.h.
 *
 * Losses (summed over the batch, so each image's gradient is its own; z = logits, y = label):
 *   ATTACK_LOSS_CE:     sum_i -log softmax(z_i)[y_i]
 *   ATTACK_LOSS_MARGIN: sum_i z_i[y_i] - max_{j != y_i} z_i[j]   (C&W's f, without kappa)
 * Untargeted attacks raise CE (or lower the margin) of the true label; targeted attacks
 * (opts.target >= 0) lower CE of the target (or raise its margin).
 *
 * Methods (delta = x_adv - x; every iterate is clipped to [0,1] and to the eps ball):
 *   FGSM (Goodfellow et al. 2015): linf: x + eps sign(g); l2: x + eps g / ||g||.
 *   PGD (Madry et al. 2018): a random start in the ball, `steps` steps of size step_size
 *     (default 2.5 eps / steps) along sign(g) (linf) or g / ||g|| (l2), projection; `restarts`
 *     runs, keeping per image the one with the highest loss (a misclassified one first).
 *   C&W L2 (Carlini & Wagner 2017): x_adv = (tanh(w) + 1) / 2, minimise
 *     ||x_adv - x||^2 + c max(margin, -kappa) with Adam, binary search over c; keeps the
 *     smallest successful perturbation; when eps > 0 the result is projected into the L2
 *     ball of radius eps (so it is bounded like the others).
 *   Universal: one delta (C, H, W) for all images, PGD on the summed loss over the set.
 *
 * The model's forward must treat images independently and deterministically (eval mode:
 * no dropout, batch norm on running statistics).
 *
 * Legend: N images, K classes, C channels, H height, W width; D = C * H * W.
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include <math.h>
 *   #include "atelier/ops.h"
 *   // a linear 2-class "network" on 1x1x2 images: logits = W x
 *   static tensor *toy_logits(void *net, arena *a, tensor *x) {
 *       tensor *w = net;
 *       return op_linear(a, tensor_reshape(a, x, 2, (int[]){x->shape[0], 2}), w, NULL);
 *   }
 * EXAMPLE_BEGIN
 *   arena *params = arena_new(1 << 12);
 *   tensor *w = tensor_from(params, 2, (int[]){2, 2}, (float[]){1, -1, -1, 1});
 *   attack_net an = {.logits = toy_logits, .net = w};
 *   attack_model m;
 *   if (attack_model_from_net(&m, &an, 2, 1, 1, 2) != STATUS_OK) return 1;
 *   float x[2] = {0.6f, 0.4f}, adv[2];            // class 0 by a margin of 0.4
 *   int label = 0;
 *   attack_opts o = attack_defaults();
 *   o.method = ATTACK_METHOD_FGSM; o.eps = 0.15f;   // linf: each pixel moves 0.15
 *   if (attack_run(&m, x, &label, 1, &o, adv) != STATUS_OK) return 1;
 *   if (fabsf(adv[0] - 0.45f) > 1e-6f || fabsf(adv[1] - 0.55f) > 1e-6f) return 1;
 *   int pred;
 *   if (attack_predict(&m, adv, 1, &pred) != STATUS_OK || pred != 1) return 1;  // fooled
 *   if (!attack_in_ball(x, adv, 1, 2, ATTACK_NORM_LINF, o.eps, 1e-6f)) return 1;
 *   attack_net_free(&an);
 *   arena_free(params);
 * EXAMPLE_END
 */
#ifndef ATELIER_ATTACK_H
#define ATELIER_ATTACK_H
#include <stdbool.h>
#include <stdint.h>
#include "atelier/tensor.h"

typedef enum attack_loss {
    ATTACK_LOSS_CE,      /* cross-entropy of labels */
    ATTACK_LOSS_MARGIN,  /* z[y] - max_{j != y} z[j] */
} attack_loss;

typedef enum attack_norm { ATTACK_NORM_LINF, ATTACK_NORM_L2 } attack_norm;
typedef enum attack_method {
    ATTACK_METHOD_FGSM,
    ATTACK_METHOD_PGD,
    ATTACK_METHOD_CW,
    ATTACK_METHOD_NOISE,  /* random sign noise of size eps (linf) or a random direction (l2): the baseline */
} attack_method;

typedef struct attack_model {
    int classes, channels, height, width;  /* input (N, C, H, W) in [0,1], logits (N, K) */
    /* logits (N, K) for x (N, C, H, W); if grad_x != NULL also d loss / d x (N, C, H, W)
     * for `loss` of `labels` (N). Any n >= 1; the adapter batches as its memory needs. */
    status (*forward)(void *self, const float *x, int n, float *logits,
                      const int *labels, attack_loss loss, float *grad_x);
    void *self;
} attack_model;

typedef struct attack_opts {
    attack_method method;  /* PGD */
    attack_norm norm;      /* LINF */
    float eps;             /* 8/255: ball radius in pixel units (max |delta| or ||delta||_2 per image) */
    int steps;             /* 10: PGD steps; C&W Adam steps per c (the CLI uses 100 for C&W) */
    float step_size;       /* 0: 2.5 eps / steps (PGD), 0.01 (C&W Adam learning rate) */
    int restarts;          /* 1: PGD runs per image, the strongest kept */
    bool random_start;     /* true: PGD starts uniformly in the ball */
    int target;            /* -1: untargeted; else the class the attack aims for */
    uint64_t seed;         /* 1: random starts, noise */
    int cw_search;         /* 5: binary search steps over c */
    float cw_c;            /* 1: the first c */
    float cw_kappa;        /* 0: confidence margin */
    bool early_stop;       /* false: PGD stops attacking an image once it is misclassified
                            * (untargeted) or classified as the target: the same accuracy,
                            * fewer gradients (robustness evaluation) */
} attack_opts;

attack_opts attack_defaults(void);
const char *attack_method_name(attack_method m); /* "fgsm", "pgd", "cw", "noise" */
const char *attack_norm_name(attack_norm n);     /* "linf", "l2" */

/* x (N, C, H, W) in [0,1], labels (N) the true classes -> x_adv (N, C, H, W), inside [0,1]
 * and the eps ball around x. STATUS_ARG on bad options (eps < 0 or NaN, target out of
 * range, steps < 1), or an error of the model. x_adv may not alias x. */
status attack_run(const attack_model *m, const float *x, const int *labels, int n,
                  const attack_opts *o, float *x_adv);
status attack_fgsm(const attack_model *m, const float *x, const int *labels, int n,
                   const attack_opts *o, float *x_adv);
status attack_pgd(const attack_model *m, const float *x, const int *labels, int n,
                  const attack_opts *o, float *x_adv);
status attack_cw(const attack_model *m, const float *x, const int *labels, int n,
                 const attack_opts *o, float *x_adv);
status attack_noise(const float *x, int n, int d, const attack_opts *o, float *x_adv);

/* Universal: one delta (C, H, W) in the eps ball that raises the loss over all N images
 * (PGD on the summed loss, minibatches of `batch`). x + delta is clipped to [0,1] per image
 * when applied (attack_apply_universal). */
status attack_universal(const attack_model *m, const float *x, const int *labels, int n,
                        const attack_opts *o, int batch, float *delta);
void attack_apply_universal(const float *x, int n, int d, const float *delta, float *x_adv);

/* The predicted class (argmax of the logits) of each image; pred (N). */
status attack_predict(const attack_model *m, const float *x, int n, int *pred);

/* Every pixel of x_adv (N, D) in [0,1] and each image's delta inside the ball (+ tol). */
bool attack_in_ball(const float *x, const float *x_adv, int n, int d, attack_norm norm,
                    float eps, float tol);

/* Loss (summed over the batch) of logits (N, K) and, when dlogits != NULL, its gradient
 * d loss / d logits (N, K): the part an adapter needs before backpropagating to x. */
float attack_loss_logits(const float *logits, int n, int k, const int *labels,
                         attack_loss loss, float *dlogits);

/* An adapter for a network written with ops.h: logits(net, a, x) maps x (N, C, H, W) to
 * (N, K) in eval mode. The adapter runs it in chunks of `batch` images (0: 32) in its own
 * scratch arena and backpropagates d loss / d logits to x. Backward also adds into the
 * gradients of the network's parameters if they require grad: zero them afterwards. */
typedef struct attack_net {
    tensor *(*logits)(void *net, arena *a, tensor *x);
    void *net;
    int batch;
    arena *scratch;  /* made on first use; attack_net_free releases it */
    int classes, channels, height, width;
} attack_net;
status attack_model_from_net(attack_model *m, attack_net *an, int classes, int channels,
                             int height, int width);
void attack_net_free(attack_net *an);

#endif
