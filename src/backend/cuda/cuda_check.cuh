// cuda_check.cuh — CUDA_CHECK, CUBLAS_CHECK, CUDNN_CHECK on top of apt_fatal: the failed statement, the
// library's error string and the device id go into the one fatal line (then every rank exits through the
// abort hook). Never compiled out: a failed CUDA call is always fatal, never a silent wrong answer.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "core/check.h"

// The current device, for messages only (-1 if even that fails).
static inline int apt_cuda_current_device(void) {
    int d = -1;
    if (cudaGetDevice(&d) != cudaSuccess) d = -1;
    return d;
}

#define CUDA_CHECK(call)                                                                                     \
    do {                                                                                                     \
        cudaError_t cuda_rc_ = (call);                                                                       \
        if (cuda_rc_ != cudaSuccess)                                                                         \
            apt_fatal(__FILE__, __LINE__, "%s failed on device %d: %s (%d)", #call, apt_cuda_current_device(), \
                      cudaGetErrorString(cuda_rc_), (int)cuda_rc_);                                          \
    } while (0)

// A kernel launch reports configuration errors only through cudaGetLastError.
// (Asynchronous faults inside the kernel surface at the next synchronising call.)
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

#define CUBLAS_CHECK(call)                                                                                   \
    do {                                                                                                     \
        cublasStatus_t cublas_rc_ = (call);                                                                  \
        if (cublas_rc_ != CUBLAS_STATUS_SUCCESS)                                                             \
            apt_fatal(__FILE__, __LINE__, "%s failed on device %d: %s (%d)", #call, apt_cuda_current_device(), \
                      cublasGetStatusString(cublas_rc_), (int)cublas_rc_);                                   \
    } while (0)

#define CUDNN_CHECK(call)                                                                                    \
    do {                                                                                                     \
        cudnnStatus_t cudnn_rc_ = (call);                                                                    \
        if (cudnn_rc_ != CUDNN_STATUS_SUCCESS)                                                               \
            apt_fatal(__FILE__, __LINE__, "%s failed on device %d: %s (%d)", #call, apt_cuda_current_device(), \
                      cudnnGetErrorString(cudnn_rc_), (int)cudnn_rc_);                                       \
    } while (0)
