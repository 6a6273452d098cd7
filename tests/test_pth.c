/* test_pth.c: PyTorch checkpoints (pth.h) and the weights loader (weights.h).
 *
 * The fixtures in tests/fixtures/pth/ were written by torch.save itself
 * (tools/gen_pth_fixtures.py), in both of its formats; expected.safetensors holds the
 * float32 value of every tensor of every readable fixture as "<fixture>/<name>", and every
 * tensor read here must equal it bit for bit (the conversions are exact, or are the one
 * rounding float64 -> float32 that torch's .float() also does). Malicious files must be
 * refused naming the global; malformed pickles built here byte by byte, truncations at every
 * length and seeded random byte flips must end in one error line, never in a crash (run
 * under ASan too). Hostile pickles (shared containers, copies through the memo) are opened
 * in a forked child whose peak memory and CPU time must stay within stated bounds.
 */
#define _DEFAULT_SOURCE   /* wait4 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "atelier/pth.h"
#include "atelier/safetensors.h"
#include "atelier/weights.h"
#include "harness.h"

#define FIXTURES "tests/fixtures/pth/"

static const char *const g_readable[] = {
    "state_zip", "state_legacy", "dtypes_zip", "dtypes_legacy", "views_zip", "views_legacy",
    "nested_zip", "nested_legacy", "param_zip", "zip64_archive",
};
#define NREADABLE (int)(sizeof g_readable / sizeof g_readable[0])

static const char *fixture(const char *stem) {
    static char buf[4][256];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, 256, FIXTURES "%s.pth", stem);
    return b;
}

static bool bits_equal(const float *a, const float *b, int64_t n) {
    return memcmp(a, b, sizeof(float) * (size_t)n) == 0;
}

/* A new tensor of the file's shape, or NULL when Atelier cannot hold it (a 0 dim, > 4 dims,
 * or too many elements for a fuzzed file). */
static tensor *tensor_for(arena *a, const int64_t *shape, int ndim) {
    int dims[TENSOR_MAX_DIMS];
    int64_t numel = 1;
    if (ndim > TENSOR_MAX_DIMS) return NULL;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 1 || shape[d] > 1 << 20) return NULL;
        dims[d] = (int)shape[d];
        numel *= shape[d];
    }
    return numel <= 1 << 20 ? tensor_new(a, ndim, dims) : NULL;
}

/* Every tensor of fixture stem equals expected.safetensors' "<stem>/<name>", bit for bit. */
static void compare_fixture(const char *stem) {
    arena *a = arena_new(1 << 20);
    pth_file *f = pth_open(fixture(stem));
    safetensors *want = safetensors_open(FIXTURES "expected.safetensors");
    CHECK_MSG(f && want, "%s: %s", stem, error_message());
    if (!f || !want) { pth_close(f); if (want) safetensors_close(want); arena_free(a); return; }
    int expected = 0;
    size_t plen = strlen(stem);
    for (int i = 0; i < safetensors_count(want); i++) {
        const char *key = safetensors_name(want, i);
        if (strncmp(key, stem, plen) != 0 || key[plen] != '/') continue;
        expected++;
        const char *name = key + plen + 1;
        int64_t s1[8], s2[8];
        int nd = pth_shape(f, name, s1);
        CHECK_MSG(nd == safetensors_shape(want, key, s2), "%s: %s ndim %d", stem, name, nd);
        if (nd < 0) continue;
        CHECK_MSG(memcmp(s1, s2, sizeof(int64_t) * (size_t)nd) == 0, "%s: %s shape", stem, name);
        tensor *got = tensor_for(a, s1, nd), *ref = tensor_for(a, s2, nd);
        if (!got) continue;   /* the (0, 3) tensor: shape only */
        CHECK(pth_load_into(f, name, got) == STATUS_OK);
        CHECK(safetensors_load_into(want, key, ref) == STATUS_OK);
        CHECK_MSG(bits_equal(got->data, ref->data, got->numel), "%s: %s differs", stem, name);
    }
    CHECK_MSG(expected > 0 && pth_count(f) == expected, "%s: %d tensors, want %d", stem, pth_count(f), expected);
    pth_close(f);
    safetensors_close(want);
    arena_free(a);
}

static void test_all_fixtures_match(void) {
    for (int i = 0; i < NREADABLE; i++) compare_fixture(g_readable[i]);
}

