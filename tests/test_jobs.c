/* The job queue (jobs.h) on its own: what jobs_open recovers from a crash (folders with no
 * row, interrupted writes, a done job whose result is gone), settings out of range, ids,
 * deletion of unknown jobs, and the stylize options a job's settings give. The fast path
 * with a tiny random style network made here (the built-in one may be absent): one style,
 * a blend, strength 0, its own worker beside a long optimisation; the database of the
 * version before the fast path, migrated; queued fast jobs a new model cannot paint. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "atelier/arena.h"
#include "atelier/jobs.h"
#include "atelier/rng.h"
#include "atelier/sha256.h"
#include "atelier/stylenet.h"
#include "harness.h"

static image *picture(int w, int h, int seed) {
    image *im = image_new(w, h, 3);
    for (int i = 0; im && i < 3 * w * h; i++) im->data[i] = (float)((i * (seed + 3) / 5) % 9) / 8.0f;
    return im;
}

static jobs *open_queue_with(const char *dir, const char *model) {
    jobs_opts o = jobs_defaults();
    o.data_dir = dir;
    o.style_model = model;
    jobs *q = jobs_open(&o);
    CHECK_MSG(q != NULL, "jobs_open: %s", error_message());
    return q;
}

static jobs *open_queue(void) { return open_queue_with(test_tmp_path("data"), NULL); }

/* A tiny fast style network (width 0.25: 8/16/32 channels) with random weights and distinct
 * style rows, so that its styles paint differently, saved at path with these names. */
static bool make_model(const char *path, const char *const *names, int n) {
    arena *a = arena_new(1 << 20);
    stylenet m;
    bool ok = a && stylenet_init(&m, a, 7, n, 0.25f) == STATUS_OK;
    for (int l = 0; ok && l < STYLENET_NORMS; l++) {
        rng_uniform_at(100 + (uint64_t)l, 1, m.gamma[l]->data, m.gamma[l]->numel, 0.5f, 1.5f);
        rng_uniform_at(200 + (uint64_t)l, 2, m.beta[l]->data, m.beta[l]->numel, -0.5f, 0.5f);
    }
    for (int i = 0; ok && i < n; i++) snprintf(m.names[i], STYLENET_NAME_MAX, "%s", names[i]);
    ok = ok && stylenet_save(&m, path, NULL, 0) == STATUS_OK;
    arena_free(a);
    return ok;
}

static double max_diff(const image *a, const image *b) {
    double m = 0;
    for (int64_t i = 0; i < (int64_t)3 * a->w * a->h; i++) m = fmax(m, fabs((double)a->data[i] - b->data[i]));
    return m;
}

static double mean_diff(const image *a, const image *b) {
    double s = 0;
    int64_t n = (int64_t)3 * a->w * a->h;
    for (int64_t i = 0; i < n; i++) s += fabs((double)a->data[i] - b->data[i]);
    return s / (double)n;
}

/* A done job's result, read back. */
static image *result_of(jobs *q, const char *id) {
    char path[512];
    return jobs_file(q, id, JOB_FILE_RESULT, path, sizeof path) ? image_read(path, NULL) : NULL;
}

/* Waits until the job is done or failed; its record in info. */
static bool finish(jobs *q, const char *id, job_info *info) {
    unsigned v = 0;
    for (int k = 0; k < 1000 && jobs_wait(q, id, &v, 1000, info); k++)
        if (info->state == JOB_DONE || info->state == JOB_FAILED) return true;
    return false;
}

static bool touch(const char *path) {
    FILE *f = fopen(path, "w");
    if (f) fclose(f);
    return f != NULL;
}

static void test_ids(void) {
    char a[JOB_ID_LEN + 1], b[JOB_ID_LEN + 1];
    CHECK(job_random_id(a) == STATUS_OK && job_random_id(b) == STATUS_OK);
    CHECK(job_id_valid(a) && job_id_valid(b) && strcmp(a, b) != 0);
    CHECK(!job_id_valid("0123") && !job_id_valid("0123456789ABCDEF0123456789abcdef") && !job_id_valid(NULL));
    CHECK(!job_id_valid("../../../../../../../../etc/passwd"));
    CHECK(!strcmp(job_state_name(JOB_RUNNING), "running") && !strcmp(job_state_name(JOB_FAILED), "failed"));
}

