/* cmd_inspect.c: `atelier inspect FILE.safetensors`: list a file's tensors and metadata.
 *
 * The file is validated by safetensors_open like any other load, so inspect is also the
 * way to ask "why is this file refused?".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/safetensors.h"
#include "cli.h"

static void inspect_usage(FILE *out) {
    fprintf(out,
            "usage: atelier inspect FILE.safetensors\n"
            "\n"
            "Validates a safetensors file and prints each tensor's name, dtype and shape, in\n"
            "file order, then the file's metadata (key: value).\n"
            "\n"
            "  -h, --help   print this help and exit\n");
}

static void print_tensors(const safetensors *f) {
    int n = safetensors_count(f), width = 4;
    for (int i = 0; i < n; i++) {
        int w = (int)strlen(safetensors_name(f, i));
        if (w > width) width = w;
    }
    if (width > 60) width = 60;
    for (int i = 0; i < n; i++) {
        const char *name = safetensors_name(f, i);
        int64_t shape[8];
        int ndim = safetensors_shape(f, name, shape);
        printf("  %-*s  %-5s  (", width, name, safetensors_dtype(f, name));
        for (int d = 0; d < ndim; d++) printf(d ? ", %lld" : "%lld", (long long)shape[d]);
        printf(")\n");
    }
}

static void print_metadata(const safetensors *f) {
    int n = safetensors_metadata_count(f);
    printf(n ? "metadata:\n" : "metadata: none\n");
    for (int i = 0; i < n; i++)   /* by index: linear in the entries */
        printf("  %s: %s\n", safetensors_metadata_key(f, i), safetensors_metadata_value(f, i));
}

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            inspect_usage(stdout);
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "atelier inspect: unknown option %s (see atelier inspect --help)\n", argv[i]);
            return 1;
        }
        if (path) {
            fprintf(stderr, "atelier inspect: expected one file, got %s and %s\n", path, argv[i]);
            return 1;
        }
        path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "atelier inspect: no file given (usage: atelier inspect FILE.safetensors)\n");
        return 1;
    }
    safetensors *f = safetensors_open(path);
    if (!f) {
        fprintf(stderr, "atelier inspect: %s\n", error_message());
        return 1;
    }
    printf("%s: %d tensor%s\n", path, safetensors_count(f), safetensors_count(f) == 1 ? "" : "s");
    print_tensors(f);
    print_metadata(f);
    safetensors_close(f);
    return 0;
}
