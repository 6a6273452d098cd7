/* jobs.c: the job queue (jobs.h): the in-memory table, submission, queries, deletion and
 * the recovery of what a crash left. SQLite is in jobs_db.c, the workers in jobs_worker.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "atelier/backend.h"
#include "jobs_internal.h"

double jobs_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

const char *job_state_name(job_state s) {
    static const char *const names[] = {"queued", "running", "done", "failed"};
    return (unsigned)s < 4 ? names[s] : "unknown";
}

const char *jobs_store_names(void) { return jobs_pg_store_get() ? "sqlite, postgresql" : "sqlite"; }

const char *job_path_name(job_path p) { return p == JOB_PATH_FAST ? "fast" : "optimise"; }

bool job_id_valid(const char *s) {
    if (!s) return false;
    for (int i = 0; i < JOB_ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return s[JOB_ID_LEN] == 0;
}

status job_random_id(char id[JOB_ID_LEN + 1]) {
    unsigned char b[JOB_ID_LEN / 2];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t k = getrandom(b + got, sizeof b - got, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    if (got < sizeof b) {   /* a kernel without getrandom(2): the device */
        FILE *f = fopen("/dev/urandom", "rb");
        got = f ? fread(b, 1, sizeof b, f) : 0;
        if (f) fclose(f);
        if (got < sizeof b) return error_set(STATUS_IO, "jobs: no source of random numbers (getrandom, /dev/urandom)");
    }
    for (size_t i = 0; i < sizeof b; i++) snprintf(id + 2 * i, 3, "%02x", b[i]);
    return STATUS_OK;
}

jobs_opts jobs_defaults(void) {
    return (jobs_opts){.workers = 1, .queue_max = 16, .preview_seconds = 1.0, .fast_workers = 1, .lease_seconds = 30};
}

/* ---- the table (mu held) ---- */

static unsigned bucket_of(const jobs *j, const char *id) {
    unsigned h = 2166136261u;   /* FNV-1a; ids are random anyway */
    for (const char *p = id; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    return h % (unsigned)j->nbuckets;
}

job *jobs_find(jobs *j, const char *id) {
    if (!job_id_valid(id)) return NULL;
    for (job *e = j->table[bucket_of(j, id)]; e; e = e->hnext)
        if (!strcmp(e->id, id)) return e;
    return NULL;
}

static void table_grow(jobs *j) {
    int n = j->nbuckets * 2;
    job **t = calloc((size_t)n, sizeof *t);
    if (!t) return;   /* longer chains, still correct */
    job **old = j->table;
    int oldn = j->nbuckets;
    j->table = t;
    j->nbuckets = n;
    for (int b = 0; b < oldn; b++)
        for (job *e = old[b], *next; e; e = next) {
            next = e->hnext;
            unsigned k = bucket_of(j, e->id);
            e->hnext = t[k];
            t[k] = e;
        }
    free(old);
}

void jobs_insert(jobs *j, job *e) {
    if (j->njobs >= 2 * j->nbuckets) table_grow(j);
    unsigned k = bucket_of(j, e->id);
    e->hnext = j->table[k];
    j->table[k] = e;
    j->njobs++;
}

/* The queue stays in submission order, even when a job goes back to it. */
void jobs_enqueue(jobs *j, job *e) {
    job *after = j->qtail;
    while (after && after->seq > e->seq) after = after->qprev;
    e->qprev = after;
    e->qnext = after ? after->qnext : j->qhead;
    if (e->qnext) e->qnext->qprev = e;
    else j->qtail = e;
    if (after) after->qnext = e;
    else j->qhead = e;
    j->queued++;
}

void jobs_dequeue(jobs *j, job *e) {
    if (e->qprev) e->qprev->qnext = e->qnext;
    else j->qhead = e->qnext;
    if (e->qnext) e->qnext->qprev = e->qprev;
    else j->qtail = e->qprev;
    e->qprev = e->qnext = NULL;
    j->queued--;
}

job *jobs_first_queued(jobs *j, job_path path) {
    job *e = j->qhead;
    while (e && e->params.path != path) e = e->qnext;
    return e;
}

void jobs_unlink(jobs *j, job *e) {
    for (job **p = &j->table[bucket_of(j, e->id)]; *p; p = &(*p)->hnext)
        if (*p == e) { *p = e->hnext; j->njobs--; break; }
    if (e->state == JOB_QUEUED) jobs_dequeue(j, e);
}

void jobs_touch(jobs *j, job *e) {
    e->version++;
    pthread_cond_broadcast(&j->changed);
}

void jobs_record_seconds(jobs *j, double seconds) {
    jobs_stats *s = &j->stats;
    for (int b = 0; b < JOBS_SECONDS_BUCKETS; b++)
        if (seconds <= s->seconds_le[b]) s->seconds_count[b]++;
    s->seconds_count[JOBS_SECONDS_BUCKETS]++;
    s->seconds_sum += seconds;
}

/* ---- files ---- */

void jobs_path(const jobs *j, const char *id, const char *name, char *buf, size_t size) {
    snprintf(buf, size, "%s/jobs/%s%s%s", j->dir, id, name ? "/" : "", name ? name : "");
}

static const char *file_name(job_file f) {
    static const char *const names[] = {"content.png", "style.png", "preview.jpg", "result.png"};
    return names[f];
}

/* Removes the files of DIR/jobs/ID that `drop` selects by name, then the folder if empty. */
static void remove_files_if(const jobs *j, const char *id, bool (*drop)(const char *name)) {
    char dir[4096], path[4400];
    jobs_path(j, id, NULL, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *ent; (ent = readdir(d));) {
        if (ent->d_name[0] == '.' || !drop(ent->d_name)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);   /* fails (harmlessly) unless empty */
}

static bool drop_all(const char *name) { (void)name; return true; }
/* What a run leaves behind: the preview, the result and interrupted atomic writes. */
static bool drop_partial(const char *name) {
    return !strcmp(name, "preview.jpg") || !strcmp(name, "result.png") || strstr(name, ".tmp-");
}
static bool drop_tmp(const char *name) { return strstr(name, ".tmp-") != NULL; }

void jobs_remove_files(const jobs *j, const char *id) { remove_files_if(j, id, drop_all); }

static void sync_path(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd >= 0) { fsync(fd); close(fd); }
}

static status make_dir(const char *path) {
    if (mkdir(path, 0755) == 0 || errno == EEXIST) return STATUS_OK;
    return error_set(STATUS_IO, "%s: cannot make the folder: %s", path, strerror(errno));
}

/* mkdir -p */
static status make_dirs(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) return error_set(STATUS_IO, "%s: cannot make the folder: %s", buf, strerror(errno));
            *p = '/';
        }
    return make_dir(buf);
}

