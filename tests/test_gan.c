/* test_gan.c: GAN networks, training, penalties, resume and generator files (gan.h), and
 * the toy test of the issue: an MLP GAN on a ring of 8 Gaussians covers the modes, and
 * collapse-prone settings make the diversity alarm fire. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/diffaug.h"
#include "atelier/gan.h"
#include "atelier/metrics.h"
#include "atelier/ops.h"
#include "atelier/rng.h"
#include "../src/gan_internal.h"
#include "harness.h"

/* ---- the ring of 8 Gaussians (radius 2, std 0.02), a pure function of (step, k) ---- */

static tensor *ring(void *user, arena *a, int64_t step, int k, int n) {
    (void)user;
    tensor *x = tensor_new(a, 2, (int[]){n, 2});
    rng r = rng_new(12345 + (uint64_t)step * 16 + (uint64_t)k);
    float e[2];
    for (int i = 0; x && i < n; i++) {
        float ang = 6.2831853f * (float)(rng_u64(&r) % 8) / 8;
        rng_normal(&r, e, 2, 0, 0.02f);
        x->data[2 * i] = 2 * cosf(ang) + e[0];
        x->data[2 * i + 1] = 2 * sinf(ang) + e[1];
    }
    return x;
}

static gan_config ring_config(float lr, float beta1) {
    gan_config c = gan_defaults();
    c.arch = GAN_ARCH_MLP;
    c.size = 2;
    c.ngf = c.ndf = 128;
    c.z_dim = 2;
    c.batch = 128;
    c.lr_g = c.lr_d = lr;
    c.beta1 = beta1;
    return c;
}

/* Trains `steps` steps; returns the modes holding at least 1% of 2000 samples within 0.2
 * (10 std) of their centre, and the metrics report of 500 samples against 500 reals. */
static int ring_train(gan_config c, int steps, metrics_report *rep) {
    gan *g = gan_new(&c);
    CHECK(g != NULL);
    if (!g) return -1;
    gan_stats st;
    for (int s = 0; s < steps; s++)
        if (gan_train_step(g, ring, NULL, &st) != STATUS_OK) { CHECK_MSG(0, "%s", error_message()); break; }
    arena *a = arena_new(1 << 20);
    tensor *x = gan_sample(g, a, 99, 0, 2000), *real = ring(NULL, a, 1 << 30, 0, 500);
    int cnt[8] = {0}, covered = 0;
    for (int i = 0; x && i < 2000; i++)
        for (int m = 0; m < 8; m++) {
            float ang = 6.2831853f * (float)m / 8;
            if (hypotf(x->data[2 * i] - 2 * cosf(ang), x->data[2 * i + 1] - 2 * sinf(ang)) < 0.2f) cnt[m]++;
        }
    for (int m = 0; m < 8; m++) covered += cnt[m] >= 20;
    CHECK(x && real && metrics_compare(x->data, 500, real->data, 500, 2, 7, rep) == STATUS_OK);
    arena_free(a);
    gan_free(g);
    return covered;
}

static bool on_ref(void) { return strcmp(backend_current()->name, "ref") == 0; }

static void test_ring_covers_modes(void) {
    if (on_ref()) { test_skip("1500 MLP steps take 80 s on the reference backend; the cpu run checks it (backends agree: test_backends_agree)"); return; }
    metrics_report rep;
    int covered = ring_train(ring_config(1e-3f, 0.5f), 1500, &rep);
    CHECK_MSG(covered >= 7, "%d of 8 modes covered after 1500 steps", covered);
    CHECK_MSG(!rep.collapse_warning, "diversity ratio %.3f", rep.diversity_ratio);
    CHECK(rep.diversity_ratio > 0.8);
}

