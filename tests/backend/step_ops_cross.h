// step_ops_cross.h — the step-tail ops of another table (cuda; guard) against the CPU table op by op on the
// same inputs (STYLE: every CUDA op is checked against its CPU twin), for test_backend_ops.c:
//   fill_f64, casts, finite_check: exact (bitwise, a NaN's payload aside / the same flag);
//   sumsq: relative 1e-11 — both sum float64 squares (exact products of floats) in different orders
//     (cpu: 8 sequential lanes, cuda: 64 chunks of block trees); each is within (n/8) u ~ 1.4e-11 of the
//     exact sum in the worst case for n = 1e6, and within ~1e-13 in practice; repeatable bitwise;
//   sgd/adam/adamw (3 steps fed back): |gpu - cpu| <= 1e-6 |cpu| + 1e-7 max|cpu|, a few float32 ulps
//     per step (fused multiply-adds and the order of the bias corrections may differ);
//   the one pass (grad_sumsq + optim_update, clipping active): the same, and the sum of squares 1e-11;
//   ranking loss (every loss the other table accepts; the others must be refused, NULL workspace):
//     loss part 1e-5 (1 + |loss|), dE 1e-4 relative + 1e-5 absolute (float32 sigmoids in the fused
//     kernels vs float64 per-query sums on the cpu); labels are HOST memory, as the op requires.
// And the CUDA step-timer ops (APT_BACKEND_TIMER_OPS, not the core list; cuda only): events on the stream
// around 32 sums of squares of 2^22 floats read back as seconds: stamp 0 is 0, the stamps never decrease,
// the span around the work is > 0, and a second read of passed stamps gives the same values.
// cpu, gpu: the globals of op_cases_cross.h (gpu is the backend under test).
#pragma once
#include "op_cases_cross.h"
#include "step_ops_cases.h"

#include <stdbool.h>

static float *rnd_f(size_t n, float lo, float hi, uint32_t seed) {
    float *x = malloc(n * sizeof(float));
    uint32_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = lo + (hi - lo) * (float)(s >> 8) * (1.0f / 16777216.0f);
    }
    return x;
}

// A host array on both backends: the cpu copy (host memory, owned by cpu) and the gpu copy.
static void *on_cpu(const void *h, size_t bytes) { return sc_up(cpu, h, bytes); }
static void *on_gpu(const void *h, size_t bytes) { return sc_up(gpu, h, bytes); }
static void *from_gpu(const void *d, size_t bytes) {
    void *h = malloc(bytes);
    sc_down(gpu, h, d, bytes);
    return h;
}

static void cmp_f(const char *label, const float *gpu_h, const float *cpu_h, size_t n, double rtol, double amax_frac) {
    double mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(cpu_h[i]));
    expect_close_f(gpu_h, cpu_h, n, rtol, amax_frac * (mx > 0 ? mx : 1.0), label);
}

// Bitwise equal, except that a NaN only has to be a NaN: the payload is not specified (the CPU keeps the
// input's quiet NaN, CUDA's __float2bfloat16_rn returns its canonical 0x7fff).
static bool same_bf16(const uint16_t *a, const uint16_t *b, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        bool nan_a = (a[i] & 0x7fff) > 0x7f80, nan_b = (b[i] & 0x7fff) > 0x7f80;
        if (nan_a != nan_b || (!nan_a && a[i] != b[i])) {
            if (bad++ < 5) fprintf(stderr, "  bf16[%zu]: cuda 0x%04x, cpu 0x%04x\n", i, a[i], b[i]);
        }
    }
    return bad == 0;
}

static bool same_f32(const float *a, const float *b, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) != isnan(b[i]) || (!isnan(a[i]) && memcmp(&a[i], &b[i], 4) != 0)) {
            if (bad++ < 5) fprintf(stderr, "  f32[%zu]: cuda %.9g, cpu %.9g\n", i, a[i], b[i]);
        }
    }
    return bad == 0;
}

