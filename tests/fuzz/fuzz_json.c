/* fuzz_json.c: libFuzzer target for the JSON parser (src/json.h).
 *
 * Each input is a document. It must come back as a tree or as NULL with one line in
 * err.msg: never a crash, a leak, a hang or an unbounded allocation. A tree must keep the
 * promises json.h makes: strings are valid UTF-8 with no NUL inside, every key of an
 * object is found again by json_get (so no two keys are alike), containers nest at most
 * JSON_MAX_DEPTH deep. Built and run by scripts/fuzz.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"

/* Aborts (a finding) when v breaks one of json.h's promises. */
static void check(const json_value *v, int depth) {
    switch (v->type) {
    case JSON_NULL: case JSON_BOOL: break;
    case JSON_NUMBER:
        if (v->is_int && (double)v->integer != v->number) abort();   /* number is the rounded integer */
        break;
    case JSON_STRING:
        if (!v->string || strlen(v->string) != v->length || !json_is_utf8(v->string, v->length)) abort();
        break;
    case JSON_ARRAY: case JSON_OBJECT:
        if (++depth > JSON_MAX_DEPTH || v->count < 0 || (v->count && !v->items)) abort();
        for (int i = 0; i < v->count; i++) {
            if (v->type == JSON_OBJECT) {
                const char *k = v->keys[i];
                if (!k || !json_is_utf8(k, strlen(k)) || json_get(v, k) != &v->items[i]) abort();
            }
            check(&v->items[i], depth);
        }
        break;
    default: abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_error err;
    memset(&err, 0, sizeof err);
    json_value *v = json_parse((const char *)data, size, &err);
    if (!v) {
        if (!err.msg[0] || strchr(err.msg, '\n') || err.status == STATUS_OK) abort();
        return 0;
    }
    check(v, 0);
    (void)json_type_name(v->type);
    json_free(v);
    return 0;
}
