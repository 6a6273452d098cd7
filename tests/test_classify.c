/* classify.h: a small CNN learns a synthetic two-class texture task to > 90% held-out
 * accuracy; the input gradient of both kinds (a CNN, a head on a small TF.js network and on
 * the built-in VGG-19) against finite differences, directly and through the attack adapter;
 * save/load gives identical logits; a resumed training run gives the same bytes as a
 * straight one; bad inputs are refused with a clear message. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/classify.h"
#include "atelier/featnet.h"
#include "atelier/ops.h"
#include "atelier/safetensors.h"
#include "harness.h"

#define TINY_NET "tests/fixtures/tfjs_tiny"

/* Class 0: vertical stripes; class 1: a checkerboard of blobs; random colours, phases and
 * noise, so that neither the mean colour nor one pixel tells them apart. */
static dataset *textures(int cls, int n, int size, uint64_t seed) {
    dataset *ds = calloc(1, sizeof *ds);
    ds->n = n;
    ds->size = size;
    ds->pixels = malloc((size_t)n * 3 * size * size);
    float *r = test_rand_buf((int64_t)n * (6 + 3 * size * size), seed, 0, 1);
    for (int i = 0; i < n; i++) {
        const float *q = r + (int64_t)i * (6 + 3 * size * size);
        float px = q[0] * 6.28f, py = q[1] * 6.28f, f = 0.9f + 0.4f * q[5];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < size; y++)
                for (int x = 0; x < size; x++) {
                    float s = cls == 0 ? sinf(x * f + px) : sinf(x * f + px) * sinf(y * f + py);
                    float v = 0.25f + 0.5f * q[2 + c] * 0.5f + 0.3f * s + 0.1f * (q[6 + (c * size + y) * size + x] - 0.5f);
                    ds->pixels[((int64_t)i * 3 + c) * size * size + y * size + x] = (uint8_t)lrintf(fminf(fmaxf(v, 0), 1) * 255);
                }
    }
    free(r);
    return ds;
}

static void free_textures(dataset *ds) {
    if (!ds) return;
    free(ds->pixels);
    free(ds);
}

static classify_config cnn_config(int size) {
    classify_config c = classify_defaults(CLASSIFY_CNN);
    c.size = size;
    c.width = 8;
    strcpy(c.classes[0], "stripes");
    strcpy(c.classes[1], "blobs");
    return c;
}

static classify_config head_config(const char *net, const char *layer, int size, int hidden) {
    classify_config c = classify_defaults(CLASSIFY_HEAD);
    snprintf(c.net, sizeof c.net, "%s", net);
    snprintf(c.layer, sizeof c.layer, "%s", layer);
    c.size = size;
    c.hidden = hidden;
    strcpy(c.classes[0], "a");
    strcpy(c.classes[1], "b");
    strcpy(c.classes[2], "c");
    c.nclasses = 3;
    return c;
}

static void test_cnn_learns(void) {
    dataset *d[2] = {textures(0, 60, 16, 11), textures(1, 60, 16, 12)};
    classify_config c = cnn_config(16);
    classify_train_config tc = classify_train_defaults();
    tc.batch = 16;
    tc.lr = 0.01f;
    tc.val = 0.25f;
    classifier *m = classify_new(&c, NULL);
    CHECK_OK(m);
    classify_trainer *t = m ? classify_trainer_new(m, &tc, (const dataset *const *)d) : NULL;
    CHECK_OK(t);
    if (!t) goto done;
    CHECK(classify_trainer_count(t, true) == 30 && classify_trainer_count(t, false) == 90);
    int64_t conf[4];
    double acc0, acc;
    CHECK(classify_trainer_eval(t, conf, &acc0) == STATUS_OK);
    classify_train_stats st = {0};
    for (int s = 0; s < 12 * classify_trainer_steps_per_epoch(t); s++) CHECK(classify_trainer_step(t, &st) == STATUS_OK);
    CHECK(classify_trainer_eval(t, conf, &acc) == STATUS_OK);
    CHECK_MSG(acc > 0.9, "held-out accuracy %.3f after training (%.3f before), last loss %.4f", acc, acc0, st.loss);
    CHECK(conf[0] + conf[1] == 15 && conf[2] + conf[3] == 15);
    CHECK_NEAR(acc, (double)(conf[0] + conf[3]) / 30, 1e-12, 0);
done:
    classify_trainer_free(t);
    free_textures(d[0]);
    free_textures(d[1]);
}

