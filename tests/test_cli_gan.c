/* `atelier gan` end to end on a folder of small synthetic pictures: train writes its log,
 * grids, curves, checkpoint and generator; train + resume gives the same generator bytes as
 * a straight run; sample, interpolate and eval work from the files; every bad input gets
 * one clear line and a non-zero exit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "atelier/image.h"
#include "atelier/backend.h"
#include "atelier/featnet.h"
#include "harness.h"

#define TINY " --size 32 --ngf 4 --ndf 4 --z-dim 8 --batch 4 --diffaug color,translation,cutout --ema 0.9 --quiet"

static bool write_pictures(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s", test_tmp_path("imgs"));
    if (mkdir(dir, 0777) != 0) return false;
    for (int k = 0; k < 8; k++) {
        image *im = image_new(40 + 4 * k, 36, 3);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < im->h; y++)
                for (int x = 0; x < im->w; x++)
                    im->data[(c * im->h + y) * im->w + x] = 0.5f + 0.45f * sinf(x * 0.2f * (k + 1) + c * 2) * cosf(y * 0.15f + k);
        char path[600];
        snprintf(path, sizeof path, "%s/p%d.%s", dir, k, k % 2 ? "jpg" : "png");
        bool ok = image_write(path, im, NULL) == STATUS_OK;
        image_free(im);
        if (!ok) return false;
    }
    return true;
}

static int run(const char *args, char *out, char *err) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd %s && " ATELIER_BIN " %s", test_dir, args);
    return test_shell(cmd, out, err);
}


static void test_help(void) {
    char out[8192], err[8192];
    CHECK(run("gan --help", out, err) == 0 && strstr(out, "interpolate") && strstr(out, "monet64"));
    CHECK(run("gan train --help", out, err) == 0);
    const char *opts[] = {"--data", "--out", "--size", "--arch", "--ngf", "--ndf", "--z-dim", "--loss", "--spectral-norm",
                          "--diffaug", "--r1", "--ema", "--batch", "--steps", "--lr-g", "--lr-d", "--beta1", "--beta2",
                          "--d-steps", "--seed", "--sample-every", "--checkpoint-every", "--resume", "--init-from",
                          "--style-weight", "--style-images", "--eval-every"};
    for (int i = 0; i < (int)(sizeof opts / sizeof opts[0]); i++) CHECK_MSG(strstr(out, opts[i]), "train --help lacks %s", opts[i]);
    CHECK(run("gan sample --help", out, err) == 0 && strstr(out, "--grid") && strstr(out, "--out-dir"));
    CHECK(run("gan interpolate --help", out, err) == 0 && strstr(out, "--frames") && strstr(out, "slerp"));
    CHECK(run("gan eval --help", out, err) == 0 && strstr(out, "KID") && strstr(out, "close to, not equal to"));
}

static void test_train_writes_run(void) {
    char out[8192], err[8192];
    CHECK_MSG(run("gan train --data imgs --out runA --steps 6 --sample-every 3 --checkpoint-every 3 --eval-every 3 "
                  "--eval-samples 8" TINY, out, err) == 0, "train failed: %s", err);
    const char *files[] = {"runA/log.jsonl", "runA/samples_000003.png", "runA/samples_000006.png", "runA/curves.svg",
                           "runA/checkpoint.safetensors", "runA/generator.safetensors", "runA/config.json", "runA/kid.svg"};
    for (int i = 0; i < 8; i++) CHECK_MSG(test_exists(files[i]), "%s missing", files[i]);
    size_t n;
    char *log = (char *)test_read_file(test_tmp_path("runA/log.jsonl"), &n);
    CHECK(log && test_count_lines(log) == 8);        /* 6 steps + 2 evaluations */
    CHECK(log && strstr(log, "{\"step\":6,\"d_loss\":") && strstr(log, "\"kid\":") && strstr(log, "\"diversity_ratio\":"));
    free(log);
    image *grid = image_read(test_tmp_path("runA/samples_000006.png"), NULL);
    CHECK(grid && grid->w == 8 * 32 + 9 * 2 && grid->h == 8 * 32 + 9 * 2);  /* 64 samples, 8 x 8 */
    image_free(grid);
    /* a second train into the same folder is refused: --resume or another folder */
    CHECK(run("gan train --data imgs --out runA --steps 6" TINY, out, err) != 0 && strstr(err, "--resume"));
}


