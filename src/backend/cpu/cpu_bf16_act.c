// cpu_bf16_act.c — the bf16 activation chain of the CPU table (backend.h, "bf16 activation chain"): the
// non-convolution ops, on NHWC tensors (the layout oneDNN's bf16 convolutions run fastest on without
// reorders, cpu_conv_dnnl.c; measured in tests/bench/RESULTS.md). A tensor [N, C, HW] is stored as rows
// r = n * HW + p of C contiguous channels: x[r * C + c].
//
// Each op is its fp32 twin (cpu_norm.c, cpu_eltwise.c, cpu_pool.c, cpu_se.c) on the widened bf16 inputs:
// the same fp32 expressions per element, bf16 outputs rounded once (apt_bf16_round). Per-channel sums
// run over rows in index order with float64 accumulators (vector lanes are channels, so no sum is
// reassociated); threads split channel blocks or images, never a sum, so results do not depend on the
// thread count. The twins sum a plane in float SIMD partials and planes in float64: the two agree to
// ~1e-7 relative (tests/backend/test_backend_ops.c, op_cases_chain.h).
#include "cpu_ops.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define CB 16 // channels per reduction block (one thread each)

static inline size_t rows_of(int N, int HW) {
    return (size_t)N * (size_t)HW;
}

void apt_cpu_act_from_f32_bf16(AptBackend *be, int N, int C, int HW, const float *x, uint16_t *y) {
    (void)be;
#pragma omp parallel for schedule(static) if ((size_t)N * C * HW > 65536)
    for (long r = 0; r < (long)rows_of(N, HW); r++) {
        const long n = r / HW, p = r - n * HW;
        const float *xn = x + (size_t)n * C * HW + p;
        uint16_t *yr = y + (size_t)r * C;
        for (int c = 0; c < C; c++)
            yr[c] = apt_bf16_round(xn[(size_t)c * HW]);
    }
}

void apt_cpu_act_to_f32(AptBackend *be, int N, int C, int HW, const uint16_t *x, float *y) {
    (void)be;
#pragma omp parallel for schedule(static) if ((size_t)N * C * HW > 65536)
    for (long r = 0; r < (long)rows_of(N, HW); r++) {
        const long n = r / HW, p = r - n * HW;
        const uint16_t *xr = x + (size_t)r * C;
        float *yn = y + (size_t)n * C * HW + p;
        for (int c = 0; c < C; c++)
            yn[(size_t)c * HW] = apt_bf16_load(xr[c]);
    }
}

void apt_cpu_act_from_nchw_f32(AptBackend *be, int N, int C, int HW, const float *x, float *y) {
    (void)be;
#pragma omp parallel for schedule(static) if ((size_t)N * C * HW > 65536)
    for (long r = 0; r < (long)rows_of(N, HW); r++) {
        const long n = r / HW, p = r - n * HW;
        const float *xn = x + (size_t)n * C * HW + p;
        float *yr = y + (size_t)r * C;
        for (int c = 0; c < C; c++)
            yr[c] = xn[(size_t)c * HW];
    }
}

// ---- BatchNorm ----

void apt_cpu_bn_forward_bf16(AptBackend *be, int N, int C, int HW, const uint16_t *x, const float *mean,
                             const float *var, float eps, const float *gamma, const float *beta,
                             uint16_t *y) {
    (void)be;
    if (!C) return;
    float a[C], b[C];
    for (int c = 0; c < C; c++) { // as cpu_norm.c
        float invstd = 1.0f / sqrtf(var[c] + eps);
        a[c] = gamma[c] * invstd, b[c] = beta[c] - mean[c] * a[c];
    }
#pragma omp parallel for schedule(static)
    for (long r = 0; r < (long)rows_of(N, HW); r++) {
        const uint16_t *xr = x + (size_t)r * C;
        uint16_t *yr = y + (size_t)r * C;
#pragma omp simd
        for (int c = 0; c < C; c++)
            yr[c] = apt_bf16_round(apt_bf16_load(xr[c]) * a[c] + b[c]);
    }
}

