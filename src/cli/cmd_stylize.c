/* cmd_stylize.c: `atelier stylize CONTENT -s STYLE -o OUT`: neural style transfer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "atelier/backend.h"
#include "atelier/sha256.h"
#include "atelier/featnet.h"
#include "atelier/stylize.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/progress.h"

#define CMD "stylize"
#define MAX_STYLES 16

typedef struct stylize_cli {
    const char *content, *styles[MAX_STYLES], *out, *weights, *log, *init_file, *export_path, *net, *models_dir;
    const char *model, *mix;               /* the fast path */
    float strength;
    bool size_given, tile_given;
    char net_name[128];
    int net_range, net_pad, net_blur;      /* -1: the network's recipe */
    int nstyles, nblend, save_every, quality;
    float blend[MAX_STYLES];
    bool quiet, color_given, pool_given, multires_given, iterations_given;
    vgg_pool pool;
    stylize_opts o;
    /* filled during the run */
    FILE *logf;
    progress bar;
    char settings[2048];
    const char *const *argv;
    int argc;
} stylize_cli;

static void stylize_usage(FILE *f) {
    stylize_opts d = stylize_defaults(false), b = stylize_defaults(true), t = stylize_trained_defaults();
    fprintf(f,
        "usage: atelier stylize CONTENT -s STYLE [-s STYLE2 ...] -o OUT [options]\n"
        "       atelier stylize CONTENT --model MODEL [-s NAME | --mix NAME:W,...] -o OUT [options]\n\n"
        "With --model, a fast style network paints the photo in one pass (about a second):\n"
        "  --model NAME|FILE        kit-styles (built in: `atelier style-net show kit-styles` lists\n"
        "                           its styles) or a file from `atelier style-net train`\n"
        "  -s, --style NAME|INDEX   one of the model's styles (repeat: an equal blend) [the first]\n"
        "  --mix NAME:W,NAME:W      a blend of its styles, weights normalised to sum 1\n"
        "  --strength F             0 (the photo) .. 1 (the full style) [1]\n"
        "  --preserve-colors        keep the photo's colours (the painting's luminance only)\n"
        "  --size PX                long side of the output [the photo's]\n"
        "  --tile PX                outputs over 1.5 megapixels are painted in PX tiles [512]\n"
        "  --quality Q, --quiet     as below\n\n"
        "Without --model, optimisation (Gatys et al.; minutes, the finest quality):\n"
        "Paints the photo CONTENT in the style of the STYLE image(s) by optimising the image\n"
        "(Gatys et al.): L = a*content + b*style + c*tv, over a feature network's activations:\n"
        "the trained InceptionV3 when installed (sh scripts/install-models.sh; `atelier models`),\n"
        "else the built-in VGG-19. OUT is .png, .jpg or .webp; it records the settings, network,\n"
        "seed and input hashes as metadata.\n\n"
        "Defaults depend on the network: [inception_v3 | built-in vgg19 | vgg19 --weights].\n\n"
        "options (default in brackets):\n"
        "  -s, --style FILE         a style image; repeat to blend several\n"
        "  -o, --output FILE        the result\n"
        "  --size PX                long side of the output [%d]\n"
        "  --style-size PX          long side of the style images [style-scale x size]\n"
        "  --style-scale F          style size relative to --size [%g]\n"
        "  --style-blend W1,W2,...  weights of the style images [equal]\n"
        "  --content-weight A       [%g | %g | %g]\n"
        "  --style-weight B         [%g | %g | %g]\n"
        "  --tv-weight C            [%g | %g | %g]\n"
        "  --content-layers LIST    layers, each with an optional weight: relu3_1:1,relu4_2:2\n"
        "                           [%s | %s | %s]\n"
        "  --style-layers LIST      [%s |\n"
        "                            %s |\n"
        "                            %s]\n"
        "  --iterations N           per resolution level [%d | %d | %d]\n"
        "  --optimizer lbfgs|adam   [lbfgs]\n"
        "  --lr F                   L-BFGS step or Adam learning rate [lbfgs 1, adam 0.02]\n"
        "  --init content|random|FILE  the starting image [content]\n"
        "  --seed N                 noise of --init random [0]\n"
        "  --preserve-colors        transfer luminance only: keep the photo's colours\n"
        "  --match-colors           give the style images the photo's colour statistics first\n"
        "  --color rgb|palette|preserve  colour handling [rgb | palette | rgb]\n"
        "  --pooling max|avg        VGG pooling [max]\n"
        "  --multires K             optimise at size/2^(K-1) first, then refine at each doubling\n"
        "                           [%d | %d | %d]\n"
        "  --tile PX                high resolution in bounded memory: stylise at PX, then refine\n"
        "                           overlapping PX tiles with the whole style's statistics [off]\n"
        "  --tile-iterations N      iterations per tile [iterations / 2]\n"
        "  --save-every N           write OUT's name with _NNNN every N iterations [off]\n"
        "  --quality Q              JPEG / WebP quality 1..100 [92]\n"
        "  --net NAME|PATH          the feature network: inception_v3, mobilenet_v2 (trained; see\n"
        "                           `atelier models`), vgg19 (built-in random weights, or --weights),\n"
        "                           or a TF.js layers model's folder [%s here]\n"
        "  --net-input 01|pm1       a TF.js network's input range: [0, 1] or [-1, 1] [the network's recipe]\n"
        "  --net-pad PX             reflect-pad the image by PX before a TF.js network [the recipe's]\n"
        "  --net-blur on|off        a 3x3 binomial blur before the network against stride-2\n"
        "                           checkerboards [the recipe's]\n"
        "  --models-dir DIR         look for networks here first, then $ATELIER_MODELS, then\n"
        "                           ~/.local/share/atelier/models\n"
        "  --weights FILE           real VGG-19 weights: torchvision's .pth or a .safetensors\n"
        "  --log FILE               JSON lines: iteration, loss, content, style, tv, seconds\n"
        "                           (the last line, \"final\": true, has the result's loss)\n"
        "  --export-network FILE    write the VGG-19's weights (safetensors) and exit\n"
        "  --quiet                  no progress bar\n"
        "  -h, --help               this text\n",
        d.size, d.style_scale, t.content_weight, b.content_weight, d.content_weight, t.style_weight, b.style_weight,
        d.style_weight, t.tv_weight, b.tv_weight, d.tv_weight, t.content_layers, b.content_layers, d.content_layers,
        t.style_layers, b.style_layers, d.style_layers, t.iterations, b.iterations, d.iterations, t.multires, b.multires,
        d.multires, stylize_default_net(NULL));
}

