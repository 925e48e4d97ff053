// cuda_step.cu — the step-tail ops of the CUDA table, twins of src/backend/cpu/cpu_step.c, cpu_optim.c and
// cpu_loss.c: float64 fill, precision casts, the sum of squares of the gradient norm (deterministic: a
// fixed number of chunks, each summed by one block in a fixed tree, then the chunks in index order),
// the finite flag, the optimizer updates (cuda_optim.cu kernels) and the ranking loss (cuda_loss.cu).
#include "backend/cuda/cuda_backend.h"
#include "cuda_ops.cuh"
#include "backend/cuda/cuda_loss.h"

#define STEP_THREADS 256
#define SUMSQ_CHUNKS 64 // fixed: the partition depends only on n, never on the device

__global__ void fill_f64_kernel(size_t n, double v, double *x) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)blockDim.x * gridDim.x)
        x[i] = v;
}

// Block c sums x[c * chunk, (c + 1) * chunk) in double: thread t takes elements t, t + 256, ... of the
// chunk, then the block tree combines the threads in a fixed order.
__global__ void sumsq_chunks_kernel(size_t n, size_t chunk, const float *x, double *partial) {
    __shared__ double sh[32];
    const size_t lo = blockIdx.x * chunk, hi = lo + chunk < n ? lo + chunk : n;
    double acc = 0.0;
    for (size_t i = lo + threadIdx.x; i < hi; i += blockDim.x) acc += (double)x[i] * (double)x[i];
    acc = apt_block_sum(acc, sh);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void sumsq_finish_kernel(const double *partial, int nchunks, double *out, int accumulate) {
    double s = 0.0;
    for (int c = 0; c < nchunks; c++) s += partial[c];
    *out = accumulate ? *out + s : s;
}

__global__ void finite_kernel(size_t n, const float *x, double *flag) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)blockDim.x * gridDim.x)
        if (!isfinite(x[i])) *flag = 0.0; // every writer writes the same value: no race on the result
}

void apt_cuda_fill_f64(AptBackend *be, size_t n, double value, double *x) {
    if (!n) return;
    fill_f64_kernel<<<apt_cuda_grid_1d(n, STEP_THREADS), STEP_THREADS, 0, apt_cuda_impl(be)->stream>>>(n, value, x);
    CUDA_CHECK_LAUNCH();
}

void apt_cuda_cast_f32_bf16(AptBackend *be, size_t n, const float *x, uint16_t *y) {
    apt_cuda_cast_f32_to_bf16(apt_cuda_impl(be)->stream, x, y, n);
}

void apt_cuda_cast_bf16_f32(AptBackend *be, size_t n, const uint16_t *x, float *y) {
    apt_cuda_cast_bf16_to_f32(apt_cuda_impl(be)->stream, x, y, n);
}

void apt_cuda_sumsq(AptBackend *be, size_t n, const float *x, double *out, bool accumulate) {
    AptCudaImpl *m = apt_cuda_impl(be);
    const size_t chunk = n ? (n + SUMSQ_CHUNKS - 1) / SUMSQ_CHUNKS : 1;
    const int nchunks = n ? (int)((n + chunk - 1) / chunk) : 0;
    if (nchunks) {
        sumsq_chunks_kernel<<<nchunks, STEP_THREADS, 0, m->stream>>>(n, chunk, x, m->red);
        CUDA_CHECK_LAUNCH();
    }
    sumsq_finish_kernel<<<1, 1, 0, m->stream>>>(m->red, nchunks, out, accumulate ? 1 : 0);
    CUDA_CHECK_LAUNCH();
}

void apt_cuda_finite_check(AptBackend *be, size_t n, const float *x, double *flag) {
    if (!n) return;
    finite_kernel<<<apt_cuda_grid_1d(n, STEP_THREADS), STEP_THREADS, 0, apt_cuda_impl(be)->stream>>>(n, x, flag);
    CUDA_CHECK_LAUNCH();
}

void apt_cuda_sgd_update(AptBackend *be, float *w, const float *g, float *buf, size_t n, float lr, float wd,
                         float mu, bool nesterov) {
    apt_cuda_optim_sgd_update(apt_cuda_impl(be)->stream, w, g, buf, n, lr, wd, mu, nesterov);
}

void apt_cuda_adam_update(AptBackend *be, float *w, const float *g, float *m, float *v, size_t n, float lr,
                          float b1, float b2, float eps, float wd, bool decoupled, long t) {
    apt_cuda_optim_adam_update(apt_cuda_impl(be)->stream, w, g, m, v, n, lr, b1, b2, eps, wd, decoupled, t);
}

// Only Smooth-AP and the PNP family have fused kernels; *ws = NULL tells the caller to refuse the rest.
void apt_cuda_loss_create(AptBackend *be, const struct AptLossParams *p, int b_max, int B_max, int D_max,
                          int m_max, void **ws) {
    *ws = NULL;
    if (!apt_loss_cuda_supports(p)) return;
    *ws = apt_loss_cuda_workspace_create(b_max, B_max, D_max, m_max > 0 ? m_max : B_max, 0,
                                         (void *)apt_cuda_impl(be)->stream);
}

void apt_cuda_loss_free(AptBackend *be, void *ws) {
    (void)be;
    apt_loss_cuda_workspace_free((AptLossCudaWorkspace *)ws);
}

void apt_cuda_loss_compute(AptBackend *be, void *ws, const struct AptLossParams *p, const float *E,
                           const int *labels, int B, int D, int q_begin, int q_end, float *dE, double *loss_part) {
    AptLossCudaWorkspace *w = (AptLossCudaWorkspace *)ws;
    AptLossIn in = {};
    in.E = E, in.labels = labels, in.B = B, in.D = D, in.q_begin = q_begin, in.q_end = q_end;
    in.M = p->memory_rows; // cross-batch memory rows after the batch (loss_types.h)
    AptLossOut out = {};
    out.dE = dE;
    apt_loss_compute_cuda_async(w, p, &in, &out);
    CUDA_CHECK(cudaMemcpyAsync(loss_part, apt_loss_cuda_loss_dev(w), sizeof(double), cudaMemcpyDeviceToDevice,
                               apt_cuda_impl(be)->stream));
}
