/* pth_pickle.c: a restricted unpickler for PyTorch checkpoints (see pth_internal.h).
 *
 * It runs the opcodes torch.save emits for state dicts and plain containers (pickle
 * protocols 2 to 5, as Lib/pickletools.py documents them) and nothing else. Python's
 * unpickler imports any module a GLOBAL names and calls whatever REDUCE is handed, which is
 * how a malicious .pth runs code; here GLOBAL only accepts the names of g_globals, REDUCE
 * only "calls" OrderedDict and torch's tensor rebuild functions (evaluated here, from their
 * arguments), and BUILD on a dict is accepted and its state ignored (a state dict's
 * _metadata). Every length is checked against the bytes left, and the stack, the memo, the
 * mark depth, the strings and the number of values are capped, so that a malformed or
 * hostile pickle ends in one error line.
 *
 * Memory is counted, not only capped: the memo lets a few bytes name a big object again
 * (OrderedDict(memo'd list of a million pairs) copies the pairs for 5 bytes), so every
 * allocation of the heap is charged against PK_MEM_BASE + PK_MEM_PER_BYTE bytes per pickle
 * byte read. Values live in slabs and strings, shapes and tuples in a bump arena, so that a
 * value costs its 64 bytes and not a malloc each.
 */
#include "pth_internal.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PK_MAX_STACK (1 << 20)
#define PK_MAX_MARKS 4096
#define PK_MAX_MEMO (1 << 20)
#define PK_MAX_VALUES (1 << 21)
#define PK_MAX_ITEMS (1 << 24)
#define PK_MAX_STRING ((uint64_t)64 << 20)
#define PK_MAX_GLOBAL 200       /* bytes of a GLOBAL's module or name */
#define PK_SLAB 1024            /* values per slab */
#define PK_CHUNK ((size_t)64 << 10)   /* bytes per arena chunk; bigger requests get their own */

/* ---- dtypes ---- */

static const struct { const char *name; int size; } g_dtypes[PTH_NDTYPES] = {
    [PTH_F32] = {"F32", 4}, [PTH_F64] = {"F64", 8}, [PTH_F16] = {"F16", 2},
    [PTH_BF16] = {"BF16", 2}, [PTH_I64] = {"I64", 8}, [PTH_I32] = {"I32", 4},
    [PTH_I16] = {"I16", 2}, [PTH_I8] = {"I8", 1}, [PTH_U8] = {"U8", 1}, [PTH_BOOL] = {"BOOL", 1},
};

const char *pth_dtype_name(pth_dtype_id d) { return g_dtypes[d].name; }
int pth_dtype_size(pth_dtype_id d) { return g_dtypes[d].size; }

/* The only globals a checkpoint may name. Storage types and dtypes are inert tags; the
 * rebuild functions are evaluated by apply() below, never called. "torch.cuda.*Storage"
 * appears in checkpoints that old torch versions saved from a GPU. */
static const struct { const char *name; pk_global kind; pth_dtype_id dtype; } g_globals[] = {
    {"collections.OrderedDict", PG_ORDERED_DICT, PTH_F32},
    {"torch._utils._rebuild_tensor_v2", PG_REBUILD_TENSOR_V2, PTH_F32},
    {"torch._utils._rebuild_tensor", PG_REBUILD_TENSOR, PTH_F32},
    {"torch._utils._rebuild_parameter", PG_REBUILD_PARAMETER, PTH_F32},
    {"torch._utils._rebuild_parameter_with_state", PG_REBUILD_PARAMETER_STATE, PTH_F32},
    {"torch.FloatStorage", PG_STORAGE_TYPE, PTH_F32},
    {"torch.DoubleStorage", PG_STORAGE_TYPE, PTH_F64},
    {"torch.HalfStorage", PG_STORAGE_TYPE, PTH_F16},
    {"torch.BFloat16Storage", PG_STORAGE_TYPE, PTH_BF16},
    {"torch.LongStorage", PG_STORAGE_TYPE, PTH_I64},
    {"torch.IntStorage", PG_STORAGE_TYPE, PTH_I32},
    {"torch.ShortStorage", PG_STORAGE_TYPE, PTH_I16},
    {"torch.CharStorage", PG_STORAGE_TYPE, PTH_I8},
    {"torch.ByteStorage", PG_STORAGE_TYPE, PTH_U8},
    {"torch.BoolStorage", PG_STORAGE_TYPE, PTH_BOOL},
    {"torch.UntypedStorage", PG_STORAGE_TYPE, PTH_U8},
    {"torch.cuda.FloatStorage", PG_STORAGE_TYPE, PTH_F32},
    {"torch.cuda.DoubleStorage", PG_STORAGE_TYPE, PTH_F64},
    {"torch.cuda.HalfStorage", PG_STORAGE_TYPE, PTH_F16},
    {"torch.cuda.LongStorage", PG_STORAGE_TYPE, PTH_I64},
    {"torch.float32", PG_DTYPE, PTH_F32}, {"torch.float64", PG_DTYPE, PTH_F64},
    {"torch.float16", PG_DTYPE, PTH_F16}, {"torch.bfloat16", PG_DTYPE, PTH_BF16},
    {"torch.int64", PG_DTYPE, PTH_I64}, {"torch.int32", PG_DTYPE, PTH_I32},
    {"torch.int16", PG_DTYPE, PTH_I16}, {"torch.int8", PG_DTYPE, PTH_I8},
    {"torch.uint8", PG_DTYPE, PTH_U8}, {"torch.bool", PG_DTYPE, PTH_BOOL},
};

