/* cmd_inspect.c: `atelier inspect FILE.safetensors`: list a file's tensors and metadata.
 *
 * The file is validated by safetensors_open like any other load, so inspect is also the
 * way to ask "why is this file refused?". The public API looks metadata up by key only,
 * so the keys are listed by parsing the (already validated) header again with the
 * library's private JSON parser.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../json.h"
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

/* The __metadata__ object of a file that safetensors_open accepted, or NULL. */
static json_value *read_header(const char *path) {
    FILE *fp = fopen(path, "rb");
    unsigned char len8[8];
    char *text = NULL;
    json_value *v = NULL;
    if (!fp || fread(len8, 1, 8, fp) != 8) goto done;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
    text = malloc(n + 1);  /* n <= 100 MB: safetensors_open checked it */
    if (!text || fread(text, 1, n, fp) != n) goto done;
    json_error err;
    v = json_parse(text, n, &err);
done:
    free(text);
    if (fp) fclose(fp);
    return v;
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

static void print_metadata(const safetensors *f, const json_value *header) {
    const json_value *meta = json_get(header, "__metadata__");
    if (!meta || meta->count == 0) {
        printf("metadata: none\n");
        return;
    }
    printf("metadata:\n");
    for (int i = 0; i < meta->count; i++) {
        const char *value = safetensors_metadata(f, meta->keys[i]);  /* NULL if the file changed */
        printf("  %s: %s\n", meta->keys[i], value ? value : "?");
    }
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
    json_value *header = read_header(path);
    printf("%s: %d tensor%s\n", path, safetensors_count(f), safetensors_count(f) == 1 ? "" : "s");
    print_tensors(f);
    print_metadata(f, header);
    json_free(header);
    safetensors_close(f);
    return 0;
}
