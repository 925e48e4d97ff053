// cuda_transformer.cu — the transformer ops on the GPU (twin of cpu/cpu_transformer.c): batched GEMM
// through cublasSgemmStridedBatched, LayerNorm, GELU, row softmax, ViT token embedding and pooling,
// drop-path. Every reduction is deterministic: one block per row (apt_block_sum, fixed tree, float64), and
// the per-column parameter-gradient sums of LayerNorm and the embedding run one thread per column over
// the rows in order. No atomics.
#include "cuda_ops.cuh"
#include "cuda_transformer.cuh"

#include "backend/drop_path.h"

#define TR_THREADS 256
#define GRID_STRIDE(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)blockDim.x * gridDim.x)

static cudaStream_t stream_of(AptBackend *be) { return apt_cuda_impl(be)->stream; }

// Row-major C_i = op(A_i) op(B_i) is column-major C_iᵀ = op(B_i)ᵀ op(A_i)ᵀ: operands swapped, as apt_cuda_gemm.
static void cuda_gemm_batched(AptBackend *be, bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
                              int lda, long long sA, const float *B, int ldb, long long sB, float beta, float *C,
                              int ldc, long long sC, int batch) {
    if (M == 0 || N == 0 || batch == 0) return;
    CUBLAS_CHECK(cublasSgemmStridedBatched(apt_cuda_impl(be)->cublas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                           ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, B, ldb, sB, A, lda, sA,
                                           &beta, C, ldc, sC, batch));
}

__global__ void ln_fwd_kernel(int D, const float *x, const float *gamma, const float *beta, float eps, float *y,
                              float *mean, float *rstd) {
    __shared__ double sh[32];
    const size_t r = blockIdx.x;
    const float *xr = x + r * D;
    double s = 0;
    for (int d = threadIdx.x; d < D; d += blockDim.x) s += xr[d];
    const double mu = apt_block_sum(s, sh) / D;
    double ss = 0;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        double c = xr[d] - mu;
        ss += c * c;
    }
    ss = apt_block_sum(ss, sh);
    const float m = (float)mu, rs = (float)(1.0 / sqrt(ss / D + (double)eps));
    for (int d = threadIdx.x; d < D; d += blockDim.x) y[r * D + d] = (xr[d] - m) * rs * gamma[d] + beta[d];
    if (threadIdx.x == 0) {
        mean[r] = m;
        rstd[r] = rs;
    }
}

__global__ void ln_bwd_dx_kernel(int D, const float *x, const float *dy, const float *gamma, const float *mean,
                                 const float *rstd, float *dx) {
    __shared__ double sh[32];
    const size_t r = blockIdx.x;
    const float *xr = x + r * D, *gr = dy + r * D;
    const float m = mean[r], rs = rstd[r];
    double sg = 0, sgx = 0;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        double g = (double)gr[d] * gamma[d];
        sg += g;
        sgx += g * ((xr[d] - m) * rs);
    }
    sg = apt_block_sum(sg, sh);
    sgx = apt_block_sum(sgx, sh);
    const float a = (float)(sg / D), b = (float)(sgx / D);
    for (int d = threadIdx.x; d < D; d += blockDim.x) dx[r * D + d] = rs * (gr[d] * gamma[d] - a - (xr[d] - m) * rs * b);
}

// One thread per column, rows in order: the same sums every run.
__global__ void ln_bwd_params_kernel(int R, int D, const float *x, const float *dy, const float *mean,
                                     const float *rstd, float *dgamma, float *dbeta) {
    const int d = blockIdx.x * blockDim.x + threadIdx.x;
    if (d >= D) return;
    double sg = 0, sb = 0;
    for (int r = 0; r < R; r++) {
        const size_t i = (size_t)r * D + d;
        sg += (double)dy[i] * ((x[i] - mean[r]) * rstd[r]);
        sb += dy[i];
    }
    if (dgamma) dgamma[d] += (float)sg;
    if (dbeta) dbeta[d] += (float)sb;
}

static void cuda_layernorm_forward(AptBackend *be, int R, int D, const float *x, const float *gamma,
                                   const float *beta, float eps, float *y, float *mean, float *rstd) {
    if (R == 0) return;
    ln_fwd_kernel<<<R, 128, 0, stream_of(be)>>>(D, x, gamma, beta, eps, y, mean, rstd);
    CUDA_CHECK_LAUNCH();
}

static void cuda_layernorm_backward(AptBackend *be, int R, int D, const float *x, const float *dy,
                                    const float *gamma, const float *mean, const float *rstd, float *dx,
                                    float *dgamma, float *dbeta) {
    if (R == 0) return;
    if (dx) {
        ln_bwd_dx_kernel<<<R, 128, 0, stream_of(be)>>>(D, x, dy, gamma, mean, rstd, dx);
        CUDA_CHECK_LAUNCH();
    }
    if (dgamma || dbeta) {
        ln_bwd_params_kernel<<<APT_CEIL_DIV(D, 128), 128, 0, stream_of(be)>>>(R, D, x, dy, mean, rstd, dgamma, dbeta);
        CUDA_CHECK_LAUNCH();
    }
}

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