static void test_params_and_options(void) {
    jobs *q = open_queue();
    if (!q) return;
    image *c = picture(40, 30, 1), *s = picture(32, 32, 2);
    char id[JOB_ID_LEN + 1];
    job_params bad[] = {{.size = 8, .iterations = 2, .strength = 0.5f}, {.size = 32, .iterations = 0, .strength = 0.5f},
                        {.size = 32, .iterations = 2, .strength = 1.5f}, {.size = 32, .iterations = 2, .strength = 0.5f, .style = "a/b"}};
    for (int i = 0; i < 4; i++) {
        error_clear();
        CHECK_MSG(jobs_submit(q, c, s, &bad[i], id) == STATUS_ARG, "case %d: %s", i, error_message());
    }
    error_clear();
    CHECK(jobs_delete(q, "0123456789abcdef0123456789abcdef") == STATUS_ARG);
    error_clear();
    job_info info;
    char path[256];
    CHECK(!jobs_get(q, "0123456789abcdef0123456789abcdef", &info) && !jobs_file(q, "nope", JOB_FILE_RESULT, path, sizeof path));
    jobs_close(q);
    image_free(c);
    image_free(s);
    /* strength scales the style weight around the default; small sizes use one level */
    stylize_opts d = stylize_defaults(true);
    job_params p = {.size = 384, .iterations = 7, .strength = 0.5f, .preserve_colors = true};
    stylize_opts o = jobs_stylize_opts(&p, d);
    CHECK(o.size == 384 && o.iterations == 7 && o.color == STYLIZE_COLOR_PRESERVE && o.multires == d.multires);
    CHECK_NEAR(o.style_weight, d.style_weight, 0, 1e-6);
    p.strength = 1;
    p.size = 64;
    o = jobs_stylize_opts(&p, d);
    CHECK_NEAR(o.style_weight, 10 * d.style_weight, 0, 1e-5);
    CHECK(o.multires == 1);
}

/* A crash leaves: a folder whose row was never committed, a half-written file. A done job
 * whose result vanished runs again. */
static void test_recovery(void) {
    jobs *q = open_queue();
    if (!q) return;
    image *c = picture(40, 30, 1), *s = picture(32, 32, 2);
    job_params p = {.size = 32, .iterations = 2, .strength = 0.5f, .style = "test"};
    char id[JOB_ID_LEN + 1], path[512];
    CHECK(jobs_submit(q, c, s, &p, id) == STATUS_OK);
    job_info info;
    CHECK(finish(q, id, &info) && info.state == JOB_DONE && info.attempts == 1);
    jobs_close(q);
    /* what a crash could leave */
    char orphan[JOB_ID_LEN + 1];
    job_random_id(orphan);
    snprintf(path, sizeof path, "%s/jobs/%s", test_tmp_path("data"), orphan);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/jobs/%s/content.png", test_tmp_path("data"), orphan);
    CHECK(touch(path));
    snprintf(path, sizeof path, "%s/jobs/%s/result.png.tmp-Ab12Cd", test_tmp_path("data"), id);
    CHECK(touch(path));
    snprintf(path, sizeof path, "%s/jobs/not-a-job", test_tmp_path("data"));
    CHECK(mkdir(path, 0755) == 0);
    if (!(q = open_queue())) return;
    snprintf(path, sizeof path, "%s/jobs/%s", test_tmp_path("data"), orphan);
    CHECK_MSG(access(path, F_OK) != 0, "the folder without a row is still there");
    snprintf(path, sizeof path, "%s/jobs/%s/result.png.tmp-Ab12Cd", test_tmp_path("data"), id);
    CHECK(access(path, F_OK) != 0);
    snprintf(path, sizeof path, "%s/jobs/not-a-job", test_tmp_path("data"));
    CHECK(access(path, F_OK) == 0);   /* not ours: left alone */
    CHECK(jobs_get(q, id, &info) && info.state == JOB_DONE && !strcmp(info.params.style, "test"));
    /* the result goes missing: the job runs again */
    CHECK(jobs_file(q, id, JOB_FILE_RESULT, path, sizeof path) && unlink(path) == 0);
    jobs_close(q);
    if (!(q = open_queue())) return;
    CHECK(finish(q, id, &info) && info.state == JOB_DONE && info.attempts == 2);
    CHECK(access(path, F_OK) == 0);
    jobs_stats st;
    jobs_get_stats(q, &st);
    CHECK(st.by_state[JOB_DONE] == 1 && st.finished == 1 && st.seconds_count[JOBS_SECONDS_BUCKETS] == 1);
    CHECK(jobs_delete(q, id) == STATUS_OK && !jobs_get(q, id, &info));
    jobs_close(q);
    image_free(c);
    image_free(s);
}

