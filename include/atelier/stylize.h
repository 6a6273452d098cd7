/* stylize.h: neural style transfer by optimising the image (Gatys et al. 2016).
 *
 * The image x is optimised to minimise L = a L_content + b L_style + c L_tv, with F_l the
 * (C, H, W) features after the ReLU of VGG-19 layer l on the ImageNet-normalised image and
 * G_l = F_l F_l^T / (H W):
 *   L_content = sum over content layers l of mean((F_l(x) - F_l(c))^2) / mean(F_l(c)^2)
 *   L_style   = sum over style layers l of w_l mean((G_l(x) - G_l(s))^2) / mean(G_l(s)^2),
 *               the w_l summing to 1 (equal: 1/|S|); with several style images G_l(s) is
 *               their blend sum_k v_k G_l(s_k), sum v_k = 1
 *   L_tv      = mean((x[:, i+1, j] - x[:, i, j])^2) + mean((x[:, i, j+1] - x[:, i, j])^2)
 * For video (Ruder et al. 2016), a temporal term d L_temporal joins them when temporal_weight
 * d > 0: with p the prior (the previous frame's output warped into this one, flow.h) and m its
 * mask (1 where the warp is reliable), both resized to x, over the C planes x has:
 *   L_temporal = sum_{c,i,j} m[i, j] (x[c, i, j] - p[c, i, j])^2 / (C H W)
 * (the luminance of p where the network sees luminance). Initialise x from the prior too
 * (init STYLIZE_INIT_IMAGE, init_image = the prior). Not with tiles.
 * Normalising by the targets keeps the weights meaningful whatever the network's weights.
 *
 * The network (stylize_net) is VGG-19: real weights from a file (torchvision's .pth or a
 * safetensors file with its key names, weights.h), or the built-in network, whose weights
 * are drawn from a fixed seed and shaped so that they act as a texture model (see
 * stylize.c). Colour handling (stylize_color):
 *   RGB       the plain algorithm: the network sees the RGB image.
 *   PALETTE   the network sees luminance only (Y replicated to 3 channels); the result
 *             takes the style's colours by colour transfer (mean and covariance).
 *   PRESERVE  luminance only, the style's luminance matched to the photo's mean and
 *             deviation; the result keeps the photo's colours (Gatys et al. 2016b).
 * match_colors gives the style images the photo's colour statistics first.
 *
 * Sizes: the content is resized to `size` on its long side, the style images to
 * style_size (or style_scale * size). multires K optimises at size / 2^(K-1) first, then
 * upsamples and refines at each doubling. tile T (high resolution in bounded memory) first
 * stylises the whole image at T on its long side, upsamples, then refines overlapping
 * T x T tiles one at a time against the style's Gram matrices and the content features of
 * each tile, blending the tiles' seams with linear ramps.
 *
 * Determinism: the same inputs, options and seed give the same image (the backends'
 * kernels do not depend on the thread count).
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include "atelier/image.h"
 * EXAMPLE_BEGIN
 *   image *photo = image_new(32, 24, 3), *paint = image_new(32, 32, 3);
 *   for (int i = 0; i < 3 * 32 * 24; i++) photo->data[i] = (float)((i / 7) % 5) / 4.0f;
 *   for (int i = 0; i < 3 * 32 * 32; i++) paint->data[i] = (float)((i * 7) % 11) / 10.0f;
 *   stylize_net *net = stylize_net_new(NULL, stylize_default_pool(true), NULL);  // built in
 *   if (!net) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   stylize_opts o = stylize_defaults(stylize_net_builtin(net));
 *   o.size = 32;                 // long side of the output
 *   o.iterations = 5;
 *   o.multires = 1;              // one resolution (the built-in default is 2)
 *   o.style_layers = "relu1_1,relu2_1";
 *   o.content_layers = "relu2_1";
 *   stylize_result r;
 *   image *out = stylize_run(net, photo, (const image *[]){paint}, 1, &o, &r);
 *   if (!out) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   if (out->w != 32 || out->h != 24 || !(r.loss < r.first_loss)) return 1;
 *   image_free(out); image_free(photo); image_free(paint);
 *   stylize_net_free(net);
 * EXAMPLE_END
 */
#ifndef ATELIER_STYLIZE_H
#define ATELIER_STYLIZE_H
#include <stdbool.h>
#include <stdint.h>
#include "atelier/image.h"
#include "atelier/models.h"

typedef struct stylize_net stylize_net;

/* weights: a .pth or .safetensors file of VGG-19 (torchvision's key names), or NULL for the
 * built-in network. Builds the convs up to layer `last` ("relu3_1"; NULL: relu5_4), and
 * needs only those in the file. NULL and error_set on failure. */
stylize_net *stylize_net_new(const char *weights, vgg_pool pool, const char *last);
/* Writes the network's weights as safetensors (torchvision's names): the built-in network
 * can then be used by other programs (tools/stylize_torch.py). */
status stylize_net_save(const stylize_net *net, const char *path);
/* Any feature network (featnet.h) by name or path: "vgg19" (weights: a VGG-19 file, or NULL
 * for the built-in one), "inception_v3", "mobilenet_v2" (the trained networks that
 * scripts/install-models.sh installs), or a TF.js layers model; dir: the first folder of the
 * models search path (may be NULL). Known networks get their input recipe (range, padding). */
