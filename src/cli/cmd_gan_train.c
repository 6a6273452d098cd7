/* cmd_gan_train.c: `atelier gan train --data DIR --out RUN_DIR`: GAN training with a
 * progress bar, a JSON-lines log, sample grids, training curves, KID / diversity /
 * memorisation checks, atomic checkpoints and exact resume; --dashboard serves a live page
 * of it (dashboard.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "atelier/dashboard.h"
#include "atelier/diffaug.h"
#include "atelier/dist.h"
#include "atelier/plot.h"
#include "cli/args.h"
#include "cli/gan_cli.h"
#include "cli/progress.h"
#include "cli/train_log.h"

#define CMD "gan train"
#define GRID_N 64
#define GRID_SEED 20261124u
/* The dashboard's own grids, between the sample steps: at most one every this many
 * seconds, and only while all of them together took at most DASH_GRID_SHARE of the run's
 * time, so that they cannot slow training by more than that. */
#define DASH_GRID_SECONDS 10.0
#define DASH_GRID_SHARE 0.02

typedef struct train_cli {
    const char *data, *out, *init_from, *style_dir;
    gan_config c;
    int steps, sample_every, checkpoint_every, eval_every, eval_n, max_images;
    bool resume, quiet, no_flip;
    /* the run */
    gan *g;
    dataset *ds;
    FILE *log;
    progress bar;
    gan_features feat;
    const char *eval_features;
    float *real_feat;
    double *hx, *hd, *hg, *kx, *ky;   /* loss and KID history for the curves */
    int nh, nk, caph, capk;
    /* the live dashboard (--dashboard) */
    bool dash_on;
    dashboard_opts dash_o;
    dashboard *dash;
    double grid_seconds, last_grid;   /* time spent on the dashboard's own grids; when the last */
    /* mpirun -np K: K processes, each its share of every batch; rank 0 writes every file */
    dist *d;
    int rank, ranks;
} train_cli;

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) { (void)sig; interrupted = 1; }

static void train_usage(FILE *f) {
    gan_config d = gan_defaults();
    fprintf(f,
        "usage: atelier gan train --data DIR --out RUN_DIR [options]\n\n"
        "Trains a GAN on the images in DIR (jpg, png, webp; resized and centre-cropped to\n"
        "--size, random horizontal flips). RUN_DIR receives log.jsonl (one JSON line per step,\n"
        "and eval lines), samples_STEP.png grids, curves.svg, checkpoint.safetensors (atomic;\n"
        "--resume continues exactly) and generator.safetensors (for gan sample / interpolate).\n\n"
        "options (default in brackets):\n"
        "  --size 32|64|128       image size [%d]\n"
        "  --arch dcgan|resnet    networks [dcgan]\n"
        "  --ngf N, --ndf N       generator / discriminator width [%d, %d]\n"
        "  --z-dim N              latent size [%d]\n"
        "  --loss bce|least-squares|hinge|wgan-gp  [bce] (wgan-gp: gradient penalty 10)\n"
        "  --spectral-norm        spectral normalisation in D\n"
        "  --diffaug LIST         DiffAugment of real and fake before D: color,translation,cutout\n"
        "                         (any subset) or none [none]\n"
        "  --r1 GAMMA             R1 penalty on real images [0 = off]\n"
        "  --ema DECAY            moving average of G for samples, e.g. 0.999 [0 = off]\n"
        "  --batch N              [%d]\n"
        "  --steps N              generator updates in all (with --resume: the new total) [5000]\n"
        "  --lr-g F, --lr-d F     Adam learning rates [%g, %g]\n"
        "  --beta1 F, --beta2 F   Adam betas [%g, %g]\n"
        "  --d-steps N            D updates per G update [%d]\n"
        "  --seed N               [%llu]\n"
        "  --sample-every N       write a grid of %d samples every N steps [500]\n"
        "  --checkpoint-every N   [1000]\n"
        "  --eval-every N         KID, diversity and memorisation every N steps [1000; 0 = off]\n"
        "  --eval-samples N       generated images per evaluation [256]\n"
        "  --eval-features NET    the evaluations' features: vgg19 (fast) or inception_v3 (as KID\n"
        "                         uses; ~1 s an image here), see atelier gan eval --help [vgg19]\n"
        "  --resume               continue RUN_DIR's checkpoint (its own settings)\n"
        "  --init-from G_WEIGHTS  start G from a generator (fine-tuning; e.g. monet64)\n"
        "  --style-weight W       extra G loss: Gram distance to the works' features (--style-net) [0]\n"
        "  --style-images DIR     the works for --style-weight [--data]\n"
        "  --style-net NET        the style loss's features: vgg19 (built in: relu1_1..relu3_1) or a\n"
        "                         trained network (inception_v3, mobilenet_v2: their stem) [vgg19]\n"
        "  --max-images N         use the first N images of DIR [all]\n"
        "  --no-flip              no random horizontal flips\n"
        "  --dashboard [PORT]     serve a live, read-only page of the training (sample grid, losses,\n"
        "                         D's outputs, KID, alarms, speed) on PORT [%d]; 0 picks a free one\n"
        "  --dashboard-host ADDR  the dashboard's IPv4 address; 0.0.0.0 for every interface [%s]\n"
        "  --dashboard-token T    require \"Authorization: Bearer T\" (or ?token=T) for its data;\n"
        "                         also from $ATELIER_TOKEN [off]\n"
        "  --quiet                no progress bar\n"
        "  -h, --help             this text\n\n"
        "Ctrl-C saves a checkpoint and stops; run again with --resume to continue.\n\n"
        "Several processes: mpirun -np K atelier gan train ... trains data-parallel, each process\n"
        "its share of every batch (batch norm over the whole batch), with the same result as one\n"
        "process up to float rounding; rank 0 writes every file. --resume works with any K.\n",
        d.size, d.ngf, d.ndf, d.z_dim, d.batch, d.lr_g, d.lr_d, d.beta1, d.beta2, d.d_steps,
        (unsigned long long)d.seed, GRID_N, dashboard_defaults().port, dashboard_defaults().host);
}

