/* test_golden_net.c: a small network end to end against PyTorch.
 *
 * tests/golden/net.safetensors (tools/gen_golden_ops.py, gen_net) holds the weights, an input
 * image x (2, 3, 7, 9), a target, and PyTorch's output, loss, batch-norm running statistics
 * and the gradient of the loss with respect to every weight and to the image:
 *
 *   conv(3->8, 3x3, pad 1) -> instance norm (affine) -> relu
 *   -> conv(8->16, 3x3, stride 2, pad 1) -> batch norm (train) -> leaky_relu(0.2)
 *   -> conv_transpose(16->3, 3x3, stride 2, pad 1) -> tanh -> mse against the target
 *
 * The odd sizes make 7 -> 4 -> 7 and 9 -> 5 -> 9 round trips. Where single-op tests
 * (test_golden_ops.c) check each piece, this one checks that gradients are accumulated and
 * passed along correctly between ops, through both kinds of normalisation.
 *
 * Tolerance: gradients pass back through two normalisations, each of which subtracts means
 * (cancellation), and through three convolutions; the absolute error of an element then
 * scales with the size of the whole gradient tensor, not with the element. So each gradient
 * is compared with atol = 1e-4 * max|ref| (about 1000 float32 roundings at the tensor's scale)
 * plus rtol 1e-4. The biases of the two convolutions that feed a normalisation get a zero
 * gradient in exact arithmetic (the normalisation subtracts them again with the mean), so
 * PyTorch's values there are rounding noise (~1e-9): they are checked against the scale of
 * their layer's weight gradient instead, i.e. to be zero to 1e-4 of it.
 * The loss and the output: rtol 1e-5, a sum of 378 squares.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/ops.h"
#include "atelier/safetensors.h"
#include "harness.h"

#define NET_PATH "tests/golden/net.safetensors"

static const char *const PARAMS[] = {"x", "c1.w", "c1.b", "in.gamma", "in.beta", "c2.w",
                                     "c2.b", "bn.gamma", "bn.beta", "ct.w", "ct.b"};
/* whose gradient sets the scale of each parameter's tolerance (see the top) */
static const char *const SCALE_OF[] = {"x", "c1.w", "c1.w", "in.gamma", "in.beta", "c2.w",
                                       "c2.w", "bn.gamma", "bn.beta", "ct.w", "ct.b"};
enum { NPARAMS = sizeof PARAMS / sizeof PARAMS[0] };

typedef struct net {
    tensor *p[NPARAMS];  /* in the order of PARAMS */
    tensor *target, *running_mean, *running_var;
} net;

static safetensors *g_file;
static arena *g_arena;

static tensor *load(const char *name) {
    tensor *t = g_file ? safetensors_get(g_file, g_arena, name) : NULL;
    if (!t) test_fail(__FILE__, __LINE__, "cannot load %s: %s", name, error_message());
    return t;
}

static bool net_load(net *n) {
    bool ok = true;
    for (int i = 0; i < NPARAMS; i++) {
        n->p[i] = load(PARAMS[i]);
        if (n->p[i]) tensor_requires_grad(n->p[i]); else ok = false;
    }
    n->target = load("target");
    n->running_mean = load("bn.running_mean");
    n->running_var = load("bn.running_var");
    return ok && n->target && n->running_mean && n->running_var;
}

/* The network's output (2, 3, 7, 9); NULL on failure. */
static tensor *net_forward(net *n) {
    arena *a = g_arena;
    tensor **p = n->p;
    conv2d_opts pad1 = conv2d_defaults(), down = conv2d_defaults();
    pad1.pad = 1;
    down.pad = 1; down.stride = 2;
    tensor *h = op_conv2d(a, p[0], p[1], p[2], pad1);                    // (2, 8, 7, 9)
    h = op_relu(a, op_instance_norm(a, h, p[3], p[4], 1e-5f));
    h = op_conv2d(a, h, p[5], p[6], down);                               // (2, 16, 4, 5)
    h = op_batch_norm(a, h, p[7], p[8], n->running_mean, n->running_var, true, 0.1f, 1e-5f);
    h = op_leaky_relu(a, h, 0.2f);
    h = op_conv_transpose2d(a, h, p[9], p[10], down);                    // (2, 3, 7, 9)
    return op_tanh(a, h);
}

static double max_abs(const tensor *t) {
    double m = 0;
    for (int64_t i = 0; i < t->numel; i++) m = fmax(m, fabs(t->data[i]));
    return m;
}

static void compare_grad(const char *name, const char *scale_of, tensor *p) {
    char key[64], skey[64];
    snprintf(key, sizeof key, "grad.%s", name);
    snprintf(skey, sizeof skey, "grad.%s", scale_of);
    tensor *want = load(key), *scale = load(skey);
    if (!want || !scale) return;
    if (!p->grad || p->numel != want->numel) {
        test_fail(__FILE__, __LINE__, "%s: no gradient or wrong size", key);
        return;
    }
    test_close_array(__FILE__, __LINE__, key, p->grad, want->data, want->numel,
                     1e-4 * max_abs(scale), 1e-4);
    if (getenv("GOLDEN_VERBOSE")) {  /* how much margin the tolerance leaves */
        double worst = 0;
        for (int64_t i = 0; i < want->numel; i++)
            worst = fmax(worst, fabs((double)p->grad[i] - want->data[i]));
        printf("    %-16s max |diff| %.3g, max |ref| %.3g\n", key, worst, max_abs(want));
    }
}

static void test_net_forward_backward(void) {
    net n;
    if (!net_load(&n)) return;
    tensor *out = net_forward(&n);
    tensor *loss = op_mse_loss(g_arena, out, n.target);
    CHECK_OK(loss);
    if (!loss) return;
    tensor *want_out = load("out"), *want_loss = load("loss");
    if (want_out && out->numel == want_out->numel)
        test_close_array(__FILE__, __LINE__, "out", out->data, want_out->data, out->numel,
                         1e-5, 1e-5);
    else
        test_fail(__FILE__, __LINE__, "output has %lld elements", (long long)out->numel);
    if (want_loss) CHECK_NEAR(loss->data[0], want_loss->data[0], 1e-7, 1e-5);
    /* running stats: a mean and unbiased variance over 40 elements per channel */
    tensor *rm = load("bn.running_mean_after"), *rv = load("bn.running_var_after");
    if (rm) CHECK_ARRAY(n.running_mean->data, rm->data, rm->numel, 1e-5, 1e-5);
    if (rv) CHECK_ARRAY(n.running_var->data, rv->data, rv->numel, 1e-5, 1e-5);
    CHECK(tensor_backward(loss) == STATUS_OK);
    for (int i = 0; i < NPARAMS; i++) compare_grad(PARAMS[i], SCALE_OF[i], n.p[i]);
}

int main(void) {
    g_file = safetensors_open(NET_PATH);
    if (!g_file) {
        fprintf(stderr, "%s (run from the repository root; regenerate with "
                "tools/gen_golden_ops.py)\n", error_message());
        return 1;
    }
    g_arena = arena_new(1 << 20);
    RUN(test_net_forward_backward);
    arena_free(g_arena);
    safetensors_close(g_file);
    return test_finish();
}
