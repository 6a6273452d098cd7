/* tfjs_load.c: reading a TF.js layers model (tfjs.h): model.json, the weights manifest and
 * its binary shards, and the Keras layers, into a graph that tfjs_run.c executes. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "json.h"
#include "tfjs_internal.h"

/* A shard group holds at most this many bytes (InceptionV3's is 22 MB). */
#define TFJS_MAX_SHARD_BYTES ((int64_t)2 << 30)
#define TFJS_MAX_NAME 512

/* ---- files ---- */

/* The whole file, or NULL with error_set; at most max bytes. */
static unsigned char *file_read(const char *path, size_t max, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { error_set(STATUS_IO, "%s: %s", path, strerror(errno)); return NULL; }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        error_set(STATUS_IO, "%s: not a regular file", path);
        return NULL;
    }
    if ((uint64_t)st.st_size > max) {
        fclose(f);
        error_set(STATUS_FORMAT, "%s: %lld bytes, more than the %zu allowed", path, (long long)st.st_size, max);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) { fclose(f); error_set(STATUS_NOMEM, "%s: out of memory for %zu bytes", path, n); return NULL; }
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) { free(buf); error_set(STATUS_IO, "%s: read %zu of %zu bytes", path, got, n); return NULL; }
    *len = n;
    return buf;
}

static char *str_dup(arena *a, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = arena_alloc(a, n);
    if (d) memcpy(d, s, n);
    return d;
}

/* ---- JSON helpers: each returns false (error set, naming the layer) on a bad value ---- */

static status layer_error(const tfjs_model *m, const char *layer, const char *fmt, const char *what) {
    return error_set(STATUS_FORMAT, "%s: layer '%s': %s%s", m->path, layer, fmt, what ? what : "");
}

static bool json_int(const json_value *v, int lo, int hi, int *out) {
    if (!v || v->type != JSON_NUMBER || !v->is_int || v->integer < lo || v->integer > hi) return false;
    *out = (int)v->integer;
    return true;
}

/* An int or a list of two ints (kernel_size, strides, dilation_rate, pool_size). */
static bool json_pair(const json_value *v, int lo, int hi, int *a, int *b) {
    if (v && v->type == JSON_ARRAY && v->count == 2) return json_int(&v->items[0], lo, hi, a) && json_int(&v->items[1], lo, hi, b);
    if (v && v->type == JSON_ARRAY && v->count == 1) { if (!json_int(&v->items[0], lo, hi, a)) return false; *b = *a; return true; }
    if (!json_int(v, lo, hi, a)) return false;
    *b = *a;
    return true;
}

static const char *json_str(const json_value *v) { return v && v->type == JSON_STRING ? v->string : NULL; }

static bool json_flag(const json_value *cfg, const char *key, bool dflt) {
    const json_value *v = json_get(cfg, key);
    return v && v->type == JSON_BOOL ? v->boolean : dflt;
}

static bool json_real(const json_value *cfg, const char *key, double dflt, double *out) {
    const json_value *v = json_get(cfg, key);
    if (!v || v->type == JSON_NULL) { *out = dflt; return true; }
    if (v->type != JSON_NUMBER || !isfinite(v->number)) return false;
    *out = v->number;
    return true;
}

/* ---- the weights manifest ---- */

typedef struct wentry {
    const char *name;
    int ndim, shape[4];
    tensor *t;          /* dequantised, Keras layout */
} wentry;

typedef struct weights {
    int n;
    wentry *e;          /* (n), sorted by name after loading */
    arena *mem;         /* the manifest's tensors (Keras layouts): freed once the layers hold theirs */
} weights;

static int wentry_cmp(const void *a, const void *b) { return strcmp(((const wentry *)a)->name, ((const wentry *)b)->name); }

static float half_to_float(uint16_t h) {
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, f = h & 1023;
    if (e == 0) return (s ? -1.0f : 1.0f) * ldexpf((float)f, -24);
    if (e == 31) return f ? NAN : (s ? -INFINITY : INFINITY);
    uint32_t bits = s | ((e + 112) << 23) | (f << 13);
    float r;
    memcpy(&r, &bits, 4);
    return r;
}

typedef enum wformat { WF_F32, WF_U8, WF_U16, WF_F16 } wformat;

/* One weight's entry of the manifest: name, shape, storage format. */
static status parse_weight(const tfjs_model *m, const json_value *w, wentry *e, wformat *fmt, double *qmin,
                           double *qscale, int64_t *numel, arena *names) {
    const char *name = json_str(json_get(w, "name")), *dtype = json_str(json_get(w, "dtype"));
    const json_value *shape = json_get(w, "shape"), *q = json_get(w, "quantization");
    if (!name || strlen(name) >= TFJS_MAX_NAME) return error_set(STATUS_FORMAT, "%s: a weight without a usable name", m->path);
    if (!dtype || strcmp(dtype, "float32") != 0)
        return error_set(STATUS_FORMAT, "%s: weight '%s': dtype %s (only float32 weights are read)", m->path, name, dtype ? dtype : "missing");
    if (!shape || shape->type != JSON_ARRAY || shape->count > 4)
        return error_set(STATUS_FORMAT, "%s: weight '%s': shape must be a list of at most 4 sizes", m->path, name);
    e->ndim = shape->count;
    *numel = 1;
    for (int i = 0; i < shape->count; i++) {
        if (!json_int(&shape->items[i], 1, 1 << 20, &e->shape[i]))
            return error_set(STATUS_FORMAT, "%s: weight '%s': bad size in its shape", m->path, name);
        *numel *= e->shape[i];
        if (*numel > ((int64_t)1 << 30)) return error_set(STATUS_FORMAT, "%s: weight '%s' is too large", m->path, name);
    }
    *fmt = WF_F32;
    if (q && q->type != JSON_NULL) {
        const char *qd = json_str(json_get(q, "dtype"));
        *fmt = qd && !strcmp(qd, "uint8") ? WF_U8 : qd && !strcmp(qd, "uint16") ? WF_U16 : qd && !strcmp(qd, "float16") ? WF_F16 : WF_F32;
        if (*fmt == WF_F32) return error_set(STATUS_FORMAT, "%s: weight '%s': unknown quantization dtype %s", m->path, name, qd ? qd : "(missing)");
        if (*fmt != WF_F16 && (!json_real(q, "min", NAN, qmin) || !json_real(q, "scale", NAN, qscale) || !isfinite(*qmin) || !isfinite(*qscale)))
            return error_set(STATUS_FORMAT, "%s: weight '%s': quantization needs a finite min and scale", m->path, name);
    }
    if (names && !(e->name = str_dup(names, name))) return error_status();
    return STATUS_OK;
}