/* ---- recovery ---- */

/* Folders without a row (a submission cut short, a deletion cut short) go; the jobs that
 * will run again lose their partial files; every job loses interrupted writes. A done job
 * without its result runs again. */
static status recover_files(jobs *j) {
    char dir[4096], path[4400];
    snprintf(dir, sizeof dir, "%s/jobs", j->dir);
    DIR *d = opendir(dir);
    if (!d) return error_set(STATUS_IO, "%s: cannot list: %s", dir, strerror(errno));
    for (struct dirent *ent; (ent = readdir(d));) {
        if (!job_id_valid(ent->d_name)) continue;   /* not ours: left alone */
        job *e = jobs_find(j, ent->d_name);
        if (!e) remove_files_if(j, ent->d_name, drop_all);
        else remove_files_if(j, ent->d_name, e->state == JOB_QUEUED ? drop_partial : drop_tmp);
    }
    closedir(d);
    for (int b = 0; b < j->nbuckets; b++)
        for (job *e = j->table[b]; e; e = e->hnext) {
            if (e->state != JOB_DONE) continue;
            jobs_path(j, e->id, "result.png", path, sizeof path);
            if (access(path, F_OK) == 0) continue;
            if (jobs_db_requeue(j, e->id) != STATUS_OK) return error_status();
            e->state = JOB_QUEUED;
            jobs_enqueue(j, e);
        }
    return STATUS_OK;
}

static status check_fast(const jobs *j, const job_params *p);

/* Queued fast jobs that this queue's model cannot paint (the queue was reopened with another
 * model, or none): one style goes to the optimisation path (its style image was kept for
 * this), a blend fails, saying why. Before the workers start. */
