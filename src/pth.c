/* pth.c: PyTorch checkpoints, read without running them (see pth.h).
 *
 * Opening maps the file, finds the object pickle (data.pkl in the zip format, the fourth
 * pickle in the legacy one), unpickles it with the restricted unpickler (pth_pickle.c),
 * names every tensor reachable from the top object, finds each storage's bytes and checks
 * that every element of every tensor lies inside its storage. After that, lookups and
 * loads cannot fail on the file's account. Layouts, after torch/serialization.py:
 *
 *   zip:    <archive>/data.pkl, <archive>/data/<key> (raw little-endian storages),
 *           <archive>/version, ...; entries stored (not compressed), read through the
 *           central directory (zip64 records as torch writes them), APPNOTE.TXT 4.3.
 *   legacy: pickles of MAGIC_NUMBER, PROTOCOL_VERSION, sys_info, the object, the sorted list
 *           of storage keys; then per key an 8-byte little-endian element count and the
 *           storage's bytes.
 */
#include "atelier/pth.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pth_internal.h"

#define PTH_MAX_NAME 1024       /* bytes of a dotted tensor name */
#define PTH_MAX_DEPTH 64        /* containers nested in containers */
/* Objects visited while naming: a container shared through the memo is visited once per
 * path, so the count is capped, and proportional to the pickle (a tree of n bytes has fewer
 * than n items; a state dict saved twice, 2n). */
#define PTH_MAX_VISITS (1 << 22)
#define PTH_VISITS_BASE (1 << 16)
#define PTH_VISITS_PER_BYTE 16
#define PTH_MAX_ZIP_ENTRIES (1 << 20)
#define PTH_SHAPE_BUF 200

typedef struct pth_storage {
    const char *key;
    pth_dtype_id dtype;
    int64_t numel;
    const unsigned char *data;  /* numel elements, or NULL until found */
} pth_storage;

typedef struct pth_entry {
    char *name;
    const pk_value *t;          /* the tensor: size, stride */
    const pth_storage *st;
    int64_t base;               /* its first element in the storage (view offset + offset) */
} pth_entry;

struct pth_file {
    char *what;
    const unsigned char *bytes;
    size_t len;
    void *map;                  /* the mapping, or NULL for a copy in memory */
    unsigned char *copy;
    const char *format;         /* "zip", "legacy" */
    pk_heap heap;
    pk_value *root;
    pth_storage *storages;      /* (nstorages) sorted by key */
    int nstorages;
    pth_entry *entries;         /* (n) in file order */
    int n, cap;
    pth_entry **by_name;        /* (n) sorted by name */
};

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static status bad(const pth_file *f, const char *msg) {
    return error_set(STATUS_FORMAT, "%s: %s", f->what, msg);
}

/* n bytes of s, which came from the file (any bytes: a key may hold a newline), for a
 * message: at most 80, '?' for the unprintable ones, so that the message stays one line. */
#define PTH_SHOWN 81
static const char *shown(const char *s, size_t n, char buf[PTH_SHOWN]) {
    size_t i = 0;
    for (; i < n && i + 1 < PTH_SHOWN && s[i]; i++) buf[i] = s[i] >= 32 && s[i] < 127 ? s[i] : '?';
    buf[i] = 0;
    return buf;
}
#define SHOWN(s) shown((s), SIZE_MAX, (char[PTH_SHOWN]){0})

/* ---- storages: one per key, from every persistent id the pickles held ---- */

static int compare_storage(const void *a, const void *b) {
    return strcmp(((const pth_storage *)a)->key, ((const pth_storage *)b)->key);
}

static pth_storage *storage_find(const pth_file *f, const char *key) {
    pth_storage k = {.key = key};
    return bsearch(&k, f->storages, (size_t)f->nstorages, sizeof k, compare_storage);
}

static int compare_value_key(const void *a, const void *b) {
    return strcmp((*(pk_value *const *)a)->s, (*(pk_value *const *)b)->s);
}

/* One storage per key. Persistent ids of one key must agree on dtype and size (torch
 * refuses to save otherwise). */
