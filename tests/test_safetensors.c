/* test_safetensors.c: safetensors reading, writing and validation; checkpoints.
 *
 * Malformed files are built here from bytes, one problem each, and every one must be
 * refused with NULL, the right status and a message naming the problem. The F16 and BF16
 * fixtures were written by torch (tools/gen_st_fixtures.py); their expected float32 values
 * are hard-coded below as hex floats (torch's x.float()), and also stored as F32 beside them.
 * Hostile headers (200,000 metadata entries, wide arrays, huge numbers) are opened and every
 * entry looked up in a forked child whose peak memory and CPU time must stay within bounds.
 */
#define _DEFAULT_SOURCE   /* wait4 */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "atelier/optim.h"
#include "atelier/safetensors.h"
#include "harness.h"


static bool bits_equal(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* A safetensors file from a header (JSON text) and data_len bytes of data 0, 1, 2, ... */
static unsigned char *st_bytes(const char *json, size_t data_len, size_t *len) {
    size_t n = strlen(json);
    *len = 8 + n + data_len;
    unsigned char *b = malloc(*len);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(b + 8, json, n);
    for (size_t i = 0; i < data_len; i++) b[8 + n + i] = (unsigned char)i;
    return b;
}

/* Opening must fail with status s and a message containing want. */
static void expect_refused(const unsigned char *bytes, size_t len, status s, const char *want,
                           int line) {
    error_clear();
    safetensors *f = safetensors_open_memory(bytes, len, "bad.safetensors");
    if (f) {
        test_fail(__FILE__, line, "malformed file was accepted (want \"%s\")", want);
        safetensors_close(f);
        return;
    }
    if (error_status() != s || !strstr(error_message(), want))
        test_fail(__FILE__, line, "status %s, message \"%s\"; want %s with \"%s\"",
                  status_name(error_status()), error_message(), status_name(s), want);
    if (strpbrk(error_message(), "\r\n"))   /* error.h: one line, whatever the file held */
        test_fail(__FILE__, line, "message is more than one line: \"%s\"", error_message());
    error_clear();
}

static void expect_header_refused(const char *json, size_t data_len, const char *want, int line) {
    size_t len;
    unsigned char *b = st_bytes(json, data_len, &len);
    expect_refused(b, len, STATUS_FORMAT, want, line);
    free(b);
}
#define REFUSED(json, data_len, want) expect_header_refused(json, data_len, want, __LINE__)

static void test_round_trip(void) {
    arena *a = arena_new(1 << 16);
    tensor *ts[5] = {
        tensor_scalar(a, -1.5f),
        tensor_new(a, 1, (int[]){7}),
        tensor_new(a, 2, (int[]){3, 5}),
        tensor_new(a, 3, (int[]){2, 3, 4}),
        tensor_new(a, 4, (int[]){2, 1, 3, 2}),
    };
    for (int i = 1; i < 5; i++) test_fill_uniform(ts[i], 100 + i, -3, 3);
    ts[1]->data[0] = INFINITY;
    ts[1]->data[1] = -0.0f;
    const char *names[5] = {"scalar", "vec", "conv.weight", "x3", "caf\xc3\xa9 \"q\" \\"};
    const char *meta[] = {"author", "line1\nline2\t\"quoted\" \xe2\x9c\x93", "empty", ""};
    const char *path = test_tmp_path("round.safetensors");
    CHECK(safetensors_save(path, names, ts, 5, meta, 2) == STATUS_OK);
    safetensors *f = safetensors_open(path);
    CHECK_OK(f);
    if (!f) { arena_free(a); return; }
    CHECK(safetensors_count(f) == 5);
    for (int i = 0; i < 5; i++) {
        CHECK(strcmp(safetensors_name(f, i), names[i]) == 0);  /* file order is save order */
        CHECK(strcmp(safetensors_dtype(f, names[i]), "F32") == 0);
        int64_t shape[8];
        CHECK(safetensors_shape(f, names[i], shape) == ts[i]->ndim);
        for (int d = 0; d < ts[i]->ndim; d++) CHECK(shape[d] == ts[i]->shape[d]);
        tensor *back = safetensors_get(f, a, names[i]);
        CHECK_OK(back);
        if (!back) continue;
        CHECK(tensor_same_shape(back, ts[i]));
        CHECK(memcmp(back->data, ts[i]->data, sizeof(float) * ts[i]->numel) == 0);  /* bit-exact */
    }
    CHECK(safetensors_name(f, 5) == NULL && safetensors_name(f, -1) == NULL);
    CHECK(safetensors_shape(f, "nope", NULL) == -1 && safetensors_dtype(f, "nope") == NULL);
    CHECK(strcmp(safetensors_metadata(f, "author"), meta[1]) == 0);
    CHECK(strcmp(safetensors_metadata(f, "empty"), "") == 0);
    CHECK(safetensors_metadata(f, "missing") == NULL);
    safetensors_close(f);
    remove(path);
    arena_free(a);
}

/* The header is padded with spaces to 8 bytes and the file is exactly header + data. */
static void test_saved_layout(void) {
    arena *a = arena_new(1 << 12);
    tensor *t = tensor_fill(tensor_new(a, 1, (int[]){3}), 2.0f);
    const char *path = test_tmp_path("layout.safetensors");
    CHECK(safetensors_save(path, (const char *[]){"t"}, &t, 1, NULL, 0) == STATUS_OK);
    FILE *fp = fopen(path, "rb");
    unsigned char buf[256];
    size_t n = fp ? fread(buf, 1, sizeof buf, fp) : 0;
    if (fp) fclose(fp);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
    CHECK(n >= 8 && hlen % 8 == 0 && n == 8 + hlen + 12);
    CHECK(buf[8] == '{' && buf[8 + hlen - 1] == ' ');
    const char *want = "{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}";
    CHECK(memcmp(buf + 8, want, strlen(want)) == 0);
    CHECK(buf[8 + hlen] == 0x00 && buf[8 + hlen + 3] == 0x40);  /* 2.0f little-endian */
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0644);
    remove(path);
    arena_free(a);
}

