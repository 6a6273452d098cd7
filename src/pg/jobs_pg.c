/* jobs_pg.c: the job queue's records in PostgreSQL, shared by any number of processes on
 * any number of machines (jobs_pg_store; the contract is jobs_internal.h's jobs_store).
 *
 * Tables (created once, under an advisory lock, so two processes starting together agree):
 *   atelier_jobs      the records of SQLite's table, plus owner (the lease holder's name)
 *                     and lease_until (when the lease runs out, on the database's clock)
 *   atelier_blobs     (id, name) -> bytea and its sha256: content.png, style.png,
 *                     preview.jpg, result.png; deleted with their job (ON DELETE CASCADE)
 *   atelier_done_log  one row per done recorded: the proof of exactly once (tests count it)
 * Every statement that changes a job is one statement (data-modifying CTEs), so it commits
 * whole or not at all and can be run again after a lost connection: an insert that did
 * commit answers "duplicate id" the second time; a done that did commit finds the row done.
 * Each also NOTIFYs atelier_jobs with the job's id (delivered at commit); progress is a
 * NOTIFY only ("p ID ..."): memory, as with SQLite.
 *
 * Two connections: the operations' (under db_mu) and the keeper thread's, which LISTENs,
 * mirrors every change into memory, renews this process's leases every lease/3 s (a job
 * whose lease is gone is cancelled here: another worker has it) and, after a lost
 * connection, reconnects with backoff and reads every row again (notices were missed). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <libpq-fe.h>
#include "file_internal.h"
#include "jobs_internal.h"
#include "atelier/sha256.h"

#define SCHEMA_VERSION 1
#define RECONNECT_SECONDS 120.0   /* a worker gives up on a database gone longer than this */
#define REQUEST_SECONDS 5.0       /* what a client's request (submit, delete, a file) waits for
                                     the database: then it is told to try again (HTTP 503) */
#define PROGRESS_SECONDS 0.5      /* at most one progress notice per job per this */

typedef struct pg {
    char *conninfo;
    PGconn *conn;       /* operations, under db_mu */
    PGconn *listen;     /* the keeper's */
    char owner[128];    /* this process's name on its leases: host:pid:random */
    char lease[32];     /* lease seconds, as text for the statements */
    pthread_t keeper;
    bool keeper_started;
} pg;

static const char *const SCHEMA =
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(7301845001);"
    "CREATE TABLE IF NOT EXISTS atelier_schema (version INTEGER NOT NULL);"
    "INSERT INTO atelier_schema SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM atelier_schema);"
    "CREATE TABLE IF NOT EXISTS atelier_jobs ("
    " seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    " state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),"
    " created DOUBLE PRECISION NOT NULL, started DOUBLE PRECISION, finished DOUBLE PRECISION,"
    " style TEXT NOT NULL, size INTEGER NOT NULL, iterations INTEGER NOT NULL,"
    " strength DOUBLE PRECISION NOT NULL, preserve_colors INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, seconds DOUBLE PRECISION, width INTEGER, height INTEGER, error TEXT,"
    " path TEXT NOT NULL CHECK (path IN ('optimise', 'fast')), style2 TEXT NOT NULL, blend DOUBLE PRECISION NOT NULL,"
    " owner TEXT, lease_until TIMESTAMPTZ);"
    "CREATE INDEX IF NOT EXISTS atelier_jobs_queue ON atelier_jobs (path, seq) WHERE state IN ('queued', 'running');"
    "CREATE TABLE IF NOT EXISTS atelier_blobs ("
    " id TEXT NOT NULL REFERENCES atelier_jobs (id) ON DELETE CASCADE, name TEXT NOT NULL,"
    " data BYTEA NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (id, name));"
    "CREATE TABLE IF NOT EXISTS atelier_done_log (id TEXT NOT NULL, owner TEXT NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT now());"
    "COMMIT;";

#define COLUMNS "seq, id, state, created, started, finished, style, size, iterations, strength, preserve_colors, " \
                "attempts, seconds, width, height, error, path, style2, blend"

