/* dnnl_util.c: engine, stream, reorders, scratch and the reordered-weight cache (see
 * dnnl_util.h). */
#include "cpu/dnnl_util.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static dnnl_engine_t g_engine;
static dnnl_stream_t g_stream;
static bool g_tried;

static struct { void *p; size_t bytes; } g_scratch[CPU_DNNL_SLOTS];

/* Reordered weights: WCACHE_MAX entries, least recently used replaced first. VGG-19 has 16
 * convolutions, each wanting up to two layouts (forward, backward-data). */
enum { WCACHE_MAX = 64 };
typedef struct wcache_entry {
    const float *w;            /* the user's buffer: the key with md */
    dnnl_memory_desc_t md;     /* the layout of data */
    uint64_t hash;             /* of w's contents when data was made */
    void *data;
    uint64_t last_use;
} wcache_entry;
static wcache_entry g_wcache[WCACHE_MAX];
static uint64_t g_tick;

static void util_free(void) {
    for (int i = 0; i < WCACHE_MAX; i++) free(g_wcache[i].data);
    memset(g_wcache, 0, sizeof g_wcache);
    for (int i = 0; i < CPU_DNNL_SLOTS; i++) free(g_scratch[i].p);
    memset(g_scratch, 0, sizeof g_scratch);
    if (g_stream) dnnl_stream_destroy(g_stream);
    if (g_engine) dnnl_engine_destroy(g_engine);
    g_stream = NULL;
    g_engine = NULL;
}

dnnl_engine_t cpu_dnnl_engine(void) {
    if (g_tried) return g_engine;
    g_tried = true;
    if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) != dnnl_success) {
        g_engine = NULL;
        return NULL;
    }
    if (dnnl_stream_create(&g_stream, g_engine, dnnl_stream_default_flags) != dnnl_success) {
        dnnl_engine_destroy(g_engine);
        g_engine = NULL;
        return NULL;
    }
    atexit(util_free);
    return g_engine;
}

dnnl_stream_t cpu_dnnl_stream(void) { return cpu_dnnl_engine() ? g_stream : NULL; }

dnnl_primitive_t cpu_dnnl_reorder_new(const dnnl_memory_desc_t *from,
                                      const dnnl_memory_desc_t *to, bool add) {
    dnnl_engine_t eng = cpu_dnnl_engine();
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t r = NULL;
    if (!eng) return NULL;
    if (add && (dnnl_primitive_attr_create(&attr) != dnnl_success ||
                dnnl_post_ops_create(&po) != dnnl_success ||
                dnnl_post_ops_append_sum(po, 1.0f) != dnnl_success ||
                dnnl_primitive_attr_set_post_ops(attr, po) != dnnl_success))
        goto done;
    if (dnnl_reorder_primitive_desc_create(&pd, from, eng, to, eng, attr) != dnnl_success) {
        pd = NULL;
        goto done;
    }
    if (dnnl_primitive_create(&r, pd) != dnnl_success) r = NULL;
done:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return r;
}

bool cpu_dnnl_reorder_run(dnnl_primitive_t r, dnnl_memory_t mem_from, const void *from,
                          dnnl_memory_t mem_to, void *to) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, mem_from}, {DNNL_ARG_TO, mem_to}};
    return dnnl_memory_set_data_handle(mem_from, (void *)from) == dnnl_success &&
           dnnl_memory_set_data_handle(mem_to, to) == dnnl_success &&
           dnnl_primitive_execute(r, g_stream, 2, args) == dnnl_success &&
           dnnl_stream_wait(g_stream) == dnnl_success;
}

void *cpu_dnnl_scratch(int slot, size_t bytes) {
    if (g_scratch[slot].bytes >= bytes) return g_scratch[slot].p;
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded);
    if (!p) return NULL;
    free(g_scratch[slot].p);
    g_scratch[slot].p = p;
    g_scratch[slot].bytes = rounded;
    return p;
}

/* ---- the hash that tells an unchanged weight from an updated one ----
 * Each step h = (h ^ word) * K, h ^= h >> 32 is a bijection of h for a fixed word, so
 * changing any one word always changes its lane's final state; several changes collide
 * with probability ~2^-64. Four lanes keep the multiplies independent (the hash reads at
 * memory speed), and fixed-size chunks hashed in parallel then combined in order make the
 * result independent of the thread count. */

static uint64_t mix(uint64_t h, uint64_t v) {
    h = (h ^ v) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 32);
}

static uint64_t hash_chunk(const unsigned char *p, size_t bytes) {
    uint64_t h[4] = {1, 2, 3, 4};
    size_t i = 0;
    for (; i + 32 <= bytes; i += 32) {
        uint64_t v[4];
        memcpy(v, p + i, 32);
        for (int l = 0; l < 4; l++) h[l] = mix(h[l], v[l]);
    }
    for (; i < bytes; i++) h[0] = mix(h[0], p[i]);
    return mix(mix(mix(mix(bytes, h[0]), h[1]), h[2]), h[3]);
}

static uint64_t hash_bytes(const void *p, size_t bytes) {
    enum { CHUNKS = 64 };
    size_t chunk = (bytes / CHUNKS + 255) / 256 * 256;
    if (chunk < (1u << 16)) chunk = 1u << 16;
    int nchunks = (int)((bytes + chunk - 1) / chunk);
    uint64_t part[CHUNKS + 1];
    #pragma omp parallel for schedule(static) if (nchunks > 1)
    for (int c = 0; c < nchunks; c++) {
        size_t off = (size_t)c * chunk, len = bytes - off < chunk ? bytes - off : chunk;
        part[c] = hash_chunk((const unsigned char *)p + off, len);
    }
    uint64_t h = bytes;
    for (int c = 0; c < nchunks; c++) h = mix(h, part[c]);
    return h;
}

const void *cpu_dnnl_weights(const float *w, size_t count, dnnl_memory_t mem_plain,
                             const dnnl_memory_desc_t *prim_md, dnnl_memory_t mem_prim,
                             dnnl_primitive_t reorder) {
    uint64_t hash = hash_bytes(w, count * sizeof(float));
    wcache_entry *e = NULL, *victim = &g_wcache[0];
    for (int i = 0; i < WCACHE_MAX && !e; i++) {
        wcache_entry *c = &g_wcache[i];
        if (c->data && c->w == w && dnnl_memory_desc_equal(&c->md, prim_md)) e = c;
        else if (!c->data || (victim->data && c->last_use < victim->last_use)) victim = c;
    }
    if (e && e->hash == hash) {
        e->last_use = ++g_tick;
        return e->data;
    }
    if (!e) {  /* a new entry in the least recently used slot */
        e = victim;
        free(e->data);
        e->data = aligned_alloc(64, (dnnl_memory_desc_get_size(prim_md) + 63) / 64 * 64);
        e->w = w;
        e->md = *prim_md;
        if (!e->data) return NULL;
    }
    e->hash = hash;
    e->last_use = ++g_tick;
    if (!cpu_dnnl_reorder_run(reorder, mem_plain, w, mem_prim, e->data)) {
        free(e->data);
        e->data = NULL;
        return NULL;
    }
    return e->data;
}
