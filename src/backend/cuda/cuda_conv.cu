// cuda_conv.cu — 2-D convolution through cuDNN 9's convolution API (twin of cpu/cpu_conv.c), NCHW fp32.
//
// Set-up (conv2d_prepare, once per layer): descriptors, then one algorithm per direction chosen from
// cuDNN's heuristics (the _v7 queries, ordered by expected speed): the first that succeeds, is
// DETERMINISTIC, is allowed (below), and whose workspace query for these very descriptors succeeds
// (cuDNN answers CUDNN_STATUS_NOT_SUPPORTED there for a shape the algorithm cannot run) within
// APT_CUDA_CONV_WS_MAX bytes; when the heuristics offer none, the first supported algorithm of an
// ordered fallback list; when no algorithm is supported, a fatal error naming the shape.
// apt_cuda_conv_choose does this for the fp32 plans here and the bf16 plans (cuda_bf16.cu). Choices are
// cached per shape and kind in the backend (ResNets repeat shapes), and the shared workspace grows
// here, never inside a step.
// Math: fp32 layers use CUDNN_FMA_MATH — not CUDNN_DEFAULT_MATH, which on Ampere and later lets cuDNN
// pick TF32 tensor-core kernels for fp32 data (NVIDIA_TF32_OVERRIDE aside): fp32 results must match the
// CPU to 1e-5 and TF32 keeps 10 mantissa bits. fp32 layers also exclude FFT and Winograd algorithms
// (cuda_conv_algo.h). In the TF32 math mode (apt_backend_cuda_set_math, bench_resnet_cuda --tf32)
// CUDNN_TENSOR_OP_MATH lets cuDNN use tensor cores on these fp32 tensors: TF32 products (10-bit mantissa,
// fp32 range, fp32 accumulation). precision: bf16 is another path: the bf16 activation chain's own
// convolutions on bf16 tensors (cuda_bf16.cu), whatever the math mode.
// A call with n < N re-describes x/y for n rows (host-side only) and re-checks the workspace size.
#include <stdint.h>
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
    void *bf16; // the layer's bf16 plan (cuda_bf16.cu, conv2d_prepare of a bf16 descriptor), or NULL
} ConvPlan;

static void set_xy(const AptConvDesc *d, ConvPlan *pl, int n) {
    if (pl->n_desc == n) return;
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(pl->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, d->C, d->H, d->W));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(pl->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, d->K, d->P, d->Q));
    pl->n_desc = n;
}

static void shape_key(const AptConvDesc *d, AptConvKind kind, int key[10]) {
    int k[10] = {d->N, d->C, d->H,        d->W,        d->K,
                 d->R, d->S, d->stride_h, d->stride_w, d->pad_h * 65536 + d->pad_w * 4 + (int)kind};
    memcpy(key, k, sizeof k);
}

// Whether a heuristic entry would run on tensor cores (TF32 for fp32 data): excluded in fp32 mode.
static int tensor_math(cudnnMathType_t t) {
    return t == CUDNN_TENSOR_OP_MATH || t == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

static const char *kind_name(AptConvKind k) {
    return k == APT_CONV_FP32 ? "fp32" : k == APT_CONV_TF32 ? "fp32 (TF32)" : "bf16";
}

typedef struct {
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
} Descs;

// Workspace bytes algorithm a needs in one direction, or SIZE_MAX when cuDNN does not support it for
// these descriptors (CUDNN_STATUS_NOT_SUPPORTED and any other error): the per-shape support check.
static size_t ws_fwd(AptCudaImpl *m, const Descs *c, int a) {
    size_t b = 0;
    return cudnnGetConvolutionForwardWorkspaceSize(m->cudnn, c->x, c->w, c->conv, c->y,
                                                   (cudnnConvolutionFwdAlgo_t)a, &b) == CUDNN_STATUS_SUCCESS
               ? b
               : SIZE_MAX;
}
static size_t ws_bwd_data(AptCudaImpl *m, const Descs *c, int a) {
    size_t b = 0;
    return cudnnGetConvolutionBackwardDataWorkspaceSize(m->cudnn, c->w, c->y, c->conv, c->x,
                                                        (cudnnConvolutionBwdDataAlgo_t)a,
                                                        &b) == CUDNN_STATUS_SUCCESS
               ? b
               : SIZE_MAX;
}
static size_t ws_bwd_filter(AptCudaImpl *m, const Descs *c, int a) {
    size_t b = 0;
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(m->cudnn, c->x, c->y, c->conv, c->w,
                                                          (cudnnConvolutionBwdFilterAlgo_t)a,
                                                          &b) == CUDNN_STATUS_SUCCESS
               ? b
               : SIZE_MAX;
}

// One direction's choice: the first entry of cuDNN's heuristics list (ordered by expected speed) that
// succeeded, is DETERMINISTIC, is allowed for the kind (fp32: a GEMM-type algorithm (cuda_conv_algo.h) in
// FMA math; bf16: a GEMM-type algorithm, tensor cores allowed — the op test's bf16 bound (op_cases_chain.h)
// assumes each output is one dot product accumulated in fp32; TF32: any) and whose workspace query
// succeeds within APT_CUDA_CONV_WS_MAX; else the first of `fallback` (in order) whose query succeeds. -1: none.
template <typename Perf>
static int choose(AptCudaImpl *m, const Descs *c, AptConvKind kind, const Perf *perf, int n,
                  int (*allowed)(int), size_t (*ws)(AptCudaImpl *, const Descs *, int), const int *fallback,
                  int nfallback) {
    for (int i = 0; i < n; i++) {
        const int a = (int)perf[i].algo;
        if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].determinism != CUDNN_DETERMINISTIC ||
            perf[i].memory > APT_CUDA_CONV_WS_MAX)
            continue;
        if (kind != APT_CONV_TF32 && !allowed(a)) continue;
        if (kind == APT_CONV_FP32 && tensor_math(perf[i].mathType)) continue;
        if (ws(m, c, a) <= APT_CUDA_CONV_WS_MAX) return a;
    }
    for (int i = 0; i < nfallback; i++)
        if (ws(m, c, fallback[i]) <= APT_CUDA_CONV_WS_MAX) return fallback[i];
    return -1;
}

