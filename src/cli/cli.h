/* cli.h: the subcommands of the `atelier` program. Each returns the process exit status and
 * prints its own usage on --help. Programs (unlike the library) print one clear line on
 * stderr for a failure and exit non-zero. */
#ifndef ATELIER_CLI_H
#define ATELIER_CLI_H

int cmd_demo(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_stylize(int argc, char **argv);
int cmd_gan(int argc, char **argv);
int cmd_style_net(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_lab(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_attack(int argc, char **argv);

/* The fast path of `atelier stylize` (cmd_stylize_fast.c): --model. */
#include <stdbool.h>
typedef struct stylize_fast_args {
    const char *content, *out, *model, *mix;
    const char *const *styles;   /* style names or indices (-s) */
    int nstyles;
    float strength;
    bool preserve_colors, quiet;
    int size, tile, quality;     /* size 0: the photo's; tile 0: the default */
} stylize_fast_args;
int stylize_fast(const stylize_fast_args *a);
/* A fast network's style weights (S) from --mix SPEC, else the -s names (an equal blend),
 * else its first style. false with one line on stderr (naming cmd) on a bad name or mix. */
struct stylenet;
bool stylize_fast_mix(const char *cmd, const struct stylenet *m, const char *spec, const char *const *styles,
                      int nstyles, float *mix);
int cmd_video(int argc, char **argv);

#endif