/* Options that need the network to know their defaults are applied after it loads. */
typedef struct pending { const char *name, *val; } pending;

static int parse_flag(stylize_cli *c, const char *opt) {
    if (!strcmp(opt, "--quiet")) c->quiet = true;
    else if (!strcmp(opt, "--preserve-colors")) { c->o.color = STYLIZE_COLOR_PRESERVE; c->color_given = true; }
    else if (!strcmp(opt, "--match-colors")) c->o.match_colors = true;
    else return 0;
    return 1;
}

/* Options with a value; false (message printed) on a bad one. */
static bool parse_value(stylize_cli *c, const char *opt, const char *v) {
    stylize_opts *o = &c->o;
    static const char *const optimizers[] = {"lbfgs", "adam", NULL}, *const colors[] = {"rgb", "palette", "preserve", NULL},
                             *const pools[] = {"max", "avg", NULL};
    int k;
    if (!strcmp(opt, "-s") || !strcmp(opt, "--style")) {
        if (c->nstyles == MAX_STYLES) { fprintf(stderr, "atelier %s: at most %d style images\n", CMD, MAX_STYLES); return false; }
        c->styles[c->nstyles++] = v;
    } else if (!strcmp(opt, "-o") || !strcmp(opt, "--output")) c->out = v;
    else if (!strcmp(opt, "--size")) return (c->size_given = true) && arg_int(CMD, opt, v, 16, 65536, &o->size);
    else if (!strcmp(opt, "--model")) c->model = v;
    else if (!strcmp(opt, "--mix")) c->mix = v;
    else if (!strcmp(opt, "--strength")) return arg_float(CMD, opt, v, 0, 1, &c->strength);
    else if (!strcmp(opt, "--style-size")) return arg_int(CMD, opt, v, 16, 65536, &o->style_size);
    else if (!strcmp(opt, "--style-scale")) return arg_float(CMD, opt, v, 0.01, 16, &o->style_scale);
    else if (!strcmp(opt, "--style-blend")) return (c->nblend = arg_floats(CMD, opt, v, c->blend, MAX_STYLES)) > 0;
    else if (!strcmp(opt, "--content-weight")) return arg_float(CMD, opt, v, 0, 1e9, &o->content_weight);
    else if (!strcmp(opt, "--style-weight")) return arg_float(CMD, opt, v, 0, 1e9, &o->style_weight);
    else if (!strcmp(opt, "--tv-weight")) return arg_float(CMD, opt, v, 0, 1e9, &o->tv_weight);
    else if (!strcmp(opt, "--content-layers")) o->content_layers = v;
    else if (!strcmp(opt, "--style-layers")) o->style_layers = v;
    else if (!strcmp(opt, "--iterations")) return (c->iterations_given = true) && arg_int(CMD, opt, v, 0, 1000000, &o->iterations);
    else if (!strcmp(opt, "--tile-iterations")) return arg_int(CMD, opt, v, 1, 1000000, &o->tile_iterations);
    else if (!strcmp(opt, "--optimizer")) {
        if ((k = arg_choice(CMD, opt, v, optimizers)) < 0) return false;
        o->optimizer = k == 0 ? STYLIZE_LBFGS : STYLIZE_ADAM;
    } else if (!strcmp(opt, "--lr")) return arg_float(CMD, opt, v, 1e-9, 1e6, &o->lr);
    else if (!strcmp(opt, "--init")) {
        if (!strcmp(v, "content")) o->init = STYLIZE_INIT_CONTENT;
        else if (!strcmp(v, "random")) o->init = STYLIZE_INIT_RANDOM;
        else { o->init = STYLIZE_INIT_IMAGE; c->init_file = v; }
    } else if (!strcmp(opt, "--seed")) return arg_u64(CMD, opt, v, &o->seed);
    else if (!strcmp(opt, "--color")) {
        if ((k = arg_choice(CMD, opt, v, colors)) < 0) return false;
        o->color = (stylize_color)k;
        c->color_given = true;
    } else if (!strcmp(opt, "--pooling")) {
        if ((k = arg_choice(CMD, opt, v, pools)) < 0) return false;
        c->pool = k ? VGG_POOL_AVG : VGG_POOL_MAX;
        c->pool_given = true;
    } else if (!strcmp(opt, "--multires")) return (c->multires_given = true) && arg_int(CMD, opt, v, 1, 6, &o->multires);
    else if (!strcmp(opt, "--tile")) return (c->tile_given = true) && arg_int(CMD, opt, v, 64, 8192, &o->tile);
    else if (!strcmp(opt, "--save-every")) return arg_int(CMD, opt, v, 1, 1000000, &c->save_every);
    else if (!strcmp(opt, "--quality")) return arg_int(CMD, opt, v, 1, 100, &c->quality);
    else if (!strcmp(opt, "--weights")) c->weights = v;
    else if (!strcmp(opt, "--net")) c->net = v;
    else if (!strcmp(opt, "--models-dir")) c->models_dir = v;
    else if (!strcmp(opt, "--net-input")) {
        static const char *const ranges[] = {"01", "pm1", NULL};
        return (c->net_range = arg_choice(CMD, opt, v, ranges)) >= 0;
    } else if (!strcmp(opt, "--net-pad")) return arg_int(CMD, opt, v, 0, 256, &c->net_pad);
    else if (!strcmp(opt, "--net-blur")) {
        static const char *const onoff[] = {"off", "on", NULL};
        return (c->net_blur = arg_choice(CMD, opt, v, onoff)) >= 0;
    }
    else if (!strcmp(opt, "--export-network")) c->export_path = v;
    else if (!strcmp(opt, "--log")) c->log = v;
    else {
        fprintf(stderr, "atelier %s: unknown option '%s' (atelier stylize --help lists them)\n", CMD, opt);
        return false;
    }
    return true;
}

