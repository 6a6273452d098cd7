/* tfjs.h: TensorFlow.js layers models (a Keras functional model converted by tfjs), read and
 * run on Atelier's engine.
 *
 * A TF.js layers model is a folder: model.json (the Keras model config as `modelTopology`
 * and a `weightsManifest`) and binary weight shards (group1-shard1of6.bin, ...), the shards of
 * a group concatenated in order holding that group's weights in manifest order, each either
 * float32 or quantised (uint8 or uint16: value = min + scale * q; float16). tfjs_load builds
 * an Atelier network from the Keras graph through the ordinary ops (ops.h), so every layer is
 * differentiable with respect to its input: a loaded network serves as a perceptual loss.
 *
 * Layers understood (Keras semantics): InputLayer, Conv2D, DepthwiseConv2D,
 * BatchNormalization (inference: moving statistics), Activation (linear, relu, relu6, sigmoid,
 * tanh, softmax), ReLU (max_value, negative_slope), Add, Concatenate, MaxPooling2D,
 * AveragePooling2D ('same' averages over the real pixels only, as TF), ZeroPadding2D,
 * GlobalAveragePooling2D, Dense, Dropout (identity), Flatten (channels-last order, as Keras),
 * Reshape (to or from a flat vector). Anything else is refused at load with one line naming
 * the layer. 'same' padding with stride 2 pads more at the bottom and right, as TF does.
 *
 * Layout: Keras is channels-last; Atelier is NCHW. Inputs and outputs here are NCHW
 * (N, C, H, W), flat layers (N, F); kernels are transposed at load (HWIO -> OIHW).
 * A convolution followed only by a batch norm (and a ReLU) runs as one fused convolution
 * with the norm folded into its weights, unless the convolution's or the norm's own output
 * is asked for.
 *
 * Hardening: model.json is at most TFJS_MAX_JSON bytes, at most TFJS_MAX_LAYERS layers and
 * TFJS_MAX_WEIGHTS weights; shard names are plain file names in the model's folder; the
 * shards' sizes must equal what the manifest describes; every shape and count is checked
 * before anything is allocated. Failure: NULL and one line (error.h) naming the file and
 * the problem, e.g. "model.json: layer 'block_1_pad': unsupported layer class 'Lambda'".
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include "atelier/ops.h"
 * EXAMPLE_BEGIN
 *   // a one-layer model: 3x3 'same' convolution, 3 -> 2 channels, ReLU
 *   FILE *f = fopen("example_tfjs.json", "w");
 *   if (!f) return 1;
 *   fputs("{\"modelTopology\": {\"model_config\": {\"class_name\": \"Model\", \"config\": {"
 *         "\"layers\": [{\"name\": \"in\", \"class_name\": \"InputLayer\", \"config\":"
 *         " {\"batch_input_shape\": [null, 8, 8, 3]}, \"inbound_nodes\": []},"
 *         "{\"name\": \"c\", \"class_name\": \"Conv2D\", \"config\": {\"filters\": 2,"
 *         " \"kernel_size\": [3, 3], \"strides\": [1, 1], \"padding\": \"same\","
 *         " \"activation\": \"relu\", \"use_bias\": false}, \"inbound_nodes\": [[[\"in\", 0, 0, {}]]]}],"
 *         "\"input_layers\": [[\"in\", 0, 0]], \"output_layers\": [[\"c\", 0, 0]]}}},"
 *         "\"weightsManifest\": [{\"paths\": [\"example_tfjs.bin\"], \"weights\": [{\"name\": \"c/kernel\","
 *         " \"shape\": [3, 3, 3, 2], \"dtype\": \"float32\"}]}]}", f);
 *   fclose(f);
 *   float k[54];
 *   for (int i = 0; i < 54; i++) k[i] = (i % 2) ? 0.1f : -0.05f;   // HWIO: odd = channel 1
 *   if (!(f = fopen("example_tfjs.bin", "wb")) || fwrite(k, 4, 54, f) != 54) return 1;
 *   fclose(f);
 *   tfjs_model *m = tfjs_load("example_tfjs.json");
 *   if (!m) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   arena *a = arena_new(1 << 16);
 *   tensor *x = tensor_fill(tensor_new(a, 4, (int[]){1, 3, 8, 8}), 1.0f);   // (N, C, H, W)
 *   tensor *y;
 *   if (tfjs_forward(m, a, x, 1, (const char *[]){"c"}, &y) != STATUS_OK) return 1;
 *   // channel 0: all weights -0.05 -> ReLU gives 0; channel 1 in the middle: 27 * 0.1
 *   if (y->shape[1] != 2 || y->data[0] != 0.0f || fabsf(y->data[64 + 9] - 2.7f) > 1e-5f) return 1;
 *   if (tfjs_forward(m, a, x, 1, (const char *[]){"nope"}, &y) == STATUS_OK) return 1;
 *   error_clear();
 *   tfjs_free(m);
 *   arena_free(a);
 *   remove("example_tfjs.json"); remove("example_tfjs.bin");
 * EXAMPLE_END
 */
#ifndef ATELIER_TFJS_H
#define ATELIER_TFJS_H
#include "atelier/models.h"
#include "atelier/tensor.h"

#define TFJS_MAX_JSON ((size_t)64 << 20)
#define TFJS_MAX_LAYERS 4096
#define TFJS_MAX_WEIGHTS 16384

typedef struct tfjs_model tfjs_model;

/* path: a model.json file, or the folder holding one. NULL and error_set on failure. */
tfjs_model *tfjs_load(const char *path);
void tfjs_free(tfjs_model *m);                          /* NULL is fine */

int tfjs_layer_count(const tfjs_model *m);
const char *tfjs_layer_name(const tfjs_model *m, int i);   /* Keras order */
const char *tfjs_layer_class(const tfjs_model *m, int i);  /* "Conv2D", ... */
int tfjs_layer_find(const tfjs_model *m, const char *name); /* index, or -1 */
/* The model's declared input (from batch_input_shape): height, width, channels; 0 where the
 * model leaves it open. */
void tfjs_input_shape(const tfjs_model *m, int *h, int *w, int *c);
/* The weights as loaded, under the manifest's names, in Atelier's layouts (OIHW kernels). */
const model_params *tfjs_params(const tfjs_model *m);
/* The output of the model's first output layer (its name). */
const char *tfjs_output_name(const tfjs_model *m);

/* x (N, C, H, W): the model's input as Keras would get it, channels first. Runs only the
 * layers that the n named outputs depend on; outs[i] is layer names[i]'s output, (N, C, H, W)
 * for spatial layers, (N, F) for flat ones. Differentiable with respect to x. */
status tfjs_forward(const tfjs_model *m, arena *a, tensor *x, int n, const char *const *names,
                    tensor **outs);

/* The same, but a layer that cannot run at this size (a classifier head sized for another
 * input), and everything after it, gives NULL in outs instead of failing the call. */
status tfjs_forward_partial(const tfjs_model *m, arena *a, tensor *x, int n, const char *const *names,
                            tensor **outs);

#endif
