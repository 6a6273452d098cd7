/* cpu_backend.c: the fast CPU backend's table, and its thread count. */
#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include "cpu/cpu.h"

void openblas_set_num_threads(int n);

void cpu_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

static const backend CPU;
static backend g_bf16;

static void cpu_bf16_table(void) {
    g_bf16 = CPU;
    g_bf16.name = "cpu-bf16";
    g_bf16.conv2d_forward = cpu_bf16_conv2d_forward;
    g_bf16.conv2d_backward = cpu_bf16_conv2d_backward;
    g_bf16.conv_transpose2d_forward = cpu_bf16_conv_transpose2d_forward;
    g_bf16.conv_transpose2d_backward = cpu_bf16_conv_transpose2d_backward;
}

static const backend CPU = {
    .name = "cpu",
    .gemm = cpu_gemm,
    .binary_forward = cpu_binary_forward,
    .binary_backward = cpu_binary_backward,
    .unary_forward = cpu_unary_forward,
    .unary_backward = cpu_unary_backward,
    .reduce_forward = cpu_reduce_forward,
    .reduce_backward = cpu_reduce_backward,
    .axis_copy = cpu_axis_copy,
    .conv2d_forward = cpu_conv2d_forward,
    .conv2d_backward = cpu_conv2d_backward,
    .conv_transpose2d_forward = cpu_conv_transpose2d_forward,
    .conv_transpose2d_backward = cpu_conv_transpose2d_backward,
    .avg_pool2d_forward = cpu_avg_pool2d_forward,
    .avg_pool2d_backward = cpu_avg_pool2d_backward,
    .max_pool2d_forward = cpu_max_pool2d_forward,
    .max_pool2d_backward = cpu_max_pool2d_backward,
    .upsample_forward = cpu_upsample_forward,
    .upsample_backward = cpu_upsample_backward,
    .pad_forward = cpu_pad_forward,
    .pad_backward = cpu_pad_backward,
    .instance_norm_forward = cpu_instance_norm_forward,
    .instance_norm_backward = cpu_instance_norm_backward,
    .batch_norm_forward_train = cpu_batch_norm_forward_train,
    .batch_norm_backward_train = cpu_batch_norm_backward_train,
    .batch_norm_forward_eval = cpu_batch_norm_forward_eval,
    .batch_norm_backward_eval = cpu_batch_norm_backward_eval,
    .adain_forward = cpu_adain_forward,
    .adain_backward = cpu_adain_backward,
    .loss_forward = cpu_loss_forward,
    .loss_backward = cpu_loss_backward,
    .tv_forward = cpu_tv_forward,
    .tv_backward = cpu_tv_backward,
};

const backend *backend_cpu(void) { return &CPU; }

/* cpu-bf16: the cpu backend with convolutions on bfloat16 inputs (AVX512_BF16 where the
 * CPU has it), float32 everywhere else: for inference and image optimisation, where the
 * ~0.4% relative error per layer does not matter (tests/test_cpu_bf16.c states it). */
const backend *backend_cpu_bf16(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, cpu_bf16_table);
    return &g_bf16;
}