static void vs_cpu_small_ops(size_t n) {
    char label[96];
    // fill_f64: exact
    double *fc = cpu->alloc(cpu, n * sizeof(double)), *fg = gpu->alloc(gpu, n * sizeof(double));
    cpu->fill_f64(cpu, n, -3.25e-7, fc);
    gpu->fill_f64(gpu, n, -3.25e-7, fg);
    double *fh = from_gpu(fg, n * sizeof(double));
    TEST_CHECK(!memcmp(fh, fc, n * sizeof(double)), "fill_f64 (n %zu): cuda differs from cpu", n);
    free(fh), cpu->free(cpu, fc), gpu->free(gpu, fg);

    // casts: bitwise, on values spanning the float range plus NaN, +-inf, +-0, denormals and ties
    float *x = rnd_f(n, -1e4f, 1e4f, 3);
    const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-40f, -1e-40f, 1.00390625f, 3.4e38f};
    for (size_t i = 0; i < sizeof special / sizeof *special && i < n; i++) x[(i * 7919) % n] = special[i];
    float *xc = on_cpu(x, n * 4), *xg = on_gpu(x, n * 4);
    uint16_t *bc = cpu->alloc(cpu, n * 2), *bg = gpu->alloc(gpu, n * 2);
    cpu->cast(cpu, 1, 1, n, apt_f32(xc), apt_tensor(bc, APT_BF16, APT_NCHW));
    gpu->cast(gpu, 1, 1, n, apt_f32(xg), apt_tensor(bg, APT_BF16, APT_NCHW));
    uint16_t *bh = from_gpu(bg, n * 2);
    TEST_CHECK(same_bf16(bh, bc, n), "cast fp32 -> bf16 (n %zu): cuda differs from cpu", n);
    float *yc = cpu->alloc(cpu, n * 4), *yg = gpu->alloc(gpu, n * 4);
    cpu->cast(cpu, 1, 1, n, apt_tensor(bc, APT_BF16, APT_NCHW), apt_f32(yc));
    gpu->cast(gpu, 1, 1, n, apt_tensor(bg, APT_BF16, APT_NCHW), apt_f32(yg));
    float *yh = from_gpu(yg, n * 4);
    TEST_CHECK(same_f32(yh, yc, n), "cast bf16 -> fp32 (n %zu): cuda differs from cpu", n);
    free(bh), free(yh), cpu->free(cpu, bc), gpu->free(gpu, bg), cpu->free(cpu, yc), gpu->free(gpu, yg);
    cpu->free(cpu, xc), gpu->free(gpu, xg);

    // sumsq, plain and accumulating, on finite values
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) x[i] = 1.5f;
    xc = on_cpu(x, n * 4), xg = on_gpu(x, n * 4);
    double *sc = cpu->alloc(cpu, 2 * sizeof(double)), *sg = gpu->alloc(gpu, 2 * sizeof(double)), sh[2];
    cpu->sumsq(cpu, n, xc, sc, false);
    gpu->sumsq(gpu, n, xg, sg, false);
    cpu->fill_f64(cpu, 1, 2.5, sc + 1);
    gpu->fill_f64(gpu, 1, 2.5, sg + 1);
    cpu->sumsq(cpu, n / 3, xc + 5, sc + 1, true);
    gpu->sumsq(gpu, n / 3, xg + 5, sg + 1, true);
    sc_down(gpu, sh, sg, sizeof sh);
    for (int k = 0; k < 2; k++) {
        snprintf(label, sizeof label, "sumsq%s (n %zu) cuda vs cpu", k ? " accumulate" : "", k ? n / 3 : n);
        expect_close_d(&sh[k], &sc[k], 1, 1e-11, 0.0, label);
    }
    cpu->free(cpu, sc), gpu->free(gpu, sg);

    // finite_check: no bad value, then one NaN / +inf / -inf at the first, a middle and the last position
    double *gc = cpu->alloc(cpu, sizeof(double)), *gg = gpu->alloc(gpu, sizeof(double)), gh;
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    const size_t where[3] = {0, n / 2 + 1, n - 1};
    for (int c = -1; c < 9; c++) {
        if (c >= 0) {
            float v = bad[c % 3];
            size_t at = where[c / 3];
            cpu->copy(cpu, xc + at, &v, 4, APT_COPY_H2D);
            gpu->copy(gpu, xg + at, &v, 4, APT_COPY_H2D);
        }
        cpu->fill_f64(cpu, 1, 1.0, gc);
        gpu->fill_f64(gpu, 1, 1.0, gg);
        cpu->finite_check(cpu, n, xc, gc);
        gpu->finite_check(gpu, n, xg, gg);
        sc_down(gpu, &gh, gg, sizeof gh);
        TEST_CHECK(gh == *gc && *gc == (c < 0 ? 1.0 : 0.0), "finite_check case %d: cuda flag %g, cpu flag %g", c, gh,
                   *gc);
        if (c >= 0) { // restore
            cpu->copy(cpu, xc + where[c / 3], &x[where[c / 3]], 4, APT_COPY_H2D);
            gpu->copy(gpu, xg + where[c / 3], &x[where[c / 3]], 4, APT_COPY_H2D);
        }
    }
    cpu->free(cpu, gc), gpu->free(gpu, gg), cpu->free(cpu, xc), gpu->free(gpu, xg);
    free(x);
}

