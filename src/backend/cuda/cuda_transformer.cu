// cuda_transformer.cu — the transformer ops on the GPU (twin of cpu/cpu_transformer.c): batched GEMM
// through cublasSgemmStridedBatched, LayerNorm, GELU, row softmax, ViT token embedding and pooling,
// drop-path. Every reduction is deterministic: one block per row (apt_block_sum, fixed tree, float64), and
// the per-column parameter-gradient sums of LayerNorm and the embedding run one thread per column over
// the rows in order. No atomics.
// Views (backend.h): kernels are templated on the storage type of each activation argument (float or
// uint16_t bf16; apt_ld widens exactly, apt_st rounds once), one launcher per kernel family choosing the
// instantiation from the views' dtypes (apt_cuda_typed). GEMMs with every operand fp32 stay on cuBLAS
// (the same calls as before views); a GEMM with any bf16 operand runs gemm_tiled_kernel (shared-memory
// tiles, fp32 accumulation, the bias and the rounding in its epilogue): correct for every mix of
// dtypes, not tuned. A cuBLAS route for the bf16 GEMMs (bf16 weight copies, cublasGemmStridedBatchedEx
// on tensor cores) is the next step for speed.
#include "cuda_ops.cuh"
#include "cuda_transformer.cuh"

#include "backend/drop_path.h"
#include "core/check.h"

#define TR_THREADS 256
#define GRID_STRIDE(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)blockDim.x * gridDim.x)

static cudaStream_t stream_of(AptBackend *be) { return apt_cuda_impl(be)->stream; }

// The dtypes the transformer ops take (absent views pass).
static void want(const char *op, const char *arg, AptTensor t) {
    if (t.p && t.dtype != APT_F32 && t.dtype != APT_BF16)
        apt_fatal(__FILE__, __LINE__, "%s: %s is %s; the transformer ops take fp32 or bf16", op, arg,
                  apt_dtype_name(t.dtype));
}
// f(TX(), TY()) with the storage types of two views.
template <typename F> static inline void typed2(AptDType a, AptDType b, F &&f) {
    apt_cuda_typed(a, [&](auto ta) { apt_cuda_typed(b, [&](auto tb) { f(ta, tb); }); });
}

#define GT 16 // tile edge of gemm_tiled_kernel
// C_z = alpha op(A_z) op(B_z) + beta C_z (+ bias) for z = blockIdx.z; one thread per element of C, fp32
// accumulation over K in index order (tiles of GT), so every run gives the same bits.
template <typename TA, typename TB, typename TC>
__global__ void gemm_tiled_kernel(bool ta, bool tb, int M, int N, int K, float alpha, const TA *A, int lda,
                                  long long sA, const TB *B, int ldb, long long sB, float beta, TC *C, int ldc,
                                  long long sC, const float *bias) {
    __shared__ float As[GT][GT + 1], Bs[GT][GT + 1];
    A += blockIdx.z * sA, B += blockIdx.z * sB, C += blockIdx.z * sC;
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int row = blockIdx.y * GT + ty, col = blockIdx.x * GT + tx;
    float acc = 0.0f;
    for (int k0 = 0; k0 < K; k0 += GT) {
        const int ka = k0 + tx, kb = k0 + ty;
        As[ty][tx] = row < M && ka < K ? apt_ld(A, ta ? (size_t)ka * lda + row : (size_t)row * lda + ka) : 0.0f;
        Bs[ty][tx] = kb < K && col < N ? apt_ld(B, tb ? (size_t)col * ldb + kb : (size_t)kb * ldb + col) : 0.0f;
        __syncthreads();
        for (int k = 0; k < GT; k++) acc += As[ty][k] * Bs[k][tx];
        __syncthreads();
    }
    if (row >= M || col >= N) return;
    const size_t ci = (size_t)row * ldc + col;
    float v = alpha * acc;
    if (beta != 0.0f) v += beta * apt_ld(C, ci);
    if (bias) v += bias[col];
    apt_st(C, ci, v);
}

