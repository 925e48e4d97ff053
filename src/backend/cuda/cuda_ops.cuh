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

// cuda_gemm.cu
void apt_cuda_gemm(AptBackend *be, bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc);
void apt_cuda_linear_forward(AptBackend *be, int N, int in, int out, const float *x, const float *w, const float *b,
                             float *y);
void apt_cuda_linear_backward(AptBackend *be, int N, int in, int out, const float *x, const float *w,
                              const float *dy, float *dx, float *dw, float *db);

// cuda_conv.cu
void apt_cuda_conv2d_prepare(AptBackend *be, AptConvDesc *d);
void apt_cuda_conv2d_release(AptBackend *be, AptConvDesc *d);
void apt_cuda_conv2d_forward(AptBackend *be, const AptConvDesc *d, int n, const float *x, const float *w,
                             const float *bias, float *y);
void apt_cuda_conv2d_backward_data(AptBackend *be, const AptConvDesc *d, int n, const float *dy, const float *w,
                                   float *dx);
void apt_cuda_conv2d_backward_weights(AptBackend *be, const AptConvDesc *d, int n, const float *x, const float *dy,
                                      float *dw, float *db);
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
void apt_cuda_bn_forward(AptBackend *be, int N, int C, int HW, const float *x, const float *mean, const float *var,
                         float eps, const float *gamma, const float *beta, float *y);
void apt_cuda_bn_backward_affine(AptBackend *be, int N, int C, int HW, const float *x, const float *dy,
                                 const float *mean, const float *var, float eps, const float *gamma, float *dx,
                                 float *dgamma, float *dbeta);
void apt_cuda_bn_stats(AptBackend *be, int N, int C, int HW, const float *x, double *sums);
void apt_cuda_bn_finalize(AptBackend *be, int C, const double *sums, double count, float momentum, float *mean,
                          float *var, float *running_mean, float *running_var);
void apt_cuda_bn_backward_stats(AptBackend *be, int N, int C, int HW, const float *x, const float *dy,
                                const float *mean, const float *var, float eps, double *sums);
void apt_cuda_bn_backward_data(AptBackend *be, int N, int C, int HW, const float *x, const float *dy,
                               const float *mean, const float *var, float eps, const float *gamma,
                               const double *sums, double count, float *dx);
void apt_cuda_l2norm_forward(AptBackend *be, int N, int D, const float *x, float *y);
void apt_cuda_l2norm_backward(AptBackend *be, int N, int D, const float *x, const float *y, const float *dy,
                              float *dx);
// Per-channel sums of dy over (n, hw) added to db (float), deterministic: shared by conv and linear.
void apt_cuda_channel_sum_add(AptBackend *be, int N, int C, int HW, const float *dy, float *db);

// cuda_pool.cu
void apt_cuda_maxpool_forward(AptBackend *be, const AptPoolDesc *d, int n, const float *x, float *y, int *idx);
void apt_cuda_maxpool_backward(AptBackend *be, const AptPoolDesc *d, int n, const float *dy, const int *idx,
                               float *dx);
void apt_cuda_avgpool_forward(AptBackend *be, const AptPoolDesc *d, int n, const float *x, float *y);
void apt_cuda_avgpool_backward(AptBackend *be, const AptPoolDesc *d, int n, const float *dy, float *dx);
void apt_cuda_gap_forward(AptBackend *be, int N, int C, int HW, const float *x, float *y);
void apt_cuda_gap_backward(AptBackend *be, int N, int C, int HW, const float *dy, float *dx);

// cuda_eltwise.cu
void apt_cuda_relu_forward(AptBackend *be, size_t n, const float *x, float *y);
void apt_cuda_relu_backward(AptBackend *be, size_t n, const float *y, const float *dy, float *dx);
void apt_cuda_add(AptBackend *be, size_t n, const float *a, const float *b, float *y);
void apt_cuda_axpy(AptBackend *be, size_t n, float alpha, const float *x, float *y);
void apt_cuda_scale(AptBackend *be, size_t n, float alpha, float *x);
void apt_cuda_fill(AptBackend *be, size_t n, float value, float *x);
// y[n, c] = b[c] for n < N: the bias broadcast before a GEMM/conv adds into it.
void apt_cuda_bias_rows(AptBackend *be, int N, int C, int HW, const float *b, float *y);

// Every op of backend.h's list, as apt_cuda_<op> (cuda_step.cu holds the step-tail ops: float64 fill,
// casts, sum of squares, finite flag, optimizer updates, ranking loss).
#define APT_CUDA_OP_DECL(name, params, args) void apt_cuda_##name params;
APT_BACKEND_OPS(APT_CUDA_OP_DECL)
APT_BACKEND_TIMER_OPS(APT_CUDA_OP_DECL) // cuda_timer.cu
#undef APT_CUDA_OP_DECL