/* A job deleted while the queue stops (its run cancelled by the stop, the worker putting it
 * back in the queue) stays deleted: not queued again in memory (nor leaked), no row, no
 * files after a reopen. */
static void test_delete_while_stopping(void) {
    jobs *q = open_queue();
    if (!q) return;
    image *c = picture(40, 30, 1), *s = picture(32, 32, 2);
    job_params p = {.size = 32, .iterations = 100000, .strength = 0.5f};
    char id[JOB_ID_LEN + 1], path[512];
    job_info info = {0};
    unsigned v = 0;
    CHECK(jobs_submit(q, c, s, &p, id) == STATUS_OK);
    for (int k = 0; k < 100 && jobs_wait(q, id, &v, 1000, &info) && info.state != JOB_RUNNING; k++) {}
    CHECK(info.state == JOB_RUNNING);
    jobs_stop(q);
    CHECK(jobs_delete(q, id) == STATUS_OK);
    jobs_close(q);   /* LeakSanitizer: a job left in the queue but not in the table leaks */
    if (!(q = open_queue())) return;
    CHECK(!jobs_get(q, id, &info));
    snprintf(path, sizeof path, "%s/jobs/%s", test_tmp_path("data"), id);
    CHECK(access(path, F_OK) != 0);
    jobs_close(q);
    image_free(c);
    image_free(s);
}

/* ---- the fast path ---- */

static const char *const MODEL_STYLES[] = {"waves", "dots", "stripes"};

/* Settings the fast path refuses, with or without a model. */
static void test_fast_params(void) {
    const char *model = test_tmp_path("model.safetensors");
    CHECK(make_model(model, MODEL_STYLES, 3));
    image *c = picture(40, 30, 1), *s = picture(32, 32, 2);
    char id[JOB_ID_LEN + 1];
    jobs *q = open_queue_with(test_tmp_path("data-fast-params"), NULL);
    if (!q) return;
    job_params fast = {.size = 32, .iterations = 1, .strength = 1, .style = "waves", .path = JOB_PATH_FAST};
    error_clear();
    CHECK(jobs_style_model(q) == NULL && !jobs_fast_capable(q, "waves"));
    CHECK(jobs_submit(q, c, s, &fast, id) == STATUS_ARG && strstr(error_message(), "no fast style model"));
    jobs_close(q);
    if (!(q = open_queue_with(test_tmp_path("data-fast-params"), model))) return;
    CHECK(jobs_style_model(q) && jobs_fast_capable(q, "dots") && !jobs_fast_capable(q, "1") && !jobs_fast_capable(q, "wave"));
    struct { job_params p; const char *word; } bad[] = {
        {{.size = 32, .iterations = 1, .strength = 1, .style = "sketch", .path = JOB_PATH_FAST}, "not one of the fast model"},
        {{.size = 32, .iterations = 1, .strength = 1, .style = "1", .path = JOB_PATH_FAST}, "not one of the fast model"},
        {{.size = 32, .iterations = 1, .strength = 1, .style = "waves", .path = JOB_PATH_FAST, .style2 = "waves", .blend = 0.5f}, "again"},
        {{.size = 32, .iterations = 1, .strength = 1, .style = "waves", .path = JOB_PATH_FAST, .style2 = "nope", .blend = 0.5f}, "style2"},
        {{.size = 32, .iterations = 1, .strength = 1, .style = "waves", .path = JOB_PATH_FAST, .style2 = "dots", .blend = 1.5f}, "blend"},
        {{.size = 32, .iterations = 1, .strength = 1, .style = "waves", .path = JOB_PATH_FAST, .blend = 0.5f}, "needs a second style"},
        {{.size = 32, .iterations = 1, .strength = 0.5f, .style = "waves", .style2 = "dots", .blend = 0.5f}, "fast path only"},
        {{.size = 32, .iterations = 1, .strength = 1, .style = "waves", .path = (job_path)7}, "path"},
    };
    for (int i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++) {
        error_clear();
        CHECK_MSG(jobs_submit(q, c, s, &bad[i].p, id) == STATUS_ARG && strstr(error_message(), bad[i].word), "case %d: %s", i,
                  error_message());
    }
    error_clear();
    jobs_close(q);
    jobs_opts o = jobs_defaults();
    o.data_dir = test_tmp_path("data-fast-params");
    o.style_model = test_tmp_path("absent.safetensors");
    CHECK_MSG(jobs_open(&o) == NULL && strstr(error_message(), "style model") && strstr(error_message(), "absent"), "%s",
              error_message());
    error_clear();
    image_free(c);
    image_free(s);
}

