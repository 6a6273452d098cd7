/* cpu_conv.c: conv2d and conv_transpose2d on oneDNN (contracts in backend.h, specification
 * in ref/ref_conv.c).
 *
 * As in the reference, both ops are one set of connections between a small tensor S and a
 * large one L through W (SC, LC/groups, KH, KW), so each of the eight kernels is one of
 * oneDNN's three convolution primitives, with S as the convolution's dst and L as its src:
 *
 *   FWD          S = W * L (+ bias)   conv2d forward, conv_transpose2d dx
 *   BWD_DATA     L = W^T S            conv2d dx,      conv_transpose2d forward
 *   BWD_WEIGHTS  dW from S and L      conv2d dw,      conv_transpose2d dw
 *
 * Our conv_transpose2d weight (C, OC/groups, KH, KW) is then exactly the convolution's
 * (O, I/groups, KH, KW) ("goihw"), so no weight permutation is needed, and oneDNN's
 * deconvolution (itself a backward-data convolution) is not used.
 *
 * Each problem (direction + geometry) gets its primitive created once, with
 * dnnl_format_tag_any so oneDNN picks its blocked layouts; our plain nchw/oihw buffers are
 * reordered into them only when they differ, weights through a cache that rehashes the
 * buffer's contents each call (dnnl_util.h). Gradients are ADDED (backend.h): oneDNN
 * writes a scratch buffer that a reorder with a sum post-op adds into ours. Bias gradients
 * and the transposed convolution's bias are plain OpenMP loops.
 *
 * Any oneDNN failure (a shape it does not support) runs the reference kernel instead, so a
 * result is always correct. A global mutex serialises the kernels, as the caches are
 * shared. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cpu/cpu.h"
#include "cpu/dnnl_util.h"
#include "ref/ref.h"

typedef enum conv_dir { DIR_FWD, DIR_BWD_DATA, DIR_BWD_WEIGHTS } conv_dir;
enum { ROLE_L, ROLE_W, ROLE_S, ROLE_B, ROLE_COUNT };
enum { SLOT_PAD = ROLE_COUNT };   /* cpu_dnnl_scratch slots: one per role, then the scratchpad */

/* All ints and no padding, so keys compare with memcmp. pr = right/bottom padding. */
typedef struct conv_key {
    int dir, bias, bf16;  /* bf16: inputs in bfloat16, outputs and accumulation in float32 */
    int wino;             /* Winograd wanted (winograd_fits): tried first, direct if refused */
    int relu;             /* forward only: a ReLU post-op fused into the convolution */
    int n, groups, sc, sh, sw, lc, lh, lw, kh, kw;
    int st_h, st_w, dil_h, dil_w, pl_h, pl_w, pr_h, pr_w;
} conv_key;

/* One tensor argument of a primitive: our plain layout, oneDNN's, and the reorders between
 * them (made when first needed). */
typedef struct conv_role {
    bool used, same;                  /* same: oneDNN uses our layout, no reorder */
    int block;                        /* 16 or 8: oneDNN's layout is nChw16c / nChw8c */
    int arg;                          /* DNNL_ARG_* */
    dnnl_memory_desc_t user_md, prim_md;
    dnnl_memory_t user_mem, prim_mem; /* handles set per call */
    dnnl_primitive_t to_prim, from_prim, from_prim_add;
} conv_role;

typedef enum entry_state { ENTRY_EMPTY, ENTRY_OK, ENTRY_FAILED } entry_state;

typedef struct conv_entry {
    conv_key key;
    entry_state state;  /* FAILED: oneDNN refused the problem; remembered so as not to retry */
    uint64_t last_use;
    dnnl_primitive_t prim;
    char impl[32];        /* oneDNN's name for the implementation, e.g. "jit_wino_4x3:avx512_core" */
    size_t pad_bytes;     /* its scratchpad (Winograd's transformed tiles), in slot SLOT_PAD */
    dnnl_memory_t pad_mem;
    conv_role r[ROLE_COUNT];
} conv_entry;

/* VGG-19 needs 16 convolutions x 3 directions; least recently used replaced first. */
enum { CACHE_MAX = 128 };
static conv_entry g_cache[CACHE_MAX];
static uint64_t g_tick;
static bool g_atexit;

/* The input reordered into each scratch slot during the current kernel call: conv2d's
 * backward reorders dy once for both backward-data and backward-weights. Cleared at the
 * start of every kernel (the buffer's contents may change between calls). */
