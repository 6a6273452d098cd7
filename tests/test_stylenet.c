/* test_stylenet.c: the fast style network (stylenet.h) and its trainer.
 *
 * Forward shapes and errors; the recorded/imposed-statistics path (tiles) against the op
 * path; tiles against the whole picture; a style blend of (1, 0) against the single style;
 * strength 0 gives the photo back; files round-trip and wrong files are refused; training a
 * tiny network for a few steps lowers its loss on held-out photos; a checkpoint and a
 * resume give the same bytes as a run that never stopped. (The PyTorch comparison of the
 * forward and backward is test_stylenet_golden.c.) Loss network: the built-in VGG-19 to
 * relu2_1 (cheap, always present). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "atelier/color.h"
#include "atelier/featnet.h"
#include "atelier/rng.h"
#include "atelier/ops.h"
#include "atelier/safetensors.h"
#include "atelier/stylenet.h"
#include "../src/stylenet/stylenet_internal.h"
#include "harness.h"

/* A smooth synthetic photo: gradients and a few discs, w x h, RGB. */
static image *synthetic_photo(int w, int h, int seed) {
    image *im = image_new(w, h, 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float u = (float)x / w, v = (float)y / h;
            float disc = ((u - 0.3f - 0.1f * seed) * (u - 0.3f - 0.1f * seed) + (v - 0.6f) * (v - 0.6f)) < 0.04f ? 0.4f : 0;
            im->data[(0 * h + y) * w + x] = 0.2f + 0.6f * u + disc * 0.5f;
            im->data[(1 * h + y) * w + x] = 0.3f + 0.5f * v * (seed % 2 ? 1 : 0.5f);
            im->data[(2 * h + y) * w + x] = 0.8f - 0.5f * u * v + disc;
        }
    for (int64_t i = 0; i < 3 * (int64_t)w * h; i++) im->data[i] = fminf(fmaxf(im->data[i], 0), 1);
    return im;
}

/* A striped "painting": strong texture for the style loss. */
static image *synthetic_painting(int w, int h, int kind) {
    image *im = image_new(w, h, 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float s = kind ? sinf((x + y) * 0.7f) : sinf(x * 0.9f) * cosf(y * 0.4f);
            im->data[(0 * h + y) * w + x] = 0.5f + 0.45f * s;
            im->data[(1 * h + y) * w + x] = kind ? 0.2f : 0.5f - 0.4f * s;
            im->data[(2 * h + y) * w + x] = 0.5f + 0.3f * (kind ? -s : s);
        }
    return im;
}

