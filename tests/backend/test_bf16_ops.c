// test_bf16_ops.c — every op of the CPU table's bf16 activation chain (backend.h) against its fp32 twin,
// on random inputs (shapes: bf16_cases.h, bf16_act_cases.h). The bf16 ops take their activations in the
// CPU's activation layout (NHWC); the harness permutes, so every comparison is in NCHW.
//
// Convolutions and GEMM, two checks per output (S: the sum of |terms| of the output, the fp32 op applied
// to |x|, |w|, |dy|):
//   1. fp32 accumulation: the bf16 op equals the fp32 op run on the SAME bf16-rounded inputs up to fp32
//      summation order: |bf16 - fp32(rounded)| <= 1e-4 * S + 1e-6, where the worst case for an fp32 sum
//      of K terms is K * 2^-24 * S and our largest K is 1600 (1e-4). A bf16 accumulator would miss this by
//      ~100x. The forward output y is rounded to bf16 (it is a stored activation): + 2^-8 |fp32| (round
//      to nearest with 8 significant bits: relative error <= 2^-8).
//   2. against the fp32 twin on the unrounded inputs: |bf16 - fp32| <= 1.02 * 2^-7 * S + 1e-5 (+ 2^-8
//      |fp32| for y). Each input rounds to bf16 with relative error <= 2^-8, so each product is off by
//      <= 2^-7 + 2^-16 of its magnitude, and the accumulation term of check 1 adds < 1e-4 S. The measured
//      error (printed) is a fraction of the bound for random-sign terms.
//   Weight gradients accumulate (dw starts from random values in both runs).
//   3. forward only: the bound test_bf16_ops_cuda applies between backends (bf16_conv_cross_bound: one
//      bf16 step, 2^-7 |y|, + 1e-4 S) against a float64 host convolution rounded to bf16 (another
//      accumulation order, rounded as cuDNN rounds); prints how many outputs differ and how many the
//      earlier 2^-8 |y| bound would have failed.
// The other ops of the chain compute the twin's fp32 expression on the exactly widened bf16 input, so
// against the twin on the same rounded inputs:
//   - bf16 outputs (BatchNorm y, relu, residual add, pooled max, channel scale): one rounding of the
//     twin's value, |bf16 - fp32| <= 2^-8 |fp32| (+ 2^-21 |fp32|: a last-bit fp32 difference, e.g. a
//     contraction into FMA); the max pool and relu copy an input: exact, and so are the pool indices;
//   - fp32 elementwise outputs (BatchNorm dx, relu/pool/gap/chscale dx): the same expression, within
//     2^-21 of the magnitude of its terms;
//   - per-channel sums (BatchNorm statistics, dgamma/dbeta, SE ds, the global average): float64 over
//     rows here, float SIMD partials per plane then float64 in the twin: within 3e-5 of the sum of |terms|
//     (a float partial over a plane of <= 512 values is off by <= 512 * 2^-24 of it) + 1e-12;
//   - the layout conversions (model input, its inverse, an fp32 gradient): exact.
#include "bf16_act_cases.h"

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
        // bound = rel * S + 2^-8 |want| (y only), written as rel * (S + (2^-8 / rel) |want|)
        float *b1 = malloc(n[k] * sizeof(float)), *b2 = malloc(n[k] * sizeof(float));
        for (size_t i = 0; i < n[k]; i++) {
            b1[i] = mag[k][i] + (k == 0 ? (float)(0x1p-8 / 1e-4) * fabsf(rnd[k][i]) : 0.0f);
            b2[i] = mag[k][i] + (k == 0 ? (float)(0x1p-8 / (1.02 / 128)) * fabsf(f32[k][i]) : 0.0f);
        }
        snprintf(l, sizeof l, "conv%d %s (C%d K%d %dx%d/%d n%d): bf16 vs fp32 on rounded inputs", idx, names[k], c->C,
                 c->K, c->k, c->k, c->stride, c->n);
        double w1 = bf16_expect(got[k], rnd[k], b1, n[k], 1e-4, 1e-6, l);
        snprintf(l, sizeof l, "conv%d %s: bf16 vs fp32 twin", idx, names[k]);
        double w2 = bf16_expect(got[k], f32[k], b2, n[k], 1.02 / 128, 1e-5, l);
        double num = 0, den = 0;
        for (size_t i = 0; i < n[k]; i++)
            num += ((double)got[k][i] - f32[k][i]) * ((double)got[k][i] - f32[k][i]), den += (double)f32[k][i] * f32[k][i];
        printf("conv%d %-16s worst/bound: %.3f (accumulation), %.3f (vs fp32); NMSE vs fp32 %.2e\n", idx, names[k], w1,
               w2, den > 0 ? num / den : 0.0);
        free(b1), free(b2);
    }
    // The cross-backend forward bound of test_bf16_ops_cuda (bf16_conv_cross_bound), checked here with a
    // stand-in for the other backend: the same convolution summed in float64 on the host (another
    // accumulation order) and rounded to bf16, as cuDNN rounds its output. Neighbouring bf16 values must
    // pass; the earlier bound (2^-8 |y| + 1e-4 S, half a bf16 step) is counted for the record.
    float *alt = bf16_conv_forward_host(c, seed), *xb = bf16_conv_cross_bound(0, a.y, m.y, a.ny);
    size_t differ = 0, old_bad = 0;
    for (size_t i = 0; i < a.ny; i++) {
        const double d = fabs((double)alt[i] - a.y[i]);
        differ += d > 0;
        old_bad += !(d <= 0x1p-8 * fabs((double)a.y[i]) + 1e-4 * m.y[i] + 1e-5);
    }
    snprintf(l, sizeof l,
             "conv%d forward: stand-in backend (fp32 op, rounded) vs bf16 op, cross-backend bound", idx);
    double wx = bf16_expect(alt, a.y, xb, a.ny, BF16_XB_REL[0], 1e-5, l);
    printf(
        "conv%d forward cross-backend stand-in: %zu of %zu outputs differ, worst/bound %.3f; the 2^-8 bound "
        "would fail %zu\n",
        idx, differ, a.ny, wx, old_bad);
    free(alt), free(xb);
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
    double w2 = bf16_expect(a, f, m, n, 1.02 / 128, 1e-5, l);
    printf("gemm%d worst/bound: %.3f (accumulation), %.3f (vs fp32)\n", idx, w1, w2);
    free(a), free(r), free(f), free(m);
}

