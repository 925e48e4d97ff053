// cpu_norm.c — batch normalisation (inference/frozen and train, split so sync BN can all-reduce the
// per-channel sums between the steps) and row L2 normalisation. Per-channel sums: float32 SIMD partial
// sums within each (n, c) plane (a fixed, compile-time order), accumulated in float64 across planes, one
// thread per channel — deterministic and independent of the thread count.
#include "cpu_ops.h"

#include <math.h>

void apt_cpu_bn_forward_f32(AptBackend *be, int N, int C, int HW, const float *x, const float *mean,
                            const float *var, float eps, const float *gamma, const float *beta, float *y) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float invstd = 1.0f / sqrtf(var[c] + eps);
        float a = gamma[c] * invstd, b = beta[c] - mean[c] * a;
        for (int n = 0; n < N; n++) {
            const float *xp = x + ((size_t)n * C + c) * HW;
            float *yp = y + ((size_t)n * C + c) * HW;
#pragma omp simd
            for (int i = 0; i < HW; i++)
                yp[i] = xp[i] * a + b;
        }
    }
}

void apt_cpu_bn_backward_affine_f32(AptBackend *be, int N, int C, int HW, const float *x, const float *dy,
                                    const float *mean, const float *var, float eps, const float *gamma,
                                    float *dx, float *dgamma, float *dbeta) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float invstd = 1.0f / sqrtf(var[c] + eps);
        float a = gamma[c] * invstd;
        const float m = mean[c];
        double sdy = 0, sdyx = 0;
        for (int n = 0; n < N; n++) {
            const size_t o = ((size_t)n * C + c) * HW;
            const float *dyp = dy + o, *xp = x + o;
            if (dgamma || dbeta) {
                float p = 0, q = 0;
#pragma omp simd reduction(+ : p, q)
                for (int i = 0; i < HW; i++) {
                    p += dyp[i];
                    q += dyp[i] * (xp[i] - m);
                }
                sdy += p;
                sdyx += (double)q * invstd;
            }
            if (dx) {
                float *dxp = dx + o;
#pragma omp simd
                for (int i = 0; i < HW; i++)
                    dxp[i] = dyp[i] * a;
            }
        }
        if (dgamma) dgamma[c] += (float)sdyx;
        if (dbeta) dbeta[c] += (float)sdy;
    }
}

void apt_cpu_bn_stats_f32(AptBackend *be, int N, int C, int HW, const float *x, double *sums) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double s = 0, s2 = 0;
        for (int n = 0; n < N; n++) {
            const float *xp = x + ((size_t)n * C + c) * HW;
            float p = 0, q = 0;
#pragma omp simd reduction(+ : p, q)
            for (int i = 0; i < HW; i++) {
                p += xp[i];
                q += xp[i] * xp[i];
            }
            s += p;
            s2 += q;
        }
        sums[c] = s;
        sums[C + c] = s2;
    }
}

// Σx² − (Σx)²/M in float64 loses nothing that matters at BatchNorm scales (|mean|/std ≲ 1e3 keeps
// ≥ 10 significant digits), and it needs a single all-reduce for sync BN.
void apt_cpu_bn_finalize(AptBackend *be, int C, const double *sums, double count, float momentum, float *mean,
                         float *var, float *running_mean, float *running_var) {
    (void)be;
    for (int c = 0; c < C; c++) {
        double m = sums[c] / count;
        double v = sums[C + c] / count - m * m;
        if (v < 0) v = 0;
        mean[c] = (float)m;
        var[c] = (float)v;
        if (running_mean) {
            double unbiased = count > 1 ? v * count / (count - 1) : v; // torch updates with the unbiased var
            running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * m);
            running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
        }
    }
}

void apt_cpu_bn_backward_stats_f32(AptBackend *be, int N, int C, int HW, const float *x, const float *dy,
                                   const float *mean, const float *var, float eps, double *sums) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double invstd = 1.0 / sqrt((double)var[c] + eps);
        const float m = mean[c];
        double sdy = 0, sdyx = 0;
        for (int n = 0; n < N; n++) {
            const size_t o = ((size_t)n * C + c) * HW;
            const float *dyp = dy + o, *xp = x + o;
            float p = 0, q = 0;
#pragma omp simd reduction(+ : p, q)
            for (int i = 0; i < HW; i++) {
                p += dyp[i];
                q += dyp[i] * (xp[i] - m);
            }
            sdy += p;
            sdyx += q;
        }
        sums[c] = sdy;
        sums[C + c] = sdyx * invstd;
    }
}

void apt_cpu_bn_backward_data_f32(AptBackend *be, int N, int C, int HW, const float *x, const float *dy,
                                  const float *mean, const float *var, float eps, const float *gamma,
                                  const double *sums, double count, float *dx) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float invstd = (float)(1.0 / sqrt((double)var[c] + eps));
        float a = gamma[c] * invstd, m = mean[c];
        float mdy = (float)(sums[c] / count), k = invstd * (float)(sums[C + c] / count);
        for (int n = 0; n < N; n++) {
            const size_t o = ((size_t)n * C + c) * HW;
            const float *dyp = dy + o, *xp = x + o;
            float *dxp = dx + o;
#pragma omp simd
            for (int i = 0; i < HW; i++)
                dxp[i] = a * (dyp[i] - mdy - (xp[i] - m) * k);
        }
    }
}

void apt_cpu_l2norm_forward(AptBackend *be, int N, int D, const float *x, float *y) {
    (void)be;
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * D;
        double s = 0;
        for (int j = 0; j < D; j++)
            s += (double)xr[j] * xr[j];
        double nrm = sqrt(s);
        float inv = (float)(1.0 / (nrm > 1e-12 ? nrm : 1e-12));
        for (int j = 0; j < D; j++)
            y[(size_t)n * D + j] = xr[j] * inv;
    }
}

void apt_cpu_l2norm_backward(AptBackend *be, int N, int D, const float *x, const float *y, const float *dy,
                             float *dx) {
    (void)be;
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * D, *yr = y + (size_t)n * D, *g = dy + (size_t)n * D;
        double s = 0, yd = 0;
        for (int j = 0; j < D; j++) {
            s += (double)xr[j] * xr[j];
            yd += (double)yr[j] * g[j];
        }
        double nrm = sqrt(s);
        if (nrm > 1e-12) {
            float inv = (float)(1.0 / nrm), ydf = (float)yd;
            for (int j = 0; j < D; j++)
                dx[(size_t)n * D + j] = (g[j] - yr[j] * ydf) * inv;
        } else { // y = x / eps: a linear map
            for (int j = 0; j < D; j++)
                dx[(size_t)n * D + j] = g[j] * 1e12f;
        }
    }
}