static int64_t wformat_bytes(wformat f) { return f == WF_F32 ? 4 : f == WF_U8 ? 1 : 2; }

static void dequantise(float *dst, const unsigned char *src, int64_t n, wformat f, double qmin, double qscale) {
    for (int64_t i = 0; i < n; i++) {
        switch (f) {
        case WF_F32: memcpy(&dst[i], src + 4 * i, 4); break;   /* little-endian hosts */
        case WF_U8: dst[i] = (float)(qmin + qscale * src[i]); break;
        case WF_U16: dst[i] = (float)(qmin + qscale * (src[2 * i] | src[2 * i + 1] << 8)); break;
        case WF_F16: dst[i] = half_to_float((uint16_t)(src[2 * i] | src[2 * i + 1] << 8)); break;
        }
    }
}

/* Reads one group's shards (plain file names beside model.json) into one buffer. */
static unsigned char *read_group(const tfjs_model *m, const char *dir, const json_value *paths, int64_t *len) {
    if (!paths || paths->type != JSON_ARRAY || paths->count < 1 || paths->count > 1024) {
        error_set(STATUS_FORMAT, "%s: a manifest group needs a list of shard paths", m->path);
        return NULL;
    }
    unsigned char *all = NULL;
    int64_t total = 0;
    for (int i = 0; i < paths->count; i++) {
        const char *p = json_str(&paths->items[i]);
        if (!p || !*p || strchr(p, '/') || strchr(p, '\\') || !strcmp(p, ".") || !strcmp(p, "..") || strlen(p) > 255) {
            free(all);
            error_set(STATUS_FORMAT, "%s: shard path '%s' is not a plain file name", m->path, p ? p : "(not a string)");
            return NULL;
        }
        char full[4400];
        snprintf(full, sizeof full, "%s%s", dir, p);
        size_t n = 0;
        unsigned char *b = file_read(full, (size_t)(TFJS_MAX_SHARD_BYTES - total), &n);
        unsigned char *grown = b ? realloc(all, (size_t)(total + (int64_t)n) + 1) : NULL;
        if (!grown) {
            if (b) error_set(STATUS_NOMEM, "%s: out of memory", full);
            free(b);
            free(all);
            return NULL;
        }
        all = grown;
        memcpy(all + total, b, n);
        total += (int64_t)n;
        free(b);
    }
    *len = total;
    return all;
}

static status load_weights(tfjs_model *m, const char *dir, const json_value *manifest, weights *W) {
    if (!manifest || manifest->type != JSON_ARRAY) return error_set(STATUS_FORMAT, "%s: no weightsManifest list", m->path);
    int total = 0;
    for (int g = 0; g < manifest->count; g++) {
        const json_value *ws = json_get(&manifest->items[g], "weights");
        if (!ws || ws->type != JSON_ARRAY) return error_set(STATUS_FORMAT, "%s: manifest group %d has no weights list", m->path, g);
        total += ws->count;
        if (total > TFJS_MAX_WEIGHTS) return error_set(STATUS_FORMAT, "%s: more than %d weights", m->path, TFJS_MAX_WEIGHTS);
    }
    W->e = arena_alloc(W->mem, (size_t)(total ? total : 1) * sizeof *W->e);
    if (!W->e) return error_status();
    for (int g = 0; g < manifest->count; g++) {
        const json_value *ws = json_get(&manifest->items[g], "weights");
        int64_t len = 0, need = 0, off = 0;
        /* the sizes first: the shards must hold exactly what the manifest describes */
        for (int i = 0; i < ws->count; i++) {
            wentry e = {0};
            wformat f;
            double qmin = 0, qscale = 0;
            int64_t numel;
            if (parse_weight(m, &ws->items[i], &e, &f, &qmin, &qscale, &numel, NULL) != STATUS_OK) return error_status();
            need += numel * wformat_bytes(f);
        }
        if (need > TFJS_MAX_SHARD_BYTES) return error_set(STATUS_FORMAT, "%s: manifest group %d describes too many bytes", m->path, g);
        unsigned char *bytes = read_group(m, dir, json_get(&manifest->items[g], "paths"), &len);
        if (!bytes) return error_status();
        if (len != need) {
            free(bytes);
            return error_set(STATUS_FORMAT, "%s: manifest group %d describes %lld bytes of weights but its shards hold %lld",
                             m->path, g, (long long)need, (long long)len);
        }
        for (int i = 0; i < ws->count; i++) {
            wentry *e = &W->e[W->n];
            wformat f;
            double qmin = 0, qscale = 0;
            int64_t numel;
            if (parse_weight(m, &ws->items[i], e, &f, &qmin, &qscale, &numel, W->mem) != STATUS_OK) { free(bytes); return error_status(); }
            int one = 1;
            e->t = tensor_new(W->mem, e->ndim ? e->ndim : 1, e->ndim ? e->shape : &one);
            if (!e->t) { free(bytes); return error_status(); }
            dequantise(e->t->data, bytes + off, numel, f, qmin, qscale);
            off += numel * wformat_bytes(f);
            W->n++;
        }
        free(bytes);
    }
    qsort(W->e, (size_t)W->n, sizeof *W->e, wentry_cmp);
    for (int i = 1; i < W->n; i++)
        if (!strcmp(W->e[i].name, W->e[i - 1].name)) return error_set(STATUS_FORMAT, "%s: weight '%s' appears twice", m->path, W->e[i].name);
    return STATUS_OK;
}

