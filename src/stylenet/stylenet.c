/* stylenet.c: the fast style network (stylenet.h): parameters, the forward pass (with the
 * instance statistics recorded or imposed for tiles), model files and style names. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/init.h"
#include "atelier/ops.h"
#include "atelier/rng.h"
#include "atelier/safetensors.h"
#include "atelier/sha256.h"
#include "../models_internal.h"
#include "stylenet_internal.h"

/* ---- shape ---- */

typedef struct conv_spec { int k, stride; } conv_spec;
static const conv_spec g_conv[STYLENET_CONVS] = {
    {9, 1}, {3, 2}, {3, 2},                                            /* encoder */
    {3, 1}, {3, 1}, {3, 1}, {3, 1}, {3, 1}, {3, 1}, {3, 1}, {3, 1}, {3, 1}, {3, 1},  /* res */
    {3, 1}, {3, 1},                                                    /* up1, up2 (after x2) */
    {9, 1}};                                                           /* out */

static int chans(float width, int base) {
    int c = (int)lroundf(base * width);
    return c < 4 ? 4 : c;
}

int stylenet_conv_out(const stylenet *m, int l) {
    if (l == 0 || l == 14) return m->c1;
    if (l == 1 || l == 13) return m->c2;
    if (l == 15) return 3;
    return m->c3;
}

static int conv_in(const stylenet *m, int l) {
    return l == 0 ? 3 : l == 13 ? m->c3 : l == 14 ? m->c2 : l == 15 ? m->c1 : stylenet_conv_out(m, l - 1);
}

static void conv_name(int l, char *out, size_t n) {
    if (l < 3) snprintf(out, n, "conv%d", l + 1);
    else if (l < 13) snprintf(out, n, "res%d.conv%d", (l - 3) / 2 + 1, (l - 3) % 2 + 1);
    else snprintf(out, n, "%s", l == 13 ? "up1" : l == 14 ? "up2" : "out");
}

static void norm_name(int l, char *out, size_t n) {
    if (l < 3) snprintf(out, n, "in%d", l + 1);
    else if (l < 13) snprintf(out, n, "res%d.in%d", (l - 3) / 2 + 1, (l - 3) % 2 + 1);
    else snprintf(out, n, "in%d", l - 9);   /* 13 -> in4, 14 -> in5 */
}

status stylenet_init(stylenet *m, arena *params, uint64_t seed, int nstyles, float width) {
    memset(m, 0, sizeof *m);
    if (nstyles < 1 || nstyles > STYLENET_MAX_STYLES)
        return error_set(STATUS_ARG, "stylenet: %d styles (want 1 .. %d)", nstyles, STYLENET_MAX_STYLES);
    if (!(width >= 0.125f && width <= 2.0f))
        return error_set(STATUS_ARG, "stylenet: width %g (want 0.125 .. 2)", width);
    m->nstyles = nstyles;
    m->width = width;
    m->c1 = chans(width, 32);
    m->c2 = chans(width, 64);
    m->c3 = chans(width, 128);
    for (int s = 0; s < nstyles; s++) snprintf(m->names[s], STYLENET_NAME_MAX, "style%d", s);
    model_params *p = &m->params;
    if (!table_new(p, params, 2 * STYLENET_CONVS + 2 * STYLENET_NORMS)) return error_status();
    rng r = rng_new(seed);
    char name[32];
    for (int l = 0; l < STYLENET_CONVS; l++) {
        int oc = stylenet_conv_out(m, l), k = g_conv[l].k;
        conv_name(l, name, sizeof name);
        conv_weights *cw = &m->conv[l];
        cw->w = table_add(p, params, true, 4, (int[]){oc, conv_in(m, l), k, k}, "%s.weight", name);
        cw->b = table_add(p, params, true, 1, (int[]){oc}, "%s.bias", name);
        if (!cw->w || !cw->b) return error_status();
        init_torch_default_conv(cw->w, cw->b, &r);
        if (l == STYLENET_NORMS) break;
        norm_name(l, name, sizeof name);
        m->gamma[l] = table_add(p, params, true, 2, (int[]){nstyles, oc}, "%s.gamma", name);
        m->beta[l] = table_add(p, params, true, 2, (int[]){nstyles, oc}, "%s.beta", name);
        if (!m->gamma[l] || !m->beta[l]) return error_status();
        tensor_fill(m->gamma[l], 1.0f);
    }
    return STATUS_OK;
}