static struct { const float *p; dnnl_memory_desc_t md; bool valid; } g_memo[ROLE_COUNT];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- the problems ---- */

/* Winograd F(4x4, 3x3) does a 3x3 convolution with 4x fewer multiplications than the
 * direct method: 1.8x less time for a VGG-19 style step on this machine, at float32 errors
 * of ~1e-6 relative to the outputs' scale (the transforms round; tests/test_cpu_conv.c
 * bounds it). It needs a scratchpad of transformed tiles that grows with the layer (150 MB
 * for 128 channels at 256x256), so it is used only where that stays within
 * WINO_MAX_SCRATCH: for 3x3, stride 1, undilated, ungrouped float32 convolutions with at
 * least 16 channels on both sides (on 3-channel images the direct kernel is faster).
 * ATELIER_WINOGRAD=0 in the environment, or backend_set_winograd(false), turns it off. */
enum { WINO_MAX_SCRATCH = 96 << 20 };
static int g_wino = -1;   /* -1: not read from the environment yet */

void cpu_conv_set_winograd(bool on) { g_wino = on; }

bool cpu_conv_winograd(void) {
    if (g_wino < 0) {
        const char *e = getenv("ATELIER_WINOGRAD");
        g_wino = !(e && !strcmp(e, "0"));
    }
    return g_wino;
}

static conv_key winograd_fits(conv_key k) {
    k.wino = cpu_conv_winograd() && !k.bf16 && k.kh == 3 && k.kw == 3 && k.st_h == 1 && k.st_w == 1 &&
             k.dil_h == 1 && k.dil_w == 1 && k.groups == 1 && k.lc >= 16 && k.sc >= 16;
    return k;
}

/* conv2d: S = y (N, OC, OH, OW), L = x (N, C, H, W); symmetric padding (OH's floor
 * division matches oneDNN's own). */
static conv_key key_conv(const conv2d_params *p, conv_dir dir, bool bias, bool bf16) {
    return winograd_fits((conv_key){dir, bias, bf16, 0, dir == DIR_FWD && p->relu, p->n, p->groups, p->oc, p->oh, p->ow,
                                    p->c, p->h, p->w, p->kh, p->kw, p->stride_h, p->stride_w, p->dil_h, p->dil_w,
                                    p->pad_h, p->pad_w, p->pad_h, p->pad_w});
}

/* The right padding that makes oneDNN's (L - K_range + pl + pr) / stride + 1 equal S's
 * size for conv_transpose2d, whose out_pad adds L rows that no S element reaches: the
 * smallest reduction of pad that absorbs out_pad beyond stride - 1. Negative values that
 * oneDNN refuses (stride 1 with out_pad > pad, allowed by dilation) fall back to ref. */
static int transpose_pad_r(int pad, int out_pad, int stride) {
    int over = out_pad - (stride - 1);
    return over > 0 ? pad - over : pad;
}

/* conv_transpose2d: S = x (N, C, H, W), L = y (N, OC, OH, OW). */
static conv_key key_transpose(const conv2d_params *p, conv_dir dir, bool bf16) {
    return winograd_fits((conv_key){dir, 0, bf16, 0, 0, p->n, p->groups, p->c, p->h, p->w, p->oc, p->oh, p->ow,
                                    p->kh, p->kw, p->stride_h, p->stride_w, p->dil_h, p->dil_w,
                                    p->pad_h, p->pad_w, transpose_pad_r(p->pad_h, p->out_pad_h, p->stride_h),
                                    transpose_pad_r(p->pad_w, p->out_pad_w, p->stride_w)});
}

/* ---- the primitive cache ---- */

static void entry_free(conv_entry *e) {
    if (e->prim) dnnl_primitive_destroy(e->prim);
    if (e->pad_mem) dnnl_memory_destroy(e->pad_mem);
    for (int i = 0; i < ROLE_COUNT; i++) {
        conv_role *r = &e->r[i];
        if (r->user_mem) dnnl_memory_destroy(r->user_mem);
        if (r->prim_mem) dnnl_memory_destroy(r->prim_mem);
        if (r->to_prim) dnnl_primitive_destroy(r->to_prim);
        if (r->from_prim) dnnl_primitive_destroy(r->from_prim);
        if (r->from_prim_add) dnnl_primitive_destroy(r->from_prim_add);
    }
    memset(e, 0, sizeof *e);
}

