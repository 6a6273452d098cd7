/* fuzz_http.c: libFuzzer target for the web service's request handling (serve.h): each
 * input is the raw bytes a client sends on one connection (one request, or several
 * pipelined), parsed by libmicrohttpd as the service configures it and handled by the
 * service's own routes, authentication, uploads and answers (serve_driver.h: the server,
 * the checks that make a finding). The seeds cover every route; http.dict has the methods,
 * paths, headers and the token. Built and run by scripts/fuzz.sh. */
#include <stdint.h>
#include "serve_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    serve_driver_exchange(data, size);
    return 0;
}