/* ---- forward ---- */

/* Conditional instance norm in inference with recorded or imposed statistics, over x
 * (1, C, H, W) in place: y = (x - mean) rstd gamma + beta, then ReLU where relu. gamma and
 * beta (1, C): the blended rows. Statistics in double, as the kernels compute them. */
static void cin_stats_inplace(tensor *x, const tensor *gamma, const tensor *beta, stylenet_stats *st, int l,
                              bool relu) {
    int c = x->shape[1];
    int64_t hw = (int64_t)x->shape[2] * x->shape[3];
    #pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        float *p = x->data + ch * hw;
        if (st->mode == STATS_RECORD) {
            double s = 0, ss = 0;
            for (int64_t i = 0; i < hw; i++) s += p[i];
            double mu = s / (double)hw;
            for (int64_t i = 0; i < hw; i++) ss += (p[i] - mu) * (p[i] - mu);
            st->mean[l][ch] = (float)mu;
            st->rstd[l][ch] = (float)(1.0 / sqrt(ss / (double)hw + 1e-5));
        }
        float a = st->rstd[l][ch] * gamma->data[ch], b = beta->data[ch] - st->mean[l][ch] * a;
        if (relu) for (int64_t i = 0; i < hw; i++) { float v = p[i] * a + b; p[i] = v > 0 ? v : 0; }
        else for (int64_t i = 0; i < hw; i++) p[i] = p[i] * a + b;
    }
}

typedef struct fwd {
    const stylenet *m;
    layer_seq seq;
    tensor *mix;
    stylenet_stats *st;
} fwd;

/* y := CIN_l(y) (+ ReLU), y made by the layer's conv in arena o (inference: in place). */
static tensor *cin(fwd *f, arena *w, arena *o, tensor *y, int l, bool relu) {
    if (!y) return NULL;
    tensor *g = op_matmul(w, f->mix, f->m->gamma[l]), *b = op_matmul(w, f->mix, f->m->beta[l]);   // (N, C)
    if (!g || !b) return NULL;
    if (f->st) { cin_stats_inplace(y, g, b, f->st, l, relu); return y; }
    if (f->seq.on) {
        if (relu) return op_instance_norm_relu_inplace(y, g, b, 1e-5f);
        return op_instance_norm(o, y, g, b, 1e-5f);   /* the residual branch's end: small */
    }
    return relu ? op_instance_norm_relu(o, y, g, b, 1e-5f) : op_instance_norm(o, y, g, b, 1e-5f);
}

static tensor *conv(arena *w, arena *o, tensor *x, const conv_weights *cw, int stride) {
    int pad = cw->w->shape[2] / 2;
    conv2d_opts co = conv2d_defaults();
    co.stride = stride;
    return op_conv2d(o, op_pad(w, x, PAD_REFLECT, pad, pad, pad, pad), cw->w, cw->b, co);
}

/* conv l + CIN + ReLU as one layer of the sequence */
static tensor *conv_layer(fwd *f, tensor *h, int l) {
    arena *w = layer_seq_arena(&f->seq), *o = layer_seq_output(&f->seq);
    return layer_seq_keep(&f->seq, cin(f, w, o, conv(w, o, h, &f->m->conv[l], g_conv[l].stride), l, true));
}

/* nearest x2, conv l, CIN, ReLU: the upsampled tensor lives in the output arena until
 * padded (it is the network's largest), then the conv writes there. */
static tensor *up_layer(fwd *f, tensor *h, int l) {
    arena *w = layer_seq_arena(&f->seq), *o = layer_seq_output(&f->seq);
    const conv_weights *cw = &f->m->conv[l];
    int pad = cw->w->shape[2] / 2;
    tensor *padded = op_pad(w, op_upsample(o, h, UPSAMPLE_NEAREST, 2), PAD_REFLECT, pad, pad, pad, pad);
    if (f->seq.on) arena_reset(o);
    tensor *y = padded ? op_conv2d(o, padded, cw->w, cw->b, conv2d_defaults()) : NULL;
    return layer_seq_keep(&f->seq, cin(f, w, o, y, l, true));
}

