/* models_internal.h: the parameter-table helpers that models.c and gan_nets.c share. */
#ifndef ATELIER_MODELS_INTERNAL_H
#define ATELIER_MODELS_INTERNAL_H
#include "atelier/models.h"
#include "atelier/rng.h"

/* Room for cap entries in the arena; false (error set by arena_alloc) when out of memory. */
bool table_new(model_params *p, arena *a, int cap);
/* A new zero tensor named by fmt, appended to p (which has room); NULL when out of memory.
 * Parameters (grad true) require a gradient; buffers do not. */
tensor *table_add(model_params *p, arena *a, bool grad, int ndim, const int *shape,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* PyTorch's default for conv layers: weight kaiming uniform with a = sqrt(5) (within
 * 1/sqrt(fan_in)), bias uniform within 1/sqrt(fan_in) (b may be NULL). */
void init_torch_default_conv(tensor *w, tensor *b, rng *r);

/* Inference in bounded memory (models.c): with gradients off, each layer runs in a work
 * arena and its output is kept in one of two holding arenas (alternating), so peak memory
 * is one layer's intermediates plus two activations. With gradients on, everything stays
 * in the caller's arena and these calls change nothing. A layer:
 *   arena *w = layer_seq_arena(s), *o = layer_seq_output(s);   // intermediates; the output
 *   h = layer_seq_keep(s, op_...(o, ...w-made inputs...));
 * and the network's result: layer_seq_end(s, t) (a copy in the caller's arena). */
typedef struct layer_seq { arena *out, *work, *hold[2]; int cur; bool on; } layer_seq;
void layer_seq_begin(layer_seq *s, arena *out);
arena *layer_seq_arena(const layer_seq *s);
arena *layer_seq_output(layer_seq *s);
tensor *layer_seq_keep(layer_seq *s, tensor *t);
tensor *layer_seq_end(layer_seq *s, tensor *t);

#endif