/* ---- the heap ---- */

struct pk_chunk {
    pk_chunk *next;
    size_t used, cap;
    unsigned char data[];   /* cap bytes, 8-aligned after the three words above */
};

size_t pk_heap_budget(const pk_heap *h) { return PK_MEM_BASE + PK_MEM_PER_BYTE * h->consumed; }

bool pk_heap_charge(pk_heap *h, size_t n) {
    if (h->bytes + n > pk_heap_budget(h)) return false;
    h->bytes += n;
    return true;
}

pk_value *pk_heap_value(const pk_heap *h, int64_t i) { return &h->slabs[i / PK_SLAB][i % PK_SLAB]; }

void pk_heap_free(pk_heap *h) {
    for (int64_t i = 0; i < h->n; i++) {
        pk_value *v = pk_heap_value(h, i);
        if (v->kind == PK_LIST || v->kind == PK_DICT) free(v->items);   /* a tuple's are the arena's */
    }
    for (int64_t i = 0; i < (h->n + PK_SLAB - 1) / PK_SLAB; i++) free(h->slabs[i]);
    free(h->slabs);
    while (h->chunks) {
        pk_chunk *next = h->chunks->next;
        free(h->chunks);
        h->chunks = next;
    }
    *h = (pk_heap){0};
}

typedef struct pk_parser {
    pk_heap *heap;
    const unsigned char *p;
    size_t len, pos, op_pos;    /* op_pos: where the current opcode starts */
    const char *what, *part;
    pk_value **stack;
    int64_t sp, stack_cap;
    int64_t *marks;             /* stack heights at each MARK */
    int64_t nmarks, marks_cap;
    pk_value **memo;
    int64_t memo_cap, memo_count;
    size_t start;               /* where this pickle starts, for the heap's budget */
} pk_parser;

static status fail(pk_parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static status fail(pk_parser *ps, const char *fmt, ...) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return error_set(STATUS_FORMAT, "%s: %s: %s (at byte %zu)", ps->what, ps->part, msg, ps->op_pos);
}

static status no_memory(pk_parser *ps) {
    return error_set(STATUS_NOMEM, "%s: %s: out of memory", ps->what, ps->part);
}

/* Grows *arr (of elem-size entries, *cap of them) to hold need; false when out of memory. */
static bool grow(void **arr, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return true;
    int64_t c = *cap ? *cap : 8;
    while (c < need) c *= 2;
    void *p = realloc(*arr, (size_t)c * elem);
    if (!p) return false;
    *arr = p;
    *cap = c;
    return true;
}

/* Counts n bytes against the heap's budget, which grows with the bytes read so far. */
static bool charge(pk_parser *ps, size_t n) {
    pk_heap *h = ps->heap;
    size_t read = h->consumed + (ps->pos - ps->start);
    if (h->bytes + n <= PK_MEM_BASE + PK_MEM_PER_BYTE * read) {
        h->bytes += n;
        return true;
    }
    fail(ps, "objects would take more than the %zu MB allowed for %zu bytes of pickle (containers "
         "shared through the memo?)", (PK_MEM_BASE + PK_MEM_PER_BYTE * read) >> 20, read);
    return false;
}

