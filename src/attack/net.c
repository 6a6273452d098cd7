/* net.c: attack_model over a network written with ops.h: run it in chunks in a scratch
 * arena, backpropagate d loss / d logits (attack_loss_logits) to the input. */
#include <stdlib.h>
#include <string.h>
#include "atelier/ops.h"
#include "attack_internal.h"

static status net_forward(void *self, const float *x, int n, float *logits, const int *labels,
                          attack_loss loss, float *grad_x) {
    attack_net *an = self;
    int k = an->classes, batch = an->batch > 0 ? an->batch : 32;
    int64_t d = (int64_t)an->channels * an->height * an->width;
    if (!an->scratch && !(an->scratch = arena_new(1 << 22)))
        return error_set(STATUS_NOMEM, "attack: out of memory for the scratch arena");
    float *dz = grad_x ? malloc(sizeof(float) * (size_t)batch * k) : NULL;
    if (grad_x && !dz) return error_set(STATUS_NOMEM, "attack: out of memory");
    bool prev = autograd_set(grad_x != NULL);
    status s = STATUS_OK;
    for (int b = 0; b < n && !s; b += batch) {
        int nb = n - b < batch ? n - b : batch;
        arena_reset(an->scratch);
        arena *a = an->scratch;
        tensor *xt = tensor_from(a, 4, (int[]){nb, an->channels, an->height, an->width}, x + b * d);
        if (!xt) { s = error_status(); break; }
        if (grad_x) tensor_requires_grad(xt);
        tensor *z = an->logits(an->net, a, xt);
        if (!z) { s = error_status() ? error_status() : error_set(STATUS_ARG, "attack: the network failed"); break; }
        if (z->numel != (int64_t)nb * k) {
            char buf[64];
            s = error_set(STATUS_SHAPE, "attack: the network gave logits %s, expected (%d, %d)",
                          tensor_shape_str(z, buf), nb, k);
            break;
        }
        memcpy(logits + (int64_t)b * k, z->data, sizeof(float) * (size_t)nb * k);
        if (!grad_x) continue;
        attack_loss_logits(z->data, nb, k, labels + b, loss, dz);
        /* sum(z * dz) with dz constant has gradient dz at z: backward carries it to x */
        tensor *dzt = tensor_from(a, z->ndim, z->shape, dz);
        tensor *l = op_sum(a, op_mul(a, z, dzt), -1, false);
        if (!l || (s = tensor_backward(l)) != STATUS_OK) { s = s ? s : error_status(); break; }
        if (xt->grad) memcpy(grad_x + b * d, xt->grad, sizeof(float) * (size_t)(nb * d));
        else memset(grad_x + b * d, 0, sizeof(float) * (size_t)(nb * d));
    }
    autograd_set(prev);
    free(dz);
    return s;
}

status attack_model_from_net(attack_model *m, attack_net *an, int classes, int channels,
                             int height, int width) {
    if (!an || !an->logits || classes < 2 || channels < 1 || height < 1 || width < 1)
        return error_set(STATUS_ARG, "attack: a network adapter needs logits() and sizes >= 1, 2 classes");
    an->classes = classes; an->channels = channels; an->height = height; an->width = width;
    *m = (attack_model){.classes = classes, .channels = channels, .height = height,
                        .width = width, .forward = net_forward, .self = an};
    return STATUS_OK;
}

void attack_net_free(attack_net *an) {
    if (!an) return;
    arena_free(an->scratch);
    an->scratch = NULL;
}
