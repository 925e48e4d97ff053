// cuda_gemm.cu — GEMM and the linear layer through cuBLAS (twin of cpu/cpu_gemm.c).
//
// cuBLAS is column-major; a row-major X[r, c] is the column-major X^T, so the row-major product
// C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T with the operands swapped. fp32 math (the handle
// never enables TF32) and no atomics (CUBLAS_ATOMICS_NOT_ALLOWED), so results are reproducible.
#include "cuda_ops.cuh"

void apt_cuda_gemm_f32(AptBackend *be, bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
                       int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (M == 0 || N == 0) return;
    CUBLAS_CHECK(cublasSgemm(apt_cuda_impl(be)->cublas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                             N, M, K, &alpha, B, ldb, A, lda, &beta, C, ldc));
}

// The op: A and B fp32, or both bf16 (cublasGemmEx with fp32 accumulation, cuda_bf16.cu).
void apt_cuda_gemm(AptBackend *be, bool ta, bool tb, int M, int N, int K, float alpha, AptTensor A, int lda,
                   AptTensor B, int ldb, float beta, float *C, int ldc) {
    apt_tensor_expect("gemm", "B", B, A.dtype, B.layout);
    if (A.dtype == APT_BF16)
        apt_cuda_gemm_bf16(be, ta, tb, M, N, K, alpha, (const uint16_t *)A.p, lda, (const uint16_t *)B.p, ldb,
                           beta, C, ldc);
    else
        apt_cuda_gemm_f32(be, ta, tb, M, N, K, alpha, (const float *)A.p, lda, (const float *)B.p, ldb, beta,
                          C, ldc);
}

// y[N,out] = x[N,in] · wᵀ + b
void apt_cuda_linear_forward(AptBackend *be, int N, int in, int out, const float *x, const float *w, const float *b,
                             float *y) {
    if (b) apt_cuda_bias_rows(be, N, out, 1, b, y);
    apt_cuda_gemm_f32(be, false, true, N, out, in, 1.0f, x, in, w, in, b ? 1.0f : 0.0f, y, out);
}

// dx = dy · w; dw += dyᵀ · x; db += Σ_n dy
void apt_cuda_linear_backward(AptBackend *be, int N, int in, int out, const float *x, const float *w,
                              const float *dy, float *dx, float *dw, float *db) {
    if (dx) apt_cuda_gemm_f32(be, false, false, N, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in);
    if (dw) apt_cuda_gemm_f32(be, true, false, out, in, N, 1.0f, dy, out, x, in, 1.0f, dw, in);
    // dy [N, out] is [N, C = out, HW = 1] for the per-channel sum.
    if (db) apt_cuda_channel_sum_add(be, N, out, 1, dy, db);
}
