// cpu_pool.c — max, average and global average pooling. One thread owns each (n, c) plane.
#include "cpu_ops.h"

#include <float.h>
#include <stdbool.h>
#include <string.h>

// The window of output (p, q) clipped to the input: rows [h0, h1), columns [w0, w1).
static inline void window(int o, int stride, int pad, int k, int size, int *lo, int *hi) {
    int a = o * stride - pad, b = a + k;
    *lo = a < 0 ? 0 : a;
    *hi = b > size ? size : b;
}

void apt_cpu_maxpool_forward_f32(AptBackend *be, const AptPoolDesc *d, int n, const float *x, float *y,
                                 int *idx) {
    (void)be;
    const int H = d->H, W = d->W, P = d->P, Q = d->Q;
#pragma omp parallel for schedule(static)
    for (long plane = 0; plane < (long)n * d->C; plane++) {
        const float *xp = x + (size_t)plane * H * W;
        float *yp = y + (size_t)plane * P * Q;
        int *ip = idx + (size_t)plane * P * Q;
        if (d->kh == 2 && d->kw == 2 && d->stride_h == 2 && d->stride_w == 2 && d->pad_h == 0 &&
            d->pad_w == 0) {
            for (int p = 0; p < P; p++) // the small CNN's 2×2/2: no clipping, four candidates
                for (int q = 0; q < Q; q++) {
                    int i0 = 2 * p * W + 2 * q, bi = i0;
                    float a = xp[i0], b = xp[i0 + 1], c = xp[i0 + W], e = xp[i0 + W + 1], best = a;
                    // branch-free first maximum; a NaN wins (torch propagates NaN)
                    int t = b > best || (b != b && best == best);
                    best = t ? b : best, bi = t ? i0 + 1 : bi;
                    t = c > best || (c != c && best == best);
                    best = t ? c : best, bi = t ? i0 + W : bi;
                    t = e > best || (e != e && best == best);
                    best = t ? e : best, bi = t ? i0 + W + 1 : bi;
                    yp[p * Q + q] = best;
                    ip[p * Q + q] = bi;
                }
            continue;
        }
        for (int p = 0; p < P; p++) {
            int h0, h1;
            window(p, d->stride_h, d->pad_h, d->kh, H, &h0, &h1);
            for (int q = 0; q < Q; q++) {
                int w0, w1;
                window(q, d->stride_w, d->pad_w, d->kw, W, &w0, &w1);
                int bi = h0 * W + w0;
                float best = xp[bi];
                bool nan = false;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) { // branch-free: first maximum wins
                        float v = xp[h * W + w];
                        int gt = v > best;
                        nan |= v != v;
                        best = gt ? v : best;
                        bi = gt ? h * W + w : bi;
                    }
                if (nan) // rare: a NaN wins and stays (torch propagates NaN)
                    for (int h = h0; h < h1 && best == best; h++)
                        for (int w = w0; w < w1; w++)
                            if (xp[h * W + w] != xp[h * W + w]) {
                                best = xp[h * W + w], bi = h * W + w;
                                break;
                            }
                yp[p * Q + q] = best;
                ip[p * Q + q] = bi;
            }
        }
    }
}

void apt_cpu_maxpool_backward_f32(AptBackend *be, const AptPoolDesc *d, int n, const float *dy,
                                  const int *idx, float *dx) {
    (void)be;
    const int HW = d->H * d->W, PQ = d->P * d->Q;
#pragma omp parallel for schedule(static)
    for (long plane = 0; plane < (long)n * d->C; plane++) {
        float *xp = dx + (size_t)plane * HW;
        memset(xp, 0, (size_t)HW * sizeof(float));
        const float *g = dy + (size_t)plane * PQ;
        const int *ip = idx + (size_t)plane * PQ;
        for (int j = 0; j < PQ; j++)
            xp[ip[j]] += g[j];
    }
}

void apt_cpu_avgpool_forward(AptBackend *be, const AptPoolDesc *d, int n, const float *x, float *y) {
    (void)be;
    const int H = d->H, W = d->W, P = d->P, Q = d->Q;
    const float inv = 1.0f / (float)(d->kh * d->kw); // count_include_pad=True
#pragma omp parallel for schedule(static)
    for (long plane = 0; plane < (long)n * d->C; plane++) {
        const float *xp = x + (size_t)plane * H * W;
        float *yp = y + (size_t)plane * P * Q;
        for (int p = 0; p < P; p++)
            for (int q = 0; q < Q; q++) {
                int h0 = p * d->stride_h - d->pad_h, w0 = q * d->stride_w - d->pad_w;
                float s = 0;
                for (int r = 0; r < d->kh; r++) {
                    int h = h0 + r;
                    if (h < 0 || h >= H) continue;
                    for (int t = 0; t < d->kw; t++) {
                        int w = w0 + t;
                        if (w >= 0 && w < W) s += xp[h * W + w];
                    }
                }
                yp[p * Q + q] = s * inv;
            }
    }
}

void apt_cpu_avgpool_backward(AptBackend *be, const AptPoolDesc *d, int n, const float *dy, float *dx) {
    (void)be;
    const int H = d->H, W = d->W, P = d->P, Q = d->Q;
    const float inv = 1.0f / (float)(d->kh * d->kw);
#pragma omp parallel for schedule(static)
    for (long plane = 0; plane < (long)n * d->C; plane++) {
        float *xp = dx + (size_t)plane * H * W;
        memset(xp, 0, (size_t)H * W * sizeof(float));
        const float *g = dy + (size_t)plane * P * Q;
        for (int p = 0; p < P; p++)
            for (int q = 0; q < Q; q++) {
                int h0 = p * d->stride_h - d->pad_h, w0 = q * d->stride_w - d->pad_w;
                float v = g[p * Q + q] * inv;
                for (int r = 0; r < d->kh; r++) {
                    int h = h0 + r;
                    if (h < 0 || h >= H) continue;
                    for (int t = 0; t < d->kw; t++) {
                        int w = w0 + t;
                        if (w >= 0 && w < W) xp[h * W + w] += v;
                    }
                }
            }
    }
}

void apt_cpu_gap_forward_f32(AptBackend *be, int N, int C, int HW, const float *x, float *y) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (long plane = 0; plane < (long)N * C; plane++) {
        const float *xp = x + (size_t)plane * HW;
        double s = 0;
        for (int i = 0; i < HW; i++)
            s += xp[i];
        y[plane] = (float)(s / HW);
    }
}

void apt_cpu_gap_backward_f32(AptBackend *be, int N, int C, int HW, const float *dy, float *dx) {
    (void)be;
    const float inv = 1.0f / (float)HW;
#pragma omp parallel for schedule(static)
    for (long plane = 0; plane < (long)N * C; plane++) {
        float v = dy[plane] * inv;
        float *xp = dx + (size_t)plane * HW;
        for (int i = 0; i < HW; i++)
            xp[i] = v;
    }
}
