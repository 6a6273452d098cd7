/* cmd_attack.c: `atelier attack` makes adversarial examples against a classifier
 * (classify.h) with the attacks of attack.h: one image (-o OUT), one universal perturbation
 * for a folder (--batch DIR), or a robustness evaluation (--eval DIR, cmd_attack_eval.c). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "atelier/dataset.h"
#include "atelier/image.h"
#include "cli/args.h"
#include "cli/attack_cli.h"
#include "cli/cli.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: atelier attack MODEL IMAGE -o OUT [options]\n"
        "       atelier attack MODEL --batch DIR -o OUTDIR [options]\n"
        "       atelier attack MODEL --eval DIR [--eps 0,1,2,4,8,16/255] [-o PLOT.svg] [options]\n\n"
        "Adversarial examples against a classifier made by `atelier classify train`. The image is\n"
        "loaded as the classifier loads it (resized, centre-cropped to the model's size), attacked,\n"
        "rounded to 8 bits inside the eps ball and written at the model's size (PNG) with its\n"
        "method, eps, norm, the true class and the prediction before and after as text metadata\n"
        "(attack.*). The true class is --label, else the model's own prediction on the clean image.\n"
        "--batch: one universal perturbation for every image of DIR (each pushed away from its\n"
        "clean prediction); writes OUTDIR/NAME.png for each and OUTDIR/perturbation.png (0.5 +\n"
        "delta / (2 eps)).\n"
        "--eval: DIR holds one subfolder per class, named as the model's classes. Prints accuracy\n"
        "against eps for random-sign noise, FGSM, PGD-10, PGD-10 with restarts and PGD-50, checks\n"
        "the sanity conditions of the field (PGD <= FGSM; more steps or restarts never raise\n"
        "accuracy; accuracy ~0 at eps 1; noise barely hurts) and writes the curves as an SVG.\n\n"
        "options (default in brackets):\n"
        "  -o, --out PATH           the adversarial image, the batch's folder, or the eval's plot\n"
        "  --method fgsm|pgd|cw     [pgd]\n"
        "  --eps E                  the ball's radius in pixel units [0,1]: a number or a fraction\n"
        "                           (8/255); --eval: a list, the last denominator shared\n"
        "                           (0,1,2,4,8,16/255) [8/255; --eval 0,1,2,4,8,16/255; cw: 0 =\n"
        "                           unbounded]\n"
        "  --norm linf|l2           [linf]\n"
        "  --steps N                PGD steps; C&W Adam steps per c [pgd 10, cw 100]\n"
        "  --step-size A            PGD step [2.5 eps / steps]; C&W learning rate [0.01]\n"
        "  --restarts R             PGD runs, the strongest kept [1; --eval 3]\n"
        "  --random-start           PGD starts at a random point of the ball [on]\n"
        "  --no-random-start        PGD starts at the image\n"
        "  --target CLASS           a targeted attack: the class (name or index) to reach [none]\n"
        "  --label CLASS            the image's true class [the clean prediction]\n"
        "  --cw-search N            C&W binary search steps over c [5]\n"
        "  --seed S                 random starts and noise [1]\n"
        "  --save-input PATH        one image: also the clean image as the model sees it [none]\n"
        "  --save-diff PATH         one image: also the difference, 0.5 + 0.5 delta / max|delta| [none]\n"
        "  --max-images N           --batch, --eval: at most N images per folder, 0 all [0]\n"
        "  --models-dir DIR         where to look for the feature network first\n"
        "  -q, --quiet              no progress bar\n"
        "  -h, --help               this text\n");
}

static int fail(const char *what) {
    fprintf(stderr, "atelier attack: %s%s%s\n", what ? what : "", what ? ": " : "", error_message());
    return 1;
}

/* "8/255", "0.03", and lists "0,1,2,4,8,16/255" (an item without its own denominator
 * takes the last one). Returns the count, or -1 after one line on stderr. */
