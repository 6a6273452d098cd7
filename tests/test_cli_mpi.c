/* Data-parallel training with MPI (dist.h) end to end: `mpirun -np 2 atelier style-net train`
 * with batch B gives the weights of one process with batch B after the same steps, and so
 * does a run that resumes with another number of processes (2 -> 1, 1 -> 2). The same for
 * `atelier gan train`, whose batch norm takes the whole batch's statistics over the ranks
 * (op_batch_norm_sync): DCGAN with batch norm in G and D, and WGAN-GP with DiffAugment
 * (each rank its rows' share of the penalty and of the augmentation draws). Skips, saying
 * so, when the build has no MPI or mpirun is missing (CI installs both).
 *
 * What is compared, and the tolerance: the ranks' gradients are summed in another order than
 * one process sums the whole batch's (float32 rounding), and Adam divides by sqrt(v), so a
 * gradient that is only rounding noise becomes a step of the full learning rate in a random
 * direction. The biases of the convolutions that an instance norm follows are such: the norm
 * removes them, their gradient is 0 but for rounding, and they drift by up to lr per step
 * in any run, with no effect on the network's function. So the test compares what the
 * networks compute: the paintings of a fixed photo (values in [0, 1]) agree within 1/255,
 * one level of an 8-bit picture (measured 2.5e-3 after 2 steps on 2 processes, 6e-5 when
 * the first 2 steps ran on one: the first steps, with Adam's v still tiny, magnify most);
 * the convolution weights within 2e-3 (measured 6e-4: a few elements of near-zero gradient
 * move by a fraction of lr = 0.003). 4 steps change the painting by 0.7. The scenario
 * runs on the default backend only (the reference one would take minutes). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "atelier/gan.h"
#include "atelier/image.h"
#include "atelier/safetensors.h"
#include "atelier/stylenet.h"
#include "harness.h"

#define TINY " --net vgg19 --content-layers relu2_1 --style-layers relu1_1,relu2_1 --width 0.25 --image-size 32" \
             " --load-size 40 --style-size 48 --batch 4 --lr 0.003 --val 2 --sample-every 0 --checkpoint-every 2 --quiet"
/* The launcher: as root mpirun wants both variables. Under a sanitizer build the ranks run
 * without the leak check: OpenMPI's plugins (dlopen'd, unloaded at exit) leave allocations
 * that LeakSanitizer can name no module for, so no suppression can single them out. The
 * memory errors are still checked, and the single-process runs of this test (the same
 * trainer) keep the leak check. */
static const char *mpirun(void) {
    return "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=detect_leaks=0 "
           "mpirun --oversubscribe --bind-to none -x ASAN_OPTIONS -np 2 ";
}

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

/* n test-made images in the folder name: k-th of (w0 + dw k) x h */
static void write_folder(const char *name, const char *prefix, int n, int w0, int dw, int h) {
    char path[600];
    snprintf(path, sizeof path, "%s", test_tmp_path(name));
    CHECK(mkdir(path, 0777) == 0);
    for (int k = 0; k < n; k++) {
        snprintf(path, sizeof path, "%s/%s%d.png", test_tmp_path(name), prefix, k);
        CHECK(write_image(path, w0 + dw * k, h, k));
    }
}

static int run(const char *launcher, const char *args, char *out, char *err) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd %s && %s" ATELIER_BIN " style-net train --style waves.png --data photos %s" TINY, test_dir,
             launcher, args);
    return test_shell(cmd, out, err);
}

/* The largest |a - b| over the ".weight" tensors of two model files (-1: no match). */
static double max_diff_weights(const char *a, const char *b) {
    safetensors *fa = safetensors_open(test_tmp_path(a)), *fb = safetensors_open(test_tmp_path(b));
    arena *ar = arena_new(8 << 20);
    double worst = fa && fb && ar ? 0 : -1;
    for (int i = 0; worst >= 0 && i < safetensors_count(fa); i++) {
        const char *name = safetensors_name(fa, i);
        size_t n = strlen(name);
        if (n < 7 || strcmp(name + n - 7, ".weight")) continue;
        tensor *x = safetensors_get(fa, ar, name), *y = safetensors_get(fb, ar, name);
        if (!x || !y || x->numel != y->numel) { worst = -1; break; }
        for (int64_t k = 0; k < x->numel; k++) worst = fmax(worst, fabs((double)x->data[k] - y->data[k]));
    }
    arena_free(ar);
    safetensors_close(fa);
    safetensors_close(fb);
    error_clear();
    return worst;
}

