/* jobs.h: a durable queue of style-transfer jobs, run by a fixed number of worker threads.
 *
 * A job is a content image, a style image and a few settings (job_params), painted on one of
 * two paths: optimisation (stylize_run: minutes, any style) or a fast style network
 * (stylenet_paint: one forward pass, seconds, only the styles the network was trained on).
 * Its records live
 * in SQLite (DIR/jobs.db, WAL, synchronous=FULL) and its files in DIR/jobs/ID/, where ID is
 * 32 hex digits of 128 random bits (getrandom): unguessable, and the only thing any path is
 * built from. The states: queued -> running -> done | failed.
 *
 * Nothing accepted is lost, nothing runs twice to completion:
 *   - jobs_submit writes content.png and style.png atomically (temporary file, fsync,
 *     rename, fsync of the folder), then commits the job's row; only then does it return
 *     the id. A crash before the commit leaves a folder with no row, removed at the next
 *     jobs_open; a crash after it leaves a queued job.
 *   - A worker marks the row running, runs stylize_run or stylenet_paint, writes
 *     result.png atomically and then marks the row done (one transaction). A crash in between leaves a row that says
 *     running: jobs_open puts it back to queued and removes its partial files (preview,
 *     result, temporary files), so the job runs again from the start and overwrites only
 *     its own files. A done row whose result file is missing is queued again too.
 *   - The queue is bounded (jobs_opts.queue_max queued jobs): jobs_submit answers
 *     STATUS_BUSY when it is full, before writing anything.
 * Progress (iteration, fraction of the work, seconds left, a preview JPEG written
 * atomically about once a second) lives in memory only: it is recomputed on a re-run.
 * Reads (jobs_get, jobs_wait) never touch SQLite: all jobs are mirrored in memory.
 *
 * jobs_delete removes a queued or finished job at once and cancels a running one (the
 * progress callback stops the optimiser; the worker then removes the files). jobs_stop
 * cancels the running jobs, which go back to queued, so a clean shutdown loses no work
 * that was accepted; jobs_close then joins the workers.
 *
 * Settings: size is the output's long side; preserve_colors keeps the photo's colours.
 * On the optimisation path (JOB_PATH_OPTIMISE): iterations per multires level; strength in
 * [0, 1] scales the network's default style weight by 10^(2 (strength - 0.5)) (0.1x to
 * 10x; 0.5 is the default balance); colours as STYLIZE_COLOR_PRESERVE. Everything else is
 * stylize_defaults for the network, except that sizes under 128 run at one resolution
 * (multires 1: a coarse level would be too small for VGG's deep layers).
 * On the fast path (JOB_PATH_FAST, needs jobs_opts.style_model): style names one of the
 * model's styles, or with style2 a blend: weights (1 - blend) for style and blend for
 * style2; strength is stylenet's (strength * painting + (1 - strength) * photo: 1 is the
 * full style); iterations is not used. Fast jobs have their own workers (fast_workers), so
 * that a result in seconds never waits behind an optimisation of minutes: each path is a
 * queue of its own, oldest first, sharing the bound queue_max. A fast job whose style the
 * model no longer has (the queue reopened with another model) is optimised instead when it
 * has one style (its style image is kept for that), and fails, saying why, when it is a
 * blend; job_info.params.path says which path ran.
 *
 * One process per data folder: jobs_open takes a lock (DIR/lock, fcntl) that a second one
 * is refused by and that dies with the process (SIGKILL included).
 *
 * Shared by several processes and machines (opts.db, a PostgreSQL connection string, in
 * builds with libpq): the records and the files (bytea, with their sha256 checked when
 * read) live in PostgreSQL and data_dir is only this process's cache. A worker claims the
 * oldest queued job (FOR UPDATE SKIP LOCKED) with a lease it renews every lease/3 s; a
 * worker that dies loses its lease and another runs the job from the start. Only the
 * lease's holder records done, so a job is done once. Every change is NOTIFYed, and each
 * process mirrors it, so jobs_get and jobs_wait answer for jobs of any process. A lost
 * connection (PostgreSQL restarted) is made again with backoff; a clean shutdown puts
 * its running jobs back in the queue. workers may be 0 (a server that only accepts).
 *
 * Example:
 * EXAMPLE_INCLUDES
 *   #include <unistd.h>
 * EXAMPLE_BEGIN
 *   image *photo = image_new(40, 30, 3), *paint = image_new(32, 32, 3);
 *   for (int i = 0; i < 3 * 40 * 30; i++) photo->data[i] = (float)((i / 5) % 7) / 6.0f;
 *   for (int i = 0; i < 3 * 32 * 32; i++) paint->data[i] = (float)((i * 3) % 11) / 10.0f;
 *   jobs_opts o = jobs_defaults();
 *   o.data_dir = "jobs-example-data";    // made if missing
 *   jobs *q = jobs_open(&o);             // recovers what a crash left, starts the workers
 *   if (!q) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   job_params p = {.size = 32, .iterations = 2, .strength = 0.5f};
 *   char id[JOB_ID_LEN + 1];
 *   if (jobs_submit(q, photo, paint, &p, id) != STATUS_OK) { fprintf(stderr, "%s\n", error_message()); return 1; }
 *   job_info info;
 *   unsigned version = 0;
 *   while (jobs_wait(q, id, &version, 10000, &info) && info.state < JOB_DONE) {}  // progress
 *   if (info.state != JOB_DONE) { fprintf(stderr, "%s\n", info.error); return 1; }
 *   char path[512];
 *   jobs_file(q, id, JOB_FILE_RESULT, path, sizeof path);    // jobs-example-data/jobs/ID/result.png
 *   image *out = image_read(path, NULL);
 *   if (!out || out->w != 32 || out->h != 24) return 1;
 *   if (jobs_delete(q, id) != STATUS_OK || access(path, F_OK) == 0) return 1;
 *   jobs_close(q);
 *   image_free(out); image_free(photo); image_free(paint);
 * EXAMPLE_END
 */
