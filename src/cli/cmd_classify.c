/* cmd_classify.c: `atelier classify train` trains an image classifier (classify.h) on
 * folders of images, one per class, with a held-out split, a progress bar, the held-out
 * accuracy and confusion matrix every epoch, a JSON-lines log, atomic checkpoints, exact
 * resume and Ctrl-C; `atelier classify MODEL IMAGE...` prints each image's probabilities. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "atelier/classify.h"
#include "atelier/dataset.h"
#include "atelier/featnet.h"
#include "atelier/safetensors.h"
#include "atelier/sha256.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/progress.h"
#include "cli/train_log.h"

#define CMD "classify train"
#define MAX_CLASSES CLASSIFY_MAX_CLASSES

typedef struct train_cli {
    const char *dirs[MAX_CLASSES], *out, *run_dir, *models_dir, *init;
    int nclasses, epochs, checkpoint_every, max_images;
    bool resume, quiet, set_size, set_layer, adversarial;
    float eps;   /* --eps as given, 0 if not */
    classify_config mc;
    classify_train_config tc;
    char run_buf[4096];
    dataset *data[MAX_CLASSES];
    classify_trainer *t;
    FILE *log;
} train_cli;

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) { (void)sig; interrupted = 1; }

static void train_usage(FILE *f) {
    fprintf(f,
        "usage: atelier classify train --class NAME=DIR --class NAME=DIR [...] --out MODEL [options]\n\n"
        "Trains an image classifier: by default a small head (global average pool + linear) on a\n"
        "trained feature network, or a small CNN from scratch (--arch cnn). Each DIR's images (jpg,\n"
        "png, webp) are resized so that their short side is --size and centre-cropped square; a\n"
        "--val fraction of each class (chosen by --seed) is held out and never trained on. The\n"
        "held-out accuracy and confusion matrix are printed after every epoch. The run folder holds\n"
        "log.jsonl, heldout.tsv (the held-out images: CLASS, TAB, PATH) and checkpoint.safetensors\n"
        "(atomic; --resume continues exactly); MODEL is written after every epoch. With a frozen\n"
        "network the features of each image are computed once.\n\n"
        "options (default in brackets):\n"
        "  --class NAME=DIR         a class and its folder (repeat: at least 2)\n"
        "  --out MODEL              the model file (.safetensors)\n"
        "  --run-dir DIR            log and checkpoint [MODEL without .safetensors, + .run]\n"
        "  --arch head|cnn          [head]\n"
        "  --net NAME               the feature network: mobilenet_v2, inception_v3, vgg19 or a TF.js\n"
        "                           folder [mobilenet_v2]\n"
        "  --layer NAME             its layer under the head [out_relu; inception_v3: mixed10;\n"
        "                           vgg19: relu5_1]\n"
        "  --hidden N               hidden units in the head, 0 for linear [0]\n"
        "  --fine-tune              train the feature network too\n"
        "  --width N                cnn: channels of the first conv [16]\n"
        "  --size N                 input side [the network's: 224 mobilenet_v2, 299 inception_v3,\n"
        "                           224 vgg19; cnn 32]\n"
        "  --detail N               shrink every image to N px and enlarge it back to --size, the\n"
        "                           same way for every class (and when predicting): no class can win\n"
        "                           on resolution, blur or JPEG blocks [0: off]\n"
        "  --epochs N               (with --resume: the new total) [10]\n"
        "  --batch N                [32]\n"
        "  --lr F                   Adam's learning rate [0.001]\n"
        "  --val F                  held-out fraction of each class, 0 .. 0.9 [0.2]\n"
        "  --seed N                 weights, split and batch order [1]\n"
        "  --no-flip                no random horizontal flips (none with cached features)\n"
        "  --adversarial pgd        adversarial training (Madry et al. 2018): --adv-fraction of each\n"
        "                           batch replaced by PGD examples against the current model\n"
        "  --eps E                  its L-inf radius, in pixel units: 0.03 or 8/255 [8/255]\n"
        "  --steps N                PGD steps [7]\n"
        "  --step-size A            PGD step [2.5 eps / steps]\n"
        "  --adv-fraction F         [0.5]\n"
        "  --init MODEL             start from a trained model's weights (the same kind, classes,\n"
        "                           network and shapes): e.g. harden a detector with --adversarial\n"
        "  --checkpoint-every N     steps, besides each epoch's end [0: epochs only]\n"
        "  --max-images N           the first N images of each class [all]\n"
        "  --models-dir DIR         where to look for the feature networks first\n"
        "  --resume                 continue the run folder's checkpoint (its own settings)\n"
        "  --quiet                  no progress bar or tables\n"
        "  -h, --help               this text\n\n"
        "Ctrl-C saves a checkpoint and stops; run again with --resume to continue.\n");
}