static int parse_eps(const char *s, float *out, int max) {
    char buf[512];
    if (strlen(s) >= sizeof buf) { fprintf(stderr, "atelier attack: --eps: too long\n"); return -1; }
    strcpy(buf, s);
    double num[ATTACK_MAX_EPS], den[ATTACK_MAX_EPS], last_den = 1;
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n >= max) { fprintf(stderr, "atelier attack: --eps: more than %d values\n", max); return -1; }
        char *slash = strchr(tok, '/'), *end;
        if (slash) *slash = 0;
        num[n] = strtod(tok, &end);
        if (end == tok || *end) { fprintf(stderr, "atelier attack: --eps: '%s' is not a number\n", tok); return -1; }
        den[n] = 0;
        if (slash) {
            den[n] = strtod(slash + 1, &end);
            if (end == slash + 1 || *end || !(den[n] > 0)) {
                fprintf(stderr, "atelier attack: --eps: '%s' is not a positive denominator\n", slash + 1);
                return -1;
            }
            last_den = den[n];
        }
        n++;
    }
    if (n == 0) { fprintf(stderr, "atelier attack: --eps: no value\n"); return -1; }
    for (int i = 0; i < n; i++) {
        double v = num[i] / (den[i] > 0 ? den[i] : last_den);
        if (!(v >= 0) || !isfinite(v)) { fprintf(stderr, "atelier attack: --eps %s: a value below 0\n", s); return -1; }
        out[i] = (float)v;
    }
    return n;
}

static int class_index(const attack_cli *c, const char *opt, const char *s) {
    const classify_config *mc = classify_get_config(c->m);
    for (int k = 0; k < mc->nclasses; k++)
        if (!strcmp(mc->classes[k], s)) return k;
    char *end;
    long v = strtol(s, &end, 10);
    if (*s && !*end && v >= 0 && v < mc->nclasses) return (int)v;
    fprintf(stderr, "atelier attack: %s '%s' is not a class of the model (", opt, s);
    for (int k = 0; k < mc->nclasses; k++) fprintf(stderr, "%s%s", k ? ", " : "", mc->classes[k]);
    fprintf(stderr, ")\n");
    return -1;
}

void attack_quantize(const float *x, float *adv, int n, int d, attack_norm norm, float eps) {
    for (int i = 0; i < n; i++) {
        const float *xi = x + (int64_t)i * d;
        float *ai = adv + (int64_t)i * d;
        double ss = 0;
        for (int j = 0; j < d; j++) {
            float q = roundf(ai[j] * 255.0f) / 255.0f;
            if (norm == ATTACK_NORM_LINF && fabsf(q - xi[j]) > eps)
                q = q > xi[j] ? q - 1.0f / 255 : q + 1.0f / 255;
            ai[j] = fminf(fmaxf(q, 0.0f), 1.0f);
            ss += (double)(ai[j] - xi[j]) * (ai[j] - xi[j]);
        }
        if (norm == ATTACK_NORM_L2 && sqrt(ss) > eps)   /* truncate toward x instead */
            for (int j = 0; j < d; j++) {
                float v = xi[j] + (ai[j] - xi[j]) * (float)(eps / sqrt(ss));
                ai[j] = (ai[j] > xi[j] ? floorf(v * 255.0f) : ceilf(v * 255.0f)) / 255.0f;
            }
    }
}

/* The class and its probability for each of n images. */
static bool predict(attack_cli *c, const float *x, int n, int *cls, float *prob) {
    int K = c->classes;
    float *p = malloc(sizeof(float) * (size_t)n * K);
    if (!p || classify_probs(c->m, x, n, c->size, c->size, p) != STATUS_OK) { free(p); return false; }
    for (int i = 0; i < n; i++) {
        int b = 0;
        for (int k = 1; k < K; k++) b = p[i * K + k] > p[i * K + b] ? k : b;
        cls[i] = b;
        if (prob) prob[i] = p[i * K + b];
    }
    free(p);
    return true;
}

/* x (3, S, S) as an 8-bit PNG with the attack's metadata: attack.true (the label attacked:
 * --label, else the clean prediction), attack.clean and attack.prediction (class and
 * probability before and after). label < 0: no metadata (the input, the difference). */