static bool parse_value(train_cli *t, const char *opt, const char *v) {
    gan_config *c = &t->c;
    static const char *const sizes[] = {"32", "64", "128", NULL};
    int k;
    status st = STATUS_OK;
    if (!strcmp(opt, "--data")) t->data = v;
    else if (!strcmp(opt, "--out")) t->out = v;
    else if (!strcmp(opt, "--size")) { if ((k = arg_choice(CMD, opt, v, sizes)) < 0) return false; c->size = 32 << k; }
    else if (!strcmp(opt, "--arch")) {
        if (gan_arch_parse(v, &c->arch) != STATUS_OK || c->arch == GAN_ARCH_MLP) {
            fprintf(stderr, "atelier %s: --arch '%s': use dcgan or resnet\n", CMD, v);
            return false;
        }
    } else if (!strcmp(opt, "--ngf")) return arg_int(CMD, opt, v, 1, 1024, &c->ngf);
    else if (!strcmp(opt, "--ndf")) return arg_int(CMD, opt, v, 1, 1024, &c->ndf);
    else if (!strcmp(opt, "--z-dim")) return arg_int(CMD, opt, v, 1, 4096, &c->z_dim);
    else if (!strcmp(opt, "--loss")) {
        if (gan_loss_parse(v, &c->loss) != STATUS_OK) { fprintf(stderr, "atelier %s: --loss: %s\n", CMD, error_message()); return false; }
    } else if (!strcmp(opt, "--diffaug")) {
        c->diffaug = diffaug_parse(v, &st);
        if (st != STATUS_OK) { fprintf(stderr, "atelier %s: --diffaug: %s\n", CMD, error_message()); return false; }
    } else if (!strcmp(opt, "--r1")) return arg_float(CMD, opt, v, 0, 1e5, &c->r1);
    else if (!strcmp(opt, "--ema")) return arg_float(CMD, opt, v, 0, 0.999999, &c->ema);
    else if (!strcmp(opt, "--batch")) return arg_int(CMD, opt, v, 2, 4096, &c->batch);
    else if (!strcmp(opt, "--steps")) return arg_int(CMD, opt, v, 1, 100000000, &t->steps);
    else if (!strcmp(opt, "--lr-g")) return arg_float(CMD, opt, v, 1e-8, 0.99, &c->lr_g);
    else if (!strcmp(opt, "--lr-d")) return arg_float(CMD, opt, v, 1e-8, 0.99, &c->lr_d);
    else if (!strcmp(opt, "--beta1")) return arg_float(CMD, opt, v, 0, 0.9999, &c->beta1);
    else if (!strcmp(opt, "--beta2")) return arg_float(CMD, opt, v, 0, 0.999999, &c->beta2);
    else if (!strcmp(opt, "--d-steps")) return arg_int(CMD, opt, v, 1, 100, &c->d_steps);
    else if (!strcmp(opt, "--seed")) return arg_u64(CMD, opt, v, &c->seed);
    else if (!strcmp(opt, "--sample-every")) return arg_int(CMD, opt, v, 0, 100000000, &t->sample_every);
    else if (!strcmp(opt, "--checkpoint-every")) return arg_int(CMD, opt, v, 0, 100000000, &t->checkpoint_every);
    else if (!strcmp(opt, "--eval-every")) return arg_int(CMD, opt, v, 0, 100000000, &t->eval_every);
    else if (!strcmp(opt, "--eval-samples")) return arg_int(CMD, opt, v, 4, 100000, &t->eval_n);
    else if (!strcmp(opt, "--eval-features")) t->eval_features = v;
    else if (!strcmp(opt, "--init-from")) t->init_from = v;
    else if (!strcmp(opt, "--style-weight")) return arg_float(CMD, opt, v, 0, 1e9, &c->style_weight);
    else if (!strcmp(opt, "--style-images")) t->style_dir = v;
    else if (!strcmp(opt, "--style-net")) {
        if (strlen(v) >= sizeof c->style_net) { fprintf(stderr, "atelier %s: --style-net %s: too long\n", CMD, v); return false; }
        snprintf(c->style_net, sizeof c->style_net, "%s", v);
    }
    else if (!strcmp(opt, "--max-images")) return arg_int(CMD, opt, v, 1, 100000000, &t->max_images);
    else if (!strcmp(opt, "--dashboard-host")) {
        struct in_addr ip;
        if (inet_pton(AF_INET, v, &ip) != 1) { fprintf(stderr, "atelier %s: --dashboard-host '%s': give an IPv4 address such as 127.0.0.1\n", CMD, v); return false; }
        t->dash_o.host = v;
    } else if (!strcmp(opt, "--dashboard-token")) {
        if (!*v) { fprintf(stderr, "atelier %s: --dashboard-token: empty token\n", CMD); return false; }
        t->dash_o.token = v;
    }
    else {
        fprintf(stderr, "atelier %s: unknown option '%s' (atelier gan train --help lists them)\n", CMD, opt);
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
        if (!strcmp(a, "--no-flip")) { t->no_flip = true; continue; }
        if (!strcmp(a, "--spectral-norm")) { t->c.spectral_norm = true; continue; }
        if (!strcmp(a, "--dashboard") || !strncmp(a, "--dashboard=", 12)) {   /* an optional port */
            t->dash_on = true;
            const char *port = a[11] == '=' ? a + 12 : i + 1 < argc && argv[i + 1][0] != '-' ? argv[++i] : NULL;
            if (port && !arg_int(CMD, "--dashboard", port, 0, 65535, &t->dash_o.port)) return -1;
            continue;
        }
        if (a[0] != '-') { fprintf(stderr, "atelier %s: unexpected argument '%s'\n", CMD, a); return -1; }
        char buf[64];
        const char *v, *opt = arg_split(argc, argv, &i, buf, sizeof buf, &v);
        if (!v) { fprintf(stderr, "atelier %s: %s needs a value\n", CMD, opt); return -1; }
        if (!parse_value(t, opt, v)) return -1;
    }
    if (!t->data) { fprintf(stderr, "atelier %s: no training images: give --data DIR\n", CMD); return -1; }
    if (!t->out) { fprintf(stderr, "atelier %s: no run folder: give --out RUN_DIR\n", CMD); return -1; }
    if (t->c.style_weight > 0 && t->c.arch == GAN_ARCH_MLP) return -1;
    if (!t->dash_on && (t->dash_o.token || strcmp(t->dash_o.host, dashboard_defaults().host))) {
        fprintf(stderr, "atelier %s: --dashboard-host and --dashboard-token need --dashboard\n", CMD);
        return -1;
    }
    const char *env = getenv("ATELIER_TOKEN");
    if (t->dash_on && !t->dash_o.token && env && *env) t->dash_o.token = env;
    return 0;
}

