/* cmd_style_net.c: `atelier style-net train`: a fast style network (stylenet.h) trained on
 * a folder of photos against one or more paintings, with a progress bar, a JSON-lines log,
 * loss curves, sample grids of a held-out validation set, atomic checkpoints, exact resume
 * and Ctrl-C; `atelier style-net show MODEL` lists a model's styles. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "atelier/dataset.h"
#include "atelier/dist.h"
#include "atelier/featnet.h"
#include "atelier/ops.h"
#include "atelier/plot.h"
#include "atelier/safetensors.h"
#include "atelier/stylenet.h"
#include "atelier/stylize.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/progress.h"
#include "cli/train_log.h"

#define CMD "style-net train"
#define MAX_STYLES STYLENET_MAX_STYLES
#define MAX_VAL 8

typedef struct train_cli {
    const char *data, *out, *styles[MAX_STYLES], *names[MAX_STYLES], *net, *models_dir;
    int nstyles, nnames;
    stylenet_train_config c;
    bool set_cw, set_sw, set_tv, set_cl, set_sl, set_temporal;   /* given on the command line */
    int steps, sample_every, checkpoint_every;
    bool resume, quiet;
    /* the run */
    dist *d;                     /* the processes (mpirun -np K): rank 0 writes every file */
    int rank, ranks;
    featnet *fn;
    stylenet_trainer *t;
    dataset *ds;
    FILE *log;
    progress bar;
    double *hx, *hl, *hc, *hs, *vx, *vl;
    int nh, caph, nv, capv;
} train_cli;

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) { (void)sig; interrupted = 1; }

static void train_usage(FILE *f) {
    fprintf(f,
        "usage: atelier style-net train --style PAINTING [--style PAINTING ...] --data PHOTOS_DIR\n"
        "                               --out RUN_DIR [options]\n\n"
        "Trains a fast style network (Johnson et al. 2016 with the conditional instance norm of\n"
        "Dumoulin et al. 2017): one network paints photos in every given style, one forward pass\n"
        "an image (atelier stylize PHOTO --model RUN_DIR/model.safetensors). The loss is stylize's\n"
        "(content and Gram style losses on a trained feature network, and total variation).\n"
        "PHOTOS_DIR's images (jpg, png, webp) are resized so that their short side is --load-size,\n"
        "centre-cropped square, and cut into random --image-size crops; the last --val photos (in\n"
        "name order) are held out as the validation set. RUN_DIR receives log.jsonl, curves.svg,\n"
        "samples_STEP.jpg (the validation photos in every style), checkpoint.safetensors (atomic;\n"
        "--resume continues exactly) and model.safetensors.\n\n"
        "options (default in brackets):\n"
        "  --style FILE             a painting (repeat for more styles, up to %d)\n"
        "  --name NAME              the styles' names, in order (repeat) [the files' names]\n"
        "  --width F                network width: 1 is Johnson et al.'s, 0.5 is ~4x cheaper [0.5]\n"
        "  --image-size N           training crops, a multiple of 4 [256]\n"
        "  --load-size N            photos' short side before cropping [--image-size]\n"
        "  --style-size N           long side of the paintings: the stroke scale [512]\n"
        "  --batch N                [4]\n"
        "  --steps N                Adam steps in all (with --resume: the new total) [4000]\n"
        "  --lr F                   Adam's learning rate [0.001]\n"
        "  --net NAME               the loss network: inception_v3, mobilenet_v2, vgg19 or a TF.js\n"
        "                           folder [inception_v3 when installed, else vgg19]\n"
        "  --models-dir DIR         where to look for the networks first\n"
        "  --content-weight F, --style-weight F, --tv-weight F\n"
        "                           the loss weights [the network's stylize defaults: 1, 100, 10]\n"
        "  --content-layers L, --style-layers L\n"
        "                           [the network's stylize defaults; atelier models show NET]\n"
        "  --temporal-weight F      steadiness for video: also paint each batch moved by 0-3 px with\n"
        "                           a little noise and penalise what changes beyond the move\n"
        "                           (stylenet.h); with --resume it applies from then on [0 = off]\n"
        "  --seed N                 [1]\n"
        "  --val N                  validation photos held out (0 .. %d) [4]\n"
        "  --sample-every N         validation losses and a sample grid every N steps [250]\n"
        "  --checkpoint-every N     [250]\n"
        "  --max-images N           use the first N photos [all]\n"
        "  --no-flip                no random horizontal flips\n"
        "  --resume                 continue RUN_DIR's checkpoint (its own settings and data options)\n"
        "  --quiet                  no progress bar\n"
        "  -h, --help               this text\n\n"
        "Ctrl-C saves a checkpoint and stops; run again with --resume to continue.\n",
        MAX_STYLES, MAX_VAL);
}

