/* gan.h: generative adversarial networks: the networks, one training step, EMA,
 * gradient penalties, checkpoints and sampling.
 *
 * A generator G maps a latent z ~ N(0, I) to an image in (-1, 1); a discriminator D maps
 * an image to a logit. Training plays min_G max_D E[log D(x)] + E[log(1 - D(G(z)))]:
 *   bce      D: softplus(-D(x)) + softplus(D(G(z)));  G: softplus(-D(G(z))) (non-saturating)
 *   hinge    D: relu(1 - D(x)) + relu(1 + D(G(z)));   G: -D(G(z))
 *   wgan-gp  D: D(G(z)) - D(x) + gp * (|grad D(xhat)| - 1)^2 on interpolates xhat;  G: -D(G(z))
 * each averaged over the batch. Cures for small data and collapse: DiffAugment (diffaug.h)
 * of real and fake before D, R1 (r1/2 * E |grad_x D(x)|^2 on reals), spectral norm in D,
 * an exponential moving average of G for samples, and an optional Gram-matrix style loss
 * for G through the built-in VGG-19 (the artist's works' mean Gram matrices).
 *
 * Gradient penalties need the gradient of a gradient. The engine's backward builds no
 * graph, so the penalty's gradient with respect to D's weights is a Hessian-vector
 * product taken by central differences: with g = grad_x S (S = sum of D over the batch)
 * and a direction v (v = g for R1), grad_theta (g . v) = grad_theta [S(x + e v) -
 * S(x - e v)] / (2e) + O(e^2), with e chosen so that e v has an RMS of 1e-3 (images are in
 * [-1, 1]). D's leaky ReLUs are piecewise linear, so the difference is exact except where
 * a step crosses a kink. D uses no batch norm when a penalty is on (the per-sample
 * gradient would couple samples).
 *
 * Architectures (size 32, 64 or 128; F = ngf or ndf, k = log2(size / 4)):
 *   dcgan   G: z -> convT 4x4 to (F 2^(k-1), 4, 4), k-1 stride-2 convT 4x4 halving the
 *           channels, BN + ReLU after each, a last convT to 3 channels, tanh (Radford et al.,
 *           as pytorch/examples). D mirrors it: stride-2 conv 4x4 + leaky ReLU 0.2 (batch
 *           norm after all but the first unless spectral norm or a penalty is on, biases
 *           then), a 4x4 conv to one logit.
 *   resnet  SNGAN-style (Miyato et al. 2018): G: linear to 4x4, k up-blocks (BN, ReLU,
 *           nearest 2x, conv3x3, BN, ReLU, conv3x3; shortcut up + conv1x1), BN, ReLU,
 *           conv3x3, tanh. D: k down-blocks (ReLU, conv3x3, ReLU, conv3x3, avg-pool 2;
 *           shortcut conv1x1 + pool), ReLU, sum over space, linear.
 *   mlp     for 2-D toy data (size is the data dimension): g_hidden (d_hidden) hidden layers
 *           (0-5; 3 by default) of g_units[i] (d_units[i]) units (0 = F), ReLU in G, leaky
 *           ReLU 0.2 in D. Its latents may be uniform in [-1, 1] instead of N(0, I).
 *
 * Losses as above, and least-squares (Mao et al. 2017, least squares):
 *           D: (D(x) - 1)^2 / 2 + D(G(z))^2 / 2;  G: (D(G(z)) - 1)^2 / 2.
 * One step is d_steps D updates, then g_steps G updates; gan_train_d and gan_train_g do
 * one update of either alone (step by step, as the lab's step mode does).
 *
 * Determinism: every random draw of step t (latents, augmentation, interpolation weights)
 * is a pure function of (seed, t), and the data function is given t, so k steps, a
 * checkpoint, a resume and N - k steps give the same weights as N steps straight.
 *
 * Legend: N batch, NZ latent size, C channels (3), S image size.
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include <math.h>
 *   #include "atelier/ops.h"
 *   #include "atelier/rng.h"
 *   static tensor *ring(void *user, arena *a, int64_t step, int k, int n) {  // 2-D data
 *       (void)user;
 *       tensor *x = tensor_new(a, 2, (int[]){n, 2});
 *       rng r = rng_new(1000 + (uint64_t)step * 8 + (uint64_t)k);
 *       for (int i = 0; x && i < n; i++) {
 *           float ang = 6.2831853f * (float)(rng_u64(&r) % 8) / 8;
 *           x->data[2 * i] = 2 * cosf(ang); x->data[2 * i + 1] = 2 * sinf(ang);
 *       }
 *       return x;
 *   }
 * EXAMPLE_BEGIN
 *   gan_config c = gan_defaults();
 *   c.arch = GAN_ARCH_MLP; c.size = 2; c.ngf = c.ndf = 16; c.z_dim = 2; c.batch = 16;
 *   gan *g = gan_new(&c);
 *   if (!g) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   gan_stats st;
 *   for (int i = 0; i < 5; i++)
 *       if (gan_train_step(g, ring, NULL, &st) != STATUS_OK) return 1;
 *   if (gan_step(g) != 5 || !isfinite(st.d_loss) || !isfinite(st.g_loss)) return 1;
 *   arena *a = arena_new(1 << 16);
 *   tensor *x = gan_sample(g, a, 7, 0, 4);          // 4 samples of seed 7: (4, 2)
 *   if (!x || x->shape[0] != 4 || x->shape[1] != 2) return 1;
 *   arena_free(a);
 *   gan_free(g);
 * EXAMPLE_END
 */
