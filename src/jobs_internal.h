/* jobs_internal.h: the job queue's parts (jobs.h): the in-memory table (jobs.c), the SQLite
 * records (jobs_db.c) and the workers (jobs_worker.c).
 *
 * Locking: `mu` guards the in-memory table, the queue and every job's fields; `db_mu`
 * guards the SQLite connection. Neither is held while the other is taken, and `mu` is never
 * held across I/O (a commit's fsync), so status polls never wait for the disk. The
 * database is the log and decides what survives a crash; the memory mirrors it: a state
 * change is committed first and shown second, so a client never sees a state that a crash
 * could take back. */
#ifndef ATELIER_JOBS_INTERNAL_H
#define ATELIER_JOBS_INTERNAL_H
#include <pthread.h>
#include <sqlite3.h>
#include "atelier/jobs.h"
#include "atelier/stylize.h"

typedef struct job {
    char id[JOB_ID_LEN + 1];
    int64_t seq;                /* submission order (the row's key) */
    job_state state;
    job_params params;
    double created, started, finished, seconds;
    int attempts, width, height;
    char error[256];
    /* progress of a running job (memory only) */
    double progress, seconds_left;
    int iteration, iterations;
    unsigned version;           /* bumps on every change (jobs_wait) */
    unsigned preview;           /* bumps on every new preview file */
    bool cancel;                /* the worker's callback stops the run */
    bool deleted;               /* removed while running: the worker frees it */
    struct job *hnext;          /* hash chain */
    struct job *qprev, *qnext;  /* the queue, in submission order (queued jobs only) */
} job;

struct jobs {
    char *dir;                  /* the data folder */
    jobs_opts o;
    pthread_mutex_t mu, db_mu;
    pthread_cond_t work;        /* a job was queued, or stopping */
    pthread_cond_t changed;     /* some job changed (jobs_wait) */
    job **table;                /* (nbuckets) hash chains by id */
    int nbuckets, njobs;
    job *qhead, *qtail;         /* queued jobs, oldest first */
    int queued, pending;        /* queued, and being submitted (counted against the bound) */
    bool stopping;
    sqlite3 *db;
    int lock_fd;                /* DIR/lock, held (fcntl) while open: one server per folder */
    stylize_net *net;
    stylenet *fast;             /* the fast style network, or NULL (read-only once loaded) */
    struct jobs_thread *threads;
    int nthreads;
    jobs_stats stats;           /* counters (by_state is computed on demand) */
};

/* A worker: it takes the jobs of one path. */
typedef struct jobs_thread {
    pthread_t thread;
    jobs *j;
    job_path path;
} jobs_thread;

/* jobs.c: the table and the queue (call with mu held). The queue holds both paths' jobs in
 * submission order; a worker takes the oldest of its own path. */
job *jobs_find(jobs *j, const char *id);
void jobs_insert(jobs *j, job *e);
void jobs_unlink(jobs *j, job *e);      /* from the table (and the queue) */
void jobs_enqueue(jobs *j, job *e);
void jobs_dequeue(jobs *j, job *e);
job *jobs_first_queued(jobs *j, job_path path);   /* the oldest queued job of a path, or NULL */
void jobs_touch(jobs *j, job *e);       /* e->version++, wake waiters */
/* A path under the data folder: DIR/jobs/ID[/name]. */
void jobs_path(const jobs *j, const char *id, const char *name, char *buf, size_t size);
void jobs_remove_files(const jobs *j, const char *id);
void jobs_record_seconds(jobs *j, double seconds);

/* jobs_db.c: the records. Each returns STATUS_OK or STATUS_IO with error_set. */
status jobs_db_open(jobs *j);
/* Running rows back to queued; every row into memory (jobs_insert, queued ones enqueued). */
status jobs_db_load(jobs *j);
status jobs_db_insert(jobs *j, const job *e);
status jobs_db_started(jobs *j, const char *id);      /* running, attempts + 1 */
status jobs_db_requeue(jobs *j, const char *id);      /* back to queued */
status jobs_db_done(jobs *j, const char *id, double seconds, int w, int h);
status jobs_db_set_path(jobs *j, const char *id, job_path path);   /* a queued job rerouted */
status jobs_db_failed(jobs *j, const char *id, const char *error);
status jobs_db_delete(jobs *j, const char *id);
void jobs_db_close(jobs *j);

/* jobs_worker.c */
void *jobs_worker_main(void *arg);   /* arg: its jobs_thread */

double jobs_now(void);  /* unix seconds */

#endif
