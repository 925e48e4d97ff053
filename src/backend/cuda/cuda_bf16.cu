// cuda_bf16.cu — the bf16 compute ops (backend.h, "bf16 compute"), twins of cpu/cpu_bf16.c.
//
// Convolutions: cuDNN with bf16 tensors and fp32 compute (CUDNN_DATA_BFLOAT16 descriptors, convolution
// type CUDNN_DATA_FLOAT, tensor-op math). cuDNN's legacy API has no bf16-in / fp32-out convolution, so
// each output is written in bf16 to stream-ordered scratch (cudaMallocAsync: pooled by the driver, no
// device synchronisation) and widened to fp32 — one more rounding than the CPU ops, which write fp32;
// tests/backend/test_bf16_ops_cuda.c states the tolerance. Deterministic algorithms only:
// IMPLICIT_PRECOMP_GEMM forward, ALGO_1 for both backward passes. Descriptors are made per call (host
// work only).
// GEMM: cublasGemmEx with bf16 A/B, fp32 C and CUBLAS_COMPUTE_32F (fp32 accumulation).
#include "cuda_backend.h"
#include "cuda_ops.cuh"

namespace {

struct Bf16Conv {
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
};

Bf16Conv describe(const AptConvDesc *d, int n) {
    Bf16Conv c;
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&c.x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&c.y));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&c.w));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&c.conv));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(c.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_BFLOAT16, n, d->C, d->H, d->W));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(c.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_BFLOAT16, n, d->K, d->P, d->Q));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(c.w, CUDNN_DATA_BFLOAT16, CUDNN_TENSOR_NCHW, d->K, d->C, d->R, d->S));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(c.conv, d->pad_h, d->pad_w, d->stride_h, d->stride_w, 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionMathType(c.conv, CUDNN_TENSOR_OP_MATH));
    return c;
}

void release(Bf16Conv &c) {
    cudnnDestroyTensorDescriptor(c.x);
    cudnnDestroyTensorDescriptor(c.y);
    cudnnDestroyFilterDescriptor(c.w);
    cudnnDestroyConvolutionDescriptor(c.conv);
}

void *scratch(cudaStream_t s, size_t bytes) {
    void *p = NULL;
    if (bytes) CUDA_CHECK(cudaMallocAsync(&p, bytes, s));
    return p;
}

void drop(cudaStream_t s, void *p) {
    if (p) CUDA_CHECK(cudaFreeAsync(p, s));
}

} // namespace

void apt_cuda_conv2d_forward_bf16(AptBackend *be, const AptConvDesc *d, int n, const uint16_t *x,
                                             const uint16_t *w, float *y) {
    AptCudaImpl *m = apt_cuda_impl(be);
    APT_CHECK(n >= 1 && n <= d->N, "conv2d_forward_bf16: batch %d outside [1, %d]", n, d->N);
    Bf16Conv c = describe(d, n);
    const cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
    size_t ws_bytes = 0, ny = (size_t)n * d->K * d->P * d->Q;
    CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(m->cudnn, c.x, c.w, c.conv, c.y, algo, &ws_bytes));
    void *ws = scratch(m->stream, ws_bytes), *y16 = scratch(m->stream, ny * 2);
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionForward(m->cudnn, &one, c.x, x, c.w, w, c.conv, algo, ws, ws_bytes, &zero, c.y, y16));
    apt_cuda_cast_bf16_to_f32(m->stream, (const uint16_t *)y16, y, ny);
    drop(m->stream, ws), drop(m->stream, y16);
    release(c);
}

void apt_cuda_conv2d_backward_data_bf16(AptBackend *be, const AptConvDesc *d, int n, const uint16_t *dy,
                                                   const uint16_t *w, float *dx) {
    AptCudaImpl *m = apt_cuda_impl(be);
    APT_CHECK(n >= 1 && n <= d->N, "conv2d_backward_data_bf16: batch %d outside [1, %d]", n, d->N);
    Bf16Conv c = describe(d, n);
    const cudnnConvolutionBwdDataAlgo_t algo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
    size_t ws_bytes = 0, nx = (size_t)n * d->C * d->H * d->W;
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(m->cudnn, c.w, c.y, c.conv, c.x, algo, &ws_bytes));
    void *ws = scratch(m->stream, ws_bytes), *dx16 = scratch(m->stream, nx * 2);
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionBackwardData(m->cudnn, &one, c.w, w, c.y, dy, c.conv, algo, ws, ws_bytes, &zero, c.x,
                                             dx16));
    apt_cuda_cast_bf16_to_f32(m->stream, (const uint16_t *)dx16, dx, nx);
    drop(m->stream, ws), drop(m->stream, dx16);
    release(c);
}

void apt_cuda_conv2d_backward_weights_bf16(AptBackend *be, const AptConvDesc *d, int n,
                                                      const uint16_t *x, const uint16_t *dy, float *dw) {
    AptCudaImpl *m = apt_cuda_impl(be);
    APT_CHECK(n >= 1 && n <= d->N, "conv2d_backward_weights_bf16: batch %d outside [1, %d]", n, d->N);
    Bf16Conv c = describe(d, n);
    const cudnnConvolutionBwdFilterAlgo_t algo = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
    size_t ws_bytes = 0, nw = (size_t)d->K * d->C * d->R * d->S;
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(m->cudnn, c.x, c.y, c.conv, c.w, algo, &ws_bytes));
    void *ws = scratch(m->stream, ws_bytes), *dw16 = scratch(m->stream, nw * 2),
         *dw32 = scratch(m->stream, nw * sizeof(float));
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(m->cudnn, &one, c.x, x, c.y, dy, c.conv, algo, ws, ws_bytes, &zero,
                                               c.w, dw16));
    apt_cuda_cast_bf16_to_f32(m->stream, (const uint16_t *)dw16, (float *)dw32, nw);
    apt_cuda_axpy(be, nw, 1.0f, (const float *)dw32, dw); // dw += (accumulate, as the fp32 op)
    drop(m->stream, ws), drop(m->stream, dw16), drop(m->stream, dw32);
    release(c);
}

// Row-major C = op(A) op(B) as column-major C^T = op(B)^T op(A)^T (cuda_gemm.cu).
void apt_cuda_gemm_bf16(AptBackend *be, bool ta, bool tb, int M, int N, int K, float alpha,
                                   const uint16_t *A, int lda, const uint16_t *B, int ldb, float beta, float *C,
                                   int ldc) {
    if (M == 0 || N == 0) return;
    CUBLAS_CHECK(cublasGemmEx(apt_cuda_impl(be)->cublas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                              N, M, K, &alpha, B, CUDA_R_16BF, ldb, A, CUDA_R_16BF, lda, &beta, C, CUDA_R_32F, ldc,
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}
