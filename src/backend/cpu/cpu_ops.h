// cpu_ops.h — the functions behind the CPU op table (internal to src/backend/cpu/).
// Threading: OpenMP over independent outputs (channels, planes, rows), OpenBLAS inside GEMM, oneDNN's
// OpenMP inside convolutions. Our reductions run in a fixed order inside one thread, so our kernels do
// not depend on the thread count; GEMM and oneDNN results are repeatable for a given thread count.
#pragma once
#include "backend/backend.h"

#include <string.h>

// bf16 <-> fp32 for the bf16 activation chain (cpu_bf16_act.c), the same rounding as cast_f32_bf16:
// widening is exact; narrowing rounds to nearest even and keeps NaN a (quiet) NaN.
static inline float apt_bf16_load(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint16_t apt_bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// Convolution routes (tests/bench/bench_conv.c; tests/bench/RESULTS.md has the comparison).
typedef enum { APT_CONV_IM2COL = 0, APT_CONV_DNNL, APT_CONV_DNNL_BLOCKED } AptConvRoute;

typedef struct {
    AptConvRoute conv_route; // for convolutions prepared from now on (default: oneDNN when built with it)
    void *dnnl;              // AptDnnl engine + stream (APT_HAVE_DNNL)
    float *ws; // convolution workspace (im2col columns + transposed output), grown at prepare time
    size_t ws_floats;
    size_t ws_cap; // floats the chunking aims at (tests lower it to exercise several chunks)
} AptCpuImpl;

// cpu_gemm.c
void apt_cpu_gemm(AptBackend *be, bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);
void apt_cpu_linear_forward(AptBackend *be, int N, int in, int out, const float *x, const float *w,
                            const float *b, float *y);
void apt_cpu_linear_backward(AptBackend *be, int N, int in, int out, const float *x, const float *w,
                             const float *dy, float *dx, float *dw, float *db);

// cpu_conv.c
void apt_cpu_conv2d_prepare(AptBackend *be, AptConvDesc *d);
void apt_cpu_conv2d_release(AptBackend *be, AptConvDesc *d);
void apt_cpu_conv2d_forward(AptBackend *be, const AptConvDesc *d, int n, const float *x, const float *w,
                            const float *bias, float *y);
void apt_cpu_conv2d_backward_data(AptBackend *be, const AptConvDesc *d, int n, const float *dy,
                                  const float *w, float *dx);
void apt_cpu_conv2d_backward_weights(AptBackend *be, const AptConvDesc *d, int n, const float *x,
                                     const float *dy, float *dw, float *db);

// The bf16 oneDNN primitives of a convolution (AptDnnlConv *): built at set-up by
// apt_cpu_conv_bf16_prepare (conv2d_prepare_bf16), returned by apt_cpu_conv_bf16_plan (fatal if absent).
void apt_cpu_conv_bf16_prepare(AptBackend *be, AptConvDesc *d);
void *apt_cpu_conv_bf16_plan(AptBackend *be, const AptConvDesc *d);

// cpu_norm.c
void apt_cpu_bn_forward(AptBackend *be, int N, int C, int HW, const float *x, const float *mean,
                        const float *var, float eps, const float *gamma, const float *beta, float *y);
void apt_cpu_bn_backward_affine(AptBackend *be, int N, int C, int HW, const float *x, const float *dy,
                                const float *mean, const float *var, float eps, const float *gamma, float *dx,
                                float *dgamma, float *dbeta);
void apt_cpu_bn_stats(AptBackend *be, int N, int C, int HW, const float *x, double *sums);
void apt_cpu_bn_finalize(AptBackend *be, int C, const double *sums, double count, float momentum, float *mean,
                         float *var, float *running_mean, float *running_var);
void apt_cpu_bn_backward_stats(AptBackend *be, int N, int C, int HW, const float *x, const float *dy,
                               const float *mean, const float *var, float eps, double *sums);
void apt_cpu_bn_backward_data(AptBackend *be, int N, int C, int HW, const float *x, const float *dy,
                              const float *mean, const float *var, float eps, const float *gamma,
                              const double *sums, double count, float *dx);
void apt_cpu_l2norm_forward(AptBackend *be, int N, int D, const float *x, float *y);
void apt_cpu_l2norm_backward(AptBackend *be, int N, int D, const float *x, const float *y, const float *dy,
                             float *dx);

// cpu_pool.c
void apt_cpu_maxpool_forward(AptBackend *be, const AptPoolDesc *d, int n, const float *x, float *y, int *idx);
void apt_cpu_maxpool_backward(AptBackend *be, const AptPoolDesc *d, int n, const float *dy, const int *idx,
                              float *dx);
void apt_cpu_avgpool_forward(AptBackend *be, const AptPoolDesc *d, int n, const float *x, float *y);
void apt_cpu_avgpool_backward(AptBackend *be, const AptPoolDesc *d, int n, const float *dy, float *dx);
void apt_cpu_gap_forward(AptBackend *be, int N, int C, int HW, const float *x, float *y);
void apt_cpu_gap_backward(AptBackend *be, int N, int C, int HW, const float *dy, float *dx);

// cpu_eltwise.c
void apt_cpu_relu_forward(AptBackend *be, size_t n, const float *x, float *y);
void apt_cpu_relu_backward(AptBackend *be, size_t n, const float *y, const float *dy, float *dx);
void apt_cpu_add(AptBackend *be, size_t n, const float *a, const float *b, float *y);
void apt_cpu_axpy(AptBackend *be, size_t n, float alpha, const float *x, float *y);
void apt_cpu_scale(AptBackend *be, size_t n, float alpha, float *x);
void apt_cpu_fill(AptBackend *be, size_t n, float value, float *x);

// Every op of backend.h's list, as apt_cpu_<op> (the explicit declarations above document the older
// ones; this covers the rest: cpu_step.c, cpu_optim.c, cpu_loss.c).
#define APT_CPU_OP_DECL(name, params, args) void apt_cpu_##name params;
APT_BACKEND_OPS(APT_CPU_OP_DECL)
APT_BACKEND_TIMER_OPS(APT_CPU_OP_DECL) // cpu_timer.c
#undef APT_CPU_OP_DECL