/* n bytes (8-aligned) in the heap's arena; NULL after an error. */
static void *arena_take(pk_parser *ps, size_t n) {
    pk_heap *h = ps->heap;
    n = (n + 7) & ~(size_t)7;
    pk_chunk *c = h->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > PK_CHUNK / 4 ? n : PK_CHUNK;
        if (!charge(ps, sizeof *c + cap)) return NULL;
        c = malloc(sizeof *c + cap);
        if (!c) { no_memory(ps); return NULL; }
        c->used = 0;
        c->cap = cap;
        if (cap == n && h->chunks) {        /* a big one: keep the current chunk's room */
            c->next = h->chunks->next;
            h->chunks->next = c;
        } else {
            c->next = h->chunks;
            h->chunks = c;
        }
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

static pk_value *new_value(pk_parser *ps, pk_kind kind) {
    pk_heap *h = ps->heap;
    if (h->n >= PK_MAX_VALUES) { fail(ps, "more than %d objects", PK_MAX_VALUES); return NULL; }
    if (h->n % PK_SLAB == 0) {
        int64_t slab = h->n / PK_SLAB;
        if (!charge(ps, PK_SLAB * sizeof(pk_value))) return NULL;
        if (!grow((void **)&h->slabs, &h->slabs_cap, slab + 1, sizeof *h->slabs) ||
            !(h->slabs[slab] = malloc(PK_SLAB * sizeof(pk_value)))) {
            no_memory(ps);
            return NULL;
        }
    }
    pk_value *v = pk_heap_value(h, h->n++);
    *v = (pk_value){.kind = kind};
    return v;
}

/* Appends to a list or dict (items malloc'ed, growing by doubling, charged as they grow). */
static status add_item(pk_parser *ps, pk_value *c, pk_value *item) {
    if (c->n >= PK_MAX_ITEMS) return fail(ps, "a container of more than %d items", PK_MAX_ITEMS);
    if (c->n == c->cap) {
        int64_t cap = c->cap ? 2 * c->cap : 4;
        if (!charge(ps, (size_t)(cap - c->cap) * sizeof *c->items)) return STATUS_FORMAT;
        pk_value **items = realloc(c->items, (size_t)cap * sizeof *items);
        if (!items) return no_memory(ps);
        c->items = items;
        c->cap = cap;
    }
    c->items[c->n++] = item;
    return STATUS_OK;
}

/* ---- the stack, marks and memo ---- */

static status push(pk_parser *ps, pk_value *v) {
    if (!v) return error_status();
    if (ps->sp >= PK_MAX_STACK) return fail(ps, "stack deeper than %d", PK_MAX_STACK);
    if (!grow((void **)&ps->stack, &ps->stack_cap, ps->sp + 1, sizeof *ps->stack))
        return no_memory(ps);
    ps->stack[ps->sp++] = v;
    return STATUS_OK;
}

/* The stack's bottom is the last MARK's height: nothing below it may be popped. */
static int64_t stack_floor(const pk_parser *ps) { return ps->nmarks ? ps->marks[ps->nmarks - 1] : 0; }

static pk_value *pop(pk_parser *ps) {
    if (ps->sp <= stack_floor(ps)) { fail(ps, "stack underflow"); return NULL; }
    return ps->stack[--ps->sp];
}

static pk_value *top(pk_parser *ps) {
    if (ps->sp <= stack_floor(ps)) { fail(ps, "stack underflow"); return NULL; }
    return ps->stack[ps->sp - 1];
}

static status push_mark(pk_parser *ps) {
    if (ps->nmarks >= PK_MAX_MARKS) return fail(ps, "marks nested deeper than %d", PK_MAX_MARKS);
    if (!grow((void **)&ps->marks, &ps->marks_cap, ps->nmarks + 1, sizeof *ps->marks))
        return no_memory(ps);
    ps->marks[ps->nmarks++] = ps->sp;
    return STATUS_OK;
}

/* Pops the last MARK: the items above it are stack[*start .. sp). */
static status pop_mark(pk_parser *ps, int64_t *start) {
    if (ps->nmarks == 0) return fail(ps, "no MARK");
    *start = ps->marks[--ps->nmarks];
    return STATUS_OK;
}

static status memo_put(pk_parser *ps, uint64_t idx) {
    if (idx >= PK_MAX_MEMO) return fail(ps, "memo index %llu over %d", (unsigned long long)idx, PK_MAX_MEMO);
    pk_value *v = top(ps);
    if (!v) return STATUS_FORMAT;
    int64_t old = ps->memo_cap;
    if (!grow((void **)&ps->memo, &ps->memo_cap, (int64_t)idx + 1, sizeof *ps->memo)) return no_memory(ps);
    if (ps->memo_cap > old) memset(ps->memo + old, 0, sizeof *ps->memo * (size_t)(ps->memo_cap - old));
    if (!ps->memo[idx]) ps->memo_count++;
    ps->memo[idx] = v;
    return STATUS_OK;
}

static status memo_get(pk_parser *ps, uint64_t idx) {
    if (idx >= (uint64_t)ps->memo_cap || !ps->memo[idx])
        return fail(ps, "memo entry %llu was never stored", (unsigned long long)idx);
    return push(ps, ps->memo[idx]);
}

/* ---- reading arguments ---- */

static bool need(pk_parser *ps, uint64_t n) {
    if (n <= ps->len - ps->pos) return true;
    fail(ps, "truncated (an argument of %llu bytes, %zu left)", (unsigned long long)n, ps->len - ps->pos);
    return false;
}

static uint64_t read_le(pk_parser *ps, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | ps->p[ps->pos + (size_t)i];
    ps->pos += (size_t)n;
    return v;
}

/* A little-endian unsigned argument of n bytes into *v; false if truncated. */
static bool arg(pk_parser *ps, int n, uint64_t *v) {
    if (!need(ps, (uint64_t)n)) return false;
    *v = read_le(ps, n);
    return true;
}

/* ---- values ---- */

static status push_int(pk_parser *ps, int64_t i) {
    pk_value *v = new_value(ps, PK_INT);
    if (v) v->i = i;
    return push(ps, v);
}

/* LONG1 / LONG4: n bytes of two's complement, little-endian. Up to 16 bytes (the legacy
 * format's magic number takes 10). */
static status op_long(pk_parser *ps, int len_bytes) {
    uint64_t n;
    if (!arg(ps, len_bytes, &n)) return STATUS_FORMAT;
    if (n > 16) return fail(ps, "an integer of %llu bytes", (unsigned long long)n);
    if (!need(ps, n)) return STATUS_FORMAT;
    const unsigned char *b = ps->p + ps->pos;
    bool negative = n > 0 && (b[n - 1] & 0x80);
    unsigned char full[16];
    memset(full, negative ? 0xff : 0, sizeof full);
    memcpy(full, b, (size_t)n);
    ps->pos += (size_t)n;
    uint64_t lo = 0, hi = 0;
    for (int i = 7; i >= 0; i--) { lo = lo << 8 | full[i]; hi = hi << 8 | full[8 + i]; }
    bool fits = hi == (negative ? UINT64_MAX : 0) && ((lo >> 63) != 0) == negative;
    pk_value *v = new_value(ps, fits ? PK_INT : PK_BIGINT);
    if (!v) return error_status();
    v->i = (int64_t)lo;
    v->hi = hi;
    return push(ps, v);
}

static status op_float(pk_parser *ps) {
    if (!need(ps, 8)) return STATUS_FORMAT;
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++) bits = bits << 8 | ps->p[ps->pos++];   /* big-endian */
    pk_value *v = new_value(ps, PK_FLOAT);
    if (v) memcpy(&v->f, &bits, sizeof v->f);
    return push(ps, v);
}

