/* `atelier serve` end to end: servers started as child processes on 127.0.0.1 (a free port
 * each), driven by a small HTTP client. The whole flow with tiny jobs (submit, events,
 * preview, result, delete), every error case (400 corrupt, truncated, not an image, over
 * the pixel limit; 413; 404; 405; 409; 415; 401 with a token; 429 with a full queue),
 * SIGTERM draining an upload in flight, SIGKILL with jobs queued and running then a restart
 * that finishes each exactly once, a small load (bench/serve_load.c) and the browser test
 * (tests/browser/, when chromium and playwright-core are installed). The fast path with a
 * tiny random style network made here (--style-model FILE): fast-capable styles listed,
 * one style, strength 0, a blend, "finest" and the other styles optimised, the path and
 * seconds reported, bad qualities and blends refused. */
#define _GNU_SOURCE   /* strcasestr */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "atelier/arena.h"
#include "atelier/image.h"
#include "atelier/rng.h"
#include "atelier/serve.h"
#include "atelier/stylenet.h"
#include "harness.h"

/* Tiny jobs: a few seconds even on the reference backend. */
#define TINY "size=32&iterations=2"
#define SERVE_FLAGS " --min-size 32 --workers 1"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* ---- the HTTP client (harness.h) ---- */

typedef test_resp resp;
#define resp_free test_resp_free
#define connect_port test_connect_port
#define send_all test_send_all
#define read_resp test_read_resp

static int http(int port, const char *method, const char *path, const char *headers, const void *body, size_t blen, resp *r) {
    return test_http(port, method, path, headers, body, blen, r);
}

static int get(int port, const char *path, resp *r) { return http(port, "GET", path, "", NULL, 0, r); }

/* ---- multipart bodies ---- */

#define BOUNDARY "atelier-test-7d3f2a"
#define MULTIPART "Content-Type: multipart/form-data; boundary=" BOUNDARY "\r\n"

typedef struct mp { char *buf; size_t len, cap; } mp;

static void mp_put(mp *m, const void *p, size_t n) {
    if (m->len + n + 1 > m->cap) {
        m->cap = (m->len + n + 1) * 2;
        m->buf = realloc(m->buf, m->cap);
    }
    memcpy(m->buf + m->len, p, n);
    m->len += n;
}

static void mp_field(mp *m, const char *name, const char *value) {
    char h[256];
    int n = snprintf(h, sizeof h, "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n", name, value);
    mp_put(m, h, (size_t)n);
}

static void mp_file(mp *m, const char *name, const void *data, size_t len) {
    char h[256];
    int n = snprintf(h, sizeof h, "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"x.png\"\r\n"
                     "Content-Type: application/octet-stream\r\n\r\n", name);
    mp_put(m, h, (size_t)n);
    mp_put(m, data, len);
    mp_put(m, "\r\n", 2);
}

/* "a=1&b=2" as fields */
static void mp_fields(mp *m, const char *list) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *kv = strtok_r(buf, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) continue;
        *eq = 0;
        mp_field(m, kv, eq + 1);
    }
}

static void mp_end(mp *m) { mp_put(m, "--" BOUNDARY "--\r\n", strlen("--" BOUNDARY "--\r\n")); }

/* ---- test data ---- */

static unsigned char *g_photo, *g_paint;   /* PNG bytes */
static size_t g_photo_len, g_paint_len;

static bool write_picture(const char *path, int w, int h, int seed) {
    image *im = image_new(w, h, 3);
    for (int c = 0; im && c < 3; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                im->data[(c * h + y) * w + x] = 0.5f + 0.4f * sinf(x * 0.3f * (seed + 1) + c) * cosf(y * 0.2f + seed);
    bool ok = im && image_write(path, im, NULL) == STATUS_OK;
    image_free(im);
    return ok;
}

/* A job with the photo and a named style (or the painting uploaded when style is NULL). */
static int post_job(int port, const char *style, const char *fields, const char *auth, resp *r) {
    mp m = {0};
    mp_file(&m, "content", g_photo, g_photo_len);
    if (style) mp_field(&m, "style", style);
    else mp_file(&m, "style_image", g_paint, g_paint_len);
    if (fields) mp_fields(&m, fields);
    mp_end(&m);
    char headers[256];
    snprintf(headers, sizeof headers, MULTIPART "%s", auth ? auth : "");
    int code = http(port, "POST", "/api/jobs", headers, m.buf, m.len, r);
    free(m.buf);
    return code;
}

/* The value of "key": "..." in a JSON text, into out ("" when absent). */
static const char *json_str(const char *body, const char *key, char *out, size_t size) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    const char *p = body ? strstr(body, pat) : NULL;
    out[0] = 0;
    if (!p) return out;
    p += strlen(pat);
    const char *q = strchr(p, '"');
    if (q) snprintf(out, size, "%.*s", (int)(q - p), p);
    return out;
}

static double json_num(const char *body, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = body ? strstr(body, pat) : NULL;
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

static bool is_id(const char *s) {
    if (strlen(s) != 32) return false;
    for (; *s; s++)
        if (!strchr("0123456789abcdef", *s)) return false;
    return true;
}

/* ---- servers ---- */

typedef struct srv { pid_t pid; int port; char log[256]; } srv;
static srv *g_live[16];   /* killed at exit if a check failed midway */

static void srv_track(srv *s, bool on) {
    for (int i = 0; i < 16; i++)
        if (on ? !g_live[i] : g_live[i] == s) { g_live[i] = on ? s : NULL; return; }
}

static void kill_all(void) {
    for (int i = 0; i < 16; i++)
        if (g_live[i] && g_live[i]->pid > 0) { kill(g_live[i]->pid, SIGKILL); waitpid(g_live[i]->pid, NULL, 0); }
}

/* Starts `atelier serve` on a free port with its data in test_dir/data (or data_dir) and
 * waits until /healthz answers. */
static bool srv_start(srv *s, const char *data_dir, const char *flags) {
    static int k;
    memset(s, 0, sizeof *s);
    snprintf(s->log, sizeof s->log, "%s/serve-%d.log", test_dir, k++);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "exec " ATELIER_BIN " serve --port 0 --data-dir %s --styles %s/styles" SERVE_FLAGS " %s >%s 2>&1",
             data_dir, test_dir, flags, s->log);
    fflush(stdout);
    if ((s->pid = fork()) == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);   /* a crashed test leaves no server behind */
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    if (s->pid < 0) return false;
    srv_track(s, true);
    for (double t0 = now_s(); now_s() - t0 < 60; usleep(50000)) {
        size_t n;
        char *log = (char *)test_read_file(s->log, &n);
        const char *at = log ? strstr(log, "listening on http://127.0.0.1:") : NULL;
        if (at) s->port = atoi(at + strlen("listening on http://127.0.0.1:"));
        free(log);
        resp r = {0};
        if (s->port && get(s->port, "/healthz", &r) == 200) { resp_free(&r); return true; }
        resp_free(&r);
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) { s->pid = 0; break; }
    }
    fprintf(stderr, "the server did not start: see %s\n", s->log);
    return false;
}

