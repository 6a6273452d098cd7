/* diffaug.h: DiffAugment, differentiable augmentation for data-efficient GANs.
 *
 * Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"
 * (arXiv:2006.10738): the same random augmentation T is applied to the real images and to
 * the generator's images before the discriminator sees them, D(T(x)) and D(T(G(z))), in
 * both the D and the G steps. T is made of differentiable ops, so G's gradient flows
 * through it. This follows the official DiffAugment_pytorch.py
 * (mit-han-lab/data-efficient-gans), policy "color,translation,cutout", number for number:
 *
 *   color        brightness x + b, b = r1 - 0.5; saturation (x - m) s + m with m the mean
 *                over channels, s = 2 r2; contrast (x - m) c + m with m the mean over
 *                (C, H, W) of each sample, c = r3 + 0.5; r1, r2, r3 ~ U[0, 1) per sample.
 *   translation  shift each sample by whole pixels (tx, ty), each in [-s, s] with
 *                s = int(side / 8 + 0.5): out[y][x] = in[y + ty][x + tx], 0 where that
 *                lies outside the image (the official pad-by-1-and-clamp gather).
 *   cutout       zero a square of k = int(side / 2 + 0.5) pixels a side (per axis) whose
 *                rows are cut_y - k/2 .. cut_y - k/2 + k - 1 clamped to the image, likewise
 *                the columns; cut_y drawn from [0, H + (1 - k % 2)) (randint), cut_x alike.
 *
 * The random numbers are drawn apart from the application (diffaug_draw, then
 * diffaug_apply) so that a test can pass the official code's draws in, and so that the
 * draws are a pure function of (seed, counter): a resumed run augments exactly as before.
 * (The official code names the H offset translation_x / offset_x: that is our ty / cut_y.)
 *
 * Legend: N batch, C channels, H height, W width.
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include "atelier/ops.h"
 * EXAMPLE_BEGIN
 *   status st;
 *   unsigned policy = diffaug_parse("color,translation,cutout", &st);
 *   if (st != STATUS_OK || policy != (DIFFAUG_COLOR | DIFFAUG_TRANSLATION | DIFFAUG_CUTOUT)) return 1;
 *   arena *a = arena_new(1 << 20);
 *   tensor *x = tensor_fill(tensor_new(a, 4, (int[]){2, 3, 16, 16}), 0.25f);  // (N, C, H, W)
 *   tensor_requires_grad(x);
 *   diffaug_draws d;
 *   if (diffaug_draw(a, policy, 2, 16, 16, 1234, 0, &d) != STATUS_OK) return 1;
 *   if (d.tx[0] < -2 || d.tx[0] > 2) return 1;            // int(16 / 8 + 0.5) = 2
 *   tensor *y = diffaug_apply(a, x, policy, &d);          // (2, 3, 16, 16)
 *   if (!y) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   if (tensor_backward(op_sum(a, y, -1, false)) != STATUS_OK || !x->grad) return 1;
 *   if (diffaug_parse("color,blur", &st) != 0 || st != STATUS_ARG) return 1;  // unknown word
 *   error_clear();
 *   arena_free(a);
 * EXAMPLE_END
 */
#ifndef ATELIER_DIFFAUG_H
#define ATELIER_DIFFAUG_H
#include <stdint.h>
#include "atelier/arena.h"
#include "atelier/error.h"
#include "atelier/tensor.h"

#define DIFFAUG_COLOR 1u
#define DIFFAUG_TRANSLATION 2u
#define DIFFAUG_CUTOUT 4u
#define DIFFAUG_ALL (DIFFAUG_COLOR | DIFFAUG_TRANSLATION | DIFFAUG_CUTOUT)

/* Comma-separated parts ("color,translation,cutout", any subset, any order; the parts are
 * always applied in that order) -> bit flags; "" or "none" -> 0. An unknown word: 0,
 * *st = STATUS_ARG and error_set naming it. st may be NULL. */
unsigned diffaug_parse(const char *spec, status *st);

/* Per-sample draws: the factors and offsets as applied. The arrays of parts not in the
 * policy are NULL. */
typedef struct diffaug_draws {
    int n;
    float *brightness;  /* (n) in [-0.5, 0.5): added */
    float *saturation;  /* (n) in [0, 2): scales the distance from the channel mean */
    float *contrast;    /* (n) in [0.5, 1.5]: scales the distance from the sample mean */
    int *tx, *ty;       /* (n) shifts in [-s, s], s = int(W / 8 + 0.5) for tx, H for ty */
    int *cut_x, *cut_y; /* (n) cutout centres in [0, W - k % 2], k = int(W / 2 + 0.5) (H: cut_y) */
} diffaug_draws;

/* Fills d with n draws for images of h x w, arrays in arena a: a pure function of (seed,
 * counter) (e.g. counter = 2 step for the reals, 2 step + 1 for the fakes). Each part has
 * its own stream, so the numbers of one part do not depend on which others are on.
 * STATUS_ARG on n, h or w < 1 or an unknown bit; STATUS_NOMEM. */
status diffaug_draw(arena *a, unsigned policy, int n, int h, int w, uint64_t seed,
                    uint64_t counter, diffaug_draws *d);

/* x (N, C, H, W) -> the augmented (N, C, H, W) in arena a, from ops (ops.h), so gradients
 * reach x. policy 0 returns x itself. NULL and error_set if d does not fit x (n, missing
 * arrays, offsets out of range for H and W). */
tensor *diffaug_apply(arena *a, tensor *x, unsigned policy, const diffaug_draws *d);

#endif
