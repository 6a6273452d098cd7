/* rng.c: counter-based random numbers (see rng.h).
 * Number c of stream `seed` is splitmix64's finaliser applied to a Weyl sequence point
 * seed*golden + c, run twice: a strong 64-bit mix (Steele et al. 2014), so nearby counters
 * and nearby seeds give unrelated numbers. */
#include "atelier/rng.h"
#include <math.h>

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t hash_at(uint64_t seed, uint64_t c) {
    return mix64(mix64(seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL) + c * 0x9e3779b97f4a7c15ULL);
}

/* 24 random bits: every float in [0, 1) this makes is exact */
static float unit_at(uint64_t seed, uint64_t c) {
    return (float)(hash_at(seed, c) >> 40) * (1.0f / 16777216.0f);
}

rng rng_new(uint64_t seed) { return (rng){.seed = seed, .counter = 0}; }

uint64_t rng_u64(rng *r) { return hash_at(r->seed, r->counter++); }

float rng_float(rng *r) { return unit_at(r->seed, r->counter++); }

void rng_uniform_at(uint64_t seed, uint64_t c, float *out, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) out[i] = lo + (hi - lo) * unit_at(seed, c + (uint64_t)i);
}

void rng_uniform(rng *r, float *out, int64_t n, float lo, float hi) {
    rng_uniform_at(r->seed, r->counter, out, n, lo, hi);
    r->counter += (uint64_t)n;
}

#define NORMAL_KEY 0xd1b54a32d192ed03ULL /* a second stream, apart from the uniform one */

/* Box-Muller on two numbers of a second stream keyed by counter i, so each element still
 * depends only on (seed, counter + i). */
void rng_normal(rng *r, float *out, int64_t n, float mean, float std) {
    for (int64_t i = 0; i < n; i++) {
        uint64_t c = r->counter + (uint64_t)i;
        double u1 = ((hash_at(r->seed ^ NORMAL_KEY, 2 * c) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
        double u2 = (hash_at(r->seed ^ NORMAL_KEY, 2 * c + 1) >> 11) * (1.0 / 9007199254740992.0);
        out[i] = mean + std * (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
    r->counter += (uint64_t)n;
}