static stylenet *random_net(arena *a, int nstyles, float width, uint64_t seed) {
    stylenet *m = arena_alloc(a, sizeof *m);
    if (!m || stylenet_init(m, a, seed, nstyles, width) != STATUS_OK) return NULL;
    /* distinct style rows, so that styles paint differently */
    for (int l = 0; l < STYLENET_NORMS; l++) {
        rng_uniform_at(seed + 100 + (uint64_t)l, 1, m->gamma[l]->data, m->gamma[l]->numel, 0.5f, 1.5f);
        rng_uniform_at(seed + 200 + (uint64_t)l, 2, m->beta[l]->data, m->beta[l]->numel, -0.5f, 0.5f);
    }
    model_params_set_trainable(&m->params, false);
    return m;
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static void test_forward_shapes_and_errors(void) {
    arena *a = arena_new(1 << 20);
    stylenet *m = random_net(a, 3, 0.25f, 1);
    CHECK(m && m->c1 == 8 && m->c2 == 16 && m->c3 == 32);
    CHECK(m && m->params.n == 2 * STYLENET_CONVS + 2 * STYLENET_NORMS);
    CHECK(m && !strcmp(m->params.names[0], "conv1.weight") && !strcmp(m->params.names[2], "in1.gamma"));
    CHECK(m && model_params_find(&m->params, "res5.in2.beta") && model_params_find(&m->params, "out.bias") &&
          model_params_find(&m->params, "in5.gamma")->shape[1] == 8);
    tensor *x = test_leaf(a, 4, (int[]){2, 3, 12, 20}, 5, 0, 1), *mix = tensor_new(a, 2, (int[]){2, 3});
    mix->data[0] = mix->data[5] = 1;
    tensor *y = stylenet_forward(m, a, x, mix);
    CHECK_OK(y);
    if (y) {
        CHECK(y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 12 && y->shape[3] == 20);
        bool in01 = true;
        for (int64_t i = 0; i < y->numel; i++) in01 &= y->data[i] > 0 && y->data[i] < 1;
        CHECK(in01);
    }
    CHECK_FAILS(stylenet_forward(m, a, test_leaf(a, 4, (int[]){1, 3, 10, 12}, 6, 0, 1), tensor_new(a, 2, (int[]){1, 3})),
                STATUS_SHAPE, "multiples of 4");
    CHECK_FAILS(stylenet_forward(m, a, x, tensor_new(a, 2, (int[]){2, 2})), STATUS_SHAPE, "(2, 3)");
    stylenet bad;
    error_clear();
    CHECK(stylenet_init(&bad, a, 1, 0, 0.5f) == STATUS_ARG);
    error_clear();
    CHECK(stylenet_init(&bad, a, 1, 2, 4.0f) == STATUS_ARG);
    error_clear();
    arena_free(a);
}

/* The statistics path (used for tiles) equals the op path on the same picture, and imposing
 * the recorded statistics reproduces it. */
static void test_stats_path_matches_ops(void) {
    arena *a = arena_new(1 << 20);
    stylenet *m = random_net(a, 2, 0.25f, 2);
    bool was = autograd_set(false);
    tensor *x = test_leaf(a, 4, (int[]){1, 3, 16, 24}, 7, 0, 1), *mix = tensor_from(a, 2, (int[]){1, 2}, (float[]){0.3f, 0.7f});
    tensor *want = stylenet_forward(m, a, x, mix);
    stylenet_stats st;
    CHECK(stylenet_stats_alloc(m, &st) == STATUS_OK);
    st.mode = STATS_RECORD;
    tensor *rec = stylenet_forward_stats(m, a, x, mix, &st);
    st.mode = STATS_USE;
    tensor *use = stylenet_forward_stats(m, a, x, mix, &st);
    CHECK_OK(want);
    CHECK_OK(rec);
    CHECK_OK(use);
    if (want && rec && use) {
        CHECK(test_close_array(__FILE__, __LINE__, "recorded vs ops", rec->data, want->data, want->numel, 2e-5, 1e-4));
        CHECK(test_close_array(__FILE__, __LINE__, "imposed vs recorded", use->data, rec->data, rec->numel, 0, 0));
    }
    stylenet_stats_free(&st);
    autograd_set(was);
    CHECK_FAILS(stylenet_forward_stats(m, a, x, mix, &st), STATUS_ARG, "inference");
    arena_free(a);
}

static image *paint(const stylenet *m, const image *im, const float *mix, float strength, int64_t whole, int tile) {
    stylenet_paint_opts o = stylenet_paint_defaults();
    o.mix = mix;
    o.strength = strength;
    if (whole) o.whole_pixels = whole;
    if (tile) { o.tile = tile; o.overlap = 32; }
    return stylenet_paint(m, im, &o);
}

/* Tiles: statistics of the whole picture, blended overlaps; close to the whole run, and no
 * seam: the largest jump between neighbouring pixels is no larger than the whole run's. */
static void test_tiles_match_whole(void) {
    arena *a = arena_new(1 << 20);
    stylenet *m = random_net(a, 2, 0.25f, 3);
    image *photo = synthetic_photo(300, 212, 1);
    image *whole = paint(m, photo, NULL, 1, 0, 0);
    image *tiled = paint(m, photo, NULL, 1, 300 * 212, 128);   /* stats at the full size, tiles of 128 */
    image *tiled_small = paint(m, photo, NULL, 1, 150 * 106, 128);  /* stats from a quarter-size picture */
    CHECK(whole && tiled && tiled_small);
    if (whole && tiled && tiled_small) {
        int64_t n = 3 * (int64_t)300 * 212;
        double mean = 0, jump_w = 0, jump_t = 0;
        for (int64_t i = 0; i < n; i++) mean += fabs((double)whole->data[i] - tiled->data[i]);
        mean /= (double)n;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 212; y++)
                for (int x = 1; x < 300; x++) {
                    int64_t q = ((int64_t)c * 212 + y) * 300 + x;
                    jump_w = fmax(jump_w, fabs(whole->data[q] - whole->data[q - 1]));
                    jump_t = fmax(jump_t, fabs(tiled->data[q] - tiled->data[q - 1]));
                }
        CHECK_MSG(mean < 0.01, "tiles differ from the whole picture by %g on average", mean);
        CHECK_MSG(jump_t <= jump_w * 1.25 + 0.02, "a seam: largest horizontal jump %g, whole picture's %g", jump_t, jump_w);
        double mean_s = 0;
        for (int64_t i = 0; i < n; i++) mean_s += fabs((double)whole->data[i] - tiled_small->data[i]);
        CHECK_MSG(mean_s / n < 0.05, "statistics from a quarter-size picture: %g on average", mean_s / n);
    }
    image_free(whole); image_free(tiled); image_free(tiled_small); image_free(photo);
    arena_free(a);
}

