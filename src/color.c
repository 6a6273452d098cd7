/* color.c: colour statistics, luminance and colour transfer (color.h). */
#include "atelier/color.h"
#include <math.h>

color_stats color_stats_compute(const float *rgb, int64_t n) {
    color_stats s = {{0}, {{0}}};
    if (n <= 0) return s;
    const float *p[3] = {rgb, rgb + n, rgb + 2 * n};
    for (int c = 0; c < 3; c++) {
        double m = 0;
        for (int64_t i = 0; i < n; i++) m += p[c][i];
        s.mean[c] = m / (double)n;
    }
    for (int a = 0; a < 3; a++)
        for (int b = a; b < 3; b++) {
            double acc = 0;
            for (int64_t i = 0; i < n; i++) acc += (p[a][i] - s.mean[a]) * (p[b][i] - s.mean[b]);
            s.cov[a][b] = s.cov[b][a] = acc / (double)n;
        }
    return s;
}

color_stats color_stats_blend(const color_stats *s, const float *w, int k) {
    color_stats r = {{0}, {{0}}};
    for (int i = 0; i < k; i++)
        for (int c = 0; c < 3; c++) r.mean[c] += w[i] * s[i].mean[c];
    for (int i = 0; i < k; i++)
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                r.cov[a][b] += w[i] * (s[i].cov[a][b] + (s[i].mean[a] - r.mean[a]) * (s[i].mean[b] - r.mean[b]));
    return r;
}

/* Eigen-decomposition of a symmetric 3x3 matrix by Jacobi rotations: m = V diag(e) V^T,
 * eigenvectors in V's columns. */
static void sym3_eigen(const double m[3][3], double e[3], double v[3][3]) {
    double a[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) { a[i][j] = m[i][j]; v[i][j] = i == j; }
    for (int sweep = 0; sweep < 50; sweep++) {
        double off = fabs(a[0][1]) + fabs(a[0][2]) + fabs(a[1][2]);
        if (off < 1e-30) break;
        for (int p = 0; p < 2; p++)
            for (int q = p + 1; q < 3; q++) {
                if (fabs(a[p][q]) < 1e-300) continue;
                double th = (a[q][q] - a[p][p]) / (2 * a[p][q]);
                double t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < 3; k++) {   /* a = J^T a J */
                    double akp = a[k][p], akq = a[k][q];
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for (int k = 0; k < 3; k++) {
                    double apk = a[p][k], aqk = a[q][k];
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for (int k = 0; k < 3; k++) {
                    double vkp = v[k][p], vkq = v[k][q];
                    v[k][p] = c * vkp - s * vkq;
                    v[k][q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < 3; i++) e[i] = a[i][i];
}

/* out = V diag(f(e)) V^T with f(e) = max(e, floor)^power */
static void sym3_power(const double m[3][3], double power, double out[3][3]) {
    double e[3], v[3][3];
    sym3_eigen(m, e, v);
    for (int k = 0; k < 3; k++) e[k] = pow(fmax(e[k], 1e-4), power);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double acc = 0;
            for (int k = 0; k < 3; k++) acc += v[i][k] * e[k] * v[j][k];
            out[i][j] = acc;
        }
}

static float clamp01(double v) { return v < 0 ? 0.0f : v > 1 ? 1.0f : (float)v; }

void color_transfer(float *rgb, int64_t n, const color_stats *from, const color_stats *to, bool clamp) {
    double is[3][3], st[3][3], a[3][3];
    sym3_power(from->cov, -0.5, is);
    sym3_power(to->cov, 0.5, st);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) a[i][j] = st[i][0] * is[0][j] + st[i][1] * is[1][j] + st[i][2] * is[2][j];
    float *p[3] = {rgb, rgb + n, rgb + 2 * n};
    for (int64_t i = 0; i < n; i++) {
        double d[3] = {p[0][i] - from->mean[0], p[1][i] - from->mean[1], p[2][i] - from->mean[2]};
        for (int c = 0; c < 3; c++) {
            double v = a[c][0] * d[0] + a[c][1] * d[1] + a[c][2] * d[2] + to->mean[c];
            p[c][i] = clamp ? clamp01(v) : (float)v;
        }
    }
}

void color_luma(const float *rgb, int64_t n, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = 0.299f * rgb[i] + 0.587f * rgb[n + i] + 0.114f * rgb[2 * n + i];
}

/* YIQ (NTSC 1953): rows Y, I, Q of RGB; its inverse is computed, so that Y round-trips. */
static const double YIQ[3][3] = {{0.299, 0.587, 0.114}, {0.596, -0.274, -0.322}, {0.211, -0.523, 0.312}};

static void inverse3(const double m[3][3], double r[3][3]) {
    double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
               + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int a = (j + 1) % 3, b = (j + 2) % 3, c = (i + 1) % 3, d = (i + 2) % 3;
            r[i][j] = (m[a][c] * m[b][d] - m[a][d] * m[b][c]) / det;
        }
}

void color_set_luma(float *rgb, int64_t n, const float *y) {
    double inv[3][3];
    inverse3(YIQ, inv);
    for (int64_t k = 0; k < n; k++) {
        double r = rgb[k], g = rgb[n + k], b = rgb[2 * n + k];
        double i = YIQ[1][0] * r + YIQ[1][1] * g + YIQ[1][2] * b, q = YIQ[2][0] * r + YIQ[2][1] * g + YIQ[2][2] * b;
        double yiq[3] = {y[k], i, q};
        for (int c = 0; c < 3; c++)
            rgb[c * n + k] = clamp01(inv[c][0] * yiq[0] + inv[c][1] * yiq[1] + inv[c][2] * yiq[2]);
    }
}

void color_luma_stats(const float *y, int64_t n, double *mean, double *std) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < n; i++) m += y[i];
    m = n > 0 ? m / (double)n : 0;
    for (int64_t i = 0; i < n; i++) v += (y[i] - m) * (y[i] - m);
    *mean = m;
    *std = n > 0 ? sqrt(v / (double)n) : 0;
}

void color_match_luma(float *y, int64_t n, double mean, double std) {
    double m, s;
    color_luma_stats(y, n, &m, &s);
    double k = s > 1e-6 ? std / s : 1.0;
    for (int64_t i = 0; i < n; i++) y[i] = (float)((y[i] - m) * k + mean);
}
