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

#define SE_LAUNCH(kernel, n, ...) APT_CUDA_LAUNCH(SE_THREADS, kernel, n, __VA_ARGS__)

void apt_cuda_sigmoid_forward(AptBackend *be, size_t n, const float *x, float *y) {
    SE_LAUNCH(sigmoid_fwd_kernel, n, n, x, y);
}
void apt_cuda_sigmoid_backward(AptBackend *be, size_t n, const float *y, const float *dy, float *dx) {
    SE_LAUNCH(sigmoid_bwd_kernel, n, n, y, dy, dx);
}
// The ops on views: T the storage type of x (and y): float, or uint16_t for the bf16 chain; s, ds, dy and
// dx fp32 in either form.
void apt_cuda_chscale_forward(AptBackend *be, int N, int C, int HW, AptTensor x, const float *s,
                              AptTensor y) {
    const AptDType dt = apt_cuda_form("chscale_forward", "x", x);
    apt_cuda_act("chscale_forward", "y", y, dt);
    size_t n = (size_t)N * C * HW;
    apt_cuda_typed(dt, [&](auto t) {
        using T = decltype(t);
        APT_CUDA_LAUNCH_I(SE_THREADS, chscale_fwd_kernel, n, n, HW, (const T *)x.p, s, (T *)y.p);
    });
}
void apt_cuda_chscale_backward(AptBackend *be, int N, int C, int HW, AptTensor x, const float *s,
                               AptTensor dy, AptTensor dx, float *ds) {
    const AptDType dt = apt_cuda_form("chscale_backward", "x", x);
    apt_cuda_grad("chscale_backward", "dy", dy);
    apt_cuda_grad("chscale_backward", "dx", dx);
    size_t n = (size_t)N * C * HW, planes = (size_t)N * C;
    if (n == 0) return;
    if (ds) { // before dx: dx may alias dy
        size_t threads = planes * 32;
        apt_cuda_typed(dt, [&](auto t) {
            using T = decltype(t);
            SE_LAUNCH(chscale_ds_kernel<T>, threads, planes, HW, (const T *)x.p, (const float *)dy.p, ds);
        });
    }
    if (dx.p)
        APT_CUDA_LAUNCH_I(SE_THREADS, chscale_dx_kernel, n, n, HW, (const float *)dy.p, s, (float *)dx.p);
}