/* ---- input gradients ---- */

/* L = sum_i r_i z_i for random r: its analytic d L / d x against central differences at
 * every `stride`-th pixel. At initialisation a pixel moves a logit little (the models
 * average over space), so the absolute tolerance is relative to the largest gradient: 2%
 * of it, plus 2% of the element's own. Elements where the differences with eps and eps / 2
 * disagree sit on a kink (ReLU, max-pool) and are skipped, at most 10% of them; a kink
 * both differences straddle alike escapes that, so 2% of the elements may differ. A
 * detached path, a wrong op or a missing resize gradient gets most of them wrong. */
static void sampled_gradcheck(classifier *m, int n, int h, int w, int stride, const char *what) {
    arena *a = arena_new(1 << 20), *s = arena_new(1 << 20);
    tensor *x = test_leaf(a, 4, (int[]){n, 3, h, w}, 5, 0.1f, 0.9f);
    int K = classify_get_config(m)->nclasses;
    float *r = test_rand_buf((int64_t)n * K, 8, -1, 1);
    tensor *rt = tensor_from(a, 2, (int[]){n, K}, r);
    tensor *loss = op_sum(s, op_mul(s, classify_forward(m, s, x), rt), -1, false);
    CHECK_OK(loss);
    if (!loss || tensor_backward(loss) != STATUS_OK || !x->grad) {
        test_fail(__FILE__, __LINE__, "%s: no gradient reached the pixels", what);
        goto done;
    }
    double gmax = 0;
    for (int64_t i = 0; i < x->numel; i++) gmax = fmax(gmax, fabs(x->grad[i]));
    CHECK_MSG(gmax > 1e-6, "%s: the pixels' gradient is zero", what);
    bool was = autograd_set(false);
    int bad = 0, checked = 0, kinks = 0;
    for (int64_t i = 0; i < x->numel; i += stride) {
        float keep = x->data[i];
        double fd[2];
        for (int e = 0; e < 2; e++) {
            float eps = e ? 5e-3f : 1e-2f;
            double l[2];
            for (int k = 0; k < 2; k++) {
                x->data[i] = keep + (k ? -eps : eps);
                arena_reset(s);
                tensor *z = classify_forward(m, s, x);
                l[k] = 0;
                for (int j = 0; z && j < n * K; j++) l[k] += (double)r[j] * z->data[j];
            }
            fd[e] = (l[0] - l[1]) / (2.0 * eps);
        }
        x->data[i] = keep;
        double tol = 0.02 * gmax + 0.02 * fabs(fd[1]);
        if (fabs(fd[0] - fd[1]) > tol) { kinks++; continue; }
        checked++;
        if (fabs(x->grad[i] - fd[1]) > tol && bad++ < 3)
            fprintf(stderr, "  %s: d/dx[%lld] = %.6g, differences %.6g (largest gradient %.3g)\n", what,
                    (long long)i, x->grad[i], fd[1], gmax);
    }
    autograd_set(was);
    /* a kink closer than eps / 2 to both differences escapes the test above: a few */
    CHECK_MSG(bad <= 1 + checked / 50, "%s: %d of %d gradients differ", what, bad, checked);
    CHECK_MSG(checked >= 20 && kinks <= 0.1 * (checked + kinks), "%s: %d pixels checked, %d skipped as kinks", what, checked, kinks);
done:
    free(r);
    arena_free(s);
    arena_free(a);
}

static void test_input_gradient_cnn(void) {
    classify_config c = cnn_config(8);
    classifier *m = classify_new(&c, NULL);
    CHECK_OK(m);
    if (!m) return;
    sampled_gradcheck(m, 2, 8, 8, 1, "cnn");
    sampled_gradcheck(m, 1, 11, 10, 1, "cnn, resized");   /* through the bilinear resize */
    classify_free(m);
}