static status reroute_fast(jobs *j) {
    for (job *e = j->qhead, *next; e; e = next) {
        next = e->qnext;
        if (e->params.path != JOB_PATH_FAST || check_fast(j, &e->params) == STATUS_OK) continue;
        error_clear();
        if (!e->params.style2[0]) {
            if (j->store->set_path(j, e->id, JOB_PATH_OPTIMISE) != STATUS_OK) return error_status();
            e->params.path = JOB_PATH_OPTIMISE;
            continue;
        }
        snprintf(e->error, sizeof e->error, "the fast model (%.40s) cannot blend '%s' and '%s': submit it again",
                 j->fast ? j->fast->source : "none", e->params.style, e->params.style2);
        if (j->store->failed(j, e->id, e->error) != STATUS_OK) return error_status();
        jobs_dequeue(j, e);
        e->state = JOB_FAILED;
        e->finished = jobs_now();
    }
    return STATUS_OK;
}

/* A shared store's folder is a cache of its blobs: emptied when the process starts. */
static status clear_cache(jobs *j) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/jobs", j->dir);
    DIR *d = opendir(dir);
    if (!d) return error_set(STATUS_IO, "%s: cannot list: %s", dir, strerror(errno));
    for (struct dirent *ent; (ent = readdir(d));)
        if (job_id_valid(ent->d_name)) remove_files_if(j, ent->d_name, drop_all);
    closedir(d);
    return STATUS_OK;
}

/* The optimisation workers, then the fast ones (when there is a fast model). */
static int start_workers(jobs *j) {
    int want = j->o.workers + (j->fast ? j->o.fast_workers : 0);
    j->threads = calloc((size_t)want, sizeof *j->threads);
    for (int i = 0; j->threads && i < want; i++) {
        jobs_thread *t = &j->threads[j->nthreads];
        t->j = j;
        t->path = i < j->o.workers ? JOB_PATH_OPTIMISE : JOB_PATH_FAST;
        if (pthread_create(&t->thread, NULL, jobs_worker_main, t) == 0) j->nthreads++;
    }
    return want;
}

jobs *jobs_open(const jobs_opts *o) {
    if (!o->data_dir || !o->data_dir[0]) { error_set(STATUS_ARG, "jobs: no data folder"); return NULL; }
    /* a server of a shared queue may leave the running to `atelier worker`s */
    int least = o->db ? 0 : 1;
    if (o->workers < least || o->workers > 64 || o->queue_max < 1 ||
        (o->style_model && (o->fast_workers < least || o->fast_workers > 64))) {
        error_set(STATUS_ARG, "jobs: workers and fast workers must be %d..64 and the queue at least 1 (have %d, %d, %d)",
                  least, o->workers, o->fast_workers, o->queue_max);
        return NULL;
    }
    const jobs_store *store = o->db ? jobs_pg_store_get() : &jobs_sqlite_store;
    if (!store) {
        error_set(STATUS_ARG, "jobs: this build has no PostgreSQL store (libpq was not found when it was built)");
        return NULL;
    }
    if (o->db && !(o->lease_seconds >= 1 && o->lease_seconds <= 3600)) {
        error_set(STATUS_ARG, "jobs: lease %g s is out of range 1..3600", o->lease_seconds);
        return NULL;
    }
    jobs *j = calloc(1, sizeof *j);
    if (!j || !(j->dir = strdup(o->data_dir)) || !(j->table = calloc(256, sizeof *j->table))) {
        if (j) free(j->dir);
        free(j);
        error_set(STATUS_NOMEM, "jobs: out of memory");
        return NULL;
    }
    j->o = *o;
    j->store = store;
    j->nbuckets = 256;
    j->lock_fd = -1;
    pthread_mutex_init(&j->mu, NULL);
    pthread_mutex_init(&j->db_mu, NULL);
    pthread_cond_init(&j->work, NULL);
    pthread_cond_init(&j->changed, NULL);
    static const double bounds[JOBS_SECONDS_BUCKETS] = {1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
    memcpy(j->stats.seconds_le, bounds, sizeof bounds);
    char path[4200];
    snprintf(path, sizeof path, "%s/jobs", j->dir);
    if (make_dirs(j->dir) != STATUS_OK || make_dir(path) != STATUS_OK || store->open(j) != STATUS_OK ||
        store->load(j) != STATUS_OK || (store->shared ? clear_cache(j) : recover_files(j)) != STATUS_OK)
        goto fail;
    const char *net = o->net ? o->net : o->weights ? "vgg19" : stylize_default_net(NULL);
    if (!(j->net = stylize_net_open(net, NULL, o->weights, stylize_default_pool(o->weights == NULL)))) goto fail;
    if (o->style_model && !(j->fast = stylenet_load(o->style_model))) {
        char why[480];
        status st = error_status();
        snprintf(why, sizeof why, "%s", error_message());
        error_clear();   /* error_set keeps the first reason: this one says what it was for */
        error_set(st, "style model: %s", why);
        goto fail;
    }
    j->o.style_model = NULL;   /* the caller's string: j->fast->source names the model */
    /* a shared queue's other processes may have the model: their workers take those jobs */
    if (!store->shared && reroute_fast(j) != STATUS_OK) goto fail;
    (void)backend_current();   /* chosen once, here, not raced for by the workers' first ops */
    if (start_workers(j) > j->nthreads) { error_set(STATUS_NOMEM, "jobs: cannot start the worker threads"); goto fail; }
    return j;
fail:
    jobs_close(j);
    return NULL;
}

/* ---- the fast model ---- */

const stylenet *jobs_style_model(const jobs *j) { return j->fast; }

/* The model's index of a style by its exact name (never an index: a gallery style may be
 * called "2"), or -1. */
static int fast_index(const stylenet *m, const char *style) {
    for (int i = 0; m && style[0] && i < m->nstyles; i++)
        if (!strcmp(m->names[i], style)) return i;
    return -1;
}

bool jobs_fast_capable(const jobs *j, const char *style) { return style && fast_index(j->fast, style) >= 0; }

/* ---- submission ---- */

/* A label goes into JSON and metadata unescaped: letters, digits, ' ', '_', '.', '-'. */
static status check_label(const char *field, const char *label, size_t size) {
    if (!memchr(label, 0, size)) return error_set(STATUS_ARG, "%s label too long", field);
    for (const char *c = label; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr(" _.-", *c)))
            return error_set(STATUS_ARG, "%s label '%s': only letters, digits, ' ', '_', '.', '-'", field, label);
    return STATUS_OK;
}

