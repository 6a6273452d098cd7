/* dashboard_state.c: the snapshot the training loop publishes (dashboard.h) and its two
 * readings, the state JSON and the grid PNG. The training side holds the mutex only to
 * add a few numbers or swap a pointer; the reading side copies under it and formats
 * outside it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "dashboard_internal.h"
#include "image_internal.h"

#define GUTTER 2   /* as dataset_write_grid */

double dash_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void series_free(dash_series *s) {
    free(s->step);
    free(s->cnt);
    for (int k = 0; k < DASH_SERIES; k++) free(s->sum[k]);
    memset(s, 0, sizeof *s);
}

static status series_init(dash_series *s, int cap) {
    memset(s, 0, sizeof *s);
    s->cap = cap & ~1;   /* even: buckets merge in pairs */
    s->every = 1;
    s->step = malloc(sizeof(int64_t) * (size_t)s->cap);
    s->cnt = malloc(sizeof(int) * (size_t)s->cap);
    bool ok = s->step && s->cnt;
    for (int k = 0; k < DASH_SERIES; k++) ok = (s->sum[k] = malloc(sizeof(double) * (size_t)s->cap)) && ok;
    if (ok) return STATUS_OK;
    series_free(s);
    return error_set(STATUS_NOMEM, "dashboard: out of memory");
}

/* Full: neighbouring points merge, so cap/2 points of twice the steps each. */
static void series_halve(dash_series *s) {
    int m = 0;
    for (int i = 0; i < s->n; i += 2, m++) {
        int j = i + 1 < s->n ? i + 1 : i;
        s->step[m] = s->step[j];
        s->cnt[m] = s->cnt[i] + (j != i ? s->cnt[j] : 0);
        for (int k = 0; k < DASH_SERIES; k++) s->sum[k][m] = s->sum[k][i] + (j != i ? s->sum[k][j] : 0);
    }
    s->n = m;
    s->every *= 2;
}

static void series_push(dash_series *s, int64_t step, const double v[DASH_SERIES]) {
    if (s->n == 0 || s->cnt[s->n - 1] >= s->every) {
        if (s->n == s->cap) series_halve(s);
    }
    if (s->n == 0 || s->cnt[s->n - 1] >= s->every) {
        s->cnt[s->n] = 0;
        for (int k = 0; k < DASH_SERIES; k++) s->sum[k][s->n] = 0;
        s->n++;
    }
    int i = s->n - 1;
    s->step[i] = step;
    s->cnt[i]++;
    for (int k = 0; k < DASH_SERIES; k++) s->sum[k][i] += v[k];
}

status dash_state_init(dash_state *st, int cap) {
    memset(st, 0, sizeof *st);
    st->phase = "starting";
    st->evals_cap = cap;
    if (!(st->evals = malloc(sizeof(dash_eval) * (size_t)cap))) return error_set(STATUS_NOMEM, "dashboard: out of memory");
    if (series_init(&st->s, cap) != STATUS_OK) { free(st->evals); st->evals = NULL; return error_status(); }
    return STATUS_OK;
}

void dash_state_free(dash_state *st) {
    series_free(&st->s);
    free(st->evals);
    free(st->config);
    memset(st, 0, sizeof *st);
}

/* ---- the training side ---- */

void dashboard_set_run(dashboard *d, const char *config_json, int64_t start_step, int64_t total_steps) {
    char *copy = config_json ? strdup(config_json) : NULL;
    pthread_mutex_lock(&d->mu);
    char *old = d->st.config;
    d->st.config = copy;
    d->st.start_step = d->st.step = start_step;
    d->st.total_steps = total_steps;
    d->st.seconds = 0;   /* the speed is this run's: a resumed run's history came before */
    d->st.rate_n = d->st.rate_head = 0;
    pthread_mutex_unlock(&d->mu);
    free(old);
}