static void test_mix_strength_colors(void) {
    arena *a = arena_new(1 << 20);
    stylenet *m = random_net(a, 3, 0.25f, 4);
    snprintf(m->names[0], STYLENET_NAME_MAX, "munch");
    snprintf(m->names[1], STYLENET_NAME_MAX, "turner");
    snprintf(m->names[2], STYLENET_NAME_MAX, "monet");
    image *photo = synthetic_photo(64, 48, 2);
    float w[3];
    CHECK(stylenet_parse_mix(m, "turner:1,munch:0", w) == STATUS_OK && w[0] == 0 && w[1] == 1 && w[2] == 0);
    image *single = paint(m, photo, (float[]){0, 1, 0}, 1, 0, 0), *mixed = paint(m, photo, w, 1, 0, 0);
    CHECK(single && mixed && !memcmp(single->data, mixed->data, sizeof(float) * 3 * 64 * 48));
    CHECK(stylenet_parse_mix(m, "munch:1,2:3", w) == STATUS_OK && w[0] == 0.25f && w[2] == 0.75f);
    image *blend = paint(m, photo, w, 1, 0, 0), *other = paint(m, photo, (float[]){1, 0, 0}, 1, 0, 0);
    CHECK(blend && other && max_abs_diff(blend->data, other->data, 3 * 64 * 48) > 1e-3);
    image *none = paint(m, photo, NULL, 0, 0, 0);
    CHECK(none && max_abs_diff(none->data, photo->data, 3 * 64 * 48) < 1e-6);
    image *half = paint(m, photo, (float[]){0, 1, 0}, 0.5f, 0, 0);
    if (half && single) {
        double err = 0;
        for (int i = 0; i < 3 * 64 * 48; i++) err = fmax(err, fabs(half->data[i] - 0.5 * (single->data[i] + photo->data[i])));
        CHECK_MSG(err < 1e-5, "strength 0.5 is not halfway: %g", err);
    }
    stylenet_paint_opts o = stylenet_paint_defaults();
    o.preserve_colors = true;
    image *kept = stylenet_paint(m, photo, &o);
    if (kept && other) {   /* the painting's luminance, the photo's I and Q */
        float yk[64 * 48], yo[64 * 48];
        color_luma(kept->data, 64 * 48, yk);
        color_luma(other->data, 64 * 48, yo);
        CHECK(max_abs_diff(yk, yo, 64 * 48) < 0.02);
        double i_p = 0, i_k = 0;
        for (int q = 0; q < 64 * 48; q++) {
            i_p += 0.596 * photo->data[q] - 0.274 * photo->data[64 * 48 + q] - 0.322 * photo->data[2 * 64 * 48 + q];
            i_k += 0.596 * kept->data[q] - 0.274 * kept->data[64 * 48 + q] - 0.322 * kept->data[2 * 64 * 48 + q];
        }
        CHECK_MSG(fabs(i_p - i_k) / (64 * 48) < 0.02, "chroma I moved: %g vs %g", i_p / (64 * 48), i_k / (64 * 48));
    }
    /* errors */
    error_clear();
    CHECK(stylenet_parse_mix(m, "vermeer:1", w) == STATUS_ARG && strstr(error_message(), "vermeer") &&
          strstr(error_message(), "munch,turner,monet"));
    error_clear();
    CHECK(stylenet_parse_mix(m, "munch:0", w) == STATUS_ARG && strstr(error_message(), "sum to 0"));
    error_clear();
    CHECK(stylenet_parse_mix(m, "munch:-1", w) == STATUS_ARG);
    error_clear();
    CHECK(stylenet_style_index(m, "3") < 0 && stylenet_style_index(m, "2") == 2 && stylenet_style_index(m, "monet") == 2);
    error_clear();
    o = stylenet_paint_defaults();
    o.strength = 1.5f;
    CHECK(!stylenet_paint(m, photo, &o) && strstr(error_message(), "strength"));
    error_clear();
    image *tiny = synthetic_photo(10, 40, 0);
    CHECK(!stylenet_paint(m, tiny, NULL) && strstr(error_message(), "10x40"));
    error_clear();
    image_free(tiny); image_free(kept); image_free(half); image_free(none); image_free(blend); image_free(other);
    image_free(single); image_free(mixed); image_free(photo);
    arena_free(a);
}