static void test_resume_same_bytes(void) {
    char out[8192], err[8192];
    CHECK_MSG(run("gan train --data imgs --out runB --steps 6 --eval-every 0 --sample-every 0" TINY, out, err) == 0, "%s", err);
    CHECK_MSG(run("gan train --data imgs --out runC --steps 4 --eval-every 0 --sample-every 0" TINY, out, err) == 0, "%s", err);
    CHECK_MSG(run("gan train --data imgs --out runC --steps 6 --resume --eval-every 0 --quiet", out, err) == 0, "resume: %s", err);
    CHECK(test_same_file("runB/generator.safetensors", "runC/generator.safetensors"));
    CHECK(test_same_file("runB/checkpoint.safetensors", "runC/checkpoint.safetensors"));
    size_t n;
    char *log = (char *)test_read_file(test_tmp_path("runC/log.jsonl"), &n);
    CHECK(log && test_count_lines(log) == 6);        /* steps 1..4, then 5..6 appended */
    free(log);
}

/* The style loss on the trained InceptionV3's stem (when installed): it trains, the log has
 * the style term, and a resumed run equals an uninterrupted one byte for byte. */
static void test_style_net_resume(void) {
    char out[8192], err[8192], net[4096];
    if (!featnet_find("inception_v3", NULL, net, sizeof net)) { test_skip("inception_v3 is not installed (scripts/install-models.sh)"); return; }
    const char *opts = " --eval-every 0 --sample-every 0 --style-weight 5 --style-net inception_v3" TINY;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "gan train --data imgs --out runN1 --steps 3%s", opts);
    CHECK_MSG(run(cmd, out, err) == 0, "%s", err);
    snprintf(cmd, sizeof cmd, "gan train --data imgs --out runN2 --steps 2%s", opts);
    CHECK_MSG(run(cmd, out, err) == 0, "%s", err);
    CHECK_MSG(run("gan train --data imgs --out runN2 --steps 3 --resume --eval-every 0 --quiet", out, err) == 0, "resume: %s", err);
    CHECK(test_same_file("runN1/checkpoint.safetensors", "runN2/checkpoint.safetensors"));
    size_t n;
    char *log = (char *)test_read_file(test_tmp_path("runN1/log.jsonl"), &n);
    const char *p = log ? strstr(log, "\"style\":") : NULL;
    CHECK_MSG(p && atof(p + 8) > 0, "style term missing: %s", log ? log : "(no log)");
    free(log);
    CHECK_MSG(run("gan train --data imgs --out runN3 --steps 1 --style-weight 5 --style-net no_such_net" TINY, out, err) != 0 &&
              strstr(err, "no_such_net"), "%s", err);
}

static void test_sample_interpolate_eval(void) {
    char out[8192], err[8192];
    if (!test_exists("runA/generator.safetensors")) { test_skip("needs test_train_writes_run"); return; }
    CHECK_MSG(run("gan sample runA/generator.safetensors -n 6 --cols 3 --seed 4 --grid g.png", out, err) == 0, "%s", err);
    image *g = image_read(test_tmp_path("g.png"), NULL);
    CHECK(g && g->w == 3 * 32 + 4 * 2 && g->h == 2 * 32 + 3 * 2);
    image_free(g);
    CHECK_MSG(run("gan sample runA/checkpoint.safetensors -n 3 --seed 4 --out-dir each", out, err) == 0, "%s", err);
    CHECK(test_count_entries(test_tmp_path("each")) == 3);
    /* sample 0 of seed 4 is the same from the grid, the files and the checkpoint */
    image *one = image_read(test_tmp_path("each/sample_0000.png"), NULL);
    g = image_read(test_tmp_path("g.png"), NULL);
    if (one && g) {
        double diff = 0;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    diff = fmax(diff, fabs(one->data[(c * 32 + y) * 32 + x] - g->data[(c * g->h + y + 2) * g->w + x + 2]));
        CHECK_MSG(diff <= 1.0 / 255 + 1e-6, "sample 0 differs by %g", diff);
    }
    image_free(one);
    image_free(g);
    CHECK_MSG(run("gan interpolate runA/generator.safetensors --from 1 --to 2 --frames 5 -o walk.gif", out, err) == 0, "%s", err);
    size_t n;
    unsigned char *gif = test_read_file(test_tmp_path("walk.gif"), &n);
    CHECK(gif && n > 100 && memcmp(gif, "GIF89a", 6) == 0);
    free(gif);
    CHECK_MSG(run("gan interpolate runA/generator.safetensors --from 1 --to 2 --frames 4 -o frames", out, err) == 0, "%s", err);
    CHECK(test_count_entries(test_tmp_path("frames")) == 4);
    CHECK_MSG(run("gan interpolate runA/generator.safetensors --from 1 --to 2 --frames 4 --strip strip.png", out, err) == 0, "%s", err);
    image *strip = image_read(test_tmp_path("strip.png"), NULL);
    CHECK(strip && strip->w == 4 * 32 + 5 * 2 && strip->h == 32 + 4);
    image_free(strip);
    /* the first frame is seed 1's sample 0 */
    CHECK(run("gan sample runA/generator.safetensors -n 1 --seed 1 --out-dir s1", out, err) == 0);
    one = image_read(test_tmp_path("s1/sample_0000.png"), NULL);
    image *f0 = image_read(test_tmp_path("frames/frame_0000.png"), NULL);
    CHECK(one && f0 && one->w == f0->w);
    for (int64_t i = 0; one && f0 && i < 3 * 32 * 32; i++)
        if (fabsf(one->data[i] - f0->data[i]) > 1.0f / 255 + 1e-6f) { CHECK_MSG(0, "frame 0 is not seed 1's sample (pixel %lld)", (long long)i); break; }
    image_free(one);
    image_free(f0);
    CHECK_MSG(run("gan eval runA/generator.safetensors --data imgs -n 8 --features vgg19 --json", out, err) == 0, "%s", err);
    double kid = NAN, ratio = NAN;
    const char *p = strstr(out, "\"kid\":"), *q = strstr(out, "\"diversity_ratio\":");
    if (p) kid = atof(p + 6);
    if (q) ratio = atof(q + 18);
    CHECK_MSG(isfinite(kid) && isfinite(ratio) && ratio > 0, "eval printed: %s", out);
    /* the trained InceptionV3's pooled features, when installed: 2048 values an image (299 px
     * images through InceptionV3: the fast backend only) */
    char net[4096];
    if (featnet_find("inception_v3", NULL, net, sizeof net) && strcmp(backend_current()->name, "ref")) {
        CHECK_MSG(run("gan eval runA/generator.safetensors --data imgs -n 4 --max-images 4 --features inception_v3 --json", out, err) == 0, "%s", err);
        p = strstr(out, "\"kid\":");
        CHECK_MSG(p && isfinite(atof(p + 6)) && strstr(out, "\"features\":\"inception_v3\""), "eval printed: %s", out);
    }
}

