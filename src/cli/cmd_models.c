/* cmd_models.c: `atelier models`: the feature networks installed, and one network's layers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/featnet.h"
#include "atelier/ops.h"
#include "atelier/stylenet.h"
#include "atelier/tfjs.h"
#include "cli/cli.h"

#define CMD "models"

static void models_usage(FILE *f) {
    char d[4096];
    fprintf(f,
        "usage: atelier models [--models-dir DIR]            the feature networks installed\n"
        "       atelier models show NAME|PATH [--size PX]    one network's layers and their output shapes\n\n"
        "Feature networks give style transfer its losses and the GAN metrics their features.\n"
        "Built in: vgg19 (random weights from a fixed seed). Trained: inception_v3 and\n"
        "mobilenet_v2 from the npm package nsfwjs 4.4.0 (MIT; ImageNet-pretrained, fine-tuned by\n"
        "nsfwjs to a 5-class classifier), installed by: sh scripts/install-models.sh\n"
        "Any TF.js layers model (model.json + weight shards) can be named by its path.\n"
        "The fast style networks built into the program are listed too (atelier style-net).\n\n"
        "Search path: --models-dir, then each folder of $ATELIER_MODELS (colon-separated), then\n"
        "%s.\n\n"
        "options:\n"
        "  --models-dir DIR   look here first\n"
        "  --size PX          show: the input size the shapes are given for [the model's own, else 224]\n"
        "  -h, --help         this text\n", featnet_default_dir(d, sizeof d));
}

static int show(const char *spec, const char *dir, int size) {
    featnet *f = featnet_open(spec, dir, NULL);
    if (!f) { fprintf(stderr, "atelier %s: %s\n", CMD, error_message()); return 1; }
    if (featnet_get_kind(f) == FEATNET_VGG19) {
        printf("vgg19 (built in: random weights from a fixed seed)\nlayers:");
        for (int i = 0; i < VGG19_CONVS; i++) printf(" %s", vgg19_layer_name(i));
        printf("\n");
        featnet_free(f);
        return 0;
    }
    const tfjs_model *m = featnet_tfjs(f);
    int h, w, c;
    tfjs_input_shape(m, &h, &w, &c);
    if (size) h = w = size;
    if (!h || !w) h = w = 224;
    int64_t np = 0;
    const model_params *p = tfjs_params(m);
    for (int i = 0; i < p->n; i++) np += p->tensors[i]->numel;
    printf("%s: %d layers, %lld weights, input (N, %d, H, W); shapes below at %dx%d\n", featnet_name(f), tfjs_layer_count(m),
           (long long)np, c ? c : 3, h, w);
    arena *a = arena_new((size_t)64 << 20);
    int n = tfjs_layer_count(m);
    const char **names = malloc((size_t)n * sizeof *names);
    tensor **outs = malloc((size_t)n * sizeof *outs);
    tensor *x = tensor_fill(tensor_new(a, 4, (int[]){1, c ? c : 3, h, w}), 0.5f);
    bool was = autograd_set(false);
    int rc = 0;
    for (int i = 0; names && i < n; i++) names[i] = tfjs_layer_name(m, i);
    if (!names || !outs || !x || tfjs_forward_partial(m, a, x, n, names, outs) != STATUS_OK) {
        fprintf(stderr, "atelier %s: %s at %dx%d: %s\n", CMD, featnet_name(f), w, h, error_message());
        rc = 1;
    }
    for (int i = 0; !rc && i < n; i++) {
        char buf[64];
        printf("  %-32s %-24s %s\n", names[i], tfjs_layer_class(m, i),
               outs[i] ? tensor_shape_str(outs[i], buf) : "(cannot run at this size)");
    }
    free(names);
    free(outs);
    autograd_set(was);
    arena_free(a);
    featnet_free(f);
    return rc;
}

int cmd_models(int argc, char **argv) {
    const char *dir = NULL, *spec = NULL;
    int size = 0;
    bool showing = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { models_usage(stdout); return 0; }
        if (!strcmp(argv[i], "--models-dir") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
            char *e;
            long v = strtol(argv[++i], &e, 10);
            if (*e || v < 16 || v > 4096) { fprintf(stderr, "atelier %s: --size %s: want 16 .. 4096\n", CMD, argv[i]); return 2; }
            size = (int)v;
        } else if (!strcmp(argv[i], "show") && !showing) showing = true;
        else if (showing && !spec && argv[i][0] != '-') spec = argv[i];
        else { fprintf(stderr, "atelier %s: unexpected '%s' (atelier models --help)\n", CMD, argv[i]); return 2; }
    }
    if (showing) {
        if (!spec) { fprintf(stderr, "atelier %s: show needs a network name or path\n", CMD); return 2; }
        return show(spec, dir, size);
    }
    static const char *const known[] = {"inception_v3", "mobilenet_v2", "mobilenet_v2_mid"};
    printf("vgg19          built in (random weights: a texture model)\n");
    int found = 0;
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
        char path[4096];
        if (!featnet_find(known[k], dir, path, sizeof path)) { printf("%-14s not installed\n", known[k]); continue; }
        tfjs_model *m = tfjs_load(path);
        if (m) {
            int h, w, c;
            tfjs_input_shape(m, &h, &w, &c);
            printf("%-14s %s (%d layers, trained at %dx%d)\n", known[k], path, tfjs_layer_count(m), w, h);
            found++;
        } else {
            printf("%-14s %s: not usable: %s\n", known[k], path, error_message());
        }
        error_clear();
        tfjs_free(m);
    }
    printf("\nfast style networks (atelier stylize PHOTO --model NAME; atelier style-net show NAME):\n");
    for (int i = 0; stylenet_builtin_name(i); i++) {
        const char *name = stylenet_builtin_name(i);
        stylenet *m = stylenet_builtin_available(name) ? stylenet_load(name) : NULL;
        if (m) printf("%-14s built in: %d styles, width %g, %lld parameters\n", name, m->nstyles, m->width,
                      (long long)model_params_count(&m->params));
        else printf("%-14s not in this build (models/%s.safetensors was absent)\n", name, name);
        error_clear();
        stylenet_free(m);
    }
    if (!found) {
        char d[4096];
        printf("\nThe trained networks are not installed (looked in %s and $ATELIER_MODELS).\n"
               "Install them with: sh scripts/install-models.sh\n", featnet_default_dir(d, sizeof d));
    }
    return 0;
}
