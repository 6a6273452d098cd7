/* `atelier classify train` and `atelier classify MODEL IMAGE` end to end on small synthetic
 * textures (two classes, written as PNG and JPEG files): a CNN run writes its log,
 * checkpoint and model and reaches a high held-out accuracy; train + resume gives the same
 * bytes as a straight run; Ctrl-C leaves a checkpoint that resumes; predictions print as
 * text and JSON; every bad input gets one clear line, a non-zero exit and no output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "atelier/image.h"
#include "atelier/safetensors.h"
#include "harness.h"

#define CLASSES " --class stripes=stripes --class blobs=blobs"
#define CNN " --arch cnn --size 16 --width 8 --batch 8 --lr 0.01 --quiet"

/* Class 0 vertical stripes, class 1 blobs; random colour and phase per image. */
static bool write_texture(const char *path, int cls, int k) {
    int s = 24;
    image *im = image_new(s, s, 3);
    float *r = test_rand_buf(5, (uint64_t)(cls * 1000 + k), 0, 1);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < s; y++)
            for (int x = 0; x < s; x++) {
                float f = 0.7f + 0.3f * r[4], v = cls == 0 ? sinf(x * f + r[0] * 6) : sinf(x * f + r[0] * 6) * sinf(y * f + r[1] * 6);
                im->data[(c * s + y) * s + x] = 0.25f + 0.25f * r[2 + c % 2] + 0.3f * v;
            }
    free(r);
    bool ok = image_write(path, im, NULL) == STATUS_OK;
    image_free(im);
    return ok;
}

static bool write_inputs(void) {
    char path[600];
    const char *dirs[] = {"stripes", "blobs", "empty"};
    for (int d = 0; d < 3; d++)
        if (mkdir(test_tmp_path(dirs[d]), 0777) != 0) return false;
    for (int c = 0; c < 2; c++)
        for (int k = 0; k < 24; k++) {
            snprintf(path, sizeof path, "%s/%02d.%s", test_tmp_path(dirs[c]), k, k % 3 ? "png" : "jpg");
            if (!write_texture(path, c, k)) return false;
        }
    FILE *f = fopen(test_tmp_path("empty/notes.txt"), "w");
    if (!f) return false;
    fputs("no pictures here\n", f);
    fclose(f);
    /* a safetensors file that is not a classifier */
    arena *a = arena_new(1 << 12);
    tensor *t = tensor_new(a, 1, (int[]){4});
    const char *names[1] = {"w"}, *meta[2] = {"format", "atelier-style-net"};
    bool ok = safetensors_save(test_tmp_path("style.safetensors"), names, &t, 1, meta, 1) == STATUS_OK;
    arena_free(a);
    f = fopen(test_tmp_path("junk.safetensors"), "w");
    if (!f) return false;
    fputs("junk", f);
    fclose(f);
    return ok;
}

static int run(const char *args, char *out, char *err) {
    char cmd[8192 + 600];
    snprintf(cmd, sizeof cmd, "cd %s && " ATELIER_BIN " %s", test_dir, args);
    return test_shell(cmd, out, err);
}



static void test_help(void) {
    char out[8192], err[8192];
    CHECK(run("classify --help", out, err) == 0 && strstr(out, "--json") && strstr(out, "classify train"));
    CHECK(run("classify train --help", out, err) == 0);
    const char *opts[] = {"--class", "--out", "--run-dir", "--arch", "--net", "--layer", "--hidden", "--fine-tune", "--width",
                          "--size", "--detail", "--epochs", "--batch", "--lr", "--val", "--seed", "--adversarial", "--eps",
                          "--steps", "--step-size", "--init", "--resume", "--quiet", "[10]", "[32]", "[0.2]"};
    for (int i = 0; i < (int)(sizeof opts / sizeof opts[0]); i++) CHECK_MSG(strstr(out, opts[i]), "train --help lacks %s", opts[i]);
    CHECK(run("--help", out, err) == 0 && strstr(out, "classify"));
}

/* The held-out accuracy of the last "val_acc" line of a log. */
static double last_val_acc(const char *log) {
    const char *p = log, *q;
    double acc = -1;
    while ((q = strstr(p, "\"val_acc\":"))) { acc = atof(q + 10); p = q + 1; }
    return acc;
}