/* The weight "<layer>/<var>" (or one whose name ends in "/<layer>/<var>"), or NULL. */
static wentry *weight_find(weights *W, const char *layer, const char *var) {
    char key[2 * TFJS_MAX_NAME + 2];
    snprintf(key, sizeof key, "%s/%s", layer, var);
    wentry probe = {.name = key}, *e = W->n ? bsearch(&probe, W->e, (size_t)W->n, sizeof *W->e, wentry_cmp) : NULL;
    if (e) return e;
    size_t kl = strlen(key);
    for (int i = 0; i < W->n; i++) {
        size_t nl = strlen(W->e[i].name);
        if (nl > kl && W->e[i].name[nl - kl - 1] == '/' && !strcmp(W->e[i].name + nl - kl, key)) return &W->e[i];
    }
    return NULL;
}

/* The weight, checked to have `ndim` dims and the sizes given (-1: any), in the manifest's
 * temporary arena; listed in the model's parameter table as `as` (the layer's own tensor:
 * a copy, or a converted one) by param_add. */
static tensor *weight_get(tfjs_model *m, weights *W, const char *layer, const char *var, int ndim, const int *want) {
    wentry *e = weight_find(W, layer, var);
    if (!e) { error_set(STATUS_FORMAT, "%s: layer '%s': no weight '%s/%s' in the manifest", m->path, layer, layer, var); return NULL; }
    bool ok = e->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = want[i] < 0 || e->shape[i] == want[i];
    if (!ok) {
        char buf[64];
        error_set(STATUS_FORMAT, "%s: layer '%s': weight '%s' has shape %s, which does not fit the layer", m->path, layer,
                  e->name, shape_str(e->ndim, e->shape, buf));
        return NULL;
    }
    return e->t;
}

/* Lists t (the model's own tensor) under "<layer>/<var>" in m->params (room for every
 * manifest weight was made in build). */
static tensor *param_add(tfjs_model *m, const char *layer, const char *var, tensor *t) {
    if (!t) return NULL;
    char key[2 * TFJS_MAX_NAME + 2];
    snprintf(key, sizeof key, "%s/%s", layer, var);
    const char *name = str_dup(m->mem, key);
    if (!name) return NULL;
    m->params.names[m->params.n] = name;
    m->params.tensors[m->params.n++] = t;
    return t;
}

/* A manifest weight copied into the model's arena and listed. */
static tensor *weight_keep(tfjs_model *m, weights *W, const char *layer, const char *var, int ndim, const int *want) {
    tensor *t = weight_get(m, W, layer, var, ndim, want);
    return t ? param_add(m, layer, var, tensor_copy(m->mem, t)) : NULL;
}

/* ---- layers ---- */

static const struct { const char *cls; tfjs_kind kind; } g_classes[] = {
    {"InputLayer", TFJS_INPUT}, {"Conv2D", TFJS_CONV}, {"DepthwiseConv2D", TFJS_DEPTHWISE},
    {"BatchNormalization", TFJS_BATCHNORM}, {"Activation", TFJS_ACTIVATION}, {"ReLU", TFJS_RELU},
    {"Add", TFJS_ADD}, {"Concatenate", TFJS_CONCAT}, {"MaxPooling2D", TFJS_MAXPOOL},
    {"AveragePooling2D", TFJS_AVGPOOL}, {"ZeroPadding2D", TFJS_ZEROPAD},
    {"GlobalAveragePooling2D", TFJS_GLOBALAVG}, {"Dense", TFJS_DENSE}, {"Dropout", TFJS_IDENTITY},
    {"Flatten", TFJS_FLATTEN}, {"Reshape", TFJS_RESHAPE},
};

static bool parse_act(const char *s, tfjs_act *a) {
    static const char *const names[] = {"linear", "relu", "relu6", "sigmoid", "tanh", "softmax"};
    if (!s) { *a = TFJS_ACT_LINEAR; return true; }
    for (int i = 0; i < 6; i++)
        if (!strcmp(s, names[i])) { *a = (tfjs_act)i; return true; }
    return false;
}

typedef struct named { const char *name; int index; } named;
static int named_cmp(const void *a, const void *b) { return strcmp(((const named *)a)->name, ((const named *)b)->name); }

/* m->by_name: the layer indices in name order (qsort has no context argument: sort pairs). */
static status sort_names(tfjs_model *m) {
    named *t = malloc((size_t)m->n * sizeof *t);
    if (!t) return error_set(STATUS_NOMEM, "%s: out of memory", m->path);
    for (int i = 0; i < m->n; i++) t[i] = (named){m->layers[i].name, i};
    qsort(t, (size_t)m->n, sizeof *t, named_cmp);
    for (int i = 0; i < m->n; i++) m->by_name[i] = t[i].index;
    free(t);
    return STATUS_OK;
}