// Row-major C_i = op(A_i) op(B_i) is column-major C_iᵀ = op(B_i)ᵀ op(A_i)ᵀ: operands swapped, as apt_cuda_gemm.
static void cuda_gemm_batched(AptBackend *be, bool ta, bool tb, int M, int N, int K, float alpha, AptTensor A,
                              int lda, long long sA, AptTensor B, int ldb, long long sB, float beta, AptTensor C,
                              int ldc, long long sC, int batch, const float *bias) {
    want("gemm_batched", "A", A), want("gemm_batched", "B", B), want("gemm_batched", "C", C);
    if (bias && beta != 0.0f) apt_fatal(__FILE__, __LINE__, "gemm_batched: a bias needs beta 0 (got %g)", beta);
    if (M == 0 || N == 0 || batch == 0) return;
    const bool f32 = A.dtype == APT_F32 && B.dtype == APT_F32 && C.dtype == APT_F32;
    if (f32 && batch == 1 && (!bias || ldc == N)) { // the token linears: linear_forward's calls
        if (bias) apt_cuda_bias_rows(be, M, N, 1, bias, (float *)C.p);
        apt_cuda_gemm_f32(be, ta, tb, M, N, K, alpha, (const float *)A.p, lda, (const float *)B.p, ldb,
                          bias ? 1.0f : beta, (float *)C.p, ldc);
        return;
    }
    if (f32 && !bias) {
        CUBLAS_CHECK(cublasSgemmStridedBatched(apt_cuda_impl(be)->cublas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                               ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, (const float *)B.p,
                                               ldb, sB, (const float *)A.p, lda, sA, &beta, (float *)C.p, ldc, sC,
                                               batch));
        return;
    }
    APT_CHECK(batch <= 65535, "gemm_batched: batch %d above the grid's 65535", batch);
    const dim3 block(GT, GT), grid(APT_CEIL_DIV(N, GT), APT_CEIL_DIV(M, GT), batch);
    typed2(A.dtype, B.dtype, [&](auto a0, auto b0) {
        using TA = decltype(a0);
        using TB = decltype(b0);
        apt_cuda_typed(C.dtype, [&](auto c0) {
            using TC = decltype(c0);
            gemm_tiled_kernel<TA, TB, TC><<<grid, block, 0, stream_of(be)>>>(
                ta, tb, M, N, K, alpha, (const TA *)A.p, lda, sA, (const TB *)B.p, ldb, sB, beta, (TC *)C.p, ldc, sC,
                bias);
            CUDA_CHECK_LAUNCH();
        });
    });
}

template <typename TX, typename TY>
__global__ void ln_fwd_kernel(int D, const TX *x, const float *gamma, const float *beta, float eps, TY *y,
                              float *mean, float *rstd) {
    __shared__ double sh[32];
    const size_t r = blockIdx.x;
    const TX *xr = x + r * D;
    double s = 0;
    for (int d = threadIdx.x; d < D; d += blockDim.x) s += apt_ld(xr, d);
    const double mu = apt_block_sum(s, sh) / D;
    double ss = 0;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        double c = apt_ld(xr, d) - mu;
        ss += c * c;
    }
    ss = apt_block_sum(ss, sh);
    const float m = (float)mu, rs = (float)(1.0 / sqrt(ss / D + (double)eps));
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        apt_st(y, r * D + d, (apt_ld(xr, d) - m) * rs * gamma[d] + beta[d]);
    if (threadIdx.x == 0) {
        mean[r] = m;
        rstd[r] = rs;
    }
}

