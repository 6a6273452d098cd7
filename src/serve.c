/* serve.c: the web service (serve.h): the daemon, routing, authentication, small answers
 * and the drain on stop. The job endpoints are in serve_api.c, submission in
 * serve_upload.c, the gallery in serve_styles.c. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "json.h"
#include "serve_internal.h"

serve_opts serve_defaults(void) {
    return (serve_opts){
        .host = "127.0.0.1", .port = 8080, .data_dir = "atelier-data", .workers = 1, .queue_max = 16,
        .max_connections = 512, .decode_slots = 2, .max_upload = (int64_t)20 << 20,
        .max_pixels = (int64_t)40 * 1000 * 1000, .min_size = 64, .max_size = 1024, .default_size = 384,
        .default_iterations = 40, .max_iterations = 500, .drain_seconds = 10, .fast_workers = 1, .lease_seconds = 30,
        .style_model = stylenet_builtin_available("kit-styles") ? "kit-styles" : NULL,
    };
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

void serve_log(server *s, const char *fmt, ...) {
    if (!s->o.log) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->o.log(line, s->o.log_user);
}

/* ---- answers ---- */

/* The length of the UTF-8 sequence at p (NUL-terminated), or 0 when it is not valid UTF-8. */
static size_t utf8_at(const unsigned char *p) {
    size_t k = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc0 ? 2 : 1;
    for (size_t i = 1; i < k; i++)
        if (!p[i]) return 0;   /* cut short by the end */
    return json_is_utf8((const char *)p, k) ? k : 0;
}

/* Bytes that are not UTF-8 (a client's, echoed in a message) become U+FFFD: a JSON text
 * must be UTF-8 (RFC 8259, 8.1). Each step writes at most 6 bytes, so a sequence is never
 * cut by the end of buf. */
char *serve_json_string(const char *s, char *buf, size_t size) {
    size_t n = 0, k;
    if (size < 3) { if (size) buf[0] = 0; return buf; }
    buf[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p && n + 8 < size; p++) {
        if (*p == '"' || *p == '\\') { buf[n++] = '\\'; buf[n++] = (char)*p; }
        else if (*p < 0x20) n += (size_t)snprintf(buf + n, size - n, "\\u%04x", *p);
        else if (*p < 0x80) buf[n++] = (char)*p;
        else if (!(k = utf8_at(p))) n += (size_t)snprintf(buf + n, size - n, "\\ufffd");
        else { memcpy(buf + n, p, k); n += k; p += k - 1; }
    }
    buf[n++] = '"';
    buf[n] = 0;
    return buf;
}

static void add_common_headers(const server *s, struct MHD_Response *resp) {
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (s->o.cors_origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", s->o.cors_origin);
        MHD_add_response_header(resp, "Vary", "Origin");
    }
    if (s->stopping) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

enum MHD_Result serve_queue(request *r, struct MHD_Connection *c, unsigned code, struct MHD_Response *resp) {
    if (!resp) return MHD_NO;
    add_common_headers(r->s, resp);
    enum MHD_Result ok = MHD_queue_response(c, code, resp);
    MHD_destroy_response(resp);
    r->code = (int)code;
    pthread_mutex_lock(&r->s->mu);
    if (code >= 100 && code < 600) r->s->responses[code / 100]++;
    pthread_mutex_unlock(&r->s->mu);
    return ok;
}

enum MHD_Result serve_json(request *r, struct MHD_Connection *c, unsigned code, const char *json) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return serve_queue(r, c, code, resp);
}

enum MHD_Result serve_error(request *r, struct MHD_Connection *c, unsigned code, const char *fmt, ...) {
    char msg[512], quoted[1100], json[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(json, sizeof json, "{\"error\": %s}\n", serve_json_string(msg, quoted, sizeof quoted));
    return serve_json(r, c, code, json);
}

enum MHD_Result serve_file(request *r, struct MHD_Connection *c, const char *path, const char *type) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) close(fd);
        return serve_error(r, c, MHD_HTTP_NOT_FOUND, "no such file yet");
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);   /* closes fd */
    if (!resp) { close(fd); return MHD_NO; }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return serve_queue(r, c, MHD_HTTP_OK, resp);
}

/* ---- the public routes ---- */