static status storages_build(pth_file *f) {
    size_t n = 0;
    for (int64_t i = 0; i < f->heap.n; i++) n += pk_heap_value(&f->heap, i)->kind == PK_STORAGE;
    pk_value **v = malloc(sizeof *v * (n + 1));
    f->storages = calloc(n + 1, sizeof *f->storages);
    if (!v || !f->storages) { free(v); return error_set(STATUS_NOMEM, "%s: out of memory", f->what); }
    n = 0;
    for (int64_t i = 0; i < f->heap.n; i++)
        if (pk_heap_value(&f->heap, i)->kind == PK_STORAGE) v[n++] = pk_heap_value(&f->heap, i);
    qsort(v, n, sizeof *v, compare_value_key);
    status s = STATUS_OK;
    for (size_t i = 0; i < n && s == STATUS_OK; i++) {
        pth_storage *last = f->nstorages ? &f->storages[f->nstorages - 1] : NULL;
        if (v[i]->numel > (INT64_C(1) << 59)) s = bad(f, "a storage of more than 2^59 elements");
        else if (!last || strcmp(last->key, v[i]->s) != 0)
            f->storages[f->nstorages++] = (pth_storage){.key = v[i]->s, .dtype = v[i]->dtype, .numel = v[i]->numel};
        else if (last->dtype != v[i]->dtype || last->numel != v[i]->numel)
            s = error_set(STATUS_FORMAT, "%s: storage '%s' is referenced with two types or sizes",
                          f->what, SHOWN(v[i]->s));
    }
    free(v);
    return s;
}

static status storage_set(pth_file *f, pth_storage *s, const unsigned char *data, uint64_t nbytes) {
    if (s->data) return error_set(STATUS_FORMAT, "%s: storage '%s' stored twice", f->what, SHOWN(s->key));
    if (nbytes / (uint64_t)pth_dtype_size(s->dtype) < (uint64_t)s->numel)
        return error_set(STATUS_FORMAT, "%s: storage '%s' has %" PRIu64 " bytes, %" PRId64 " %s elements "
                         "need %" PRId64, f->what, SHOWN(s->key), nbytes, s->numel, pth_dtype_name(s->dtype),
                         s->numel * pth_dtype_size(s->dtype));
    s->data = data;
    return STATUS_OK;
}

/* ---- tensors: named by their path from the top object ---- */

/* A name costs memory per path, not per object: one dict shared through the memo by four
 * levels of 40 keys reaches a tensor by 40^4 paths, 2.5 million names of 1000 bytes from
 * 12 KB of pickle. So each name, with its table entries, is charged to the heap's budget
 * (pth_internal.h), which a real checkpoint (a short name per ~100 pickle bytes) never nears. */