/* Adam with beta1 0.9 and lr 3e-3: the generator collapses onto one point. */
static void test_ring_collapse_alarm(void) {
    if (on_ref()) { test_skip("1500 MLP steps take 80 s on the reference backend"); return; }
    metrics_report rep;
    int covered = ring_train(ring_config(3e-3f, 0.9f), 1500, &rep);
    CHECK_MSG(covered <= 2, "%d modes covered", covered);
    CHECK_MSG(rep.collapse_warning, "no alarm: diversity ratio %.3f", rep.diversity_ratio);
    CHECK(rep.diversity_ratio < METRICS_COLLAPSE_RATIO);
}

/* The same 5 steps on the reference and the cpu backend give the same weights. */
static void test_backends_agree(void) {
    if (!test_backend_or_skip("cpu")) return;
    gan_config c = ring_config(1e-3f, 0.5f);
    c.ngf = c.ndf = 32;
    c.batch = 16;
    gan *g[2];
    const char *names[2] = {"ref", "cpu"};
    const char *was = backend_current()->name;
    for (int b = 0; b < 2; b++) {
        CHECK(backend_select(names[b]) == STATUS_OK);
        g[b] = gan_new(&c);
        for (int s = 0; g[b] && s < 5; s++) CHECK(gan_train_step(g[b], ring, NULL, NULL) == STATUS_OK);
    }
    backend_select(was);
    for (int i = 0; g[0] && g[1] && i < g[0]->G.params.n; i++)
        CHECK_ARRAY(g[1]->G.params.tensors[i]->data, g[0]->G.params.tensors[i]->data,
                    g[0]->G.params.tensors[i]->numel, 1e-5, 1e-3);
    for (int i = 0; g[0] && g[1] && i < g[0]->D.params.n; i++)
        CHECK_ARRAY(g[1]->D.params.tensors[i]->data, g[0]->D.params.tensors[i]->data,
                    g[0]->D.params.tensors[i]->numel, 1e-5, 1e-3);
    gan_free(g[0]);
    gan_free(g[1]);
}

/* ---- architectures ---- */

static void check_arch(gan_arch arch, int size) {
    gan_config c = gan_defaults();
    c.arch = arch;
    c.size = size;
    c.ngf = c.ndf = 4;
    c.z_dim = 8;
    arena *p = arena_new(1 << 20), *a = arena_new(1 << 20);
    gan_net G, D;
    CHECK(gan_net_init(&G, p, &c, true, 1) == STATUS_OK);
    CHECK(gan_net_init(&D, p, &c, false, 2) == STATUS_OK);
    tensor *z = gan_latents(a, 8, 3, 0, 2);
    tensor *x = gan_g_forward(&G, a, z, true);
    CHECK_MSG(x && x->ndim == 4 && x->shape[0] == 2 && x->shape[1] == 3 && x->shape[2] == size && x->shape[3] == size,
              "%s %d: %s", gan_arch_name(arch), size, x ? "wrong shape" : error_message());
    float lo = 1, hi = -1;
    for (int64_t i = 0; x && i < x->numel; i++) { lo = fminf(lo, x->data[i]); hi = fmaxf(hi, x->data[i]); }
    CHECK(lo > -1 && hi < 1 && hi > lo);
    tensor *d = gan_d_forward(&D, a, x, true);
    CHECK_MSG(d && d->ndim == 1 && d->shape[0] == 2, "%s %d: D output", gan_arch_name(arch), size);
    tensor *bad = tensor_new(a, 4, (int[]){2, 3, size / 2, size / 2});
    CHECK(gan_d_forward(&D, a, bad, true) == NULL && error_status() == STATUS_SHAPE);
    error_clear();
    arena_free(a);
    arena_free(p);
}

static void test_architectures(void) {
    check_arch(GAN_ARCH_DCGAN, 32);
    check_arch(GAN_ARCH_DCGAN, 64);
    check_arch(GAN_ARCH_RESNET, 32);
    if (!on_ref()) { check_arch(GAN_ARCH_DCGAN, 128); check_arch(GAN_ARCH_RESNET, 64); }
}