static void vs_cpu_optim(size_t n) {
    const char *names[4] = {"sgd momentum", "sgd nesterov", "adam", "adamw"};
    for (int kind = 0; kind < 4; kind++) {
        float *w = rnd_f(n, -1, 1, 10 + kind), *g = rnd_f(n, -0.1f, 0.1f, 20 + kind);
        float *m = rnd_f(n, -0.01f, 0.01f, 30 + kind), *v = rnd_f(n, 0, 1e-4f, 40 + kind);
        float *wc = on_cpu(w, n * 4), *gc = on_cpu(g, n * 4), *mc = on_cpu(m, n * 4), *vc = on_cpu(v, n * 4);
        float *wg = on_gpu(w, n * 4), *gg = on_gpu(g, n * 4), *mg = on_gpu(m, n * 4), *vg = on_gpu(v, n * 4);
        for (long t = 1; t <= 3; t++) {
            if (kind < 2) {
                cpu->sgd_update(cpu, wc, gc, mc, n, 0.1f, 1e-4f, 0.9f, kind == 1);
                gpu->sgd_update(gpu, wg, gg, mg, n, 0.1f, 1e-4f, 0.9f, kind == 1);
            } else {
                cpu->adam_update(cpu, wc, gc, mc, vc, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 4e-4f, kind == 3, t);
                gpu->adam_update(gpu, wg, gg, mg, vg, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 4e-4f, kind == 3, t);
            }
        }
        char label[96];
        float *h = from_gpu(wg, n * 4);
        snprintf(label, sizeof label, "%s w: cuda vs cpu", names[kind]);
        cmp_f(label, h, wc, n, 1e-6, 1e-7);
        free(h), h = from_gpu(mg, n * 4);
        snprintf(label, sizeof label, "%s %s: cuda vs cpu", names[kind], kind < 2 ? "momentum buffer" : "m");
        cmp_f(label, h, mc, n, 1e-6, 1e-7);
        free(h);
        if (kind >= 2) {
            h = from_gpu(vg, n * 4);
            snprintf(label, sizeof label, "%s v: cuda vs cpu", names[kind]);
            cmp_f(label, h, vc, n, 1e-6, 1e-7);
            free(h);
        }
        float *bufs_c[4] = {wc, gc, mc, vc}, *bufs_g[4] = {wg, gg, mg, vg};
        for (int k = 0; k < 4; k++) cpu->free(cpu, bufs_c[k]), gpu->free(gpu, bufs_g[k]);
        free(w), free(g), free(m), free(v);
    }
}