static status entry_add(pth_file *f, const pk_value *t, const char *name) {
    /* the name (and malloc's header), its entry (twice: the table doubles) and its index slot */
    size_t len = strlen(name), cost = len + 1 + 16 + 2 * sizeof(pth_entry) + sizeof(pth_entry *);
    if (!pk_heap_charge(&f->heap, cost))
        return error_set(STATUS_FORMAT, "%s: tensor names would take more than the %zu MB allowed for %zu "
                         "bytes of pickle (a container reached by many paths?)", f->what,
                         pk_heap_budget(&f->heap) >> 20, f->heap.consumed);
    if (f->n >= f->cap) {
        int cap = f->cap ? 2 * f->cap : 64;
        pth_entry *e = realloc(f->entries, sizeof *e * (size_t)cap);
        if (!e) return error_set(STATUS_NOMEM, "%s: out of memory", f->what);
        f->entries = e;
        f->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return error_set(STATUS_NOMEM, "%s: out of memory", f->what);
    memcpy(copy, name, len + 1);
    f->entries[f->n++] = (pth_entry){.name = copy, .t = t};
    return STATUS_OK;
}

/* name[0..len) + "." + key into name; false if too long. */
static bool name_append(char *name, size_t len, const char *key) {
    int k = snprintf(name + len, PTH_MAX_NAME - len, len ? ".%s" : "%s", key);
    return k >= 0 && (size_t)k < PTH_MAX_NAME - len;
}

static status walk(pth_file *f, const pk_value *v, char *name, int depth, int64_t *visits_left);

/* A dict's string (or int) keys and a list's or tuple's indices name their children. */
static status walk_children(pth_file *f, const pk_value *v, char *name, int depth, int64_t *visits_left) {
    size_t len = strlen(name);
    bool dict = v->kind == PK_DICT;
    for (int64_t i = 0; i < v->n; i += dict ? 2 : 1) {
        char key[32];
        const pk_value *k = dict ? v->items[i] : NULL, *child = dict ? v->items[i + 1] : v->items[i];
        const char *part = key;
        if (!dict) snprintf(key, sizeof key, "%" PRId64, i);
        else if (k->kind == PK_INT) snprintf(key, sizeof key, "%" PRId64, k->i);
        else if (k->kind == PK_STR && strlen(k->s) == k->len) part = k->s;
        else continue;
        if (!name_append(name, len, part)) return bad(f, "a tensor name longer than 1000 bytes");
        status s = walk(f, child, name, depth + 1, visits_left);
        name[len] = 0;
        if (s != STATUS_OK) return s;
    }
    return STATUS_OK;
}

static status walk(pth_file *f, const pk_value *v, char *name, int depth, int64_t *visits_left) {
    if (--*visits_left < 0)
        return error_set(STATUS_FORMAT, "%s: more objects to name than %zu bytes of pickle can hold "
                         "(a container reached by many paths?)", f->what, f->heap.consumed);
    if (depth > PTH_MAX_DEPTH) return bad(f, "containers nested deeper than 64 levels");
    switch (v->kind) {
    case PK_TENSOR: return entry_add(f, v, name);
    case PK_DICT: case PK_LIST: case PK_TUPLE: return walk_children(f, v, name, depth, visits_left);
    default: return STATUS_OK;
    }
}

static int compare_entry_name(const void *a, const void *b) {
    return strcmp((*(pth_entry *const *)a)->name, (*(pth_entry *const *)b)->name);
}

static status index_names(pth_file *f) {
    f->by_name = malloc(sizeof *f->by_name * ((size_t)f->n + 1));
    if (!f->by_name) return error_set(STATUS_NOMEM, "%s: out of memory", f->what);
    for (int i = 0; i < f->n; i++) f->by_name[i] = &f->entries[i];
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, compare_entry_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0)
            return error_set(STATUS_FORMAT, "%s: two tensors named \"%s\"", f->what, SHOWN(f->by_name[i]->name));
    return STATUS_OK;
}

/* Every element of e inside its storage (or its legacy view): base + sum (size-1)*stride. */
static status entry_check(pth_file *f, pth_entry *e) {
    const pk_value *t = e->t, *sv = t->storage;
    pth_storage *st = storage_find(f, sv->s);
    if (!st || !st->data) return error_set(STATUS_FORMAT, "%s: tensor \"%s\": its storage has no data",
                                           f->what, SHOWN(e->name));
    e->st = st;
    int64_t limit = sv->view_numel < 0 ? st->numel : sv->view_offset + sv->view_numel, last = 0;
    bool overflow = __builtin_add_overflow(sv->view_offset, t->offset, &e->base);
    bool empty = false;
    for (int d = 0; d < t->ndim; d++) {
        int64_t span;
        empty |= t->size[d] == 0;
        overflow |= __builtin_mul_overflow(t->size[d] ? t->size[d] - 1 : 0, t->stride[d], &span) ||
                    __builtin_add_overflow(last, span, &last);
    }
    if (empty) return STATUS_OK;
    if (overflow || __builtin_add_overflow(last, e->base, &last) || last >= limit)
        return error_set(STATUS_FORMAT, "%s: tensor \"%s\" reaches outside its storage of %" PRId64
                         " elements", f->what, SHOWN(e->name), limit);
    return STATUS_OK;
}

/* After the containers found the storages' bytes: name the tensors and check them. */
static status tensors_build(pth_file *f) {
    char name[PTH_MAX_NAME] = "";
    uint64_t most = PTH_VISITS_BASE + PTH_VISITS_PER_BYTE * (uint64_t)f->heap.consumed;
    int64_t visits_left = most < PTH_MAX_VISITS ? (int64_t)most : PTH_MAX_VISITS;
    if (walk(f, f->root, name, 0, &visits_left) != STATUS_OK || index_names(f) != STATUS_OK)
        return error_status();
    for (int i = 0; i < f->n; i++)
        if (entry_check(f, &f->entries[i]) != STATUS_OK) return error_status();
    return STATUS_OK;
}