static void test_load_into(void) {
    arena *a = arena_new(1 << 12);
    tensor *w = tensor_fill(tensor_new(a, 2, (int[]){2, 3}), 0.5f);
    const char *path = test_tmp_path("load.safetensors");
    CHECK(safetensors_save(path, (const char *[]){"layer.weight"}, &w, 1, NULL, 0) == STATUS_OK);
    safetensors *f = safetensors_open(path);
    CHECK_OK(f);
    if (!f) { arena_free(a); return; }
    tensor *dst = tensor_new(a, 2, (int[]){2, 3});
    CHECK(safetensors_load_into(f, "layer.weight", dst) == STATUS_OK);
    CHECK(dst->data[0] == 0.5f && dst->data[5] == 0.5f);
    tensor *wrong = tensor_fill(tensor_new(a, 2, (int[]){3, 2}), 7.0f);
    error_clear();
    CHECK(safetensors_load_into(f, "layer.weight", wrong) == STATUS_SHAPE);
    CHECK_MSG(strcmp(error_message(), "layer.weight: file has (2, 3), model expects (3, 2)") == 0,
              "message: %s", error_message());
    CHECK(wrong->data[0] == 7.0f);  /* untouched */
    error_clear();
    CHECK(safetensors_load_into(f, "layer.bias", dst) == STATUS_FORMAT);
    CHECK(strstr(error_message(), "no tensor named \"layer.bias\"") != NULL);
    error_clear();
    CHECK(safetensors_get(f, a, "layer.bias") == NULL && error_status() == STATUS_FORMAT);
    error_clear();
    safetensors_close(f);
    remove(path);
    arena_free(a);
}

/* Reads fixture x (in dtype) and checks it against want[] bit for bit, and against the F32
 * copy x_ref that torch wrote beside it. */
static void check_fixture(const char *path, const char *dtype, int ndim, const int *shape,
                          const float *want, int n) {
    arena *a = arena_new(1 << 12);
    safetensors *f = safetensors_open(path);
    CHECK_OK(f);
    if (!f) { arena_free(a); return; }
    CHECK(strcmp(safetensors_dtype(f, "x"), dtype) == 0);
    CHECK(strncmp(safetensors_metadata(f, "writer"), "torch ", 6) == 0);
    tensor *x = safetensors_get(f, a, "x"), *ref = safetensors_get(f, a, "x_ref");
    CHECK_OK(x);
    CHECK_OK(ref);
    if (x && ref) {
        CHECK(x->ndim == ndim && x->numel == n);
        for (int d = 0; d < ndim; d++) CHECK(x->shape[d] == shape[d]);
        for (int i = 0; i < n; i++) {
            bool ok = isnan(want[i]) ? isnan(x->data[i]) && isnan(ref->data[i])
                                     : bits_equal(x->data[i], want[i]) && bits_equal(ref->data[i], want[i]);
            CHECK_MSG(ok, "%s [%d] = %a (x_ref %a), want %a", dtype, i, x->data[i], ref->data[i], want[i]);
        }
    }
    safetensors_close(f);
    arena_free(a);
}

static void test_f16_fixture(void) {
    /* zeros, normals, max 65504, smallest subnormal 2^-24, smallest normal 2^-14, largest
     * subnormal, infinities, NaN, rounded 0.1, pi, -1e-5 (subnormal), 6e4, 1/3 */
    const float want[16] = {0.0f, -0.0f, 1.0f, -2.5f, 0x1.ffcp+15f, 0x1p-24f, 0x1p-14f,
                            0x1.ff8p-15f, INFINITY, -INFINITY, NAN, 0x1.998p-4f, 0x1.92p+1f,
                            -0x1.5p-17f, 0x1.d4cp+15f, 0x1.554p-2f};
    check_fixture("tests/fixtures/f16.safetensors", "F16", 2, (int[]){4, 4}, want, 16);
}

static void test_bf16_fixture(void) {
    /* as above; bf16 keeps float32's exponent range, so 1e-40 and -7.5e-39 stay float32
     * subnormals, and 255.5 rounds to 256 with 8 mantissa bits */
    const float want[16] = {0.0f, -0.0f, 1.0f, -2.5f, 0x1.fep+127f, 0x1p-133f, 0x1p-126f,
                            INFINITY, -INFINITY, NAN, 0x1.9ap-4f, 0x1.92p+1f, 0x1.94p+99f,
                            -0x1.48p-127f, 0x1.56p-2f, 256.0f};
    check_fixture("tests/fixtures/bf16.safetensors", "BF16", 3, (int[]){2, 2, 4}, want, 16);
}

