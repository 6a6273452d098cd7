/* safetensors.c: reading and writing the safetensors format (see safetensors.h).
 *
 * A file is read whole and validated once at open: header length, JSON, every entry's
 * dtype, shape and offsets, and that no two entries overlap. After that, lookups and
 * conversions cannot fail on the file's account. The layout, after
 * huggingface/safetensors:
 *
 *   [8 bytes: N, little-endian u64][N bytes: JSON header][data buffer]
 *   header: {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...,
 *            "__metadata__": {"key": "value", ...}}
 *
 * Offsets are relative to the data buffer; all values are little-endian.
 */
#include "atelier/safetensors.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "json.h"

#define ST_MAX_HEADER ((uint64_t)100 << 20)  /* as the reference implementation's limit */
#define ST_MAX_DIMS 8
#define ST_SHAPE_BUF 200                     /* "(" + 8 * (20 digits + ", ") + ")" */

typedef struct st_entry {
    const char *name;       /* points into the parsed header */
    const char *dtype;
    int dtype_size;         /* bytes per element; 0 for a dtype we do not know */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t begin, end;    /* [begin, end) in the data buffer */
} st_entry;

struct safetensors {
    char *what;                  /* the path, or the caller's name for memory bytes */
    unsigned char *bytes;        /* the whole file */
    size_t len;
    const unsigned char *data;   /* the data buffer, after the header */
    uint64_t data_len;
    json_value *header;
    const json_value *meta;      /* the __metadata__ object, or NULL */
    st_entry *entries;           /* (n) in file order */
    st_entry **by_name;          /* (n) sorted by name, for lookups */
    int n;
};

/* Known dtypes and their sizes. Only the float ones convert; the others are listed so
 * that a file holding them still opens and their sizes are checked. */
static const struct { const char *name; int size; } g_dtypes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
    {"I8", 1}, {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1}, {"BOOL", 1},
    {"F8_E4M3", 1}, {"F8_E5M2", 1},
};

static int dtype_size(const char *dtype) {
    for (size_t i = 0; i < sizeof g_dtypes / sizeof g_dtypes[0]; i++)
        if (strcmp(g_dtypes[i].name, dtype) == 0) return g_dtypes[i].size;
    return 0;
}

static bool dtype_converts(const char *dtype) {
    return strcmp(dtype, "F32") == 0 || strcmp(dtype, "F16") == 0 || strcmp(dtype, "BF16") == 0;
}

/* A dtype is an upper-case identifier ("F32", "F8_E4M3"); anything else is malformed,
 * while a well-formed name we do not know is listed but cannot be read. */