/* ---- the zip format ---- */

typedef struct zip_entry {
    const char *name;           /* not NUL-terminated: nlen bytes in the file */
    size_t nlen;
    uint64_t size, csize, local;
    int method, flags;
} zip_entry;

/* The end of central directory record: the last "PK\5\6" within 22 + 65535 bytes of the end. */
static status zip_find_end(const pth_file *f, size_t *eocd) {
    if (f->len < 22) return bad(f, "truncated zip archive");
    size_t stop = f->len > 22 + 65535 ? f->len - 22 - 65535 : 0;
    for (size_t i = f->len - 22 + 1; i-- > stop;) {
        if (memcmp(f->bytes + i, "PK\5\6", 4) == 0 && i + 22 + le(f->bytes + i + 20, 2) <= f->len) {
            *eocd = i;
            return STATUS_OK;
        }
    }
    return bad(f, "zip archive without an end of central directory (truncated?)");
}

/* Where the central directory is and how many entries it has; zip64 records take over
 * when a locator precedes the end record (torch writes them even for small files). */
static status zip_directory(const pth_file *f, uint64_t *off, uint64_t *size, uint64_t *count) {
    size_t e = 0;
    if (zip_find_end(f, &e) != STATUS_OK) return STATUS_FORMAT;
    const unsigned char *p = f->bytes + e;
    *count = le(p + 10, 2);
    *size = le(p + 12, 4);
    *off = le(p + 16, 4);
    if (e >= 20 && memcmp(p - 20, "PK\6\7", 4) == 0) {
        uint64_t z = le(p - 20 + 8, 8);
        if (f->len < 56 || z > f->len - 56 || memcmp(f->bytes + z, "PK\6\6", 4) != 0)
            return bad(f, "zip64 end of central directory out of place");
        *count = le(f->bytes + z + 32, 8);
        *size = le(f->bytes + z + 40, 8);
        *off = le(f->bytes + z + 48, 8);
    }
    if (*off > f->len || *size > f->len - *off || *count > *size / 46 || *count > PTH_MAX_ZIP_ENTRIES)
        return bad(f, "zip central directory out of range");
    return STATUS_OK;
}

/* The zip64 extended information extra field (id 1) holds the 64-bit values of the fields
 * that read 0xffffffff, in the order size, compressed size, local header offset. */
static status zip64_extra(const pth_file *f, const unsigned char *x, size_t xlen, zip_entry *z) {
    uint64_t *fields[3] = {&z->size, &z->csize, &z->local};
    for (size_t i = 0; i + 4 <= xlen;) {
        size_t id = le(x + i, 2), n = le(x + i + 2, 2);
        if (n > xlen - i - 4) return bad(f, "zip extra field out of range");
        for (size_t k = 0, at = 0; id == 1 && k < 3; k++) {
            if (*fields[k] != 0xffffffffu) continue;
            if (at + 8 > n) return bad(f, "zip64 extra field too short");
            *fields[k] = le(x + i + 4 + at, 8);
            at += 8;
        }
        i += 4 + n;
    }
    return STATUS_OK;
}

static status zip_read_entry(const pth_file *f, const unsigned char **p, const unsigned char *end,
                             zip_entry *z) {
    const unsigned char *c = *p;
    if (end - c < 46 || memcmp(c, "PK\1\2", 4) != 0) return bad(f, "malformed zip central directory");
    size_t nlen = le(c + 28, 2), xlen = le(c + 30, 2), clen = le(c + 32, 2);
    if ((size_t)(end - c) - 46 < nlen + xlen + clen) return bad(f, "malformed zip central directory");
    *z = (zip_entry){.name = (const char *)c + 46, .nlen = nlen, .flags = (int)le(c + 8, 2),
                     .method = (int)le(c + 10, 2), .csize = le(c + 20, 4), .size = le(c + 24, 4),
                     .local = le(c + 42, 4)};
    *p = c + 46 + nlen + xlen + clen;
    return zip64_extra(f, c + 46 + nlen, xlen, z);
}

