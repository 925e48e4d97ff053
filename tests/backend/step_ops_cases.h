// step_ops_cases.h — the step-tail ops of the table (fill_f64, casts, sumsq, finite_check, sgd/adam
// updates, the one-pass grad_sumsq / optim_update, ranking loss, SiMix mix_rows) on any backend, against
// float64 references and hand values written here: one function per op (or pair), called by the op's case
// in test_backend_ops.c. Every buffer goes through be->alloc / be->copy, so the same cases run on cpu,
// guard and cuda.
//
// Tolerances: sumsq is float64 accumulation of float32 squares (exact products): relative 1e-12 of a
// long double reference (different association only). The optimizer updates are a few float32
// operations per element: 2e-6 relative + 1e-7 absolute against the float64 formula for w and the
// momentum / first moment; Adam's second moment v (~1e-4) 2e-6 relative + 1e-12 absolute. The loss op
// must equal the loss driver called directly (cpu: the same code, bitwise; cuda: 1e-5, the fused
// kernels' float32 sigmoids).
#pragma once
#include "backend/backend.h"
#include "config/config.h"
#include "harness.h"
#include "loss/loss.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static void *sc_up(AptBackend *be, const void *host, size_t bytes) {
    void *d = be->alloc(be, bytes);
    be->copy(be, d, host, bytes, APT_COPY_H2D);
    return d;
}

static void sc_down(AptBackend *be, void *host, const void *dev, size_t bytes) {
    be->copy(be, host, dev, bytes, APT_COPY_D2H);
    be->sync(be);
}

