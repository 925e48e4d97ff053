// backend.h — the op table (DESIGN §2): every numeric kernel the layers call, behind one struct of
// function pointers chosen at run time. The CPU table (src/backend/cpu/) is always built and is the
// reference; the CUDA table (src/backend/cuda/) has the same signatures.
//
// Conventions, for every op:
//   - tensors are NCHW float32 in the backend's memory (host for "cpu", device for "cuda"); sizes are
//     passed explicitly (n may be smaller than the size a descriptor was prepared for);
//   - forward ops overwrite their output; backward ops OVERWRITE the input gradient dx and ACCUMULATE (+=)
//     into parameter gradients (dw, db, dgamma, dbeta), so a model's backward sums into the flat store;
//   - dx == NULL skips the input gradient (first layer of a network);
//   - per-channel statistics that must be all-reduced (sync BatchNorm) are float64 partial sums, so the
//     layer reduces them through dist/comm.h and the result is exact across world sizes;
//   - results are bitwise repeatable for a given thread count (fixed reduction order, no atomics); our
//     own CPU kernels give the same bits for any thread count, GEMM/oneDNN kernels may round differently
//     with another thread count;
//   - convolution backward may reuse internal layout conversions: of x from the last conv2d_forward on
//     the same descriptor (same x pointer and n), and of dy between the two backward calls of one step
//     (same dy pointer). Callers must not modify x between forward and backward, nor dy between the two
//     backward calls (the nn layers never do: every buffer is written only by its producer).
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { APT_COPY_H2H = 0, APT_COPY_H2D, APT_COPY_D2H, APT_COPY_D2D } AptCopyDir;

// 2-D convolution, dilation 1, groups 1. x: [N, C, H, W]; w: [K, C, R, S]; bias: [K]; y: [N, K, P, Q].
typedef struct {
    int N, C, H, W; // N: the largest batch the op will see (set-up size)
    int K, R, S;    // output channels, kernel height, width
    int stride_h, stride_w;
    int pad_h, pad_w;
    int P, Q;   // output height, width (apt_conv_desc_init fills them)
    void *plan; // backend-private (primitives, workspace sizes); set by conv2d_prepare
} AptConvDesc;

// Fill P, Q from the others; plan = NULL.
void apt_conv_desc_init(AptConvDesc *d, int N, int C, int H, int W, int K, int R, int S, int stride, int pad);

// Max/avg pooling window. Avg pooling counts the padding (PyTorch's count_include_pad=True).
typedef struct {
    int N, C, H, W;
    int kh, kw, stride_h, stride_w, pad_h, pad_w;
    int P, Q;
} AptPoolDesc;
void apt_pool_desc_init(AptPoolDesc *d, int N, int C, int H, int W, int k, int stride, int pad);

typedef struct AptBackend AptBackend;
struct AptBackend {
    const char *name; // "cpu" | "cuda"

    // ---- memory (set-up time for alloc/free; copy/sync any time) ----
    void *(*alloc)(AptBackend *be, size_t bytes); // 64-byte aligned; never NULL (fatal on failure)
    void (*free)(AptBackend *be, void *p);
    void (*copy)(AptBackend *be, void *dst, const void *src, size_t bytes, AptCopyDir dir);
    void (*sync)(AptBackend *be);

    // ---- GEMM, row-major: C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C ----
    void (*gemm)(AptBackend *be, bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc);

    // ---- convolution ----
    // Called once per layer at set-up: builds whatever the backend needs for this shape (d->plan).
    void (*conv2d_prepare)(AptBackend *be, AptConvDesc *d);
    void (*conv2d_release)(AptBackend *be, AptConvDesc *d);
    // y = conv(x, w) (+ bias if bias != NULL). n <= d->N.
    void (*conv2d_forward)(AptBackend *be, const AptConvDesc *d, int n, const float *x, const float *w,
                           const float *bias, float *y);
    // dx = conv_transpose(dy, w).
    void (*conv2d_backward_data)(AptBackend *be, const AptConvDesc *d, int n, const float *dy, const float *w,
                                 float *dx);
    // dw += corr(x, dy); db += sum over n, p, q of dy (skipped when db == NULL).
    void (*conv2d_backward_weights)(AptBackend *be, const AptConvDesc *d, int n, const float *x,
                                    const float *dy, float *dw, float *db);

