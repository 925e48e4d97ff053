// cuda_ops.cuh — the functions behind the CUDA op table and the backend's private state (internal to
// src/backend/cuda/). Every op is enqueued on impl->stream and returns without waiting for the device;
// only alloc/free, host<->device copies and sync wait (documented at each).
//
// Conventions are those of backend.h (NCHW float32, forward overwrites, backward overwrites dx and
// accumulates parameter gradients). Reductions are deterministic: per-channel and per-row sums are split
// into a FIXED number of chunks that depends only on the sizes (never on the device), each chunk summed
// in double by one block in a fixed tree, then the chunks added in index order. No atomics.
#pragma once
#include <cublas_v2.h>
#include <cudnn.h>

#include "backend/backend.h"
#include "cuda_common.cuh"

#define APT_CUDA_RED_CHUNKS 32      // chunks per channel of the per-channel reductions
#define APT_CUDA_RED_CMAX 8192      // channels the reduction scratch is sized for
#define APT_CUDA_ALGO_CACHE 128     // distinct convolution shapes remembered
#define APT_CUDA_CONV_WS_MAX ((size_t)1 << 30) // largest workspace an algorithm may ask for

typedef struct {
    int key[10]; // N C H W K R S stride_h stride_w, then pad_h * 65536 + pad_w * 4 + AptConvKind
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bwd_data;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter;
} AptCudaAlgo;

typedef struct {
    int device;
    cudaStream_t stream;
    cublasHandle_t cublas;
    cudnnHandle_t cudnn;
    int tf32;              // math mode (apt_backend_cuda_set_math): fp32 convolutions on TF32 tensor cores
    void *ws;              // convolution workspace shared by all layers (one stream), grown at prepare
    size_t ws_bytes;
    double *red;           // [2 * APT_CUDA_RED_CMAX * APT_CUDA_RED_CHUNKS] reduction partials
    AptCudaAlgo algos[APT_CUDA_ALGO_CACHE];
    int nalgos;
    // Batch upload (be->upload): host -> pinned slot -> device on copy_stream; up_done[k] marks slot k's
    // copy finished (the compute stream waits on it in upload_wait; the next use of the slot on the host).
    cudaStream_t copy_stream;
    cudaEvent_t up_done[2];
    cudaEvent_t poll_mark; // be->poll's marker on the compute stream (the step's interruptible host wait)
    void *pinned[2];
    size_t pinned_bytes[2];
    int up_next, up_last; // slot of the next upload; of the last one (-1: none)
} AptCudaImpl;

static inline AptCudaImpl *apt_cuda_impl(AptBackend *be) { return (AptCudaImpl *)be->impl; }

// ---- launches: every per-element kernel goes through these (grid-stride loops on be's stream) ----
// `kernel` over n elements with `threads` per block; returns from the caller when n == 0.
#define APT_CUDA_LAUNCH(threads, kernel, n, ...)                                                             \
    do {                                                                                                     \
        if ((n) == 0) return;                                                                                \
        kernel<<<apt_cuda_grid_1d((n), (threads)), (threads), 0, apt_cuda_impl(be)->stream>>>(__VA_ARGS__);  \
        CUDA_CHECK_LAUNCH();                                                                                 \
    } while (0)
// The same for a kernel templated on its index type I (its first parameter is n: I): uint32_t when n and
// n_other (the other tensor's size) are < 2^31 (cuda_common.cuh, apt_cuda_idx32), else size_t.
#define APT_CUDA_LAUNCH_I(threads, kernel, n, n_other, ...)                                                  \
    do {                                                                                                     \
        if (apt_cuda_idx32(n) && apt_cuda_idx32(n_other))                                                    \
            APT_CUDA_LAUNCH(threads, kernel<uint32_t>, n, (uint32_t)(n), __VA_ARGS__);                       \
        else                                                                                                 \
            APT_CUDA_LAUNCH(threads, kernel<size_t>, n, (size_t)(n), __VA_ARGS__);                           \
    } while (0)

// ---- views (backend.h): CUDA runs both forms of the ops on views in NCHW, fp32 and the bf16 chain
// (bf16 activations, fp32 gradients). Each op checks its views, then calls its one launcher with the
// storage type of the activation's dtype: kernels are templated on it (apt_ld / apt_st widen and round).
// f(T()) with T = float (APT_F32) or uint16_t (APT_BF16).
template <typename F> static inline void apt_cuda_typed(AptDType dt, F &&f) {
    if (dt == APT_BF16)
        f(uint16_t());
    else
        f(float());
}
// An activation view of dtype dt; a gradient view (fp32); both NCHW. Absent views pass.
static inline void apt_cuda_act(const char *op, const char *arg, AptTensor t, AptDType dt) {
    apt_tensor_expect(op, arg, t, dt, APT_NCHW);
}
static inline void apt_cuda_grad(const char *op, const char *arg, AptTensor t) {
    apt_tensor_expect(op, arg, t, APT_F32, APT_NCHW);
}
// The dtype an activation view selects (fp32 or bf16, NCHW; fatal otherwise).
static inline AptDType apt_cuda_form(const char *op, const char *arg, AptTensor x) {
    const AptDType dt = x.dtype == APT_BF16 ? APT_BF16 : APT_F32;
    apt_cuda_act(op, arg, x, dt);
    return dt;
}

// The typed kernels behind the ops on views (the view entry points are generated declarations below).
// cuda_gemm.cu
void apt_cuda_gemm_f32(AptBackend *be, bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
                       int lda, const float *B, int ldb, float beta, float *C, int ldc);
