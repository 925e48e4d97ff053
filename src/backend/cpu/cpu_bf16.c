// cpu_bf16.c — the bf16 convolutions and GEMM of the CPU table (backend.h, "bf16 activation chain"):
// convolutions through oneDNN's bf16 primitives on NHWC activations (bf16 src/weights/dst/diff_dst, f32
// diff_src/diff_weights, f32 accumulation; native AVX512-BF16 dot products where the CPU has them,
// emulated on plain AVX-512), built at set-up by conv2d_prepare_bf16; and GEMM (bf16 inputs, f32
// accumulation and output; see apt_cpu_gemm_bf16). The fp32 twins are cpu_conv.c / cpu_gemm.c; the other
// ops of the chain are in cpu_bf16_act.c.
#include "cpu_conv_dnnl.h"
#include "cpu_ops.h"

#include "core/check.h"

#include <cblas.h>
#include <stdlib.h>

void apt_cpu_conv2d_prepare_bf16(AptBackend *be, AptConvDesc *d) {
    apt_cpu_conv_bf16_prepare(be, d);
}

void apt_cpu_conv2d_forward_bf16(AptBackend *be, const AptConvDesc *d, int n, const uint16_t *x,
                                 const uint16_t *w, uint16_t *y) {
    APT_CHECK(n >= 1 && n <= d->N, "conv2d_forward_bf16: batch %d outside [1, %d]", n, d->N);
#ifdef APT_HAVE_DNNL
    // The oneDNN entry points take untyped buffers (the primitive knows they are bf16).
    apt_dnnl_conv_forward(apt_cpu_conv_bf16_plan(be, d), n, (const float *)(const void *)x,
                          (const float *)(const void *)w, NULL, (float *)(void *)y);
#else
    (void)x, (void)w, (void)y;
    apt_cpu_conv_bf16_plan(be, d); // fatal: no oneDNN
#endif
}

void apt_cpu_conv2d_backward_data_bf16(AptBackend *be, const AptConvDesc *d, int n, const uint16_t *dy,
                                       const uint16_t *w, float *dx) {
    APT_CHECK(n >= 1 && n <= d->N, "conv2d_backward_data_bf16: batch %d outside [1, %d]", n, d->N);
#ifdef APT_HAVE_DNNL
    apt_dnnl_conv_backward_data(apt_cpu_conv_bf16_plan(be, d), n, (const float *)(const void *)dy,
                                (const float *)(const void *)w, dx);
#else
    (void)dy, (void)w, (void)dx;
    apt_cpu_conv_bf16_plan(be, d);
#endif
}

void apt_cpu_conv2d_backward_weights_bf16(AptBackend *be, const AptConvDesc *d, int n, const uint16_t *x,
                                          const uint16_t *dy, float *dw) {
    APT_CHECK(n >= 1 && n <= d->N, "conv2d_backward_weights_bf16: batch %d outside [1, %d]", n, d->N);
#ifdef APT_HAVE_DNNL
    apt_dnnl_conv_backward_weights(apt_cpu_conv_bf16_plan(be, d), n, (const float *)(const void *)x,
                                   (const float *)(const void *)dy, dw, NULL);
#else
    (void)x, (void)dy, (void)dw;
    apt_cpu_conv_bf16_plan(be, d);
#endif
}

// Debian's OpenBLAS 0.3.21 is built without BUILD_BFLOAT16: cblas_sbgemm is declared in cblas.h but
// not exported. bf16 -> fp32 is exact, so widening A and B and calling cblas_sgemm computes the same
// bf16-input, fp32-accumulation product (up to summation order), without the bf16 speed-up. The model
// does not call this op on the CPU (its linear head stays fp32); the scratch is allocated per call.
void apt_cpu_gemm_bf16(AptBackend *be, bool ta, bool tb, int M, int N, int K, float alpha, const uint16_t *A,
                       int lda, const uint16_t *B, int ldb, float beta, float *C, int ldc) {
    if (M == 0 || N == 0) return;
    const size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb;
    float *a = apt_aligned_alloc((na + nb) * sizeof(float)), *b = a + na;
    apt_cpu_cast_bf16_f32(be, na, A, a);
    apt_cpu_cast_bf16_f32(be, nb, B, b);
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, a, lda,
                b, ldb, beta, C, ldc);
    free(a);
}
