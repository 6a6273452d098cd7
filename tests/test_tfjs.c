/* test_tfjs.c: the TF.js layers-model reader (tfjs.h) and the feature networks (featnet.h).
 *
 * - a tiny model with every supported layer type (tests/fixtures/tfjs_tiny, made by
 *   tools/make_tiny_tfjs.mjs) agrees with TF.js itself (golden_tfjs.safetensors, dumped by
 *   tools/tfjs_reference.mjs) and with a PyTorch port (golden_torch.safetensors, by
 *   tools/tfjs_torch.py), activations and input gradients;
 * - the input gradient of the whole graph against finite differences;
 * - fused conv + batch norm (+ ReLU) equals the layers run one by one;
 * - hostile or broken model files are refused with one line and no crash;
 * - the installed nsfwjs networks (when scripts/install-models.sh has run) agree with TF.js
 *   on stored small cases (tests/fixtures/tfjs_real).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/featnet.h"
#include "atelier/ops.h"
#include "atelier/safetensors.h"
#include "atelier/tfjs.h"
#include "gradcheck.h"
#include "harness.h"

#define TINY "tests/fixtures/tfjs_tiny"

/* max |a - b| / max |b| over a tensor */
static double rel_err(const tensor *a, const tensor *b) {
    double d = 0, m = 0;
    for (int64_t i = 0; i < b->numel; i++) {
        double e = fabs((double)a->data[i] - b->data[i]);
        d = e > d ? e : d;
        m = fabs(b->data[i]) > m ? fabs(b->data[i]) : m;
    }
    return m > 0 ? d / m : d;
}

/* Every "PREFIX<layer>" tensor of a golden file against the model's output of that layer:
 * max relative error (of the layer's largest value) must stay under tol. */
static bool have_fixture(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) { fclose(f); return true; }
    test_skip("fixture missing: regenerate with tools/make_tiny_tfjs.mjs and tools/tfjs_reference.mjs");
    return false;
}

static void compare_golden(const char *model_dir, const char *golden, const char *prefix, double tol) {
    if (!have_fixture(golden)) return;
    tfjs_model *m = tfjs_load(model_dir);
    safetensors *g = m ? safetensors_open(golden) : NULL;
    if (!m || !g) {
        test_fail(__FILE__, __LINE__, "%s / %s: %s", model_dir, golden, error_message());
        tfjs_free(m);
        safetensors_close(g);
        return;
    }
    arena *a = arena_new(64 << 20);
    tensor *x = safetensors_get(g, a, "input");
    CHECK_OK(x);
    int checked = 0;
    double worst = 0;
    const char *worst_layer = "";
    bool was = autograd_set(false);
    for (int i = 0; x && i < safetensors_count(g); i++) {
        const char *name = safetensors_name(g, i);
        size_t pl = strlen(prefix);
        if (strncmp(name, prefix, pl) != 0 || strchr(name + pl, '/') || !strncmp(name + pl, "grad_input", 10)) continue;
        const char *layer = name + pl;
        tensor *want = safetensors_get(g, a, name), *got = NULL;
        if (tfjs_forward(m, a, x, 1, &layer, &got) != STATUS_OK) {
            test_fail(__FILE__, __LINE__, "%s: layer %s: %s", model_dir, layer, error_message());
            error_clear();
            continue;
        }
        char b1[64], b2[64];
        if (!want || got->numel != want->numel || got->ndim != want->ndim) {
            test_fail(__FILE__, __LINE__, "%s: layer %s: got %s, golden %s", model_dir, layer, tensor_shape_str(got, b1),
                      want ? tensor_shape_str(want, b2) : "?");
            continue;
        }
        double e = rel_err(got, want);
        CHECK_MSG(e <= tol, "%s: layer %s: max error %.3g of the largest value (tolerance %.1g)", golden, layer, e, tol);
        if (e >= worst) { worst = e; worst_layer = layer; }
        checked++;
    }
    autograd_set(was);
    CHECK_MSG(checked >= 3, "%s: only %d layers compared", golden, checked);
    printf("  %s: %d layers, worst %.2e of the layer's largest value (%s; tolerance %.0e)\n", golden, checked, worst,
           worst_layer, tol);
    arena_free(a);
    safetensors_close(g);
    tfjs_free(m);
}

