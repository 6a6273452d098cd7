/* `atelier style-net train` and `atelier stylize --model` end to end on small synthetic
 * pictures, with the built-in VGG-19 as the loss network (always present): a run writes its
 * log, samples, curves, checkpoint and model; train + resume gives the same model bytes as a
 * straight run; Ctrl-C leaves a checkpoint that resumes; the model paints with a style, a
 * blend, a strength, preserved colours and tiles, and records its hash and settings; every
 * bad input gets one clear line, a non-zero exit and no output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "atelier/image.h"
#include "atelier/sha256.h"
#include "harness.h"

#define TINY " --net vgg19 --content-layers relu2_1 --style-layers relu1_1,relu2_1 --width 0.25 --image-size 32" \
             " --load-size 40 --style-size 48 --batch 2 --lr 0.003 --val 2 --quiet"

static bool write_image(const char *path, int w, int h, int k) {
    image *im = image_new(w, h, 3);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                im->data[(c * h + y) * w + x] = 0.5f + 0.45f * sinf(x * 0.13f * (k + 1) + c * 2) * cosf(y * 0.11f + k);
    bool ok = image_write(path, im, NULL) == STATUS_OK;
    image_free(im);
    return ok;
}

static bool write_inputs(void) {
    char path[600];
    snprintf(path, sizeof path, "%s", test_tmp_path("photos"));
    if (mkdir(path, 0777) != 0 || mkdir(test_tmp_path("empty"), 0777) != 0) return false;
    for (int k = 0; k < 6; k++) {
        snprintf(path, sizeof path, "%s/p%d.%s", test_tmp_path("photos"), k, k % 2 ? "jpg" : "png");
        if (!write_image(path, 48 + 4 * k, 44, k)) return false;
    }
    FILE *f = fopen(test_tmp_path("empty/notes.txt"), "w");
    if (!f) return false;
    fputs("no pictures here\n", f);
    fclose(f);
    return write_image(test_tmp_path("waves.png"), 64, 64, 7) && write_image(test_tmp_path("dots.jpg"), 56, 72, 3) &&
           write_image(test_tmp_path("photo.png"), 96, 72, 1);
}

static int run(const char *args, char *out, char *err) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd %s && " ATELIER_BIN " %s", test_dir, args);
    return test_shell(cmd, out, err);
}



static void test_help(void) {
    char out[8192], err[8192];
    CHECK(run("style-net --help", out, err) == 0 && strstr(out, "train") && strstr(out, "show"));
    CHECK(run("style-net train --help", out, err) == 0);
    const char *opts[] = {"--style", "--name", "--data", "--out", "--width", "--image-size", "--load-size", "--style-size",
                          "--batch", "--steps", "--lr", "--net", "--content-weight", "--style-weight", "--tv-weight",
                          "--content-layers", "--style-layers", "--seed", "--val", "--sample-every",
                          "--checkpoint-every", "--resume", "--quiet"};
    for (int i = 0; i < (int)(sizeof opts / sizeof opts[0]); i++) CHECK_MSG(strstr(out, opts[i]), "train --help lacks %s", opts[i]);
    CHECK(run("stylize --help", out, err) == 0 && strstr(out, "--model") && strstr(out, "--mix") && strstr(out, "--strength"));
}

static void test_train_resume_paint(void) {
    char out[8192], err[8192];
    CHECK_MSG(run("style-net train --style waves.png --style dots.jpg --name waves --name dots --data photos --out runA"
                  " --steps 6 --sample-every 3 --checkpoint-every 3" TINY, out, err) == 0, "train failed: %s", err);
    const char *files[] = {"runA/log.jsonl", "runA/samples_000000.jpg", "runA/samples_000003.jpg", "runA/samples_000006.jpg",
                           "runA/curves.svg", "runA/checkpoint.safetensors", "runA/model.safetensors"};
    for (int i = 0; i < 7; i++) CHECK_MSG(test_exists(files[i]), "%s missing", files[i]);
    size_t n;
    char *log = (char *)test_read_file(test_tmp_path("runA/log.jsonl"), &n);
    CHECK(log && test_count_lines(log) == 9);   /* 6 steps + 3 validations */
    CHECK(log && strstr(log, "{\"step\":6,\"loss\":") && strstr(log, "\"waves\":[") && strstr(log, "\"val_loss\":"));
    free(log);
    image *grid = image_read(test_tmp_path("runA/samples_000006.jpg"), NULL);
    CHECK(grid && grid->w == 3 * 32 + 4 * 2 && grid->h == 2 * 32 + 3 * 2);   /* 2 photos x (photo + 2 styles) */
    image_free(grid);
    CHECK(run("style-net train --style waves.png --data photos --out runA --steps 6" TINY, out, err) != 0 && strstr(err, "--resume"));
    /* 3 steps, then a resume to 6: the same model as the straight run */
    CHECK(run("style-net train --style waves.png --style dots.jpg --name waves --name dots --data photos --out runB"
              " --steps 3 --sample-every 3 --checkpoint-every 3" TINY, out, err) == 0);
    CHECK_MSG(run("style-net train --data photos --out runB --steps 6 --sample-every 3 --checkpoint-every 3 --resume --quiet",
                  out, err) == 0, "resume failed: %s", err);
    CHECK_MSG(test_same_file("runA/model.safetensors", "runB/model.safetensors"), "resumed model differs from the straight run's");
    CHECK(run("style-net show runA/model.safetensors", out, err) == 0 && strstr(out, "waves") && strstr(out, "dots") &&
          strstr(out, "2 styles"));
    /* painting */
    CHECK_MSG(run("stylize photo.png --model runA/model.safetensors --style dots -o dots.png --quiet", out, err) == 0, "%s", err);
    CHECK_MSG(run("stylize photo.png --model runA/model.safetensors --mix dots:1,waves:0 -o mix.png --quiet", out, err) == 0, "%s", err);
    CHECK(test_same_file("dots.png", "mix.png"));
    CHECK(run("stylize photo.png --model runA/model.safetensors -s 1 -o idx.png --quiet", out, err) == 0 && test_same_file("dots.png", "idx.png"));
    CHECK(run("stylize photo.png --model runA/model.safetensors --strength 0.5 --preserve-colors --size 64 -o soft.jpg", out, err) == 0);
    CHECK(strstr(err, "wrote soft.jpg (64x48"));
    image *im = image_read(test_tmp_path("dots.png"), NULL);
    CHECK(im && im->w == 96 && im->h == 72);
    const char *settings = im ? image_text_get(im, "atelier.settings") : NULL;
    CHECK(settings && strstr(settings, "\"path\": \"fast\"") && strstr(settings, "\"dots\": 1") && strstr(settings, "model.safetensors"));
    const char *hash = im ? image_text_get(im, "atelier.model.sha256") : NULL;
    char hex[65];
    CHECK(sha256_file(test_tmp_path("runA/model.safetensors"), hex));
    CHECK_MSG(hash && !strcmp(hash, hex), "recorded model hash %s, the file's %s", hash ? hash : "(none)", hex);
    image_free(im);
    /* tiles: forced with a small tile on a larger output, the same picture up to the blend */
    CHECK_MSG(run("stylize photo.png --model runA/model.safetensors --size 400 --tile 128 -o tiled.png --quiet", out, err) == 0, "%s", err);
    im = image_read(test_tmp_path("tiled.png"), NULL);
    CHECK(im && im->w == 400 && im->h == 300);
    image_free(im);
}

