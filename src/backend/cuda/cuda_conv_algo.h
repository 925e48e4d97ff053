// cuda_conv_algo.h — which cuDNN convolution algorithms fp32 layers may use (cuda_conv.cu), shared with
// a host test (tests/backend/test_conv_algo.c). C11 and CUDA C++, header-only; needs only cudnn.h.
//
// FFT and Winograd transform the data into another basis; their error grows with the transform size and
// the input's range and can exceed the 1e-5 that fp32 layers promise against the CPU (cuDNN documents
// them as less accurate, Winograd-nonfused in particular). What remains computes each output as a plain
// fp32 dot product (FMA, fp32 accumulation) in a fixed order:
//   forward:          IMPLICIT_GEMM, IMPLICIT_PRECOMP_GEMM, GEMM (explicit im2col)
//   backward data:    ALGO_1 (ALGO_0 accumulates with atomics: non-deterministic)
//   backward filter:  ALGO_1 (ALGO_0 and ALGO_3 use atomics: non-deterministic)
// With TF32 math on fp32 tensors (apt_backend_cuda_set_math; tolerance 1e-2) any deterministic
// algorithm may be chosen. bf16 tensors (the bf16 activation chain, cuda_bf16.cu) take the same GEMM-type
// set as fp32, on tensor cores: each output one dot product of exact bf16 products in fp32, the form
// the op test's bf16 bound (tests/backend/op_cases_chain.h) assumes (a transform-based algorithm in bf16
// could round in between).
#pragma once
#include <cudnn.h>

static inline int apt_conv_fp32_fwd_ok(int a) {
    return a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
           a == CUDNN_CONVOLUTION_FWD_ALGO_GEMM;
}
static inline int apt_conv_fp32_bwd_data_ok(int a) { return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_1; }
static inline int apt_conv_fp32_bwd_filter_ok(int a) { return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1; }