void apt_cpu_bn_stats_bf16(AptBackend *be, int N, int C, int HW, const uint16_t *x, double *sums) {
    (void)be;
    const size_t rows = rows_of(N, HW);
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += CB) {
        const int cb = C - c0 < CB ? C - c0 : CB;
        double s[CB] = {0}, s2[CB] = {0};
        for (size_t r = 0; r < rows; r++) {
            const uint16_t *xr = x + r * C + c0;
#pragma omp simd
            for (int j = 0; j < cb; j++) {
                double v = apt_bf16_load(xr[j]);
                s[j] += v;
                s2[j] += v * v;
            }
        }
        for (int j = 0; j < cb; j++)
            sums[c0 + j] = s[j], sums[C + c0 + j] = s2[j];
    }
}

// Sums {S dy, S dy (x - mean)} per channel in float64 over rows in order; dx = dy * a when asked.
static void bn_dy_sums(int N, int C, int HW, const uint16_t *x, const float *dy, const float *mean,
                       const float *a, float *dx, double *sdy, double *sdyx) {
    const size_t rows = rows_of(N, HW);
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += CB) {
        const int cb = C - c0 < CB ? C - c0 : CB;
        double s0[CB] = {0}, s1[CB] = {0};
        for (size_t r = 0; r < rows; r++) {
            const size_t o = r * C + c0;
#pragma omp simd
            for (int j = 0; j < cb; j++) {
                const float g = dy[o + j];
                s0[j] += g;
                s1[j] += (double)(g * (apt_bf16_load(x[o + j]) - mean[c0 + j]));
                if (dx) dx[o + j] = g * a[c0 + j];
            }
        }
        for (int j = 0; j < cb; j++)
            sdy[c0 + j] = s0[j], sdyx[c0 + j] = s1[j];
    }
}

void apt_cpu_bn_backward_affine_bf16(AptBackend *be, int N, int C, int HW, const uint16_t *x, const float *dy,
                                     const float *mean, const float *var, float eps, const float *gamma,
                                     float *dx, float *dgamma, float *dbeta) {
    (void)be;
    if (!C) return;
    float a[C], invstd[C];
    double sdy[C], sdyx[C];
    for (int c = 0; c < C; c++)
        invstd[c] = 1.0f / sqrtf(var[c] + eps), a[c] = gamma[c] * invstd[c];
    if (!dgamma && !dbeta) { // the input gradient alone: an elementwise map
#pragma omp parallel for schedule(static)
        for (long r = 0; r < (long)rows_of(N, HW); r++)
#pragma omp simd
            for (int c = 0; c < C; c++)
                dx[(size_t)r * C + c] = dy[(size_t)r * C + c] * a[c];
        return;
    }
    bn_dy_sums(N, C, HW, x, dy, mean, a, dx, sdy, sdyx);
    for (int c = 0; c < C; c++) {
        if (dgamma) dgamma[c] += (float)(sdyx[c] * invstd[c]);
        if (dbeta) dbeta[c] += (float)sdy[c];
    }
}

void apt_cpu_bn_backward_stats_bf16(AptBackend *be, int N, int C, int HW, const uint16_t *x, const float *dy,
                                    const float *mean, const float *var, float eps, double *sums) {
    (void)be;
    if (!C) return;
    bn_dy_sums(N, C, HW, x, dy, mean, NULL, NULL, sums, sums + C);
    for (int c = 0; c < C; c++)
        sums[C + c] *= 1.0 / sqrt((double)var[c] + eps);
}