void apt_cuda_linear_forward(AptBackend *be, int N, int in, int out, const float *x, const float *w, const float *b,
                             float *y);
void apt_cuda_linear_backward(AptBackend *be, int N, int in, int out, const float *x, const float *w,
                              const float *dy, float *dx, float *dw, float *db);

// cuda_conv.cu: fp32
void apt_cuda_conv2d_prepare_f32(AptBackend *be, AptConvDesc *d);
void apt_cuda_conv2d_forward_f32(AptBackend *be, const AptConvDesc *d, int n, const float *x, const float *w,
                                 const float *bias, float *y);
void apt_cuda_conv2d_backward_data_f32(AptBackend *be, const AptConvDesc *d, int n, const float *dy,
                                       const float *w, float *dx);
void apt_cuda_conv2d_backward_weights_f32(AptBackend *be, const AptConvDesc *d, int n, const float *x,
                                          const float *dy, float *dw, float *db);
// cuda_bf16.cu: the bf16 chain's convolutions (x, y, dy, w bf16; dx, dw fp32; after the fp32 prepare)
void apt_cuda_conv2d_prepare_bf16(AptBackend *be, AptConvDesc *d);
void apt_cuda_conv2d_forward_bf16(AptBackend *be, const AptConvDesc *d, int n, const uint16_t *x,
                                  const uint16_t *w, uint16_t *y);
void apt_cuda_conv2d_backward_data_bf16(AptBackend *be, const AptConvDesc *d, int n, const uint16_t *dy,
                                        const uint16_t *w, float *dx);
void apt_cuda_conv2d_backward_weights_bf16(AptBackend *be, const AptConvDesc *d, int n, const uint16_t *x,
                                           const uint16_t *dy, float *dw);
void apt_cuda_gemm_bf16(AptBackend *be, bool ta, bool tb, int M, int N, int K, float alpha, const uint16_t *A,
                        int lda, const uint16_t *B, int ldb, float beta, float *C, int ldc);
void apt_cuda_conv2d_release(AptBackend *be, AptConvDesc *d);
// Which convolutions a choice is for: fp32 tensors in FMA math (exact fp32), fp32 tensors with TF32
// tensor-core math (apt_backend_cuda_set_math), bf16 tensors with fp32 accumulation (cuda_bf16.cu).
typedef enum { APT_CONV_FP32 = 0, APT_CONV_TF32 = 1, APT_CONV_BF16 = 2 } AptConvKind;
// Set-up time: one cuDNN algorithm per direction for the shape x/w/conv/y describe (d names it in
// errors), chosen from the heuristics then an ordered fallback list, each candidate's support checked
// with its workspace query (cuda_conv.cu); cached per shape and kind in m (the pointer stays valid). A
// shape with no supported algorithm in some direction is a fatal error naming the shape.
const AptCudaAlgo *apt_cuda_conv_choose(AptCudaImpl *m, const AptConvDesc *d, AptConvKind kind,
                                        cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
                                        cudnnConvolutionDescriptor_t conv, cudnnTensorDescriptor_t y);
// The shared convolution workspace m->ws grows to `bytes` (set-up time only: synchronises the stream).
void apt_cuda_grow_workspace(AptCudaImpl *m, size_t bytes);
// Where a layer's bf16 plan hangs (in its fp32 plan, so conv2d_release frees both), and its release.
void **apt_cuda_conv_bf16_slot(const AptConvDesc *d);
void apt_cuda_conv_bf16_release(void *plan);

// cuda_norm.cu
void apt_cuda_bn_finalize(AptBackend *be, int C, const double *sums, double count, float momentum,
                          float *mean, float *var, float *running_mean, float *running_var);
void apt_cuda_l2norm_forward(AptBackend *be, int N, int D, const float *x, float *y);
void apt_cuda_l2norm_backward(AptBackend *be, int N, int D, const float *x, const float *y, const float *dy,
                              float *dx);
// Per-channel sums of dy over (n, hw) added to db (float), deterministic: shared by conv and linear.
void apt_cuda_channel_sum_add(AptBackend *be, int N, int C, int HW, const float *dy, float *db);

// cuda_pool.cu
void apt_cuda_avgpool_forward(AptBackend *be, const AptPoolDesc *d, int n, const float *x, float *y);
void apt_cuda_avgpool_backward(AptBackend *be, const AptPoolDesc *d, int n, const float *dy, float *dx);

// cuda_eltwise.cu
void apt_cuda_axpy(AptBackend *be, size_t n, float alpha, const float *x, float *y);
void apt_cuda_scale(AptBackend *be, size_t n, float alpha, float *x);
void apt_cuda_fill(AptBackend *be, size_t n, float value, float *x);
// y[n, c] = b[c] for n < N: the bias broadcast before a GEMM/conv adds into it.
void apt_cuda_bias_rows(AptBackend *be, int N, int C, int HW, const float *b, float *y);

// Every op of backend.h's list, as apt_cuda_<op> (cuda_step.cu holds the step-tail ops: float64 fill,
// cast, sum of squares, finite flag, optimizer updates, ranking loss).
#define APT_CUDA_OP_DECL(name, params, args) void apt_cuda_##name params;
APT_BACKEND_OPS(APT_CUDA_OP_DECL)
APT_BACKEND_TIMER_OPS(APT_CUDA_OP_DECL) // cuda_timer.cu
#undef APT_CUDA_OP_DECL
