/* dataset.h: a folder of images as GAN training data, drawn in batches.
 *
 * dataset_load_dir reads every image file of one folder (not its subfolders) into memory,
 * each made square: resized so that its SHORT side is `size` (image_resize: area averaging
 * when shrinking, Lanczos-3 when enlarging), then centre-cropped to size x size. Alpha is
 * dropped (the colour planes are kept as they are), grey becomes RGB, and pixels are kept
 * as uint8 (3 bytes a pixel, rounded), as a training set of 10 000 64x64 images is 123 MB.
 * Files are taken in sorted name order (strcmp), so the same folder gives the same
 * dataset on every machine.
 *
 * dataset_draw says which images make up the batch of a training step. It is a pure
 * function of (seed, step): the images are visited in epochs, each epoch a new random
 * permutation, and a step's batch is the next `batch` positions of that sequence (it may
 * run over into the next epoch). So a run that resumes at step s from a checkpoint sees
 * exactly the batches it would have seen had it never stopped; no sampler state is saved.
 * dataset_batch turns the drawn indices into a float tensor in [-1, 1], as the generator's
 * tanh produces, and dataset_write_grid writes a tensor of such images as one picture
 * (sample grids during training).
 *
 * Legend: N images, S size, B batch.
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include <sys/stat.h>
 *   #include <unistd.h>
 * EXAMPLE_BEGIN
 *   mkdir("example_images", 0755);
 *   image *im = image_new(48, 32, 3);                   // 48x32, one colour
 *   for (int i = 0; i < 3 * 48 * 32; i++) im->data[i] = i < 48 * 32 ? 1.0f : 0.0f;  // red
 *   if (image_write("example_images/a.png", im, NULL) != STATUS_OK) return 1;
 *   if (image_write("example_images/b.jpg", im, NULL) != STATUS_OK) return 1;
 *   image_free(im);
 *   dataset *ds = dataset_load_dir("example_images", 16, 0);   // 2 images, 16x16
 *   if (!ds) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   if (ds->n != 2 || strcmp(ds->names[1], "b.jpg") != 0 || ds->pixels[0] != 255) return 1;
 *   int idx[4]; bool flip[4];
 *   dataset_draw(7, 0, ds->n, 4, true, idx, flip);      // step 0: two epochs of 2 images
 *   if (idx[0] == idx[1] || idx[2] == idx[3]) return 1;  // each epoch a permutation
 *   arena *a = arena_new(1 << 16);
 *   tensor *x = dataset_batch(ds, a, idx, flip, 4);      // (4, 3, 16, 16) in [-1, 1]
 *   if (!x || x->shape[0] != 4 || x->data[0] < 0.9f) return 1;
 *   if (dataset_write_grid("example_images/grid.png", x, 2) != STATUS_OK) return 1;
 *   dataset_free(ds); arena_free(a);
 *   remove("example_images/a.png"); remove("example_images/b.jpg");
 *   remove("example_images/grid.png"); rmdir("example_images");
 * EXAMPLE_END
 */
#ifndef ATELIER_DATASET_H
#define ATELIER_DATASET_H
#include <stdbool.h>
#include <stdint.h>
#include "atelier/arena.h"
#include "atelier/error.h"
#include "atelier/image.h"
#include "atelier/tensor.h"

#define DATASET_MIN_SIZE 8
#define DATASET_MAX_SIZE 1024

typedef struct dataset {
    int n, size;       /* N images of S x S */
    uint8_t *pixels;   /* (N, 3, S, S) */
    char **names;      /* (N) file names without the folder, sorted */
} dataset;

/* Loads the files of `dir` whose names end in .jpg .jpeg .png .webp (any case; the format
 * is sniffed from the content); other files and subfolders are ignored. size in
 * [8, 1024]; max_images > 0 keeps only the first max_images names, 0 takes all. NULL and
 * error_set, naming the folder or the file, if the folder cannot be read, holds no
 * images, or an image cannot be read (corrupt, too many pixels). */
dataset *dataset_load_dir(const char *dir, int size, int max_images);
void dataset_free(dataset *ds);  /* NULL is fine */
/* One image file made as dataset_load_dir makes each: dst (3, size, size), uint8. */
status dataset_load_image(const char *path, int size, uint8_t *dst);

/* The images of a step: for i < batch, position p = step * batch + i of the endless
 * sequence made of epochs e = p / n, each the Fisher-Yates permutation of 0..n-1 drawn
 * from (seed, e); idx[i] = permutation_e[p % n]. flip[i] is a fair coin from
 * (seed, step, i) when flips, else false. A pure function of its arguments; idx and flip
 * hold batch entries. STATUS_ARG if n or batch < 1 or an array is NULL, STATUS_NOMEM if
 * the permutation cannot be allocated (n ints). */
status dataset_draw(uint64_t seed, uint64_t step, int n, int batch, bool flips, int *idx,
                    bool *flip);

/* (batch, 3, S, S) in arena a: image idx[i] as x / 127.5 - 1, mirrored left-right where
 * flip[i] (flip may be NULL: none). NULL and error_set on an index outside [0, n). */
tensor *dataset_batch(const dataset *ds, arena *a, const int *idx, const bool *flip, int batch);

/* images (N, C, H, W), C 3 or 1 (grey), values in [-1, 1] (clamped) -> one image file
 * (format by extension, written atomically: image_write) of ceil(N / cols) rows of cols
 * cells, with a 2-pixel white gutter between the cells and around them:
 * cols * W + 2 (cols + 1) wide. cols is reduced to N when larger; cells past the last
 * image stay white. */
status dataset_write_grid(const char *path, const tensor *images, int cols);

#endif
