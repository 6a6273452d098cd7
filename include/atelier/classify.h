/* classify.h: image classifiers: images in, K class logits out, trained by Atelier, and
 * differentiable with respect to the input pixels (attack.h attacks them through
 * classify_attack_model).
 *
 * Two kinds:
 *   CLASSIFY_HEAD  a small head on a trained feature network (featnet.h: mobilenet_v2 by
 *                  default, inception_v3, or vgg19 for tests): the network's `layer`
 *                  (out_relu, mixed10, ...) is averaged over space and fed to a linear layer
 *                  (K, F), or to linear (hidden, F) + ReLU + linear (K, hidden). The network
 *                  is frozen unless fine_tune; it sees the image as classifiers do (no blur, no
 *                  reflect padding) in its own range.
 *   CLASSIFY_CNN   a small CNN from scratch (fast; for tests and small tasks):
 *                  x - 0.5 -> conv 3x3 3->w, ReLU, max-pool 2 -> conv 3x3 w->2w, ReLU,
 *                  max-pool 2 -> conv 3x3 2w->4w, ReLU -> global mean -> linear (K, 4w).
 * Images of another size than the model's input (size x size) are resized to it
 * (bilinear, differentiable) inside classify_forward.
 *
 * A model file is safetensors: the head's (or the CNN's) parameters ("fc1.weight", ...;
 * with fine_tune also the feature network's under "net." + its names) and metadata
 * format "atelier-classifier", version "1", kind ("head" or "cnn"), classes (the names,
 * comma-separated), size, detail, hidden, width, net, layer, net_sha256 (given by the
 * caller: the installed network's hash, so that a model is not run on another network
 * unknowingly), fine_tune.
 *
 * Training (classify_trainer): per class a dataset (dataset.h, images S x S); a held-out
 * part of each class (a `val` fraction, chosen by a permutation from the seed) is never
 * trained on. Epochs visit the training images in a permutation of (seed, epoch); step s
 * is batch s mod steps_per_epoch of epoch s / steps_per_epoch, so a run resumed from its
 * checkpoint sees the same batches and gives the same bytes. Adam on the cross-entropy.
 * A frozen head without adversarial training computes the network's pooled features of
 * each image once (the cache) and trains the head alone on them: the same numbers, many
 * times faster. Adversarial training (Madry et al. 2018): a fraction of each batch is
 * replaced by PGD examples (attack.h) against the current model (no cache then).
 *
 * Failure: NULL or a status, with error_message() naming the problem.
 *
 * Legend: N images, K classes, F features, H height, W width, S image side.
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include "atelier/ops.h"
 * EXAMPLE_BEGIN
 *   classify_config c = classify_defaults(CLASSIFY_CNN);
 *   c.nclasses = 2; c.size = 16; c.width = 4;
 *   strcpy(c.classes[0], "dark"); strcpy(c.classes[1], "light");
 *   classifier *m = classify_new(&c, NULL);
 *   if (!m) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   arena *a = arena_new(1 << 20);
 *   tensor *x = tensor_fill(tensor_new(a, 4, (int[]){2, 3, 24, 24}), 0.5f);   // resized to 16
 *   tensor_requires_grad(x);
 *   tensor *z = classify_forward(m, a, x);                                    // (2, 2) logits
 *   if (!z || z->shape[0] != 2 || z->shape[1] != 2) return 1;
 *   tensor *loss = op_sum(a, z, -1, false);
 *   if (tensor_backward(loss) != STATUS_OK || !x->grad) return 1;            // d loss / d pixels
 *   float p[2];
 *   if (classify_probs(m, x->data, 1, 24, 24, p) != STATUS_OK || fabsf(p[0] + p[1] - 1) > 1e-5f) return 1;
 *   if (classify_save(m, "example_classifier.safetensors") != STATUS_OK) return 1;
 *   classifier *back = classify_load("example_classifier.safetensors", NULL);
 *   if (!back || strcmp(classify_get_config(back)->classes[1], "light") != 0) return 1;
 *   classify_free(back);
 *   classify_free(m);
 *   arena_free(a);
 * EXAMPLE_END
 */
#ifndef ATELIER_CLASSIFY_H
#define ATELIER_CLASSIFY_H
#include <stdbool.h>
#include <stdint.h>
#include "atelier/attack.h"
#include "atelier/dataset.h"
#include "atelier/models.h"
#include "atelier/tensor.h"

#define CLASSIFY_MAX_CLASSES 64
#define CLASSIFY_NAME_MAX 48
#define CLASSIFY_FORMAT "atelier-classifier"
#define CLASSIFY_VERSION "1"

typedef enum classify_kind { CLASSIFY_HEAD, CLASSIFY_CNN } classify_kind;

typedef struct classify_config {
    classify_kind kind;
    int nclasses;                                      /* 2 .. CLASSIFY_MAX_CLASSES */
    char classes[CLASSIFY_MAX_CLASSES][CLASSIFY_NAME_MAX];  /* letters, digits, - _ . */
    int size;           /* input side [head: the network's (224, 299); cnn: 32] */
    int hidden;         /* head: hidden units, 0 for a linear head [0] */
    int width;          /* cnn: channels of the first conv [16] */
    char net[256];      /* head: a featnet spec [mobilenet_v2] */
    char layer[64];     /* head: the network's layer [out_relu; inception_v3: mixed10] */
    char net_sha256[65];/* head: the caller's hash of the network ("" unknown) */
    int detail;         /* 0, or images are shrunk to detail px and enlarged back to size
                           before the model sees them (classify_load_image) [0] */
    bool fine_tune;     /* head: train the network too [false] */
    uint64_t seed;      /* initial weights [1] */
} classify_config;

