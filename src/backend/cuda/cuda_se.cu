// cuda_se.cu — the squeeze-excitation ops (twin of cpu/cpu_se.c): sigmoid gate and per-channel scale.
//   x, y, dy, dx: [N, C, HW] NCHW float32; s, ds: [N, C].
// Every output element is written by one thread; ds is a fixed-order warp reduction in float64, so the
// results are the same bits run to run.
#include "cuda_ops.cuh"

#define SE_THREADS 256
#define SE_GRID_STRIDE(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)blockDim.x * gridDim.x)

__global__ void sigmoid_fwd_kernel(size_t n, const float *x, float *y) {
    SE_GRID_STRIDE(i, n) y[i] = 1.0f / (1.0f + expf(-x[i]));
}
__global__ void sigmoid_bwd_kernel(size_t n, const float *y, const float *dy, float *dx) {
    SE_GRID_STRIDE(i, n) { float v = y[i]; dx[i] = dy[i] * v * (1.0f - v); }
}
// T: float, or uint16_t for the bf16 activation chain (apt_ld / apt_st, cuda_common.cuh).
template <typename I, typename T> __global__ void chscale_fwd_kernel(I n, int HW, const T *x, const float *s, T *y) {
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x)
        apt_st(y, (size_t)i, apt_ld(x, (size_t)i) * s[i / (I)HW]);
}
template <typename I> __global__ void chscale_dx_kernel(I n, int HW, const float *dy, const float *s, float *dx) {
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x)
        dx[i] = dy[i] * s[i / (I)HW];
}
// One warp per plane: lane l sums elements l, l + 32, ... in float64, then a fixed butterfly.
template <typename T> __global__ void chscale_ds_kernel(size_t planes, int HW, const T *x, const float *dy, float *ds) {
    const int lane = threadIdx.x & 31, warps = blockDim.x / 32;
    for (size_t pl = (size_t)blockIdx.x * warps + threadIdx.x / 32; pl < planes; pl += (size_t)gridDim.x * warps) {
        const T *xp = x + pl * HW;
        const float *dyp = dy + pl * HW;
        double acc = 0;
        for (int i = lane; i < HW; i += 32) acc += (double)dyp[i] * apt_ld(xp, (size_t)i);
        for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
        if (lane == 0) ds[pl] = (float)acc;
    }
}

#define SE_LAUNCH(kernel, n, ...)                                                                            \
    do {                                                                                                     \
        if ((n) == 0) return;                                                                                \
        kernel<<<apt_cuda_grid_1d((n), SE_THREADS), SE_THREADS, 0, apt_cuda_impl(be)->stream>>>(__VA_ARGS__); \
        CUDA_CHECK_LAUNCH();                                                                                 \
    } while (0)

void apt_cuda_sigmoid_forward(AptBackend *be, size_t n, const float *x, float *y) {
    SE_LAUNCH(sigmoid_fwd_kernel, n, n, x, y);
}
void apt_cuda_sigmoid_backward(AptBackend *be, size_t n, const float *y, const float *dy, float *dx) {
    SE_LAUNCH(sigmoid_bwd_kernel, n, n, y, dy, dx);
}
void apt_cuda_chscale_forward(AptBackend *be, int N, int C, int HW, const float *x, const float *s, float *y) {
    size_t n = (size_t)N * C * HW;
    if (apt_cuda_idx32(n)) SE_LAUNCH(chscale_fwd_kernel<uint32_t>, n, (uint32_t)n, HW, x, s, y);
    else SE_LAUNCH(chscale_fwd_kernel<size_t>, n, n, HW, x, s, y);
}
void apt_cuda_chscale_backward(AptBackend *be, int N, int C, int HW, const float *x, const float *s,
                               const float *dy, float *dx, float *ds) {
    size_t n = (size_t)N * C * HW, planes = (size_t)N * C;
    if (n == 0) return;
    if (ds) { // before dx: dx may alias dy
        size_t threads = planes * 32;
        SE_LAUNCH(chscale_ds_kernel<float>, threads, planes, HW, x, dy, ds);
    }
    if (dx) {
        if (apt_cuda_idx32(n)) SE_LAUNCH(chscale_dx_kernel<uint32_t>, n, (uint32_t)n, HW, dy, s, dx);
        else SE_LAUNCH(chscale_dx_kernel<size_t>, n, n, HW, dy, s, dx);
    }
}

// ---- the bf16 activation chain (backend.h), NCHW on CUDA: x (and y) bf16, gradients fp32 ----
void apt_cuda_chscale_forward_bf16(AptBackend *be, int N, int C, int HW, const uint16_t *x, const float *s,
                                   uint16_t *y) {
    size_t n = (size_t)N * C * HW;
    if (apt_cuda_idx32(n)) SE_LAUNCH(chscale_fwd_kernel<uint32_t>, n, (uint32_t)n, HW, x, s, y);
    else SE_LAUNCH(chscale_fwd_kernel<size_t>, n, n, HW, x, s, y);
}
void apt_cuda_chscale_backward_bf16(AptBackend *be, int N, int C, int HW, const uint16_t *x, const float *s,
                                    const float *dy, float *dx, float *ds) {
    size_t n = (size_t)N * C * HW, planes = (size_t)N * C;
    if (n == 0) return;
    if (ds) { // before dx: dx may alias dy
        size_t threads = planes * 32;
        SE_LAUNCH(chscale_ds_kernel<uint16_t>, threads, planes, HW, x, dy, ds);
    }
    if (dx) {
        if (apt_cuda_idx32(n)) SE_LAUNCH(chscale_dx_kernel<uint32_t>, n, (uint32_t)n, HW, dy, s, dx);
        else SE_LAUNCH(chscale_dx_kernel<size_t>, n, n, HW, dy, s, dx);
    }
}
