// cuda_bf16.cu — the bf16 convolutions, GEMM and layout conversions of the CUDA table (backend.h, "bf16
// activation chain"), twins of cpu/cpu_bf16.c and cpu/cpu_bf16_act.c; the chain's BatchNorm, ReLU, add,
// pooling and channel-scale ops are the fp32 kernels instantiated for bf16 storage (cuda_norm.cu,
// cuda_eltwise.cu, cuda_pool.cu, cuda_se.cu). CUDA's activation layout is NCHW (AptBackend.act_layout
// false): the configuration checked on an H200; NHWC (tensor-core friendlier) needs NHWC filters and a
// GPU to check it.
//
// Convolutions: cuDNN with bf16 tensors and fp32 compute (CUDNN_DATA_BFLOAT16 descriptors, convolution
// type CUDNN_DATA_FLOAT, tensor-op math). The forward writes its bf16 output y directly. cuDNN's legacy
// API has no bf16-in / fp32-out convolution, so the input gradient and the weight gradient are written in
// bf16 to scratch and widened to fp32 (the weight gradient then added into dw) — one more rounding than
// the CPU ops, which write them in fp32; tests/backend/op_cases_chain.h states the tolerance.
// Algorithms: chosen per shape at set-up by the fp32 path's chooser (apt_cuda_conv_choose, cuda_conv.cu):
// cuDNN's heuristics for these bf16 descriptors, restricted to the deterministic GEMM-type algorithms
// (cuda_conv_algo.h) and checked with the workspace query (CUDNN_STATUS_NOT_SUPPORTED for a shape an
// algorithm cannot run), then the fallbacks IMPLICIT_PRECOMP_GEMM, IMPLICIT_GEMM, GEMM forward and
// ALGO_1 backward; a shape with none is a fatal error naming it. (Until then the algorithms were fixed,
// IMPLICIT_PRECOMP_GEMM / ALGO_1 / ALGO_1, and never checked for support.)
//
// Set-up, as the fp32 path (cuda_conv.cu): conv2d_prepare of a bf16 descriptor, once per layer, makes the
// layer's descriptors (hung on its fp32 plan, freed by conv2d_release), chooses the algorithms and grows the
// backend's shared workspace
// m->ws to the largest need of the three directions: the algorithm's workspace plus the bf16 scratch of
// the output (dx in bf16; dw in bf16 and its fp32 widening). A call re-describes x/y only when its batch
// size changes (host-side), checks that the workspace for n rows fits, and carves the scratch from m->ws
// after the algorithm's part: no allocation, descriptor creation or synchronisation inside a step.
// GEMM: cublasGemmEx with bf16 A/B, fp32 C and CUBLAS_COMPUTE_32F (fp32 accumulation).
#include "cuda_backend.h"
#include "cuda_ops.cuh"

namespace {

struct Bf16Plan {
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    int n_desc;              // rows x/y currently describe
    const AptCudaAlgo *algo; // the algorithms chosen at set-up (in the backend's per-shape cache)
};

void set_xy(const AptConvDesc *d, Bf16Plan *p, int n) {
    if (p->n_desc == n) return;
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_BFLOAT16, n, d->C, d->H, d->W));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_BFLOAT16, n, d->K, d->P, d->Q));
    p->n_desc = n;
}

size_t align256(size_t b) { return (b + 255) / 256 * 256; }

// Bytes of m->ws each direction needs for the rows p currently describes: the algorithm's workspace
// (*alg) then the scratch of its bf16 output.
size_t need_fwd(AptCudaImpl *m, Bf16Plan *p, size_t *alg) {
    CUDNN_CHECK(
        cudnnGetConvolutionForwardWorkspaceSize(m->cudnn, p->x, p->w, p->conv, p->y, p->algo->fwd, alg));
    return *alg;
}
size_t need_bwd_data(AptCudaImpl *m, Bf16Plan *p, const AptConvDesc *d, size_t *alg) {
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(m->cudnn, p->w, p->y, p->conv, p->x,
                                                             p->algo->bwd_data, alg));
    return align256(*alg) + (size_t)p->n_desc * d->C * d->H * d->W * sizeof(uint16_t); // dx in bf16
}
size_t need_bwd_filter(AptCudaImpl *m, Bf16Plan *p, const AptConvDesc *d, size_t *alg) {
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(m->cudnn, p->x, p->y, p->conv, p->w,
                                                               p->algo->bwd_filter, alg));
    const size_t nw = (size_t)d->K * d->C * d->R * d->S;
    return align256(*alg) + align256(nw * sizeof(uint16_t)) + nw * sizeof(float); // dw in bf16, widened
}

Bf16Plan *plan_for(AptCudaImpl *m, const AptConvDesc *d, int n, const char *op) {
    Bf16Plan *p = (Bf16Plan *)*apt_cuda_conv_bf16_slot(d);
    APT_CHECK(p, "%s: the layer has no bf16 plan (not prepared with d->dtype bf16)", op);
    APT_CHECK(n >= 1 && n <= d->N, "%s: batch %d outside [1, %d]", op, n, d->N);
    CUDNN_CHECK(cudnnSetStream(m->cudnn, m->stream));
    set_xy(d, p, n);
    return p;
}

