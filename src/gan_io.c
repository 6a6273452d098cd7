/* gan_io.c: GAN checkpoints, generator files and the built-in generators (gan.h).
 *
 * A checkpoint is a safetensors file with metadata format "atelier-gan", version "1",
 * step, optG_steps, optD_steps and every config field under its own key; tensors
 * "G/<name>", "D/<name>", "E/<name>" (parameters and buffers of each net, spectral-norm
 * vectors included), "optG/<state>", "optD/<state>" (Adam's moments) and "style/<l>" (the
 * style targets, when set). A generator file has format "atelier-gan-generator", the same
 * config keys, and the sampler's tensors under their plain names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/diffaug.h"
#include "atelier/safetensors.h"
#include "gan_internal.h"

#define FORMAT_CKPT "atelier-gan"
#define FORMAT_GEN "atelier-gan-generator"
#define MAX_TENSORS 1024
#define MAX_META 32

/* ---- the config as metadata ---- */

typedef struct meta { const char *kv[2 * MAX_META]; char buf[MAX_META][72]; int n; } meta;

static void meta_str(meta *m, const char *k, const char *v) {
    snprintf(m->buf[m->n], sizeof m->buf[0], "%s", v);
    m->kv[2 * m->n] = k;
    m->kv[2 * m->n + 1] = m->buf[m->n];
    m->n++;
}

/* integers exactly, other numbers with 9 significant digits (float round trip) */
static void meta_num_add(meta *m, const char *k, double v) {
    char b[48];
    if (v == (double)(long long)v) snprintf(b, sizeof b, "%lld", (long long)v);
    else snprintf(b, sizeof b, "%.9g", v);
    meta_str(m, k, b);
}

static void meta_config(meta *m, const gan_config *c) {
    char aug[64], seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
    meta_str(m, "arch", gan_arch_name(c->arch));
    meta_num_add(m, "size", c->size);
    meta_num_add(m, "ngf", c->ngf);
    meta_num_add(m, "ndf", c->ndf);
    meta_num_add(m, "z_dim", c->z_dim);
    meta_str(m, "loss", gan_loss_name(c->loss));
    meta_str(m, "spectral_norm", c->spectral_norm ? "1" : "0");
    meta_str(m, "diffaug", gan_diffaug_str(c->diffaug, aug));
    meta_num_add(m, "r1", c->r1);
    meta_num_add(m, "gp", c->gp);
    meta_num_add(m, "ema", c->ema);
    meta_num_add(m, "batch", c->batch);
    meta_num_add(m, "lr_g", c->lr_g);
    meta_num_add(m, "lr_d", c->lr_d);
    meta_num_add(m, "beta1", c->beta1);
    meta_num_add(m, "beta2", c->beta2);
    meta_num_add(m, "d_steps", c->d_steps);
    meta_str(m, "seed", seed);
    meta_num_add(m, "style_weight", c->style_weight);
    if (c->style_net[0]) meta_str(m, "style_net", c->style_net);
    /* the lab's choices, written only when used (older files read as the defaults) */
    if (c->g_steps != 1) meta_num_add(m, "g_steps", c->g_steps);
    if (c->opt == GAN_OPT_SGD) meta_str(m, "optimizer", "sgd");
    if (c->noise == GAN_NOISE_UNIFORM) meta_str(m, "noise", "uniform");
    if (c->arch == GAN_ARCH_MLP) {
        char w[2][64] = {"", ""};
        for (int net = 0; net < 2; net++) {
            int n = net ? c->d_hidden : c->g_hidden;
            const int *u = net ? c->d_units : c->g_units;
            int width = net ? c->ndf : c->ngf;
            for (int i = 0; i < n; i++)
                snprintf(w[net] + strlen(w[net]), sizeof w[net] - strlen(w[net]), "%s%d", i ? "," : "", u[i] > 0 ? u[i] : width);
            if (!n) strcpy(w[net], "none");
        }
        meta_str(m, "g_layers", w[0]);
        meta_str(m, "d_layers", w[1]);
    }
}

static bool meta_num(const safetensors *f, const char *k, double *v) {
    const char *s = safetensors_metadata(f, k);
    char *end;
    if (!s || !*s) return false;
    *v = strtod(s, &end);
    return *end == 0;
}

