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
    /* 4: exactly once: 6 + 1 + 4 + 1 jobs, each done once */
    CHECK(result("jobs_total") == 12);
    CHECK(result("jobs_done") == 12);
    CHECK(result("done_records") == 12);
    CHECK(result("done_records_distinct") == 12);
    CHECK(result("blobs_bad") == 0);
    CHECK(result("clean_stops") == 4);
}

int main(void) {
    RUN(test_two_servers_two_workers);
    return test_finish();
}
