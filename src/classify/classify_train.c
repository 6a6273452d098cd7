/* classify_train.c: training a classifier (classify.h): the held-out split, the batches of
 * each step as a pure function of (seed, step), the feature cache, Adam on the
 * cross-entropy, PGD adversarial training, and checkpoints that resume exactly.
 *
 * A checkpoint (checkpoint_save_meta) holds the trainable tensors, Adam's state, the model's
 * metadata (as a model file has it, its format under "model_format"), the training settings
 * and the per-class image counts, which must match the data given on resume. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/featnet.h"
#include "atelier/ops.h"
#include "atelier/optim.h"
#include "atelier/rng.h"
#include "atelier/safetensors.h"
#include "classify_internal.h"

#define TRAIN_FORMAT "atelier-classifier-train"
#define CACHE_CHUNK 8

struct classify_trainer {
    classifier *m;
    classify_train_config tc;
    const dataset *data[CLASSIFY_MAX_CLASSES];   /* borrowed */
    int K, S;                          /* classes; the datasets' image side */
    int ntrain, nval;
    int *tr_cls, *tr_img, *va_cls, *va_img;   /* (ntrain), (nval) */
    int first[CLASSIFY_MAX_CLASSES + 1];  /* image (k, i) is number first[k] + i overall */
    bool cached;
    float *cache;                      /* (all images, F) pooled features, or NULL */
    arena *state, *step;
    optim *opt;
    int64_t steps;
};

classify_train_config classify_train_defaults(void) {
    return (classify_train_config){.batch = 32, .lr = 1e-3f, .val = 0.2f, .seed = 1, .adv_steps = 7, .adv_fraction = 0.5f};
}

static status check_train_config(const classify_train_config *c) {
    if (c->batch < 1 || c->batch > 1024) return error_set(STATUS_ARG, "--batch %d: want 1 .. 1024", c->batch);
    if (!(c->lr > 0 && c->lr < 1)) return error_set(STATUS_ARG, "--lr %g: want (0, 1)", c->lr);
    if (!(c->val >= 0 && c->val <= 0.9f)) return error_set(STATUS_ARG, "--val %g: want 0 .. 0.9", c->val);
    if (!(c->adv_eps >= 0 && c->adv_eps <= 1)) return error_set(STATUS_ARG, "--eps %g: want 0 .. 1", c->adv_eps);
    if (c->adv_eps > 0 && (c->adv_steps < 1 || c->adv_steps > 1000))
        return error_set(STATUS_ARG, "--steps %d: want 1 .. 1000", c->adv_steps);
    if (!(c->adv_step_size >= 0 && c->adv_step_size <= 1)) return error_set(STATUS_ARG, "--step-size %g: want 0 .. 1", c->adv_step_size);
    if (!(c->adv_fraction > 0 && c->adv_fraction <= 1)) return error_set(STATUS_ARG, "--adv-fraction %g: want (0, 1]", c->adv_fraction);
    return STATUS_OK;
}

