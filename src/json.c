/* json.c: a strict recursive-descent JSON parser with bounded depth (see json.h).
 *
 * Recursion is safe because depth is capped at JSON_MAX_DEPTH: 100000 '[' fail at the
 * 65th with a message instead of overflowing the stack. Each parse_* function either
 * fills its output completely or frees what it allocated and leaves the output zeroed, so
 * a caller only ever frees complete values.
 */
#include "json.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const unsigned char *text;
    size_t len, pos;
    int depth;
    size_t values;  /* parsed so far, against JSON_MAX_VALUES */
    json_error *err;
} parser;

static bool parse_value(parser *p, json_value *out);

/* Records the first problem with the byte offset where it was found. */
static bool fail_at(parser *p, size_t pos, const char *fmt, ...) {
    char what[120];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    p->err->status = STATUS_FORMAT;
    snprintf(p->err->msg, sizeof p->err->msg, "%s at byte %zu", what, pos);
    for (char *c = p->err->msg; *c; c++)   /* one line: a quoted key may hold "\n" */
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = ' ';
    return false;
}

static bool fail_nomem(parser *p) {
    p->err->status = STATUS_NOMEM;
    snprintf(p->err->msg, sizeof p->err->msg, "out of memory at byte %zu", p->pos);
    return false;
}

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->text[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

/* Describes the byte at pos for messages: "end of input" or "'x'" or "byte 0x1f". */
static const char *describe(const parser *p, char buf[16]) {
    if (p->pos >= p->len) return "end of input";
    unsigned char c = p->text[p->pos];
    if (c >= 0x20 && c < 0x7f) snprintf(buf, 16, "'%c'", c);
    else snprintf(buf, 16, "byte 0x%02x", c);
    return buf;
}

static bool parse_literal(parser *p, const char *word, json_value *out) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->text + p->pos, word, n) != 0)
        return fail_at(p, p->pos, "invalid literal (expected '%s')", word);
    p->pos += n;
    out->type = word[0] == 'n' ? JSON_NULL : JSON_BOOL;
    out->boolean = word[0] == 't';
    return true;
}

static size_t scan_digits(parser *p) {
    size_t start = p->pos;
    while (p->pos < p->len && p->text[p->pos] >= '0' && p->text[p->pos] <= '9') p->pos++;
    return p->pos - start;
}

/* The integer part as int64 with overflow checks; false when it does not fit. Accumulates
 * negatively so that INT64_MIN is representable. */
static bool integer_value(const unsigned char *s, size_t n, bool neg, int64_t *out) {
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = s[i] - '0';
        if (v < (INT64_MIN + d) / 10) return false;
        v = v * 10 - d;
    }
    if (!neg && v == INT64_MIN) return false;
    *out = neg ? v : -v;
    return true;
}

/* RFC 8259 number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool parse_number(parser *p, json_value *out) {
    size_t start = p->pos;
    bool neg = p->text[p->pos] == '-';
    if (neg) p->pos++;
    size_t int_start = p->pos, nint = scan_digits(p);
    if (nint == 0) return fail_at(p, start, "invalid number");
    if (nint > 1 && p->text[int_start] == '0') return fail_at(p, start, "number with a leading zero");
    bool integral = true;
    if (p->pos < p->len && p->text[p->pos] == '.') {
        p->pos++;
        integral = false;
        if (scan_digits(p) == 0) return fail_at(p, start, "invalid number (no digits after '.')");
    }
    if (p->pos < p->len && (p->text[p->pos] == 'e' || p->text[p->pos] == 'E')) {
        p->pos++;
        integral = false;
        if (p->pos < p->len && (p->text[p->pos] == '+' || p->text[p->pos] == '-')) p->pos++;
        if (scan_digits(p) == 0) return fail_at(p, start, "invalid number (no exponent digits)");
    }
    size_t n = p->pos - start;
    if (n > JSON_MAX_NUMBER) return fail_at(p, start, "a number of more than %d characters", JSON_MAX_NUMBER);
    out->type = JSON_NUMBER;
    out->is_int = integral && integer_value(p->text + int_start, nint, neg, &out->integer);
    char copy[JSON_MAX_NUMBER + 1];
    memcpy(copy, p->text + start, n);
    copy[n] = 0;
    out->number = strtod(copy, NULL);  /* the grammar above is a subset of strtod's */
    return true;
}