static int compare_zip(const void *a, const void *b) {
    const zip_entry *x = a, *y = b;
    size_t n = x->nlen < y->nlen ? x->nlen : y->nlen;
    int c = memcmp(x->name, y->name, n);
    return c ? c : (x->nlen > y->nlen) - (x->nlen < y->nlen);
}

/* The central directory's entries, sorted by name. */
static status zip_entries(const pth_file *f, zip_entry **out, size_t *n) {
    uint64_t off, size, count;
    if (zip_directory(f, &off, &size, &count) != STATUS_OK) return STATUS_FORMAT;
    zip_entry *z = calloc((size_t)count + 1, sizeof *z);
    if (!z) return error_set(STATUS_NOMEM, "%s: out of memory", f->what);
    const unsigned char *p = f->bytes + off, *end = p + size;
    for (uint64_t i = 0; i < count; i++) {
        if (zip_read_entry(f, &p, end, &z[i]) != STATUS_OK) { free(z); return STATUS_FORMAT; }
    }
    qsort(z, (size_t)count, sizeof *z, compare_zip);
    *out = z;
    *n = (size_t)count;
    return STATUS_OK;
}

static const zip_entry *zip_find(const zip_entry *z, size_t n, const char *name) {
    zip_entry k = {.name = name, .nlen = strlen(name)};
    return bsearch(&k, z, n, sizeof k, compare_zip);
}

/* An entry's bytes, through its local header (whose extra field torch uses for alignment). */
static status zip_data(const pth_file *f, const zip_entry *z, const unsigned char **data) {
    if (z->method != 0)
        return error_set(STATUS_FORMAT, "%s: zip entry '%s' is compressed (method %d); Atelier reads "
                         "stored entries, as torch.save writes them", f->what,
                         shown(z->name, z->nlen, (char[PTH_SHOWN]){0}), z->method);
    if (z->flags & 1) return bad(f, "encrypted zip entry");
    if (z->csize != z->size) return bad(f, "zip entry sizes disagree");
    if (z->local > f->len || f->len - z->local < 30 || memcmp(f->bytes + z->local, "PK\3\4", 4) != 0)
        return bad(f, "zip local header out of place");
    uint64_t start = z->local + 30 + le(f->bytes + z->local + 26, 2) + le(f->bytes + z->local + 28, 2);
    if (start > f->len || z->size > f->len - start) return bad(f, "zip entry beyond the end of the file");
    *data = f->bytes + start;
    return STATUS_OK;
}

/* The one "<archive>/data.pkl"; *prefix_len is the length of "<archive>/". */
static status zip_find_pickle(const pth_file *f, const zip_entry *z, size_t n, const zip_entry **pkl,
                              size_t *prefix_len) {
    *pkl = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t l = z[i].nlen;
        if (l < 8 || memcmp(z[i].name + l - 8, "data.pkl", 8) != 0 || (l > 8 && z[i].name[l - 9] != '/'))
            continue;
        if (*pkl) return bad(f, "zip archive holds more than one data.pkl");
        *pkl = &z[i];
        *prefix_len = l - 8;
    }
    return *pkl ? STATUS_OK : bad(f, "zip archive without data.pkl (not a torch.save checkpoint)");
}

static status zip_byteorder(const pth_file *f, const zip_entry *z, size_t n, const char *prefix) {
    char name[PTH_MAX_NAME + 16];
    snprintf(name, sizeof name, "%sbyteorder", prefix);
    const zip_entry *e = zip_find(z, n, name);
    const unsigned char *d;
    if (!e) return STATUS_OK;
    if (zip_data(f, e, &d) != STATUS_OK) return STATUS_FORMAT;
    if (e->size >= 3 && memcmp(d, "big", 3) == 0) return bad(f, "big-endian storages are not supported");
    return STATUS_OK;
}