/* float32 through 42 layers, the same dequantised weights, different summation orders:
 * measured 1.2e-6 of the layer's largest value (either backend); 1e-5 leaves room for
 * Winograd's rounding and another CPU's kernels, and still catches any wrong semantics
 * (a padding on the wrong side moves whole rows: errors of 1e-1) */
static void test_tiny_agrees_with_tfjs(void) { compare_golden(TINY, TINY "/golden_tfjs.safetensors", "tfjs/", 1e-5); }
static void test_tiny_agrees_with_torch(void) { compare_golden(TINY, TINY "/golden_torch.safetensors", "torch/", 1e-5); }

/* The input gradients of the PyTorch port's two losses: L1 = sum_l mean(F_l^2) and
 * L2 = sum_l mean(G_l^2), G = F F^T / (H W), over its grad layers. */
static void test_tiny_input_gradients(void) {
    if (!have_fixture(TINY "/golden_torch.safetensors")) return;
    safetensors *g = safetensors_open(TINY "/golden_torch.safetensors");
    tfjs_model *m = g ? tfjs_load(TINY) : NULL;
    if (!g || !m) { test_fail(__FILE__, __LINE__, "%s", error_message()); safetensors_close(g); return; }
    const char *list = safetensors_metadata(g, "grad_layers");
    CHECK_MSG(list && *list, "golden_torch has no grad_layers");
    char names[8][64];
    const char *np[8];
    int n = 0;
    for (const char *p = list; p && *p && n < 8;) {
        size_t len = strcspn(p, ",");
        snprintf(names[n], sizeof names[n], "%.*s", (int)len, p);
        np[n] = names[n];
        n++;
        p += len + (p[len] == ',');
    }
    arena *a = arena_new(16 << 20);
    for (int kind = 0; kind < 2; kind++) {
        tensor *x = safetensors_get(g, a, "input"), *want = safetensors_get(g, a, kind ? "torch/grad_input_gram" : "torch/grad_input");
        if (!x || !want) { test_fail(__FILE__, __LINE__, "%s", error_message()); break; }
        tensor_requires_grad(x);
        tensor *f[8];
        CHECK(tfjs_forward(m, a, x, n, np, f) == STATUS_OK);
        tensor *loss = tensor_scalar(a, 0.0f);
        for (int l = 0; l < n; l++) {
            tensor *t = f[l];
            if (kind) t = op_gram(a, t->ndim == 4 ? t : tensor_reshape(a, t, 4, (int[]){t->shape[0], t->shape[1], 1, 1}));
            loss = op_add(a, loss, op_mean(a, op_square(a, t), -1, false));
        }
        CHECK(loss && tensor_backward(loss) == STATUS_OK && x->grad);
        if (!x->grad) break;
        tensor *got = tensor_from(a, 4, x->shape, x->grad);
        double e = rel_err(got, want);
        /* float32 against float64 through the graph: measured 2.2e-7 of the largest */
        CHECK_MSG(e <= 1e-5, "input gradient (%s loss): max error %.3g of the largest", kind ? "Gram" : "feature", e);
        printf("  input gradient (%s loss) vs PyTorch (float64): %.2e of the largest\n", kind ? "Gram" : "feature", e);
    }
    arena_free(a);
    tfjs_free(m);
    safetensors_close(g);
}

/* The tiny model's input gradient against central differences, through every layer type. */
static tensor *tiny_out(arena *a, tensor **in, void *user) {
    const tfjs_model *m = user;
    const char *name = tfjs_output_name(m);
    tensor *y;
    if (tfjs_forward(m, a, in[0], 1, &name, &y) != STATUS_OK) return NULL;
    return y;
}

static void test_tiny_gradcheck(void) {
    if (!have_fixture(TINY "/model.json")) return;
    tfjs_model *m = tfjs_load(TINY);
    if (!m) { test_fail(__FILE__, __LINE__, "%s", error_message()); return; }
    arena *a = arena_new(1 << 20);
    float *r = test_rand_buf(3 * 19 * 23, 5, 0, 1);
    tensor *x = tensor_from(a, 4, (int[]){1, 3, 19, 23}, r);
    free(r);
    tensor_requires_grad(x);
    gradcheck_opts o = gradcheck_defaults();
    o.max_skip = 0.2;   /* ReLUs, ReLU6 caps and max pools: many kinks in a deep graph */
    CHECK(gradcheck("tfjs tiny model", tiny_out, &x, 1, m, o));
    arena_free(a);
    tfjs_free(m);
}

