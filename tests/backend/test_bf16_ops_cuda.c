// test_bf16_ops_cuda.c — the CUDA bf16 compute ops (cuda_bf16.cu) against the CPU bf16 ops
// (cpu_bf16.c, themselves checked against their fp32 twins in test_bf16_ops.c) on the same inputs,
// rounded to bf16 by each backend's own cast (round to nearest even on both: identical bf16 values).
// Label gpu; skips (exit 77) without a usable CUDA device.
//
// Tolerance, with S the sum of |terms| of each output (the fp32 op on |x|, |w|, |dy|):
//   convolutions: cuDNN writes its output in bf16 before the op widens it to fp32 (cuda_bf16.cu), so
//   |cuda - cpu| <= 2^-8 |cpu| (one bf16 rounding) + 1e-4 * S (two fp32 accumulation orders, K <= 1600);
//   the weight gradient is rounded to bf16 before it is added into dw, hence the same form on the
//   increment (bounded by 2^-8 * S) plus the fp32 addition;
//   GEMM: fp32 output on both sides: |cuda - cpu| <= 1e-4 * S + 1e-6.
#include <cuda_runtime.h>

#include "bf16_cases.h"

#include <stdio.h>

int main(void) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        printf("SKIP: no CUDA device (test_bf16_ops_cuda needs one; nothing was checked)\n");
        return 77;
    }
    AptBackend *cpu = apt_backend_create("cpu"), *gpu = apt_backend_create("cuda");
    char l[128];
    for (int i = 0; i < BF16_N_CONV_CASES; i++) {
        const Bf16ConvCase *c = &BF16_CONV_CASES[i];
        const uint64_t seed = 300 + (uint64_t)i;
        Bf16ConvOut g = bf16_conv_run(gpu, c, 0, seed), a = bf16_conv_run(cpu, c, 0, seed),
                    m = bf16_conv_run(cpu, c, 3, seed);
        // bound = 2^-8 |cpu| + 1e-4 S, written as rel * bound with bound = |cpu| + (1e-4 / 2^-8) S
        const float *got[3] = {g.y, g.dx, g.dw}, *want[3] = {a.y, a.dx, a.dw}, *mag[3] = {m.y, m.dx, m.dw};
        const size_t n[3] = {a.ny, a.nx, a.nw};
        const char *names[3] = {"forward", "backward_data", "backward_weights"};
        for (int k = 0; k < 3; k++) {
            float *bound = malloc(n[k] * sizeof(float));
            for (size_t j = 0; j < n[k]; j++)
                bound[j] = fabsf(want[k][j]) + (k == 2 ? 2.0f : 0.0256f) * mag[k][j];
            snprintf(l, sizeof l, "conv%d %s: cuda bf16 vs cpu bf16", i, names[k]);
            double w = bf16_expect(got[k], want[k], bound, n[k], 1.0 / 256, 1e-5, l);
            printf("conv%d %-16s worst/bound %.3f\n", i, names[k], w);
            free(bound);
        }
        bf16_conv_free(&g), bf16_conv_free(&a), bf16_conv_free(&m);
    }
    for (int i = 0; i < BF16_N_GEMM_CASES; i++) {
        const Bf16GemmCase *q = &BF16_GEMM_CASES[i];
        const uint64_t seed = 400 + (uint64_t)i;
        float *g = bf16_gemm_run(gpu, q, 0, seed), *a = bf16_gemm_run(cpu, q, 0, seed), *m = bf16_gemm_run(cpu, q, 3, seed);
        snprintf(l, sizeof l, "gemm%d: cuda bf16 vs cpu bf16", i);
        double w = bf16_expect(g, a, m, (size_t)q->M * q->N, 1e-4, 1e-6, l);
        printf("gemm%d worst/bound %.3f\n", i, w);
        free(g), free(a), free(m);
    }
    apt_backend_destroy(gpu), apt_backend_destroy(cpu);
    return apt_test_finish("test_bf16_ops_cuda");
}
