/* json.h: a small strict JSON parser, private to the library (safetensors headers, TF.js
 * model.json).
 *
 * It parses RFC 8259 JSON into a tree of values and refuses anything else: trailing
 * commas, comments, leading zeros, control characters and invalid UTF-8 in strings, lone
 * surrogates, trailing bytes after the top-level value, duplicate keys in an object.
 * "\u0000" is refused too: strings are handed out as C strings and an embedded NUL would
 * make two different keys look alike.
 *
 * Integers that fit in int64 without a fraction or exponent are kept exactly (is_int);
 * offsets and shapes in safetensors headers need all 64 bits, which a double cannot hold.
 *
 * Hostile input: for n bytes of input, parsing takes O(n log n) time (sorting each object's
 * keys; O(n) otherwise) and at most about 25 n bytes of memory beyond the input, never more
 * than ~400 MB: a value is 32 bytes and takes at least 2 bytes of input ("0,"), a container
 * holds at most twice its items, a string or key its length plus malloc's header (measured:
 * "[\"\"]," or "{\"\":\"\"}," repeated take 20 bytes per input byte). Nesting deeper than
 * JSON_MAX_DEPTH, more than JSON_MAX_VALUES values and numbers longer than JSON_MAX_NUMBER
 * characters are refused with a message, so neither the stack nor the memory can be
 * exhausted. json_get bisects a sorted index, O(log n) per lookup, so a caller may look up
 * every key of a huge object.
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
/* A real safetensors header has about 10 values per tensor; 4M values of 32 bytes are 128 MB. */
#define JSON_MAX_VALUES (1 << 22)
/* RFC 8259 section 9 lets a parser limit the range and precision of numbers; a double needs
 * at most 17 significant digits, and no real header writes a number this long. */
#define JSON_MAX_NUMBER 1000

typedef enum json_type {
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
} json_type;

typedef struct json_value json_value;
/* 32 bytes. Only the fields of a value's type may be read (count reads 0 for the others). */
struct json_value {
    json_type type;
    bool boolean;        /* JSON_BOOL */
    bool is_int;         /* JSON_NUMBER written as an integer that fits int64 */
    int count;           /* JSON_ARRAY, JSON_OBJECT: number of items; 0 for other types */
    union {
        struct {                 /* JSON_NUMBER */
            int64_t integer;     /* valid when is_int */
            double number;       /* always set (rounded for large integers) */
        };
        struct {                 /* JSON_STRING */
            char *string;        /* decoded UTF-8, NUL-terminated */
            size_t length;       /* bytes before the NUL */
        };
        struct {                 /* JSON_ARRAY, JSON_OBJECT */
            json_value *items;   /* (count) array items or object values, in document order */
            char **keys;         /* (count) JSON_OBJECT keys, in document order; json.c keeps
                                  * its sorted index (count ints) after them */
        };
    };
};

typedef struct json_error {
    status status;       /* STATUS_FORMAT for bad syntax, STATUS_NOMEM when out of memory */
    char msg[160];       /* one line, naming the byte offset of the problem */
} json_error;

/* Parses exactly len bytes (no NUL needed). NULL and *err filled on failure. */
json_value *json_parse(const char *text, size_t len, json_error *err);
void json_free(json_value *v);  /* NULL is fine */

/* The value of key in an object, or NULL if v is not an object or lacks key. O(log count). */
const json_value *json_get(const json_value *v, const char *key);
const char *json_type_name(json_type t);  /* "object", "string", ... for messages */
/* Whether n bytes are valid UTF-8 (what a writer must check before quoting them). */
bool json_is_utf8(const char *s, size_t n);

#endif