static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A permutation of 0 .. n-1 from a seed (Fisher-Yates). */
static void permute(int *p, int n, uint64_t seed) {
    rng r = rng_new(seed);
    for (int i = 0; i < n; i++) p[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rng_u64(&r) % (uint64_t)(i + 1)), t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* Per class: a permutation of its images from the seed; the first round(val n) are held
 * out (at least one image of each class is trained on), kept in name order. */
static status split(classify_trainer *t) {
    int total = 0;
    for (int k = 0; k < t->K; k++) total += t->data[k]->n;
    t->tr_cls = calloc((size_t)total, sizeof(int));
    t->tr_img = calloc((size_t)total, sizeof(int));
    t->va_cls = calloc((size_t)total, sizeof(int));
    t->va_img = calloc((size_t)total, sizeof(int));
    int *p = calloc((size_t)total, sizeof(int));
    if (!t->tr_cls || !t->tr_img || !t->va_cls || !t->va_img || !p) { free(p); return error_set(STATUS_NOMEM, "classifier training: out of memory"); }
    for (int k = 0; k < t->K; k++) {
        int n = t->data[k]->n, nv = (int)floor(t->tc.val * n + 0.5);
        if (nv > n - 1) nv = n - 1;
        t->first[k + 1] = t->first[k] + n;
        permute(p, n, mix64(t->tc.seed ^ mix64(0x5eed0000u + (uint64_t)k)));
        qsort(p, (size_t)nv, sizeof(int), cmp_int);
        qsort(p + nv, (size_t)(n - nv), sizeof(int), cmp_int);
        for (int i = 0; i < nv; i++) { t->va_cls[t->nval] = k; t->va_img[t->nval++] = p[i]; }
        for (int i = nv; i < n; i++) { t->tr_cls[t->ntrain] = k; t->tr_img[t->ntrain++] = p[i]; }
    }
    free(p);
    return STATUS_OK;
}

static classify_trainer *trainer_alloc(classifier *m, const classify_train_config *tc, const dataset *const *data) {
    if (!m) return NULL;   /* classify_new failed: its reason stands */
    if (check_train_config(tc) != STATUS_OK) { classify_free(m); return NULL; }
    classify_trainer *t = calloc(1, sizeof *t);
    if (!t) { classify_free(m); error_set(STATUS_NOMEM, "classifier training: out of memory"); return NULL; }
    t->m = m;
    t->tc = *tc;
    t->K = m->c.nclasses;
    for (int k = 0; k < t->K; k++) {
        t->data[k] = data[k];
        if (!data[k] || data[k]->n < 1) {
            error_set(STATUS_ARG, "class %s has no images", m->c.classes[k]);
            goto fail;
        }
        if (k && data[k]->size != data[0]->size) {
            error_set(STATUS_ARG, "classes %s and %s have images of %d and %d px", m->c.classes[0], m->c.classes[k], data[0]->size, data[k]->size);
            goto fail;
        }
    }
    t->S = data[0]->size;
    if (split(t) != STATUS_OK) goto fail;
    t->cached = m->c.kind == CLASSIFY_HEAD && !m->c.fine_tune && !(tc->adv_eps > 0) && !tc->no_cache;
    if (!(t->state = arena_new(1 << 20)) || !(t->step = arena_new(16 << 20))) goto fail;
    model_params *p = classify_params(m);
    if (!(t->opt = optim_adam(t->state, p->tensors, p->n, adam_defaults(tc->lr)))) goto fail;
    return t;
fail:
    classify_trainer_free(t);
    return NULL;
}

classify_trainer *classify_trainer_new(classifier *m, const classify_train_config *tc, const dataset *const *data) {
    return trainer_alloc(m, tc, data);
}

void classify_trainer_free(classify_trainer *t) {
    if (!t) return;
    optim_free(t->opt);
    arena_free(t->state);
    arena_free(t->step);
    classify_free(t->m);
    free(t->tr_cls); free(t->tr_img); free(t->va_cls); free(t->va_img);
    free(t->cache);
    free(t);
}

int64_t classify_trainer_steps(const classify_trainer *t) { return t->steps; }
int classify_trainer_steps_per_epoch(const classify_trainer *t) { return (t->ntrain + t->tc.batch - 1) / t->tc.batch; }
int classify_trainer_count(const classify_trainer *t, bool held_out) { return held_out ? t->nval : t->ntrain; }
bool classify_trainer_cached(const classify_trainer *t) { return t->cached; }
void classify_trainer_heldout(const classify_trainer *t, int i, int *cls, int *img) {
    *cls = t->va_cls[i];
    *img = t->va_img[i];
}
const classify_train_config *classify_trainer_config(const classify_trainer *t) { return &t->tc; }
classifier *classify_trainer_model(classify_trainer *t) { return t->m; }

/* ---- batches ---- */

/* Images (k[i], i[i]) as (B, 3, S, S) in [0, 1], mirrored where flip[i]. */
static tensor *images(classify_trainer *t, arena *a, const int *cls, const int *img, const bool *flip, int b) {
    int S = t->S;
    tensor *x = tensor_new(a, 4, (int[]){b, 3, S, S});
    if (!x) return NULL;
    int64_t plane = (int64_t)S * S;
    for (int j = 0; j < b; j++) {
        const uint8_t *src = t->data[cls[j]]->pixels + (int64_t)img[j] * 3 * plane;
        float *dst = x->data + (int64_t)j * 3 * plane;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < S; y++)
                for (int q = 0; q < S; q++)
                    dst[(c * S + y) * S + q] = src[(c * S + y) * S + (flip && flip[j] ? S - 1 - q : q)] * (1.0f / 255);
    }
    return x;
}

