// op_cases_chain.h — the bf16 chain form of the op test (test_backend_ops.c): bf16 activations, fp32
// gradients, in the backend's act_layout (shapes and runs: bf16_cases.h, bf16_act_cases.h; the harness
// permutes, so every comparison is in NCHW). Two kinds of check, each where its bound holds:
//   twin  (backends running the CPU kernels: cpu, guard): the chain op against its fp32 twin on the same
//         backend and the same bf16-rounded inputs (bounds below, from the ops' definitions);
//   cross (every backend but the CPU): against the CPU table's chain on the same inputs (cuda: cuDNN rounds
//         dx and the dw increment to bf16; bounds below).
//
// Convolutions and GEMM, with S the sum of |terms| of each output (the fp32 op applied to |x|, |w|, |dy|):
//   twin 1. fp32 accumulation: the bf16 op equals the fp32 op run on the SAME bf16-rounded inputs up to
//      fp32 summation order: |bf16 - fp32(rounded)| <= 1e-4 S + 1e-6, where the worst case for an fp32 sum
//      of K terms is K 2^-24 S and our largest K is 1600 (1e-4). A bf16 accumulator would miss this by
//      ~100x. The forward output y is rounded to bf16 (a stored activation): + 2^-8 |fp32|.
//   twin 2. against the fp32 twin on the unrounded inputs: |bf16 - fp32| <= 1.02 2^-7 S + 1e-5 (+ 2^-8
//      |fp32| for y). Each input rounds to bf16 with relative error <= 2^-8, so each product is off by
//      <= 2^-7 + 2^-16 of its magnitude, and the accumulation term of check 1 adds < 1e-4 S.
//   twin 3. forward only: the cross-backend bound (bf16_conv_cross_bound: one bf16 step 2^-7 |y| plus the
//      summation term 1e-4 S) against a float64 host convolution rounded to bf16 (another accumulation
//      order, rounded as cuDNN rounds); prints how many outputs differ and how many the earlier 2^-8 |y|
//      bound would have failed.
//   cross: y 2^-7 |cpu| + 1e-4 S (two fp32 sums rounded to neighbouring bf16 values, one step apart);
//      dx 2^-8 |cpu| + 1e-4 S (cuDNN rounds dx once to bf16); dw 2^-8 |cpu| + 2^-7 S (the increment rounded
//      once); GEMM fp32 output on both sides: 1e-4 S + 1e-6.
//   Weight gradients accumulate (dw starts from random values in every run).
// The other ops of the chain compute the twin's fp32 expression on the exactly widened bf16 input:
//   twin: bf16 outputs (BatchNorm y, residual add, channel scale): one rounding of the twin's value,
//     2^-8 |fp32| (+ 2^-21 |fp32|: a last-bit fp32 difference); relu and max pool copy an input: exact,
//     and so are the pool indices; fp32 elementwise outputs (BatchNorm dx, relu/pool/gap/chscale dx): the
//     same expression, within 2^-21 of the magnitude of its terms; per-channel sums (BatchNorm statistics,
//     dgamma/dbeta, SE ds, the global average): float64 over rows here, float SIMD partials per plane then
//     float64 in the twin: within 3e-5 of the sum of |terms| (a float partial over a plane of <= 512 values
//     is off by <= 512 2^-24 of it) + 1e-12; the layout conversions (cast): exact.
//   cross: bf16 outputs within one bf16 step, 2^-7 |cpu| (two fp32 values a last bit apart can round to
//     neighbouring bf16 values); fp32 elementwise outputs 1e-6 |cpu| + 1e-7 (bn_backward_data 1e-6 + 1e-6);
//     per-channel sums (float64 in both, other orders, over products rounded in fp32 on one side) within
//     1e-6 of their sum of |terms| + 1e-9; pool indices and casts exactly.
#pragma once
#include "bf16_act_cases.h"
#include "op_test.h"

