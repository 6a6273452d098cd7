/* serve_driver.c: the web service as a function over bytes (see serve_driver.h). */
#define _GNU_SOURCE   /* memmem */
#include "serve_driver.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/sockios.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "atelier/stylenet.h"
#include "json.h"
#include "serve_internal.h"

static server *g_server;
static char g_dir[128];

/* ---- the server ---- */

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    remove(path);
    return 0;
}

static void remove_dir(void) {
    if (g_dir[0]) nftw(g_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static bool write_picture(const char *dir, const char *name, int w, int h, int seed) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    image *im = image_new(w, h, 3);
    for (int c = 0; im && c < 3; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                im->data[(c * h + y) * w + x] = 0.5f + 0.4f * sinf(x * 0.3f * (seed + 1) + c) * cosf(y * 0.2f + seed);
    bool ok = im && image_write(path, im, NULL) == STATUS_OK;
    image_free(im);
    return ok;
}

/* A tiny fast style network (width 0.125, untrained) whose styles are named waves, dots
 * and stripes: two of the gallery's, and one that is not in it. */
static bool write_model(const char *path) {
    static const char *const names[] = {"waves", "dots", "stripes"};
    arena *a = arena_new(1 << 20);
    stylenet m;
    bool ok = a && stylenet_init(&m, a, 3, 3, 0.125f) == STATUS_OK;
    for (int i = 0; ok && i < 3; i++) snprintf(m.names[i], STYLENET_NAME_MAX, "%s", names[i]);
    ok = ok && stylenet_save(&m, path, NULL, 0) == STATUS_OK;
    arena_free(a);
    return ok;
}

static void discard_log(const char *line, void *user) { (void)line; (void)user; }

/* The folders of runs that ended in a finding (abort: no atexit) go at the next start. */
static void remove_stale(const char *base) {
    DIR *d = opendir(base);
    for (struct dirent *e; d && (e = readdir(d));) {
        int pid;
        if (sscanf(e->d_name, "atelier-fuzz-serve-%d-", &pid) != 1 || pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH)
            continue;   /* not one of these, or its process is alive */
        snprintf(g_dir, sizeof g_dir, "%s/%s", base, e->d_name);
        remove_dir();
    }
    if (d) closedir(d);
    g_dir[0] = 0;
}

static server *start(void) {
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    remove_stale(base);
    snprintf(g_dir, sizeof g_dir, "%s/atelier-fuzz-serve-%d-XXXXXX", base, (int)getpid());
    if (!mkdtemp(g_dir)) { perror("serve_driver: mkdtemp"); abort(); }
    atexit(remove_dir);
    char styles[256], model[256], data[256];
    snprintf(styles, sizeof styles, "%s/styles", g_dir);
    snprintf(model, sizeof model, "%s/model.safetensors", g_dir);
    snprintf(data, sizeof data, "%s/data", g_dir);
    if (mkdir(styles, 0700) != 0 || !write_picture(styles, "waves.png", 12, 10, 1) ||
        !write_picture(styles, "dots.jpg", 10, 12, 2) || !write_picture(styles, "sketch.png", 8, 8, 3) ||
        !write_model(model)) {
        fprintf(stderr, "serve_driver: cannot write the gallery: %s\n", error_message());
        abort();
    }
    serve_opts o = serve_defaults();
    o.data_dir = data;
    o.styles_dir = styles;
    o.style_model = model;
    o.net = "vgg19";   /* the built-in network: nothing to find on this machine */
    o.token = SERVE_DRIVER_TOKEN;
    o.cors_origin = "http://fuzz.example";
    o.queue_max = 4;
    o.max_connections = 4;
    o.decode_slots = 1;
    o.max_upload = 64 << 10;
    o.max_pixels = 1 << 16;
    o.min_size = 16;
    o.max_size = 64;
    o.default_size = 32;
    o.default_iterations = 1;
    o.max_iterations = 4;
    o.drain_seconds = 0;
    o.log = discard_log;
    server *s = serve_start_detached(&o);
    if (!s) { fprintf(stderr, "serve_driver: cannot start the server: %s\n", error_message()); abort(); }
    jobs_stop(s->jobs);   /* accepts and answers, runs nothing */
    error_clear();
    return s;
}

/* ---- one connection ---- */

typedef struct bytes {
    char *p;
    size_t n, cap;
} bytes;

static void append(bytes *b, const char *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        if (!(b->p = realloc(b->p, b->cap))) abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

/* Bytes sent on fd that its peer has not read yet. */
static int unread(int fd) {
    int n = 0;
    return ioctl(fd, SIOCOUTQ, &n) == 0 ? n : -1;
}

static unsigned connections(const server *s) {
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return i ? i->num_connections : 0;
}

/* Sends data on a new connection and returns what the server answered, once it waits for
 * more (three rounds of MHD_run with nothing read, sent or consumed) or has closed. */
static bytes converse(server *s, const uint8_t *data, size_t size) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 || fcntl(sv[1], F_SETFL, O_NONBLOCK) != 0) abort();
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
    peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (MHD_add_connection(s->daemon, sv[0], (struct sockaddr *)&peer, sizeof peer) != MHD_YES) abort();
    bytes out = {0};
    size_t sent = 0;
    int queued = -1;
    bool closed = false;
    for (int idle = 0, round = 0; idle < 3 && !closed && round < 1000000; round++) {
        bool progress = false;
        if (sent < size) {
            ssize_t k = send(sv[1], data + sent, size - sent, MSG_NOSIGNAL);
            if (k > 0) { sent += (size_t)k; progress = true; }
        }
        MHD_run(s->daemon);
        char buf[16384];
        ssize_t k;
        while ((k = recv(sv[1], buf, sizeof buf, 0)) > 0) { append(&out, buf, (size_t)k); progress = true; }
        if (k == 0) closed = true;
        int q = unread(sv[1]);
        if (q != queued) { queued = q; progress = true; }
        idle = progress ? 0 : idle + 1;
    }
    close(sv[1]);
    for (int round = 0; connections(s) > 0; round++) {
        if (round > 10000) { fprintf(stderr, "serve_driver: the server kept a closed connection\n"); abort(); }
        MHD_run(s->daemon);
    }
    return out;
}

/* ---- the checks ---- */

static void finding(const char *what, const char *answer, size_t n) {
    fprintf(stderr, "serve_driver: %s; the answer:\n%.*s\n", what, (int)(n < 2000 ? n : 2000), answer);
    abort();
}

/* The value of header name in head (up to the blank line), or NULL. */
static const char *header(const char *head, const char *end, const char *name, size_t *len) {
    size_t n = strlen(name);
    for (const char *line = head; line < end;) {
        const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        if (!eol) eol = end;
        if ((size_t)(eol - line) > n && !strncasecmp(line, name, n) && line[n] == ':') {
            const char *v = line + n + 1;
            while (v < eol && *v == ' ') v++;
            *len = (size_t)(eol - v);
            return v;
        }
        line = eol + 2;
    }
    return NULL;
}

/* Walks the answers: no 500 of ours, every JSON body valid. Stops at a streamed answer
 * (an event stream) or at anything it cannot follow. */
static void check_answers(const bytes *out) {
    if (!out->n) return;
    const char *p = out->p, *end = out->p + out->n;
    while (p && end - p >= 12 && !memcmp(p, "HTTP/1.", 7)) {
        int code = atoi(p + 9);
        const char *head_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!head_end) return;
        size_t n;
        const char *v = header(p, head_end, "Content-Type", &n);
        bool json = v && n >= 16 && !strncmp(v, "application/json", 16);
        if (header(p, head_end, "Transfer-Encoding", &n)) return;
        v = header(p, head_end, "Content-Length", &n);
        size_t length = v ? strtoul(v, NULL, 10) : 0;
        const char *body = head_end + 4;
        size_t left = (size_t)(end - body);
        if (left >= 7 && !memcmp(body, "HTTP/1.", 7)) length = 0;   /* an answer to a HEAD: no body */
        else if (length > left) return;                            /* the last answer, to a HEAD */
        if (code == 500 && json) finding("a 500 from the service", p, (size_t)(body + length - p));
        if (json && length) {
            json_error err;
            json_value *doc = json_parse(body, length, &err);
            if (!doc) {
                char what[256];
                snprintf(what, sizeof what, "a JSON answer that is not JSON (%s)", err.msg);
                finding(what, p, (size_t)(body + length - p));
            }
            json_free(doc);
        }
        p = body + length;
    }
}

