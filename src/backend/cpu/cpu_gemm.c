// cpu_gemm.c — GEMM and the linear layer through CBLAS (OpenBLAS).
#include "cpu_ops.h"

#include <cblas.h>

void apt_cpu_gemm_f32(AptBackend *be, bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
                      int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    (void)be;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha,
                A, lda, B, ldb, beta, C, ldc);
}

// y[N,out] = x[N,in] · wᵀ + b
void apt_cpu_linear_forward(AptBackend *be, int N, int in, int out, const float *x, const float *w,
                            const float *b, float *y) {
    (void)be;
    if (b) {
        for (int i = 0; i < N; i++)
            for (int o = 0; o < out; o++)
                y[(size_t)i * out + o] = b[o];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out, in, 1.0f, x, in, w, in, b ? 1.0f : 0.0f, y,
                out);
}

void apt_cpu_linear_backward(AptBackend *be, int N, int in, int out, const float *x, const float *w,
                             const float *dy, float *dx, float *dw, float *db) {
    (void)be;
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, in, out, 1.0f, dy, out, w, in, 0.0f, dx,
                    in);
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, N, 1.0f, dy, out, x, in, 1.0f, dw, in);
    if (db) { // each column summed over rows in order; column blocks swept row by row (contiguous reads)
        enum { CB = 256 };
        for (int o0 = 0; o0 < out; o0 += CB) {
            const int o1 = o0 + CB < out ? o0 + CB : out;
            double s[CB] = {0};
            for (int i = 0; i < N; i++) {
                const float *r = dy + (size_t)i * out;
                for (int o = o0; o < o1; o++)
                    s[o - o0] += r[o];
            }
            for (int o = o0; o < o1; o++)
                db[o] += (float)s[o - o0];
        }
    }
}