/* pytorch/examples dcgan at 64 px, ngf = ndf = 64: 3,576,704 and 2,765,568 parameters */
static void test_dcgan_parameter_counts(void) {
    gan_config c = gan_defaults();
    arena *p = arena_new(1 << 20);
    gan_net G, D;
    CHECK(gan_net_init(&G, p, &c, true, 1) == STATUS_OK && gan_net_init(&D, p, &c, false, 2) == STATUS_OK);
    CHECK(model_params_count(&G.params) == 3576704);
    CHECK(model_params_count(&D.params) == 2765568);
    arena_free(p);
}

/* ---- penalties: the finite-difference Hessian-vector product against d(value)/d(theta) ---- */

static tensor *points(arena *a, int n, uint64_t seed) {
    tensor *x = tensor_new(a, 2, (int[]){n, 2});
    rng r = rng_new(seed);
    rng_normal(&r, x->data, x->numel, 0, 1);
    return x;
}

static void check_penalty(gan_loss loss, float r1) {
    gan_config c = ring_config(1e-3f, 0.5f);
    c.ngf = c.ndf = 16;
    c.batch = 8;
    c.loss = loss;
    c.r1 = r1;
    c.gp = 10;
    float w = r1 > 0 ? r1 : c.gp;
    gan *g = gan_new(&c);
    arena *a = arena_new(1 << 16);
    tensor *real = points(a, 8, 5), *fake = points(a, 8, 6);
    double v0;
    CHECK(gan_penalty_grad(g, real, fake, &v0) == STATUS_OK && v0 > 0);
    int checked = 0;
    for (int i = 0; i < g->D.params.n; i++) {
        tensor *t = g->D.params.tensors[i];
        float *grad = tensor_grad(t);
        float *keep = malloc(sizeof(float) * (size_t)t->numel);
        memcpy(keep, grad, sizeof(float) * (size_t)t->numel);
        for (int64_t j = 0; j < t->numel; j += 1 + t->numel / 5) {
            double vp, vm, h = 1e-3;
            float orig = t->data[j];
            t->data[j] = orig + (float)h;
            CHECK(gan_penalty_grad(g, real, fake, &vp) == STATUS_OK);
            t->data[j] = orig - (float)h;
            CHECK(gan_penalty_grad(g, real, fake, &vm) == STATUS_OK);
            t->data[j] = orig;
            double fd = w * (vp - vm) / (2 * h);
            CHECK_MSG(fabs(keep[j] - fd) <= 2e-3 * w + 2e-2 * fabs(fd), "%s %s[%lld]: hvp %.6g, finite difference %.6g",
                      r1 > 0 ? "R1" : "GP", g->D.params.names[i], (long long)j, keep[j], fd);
            checked++;
        }
        free(keep);
    }
    CHECK(checked > 20);
    arena_free(a);
    gan_free(g);
}

static void test_r1_gradient(void) { check_penalty(GAN_LOSS_BCE, 2.0f); }
static void test_gp_gradient(void) { check_penalty(GAN_LOSS_WGAN_GP, 0); }

/* ---- images: resume, export, style ---- */

/* smooth synthetic images of step and k, in [-1, 1] */
static tensor *blobs(void *user, arena *a, int64_t step, int k, int n) {
    int s = *(int *)user;
    tensor *x = tensor_new(a, 4, (int[]){n, 3, s, s});
    for (int i = 0; x && i < n; i++) {
        rng r = rng_new(777 + (uint64_t)step * 64 + (uint64_t)k * 8 + (uint64_t)i);
        float cx = rng_float(&r) * s, cy = rng_float(&r) * s, col[3] = {rng_float(&r), rng_float(&r), rng_float(&r)};
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < s; y++)
                for (int xx = 0; xx < s; xx++) {
                    float d2 = ((float)xx - cx) * ((float)xx - cx) + ((float)y - cy) * ((float)y - cy);
                    x->data[((int64_t)(i * 3 + ch) * s + y) * s + xx] = 2 * col[ch] * expf(-d2 / (float)(s * 2)) - 1;
                }
    }
    return x;
}

