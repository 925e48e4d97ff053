// cuda_eltwise.cu — ReLU and elementwise arithmetic (twin of cpu/cpu_eltwise.c). Grid-stride loops;
// each element is written by exactly one thread, so results are exact and reproducible.
#include "cuda_ops.cuh"

#define ELT_THREADS 256
#define GRID_STRIDE(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)blockDim.x * gridDim.x)

// T: float, or uint16_t for the bf16 activation chain (apt_ld / apt_st, cuda_common.cuh).
template <typename T> __global__ void relu_fwd_kernel(size_t n, const T *x, T *y) {
    GRID_STRIDE(i, n) { float v = apt_ld(x, i); apt_st(y, i, v < 0.0f ? 0.0f : v); } // NaN propagates, as on the CPU
}
// The mask comes from the output (y > 0 iff x > 0), as on the CPU.
template <typename T> __global__ void relu_bwd_kernel(size_t n, const T *y, const float *dy, float *dx) {
    GRID_STRIDE(i, n) dx[i] = apt_ld(y, i) > 0.0f ? dy[i] : 0.0f;
}
template <typename T> __global__ void add_kernel(size_t n, const T *a, const T *b, T *y) {
    GRID_STRIDE(i, n) apt_st(y, i, apt_ld(a, i) + apt_ld(b, i));
}
__global__ void axpy_kernel(size_t n, float alpha, const float *x, float *y) { GRID_STRIDE(i, n) y[i] += alpha * x[i]; }
__global__ void scale_kernel(size_t n, float alpha, float *x) { GRID_STRIDE(i, n) x[i] *= alpha; }
__global__ void fill_kernel(size_t n, float v, float *x) { GRID_STRIDE(i, n) x[i] = v; }
// The one kernel here that decomposes the flat index: 32-bit arithmetic when n < 2^31 (cuda_common.cuh).
template <typename I> __global__ void bias_rows_kernel(I n, int C, int HW, const float *b, float *y) {
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x)
        y[i] = b[(i / (I)HW) % (I)C];
}

#define LAUNCH(kernel, n, ...)                                                                               \
    do {                                                                                                     \
        if ((n) == 0) return;                                                                                \
        kernel<<<apt_cuda_grid_1d((n), ELT_THREADS), ELT_THREADS, 0, apt_cuda_impl(be)->stream>>>(__VA_ARGS__); \
        CUDA_CHECK_LAUNCH();                                                                                 \
    } while (0)

void apt_cuda_relu_forward(AptBackend *be, size_t n, const float *x, float *y) {
    LAUNCH(relu_fwd_kernel<float>, n, n, x, y);
}
void apt_cuda_relu_backward(AptBackend *be, size_t n, const float *y, const float *dy, float *dx) {
    LAUNCH(relu_bwd_kernel<float>, n, n, y, dy, dx);
}
void apt_cuda_add(AptBackend *be, size_t n, const float *a, const float *b, float *y) {
    LAUNCH(add_kernel<float>, n, n, a, b, y);
}
void apt_cuda_relu_forward_bf16(AptBackend *be, size_t n, const uint16_t *x, uint16_t *y) {
    LAUNCH(relu_fwd_kernel<uint16_t>, n, n, x, y);
}
void apt_cuda_relu_backward_bf16(AptBackend *be, size_t n, const uint16_t *y, const float *dy, float *dx) {
    LAUNCH(relu_bwd_kernel<uint16_t>, n, n, y, dy, dx);
}
void apt_cuda_add_bf16(AptBackend *be, size_t n, const uint16_t *a, const uint16_t *b, uint16_t *y) {
    LAUNCH(add_kernel<uint16_t>, n, n, a, b, y);
}
void apt_cuda_axpy(AptBackend *be, size_t n, float alpha, const float *x, float *y) {
    LAUNCH(axpy_kernel, n, n, alpha, x, y);
}
void apt_cuda_scale(AptBackend *be, size_t n, float alpha, float *x) { LAUNCH(scale_kernel, n, n, alpha, x); }
void apt_cuda_fill(AptBackend *be, size_t n, float value, float *x) { LAUNCH(fill_kernel, n, n, value, x); }
void apt_cuda_bias_rows(AptBackend *be, int N, int C, int HW, const float *b, float *y) {
    size_t n = (size_t)N * C * HW;
    if (apt_cuda_idx32(n)) LAUNCH(bias_rows_kernel<uint32_t>, n, (uint32_t)n, C, HW, b, y);
    else LAUNCH(bias_rows_kernel<size_t>, n, n, C, HW, b, y);
}
