/* attack_cli.h: what cmd_attack.c and cmd_attack_eval.c share. */
#ifndef ATELIER_ATTACK_CLI_H
#define ATELIER_ATTACK_CLI_H
#include <stdbool.h>
#include "atelier/attack.h"
#include "atelier/classify.h"

#define ATTACK_MAX_EPS 16

typedef struct attack_cli {
    const char *model, *image, *out, *batch_dir, *eval_dir, *models_dir, *label;
    const char *target_name, *save_input, *save_diff;
    attack_opts o;
    float eps[ATTACK_MAX_EPS];
    int neps, max_images;
    bool quiet, set_steps, set_step_size, set_restarts;
    classifier *m;
    attack_model am;
    attack_net an;
    int size, classes;   /* the model's input side and class count */
} attack_cli;

/* Pixels rounded to 8 bits (as an image file keeps them), each kept inside [0,1] and the
 * ball around x: a level that would leave it is moved one step toward x. (N, D) */
void attack_quantize(const float *x, float *adv, int n, int d, attack_norm norm, float eps);
int attack_eval(attack_cli *c);
#endif
