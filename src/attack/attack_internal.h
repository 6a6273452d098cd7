/* attack_internal.h: helpers shared by the attacks (src/attack/). D = C * H * W. */
#ifndef ATELIER_ATTACK_INTERNAL_H
#define ATELIER_ATTACK_INTERNAL_H
#include "atelier/attack.h"
#include "atelier/rng.h"

/* Pixels of the model's input: C * H * W. */
int64_t attack_dim(const attack_model *m);
/* STATUS_ARG (with a message) when the options cannot run on m. */
status attack_check(const attack_model *m, int n, const attack_opts *o);
/* x_adv (N, D): the delta x_adv - x projected into the ball of `norm` and `eps`, then the
 * pixels clipped to [0,1] (clipping only shrinks |delta|, so the result stays in the ball). */
void attack_project(const float *x, float *x_adv, int n, int64_t d, attack_norm norm, float eps);
/* x_adv += s * a * direction(g) per image: sign(g) (linf) or g / ||g|| (l2). */
void attack_step(float *x_adv, const float *g, int n, int64_t d, attack_norm norm, float s, float a);
/* delta (N, D) drawn uniformly in the linf ball, or uniformly in the l2 ball. */
void attack_random_in_ball(rng *r, float *delta, int n, int64_t d, attack_norm norm, float eps);
/* The labels the loss is taken of (the target, when targeted) and the sign of the ascent:
 * +1 untargeted (raise CE of the truth), -1 targeted (lower CE of the target). */
float attack_labels(const attack_opts *o, const int *labels, int n, int *use);
/* Per-image loss (N) and prediction (N) at x, for choosing among restarts. */
status attack_score(const attack_model *m, const float *x, const int *use, int n,
                    attack_loss loss, float *per_loss, int *pred);
#endif