static bool parse_value(train_cli *t, const char *opt, const char *v) {
    stylenet_train_config *c = &t->c;
    if (!strcmp(opt, "--data")) t->data = v;
    else if (!strcmp(opt, "--out")) t->out = v;
    else if (!strcmp(opt, "--style")) {
        if (t->nstyles == MAX_STYLES) { fprintf(stderr, "atelier %s: more than %d styles\n", CMD, MAX_STYLES); return false; }
        t->styles[t->nstyles++] = v;
    } else if (!strcmp(opt, "--name")) {
        if (t->nnames == MAX_STYLES) { fprintf(stderr, "atelier %s: more than %d names\n", CMD, MAX_STYLES); return false; }
        t->names[t->nnames++] = v;
    } else if (!strcmp(opt, "--width")) return arg_float(CMD, opt, v, 0.125, 2, &c->width);
    else if (!strcmp(opt, "--image-size")) return arg_int(CMD, opt, v, 32, 2048, &c->image_size);
    else if (!strcmp(opt, "--load-size")) return arg_int(CMD, opt, v, 32, DATASET_MAX_SIZE, &c->load_size);
    else if (!strcmp(opt, "--style-size")) return arg_int(CMD, opt, v, 32, 4096, &c->style_size);
    else if (!strcmp(opt, "--batch")) return arg_int(CMD, opt, v, 1, 256, &c->batch);
    else if (!strcmp(opt, "--steps")) return arg_int(CMD, opt, v, 1, 100000000, &t->steps);
    else if (!strcmp(opt, "--lr")) return arg_float(CMD, opt, v, 1e-7, 0.5, &c->lr);
    else if (!strcmp(opt, "--net")) t->net = v;
    else if (!strcmp(opt, "--models-dir")) t->models_dir = v;
    else if (!strcmp(opt, "--content-weight")) { t->set_cw = true; return arg_float(CMD, opt, v, 0, 1e9, &c->content_weight); }
    else if (!strcmp(opt, "--style-weight")) { t->set_sw = true; return arg_float(CMD, opt, v, 0, 1e9, &c->style_weight); }
    else if (!strcmp(opt, "--tv-weight")) { t->set_tv = true; return arg_float(CMD, opt, v, 0, 1e9, &c->tv_weight); }
    else if (!strcmp(opt, "--temporal-weight")) { t->set_temporal = true; return arg_float(CMD, opt, v, 0, 1e9, &c->temporal_weight); }
    else if (!strcmp(opt, "--content-layers") || !strcmp(opt, "--style-layers")) {
        bool content = opt[2] == 'c';
        char *dst = content ? c->content_layers : c->style_layers;
        if (strlen(v) >= sizeof c->content_layers) { fprintf(stderr, "atelier %s: %s: too long\n", CMD, opt); return false; }
        snprintf(dst, sizeof c->content_layers, "%s", v);
        if (content) t->set_cl = true; else t->set_sl = true;
    } else if (!strcmp(opt, "--seed")) return arg_u64(CMD, opt, v, &c->seed);
    else if (!strcmp(opt, "--val")) return arg_int(CMD, opt, v, 0, MAX_VAL, &c->val);
    else if (!strcmp(opt, "--sample-every")) return arg_int(CMD, opt, v, 0, 100000000, &t->sample_every);
    else if (!strcmp(opt, "--checkpoint-every")) return arg_int(CMD, opt, v, 0, 100000000, &t->checkpoint_every);
    else if (!strcmp(opt, "--max-images")) return arg_int(CMD, opt, v, 1, 100000000, &c->max_images);
    else {
        fprintf(stderr, "atelier %s: unknown option '%s' (atelier style-net train --help lists them)\n", CMD, opt);
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
        if (!strcmp(a, "--no-flip")) { t->c.no_flip = true; continue; }
        if (a[0] != '-') { fprintf(stderr, "atelier %s: unexpected argument '%s'\n", CMD, a); return -1; }
        char buf[64];
        const char *v, *opt = arg_split(argc, argv, &i, buf, sizeof buf, &v);
        if (!v) { fprintf(stderr, "atelier %s: %s needs a value\n", CMD, opt); return -1; }
        if (!parse_value(t, opt, v)) return -1;
    }
    if (!t->data) { fprintf(stderr, "atelier %s: no photos: give --data PHOTOS_DIR\n", CMD); return -1; }
    if (!t->out) { fprintf(stderr, "atelier %s: no run folder: give --out RUN_DIR\n", CMD); return -1; }
    if (!t->resume && !t->nstyles) { fprintf(stderr, "atelier %s: no painting: give --style FILE (one or more)\n", CMD); return -1; }
    if (t->nnames && t->nnames != t->nstyles) {
        fprintf(stderr, "atelier %s: %d --name for %d --style: give one name per style, or none\n", CMD, t->nnames, t->nstyles);
        return -1;
    }
    if (t->c.image_size % 4) { fprintf(stderr, "atelier %s: --image-size %d: want a multiple of 4\n", CMD, t->c.image_size); return -1; }
    return 0;
}

