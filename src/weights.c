/* weights.c: a model's parameters from a .pth or .safetensors file (see weights.h).
 *
 * Two passes over the model's names: the first resolves each name (plain, then under the
 * prefixes) and checks its shape and dtype, the second copies. The second cannot fail on
 * the file's account (both readers validate everything at open), which is what makes a
 * load all or nothing without holding a second copy of the weights.
 */
#include "atelier/weights.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/pth.h"
#include "atelier/safetensors.h"

#define WEIGHTS_MAX_NAME 1100
#define WEIGHTS_SHAPE_BUF 200

static const char *const g_prefixes[] = {"", "state_dict.", "model.", "module."};
#define NPREFIXES (int)(sizeof g_prefixes / sizeof g_prefixes[0])

/* The open file: exactly one of the two. */
typedef struct source {
    pth_file *pth;
    safetensors *st;
} source;

static int source_count(const source *s) {
    return s->pth ? pth_count(s->pth) : safetensors_count(s->st);
}

static int source_shape(const source *s, const char *name, int64_t shape[8]) {
    return s->pth ? pth_shape(s->pth, name, shape) : safetensors_shape(s->st, name, shape);
}

static const char *source_dtype(const source *s, const char *name) {
    return s->pth ? pth_dtype(s->pth, name) : safetensors_dtype(s->st, name);
}

static status source_load(const source *s, const char *name, tensor *dst) {
    return s->pth ? pth_load_into(s->pth, name, dst) : safetensors_load_into(s->st, name, dst);
}

/* A zip archive ("PK\3\4") or a pickle (PROTO, 0x80) is a PyTorch checkpoint. */
static status source_open(source *s, const char *path) {
    unsigned char head[4] = {0};
    FILE *fp = fopen(path, "rb");
    if (!fp) return error_set(STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t n = fread(head, 1, sizeof head, fp);
    fclose(fp);
    if ((n == 4 && memcmp(head, "PK\3\4", 4) == 0) || (n >= 1 && head[0] == 0x80)) s->pth = pth_open(path);
    else s->st = safetensors_open(path);
    return s->pth || s->st ? STATUS_OK : error_status();
}

static void source_close(source *s) {
    pth_close(s->pth);
    if (s->st) safetensors_close(s->st);
}

/* The first of name, "state_dict." name, ... present in the file, into full. */
static bool resolve(const source *s, const char *name, char full[WEIGHTS_MAX_NAME]) {
    int64_t shape[8];
    for (int i = 0; i < NPREFIXES; i++) {
        int k = snprintf(full, WEIGHTS_MAX_NAME, "%s%s", g_prefixes[i], name);
        if (k > 0 && k < WEIGHTS_MAX_NAME && source_shape(s, full, shape) >= 0) return true;
    }
    return false;
}

static const char *shape_str64(int ndim, const int64_t *shape, char buf[WEIGHTS_SHAPE_BUF]) {
    int len = snprintf(buf, WEIGHTS_SHAPE_BUF, "(");
    for (int i = 0; i < ndim; i++)
        len += snprintf(buf + len, (size_t)(WEIGHTS_SHAPE_BUF - len), i ? ", %" PRId64 : "%" PRId64, shape[i]);
    snprintf(buf + len, (size_t)(WEIGHTS_SHAPE_BUF - len), ")");
    return buf;
}

/* The file's tensor `full` fits the model's tensor t: same shape, a dtype we convert. */
static status check_one(const source *s, const char *path, const char *full, const tensor *t) {
    int64_t shape[8], want[TENSOR_MAX_DIMS];
    char a[WEIGHTS_SHAPE_BUF], b[WEIGHTS_SHAPE_BUF];
    int ndim = source_shape(s, full, shape);
    bool same = ndim == t->ndim;
    for (int d = 0; d < t->ndim; d++) {
        want[d] = t->shape[d];
        same = same && shape[d] == want[d];
    }
    if (!same)
        return error_set(STATUS_SHAPE, "%s: %.80s: file has %s, model expects %s", path, full,
                         shape_str64(ndim, shape, a), shape_str64(t->ndim, want, b));
    const char *dt = source_dtype(s, full);
    if (s->st && strcmp(dt, "F32") != 0 && strcmp(dt, "F16") != 0 && strcmp(dt, "BF16") != 0)
        return error_set(STATUS_FORMAT, "%s: %.80s has dtype %s, which Atelier cannot read", path, full, dt);
    return STATUS_OK;
}

/* Pass 1: every name found and fitting. full[i] receives the file's name for p's tensor i. */
static status check_all(const source *s, const model_params *p, const char *path, char (*full)[WEIGHTS_MAX_NAME]) {
    for (int i = 0; i < p->n; i++) {
        if (!p->tensors[i] || !p->tensors[i]->data)
            return error_set(STATUS_ARG, "weights_load: model tensor \"%.80s\" is missing", p->names[i]);
        if (!resolve(s, p->names[i], full[i]))
            return error_set(STATUS_FORMAT, "%s: no tensor \"%.80s\" (tried the prefixes \"\", \"state_dict.\", "
                             "\"model.\", \"module.\")", path, p->names[i]);
        if (check_one(s, path, full[i], p->tensors[i]) != STATUS_OK) return error_status();
    }
    return STATUS_OK;
}

status weights_load(const model_params *p, const char *path, weights_load_opts *o) {
    if (o) o->loaded = o->unused = 0;
    source s = {0};
    if (source_open(&s, path) != STATUS_OK) return error_status();
    char (*full)[WEIGHTS_MAX_NAME] = malloc(sizeof *full * ((size_t)p->n + 1));
    status st = full ? check_all(&s, p, path, full) : error_set(STATUS_NOMEM, "%s: out of memory", path);
    for (int i = 0; st == STATUS_OK && i < p->n; i++) st = source_load(&s, full[i], p->tensors[i]);
    if (st == STATUS_OK && o) {
        o->loaded = p->n;
        o->unused = source_count(&s) > p->n ? source_count(&s) - p->n : 0;
    }
    free(full);
    source_close(&s);
    return st;
}