/* Files may list tensors Atelier cannot read; they open, and reading them says why. */
static void test_listed_but_unreadable(void) {
    const char *json = "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                       "\"q\":{\"dtype\":\"Q4_K\",\"shape\":[3],\"data_offsets\":[16,20]},"
                       "\"v5\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[20,28]},"
                       "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[28,28]},"
                       "\"two\\nlines\":{\"dtype\":\"F23\",\"shape\":[],\"data_offsets\":[28,28]}}";
    size_t len;
    unsigned char *b = st_bytes(json, 28, &len);
    safetensors *f = safetensors_open_memory(b, len, "mixed");
    free(b);  /* the bytes were copied */
    CHECK_OK(f);
    if (!f) return;
    arena *a = arena_new(1 << 12);
    int64_t shape[8];
    CHECK(safetensors_count(f) == 5);
    CHECK(strcmp(safetensors_dtype(f, "q"), "Q4_K") == 0);
    CHECK(safetensors_shape(f, "v5", shape) == 5 && shape[4] == 2);
    CHECK(safetensors_shape(f, "empty", shape) == 2 && shape[0] == 0 && shape[1] == 3);
    struct { const char *name, *want; } cases[] = {
        {"ids", "dtype I64"}, {"q", "dtype Q4_K"}, {"v5", "5 dims"}, {"empty", "shape (0, 3)"},
        {"two\nlines", "\"two lines\" has dtype F23"},   /* a fuzz finding: still one line */
    };
    for (int i = 0; i < 5; i++) {
        error_clear();
        CHECK(safetensors_get(f, a, cases[i].name) == NULL);
        CHECK_MSG(strstr(error_message(), cases[i].want) && strstr(error_message(), "mixed") &&
                  !strchr(error_message(), '\n'), "%s: %s", cases[i].name, error_message());
    }
    error_clear();
    safetensors_close(f);
    arena_free(a);
}

/* JSON escapes in names decode to UTF-8 (\u00e9, a surrogate pair for U+1F600). */
static void test_json_escapes(void) {
    const char *json = "{\"caf\\u00e9 \\ud83d\\ude00 \\\"\\/\\n\":{\"dtype\":\"F32\",\"shape\":[],"
                       "\"data_offsets\":[0,4]}, \"__metadata__\" : {\"k\":\"\\t\\u0041\"}}   ";
    size_t len;
    unsigned char *b = st_bytes(json, 4, &len);
    safetensors *f = safetensors_open_memory(b, len, "escapes");
    free(b);
    CHECK_OK(f);
    if (!f) return;
    CHECK(strcmp(safetensors_name(f, 0), "caf\xc3\xa9 \xf0\x9f\x98\x80 \"/\n") == 0);
    CHECK(strcmp(safetensors_metadata(f, "k"), "\tA") == 0);
    safetensors_close(f);
}

static void test_malformed_framing(void) {
    unsigned char b[32] = {0};
    expect_refused(b, 5, STATUS_FORMAT, "too short", __LINE__);
    expect_refused(b, 0, STATUS_FORMAT, "too short", __LINE__);
    b[0] = 0xe8; b[1] = 0x03;  /* 1000 bytes of header in a 32-byte file */
    expect_refused(b, 32, STATUS_FORMAT, "header length 1000 exceeds the file", __LINE__);
    memset(b, 0, 8);
    b[7] = 0x80;               /* 2^63 */
    expect_refused(b, 32, STATUS_FORMAT, "header length 9223372036854775808 is larger than the 100 MB",
                   __LINE__);
    memset(b, 0, 8);
    expect_refused(b, 8, STATUS_FORMAT, "not valid JSON", __LINE__);  /* empty header */
}

static void test_malformed_json(void) {
    REFUSED("hello   ", 0, "not valid JSON: expected a value, found 'h' at byte 0");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]", 0, "found end of input");
    REFUSED("{\"a\":{\"dtype\":\"F3", 0, "unterminated string");
    REFUSED("{\"a\":1,}", 0, "expected a string key");
    REFUSED("{\"a\" 1}", 0, "expected ':'");
    REFUSED("[1,]", 0, "expected a value");
    REFUSED("{} x", 0, "unexpected 'x' after the JSON value");
    REFUSED("{\"a\":01}", 0, "leading zero");
    REFUSED("{\"a\":1.}", 0, "no digits after '.'");
    REFUSED("{\"a\":tru}", 0, "invalid literal");
    REFUSED("{\"a\\q\":1}", 0, "invalid escape");
    REFUSED("{\"a\\u12g4\":1}", 0, "invalid \\u escape");
    REFUSED("{\"a\\ud800\":1}", 0, "lone high surrogate");
    REFUSED("{\"a\\udc00\":1}", 0, "lone low surrogate");
    REFUSED("{\"a\\u0000\":1}", 0, "\\u0000");
    REFUSED("{\"a\tb\":1}", 0, "control character 0x09");
    REFUSED("{\"a\xc3\":1}", 0, "invalid UTF-8");
    REFUSED("{\"\xc0\xaf\":1}", 0, "invalid UTF-8");      /* overlong '/' */
    REFUSED("{\"\xed\xa0\x80\":1}", 0, "invalid UTF-8");  /* an encoded surrogate */
    REFUSED("[1,2]", 0, "header is a JSON array, not an object");
    REFUSED("\"x\"", 0, "header is a JSON string, not an object");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
            "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8]}}", 8, "duplicate key \"a\"");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
            "duplicate key \"dtype\"");
    /* A key that decodes to a newline (fuzz finding): the message stays one line. */
    REFUSED("{\"a\\nb\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
            "\"a\\nb\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8]}}", 8, "duplicate key \"a b\"");
}

