/* `atelier attack` end to end: a small CNN trained by `atelier classify train` on synthetic
 * stripes (horizontal vs vertical, low contrast, noisy); one image attacked by FGSM, PGD and
 * C&W (the output stays in [0,1] and the eps ball of the input, and records its metadata);
 * a universal perturbation over a folder; --eval's table, sanity checks and SVG; bad inputs
 * (unknown model file, eps out of range, wrong sizes, an empty or unknown class folder)
 * get one clear line, a non-zero exit and no output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "atelier/image.h"
#include "atelier/rng.h"
#include "harness.h"

#define S 16

static int run(const char *args, char *out, char *err) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd %s && " ATELIER_BIN " %s", test_dir, args);
    return test_shell(cmd, out, err);
}


static bool write_class(const char *dir, bool vertical, int n, uint64_t seed) {
    if (mkdir(test_tmp_path(dir), 0777) != 0) return false;
    rng r = rng_new(seed);
    for (int k = 0; k < n; k++) {
        image *im = image_new(S, S, 3);
        float ph = rng_float(&r) * 6.28f, noise[3 * S * S];
        rng_normal(&r, noise, 3 * S * S, 0, 0.05f);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++) {
                    int j = (c * S + y) * S + x;
                    im->data[j] = fminf(fmaxf(0.5f + 0.15f * sinf((vertical ? x : y) * 1.2f + ph) + noise[j], 0), 1);
                }
        char path[256];
        snprintf(path, sizeof path, "%s/%02d.png", test_tmp_path(dir), k);
        bool ok = image_write(path, im, NULL) == STATUS_OK;
        image_free(im);
        if (!ok) return false;
    }
    return true;
}

static bool ready;

static void setup(void) {
    char out[8192], err[8192];
    ready = test_make_dir() && write_class("horizontal", false, 24, 1) && write_class("vertical", true, 24, 2) &&
            mkdir(test_tmp_path("eval"), 0777) == 0 && write_class("eval/horizontal", false, 8, 3) &&
            write_class("eval/vertical", true, 8, 4) && mkdir(test_tmp_path("empty"), 0777) == 0 &&
            mkdir(test_tmp_path("empty/horizontal"), 0777) == 0;
    CHECK_MSG(ready, "cannot write the synthetic images");
    if (!ready) return;
    int rc = run("classify train --class horizontal=horizontal --class vertical=vertical --arch cnn --size 16 "
                 "--width 4 --epochs 12 --batch 8 --lr 0.01 --val 0.1 --out m.safetensors --quiet", out, err);
    CHECK_MSG(rc == 0 && test_exists("m.safetensors"), "classify train failed: %s", err);
    ready = rc == 0;
}

static void test_help(void) {
    char out[8192], err[8192];
    CHECK(run("attack --help", out, err) == 0);
    const char *opts[] = {"--method", "--eps", "--norm", "--steps", "--step-size", "--restarts", "--random-start",
                          "--target", "--batch", "--eval", "--label", "--seed", "--max-images", "--cw-search", "8/255",
                          "0,1,2,4,8,16/255"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) CHECK_MSG(strstr(out, opts[i]), "--help lacks %s", opts[i]);
}

/* max |a - b| over the pixels of two image files of the same size, -1 if they differ */
static float file_linf(const char *a, const char *b, image **adv_out) {
    image *x = image_read(test_tmp_path(a), NULL), *y = image_read(test_tmp_path(b), NULL);
    float m = -1;
    if (x && y && x->w == y->w && x->h == y->h) {
        m = 0;
        for (int j = 0; j < 3 * x->w * x->h; j++) m = fmaxf(m, fabsf(x->data[j] - y->data[j]));
    }
    image_free(x);
    if (adv_out) *adv_out = y;
    else image_free(y);
    return m;
}

static void test_one_image(void) {
    if (!ready) { test_skip("no model"); return; }
    char out[8192], err[8192];
    const char *runs[] = {"--method fgsm --eps 8/255 --save-input in0.png --save-diff diff0.png", "--method pgd --eps 16/255 --steps 10 --restarts 2",
                          "--method pgd --eps 0.05", "--method pgd --norm l2 --eps 1", "--method cw --eps 0 --steps 30 --cw-search 2",
                          "--method pgd --eps 16/255 --target vertical"};
    float lim[] = {8.0f / 255, 16.0f / 255, 0.05f, 1, 1, 16.0f / 255};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char args[512];
        snprintf(args, sizeof args, "attack m.safetensors horizontal/03.png -o adv%zu.png %s", i, runs[i]);
        CHECK_MSG(run(args, out, err) == 0, "%s: %s", args, err);
        CHECK_MSG(strstr(out, "->"), "%s: no summary line: %s", args, out);
        char name[32];
        snprintf(name, sizeof name, "adv%zu.png", i);
        image *adv = NULL;
        float d = file_linf("horizontal/03.png", name, &adv);
        /* 8-bit files on both sides: the linf ball holds exactly */
        CHECK_MSG(d >= 0 && d <= lim[i] + 1e-6f, "%s: max |delta| %g, eps %g", runs[i], (double)d, (double)lim[i]);
        CHECK(adv && image_text_get(adv, "attack.method") && image_text_get(adv, "attack.eps") &&
              image_text_get(adv, "attack.norm") && image_text_get(adv, "attack.true") && image_text_get(adv, "attack.clean") &&
              image_text_get(adv, "attack.prediction"));
        if (adv && i == 0) {
            CHECK(strcmp(image_text_get(adv, "attack.method"), "fgsm") == 0);
            CHECK(fabs(atof(image_text_get(adv, "attack.eps")) - 8.0 / 255) < 1e-6);
            CHECK(strncmp(image_text_get(adv, "attack.true"), "horizontal", 10) == 0);
        }
        if (adv && i == 3) {
            double ss = 0;
            image *x = image_read(test_tmp_path("horizontal/03.png"), NULL);
            for (int j = 0; x && j < 3 * S * S; j++) ss += pow(adv->data[j] - x->data[j], 2);
            CHECK_MSG(x && sqrt(ss) <= 1 + 1e-5, "l2 %g", sqrt(ss));
            image_free(x);
        }
        if (adv && i == 5) CHECK(strncmp(image_text_get(adv, "attack.prediction"), "vertical", 8) == 0);
        image_free(adv);
    }
    CHECK(file_linf("horizontal/03.png", "in0.png", NULL) == 0);   /* the model's view of a 16 px image */
    CHECK(test_exists("diff0.png"));
    /* the strong attacks flip this plain model */
    image *adv = image_read(test_tmp_path("adv1.png"), NULL);
    CHECK(adv && strncmp(image_text_get(adv, "attack.prediction"), "vertical", 8) == 0);
    image_free(adv);
}