// The one pass (grad_sumsq + optim_update over a segment table, clipping active): cuda vs cpu on the same
// inputs, 3 steps fed back; the tolerances of vs_cpu_optim (w, m, v; g after clipping) and of sumsq.
static void vs_cpu_optim_pass(void) {
    enum { NS = 3 };
    const size_t off[NS] = {0, 100032, 100096}, num[NS] = {100000, 17, 70001}, n = 170097;
    AptSegment hs[NS];
    memset(hs, 0, sizeof hs);
    for (int k = 0; k < NS; k++)
        hs[k] = (AptSegment){.offset = off[k], .numel = num[k], .lr_mul = k == 2 ? 2.0 : 1.0, .lr_scale = 1.0,
                             .wd = k == 1 ? 0.0f : 4e-4f};
    AptSegment *sc = on_cpu(hs, sizeof hs), *sg = on_gpu(hs, sizeof hs);
    const char *names[3] = {"sgd nesterov", "adam", "adamw"};
    for (int kind = 0; kind < 3; kind++) {
        float *w = rnd_f(n, -1, 1, 50 + kind), *g = rnd_f(n, -0.1f, 0.1f, 60 + kind);
        float *m = rnd_f(n, -0.01f, 0.01f, 70 + kind), *v = rnd_f(n, 0, 1e-4f, 80 + kind);
        float *wc = on_cpu(w, n * 4), *gc = on_cpu(g, n * 4), *mc = on_cpu(m, n * 4), *vc = on_cpu(v, n * 4);
        float *wg = on_gpu(w, n * 4), *gg = on_gpu(g, n * 4), *mg = on_gpu(m, n * 4), *vg = on_gpu(v, n * 4);
        double *scc = cpu->alloc(cpu, APT_SCALAR_COUNT * 8), *scg = gpu->alloc(gpu, APT_SCALAR_COUNT * 8);
        AptOptimPass pass = {.kind = kind == 0 ? APT_UPDATE_SGD : kind == 1 ? APT_UPDATE_ADAM : APT_UPDATE_ADAMW,
                             .n_seg = NS, .max_numel = 100000, .numel_total = 170018, .lr = 1e-2, .max_norm = 1.0,
                             .mu = 0.9f, .nesterov = true, .b1 = 0.9f, .b2 = 0.999f, .eps = 1e-8f};
        double first_sumsq = 0; // the cpu's sum of squares of step 1 (later steps see the clipped g, norm ~1)
        for (long t = 1; t <= 3; t++) {
            pass.t = t;
            AptBackend *bes[2] = {cpu, gpu};
            double *scs[2] = {scc, scg};
            AptSegment *segs[2] = {sc, sg};
            float *ws[2] = {wc, wg}, *gs[2] = {gc, gg}, *ms[2] = {mc, mg}, *vs[2] = {vc, vg};
            for (int r = 0; r < 2; r++) {
                AptBackend *be = bes[r];
                pass.seg = segs[r];
                be->fill_f64(be, APT_SCALAR_COUNT, 1.0, scs[r]);
                be->grad_sumsq(be, segs[r], NS, gs[r], scs[r] + APT_SCALAR_SUMSQ);
                if (t == 1 && r == 0) sc_down(cpu, &first_sumsq, scc + APT_SCALAR_SUMSQ, sizeof first_sumsq);
                be->optim_update(be, &pass, ws[r], gs[r], ms[r], vs[r], scs[r]);
            }
        }
        double hc[APT_SCALAR_COUNT], hg[APT_SCALAR_COUNT];
        sc_down(cpu, hc, scc, sizeof hc);
        sc_down(gpu, hg, scg, sizeof hg);
        TEST_CHECK(fabs(hg[APT_SCALAR_SUMSQ] - hc[APT_SCALAR_SUMSQ]) <= 1e-11 * hc[APT_SCALAR_SUMSQ],
                   "optim pass %s: grad_sumsq cuda %.17g vs cpu %.17g", names[kind], hg[APT_SCALAR_SUMSQ],
                   hc[APT_SCALAR_SUMSQ]);
        TEST_CHECK(sqrt(first_sumsq) > 1.0, "optim pass %s: clipping inactive (norm %g at step 1)", names[kind],
                   sqrt(first_sumsq));
        float *bc[4] = {wc, gc, mc, vc}, *bg[4] = {wg, gg, mg, vg};
        const char *what[4] = {"w", "g (clipped)", "m", "v"};
        for (int q = 0; q < (kind == 0 ? 3 : 4); q++) {
            char label[96];
            float *h = from_gpu(bg[q], n * 4);
            snprintf(label, sizeof label, "optim pass %s %s: cuda vs cpu", names[kind], what[q]);
            cmp_f(label, h, bc[q], n, 1e-6, 1e-7);
            free(h);
        }
        for (int k = 0; k < 4; k++) cpu->free(cpu, bc[k]), gpu->free(gpu, bg[k]);
        cpu->free(cpu, scc), gpu->free(gpu, scg);
        free(w), free(g), free(m), free(v);
    }
    cpu->free(cpu, sc), gpu->free(gpu, sg);
}

