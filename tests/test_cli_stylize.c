/* `atelier stylize` end to end: a small run writes the image with its provenance, the log
 * and numbered snapshots, the same command gives the same bytes, and every bad input gets
 * one clear line on stderr, a non-zero exit and no output file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "atelier/image.h"
#include "atelier/featnet.h"
#include "harness.h"

#define SMALL " --net vgg19 --size 48 --iterations 3 --multires 1 --style-layers relu1_1,relu2_1 --content-layers relu2_1 --quiet"

static bool write_picture(const char *name, int w, int h, int seed) {
    image *im = image_new(w, h, 3);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                im->data[(c * h + y) * w + x] = 0.5f + 0.4f * sinf(x * 0.3f * (seed + 1) + c) * cosf(y * 0.2f + seed);
    bool ok = image_write(test_tmp_path(name), im, NULL) == STATUS_OK;
    image_free(im);
    return ok;
}

static bool read_file(const char *path, char **buf, long *len) {
    size_t n = 0;
    *buf = (char *)test_read_file(path, &n);
    *len = (long)n;
    return *buf != NULL;
}


static void test_help(void) {
    char out[8192], err[8192];
    CHECK(test_shell(ATELIER_BIN " stylize --help", out, err) == 0);
    const char *opts[] = {"--size", "--style-size", "--style-scale", "--style-blend", "--content-weight", "--style-weight",
                          "--tv-weight", "--content-layers", "--style-layers", "--iterations", "--optimizer", "--lr",
                          "--init", "--seed", "--preserve-colors", "--match-colors", "--multires", "--tile",
                          "--save-every", "--weights", "--log", "--quiet"};
    for (int i = 0; i < (int)(sizeof opts / sizeof opts[0]); i++) CHECK_MSG(strstr(out, opts[i]), "--help lacks %s", opts[i]);
    CHECK(strstr(out, "[512]") != NULL);
}

static void test_run_writes_provenance_log_and_snapshots(void) {
    char out[8192], err[8192], cmd[2048];
    snprintf(cmd, sizeof cmd, ATELIER_BIN " stylize %s -s %s -o %s --log %s --save-every 2 --seed 5" SMALL,
             test_tmp_path("c.png"), test_tmp_path("s.jpg"), test_tmp_path("out.png"), test_tmp_path("log.jsonl"));
    CHECK_MSG(test_shell(cmd, out, err) == 0, "stylize failed: %s", err);
    CHECK_MSG(err[0] == 0, "--quiet printed: %s", err);
    image *im = image_read(test_tmp_path("out.png"), NULL);
    CHECK_OK(im);
    if (im) {
        CHECK(im->w == 48 && im->h == 36);
        const char *settings = image_text_get(im, "atelier.settings"), *seed = image_text_get(im, "atelier.seed");
        CHECK(settings && strstr(settings, "\"iterations\": 3") && strstr(settings, "\"content_layers\": \"relu2_1\""));
        CHECK(seed && !strcmp(seed, "5"));
        CHECK(image_text_get(im, "Software") && strstr(image_text_get(im, "atelier.made_by"), "machine-made"));
        /* the inputs' hashes, as sha256sum computes them */
        snprintf(cmd, sizeof cmd, "sha256sum %s", test_tmp_path("c.png"));
        const char *h = image_text_get(im, "atelier.content.sha256");
        if (test_shell(cmd, out, err) == 0) CHECK(h && strlen(h) == 64 && !strncmp(out, h, 64));
        else test_skip("no sha256sum");
        CHECK(image_text_get(im, "atelier.style1.sha256") != NULL);
    }
    image_free(im);
    char *log;
    long len;
    CHECK(read_file(test_tmp_path("log.jsonl"), &log, &len));
    if (log) {
        log[len] = 0;
        CHECK(test_count_lines(log) == 4);   /* 3 iterations and the final line */
        const char *keys[] = {"\"iteration\": 1,", "\"loss\":", "\"content\":", "\"style\":", "\"tv\":", "\"seconds\":", "\"final\": true"};
        for (int i = 0; i < 7; i++) CHECK_MSG(strstr(log, keys[i]), "log lacks %s", keys[i]);
        free(log);
    }
    CHECK(test_exists("out_0002.png"));
    CHECK(!test_exists("out_0001.png"));
}

