// cuda_pool.cu — max, average and global average pooling (twin of cpu/cpu_pool.c).
//
// Backward passes are GATHERS, not scatters: one thread per input pixel sums the output gradients whose
// window covers it, in increasing (p, q) order — the CPU's accumulation order — so overlapping windows
// (3x3 stride 2 in ResNet) need no atomics and the result is reproducible (and equal to the CPU's).
#include <float.h>

#include "cuda_ops.cuh"
#include "cuda_pool_window.h"

#define POOL_THREADS 256

typedef struct {
    int C, H, W, P, Q, kh, kw, sh, sw, ph, pw;
} PoolK;

static PoolK pool_k(const AptPoolDesc *d) {
    PoolK k = {d->C, d->H, d->W, d->P, d->Q, d->kh, d->kw, d->stride_h, d->stride_w, d->pad_h, d->pad_w};
    return k;
}

// T: float, or uint16_t for the bf16 activation chain (apt_ld / apt_st: the max is an input value, so
// the bf16 output is exact).
template <typename I, typename T>
__global__ void maxpool_fwd_kernel(I n_out, PoolK k, const T *x, T *y, int *idx) {
    for (I o = blockIdx.x * (I)blockDim.x + threadIdx.x; o < n_out; o += (I)blockDim.x * gridDim.x) {
        const int q = (int)(o % k.Q), p = (int)((o / k.Q) % k.P);
        const size_t plane = o / ((I)k.P * (I)k.Q); // offsets in size_t, the division in I
        const T *xp = x + plane * k.H * k.W;
        const int h0 = p * k.sh - k.ph, w0 = q * k.sw - k.pw;
        float best = -FLT_MAX;
        int bi = -1;
        for (int r = 0; r < k.kh; r++) {
            const int h = h0 + r;
            if (h < 0 || h >= k.H) continue;
            for (int s = 0; s < k.kw; s++) {
                const int w = w0 + s;
                if (w < 0 || w >= k.W) continue;
                const float v = apt_ld(xp, (size_t)(h * k.W + w));
                if (bi < 0 || v > best || v != v) { // first maximum wins; NaN propagates (as the CPU, torch)
                    best = v;
                    bi = h * k.W + w;
                    if (v != v) goto done;
                }
            }
        }
    done:
        apt_st(y, (size_t)o, best);
        idx[o] = bi;
    }
}

template <typename I>
__global__ void maxpool_bwd_kernel(I n_in, PoolK k, const float *dy, const int *idx, float *dx) {
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n_in; i += (I)blockDim.x * gridDim.x) {
        const int w = (int)(i % k.W), h = (int)((i / k.W) % k.H);
        const size_t plane = i / ((I)k.H * (I)k.W);
        const float *g = dy + plane * k.P * k.Q;
        const int *ip = idx + plane * k.P * k.Q;
        const int self = h * k.W + w;
        int p0, p1, q0, q1;
        apt_pool_window_range(h, k.kh, k.sh, k.ph, k.P, &p0, &p1);
        apt_pool_window_range(w, k.kw, k.sw, k.pw, k.Q, &q0, &q1);
        float acc = 0.0f;
        for (int p = p0; p <= p1; p++)
            for (int q = q0; q <= q1; q++)
                if (ip[p * k.Q + q] == self) acc += g[p * k.Q + q];
        dx[i] = acc;
    }
}

template <typename I>
__global__ void avgpool_fwd_kernel(I n_out, PoolK k, const float *x, float *y) {
    const float inv = 1.0f / (float)(k.kh * k.kw); // count_include_pad=True
    for (I o = blockIdx.x * (I)blockDim.x + threadIdx.x; o < n_out; o += (I)blockDim.x * gridDim.x) {
        const int q = (int)(o % k.Q), p = (int)((o / k.Q) % k.P);
        const float *xp = x + (size_t)(o / ((I)k.P * (I)k.Q)) * k.H * k.W;
        const int h0 = p * k.sh - k.ph, w0 = q * k.sw - k.pw;
        float s = 0;
        for (int r = 0; r < k.kh; r++) {
            const int h = h0 + r;
            if (h < 0 || h >= k.H) continue;
            for (int t = 0; t < k.kw; t++) {
                const int w = w0 + t;
                if (w >= 0 && w < k.W) s += xp[h * k.W + w];
            }
        }
        y[o] = s * inv;
    }
}