// ---- convolutions (conv2d_forward's case runs the three directions) ----
static void chain_conv1(OpRun *r, const Bf16ConvCase *c, int idx) {
    const uint64_t seed = 100 + (uint64_t)idx;
    char l[192];
    const char *names[3] = {"forward", "backward_data", "backward_weights"};
    Bf16ConvOut a = bf16_conv_run(r->be, c, 0, seed), m = bf16_conv_run(r->cpu ? r->cpu : r->be, c, 3, seed);
    const float *got[3] = {a.y, a.dx, a.dw}, *mag[3] = {m.y, m.dx, m.dw};
    const size_t n[3] = {a.ny, a.nx, a.nw};
    if (r->cpu_kernels) {
        Bf16ConvOut rr = bf16_conv_run(r->be, c, 1, seed), f = bf16_conv_run(r->be, c, 2, seed);
        const float *rnd[3] = {rr.y, rr.dx, rr.dw}, *f32[3] = {f.y, f.dx, f.dw};
        for (int k = 0; k < 3; k++) {
            // bound = rel * S + 2^-8 |want| (y only), written as rel * (S + (2^-8 / rel) |want|)
            float *b1 = malloc(n[k] * sizeof(float)), *b2 = malloc(n[k] * sizeof(float));
            for (size_t i = 0; i < n[k]; i++) {
                b1[i] = mag[k][i] + (k == 0 ? (float)(0x1p-8 / 1e-4) * fabsf(rnd[k][i]) : 0.0f);
                b2[i] = mag[k][i] + (k == 0 ? (float)(0x1p-8 / (1.02 / 128)) * fabsf(f32[k][i]) : 0.0f);
            }
            snprintf(l, sizeof l, "[%s] conv%d %s (C%d K%d %dx%d/%d n%d): bf16 vs fp32 on rounded inputs", r->bname, idx,
                     names[k], c->C, c->K, c->k, c->k, c->stride, c->n);
            double w1 = bf16_expect(got[k], rnd[k], b1, n[k], 1e-4, 1e-6, l);
            snprintf(l, sizeof l, "[%s] conv%d %s: bf16 vs fp32 twin", r->bname, idx, names[k]);
            double w2 = bf16_expect(got[k], f32[k], b2, n[k], r->tol->chain, 1e-5, l);
            printf("[%s] conv%d %-16s worst/bound: %.3f (accumulation), %.3f (vs fp32)\n", r->bname, idx, names[k], w1,
                   w2);
            free(b1), free(b2);
        }
        // The cross-backend forward bound, checked with a stand-in for the other backend: the same
        // convolution summed in float64 on the host and rounded to bf16. The earlier bound (2^-8 |y| + 1e-4 S,
        // half a bf16 step) is counted for the record.
        float *alt = bf16_conv_forward_host(c, seed), *xb = bf16_conv_cross_bound(0, a.y, m.y, a.ny);
        size_t differ = 0, old_bad = 0;
        for (size_t i = 0; i < a.ny; i++) {
            const double d = fabs((double)alt[i] - a.y[i]);
            differ += d > 0;
            old_bad += !(d <= 0x1p-8 * fabs((double)a.y[i]) + 1e-4 * m.y[i] + 1e-5);
        }
        snprintf(l, sizeof l, "[%s] conv%d forward: stand-in backend (float64, rounded) vs bf16 op, cross bound",
                 r->bname, idx);
        double wx = bf16_expect(alt, a.y, xb, a.ny, BF16_XB_REL[0], 1e-5, l);
        printf("[%s] conv%d forward stand-in: %zu of %zu outputs differ, worst/bound %.3f; the 2^-8 bound would "
               "fail %zu\n",
               r->bname, idx, differ, a.ny, wx, old_bad);
        free(alt), free(xb);
        bf16_conv_free(&rr), bf16_conv_free(&f);
    }
    if (r->cpu) {
        Bf16ConvOut w = bf16_conv_run(r->cpu, c, 0, seed);
        const float *want[3] = {w.y, w.dx, w.dw};
        for (int k = 0; k < 3; k++) {
            float *bound = bf16_conv_cross_bound(k, want[k], mag[k], n[k]);
            snprintf(l, sizeof l, "[%s] conv%d %s (C%d K%d %dx%d/%d): chain vs cpu chain", r->bname, idx, names[k],
                     c->C, c->K, c->k, c->k, c->stride);
            double wr = bf16_expect(got[k], want[k], bound, n[k], BF16_XB_REL[k], 1e-5, l);
            printf("[%s] conv%d %-16s vs cpu worst/bound %.3f\n", r->bname, idx, names[k], wr);
            free(bound);
        }
        bf16_conv_free(&w);
    }
    bf16_conv_free(&a), bf16_conv_free(&m);
}
static void chain_conv(OpRun *r) {
    for (int i = 0; i < BF16_N_CONV_CASES; i++)
        chain_conv1(r, &BF16_CONV_CASES[i], i);
}