// ---- grad_sumsq and optim_update (one pass over a segment table) against the per-range ops of the same
// backend called per segment, as the per-tensor optimizer did: sumsq (accumulating in table order), the
// clip coefficient from its square root, scale per segment, then sgd_update / adam_update per segment with
// lr = (float)((lr * lr_mul) * lr_scale). exact (cpu kernels): bitwise. cuda: the pass is one fused kernel
// with the per-range kernels' formulas, so bitwise is expected too, but contraction into FMAs is the
// compiler's choice: 1e-6 relative + 1e-7 absolute there (and the sum of squares 1e-15 relative).
// Then the numeric stop: a finite flag of 0, or a non-finite sum, leaves w, g, m, v untouched.
enum { PS_NSEG = 4 };
static void check_optim_pass(AptBackend *be, bool exact) {
    const size_t off[PS_NSEG] = {0, 1024, 1088, 3200}, num[PS_NSEG] = {1001, 7, 2101, 64};
    const size_t N = 3264;
    float w0[3264], g0[3264], m0[3264], v0[3264];
    for (size_t i = 0; i < N; i++) {
        w0[i] = (float)cos(0.37 * i), g0[i] = (float)sin(1.1 * i) * 0.5f;
        m0[i] = (float)sin(0.2 * i) * 0.01f, v0[i] = (float)(1e-4 * (1 + i % 5));
    }
    AptSegment hs[PS_NSEG];
    memset(hs, 0, sizeof hs);
    for (int k = 0; k < PS_NSEG; k++)
        hs[k] = (AptSegment){.offset = off[k], .numel = num[k], .lr_mul = k == PS_NSEG - 1 ? 2.0 : 1.0,
                             .lr_scale = (double)(float)pow(0.65, PS_NSEG - k), .wd = k == 1 ? 0.0f : 1e-2f};
    AptSegment *seg = sc_up(be, hs, sizeof hs);
    const char *names[5] = {"sgd", "sgd nesterov", "sgd no momentum", "adam", "adamw"};
    for (int variant = 0; variant < 5; variant++)
        for (int clip = 0; clip < 2; clip++) {
            const double lr = 0.03;
            AptOptimPass pass = {.kind = variant < 3 ? APT_UPDATE_SGD : variant == 3 ? APT_UPDATE_ADAM : APT_UPDATE_ADAMW,
                                 .seg = seg, .n_seg = PS_NSEG, .max_numel = 2101, .numel_total = 3173, .lr = lr,
                                 .max_norm = clip ? 1.5 : 0.0, .mu = variant == 2 ? 0.0f : 0.9f,
                                 .nesterov = variant == 1, .b1 = 0.9f, .b2 = 0.999f, .eps = 1e-8f, .t = 3};
            float *w[2], *g[2], *m[2], *v[2];
            double *scal[2];
            for (int r = 0; r < 2; r++) { // r = 0: per segment (reference), 1: the pass
                w[r] = sc_up(be, w0, sizeof w0), g[r] = sc_up(be, g0, sizeof g0);
                m[r] = sc_up(be, m0, sizeof m0), v[r] = sc_up(be, v0, sizeof v0);
                scal[r] = be->alloc(be, APT_SCALAR_COUNT * sizeof(double));
                be->fill_f64(be, APT_SCALAR_COUNT, 0.0, scal[r]);
                be->fill_f64(be, 1, 1.0, scal[r] + APT_SCALAR_FINITE);
            }
            for (int k = 0; k < PS_NSEG; k++)
                be->sumsq(be, num[k], g[0] + off[k], scal[0] + APT_SCALAR_SUMSQ, k > 0);
            double sref;
            sc_down(be, &sref, scal[0] + APT_SCALAR_SUMSQ, sizeof sref);
            const float coef = apt_clip_coef_from_sumsq(sref, pass.max_norm);
            for (int k = 0; k < PS_NSEG; k++) {
                float *wk = w[0] + off[k], *gk = g[0] + off[k], *mk = m[0] + off[k], *vk = v[0] + off[k];
                if (coef != 1.0f) be->scale(be, num[k], coef, gk);
                const float lk = (float)((lr * hs[k].lr_mul) * hs[k].lr_scale);
                if (pass.kind == APT_UPDATE_SGD)
                    be->sgd_update(be, wk, gk, mk, num[k], lk, hs[k].wd, pass.mu, pass.nesterov);
                else
                    be->adam_update(be, wk, gk, mk, vk, num[k], lk, pass.b1, pass.b2, pass.eps, hs[k].wd,
                                    pass.kind == APT_UPDATE_ADAMW, pass.t);
            }
            be->grad_sumsq(be, seg, PS_NSEG, g[1], scal[1] + APT_SCALAR_SUMSQ);
            be->optim_update(be, &pass, w[1], g[1], m[1], pass.kind == APT_UPDATE_SGD ? NULL : v[1], scal[1]);
            double sgot;
            sc_down(be, &sgot, scal[1] + APT_SCALAR_SUMSQ, sizeof sgot);
            TEST_CHECK(clip == 0 || coef != 1.0f, "optim pass: the clip case does not clip (sum of squares %g)", sref);
            char label[96];
            snprintf(label, sizeof label, "optim pass %s%s", names[variant], clip ? " clipped" : "");
            float *bufs[4][2] = {{w[0], w[1]}, {g[0], g[1]}, {m[0], m[1]}, {v[0], v[1]}};
            const char *what[4] = {"w", "g", "m", "v"};
            if (exact) {
                TEST_CHECK(!memcmp(&sgot, &sref, sizeof sgot), "%s: grad_sumsq %.17g, per-segment sumsq %.17g", label,
                           sgot, sref);
            } else {
                TEST_CHECK(fabs(sgot - sref) <= 1e-15 * sref, "%s: grad_sumsq %.17g vs %.17g", label, sgot, sref);
            }
            for (int q = 0; q < 4; q++) {
                float a[3264], b[3264];
                sc_down(be, a, bufs[q][0], sizeof a);
                sc_down(be, b, bufs[q][1], sizeof b);
                if (exact) {
                    TEST_CHECK(!memcmp(a, b, sizeof a), "%s: %s differs from the per-segment ops", label, what[q]);
                } else {
                    double da[3264], db[3264];
                    for (size_t i = 0; i < N; i++) da[i] = a[i], db[i] = b[i];
                    char l2[128];
                    snprintf(l2, sizeof l2, "%s %s", label, what[q]);
                    expect_close_d(db, da, N, 1e-6, 1e-7, l2);
                }
            }
            // The numeric stop: flag 0, then a finite flag with a non-finite sum: nothing moves.
            float before[4][3264], after[3264];
            for (int q = 0; q < 4; q++) sc_down(be, before[q], bufs[q][1], sizeof before[q]);
            for (int stop = 0; stop < 2; stop++) {
                be->fill_f64(be, 1, stop ? 1.0 : 0.0, scal[1] + APT_SCALAR_FINITE);
                be->fill_f64(be, 1, stop ? INFINITY : 0.0, scal[1] + APT_SCALAR_SUMSQ);
                be->optim_update(be, &pass, w[1], g[1], m[1], pass.kind == APT_UPDATE_SGD ? NULL : v[1], scal[1]);
                for (int q = 0; q < 4; q++) {
                    sc_down(be, after, bufs[q][1], sizeof after);
                    TEST_CHECK(!memcmp(after, before[q], sizeof after), "%s: %s moved under the numeric stop (%s)",
                               label, what[q], stop ? "sum of squares inf" : "finite flag 0");
                }
            }
            for (int r = 0; r < 2; r++)
                be->free(be, w[r]), be->free(be, g[r]), be->free(be, m[r]), be->free(be, v[r]), be->free(be, scal[r]);
        }
    // No segment: the sum is 0 (written, not accumulated).
    double *one = be->alloc(be, sizeof(double)), h1;
    be->fill_f64(be, 1, 7.0, one);
    be->grad_sumsq(be, seg, 0, NULL, one);
    sc_down(be, &h1, one, sizeof h1);
    TEST_CHECK(h1 == 0.0, "grad_sumsq of no segment: %g", h1);
    be->free(be, one), be->free(be, seg);
}