/* ---- paths, log and history ---- */

static void run_path(const train_cli *t, const char *name, char *buf, size_t size) {
    snprintf(buf, size, "%s/%s", t->out, name);
}

static void hist_push(double **x, int *n, int *cap, double v0, double **y, double v1, double **z, double v2) {
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 1024;
        *x = realloc(*x, sizeof(double) * (size_t)*cap);
        *y = realloc(*y, sizeof(double) * (size_t)*cap);
        if (z) *z = realloc(*z, sizeof(double) * (size_t)*cap);
    }
    if (!*x || !*y || (z && !*z)) { *n = 0; *cap = 0; return; }
    (*x)[*n] = v0;
    (*y)[*n] = v1;
    if (z) (*z)[*n] = v2;
    (*n)++;
}

/* An evaluation line of the log, for the dashboard of a resumed run. */
static void dash_replay_eval(dashboard *d, const char *line, double step) {
    metrics_report r = {.kid_std = NAN, .diversity_ratio = NAN, .memo = {.ratio = NAN, .copy_fraction = NAN}};
    train_log_num(line, "kid", &r.kid);
    train_log_num(line, "kid_std", &r.kid_std);
    train_log_num(line, "diversity_ratio", &r.diversity_ratio);
    train_log_num(line, "nn_ratio", &r.memo.ratio);
    train_log_num(line, "copy_fraction", &r.memo.copy_fraction);
    r.collapse_warning = strstr(line, "\"collapse_warning\":true") != NULL;
    r.copy_warning = strstr(line, "\"copy_warning\":true") != NULL;
    dashboard_publish_eval(d, (int64_t)step, &r);
}

