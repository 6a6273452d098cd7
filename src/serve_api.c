/* serve_api.c: the job endpoints (status, events, preview, result, delete), the style
 * gallery's endpoints and /metrics (serve.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "serve_internal.h"

/* ---- a job as JSON (one line: it is also an event's data) ---- */

static int num_or_null(char *buf, size_t size, double v) {
    return v < 0 ? snprintf(buf, size, "null") : snprintf(buf, size, "%.1f", v);
}

static void job_json(const job_info *j, char *buf, size_t size) {
    char left[32], err[600], preview[96] = "null", result[96] = "null", style2[80] = "null";
    num_or_null(left, sizeof left, j->seconds_left);
    if (j->state == JOB_FAILED) serve_json_string(j->error, err, sizeof err);
    else snprintf(err, sizeof err, "null");
    if (j->preview) snprintf(preview, sizeof preview, "\"/api/jobs/%s/preview?v=%u\"", j->id, j->preview);
    if (j->state == JOB_DONE) snprintf(result, sizeof result, "\"/api/jobs/%s/result\"", j->id);
    if (j->params.style2[0]) snprintf(style2, sizeof style2, "\"%s\"", j->params.style2);   /* a gallery name */
    /* seconds to the hundredth: a fast job takes a fraction of one */
    snprintf(buf, size,
             "{\"id\": \"%s\", \"state\": \"%s\", \"path\": \"%s\", \"progress\": %.4f, \"iteration\": %d, "
             "\"iterations\": %d, \"seconds\": %.2f, \"seconds_left\": %s, \"queue_position\": %d, \"attempts\": %d, "
             "\"created\": %.3f, \"started\": %.3f, \"finished\": %.3f, \"width\": %d, \"height\": %d, "
             "\"settings\": {\"quality\": \"%s\", \"size\": %d, \"iterations\": %d, \"strength\": %g, \"preserve_colors\": %s, "
             "\"style\": \"%s\", \"style2\": %s, \"blend\": %g}, "
             "\"error\": %s, \"preview_url\": %s, \"result_url\": %s}",
             j->id, job_state_name(j->state), job_path_name(j->params.path), j->progress, j->iteration, j->iterations,
             j->seconds, left, j->queue_position, j->attempts, j->created, j->started, j->finished, j->width, j->height,
             j->params.path == JOB_PATH_FAST ? "fast" : "finest", j->params.size, j->params.iterations, j->params.strength,
             j->params.preserve_colors ? "true" : "false", j->params.style, style2, j->params.blend, err, preview, result);
}

/* ---- server-sent events ---- */

typedef struct sse {
    server *s;
    char id[JOB_ID_LEN + 1];
    unsigned version;
    bool started, last;         /* sent the first event; the next call ends the stream */
    char out[4096];             /* the event being sent */
    size_t len, sent;
} sse;

/* The next event into e->out: a change, a keep-alive comment after 15 s without one, or the
 * end (false). */
static bool sse_next(sse *e) {
    job_info info;
    unsigned before = e->version;
    if (e->last) return false;
    if (!jobs_wait(e->s->jobs, e->id, &e->version, e->started ? 15000 : 0, &info)) {
        if (e->s->stopping) return false;
        e->len = (size_t)snprintf(e->out, sizeof e->out, "data: {\"id\": \"%s\", \"state\": \"deleted\"}\n\n", e->id);
        e->last = true;
        return true;
    }
    if (e->started && e->version == before) {
        e->len = (size_t)snprintf(e->out, sizeof e->out, ": keep-alive\n\n");
        return true;
    }
    char json[3000];
    job_json(&info, json, sizeof json);
    e->len = (size_t)snprintf(e->out, sizeof e->out, "%sdata: %s\n\n", e->started ? "" : "retry: 2000\n", json);
    if (e->len >= sizeof e->out) e->len = sizeof e->out - 1;
    e->started = true;
    e->last = info.state == JOB_DONE || info.state == JOB_FAILED;
    return true;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    sse *e = cls;
    if (e->sent == e->len) {
        e->sent = e->len = 0;
        if (!sse_next(e)) return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = e->len - e->sent < max ? e->len - e->sent : max;
    memcpy(buf, e->out + e->sent, n);
    e->sent += n;
    return (ssize_t)n;
}

static enum MHD_Result serve_events(request *r, struct MHD_Connection *c, const char *id) {
    sse *e = calloc(1, sizeof *e);
    if (!e) return MHD_NO;
    e->s = r->s;
    memcpy(e->id, id, sizeof e->id);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, e, free);
    if (!resp) { free(e); return MHD_NO; }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return serve_queue(r, c, MHD_HTTP_OK, resp);
}

/* ---- /api/jobs/ID[/what] ---- */

static bool is_get(const char *m) { return !strcmp(m, "GET") || !strcmp(m, "HEAD"); }