int tfjs_layer_find(const tfjs_model *m, const char *name) {
    int lo = 0, hi = m->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(m->layers[m->by_name[mid]].name, name);
        if (!c) return m->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* The convolution/pool geometry keys shared by Conv2D, DepthwiseConv2D and the pools. */
static status parse_geometry(tfjs_model *m, tfjs_layer *L, const json_value *cfg, const char *ksize_key) {
    const char *pad = json_str(json_get(cfg, "padding")), *fmt = json_str(json_get(cfg, "data_format"));
    if (fmt && strcmp(fmt, "channels_last") != 0) return layer_error(m, L->name, "data_format ", fmt);
    if (!json_pair(json_get(cfg, ksize_key), 1, 255, &L->kh, &L->kw)) return layer_error(m, L->name, "bad ", ksize_key);
    const json_value *st = json_get(cfg, "strides");
    if (st && st->type == JSON_NULL) { L->sh = L->kh; L->sw = L->kw; }           /* pools: strides = pool_size */
    else if (!json_pair(st, 1, 255, &L->sh, &L->sw)) return layer_error(m, L->name, "bad strides", NULL);
    const json_value *dil = json_get(cfg, "dilation_rate");
    L->dh = L->dw = 1;
    if (dil && !json_pair(dil, 1, 255, &L->dh, &L->dw)) return layer_error(m, L->name, "bad dilation_rate", NULL);
    if ((L->dh > 1 || L->dw > 1) && (L->sh > 1 || L->sw > 1)) return layer_error(m, L->name, "dilation with strides is not supported", NULL);
    if (!pad || (strcmp(pad, "same") && strcmp(pad, "valid"))) return layer_error(m, L->name, "padding must be 'same' or 'valid'", NULL);
    L->same = !strcmp(pad, "same");
    return STATUS_OK;
}

/* OIHW from Keras' HWIO kernel (kh, kw, ci, co); depthwise (kh, kw, c, mult) -> (c * mult, 1, kh, kw). */
static tensor *kernel_to_oihw(arena *a, const tensor *k, bool depthwise) {
    int kh = k->shape[0], kw = k->shape[1], ci = k->shape[2], co = k->shape[3];
    tensor *t = depthwise ? tensor_new(a, 4, (int[]){ci * co, 1, kh, kw}) : tensor_new(a, 4, (int[]){co, ci, kh, kw});
    if (!t) return NULL;
    for (int y = 0; y < kh; y++)
        for (int x = 0; x < kw; x++)
            for (int i = 0; i < ci; i++)
                for (int o = 0; o < co; o++) {
                    float v = k->data[(((int64_t)y * kw + x) * ci + i) * co + o];
                    /* depthwise: output channel i * mult + o (TF's order) */
                    int64_t dst = depthwise ? (((int64_t)i * co + o) * kh + y) * kw + x : (((int64_t)o * ci + i) * kh + y) * kw + x;
                    t->data[dst] = v;
                }
    return t;
}

static status parse_conv(tfjs_model *m, weights *W, tfjs_layer *L, const json_value *cfg) {
    bool dw = L->kind == TFJS_DEPTHWISE;
    if (parse_geometry(m, L, cfg, "kernel_size") != STATUS_OK) return error_status();
    if (!parse_act(json_str(json_get(cfg, "activation")), &L->act))
        return layer_error(m, L->name, "unsupported activation ", json_str(json_get(cfg, "activation")));
    int filters = 0, mult = 1, groups = 1;
    if (dw && !json_int(json_get(cfg, "depth_multiplier") ? json_get(cfg, "depth_multiplier") : &(json_value){.type = JSON_NUMBER, .is_int = true, .integer = 1}, 1, 4096, &mult))
        return layer_error(m, L->name, "bad depth_multiplier", NULL);
    if (!dw && !json_int(json_get(cfg, "filters"), 1, 1 << 16, &filters)) return layer_error(m, L->name, "bad filters", NULL);
    if (!dw && json_get(cfg, "groups") && (!json_int(json_get(cfg, "groups"), 1, 1, &groups)))
        return layer_error(m, L->name, "grouped convolutions are not supported", NULL);
    tensor *k = weight_get(m, W, L->name, dw ? "depthwise_kernel" : "kernel", 4, (int[]){L->kh, L->kw, -1, dw ? mult : filters});
    if (!k || !(L->w = param_add(m, L->name, dw ? "depthwise_kernel" : "kernel", kernel_to_oihw(m->mem, k, dw)))) return error_status();
    L->groups = dw ? k->shape[2] : 1;
    if (json_flag(cfg, "use_bias", true)) {
        if (!(L->b = weight_keep(m, W, L->name, "bias", 1, (int[]){L->w->shape[0]}))) return error_status();
    }
    return STATUS_OK;
}

static status parse_batchnorm(tfjs_model *m, weights *W, tfjs_layer *L, const json_value *cfg) {
    const json_value *ax = json_get(cfg, "axis");
    if (ax && ax->type == JSON_ARRAY && ax->count == 1) ax = &ax->items[0];
    int axis = -1;
    if (ax && !json_int(ax, -1, 3, &axis)) return layer_error(m, L->name, "bad axis", NULL);
    if (axis != -1 && axis != 3) return layer_error(m, L->name, "only channels-last batch norm (axis -1 or 3) is supported", NULL);
    double eps;
    if (!json_real(cfg, "epsilon", 1e-3, &eps) || !(eps > 0)) return layer_error(m, L->name, "bad epsilon", NULL);
    L->eps = (float)eps;
    tensor *mean = weight_keep(m, W, L->name, "moving_mean", 1, (int[]){-1});
    if (!mean) return error_status();
    int c = mean->shape[0];
    L->mean = mean;
    if (!(L->var = weight_keep(m, W, L->name, "moving_variance", 1, (int[]){c}))) return error_status();
    for (int i = 0; i < c; i++)
        if (!(L->var->data[i] >= 0)) return layer_error(m, L->name, "a negative or NaN moving_variance", NULL);
    L->gamma = json_flag(cfg, "scale", true) ? weight_keep(m, W, L->name, "gamma", 1, (int[]){c}) : tensor_fill(tensor_new(m->mem, 1, &c), 1.0f);
    L->beta = json_flag(cfg, "center", true) ? weight_keep(m, W, L->name, "beta", 1, (int[]){c}) : tensor_new(m->mem, 1, &c);
    return L->gamma && L->beta ? STATUS_OK : error_status();
}

static status parse_dense(tfjs_model *m, weights *W, tfjs_layer *L, const json_value *cfg) {
    int units;
    if (!json_int(json_get(cfg, "units"), 1, 1 << 20, &units)) return layer_error(m, L->name, "bad units", NULL);
    if (!parse_act(json_str(json_get(cfg, "activation")), &L->act))
        return layer_error(m, L->name, "unsupported activation ", json_str(json_get(cfg, "activation")));
    tensor *k = weight_get(m, W, L->name, "kernel", 2, (int[]){-1, units});
    if (!k) return error_status();
    int in = k->shape[0];
    if (!(L->w = param_add(m, L->name, "kernel", tensor_new(m->mem, 2, (int[]){units, in})))) return error_status();
    for (int i = 0; i < in; i++)
        for (int o = 0; o < units; o++) L->w->data[(int64_t)o * in + i] = k->data[(int64_t)i * units + o];
    if (json_flag(cfg, "use_bias", true) && !(L->b = weight_keep(m, W, L->name, "bias", 1, (int[]){units}))) return error_status();
    return STATUS_OK;
}

static status parse_zeropad(tfjs_model *m, tfjs_layer *L, const json_value *cfg) {
    const json_value *p = json_get(cfg, "padding");
    int *q = L->pad;   /* top, bottom, left, right */
    if (p && p->type == JSON_ARRAY && p->count == 2 && p->items[0].type == JSON_ARRAY) {
        const json_value *hv = &p->items[0], *wv = &p->items[1];
        if (hv->count == 2 && wv->type == JSON_ARRAY && wv->count == 2 && json_int(&hv->items[0], 0, 4096, &q[0]) &&
            json_int(&hv->items[1], 0, 4096, &q[1]) && json_int(&wv->items[0], 0, 4096, &q[2]) && json_int(&wv->items[1], 0, 4096, &q[3]))
            return STATUS_OK;
    } else if (json_pair(p, 0, 4096, &q[0], &q[2])) {
        q[1] = q[0];
        q[3] = q[2];
        return STATUS_OK;
    }
    return layer_error(m, L->name, "bad padding", NULL);
}

static status parse_layer(tfjs_model *m, weights *W, tfjs_layer *L, const json_value *cfg) {
    const char *fmt = json_str(json_get(cfg, "data_format"));
    if (fmt && strcmp(fmt, "channels_last") != 0) return layer_error(m, L->name, "data_format ", fmt);
    double v;
    switch (L->kind) {
    case TFJS_INPUT: {
        const json_value *s = json_get(cfg, "batch_input_shape");
        if (s && s->type == JSON_ARRAY && s->count == 4) {
            json_int(&s->items[1], 1, 1 << 16, &m->in_h);
            json_int(&s->items[2], 1, 1 << 16, &m->in_w);
            json_int(&s->items[3], 1, 1 << 16, &m->in_c);
        }
        return STATUS_OK;
    }
    case TFJS_CONV: case TFJS_DEPTHWISE: return parse_conv(m, W, L, cfg);
    case TFJS_BATCHNORM: return parse_batchnorm(m, W, L, cfg);
    case TFJS_DENSE: return parse_dense(m, W, L, cfg);
    case TFJS_ZEROPAD: return parse_zeropad(m, L, cfg);
    case TFJS_ACTIVATION:
        if (!parse_act(json_str(json_get(cfg, "activation")), &L->act))
            return layer_error(m, L->name, "unsupported activation ", json_str(json_get(cfg, "activation")));
        return STATUS_OK;
    case TFJS_RELU:
        if (!json_real(cfg, "max_value", -1, &v)) return layer_error(m, L->name, "bad max_value", NULL);
        L->max_value = (float)v;
        if (!json_real(cfg, "negative_slope", 0, &v)) return layer_error(m, L->name, "bad negative_slope", NULL);
        L->slope = (float)v;
        if (!json_real(cfg, "threshold", 0, &v) || v != 0) return layer_error(m, L->name, "a ReLU threshold other than 0 is not supported", NULL);
        if (L->slope != 0 && L->max_value >= 0) return layer_error(m, L->name, "a ReLU with both max_value and negative_slope is not supported", NULL);
        return STATUS_OK;
    case TFJS_CONCAT:
        if (!json_int(json_get(cfg, "axis"), -1, 3, &L->axis) || L->axis == 0) return layer_error(m, L->name, "bad axis", NULL);
        return STATUS_OK;
    case TFJS_MAXPOOL: case TFJS_AVGPOOL:
        if (parse_geometry(m, L, cfg, "pool_size") != STATUS_OK) return error_status();
        if (L->kh != L->kw || L->sh != L->sw) return layer_error(m, L->name, "only square pools with equal strides are supported", NULL);
        return STATUS_OK;
    case TFJS_GLOBALAVG:
        if (json_flag(cfg, "keepdims", false)) return layer_error(m, L->name, "keepdims is not supported", NULL);
        return STATUS_OK;
    case TFJS_RESHAPE: {
        const json_value *t = json_get(cfg, "target_shape");
        if (!t || t->type != JSON_ARRAY || t->count < 1 || t->count > 3) return layer_error(m, L->name, "bad target_shape", NULL);
        L->reshape_n = t->count;
        for (int i = 0; i < t->count; i++)
            if (!json_int(&t->items[i], 1, 1 << 24, &L->reshape[i])) return layer_error(m, L->name, "bad target_shape", NULL);
        return STATUS_OK;
    }
    case TFJS_ADD: case TFJS_IDENTITY: case TFJS_FLATTEN: return STATUS_OK;
    }
    return STATUS_OK;
}

/* Inbound layer names of a functional layer: [[["src", 0, 0, {}], ...]]. */
static status parse_inbound(tfjs_model *m, tfjs_layer *L, const json_value *nodes, const char **names, int *count) {
    *count = 0;
    if (!nodes || nodes->type != JSON_ARRAY) return layer_error(m, L->name, "no inbound_nodes list", NULL);
    if (nodes->count == 0) return STATUS_OK;
    if (nodes->count > 1) return layer_error(m, L->name, "is called more than once (shared layers are not supported)", NULL);
    const json_value *node = &nodes->items[0];
    if (node->type != JSON_ARRAY || node->count < 1 || node->count > TFJS_MAX_INBOUND)
        return layer_error(m, L->name, "bad inbound_nodes entry", NULL);
    for (int i = 0; i < node->count; i++) {
        const json_value *e = &node->items[i];
        int ni, ti;
        if (e->type != JSON_ARRAY || e->count < 3 || !json_str(&e->items[0]) || !json_int(&e->items[1], 0, 0, &ni) ||
            !json_int(&e->items[2], 0, 0, &ti))
            return layer_error(m, L->name, "an inbound entry must be [name, 0, 0, {}] (multi-output layers are not supported)", NULL);
        names[(*count)++] = e->items[0].string;
    }
    return STATUS_OK;
}

/* Orders the layers so that every layer's inputs come before it (Kahn's algorithm), given
 * the inbound names; refuses unknown names and cycles. */
static status order_layers(tfjs_model *m, const char ***inb, const int *ninb) {
    int n = m->n;
    int *indeg = calloc((size_t)n, sizeof(int)), *order = calloc((size_t)n, sizeof(int)), *newpos = calloc((size_t)n, sizeof(int));
    int **src = calloc((size_t)n, sizeof(int *));
    status st = STATUS_OK;
    if (!indeg || !order || !newpos || !src) { st = error_set(STATUS_NOMEM, "%s: out of memory", m->path); goto done; }
    for (int i = 0; i < n && st == STATUS_OK; i++) {
        src[i] = calloc((size_t)(ninb[i] ? ninb[i] : 1), sizeof(int));
        if (!src[i]) { st = error_set(STATUS_NOMEM, "%s: out of memory", m->path); break; }
        for (int k = 0; k < ninb[i]; k++) {
            int j = tfjs_layer_find(m, inb[i][k]);
            if (j < 0) { st = error_set(STATUS_FORMAT, "%s: layer '%s' takes input from '%s', which is not a layer", m->path, m->layers[i].name, inb[i][k]); break; }
            src[i][k] = j;
            indeg[i]++;
        }
    }
    /* consumers of each layer, to release in-degrees; n is small (<= TFJS_MAX_LAYERS) */
    /* Keras lists a functional model's layers in an order where inputs come first: keep it
     * when it is one (messages and listings follow the file), else sort */
    bool sorted_already = st == STATUS_OK;
    for (int i = 0; sorted_already && i < n; i++)
        for (int k = 0; k < ninb[i]; k++) sorted_already = sorted_already && src[i][k] < i;
    int head = 0, tail = 0;
    for (int i = 0; sorted_already && i < n; i++) order[tail++] = i;
    for (int i = 0; !sorted_already && st == STATUS_OK && i < n; i++)
        if (!indeg[i]) order[tail++] = i;
    while (!sorted_already && st == STATUS_OK && head < tail) {
        int j = order[head++];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < ninb[i]; k++)
                if (src[i][k] == j && --indeg[i] == 0) order[tail++] = i;
    }
    if (st == STATUS_OK && tail != n) st = error_set(STATUS_FORMAT, "%s: the layers' connections form a cycle", m->path);
    if (st == STATUS_OK) {
        tfjs_layer *sorted = arena_alloc(m->mem, (size_t)n * sizeof *sorted);
        if (!sorted) { st = error_status(); goto done; }
        for (int p = 0; p < n; p++) newpos[order[p]] = p;
        for (int p = 0; p < n; p++) {
            int i = order[p];
            sorted[p] = m->layers[i];
            sorted[p].nin = ninb[i];
            sorted[p].in = arena_alloc(m->mem, (size_t)(ninb[i] ? ninb[i] : 1) * sizeof(int));
            if (!sorted[p].in) { st = error_status(); goto done; }
            for (int k = 0; k < ninb[i]; k++) sorted[p].in[k] = newpos[src[i][k]];
        }
        m->layers = sorted;
        st = sort_names(m);
    }
done:
    for (int i = 0; src && i < n; i++) free(src[i]);
    free(src); free(indeg); free(order); free(newpos);
    return st;
}

