/* fuzz_multipart.c: libFuzzer target for job submission (POST /api/jobs, serve_upload.c):
 * the multipart body through libmicrohttpd's post processor, the fields, the images'
 * decoding and the job's acceptance or refusal.
 *
 * Each input is the Content-Type's parameters on the first line (say "; boundary=X"), then
 * the body; the harness sends it as a complete request with the token and the body's
 * length, on one connection of the server of serve_driver.h (which checks the answer).
 * Without a newline in the first 200 bytes the whole input is the body, with the boundary
 * "fuzz". Built and run by scripts/fuzz.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "serve_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nl = memchr(data, '\n', size < 200 ? size : 200);
    const char *params = nl ? (const char *)data : "; boundary=fuzz";
    int nparams = nl ? (int)(nl - data) : (int)strlen(params);
    const uint8_t *body = nl ? nl + 1 : data;
    size_t nbody = size - (size_t)(body - data);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST /api/jobs HTTP/1.1\r\nHost: fuzz\r\nAuthorization: Bearer " SERVE_DRIVER_TOKEN "\r\n"
                     "Content-Type: multipart/form-data%.*s\r\nContent-Length: %zu\r\n\r\n", nparams, params, nbody);
    uint8_t *request = malloc((size_t)n + nbody);
    if (!request) abort();
    memcpy(request, head, (size_t)n);
    memcpy(request + n, body, nbody);
    serve_driver_exchange(request, (size_t)n + nbody);
    free(request);
    return 0;
}
