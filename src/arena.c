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
    /* Keep one chunk big enough for everything the arena held, so a training loop's next
     * step fits in memory already mapped (no page faults, no malloc per step). A step that
     * needed several chunks is merged into one now; after that, reset frees nothing. */
    size_t total = 0;
    int chunks = 0;
    for (chunk *c = a->head; c; c = c->next) { total += c->size; chunks++; }
    if (chunks > 1) {
        for (chunk *c = a->head, *next; c; c = next) {
            next = c->next;
            free(c->data);
            free(c);
        }
        a->head = chunk_new(total);
        if (!a->head) a->head = chunk_new(a->chunk_size);  /* smaller, but still an arena */
        ATELIER_ASSERT(a->head != NULL);
    }
    a->head->used = 0;
    a->head->next = NULL;
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