static enum MHD_Result send_job_file(request *r, struct MHD_Connection *c, const job_info *info, const char *what) {
    char path[4200];
    bool result = !strcmp(what, "result");
    if (result && info->state != JOB_DONE)
        return serve_error(r, c, MHD_HTTP_CONFLICT, "the result is not ready (the job is %s)", job_state_name(info->state));
    if (!result && !info->preview) return serve_error(r, c, MHD_HTTP_NOT_FOUND, "no preview yet");
    if (!jobs_file(r->s->jobs, info->id, result ? JOB_FILE_RESULT : JOB_FILE_PREVIEW, path, sizeof path))
        return serve_error(r, c, MHD_HTTP_NOT_FOUND, "no job with that id");   /* deleted meanwhile */
    return serve_file(r, c, path, result ? "image/png" : "image/jpeg");
}

enum MHD_Result serve_job(request *r, struct MHD_Connection *c, const char *method, const char *id, const char *what) {
    job_info info;
    if (!jobs_get(r->s->jobs, id, &info)) return serve_error(r, c, MHD_HTTP_NOT_FOUND, "no job with that id");
    if (!what[0]) {
        if (!strcmp(method, "DELETE")) {
            if (jobs_delete(r->s->jobs, info.id) != STATUS_OK) {
                enum MHD_Result ret = error_status() == STATUS_ARG ? serve_error(r, c, MHD_HTTP_NOT_FOUND, "no job with that id")
                                    : error_status() == STATUS_IO ? serve_error(r, c, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", error_message())
                                                                  : serve_error(r, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", error_message());
                error_clear();
                return ret;
            }
            serve_log(r->s, "job %s deleted", info.id);
            struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
            return serve_queue(r, c, MHD_HTTP_NO_CONTENT, resp);
        }
        if (!is_get(method)) return serve_method_not_allowed(r, c, "GET, DELETE");
        char json[3000];
        job_json(&info, json, sizeof json);
        strcat(json, "\n");
        return serve_json(r, c, MHD_HTTP_OK, json);
    }
    bool known = !strcmp(what, "events") || !strcmp(what, "result") || !strcmp(what, "preview");
    if (!known) return serve_error(r, c, MHD_HTTP_NOT_FOUND, "no such path");
    if (!is_get(method)) return serve_method_not_allowed(r, c, "GET");
    if (!strcmp(what, "events")) return serve_events(r, c, info.id);
    return send_job_file(r, c, &info, what);
}

/* ---- the gallery ---- */

/* The fast model's name as a JSON string, or null. */
static char *model_json(const server *s, char *buf, size_t size) {
    const stylenet *m = jobs_style_model(s->jobs);
    if (!m) snprintf(buf, size, "null");
    else serve_json_string(m->source, buf, size);
    return buf;
}

enum MHD_Result serve_styles_list(request *r, struct MHD_Connection *c) {
    const styles *g = r->s->styles;
    size_t cap = 256 + (size_t)g->n * 256, n = 0;
    char *json = malloc(cap), model[200];
    if (!json) return MHD_NO;
    n += (size_t)snprintf(json + n, cap - n, "{\"fast_model\": %s, \"styles\": [", model_json(r->s, model, sizeof model));
    for (int i = 0; i < g->n; i++)   /* names are [A-Za-z0-9_.-]: nothing to escape */
        n += (size_t)snprintf(json + n, cap - n, "%s{\"name\": \"%s\", \"thumb_url\": \"/api/styles/%s/thumb\", \"fast\": %s}",
                              i ? ", " : "", g->items[i].name, g->items[i].name,
                              jobs_fast_capable(r->s->jobs, g->items[i].name) ? "true" : "false");
    snprintf(json + n, cap - n, "]}\n");
    enum MHD_Result ret = serve_json(r, c, MHD_HTTP_OK, json);
    free(json);
    return ret;
}

enum MHD_Result serve_style_thumb(request *r, struct MHD_Connection *c, const char *name) {
    int k = styles_find(r->s->styles, name);
    if (k < 0) return serve_error(r, c, MHD_HTTP_NOT_FOUND, "no style by that name");
    char path[4200];
    if (!styles_thumb(r->s->styles, k, path, sizeof path)) {
        enum MHD_Result ret = serve_error(r, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot make the thumbnail: %s", error_message());
        error_clear();
        return ret;
    }
    return serve_file(r, c, path, "image/jpeg");
}

/* ---- /api/config: the limits a client needs to build its form ---- */

enum MHD_Result serve_config(request *r, struct MHD_Connection *c) {
    const serve_opts *o = &r->s->o;
    char json[768], model[200];
    snprintf(json, sizeof json,
             "{\"min_size\": %d, \"max_size\": %d, \"default_size\": %d, \"default_iterations\": %d, "
             "\"max_iterations\": %d, \"max_upload\": %lld, \"max_pixels\": %lld, \"fast_model\": %s, "
             "\"qualities\": [\"fast\", \"finest\"]}\n",
             o->min_size, o->max_size, o->default_size, o->default_iterations, o->max_iterations,
             (long long)o->max_upload, (long long)o->max_pixels, model_json(r->s, model, sizeof model));
    return serve_json(r, c, MHD_HTTP_OK, json);
}

/* ---- /metrics: Prometheus text format 0.0.4 ---- */

static size_t metric(char *buf, size_t cap, size_t n, const char *name, const char *type, const char *help) {
    return n + (size_t)snprintf(buf + n, cap - n, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static size_t metrics_jobs(char *b, size_t cap, size_t n, const jobs_stats *st, long long refused) {
    n = metric(b, cap, n, "atelier_jobs", "gauge", "Jobs kept, by state.");
    for (int k = 0; k < 4; k++) n += (size_t)snprintf(b + n, cap - n, "atelier_jobs{state=\"%s\"} %d\n", job_state_name((job_state)k), st->by_state[k]);
    n = metric(b, cap, n, "atelier_queue_length", "gauge", "Jobs waiting for a worker.");
    n += (size_t)snprintf(b + n, cap - n, "atelier_queue_length %d\n", st->by_state[JOB_QUEUED]);
    n = metric(b, cap, n, "atelier_queue_capacity", "gauge", "The most jobs that may wait; more are refused with 429.");
    n += (size_t)snprintf(b + n, cap - n, "atelier_queue_capacity %d\n", st->queue_max);
    n = metric(b, cap, n, "atelier_workers", "gauge", "Worker threads running jobs.");
    n += (size_t)snprintf(b + n, cap - n, "atelier_workers %d\n", st->workers);
    n = metric(b, cap, n, "atelier_jobs_submitted_total", "counter", "Jobs accepted since the server started.");
    n += (size_t)snprintf(b + n, cap - n, "atelier_jobs_submitted_total %lld\n", st->submitted);
    n = metric(b, cap, n, "atelier_jobs_refused_total", "counter", "Submissions refused with 429 (queue full).");
    n += (size_t)snprintf(b + n, cap - n, "atelier_jobs_refused_total %lld\n", refused);
    n = metric(b, cap, n, "atelier_jobs_finished_total", "counter", "Jobs finished since the server started, by outcome.");
    n += (size_t)snprintf(b + n, cap - n, "atelier_jobs_finished_total{outcome=\"done\"} %lld\natelier_jobs_finished_total{outcome=\"failed\"} %lld\n",
                          st->finished, st->failed);
    n = metric(b, cap, n, "atelier_job_seconds", "histogram", "Run time of the jobs done since the server started.");
    for (int k = 0; k < JOBS_SECONDS_BUCKETS; k++)
        n += (size_t)snprintf(b + n, cap - n, "atelier_job_seconds_bucket{le=\"%g\"} %lld\n", st->seconds_le[k], st->seconds_count[k]);
    long long all = st->seconds_count[JOBS_SECONDS_BUCKETS];
    n += (size_t)snprintf(b + n, cap - n, "atelier_job_seconds_bucket{le=\"+Inf\"} %lld\natelier_job_seconds_sum %.3f\n"
                          "atelier_job_seconds_count %lld\n", all, st->seconds_sum, all);
    n = metric(b, cap, n, "atelier_jobs_done_by_path_total", "counter", "Jobs done since the server started, by the path that painted them.");
    for (int k = 0; k < 2; k++)
        n += (size_t)snprintf(b + n, cap - n, "atelier_jobs_done_by_path_total{path=\"%s\"} %lld\n", job_path_name((job_path)k),
                              st->done_by_path[k]);
    n = metric(b, cap, n, "atelier_job_path_seconds_total", "counter", "Run time of the jobs done since the server started, by path.");
    for (int k = 0; k < 2; k++)
        n += (size_t)snprintf(b + n, cap - n, "atelier_job_path_seconds_total{path=\"%s\"} %.3f\n", job_path_name((job_path)k),
                              st->seconds_by_path[k]);
    return n;
}

enum MHD_Result serve_metrics(request *r, struct MHD_Connection *c) {
    server *s = r->s;
    jobs_stats st;
    jobs_get_stats(s->jobs, &st);
    long long resp[6], refused;
    int inflight;
    pthread_mutex_lock(&s->mu);
    memcpy(resp, s->responses, sizeof resp);
    refused = s->refused_429;
    inflight = s->inflight;
    pthread_mutex_unlock(&s->mu);
    size_t cap = 8192;
    char *b = malloc(cap);
    if (!b) return MHD_NO;
    size_t n = metrics_jobs(b, cap, 0, &st, refused);
    n = metric(b, cap, n, "atelier_http_responses_total", "counter", "HTTP responses by status class.");
    for (int k = 1; k <= 5; k++) n += (size_t)snprintf(b + n, cap - n, "atelier_http_responses_total{code=\"%dxx\"} %lld\n", k, resp[k]);
    n = metric(b, cap, n, "atelier_http_requests_in_flight", "gauge", "Requests being served (this one included).");
    snprintf(b + n, cap - n, "atelier_http_requests_in_flight %d\n", inflight);
    struct MHD_Response *rp = MHD_create_response_from_buffer(strlen(b), b, MHD_RESPMEM_MUST_FREE);
    if (!rp) { free(b); return MHD_NO; }
    MHD_add_response_header(rp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
    MHD_add_response_header(rp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return serve_queue(r, c, MHD_HTTP_OK, rp);
}