/* The training images of step s: batch s mod spe of the epoch's permutation. */
static int draw(classify_trainer *t, int64_t s, int *cls, int *img, bool *flip, int *perm) {
    int spe = classify_trainer_steps_per_epoch(t), B = t->tc.batch;
    int64_t epoch = s / spe;
    int j = (int)(s % spe), start = j * B, b = t->ntrain - start < B ? t->ntrain - start : B;
    permute(perm, t->ntrain, mix64(t->tc.seed ^ mix64((uint64_t)epoch + 0x9000)));
    for (int i = 0; i < b; i++) {
        int q = perm[start + i];
        cls[i] = t->tr_cls[q];
        img[i] = t->tr_img[q];
        flip[i] = !t->tc.no_flip && !t->cached && (mix64(t->tc.seed ^ mix64((uint64_t)s * 4096 + (uint64_t)i)) & 1);
    }
    return b;
}

/* ---- the feature cache ---- */

status classify_trainer_prepare(classify_trainer *t, void (*callback)(int, int, void *), void *user) {
    if (!t->cached || t->cache) return STATUS_OK;
    int total = t->first[t->K], F = t->m->nfeat;
    if (!(t->cache = malloc(sizeof(float) * (size_t)total * (size_t)F))) return error_set(STATUS_NOMEM, "classifier: out of memory for the feature cache");
    bool was = autograd_set(false);
    status st = STATUS_OK;
    int cls[CACHE_CHUNK], img[CACHE_CHUNK];
    for (int g = 0; st == STATUS_OK && g < total; g += CACHE_CHUNK) {
        int b = total - g < CACHE_CHUNK ? total - g : CACHE_CHUNK;
        for (int j = 0; j < b; j++) {
            int k = 0;
            while (g + j >= t->first[k + 1]) k++;
            cls[j] = k;
            img[j] = g + j - t->first[k];
        }
        tensor *f = classify_features(t->m, t->step, images(t, t->step, cls, img, NULL, b));
        if (!f) st = error_status();
        else memcpy(t->cache + (int64_t)g * F, f->data, sizeof(float) * (size_t)b * F);
        arena_reset(t->step);
        if (callback) callback(g + b, total, user);
    }
    autograd_set(was);
    if (st != STATUS_OK) { free(t->cache); t->cache = NULL; }
    return st;
}

static tensor *cached_features(classify_trainer *t, arena *a, const int *cls, const int *img, int b) {
    int F = t->m->nfeat;
    tensor *f = tensor_new(a, 2, (int[]){b, F});
    if (!f) return NULL;
    for (int j = 0; j < b; j++) memcpy(f->data + (int64_t)j * F, t->cache + (int64_t)(t->first[cls[j]] + img[j]) * F, sizeof(float) * (size_t)F);
    return f;
}

/* ---- the loss ---- */

/* Mean cross-entropy of logits z (B, K) and labels: -mean_i log softmax(z_i)[y_i], with the
 * row maximum (a constant) subtracted first for range. Accuracy of the batch in *acc. */
