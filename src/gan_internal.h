/* gan_internal.h: the gan struct, shared by gan.c (training) and gan_io.c (files). */
#ifndef ATELIER_GAN_INTERNAL_H
#define ATELIER_GAN_INTERNAL_H
#include "atelier/gan.h"
#include "atelier/ops.h"
#include "atelier/optim.h"

#define GAN_STYLE_LAYERS 3

struct gan {
    gan_config c;
    arena *params;          /* networks, EMA, style targets: the gan's lifetime */
    arena *state;           /* optimiser state */
    arena *work;            /* one step's graph; reset every step */
    gan_net G, D, E;        /* E: the moving average of G (when c.ema > 0) */
    optim *og, *od;
    int64_t step;
    vgg19 vgg;              /* for the style loss (when style targets are set) ... */
    struct featnet *style_fn;   /* ... or this network (c.style_net) */
    const char *style_layers[GAN_STYLE_LAYERS];
    bool have_style;
    tensor *style_gram[GAN_STYLE_LAYERS];   /* (1, C, C) */
    struct dist *dist;      /* data-parallel (gan_set_dist), else NULL */
    op_allreduce sync;      /* its all-reduce, for batch norm */
    int lo, hi;             /* this process's rows of a batch: [0, batch) alone */
};

/* The style loss's network (c.style_net, or the built-in VGG-19); gan.c. */
status gan_style_net_init(gan *g);
/* "color,translation" from DIFFAUG_* bits into buf (cap >= 64). */
const char *gan_diffaug_str(unsigned bits, char *buf);
/* Batch-norm statistics of a generator re-estimated over 16 batches of 64 latents (a
 * cumulative average, as torch's momentum None), so eval-mode samples match what the
 * weights produce. No-op without batch norm. */
status gan_net_calibrate(gan_net *g, uint64_t seed);
/* Copies of a net's buffers, to put them back after calibrating. */
float *gan_buffers_save(const gan_net *g);
void gan_buffers_restore(gan_net *g, float *saved);   /* frees saved */

/* For tests: zeroes D's gradients, then adds the gradient of the penalty (R1 on real, or
 * WGAN-GP between real and fake, as configured) times its weight; *value before it. */
status gan_penalty_grad(gan *g, const tensor *real, const tensor *fake, double *value);

#endif
