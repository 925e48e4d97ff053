// cuda_norm.cu — batch normalisation (frozen/inference and the split train path of sync BN) and row L2
// normalisation (twin of cpu/cpu_norm.c, same arithmetic: per-channel statistics in float64).
//
// cuDNN's batch-norm calls are not used: they fuse statistics and normalisation in one call, while the
// exactness contract needs the partial sums {Σx, Σx²} / {Σdy, Σdy·x̂} exposed for an all-reduce between
// the two halves, in float64 and in a fixed order. Per-channel sums: grid (C, chunks); block (c, k) sums
// its chunk of the N·HW values of channel c in double with a fixed tree; a second kernel adds the chunks
// of each channel in index order. The chunk count depends on the sizes only, so results are bitwise
// reproducible on any device.
#include "cuda_ops.cuh"

#define RED_THREADS 256

enum { RED_STATS = 0, RED_BWD_STATS, RED_AFFINE, RED_SUM };

static int red_chunks(int N, int HW) {
    long long n = (long long)N * HW, k = (n + 4095) / 4096;
    return (int)(k < 1 ? 1 : (k > APT_CUDA_RED_CHUNKS ? APT_CUDA_RED_CHUNKS : k));
}

// part[(c * chunks + k) * 2 + v]. I: index type of the N·HW positions of one channel (uint32_t when
// N·HW < 2^31, see cuda_common.cuh); the offset into x itself is always size_t. TX: float, or uint16_t
// for the bf16 activation chain (x widened on load, cuda_common.cuh).
template <int MODE, typename I, typename TX>
__global__ void chan_partials_kernel(int N, int C, int HW, int chunks, const TX *x, const float *dy,
                                     const float *mean, const float *var, float eps, double *part) {
    __shared__ double red[32];
    const int c = blockIdx.x, k = blockIdx.y;
    const I n_all = (I)N * (I)HW, len = (n_all + (I)chunks - 1) / (I)chunks, hw = (I)HW;
    const I e0 = (I)k * len, e1 = e0 + len < n_all ? e0 + len : n_all;
    double m = 0, invstd_d = 0;
    float mf = 0, invstd_f = 0;
    if (MODE == RED_BWD_STATS) {
        invstd_d = 1.0 / sqrt((double)var[c] + eps);
        m = mean[c];
    }
    if (MODE == RED_AFFINE) {
        invstd_f = 1.0f / sqrtf(var[c] + eps);
        mf = mean[c];
    }
    double s0 = 0, s1 = 0;
    for (I e = e0 + threadIdx.x; e < e1; e += blockDim.x) {
        const I n = e / hw, p = e - n * hw; // one division per element, in I
        const size_t o = ((size_t)n * C + c) * HW + p;
        if (MODE == RED_STATS) {
            double v = apt_ld(x, o);
            s0 += v;
            s1 += v * v;
        } else if (MODE == RED_BWD_STATS) {
            double g = dy[o];
            s0 += g;
            s1 += g * ((apt_ld(x, o) - m) * invstd_d);
        } else if (MODE == RED_AFFINE) {
            s0 += dy[o];
            s1 += (double)dy[o] * ((apt_ld(x, o) - mf) * invstd_f);
        } else {
            s0 += dy[o];
        }
    }
    s0 = apt_block_sum(s0, red);
    if (MODE != RED_SUM) s1 = apt_block_sum(s1, red);
    if (threadIdx.x == 0) {
        part[((size_t)c * chunks + k) * 2] = s0;
        part[((size_t)c * chunks + k) * 2 + 1] = s1;
    }
}

// Chunks of each channel in index order. sums: [2C] doubles (stats modes) or float accumulation targets.
__global__ void chan_finish_kernel(int C, int chunks, const double *part, double *sums, float *acc0, float *acc1) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double s0 = 0, s1 = 0;
    for (int k = 0; k < chunks; k++) {
        s0 += part[((size_t)c * chunks + k) * 2];
        s1 += part[((size_t)c * chunks + k) * 2 + 1];
    }
    if (sums) {
        sums[c] = s0;
        sums[C + c] = s1;
    }
    if (acc0) acc0[c] += (float)s0;
    if (acc1) acc1[c] += (float)s1;
}

template <int MODE, typename TX>
static void chan_reduce(AptBackend *be, int N, int C, int HW, const TX *x, const float *dy, const float *mean,
                        const float *var, float eps, double *sums, float *acc0, float *acc1) {
    AptCudaImpl *m = apt_cuda_impl(be);
    APT_CHECK(C <= APT_CUDA_RED_CMAX, "cuda reductions: %d channels > %d", C, APT_CUDA_RED_CMAX);
    if (C == 0) return;
    const int chunks = red_chunks(N, HW);
    dim3 grid((unsigned)C, (unsigned)chunks);
    if (apt_cuda_idx32((size_t)N * HW))
        chan_partials_kernel<MODE, uint32_t>
            <<<grid, RED_THREADS, 0, m->stream>>>(N, C, HW, chunks, x, dy, mean, var, eps, m->red);
    else
        chan_partials_kernel<MODE, size_t>
            <<<grid, RED_THREADS, 0, m->stream>>>(N, C, HW, chunks, x, dy, mean, var, eps, m->red);
    CUDA_CHECK_LAUNCH();
    chan_finish_kernel<<<APT_CEIL_DIV(C, 128), 128, 0, m->stream>>>(C, chunks, m->red, sums, acc0, acc1);
    CUDA_CHECK_LAUNCH();
}