/* The fast path's settings: a model, its styles, a blend weight only with a second style. */
static status check_fast(const jobs *j, const job_params *p) {
    if (p->path != JOB_PATH_FAST) {
        if (p->style2[0] || p->blend != 0) return error_set(STATUS_ARG, "a second style (style2, blend) blends on the fast path only");
        return STATUS_OK;
    }
    if (!j->fast) return error_set(STATUS_ARG, "no fast style model: this queue paints by optimisation only");
    if (fast_index(j->fast, p->style) < 0)
        return error_set(STATUS_ARG, "style '%s' is not one of the fast model's styles (%s)", p->style, j->fast->source);
    if (p->style2[0] && fast_index(j->fast, p->style2) < 0)
        return error_set(STATUS_ARG, "style2 '%s' is not one of the fast model's styles (%s)", p->style2, j->fast->source);
    if (p->style2[0] && !strcmp(p->style, p->style2)) return error_set(STATUS_ARG, "style2 is style '%s' again: blend two styles", p->style);
    if (!(p->blend >= 0 && p->blend <= 1)) return error_set(STATUS_ARG, "blend %g is out of range 0..1", p->blend);
    if (!p->style2[0] && p->blend != 0) return error_set(STATUS_ARG, "blend %g needs a second style (style2)", p->blend);
    return STATUS_OK;
}

static status check_params(const jobs *j, const job_params *p) {
    if (p->size < 16 || p->size > 8192) return error_set(STATUS_ARG, "size %d is out of range 16..8192", p->size);
    if (p->iterations < 1 || p->iterations > 100000) return error_set(STATUS_ARG, "iterations %d is out of range 1..100000", p->iterations);
    if (!(p->strength >= 0 && p->strength <= 1)) return error_set(STATUS_ARG, "strength %g is out of range 0..1", p->strength);
    if (p->path != JOB_PATH_OPTIMISE && p->path != JOB_PATH_FAST) return error_set(STATUS_ARG, "path %d is neither optimise nor fast", (int)p->path);
    if (check_label("style", p->style, sizeof p->style) != STATUS_OK || check_label("style2", p->style2, sizeof p->style2) != STATUS_OK)
        return error_status();
    return check_fast(j, p);
}

/* An input, no larger than the job needs (stylize_run resizes it to `size` anyway). */
static status write_input(const image *im, int size, const char *path) {
    image *small = im->w > size || im->h > size ? image_resize_long_side(im, size) : NULL;
    if (small == NULL && (im->w > size || im->h > size)) return error_status();
    status st = image_write(path, small ? small : im, NULL);
    image_free(small);
    return st;
}