stylize_net *stylize_net_open(const char *net, const char *dir, const char *weights, vgg_pool pool);
void stylize_net_free(stylize_net *net);    /* NULL is fine */
bool stylize_net_builtin(const stylize_net *net);
const vgg19 *stylize_net_vgg(const stylize_net *net);      /* NULL unless VGG-19 */
struct featnet *stylize_net_featnet(stylize_net *net);

typedef enum stylize_color { STYLIZE_COLOR_RGB, STYLIZE_COLOR_PALETTE, STYLIZE_COLOR_PRESERVE } stylize_color;
typedef enum stylize_optimizer { STYLIZE_LBFGS, STYLIZE_ADAM } stylize_optimizer;
typedef enum stylize_init { STYLIZE_INIT_CONTENT, STYLIZE_INIT_RANDOM, STYLIZE_INIT_IMAGE } stylize_init;

/* What a progress callback sees, after each iteration. */
typedef struct stylize_progress {
    int iteration, iterations;     /* done so far, and in all (every level and tile) */
    int level, levels;             /* multires level (0 = coarsest) */
    int tile, tiles;               /* tile being refined (tiles 0 when not tiling) */
    double loss, content, style, tv;   /* weighted total and the unweighted terms */
    double temporal;                   /* unweighted temporal term (0 when off) */
    double seconds;                /* since the start */
    const struct stylize_state *state;  /* for stylize_snapshot */
} stylize_progress;

/* Return false to stop early (the image so far is the result). */
typedef bool (*stylize_callback)(const stylize_progress *p, void *user);

typedef struct stylize_opts {
    int size;                   /* long side of the output: 512 */
    int style_size;             /* long side of the style images; 0: style_scale * size */
    float style_scale;          /* 1 */
    const float *blend;         /* (nstyles) weights of the style images, or NULL (equal) */
    float content_weight, style_weight, tv_weight;
    const char *content_layers; /* "relu4_2"; entries may carry a weight: "relu4_2:2" */
    const char *style_layers;   /* "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1" */
    int iterations;             /* per level (and per tile) */
    stylize_optimizer optimizer;
    float lr;                   /* L-BFGS step (1) or Adam's learning rate (0.02) */
    stylize_init init;
    const image *init_image;    /* with STYLIZE_INIT_IMAGE (resized to the output) */
    uint64_t seed;              /* the random init's noise */
    stylize_color color;
    bool match_colors;
    int multires;               /* levels: 1 */
    int tile;                   /* 0: off; else the tile side (>= 64) */
    int tile_iterations;        /* per tile: 0 means iterations / 2 */
    stylize_callback callback;  /* may be NULL */
    void *user;
    /* the temporal term (above); off unless temporal_weight > 0 */
    float temporal_weight;      /* 0 */
    const image *prior;         /* the warped previous output (RGB), any size (resized) */
    const float *prior_mask;    /* (prior->h, prior->w) in [0, 1], or NULL: all reliable */
} stylize_opts;

/* Defaults: the built-in network gets the settings that suit it (see stylize.c); real
 * weights get the plain algorithm (RGB, the classic layers). */
stylize_opts stylize_defaults(bool builtin);
/* The defaults that suit this network: the built-in VGG-19's, real VGG-19's, or the recipe
 * screened for a trained network (see stylize.c and the README). */
stylize_opts stylize_net_defaults(const stylize_net *net);
/* The defaults that suit a feature network (featnet.h): its recipe when it has one. */
stylize_opts stylize_featnet_defaults(const struct featnet *fn);
/* The screened trained network's defaults (stylize_default_net's when installed). */
stylize_opts stylize_trained_defaults(void);
/* The network `stylize` uses when none is named: the screened trained network when it is
 * installed (searched from dir, featnet.h), else "vgg19" (the built-in one). */
const char *stylize_default_net(const char *dir);
/* The pooling that suits a network: max for both (average smeared the built-in one's
 * pictures in our trials). */
vgg_pool stylize_default_pool(bool builtin);

typedef struct stylize_result {
    double first_loss, loss;    /* weighted total at the first and last evaluation */
    double content, style, tv;  /* the last evaluation's unweighted terms */
    double temporal;            /* and the temporal term's (0 when off) */
    int iterations;             /* iterations run in all */
    double seconds;
} stylize_result;

/* The stylised image, content->w x content->h scaled to o->size on the long side, with the
 * content's alpha (resized) when it has one. result may be NULL. NULL and error_set on
 * failure (bad options name the option). */
image *stylize_run(stylize_net *net, const image *content, const image *const *styles,
                   int nstyles, const stylize_opts *o, stylize_result *result);

/* Inside a callback: the image as it would be output now (colour handling applied, whole
 * image when tiling, at the current level's size). The caller frees it. */
image *stylize_snapshot(const stylize_progress *p);

/* Parses a layer list "relu1_1,relu2_1:0.5" into names (indices into vgg19) and weights,
 * normalised to sum 1. Returns the count, or -1 with error_set. */
int stylize_parse_layers(const char *list, int *index, float *weight, int max);
/* The same on any feature network ("mixed1:2,activation_3"): names[i] (64 bytes each) and
 * weights (as given, not normalised). Returns the count (<= max), or -1 with error_set. */
int stylize_net_layers(const struct featnet *fn, const char *list, char (*names)[64], float *weight, int max);

#endif