/* On resume: the log's lines up to the checkpoint's step rebuild the history (and the
 * dashboard's). */
static void kept_line(const char *line, double s, void *user) {
    train_cli *t = user;
    double dl, gl, kid;
    if (train_log_num(line, "kid", &kid)) {
        hist_push(&t->kx, &t->nk, &t->capk, s, &t->ky, kid, NULL, 0);
        if (t->dash) dash_replay_eval(t->dash, line, s);
    } else if (train_log_num(line, "d_loss", &dl) && train_log_num(line, "g_loss", &gl)) {
        hist_push(&t->hx, &t->nh, &t->caph, s, &t->hd, dl, &t->hg, gl);
        gan_stats st = {.d_loss = dl, .g_loss = gl, .d_real = NAN, .d_fake = NAN};
        train_log_num(line, "d_real", &st.d_real);
        train_log_num(line, "d_fake", &st.d_fake);
        if (t->dash) dashboard_publish_step(t->dash, (int64_t)s, &st, 0);
    }
}

static void write_curves(train_cli *t) {
    if (t->nh < 2) return;
    char path[4096];
    plot_series s[2] = {{"D loss", t->hx, t->hd, t->nh}, {"G loss", t->hx, t->hg, t->nh}};
    plot_opts o = plot_defaults();
    o.title = "training losses";
    o.xlabel = "step";
    o.ylabel = "loss";
    o.smooth = t->nh > 200 ? t->nh / 50 : 1;
    run_path(t, "curves.svg", path, sizeof path);
    if (plot_svg_write(path, s, 2, &o) != STATUS_OK) fprintf(stderr, "atelier %s: warning: %s\n", CMD, error_message());
    if (t->nk < 2) return;
    plot_series k = {"KID", t->kx, t->ky, t->nk};
    o.title = "KID to the training images (VGG-19 features; lower is closer)";
    o.ylabel = "KID";
    o.smooth = 1;
    run_path(t, "kid.svg", path, sizeof path);
    if (plot_svg_write(path, &k, 1, &o) != STATUS_OK) fprintf(stderr, "atelier %s: warning: %s\n", CMD, error_message());
}

/* ---- the work ---- */

typedef struct data_src { const dataset *ds; uint64_t seed; int d_steps; bool flips; } data_src;

static tensor *data_batch(void *user, arena *a, int64_t step, int k, int n) {
    const data_src *d = user;
    int *idx = arena_alloc(a, sizeof(int) * (size_t)n);
    bool *flip = arena_alloc(a, sizeof(bool) * (size_t)n);
    if (!idx || !flip) return NULL;
    if (dataset_draw(d->seed, (uint64_t)step * (uint64_t)d->d_steps + (uint64_t)k, d->ds->n, n, d->flips, idx, flip) != STATUS_OK)
        return NULL;
    return dataset_batch(d->ds, a, idx, flip, n);
}