static void cache_free(void) {
    for (int i = 0; i < CACHE_MAX; i++) entry_free(&g_cache[i]);
}

static bool md_typed(dnnl_memory_desc_t *md, int ndims, const dnnl_dims_t dims,
                     dnnl_data_type_t dt, dnnl_format_tag_t tag) {
    return dnnl_memory_desc_init_by_tag(md, ndims, dims, dt, tag) == dnnl_success;
}

static bool md_plain(dnnl_memory_desc_t *md, int ndims, const dnnl_dims_t dims,
                     dnnl_format_tag_t tag) {
    return md_typed(md, ndims, dims, dnnl_f32, tag);
}

/* The data type of role i in k: the direction's output is always float32 (our buffers);
 * its inputs are bfloat16 on the bf16 path, which the reorders into oneDNN's layouts
 * convert on the way (AVX512_BF16 dot products, float32 accumulation). */
static dnnl_data_type_t role_type(const conv_key *k, int i) {
    int out = k->dir == DIR_FWD ? ROLE_S : k->dir == DIR_BWD_DATA ? ROLE_L : ROLE_W;
    return k->bf16 && i != out ? dnnl_bf16 : dnnl_f32;
}

/* Attributes with a ReLU post-op (alpha 0: max(0, x)); NULL on failure. */
/* The attributes of every primitive: our own scratchpad (oneDNN's "library" one is
 * thread-local to the thread that CREATED the primitive, and a web worker may run a
 * primitive another thread created), and the fused ReLU when asked. */
static dnnl_primitive_attr_t conv_attr(bool relu) {
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    bool ok = dnnl_primitive_attr_create(&attr) == dnnl_success &&
              dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success;
    if (ok && relu)
        ok = dnnl_post_ops_create(&po) == dnnl_success &&
             dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    if (po) dnnl_post_ops_destroy(po);
    if (!ok && attr) { dnnl_primitive_attr_destroy(attr); attr = NULL; }
    return attr;
}

/* The primitive descriptor of k's direction; the forward one is also the backward ones'
 * hint. NULL if oneDNN does not support the problem. */
static dnnl_primitive_desc_t make_pd_alg(const conv_key *k, dnnl_engine_t eng, conv_entry *e, dnnl_alg_kind_t alg) {
    dnnl_dims_t st = {k->st_h, k->st_w}, dil = {k->dil_h - 1, k->dil_w - 1};
    dnnl_dims_t pl = {k->pl_h, k->pl_w}, pr = {k->pr_h, k->pr_w};
    const dnnl_memory_desc_t *b = k->bias ? &e->r[ROLE_B].user_md : NULL;
    const conv_role *r = e->r;
    conv_key fk = *k;
    fk.dir = DIR_FWD;  /* the forward hint is typed as a forward problem (bf16 in, f32 out) */
    dnnl_memory_desc_t md[2][3];  /* [hint, own][L, W, S] */
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 3; i++)
            if (!md_typed(&md[h][i], r[i].user_md.ndims, r[i].user_md.dims,
                          role_type(h ? k : &fk, i), dnnl_format_tag_any))
                return NULL;
    dnnl_convolution_desc_t fd, bd;
    dnnl_primitive_desc_t fwd = NULL, pd = NULL;
    dnnl_primitive_attr_t attr = conv_attr(k->relu);
    if (!attr) return NULL;
    dnnl_status_t sf = dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training,
            alg, &md[0][ROLE_L], &md[0][ROLE_W], b, &md[0][ROLE_S], st, dil,
            pl, pr);
    if (sf == dnnl_success) sf = dnnl_primitive_desc_create(&fwd, &fd, attr, eng, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (sf != dnnl_success) return NULL;
    if (k->dir == DIR_FWD) return fwd;
    const dnnl_memory_desc_t *l = &md[1][ROLE_L], *w = &md[1][ROLE_W], *s = &md[1][ROLE_S];
    dnnl_status_t st2 = k->dir == DIR_BWD_DATA
        ? dnnl_dilated_convolution_backward_data_desc_init(&bd, alg, l, w, s,
                                                           st, dil, pl, pr)
        : dnnl_dilated_convolution_backward_weights_desc_init(&bd, alg, l, w,
                                                              NULL, s, st, dil, pl, pr);
    dnnl_primitive_attr_t battr = conv_attr(false);
    if (!battr || st2 != dnnl_success || dnnl_primitive_desc_create(&pd, &bd, battr, eng, fwd) != dnnl_success)
        pd = NULL;
    if (battr) dnnl_primitive_attr_destroy(battr);
    dnnl_primitive_desc_destroy(fwd);
    return pd;
}