/* 100000 '[' must be refused at the depth limit, not overflow the stack. */
static void test_deep_nesting(void) {
    size_t n = 100000;
    char *json = malloc(n + 1);
    memset(json, '[', n);
    json[n] = 0;
    REFUSED(json, 0, "nesting deeper than 64");
    memset(json, '{', n);
    for (size_t i = 1; i + 5 < n; i += 5) memcpy(json + i, "\"a\":{", 5);
    REFUSED(json, 0, "nesting deeper than 64");
    free(json);
}

/* ---- hostile headers: a small file never costs much (safetensors.h, "Hostile input") ----
 *
 * Each file is opened and read as `atelier inspect` reads it (every tensor's shape and dtype
 * by name, every metadata entry by index and by name) in a forked child, so that a
 * regression costs the child and not this process, and so that the peak RSS (wait4's
 * ru_maxrss, above the child's RSS once started) and CPU time measured are the child's own;
 * an alarm kills a child that hangs. The unfixed reader took 49 s for the 200,000 metadata
 * entries (a linear search per key). */

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
#define HOSTILE_CPU_S (0.5 * HOSTILE_SCALE)     /* user plus system time of the child */

typedef struct hostile_run {
    bool opened;
    int count, nmeta;     /* tensors and metadata entries, when opened */
    int found;            /* lookups by name that found what the index gave */
    status st;            /* else error_status() and error_message() */
    char msg[300];
    double rss_mb;        /* peak RSS above the child's start (test_child_cost) */
    double cpu_s;
    int died;             /* the signal that killed the child, -1 if it said nothing */
} hostile_run;

/* What `atelier inspect` does: every tensor by name, every metadata entry by index and name. */
static void inspect_all(const safetensors *f, hostile_run *c) {
    c->count = safetensors_count(f);
    c->nmeta = safetensors_metadata_count(f);
    for (int i = 0; i < c->count; i++) {
        int64_t shape[8];
        const char *name = safetensors_name(f, i);
        c->found += safetensors_shape(f, name, shape) >= 0 && safetensors_dtype(f, name) != NULL;
    }
    for (int i = 0; i < c->nmeta; i++)
        c->found += safetensors_metadata(f, safetensors_metadata_key(f, i)) == safetensors_metadata_value(f, i);
}

static void open_in_child(void *out, void *user) {
    hostile_run *c = out;
    error_clear();
    safetensors *f = safetensors_open(user);
    c->opened = f != NULL;
    if (f) inspect_all(f, c);
    c->st = error_status();
    snprintf(c->msg, sizeof c->msg, "%s", error_message());
    safetensors_close(f);
}

static hostile_run hostile_open(const char *path) {
    hostile_run r = {0};
    test_cost k = test_child_cost(open_in_child, (void *)path, &r, sizeof r);
    r.rss_mb = k.rss_mb;
    r.cpu_s = k.cpu_s;
    r.died = k.died;
    return r;
}

/* A growing header: pre, then n times the pattern with %d replaced by the index, then post. */
typedef struct text { char *p; size_t n, cap; } text;

static void text_put(text *t, const char *s, size_t n) {
    if (t->n + n + 1 > t->cap) {
        t->cap = 2 * (t->n + n + 1);
        t->p = realloc(t->p, t->cap);
    }
    memcpy(t->p + t->n, s, n);
    t->n += n;
    t->p[t->n] = 0;
}

static text header_of(const char *pre, const char *pattern, int n, const char *post) {
    text t = {0};
    char item[256];
    text_put(&t, pre, strlen(pre));
    for (int i = 0; i < n; i++) {
        int k = snprintf(item, sizeof item, pattern, i);
        text_put(&t, item, (size_t)k);
    }
    text_put(&t, post, strlen(post));
    return t;
}

/* The header (without data), saved as a file, must open with count tensors and nmeta
 * metadata entries, every lookup agreeing (want NULL), or be refused with a message holding
 * want; within rss_mb of memory and HOSTILE_CPU_S. */
static void check_hostile(const char *what, const text *header, const char *want, int count, int nmeta,
                          double rss_mb) {
    const char *path = test_tmp_path("hostile.safetensors");
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)header->n >> (8 * i));
    FILE *fp = fopen(path, "wb");
    CHECK(fp && fwrite(len, 1, 8, fp) == 8 && fwrite(header->p, 1, header->n, fp) == header->n);
    if (fp) fclose(fp);
    hostile_run r = hostile_open(path);
    printf("    %-30s %8zu bytes: %s, %.3f s CPU, peak RSS +%.1f MB\n", what, header->n + 8,
           r.opened ? "opened" : "refused", r.cpu_s, r.rss_mb);
    CHECK_MSG(r.died == 0, "%s: the opening child died (signal %d)", what, r.died);
    if (want)
        CHECK_MSG(r.died || (!r.opened && r.st == STATUS_FORMAT && strstr(r.msg, want) && !strchr(r.msg, '\n')),
                  "%s: %s, status %s, message '%s' (want '%s')", what, r.opened ? "opened" : "refused",
                  status_name(r.st), r.msg, want);
    else
        CHECK_MSG(r.died || (r.opened && r.count == count && r.nmeta == nmeta && r.found == count + nmeta),
                  "%s: %s, %d tensors, %d metadata, %d found (want %d, %d): %s", what,
                  r.opened ? "opened" : "refused", r.count, r.nmeta, r.found, count, nmeta, r.msg);
    rss_mb *= HOSTILE_SCALE;
    CHECK_MSG(r.rss_mb < rss_mb, "%s: peak RSS +%.1f MB (bound %.0f MB)", what, r.rss_mb, rss_mb);
    CHECK_MSG(r.cpu_s < HOSTILE_CPU_S, "%s: %.2f s CPU (bound %.1f s)", what, r.cpu_s, HOSTILE_CPU_S);
    remove(path);
}

