/* test_models.c: the networks of models.h: shapes, parameter names and counts (the
 * counts PyTorch reports for the same architectures), and a forward + backward through
 * each on tiny inputs with finite, non-zero gradients where they must arrive.
 *
 * Parameter counts (sum of p.numel() over model.parameters()):
 *   torchvision vgg19().features               20,024,384
 *   pytorch/examples fast_neural_style TransformerNet  1,679,235
 *   pytorch/examples dcgan Generator (nz 100, ngf 64, nc 3)  3,576,704
 *   pytorch/examples dcgan Discriminator (ndf 64, nc 3)      2,765,568
 */
#include <math.h>
#include "atelier/models.h"
#include "atelier/ops.h"
#include "harness.h"

/* true if every element is finite and at least one is non-zero */
static bool finite_nonzero(const float *g, int64_t n) {
    bool nonzero = false;
    for (int64_t i = 0; g && i < n; i++) {
        if (!isfinite(g[i])) return false;
        if (g[i] != 0.0f) nonzero = true;
    }
    return nonzero;
}

static void test_vgg_names_and_count(void) {
    arena *p = arena_new(1 << 20);
    vgg19 m;
    CHECK(vgg19_init(&m, p, 1, VGG_POOL_MAX, NULL) == STATUS_OK);
    CHECK(m.nconv == 16 && m.params.n == 32);
    CHECK(model_params_count(&m.params) == 20024384);
    CHECK(strcmp(m.params.names[0], "features.0.weight") == 0);
    CHECK(strcmp(m.params.names[1], "features.0.bias") == 0);
    CHECK(strcmp(m.params.names[31], "features.34.bias") == 0);
    tensor *w = model_params_find(&m.params, "features.28.weight");   // conv5_1
    CHECK(w && w == m.w[12] && w->shape[0] == 512 && w->shape[1] == 512);
    CHECK(vgg19_layer_index("relu1_1") == 0 && vgg19_layer_index("relu4_2") == 9);
    CHECK(vgg19_layer_index("relu5_4") == 15 && vgg19_layer_index("relu6_1") == -1);
    CHECK(strcmp(vgg19_layer_name(12), "relu5_1") == 0 && vgg19_layer_name(16) == NULL);
    // kaiming normal, fan_out: std sqrt(2 / (64 * 9)) for conv1_2
    double ss = 0;
    for (int64_t i = 0; i < m.w[1]->numel; i++) ss += (double)m.w[1]->data[i] * m.w[1]->data[i];
    CHECK_NEAR(sqrt(ss / m.w[1]->numel), sqrt(2.0 / (64 * 9)), 0, 0.05);
    // a partial net and bad names
    vgg19 part;
    CHECK(vgg19_init(&part, p, 1, VGG_POOL_AVG, "relu4_1") == STATUS_OK && part.nconv == 9);
    error_clear();
    CHECK(vgg19_init(&part, p, 1, VGG_POOL_MAX, "relu9_9") == STATUS_ARG);
    CHECK(strstr(error_message(), "relu9_9") != NULL);
    error_clear();
    arena_free(p);
}

/* VGG to relu5_1 on a 16x16 image (1x1 at group 5), both poolings; the image's gradient
 * is finite and non-zero, the frozen weights get none. */