// loss_exact: the loss op must equal a direct apt_loss_compute bitwise (cpu-kernel backends).
// ---- mix_rows / mix_rows_backward (SiMix, src/loss/simix.h) against float64 loops written here: a few
// float32 operations per element, 1e-6 relative + 1e-7 absolute (exact on cpu and guard up to FMA
// contraction; cuda's contraction may differ). Includes a copy row (alpha 1, the same source twice).
static void check_mix_rows(AptBackend *be) {
    enum { NX = 5, NY = 7, MD = 19 };
    const int src[2 * NY] = {0, 0, 1, 2, 2, 1, 4, 0, 3, 4, 0, 3, 2, 2};
    const float alpha[NY] = {1.0f, 0.25f, 0.625f, 0.0f, 0.9375f, 0.5f, 0.3f};
    float x[NX * MD], dy[NY * MD], y[NY * MD], dx[NX * MD];
    for (int i = 0; i < NX * MD; i++) x[i] = (float)sin(0.31 * i + 0.2);
    for (int i = 0; i < NY * MD; i++) dy[i] = (float)cos(0.17 * i - 0.4);
    // the transpose as CSR over x rows: every use of row t, in output row order
    int start[NX + 1] = {0}, ent[2 * NY], nent = 0;
    for (int t = 0; t < NX; t++) {
        for (int r = 0; r < NY; r++)
            for (int side = 0; side < 2; side++)
                if (src[2 * r + side] == t && !(side == 1 && src[2 * r] == t && alpha[r] == 1.0f))
                    ent[nent++] = 2 * r + side;
        start[t + 1] = nent;
    }
    int *dsrc = sc_up(be, src, sizeof src), *dstart = sc_up(be, start, sizeof start), *dent = sc_up(be, ent, sizeof ent);
    float *dal = sc_up(be, alpha, sizeof alpha), *dx_in = sc_up(be, x, sizeof x), *ddy = sc_up(be, dy, sizeof dy);
    float *dyo = be->alloc(be, sizeof y), *dxo = be->alloc(be, sizeof dx);
    be->mix_rows(be, NY, MD, dsrc, dal, dx_in, dyo);
    be->mix_rows_backward(be, NX, MD, dstart, dent, dal, ddy, dxo);
    sc_down(be, y, dyo, sizeof y);
    sc_down(be, dx, dxo, sizeof dx);
    double yg[NY * MD], yw[NY * MD], xg[NX * MD], xw[NX * MD] = {0};
    for (int r = 0; r < NY; r++)
        for (int d = 0; d < MD; d++) {
            const double a = alpha[r];
            yg[r * MD + d] = y[r * MD + d];
            yw[r * MD + d] = a * x[src[2 * r] * MD + d] + (1 - a) * x[src[2 * r + 1] * MD + d];
            if (src[2 * r] == src[2 * r + 1]) // a copy row: one use of the row, weight a + (1 - a)
                xw[src[2 * r] * MD + d] += dy[r * MD + d];
            else
                xw[src[2 * r] * MD + d] += a * dy[r * MD + d], xw[src[2 * r + 1] * MD + d] += (1 - a) * dy[r * MD + d];
        }
    for (int i = 0; i < NX * MD; i++) xg[i] = dx[i];
    expect_close_d(yg, yw, NY * MD, 1e-6, 1e-7, "mix_rows");
    expect_close_d(xg, xw, NX * MD, 1e-6, 1e-7, "mix_rows_backward");
    TEST_CHECK(!memcmp(y, x, MD * sizeof(float)), "mix_rows: a copy row (alpha 1) is not bitwise the source");
    void *bufs[] = {dsrc, dstart, dent, dal, dx_in, ddy, dyo, dxo};
    for (int i = 0; i < 8; i++) be->free(be, bufs[i]);
}