static void test_same_command_same_bytes(void) {
    char out[8192], err[8192], cmd[2048];
    char *a = NULL, *b = NULL;
    long la = 0, lb = 0;
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, ATELIER_BIN " stylize %s -s %s -s %s --style-blend 3,1 --init random --seed 9 -o %s" SMALL,
                 test_tmp_path("c.png"), test_tmp_path("s.jpg"), test_tmp_path("c.png"), test_tmp_path(k ? "r2.webp" : "r1.webp"));
        CHECK_MSG(test_shell(cmd, out, err) == 0, "stylize failed: %s", err);
    }
    CHECK(read_file(test_tmp_path("r1.webp"), &a, &la) && read_file(test_tmp_path("r2.webp"), &b, &lb));
    CHECK(a && b && la == lb && memcmp(a, b, (size_t)la) == 0);
    free(a);
    free(b);
    image *im = image_read(test_tmp_path("r1.webp"), NULL);
    CHECK(im && image_text_get(im, "atelier.style2.sha256") && strstr(image_text_get(im, "atelier.settings"), "\"style_blend\": [3, 1]"));
    image_free(im);
}

static void test_bad_inputs(void) {
    char out[8192], err[8192], cmd[2048], c[512];
    snprintf(c, sizeof c, "%s", test_tmp_path("c.png"));   /* test_tmp_path's buffers rotate */
    FILE *f = fopen(test_tmp_path("text.png"), "w");
    if (f) { fputs("this is not an image\n", f); fclose(f); }
    char *png;
    long len;
    if (read_file(c, &png, &len)) {   /* a truncated copy */
        f = fopen(test_tmp_path("cut.png"), "wb");
        if (f) { fwrite(png, 1, (size_t)len / 2, f); fclose(f); }
        free(png);
    }
    struct { const char *args; const char *part; } cases[] = {
        {"%C -s %D/missing.jpg -o %D/bad.png", "missing.jpg"},
        {"%D/cut.png -s %C -o %D/bad.png", "cut.png"},
        {"%C -s %D/text.png -o %D/bad.png", "text.png"},
        {"%C -s %C -o %D/bad.gif", ".gif"},
        {"%C -s %C -o %D/no/such/dir/bad.png", "no/such/dir"},
        {"%C -s %C -o %D/bad.png --size 0", "--size"},
        {"%C -s %C -o %D/bad.png --size big", "--size"},
        {"%C -s %C -o %D/bad.png --iterations -1", "--iterations"},
        {"%C -s %C -o %D/bad.png --style-weight x", "--style-weight"},
        {"%C -s %C -o %D/bad.png --optimizer sgd", "--optimizer"},
        {"%C -s %C -o %D/bad.png --init %D/none.png", "none.png"},
        {"%C -s %C -o %D/bad.png --style-blend 1,2", "--style-blend"},
        {"%C -s %C -o %D/bad.png --multires 9", "--multires"},
        {"%C -s %C -o %D/bad.png --multires 4", "--multires"},
        {"%C -s %C -o %D/bad.png --tile 10", "--tile"},
        {"%C -s %C -o %D/bad.png --content-layers relu9_1", "relu9_1"},
        {"%C -s %C -o %D/bad.png --weights %D/none.pth", "none.pth"},
        {"%C -s %C -o %D/bad.png --weights %D/text.png", "text.png"},
        {"%C -s %C -o %D/bad.png --pooling median", "--pooling"},
        {"%C -o %D/bad.png", "-s"},
        {"%C -s %C", "-o"},
        {"%C %C -s %C -o %D/bad.png", "one content image"},
        {"%C -s %C -o %D/bad.png --frobnicate 3", "--frobnicate"},
        {"%C -s %C -o %D/bad.png --lr", "--lr"},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        char args[1024] = "", *o = args;
        for (const char *p = cases[i].args; *p; p++) {
            if (p[0] == '%' && p[1] == 'C') { o += sprintf(o, "%s", c); p++; }
            else if (p[0] == '%' && p[1] == 'D') { o += sprintf(o, "%s", test_dir); p++; }
            else *o++ = *p;
        }
        *o = 0;
        snprintf(cmd, sizeof cmd, ATELIER_BIN " stylize %s --quiet --size 48 --iterations 2", args);
        int rc = test_shell(cmd, out, err);
        CHECK_MSG(rc != 0 && rc != -1 && test_count_lines(err) == 1 && strstr(err, cases[i].part),
                  "stylize %s: exit %d, stderr '%s' (want one line naming '%s')", args, rc, err, cases[i].part);
        CHECK_MSG(!test_exists("bad.png") && !test_exists("bad.gif"), "stylize %s left an output file", args);
    }
}

