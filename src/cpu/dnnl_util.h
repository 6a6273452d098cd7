/* dnnl_util.h: the cpu backend's oneDNN plumbing (private to src/cpu/).
 *
 * One engine and one in-order stream for the process, made on first use; reorders between
 * our plain layouts (nchw, oihw) and the blocked ones oneDNN picks; scratch buffers that
 * grow and are reused; and a cache of reordered weights, keyed by the weight buffer's
 * address, the target layout and a 64-bit hash of the buffer's contents, so a weight that
 * an optimiser updated in place is reordered again instead of served stale.
 *
 * Every function returns NULL (or false) when oneDNN fails; callers then fall back to the
 * reference kernel. Nothing here prints or exits. Not thread-safe: callers serialise. */
#ifndef ATELIER_DNNL_UTIL_H
#define ATELIER_DNNL_UTIL_H
#include <stdbool.h>
#include <stddef.h>
#include <oneapi/dnnl/dnnl.h>

/* The process's engine and stream; NULL if oneDNN cannot start. Freed at exit. */
dnnl_engine_t cpu_dnnl_engine(void);
dnnl_stream_t cpu_dnnl_stream(void);

/* A reorder primitive from one layout to another; with add, it computes to += from
 * (a sum post-op) instead of overwriting. NULL on failure. */
dnnl_primitive_t cpu_dnnl_reorder_new(const dnnl_memory_desc_t *from,
                                      const dnnl_memory_desc_t *to, bool add);
/* Runs reorder r from buffer `from` (described by mem_from) to buffer `to` (mem_to). */
bool cpu_dnnl_reorder_run(dnnl_primitive_t r, dnnl_memory_t mem_from, const void *from,
                          dnnl_memory_t mem_to, void *to);

/* A 64-byte aligned buffer of at least bytes, one per slot (0 .. CPU_DNNL_SLOTS - 1),
 * reused across calls: its contents do not survive the next call for the same slot. */
enum { CPU_DNNL_SLOTS = 5 };   /* 0-3: a convolution's tensors; 4: oneDNN's own scratchpad */
void *cpu_dnnl_scratch(int slot, size_t bytes);

/* w (plain layout mem_plain describes) reordered into layout prim_md by `reorder`, from the
 * cache when w's address and contents match a cached copy, else reordered now (and
 * cached). mem_prim is a memory object of prim_md that the reorder may use. NULL on
 * failure. The result stays valid until the next call. */
const void *cpu_dnnl_weights(const float *w, size_t count, dnnl_memory_t mem_plain,
                             const dnnl_memory_desc_t *prim_md, dnnl_memory_t mem_prim,
                             dnnl_primitive_t reorder);

#endif