static void test_train_resume_predict(void) {
    char out[8192], err[8192];
    CHECK_MSG(run("classify train" CLASSES CNN " --epochs 12 --out a.safetensors", out, err) == 0, "train failed: %s", err);
    CHECK(test_exists("a.safetensors") && test_exists("a.run/log.jsonl") && test_exists("a.run/checkpoint.safetensors"));
    CHECK_MSG(strstr(err, "final, epoch 12: held-out accuracy") && strstr(err, "predicted"), "final table missing: %s", err);
    size_t n;
    char *log = (char *)test_read_file(test_tmp_path("a.run/log.jsonl"), &n);
    /* 38 training images, batch 8: 5 steps an epoch; 60 steps and 12 evaluations */
    CHECK(log && test_count_lines(log) == 72);
    double acc = log ? last_val_acc(log) : -1;
    CHECK_MSG(acc > 0.9, "held-out accuracy %.3f", acc);
    CHECK(log && strstr(log, "\"confusion\":[["));
    free(log);
    /* the held-out list: 10 images, 5 of each class (--val 0.2 of 24) */
    char *ho = (char *)test_read_file(test_tmp_path("a.run/heldout.tsv"), &n);
    CHECK_MSG(ho && test_count_lines(ho) == 10 && strstr(ho, "stripes\tstripes/") && strstr(ho, "blobs\tblobs/"), "%s", ho ? ho : "no heldout.tsv");
    free(ho);
    /* 6 epochs, then resumed to 12: the same bytes */
    CHECK(run("classify train" CLASSES CNN " --epochs 6 --out b.safetensors", out, err) == 0);
    CHECK_MSG(run("classify train" CLASSES CNN " --epochs 12 --out b.safetensors --resume", out, err) == 0, "resume: %s", err);
    CHECK_MSG(test_same_file("a.safetensors", "b.safetensors"), "the resumed model differs from the straight run's");
    CHECK(test_same_file("a.run/checkpoint.safetensors", "b.run/checkpoint.safetensors"));
    log = (char *)test_read_file(test_tmp_path("b.run/log.jsonl"), &n);
    CHECK(log && test_count_lines(log) == 72);
    free(log);
    /* a new run over an old one is refused */
    CHECK(run("classify train" CLASSES CNN " --epochs 1 --out a.safetensors", out, err) != 0 && strstr(err, "--resume"));
    /* predictions */
    CHECK_MSG(run("classify a.safetensors stripes/01.png blobs/02.png", out, err) == 0, "predict: %s", err);
    CHECK_MSG(test_count_lines(out) == 2 && strstr(out, "stripes/01.png: stripes") && strstr(out, "blobs/02.png: blobs"), "%s", out);
    CHECK(run("classify a.safetensors --json blobs/03.jpg", out, err) == 0);
    CHECK_MSG(strstr(out, "{\"image\":\"blobs/03.jpg\",\"class\":\"blobs\",\"probabilities\":{\"stripes\":"), "%s", out);
    double p0 = -1, p1 = -1;
    const char *q = strstr(out, "\"stripes\":"), *r = strstr(out, "\"blobs\":{") ? NULL : strstr(out, "\"blobs\":");
    if (q) p0 = atof(q + 10);
    if (r) p1 = atof(r + 8);
    CHECK_NEAR(p0 + p1, 1.0, 2e-6, 0);
}

static void test_interrupt(void) {
    char out[8192], err[8192], cmd[8192];
    /* SIGINT once the run has logged a step (a fixed delay raced the program's start on a
     * loaded machine: a signal before the handler is installed kills it silently) */
    snprintf(cmd, sizeof cmd, "cd %s && { " ATELIER_BIN " classify train" CLASSES CNN " --epochs 1000000 --out c.safetensors & p=$!;"
             " i=0; while [ ! -s c.run/log.jsonl ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done;"
             " sleep 0.2; kill -INT $p; wait $p; }", test_dir);
    int rc = test_shell(cmd, out, err);
    CHECK_MSG(rc == 130, "exit %d after SIGINT (want 130): %s", rc, err);
    CHECK_MSG(strstr(err, "interrupted at step") && test_exists("c.run/checkpoint.safetensors") && test_exists("c.safetensors"), "%s", err);
    size_t n;
    char *log = (char *)test_read_file(test_tmp_path("c.run/log.jsonl"), &n);
    int lines = log ? test_count_lines(log) : 0;
    free(log);
    CHECK(lines > 0);
    /* one more epoch than it reached */
    int steps = 0;
    FILE *f = fopen(test_tmp_path("c.run/log.jsonl"), "r");
    char line[4096];
    while (f && fgets(line, sizeof line, f)) if (!strstr(line, "val_acc")) steps++;
    if (f) fclose(f);
    snprintf(cmd, sizeof cmd, "classify train" CLASSES CNN " --epochs %d --out c.safetensors --resume", steps / 5 + 1);
    CHECK_MSG(run(cmd, out, err) == 0, "resume after Ctrl-C: %s", err);
}

