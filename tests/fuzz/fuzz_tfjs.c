/* fuzz_tfjs.c: libFuzzer target for the TF.js layers-model reader (tfjs.h).
 *
 * Each input is a model.json; it is written beside a fixed 54-byte weight shard ("w.bin")
 * in a private folder and loaded, then, when it loads, run on a small image. Every input
 * must come back as a model or as NULL with one line in error_message(): never a crash, a
 * leak, a hang or an unbounded allocation. Built and run by scripts/fuzz.sh (clang,
 * -fsanitize=fuzzer,address,undefined, the reference backend). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "atelier/ops.h"
#include "atelier/tfjs.h"

static char dir[64];

static void cleanup(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/w.bin", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/model.json", dir);
    remove(path);
    rmdir(dir);
}

static void setup(void) {
    if (dir[0]) return;
    snprintf(dir, sizeof dir, "/tmp/fuzz-tfjs-%d", (int)getpid());
    char path[128];
    snprintf(path, sizeof path, "mkdir -p %s", dir);
    if (system(path) != 0) abort();
    atexit(cleanup);
    snprintf(path, sizeof path, "%s/w.bin", dir);
    FILE *f = fopen(path, "wb");
    for (int i = 0; f && i < 54; i++) fputc(i * 37, f);
    if (f) fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setup();
    char path[128];
    snprintf(path, sizeof path, "%s/model.json", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    error_clear();
    tfjs_model *m = tfjs_load(path);
    if (!m) {
        if (!error_message()[0] || strchr(error_message(), '\n')) abort();   /* one line, always */
        error_clear();
        return 0;
    }
    arena *a = arena_new(1 << 20);
    tensor *x = tensor_fill(tensor_new(a, 4, (int[]){1, 3, 9, 11}), 0.5f), *y = NULL;
    const char *name = tfjs_output_name(m);
    bool was = autograd_set(false);
    if (tfjs_forward(m, a, x, 1, &name, &y) != STATUS_OK && !error_message()[0]) abort();
    autograd_set(was);
    error_clear();
    arena_free(a);
    tfjs_free(m);
    return 0;
}