// ---- GEMM with bf16 operands (form "bf16 rows") ----
static void rows_gemm(OpRun *r) {
    char l[160];
    for (int idx = 0; idx < BF16_N_GEMM_CASES; idx++) {
        const Bf16GemmCase *g = &BF16_GEMM_CASES[idx];
        const uint64_t seed = 200 + (uint64_t)idx;
        const size_t n = (size_t)g->M * g->N;
        float *a = bf16_gemm_run(r->be, g, 0, seed), *m = bf16_gemm_run(r->cpu ? r->cpu : r->be, g, 3, seed);
        if (r->cpu_kernels) {
            float *rr = bf16_gemm_run(r->be, g, 1, seed), *f = bf16_gemm_run(r->be, g, 2, seed);
            snprintf(l, sizeof l, "[%s] gemm%d (M%d N%d K%d ta%d tb%d): bf16 vs fp32 on rounded inputs", r->bname, idx,
                     g->M, g->N, g->K, g->ta, g->tb);
            double w1 = bf16_expect(a, rr, m, n, 1e-4, 1e-6, l);
            snprintf(l, sizeof l, "[%s] gemm%d: bf16 vs fp32 twin", r->bname, idx);
            double w2 = bf16_expect(a, f, m, n, r->tol->chain, 1e-5, l);
            printf("[%s] gemm%d worst/bound: %.3f (accumulation), %.3f (vs fp32)\n", r->bname, idx, w1, w2);
            free(rr), free(f);
        }
        if (r->cpu) {
            float *w = bf16_gemm_run(r->cpu, g, 0, seed);
            snprintf(l, sizeof l, "[%s] gemm%d: bf16 vs cpu bf16", r->bname, idx);
            double wr = bf16_expect(a, w, m, n, r->tol->chain_cross, 1e-6, l);
            printf("[%s] gemm%d vs cpu worst/bound %.3f\n", r->bname, idx, wr);
            free(w);
        }
        free(a), free(m);
    }
}

// ---- the activation chain: one run per case and backend (all chain ops), checked op by op ----
typedef struct {
    AptBackend *be; // the backend the runs below belong to (NULL: empty)
    Bf16ActOut a;   // the chain on be
    Bf16ActOut t;   // the fp32 twins on be (cpu kernels only)
    Bf16ActOut c;   // the chain on the cpu table (cross only)
    bool has_t, has_c;
    Bf16ActIn in;
    Bf16ActMags mg;
} ChainAct;
static ChainAct g_chain[BF16_N_ACT_CASES];

static void chain_act_drop(void) {
    for (int cs = 0; cs < BF16_N_ACT_CASES; cs++) {
        ChainAct *k = &g_chain[cs];
        if (!k->be) continue;
        bf16_act_free(&k->a);
        if (k->has_t) bf16_act_free(&k->t);
        if (k->has_c) bf16_act_free(&k->c);
        bf16_act_mags_free(&k->mg), bf16_act_inputs_free(&k->in);
        k->be = NULL;
    }
}
static ChainAct *chain_act(OpRun *r, int cs) {
    ChainAct *k = &g_chain[cs];
    if (k->be == r->be) return k;
    if (k->be) chain_act_drop();
    const Bf16ActCase *c = &BF16_ACT_CASES[cs];
    const uint64_t seed = 500 + (uint64_t)cs;
    k->a = bf16_act_run(r->be, c, true, seed);
    k->has_t = r->cpu_kernels, k->has_c = r->cpu != NULL;
    if (k->has_t) k->t = bf16_act_run(r->be, c, false, seed);
    if (k->has_c) k->c = bf16_act_run(r->cpu, c, true, seed);
    k->in = bf16_act_inputs(c, k->a.np, seed);
    k->mg = bf16_act_mags(c, &k->in);
    k->be = r->be;
    return k;
}