#ifndef ATELIER_JOBS_H
#define ATELIER_JOBS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "atelier/error.h"
#include "atelier/image.h"
#include "atelier/stylenet.h"
#include "atelier/stylize.h"

#define JOB_ID_LEN 32           /* hex digits */

typedef struct jobs jobs;

typedef enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED } job_state;

typedef struct jobs_opts {
    const char *data_dir;       /* records and files; made if missing (required) */
    const char *weights;        /* VGG-19 weights (with net NULL or "vgg19"); NULL: built in */
    const char *net;            /* the feature network (stylize_net_open); NULL: stylize_default_net */
    int workers;                /* threads running jobs: 1 */
    int queue_max;              /* queued jobs at most (running ones not counted): 16 */
    double preview_seconds;     /* at most one preview per this many seconds: 1 */
    const char *style_model;    /* the fast style network (stylenet_load: a file or a built-in
                                 * name); NULL: no fast path */
    int fast_workers;           /* threads painting fast jobs (with a style model): 1 */
    const char *db;             /* NULL: SQLite in data_dir (one process); a PostgreSQL
                                 * connection string ("postgresql://host/db"): a queue shared
                                 * by any number of processes, data_dir their cache (below) */
    double lease_seconds;       /* with db: a claimed job's lease, renewed while it runs: 30 */
} jobs_opts;

typedef enum job_path { JOB_PATH_OPTIMISE, JOB_PATH_FAST } job_path;

typedef struct job_params {
    int size;                   /* long side of the result, 16..8192 */
    int iterations;             /* per multires level, 1..100000 (optimisation) */
    float strength;             /* 0..1: the content/style balance (optimisation; 0.5 the
                                 * default), or the painting's share (fast; 1 the default) */
    bool preserve_colors;
    char style[64];             /* a label for the style (the gallery's name), or "": letters,
                                 * digits, ' ', '_', '.', '-'; on the fast path the model's style */
    job_path path;              /* JOB_PATH_OPTIMISE (0) or JOB_PATH_FAST */
    char style2[64];            /* fast path: a second model style to blend with, or "" */
    float blend;                /* fast path with style2: style2's weight, 0..1 */
} job_params;