#ifndef ATELIER_GAN_H
#define ATELIER_GAN_H
#include <stdbool.h>
#include <stdint.h>
#include "atelier/models.h"
#include "atelier/nn.h"
#include "atelier/tensor.h"

typedef enum { GAN_ARCH_DCGAN, GAN_ARCH_RESNET, GAN_ARCH_MLP } gan_arch;
typedef enum { GAN_LOSS_BCE, GAN_LOSS_HINGE, GAN_LOSS_WGAN_GP, GAN_LOSS_LSGAN } gan_loss;
typedef enum { GAN_NOISE_NORMAL, GAN_NOISE_UNIFORM } gan_noise;   /* N(0, I); U[-1, 1] */
typedef enum { GAN_OPT_ADAM, GAN_OPT_SGD } gan_opt;
#define GAN_MLP_MAX_HIDDEN 5

typedef struct gan_config {
    gan_arch arch;          /* dcgan */
    int size;               /* 64: image size 32, 64 or 128 (mlp: data dimension) */
    int ngf, ndf, z_dim;    /* 64, 64, 100 */
    gan_loss loss;          /* bce */
    bool spectral_norm;     /* in D; off */
    unsigned diffaug;       /* DIFFAUG_* bits (diffaug.h); 0 */
    float r1;               /* R1 gamma; 0 = off */
    float gp;               /* WGAN-GP lambda; 10 */
    float ema;              /* decay of G's moving average; 0 = off. At step t the decay
                               used is min(ema, (1 + t) / (10 + t)), so early samples are
                               not mostly the initial weights */
    int batch;              /* 64 */
    float lr_g, lr_d;       /* 2e-4, 2e-4 */
    float beta1, beta2;     /* 0.5, 0.999 */
    int d_steps;            /* D updates per step; 1 */
    int g_steps;            /* G updates per step (after the D updates); 1 */
    gan_opt opt;            /* adam (beta1, beta2) or plain SGD; adam */
    gan_noise noise;        /* the latents' distribution; normal (uniform: mlp only) */
    int g_hidden, d_hidden; /* mlp: hidden layers of G and D, 0..5; 3 */
    int g_units[GAN_MLP_MAX_HIDDEN], d_units[GAN_MLP_MAX_HIDDEN];  /* mlp: their widths,
                               1..1024; 0 = ngf (ndf) */
    uint64_t seed;          /* 1 */
    float style_weight;     /* Gram style loss for G; 0 = off (needs gan_set_style) */
    char style_net[64];     /* its feature network (featnet.h): "" = the built-in VGG-19,
                               else "inception_v3", "mobilenet_v2" or a TF.js model path */
} gan_config;

gan_config gan_defaults(void);
const char *gan_arch_name(gan_arch a);
const char *gan_loss_name(gan_loss l);
status gan_arch_parse(const char *s, gan_arch *out);
status gan_loss_parse(const char *s, gan_loss *out);     /* bce, hinge, wgan-gp, least-squares */
/* The config as one line of JSON (for logs, metadata); malloc'd. */
char *gan_config_json(const gan_config *c);

/* One network: its parameters and buffers by name, in a params arena. */
typedef struct gan_net {
    gan_arch arch;
    bool generator, bn, sn;
    int size, nc, nz, width, depth;      /* depth k = log2(size / 4) */
    float bn_momentum;                   /* 0.1, as torch */
    gan_noise noise;                     /* G: its latents' distribution */
    int nw;                              /* conv / linear weights in forward order */
    tensor *w[40], *b[40];               /* b[i] NULL when the layer has no bias */
    spectral_norm *snw[40];              /* when sn */
    int nbn;
    tensor *gamma[24], *beta[24], *rmean[24], *rvar[24];
    const struct op_allreduce *bn_sync;  /* training batch norm over several processes
                                            (op_batch_norm_sync; set by a data-parallel
                                            step); NULL: this process's batch */
    model_params params, buffers;        /* "w.0", "b.0", "bn.0.weight", "bn.0.running_mean"... */
} gan_net;

status gan_net_init(gan_net *n, arena *params, const gan_config *c, bool generator, uint64_t seed);
/* G: z (N, NZ) -> (N, 3, S, S) in (-1, 1) (mlp: (N, size)). training: batch-norm batch
 * statistics (updating the running ones); else the running statistics. */
tensor *gan_g_forward(gan_net *g, arena *a, tensor *z, bool training);
/* D: x -> logits (N). training: batch statistics and a spectral-norm power iteration. */
tensor *gan_d_forward(gan_net *d, arena *a, tensor *x, bool training);