/* The options the user gave, as the net-dependent defaults must not overwrite them. */
typedef struct given { bool cw, sw, tw, cl, sl, lr; } given;

/* 1: --help shown, 0: parsed, -1: error (message printed). */
static int stylize_parse(int argc, char **argv, stylize_cli *c, given *g) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 1;
        if (a[0] != '-' || !a[1]) {
            if (c->content) { fprintf(stderr, "atelier %s: one content image only ('%s' and '%s')\n", CMD, c->content, a); return -1; }
            c->content = a;
            continue;
        }
        if (parse_flag(c, a)) continue;
        char buf[64];
        const char *v, *opt = arg_split(argc, argv, &i, buf, sizeof buf, &v);
        if (!v) { fprintf(stderr, "atelier %s: %s needs a value\n", CMD, opt); return -1; }
        if (!parse_value(c, opt, v)) return -1;
        g->cw |= !strcmp(opt, "--content-weight");
        g->sw |= !strcmp(opt, "--style-weight");
        g->tw |= !strcmp(opt, "--tv-weight");
        g->cl |= !strcmp(opt, "--content-layers");
        g->sl |= !strcmp(opt, "--style-layers");
        g->lr |= !strcmp(opt, "--lr");
    }
    if (c->export_path) return 0;
    if (!c->content) { fprintf(stderr, "atelier %s: no content image (atelier stylize --help)\n", CMD); return -1; }
    if (!c->out) { fprintf(stderr, "atelier %s: no output file: give one with -o FILE\n", CMD); return -1; }
    if (c->model) {
        if (c->mix && c->nstyles) { fprintf(stderr, "atelier %s: give --style NAME or --mix, not both\n", CMD); return -1; }
        if (c->tile_given && (c->o.tile < 128 || c->o.tile % 4)) {
            fprintf(stderr, "atelier %s: --tile %d: with --model, want a multiple of 4 >= 128\n", CMD, c->o.tile);
            return -1;
        }
        return 0;
    }
    if (c->mix || c->strength != 1.0f) {
        fprintf(stderr, "atelier %s: --mix and --strength are for fast style networks: give --model\n", CMD);
        return -1;
    }
    if (!c->nstyles) { fprintf(stderr, "atelier %s: no style image: give one with -s FILE (or a fast network: --model kit-styles)\n", CMD); return -1; }
    if (c->nblend && c->nblend != c->nstyles) {
        fprintf(stderr, "atelier %s: --style-blend has %d weights for %d style images\n", CMD, c->nblend, c->nstyles);
        return -1;
    }
    return 0;
}