/* How much longer than a plain build on the cpu backend a job's iteration may take here:
 * the reference backend and AddressSanitizer each make it several times slower (a bound
 * on cancellation or shutdown time scales with it). */
static double slow(void) {
    double f = strcmp(backend_current()->name, "ref") ? 1 : 4;
#if defined(__SANITIZE_ADDRESS__)
    f *= 4;
#endif
    return f;
}

/* Sends sig and waits up to `wait` seconds (times slow()): the exit status, or -1 (killed
 * by a signal or not stopped in time: then SIGKILL). */
static int srv_stop(srv *s, int sig, double wait) {
    if (s->pid <= 0) return -1;
    wait *= slow();
    kill(s->pid, sig);
    int st = 0, rc = -1;
    for (double t0 = now_s(); now_s() - t0 < wait; usleep(20000))
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) { rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1; break; }
    if (rc == -1 && !(WIFSIGNALED(st))) { kill(s->pid, SIGKILL); waitpid(s->pid, NULL, 0); }
    srv_track(s, false);
    s->pid = 0;
    return rc;
}

/* Polls the job until it is in a state among `states` ("done failed"), up to timeout seconds
 * (times slow()); its JSON in r. */
static bool wait_state(int port, const char *id, const char *states, double timeout, resp *r) {
    char path[128], st[32];
    snprintf(path, sizeof path, "/api/jobs/%s", id);
    memset(r, 0, sizeof *r);
    timeout *= slow();
    for (double t0 = now_s(); now_s() - t0 < timeout; usleep(50000)) {
        resp_free(r);
        if (get(port, path, r) != 200) return false;
        json_str(r->body, "state", st, sizeof st);
        if (st[0] && strstr(states, st)) return true;
    }
    return false;
}

static int count_files(const char *dir) { return test_count_entries(dir); }

/* ---- the cases ---- */

static void test_help(void) {
    char out[8192], err[8192];
    CHECK(test_shell(ATELIER_BIN " serve --help", out, err) == 0);
    const char *opts[] = {"--port", "--data-dir", "--styles", "--workers", "--queue", "--token", "--cors", "--max-upload",
                          "--max-pixels", "--min-size", "--max-size", "--iterations", "[8080]", "[384]", "--style-model",
                          "--fast-workers"};
    for (int i = 0; i < (int)(sizeof opts / sizeof opts[0]); i++) CHECK_MSG(strstr(out, opts[i]), "--help lacks %s", opts[i]);
    CHECK(test_shell(ATELIER_BIN " serve --port 99999", out, err) == 2 && strstr(err, "--port") && test_count_lines(err) == 1);
    CHECK(test_shell(ATELIER_BIN " serve --frobnicate 1", out, err) == 2 && strstr(err, "--frobnicate"));
}

/* Reads an event stream to its end; returns the number of data events, last one in last. */
static int read_events(int port, const char *id, char *last, size_t size, bool *saw_running) {
    char path[128];
    snprintf(path, sizeof path, "/api/jobs/%s/events", id);
    resp r = {0};
    if (get(port, path, &r) != 200) { resp_free(&r); return -1; }
    CHECK(strcasestr(r.head, "content-type: text/event-stream") != NULL);
    int n = 0;
    *saw_running = false;
    for (char *p = r.body; (p = strstr(p, "data: ")); p += 6) {
        char *end = strstr(p, "\n\n");
        if (!end) break;
        snprintf(last, size, "%.*s", (int)(end - p - 6), p + 6);
        if (strstr(last, "\"state\": \"running\"") && json_num(last, "progress") > 0) *saw_running = true;
        n++;
    }
    resp_free(&r);
    return n;
}

static void check_result_image(int port, const char *id, int w, int h) {
    char path[128];
    snprintf(path, sizeof path, "/api/jobs/%s/result", id);
    resp r = {0};
    CHECK(get(port, path, &r) == 200 && strcasestr(r.head, "content-type: image/png"));
    FILE *f = fopen(test_tmp_path("result.png"), "wb");
    if (f) { fwrite(r.body, 1, r.len, f); fclose(f); }
    resp_free(&r);
    image *im = image_read(test_tmp_path("result.png"), NULL);
    CHECK_MSG(im && im->w == w && im->h == h, "result %dx%d, want %dx%d", im ? im->w : 0, im ? im->h : 0, w, h);
    CHECK(im && image_text_get(im, "atelier.settings") && strstr(image_text_get(im, "atelier.made_by"), "machine-made"));
    image_free(im);
}

