/* serve.h: the web service: a page and a JSON API over the job queue (jobs.h), on
 * libmicrohttpd.
 *
 * The page (GET /) lets a person upload a photo, choose a style from the gallery (the
 * image files of styles_dir; a style's name is its file name without the extension) or
 * upload one, set strength, size, quality and "keep my colours", watch the progress and
 * preview live, download the result and find it again later. It is one self-contained HTML
 * file built into the program (src/web/index.html): no external resource.
 *
 * Two paths (jobs.h): a gallery style whose name is one of the fast style model's styles
 * (style_model) is "fast-capable" and painted by the fast network by default, in seconds,
 * alone or blended with a second fast-capable style; quality "finest" asks for the
 * optimisation instead, which uploaded styles and the other gallery styles always take.
 *
 * The API (every answer JSON unless said otherwise; errors are {"error": "why"}):
 *   POST   /api/jobs             multipart: content (file), style (a name) or style_image
 *                                (file), optional quality (fast: the default for a
 *                                fast-capable style; finest: optimisation), style2 (a second
 *                                fast-capable style, fast only) and blend (its share, 0..1,
 *                                0.5), size, iterations (finest), strength (0..1; fast: the
 *                                painting's share [1], finest: the balance [0.5]),
 *                                preserve_colors (true/false/on/off/1/0) -> 201 {"id": ...}
 *   GET    /api/jobs/ID          state (queued, running, done, failed), path (fast or
 *                                optimise), seconds (the run's, so far or in all),
 *                                progress, settings {quality, style, style2, blend, ...}, ...
 *   GET    /api/jobs/ID/events   server-sent events: {state, progress, seconds_left,
 *                                preview_url, ...} on every change; ends when done/failed
 *   GET    /api/jobs/ID/preview  the latest preview (JPEG)
 *   GET    /api/jobs/ID/result   the result (PNG)
 *   DELETE /api/jobs/ID          204; cancels it if running
 *   GET    /api/styles           {"fast_model": name or null, "styles": [{"name",
 *                                "thumb_url", "fast": whether fast-capable}]}
 *   GET    /api/styles/NAME/thumb
 *   GET    /api/config           the limits: sizes, iterations, upload bytes, pixels; the
 *                                fast model's name (or null) and the qualities
 *   GET    /healthz              {"status": "ok"} (never needs the token)
 *   GET    /metrics              Prometheus text: jobs by state, queue, job seconds, requests
 * Status codes: 400 a bad field or an image that is corrupt, truncated, not an image or
 * over the pixel limit (checked from its header, before decoding); 401 without the token;
 * 404 unknown id, style or path; 405 wrong method; 409 result not ready; 413 body over the
 * upload limit (from Content-Length before reading, else while reading); 429 queue full
 * (Retry-After); 503 shutting down.
 *
 * Safety: content is sniffed (image.h), never trusted from a name; uploads stream to
 * temporary files under data_dir/tmp and are decoded one or two at a time (decode_slots),
 * so memory stays bounded; no path is ever built from a request (ids are looked up, style
 * names matched against the scanned list). With a token, everything but the page and
 * /healthz needs "Authorization: Bearer TOKEN" (or ?token=TOKEN, for <img> and
 * EventSource). CORS is off unless cors_origin is set. serve_stop drains: new connections
 * are refused, requests in flight finish (up to drain_seconds), running jobs go back to
 * the queue.
 *
 * Threads: one per connection (so an event stream may wait), at most max_connections.
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include <arpa/inet.h>
 *   #include <netinet/in.h>
 *   #include <sys/socket.h>
 *   #include <unistd.h>
 *   // GET path from 127.0.0.1:port; the response's bytes in buf
 *   static int get(int port, const char *path, char *buf, int size) {
 *       int fd = socket(AF_INET, SOCK_STREAM, 0), n = 0, k;
 *       struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
 *       a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
 *       if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
 *       dprintf(fd, "GET %s HTTP/1.0\r\n\r\n", path);
 *       while (n < size - 1 && (k = (int)read(fd, buf + n, (size_t)(size - 1 - n))) > 0) n += k;
 *       buf[n] = 0;
 *       close(fd);
 *       return n;
 *   }
 * EXAMPLE_BEGIN
 *   serve_opts o = serve_defaults();
 *   o.port = 0;                          // any free port: serve_port says which
 *   o.data_dir = "serve-example-data";   // jobs.db, jobs/, tmp/ (made if missing)
 *   server *s = serve_start(&o);
 *   if (!s) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   char buf[4096];
 *   if (get(serve_port(s), "/healthz", buf, sizeof buf) <= 0 || !strstr(buf, "200 OK")) return 1;
 *   if (get(serve_port(s), "/api/jobs/0123", buf, sizeof buf) <= 0 || !strstr(buf, "404")) return 1;
 *   serve_stop(s);
 * EXAMPLE_END
 */
#ifndef ATELIER_SERVE_H
#define ATELIER_SERVE_H
#include <stdbool.h>
#include <stdint.h>
#include "atelier/error.h"

typedef struct server server;

typedef struct serve_opts {
    const char *host;           /* address to listen on: "127.0.0.1" ("0.0.0.0": all) */
    int port;                   /* 8080; 0: any free port */
    const char *data_dir;       /* "atelier-data" */
    const char *styles_dir;     /* the gallery; NULL: none (uploads only) */
    const char *weights;        /* VGG-19 weights (stylize.h); NULL: the built-in network */
    const char *net;            /* the feature network (stylize_net_open); NULL: stylize_default_net */
    const char *style_model;    /* the fast style network (stylenet_load: a file or built-in name);
                                 * NULL: none. "kit-styles" when built in, else NULL */
    int fast_workers;           /* threads painting fast jobs: 1 */
    const char *token;          /* NULL: no authentication */
    const char *cors_origin;    /* NULL: no CORS headers */
    int workers;                /* 1 */
    int queue_max;              /* queued jobs at most: 16 */
    int max_connections;        /* 512 */
    int decode_slots;           /* uploads decoded at once: 2 */
    int64_t max_upload;         /* bytes per request: 20 MB */
    int64_t max_pixels;         /* per uploaded image: 40 MP */
    int min_size, max_size;     /* allowed output sizes: 64..1024 */
    int default_size;           /* 384 */
    int default_iterations;     /* per level: 40 */
    int max_iterations;         /* 500 */
    double drain_seconds;       /* serve_stop waits this long for requests: 10 */
    const char *db;             /* NULL: SQLite in data_dir; a PostgreSQL connection string: a
                                 * queue shared with other servers and `atelier worker`s
                                 * (jobs.h), workers may then be 0 */
    double lease_seconds;       /* with db: a running job's lease (jobs.h): 30 */
    /* One line per request and event ("GET /api/jobs/... 200 1.2 ms"); NULL: silent. */
    void (*log)(const char *line, void *user);
    void *log_user;
} serve_opts;

serve_opts serve_defaults(void);
/* Opens the job queue in data_dir, scans the styles, listens. NULL and error_set on
 * failure (bad options, the port in use, the folder locked by another server). */
server *serve_start(const serve_opts *o);
int serve_port(const server *s);       /* the port listened on */
/* Drains and stops (see above), then frees. NULL is fine. */
void serve_stop(server *s);

#endif