/* The extension must be one image_write knows, and the folder must exist, before the work. */
static bool check_output(const char *path) {
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash) || (strcasecmp(dot, ".png") && strcasecmp(dot, ".jpg") && strcasecmp(dot, ".jpeg") && strcasecmp(dot, ".webp"))) {
        fprintf(stderr, "atelier %s: %s: the output must end in .png, .jpg, .jpeg or .webp\n", CMD, path);
        return false;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
    if (access(dir, W_OK) != 0) {
        fprintf(stderr, "atelier %s: %s: cannot write in folder '%s': %s\n", CMD, path, dir, strerror(errno));
        return false;
    }
    return true;
}

/* OUT with _NNNN before the extension. */
static void numbered_path(const char *out, int n, char *buf, size_t size) {
    const char *dot = strrchr(out, '.');
    snprintf(buf, size, "%.*s_%04d%s", (int)(dot - out), out, n, dot);
}

static status write_result(stylize_cli *c, image *im, const char *path);

static bool on_progress(const stylize_progress *p, void *user) {
    stylize_cli *c = user;
    if (c->logf) {
        fprintf(c->logf, "{\"iteration\": %d, \"loss\": %.9g, \"content\": %.9g, \"style\": %.9g, \"tv\": %.9g, \"seconds\": %.3f, "
                "\"level\": %d, \"tile\": %d}\n", p->iteration, p->loss, p->content, p->style, p->tv, p->seconds, p->level, p->tile);
        fflush(c->logf);
    }
    char info[96];
    if (p->tiles) snprintf(info, sizeof info, "tile %d/%d loss %.4g", p->tile + 1, p->tiles, p->loss);
    else if (p->levels > 1) snprintf(info, sizeof info, "level %d/%d loss %.4g", p->level + 1, p->levels, p->loss);
    else snprintf(info, sizeof info, "loss %.4g", p->loss);
    c->bar.total = p->iterations;
    progress_update(&c->bar, p->iteration, info);
    if (c->save_every && p->iteration % c->save_every == 0) {
        char path[4096];
        numbered_path(c->out, p->iteration, path, sizeof path);
        image *im = stylize_snapshot(p);
        if (!im || write_result(c, im, path) != STATUS_OK)
            fprintf(stderr, "\natelier %s: could not save %s: %s\n", CMD, path, error_message());
        image_free(im);
    }
    return true;
}