static status write_image(const attack_cli *c, const char *path, const float *x, int label, int clean,
                          float pclean, int adv, float padv, float dist) {
    const classify_config *mc = classify_get_config(c->m);
    image *im = image_new(c->size, c->size, 3);
    if (!im) return error_status();
    memcpy(im->data, x, sizeof(float) * 3 * (size_t)c->size * c->size);
    char buf[96], eps[32];
    status s = STATUS_OK;
    if (label < 0) goto write;
    snprintf(eps, sizeof eps, "%.6g", (double)c->o.eps);
    image_text_set(im, "attack.method", attack_method_name(c->o.method));
    image_text_set(im, "attack.eps", eps);
    image_text_set(im, "attack.norm", attack_norm_name(c->o.norm));
    snprintf(buf, sizeof buf, "%s%s", mc->classes[label], c->label ? "" : " (the clean prediction)");
    image_text_set(im, "attack.true", buf);
    snprintf(buf, sizeof buf, "%s %.4f", mc->classes[clean], (double)pclean);
    image_text_set(im, "attack.clean", buf);
    snprintf(buf, sizeof buf, "%s %.4f", mc->classes[adv], (double)padv);
    image_text_set(im, "attack.prediction", buf);
    if (c->o.target >= 0) image_text_set(im, "attack.target", mc->classes[c->o.target]);
    snprintf(buf, sizeof buf, "%.6g", (double)dist);
    image_text_set(im, c->o.norm == ATTACK_NORM_LINF ? "attack.linf" : "attack.l2", buf);
    image_text_set(im, "attack.model", c->model);
write:
    s = image_write(path, im, NULL);
    image_free(im);
    return s;
}

static float distance(const float *x, const float *a, int d, attack_norm norm) {
    double m = 0, ss = 0;
    for (int j = 0; j < d; j++) { double v = fabs(a[j] - x[j]); m = fmax(m, v); ss += v * v; }
    return (float)(norm == ATTACK_NORM_LINF ? m : sqrt(ss));
}

static int run_one(attack_cli *c) {
    int d = 3 * c->size * c->size, clean, adv, label;
    float pclean, padv;
    float *x = malloc(sizeof(float) * (size_t)d), *xa = malloc(sizeof(float) * (size_t)d);
    int rc = 1;
    if (!x || !xa) { fprintf(stderr, "atelier attack: out of memory\n"); goto done; }
    if (classify_load_image(c->m, c->image, x) != STATUS_OK) { rc = fail(NULL); goto done; }
    if (!predict(c, x, 1, &clean, &pclean)) { rc = fail(c->image); goto done; }
    label = c->label ? class_index(c, "--label", c->label) : clean;
    if (label < 0) goto done;
    if (attack_run(&c->am, x, &label, 1, &c->o, xa) != STATUS_OK) { rc = fail(NULL); goto done; }
    attack_quantize(x, xa, 1, d, c->o.norm, c->o.method == ATTACK_METHOD_CW && c->o.eps == 0 ? INFINITY : c->o.eps);
    if (!predict(c, xa, 1, &adv, &padv)) { rc = fail(NULL); goto done; }
    float dist = distance(x, xa, d, c->o.norm);
    if (write_image(c, c->out, xa, label, clean, pclean, adv, padv, dist) != STATUS_OK) { rc = fail(c->out); goto done; }
    if (c->save_input && write_image(c, c->save_input, x, -1, 0, 0, 0, 0, 0) != STATUS_OK) { rc = fail(c->save_input); goto done; }
    if (c->save_diff) {   /* 0.5 + 0.5 delta / max|delta|: the difference at full scale */
        float m = 0;
        for (int j = 0; j < d; j++) m = fmaxf(m, fabsf(xa[j] - x[j]));
        for (int j = 0; j < d; j++) xa[j] = m > 0 ? 0.5f + 0.5f * (xa[j] - x[j]) / m : 0.5f;
        if (write_image(c, c->save_diff, xa, -1, 0, 0, 0, 0, 0) != STATUS_OK) { rc = fail(c->save_diff); goto done; }
    }
    const classify_config *mc = classify_get_config(c->m);
    printf("%s: %s %.4f -> %s %.4f (%s %s, %s distance %.4g = %.2f/255)\n", c->out, mc->classes[clean],
           (double)pclean, mc->classes[adv], (double)padv, attack_method_name(c->o.method),
           attack_norm_name(c->o.norm), attack_norm_name(c->o.norm), (double)dist, (double)dist * 255);
    rc = 0;
done:
    free(x); free(xa);
    return rc;
}

