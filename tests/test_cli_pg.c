/* The job queue shared through PostgreSQL, end to end: tests/pg/cluster.sh runs two servers
 * and two workers against a private PostgreSQL (scripts/pg-test-server.sh) and prints what
 * happened as "RESULT key value" lines; this checks each number. Skips, saying so, when
 * the PostgreSQL server programs are not installed (CI installs them) or the build has no
 * PostgreSQL store. */
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "harness.h"

#define MAXR 64
static struct { char key[64]; long value; } results[MAXR];
static int nresults;

static long result(const char *key) {
    for (int i = 0; i < nresults; i++)
        if (!strcmp(results[i].key, key)) return results[i].value;
    test_fail(__FILE__, __LINE__, "the scenario printed no RESULT %s", key);
    return -1;
}

static void test_two_servers_two_workers(void) {
    char out[256] = "", err[256] = "";
    if (test_shell(ATELIER_BIN " --version", out, err) != 0 || !strstr(out, "postgresql")) {
        test_skip("this build has no PostgreSQL job store (libpq-dev)");
        return;
    }
    /* The store does not depend on the ops' backend, and the scenario takes a minute or
     * more: it runs on the default backend (the first of --version's) only. */
    const char *be = getenv("ATELIER_BACKEND"), *list = strstr(out, "(backends ");
    size_t first = list ? strcspn(list + 10, ",;)") : 0;
    if (be && *be && list && (strlen(be) != first || strncmp(be, list + 10, first))) {
        test_skip("the shared queue's scenario runs on the default backend only (it does not depend on it)");
        return;
    }
    char here[512], cmd[1200], line[512];
    snprintf(here, sizeof here, "%s", __FILE__);
    snprintf(cmd, sizeof cmd, "sh %s/pg/cluster.sh %s 2>&1", dirname(here), ATELIER_BIN);
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        fputs(line, stdout);
        char key[64];
        long v;
        if (nresults < MAXR && sscanf(line, "RESULT %63s %ld", key, &v) == 2) {
            snprintf(results[nresults].key, sizeof results[nresults].key, "%s", key);
            results[nresults++].value = v;
        }
    }
    int st = pclose(f);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (rc == 77) {
        test_skip("the PostgreSQL server programs are not installed (Debian: apt-get install postgresql)");
        return;
    }
    CHECK_MSG(rc == 0, "tests/pg/cluster.sh exited with %d", rc);
    CHECK(result("servers_up") == 2);
    /* 1: six jobs, three through each server, each server sees all six done */
    CHECK(result("submitted") == 6);
    CHECK(result("done_on_a") == 6);
    CHECK(result("done_on_b") == 6);
    CHECK(result("sse_a_done") == 1);          /* events of a job that the other server took */
    CHECK(result("sse_b_done") == 1);
    CHECK(result("sse_b_progress") >= 1);      /* progress of a run in another process */
    CHECK(result("result_png_from_b") == 1);
    CHECK(result("result_same_bytes") == 1);
    /* 2: the killed worker's job, finished by the other after the lease ran out */
    CHECK(result("killed_worker") == 1);
    CHECK(result("killed_job_done") == 1);
    CHECK(result("killed_job_attempts") == 2);
    /* 3: a PostgreSQL crash and restart loses nothing */
    CHECK(result("submitted_before_restart") == 4);
    CHECK(result("restart_done_on_a") == 4);
    CHECK(result("restart_done_on_b") == 4);
    CHECK(result("after_restart_done") == 1);
    /* 4: the database away: a submission told within REQUEST_SECONDS (5 s; 20 allows a
     * loaded machine), not the 2 minutes a worker waits; status still answers */
    CHECK(result("away_submit_503") == 1);
    CHECK(result("away_says_database") == 1);
    CHECK(result("away_submit_seconds") <= 20);
    CHECK(result("away_status_answers") == 1);
    CHECK(result("back_done") == 1);
    /* 5: exactly once: 6 + 1 + 4 + 1 + 1 jobs, each done once */
    CHECK(result("jobs_total") == 13);
    CHECK(result("jobs_done") == 13);
    CHECK(result("done_records") == 13);
    CHECK(result("done_records_distinct") == 13);
    CHECK(result("blobs_bad") == 0);
    CHECK(result("clean_stops") == 4);
}

/* The command lines: help, what is required, a database that is not there. */
static void test_worker_cli(void) {
    static char out[8192], err[8192];
    CHECK(test_shell(ATELIER_BIN " worker --help", out, err) == 0);
    CHECK(strstr(out, "--db URL") && strstr(out, "--lease S") && strstr(out, "--workers N") && strstr(out, "[30]"));
    CHECK(test_shell(ATELIER_BIN " worker", out, err) == 2 && strstr(err, "--db") && test_count_lines(err) == 1);
    CHECK(test_shell(ATELIER_BIN " worker --db x --lease 0.5", out, err) == 2 && strstr(err, "--lease"));
    CHECK(test_shell(ATELIER_BIN " serve --workers 0", out, err) == 2 && strstr(err, "--db") && test_count_lines(err) == 1);
    CHECK(test_shell(ATELIER_BIN " serve --help", out, err) == 0 && strstr(out, "--db URL") && strstr(out, "--lease S"));
    if (test_shell(ATELIER_BIN " --version", out, err) != 0 || !strstr(out, "postgresql")) {
        test_skip("this build has no PostgreSQL job store (libpq-dev)");
        return;
    }
    /* no server at that socket: one line naming the problem, exit 1, at once (no retries) */
    char cmd[600];
    snprintf(cmd, sizeof cmd, ATELIER_BIN " worker --db 'postgresql:///atelier?host=/nonexistent-atelier&port=1' "
             "--data-dir %s --style-model none --net vgg19", test_tmp_path("w"));
    CHECK(test_shell(cmd, out, err) == 1 && strstr(err, "postgresql: cannot connect") && test_count_lines(err) == 1);
}

int main(void) {
    CHECK(test_make_dir());
    RUN(test_worker_cli);
    RUN(test_two_servers_two_workers);
    return test_finish();
}