#define NO_ALGO(what)                                                                                        \
    apt_fatal(                                                                                               \
        __FILE__, __LINE__,                                                                                  \
        "cuDNN supports no deterministic %s %s convolution algorithm for the shape N%d C%d H%d W%d -> K%d "  \
        "R%d S%d stride %dx%d pad %dx%d (set-up of the layer; tried the heuristics' list and the "           \
        "fallbacks)",                                                                                        \
        kind_name(kind), what, d->N, d->C, d->H, d->W, d->K, d->R, d->S, d->stride_h, d->stride_w, d->pad_h, \
        d->pad_w)

const AptCudaAlgo *apt_cuda_conv_choose(AptCudaImpl *m, const AptConvDesc *d, AptConvKind kind,
                                        cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
                                        cudnnConvolutionDescriptor_t conv, cudnnTensorDescriptor_t y) {
    int key[10];
    shape_key(d, kind, key);
    for (int i = 0; i < m->nalgos; i++)
        if (!memcmp(m->algos[i].key, key, sizeof key)) return &m->algos[i];
    APT_CHECK(m->nalgos < APT_CUDA_ALGO_CACHE, "cuda conv: more than %d distinct shapes",
              APT_CUDA_ALGO_CACHE);
    const Descs c = {x, y, w, conv};
    // Fallbacks, in order of preference: the GEMM-type deterministic algorithms (cuda_conv_algo.h).
    static const int fb_fwd[] = {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
                                 CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_GEMM};
    static const int fb_data[] = {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1};
    static const int fb_filter[] = {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1};
    AptCudaAlgo a;
    memcpy(a.key, key, sizeof key);
    int n = 0, r;
    cudnnConvolutionFwdAlgoPerf_t pf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(m->cudnn, x, w, conv, y,
                                                       CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, pf));
    if ((r = choose(m, &c, kind, pf, n, apt_conv_fp32_fwd_ok, ws_fwd, fb_fwd, 3)) < 0) NO_ALGO("forward");
    a.fwd = (cudnnConvolutionFwdAlgo_t)r;
    cudnnConvolutionBwdDataAlgoPerf_t pd[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(m->cudnn, w, y, conv, x,
                                                            CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, pd));
    if ((r = choose(m, &c, kind, pd, n, apt_conv_fp32_bwd_data_ok, ws_bwd_data, fb_data, 1)) < 0)
        NO_ALGO("backward-data");
    a.bwd_data = (cudnnConvolutionBwdDataAlgo_t)r;
    cudnnConvolutionBwdFilterAlgoPerf_t pw[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
        m->cudnn, x, y, conv, w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, pw));
    if ((r = choose(m, &c, kind, pw, n, apt_conv_fp32_bwd_filter_ok, ws_bwd_filter, fb_filter, 1)) < 0)
        NO_ALGO("backward-filter");
    a.bwd_filter = (cudnnConvolutionBwdFilterAlgo_t)r;
    m->algos[m->nalgos] = a;
    return &m->algos[m->nalgos++];
}

void apt_cuda_grow_workspace(AptCudaImpl *m, size_t bytes) {
    if (bytes <= m->ws_bytes) return;
    CUDA_CHECK(cudaStreamSynchronize(m->stream)); // set-up time: the old workspace may still be in use
    if (m->ws) CUDA_CHECK(cudaFree(m->ws));
    CUDA_CHECK(cudaMalloc(&m->ws, bytes));
    m->ws_bytes = bytes;
}