static bool dtype_well_formed(const json_value *v) {
    if (!v || v->type != JSON_STRING || v->length == 0 || v->length > 15) return false;
    for (size_t i = 0; i < v->length; i++) {
        char c = v->string[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return true;
}

static const char *shape_str64(int ndim, const int64_t *shape, char buf[ST_SHAPE_BUF]) {
    int len = snprintf(buf, ST_SHAPE_BUF, "(");
    for (int i = 0; i < ndim; i++)
        len += snprintf(buf + len, (size_t)(ST_SHAPE_BUF - len), i ? ", %" PRId64 : "%" PRId64, shape[i]);
    snprintf(buf + len, (size_t)(ST_SHAPE_BUF - len), ")");
    return buf;
}

static uint64_t read_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* ---- validation at open ---- */

/* A non-negative JSON integer, or false. */
static bool get_uint(const json_value *v, uint64_t *out) {
    if (!v || v->type != JSON_NUMBER || !v->is_int || v->integer < 0) return false;
    *out = (uint64_t)v->integer;
    return true;
}

static status parse_shape(const safetensors *f, const char *name, const json_value *v, st_entry *e) {
    if (!v) return error_set(STATUS_FORMAT, "%s: tensor \"%.80s\" has no \"shape\"", f->what, name);
    if (v->type != JSON_ARRAY)
        return error_set(STATUS_FORMAT, "%s: tensor \"%.80s\": \"shape\" is a %s, not an array",
                         f->what, name, json_type_name(v->type));
    if (v->count > ST_MAX_DIMS)
        return error_set(STATUS_FORMAT, "%s: tensor \"%.80s\" has %d dims, at most %d supported",
                         f->what, name, v->count, ST_MAX_DIMS);
    e->ndim = v->count;
    for (int i = 0; i < v->count; i++) {
        uint64_t d;
        if (!get_uint(&v->items[i], &d))
            return error_set(STATUS_FORMAT, "%s: tensor \"%.80s\": shape[%d] is not a non-negative "
                             "integer", f->what, name, i);
        e->shape[i] = (int64_t)d;
    }
    return STATUS_OK;
}

static status parse_offsets(const safetensors *f, const char *name, const json_value *v, st_entry *e) {
    if (!v) return error_set(STATUS_FORMAT, "%s: tensor \"%.80s\" has no \"data_offsets\"", f->what, name);
    if (v->type != JSON_ARRAY || v->count != 2 || !get_uint(&v->items[0], &e->begin) ||
        !get_uint(&v->items[1], &e->end))
        return error_set(STATUS_FORMAT, "%s: tensor \"%.80s\": \"data_offsets\" is not an array of "
                         "two non-negative integers", f->what, name);
    if (e->end < e->begin)
        return error_set(STATUS_FORMAT, "%s: tensor \"%.80s\": data_offsets end %" PRIu64 " < begin %"
                         PRIu64, f->what, name, e->end, e->begin);
    if (e->end > f->data_len)
        return error_set(STATUS_FORMAT, "%s: tensor \"%.80s\": data_offsets [%" PRIu64 ", %" PRIu64
                         "] out of range (data buffer is %" PRIu64 " bytes)",
                         f->what, name, e->begin, e->end, f->data_len);
    return STATUS_OK;
}

/* The byte size a shape needs, checked against the offsets. Overflow is checked so that a
 * huge shape cannot wrap around to a size that happens to match. */
static status check_size(const safetensors *f, const st_entry *e) {
    char buf[ST_SHAPE_BUF];
    if (e->dtype_size == 0) return STATUS_OK;  /* unknown dtype: size unknown */
    uint64_t bytes = (uint64_t)e->dtype_size;
    bool zero = false, overflow = false;
    for (int i = 0; i < e->ndim; i++) {
        uint64_t d = (uint64_t)e->shape[i];
        if (d == 0) zero = true;
        else if (bytes > UINT64_MAX / d) overflow = true;
        else bytes *= d;
    }
    if (zero) bytes = 0;
    if (!overflow && bytes == e->end - e->begin) return STATUS_OK;
    return error_set(STATUS_FORMAT, "%s: tensor \"%.80s\": %s %s needs %s bytes, data_offsets give %"
                     PRIu64, f->what, e->name, e->dtype, shape_str64(e->ndim, e->shape, buf),
                     overflow ? "more than 2^64" : "a different number of", e->end - e->begin);
}

static status parse_entry(safetensors *f, const char *name, const json_value *v, st_entry *e) {
    if (v->type != JSON_OBJECT)
        return error_set(STATUS_FORMAT, "%s: tensor \"%.80s\" is a %s, not an object", f->what, name,
                         json_type_name(v->type));
    e->name = name;
    const json_value *dt = json_get(v, "dtype");
    if (!dt) return error_set(STATUS_FORMAT, "%s: tensor \"%.80s\" has no \"dtype\"", f->what, name);
    if (!dtype_well_formed(dt))
        return error_set(STATUS_FORMAT, "%s: tensor \"%.80s\" has a malformed dtype (%s%.20s%s)",
                         f->what, name, dt->type == JSON_STRING ? "\"" : "a ",
                         dt->type == JSON_STRING ? dt->string : json_type_name(dt->type),
                         dt->type == JSON_STRING ? "\"" : "");
    e->dtype = dt->string;
    e->dtype_size = dtype_size(e->dtype);
    if (parse_shape(f, name, json_get(v, "shape"), e) != STATUS_OK) return STATUS_FORMAT;
    if (parse_offsets(f, name, json_get(v, "data_offsets"), e) != STATUS_OK) return STATUS_FORMAT;
    return check_size(f, e);
}

static status parse_metadata(safetensors *f, const json_value *v) {
    if (v->type != JSON_OBJECT)
        return error_set(STATUS_FORMAT, "%s: __metadata__ is a %s, not an object", f->what,
                         json_type_name(v->type));
    for (int i = 0; i < v->count; i++)
        if (v->items[i].type != JSON_STRING)
            return error_set(STATUS_FORMAT, "%s: __metadata__ value of \"%.80s\" is a %s, not a string",
                             f->what, v->keys[i], json_type_name(v->items[i].type));
    f->meta = v;
    return STATUS_OK;
}

static int compare_begin(const void *a, const void *b) {
    const st_entry *x = *(st_entry *const *)a, *y = *(st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int compare_name(const void *a, const void *b) {
    return strcmp((*(st_entry *const *)a)->name, (*(st_entry *const *)b)->name);
}

/* Two tensors sharing bytes would alias each other, so they are refused: sorted by begin,
 * each non-empty range must start at or after the end of the previous ones. by_name serves
 * as the scratch array and is then sorted by name for lookups. */
static status check_overlaps(safetensors *f) {
    for (int i = 0; i < f->n; i++) f->by_name[i] = &f->entries[i];
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, compare_begin);
    const st_entry *prev = NULL;
    for (int i = 0; i < f->n; i++) {
        const st_entry *e = f->by_name[i];
        if (e->begin == e->end) continue;
        if (prev && e->begin < prev->end)
            return error_set(STATUS_FORMAT, "%s: tensors \"%.80s\" [%" PRIu64 ", %" PRIu64 ") and \"%.80s\" "
                             "[%" PRIu64 ", %" PRIu64 ") overlap", f->what, prev->name, prev->begin,
                             prev->end, e->name, e->begin, e->end);
        if (!prev || e->end > prev->end) prev = e;
    }
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, compare_name);
    return STATUS_OK;
}

static status parse_header(safetensors *f) {
    const json_value *h = f->header;
    if (h->type != JSON_OBJECT)
        return error_set(STATUS_FORMAT, "%s: header is a JSON %s, not an object", f->what,
                         json_type_name(h->type));
    f->entries = calloc((size_t)h->count + 1, sizeof *f->entries);
    f->by_name = calloc((size_t)h->count + 1, sizeof *f->by_name);
    if (!f->entries || !f->by_name)
        return error_set(STATUS_NOMEM, "%s: out of memory for %d header entries", f->what, h->count);
    for (int i = 0; i < h->count; i++) {
        status s = strcmp(h->keys[i], "__metadata__") == 0
                       ? parse_metadata(f, &h->items[i])
                       : parse_entry(f, h->keys[i], &h->items[i], &f->entries[f->n++]);
        if (s != STATUS_OK) return s;
    }
    return check_overlaps(f);
}

/* Takes ownership of bytes (malloc'ed) whatever happens. */
static safetensors *st_parse(unsigned char *bytes, size_t len, const char *what) {
    safetensors *f = calloc(1, sizeof *f);
    char *name = malloc(strlen(what) + 1);
    if (!f || !name) {
        error_set(STATUS_NOMEM, "%s: out of memory", what);
        free(f); free(name); free(bytes);
        return NULL;
    }
    f->what = strcpy(name, what);
    f->bytes = bytes;
    f->len = len;
    if (len < 8) {
        error_set(STATUS_FORMAT, "%s: file is %zu bytes, too short for a safetensors header", what, len);
        goto fail;
    }
    uint64_t n = read_le64(bytes);
    if (n > ST_MAX_HEADER) {
        error_set(STATUS_FORMAT, "%s: header length %" PRIu64 " is larger than the 100 MB limit", what, n);
        goto fail;
    }
    if (n > len - 8) {
        error_set(STATUS_FORMAT, "%s: header length %" PRIu64 " exceeds the file (%zu bytes)", what, n, len);
        goto fail;
    }
    json_error jerr;
    f->header = json_parse((const char *)bytes + 8, (size_t)n, &jerr);
    if (!f->header) {
        error_set(jerr.status, "%s: header is not valid JSON: %s", what, jerr.msg);
        goto fail;
    }
    f->data = bytes + 8 + n;
    f->data_len = len - 8 - n;
    if (parse_header(f) != STATUS_OK) goto fail;
    return f;
fail:
    safetensors_close(f);
    return NULL;
}

/* ---- opening and lookups ---- */

/* Reads a whole regular file into a malloc'ed buffer. */
static unsigned char *read_file(const char *path, size_t *len) {
    unsigned char *buf = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        error_set(STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        error_set(STATUS_IO, "%s: not a regular file", path);
        goto fail;
    }
    if ((uint64_t)sb.st_size > SIZE_MAX - 1) {
        error_set(STATUS_IO, "%s: file too large to read (%lld bytes)", path, (long long)sb.st_size);
        goto fail;
    }
    *len = (size_t)sb.st_size;
    buf = malloc(*len + 1);  /* + 1: malloc(0) may return NULL */
    if (!buf) {
        error_set(STATUS_NOMEM, "%s: out of memory reading %zu bytes", path, *len);
        goto fail;
    }
    if (fread(buf, 1, *len, fp) != *len) {
        error_set(STATUS_IO, "%s: read failed: %s", path, ferror(fp) ? strerror(errno) : "file shrank");
        goto fail;
    }
    fclose(fp);
    return buf;
fail:
    free(buf);
    fclose(fp);
    return NULL;
}

safetensors *safetensors_open(const char *path) {
    size_t len = 0;
    unsigned char *bytes = read_file(path, &len);
    return bytes ? st_parse(bytes, len, path) : NULL;
}

safetensors *safetensors_open_memory(const void *bytes, size_t len, const char *what) {
    unsigned char *copy = malloc(len + 1);
    if (!copy) {
        error_set(STATUS_NOMEM, "%s: out of memory copying %zu bytes", what, len);
        return NULL;
    }
    if (len) memcpy(copy, bytes, len);
    return st_parse(copy, len, what);
}

void safetensors_close(safetensors *f) {
    if (!f) return;
    json_free(f->header);
    free(f->entries);
    free(f->by_name);
    free(f->bytes);
    free(f->what);
    free(f);
}

static const st_entry *find(const safetensors *f, const char *name) {
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(name, f->by_name[mid]->name);
        if (c == 0) return f->by_name[mid];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

int safetensors_count(const safetensors *f) { return f->n; }

const char *safetensors_name(const safetensors *f, int i) {
    return i >= 0 && i < f->n ? f->entries[i].name : NULL;
}

int safetensors_shape(const safetensors *f, const char *name, int64_t shape[8]) {
    const st_entry *e = find(f, name);
    if (!e) return -1;
    for (int i = 0; i < e->ndim; i++) shape[i] = e->shape[i];
    return e->ndim;
}

const char *safetensors_dtype(const safetensors *f, const char *name) {
    const st_entry *e = find(f, name);
    return e ? e->dtype : NULL;
}

const char *safetensors_metadata(const safetensors *f, const char *key) {
    const json_value *v = json_get(f->meta, key);
    return v ? v->string : NULL;
}

int safetensors_metadata_count(const safetensors *f) { return f->meta ? f->meta->count : 0; }

const char *safetensors_metadata_key(const safetensors *f, int i) {
    return f->meta && i >= 0 && i < f->meta->count ? f->meta->keys[i] : NULL;
}

const char *safetensors_metadata_value(const safetensors *f, int i) {
    return f->meta && i >= 0 && i < f->meta->count ? f->meta->items[i].string : NULL;
}

/* ---- conversion to float32 ---- */

/* IEEE half to float, exactly: every half is representable as a float. Subnormal halves
 * (exponent 0) are man * 2^-24 and become normal floats; inf and NaN keep their payload. */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | man << 13;
    } else if (exp != 0) {
        bits = sign | (exp + 112) << 23 | man << 13;  /* rebias 15 -> 127 */
    } else if (man == 0) {
        bits = sign;
    } else {
        uint32_t e = 113;                          /* shift until the implicit bit appears */
        while (!(man & 0x400)) { man <<= 1; e--; }
        bits = sign | e << 23 | (man & 0x3ff) << 13;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* bfloat16 is the top half of a float32, so the conversion is a shift. */
static float bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static void convert(const safetensors *f, const st_entry *e, float *dst, int64_t numel) {
    const unsigned char *p = f->data + e->begin;
    if (strcmp(e->dtype, "F32") == 0) {
        for (int64_t i = 0; i < numel; i++, p += 4) {
            uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            memcpy(&dst[i], &bits, sizeof bits);
        }
    } else {
        bool half = strcmp(e->dtype, "F16") == 0;
        for (int64_t i = 0; i < numel; i++, p += 2) {
            uint16_t h = (uint16_t)(p[0] | p[1] << 8);
            dst[i] = half ? half_to_float(h) : bf16_to_float(h);
        }
    }
}

static status check_dtype(const safetensors *f, const st_entry *e) {
    if (dtype_converts(e->dtype)) return STATUS_OK;
    return error_set(STATUS_FORMAT, "%s: tensor \"%.80s\" has dtype %s, which Atelier cannot read "
                     "(F32, F16 and BF16 are supported)", f->what, e->name, e->dtype);
}

static const st_entry *find_or_fail(const safetensors *f, const char *name) {
    const st_entry *e = find(f, name);
    if (!e) error_set(STATUS_FORMAT, "%s: no tensor named \"%.80s\"", f->what, name);
    return e;
}

tensor *safetensors_get(const safetensors *f, arena *a, const char *name) {
    char buf[ST_SHAPE_BUF];
    const st_entry *e = find_or_fail(f, name);
    if (!e || check_dtype(f, e) != STATUS_OK) return NULL;
    if (e->ndim > TENSOR_MAX_DIMS) {
        error_set(STATUS_SHAPE, "%s: tensor \"%.80s\" has %d dims %s, Atelier tensors have at most %d",
                  f->what, name, e->ndim, shape_str64(e->ndim, e->shape, buf), TENSOR_MAX_DIMS);
        return NULL;
    }
    int shape[TENSOR_MAX_DIMS];
    for (int i = 0; i < e->ndim; i++) {
        if (e->shape[i] < 1 || e->shape[i] > INT_MAX) {
            error_set(STATUS_SHAPE, "%s: tensor \"%.80s\" has shape %s; Atelier tensors need dims in "
                      "[1, %d]", f->what, name, shape_str64(e->ndim, e->shape, buf), INT_MAX);
            return NULL;
        }
        shape[i] = (int)e->shape[i];
    }
    tensor *t = tensor_new(a, e->ndim, shape);
    if (t) convert(f, e, t->data, t->numel);
    return t;
}

status safetensors_load_into(const safetensors *f, const char *name, tensor *dst) {
    char want[ST_SHAPE_BUF], got[ST_SHAPE_BUF];
    if (!dst || !dst->data) return error_set(STATUS_ARG, "%s: load_into \"%.80s\": no destination tensor",
                                             f->what, name);
    const st_entry *e = find_or_fail(f, name);
    if (!e) return STATUS_FORMAT;
    bool same = e->ndim == dst->ndim;
    for (int i = 0; same && i < e->ndim; i++) same = e->shape[i] == dst->shape[i];
    if (!same) {
        int64_t d[TENSOR_MAX_DIMS];
        for (int i = 0; i < dst->ndim; i++) d[i] = dst->shape[i];
        return error_set(STATUS_SHAPE, "%.80s: file has %s, model expects %s", name,
                         shape_str64(e->ndim, e->shape, got), shape_str64(dst->ndim, d, want));
    }
    if (check_dtype(f, e) != STATUS_OK) return STATUS_FORMAT;
    convert(f, e, dst->data, dst->numel);
    return STATUS_OK;
}

/* ---- writing ---- */

typedef struct sbuf { char *p; size_t len, cap; bool nomem; } sbuf;

static void sbuf_put(sbuf *b, const char *s, size_t n) {
    if (b->nomem) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->nomem = true; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sbuf_str(sbuf *b, const char *s) { sbuf_put(b, s, strlen(s)); }

/* A JSON string literal: quotes, backslashes and control characters escaped. */
static void sbuf_quoted(sbuf *b, const char *s) {
    sbuf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; sbuf_put(b, esc, 2); }
        else if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); sbuf_put(b, esc, 6); }
        else sbuf_put(b, s, 1);
    }
    sbuf_put(b, "\"", 1);
}