/* Deletes the jobs the answers accepted (each 201 names its job in Location); then the
 * queue must be empty and no upload left behind in data_dir/tmp. */
static void check_jobs(server *s, const bytes *out) {
    static const char loc[] = "\r\nLocation: /api/jobs/";
    const char *end = out->n ? out->p + out->n : out->p;
    for (const char *p = out->p; p && (p = memmem(p, (size_t)(end - p), loc, sizeof loc - 1)); p++) {
        char id[JOB_ID_LEN + 1] = {0};
        const char *at = p + sizeof loc - 1;
        if (end - at >= JOB_ID_LEN) memcpy(id, at, JOB_ID_LEN);
        if (jobs_delete(s->jobs, id) != STATUS_OK) finding("a 201 for a job the queue does not have", p, (size_t)(end - p));
    }
    jobs_stats st;
    jobs_get_stats(s->jobs, &st);
    if (st.by_state[JOB_QUEUED] != 0) finding("a job queued that no 201 announced", out->p, out->n);
    DIR *d = opendir(s->tmp_dir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.') finding("an upload left in data_dir/tmp", out->p, out->n);
    if (d) closedir(d);
    error_clear();
}

void serve_driver_exchange(const uint8_t *data, size_t size) {
    if (!g_server) g_server = start();
    bytes out = converse(g_server, data, size);
    if (getenv("SERVE_DRIVER_VERBOSE")) fprintf(stderr, "%.*s\n----\n", (int)out.n, out.p);
    check_answers(&out);
    check_jobs(g_server, &out);
    free(out.p);
}