static gan_config image_config(bool variant) {
    gan_config c = gan_defaults();
    c.size = 32;
    c.ngf = c.ndf = 4;
    c.z_dim = 8;
    c.batch = 4;
    c.diffaug = DIFFAUG_ALL;
    c.ema = 0.9f;
    if (variant) { c.loss = GAN_LOSS_HINGE; c.spectral_norm = true; c.r1 = 0.5f; c.d_steps = 2; c.arch = GAN_ARCH_RESNET; }
    return c;
}

static bool nets_equal(const gan_net *x, const gan_net *y) {
    for (int i = 0; i < x->params.n; i++)
        if (memcmp(x->params.tensors[i]->data, y->params.tensors[i]->data, sizeof(float) * (size_t)x->params.tensors[i]->numel)) return false;
    for (int i = 0; i < x->buffers.n; i++)
        if (memcmp(x->buffers.tensors[i]->data, y->buffers.tensors[i]->data, sizeof(float) * (size_t)x->buffers.tensors[i]->numel)) return false;
    return true;
}

static void check_resume(bool variant) {
    gan_config c = image_config(variant);
    int size = 32, N = 4, k = 2;
    gan *straight = gan_new(&c), *first = gan_new(&c);
    for (int s = 0; s < N; s++) CHECK(gan_train_step(straight, blobs, &size, NULL) == STATUS_OK);
    for (int s = 0; s < k; s++) CHECK(gan_train_step(first, blobs, &size, NULL) == STATUS_OK);
    const char *path = test_tmp_path("gan_resume.safetensors");
    CHECK(gan_save_checkpoint(first, path) == STATUS_OK);
    gan_free(first);
    gan *resumed = gan_load_checkpoint(path);
    CHECK_MSG(resumed != NULL, "%s", error_message());
    if (!resumed) { gan_free(straight); return; }
    CHECK(gan_step(resumed) == k);
    for (int s = k; s < N; s++) CHECK(gan_train_step(resumed, blobs, &size, NULL) == STATUS_OK);
    CHECK_MSG(nets_equal(&straight->G, &resumed->G), "G differs after resume (%s)", variant ? "variant" : "default");
    CHECK_MSG(nets_equal(&straight->D, &resumed->D), "D differs after resume");
    CHECK_MSG(nets_equal(&straight->E, &resumed->E), "EMA differs after resume");
    /* and training changed something: the run is not a no-op */
    gan *fresh = gan_new(&c);
    CHECK(!nets_equal(&fresh->G, &straight->G) && !nets_equal(&fresh->D, &straight->D));
    gan_free(fresh);
    gan_free(resumed);
    gan_free(straight);
    remove(path);
}

static void test_resume_exact(void) { check_resume(false); }
static void test_resume_exact_resnet_sn_r1(void) { check_resume(true); }

static void test_export_and_sample(void) {
    gan_config c = image_config(false);
    int size = 32;
    gan *g = gan_new(&c);
    for (int s = 0; s < 2; s++) CHECK(gan_train_step(g, blobs, &size, NULL) == STATUS_OK);
    const char *gen = test_tmp_path("gan_gen.safetensors"), *ck = test_tmp_path("gan_ck.safetensors");
    CHECK(gan_export_generator(g, gen) == STATUS_OK);
    CHECK(gan_save_checkpoint(g, ck) == STATUS_OK);
    arena *p = arena_new(1 << 20), *a = arena_new(1 << 20);
    tensor *want = gan_sample(g, a, 5, 3, 6);
    const char *files[2] = {gen, ck};
    for (int f = 0; f < 2; f++) {
        gan_net net;
        gan_config lc;
        CHECK_MSG(gan_generator_load(files[f], p, &net, &lc) == STATUS_OK, "%s", error_message());
        CHECK(lc.size == 32 && lc.ngf == 4 && lc.z_dim == 8 && lc.ema > 0.89f);
        tensor *got = gan_net_sample(&net, a, 5, 3, 6);
        CHECK(got && want && CHECK_ARRAY(got->data, want->data, want->numel, 0, 0));
    }
    /* sample i of a seed does not depend on how many are drawn with it */
    tensor *one = gan_sample(g, a, 5, 5, 1);
    CHECK(one && CHECK_ARRAY(one->data, want->data + 2 * 3 * 32 * 32, one->numel, 1e-6, 0));
    /* a generator file is not a checkpoint, and garbage is refused */
    CHECK(gan_load_checkpoint(gen) == NULL && strstr(error_message(), "checkpoint"));
    error_clear();
    FILE *fp = fopen(ck, "wb");
    fputs("not a safetensors file", fp);
    fclose(fp);
    gan_net net;
    gan_config lc;
    CHECK(gan_generator_load(ck, p, &net, &lc) != STATUS_OK);
    error_clear();
    arena_free(a);
    arena_free(p);
    gan_free(g);
    remove(gen);
    remove(ck);
}