/* Arity and input checks, consumer counts, and the conv + batch-norm folds. */
static status check_graph(tfjs_model *m) {
    m->input = -1;
    for (int i = 0; i < m->n; i++) {
        tfjs_layer *L = &m->layers[i];
        int want = L->kind == TFJS_INPUT ? 0 : L->kind == TFJS_ADD || L->kind == TFJS_CONCAT ? -2 : 1;
        if ((want >= 0 && L->nin != want) || (want == -2 && L->nin < 2))
            return error_set(STATUS_FORMAT, "%s: layer '%s' (%s) has %d inputs", m->path, L->name, L->cls, L->nin);
        if (L->kind == TFJS_INPUT) {
            if (m->input >= 0) return error_set(STATUS_FORMAT, "%s: more than one input layer ('%s')", m->path, L->name);
            m->input = i;
        }
        for (int k = 0; k < L->nin; k++) m->layers[L->in[k]].consumers++;
        L->fold = -1;
    }
    if (m->input < 0) return error_set(STATUS_FORMAT, "%s: no InputLayer", m->path);
    for (int i = 0; i < m->n; i++) {
        tfjs_layer *L = &m->layers[i];
        if (L->kind != TFJS_BATCHNORM) continue;
        tfjs_layer *c = &m->layers[L->in[0]];
        if ((c->kind != TFJS_CONV && c->kind != TFJS_DEPTHWISE) || c->consumers != 1 || c->act != TFJS_ACT_LINEAR ||
            c->w->shape[0] != L->mean->shape[0])
            continue;
        /* y = gamma (conv(x) + b - mean) / sqrt(var + eps) + beta: scale the kernel, shift the bias */
        int oc = c->w->shape[0];
        int64_t per = c->w->numel / oc;
        if (!(c->wf = tensor_copy(m->mem, c->w)) || !(c->bf = tensor_new(m->mem, 1, &oc))) return error_status();
        for (int o = 0; o < oc; o++) {
            double s = L->gamma->data[o] / sqrt((double)L->var->data[o] + L->eps);
            for (int64_t k = 0; k < per; k++) c->wf->data[o * per + k] = (float)(c->w->data[o * per + k] * s);
            c->bf->data[o] = (float)(((c->b ? c->b->data[o] : 0.0) - L->mean->data[o]) * s + L->beta->data[o]);
        }
        c->fold = i;
    }
    return STATUS_OK;
}