static void test_input_gradient_head(void) {
    classify_config c = head_config(TINY_NET, "concat_1", 16, 6);
    classifier *m = classify_new(&c, NULL);
    if (!m) { test_skip(error_message()); return; }
    sampled_gradcheck(m, 1, 16, 16, 11, "head on tfjs_tiny");
    sampled_gradcheck(m, 1, 19, 17, 13, "head on tfjs_tiny, resized");
    classify_free(m);
    c = head_config("vgg19", "relu2_1", 12, 0);
    m = classify_new(&c, NULL);
    CHECK_OK(m);
    if (!m) return;
    sampled_gradcheck(m, 1, 12, 12, 17, "head on vgg19");
    classify_free(m);
}

/* The attack adapter's d CE / d x against central differences of its own loss. */
static void test_attack_adapter_gradient(void) {
    classify_config c = cnn_config(8);
    classifier *m = classify_new(&c, NULL);
    CHECK_OK(m);
    if (!m) return;
    attack_model am;
    attack_net an;
    CHECK(classify_attack_model(m, &am, &an, 8, 8) == STATUS_OK);
    CHECK(am.classes == 2 && am.channels == 3 && am.height == 8 && am.width == 8);
    int n = 2, d = 3 * 8 * 8, labels[2] = {0, 1};
    float *x = test_rand_buf((int64_t)n * d, 3, 0.1f, 0.9f), g[2 * 192], z[4], z2[4];
    CHECK(am.forward(am.self, x, n, z, labels, ATTACK_LOSS_CE, g) == STATUS_OK);
    /* the adapter's logits are the model's */
    arena *a = arena_new(1 << 20);
    bool was = autograd_set(false);
    tensor *ref = classify_forward(m, a, tensor_from(a, 4, (int[]){n, 3, 8, 8}, x));
    autograd_set(was);
    CHECK_OK(ref);
    if (ref) CHECK_ARRAY(z, ref->data, 4, 1e-6, 1e-5);
    double worst = 0;
    for (int i = 0; i < n * d; i += 7) {
        float keep = x[i], eps = 1e-2f;
        x[i] = keep + eps;
        am.forward(am.self, x, n, z2, NULL, ATTACK_LOSS_CE, NULL);
        double lp = attack_loss_logits(z2, n, 2, labels, ATTACK_LOSS_CE, NULL);
        x[i] = keep - eps;
        am.forward(am.self, x, n, z2, NULL, ATTACK_LOSS_CE, NULL);
        double lm = attack_loss_logits(z2, n, 2, labels, ATTACK_LOSS_CE, NULL);
        x[i] = keep;
        double fd = (lp - lm) / (2 * eps), err = fabs(fd - g[i]) / (2e-3 + 2e-2 * fabs(fd));
        worst = err > worst ? err : worst;
    }
    CHECK_MSG(worst <= 1, "adapter gradient off by %.3g tolerances", worst);
    attack_net_free(&an);
    arena_free(a);
    free(x);
    classify_free(m);
}

/* ---- files ---- */

static void check_round_trip(classifier *m, const char *name) {
    const char *path = test_tmp_path(name);
    CHECK(classify_save(m, path) == STATUS_OK);
    classifier *back = classify_load(path, NULL);
    CHECK_OK(back);
    if (!back) return;
    const classify_config *a = classify_get_config(m), *b = classify_get_config(back);
    CHECK(a->kind == b->kind && a->nclasses == b->nclasses && a->size == b->size && a->hidden == b->hidden &&
          !strcmp(a->classes[a->nclasses - 1], b->classes[b->nclasses - 1]) && !strcmp(a->net, b->net));
    int s = a->size;
    float *x = test_rand_buf(2 * 3 * s * s, 9, 0, 1), p1[2 * 3], p2[2 * 3];
    CHECK(classify_probs(m, x, 2, s, s, p1) == STATUS_OK && classify_probs(back, x, 2, s, s, p2) == STATUS_OK);
    CHECK_MSG(memcmp(p1, p2, sizeof(float) * 2 * a->nclasses) == 0, "%s: probabilities differ after load", name);
    free(x);
    classify_free(back);
}