static void test_batch(void) {
    if (!ready) { test_skip("no model"); return; }
    char out[8192], err[8192];
    CHECK_MSG(run("attack m.safetensors --batch eval/horizontal -o uni --eps 16/255 --steps 10", out, err) == 0, "%s", err);
    CHECK(strstr(out, "changes") && test_exists("uni/perturbation.png") && test_exists("uni/00.png") && test_exists("uni/07.png"));
    char a[64], b[64];
    for (int k = 0; k < 8; k++) {
        snprintf(a, sizeof a, "eval/horizontal/%02d.png", k);
        snprintf(b, sizeof b, "uni/%02d.png", k);
        float d = file_linf(a, b, NULL);
        CHECK_MSG(d >= 0 && d <= 16.0f / 255 + 1e-6f, "%s: %g", b, (double)d);
    }
}

static void test_eval(void) {
    if (!ready) { test_skip("no model"); return; }
    char out[8192], err[8192];
    CHECK_MSG(run("attack m.safetensors --eval eval --eps 0,16,64/255 --max-images 4 -o curves.svg -q", out, err) == 0, "%s", err);
    printf("%s", out);
    CHECK(strstr(out, "8 images") && strstr(out, "PGD-50") && strstr(out, "64/255") && strstr(out, "sanity checks"));
    CHECK(strstr(out, "[ok] PGD never above FGSM") && strstr(out, "[ok] more steps or restarts"));
    CHECK(strstr(out, "[ok] accuracy at eps 1 (unbounded)"));
    size_t n;
    char *svg = (char *)test_read_file(test_tmp_path("curves.svg"), &n);
    CHECK(svg && strstr(svg, "<svg") && strstr(svg, "PGD-50") && strstr(svg, "random-sign noise"));
    free(svg);
}

static void test_bad_inputs(void) {
    if (!ready) { test_skip("no model"); return; }
    char out[8192], err[8192];
    struct { const char *args, *part, *output; } cases[] = {
        {"attack nothere.safetensors horizontal/00.png -o b0.png", "nothere", "b0.png"},
        {"attack horizontal/00.png horizontal/01.png -o b1.png", "", "b1.png"},
        {"attack m.safetensors horizontal/00.png -o b2.png --eps 2", "above 1", "b2.png"},
        {"attack m.safetensors horizontal/00.png -o b3.png --eps -1/255", "below 0", "b3.png"},
        {"attack m.safetensors horizontal/00.png -o b4.png --eps abc", "not a number", "b4.png"},
        {"attack m.safetensors horizontal/00.png -o b5.png --eps 0", "eps 0", "b5.png"},
        {"attack m.safetensors horizontal/00.png -o b6.png --norm l2 --eps 100", "l2 size", "b6.png"},
        {"attack m.safetensors horizontal/00.png -o b7.png --target cubist", "not a class", "b7.png"},
        {"attack m.safetensors horizontal/nothere.png -o b8.png", "nothere", "b8.png"},
        {"attack m.safetensors horizontal/00.png -o b9.png --method blur", "blur", "b9.png"},
        {"attack m.safetensors --eval empty -o b10.svg", "empty", "b10.svg"},
        {"attack m.safetensors --eval horizontal -o b11.svg", "no class subfolders", "b11.svg"},
        {"attack m.safetensors --eval . -o b12.svg", "not a class", "b12.svg"},
        {"attack m.safetensors --batch empty/horizontal -o b13", "empty", "b13"},
        {"attack m.safetensors horizontal/00.png", "-o", "b14.png"},
        {"attack m.safetensors horizontal/00.png -o b15.png --steps 0", "steps", "b15.png"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = run(cases[i].args, out, err);
        CHECK_MSG(rc != 0, "%s: exit 0", cases[i].args);
        CHECK_MSG(test_count_lines(err) == 1 && strstr(err, cases[i].part), "%s: stderr '%s' (want one line with '%s')",
                  cases[i].args, err, cases[i].part);
        CHECK_MSG(!test_exists(cases[i].output), "%s: left %s", cases[i].args, cases[i].output);
    }
}

int main(void) {
    setup();
    RUN(test_help);
    RUN(test_one_image);
    RUN(test_batch);
    RUN(test_eval);
    RUN(test_bad_inputs);
    if (!getenv("KEEP")) test_remove_tree(test_dir);
    else printf("kept %s\n", test_dir);
    return test_finish();
}
