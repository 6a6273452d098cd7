/* dataset.c: an image folder as training data (see dataset.h).
 *
 * Loading lists the folder, sorts the names, and fills one (N, 3, S, S) uint8 buffer
 * image by image: read, drop alpha, resize the short side to S, centre-crop, round.
 * Drawing is stateless: a step's batch is recomputed from (seed, step) with the
 * counter-based generator of rng.h, one permutation per epoch touched.
 */
#include "atelier/dataset.h"
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "atelier/rng.h"

#define FLIP_KEY 0x5851f42d4c957f2dULL  /* the coins' stream, apart from the permutations' */
#define GUTTER 2

/* ---- listing ---- */

static bool has_image_ext(const char *name) {
    static const char *const exts[] = {".jpg", ".jpeg", ".png", ".webp"};
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t el = strlen(exts[i]);
        if (len > el && strcasecmp(name + len - el, exts[i]) == 0) return true;
    }
    return false;
}

/* "dir/name", malloc'd; NULL when out of memory. */
static char *join_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static bool is_regular_file(const char *dir, const char *name) {
    char *path = join_path(dir, name);
    struct stat st;
    bool ok = path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
    free(path);
    return ok;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, int n) {
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(names);
}

/* The sorted image file names of dir into *out (malloc'd, *count of them). */
static status list_images(const char *dir, char ***out, int *count) {
    DIR *d = opendir(dir);
    if (!d) return error_set(STATUS_IO, "dataset: cannot open directory '%s': %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0;
    status st = STATUS_OK;
    for (struct dirent *e; st == STATUS_OK && (e = readdir(d));) {
        if (!has_image_ext(e->d_name) || !is_regular_file(dir, e->d_name)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(names, (size_t)cap * sizeof *names);
            if (!grown) { st = error_set(STATUS_NOMEM, "dataset: out of memory listing '%s'", dir); break; }
            names = grown;
        }
        if (!(names[n] = strdup(e->d_name))) st = error_set(STATUS_NOMEM, "dataset: out of memory listing '%s'", dir);
        else n++;
    }
    closedir(d);
    if (st == STATUS_OK && n == 0)
        st = error_set(STATUS_IO, "dataset: no images (.jpg .jpeg .png .webp) in directory '%s'", dir);
    if (st != STATUS_OK) { free_names(names, n); return st; }
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    *out = names;
    *count = n;
    return STATUS_OK;
}

/* ---- one image ---- */

/* The RGB planes of im (alpha, if any, dropped), resized so that the short side is size. */
static image *rgb_short_side(const image *im, int size) {
    image *rgb = image_new(im->w, im->h, 3);
    if (!rgb) return NULL;
    memcpy(rgb->data, im->data, (size_t)3 * im->w * im->h * sizeof(float));
    bool wide = im->w >= im->h;
    int shorter = wide ? im->h : im->w, longer = wide ? im->w : im->h;
    int other = (int)lround((double)longer * size / shorter);
    if (other < size) other = size;
    int w = wide ? other : size, h = wide ? size : other;
    if (w == im->w && h == im->h) return rgb;
    image *out = image_resize(rgb, w, h);
    image_free(rgb);
    return out;
}

/* Reads path into dst (3, size, size): the centre crop, rounded to uint8 (dataset.h). */
status dataset_load_image(const char *path, int size, uint8_t *dst) {
    image *im = image_read(path, NULL);
    if (!im) return error_status();
    image *r = rgb_short_side(im, size);
    image_free(im);
    if (!r) return error_set(STATUS_NOMEM, "dataset: out of memory resizing '%s'", path);
    int x0 = (r->w - size) / 2, y0 = (r->h - size) / 2;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) {
                float v = r->data[((size_t)c * r->h + y0 + y) * r->w + x0 + x];
                v = fminf(fmaxf(v, 0.0f), 1.0f);
                dst[((size_t)c * size + y) * size + x] = (uint8_t)lrintf(v * 255.0f);
            }
    image_free(r);
    return STATUS_OK;
}

/* ---- the dataset ---- */

dataset *dataset_load_dir(const char *dir, int size, int max_images) {
    if (!dir) { error_set(STATUS_ARG, "dataset: no directory given"); return NULL; }
    if (size < DATASET_MIN_SIZE || size > DATASET_MAX_SIZE) {
        error_set(STATUS_ARG, "dataset: size %d for '%s' must be in [%d, %d]", size, dir,
                  DATASET_MIN_SIZE, DATASET_MAX_SIZE);
        return NULL;
    }
    if (max_images < 0) {
        error_set(STATUS_ARG, "dataset: max_images %d for '%s' must be >= 0 (0: all)", max_images, dir);
        return NULL;
    }
    char **names = NULL;
    int count = 0;
    if (list_images(dir, &names, &count) != STATUS_OK) return NULL;
    dataset *ds = calloc(1, sizeof *ds);
    int n = max_images > 0 && max_images < count ? max_images : count;
    size_t per = (size_t)3 * size * size;
    if (!ds || !(ds->pixels = malloc(per * n))) {
        error_set(STATUS_NOMEM, "dataset: out of memory for %d images of %dx%d from '%s'", n, size, size, dir);
        goto fail;
    }
    ds->names = names;
    ds->n = n;
    ds->size = size;
    for (int i = n; i < count; i++) free(names[i]);   /* beyond max_images */
    names = NULL;
    for (int i = 0; i < n; i++) {
        char *path = join_path(dir, ds->names[i]);
        status st = path ? dataset_load_image(path, size, ds->pixels + per * i)
                         : error_set(STATUS_NOMEM, "dataset: out of memory in '%s'", dir);
        free(path);
        if (st != STATUS_OK) goto fail;
    }
    return ds;
fail:
    free_names(names, count);
    dataset_free(ds);
    return NULL;
}

