/* cpu_sum.c: sums in double over 8 lanes, shared by the OpenMP kernels: vectorised, and
 * deterministic (a fixed order for a given n, whatever the thread count). */
#include "cpu/cpu.h"

double cpu_lanes_total(const double acc[8]) {
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

double cpu_sum8(const float *x, int64_t n) {
    double acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += (double)x[i + k];
    for (int k = 0; i < n; i++, k++) acc[k] += (double)x[i];
    return cpu_lanes_total(acc);
}

/* sum (x - mean)^2 in double */
double cpu_sumsq8(const float *x, int64_t n, double mean) {
    double acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) {
            double d = (double)x[i + k] - mean;
            acc[k] += d * d;
        }
    for (int k = 0; i < n; i++, k++) {
        double d = (double)x[i] - mean;
        acc[k] += d * d;
    }
    return cpu_lanes_total(acc);
}
