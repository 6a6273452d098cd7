/* jobs_db.c: the job records in SQLite, jobs_sqlite_store (see jobs.h, jobs_internal.h).
 *
 * WAL with synchronous=FULL: every commit fsyncs the log, so a job whose id was returned
 * survives a power cut, not only a crash of the process (NORMAL would keep it across a
 * crash but could lose the last commits on power loss). Commits are few (one per
 * submission and per state change) and no reader waits for them (jobs_internal.h), so the
 * fsync costs nothing that a client sees but the submitter.
 *
 * One connection, used under db_mu. The schema is versioned by PRAGMA user_version; an older
 * database is migrated in one transaction when it is opened (version 1 -> 2: the fast path's
 * columns, with defaults that make every old row an optimisation job as it was), a newer
 * one is refused. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "jobs_internal.h"

#define SCHEMA_VERSION 2

/* Version 1, the first; MIGRATIONS[v - 1] takes version v to v + 1. */
static const char *const SCHEMA =
    "CREATE TABLE jobs ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"    /* submission order */
    " id TEXT NOT NULL UNIQUE,"
    " state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),"
    " created REAL NOT NULL, started REAL, finished REAL,"
    " style TEXT NOT NULL, size INTEGER NOT NULL, iterations INTEGER NOT NULL,"
    " strength REAL NOT NULL, preserve_colors INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " seconds REAL, width INTEGER, height INTEGER, error TEXT);"
    "PRAGMA user_version = 1;";

static const char *const MIGRATIONS[SCHEMA_VERSION - 1] = {
    /* 1 -> 2: the path a job is painted on, and the fast path's blend of two styles */
    "ALTER TABLE jobs ADD COLUMN path TEXT NOT NULL DEFAULT 'optimise' CHECK (path IN ('optimise', 'fast'));"
    "ALTER TABLE jobs ADD COLUMN style2 TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE jobs ADD COLUMN blend REAL NOT NULL DEFAULT 0;"
    "PRAGMA user_version = 2;",
};

static status db_fail(jobs *j, const char *what) {
    return error_set(STATUS_IO, "%s/jobs.db: %s: %s", j->dir, what, j->db ? sqlite3_errmsg(j->db) : "cannot open");
}

static status exec(jobs *j, const char *sql) {
    return sqlite3_exec(j->db, sql, NULL, NULL, NULL) == SQLITE_OK ? STATUS_OK : db_fail(j, "query failed");
}

/* One server per data folder: two would run the same jobs. The lock goes with the process,
 * so a server killed with SIGKILL does not keep it. */
static status lock_folder(jobs *j) {
    char path[4200];
    snprintf(path, sizeof path, "%s/lock", j->dir);
    j->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (j->lock_fd < 0) return error_set(STATUS_IO, "%s: cannot open: %s", path, strerror(errno));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(j->lock_fd, F_SETLK, &fl) != 0)
        return error_set(STATUS_IO, "%s is in use by another server (its lock %s is held)", j->dir, path);
    return STATUS_OK;
}

