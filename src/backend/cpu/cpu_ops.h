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
    // The transformer GEMMs' widening workspace (cpu_transformer.c: bf16 operands as fp32), grown on the
    // first call that needs more (the first step), then reused.
    float *tws;
    size_t tws_floats;
} AptCpuImpl;

// The typed kernels behind the ops on views (cpu_dispatch.c chooses one by dtype and layout). fp32 ones
// (apt_cpu_<op>_f32) take NCHW tensors; the bf16 chain's (apt_cpu_<op>_bf16, cpu_bf16.c and
// cpu_bf16_act.c) take NHWC tensors: bf16 activations, fp32 gradients.

// cpu_gemm.c
void apt_cpu_gemm_f32(AptBackend *be, bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
                      int lda, const float *B, int ldb, float beta, float *C, int ldc);
void apt_cpu_linear_forward(AptBackend *be, int N, int in, int out, const float *x, const float *w,
                            const float *b, float *y);
void apt_cpu_linear_backward(AptBackend *be, int N, int in, int out, const float *x, const float *w,
                             const float *dy, float *dx, float *dw, float *db);

// cpu_conv.c
void apt_cpu_conv2d_prepare_f32(AptBackend *be, AptConvDesc *d);
void apt_cpu_conv2d_forward_f32(AptBackend *be, const AptConvDesc *d, int n, const float *x, const float *w,
                                const float *bias, float *y);
void apt_cpu_conv2d_backward_data_f32(AptBackend *be, const AptConvDesc *d, int n, const float *dy,
                                      const float *w, float *dx);
void apt_cpu_conv2d_backward_weights_f32(AptBackend *be, const AptConvDesc *d, int n, const float *x,
                                         const float *dy, float *dw, float *db);

// The bf16 oneDNN primitives of a convolution (AptDnnlConv *): built at set-up by
// apt_cpu_conv_bf16_prepare (conv2d_prepare of a bf16 descriptor, after the fp32 plan), returned by
// apt_cpu_conv_bf16_plan (fatal if absent).
void apt_cpu_conv_bf16_prepare(AptBackend *be, AptConvDesc *d);
void *apt_cpu_conv_bf16_plan(AptBackend *be, const AptConvDesc *d);

// cpu_bf16.c: x, y, dy, w bf16 (activations NHWC, w [K, C, R, S]); dx, dw fp32
void apt_cpu_conv2d_forward_bf16(AptBackend *be, const AptConvDesc *d, int n, const uint16_t *x,
                                 const uint16_t *w, uint16_t *y);
void apt_cpu_conv2d_backward_data_bf16(AptBackend *be, const AptConvDesc *d, int n, const uint16_t *dy,
                                       const uint16_t *w, float *dx);
void apt_cpu_conv2d_backward_weights_bf16(AptBackend *be, const AptConvDesc *d, int n, const uint16_t *x,
                                          const uint16_t *dy, float *dw);
void apt_cpu_gemm_bf16(AptBackend *be, bool ta, bool tb, int M, int N, int K, float alpha, const uint16_t *A,
                       int lda, const uint16_t *B, int ldb, float beta, float *C, int ldc);

// cpu_norm.c
void apt_cpu_bn_forward_f32(AptBackend *be, int N, int C, int HW, const float *x, const float *mean,
                            const float *var, float eps, const float *gamma, const float *beta, float *y);
void apt_cpu_bn_backward_affine_f32(AptBackend *be, int N, int C, int HW, const float *x, const float *dy,
                                    const float *mean, const float *var, float eps, const float *gamma,
                                    float *dx, float *dgamma, float *dbeta);
void apt_cpu_bn_stats_f32(AptBackend *be, int N, int C, int HW, const float *x, double *sums);
void apt_cpu_bn_backward_stats_f32(AptBackend *be, int N, int C, int HW, const float *x, const float *dy,
                                   const float *mean, const float *var, float eps, double *sums);
void apt_cpu_bn_backward_data_f32(AptBackend *be, int N, int C, int HW, const float *x, const float *dy,
                                  const float *mean, const float *var, float eps, const float *gamma,
                                  const double *sums, double count, float *dx);

// cpu_pool.c
void apt_cpu_maxpool_forward_f32(AptBackend *be, const AptPoolDesc *d, int n, const float *x, float *y,
                                 int *idx);
void apt_cpu_maxpool_backward_f32(AptBackend *be, const AptPoolDesc *d, int n, const float *dy,
                                  const int *idx, float *dx);
void apt_cpu_gap_forward_f32(AptBackend *be, int N, int C, int HW, const float *x, float *y);
void apt_cpu_gap_backward_f32(AptBackend *be, int N, int C, int HW, const float *dy, float *dx);

