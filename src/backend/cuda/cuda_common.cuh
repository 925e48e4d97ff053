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

// Index type of per-element kernels. A 64-bit integer division or remainder is a long software
// sequence on the GPU (tens of instructions), a 32-bit one a few: kernels that decompose a flat index
// (i / HW) % C are templated on the index type and launched with uint32_t whenever the element count is
// below 2^31 (every activation of the models we train), with size_t only beyond. Grid-stride loops stay
// in range: i < 2^31 and the stride is < 2^27 (apt_cuda_grid_1d's cap times 1024 threads), so i + stride
// never wraps a uint32_t.
#define APT_CUDA_IDX32_MAX ((size_t)1 << 31)
static inline bool apt_cuda_idx32(size_t n) { return n < APT_CUDA_IDX32_MAX; }

// Sum over a warp, fixed butterfly order: every lane ends with the same value.
template <typename T> __device__ __forceinline__ T apt_warp_sum(T v) {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024). `shared` holds 32 T. The result is
// valid in every thread. Deterministic: warp sums, then warp 0 sums the warp results in index order.
// Shared-memory protocol (three barriers, each needed; compute-sanitizer racecheck clean):
//   1. before writing shared[warp]: a previous call (or the caller) may still be reading shared[0];
//   2. before warp 0 reads shared[0..nwarps): every warp's partial must be written;
//   3. before thread 0 overwrites shared[0] with the total: warp 0's lanes must be done reading the
//      partials (only warp 0 reads them, but the barrier also orders the write after lane 0's read);
//   4. before anyone reads the total: thread 0's write must be visible.
// Callers may reuse `shared` for anything after the call returns only behind their own __syncthreads.
template <typename T> __device__ __forceinline__ T apt_block_sum(T v, T *shared) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = apt_warp_sum(v);
    __syncthreads(); // (1)
    if (lane == 0) shared[warp] = v;
    __syncthreads(); // (2)
    T r = T(0);
    if (warp == 0) r = apt_warp_sum(lane < nwarps ? shared[lane] : T(0));
    __syncthreads(); // (3)
    if (threadIdx.x == 0) shared[0] = r;
    __syncthreads(); // (4)
    return shared[0];
}

__device__ __forceinline__ float apt_bf16_to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ __nv_bfloat16 apt_f32_to_bf16(float v) { return __float2bfloat16_rn(v); }

// Element access for kernels templated on the storage type of the bf16 activation chain (backend.h):
// fp32 tensors as they are, bf16 tensors (uint16_t bits) widened exactly on load and rounded to nearest
// even on store. A kernel instantiated for float is the fp32 op; for uint16_t, its bf16 twin, the same
// fp32 arithmetic on the widened values.
__device__ __forceinline__ float apt_ld(const float *p, size_t i) { return p[i]; }
__device__ __forceinline__ float apt_ld(const uint16_t *p, size_t i) { return __uint_as_float((unsigned)p[i] << 16); }
__device__ __forceinline__ void apt_st(float *p, size_t i, float v) { p[i] = v; }
__device__ __forceinline__ void apt_st(uint16_t *p, size_t i, float v) {
    p[i] = __bfloat16_as_ushort(__float2bfloat16_rn(v));
}