// ---- fill_f64 and finite_check
static void check_fill_finite(AptBackend *be) {
    double *flag = be->alloc(be, 2 * sizeof(double)), hf[2];
    be->fill_f64(be, 2, 1.0, flag);
    float fin[37];
    for (int i = 0; i < 37; i++) fin[i] = (float)i - 18.5f;
    float *dfin = sc_up(be, fin, sizeof fin);
    be->finite_check(be, 37, dfin, flag);
    fin[30] = NAN;
    float *dnan = sc_up(be, fin, sizeof fin);
    be->finite_check(be, 37, dnan, flag + 1);
    sc_down(be, hf, flag, sizeof hf);
    TEST_CHECK(hf[0] == 1.0 && hf[1] == 0.0, "finite_check: flags %g (all finite), %g (one NaN)", hf[0], hf[1]);
    fin[30] = INFINITY;
    be->copy(be, dnan, fin, sizeof fin, APT_COPY_H2D);
    be->fill_f64(be, 1, 1.0, flag);
    be->finite_check(be, 37, dnan, flag);
    sc_down(be, hf, flag, sizeof(double));
    TEST_CHECK(hf[0] == 0.0, "finite_check: +inf not flagged");
    be->free(be, flag), be->free(be, dfin), be->free(be, dnan);
}

// ---- sumsq: hand value, then a long double reference on 1003 values, accumulate
static void check_sumsq(AptBackend *be) {
    double *flag = be->alloc(be, 2 * sizeof(double)), hf[2];

    // ---- sumsq: hand value, then float64 reference on 1000 values, accumulate
    float sq[10];
    for (int i = 0; i < 10; i++) sq[i] = (float)(i + 1); // 1 + 4 + ... + 100 = 385
    float *dsq = sc_up(be, sq, sizeof sq);
    be->sumsq(be, 10, dsq, flag, false);
    be->sumsq(be, 3, dsq, flag, true); // + 14
    sc_down(be, hf, flag, sizeof(double));
    TEST_CHECK(hf[0] == 399.0, "sumsq hand value: %.17g, want 399", hf[0]);
    enum { NS = 1003 };
    float big[NS];
    long double acc = 0; // the reference's own rounding stays far below the 1e-12 asked
    for (int i = 0; i < NS; i++) {
        big[i] = (float)sin(0.37 * i) * (1.0f + (float)(i % 7));
        acc += (long double)big[i] * big[i];
    }
    const double ref = (double)acc;
    float *dbig = sc_up(be, big, sizeof big);
    be->sumsq(be, NS, dbig, flag + 1, false);
    sc_down(be, hf, flag, sizeof hf);
    TEST_CHECK(fabs(hf[1] - ref) <= 1e-12 * ref, "sumsq of %d: %.17g, float64 reference %.17g", NS, hf[1], ref);
    be->free(be, flag), be->free(be, dsq), be->free(be, dbig);
}