/* ---- paths, log and curves ---- */

static void run_path(const train_cli *t, const char *name, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s", t->out, name);
}

static bool grow(double **p, int n, int *cap, int want_cap) {
    if (n < *cap) return true;
    double *q = realloc(*p, sizeof(double) * (size_t)want_cap);
    if (!q) return false;
    *p = q;
    return true;
}

static void hist_train(train_cli *t, double step, const stylenet_train_stats *s) {
    if (t->nh == t->caph) {
        int cap = t->caph ? 2 * t->caph : 1024;
        if (!grow(&t->hx, t->nh, &t->caph, cap) || !grow(&t->hl, t->nh, &t->caph, cap) ||
            !grow(&t->hc, t->nh, &t->caph, cap) || !grow(&t->hs, t->nh, &t->caph, cap))
            return;
        t->caph = cap;
    }
    t->hx[t->nh] = step;
    t->hl[t->nh] = s->loss;
    t->hc[t->nh] = s->content * t->c.content_weight;
    t->hs[t->nh] = s->style * t->c.style_weight;
    t->nh++;
}

static void hist_val(train_cli *t, double step, double loss) {
    if (t->nv == t->capv) {
        int cap = t->capv ? 2 * t->capv : 256;
        if (!grow(&t->vx, t->nv, &t->capv, cap) || !grow(&t->vl, t->nv, &t->capv, cap)) return;
        t->capv = cap;
    }
    t->vx[t->nv] = step;
    t->vl[t->nv] = loss;
    t->nv++;
}

/* On resume: the log's lines up to the checkpoint's step rebuild the history. */
static void kept_line(const char *line, double s, void *user) {
    train_cli *t = user;
    double l, c, st, tv, vl;
    if (train_log_num(line, "val_loss", &vl)) hist_val(t, s, vl);
    else if (train_log_num(line, "loss", &l) && train_log_num(line, "content", &c) && train_log_num(line, "style", &st) &&
             train_log_num(line, "tv", &tv)) {
        stylenet_train_stats x = {l, c, st, tv, 0};
        hist_train(t, s, &x);
    }
}

static void write_curves(train_cli *t) {
    if (t->nh < 2) return;
    char path[4096];
    plot_series s[4] = {{"loss (training batch)", t->hx, t->hl, t->nh}, {"content part", t->hx, t->hc, t->nh},
                        {"style part", t->hx, t->hs, t->nh}, {"validation loss", t->vx, t->vl, t->nv}};
    plot_opts o = plot_defaults();
    o.title = "style network training";
    o.xlabel = "step";
    o.ylabel = "weighted loss";
    o.smooth = t->nh > 200 ? t->nh / 50 : 1;
    run_path(t, "curves.svg", path, sizeof path);
    if (plot_svg_write(path, s, t->nv >= 2 ? 4 : 3, &o) != STATUS_OK) fprintf(stderr, "atelier %s: warning: %s\n", CMD, error_message());
}

/* ---- data ---- */

