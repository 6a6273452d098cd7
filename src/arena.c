/* arena.c: bump allocation through a list of chunks (see arena.h). */
#include "atelier/arena.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/error.h"

#define ARENA_ALIGN 64

typedef struct chunk {
    struct chunk *next;
    size_t size, used;   /* bytes of data[], bytes handed out */
    unsigned char *data; /* ARENA_ALIGN-aligned */
} chunk;

struct arena {
    chunk *head;          /* the chunk being filled; older ones follow */
    size_t chunk_size;
    size_t used, peak;
};

static chunk *chunk_new(size_t size) {
    chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->data = aligned_alloc(ARENA_ALIGN, (size + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN);
    if (!c->data) { free(c); return NULL; }
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

arena *arena_new(size_t chunk_size) {
    arena *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->chunk_size = chunk_size < 4096 ? 4096 : chunk_size;
    a->head = chunk_new(a->chunk_size);
    if (!a->head) { free(a); return NULL; }
    return a;
}

void *arena_alloc(arena *a, size_t bytes) {
    size_t need = (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (need == 0) need = ARENA_ALIGN;
    if (a->head->used + need > a->head->size) {
        /* a fresh chunk in front; a big request gets a chunk of its own size */
        chunk *c = chunk_new(need > a->chunk_size ? need : a->chunk_size);
        if (!c) {
            error_set(STATUS_NOMEM, "out of memory allocating %zu bytes", bytes);
            return NULL;
        }
        c->next = a->head;
        a->head = c;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += need;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    memset(p, 0, need);
    return p;
}

void arena_reset(arena *a) {
    /* keep one chunk of the standard size (the oldest), free the rest */
    chunk *c = a->head, *keep = NULL;
    while (c) {
        chunk *next = c->next;
        if (!next && c->size == a->chunk_size) keep = c;
        else { free(c->data); free(c); }
        c = next;
    }
    if (!keep) keep = chunk_new(a->chunk_size);
    ATELIER_ASSERT(keep != NULL);
    keep->used = 0;
    keep->next = NULL;
    a->head = keep;
    a->used = 0;
}

void arena_free(arena *a) {
    if (!a) return;
    for (chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c->data);
        free(c);
    }
    free(a);
}

size_t arena_used(const arena *a) { return a->used; }
size_t arena_peak(const arena *a) { return a->peak; }
