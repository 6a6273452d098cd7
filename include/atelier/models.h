/* models.h: the networks of style transfer and GANs, as plain structs of parameters.
 *
 * Each model is one struct of parameter tensors (shapes in the comments) and a forward
 * function over ops (ops.h), as llm.c writes GPT-2. Parameters live in the arena given to
 * the init function and are drawn from a seed with the initialiser the reference
 * implementation uses; every model lists its parameters in a model_params table under the
 * names of the PyTorch state dict it mirrors, so that real weights can be loaded by name
 * (safetensors.h) and an optimiser given the whole table (optim.h). Init functions mark
 * every parameter as requiring a gradient; model_params_set_trainable(p, false) freezes a
 * network (VGG in style transfer: only the image is optimised).
 *
 *   vgg19         torchvision's vgg19().features: 16 conv3x3 (pad 1) + ReLU, 2x2 pools
 *                 (max, or average as Gatys et al. suggest), outputs named relu1_1..relu5_4.
 *   johnson_net   Johnson et al. 2016, fast style transfer, as pytorch/examples
 *                 fast_neural_style's TransformerNet.
 *   adain_net     Huang & Belongie 2017: VGG-19 encoder to relu4_1, AdaIN, and the mirrored
 *                 decoder of naoto0804/pytorch-AdaIN.
 *   dcgan_g/d     Radford et al. 2016, as pytorch/examples/dcgan (64x64 images); D returns
 *                 logits, for op_bce_with_logits.
 *
 * Failure: init functions return a status (STATUS_NOMEM, STATUS_ARG) with error_message();
 * forward functions return NULL (or a status) with the failing op's message.
 *
 * Legend: N batch, C channels, H height, W width, NZ latent size.
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include "atelier/ops.h"
 * EXAMPLE_BEGIN
 *   arena *params = arena_new(1 << 20), *step = arena_new(1 << 20);
 *   vgg19 vgg;
 *   if (vgg19_init(&vgg, params, 1, VGG_POOL_MAX, "relu2_1") != STATUS_OK) return 1;
 *   if (strcmp(vgg.params.names[0], "features.0.weight") != 0) return 1;
 *   model_params_set_trainable(&vgg.params, false);       // only the image gets a gradient
 *   tensor *img = tensor_fill(tensor_new(step, 4, (int[]){1, 3, 8, 8}), 0.5f);  // (N, C, H, W)
 *   tensor_requires_grad(img);
 *   const char *names[] = {"relu1_1", "relu2_1"};
 *   tensor *f[2];
 *   if (vgg19_forward(&vgg, step, vgg_normalize(step, img), 2, names, f) != STATUS_OK) return 1;
 *   if (f[1]->shape[1] != 128 || f[1]->shape[2] != 4) return 1;   // (1, 128, 4, 4)
 *   tensor *loss = op_add(step, op_mean(step, f[0], -1, false), op_mean(step, f[1], -1, false));
 *   if (!loss || tensor_backward(loss) != STATUS_OK || !img->grad || vgg.w[0]->grad) return 1;
 *   arena_free(step); arena_free(params);
 * EXAMPLE_END
 */
#ifndef ATELIER_MODELS_H
#define ATELIER_MODELS_H
#include <stdbool.h>
#include <stdint.h>
#include "atelier/tensor.h"

/* A model's tensors by state-dict name, in the order PyTorch lists them. */
typedef struct model_params {
    int n;
    const char **names;   /* (n) "features.0.weight", ... (in the params arena) */
    tensor **tensors;     /* (n) */
} model_params;

int64_t model_params_count(const model_params *p);          /* total elements */
void model_params_set_trainable(model_params *p, bool on);  /* requires_grad on or off */
tensor *model_params_find(const model_params *p, const char *name); /* NULL if absent */

/* ---- VGG-19 features (torchvision) ---- */
#define VGG19_CONVS 16
typedef enum vgg_pool { VGG_POOL_MAX, VGG_POOL_AVG } vgg_pool;

typedef struct vgg19 {
    /* conv i (i < nconv): w (OC, C, 3, 3), b (OC); OC = 64 64 | 128 128 | 256 x4 | 512 x4 |
     * 512 x4, each followed by ReLU, a 2x2 pool between the groups */
    tensor *w[VGG19_CONVS];
    tensor *b[VGG19_CONVS];
    int nconv;            /* convs built: those up to the last layer asked for at init */
    vgg_pool pool;
    model_params params;  /* "features.K.weight", "features.K.bias"; K = torchvision's index */
} vgg19;

/* Builds the convs up to layer `last` ("relu4_1"; NULL for all 16), weights kaiming
 * normal (fan_out, ReLU) and zero biases, as torchvision initialises vgg19. */
status vgg19_init(vgg19 *m, arena *params, uint64_t seed, vgg_pool pool, const char *last);
int vgg19_layer_index(const char *name);  /* "relu1_1" -> 0 .. "relu5_4" -> 15; -1 unknown */
const char *vgg19_layer_name(int i);      /* the inverse; NULL out of range */
/* x (N, 3, H, W), normalised (vgg_normalize). Runs the features up to the deepest of the
 * n requested layers; outs[i] (N, OC, H / 2^g, W / 2^g) is the output of layer names[i]. */
status vgg19_forward(const vgg19 *m, arena *a, tensor *x, int n, const char *const *names,
                     tensor **outs);