static status check_string(const char *path, const char *what, const char *s, bool is_name) {
    if (!s) return error_set(STATUS_ARG, "%s: a %s is NULL", path, what);
    if (is_name && strcmp(s, "__metadata__") == 0)
        return error_set(STATUS_ARG, "%s: \"__metadata__\" cannot be a tensor name", path);
    if (!json_is_utf8(s, strlen(s)))
        return error_set(STATUS_ARG, "%s: a %s is not valid UTF-8", path, what);
    return STATUS_OK;
}

/* Every argument is checked before anything is written. Duplicate names are refused since
 * a reader would reject the file; the quadratic check is fine for a model's tensor count. */
static status check_save_args(const char *path, const char *const *names, tensor *const *ts,
                              int n, const char *const *meta, int nmeta) {
    if (n < 0 || nmeta < 0 || (n > 0 && (!names || !ts)) || (nmeta > 0 && !meta))
        return error_set(STATUS_ARG, "%s: save: bad tensor or metadata arrays", path);
    for (int i = 0; i < n; i++) {
        if (check_string(path, "tensor name", names[i], true) != STATUS_OK) return STATUS_ARG;
        if (!ts[i] || !ts[i]->data)
            return error_set(STATUS_ARG, "%s: tensor \"%.80s\" is NULL", path, names[i]);
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return error_set(STATUS_ARG, "%s: tensor name \"%.80s\" appears twice", path, names[i]);
    }
    for (int i = 0; i < 2 * nmeta; i++)
        if (check_string(path, i % 2 ? "metadata value" : "metadata key", meta[i], false) != STATUS_OK)
            return STATUS_ARG;
    for (int i = 0; i < nmeta; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(meta[2 * i], meta[2 * j]) == 0)
                return error_set(STATUS_ARG, "%s: metadata key \"%.80s\" appears twice", path, meta[2 * i]);
    return STATUS_OK;
}