/* A copy of a job's record and progress. */
typedef struct job_info {
    char id[JOB_ID_LEN + 1];
    job_state state;
    job_params params;
    double created, started, finished;   /* unix seconds; 0 when not yet */
    double progress;            /* fraction of the work done, 0..1 */
    double seconds;             /* running: so far; done: the run's length */
    double seconds_left;        /* running: an estimate; -1 when unknown */
    int iteration, iterations;  /* running: done so far, and in all */
    int attempts;               /* runs started (more than 1 after a crash) */
    int width, height;          /* of the result, when done */
    int queue_position;         /* queued: 1 = next; else 0 */
    unsigned preview;           /* preview version: 0 none yet, else bumps on each new one */
    char error[256];            /* failed: why */
} job_info;

/* Counts for monitoring. */
#define JOBS_SECONDS_BUCKETS 10
typedef struct jobs_stats {
    int by_state[4];            /* indexed by job_state */
    int queue_max, workers;
    long long submitted, refused_full, finished, failed;   /* since jobs_open */
    double seconds_le[JOBS_SECONDS_BUCKETS];               /* histogram bounds */
    long long seconds_count[JOBS_SECONDS_BUCKETS + 1];     /* per bound, cumulative; last: all */
    double seconds_sum;
    long long done_by_path[2];                             /* jobs done, indexed by job_path */
    double seconds_by_path[2];                             /* their seconds, summed */
} jobs_stats;

typedef enum job_file { JOB_FILE_CONTENT, JOB_FILE_STYLE, JOB_FILE_PREVIEW, JOB_FILE_RESULT } job_file;

jobs_opts jobs_defaults(void);
/* Opens (or creates) the data folder and its database, recovers what a crash left (see
 * above), loads the network and starts the workers. NULL and error_set on failure. */
jobs *jobs_open(const jobs_opts *o);
/* Accepts a job: its inputs are written (each resized to p->size on its long side when
 * larger) and its record committed before it returns; id gets the new job's id.
 * STATUS_BUSY when the queue is full, STATUS_ARG for settings out of range. */
status jobs_submit(jobs *j, const image *content, const image *style, const job_params *p,
                   char id[JOB_ID_LEN + 1]);
/* Whether a job could be queued now (an early, cheap check; jobs_submit decides). */
bool jobs_has_room(jobs *j);
/* false when no job has that id (or it is not a well-formed id). */
bool jobs_get(jobs *j, const char *id, job_info *out);
/* Waits up to timeout_ms for the job to change from *version (0: return at once), then
 * fills out and updates *version. false when the job is gone (deleted, unknown) or the
 * queue is stopping; true otherwise (changed or timed out: compare *version). */
bool jobs_wait(jobs *j, const char *id, unsigned *version, int timeout_ms, job_info *out);
/* Removes a job and its files (cancelling it if running). STATUS_ARG if unknown. */
status jobs_delete(jobs *j, const char *id);
/* The path of one of a job's files (whether or not it exists yet); false if unknown. */
bool jobs_file(jobs *j, const char *id, job_file which, char *buf, size_t size);
void jobs_get_stats(jobs *j, jobs_stats *s);
/* Begins a shutdown: running jobs are cancelled and go back to queued, waiters wake. */
void jobs_stop(jobs *j);
/* jobs_stop if not done, joins the workers, closes the database, frees. NULL is fine. */
void jobs_close(jobs *j);

/* The stylize options a job runs with: the network's defaults (builtin or not) with the
 * job's settings applied as described above (callback not set). */
stylize_opts jobs_stylize_opts(const job_params *p, stylize_opts defaults);

/* The fast style network (read-only, the queue's until jobs_close); NULL when none. */
const stylenet *jobs_style_model(const jobs *j);
/* Whether the fast path can paint a style of this name (exactly one of the model's names). */
bool jobs_fast_capable(const jobs *j, const char *style);

/* The stores this build has: "sqlite" or "sqlite, postgresql" (built with libpq). */
const char *jobs_store_names(void);

const char *job_state_name(job_state s);   /* "queued", "running", "done", "failed" */
const char *job_path_name(job_path p);     /* "optimise", "fast" */
/* Whether s is JOB_ID_LEN lowercase hex digits (what every id is). */
bool job_id_valid(const char *s);
/* 128 random bits as 32 hex digits (getrandom, or /dev/urandom); STATUS_IO if neither. */
status job_random_id(char id[JOB_ID_LEN + 1]);

#endif