    // ---- batch normalisation, x/y: [N, C, HW]; per-channel vectors [C] ----
    // y = gamma * (x - mean) / sqrt(var + eps) + beta   (inference, frozen, and train after the stats)
    void (*bn_forward)(AptBackend *be, int N, int C, int HW, const float *x, const float *mean,
                       const float *var, float eps, const float *gamma, const float *beta, float *y);
    // Statistics held constant (frozen / eval): dx = dy * gamma / sqrt(var + eps) (dx may be NULL);
    // dgamma += sum dy * xhat; dbeta += sum dy (either may be NULL).
    void (*bn_backward_affine)(AptBackend *be, int N, int C, int HW, const float *x, const float *dy,
                               const float *mean, const float *var, float eps, const float *gamma, float *dx,
                               float *dgamma, float *dbeta);
    // Train forward, step 1: partial sums over this process's samples. sums: [2C] = {Σx [C], Σx² [C]}.
    void (*bn_stats)(AptBackend *be, int N, int C, int HW, const float *x, double *sums);
    // Train forward, step 2 (after an optional all-reduce of sums): mean and biased var over `count`
    // values per channel; running stats (if not NULL) move by `momentum` towards mean and the unbiased var.
    void (*bn_finalize)(AptBackend *be, int C, const double *sums, double count, float momentum, float *mean,
                        float *var, float *running_mean, float *running_var);
    // Train backward, step 1: partial sums {Σdy [C], Σdy·xhat [C]} into sums [2C].
    void (*bn_backward_stats)(AptBackend *be, int N, int C, int HW, const float *x, const float *dy,
                              const float *mean, const float *var, float eps, double *sums);
    // Train backward, step 2 (sums all-reduced over the batch the statistics came from, `count` values
    // per channel): dx = gamma/sqrt(var+eps) * (dy - Σdy/count - xhat * Σdy·xhat/count).
    void (*bn_backward_data)(AptBackend *be, int N, int C, int HW, const float *x, const float *dy,
                             const float *mean, const float *var, float eps, const float *gamma,
                             const double *sums, double count, float *dx);

    // ---- activations and pooling ----
    void (*relu_forward)(AptBackend *be, size_t n, const float *x, float *y); // in place allowed
    void (*relu_backward)(AptBackend *be, size_t n, const float *y, const float *dy,
                          float *dx); // in place ok
    // idx: [N, C, P, Q] int32 argmax (offset within the H*W plane), written by forward, read by backward.
    void (*maxpool_forward)(AptBackend *be, const AptPoolDesc *d, int n, const float *x, float *y, int *idx);
    void (*maxpool_backward)(AptBackend *be, const AptPoolDesc *d, int n, const float *dy, const int *idx,
                             float *dx);
    void (*avgpool_forward)(AptBackend *be, const AptPoolDesc *d, int n, const float *x, float *y);
    void (*avgpool_backward)(AptBackend *be, const AptPoolDesc *d, int n, const float *dy, float *dx);
    // x: [N, C, HW] -> y: [N, C] (mean over HW)
    void (*gap_forward)(AptBackend *be, int N, int C, int HW, const float *x, float *y);
    void (*gap_backward)(AptBackend *be, int N, int C, int HW, const float *dy, float *dx);

    // ---- linear (torch layout w: [out, in]) via GEMM: y[N,out] = x[N,in] · wᵀ + b ----
    void (*linear_forward)(AptBackend *be, int N, int in, int out, const float *x, const float *w,
                           const float *b, float *y);
    // dx = dy · w (dx may be NULL); dw += dyᵀ · x; db += Σ_n dy (db may be NULL).
    void (*linear_backward)(AptBackend *be, int N, int in, int out, const float *x, const float *w,
                            const float *dy, float *dx, float *dw, float *db);

    // ---- L2 normalisation of rows, x/y: [N, D]; y = x / max(||x||, 1e-12) (torch F.normalize) ----
    void (*l2norm_forward)(AptBackend *be, int N, int D, const float *x, float *y);
    // dx = (dy - y (y·dy)) / max(||x||, 1e-12)
    void (*l2norm_backward)(AptBackend *be, int N, int D, const float *x, const float *y, const float *dy,
                            float *dx);

    // ---- elementwise ----
    void (*add)(AptBackend *be, size_t n, const float *a, const float *b, float *y); // y = a + b
    void (*axpy)(AptBackend *be, size_t n, float alpha, const float *x, float *y);   // y += alpha x
    void (*scale)(AptBackend *be, size_t n, float alpha, float *x);                  // x *= alpha
    void (*fill)(AptBackend *be, size_t n, float value, float *x);

    void (*destroy)(AptBackend *be);
    void *impl;