typedef struct classifier classifier;
struct featnet;

classify_config classify_defaults(classify_kind kind);
/* A new model with initial weights (PyTorch's default uniform). models_dir: where to look
 * for the feature network first (NULL: the search path of featnet.h). */
classifier *classify_new(const classify_config *c, const char *models_dir);
/* A model file; the head's feature network is opened by name from models_dir and the
 * search path. Refuses other files (a style network, a checkpoint) naming what they are. */
classifier *classify_load(const char *path, const char *models_dir);
/* Writes the model atomically. */
status classify_save(const classifier *m, const char *path);
void classify_free(classifier *m);   /* NULL is fine */

/* Copies src's trained tensors into dst (a warm start: --init): the same kind, classes,
 * network, layer, input size, detail and shapes, else STATUS_ARG naming the difference. */
status classify_copy_weights(classifier *dst, const classifier *src);
const classify_config *classify_get_config(const classifier *m);
struct featnet *classify_featnet(classifier *m);   /* NULL for a cnn */
/* Every trainable tensor: the head's or the CNN's, and the network's with fine_tune. */
model_params *classify_params(classifier *m);

/* x (N, 3, H, W) in [0, 1] -> logits (N, K). Differentiable in x and the parameters. */
tensor *classify_forward(classifier *m, arena *a, tensor *x);
/* The head's features: x (N, 3, H, W) -> the network's layer averaged over space (N, F). */
tensor *classify_features(classifier *m, arena *a, tensor *x);
/* Features (N, F) -> logits (N, K) (the head alone). */
tensor *classify_head_forward(classifier *m, arena *a, tensor *feat);
/* n images (n, 3, h, w) in [0, 1] -> class probabilities (n, K), inference only. */
status classify_probs(classifier *m, const float *x, int n, int h, int w, float *probs);

/* The adapter attacks use (attack.h) for images (3, height, width); an holds its scratch
 * arena: release it with attack_net_free. The model's parameters are frozen while attacked
 * only if they were: their gradients may change, zero them before training on. */
status classify_attack_model(classifier *m, attack_model *am, attack_net *an, int height, int width);

/* One image file as the model sees it: x (3, size, size) in [0, 1]: the short side resized
 * to size and centre-cropped, rounded to 8 bits (as dataset_load_dir loads training images),
 * then the detail step if the model has one. */
status classify_load_image(const classifier *m, const char *path, float *x);
/* The detail step on n images (n, 3, size, size), in place: each shrunk to detail px (area
 * averaging) and enlarged back (Lanczos-3), rounded to 8 bits. detail 0: nothing. */
status classify_apply_detail(int detail, uint8_t *pixels, int n, int size);

/* ---- training (classify_train.c) ---- */
typedef struct classify_train_config {
    int batch;          /* [32] */
    float lr;           /* Adam [1e-3] */
    float val;          /* held-out fraction of each class, 0 .. 0.9 [0.2] */
    uint64_t seed;      /* split and batch order [1] */
    bool no_flip;       /* no random horizontal flips (no flips with the cache) */
    bool no_cache;      /* never cache features */
    /* adversarial training: PGD linf of `adv_eps` (> 0 switches it on), adv_steps steps of
     * adv_step_size (0: 2.5 eps / steps), on the first adv_fraction of each batch [0.5] */
    float adv_eps;
    int adv_steps;      /* [7] */
    float adv_step_size;
    float adv_fraction;
} classify_train_config;

typedef struct classify_train_stats { double loss, accuracy; } classify_train_stats;
typedef struct classify_trainer classify_trainer;

classify_train_config classify_train_defaults(void);
/* A new run on data[k], the images of class k (S x S each, S the model's size or any:
 * batches are resized by the model); the datasets are borrowed and must outlive it. The
 * model is owned by the trainer: freed with it, or at once if this fails (m NULL: NULL). */
classify_trainer *classify_trainer_new(classifier *m, const classify_train_config *tc,
                                       const dataset *const *data);
/* A run continued from its checkpoint with the same data: the same bytes as if it had
 * never stopped. The model's settings come from the checkpoint. */
classify_trainer *classify_trainer_load(const char *checkpoint, const char *models_dir,
                                        const dataset *const *data, int ndata);
void classify_trainer_free(classify_trainer *t);   /* frees the model; NULL is fine */
/* Fills the feature cache, if the run uses one; callback(done, total, user) per chunk. */
status classify_trainer_prepare(classify_trainer *t, void (*callback)(int done, int total, void *user), void *user);
/* One Adam step on the next batch. */
status classify_trainer_step(classify_trainer *t, classify_train_stats *out);
/* The held-out images: confusion[true * K + predicted] counts (K x K); accuracy returned
 * in *acc (NaN with no held-out images). */
status classify_trainer_eval(classify_trainer *t, int64_t *confusion, double *acc);
int64_t classify_trainer_steps(const classify_trainer *t);
int classify_trainer_steps_per_epoch(const classify_trainer *t);
int classify_trainer_count(const classify_trainer *t, bool held_out);   /* images */
/* Held-out image i (0 .. count - 1): its class and its index in that class's dataset. */
void classify_trainer_heldout(const classify_trainer *t, int i, int *cls, int *img);
bool classify_trainer_cached(const classify_trainer *t);
const classify_train_config *classify_trainer_config(const classify_trainer *t);
classifier *classify_trainer_model(classify_trainer *t);
status classify_trainer_save(classify_trainer *t, const char *checkpoint);   /* atomic */

#endif