__global__ void gelu_fwd_kernel(size_t n, const float *x, float *y) {
    GRID_STRIDE(i, n) {
        const float v = x[i];
        y[i] = 0.5f * v * (1.0f + erff(v * INV_SQRT2));
    }
}
__global__ void gelu_bwd_kernel(size_t n, const float *x, const float *dy, float *dx) {
    GRID_STRIDE(i, n) {
        const float v = x[i];
        const float cdf = 0.5f * (1.0f + erff(v * INV_SQRT2)), pdf = INV_SQRT_2PI * expf(-0.5f * v * v);
        dx[i] = dy[i] * (cdf + v * pdf);
    }
}

static void cuda_gelu_forward(AptBackend *be, size_t n, const float *x, float *y) {
    if (!n) return;
    gelu_fwd_kernel<<<apt_cuda_grid_1d(n, TR_THREADS), TR_THREADS, 0, stream_of(be)>>>(n, x, y);
    CUDA_CHECK_LAUNCH();
}
static void cuda_gelu_backward(AptBackend *be, size_t n, const float *x, const float *dy, float *dx) {
    if (!n) return;
    gelu_bwd_kernel<<<apt_cuda_grid_1d(n, TR_THREADS), TR_THREADS, 0, stream_of(be)>>>(n, x, dy, dx);
    CUDA_CHECK_LAUNCH();
}

// Block max in a fixed tree (max is exact in any order anyway).
__device__ float block_max(float v, float *sh) {
    for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    float r = sh[0];
    for (int w = 1; w < nw; w++) r = fmaxf(r, sh[w]);
    __syncthreads();
    return r;
}

__global__ void softmax_fwd_kernel(int L, const float *x, float *y) {
    __shared__ float shm[32];
    __shared__ double sh[32];
    const size_t r = blockIdx.x;
    const float *xr = x + r * L;
    float *yr = y + r * L;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < L; j += blockDim.x) mx = fmaxf(mx, xr[j]);
    mx = block_max(mx, shm);
    double s = 0;
    for (int j = threadIdx.x; j < L; j += blockDim.x) {
        const float e = expf(xr[j] - mx);
        yr[j] = e;
        s += e;
    }
    const float inv = (float)(1.0 / apt_block_sum(s, sh));
    for (int j = threadIdx.x; j < L; j += blockDim.x) yr[j] *= inv;
}

__global__ void softmax_bwd_kernel(int L, const float *y, const float *dy, float *dx) {
    __shared__ double sh[32];
    const size_t r = blockIdx.x;
    const float *yr = y + r * L, *gr = dy + r * L;
    double s = 0;
    for (int j = threadIdx.x; j < L; j += blockDim.x) s += (double)yr[j] * gr[j];
    const float sf = (float)apt_block_sum(s, sh);
    for (int j = threadIdx.x; j < L; j += blockDim.x) dx[r * L + j] = yr[j] * (gr[j] - sf);
}

static void cuda_softmax_forward(AptBackend *be, int R, int L, const float *x, float *y) {
    if (R == 0) return;
    softmax_fwd_kernel<<<R, 64, 0, stream_of(be)>>>(L, x, y);
    CUDA_CHECK_LAUNCH();
}
static void cuda_softmax_backward(AptBackend *be, int R, int L, const float *y, const float *dy, float *dx) {
    if (R == 0) return;
    softmax_bwd_kernel<<<R, 64, 0, stream_of(be)>>>(L, y, dy, dx);
    CUDA_CHECK_LAUNCH();
}

// y [n, T, D], one thread per output element.
__global__ void embed_fwd_kernel(size_t total, int P, int D, const float *patch, const float *cls, const float *pos,
                                 float *y) {
    const int T = P + 1;
    GRID_STRIDE(i, total) {
        const int d = (int)(i % D);
        const size_t st = i / D;
        const int t = (int)(st % T);
        const size_t s = st / T;
        y[i] = (t == 0 ? cls[d] : patch[(s * D + d) * P + (t - 1)]) + pos[(size_t)t * D + d];
    }
}
// dpatch [n, D, P], one thread per element.
__global__ void embed_bwd_patch_kernel(size_t total, int P, int D, const float *dy, float *dpatch) {
    const int T = P + 1;
    GRID_STRIDE(i, total) {
        const int p = (int)(i % P);
        const size_t sd = i / P;
        const int d = (int)(sd % D);
        const size_t s = sd / D;
        dpatch[i] = dy[(s * T + 1 + p) * D + d];
    }
}
// One thread per (t, d), samples in order.
__global__ void embed_bwd_params_kernel(int n, int T, int D, const float *dy, float *dcls, float *dpos) {
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)T * D) return;
    double acc = 0;
    for (int s = 0; s < n; s++) acc += dy[(size_t)s * T * D + i];
    if (dpos) dpos[i] += (float)acc;
    if (dcls && i < (size_t)D) dcls[i] += (float)acc;
}