static void rate_push(dash_state *st, int64_t step, double seconds) {
    int last = (st->rate_head + DASH_RATE_N - 1) % DASH_RATE_N;
    if (st->rate_n > 0 && seconds - st->rate_t[last] < DASHBOARD_RATE_WINDOW / (DASH_RATE_N / 2)) return;
    st->rate_step[st->rate_head] = step;
    st->rate_t[st->rate_head] = seconds;
    st->rate_head = (st->rate_head + 1) % DASH_RATE_N;
    if (st->rate_n < DASH_RATE_N) st->rate_n++;
}

void dashboard_publish_step(dashboard *d, int64_t step, const gan_stats *g, double seconds) {
    double v[DASH_SERIES] = {g->d_loss, g->g_loss, g->d_real, g->d_fake};
    double now = dash_now();
    pthread_mutex_lock(&d->mu);
    dash_state *st = &d->st;
    series_push(&st->s, step, v);
    st->step = step;
    st->seconds = seconds;
    st->published_at = now;
    if (!strcmp(st->phase, "starting")) st->phase = "training";
    rate_push(st, step, seconds);
    pthread_mutex_unlock(&d->mu);
}

void dashboard_publish_eval(dashboard *d, int64_t step, const metrics_report *r) {
    pthread_mutex_lock(&d->mu);
    dash_state *st = &d->st;
    if (st->nevals == st->evals_cap) {   /* keep every other one, and the newest */
        int m = 0;
        for (int i = 1; i < st->nevals; i += 2) st->evals[m++] = st->evals[i];
        st->nevals = m;
    }
    st->evals[st->nevals++] = (dash_eval){step, *r};
    pthread_mutex_unlock(&d->mu);
}

void dashboard_set_phase(dashboard *d, const char *phase) {
    const char *p = !strcmp(phase, "finished") ? "finished" : "stopped";
    pthread_mutex_lock(&d->mu);
    d->st.phase = p;
    pthread_mutex_unlock(&d->mu);
}

/* images (N, C, H, W) in [-1, 1] -> the grid as dataset_write_grid lays it out. */
static image *grid_build(const tensor *t, int cols) {
    int n = t->shape[0], c = t->shape[1], h = t->shape[2], w = t->shape[3];
    if (cols > n) cols = n;
    int rows = (n + cols - 1) / cols;
    int64_t gw = (int64_t)cols * (w + GUTTER) + GUTTER, gh = (int64_t)rows * (h + GUTTER) + GUTTER;
    if (gw > IMAGE_MAX_SIDE || gh > IMAGE_MAX_SIDE) {
        error_set(STATUS_ARG, "dashboard: a grid of %lldx%lld is too large", (long long)gw, (long long)gh);
        return NULL;
    }
    image *g = image_new((int)gw, (int)gh, 3);
    if (!g) return NULL;
    size_t plane = (size_t)gw * (size_t)gh;
    for (size_t i = 0; i < 3 * plane; i++) g->data[i] = 1.0f;
    for (int k = 0; k < n; k++) {
        int x0 = GUTTER + (k % cols) * (w + GUTTER), y0 = GUTTER + (k / cols) * (h + GUTTER);
        for (int ch = 0; ch < 3; ch++) {
            const float *src = t->data + ((size_t)k * c + (c == 1 ? 0 : ch)) * h * w;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    g->data[ch * plane + (size_t)(y0 + y) * g->w + x0 + x] = (src[y * w + x] + 1.0f) * 0.5f;
        }
    }
    return g;
}

status dashboard_publish_grid(dashboard *d, int64_t step, const tensor *images, int cols) {
    char buf[64];
    if (!images || cols < 1 || images->ndim != 4 || (images->shape[1] != 3 && images->shape[1] != 1) || images->shape[0] < 1)
        return error_set(STATUS_SHAPE, "dashboard_publish_grid: images %s must be (N, 3, H, W) and cols >= 1 (got %d)",
                         images ? tensor_shape_str(images, buf) : "NULL", cols);
    image *g = grid_build(images, cols);
    if (!g) return error_status();
    pthread_mutex_lock(&d->mu);
    image *old = d->grid;
    d->grid = g;
    d->st.grid_version++;
    d->st.grid_step = step;
    pthread_mutex_unlock(&d->mu);
    image_free(old);
    return STATUS_OK;
}