static status write_inputs(jobs *j, const char *id, const image *content, const image *style, int size) {
    char path[4200];
    jobs_path(j, id, NULL, path, sizeof path);
    if (mkdir(path, 0755) != 0) return error_set(STATUS_IO, "%s: cannot make the folder: %s", path, strerror(errno));
    jobs_path(j, id, "content.png", path, sizeof path);
    if (write_input(content, size, path) != STATUS_OK) return error_status();
    jobs_path(j, id, "style.png", path, sizeof path);
    if (write_input(style, size, path) != STATUS_OK) return error_status();
    snprintf(path, sizeof path, "%s/jobs", j->dir);
    sync_path(path);   /* the new folder's entry (image_write synced the folder's files) */
    return STATUS_OK;
}

bool jobs_has_room(jobs *j) {
    pthread_mutex_lock(&j->mu);
    bool room = j->queued + j->pending < j->o.queue_max;
    pthread_mutex_unlock(&j->mu);
    return room;
}

/* Reserves a place in the queue; STATUS_BUSY when there is none. */
static status reserve(jobs *j) {
    pthread_mutex_lock(&j->mu);
    bool room = j->queued + j->pending < j->o.queue_max;
    if (room) j->pending++;
    else j->stats.refused_full++;
    int waiting = j->queued;
    pthread_mutex_unlock(&j->mu);
    return room ? STATUS_OK : error_set(STATUS_BUSY, "the queue is full (%d jobs waiting): try again later", waiting);
}

status jobs_submit(jobs *j, const image *content, const image *style, const job_params *p, char id[JOB_ID_LEN + 1]) {
    if (check_params(j, p) != STATUS_OK || reserve(j) != STATUS_OK) return error_status();
    job *e = calloc(1, sizeof *e);
    status st = e ? job_random_id(e->id) : error_set(STATUS_NOMEM, "jobs: out of memory");
    if (st == STATUS_OK) {
        e->params = *p;
        e->state = JOB_QUEUED;
        e->created = jobs_now();
        e->seconds_left = -1;
        st = write_inputs(j, e->id, content, style, p->size);
        if (st == STATUS_OK) st = j->store->insert(j, e);   /* sets e->seq: the job is accepted */
        if (st != STATUS_OK) jobs_remove_files(j, e->id);
    }
    pthread_mutex_lock(&j->mu);
    j->pending--;
    if (st == STATUS_OK && jobs_find(j, e->id)) {   /* a shared store's listener was quicker */
        j->stats.submitted++;
        pthread_mutex_unlock(&j->mu);
        memcpy(id, e->id, JOB_ID_LEN + 1);
        free(e);
        return STATUS_OK;
    }
    if (st == STATUS_OK) {
        jobs_insert(j, e);
        jobs_enqueue(j, e);
        j->stats.submitted++;
        pthread_cond_broadcast(&j->work);   /* the workers of the other path wait here too */
    }
    pthread_mutex_unlock(&j->mu);
    if (st != STATUS_OK) { free(e); return st; }
    memcpy(id, e->id, JOB_ID_LEN + 1);
    return STATUS_OK;
}

/* ---- queries ---- */

static void fill_info(const jobs *j, const job *e, job_info *out) {
    memset(out, 0, sizeof *out);
    memcpy(out->id, e->id, sizeof out->id);
    out->state = e->state;
    out->params = e->params;
    out->created = e->created;
    out->started = e->started;
    out->finished = e->finished;
    out->attempts = e->attempts;
    out->width = e->width;
    out->height = e->height;
    out->preview = e->preview;
    out->seconds_left = -1;
    if (e->state == JOB_RUNNING) {
        out->progress = e->progress;
        out->seconds = e->seconds;
        out->seconds_left = e->seconds_left;
        out->iteration = e->iteration;
        out->iterations = e->iterations;
    } else if (e->state == JOB_DONE) {
        out->progress = 1;
        out->iteration = e->iteration;     /* of this process's run; 0 after a restart */
        out->iterations = e->iterations;
        out->seconds = e->seconds;
        out->seconds_left = 0;
    } else if (e->state == JOB_QUEUED) {   /* among the jobs of its own path */
        int k = 1;
        for (const job *q = j->qhead; q && q != e; q = q->qnext) k += q->params.path == e->params.path;
        out->queue_position = k;
    }
    snprintf(out->error, sizeof out->error, "%s", e->error);
}

