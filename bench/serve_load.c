/* serve_load.c: a load test for `atelier serve` over loopback (scripts/load-test.sh runs
 * it in full; test_cli_serve runs a small version).
 *
 * One thread, one poll() loop: `pollers` keep-alive connections each sending
 * GET /api/jobs/ID back to back for `seconds`, while `posts` submissions (POST /api/jobs,
 * multipart, each on its own connection) go in, spread evenly over the run or (--burst 1)
 * all at once. Then it waits until every
 * accepted job is done. It reports requests per second and latency percentiles for the
 * polls and the posts, how many posts were accepted (201) and refused (429), how many
 * accepted jobs were lost (404, failed or not done within `wait` seconds), and the server's
 * resident memory (VmRSS of --pid) before, at its peak during the run, and after.
 * Exit status 0 only if every post got 201 or 429, every poll 200, and no job was lost.
 *
 * usage: atelier_serve_load --port N --content PHOTO [--style NAME | --style-image FILE]
 *          [--pid PID] [--pollers 200] [--seconds 10] [--posts 40] [--size 64]
 *          [--iterations 2] [--token T] [--wait 600] [--burst 1]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct opts {
    int port, pid, pollers, posts, size, iterations;
    bool burst;                 /* all posts at once, not spread over the run */
    double seconds, wait;
    const char *content, *style, *style_image, *token;
} opts;

typedef struct samples { double *v; size_t n, cap; } samples;

typedef enum kind { POLLER, POSTER } kind;

typedef struct conn {
    int fd;
    kind kind;
    const char *req;            /* the request to send (shared) */
    size_t req_len, sent;
    char *buf;                  /* the response so far */
    size_t got, cap;
    double t0;                  /* when the request began */
    double start_at;            /* when to begin (posts are spread over the run) */
    bool started, done;
} conn;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void add(samples *s, double v) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) { perror("serve_load"); exit(2); }
    }
    s->v[s->n++] = v;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(samples *s, double p) {
    if (!s->n) return 0;
    size_t k = (size_t)(p / 100 * (double)(s->n - 1) + 0.5);
    return s->v[k] * 1e3;
}

static long rss_kb(int pid) {
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = pid > 0 ? fopen(path, "r") : NULL;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kb;
}

static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "serve_load: %s: %s\n", path, strerror(errno)); exit(2); }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    *n = b ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

/* ---- requests ---- */

#define BOUNDARY "serve-load-boundary-41c9"

static void put(char **b, size_t *n, size_t *cap, const void *p, size_t k) {
    if (*n + k + 1 > *cap) { *cap = (*n + k + 1) * 2; *b = realloc(*b, *cap); }
    memcpy(*b + *n, p, k);
    *n += k;
}

static void put_file(char **b, size_t *n, size_t *cap, const char *name, const char *path) {
    char h[256];
    size_t len;
    char *data = read_all(path, &len);
    int hn = snprintf(h, sizeof h, "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"f\"\r\n"
                      "Content-Type: application/octet-stream\r\n\r\n", name);
    put(b, n, cap, h, (size_t)hn);
    put(b, n, cap, data, len);
    put(b, n, cap, "\r\n", 2);
    free(data);
}

static void put_field(char **b, size_t *n, size_t *cap, const char *name, const char *value) {
    char h[256];
    int hn = snprintf(h, sizeof h, "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n", name, value);
    put(b, n, cap, h, (size_t)hn);
}