/* ---- the reading side ---- */

/* A copy of the state with its own arrays: taken under the lock, read outside it. */
static status snapshot(dashboard *d, dash_state *out) {
    int cap = d->st.evals_cap;   /* fixed at start */
    if (dash_state_init(out, cap) != STATUS_OK) return error_status();
    dash_series keep = out->s;
    dash_eval *evals = out->evals;
    pthread_mutex_lock(&d->mu);
    const dash_state *st = &d->st;
    char *config = st->config ? strdup(st->config) : NULL;
    *out = *st;
    out->config = config;
    out->evals = evals;
    memcpy(evals, st->evals, sizeof(dash_eval) * (size_t)st->nevals);
    out->s = keep;
    out->s.n = st->s.n;
    out->s.every = st->s.every;
    memcpy(keep.step, st->s.step, sizeof(int64_t) * (size_t)st->s.n);
    memcpy(keep.cnt, st->s.cnt, sizeof(int) * (size_t)st->s.n);
    for (int k = 0; k < DASH_SERIES; k++) memcpy(keep.sum[k], st->s.sum[k], sizeof(double) * (size_t)st->s.n);
    pthread_mutex_unlock(&d->mu);
    return STATUS_OK;
}

/* JSON has no NaN or infinity: null. */
static void put_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fputs("null", f);
}

/* A JSON string of s: bytes outside printable ASCII become '?' unless s is plain UTF-8
 * (titles are folder names). */
static void put_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\u%04x", *p);
        else if (*p >= 0x80) fputc('?', f);
        else fputc(*p, f);
    }
    fputc('"', f);
}

/* Steps per second over the last window: from the oldest sample inside it, else since
 * the start. */
static double rate_of(const dash_state *st) {
    double t_old = 0;
    int64_t s_old = st->start_step;
    for (int i = 0; i < st->rate_n; i++) {
        int k = (st->rate_head + DASH_RATE_N - st->rate_n + i) % DASH_RATE_N;
        if (st->seconds - st->rate_t[k] <= DASHBOARD_RATE_WINDOW && st->rate_t[k] < st->seconds) {
            t_old = st->rate_t[k];
            s_old = st->rate_step[k];
            break;
        }
    }
    double dt = st->seconds - t_old;
    return dt > 0 && st->step > s_old ? (double)(st->step - s_old) / dt : NAN;
}

static void put_series(FILE *f, const dash_series *s) {
    static const char *const names[DASH_SERIES] = {"d_loss", "g_loss", "d_real", "d_fake"};
    fprintf(f, "\"series\": {\"every\": %d, \"step\": [", s->every);
    for (int i = 0; i < s->n; i++) fprintf(f, "%s%lld", i ? "," : "", (long long)s->step[i]);
    fputs("]", f);
    for (int k = 0; k < DASH_SERIES; k++) {
        fprintf(f, ", \"%s\": [", names[k]);
        for (int i = 0; i < s->n; i++) {
            if (i) fputc(',', f);
            put_num(f, s->sum[k][i] / s->cnt[i]);
        }
        fputs("]", f);
    }
    fputs("}", f);
}

static void put_evals(FILE *f, const dash_state *st) {
    fputs("\"evals\": [", f);
    for (int i = 0; i < st->nevals; i++) {
        const metrics_report *r = &st->evals[i].r;
        fprintf(f, "%s{\"step\": %lld, \"kid\": ", i ? ", " : "", (long long)st->evals[i].step);
        put_num(f, r->kid);
        fputs(", \"kid_std\": ", f);
        put_num(f, r->kid_std);
        fputs(", \"diversity_ratio\": ", f);
        put_num(f, r->diversity_ratio);
        fputs(", \"nn_ratio\": ", f);
        put_num(f, r->memo.ratio);
        fputs(", \"copy_fraction\": ", f);
        put_num(f, r->memo.copy_fraction);
        fprintf(f, ", \"collapse_warning\": %s, \"copy_warning\": %s}", r->collapse_warning ? "true" : "false",
                r->copy_warning ? "true" : "false");
    }
    fputs("]", f);
}

