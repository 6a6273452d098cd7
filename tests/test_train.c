/* test_train.c: a tiny conv net learns a task with Adam, end to end.
 *
 * The task: 8x8 single-channel images holding one bright bar, horizontal (label 1) or
 * vertical (label 0), at a random row or column, over uniform noise. The net:
 *
 *   x (N, 1, 8, 8) -> conv(1->8, 3x3, pad 1) -> relu -> conv(8->8, 3x3, stride 2, pad 1)
 *   -> relu -> mean over (H, W) -> linear(8->1) -> logit (N, 1)
 *
 * trained full-batch on 32 images with bce_with_logits and Adam (lr 0.01). Averaging over
 * (H, W) removes where the bar is, so the net must learn oriented filters: a net whose
 * gradients are wrong anywhere (conv, relu, mean, linear, the loss, Adam) does not get there.
 * With weights drawn as PyTorch's default (uniform within 1/sqrt(fan_in)) the logits start
 * near 0 and the loss near log 2 = 0.69; it must fall below 0.05 within 300 steps (it takes
 * 36 to 60 for ten seeds of the weights tried), and the net must then label all of a fresh
 * set of 32 images, bars at random positions over other noise, correctly.
 * Everything is seeded with rng.h, so the run is the same every time.
 */
#include <math.h>
#include "atelier/ops.h"
#include "atelier/optim.h"
#include "atelier/rng.h"
#include "harness.h"

enum { SIDE = 8, NIMG = 32, HID = 8, MAX_STEPS = 300 };
#define TARGET_LOSS 0.05f

typedef struct model {
    tensor *w1, *b1;  /* (HID, 1, 3, 3), (HID) */
    tensor *w2, *b2;  /* (HID, HID, 3, 3), (HID) */
    tensor *wl, *bl;  /* (1, HID), (1) */
} model;

/* uniform within 1/sqrt(fan_in), as torch.nn's default for conv and linear layers */
static tensor *param(arena *a, rng *r, int ndim, const int *shape, int fan_in) {
    tensor *t = tensor_new(a, ndim, shape);
    if (!t) return NULL;
    float bound = 1.0f / sqrtf((float)fan_in);
    rng_uniform(r, t->data, t->numel, -bound, bound);
    tensor_requires_grad(t);
    return t;
}

static void model_init(model *m, arena *a, uint64_t seed) {
    rng r = rng_new(seed);
    m->w1 = param(a, &r, 4, (int[]){HID, 1, 3, 3}, 9);
    m->b1 = param(a, &r, 1, (int[]){HID}, 9);
    m->w2 = param(a, &r, 4, (int[]){HID, HID, 3, 3}, HID * 9);
    m->b2 = param(a, &r, 1, (int[]){HID}, HID * 9);
    m->wl = param(a, &r, 2, (int[]){1, HID}, HID);
    m->bl = param(a, &r, 1, (int[]){1}, HID);
}

/* logits (N, 1) for x (N, 1, 8, 8) */
static tensor *model_forward(const model *m, arena *a, tensor *x) {
    conv2d_opts same = conv2d_defaults(), down = conv2d_defaults();
    same.pad = 1;
    down.pad = 1; down.stride = 2;
    tensor *h = op_relu(a, op_conv2d(a, x, m->w1, m->b1, same));   // (N, HID, 8, 8)
    h = op_relu(a, op_conv2d(a, h, m->w2, m->b2, down));            // (N, HID, 4, 4)
    h = op_mean(a, h, 0xc, false);                                   // (N, HID)
    return op_linear(a, h, m->wl, m->bl);                            // (N, 1)
}

/* Half the images get a horizontal bar (label 1), half a vertical one (label 0), over
 * noise in [0, 0.3). every_row: the bars take each row (column) in turn, so a training set
 * shows every position (with 32 random ones, some seeds of the weights learn a rule that
 * misses a position it never saw); else at random positions. x (NIMG, 1, 8, 8), y (NIMG, 1). */
static void make_data(arena *a, uint64_t seed, bool every_row, tensor **x, tensor **y) {
    rng r = rng_new(seed);
    *x = tensor_new(a, 4, (int[]){NIMG, 1, SIDE, SIDE});
    *y = tensor_new(a, 2, (int[]){NIMG, 1});
    if (!*x || !*y) return;
    rng_uniform(&r, (*x)->data, (*x)->numel, 0.0f, 0.3f);
    for (int i = 0; i < NIMG; i++) {
        bool horizontal = i % 2 == 0;
        int at = every_row ? (i / 2) % SIDE : (int)(rng_u64(&r) % SIDE);
        float *img = (*x)->data + i * SIDE * SIDE;
        for (int k = 0; k < SIDE; k++) img[horizontal ? at * SIDE + k : k * SIDE + at] = 1.0f;
        (*y)->data[i] = horizontal ? 1.0f : 0.0f;
    }
}

/* One Adam step on the whole batch; returns the loss before the step (NaN on failure). */
static float train_step(optim *opt, const model *m, arena *step, tensor *x, tensor *y) {
    optim_zero_grad(opt);
    tensor *loss = op_bce_with_logits(step, model_forward(m, step, x), y);
    if (!loss || tensor_backward(loss) != STATUS_OK || optim_step(opt) != STATUS_OK) {
        test_fail(__FILE__, __LINE__, "train step failed: %s", error_message());
        return NAN;
    }
    float v = loss->data[0];
    arena_reset(step);
    return v;
}

static int count_correct(const model *m, arena *step, tensor *x, tensor *y) {
    bool was = autograd_set(false);
    tensor *logits = model_forward(m, step, x);
    autograd_set(was);
    int correct = 0;
    for (int i = 0; logits && i < NIMG; i++)
        correct += (logits->data[i] > 0) == (y->data[i] > 0.5f);
    arena_reset(step);
    return correct;
}

static void test_train_bars(void) {
    arena *params = arena_new(1 << 16), *data = arena_new(1 << 16), *step = arena_new(1 << 20);
    model m;
    model_init(&m, params, 1234);
    tensor *x, *y, *xt, *yt;
    make_data(data, 1, true, &x, &y);
    make_data(data, 2, false, &xt, &yt);
    tensor *ps[] = {m.w1, m.b1, m.w2, m.b2, m.wl, m.bl};
    optim *opt = optim_adam(params, ps, 6, adam_defaults(0.01f));
    CHECK_OK(opt);
    if (!opt || !x || !xt) goto done;
    float first = NAN, loss = NAN;
    int steps = 0;
    while (steps < MAX_STEPS && !(loss < TARGET_LOSS)) {
        loss = train_step(opt, &m, step, x, y);
        if (isnan(loss)) break;
        if (steps++ == 0) first = loss;
    }
    printf("    loss %.4f at step 1, %.4f after %d steps\n", first, loss, steps);
    CHECK_MSG(first > 0.5f, "initial loss %g: the untrained net should be near log 2", first);
    CHECK_MSG(loss < TARGET_LOSS, "loss %g after %d steps, want < %g", loss, steps, TARGET_LOSS);
    int correct = count_correct(&m, step, xt, yt);
    CHECK_MSG(correct == NIMG, "%d of %d held-out images right", correct, NIMG);
done:
    optim_free(opt);
    arena_free(step); arena_free(data); arena_free(params);
}

int main(void) {
    RUN(test_train_bars);
    return test_finish();
}
