/* cpu_norm.c: every kernel delegates to the reference backend for now. */
#include "cpu/cpu.h"
#include "ref/ref.h"

void cpu_instance_norm_forward(float *y, float *mean, float *rstd, const float *x,
                               const float *gamma, const float *beta, int n, int c, int hw,
                               float eps) {
    ref_instance_norm_forward(y, mean, rstd, x, gamma, beta, n, c, hw, eps);
}

void cpu_instance_norm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                                const float *x, const float *mean, const float *rstd,
                                const float *gamma, int n, int c, int hw) {
    ref_instance_norm_backward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, n, c, hw);
}

void cpu_batch_norm_forward_train(float *y, float *mean, float *rstd, float *running_mean,
                                  float *running_var, const float *x, const float *gamma,
                                  const float *beta, int n, int c, int hw, float eps,
                                  float momentum) {
    ref_batch_norm_forward_train(y, mean, rstd, running_mean, running_var, x, gamma, beta, n, c, hw, eps, momentum);
}

void cpu_batch_norm_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
                                   const float *x, const float *mean, const float *rstd,
                                   const float *gamma, int n, int c, int hw) {
    ref_batch_norm_backward_train(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, n, c, hw);
}

void cpu_batch_norm_forward_eval(float *y, const float *x, const float *gamma,
                                 const float *beta, const float *running_mean,
                                 const float *running_var, int n, int c, int hw, float eps) {
    ref_batch_norm_forward_eval(y, x, gamma, beta, running_mean, running_var, n, c, hw, eps);
}

void cpu_batch_norm_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dy,
                                  const float *x, const float *gamma, const float *running_mean,
                                  const float *running_var, int n, int c, int hw, float eps) {
    ref_batch_norm_backward_eval(dx, dgamma, dbeta, dy, x, gamma, running_mean, running_var, n, c, hw, eps);
}

void cpu_adain_forward(float *y, const float *x, const float *s, int n, int c, int hwx, int hws,
                       float eps) {
    ref_adain_forward(y, x, s, n, c, hwx, hws, eps);
}

void cpu_adain_backward(float *dx, float *ds, const float *dy, const float *x, const float *s,
                        int n, int c, int hwx, int hws, float eps) {
    ref_adain_backward(dx, ds, dy, x, s, n, c, hwx, hws, eps);
}