/* The Keras model config inside modelTopology (functional models only). */
static const json_value *model_config(tfjs_model *m, const json_value *root) {
    const json_value *topo = json_get(root, "modelTopology");
    if (!topo || topo->type != JSON_OBJECT) { error_set(STATUS_FORMAT, "%s: no modelTopology object (not a TF.js model.json)", m->path); return NULL; }
    if (json_get(topo, "node")) {
        error_set(STATUS_FORMAT, "%s: a TF.js graph model (converted from a SavedModel); Atelier reads layers models (Keras)", m->path);
        return NULL;
    }
    const json_value *mc = json_get(topo, "model_config");
    if (!mc) mc = topo;
    const char *cls = json_str(json_get(mc, "class_name"));
    if (!cls || (strcmp(cls, "Model") && strcmp(cls, "Functional"))) {
        error_set(STATUS_FORMAT, "%s: model class '%s' (Atelier reads functional Keras models: 'Model' or 'Functional')", m->path, cls ? cls : "(missing)");
        return NULL;
    }
    const json_value *cfg = json_get(mc, "config");
    if (!cfg || !json_get(cfg, "layers") || json_get(cfg, "layers")->type != JSON_ARRAY) {
        error_set(STATUS_FORMAT, "%s: the model config has no layers list", m->path);
        return NULL;
    }
    return cfg;
}