// ---- the activation chain ----

#define RND_BF16 (0x1p-8 + 0x1p-21) // one bf16 rounding of the fp32 value, + a last-bit fp32 difference
#define ULP_F32 0x1p-21             // the same fp32 expression: a few ulps of its terms' magnitude
#define SUM_F32 3e-5                // float partial sums over a plane (twin) vs float64 (bf16 op)

// |got - want| <= rel * |want| (bound = |want|), or rel * bound[i] when bound is given; + abs.
static double act_expect(const float *got, const float *want, const float *bound, size_t n, double rel, double abs,
                         int cs, const char *what) {
    char l[128];
    snprintf(l, sizeof l, "act case %d: %s, bf16 op vs fp32 twin", cs, what);
    return bf16_expect(got, want, bound, n, rel, abs, l);
}

static void act_case(AptBackend *cpu, const Bf16ActCase *c, int cs) {
    const uint64_t seed = 500 + (uint64_t)cs;
    Bf16ActOut a = bf16_act_run(cpu, c, true, seed), t = bf16_act_run(cpu, c, false, seed);
    Bf16ActIn in = bf16_act_inputs(c, a.np, seed); // the same inputs again, for the magnitude bounds
    const int N = c->N, C = c->C, HW = c->H * c->W;
    const size_t n = a.n, nc = (size_t)N * C;
    float *bnd = calloc(n, sizeof(float));
    double worst = 0;
#define W(e) do { double w_ = (e); if (w_ > worst) worst = w_; } while (0)
    // bf16 outputs: one rounding of the twin's value; copies are exact
    W(act_expect(a.bn_y, t.bn_y, NULL, n, RND_BF16, 1e-30, cs, "bn_forward y"));
    W(act_expect(a.add_y, t.add_y, NULL, n, RND_BF16, 1e-30, cs, "add y"));
    W(act_expect(a.cs_y, t.cs_y, NULL, n, RND_BF16, 1e-30, cs, "chscale_forward y"));
    W(act_expect(a.relu_y, t.relu_y, NULL, n, 0, 1e-30, cs, "relu_forward y (exact)"));
    W(act_expect(a.mp_y, t.mp_y, NULL, a.np, 0, 1e-30, cs, "maxpool_forward y (exact)"));
    size_t idx_bad = 0;
    for (size_t i = 0; i < a.np; i++)
        idx_bad += a.mp_idx[i] != t.mp_idx[i];
    TEST_CHECK(idx_bad == 0, "act case %d: maxpool_forward idx: %zu of %zu differ from the twin's", cs, idx_bad, a.np);
    // fp32 elementwise outputs: the twin's expression on the same values
    W(act_expect(a.bn_dx, t.bn_dx, NULL, n, ULP_F32, 1e-30, cs, "bn_backward_affine dx"));
    W(act_expect(a.bn_dx1, t.bn_dx1, NULL, n, ULP_F32, 1e-30, cs, "bn_backward_affine dx alone"));
    W(act_expect(a.relu_dx, t.relu_dx, NULL, n, 0, 1e-30, cs, "relu_backward dx (exact)"));
    W(act_expect(a.mp_dx, t.mp_dx, NULL, n, ULP_F32, 1e-30, cs, "maxpool_backward dx"));
    W(act_expect(a.gap_dx, t.gap_dx, NULL, n, 0, 1e-30, cs, "gap_backward dx (exact)"));
    W(act_expect(a.cs_dx, t.cs_dx, NULL, n, ULP_F32, 1e-30, cs, "chscale_backward dx"));
    // bn_backward_data: a (dy - mdy - (x - m) k); bound: |a| (|dy| + |mdy| + |x - m| |k|)
    for (int nn = 0; nn < N; nn++)
        for (int ch = 0; ch < C; ch++) {
            double invstd = 1.0 / sqrt((double)in.var[ch] + 1e-5), a_ = fabs(in.gamma[ch] * invstd);
            double mdy = fabs(in.sums[ch] / ((double)N * HW)), k = invstd * fabs(in.sums[C + ch] / ((double)N * HW));
            for (int p = 0; p < HW; p++) {
                size_t i = ((size_t)nn * C + ch) * HW + p;
                bnd[i] = (float)(a_ * (fabs(in.dy[i]) + mdy + fabs(in.x[i] - in.mean[ch]) * k));
            }
        }
    W(act_expect(a.bn_dxt, t.bn_dxt, bnd, n, ULP_F32, 1e-30, cs, "bn_backward_data dx"));
    // per-channel sums: bound = the sum of |terms| (+ the accumulated start value for dgamma / dbeta)
    Bf16ActMags mg = bf16_act_mags(c, &in);
    size_t bad = 0;
    for (int i = 0; i < 2 * C; i++) {
        bad += !(fabs(a.bn_st[i] - t.bn_st[i]) <= SUM_F32 * mg.st[i] + 1e-12);
        bad += !(fabs(a.bn_bst[i] - t.bn_bst[i]) <= SUM_F32 * mg.bst[i] + 1e-12);
    }
    TEST_CHECK(bad == 0, "act case %d: bn_stats / bn_backward_stats sums: %zu of %d outside %g of sum |terms|", cs, bad,
               4 * C, SUM_F32);
    W(act_expect(a.bn_dg, t.bn_dg, mg.dg, (size_t)C, SUM_F32, 1e-12, cs, "bn_backward_affine dgamma"));
    W(act_expect(a.bn_db, t.bn_db, mg.db, (size_t)C, SUM_F32, 1e-12, cs, "bn_backward_affine dbeta"));
    // gap and SE ds: the same float64 sums in the same order as the twin (a few ulps)
    W(act_expect(a.gap_y, t.gap_y, NULL, nc, ULP_F32, 1e-12, cs, "gap_forward y"));
    W(act_expect(a.cs_ds, t.cs_ds, mg.ds, nc, ULP_F32, 1e-12, cs, "chscale_backward ds"));
    bf16_act_mags_free(&mg);
    // layout conversions: exact
    W(act_expect(a.in16, in.x, NULL, n, 0, 1e-30, cs, "cast fp32 NCHW -> bf16 chain (= host rounding)"));
    W(act_expect(a.to32, in.x, NULL, n, 0, 1e-30, cs, "cast bf16 chain -> fp32 NCHW (exact)"));
    W(act_expect(a.from_nchw, in.dy, NULL, n, 0, 1e-30, cs, "cast fp32 NCHW -> fp32 chain layout (exact)"));
#undef W
    size_t same = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        float r = t.bn_y[i];
        memcpy(&u, &r, 4);
        u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
        memcpy(&r, &u, 4);
        same += r == a.bn_y[i];
    }
    printf("act case %d (N%d C%d %dx%d): worst error/bound %.3f over the chain ops; bn_forward equals the rounded "
           "twin in %zu of %zu\n",
           cs, N, C, c->H, c->W, worst, same, n);
    free(bnd);
    bf16_act_inputs_free(&in);
    bf16_act_free(&a), bf16_act_free(&t);
}

int main(void) {
    AptBackend *cpu = apt_backend_create("cpu");
    TEST_CHECK(cpu->act_layout == APT_NHWC, "the CPU's bf16 activation layout is NHWC (backend.h)");
    for (int i = 0; i < BF16_N_CONV_CASES; i++) conv_case(cpu, &BF16_CONV_CASES[i], i);
    for (int i = 0; i < BF16_N_GEMM_CASES; i++) gemm_case(cpu, &BF16_GEMM_CASES[i], i);
    for (int i = 0; i < BF16_N_ACT_CASES; i++) act_case(cpu, &BF16_ACT_CASES[i], i);
    apt_backend_destroy(cpu);
    return apt_test_finish("test_bf16_ops");
}