/* Ctrl-C: a checkpoint at the step reached, exit 130, and the run resumes from it. */
static void test_interrupt(void) {
    char out[8192], err[8192];
    char cmd[4096];
    /* SIGINT once a step is logged (a fixed delay can land before the handler on a busy machine) */
    snprintf(cmd, sizeof cmd, "cd %s && { " ATELIER_BIN " style-net train --style waves.png --data photos --out runC"
             " --steps 1000000 --sample-every 0 --checkpoint-every 0" TINY " & p=$!; i=0;"
             " while [ ! -s runC/log.jsonl ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done;"
             " sleep 0.5; kill -INT $p; wait $p; }", test_dir);
    int rc = test_shell(cmd, out, err);
    CHECK_MSG(rc == 130, "exit %d after SIGINT (want 130): %s", rc, err);
    CHECK_MSG(strstr(err, "interrupted at step") && strstr(err, "--resume"), "%s", err);
    CHECK(test_exists("runC/checkpoint.safetensors") && test_exists("runC/model.safetensors"));
    CHECK_MSG(run("style-net show runC/model.safetensors", out, err) == 0, "%s", err);
    /* the run goes on from the step it reached */
    size_t n;
    char *log = (char *)test_read_file(test_tmp_path("runC/log.jsonl"), &n);
    int steps = log ? test_count_lines(log) : 0;
    free(log);
    CHECK(steps >= 1);
    snprintf(cmd, sizeof cmd, "style-net train --data photos --out runC --steps %d --resume --quiet", steps + 2);
    CHECK_MSG(run(cmd, out, err) == 0, "%s", err);
    log = (char *)test_read_file(test_tmp_path("runC/log.jsonl"), &n);
    char want[64];
    snprintf(want, sizeof want, "{\"step\":%d,\"loss\":", steps + 2);
    CHECK_MSG(log && strstr(log, want) && test_count_lines(log) == steps + 3, "the resumed log: %s", log ? log : "missing");
    free(log);
}