static void check_state_dict(const char *stem, const char *format) {
    static const char *names[] = {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                  "1.running_var", "1.num_batches_tracked"};
    arena *a = arena_new(1 << 16);
    pth_file *f = pth_open(fixture(stem));
    CHECK_OK(f);
    if (!f) { arena_free(a); return; }
    CHECK(strcmp(pth_format(f), format) == 0);
    CHECK(pth_count(f) == 7);
    for (int i = 0; i < 7; i++) CHECK_MSG(pth_name(f, i) && strcmp(pth_name(f, i), names[i]) == 0,
                                         "%s: name %d is %s", stem, i, pth_name(f, i));
    CHECK(pth_name(f, 7) == NULL && pth_name(f, -1) == NULL);
    int64_t shape[8];
    CHECK(pth_shape(f, "0.weight", shape) == 4 && shape[0] == 3 && shape[1] == 2 && shape[3] == 3);
    CHECK(strcmp(pth_dtype(f, "0.weight"), "F32") == 0);
    CHECK(strcmp(pth_dtype(f, "1.num_batches_tracked"), "I64") == 0);
    CHECK(pth_shape(f, "1.num_batches_tracked", shape) == 0);
    CHECK(pth_shape(f, "nope", shape) == -1 && pth_dtype(f, "nope") == NULL);
    tensor *n = tensor_scalar(a, 0), *w = tensor_new(a, 1, (int[]){3});
    CHECK(pth_load_into(f, "1.num_batches_tracked", n) == STATUS_OK && n->data[0] == 7.0f);
    CHECK(pth_load_into(f, "1.weight", w) == STATUS_OK);
    CHECK(w->data[0] == 0.5f && w->data[1] == -1.25f && w->data[2] == 2.0f);
    pth_close(f);
    arena_free(a);
}

static void test_state_dict_zip(void) { check_state_dict("state_zip", "zip"); }
static void test_state_dict_legacy(void) { check_state_dict("state_legacy", "legacy"); }

static void test_load_into_errors(void) {
    arena *a = arena_new(1 << 12);
    pth_file *f = pth_open(fixture("state_zip"));
    CHECK_OK(f);
    if (!f) { arena_free(a); return; }
    tensor *wrong = tensor_fill(tensor_new(a, 2, (int[]){3, 2}), 7.0f);
    error_clear();
    CHECK(pth_load_into(f, "0.bias", wrong) == STATUS_SHAPE);
    CHECK_MSG(strcmp(error_message(), "0.bias: file has (3), model expects (3, 2)") == 0, "%s", error_message());
    CHECK(wrong->data[0] == 7.0f);
    error_clear();
    CHECK(pth_load_into(f, "0.missing", wrong) == STATUS_FORMAT);
    CHECK(strstr(error_message(), "no tensor named \"0.missing\"") != NULL);
    error_clear();
    CHECK(pth_load_into(f, "0.bias", NULL) == STATUS_ARG);
    error_clear();
    pth_close(f);
    arena_free(a);
}

static void test_dtypes(void) {
    const char *want[][2] = {{"f16", "F16"}, {"bf16", "BF16"}, {"f64", "F64"}, {"f32", "F32"},
                             {"i32", "I32"}, {"u8", "U8"}, {"flag", "BOOL"}};
    for (int k = 0; k < 2; k++) {
        arena *a = arena_new(1 << 12);
        pth_file *f = pth_open(fixture(k ? "dtypes_legacy" : "dtypes_zip"));
        CHECK_OK(f);
        if (!f) { arena_free(a); continue; }
        for (int i = 0; i < 7; i++) CHECK(strcmp(pth_dtype(f, want[i][0]), want[i][1]) == 0);
        tensor *d = tensor_new(a, 1, (int[]){8}), *i32 = tensor_new(a, 1, (int[]){3});
        CHECK(pth_load_into(f, "f64", d) == STATUS_OK);
        CHECK(d->data[0] == 0.1f && d->data[2] == 0.0f && d->data[3] == INFINITY && d->data[4] == -INFINITY);
        CHECK(d->data[5] == 0x1p-149f && isnan(d->data[6]) && d->data[7] == -7.25f);
        CHECK(pth_load_into(f, "i32", i32) == STATUS_OK);
        CHECK(i32->data[0] == -2147483648.0f && i32->data[1] == 7.0f && i32->data[2] == 16777216.0f);
        pth_close(f);
        arena_free(a);
    }
}

static void test_views(void) {
    for (int k = 0; k < 2; k++) {
        arena *a = arena_new(1 << 12);
        pth_file *f = pth_open(fixture(k ? "views_legacy" : "views_zip"));
        CHECK_OK(f);
        if (!f) { arena_free(a); continue; }
        int64_t shape[8];
        CHECK(pth_shape(f, "t", shape) == 2 && shape[0] == 4 && shape[1] == 3);
        CHECK(pth_shape(f, "s", shape) == 0 && pth_shape(f, "e", shape) == 0);
        CHECK(pth_shape(f, "empty", shape) == 2 && shape[0] == 0 && shape[1] == 3);
        tensor *b = tensor_new(a, 2, (int[]){2, 2}), *e = tensor_scalar(a, 0), *w = tensor_new(a, 2, (int[]){3, 2});
        CHECK(pth_load_into(f, "b", b) == STATUS_OK);     /* base (0.5 * arange) rows 1-2, cols 0, 2 */
        CHECK(b->data[0] == 2.0f && b->data[1] == 3.0f && b->data[2] == 4.0f && b->data[3] == 5.0f);
        CHECK(pth_load_into(f, "e", e) == STATUS_OK && e->data[0] == 3.5f);
        CHECK(pth_load_into(f, "wide", w) == STATUS_OK && w->data[4] == 1.0f && w->data[5] == 2.0f);
        pth_close(f);
        arena_free(a);
    }
}