static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* This rank's rows [lo, hi) of the photos of step `step`: drawn from the training part (all
 * but the validation photos), flipped, cropped at offsets from (seed, step, i), i the row in
 * the whole batch, so any number of ranks sees the same batch; (hi - lo, 3, S, S) in [0, 1]. */
static tensor *train_batch(train_cli *t, arena *a, int64_t step) {
    int B = t->c.batch, n = t->ds->n - t->c.val, s = t->c.image_size, l = t->ds->size, lo, hi;
    dist_share(B, t->rank, t->ranks, &lo, &hi);
    int *idx = arena_alloc(a, sizeof(int) * (size_t)B), b = hi - lo;
    bool *flip = arena_alloc(a, sizeof(bool) * (size_t)B);
    if (!idx || !flip || dataset_draw(t->c.seed, (uint64_t)step, n, B, !t->c.no_flip, idx, flip) != STATUS_OK) return NULL;
    tensor *full = dataset_batch(t->ds, a, idx + lo, flip + lo, b), *x = tensor_new(a, 4, (int[]){b, 3, s, s});
    if (!full || !x) return NULL;
    for (int i = 0; i < b; i++) {
        uint64_t h = mix64(t->c.seed ^ mix64((uint64_t)step * 1024 + (uint64_t)(lo + i)));
        int oy = (int)(h % (uint64_t)(l - s + 1)), ox = (int)((h >> 32) % (uint64_t)(l - s + 1));
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < s; y++) {
                const float *src = full->data + (((int64_t)i * 3 + c) * l + oy + y) * l + ox;
                float *dst = x->data + (((int64_t)i * 3 + c) * s + y) * s;
                for (int k = 0; k < s; k++) dst[k] = 0.5f * (src[k] + 1.0f);
            }
    }
    return x;
}

/* The validation photos (the last nval), centre-cropped: (V, 3, S, S) in [0, 1]. */
static tensor *val_batch(train_cli *t, arena *a) {
    int v = t->c.val, s = t->c.image_size, l = t->ds->size, o = (l - s) / 2;
    int idx[MAX_VAL];
    for (int i = 0; i < v; i++) idx[i] = t->ds->n - v + i;
    tensor *full = dataset_batch(t->ds, a, idx, NULL, v), *x = tensor_new(a, 4, (int[]){v, 3, s, s});
    if (!full || !x) return NULL;
    for (int i = 0; i < v; i++)
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < s; y++)
                for (int k = 0; k < s; k++)
                    x->data[(((int64_t)i * 3 + c) * s + y) * s + k] =
                        0.5f * (full->data[(((int64_t)i * 3 + c) * l + o + y) * l + o + k] + 1.0f);
    return x;
}

/* Validation: each style's loss on the validation photos (logged), and a grid of the
 * photos (rows) painted in every style (columns after the photo). */
static bool validate(train_cli *t, int64_t step) {
    if (!t->c.val) return true;
    arena *a = arena_new(16 << 20);
    const stylenet_train_config *c = stylenet_trainer_config(t->t);
    stylenet *net = stylenet_trainer_model(t->t);
    int v = t->c.val, S = c->nstyles, s = c->image_size;
    tensor *x = a ? val_batch(t, a) : NULL;
    tensor *grid = x ? tensor_new(a, 4, (int[]){v * (S + 1), 3, s, s}) : NULL;
    bool ok = grid != NULL;
    double total = 0;
    fprintf(t->log, "{\"step\":%lld,\"val\":true", (long long)step);
    for (int k = 0; ok && k < S; k++) {
        stylenet_train_stats st;
        if (stylenet_trainer_eval(t->t, x, k, &st) != STATUS_OK) { ok = false; break; }
        fprintf(t->log, ",\"%s\":[%.6g,%.6g,%.6g]", net->names[k], st.loss, st.content, st.style);
        total += st.loss / S;
    }
    fprintf(t->log, ",\"val_loss\":%.6g}\n", total);
    fflush(t->log);
    if (ok) hist_val(t, (double)step, total);
    bool was = autograd_set(false);
    int64_t im = (int64_t)3 * s * s;
    for (int k = 0; ok && k <= S; k++) {
        tensor *mix = tensor_new(a, 2, (int[]){v, S});
        tensor *y = k == 0 ? x : NULL;
        if (k > 0 && mix) {
            for (int i = 0; i < v; i++) mix->data[i * S + k - 1] = 1.0f;
            y = stylenet_forward(net, a, x, mix);
        }
        if (!y) { ok = false; break; }
        for (int i = 0; i < v; i++)
            for (int64_t q = 0; q < im; q++) grid->data[((int64_t)i * (S + 1) + k) * im + q] = 2.0f * y->data[i * im + q] - 1.0f;
    }
    autograd_set(was);
    char name[64], path[4096];
    snprintf(name, sizeof name, "samples_%06lld.jpg", (long long)step);
    run_path(t, name, path, sizeof path);
    if (ok) ok = dataset_write_grid(path, grid, S + 1) == STATUS_OK;
    if (!ok) fprintf(stderr, "atelier %s: validation: %s\n", CMD, error_message());
    arena_free(a);
    return ok;
}