/* dataset pixels (N, 3, S, S) uint8 -> floats, through the model's detail step */
static float *dataset_floats(attack_cli *c, dataset *ds) {
    const classify_config *mc = classify_get_config(c->m);
    if (classify_apply_detail(mc->detail, ds->pixels, ds->n, ds->size) != STATUS_OK) return NULL;
    int64_t nd = (int64_t)ds->n * 3 * ds->size * ds->size;
    float *x = malloc(sizeof(float) * (size_t)nd);
    if (!x) { error_set(STATUS_NOMEM, "out of memory for %d images", ds->n); return NULL; }
    for (int64_t j = 0; j < nd; j++) x[j] = ds->pixels[j] / 255.0f;
    return x;
}

static int run_batch(attack_cli *c) {
    dataset *ds = dataset_load_dir(c->batch_dir, c->size, c->max_images);
    if (!ds) return fail("--batch");
    int n = ds->n, d = 3 * c->size * c->size, rc = 1, fooled = 0;
    float *x = dataset_floats(c, ds), *xa = malloc(sizeof(float) * (size_t)n * d), *delta = malloc(sizeof(float) * (size_t)d);
    int *clean = malloc(sizeof(int) * (size_t)n), *adv = malloc(sizeof(int) * (size_t)n);
    float *pc = malloc(sizeof(float) * (size_t)n), *pa = malloc(sizeof(float) * (size_t)n);
    if (!x || !xa || !delta || !clean || !adv || !pc || !pa) { rc = fail("--batch"); goto done; }
    if (!predict(c, x, n, clean, pc)) { rc = fail("--batch"); goto done; }
    if (attack_universal(&c->am, x, clean, n, &c->o, 16, delta) != STATUS_OK) { rc = fail(NULL); goto done; }
    attack_apply_universal(x, n, d, delta, xa);
    attack_quantize(x, xa, n, d, c->o.norm, c->o.eps);
    if (!predict(c, xa, n, adv, pa)) { rc = fail(NULL); goto done; }
    if (mkdir(c->out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "atelier attack: -o %s: cannot make the folder: %s\n", c->out, strerror(errno));
        goto done;
    }
    char path[4096];
    for (int i = 0; i < n; i++) {
        char base[256];
        snprintf(base, sizeof base, "%s", ds->names[i]);
        char *dot = strrchr(base, '.');
        if (dot) *dot = 0;
        snprintf(path, sizeof path, "%s/%s.png", c->out, base);
        float dist = distance(x + (int64_t)i * d, xa + (int64_t)i * d, d, c->o.norm);
        if (write_image(c, path, xa + (int64_t)i * d, clean[i], clean[i], pc[i], adv[i], pa[i], dist) != STATUS_OK) {
            rc = fail(path);
            goto done;
        }
        fooled += adv[i] != clean[i];
    }
    /* the perturbation itself, mid-grey for 0, full scale at +-eps (linf) or 4x its rms (l2) */
    double ss = 0;
    for (int j = 0; j < d; j++) ss += (double)delta[j] * delta[j];
    float scale = c->o.norm == ATTACK_NORM_LINF ? c->o.eps : (float)(4 * sqrt(ss / d));
    for (int j = 0; j < d; j++) delta[j] = scale > 0 ? fminf(fmaxf(0.5f + 0.5f * delta[j] / scale, 0), 1) : 0.5f;
    snprintf(path, sizeof path, "%s/perturbation.png", c->out);
    if (write_image(c, path, delta, -1, 0, 0, 0, 0, 0) != STATUS_OK) { rc = fail(path); goto done; }
    printf("%s: one %s perturbation of eps %.4g (%.2f/255) changes %d of %d predictions (%.1f%%)\n", c->out,
           attack_norm_name(c->o.norm), (double)c->o.eps, (double)c->o.eps * 255, fooled, n, 100.0 * fooled / n);
    rc = 0;
done:
    free(x); free(xa); free(delta); free(clean); free(adv); free(pc); free(pa);
    dataset_free(ds);
    return rc;
}