static void test_nested_and_params(void) {
    const char *names[] = {"state_dict.0.weight", "state_dict.1.num_batches_tracked", "optim.state.0.step",
                           "optim.state.0.exp_avg", "list.0", "list.1.0"};
    for (int k = 0; k < 2; k++) {
        pth_file *f = pth_open(fixture(k ? "nested_legacy" : "nested_zip"));
        CHECK_OK(f);
        if (!f) continue;
        CHECK(pth_count(f) == 11);
        for (int i = 0; i < 6; i++) CHECK_MSG(pth_shape(f, names[i], NULL) >= 0, "%s missing", names[i]);
        CHECK(pth_shape(f, "epoch", NULL) == -1);
        pth_close(f);
    }
    pth_file *f = pth_open(fixture("param_zip"));
    CHECK_OK(f);
    if (f) CHECK(pth_count(f) == 2 && pth_shape(f, "weight", NULL) == 2 && pth_shape(f, "frozen", NULL) == 1);
    pth_close(f);
}

/* path must be refused with a message containing want. */
static void expect_open_fails(const char *path, const char *want) {
    error_clear();
    pth_file *f = pth_open(path);
    CHECK_MSG(f == NULL, "%s was accepted", path);
    pth_close(f);
    CHECK_MSG(error_status() != STATUS_OK && strstr(error_message(), want), "%s: \"%s\" lacks \"%s\"", path,
              error_message(), want);
    error_clear();
}

static void test_malicious_refused(void) {
    char want[300];
    snprintf(want, sizeof want, "%s: refusing to load 'os.system' (only tensors and plain containers are read)",
             fixture("evil_global"));
    error_clear();
    CHECK(pth_open(fixture("evil_global")) == NULL);
    CHECK_MSG(strcmp(error_message(), want) == 0, "message: %s", error_message());
    expect_open_fails(fixture("evil_reduce"), "refusing to load 'posix.system'");
    expect_open_fails(fixture("evil_legacy"), "refusing to load 'builtins.eval'");
    error_clear();
}

static void test_container_errors(void) {
    expect_open_fails(fixture("compressed"), "is compressed (method 8)");
    expect_open_fails(FIXTURES "missing.pth", "cannot open");
    expect_open_fails(FIXTURES "expected.safetensors", "not a PyTorch checkpoint");
    expect_open_fails(FIXTURES, "not a regular file");
}

/* ---- hand-made legacy files: five pickles and the storages ---- */

#define MAGIC "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."
#define HEAD MAGIC "\x80\x02M\xe9\x03." "\x80\x02}."
/* storage '0' of 4 floats, as a persistent id; a tensor of it is _rebuild_tensor_v2(STORAGE, ...) */
#define STORAGE "(U\x07storagectorch\nFloatStorage\nU\x01" "0U\x03" "cpuK\x04NtQ"
#define REBUILD "ctorch._utils\n_rebuild_tensor_v2\n("
#define TAIL "\x80\x02]U\x01" "0a." "\x04\x00\x00\x00\x00\x00\x00\x00" \
             "\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40"   /* 1, 2, 3, 4 */

typedef struct { const char *bytes; size_t len; const char *want; } case_t;
#define CASE(b, w) {b, sizeof(b) - 1, w}

static void test_handmade(void) {
    const case_t ok[] = {
        /* {"w": tensor (2, 2) stride (1, 2): the transpose of [[1, 2], [3, 4]]} */
        CASE(HEAD "\x80\x02}U\x01w" REBUILD STORAGE "K\x00K\x02K\x02\x86K\x01K\x02\x86\x89NtRs." TAIL, NULL),
        /* protocol 4 opcodes: FRAME, STACK_GLOBAL, MEMOIZE, BINUNICODE8, LONG_BINPUT/GET, DUP, POP */
        CASE(HEAD "\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00}\x94\x8d\x01\x00\x00\x00\x00\x00\x00\x00w"
             "\x8c\x0ctorch._utils\x8c\x12_rebuild_tensor_v2\x93r\x01\x00\x00\x00(" STORAGE
             "K\x00K\x02K\x02\x86K\x01K\x02\x86\x89NtR2" "0j\x01\x00\x00\x00" "0s.\x80\x02]U\x01" "0a."
             "\x04\x00\x00\x00\x00\x00\x00\x00" "\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40", NULL),
        /* as old torch and Python 2 wrote it: OrderedDict([["w", _rebuild_tensor(...)]]), then
         * BUILD with {"_metadata": {}} */
        CASE(HEAD "\x80\x02" "ccollections\nOrderedDict\n(](U\x01w" "ctorch._utils\n_rebuild_tensor\n(" STORAGE
             "K\x00K\x02K\x02\x86K\x01K\x02\x86tRlatR}U\x09_metadata}sb." TAIL, NULL),
    };
    arena *a = arena_new(1 << 12);
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        error_clear();
        pth_file *f = pth_open_memory(ok[i].bytes, ok[i].len, "hand.pth");
        CHECK_MSG(f != NULL, "case %zu: %s", i, error_message());
        if (!f) continue;
        tensor *w = tensor_new(a, 2, (int[]){2, 2});
        CHECK(pth_load_into(f, "w", w) == STATUS_OK);
        CHECK(w->data[0] == 1 && w->data[1] == 3 && w->data[2] == 2 && w->data[3] == 4);
        pth_close(f);
    }
    arena_free(a);
}

