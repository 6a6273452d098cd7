/* classify.c: the classifiers of classify.h: a head on a feature network or a small CNN,
 * their forward pass (differentiable in the pixels), files and the attack adapter. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/classify.h"
#include "atelier/featnet.h"
#include "atelier/image.h"
#include "atelier/init.h"
#include "atelier/ops.h"
#include "atelier/safetensors.h"
#include "classify_internal.h"


classify_config classify_defaults(classify_kind kind) {
    classify_config c = {.kind = kind, .nclasses = 2, .size = kind == CLASSIFY_CNN ? 32 : 224, .width = 16, .seed = 1};
    snprintf(c.net, sizeof c.net, "mobilenet_v2");
    snprintf(c.layer, sizeof c.layer, "out_relu");
    return c;
}

static bool name_ok(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.') return false;
    return true;
}

static status check_config(const classify_config *c) {
    if (c->kind != CLASSIFY_HEAD && c->kind != CLASSIFY_CNN) return error_set(STATUS_ARG, "classifier: unknown kind %d", (int)c->kind);
    if (c->nclasses < 2 || c->nclasses > CLASSIFY_MAX_CLASSES)
        return error_set(STATUS_ARG, "classifier: %d classes (want 2 .. %d)", c->nclasses, CLASSIFY_MAX_CLASSES);
    for (int k = 0; k < c->nclasses; k++) {
        if (!name_ok(c->classes[k]))
            return error_set(STATUS_ARG, "classifier: class name '%.48s' (want letters, digits, - _ .)", c->classes[k]);
        for (int j = 0; j < k; j++)
            if (!strcmp(c->classes[j], c->classes[k])) return error_set(STATUS_ARG, "classifier: two classes are named '%s'", c->classes[k]);
    }
    if (c->size < 8 || c->size > 1024) return error_set(STATUS_ARG, "classifier: input size %d (want 8 .. 1024)", c->size);
    if (c->detail != 0 && (c->detail < 4 || c->detail > c->size))
        return error_set(STATUS_ARG, "classifier: detail %d (want 0, or 4 .. the size %d)", c->detail, c->size);
    if (c->hidden < 0 || c->hidden > 4096) return error_set(STATUS_ARG, "classifier: hidden %d (want 0 .. 4096)", c->hidden);
    if (c->kind == CLASSIFY_CNN && (c->width < 1 || c->width > 256)) return error_set(STATUS_ARG, "classifier: width %d (want 1 .. 256)", c->width);
    return STATUS_OK;
}

/* PyTorch's default for Linear and Conv2d: weight and bias uniform within 1 / sqrt(fan_in). */
static tensor *add_param(classifier *m, rng *r, const char *name, int ndim, const int *shape, int fan_in) {
    tensor *t = tensor_new(m->params, ndim, shape);
    if (!t) return NULL;
    float b = 1.0f / sqrtf((float)fan_in);
    init_uniform(t, r, -b, b);
    tensor_requires_grad(t);
    m->own.names[m->own.n] = name;
    m->own.tensors[m->own.n++] = t;
    return t;
}

/* The network's layer has F channels: one probe image at the model's size. */
static int probe_features(classifier *m) {
    arena *a = arena_new(16 << 20);
    if (!a) return -1;
    bool was = autograd_set(false);
    tensor *x = tensor_fill(tensor_new(a, 4, (int[]){1, 3, m->c.size, m->c.size}), 0.5f), *out = NULL;
    const char *layer = m->c.layer;
    int f = -1;
    if (x && featnet_forward(m->fn, a, x, 1, &layer, &out) == STATUS_OK) {
        if (out->ndim == 4) f = out->shape[1];
        else error_set(STATUS_ARG, "classifier: layer %s of %s is not a feature map", layer, m->c.net);
    }
    autograd_set(was);
    arena_free(a);
    return f;
}

static status open_net(classifier *m, const char *models_dir) {
    if (!(m->fn = featnet_open(m->c.net, models_dir, NULL))) return error_status();
    if (!featnet_has_layer(m->fn, m->c.layer))
        return error_set(STATUS_ARG, "classifier: %s has no layer '%s'", featnet_name(m->fn), m->c.layer);
    /* as a classifier sees images: no blur, no reflect padding (those are for painting) */
    if (featnet_get_kind(m->fn) == FEATNET_TFJS) featnet_set_input(m->fn, featnet_get_range(m->fn), 0);
    if (featnet_set_blur(m->fn, false) != STATUS_OK) return error_status();
    if ((m->nfeat = probe_features(m)) < 1) return error_status() ? error_status() : error_set(STATUS_ARG, "classifier: no features");
    return STATUS_OK;
}