/* --style-weight with --style-images: the log's style term is positive; --init-from starts
 * G from a generator file (fine-tuning) */
static void test_style_and_init_from(void) {
    char out[8192], err[8192];
    CHECK_MSG(run("gan train --data imgs --out runS --steps 2 --eval-every 0 --sample-every 0 --style-weight 5 "
                  "--style-images imgs" TINY, out, err) == 0, "%s", err);
    size_t n;
    char *log = (char *)test_read_file(test_tmp_path("runS/log.jsonl"), &n);
    const char *p = log ? strstr(log, "\"style\":") : NULL;
    CHECK_MSG(p && atof(p + 8) > 0, "style term missing: %s", log ? log : "(no log)");
    free(log);
    if (!test_exists("runA/generator.safetensors")) return;
    CHECK_MSG(run("gan train --data imgs --out runI --steps 1 --eval-every 0 --sample-every 0 "
                  "--init-from runA/generator.safetensors" TINY, out, err) == 0, "%s", err);
    CHECK(run("gan train --data imgs --out runJ --steps 1 --ngf 8 --init-from runA/generator.safetensors --quiet", out, err) != 0
          && strstr(err, "does not fit"));
}

/* the built-in generator: 64 px paintings, not flat, not all alike */
static void test_builtin_monet64(void) {
    char out[8192], err[8192];
    int rc = run("gan sample monet64 -n 4 --cols 2 --seed 1 --grid m.png", out, err);
    if (rc != 0 && strstr(err, "no built-in monet64")) { test_skip("this build has no models/monet64.safetensors"); return; }
    CHECK_MSG(rc == 0, "%s", err);
    image *g = image_read(test_tmp_path("m.png"), NULL);
    CHECK(g && g->w == 2 * 64 + 3 * 2 && g->h == 2 * 64 + 3 * 2);
    double mean[4] = {0}, var[4] = {0};
    for (int k = 0; g && k < 4; k++) {
        int ox = 2 + (k % 2) * 66, oy = 2 + (k / 2) * 66;
        for (int pass = 0; pass < 2; pass++)
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 64; y++)
                    for (int x = 0; x < 64; x++) {
                        double v = g->data[((int64_t)c * g->h + oy + y) * g->w + ox + x];
                        if (pass == 0) mean[k] += v / (3 * 64 * 64);
                        else var[k] += (v - mean[k]) * (v - mean[k]) / (3 * 64 * 64);
                    }
        CHECK_MSG(var[k] > 0.002, "sample %d is flat (variance %g)", k, var[k]);
    }
    CHECK(fabs(mean[0] - mean[1]) + fabs(mean[1] - mean[2]) + fabs(mean[2] - mean[3]) > 0.01);
    image_free(g);
}

