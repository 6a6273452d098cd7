/* main.c: the `atelier` program: one binary, many subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/backend.h"
#include "atelier/dist.h"
#include "atelier/jobs.h"
#include "cli/cli.h"

typedef struct command { const char *name; int (*run)(int, char **); const char *summary; } command;

static const command COMMANDS[] = {
    {"demo", cmd_demo, "a small demonstration of the engine: train a conv net, save and reload it"},
    {"stylize", cmd_stylize, "paint a photo in the style of a painting (neural style transfer)"},
    {"video", cmd_video, "stylise a video that does not flicker (fast networks or optimisation, optical flow)"},
    {"style-net", cmd_style_net, "train fast style networks (a painting in a second; many styles in one)"},
    {"gan", cmd_gan, "train a GAN on an artist's works; sample, interpolate, evaluate"},
    {"classify", cmd_classify, "train image classifiers (an AI-art detector); print an image's class probabilities"},
    {"attack", cmd_attack, "adversarial examples against a classifier (FGSM, PGD, C&W), universal perturbations, robustness curves"},
    {"serve", cmd_serve, "the web service: a page and a JSON API for style transfer jobs"},
    {"lab", cmd_lab, "GAN Lab on this engine: watch a 2-D GAN learn in the browser"},
    {"worker", cmd_worker, "run the jobs of a shared queue (PostgreSQL) without serving HTTP"},
    {"models", cmd_models, "the feature networks installed (trained InceptionV3, MobileNetV2), and their layers"},
    {"inspect", cmd_inspect, "list the tensors and metadata of a .safetensors file"},
};
#define NCOMMANDS (int)(sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *f) {
    fprintf(f, "usage: atelier COMMAND [options]   (atelier COMMAND --help for its options)\n\n"
               "Atelier %s: neural style transfer and GANs, in one native program.\n\ncommands:\n",
            ATELIER_VERSION);
    for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f, "\nenvironment:\n  ATELIER_BACKEND  the backend the ops run on: %s (default: the first)\n", backend_names());
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        /* scripts/run-tests.sh reads the backends from the first line, between the parentheses */
        printf("atelier %s (backends %s)\njob stores: %s\ndata-parallel training: %s\n", ATELIER_VERSION, backend_names(),
               jobs_store_names(), dist_backends());
        return 0;
    }
    const char *be = getenv("ATELIER_BACKEND");
    if (be && *be && !backend_find(be)) {
        fprintf(stderr, "atelier: ATELIER_BACKEND=%s is not a backend of this build (have: %s)\n", be, backend_names());
        return 2;
    }
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "atelier: unknown command '%s' (atelier --help lists them)\n", argv[1]);
    return 2;
}