/* A string or bytes whose length is a len_bytes-byte argument. BINSTRING's length is
 * signed; Python 2's str (BINSTRING) is read as text, as torch's legacy loader does. */
static status op_string(pk_parser *ps, int len_bytes, pk_kind kind, bool is_signed) {
    uint64_t n;
    if (!arg(ps, len_bytes, &n)) return STATUS_FORMAT;
    if (is_signed && (n & 0x80000000u)) return fail(ps, "a negative string length");
    if (n > PK_MAX_STRING) return fail(ps, "a string of %llu bytes", (unsigned long long)n);
    if (!need(ps, n)) return STATUS_FORMAT;
    pk_value *v = new_value(ps, kind);
    if (!v || !(v->s = arena_take(ps, (size_t)n + 1))) return error_status();
    memcpy(v->s, ps->p + ps->pos, (size_t)n);
    v->s[n] = 0;
    v->len = (size_t)n;
    ps->pos += (size_t)n;
    return push(ps, v);
}

static status push_simple(pk_parser *ps, pk_kind kind, int64_t i) {
    pk_value *v = new_value(ps, kind);
    if (v) v->i = i;
    return push(ps, v);
}

/* ---- containers ---- */

/* A new container of `kind` holding stack[start .. sp), which are popped. */
static status collect(pk_parser *ps, pk_kind kind, int64_t start) {
    int64_t n = ps->sp - start;
    if (kind == PK_DICT && n % 2) return fail(ps, "a dict with an odd number of items");
    if (n > PK_MAX_ITEMS) return fail(ps, "a container of more than %d items", PK_MAX_ITEMS);
    pk_value *c = new_value(ps, kind);
    if (!c) return error_status();
    if (kind == PK_TUPLE) {      /* never grows: exactly its items, in the arena */
        if (n && !(c->items = arena_take(ps, (size_t)n * sizeof *c->items))) return error_status();
        if (n) memcpy(c->items, ps->stack + start, (size_t)n * sizeof *c->items);
        c->n = n;
    } else {
        for (int64_t i = start; i < ps->sp; i++)
            if (add_item(ps, c, ps->stack[i]) != STATUS_OK) return error_status();
    }
    ps->sp = start;
    return push(ps, c);
}

