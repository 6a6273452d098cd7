/* models_internal.h: the parameter-table helpers that models.c and gan_nets.c share. */
#ifndef ATELIER_MODELS_INTERNAL_H
#define ATELIER_MODELS_INTERNAL_H
#include "atelier/models.h"

/* Room for cap entries in the arena; false (error set by arena_alloc) when out of memory. */
bool table_new(model_params *p, arena *a, int cap);
/* A new zero tensor named by fmt, appended to p (which has room); NULL when out of memory.
 * Parameters (grad true) require a gradient; buffers do not. */
tensor *table_add(model_params *p, arena *a, bool grad, int ndim, const int *shape,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif
