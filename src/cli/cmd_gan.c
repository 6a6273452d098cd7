/* cmd_gan.c: `atelier gan train|sample|interpolate|eval`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "atelier/gif.h"
#include "atelier/image.h"
#include "atelier/ops.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "atelier/featnet.h"
#include "cli/gan_cli.h"
#include "cli/progress.h"

static void gan_usage(FILE *f) {
    fprintf(f,
        "usage: atelier gan COMMAND [options]   (atelier gan COMMAND --help for each)\n\n"
        "Art simulation: learn an artist's style from their works and paint new ones.\n\n"
        "commands:\n"
        "  train        train a GAN on a folder of images (progress, samples, checkpoints)\n"
        "  sample       draw images from a generator: a grid, or one file each\n"
        "  interpolate  walk the latent space between two seeds: an animated GIF or PNG frames\n"
        "  eval         KID, diversity and memorisation of a generator against a folder\n\n"
        "A generator is a generator.safetensors or checkpoint.safetensors of a run, or the\n"
        "built-in model monet64 (64x64, trained on 300 paintings by Claude Monet).\n");
}

/* ---- shared: features and reports ---- */

status gan_features_open(gan_features *g, const char *spec) {
    memset(g, 0, sizeof *g);
    char path[4096];
    if (!spec) spec = featnet_find("inception_v3", NULL, path, sizeof path) ? "inception_v3" : "vgg19";
    snprintf(g->name, sizeof g->name, "%s", spec);
    if (!strcmp(spec, "vgg19")) {
        if (!(g->mem = arena_new(1 << 20))) return error_set(STATUS_NOMEM, "out of memory");
        if (vgg19_init(&g->vgg, g->mem, 0, VGG_POOL_MAX, "relu5_1") != STATUS_OK) return error_status();
        model_params_set_trainable(&g->vgg.params, false);
        g->dim = metrics_feature_dim();
        return STATUS_OK;
    }
    if (!(g->net = featnet_open(spec, NULL, NULL))) return error_status();
    return (g->dim = metrics_featnet_dim(g->net)) > 0 ? STATUS_OK : error_status();
}

void gan_features_close(gan_features *g) {
    featnet_free(g->net);
    arena_free(g->mem);
    g->net = NULL;
    g->mem = NULL;
}

static status features_of(const gan_features *g, const tensor *x, float *out) {
    return g->net ? metrics_featnet_features(g->net, x, out) : metrics_features(&g->vgg, x, out);
}

float *gan_cli_real_features(const gan_features *g, const dataset *ds) {
    int d = g->dim, chunk = 32;
    float *out = malloc(sizeof(float) * (size_t)ds->n * (size_t)d);
    arena *a = arena_new(1 << 20);
    int idx[32];
    bool flip[32] = {0};
    bool ok = out && a;
    for (int i = 0; ok && i < ds->n; i += chunk) {
        int m = ds->n - i < chunk ? ds->n - i : chunk;
        for (int j = 0; j < m; j++) idx[j] = i + j;
        tensor *x = dataset_batch(ds, a, idx, flip, m);
        ok = x && features_of(g, x, out + (size_t)i * (size_t)d) == STATUS_OK;
        arena_reset(a);
    }
    arena_free(a);
    if (!ok) { free(out); return NULL; }
    return out;
}

float *gan_cli_fake_features(const gan_features *g, gan_net *net, uint64_t seed, int n) {
    int d = g->dim, chunk = 32;
    float *out = malloc(sizeof(float) * (size_t)n * (size_t)d);
    arena *a = arena_new(1 << 20);
    bool ok = out && a;
    for (int i = 0; ok && i < n; i += chunk) {
        int m = n - i < chunk ? n - i : chunk;
        tensor *x = gan_net_sample(net, a, seed, i, m);
        ok = x && features_of(g, x, out + (size_t)i * (size_t)d) == STATUS_OK;
        arena_reset(a);
    }
    arena_free(a);
    if (!ok) { free(out); return NULL; }
    return out;
}

void gan_cli_print_report(FILE *f, const metrics_report *r, int nfake, int nreal) {
    fprintf(f, "KID %.3g +- %.2g (built-in VGG-19 features: not comparable with Inception KID); "
               "diversity %.3f of the real images'; nearest-real distance %.2f of real-to-real (copies %.0f%%)\n",
            r->kid, r->kid_std, r->diversity_ratio, r->memo.ratio, 100 * r->memo.copy_fraction);
    if (r->collapse_warning)
        fprintf(f, "warning: mode collapse: the %d samples are %.0f%% as diverse as the %d real images (alarm below %.0f%%)\n",
                nfake, 100 * r->diversity_ratio, nreal, 100 * METRICS_COLLAPSE_RATIO);
    if (r->copy_warning)
        fprintf(f, "warning: memorisation: %.0f%% of the samples are near-copies of training images (alarm above %.0f%%)\n",
                100 * r->memo.copy_fraction, 100 * METRICS_COPY_FRACTION);
}

void gan_cli_report_json(const metrics_report *r, char *buf, size_t size) {
    snprintf(buf, size, "\"kid\":%.6g,\"kid_std\":%.6g,\"diversity_fake\":%.6g,\"diversity_real\":%.6g,"
             "\"diversity_ratio\":%.6g,\"nn_ratio\":%.6g,\"copy_fraction\":%.6g,\"collapse_warning\":%s,"
             "\"copy_warning\":%s", r->kid, r->kid_std, r->diversity_fake, r->diversity_real, r->diversity_ratio,
             r->memo.ratio, r->memo.copy_fraction, r->collapse_warning ? "true" : "false", r->copy_warning ? "true" : "false");
}

/* ---- common option handling for sample / interpolate / eval ---- */

typedef struct gen_cli {
    const char *cmd, *weights, *grid, *out_dir, *out, *data, *strip, *features;
    int n, cols, frames, delay, max_images;
    uint64_t seed, from, to;
    bool from_given, to_given, json;
    arena *params;
    gan_net net;
    gan_config c;
} gen_cli;

static bool is_image_ext(const char *path) {
    const char *dot = strrchr(path, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".webp"));
}

static bool gen_value(gen_cli *g, const char *opt, const char *v) {
    const char *cmd = g->cmd;
    if (!strcmp(opt, "-n")) return arg_int(cmd, opt, v, 1, 100000, &g->n);
    if (!strcmp(opt, "--seed")) return arg_u64(cmd, opt, v, &g->seed);
    if (!strcmp(opt, "--grid")) { g->grid = v; return true; }
    if (!strcmp(opt, "--out-dir")) { g->out_dir = v; return true; }
    if (!strcmp(opt, "--cols")) return arg_int(cmd, opt, v, 1, 1000, &g->cols);
    if (!strcmp(opt, "--from")) return (g->from_given = true) && arg_u64(cmd, opt, v, &g->from);
    if (!strcmp(opt, "--to")) return (g->to_given = true) && arg_u64(cmd, opt, v, &g->to);
    if (!strcmp(opt, "--frames")) return arg_int(cmd, opt, v, 2, 10000, &g->frames);
    if (!strcmp(opt, "--delay")) return arg_int(cmd, opt, v, 1, 65535, &g->delay);
    if (!strcmp(opt, "-o") || !strcmp(opt, "--output")) { g->out = v; return true; }
    if (!strcmp(opt, "--data")) { g->data = v; return true; }
    if (!strcmp(opt, "--strip")) { g->strip = v; return true; }
    if (!strcmp(opt, "--max-images")) return arg_int(cmd, opt, v, 2, 100000000, &g->max_images);
    if (!strcmp(opt, "--features")) { g->features = v; return true; }
    fprintf(stderr, "atelier %s: unknown option '%s' (atelier %s --help lists them)\n", cmd, opt, cmd);
    return false;
}

/* 1 help, 0 ok, -1 error */
static int gen_parse(int argc, char **argv, gen_cli *g) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
        if (!strcmp(a, "--json")) { g->json = true; continue; }
        if (a[0] != '-' || !a[1]) {
            if (g->weights) { fprintf(stderr, "atelier %s: one generator only ('%s' and '%s')\n", g->cmd, g->weights, a); return -1; }
            g->weights = a;
            continue;
        }
        char buf[64];
        const char *v, *opt = arg_split(argc, argv, &i, buf, sizeof buf, &v);
        if (!v) { fprintf(stderr, "atelier %s: %s needs a value\n", g->cmd, opt); return -1; }
        if (!gen_value(g, opt, v)) return -1;
    }
    if (!g->weights) { fprintf(stderr, "atelier %s: no generator given (a .safetensors file or monet64)\n", g->cmd); return -1; }
    return 0;
}

static bool gen_load(gen_cli *g) {
    g->params = arena_new(1 << 20);
    if (!g->params || gan_generator_load(g->weights, g->params, &g->net, &g->c) != STATUS_OK) {
        fprintf(stderr, "atelier %s: %s\n", g->cmd, error_message());
        return false;
    }
    if (g->c.arch == GAN_ARCH_MLP) {
        fprintf(stderr, "atelier %s: %s is a 2-D toy generator, not an image generator\n", g->cmd, g->weights);
        return false;
    }
    return true;
}

static bool make_dir(const char *cmd, const char *dir) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "atelier %s: cannot create %s: %s\n", cmd, dir, strerror(errno));
        return false;
    }
    return true;
}

/* ---- sample ---- */