static int hex_digit(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits at pos; -1 if malformed. */
static long read_hex4(const parser *p, size_t pos) {
    if (p->len - pos < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(p->text[pos + i]);
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t put_utf8(unsigned char *dst, unsigned long cp) {
    if (cp < 0x80) { dst[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) {
        dst[0] = (unsigned char)(0xc0 | cp >> 6);
        dst[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (unsigned char)(0xe0 | cp >> 12);
        dst[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        dst[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    dst[0] = (unsigned char)(0xf0 | cp >> 18);
    dst[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    dst[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    dst[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Length of the valid UTF-8 sequence at s (avail bytes), or 0: refuses overlong forms,
 * surrogates and code points above U+10FFFF (RFC 3629). */
static size_t utf8_valid(const unsigned char *s, size_t avail) {
    unsigned char c = s[0];
    size_t n;
    unsigned long cp, min;
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0) { n = 2; cp = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { n = 3; cp = c & 0x0f; min = 0x800; }
    else if ((c & 0xf8) == 0xf0) { n = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (avail < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

/* A \u escape at pos (pointing at 'u'), with a following low surrogate when the first is a
 * high one. Returns the code point, or -1 after recording the problem; *end is set past it. */
static long parse_unicode_escape(parser *p, size_t pos, size_t *end) {
    long hi = read_hex4(p, pos + 1);
    if (hi < 0) return fail_at(p, pos - 1, "invalid \\u escape"), -1;
    *end = pos + 5;
    if (hi == 0) return fail_at(p, pos - 1, "\\u0000 in a string is not supported"), -1;
    if (hi >= 0xdc00 && hi <= 0xdfff) return fail_at(p, pos - 1, "lone low surrogate"), -1;
    if (hi < 0xd800 || hi > 0xdbff) return hi;
    long lo = -1;
    if (p->len - *end >= 6 && p->text[*end] == '\\' && p->text[*end + 1] == 'u')
        lo = read_hex4(p, *end + 2);
    if (lo < 0xdc00 || lo > 0xdfff) return fail_at(p, pos - 1, "lone high surrogate"), -1;
    *end += 6;
    return 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
}

/* One character of a string body at p->pos, decoded into dst; returns bytes written or 0. */
static size_t decode_char(parser *p, unsigned char *dst) {
    unsigned char c = p->text[p->pos];
    if (c < 0x20) return fail_at(p, p->pos, "control character 0x%02x in a string", c), 0;
    if (c != '\\') {
        size_t n = utf8_valid(p->text + p->pos, p->len - p->pos);
        if (n == 0) return fail_at(p, p->pos, "invalid UTF-8 in a string"), 0;
        memcpy(dst, p->text + p->pos, n);
        p->pos += n;
        return n;
    }
    if (p->pos + 1 >= p->len) return fail_at(p, p->pos, "unterminated string"), 0;
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    unsigned char e = p->text[p->pos + 1];
    const char *hit = e ? strchr(from, e) : NULL;
    if (hit) {
        dst[0] = (unsigned char)to[hit - from];
        p->pos += 2;
        return 1;
    }
    if (e != 'u') return fail_at(p, p->pos, "invalid escape '\\%c'", e >= 0x20 && e < 0x7f ? e : '?'), 0;
    size_t end;
    long cp = parse_unicode_escape(p, p->pos + 1, &end);
    if (cp < 0) return 0;
    p->pos = end;
    return put_utf8(dst, (unsigned long)cp);
}

/* A string at p->pos (the opening quote). The decoded text is never longer than the raw
 * one (an escape of 6 or 12 bytes yields at most 4), so one allocation of the raw length
 * suffices; the closing quote is found first. */
static bool parse_string(parser *p, char **out, size_t *out_len) {
    size_t start = p->pos++, end = p->pos;
    while (end < p->len && p->text[end] != '"') end += p->text[end] == '\\' ? 2 : 1;
    if (end >= p->len) return fail_at(p, start, "unterminated string");
    unsigned char *s = malloc(end - start);
    if (!s) return fail_nomem(p);
    size_t n = 0;
    while (p->pos < end) {
        size_t k = decode_char(p, s + n);
        if (k == 0) { free(s); return false; }
        n += k;
    }
    s[n] = 0;
    p->pos = end + 1;
    *out = (char *)s;
    *out_len = n;
    return true;
}

/* Makes room for one more item (and key, for objects); capacity doubles from 1, so that a
 * container holds at most twice its items (a one-item array, "[0]", holds one). */
static bool grow(parser *p, json_value *v, int *cap) {
    if (v->count < *cap) return true;
    if (*cap > (1 << 28)) return fail_at(p, p->pos, "too many items in one array or object");
    int ncap = *cap ? *cap * 2 : 1;
    json_value *items = realloc(v->items, sizeof *items * (size_t)ncap);
    if (!items) return fail_nomem(p);
    v->items = items;
    if (v->type == JSON_OBJECT) {
        char **keys = realloc(v->keys, sizeof *keys * (size_t)ncap);
        if (!keys) return fail_nomem(p);
        v->keys = keys;
    }
    *cap = ncap;
    return true;
}

static void free_children(json_value *v) {
    for (int i = 0; i < v->count; i++) {
        if (v->keys) free(v->keys[i]);
        json_value *c = &v->items[i];
        if (c->type == JSON_STRING) free(c->string);
        if (c->type == JSON_ARRAY || c->type == JSON_OBJECT) free_children(c);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof *v);
}

/* Sorts pointers to an object's key slots: the slot's place in keys[] is the key's index. */
static int compare_key_slots(const void *a, const void *b) {
    return strcmp(**(char **const *)a, **(char **const *)b);
}

/* Appends an object's index after its keys: the positions of the keys in sorted order,
 * which json_get bisects. Duplicate keys make "which value wins" implementation-defined, so
 * they are refused; sorted, they are neighbours. O(n log n), even for a huge hostile header. */
static bool index_keys(parser *p, json_value *v, size_t start) {
    size_t n = (size_t)v->count;
    if (n == 0) return true;
    char **keys = realloc(v->keys, n * (sizeof *keys + sizeof(int)));
    if (!keys) return fail_nomem(p);
    v->keys = keys;
    char ***sorted = malloc(n * sizeof *sorted);
    if (!sorted) return fail_nomem(p);
    for (size_t i = 0; i < n; i++) sorted[i] = &keys[i];
    qsort(sorted, n, sizeof *sorted, compare_key_slots);
    int *index = (int *)(keys + n);
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        index[i] = (int)(sorted[i] - keys);
        if (ok && i > 0 && strcmp(*sorted[i - 1], *sorted[i]) == 0)
            ok = fail_at(p, start, "duplicate key \"%.60s\" in the object", *sorted[i]);
    }
    free(sorted);
    return ok;
}

/* One object member, "key": value, into out->keys[count] and out->items[count]. */
static bool parse_member(parser *p, json_value *out) {
    char buf[16];
    size_t klen;
    skip_ws(p);
    if (p->pos >= p->len || p->text[p->pos] != '"')
        return fail_at(p, p->pos, "expected a string key, found %s", describe(p, buf));
    if (!parse_string(p, &out->keys[out->count], &klen)) return false;
    skip_ws(p);
    if (p->pos >= p->len || p->text[p->pos] != ':') {
        fail_at(p, p->pos, "expected ':', found %s", describe(p, buf));
    } else {
        p->pos++;
        if (parse_value(p, &out->items[out->count])) return true;
    }
    free(out->keys[out->count]);
    return false;
}

/* An array or an object at p->pos ('[' or '{'); items separated by ',' without a
 * trailing one. */
static bool parse_container(parser *p, json_value *out, bool object) {
    size_t start = p->pos++;
    char close = object ? '}' : ']', buf[16];
    if (++p->depth > JSON_MAX_DEPTH)
        return fail_at(p, start, "nesting deeper than %d", JSON_MAX_DEPTH);
    out->type = object ? JSON_OBJECT : JSON_ARRAY;
    int cap = 0;
    skip_ws(p);
    if (p->pos < p->len && p->text[p->pos] == close) goto done;
    for (;;) {
        if (!grow(p, out, &cap)) goto fail;
        memset(&out->items[out->count], 0, sizeof out->items[0]);
        if (!(object ? parse_member(p, out) : parse_value(p, &out->items[out->count]))) goto fail;
        out->count++;
        skip_ws(p);
        if (p->pos < p->len && p->text[p->pos] == ',') { p->pos++; continue; }
        if (p->pos < p->len && p->text[p->pos] == close) break;
        fail_at(p, p->pos, "expected ',' or '%c', found %s", close, describe(p, buf));
        goto fail;
    }
done:
    p->pos++;
    p->depth--;
    if (object && !index_keys(p, out, start)) goto fail;
    return true;
fail:
    free_children(out);
    return false;
}

static bool parse_value(parser *p, json_value *out) {
    char buf[16];
    skip_ws(p);
    if (p->pos >= p->len) return fail_at(p, p->pos, "expected a value, found end of input");
    if (++p->values > JSON_MAX_VALUES)
        return fail_at(p, p->pos, "more than %d values", JSON_MAX_VALUES);
    unsigned char c = p->text[p->pos];
    switch (c) {
    case '{': return parse_container(p, out, true);
    case '[': return parse_container(p, out, false);
    case '"':
        out->type = JSON_STRING;
        if (parse_string(p, &out->string, &out->length)) return true;
        out->type = JSON_NULL;
        return false;
    case 't': return parse_literal(p, "true", out);
    case 'f': return parse_literal(p, "false", out);
    case 'n': return parse_literal(p, "null", out);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, out);
        return fail_at(p, p->pos, "expected a value, found %s", describe(p, buf));
    }
}

json_value *json_parse(const char *text, size_t len, json_error *err) {
    parser p = {(const unsigned char *)text, len, 0, 0, 0, err};
    err->status = STATUS_OK;
    err->msg[0] = 0;
    json_value *v = calloc(1, sizeof *v);
    if (!v) { fail_nomem(&p); return NULL; }
    if (!parse_value(&p, v)) { free(v); return NULL; }
    skip_ws(&p);
    if (p.pos < p.len) {
        char buf[16];
        fail_at(&p, p.pos, "unexpected %s after the JSON value", describe(&p, buf));
        json_free(v);
        return NULL;
    }
    return v;
}

void json_free(json_value *v) {
    if (!v) return;
    if (v->type == JSON_STRING) free(v->string);
    if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) free_children(v);
    free(v);
}

const json_value *json_get(const json_value *v, const char *key) {
    if (!v || v->type != JSON_OBJECT || v->count == 0) return NULL;
    const int *index = (const int *)(v->keys + v->count);
    int lo = 0, hi = v->count - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(key, v->keys[index[mid]]);
        if (c == 0) return &v->items[index[mid]];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const char *json_type_name(json_type t) {
    switch (t) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "boolean";
    case JSON_NUMBER: return "number";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "array";
    case JSON_OBJECT: return "object";
    }
    return "unknown";
}

bool json_is_utf8(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0, k; i < n; i += k)
        if ((k = utf8_valid(u + i, n - i)) == 0) return false;
    return true;
}
