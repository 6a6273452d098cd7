/* lab_http.c: the GAN lab's server (lab.h): the page, the JSON API, and one scheduler
 * thread that trains every lab in turn.
 *
 * All training runs on the scheduler thread, a few iterations of one lab at a time, round
 * robin: the labs share one core whatever their number, and a request never waits behind
 * more than one slice. HTTP threads only read the latest state (a JSON string) or hand the
 * scheduler a command (step, new settings, reset) and wait for it. A lab that nobody asked
 * about for idle_pause_s pauses; after idle_close_s it is closed. At most max_labs labs.
 *
 * API (JSON; errors {"error": "one line"}):
 *   POST   /api/labs                 settings (optional) -> 201 the lab
 *   GET    /api/labs/ID              the lab: {"id", "running", "slow", "error", "state"}
 *   POST   /api/labs/ID/step         {"n": 1..1000, "what": "both" | "d" | "g"} (pauses)
 *   POST   /api/labs/ID/play         {"slow": false}
 *   POST   /api/labs/ID/pause                                  (the state where it stopped)
 *   POST   /api/labs/ID/settings     settings (lab_settings_from_json) -> the lab, or 400
 *   POST   /api/labs/ID/reset
 *   DELETE /api/labs/ID              -> 204
 * Bodies are at most LAB_MAX_BODY bytes (413 beyond). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "json.h"
#include "lab_internal.h"

#define LAB_MAX_BODY (64 << 10)
#define LAB_MAX_LABS 64
#define SLICE 10                 /* iterations of one lab before the next lab's turn */
#define SLOW_PERIOD 0.15         /* slow motion: seconds per iteration */

extern const unsigned char atelier_lab_page_data[];
extern const unsigned long long atelier_lab_page_size;

typedef enum { CMD_NONE, CMD_STEP, CMD_SETTINGS, CMD_RESET, CMD_STATE } cmd_kind;   /* STATE: a fresh state */

typedef struct slot {
    bool used, busy, closing;    /* busy: the scheduler works on it outside the lock */
    char id[33];
    lab *l;
    bool running, slow;
    double last_seen, next_at;
    int since_state;             /* iterations since the state was made */
    cmd_kind cmd;                /* the pending command ... */
    lab_step_kind step_kind;
    int step_n;
    lab_settings *settings;      /* (CMD_SETTINGS, malloc'd) */
    uint64_t asked, done;        /* ... commands asked and done */
    char *state;                 /* the latest lab_state_json */
    char error[256];             /* why training stopped, "" */
} slot;

struct lab_server {
    lab_server_opts o;
    struct MHD_Daemon *daemon;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    pthread_t thread;
    bool thread_started, stopping;
    slot slots[LAB_MAX_LABS];
    int next, port;
};

typedef struct request { char *body; size_t n; bool too_big; int code; } request;