/* The JSON header, padded with spaces to a multiple of 8 so the data buffer is aligned. */
static void build_header(sbuf *b, const char *const *names, tensor *const *ts, int n,
                         const char *const *meta, int nmeta) {
    char num[64];
    uint64_t offset = 0;
    sbuf_str(b, "{");
    if (nmeta > 0) {
        sbuf_str(b, "\"__metadata__\":{");
        for (int i = 0; i < nmeta; i++) {
            if (i) sbuf_str(b, ",");
            sbuf_quoted(b, meta[2 * i]);
            sbuf_str(b, ":");
            sbuf_quoted(b, meta[2 * i + 1]);
        }
        sbuf_str(b, n ? "}," : "}");
    }
    for (int i = 0; i < n; i++) {
        const tensor *t = ts[i];
        sbuf_str(b, i ? "," : "");
        sbuf_quoted(b, names[i]);
        sbuf_str(b, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, d ? ",%d" : "%d", t->shape[d]);
            sbuf_str(b, num);
        }
        uint64_t end = offset + (uint64_t)t->numel * 4;
        snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", offset, end);
        sbuf_str(b, num);
        offset = end;
    }
    sbuf_str(b, "}");
    while (!b->nomem && b->len % 8) sbuf_str(b, " ");
}

/* Header length, header, then each tensor as little-endian float32, through a buffer. */
static bool write_contents(FILE *fp, const sbuf *h, tensor *const *ts, int n) {
    unsigned char buf[8192];
    uint64_t hlen = h->len;
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
    if (fwrite(buf, 1, 8, fp) != 8 || fwrite(h->p, 1, h->len, fp) != h->len) return false;
    for (int i = 0; i < n; i++) {
        const float *x = ts[i]->data;
        size_t k = 0;
        for (int64_t j = 0; j < ts[i]->numel; j++) {
            uint32_t bits;
            memcpy(&bits, &x[j], sizeof bits);
            for (int b = 0; b < 4; b++) buf[k++] = (unsigned char)(bits >> (8 * b));
            if (k == sizeof buf) {
                if (fwrite(buf, 1, k, fp) != k) return false;
                k = 0;
            }
        }
        if (k && fwrite(buf, 1, k, fp) != k) return false;
    }
    return true;
}