static bool write_grid(train_cli *t, int64_t step) {
    char name[64], path[4096];
    snprintf(name, sizeof name, "samples_%06lld.png", (long long)step);
    run_path(t, name, path, sizeof path);
    arena *a = arena_new(1 << 20);
    tensor *x = a ? gan_sample(t->g, a, GRID_SEED, 0, GRID_N) : NULL;
    bool ok = x && dataset_write_grid(path, x, 8) == STATUS_OK;
    if (ok && t->dash && dashboard_publish_grid(t->dash, step, x, 8) != STATUS_OK)
        fprintf(stderr, "atelier %s: dashboard: %s\n", CMD, error_message());
    arena_free(a);
    if (!ok) fprintf(stderr, "atelier %s: %s\n", CMD, error_message());
    return ok;
}

/* The dashboard's own grid between the sample steps, within its share of the time. */
static void dash_grid(train_cli *t, int64_t step, double el) {
    if (!t->dash || el - t->last_grid < DASH_GRID_SECONDS || t->grid_seconds > DASH_GRID_SHARE * el) return;
    double t0 = progress_now();
    arena *a = arena_new(1 << 20);
    tensor *x = a ? gan_sample(t->g, a, GRID_SEED, 0, GRID_N) : NULL;
    if (!x || dashboard_publish_grid(t->dash, step, x, 8) != STATUS_OK) {
        fprintf(stderr, "atelier %s: dashboard: %s\n", CMD, error_message());
        error_clear();
    }
    arena_free(a);
    t->grid_seconds += progress_now() - t0;
    t->last_grid = el;
}

/* Starts the server before the data is read, so that a port in use is told at once; a
 * resumed run's log then fills its history. */
static bool dash_open(train_cli *t) {
    t->dash_o.title = t->out;
    if (!(t->dash = dashboard_start(&t->dash_o))) {
        fprintf(stderr, "atelier %s: --dashboard: %s\n", CMD, error_message());
        return false;
    }
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "atelier %s: dashboard on http://%s:%d/%s\n", CMD, t->dash_o.host, dashboard_port(t->dash),
            t->dash_o.token ? " (it asks for the token)" : "");
    if (!t->dash_o.token && strncmp(t->dash_o.host, "127.", 4))
        fprintf(stderr, "atelier %s: warning: the dashboard is open to the network without a token (--dashboard-token)\n", CMD);
    fflush(stderr);
    return true;
}

static bool save_all(train_cli *t) {
    char ck[4096], gen[4096];
    run_path(t, "checkpoint.safetensors", ck, sizeof ck);
    run_path(t, "generator.safetensors", gen, sizeof gen);
    if (gan_save_checkpoint(t->g, ck) != STATUS_OK || gan_export_generator(t->g, gen) != STATUS_OK) {
        fprintf(stderr, "atelier %s: %s\n", CMD, error_message());
        return false;
    }
    return true;
}

static bool evaluate(train_cli *t, int64_t step) {
    if (!t->real_feat) {
        if (gan_features_open(&t->feat, t->eval_features) != STATUS_OK) goto fail;
        if (!(t->real_feat = gan_cli_real_features(&t->feat, t->ds))) goto fail;
    }
    int n = t->eval_n;
    float *fake = gan_cli_fake_features(&t->feat, gan_sampler(t->g), GRID_SEED + 1, n);
    metrics_report r;
    if (!fake || metrics_compare(fake, n, t->real_feat, t->ds->n, t->feat.dim, 1, &r) != STATUS_OK) {
        free(fake);
        goto fail;
    }
    free(fake);
    if (t->dash) dashboard_publish_eval(t->dash, step, &r);
    char js[1024];
    gan_cli_report_json(&r, js, sizeof js);
    fprintf(t->log, "{\"step\":%lld,\"eval\":true,%s}\n", (long long)step, js);
    fflush(t->log);
    hist_push(&t->kx, &t->nk, &t->capk, (double)step, &t->ky, r.kid, NULL, 0);
    if (!t->quiet || r.collapse_warning || r.copy_warning) {
        fprintf(stderr, "%sstep %lld: ", t->bar.tty && !t->quiet ? "\n" : "", (long long)step);
        gan_cli_print_report(stderr, &r, n, t->ds->n);
    }
    return true;
fail:
    fprintf(stderr, "atelier %s: evaluation: %s\n", CMD, error_message());
    return false;
}