/* Save and load: the same network, names and output; other files are refused. */
static void test_files(void) {
    if (!test_make_dir()) return;
    arena *a = arena_new(1 << 20);
    stylenet *m = random_net(a, 2, 0.25f, 5);
    snprintf(m->names[1], STYLENET_NAME_MAX, "starry_night");
    const char *path = test_tmp_path("net.safetensors");
    const char *kv[] = {"steps", "12"};
    CHECK(stylenet_save(m, path, kv, 1) == STATUS_OK);
    stylenet *back = stylenet_load(path);
    CHECK_OK(back);
    if (back) {
        CHECK(back->nstyles == 2 && back->c1 == 8 && !strcmp(back->names[1], "starry_night") && !strcmp(back->source, "net.safetensors"));
        image *photo = synthetic_photo(40, 32, 3);
        image *p1 = paint(m, photo, (float[]){0, 1}, 1, 0, 0), *p2 = paint(back, photo, (float[]){0, 1}, 1, 0, 0);
        CHECK(p1 && p2 && !memcmp(p1->data, p2->data, sizeof(float) * 3 * 40 * 32));
        image_free(p1); image_free(p2); image_free(photo);
    }
    stylenet_free(back);
    /* a safetensors file of another kind, a missing file, a missing built-in name */
    const char *other = test_tmp_path("other.safetensors");
    const char *meta[] = {"format", "atelier-gan"};
    tensor *t = tensor_new(a, 1, (int[]){2});
    CHECK(safetensors_save(other, (const char *[]){"w"}, &t, 1, meta, 1) == STATUS_OK);
    error_clear();
    CHECK(!stylenet_load(other) && strstr(error_message(), "not a fast style network") && strstr(error_message(), "GAN checkpoint"));
    error_clear();
    CHECK(!stylenet_load(test_tmp_path("absent.safetensors")));
    error_clear();
    CHECK(!stylenet_load("picasso") && strstr(error_message(), "no model 'picasso'"));
    error_clear();
    arena_free(a);
}

/* ---- training ---- */

static featnet *tiny_loss_net(void) { return featnet_vgg19(NULL, VGG_POOL_MAX, "relu2_1"); }

