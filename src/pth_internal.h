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
struct pk_value {
    pk_kind kind;
    int64_t i;              /* BOOL, INT; BIGINT: the low 64 bits */
    uint64_t hi;            /* BIGINT: bits 64..127 (LONG1 of 9..16 bytes, sign-extended) */
    double f;               /* FLOAT */
    char *s;                /* STR (NUL-terminated), BYTES; GLOBAL: "module.name" */
    size_t len;             /* STR, BYTES */
    pk_value **items;       /* TUPLE, LIST, DICT */
    int64_t n, cap;         /* items used (a dict's pairs count twice), allocated */
    pk_global global;       /* GLOBAL */
    pth_dtype_id dtype;     /* GLOBAL of a storage type or dtype; STORAGE */
    /* STORAGE: key (in s), numel; a legacy view is [view_offset, view_offset + view_numel);
     * i: the index of its storage in pth.c's table (set there) */
    int64_t numel, view_offset, view_numel;   /* view_numel -1: the whole storage */
    /* TENSOR */
    pk_value *storage;
    int64_t offset;         /* in elements */
    int ndim;
    int64_t *size, *stride;  /* (ndim) each, one allocation at size: most values are not tensors */
};

typedef struct pk_heap {
    pk_value **all;         /* every value made, for freeing */
    int64_t n, cap;
} pk_heap;

void pk_heap_free(pk_heap *h);

/* Unpickles one pickle starting at p[*pos] (bytes up to len), refusing anything outside
 * the whitelist. On success *out is the object and *pos is just past STOP. `what` and
 * `part` name the file and the pickle in messages ("model.pth", "data.pkl"). */
status pk_load(pk_heap *h, const unsigned char *p, size_t len, size_t *pos, const char *what,
               const char *part, pk_value **out);

#endif