static void test_vgg_forward_backward(void) {
    arena *p = arena_new(1 << 20), *a = arena_new(1 << 20);
    for (int pool = 0; pool < 2; pool++) {
        vgg19 m;
        CHECK(vgg19_init(&m, p, 3, (vgg_pool)pool, "relu5_1") == STATUS_OK);
        model_params_set_trainable(&m.params, false);
        tensor *img = test_leaf(a, 4, (int[]){1, 3, 16, 16}, 11, 0.0f, 1.0f);
        const char *names[] = {"relu5_1", "relu1_1", "relu4_2", "relu3_1"};
        tensor *f[4];
        CHECK(vgg19_forward(&m, a, vgg_normalize(a, img), 4, names, f) == STATUS_OK);
        if (!f[0] || !f[1] || !f[2] || !f[3]) { CHECK_OK(NULL); break; }
        CHECK(f[0]->shape[1] == 512 && f[0]->shape[2] == 1 && f[0]->shape[3] == 1);
        CHECK(f[1]->shape[1] == 64 && f[1]->shape[2] == 16);
        CHECK(f[2]->shape[1] == 512 && f[2]->shape[2] == 2);
        CHECK(f[3]->shape[1] == 256 && f[3]->shape[2] == 4);
        tensor *loss = op_add(a, op_mean(a, op_gram(a, f[1]), -1, false),
                              op_add(a, op_mean(a, op_square(a, f[2]), -1, false),
                                     op_mean(a, op_gram(a, f[0]), -1, false)));
        CHECK_OK(loss);
        CHECK(loss && tensor_backward(loss) == STATUS_OK);
        CHECK(finite_nonzero(img->grad, img->numel));
        CHECK(m.w[0]->grad == NULL && m.w[12]->grad == NULL);
        arena_reset(a);
        arena_reset(p);
    }
    // asking for a layer that was not built is refused
    vgg19 m;
    CHECK(vgg19_init(&m, p, 3, VGG_POOL_MAX, "relu1_2") == STATUS_OK);
    tensor *x = tensor_new(a, 4, (int[]){1, 3, 4, 4}), *out;
    const char *deep[] = {"relu2_1"};
    error_clear();
    CHECK(vgg19_forward(&m, a, x, 1, deep, &out) == STATUS_ARG);
    CHECK(strstr(error_message(), "relu2_1") != NULL);
    error_clear();
    arena_free(a);
    arena_free(p);
}

static void test_vgg_normalize(void) {
    arena *a = arena_new(1 << 16);
    tensor *x = tensor_fill(tensor_new(a, 4, (int[]){1, 3, 1, 2}), 0.5f);
    tensor *y = vgg_normalize(a, x);
    CHECK_OK(y);
    if (y) {
        CHECK_NEAR(y->data[0], (0.5 - 0.485) / 0.229, 1e-6, 1e-5);
        CHECK_NEAR(y->data[3], (0.5 - 0.456) / 0.224, 1e-6, 1e-5);
        CHECK_NEAR(y->data[5], (0.5 - 0.406) / 0.225, 1e-6, 1e-5);
    }
    arena_free(a);
}

/* Johnson's net on 2 x 3 x 12 x 8 (H, W multiples of 4), training-style backward to every
 * parameter and the input. */
static void test_johnson(void) {
    arena *p = arena_new(1 << 20), *a = arena_new(1 << 20);
    johnson_net m;
    CHECK(johnson_init(&m, p, 5) == STATUS_OK);
    CHECK(model_params_count(&m.params) == 1679235);
    CHECK(m.params.n == 62);
    CHECK(strcmp(m.params.names[0], "conv1.conv2d.weight") == 0);
    CHECK(model_params_find(&m.params, "res5.in2.bias") == m.res[4].in2.beta);
    CHECK(model_params_find(&m.params, "deconv3.conv2d.bias") == m.deconv3.b);
    tensor *x = test_leaf(a, 4, (int[]){2, 3, 12, 8}, 7, 0.0f, 255.0f);
    tensor *y = johnson_forward(&m, a, x);
    CHECK_OK(y);
    if (y) {
        CHECK(y->ndim == 4 && y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 12 && y->shape[3] == 8);
        tensor *loss = op_mean(a, op_square(a, y), -1, false);
        CHECK(loss && tensor_backward(loss) == STATUS_OK);
        CHECK(finite_nonzero(x->grad, x->numel));
        CHECK(finite_nonzero(m.conv1.w->grad, m.conv1.w->numel));
        CHECK(finite_nonzero(m.res[2].conv2.w->grad, m.res[2].conv2.w->numel));
        CHECK(finite_nonzero(m.deconv3.b->grad, m.deconv3.b->numel));
    }
    // inference records nothing
    arena_reset(a);
    bool was = autograd_set(false);
    tensor *xi = tensor_fill(tensor_new(a, 4, (int[]){1, 3, 8, 8}), 0.3f);
    tensor *yi = johnson_forward(&m, a, xi);
    CHECK(yi && yi->backward == NULL);
    autograd_set(was);
    arena_free(a);
    arena_free(p);
}