/* Fused conv + BN (+ ReLU) gives what the layers give one by one (asked for by name, the
 * convolution's own output turns the fusion off). */
static void test_fusion_matches_layers(void) {
    if (!have_fixture(TINY "/model.json")) return;
    tfjs_model *m = tfjs_load(TINY);
    if (!m) { test_fail(__FILE__, __LINE__, "%s", error_message()); return; }
    arena *a = arena_new(8 << 20);
    float *r = test_rand_buf(3 * 19 * 23, 9, 0, 1);
    tensor *x = tensor_from(a, 4, (int[]){1, 3, 19, 23}, r);
    free(r);
    const char *out = tfjs_output_name(m);
    int folds = 0;
    for (int i = 0; i < tfjs_layer_count(m); i++) {
        const char *cls = tfjs_layer_class(m, i);
        if (strcmp(cls, "Conv2D") && strcmp(cls, "DepthwiseConv2D")) continue;
        const char *both[2] = {out, tfjs_layer_name(m, i)};
        tensor *fused, *plain[2];
        CHECK(tfjs_forward(m, a, x, 1, &out, &fused) == STATUS_OK);
        CHECK(tfjs_forward(m, a, x, 2, both, plain) == STATUS_OK);
        if (fused && plain[0]) CHECK_MSG(rel_err(fused, plain[0]) < 1e-5, "layer %s: fused and plain differ by %.3g", both[1], rel_err(fused, plain[0]));
        folds++;
    }
    CHECK(folds >= 3);
    arena_free(a);
    tfjs_free(m);
}

/* ---- hostile and broken files ---- */

static const char *model_text(const char *layers, const char *weights, const char *shard) {
    static char buf[8192];
    snprintf(buf, sizeof buf,
             "{\"modelTopology\": {\"model_config\": {\"class_name\": \"Model\", \"config\": {\"layers\": [%s],"
             "\"output_layers\": [[\"c\", 0, 0]]}}}, \"weightsManifest\": [{\"paths\": [\"%s\"], \"weights\": [%s]}]}",
             layers, shard, weights);
    return buf;
}

#define INPUT "{\"name\": \"in\", \"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 8, 8, 3]}, \"inbound_nodes\": []}"
#define CONV(name, src) "{\"name\": \"" name "\", \"class_name\": \"Conv2D\", \"config\": {\"filters\": 2, \"kernel_size\": [3, 3],"\
    " \"strides\": [1, 1], \"padding\": \"same\", \"use_bias\": false}, \"inbound_nodes\": [[[\"" src "\", 0, 0, {}]]]}"
#define KERNEL "{\"name\": \"c/kernel\", \"shape\": [3, 3, 3, 2], \"dtype\": \"float32\", \"quantization\": {\"dtype\": \"uint8\", \"min\": -1, \"scale\": 0.01}}"

/* Writes model.json (text) and shard (n bytes) into a fresh folder; returns the folder. */
static const char *write_model(const char *tag, const char *text, const char *shard, size_t n) {
    static char dir[256];
    snprintf(dir, sizeof dir, "%s", test_tmp_path(tag));
    char cmd[600], path[400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0) return dir;
    snprintf(path, sizeof path, "%s/model.json", dir);
    FILE *f = fopen(path, "w");
    if (f) { fputs(text, f); fclose(f); }
    snprintf(path, sizeof path, "%s/%s", dir, shard);
    unsigned char *bytes = calloc(n ? n : 1, 1);
    for (size_t i = 0; bytes && i < n; i++) bytes[i] = (unsigned char)(i * 37);
    if (bytes && (f = fopen(path, "wb"))) { fwrite(bytes, 1, n, f); fclose(f); }
    free(bytes);
    return dir;
}

#define REFUSED(tag, text, shard, n, s, part) \
    CHECK_FAILS((tensor *)tfjs_load(write_model(tag, text, shard, n)), s, part)