static double now_mono(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static bool stopping(jobs *j) {
    pthread_mutex_lock(&j->mu);
    bool s = j->stopping;
    pthread_mutex_unlock(&j->mu);
    return s;
}

/* ---- connections ---- */

/* The connection made (again) with backoff: 0.1 s doubling to 2 s, until `deadline` (on
 * now_mono's clock); gives up early when the queue stops. */
static status reconnect(jobs *j, PGconn **c, double deadline) {
    pg *p = j->pg;
    double wait = 0.1;
    for (;;) {
        if (*c) PQreset(*c);
        else *c = PQconnectdb(p->conninfo);
        if (*c && PQstatus(*c) == CONNECTION_OK) return STATUS_OK;
        double left = deadline - now_mono();
        if (left <= 0 || stopping(j)) {
            char why[200];
            snprintf(why, sizeof why, "%s", *c ? PQerrorMessage(*c) : "out of memory");
            why[strcspn(why, "\n")] = 0;
            return error_set(STATUS_IO, "postgresql: the database is not answering (%s): try again later", why);
        }
        if (wait > left) wait = left;
        struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
        nanosleep(&ts, NULL);
        if ((wait *= 2) > 2) wait = 2;
    }
}

/* One statement with text parameters (binary where lens[k] > 0), results as text (or
 * binary with binary_out). A broken connection is made again and the statement run again
 * (every statement here may run twice: the header says why). NULL with error_set on
 * failure; *sqlstate gets the error's code when asked. */
static PGresult *query_until(jobs *j, PGconn **c, double deadline, const char *sql, int n, const char *const *vals,
                             const int *lens, bool binary_out, char sqlstate[6]) {
    int fmts[16] = {0};
    for (int k = 0; lens && k < n; k++) fmts[k] = lens[k] > 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        if ((!*c || PQstatus(*c) != CONNECTION_OK) && reconnect(j, c, deadline) != STATUS_OK) return NULL;
        PGresult *r = PQexecParams(*c, sql, n, NULL, vals, lens, fmts, binary_out ? 1 : 0);
        ExecStatusType es = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        if (es == PGRES_TUPLES_OK || es == PGRES_COMMAND_OK) return r;
        const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        if (sqlstate) snprintf(sqlstate, 6, "%s", code ? code : "");
        if (PQstatus(*c) == CONNECTION_OK) {   /* the statement's own error: not retried */
            error_set(STATUS_IO, "postgresql: %s", r ? PQresultErrorMessage(r) : PQerrorMessage(*c));
            PQclear(r);
            return NULL;
        }
        PQclear(r);   /* the connection broke (a restart): again, on a new one */
    }
    error_set(STATUS_IO, "postgresql: the connection keeps breaking: %s", PQerrorMessage(*c));
    return NULL;
}

/* query_until with RECONNECT_SECONDS to get the database back (the keeper, the workers). */
static PGresult *query(jobs *j, PGconn **c, const char *sql, int n, const char *const *vals, const int *lens,
                       bool binary_out, char sqlstate[6]) {
    return query_until(j, c, now_mono() + RECONNECT_SECONDS, sql, n, vals, lens, binary_out, sqlstate);
}

/* query on the operations' connection, under db_mu (a worker's: it may wait for the
 * database for RECONNECT_SECONDS). */
static PGresult *op(jobs *j, const char *sql, int n, const char *const *vals, const int *lens, bool binary_out, char sqlstate[6]) {
    pg *p = j->pg;
    pthread_mutex_lock(&j->db_mu);
    PGresult *r = query(j, &p->conn, sql, n, vals, lens, binary_out, sqlstate);
    pthread_mutex_unlock(&j->db_mu);
    return r;
}

/* The same for a client's request: it waits at most REQUEST_SECONDS in all, for the
 * connection (a worker may hold it, reconnecting) and for the database; then STATUS_IO,
 * "not answering: try again later" (the service answers 503). */
static PGresult *op_request(jobs *j, const char *sql, int n, const char *const *vals, const int *lens, bool binary_out,
                            char sqlstate[6]) {
    pg *p = j->pg;
    double deadline = now_mono() + REQUEST_SECONDS;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)REQUEST_SECONDS;
    if (pthread_mutex_timedlock(&j->db_mu, &until) != 0) {
        error_set(STATUS_IO, "postgresql: the database is not answering (its connection is busy reconnecting): try again later");
        return NULL;
    }
    PGresult *r = query_until(j, &p->conn, deadline, sql, n, vals, lens, binary_out, sqlstate);
    bool away = !r && (!p->conn || PQstatus(p->conn) != CONNECTION_OK);
    pthread_mutex_unlock(&j->db_mu);
    if (away) {   /* the client is told no more than that (libpq's reason names sockets and hosts) */
        error_clear();
        error_set(STATUS_IO, "postgresql: the database is not answering: try again later");
    }
    return r;
}

/* ---- rows and the mirror ---- */

