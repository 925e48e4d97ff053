// cuda_backend.cu — CUDA op table entry point. The kernels are not implemented yet: this file only
// detects a usable device so that CUDA-enabled builds link and `device: auto` falls back to the CPU.
#include "backend/backend.h"

#include <cuda_runtime.h>

extern "C" AptBackend *apt_backend_cuda_create(const char **why) {
    int count = 0; // cudaGetDeviceCount leaves it untouched on error (e.g. 35: no driver)
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count == 0) {
        if (why) *why = "no CUDA device";
        return NULL;
    }
    if (why) *why = "the CUDA backend is not implemented yet";
    return NULL;
}
