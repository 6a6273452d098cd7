/* weights.h: load a model's parameters from a weights file, whatever wrote it.
 *
 * weights_load fills every tensor of a model_params table (models.h) from a file by name:
 * a PyTorch checkpoint (pth.h; sniffed by its first bytes: a zip archive or a pickle) or a
 * safetensors file (safetensors.h; anything else). Each name is looked up as it is, then
 * under the prefixes checkpoints wrap state dicts in: "state_dict.", "model.", "module."
 * (nn.DataParallel). Tensors in the file that the model does not ask for are ignored
 * (torchvision's vgg19 checkpoint also holds classifier.*, and Atelier may build VGG only
 * up to relu4_1).
 *
 * All or nothing: every name is found and every shape and dtype checked before any tensor
 * is written, so a failed load leaves the model as it was. Failures say which tensor:
 *   "vgg19.pth: no tensor \"features.0.weight\" (tried the prefixes \"\", \"state_dict.\", ...)"
 *   "vgg19.pth: features.0.weight: file has (64, 3, 3, 3), model expects (64, 1, 3, 3)"
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include "atelier/models.h"
 *   #include "atelier/safetensors.h"
 * EXAMPLE_BEGIN
 *   arena *a = arena_new(1 << 12);
 *   tensor *w = tensor_fill(tensor_new(a, 2, (int[]){2, 3}), 0.25f), *b = tensor_new(a, 1, (int[]){2});
 *   const char *names[] = {"conv.weight", "conv.bias"};
 *   model_params p = {.n = 2, .names = names, .tensors = (tensor *[]){w, b}};
 *   const char *saved[] = {"state_dict.conv.weight", "state_dict.conv.bias", "state_dict.extra"};
 *   tensor *t[] = {tensor_fill(tensor_new(a, 2, (int[]){2, 3}), 1.0f),
 *                  tensor_fill(tensor_new(a, 1, (int[]){2}), 2.0f), tensor_scalar(a, 3.0f)};
 *   if (safetensors_save("example_weights.safetensors", saved, t, 3, NULL, 0) != STATUS_OK) return 1;
 *   weights_load_opts o = {0};
 *   if (weights_load(&p, "example_weights.safetensors", &o) != STATUS_OK) {
 *       fprintf(stderr, "%s\n", error_message());
 *       return 1;
 *   }
 *   if (w->data[5] != 1.0f || b->data[1] != 2.0f || o.loaded != 2 || o.unused != 1) return 1;
 *   tensor *wrong = tensor_new(a, 1, (int[]){3});             // the file's conv.bias has 2
 *   model_params q = {.n = 2, .names = names, .tensors = (tensor *[]){w, wrong}};
 *   w->data[0] = 9.0f;
 *   if (weights_load(&q, "example_weights.safetensors", NULL) != STATUS_SHAPE) return 1;
 *   if (w->data[0] != 9.0f) return 1;                         // nothing was written
 *   error_clear();
 *   remove("example_weights.safetensors");
 *   arena_free(a);
 * EXAMPLE_END
 */
#ifndef ATELIER_WEIGHTS_H
#define ATELIER_WEIGHTS_H
#include "atelier/models.h"

typedef struct weights_load_opts {
    int loaded;   /* out: tensors loaded (p->n on success, 0 on failure) */
    int unused;   /* out: tensors in the file that no name matched */
} weights_load_opts;

/* Loads every tensor of p from path (.pth or .safetensors) as above; o may be NULL.
 * STATUS_IO if the file cannot be read, STATUS_FORMAT for a malformed file or a missing
 * tensor, STATUS_SHAPE for a shape that differs. */
status weights_load(const model_params *p, const char *path, weights_load_opts *o);

#endif