static void field_text(const PGresult *r, int row, int col, char *dst, size_t size) {
    snprintf(dst, size, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

static double field_double(const PGresult *r, int row, int col) {
    return PQgetisnull(r, row, col) ? 0 : strtod(PQgetvalue(r, row, col), NULL);
}

static job_state state_of(const char *s) {
    return !strcmp(s, "running") ? JOB_RUNNING : !strcmp(s, "done") ? JOB_DONE : !strcmp(s, "failed") ? JOB_FAILED : JOB_QUEUED;
}

/* A row of COLUMNS into t (zeroed first). */
static void row_job(const PGresult *r, int row, job *t) {
    char buf[16];
    memset(t, 0, sizeof *t);
    t->seq = (int64_t)field_double(r, row, 0);
    field_text(r, row, 1, t->id, sizeof t->id);
    field_text(r, row, 2, buf, sizeof buf);
    t->state = state_of(buf);
    t->created = field_double(r, row, 3);
    t->started = field_double(r, row, 4);
    t->finished = field_double(r, row, 5);
    field_text(r, row, 6, t->params.style, sizeof t->params.style);
    t->params.size = (int)field_double(r, row, 7);
    t->params.iterations = (int)field_double(r, row, 8);
    t->params.strength = (float)field_double(r, row, 9);
    t->params.preserve_colors = field_double(r, row, 10) != 0;
    t->attempts = (int)field_double(r, row, 11);
    t->seconds = field_double(r, row, 12);
    t->width = (int)field_double(r, row, 13);
    t->height = (int)field_double(r, row, 14);
    field_text(r, row, 15, t->error, sizeof t->error);
    field_text(r, row, 16, buf, sizeof buf);
    t->params.path = !strcmp(buf, "fast") ? JOB_PATH_FAST : JOB_PATH_OPTIMISE;
    field_text(r, row, 17, t->params.style2, sizeof t->params.style2);
    t->params.blend = (float)field_double(r, row, 18);
    t->seconds_left = -1;
}

/* The store's row into memory (mu held): a new job, or a change made by another process
 * (this process's running jobs are its workers' to change). */
static void mirror_row(jobs *j, const job *t) {
    job *e = jobs_find(j, t->id);
    if (!e) {
        if (!job_id_valid(t->id) || !(e = malloc(sizeof *e))) return;
        *e = *t;
        e->hnext = e->qprev = e->qnext = NULL;
        jobs_insert(j, e);
        if (e->state == JOB_QUEUED) jobs_enqueue(j, e);
        jobs_touch(j, e);
        pthread_cond_broadcast(&j->work);
        return;
    }
    e->stale = false;
    if (e->mine) return;
    if (e->state == JOB_QUEUED && t->state != JOB_QUEUED) jobs_dequeue(j, e);
    if (e->state != JOB_QUEUED && t->state == JOB_QUEUED) {
        e->seq = t->seq;
        e->state = JOB_QUEUED;
        jobs_enqueue(j, e);
        pthread_cond_broadcast(&j->work);
    }
    if (e->state != t->state && t->state != JOB_DONE) {   /* done keeps the run's last progress */
        e->progress = 0;
        e->seconds_left = -1;
        e->iteration = e->iterations = 0;
    }
    e->state = t->state;
    e->started = t->started;
    e->finished = t->finished;
    e->attempts = t->attempts;
    e->width = t->width;
    e->height = t->height;
    e->params.path = t->params.path;
    if (t->state != JOB_RUNNING) e->seconds = t->seconds;
    snprintf(e->error, sizeof e->error, "%s", t->error);
    jobs_touch(j, e);
}

/* A job gone from the store (deleted by some process): from memory too. */
static void mirror_gone(jobs *j, const char *id) {
    pthread_mutex_lock(&j->mu);
    job *e = jobs_find(j, id);
    bool free_it = false;
    if (e) {
        jobs_unlink(j, e);
        if (e->mine) e->deleted = e->cancel = true;   /* its worker frees it */
        else free_it = true;
        jobs_touch(j, e);
    }
    pthread_mutex_unlock(&j->mu);
    if (free_it) {
        jobs_remove_files(j, e->id);
        free(e);
    }
}

/* One job's row again, from connection c (the keeper's or, under db_mu, the operations'). */
static void sync_one(jobs *j, PGconn **c, const char *id) {
    const char *v[1] = {id};
    PGresult *r = query(j, c, "SELECT " COLUMNS " FROM atelier_jobs WHERE id = $1", 1, v, NULL, false, NULL);
    if (!r) { error_clear(); return; }
    if (PQntuples(r) == 1) {
        job t;
        row_job(r, 0, &t);
        pthread_mutex_lock(&j->mu);
        mirror_row(j, &t);
        pthread_mutex_unlock(&j->mu);
    } else {
        mirror_gone(j, id);
    }
    PQclear(r);
}

/* Every row again: what was missed while the connection was down. */
static status sync_all(jobs *j, PGconn **c) {
    PGresult *r = query(j, c, "SELECT " COLUMNS " FROM atelier_jobs ORDER BY seq", 0, NULL, NULL, false, NULL);
    if (!r) return error_status();
    pthread_mutex_lock(&j->mu);
    for (int b = 0; b < j->nbuckets; b++)
        for (job *e = j->table[b]; e; e = e->hnext) e->stale = true;
    for (int i = 0; i < PQntuples(r); i++) {
        job t;
        row_job(r, i, &t);
        mirror_row(j, &t);
    }
    char gone[64][JOB_ID_LEN + 1];
    int ngone = 0;
    for (int b = 0; b < j->nbuckets; b++)
        for (job *e = j->table[b]; e; e = e->hnext)
            if (e->stale && ngone < 64) memcpy(gone[ngone++], e->id, JOB_ID_LEN + 1);
    pthread_mutex_unlock(&j->mu);
    PQclear(r);
    for (int k = 0; k < ngone; k++) mirror_gone(j, gone[k]);
    return STATUS_OK;
}

/* "p ID iteration iterations progress seconds seconds_left preview": another process's run. */
static void mirror_progress(jobs *j, const char *msg) {
    char id[JOB_ID_LEN + 1];
    int it, its;
    unsigned preview;
    double f, secs, left;
    if (sscanf(msg, "p %32s %d %d %lf %lf %lf %u", id, &it, &its, &f, &secs, &left, &preview) != 7) return;
    pthread_mutex_lock(&j->mu);
    job *e = jobs_find(j, id);
    if (e && !e->mine && e->state == JOB_RUNNING) {
        e->iteration = it;
        e->iterations = its;
        e->progress = f;
        e->seconds = secs;
        e->seconds_left = left;
        e->preview = preview;
        jobs_touch(j, e);
    }
    pthread_mutex_unlock(&j->mu);
}

/* ---- the keeper thread: notices, leases, reconnection ---- */

/* This process's running jobs' leases, renewed in one statement; a job not renewed (its
 * lease ran out and another worker took it, or it was deleted) is cancelled. */
static void renew_leases(jobs *j) {
    pg *p = j->pg;
    char ids[64 * (JOB_ID_LEN + 1) + 3] = "{", mine[64][JOB_ID_LEN + 1];
    int n = 0;
    pthread_mutex_lock(&j->mu);
    for (int b = 0; b < j->nbuckets; b++)
        for (job *e = j->table[b]; e; e = e->hnext)
            if (e->mine && e->state == JOB_RUNNING && n < 64) memcpy(mine[n++], e->id, JOB_ID_LEN + 1);
    pthread_mutex_unlock(&j->mu);
    if (!n) return;
    for (int k = 0; k < n; k++) {
        strcat(ids, mine[k]);
        strcat(ids, k + 1 < n ? "," : "}");
    }
    const char *v[3] = {ids, p->owner, p->lease};
    PGresult *r = query(j, &p->listen, "UPDATE atelier_jobs SET lease_until = now() + make_interval(secs => $3::float8) "
                        "WHERE id = ANY($1::text[]) AND owner = $2 AND state = 'running' RETURNING id", 3, v, NULL, false, NULL);
    if (!r) { error_clear(); return; }   /* the database is away: the next round tries again */
    pthread_mutex_lock(&j->mu);
    for (int k = 0; k < n; k++) {
        bool kept = false;
        for (int i = 0; i < PQntuples(r) && !kept; i++) kept = !strcmp(PQgetvalue(r, i, 0), mine[k]);
        job *e = kept ? NULL : jobs_find(j, mine[k]);
        if (e && e->mine) e->cancel = true;
    }
    pthread_mutex_unlock(&j->mu);
    PQclear(r);
}

static status listen_start(jobs *j) {
    pg *p = j->pg;
    PGresult *r = query(j, &p->listen, "LISTEN atelier_jobs", 0, NULL, NULL, false, NULL);
    if (!r) return error_status();
    PQclear(r);
    return sync_all(j, &p->listen);
}

static void *keeper_main(void *arg) {
    jobs *j = arg;
    pg *p = j->pg;
    double last_renew = now_mono();
    while (!stopping(j)) {
        if (PQstatus(p->listen) != CONNECTION_OK) {
            if (reconnect(j, &p->listen, now_mono() + RECONNECT_SECONDS) != STATUS_OK || listen_start(j) != STATUS_OK) {
                error_clear();
                continue;   /* stopping, or the database is still away: reconnect tries again */
            }
        }
        struct pollfd pfd = {.fd = PQsocket(p->listen), .events = POLLIN};
        if (pfd.fd >= 0) poll(&pfd, 1, 250);
        if (!PQconsumeInput(p->listen)) continue;   /* broken: made again above */
        for (PGnotify *n; (n = PQnotifies(p->listen)); PQfreemem(n)) {
            if (n->extra[0] == 'p') mirror_progress(j, n->extra);
            else if (job_id_valid(n->extra)) sync_one(j, &p->listen, n->extra);
        }
        if (now_mono() - last_renew >= j->o.lease_seconds / 3) {
            renew_leases(j);
            last_renew = now_mono();
        }
    }
    return NULL;
}

/* ---- the store's operations ---- */

static void quiet_notice(void *arg, const char *message) {}

static status pg_open(jobs *j) {
    pg *p = calloc(1, sizeof *p);
    if (!p || !(p->conninfo = strdup(j->o.db))) {
        free(p);
        return error_set(STATUS_NOMEM, "jobs: out of memory");
    }
    j->pg = p;
    char host[64] = "host", rnd[JOB_ID_LEN + 1] = "0";
    gethostname(host, sizeof host - 1);
    if (job_random_id(rnd) != STATUS_OK) return error_status();
    snprintf(p->owner, sizeof p->owner, "%s:%d:%.8s", host, (int)getpid(), rnd);
    snprintf(p->lease, sizeof p->lease, "%g", j->o.lease_seconds);
    p->conn = PQconnectdb(p->conninfo);
    p->listen = PQconnectdb(p->conninfo);
    if (p->conn) PQsetNoticeProcessor(p->conn, quiet_notice, NULL);   /* "already exists, skipping" */
    if (PQstatus(p->conn) != CONNECTION_OK || PQstatus(p->listen) != CONNECTION_OK) {
        PGconn *bad = PQstatus(p->conn) != CONNECTION_OK ? p->conn : p->listen;
        char msg[400];
        snprintf(msg, sizeof msg, "%s", bad ? PQerrorMessage(bad) : "out of memory");
        msg[strcspn(msg, "\n")] = 0;
        return error_set(STATUS_IO, "postgresql: cannot connect: %s", msg);
    }
    PGresult *r = PQexec(p->conn, SCHEMA);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        error_set(STATUS_IO, "postgresql: cannot make the tables: %s", PQresultErrorMessage(r));
        PQclear(r);
        return error_status();
    }
    PQclear(r);
    r = PQexec(p->conn, "SELECT max(version) FROM atelier_schema");
    int v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    if (v != SCHEMA_VERSION)
        return error_set(STATUS_FORMAT, "postgresql: schema version %d, this program knows %d", v, SCHEMA_VERSION);
    return STATUS_OK;
}

static status pg_load(jobs *j) {
    pg *p = j->pg;
    if (listen_start(j) != STATUS_OK) return error_status();   /* LISTEN first: nothing missed */
    if (pthread_create(&p->keeper, NULL, keeper_main, j) != 0) return error_set(STATUS_NOMEM, "jobs: cannot start the keeper thread");
    p->keeper_started = true;
    return STATUS_OK;
}

/* A file's bytes (a few MB at most: inputs are resized to the job's size). */
static status slurp(const char *path, char **data, int *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return error_set(STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = size >= 0 && size < (1L << 30) ? malloc((size_t)size + 1) : NULL;
    bool ok = *data && fread(*data, 1, (size_t)size, f) == (size_t)size;
    fclose(f);
    if (!ok) { free(*data); *data = NULL; return error_set(STATUS_IO, "%s: cannot read", path); }
    *n = (int)size;
    return STATUS_OK;
}

static void hash_hex(const char *data, int n, char out[65]) {
    sha256_hex(data, (size_t)n, out);
}

/* A job's file, DIR/jobs/ID/name: its bytes and hash. */
static status read_blob(const jobs *j, const char *id, const char *name, char **data, int *n, char hex[65]) {
    char path[4200];
    jobs_path(j, id, name, path, sizeof path);
    if (slurp(path, data, n) != STATUS_OK) return error_status();
    hash_hex(*data, *n, hex);
    return STATUS_OK;
}

static status pg_insert(jobs *j, const job *e) {
    char *content = NULL, *style = NULL, hc[65], hs[65];
    int nc = 0, ns = 0;
    if (read_blob(j, e->id, "content.png", &content, &nc, hc) != STATUS_OK ||
        read_blob(j, e->id, "style.png", &style, &ns, hs) != STATUS_OK) {
        free(content);
        return error_status();
    }
    char created[32], size[16], its[16], strength[32], pc[4], blend[32];
    snprintf(created, sizeof created, "%.6f", e->created);
    snprintf(size, sizeof size, "%d", e->params.size);
    snprintf(its, sizeof its, "%d", e->params.iterations);
    snprintf(strength, sizeof strength, "%.9g", e->params.strength);
    snprintf(pc, sizeof pc, "%d", e->params.preserve_colors ? 1 : 0);
    snprintf(blend, sizeof blend, "%.9g", e->params.blend);
    const char *v[14] = {e->id, created, e->params.style, size, its, strength, pc, job_path_name(e->params.path),
                         e->params.style2, blend, content, hc, style, hs};
    int lens[14] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, nc, 0, ns, 0};
    char code[6] = "";
    PGresult *r = op_request(j,
        "WITH r AS (INSERT INTO atelier_jobs (id, state, created, style, size, iterations, strength, preserve_colors, path, "
        " style2, blend) VALUES ($1, 'queued', $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq, id), "
        "b AS (INSERT INTO atelier_blobs (id, name, data, sha256) SELECT r.id, v.name, v.data, v.sha FROM r, "
        " (VALUES ('content.png', $11::bytea, $12::text), ('style.png', $13::bytea, $14::text)) AS v (name, data, sha)) "
        "SELECT seq, pg_notify('atelier_jobs', id) FROM r", 14, v, lens, false, code);
    free(content);
    free(style);
    if (!r && !strcmp(code, "23505")) {   /* committed before the connection broke: ours */
        error_clear();
        r = op_request(j, "SELECT seq FROM atelier_jobs WHERE id = $1", 1, v, NULL, false, NULL);
    }
    if (!r) return error_status();
    status st = PQntuples(r) == 1 ? STATUS_OK : error_set(STATUS_IO, "postgresql: the job was not recorded");
    if (st == STATUS_OK) ((job *)e)->seq = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return st;
}

/* The oldest claimable job of the lane: queued, or running with its lease run out (its
 * worker died). SKIP LOCKED: workers claiming at once take different jobs, none waits. */
static PGresult *claim_row(jobs *j, job_path lane) {
    pg *p = j->pg;
    char started[32];
    snprintf(started, sizeof started, "%.6f", jobs_now());
    const char *v[4] = {p->owner, job_path_name(lane), p->lease, started};
    return op(j,
        "WITH c AS (UPDATE atelier_jobs SET state = 'running', owner = $1, attempts = attempts + 1, started = $4, "
        " lease_until = now() + make_interval(secs => $3::float8) WHERE seq = (SELECT seq FROM atelier_jobs "
        " WHERE path = $2 AND (state = 'queued' OR (state = 'running' AND lease_until < now())) "
        " ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING " COLUMNS ") "
        "SELECT c.*, pg_notify('atelier_jobs', c.id) FROM c", 4, v, NULL, false, NULL);
}

/* The claimed row as this process's running job. */
static job *take_claimed(jobs *j, const job *t) {
    pthread_mutex_lock(&j->mu);
    job *e = jobs_find(j, t->id);
    if (!e && (e = malloc(sizeof *e))) {
        *e = *t;
        e->state = JOB_RUNNING;
        jobs_insert(j, e);
    }
    if (e) {
        if (e->state == JOB_QUEUED) jobs_dequeue(j, e);
        e->state = JOB_RUNNING;
        e->seq = t->seq;
        e->started = t->started;
        e->attempts = t->attempts;
        e->params = t->params;
        e->mine = true;
        e->cancel = e->deleted = false;
        e->progress = e->seconds = 0;
        e->iteration = e->iterations = 0;
        e->seconds_left = -1;
        e->published = 0;
        jobs_touch(j, e);
    }
    pthread_mutex_unlock(&j->mu);
    return e;
}

static job *pg_claim(jobs *j, job_path lane) {
    while (!stopping(j)) {
        PGresult *r = claim_row(j, lane);
        job *e = NULL;
        if (r && PQntuples(r) == 1) {
            job t;
            row_job(r, 0, &t);
            e = take_claimed(j, &t);
        }
        PQclear(r);
        error_clear();   /* the database away: wait and try again */
        if (e) return e;
        /* woken by a notice of a new job; every second anyway, for leases that ran out */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_mutex_lock(&j->mu);
        if (!j->stopping) pthread_cond_timedwait(&j->work, &j->mu, &until);
        pthread_mutex_unlock(&j->mu);
    }
    return NULL;
}

/* DIR/jobs/ID/name from its blob, its hash checked. Inputs and results never change, so a
 * cached one is kept; a preview is fetched every time. */
static status fetch_blob(jobs *j, const char *id, const char *name, bool request) {
    char path[4200], hex[65];
    jobs_path(j, id, name, path, sizeof path);
    if (strcmp(name, "preview.jpg") && access(path, F_OK) == 0) return STATUS_OK;
    const char *v[2] = {id, name}, *sql = "SELECT data, sha256 FROM atelier_blobs WHERE id = $1 AND name = $2";
    PGresult *r = request ? op_request(j, sql, 2, v, NULL, true, NULL) : op(j, sql, 2, v, NULL, true, NULL);
    if (!r) return error_status();
    status st = STATUS_OK;
    if (PQntuples(r) != 1) st = error_set(STATUS_IO, "job %s has no %s (yet)", id, name);
    else {
        const char *data = PQgetvalue(r, 0, 0);
        int n = PQgetlength(r, 0, 0);
        char want[65];
        snprintf(want, sizeof want, "%.*s", PQgetlength(r, 0, 1), PQgetvalue(r, 0, 1));
        hash_hex(data, n, hex);
        if (strcmp(hex, want)) st = error_set(STATUS_FORMAT, "job %s: %s is corrupt in the database (sha256 %s, recorded %s)", id, name, hex, want);
        char dir[4200];
        jobs_path(j, id, NULL, dir, sizeof dir);
        if (st == STATUS_OK && mkdir(dir, 0755) != 0 && errno != EEXIST) st = error_set(STATUS_IO, "%s: cannot make the folder: %s", dir, strerror(errno));
        if (st == STATUS_OK) st = file_write_atomic(path, data, (size_t)n);
    }
    PQclear(r);
    return st;
}

/* a client's file (a result, a preview): within REQUEST_SECONDS */
static status pg_fetch(jobs *j, const char *id, const char *name) { return fetch_blob(j, id, name, true); }

/* a worker's inputs: it waits for the database as long as a worker does */
static status pg_fetch_inputs(jobs *j, const job *e) {
    if (fetch_blob(j, e->id, "content.png", false) != STATUS_OK) return error_status();
    return fetch_blob(j, e->id, "style.png", false);
}

static void pg_progress(jobs *j, const job *e, bool fresh) {
    pg *p = j->pg;
    char msg[200], id[JOB_ID_LEN + 1];
    double t = now_mono();
    pthread_mutex_lock(&j->mu);
    bool due = fresh || t - e->published >= PROGRESS_SECONDS;
    if (due) {
        ((job *)e)->published = t;
        memcpy(id, e->id, sizeof id);
        snprintf(msg, sizeof msg, "p %s %d %d %.6f %.3f %.3f %u", e->id, e->iteration, e->iterations, e->progress, e->seconds,
                 e->seconds_left, e->preview);
    }
    pthread_mutex_unlock(&j->mu);
    if (!due) return;
    if (fresh) {   /* the preview's bytes first, so a notice never names a missing one */
        char *data = NULL, hex[65];
        int n = 0;
        if (read_blob(j, id, "preview.jpg", &data, &n, hex) == STATUS_OK) {
            const char *v[4] = {id, data, hex, p->owner};
            int lens[4] = {0, n, 0, 0};
            PGresult *r = op(j, "INSERT INTO atelier_blobs (id, name, data, sha256) SELECT id, 'preview.jpg', $2, $3 "
                             "FROM atelier_jobs WHERE id = $1 AND owner = $4 ON CONFLICT (id, name) DO UPDATE SET "
                             "data = EXCLUDED.data, sha256 = EXCLUDED.sha256", 4, v, lens, false, NULL);
            PQclear(r);
        }
        free(data);
    }
    const char *v[1] = {msg};
    PQclear(op(j, "SELECT pg_notify('atelier_jobs', $1)", 1, v, NULL, false, NULL));
    error_clear();   /* progress is best effort */
}

static status pg_requeue(jobs *j, const char *id) {
    pg *p = j->pg;
    const char *v[2] = {id, p->owner};
    PGresult *r = op(j, "WITH u AS (UPDATE atelier_jobs SET state = 'queued', owner = NULL, lease_until = NULL "
                     "WHERE id = $1 AND owner = $2 AND state = 'running' RETURNING id) "
                     "SELECT pg_notify('atelier_jobs', id) FROM u", 2, v, NULL, false, NULL);
    if (!r) return error_status();
    PQclear(r);
    return STATUS_OK;
}

/* What the row says when a change by the lease's holder changed nothing: done already (an
 * earlier try of ours committed before the connection broke, or another worker finished
 * it): STATUS_OK; else another worker holds it: STATUS_BUSY. */
static status after_nothing(jobs *j, const char *id) {
    const char *v[1] = {id};
    PGresult *r = op(j, "SELECT state FROM atelier_jobs WHERE id = $1", 1, v, NULL, false, NULL);
    if (!r) return error_status();
    bool done = PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "done");
    PQclear(r);
    return done ? STATUS_OK : error_set(STATUS_BUSY, "job %s: the lease was lost: another worker has it", id);
}