// ---- casts (flat, row-major): hand values (exact, rounding to nearest even, NaN)
static void check_cast_flat(AptBackend *be) {

    // ---- casts: hand values (exact, rounding to nearest even, NaN)
    float cv[6] = {1.0f, -2.5f, 1.00390625f /* 1 + 2^-8: a tie, rounds to even (1.0) */,
                   1.01171875f /* 1 + 3*2^-8: tie, rounds up to 1 + 2^-6 */, 3.0e38f, NAN};
    uint16_t want[5] = {0x3f80, 0xc020, 0x3f80, 0x3f82, 0x7f62};
    float *dcv = sc_up(be, cv, sizeof cv);
    uint16_t *dh = be->alloc(be, sizeof(uint16_t) * 6), hh[6];
    be->cast(be, 1, 1, 6, apt_f32(dcv), apt_tensor(dh, APT_BF16, APT_NCHW));
    sc_down(be, hh, dh, sizeof hh);
    for (int i = 0; i < 5; i++) TEST_CHECK(hh[i] == want[i], "cast f32->bf16 of %g: 0x%04x, want 0x%04x", cv[i], hh[i], want[i]);
    TEST_CHECK((hh[5] & 0x7f80) == 0x7f80 && (hh[5] & 0x7f), "cast f32->bf16 of NaN: 0x%04x is not a NaN", hh[5]);
    float back[6];
    be->cast(be, 1, 1, 6, apt_tensor(dh, APT_BF16, APT_NCHW), apt_f32(dcv));
    sc_down(be, back, dcv, sizeof back);
    TEST_CHECK(back[0] == 1.0f && back[1] == -2.5f && back[3] == 1.015625f && isnan(back[5]),
               "cast bf16->f32: %g %g %g %g", back[0], back[1], back[3], back[5]);
    be->free(be, dcv), be->free(be, dh);
}

// ---- sgd (momentum, nesterov) and adam/adamw, against the float64 formulas (sgd: variants 0, 1; adam: 2, 3)
static void check_updates(AptBackend *be, bool adam) {

    // ---- sgd (momentum, nesterov) and adam/adamw, against the float64 formulas
    enum { NO = 67 };
    float w0[NO], g0[NO], m0[NO], v0[NO];
    for (int i = 0; i < NO; i++) {
        w0[i] = (float)cos(0.9 * i), g0[i] = (float)sin(1.3 * i) * 0.1f;
        m0[i] = (float)sin(0.2 * i) * 0.01f, v0[i] = (float)(1e-4 * (1 + i % 5));
    }
    for (int variant = adam ? 2 : 0; variant < (adam ? 4 : 2); variant++) { // sgd, sgd nesterov, adam, adamw
        float *dw = sc_up(be, w0, sizeof w0), *dg = sc_up(be, g0, sizeof g0);
        float *dm = sc_up(be, m0, sizeof m0), *dv = sc_up(be, v0, sizeof v0);
        const double lr = 0.03, wd = 1e-2, mu = 0.9, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        const long t = 3;
        if (variant < 2)
            be->sgd_update(be, dw, dg, dm, NO, (float)lr, (float)wd, (float)mu, variant == 1);
        else
            be->adam_update(be, dw, dg, dm, dv, NO, (float)lr, (float)b1, (float)b2, (float)eps, (float)wd,
                            variant == 3, t);
        float gw[NO], gm[NO], gv[NO];
        sc_down(be, gw, dw, sizeof gw);
        sc_down(be, gm, dm, sizeof gm);
        sc_down(be, gv, dv, sizeof gv);
        double rw[NO], rm[NO], rv[NO], gwd[NO], gmd[NO], gvd[NO];
        for (int i = 0; i < NO; i++) {
            double w = w0[i], g = g0[i], m = m0[i], v = v0[i];
            if (variant < 2) {
                double d = g + wd * w, b = mu * m + d;
                rm[i] = b;
                rv[i] = v; // SGD leaves v alone
                rw[i] = w - lr * (variant == 1 ? d + mu * b : b);
            } else {
                if (variant == 3) w *= 1 - lr * wd;
                double d = g + (variant == 2 ? wd * w : 0.0);
                m = b1 * m + (1 - b1) * d;
                v = b2 * v + (1 - b2) * d * d;
                rm[i] = m;
                rv[i] = v;
                rw[i] = w - lr / (1 - pow(b1, t)) * m / (sqrt(v) / sqrt(1 - pow(b2, t)) + eps);
            }
            gwd[i] = gw[i], gmd[i] = gm[i], gvd[i] = gv[i];
        }
        const char *names[4] = {"sgd momentum", "sgd nesterov", "adam", "adamw"};
        expect_close_d(gwd, rw, NO, 2e-6, 1e-7, names[variant]);
        expect_close_d(gmd, rm, NO, 2e-6, 1e-7, names[variant]);
        expect_close_d(gvd, rv, NO, 2e-6, 1e-12, names[variant]); // v ~ 1e-4: absolute tolerance to scale
        be->free(be, dw), be->free(be, dg), be->free(be, dm), be->free(be, dv);
    }

}