static void test_refuses_bad_models(void) {
    CHECK(test_make_dir());
    /* the good one first: 54 uint8 bytes */
    tfjs_model *ok = tfjs_load(write_model("good", model_text(INPUT "," CONV("c", "in"), KERNEL, "w.bin"), "w.bin", 54));
    CHECK_OK(ok);
    tfjs_free(ok);
    CHECK_FAILS((tensor *)tfjs_load(test_tmp_path("absent")), STATUS_IO, "absent");
    REFUSED("notjson", "{\"modelTopology\": [", "w.bin", 54, STATUS_FORMAT, "model.json");
    REFUSED("graph", "{\"modelTopology\": {\"node\": []}, \"weightsManifest\": []}", "w.bin", 0, STATUS_FORMAT, "graph model");
    REFUSED("short", model_text(INPUT "," CONV("c", "in"), KERNEL, "w.bin"), "w.bin", 53, STATUS_FORMAT, "shards hold 53");
    REFUSED("long", model_text(INPUT "," CONV("c", "in"), KERNEL, "w.bin"), "w.bin", 55, STATUS_FORMAT, "shards hold 55");
    REFUSED("escape", model_text(INPUT "," CONV("c", "in"), KERNEL, "../w.bin"), "w.bin", 54, STATUS_FORMAT, "not a plain file name");
    REFUSED("noshard", model_text(INPUT "," CONV("c", "in"), KERNEL, "other.bin"), "w.bin", 54, STATUS_IO, "other.bin");
    REFUSED("lambda", model_text(INPUT ",{\"name\": \"c\", \"class_name\": \"Lambda\", \"config\": {}, \"inbound_nodes\": [[[\"in\", 0, 0, {}]]]}",
                                 KERNEL, "w.bin"), "w.bin", 54, STATUS_FORMAT, "unsupported layer class Lambda");
    REFUSED("cycle", model_text(INPUT "," CONV("c", "d") "," CONV("d", "c"), KERNEL, "w.bin"), "w.bin", 54, STATUS_FORMAT, "cycle");
    REFUSED("dangling", model_text(INPUT "," CONV("c", "nowhere"), KERNEL, "w.bin"), "w.bin", 54, STATUS_FORMAT, "'nowhere'");
    REFUSED("twice", model_text(INPUT "," CONV("c", "in") "," CONV("c", "in"), KERNEL, "w.bin"), "w.bin", 54, STATUS_FORMAT, "two layers");
    REFUSED("noweight", model_text(INPUT "," CONV("c", "in"),
                                   "{\"name\": \"x/kernel\", \"shape\": [3, 3, 3, 2], \"dtype\": \"float32\", \"quantization\": {\"dtype\": \"uint8\", \"min\": -1, \"scale\": 0.01}}",
                                   "w.bin"), "w.bin", 54, STATUS_FORMAT, "no weight 'c/kernel'");
    REFUSED("badshape", model_text(INPUT "," CONV("c", "in"),
                                   "{\"name\": \"c/kernel\", \"shape\": [3, 3, 2, 3], \"dtype\": \"float32\", \"quantization\": {\"dtype\": \"uint8\", \"min\": -1, \"scale\": 0.01}}",
                                   "w.bin"), "w.bin", 54, STATUS_FORMAT, "does not fit");
    /* a shape claiming 2^40 elements is refused before any allocation */
    REFUSED("huge", model_text(INPUT "," CONV("c", "in"),
                               "{\"name\": \"c/kernel\", \"shape\": [1048576, 1048576, 3, 2], \"dtype\": \"float32\"}", "w.bin"),
            "w.bin", 54, STATUS_FORMAT, "too large");
    REFUSED("dtype", model_text(INPUT "," CONV("c", "in"), "{\"name\": \"c/kernel\", \"shape\": [3, 3, 3, 2], \"dtype\": \"int32\"}", "w.bin"),
            "w.bin", 216, STATUS_FORMAT, "dtype int32");
    REFUSED("noinput", model_text("{\"name\": \"c\", \"class_name\": \"Conv2D\", \"config\": {\"filters\": 2, \"kernel_size\": 3,"
                                  " \"strides\": 1, \"padding\": \"same\", \"use_bias\": false}, \"inbound_nodes\": []}", KERNEL, "w.bin"),
            "w.bin", 54, STATUS_FORMAT, "has 0 inputs");
    /* a layer asked for that does not exist, and a wrong input channel count */
    tfjs_model *m = tfjs_load(write_model("good2", model_text(INPUT "," CONV("c", "in"), KERNEL, "w.bin"), "w.bin", 54));
    arena *a = arena_new(1 << 16);
    tensor *y, *x = tensor_new(a, 4, (int[]){1, 4, 8, 8});
    error_clear();
    CHECK(m && tfjs_forward(m, a, x, 1, (const char *[]){"c"}, &y) == STATUS_SHAPE);
    CHECK_MSG(strstr(error_message(), "takes (N, 3, H, W)"), "message: %s", error_message());
    error_clear();
    x = tensor_new(a, 4, (int[]){1, 3, 8, 8});
    CHECK(m && tfjs_forward(m, a, x, 1, (const char *[]){"zz"}, &y) == STATUS_ARG);
    CHECK_MSG(strstr(error_message(), "no layer named 'zz'"), "message: %s", error_message());
    error_clear();
    arena_free(a);
    tfjs_free(m);
}

