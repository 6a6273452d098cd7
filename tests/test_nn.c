/* test_nn.c: spectral normalisation (nn.h).
 *
 * sigma converges to the largest singular value (torch.linalg.svdvals in double, literals
 * below); one and two training steps match torch.nn.utils.spectral_norm on a Linear(5, 3)
 * given the same u and v (its weight, weight_u and weight_v after each forward, printed by
 * PyTorch 1.13); the gradient of W / sigma with u, v held fixed is checked against central
 * differences.
 */
#include <math.h>
#include <string.h>
#include "atelier/nn.h"
#include "atelier/ops.h"
#include "gradcheck.h"
#include "harness.h"

/* W (3, 5), with singular values 4.1032012, 3.0066025, 2.4493021 */
static const float W35[15] = {0.5f, -1.0f, 2.0f, 0.25f, 1.5f,
                              1.0f, 0.0f, -0.5f, 3.0f, -2.0f,
                              -1.5f, 2.5f, 1.0f, 0.0f, 0.75f};

static double norm2(const float *z, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)z[i] * z[i];
    return sqrt(s);
}

/* The example in nn.h: diag(3, 1) has sigma 3. */
static void test_spectral_norm_header_example(void) {
    arena *params = arena_new(1 << 16), *step = arena_new(1 << 16);
    tensor *w = tensor_new(params, 2, (int[]){2, 2});
    w->data[0] = 3;
    w->data[3] = 1;
    spectral_norm *sn = spectral_norm_new(params, w, 7);
    CHECK_OK(sn);
    tensor *wn = NULL;
    for (int i = 0; sn && i < 10; i++) wn = spectral_norm_apply(sn, step, w, true);
    CHECK_OK(wn);
    if (wn) {
        CHECK_NEAR(wn->data[0], 1.0, 1e-4, 0);
        CHECK_NEAR(wn->data[3], 1.0 / 3, 1e-4, 0);
        CHECK(wn->data[1] == 0 && wn->data[2] == 0);
    }
    arena_free(step);
    arena_free(params);
}

/* u (OUT) and v (rest) are unit vectors from the seed: the same seed, the same vectors. */
static void test_spectral_norm_new(void) {
    arena *a = arena_new(1 << 16);
    tensor *w = tensor_new(a, 4, (int[]){4, 2, 3, 1});
    spectral_norm *s1 = spectral_norm_new(a, w, 11), *s2 = spectral_norm_new(a, w, 11);
    spectral_norm *s3 = spectral_norm_new(a, w, 12);
    CHECK_OK(s1 && s2 && s3);
    if (s1 && s2 && s3) {
        CHECK(s1->u->ndim == 1 && s1->u->numel == 4 && s1->v->ndim == 1 && s1->v->numel == 6);
        CHECK_NEAR(norm2(s1->u->data, 4), 1.0, 1e-6, 0);
        CHECK_NEAR(norm2(s1->v->data, 6), 1.0, 1e-6, 0);
        CHECK(memcmp(s1->u->data, s2->u->data, 4 * sizeof(float)) == 0);
        CHECK(memcmp(s1->v->data, s2->v->data, 6 * sizeof(float)) == 0);
        CHECK(memcmp(s1->u->data, s3->u->data, 4 * sizeof(float)) != 0);
        CHECK(s1->power_iterations == 1 && s1->eps == 1e-12f);
    }
    arena_free(a);
}

/* sigma = w / wn for any nonzero element. */
static double sigma_of(const tensor *w, const tensor *wn) { return w->data[0] / wn->data[0]; }

static void test_spectral_norm_converges(void) {
    arena *params = arena_new(1 << 16), *step = arena_new(1 << 16);
    tensor *m = tensor_from(params, 2, (int[]){3, 3}, (float[]){1, 2, 3, 4, 5, 6, 7, 8, 10});
    tensor *w = tensor_from(params, 2, (int[]){3, 5}, W35);
    spectral_norm *sm = spectral_norm_new(params, m, 3), *sw = spectral_norm_new(params, w, 4);
    CHECK_OK(sm && sw);
    if (!sm || !sw) goto done;
    /* the ratio of the top two singular values sets the rate: 0.05 for m, 0.73 for w */
    tensor *mn = NULL, *wn = NULL;
    for (int i = 0; i < 10; i++) mn = spectral_norm_apply(sm, step, m, true);
    sw->power_iterations = 100;
    wn = spectral_norm_apply(sw, step, w, true);
    CHECK_OK(mn && wn);
    if (mn) CHECK_NEAR(sigma_of(m, mn), 17.412505, 0, 1e-5);
    if (wn) CHECK_NEAR(sigma_of(w, wn), 4.1032012, 0, 1e-5);
done:
    arena_free(step);
    arena_free(params);
}

/* torch.nn.utils.spectral_norm(nn.Linear(5, 3, bias=False)) with weight_orig = W35,
 * weight_u = u0, weight_v = v0, train(), two forwards. */
