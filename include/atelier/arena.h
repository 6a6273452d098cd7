/* arena.h: memory by lifetime.
 *
 * An arena hands out memory by bumping a pointer through chunks it mallocs as it grows;
 * everything in it is released at once by arena_reset (keep the chunks, for the next step)
 * or arena_free (give them back). Atelier keeps one arena per lifetime: one for a model's
 * parameters, gradients and optimiser state, one for a step's activations, reset each step.
 * Allocations never move; memory is 64-byte aligned and zeroed.
 *
 * Example:
 * EXAMPLE_BEGIN
 *   arena *a = arena_new(1 << 20);
 *   float *x = arena_alloc(a, 100 * sizeof(float));   // zeroed, 64-byte aligned
 *   if (!x || x[99] != 0.0f || ((size_t)x % 64) != 0) return 1;
 *   float *big = arena_alloc(a, 4 << 20);            // larger than a chunk: a chunk of its own
 *   if (!big) return 1;
 *   size_t used = arena_used(a);
 *   arena_reset(a);                                 // everything above is released at once
 *   if (arena_used(a) != 0 || used < (4 << 20)) return 1;
 *   arena_free(a);
 * EXAMPLE_END
 */
#ifndef ATELIER_ARENA_H
#define ATELIER_ARENA_H
#include <stddef.h>

typedef struct arena arena;

arena *arena_new(size_t chunk_size);       /* NULL when out of memory */
void *arena_alloc(arena *a, size_t bytes); /* zeroed; NULL (and error_set) when out of memory */
void arena_reset(arena *a);                /* release all allocations, keep the first chunk */
void arena_free(arena *a);                 /* NULL is fine */
size_t arena_used(const arena *a);         /* bytes handed out since the last reset */
size_t arena_peak(const arena *a);         /* the most arena_used has been */

#endif