bool jobs_get(jobs *j, const char *id, job_info *out) {
    pthread_mutex_lock(&j->mu);
    job *e = jobs_find(j, id);
    if (e) fill_info(j, e, out);
    pthread_mutex_unlock(&j->mu);
    return e != NULL;
}

bool jobs_wait(jobs *j, const char *id, unsigned *version, int timeout_ms, job_info *out) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
    pthread_mutex_lock(&j->mu);
    job *e = jobs_find(j, id);
    while (e && !j->stopping && timeout_ms > 0 && e->version == *version) {
        int rc = pthread_cond_timedwait(&j->changed, &j->mu, &until);
        e = jobs_find(j, id);   /* it may have been deleted (and freed) meanwhile, timed out or not */
        if (rc != 0) break;     /* timed out */
    }
    bool ok = e && !j->stopping;
    if (ok) {
        fill_info(j, e, out);
        *version = e->version;
    }
    pthread_mutex_unlock(&j->mu);
    return ok;
}

bool jobs_file(jobs *j, const char *id, job_file which, char *buf, size_t size) {
    char key[JOB_ID_LEN + 1];
    pthread_mutex_lock(&j->mu);
    job *e = jobs_find(j, id);
    if (e) {
        jobs_path(j, e->id, file_name(which), buf, size);
        memcpy(key, e->id, sizeof key);
    }
    pthread_mutex_unlock(&j->mu);
    /* a shared store's blob into the cache; without it the file is just not there yet */
    if (e && j->store->fetch(j, key, file_name(which)) != STATUS_OK) error_clear();
    return e != NULL;
}

void jobs_get_stats(jobs *j, jobs_stats *s) {
    pthread_mutex_lock(&j->mu);
    *s = j->stats;
    memset(s->by_state, 0, sizeof s->by_state);
    for (int b = 0; b < j->nbuckets; b++)
        for (const job *e = j->table[b]; e; e = e->hnext) s->by_state[e->state]++;
    s->queue_max = j->o.queue_max;
    s->workers = j->o.workers;
    pthread_mutex_unlock(&j->mu);
}

/* ---- deletion and shutdown ---- */

status jobs_delete(jobs *j, const char *id) {
    char key[JOB_ID_LEN + 1];
    pthread_mutex_lock(&j->mu);
    job *e = jobs_find(j, id);
    if (e) memcpy(key, e->id, sizeof key);
    pthread_mutex_unlock(&j->mu);
    if (!e) return error_set(STATUS_ARG, "no job with that id");
    /* The row goes first: once that is committed the job is gone for good. */
    if (j->store->delete_job(j, key) != STATUS_OK) return error_status();
    pthread_mutex_lock(&j->mu);
    bool mine = false;
    if ((e = jobs_find(j, key))) {
        jobs_unlink(j, e);
        if (e->state == JOB_RUNNING) e->deleted = e->cancel = true;   /* the worker frees it */
        else mine = true;
        jobs_touch(j, e);
    }
    pthread_mutex_unlock(&j->mu);
    if (mine) {
        jobs_remove_files(j, key);
        free(e);
    }
    return STATUS_OK;
}

void jobs_stop(jobs *j) {
    pthread_mutex_lock(&j->mu);
    j->stopping = true;
    for (int b = 0; b < j->nbuckets; b++)
        for (job *e = j->table[b]; e; e = e->hnext)
            if (e->state == JOB_RUNNING) e->cancel = true;
    pthread_cond_broadcast(&j->work);
    pthread_cond_broadcast(&j->changed);
    pthread_mutex_unlock(&j->mu);
    if (j->store) j->store->stop(j);
}

void jobs_close(jobs *j) {
    if (!j) return;
    jobs_stop(j);
    for (int i = 0; i < j->nthreads; i++) pthread_join(j->threads[i].thread, NULL);
    free(j->threads);
    if (j->store) j->store->close(j);
    for (int b = 0; b < j->nbuckets; b++)
        for (job *e = j->table[b], *next; e; e = next) {
            next = e->hnext;
            free(e);
        }
    free(j->table);
    stylize_net_free(j->net);
    stylenet_free(j->fast);
    pthread_cond_destroy(&j->work);
    pthread_cond_destroy(&j->changed);
    pthread_mutex_destroy(&j->mu);
    pthread_mutex_destroy(&j->db_mu);
    free(j->dir);
    free(j);
}