static bool check_input(const stylenet *m, const tensor *x, const tensor *mix) {
    char bx[64], bm[64];
    if (!x || !mix) return false;
    if (x->ndim != 4 || x->shape[1] != 3 || x->shape[2] % 4 || x->shape[3] % 4 || x->shape[2] < 8 || x->shape[3] < 8) {
        error_set(STATUS_SHAPE, "stylenet: input %s: want (N, 3, H, W) with H and W multiples of 4, at least 8",
                  tensor_shape_str(x, bx));
        return false;
    }
    if (mix->ndim != 2 || mix->shape[0] != x->shape[0] || mix->shape[1] != m->nstyles) {
        error_set(STATUS_SHAPE, "stylenet: style weights %s: want (%d, %d) for input %s", tensor_shape_str(mix, bm),
                  x->shape[0], m->nstyles, tensor_shape_str(x, bx));
        return false;
    }
    return true;
}

tensor *stylenet_forward_stats(const stylenet *m, arena *a, tensor *x, tensor *mix, stylenet_stats *st) {
    if (!check_input(m, x, mix)) return NULL;
    if (st && (autograd_enabled() || x->shape[0] != 1)) {
        error_set(STATUS_ARG, "stylenet: recorded statistics are for inference on one image (autograd off)");
        return NULL;
    }
    fwd f = {.m = m, .mix = mix, .st = st};
    layer_seq_begin(&f.seq, a);
    tensor *h = x;
    for (int l = 0; l < 3; l++) h = conv_layer(&f, h, l);                  // (N, C3, H/4, W/4)
    for (int k = 0; k < 5 && h; k++) {
        int l = 3 + 2 * k;
        arena *w = layer_seq_arena(&f.seq);
        tensor *r = cin(&f, w, w, conv(w, w, h, &m->conv[l], 1), l, true);
        r = cin(&f, w, w, conv(w, w, r, &m->conv[l + 1], 1), l + 1, false);
        h = layer_seq_keep(&f.seq, op_add(layer_seq_output(&f.seq), h, r));
    }
    h = up_layer(&f, h, 13);                                               // (N, C2, H/2, W/2)
    h = up_layer(&f, h, 14);                                               // (N, C1, H, W)
    arena *w = layer_seq_arena(&f.seq);
    return layer_seq_end(&f.seq, op_sigmoid(w, conv(w, w, h, &m->conv[15], 1)));   // (N, 3, H, W)
}

tensor *stylenet_forward(const stylenet *m, arena *a, tensor *x, tensor *mix) {
    return stylenet_forward_stats(m, a, x, mix, NULL);
}

status stylenet_stats_alloc(const stylenet *m, stylenet_stats *st) {
    memset(st, 0, sizeof *st);
    for (int l = 0; l < STYLENET_NORMS; l++) {
        int c = stylenet_conv_out(m, l);
        st->mean[l] = malloc(sizeof(float) * (size_t)c);
        st->rstd[l] = malloc(sizeof(float) * (size_t)c);
        if (!st->mean[l] || !st->rstd[l]) {
            stylenet_stats_free(st);
            return error_set(STATUS_NOMEM, "stylenet: out of memory for statistics");
        }
    }
    return STATUS_OK;
}

void stylenet_stats_free(stylenet_stats *st) {
    for (int l = 0; l < STYLENET_NORMS; l++) { free(st->mean[l]); free(st->rstd[l]); st->mean[l] = st->rstd[l] = NULL; }
}

/* ---- names ---- */

void stylenet_name_clean(const char *in, char out[STYLENET_NAME_MAX]) {
    int n = 0;
    for (const char *p = in; *p && n < STYLENET_NAME_MAX - 1; p++) {
        unsigned char ch = (unsigned char)*p;
        out[n++] = (isalnum(ch) || ch == '_' || ch == '-' || ch == '.') ? (char)ch : '_';
    }
    out[n] = 0;
    if (!n) snprintf(out, STYLENET_NAME_MAX, "style");
}

void stylenet_names_join(const stylenet *m, char *out, size_t n) {
    size_t len = 0;
    out[0] = 0;
    for (int s = 0; s < m->nstyles && len < n; s++)
        len += (size_t)snprintf(out + len, n - len, "%s%s", s ? "," : "", m->names[s]);
}

bool stylenet_names_split(stylenet *m, const char *list) {
    int s = 0;
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ",");
        if (s == m->nstyles || len == 0 || len >= STYLENET_NAME_MAX) return false;
        memcpy(m->names[s], p, len);
        m->names[s++][len] = 0;
        p += len;
        if (*p == ',') p++;
    }
    return s == m->nstyles;
}