static enum MHD_Result serve_page(request *r, struct MHD_Connection *c) {
    struct MHD_Response *resp = MHD_create_response_from_buffer((size_t)atelier_page_size, (void *)atelier_page_data,
                                                                MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    /* Nothing but this page's own inline code and the same origin. */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' blob: data:; style-src 'unsafe-inline'; "
                            "script-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    return serve_queue(r, c, MHD_HTTP_OK, resp);
}

/* Equal strings, in a time that does not depend on where they differ. */
static bool same_secret(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    unsigned char d = (unsigned char)(na != nb);
    for (size_t i = 0; i < na; i++) d |= (unsigned char)(a[i] ^ b[i % (nb ? nb : 1)]);
    return d == 0;
}

static bool authorized(const server *s, struct MHD_Connection *c) {
    if (!s->o.token) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h && !strncmp(h, "Bearer ", 7)) return same_secret(h + 7, s->o.token);
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
    return q && same_secret(q, s->o.token);
}

static enum MHD_Result unauthorized(request *r, struct MHD_Connection *c) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen("{\"error\": \"a bearer token is required\"}\n"),
                                                                (void *)"{\"error\": \"a bearer token is required\"}\n",
                                                                MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"atelier\"");
    return serve_queue(r, c, MHD_HTTP_UNAUTHORIZED, resp);
}

static enum MHD_Result preflight(request *r, struct MHD_Connection *c) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    return serve_queue(r, c, MHD_HTTP_NO_CONTENT, resp);
}