static int user_version(jobs *j) {
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(j->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static status jobs_db_open(jobs *j) {
    char path[4200];
    if (lock_folder(j) != STATUS_OK) return error_status();
    snprintf(path, sizeof path, "%s/jobs.db", j->dir);
    if (sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        return db_fail(j, "cannot open");
    sqlite3_busy_timeout(j->db, 5000);
    if (exec(j, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;") != STATUS_OK) return error_status();
    int v = user_version(j);
    if (v < 0) return db_fail(j, "cannot read the schema version");
    if (v > SCHEMA_VERSION)
        return error_set(STATUS_FORMAT, "%s: schema version %d, this program knows up to %d (a newer Atelier made it)", path, v,
                         SCHEMA_VERSION);
    if (v == SCHEMA_VERSION) return STATUS_OK;
    /* create, or migrate: all the steps in one transaction, so a crash leaves the old version */
    if (exec(j, "BEGIN IMMEDIATE") != STATUS_OK) return error_status();
    status st = v == 0 ? exec(j, SCHEMA) : STATUS_OK;
    for (int k = v ? v : 1; st == STATUS_OK && k < SCHEMA_VERSION; k++) st = exec(j, MIGRATIONS[k - 1]);
    if (st != STATUS_OK) { sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL); return error_status(); }
    return exec(j, "COMMIT");
}

static void jobs_db_close(jobs *j) {
    if (j->db) sqlite3_close(j->db);   /* checkpoints the WAL into the database */
    j->db = NULL;
    if (j->lock_fd >= 0) close(j->lock_fd);
    j->lock_fd = -1;
}

/* ---- loading ---- */

static job_state state_of(const char *s) {
    return !strcmp(s, "running") ? JOB_RUNNING : !strcmp(s, "done") ? JOB_DONE : !strcmp(s, "failed") ? JOB_FAILED : JOB_QUEUED;
}

static void copy_text(char *dst, size_t size, const unsigned char *src) {
    snprintf(dst, size, "%s", src ? (const char *)src : "");
}

static job *row_job(sqlite3_stmt *st) {
    job *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->seq = sqlite3_column_int64(st, 0);
    copy_text(e->id, sizeof e->id, sqlite3_column_text(st, 1));
    e->state = state_of((const char *)sqlite3_column_text(st, 2));
    e->created = sqlite3_column_double(st, 3);
    e->started = sqlite3_column_double(st, 4);
    e->finished = sqlite3_column_double(st, 5);
    copy_text(e->params.style, sizeof e->params.style, sqlite3_column_text(st, 6));
    e->params.size = sqlite3_column_int(st, 7);
    e->params.iterations = sqlite3_column_int(st, 8);
    e->params.strength = (float)sqlite3_column_double(st, 9);
    e->params.preserve_colors = sqlite3_column_int(st, 10) != 0;
    e->attempts = sqlite3_column_int(st, 11);
    e->seconds = sqlite3_column_double(st, 12);
    e->width = sqlite3_column_int(st, 13);
    e->height = sqlite3_column_int(st, 14);
    copy_text(e->error, sizeof e->error, sqlite3_column_text(st, 15));
    const unsigned char *path = sqlite3_column_text(st, 16);
    e->params.path = path && !strcmp((const char *)path, "fast") ? JOB_PATH_FAST : JOB_PATH_OPTIMISE;
    copy_text(e->params.style2, sizeof e->params.style2, sqlite3_column_text(st, 17));
    e->params.blend = (float)sqlite3_column_double(st, 18);
    e->seconds_left = -1;
    return e;
}

static status jobs_db_load(jobs *j) {
    /* A job that was running when the process died runs again from the start. */
    if (exec(j, "UPDATE jobs SET state = 'queued' WHERE state = 'running'") != STATUS_OK) return error_status();
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(j->db, "SELECT seq, id, state, created, started, finished, style, size, iterations, strength, "
                           "preserve_colors, attempts, seconds, width, height, error, path, style2, blend FROM jobs ORDER BY seq", -1, &st, NULL) != SQLITE_OK)
        return db_fail(j, "cannot read the jobs");
    int rc;
    status s = STATUS_OK;
    while (s == STATUS_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        job *e = row_job(st);
        if (!e) { s = error_set(STATUS_NOMEM, "jobs: out of memory"); break; }
        if (!job_id_valid(e->id) || jobs_find(j, e->id)) { free(e); continue; }   /* not ours */
        jobs_insert(j, e);
        if (e->state == JOB_QUEUED) jobs_enqueue(j, e);
    }
    if (s == STATUS_OK && rc != SQLITE_DONE) s = db_fail(j, "cannot read the jobs");
    sqlite3_finalize(st);
    return s;
}

/* ---- changes: each one statement, committed (autocommit) before it returns ---- */

/* Runs sql with the id as ?1 and b's values (doubles, integers, text) as ?2, ?3, ... */
typedef struct binds { int n; struct { char kind; double d; int64_t i; const char *s; } v[4]; } binds;

static status run(jobs *j, const char *sql, const char *id, const binds *b) {
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&j->db_mu);
    int rc = sqlite3_prepare_v2(j->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    for (int k = 0; rc == SQLITE_OK && b && k < b->n; k++) {
        if (b->v[k].kind == 'd') rc = sqlite3_bind_double(st, k + 2, b->v[k].d);
        else if (b->v[k].kind == 'i') rc = sqlite3_bind_int64(st, k + 2, b->v[k].i);
        else rc = sqlite3_bind_text(st, k + 2, b->v[k].s, -1, SQLITE_TRANSIENT);
    }
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    status s = rc == SQLITE_DONE ? STATUS_OK : db_fail(j, "cannot record a change");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&j->db_mu);
    return s;
}

static status jobs_db_insert(jobs *j, const job *e) {
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&j->db_mu);
    int rc = sqlite3_prepare_v2(j->db, "INSERT INTO jobs (id, state, created, style, size, iterations, strength, preserve_colors, "
                                "path, style2, blend) VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 1, e->id, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK) rc = sqlite3_bind_double(st, 2, e->created);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 3, e->params.style, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int(st, 4, e->params.size);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int(st, 5, e->params.iterations);
    if (rc == SQLITE_OK) rc = sqlite3_bind_double(st, 6, e->params.strength);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int(st, 7, e->params.preserve_colors);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 8, job_path_name(e->params.path), -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 9, e->params.style2, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK) rc = sqlite3_bind_double(st, 10, e->params.blend);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    status s = rc == SQLITE_DONE ? STATUS_OK : db_fail(j, "cannot record the job");
    if (s == STATUS_OK) ((job *)e)->seq = sqlite3_last_insert_rowid(j->db);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&j->db_mu);
    return s;
}

