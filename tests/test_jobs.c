/* The job queue (jobs.h) on its own: what jobs_open recovers from a crash (folders with no
 * row, interrupted writes, a done job whose result is gone), settings out of range, ids,
 * deletion of unknown jobs, and the stylize options a job's settings give. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "atelier/jobs.h"
#include "harness.h"

static image *picture(int w, int h, int seed) {
    image *im = image_new(w, h, 3);
    for (int i = 0; im && i < 3 * w * h; i++) im->data[i] = (float)((i * (seed + 3) / 5) % 9) / 8.0f;
    return im;
}

static jobs *open_queue(void) {
    jobs_opts o = jobs_defaults();
    o.data_dir = test_tmp_path("data");
    jobs *q = jobs_open(&o);
    CHECK_MSG(q != NULL, "jobs_open: %s", error_message());
    return q;
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

int main(void) {
    if (!test_make_dir()) return 1;
    RUN(test_ids);
    RUN(test_params_and_options);
    RUN(test_recovery);
    RUN(test_delete_while_stopping);
    test_remove_tree(test_dir);
    return test_finish();
}