/* A failure during the run leaves an existing output as it was. */
static void test_failure_keeps_existing_output(void) {
    char out[8192], err[8192], cmd[2048];
    char *before, *after;
    long lb, la;
    if (!read_file(test_tmp_path("c.png"), &before, &lb)) { CHECK(false); return; }
    snprintf(cmd, sizeof cmd, "cp %s %s", test_tmp_path("c.png"), test_tmp_path("keep.png"));
    CHECK(test_shell(cmd, out, err) == 0);
    snprintf(cmd, sizeof cmd, ATELIER_BIN " stylize %s -s %s -o %s --style-layers relu1_1,relu9_9 --quiet",
             test_tmp_path("c.png"), test_tmp_path("s.jpg"), test_tmp_path("keep.png"));
    CHECK(test_shell(cmd, out, err) == 1 && test_count_lines(err) == 1);
    CHECK(read_file(test_tmp_path("keep.png"), &after, &la) && la == lb && !memcmp(before, after, (size_t)lb));
    free(before);
    free(after);
}

/* With no --net: the trained InceptionV3 when installed (recorded in the settings), else the
 * built-in VGG-19 with a note saying how to install the networks; `atelier models` says
 * which; a missing network named on the command line is one line and no output. */
static void test_default_network(void) {
    char out[8192], err[8192], cmd[2048];
    char none[300], c[300], s[300];
    snprintf(none, sizeof none, "%s", test_tmp_path("none"));
    snprintf(c, sizeof c, "%s", test_tmp_path("c.png"));
    snprintf(s, sizeof s, "%s", test_tmp_path("s.jpg"));
    snprintf(cmd, sizeof cmd, "ATELIER_MODELS=%s XDG_DATA_HOME=%s HOME=%s " ATELIER_BIN " stylize %s -s %s -o %s --size 48 --iterations 2",
             none, none, none, c, s, test_tmp_path("fallback.png"));
    CHECK_MSG(test_shell(cmd, out, err) == 0 && strstr(err, "install-models.sh"), "%s", err);
    image *im = image_read(test_tmp_path("fallback.png"), NULL);
    CHECK(im && strstr(image_text_get(im, "atelier.settings"), "\"network\": \"vgg19 (built-in)\""));
    image_free(im);
    snprintf(cmd, sizeof cmd, ATELIER_BIN " stylize %s -s %s -o %s --net no_such_net --quiet", test_tmp_path("c.png"),
             test_tmp_path("s.jpg"), test_tmp_path("nonet.png"));
    CHECK(test_shell(cmd, out, err) == 1 && test_count_lines(err) == 1 && strstr(err, "no_such_net") && !test_exists("nonet.png"));
    CHECK(test_shell(ATELIER_BIN " models", out, err) == 0 && strstr(out, "vgg19") && strstr(out, "inception_v3"));
    char dir[4096];
    if (!featnet_find("inception_v3", NULL, dir, sizeof dir)) { test_skip("inception_v3 is not installed"); return; }
    snprintf(cmd, sizeof cmd, ATELIER_BIN " stylize %s -s %s -o %s --size 48 --iterations 3 --quiet", test_tmp_path("c.png"),
             test_tmp_path("s.jpg"), test_tmp_path("trained.png"));
    CHECK_MSG(test_shell(cmd, out, err) == 0 && !err[0], "%s", err);
    im = image_read(test_tmp_path("trained.png"), NULL);
    const char *set = im ? image_text_get(im, "atelier.settings") : NULL;
    CHECK_MSG(set && strstr(set, "\"network\": \"inception_v3 (input [0, 1], reflect pad 16, blur on)\"") &&
              strstr(set, "\"content_layers\": \"mixed1\""), "settings: %s", set ? set : "(none)");
    CHECK(im && im->w == 48 && im->h == 36);
    image_free(im);
    CHECK(test_shell(ATELIER_BIN " models show inception_v3 --size 96 | grep -E 'mixed10|dense_3'", out, err) == 0 && strstr(out, "mixed10") && strstr(out, "cannot run at this size") &&
          strstr(out, "(1, 2048, 1, 1)"));
}

int main(void) {
    if (!test_make_dir() || !write_picture("c.png", 64, 48, 1) || !write_picture("s.jpg", 48, 48, 2)) {
        fprintf(stderr, "cannot write the test pictures: %s\n", error_message());
        return 1;
    }
    RUN(test_help);
    RUN(test_run_writes_provenance_log_and_snapshots);
    RUN(test_default_network);
    RUN(test_same_command_same_bytes);
    RUN(test_bad_inputs);
    RUN(test_failure_keeps_existing_output);
    test_remove_tree(test_dir);
    return test_finish();
}