static stylenet_train_config tiny_config(const featnet *fn, int nstyles) {
    stylenet_train_config c = stylenet_train_defaults(fn);
    c.nstyles = nstyles;
    c.width = 0.25f;
    c.image_size = 32;
    c.style_size = 48;
    c.batch = 2;
    c.lr = 0.003f;
    c.content_weight = 1;
    c.style_weight = 20;
    c.tv_weight = 1;
    snprintf(c.content_layers, sizeof c.content_layers, "relu2_1");
    snprintf(c.style_layers, sizeof c.style_layers, "relu1_1,relu2_1");
    return c;
}

/* photos (n, 3, 32, 32): crops of synthetic photos */
static tensor *photo_batch(arena *a, int n, int first) {
    tensor *x = tensor_new(a, 4, (int[]){n, 3, 32, 32});
    for (int i = 0; i < n; i++) {
        image *im = synthetic_photo(32, 32, first + i);
        memcpy(x->data + (int64_t)i * 3 * 32 * 32, im->data, sizeof(float) * 3 * 32 * 32);
        image_free(im);
    }
    return x;
}

static void test_training_lowers_the_loss(void) {
    featnet *fn = tiny_loss_net();
    CHECK_OK(fn);
    image *style = synthetic_painting(64, 64, 0);
    stylenet_train_config c = tiny_config(fn, 1);
    stylenet_trainer *t = stylenet_trainer_new(&c, fn, (const image *const *)&style, (const char *[]){"stripes"});
    CHECK_OK(t);
    arena *a = arena_new(1 << 20);
    tensor *val = photo_batch(a, 2, 10);
    stylenet_train_stats before, after, st;
    CHECK(t && stylenet_trainer_eval(t, val, 0, &before) == STATUS_OK);
    for (int s = 0; t && s < 30; s++)
        if (stylenet_trainer_step(t, photo_batch(a, 2, s % 4), &st) != STATUS_OK) { CHECK(!"step failed"); break; }
    CHECK(t && stylenet_trainer_eval(t, val, 0, &after) == STATUS_OK);
    CHECK_MSG(after.loss < 0.7 * before.loss, "held-out loss %g -> %g after 30 steps", before.loss, after.loss);
    CHECK_MSG(after.style < before.style, "style loss %g -> %g", before.style, after.style);
    CHECK(t && stylenet_trainer_steps(t) == 30);
    /* a wrong input and a wrong style */
    error_clear();
    CHECK(t && stylenet_trainer_step(t, tensor_new(a, 4, (int[]){2, 3, 30, 32}), &st) == STATUS_SHAPE);
    error_clear();
    CHECK(t && stylenet_trainer_eval(t, val, 1, &st) == STATUS_ARG);
    error_clear();
    stylenet_trainer_free(t);
    image_free(style);
    featnet_free(fn);
    arena_free(a);
}

/* Six steps straight, or three, a checkpoint, a new process's load and three more: the same
 * bytes (parameters, Adam's state through the next step's result). */