template <typename TX>
__global__ void ln_bwd_dx_kernel(int D, const TX *x, const float *dy, const float *gamma, const float *mean,
                                 const float *rstd, float *dx) {
    __shared__ double sh[32];
    const size_t r = blockIdx.x;
    const TX *xr = x + r * D;
    const float *gr = dy + r * D;
    const float m = mean[r], rs = rstd[r];
    double sg = 0, sgx = 0;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        double g = (double)gr[d] * gamma[d];
        sg += g;
        sgx += g * ((apt_ld(xr, d) - m) * rs);
    }
    sg = apt_block_sum(sg, sh);
    sgx = apt_block_sum(sgx, sh);
    const float a = (float)(sg / D), b = (float)(sgx / D);
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        dx[r * D + d] = rs * (gr[d] * gamma[d] - a - (apt_ld(xr, d) - m) * rs * b);
}

// One thread per column, rows in order: the same sums every run.
template <typename TX>
__global__ void ln_bwd_params_kernel(int R, int D, const TX *x, const float *dy, const float *mean,
                                     const float *rstd, float *dgamma, float *dbeta) {
    const int d = blockIdx.x * blockDim.x + threadIdx.x;
    if (d >= D) return;
    double sg = 0, sb = 0;
    for (int r = 0; r < R; r++) {
        const size_t i = (size_t)r * D + d;
        sg += (double)dy[i] * ((apt_ld(x, i) - mean[r]) * rstd[r]);
        sb += dy[i];
    }
    if (dgamma) dgamma[d] += (float)sg;
    if (dbeta) dbeta[d] += (float)sb;
}

static void cuda_layernorm_forward(AptBackend *be, int R, int D, AptTensor x, const float *gamma,
                                   const float *beta, float eps, AptTensor y, float *mean, float *rstd) {
    want("layernorm_forward", "x", x), want("layernorm_forward", "y", y);
    if (R == 0) return;
    typed2(x.dtype, y.dtype, [&](auto tx, auto ty) {
        using TX = decltype(tx);
        using TY = decltype(ty);
        ln_fwd_kernel<TX, TY><<<R, 128, 0, stream_of(be)>>>(D, (const TX *)x.p, gamma, beta, eps, (TY *)y.p, mean,
                                                            rstd);
        CUDA_CHECK_LAUNCH();
    });
}

static void cuda_layernorm_backward(AptBackend *be, int R, int D, AptTensor x, const float *dy,
                                    const float *gamma, const float *mean, const float *rstd, float *dx,
                                    float *dgamma, float *dbeta) {
    want("layernorm_backward", "x", x);
    if (R == 0) return;
    apt_cuda_typed(x.dtype, [&](auto t) {
        using TX = decltype(t);
        if (dx) {
            ln_bwd_dx_kernel<TX><<<R, 128, 0, stream_of(be)>>>(D, (const TX *)x.p, dy, gamma, mean, rstd, dx);
            CUDA_CHECK_LAUNCH();
        }
        if (dgamma || dbeta) {
            ln_bwd_params_kernel<TX><<<APT_CEIL_DIV(D, 128), 128, 0, stream_of(be)>>>(R, D, (const TX *)x.p, dy, mean,
                                                                                      rstd, dgamma, dbeta);
            CUDA_CHECK_LAUNCH();
        }
    });
}

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

template <typename TX, typename TY> __global__ void gelu_fwd_kernel(size_t n, const TX *x, TY *y) {
    GRID_STRIDE(i, n) {
        const float v = apt_ld(x, i);
        apt_st(y, i, 0.5f * v * (1.0f + erff(v * INV_SQRT2)));
    }
}
template <typename TX> __global__ void gelu_bwd_kernel(size_t n, const TX *x, const float *dy, float *dx) {
    GRID_STRIDE(i, n) {
        const float v = apt_ld(x, i);
        const float cdf = 0.5f * (1.0f + erff(v * INV_SQRT2)), pdf = INV_SQRT_2PI * expf(-0.5f * v * v);
        dx[i] = dy[i] * (cdf + v * pdf);
    }
}

