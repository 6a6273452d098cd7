/* fuzz_safetensors.c: libFuzzer target for the safetensors reader (safetensors.h).
 *
 * Each input is a file, opened with safetensors_open_memory. It must come back as a file
 * or as NULL with one line in error_message(): never a crash, a leak, a hang or an
 * unbounded allocation. An opened file is then used as a loader would: every name, shape,
 * dtype and metadata pair read, every tensor of up to 4 dims read as float32
 * (safetensors_get) and copied into a tensor of another shape (refused: STATUS_SHAPE).
 * Built and run by scripts/fuzz.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/arena.h"
#include "atelier/safetensors.h"

/* A failure must say why, on one line. */
static void check_message(void) {
    if (!error_message()[0] || strchr(error_message(), '\n')) abort();
    error_clear();
}

static void use(const safetensors *f, arena *a) {
    for (int i = 0; i < safetensors_metadata_count(f); i++) {
        const char *k = safetensors_metadata_key(f, i);
        if (!k || !safetensors_metadata(f, k)) abort();
    }
    for (int i = 0; i < safetensors_count(f); i++) {
        const char *name = safetensors_name(f, i);
        int64_t shape[8];
        int ndim = name ? safetensors_shape(f, name, shape) : -1;
        if (ndim < 0 || ndim > 8 || !safetensors_dtype(f, name)) abort();
        tensor *t = safetensors_get(f, a, name);
        if (!t) { check_message(); continue; }
        if (t->ndim != ndim) abort();
        tensor *other = tensor_new(a, 1, (int[]){(int)t->numel + 1});   /* numel is bounded by the input */
        if (other && safetensors_load_into(f, name, other) != STATUS_SHAPE) abort();
        error_clear();
        arena_reset(a);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static arena *a;
    if (!a && !(a = arena_new(1 << 20))) abort();
    error_clear();
    safetensors *f = safetensors_open_memory(data, size, "fuzz.safetensors");
    if (!f) { check_message(); return 0; }
    use(f, a);
    safetensors_close(f);
    arena_reset(a);
    return 0;
}