/* Training. The data function returns a batch of n real samples for D update k of step
 * (in [-1, 1], (n, 3, S, S); mlp: (n, size)) in arena a, or NULL after error_set. */
typedef tensor *(*gan_data_fn)(void *user, arena *a, int64_t step, int k, int n);

typedef struct gan_stats {
    double d_loss, g_loss;     /* D's loss incl. penalty; G's adversarial + style loss */
    double d_real, d_fake;     /* mean D logit on real and fake */
    double penalty;            /* R1 or GP value (before its weight); 0 when off */
    double style;              /* the style loss (before its weight); 0 when off */
} gan_stats;

typedef struct gan gan;
gan *gan_new(const gan_config *c);     /* NULL + error_message() on bad config */
void gan_free(gan *g);                 /* NULL is fine */
const gan_config *gan_get_config(const gan *g);
int64_t gan_step(const gan *g);        /* steps done */
/* Gram-matrix targets for the style loss: the mean Gram matrices of relu1_1, relu2_1 and
 * relu3_1 of the built-in VGG-19 over images (M, 3, S, S) in [-1, 1]. */
status gan_set_style(gan *g, const tensor *images);
status gan_train_step(gan *g, gan_data_fn data, void *user, gan_stats *out);
/* Data-parallel training (dist.h; `mpirun -np K atelier gan train`): from now on each
 * gan_train_step of this process takes its share, rows [lo, hi) of dist_share, of every
 * batch: the same data, latents, augmentations and interpolation weights as one process
 * draws for the whole batch, that share of them. Batch norm takes the whole batch's
 * statistics (op_batch_norm_sync), the gradient penalties their rows' part, the gradients
 * and the reported losses are summed over the ranks, and a hash of the weights is compared
 * after every step, so K processes with batch B train as one process with batch B does, up
 * to float rounding. Every rank must run every step. d NULL or of size 1: one process.
 * STATUS_ARG when there are more ranks than rows in a batch. gan_train_d and gan_train_g
 * stay single-process. */
struct dist;
status gan_set_dist(gan *g, struct dist *d);
/* One D update alone (its data and latents those of update 0 of the current step), or one
 * G update alone; each then counts as a step. out gets the losses of that update (the
 * other's fields 0). */
status gan_train_d(gan *g, gan_data_fn data, void *user, gan_stats *out);
status gan_train_g(gan *g, gan_stats *out);
/* The gradient of G's adversarial loss, times N, with respect to each of the samples x
 * (N, ...) (D in eval mode): the direction G's update pushes each fake, against. grad gets
 * x->numel floats. D's gradients are left zero. */
status gan_sample_grad(gan *g, const tensor *x, float *grad);
/* Changes the learning rates and the updates per step during training (checked as in
 * gan_new; nothing changes on error). */
status gan_set_rates(gan *g, float lr_g, float lr_d, int d_steps, int g_steps);
/* The networks being trained (D; G itself, not its EMA). */
gan_net *gan_discriminator(gan *g);
gan_net *gan_generator(gan *g);

/* Fine-tuning: G (and its EMA) start from a generator file (gan_generator_load's
 * sources) of the same architecture, size, ngf and z-dim; D starts fresh. */
status gan_init_generator(gan *g, const char *path_or_name);
void gan_ema_reset(gan *g);            /* EMA := G */

/* The generator used for samples: the EMA copy when ema > 0, else G. */
gan_net *gan_sampler(gan *g);
/* The latent of sample i of seed: N(0, I) from (seed, i), so sample i is the same
 * whatever n. z (n, NZ) for samples first..first+n-1. gan_latents_of: of the gan's noise
 * (U[-1, 1] when uniform). */
tensor *gan_latents(arena *a, int nz, uint64_t seed, int first, int n);
tensor *gan_latents_of(const gan *g, arena *a, uint64_t seed, int first, int n);
/* n samples (the sampler in eval mode, autograd off). */
tensor *gan_sample(gan *g, arena *a, uint64_t seed, int first, int n);
tensor *gan_net_sample(gan_net *g, arena *a, uint64_t seed, int first, int n);
/* Spherical interpolation of two latent vectors of length nz at t in [0, 1]. */
void gan_slerp(const float *z0, const float *z1, int nz, float t, float *out);

/* Checkpoints (atomic): G, D, EMA, both optimisers' state, spectral-norm vectors, the
 * step and the config. gan_load_checkpoint makes a gan that continues exactly. */
status gan_save_checkpoint(gan *g, const char *path);
gan *gan_load_checkpoint(const char *path);
/* A generator alone (the sampler; its batch-norm statistics re-estimated over 16 batches
 * of 64 latents first), with the config in metadata: what `gan sample` loads. */
status gan_export_generator(gan *g, const char *path);
/* Loads a generator file, a checkpoint (its sampler) or the built-in model "monet64". */
status gan_generator_load(const char *path_or_name, arena *params, gan_net *out, gan_config *c);

#endif
