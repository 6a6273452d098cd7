/* dashboard.c: the dashboard's server (dashboard.h): one libmicrohttpd polling thread that
 * answers GET requests from the snapshot (dashboard_state.c) and never touches the GAN. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dashboard_internal.h"

dashboard_opts dashboard_defaults(void) {
    return (dashboard_opts){.host = "127.0.0.1", .port = 8091, .title = "", .history_max = 600};
}

/* ---- answers ---- */

static enum MHD_Result queue(struct MHD_Connection *c, unsigned code, struct MHD_Response *r, const char *type) {
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

/* A constant JSON text. */
static enum MHD_Result answer_const(struct MHD_Connection *c, unsigned code, const char *json) {
    return queue(c, code, MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_PERSISTENT),
                 "application/json");
}

static enum MHD_Result answer_page(struct MHD_Connection *c) {
    struct MHD_Response *r = MHD_create_response_from_buffer((size_t)atelier_dashboard_page_size,
                                                             (void *)atelier_dashboard_page_data, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    /* Nothing but this page's own inline code and its own origin. */
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; img-src 'self' blob: data:; style-src 'unsafe-inline'; "
                            "script-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
                            "frame-ancestors 'none'");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    return queue(c, MHD_HTTP_OK, r, "text/html; charset=utf-8");
}

static enum MHD_Result answer_state(dashboard *d, struct MHD_Connection *c) {
    char *js = dashboard_state_json(d);
    if (!js) return answer_const(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "{\"error\": \"out of memory\"}\n");
    return queue(c, MHD_HTTP_OK, MHD_create_response_from_buffer(strlen(js), js, MHD_RESPMEM_MUST_FREE),
                 "application/json");
}

static enum MHD_Result answer_grid(dashboard *d, struct MHD_Connection *c) {
    size_t n = 0;
    unsigned char *png = dashboard_grid_png(d, &n);
    if (!png) {
        error_clear();
        return answer_const(c, MHD_HTTP_NOT_FOUND, "{\"error\": \"no sample grid yet\"}\n");
    }
    return queue(c, MHD_HTTP_OK, MHD_create_response_from_buffer(n, png, MHD_RESPMEM_MUST_FREE), "image/png");
}

static enum MHD_Result answer_unauthorized(struct MHD_Connection *c) {
    static const char body[] = "{\"error\": \"a bearer token is required\"}\n";
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"atelier\"");
    return queue(c, MHD_HTTP_UNAUTHORIZED, r, "application/json");
}

static enum MHD_Result answer_method(struct MHD_Connection *c) {
    static const char body[] = "{\"error\": \"the dashboard is read-only: GET only\"}\n";
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    return queue(c, MHD_HTTP_METHOD_NOT_ALLOWED, r, "application/json");
}

/* ---- routing ---- */

/* Equal strings, in a time that does not depend on where they differ. */
static bool same_secret(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = (unsigned char)(na != nb);
    for (size_t i = 0; i < na; i++) diff |= (unsigned char)(a[i] ^ b[i % (nb ? nb : 1)]);
    return diff == 0;
}

static bool authorized(const dashboard *d, struct MHD_Connection *c) {
    if (!d->o.token) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h && !strncmp(h, "Bearer ", 7)) return same_secret(h + 7, d->o.token);
    const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
    return q && same_secret(q, d->o.token);
}

static enum MHD_Result route(dashboard *d, struct MHD_Connection *c, const char *url, const char *method) {
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) return answer_method(c);
    if (!strcmp(url, "/") || !strcmp(url, "/index.html")) return answer_page(c);
    if (!strcmp(url, "/healthz")) return answer_const(c, MHD_HTTP_OK, "{\"status\": \"ok\"}\n");
    bool state = !strcmp(url, "/api/state"), grid = !strcmp(url, "/api/grid.png");
    if (!state && !grid) return answer_const(c, MHD_HTTP_NOT_FOUND, "{\"error\": \"no such path\"}\n");
    if (!authorized(d, c)) return answer_unauthorized(c);
    return state ? answer_state(d, c) : answer_grid(d, c);
}

/* MHD calls this with the headers, then with each piece of a body, then once more with
 * none: the answer goes on that last call (an answer queued earlier closes the
 * connection); a body, which no route takes, is read and dropped. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **con_cls) {
    static int seen;
    if (!*con_cls) { *con_cls = &seen; return MHD_YES; }
    if (*size) { *size = 0; return MHD_YES; }
    return route(cls, c, url, method);
}

/* ---- start and stop ---- */

static status check_opts(const dashboard_opts *o) {
    if (!o->host) return error_set(STATUS_ARG, "dashboard: a host is required");
    if (o->port < 0 || o->port > 65535) return error_set(STATUS_ARG, "dashboard: port %d is out of range 0..65535", o->port);
    if (o->token && !o->token[0]) return error_set(STATUS_ARG, "dashboard: empty token");
    if (o->history_max < 16 || o->history_max > 1000000)
        return error_set(STATUS_ARG, "dashboard: history_max %d is outside 16..1000000", o->history_max);
    return STATUS_OK;
}

static status listen_on(dashboard *d) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)d->o.port)};
    if (inet_pton(AF_INET, d->o.host, &addr.sin_addr) != 1)
        return error_set(STATUS_ARG, "dashboard: host '%s' is not an IPv4 address", d->o.host);
    /* One thread polls and answers every connection in turn: the answers are small and made
     * from the snapshot, and the trainer keeps the other cores. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC;
    d->daemon = MHD_start_daemon(flags, (uint16_t)d->o.port, NULL, NULL, handle, d,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                                 MHD_OPTION_END);
    if (!d->daemon) return error_set(STATUS_IO, "cannot listen on %s:%d (in use?)", d->o.host, d->o.port);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d->daemon, MHD_DAEMON_INFO_BIND_PORT);
    d->port = di ? di->port : d->o.port;
    return STATUS_OK;
}

dashboard *dashboard_start(const dashboard_opts *o) {
    if (check_opts(o) != STATUS_OK) return NULL;
    dashboard *d = calloc(1, sizeof *d);
    if (!d) { error_set(STATUS_NOMEM, "dashboard: out of memory"); return NULL; }
    pthread_mutex_init(&d->mu, NULL);
    d->o = *o;
    d->o.host = strdup(o->host);
    d->o.token = o->token ? strdup(o->token) : NULL;
    d->o.title = strdup(o->title ? o->title : "");
    if (!d->o.host || (o->token && !d->o.token) || !d->o.title) { error_set(STATUS_NOMEM, "dashboard: out of memory"); goto fail; }
    if (dash_state_init(&d->st, o->history_max) != STATUS_OK || listen_on(d) != STATUS_OK) goto fail;
    return d;
fail:
    dashboard_stop(d);
    return NULL;
}

int dashboard_port(const dashboard *d) { return d->port; }

void dashboard_stop(dashboard *d) {
    if (!d) return;
    if (d->daemon) MHD_stop_daemon(d->daemon);   /* joins the thread: nothing reads d after */
    dash_state_free(&d->st);
    image_free(d->grid);
    free(d->png);
    free((char *)d->o.host);
    free((char *)d->o.token);
    free((char *)d->o.title);
    pthread_mutex_destroy(&d->mu);
    free(d);
}