/* The whole POST request, headers and body. */
static char *post_request(const opts *o, size_t *len) {
    char *body = NULL, num[32];
    size_t n = 0, cap = 0;
    put_file(&body, &n, &cap, "content", o->content);
    if (o->style_image) put_file(&body, &n, &cap, "style_image", o->style_image);
    else put_field(&body, &n, &cap, "style", o->style);
    snprintf(num, sizeof num, "%d", o->size);
    put_field(&body, &n, &cap, "size", num);
    snprintf(num, sizeof num, "%d", o->iterations);
    put_field(&body, &n, &cap, "iterations", num);
    put(&body, &n, &cap, "--" BOUNDARY "--\r\n", strlen("--" BOUNDARY "--\r\n"));
    char head[512], auth[300] = "";
    if (o->token) snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", o->token);
    int hn = snprintf(head, sizeof head, "POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                      "Content-Type: multipart/form-data; boundary=" BOUNDARY "\r\nContent-Length: %zu\r\n\r\n", auth, n);
    char *req = malloc((size_t)hn + n);
    memcpy(req, head, (size_t)hn);
    memcpy(req + hn, body, n);
    free(body);
    *len = (size_t)hn + n;
    return req;
}

static char *get_request(const opts *o, const char *id) {
    char auth[300] = "";
    if (o->token) snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", o->token);
    char *req = malloc(600);
    snprintf(req, 600, "GET /api/jobs/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", id, auth);
    return req;
}

static int dial(int port, bool block) {
    int fd = socket(AF_INET, SOCK_STREAM | (block ? 0 : SOCK_NONBLOCK), 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    if (fd < 0) return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) { close(fd); return -1; }
    return fd;
}

/* A complete response in c->buf: its status code, else 0. */
static int complete(const conn *c, bool eof) {
    char *end = memmem(c->buf, c->got, "\r\n\r\n", 4);
    if (!end) return 0;
    int code = 0;
    if (sscanf(c->buf, "HTTP/1.%*d %d", &code) != 1) return -1;
    const char *cl = strcasestr(c->buf, "\r\ncontent-length:");
    size_t head = (size_t)(end + 4 - c->buf);
    if (cl && cl < end) return c->got >= head + strtoul(cl + 17, NULL, 10) ? code : 0;
    return eof ? code : 0;
}

/* ---- a blocking GET for the setup and the final check ---- */

static int get_once(const opts *o, const char *id, char *body, size_t size) {
    int fd = dial(o->port, true);
    if (fd < 0) return -1;
    char *req = get_request(o, id);
    size_t n = strlen(req);
    memcpy(req + n - 2, "Connection: close\r\n\r\n", 22);
    ssize_t w = write(fd, req, strlen(req));
    free(req);
    conn c = {.buf = malloc(65536), .cap = 65536};
    for (ssize_t k; w > 0 && (k = read(fd, c.buf + c.got, c.cap - c.got - 1)) > 0;) c.got += (size_t)k;
    c.buf[c.got] = 0;
    close(fd);
    int code = complete(&c, true);
    char *sep = strstr(c.buf, "\r\n\r\n");
    snprintf(body, size, "%s", sep ? sep + 4 : "");
    free(c.buf);
    return code;
}

/* ---- the run ---- */

typedef struct run {
    const opts *o;
    conn *c;
    int n;
    samples poll_lat, post_lat;
    long polls_bad, posts_201, posts_429, posts_other;
    char (*ids)[33];
    int nids;
    double t_end;
    long rss_peak;
} run;

static void conn_start(run *r, conn *c) {
    c->started = true;
    c->fd = dial(r->o->port, false);
    c->sent = c->got = 0;
    c->t0 = now();
    if (c->fd < 0) { c->done = true; if (c->kind == POLLER) r->polls_bad++; else r->posts_other++; }
}

static void on_response(run *r, conn *c, int code) {
    double lat = now() - c->t0;
    if (c->kind == POSTER) {
        add(&r->post_lat, lat);
        if (code == 201) {
            char *id = strstr(c->buf, "\"id\": \"");
            if (id && r->nids <= r->o->posts) snprintf(r->ids[r->nids++], 33, "%.32s", id + 7);
            r->posts_201++;
        } else if (code == 429) r->posts_429++;
        else { r->posts_other++; fprintf(stderr, "post: %d %.200s\n", code, c->buf); }
        close(c->fd);
        c->done = true;
        return;
    }
    add(&r->poll_lat, lat);
    if (code != 200) r->polls_bad++;
    c->got = c->sent = 0;
    c->t0 = now();
    if (c->t0 >= r->t_end) { close(c->fd); c->done = true; }
}

/* One step of a connection after poll() said it is ready. */
static void step(run *r, conn *c, short ev) {
    if (c->sent < c->req_len && (ev & POLLOUT)) {
        ssize_t k = send(c->fd, c->req + c->sent, c->req_len - c->sent, MSG_NOSIGNAL);
        if (k > 0) c->sent += (size_t)k;
        else if (errno != EAGAIN) ev |= POLLERR;
    }
    if (ev & (POLLIN | POLLHUP | POLLERR)) {
        if (c->got + 4096 > c->cap) c->buf = realloc(c->buf, c->cap *= 2);
        ssize_t k = recv(c->fd, c->buf + c->got, c->cap - c->got - 1, 0);
        if (k > 0) c->got += (size_t)k;
        if (k < 0 && errno == EAGAIN) return;
        c->buf[c->got] = 0;
        int code = complete(c, k == 0);
        if (code > 0) on_response(r, c, code);
        else if (k <= 0) {   /* closed or failed before a whole response */
            if (c->kind == POLLER) r->polls_bad++;
            else { r->posts_other++; fprintf(stderr, "post: connection closed early\n"); }
            close(c->fd);
            c->done = true;
        }
    }
}

static void loop(run *r) {
    struct pollfd *p = calloc((size_t)r->n, sizeof *p);
    double next_rss = 0;
    for (;;) {
        int live = 0;
        double t = now();
        for (int i = 0; i < r->n; i++) {
            conn *c = &r->c[i];
            if (!c->started && t >= c->start_at) conn_start(r, c);
            p[i].fd = c->done || !c->started ? -1 : c->fd;
            p[i].events = c->sent < c->req_len ? POLLOUT : POLLIN;
            p[i].revents = 0;
            live += !c->done;
        }
        if (!live) break;
        if (t >= next_rss) {
            long kb = rss_kb(r->o->pid);
            if (kb > r->rss_peak) r->rss_peak = kb;
            next_rss = t + 0.1;
        }
        if (poll(p, (nfds_t)r->n, 20) < 0 && errno != EINTR) { perror("poll"); break; }
        for (int i = 0; i < r->n; i++)
            if (p[i].revents) step(r, &r->c[i], p[i].revents);
    }
    free(p);
}

/* Waits for each accepted job to end; the number lost (404, failed, or not done in time). */
static int settle(const opts *o, char (*ids)[33], int n, int *failed) {
    int lost = 0;
    double until = now() + o->wait;
    char body[8192];
    for (int i = 0; i < n; i++) {
        for (;;) {
            int code = get_once(o, ids[i], body, sizeof body);
            if (code != 200) { lost++; fprintf(stderr, "job %s: %d\n", ids[i], code); break; }
            if (strstr(body, "\"state\": \"done\"")) break;
            if (strstr(body, "\"state\": \"failed\"")) { (*failed)++; lost++; fprintf(stderr, "job %s failed: %s\n", ids[i], body); break; }
            if (now() > until) { lost++; fprintf(stderr, "job %s not done after %g s\n", ids[i], o->wait); break; }
            usleep(100000);
        }
    }
    return lost;
}

static void usage(void) {
    fprintf(stderr, "usage: atelier_serve_load --port N --content PHOTO [--style NAME | --style-image FILE] [--pid PID]\n"
                    "         [--pollers 200] [--seconds 10] [--posts 40] [--size 64] [--iterations 2] [--token T] [--wait 600]\n"
                    "         [--burst 1]\n");
    exit(2);
}

static opts parse(int argc, char **argv) {
    opts o = {.pollers = 200, .posts = 40, .size = 64, .iterations = 2, .seconds = 10, .wait = 600};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--port")) o.port = atoi(v);
        else if (!strcmp(k, "--pid")) o.pid = atoi(v);
        else if (!strcmp(k, "--pollers")) o.pollers = atoi(v);
        else if (!strcmp(k, "--posts")) o.posts = atoi(v);
        else if (!strcmp(k, "--size")) o.size = atoi(v);
        else if (!strcmp(k, "--iterations")) o.iterations = atoi(v);
        else if (!strcmp(k, "--seconds")) o.seconds = atof(v);
        else if (!strcmp(k, "--wait")) o.wait = atof(v);
        else if (!strcmp(k, "--content")) o.content = v;
        else if (!strcmp(k, "--style")) o.style = v;
        else if (!strcmp(k, "--style-image")) o.style_image = v;
        else if (!strcmp(k, "--token")) o.token = v;
        else if (!strcmp(k, "--burst")) o.burst = atoi(v) != 0;
        else usage();
    }
    if (argc % 2 == 0 || o.port <= 0 || !o.content || !(o.style || o.style_image) || o.pollers < 0 || o.posts < 0) usage();
    return o;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    opts o = parse(argc, argv);
    run r = {.o = &o, .n = o.pollers + o.posts};
    r.c = calloc((size_t)r.n + 1, sizeof *r.c);
    r.ids = calloc((size_t)o.posts + 1, sizeof *r.ids);
    size_t post_len;
    char *post = post_request(&o, &post_len);
    /* a job to poll: the first submission, made before the load */
    conn seed = {.kind = POSTER, .req = post, .req_len = post_len, .buf = malloc(65536), .cap = 65536};
    run sr = {.o = &o, .c = &seed, .n = 1, .ids = r.ids};
    conn_start(&sr, &seed);
    sr.t_end = now() + 60;
    loop(&sr);
    if (sr.posts_201 != 1) { fprintf(stderr, "serve_load: the first submission was not accepted\n"); return 1; }
    char seed_id[33];
    memcpy(seed_id, r.ids[0], 33);
    free(sr.post_lat.v);
    long rss_before = rss_kb(o.pid);
    char *get = get_request(&o, seed_id);
    for (int i = 0; i < r.n; i++) {
        conn *c = &r.c[i];
        c->kind = i < o.pollers ? POLLER : POSTER;
        c->req = c->kind == POLLER ? get : post;
        c->req_len = c->kind == POLLER ? strlen(get) : post_len;
        c->buf = malloc(c->cap = 65536);
    }
    double t0 = now();
    r.t_end = t0 + o.seconds;
    for (int i = 0; i < r.n; i++)   /* the pollers at once, the posts evenly over the run (or at once) */
        r.c[i].start_at = i < o.pollers || o.burst ? t0 : t0 + o.seconds * (i - o.pollers) / (o.posts + 1);
    loop(&r);
    double took = now() - t0;
    long rss_load = rss_kb(o.pid);
    qsort(r.poll_lat.v, r.poll_lat.n, sizeof(double), cmp);
    qsort(r.post_lat.v, r.post_lat.n, sizeof(double), cmp);
    printf("polls: %zu GET /api/jobs/ID on %d connections in %.1f s = %.0f req/s; latency p50 %.2f ms, p90 %.2f, p99 %.2f, max %.2f; "
           "errors %ld\n", r.poll_lat.n, o.pollers, took, (double)r.poll_lat.n / took, pct(&r.poll_lat, 50), pct(&r.poll_lat, 90),
           pct(&r.poll_lat, 99), pct(&r.poll_lat, 100), r.polls_bad);
    printf("posts: %d POST /api/jobs %s: %ld accepted (201), %ld refused (429), %ld other; latency p50 %.1f ms, p99 %.1f, max %.1f\n",
           o.posts, o.burst ? "at once" : "spread over the run", r.posts_201, r.posts_429, r.posts_other, pct(&r.post_lat, 50), pct(&r.post_lat, 99), pct(&r.post_lat, 100));
    int failed = 0;
    memcpy(r.ids[r.nids], seed_id, 33);   /* the seed job must finish too */
    double ts = now();
    int lost = settle(&o, r.ids, r.nids + 1, &failed);
    long rss_after = rss_kb(o.pid);
    printf("jobs: %d accepted (with the first), %d done in %.1f s after the load, %d failed, lost %d\n", r.nids + 1,
           r.nids + 1 - lost, now() - ts, failed, lost);
    if (o.pid > 0)
        printf("server RSS: %.1f MB before, %.1f MB peak during the load, %.1f MB at its end, %.1f MB after the jobs\n",
               rss_before / 1024.0, (r.rss_peak > rss_load ? r.rss_peak : rss_load) / 1024.0, rss_load / 1024.0, rss_after / 1024.0);
    for (int i = 0; i < r.n; i++) free(r.c[i].buf);
    free(seed.buf);
    free(r.c);
    free(r.ids);
    free(r.poll_lat.v);
    free(r.post_lat.v);
    free(post);
    free(get);
    return r.posts_other == 0 && r.polls_bad == 0 && lost == 0 ? 0 : 1;
}
