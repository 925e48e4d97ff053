// bench_nccl_spin.cu — the synthetic backward layer of bench_nccl: a kernel that keeps every SM fully
// occupied (8 blocks of 256 threads per SM = 2048 resident threads, the Hopper/Ampere maximum) for a
// given number of clock cycles, so communication kernels must compete for SMs as with real backward.
#include <cuda_runtime.h>

#include "backend/cuda/cuda_check.cuh"

__global__ void apt_bench_spin_kernel(long long cycles) {
    const long long t0 = clock64();
    while (clock64() - t0 < cycles) {
    }
}

extern "C" void apt_bench_spin(void *stream, long long cycles, int sms) {
    apt_bench_spin_kernel<<<sms * 8, 256, 0, (cudaStream_t)stream>>>(cycles);
    CUDA_CHECK_LAUNCH();
}
