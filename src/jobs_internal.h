/* jobs_internal.h: the job queue's parts (jobs.h): the in-memory table (jobs.c), the store
 * of its records behind one interface (jobs_store: SQLite in jobs_db.c, PostgreSQL in
 * pg/jobs_pg.c) and the workers (jobs_worker.c).
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
    bool mine;                  /* run by a worker of this process (a shared store's other
                                 * processes' changes do not overwrite it) */
    bool stale;                 /* a shared store's resync: not seen in the store (yet) */
    double published;           /* a shared store: when progress was last published */
    struct job *hnext;          /* hash chain */
    struct job *qprev, *qnext;  /* the queue, in submission order (queued jobs only) */
} job;

typedef struct jobs_store jobs_store;

struct jobs {
    char *dir;                  /* the data folder (a shared store: a cache of the blobs) */
    const jobs_store *store;    /* where the records live */
    void *pg;                   /* the PostgreSQL store's state (pg/jobs_pg.c), or NULL */
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

/* The store of the records: one table of function pointers, so the job logic above it
 * (jobs.c, jobs_worker.c) exists once. Each returns STATUS_OK, or an error with error_set.
 *
 * SQLite (jobs_sqlite_store, jobs_db.c): one process owns the folder; the memory is the
 * queue, claim takes its oldest job; files live in DIR/jobs/ID/.
 * PostgreSQL (jobs_pg_store, pg/jobs_pg.c, built with libpq): any number of processes
 * share one database. claim is SELECT ... FOR UPDATE SKIP LOCKED with a lease that a
 * keeper thread renews; a lease that runs out (a dead worker) makes the job claimable
 * again; done is recorded only by the lease's holder (exactly once); every change is
 * NOTIFYed, and each process LISTENs and mirrors it into memory (events reach a client
 * whatever server it is connected to). Inputs, previews and results are bytea rows with
 * their sha256, checked when fetched into DIR/jobs/ID/ (a cache). */
struct jobs_store {
    const char *name;          /* "sqlite", "postgresql" */
    bool shared;               /* other processes share the queue */
    status (*open)(jobs *j);
    /* Every row into memory (jobs_insert, queued ones enqueued); SQLite first puts running
     * rows back to queued (its process died), a shared store leaves them to their leases. */
    status (*load)(jobs *j);
    /* A new job, its inputs (DIR/jobs/ID/content.png, style.png) already written. */
    status (*insert)(jobs *j, const job *e);
    /* The oldest queued job of a lane, marked running (attempts + 1), mine; waits for one.
     * NULL when stopping. A job whose record cannot be written is failed, not run. */
    job *(*claim)(jobs *j, job_path lane);
    /* A claimed job's inputs into DIR/jobs/ID/ (hashes checked). */
    status (*fetch_inputs)(jobs *j, const job *e);
    /* Progress of a running job (mine), published to the other processes; with a new
     * preview file (fresh) its bytes too. Rate-limited by the store. */
    void (*progress)(jobs *j, const job *e, bool fresh);
    status (*requeue)(jobs *j, const char *id);       /* back to queued (only by its holder) */
    /* Done, with DIR/jobs/ID/result.png: recorded once. STATUS_BUSY: the lease was lost
     * and another worker holds the job now (nothing recorded). */
    status (*done)(jobs *j, const char *id, double seconds, int w, int h);
    status (*set_path)(jobs *j, const char *id, job_path path);   /* a queued job rerouted */
    status (*failed)(jobs *j, const char *id, const char *error);
    status (*delete_job)(jobs *j, const char *id);
    /* DIR/jobs/ID/name brought up to date from the store (a shared store's blob; SQLite's
     * files are already there). */
    status (*fetch)(jobs *j, const char *id, const char *name);
    /* The row of a job again into memory, after this process's worker let go of it. */
    void (*refresh)(jobs *j, const char *id);
    void (*stop)(jobs *j);     /* wakes what waits in the store (claim, listeners) */
    void (*close)(jobs *j);
};

extern const jobs_store jobs_sqlite_store;
/* NULL when this build has no PostgreSQL (libpq). */
const jobs_store *jobs_pg_store_get(void);

/* jobs_db.c: SQLite's records (used by jobs_sqlite_store). */
status jobs_db_requeue(jobs *j, const char *id);      /* back to queued */

/* jobs_worker.c */
void *jobs_worker_main(void *arg);   /* arg: its jobs_thread */
/* The oldest queued job of the lane in memory, taken off the queue and marked running
 * (memory only); waits on `work`; NULL when stopping. */
job *jobs_take_queued(jobs *j, job_path lane);
/* A job that cannot run: recorded failed (memory and store). */
void jobs_fail_claimed(jobs *j, job *e, const char *why);

double jobs_now(void);  /* unix seconds */

#endif
