// cuda_common.cuh — small helpers shared by the CUDA kernels: ceil-div, grid sizing, deterministic block
// reductions, bf16 conversion.
//
// Determinism: every reduction here combines values in a fixed tree (warp shuffles with fixed offsets,
// then warps in index order), so a kernel run twice with the same launch configuration returns the same
// bits. No atomics are used for anything that reaches the loss or a gradient.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stddef.h>

#include "cuda_check.cuh"

#define APT_CEIL_DIV(a, b) (((a) + (b) - 1) / (b))

// Grid for a grid-stride elementwise loop over n elements: enough blocks to fill the device, bounded so
// a launch never exceeds the grid limit.
static inline unsigned apt_cuda_grid_1d(size_t n, int block) {
    size_t g = (n + (size_t)block - 1) / (size_t)block;
    if (g > 65535u * 8u) g = 65535u * 8u;
    return g ? (unsigned)g : 1u;
}

// Sum over a warp, fixed butterfly order: every lane ends with the same value.
template <typename T> __device__ __forceinline__ T apt_warp_sum(T v) {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024). `shared` holds 32 T. The result is
// valid in every thread. Deterministic: warp sums, then warp 0 sums the warp results in index order.
template <typename T> __device__ __forceinline__ T apt_block_sum(T v, T *shared) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = apt_warp_sum(v);
    __syncthreads(); // shared may still be read by a previous call
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    T r = lane < nwarps ? shared[lane] : T(0);
    if (warp == 0) r = apt_warp_sum(r);
    if (threadIdx.x == 0) shared[0] = r;
    __syncthreads();
    return shared[0];
}

__device__ __forceinline__ float apt_bf16_to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ __nv_bfloat16 apt_f32_to_bf16(float v) { return __float2bfloat16_rn(v); }