/* The largest |a - b| between two models' paintings of one fixed photo (-1: no model). */
static double max_diff_painting(const char *a, const char *b) {
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s", test_tmp_path(a));
    snprintf(pb, sizeof pb, "%s", test_tmp_path(b));
    stylenet *ma = stylenet_load(pa), *mb = stylenet_load(pb);
    arena *ar = arena_new(16 << 20);
    double worst = -1;
    if (ma && mb && ar) {
        tensor *x = tensor_new(ar, 4, (int[]){1, 3, 32, 32}), *mix = tensor_new(ar, 2, (int[]){1, ma->nstyles});
        for (int64_t k = 0; x && k < x->numel; k++) x->data[k] = 0.5f + 0.4f * sinf((float)k * 0.37f);
        if (mix) mix->data[0] = 1.0f;
        tensor *ya = x && mix ? stylenet_forward(ma, ar, x, mix) : NULL, *yb = ya ? stylenet_forward(mb, ar, x, mix) : NULL;
        if (ya && yb) {
            worst = 0;
            for (int64_t k = 0; k < ya->numel; k++) worst = fmax(worst, fabs((double)ya->data[k] - yb->data[k]));
        }
    }
    arena_free(ar);
    stylenet_free(ma);
    stylenet_free(mb);
    error_clear();
    return worst;
}

/* MPI in this build, mpirun installed, the default backend: else a skip, saying why. */
static bool mpi_ready(void) {
    static char out[65536], err[65536];
    if (test_shell(ATELIER_BIN " --version", out, err) != 0 || !strstr(out, "data-parallel training: mpi")) {
        test_skip("this build has no MPI (libopenmpi-dev)");
        return false;
    }
    const char *be = getenv("ATELIER_BACKEND"), *list = strstr(out, "(backends ");
    size_t first = list ? strcspn(list + 10, ",;)") : 0;
    if (be && *be && list && (strlen(be) != first || strncmp(be, list + 10, first))) {
        test_skip("the MPI scenario runs on the default backend only (it takes minutes on the reference one)");
        return false;
    }
    if (test_shell("mpirun --version", out, err) != 0) {
        test_skip("mpirun is not installed (Debian: openmpi-bin)");
        return false;
    }
    return true;
}