static void cuda_vit_embed_forward(AptBackend *be, int n, int P, int D, const float *patch, const float *cls,
                                   const float *pos, float *y) {
    const size_t total = (size_t)n * (P + 1) * D;
    if (!total) return;
    embed_fwd_kernel<<<apt_cuda_grid_1d(total, TR_THREADS), TR_THREADS, 0, stream_of(be)>>>(total, P, D, patch, cls,
                                                                                             pos, y);
    CUDA_CHECK_LAUNCH();
}
static void cuda_vit_embed_backward(AptBackend *be, int n, int P, int D, const float *dy, float *dpatch, float *dcls,
                                    float *dpos) {
    const size_t total = (size_t)n * D * P, td = (size_t)(P + 1) * D;
    if (dpatch && total) {
        embed_bwd_patch_kernel<<<apt_cuda_grid_1d(total, TR_THREADS), TR_THREADS, 0, stream_of(be)>>>(total, P, D,
                                                                                                       dy, dpatch);
        CUDA_CHECK_LAUNCH();
    }
    if (dcls || dpos) {
        embed_bwd_params_kernel<<<APT_CEIL_DIV(td, 128), 128, 0, stream_of(be)>>>(n, P + 1, D, dy, dcls, dpos);
        CUDA_CHECK_LAUNCH();
    }
}

// y [n, D], one thread per output; the mean sums tokens in order.
__global__ void pool_fwd_kernel(int n, int T, int D, int mean, const float *x, float *y) {
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)n * D) return;
    const size_t s = i / D;
    const int d = (int)(i % D);
    const float *xs = x + s * T * D;
    if (!mean) {
        y[i] = xs[d];
        return;
    }
    double acc = 0;
    for (int t = 1; t < T; t++) acc += xs[(size_t)t * D + d];
    y[i] = (float)(acc / (T - 1));
}
__global__ void pool_bwd_kernel(size_t total, int T, int D, int mean, const float *dy, float *dx) {
    const float w = mean ? 1.0f / (float)(T - 1) : 0.0f;
    GRID_STRIDE(i, total) {
        const int d = (int)(i % D);
        const size_t st = i / D;
        const int t = (int)(st % T);
        const size_t s = st / T;
        const float g = dy[s * D + d];
        dx[i] = t == 0 ? (mean ? 0.0f : g) : g * w;
    }
}

static void cuda_token_pool_forward(AptBackend *be, int n, int T, int D, bool mean, const float *x, float *y) {
    const size_t total = (size_t)n * D;
    if (!total) return;
    pool_fwd_kernel<<<APT_CEIL_DIV(total, 128), 128, 0, stream_of(be)>>>(n, T, D, mean ? 1 : 0, x, y);
    CUDA_CHECK_LAUNCH();
}
static void cuda_token_pool_backward(AptBackend *be, int n, int T, int D, bool mean, const float *dy, float *dx) {
    const size_t total = (size_t)n * T * D;
    if (!total) return;
    pool_bwd_kernel<<<apt_cuda_grid_1d(total, TR_THREADS), TR_THREADS, 0, stream_of(be)>>>(total, T, D, mean ? 1 : 0,
                                                                                            dy, dx);
    CUDA_CHECK_LAUNCH();
}

__global__ void drop_path_kernel(size_t total, size_t len, float p, uint64_t seed, uint32_t epoch, uint32_t step,
                                 uint32_t sample0, uint32_t layer, const float *x, float *y) {
    GRID_STRIDE(i, total) {
        const uint32_t s = (uint32_t)(i / len);
        y[i] = x[i] * apt_drop_path_factor(p, seed, epoch, step, sample0 + s, layer);
    }
}

static void cuda_drop_path(AptBackend *be, int n, size_t len, float p, uint64_t seed, uint32_t epoch, uint32_t step,
                           uint32_t sample0, uint32_t layer, const float *x, float *y) {
    const size_t total = (size_t)n * len;
    if (!total) return;
    drop_path_kernel<<<apt_cuda_grid_1d(total, TR_THREADS), TR_THREADS, 0, stream_of(be)>>>(
        total, len, p, seed, epoch, step, sample0, layer, x, y);
    CUDA_CHECK_LAUNCH();
}

void apt_cuda_transformer_register(AptBackend *be) {
    be->gemm_batched = cuda_gemm_batched;
    be->layernorm_forward = cuda_layernorm_forward;
    be->layernorm_backward = cuda_layernorm_backward;
    be->gelu_forward = cuda_gelu_forward;
    be->gelu_backward = cuda_gelu_backward;
    be->softmax_forward = cuda_softmax_forward;
    be->softmax_backward = cuda_softmax_backward;
    be->vit_embed_forward = cuda_vit_embed_forward;
    be->vit_embed_backward = cuda_vit_embed_backward;
    be->token_pool_forward = cuda_token_pool_forward;
    be->token_pool_backward = cuda_token_pool_backward;
    be->drop_path = cuda_drop_path;
}