static status build(tfjs_model *m, const char *dir, const json_value *root) {
    const json_value *cfg = model_config(m, root);
    if (!cfg) return error_status();
    const json_value *layers = json_get(cfg, "layers");
    if (layers->count < 1 || layers->count > TFJS_MAX_LAYERS)
        return error_set(STATUS_FORMAT, "%s: %d layers (want 1 .. %d)", m->path, layers->count, TFJS_MAX_LAYERS);
    weights W = {0};
    if (!(W.mem = arena_new((size_t)4 << 20))) return error_set(STATUS_NOMEM, "%s: out of memory", m->path);
    status st0 = load_weights(m, dir, json_get(root, "weightsManifest"), &W);
    /* the parameter table: the layers' own tensors (OIHW kernels), under the manifest's names */
    m->params.names = st0 == STATUS_OK ? arena_alloc(m->mem, (size_t)(W.n + 1) * sizeof(char *)) : NULL;
    m->params.tensors = m->params.names ? arena_alloc(m->mem, (size_t)(W.n + 1) * sizeof(tensor *)) : NULL;
    if (st0 != STATUS_OK || !m->params.tensors) { arena_free(W.mem); return error_status(); }
    m->n = layers->count;
    m->layers = arena_alloc(m->mem, (size_t)m->n * sizeof *m->layers);
    m->by_name = arena_alloc(m->mem, (size_t)m->n * sizeof(int));
    const char ***inb = calloc((size_t)m->n, sizeof *inb);
    int *ninb = calloc((size_t)m->n, sizeof(int));
    status st = m->layers && m->by_name && inb && ninb ? STATUS_OK : error_set(STATUS_NOMEM, "%s: out of memory", m->path);
    for (int i = 0; st == STATUS_OK && i < m->n; i++) {
        const json_value *l = &layers->items[i];
        tfjs_layer *L = &m->layers[i];
        const char *name = json_str(json_get(l, "name")), *cls = json_str(json_get(l, "class_name"));
        const json_value *lc = json_get(l, "config");
        if (!name || !*name || strlen(name) >= TFJS_MAX_NAME || !cls || !lc || lc->type != JSON_OBJECT) {
            st = error_set(STATUS_FORMAT, "%s: layer %d needs a name, a class_name and a config", m->path, i);
            break;
        }
        L->name = str_dup(m->mem, name);
        L->cls = str_dup(m->mem, cls);
        size_t k = 0;
        while (k < sizeof g_classes / sizeof g_classes[0] && strcmp(g_classes[k].cls, cls)) k++;
        if (k == sizeof g_classes / sizeof g_classes[0]) { st = layer_error(m, name, "unsupported layer class ", cls); break; }
        L->kind = g_classes[k].kind;
        L->max_value = -1;
        if (!(inb[i] = calloc(TFJS_MAX_INBOUND, sizeof(char *)))) { st = error_set(STATUS_NOMEM, "%s: out of memory", m->path); break; }
        if ((st = parse_inbound(m, L, json_get(l, "inbound_nodes"), inb[i], &ninb[i])) != STATUS_OK) break;
        st = parse_layer(m, &W, L, lc);
    }
    if (st == STATUS_OK) {
        st = sort_names(m);
        for (int i = 1; st == STATUS_OK && i < m->n; i++)
            if (!strcmp(m->layers[m->by_name[i]].name, m->layers[m->by_name[i - 1]].name))
                st = error_set(STATUS_FORMAT, "%s: two layers are named '%s'", m->path, m->layers[m->by_name[i]].name);
    }
    if (st == STATUS_OK) st = order_layers(m, inb, ninb);
    for (int i = 0; inb && i < m->n; i++) free(inb[i]);
    free(inb);
    free(ninb);
    arena_free(W.mem);   /* the layers hold what they use */
    if (st == STATUS_OK) st = check_graph(m);
    if (st != STATUS_OK) return st;
    /* the output: output_layers[0], else the last layer */
    const json_value *outs = json_get(cfg, "output_layers");
    m->output = m->n - 1;
    if (outs && outs->type == JSON_ARRAY && outs->count >= 1 && outs->items[0].type == JSON_ARRAY && outs->items[0].count >= 1) {
        const char *on = json_str(&outs->items[0].items[0]);
        int j = on ? tfjs_layer_find(m, on) : -1;
        if (j < 0) return error_set(STATUS_FORMAT, "%s: output layer '%s' is not a layer", m->path, on ? on : "(not a string)");
        m->output = j;
    }
    return STATUS_OK;
}

