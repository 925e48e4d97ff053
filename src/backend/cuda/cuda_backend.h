// cuda_backend.h — what the CUDA op table offers beyond backend.h (built only with the CUDA toolkit).
//
// The table is created on the CURRENT device (dist/comm_nccl.c selects device = local rank before the
// backend is created). Every op is enqueued on the backend's stream and returns without waiting; alloc,
// free, host<->device copies and sync wait for the device.
#pragma once
#include "backend/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

// The cudaStream_t every op runs on (the compute stream the NCCL communicator orders itself after).
void *apt_backend_cuda_stream(AptBackend *be);
// Config `precision`: 0 = fp32 (CUDNN_FMA_MATH, no TF32; matches the CPU to 1e-5), 1 = bf16 (convolutions
// on tensor cores with reduced-precision products, fp32 storage and accumulation). Set-up time only:
// applies to conv2d_prepare calls made after it.
void apt_backend_cuda_set_precision(AptBackend *be, int bf16);

#ifdef __cplusplus
}
#endif