static size_t pd_scratchpad(const_dnnl_primitive_desc_t pd) {
    const dnnl_memory_desc_t *m = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    return m ? dnnl_memory_desc_get_size(m) : 0;
}

/* Winograd F(4x4, 3x3) where k asks for it, oneDNN has it and its scratchpad (the
 * transformed tiles) fits WINO_MAX_SCRATCH, else direct. */
static dnnl_primitive_desc_t make_pd(const conv_key *k, dnnl_engine_t eng, conv_entry *e) {
    dnnl_primitive_desc_t pd = k->wino ? make_pd_alg(k, eng, e, dnnl_convolution_winograd) : NULL;
    if (pd && pd_scratchpad(pd) > WINO_MAX_SCRATCH) {
        dnnl_primitive_desc_destroy(pd);
        pd = NULL;
    }
    return pd ? pd : make_pd_alg(k, eng, e, dnnl_convolution_direct);
}

/* Fills e for k: layouts, primitive, memory objects. false if oneDNN refuses. */
static bool entry_init(conv_entry *e, const conv_key *k) {
    dnnl_engine_t eng = cpu_dnnl_engine();
    if (!eng) return false;
    conv_role *r = e->r;
    dnnl_dims_t ld = {k->n, k->lc, k->lh, k->lw}, sd = {k->n, k->sc, k->sh, k->sw},
                bd = {k->sc}, wd = {k->sc, k->lc / k->groups, k->kh, k->kw},
                wgd = {k->groups, k->sc / k->groups, k->lc / k->groups, k->kh, k->kw};
    bool grouped = k->groups > 1;
    if (!md_plain(&r[ROLE_L].user_md, 4, ld, dnnl_nchw) ||
        !md_plain(&r[ROLE_S].user_md, 4, sd, dnnl_nchw) ||
        !md_plain(&r[ROLE_B].user_md, 1, bd, dnnl_a) ||
        !md_plain(&r[ROLE_W].user_md, grouped ? 5 : 4, grouped ? wgd : wd,
                  grouped ? dnnl_goihw : dnnl_oihw))
        return false;
    static const int args[3][ROLE_COUNT] = {
        [DIR_FWD] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS},
        [DIR_BWD_DATA] = {DNNL_ARG_DIFF_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_DST, 0},
        [DIR_BWD_WEIGHTS] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_DST, 0},
    };
    dnnl_primitive_desc_t pd = make_pd(k, eng, e);
    if (!pd) return false;
    bool ok = dnnl_primitive_create(&e->prim, pd) == dnnl_success;
    if (!ok) e->prim = NULL;
    const char *impl = NULL;
    if (ok && dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        snprintf(e->impl, sizeof e->impl, "%s", impl);
    e->pad_bytes = ok ? pd_scratchpad(pd) : 0;
    if (e->pad_bytes && dnnl_memory_create(&e->pad_mem, dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0),
                                           eng, DNNL_MEMORY_NONE) != dnnl_success) {
        e->pad_mem = NULL;
        ok = false;
    }
    for (int i = 0; i < ROLE_COUNT && ok; i++) {
        r[i].arg = args[k->dir][i];
        r[i].used = r[i].arg != 0 && (i != ROLE_B || k->bias);
        if (!r[i].used) continue;
        r[i].prim_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, r[i].arg);
        r[i].same = dnnl_memory_desc_equal(&r[i].user_md, &r[i].prim_md);
        dnnl_memory_desc_t b16, b8;
        if (i == ROLE_L || i == ROLE_S) {
            const dnnl_dim_t *d = r[i].user_md.dims;
            if (md_plain(&b16, 4, d, dnnl_aBcd16b) && dnnl_memory_desc_equal(&b16, &r[i].prim_md))
                r[i].block = 16;
            else if (md_plain(&b8, 4, d, dnnl_aBcd8b) && dnnl_memory_desc_equal(&b8, &r[i].prim_md))
                r[i].block = 8;
        }
        ok = dnnl_memory_create(&r[i].user_mem, &r[i].user_md, eng, DNNL_MEMORY_NONE) == dnnl_success &&
             dnnl_memory_create(&r[i].prim_mem, &r[i].prim_md, eng, DNNL_MEMORY_NONE) == dnnl_success;
    }
    dnnl_primitive_desc_destroy(pd);
    return ok;
}