tfjs_model *tfjs_load(const char *path) {
    if (!path) { error_set(STATUS_ARG, "tfjs_load: NULL path"); return NULL; }
    struct stat st;
    char json_path[4096], dir[4096];
    bool is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    size_t pl = strlen(path);
    if (pl > 4000) { error_set(STATUS_ARG, "tfjs_load: path too long"); return NULL; }
    if (is_dir) {
        snprintf(json_path, sizeof json_path, "%s%smodel.json", path, pl && path[pl - 1] == '/' ? "" : "/");
        snprintf(dir, sizeof dir, "%s%s", path, pl && path[pl - 1] == '/' ? "" : "/");
    } else {
        snprintf(json_path, sizeof json_path, "%s", path);
        const char *slash = strrchr(path, '/');
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path + 1) : 0, path);
    }
    tfjs_model *m = calloc(1, sizeof *m);
    if (!m || !(m->mem = arena_new((size_t)4 << 20))) {
        free(m);
        error_set(STATUS_NOMEM, "tfjs: out of memory");
        return NULL;
    }
    m->path = str_dup(m->mem, json_path);
    size_t len = 0;
    unsigned char *text = m->path ? file_read(json_path, TFJS_MAX_JSON, &len) : NULL;
    json_error jerr;
    json_value *root = text ? json_parse((const char *)text, len, &jerr) : NULL;
    if (text && !root) error_set(jerr.status, "%s: %s", json_path, jerr.msg);
    free(text);
    status s = root ? build(m, dir, root) : error_status();
    json_free(root);
    if (s != STATUS_OK) { tfjs_free(m); return NULL; }
    return m;
}

void tfjs_free(tfjs_model *m) {
    if (!m) return;
    arena_free(m->mem);
    free(m);
}

int tfjs_layer_count(const tfjs_model *m) { return m->n; }
const char *tfjs_layer_name(const tfjs_model *m, int i) { return i >= 0 && i < m->n ? m->layers[i].name : NULL; }
const char *tfjs_layer_class(const tfjs_model *m, int i) { return i >= 0 && i < m->n ? m->layers[i].cls : NULL; }
const model_params *tfjs_params(const tfjs_model *m) { return &m->params; }
const char *tfjs_output_name(const tfjs_model *m) { return m->layers[m->output].name; }
void tfjs_input_shape(const tfjs_model *m, int *h, int *w, int *c) {
    if (h) *h = m->in_h;
    if (w) *w = m->in_w;
    if (c) *c = m->in_c;
}

status tfjs_forward(const tfjs_model *m, arena *a, tensor *x, int n, const char *const *names, tensor **outs) {
    if (!m || !a || !x || n < 1 || !names || !outs) return error_set(STATUS_ARG, "tfjs_forward: bad arguments");
    return tfjs_run(m, a, x, n, names, outs, false);
}

status tfjs_forward_partial(const tfjs_model *m, arena *a, tensor *x, int n, const char *const *names, tensor **outs) {
    if (!m || !a || !x || n < 1 || !names || !outs) return error_set(STATUS_ARG, "tfjs_forward_partial: bad arguments");
    return tfjs_run(m, a, x, n, names, outs, true);
}