/* Random bytes and truncations of a real model.json never crash the reader. */
static void test_mutated_model_json(void) {
    if (!have_fixture(TINY "/model.json")) return;
    size_t n = 0;
    unsigned char *text = test_read_file(TINY "/model.json", &n);
    if (!text) { test_fail(__FILE__, __LINE__, "cannot read %s/model.json", TINY); return; }
    char cmd[600];
    CHECK(test_make_dir());
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp %s/*.bin '%s/'", test_tmp_path("mut"), TINY, test_tmp_path("mut"));
    CHECK(system(cmd) == 0);
    uint64_t s = 12345;
    int loaded = 0;
    for (int trial = 0; trial < 300; trial++) {
        unsigned char *m = malloc(n);
        memcpy(m, text, n);
        size_t len = n;
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        if (trial == 0) len = n;                                               /* as it is */
        else if (trial % 3 == 0) len = (size_t)(s >> 33) % n;                  /* truncated */
        else for (int k = 0; k < 1 + trial % 7; k++) {                        /* a few bytes changed */
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            m[(s >> 33) % n] = (unsigned char)"0123456789[]{},:\"-ex."[(s >> 20) % 21];
        }
        char path[400];
        snprintf(path, sizeof path, "%s/model.json", test_tmp_path("mut"));
        FILE *f = fopen(path, "wb");
        if (f) { fwrite(m, 1, len, f); fclose(f); }
        free(m);
        error_clear();
        tfjs_model *t = tfjs_load(test_tmp_path("mut"));
        if (t) loaded++;
        if (trial == 0) CHECK_MSG(t != NULL, "the unmutated model does not load: %s", error_message());
        else if (!t) CHECK_MSG(error_message()[0] && !strchr(error_message(), '\n'), "trial %d: no one-line message", trial);
        tfjs_free(t);
    }
    error_clear();
    /* some byte changes keep the file valid (a digit in a number): the loop did load models */
    CHECK_MSG(loaded > 0 && loaded < 300, "%d of 300 mutated files loaded", loaded);
    printf("  300 mutated model.json files: %d still valid, the rest refused with a message\n", loaded);
    free(text);
}

/* ---- featnet ---- */

static void test_featnet_vgg_is_vgg(void) {
    featnet *f = featnet_open("vgg19", NULL, NULL);
    CHECK_OK(f);
    if (!f) return;
    CHECK(featnet_builtin(f) && featnet_vgg(f) && !featnet_tfjs(f));
    arena *a = arena_new(8 << 20);
    tensor *img = tensor_new(a, 4, (int[]){1, 3, 16, 16}), *y1, *y2;
    for (int64_t i = 0; i < img->numel; i++) img->data[i] = (float)((i * 7) % 13) / 12.0f;
    CHECK(featnet_forward(f, a, img, 1, (const char *[]){"relu2_1"}, &y1) == STATUS_OK);
    CHECK(vgg19_forward(featnet_vgg(f), a, vgg_normalize(a, img), 1, (const char *[]){"relu2_1"}, &y2) == STATUS_OK);
    CHECK(y1 && y2 && rel_err(y1, y2) == 0);
    arena_free(a);
    featnet_free(f);
}