static void test_bad_inputs(void) {
    char out[8192], err[8192];
    struct { const char *args, *want; } cases[] = {
        {"style-net train --style waves.png --data empty --out r1" TINY, "no images"},
        {"style-net train --style waves.png --data nowhere --out r2" TINY, "nowhere"},
        {"style-net train --data photos --out r3" TINY, "give --style"},
        {"style-net train --style missing.png --data photos --out r4" TINY, "missing.png"},
        {"style-net train --style waves.png --data photos --out r5" TINY " --image-size 34", "multiple of 4"},
        {"style-net train --style waves.png --data photos --out r6" TINY " --net nonet", "nonet"},
        {"style-net train --style waves.png --style waves.png --data photos --out r7" TINY, "two styles are named"},
        {"stylize photo.png --model nomodel -o x1.png", "no model 'nomodel'"},
        {"stylize photo.png --model runA/checkpoint.safetensors -o x2.png", "training checkpoint"},
        {"stylize photo.png --model waves.png -o x3.png", "waves.png"},
        {"stylize photo.png --model runA/model.safetensors -s picasso -o x4.png", "no style 'picasso'"},
        {"stylize photo.png --model runA/model.safetensors --strength 1.5 -o x5.png", "--strength"},
        {"stylize photo.png --model runA/model.safetensors --mix waves:0 -o x6.png", "sum to 0"},
        {"stylize photo.png --model runA/model.safetensors -o x7.gif", "must end in"},
        {"stylize nophoto.png --model runA/model.safetensors -o x8.png", "nophoto.png"},
        {"stylize photo.png -s waves.png --strength 0.5 -o x9.png", "give --model"},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        int rc = run(cases[i].args, out, err);
        CHECK_MSG(rc != 0, "'%s' succeeded", cases[i].args);
        CHECK_MSG(strstr(err, cases[i].want), "'%s': stderr '%s' lacks '%s'", cases[i].args, err, cases[i].want);
        CHECK_MSG(test_count_lines(err) == 1, "'%s': %d lines on stderr: %s", cases[i].args, test_count_lines(err), err);
    }
    const char *none[] = {"x1.png", "x2.png", "x3.png", "x4.png", "x5.png", "x6.png", "x7.gif", "x8.png", "x9.png",
                          "r1/model.safetensors", "r3", "r5"};
    for (int i = 0; i < (int)(sizeof none / sizeof none[0]); i++) CHECK_MSG(!test_exists(none[i]), "%s was written", none[i]);
}

int main(void) {
    if (!test_make_dir() || !write_inputs()) {
        fprintf(stderr, "cannot write the test pictures: %s\n", error_message());
        return 1;
    }
    RUN(test_help);
    RUN(test_train_resume_paint);
    RUN(test_interrupt);
    RUN(test_bad_inputs);
    test_remove_tree(test_dir);
    return test_finish();
}
