/* The cpu-bf16 backend: convolutions on bfloat16 inputs with float32 accumulation, for
 * inference and image optimisation. bfloat16 keeps 8 significant bits, so each input is
 * rounded by up to 2^-9 = 0.2% relative; a dot product of many such terms with random signs
 * has a relative error of about that size. These tests state the error against float32:
 * per kernel (relative L2 error < 1%), and through a small VGG-like network (output < 2%,
 * the image gradient's direction within cos > 0.995). They also check the error is > 1e-5,
 * i.e. that bfloat16 really ran rather than a float32 fallback. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "atelier/ops.h"

static double rel_l2(const float *got, const float *want, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        den += (double)want[i] * want[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

static double cosine(const float *a, const float *b, int64_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = 0; i < n; i++) { ab += (double)a[i] * b[i]; aa += (double)a[i] * a[i]; bb += (double)b[i] * b[i]; }
    return ab / sqrt(aa * bb + 1e-300);
}


static void check_bf16_error(const char *what, double err) {
    if (err < 1e-6) { test_skip("oneDNN ran no bfloat16 convolution on this CPU (float32 fallback)"); return; }
    CHECK_MSG(err < 1e-2 && err > 1e-5, "%s: relative L2 error %.3g, want in (1e-5, 1e-2)", what, err);
    printf("  %s: relative L2 error vs float32 reference %.2e\n", what, err);
}

static void test_conv_kernels(void) {
    const backend *bf = test_backend_or_skip("cpu-bf16");
    if (!bf) return;
    conv2d_params p = {.n = 2, .c = 32, .h = 19, .w = 17, .oc = 48, .kh = 3, .kw = 3, .oh = 10, .ow = 9,
                       .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1};
    arena *a = arena_new(1 << 20);
    tensor *x = tensor_new(a, 4, (int[]){2, 32, 19, 17}), *w = tensor_new(a, 4, (int[]){48, 32, 3, 3});
    tensor *b = tensor_new(a, 1, (int[]){48}), *dy = tensor_new(a, 4, (int[]){2, 48, 10, 9});
    test_fill_uniform(x, 1, -1, 1); test_fill_uniform(w, 2, -0.1f, 0.1f);
    test_fill_uniform(b, 3, -0.1f, 0.1f); test_fill_uniform(dy, 4, -1, 1);
    tensor *y1 = tensor_like(a, dy), *y2 = tensor_like(a, dy);
    bf->conv2d_forward(y1->data, x->data, w->data, b->data, &p);
    backend_ref()->conv2d_forward(y2->data, x->data, w->data, b->data, &p);
    check_bf16_error("conv2d forward", rel_l2(y1->data, y2->data, y1->numel));
    tensor *dx1 = tensor_like(a, x), *dx2 = tensor_like(a, x), *dw1 = tensor_like(a, w), *dw2 = tensor_like(a, w);
    bf->conv2d_backward(dx1->data, dw1->data, NULL, dy->data, x->data, w->data, &p);
    backend_ref()->conv2d_backward(dx2->data, dw2->data, NULL, dy->data, x->data, w->data, &p);
    check_bf16_error("conv2d dx", rel_l2(dx1->data, dx2->data, dx1->numel));
    check_bf16_error("conv2d dw", rel_l2(dw1->data, dw2->data, dw1->numel));
    /* conv_transpose2d: x (2, 48, 10, 9) -> (2, 32, 19, 17) with out_pad 0 */
    tensor *t1 = tensor_like(a, x), *t2 = tensor_like(a, x);
    conv2d_params q = {.n = 2, .c = 48, .h = 10, .w = 9, .oc = 32, .kh = 3, .kw = 3, .oh = 19, .ow = 17,
                       .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1};
    bf->conv_transpose2d_forward(t1->data, dy->data, w->data, NULL, &q);
    backend_ref()->conv_transpose2d_forward(t2->data, dy->data, w->data, NULL, &q);
    check_bf16_error("conv_transpose2d forward", rel_l2(t1->data, t2->data, t1->numel));
    arena_free(a);
}

/* A VGG-like stack: 4 convs (3 -> 32 -> 32 -> 64 -> 64) with ReLU and max pooling. */
typedef struct vggish { tensor *w[4], *b[4]; } vggish;

static tensor *vggish_forward(arena *a, const vggish *v, tensor *x) {
    conv2d_opts o = conv2d_defaults();
    o.pad = 1;
    tensor *h = x;
    for (int i = 0; i < 4; i++) {
        h = op_relu(a, op_conv2d(a, h, v->w[i], v->b[i], o));
        if (i == 1) h = op_max_pool2d(a, h, 2, 2, 0);
    }
    return h;  /* (1, 64, H/2, W/2) */
}

/* Output and d(Gram-style loss)/d image on the current backend, copied out. */
static void vggish_run(const vggish *v, tensor *img, float *out, float *grad) {
    arena *a = arena_new(1 << 22);
    tensor_zero_grad(img);
    tensor *f = vggish_forward(a, v, img);
    tensor *loss = op_mean(a, op_square(a, op_gram(a, f)), -1, false);
    if (!loss || tensor_backward(loss) != STATUS_OK) {
        test_fail(__FILE__, __LINE__, "vggish: %s", error_message());
    } else {
        memcpy(out, f->data, sizeof(float) * f->numel);
        memcpy(grad, img->grad, sizeof(float) * img->numel);
    }
    arena_free(a);
}

static void test_network_error(void) {
    if (!test_backend_or_skip("cpu-bf16")) return;
    arena *a = arena_new(1 << 22);
    static const int ch[5] = {3, 32, 32, 64, 64};
    vggish v;
    for (int i = 0; i < 4; i++) {
        v.w[i] = tensor_new(a, 4, (int[]){ch[i + 1], ch[i], 3, 3});
        v.b[i] = tensor_new(a, 1, (int[]){ch[i + 1]});
        test_fill_uniform(v.w[i], 10 + i, -sqrtf(6.0f / (9 * ch[i])), sqrtf(6.0f / (9 * ch[i])));
        test_fill_uniform(v.b[i], 20 + i, 0.0f, 0.05f);
    }
    tensor *img = test_leaf(a, 4, (int[]){1, 3, 48, 40}, 30, 0, 1);
    int64_t nout = 64 * 24 * 20;
    float *o32 = malloc(sizeof(float) * nout), *o16 = malloc(sizeof(float) * nout);
    float *g32 = malloc(sizeof(float) * img->numel), *g16 = malloc(sizeof(float) * img->numel);
    CHECK(backend_select("cpu") == STATUS_OK);
    vggish_run(&v, img, o32, g32);
    CHECK(backend_select("cpu-bf16") == STATUS_OK);
    vggish_run(&v, img, o16, g16);
    CHECK(backend_select("cpu") == STATUS_OK);
    double eo = rel_l2(o16, o32, nout), cg = cosine(g16, g32, img->numel), eg = rel_l2(g16, g32, img->numel);
    printf("  network: output relative L2 error %.2e, image gradient relative error %.2e, cosine %.6f\n", eo, eg, cg);
    if (eo < 1e-6) test_skip("no bfloat16 convolution on this CPU");
    else {
        CHECK_MSG(eo < 2e-2, "output error %.3g", eo);
        CHECK_MSG(cg > 0.995, "gradient cosine %.6f", cg);
    }
    free(o32); free(o16); free(g32); free(g16);
    arena_free(a);
}

int main(void) {
    RUN(test_conv_kernels);
    RUN(test_network_error);
    return test_finish();
}
