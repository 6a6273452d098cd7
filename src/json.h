/* json.h: a small strict JSON parser, private to the library (safetensors headers).
 *
 * It parses RFC 8259 JSON into a tree of values and refuses anything else: trailing
 * commas, comments, leading zeros, control characters and invalid UTF-8 in strings, lone
 * surrogates, trailing bytes after the top-level value, duplicate keys in an object,
 * nesting deeper than JSON_MAX_DEPTH and more than JSON_MAX_VALUES values (so a hostile
 * header can exhaust neither the stack nor the memory).
 * "\u0000" is refused too: strings are handed out as C strings and an embedded NUL would
 * make two different keys look alike.
 *
 * Integers that fit in int64 without a fraction or exponent are kept exactly (is_int);
 * offsets and shapes in safetensors headers need all 64 bits, which a double cannot hold.
 *
 *   json_error err;
 *   json_value *v = json_parse("{\"a\": [1, 2]}", 13, &err);
 *   if (!v) printf("%s\n", err.msg);        // e.g. "expected ',' or ']' at byte 9"
 *   const json_value *a = json_get(v, "a");  // a->type == JSON_ARRAY, a->count == 2
 *   json_free(v);
 */
#ifndef ATELIER_JSON_H
#define ATELIER_JSON_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "atelier/error.h"

#define JSON_MAX_DEPTH 64
/* Each value takes ~72 bytes of tree, so a 100 MB header of "[0,0,..." would need 3.6 GB;
 * a real safetensors header has about 10 values per tensor. */
#define JSON_MAX_VALUES (1 << 22)

typedef enum json_type {
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
} json_type;

typedef struct json_value json_value;
struct json_value {
    json_type type;
    bool boolean;        /* JSON_BOOL */
    bool is_int;         /* JSON_NUMBER written as an integer that fits int64 */
    int64_t integer;     /* valid when is_int */
    double number;       /* JSON_NUMBER, always set (rounded for large integers) */
    char *string;        /* JSON_STRING: decoded UTF-8, NUL-terminated */
    size_t length;       /* JSON_STRING: bytes before the NUL */
    int count;           /* JSON_ARRAY, JSON_OBJECT: number of items */
    json_value *items;   /* (count) array items or object values, in document order */
    char **keys;         /* (count) JSON_OBJECT keys, in document order */
};

typedef struct json_error {
    status status;       /* STATUS_FORMAT for bad syntax, STATUS_NOMEM when out of memory */
    char msg[160];       /* one line, naming the byte offset of the problem */
} json_error;

/* Parses exactly len bytes (no NUL needed). NULL and *err filled on failure. */
json_value *json_parse(const char *text, size_t len, json_error *err);
void json_free(json_value *v);  /* NULL is fine */

/* The value of key in an object, or NULL if v is not an object or lacks key. */
const json_value *json_get(const json_value *v, const char *key);
const char *json_type_name(json_type t);  /* "object", "string", ... for messages */
/* Whether n bytes are valid UTF-8 (what a writer must check before quoting them). */
bool json_is_utf8(const char *s, size_t n);

#endif