static void test_featnet_tfjs_input(void) {
    if (!have_fixture(TINY "/model.json")) return;
    featnet *f = featnet_open(TINY, NULL, NULL);
    CHECK_OK(f);
    if (!f) return;
    CHECK(!strcmp(featnet_name(f), "tfjs_tiny") && featnet_tfjs(f));
    arena *a = arena_new(8 << 20);
    tensor *img = tensor_fill(tensor_new(a, 4, (int[]){1, 3, 19, 23}), 0.75f), *y1, *y2;
    const char *out = tfjs_output_name(featnet_tfjs(f));
    featnet_set_input(f, FEATNET_RANGE_PM1, 0);
    CHECK(featnet_forward(f, a, img, 1, &out, &y1) == STATUS_OK);
    tensor *x = tensor_fill(tensor_new(a, 4, (int[]){1, 3, 19, 23}), 0.5f);   /* 0.75 in [-1, 1] */
    CHECK(tfjs_forward(featnet_tfjs(f), a, x, 1, &out, &y2) == STATUS_OK);
    CHECK(y1 && y2 && rel_err(y1, y2) < 1e-6);
    /* reflect padding grows the feature maps */
    const char *first = tfjs_layer_name(featnet_tfjs(f), 1);
    featnet_set_input(f, FEATNET_RANGE_01, 4);
    CHECK(featnet_forward(f, a, img, 1, &first, &y1) == STATUS_OK);
    featnet_set_input(f, FEATNET_RANGE_01, 0);
    CHECK(featnet_forward(f, a, img, 1, &first, &y2) == STATUS_OK);
    CHECK(y1 && y2 && y1->shape[3] > y2->shape[3]);
    arena_free(a);
    featnet_free(f);
    error_clear();
    CHECK(!featnet_open("surely_not_installed", "/nonexistent", NULL));
    CHECK_MSG(strstr(error_message(), "install-models.sh"), "message: %s", error_message());
    error_clear();
}

/* The blur exists to hide a 2-pixel checkerboard from the network (and from its gradient):
 * 0.5 +- 0.25 in a checkerboard must look exactly like flat 0.5 with it on, and not with it
 * off. ([1 2 1]/4 maps an alternating row to 0; reflection keeps the alternation.) */
static void test_featnet_blur_hides_checkerboard(void) {
    if (!have_fixture(TINY "/model.json")) return;
    featnet *f = featnet_open(TINY, NULL, NULL);
    CHECK_OK(f);
    if (!f) return;
    arena *a = arena_new(8 << 20);
    tensor *flat = tensor_fill(tensor_new(a, 4, (int[]){1, 3, 19, 23}), 0.5f), *check = tensor_new(a, 4, (int[]){1, 3, 19, 23});
    for (int64_t i = 0; i < check->numel; i++) {
        int y = (int)(i / 23 % 19), x = (int)(i % 23);
        check->data[i] = (x + y) % 2 ? 0.75f : 0.25f;
    }
    const char *layer = "conv_a";
    tensor *yf, *yc;
    for (int blur = 1; blur >= 0; blur--) {
        CHECK(featnet_set_blur(f, blur) == STATUS_OK);
        CHECK(featnet_forward(f, a, flat, 1, &layer, &yf) == STATUS_OK && featnet_forward(f, a, check, 1, &layer, &yc) == STATUS_OK);
        double e = rel_err(yc, yf);
        if (blur) CHECK_MSG(e < 1e-6, "with the blur the checkerboard still shows: %.3g", e);
        else CHECK_MSG(e > 1e-2, "without the blur the checkerboard should show: %.3g", e);
    }
    arena_free(a);
    featnet_free(f);
}

/* ---- the installed nsfwjs networks ---- */

static void real_model(const char *name) {
    char dir[4096];
    if (!featnet_find(name, NULL, dir, sizeof dir)) {
        test_skip("the trained networks are not installed (sh scripts/install-models.sh)");
        return;
    }
    char golden[256];
    snprintf(golden, sizeof golden, "tests/fixtures/tfjs_real/%s_golden.safetensors", name);
    /* real weights through up to 300 layers: measured 1.9e-6 (InceptionV3) and 3.9e-6
     * (MobileNetV2) of each layer's largest value */
    compare_golden(dir, golden, "tfjs/", 5e-5);
}
static void test_inception_v3_agrees_with_tfjs(void) { real_model("inception_v3"); }
static void test_mobilenet_v2_agrees_with_tfjs(void) { real_model("mobilenet_v2"); }

int main(void) {
    RUN(test_tiny_agrees_with_tfjs);
    RUN(test_tiny_agrees_with_torch);
    RUN(test_tiny_input_gradients);
    RUN(test_tiny_gradcheck);
    RUN(test_fusion_matches_layers);
    RUN(test_refuses_bad_models);
    RUN(test_mutated_model_json);
    RUN(test_featnet_vgg_is_vgg);
    RUN(test_featnet_tfjs_input);
    RUN(test_featnet_blur_hides_checkerboard);
    RUN(test_inception_v3_agrees_with_tfjs);
    RUN(test_mobilenet_v2_agrees_with_tfjs);
    return test_finish();
}