static status pg_done(jobs *j, const char *id, double seconds, int w, int h) {
    pg *p = j->pg;
    char *data = NULL, hex[65], fin[32], secs[32], ws[16], hs[16];
    int n = 0;
    if (read_blob(j, id, "result.png", &data, &n, hex) != STATUS_OK) return error_status();
    snprintf(fin, sizeof fin, "%.6f", jobs_now());
    snprintf(secs, sizeof secs, "%.6f", seconds);
    snprintf(ws, sizeof ws, "%d", w);
    snprintf(hs, sizeof hs, "%d", h);
    const char *v[8] = {id, p->owner, fin, secs, ws, hs, data, hex};
    int lens[8] = {0, 0, 0, 0, 0, 0, n, 0};
    /* the state, the result and the log row in one statement: all or none */
    PGresult *r = op(j,
        "WITH u AS (UPDATE atelier_jobs SET state = 'done', finished = $3, seconds = $4, width = $5, height = $6, error = NULL, "
        " owner = NULL, lease_until = NULL WHERE id = $1 AND owner = $2 AND state = 'running' RETURNING id), "
        "b AS (INSERT INTO atelier_blobs (id, name, data, sha256) SELECT id, 'result.png', $7::bytea, $8 FROM u "
        " ON CONFLICT (id, name) DO UPDATE SET data = EXCLUDED.data, sha256 = EXCLUDED.sha256), "
        "l AS (INSERT INTO atelier_done_log (id, owner) SELECT id, $2 FROM u) "
        "SELECT pg_notify('atelier_jobs', id) FROM u", 8, v, lens, false, NULL);
    free(data);
    if (!r) return error_status();
    int rows = PQntuples(r);
    PQclear(r);
    return rows == 1 ? STATUS_OK : after_nothing(j, id);
}