void apt_cuda_conv2d_prepare_f32(AptBackend *be, AptConvDesc *d) {
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
    CUDNN_CHECK(cudnnSetConvolutionMathType(pl->conv, m->tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    set_xy(d, pl, d->N);
    int oN, oK, oP, oQ;
    CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(pl->conv, pl->x, pl->w, &oN, &oK, &oP, &oQ));
    APT_CHECK(oN == d->N && oK == d->K && oP == d->P && oQ == d->Q, "cuDNN output shape %dx%dx%dx%d != %dx%dx%dx%d",
              oN, oK, oP, oQ, d->N, d->K, d->P, d->Q);

    pl->algo =
        apt_cuda_conv_choose(m, d, m->tf32 ? APT_CONV_TF32 : APT_CONV_FP32, pl->x, pl->w, pl->conv, pl->y);
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

void apt_cuda_conv2d_forward_f32(AptBackend *be, const AptConvDesc *d, int n, const float *x, const float *w,
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

void apt_cuda_conv2d_backward_data_f32(AptBackend *be, const AptConvDesc *d, int n, const float *dy,
                                       const float *w, float *dx) {
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

void apt_cuda_conv2d_backward_weights_f32(AptBackend *be, const AptConvDesc *d, int n, const float *x,
                                          const float *dy, float *dw, float *db) {
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

// ---- the ops on views: the descriptor's form, fp32 here or the bf16 chain (cuda_bf16.cu), in NCHW ----
static bool conv_bf16(const AptConvDesc *d) {
    APT_CHECK(d->layout == APT_NCHW, "conv2d: cuda runs convolutions in NCHW, not %s",
              apt_layout_name(d->layout));
    return d->dtype == APT_BF16;
}

void apt_cuda_conv2d_prepare(AptBackend *be, AptConvDesc *d) {
    const bool bf16 = conv_bf16(d);
    apt_cuda_conv2d_prepare_f32(be, d); // the plan the bf16 descriptors hang on
    if (bf16) apt_cuda_conv2d_prepare_bf16(be, d);
}

void apt_cuda_conv2d_forward(AptBackend *be, const AptConvDesc *d, int n, AptTensor x, AptTensor w,
                             const float *bias, AptTensor y) {
    const AptDType dt = conv_bf16(d) ? APT_BF16 : APT_F32;
    apt_cuda_act("conv2d_forward", "x", x, dt);
    apt_cuda_act("conv2d_forward", "w", w, dt);
    apt_cuda_act("conv2d_forward", "y", y, dt);
    if (dt == APT_BF16) {
        APT_CHECK(!bias, "conv2d_forward: a bf16 convolution has no bias");
        apt_cuda_conv2d_forward_bf16(be, d, n, (const uint16_t *)x.p, (const uint16_t *)w.p, (uint16_t *)y.p);
    } else {
        apt_cuda_conv2d_forward_f32(be, d, n, (const float *)x.p, (const float *)w.p, bias, (float *)y.p);
    }
}

void apt_cuda_conv2d_backward_data(AptBackend *be, const AptConvDesc *d, int n, AptTensor dy, AptTensor w,
                                   AptTensor dx) {
    const AptDType dt = conv_bf16(d) ? APT_BF16 : APT_F32;
    apt_cuda_act("conv2d_backward_data", "dy", dy, dt);
    apt_cuda_act("conv2d_backward_data", "w", w, dt);
    apt_cuda_grad("conv2d_backward_data", "dx", dx);
    if (dt == APT_BF16)
        apt_cuda_conv2d_backward_data_bf16(be, d, n, (const uint16_t *)dy.p, (const uint16_t *)w.p,
                                           (float *)dx.p);
    else
        apt_cuda_conv2d_backward_data_f32(be, d, n, (const float *)dy.p, (const float *)w.p, (float *)dx.p);
}

void apt_cuda_conv2d_backward_weights(AptBackend *be, const AptConvDesc *d, int n, AptTensor x, AptTensor dy,
                                      float *dw, float *db) {
    const AptDType dt = conv_bf16(d) ? APT_BF16 : APT_F32;
    apt_cuda_act("conv2d_backward_weights", "x", x, dt);
    apt_cuda_act("conv2d_backward_weights", "dy", dy, dt);
    if (dt == APT_BF16) {
        APT_CHECK(!db, "conv2d_backward_weights: a bf16 convolution has no bias");
        apt_cuda_conv2d_backward_weights_bf16(be, d, n, (const uint16_t *)x.p, (const uint16_t *)dy.p, dw);
    } else {
        apt_cuda_conv2d_backward_weights_f32(be, d, n, (const float *)x.p, (const float *)dy.p, dw, db);
    }
}