void apt_cpu_bn_backward_data_bf16(AptBackend *be, int N, int C, int HW, const uint16_t *x, const float *dy,
                                   const float *mean, const float *var, float eps, const float *gamma,
                                   const double *sums, double count, float *dx) {
    (void)be;
    if (!C) return;
    float a[C], k[C], mdy[C];
    for (int c = 0; c < C; c++) { // as cpu_norm.c
        float invstd = (float)(1.0 / sqrt((double)var[c] + eps));
        a[c] = gamma[c] * invstd, mdy[c] = (float)(sums[c] / count),
        k[c] = invstd * (float)(sums[C + c] / count);
    }
#pragma omp parallel for schedule(static)
    for (long r = 0; r < (long)rows_of(N, HW); r++) {
        const size_t o = (size_t)r * C;
#pragma omp simd
        for (int c = 0; c < C; c++)
            dx[o + c] = a[c] * (dy[o + c] - mdy[c] - (apt_bf16_load(x[o + c]) - mean[c]) * k[c]);
    }
}

// ---- elementwise (layout-free) ----

void apt_cpu_relu_forward_bf16(AptBackend *be, size_t n, const uint16_t *x, uint16_t *y) {
    (void)be;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        y[i] = apt_bf16_load(x[i]) < 0.0f ? 0 : x[i]; // -0 and NaN pass, as in cpu_eltwise.c
}

void apt_cpu_relu_backward_bf16(AptBackend *be, size_t n, const uint16_t *y, const float *dy, float *dx) {
    (void)be;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        dx[i] = apt_bf16_load(y[i]) > 0.0f ? dy[i] : 0.0f;
}

void apt_cpu_add_bf16(AptBackend *be, size_t n, const uint16_t *a, const uint16_t *b, uint16_t *y) {
    (void)be;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        y[i] = apt_bf16_round(apt_bf16_load(a[i]) + apt_bf16_load(b[i]));
}

// ---- pooling ----

// The window of output o clipped to the input: [lo, hi) (cpu_pool.c).
static inline void window(int o, int stride, int pad, int k, int size, int *lo, int *hi) {
    int a = o * stride - pad, b = a + k;
    *lo = a < 0 ? 0 : a;
    *hi = b > size ? size : b;
}

// cpu_pool.c's rule per channel: the first maximum in scan order (rows, then columns) wins; if the window
// holds a NaN, the first NaN wins. The output is that input value (bf16 bits copied: no rounding).
void apt_cpu_maxpool_forward_bf16(AptBackend *be, const AptPoolDesc *d, int n, const uint16_t *x, uint16_t *y,
                                  int *idx) {
    (void)be;
    const int H = d->H, W = d->W, P = d->P, Q = d->Q, C = d->C;
    if (!C) return;
#pragma omp parallel for schedule(static)
    for (long o = 0; o < (long)n * P * Q; o++) {
        const long img = o / ((long)P * Q), pq = o - img * P * Q;
        const int p = (int)(pq / Q), q = (int)(pq - (long)p * Q);
        int h0, h1, w0, w1;
        window(p, d->stride_h, d->pad_h, d->kh, H, &h0, &h1);
        window(q, d->stride_w, d->pad_w, d->kw, W, &w0, &w1);
        const uint16_t *xi = x + (size_t)img * H * W * C;
        float best[C];
        int bi[C], nan_at[C];
        for (int c = 0; c < C; c++)
            best[c] = apt_bf16_load(xi[((size_t)h0 * W + w0) * C + c]), bi[c] = h0 * W + w0, nan_at[c] = -1;
        for (int h = h0; h < h1; h++)
            for (int w = w0; w < w1; w++) {
                const uint16_t *xr = xi + ((size_t)h * W + w) * C;
                const int at = h * W + w;
#pragma omp simd
                for (int c = 0; c < C; c++) {
                    float v = apt_bf16_load(xr[c]);
                    int gt = v > best[c];
                    best[c] = gt ? v : best[c];
                    bi[c] = gt ? at : bi[c];
                    nan_at[c] = (v != v && nan_at[c] < 0) ? at : nan_at[c];
                }
            }
        uint16_t *yr = y + (size_t)o * C;
        int *ir = idx + (size_t)o * C;
        for (int c = 0; c < C; c++) {
            const int at = nan_at[c] >= 0 ? nan_at[c] : bi[c];
            ir[c] = at;
            yr[c] = xi[(size_t)at * C + c];
        }
    }
}