static tensor *cross_entropy(arena *a, tensor *z, const int *labels, double *acc) {
    if (!z) return NULL;
    int b = z->shape[0], K = z->shape[1], right = 0;
    tensor *mx = tensor_new(a, 2, (int[]){b, 1}), *onehot = tensor_new(a, 2, (int[]){b, K});
    if (!mx || !onehot) return NULL;
    for (int i = 0; i < b; i++) {
        int best = 0;
        for (int j = 1; j < K; j++) best = z->data[i * K + j] > z->data[i * K + best] ? j : best;
        mx->data[i] = z->data[i * K + best];
        right += best == labels[i];
        onehot->data[i * K + labels[i]] = 1.0f;
    }
    if (acc) *acc = (double)right / b;
    tensor *zs = op_sub(a, z, mx);
    tensor *logp = op_sub(a, zs, op_log(a, op_sum(a, op_exp(a, zs), 1 << 1, true)));
    return op_mul_scalar(a, op_sum(a, op_mul(a, logp, onehot), -1, false), -1.0f / b);
}

/* The first round(fraction B) images of x replaced by PGD examples against the model as it
 * is (Madry et al. 2018); the random start comes from (seed, step). */
static status adversarial(classify_trainer *t, tensor *x, const int *labels) {
    int b = x->shape[0], na = (int)floor(t->tc.adv_fraction * b + 0.5);
    if (na < 1) return STATUS_OK;
    attack_model am;
    attack_net an;
    if (classify_attack_model(t->m, &am, &an, t->S, t->S) != STATUS_OK) return error_status();
    attack_opts o = attack_defaults();
    o.method = ATTACK_METHOD_PGD;
    o.norm = ATTACK_NORM_LINF;
    o.eps = t->tc.adv_eps;
    o.steps = t->tc.adv_steps;
    o.step_size = t->tc.adv_step_size;
    o.random_start = true;
    o.seed = mix64(t->tc.seed ^ mix64((uint64_t)t->steps + 0xadadadULL));
    size_t bytes = sizeof(float) * (size_t)na * 3 * t->S * t->S;
    float *adv = malloc(bytes);
    status st = adv ? attack_pgd(&am, x->data, labels, na, &o, adv) : error_set(STATUS_NOMEM, "classifier: out of memory");
    if (st == STATUS_OK) memcpy(x->data, adv, bytes);
    free(adv);
    attack_net_free(&an);
    optim_zero_grad(t->opt);   /* the attack's backward reached the parameters */
    return st;
}

status classify_trainer_step(classify_trainer *t, classify_train_stats *out) {
    int B = t->tc.batch;
    int *cls = arena_alloc(t->step, sizeof(int) * (size_t)B), *img = arena_alloc(t->step, sizeof(int) * (size_t)B);
    int *perm = arena_alloc(t->step, sizeof(int) * (size_t)t->ntrain);
    bool *flip = arena_alloc(t->step, sizeof(bool) * (size_t)B);
    if (!cls || !img || !perm || !flip) return error_status();
    if (t->cached && !t->cache && classify_trainer_prepare(t, NULL, NULL) != STATUS_OK) return error_status();
    int b = draw(t, t->steps, cls, img, flip, perm);
    bool was = autograd_set(true);
    status st = STATUS_OK;
    tensor *z;
    if (t->cached) z = classify_head_forward(t->m, t->step, cached_features(t, t->step, cls, img, b));
    else {
        tensor *x = images(t, t->step, cls, img, flip, b);
        if (x && t->tc.adv_eps > 0) st = adversarial(t, x, cls);
        z = st == STATUS_OK && x ? classify_forward(t->m, t->step, x) : NULL;
    }
    optim_zero_grad(t->opt);
    double acc = 0;
    tensor *loss = st == STATUS_OK ? cross_entropy(t->step, z, cls, &acc) : NULL;
    if (st == STATUS_OK) st = loss ? tensor_backward(loss) : error_status();
    if (st == STATUS_OK && !isfinite(loss->data[0]))
        st = error_set(STATUS_ARG, "classifier training: the loss is %g at step %lld (lower --lr)", loss->data[0], (long long)t->steps);
    if (st == STATUS_OK && out) *out = (classify_train_stats){loss->data[0], acc};
    if (st == STATUS_OK) st = optim_step(t->opt);
    if (st == STATUS_OK) t->steps++;
    autograd_set(was);
    arena_reset(t->step);
    return st;
}

