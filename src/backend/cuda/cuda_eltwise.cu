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

#define LAUNCH(kernel, n, ...) APT_CUDA_LAUNCH(ELT_THREADS, kernel, n, __VA_ARGS__)

// The ops on views: any layout, all operands in one; T the storage type of the activation (x, y, a, b).
void apt_cuda_relu_forward(AptBackend *be, size_t n, AptTensor x, AptTensor y) {
    apt_tensor_expect("relu_forward", "y", y, x.dtype, x.layout);
    apt_cuda_typed(x.dtype, [&](auto t) {
        using T = decltype(t);
        LAUNCH(relu_fwd_kernel<T>, n, n, (const T *)x.p, (T *)y.p);
    });
}
void apt_cuda_relu_backward(AptBackend *be, size_t n, AptTensor y, AptTensor dy, AptTensor dx) {
    apt_tensor_expect("relu_backward", "dy", dy, APT_F32, y.layout);
    apt_tensor_expect("relu_backward", "dx", dx, APT_F32, y.layout);
    apt_cuda_typed(y.dtype, [&](auto t) {
        using T = decltype(t);
        LAUNCH(relu_bwd_kernel<T>, n, n, (const T *)y.p, (const float *)dy.p, (float *)dx.p);
    });
}
void apt_cuda_add(AptBackend *be, size_t n, AptTensor a, AptTensor b, AptTensor y) {
    apt_tensor_expect("add", "b", b, a.dtype, a.layout);
    apt_tensor_expect("add", "y", y, a.dtype, a.layout);
    apt_cuda_typed(a.dtype, [&](auto t) {
        using T = decltype(t);
        LAUNCH(add_kernel<T>, n, n, (const T *)a.p, (const T *)b.p, (T *)y.p);
    });
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
