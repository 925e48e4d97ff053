// test_bf16_ops.c — every bf16 compute op of the CPU table (backend.h, "bf16 compute"; cpu_bf16.c)
// against its fp32 twin, on random inputs in [-1, 1] (shapes: bf16_cases.h). Two checks per output:
//   1. fp32 accumulation: the bf16 op equals the fp32 op run on the SAME bf16-rounded inputs up to fp32
//      summation order: |bf16 - fp32(rounded)| <= 1e-4 * S + 1e-6, where S is the sum of |terms|
//      (the op applied to |x|, |w|, |dy|). Worst case for an fp32 sum of K terms is K * 2^-24 * S; our
//      largest K is 1600 (1e-4). A bf16 accumulator would miss this by ~100x.
//   2. against the fp32 twin on the unrounded inputs: |bf16 - fp32| <= 2^-7 * S + 1e-5. Each input
//      rounds to bf16 with relative error <= 2^-9, so each product is off by <= ~2^-8 of its magnitude;
//      2^-7 leaves room for the accumulation term of check 1. The measured error (printed) is far below
//      the bound for random-sign terms.
// Weight gradients accumulate (dw starts from random values in both runs).
#include "bf16_cases.h"

#include <stdio.h>

static void conv_case(AptBackend *cpu, const Bf16ConvCase *c, int idx) {
    const uint64_t seed = 100 + (uint64_t)idx;
    Bf16ConvOut a = bf16_conv_run(cpu, c, 0, seed), r = bf16_conv_run(cpu, c, 1, seed),
                f = bf16_conv_run(cpu, c, 2, seed), m = bf16_conv_run(cpu, c, 3, seed);
    char l[128];
    const char *names[3] = {"forward", "backward_data", "backward_weights"};
    const float *got[3] = {a.y, a.dx, a.dw}, *rnd[3] = {r.y, r.dx, r.dw}, *f32[3] = {f.y, f.dx, f.dw},
                *mag[3] = {m.y, m.dx, m.dw};
    const size_t n[3] = {a.ny, a.nx, a.nw};
    for (int k = 0; k < 3; k++) {
        snprintf(l, sizeof l, "conv%d %s (C%d K%d %dx%d/%d n%d): bf16 vs fp32 on rounded inputs", idx, names[k], c->C,
                 c->K, c->k, c->k, c->stride, c->n);
        double w1 = bf16_expect(got[k], rnd[k], mag[k], n[k], 1e-4, 1e-6, l);
        snprintf(l, sizeof l, "conv%d %s: bf16 vs fp32 twin", idx, names[k]);
        double w2 = bf16_expect(got[k], f32[k], mag[k], n[k], 1.0 / 128, 1e-5, l);
        double num = 0, den = 0;
        for (size_t i = 0; i < n[k]; i++)
            num += ((double)got[k][i] - f32[k][i]) * ((double)got[k][i] - f32[k][i]), den += (double)f32[k][i] * f32[k][i];
        printf("conv%d %-16s worst/bound: %.3f (accumulation), %.3f (vs fp32); NMSE vs fp32 %.2e\n", idx, names[k], w1,
               w2, den > 0 ? num / den : 0.0);
    }
    bf16_conv_free(&a), bf16_conv_free(&r), bf16_conv_free(&f), bf16_conv_free(&m);
}

static void gemm_case(AptBackend *cpu, const Bf16GemmCase *g, int idx) {
    const uint64_t seed = 200 + (uint64_t)idx;
    float *a = bf16_gemm_run(cpu, g, 0, seed), *r = bf16_gemm_run(cpu, g, 1, seed), *f = bf16_gemm_run(cpu, g, 2, seed),
          *m = bf16_gemm_run(cpu, g, 3, seed);
    const size_t n = (size_t)g->M * g->N;
    char l[128];
    snprintf(l, sizeof l, "gemm%d (M%d N%d K%d ta%d tb%d): bf16 vs fp32 on rounded inputs", idx, g->M, g->N, g->K,
             g->ta, g->tb);
    double w1 = bf16_expect(a, r, m, n, 1e-4, 1e-6, l);
    snprintf(l, sizeof l, "gemm%d: bf16 vs fp32 twin", idx);
    double w2 = bf16_expect(a, f, m, n, 1.0 / 128, 1e-5, l);
    printf("gemm%d worst/bound: %.3f (accumulation), %.3f (vs fp32)\n", idx, w1, w2);
    free(a), free(r), free(f), free(m);
}

int main(void) {
    AptBackend *cpu = apt_backend_create("cpu");
    for (int i = 0; i < BF16_N_CONV_CASES; i++) conv_case(cpu, &BF16_CONV_CASES[i], i);
    for (int i = 0; i < BF16_N_GEMM_CASES; i++) gemm_case(cpu, &BF16_GEMM_CASES[i], i);
    apt_backend_destroy(cpu);
    return apt_test_finish("test_bf16_ops");
}