static void test_resume_is_exact(void) {
    if (!test_make_dir()) return;
    featnet *fn = tiny_loss_net();
    image *styles[2] = {synthetic_painting(64, 48, 0), synthetic_painting(48, 64, 1)};
    stylenet_train_config c = tiny_config(fn, 2);
    const char *names[] = {"a", "b"};
    stylenet_trainer *straight = stylenet_trainer_new(&c, fn, (const image *const *)styles, names);
    stylenet_trainer *first = stylenet_trainer_new(&c, fn, (const image *const *)styles, names);
    arena *a = arena_new(1 << 20);
    stylenet_train_stats st;
    CHECK(straight && first);
    for (int s = 0; straight && s < 6; s++) CHECK(stylenet_trainer_step(straight, photo_batch(a, 2, s), &st) == STATUS_OK);
    for (int s = 0; first && s < 3; s++) CHECK(stylenet_trainer_step(first, photo_batch(a, 2, s), &st) == STATUS_OK);
    const char *ck = test_tmp_path("ck.safetensors");
    CHECK(first && stylenet_trainer_save(first, ck) == STATUS_OK);
    stylenet_trainer_free(first);
    stylenet_trainer *resumed = stylenet_trainer_load(ck, fn);
    CHECK_OK(resumed);
    CHECK(resumed && stylenet_trainer_steps(resumed) == 3);
    for (int s = 3; resumed && s < 6; s++) CHECK(stylenet_trainer_step(resumed, photo_batch(a, 2, s), &st) == STATUS_OK);
    if (straight && resumed) {
        stylenet *p = stylenet_trainer_model(straight), *q = stylenet_trainer_model(resumed);
        bool same = p->params.n == q->params.n;
        for (int i = 0; same && i < p->params.n; i++)
            same = !memcmp(p->params.tensors[i]->data, q->params.tensors[i]->data, sizeof(float) * (size_t)p->params.tensors[i]->numel);
        CHECK_MSG(same, "resumed parameters differ from the uninterrupted run's");
        CHECK(!strcmp(q->names[1], "b"));
        const char *m1 = test_tmp_path("m1.safetensors"), *m2 = test_tmp_path("m2.safetensors");
        CHECK(stylenet_trainer_export(straight, m1) == STATUS_OK && stylenet_trainer_export(resumed, m2) == STATUS_OK);
        size_t n1, n2;
        unsigned char *b1 = test_read_file(m1, &n1), *b2 = test_read_file(m2, &n2);
        CHECK_MSG(b1 && b2 && n1 == n2 && !memcmp(b1, b2, n1), "the exported model files differ");
        free(b1);
        free(b2);
        stylenet *loaded = stylenet_load(m2);
        CHECK(loaded && loaded->nstyles == 2);
        stylenet_free(loaded);
    }
    /* a checkpoint is not a model, and a model is not a checkpoint */
    error_clear();
    CHECK(!stylenet_load(ck) && strstr(error_message(), "training checkpoint"));
    error_clear();
    CHECK(!stylenet_trainer_load(test_tmp_path("m1.safetensors"), fn) && strstr(error_message(), "not a style network training checkpoint"));
    error_clear();
    stylenet_trainer_free(straight);
    stylenet_trainer_free(resumed);
    image_free(styles[0]);
    image_free(styles[1]);
    featnet_free(fn);
    arena_free(a);
}

/* How much the painting changes beyond a move: x moved by (1, 2) px with noise 0.02,
 * painted, against the painting of x moved alike (mean square, values in [0, 1]). */
static double flicker_of(stylenet *net, arena *a, tensor *x) {
    int b = x->shape[0], h = x->shape[2] - 4, w = x->shape[3] - 4;
    tensor *mix = tensor_fill(tensor_new(a, 2, (int[]){b, 1}), 1.0f);
    tensor *moved = op_slice(a, op_slice(a, x, 2, 1, 1 + h), 3, 2, 2 + w);
    tensor *noise = moved ? tensor_new(a, 4, moved->shape) : NULL;
    if (!noise) return -1;
    test_fill_uniform(noise, 77, -0.035f, 0.035f);   /* uniform of sigma 0.02 */
    for (int64_t k = 0; k < moved->numel; k++) moved->data[k] = fminf(1, fmaxf(0, moved->data[k] + noise->data[k]));
    tensor *y = stylenet_forward(net, a, x, mix), *y2 = stylenet_forward(net, a, moved, mix);
    tensor *y1 = y ? op_slice(a, op_slice(a, y, 2, 1, 1 + h), 3, 2, 2 + w) : NULL;
    tensor *d = y1 && y2 ? op_mse_loss(a, y2, y1) : NULL;
    return d ? d->data[0] : -1;
}

/* --temporal-weight: the same 40 steps from the same start, with and without the temporal
 * term; with it, the held-out paintings change less beyond a move (and still paint: the
 * style loss stays near the plain run's); the weight is checked and kept in checkpoints. */