static bool setup(train_cli *t) {
    if (mkdir(t->out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "atelier %s: cannot create run folder %s: %s\n", CMD, t->out, strerror(errno));
        return false;
    }
    char path[4096];
    run_path(t, "checkpoint.safetensors", path, sizeof path);
    if (t->resume) {
        if (!(t->g = gan_load_checkpoint(path))) { fprintf(stderr, "atelier %s: --resume: %s\n", CMD, error_message()); return false; }
        t->c = *gan_get_config(t->g);
    } else {
        FILE *probe = fopen(path, "rb");
        if (probe) {
            fclose(probe);
            fprintf(stderr, "atelier %s: %s already holds a run: continue it with --resume, or choose another --out\n", CMD, t->out);
            return false;
        }
    }
    if (!(t->ds = dataset_load_dir(t->data, t->c.size, t->max_images))) { fprintf(stderr, "atelier %s: %s\n", CMD, error_message()); return false; }
    if (t->ds->n < 2) { fprintf(stderr, "atelier %s: %s: at least 2 images are needed\n", CMD, t->data); return false; }
    if (!t->g && !(t->g = gan_new(&t->c))) { fprintf(stderr, "atelier %s: %s\n", CMD, error_message()); return false; }
    if (t->init_from && !t->resume && gan_init_generator(t->g, t->init_from) != STATUS_OK) {
        fprintf(stderr, "atelier %s: --init-from %s\n", CMD, error_message());
        return false;
    }
    if (t->c.style_weight > 0 && !t->resume) {
        dataset *sd = t->style_dir ? dataset_load_dir(t->style_dir, t->c.size, 0) : t->ds;
        arena *a = arena_new(1 << 20);
        int idx[256];
        bool flip[256] = {0};
        int m = sd ? (sd->n < 256 ? sd->n : 256) : 0;
        for (int i = 0; i < m; i++) idx[i] = i;
        bool ok = sd && a && gan_set_style(t->g, dataset_batch(sd, a, idx, flip, m)) == STATUS_OK;
        if (sd != t->ds) dataset_free(sd);
        arena_free(a);
        if (!ok) { fprintf(stderr, "atelier %s: --style-images: %s\n", CMD, error_message()); return false; }
    }
    if (gan_set_dist(t->g, t->d) != STATUS_OK) { fprintf(stderr, "atelier %s: %s\n", CMD, error_message()); return false; }
    if (t->rank != 0) return true;   /* rank 0 writes the log and every other file */
    run_path(t, "log.jsonl", path, sizeof path);
    if (!(t->log = train_log_reopen(CMD, path, gan_step(t->g), kept_line, t))) return false;
    char *js = gan_config_json(&t->c);
    run_path(t, "config.json", path, sizeof path);
    FILE *f = js ? fopen(path, "w") : NULL;
    if (f) { fprintf(f, "%s\n", js); fclose(f); }
    free(js);
    return true;
}