// Every loss of the registry: the CUDA table either refuses it (NULL workspace) or matches the CPU table.
static void vs_cpu_loss(void) {
    enum { B = 96, D = 24, NCLS = 12 };
    float E[B * D];
    int labels[B]; // host memory: the sampler's plan (the op's contract)
    for (int i = 0; i < B; i++) {
        labels[i] = (i * 5) % NCLS; // 12 classes x 8, unsorted
        double n2 = 0;
        for (int d = 0; d < D; d++) n2 += pow(E[i * D + d] = (float)sin(0.7 * i + 1.3 * d + labels[i]), 2);
        for (int d = 0; d < D; d++) E[i * D + d] = (float)(E[i * D + d] / sqrt(n2));
    }
#define NAME_(ID, NAME, ROW, COUNTS, VARIANT, CUDA) NAME,
    const char *names[] = {APT_LOSS_TABLE(NAME_)};
#undef NAME_
    const int ranges[3][2] = {{24, 72}, {0, B}, {7, 7}}; // a rank's slice, the whole batch, no query
    float *Ec = on_cpu(E, sizeof E), *Eg = on_gpu(E, sizeof E);
    float *dEc = cpu->alloc(cpu, sizeof E), *dEg = gpu->alloc(gpu, sizeof E);
    double *lc = cpu->alloc(cpu, sizeof(double)), *lg = gpu->alloc(gpu, sizeof(double)), lh;
    int accepted = 0;
    for (size_t li = 0; li < sizeof names / sizeof *names; li++) {
        for (int self = 0; self < 2; self++) {
            AptLossParams p;
            apt_loss_params_default(&p, names[li]);
            p.tau = 0.05;
            p.include_self = self;
            if (self == 0 && strcmp(names[li], "smoothap")) continue; // include_self: smoothap only
            void *wc = NULL, *wg = NULL;
            cpu->loss_create(cpu, &p, B, B, D, 8, &wc);
            gpu->loss_create(gpu, &p, B, B, D, 8, &wg);
            TEST_CHECK(wc != NULL, "cpu loss_create(%s) refused", names[li]);
            if (!wg) {
                printf("ok   %s: refused by the cuda table (no kernel)\n", names[li]);
                if (wc) cpu->loss_free(cpu, wc);
                continue;
            }
            accepted++;
            for (int r = 0; r < 3; r++) {
                const int q0 = ranges[r][0], q1 = ranges[r][1];
                cpu->loss_compute(cpu, wc, &p, Ec, labels, B, D, q0, q1, dEc, lc);
                gpu->loss_compute(gpu, wg, &p, Eg, labels, B, D, q0, q1, dEg, lg);
                float *dh = from_gpu(dEg, sizeof E);
                sc_down(gpu, &lh, lg, sizeof lh);
                char label[128];
                snprintf(label, sizeof label, "loss op %s%s queries [%d, %d): dE cuda vs cpu", names[li],
                         self ? "" : " (exclude self)", q0, q1);
                TEST_CHECK(fabs(lh - *lc) <= 1e-5 * (1 + fabs(*lc)), "%s: loss part %.9g vs cpu %.9g", label, lh, *lc);
                expect_close_f(dh, dEc, (size_t)B * D, 1e-4, 1e-5, label);
                free(dh);
            }
            cpu->loss_free(cpu, wc);
            gpu->loss_free(gpu, wg);
        }
    }
    TEST_CHECK(accepted >= 2, "the cuda table accepted only %d losses (smoothap and pnp-* have kernels)", accepted);
    cpu->free(cpu, Ec), gpu->free(gpu, Eg), cpu->free(cpu, dEc), gpu->free(gpu, dEg);
    cpu->free(cpu, lc), gpu->free(gpu, lg);
}