static void test_save_load(void) {
    classify_config c = cnn_config(12);
    c.seed = 4;
    classifier *m = classify_new(&c, NULL);
    CHECK_OK(m);
    if (m) check_round_trip(m, "cnn.safetensors");
    classify_free(m);
    c = head_config(TINY_NET, "concat_1", 16, 5);
    if (!(m = classify_new(&c, NULL))) { test_skip(error_message()); return; }
    check_round_trip(m, "head.safetensors");
    classify_free(m);
    /* fine-tuned: the network's own weights travel in the file (not its batch-norm buffers) */
    c.fine_tune = true;
    if (!(m = classify_new(&c, NULL))) { test_skip(error_message()); return; }
    model_params *p = classify_params(m);
    CHECK(p->n > 4 && !strncmp(p->names[4], "net.", 4));
    for (int i = 0; i < p->n; i++) CHECK_MSG(!strstr(p->names[i], "moving_"), "%s is trained", p->names[i]);
    tensor *w = model_params_find(p, "net.conv_a/kernel");
    CHECK(w != NULL);
    for (int64_t i = 0; w && i < w->numel; i++) w->data[i] *= 1.5f;   /* as training would change it */
    check_round_trip(m, "fine.safetensors");
    classify_free(m);
}

/* ---- exact resume ---- */

static void *file_bytes(const char *path, size_t *n) { return test_read_file(path, n); }

static void test_exact_resume(void) {
    dataset *d[2] = {textures(0, 20, 12, 21), textures(1, 20, 12, 22)};
    classify_config c = cnn_config(12);
    classify_train_config tc = classify_train_defaults();
    tc.batch = 6;   /* 30 training images: 5 steps an epoch; 7 steps cross an epoch */
    tc.lr = 0.01f;
    classify_trainer *a = classify_trainer_new(classify_new(&c, NULL), &tc, (const dataset *const *)d);
    classify_trainer *b = classify_trainer_new(classify_new(&c, NULL), &tc, (const dataset *const *)d);
    CHECK_OK(a);
    CHECK_OK(b);
    if (!a || !b) goto done;
    for (int s = 0; s < 14; s++) CHECK(classify_trainer_step(a, NULL) == STATUS_OK);
    for (int s = 0; s < 7; s++) CHECK(classify_trainer_step(b, NULL) == STATUS_OK);
    CHECK(classify_trainer_save(b, test_tmp_path("half.safetensors")) == STATUS_OK);
    classify_trainer_free(b);
    b = classify_trainer_load(test_tmp_path("half.safetensors"), NULL, (const dataset *const *)d, 2);
    CHECK_OK(b);
    if (!b) goto done;
    CHECK(classify_trainer_steps(b) == 7);
    for (int s = 0; s < 7; s++) CHECK(classify_trainer_step(b, NULL) == STATUS_OK);
    CHECK(classify_trainer_save(a, test_tmp_path("straight.safetensors")) == STATUS_OK);
    CHECK(classify_trainer_save(b, test_tmp_path("resumed.safetensors")) == STATUS_OK);
    size_t na, nb;
    void *fa = file_bytes(test_tmp_path("straight.safetensors"), &na), *fb = file_bytes(test_tmp_path("resumed.safetensors"), &nb);
    CHECK_MSG(fa && fb && na == nb && memcmp(fa, fb, na) == 0, "resumed checkpoint differs from the straight run's");
    free(fa);
    free(fb);
    /* other data than the run's is refused */
    dataset *other[2] = {d[0], textures(1, 19, 12, 22)};
    error_clear();
    CHECK(classify_trainer_load(test_tmp_path("half.safetensors"), NULL, (const dataset *const *)other, 2) == NULL);
    CHECK(strstr(error_message(), "trained on 2 classes of 20,20 images") != NULL);
    error_clear();
    free_textures(other[1]);
done:
    classify_trainer_free(a);
    classify_trainer_free(b);
    free_textures(d[0]);
    free_textures(d[1]);
}

/* ---- adversarial training runs PGD and stays deterministic ---- */