static void cuda_gelu_forward(AptBackend *be, size_t n, AptTensor x, AptTensor y) {
    want("gelu_forward", "x", x), want("gelu_forward", "y", y);
    if (!n) return;
    typed2(x.dtype, y.dtype, [&](auto tx, auto ty) {
        using TX = decltype(tx);
        using TY = decltype(ty);
        gelu_fwd_kernel<TX, TY><<<apt_cuda_grid_1d(n, TR_THREADS), TR_THREADS, 0, stream_of(be)>>>(n, (const TX *)x.p,
                                                                                                   (TY *)y.p);
        CUDA_CHECK_LAUNCH();
    });
}
static void cuda_gelu_backward(AptBackend *be, size_t n, AptTensor x, const float *dy, float *dx) {
    want("gelu_backward", "x", x);
    if (!n) return;
    apt_cuda_typed(x.dtype, [&](auto t) {
        using TX = decltype(t);
        gelu_bwd_kernel<TX><<<apt_cuda_grid_1d(n, TR_THREADS), TR_THREADS, 0, stream_of(be)>>>(n, (const TX *)x.p, dy,
                                                                                               dx);
        CUDA_CHECK_LAUNCH();
    });
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

// Three passes (max, sum of exponentials, output): the output is written once, exp recomputed, so a bf16
// y is rounded once and x may be y (each element is read then written by the same thread in pass 3).
template <typename TX, typename TY> __global__ void softmax_fwd_kernel(int L, const TX *x, TY *y) {
    __shared__ float shm[32];
    __shared__ double sh[32];
    const size_t r = blockIdx.x;
    const TX *xr = x + r * L;
    TY *yr = y + r * L;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < L; j += blockDim.x) mx = fmaxf(mx, apt_ld(xr, j));
    mx = block_max(mx, shm);
    double s = 0;
    for (int j = threadIdx.x; j < L; j += blockDim.x) s += expf(apt_ld(xr, j) - mx);
    const float inv = (float)(1.0 / apt_block_sum(s, sh));
    for (int j = threadIdx.x; j < L; j += blockDim.x) apt_st(yr, j, expf(apt_ld(xr, j) - mx) * inv);
}

template <typename TY> __global__ void softmax_bwd_kernel(int L, const TY *y, const float *dy, float *dx) {
    __shared__ double sh[32];
    const size_t r = blockIdx.x;
    const TY *yr = y + r * L;
    const float *gr = dy + r * L;
    double s = 0;
    for (int j = threadIdx.x; j < L; j += blockDim.x) s += (double)apt_ld(yr, j) * gr[j];
    const float sf = (float)apt_block_sum(s, sh);
    for (int j = threadIdx.x; j < L; j += blockDim.x) dx[r * L + j] = apt_ld(yr, j) * (gr[j] - sf);
}

static void cuda_softmax_forward(AptBackend *be, int R, int L, AptTensor x, AptTensor y) {
    want("softmax_forward", "x", x), want("softmax_forward", "y", y);
    if (R == 0) return;
    typed2(x.dtype, y.dtype, [&](auto tx, auto ty) {
        using TX = decltype(tx);
        using TY = decltype(ty);
        softmax_fwd_kernel<TX, TY><<<R, 64, 0, stream_of(be)>>>(L, (const TX *)x.p, (TY *)y.p);
        CUDA_CHECK_LAUNCH();
    });
}
static void cuda_softmax_backward(AptBackend *be, int R, int L, AptTensor y, const float *dy, float *dx) {
    want("softmax_backward", "y", y);
    if (R == 0) return;
    apt_cuda_typed(y.dtype, [&](auto t) {
        using TY = decltype(t);
        softmax_bwd_kernel<TY><<<R, 64, 0, stream_of(be)>>>(L, (const TY *)y.p, dy, dx);
        CUDA_CHECK_LAUNCH();
    });
}