template <typename I>
__global__ void avgpool_bwd_kernel(I n_in, PoolK k, const float *dy, float *dx) {
    const float inv = 1.0f / (float)(k.kh * k.kw);
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n_in; i += (I)blockDim.x * gridDim.x) {
        const int w = (int)(i % k.W), h = (int)((i / k.W) % k.H);
        const float *g = dy + (size_t)(i / ((I)k.H * (I)k.W)) * k.P * k.Q;
        int p0, p1, q0, q1;
        apt_pool_window_range(h, k.kh, k.sh, k.ph, k.P, &p0, &p1);
        apt_pool_window_range(w, k.kw, k.sw, k.pw, k.Q, &q0, &q1);
        float acc = 0.0f;
        for (int p = p0; p <= p1; p++)
            for (int q = q0; q <= q1; q++) acc += g[p * k.Q + q] * inv;
        dx[i] = acc;
    }
}

// One thread per (n, c) plane, double sum in order (HW is small where GAP is used: 7x7 in ResNet).
template <typename T> __global__ void gap_fwd_kernel(size_t planes, int HW, const T *x, float *y) {
    for (size_t pl = blockIdx.x * (size_t)blockDim.x + threadIdx.x; pl < planes; pl += (size_t)blockDim.x * gridDim.x) {
        const T *xp = x + pl * HW;
        double s = 0;
        for (int i = 0; i < HW; i++) s += apt_ld(xp, (size_t)i);
        y[pl] = (float)(s / HW);
    }
}

template <typename I>
__global__ void gap_bwd_kernel(I n, int HW, const float *dy, float *dx) {
    const float inv = 1.0f / (float)HW;
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x)
        dx[i] = dy[i / (I)HW] * inv;
}

#define POOL_LAUNCH(kernel, n, ...) APT_CUDA_LAUNCH(POOL_THREADS, kernel, n, __VA_ARGS__)
// Per-element kernels index in uint32_t when both the input and the output have < 2^31 elements.
#define POOL_LAUNCH_I(kernel, n, n_other, ...)                                                               \
    APT_CUDA_LAUNCH_I(POOL_THREADS, kernel, n, n_other, __VA_ARGS__)

// The ops on views: T the storage type of the activation (x, y: float, or uint16_t for the bf16 chain);
// the gradients are fp32 in either form, so the backward passes have one instance.
void apt_cuda_maxpool_forward(AptBackend *be, const AptPoolDesc *d, int n, AptTensor x, AptTensor y,
                              int *idx) {
    const AptDType dt = apt_cuda_form("maxpool_forward", "x", x);
    apt_cuda_act("maxpool_forward", "y", y, dt);
    size_t no = (size_t)n * d->C * d->P * d->Q, ni = (size_t)n * d->C * d->H * d->W;
    apt_cuda_typed(dt, [&](auto t) {
        using T = decltype(t);
        POOL_LAUNCH_I(maxpool_fwd_kernel, no, ni, pool_k(d), (const T *)x.p, (T *)y.p, idx);
    });
}
void apt_cuda_maxpool_backward(AptBackend *be, const AptPoolDesc *d, int n, AptTensor dy, const int *idx,
                               AptTensor dx) {
    apt_cuda_grad("maxpool_backward", "dy", dy);
    apt_cuda_grad("maxpool_backward", "dx", dx);
    size_t ni = (size_t)n * d->C * d->H * d->W, no = (size_t)n * d->C * d->P * d->Q;
    POOL_LAUNCH_I(maxpool_bwd_kernel, ni, no, pool_k(d), (const float *)dy.p, idx, (float *)dx.p);
}
void apt_cuda_avgpool_forward(AptBackend *be, const AptPoolDesc *d, int n, const float *x, float *y) {
    size_t no = (size_t)n * d->C * d->P * d->Q, ni = (size_t)n * d->C * d->H * d->W;
    POOL_LAUNCH_I(avgpool_fwd_kernel, no, ni, pool_k(d), x, y);
}
void apt_cuda_avgpool_backward(AptBackend *be, const AptPoolDesc *d, int n, const float *dy, float *dx) {
    size_t ni = (size_t)n * d->C * d->H * d->W, no = (size_t)n * d->C * d->P * d->Q;
    POOL_LAUNCH_I(avgpool_bwd_kernel, ni, no, pool_k(d), dy, dx);
}
void apt_cuda_gap_forward(AptBackend *be, int N, int C, int HW, AptTensor x, float *y) {
    size_t planes = (size_t)N * C;
    apt_cuda_typed(apt_cuda_form("gap_forward", "x", x), [&](auto t) {
        using T = decltype(t);
        POOL_LAUNCH(gap_fwd_kernel<T>, planes, planes, HW, (const T *)x.p, y);
    });
}
void apt_cuda_gap_backward(AptBackend *be, int N, int C, int HW, const float *dy, AptTensor dx) {
    apt_cuda_grad("gap_backward", "dx", dx);
    size_t n = (size_t)N * C * HW;
    POOL_LAUNCH_I(gap_bwd_kernel, n, n, HW, dy, (float *)dx.p);
}