/* Waits for a job to finish, checks it is done on that path, returns its result. */
static image *painted(jobs *q, const job_params *p, const image *c, const image *s, job_info *info) {
    char id[JOB_ID_LEN + 1];
    if (jobs_submit(q, c, s, p, id) != STATUS_OK) { CHECK_MSG(false, "submit: %s", error_message()); return NULL; }
    CHECK(finish(q, id, info));
    CHECK_MSG(info->state == JOB_DONE && info->params.path == p->path, "state %s path %s: %s", job_state_name(info->state),
              job_path_name(info->params.path), info->error);
    return info->state == JOB_DONE ? result_of(q, id) : NULL;
}

/* One style, strength 0, a blend, and an optimisation on the same queue. */
static void test_fast_jobs(void) {
    const char *model = test_tmp_path("model.safetensors");
    CHECK(make_model(model, MODEL_STYLES, 3));
    jobs *q = open_queue_with(test_tmp_path("data-fast"), model);
    if (!q) return;
    image *c = picture(40, 30, 1), *s = picture(32, 32, 2);
    job_info info;
    /* one style: the photo's size (its long side is `size`), a painting, not the photo */
    job_params p = {.size = 40, .iterations = 1, .strength = 1, .style = "waves", .path = JOB_PATH_FAST};
    image *waves = painted(q, &p, c, s, &info);
    CHECK(waves && waves->w == 40 && waves->h == 30 && info.width == 40 && info.height == 30);
    CHECK_MSG(waves && mean_diff(waves, c) > 0.05, "the painting is the photo (mean difference %g)", waves ? mean_diff(waves, c) : 0);
    CHECK(info.seconds > 0 && info.seconds < 60 && info.progress == 1 && info.attempts == 1);
    const char *settings = waves ? image_text_get(waves, "atelier.settings") : NULL;
    CHECK_MSG(settings && strstr(settings, "\"path\": \"fast\"") && strstr(settings, "\"waves\": 1") &&
              strstr(settings, "model.safetensors"), "%s", settings ? settings : "no settings");
    CHECK(waves && strstr(image_text_get(waves, "atelier.made_by"), "fast neural style"));
    /* the model's hash, as `stylize --model` records it: of the model file's bytes */
    char hex[65];
    CHECK(sha256_file(model, hex));
    const char *rec = waves ? image_text_get(waves, "atelier.model.sha256") : NULL;
    CHECK_MSG(rec && !strcmp(rec, hex), "recorded model hash %s, the file's %s", rec ? rec : "(none)", hex);
    CHECK(settings && strstr(settings, hex));
    /* smaller than the photo */
    p.size = 24;
    image *small = painted(q, &p, c, s, &info);
    CHECK(small && small->w == 24 && small->h == 18);
    /* too small for the network (16 pixels a side): failed, saying why */
    char id[JOB_ID_LEN + 1];
    p.size = 16;
    CHECK(jobs_submit(q, c, s, &p, id) == STATUS_OK && finish(q, id, &info));
    CHECK_MSG(info.state == JOB_FAILED && strstr(info.error, "16x12"), "%s: %s", job_state_name(info.state), info.error);
    CHECK(jobs_delete(q, id) == STATUS_OK);
    /* strength 0: the photo (up to 8-bit rounding of the stored input and of the result) */
    p.size = 40;
    p.strength = 0;
    image *none = painted(q, &p, c, s, &info);
    CHECK_MSG(none && max_diff(none, c) <= 1.01 / 255, "strength 0 differs from the photo by %g", none ? max_diff(none, c) : 1);
    /* a blend of two styles: neither of them */
    job_params b = {.size = 40, .iterations = 1, .strength = 1, .style = "waves", .style2 = "dots", .blend = 0.5f, .path = JOB_PATH_FAST};
    image *blend = painted(q, &b, c, s, &info);
    CHECK(blend && blend->w == 40 && !strcmp(info.params.style2, "dots") && info.params.blend == 0.5f);
    b.blend = 1;
    image *dots = painted(q, &b, c, s, &info);
    CHECK_MSG(blend && waves && dots && max_diff(blend, waves) > 0.01 && max_diff(blend, dots) > 0.01 && max_diff(waves, dots) > 0.01,
              "blend vs waves %g, vs dots %g", blend && waves ? max_diff(blend, waves) : 0, blend && dots ? max_diff(blend, dots) : 0);
    settings = blend ? image_text_get(blend, "atelier.settings") : NULL;
    CHECK(settings && strstr(settings, "\"waves\": 0.5, \"dots\": 0.5"));
    /* optimisation still, on the same queue (the finest quality, an uploaded style) */
    job_params o = {.size = 32, .iterations = 2, .strength = 0.5f, .style = "waves"};
    image *opt = painted(q, &o, c, s, &info);
    CHECK(opt && info.params.path == JOB_PATH_OPTIMISE && info.iterations > 0);
    settings = opt ? image_text_get(opt, "atelier.settings") : NULL;
    CHECK(settings && strstr(settings, "\"path\": \"optimise\"") && strstr(image_text_get(opt, "atelier.made_by"), "neural style"));
    jobs_close(q);
    /* the path survives a reopen */
    if (!(q = open_queue_with(test_tmp_path("data-fast"), NULL))) return;
    jobs_stats st;
    jobs_get_stats(q, &st);
    CHECK(st.by_state[JOB_DONE] == 6);
    jobs_close(q);
    image *all[] = {waves, small, none, blend, dots, opt, c, s};
    for (int i = 0; i < 8; i++) image_free(all[i]);
}