void dataset_free(dataset *ds) {
    if (!ds) return;
    free_names(ds->names, ds->n);
    free(ds->pixels);
    free(ds);
}

/* ---- drawing ---- */

/* perm (n) = the Fisher-Yates shuffle of epoch e: swap i with j uniform in [0, i], i from
 * the top, j from the stream keyed by hash(seed, e). (The modulo's bias is n / 2^64.) */
static void epoch_permutation(uint64_t seed, uint64_t e, int n, int *perm) {
    rng key = {seed, e};
    rng r = rng_new(rng_u64(&key));
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rng_u64(&r) % (uint64_t)(i + 1));
        int t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
}

status dataset_draw(uint64_t seed, uint64_t step, int n, int batch, bool flips, int *idx,
                    bool *flip) {
    if (n < 1 || batch < 1 || !idx || !flip)
        return error_set(STATUS_ARG, "dataset_draw: needs n >= 1 (got %d), batch >= 1 (got %d) "
                         "and the idx and flip arrays", n, batch);
    int *perm = malloc((size_t)n * sizeof *perm);
    if (!perm) return error_set(STATUS_NOMEM, "dataset_draw: out of memory for %d indices", n);
    uint64_t have = UINT64_MAX;  /* the epoch in perm */
    for (int i = 0; i < batch; i++) {
        uint64_t p = step * (uint64_t)batch + (uint64_t)i, e = p / (uint64_t)n;
        if (e != have) epoch_permutation(seed, have = e, n, perm);
        idx[i] = perm[p % (uint64_t)n];
    }
    free(perm);
    rng key = {seed ^ FLIP_KEY, step};
    uint64_t coins = rng_u64(&key);
    for (int i = 0; i < batch; i++) {
        rng r = {coins, (uint64_t)i};
        flip[i] = flips && (rng_u64(&r) >> 63);
    }
    return STATUS_OK;
}

tensor *dataset_batch(const dataset *ds, arena *a, const int *idx, const bool *flip, int batch) {
    if (!ds || !a || !idx || batch < 1) {
        error_set(STATUS_ARG, "dataset_batch: needs a dataset, an arena, indices and batch >= 1 (got %d)", batch);
        return NULL;
    }
    for (int i = 0; i < batch; i++)
        if (idx[i] < 0 || idx[i] >= ds->n) {
            error_set(STATUS_ARG, "dataset_batch: index %d (entry %d) outside the %d images", idx[i], i, ds->n);
            return NULL;
        }
    int s = ds->size;
    tensor *t = tensor_new(a, 4, (int[]){batch, 3, s, s});
    if (!t) return NULL;
    size_t per = (size_t)3 * s * s;
    for (int i = 0; i < batch; i++) {
        const uint8_t *src = ds->pixels + per * idx[i];
        float *dst = t->data + per * i;
        bool mirror = flip && flip[i];
        for (size_t row = 0; row < (size_t)3 * s; row++)
            for (int x = 0; x < s; x++)
                dst[row * s + x] = (float)src[row * s + (mirror ? s - 1 - x : x)] / 127.5f - 1.0f;
    }
    return t;
}

/* ---- sample grids ---- */

/* Copies image k of t (C, H, W) into cell (row, col) of grid, mapped from [-1, 1] to [0, 1]. */
static void grid_put(image *grid, const tensor *t, int k, int row, int col) {
    int c = t->shape[1], h = t->shape[2], w = t->shape[3];
    int x0 = GUTTER + col * (w + GUTTER), y0 = GUTTER + row * (h + GUTTER);
    size_t plane = (size_t)grid->w * grid->h;
    for (int ch = 0; ch < 3; ch++) {
        const float *src = t->data + ((size_t)k * c + (c == 1 ? 0 : ch)) * h * w;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                grid->data[ch * plane + (size_t)(y0 + y) * grid->w + x0 + x] = (src[y * w + x] + 1.0f) * 0.5f;
    }
}

status dataset_write_grid(const char *path, const tensor *images, int cols) {
    char buf[64];
    if (!path || !images || cols < 1)
        return error_set(STATUS_ARG, "dataset_write_grid: needs a path, images and cols >= 1 (got %d)", cols);
    if (images->ndim != 4 || (images->shape[1] != 3 && images->shape[1] != 1))
        return error_set(STATUS_SHAPE, "dataset_write_grid: images %s must be (N, 3, H, W) or (N, 1, H, W)",
                         tensor_shape_str(images, buf));
    int n = images->shape[0], h = images->shape[2], w = images->shape[3];
    if (cols > n) cols = n;
    int rows = (n + cols - 1) / cols;
    int64_t gw = (int64_t)cols * (w + GUTTER) + GUTTER, gh = (int64_t)rows * (h + GUTTER) + GUTTER;
    if (gw > IMAGE_MAX_SIDE || gh > IMAGE_MAX_SIDE)
        return error_set(STATUS_ARG, "dataset_write_grid: a grid of %lldx%lld for '%s' is too large",
                         (long long)gw, (long long)gh, path);
    image *grid = image_new((int)gw, (int)gh, 3);
    if (!grid) return error_status();
    for (size_t i = 0; i < (size_t)3 * gw * gh; i++) grid->data[i] = 1.0f;   /* white */
    for (int k = 0; k < n; k++) grid_put(grid, images, k, k / cols, k % cols);
    status st = image_write(path, grid, NULL);
    image_free(grid);
    return st;
}
