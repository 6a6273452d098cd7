/* The `atelier` program end to end: the demo trains and saves, inspect reads the result,
 * and every bad input gets one clear line on stderr and a non-zero exit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"

static void test_help_and_unknown_command(void) {
    char out[8192], err[8192];
    CHECK(test_shell(ATELIER_BIN " --help", out, err) == 0);
    CHECK(strstr(out, "demo") && strstr(out, "inspect"));
    CHECK(test_shell(ATELIER_BIN " demo --help", out, err) == 0);
    CHECK(strstr(out, "--steps") && strstr(out, "default 300"));
    CHECK(test_shell(ATELIER_BIN " frobnicate", out, err) == 2);
    CHECK(strstr(err, "unknown command 'frobnicate'") && test_count_lines(err) == 1);
    CHECK(test_shell("ATELIER_BACKEND=bogus " ATELIER_BIN " demo", out, err) == 2);
    CHECK(strstr(err, "ATELIER_BACKEND=bogus") && test_count_lines(err) == 1);
}

static void test_demo_bad_options(void) {
    char out[8192], err[8192];
    const char *bad[] = {" demo --steps 0", " demo --steps ten", " demo --seed", " demo --bogus 1"};
    for (int i = 0; i < 4; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, ATELIER_BIN "%s", bad[i]);
        CHECK_MSG(test_shell(cmd, out, err) == 2 && test_count_lines(err) == 1, "%s: want exit 2, one line: %s", bad[i], err);
    }
}

static void test_demo_trains_saves_and_inspect_reads(void) {
    char out[8192], err[8192], cmd[512];
    snprintf(cmd, sizeof cmd, ATELIER_BIN " demo --quiet --steps 200 --out %s/net.safetensors", test_dir);
    CHECK(test_shell(cmd, out, err) == 0);
    float before = -1, after = -1;
    const char *acc = strstr(out, "held-out accuracy:");
    CHECK(acc && sscanf(acc, "held-out accuracy: %f%% before training, %f%% after", &before, &after) == 2);
    CHECK_MSG(after >= 95.0f, "accuracy after training %.1f%% (before %.1f%%)", after, before);
    CHECK(strstr(out, "the net gives the same answers") != NULL);
    snprintf(cmd, sizeof cmd, ATELIER_BIN " inspect %s/net.safetensors", test_dir);
    CHECK(test_shell(cmd, out, err) == 0);
    CHECK(strstr(out, "conv1.weight") && strstr(out, "atelier-demo-bars"));
}

static void test_demo_unwritable_output(void) {
    char out[8192], err[8192];
    CHECK(test_shell(ATELIER_BIN " demo --quiet --steps 5 --out /nonexistent-dir/x.safetensors", out, err) == 1);
    CHECK(test_count_lines(err) == 1 && strstr(err, "/nonexistent-dir/x.safetensors"));
}

static void test_inspect_bad_files(void) {
    char out[8192], err[8192], cmd[512];
    CHECK(test_shell(ATELIER_BIN " inspect /nonexistent.safetensors", out, err) == 1);
    CHECK(test_count_lines(err) == 1 && strstr(err, "/nonexistent.safetensors"));
    snprintf(cmd, sizeof cmd, "printf 'garbage' > %s/bad.safetensors && " ATELIER_BIN " inspect %s/bad.safetensors", test_dir, test_dir);
    CHECK(test_shell(cmd, out, err) == 1);
    CHECK(test_count_lines(err) == 1);
}

int main(void) {
    if (!test_make_dir()) return 1;
    RUN(test_help_and_unknown_command);
    RUN(test_demo_bad_options);
    RUN(test_demo_trains_saves_and_inspect_reads);
    RUN(test_demo_unwritable_output);
    RUN(test_inspect_bad_files);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", test_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", test_dir);
    return test_finish();
}
