/* rng.h: a seeded, counter-based random generator.
 *
 * Number i of a stream is a hash of (seed, counter + i), so a block of numbers can be drawn
 * in any order, by any number of threads, and come out the same: results never depend on
 * the thread count. The state is two integers, so it is saved in checkpoints as it is.
 *
 * Example:
 * EXAMPLE_BEGIN
 *   rng r = rng_new(42), r2 = rng_new(42);
 *   float a[1000], b[1000];
 *   rng_normal(&r, a, 1000, 0.0f, 1.0f);
 *   rng_normal(&r2, b, 500, 0.0f, 1.0f);           // the same stream, in two pieces
 *   rng_normal(&r2, b + 500, 500, 0.0f, 1.0f);
 *   if (memcmp(a, b, sizeof a) != 0) return 1;
 *   double mean = 0; for (int i = 0; i < 1000; i++) mean += a[i] / 1000;
 *   if (fabs(mean) > 0.15) return 1;
 * EXAMPLE_END
 */
#ifndef ATELIER_RNG_H
#define ATELIER_RNG_H
#include <stdint.h>

typedef struct rng { uint64_t seed, counter; } rng;

rng rng_new(uint64_t seed);
uint64_t rng_u64(rng *r);                                  /* one 64-bit number */
float rng_float(rng *r);                                   /* uniform in [0, 1) */
void rng_uniform(rng *r, float *out, int64_t n, float lo, float hi); /* uniform in [lo, hi) */
void rng_normal(rng *r, float *out, int64_t n, float mean, float std);
/* out[i] for counters [c, c + n) of seed, without a state: the building block above */
void rng_uniform_at(uint64_t seed, uint64_t c, float *out, int64_t n, float lo, float hi);

#endif
