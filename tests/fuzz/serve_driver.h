/* serve_driver.h: the web service (serve.h) as a function over bytes, for the fuzz targets
 * fuzz_http.c and fuzz_multipart.c.
 *
 * One server per process, started on first use by serve_start_detached over a private
 * folder (in /dev/shm when there is one): a gallery of three small styles (waves, dots,
 * sketch), a tiny fast style network that knows waves and dots, the token "fuzz-token",
 * CORS for "http://fuzz.example", sizes 16..64, at most 4 iterations, uploads up to 64 KB
 * and 65536 pixels, 4 queued jobs. The queue is stopped (jobs_stop) before the first
 * request: it accepts jobs and answers for them, but runs none, so that nothing computes
 * beside the fuzzer and every run of an input sees the same server.
 *
 * An exchange is one connection: the bytes are sent as a client would send them (pipelined
 * requests included), everything the server answers is read until it waits for more or
 * closes, then the connection is closed. The answers are then checked; any of these is a
 * finding (abort):
 *   - a 500 from the service (a client's bytes must never make the server fail),
 *   - a JSON answer (Content-Type application/json) that json_parse refuses,
 *   - a 201 whose job the queue does not have, or a job queued that no 201 announced.
 * The jobs the answers accepted are deleted, so the next input starts with an empty queue.
 * With SERVE_DRIVER_VERBOSE set in the environment the answers are printed (to replay a
 * finding: SERVE_DRIVER_VERBOSE=1 build-fuzz/fuzz_http FILE).
 */
#ifndef ATELIER_FUZZ_SERVE_DRIVER_H
#define ATELIER_FUZZ_SERVE_DRIVER_H
#include <stddef.h>
#include <stdint.h>

#define SERVE_DRIVER_TOKEN "fuzz-token"

/* Sends one connection's bytes to the server, reads its answers, checks them, cleans up. */
void serve_driver_exchange(const uint8_t *data, size_t size);

#endif