static bool save_all(train_cli *t) {
    char ck[4096], model[4096];
    run_path(t, "checkpoint.safetensors", ck, sizeof ck);
    run_path(t, "model.safetensors", model, sizeof model);
    if (stylenet_trainer_save(t->t, ck) != STATUS_OK || stylenet_trainer_export(t->t, model) != STATUS_OK) {
        fprintf(stderr, "atelier %s: %s\n", CMD, error_message());
        return false;
    }
    return true;
}

static const char *base_name(const char *path, char *out, size_t n) {
    const char *b = strrchr(path, '/');
    snprintf(out, n, "%s", b ? b + 1 : path);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
    return out;
}

static bool setup(train_cli *t) {
    if (mkdir(t->out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "atelier %s: cannot create run folder %s: %s\n", CMD, t->out, strerror(errno));
        return false;
    }
    char path[4096];
    run_path(t, "checkpoint.safetensors", path, sizeof path);
    if (!t->resume) {
        FILE *probe = fopen(path, "rb");
        if (probe) {
            fclose(probe);
            fprintf(stderr, "atelier %s: %s already holds a run: continue it with --resume, or choose another --out\n", CMD, t->out);
            return false;
        }
    }
    /* the loss network: the checkpoint's on resume */
    char spec[256];
    snprintf(spec, sizeof spec, "%s", t->net ? t->net : stylize_default_net(t->models_dir));
    if (t->resume) {
        safetensors *f = safetensors_open(path);
        const char *ln = f ? safetensors_metadata(f, "loss_net") : NULL;
        if (!f) { fprintf(stderr, "atelier %s: --resume: %s\n", CMD, error_message()); return false; }
        if (ln) snprintf(spec, sizeof spec, "%s", ln);
        safetensors_close(f);
    }
    if (!(t->fn = featnet_open(spec, t->models_dir, NULL))) {
        fprintf(stderr, "atelier %s: loss network %s: %s\n", CMD, spec, error_message());
        return false;
    }
    if (t->resume) {
        if (!(t->t = stylenet_trainer_load(path, t->fn))) { fprintf(stderr, "atelier %s: --resume: %s\n", CMD, error_message()); return false; }
        if (t->set_temporal && stylenet_trainer_set_temporal(t->t, t->c.temporal_weight) != STATUS_OK) {
            fprintf(stderr, "atelier %s: %s\n", CMD, error_message());
            return false;
        }
        t->c = *stylenet_trainer_config(t->t);
    } else {
        stylenet_train_config d = stylenet_train_defaults(t->fn);
        if (!t->set_cw) t->c.content_weight = d.content_weight;
        if (!t->set_sw) t->c.style_weight = d.style_weight;
        if (!t->set_tv) t->c.tv_weight = d.tv_weight;
        if (!t->set_cl) snprintf(t->c.content_layers, sizeof t->c.content_layers, "%s", d.content_layers);
        if (!t->set_sl) snprintf(t->c.style_layers, sizeof t->c.style_layers, "%s", d.style_layers);
        snprintf(t->c.loss_net, sizeof t->c.loss_net, "%s", d.loss_net);
        t->c.nstyles = t->nstyles;
    }
    if (!t->c.load_size) t->c.load_size = t->c.image_size;
    int load = t->c.load_size;
    if (load < t->c.image_size) {
        fprintf(stderr, "atelier %s: --load-size %d is smaller than --image-size %d\n", CMD, load, t->c.image_size);
        return false;
    }
    if (!(t->ds = dataset_load_dir(t->data, load, t->c.max_images))) { fprintf(stderr, "atelier %s: %s\n", CMD, error_message()); return false; }
    if (t->ds->n < t->c.val + 1) {
        fprintf(stderr, "atelier %s: %s: %d photos; at least %d are needed (--val %d held out)\n", CMD, t->data, t->ds->n,
                t->c.val + 1, t->c.val);
        return false;
    }
    if (!t->resume) {
        image *ims[MAX_STYLES] = {0};
        char nbuf[MAX_STYLES][256];
        const char *names[MAX_STYLES];
        bool ok = true;
        for (int s = 0; ok && s < t->nstyles; s++) {
            if (!(ims[s] = image_read(t->styles[s], NULL))) { fprintf(stderr, "atelier %s: %s\n", CMD, error_message()); ok = false; }
            names[s] = t->nnames ? t->names[s] : base_name(t->styles[s], nbuf[s], sizeof nbuf[s]);
        }
        if (ok && !(t->t = stylenet_trainer_new(&t->c, t->fn, (const image *const *)ims, names))) {
            fprintf(stderr, "atelier %s: %s\n", CMD, error_message());
            ok = false;
        }
        for (int s = 0; s < t->nstyles; s++) image_free(ims[s]);
        if (!ok) return false;
    }
    if (t->rank != 0) return true;   /* rank 0 writes the log (and every other file) */
    run_path(t, "log.jsonl", path, sizeof path);
    return (t->log = train_log_reopen(CMD, path, stylenet_trainer_steps(t->t), kept_line, t)) != NULL;
}

