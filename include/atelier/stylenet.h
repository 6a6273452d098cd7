/* stylenet.h: fast style networks. One forward pass paints a photo in a learned style;
 * one network holds many styles (Johnson et al. 2016, with the conditional instance norm
 * of Dumoulin et al. 2017), trained by Atelier on photos against a feature network.
 *
 * The network (width w; C1, C2, C3 = 32, 64, 128 times w, rounded, at least 4):
 *   conv 9x9        3 -> C1, CIN, ReLU      every conv after reflection padding of K / 2
 *   conv 3x3 /2    C1 -> C2, CIN, ReLU
 *   conv 3x3 /2    C2 -> C3, CIN, ReLU
 *   5 residual blocks  h + CIN(conv(ReLU(CIN(conv(h)))))   3x3, C3 -> C3
 *   nearest x2, conv 3x3  C3 -> C2, CIN, ReLU  (resize-convolution: no checkerboards)
 *   nearest x2, conv 3x3  C2 -> C1, CIN, ReLU
 *   conv 9x9       C1 -> 3, sigmoid         -> (N, 3, H, W) in (0, 1)
 * CIN is instance norm whose affine parameters are one row of a per-style table: a sample
 * painted with style weights m (S) uses gamma = m . gamma_table (S, C) and the same for
 * beta, so a one-hot m is one style and any other m a blend of styles. Width 0.5 costs
 * about a quarter of width 1. Fully convolutional: trained at 256 px, run at any size
 * (H and W multiples of 4; stylenet_paint pads).
 *
 * Parameters, by name (tools/stylenet_torch.py, the PyTorch port, uses the same):
 *   conv1 conv2 conv3 res{1..5}.conv{1,2} up1 up2 out   .weight (OC, C, K, K), .bias (OC)
 *   in1 in2 in3 res{1..5}.in{1,2} in4 in5                .gamma (S, C), .beta (S, C)
 * A model file is safetensors with metadata format "atelier-style-net", version "1",
 * styles (the names, comma-separated), width, and the training settings.
 *
 * Painting (stylenet_paint): the photo resized to the asked size; images up to
 * STYLENET_WHOLE_PIXELS run whole, larger ones in overlapping tiles blended with ramps. So
 * that the tiles agree, every tile is normalised with the same instance statistics: those
 * of the whole picture run once at up to STYLENET_WHOLE_PIXELS. Memory: one tile's
 * activations, whatever the output size. strength s gives s * painted + (1 - s) * photo;
 * preserve_colors keeps the photo's colours (the painting's luminance, the photo's chroma).
 *
 * Failure: functions return NULL or a status with error_message() naming the problem.
 *
 * Legend: N batch, S styles, C channels, H height, W width.
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include "atelier/ops.h"
 * EXAMPLE_BEGIN
 *   arena *params = arena_new(1 << 20), *step = arena_new(1 << 20);
 *   stylenet net;
 *   if (stylenet_init(&net, params, 1, 3, 0.25f) != STATUS_OK) return 1;   // 3 styles, 8/16/32 channels
 *   if (net.c1 != 8 || net.gamma[0]->shape[0] != 3) return 1;             // in1.gamma (3, 8)
 *   tensor *x = tensor_fill(tensor_new(step, 4, (int[]){2, 3, 16, 16}), 0.5f);
 *   float m[6] = {1, 0, 0,  0, 0.5f, 0.5f};                                 // style 0; a blend of 1 and 2
 *   tensor *mix = tensor_from(step, 2, (int[]){2, 3}, m);
 *   tensor *y = stylenet_forward(&net, step, x, mix);                        // (2, 3, 16, 16)
 *   tensor *loss = y ? op_mean(step, y, -1, false) : NULL;
 *   if (!loss || tensor_backward(loss) != STATUS_OK || !net.gamma[0]->grad) return 1;
 *   arena_free(step); arena_free(params);
 * EXAMPLE_END
 */
#ifndef ATELIER_STYLENET_H
#define ATELIER_STYLENET_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "atelier/image.h"
#include "atelier/models.h"