static status op_tuple_n(pk_parser *ps, int n) {
    if (ps->sp - stack_floor(ps) < n) return fail(ps, "stack underflow");
    return collect(ps, PK_TUPLE, ps->sp - n);
}

static status op_from_mark(pk_parser *ps, pk_kind kind) {
    int64_t start = 0;
    if (pop_mark(ps, &start) != STATUS_OK) return STATUS_FORMAT;
    return collect(ps, kind, start);
}

/* APPEND(S) / SETITEM(S): adds stack[start .. sp) to the list or dict at stack[start - 1]. */
static status extend(pk_parser *ps, int64_t start, pk_kind kind) {
    if (start - 1 < stack_floor(ps)) return fail(ps, "stack underflow");
    pk_value *c = ps->stack[start - 1];
    if (c->kind != kind)
        return fail(ps, "%s on something that is not a %s", kind == PK_DICT ? "SETITEM" : "APPEND",
                    kind == PK_DICT ? "dict" : "list");
    if (kind == PK_DICT && (ps->sp - start) % 2) return fail(ps, "SETITEMS with an odd number of items");
    for (int64_t i = start; i < ps->sp; i++)
        if (add_item(ps, c, ps->stack[i]) != STATUS_OK) return error_status();
    ps->sp = start;
    return STATUS_OK;
}

static status op_extend_n(pk_parser *ps, int n, pk_kind kind) {
    if (ps->sp - stack_floor(ps) < n) return fail(ps, "stack underflow");
    return extend(ps, ps->sp - n, kind);
}

static status op_extend_mark(pk_parser *ps, pk_kind kind) {
    int64_t start = 0;
    if (pop_mark(ps, &start) != STATUS_OK) return STATUS_FORMAT;
    return extend(ps, start, kind);
}

/* ---- globals ---- */

/* "module.name" printed safely (a hostile name may hold any bytes). */
static void printable(char *dst, size_t cap, const char *src) {
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++) dst[i] = (src[i] >= 32 && src[i] < 127) ? src[i] : '?';
    dst[i] = 0;
}

static status push_global(pk_parser *ps, const char *module, size_t mlen, const char *name, size_t nlen) {
    char full[2 * PK_MAX_GLOBAL + 2];
    if (mlen > PK_MAX_GLOBAL || nlen > PK_MAX_GLOBAL) return fail(ps, "a global name over %d bytes", PK_MAX_GLOBAL);
    memcpy(full, module, mlen);
    full[mlen] = '.';
    memcpy(full + mlen + 1, name, nlen);
    full[mlen + 1 + nlen] = 0;
    for (size_t i = 0; i < sizeof g_globals / sizeof g_globals[0]; i++) {
        if (strlen(full) != mlen + 1 + nlen || strcmp(full, g_globals[i].name) != 0) continue;
        pk_value *v = new_value(ps, PK_GLOBAL);
        if (!v) return error_status();
        v->global = g_globals[i].kind;
        v->dtype = g_globals[i].dtype;
        v->len = mlen + 1 + nlen;
        if (!(v->s = arena_take(ps, v->len + 1))) return error_status();
        memcpy(v->s, full, v->len + 1);
        return push(ps, v);
    }
    char shown[120];
    printable(shown, sizeof shown, full);
    return error_set(STATUS_FORMAT, "%s: refusing to load '%s' (only tensors and plain containers are read)",
                     ps->what, shown);
}

/* GLOBAL: "module\nname\n" as text. */
static status op_global(pk_parser *ps) {
    const char *line[2];
    size_t n[2];
    for (int k = 0; k < 2; k++) {
        const unsigned char *s = ps->p + ps->pos;
        size_t left = ps->len - ps->pos, max = left < PK_MAX_GLOBAL + 1 ? left : PK_MAX_GLOBAL + 1;
        const unsigned char *nl = memchr(s, '\n', max);
        if (!nl) return fail(ps, "GLOBAL without a newline within %d bytes", PK_MAX_GLOBAL);
        line[k] = (const char *)s;
        n[k] = (size_t)(nl - s);
        ps->pos += n[k] + 1;
    }
    return push_global(ps, line[0], n[0], line[1], n[1]);
}