/* A fast job does not wait behind a long optimisation: it has its own worker. */
static void test_fast_lane(void) {
    const char *model = test_tmp_path("model.safetensors");
    CHECK(make_model(model, MODEL_STYLES, 3));
    jobs *q = open_queue_with(test_tmp_path("data-lane"), model);
    if (!q) return;
    image *c = picture(40, 30, 1), *s = picture(32, 32, 2);
    job_params slow = {.size = 32, .iterations = 100000, .strength = 0.5f};
    char long_id[JOB_ID_LEN + 1], queued_id[JOB_ID_LEN + 1], fast_id[JOB_ID_LEN + 1];
    job_info info = {0};
    unsigned v = 0;
    CHECK(jobs_submit(q, c, s, &slow, long_id) == STATUS_OK);
    for (int k = 0; k < 100 && jobs_wait(q, long_id, &v, 1000, &info) && info.state != JOB_RUNNING; k++) {}
    CHECK(info.state == JOB_RUNNING);
    CHECK(jobs_submit(q, c, s, &slow, queued_id) == STATUS_OK);   /* waits for the optimisation worker */
    job_params fast = {.size = 32, .iterations = 1, .strength = 1, .style = "stripes", .path = JOB_PATH_FAST};
    CHECK(jobs_submit(q, c, s, &fast, fast_id) == STATUS_OK);
    CHECK(finish(q, fast_id, &info) && info.state == JOB_DONE && info.params.path == JOB_PATH_FAST);
    CHECK(jobs_get(q, long_id, &info) && info.state == JOB_RUNNING);
    CHECK(jobs_get(q, queued_id, &info) && info.state == JOB_QUEUED && info.queue_position == 1);   /* first of its path */
    CHECK(jobs_delete(q, long_id) == STATUS_OK && jobs_delete(q, queued_id) == STATUS_OK);
    jobs_close(q);
    image_free(c);
    image_free(s);
}

