// cuda_conv.cu — 2-D convolution through cuDNN 9's convolution API (twin of cpu/cpu_conv.c), NCHW fp32.
//
// Set-up (conv2d_prepare, once per layer): descriptors, then one algorithm per direction chosen from
// cuDNN's heuristics (the _v7 queries, ordered by expected speed): the first that succeeds, is
// DETERMINISTIC and needs at most APT_CUDA_CONV_WS_MAX bytes of workspace. Choices are cached per shape
// in the backend (ResNets repeat shapes), and the shared workspace grows here, never inside a step.
// Math: fp32 layers use CUDNN_FMA_MATH — not CUDNN_DEFAULT_MATH, which on Ampere and later lets cuDNN
// pick TF32 tensor-core kernels for fp32 data (NVIDIA_TF32_OVERRIDE aside): fp32 results must match the
// CPU to 1e-5 and TF32 keeps 10 mantissa bits. fp32 layers also exclude FFT and Winograd algorithms
// (cuda_conv_algo.h). With
// precision bf16 the tensors are still fp32 in memory (the op table is float32) and CUDNN_TENSOR_OP_MATH
// lets cuDNN use tensor cores, which for fp32 tensors means TF32 products (10-bit mantissa, fp32 range,
// fp32 accumulation) — a step towards, not yet, bf16 activations (which need bf16 tensors in the table).
// A call with n < N re-describes x/y for n rows (host-side only) and re-checks the workspace size.
#include <stdlib.h>
#include <string.h>

#include "cuda_conv_algo.h"
#include "cuda_ops.cuh"

typedef struct {
    cudnnTensorDescriptor_t x, y, b;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    int n_desc; // rows x/y currently describe
    const AptCudaAlgo *algo;
    void *bf16; // the layer's bf16 plan (cuda_bf16.cu, conv2d_prepare_bf16), or NULL
} ConvPlan;

static void set_xy(const AptConvDesc *d, ConvPlan *pl, int n) {
    if (pl->n_desc == n) return;
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(pl->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, d->C, d->H, d->W));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(pl->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, d->K, d->P, d->Q));
    pl->n_desc = n;
}

static void shape_key(const AptConvDesc *d, int bf16, int key[10]) {
    int k[10] = {d->N, d->C, d->H, d->W, d->K, d->R, d->S, d->stride_h, d->stride_w, d->pad_h * 65536 + d->pad_w * 2 + bf16};
    memcpy(key, k, sizeof k);
}