static void test_temporal_training_steadies(void) {
    if (!test_make_dir()) return;
    const char *be = getenv("ATELIER_BACKEND");
    if (be && !strcmp(be, "ref")) {   /* 45 s on the reference backend (minutes under ASan); the ops it uses are checked there */
        test_skip("two 40-step trainings run on the fast backend only");
        return;
    }
    featnet *fn = tiny_loss_net();
    image *style = synthetic_painting(64, 64, 0);
    stylenet_train_config c = tiny_config(fn, 1);
    stylenet_trainer *plain = stylenet_trainer_new(&c, fn, (const image *const *)&style, (const char *[]){"s"});
    c.temporal_weight = 100;
    stylenet_trainer *steady = stylenet_trainer_new(&c, fn, (const image *const *)&style, (const char *[]){"s"});
    arena *a = arena_new(4 << 20);
    CHECK(plain && steady);
    stylenet_train_stats st, sp, ss, s0;
    tensor *val0 = photo_batch(a, 2, 10);
    CHECK(steady && stylenet_trainer_eval(steady, val0, 0, &s0) == STATUS_OK);
    arena_reset(a);
    for (int s = 0; plain && steady && s < 40; s++) {
        tensor *x = photo_batch(a, 2, s % 6);
        CHECK(stylenet_trainer_step(plain, x, &st) == STATUS_OK);
        CHECK(stylenet_trainer_step(steady, x, &st) == STATUS_OK);
        CHECK(st.temporal > 0);
        arena_reset(a);
    }
    tensor *val = photo_batch(a, 2, 10);
    double fp = plain ? flicker_of(stylenet_trainer_model(plain), a, val) : -1;
    double fs = steady ? flicker_of(stylenet_trainer_model(steady), a, val) : -1;
    CHECK(plain && steady && stylenet_trainer_eval(plain, val, 0, &sp) == STATUS_OK && stylenet_trainer_eval(steady, val, 0, &ss) == STATUS_OK);
    printf("  held-out change beyond a move: %.3g plain, %.3g with the temporal term; style loss %.3g at the start, "
           "%.3g plain, %.3g with it\n", fp, fs, s0.style, sp.style, ss.style);
    /* measured (cpu): 0.0488 and 0.0255 (0.52x), style 0.169 and 0.236 (at weight 200: 0.03x
     * and 2.2x, at 50: 0.78x and 1.03x: the weight trades steadiness for style); the
     * reference backend's 40 steps land elsewhere (0.12x, style 2.4x), so the style check is
     * that the steady network still learned the style (its loss fell from the start's), not
     * a ratio to the plain run */
    CHECK(fp > 0 && fs > 0 && fs < 0.7 * fp);
    CHECK(ss.style < 0.8 * s0.style);
    /* the weight: refused when negative, kept by a checkpoint */
    CHECK(steady && stylenet_trainer_set_temporal(steady, -1) == STATUS_ARG);
    error_clear();
    CHECK(steady && stylenet_trainer_set_temporal(steady, NAN) == STATUS_ARG);
    error_clear();
    const char *ck = test_tmp_path("temporal.safetensors");
    CHECK(steady && stylenet_trainer_save(steady, ck) == STATUS_OK);
    stylenet_trainer *back = stylenet_trainer_load(ck, fn);
    CHECK(back && stylenet_trainer_config(back)->temporal_weight == 100);
    stylenet_trainer_free(back);
    stylenet_trainer_free(plain);
    stylenet_trainer_free(steady);
    image_free(style);
    featnet_free(fn);
    arena_free(a);
}

int main(void) {
    RUN(test_forward_shapes_and_errors);
    RUN(test_stats_path_matches_ops);
    RUN(test_tiles_match_whole);
    RUN(test_mix_strength_colors);
    RUN(test_files);
    RUN(test_training_lowers_the_loss);
    RUN(test_resume_is_exact);
    RUN(test_temporal_training_steadies);
    return test_finish();
}
