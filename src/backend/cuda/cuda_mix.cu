// cuda_mix.cu — SiMix's row mixing (twin of cpu/cpu_mix.c; contract in backend.h, mix_rows). One thread
// per output element; the backward sums each x row's contributions in the given order (no atomics), so
// results are reproducible run to run.
#include "cuda_ops.cuh"

#define MIX_THREADS 256

__global__ void mix_rows_kernel(int n, int D, const int *src, const float *alpha, const float *x, float *y) {
    const size_t total = (size_t)n * D;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)blockDim.x * gridDim.x) {
        const int r = (int)(i / D), d = (int)(i % D);
        const float a = alpha[r], b = 1.0f - a;
        y[i] = a * x[(size_t)src[2 * r] * D + d] + b * x[(size_t)src[2 * r + 1] * D + d];
    }
}

__global__ void mix_rows_bwd_kernel(int n_x, int D, const int *start, const int *ent, const float *alpha,
                                    const float *dy, float *dx) {
    const size_t total = (size_t)n_x * D;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)blockDim.x * gridDim.x) {
        const int t = (int)(i / D), d = (int)(i % D);
        float acc = 0.0f;
        for (int e = start[t]; e < start[t + 1]; e++) {
            const int r = ent[e] >> 1;
            const float c = (ent[e] & 1) ? 1.0f - alpha[r] : alpha[r];
            acc += c * dy[(size_t)r * D + d];
        }
        dx[i] = acc;
    }
}

void apt_cuda_mix_rows(AptBackend *be, int n, int D, const int *src, const float *alpha, const float *x,
                       float *y) {
    const size_t total = (size_t)n * D;
    if (total == 0) return;
    mix_rows_kernel<<<apt_cuda_grid_1d(total, MIX_THREADS), MIX_THREADS, 0, apt_cuda_impl(be)->stream>>>(
        n, D, src, alpha, x, y);
    CUDA_CHECK_LAUNCH();
}

void apt_cuda_mix_rows_backward(AptBackend *be, int n_x, int D, const int *start, const int *ent,
                                const float *alpha, const float *dy, float *dx) {
    const size_t total = (size_t)n_x * D;
    if (total == 0) return;
    mix_rows_bwd_kernel<<<apt_cuda_grid_1d(total, MIX_THREADS), MIX_THREADS, 0, apt_cuda_impl(be)->stream>>>(
        n_x, D, start, ent, alpha, dy, dx);
    CUDA_CHECK_LAUNCH();
}
