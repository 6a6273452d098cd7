/* jobs_worker.c: the worker threads of the job queue (jobs.h): take the oldest queued job of
 * the worker's path, run the style transfer (stylize_run, or the fast network's
 * stylenet_paint) with a progress callback that publishes progress (and previews) and stops
 * the run when the job is deleted or the queue stops, then record the outcome. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "atelier/backend.h"
#include "atelier/featnet.h"
#include "jobs_internal.h"

stylize_opts jobs_stylize_opts(const job_params *p, stylize_opts defaults) {
    stylize_opts o = defaults;
    o.size = p->size;
    o.iterations = p->iterations;
    /* strength 0..1 -> 0.1x..10x the network's style weight, 0.5 -> the default */
    o.style_weight *= powf(10.0f, 2.0f * (p->strength - 0.5f));
    if (p->preserve_colors) o.color = STYLIZE_COLOR_PRESERVE;
    /* The coarse level of multires must stay large enough for VGG's deep layers. */
    if (o.multires > 1 && p->size < 128) o.multires = 1;
    return o;
}

typedef struct run_ctx {
    jobs *j;
    job *e;
    char preview[4200];
    double last_preview;    /* seconds into the run */
} run_ctx;

/* The fraction of the work done: with multires, a level costs 4x the one before it (twice
 * the side), so iterations are weighted by their level's pixels. */
static double work_fraction(const stylize_progress *p) {
    if (p->iterations <= 0) return 0;
    if (p->tiles || p->levels <= 1) return (double)p->iteration / p->iterations;
    int per = p->iterations / p->levels;
    double total = 0, done = 0;
    for (int l = 0; l < p->levels; l++) {
        double w = pow(4.0, l - (p->levels - 1));
        total += per * w;
        if (l < p->level) done += per * w;
    }
    int in_level = p->iteration - p->level * per;
    if (in_level < 0) in_level = 0;
    if (in_level > per) in_level = per;
    done += in_level * pow(4.0, p->level - (p->levels - 1));
    return total > 0 ? done / total : 0;
}

/* A preview on the first iteration, then at most one per preview_seconds. A failed write
 * only costs the preview. */
static bool write_preview(run_ctx *c, const stylize_progress *p) {
    if (p->iteration > 1 && p->seconds - c->last_preview < c->j->o.preview_seconds) return false;
    if (p->iteration >= p->iterations) return false;   /* the result follows at once */
    c->last_preview = p->seconds;
    image *im = stylize_snapshot(p);
    image_write_opts wo = {.quality = 85};
    bool ok = im && image_write(c->preview, im, &wo) == STATUS_OK;
    image_free(im);
    if (!ok) error_clear();
    return ok;
}

static bool on_progress(const stylize_progress *p, void *user) {
    run_ctx *c = user;
    double f = work_fraction(p);
    bool fresh = write_preview(c, p);
    pthread_mutex_lock(&c->j->mu);
    job *e = c->e;
    e->progress = f;
    e->iteration = p->iteration;
    e->iterations = p->iterations;
    e->seconds = p->seconds;
    e->seconds_left = f > 0.02 ? p->seconds * (1 - f) / f : -1;
    if (fresh) e->preview++;
    jobs_touch(c->j, e);
    bool go = !e->cancel;
    pthread_mutex_unlock(&c->j->mu);
    c->j->store->progress(c->j, e, fresh);
    return go;
}

/* ---- the outcome ---- */

/* The result with its provenance (made_by, settings), written atomically. */
/* model_sha256: the fast network's hash (as `stylize --model` records it), NULL for none. */
static status write_result(jobs *j, const job *e, image *out, const char *made_by, const char *settings,
                           const char *model_sha256) {
    char path[4200];
    status st = image_text_set(out, "Software", "Atelier " ATELIER_VERSION);
    if (st == STATUS_OK) st = image_text_set(out, "atelier.made_by", made_by);
    if (st == STATUS_OK) st = image_text_set(out, "atelier.settings", settings);
    if (st == STATUS_OK && model_sha256) st = image_text_set(out, "atelier.model.sha256", model_sha256);
    jobs_path(j, e->id, "result.png", path, sizeof path);
    return st == STATUS_OK ? image_write(path, out, NULL) : st;
}

static status write_optimised(jobs *j, const job *e, const stylize_opts *o, image *out) {
    char settings[768];
    snprintf(settings, sizeof settings,
             "{\"path\": \"optimise\", \"size\": %d, \"iterations\": %d, \"strength\": %g, \"preserve_colors\": %s, \"style\": \"%s\", "
             "\"content_weight\": %g, \"style_weight\": %g, \"tv_weight\": %g, \"multires\": %d, \"network\": \"%s\", "
             "\"backend\": \"%s\"}",
             e->params.size, e->params.iterations, e->params.strength, e->params.preserve_colors ? "true" : "false",
             e->params.style, o->content_weight, o->style_weight, o->tv_weight, o->multires,
             featnet_name(stylize_net_featnet(j->net)), backend_current()->name);
    return write_result(j, e, out, "machine-made: neural style transfer (Atelier " ATELIER_VERSION ")", settings, NULL);
}