/* (x - mean) / std per channel with ImageNet's mean (0.485, 0.456, 0.406) and std
 * (0.229, 0.224, 0.225); x (N, 3, H, W) in [0, 1]. Differentiable. */
tensor *vgg_normalize(arena *a, tensor *x);

/* ---- Johnson et al.'s transformer net (pytorch/examples fast_neural_style) ---- */
typedef struct conv_weights { tensor *w, *b; } conv_weights;   /* (OC, C, K, K), (OC) */
typedef struct norm_weights { tensor *gamma, *beta; } norm_weights; /* (C), (C) */

typedef struct johnson_net {
    conv_weights conv1;            /* 9x9, 3 -> 32, reflection pad 4 */
    norm_weights in1;              /* 32 */
    conv_weights conv2;            /* 3x3 stride 2, 32 -> 64 */
    norm_weights in2;              /* 64 */
    conv_weights conv3;            /* 3x3 stride 2, 64 -> 128 */
    norm_weights in3;              /* 128 */
    struct {
        conv_weights conv1, conv2; /* 3x3, 128 -> 128 */
        norm_weights in1, in2;     /* 128 */
    } res[5];                      /* x + in2(conv2(relu(in1(conv1(x))))) */
    conv_weights deconv1;          /* nearest x2, then 3x3, 128 -> 64 */
    norm_weights in4;              /* 64 */
    conv_weights deconv2;          /* nearest x2, then 3x3, 64 -> 32 */
    norm_weights in5;              /* 32 */
    conv_weights deconv3;          /* 9x9, 32 -> 3, no norm, no relu */
    model_params params;           /* "conv1.conv2d.weight", "in1.weight", "res1.conv1.conv2d.weight", ... */
} johnson_net;

/* Weights as PyTorch's default (uniform within 1/sqrt(fan_in)), norms gamma 1, beta 0. */
status johnson_init(johnson_net *m, arena *params, uint64_t seed);
/* x (N, 3, H, W), H and W multiples of 4 -> (N, 3, H, W) */
tensor *johnson_forward(const johnson_net *m, arena *a, tensor *x);

/* ---- AdaIN style transfer (naoto0804/pytorch-AdaIN) ---- */
#define ADAIN_DECODER_CONVS 9
typedef struct adain_net {
    vgg19 enc;             /* to relu4_1 */
    /* decoder conv i: 3x3 after reflection pad 1; 512->256, (up x2) 256->256 x3, 256->128,
     * (up x2) 128->128, 128->64, (up x2) 64->64, 64->3; ReLU after all but the last */
    tensor *w[ADAIN_DECODER_CONVS], *b[ADAIN_DECODER_CONVS];
    model_params decoder;  /* "1.weight", "1.bias", "5.weight", ... as the authors' decoder.pth */
} adain_net;

status adain_init(adain_net *m, arena *params, uint64_t seed);
/* content (N, 3, H, W), style (N, 3, HS, WS) in [0, 1], H, W, HS, WS multiples of 8;
 * alpha in [0, 1] blends the AdaIN features with the content's. -> (N, 3, H, W) */
tensor *adain_forward(const adain_net *m, arena *a, tensor *content, tensor *style, float alpha);

/* ---- DCGAN (pytorch/examples/dcgan) ---- */
typedef struct dcgan_g {
    /* conv_transpose 4x4: w[0] (NZ, 8F, 4, 4) stride 1 pad 0, then w[1..4]
     * (8F, 4F), (4F, 2F), (2F, F), (F, NC) stride 2 pad 1; no biases */
    tensor *w[5];
    norm_weights bn[4];        /* batch norms after w[0..3]: 8F, 4F, 2F, F */
    tensor *running_mean[4], *running_var[4];  /* (C) buffers */
    int nz;
    model_params params;       /* "main.0.weight", "main.1.weight", "main.1.bias", ... */
    model_params buffers;      /* "main.1.running_mean", "main.1.running_var", ... */
} dcgan_g;

typedef struct dcgan_d {
    /* conv 4x4 stride 2 pad 1: w[0..3] (F, NC), (2F, F), (4F, 2F), (8F, 4F); then
     * w[4] (1, 8F, 4, 4) stride 1 pad 0; no biases */
    tensor *w[5];
    norm_weights bn[3];        /* after w[1..3]: 2F, 4F, 8F */
    tensor *running_mean[3], *running_var[3];
    model_params params;
    model_params buffers;
} dcgan_d;

/* F = ngf (ndf): pytorch/examples uses nz 100, ngf = ndf = 64, nc 3. Conv weights
 * normal(0, 0.02), batch-norm gamma normal(1, 0.02), beta 0, as its weights_init. */
status dcgan_g_init(dcgan_g *g, arena *params, uint64_t seed, int nz, int ngf, int nc);
status dcgan_d_init(dcgan_d *d, arena *params, uint64_t seed, int ndf, int nc);
/* z (N, NZ, 1, 1) -> images (N, NC, 64, 64) in (-1, 1). training: batch statistics
 * (updating the running ones), else the running statistics. */
tensor *dcgan_g_forward(const dcgan_g *g, arena *a, tensor *z, bool training);
/* x (N, NC, 64, 64) -> logits (N) */
tensor *dcgan_d_forward(const dcgan_d *d, arena *a, tensor *x, bool training);

#endif