/* Options; returns -1 to go on, or the exit status. */
static int parse(attack_cli *c, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        char opt[64];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) { c->quiet = true; continue; }
        if (!strcmp(a, "--random-start")) { c->o.random_start = true; continue; }
        if (!strcmp(a, "--no-random-start")) { c->o.random_start = false; continue; }
        if (a[0] != '-' || !a[1]) {
            if (!c->model) c->model = a;
            else if (!c->image) c->image = a;
            else { fprintf(stderr, "atelier attack: one image at a time ('%s'); --batch DIR for many\n", a); return 2; }
            continue;
        }
        const char *name = arg_split(argc, argv, &i, opt, sizeof opt, &v);
        if (!strcmp(name, "-o")) name = "--out";
        static const char *const with_value[] = {"--out", "--method", "--eps", "--norm", "--steps", "--step-size",
            "--restarts", "--target", "--label", "--cw-search", "--seed", "--max-images", "--models-dir", "--batch",
            "--eval", "--save-input", "--save-diff", NULL};
        int known = -1;
        for (int k = 0; with_value[k]; k++) if (!strcmp(name, with_value[k])) known = k;
        if (known < 0) { fprintf(stderr, "atelier attack: unknown option '%s' (atelier attack --help)\n", a); return 2; }
        if (!v) { fprintf(stderr, "atelier attack: %s needs a value\n", name); return 2; }
        bool ok = true;
        if (!strcmp(name, "--out")) c->out = v;
        else if (!strcmp(name, "--method")) {
            static const char *const m[] = {"fgsm", "pgd", "cw", NULL};
            int k = arg_choice("attack", name, v, m);
            ok = k >= 0;
            c->o.method = k == 0 ? ATTACK_METHOD_FGSM : k == 2 ? ATTACK_METHOD_CW : ATTACK_METHOD_PGD;
        } else if (!strcmp(name, "--eps")) ok = (c->neps = parse_eps(v, c->eps, ATTACK_MAX_EPS)) > 0;
        else if (!strcmp(name, "--norm")) {
            static const char *const m[] = {"linf", "l2", NULL};
            int k = arg_choice("attack", name, v, m);
            ok = k >= 0;
            c->o.norm = k == 1 ? ATTACK_NORM_L2 : ATTACK_NORM_LINF;
        } else if (!strcmp(name, "--steps")) ok = c->set_steps = arg_int("attack", name, v, 1, 100000, &c->o.steps);
        else if (!strcmp(name, "--step-size")) ok = c->set_step_size = arg_float("attack", name, v, 1e-9, 10, &c->o.step_size);
        else if (!strcmp(name, "--restarts")) ok = c->set_restarts = arg_int("attack", name, v, 1, 1000, &c->o.restarts);
        else if (!strcmp(name, "--cw-search")) ok = arg_int("attack", name, v, 1, 100, &c->o.cw_search);
        else if (!strcmp(name, "--seed")) ok = arg_u64("attack", name, v, &c->o.seed);
        else if (!strcmp(name, "--max-images")) ok = arg_int("attack", name, v, 0, 1000000, &c->max_images);
        else if (!strcmp(name, "--target")) c->target_name = v;
        else if (!strcmp(name, "--label")) c->label = v;
        else if (!strcmp(name, "--models-dir")) c->models_dir = v;
        else if (!strcmp(name, "--batch")) c->batch_dir = v;
        else if (!strcmp(name, "--eval")) c->eval_dir = v;
        else if (!strcmp(name, "--save-input")) c->save_input = v;
        else if (!strcmp(name, "--save-diff")) c->save_diff = v;
        if (!ok) return 2;
    }
    return -1;
}

