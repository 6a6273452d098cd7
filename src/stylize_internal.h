/* stylize_internal.h: what the parts of stylize (stylize.c: options, colour and the run;
 * stylize_loss.c: targets, loss and optimisation; stylize_tile.c: tiles) share. */
#ifndef ATELIER_STYLIZE_INTERNAL_H
#define ATELIER_STYLIZE_INTERNAL_H
#include "atelier/stylize.h"
#include "atelier/arena.h"
#include "atelier/color.h"
#include "atelier/featnet.h"

#define STYLIZE_MAX_LAYERS 16
#define STYLIZE_MIN_SIDE 16   /* relu5_x sits after four 2x2 pools */

struct stylize_net {
    featnet *fn;
};

/* The planar pixels the network sees: 3 planes (RGB) or 1 (luminance). */
typedef struct planes {
    int c, h, w;
    float *data;   /* (c, h, w), malloc'd */
} planes;

typedef struct stylize_state {
    stylize_net *net;
    const stylize_opts *o;
    int nc, ns;                                /* content and style layers */
    float cw[STYLIZE_MAX_LAYERS], sw[STYLIZE_MAX_LAYERS];
    const char *names[2 * STYLIZE_MAX_LAYERS]; /* style layers then content layers */
    char lname[2 * STYLIZE_MAX_LAYERS][64];    /* their storage */
    int luma;                                  /* the network sees luminance (1 plane) */
    /* the current problem: targets and the optimised image */
    tensor *content_f[STYLIZE_MAX_LAYERS];     /* (1, C, H, W) */
    double content_norm[STYLIZE_MAX_LAYERS];   /* 1 / mean(F_l(c)^2) */
    tensor *gram[STYLIZE_MAX_LAYERS];          /* (1, C, C) blended */
    double gram_norm[STYLIZE_MAX_LAYERS];      /* 1 / mean(G_l(s)^2) */
    tensor *x;                                 /* (1, luma ? 1 : 3, H, W) */
    tensor *prior, *prior_mask;                /* temporal term: (1, C, H, W), (1, 1, H, W); or NULL */
    arena *grams, *keep, *step;                /* style targets; content targets + x; one evaluation */
    /* the whole picture, for output and snapshots */
    const float *content_rgb;                  /* (3, H, W) at the current level's size */
    int ch, cw_;                               /* its size */
    planes *full;                              /* tiling: the whole image being refined */
    int tile_y, tile_x;                        /* where x sits in `full` */
    color_stats palette;                       /* PALETTE: the style's colours */
    /* progress */
    int done, total, level, levels, tile, tiles;
    double t0, last[5];                        /* loss, content, style, tv, temporal */
    double first_loss;
    bool stopped;
} stylize_state;

/* stylize_loss.c */
status stylize_content_targets(stylize_state *s, const planes *content);
status stylize_style_targets(stylize_state *s, planes **styles, const float *blend, int n);
status stylize_optimise(stylize_state *s, int iterations);
double stylize_eval(stylize_state *s);   /* the loss at x, no gradient; parts in s->last */
/* L_temporal (stylize.h): sum m (x - prior)^2 / numel(x), a scalar; x, prior (1, C, H, W),
 * mask (1, 1, H, W). */
tensor *stylize_temporal_loss(arena *a, tensor *x, tensor *prior, tensor *mask);

/* stylize_tile.c */
status stylize_refine_tiles(stylize_state *s, planes *full, const planes *content, int iterations);
int stylize_tile_count(int h, int w, int tile);

/* stylize.c */
planes *planes_new(int c, int h, int w);
void planes_free(planes *p);
planes *planes_crop(const planes *p, int y, int x, int h, int w);
tensor *planes_tensor(arena *a, const planes *p);     /* (1, C, H, W) copy */
status stylize_report(stylize_state *s);              /* progress + callback */

#endif