/* The file: 200,000 metadata entries in 2.8 MB, each looked up by name. */
static void test_hostile_metadata(void) {
    text h = header_of("{\"__metadata__\":{", "\"m%07d\":\"v\",", 199999, "\"m9999999\":\"v\"}}");
    check_hostile("200,000 metadata entries", &h, NULL, 0, 200000, 64);
    free(h.p);
    h = header_of("{", "\"t%07d\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},", 49999,
                  "\"t9999999\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}");
    check_hostile("50,000 tensors", &h, NULL, 50000, 0, 64);
    free(h.p);
}

/* Lookups by name bisect an index: present keys, absent ones before, between and after them. */
static void test_metadata_lookups(void) {
    text h = header_of("{\"__metadata__\":{", "\"k%d\":\"v\",", 1000, "\"\":\"empty\",\"b\":\"last\"}}");
    size_t len;
    unsigned char *b = st_bytes(h.p, 0, &len);
    safetensors *f = safetensors_open_memory(b, len, "lookups");
    free(b);
    free(h.p);
    CHECK_OK(f);
    if (!f) return;
    CHECK(safetensors_metadata_count(f) == 1002);
    CHECK(strcmp(safetensors_metadata(f, "k0"), "v") == 0 && strcmp(safetensors_metadata(f, "k999"), "v") == 0);
    CHECK(strcmp(safetensors_metadata(f, ""), "empty") == 0 && strcmp(safetensors_metadata(f, "b"), "last") == 0);
    CHECK(strcmp(safetensors_metadata_key(f, 1001), "b") == 0);
    CHECK(strcmp(safetensors_metadata_value(f, 1001), "last") == 0);
    CHECK(safetensors_metadata_value(f, 1002) == NULL && safetensors_metadata_value(f, -1) == NULL);
    const char *absent[] = {"a", "k", "k1000", "k00", "k9999", "z", "\x7f"};
    for (size_t i = 0; i < sizeof absent / sizeof *absent; i++)
        CHECK_MSG(safetensors_metadata(f, absent[i]) == NULL, "\"%s\" was found", absent[i]);
    safetensors_close(f);
    REFUSED("{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"d\":\"4\",\"e\":\"5\",\"b\":\"6\"}}", 0,
            "duplicate key \"b\"");
    safetensors *none = safetensors_open_memory("\x02\0\0\0\0\0\0\0{}", 10, "none");
    CHECK(none && safetensors_metadata_count(none) == 0 && !safetensors_metadata(none, "a") &&
          !safetensors_metadata_value(none, 0));
    safetensors_close(none);
}

/* JSON (json.h, "Hostile input"): memory stays within 25 bytes per header byte + 16 MB, or
 * the limits refuse the header; numbers are at most JSON_MAX_NUMBER (1000) characters. */
static void test_hostile_json(void) {
    text h = header_of("{\"a\":[", "0,", 1000000, "0]}");                  /* 2 MB, 1M values */
    check_hostile("[0,0,...] 1M values", &h, "tensor \"a\" is a array", 0, 0, 16 + 25 * 2.0);
    free(h.p);
    h = header_of("{\"a\":[", "0,", 4200000, "0]}");                       /* 8.4 MB */
    check_hostile("[0,0,...] 4.2M values", &h, "more than 4194304 values", 0, 0, 16 + 25 * 8.4);
    free(h.p);
    h = header_of("{\"a\":[", "{\"\":\"\"},", 250000, "{}]}");              /* 2 MB of objects */
    check_hostile("[{\"\":\"\"},...] 250,000", &h, "tensor \"a\" is a array", 0, 0, 16 + 25 * 2.0);
    free(h.p);
    h = header_of("{\"a\":[", "1111111111", 1600000, "]}");                /* a 16 MB number */
    check_hostile("a 16 MB number", &h, "a number of more than 1000 characters", 0, 0, 16 + 16);
    free(h.p);
    h = header_of("{\"__metadata__\":{\"k\":\"", "aaaaaaaaaa", 1600000, "\"}}");   /* a 16 MB string */
    check_hostile("a 16 MB string", &h, NULL, 0, 1, 16 + 2 * 16);
    free(h.p);
    /* the number limit itself: 1000 characters are read, 1001 refused */
    const char *entry = "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4],\"x\":";
    for (int n = 1000; n <= 1001; n++) {
        text t = {0};
        text_put(&t, entry, strlen(entry));
        text_put(&t, "1.", 2);
        for (int i = 2; i < n; i++) text_put(&t, "5", 1);
        text_put(&t, "}}", 2);
        size_t len;
        unsigned char *b = st_bytes(t.p, 4, &len);
        if (n == 1000) {
            safetensors *f = safetensors_open_memory(b, len, "number");
            CHECK_MSG(f != NULL, "%s", error_message());
            safetensors_close(f);
        } else {
            expect_refused(b, len, STATUS_FORMAT, "a number of more than 1000 characters at byte 56", __LINE__);
        }
        free(b);
        free(t.p);
    }
}

