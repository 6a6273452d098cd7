/* sha256.h: SHA-256 (FIPS 180-4), streaming: start, add bytes, finish as 64 hex digits.
 * Private to the library and the CLI (not a public header). */
#ifndef ATELIER_SHA256_H
#define ATELIER_SHA256_H
#include <stddef.h>
#include <stdint.h>

typedef struct sha256 { uint32_t h[8]; uint8_t buf[64]; uint64_t len; int n; } sha256;

sha256 sha256_start(void);
void sha256_add(sha256 *s, const uint8_t *p, size_t n);
void sha256_finish(sha256 *s, char out[65]);   /* 64 lowercase hex digits and a 0 */

#endif