lab_server_opts lab_server_defaults(void) {
    return (lab_server_opts){.host = "127.0.0.1", .port = 8090, .max_labs = 8, .idle_pause_s = 20,
                             .idle_close_s = 600, .refresh_every = 50};
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void slot_clear(slot *s) {
    lab_free(s->l);
    free(s->settings);
    free(s->state);
    memset(s, 0, sizeof *s);
}

/* ---- the scheduler ---- */

/* The next slot with work, round robin from srv->next; -1 when none. Under the lock. */
static int pick(lab_server *srv, double now) {
    int n = srv->o.max_labs;
    for (int j = 0; j < n; j++) {
        int i = (srv->next + j) % n;
        slot *s = &srv->slots[i];
        if (!s->used || s->busy || s->closing) continue;
        if (now - s->last_seen > srv->o.idle_pause_s) s->running = false;   /* nobody watching */
        if (s->cmd != CMD_NONE || (s->running && now >= s->next_at)) { srv->next = (i + 1) % n; return i; }
    }
    return -1;
}

/* Closes labs left alone for idle_close_s and those being deleted. Under the lock. */
static void close_idle(lab_server *srv, double now) {
    for (int i = 0; i < srv->o.max_labs; i++) {
        slot *s = &srv->slots[i];
        if (s->used && !s->busy && (s->closing || now - s->last_seen > srv->o.idle_close_s)) {
            slot_clear(s);
            pthread_cond_broadcast(&srv->done);    /* whoever waited on it */
        }
    }
}

/* One piece of work on a lab, outside the lock: the command, or a slice of play. Returns
 * whether a new state should be made. */
static bool work(lab_server *srv, slot *s, cmd_kind cmd, const lab_settings *set, lab_step_kind kind, int n,
                 bool slow, char *err, size_t errsize) {
    status st = STATUS_OK;
    bool fresh = true;
    if (cmd == CMD_SETTINGS) st = lab_set(s->l, set);
    else if (cmd == CMD_RESET) st = lab_reset(s->l);
    else if (cmd == CMD_STEP) st = lab_step(s->l, kind, n);
    else if (cmd == CMD_STATE) fresh = s->since_state > 0;
    else {
        int k = slow ? 1 : SLICE;
        st = lab_step(s->l, LAB_STEP_BOTH, k);
        s->since_state += k;
        fresh = slow || s->since_state >= srv->o.refresh_every;
    }
    if (st != STATUS_OK) {
        snprintf(err, errsize, "%s", error_message());
        error_clear();
        return true;
    }
    return fresh;
}

static void *scheduler(void *arg) {
    lab_server *srv = arg;
    pthread_mutex_lock(&srv->mu);
    while (!srv->stopping) {
        double now = now_s();
        close_idle(srv, now);
        int i = pick(srv, now);
        if (i < 0) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 20 * 1000 * 1000;
            if (until.tv_nsec >= 1000000000) { until.tv_sec++; until.tv_nsec -= 1000000000; }
            pthread_cond_timedwait(&srv->wake, &srv->mu, &until);
            continue;
        }
        slot *s = &srv->slots[i];
        cmd_kind cmd = s->cmd;
        lab_settings *set = s->settings;
        uint64_t asked = s->asked;
        lab_step_kind kind = s->step_kind;
        int n = s->step_n;
        bool slow = s->slow;
        s->cmd = CMD_NONE;
        s->settings = NULL;
        s->busy = true;
        pthread_mutex_unlock(&srv->mu);

        char err[256] = "";
        bool fresh = work(srv, s, cmd, set, kind, n, slow, err, sizeof err);
        char *state = fresh ? lab_state_json(s->l) : NULL;
        if (fresh && !state) { snprintf(err, sizeof err, "%s", error_message()); error_clear(); }
        free(set);

        pthread_mutex_lock(&srv->mu);
        s->busy = false;
        if (state) { free(s->state); s->state = state; s->since_state = 0; }
        if (err[0]) { snprintf(s->error, sizeof s->error, "%s", err); s->running = false; }
        else if (cmd != CMD_NONE) s->error[0] = 0;
        if (slow && cmd == CMD_NONE) s->next_at = now_s() + SLOW_PERIOD;
        if (cmd != CMD_NONE) s->done = asked;
        pthread_cond_broadcast(&srv->done);
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* ---- answers ---- */

static enum MHD_Result answer(struct MHD_Connection *c, request *r, unsigned code, const char *type, const char *body,
                              size_t len, enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, mode);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ok = MHD_queue_response(c, code, resp);
    MHD_destroy_response(resp);
    r->code = (int)code;
    return ok;
}

static enum MHD_Result answer_json(struct MHD_Connection *c, request *r, unsigned code, const char *json) {
    return answer(c, r, code, "application/json", json, strlen(json), MHD_RESPMEM_MUST_COPY);
}

/* {"error": msg}, msg made JSON-safe (it may echo a client's bytes) */
static enum MHD_Result answer_error(struct MHD_Connection *c, request *r, unsigned code, const char *msg) {
    char json[700];
    size_t n = (size_t)snprintf(json, sizeof json, "{\"error\": \"");
    for (const unsigned char *p = (const unsigned char *)msg; *p && n + 12 < sizeof json; p++)
        n += (size_t)snprintf(json + n, sizeof json - n, *p == '"' || *p == '\\' ? "\\%c" : *p < 0x20 || *p >= 0x7f ? "?" : "%c", *p);
    snprintf(json + n, sizeof json - n, "\"}\n");
    return answer_json(c, r, code, json);
}

static enum MHD_Result answer_page(struct MHD_Connection *c, request *r) {
    struct MHD_Response *resp = MHD_create_response_from_buffer((size_t)atelier_lab_page_size,
                                                                (void *)atelier_lab_page_data, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    /* nothing but the page's own inline code and the same origin */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; "
                            "script-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    r->code = 200;
    return ok;
}

/* The lab as JSON, under the lock. */
static enum MHD_Result answer_lab(struct MHD_Connection *c, request *r, const slot *s, unsigned code) {
    size_t n = (s->state ? strlen(s->state) : 4) + 600;
    char *j = malloc(n);
    if (!j) return answer_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    char err[300] = "null";
    if (s->error[0]) {
        size_t k = 0;
        err[k++] = '"';
        for (const char *p = s->error; *p && k < sizeof err - 4; p++) err[k++] = *p == '"' || *p == '\\' ? '\'' : *p;
        err[k++] = '"';
        err[k] = 0;
    }
    snprintf(j, n, "{\"id\":\"%s\",\"running\":%s,\"slow\":%s,\"error\":%s,\"state\":%s}\n", s->id,
             s->running ? "true" : "false", s->slow ? "true" : "false", err, s->state ? s->state : "null");
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(j), j, MHD_RESPMEM_MUST_FREE);
    if (!resp) { free(j); return MHD_NO; }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ok = MHD_queue_response(c, code, resp);
    MHD_destroy_response(resp);
    r->code = (int)code;
    return ok;
}

/* ---- the API ---- */

static slot *find(lab_server *srv, const char *id) {
    for (int i = 0; i < srv->o.max_labs; i++)
        if (srv->slots[i].used && !srv->slots[i].closing && !strcmp(srv->slots[i].id, id)) return &srv->slots[i];
    return NULL;
}

static bool random_id(char out[33]) {
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && read(fd, b, sizeof b) == (ssize_t)sizeof b;
    if (fd >= 0) close(fd);
    for (int i = 0; ok && i < 16; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
    return ok;
}

static enum MHD_Result api_create(lab_server *srv, struct MHD_Connection *c, request *r) {
    lab_settings set = lab_defaults();
    if (r->n && lab_settings_from_json(r->body, r->n, &set) != STATUS_OK) {
        enum MHD_Result ok = answer_error(c, r, MHD_HTTP_BAD_REQUEST, error_message());
        error_clear();
        return ok;
    }
    char id[33];
    if (!random_id(id)) return answer_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "no random numbers for an id");
    pthread_mutex_lock(&srv->mu);
    close_idle(srv, now_s());
    slot *s = NULL;
    for (int i = 0; i < srv->o.max_labs && !s; i++)
        if (!srv->slots[i].used) s = &srv->slots[i];
    if (s) { s->used = true; s->busy = true; memcpy(s->id, id, sizeof id); s->last_seen = now_s(); }
    pthread_mutex_unlock(&srv->mu);
    if (!s) {
        char msg[120];
        snprintf(msg, sizeof msg, "%d labs are open, the most this server runs: close a tab and try again", srv->o.max_labs);
        return answer_error(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
    }
    /* the slot is ours (busy): build the lab outside the lock */
    lab *l = lab_new(&set);
    char *state = l ? lab_state_json(l) : NULL;
    pthread_mutex_lock(&srv->mu);
    enum MHD_Result ok;
    if (!state) {
        ok = answer_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, error_message());
        error_clear();
        lab_free(l);
        memset(s, 0, sizeof *s);
    } else {
        s->l = l;
        s->state = state;
        s->busy = false;
        ok = answer_lab(c, r, s, MHD_HTTP_CREATED);
    }
    pthread_mutex_unlock(&srv->mu);
    return ok;
}

/* Hands the scheduler a command and waits for it (under the lock). */
static bool command(lab_server *srv, slot *s, cmd_kind k) {
    char id[33];
    memcpy(id, s->id, sizeof id);
#define SAME_LAB (s->used && !s->closing && !strcmp(s->id, id) && !srv->stopping)   /* not closed meanwhile */
    while (s->cmd != CMD_NONE && SAME_LAB) pthread_cond_wait(&srv->done, &srv->mu);
    if (!SAME_LAB) return false;
    s->cmd = k;
    uint64_t me = ++s->asked;
    pthread_cond_signal(&srv->wake);
    while (s->done < me && SAME_LAB) pthread_cond_wait(&srv->done, &srv->mu);
    return SAME_LAB && s->done >= me;
#undef SAME_LAB
}

static const json_value *body_json(request *r, json_value **root, char *why, size_t n) {
    json_error err;
    *root = NULL;
    if (!r->n) return NULL;
    if (!(*root = json_parse(r->body, r->n, &err))) { snprintf(why, n, "the body is not JSON: %s", err.msg); return NULL; }
    if ((*root)->type != JSON_OBJECT) { snprintf(why, n, "the body must be a JSON object"); return NULL; }
    return *root;
}

/* {"n", "what"} of a step; false with the reason in why */
static bool step_args(request *r, lab_step_kind *kind, int *n, char *why, size_t wn) {
    json_value *root;
    const json_value *v = body_json(r, &root, why, wn), *jn = v ? json_get(v, "n") : NULL, *jw = v ? json_get(v, "what") : NULL;
    bool ok = !why[0];
    *n = 1;
    *kind = LAB_STEP_BOTH;
    for (int i = 0; ok && v && i < v->count; i++)
        if (strcmp(v->keys[i], "n") && strcmp(v->keys[i], "what")) { snprintf(why, wn, "step: unknown field \"%.40s\" (n, what)", v->keys[i]); ok = false; }
    if (ok && jn) {
        if (jn->type != JSON_NUMBER || !jn->is_int || jn->integer < 1 || jn->integer > 1000) { snprintf(why, wn, "n: must be an integer in 1..1000"); ok = false; }
        else *n = (int)jn->integer;
    }
    if (ok && jw) {
        if (jw->type == JSON_STRING && !strcmp(jw->string, "d")) *kind = LAB_STEP_D;
        else if (jw->type == JSON_STRING && !strcmp(jw->string, "g")) *kind = LAB_STEP_G;
        else if (!(jw->type == JSON_STRING && !strcmp(jw->string, "both"))) { snprintf(why, wn, "what: must be both, d or g"); ok = false; }
    }
    json_free(root);
    return ok;
}

static bool play_args(request *r, bool *slow, char *why, size_t wn) {
    json_value *root;
    const json_value *v = body_json(r, &root, why, wn), *js = v ? json_get(v, "slow") : NULL;
    bool ok = !why[0];
    if (ok && v && (v->count > 1 || (v->count == 1 && !js))) { snprintf(why, wn, "play: the only field is slow"); ok = false; }
    if (ok && js && js->type != JSON_BOOL) { snprintf(why, wn, "slow: must be true or false"); ok = false; }
    if (ok) *slow = js && js->boolean;
    json_free(root);
    return ok;
}

static enum MHD_Result api_lab(lab_server *srv, struct MHD_Connection *c, request *r, const char *method, const char *id,
                               const char *what) {
    char why[300] = "";
    lab_step_kind kind = LAB_STEP_BOTH;
    int n = 1;
    bool slow = false, is_post = !strcmp(method, "POST");
    lab_settings *set = NULL;
    /* what can be checked without the lab, before the lock */
    if (is_post && !strcmp(what, "step") && !step_args(r, &kind, &n, why, sizeof why))
        return answer_error(c, r, MHD_HTTP_BAD_REQUEST, why);
    if (is_post && !strcmp(what, "play") && !play_args(r, &slow, why, sizeof why))
        return answer_error(c, r, MHD_HTTP_BAD_REQUEST, why);
    pthread_mutex_lock(&srv->mu);
    slot *s = find(srv, id);
    enum MHD_Result ok;
    if (!s) { pthread_mutex_unlock(&srv->mu); return answer_error(c, r, MHD_HTTP_NOT_FOUND, "no such lab (closed after a long idle time?)"); }
    s->last_seen = now_s();
    if (!what[0] && (!strcmp(method, "GET") || !strcmp(method, "HEAD"))) ok = answer_lab(c, r, s, MHD_HTTP_OK);
    else if (!what[0] && !strcmp(method, "DELETE")) {
        s->closing = true;
        s->running = false;
        pthread_cond_signal(&srv->wake);
        ok = answer(c, r, MHD_HTTP_NO_CONTENT, "application/json", "", 0, MHD_RESPMEM_PERSISTENT);
    } else if (!is_post || !what[0]) ok = answer_error(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed here");
    else if (!strcmp(what, "play")) { s->running = true; s->slow = slow; s->next_at = 0; pthread_cond_signal(&srv->wake); ok = answer_lab(c, r, s, MHD_HTTP_OK); }
    else if (!strcmp(what, "pause")) {      /* the state of where it stopped */
        s->running = false;
        ok = command(srv, s, CMD_STATE) ? answer_lab(c, r, s, MHD_HTTP_OK) : answer_error(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, "the lab closed");
    }
    else if (!strcmp(what, "step") || !strcmp(what, "reset") || !strcmp(what, "settings")) {
        if (!strcmp(what, "settings")) {
            /* the settings change only by a command: wait for the one in flight */
            while ((s->cmd != CMD_NONE || s->done < s->asked) && !srv->stopping && s->used && !s->closing && !strcmp(s->id, id))
                pthread_cond_wait(&srv->done, &srv->mu);
            set = s->used && !s->closing && !strcmp(s->id, id) && !srv->stopping ? malloc(sizeof *set) : NULL;
            if (set) *set = *lab_get_settings(s->l);   /* read only by the scheduler: safe while it is not busy with it */
            if (set && lab_settings_from_json(r->body ? r->body : "{}", r->body ? r->n : 2, set) != STATUS_OK) {
                snprintf(why, sizeof why, "%s", error_message());
                error_clear();
            }
        }
        if (why[0]) {
            free(set);
            ok = answer_error(c, r, MHD_HTTP_BAD_REQUEST, why);
        } else if (!strcmp(what, "settings") && !set) {
            ok = answer_error(c, r, s->used && !strcmp(s->id, id) ? MHD_HTTP_INTERNAL_SERVER_ERROR : MHD_HTTP_NOT_FOUND,
                              s->used && !strcmp(s->id, id) ? "out of memory" : "the lab closed");
        } else {
            if (!strcmp(what, "step")) { s->running = false; s->step_kind = kind; s->step_n = n; }
            if (set) { free(s->settings); s->settings = set; }
            bool done = command(srv, s, !strcmp(what, "step") ? CMD_STEP : !strcmp(what, "reset") ? CMD_RESET : CMD_SETTINGS);
            ok = done ? answer_lab(c, r, s, MHD_HTTP_OK) : answer_error(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, "the lab closed");
        }
    } else ok = answer_error(c, r, MHD_HTTP_NOT_FOUND, "no such path");
    pthread_mutex_unlock(&srv->mu);
    return ok;
}

static enum MHD_Result route(lab_server *srv, struct MHD_Connection *c, request *r, const char *url, const char *method) {
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (!strcmp(url, "/") || !strcmp(url, "/index.html") || !strcmp(url, "/lab"))
        return get ? answer_page(c, r) : answer_error(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed here (GET)");
    if (!strcmp(url, "/favicon.ico")) return answer(c, r, MHD_HTTP_NO_CONTENT, "image/x-icon", "", 0, MHD_RESPMEM_PERSISTENT);
    if (!strcmp(url, "/healthz")) return answer_json(c, r, MHD_HTTP_OK, "{\"status\": \"ok\"}\n");
    if (r->too_big) {
        char msg[80];
        snprintf(msg, sizeof msg, "the body is over %d bytes", LAB_MAX_BODY);
        return answer_error(c, r, 413, msg);
    }
    if (!strcmp(url, "/api/labs") || !strcmp(url, "/api/labs/"))
        return !strcmp(method, "POST") ? api_create(srv, c, r) : answer_error(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed here (POST)");
    if (!strncmp(url, "/api/labs/", 10)) {
        const char *rest = url + 10, *slash = strchr(rest, '/');
        char id[40], what[16] = "";
        size_t idn = slash ? (size_t)(slash - rest) : strlen(rest);
        if (idn == 0 || idn >= sizeof id || (slash && (strlen(slash + 1) >= sizeof what || strchr(slash + 1, '/'))))
            return answer_error(c, r, MHD_HTTP_NOT_FOUND, "no such path");
        memcpy(id, rest, idn);
        id[idn] = 0;
        if (slash) strcpy(what, slash + 1);
        return api_lab(srv, c, r, method, id, what);
    }
    return answer_error(c, r, MHD_HTTP_NOT_FOUND, "no such path");
}

/* MHD: headers first, then the body in pieces (kept up to LAB_MAX_BODY), then once more. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **con_cls) {
    lab_server *srv = cls;
    request *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        *con_cls = r;
        return MHD_YES;
    }
    if (*size) {
        if (!r->too_big && r->n + *size <= LAB_MAX_BODY) {
            char *b = realloc(r->body, r->n + *size + 1);
            if (!b) return MHD_NO;
            memcpy(b + r->n, data, *size);
            r->body = b;
            r->n += *size;
            b[r->n] = 0;
        } else {
            r->too_big = true;
        }
        *size = 0;
        return MHD_YES;
    }
    return r->code ? MHD_YES : route(srv, c, r, url, method);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why) {
    request *r = *con_cls;
    if (r) { free(r->body); free(r); }
    *con_cls = NULL;
}

/* ---- start and stop ---- */

lab_server *lab_server_start(const lab_server_opts *o) {
    if (o->max_labs < 1 || o->max_labs > LAB_MAX_LABS) { error_set(STATUS_ARG, "max labs %d: must be 1..%d", o->max_labs, LAB_MAX_LABS); return NULL; }
    if (o->port < 0 || o->port > 65535) { error_set(STATUS_ARG, "port %d: must be 0..65535", o->port); return NULL; }
    if (!(o->idle_pause_s > 0 && o->idle_close_s >= o->idle_pause_s && o->refresh_every >= 1 && o->refresh_every <= 10000)) {
        error_set(STATUS_ARG, "lab server: idle times and refresh_every out of range");
        return NULL;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (!o->host || inet_pton(AF_INET, o->host, &addr.sin_addr) != 1) {
        error_set(STATUS_ARG, "host '%s' is not an IPv4 address", o->host ? o->host : "");
        return NULL;
    }
    lab_server *srv = calloc(1, sizeof *srv);
    if (!srv) { error_set(STATUS_NOMEM, "lab: out of memory"); return NULL; }
    srv->o = *o;
    srv->o.host = NULL;     /* not kept */
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->wake, NULL);
    pthread_cond_init(&srv->done, NULL);
    if (pthread_create(&srv->thread, NULL, scheduler, srv) != 0) {
        error_set(STATUS_NOMEM, "lab: cannot start the scheduler thread");
        lab_server_stop(srv);
        return NULL;
    }
    srv->thread_started = true;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC;
    srv->daemon = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, handle, srv,
                                   MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                   MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
                                   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                                   MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
                                   MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
    if (!srv->daemon) {
        error_set(STATUS_IO, "cannot listen on %s:%d (in use?)", o->host, o->port);
        lab_server_stop(srv);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : o->port;
    return srv;
}

int lab_server_port(const lab_server *s) { return s->port; }

void lab_server_stop(lab_server *srv) {
    if (!srv) return;
    pthread_mutex_lock(&srv->mu);
    srv->stopping = true;
    pthread_cond_broadcast(&srv->wake);
    pthread_cond_broadcast(&srv->done);
    pthread_mutex_unlock(&srv->mu);
    if (srv->daemon) MHD_stop_daemon(srv->daemon);
    if (srv->thread_started) pthread_join(srv->thread, NULL);
    for (int i = 0; i < LAB_MAX_LABS; i++)
        if (srv->slots[i].used) slot_clear(&srv->slots[i]);
    pthread_cond_destroy(&srv->done);
    pthread_cond_destroy(&srv->wake);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}