static void test_malformed_entries(void) {
    REFUSED("{\"a\":5}", 0, "tensor \"a\" is a number, not an object");
    REFUSED("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor \"a\" has no \"dtype\"");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "tensor \"a\" has no \"shape\"");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "tensor \"a\" has no \"data_offsets\"");
    REFUSED("{\"a\":{\"dtype\":42,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "malformed dtype (a number)");
    REFUSED("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "malformed dtype (\"f32\")");
    REFUSED("{\"a\":{\"dtype\":\"\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "malformed dtype");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
            "shape[0] is not a non-negative integer");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1.5],\"data_offsets\":[0,4]}}", 4,
            "shape[1] is not a non-negative integer");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]}}", 4,
            "shape[0] is not a non-negative integer");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4,
            "shape[0] is not a non-negative integer");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]}}", 4,
            "\"shape\" is a object, not an array");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
            "has 9 dims, at most 8");
}

static void test_malformed_offsets(void) {
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
            "data_offsets [0, 8] out of range (data buffer is 4 bytes)");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
            "data_offsets end 0 < begin 4");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
            "not an array of two non-negative integers");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4,
            "not an array of two non-negative integers");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}}", 4,
            "not an array of two non-negative integers");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8,
            "F32 (2) needs a different number of bytes, data_offsets give 4");
    REFUSED("{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24,
            "BF16 (2, 3) needs a different number of bytes");
    /* 4 * 2^62 * 4 wraps to 0 in 64 bits: it must not pass for an empty tensor */
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,0]}}", 0,
            "needs more than 2^64 bytes");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,1],\"data_offsets\":[0,4]}}", 4,
            "needs more than 2^64 bytes");
    REFUSED("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
            "tensors \"a\" [0, 8) and \"b\" [4, 12) overlap");
    /* listed out of order, and b lies inside a: sorting by begin must still find it */
    REFUSED("{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
            "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]},"
            "\"a\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,20]}}", 20, "overlap");
}

static void test_malformed_metadata(void) {
    REFUSED("{\"__metadata__\":{\"k\":1}}", 0, "__metadata__ value of \"k\" is a number, not a string");
    REFUSED("{\"__metadata__\":{\"k\":\"v\",\"n\":null}}", 0, "value of \"n\" is a null");
    REFUSED("{\"__metadata__\":[\"k\"]}", 0, "__metadata__ is a array, not an object");
}

/* Files on disk: missing, a directory, empty; and a valid file with trailing holes. */
static void test_open_files(void) {
    error_clear();
    CHECK(safetensors_open(test_tmp_path("does-not-exist.safetensors")) == NULL);
    CHECK(error_status() == STATUS_IO && strstr(error_message(), "cannot open: No such file"));
    error_clear();
    CHECK(safetensors_open(test_dir) == NULL);
    CHECK(error_status() == STATUS_IO && strstr(error_message(), "not a regular file"));
    error_clear();
    const char *path = test_tmp_path("empty.safetensors");
    FILE *fp = fopen(path, "wb");
    if (fp) fclose(fp);
    CHECK(safetensors_open(path) == NULL);
    CHECK(error_status() == STATUS_FORMAT && strstr(error_message(), "empty.safetensors: file is 0 bytes"));
    error_clear();
    remove(path);
}

static void test_save_arguments(void) {
    arena *a = arena_new(1 << 12);
    tensor *t[2] = {tensor_new(a, 1, (int[]){2}), tensor_new(a, 1, (int[]){2})};
    const char *path = test_tmp_path("args.safetensors");
    struct { const char *names[2]; const char *want; } cases[] = {
        {{"a", "a"}, "tensor name \"a\" appears twice"},
        {{"a", "__metadata__"}, "cannot be a tensor name"},
        {{"a", NULL}, "tensor name is NULL"},
        {{"a", "\xff"}, "not valid UTF-8"},
    };
    for (int i = 0; i < 4; i++) {
        error_clear();
        CHECK(safetensors_save(path, cases[i].names, t, 2, NULL, 0) == STATUS_ARG);
        CHECK_MSG(strstr(error_message(), cases[i].want), "%s", error_message());
    }
    error_clear();
    CHECK(safetensors_save(path, (const char *[]){"a", "b"}, (tensor *[]){t[0], NULL}, 2, NULL, 0) == STATUS_ARG);
    error_clear();
    CHECK(safetensors_save(path, (const char *[]){"a"}, t, 1, (const char *[]){"k", "1", "k", "2"}, 2)
          == STATUS_ARG);
    CHECK(strstr(error_message(), "metadata key \"k\" appears twice"));
    error_clear();
    CHECK(test_count_entries(test_dir) == 0);  /* nothing was written */
    arena_free(a);
}

/* A file with the given value in its one tensor; returns whether it reads back as value. */
static bool file_holds(const char *path, float value) {
    arena *a = arena_new(1 << 12);
    safetensors *f = safetensors_open(path);
    tensor *t = f ? safetensors_get(f, a, "w") : NULL;
    bool ok = t && t->numel == 4 && t->data[3] == value;
    safetensors_close(f);
    arena_free(a);
    return ok;
}

/* The target is replaced only by a complete file: failures leave the old one and no
 * temporary file behind. */
