/* init.h: weight initialisers, as torch.nn.init defines them.
 *
 * fan_in = size(1) * receptive field, fan_out = size(0) * receptive field, where the
 * receptive field is the product of the dims after the first two (conv weights (OC, C, KH, KW),
 * linear weights (OUT, IN)). Kaiming's gain is sqrt(2 / (1 + slope^2)) (slope 0 for ReLU).
 *
 * Example:
 * EXAMPLE_BEGIN
 *   arena *a = arena_new(1 << 20);
 *   rng r = rng_new(1);
 *   tensor *w = tensor_new(a, 2, (int[]){64, 64});
 *   init_orthogonal(w, &r, 1.0f);
 *   double dot = 0; for (int k = 0; k < 64; k++) dot += w->data[k] * w->data[64 + k];
 *   double nrm = 0; for (int k = 0; k < 64; k++) nrm += w->data[k] * w->data[k];
 *   if (fabs(dot) > 1e-4 || fabs(nrm - 1) > 1e-4) return 1;   // orthonormal rows
 *   init_kaiming_uniform(w, &r, 0.0f, false);                  // bound sqrt(6 / fan_in)
 *   for (int i = 0; i < 64 * 64; i++) if (fabsf(w->data[i]) > sqrtf(6.0f / 64)) return 1;
 *   arena_free(a);
 * EXAMPLE_END
 */
#ifndef ATELIER_INIT_H
#define ATELIER_INIT_H
#include <stdbool.h>
#include "atelier/tensor.h"
#include "atelier/rng.h"

void init_zeros(tensor *t);
void init_uniform(tensor *t, rng *r, float lo, float hi);
void init_normal(tensor *t, rng *r, float mean, float std);
/* slope: the negative slope of the leaky ReLU that follows (0 for ReLU); fan_out: use fan_out */
void init_kaiming_uniform(tensor *t, rng *r, float slope, bool fan_out);
void init_kaiming_normal(tensor *t, rng *r, float slope, bool fan_out);
void init_xavier_uniform(tensor *t, rng *r, float gain);
void init_xavier_normal(tensor *t, rng *r, float gain);
/* rows (or columns, whichever are fewer) of t viewed as (size(0), rest) are orthonormal,
 * times gain; from the QR decomposition of a normal matrix, signs fixed by diag(R). */
status init_orthogonal(tensor *t, rng *r, float gain);
void init_fans(const tensor *t, int *fan_in, int *fan_out);

#endif