// Whether a heuristic entry would run on tensor cores (TF32 for fp32 data): excluded in fp32 mode.
static int tensor_math(cudnnMathType_t t) {
    return t == CUDNN_TENSOR_OP_MATH || t == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

// Fastest allowed deterministic algorithm within the workspace limit, from the heuristics' list (ordered
// by expected speed). found_ = 0 leaves the fallback below to the caller.
#define PICK(perf, n, allowed, out, found)                                                                   \
    do {                                                                                                     \
        (found) = 0;                                                                                         \
        for (int i_ = 0; i_ < (n) && !(found); i_++)                                                         \
            if ((perf)[i_].status == CUDNN_STATUS_SUCCESS && (perf)[i_].determinism == CUDNN_DETERMINISTIC &&  \
                (perf)[i_].memory <= APT_CUDA_CONV_WS_MAX &&                                                 \
                (m->bf16 || (!tensor_math((perf)[i_].mathType) && allowed((int)(perf)[i_].algo)))) {         \
                (out) = (perf)[i_].algo;                                                                     \
                (found) = 1;                                                                                 \
            }                                                                                                \
    } while (0)

#define NO_ALGO(what)                                                                                        \
    apt_fatal(__FILE__, __LINE__, "cuDNN offers no deterministic %s algorithm for conv N%d C%d H%d W%d K%d R%d S%d", \
              what, d->N, d->C, d->H, d->W, d->K, d->R, d->S)

void apt_cuda_grow_workspace(AptCudaImpl *m, size_t bytes) {
    if (bytes <= m->ws_bytes) return;
    CUDA_CHECK(cudaStreamSynchronize(m->stream)); // set-up time: the old workspace may still be in use
    if (m->ws) CUDA_CHECK(cudaFree(m->ws));
    CUDA_CHECK(cudaMalloc(&m->ws, bytes));
    m->ws_bytes = bytes;
}

void apt_cuda_conv2d_prepare(AptBackend *be, AptConvDesc *d) {
    AptCudaImpl *m = apt_cuda_impl(be);
    ConvPlan *pl = (ConvPlan *)apt_calloc(1, sizeof *pl);
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&pl->x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&pl->y));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&pl->b));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&pl->w));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&pl->conv));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(pl->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, d->K, d->C, d->R, d->S));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(pl->b, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, d->K, 1, 1));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(pl->conv, d->pad_h, d->pad_w, d->stride_h, d->stride_w, 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionMathType(pl->conv, m->bf16 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    set_xy(d, pl, d->N);
    int oN, oK, oP, oQ;
    CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(pl->conv, pl->x, pl->w, &oN, &oK, &oP, &oQ));
    APT_CHECK(oN == d->N && oK == d->K && oP == d->P && oQ == d->Q, "cuDNN output shape %dx%dx%dx%d != %dx%dx%dx%d",
              oN, oK, oP, oQ, d->N, d->K, d->P, d->Q);

    int key[10];
    shape_key(d, m->bf16, key);
    for (int i = 0; i < m->nalgos && !pl->algo; i++)
        if (!memcmp(m->algos[i].key, key, sizeof key)) pl->algo = &m->algos[i];
    if (!pl->algo) {
        APT_CHECK(m->nalgos < APT_CUDA_ALGO_CACHE, "cuda conv: more than %d distinct shapes", APT_CUDA_ALGO_CACHE);
        AptCudaAlgo *a = &m->algos[m->nalgos++];
        memcpy(a->key, key, sizeof key);
        int n = 0, found = 0;
        cudnnConvolutionFwdAlgoPerf_t pf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(m->cudnn, pl->x, pl->w, pl->conv, pl->y,
                                                           CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, pf));
        PICK(pf, n, apt_conv_fp32_fwd_ok, a->fwd, found);
        if (!found) { // the heuristics ranked none of the allowed ones: take the first that cuDNN supports
            static const cudnnConvolutionFwdAlgo_t fb[] = {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
                                                           CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                                                           CUDNN_CONVOLUTION_FWD_ALGO_GEMM};
            for (int i = 0; i < 3 && !found; i++) {
                size_t b = 0;
                if (cudnnGetConvolutionForwardWorkspaceSize(m->cudnn, pl->x, pl->w, pl->conv, pl->y, fb[i], &b) ==
                        CUDNN_STATUS_SUCCESS &&
                    b <= APT_CUDA_CONV_WS_MAX)
                    a->fwd = fb[i], found = 1;
            }
            if (!found) NO_ALGO("forward");
        }
        cudnnConvolutionBwdDataAlgoPerf_t pd[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(m->cudnn, pl->w, pl->y, pl->conv, pl->x,
                                                                CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, pd));
        PICK(pd, n, apt_conv_fp32_bwd_data_ok, a->bwd_data, found);
        if (!found) {
            size_t b = 0;
            if (cudnnGetConvolutionBackwardDataWorkspaceSize(m->cudnn, pl->w, pl->y, pl->conv, pl->x,
                                                             CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, &b) != CUDNN_STATUS_SUCCESS ||
                b > APT_CUDA_CONV_WS_MAX)
                NO_ALGO("backward-data");
            a->bwd_data = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
        }
        cudnnConvolutionBwdFilterAlgoPerf_t pw[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(m->cudnn, pl->x, pl->y, pl->conv, pl->w,
                                                                  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, pw));
        PICK(pw, n, apt_conv_fp32_bwd_filter_ok, a->bwd_filter, found);
        if (!found) {
            size_t b = 0;
            if (cudnnGetConvolutionBackwardFilterWorkspaceSize(m->cudnn, pl->x, pl->y, pl->conv, pl->w,
                                                               CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, &b) !=
                    CUDNN_STATUS_SUCCESS ||
                b > APT_CUDA_CONV_WS_MAX)
                NO_ALGO("backward-filter");
            a->bwd_filter = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
        }
        pl->algo = a;
    }
    // Workspace sizes of the chosen algorithms (also right when the choice came from the cache).
    size_t b1 = 0, b2 = 0, b3 = 0;
    CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(m->cudnn, pl->x, pl->w, pl->conv, pl->y, pl->algo->fwd, &b1));
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(m->cudnn, pl->w, pl->y, pl->conv, pl->x,
                                                             pl->algo->bwd_data, &b2));
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(m->cudnn, pl->x, pl->y, pl->conv, pl->w,
                                                               pl->algo->bwd_filter, &b3));
    size_t need = b1 > b2 ? b1 : b2;
    need = need > b3 ? need : b3;
    apt_cuda_grow_workspace(m, need);
    d->plan = pl;
}