/* The network's own parameters (fine-tuning). */
static model_params *net_params(classifier *m) {
    if (!m->fn) return NULL;
    const tfjs_model *t = featnet_tfjs(m->fn);
    if (t) return (model_params *)tfjs_params(t);
    const vgg19 *v = featnet_vgg(m->fn);
    return v ? (model_params *)&v->params : NULL;
}

static status build(classifier *m, const char *models_dir) {
    const classify_config *c = &m->c;
    rng r = rng_new(c->seed);
    int K = c->nclasses;
    m->own.names = m->own_names;
    m->own.tensors = m->own_tensors;
    if (c->kind == CLASSIFY_HEAD) {
        if (open_net(m, models_dir) != STATUS_OK) return error_status();
        int F = m->nfeat, H = c->hidden;
        if (H) {
            m->fc1_w = add_param(m, &r, "fc1.weight", 2, (int[]){H, F}, F);
            m->fc1_b = add_param(m, &r, "fc1.bias", 1, (int[]){H}, F);
        }
        int in = H ? H : F;
        m->fc2_w = add_param(m, &r, "fc2.weight", 2, (int[]){K, in}, in);
        m->fc2_b = add_param(m, &r, "fc2.bias", 1, (int[]){K}, in);
        if (!m->fc2_b || (H && !m->fc1_b)) return error_status();
    } else {
        static const char *wn[3] = {"conv1.weight", "conv2.weight", "conv3.weight"};
        static const char *bn[3] = {"conv1.bias", "conv2.bias", "conv3.bias"};
        int ch[4] = {3, c->width, 2 * c->width, 4 * c->width};
        for (int l = 0; l < 3; l++) {
            m->conv_w[l] = add_param(m, &r, wn[l], 4, (int[]){ch[l + 1], ch[l], 3, 3}, ch[l] * 9);
            m->conv_b[l] = add_param(m, &r, bn[l], 1, (int[]){ch[l + 1]}, ch[l] * 9);
            if (!m->conv_b[l]) return error_status();
        }
        m->fc2_w = add_param(m, &r, "fc.weight", 2, (int[]){K, ch[3]}, ch[3]);
        m->fc2_b = add_param(m, &r, "fc.bias", 1, (int[]){K}, ch[3]);
        if (!m->fc2_b) return error_status();
        m->nfeat = ch[3];
    }
    /* all trainable tensors: own, then the network's (prefixed "net.") */
    model_params *np = c->fine_tune ? net_params(m) : NULL;
    int n = m->own.n + (np ? np->n : 0), k = m->own.n;
    m->all.names = arena_alloc(m->params, sizeof(char *) * (size_t)n);
    m->all.tensors = arena_alloc(m->params, sizeof(tensor *) * (size_t)n);
    if (!m->all.names || !m->all.tensors) return error_status();
    for (int i = 0; i < m->own.n; i++) { m->all.names[i] = m->own.names[i]; m->all.tensors[i] = m->own.tensors[i]; }
    for (int i = 0; np && i < np->n; i++) {
        /* batch norm's running statistics are buffers, not parameters: they stay the network's */
        if (strstr(np->names[i], "moving_mean") || strstr(np->names[i], "moving_variance")) continue;
        size_t len = strlen(np->names[i]) + 5;
        char *nm = arena_alloc(m->params, len);
        if (!nm) return error_status();
        snprintf(nm, len, "net.%s", np->names[i]);
        m->all.names[k] = nm;
        m->all.tensors[k++] = np->tensors[i];
        tensor_requires_grad(np->tensors[i]);
    }
    m->all.n = k;
    return STATUS_OK;
}

classifier *classify_new(const classify_config *c, const char *models_dir) {
    if (check_config(c) != STATUS_OK) return NULL;
    classifier *m = calloc(1, sizeof *m);
    if (!m) { error_set(STATUS_NOMEM, "classifier: out of memory"); return NULL; }
    m->c = *c;
    if (c->kind == CLASSIFY_CNN) { m->c.fine_tune = false; m->c.net[0] = m->c.layer[0] = m->c.net_sha256[0] = 0; }
    if (!(m->params = arena_new(1 << 20)) || build(m, models_dir) != STATUS_OK) {
        classify_free(m);
        return NULL;
    }
    return m;
}

void classify_free(classifier *m) {
    if (!m) return;
    featnet_free(m->fn);
    arena_free(m->params);
    free(m);
}