static void test_mpi_same_weights(void) {
    static char out[65536], err[65536];
    if (!mpi_ready()) return;
    write_folder("photos", "p", 8, 48, 4, 44);
    CHECK(write_image(test_tmp_path("waves.png"), 64, 64, 7));
    /* one process, batch 4, 4 steps; and 2 processes with 2 photos each */
    CHECK_MSG(run("", "--out one --steps 4", out, err) == 0, "one process: %s", err);
    CHECK_MSG(run(mpirun(), "--out two --steps 4", out, err) == 0, "mpirun -np 2: %s", err);
    double d2 = max_diff_painting("one/model.safetensors", "two/model.safetensors");
    double w2 = max_diff_weights("one/model.safetensors", "two/model.safetensors");
    /* resumed with another number of processes: 2 then 1, and 1 then 2 */
    CHECK_MSG(run(mpirun(), "--out r21 --steps 2", out, err) == 0, "mpirun -np 2, 2 steps: %s", err);
    CHECK_MSG(run("", "--out r21 --steps 4 --resume", out, err) == 0, "resume on 1: %s", err);
    CHECK_MSG(run("", "--out r12 --steps 2", out, err) == 0, "one process, 2 steps: %s", err);
    CHECK_MSG(run(mpirun(), "--out r12 --steps 4 --resume", out, err) == 0, "resume on 2: %s", err);
    double d21 = max_diff_painting("one/model.safetensors", "r21/model.safetensors");
    double d12 = max_diff_painting("one/model.safetensors", "r12/model.safetensors");
    double w21 = max_diff_weights("one/model.safetensors", "r21/model.safetensors");
    double w12 = max_diff_weights("one/model.safetensors", "r12/model.safetensors");
    printf("  after 4 steps, np 2 vs 1 process: paintings differ by %.3g at most, conv weights by %.3g\n", d2, w2);
    printf("  resumed 2 -> 1 processes: %.3g, %.3g; 1 -> 2: %.3g, %.3g\n", d21, w21, d12, w12);
    CHECK(d2 >= 0 && d2 <= 1.0 / 255);
    CHECK(d21 >= 0 && d21 <= 1.0 / 255);
    CHECK(d12 >= 0 && d12 <= 1.0 / 255);
    CHECK(w2 >= 0 && w2 <= 2e-3);
    CHECK(w21 >= 0 && w21 <= 2e-3);
    CHECK(w12 >= 0 && w12 <= 2e-3);
    /* 3 more steps change the painting by far more than the tolerance (the test can fail) */
    CHECK(run("", "--out zero --steps 1", out, err) == 0);
    double step1 = max_diff_painting("one/model.safetensors", "zero/model.safetensors");
    printf("  the painting after 4 steps vs after 1: %.3g\n", step1);
    CHECK(step1 > 1e-2);
    /* rank 0 alone writes: one log line per step, not two */
    size_t n = 0;
    char *log = (char *)test_read_file(test_tmp_path("two/log.jsonl"), &n);
    int lines = 0;
    for (char *p = log; p && (p = strstr(p, "\"step\":")); p++) lines += strstr(p, "\"val\"") != p + 9 && p[8] != '0';
    free(log);
    CHECK_MSG(lines >= 4 && lines <= 5, "two/log.jsonl has %d step lines, want 4 (and the validation's)", lines);
}

/* ---- gan train ---- */

#define GAN_TINY " --data gimgs --size 32 --ngf 8 --ndf 8 --z-dim 16 --batch 6 --sample-every 0 --eval-every 0" \
                 " --checkpoint-every 2 --quiet"

static int gan_run(const char *launcher, const char *args, char *out, char *err) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd %s && %s" ATELIER_BIN " gan train" GAN_TINY " %s", test_dir, launcher, args);
    return test_shell(cmd, out, err);
}

static gan *gan_of(const char *run) {
    char path[600];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", test_tmp_path(run));
    return gan_load_checkpoint(path);
}

/* Two runs' checkpoints: the largest |a - b| over G's and D's weights (*w, when w; the
 * runs must be at the same step) and over 8 samples of G (*x, in [-1, 1]); false when one
 * does not load. */
static bool gan_diff(const char *a, const char *b, double *w, double *x) {
    gan *ga = gan_of(a), *gb = gan_of(b);
    arena *ar = arena_new(8 << 20);
    bool ok = ga && gb && ar && (!w || gan_step(ga) == gan_step(gb));
    double unused;
    if (!w) w = &unused;
    *w = *x = 0;
    for (int k = 0; ok && k < 2; k++) {
        gan_net *na = k ? gan_discriminator(ga) : gan_generator(ga), *nb = k ? gan_discriminator(gb) : gan_generator(gb);
        for (int i = 0; i < na->params.n; i++)
            for (int64_t j = 0; j < na->params.tensors[i]->numel; j++)
                *w = fmax(*w, fabs((double)na->params.tensors[i]->data[j] - nb->params.tensors[i]->data[j]));
    }
    tensor *sa = ok ? gan_sample(ga, ar, 5, 0, 8) : NULL, *sb = sa ? gan_sample(gb, ar, 5, 0, 8) : NULL;
    ok = ok && sa && sb;
    for (int64_t j = 0; ok && j < sa->numel; j++) *x = fmax(*x, fabs((double)sa->data[j] - sb->data[j]));
    arena_free(ar);
    gan_free(ga);
    gan_free(gb);
    error_clear();
    return ok;
}