/* The cache entry for k, made now if new; NULL if oneDNN refuses k (then or before). */
static conv_entry *cache_get(const conv_key *k) {
    conv_entry *victim = &g_cache[0];
    for (int i = 0; i < CACHE_MAX; i++) {
        conv_entry *e = &g_cache[i];
        if (e->state != ENTRY_EMPTY && memcmp(&e->key, k, sizeof *k) == 0) {
            e->last_use = ++g_tick;
            return e->state == ENTRY_OK ? e : NULL;
        }
        if (e->state == ENTRY_EMPTY ||
            (victim->state != ENTRY_EMPTY && e->last_use < victim->last_use))
            victim = e;
    }
    if (!g_atexit && cpu_dnnl_engine()) {  /* after the engine's, so it runs before it */
        atexit(cache_free);
        g_atexit = true;
    }
    entry_free(victim);
    victim->key = *k;
    victim->last_use = ++g_tick;
    if (!entry_init(victim, k)) {
        entry_free(victim);
        victim->key = *k;
        victim->last_use = g_tick;
        victim->state = ENTRY_FAILED;
        return NULL;
    }
    victim->state = ENTRY_OK;
    return victim;
}

/* ---- running a problem ---- */

/* y (N, C, HW) += s (N, ceil(C / blk), HW, blk), oneDNN's nChw16c/nChw8c: a transposing
 * add, faster than oneDNN's generic reorder with a sum post-op. Tiles of HW keep the block
 * being read in L1; each y element is written by one thread. */
static void add_unblocked(float *y, const float *s, int n, int c, int64_t hw, int blk) {
    enum { TILE = 256 };
    int cb = (c + blk - 1) / blk;
    int64_t tiles = (hw + TILE - 1) / TILE, jobs = (int64_t)n * cb * tiles;
    #pragma omp parallel for schedule(static)
    for (int64_t job = 0; job < jobs; job++) {
        int64_t nb = job / tiles, k0 = job % tiles * TILE, k1 = k0 + TILE < hw ? k0 + TILE : hw;
        int i = (int)(nb / cb), b = (int)(nb % cb), cn = c - b * blk < blk ? c - b * blk : blk;
        const float *sp = s + nb * hw * blk;
        for (int ch = 0; ch < cn; ch++) {
            float *yp = y + ((int64_t)i * c + b * blk + ch) * hw;
            for (int64_t k = k0; k < k1; k++) yp[k] += sp[k * blk + ch];
        }
    }
}

/* The memory object that feeds input role i from our buffer p. */
static dnnl_memory_t input_mem(conv_role *r, int i, const float *p) {
    if (r->same)
        return dnnl_memory_set_data_handle(r->user_mem, (void *)p) == dnnl_success ? r->user_mem : NULL;
    if (!r->to_prim && !(r->to_prim = cpu_dnnl_reorder_new(&r->user_md, &r->prim_md, false)))
        return NULL;
    const void *data;
    if (i == ROLE_W) {
        data = cpu_dnnl_weights(p, dnnl_memory_desc_get_size(&r->user_md) / sizeof(float),
                                r->user_mem, &r->prim_md, r->prim_mem, r->to_prim);
    } else if (g_memo[i].valid && g_memo[i].p == p && dnnl_memory_desc_equal(&g_memo[i].md, &r->prim_md)) {
        data = cpu_dnnl_scratch(i, 0);  /* reordered earlier in this kernel call */
    } else {
        void *s = cpu_dnnl_scratch(i, dnnl_memory_desc_get_size(&r->prim_md));
        data = s && cpu_dnnl_reorder_run(r->to_prim, r->user_mem, p, r->prim_mem, s) ? s : NULL;
        g_memo[i].valid = data != NULL;
        g_memo[i].p = p;
        g_memo[i].md = r->prim_md;
    }
    return data && dnnl_memory_set_data_handle(r->prim_mem, (void *)data) == dnnl_success
               ? r->prim_mem : NULL;
}

