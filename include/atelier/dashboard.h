/* dashboard.h: a live, read-only web page of a GAN's training (`atelier gan train
 * --dashboard`), on libmicrohttpd.
 *
 * The training loop publishes what it already computes: each step's losses and D's mean
 * logits on real and fake (gan_stats), each evaluation's KID and alarms (metrics_report),
 * and the sample grid of fixed latents. A server on its own thread answers the page's
 * polls from that snapshot. The two meet only under one mutex, held for copies of a few
 * numbers or the swap of a pointer: no encoding, formatting or I/O happens inside it on
 * the training side, and the server never touches the GAN, so training runs the same
 * steps to the same bytes with or without the dashboard (tests/test_cli_dashboard.c).
 *
 * The page (GET /, src/web/dashboard.html built into the program, no external resource,
 * a Content-Security-Policy) polls these, every answer `Cache-Control: no-store`:
 *   GET /api/state     JSON: {"title", "config" (the run's config JSON or null), "step",
 *                      "total_steps", "start_step", "seconds", "steps_per_second",
 *                      "seconds_left", "phase" ("starting", "training", "finished" or
 *                      "stopped"), "grid": {"version", "step"} or null, "series":
 *                      {"every", "step", "d_loss", "g_loss", "d_real", "d_fake"} (parallel
 *                      arrays, averages over buckets of `every` steps), "evals": [{"step",
 *                      "kid", "kid_std", "diversity_ratio", "nn_ratio", "copy_fraction",
 *                      "collapse_warning", "copy_warning"}], "thresholds": {...}}
 *   GET /api/grid.png  the latest sample grid (404 before the first)
 *   GET /healthz       {"status": "ok"}
 * Anything else is 404, and any method but GET or HEAD 405. With a token, /api/... need
 * "Authorization: Bearer TOKEN" or ?token=TOKEN (401 otherwise), compared in constant time.
 *
 * Memory is bounded whatever the length of the run: the step series keep at most
 * history_max points (when full, neighbouring buckets merge and `every` doubles), the
 * evaluations at most history_max (every other one is dropped when full).
 *
 * Steps per second: over the last DASHBOARD_RATE_WINDOW seconds of published steps (the
 * evaluations and grids included: that is what the time left will be made of).
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include "atelier/arena.h"
 *   #include "atelier/tensor.h"
 * EXAMPLE_BEGIN
 *   dashboard_opts o = dashboard_defaults();
 *   o.port = 0;                                  // a free port; dashboard_port says which
 *   o.title = "example";
 *   dashboard *d = dashboard_start(&o);
 *   if (!d || dashboard_port(d) <= 0) return 1;
 *   dashboard_set_run(d, "{\"size\": 8}", 0, 100);
 *   for (int s = 1; s <= 3; s++) {
 *       gan_stats st = {.d_loss = 1.2, .g_loss = 0.8, .d_real = 0.5, .d_fake = -0.4};
 *       dashboard_publish_step(d, s, &st, 0.1 * s);
 *   }
 *   arena *a = arena_new(1 << 16);
 *   tensor *x = tensor_new(a, 4, (int[]){4, 3, 8, 8});     // (N, 3, H, W) in [-1, 1]
 *   if (!x || dashboard_publish_grid(d, 3, x, 2) != STATUS_OK) return 1;
 *   char *js = dashboard_state_json(d);          // what GET /api/state answers
 *   if (!js || !strstr(js, "\"step\": 3,") || !strstr(js, "\"grid\": {\"version\": 1")) return 1;
 *   printf("%.60s...\n", js);
 *   free(js);
 *   size_t n = 0;
 *   unsigned char *png = dashboard_grid_png(d, &n);   // what GET /api/grid.png answers
 *   if (!png || n < 8 || memcmp(png + 1, "PNG", 3)) return 1;
 *   free(png);
 *   arena_free(a);
 *   dashboard_stop(d);
 * EXAMPLE_END
 */
#ifndef ATELIER_DASHBOARD_H
#define ATELIER_DASHBOARD_H
#include <stdbool.h>
#include <stdint.h>
#include "atelier/error.h"
#include "atelier/gan.h"
#include "atelier/metrics.h"
#include "atelier/tensor.h"

#define DASHBOARD_RATE_WINDOW 30.0

typedef struct dashboard_opts {
    const char *host;     /* IPv4 address to listen on ["127.0.0.1"] */
    int port;             /* [8091]; 0 picks a free one */
    const char *token;    /* NULL: none; else required for /api/... */
    const char *title;    /* shown on the page (the run folder) [""] */
    int history_max;      /* points kept per series, >= 16 [600] */
} dashboard_opts;

typedef struct dashboard dashboard;

dashboard_opts dashboard_defaults(void);
/* Listens and serves on a thread of its own. NULL and error_set on bad options or when
 * the address cannot be bound ("cannot listen on HOST:PORT (in use?)"). Copies o's strings. */
dashboard *dashboard_start(const dashboard_opts *o);
int dashboard_port(const dashboard *d);
/* Stops the server (requests in flight are cut) and frees everything; NULL is fine. */
void dashboard_stop(dashboard *d);

/* What the run is: config_json (gan_config_json's, copied; may be NULL), the step it
 * starts from and the step it ends at. Steps published before it (a resumed run's history,
 * from its log) are kept in the charts; the speed counts only the steps after it. */
void dashboard_set_run(dashboard *d, const char *config_json, int64_t start_step, int64_t total_steps);
/* Step `step` is done after `seconds` of this run (wall clock, from its start). */
void dashboard_publish_step(dashboard *d, int64_t step, const gan_stats *st, double seconds);
/* An evaluation after `step`. */
void dashboard_publish_eval(dashboard *d, int64_t step, const metrics_report *r);
/* The samples of fixed latents after `step`: images (N, 3, H, W) in [-1, 1] (clamped), laid
 * out as dataset_write_grid does (cols per row, a 2-pixel white gutter). The grid is built
 * here, by the caller's thread, outside the lock; the PNG is encoded by the server when a
 * page asks for it. */
status dashboard_publish_grid(dashboard *d, int64_t step, const tensor *images, int cols);
/* "finished" (all steps done) or "stopped" (interrupted or failed). */
void dashboard_set_phase(dashboard *d, const char *phase);

/* The state as GET /api/state answers it: malloc'd, NULL (error_set) when out of memory. */
char *dashboard_state_json(dashboard *d);
/* The latest grid as PNG bytes (malloc'd, *n its size): NULL with no grid yet (error_set). */
unsigned char *dashboard_grid_png(dashboard *d, size_t *n);

#endif