status classify_trainer_eval(classify_trainer *t, int64_t *confusion, double *acc) {
    int K = t->K, chunk = t->cached ? 256 : (t->m->c.kind == CLASSIFY_HEAD ? 8 : 64), right = 0;
    memset(confusion, 0, sizeof(int64_t) * (size_t)K * K);
    if (t->cached && !t->cache && classify_trainer_prepare(t, NULL, NULL) != STATUS_OK) return error_status();
    bool was = autograd_set(false);
    status st = STATUS_OK;
    for (int g = 0; g < t->nval; g += chunk) {
        int b = t->nval - g < chunk ? t->nval - g : chunk;
        const int *cls = t->va_cls + g, *img = t->va_img + g;
        tensor *z = t->cached ? classify_head_forward(t->m, t->step, cached_features(t, t->step, cls, img, b))
                              : classify_forward(t->m, t->step, images(t, t->step, cls, img, NULL, b));
        if (!z) { st = error_status(); break; }
        for (int i = 0; i < b; i++) {
            int best = 0;
            for (int j = 1; j < K; j++) best = z->data[i * K + j] > z->data[i * K + best] ? j : best;
            confusion[cls[i] * K + best]++;
            right += best == cls[i];
        }
        arena_reset(t->step);
    }
    autograd_set(was);
    arena_reset(t->step);
    if (acc) *acc = t->nval ? (double)right / t->nval : NAN;
    return st;
}

/* ---- checkpoints ---- */

typedef struct train_meta {
    const char *kv[2 * 48];
    char buf[24][CLASSIFY_MAX_CLASSES * 12];
    int n, nb;
} train_meta;

static void put(train_meta *m, const char *k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(train_meta *m, const char *k, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->buf[m->nb], sizeof m->buf[0], fmt, ap);
    va_end(ap);
    m->kv[2 * m->n] = k;
    m->kv[2 * m->n + 1] = m->buf[m->nb++];
    m->n++;
}

status classify_trainer_save(classify_trainer *t, const char *path) {
    classify_meta_buf mb;
    int nm = classify_meta(t->m, &mb);
    train_meta *m = calloc(1, sizeof *m);
    if (!m) return error_set(STATUS_NOMEM, "classifier: out of memory saving");
    /* the model's pairs, its format and version renamed (the checkpoint has its own) */
    for (int i = 0; i < nm; i++) {
        const char *k = mb.kv[2 * i];
        m->kv[2 * m->n] = !strcmp(k, "format") ? "model_format" : !strcmp(k, "version") ? "model_version" : k;
        m->kv[2 * m->n + 1] = mb.kv[2 * i + 1];
        m->n++;
    }
    const classify_train_config *c = &t->tc;
    put(m, "trainer", "%s", TRAIN_FORMAT);
    put(m, "batch", "%d", c->batch);
    put(m, "lr", "%.9g", c->lr);
    put(m, "val", "%.9g", c->val);
    put(m, "train_seed", "%llu", (unsigned long long)c->seed);
    put(m, "no_flip", "%d", c->no_flip ? 1 : 0);
    put(m, "no_cache", "%d", c->no_cache ? 1 : 0);
    put(m, "adv_eps", "%.9g", c->adv_eps);
    put(m, "adv_steps", "%d", c->adv_steps);
    put(m, "adv_step_size", "%.9g", c->adv_step_size);
    put(m, "adv_fraction", "%.9g", c->adv_fraction);
    char counts[CLASSIFY_MAX_CLASSES * 12] = "";
    for (int k = 0; k < t->K; k++) snprintf(counts + strlen(counts), sizeof counts - strlen(counts), "%s%d", k ? "," : "", t->data[k]->n);
    put(m, "counts", "%s", counts);
    put(m, "image_size", "%d", t->S);
    model_params *p = classify_params(t->m);
    status s = checkpoint_save_meta(path, p->names, p->tensors, p->n, t->opt, t->steps, m->kv, m->n);
    free(m);
    return s;
}

