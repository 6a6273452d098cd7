/* stylenet_internal.h: what the parts of the fast style networks share (stylenet.c: the
 * network and its files; stylenet_paint.c: painting in tiles; stylenet_train.c: training). */
#ifndef ATELIER_STYLENET_INTERNAL_H
#define ATELIER_STYLENET_INTERNAL_H
#include "atelier/stylenet.h"

#define STYLENET_FORMAT "atelier-style-net"
#define STYLENET_TRAIN_FORMAT "atelier-style-net-checkpoint"

/* Instance statistics per norm layer, for painting one picture in tiles that agree. */
typedef enum stats_mode { STATS_RECORD, STATS_USE } stats_mode;
typedef struct stylenet_stats {
    stats_mode mode;
    float *mean[STYLENET_NORMS], *rstd[STYLENET_NORMS];   /* (C_l) each, malloc'd */
} stylenet_stats;

status stylenet_stats_alloc(const stylenet *m, stylenet_stats *st);
void stylenet_stats_free(stylenet_stats *st);
/* Inference only (autograd off), N = 1: each norm layer records its statistics into st
 * (STATS_RECORD) or normalises with st's (STATS_USE) instead of the picture's own. */
tensor *stylenet_forward_stats(const stylenet *m, arena *a, tensor *x, tensor *mix, stylenet_stats *st);

/* The output channels of conv l */
int stylenet_conv_out(const stylenet *m, int l);
/* The styles' names as one comma-separated string (for metadata); out has n bytes. */
void stylenet_names_join(const stylenet *m, char *out, size_t n);
/* Sets names from a comma-separated list (as stylenet_names_join writes); false when the
 * count differs. */
bool stylenet_names_split(stylenet *m, const char *list);
/* A style name made safe for the list: letters, digits, '_', '-', '.', at most
 * STYLENET_NAME_MAX - 1 bytes. */
void stylenet_name_clean(const char *in, char out[STYLENET_NAME_MAX]);

#endif
