/* featnet.c: feature networks behind one interface (featnet.h): VGG-19 (models.h) or a
 * TF.js layers model (tfjs.h), with each one's input normalisation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "atelier/featnet.h"
#include "atelier/ops.h"
#include "atelier/weights.h"

/* The built-in network's weights: see the README's "The built-in network". */
#define FEATNET_VGG_SEED 19

struct featnet {
    featnet_kind kind;
    char name[128];
    bool builtin;
    arena *params;       /* VGG's weights */
    vgg19 vgg;
    tfjs_model *tfjs;
    featnet_range range;
    int pad;
    bool blur;           /* [1 2 1]^2 / 16 before the network (anti-aliasing) */
    arena *consts;       /* the blur's kernel */
    tensor *blur_w;      /* (3, 1, 3, 3) */
};

featnet *featnet_vgg19(const char *weights, vgg_pool pool, const char *last) {
    featnet *f = calloc(1, sizeof *f);
    if (!f || !(f->params = arena_new((size_t)90 << 20))) {
        free(f);
        error_set(STATUS_NOMEM, "featnet: out of memory for VGG-19");
        return NULL;
    }
    f->kind = FEATNET_VGG19;
    f->builtin = weights == NULL;
    snprintf(f->name, sizeof f->name, "vgg19");
    status st = vgg19_init(&f->vgg, f->params, FEATNET_VGG_SEED, pool, last);
    if (st == STATUS_OK && weights) st = weights_load(&f->vgg.params, weights, NULL);
    if (st != STATUS_OK) { featnet_free(f); return NULL; }
    model_params_set_trainable(&f->vgg.params, false);
    return f;
}

static bool is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

const char *featnet_default_dir(char *out, size_t n) {
    const char *env = getenv("ATELIER_MODELS"), *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (env && *env) snprintf(out, n, "%.*s", (int)strcspn(env, ":"), env);
    else if (xdg && *xdg) snprintf(out, n, "%s/atelier/models", xdg);
    else snprintf(out, n, "%s/.local/share/atelier/models", home && *home ? home : ".");
    return out;
}

/* dir/name/model.json exists: out = dir/name */
static bool try_dir(const char *dir, size_t dlen, const char *name, char *out, size_t n) {
    char p[4200];
    if (!dlen || dlen > 4000) return false;
    snprintf(p, sizeof p, "%.*s/%s/model.json", (int)dlen, dir, name);
    if (!is_file(p)) return false;
    snprintf(out, n, "%.*s/%s", (int)dlen, dir, name);
    return true;
}

bool featnet_find(const char *name, const char *dir, char *out, size_t n) {
    if (!name || !*name || strchr(name, '/') || !strcmp(name, "..") || !strcmp(name, ".")) return false;
    if (dir && try_dir(dir, strlen(dir), name, out, n)) return true;
    const char *env = getenv("ATELIER_MODELS");
    for (const char *p = env; p && *p;) {
        size_t len = strcspn(p, ":");
        if (try_dir(p, len, name, out, n)) return true;
        p += len + (p[len] == ':');
    }
    char d[4096];
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (xdg && *xdg) snprintf(d, sizeof d, "%s/atelier/models", xdg);
    else snprintf(d, sizeof d, "%s/.local/share/atelier/models", home && *home ? home : ".");
    return try_dir(d, strlen(d), name, out, n);
}

/* The trained networks' input as Atelier feeds them (the README's screen): [0, 1], as nsfwjs
 * fine-tuned them ([-1, 1], Keras' ImageNet scaling, painted a fine noise texture); a
 * binomial blur (without it their stride-2 stems print a 2-pixel checkerboard); reflection
 * padding so that the unpadded ('valid') stem convolutions do not band the borders. And
 * their texture layers (fine to coarse) for Gram losses. */
static const struct known_net {
    const char *name;
    featnet_range range;
    int pad;
    bool blur;
    const char *texture[3];
} g_known[] = {
    {"inception_v3", FEATNET_RANGE_01, 16, true, {"activation_1", "activation_3", "activation_5"}},
    {"mobilenet_v2", FEATNET_RANGE_01, 8, true, {"Conv1_relu", "block_1_expand_relu", "block_3_expand_relu"}},
};

static const struct known_net *known(const featnet *f) {
    for (size_t i = 0; f->kind == FEATNET_TFJS && i < sizeof g_known / sizeof g_known[0]; i++)
        if (!strcmp(f->name, g_known[i].name)) return &g_known[i];
    return NULL;
}

int featnet_texture_layers(const featnet *f, const char **names) {
    if (f->kind == FEATNET_VGG19) {
        names[0] = "relu1_1"; names[1] = "relu2_1"; names[2] = "relu3_1";
        return 3;
    }
    const struct known_net *k = known(f);
    if (!k) return 0;
    for (int i = 0; i < 3; i++) names[i] = k->texture[i];
    return 3;
}