status classify_copy_weights(classifier *dst, const classifier *src) {
    const classify_config *a = &dst->c, *b = &src->c;
    if (a->kind != b->kind || a->nclasses != b->nclasses || strcmp(a->net, b->net) || strcmp(a->layer, b->layer))
        return error_set(STATUS_ARG, "classifier: cannot start from a %s model on %s %s with %d classes (this one: %s on %s %s, %d classes)",
                         b->kind == CLASSIFY_HEAD ? "head" : "cnn", b->net, b->layer, b->nclasses,
                         a->kind == CLASSIFY_HEAD ? "head" : "cnn", a->net, a->layer, a->nclasses);
    if (a->size != b->size || a->detail != b->detail)
        return error_set(STATUS_ARG, "classifier: the model to start from sees %d px images (detail %d), this one %d px (detail %d)",
                         b->size, b->detail, a->size, a->detail);
    for (int k = 0; k < a->nclasses; k++)
        if (strcmp(a->classes[k], b->classes[k]))
            return error_set(STATUS_ARG, "classifier: class %d is '%s' here and '%s' in the model to start from", k + 1, a->classes[k], b->classes[k]);
    for (int i = 0; i < src->all.n; i++) {
        tensor *d = model_params_find(&dst->all, src->all.names[i]), *t = src->all.tensors[i];
        if (!d || !tensor_same_shape(d, t))
            return error_set(STATUS_ARG, "classifier: the model to start from has %s of another shape (hidden, width?)", src->all.names[i]);
    }
    for (int i = 0; i < src->all.n; i++)
        memcpy(model_params_find(&dst->all, src->all.names[i])->data, src->all.tensors[i]->data, sizeof(float) * (size_t)src->all.tensors[i]->numel);
    return STATUS_OK;
}

const classify_config *classify_get_config(const classifier *m) { return &m->c; }
struct featnet *classify_featnet(classifier *m) { return m->fn; }
model_params *classify_params(classifier *m) { return &m->all; }

/* ---- forward ---- */

static tensor *to_size(classifier *m, arena *a, tensor *x) {
    char b[64];
    if (!x) return NULL;
    if (x->ndim != 4 || x->shape[1] != 3) {
        error_set(STATUS_SHAPE, "classifier: images %s: want (N, 3, H, W)", tensor_shape_str(x, b));
        return NULL;
    }
    int s = m->c.size;
    if (x->shape[2] == s && x->shape[3] == s) return x;
    return op_upsample_to(a, x, UPSAMPLE_BILINEAR, s, s, false);
}

tensor *classify_features(classifier *m, arena *a, tensor *x) {
    if (m->c.kind != CLASSIFY_HEAD) { error_set(STATUS_ARG, "classifier: a cnn has no feature network"); return NULL; }
    x = to_size(m, a, x);
    if (!x) return NULL;
    const char *layer = m->c.layer;
    tensor *f = NULL;
    if (featnet_forward(m->fn, a, x, 1, &layer, &f) != STATUS_OK) return NULL;
    return op_mean(a, f, (1 << 2) | (1 << 3), false);   // (N, F)
}

tensor *classify_head_forward(classifier *m, arena *a, tensor *feat) {
    char b[64];
    if (!feat) return NULL;
    if (feat->ndim != 2 || feat->shape[1] != m->nfeat) {
        error_set(STATUS_SHAPE, "classifier: features %s: want (N, %d)", tensor_shape_str(feat, b), m->nfeat);
        return NULL;
    }
    tensor *h = feat;
    if (m->fc1_w) h = op_relu(a, op_linear(a, h, m->fc1_w, m->fc1_b));
    return op_linear(a, h, m->fc2_w, m->fc2_b);
}

static tensor *cnn_forward(classifier *m, arena *a, tensor *x) {
    conv2d_opts o = conv2d_defaults();
    o.pad = 1;
    tensor *h = op_add_scalar(a, x, -0.5f);
    for (int l = 0; l < 3; l++) {
        h = op_conv2d_relu(a, h, m->conv_w[l], m->conv_b[l], o);
        if (l < 2 && h && h->shape[2] >= 2 && h->shape[3] >= 2) h = op_max_pool2d(a, h, 2, 2, 0);
    }
    return op_linear(a, op_mean(a, h, (1 << 2) | (1 << 3), false), m->fc2_w, m->fc2_b);
}

tensor *classify_forward(classifier *m, arena *a, tensor *x) {
    if (m->c.kind == CLASSIFY_HEAD) return classify_head_forward(m, a, classify_features(m, a, x));
    return cnn_forward(m, a, to_size(m, a, x));
}