    // ---- transformer ops (ViT, src/nn/vit.c): CPU in cpu/cpu_transformer.c, CUDA in cuda/cuda_transformer.cu,
    // tests in tests/backend/test_transformer_ops.c (float64 + finite differences) and
    // test_transformer_ops_cuda.c (CUDA vs CPU). Rows are the last dimension; [R, D] row-major.
    // Batched GEMM, row-major, for i < batch: C_i = alpha op(A_i) op(B_i) + beta C_i with A_i = A + i*sA,
    // B_i = B + i*sB, C_i = C + i*sC (strides in elements). Attention runs heads as the batch with the
    // heads' columns of the fused qkv buffer as strided views. The C_i must not overlap.
    void (*gemm_batched)(AptBackend *be, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                         const float *A, int lda, long long sA, const float *B, int ldb, long long sB, float beta,
                         float *C, int ldc, long long sC, int batch);
    // LayerNorm over rows of x [R, D] (torch.nn.LayerNorm, biased variance):
    // y = (x - mean) * rstd * gamma + beta, rstd = 1 / sqrt(var + eps); mean, rstd: [R] kept for backward.
    void (*layernorm_forward)(AptBackend *be, int R, int D, const float *x, const float *gamma,
                              const float *beta, float eps, float *y, float *mean, float *rstd);
    // g = dy * gamma: dx = rstd * (g - mean_row(g) - xhat * mean_row(g * xhat)) (overwritten; may be NULL);
    // dgamma += Σ_rows dy * xhat; dbeta += Σ_rows dy (either may be NULL).
    void (*layernorm_backward)(AptBackend *be, int R, int D, const float *x, const float *dy, const float *gamma,
                               const float *mean, const float *rstd, float *dx, float *dgamma, float *dbeta);
    // GELU, erf form (torch nn.GELU(), timm's default): y = x/2 (1 + erf(x/√2));
    // dx = dy (Φ(x) + x φ(x)). In place allowed.
    void (*gelu_forward)(AptBackend *be, size_t n, const float *x, float *y);
    void (*gelu_backward)(AptBackend *be, size_t n, const float *x, const float *dy, float *dx);
    // Softmax over each row of x [R, L] (max-subtracted); in place allowed.
    void (*softmax_forward)(AptBackend *be, int R, int L, const float *x, float *y);
    // dx = y * (dy - Σ_row y dy), from the forward's output y; dx == dy allowed.
    void (*softmax_backward)(AptBackend *be, int R, int L, const float *y, const float *dy, float *dx);
    // ViT tokens: patch [n, D, P] (the patch conv's NCHW output, P = gh*gw), cls [D], pos [1+P, D] ->
    // y [n, 1+P, D]: y[s,0] = cls + pos[0], y[s,1+p,d] = patch[s,d,p] + pos[1+p,d].
    void (*vit_embed_forward)(AptBackend *be, int n, int P, int D, const float *patch, const float *cls,
                              const float *pos, float *y);
    // dpatch (overwritten; may be NULL) from dy [n, 1+P, D]; dcls += Σ_s dy[s,0]; dpos += Σ_s dy[s].
    void (*vit_embed_backward)(AptBackend *be, int n, int P, int D, const float *dy, float *dpatch, float *dcls,
                               float *dpos);
    // Token pooling x [n, T, D] -> y [n, D]: mean = false: token 0 (class token); true: mean of tokens 1..T-1.
    void (*token_pool_forward)(AptBackend *be, int n, int T, int D, bool mean, const float *x, float *y);
    // dx [n, T, D] overwritten (zero where the pool does not read).
    void (*token_pool_backward)(AptBackend *be, int n, int T, int D, bool mean, const float *dy, float *dx);
    // Stochastic depth (drop-path) on rows of len elements: y[s] = x[s] * keep_s / (1 - p) with
    // keep_s = (uniform of apt_rng_block(seed, APT_RNG_DROP_PATH, epoch, step, sample0 + s, layer) >= p)
    // (src/core/rng.h): the same draw on every backend, rank and thread. Linear in x, so the backward is
    // the same call on dy. In place allowed.
    void (*drop_path)(AptBackend *be, int n, size_t len, float p, uint64_t seed, uint32_t epoch, uint32_t step,
                      uint32_t sample0, uint32_t layer, const float *x, float *y);
};

// name: "cpu" | "cuda" | "auto" (cuda when a device is usable, else cpu). Never NULL: an unknown name, or
// "cuda" without CUDA support or a usable device, is a one-line user error.
AptBackend *apt_backend_create(const char *name);
void apt_backend_destroy(AptBackend *be);

// Implementations (backend.c is the only caller).
AptBackend *apt_backend_cpu_create(void);
AptBackend *apt_backend_cuda_create(const char **why); // NULL + reason (static string) when unusable

#ifdef __cplusplus
}
#endif