static void test_spectral_norm_matches_torch(void) {
    static const float u0[3] = {0.6f, -0.8f, 0.0f};
    static const float v0[5] = {0.25607374f, 0.51214749f, -0.25607374f, 0.12803687f, 0.76822126f};
    static const float wn1[15] = {0.12738566f, -0.25477132f, 0.50954264f, 0.063692831f,
                                  0.38215697f, 0.25477132f, 0.0f, -0.12738566f, 0.76431394f,
                                  -0.50954264f, -0.38215697f, 0.63692832f, 0.25477132f, 0.0f,
                                  0.19107848f};
    static const float u1[3] = {0.45105302f, -0.87365365f, 0.1824296f};
    static const float v1[5] = {-0.13138574f, -0.1576629f, 0.42043439f, -0.59123582f, 0.65692872f};
    static const float wn2[15] = {0.12355305f, -0.24710611f, 0.49421221f, 0.061776526f,
                                  0.37065917f, 0.24710611f, 0.0f, -0.12355305f, 0.74131835f,
                                  -0.49421221f, -0.37065917f, 0.61776525f, 0.24710611f, 0.0f,
                                  0.18532959f};
    static const float u2[3] = {0.35759762f, -0.88481671f, 0.29870266f};
    static const float v2[5] = {-0.23035279f, 0.0012547513f, 0.38019189f, -0.62680429f, 0.63992697f};
    arena *params = arena_new(1 << 16), *step = arena_new(1 << 16);
    tensor *w = tensor_from(params, 2, (int[]){3, 5}, W35);
    spectral_norm *sn = spectral_norm_new(params, w, 1);
    CHECK_OK(sn);
    if (!sn) goto done;
    memcpy(sn->u->data, u0, sizeof u0);
    memcpy(sn->v->data, v0, sizeof v0);
    tensor *y1 = spectral_norm_apply(sn, step, w, true);
    CHECK_OK(y1);
    if (y1) CHECK_ARRAY(y1->data, wn1, 15, 1e-6, 1e-5);
    CHECK_ARRAY(sn->u->data, u1, 3, 1e-6, 1e-5);
    CHECK_ARRAY(sn->v->data, v1, 5, 1e-6, 1e-5);
    tensor *y2 = spectral_norm_apply(sn, step, w, true);
    CHECK_OK(y2);
    if (y2) CHECK_ARRAY(y2->data, wn2, 15, 1e-6, 1e-5);
    CHECK_ARRAY(sn->u->data, u2, 3, 1e-6, 1e-5);
    CHECK_ARRAY(sn->v->data, v2, 5, 1e-6, 1e-5);
    /* eval: no iteration, u and v stay, so the result repeats */
    float u_before[3];
    memcpy(u_before, sn->u->data, sizeof u_before);
    tensor *y3 = spectral_norm_apply(sn, step, w, false);
    CHECK_OK(y3);
    if (y3) CHECK_ARRAY(y3->data, wn2, 15, 1e-6, 1e-5);
    CHECK_ARRAY(sn->u->data, u_before, 3, 0, 0);
done:
    arena_free(step);
    arena_free(params);
}

static tensor *sn_fn(arena *a, tensor **in, void *user) {
    return spectral_norm_apply(user, a, in[0], true);
}

/* With power_iterations = 0 the checked function holds u, v fixed, as the backward assumes;
 * a warm-up first brings them near the singular vectors, as in training. */
static void test_spectral_norm_gradcheck(void) {
    static const int shapes[][4] = {{3, 5}, {4, 2, 3, 1}, {1, 7}, {5, 1}};
    static const int ndims[] = {2, 4, 2, 2};
    arena *params = arena_new(1 << 16), *step = arena_new(1 << 16);
    for (int k = 0; k < 4; k++) {
        tensor *w = tensor_new(params, ndims[k], shapes[k]);
        test_fill_uniform(w, 600 + k, -1, 1);
        tensor_requires_grad(w);
        spectral_norm *sn = spectral_norm_new(params, w, 700 + k);
        CHECK_OK(sn);
        if (!sn) continue;
        for (int i = 0; i < 5; i++) CHECK_OK(spectral_norm_apply(sn, step, w, true));
        arena_reset(step);
        sn->power_iterations = 0;
        gradcheck("spectral_norm", sn_fn, (tensor *[]){w}, 1, sn, gradcheck_defaults());
    }
    arena_free(step);
    arena_free(params);
}

static void test_spectral_norm_errors(void) {
    arena *a = arena_new(1 << 16);
    tensor *w = tensor_new(a, 2, (int[]){3, 5});
    spectral_norm *sn = spectral_norm_new(a, w, 1);
    CHECK_OK(sn);
    CHECK(spectral_norm_apply(sn, a, tensor_new(a, 2, (int[]){3, 4}), true) == NULL);
    CHECK_MSG(error_status() == STATUS_SHAPE && strstr(error_message(), "spectral_norm") &&
              strstr(error_message(), "(3, 4)") && strstr(error_message(), "(5)"),
              "got %s \"%s\"", status_name(error_status()), error_message());
    error_clear();
    CHECK(spectral_norm_new(a, tensor_scalar(a, 1.0f), 1) == NULL);
    CHECK(error_status() == STATUS_SHAPE && strstr(error_message(), "()"));
    error_clear();
    error_set(STATUS_IO, "earlier failure");
    CHECK(spectral_norm_new(a, NULL, 1) == NULL && spectral_norm_apply(sn, a, NULL, true) == NULL);
    CHECK(error_status() == STATUS_IO);
    error_clear();
    arena_free(a);
}

int main(void) {
    RUN(test_spectral_norm_header_example);
    RUN(test_spectral_norm_new);
    RUN(test_spectral_norm_converges);
    RUN(test_spectral_norm_matches_torch);
    RUN(test_spectral_norm_gradcheck);
    RUN(test_spectral_norm_errors);
    return test_finish();
}