/* "0.03" or "8/255" */
static bool parse_eps(const char *v, float *out) {
    const char *slash = strchr(v, '/');
    char num[64];
    if (strlen(v) >= sizeof num) { fprintf(stderr, "atelier %s: --eps '%.40s': want a number such as 0.03 or 8/255\n", CMD, v); return false; }
    float a, b = 1;
    snprintf(num, sizeof num, "%.*s", slash ? (int)(slash - v) : (int)strlen(v), v);
    char *e;
    a = strtof(num, &e);
    bool ok = *num && !*e;
    if (ok && slash) { b = strtof(slash + 1, &e); ok = slash[1] && !*e && b > 0; }
    float x = a / b;
    if (!ok || !isfinite(x) || !(x > 0) || x > 1) {
        fprintf(stderr, "atelier %s: --eps '%s': want a radius in (0, 1] such as 0.03 or 8/255\n", CMD, v);
        return false;
    }
    *out = x;
    return true;
}

static bool add_class(train_cli *t, const char *v) {
    const char *eq = strchr(v, '=');
    if (!eq || eq == v || !eq[1]) { fprintf(stderr, "atelier %s: --class '%s': want NAME=DIR\n", CMD, v); return false; }
    if (t->nclasses == MAX_CLASSES) { fprintf(stderr, "atelier %s: more than %d classes\n", CMD, MAX_CLASSES); return false; }
    if ((size_t)(eq - v) >= CLASSIFY_NAME_MAX) { fprintf(stderr, "atelier %s: --class: name '%.*s' is too long\n", CMD, (int)(eq - v), v); return false; }
    snprintf(t->mc.classes[t->nclasses], CLASSIFY_NAME_MAX, "%.*s", (int)(eq - v), v);
    t->dirs[t->nclasses++] = eq + 1;
    return true;
}

static bool parse_value(train_cli *t, const char *opt, const char *v) {
    classify_config *m = &t->mc;
    classify_train_config *c = &t->tc;
    if (!strcmp(opt, "--class")) return add_class(t, v);
    else if (!strcmp(opt, "--out")) t->out = v;
    else if (!strcmp(opt, "--run-dir")) t->run_dir = v;
    else if (!strcmp(opt, "--arch")) {
        int k = arg_choice(CMD, opt, v, (const char *const[]){"head", "cnn", NULL});
        if (k < 0) return false;
        m->kind = k ? CLASSIFY_CNN : CLASSIFY_HEAD;
    } else if (!strcmp(opt, "--net")) {
        if (strlen(v) >= sizeof m->net) { fprintf(stderr, "atelier %s: --net: too long\n", CMD); return false; }
        snprintf(m->net, sizeof m->net, "%s", v);
    } else if (!strcmp(opt, "--layer")) {
        if (strlen(v) >= sizeof m->layer) { fprintf(stderr, "atelier %s: --layer: too long\n", CMD); return false; }
        snprintf(m->layer, sizeof m->layer, "%s", v);
        t->set_layer = true;
    } else if (!strcmp(opt, "--hidden")) return arg_int(CMD, opt, v, 0, 4096, &m->hidden);
    else if (!strcmp(opt, "--width")) return arg_int(CMD, opt, v, 1, 256, &m->width);
    else if (!strcmp(opt, "--size")) { t->set_size = true; return arg_int(CMD, opt, v, 8, 1024, &m->size); }
    else if (!strcmp(opt, "--detail")) return arg_int(CMD, opt, v, 0, 1024, &m->detail);
    else if (!strcmp(opt, "--epochs")) return arg_int(CMD, opt, v, 1, 1000000, &t->epochs);
    else if (!strcmp(opt, "--batch")) return arg_int(CMD, opt, v, 1, 1024, &c->batch);
    else if (!strcmp(opt, "--lr")) return arg_float(CMD, opt, v, 1e-7, 0.5, &c->lr);
    else if (!strcmp(opt, "--val")) return arg_float(CMD, opt, v, 0, 0.9, &c->val);
    else if (!strcmp(opt, "--seed")) {
        if (!arg_u64(CMD, opt, v, &c->seed)) return false;
        m->seed = c->seed;
    } else if (!strcmp(opt, "--adversarial")) {
        if (arg_choice(CMD, opt, v, (const char *const[]){"pgd", NULL}) < 0) return false;
        t->adversarial = true;
    } else if (!strcmp(opt, "--eps")) return parse_eps(v, &t->eps);
    else if (!strcmp(opt, "--steps")) return arg_int(CMD, opt, v, 1, 1000, &c->adv_steps);
    else if (!strcmp(opt, "--step-size")) return arg_float(CMD, opt, v, 1e-6, 1, &c->adv_step_size);
    else if (!strcmp(opt, "--adv-fraction")) return arg_float(CMD, opt, v, 0.01, 1, &c->adv_fraction);
    else if (!strcmp(opt, "--checkpoint-every")) return arg_int(CMD, opt, v, 0, 100000000, &t->checkpoint_every);
    else if (!strcmp(opt, "--max-images")) return arg_int(CMD, opt, v, 1, 100000000, &t->max_images);
    else if (!strcmp(opt, "--models-dir")) t->models_dir = v;
    else if (!strcmp(opt, "--init")) t->init = v;
    else {
        fprintf(stderr, "atelier %s: unknown option '%s' (atelier classify train --help lists them)\n", CMD, opt);
        return false;
    }
    return true;
}