void apt_cuda_channel_sum_add(AptBackend *be, int N, int C, int HW, const float *dy, float *db) {
    chan_reduce<RED_SUM, float>(be, N, C, HW, NULL, dy, NULL, NULL, 0.0f, NULL, db, NULL);
}

#define BN_THREADS 256

// y = x * a + b with a = gamma / sqrt(var + eps), b = beta - mean * a (as the CPU, in float).
template <typename I, typename TX, typename TY>
__global__ void bn_fwd_kernel(I n, int C, int HW, const TX *x, const float *mean, const float *var, float eps,
                              const float *gamma, const float *beta, TY *y) {
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x) {
        const int c = (int)((i / (I)HW) % (I)C);
        const float invstd = 1.0f / sqrtf(var[c] + eps), a = gamma[c] * invstd, b = beta[c] - mean[c] * a;
        apt_st(y, i, apt_ld(x, i) * a + b);
    }
}

template <typename I>
__global__ void bn_dx_affine_kernel(I n, int C, int HW, const float *dy, const float *var, float eps,
                                    const float *gamma, float *dx) {
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x) {
        const int c = (int)((i / (I)HW) % (I)C);
        dx[i] = dy[i] * (gamma[c] * (1.0f / sqrtf(var[c] + eps)));
    }
}

template <typename I, typename TX>
__global__ void bn_dx_train_kernel(I n, int C, int HW, const TX *x, const float *dy, const float *mean,
                                   const float *var, float eps, const float *gamma, const double *sums, double count,
                                   float *dx) {
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x) {
        const int c = (int)((i / (I)HW) % (I)C);
        const float invstd = (float)(1.0 / sqrt((double)var[c] + eps)), a = gamma[c] * invstd, m = mean[c];
        const float mdy = (float)(sums[c] / count), mdyx = (float)(sums[C + c] / count);
        dx[i] = a * (dy[i] - mdy - (apt_ld(x, i) - m) * invstd * mdyx);
    }
}

__global__ void bn_finalize_kernel(int C, const double *sums, double count, float momentum, float *mean, float *var,
                                   float *running_mean, float *running_var) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double m = sums[c] / count, v = sums[C + c] / count - m * m;
    if (v < 0) v = 0;
    mean[c] = (float)m;
    var[c] = (float)v;
    if (running_mean) {
        double unbiased = count > 1 ? v * count / (count - 1) : v;
        running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * m);
        running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
    }
}

// ---- the ops on views: one launcher per kernel family, T the storage type of x (and y): float, or
// uint16_t for the bf16 chain; statistics, gradients and per-channel vectors fp32 / float64 either way.
void apt_cuda_bn_forward(AptBackend *be, int N, int C, int HW, AptTensor x, const float *mean,
                         const float *var, float eps, const float *gamma, const float *beta, AptTensor y) {
    const AptDType dt = apt_cuda_form("bn_forward", "x", x);
    apt_cuda_act("bn_forward", "y", y, dt);
    const size_t n = (size_t)N * C * HW;
    apt_cuda_typed(dt, [&](auto t) {
        using T = decltype(t);
        APT_CUDA_LAUNCH_I(BN_THREADS, bn_fwd_kernel, n, n, C, HW, (const T *)x.p, mean, var, eps, gamma, beta,
                          (T *)y.p);
    });
}

void apt_cuda_bn_backward_affine(AptBackend *be, int N, int C, int HW, AptTensor x, AptTensor dy,
                                 const float *mean, const float *var, float eps, const float *gamma,
                                 AptTensor dx, float *dgamma, float *dbeta) {
    const AptDType dt = apt_cuda_form("bn_backward_affine", "x", x);
    apt_cuda_grad("bn_backward_affine", "dy", dy);
    apt_cuda_grad("bn_backward_affine", "dx", dx);
    const size_t n = (size_t)N * C * HW;
    if (!n) return;
    apt_cuda_typed(dt, [&](auto t) {
        using T = decltype(t);
        if (dgamma || dbeta)
            chan_reduce<RED_AFFINE, T>(be, N, C, HW, (const T *)x.p, (const float *)dy.p, mean, var, eps,
                                       NULL, dbeta, dgamma);
    });
    if (dx.p)
        APT_CUDA_LAUNCH_I(BN_THREADS, bn_dx_affine_kernel, n, n, C, HW, (const float *)dy.p, var, eps, gamma,
                          (float *)dx.p);
}