static void test_flow(void) {
    srv s;
    if (!srv_start(&s, test_tmp_path("data"), "")) { CHECK(false); return; }
    int port = s.port;
    resp r = {0};
    /* the page and the gallery */
    CHECK(get(port, "/", &r) == 200 && strstr(r.body, "<html") && !strstr(r.body, "src=\"http") && !strstr(r.body, "href=\"http"));
    CHECK(strcasestr(r.head, "content-security-policy") != NULL && !strcasestr(r.head, "access-control-allow-origin"));
    resp_free(&r);
    CHECK(get(port, "/api/styles", &r) == 200 && strstr(r.body, "\"name\": \"waves\"") && strstr(r.body, "\"name\": \"dots\""));
    CHECK(!strstr(r.body, "notes"));   /* not an image file name */
    resp_free(&r);
    CHECK(get(port, "/api/styles/waves/thumb", &r) == 200 && strcasestr(r.head, "image/jpeg") && r.len > 100);
    resp_free(&r);
    /* a job with a gallery style, followed by its event stream */
    CHECK(post_job(port, "waves", TINY "&strength=0.7&preserve_colors=true", NULL, &r) == 201);
    char id[64], last[4096];
    json_str(r.body, "id", id, sizeof id);
    CHECK_MSG(is_id(id), "id '%s' is not 32 hex digits", id);
    CHECK(strcasestr(r.head, "location: /api/jobs/") != NULL);
    resp_free(&r);
    bool running = false;
    int events = read_events(port, id, last, sizeof last, &running);
    CHECK_MSG(events >= 2 && strstr(last, "\"state\": \"done\""), "%d events, last %s", events, last);
    CHECK(strstr(last, "\"result_url\": \"/api/jobs/") != NULL);
    char path[128];
    snprintf(path, sizeof path, "/api/jobs/%s", id);
    CHECK(get(port, path, &r) == 200);
    char st[32], style[64];
    CHECK(!strcmp(json_str(r.body, "state", st, sizeof st), "done") && json_num(r.body, "progress") == 1);
    CHECK(!strcmp(json_str(r.body, "path", st, sizeof st), "optimise") && !strcmp(json_str(r.body, "quality", st, sizeof st), "finest"));
    CHECK(json_num(r.body, "seconds") > 0 && strstr(r.body, "\"style2\": null"));
    CHECK(!strcmp(json_str(r.body, "style", style, sizeof style), "waves") && strstr(r.body, "\"preserve_colors\": true"));
    CHECK(json_num(r.body, "strength") == 0.7 && json_num(r.body, "attempts") == 1 && json_num(r.body, "width") == 32);
    resp_free(&r);
    CHECK(http(port, "PUT", path, "", NULL, 0, &r) == 405 && strcasestr(r.head, "allow: GET, DELETE"));   /* RFC 9110 */
    resp_free(&r);
    check_result_image(port, id, 32, 24);
    snprintf(path, sizeof path, "/api/jobs/%s/preview", id);
    CHECK(get(port, path, &r) == 200 && strcasestr(r.head, "image/jpeg"));
    resp_free(&r);
    /* an uploaded style */
    CHECK(post_job(port, NULL, TINY, NULL, &r) == 201);
    char id2[64];
    json_str(r.body, "id", id2, sizeof id2);
    resp_free(&r);
    CHECK(wait_state(port, id2, "done failed", 120, &r) && strstr(r.body, "\"state\": \"done\""));
    resp_free(&r);
    check_result_image(port, id2, 32, 24);
    /* metrics */
    CHECK(get(port, "/metrics", &r) == 200 && strstr(r.body, "atelier_jobs{state=\"done\"} 2") &&
          strstr(r.body, "atelier_queue_length 0") && strstr(r.body, "atelier_job_seconds_count 2") &&
          strstr(r.body, "# TYPE atelier_job_seconds histogram"));
    resp_free(&r);
    /* delete: the job and its files go */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/jobs/%s", test_tmp_path("data"), id);
    CHECK(count_files(dir) >= 3);
    snprintf(path, sizeof path, "/api/jobs/%s", id);
    CHECK(http(port, "DELETE", path, "", NULL, 0, &r) == 204);
    resp_free(&r);
    CHECK(get(port, path, &r) == 404);
    resp_free(&r);
    CHECK(http(port, "DELETE", path, "", NULL, 0, &r) == 404);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/jobs/%s/result", id);
    CHECK(get(port, path, &r) == 404);
    resp_free(&r);
    CHECK(access(dir, F_OK) != 0);
    /* a second server on the same data folder is refused */
    char cmd[512], out[8192], err[8192];
    snprintf(cmd, sizeof cmd, ATELIER_BIN " serve --port 0 --data-dir %s", test_tmp_path("data"));
    CHECK(test_shell(cmd, out, err) == 1 && strstr(err, "in use") && test_count_lines(err) == 1);
    CHECK(srv_stop(&s, SIGTERM, 30) == 0);
}

/* ---- error cases ---- */

