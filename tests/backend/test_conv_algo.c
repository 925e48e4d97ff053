// test_conv_algo.c — the cuDNN algorithms fp32 convolutions may use (cuda_conv_algo.h), on the host:
// every value of the three cuDNN 9 enums is classified, and exactly the GEMM-type deterministic ones pass
// (no FFT, FFT_TILING, WINOGRAD, WINOGRAD_NONFUSED, DIRECT; no atomics-based ALGO_0 / ALGO_3).
#include "backend/cuda/cuda_conv_algo.h"
#include "harness.h"

int main(void) {
    for (int a = 0; a < CUDNN_CONVOLUTION_FWD_ALGO_COUNT; a++) {
        const int want = a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM ||
                         a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_GEMM;
        TEST_CHECK(apt_conv_fp32_fwd_ok(a) == want, "forward algo %d: allowed %d, want %d", a, apt_conv_fp32_fwd_ok(a),
                   want);
    }
    TEST_CHECK(!apt_conv_fp32_fwd_ok(CUDNN_CONVOLUTION_FWD_ALGO_FFT) &&
                   !apt_conv_fp32_fwd_ok(CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING) &&
                   !apt_conv_fp32_fwd_ok(CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD) &&
                   !apt_conv_fp32_fwd_ok(CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED),
               "forward: FFT and Winograd excluded");
    int n = 0;
    for (int a = 0; a < CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT; a++) n += apt_conv_fp32_bwd_data_ok(a);
    TEST_CHECK(n == 1 && apt_conv_fp32_bwd_data_ok(CUDNN_CONVOLUTION_BWD_DATA_ALGO_1), "backward data: ALGO_1 only");
    n = 0;
    for (int a = 0; a < CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT; a++) n += apt_conv_fp32_bwd_filter_ok(a);
    TEST_CHECK(n == 1 && apt_conv_fp32_bwd_filter_ok(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1),
               "backward filter: ALGO_1 only");
    return apt_test_finish("test_conv_algo");
}