int stylenet_style_index(const stylenet *m, const char *name) {
    for (int s = 0; s < m->nstyles; s++)
        if (!strcmp(m->names[s], name)) return s;
    char *end;
    long k = strtol(name, &end, 10);
    if (*name && !*end && k >= 0 && k < m->nstyles) return (int)k;
    char list[STYLENET_MAX_STYLES * STYLENET_NAME_MAX];
    stylenet_names_join(m, list, sizeof list);
    error_set(STATUS_ARG, "no style '%.60s' in this model (it has %d: %s; or an index 0 .. %d)", name, m->nstyles, list,
              m->nstyles - 1);
    return -1;
}

status stylenet_parse_mix(const stylenet *m, const char *spec, float *w) {
    for (int s = 0; s < m->nstyles; s++) w[s] = 0;
    if (!spec || !*spec) return error_set(STATUS_ARG, "empty style blend (want NAME:W,NAME:W)");
    double sum = 0;
    for (const char *p = spec; *p;) {
        size_t len = strcspn(p, ",");
        char item[128];
        if (len == 0 || len >= sizeof item) return error_set(STATUS_ARG, "bad style blend '%.80s' (want NAME:W,NAME:W)", spec);
        memcpy(item, p, len);
        item[len] = 0;
        p += len;
        if (*p == ',' && !*++p) return error_set(STATUS_ARG, "bad style blend '%.80s' (want NAME:W,NAME:W)", spec);
        float v = 1.0f;
        char *colon = strrchr(item, ':');
        if (colon) {
            char *e;
            *colon = 0;
            v = strtof(colon + 1, &e);
            if (e == colon + 1 || *e || !(v >= 0) || !isfinite(v))
                return error_set(STATUS_ARG, "style blend '%.80s': weight '%s' is not a number >= 0", spec, colon + 1);
        }
        int s = stylenet_style_index(m, item);
        if (s < 0) return error_status();
        w[s] += v;
        sum += v;
    }
    if (!(sum > 0)) return error_set(STATUS_ARG, "style blend '%.80s': the weights sum to 0", spec);
    for (int s = 0; s < m->nstyles; s++) w[s] = (float)(w[s] / sum);
    return STATUS_OK;
}

/* ---- files ---- */

status stylenet_save(const stylenet *m, const char *path, const char *const *kv, int nkv) {
    if (nkv < 0 || nkv > 32) return error_set(STATUS_ARG, "stylenet_save: %d metadata pairs (at most 32)", nkv);
    char styles[STYLENET_MAX_STYLES * STYLENET_NAME_MAX], width[32], n[16];
    stylenet_names_join(m, styles, sizeof styles);
    snprintf(width, sizeof width, "%.9g", m->width);
    snprintf(n, sizeof n, "%d", m->nstyles);
    const char *meta[2 * 36] = {"format", STYLENET_FORMAT, "version", "1", "styles", styles, "nstyles", n,
                                "width", width};
    int nm = 5;
    for (int i = 0; i < nkv; i++) { meta[2 * nm] = kv[2 * i]; meta[2 * nm + 1] = kv[2 * i + 1]; nm++; }
    return safetensors_save(path, m->params.names, m->params.tensors, m->params.n, meta, nm);
}

/* The built-in models (src/builtin_models.c; absent ones are empty). */
extern const unsigned char atelier_kit_styles_data[];
extern const unsigned long long atelier_kit_styles_size;
static const char *const g_builtin[] = {"kit-styles", NULL};

const char *stylenet_builtin_name(int i) {
    return i >= 0 && i < (int)(sizeof g_builtin / sizeof g_builtin[0]) ? g_builtin[i] : NULL;
}

const void *stylenet_builtin_bytes(const char *name, size_t *len) {
    if (strcmp(name, "kit-styles") != 0 || atelier_kit_styles_size == 0) return NULL;
    *len = (size_t)atelier_kit_styles_size;
    return atelier_kit_styles_data;
}

bool stylenet_builtin_available(const char *name) {
    size_t len;
    return stylenet_builtin_bytes(name, &len) != NULL;
}