void apt_cuda_bn_stats(AptBackend *be, int N, int C, int HW, AptTensor x, double *sums) {
    apt_cuda_typed(apt_cuda_form("bn_stats", "x", x), [&](auto t) {
        using T = decltype(t);
        chan_reduce<RED_STATS, T>(be, N, C, HW, (const T *)x.p, NULL, NULL, NULL, 0.0f, sums, NULL, NULL);
    });
}

void apt_cuda_bn_finalize(AptBackend *be, int C, const double *sums, double count, float momentum, float *mean,
                          float *var, float *running_mean, float *running_var) {
    if (!C) return;
    bn_finalize_kernel<<<APT_CEIL_DIV(C, 128), 128, 0, apt_cuda_impl(be)->stream>>>(C, sums, count, momentum, mean, var,
                                                                                     running_mean, running_var);
    CUDA_CHECK_LAUNCH();
}

void apt_cuda_bn_backward_stats(AptBackend *be, int N, int C, int HW, AptTensor x, AptTensor dy,
                                const float *mean, const float *var, float eps, double *sums) {
    const AptDType dt = apt_cuda_form("bn_backward_stats", "x", x);
    apt_cuda_grad("bn_backward_stats", "dy", dy);
    apt_cuda_typed(dt, [&](auto t) {
        using T = decltype(t);
        chan_reduce<RED_BWD_STATS, T>(be, N, C, HW, (const T *)x.p, (const float *)dy.p, mean, var, eps, sums,
                                      NULL, NULL);
    });
}

void apt_cuda_bn_backward_data(AptBackend *be, int N, int C, int HW, AptTensor x, AptTensor dy,
                               const float *mean, const float *var, float eps, const float *gamma,
                               const double *sums, double count, AptTensor dx) {
    const AptDType dt = apt_cuda_form("bn_backward_data", "x", x);
    apt_cuda_grad("bn_backward_data", "dy", dy);
    apt_cuda_grad("bn_backward_data", "dx", dx);
    const size_t n = (size_t)N * C * HW;
    apt_cuda_typed(dt, [&](auto t) {
        using T = decltype(t);
        APT_CUDA_LAUNCH_I(BN_THREADS, bn_dx_train_kernel, n, n, C, HW, (const T *)x.p, (const float *)dy.p,
                          mean, var, eps, gamma, sums, count, (float *)dx.p);
    });
}

// ---- L2 normalisation: one block per row, sums in double (fixed tree) ----

__global__ void l2norm_fwd_kernel(int D, const float *x, float *y) {
    __shared__ double red[32];
    const float *xr = x + (size_t)blockIdx.x * D;
    double s = 0;
    for (int j = threadIdx.x; j < D; j += blockDim.x) s += (double)xr[j] * xr[j];
    s = apt_block_sum(s, red);
    const double nrm = sqrt(s);
    const float inv = (float)(1.0 / (nrm > 1e-12 ? nrm : 1e-12));
    for (int j = threadIdx.x; j < D; j += blockDim.x) y[(size_t)blockIdx.x * D + j] = xr[j] * inv;
}

__global__ void l2norm_bwd_kernel(int D, const float *x, const float *y, const float *dy, float *dx) {
    __shared__ double red[32];
    const size_t o = (size_t)blockIdx.x * D;
    double s = 0, yd = 0;
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        s += (double)x[o + j] * x[o + j];
        yd += (double)y[o + j] * dy[o + j];
    }
    s = apt_block_sum(s, red);
    yd = apt_block_sum(yd, red);
    const double nrm = sqrt(s);
    if (nrm > 1e-12) {
        const float inv = (float)(1.0 / nrm), ydf = (float)yd;
        for (int j = threadIdx.x; j < D; j += blockDim.x) dx[o + j] = (dy[o + j] - y[o + j] * ydf) * inv;
    } else { // y = x / eps: a linear map
        for (int j = threadIdx.x; j < D; j += blockDim.x) dx[o + j] = dy[o + j] * 1e12f;
    }
}

void apt_cuda_l2norm_forward(AptBackend *be, int N, int D, const float *x, float *y) {
    if (N <= 0) return;
    l2norm_fwd_kernel<<<N, 256, 0, apt_cuda_impl(be)->stream>>>(D, x, y);
    CUDA_CHECK_LAUNCH();
}

void apt_cuda_l2norm_backward(AptBackend *be, int N, int D, const float *x, const float *y, const float *dy,
                              float *dx) {
    if (N <= 0) return;
    l2norm_bwd_kernel<<<N, 256, 0, apt_cuda_impl(be)->stream>>>(D, x, y, dy, dx);
    CUDA_CHECK_LAUNCH();
}