/* Cancelled: deleted (the files go, and the job with them) or stopping (back to queued,
 * to run again from the start next time). */
static void finish_cancelled(jobs *j, job *e) {
    j->store->requeue(j, e->id);   /* on failure jobs_open (or the lease) requeues it */
    error_clear();               /* (a deleted job has no row: nothing changes) */
    /* deleted is read in the same hold of mu that requeues, so a jobs_delete racing with
     * this (while stopping) cannot leave an unlinked job in the queue */
    pthread_mutex_lock(&j->mu);
    bool deleted = e->deleted;
    e->mine = false;
    if (!deleted) {
        e->state = JOB_QUEUED;
        e->progress = 0;
        e->seconds_left = -1;
        jobs_enqueue(j, e);
        jobs_touch(j, e);
    }
    pthread_mutex_unlock(&j->mu);
    if (deleted) {
        jobs_remove_files(j, e->id);
        free(e);
    } else {
        j->store->refresh(j, e->id);   /* a shared store's row says what happened meanwhile */
    }
}

/* A shared store gave the job to another worker (this one's lease ran out): nothing is
 * recorded; the memory takes the store's row again. */
static void lost(jobs *j, job *e) {
    error_clear();
    pthread_mutex_lock(&j->mu);
    bool deleted = e->deleted;
    e->mine = false;
    pthread_mutex_unlock(&j->mu);
    if (deleted) {
        jobs_remove_files(j, e->id);
        free(e);
    } else {
        j->store->refresh(j, e->id);
    }
}

/* Records done (out != NULL) or failed (why) and hands the job back to the table, or frees
 * it if it was deleted meanwhile. */
static void finish(jobs *j, job *e, const image *out, double seconds, const char *reason) {
    char why[256];   /* reason may be error_message(), which error_clear below empties */
    snprintf(why, sizeof why, "%s", reason ? reason : "");
    status st = out ? j->store->done(j, e->id, seconds, out->w, out->h) : j->store->failed(j, e->id, why);
    if (st == STATUS_BUSY) { lost(j, e); return; }
    char dberr[256] = "";
    if (st != STATUS_OK) snprintf(dberr, sizeof dberr, "%s", error_message());
    error_clear();
    pthread_mutex_lock(&j->mu);
    bool deleted = e->deleted;
    e->mine = false;
    if (!deleted) {
        e->finished = jobs_now();
        e->seconds = seconds;
        e->state = out && st == STATUS_OK ? JOB_DONE : JOB_FAILED;
        if (e->state == JOB_DONE) {
            e->width = out->w;
            e->height = out->h;
            e->progress = 1;
            j->stats.finished++;
            j->stats.done_by_path[e->params.path]++;
            j->stats.seconds_by_path[e->params.path] += seconds;
            jobs_record_seconds(j, seconds);
        } else {
            snprintf(e->error, sizeof e->error, "%s", dberr[0] ? dberr : why);
            j->stats.failed++;
        }
        jobs_touch(j, e);
    }
    pthread_mutex_unlock(&j->mu);
    if (deleted) {
        jobs_remove_files(j, e->id);
        free(e);
    }
}

static void run_optimise(jobs *j, job *e) {
    run_ctx c = {.j = j, .e = e, .last_preview = -1e9};
    char path[4200];
    jobs_path(j, e->id, "preview.jpg", c.preview, sizeof c.preview);
    error_clear();
    stylize_opts o = jobs_stylize_opts(&e->params, stylize_net_defaults(j->net));
    o.callback = on_progress;
    o.user = &c;
    jobs_path(j, e->id, "content.png", path, sizeof path);
    image *content = image_read(path, NULL), *style = NULL, *out = NULL;
    jobs_path(j, e->id, "style.png", path, sizeof path);
    if (content) style = image_read(path, NULL);
    stylize_result r = {0};
    if (style) out = stylize_run(j->net, content, (const image *const *)&style, 1, &o, &r);
    pthread_mutex_lock(&j->mu);
    bool cancelled = e->cancel;
    pthread_mutex_unlock(&j->mu);
    if (cancelled) finish_cancelled(j, e);
    else if (out && write_optimised(j, e, &o, out) == STATUS_OK) finish(j, e, out, r.seconds, NULL);
    else finish(j, e, NULL, r.seconds, error_message()[0] ? error_message() : "the style transfer failed");
    image_free(out);
    image_free(content);
    image_free(style);
    error_clear();
}

/* ---- the fast path ---- */

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* Per tile (only a picture too large to paint whole has several): progress, and a stop. */
static bool on_tile(int done, int total, void *user) {
    run_ctx *c = user;
    pthread_mutex_lock(&c->j->mu);
    c->e->progress = total > 0 ? (double)done / total : 0;
    jobs_touch(c->j, c->e);
    bool go = !c->e->cancel;
    pthread_mutex_unlock(&c->j->mu);
    c->j->store->progress(c->j, c->e, false);
    return go;
}