static void test_bad_inputs(void) {
    char out[8192], err[8192];
    struct { const char *args, *want; } cases[] = {
        {"classify nomodel.safetensors stripes/01.png", "nomodel.safetensors"},
        {"classify junk.safetensors stripes/01.png", "junk.safetensors"},
        {"classify style.safetensors stripes/01.png", "not an Atelier classifier"},
        {"classify stripes/01.png stripes/02.png", "stripes/01.png"},
        {"classify a.safetensors stripes/01.png nophoto.png", "nophoto.png"},
        {"classify a.safetensors", "at least one image"},
        {"classify train --class stripes=stripes --class none=empty --out r1.safetensors" CNN, "no images"},
        {"classify train --class stripes=stripes --class none=nowhere --out r2.safetensors" CNN, "nowhere"},
        {"classify train --class stripes=stripes --out r3.safetensors" CNN, "at least 2"},
        {"classify train --class stripes --class blobs=blobs --out r4.safetensors" CNN, "NAME=DIR"},
        {"classify train" CLASSES " --out r5.safetensors --adversarial pgd --eps -1" CNN, "--eps"},
        {"classify train" CLASSES " --out r6.safetensors --adversarial pgd --eps 0" CNN, "--eps"},
        {"classify train" CLASSES " --out r7.safetensors --adversarial pgd --eps 2" CNN, "--eps"},
        {"classify train" CLASSES " --out r8.safetensors --adversarial pgd --eps 8/0" CNN, "--eps"},
        {"classify train" CLASSES " --out r9.safetensors --adversarial pgd --eps abc" CNN, "--eps"},
        {"classify train" CLASSES " --out r10.safetensors --eps 0.03" CNN, "--adversarial pgd"},
        {"classify train" CLASSES " --out r11.safetensors --adversarial fgsm" CNN, "fgsm"},
        {"classify train --class a=stripes --class a=blobs --out r12.safetensors" CNN, "two classes are named"},
        {"classify train" CLASSES " --out r13.safetensors --net nonet --size 16 --quiet", "nonet"},
        {"classify train" CLASSES " --out r14.safetensors --detail 40" CNN, "detail 40"},
        {"classify train" CLASSES CNN, "--out"},
        {"classify train" CLASSES " --out r16.safetensors --init style.safetensors" CNN, "not an Atelier classifier"},
        {"classify train" CLASSES " --out r17.safetensors --init a.safetensors" CNN " --width 4", "another shape"},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        int rc = run(cases[i].args, out, err);
        CHECK_MSG(rc != 0, "'%s' succeeded", cases[i].args);
        CHECK_MSG(strstr(err, cases[i].want), "'%s': stderr '%s' lacks '%s'", cases[i].args, err, cases[i].want);
        CHECK_MSG(test_count_lines(err) == 1, "'%s': %d lines on stderr: %s", cases[i].args, test_count_lines(err), err);
        CHECK_MSG(!*out, "'%s' printed '%s'", cases[i].args, out);
        char name[32], run_dir[32];
        snprintf(name, sizeof name, "r%d.safetensors", i - 5);
        snprintf(run_dir, sizeof run_dir, "r%d.run", i - 5);
        if (i >= 6) CHECK_MSG(!test_exists(name) && !test_exists(run_dir), "'%s' left %s or %s", cases[i].args, name, run_dir);
    }
}

int main(void) {
    if (!test_make_dir() || !write_inputs()) {
        fprintf(stderr, "cannot write the test pictures: %s\n", error_message());
        return 1;
    }
    RUN(test_help);
    RUN(test_train_resume_predict);
    RUN(test_interrupt);
    RUN(test_bad_inputs);
    test_remove_tree(test_dir);
    return test_finish();
}