/* One frame (3, S, S) in [-1, 1] as an image in [0, 1]. */
static image *frame_image(const tensor *x, int i) {
    int s = x->shape[2];
    image *im = image_new(s, s, 3);
    for (int64_t j = 0; im && j < 3 * (int64_t)s * s; j++) {
        float v = (x->data[(int64_t)i * 3 * s * s + j] + 1) * 0.5f;
        im->data[j] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    return im;
}

static int gan_sample_cmd(int argc, char **argv) {
    gen_cli g = {.cmd = "gan sample", .n = 64};
    int r = gen_parse(argc, argv, &g);
    if (r > 0) {
        printf("usage: atelier gan sample WEIGHTS [-n 64] [--seed 0] (--grid OUT.png | --out-dir DIR)\n\n"
               "Draws n images from the generator WEIGHTS (a run's generator.safetensors or\n"
               "checkpoint.safetensors, or monet64). Image i of a seed is the same whatever n.\n\n"
               "  -n N           how many [64]\n"
               "  --seed S       [0]\n"
               "  --grid FILE    one image with all of them (.png, .jpg, .webp)\n"
               "  --cols N       columns of the grid [ceil(sqrt(n))]\n"
               "  --out-dir DIR  one PNG per image: DIR/sample_0000.png ...\n");
        return 0;
    }
    if (r < 0) return 2;
    if (!g.grid && !g.out_dir) { fprintf(stderr, "atelier gan sample: say where: --grid OUT.png or --out-dir DIR\n"); return 2; }
    if (g.grid && !is_image_ext(g.grid)) { fprintf(stderr, "atelier gan sample: %s: the grid must end in .png, .jpg or .webp\n", g.grid); return 2; }
    int rc = 1;
    arena *a = arena_new(1 << 20);
    if (!gen_load(&g) || !a) goto done;
    if (g.out_dir && !make_dir(g.cmd, g.out_dir)) goto done;
    tensor *x = gan_net_sample(&g.net, a, g.seed, 0, g.n);
    if (!x) { fprintf(stderr, "atelier gan sample: %s\n", error_message()); goto done; }
    int cols = g.cols;
    while (!cols || cols * cols < g.n) cols++;
    if (g.grid && dataset_write_grid(g.grid, x, g.cols ? g.cols : cols) != STATUS_OK) {
        fprintf(stderr, "atelier gan sample: %s\n", error_message());
        goto done;
    }
    for (int i = 0; g.out_dir && i < g.n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/sample_%04d.png", g.out_dir, i);
        image *one = frame_image(x, i);
        status st = one ? image_write(path, one, NULL) : error_status();
        image_free(one);
        if (st != STATUS_OK) { fprintf(stderr, "atelier gan sample: %s\n", error_message()); goto done; }
    }
    rc = 0;
done:
    arena_free(a);
    arena_free(g.params);
    return rc;
}

/* ---- interpolate ---- */

static int gan_interpolate_cmd(int argc, char **argv) {
    gen_cli g = {.cmd = "gan interpolate", .frames = 60, .delay = 5};
    int r = gen_parse(argc, argv, &g);
    if (r > 0) {
        printf("usage: atelier gan interpolate WEIGHTS --from S1 --to S2 [--frames 60] -o OUT.gif\n\n"
               "Walks the latent space from the image of seed S1 to that of seed S2 along the great\n"
               "circle (slerp). OUT ending in .gif: an animated GIF; otherwise a folder of PNG frames\n"
               "(OUT/frame_0000.png ...).\n\n"
               "  --from S1, --to S2   the two seeds (sample 0 of each, as gan sample --seed S)\n"
               "  --frames N           [60]\n"
               "  --delay CS           GIF frame delay in centiseconds [5]\n"
               "  -o OUT               .gif file or frame folder\n"
               "  --strip FILE         also (or only) all frames side by side in one image (.png, .jpg)\n");
        return 0;
    }
    if (r < 0) return 2;
    if (!g.from_given || !g.to_given) { fprintf(stderr, "atelier gan interpolate: give both --from SEED and --to SEED\n"); return 2; }
    if (!g.out && !g.strip) { fprintf(stderr, "atelier gan interpolate: no output: give -o OUT.gif, -o FOLDER or --strip FILE\n"); return 2; }
    if (g.strip && !is_image_ext(g.strip)) { fprintf(stderr, "atelier gan interpolate: %s: the strip must end in .png, .jpg or .webp\n", g.strip); return 2; }
    const char *dot = g.out ? strrchr(g.out, '.') : NULL;
    bool gif = dot && !strcasecmp(dot, ".gif");
    int rc = 1, nz;
    arena *a = arena_new(1 << 20);
    image **frames = calloc((size_t)g.frames, sizeof *frames);
    if (!gen_load(&g) || !a || !frames) goto done;
    if (g.out && !gif && !make_dir(g.cmd, g.out)) goto done;
    nz = g.c.z_dim;
    tensor *z0 = gan_latents(a, nz, g.from, 0, 1), *z1 = gan_latents(a, nz, g.to, 0, 1);
    tensor *z = tensor_new(a, 2, (int[]){g.frames, nz});
    if (!z0 || !z1 || !z) goto fail;
    for (int i = 0; i < g.frames; i++)
        gan_slerp(z0->data, z1->data, nz, (float)i / (float)(g.frames - 1), z->data + (int64_t)i * nz);
    bool prev = autograd_set(false);
    tensor *x = gan_g_forward(&g.net, a, z, false);
    autograd_set(prev);
    if (!x) goto fail;
    if (g.strip && dataset_write_grid(g.strip, x, g.frames) != STATUS_OK) goto fail;
    for (int i = 0; g.out && i < g.frames; i++) {
        if (!(frames[i] = frame_image(x, i))) goto fail;
        if (!gif) {
            char path[4096];
            snprintf(path, sizeof path, "%s/frame_%04d.png", g.out, i);
            if (image_write(path, frames[i], NULL) != STATUS_OK) goto fail;
        }
    }
    if (g.out && gif) {
        gif_opts o = gif_defaults();
        o.delay_cs = g.delay;
        if (gif_write(g.out, frames, g.frames, &o) != STATUS_OK) goto fail;
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "atelier gan interpolate: %s\n", error_message());
done:
    for (int i = 0; frames && i < g.frames; i++) image_free(frames[i]);
    free(frames);
    arena_free(a);
    arena_free(g.params);
    return rc;
}

/* ---- eval ---- */

static int gan_eval_cmd(int argc, char **argv) {
    gen_cli g = {.cmd = "gan eval", .n = 256};
    int r = gen_parse(argc, argv, &g);
    if (r > 0) {
        printf("usage: atelier gan eval WEIGHTS --data DIR [-n 256] [--seed 0] [--features NET] [--json]\n\n"
               "Measures what GANs get wrong, on features of a feature network (--features):\n"
               "inception_v3's pooled 2048 (mixed10, at 299x299, as KID/FID use; the nsfwjs weights\n"
               "are ImageNet-pretrained then fine-tuned, so the numbers are close to, not equal to,\n"
               "published KID), or vgg19 (the built-in seeded VGG-19's texture statistics: comparable\n"
               "only with each other). Default: inception_v3 when installed, else vgg19.\n"
               "  KID            unbiased kernel distance between samples and the images of DIR\n"
               "                 (%d subsets of up to %d); lower is closer\n"
               "  diversity      mean pairwise feature distance of the samples relative to the\n"
               "                 real images'; below %.2f: mode collapse warning\n"
               "  memorisation   samples' distance to their nearest real image relative to real\n"
               "                 images' own nearest-neighbour distance; copies: samples closer than\n"
               "                 %.2f of it; over %.0f%% copies: memorisation warning\n\n"
               "  -n N           samples [256]\n  --seed S       [0]\n  --max-images N  [all]\n"
               "  --features NET inception_v3 | mobilenet_v2 | vgg19 | a TF.js model [inception_v3 if installed]\n"
               "  --json         one JSON line on stdout\n",
               METRICS_KID_SUBSETS, METRICS_KID_SUBSET_SIZE, METRICS_COLLAPSE_RATIO, METRICS_COPY_THRESHOLD,
               100 * METRICS_COPY_FRACTION);
        return 0;
    }
    if (r < 0) return 2;
    if (!g.data) { fprintf(stderr, "atelier gan eval: give the real images with --data DIR\n"); return 2; }
    int rc = 1;
    dataset *ds = NULL;
    gan_features gf = {0};
    float *real = NULL, *fake = NULL;
    metrics_report rep;
    if (!gen_load(&g)) goto done;
    if (!(ds = dataset_load_dir(g.data, g.c.size, g.max_images))) goto fail;
    if (ds->n < 2) { fprintf(stderr, "atelier gan eval: %s: at least 2 images are needed\n", g.data); goto done; }
    if (gan_features_open(&gf, g.features) != STATUS_OK) goto fail;
    if (!(real = gan_cli_real_features(&gf, ds)) || !(fake = gan_cli_fake_features(&gf, &g.net, g.seed, g.n))) goto fail;
    if (metrics_compare(fake, g.n, real, ds->n, gf.dim, 1, &rep) != STATUS_OK) goto fail;
    if (g.json) {
        char js[1024];
        gan_cli_report_json(&rep, js, sizeof js);
        printf("{\"samples\":%d,\"real\":%d,\"features\":\"%s\",%s}\n", g.n, ds->n, gf.name, js);
    } else {
        printf("%s: %d samples against %d images of %s (features: %s)\n", g.weights, g.n, ds->n, g.data, gf.name);
        gan_cli_print_report(stdout, &rep, g.n, ds->n);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "atelier gan eval: %s\n", error_message());
done:
    free(real);
    free(fake);
    dataset_free(ds);
    gan_features_close(&gf);
    arena_free(g.params);
    return rc;
}

int cmd_gan(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        gan_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "train")) return cmd_gan_train(argc - 1, argv + 1);
    if (!strcmp(sub, "sample")) return gan_sample_cmd(argc - 1, argv + 1);
    if (!strcmp(sub, "interpolate")) return gan_interpolate_cmd(argc - 1, argv + 1);
    if (!strcmp(sub, "eval")) return gan_eval_cmd(argc - 1, argv + 1);
    fprintf(stderr, "atelier gan: unknown command '%s' (train, sample, interpolate or eval)\n", sub);
    return 2;
}
