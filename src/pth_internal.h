/* pth_internal.h: what pth.c (the containers and the tensor table) and pth_pickle.c (the
 * restricted unpickler) share. See pth.h for the formats.
 *
 * The unpickler builds a tree of pk_value nodes, all owned by one pk_heap (several pickles of
 * one legacy file share it). It knows no Python: containers are tuples, lists and dicts
 * (an OrderedDict is a dict), whitelisted globals are inert tags, and the only "calls" it
 * performs are the few torch rebuild functions, which it evaluates itself into PK_TENSOR
 * nodes. Persistent ids become PK_STORAGE nodes: a storage by key, bytes found later.
 */
#ifndef ATELIER_PTH_INTERNAL_H
#define ATELIER_PTH_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "atelier/error.h"

#define PTH_MAX_DIMS 8

/* Element types of torch storages, as safetensors names them. */
typedef enum pth_dtype_id {
    PTH_F32, PTH_F64, PTH_F16, PTH_BF16, PTH_I64, PTH_I32, PTH_I16, PTH_I8, PTH_U8, PTH_BOOL,
    PTH_NDTYPES
} pth_dtype_id;
const char *pth_dtype_name(pth_dtype_id d);   /* "F32", ... */
int pth_dtype_size(pth_dtype_id d);           /* bytes per element */

typedef enum pk_kind {
    PK_NONE, PK_BOOL, PK_INT, PK_BIGINT, PK_FLOAT, PK_STR, PK_BYTES,
    PK_TUPLE, PK_LIST, PK_DICT,   /* items: tuple and list elements; dict: key, value, ... */
    PK_GLOBAL,                    /* a whitelisted name (global below) */
    PK_STORAGE,                   /* a persistent id ('storage', type, key, location, numel[, view]) */
    PK_TENSOR,                    /* a _rebuild_tensor(_v2) result (a Parameter is its tensor) */
} pk_kind;

typedef enum pk_global {
    PG_ORDERED_DICT, PG_REBUILD_TENSOR_V2, PG_REBUILD_TENSOR, PG_REBUILD_PARAMETER,
    PG_REBUILD_PARAMETER_STATE, PG_STORAGE_TYPE, PG_DTYPE,
} pk_global;

typedef struct pk_value pk_value;
/* 64 bytes: a hostile pickle makes one value per byte ("\x85", TUPLE1, wraps the top of the
 * stack in a new tuple), so the size of a value is the constant in the memory bound. Only
 * the fields of a value's kind may be read. */
struct pk_value {
    pk_kind kind;
    pk_global global;       /* GLOBAL */
    pth_dtype_id dtype;     /* GLOBAL of a storage type or dtype; STORAGE */
    int ndim;               /* TENSOR */
    char *s;                /* STR (NUL-terminated), BYTES; GLOBAL: "module.name"; STORAGE: key */
    size_t len;             /* STR, BYTES, STORAGE */
    union {
        struct { int64_t i; uint64_t hi; };     /* BOOL, INT; BIGINT: bits 0..63, 64..127 */
        double f;                               /* FLOAT */
        /* TUPLE, LIST, DICT: items used (a dict's pairs count twice) and allocated; cap 0:
         * a tuple's items, in the heap's arena */
        struct { pk_value **items; int64_t n, cap; };
        /* STORAGE: a legacy view is [view_offset, view_offset + view_numel); -1: whole */
        struct { int64_t numel, view_offset, view_numel; };
        /* TENSOR: offset in elements; size and stride (ndim) each, in the heap's arena */
        struct { pk_value *storage; int64_t offset; int64_t *size, *stride; };
    };
};

typedef struct pk_chunk pk_chunk;

/* Every value of a file, and the strings, shapes and tuples they point to, in slabs and
 * chunks freed together. `bytes` counts what the heap holds against a budget of
 * PK_MEM_BASE + PK_MEM_PER_BYTE bytes per pickle byte read (`consumed`, over all the
 * pickles of a file): whatever opcodes a pickle holds, memory stays proportional to it. */
typedef struct pk_heap {
    pk_value **slabs;       /* PK_SLAB values each */
    int64_t n, slabs_cap;   /* values made */
    pk_chunk *chunks;       /* bump allocation; the first has room */
    size_t bytes, consumed;
} pk_heap;

#define PK_MEM_BASE ((size_t)16 << 20)
#define PK_MEM_PER_BYTE 64

/* The heap's budget for consumed pickle bytes. */
size_t pk_heap_budget(const pk_heap *h);
/* Counts n more bytes held outside the heap for the file (pth.c's tensor names): false,
 * and nothing counted, when that would pass the budget. */
bool pk_heap_charge(pk_heap *h, size_t n);
pk_value *pk_heap_value(const pk_heap *h, int64_t i);   /* i < h->n, in order made */
void pk_heap_free(pk_heap *h);

/* Unpickles one pickle starting at p[*pos] (bytes up to len), refusing anything outside
 * the whitelist. On success *out is the object and *pos is just past STOP. `what` and
 * `part` name the file and the pickle in messages ("model.pth", "data.pkl"). */
status pk_load(pk_heap *h, const unsigned char *p, size_t len, size_t *pos, const char *what,
               const char *part, pk_value **out);

#endif
