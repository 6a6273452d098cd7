/* gan_cli.h: what the `atelier gan` subcommands share (cmd_gan.c, cmd_gan_train.c). */
#ifndef ATELIER_GAN_CLI_H
#define ATELIER_GAN_CLI_H
#include <stdbool.h>
#include "atelier/dataset.h"
#include "atelier/gan.h"
#include "atelier/metrics.h"

int cmd_gan_train(int argc, char **argv);

/* Features (n, metrics_feature_dim()) of a dataset's images, malloc'd; NULL after error. */
float *gan_cli_real_features(const vgg19 *vgg, const dataset *ds);
/* Features of n samples of net (seed, from index 0), malloc'd; NULL after error. */
float *gan_cli_fake_features(const vgg19 *vgg, gan_net *net, uint64_t seed, int n);
/* Prints the report's lines (KID, diversity, memorisation, warnings) to f. */
void gan_cli_print_report(FILE *f, const metrics_report *r, int nfake, int nreal);
/* The report as JSON members (no braces) into buf. */
void gan_cli_report_json(const metrics_report *r, char *buf, size_t size);

#endif