/* After the rename, the directory entry itself must reach the disk for the new file to
 * survive a crash. Best effort: some filesystems refuse fsync on a directory. */
static void sync_parent(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? malloc((size_t)(slash - path) + 2) : NULL;
    if (slash && !dir) return;
    if (dir) {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    int fd = open(dir ? dir : ".", O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Write to PATH.tmp.XXXXXX beside the target, fsync, then rename over it: a reader sees
 * the old file or the new one, never half of one. On failure the temporary file is
 * removed and an existing target is left as it was. */
static status write_atomic(const char *path, const sbuf *h, tensor *const *ts, int n) {
    char *tmp = malloc(strlen(path) + sizeof ".tmp.XXXXXX");
    if (!tmp) return error_set(STATUS_NOMEM, "%s: out of memory", path);
    strcpy(tmp, path);
    strcat(tmp, ".tmp.XXXXXX");
    FILE *fp = NULL;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        error_set(STATUS_IO, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
        free(tmp);
        return STATUS_IO;
    }
    struct stat sb;
    fchmod(fd, stat(path, &sb) == 0 ? (sb.st_mode & 0777) : 0644);  /* mkstemp made it 0600 */
    fp = fdopen(fd, "wb");
    if (!fp) { close(fd); goto fail; }
    if (!write_contents(fp, h, ts, n) || fflush(fp) != 0 || fsync(fileno(fp)) != 0) goto fail;
    int rc = fclose(fp);
    fp = NULL;
    if (rc != 0 || rename(tmp, path) != 0) goto fail;
    sync_parent(path);
    free(tmp);
    return STATUS_OK;
fail:
    error_set(STATUS_IO, "%s: write failed: %s", path, strerror(errno));
    if (fp) fclose(fp);
    remove(tmp);
    free(tmp);
    return STATUS_IO;
}

status safetensors_save(const char *path, const char *const *names, tensor *const *ts, int n,
                        const char *const *meta, int nmeta) {
    if (!path) return error_set(STATUS_ARG, "safetensors_save: path is NULL");
    if (check_save_args(path, names, ts, n, meta, nmeta) != STATUS_OK) return STATUS_ARG;
    sbuf h = {0};
    build_header(&h, names, ts, n, meta, nmeta);
    status s = h.nomem ? error_set(STATUS_NOMEM, "%s: out of memory building the header", path)
                       : write_atomic(path, &h, ts, n);
    free(h.p);
    return s;
}

bool safetensors_metadata_int(const safetensors *f, const char *key, long lo, long hi, int *out) {
    const char *v = safetensors_metadata(f, key);
    char *e;
    long x = v ? strtol(v, &e, 10) : 0;
    if (!v || !*v || *e || x < lo || x > hi) return false;
    *out = (int)x;
    return true;
}

bool safetensors_metadata_float(const safetensors *f, const char *key, float *out) {
    const char *v = safetensors_metadata(f, key);
    char *e;
    float x = v ? strtof(v, &e) : 0;
    if (!v || !*v || *e || !isfinite(x)) return false;
    *out = x;
    return true;
}

bool safetensors_metadata_str(const safetensors *f, const char *key, char *out, size_t n) {
    const char *v = safetensors_metadata(f, key);
    if (!v || strlen(v) >= n) return false;
    memcpy(out, v, strlen(v) + 1);
    return true;
}