static void test_atomic_write(void) {
    arena *a = arena_new(1 << 20);
    const char *names[] = {"w"};
    tensor *small = tensor_fill(tensor_new(a, 1, (int[]){4}), 1.0f);
    tensor *big = tensor_fill(tensor_new(a, 1, (int[]){4}), 2.0f);
    const char *path = test_tmp_path("model.safetensors");
    CHECK(safetensors_save(path, names, &small, 1, NULL, 0) == STATUS_OK);
    CHECK(safetensors_save(path, names, &big, 1, NULL, 0) == STATUS_OK);  /* overwrite */
    CHECK(file_holds(path, 2.0f));

    error_clear();  /* a path inside a missing directory */
    CHECK(safetensors_save(test_tmp_path("missing/model.safetensors"), names, &small, 1, NULL, 0) == STATUS_IO);
    CHECK(strstr(error_message(), "cannot create a temporary file"));
    error_clear();

    /* the target is a non-empty directory: writing works, the rename fails */
    const char *dir = test_tmp_path("dir.safetensors"), *inside = test_tmp_path("dir.safetensors/keep");
    CHECK(mkdir(dir, 0755) == 0);
    FILE *fp = fopen(inside, "wb");
    if (fp) fclose(fp);
    CHECK(safetensors_save(dir, names, &small, 1, NULL, 0) == STATUS_IO);
    CHECK(strstr(error_message(), "write failed"));
    error_clear();
    CHECK(test_count_entries(test_dir) == 2 && test_count_entries(dir) == 1);  /* no temp file left */
    remove(inside);
    remove(dir);
    CHECK(file_holds(path, 2.0f));
    remove(path);
    arena_free(a);
}

/* A write that fails midway (the file size limit stops the data after 4096 bytes). */
static void test_atomic_write_midway(void) {
    arena *a = arena_new(1 << 20);
    const char *names[] = {"w"};
    tensor *old_w = tensor_fill(tensor_new(a, 1, (int[]){4}), 2.0f);
    const char *path = test_tmp_path("model.safetensors");
    CHECK(safetensors_save(path, names, &old_w, 1, NULL, 0) == STATUS_OK);
    tensor *huge = tensor_fill(tensor_new(a, 1, (int[]){16384}), 3.0f);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    status s = safetensors_save(path, names, &huge, 1, NULL, 0);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, was);
    CHECK(s == STATUS_IO && strstr(error_message(), "write failed: File too large"));
    error_clear();
    CHECK(file_holds(path, 2.0f));            /* the old file, intact */
    CHECK(test_count_entries(test_dir) == 1);     /* and nothing else */
    remove(path);
    arena_free(a);
}

static void test_checkpoint_round_trip(void) {
    arena *a = arena_new(1 << 16);
    tensor *w = tensor_new(a, 2, (int[]){3, 4}), *b = tensor_new(a, 1, (int[]){4});
    test_fill_uniform(w, 1, -1, 1);
    test_fill_uniform(b, 2, -1, 1);
    const char *names[] = {"fc.weight", "fc.bias"};
    const char *path = test_tmp_path("ckpt.safetensors");
    CHECK(checkpoint_save(path, names, (tensor *[]){w, b}, 2, NULL, 42) == STATUS_OK);
    tensor *w2 = tensor_new(a, 2, (int[]){3, 4}), *b2 = tensor_new(a, 1, (int[]){4});
    int64_t step = -1;
    CHECK(checkpoint_load(path, names, (tensor *[]){w2, b2}, 2, NULL, &step) == STATUS_OK);
    CHECK(step == 42);
    CHECK(memcmp(w2->data, w->data, sizeof(float) * 12) == 0);
    CHECK(memcmp(b2->data, b->data, sizeof(float) * 4) == 0);
    safetensors *f = safetensors_open(path);
    CHECK_OK(f);
    if (f) {
        CHECK(strcmp(safetensors_metadata(f, "format"), "atelier-checkpoint") == 0);
        CHECK(strcmp(safetensors_metadata(f, "version"), "1") == 0);
        CHECK(strcmp(safetensors_metadata(f, "step"), "42") == 0);
        CHECK(strcmp(safetensors_metadata(f, "optim"), "none") == 0);
        safetensors_close(f);
    }
    remove(path);
    arena_free(a);
}

/* Gradients of a fixed pattern, then one optimiser step. */
static void adam_steps(optim *opt, tensor *x, int steps) {
    for (int s = 0; s < steps; s++) {
        optim_zero_grad(opt);
        float *g = tensor_grad(x);
        for (int64_t i = 0; i < x->numel; i++) g[i] = (float)(i + 1) * (s % 2 ? -0.5f : 1.0f) + x->data[i];
        optim_step(opt);
    }
}