static int train_loop(train_cli *t) {
    int64_t start = stylenet_trainer_steps(t->t);
    const stylenet_train_config *c = &t->c;
    t->bar = progress_start(t->steps - start, t->quiet);
    double t0 = progress_now();
    if (!t->quiet)
        fprintf(stderr, "training a style network (width %g, %d style%s) on %d photos of %s (%d held out), "
                "%dpx crops, batch %d, loss on %s; steps %lld..%d; %d process%s (%s)\n", c->width, c->nstyles,
                c->nstyles > 1 ? "s" : "", t->ds->n - t->c.val, t->data, t->c.val, c->image_size, c->batch, c->loss_net,
                (long long)start, t->steps, t->ranks, t->ranks > 1 ? "es" : "", dist_name(t->d));
    if (t->rank == 0 && start == 0 && t->sample_every && !validate(t, 0)) return 1;
    arena *a = arena_new(16 << 20);
    if (!a) { fprintf(stderr, "atelier %s: out of memory\n", CMD); return 1; }
    int rc = 0;
    for (int64_t s = start; s < t->steps; s++) {
        stylenet_train_stats st;
        tensor *x = train_batch(t, a, s);
        int lo, hi;
        dist_share(c->batch, t->rank, t->ranks, &lo, &hi);
        if (!x || stylenet_trainer_step_dist(t->t, x, lo, c->batch, t->d, &st) != STATUS_OK) {
            fprintf(stderr, "\natelier %s: step %lld: %s\n", CMD, (long long)s, error_message());
            rc = 1;
            break;
        }
        arena_reset(a);
        int64_t done = s + 1;
        double el = progress_now() - t0;
        /* Ctrl-C on any rank stops every rank after the same step */
        double stop = interrupted;
        if (dist_allreduce_sum_f64(t->d, &stop, 1) != STATUS_OK) { fprintf(stderr, "atelier %s: %s\n", CMD, error_message()); rc = 1; break; }
        if (stop > 0) interrupted = 1;
        if (t->rank != 0) {   /* the other ranks write nothing */
            if (interrupted) { rc = 130; break; }
            continue;
        }
        char temporal[48] = "";
        if (c->temporal_weight > 0) snprintf(temporal, sizeof temporal, ",\"temporal\":%.6g", st.temporal);
        fprintf(t->log, "{\"step\":%lld,\"loss\":%.6g,\"content\":%.6g,\"style\":%.6g,\"tv\":%.6g%s,\"seconds\":%.3f}\n",
                (long long)done, st.loss, st.content, st.style, st.tv, temporal, el);
        hist_train(t, (double)done, &st);
        char info[128];
        snprintf(info, sizeof info, "loss %.3f (content %.3f style %.4f)  %.2f img/s", st.loss, st.content, st.style,
                 (double)(done - start) * c->batch / (el + 1e-9));
        progress_update(&t->bar, done - start, info);
        bool last = done == t->steps;
        if ((t->sample_every && done % t->sample_every == 0) || last) {
            fflush(t->log);
            if (!validate(t, done)) { rc = 1; break; }
            write_curves(t);
        }
        if ((t->checkpoint_every && done % t->checkpoint_every == 0) || last || interrupted) {
            fflush(t->log);
            if (!save_all(t)) { rc = 1; break; }
        }
        if (interrupted) {
            fprintf(stderr, "\natelier %s: interrupted at step %lld; checkpoint saved: continue with --resume\n", CMD, (long long)done);
            rc = 130;
            break;
        }
    }
    arena_free(a);
    if (rc) return rc;
    progress_finish(&t->bar, NULL);
    write_curves(t);
    if (!t->quiet) fprintf(stderr, "done: %s/model.safetensors (atelier stylize PHOTO --model %s/model.safetensors)\n", t->out, t->out);
    return 0;
}