/* Runs k on our buffers (the one that k's direction writes: S for FWD, L for BWD_DATA,
 * W for BWD_WEIGHTS), overwriting the output or, with add, adding into it.
 * false if oneDNN refuses or fails; an output to add into is then untouched. */
static char g_last_impl[32];   /* under g_lock */

const char *cpu_conv_last_impl(void) { return g_last_impl; }

static bool conv_run(const conv_key *k, float *L, float *W, float *S, const float *B, bool add) {
    conv_entry *e = cache_get(k);
    snprintf(g_last_impl, sizeof g_last_impl, "%s", e ? e->impl : "ref");
    if (!e) return false;
    dnnl_stream_t strm = cpu_dnnl_stream();
    int out = k->dir == DIR_FWD ? ROLE_S : k->dir == DIR_BWD_DATA ? ROLE_L : ROLE_W;
    float *ptr[ROLE_COUNT] = {L, W, S, (float *)B};
    dnnl_exec_arg_t args[ROLE_COUNT + 1];
    int nargs = 0;
    if (e->pad_bytes) {
        void *pad = cpu_dnnl_scratch(SLOT_PAD, e->pad_bytes);
        if (!pad || dnnl_memory_set_data_handle(e->pad_mem, pad) != dnnl_success) return false;
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, e->pad_mem};
    }
    bool direct = false;  /* oneDNN writes our output itself */
    void *result = NULL;
    for (int i = 0; i < ROLE_COUNT; i++) {
        conv_role *r = &e->r[i];
        if (!r->used) continue;
        dnnl_memory_t m;
        if (i != out) {
            m = input_mem(r, i, ptr[i]);
        } else if (r->same && !add) {
            direct = true;
            m = dnnl_memory_set_data_handle(r->user_mem, ptr[i]) == dnnl_success ? r->user_mem : NULL;
        } else {
            dnnl_primitive_t *rp = add ? &r->from_prim_add : &r->from_prim;
            if (!*rp && !(add && r->block))
                *rp = cpu_dnnl_reorder_new(&r->prim_md, &r->user_md, add);
            g_memo[i].valid = false;
            result = cpu_dnnl_scratch(i, dnnl_memory_desc_get_size(&r->prim_md));
            m = (*rp || (add && r->block)) && result &&
                dnnl_memory_set_data_handle(r->prim_mem, result) == dnnl_success ? r->prim_mem : NULL;
        }
        if (!m) return false;
        args[nargs++] = (dnnl_exec_arg_t){r->arg, m};
    }
    if (dnnl_primitive_execute(e->prim, strm, nargs, args) != dnnl_success ||
        dnnl_stream_wait(strm) != dnnl_success)
        return false;
    if (direct) return true;
    conv_role *r = &e->r[out];
    if (add && r->block) {
        const dnnl_dim_t *d = r->user_md.dims;
        add_unblocked(ptr[out], result, (int)d[0], (int)d[1], d[2] * d[3], r->block);
        return true;
    }
    return cpu_dnnl_reorder_run(add ? r->from_prim_add : r->from_prim, r->prim_mem, result,
                                r->user_mem, ptr[out]);
}

/* ---- the bias: plain loops, each output channel summed by one thread in a fixed order ---- */

/* y (N, C, HW) += b[c] */
static void bias_add(float *y, const float *b, int n, int c, int64_t hw) {
    #pragma omp parallel for schedule(static)
    for (int64_t nc = 0; nc < (int64_t)n * c; nc++) {
        float *yp = y + nc * hw, bv = b[nc % c];
        for (int64_t k = 0; k < hw; k++) yp[k] += bv;
    }
}

/* db (C) += sum over n and HW of dy (N, C, HW), in double as the reference does */
static void bias_grad(float *db, const float *dy, int n, int c, int64_t hw) {
    #pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        double acc[4] = {0, 0, 0, 0};  /* independent sums: no add-latency chain */
        for (int i = 0; i < n; i++) {
            const float *dp = dy + ((int64_t)i * c + ch) * hw;
            int64_t k = 0;
            for (; k + 4 <= hw; k += 4)
                for (int l = 0; l < 4; l++) acc[l] += dp[k + l];
            for (; k < hw; k++) acc[0] += dp[k];
        }
        db[ch] += (float)((acc[0] + acc[1]) + (acc[2] + acc[3]));
    }
}

/* ---- the kernels: float32 (cpu) and bfloat16 (cpu-bf16) ---- */