static status pg_failed(jobs *j, const char *id, const char *error) {
    pg *p = j->pg;
    char fin[32];
    snprintf(fin, sizeof fin, "%.6f", jobs_now());
    const char *v[4] = {id, p->owner, fin, error};
    PGresult *r = op(j, "WITH u AS (UPDATE atelier_jobs SET state = 'failed', finished = $3, error = $4, owner = NULL, "
                     "lease_until = NULL WHERE id = $1 AND (state = 'queued' OR (owner = $2 AND state = 'running')) RETURNING id) "
                     "SELECT pg_notify('atelier_jobs', id) FROM u", 4, v, NULL, false, NULL);
    if (!r) return error_status();
    int rows = PQntuples(r);
    PQclear(r);
    return rows == 1 ? STATUS_OK : error_set(STATUS_BUSY, "job %s: the lease was lost: another worker has it", id);
}

static status pg_set_path(jobs *j, const char *id, job_path path) {
    const char *v[2] = {id, job_path_name(path)};
    PGresult *r = op(j, "WITH u AS (UPDATE atelier_jobs SET path = $2 WHERE id = $1 AND state = 'queued' RETURNING id) "
                     "SELECT pg_notify('atelier_jobs', id) FROM u", 2, v, NULL, false, NULL);
    if (!r) return error_status();
    PQclear(r);
    return STATUS_OK;
}