/* Sizes and ranges that need no model; returns -1 to go on, or the exit status. */
static int check(attack_cli *c) {
    int modes = (c->image != NULL) + (c->batch_dir != NULL) + (c->eval_dir != NULL);
    if (!c->model || modes != 1) {
        fprintf(stderr, "atelier attack: give a model and one of IMAGE, --batch DIR or --eval DIR (atelier attack --help)\n");
        return 2;
    }
    if (!c->eval_dir && !c->out) { fprintf(stderr, "atelier attack: -o OUT is missing\n"); return 2; }
    if (!c->eval_dir && c->neps > 1) { fprintf(stderr, "atelier attack: --eps takes one value outside --eval\n"); return 2; }
    if (c->batch_dir && c->o.method != ATTACK_METHOD_PGD) {
        fprintf(stderr, "atelier attack: --batch makes a universal perturbation by PGD (--method pgd)\n");
        return 2;
    }
    if (c->neps == 0) {
        if (c->eval_dir) {
            static const float def[] = {0, 1, 2, 4, 8, 16};
            for (int k = 0; k < 6; k++) c->eps[k] = def[k] / 255;
            c->neps = 6;
        } else {
            c->eps[0] = c->o.method == ATTACK_METHOD_CW ? 0 : 8.0f / 255;
            c->neps = 1;
        }
    }
    for (int k = 0; k < c->neps; k++) {
        if (c->o.norm == ATTACK_NORM_LINF && c->eps[k] > 1) {
            fprintf(stderr, "atelier attack: --eps %g is above 1: pixels are in [0,1] (write 8/255 for 8 levels)\n", (double)c->eps[k]);
            return 2;
        }
        if (c->o.norm == ATTACK_NORM_L2 && c->eps[k] > 1000) {
            fprintf(stderr, "atelier attack: --eps %g is above 1000 for l2\n", (double)c->eps[k]);
            return 2;
        }
        if (c->eps[k] == 0 && !c->eval_dir && c->o.method != ATTACK_METHOD_CW) {
            fprintf(stderr, "atelier attack: --eps 0 leaves the image as it is\n");
            return 2;
        }
    }
    c->o.eps = c->eps[0];
    if (!c->set_steps && c->o.method == ATTACK_METHOD_CW) c->o.steps = 100;
    return -1;
}

int cmd_attack(int argc, char **argv) {
    attack_cli c = {.o = attack_defaults()};
    if (argc < 2) { usage(stderr); return 2; }
    int rc = parse(&c, argc, argv);
    if (rc >= 0) return rc;
    if ((rc = check(&c)) >= 0) return rc;
    if (!(c.m = classify_load(c.model, c.models_dir))) return fail(NULL);
    const classify_config *mc = classify_get_config(c.m);
    c.size = mc->size;
    c.classes = mc->nclasses;
    if (classify_attack_model(c.m, &c.am, &c.an, c.size, c.size) != STATUS_OK) { rc = fail(NULL); goto done; }
    rc = 2;
    if (c.target_name && (c.o.target = class_index(&c, "--target", c.target_name)) < 0) goto done;
    if (c.label && class_index(&c, "--label", c.label) < 0) goto done;
    if (c.o.norm == ATTACK_NORM_L2) {
        float lim = sqrtf(3.0f * c.size * c.size);   /* the whole cube's diagonal */
        for (int k = 0; k < c.neps; k++)
            if (c.eps[k] > lim) {
                fprintf(stderr, "atelier attack: --eps %g is above the l2 size of a whole %dx%d image (%g)\n",
                        (double)c.eps[k], c.size, c.size, (double)lim);
                goto done;
            }
    }
    rc = c.eval_dir ? attack_eval(&c) : c.batch_dir ? run_batch(&c) : run_one(&c);
done:
    attack_net_free(&c.an);
    classify_free(c.m);
    return rc;
}