static void put_state(FILE *f, const dashboard *d, const dash_state *st, double now) {
    double rate = rate_of(st);
    fputs("{\"title\": ", f);
    put_str(f, d->o.title ? d->o.title : "");
    fprintf(f, ", \"config\": %s, \"phase\": \"%s\", \"step\": %lld, \"start_step\": %lld, \"total_steps\": %lld, \"seconds\": ",
            st->config ? st->config : "null", st->phase, (long long)st->step, (long long)st->start_step,
            (long long)st->total_steps);
    put_num(f, st->seconds);
    fputs(", \"steps_per_second\": ", f);
    put_num(f, rate);
    fputs(", \"seconds_left\": ", f);
    put_num(f, !strcmp(st->phase, "training") ? (double)(st->total_steps - st->step) / rate : 0);
    fputs(", \"since_last_step\": ", f);
    put_num(f, st->published_at > 0 ? now - st->published_at : NAN);
    if (st->grid_version) fprintf(f, ", \"grid\": {\"version\": %lld, \"step\": %lld}, ", (long long)st->grid_version,
                                  (long long)st->grid_step);
    else fputs(", \"grid\": null, ", f);
    put_series(f, &st->s);
    fputs(", ", f);
    put_evals(f, st);
    fprintf(f, ", \"thresholds\": {\"collapse_ratio\": %g, \"copy_fraction\": %g, \"copy_distance\": %g}}\n",
            METRICS_COLLAPSE_RATIO, METRICS_COPY_FRACTION, METRICS_COPY_THRESHOLD);
}

char *dashboard_state_json(dashboard *d) {
    dash_state st;
    if (snapshot(d, &st) != STATUS_OK) return NULL;
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (f) {
        put_state(f, d, &st, dash_now());
        if (fclose(f) != 0) { free(buf); buf = NULL; }
    }
    dash_state_free(&st);
    if (!buf) error_set(STATUS_NOMEM, "dashboard: out of memory");
    return buf;
}

static unsigned char *copy_png(const dashboard *d, size_t *n) {
    unsigned char *p = malloc(d->png_n);
    if (p) { memcpy(p, d->png, d->png_n); *n = d->png_n; }
    else error_set(STATUS_NOMEM, "dashboard: out of memory");
    return p;
}

/* Encodes the newest grid when it is newer than the cached PNG: the grid is taken out
 * under the lock and encoded outside it. */
unsigned char *dashboard_grid_png(dashboard *d, size_t *n) {
    pthread_mutex_lock(&d->mu);
    image *g = d->grid;
    int64_t version = d->st.grid_version;
    d->grid = NULL;
    pthread_mutex_unlock(&d->mu);
    if (g) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        image_write_opts o = {.quality = 92, .png_bit_depth = 8};
        status s = f ? image_png_encode("the dashboard's grid", f, g, &o) : error_set(STATUS_NOMEM, "dashboard: out of memory");
        if (f && fclose(f) != 0 && s == STATUS_OK) s = error_set(STATUS_NOMEM, "dashboard: out of memory");
        image_free(g);
        if (s != STATUS_OK) { free(buf); return NULL; }
        pthread_mutex_lock(&d->mu);
        if (version > d->png_version) {
            free(d->png);
            d->png = (unsigned char *)buf;
            d->png_n = len;
            d->png_version = version;
            buf = NULL;
        }
        pthread_mutex_unlock(&d->mu);
        free(buf);
    }
    pthread_mutex_lock(&d->mu);
    unsigned char *p = d->png ? copy_png(d, n) : NULL;
    if (!d->png) error_set(STATUS_ARG, "no sample grid yet");
    pthread_mutex_unlock(&d->mu);
    return p;
}