#define STYLENET_CONVS 16
#define STYLENET_NORMS 15
#define STYLENET_MAX_STYLES 64
#define STYLENET_NAME_MAX 48
#define STYLENET_WHOLE_PIXELS (1536 * 1024)  /* larger outputs are painted in tiles */

typedef struct stylenet {
    int nstyles, c1, c2, c3;
    float width;
    /* conv[0..2] the encoder, conv[3..12] the residual blocks' (block k: 3 + 2k, 4 + 2k),
     * conv[13..14] the upsampling layers, conv[15] the output */
    conv_weights conv[STYLENET_CONVS];
    /* norm l follows conv l (l < 15): (S, C_l) each */
    tensor *gamma[STYLENET_NORMS], *beta[STYLENET_NORMS];
    char names[STYLENET_MAX_STYLES][STYLENET_NAME_MAX];   /* the styles' names */
    model_params params;
    /* set by stylenet_load */
    arena *own;             /* the parameters' arena, freed by stylenet_free */
    char source[80];        /* "built-in NAME" or the file's base name */
    char sha256[65];        /* the hex SHA-256 of the file's (or built-in model's) bytes */
} stylenet;

/* Convs as PyTorch's default (uniform within 1 / sqrt(fan_in)); gamma 1, beta 0; styles
 * named "style0".. (set names[] to rename). nstyles 1 .. STYLENET_MAX_STYLES, width
 * 0.125 .. 2. */
status stylenet_init(stylenet *m, arena *params, uint64_t seed, int nstyles, float width);
/* x (N, 3, H, W) in [0, 1], H and W multiples of 4 (at least 8); mix (N, S) style
 * weights -> (N, 3, H, W) in (0, 1). Differentiable in x, mix and the parameters. With
 * autograd off it runs layer by layer in bounded memory (norm + ReLU in place): the same
 * values (test_stylenet_golden checks both paths). */
tensor *stylenet_forward(const stylenet *m, arena *a, tensor *x, tensor *mix);

/* Writes the model (atomically) with its names and `nkv` extra metadata pairs. */
status stylenet_save(const stylenet *m, const char *path, const char *const *kv, int nkv);
/* A model file, or a built-in model by name (stylenet_builtin_name). Refuses other files
 * (a GAN checkpoint, a feature network) with a line naming what they are. */
stylenet *stylenet_load(const char *path_or_name);
void stylenet_free(stylenet *m);   /* a loaded model; NULL is fine */
/* The built-in models: name i (NULL past the last). */
const char *stylenet_builtin_name(int i);
bool stylenet_builtin_available(const char *name);   /* compiled into this program */
/* A built-in model's file bytes (for hashing); NULL when absent. */
const void *stylenet_builtin_bytes(const char *name, size_t *len);

/* A style by name or by index ("2"): its index, or -1 with error_set listing the names. */
int stylenet_style_index(const stylenet *m, const char *name_or_index);
/* "name:w,name:w" (or indices; a bare name weighs 1) -> w (S), normalised to sum 1.
 * STATUS_ARG naming the problem (unknown style, negative or all-zero weights). */
status stylenet_parse_mix(const stylenet *m, const char *spec, float *w);

typedef bool (*stylenet_paint_callback)(int done, int total, void *user);  /* false: stop */

typedef struct stylenet_paint_opts {
    const float *mix;       /* (S) style weights; NULL: style 0 */
    float strength;         /* 0 .. 1: the photo .. the full style [1] */
    bool preserve_colors;   /* keep the photo's colours */
    int size;               /* long side of the output; 0: the photo's */
    int tile;               /* tile side when tiling (>= 128) [512] */
    int overlap;            /* pixels shared by neighbouring tiles (>= 16) [64] */
    int64_t whole_pixels;   /* run whole up to this many pixels [STYLENET_WHOLE_PIXELS] */
    stylenet_paint_callback callback;   /* per tile; may be NULL */
    void *user;
} stylenet_paint_opts;

stylenet_paint_opts stylenet_paint_defaults(void);
/* The photo painted (RGB; an alpha channel is kept as it was). */
image *stylenet_paint(const stylenet *m, const image *photo, const stylenet_paint_opts *o);