static status pg_delete(jobs *j, const char *id) {
    const char *v[1] = {id};
    PGresult *r = op_request(j, "WITH d AS (DELETE FROM atelier_jobs WHERE id = $1 RETURNING id) "
                     "SELECT pg_notify('atelier_jobs', id) FROM d", 1, v, NULL, false, NULL);
    if (!r) return error_status();
    PQclear(r);
    return STATUS_OK;
}

static void pg_refresh(jobs *j, const char *id) {
    pg *p = j->pg;
    pthread_mutex_lock(&j->db_mu);
    sync_one(j, &p->conn, id);
    pthread_mutex_unlock(&j->db_mu);
}

static void pg_stop(jobs *j) {}   /* claim and the keeper wake within a second */

static void pg_close(jobs *j) {
    pg *p = j->pg;
    if (!p) return;
    if (p->keeper_started) pthread_join(p->keeper, NULL);   /* jobs_stop came first */
    if (p->conn) PQfinish(p->conn);
    if (p->listen) PQfinish(p->listen);
    free(p->conninfo);
    free(p);
    j->pg = NULL;
}

static const jobs_store pg_store = {
    .name = "postgresql",
    .shared = true,
    .open = pg_open,
    .load = pg_load,
    .insert = pg_insert,
    .claim = pg_claim,
    .fetch_inputs = pg_fetch_inputs,
    .progress = pg_progress,
    .requeue = pg_requeue,
    .done = pg_done,
    .set_path = pg_set_path,
    .failed = pg_failed,
    .delete_job = pg_delete,
    .fetch = pg_fetch,
    .refresh = pg_refresh,
    .stop = pg_stop,
    .close = pg_close,
};

const jobs_store *jobs_pg_store_get(void) { return &pg_store; }
