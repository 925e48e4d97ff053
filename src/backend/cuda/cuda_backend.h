// cuda_backend.h — what the CUDA op table offers beyond backend.h (built only with the CUDA toolkit).
//
// The table is created on the CURRENT device. apt_backend_cuda_create_on (backend.h) first selects
// device = node-local rank (the one visible device when the launcher binds one per task), the same rule
// as apt_comm_nccl_select_device (dist/comm_nccl.h); the trainer and `aptrain eval` create it that way,
// so apt_comm_nccl_create finds the device and the compute stream it expects. Every op is enqueued on
// the backend's stream and returns without waiting; alloc, free, host<->device copies and sync wait for
// the device.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

// The cudaStream_t every op runs on (the compute stream the NCCL communicator orders itself after).
void *apt_backend_cuda_stream(AptBackend *be);
// The backend's math mode for FP32 convolutions (conv2d_forward etc.): APT_CUDA_MATH_FP32 (the default)
// = CUDNN_FMA_MATH, no TF32 (matches the CPU to 1e-5); APT_CUDA_MATH_TF32 = tensor cores allowed (TF32
// products on fp32 tensors, fp32 accumulation; within 1e-2 of fp32; bench_resnet_cuda --tf32). A property
// of how the backend computes, not a precision of the model: `precision: bf16` (the bf16 activation chain
// ops, backend.h, cuda_bf16.cu) is chosen when the model is built and is unaffected by it. Set-up time
// only: applies to conv2d_prepare calls made after it.
typedef enum { APT_CUDA_MATH_FP32 = 0, APT_CUDA_MATH_TF32 = 1 } AptCudaMath;
void apt_backend_cuda_set_math(AptBackend *be, AptCudaMath math);

// Optimizer updates on flat DEVICE ranges (cuda_optim.cu), same formulas as the cpu table's sgd_update /
// adam_update (src/backend/cpu/cpu_optim.c, formulas in src/optim/optim.h); enqueued on `stream` (a cudaStream_t).
void apt_cuda_optim_sgd_update(void *stream, float *w, const float *g, float *buf, size_t n, float lr, float wd,
                               float mu, bool nesterov);
void apt_cuda_optim_adam_update(void *stream, float *w, const float *g, float *m, float *v, size_t n, float lr,
                                float b1, float b2, float eps, float wd, bool decoupled, long t);
// fp32 master weights -> bf16 compute copy (round to nearest even), and back (exact).
void apt_cuda_cast_f32_to_bf16(void *stream, const float *x, uint16_t *y, size_t n);
void apt_cuda_cast_bf16_to_f32(void *stream, const uint16_t *x, float *y, size_t n);

#ifdef __cplusplus
}
#endif