void classify_softmax(const float *z, int k, float *p) {
    float mx = z[0];
    for (int j = 1; j < k; j++) mx = z[j] > mx ? z[j] : mx;
    double s = 0;
    for (int j = 0; j < k; j++) s += exp((double)z[j] - mx);
    for (int j = 0; j < k; j++) p[j] = (float)(exp((double)z[j] - mx) / s);
}

status classify_probs(classifier *m, const float *x, int n, int h, int w, float *probs) {
    if (n < 1 || h < 1 || w < 1) return error_set(STATUS_ARG, "classify_probs: %d images of %dx%d", n, w, h);
    arena *a = arena_new(16 << 20);
    if (!a) return error_set(STATUS_NOMEM, "classifier: out of memory");
    bool was = autograd_set(false);
    status st = STATUS_OK;
    int K = m->c.nclasses, chunk = 8;
    for (int i = 0; st == STATUS_OK && i < n; i += chunk) {
        int b = n - i < chunk ? n - i : chunk;
        tensor *xt = tensor_from(a, 4, (int[]){b, 3, h, w}, x + (int64_t)i * 3 * h * w);
        tensor *z = classify_forward(m, a, xt);
        if (!z) { st = error_status(); break; }
        for (int j = 0; j < b; j++) classify_softmax(z->data + (int64_t)j * K, K, probs + (int64_t)(i + j) * K);
        arena_reset(a);
    }
    autograd_set(was);
    arena_free(a);
    return st;
}

/* ---- inputs ---- */

status classify_apply_detail(int detail, uint8_t *px, int n, int size) {
    if (!detail) return STATUS_OK;
    if (detail < 1 || size < 1) return error_set(STATUS_ARG, "classifier: detail %d of size %d", detail, size);
    image *im = image_new(size, size, 3);
    if (!im) return error_status();
    int64_t per = (int64_t)3 * size * size;
    status st = STATUS_OK;
    for (int i = 0; st == STATUS_OK && i < n; i++) {
        uint8_t *p = px + i * per;
        for (int64_t q = 0; q < per; q++) im->data[q] = p[q] * (1.0f / 255);
        image *small = image_resize(im, detail, detail), *back = small ? image_resize(small, size, size) : NULL;
        if (!back) st = error_status();
        for (int64_t q = 0; back && q < per; q++) p[q] = (uint8_t)lrintf(fminf(fmaxf(back->data[q], 0.0f), 1.0f) * 255.0f);
        image_free(small);
        image_free(back);
    }
    image_free(im);
    return st;
}

status classify_load_image(const classifier *m, const char *path, float *x) {
    int S = m->c.size;
    int64_t per = (int64_t)3 * S * S;
    uint8_t *px = malloc((size_t)per);
    if (!px) return error_set(STATUS_NOMEM, "classifier: out of memory");
    status st = dataset_load_image(path, S, px);
    if (st == STATUS_OK) st = classify_apply_detail(m->c.detail, px, 1, S);
    for (int64_t q = 0; st == STATUS_OK && q < per; q++) x[q] = px[q] * (1.0f / 255);
    free(px);
    return st;
}

/* ---- the attack adapter ---- */

static tensor *attack_logits(void *net, arena *a, tensor *x) { return classify_forward(net, a, x); }

status classify_attack_model(classifier *m, attack_model *am, attack_net *an, int height, int width) {
    if (height < 1 || width < 1) return error_set(STATUS_ARG, "classify_attack_model: images %dx%d", width, height);
    *an = (attack_net){.logits = attack_logits, .net = m, .batch = m->c.kind == CLASSIFY_HEAD ? 8 : 32};
    return attack_model_from_net(am, an, m->c.nclasses, 3, height, width);
}

/* ---- files ---- */

static void join_classes(const classify_config *c, char *out, size_t n) {
    out[0] = 0;
    for (int k = 0; k < c->nclasses; k++) {
        size_t l = strlen(out);
        snprintf(out + l, n - l, "%s%s", k ? "," : "", c->classes[k]);
    }
}

int classify_meta(const classifier *m, classify_meta_buf *mb) {
    const classify_config *c = &m->c;
    join_classes(c, mb->classes, sizeof mb->classes);
    snprintf(mb->nclasses, sizeof mb->nclasses, "%d", c->nclasses);
    snprintf(mb->size, sizeof mb->size, "%d", c->size);
    snprintf(mb->detail, sizeof mb->detail, "%d", c->detail);
    snprintf(mb->hidden, sizeof mb->hidden, "%d", c->hidden);
    snprintf(mb->width, sizeof mb->width, "%d", c->width);
    snprintf(mb->seed, sizeof mb->seed, "%llu", (unsigned long long)c->seed);
    const char *kv[] = {"format", CLASSIFY_FORMAT, "version", CLASSIFY_VERSION,
                        "kind", c->kind == CLASSIFY_HEAD ? "head" : "cnn", "classes", mb->classes,
                        "nclasses", mb->nclasses, "size", mb->size, "detail", mb->detail, "hidden", mb->hidden, "width", mb->width,
                        "net", c->net, "layer", c->layer, "net_sha256", c->net_sha256,
                        "fine_tune", c->fine_tune ? "1" : "0", "seed", mb->seed};
    int n = (int)(sizeof kv / sizeof kv[0]);
    memcpy(mb->kv, kv, sizeof kv);
    return n / 2;
}