/* ---- provenance ---- */

static const char *color_name(stylize_color m) {
    return m == STYLIZE_COLOR_RGB ? "rgb" : m == STYLIZE_COLOR_PALETTE ? "palette" : "preserve";
}

/* The settings as JSON (the values used, defaults included). */
static void settings_json(stylize_cli *c, char *buf, size_t size) {
    const stylize_opts *o = &c->o;
    int n = snprintf(buf, size,
        "{\"size\": %d, \"style_size\": %d, \"style_scale\": %g, \"content_weight\": %g, \"style_weight\": %g, "
        "\"tv_weight\": %g, \"content_layers\": \"%s\", \"style_layers\": \"%s\", \"iterations\": %d, "
        "\"optimizer\": \"%s\", \"lr\": %g, \"init\": \"%s\", \"seed\": %llu, \"color\": \"%s\", \"match_colors\": %s, "
        "\"pooling\": \"%s\", \"multires\": %d, \"tile\": %d, \"tile_iterations\": %d, \"network\": \"%s\", \"backend\": \"%s\"",
        o->size, o->style_size, o->style_scale, o->content_weight, o->style_weight, o->tv_weight, o->content_layers,
        o->style_layers, o->iterations, o->optimizer == STYLIZE_LBFGS ? "lbfgs" : "adam", o->lr,
        o->init == STYLIZE_INIT_CONTENT ? "content" : o->init == STYLIZE_INIT_RANDOM ? "random" : "file",
        (unsigned long long)o->seed, color_name(o->color), o->match_colors ? "true" : "false",
        c->pool == VGG_POOL_MAX ? "max" : "avg", o->multires, o->tile, o->tile_iterations,
        c->net_name, backend_current()->name);
    if (c->nblend && n > 0 && (size_t)n < size) {
        n += snprintf(buf + n, size - (size_t)n, ", \"style_blend\": [");
        for (int k = 0; k < c->nblend && (size_t)n < size; k++)
            n += snprintf(buf + n, size - (size_t)n, "%s%g", k ? ", " : "", c->blend[k]);
        if ((size_t)n < size) n += snprintf(buf + n, size - (size_t)n, "]");
    }
    if (n > 0 && (size_t)n < size) snprintf(buf + n, size - (size_t)n, "}");
}

static status add_hash(image *im, const char *key, const char *path) {
    char hex[65];
    if (!sha256_file(path, hex)) return error_set(STATUS_IO, "%s: cannot read to hash it", path);
    return image_text_set(im, key, hex);
}