/* 1: help shown, 0: parsed, -1: error (printed) */
static int train_parse(int argc, char **argv, train_cli *t) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
        if (!strcmp(a, "--resume")) { t->resume = true; continue; }
        if (!strcmp(a, "--quiet")) { t->quiet = true; continue; }
        if (!strcmp(a, "--no-flip")) { t->tc.no_flip = true; continue; }
        if (!strcmp(a, "--fine-tune")) { t->mc.fine_tune = true; continue; }
        if (a[0] != '-') { fprintf(stderr, "atelier %s: unexpected argument '%s'\n", CMD, a); return -1; }
        char buf[64];
        const char *v, *opt = arg_split(argc, argv, &i, buf, sizeof buf, &v);
        if (!v) { fprintf(stderr, "atelier %s: %s needs a value\n", CMD, opt); return -1; }
        if (!parse_value(t, opt, v)) return -1;
    }
    if (t->eps > 0 && !t->adversarial) { fprintf(stderr, "atelier %s: --eps is for adversarial training: add --adversarial pgd\n", CMD); return -1; }
    t->tc.adv_eps = t->adversarial ? (t->eps > 0 ? t->eps : 8.0f / 255) : 0;
    if (!t->out) { fprintf(stderr, "atelier %s: no model file: give --out MODEL\n", CMD); return -1; }
    if (t->nclasses < 2 && !(t->resume && t->nclasses == 0)) {
        fprintf(stderr, "atelier %s: %d class%s given: give at least 2 (--class NAME=DIR)\n", CMD, t->nclasses, t->nclasses == 1 ? "" : "es");
        return -1;
    }
    return 0;
}