static uint32_t crc32_of(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

/* A PNG whose header claims w x h (a decompression bomb's header), with a token IDAT. */
static size_t bomb_png(unsigned char *b, uint32_t w, uint32_t h) {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t n = 0;
    memcpy(b, sig, 8);
    n = 8;
    unsigned char ihdr[4 + 4 + 13] = {0, 0, 0, 13, 'I', 'H', 'D', 'R', (unsigned char)(w >> 24), (unsigned char)(w >> 16),
                                      (unsigned char)(w >> 8), (unsigned char)w, (unsigned char)(h >> 24), (unsigned char)(h >> 16),
                                      (unsigned char)(h >> 8), (unsigned char)h, 8, 2, 0, 0, 0};
    memcpy(b + n, ihdr, sizeof ihdr);
    n += sizeof ihdr;
    uint32_t crc = crc32_of(ihdr + 4, 17);
    unsigned char c4[4] = {(unsigned char)(crc >> 24), (unsigned char)(crc >> 16), (unsigned char)(crc >> 8), (unsigned char)crc};
    memcpy(b + n, c4, 4);
    n += 4;
    static const unsigned char idat[] = {0, 0, 0, 2, 'I', 'D', 'A', 'T', 0x78, 0x9c, 0, 0, 0, 0};
    memcpy(b + n, idat, sizeof idat);
    return n + sizeof idat;
}

/* POSTs a job whose content is the given bytes; checks the status and a word of the error. */
static void check_bad_content(int port, const void *data, size_t n, int want, const char *word) {
    mp m = {0};
    mp_file(&m, "content", data, n);
    mp_field(&m, "style", "waves");
    mp_fields(&m, TINY);
    mp_end(&m);
    resp r = {0};
    int code = http(port, "POST", "/api/jobs", MULTIPART, m.buf, m.len, &r);
    CHECK_MSG(code == want && r.body && strstr(r.body, word) && strstr(r.body, "\"error\""),
              "want %d with '%s', got %d: %s", want, word, code, r.body ? r.body : "");
    CHECK_MSG(!r.body || !strstr(r.body, "/tmp/"), "the error names a server path: %s", r.body);
    resp_free(&r);
    free(m.buf);
}

/* A POST with the given fields (and the photo unless no_content); checks status and word. */
static void check_bad_fields(int port, const char *style, const char *fields, bool with_file, int want, const char *word) {
    mp m = {0};
    mp_file(&m, "content", g_photo, g_photo_len);
    if (style) mp_field(&m, "style", style);
    if (with_file) mp_file(&m, "style_image", g_paint, g_paint_len);
    if (fields) mp_fields(&m, fields);
    mp_end(&m);
    resp r = {0};
    int code = http(port, "POST", "/api/jobs", MULTIPART, m.buf, m.len, &r);
    CHECK_MSG(code == want && r.body && strstr(r.body, word), "fields '%s': want %d with '%s', got %d: %s", fields ? fields : "",
              want, word, code, r.body ? r.body : "");
    resp_free(&r);
    free(m.buf);
}

static void check_code(int port, const char *method, const char *path, const char *headers, int want) {
    resp r = {0};
    int code = http(port, method, path, headers, NULL, 0, &r);
    CHECK_MSG(code == want, "%s %s: %d, want %d (%s)", method, path, code, want, r.body ? r.body : "");
    resp_free(&r);
}

static void test_bad_requests(void) {
    srv s;
    if (!srv_start(&s, test_tmp_path("data-bad"), "--max-upload 0.25")) { CHECK(false); return; }
    int port = s.port;
    /* images: truncated, corrupt, not an image, a header over the pixel limit */
    check_bad_content(port, g_photo, g_photo_len / 2, 400, "content");
    unsigned char *corrupt = malloc(g_photo_len);
    memcpy(corrupt, g_photo, g_photo_len);
    for (size_t i = 40; i < g_photo_len; i += 7) corrupt[i] ^= 0x5a;
    check_bad_content(port, corrupt, g_photo_len, 400, "content");
    free(corrupt);
    check_bad_content(port, "just some text, not a picture\n", 30, 400, "format");
    unsigned char bomb[128];
    check_bad_content(port, bomb, bomb_png(bomb, 30000, 30000), 400, "limit");
    /* 413: by Content-Length before the body is read */
    size_t big = 300 * 1024;
    char *junk = calloc(1, big);
    check_bad_content(port, junk, big, 413, "limit");
    free(junk);
    /* fields */
    check_bad_fields(port, NULL, TINY, false, 400, "style");
    check_bad_fields(port, "waves", TINY, true, 400, "style");
    check_bad_fields(port, "nosuch", TINY, false, 404, "nosuch");
    check_bad_fields(port, "waves", "size=8", false, 400, "size");
    check_bad_fields(port, "waves", "size=5000", false, 400, "size");
    check_bad_fields(port, "waves", "size=big", false, 400, "size");
    check_bad_fields(port, "waves", "iterations=0", false, 400, "iterations");
    check_bad_fields(port, "waves", "strength=2", false, 400, "strength");
    check_bad_fields(port, "waves", "preserve_colors=maybe", false, 400, "preserve_colors");
    check_bad_fields(port, "waves", "colour=red", false, 400, "unknown field");
    /* the fast path, on a server without a fast model (or whose model has no "waves") */
    check_bad_fields(port, "waves", "quality=fast", false, 400, "no fast network");
    check_bad_fields(port, "waves", "quality=best", false, 400, "quality");
    check_bad_fields(port, "waves", "style2=dots", false, 400, "fast path only");
    mp m = {0};
    mp_field(&m, "style", "waves");
    mp_end(&m);
    resp r = {0};
    CHECK(http(port, "POST", "/api/jobs", MULTIPART, m.buf, m.len, &r) == 400 && strstr(r.body, "content"));
    resp_free(&r);
    free(m.buf);
    CHECK(http(port, "POST", "/api/jobs", "Content-Type: application/json\r\n", "{}", 2, &r) == 415);
    resp_free(&r);
    CHECK(http(port, "POST", "/api/jobs", MULTIPART, "--" BOUNDARY "\r\nContent-Disp", 30, &r) == 400);
    resp_free(&r);
    const char *nameless = "--" BOUNDARY "\r\nContent-Disposition: form-data; filename=\"a.png\"\r\n\r\nx\r\n--" BOUNDARY "--\r\n";
    CHECK(http(port, "POST", "/api/jobs", MULTIPART, nameless, strlen(nameless), &r) == 400 && strstr(r.body, "no name"));
    resp_free(&r);
    check_code(port, "GET", "/healthz", "", 200);   /* a part without a name once crashed the server */
    /* 404 and 405 */
    check_code(port, "GET", "/api/jobs/0123456789abcdef0123456789abcdef", "", 404);
    check_code(port, "GET", "/api/jobs/0123456789abcdef0123456789abcdef/result", "", 404);
    check_code(port, "GET", "/api/jobs/0123456789abcdef0123456789abcdef/events", "", 404);
    check_code(port, "DELETE", "/api/jobs/0123456789abcdef0123456789abcdef", "", 404);
    check_code(port, "GET", "/api/jobs/../../etc/passwd", "", 404);
    check_code(port, "GET", "/api/jobs/%2e%2e", "", 404);
    check_code(port, "GET", "/api/styles/nosuch/thumb", "", 404);
    check_code(port, "GET", "/api/styles/..%2fwaves/thumb", "", 404);
    check_code(port, "GET", "/nowhere", "", 404);
    check_code(port, "PUT", "/api/jobs/0123456789abcdef0123456789abcdef", "", 404);
    check_code(port, "POST", "/healthz", "", 405);
    check_code(port, "GET", "/api/jobs", "", 405);
    /* 413 while reading: a chunked body has no Content-Length */
    int fd = connect_port(port);
    const char *head = "POST /api/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" MULTIPART "Transfer-Encoding: chunked\r\n\r\n";
    bool sent = fd >= 0 && send_all(fd, head, strlen(head));
    char chunk[64 * 1024 + 32];
    for (int i = 0; sent && i < 8; i++) {   /* 512 KB, over the 256 KB limit */
        int hn = snprintf(chunk, sizeof chunk, "%x\r\n", 64 * 1024);
        memset(chunk + hn, 'x', 64 * 1024);
        memcpy(chunk + hn + 64 * 1024, "\r\n", 2);
        if (!send_all(fd, chunk, (size_t)hn + 64 * 1024 + 2)) break;   /* the server may close early */
    }
    if (sent) send_all(fd, "0\r\n\r\n", 5);
    CHECK_MSG(fd >= 0 && read_resp(fd, &r) && r.code == 413, "chunked upload: %d", r.code);
    resp_free(&r);
    if (fd >= 0) close(fd);
    /* nothing was accepted, nothing left behind */
    CHECK(get(port, "/metrics", &r) == 200 && strstr(r.body, "atelier_jobs_submitted_total 0"));
    resp_free(&r);
    CHECK(count_files(test_tmp_path("data-bad/tmp")) == 0);
    CHECK(srv_stop(&s, SIGTERM, 30) == 0);
}

static void test_token(void) {
    srv s;
    if (!srv_start(&s, test_tmp_path("data-token"), "--token s3cret-T0ken")) { CHECK(false); return; }
    int port = s.port;
    check_code(port, "GET", "/", "", 200);
    check_code(port, "GET", "/healthz", "", 200);
    const char *paths[] = {"/api/styles", "/metrics", "/api/styles/waves/thumb", "/api/jobs/0123456789abcdef0123456789abcdef"};
    for (int i = 0; i < 4; i++) {
        check_code(port, "GET", paths[i], "", 401);
        check_code(port, "GET", paths[i], "Authorization: Bearer wrong\r\n", 401);
        check_code(port, "GET", paths[i], "Authorization: Bearer s3cret-T0ke\r\n", 401);
    }
    check_code(port, "GET", "/api/styles", "Authorization: Bearer s3cret-T0ken\r\n", 200);
    check_code(port, "GET", "/api/styles?token=s3cret-T0ken", "", 200);
    check_code(port, "GET", "/metrics", "Authorization: Bearer s3cret-T0ken\r\n", 200);
    resp r = {0};
    CHECK(get(port, "/api/styles", &r) == 401 && strcasestr(r.head, "www-authenticate: bearer"));
    resp_free(&r);
    CHECK(post_job(port, "waves", TINY, NULL, &r) == 401);
    resp_free(&r);
    CHECK(post_job(port, "waves", TINY, "Authorization: Bearer s3cret-T0ken\r\n", &r) == 201);
    resp_free(&r);
    CHECK(srv_stop(&s, SIGTERM, 30) == 0);
}

/* A full queue answers 429; a running job is cancelled by DELETE; SIGTERM lets an upload in
 * flight finish, stops cleanly, and the jobs it held run after a restart. */
static void test_queue_full_delete_and_sigterm(void) {
    srv s;
    const char *data = test_tmp_path("data-queue");
    char data_dir[256];
    snprintf(data_dir, sizeof data_dir, "%s", data);
    if (!srv_start(&s, data_dir, "--queue 2 --max-iterations 100000")) { CHECK(false); return; }
    int port = s.port;
    resp r = {0};
    char ids[3][64], path[128];
    CHECK(post_job(port, "waves", "size=64&iterations=100000", NULL, &r) == 201);   /* runs until deleted */
    json_str(r.body, "id", ids[0], sizeof ids[0]);
    resp_free(&r);
    CHECK(wait_state(port, ids[0], "running", 60, &r));
    resp_free(&r);
    for (int i = 1; i < 3; i++) {
        CHECK(post_job(port, "waves", TINY, NULL, &r) == 201);
        json_str(r.body, "id", ids[i], sizeof ids[i]);
        resp_free(&r);
    }
    CHECK(post_job(port, "waves", TINY, NULL, &r) == 429 && strcasestr(r.head, "retry-after:"));
    resp_free(&r);
    snprintf(path, sizeof path, "/api/jobs/%s", ids[2]);
    CHECK(get(port, path, &r) == 200 && strstr(r.body, "\"state\": \"queued\"") && json_num(r.body, "queue_position") == 2);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/jobs/%s/result", ids[1]);
    check_code(port, "GET", path, "", 409);
    CHECK(get(port, "/metrics", &r) == 200 && strstr(r.body, "atelier_queue_length 2") && strstr(r.body, "atelier_jobs_refused_total 1"));
    resp_free(&r);
    /* DELETE cancels the running job; the next one starts */
    snprintf(path, sizeof path, "/api/jobs/%s", ids[0]);
    double t0 = now_s();
    check_code(port, "DELETE", path, "", 204);
    CHECK(wait_state(port, ids[1], "running done", 60, &r));
    resp_free(&r);
    CHECK_MSG(now_s() - t0 < 30 * slow(), "the cancelled job held the worker for %.1f s", now_s() - t0);
    for (int i = 1; i < 3; i++) {
        CHECK(wait_state(port, ids[i], "done failed", 120, &r) && strstr(r.body, "\"state\": \"done\""));
        resp_free(&r);
    }
    /* SIGTERM with a job running and an upload half sent: the upload completes, the job goes
     * back to the queue, the server stops */
    char running[64] = "";
    CHECK(post_job(port, "waves", strcmp(backend_current()->name, "ref") ? "size=48&iterations=20" : "size=48&iterations=3",
                   NULL, &r) == 201);
    json_str(r.body, "id", running, sizeof running);
    resp_free(&r);
    CHECK(wait_state(port, running, "running", 60, &r));
    resp_free(&r);
    mp m = {0};
    mp_file(&m, "content", g_photo, g_photo_len);
    mp_field(&m, "style", "dots");
    mp_fields(&m, TINY);
    mp_end(&m);
    int fd = connect_port(port);
    char head[256];
    int hn = snprintf(head, sizeof head, "POST /api/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" MULTIPART "Content-Length: %zu\r\n\r\n", m.len);
    CHECK(fd >= 0 && send_all(fd, head, (size_t)hn) && send_all(fd, m.buf, m.len / 2));
    usleep(200000);
    kill(s.pid, SIGTERM);
    usleep(300000);
    char late[64] = "";
    bool answered = fd >= 0 && send_all(fd, m.buf + m.len / 2, m.len - m.len / 2) && read_resp(fd, &r);
    CHECK_MSG(answered && r.code == 201, "the upload in flight at SIGTERM: %d %s (see %s)", r.code, r.body ? r.body : "", s.log);
    json_str(r.body, "id", late, sizeof late);
    resp_free(&r);
    if (fd >= 0) close(fd);
    free(m.buf);
    CHECK(srv_stop(&s, 0, 30) == 0);   /* the SIGTERM above */
    size_t n;
    char *log = (char *)test_read_file(s.log, &n);
    CHECK(log && strstr(log, "draining") && strstr(log, "stopped"));
    free(log);
    /* a restart runs the job that was running, and the late upload */
    if (!srv_start(&s, data_dir, "")) { CHECK(false); return; }
    CHECK(wait_state(s.port, running, "done failed", 120, &r) && strstr(r.body, "\"state\": \"done\""));
    CHECK_MSG(json_num(r.body, "attempts") == 2, "%s", r.body);
    resp_free(&r);
    CHECK(is_id(late) && wait_state(s.port, late, "done failed", 120, &r) && strstr(r.body, "\"state\": \"done\""));
    resp_free(&r);
    snprintf(path, sizeof path, "/api/jobs/%s", ids[0]);
    check_code(s.port, "GET", path, "", 404);   /* the deleted one stays deleted */
    CHECK(srv_stop(&s, SIGTERM, 30) == 0);
}

/* SIGKILL with one job running and two queued: after a restart each finishes exactly once. */
static void test_sigkill_restart(void) {
    srv s;
    char data_dir[256], jobs_dir[300];
    snprintf(data_dir, sizeof data_dir, "%s", test_tmp_path("data-kill"));
    snprintf(jobs_dir, sizeof jobs_dir, "%s/jobs", data_dir);
    if (!srv_start(&s, data_dir, "")) { CHECK(false); return; }
    resp r = {0};
    char ids[3][64];
    /* the first runs long enough to be killed running (the reference backend is ~20x slower;
     * the trained network, the default when installed, takes ~15 ms an iteration at 48 px) */
    const char *first = strcmp(backend_current()->name, "ref") ? "size=48&iterations=400" : "size=48&iterations=3";
    for (int i = 0; i < 3; i++) {
        CHECK(post_job(s.port, i ? "dots" : "waves", i ? TINY : first, NULL, &r) == 201);
        json_str(r.body, "id", ids[i], sizeof ids[i]);
        resp_free(&r);
    }
    CHECK(wait_state(s.port, ids[0], "running", 60, &r));
    resp_free(&r);
    usleep(300000);
    CHECK(srv_stop(&s, SIGKILL, 10) == -1);
    if (!srv_start(&s, data_dir, "")) { CHECK(false); return; }
    for (int i = 0; i < 3; i++) {
        CHECK(wait_state(s.port, ids[i], "done failed", 180, &r) && strstr(r.body, "\"state\": \"done\""));
        CHECK_MSG(json_num(r.body, "attempts") == (i == 0 ? 2 : 1), "job %d: %s", i, r.body);
        resp_free(&r);
        check_result_image(s.port, ids[i], i ? 32 : 48, i ? 24 : 36);
    }
    CHECK(get(s.port, "/metrics", &r) == 200 && strstr(r.body, "atelier_jobs{state=\"done\"} 3") &&
          strstr(r.body, "atelier_jobs{state=\"queued\"} 0") && strstr(r.body, "atelier_jobs{state=\"running\"} 0"));
    resp_free(&r);
    CHECK(count_files(jobs_dir) == 3);   /* no stray job folder */
    CHECK(srv_stop(&s, SIGTERM, 30) == 0);
}

/* bench/serve_load.c, small: concurrent polls and submissions, every submission 201 or
 * 429, every accepted job done. */
static void test_small_load(void) {
#ifdef ATELIER_SERVE_LOAD
    if (!strcmp(backend_current()->name, "ref")) {
        test_skip("the reference backend runs the accepted jobs too slowly for a load test; the cpu run covers it");
        return;
    }
    srv s;
    if (!srv_start(&s, test_tmp_path("data-load"), "--queue 4 --max-connections 256")) { CHECK(false); return; }
    char cmd[1024], out[8192], err[8192];
    snprintf(cmd, sizeof cmd, ATELIER_SERVE_LOAD " --port %d --pid %d --pollers 64 --seconds 3 --posts 16 --content %s "
             "--style waves --size 32 --iterations 2 --wait 120 --burst 1", s.port, (int)s.pid, test_tmp_path("photo.png"));
    int rc = test_shell(cmd, out, err);
    CHECK_MSG(rc == 0, "serve_load exit %d: %s%s", rc, out, err);
    CHECK(strstr(out, "lost 0") != NULL);
    CHECK_MSG(!strstr(out, ", 0 refused (429)"), "16 posts at once with a queue of 4 had no 429: %s", out);
    printf("%s", out);
    CHECK(srv_stop(&s, SIGTERM, 30) == 0);
#else
    test_skip("bench/serve_load.c is not built");
#endif
}

/* serve_start refuses options it cannot start with (no data folder, no host): an error, not
 * a crash. */
static void test_start_options(void) {
    serve_opts o = serve_defaults();
    o.data_dir = NULL;
    error_clear();
    CHECK(serve_start(&o) == NULL && error_status() == STATUS_ARG);
    o = serve_defaults();
    o.host = NULL;
    error_clear();
    CHECK(serve_start(&o) == NULL && error_status() == STATUS_ARG);
    error_clear();
}

/* ---- the fast path ---- */

/* POSTs a job, waits for it to finish; its JSON in r, its id in id. */
static bool run_job(int port, const char *style, const char *fields, char *id, size_t idsize, resp *r) {
    id[0] = 0;
    if (post_job(port, style, fields, NULL, r) != 201) {
        fprintf(stderr, "POST %s %s: %d %s\n", style ? style : "(uploaded)", fields, r->code, r->body ? r->body : "");
        resp_free(r);
        return false;
    }
    json_str(r->body, "id", id, idsize);
    resp_free(r);
    return wait_state(port, id, "done failed", 120, r) && strstr(r->body, "\"state\": \"done\"");
}

/* A job's result, decoded. */
static image *fetch_result(int port, const char *id) {
    char path[128];
    snprintf(path, sizeof path, "/api/jobs/%s/result", id);
    resp r = {0};
    image *im = NULL;
    if (get(port, path, &r) == 200) {
        FILE *f = fopen(test_tmp_path("fetched.png"), "wb");
        if (f) { fwrite(r.body, 1, r.len, f); fclose(f); }
        im = image_read(test_tmp_path("fetched.png"), NULL);
    }
    resp_free(&r);
    return im;
}

static double max_diff(const image *a, const image *b) {
    double m = 0;
    if (a->w != b->w || a->h != b->h) return 1e9;
    for (int64_t i = 0; i < (int64_t)3 * a->w * a->h; i++) m = fmax(m, fabs((double)a->data[i] - b->data[i]));
    return m;
}

static void test_fast_path(void) {
    srv s;
    char flags[512];
    snprintf(flags, sizeof flags, "--style-model %s", test_tmp_path("model.safetensors"));
    if (!srv_start(&s, test_tmp_path("data-fast"), flags)) { CHECK(false); return; }
    int port = s.port;
    resp r = {0};
    char id[64], word[64];
    /* the gallery says which styles the model knows */
    CHECK(get(port, "/api/styles", &r) == 200);
    CHECK_MSG(strstr(r.body, "\"name\": \"waves\", \"thumb_url\": \"/api/styles/waves/thumb\", \"fast\": true") &&
              strstr(r.body, "\"name\": \"dots\", \"thumb_url\": \"/api/styles/dots/thumb\", \"fast\": true") &&
              strstr(r.body, "\"name\": \"sketch\", \"thumb_url\": \"/api/styles/sketch/thumb\", \"fast\": false") &&
              !strcmp(json_str(r.body, "fast_model", word, sizeof word), "model.safetensors"), "%s", r.body);
    resp_free(&r);
    CHECK(get(port, "/api/config", &r) == 200 && !strcmp(json_str(r.body, "fast_model", word, sizeof word), "model.safetensors"));
    resp_free(&r);
    /* a fast-capable style: the fast path by default, at full strength, in well under a second
     * of painting (a 32 px picture on a tiny network) */
    CHECK(run_job(port, "waves", "size=32", id, sizeof id, &r));
    CHECK_MSG(!strcmp(json_str(r.body, "path", word, sizeof word), "fast") && json_num(r.body, "strength") == 1 &&
              !strcmp(json_str(r.body, "quality", word, sizeof word), "fast") && json_num(r.body, "seconds") >= 0 &&
              json_num(r.body, "seconds") < 10 * slow() && json_num(r.body, "width") == 32, "%s", r.body);
    resp_free(&r);
    check_result_image(port, id, 32, 24);
    image *photo = image_read(test_tmp_path("photo.png"), NULL), *want = photo ? image_resize_long_side(photo, 32) : NULL;
    image *full = fetch_result(port, id);
    CHECK_MSG(full && want && max_diff(full, want) > 0.1, "the fast painting is the photo (%g)", full && want ? max_diff(full, want) : 0);
    CHECK(full && strstr(image_text_get(full, "atelier.settings"), "\"path\": \"fast\""));
    /* strength 0: the photo (resized as the job's input was, give or take 8-bit rounding) */
    CHECK(run_job(port, "waves", "size=32&strength=0&quality=fast", id, sizeof id, &r));
    resp_free(&r);
    image *none = fetch_result(port, id);
    CHECK_MSG(none && want && max_diff(none, want) <= 2.01 / 255, "strength 0: %g from the photo", none && want ? max_diff(none, want) : 1);
    /* a blend of two styles */
    CHECK(run_job(port, "waves", "size=32&style2=dots&blend=0.3", id, sizeof id, &r));
    CHECK_MSG(!strcmp(json_str(r.body, "path", word, sizeof word), "fast") && !strcmp(json_str(r.body, "style2", word, sizeof word), "dots") &&
              json_num(r.body, "blend") == 0.3, "%s", r.body);
    resp_free(&r);
    image *blend = fetch_result(port, id);
    CHECK(blend && full && max_diff(blend, full) > 0.01 && strstr(image_text_get(blend, "atelier.settings"), "\"dots\": 0.3"));
    /* finest, a style the model does not know, an uploaded style: optimised */
    const char *styles[] = {"waves", "sketch", NULL};
    const char *fields[] = {TINY "&quality=finest", TINY, TINY};
    for (int i = 0; i < 3; i++) {
        CHECK(run_job(port, styles[i], fields[i], id, sizeof id, &r));
        CHECK_MSG(!strcmp(json_str(r.body, "path", word, sizeof word), "optimise") && json_num(r.body, "strength") == 0.5 &&
                  json_num(r.body, "seconds") > 0 && json_num(r.body, "iterations") > 0, "case %d: %s", i, r.body);
        resp_free(&r);
    }
    /* what the fast path refuses */
    check_bad_fields(port, "waves", "quality=best", false, 400, "quality must be fast");
    check_bad_fields(port, "sketch", "quality=fast", false, 400, "no fast network");
    check_bad_fields(port, NULL, "quality=fast", true, 400, "uploaded style");
    check_bad_fields(port, NULL, "style2=dots", true, 400, "fast path only");
    check_bad_fields(port, "waves", "quality=finest&style2=dots", false, 400, "fast path only");
    check_bad_fields(port, "waves", "style2=sketch", false, 400, "style2 'sketch' has no fast network");
    check_bad_fields(port, "waves", "style2=nosuch", false, 404, "nosuch");
    check_bad_fields(port, "waves", "style2=waves", false, 400, "again");
    check_bad_fields(port, "waves", "style2=dots&blend=1.5", false, 400, "blend");
    check_bad_fields(port, "waves", "style2=dots&blend=half", false, 400, "blend");
    check_bad_fields(port, "waves", "blend=0.5", false, 400, "needs a second style");
    CHECK(get(port, "/metrics", &r) == 200 && strstr(r.body, "atelier_jobs_submitted_total 6") &&   /* none of those */
          strstr(r.body, "atelier_jobs_done_by_path_total{path=\"fast\"} 3") &&
          strstr(r.body, "atelier_jobs_done_by_path_total{path=\"optimise\"} 3"));
    resp_free(&r);
    image_free(photo); image_free(want); image_free(full); image_free(none); image_free(blend);
    CHECK(srv_stop(&s, SIGTERM, 30) == 0);
}

/* ---- the browser ---- */

static double image_variance(const image *im) {
    double sum = 0, sq = 0;
    int64_t n = (int64_t)im->w * im->h * 3;
    for (int64_t i = 0; i < n; i++) { sum += im->data[i]; sq += (double)im->data[i] * im->data[i]; }
    double mean = sum / (double)n;
    return sq / (double)n - mean * mean;
}

/* Without the browser the case skips, saying what to install; with ATELIER_REQUIRE_BROWSER
 * set (CI: .ci/run) that is a failure instead, so that CI cannot pass without it. */
/* What stylize.mjs says when it has painted ("painted in Chromium N ..."), as one line. */
static void say_browser_ran(const char *out) {
    size_t n = strcspn(out, "\n");
    printf("  browser: %.*s\n", (int)n, out);
}

static void test_browser(void) {
    char out[8192], err[8192];
    if (!test_browser_ready()) return;
    srv s;
    /* the page's draft quality is half the server's default iterations: 2 */
    if (!srv_start(&s, test_tmp_path("data-browser"), "--iterations 4")) { CHECK(false); return; }
    char cmd[1024];
    const char *shot = test_tmp_path("screenshot.png");
    snprintf(cmd, sizeof cmd, "node tests/browser/stylize.mjs --url http://127.0.0.1:%d/ --photo %s --style waves --size 64 "
             "--quality draft --out %s", s.port, test_tmp_path("photo.png"), shot);
    int rc = test_shell(cmd, out, err);
    CHECK_MSG(rc == 0, "browser test exit %d: %s %s", rc, out, err);
    if (rc == 0) say_browser_ran(out);
    image *im = image_read(shot, NULL);
    CHECK_MSG(im && im->w >= 300 && im->h >= 300, "screenshot: %s", im ? "too small" : error_message());
    if (im) CHECK_MSG(image_variance(im) > 1e-3, "the screenshot is blank (variance %g)", image_variance(im));
    image_free(im);
    error_clear();
    CHECK(srv_stop(&s, SIGTERM, 30) == 0);
    /* the fast path: a fast style blended with another, at 80 % strength */
    char flags[512];
    snprintf(flags, sizeof flags, "--style-model %s", test_tmp_path("model.safetensors"));
    if (!srv_start(&s, test_tmp_path("data-browser-fast"), flags)) { CHECK(false); return; }
    snprintf(cmd, sizeof cmd, "node tests/browser/stylize.mjs --url http://127.0.0.1:%d/ --photo %s --style waves --size 64 "
             "--quality fast --style2 dots --blend 30 --strength 80 --out %s", s.port, test_tmp_path("photo.png"),
             test_tmp_path("screenshot-fast.png"));
    rc = test_shell(cmd, out, err);
    CHECK_MSG(rc == 0, "browser test (fast) exit %d: %s %s", rc, out, err);
    if (rc == 0) say_browser_ran(out);
    CHECK(srv_stop(&s, SIGTERM, 30) == 0);
}

/* A tiny fast style network (width 0.25) with random weights and distinct style rows, whose
 * styles are named as two of the gallery's (and one that is not there). */
static bool make_model(const char *path) {
    static const char *const names[] = {"waves", "dots", "stripes"};
    arena *a = arena_new(1 << 20);
    stylenet m;
    bool ok = a && stylenet_init(&m, a, 3, 3, 0.25f) == STATUS_OK;
    for (int l = 0; ok && l < STYLENET_NORMS; l++) {
        rng_uniform_at(100 + (uint64_t)l, 1, m.gamma[l]->data, m.gamma[l]->numel, 0.5f, 1.5f);
        rng_uniform_at(200 + (uint64_t)l, 2, m.beta[l]->data, m.beta[l]->numel, -0.5f, 0.5f);
    }
    for (int i = 0; ok && i < 3; i++) snprintf(m.names[i], STYLENET_NAME_MAX, "%s", names[i]);
    ok = ok && stylenet_save(&m, path, NULL, 0) == STATUS_OK;
    arena_free(a);
    return ok;
}

/* The pictures: a photo and three styles in test_dir/styles, a file that is not one, and a
 * fast style model that knows two of the styles. */
static bool setup(void) {
    char path[256];
    snprintf(path, sizeof path, "%s/styles", test_dir);
    if (mkdir(path, 0755) != 0) return false;
    snprintf(path, sizeof path, "%s/styles/notes.txt", test_dir);
    FILE *f = fopen(path, "w");
    if (f) { fputs("not a style\n", f); fclose(f); }
    snprintf(path, sizeof path, "%s/styles/waves.png", test_dir);
    bool ok = f && write_picture(test_tmp_path("photo.png"), 64, 48, 1) && write_picture(test_tmp_path("paint.png"), 48, 48, 2) &&
              write_picture(path, 40, 40, 3);
    snprintf(path, sizeof path, "%s/styles/dots.jpg", test_dir);
    ok = ok && write_picture(path, 40, 40, 4);
    snprintf(path, sizeof path, "%s/styles/sketch.png", test_dir);
    ok = ok && write_picture(path, 40, 40, 5) && make_model(test_tmp_path("model.safetensors"));
    g_photo = test_read_file(test_tmp_path("photo.png"), &g_photo_len);
    g_paint = test_read_file(test_tmp_path("paint.png"), &g_paint_len);
    return ok && g_photo && g_paint;
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    if (!test_make_dir() || !setup()) {
        fprintf(stderr, "cannot write the test pictures: %s\n", error_message());
        return 1;
    }
    atexit(kill_all);
    RUN(test_help);
    RUN(test_start_options);
    RUN(test_flow);
    RUN(test_bad_requests);
    RUN(test_token);
    RUN(test_queue_full_delete_and_sigterm);
    RUN(test_sigkill_restart);
    RUN(test_fast_path);
    RUN(test_small_load);
    RUN(test_browser);
    free(g_photo);
    free(g_paint);
    kill_all();
    if (!getenv("ATELIER_KEEP_TEST_DIR")) test_remove_tree(test_dir);   /* kept: the servers' logs */
    return test_finish();
}