/* ---- training (stylenet_train.c) ----
 * Loss per sample, on a feature network (featnet.h), as `stylize` defines it (stylize.h):
 *   a sum_l cw_l |F_l(y) - F_l(x)|^2 / mean F_l(x)^2  +  b sum_l sw_l |G_l(y) - G_l(s)|^2 /
 *   mean G_l(s)^2  +  c TV(y),  y the network's painting of photo x in style s.
 * A batch's samples take the styles in turn (sample i of step t: style (t B + i) mod S),
 * so every style is trained equally. Adam. The style Gram targets are computed once, from
 * each style image resized to style_size, and kept in the checkpoint. */
typedef struct stylenet_train_config {
    int nstyles;
    float width;                     /* [0.5] */
    int image_size;                  /* training crops [256] */
    int style_size;                  /* long side of the style images [512] */
    int batch;                       /* [4] */
    float lr;                        /* Adam [1e-3] */
    float content_weight, style_weight, tv_weight;
    char loss_net[256];              /* featnet spec [the default trained network] */
    /* the photos (kept for an exact resume; the caller draws the batches) */
    int load_size;                   /* short side before cropping [image_size] */
    int val;                         /* held out as the validation set [4] */
    int max_images;                  /* 0: all */
    bool no_flip;
    char content_layers[256], style_layers[256];
    uint64_t seed;
    /* Steadiness for video [0 = off]: each step also paints the photos moved by a few pixels
     * (0-3 down and right, drawn per step) with a little noise (sigma 0.02), and adds
     * temporal_weight * mean |N(moved x) - moved N(x)|^2: a network whose strokes follow
     * the picture when it moves, and that small changes of the input do not repaint
     * (stills with synthetic motion, as ReReVST trains; no video needed). */
    float temporal_weight;
} stylenet_train_config;

typedef struct stylenet_train_stats { double loss, content, style, tv, temporal; } stylenet_train_stats;
typedef struct stylenet_trainer stylenet_trainer;
struct featnet;

/* The defaults for a loss network (its `stylize` layers and weights). */
stylenet_train_config stylenet_train_defaults(const struct featnet *loss_net);
/* A new run: styles[i] (RGB images), names[i] their names. The loss network is borrowed. */
stylenet_trainer *stylenet_trainer_new(const stylenet_train_config *c, struct featnet *loss_net,
                                       const image *const *styles, const char *const *names);
/* A run continued from its checkpoint: the same bytes as if it had never stopped. */
stylenet_trainer *stylenet_trainer_load(const char *checkpoint, struct featnet *loss_net);
/* Changes the temporal weight from the next step on (a fine-tune for video of a trained
 * run); STATUS_ARG when negative or not finite. */
status stylenet_trainer_set_temporal(stylenet_trainer *t, float weight);
void stylenet_trainer_free(stylenet_trainer *t);   /* NULL is fine */
/* One Adam step on photos (B, 3, image_size, image_size) in [0, 1]. */
status stylenet_trainer_step(stylenet_trainer *t, tensor *photos, stylenet_train_stats *out);
/* One data-parallel step (dist.h): photos are this rank's rows first .. first + B' - 1 of a
 * batch of `batch`; the gradients are summed over the ranks in one fused all-reduce, so
 * every rank takes the step one process would take on the whole batch, and the weights are
 * checked to be the same bits on every rank. d NULL or of size 1: stylenet_trainer_step. */
struct dist;
status stylenet_trainer_step_dist(stylenet_trainer *t, tensor *photos, int first, int batch, struct dist *d,
                                  stylenet_train_stats *out);
/* The loss of the current network on photos, each painted in style `style`, no update. */
status stylenet_trainer_eval(stylenet_trainer *t, tensor *photos, int style, stylenet_train_stats *out);
int64_t stylenet_trainer_steps(const stylenet_trainer *t);
const stylenet_train_config *stylenet_trainer_config(const stylenet_trainer *t);
stylenet *stylenet_trainer_model(stylenet_trainer *t);
status stylenet_trainer_save(stylenet_trainer *t, const char *checkpoint);   /* atomic */
status stylenet_trainer_export(stylenet_trainer *t, const char *model_path);  /* the model file */

#endif