void check_ws(AptCudaImpl *m, size_t bytes, const char *op) {
    APT_CHECK(bytes <= m->ws_bytes, "%s: workspace %zu > %zu allocated at set-up", op, bytes, m->ws_bytes);
}

} // namespace

void apt_cuda_conv2d_prepare_bf16(AptBackend *be, AptConvDesc *d) {
    AptCudaImpl *m = apt_cuda_impl(be);
    void **slot = apt_cuda_conv_bf16_slot(d);
    if (*slot) return;
    Bf16Plan *p = (Bf16Plan *)apt_calloc(1, sizeof *p);
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_BFLOAT16, CUDNN_TENSOR_NCHW, d->K, d->C, d->R, d->S));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, d->pad_h, d->pad_w, d->stride_h, d->stride_w, 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, CUDNN_TENSOR_OP_MATH));
    set_xy(d, p, d->N);
    p->algo = apt_cuda_conv_choose(m, d, APT_CONV_BF16, p->x, p->w, p->conv, p->y);
    size_t alg = 0, need = need_fwd(m, p, &alg), b = need_bwd_data(m, p, d, &alg);
    need = b > need ? b : need;
    b = need_bwd_filter(m, p, d, &alg);
    need = b > need ? b : need;
    apt_cuda_grow_workspace(m, need);
    *slot = p;
}

void apt_cuda_conv_bf16_release(void *plan) {
    Bf16Plan *p = (Bf16Plan *)plan;
    cudnnDestroyTensorDescriptor(p->x);
    cudnnDestroyTensorDescriptor(p->y);
    cudnnDestroyFilterDescriptor(p->w);
    cudnnDestroyConvolutionDescriptor(p->conv);
    free(p);
}

void apt_cuda_conv2d_forward_bf16(AptBackend *be, const AptConvDesc *d, int n, const uint16_t *x, const uint16_t *w,
                                  uint16_t *y) {
    AptCudaImpl *m = apt_cuda_impl(be);
    Bf16Plan *p = plan_for(m, d, n, "conv2d_forward_bf16");
    size_t alg = 0;
    check_ws(m, need_fwd(m, p, &alg), "conv2d_forward_bf16");
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionForward(m->cudnn, &one, p->x, x, p->w, w, p->conv, p->algo->fwd, m->ws, alg,
                                        &zero, p->y, y));
}

void apt_cuda_conv2d_backward_data_bf16(AptBackend *be, const AptConvDesc *d, int n, const uint16_t *dy,
                                        const uint16_t *w, float *dx) {
    AptCudaImpl *m = apt_cuda_impl(be);
    Bf16Plan *p = plan_for(m, d, n, "conv2d_backward_data_bf16");
    size_t alg = 0;
    check_ws(m, need_bwd_data(m, p, d, &alg), "conv2d_backward_data_bf16");
    uint16_t *dx16 = (uint16_t *)((char *)m->ws + align256(alg));
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionBackwardData(m->cudnn, &one, p->w, w, p->y, dy, p->conv, p->algo->bwd_data,
                                             m->ws, alg, &zero, p->x, dx16));
    apt_cuda_cast_bf16_to_f32(m->stream, dx16, dx, (size_t)n * d->C * d->H * d->W);
}

void apt_cuda_conv2d_backward_weights_bf16(AptBackend *be, const AptConvDesc *d, int n, const uint16_t *x,
                                           const uint16_t *dy, float *dw) {
    AptCudaImpl *m = apt_cuda_impl(be);
    Bf16Plan *p = plan_for(m, d, n, "conv2d_backward_weights_bf16");
    size_t alg = 0;
    check_ws(m, need_bwd_filter(m, p, d, &alg), "conv2d_backward_weights_bf16");
    const size_t nw = (size_t)d->K * d->C * d->R * d->S;
    uint16_t *dw16 = (uint16_t *)((char *)m->ws + align256(alg));
    float *dw32 = (float *)((char *)dw16 + align256(nw * sizeof(uint16_t)));
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(m->cudnn, &one, p->x, x, p->y, dy, p->conv,
                                               p->algo->bwd_filter, m->ws, alg, &zero, p->w, dw16));
    apt_cuda_cast_bf16_to_f32(m->stream, dw16, dw32, nw);
    apt_cuda_axpy(be, nw, 1.0f, dw32, dw); // dw += (accumulate, as the fp32 op)
}

// Row-major C = op(A) op(B) as column-major C^T = op(B)^T op(A)^T (cuda_gemm.cu).
void apt_cuda_gemm_bf16(AptBackend *be, bool ta, bool tb, int M, int N, int K, float alpha, const uint16_t *A, int lda,
                        const uint16_t *B, int ldb, float beta, float *C, int ldc) {
    if (M == 0 || N == 0) return;
    CUBLAS_CHECK(cublasGemmEx(apt_cuda_impl(be)->cublas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                              N, M, K, &alpha, B, CUDA_R_16BF, ldb, A, CUDA_R_16BF, lda, &beta, C, CUDA_R_32F, ldc,
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}