static void test_style_loss(void) {
    gan_config c = image_config(false);
    c.style_weight = 10;
    int size = 32;
    gan *g = gan_new(&c), *plain = gan_new(&c);
    arena *a = arena_new(1 << 20);
    CHECK(gan_set_style(g, blobs(&size, a, 999, 0, 3)) == STATUS_OK);
    gan_stats st, st2;
    CHECK(gan_train_step(g, blobs, &size, &st) == STATUS_OK);
    CHECK(gan_train_step(plain, blobs, &size, &st2) == STATUS_OK);
    CHECK_MSG(st.style > 0 && isfinite(st.style), "style loss %g", st.style);
    CHECK(st2.style == 0);
    CHECK(!nets_equal(&g->G, &plain->G));        /* the style term moved G */
    CHECK(nets_equal(&g->D, &plain->D));         /* and only G */
    arena_free(a);
    gan_free(g);
    gan_free(plain);
}

static void test_bad_configs(void) {
    gan_config c = gan_defaults();
    c.size = 48;
    CHECK(gan_new(&c) == NULL && strstr(error_message(), "--size 48"));
    error_clear();
    c = gan_defaults();
    c.batch = 1;
    CHECK(gan_new(&c) == NULL && strstr(error_message(), "--batch"));
    error_clear();
    c = gan_defaults();
    c.ema = 1;
    CHECK(gan_new(&c) == NULL);
    error_clear();
    gan_arch arch;
    gan_loss loss;
    CHECK(gan_arch_parse("stylegan", &arch) == STATUS_ARG && strstr(error_message(), "stylegan"));
    error_clear();
    CHECK(gan_loss_parse("lsgan", &loss) == STATUS_ARG);
    error_clear();
    CHECK(gan_arch_parse("resnet", &arch) == STATUS_OK && arch == GAN_ARCH_RESNET);
    CHECK(gan_loss_parse("wgan-gp", &loss) == STATUS_OK && loss == GAN_LOSS_WGAN_GP);
}

static void test_slerp(void) {
    float z0[4] = {1, 0, 0, 0}, z1[4] = {0, 1, 0, 0}, out[4];
    gan_slerp(z0, z1, 4, 0, out);
    CHECK_ARRAY(out, z0, 4, 1e-6, 0);
    gan_slerp(z0, z1, 4, 1, out);
    CHECK_ARRAY(out, z1, 4, 1e-6, 0);
    gan_slerp(z0, z1, 4, 0.5f, out);
    CHECK_NEAR(out[0], sqrt(0.5), 1e-6, 0);
    CHECK_NEAR(out[0] * out[0] + out[1] * out[1], 1, 1e-6, 0);   /* on the sphere, not inside */
}

int main(void) {
    RUN(test_ring_covers_modes);
    RUN(test_ring_collapse_alarm);
    RUN(test_backends_agree);
    RUN(test_architectures);
    RUN(test_dcgan_parameter_counts);
    RUN(test_r1_gradient);
    RUN(test_gp_gradient);
    RUN(test_resume_exact);
    RUN(test_resume_exact_resnet_sn_r1);
    RUN(test_export_and_sample);
    RUN(test_style_loss);
    RUN(test_bad_configs);
    RUN(test_slerp);
    return test_finish();
}
