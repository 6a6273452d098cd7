/* ops_loss.c: loss ops (ops.h), each a scalar (ndim 0) mean over the elements.
 *
 * Style transfer uses MSE (content and style terms, Gatys et al. 2016) and total variation
 * (a smoothness prior, Mahendran & Vedaldi 2015); GANs use BCE with logits (Goodfellow et al.
 * 2014) and the hinge loss (Lim & Ye 2017; Miyato et al. 2018). Gradients reach the target
 * too when it requires one.
 */
#include "ops_internal.h"

/* y->saved: which loss; the kernels take the kind as an argument. */
static void loss_backward(tensor *y) {
    tensor *x = y->src[0], *t = y->src[1];
    loss_kind k = *(loss_kind *)y->saved;
    backend_current()->loss_backward(k, ops_grad_or_null(x), ops_grad_or_null(t), y->grad[0],
                                     x->data, t->data, x->numel);
}

/* x, target: any shape, the same -> () */
static tensor *loss_op(arena *a, loss_kind k, const char *op, tensor *x, tensor *target) {
    if (!x || !target || !ops_check_same(op, "x", x, "target", target)) return NULL;
    tensor *y = tensor_op_result(a, 0, NULL, op, loss_backward, (tensor *[]){x, target}, 2);
    if (!y) return NULL;
    if (y->backward) {
        loss_kind *saved = arena_alloc(a, sizeof *saved);
        if (!saved) return NULL;
        *saved = k;
        y->saved = saved;
    }
    backend_current()->loss_forward(k, y->data, x->data, target->data, x->numel);
    return y;
}

/* x, target (any shape, the same) -> (): mean((x - t)^2), mean(|x - t|), and
 * mean(max(x, 0) - x t + log(1 + exp(-|x|))) for logits x and probabilities t. */
tensor *op_mse_loss(arena *a, tensor *x, tensor *target) {
    return loss_op(a, LOSS_MSE, "mse_loss", x, target);
}

tensor *op_l1_loss(arena *a, tensor *x, tensor *target) {
    return loss_op(a, LOSS_L1, "l1_loss", x, target);
}

tensor *op_bce_with_logits(arena *a, tensor *logits, tensor *target) {
    return loss_op(a, LOSS_BCE_LOGITS, "bce_with_logits", logits, target);
}

/* x: any shape -> (); the target is a constant tensor of `sign`, so no gradient flows to it. */
tensor *op_hinge_loss(arena *a, tensor *x, float sign) {
    if (!x) return NULL;
    if (sign != 1.0f && sign != -1.0f) {
        error_set(STATUS_ARG, "hinge_loss: sign must be +1 or -1, got %g", sign);
        return NULL;
    }
    tensor *target = tensor_fill(tensor_like(a, x), sign);
    return loss_op(a, LOSS_HINGE, "hinge_loss", x, target);
}

/* ---- total variation ---- */

static void tv_backward(tensor *y) {
    tensor *x = y->src[0];
    float *dx = ops_grad_or_null(x);
    if (dx)
        backend_current()->tv_backward(dx, y->grad[0], x->data, x->shape[0], x->shape[1],
                                       x->shape[2], x->shape[3]);
}

/* x (N, C, H, W) -> () */
tensor *op_tv_loss(arena *a, tensor *x) {
    if (!x || !ops_check_ndim("tv_loss", "x", x, 4)) return NULL;
    tensor *y = tensor_op_result(a, 0, NULL, "tv_loss", tv_backward, (tensor *[]){x}, 1);
    if (!y) return NULL;
    backend_current()->tv_forward(y->data, x->data, x->shape[0], x->shape[1], x->shape[2],
                                  x->shape[3]);
    return y;
}