static void conv_forward(float *y, const float *x, const float *w, const float *b,
                         const conv2d_params *p, bool bf16) {
    conv_key k = key_conv(p, DIR_FWD, b != NULL, bf16);
    pthread_mutex_lock(&g_lock);
    memset(g_memo, 0, sizeof g_memo);
    bool ok = conv_run(&k, (float *)x, (float *)w, y, b, false);
    pthread_mutex_unlock(&g_lock);
    if (!ok) ref_conv2d_forward(y, x, w, b, p);
}

static void conv_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, const conv2d_params *p, bool bf16) {
    conv_key kd = key_conv(p, DIR_BWD_DATA, false, bf16), kw = key_conv(p, DIR_BWD_WEIGHTS, false, bf16);
    pthread_mutex_lock(&g_lock);
    memset(g_memo, 0, sizeof g_memo);
    bool ok_dx = !dx || conv_run(&kd, dx, (float *)w, (float *)dy, NULL, true);
    bool ok_dw = !dw || conv_run(&kw, (float *)x, dw, (float *)dy, NULL, true);
    pthread_mutex_unlock(&g_lock);
    if (!ok_dx || !ok_dw) ref_conv2d_backward(ok_dx ? NULL : dx, ok_dw ? NULL : dw, NULL, dy, x, w, p);
    if (db) bias_grad(db, dy, p->n, p->oc, (int64_t)p->oh * p->ow);
}

static void transpose_forward(float *y, const float *x, const float *w, const float *b,
                              const conv2d_params *p, bool bf16) {
    conv_key k = key_transpose(p, DIR_BWD_DATA, bf16);
    pthread_mutex_lock(&g_lock);
    memset(g_memo, 0, sizeof g_memo);
    bool ok = conv_run(&k, y, (float *)w, (float *)x, NULL, false);
    pthread_mutex_unlock(&g_lock);
    if (!ok) ref_conv_transpose2d_forward(y, x, w, b, p);
    else if (b) bias_add(y, b, p->n, p->oc, (int64_t)p->oh * p->ow);
}

static void transpose_backward(float *dx, float *dw, float *db, const float *dy,
                               const float *x, const float *w, const conv2d_params *p, bool bf16) {
    conv_key kd = key_transpose(p, DIR_FWD, bf16), kw = key_transpose(p, DIR_BWD_WEIGHTS, bf16);
    pthread_mutex_lock(&g_lock);
    memset(g_memo, 0, sizeof g_memo);
    bool ok_dx = !dx || conv_run(&kd, (float *)dy, (float *)w, dx, NULL, true);
    bool ok_dw = !dw || conv_run(&kw, (float *)dy, dw, (float *)x, NULL, true);
    pthread_mutex_unlock(&g_lock);
    if (!ok_dx || !ok_dw)
        ref_conv_transpose2d_backward(ok_dx ? NULL : dx, ok_dw ? NULL : dw, NULL, dy, x, w, p);
    if (db) bias_grad(db, dy, p->n, p->oc, (int64_t)p->oh * p->ow);
}

void cpu_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                        const conv2d_params *p) {
    conv_forward(y, x, w, b, p, false);
}

void cpu_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                         const float *w, const conv2d_params *p) {
    conv_backward(dx, dw, db, dy, x, w, p, false);
}

void cpu_conv_transpose2d_forward(float *y, const float *x, const float *w, const float *b,
                                  const conv2d_params *p) {
    transpose_forward(y, x, w, b, p, false);
}

void cpu_conv_transpose2d_backward(float *dx, float *dw, float *db, const float *dy,
                                   const float *x, const float *w, const conv2d_params *p) {
    transpose_backward(dx, dw, db, dy, x, w, p, false);
}

void cpu_bf16_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                             const conv2d_params *p) {
    conv_forward(y, x, w, b, p, true);
}

void cpu_bf16_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                              const float *w, const conv2d_params *p) {
    conv_backward(dx, dw, db, dy, x, w, p, true);
}

void cpu_bf16_conv_transpose2d_forward(float *y, const float *x, const float *w,
                                       const float *b, const conv2d_params *p) {
    transpose_forward(y, x, w, b, p, true);
}

void cpu_bf16_conv_transpose2d_backward(float *dx, float *dw, float *db, const float *dy,
                                        const float *x, const float *w, const conv2d_params *p) {
    transpose_backward(dx, dw, db, dy, x, w, p, true);
}