/* "64,32" (hidden widths) or "none"; absent: the default three of ngf/ndf */
static status layers_from(const safetensors *f, const char *key, int *n, int *units) {
    const char *s = safetensors_metadata(f, key);
    if (!s) return STATUS_OK;
    *n = 0;
    if (!strcmp(s, "none")) return STATUS_OK;
    for (const char *p = s; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 1024 || *n >= GAN_MLP_MAX_HIDDEN || (*end && *end != ','))
            return error_set(STATUS_FORMAT, "GAN metadata \"%s\" is not a list of up to %d widths", key, GAN_MLP_MAX_HIDDEN);
        units[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return STATUS_OK;
}

static status config_from(const safetensors *f, const char *path, gan_config *c) {
    *c = gan_defaults();
    double v[13];
    static const char *const keys[13] = {"size", "ngf", "ndf", "z_dim", "r1", "gp", "ema", "batch",
                                         "lr_g", "lr_d", "beta1", "beta2", "d_steps"};
    for (int i = 0; i < 13; i++)
        if (!meta_num(f, keys[i], &v[i]))
            return error_set(STATUS_FORMAT, "%s: GAN metadata \"%s\" missing or not a number", path, keys[i]);
    c->size = (int)v[0]; c->ngf = (int)v[1]; c->ndf = (int)v[2]; c->z_dim = (int)v[3];
    c->r1 = (float)v[4]; c->gp = (float)v[5]; c->ema = (float)v[6]; c->batch = (int)v[7];
    c->lr_g = (float)v[8]; c->lr_d = (float)v[9]; c->beta1 = (float)v[10]; c->beta2 = (float)v[11];
    c->d_steps = (int)v[12];
    const char *sn = safetensors_metadata(f, "spectral_norm"), *seed = safetensors_metadata(f, "seed");
    const char *aug = safetensors_metadata(f, "diffaug");
    double sw;
    c->spectral_norm = sn && strcmp(sn, "1") == 0;
    c->seed = seed ? strtoull(seed, NULL, 10) : 1;
    c->style_weight = meta_num(f, "style_weight", &sw) ? (float)sw : 0;
    const char *snet = safetensors_metadata(f, "style_net");   /* absent: the built-in VGG-19 */
    if (snet && strlen(snet) >= sizeof c->style_net) return error_set(STATUS_FORMAT, "%s: style_net too long", path);
    if (snet) snprintf(c->style_net, sizeof c->style_net, "%s", snet);
    if (layers_from(f, "g_layers", &c->g_hidden, c->g_units) != STATUS_OK ||
        layers_from(f, "d_layers", &c->d_hidden, c->d_units) != STATUS_OK)
        return error_set(STATUS_FORMAT, "%s: %s", path, error_message());
    double gs;
    if (meta_num(f, "g_steps", &gs)) c->g_steps = (int)gs;
    const char *opt = safetensors_metadata(f, "optimizer"), *noise = safetensors_metadata(f, "noise");
    c->opt = opt && !strcmp(opt, "sgd") ? GAN_OPT_SGD : GAN_OPT_ADAM;
    c->noise = noise && !strcmp(noise, "uniform") ? GAN_NOISE_UNIFORM : GAN_NOISE_NORMAL;
    status st = STATUS_OK;
    c->diffaug = aug && strcmp(aug, "none") != 0 ? diffaug_parse(aug, &st) : 0;
    if (st != STATUS_OK) return st;
    if (gan_arch_parse(safetensors_metadata(f, "arch"), &c->arch) != STATUS_OK ||
        gan_loss_parse(safetensors_metadata(f, "loss"), &c->loss) != STATUS_OK)
        return error_set(STATUS_FORMAT, "%s: %s", path, error_message());
    return STATUS_OK;
}

/* ---- tensor lists ---- */

typedef struct tlist { const char *names[MAX_TENSORS]; tensor *ts[MAX_TENSORS]; char *owned[MAX_TENSORS]; int n; } tlist;

static bool tl_add(tlist *l, const char *prefix, const char *name, tensor *t) {
    if (l->n >= MAX_TENSORS) return false;
    size_t len = strlen(prefix) + strlen(name) + 1;
    char *s = malloc(len);
    if (!s) return false;
    snprintf(s, len, "%s%s", prefix, name);
    l->owned[l->n] = s;
    l->names[l->n] = s;
    l->ts[l->n++] = t;
    return true;
}

static bool tl_net(tlist *l, const char *prefix, const gan_net *n) {
    bool ok = true;
    for (int i = 0; ok && i < n->params.n; i++) ok = tl_add(l, prefix, n->params.names[i], n->params.tensors[i]);
    for (int i = 0; ok && i < n->buffers.n; i++) ok = tl_add(l, prefix, n->buffers.names[i], n->buffers.tensors[i]);
    return ok;
}

static bool tl_optim(tlist *l, const char *prefix, optim *o) {
    const char *names[MAX_TENSORS / 2];
    tensor *ts[MAX_TENSORS / 2];
    int n = optim_state(o, names, ts, MAX_TENSORS / 2);
    bool ok = n <= MAX_TENSORS / 2;
    for (int i = 0; ok && i < n; i++) ok = tl_add(l, prefix, names[i], ts[i]);
    return ok;
}

static void tl_free(tlist *l) { for (int i = 0; i < l->n; i++) free(l->owned[i]); }

static bool tl_gan(tlist *l, gan *g) {
    bool ok = tl_net(l, "G/", &g->G) && tl_net(l, "D/", &g->D) && (g->c.ema <= 0 || tl_net(l, "E/", &g->E))
           && tl_optim(l, "optG/", g->og) && tl_optim(l, "optD/", g->od);
    static const char *const layer[GAN_STYLE_LAYERS] = {"0", "1", "2"};
    for (int i = 0; ok && g->have_style && i < GAN_STYLE_LAYERS; i++) ok = tl_add(l, "style/", layer[i], g->style_gram[i]);
    return ok;
}

/* ---- checkpoints ---- */

status gan_save_checkpoint(gan *g, const char *path) {
    tlist *l = calloc(1, sizeof *l);
    meta *m = calloc(1, sizeof *m);
    status s = STATUS_NOMEM;
    if (!l || !m || !tl_gan(l, g)) { error_set(STATUS_NOMEM, "gan: out of memory listing the checkpoint"); goto done; }
    meta_str(m, "format", FORMAT_CKPT);
    meta_str(m, "version", "1");
    meta_num_add(m, "step", (double)g->step);
    meta_num_add(m, "optG_steps", (double)optim_steps(g->og));
    meta_num_add(m, "optD_steps", (double)optim_steps(g->od));
    meta_config(m, &g->c);
    s = safetensors_save(path, l->names, l->ts, l->n, m->kv, m->n);
done:
    if (l) tl_free(l);
    free(l);
    free(m);
    return s;
}

static status check_format(const safetensors *f, const char *path, const char *want) {
    const char *fmt = safetensors_metadata(f, "format"), *ver = safetensors_metadata(f, "version");
    if (!fmt || strcmp(fmt, want) != 0)
        return error_set(STATUS_FORMAT, "%s: not an Atelier %s file (format %.40s)", path,
                         strcmp(want, FORMAT_CKPT) == 0 ? "GAN checkpoint" : "generator", fmt ? fmt : "missing");
    if (!ver || strcmp(ver, "1") != 0)
        return error_set(STATUS_FORMAT, "%s: version %.20s not supported (only 1)", path, ver ? ver : "missing");
    return STATUS_OK;
}

/* every listed tensor present with its shape before anything is copied */
static status load_all(const safetensors *f, const char *path, tlist *l) {
    for (int i = 0; i < l->n; i++) {
        int64_t shape[8];
        int nd = safetensors_shape(f, l->names[i], shape);
        bool ok = nd == l->ts[i]->ndim;
        for (int d = 0; ok && d < nd; d++) ok = shape[d] == l->ts[i]->shape[d];
        if (!ok) return error_set(STATUS_FORMAT, "%s: tensor %s is %s or of another shape than this config's", path,
                                  l->names[i], nd < 0 ? "missing" : "present");
    }
    for (int i = 0; i < l->n; i++)
        if (safetensors_load_into(f, l->names[i], l->ts[i]) != STATUS_OK) return error_status();
    return STATUS_OK;
}

/* The style targets' tensors, shaped as the checkpoint's (each (1, C, C)). */
static status style_alloc(gan *g, const safetensors *f) {
    if (gan_style_net_init(g) != STATUS_OK) return error_status();
    static const char *const key[GAN_STYLE_LAYERS] = {"style/0", "style/1", "style/2"};
    for (int l = 0; l < GAN_STYLE_LAYERS; l++) {
        int64_t sh[8];
        if (safetensors_shape(f, key[l], sh) != 3 || sh[0] != 1 || sh[1] != sh[2] || sh[1] < 1 || sh[1] > 65536)
            return error_set(STATUS_FORMAT, "checkpoint: %s is missing or not (1, C, C)", key[l]);
        if (!(g->style_gram[l] = tensor_new(g->params, 3, (int[]){1, (int)sh[1], (int)sh[1]}))) return error_status();
    }
    g->have_style = true;
    return STATUS_OK;
}

gan *gan_load_checkpoint(const char *path) {
    safetensors *f = safetensors_open(path);
    if (!f) return NULL;
    gan_config c;
    gan *g = NULL;
    double step, sg, sd;
    tlist *l = calloc(1, sizeof *l);
    bool ok = l && check_format(f, path, FORMAT_CKPT) == STATUS_OK && config_from(f, path, &c) == STATUS_OK;
    if (ok && !(meta_num(f, "step", &step) && meta_num(f, "optG_steps", &sg) && meta_num(f, "optD_steps", &sd))) {
        error_set(STATUS_FORMAT, "%s: checkpoint lacks its step counts", path);
        ok = false;
    }
    ok = ok && (g = gan_new(&c)) != NULL;
    if (ok && safetensors_shape(f, "style/0", (int64_t[8]){0}) >= 0) ok = style_alloc(g, f) == STATUS_OK;
    ok = ok && tl_gan(l, g) && load_all(f, path, l) == STATUS_OK;
    if (ok) {
        g->step = (int64_t)step;
        optim_set_steps(g->og, (int64_t)sg);
        optim_set_steps(g->od, (int64_t)sd);
    }
    if (l) tl_free(l);
    free(l);
    safetensors_close(f);
    if (!ok) { gan_free(g); return NULL; }
    return g;
}

/* ---- generators ---- */

status gan_export_generator(gan *g, const char *path) {
    gan_net *s = gan_sampler(g);
    float *saved = gan_buffers_save(s);
    tlist *l = calloc(1, sizeof *l);
    meta *m = calloc(1, sizeof *m);
    status st = STATUS_NOMEM;
    if (!saved || !l || !m || !tl_net(l, "", s)) { error_set(STATUS_NOMEM, "gan: out of memory exporting"); goto done; }
    if ((st = gan_net_calibrate(s, g->c.seed)) != STATUS_OK) goto done;
    meta_str(m, "format", FORMAT_GEN);
    meta_str(m, "version", "1");
    meta_num_add(m, "step", (double)g->step);
    meta_config(m, &g->c);
    st = safetensors_save(path, l->names, l->ts, l->n, m->kv, m->n);
done:
    if (saved) gan_buffers_restore(s, saved);
    if (l) tl_free(l);
    free(l);
    free(m);
    return st;
}

/* The generators built into the program (src/builtin_models.c). */
extern const unsigned char atelier_monet64_data[];
extern const unsigned long long atelier_monet64_size;

static safetensors *open_generator(const char *name) {
    FILE *probe = fopen(name, "rb");
    if (probe) { fclose(probe); return safetensors_open(name); }
    if (strcmp(name, "monet64") == 0) {
        if (atelier_monet64_size == 0) {
            error_set(STATUS_IO, "monet64: this build has no built-in monet64 model (models/monet64.safetensors was absent)");
            return NULL;
        }
        return safetensors_open_memory(atelier_monet64_data, (size_t)atelier_monet64_size, "monet64 (built in)");
    }
    return safetensors_open(name);   /* its error names the file */
}

status gan_generator_load(const char *path_or_name, arena *params, gan_net *out, gan_config *c) {
    safetensors *f = open_generator(path_or_name);
    if (!f) return error_status();
    const char *fmt = safetensors_metadata(f, "format");
    bool ckpt = fmt && strcmp(fmt, FORMAT_CKPT) == 0;
    tlist *l = calloc(1, sizeof *l);
    status s = !l ? error_set(STATUS_NOMEM, "gan: out of memory")
             : check_format(f, path_or_name, ckpt ? FORMAT_CKPT : FORMAT_GEN);
    if (s == STATUS_OK) s = config_from(f, path_or_name, c);
    if (s == STATUS_OK) s = gan_net_init(out, params, c, true, 0);
    if (s == STATUS_OK && !tl_net(l, ckpt ? (c->ema > 0 ? "E/" : "G/") : "", out))
        s = error_set(STATUS_NOMEM, "gan: out of memory");
    if (s == STATUS_OK) s = load_all(f, path_or_name, l);
    model_params_set_trainable(&out->params, false);
    if (s == STATUS_OK && ckpt) s = gan_net_calibrate(out, c->seed);
    if (l) tl_free(l);
    free(l);
    safetensors_close(f);
    return s;
}

status gan_init_generator(gan *g, const char *path_or_name) {
    arena *p = arena_new(1 << 20);
    if (!p) return error_status();
    gan_net src;
    gan_config lc;
    status s = gan_generator_load(path_or_name, p, &src, &lc);
    if (s == STATUS_OK && (lc.arch != g->c.arch || lc.size != g->c.size || lc.ngf != g->c.ngf || lc.z_dim != g->c.z_dim))
        s = error_set(STATUS_ARG, "%s: a %s generator of size %d, ngf %d, z-dim %d does not fit this run (%s, %d, %d, %d)",
                      path_or_name, gan_arch_name(lc.arch), lc.size, lc.ngf, lc.z_dim, gan_arch_name(g->c.arch),
                      g->c.size, g->c.ngf, g->c.z_dim);
    for (int i = 0; s == STATUS_OK && i < src.params.n; i++)
        memcpy(g->G.params.tensors[i]->data, src.params.tensors[i]->data, sizeof(float) * (size_t)src.params.tensors[i]->numel);
    for (int i = 0; s == STATUS_OK && i < src.buffers.n; i++)
        memcpy(g->G.buffers.tensors[i]->data, src.buffers.tensors[i]->data, sizeof(float) * (size_t)src.buffers.tensors[i]->numel);
    if (s == STATUS_OK && g->c.ema > 0) gan_ema_reset(g);
    arena_free(p);
    return s;
}