static status op_stack_global(pk_parser *ps) {
    pk_value *name = pop(ps), *module = name ? pop(ps) : NULL;
    if (!module) return STATUS_FORMAT;
    if (name->kind != PK_STR || module->kind != PK_STR) return fail(ps, "STACK_GLOBAL of non-strings");
    return push_global(ps, module->s, module->len, name->s, name->len);
}

/* ---- the few calls: OrderedDict and torch's rebuild functions ---- */

static bool is_uint(const pk_value *v) { return v->kind == PK_INT && v->i >= 0; }

/* A tuple of ndim non-negative ints into out; false otherwise. */
static bool get_dims(const pk_value *t, int64_t *out, int *ndim) {
    if (t->kind != PK_TUPLE || t->n > PTH_MAX_DIMS) return false;
    for (int64_t i = 0; i < t->n; i++) {
        if (!is_uint(t->items[i])) return false;
        out[i] = t->items[i]->i;
    }
    *ndim = (int)t->n;
    return true;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks
 * [, metadata]) or the older _rebuild_tensor(storage, storage_offset, size, stride). */
static pk_value *rebuild_tensor(pk_parser *ps, const pk_value *args, bool v2) {
    int64_t n = args->n;
    if (v2 ? (n != 6 && n != 7) : n != 4) { fail(ps, "a tensor rebuilt from %lld arguments", (long long)n); return NULL; }
    pk_value **a = args->items;
    int nd_stride;
    pk_value *t = new_value(ps, PK_TENSOR);
    if (!t || !(t->size = arena_take(ps, 2 * PTH_MAX_DIMS * sizeof *t->size))) return NULL;
    t->stride = t->size + PTH_MAX_DIMS;
    if (a[0]->kind != PK_STORAGE || !is_uint(a[1]) || !get_dims(a[2], t->size, &t->ndim) ||
        !get_dims(a[3], t->stride, &nd_stride) || nd_stride != t->ndim) {
        fail(ps, "a tensor with a malformed storage, offset, size or stride");
        return NULL;
    }
    t->storage = a[0];
    t->offset = a[1]->i;
    return t;
}

/* OrderedDict() or, as Python 2 pickled it, OrderedDict([[key, value], ...]). */
static pk_value *ordered_dict(pk_parser *ps, const pk_value *args) {
    pk_value *d = new_value(ps, PK_DICT);
    if (!d || args->n == 0) return d;
    const pk_value *items = args->items[0];
    if (args->n != 1 || (items->kind != PK_LIST && items->kind != PK_TUPLE)) {
        fail(ps, "OrderedDict called with arguments other than a list of pairs");
        return NULL;
    }
    for (int64_t i = 0; i < items->n; i++) {
        const pk_value *pair = items->items[i];
        if ((pair->kind != PK_LIST && pair->kind != PK_TUPLE) || pair->n != 2) {
            fail(ps, "OrderedDict item %lld is not a pair", (long long)i);
            return NULL;
        }
        if (add_item(ps, d, pair->items[0]) != STATUS_OK || add_item(ps, d, pair->items[1]) != STATUS_OK)
            return NULL;
    }
    return d;
}

static pk_value *apply(pk_parser *ps, const pk_value *fn, const pk_value *args) {
    if (fn->kind != PK_GLOBAL || args->kind != PK_TUPLE) { fail(ps, "a call of something not callable"); return NULL; }
    switch (fn->global) {
    case PG_ORDERED_DICT: return ordered_dict(ps, args);
    case PG_REBUILD_TENSOR_V2: return rebuild_tensor(ps, args, true);
    case PG_REBUILD_TENSOR: return rebuild_tensor(ps, args, false);
    case PG_REBUILD_PARAMETER:               /* (data, requires_grad, backward_hooks) */
    case PG_REBUILD_PARAMETER_STATE:         /* (..., state) */
        if (args->n != (fn->global == PG_REBUILD_PARAMETER ? 3 : 4) || args->items[0]->kind != PK_TENSOR) {
            fail(ps, "a parameter rebuilt from unexpected arguments");
            return NULL;
        }
        return args->items[0];
    default:
        fail(ps, "'%s' called", fn->s);
        return NULL;
    }
}

/* REDUCE (callable, args) and NEWOBJ (class, args). */
static status op_call(pk_parser *ps, bool newobj) {
    pk_value *args = pop(ps), *fn = args ? pop(ps) : NULL;
    if (!fn) return STATUS_FORMAT;
    if (newobj && !(fn->kind == PK_GLOBAL && fn->global == PG_ORDERED_DICT))
        return fail(ps, "NEWOBJ of something other than OrderedDict");
    return push(ps, apply(ps, fn, args));
}