/* Runs SQL on a database file (made if missing). */
static bool sql(const char *db, const char *text) {
    sqlite3 *h = NULL;
    bool ok = sqlite3_open(db, &h) == SQLITE_OK && sqlite3_exec(h, text, NULL, NULL, NULL) == SQLITE_OK;
    if (!ok) fprintf(stderr, "sqlite: %s\n", h ? sqlite3_errmsg(h) : "cannot open");
    sqlite3_close(h);
    return ok;
}

/* A job folder as jobs_submit leaves it: DIR/jobs/ID/{content,style}.png. */
static bool job_files(const char *dir, const char *id, const image *c, const image *s) {
    char path[512];
    snprintf(path, sizeof path, "%s/jobs", dir);
    mkdir(dir, 0755);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/jobs/%s", dir, id);
    if (mkdir(path, 0755) != 0) return false;
    snprintf(path, sizeof path, "%s/jobs/%s/content.png", dir, id);
    if (image_write(path, c, NULL) != STATUS_OK) return false;
    snprintf(path, sizeof path, "%s/jobs/%s/style.png", dir, id);
    return image_write(path, s, NULL) == STATUS_OK;
}

static const char *const SCHEMA_V1 =
    "CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
    " state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),"
    " created REAL NOT NULL, started REAL, finished REAL, style TEXT NOT NULL, size INTEGER NOT NULL,"
    " iterations INTEGER NOT NULL, strength REAL NOT NULL, preserve_colors INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, seconds REAL, width INTEGER, height INTEGER, error TEXT);"
    "PRAGMA user_version = 1;";

/* A database of the version before the fast path, with a queued job and a done one: it is
 * migrated, its jobs are optimisation jobs, the queued one runs; the next open finds it
 * current. A database of a newer version is refused. */
static void test_migration(void) {
    const char *dir = test_tmp_path("data-v1");
    char db[512], sqltext[1024], queued[JOB_ID_LEN + 1], done[JOB_ID_LEN + 1];
    image *c = picture(40, 30, 1), *s = picture(32, 32, 2);
    job_random_id(queued);
    job_random_id(done);
    CHECK(job_files(dir, queued, c, s) && job_files(dir, done, c, s));
    snprintf(db, sizeof db, "%s/jobs.db", dir);
    snprintf(sqltext, sizeof sqltext,
             "%s INSERT INTO jobs (id, state, created, style, size, iterations, strength, preserve_colors) "
             "VALUES ('%s', 'queued', 1, 'old', 32, 2, 0.5, 0);"
             "INSERT INTO jobs (id, state, created, style, size, iterations, strength, preserve_colors, seconds, width, height) "
             "VALUES ('%s', 'done', 1, 'older', 32, 2, 0.5, 0, 3.5, 32, 24);", SCHEMA_V1, queued, done);
    CHECK(sql(db, sqltext));
    char path[512];
    snprintf(path, sizeof path, "%s/jobs/%s/result.png", dir, done);
    CHECK(image_write(path, c, NULL) == STATUS_OK);
    jobs *q = open_queue_with(dir, NULL);
    if (!q) return;
    job_info info;
    CHECK(jobs_get(q, done, &info) && info.state == JOB_DONE && info.params.path == JOB_PATH_OPTIMISE && info.seconds == 3.5 &&
          !info.params.style2[0] && info.params.blend == 0 && !strcmp(info.params.style, "older"));
    CHECK(finish(q, queued, &info) && info.state == JOB_DONE && info.params.path == JOB_PATH_OPTIMISE);
    jobs_close(q);
    if (!(q = open_queue_with(dir, NULL))) return;   /* version 2 now: opened as it is */
    CHECK(jobs_get(q, queued, &info) && info.state == JOB_DONE);
    jobs_close(q);
    CHECK(sql(db, "PRAGMA user_version = 99;"));
    jobs_opts o = jobs_defaults();
    o.data_dir = dir;
    error_clear();
    CHECK(jobs_open(&o) == NULL && error_status() == STATUS_FORMAT && strstr(error_message(), "newer"));
    error_clear();
    image_free(c);
    image_free(s);
}