#define RND_BF16 (0x1p-8 + 0x1p-21) // one bf16 rounding of the fp32 value, + a last-bit fp32 difference
#define ULP_F32 0x1p-21             // the same fp32 expression: a few ulps of its terms' magnitude
#define SUM_F32 3e-5                // float partial sums over a plane (twin) vs float64 (bf16 op)

// One output of the chain: twin check (rel_t, bound_t) on cpu kernels, cross check (rel_x, bound_x) vs cpu.
static void chain_out(OpRun *r, int cs, const char *what, const float *got, const float *twin, const float *cpu_got,
                      size_t n, const float *bound_t, double rel_t, double abs_t, const float *bound_x, double rel_x,
                      double abs_x) {
    char l[160];
    if (r->cpu_kernels && twin) {
        snprintf(l, sizeof l, "[%s] act case %d: %s, chain vs fp32 twin", r->bname, cs, what);
        bf16_expect(got, twin, bound_t, n, rel_t, abs_t, l);
    }
    if (r->cpu && cpu_got) {
        snprintf(l, sizeof l, "[%s] act case %d: %s, chain vs cpu chain", r->bname, cs, what);
        bf16_expect(got, cpu_got, bound_x, n, rel_x, abs_x, l);
    }
}
#define CH_FOR(r)                                                                                                  \
    for (int cs = 0; cs < BF16_N_ACT_CASES; cs++)                                                                  \
        for (ChainAct *k = chain_act((r), cs); k; k = NULL)
#define T_(f) (k->has_t ? k->t.f : NULL)
#define C_(f) (k->has_c ? k->c.f : NULL)