/* AdaIN on 16x16 content and 16x24 style (AdaIN's unbiased variance needs more than one
 * feature pixel): the decoder gets gradients (it is what is trained), the frozen encoder
 * none. */
static void test_adain(void) {
    arena *p = arena_new(1 << 20), *a = arena_new(1 << 20);
    adain_net m;
    CHECK(adain_init(&m, p, 9) == STATUS_OK);
    CHECK(m.enc.nconv == 9 && m.decoder.n == 18);
    CHECK(strcmp(m.decoder.names[0], "1.weight") == 0 && strcmp(m.decoder.names[17], "28.bias") == 0);
    // the decoder mirrors VGG to relu4_1: 3,505,219 parameters in the authors' decoder
    CHECK(model_params_count(&m.decoder) == 3505219);
    model_params_set_trainable(&m.enc.params, false);
    tensor *c = test_leaf(a, 4, (int[]){1, 3, 16, 16}, 1, 0.0f, 1.0f);
    tensor *s = test_leaf(a, 4, (int[]){1, 3, 16, 24}, 2, 0.0f, 1.0f);
    tensor *y = adain_forward(&m, a, c, s, 0.8f);
    CHECK_OK(y);
    if (y) {
        CHECK(y->shape[0] == 1 && y->shape[1] == 3 && y->shape[2] == 16 && y->shape[3] == 16);
        tensor *loss = op_mean(a, op_square(a, y), -1, false);
        CHECK(loss && tensor_backward(loss) == STATUS_OK);
        CHECK(finite_nonzero(m.w[0]->grad, m.w[0]->numel));
        CHECK(finite_nonzero(m.b[8]->grad, m.b[8]->numel));
        CHECK(finite_nonzero(c->grad, c->numel) && finite_nonzero(s->grad, s->numel));
        CHECK(m.enc.w[0]->grad == NULL);
    }
    arena_free(a);
    arena_free(p);
}

static void test_dcgan_counts(void) {
    arena *p = arena_new(1 << 20);
    dcgan_g g;
    dcgan_d d;
    CHECK(dcgan_g_init(&g, p, 1, 100, 64, 3) == STATUS_OK);
    CHECK(dcgan_d_init(&d, p, 2, 64, 3) == STATUS_OK);
    CHECK(model_params_count(&g.params) == 3576704);
    CHECK(model_params_count(&d.params) == 2765568);
    CHECK(g.params.n == 13 && d.params.n == 11 && g.buffers.n == 8 && d.buffers.n == 6);
    CHECK(strcmp(g.params.names[12], "main.12.weight") == 0);
    CHECK(model_params_find(&d.params, "main.11.weight") == d.w[4]);
    CHECK(model_params_find(&g.buffers, "main.10.running_var") == g.running_var[3]);
    CHECK(g.running_var[0]->data[0] == 1.0f && d.running_mean[2]->data[5] == 0.0f);
    error_clear();
    CHECK(dcgan_g_init(&g, p, 1, 0, 64, 3) == STATUS_ARG);
    error_clear();
    arena_free(p);
}

/* One GAN step with small widths (ngf = ndf = 4) at batch 2: shapes, tanh range, and
 * gradients reaching both nets. */