/* ---- the feature network's hash: its model.json and weight files ---- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The SHA-256 of the hashes of FOLDER/model.json and FOLDER's *.bin files in name order. */
static bool net_hash(const char *spec, const char *models_dir, char out[65]) {
    char dir[4096];
    struct stat st;
    if (!strcmp(spec, "vgg19")) { snprintf(out, 65, "built-in"); return true; }
    if (!featnet_find(spec, models_dir, dir, sizeof dir)) {
        if (stat(spec, &st) != 0) return false;
        snprintf(dir, sizeof dir, "%s", spec);
        if (!S_ISDIR(st.st_mode)) { char *s = strrchr(dir, '/'); if (s) *s = 0; else snprintf(dir, sizeof dir, "."); }
    }
    DIR *d = opendir(dir);
    if (!d) return false;
    char *names[512];
    int n = 0;
    for (struct dirent *e; n < 512 && (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if ((l > 4 && !strcmp(e->d_name + l - 4, ".bin")) || !strcmp(e->d_name, "model.json")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    char *all = calloc((size_t)n + 1, 65);
    bool ok = all != NULL && n > 0;
    for (int i = 0; ok && i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        ok = names[i] && sha256_file(path, all + 64 * i);
    }
    if (ok) sha256_hex(all, (size_t)64 * n, out);
    for (int i = 0; i < n; i++) free(names[i]);
    free(all);
    return ok;
}

/* ---- setup ---- */

static void run_path(const train_cli *t, const char *name, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s", t->run_dir, name);
}

static bool fail(const char *what) {
    fprintf(stderr, "atelier %s: %s%s%s\n", CMD, what ? what : "", what ? ": " : "", error_message());
    return false;
}

/* RUN/heldout.tsv: the held-out images, "CLASS<TAB>PATH" a line (atelier attack --eval). */
static bool write_heldout(train_cli *t) {
    char path[8192], tmp[8300];
    run_path(t, "heldout.tsv", path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) { fprintf(stderr, "atelier %s: cannot write %s: %s\n", CMD, tmp, strerror(errno)); return false; }
    const classify_config *c = classify_get_config(classify_trainer_model(t->t));
    for (int i = 0; i < classify_trainer_count(t->t, true); i++) {
        int k, j;
        classify_trainer_heldout(t->t, i, &k, &j);
        fprintf(f, "%s\t%s/%s\n", c->classes[k], t->dirs[k], t->data[k]->names[j]);
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "atelier %s: cannot write %s: %s\n", CMD, path, strerror(errno));
        remove(tmp);
        return false;
    }
    return true;
}

/* The model settings (from the checkpoint on resume), the data, then the run folder. */
static bool setup(train_cli *t) {
    if (!t->run_dir) {
        size_t l = strlen(t->out);
        const char *ext = ".safetensors";
        int cut = l > strlen(ext) && !strcmp(t->out + l - strlen(ext), ext) ? (int)(l - strlen(ext)) : (int)l;
        snprintf(t->run_buf, sizeof t->run_buf, "%.*s.run", cut, t->out);
        t->run_dir = t->run_buf;
    }
    char ck[8192];
    run_path(t, "checkpoint.safetensors", ck, sizeof ck);
    if (t->resume) {
        safetensors *f = safetensors_open(ck);
        if (!f) return fail("--resume");
        const char *ns = safetensors_metadata(f, "nclasses"), *cs = safetensors_metadata(f, "classes");
        const char *sz = safetensors_metadata(f, "image_size");
        int n = ns ? atoi(ns) : 0;
        if (t->nclasses != n && t->nclasses) {
            fprintf(stderr, "atelier %s: --resume: the run has %d classes, %d given\n", CMD, n, t->nclasses);
            safetensors_close(f);
            return false;
        }
        if (!t->nclasses) { fprintf(stderr, "atelier %s: --resume: give the run's --class NAME=DIR again (%s)\n", CMD, cs ? cs : "?"); safetensors_close(f); return false; }
        const char *dt = safetensors_metadata(f, "detail");
        t->mc.size = sz ? atoi(sz) : 0;
        t->mc.detail = dt ? atoi(dt) : 0;
        safetensors_close(f);
    } else {
        FILE *probe = fopen(ck, "rb");
        if (probe) {
            fclose(probe);
            fprintf(stderr, "atelier %s: %s already holds a run: continue it with --resume, or choose another --out or --run-dir\n", CMD, t->run_dir);
            return false;
        }
        t->mc.nclasses = t->nclasses;
        bool cnn = t->mc.kind == CLASSIFY_CNN, incep = strstr(t->mc.net, "inception") != NULL;
        if (!t->set_size) t->mc.size = cnn ? 32 : incep ? 299 : 224;
        if (!t->set_layer) snprintf(t->mc.layer, sizeof t->mc.layer, "%s", incep ? "mixed10" : !strcmp(t->mc.net, "vgg19") ? "relu5_1" : "out_relu");
    }
    for (int k = 0; k < t->nclasses; k++)
        if (!(t->data[k] = dataset_load_dir(t->dirs[k], t->mc.size, t->max_images))) {
            char what[128];
            snprintf(what, sizeof what, "class %s", t->mc.classes[k]);
            return fail(what);
        }
    if (t->resume) {
        if (!(t->t = classify_trainer_load(ck, t->models_dir, (const dataset *const *)t->data, t->nclasses))) return fail("--resume");
    } else {
        if (t->mc.kind == CLASSIFY_HEAD && !net_hash(t->mc.net, t->models_dir, t->mc.net_sha256)) t->mc.net_sha256[0] = 0;
        classifier *m = classify_new(&t->mc, t->models_dir), *init = NULL;
        if (m && t->init) {
            init = classify_load(t->init, t->models_dir);
            bool ok = init && classify_copy_weights(m, init) == STATUS_OK;
            classify_free(init);
            if (!ok) { classify_free(m); return fail("--init"); }
        }
        if (!m || !(t->t = classify_trainer_new(m, &t->tc, (const dataset *const *)t->data))) return fail(NULL);
    }
    /* the model's own detail step (validated with the model) */
    for (int k = 0; k < t->nclasses; k++)
        if (classify_apply_detail(t->mc.detail, t->data[k]->pixels, t->data[k]->n, t->mc.size) != STATUS_OK) return fail("--detail");
    if (mkdir(t->run_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "atelier %s: cannot create run folder %s: %s\n", CMD, t->run_dir, strerror(errno));
        return false;
    }
    char path[8192];
    if (!write_heldout(t)) return false;
    run_path(t, "log.jsonl", path, sizeof path);
    return (t->log = train_log_reopen(CMD, path, classify_trainer_steps(t->t), NULL, NULL)) != NULL;
}

/* ---- the loop ---- */

static void cache_progress(int done, int total, void *user) {
    progress *p = user;
    progress_update(p, done, "caching the network's features");
}

static void print_confusion(const train_cli *t, const int64_t *conf) {
    const classify_config *c = classify_get_config(classify_trainer_model(t->t));
    int K = c->nclasses, w = 8;
    for (int k = 0; k < K; k++) w = (int)strlen(c->classes[k]) + 1 > w ? (int)strlen(c->classes[k]) + 1 : w;
    fprintf(stderr, "  %*s  predicted:\n  %*s", w, "true", w, "");
    for (int k = 0; k < K; k++) fprintf(stderr, " %*s", w, c->classes[k]);
    fprintf(stderr, "\n");
    for (int i = 0; i < K; i++) {
        fprintf(stderr, "  %*s", w, c->classes[i]);
        for (int j = 0; j < K; j++) fprintf(stderr, " %*lld", w, (long long)conf[i * K + j]);
        fprintf(stderr, "\n");
    }
}

/* Held-out accuracy and confusion: logged, and printed unless quiet. */
static bool evaluate(train_cli *t, int epoch, bool final) {
    int K = classify_get_config(classify_trainer_model(t->t))->nclasses;
    int64_t conf[MAX_CLASSES * MAX_CLASSES];
    double acc;
    if (classify_trainer_eval(t->t, conf, &acc) != STATUS_OK) return fail("held-out evaluation");
    int n = classify_trainer_count(t->t, true);
    fprintf(t->log, "{\"step\":%lld,\"epoch\":%d,\"val_acc\":%.6g,\"val_n\":%d,\"confusion\":[",
            (long long)classify_trainer_steps(t->t), epoch, isnan(acc) ? -1.0 : acc, n);
    for (int i = 0; i < K; i++) {
        fprintf(t->log, "%s[", i ? "," : "");
        for (int j = 0; j < K; j++) fprintf(t->log, "%s%lld", j ? "," : "", (long long)conf[i * K + j]);
        fprintf(t->log, "]");
    }
    fprintf(t->log, "]}\n");
    fflush(t->log);
    if (!t->quiet || final) {
        if (isnan(acc)) fprintf(stderr, "%sepoch %d: no held-out images (--val 0)\n", t->quiet ? "" : "\n", epoch);
        else {
            fprintf(stderr, "%s%sepoch %d: held-out accuracy %.4f (%lld of %d)\n", t->quiet ? "" : "\n", final ? "final, " : "", epoch, acc,
                    (long long)llround(acc * n), n);
            print_confusion(t, conf);
        }
    }
    return true;
}

static bool save_all(train_cli *t) {
    char ck[8192];
    run_path(t, "checkpoint.safetensors", ck, sizeof ck);
    if (classify_trainer_save(t->t, ck) != STATUS_OK || classify_save(classify_trainer_model(t->t), t->out) != STATUS_OK)
        return fail(NULL);
    return true;
}

static int train_loop(train_cli *t) {
    int spe = classify_trainer_steps_per_epoch(t->t);
    int64_t start = classify_trainer_steps(t->t), total = (int64_t)t->epochs * spe;
    const classify_config *mc = classify_get_config(classify_trainer_model(t->t));
    const classify_train_config *tc = classify_trainer_config(t->t);
    if (!t->quiet) {
        fprintf(stderr, "training a %s classifier (%s%s%s%s) on %d images of %d classes (%d held out), %dpx, batch %d%s; steps %lld..%lld\n",
                mc->kind == CLASSIFY_HEAD ? "head" : "cnn", mc->kind == CLASSIFY_HEAD ? mc->net : "from scratch",
                mc->kind == CLASSIFY_HEAD ? " " : "", mc->kind == CLASSIFY_HEAD ? mc->layer : "", mc->fine_tune ? ", fine-tuned" : "",
                classify_trainer_count(t->t, false), mc->nclasses, classify_trainer_count(t->t, true), mc->size, tc->batch,
                tc->adv_eps > 0 ? ", adversarial PGD" : classify_trainer_cached(t->t) ? ", cached features" : "",
                (long long)start, (long long)total);
    }
    if (classify_trainer_cached(t->t) && start < total) {
        int n = classify_trainer_count(t->t, false) + classify_trainer_count(t->t, true);
        progress p = progress_start(n, t->quiet);
        if (classify_trainer_prepare(t->t, cache_progress, &p) != STATUS_OK) return fail("features") ? 0 : 1;
        progress_finish(&p, NULL);
    }
    progress bar = progress_start(total - start, t->quiet);
    double t0 = progress_now();
    int64_t images = 0;
    for (int64_t s = start; s < total; s++) {
        classify_train_stats st;
        if (classify_trainer_step(t->t, &st) != STATUS_OK) {
            fprintf(stderr, "\natelier %s: step %lld: %s\n", CMD, (long long)s, error_message());
            return 1;
        }
        int64_t done = s + 1;
        int b = (int)(s % spe) == spe - 1 ? classify_trainer_count(t->t, false) - (spe - 1) * tc->batch : tc->batch;
        images += b;
        double el = progress_now() - t0;
        fprintf(t->log, "{\"step\":%lld,\"epoch\":%.4f,\"loss\":%.6g,\"acc\":%.4g,\"seconds\":%.3f}\n", (long long)done,
                (double)done / spe, st.loss, st.accuracy, el);
        char info[128];
        snprintf(info, sizeof info, "epoch %lld loss %.4f acc %.2f  %.1f img/s", (long long)(s / spe) + 1, st.loss, st.accuracy,
                 (double)images / (el + 1e-9));
        progress_update(&bar, done - start, info);
        bool epoch_end = done % spe == 0;
        if (epoch_end && !evaluate(t, (int)(done / spe), done == total)) return 1;
        if (epoch_end || (t->checkpoint_every && done % t->checkpoint_every == 0) || interrupted) {
            fflush(t->log);
            if (!save_all(t)) return 1;
        }
        if (interrupted) {
            fprintf(stderr, "\natelier %s: interrupted at step %lld; checkpoint saved: continue with --resume\n", CMD, (long long)done);
            return 130;
        }
    }
    progress_finish(&bar, NULL);
    if (start == total && (!evaluate(t, t->epochs, true) || !save_all(t))) return 1;
    if (!t->quiet) fprintf(stderr, "done: %s (atelier classify %s IMAGE...)\n", t->out, t->out);
    return 0;
}

static void train_free(train_cli *t) {
    if (t->log) fclose(t->log);
    classify_trainer_free(t->t);
    for (int k = 0; k < MAX_CLASSES; k++) dataset_free(t->data[k]);
}

static int cmd_train(int argc, char **argv) {
    train_cli t = {.epochs = 10, .mc = classify_defaults(CLASSIFY_HEAD), .tc = classify_train_defaults()};
    int r = train_parse(argc, argv, &t);
    if (r) { if (r > 0) train_usage(stdout); return r > 0 ? 0 : 2; }
    signal(SIGINT, on_sigint);   /* from the start: a Ctrl-C while loading stops after one step, saved */
    int rc = setup(&t) ? train_loop(&t) : 1;
    train_free(&t);
    return rc;
}

/* ---- predict ---- */

static void predict_usage(FILE *f) {
    fprintf(f,
        "usage: atelier classify MODEL IMAGE... [--json] [--models-dir DIR]\n"
        "       atelier classify train --class NAME=DIR ... --out MODEL [options]   (train --help)\n\n"
        "Prints each image's class probabilities under a classifier trained by `atelier classify\n"
        "train` (images resized so that their short side is the model's size, centre-cropped).\n\n"
        "options (default in brackets):\n"
        "  --json                   one JSON object per image, one a line\n"
        "  --models-dir DIR         where to look for the feature network first\n"
        "  -h, --help               this text\n");
}

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

/* The model's network must be the one it was trained on. */
static bool check_net(const classifier *m, const char *model, const char *models_dir) {
    const classify_config *c = classify_get_config(m);
    char h[65];
    if (c->kind != CLASSIFY_HEAD || !c->net_sha256[0] || c->fine_tune) return true;
    if (net_hash(c->net, models_dir, h) && strcmp(h, c->net_sha256) != 0) {
        fprintf(stderr, "atelier classify: %s was trained on another copy of %s (its hash differs): reinstall the network "
                        "(scripts/install-models.sh) or retrain\n", model, c->net);
        return false;
    }
    return true;
}

static int cmd_predict(int argc, char **argv) {
    const char *model = NULL, *models_dir = NULL, *imgs[4096];
    int n = 0;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { predict_usage(stdout); return 0; }
        if (!strcmp(a, "--json")) { json = true; continue; }
        if (!strcmp(a, "--models-dir")) {
            if (i + 1 >= argc) { fprintf(stderr, "atelier classify: --models-dir needs a value\n"); return 2; }
            models_dir = argv[++i];
            continue;
        }
        if (a[0] == '-' && a[1]) { fprintf(stderr, "atelier classify: unknown option '%s' (atelier classify --help)\n", a); return 2; }
        if (!model) model = a;
        else if (n < 4096) imgs[n++] = a;
        else { fprintf(stderr, "atelier classify: more than 4096 images\n"); return 2; }
    }
    if (!model || !n) { fprintf(stderr, "atelier classify: give a model and at least one image (atelier classify --help)\n"); return 2; }
    classifier *m = classify_load(model, models_dir);
    if (!m) { fprintf(stderr, "atelier classify: %s\n", error_message()); return 1; }
    if (!check_net(m, model, models_dir)) { classify_free(m); return 1; }
    const classify_config *c = classify_get_config(m);
    int S = c->size, K = c->nclasses;
    float *x = malloc(sizeof(float) * 3 * (size_t)S * S), *p = malloc(sizeof(float) * (size_t)K * n);
    int rc = x && p ? 0 : 1;
    if (rc) fprintf(stderr, "atelier classify: out of memory\n");
    /* every image first, so that a bad one leaves no output */
    for (int i = 0; !rc && i < n; i++) {
        if (classify_load_image(m, imgs[i], x) != STATUS_OK) { fprintf(stderr, "atelier classify: %s\n", error_message()); rc = 1; break; }
        if (classify_probs(m, x, 1, S, S, p + (int64_t)i * K) != STATUS_OK) { fprintf(stderr, "atelier classify: %s: %s\n", imgs[i], error_message()); rc = 1; }
    }
    for (int i = 0; !rc && i < n; i++) {
        const float *pi = p + (int64_t)i * K;
        int best = 0;
        for (int k = 1; k < K; k++) best = pi[k] > pi[best] ? k : best;
        if (json) {
            printf("{\"image\":");
            json_str(imgs[i]);
            printf(",\"class\":");
            json_str(c->classes[best]);
            printf(",\"probabilities\":{");
            for (int k = 0; k < K; k++) { printf("%s", k ? "," : ""); json_str(c->classes[k]); printf(":%.6f", pi[k]); }
            printf("}}\n");
        } else {
            printf("%s: %s", imgs[i], c->classes[best]);
            for (int k = 0; k < K; k++) printf("  %s %.4f", c->classes[k], pi[k]);
            printf("\n");
        }
    }
    free(x); free(p);
    classify_free(m);
    return rc;
}

int cmd_classify(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        predict_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "train")) return cmd_train(argc - 1, argv + 1);
    return cmd_predict(argc, argv);
}