static void test_adversarial_step(void) {
    dataset *d[2] = {textures(0, 12, 8, 31), textures(1, 12, 8, 32)};
    classify_config c = cnn_config(8);
    classify_train_config tc = classify_train_defaults();
    tc.batch = 8;
    tc.adv_eps = 8.0f / 255;
    tc.adv_steps = 3;
    classify_trainer *a = classify_trainer_new(classify_new(&c, NULL), &tc, (const dataset *const *)d);
    classify_trainer *b = classify_trainer_new(classify_new(&c, NULL), &tc, (const dataset *const *)d);
    tc.adv_eps = 0;
    classify_trainer *p = classify_trainer_new(classify_new(&c, NULL), &tc, (const dataset *const *)d);
    CHECK_OK(a);
    CHECK_OK(b);
    CHECK_OK(p);
    classify_train_stats sa, sb, sp;
    if (a && b && p) {
        CHECK(classify_trainer_step(a, &sa) == STATUS_OK && classify_trainer_step(b, &sb) == STATUS_OK &&
              classify_trainer_step(p, &sp) == STATUS_OK);
        CHECK_MSG(sa.loss == sb.loss, "two adversarial runs differ: %.9g %.9g", sa.loss, sb.loss);
        CHECK_MSG(sa.loss > sp.loss, "PGD examples should raise the first batch's loss: %.6g vs plain %.6g", sa.loss, sp.loss);
        CHECK(!classify_trainer_cached(a));
    }
    classify_trainer_free(a);
    classify_trainer_free(b);
    classify_trainer_free(p);
    free_textures(d[0]);
    free_textures(d[1]);
}

/* ---- bad inputs ---- */

static void test_bad_inputs(void) {
    classify_config c = cnn_config(8);
    c.nclasses = 1;
    error_clear();
    CHECK(classify_new(&c, NULL) == NULL && strstr(error_message(), "1 classes (want 2"));
    c = cnn_config(8);
    strcpy(c.classes[1], "stripes");
    error_clear();
    CHECK(classify_new(&c, NULL) == NULL && strstr(error_message(), "two classes are named 'stripes'"));
    c = head_config("no_such_network", "x", 16, 0);
    error_clear();
    CHECK(classify_new(&c, "/nonexistent") == NULL && error_status() != STATUS_OK);
    c = head_config(TINY_NET, "no_such_layer", 16, 0);
    error_clear();
    CHECK(classify_new(&c, NULL) == NULL && strstr(error_message(), "no layer 'no_such_layer'"));
    /* files that are not classifiers */
    error_clear();
    CHECK(classify_load(test_tmp_path("absent.safetensors"), NULL) == NULL && error_status() == STATUS_IO);
    FILE *f = fopen(test_tmp_path("junk.safetensors"), "wb");
    fputs("not a safetensors file at all", f);
    fclose(f);
    error_clear();
    CHECK(classify_load(test_tmp_path("junk.safetensors"), NULL) == NULL && error_status() == STATUS_FORMAT);
    arena *a = arena_new(1 << 12);
    tensor *t = tensor_new(a, 1, (int[]){3});
    const char *names[1] = {"w"}, *meta[2] = {"format", "atelier-style-net"};
    CHECK(safetensors_save(test_tmp_path("other.safetensors"), names, &t, 1, meta, 1) == STATUS_OK);
    error_clear();
    CHECK(classify_load(test_tmp_path("other.safetensors"), NULL) == NULL && strstr(error_message(), "not an Atelier classifier"));
    error_clear();
    arena_free(a);
    /* a class without images; bad training settings */
    dataset *d[2] = {textures(0, 4, 8, 1), textures(1, 4, 8, 2)};
    d[1]->n = 0;
    classify_train_config tc = classify_train_defaults();
    c = cnn_config(8);
    CHECK(classify_trainer_new(classify_new(&c, NULL), &tc, (const dataset *const *)d) == NULL && strstr(error_message(), "class blobs has no images"));
    d[1]->n = 4;
    error_clear();
    tc.adv_eps = -0.1f;
    CHECK(classify_trainer_new(classify_new(&c, NULL), &tc, (const dataset *const *)d) == NULL && strstr(error_message(), "--eps"));
    error_clear();
    tc.adv_eps = NAN;
    CHECK(classify_trainer_new(classify_new(&c, NULL), &tc, (const dataset *const *)d) == NULL && strstr(error_message(), "--eps"));
    error_clear();
    free_textures(d[0]);
    free_textures(d[1]);
}

int main(void) {
    if (!test_make_dir()) return 1;
    RUN(test_cnn_learns);
    RUN(test_input_gradient_cnn);
    RUN(test_input_gradient_head);
    RUN(test_attack_adapter_gradient);
    RUN(test_save_load);
    RUN(test_exact_resume);
    RUN(test_adversarial_step);
    RUN(test_bad_inputs);
    return test_finish();
}