static void chain_bn(OpRun *r) { // bn_forward, bn_backward_affine, bn_stats, bn_backward_stats, bn_backward_data
    CH_FOR(r) {
        const Bf16ActCase *c = &BF16_ACT_CASES[cs];
        const int N = c->N, C = c->C, HW = c->H * c->W;
        const size_t n = k->a.n;
        chain_out(r, cs, "bn_forward y", k->a.bn_y, T_(bn_y), C_(bn_y), n, NULL, RND_BF16, 1e-30, NULL, 0x1p-7, 1e-30);
        chain_out(r, cs, "bn_backward_affine dx", k->a.bn_dx, T_(bn_dx), C_(bn_dx), n, NULL, ULP_F32, 1e-30, NULL,
                  1e-6, 1e-7);
        chain_out(r, cs, "bn_backward_affine dx alone", k->a.bn_dx1, T_(bn_dx1), C_(bn_dx1), n, NULL, ULP_F32, 1e-30,
                  NULL, 1e-6, 1e-7);
        // bn_backward_data: a (dy - mdy - (x - m) k); bound: |a| (|dy| + |mdy| + |x - m| |k|)
        float *bnd = calloc(n, sizeof(float));
        const Bf16ActIn *in = &k->in;
        for (int nn = 0; nn < N; nn++)
            for (int ch = 0; ch < C; ch++) {
                double invstd = 1.0 / sqrt((double)in->var[ch] + 1e-5), a_ = fabs(in->gamma[ch] * invstd);
                double mdy = fabs(in->sums[ch] / ((double)N * HW)),
                       kk = invstd * fabs(in->sums[C + ch] / ((double)N * HW));
                for (int p = 0; p < HW; p++) {
                    size_t i = ((size_t)nn * C + ch) * HW + p;
                    bnd[i] = (float)(a_ * (fabs(in->dy[i]) + mdy + fabs(in->x[i] - in->mean[ch]) * kk));
                }
            }
        chain_out(r, cs, "bn_backward_data dx", k->a.bn_dxt, T_(bn_dxt), C_(bn_dxt), n, bnd, ULP_F32, 1e-30, NULL,
                  1e-6, 1e-6);
        free(bnd);
        // per-channel sums: bound = the sum of |terms| (+ the accumulated start value for dgamma / dbeta)
        size_t bad_t = 0, bad_x = 0;
        for (int i = 0; i < 2 * C; i++) {
            if (k->has_t) {
                bad_t += !(fabs(k->a.bn_st[i] - k->t.bn_st[i]) <= SUM_F32 * k->mg.st[i] + 1e-12);
                bad_t += !(fabs(k->a.bn_bst[i] - k->t.bn_bst[i]) <= SUM_F32 * k->mg.bst[i] + 1e-12);
            }
            if (k->has_c) {
                bad_x += !(fabs(k->a.bn_st[i] - k->c.bn_st[i]) <= 1e-6 * k->mg.st[i] + 1e-9);
                bad_x += !(fabs(k->a.bn_bst[i] - k->c.bn_bst[i]) <= 1e-6 * k->mg.bst[i] + 1e-9);
            }
        }
        if (k->has_t)
            TEST_CHECK(bad_t == 0, "[%s] act case %d: bn_stats / bn_backward_stats sums vs twin: %zu of %d outside %g of "
                       "sum |terms|", r->bname, cs, bad_t, 4 * C, SUM_F32);
        if (k->has_c)
            TEST_CHECK(bad_x == 0, "[%s] act case %d: bn_stats / bn_backward_stats sums vs cpu: %zu of %d outside 1e-6 of "
                       "sum |terms|", r->bname, cs, bad_x, 4 * C);
        chain_out(r, cs, "bn_backward_affine dgamma", k->a.bn_dg, T_(bn_dg), C_(bn_dg), (size_t)C, k->mg.dg, SUM_F32,
                  1e-12, k->mg.dg, 1e-6, 1e-9);
        chain_out(r, cs, "bn_backward_affine dbeta", k->a.bn_db, T_(bn_db), C_(bn_db), (size_t)C, k->mg.db, SUM_F32,
                  1e-12, k->mg.db, 1e-6, 1e-9);
        if (k->has_t) { // how often the chain's y equals the rounded twin (printed, not asserted)
            size_t same = 0;
            for (size_t i = 0; i < n; i++) {
                uint32_t u;
                float v = k->t.bn_y[i];
                memcpy(&u, &v, 4);
                u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
                memcpy(&v, &u, 4);
                same += v == k->a.bn_y[i];
            }
            printf("[%s] act case %d (N%d C%d %dx%d): bn_forward equals the rounded twin in %zu of %zu\n", r->bname, cs,
                   N, C, c->H, c->W, same, n);
        }
    }
}
static void chain_relu(OpRun *r) {
    CH_FOR(r) {
        chain_out(r, cs, "relu_forward y (exact)", k->a.relu_y, T_(relu_y), C_(relu_y), k->a.n, NULL, 0, 1e-30, NULL, 0,
                  1e-30);
        chain_out(r, cs, "relu_backward dx (exact)", k->a.relu_dx, T_(relu_dx), C_(relu_dx), k->a.n, NULL, 0, 1e-30,
                  NULL, 0, 1e-30);
    }
}
static void chain_add(OpRun *r) {
    CH_FOR(r) {
        chain_out(r, cs, "add y", k->a.add_y, T_(add_y), C_(add_y), k->a.n, NULL, RND_BF16, 1e-30, NULL, 0x1p-7, 1e-30);
    }
}
static void chain_maxpool(OpRun *r) {
    CH_FOR(r) {
        chain_out(r, cs, "maxpool_forward y (exact)", k->a.mp_y, T_(mp_y), C_(mp_y), k->a.np, NULL, 0, 1e-30, NULL, 0,
                  1e-30);
        chain_out(r, cs, "maxpool_backward dx", k->a.mp_dx, T_(mp_dx), C_(mp_dx), k->a.n, NULL, ULP_F32, 1e-30, NULL,
                  1e-6, 1e-7);
        size_t bad_t = 0, bad_x = 0;
        for (size_t i = 0; i < k->a.np; i++) {
            if (k->has_t) bad_t += k->a.mp_idx[i] != k->t.mp_idx[i];
            if (k->has_c) bad_x += k->a.mp_idx[i] != k->c.mp_idx[i];
        }
        if (k->has_t)
            TEST_CHECK(bad_t == 0, "[%s] act case %d: maxpool_forward idx: %zu of %zu differ from the twin's", r->bname,
                       cs, bad_t, k->a.np);
        if (k->has_c)
            TEST_CHECK(bad_x == 0, "[%s] act case %d: maxpool_forward idx: %zu of %zu differ from the cpu's", r->bname,
                       cs, bad_x, k->a.np);
    }
}
static void chain_gap(OpRun *r) {
    CH_FOR(r) {
        const size_t nc = (size_t)BF16_ACT_CASES[cs].N * BF16_ACT_CASES[cs].C;
        chain_out(r, cs, "gap_forward y", k->a.gap_y, T_(gap_y), C_(gap_y), nc, NULL, ULP_F32, 1e-12, NULL, 1e-6, 1e-7);
        chain_out(r, cs, "gap_backward dx (exact vs twin)", k->a.gap_dx, T_(gap_dx), C_(gap_dx), k->a.n, NULL, 0, 1e-30,
                  NULL, 1e-6, 1e-7);
    }
}
static void chain_chscale(OpRun *r) {
    CH_FOR(r) {
        const size_t nc = (size_t)BF16_ACT_CASES[cs].N * BF16_ACT_CASES[cs].C;
        chain_out(r, cs, "chscale_forward y", k->a.cs_y, T_(cs_y), C_(cs_y), k->a.n, NULL, RND_BF16, 1e-30, NULL,
                  0x1p-7, 1e-30);
        chain_out(r, cs, "chscale_backward dx", k->a.cs_dx, T_(cs_dx), C_(cs_dx), k->a.n, NULL, ULP_F32, 1e-30, NULL,
                  1e-6, 1e-7);
        chain_out(r, cs, "chscale_backward ds", k->a.cs_ds, T_(cs_ds), C_(cs_ds), nc, k->mg.ds, ULP_F32, 1e-12, k->mg.ds,
                  1e-6, 1e-9);
    }
}
// cast in the chain's forms: the model input fp32 NCHW -> bf16 chain (= the host's rounding), its inverse,
// and an fp32 gradient NCHW -> the chain layout: exact, against the host and against the cpu.
static void chain_cast(OpRun *r) {
    CH_FOR(r) {
        const size_t n = k->a.n;
        chain_out(r, cs, "cast fp32 NCHW -> bf16 chain (= host rounding)", k->a.in16, k->in.x, C_(in16), n, NULL, 0,
                  1e-30, NULL, 0, 1e-30);
        chain_out(r, cs, "cast bf16 chain -> fp32 NCHW (exact)", k->a.to32, k->in.x, C_(to32), n, NULL, 0, 1e-30, NULL,
                  0, 1e-30);
        chain_out(r, cs, "cast fp32 NCHW -> fp32 chain layout (exact)", k->a.from_nchw, k->in.dy, C_(from_nchw), n,
                  NULL, 0, 1e-30, NULL, 0, 1e-30);
        if (!r->cpu_kernels) { // the host values too (twin checks compare with them on cpu kernels)
            char l[128];
            snprintf(l, sizeof l, "[%s] act case %d: cast fp32 -> bf16 chain = host rounding", r->bname, cs);
            bf16_expect(k->a.in16, k->in.x, NULL, n, 0, 1e-30, l);
        }
    }
}
#undef T_
#undef C_