/* Each storage's bytes: "<archive>/data/<key>". */
static status zip_storages(pth_file *f, const zip_entry *z, size_t n, const char *prefix) {
    char name[2 * PTH_MAX_NAME];
    for (int i = 0; i < f->nstorages; i++) {
        pth_storage *s = &f->storages[i];
        snprintf(name, sizeof name, "%sdata/%.*s", prefix, PTH_MAX_NAME - 8, s->key);
        const zip_entry *e = zip_find(z, n, name);
        const unsigned char *d;
        if (!e) return error_set(STATUS_FORMAT, "%s: zip archive lacks storage '%s'", f->what, SHOWN(name));
        if (zip_data(f, e, &d) != STATUS_OK || storage_set(f, s, d, e->size) != STATUS_OK) return error_status();
    }
    return STATUS_OK;
}

static status zip_parse(pth_file *f) {
    zip_entry *z = NULL;
    size_t n = 0, plen = 0, pos = 0;
    const zip_entry *pkl;
    const unsigned char *d;
    char prefix[PTH_MAX_NAME];
    status s = zip_entries(f, &z, &n);
    if (s == STATUS_OK) s = zip_find_pickle(f, z, n, &pkl, &plen);
    if (s == STATUS_OK && plen >= sizeof prefix) s = bad(f, "zip entry name too long");
    if (s == STATUS_OK) {
        memcpy(prefix, pkl->name, plen);
        prefix[plen] = 0;
        s = zip_byteorder(f, z, n, prefix);
    }
    if (s == STATUS_OK) s = zip_data(f, pkl, &d);
    if (s == STATUS_OK) s = pk_load(&f->heap, d, pkl->size, &pos, f->what, "data.pkl", &f->root);
    if (s == STATUS_OK) s = storages_build(f);
    if (s == STATUS_OK) s = zip_storages(f, z, n, prefix);
    free(z);
    return s;
}

/* ---- the legacy format ---- */

/* The four pickles before the storages' bytes: magic number, protocol version, sys_info
 * and the object (f->root), then the list of storage keys into *keys. */
static status legacy_pickles(pth_file *f, size_t *pos, pk_value **keys) {
    pk_value *magic, *version, *info;
    if (pk_load(&f->heap, f->bytes, f->len, pos, f->what, "magic number", &magic) != STATUS_OK)
        return STATUS_FORMAT;
    /* MAGIC_NUMBER = 0x1950a86a20f9469cfc6c */
    if (magic->kind != PK_BIGINT || magic->hi != 0x1950 || (uint64_t)magic->i != UINT64_C(0xa86a20f9469cfc6c))
        return bad(f, "not a PyTorch checkpoint (a pickle without torch's magic number)");
    if (pk_load(&f->heap, f->bytes, f->len, pos, f->what, "protocol version", &version) != STATUS_OK)
        return STATUS_FORMAT;
    if (version->kind != PK_INT || version->i != 1001) return bad(f, "legacy protocol version is not 1001");
    if (pk_load(&f->heap, f->bytes, f->len, pos, f->what, "sys info", &info) != STATUS_OK) return STATUS_FORMAT;
    for (int64_t i = 0; info->kind == PK_DICT && i < info->n; i += 2) {
        const pk_value *k = info->items[i], *v = info->items[i + 1];
        if (k->kind == PK_STR && strcmp(k->s, "little_endian") == 0 && v->kind == PK_BOOL && !v->i)
            return bad(f, "big-endian storages are not supported");
    }
    if (pk_load(&f->heap, f->bytes, f->len, pos, f->what, "object pickle", &f->root) != STATUS_OK ||
        pk_load(&f->heap, f->bytes, f->len, pos, f->what, "storage keys", keys) != STATUS_OK)
        return STATUS_FORMAT;
    return (*keys)->kind == PK_LIST ? STATUS_OK : bad(f, "storage keys are not a list");
}