static void test_handmade_refused(void) {
    const case_t bad[] = {
        CASE("\x80\x02" "c__builtin__\neval\nU\x01" "1\x85R.", "refusing to load '__builtin__.eval'"),
        CASE(HEAD "\x80\x04\x8c\x08" "builtins\x8c\x04" "exec\x93.", "refusing to load 'builtins.exec'"),
        CASE(HEAD "\x80\x02" "ctorch\nload\n.", "refusing to load 'torch.load'"),
        CASE(HEAD "\x80\x02" "ctorch\nFloatStorage\n)R.", "'torch.FloatStorage' called"),
        CASE(HEAD "\x80\x02U\x01wU\x01wb.", "BUILD on something other than a dict"),
        CASE("\x80\x02" "\x8a\x08\x01\x02\x03\x04\x05\x06\x07\x08.", "without torch's magic number"),
        CASE(MAGIC "\x80\x02M\xea\x03.", "protocol version is not 1001"),
        CASE(HEAD "\x80\x02s.", "stack underflow"),
        CASE(HEAD "\x80\x02h\x05.", "memo entry 5 was never stored"),
        CASE(HEAD "\x80\x02X\x00\x00\x01\x00" "abc.", "truncated"),
        CASE(HEAD "\x80\x02(((((((", "truncated (no STOP)"),
        CASE(HEAD "\x80\x02(U\x01" "aU\x01" "bU\x01" "cd.", "odd number"),
        CASE(HEAD "\x80\x02(U\x07storageK\x01tQ.", "malformed storage reference"),
        CASE(HEAD "\x80\x02(U\x06moduleNNNtQ.", "whole nn.Module"),
        CASE(HEAD "\x80\x02K\x01K\x02.", "STOP with 2 values"),
        CASE(HEAD "\x80\x02I1\n.", "opcode 0x49"),
        CASE(HEAD "\x80\x02\x8a\x20" "0123456789abcdef0123456789abcdef.", "an integer of 32 bytes"),
        /* a (3, 2) tensor of a 4-element storage */
        CASE(HEAD "\x80\x02}U\x01w" REBUILD STORAGE "K\x00K\x03K\x02\x86K\x02K\x01\x86\x89NtRs." TAIL,
             "reaches outside its storage of 4 elements"),
        /* offset 4 past the end; stride 2^62 overflows */
        CASE(HEAD "\x80\x02}U\x01w" REBUILD STORAGE "K\x04K\x01\x85K\x01\x85\x89NtRs." TAIL, "reaches outside"),
        CASE(HEAD "\x80\x02}U\x01w" REBUILD STORAGE "K\x00K\x03\x85\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40\x85\x89NtRs." TAIL,
             "reaches outside"),
        CASE(HEAD "\x80\x02}U\x01w" REBUILD STORAGE "K\x00K\x02\x85K\x01\x85\x89NtRs."
             "\x80\x02]U\x01" "0a." "\x05\x00\x00\x00\x00\x00\x00\x00" "\x00\x00", "holds 5 elements"),
        CASE(HEAD "\x80\x02}U\x01w" REBUILD STORAGE "K\x00K\x02\x85K\x01\x85\x89NtRs."
             "\x80\x02]U\x01" "0a." "\x04\x00\x00\x00\x00\x00\x00\x00" "\x00\x00", "storage data missing"),
        CASE(HEAD "\x80\x02}U\x01w" REBUILD STORAGE "K\x00K\x02\x85K\x01\x85\x89NtRs." "\x80\x02]U\x01" "1a.",
             "names a storage no tensor uses"),
        CASE(HEAD "\x80\x02}U\x01w" REBUILD STORAGE "K\x00K\x02\x85K\x01\x85\x89NtRs." "\x80\x02]." ,
             "storage '0' has no data"),
        CASE("PK\3\4 this is not really a zip archive", "end of central directory"),
        CASE("hello", "not a PyTorch checkpoint"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        error_clear();
        pth_file *f = pth_open_memory(bad[i].bytes, bad[i].len, "bad.pth");
        CHECK_MSG(f == NULL, "case %zu (%s) was accepted", i, bad[i].want);
        pth_close(f);
        CHECK_MSG(error_status() == STATUS_FORMAT && strstr(error_message(), bad[i].want) &&
                  strncmp(error_message(), "bad.pth: ", 9) == 0 && !strchr(error_message(), '\n'),
                  "case %zu: \"%s\" lacks \"%s\"", i, error_message(), bad[i].want);
    }
    error_clear();
}

/* Deep nesting and many values are capped, not followed. */
static void test_limits(void) {
    size_t n = 20000;
    char *b = malloc(sizeof HEAD + 3 * n + 8);
    memcpy(b, HEAD "\x80\x02", sizeof HEAD + 1);
    size_t len = sizeof HEAD + 1;
    for (size_t i = 0; i < n; i++) b[len++] = '(';
    b[len++] = '.';
    error_clear();
    CHECK(pth_open_memory(b, len, "deep.pth") == NULL && strstr(error_message(), "marks nested deeper"));
    /* 20000 nested lists by APPEND: the walk stops at depth 64 */
    len = sizeof HEAD + 1;
    for (size_t i = 0; i < n; i++) b[len++] = ']';
    for (size_t i = 0; i + 1 < n; i++) b[len++] = 'a';
    memcpy(b + len, ".\x80\x02].", 5);   /* and an empty list of storage keys */
    len += 5;
    error_clear();
    CHECK(pth_open_memory(b, len, "deep.pth") == NULL && strstr(error_message(), "nested deeper than 64"));
    error_clear();
    free(b);
}

/* ---- hostile input: a small file never costs much (pth.h, "Hostile input") ----
 *
 * Each file is opened (pth_open, as --weights does) in a forked child, so that a regression
 * costs the child and not this process, and so that the peak RSS (wait4's ru_maxrss, above
 * the child's RSS once started) and CPU time measured are the open's own; an alarm kills a
 * child that hangs. The bounds hold the budget of pth.h (16 MB + 64 bytes per pickle byte)
 * with room to spare, and are far below what the unfixed reader took (+2.6 GB and 4.2 s CPU
 * for the 1003-byte names, +1.5 GB for the OrderedDict copies). */

/* AddressSanitizer's shadow memory, redzones and quarantine about double what the heap
 * holds, and slow the code down: under it, the bounds are three times as loose. */
#if defined(__SANITIZE_ADDRESS__)
#define HOSTILE_SCALE 3.0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HOSTILE_SCALE 3.0
#endif
#endif
#ifndef HOSTILE_SCALE
#define HOSTILE_SCALE 1.0
#endif
#define HOSTILE_RSS_MB (32.0 * HOSTILE_SCALE)   /* peak RSS above the baseline */
#define HOSTILE_CPU_S (0.5 * HOSTILE_SCALE)     /* user plus system time of the child */

typedef struct hostile_run {
    bool opened;
    int count;            /* tensors, when opened */
    status st;            /* else error_status() and error_message() */
    char msg[300];
    double rss_mb;        /* peak RSS above the child's start (test_child_cost) */
    double cpu_s;
    int died;             /* the signal that killed the child, -1 if it said nothing */
} hostile_run;

static void open_in_child(void *out, void *user) {
    hostile_run *c = out;
    error_clear();
    pth_file *f = pth_open(user);
    c->opened = f != NULL;
    c->count = f ? pth_count(f) : 0;
    c->st = error_status();
    snprintf(c->msg, sizeof c->msg, "%s", error_message());
    pth_close(f);
}

static hostile_run hostile_open(const char *path) {
    hostile_run r = {0};
    test_cost k = test_child_cost(open_in_child, (void *)path, &r, sizeof r);
    r.rss_mb = k.rss_mb;
    r.cpu_s = k.cpu_s;
    r.died = k.died;
    return r;
}

/* The bytes, saved as a file, must open with `count` tensors (want NULL) or be refused with
 * a message holding want, within the bounds. */
static void check_hostile(const char *what, const unsigned char *b, size_t n, const char *want, int count) {
    const char *path = test_tmp_path("hostile.pth");
    FILE *fp = fopen(path, "wb");
    CHECK(fp && fwrite(b, 1, n, fp) == n);
    if (fp) fclose(fp);
    hostile_run r = hostile_open(path);
    printf("    %-28s %7zu bytes: %s, %.3f s CPU, peak RSS +%.1f MB\n", what, n,
           r.opened ? "opened" : "refused", r.cpu_s, r.rss_mb);
    CHECK_MSG(r.died == 0, "%s: the opening child died (signal %d)", what, r.died);
    if (want)
        CHECK_MSG(r.died || (!r.opened && r.st == STATUS_FORMAT && strstr(r.msg, want) && !strchr(r.msg, '\n')),
                  "%s: %s, status %s, message '%s' (want '%s')", what, r.opened ? "opened" : "refused",
                  status_name(r.st), r.msg, want);
    else
        CHECK_MSG(r.died || (r.opened && r.count == count), "%s: %s, %d tensors (want %d): %s", what,
                  r.opened ? "opened" : "refused", r.count, count, r.msg);
    CHECK_MSG(r.rss_mb < HOSTILE_RSS_MB, "%s: peak RSS +%.1f MB (bound %.0f MB)", what, r.rss_mb,
              HOSTILE_RSS_MB);
    CHECK_MSG(r.cpu_s < HOSTILE_CPU_S, "%s: %.2f s CPU (bound %.1f s)", what, r.cpu_s, HOSTILE_CPU_S);
    remove(path);
}

typedef struct bytes { unsigned char *p; size_t n, cap; } bytes;

static void bytes_put(bytes *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = 2 * (b->n + n);
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
#define PUT(b, lit) bytes_put(b, lit, sizeof(lit) - 1)

/* An opcode with a 4-byte little-endian argument: LONG_BINPUT 'r', LONG_BINGET 'j'. */
static void put_op32(bytes *b, int op, uint32_t v) {
    unsigned char c[5] = {(unsigned char)op, (unsigned char)v, (unsigned char)(v >> 8),
                          (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    bytes_put(b, c, 5);
}

/* The file: `levels` dicts, each mapping the same k keys to the one dict below it
 * (a memo reference: the pickle holds each dict once), the bottom one mapping them to one
 * tensor (leaf_tensor), or to None: k^levels paths. The k keys of keylen bytes are memoized
 * too, so the file is about k * keylen bytes: 40 keys of 250 bytes on 4 levels are 12 KB and
 * 2.56M names of 1003 bytes. A legacy file (the reader takes both layouts alike). */
static bytes shared_dicts(int k, int keylen, int levels, bool leaf_tensor) {
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    bytes b = {0};
    PUT(&b, HEAD "\x80\x02");
    if (leaf_tensor) PUT(&b, REBUILD STORAGE "K\x00K\x04\x85K\x01\x85\x89NtR");
    else PUT(&b, "N");
    put_op32(&b, 'r', 0);
    PUT(&b, "0");
    for (int i = 0; i < k; i++) {                  /* memo 1 + i: key i, "<2 digits>aaa..." */
        unsigned char key[2 + 255] = {'U', (unsigned char)keylen};
        memset(key + 2, 'a', (size_t)keylen);
        key[2] = (unsigned char)digits[i / 62];
        key[3] = (unsigned char)digits[i % 62];
        bytes_put(&b, key, 2 + (size_t)keylen);
        put_op32(&b, 'r', 1 + (uint32_t)i);
        PUT(&b, "0");
    }
    for (int l = 0; l < levels; l++) {             /* memo 1000 + l: level l */
        PUT(&b, "}(");
        for (int i = 0; i < k; i++) {
            put_op32(&b, 'j', 1 + (uint32_t)i);
            put_op32(&b, 'j', l ? 1000 + (uint32_t)l - 1 : 0);
        }
        PUT(&b, "u");
        put_op32(&b, 'r', 1000 + (uint32_t)l);
        if (l + 1 < levels) PUT(&b, "0");
    }
    if (leaf_tensor) PUT(&b, "." TAIL);
    else PUT(&b, ".\x80\x02].");
    return b;
}

/* OrderedDict(pairs) copies its argument: with a memoized list of npairs (one memoized pair),
 * each 6 more bytes ("call it again", BINGET BINGET REDUCE POP) copied 16 bytes per pair. */
static bytes ordered_dict_copies(int npairs, int calls) {
    bytes b = {0};
    PUT(&b, HEAD "\x80\x02" "ccollections\nOrderedDict\n");
    put_op32(&b, 'r', 0);
    PUT(&b, "0U\x01kU\x01v\x86");                 /* ("k", "v") */
    put_op32(&b, 'r', 1);
    PUT(&b, "0](");
    put_op32(&b, 'j', 1);
    for (int i = 1; i < npairs; i++) PUT(&b, "2");  /* DUP */
    PUT(&b, "e\x85");                               /* ([pair, pair, ...],) */
    put_op32(&b, 'r', 2);
    PUT(&b, "0");
    for (int i = 0; i < calls; i++) {
        put_op32(&b, 'j', 0);
        put_op32(&b, 'j', 2);
        PUT(&b, "R0");
    }
    PUT(&b, "N.\x80\x02].");
    return b;
}

static void test_hostile_shared_containers(void) {
    bytes b = shared_dicts(40, 250, 4, true);
    check_hostile("40^4 paths, 1003-byte names", b.p, b.n, "tensor names would take more than the 16 MB", 0);
    free(b.p);
    b = shared_dicts(40, 2, 4, true);
    check_hostile("40^4 paths, 11-byte names", b.p, b.n, "more objects to name than 2166 bytes of pickle", 0);
    free(b.p);
    b = shared_dicts(40, 2, 4, false);       /* no tensor: 2.6M objects to visit, nothing kept */
    check_hostile("40^4 paths to None", b.p, b.n, "more objects to name than 2074 bytes of pickle", 0);
    free(b.p);
    b = ordered_dict_copies(100000, 1000);   /* asked for 1.6 GB */
    check_hostile("OrderedDict copies", b.p, b.n, "objects would take more than the 22 MB allowed", 0);
    free(b.p);
    /* sharing itself is fine: tied weights, a state dict saved twice: 2^3 names of one tensor */
    b = shared_dicts(2, 2, 3, true);
    check_hostile("2^3 paths", b.p, b.n, NULL, 8);
    pth_file *f = pth_open_memory(b.p, b.n, "shared.pth");
    CHECK_MSG(f != NULL, "%s", error_message());
    arena *a = arena_new(1 << 12);
    for (int i = 0; f && i < pth_count(f); i++) {
        tensor *t = tensor_new(a, 1, (int[]){4});
        CHECK(strlen(pth_name(f, i)) == 8 && pth_load_into(f, pth_name(f, i), t) == STATUS_OK);
        CHECK(t->data[3] == 4);
    }
    pth_close(f);
    arena_free(a);
    free(b.p);
}

/* ---- robustness: every truncation, random byte flips ---- */

static uint64_t g_rng = 0x9e3779b97f4a7c15u;
static uint64_t next_rand(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* Opens bytes; if they open, loads every tensor Atelier can hold. Fails only on a bad
 * message (a crash fails the whole program). Returns whether it opened. */
static bool open_and_load(const unsigned char *b, size_t len, arena *a) {
    error_clear();
    pth_file *f = pth_open_memory(b, len, "fuzz.pth");
    if (!f) {
        CHECK_MSG(error_status() != STATUS_OK && error_message()[0] && !strchr(error_message(), '\n'),
                  "bad failure message \"%s\"", error_message());
        error_clear();
        return false;
    }
    for (int i = 0; i < pth_count(f); i++) {
        int64_t shape[8];
        int nd = pth_shape(f, pth_name(f, i), shape);
        tensor *t = tensor_for(a, shape, nd);
        if (t) CHECK(pth_load_into(f, pth_name(f, i), t) == STATUS_OK);
        arena_reset(a);
    }
    pth_close(f);
    return true;
}

static void test_truncated(void) {
    arena *a = arena_new(1 << 24);
    for (int k = 0; k < NREADABLE; k++) {
        size_t len;
        unsigned char *b = test_read_file(fixture(g_readable[k]), &len);
        CHECK_OK(b);
        if (!b) continue;
        int opened = 0;
        for (size_t n = 0; n < len; n++) opened += open_and_load(b, n, a);
        CHECK_MSG(opened == 0, "%s: %d truncated copies opened", g_readable[k], opened);
        CHECK(open_and_load(b, len, a));
        free(b);
    }
    arena_free(a);
}

static void test_byte_flips(void) {
    arena *a = arena_new(1 << 24);
    int opened = 0, total = 0;
    for (int k = 0; k < NREADABLE; k++) {
        size_t len;
        unsigned char *b = test_read_file(fixture(g_readable[k]), &len);
        if (!b) continue;
        unsigned char *c = malloc(len);
        for (int it = 0; it < 3000; it++) {
            memcpy(c, b, len);
            int flips = 1 + (int)(next_rand() % 3);
            for (int j = 0; j < flips; j++) {
                size_t span = (next_rand() & 1) && len > 1200 ? 1200 : len;   /* the pickles lead */
                c[next_rand() % span] ^= (unsigned char)(1 + next_rand() % 255);
            }
            opened += open_and_load(c, len, a);
            total++;
        }
        free(c);
        free(b);
    }
    printf("  byte flips: %d of %d copies still opened\n", opened, total);
    arena_free(a);
}

/* ---- weights_load ---- */

typedef struct table {
    const char *names[7];
    tensor *ts[7];
    model_params p;
} table;

/* The state dict's names and shapes; every value starts at `fill`. */
static void table_make(table *t, arena *a, float fill) {
    static const char *names[] = {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                  "1.running_var", "1.num_batches_tracked"};
    for (int i = 0; i < 7; i++) t->names[i] = names[i];
    t->ts[0] = tensor_new(a, 4, (int[]){3, 2, 3, 3});
    for (int i = 1; i < 6; i++) t->ts[i] = tensor_new(a, 1, (int[]){3});
    t->ts[6] = tensor_scalar(a, 0);
    for (int i = 0; i < 7; i++) tensor_fill(t->ts[i], fill);
    t->p = (model_params){.n = 7, .names = t->names, .tensors = t->ts};
}

/* The table holds state_zip's values (expected.safetensors). */
static void table_check(const table *t, arena *a) {
    safetensors *want = safetensors_open(FIXTURES "expected.safetensors");
    CHECK_OK(want);
    if (!want) return;
    for (int i = 0; i < 7; i++) {
        char key[64];
        snprintf(key, sizeof key, "state_zip/%s", t->names[i]);
        tensor *ref = safetensors_get(want, a, key);
        CHECK_OK(ref);
        if (ref) CHECK_MSG(bits_equal(ref->data, t->ts[i]->data, ref->numel), "%s differs", t->names[i]);
    }
    safetensors_close(want);
}

static void test_weights_load_pth(void) {
    const char *files[] = {"state_zip", "state_legacy", "nested_zip", "nested_legacy", "zip64_archive"};
    for (int k = 0; k < 5; k++) {
        arena *a = arena_new(1 << 16);
        table t;
        table_make(&t, a, -1);
        weights_load_opts o = {.loaded = -1, .unused = -1};
        CHECK_MSG(weights_load(&t.p, fixture(files[k]), &o) == STATUS_OK, "%s: %s", files[k], error_message());
        CHECK(o.loaded == 7 && o.unused == (k == 2 || k == 3 ? 4 : 0));
        table_check(&t, a);
        arena_free(a);
    }
}

/* A safetensors file with the names under "module." (nn.DataParallel's prefix). */
static void test_weights_load_safetensors(void) {
    arena *a = arena_new(1 << 16);
    table src, dst;
    table_make(&src, a, 0);
    CHECK(weights_load(&src.p, fixture("state_zip"), NULL) == STATUS_OK);
    char buf[7][32];
    const char *names[7];
    for (int i = 0; i < 7; i++) {
        snprintf(buf[i], sizeof buf[i], "module.%s", src.names[i]);
        names[i] = buf[i];
    }
    const char *path = test_tmp_path("weights.safetensors");
    CHECK(safetensors_save(path, names, src.ts, 7, NULL, 0) == STATUS_OK);
    table_make(&dst, a, -1);
    weights_load_opts o;
    CHECK(weights_load(&dst.p, path, &o) == STATUS_OK && o.loaded == 7 && o.unused == 0);
    table_check(&dst, a);
    remove(path);
    arena_free(a);
}

/* Any failure leaves every destination tensor as it was. */
static void expect_load_fails(model_params *p, const char *path, status s, const char *want) {
    error_clear();
    weights_load_opts o = {.loaded = -1};
    CHECK(weights_load(p, path, &o) == s && o.loaded == 0);
    CHECK_MSG(strstr(error_message(), want), "\"%s\" lacks \"%s\"", error_message(), want);
    for (int i = 0; i < p->n; i++)
        for (int64_t j = 0; j < p->tensors[i]->numel; j++)
            if (p->tensors[i]->data[j] != 42.0f) { CHECK_MSG(0, "%s was written", p->names[i]); break; }
    error_clear();
}

static void test_weights_load_errors(void) {
    arena *a = arena_new(1 << 16);
    table t;
    table_make(&t, a, 42);
    t.names[6] = "1.missing";   /* the last one: all others would load first without the check */
    expect_load_fails(&t.p, fixture("state_zip"), STATUS_FORMAT,
                      "no tensor \"1.missing\" (tried the prefixes \"\", \"state_dict.\", \"model.\", \"module.\")");
    table_make(&t, a, 42);
    t.ts[6] = tensor_fill(tensor_new(a, 1, (int[]){2}), 42);
    expect_load_fails(&t.p, fixture("nested_zip"), STATUS_SHAPE,
                      "state_dict.1.num_batches_tracked: file has (), model expects (2)");
    table_make(&t, a, 42);
    t.ts[5] = tensor_fill(tensor_new(a, 2, (int[]){3, 1}), 42);
    expect_load_fails(&t.p, fixture("state_legacy"), STATUS_SHAPE, "1.running_var: file has (3), model expects (3, 1)");
    table_make(&t, a, 42);
    expect_load_fails(&t.p, fixture("evil_global"), STATUS_FORMAT, "refusing to load 'os.system'");
    expect_load_fails(&t.p, FIXTURES "nothing.pth", STATUS_IO, "cannot open");
    /* a file that is neither: read as safetensors, refused as such */
    const char *junk = test_tmp_path("junk.bin");
    FILE *fp = fopen(junk, "wb");
    if (fp) { fputs("junk junk junk", fp); fclose(fp); }
    table_make(&t, a, 42);
    expect_load_fails(&t.p, junk, STATUS_FORMAT, "junk.bin");
    remove(junk);
    arena_free(a);
}

/* The real torchvision VGG-19 when ATELIER_VGG19 names it (548 MB; not in the repository). */
static void test_real_vgg19(void) {
    const char *path = getenv("ATELIER_VGG19");
    if (!path) { test_skip("set ATELIER_VGG19=/path/to/vgg19-dcbb9e9d.pth to run"); return; }
    arena *a = arena_new(1 << 20);
    vgg19 m;
    CHECK(vgg19_init(&m, a, 1, VGG_POOL_MAX, NULL) == STATUS_OK);
    weights_load_opts o;
    CHECK_MSG(weights_load(&m.params, path, &o) == STATUS_OK, "%s", error_message());
    CHECK(o.loaded == 32 && o.unused == 6);
    arena_free(a);
}

int main(void) {
    if (!test_make_dir()) return 1;
    RUN(test_all_fixtures_match);
    RUN(test_state_dict_zip);
    RUN(test_state_dict_legacy);
    RUN(test_load_into_errors);
    RUN(test_dtypes);
    RUN(test_views);
    RUN(test_nested_and_params);
    RUN(test_malicious_refused);
    RUN(test_container_errors);
    RUN(test_handmade);
    RUN(test_handmade_refused);
    RUN(test_limits);
    RUN(test_hostile_shared_containers);
    RUN(test_truncated);
    RUN(test_byte_flips);
    RUN(test_weights_load_pth);
    RUN(test_weights_load_safetensors);
    RUN(test_weights_load_errors);
    RUN(test_real_vgg19);
    test_remove_tree(test_dir);
    return test_finish();
}
