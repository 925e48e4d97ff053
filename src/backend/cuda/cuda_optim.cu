// cuda_optim.cu — optimizer updates and precision casts on flat device ranges: the twins of
// the cpu table's sgd_update / adam_update (src/backend/cpu/cpu_optim.c), same formulas and the same float64
// scalar preparation, one thread per element (no reductions, so trivially reproducible).
#include <math.h>
#include <stdint.h>

#include "cuda_backend.h"
#include "cuda_common.cuh"

__global__ void sgd_kernel(float *w, const float *g, float *buf, size_t n, float lr, float wd, float mu, int nesterov) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)blockDim.x * gridDim.x) {
        const float d = g[i] + wd * w[i];
        if (mu == 0.0f) {
            w[i] -= lr * d;
            continue;
        }
        const float b = mu * buf[i] + d;
        buf[i] = b;
        w[i] -= lr * (nesterov ? d + mu * b : b);
    }
}

__global__ void adam_kernel(float *w, const float *g, float *m, float *v, size_t n, float b1, float b2, float eps,
                            float wd_coupled, float decay_mul, float step_size, float bc2_sqrt) {
    const float c1 = 1.0f - b1, c2 = 1.0f - b2;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)blockDim.x * gridDim.x) {
        const float wi = w[i] * decay_mul;
        const float d = g[i] + wd_coupled * wi;
        const float mi = b1 * m[i] + c1 * d;
        const float vi = b2 * v[i] + c2 * d * d;
        m[i] = mi;
        v[i] = vi;
        w[i] = wi - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
    }
}

__global__ void f32_to_bf16_kernel(const float *x, __nv_bfloat16 *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)blockDim.x * gridDim.x)
        y[i] = __float2bfloat16_rn(x[i]);
}

__global__ void bf16_to_f32_kernel(const __nv_bfloat16 *x, float *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)blockDim.x * gridDim.x)
        y[i] = __bfloat162float(x[i]);
}

extern "C" void apt_cuda_optim_sgd_update(void *stream, float *w, const float *g, float *buf, size_t n, float lr,
                                          float wd, float mu, bool nesterov) {
    if (!n) return;
    sgd_kernel<<<apt_cuda_grid_1d(n, 256), 256, 0, (cudaStream_t)stream>>>(w, g, buf, n, lr, wd, mu, nesterov ? 1 : 0);
    CUDA_CHECK_LAUNCH();
}

extern "C" void apt_cuda_optim_adam_update(void *stream, float *w, const float *g, float *m, float *v, size_t n,
                                           float lr, float b1, float b2, float eps, float wd, bool decoupled, long t) {
    if (!n) return;
    // Scalars in float64, rounded once to float32, exactly as the CPU update prepares them.
    const double bc1 = 1.0 - pow((double)b1, (double)t), bc2 = 1.0 - pow((double)b2, (double)t);
    const float step_size = (float)((double)lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float wd_coupled = decoupled ? 0.0f : wd;
    const float decay_mul = decoupled ? (float)(1.0 - (double)lr * (double)wd) : 1.0f;
    adam_kernel<<<apt_cuda_grid_1d(n, 256), 256, 0, (cudaStream_t)stream>>>(w, g, m, v, n, b1, b2, eps, wd_coupled,
                                                                            decay_mul, step_size, bc2_sqrt);
    CUDA_CHECK_LAUNCH();
}

extern "C" void apt_cuda_cast_f32_to_bf16(void *stream, const float *x, uint16_t *y, size_t n) {
    if (!n) return;
    f32_to_bf16_kernel<<<apt_cuda_grid_1d(n, 256), 256, 0, (cudaStream_t)stream>>>(x, (__nv_bfloat16 *)y, n);
    CUDA_CHECK_LAUNCH();
}

extern "C" void apt_cuda_cast_bf16_to_f32(void *stream, const uint16_t *x, float *y, size_t n) {
    if (!n) return;
    bf16_to_f32_kernel<<<apt_cuda_grid_1d(n, 256), 256, 0, (cudaStream_t)stream>>>((const __nv_bfloat16 *)x, y, n);
    CUDA_CHECK_LAUNCH();
}
