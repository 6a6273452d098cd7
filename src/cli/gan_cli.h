/* gan_cli.h: what the `atelier gan` subcommands share (cmd_gan.c, cmd_gan_train.c). */
#ifndef ATELIER_GAN_CLI_H
#define ATELIER_GAN_CLI_H
#include <stdbool.h>
#include "atelier/dataset.h"
#include "atelier/gan.h"
#include "atelier/metrics.h"

int cmd_gan_train(int argc, char **argv);

/* The features the metrics use: the built-in VGG-19 (seed 0, metrics_features) or a trained
 * network (metrics_featnet_features). */
typedef struct gan_features {
    vgg19 vgg;
    arena *mem;          /* VGG's weights */
    struct featnet *net; /* a trained network, or NULL for VGG */
    int dim;             /* values per image */
    char name[64];
} gan_features;
/* spec "vgg19", a network's name or path; NULL: inception_v3 when installed, else vgg19.
 * STATUS_OK, or an error set. */
status gan_features_open(gan_features *g, const char *spec);
void gan_features_close(gan_features *g);

/* Features (n, g->dim) of a dataset's images, malloc'd; NULL after error. */
float *gan_cli_real_features(const gan_features *g, const dataset *ds);
/* Features of n samples of net (seed, from index 0), malloc'd; NULL after error. */
float *gan_cli_fake_features(const gan_features *g, gan_net *net, uint64_t seed, int n);
/* Prints the report's lines (KID, diversity, memorisation, warnings) to f. */
void gan_cli_print_report(FILE *f, const metrics_report *r, int nfake, int nreal);
/* The report as JSON members (no braces) into buf. */
void gan_cli_report_json(const metrics_report *r, char *buf, size_t size);

#endif