static status jobs_db_started(jobs *j, const char *id) {
    binds b = {1, {{'d', jobs_now(), 0, NULL}}};
    return run(j, "UPDATE jobs SET state = 'running', attempts = attempts + 1, started = ?2 WHERE id = ?1", id, &b);
}

status jobs_db_requeue(jobs *j, const char *id) {
    return run(j, "UPDATE jobs SET state = 'queued' WHERE id = ?1", id, NULL);
}

static status jobs_db_done(jobs *j, const char *id, double seconds, int w, int h) {
    binds b = {4, {{'d', jobs_now(), 0, NULL}, {'d', seconds, 0, NULL}, {'i', 0, w, NULL}, {'i', 0, h, NULL}}};
    return run(j, "UPDATE jobs SET state = 'done', finished = ?2, seconds = ?3, width = ?4, height = ?5, error = NULL "
               "WHERE id = ?1", id, &b);
}

static status jobs_db_set_path(jobs *j, const char *id, job_path path) {
    binds b = {1, {{'s', 0, 0, job_path_name(path)}}};
    return run(j, "UPDATE jobs SET path = ?2 WHERE id = ?1", id, &b);
}

static status jobs_db_failed(jobs *j, const char *id, const char *error) {
    binds b = {2, {{'d', jobs_now(), 0, NULL}, {'s', 0, 0, error}}};
    return run(j, "UPDATE jobs SET state = 'failed', finished = ?2, error = ?3 WHERE id = ?1", id, &b);
}

static status jobs_db_delete(jobs *j, const char *id) {
    return run(j, "DELETE FROM jobs WHERE id = ?1", id, NULL);
}

/* ---- the store's table ---- */

/* The oldest queued job of the lane, recorded running; one that cannot be recorded is not
 * run (failed, saying why). */
static job *db_claim(jobs *j, job_path lane) {
    for (job *e; (e = jobs_take_queued(j, lane));) {
        if (jobs_db_started(j, e->id) == STATUS_OK) return e;
        char why[256];
        snprintf(why, sizeof why, "%s", error_message());
        error_clear();
        jobs_fail_claimed(j, e, why);
    }
    return NULL;
}

/* One process, one folder: the files are where the workers and the server read them. */
static status db_fetch_inputs(jobs *j, const job *e) { return STATUS_OK; }
static void db_progress(jobs *j, const job *e, bool fresh) {}
static status db_fetch(jobs *j, const char *id, const char *name) { return STATUS_OK; }
static void db_refresh(jobs *j, const char *id) {}
static void db_stop(jobs *j) {}

const jobs_store jobs_sqlite_store = {
    .name = "sqlite",
    .shared = false,
    .open = jobs_db_open,
    .load = jobs_db_load,
    .insert = jobs_db_insert,
    .claim = db_claim,
    .fetch_inputs = db_fetch_inputs,
    .progress = db_progress,
    .requeue = jobs_db_requeue,
    .done = jobs_db_done,
    .set_path = jobs_db_set_path,
    .failed = jobs_db_failed,
    .delete_job = jobs_db_delete,
    .fetch = db_fetch,
    .refresh = db_refresh,
    .stop = db_stop,
    .close = jobs_db_close,
};