/* Per key, in the list's order: an 8-byte element count and the bytes. */
static status legacy_storages(pth_file *f, size_t pos, const pk_value *keys) {
    for (int64_t i = 0; i < keys->n; i++) {
        const pk_value *k = keys->items[i];
        pth_storage *s = k->kind == PK_STR ? storage_find(f, k->s) : NULL;
        if (!s) return bad(f, "the storage list names a storage no tensor uses");
        if (f->len - pos < 8) return bad(f, "truncated (storage data missing)");
        uint64_t count = le(f->bytes + pos, 8), size = (uint64_t)pth_dtype_size(s->dtype);
        if (count != (uint64_t)s->numel)
            return error_set(STATUS_FORMAT, "%s: storage '%s' holds %" PRIu64 " elements, its tensors "
                             "say %" PRId64, f->what, SHOWN(s->key), count, s->numel);
        pos += 8;
        if (count > (f->len - pos) / size) return bad(f, "truncated (storage data missing)");
        if (storage_set(f, s, f->bytes + pos, count * size) != STATUS_OK) return STATUS_FORMAT;
        pos += count * size;
    }
    for (int i = 0; i < f->nstorages; i++)
        if (!f->storages[i].data)
            return error_set(STATUS_FORMAT, "%s: storage '%s' has no data", f->what, SHOWN(f->storages[i].key));
    return STATUS_OK;
}

static status legacy_parse(pth_file *f) {
    size_t pos = 0;
    pk_value *keys;
    if (legacy_pickles(f, &pos, &keys) != STATUS_OK || storages_build(f) != STATUS_OK) return error_status();
    return legacy_storages(f, pos, keys);
}

/* ---- opening ---- */

static status parse(pth_file *f) {
    status s;
    if (f->len >= 4 && memcmp(f->bytes, "PK\3\4", 4) == 0) {
        f->format = "zip";
        s = zip_parse(f);
    } else if (f->len >= 2 && f->bytes[0] == 0x80) {
        f->format = "legacy";
        s = legacy_parse(f);
    } else if (f->len >= 262 && memcmp(f->bytes + 257, "ustar", 5) == 0) {
        return bad(f, "a tar-format checkpoint (torch before 0.1.10), which Atelier does not read");
    } else {
        return bad(f, "not a PyTorch checkpoint (neither a zip archive nor a pickle)");
    }
    return s == STATUS_OK ? tensors_build(f) : s;
}

static pth_file *finish_open(pth_file *f) {
    if (parse(f) == STATUS_OK) return f;
    pth_close(f);
    return NULL;
}

static pth_file *new_file(const char *what) {
    pth_file *f = calloc(1, sizeof *f);
    if (f) f->what = strdup(what);
    if (!f || !f->what) {
        free(f);
        error_set(STATUS_NOMEM, "%s: out of memory", what);
        return NULL;
    }
    return f;
}

pth_file *pth_open(const char *path) {
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        error_set(STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size == 0) {
        error_set(STATUS_IO, "%s: %s", path, S_ISREG(sb.st_mode) ? "empty file" : "not a regular file");
        close(fd);
        return NULL;
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (map == MAP_FAILED) {
        error_set(STATUS_IO, "%s: cannot map: %s", path, strerror(err));
        return NULL;
    }
    pth_file *f = new_file(path);
    if (!f) { munmap(map, (size_t)sb.st_size); return NULL; }
    f->map = map;
    f->bytes = map;
    f->len = (size_t)sb.st_size;
    return finish_open(f);
}

pth_file *pth_open_memory(const void *bytes, size_t len, const char *what) {
    pth_file *f = new_file(what);
    if (!f) return NULL;
    f->copy = malloc(len ? len : 1);
    if (!f->copy) {
        error_set(STATUS_NOMEM, "%s: out of memory", what);
        pth_close(f);
        return NULL;
    }
    if (len) memcpy(f->copy, bytes, len);
    f->bytes = f->copy;
    f->len = len;
    return finish_open(f);
}

void pth_close(pth_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) free(f->entries[i].name);
    free(f->entries);
    free(f->by_name);
    free(f->storages);
    pk_heap_free(&f->heap);
    if (f->map) munmap(f->map, f->len);
    free(f->copy);
    free(f->what);
    free(f);
}

/* ---- lookups ---- */

static const pth_entry *find(const pth_file *f, const char *name) {
    pth_entry k = {.name = (char *)name}, *kp = &k;
    pth_entry **e = bsearch(&kp, f->by_name, (size_t)f->n, sizeof kp, compare_entry_name);
    return e ? *e : NULL;
}

const char *pth_format(const pth_file *f) { return f->format; }
int pth_count(const pth_file *f) { return f->n; }