/* One GAN setting: 1 process vs 2 after 4 steps, resumed 2 -> 1 and 1 -> 2, within tol_w on
 * the weights and tol_x on the samples; and 4 steps against 1, which the sample tolerance
 * must tell apart by 10x. */
static void gan_case(const char *name, const char *opts, double tol_w, double tol_x) {
    static char out[65536], err[65536];
    char args[1024], dir[64];
    const char *outs[5] = {"one", "two", "r21", "r12", "zero"};
    for (int i = 0; i < 5; i++) {
        snprintf(dir, sizeof dir, "%s_%s", name, outs[i]);
        bool two = i == 1 || i == 2, resume_two = i == 3;
        snprintf(args, sizeof args, "%s --out %s --steps %d", opts, dir, i == 4 ? 1 : i >= 2 ? 2 : 4);
        CHECK_MSG(gan_run(two ? mpirun() : "", args, out, err) == 0, "%s %s: %s", name, args, err);
        if (i == 2 || i == 3) {   /* the second half on the other number of processes */
            snprintf(args, sizeof args, "%s --out %s --steps 4 --resume", opts, dir);
            CHECK_MSG(gan_run(resume_two ? mpirun() : "", args, out, err) == 0, "%s resume %s: %s", name, args, err);
        }
    }
    double w[3], x[3];
    char a[64], b[64];
    snprintf(a, sizeof a, "%s_one", name);
    for (int i = 1; i < 4; i++) {
        snprintf(b, sizeof b, "%s_%s", name, outs[i]);
        CHECK_MSG(gan_diff(a, b, &w[i - 1], &x[i - 1]), "%s: %s", b, error_message());
    }
    printf("  %s after 4 steps, np 2 vs 1 process: weights differ by %.3g at most, samples by %.3g\n", name, w[0], x[0]);
    printf("  %s resumed 2 -> 1: %.3g, %.3g; 1 -> 2: %.3g, %.3g\n", name, w[1], x[1], w[2], x[2]);
    for (int i = 0; i < 3; i++) CHECK(w[i] <= tol_w && x[i] <= tol_x);
    /* the steps count for more than the tolerance (the 1-step run is at another step: samples only) */
    double x1 = 0;
    snprintf(b, sizeof b, "%s_zero", name);
    CHECK(gan_diff(a, b, NULL, &x1));
    printf("  %s samples after 4 steps vs after 1: %.3g\n", name, x1);
    CHECK(x1 > 10 * tol_x);
    /* rank 0 alone writes: 4 step lines in the 2-process run's log, not 8 */
    char lp[128];
    snprintf(lp, sizeof lp, "%s_two/log.jsonl", name);
    size_t n = 0;
    char *log = (char *)test_read_file(test_tmp_path(lp), &n);
    int lines = 0;
    for (char *p = log; p && (p = strstr(p, "\"d_loss\"")); p++) lines++;
    free(log);
    CHECK_MSG(lines == 4, "%s has %d step lines, want 4", lp, lines);
}

static void test_mpi_gan(void) {
    if (!mpi_ready()) return;
    write_folder("gimgs", "g", 10, 36, 2, 34);
    /* Measured: DCGAN weights 1e-8, samples 9e-8 apart (batch norm's sums in double, the
     * ranks' gradients summed in another order); WGAN-GP 2e-4 and 3e-5 (the penalty's
     * Hessian-vector product is a finite difference, which magnifies the rounding). 3 more
     * steps move the samples by 0.035-0.05. */
    gan_case("dcgan", "", 1e-3, 1e-3);
    gan_case("wgan", "--loss wgan-gp --diffaug color,translation,cutout", 1e-3, 1e-3);
}

int main(void) {
    if (!test_make_dir()) return 1;
    RUN(test_mpi_same_weights);
    RUN(test_mpi_gan);
    return test_finish();
}