// y [n, T, D], one thread per output element.
template <typename TY>
__global__ void embed_fwd_kernel(size_t total, int P, int D, const float *patch, const float *cls, const float *pos,
                                 TY *y) {
    const int T = P + 1;
    GRID_STRIDE(i, total) {
        const int d = (int)(i % D);
        const size_t st = i / D;
        const int t = (int)(st % T);
        const size_t s = st / T;
        apt_st(y, i, (t == 0 ? cls[d] : patch[(s * D + d) * P + (t - 1)]) + pos[(size_t)t * D + d]);
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
                                   const float *pos, AptTensor y) {
    want("vit_embed_forward", "y", y);
    const size_t total = (size_t)n * (P + 1) * D;
    if (!total) return;
    apt_cuda_typed(y.dtype, [&](auto t) {
        using TY = decltype(t);
        embed_fwd_kernel<TY><<<apt_cuda_grid_1d(total, TR_THREADS), TR_THREADS, 0, stream_of(be)>>>(
            total, P, D, patch, cls, pos, (TY *)y.p);
        CUDA_CHECK_LAUNCH();
    });
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
template <typename TX> __global__ void pool_fwd_kernel(int n, int T, int D, int mean, const TX *x, float *y) {
    const size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)n * D) return;
    const size_t s = i / D;
    const int d = (int)(i % D);
    const TX *xs = x + s * T * D;
    if (!mean) {
        y[i] = apt_ld(xs, d);
        return;
    }
    double acc = 0;
    for (int t = 1; t < T; t++) acc += apt_ld(xs, (size_t)t * D + d);
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

static void cuda_token_pool_forward(AptBackend *be, int n, int T, int D, bool mean, AptTensor x, float *y) {
    want("token_pool_forward", "x", x);
    const size_t total = (size_t)n * D;
    if (!total) return;
    apt_cuda_typed(x.dtype, [&](auto t) {
        using TX = decltype(t);
        pool_fwd_kernel<TX><<<APT_CEIL_DIV(total, 128), 128, 0, stream_of(be)>>>(n, T, D, mean ? 1 : 0, (const TX *)x.p,
                                                                                 y);
        CUDA_CHECK_LAUNCH();
    });
}
static void cuda_token_pool_backward(AptBackend *be, int n, int T, int D, bool mean, const float *dy, float *dx) {
    const size_t total = (size_t)n * T * D;
    if (!total) return;
    pool_bwd_kernel<<<apt_cuda_grid_1d(total, TR_THREADS), TR_THREADS, 0, stream_of(be)>>>(total, T, D, mean ? 1 : 0,
                                                                                            dy, dx);
    CUDA_CHECK_LAUNCH();
}

template <typename TX, typename TY>
__global__ void drop_path_kernel(size_t total, size_t len, float p, uint64_t seed, uint32_t epoch, uint32_t step,
                                 uint32_t sample0, uint32_t layer, const TX *x, TY *y) {
    GRID_STRIDE(i, total) {
        const uint32_t s = (uint32_t)(i / len);
        apt_st(y, i, apt_ld(x, i) * apt_drop_path_factor(p, seed, epoch, step, sample0 + s, layer));
    }
}

static void cuda_drop_path(AptBackend *be, int n, size_t len, float p, uint64_t seed, uint32_t epoch, uint32_t step,
                           uint32_t sample0, uint32_t layer, AptTensor x, AptTensor y) {
    want("drop_path", "x", x), want("drop_path", "y", y);
    const size_t total = (size_t)n * len;
    if (!total) return;
    typed2(x.dtype, y.dtype, [&](auto tx, auto ty) {
        using TX = decltype(tx);
        using TY = decltype(ty);
        drop_path_kernel<TX, TY><<<apt_cuda_grid_1d(total, TR_THREADS), TR_THREADS, 0, stream_of(be)>>>(
            total, len, p, seed, epoch, step, sample0, layer, (const TX *)x.p, (TY *)y.p);
        CUDA_CHECK_LAUNCH();
    });
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
