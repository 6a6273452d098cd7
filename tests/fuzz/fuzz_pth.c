/* fuzz_pth.c: libFuzzer target for the PyTorch checkpoint reader (pth.h), both layouts
 * (zip and legacy: the seeds hold both, from tests/fixtures/pth).
 *
 * Each input is a file, opened with pth_open_memory. It must come back as a file or as
 * NULL with one line in error_message(): never a crash, a leak, a hang or an unbounded
 * allocation (whatever a pickle claims, opening costs memory in proportion to the file).
 * An opened file is then used as the weights loader uses it (weights.c): every name,
 * shape and dtype read, and every tensor loaded into a tensor of its shape (up to 4 dims,
 * at most 2^22 elements: a model's tensor is sized by the model, not by the file), which
 * cannot fail once the file is open, and into one of another shape (refused:
 * STATUS_SHAPE). Built and run by scripts/fuzz.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/arena.h"
#include "atelier/pth.h"

#define MAX_LOAD (1 << 22)   /* elements: 16 MB of float32 */

/* A failure must say why, on one line. */
static void check_message(void) {
    if (!error_message()[0] || strchr(error_message(), '\n')) abort();
    error_clear();
}

/* A tensor of the file's shape in a, or NULL when the harness does not load it. */
static tensor *tensor_for(arena *a, int ndim, const int64_t shape[8]) {
    if (ndim == 0) return tensor_scalar(a, 0.0f);
    if (ndim > TENSOR_MAX_DIMS) return NULL;
    int dims[TENSOR_MAX_DIMS];
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 1 || shape[d] > MAX_LOAD) return NULL;
        dims[d] = (int)shape[d];
        numel *= shape[d];
        if (numel > MAX_LOAD) return NULL;
    }
    return tensor_new(a, ndim, dims);
}

static void use(const pth_file *f, arena *a) {
    const char *format = pth_format(f);
    if (!format || (strcmp(format, "zip") && strcmp(format, "legacy"))) abort();
    int n = pth_count(f);
    if (n < 0 || pth_name(f, n) || pth_name(f, -1)) abort();
    for (int i = 0; i < n; i++) {
        const char *name = pth_name(f, i);
        int64_t shape[8];
        int ndim = name ? pth_shape(f, name, shape) : -1;
        if (ndim < 0 || ndim > 8 || !pth_dtype(f, name)) abort();
        tensor *t = tensor_for(a, ndim, shape);
        if (t) {
            if (pth_load_into(f, name, t) != STATUS_OK) abort();   /* pth.h: cannot fail once open */
            tensor *other = tensor_new(a, 1, (int[]){(int)t->numel + 1});
            if (other && pth_load_into(f, name, other) != STATUS_SHAPE) abort();
            error_clear();
        }
        arena_reset(a);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static arena *a;
    if (!a && !(a = arena_new(1 << 20))) abort();
    error_clear();
    pth_file *f = pth_open_memory(data, size, "fuzz.pth");
    if (!f) { check_message(); return 0; }
    use(f, a);
    pth_close(f);
    arena_reset(a);
    return 0;
}