enum MHD_Result serve_method_not_allowed(request *r, struct MHD_Connection *c, const char *allow) {
    char json[128];
    snprintf(json, sizeof json, "{\"error\": \"method not allowed here (allowed: %s)\"}\n", allow);
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(json), json, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    return serve_queue(r, c, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
}

/* ---- routing ---- */

static bool is_get(const char *m) { return !strcmp(m, "GET") || !strcmp(m, "HEAD"); }

/* /api/styles/NAME/thumb and /api/jobs/ID[/WHAT]: splits the rest after prefix into two
 * parts (a and b, b "" when absent); false if it does not fit or has more parts. */
static bool split2(const char *rest, char *a, size_t na, char *b, size_t nb) {
    const char *slash = strchr(rest, '/');
    size_t la = slash ? (size_t)(slash - rest) : strlen(rest);
    if (la == 0 || la >= na) return false;
    memcpy(a, rest, la);
    a[la] = 0;
    const char *tail = slash ? slash + 1 : "";
    if (strchr(tail, '/') || strlen(tail) >= nb) return false;
    strcpy(b, tail);
    return true;
}

static enum MHD_Result route_api(request *r, struct MHD_Connection *c, const char *url, const char *method) {
    server *s = r->s;
    char a[80], b[16];
    if (!strcmp(url, "/metrics")) return is_get(method) ? serve_metrics(r, c) : serve_method_not_allowed(r, c, "GET");
    if (!strcmp(url, "/api/config")) return is_get(method) ? serve_config(r, c) : serve_method_not_allowed(r, c, "GET");
    if (!strcmp(url, "/api/styles")) return is_get(method) ? serve_styles_list(r, c) : serve_method_not_allowed(r, c, "GET");
    if (!strncmp(url, "/api/styles/", 12) && split2(url + 12, a, sizeof a, b, sizeof b) && !strcmp(b, "thumb"))
        return is_get(method) ? serve_style_thumb(r, c, a) : serve_method_not_allowed(r, c, "GET");
    if (!strcmp(url, "/api/jobs") || !strcmp(url, "/api/jobs/")) {
        if (strcmp(method, "POST")) return serve_method_not_allowed(r, c, "POST");
        if (s->stopping) return serve_error(r, c, MHD_HTTP_SERVICE_UNAVAILABLE, "the server is shutting down");
        return serve_upload(r, c, NULL, NULL);   /* begins the upload */
    }
    if (!strncmp(url, "/api/jobs/", 10) && split2(url + 10, a, sizeof a, b, sizeof b))
        return serve_job(r, c, method, a, b);
    return serve_error(r, c, MHD_HTTP_NOT_FOUND, "no such path");
}

static enum MHD_Result route(request *r, struct MHD_Connection *c, const char *url, const char *method) {
    server *s = r->s;
    if (s->o.cors_origin && !strcmp(method, "OPTIONS")) return preflight(r, c);
    if (!strcmp(url, "/") || !strcmp(url, "/index.html"))
        return is_get(method) ? serve_page(r, c) : serve_method_not_allowed(r, c, "GET");
    if (!strcmp(url, "/healthz"))
        return is_get(method) ? serve_json(r, c, MHD_HTTP_OK, "{\"status\": \"ok\"}\n") : serve_method_not_allowed(r, c, "GET");
    if (!authorized(s, c)) return unauthorized(r, c);
    return route_api(r, c, url, method);
}

/* MHD calls this with the headers (first), then with each piece of the body, then once
 * more with none. An answer queued before the body is read makes MHD close the connection
 * after it, so everything but a job submission is answered on the last call (keep-alive
 * works); a submission is routed at once, so that what can be refused (too large, queue
 * full, no token) is refused before its body is read. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **con_cls) {
    server *s = cls;
    request *r = *con_cls;
    if (!r) {   /* the first call: the headers are in */
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        r->s = s;
        r->t0 = now_ms();
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->url, sizeof r->url, "%s", url);   /* the path: the query (a token) is not logged */
        *con_cls = r;
        pthread_mutex_lock(&s->mu);
        s->inflight++;
        pthread_mutex_unlock(&s->mu);
        bool submit = !strcmp(method, "POST") && (!strcmp(url, "/api/jobs") || !strcmp(url, "/api/jobs/"));
        return submit ? route(r, c, url, method) : MHD_YES;
    }
    if (r->up) return serve_upload(r, c, data, size);
    if (*size) { *size = 0; return MHD_YES; }   /* a body nobody asked for */
    return r->code ? MHD_YES : route(r, c, url, method);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why) {
    server *s = cls;
    request *r = *con_cls;
    if (!r) return;
    serve_log(s, "%s %s %d %.1f ms%s", r->method, r->url, r->code, now_ms() - r->t0,
              why == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection ended early)");
    serve_upload_free(r);
    free(r);
    *con_cls = NULL;
    pthread_mutex_lock(&s->mu);
    s->inflight--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

/* ---- start and stop ---- */

static status check_opts(const serve_opts *o) {
    if (!o->host || !o->data_dir || !o->data_dir[0]) return error_set(STATUS_ARG, "serve: host and data_dir are required");
    if (o->port < 0 || o->port > 65535) return error_set(STATUS_ARG, "port %d is out of range 0..65535", o->port);
    if (o->min_size < 16 || o->max_size < o->min_size || o->max_size > 8192)
        return error_set(STATUS_ARG, "sizes %d..%d: want 16 <= min <= max <= 8192", o->min_size, o->max_size);
    if (o->default_size < o->min_size || o->default_size > o->max_size)
        return error_set(STATUS_ARG, "default size %d is outside %d..%d", o->default_size, o->min_size, o->max_size);
    if (o->max_iterations < 1 || o->default_iterations < 1 || o->default_iterations > o->max_iterations)
        return error_set(STATUS_ARG, "iterations: want 1 <= default (%d) <= max (%d)", o->default_iterations, o->max_iterations);
    if (o->max_upload < 1024 || o->max_pixels < 1 || o->decode_slots < 1 || o->max_connections < 4)
        return error_set(STATUS_ARG, "limits too small (upload %lld bytes, %lld pixels, %d decode slots, %d connections)",
                         (long long)o->max_upload, (long long)o->max_pixels, o->decode_slots, o->max_connections);
    if (o->token && !o->token[0]) return error_set(STATUS_ARG, "empty token");
    return STATUS_OK;
}

/* Keeps copies of the option strings the server outlives its caller with. */
static status own_strings(server *s, const serve_opts *o) {
    s->o = *o;
    const char **fields[] = {&s->o.host, &s->o.styles_dir, &s->o.weights, &s->o.token, &s->o.cors_origin, &s->o.net,
                             &s->o.style_model, &s->o.db};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const char *src = *fields[i];
        *fields[i] = NULL;   /* serve_stop frees what was copied */
        if (src && !(*fields[i] = strdup(src))) return error_set(STATUS_NOMEM, "serve: out of memory");
    }
    size_t n = strlen(o->data_dir) + 8;
    if (!(s->data_dir = strdup(o->data_dir)) || !(s->tmp_dir = malloc(n))) return error_set(STATUS_NOMEM, "serve: out of memory");
    snprintf(s->tmp_dir, n, "%s/tmp", o->data_dir);
    s->o.data_dir = s->data_dir;
    return STATUS_OK;
}