// dx[img, idx, c] += dy[img, pq, c] in output order (cpu_pool.c's order per channel); one image per thread.
void apt_cpu_maxpool_backward_bf16(AptBackend *be, const AptPoolDesc *d, int n, const float *dy,
                                   const int *idx, float *dx) {
    (void)be;
    const int HW = d->H * d->W, PQ = d->P * d->Q, C = d->C;
#pragma omp parallel for schedule(static)
    for (int img = 0; img < n; img++) {
        float *xi = dx + (size_t)img * HW * C;
        memset(xi, 0, (size_t)HW * C * sizeof(float));
        const float *g = dy + (size_t)img * PQ * C;
        const int *ii = idx + (size_t)img * PQ * C;
        for (int j = 0; j < PQ; j++)
            for (int c = 0; c < C; c++)
                xi[(size_t)ii[(size_t)j * C + c] * C + c] += g[(size_t)j * C + c];
    }
}

// y[n, c] = mean over HW in float64 (cpu_pool.c: the same sum in the same order, so the same bits).
void apt_cpu_gap_forward_bf16(AptBackend *be, int N, int C, int HW, const uint16_t *x, float *y) {
    (void)be;
    if (!C) return;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        double s[C];
        for (int c = 0; c < C; c++)
            s[c] = 0;
        for (int p = 0; p < HW; p++) {
            const uint16_t *xr = x + ((size_t)n * HW + p) * C;
#pragma omp simd
            for (int c = 0; c < C; c++)
                s[c] += apt_bf16_load(xr[c]);
        }
        for (int c = 0; c < C; c++)
            y[(size_t)n * C + c] = (float)(s[c] / HW);
    }
}

void apt_cpu_gap_backward_bf16(AptBackend *be, int N, int C, int HW, const float *dy, float *dx) {
    (void)be;
    const float inv = 1.0f / (float)HW;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < (long)rows_of(N, HW); r++) {
        const float *g = dy + (size_t)(r / HW) * C;
#pragma omp simd
        for (int c = 0; c < C; c++)
            dx[(size_t)r * C + c] = g[c] * inv;
    }
}

// ---- channel scale (SE) ----

void apt_cpu_chscale_forward_bf16(AptBackend *be, int N, int C, int HW, const uint16_t *x, const float *s,
                                  uint16_t *y) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < (long)rows_of(N, HW); r++) {
        const float *g = s + (size_t)(r / HW) * C;
#pragma omp simd
        for (int c = 0; c < C; c++)
            y[(size_t)r * C + c] = apt_bf16_round(apt_bf16_load(x[(size_t)r * C + c]) * g[c]);
    }
}

// ds[n, c] = S_hw dy * x in float64 in index order (cpu_se.c's sum); then dx = dy * s (dx may alias dy).
void apt_cpu_chscale_backward_bf16(AptBackend *be, int N, int C, int HW, const uint16_t *x, const float *s,
                                   const float *dy, float *dx, float *ds) {
    (void)be;
    if (!C) return;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const size_t o = (size_t)n * HW * C;
        if (ds) {
            double acc[C];
            for (int c = 0; c < C; c++)
                acc[c] = 0;
            for (int p = 0; p < HW; p++)
#pragma omp simd
                for (int c = 0; c < C; c++)
                    acc[c] += (double)dy[o + (size_t)p * C + c] * apt_bf16_load(x[o + (size_t)p * C + c]);
            for (int c = 0; c < C; c++)
                ds[(size_t)n * C + c] = (float)acc[c];
        }
        if (dx) {
            const float *g = s + (size_t)n * C;
            for (int p = 0; p < HW; p++)
#pragma omp simd
                for (int c = 0; c < C; c++)
                    dx[o + (size_t)p * C + c] = dy[o + (size_t)p * C + c] * g[c];
        }
    }
}