static int train_loop(train_cli *t) {
    data_src src = {t->ds, t->c.seed, t->c.d_steps, !t->no_flip};
    int64_t start = gan_step(t->g);
    t->bar = progress_start(t->steps - start, t->quiet);
    double t0 = progress_now();
    signal(SIGINT, on_sigint);
    if (t->dash) {
        char *js = gan_config_json(&t->c);
        dashboard_set_run(t->dash, js, start, t->steps);
        free(js);
    }
    if (!t->quiet)
        fprintf(stderr, "training %s %dx%d on %d images of %s, steps %lld..%d%s", gan_arch_name(t->c.arch),
                t->c.size, t->c.size, t->ds->n, t->data, (long long)start, t->steps, t->ranks > 1 ? "" : "\n");
    if (!t->quiet && t->ranks > 1) fprintf(stderr, "; %d processes (%s)\n", t->ranks, dist_name(t->d));
    for (int64_t s = start; s < t->steps; s++) {
        gan_stats st;
        if (gan_train_step(t->g, data_batch, &src, &st) != STATUS_OK) {
            fprintf(stderr, "\natelier %s: step %lld: %s\n", CMD, (long long)s, error_message());
            return 1;
        }
        int64_t done = s + 1;
        double el = progress_now() - t0;
        if (t->ranks > 1) {   /* Ctrl-C on any rank stops every rank after the same step */
            double stop = interrupted;
            if (dist_allreduce_sum_f64(t->d, &stop, 1) != STATUS_OK) {
                fprintf(stderr, "atelier %s: %s\n", CMD, error_message());
                return 1;
            }
            if (stop > 0) interrupted = 1;
            if (t->rank != 0) {   /* the other ranks write nothing */
                if (interrupted) return 130;
                continue;
            }
        }
        fprintf(t->log, "{\"step\":%lld,\"d_loss\":%.6g,\"g_loss\":%.6g,\"d_real\":%.6g,\"d_fake\":%.6g,"
                "\"penalty\":%.6g,\"style\":%.6g,\"seconds\":%.3f}\n", (long long)done, st.d_loss, st.g_loss,
                st.d_real, st.d_fake, st.penalty, st.style, el);
        hist_push(&t->hx, &t->nh, &t->caph, (double)done, &t->hd, st.d_loss, &t->hg, st.g_loss);
        char info[128];
        snprintf(info, sizeof info, "D %.3f G %.3f  %.2f step/s", st.d_loss, st.g_loss, (double)(done - start) / (el + 1e-9));
        progress_update(&t->bar, done - start, info);
        if (t->dash) dashboard_publish_step(t->dash, done, &st, el);
        bool last = done == t->steps;
        if ((t->sample_every && done % t->sample_every == 0) || last) {
            fflush(t->log);
            write_grid(t, done);
            write_curves(t);
            t->last_grid = el;
        } else dash_grid(t, done, el);
        if (t->eval_every && (done % t->eval_every == 0 || last)) { if (!evaluate(t, done)) return 1; write_curves(t); }
        if ((t->checkpoint_every && done % t->checkpoint_every == 0) || last || interrupted) {
            fflush(t->log);
            if (!save_all(t)) return 1;
        }
        if (interrupted) {
            fprintf(stderr, "\natelier %s: interrupted at step %lld; checkpoint saved: continue with --resume\n", CMD, (long long)done);
            return 130;
        }
    }
    if (t->rank != 0) return 0;
    progress_finish(&t->bar, NULL);
    if (!t->quiet) fprintf(stderr, "done: %s/generator.safetensors, samples_%06d.png, curves.svg\n", t->out, t->steps);
    return 0;
}

static void train_free(train_cli *t) {
    dashboard_stop(t->dash);
    if (t->log) fclose(t->log);
    gan_free(t->g);
    dataset_free(t->ds);
    gan_features_close(&t->feat);
    free(t->real_feat);
    free(t->hx); free(t->hd); free(t->hg); free(t->kx); free(t->ky);
}

int cmd_gan_train(int argc, char **argv) {
    train_cli t = {.c = gan_defaults(), .steps = 5000, .sample_every = 500, .checkpoint_every = 1000,
                   .eval_every = 1000, .eval_n = 256, .eval_features = "vgg19", .dash_o = dashboard_defaults(),
                   .last_grid = -INFINITY};
    int r = train_parse(argc, argv, &t);
    if (r) { if (r > 0) train_usage(stdout); return r > 0 ? 0 : 2; }
    if (!(t.d = train_dist_init(CMD))) return 1;
    t.rank = dist_rank(t.d);
    t.ranks = dist_size(t.d);
    if (t.rank != 0) { t.quiet = true; t.dash_on = false; t.eval_every = 0; t.sample_every = 0; t.checkpoint_every = 0; }
    int rc = (!t.dash_on || dash_open(&t)) && setup(&t) ? train_loop(&t) : 1;
    if (t.dash) dashboard_set_phase(t.dash, rc == 0 ? "finished" : "stopped");
    train_free(&t);
    /* after a failure of one of several processes, no MPI_Finalize (it could wait for ranks
     * still in a step): exiting non-zero makes mpirun stop the others */
    if (rc == 0 || rc == 130 || t.ranks == 1) dist_finalize(t.d);
    return rc;
}