/* the built-in generator against the paintings it learned from (the data kit): close in
 * KID, diverse, and no copies */
static void test_builtin_monet64_eval(void) {
    char out[8192], err[8192], cmd[512];
    const char *kit = "../shared/data/train/monet";
    if (access(kit, R_OK) != 0) { test_skip("the data kit (../shared/data) is absent"); return; }
    if (strcmp(backend_current()->name, "ref") == 0) { test_skip("VGG features of 300 paintings take minutes on the reference backend"); return; }
    snprintf(cmd, sizeof cmd, "gan eval monet64 --data %s/%s -n 100 --features vgg19 --json", getcwd(out, 4096), kit);
    int rc = run(cmd, out, err);
    if (rc != 0 && strstr(err, "no built-in monet64")) { test_skip("this build has no models/monet64.safetensors"); return; }
    CHECK_MSG(rc == 0, "%s", err);
    const char *kid = strstr(out, "\"kid\":"), *div = strstr(out, "\"diversity_ratio\":"), *copy = strstr(out, "\"copy_fraction\":");
    CHECK_MSG(kid && atof(kid + 6) < 0.002, "KID: %s", out);
    CHECK_MSG(div && atof(div + 18) > 0.7, "diversity: %s", out);
    CHECK_MSG(copy && atof(copy + 16) < 0.05, "copies: %s", out);
    CHECK(strstr(out, "\"collapse_warning\":false") && strstr(out, "\"copy_warning\":false"));
}

static void test_bad_inputs(void) {
    char out[8192], err[8192];
    struct { const char *args, *part; } cases[] = {
        {"gan", "usage"},
        {"gan paint", "unknown command"},
        {"gan train --out r1" TINY, "--data"},
        {"gan train --data imgs" TINY, "--out"},
        {"gan train --data nowhere --out r2" TINY, "nowhere"},
        {"gan train --data imgs --out r3 --size 48", "--size"},
        {"gan train --data imgs --out r4 --arch stylegan", "stylegan"},
        {"gan train --data imgs --out r5 --loss lsgan", "lsgan"},
        {"gan train --data imgs --out r6 --diffaug flip", "flip"},
        {"gan train --data imgs --out r7 --batch 1", "--batch"},
        {"gan train --data imgs --out r8 --lr-g -1", "--lr-g"},
        {"gan train --data imgs --out r9 --steps", "needs a value"},
        {"gan train --data imgs --out r10 --frobnicate 3", "unknown option"},
        {"gan train --data imgs --out r11 --resume", "--resume"},
        {"gan train --data imgs --out r12 --init-from missing.safetensors" TINY, "missing.safetensors"},
        {"gan sample missing.safetensors --grid x.png", "missing.safetensors"},
        {"gan sample imgs/p0.png --grid x.png", "p0.png"},
        {"gan sample runA/generator.safetensors", "--grid"},
        {"gan sample runA/generator.safetensors --grid x.gif", "x.gif"},
        {"gan sample runA/generator.safetensors -n 0 --grid x.png", "-n"},
        {"gan interpolate runA/generator.safetensors --from 1 -o w.gif", "--to"},
        {"gan interpolate runA/generator.safetensors --from 1 --to 2", "-o"},
        {"gan eval runA/generator.safetensors", "--data"},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        int rc = run(cases[i].args, out, err);
        CHECK_MSG(rc != 0, "'%s' succeeded", cases[i].args);
        CHECK_MSG(strstr(err, cases[i].part) != NULL, "'%s': stderr lacks '%s': %s", cases[i].args, cases[i].part, err);
        CHECK_MSG(strstr(err, "usage") || test_count_lines(err) == 1, "'%s': %d lines on stderr: %s", cases[i].args,
                  test_count_lines(err), err);
    }
    CHECK(!test_exists("x.png") && !test_exists("w.gif") && !test_exists("r6/checkpoint.safetensors"));
}

int main(void) {
    if (!test_make_dir() || !write_pictures()) {
        fprintf(stderr, "cannot write the test pictures: %s\n", error_message());
        return 1;
    }
    RUN(test_help);
    RUN(test_train_writes_run);
    RUN(test_resume_same_bytes);
    RUN(test_style_net_resume);
    RUN(test_sample_interpolate_eval);
    RUN(test_style_and_init_from);
    RUN(test_builtin_monet64);
    RUN(test_builtin_monet64_eval);
    RUN(test_bad_inputs);
    test_remove_tree(test_dir);
    return test_finish();
}