/* BUILD: sets an object's state. A state dict (an OrderedDict) carries _metadata this way;
 * a tensor may carry Python attributes. Both are ignored. */
static status op_build(pk_parser *ps) {
    pk_value *state = pop(ps), *obj = state ? top(ps) : NULL;
    if (!obj) return STATUS_FORMAT;
    if (obj->kind != PK_DICT && obj->kind != PK_TENSOR) return fail(ps, "BUILD on something other than a dict");
    return STATUS_OK;
}

/* ---- persistent ids: torch's storages ---- */

/* ('storage', storage_type, key, location, numel) in the zip format; the legacy format adds
 * view_metadata: None or (view_key, offset, numel) of a view into the storage. */
static status storage_from(pk_parser *ps, pk_value *pid, pk_value *v) {
    pk_value **a = pid->items;
    if ((pid->n != 5 && pid->n != 6) || a[1]->kind != PK_GLOBAL || a[1]->global != PG_STORAGE_TYPE ||
        a[2]->kind != PK_STR || a[2]->len > 200 || a[3]->kind != PK_STR || !is_uint(a[4]))
        return fail(ps, "a malformed storage reference");
    v->dtype = a[1]->dtype;
    v->s = a[2]->s;             /* the heap's, like v */
    v->len = strlen(v->s);
    v->numel = a[4]->i;
    v->view_numel = -1;
    if (pid->n == 6 && a[5]->kind != PK_NONE) {
        const pk_value *m = a[5];
        if (m->kind != PK_TUPLE || m->n != 3 || !is_uint(m->items[1]) || !is_uint(m->items[2]) ||
            m->items[1]->i > v->numel || m->items[2]->i > v->numel - m->items[1]->i)
            return fail(ps, "a malformed storage view");
        v->view_offset = m->items[1]->i;
        v->view_numel = m->items[2]->i;
    }
    return STATUS_OK;
}

static status op_persid(pk_parser *ps) {
    pk_value *pid = pop(ps);
    if (!pid) return STATUS_FORMAT;
    if (pid->kind != PK_TUPLE || pid->n < 1 || pid->items[0]->kind != PK_STR)
        return fail(ps, "a persistent id that is not a tuple");
    if (strcmp(pid->items[0]->s, "module") == 0)
        return error_set(STATUS_FORMAT, "%s: the file holds a whole nn.Module (its class is pickled), "
                         "not tensors; save model.state_dict() instead", ps->what);
    if (strcmp(pid->items[0]->s, "storage") != 0) return fail(ps, "a persistent id of unknown type");
    pk_value *v = new_value(ps, PK_STORAGE);
    if (!v || storage_from(ps, pid, v) != STATUS_OK) return error_status();
    return push(ps, v);
}

/* ---- the loop ---- */

static status op_memo(pk_parser *ps, int op) {
    uint64_t idx;
    switch (op) {
    case 'q': return arg(ps, 1, &idx) ? memo_put(ps, idx) : STATUS_FORMAT;     /* BINPUT */
    case 'r': return arg(ps, 4, &idx) ? memo_put(ps, idx) : STATUS_FORMAT;     /* LONG_BINPUT */
    case 'h': return arg(ps, 1, &idx) ? memo_get(ps, idx) : STATUS_FORMAT;     /* BINGET */
    case 'j': return arg(ps, 4, &idx) ? memo_get(ps, idx) : STATUS_FORMAT;     /* LONG_BINGET */
    default: return memo_put(ps, (uint64_t)ps->memo_count);                     /* MEMOIZE */
    }
}

static status op_int(pk_parser *ps, int op) {
    uint64_t v;
    switch (op) {
    case 'J': return arg(ps, 4, &v) ? push_int(ps, (int32_t)(uint32_t)v) : STATUS_FORMAT;  /* BININT */
    case 'K': return arg(ps, 1, &v) ? push_int(ps, (int64_t)v) : STATUS_FORMAT;            /* BININT1 */
    case 'M': return arg(ps, 2, &v) ? push_int(ps, (int64_t)v) : STATUS_FORMAT;            /* BININT2 */
    case 0x8a: return op_long(ps, 1);                                                      /* LONG1 */
    default: return op_long(ps, 4);                                                        /* LONG4 */
    }
}