static status write_result(stylize_cli *c, image *im, const char *path) {
    char key[64];
    status st = image_text_set(im, "Software", "Atelier " ATELIER_VERSION);
    if (st == STATUS_OK) st = image_text_set(im, "atelier.made_by", "machine-made: neural style transfer (Atelier " ATELIER_VERSION ")");
    if (st == STATUS_OK) st = image_text_set(im, "atelier.settings", c->settings);
    if (st == STATUS_OK) {
        char seed[32];
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->o.seed);
        st = image_text_set(im, "atelier.seed", seed);
    }
    if (st == STATUS_OK) st = add_hash(im, "atelier.content.sha256", c->content);
    for (int k = 0; st == STATUS_OK && k < c->nstyles; k++) {
        snprintf(key, sizeof key, "atelier.style%d.sha256", k + 1);
        st = add_hash(im, key, c->styles[k]);
    }
    if (st == STATUS_OK && c->weights) st = add_hash(im, "atelier.weights.sha256", c->weights);
    if (st == STATUS_OK && c->init_file) st = add_hash(im, "atelier.init.sha256", c->init_file);
    image_write_opts wo = {.quality = c->quality};
    return st == STATUS_OK ? image_write(path, im, &wo) : st;
}

/* ---- the command ---- */

static void apply_net_defaults(stylize_cli *c, const stylize_net *net, const given *g) {
    stylize_opts d = stylize_net_defaults(net), *o = &c->o;
    if (!g->cw) o->content_weight = d.content_weight;
    if (!g->sw) o->style_weight = d.style_weight;
    if (!g->tw) o->tv_weight = d.tv_weight;
    if (!g->cl) o->content_layers = d.content_layers;
    if (!g->sl) o->style_layers = d.style_layers;
    if (!g->lr) o->lr = o->optimizer == STYLIZE_ADAM ? 0.02f : d.lr;
    if (!c->color_given) o->color = d.color;
    if (!c->multires_given) o->multires = d.multires;
    if (!c->iterations_given) o->iterations = d.iterations;
}

static image *read_input(const char *what, const char *path) {
    image *im = image_read(path, NULL);
    if (!im) fprintf(stderr, "atelier %s: %s image: %s\n", CMD, what, error_message());
    return im;
}

static int export_network(stylize_cli *c) {
    if (!c->pool_given) c->pool = stylize_default_pool(c->weights == NULL);
    stylize_net *net = stylize_net_new(c->weights, c->pool, NULL);
    status st = net ? stylize_net_save(net, c->export_path) : error_status();
    if (st != STATUS_OK) fprintf(stderr, "atelier %s: --export-network %s: %s\n", CMD, c->export_path, error_message());
    stylize_net_free(net);
    return st == STATUS_OK ? 0 : 1;
}