// cpu_se.c
void apt_cpu_chscale_forward_f32(AptBackend *be, int N, int C, int HW, const float *x, const float *s,
                                 float *y);
void apt_cpu_chscale_backward_f32(AptBackend *be, int N, int C, int HW, const float *x, const float *s,
                                  const float *dy, float *dx, float *ds);

// cpu_eltwise.c
void apt_cpu_relu_forward_f32(AptBackend *be, size_t n, const float *x, float *y);
void apt_cpu_relu_backward_f32(AptBackend *be, size_t n, const float *y, const float *dy, float *dx);
void apt_cpu_add_f32(AptBackend *be, size_t n, const float *a, const float *b, float *y);

// cpu_step.c: flat casts (fp32 -> bf16 rounds as apt_bf16_round; bf16 -> fp32 exact)
void apt_cpu_cast_f32_bf16(AptBackend *be, size_t n, const float *x, uint16_t *y);
void apt_cpu_cast_bf16_f32(AptBackend *be, size_t n, const uint16_t *x, float *y);

// cpu_bf16_act.c: the chain's other ops, NHWC; and the layout changes of cast ([N, C, HW])
void apt_cpu_act_from_f32_bf16(AptBackend *be, int N, int C, int HW, const float *x,
                               uint16_t *y);                                                    // NCHW->NHWC
void apt_cpu_act_to_f32(AptBackend *be, int N, int C, int HW, const uint16_t *x, float *y);     // NHWC->NCHW
void apt_cpu_act_from_nchw_f32(AptBackend *be, int N, int C, int HW, const float *x, float *y); // NCHW->NHWC
void apt_cpu_bn_forward_bf16(AptBackend *be, int N, int C, int HW, const uint16_t *x, const float *mean,
                             const float *var, float eps, const float *gamma, const float *beta, uint16_t *y);
void apt_cpu_bn_backward_affine_bf16(AptBackend *be, int N, int C, int HW, const uint16_t *x, const float *dy,
                                     const float *mean, const float *var, float eps, const float *gamma,
                                     float *dx, float *dgamma, float *dbeta);
void apt_cpu_bn_stats_bf16(AptBackend *be, int N, int C, int HW, const uint16_t *x, double *sums);
void apt_cpu_bn_backward_stats_bf16(AptBackend *be, int N, int C, int HW, const uint16_t *x, const float *dy,
                                    const float *mean, const float *var, float eps, double *sums);
void apt_cpu_bn_backward_data_bf16(AptBackend *be, int N, int C, int HW, const uint16_t *x, const float *dy,
                                   const float *mean, const float *var, float eps, const float *gamma,
                                   const double *sums, double count, float *dx);
void apt_cpu_relu_forward_bf16(AptBackend *be, size_t n, const uint16_t *x, uint16_t *y);
void apt_cpu_relu_backward_bf16(AptBackend *be, size_t n, const uint16_t *y, const float *dy, float *dx);
void apt_cpu_add_bf16(AptBackend *be, size_t n, const uint16_t *a, const uint16_t *b, uint16_t *y);
void apt_cpu_maxpool_forward_bf16(AptBackend *be, const AptPoolDesc *d, int n, const uint16_t *x, uint16_t *y,
                                  int *idx);
void apt_cpu_maxpool_backward_bf16(AptBackend *be, const AptPoolDesc *d, int n, const float *dy,
                                   const int *idx, float *dx);
void apt_cpu_gap_forward_bf16(AptBackend *be, int N, int C, int HW, const uint16_t *x, float *y);
void apt_cpu_gap_backward_bf16(AptBackend *be, int N, int C, int HW, const float *dy, float *dx);
void apt_cpu_chscale_forward_bf16(AptBackend *be, int N, int C, int HW, const uint16_t *x, const float *s,
                                  uint16_t *y);
void apt_cpu_chscale_backward_bf16(AptBackend *be, int N, int C, int HW, const uint16_t *x, const float *s,
                                   const float *dy, float *dx, float *ds);

// Every op of backend.h's lists, as apt_cpu_<op> (the ops on views are cpu_dispatch.c's; the rest are
// the kernels themselves: cpu_norm.c, cpu_pool.c, cpu_eltwise.c, cpu_step.c, cpu_optim.c, cpu_loss.c).
#define APT_CPU_OP_DECL(name, params, args) void apt_cpu_##name params;
APT_BACKEND_OPS(APT_CPU_OP_DECL)
APT_BACKEND_TIMER_OPS(APT_CPU_OP_DECL) // cpu_timer.c
#undef APT_CPU_OP_DECL
