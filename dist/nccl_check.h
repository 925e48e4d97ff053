// nccl_check.h — NCCL_CHECK and CUDART_CHECK (runtime API from plain C) on top of apt_fatal.
#pragma once
#include "../src/core/check.h"
#include <cuda_runtime.h>
#include <nccl.h>

#define NCCL_CHECK(call)                                                                                     \
    do {                                                                                                     \
        ncclResult_t nccl_rc_ = (call);                                                                      \
        if (nccl_rc_ != ncclSuccess)                                                                         \
            apt_fatal(__FILE__, __LINE__, "%s failed: %s", #call, ncclGetErrorString(nccl_rc_));             \
    } while (0)

#define CUDART_CHECK(call)                                                                                   \
    do {                                                                                                     \
        cudaError_t cuda_rc_ = (call);                                                                       \
        if (cuda_rc_ != cudaSuccess)                                                                         \
            apt_fatal(__FILE__, __LINE__, "%s failed: %s", #call, cudaGetErrorString(cuda_rc_));             \
    } while (0)
