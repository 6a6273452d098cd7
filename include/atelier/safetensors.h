/* safetensors.h: read and write weights and checkpoints in the safetensors format.
 *
 * The format (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of
 * JSON mapping each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
 * into the byte buffer that follows the header) and an optional "__metadata__" object of
 * string values, then the data. Atelier reads F32, F16 and BF16 (converted to float32) and
 * writes F32. Everything in a file is checked before use: header length, JSON syntax,
 * dtypes, shapes, offsets in range, matching the shape, and not overlapping. A malformed
 * file is refused with one line naming the problem (error.h); it never crashes.
 *
 * Hostile input: the header is at most 100 MB (the reference implementation's limit), and
 * every count and length in it (tensors, names, metadata entries and values) is bounded by
 * it and by the JSON parser's limits (src/json.h: 4M values, 64 levels, ~25 bytes of memory
 * per header byte, ~400 MB at most). Opening takes O(h log h) time for a header of h bytes
 * and reads the whole file into memory (it is the weights). Lookups by name, of tensors and
 * of metadata, bisect sorted indexes: O(log n) each, so reading every tensor or every
 * metadata entry is O(n log n); by index (safetensors_name, safetensors_metadata_key and
 * safetensors_metadata_value) is O(1).
 *
 * Writing is atomic: a temporary file beside the target, fsync, rename.
 *
 * Checkpoints (checkpoint_save/load) are safetensors files holding a model's named tensors,
 * an optimiser's state tensors (prefixed "optim.") and metadata: "format": "atelier-checkpoint",
 * "version": "1", "step" (the caller's), "optim" (the optimiser's name, or "none") and
 * "optim_steps" (the optimiser's own update count, which Adam's bias correction needs).
 * Loading with opt == NULL loads the model tensors only (weights for inference).
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include "atelier/optim.h"
 * EXAMPLE_BEGIN
 *   arena *a = arena_new(1 << 16);
 *   tensor *w = tensor_fill(tensor_new(a, 2, (int[]){2, 3}), 0.5f);
 *   const char *names[] = {"layer.weight"};
 *   const char *meta[] = {"author", "example"};           // key, value pairs
 *   if (safetensors_save("example.safetensors", names, &w, 1, meta, 1) != STATUS_OK) return 1;
 *   safetensors *f = safetensors_open("example.safetensors");
 *   if (!f) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   tensor *back = safetensors_get(f, a, "layer.weight");
 *   if (!back || back->ndim != 2 || back->shape[1] != 3 || back->data[5] != 0.5f) return 1;
 *   if (strcmp(safetensors_metadata(f, "author"), "example") != 0) return 1;
 *   if (safetensors_metadata_count(f) != 1 || strcmp(safetensors_metadata_key(f, 0), "author")) return 1;
 *   if (strcmp(safetensors_metadata_value(f, 0), "example") != 0) return 1;
 *   tensor *wrong = tensor_new(a, 2, (int[]){3, 2});
 *   if (safetensors_load_into(f, "layer.weight", wrong) == STATUS_OK) return 1;  // shape mismatch
 *   error_clear();
 *   safetensors_close(f);
 *   remove("example.safetensors");
 *   arena_free(a);
 * EXAMPLE_END
 */
#ifndef ATELIER_SAFETENSORS_H
#define ATELIER_SAFETENSORS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "atelier/tensor.h"

typedef struct safetensors safetensors;
struct optim;

/* Reads and validates the whole file. NULL and error_set on any problem. */
safetensors *safetensors_open(const char *path);
/* The same, from bytes in memory (copied); `what` names them in messages. */
safetensors *safetensors_open_memory(const void *bytes, size_t len, const char *what);
void safetensors_close(safetensors *f);

int safetensors_count(const safetensors *f);
const char *safetensors_name(const safetensors *f, int i);     /* in file order */
/* shape of a tensor by name: returns ndim (0..8) or -1 if absent; dims into shape[8] */
int safetensors_shape(const safetensors *f, const char *name, int64_t shape[8]);
const char *safetensors_dtype(const safetensors *f, const char *name);  /* "F32"... or NULL */
const char *safetensors_metadata(const safetensors *f, const char *key); /* NULL if absent */
int safetensors_metadata_count(const safetensors *f);
const char *safetensors_metadata_key(const safetensors *f, int i);      /* in file order */
const char *safetensors_metadata_value(const safetensors *f, int i);    /* of key i; NULL out of range */
/* A metadata value read as a number or copied out: false (and *out untouched) when the key
 * is absent, is not a whole number within [lo, hi] / a finite float, or (str) does not fit
 * in n bytes with its NUL. For the settings that model files and checkpoints record. */
bool safetensors_metadata_int(const safetensors *f, const char *key, long lo, long hi, int *out);
bool safetensors_metadata_float(const safetensors *f, const char *key, float *out);
bool safetensors_metadata_str(const safetensors *f, const char *key, char *out, size_t n);

/* A new float32 tensor (up to 4 dims) in a; NULL and error_set if absent or unsupported. */
tensor *safetensors_get(const safetensors *f, arena *a, const char *name);
/* Copy into an existing tensor; STATUS_SHAPE naming both shapes if they differ,
 * STATUS_FORMAT if absent. */
status safetensors_load_into(const safetensors *f, const char *name, tensor *dst);

/* Write n F32 tensors with names, and nmeta (key, value) string pairs in meta[2*nmeta]. */
status safetensors_save(const char *path, const char *const *names, tensor *const *ts, int n,
                        const char *const *meta, int nmeta);

/* Checkpoints: model tensors by name, the optimiser's state (may be NULL) and the step. */
status checkpoint_save(const char *path, const char *const *names, tensor *const *ts, int n,
                       struct optim *opt, int64_t step);
/* The same with nkv (<= 64) extra (key, value) metadata pairs in kv[2*nkv] (a run's
 * settings), read back with safetensors_open and safetensors_metadata. */
status checkpoint_save_meta(const char *path, const char *const *names, tensor *const *ts, int n,
                            struct optim *opt, int64_t step, const char *const *kv, int nkv);
/* Loads every named model tensor (all must be present with their shapes) and the optimiser
 * state (its kind must match); *step receives the step. */
status checkpoint_load(const char *path, const char *const *names, tensor *const *ts, int n,
                       struct optim *opt, int64_t *step);

#endif
