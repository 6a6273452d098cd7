/* sha256.h: SHA-256 (FIPS 180-4) as lowercase hex, for the hashes that results record
 * (the model a picture was painted with, its inputs), so a result can be traced to the
 * exact bytes that made it.
 *
 * Example:
 * EXAMPLE_BEGIN
 *   char hex[65];
 *   sha256_hex("abc", 3, hex);
 *   if (strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") != 0) return 1;
 *   sha256_hex("", 0, hex);
 *   if (strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") != 0) return 1;
 *   if (sha256_file("/nonexistent/file", hex)) return 1;
 * EXAMPLE_END
 */
#ifndef ATELIER_SHA256_H
#define ATELIER_SHA256_H
#include <stdbool.h>
#include <stddef.h>

/* The hex SHA-256 of n bytes (out: 64 hex digits and a NUL). */
void sha256_hex(const void *data, size_t n, char out[65]);
/* The hex SHA-256 of a file's bytes; false if it cannot be read (out then undefined). */
bool sha256_file(const char *path, char out[65]);

#endif