/* The model's style weights (S): style, or (1 - blend) style + blend style2. The styles were
 * checked at submission (and again when the queue opened), so -1 here is a bug's sign. */
static status fast_mix(const stylenet *m, const job_params *p, float *mix) {
    int a = -1, b = -1;
    for (int s = 0; s < m->nstyles; s++) {
        mix[s] = 0;
        if (!strcmp(m->names[s], p->style)) a = s;
        if (p->style2[0] && !strcmp(m->names[s], p->style2)) b = s;
    }
    if (a < 0 || (p->style2[0] && b < 0))
        return error_set(STATUS_ARG, "the fast style model (%s) has no style '%s'", m->source, a < 0 ? p->style : p->style2);
    mix[a] = b >= 0 ? 1 - p->blend : 1;
    if (b >= 0) mix[b] = p->blend;
    return STATUS_OK;
}

static status write_painted(jobs *j, const job *e, image *out) {
    const job_params *p = &e->params;
    char settings[1024], styles[200], model[sizeof j->fast->source];
    /* the model's name is a file's: nothing in it may end the JSON string */
    snprintf(model, sizeof model, "%s", j->fast->source);
    for (char *c = model; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) *c = '_';
    if (p->style2[0]) snprintf(styles, sizeof styles, "\"%s\": %g, \"%s\": %g", p->style, 1 - p->blend, p->style2, p->blend);
    else snprintf(styles, sizeof styles, "\"%s\": 1", p->style);
    snprintf(settings, sizeof settings,
             "{\"path\": \"fast\", \"model\": \"%s\", \"model_sha256\": \"%s\", \"styles\": {%s}, \"size\": %d, "
             "\"strength\": %g, \"preserve_colors\": %s, \"style\": \"%s\", \"backend\": \"%s\"}",
             model, j->fast->sha256, styles, p->size, p->strength, p->preserve_colors ? "true" : "false", p->style,
             backend_current()->name);
    return write_result(j, e, out, "machine-made: fast neural style transfer (Atelier " ATELIER_VERSION ")", settings,
                        j->fast->sha256);
}

/* One forward pass of the fast network; seconds are the painting's. */
static void run_fast(jobs *j, job *e) {
    run_ctx c = {.j = j, .e = e};
    char path[4200];
    error_clear();
    float *mix = calloc((size_t)j->fast->nstyles, sizeof *mix);
    status st = mix ? fast_mix(j->fast, &e->params, mix) : error_set(STATUS_NOMEM, "jobs: out of memory");
    jobs_path(j, e->id, "content.png", path, sizeof path);
    image *content = st == STATUS_OK ? image_read(path, NULL) : NULL, *out = NULL;
    double seconds = 0;
    if (content) {
        stylenet_paint_opts o = stylenet_paint_defaults();
        o.mix = mix;
        o.strength = e->params.strength;
        o.preserve_colors = e->params.preserve_colors;
        o.size = e->params.size;
        o.callback = on_tile;
        o.user = &c;
        double t0 = seconds_now();
        out = stylenet_paint(j->fast, content, &o);
        seconds = seconds_now() - t0;
    }
    pthread_mutex_lock(&j->mu);
    bool cancelled = e->cancel;
    pthread_mutex_unlock(&j->mu);
    if (cancelled) finish_cancelled(j, e);
    else if (out && write_painted(j, e, out) == STATUS_OK) finish(j, e, out, seconds, NULL);
    else finish(j, e, NULL, seconds, error_message()[0] ? error_message() : "the fast style network failed");
    image_free(out);
    image_free(content);
    free(mix);
    error_clear();
}

job *jobs_take_queued(jobs *j, job_path lane) {
    job *e = NULL;
    pthread_mutex_lock(&j->mu);
    while (!j->stopping && !(e = jobs_first_queued(j, lane))) pthread_cond_wait(&j->work, &j->mu);
    if (j->stopping) e = NULL;
    if (e) {
        jobs_dequeue(j, e);
        e->state = JOB_RUNNING;
        e->started = jobs_now();
        e->attempts++;
        e->cancel = false;
        e->mine = true;
        e->progress = e->seconds = 0;
        e->iteration = e->iterations = 0;
        e->seconds_left = -1;
        jobs_touch(j, e);
        for (job *q = j->qhead; q; q = q->qnext)   /* their queue positions moved */
            if (q->params.path == lane) q->version++;
    }
    pthread_mutex_unlock(&j->mu);
    return e;
}

void jobs_fail_claimed(jobs *j, job *e, const char *why) { finish(j, e, NULL, 0, why); }

void *jobs_worker_main(void *arg) {
    const jobs_thread *t = arg;
    jobs *j = t->j;
    for (job *e; (e = j->store->claim(j, t->path));) {
        if (j->store->fetch_inputs(j, e) != STATUS_OK) {   /* missing or corrupt: do not run it */
            char why[256];
            snprintf(why, sizeof why, "%s", error_message());
            error_clear();
            finish(j, e, NULL, 0, why);
            continue;
        }
        if (e->params.path == JOB_PATH_FAST) run_fast(j, e);
        else run_optimise(j, e);
    }
    return NULL;
}