static bool mfloat(const safetensors *f, const char *k, float *out) {
    const char *v = safetensors_metadata(f, k);
    char *e;
    float x = v ? strtof(v, &e) : 0;
    if (!v || !*v || *e || !isfinite(x)) return false;
    *out = x;
    return true;
}

static bool mint(const safetensors *f, const char *k, int *out) {
    const char *v = safetensors_metadata(f, k);
    char *e;
    long x = v ? strtol(v, &e, 10) : 0;
    if (!v || !*v || *e || x < 0 || x > 1 << 30) return false;
    *out = (int)x;
    return true;
}

classify_trainer *classify_trainer_load(const char *path, const char *models_dir, const dataset *const *data, int ndata) {
    safetensors *f = safetensors_open(path);
    if (!f) return NULL;
    classify_config mc;
    classify_train_config tc = classify_train_defaults();
    const char *tr = safetensors_metadata(f, "trainer"), *seed = safetensors_metadata(f, "train_seed");
    const char *counts = safetensors_metadata(f, "counts");
    int nf = 0, nc = 0, size = 0;
    if (!tr || strcmp(tr, TRAIN_FORMAT) != 0) {
        safetensors_close(f);
        error_set(STATUS_FORMAT, "%s: not a classifier training checkpoint", path);
        return NULL;
    }
    bool ok = classify_config_from_file(f, path, &mc) == STATUS_OK;
    if (ok && !(mint(f, "batch", &tc.batch) && mfloat(f, "lr", &tc.lr) && mfloat(f, "val", &tc.val) && seed && counts &&
                mint(f, "no_flip", &nf) && mint(f, "no_cache", &nc) && mfloat(f, "adv_eps", &tc.adv_eps) &&
                mint(f, "adv_steps", &tc.adv_steps) && mfloat(f, "adv_step_size", &tc.adv_step_size) &&
                mfloat(f, "adv_fraction", &tc.adv_fraction) && mint(f, "image_size", &size))) {
        error_set(STATUS_FORMAT, "%s: the checkpoint's settings are incomplete", path);
        ok = false;
    }
    char want[CLASSIFY_MAX_CLASSES * 12] = "";
    for (int k = 0; ok && k < ndata && data[k]; k++) snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", k ? "," : "", data[k]->n);
    if (ok && (ndata != mc.nclasses || strcmp(want, counts) != 0 || (ndata && data[0] && data[0]->size != size))) {
        error_set(STATUS_ARG, "%s was trained on %d classes of %s images at %d px; the data given has %d classes of %s at %d px",
                  path, mc.nclasses, counts, size, ndata, want, ndata && data[0] ? data[0]->size : 0);
        ok = false;
    }
    if (ok) {
        tc.seed = strtoull(seed, NULL, 10);
        tc.no_flip = nf != 0;
        tc.no_cache = nc != 0;
    }
    safetensors_close(f);
    classifier *m = ok ? classify_new(&mc, models_dir) : NULL;
    classify_trainer *t = m ? trainer_alloc(m, &tc, data) : NULL;
    if (!t) return NULL;
    model_params *p = classify_params(t->m);
    if (checkpoint_load(path, p->names, p->tensors, p->n, t->opt, &t->steps) != STATUS_OK) {
        classify_trainer_free(t);
        return NULL;
    }
    return t;
}