void apt_cuda_conv2d_release(AptBackend *be, AptConvDesc *d) {
    (void)be;
    ConvPlan *pl = (ConvPlan *)d->plan;
    if (!pl) return;
    if (pl->bf16) apt_cuda_conv_bf16_release(pl->bf16);
    cudnnDestroyTensorDescriptor(pl->x);
    cudnnDestroyTensorDescriptor(pl->y);
    cudnnDestroyTensorDescriptor(pl->b);
    cudnnDestroyFilterDescriptor(pl->w);
    cudnnDestroyConvolutionDescriptor(pl->conv);
    free(pl);
    d->plan = NULL;
}

void **apt_cuda_conv_bf16_slot(const AptConvDesc *d) {
    ConvPlan *pl = (ConvPlan *)d->plan;
    APT_CHECK(pl, "cuda conv: conv2d_prepare was not called for this layer");
    return &pl->bf16;
}

static ConvPlan *plan_for(AptCudaImpl *m, const AptConvDesc *d, int n) {
    ConvPlan *pl = (ConvPlan *)d->plan;
    APT_CHECK(pl, "cuda conv: conv2d_prepare was not called for this layer");
    APT_CHECK(n > 0 && n <= d->N, "cuda conv: n %d outside (0, %d]", n, d->N);
    CUDNN_CHECK(cudnnSetStream(m->cudnn, m->stream));
    set_xy(d, pl, n);
    return pl;
}

// The workspace an algorithm needs for n rows must fit what set-up allocated for N rows.
static void check_ws(AptCudaImpl *m, size_t bytes) {
    APT_CHECK(bytes <= m->ws_bytes, "cuda conv: workspace %zu > %zu allocated at set-up", bytes, m->ws_bytes);
}

void apt_cuda_conv2d_forward(AptBackend *be, const AptConvDesc *d, int n, const float *x, const float *w,
                             const float *bias, float *y) {
    AptCudaImpl *m = apt_cuda_impl(be);
    ConvPlan *pl = plan_for(m, d, n);
    size_t bytes = 0;
    CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(m->cudnn, pl->x, pl->w, pl->conv, pl->y, pl->algo->fwd, &bytes));
    check_ws(m, bytes);
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionForward(m->cudnn, &one, pl->x, x, pl->w, w, pl->conv, pl->algo->fwd, m->ws, bytes,
                                        &zero, pl->y, y));
    if (bias) CUDNN_CHECK(cudnnAddTensor(m->cudnn, &one, pl->b, bias, &one, pl->y, y)); // broadcast over n, p, q
}

void apt_cuda_conv2d_backward_data(AptBackend *be, const AptConvDesc *d, int n, const float *dy, const float *w,
                                   float *dx) {
    AptCudaImpl *m = apt_cuda_impl(be);
    ConvPlan *pl = plan_for(m, d, n);
    size_t bytes = 0;
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(m->cudnn, pl->w, pl->y, pl->conv, pl->x,
                                                             pl->algo->bwd_data, &bytes));
    check_ws(m, bytes);
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionBackwardData(m->cudnn, &one, pl->w, w, pl->y, dy, pl->conv, pl->algo->bwd_data, m->ws,
                                             bytes, &zero, pl->x, dx));
}

void apt_cuda_conv2d_backward_weights(AptBackend *be, const AptConvDesc *d, int n, const float *x, const float *dy,
                                      float *dw, float *db) {
    AptCudaImpl *m = apt_cuda_impl(be);
    ConvPlan *pl = plan_for(m, d, n);
    size_t bytes = 0;
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(m->cudnn, pl->x, pl->y, pl->conv, pl->w,
                                                               pl->algo->bwd_filter, &bytes));
    check_ws(m, bytes);
    const float one = 1.0f;
    // beta = 1: dw accumulates, as backend.h specifies for parameter gradients.
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(m->cudnn, &one, pl->x, x, pl->y, dy, pl->conv, pl->algo->bwd_filter,
                                               m->ws, bytes, &one, pl->w, dw));
    if (db) apt_cuda_channel_sum_add(be, n, d->K, d->P * d->Q, dy, db);
}