status classify_save(const classifier *m, const char *path) {
    classify_meta_buf mb;
    int nm = classify_meta(m, &mb);
    return safetensors_save(path, m->all.names, m->all.tensors, m->all.n, mb.kv, nm);
}

status classify_config_from_file(const safetensors *f, const char *path, classify_config *c) {
    const char *fmt = safetensors_metadata(f, "format"), *ver = safetensors_metadata(f, "version");
    const char *kind = safetensors_metadata(f, "kind"), *seed = safetensors_metadata(f, "seed");
    if (fmt && !strcmp(fmt, "atelier-checkpoint") && safetensors_metadata(f, "model_format")) {   /* a training checkpoint */
        fmt = safetensors_metadata(f, "model_format");
        ver = safetensors_metadata(f, "model_version");
    }
    if (!fmt || strcmp(fmt, CLASSIFY_FORMAT) != 0)
        return error_set(STATUS_FORMAT, "%s: not an Atelier classifier (format %s%.40s%s)", path, fmt ? "\"" : "missing",
                         fmt ? fmt : "", fmt ? "\"" : "");
    if (!ver || strcmp(ver, CLASSIFY_VERSION) != 0)
        return error_set(STATUS_FORMAT, "%s: classifier version %.20s is not supported (only " CLASSIFY_VERSION ")", path,
                         ver ? ver : "(missing)");
    *c = classify_defaults(CLASSIFY_HEAD);
    char classes[CLASSIFY_MAX_CLASSES * CLASSIFY_NAME_MAX];
    int ft = 0;
    bool ok = kind && (!strcmp(kind, "head") || !strcmp(kind, "cnn")) && seed &&
              safetensors_metadata_int(f, "nclasses", 2, CLASSIFY_MAX_CLASSES, &c->nclasses) && safetensors_metadata_int(f, "size", 8, 1024, &c->size) &&
              safetensors_metadata_int(f, "detail", 0, 1024, &c->detail) &&
              safetensors_metadata_int(f, "hidden", 0, 4096, &c->hidden) && safetensors_metadata_int(f, "width", 1, 256, &c->width) &&
              safetensors_metadata_str(f, "net", c->net, sizeof c->net) && safetensors_metadata_str(f, "layer", c->layer, sizeof c->layer) &&
              safetensors_metadata_str(f, "net_sha256", c->net_sha256, sizeof c->net_sha256) && safetensors_metadata_int(f, "fine_tune", 0, 1, &ft) &&
              safetensors_metadata_str(f, "classes", classes, sizeof classes);
    if (!ok) return error_set(STATUS_FORMAT, "%s: the classifier's metadata is incomplete", path);
    c->kind = !strcmp(kind, "head") ? CLASSIFY_HEAD : CLASSIFY_CNN;
    c->fine_tune = ft != 0;
    c->seed = strtoull(seed, NULL, 10);
    int k = 0;
    for (char *s = classes, *e; k < CLASSIFY_MAX_CLASSES; s = e + 1) {
        e = strchr(s, ',');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        if (l >= CLASSIFY_NAME_MAX) break;
        memcpy(c->classes[k], s, l);
        c->classes[k++][l] = 0;
        if (!e) break;
    }
    if (k != c->nclasses) return error_set(STATUS_FORMAT, "%s: %d class names for %d classes", path, k, c->nclasses);
    return check_config(c);
}

classifier *classify_load(const char *path, const char *models_dir) {
    safetensors *f = safetensors_open(path);
    if (!f) return NULL;
    classify_config c;
    classifier *m = NULL;
    if (classify_config_from_file(f, path, &c) == STATUS_OK && (m = classify_new(&c, models_dir))) {
        for (int i = 0; i < m->all.n; i++)
            if (safetensors_load_into(f, m->all.names[i], m->all.tensors[i]) != STATUS_OK) {
                classify_free(m);
                m = NULL;
                break;
            }
    }
    safetensors_close(f);
    return m;
}