featnet *featnet_open(const char *spec, const char *dir, const char *weights) {
    if (!spec || !strcmp(spec, "vgg19") || !strcmp(spec, "vgg")) return featnet_vgg19(weights, VGG_POOL_MAX, NULL);
    if (weights) { error_set(STATUS_ARG, "--weights is for VGG-19; '%s' brings its own", spec); return NULL; }
    char path[4200];
    struct stat st;
    bool as_path = strchr(spec, '/') || stat(spec, &st) == 0;
    if (!as_path && !featnet_find(spec, dir, path, sizeof path)) {
        char d[4096];
        error_set(STATUS_ARG, "no feature network '%s' installed (searched %s%s$ATELIER_MODELS and %s); "
                  "install the trained networks with: sh scripts/install-models.sh", spec, dir ? dir : "", dir ? ", " : "",
                  featnet_default_dir(d, sizeof d));
        return NULL;
    }
    featnet *f = calloc(1, sizeof *f);
    if (!f) { error_set(STATUS_NOMEM, "featnet: out of memory"); return NULL; }
    f->kind = FEATNET_TFJS;
    if (!(f->tfjs = tfjs_load(as_path ? spec : path))) { free(f); return NULL; }
    /* the name: the spec, or the model's folder */
    const char *p = as_path ? spec : spec, *end = p + strlen(p);
    if (as_path) {
        while (end > p && end[-1] == '/') end--;
        if (end - p > 10 && !strncmp(end - 10, "model.json", 10)) { end -= 10; while (end > p && end[-1] == '/') end--; }
        const char *s = end;
        while (s > p && s[-1] != '/') s--;
        p = s;
    }
    snprintf(f->name, sizeof f->name, "%.*s", (int)(end - p), p);
    f->range = FEATNET_RANGE_01;
    const struct known_net *k = known(f);
    if (k) {
        f->range = k->range;
        f->pad = k->pad;
        if (featnet_set_blur(f, k->blur) != STATUS_OK) { featnet_free(f); return NULL; }
    }
    return f;
}

void featnet_free(featnet *f) {
    if (!f) return;
    arena_free(f->params);
    tfjs_free(f->tfjs);
    arena_free(f->consts);
    free(f);
}

featnet_kind featnet_get_kind(const featnet *f) { return f->kind; }
const char *featnet_name(const featnet *f) { return f->name; }
bool featnet_builtin(const featnet *f) { return f->kind == FEATNET_VGG19 && f->builtin; }
const vgg19 *featnet_vgg(const featnet *f) { return f->kind == FEATNET_VGG19 ? &f->vgg : NULL; }
const tfjs_model *featnet_tfjs(const featnet *f) { return f->tfjs; }

void featnet_set_input(featnet *f, featnet_range range, int pad) {
    f->range = range;
    f->pad = pad < 0 ? 0 : pad;
}

status featnet_set_blur(featnet *f, bool on) {
    if (on && !f->blur_w) {
        static const float k[9] = {1 / 16.f, 2 / 16.f, 1 / 16.f, 2 / 16.f, 4 / 16.f, 2 / 16.f, 1 / 16.f, 2 / 16.f, 1 / 16.f};
        if (!f->consts && !(f->consts = arena_new(4096))) return error_set(STATUS_NOMEM, "featnet: out of memory");
        if (!(f->blur_w = tensor_new(f->consts, 4, (int[]){3, 1, 3, 3}))) return error_status();
        for (int c = 0; c < 3; c++) memcpy(f->blur_w->data + 9 * c, k, sizeof k);
    }
    f->blur = on;
    return STATUS_OK;
}
bool featnet_get_blur(const featnet *f) { return f->blur; }
featnet_range featnet_get_range(const featnet *f) { return f->range; }
int featnet_get_pad(const featnet *f) { return f->pad; }

bool featnet_has_layer(const featnet *f, const char *layer) {
    if (f->kind == FEATNET_TFJS) return tfjs_layer_find(f->tfjs, layer) >= 0;
    int i = vgg19_layer_index(layer);
    return i >= 0 && i < f->vgg.nconv;
}

status featnet_forward(const featnet *f, arena *a, tensor *img, int n, const char *const *names, tensor **outs) {
    if (!f || !img || n < 1) return error_set(STATUS_ARG, "featnet_forward: bad arguments");
    if (f->kind == FEATNET_VGG19) return vgg19_forward(&f->vgg, a, vgg_normalize(a, img), n, names, outs);
    tensor *x = f->range == FEATNET_RANGE_PM1 ? op_add_scalar(a, op_mul_scalar(a, img, 2.0f), -1.0f) : img;
    if (f->blur && x) {
        /* the stem's stride-2 convolutions see only every other pixel's neighbourhood in
         * full: their gradient comes back as a 2-pixel checkerboard, which the optimiser
         * paints into the picture. A binomial blur first removes that frequency from both
         * what the network sees and the gradient (Zhang 2019, "Making CNNs shift-invariant
         * again"). */
        conv2d_opts o = conv2d_defaults();
        o.groups = 3;
        x = op_conv2d(a, op_pad(a, x, PAD_REFLECT, 1, 1, 1, 1), f->blur_w, NULL, o);
    }
    if (f->pad && x) {
        int p = f->pad, h = x->shape[2], w = x->shape[3];
        /* reflection needs pad < side; small images get what fits */
        int ph = p < h ? p : h - 1, pw = p < w ? p : w - 1;
        x = op_pad(a, x, PAD_REFLECT, ph, ph, pw, pw);
    }
    if (!x) return error_status();
    return tfjs_forward(f->tfjs, a, x, n, names, outs);
}