/* data_dir/tmp holds uploads being received: whatever is there from before is junk. */
static status clean_tmp(server *s) {
    if (mkdir(s->tmp_dir, 0700) != 0 && errno != EEXIST)
        return error_set(STATUS_IO, "%s: cannot make the folder: %s", s->tmp_dir, strerror(errno));
    char path[4200];
    DIR *d = opendir(s->tmp_dir);
    if (!d) return error_set(STATUS_IO, "%s: cannot list: %s", s->tmp_dir, strerror(errno));
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", s->tmp_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    return STATUS_OK;
}

/* The daemon: a thread per connection on a listening socket; or, detached, neither socket
 * nor threads of its own (serve_start_detached). The same handlers either way. */
static status listen_on(server *s, bool detached) {
    if (detached) {
        s->daemon = MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL, handle, s,
                                     MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->o.max_connections,
                                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                                     MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                                     MHD_OPTION_END);
        return s->daemon ? STATUS_OK : error_set(STATUS_IO, "serve: cannot start the detached daemon");
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->o.port)};
    if (inet_pton(AF_INET, s->o.host, &addr.sin_addr) != 1)
        return error_set(STATUS_ARG, "host '%s' is not an IPv4 address", s->o.host);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC;
    s->daemon = MHD_start_daemon(flags, (uint16_t)s->o.port, NULL, NULL, handle, s,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->o.max_connections,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                                 MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                                 MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                                 MHD_OPTION_END);
    if (!s->daemon) return error_set(STATUS_IO, "cannot listen on %s:%d (in use?)", s->o.host, s->o.port);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->o.port;
    return STATUS_OK;
}

static server *start(const serve_opts *o, bool detached) {
    if (check_opts(o) != STATUS_OK) return NULL;
    server *s = calloc(1, sizeof *s);
    if (!s) { error_set(STATUS_NOMEM, "serve: out of memory"); return NULL; }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (own_strings(s, o) != STATUS_OK) goto fail;
    jobs_opts jo = jobs_defaults();
    jo.data_dir = s->data_dir;
    jo.weights = s->o.weights;
    jo.net = s->o.net;
    jo.workers = o->workers;
    jo.queue_max = o->queue_max;
    jo.style_model = s->o.style_model;
    jo.fast_workers = o->fast_workers;
    jo.db = s->o.db;
    jo.lease_seconds = o->lease_seconds;
    if (!(s->jobs = jobs_open(&jo)) || clean_tmp(s) != STATUS_OK) goto fail;
    char thumbs[4200];
    snprintf(thumbs, sizeof thumbs, "%s/thumbs", s->data_dir);
    if (!(s->styles = styles_scan(s->o.styles_dir, thumbs))) goto fail;
    if (listen_on(s, detached) != STATUS_OK) goto fail;
    return s;
fail:
    serve_stop(s);
    return NULL;
}

server *serve_start(const serve_opts *o) { return start(o, false); }

server *serve_start_detached(const serve_opts *o) { return start(o, true); }

int serve_port(const server *s) { return s->port; }

/* Waits until no request is in flight, or the drain time is over. */
static void drain(server *s) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)s->o.drain_seconds;
    pthread_mutex_lock(&s->mu);
    while (s->inflight > 0)
        if (pthread_cond_timedwait(&s->cond, &s->mu, &until) != 0) break;
    int left = s->inflight;
    pthread_mutex_unlock(&s->mu);
    if (left) serve_log(s, "stop: %d requests still in flight after %g s: closing them", left, s->o.drain_seconds);
}

void serve_stop(server *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_mutex_unlock(&s->mu);
    if (s->jobs) jobs_stop(s->jobs);   /* event streams end, running jobs go back to the queue */
    if (s->daemon) {
        MHD_socket fd = MHD_quiesce_daemon(s->daemon);   /* no new connections */
        if (fd != MHD_INVALID_SOCKET) close(fd);
        drain(s);
        MHD_stop_daemon(s->daemon);
    }
    jobs_close(s->jobs);
    styles_free(s->styles);
    free((char *)s->o.host);
    free((char *)s->o.styles_dir);
    free((char *)s->o.weights);
    free((char *)s->o.net);
    free((char *)s->o.style_model);
    free((char *)s->o.db);
    free((char *)s->o.token);
    free((char *)s->o.cors_origin);
    free(s->data_dir);
    free(s->tmp_dir);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