const char *pth_name(const pth_file *f, int i) {
    return i >= 0 && i < f->n ? f->entries[i].name : NULL;
}

int pth_shape(const pth_file *f, const char *name, int64_t shape[8]) {
    const pth_entry *e = find(f, name);
    if (!e) return -1;
    for (int d = 0; shape && d < e->t->ndim; d++) shape[d] = e->t->size[d];
    return e->t->ndim;
}

const char *pth_dtype(const pth_file *f, const char *name) {
    const pth_entry *e = find(f, name);
    return e ? pth_dtype_name(e->st->dtype) : NULL;
}

/* ---- conversion to float32 ---- */

/* IEEE half to float, exactly (as safetensors.c): subnormal halves become normal floats. */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | man << 13;
    } else if (exp != 0) {
        bits = sign | (exp + 112) << 23 | man << 13;
    } else if (man == 0) {
        bits = sign;
    } else {
        uint32_t e = 113;
        while (!(man & 0x400)) { man <<= 1; e--; }
        bits = sign | e << 23 | (man & 0x3ff) << 13;
    }
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

static float bits_to_float(uint32_t bits) {
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

static float element(pth_dtype_id d, const unsigned char *p) {
    switch (d) {
    case PTH_F32: return bits_to_float((uint32_t)le(p, 4));
    case PTH_F64: { uint64_t b = le(p, 8); double x; memcpy(&x, &b, sizeof x); return (float)x; }
    case PTH_F16: return half_to_float((uint16_t)le(p, 2));
    case PTH_BF16: return bits_to_float((uint32_t)le(p, 2) << 16);
    case PTH_I64: return (float)(int64_t)le(p, 8);
    case PTH_I32: return (float)(int32_t)(uint32_t)le(p, 4);
    case PTH_I16: return (float)(int16_t)(uint16_t)le(p, 2);
    case PTH_I8: return (float)(int8_t)p[0];
    default: return (float)p[0];    /* U8, BOOL */
    }
}

/* Row-major over the tensor's sizes, stepping through the storage by its strides. */
static void copy_elements(const pth_entry *e, float *out, int64_t numel) {
    const pk_value *t = e->t;
    int size = pth_dtype_size(e->st->dtype);
    int64_t idx[PTH_MAX_DIMS] = {0}, at = e->base;
    for (int64_t i = 0; i < numel; i++) {
        out[i] = element(e->st->dtype, e->st->data + at * size);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->size[d]) { at += t->stride[d]; break; }
            at -= (t->size[d] - 1) * t->stride[d];
            idx[d] = 0;
        }
    }
}

static const char *shape_str64(int ndim, const int64_t *shape, char buf[PTH_SHAPE_BUF]) {
    int len = snprintf(buf, PTH_SHAPE_BUF, "(");
    for (int i = 0; i < ndim; i++)
        len += snprintf(buf + len, (size_t)(PTH_SHAPE_BUF - len), i ? ", %" PRId64 : "%" PRId64, shape[i]);
    snprintf(buf + len, (size_t)(PTH_SHAPE_BUF - len), ")");
    return buf;
}

status pth_load_into(const pth_file *f, const char *name, tensor *dst) {
    char got[PTH_SHAPE_BUF], want[PTH_SHAPE_BUF];
    if (!dst || !dst->data)
        return error_set(STATUS_ARG, "%s: load_into \"%s\": no destination tensor", f->what, SHOWN(name));
    const pth_entry *e = find(f, name);
    if (!e) return error_set(STATUS_FORMAT, "%s: no tensor named \"%s\"", f->what, SHOWN(name));
    bool same = e->t->ndim == dst->ndim;
    for (int d = 0; same && d < dst->ndim; d++) same = e->t->size[d] == dst->shape[d];
    if (!same) {
        int64_t s[TENSOR_MAX_DIMS];
        for (int d = 0; d < dst->ndim; d++) s[d] = dst->shape[d];
        return error_set(STATUS_SHAPE, "%s: file has %s, model expects %s", SHOWN(name),
                         shape_str64(e->t->ndim, e->t->size, got), shape_str64(dst->ndim, s, want));
    }
    copy_elements(e, dst->data, dst->numel);
    return STATUS_OK;
}