/* Queued fast jobs that the model of this opening cannot paint (another model, or none):
 * one style is optimised instead, a blend fails saying why; the others run fast. */
static void test_fast_reroute(void) {
    const char *dir = test_tmp_path("data-reroute"), *model = test_tmp_path("model2.safetensors");
    const char *const names[] = {"waves", "dots"};
    CHECK(make_model(model, names, 2));
    jobs *q = open_queue_with(dir, NULL);   /* makes the database */
    if (!q) return;
    jobs_close(q);
    image *c = picture(40, 30, 1), *s = picture(32, 32, 2);
    char ids[4][JOB_ID_LEN + 1], db[512], text[2048];
    /* one style the model knows, one it does not, a blend it cannot paint, a blend it can */
    const char *rows[4][2] = {{"waves", ""}, {"stripes", ""}, {"stripes", "waves"}, {"waves", "dots"}};
    int n = 0;
    for (int i = 0; i < 4; i++) {
        job_random_id(ids[i]);
        CHECK(job_files(dir, ids[i], c, s));
        n += snprintf(text + n, sizeof text - (size_t)n,
                      "INSERT INTO jobs (id, state, created, style, size, iterations, strength, preserve_colors, path, style2, blend) "
                      "VALUES ('%s', 'queued', %d, '%s', 32, 2, 1, 0, 'fast', '%s', %g);", ids[i], i + 1, rows[i][0], rows[i][1],
                      rows[i][1][0] ? 0.5 : 0.0);
    }
    snprintf(db, sizeof db, "%s/jobs.db", dir);
    CHECK(sql(db, text));
    if (!(q = open_queue_with(dir, model))) return;
    job_info info;
    job_path want[4] = {JOB_PATH_FAST, JOB_PATH_OPTIMISE, JOB_PATH_FAST, JOB_PATH_FAST};
    for (int i = 0; i < 4; i++) {
        CHECK(finish(q, ids[i], &info));
        CHECK_MSG(info.state == (i == 2 ? JOB_FAILED : JOB_DONE) && info.params.path == want[i], "job %d: %s %s %s", i,
                  job_state_name(info.state), job_path_name(info.params.path), info.error);
    }
    CHECK(jobs_get(q, ids[2], &info) && strstr(info.error, "cannot blend"));
    jobs_close(q);
    if (!(q = open_queue_with(dir, NULL))) return;   /* recorded: the rerouted one stays optimised */
    CHECK(jobs_get(q, ids[1], &info) && info.state == JOB_DONE && info.params.path == JOB_PATH_OPTIMISE);
    jobs_close(q);
    image_free(c);
    image_free(s);
}

/* A failed optimisation job says why (the reason reached the API as "" once: the worker
 * passed error_message() and cleared it before copying). */
static void test_failed_job_reason(void) {
    jobs *q = open_queue_with(test_tmp_path("data_fail"), NULL);
    image *c = picture(40, 30, 1), *s = picture(32, 24, 2);
    job_params p = {.size = 16, .iterations = 1, .strength = 0.5f};
    char id[JOB_ID_LEN + 1];
    job_info info;
    CHECK(q && jobs_submit(q, c, s, &p, id) == STATUS_OK && finish(q, id, &info));
    CHECK_MSG(info.state == JOB_FAILED && strstr(info.error, "smaller than"), "%s: '%s'", job_state_name(info.state), info.error);
    jobs_close(q);
    /* and after a restart, from the database */
    q = open_queue_with(test_tmp_path("data_fail"), NULL);
    CHECK(q && jobs_get(q, id, &info) && info.state == JOB_FAILED && strstr(info.error, "smaller than"));
    jobs_close(q);
    image_free(c);
    image_free(s);
}

int main(void) {
    if (!test_make_dir()) return 1;
    RUN(test_ids);
    RUN(test_params_and_options);
    RUN(test_recovery);
    RUN(test_delete_while_stopping);
    RUN(test_fast_params);
    RUN(test_fast_jobs);
    RUN(test_fast_lane);
    RUN(test_migration);
    RUN(test_fast_reroute);
    RUN(test_failed_job_reason);
    test_remove_tree(test_dir);
    return test_finish();
}