/* Runs one opcode; *done at STOP. */
static status step(pk_parser *ps, bool *done) {
    uint64_t v;
    ps->op_pos = ps->pos;
    if (ps->pos >= ps->len) return fail(ps, "truncated (no STOP)");
    int op = ps->p[ps->pos++];
    switch (op) {
    case 0x80: return arg(ps, 1, &v) && v <= 5 ? STATUS_OK : fail(ps, "unknown protocol");  /* PROTO */
    case 0x95: return arg(ps, 8, &v) ? STATUS_OK : STATUS_FORMAT;        /* FRAME: a size hint */
    case '.': *done = true; return STATUS_OK;                            /* STOP */
    case '(': return push_mark(ps);                                      /* MARK */
    case '}': return push_simple(ps, PK_DICT, 0);                        /* EMPTY_DICT */
    case ']': return push_simple(ps, PK_LIST, 0);                        /* EMPTY_LIST */
    case ')': return push_simple(ps, PK_TUPLE, 0);                       /* EMPTY_TUPLE */
    case 't': return op_from_mark(ps, PK_TUPLE);                         /* TUPLE */
    case 0x85: case 0x86: case 0x87: return op_tuple_n(ps, op - 0x84);   /* TUPLE1..3 */
    case 'd': return op_from_mark(ps, PK_DICT);                          /* DICT */
    case 'l': return op_from_mark(ps, PK_LIST);                          /* LIST */
    case 's': return op_extend_n(ps, 2, PK_DICT);                        /* SETITEM */
    case 'u': return op_extend_mark(ps, PK_DICT);                        /* SETITEMS */
    case 'a': return op_extend_n(ps, 1, PK_LIST);                        /* APPEND */
    case 'e': return op_extend_mark(ps, PK_LIST);                        /* APPENDS */
    case 'J': case 'K': case 'M': case 0x8a: case 0x8b: return op_int(ps, op);
    case 'G': return op_float(ps);                                       /* BINFLOAT */
    case 'N': return push_simple(ps, PK_NONE, 0);                        /* NONE */
    case 0x88: case 0x89: return push_simple(ps, PK_BOOL, op == 0x88);   /* NEWTRUE, NEWFALSE */
    case 'X': return op_string(ps, 4, PK_STR, false);                    /* BINUNICODE */
    case 0x8c: return op_string(ps, 1, PK_STR, false);                   /* SHORT_BINUNICODE */
    case 0x8d: return op_string(ps, 8, PK_STR, false);                   /* BINUNICODE8 */
    case 'T': return op_string(ps, 4, PK_STR, true);                     /* BINSTRING */
    case 'U': return op_string(ps, 1, PK_STR, false);                    /* SHORT_BINSTRING */
    case 'B': return op_string(ps, 4, PK_BYTES, false);                  /* BINBYTES */
    case 'C': return op_string(ps, 1, PK_BYTES, false);                  /* SHORT_BINBYTES */
    case 0x8e: return op_string(ps, 8, PK_BYTES, false);                 /* BINBYTES8 */
    case 'q': case 'r': case 'h': case 'j': case 0x94: return op_memo(ps, op);
    case 'c': return op_global(ps);                                      /* GLOBAL */
    case 0x93: return op_stack_global(ps);                               /* STACK_GLOBAL */
    case 'R': return op_call(ps, false);                                 /* REDUCE */
    case 0x81: return op_call(ps, true);                                 /* NEWOBJ */
    case 'b': return op_build(ps);                                       /* BUILD */
    case 'Q': return op_persid(ps);                                      /* BINPERSID */
    case '0': return pop(ps) ? STATUS_OK : STATUS_FORMAT;                /* POP */
    case '2': return push(ps, top(ps));                                  /* DUP */
    default:
        return fail(ps, "opcode 0x%02x is not one torch.save writes for tensors", op);
    }
}

status pk_load(pk_heap *h, const unsigned char *p, size_t len, size_t *pos, const char *what,
               const char *part, pk_value **out) {
    pk_parser ps = {.heap = h, .p = p, .len = len, .pos = *pos, .what = what, .part = part, .start = *pos};
    bool done = false;
    status s = STATUS_OK;
    while (s == STATUS_OK && !done) s = step(&ps, &done);
    if (s == STATUS_OK && (ps.sp != 1 || ps.nmarks != 0))
        s = fail(&ps, "STOP with %lld values and %lld marks on the stack", (long long)ps.sp,
                 (long long)ps.nmarks);
    if (s == STATUS_OK) {
        *out = ps.stack[0];
        *pos = ps.pos;
    }
    h->consumed += ps.pos - ps.start;
    free(ps.stack);
    free(ps.marks);
    free(ps.memo);
    return s;
}