static void test_dcgan_step(void) {
    arena *p = arena_new(1 << 20), *a = arena_new(1 << 20);
    dcgan_g g;
    dcgan_d d;
    CHECK(dcgan_g_init(&g, p, 1, 8, 4, 3) == STATUS_OK);
    CHECK(dcgan_d_init(&d, p, 2, 4, 3) == STATUS_OK);
    tensor *z = test_leaf(a, 4, (int[]){2, 8, 1, 1}, 3, -1.0f, 1.0f);
    z->requires_grad = false;
    tensor *fake = dcgan_g_forward(&g, a, z, true);
    CHECK_OK(fake);
    if (!fake) goto done;
    CHECK(fake->shape[0] == 2 && fake->shape[1] == 3 && fake->shape[2] == 64 && fake->shape[3] == 64);
    bool in_range = true;
    for (int64_t i = 0; i < fake->numel; i++) in_range &= fabsf(fake->data[i]) <= 1.0f;
    CHECK(in_range);
    CHECK(g.running_mean[0]->data[0] != 0.0f);  // training updated the running statistics
    tensor *logits = dcgan_d_forward(&d, a, fake, true);
    CHECK_OK(logits);
    if (!logits) goto done;
    CHECK(logits->ndim == 1 && logits->shape[0] == 2);
    tensor *ones = tensor_fill(tensor_new(a, 1, (int[]){2}), 1.0f);
    tensor *loss = op_bce_with_logits(a, logits, ones);
    CHECK(loss && tensor_backward(loss) == STATUS_OK);
    CHECK(finite_nonzero(g.w[0]->grad, g.w[0]->numel));
    CHECK(finite_nonzero(g.bn[3].gamma->grad, g.bn[3].gamma->numel));
    CHECK(finite_nonzero(d.w[4]->grad, d.w[4]->numel));
    CHECK(finite_nonzero(d.w[0]->grad, d.w[0]->numel));
    // eval mode uses the running statistics
    tensor *ev = dcgan_d_forward(&d, a, fake, false);
    CHECK(ev && ev->shape[0] == 2);
done:
    arena_free(a);
    arena_free(p);
}

/* Inference runs each layer in scratch arenas (bounded memory); with gradients on, the
 * graph is kept. Both must give the same numbers: the same kernels in the same order. */
static void test_inference_matches_recorded_forward(void) {
    arena *p = arena_new(1 << 20), *a = arena_new(1 << 22);
    johnson_net jn;
    adain_net an;
    CHECK(johnson_init(&jn, p, 5) == STATUS_OK && adain_init(&an, p, 6) == STATUS_OK);
    tensor *x = tensor_new(a, 4, (int[]){1, 3, 32, 24}), *st = tensor_new(a, 4, (int[]){1, 3, 24, 16});
    test_fill_uniform(x, 1, 0, 1);
    test_fill_uniform(st, 2, 0, 1);
    for (int net = 0; net < 2; net++) {
        tensor *y[2];
        for (int grad = 0; grad < 2; grad++) {
            bool was = autograd_set(grad);
            y[grad] = net ? adain_forward(&an, a, x, st, 1.0f) : johnson_forward(&jn, a, x);
            autograd_set(was);
            CHECK_OK(y[grad]);
        }
        if (y[0] && y[1]) {
            CHECK(tensor_same_shape(y[0], y[1]) && y[0]->arena == a && y[0]->backward == NULL);
            CHECK(y[1]->backward != NULL);  /* recorded: the graph exists for backward */
            CHECK(test_close_array(__FILE__, __LINE__, net ? "adain" : "johnson", y[0]->data, y[1]->data, y[0]->numel, 0, 0));
        }
    }
    arena_free(a); arena_free(p);
}

int main(void) {
    RUN(test_inference_matches_recorded_forward);
    RUN(test_vgg_names_and_count);
    RUN(test_vgg_forward_backward);
    RUN(test_vgg_normalize);
    RUN(test_johnson);
    RUN(test_adain);
    RUN(test_dcgan_counts);
    RUN(test_dcgan_step);
    return test_finish();
}
