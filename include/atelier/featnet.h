/* featnet.h: a feature network, whatever sits behind it: images in, named layers' activations
 * out. Style transfer's losses and the GAN metrics ask one of these for features.
 *
 *   vgg19          the built-in VGG-19 (random weights from a fixed seed: a texture model),
 *                  or real VGG-19 weights from a .pth / .safetensors file; layers relu1_1 ..
 *                  relu5_4; input normalised with ImageNet's mean and std.
 *   inception_v3   a TF.js layers model (tfjs.h), found by name in the models search path
 *   mobilenet_v2   (installed by scripts/install-models.sh from the npm package nsfwjs:
 *                  ImageNet-pretrained backbones fine-tuned to a 5-class classifier); layers
 *                  by their Keras names (activation_3, mixed0, block_3_expand_relu, ...).
 *   PATH           any TF.js layers model: a model.json or its folder.
 *
 * The models search path, first hit wins: the folder given (an option), each folder of the
 * environment variable ATELIER_MODELS (colon-separated), then $XDG_DATA_HOME/atelier/models
 * (default ~/.local/share/atelier/models). A name NAME is found as NAME/model.json there.
 *
 * Input: images (N, 3, H, W) with values in [0, 1]. Each network maps them to what it was
 * trained on: VGG subtracts ImageNet's mean and divides by its std; a TF.js network scales
 * to its input range (featnet_set_input: [0, 1] as nsfwjs feeds them, or [-1, 1] as Keras'
 * ImageNet InceptionV3 does) and may reflect-pad the image by `pad` pixels first, so that
 * unpadded ('valid') stem convolutions do not leave bands at the borders. Everything is
 * differentiable with respect to the image.
 *
 * Example:
 * EXAMPLE_BEGIN
 *   featnet *f = featnet_open("vgg19", NULL, NULL);    // the built-in VGG-19
 *   if (!f) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   arena *a = arena_new(1 << 20);
 *   tensor *img = tensor_fill(tensor_new(a, 4, (int[]){1, 3, 16, 16}), 0.5f);   // (N, 3, H, W)
 *   tensor *out[2];
 *   if (featnet_forward(f, a, img, 2, (const char *[]){"relu1_1", "relu2_1"}, out) != STATUS_OK) return 1;
 *   if (out[1]->shape[1] != 128 || out[1]->shape[2] != 8) return 1;   // (1, 128, 8, 8)
 *   if (!featnet_has_layer(f, "relu5_1") || featnet_has_layer(f, "mixed0")) return 1;
 *   if (featnet_open("no_such_network", "/nonexistent", NULL)) return 1;    // not installed
 *   error_clear();
 *   featnet_free(f);
 *   arena_free(a);
 * EXAMPLE_END
 */
#ifndef ATELIER_FEATNET_H
#define ATELIER_FEATNET_H
#include <stdbool.h>
#include <stddef.h>
#include "atelier/models.h"
#include "atelier/tfjs.h"

typedef struct featnet featnet;

typedef enum featnet_kind { FEATNET_VGG19, FEATNET_TFJS } featnet_kind;
typedef enum featnet_range { FEATNET_RANGE_01, FEATNET_RANGE_PM1 } featnet_range;

/* spec: "vgg19" (weights: a VGG-19 file, or NULL for the built-in one), a name in the
 * models search path, or a TF.js model path. dir: the first folder to search (may be NULL).
 * NULL and error_set on failure; a name not found says how to install the networks. */
featnet *featnet_open(const char *spec, const char *dir, const char *weights);
/* VGG-19 with the pooling and the last layer to build (NULL: relu5_4). */
featnet *featnet_vgg19(const char *weights, vgg_pool pool, const char *last);
void featnet_free(featnet *f);   /* NULL is fine */

/* Finds NAME/model.json on the search path: writes the folder to out and returns true. */
bool featnet_find(const char *name, const char *dir, char *out, size_t n);
/* The folder scripts/install-models.sh installs to by default ($ATELIER_MODELS' first
 * folder, else the per-user data folder). */
const char *featnet_default_dir(char *out, size_t n);

featnet_kind featnet_get_kind(const featnet *f);
const char *featnet_name(const featnet *f);   /* "vgg19", "inception_v3", a path's folder name */
bool featnet_builtin(const featnet *f);       /* the seeded VGG-19 */
bool featnet_has_layer(const featnet *f, const char *layer);
const vgg19 *featnet_vgg(const featnet *f);   /* NULL unless FEATNET_VGG19 */
const tfjs_model *featnet_tfjs(const featnet *f); /* NULL unless FEATNET_TFJS */
/* Three layers, fine to coarse, whose Gram matrices describe texture (the GAN's style loss):
 * VGG's relu1_1..relu3_1, the trained networks' stem; 0 for an unknown network. */
int featnet_texture_layers(const featnet *f, const char **names);
/* TF.js networks: the input range and the reflect padding (pixels on every side); the known
 * networks open with theirs ([0, 1]; InceptionV3 16 px, MobileNetV2 8 px), others [0, 1], 0. */
void featnet_set_input(featnet *f, featnet_range range, int pad);
featnet_range featnet_get_range(const featnet *f);
/* A [1 2 1] x [1 2 1] / 16 blur before the network (after the range, before the padding):
 * keeps stride-2 stems from printing a 2-pixel checkerboard into optimised images. */
status featnet_set_blur(featnet *f, bool on);
bool featnet_get_blur(const featnet *f);
int featnet_get_pad(const featnet *f);

/* img (N, 3, H, W) in [0, 1] -> outs[i] the activations of layer names[i] (N, C, h, w). */
status featnet_forward(const featnet *f, arena *a, tensor *img, int n, const char *const *names, tensor **outs);

#endif