/* Resuming from a checkpoint continues exactly as if training had not stopped. */
static void test_checkpoint_adam(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_new(a, 2, (int[]){2, 3}), *y = tensor_new(a, 2, (int[]){2, 3});
    tensor_requires_grad(x);
    tensor_requires_grad(y);
    test_fill_uniform(x, 7, -1, 1);
    optim *ox = optim_adam(a, &x, 1, adam_defaults(0.01f));
    optim *oy = optim_adam(a, &y, 1, adam_defaults(0.01f));
    CHECK_OK(ox);
    CHECK_OK(oy);
    if (!ox || !oy) { optim_free(ox); optim_free(oy); arena_free(a); return; }
    adam_steps(ox, x, 3);
    const char *path = test_tmp_path("adam.safetensors");
    CHECK(checkpoint_save(path, (const char *[]){"x"}, &x, 1, ox, 3) == STATUS_OK);
    int64_t step = 0;
    CHECK(checkpoint_load(path, (const char *[]){"x"}, &y, 1, oy, &step) == STATUS_OK);
    CHECK(step == 3 && optim_steps(oy) == 3);
    CHECK(memcmp(x->data, y->data, sizeof(float) * 6) == 0);
    const char *sn[4];
    tensor *sx[4], *sy[4];
    int n = optim_state(ox, sn, sx, 4);
    CHECK(n == 2 && optim_state(oy, sn, sy, 4) == 2);
    for (int i = 0; i < n && i < 4; i++) CHECK(memcmp(sx[i]->data, sy[i]->data, sizeof(float) * 6) == 0);
    adam_steps(ox, x, 2);
    adam_steps(oy, y, 2);
    CHECK(memcmp(x->data, y->data, sizeof(float) * 6) == 0);  /* identical continuation */

    optim *sgd = optim_sgd(a, &y, 1, sgd_defaults(0.1f));
    error_clear();
    CHECK(checkpoint_load(path, (const char *[]){"x"}, &y, 1, sgd, &step) == STATUS_FORMAT);
    CHECK(strstr(error_message(), "checkpoint optimiser is adam, but the optimiser given is sgd"));
    error_clear();
    optim_free(sgd);
    optim_free(ox);
    optim_free(oy);
    remove(path);
    arena_free(a);
}

static void expect_load_refused(const char *path, const char *name, tensor *t, status s,
                                const char *want, int line) {
    int64_t step = 99;
    error_clear();
    status got = checkpoint_load(path, &name, &t, 1, NULL, &step);
    if (got != s || !strstr(error_message(), want) || step != 99)
        test_fail(__FILE__, line, "status %s, message \"%s\", step %lld; want %s with \"%s\"",
                  status_name(got), error_message(), (long long)step, status_name(s), want);
    error_clear();
}

static void test_checkpoint_refusals(void) {
    arena *a = arena_new(1 << 12);
    tensor *w = tensor_fill(tensor_new(a, 1, (int[]){4}), 1.0f);
    tensor *dst = tensor_fill(tensor_new(a, 1, (int[]){4}), 9.0f);
    tensor *wrong = tensor_new(a, 1, (int[]){5});
    const char *path = test_tmp_path("refuse.safetensors");
    const char *n1[] = {"w"};
    CHECK(safetensors_save(path, n1, &w, 1, NULL, 0) == STATUS_OK);
    expect_load_refused(path, "w", dst, STATUS_FORMAT, "not an Atelier checkpoint (metadata format is missing)",
                        __LINE__);
    const char *v2[] = {"format", "atelier-checkpoint", "version", "2", "step", "1", "optim", "none"};
    CHECK(safetensors_save(path, n1, &w, 1, v2, 4) == STATUS_OK);
    expect_load_refused(path, "w", dst, STATUS_FORMAT, "checkpoint version 2 is not supported", __LINE__);
    const char *bad_step[] = {"format", "atelier-checkpoint", "version", "1", "step", "-1", "optim", "none"};
    CHECK(safetensors_save(path, n1, &w, 1, bad_step, 4) == STATUS_OK);
    expect_load_refused(path, "w", dst, STATUS_FORMAT, "metadata \"step\" is \"-1\"", __LINE__);
    CHECK(checkpoint_save(path, n1, &w, 1, NULL, 5) == STATUS_OK);
    expect_load_refused(path, "v", dst, STATUS_FORMAT, "checkpoint lacks tensor \"v\"", __LINE__);
    expect_load_refused(path, "w", wrong, STATUS_SHAPE, "w: file has (4), model expects (5)", __LINE__);
    expect_load_refused(test_tmp_path("none.safetensors"), "w", dst, STATUS_IO, "cannot open", __LINE__);
    CHECK(dst->data[0] == 9.0f);  /* refused loads changed nothing */

    /* all-or-nothing: the second tensor is missing, so the first is not loaded either */
    int64_t step;
    error_clear();
    CHECK(checkpoint_load(path, (const char *[]){"w", "v"}, (tensor *[]){dst, dst}, 2, NULL, &step)
          == STATUS_FORMAT);
    CHECK(dst->data[0] == 9.0f);
    error_clear();
    remove(path);
    arena_free(a);
}

int main(void) {
    if (!test_make_dir()) return 1;
    RUN(test_round_trip);
    RUN(test_saved_layout);
    RUN(test_load_into);
    RUN(test_f16_fixture);
    RUN(test_bf16_fixture);
    RUN(test_listed_but_unreadable);
    RUN(test_json_escapes);
    RUN(test_malformed_framing);
    RUN(test_malformed_json);
    RUN(test_deep_nesting);
    RUN(test_hostile_metadata);
    RUN(test_metadata_lookups);
    RUN(test_hostile_json);
    RUN(test_malformed_entries);
    RUN(test_malformed_offsets);
    RUN(test_malformed_metadata);
    RUN(test_open_files);
    RUN(test_save_arguments);
    RUN(test_atomic_write);
    RUN(test_atomic_write_midway);
    RUN(test_checkpoint_round_trip);
    RUN(test_checkpoint_adam);
    RUN(test_checkpoint_refusals);
    test_remove_tree(test_dir);
    return test_finish();
}