// The CUDA timer ops: events on the backend's stream, read as seconds from stamp 0.
static void timer_ops(void) {
    enum { N = 1 << 22 };
    float *x = gpu->alloc(gpu, N * sizeof(float));
    double *out = gpu->alloc(gpu, sizeof(double));
    gpu->fill(gpu, N, 0.5f, x);
    AptTimerSet ts;
    gpu->timer_create(gpu, 4, &ts);
    TEST_CHECK(ts.n == 4 && ts.s && ts.impl, "timer_create: n %d", ts.n);
    gpu->timer_record(gpu, &ts, 0);
    for (int k = 0; k < 32; k++) gpu->sumsq(gpu, N, x, out, k > 0);
    gpu->timer_record(gpu, &ts, 1);
    gpu->timer_record(gpu, &ts, 2); // nothing between 1 and 2
    gpu->sumsq(gpu, N, x, out, true);
    gpu->timer_record(gpu, &ts, 3);
    gpu->timer_read(gpu, &ts, 4);
    double first[4];
    memcpy(first, ts.s, sizeof first);
    printf("timer: stamps %.6f %.6f %.6f %.6f s (32 + 1 sums of squares of 2^22 floats)\n", ts.s[0], ts.s[1], ts.s[2],
           ts.s[3]);
    TEST_CHECK(ts.s[0] == 0 && ts.s[1] > 0 && ts.s[2] >= ts.s[1] && ts.s[3] > ts.s[2],
               "timer stamps not increasing: %g %g %g %g", ts.s[0], ts.s[1], ts.s[2], ts.s[3]);
    TEST_CHECK(ts.s[2] - ts.s[1] < ts.s[1], "empty span %g longer than the work before it %g", ts.s[2] - ts.s[1],
               ts.s[1]);
    gpu->timer_read(gpu, &ts, 4);
    TEST_CHECK(!memcmp(first, ts.s, sizeof first), "a second read of passed stamps differs");
    gpu->timer_free(gpu, &ts);
    TEST_CHECK(ts.s == NULL && ts.impl == NULL, "timer_free left pointers");
    gpu->free(gpu, x), gpu->free(gpu, out);
}


// sumsq on 2^20 values: two calls give the same bits (fixed chunking, no atomics), within 1e-12 of a long
// double reference.
static void cross_sumsq_repeat(void) {
    // sum of squares: two calls on the same data give the same bits (fixed chunking, no atomics); the
    // float64 reference is accumulated in long double (error far below the 1e-12 asked)
    enum { N = 1 << 20 };
    float *x = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) x[i] = (float)((i * 2654435761u) % 1000) * 1e-3f;
    float *dx = sc_up(gpu, x, N * sizeof(float));
    double *s = gpu->alloc(gpu, 2 * sizeof(double)), hs[2];
    gpu->sumsq(gpu, N, dx, s, false);
    gpu->sumsq(gpu, N, dx, s + 1, false);
    sc_down(gpu, hs, s, sizeof hs);
    long double acc = 0;
    for (int i = 0; i < N; i++) acc += (long double)x[i] * x[i];
    const double ref = (double)acc;
    TEST_CHECK(!memcmp(&hs[0], &hs[1], sizeof(double)), "sumsq not repeatable: %.17g vs %.17g", hs[0], hs[1]);
    TEST_CHECK(fabs(hs[0] - ref) <= 1e-12 * ref, "sumsq of 2^20: %.17g vs %.17g", hs[0], ref);
    gpu->free(gpu, dx), gpu->free(gpu, s);
    free(x);

}