static safetensors *open_model(const char *name, char *source, size_t n, char hex[65]) {
    FILE *probe = fopen(name, "rb");
    const char *base = strrchr(name, '/');
    if (probe) {
        fclose(probe);
        snprintf(source, n, "%s", base ? base + 1 : name);
        safetensors *f = safetensors_open(name);
        if (f && !sha256_file(name, hex)) {
            safetensors_close(f);
            error_set(STATUS_IO, "%s: cannot read to hash it", name);
            return NULL;
        }
        return f;
    }
    for (int i = 0; g_builtin[i]; i++)
        if (!strcmp(name, g_builtin[i])) {
            size_t len;
            const void *bytes = stylenet_builtin_bytes(name, &len);
            if (!bytes) {
                error_set(STATUS_IO, "%s: this build has no built-in %s model (models/%s.safetensors was absent)", name,
                          name, name);
                return NULL;
            }
            snprintf(source, n, "built-in %s", name);
            sha256_hex(bytes, len, hex);
            return safetensors_open_memory(bytes, len, name);
        }
    if (!base && !strchr(name, '.')) {
        error_set(STATUS_IO, "no model '%.80s': not a file, and the built-in models are: kit-styles", name);
        return NULL;
    }
    return safetensors_open(name);   /* its error names the file */
}

stylenet *stylenet_load(const char *path_or_name) {
    char source[80], hex[65] = "";
    safetensors *f = open_model(path_or_name, source, sizeof source, hex);
    if (!f) return NULL;
    stylenet *m = calloc(1, sizeof *m);
    arena *a = arena_new(1 << 20);
    status st = STATUS_OK;
    const char *fmt = safetensors_metadata(f, "format"), *ver = safetensors_metadata(f, "version");
    const char *ns = safetensors_metadata(f, "nstyles"), *wd = safetensors_metadata(f, "width");
    const char *names = safetensors_metadata(f, "styles"), *kind = safetensors_metadata(f, "kind");
    if (!m || !a) st = error_set(STATUS_NOMEM, "stylenet: out of memory");
    else if (!fmt || strcmp(fmt, STYLENET_FORMAT) != 0)
        st = error_set(STATUS_FORMAT, "%s: not a fast style network (format %.40s%s)", path_or_name, fmt ? fmt : "missing",
                       fmt && !strcmp(fmt, "atelier-gan") ? ": a GAN checkpoint"
                       : kind && !strcmp(kind, STYLENET_TRAIN_FORMAT) ? ": a training checkpoint; use RUN_DIR/model.safetensors"
                       : "");
    else if (!ver || strcmp(ver, "1") != 0)
        st = error_set(STATUS_FORMAT, "%s: style network version %.20s not supported (only 1)", path_or_name, ver ? ver : "missing");
    else if (!ns || !wd || !names) st = error_set(STATUS_FORMAT, "%s: the style network's metadata is incomplete", path_or_name);
    if (st == STATUS_OK) {
        char *e1, *e2;
        long n = strtol(ns, &e1, 10);
        float w = strtof(wd, &e2);
        if (*e1 || *e2 || n < 1 || n > STYLENET_MAX_STYLES)
            st = error_set(STATUS_FORMAT, "%s: bad nstyles '%.20s' or width '%.20s'", path_or_name, ns, wd);
        else st = stylenet_init(m, a, 0, (int)n, w);
    }
    if (st == STATUS_OK && !stylenet_names_split(m, names))
        st = error_set(STATUS_FORMAT, "%s: the style names do not match the %d styles", path_or_name, m->nstyles);
    for (int i = 0; st == STATUS_OK && i < m->params.n; i++) {
        int64_t shape[8];
        const char *nm = m->params.names[i];
        tensor *t = m->params.tensors[i];
        int nd = safetensors_shape(f, nm, shape);
        bool ok = nd == t->ndim;
        for (int d = 0; ok && d < nd; d++) ok = shape[d] == t->shape[d];
        if (!ok) st = error_set(STATUS_FORMAT, "%s: tensor %s is %s", path_or_name, nm, nd < 0 ? "missing" : "of another shape");
        else st = safetensors_load_into(f, nm, t);
    }
    safetensors_close(f);
    if (st != STATUS_OK) {
        arena_free(a);
        free(m);
        return NULL;
    }
    model_params_set_trainable(&m->params, false);
    m->own = a;
    snprintf(m->source, sizeof m->source, "%s", source);
    memcpy(m->sha256, hex, sizeof m->sha256);
    return m;
}

void stylenet_free(stylenet *m) {
    if (!m) return;
    arena_free(m->own);
    free(m);
}