static int stylize_main(stylize_cli *c, const given *g) {
    image *content = NULL, *styles[MAX_STYLES] = {0}, *init = NULL, *out = NULL;
    stylize_net *net = NULL;
    int rc = 1;
    if (!check_output(c->out)) return 1;
    if (!(content = read_input("content", c->content))) goto done;
    for (int k = 0; k < c->nstyles; k++)
        if (!(styles[k] = read_input("style", c->styles[k]))) goto done;
    if (c->init_file && !(init = read_input("--init", c->init_file))) goto done;
    if (!c->pool_given) c->pool = stylize_default_pool(c->weights == NULL);
    const char *spec = c->net ? c->net : c->weights ? "vgg19" : stylize_default_net(c->models_dir);
    if (!(net = stylize_net_open(spec, c->models_dir, c->weights, c->pool))) {
        fprintf(stderr, "atelier %s: --net %s: %s\n", CMD, spec, error_message());
        goto done;
    }
    if (!c->net && !c->weights && stylize_net_builtin(net) && !c->quiet)
        fprintf(stderr, "atelier %s: the trained feature networks are not installed: using the built-in random VGG-19 "
                "(weaker pictures); install them with: sh scripts/install-models.sh\n", CMD);
    if (c->net_blur >= 0) featnet_set_blur(stylize_net_featnet(net), c->net_blur == 1);
    if (featnet_get_kind(stylize_net_featnet(net)) == FEATNET_TFJS && (c->net_range >= 0 || c->net_pad >= 0)) {
        featnet *fn = stylize_net_featnet(net);
        featnet_set_input(fn, c->net_range >= 0 ? (featnet_range)c->net_range : featnet_get_range(fn),
                          c->net_pad >= 0 ? c->net_pad : featnet_get_pad(fn));
    }
    if (c->weights) snprintf(c->net_name, sizeof c->net_name, "vgg19 (weights file)");
    else if (featnet_get_kind(stylize_net_featnet(net)) == FEATNET_TFJS) {
        featnet *fn = stylize_net_featnet(net);
        snprintf(c->net_name, sizeof c->net_name, "%s (input %s, reflect pad %d, blur %s)", featnet_name(fn),
                 featnet_get_range(fn) == FEATNET_RANGE_01 ? "[0, 1]" : "[-1, 1]", featnet_get_pad(fn),
                 featnet_get_blur(fn) ? "on" : "off");
    } else snprintf(c->net_name, sizeof c->net_name, "%s%s", featnet_name(stylize_net_featnet(net)), stylize_net_builtin(net) ? " (built-in)" : "");
    apply_net_defaults(c, net, g);
    c->o.init_image = init;
    c->o.blend = c->nblend ? c->blend : NULL;
    c->o.callback = on_progress;
    c->o.user = c;
    settings_json(c, c->settings, sizeof c->settings);
    if (c->log && !(c->logf = fopen(c->log, "w"))) {
        fprintf(stderr, "atelier %s: --log %s: %s\n", CMD, c->log, strerror(errno));
        goto done;
    }
    stylize_result r;
    c->bar = progress_start(1, c->quiet);   /* the total is known once the run has sized things */
    c->bar.total = 0;
    out = stylize_run(net, content, (const image *const *)styles, c->nstyles, &c->o, &r);
    if (!out) {
        if (c->bar.tty && !c->quiet) fprintf(stderr, "\n");
        fprintf(stderr, "atelier %s: %s\n", CMD, error_message());
        goto done;
    }
    if (c->logf)
        fprintf(c->logf, "{\"iteration\": %d, \"loss\": %.9g, \"content\": %.9g, \"style\": %.9g, \"tv\": %.9g, \"seconds\": %.3f, "
                "\"final\": true}\n", r.iterations, r.loss, r.content, r.style, r.tv, r.seconds);
    char info[96];
    if (c->o.tile && c->o.size > c->o.tile)   /* the last tile's loss: not comparable with the first */
        snprintf(info, sizeof info, "last tile's loss %.4g", r.loss);
    else
        snprintf(info, sizeof info, "loss %.4g (from %.4g)", r.loss, r.first_loss);
    progress_finish(&c->bar, info);
    if (write_result(c, out, c->out) != STATUS_OK) {
        fprintf(stderr, "atelier %s: %s\n", CMD, error_message());
        goto done;
    }
    if (!c->quiet) fprintf(stderr, "wrote %s (%dx%d) in %.1f s\n", c->out, out->w, out->h, r.seconds);
    rc = 0;
done:
    if (c->logf) fclose(c->logf);
    image_free(out);
    image_free(init);
    image_free(content);
    for (int k = 0; k < c->nstyles; k++) image_free(styles[k]);
    stylize_net_free(net);
    return rc;
}

int cmd_stylize(int argc, char **argv) {
    stylize_cli c = {.o = stylize_defaults(false), .pool = VGG_POOL_MAX, .net_range = -1, .net_pad = -1, .net_blur = -1, .strength = 1.0f, .argv = (const char *const *)argv, .argc = argc};
    given g = {0};
    int parsed = stylize_parse(argc, argv, &c, &g);
    if (parsed > 0) { stylize_usage(stdout); return 0; }
    if (parsed < 0) return 2;
    if (c.export_path) return export_network(&c);
    if (c.model) {
        if (!check_output(c.out)) return 1;
        stylize_fast_args fa = {.content = c.content, .out = c.out, .model = c.model, .mix = c.mix,
                                .styles = c.styles, .nstyles = c.nstyles, .strength = c.strength,
                                .preserve_colors = c.o.color == STYLIZE_COLOR_PRESERVE, .quiet = c.quiet,
                                .size = c.size_given ? c.o.size : 0, .tile = c.tile_given ? c.o.tile : 0,
                                .quality = c.quality};
        return stylize_fast(&fa);
    }
    return stylize_main(&c, &g);
}
