// cuda_pool_window.h — which pooling windows cover an input row: the index arithmetic of the gather-form
// pooling backward (cuda_pool.cu), shared with a host test (tests/backend/test_pool_window.c).
// C11 and CUDA C++, header-only.
#pragma once

#ifdef __CUDACC__
#define APT_POOL_HD __host__ __device__ __forceinline__
#else
#define APT_POOL_HD static inline
#endif

// Output rows p (0 <= p < P) whose window [p*s - pad, p*s - pad + k) contains input row h: [*lo, *hi]
// (empty when *lo > *hi). From p*s >= h + pad - k + 1 and p*s <= h + pad, with h + pad >= 0.
APT_POOL_HD void apt_pool_window_range(int h, int k, int s, int pad, int P, int *lo, int *hi) {
    const int a = h + pad - k + 1;
    *lo = a <= 0 ? 0 : (a + s - 1) / s;
    const int b = (h + pad) / s;
    *hi = b < P - 1 ? b : P - 1;
}