static void train_free(train_cli *t) {
    if (t->log) fclose(t->log);
    stylenet_trainer_free(t->t);
    featnet_free(t->fn);
    dataset_free(t->ds);
    free(t->hx); free(t->hl); free(t->hc); free(t->hs); free(t->vx); free(t->vl);
}

static int cmd_train(int argc, char **argv) {
    train_cli t = {.steps = 4000, .sample_every = 250, .checkpoint_every = 250,
                   .c = {.width = 0.5f, .image_size = 256, .style_size = 512, .batch = 4, .lr = 1e-3f, .seed = 1, .val = 4}};
    int r = train_parse(argc, argv, &t);
    if (r) { if (r > 0) train_usage(stdout); return r > 0 ? 0 : 2; }
    /* mpirun -np K: K processes, each its share of every batch (dist.h) */
    if (!(t.d = train_dist_init(CMD))) return 1;
    t.rank = dist_rank(t.d);
    t.ranks = dist_size(t.d);
    if (t.rank != 0) t.quiet = true;
    if (t.ranks > t.c.batch) {
        fprintf(stderr, "atelier %s: %d processes for a batch of %d: give each at least one photo (--batch)\n", CMD, t.ranks, t.c.batch);
        dist_finalize(t.d);   /* every rank refuses alike: none is left waiting */
        return 2;
    }
    /* from here, not from the first step: a Ctrl-C during the setup (seconds on a busy
     * machine) still ends with a checkpoint, after the first step */
    signal(SIGINT, on_sigint);
    int rc = setup(&t) ? train_loop(&t) : 1;
    train_free(&t);
    /* after a failure of one of several processes, no MPI_Finalize (it could wait for ranks
     * still in a step): exiting non-zero makes mpirun stop the others */
    if (rc == 0 || rc == 130 || t.ranks == 1) dist_finalize(t.d);
    return rc;
}

/* ---- show ---- */

static int cmd_show(int argc, char **argv) {
    if (argc != 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        printf("usage: atelier style-net show MODEL\n\nLists a fast style network's styles (MODEL: a file, or a built-in\n"
               "name: kit-styles) and its settings.\n");
        return argc == 2 ? 0 : 2;
    }
    stylenet *m = stylenet_load(argv[1]);
    if (!m) { fprintf(stderr, "atelier style-net show: %s\n", error_message()); return 1; }
    printf("%s: width %g (%d/%d/%d channels), %lld parameters, %d styles:\n", m->source, m->width, m->c1, m->c2, m->c3,
           (long long)model_params_count(&m->params), m->nstyles);
    for (int s = 0; s < m->nstyles; s++) printf("  %2d  %s\n", s, m->names[s]);
    stylenet_free(m);
    return 0;
}

int cmd_style_net(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: atelier style-net train|show ...\n\n"
                   "  train   train a fast style network on photos and paintings (--help for its options)\n"
                   "  show    list a model's styles\n\n"
                   "Paint with one: atelier stylize PHOTO --model MODEL [--style NAME] -o OUT\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "show")) return cmd_show(argc - 1, argv + 1);
    fprintf(stderr, "atelier style-net: unknown subcommand '%s' (train, show)\n", argv[1]);
    return 2;
}