// ---- ranking loss: the op against the loss driver called directly (host arrays), local queries
// [4, 12) of a batch of 16 (4 classes x 4, labels unsorted). loss_exact: bitwise (cpu-kernel backends).
static void check_loss_op(AptBackend *be, bool loss_exact) {
    double *flag = be->alloc(be, sizeof(double)), hf[1];
    enum { LB = 16, LD = 8 };
    float E[LB * LD];
    int labels[LB];
    for (int i = 0; i < LB; i++) {
        labels[i] = (i * 7) % 4;
        double n2 = 0;
        for (int d = 0; d < LD; d++) n2 += pow(E[i * LD + d] = (float)sin(1.7 * i + 0.3 * d + labels[i]), 2);
        for (int d = 0; d < LD; d++) E[i * LD + d] = (float)(E[i * LD + d] / sqrt(n2));
    }
    const char *losses[2] = {"smoothap", "pnp-dq"};
    for (int li = 0; li < 2; li++) {
        AptLossParams p;
        apt_loss_params_default(&p, losses[li]);
        p.tau = 0.1;
        AptLossWorkspace *ws = apt_loss_workspace_create(LB, LB, LD, APT_F32);
        float dE_ref[LB * LD], dE_got[LB * LD];
        AptLossIn in = {.E = E, .labels = labels, .B = LB, .D = LD, .q_begin = 4, .q_end = 12};
        AptLossOut out = {.dE = dE_ref};
        apt_loss_compute(ws, &p, &in, &out);
        apt_loss_workspace_free(ws);
        void *bws = NULL;
        be->loss_create(be, &p, 8, LB, LD, 4, &bws);
        TEST_CHECK(bws != NULL, "loss_create(%s) refused", losses[li]);
        if (!bws) continue;
        float *dE = sc_up(be, E, sizeof E), *ddE = be->alloc(be, sizeof E);
        be->loss_compute(be, bws, &p, dE, labels, LB, LD, 4, 12, ddE, flag);
        sc_down(be, dE_got, ddE, sizeof dE_got);
        sc_down(be, hf, flag, sizeof(double));
        if (loss_exact) {
            TEST_CHECK(hf[0] == out.loss_part && !memcmp(dE_got, dE_ref, sizeof dE_ref),
                       "loss op %s: loss %.17g vs driver %.17g, or dE differs bitwise", losses[li], hf[0], out.loss_part);
        } else {
            TEST_CHECK(fabs(hf[0] - out.loss_part) <= 1e-5 * (1 + fabs(out.loss_part)), "loss op %s: %.9g vs %.9g",
                       losses[li], hf[0], out.loss_part);
            expect_close_f(dE_got, dE_ref, LB * LD, 1e-4, 1e-5, losses[li]);
        }
        be->loss_free(be, bws);
        be->free(be, dE), be->free(be, ddE);
    }
    be->free(be, flag);
}
