// op_cases_cross.h — the cross-backend part of the op test (test_backend_ops.c): an op of another table
// (cuda; guard with the small shapes) against the same op of the CPU table on the same random inputs,
// with odd sizes (not multiples of any tile) and, on CUDA, ResNet-size shapes; outputs poisoned (NaN)
// beforehand so an unwritten element fails, accumulating outputs pre-filled with random values.
//
// Tolerance (fp32): both sides compute in float32 with sums of K terms in different (blocked) orders.
// The expected error of an fp32 sum of K random-sign O(1) terms is ~2^-24 sqrt(K) relative to its typical
// magnitude; the largest K here is a ResNet-size weight gradient (K = N P Q = 4 56 56 = 12544: ~5e-6 of
// the typical entry, i.e. ~1e-6 of the largest). We require |gpu - cpu| <= 1e-5 |cpu| + 1e-5 max|cpu|
// (the second term absorbs entries that cancel to ~0); a wrong index or a missing term is O(0.1-1).
// The TF32 math mode (apt_backend_cuda_set_math: fp32 convolutions on tensor cores, TF32 products with a
// 10-bit mantissa, ~5e-4 relative per product): 1e-2 of the same form (cuda only).
// BatchNorm sums are checked against a float64 reference computed here, not against the CPU op (whose
// per-plane partial sums are float32): bounds in check_double_sums / check_float_accum below.
// Determinism: the ops with reductions (conv backward-weights, BN statistics, linear db, L2 backward, SE ds)
// run twice from identical inputs and must agree bitwise.
// Squeeze-excitation: sigmoid and the scale are one or two float32 operations per element (expf may
// differ by an ulp or two between libm and CUDA): rtol 1e-6 + 1e-6 max|cpu|; ds sums HW products in float64
// on both sides (different orders) and rounds once: rtol 1e-6.
#pragma once
#include "op_test.h"
#include "optim/optim.h"
#ifdef APT_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

// cpu: the CPU table (host memory); gpu: the backend under test (cuda, or guard with the small shapes).
static AptBackend *cpu, *gpu;
static uint64_t rng_state;
// The device sums BatchNorm statistics in float64 (check_double_sums' bound); the CPU kernels (guard) sum
// float partials per plane, checked against float64 in op_cases_fp32.h and op_cases_chain.h instead.
static bool cross_f64_sums;

static float frand(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}
static float *rnd(size_t n, float lo, float hi) {
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * 0.5f * (frand() + 1.0f);
    return v;
}
static float *copyf(const float *x, size_t n) {
    float *v = malloc((n ? n : 1) * sizeof *v);
    memcpy(v, x, n * sizeof *v);
    return v;
}
// Buffers of the current case on the backend under test, freed together by release_dev().
static void *dev_alloc(size_t bytes) { return op_alloc(gpu, bytes); }
static void release_dev(void) { op_release(); }
static void *up(const void *h, size_t bytes) {
    void *d = dev_alloc(bytes);
    gpu->copy(gpu, d, h, bytes, APT_COPY_H2D);
    return d;
}
// All-ones bits: NaN as float, -1 as int, NaN as double. On the backend's stream, so the fill is ordered
// before every op the test then enqueues there.
static void *poisoned(size_t bytes) {
    return op_poisoned(gpu, bytes); // freed by release_dev (op_release)
}
static float *down(const float *d, size_t n) {
    float *h = malloc((n ? n : 1) * sizeof *h);
    gpu->copy(gpu, h, d, n * sizeof *h, APT_COPY_D2H);
    return h;
}
static int cmp(const char *label, const float *d_got, const float *want, size_t n, double rtol) {
    float *got = down(d_got, n);
    double scale = 0;
    for (size_t i = 0; i < n; i++) scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
    int ok = expect_close_f(got, want, n, rtol, rtol * (scale > 0 ? scale : 1.0) + 1e-30, label); // 1e-30: rtol 0 = exact
    free(got);
    return ok;
}
static int same_bits(const void *d_a, const void *d_b, size_t bytes) {
    void *a = malloc(bytes), *b = malloc(bytes);
    gpu->copy(gpu, a, d_a, bytes, APT_COPY_D2H);
    gpu->copy(gpu, b, d_b, bytes, APT_COPY_D2H);
    int eq = memcmp(a, b, bytes) == 0;
    free(a);
    free(b);
    return eq;
}
#define RTOL 1e-5

// TF32 math for the fp32 convolutions: a CUDA setting only (cross_conv runs its tf32 shape on cuda only).
static void cross_set_tf32(int on) {
#ifdef APT_HAVE_CUDA
    if (!strcmp(gpu->name, "cuda")) apt_backend_cuda_set_math(gpu, on ? APT_CUDA_MATH_TF32 : APT_CUDA_MATH_FP32);
#else
    (void)on;
#endif
}

static void test_gemm(int M, int N, int K) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
            float *A = rnd(na, -1, 1), *B = rnd(nb, -1, 1), *C = rnd(nc, -1, 1);
            float *dA = up(A, na * 4), *dB = up(B, nb * 4), *dC = up(C, nc * 4);
            int lda = ta ? M : K, ldb = tb ? K : N;
            cpu->gemm(cpu, ta, tb, M, N, K, 0.7f, apt_f32(A), lda, apt_f32(B), ldb, 0.3f, C, N);
            gpu->gemm(gpu, ta, tb, M, N, K, 0.7f, apt_f32(dA), lda, apt_f32(dB), ldb, 0.3f, dC, N);
            char l[80];
            snprintf(l, sizeof l, "gemm ta%d tb%d %dx%dx%d", ta, tb, M, N, K);
            cmp(l, dC, C, nc, RTOL);
            free(A), free(B), free(C);
            release_dev();
        }
}

static void test_linear(int N, int in, int out) {
    float *x = rnd((size_t)N * in, -1, 1), *w = rnd((size_t)out * in, -1, 1), *b = rnd(out, -1, 1);
    float *dy = rnd((size_t)N * out, -1, 1), *dw = rnd((size_t)out * in, -1, 1), *db = rnd(out, -1, 1);
    float *y = malloc((size_t)N * out * 4), *dx = malloc((size_t)N * in * 4);
    float *gx = up(x, (size_t)N * in * 4), *gw = up(w, (size_t)out * in * 4), *gb = up(b, out * 4);
    float *gdy = up(dy, (size_t)N * out * 4), *gdw = up(dw, (size_t)out * in * 4), *gdb = up(db, out * 4);
    float *gdw2 = up(dw, (size_t)out * in * 4), *gdb2 = up(db, out * 4);
    float *gy = poisoned((size_t)N * out * 4), *gdx = poisoned((size_t)N * in * 4);
    cpu->linear_forward(cpu, N, in, out, x, w, b, y);
    gpu->linear_forward(gpu, N, in, out, gx, gw, gb, gy);
    cmp("linear_forward", gy, y, (size_t)N * out, RTOL);
    cpu->linear_backward(cpu, N, in, out, x, w, dy, dx, dw, db);
    gpu->linear_backward(gpu, N, in, out, gx, gw, gdy, gdx, gdw, gdb);
    gpu->linear_backward(gpu, N, in, out, gx, gw, gdy, NULL, gdw2, gdb2);
    cmp("linear_backward dx", gdx, dx, (size_t)N * in, RTOL);
    cmp("linear_backward dw (+=)", gdw, dw, (size_t)out * in, RTOL);
    cmp("linear_backward db (+=)", gdb, db, out, RTOL);
    TEST_CHECK(same_bits(gdw, gdw2, (size_t)out * in * 4) && same_bits(gdb, gdb2, (size_t)out * 4),
               "linear_backward: reruns differ");
    free(x), free(w), free(b), free(dy), free(dw), free(db), free(y), free(dx);
    release_dev();
}

static void test_conv(int N, int C, int H, int W, int K, int R, int stride, int pad, int n, int tf32) {
    AptConvDesc dc, dg;
    apt_conv_desc_init(&dc, N, C, H, W, K, R, R, stride, pad);
    dg = dc;
    cross_set_tf32(tf32);
    cpu->conv2d_prepare(cpu, &dc);
    gpu->conv2d_prepare(gpu, &dg);
    const size_t nx = (size_t)n * C * H * W, nw = (size_t)K * C * R * R, ny = (size_t)n * K * dc.P * dc.Q;
    float *x = rnd(nx, -1, 1), *w = rnd(nw, -0.5f, 0.5f), *b = rnd(K, -1, 1), *dy = rnd(ny, -1, 1);
    float *dw = rnd(nw, -1, 1), *db = rnd(K, -1, 1), *y = malloc(ny * 4), *dx = malloc(nx * 4);
    float *gx = up(x, nx * 4), *gw = up(w, nw * 4), *gb = up(b, K * 4), *gdy = up(dy, ny * 4);
    float *gdw = up(dw, nw * 4), *gdb = up(db, K * 4), *gdw2 = up(dw, nw * 4), *gdb2 = up(db, K * 4);
    float *gy = poisoned(ny * 4), *gdx = poisoned(nx * 4);
    const double tol = tf32 ? 1e-2 : RTOL;
    char l[160];
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        cpu->conv2d_forward(cpu, &dc, n, apt_f32(x), apt_f32(w), with_bias ? b : NULL, apt_f32(y));
        gpu->conv2d_forward(gpu, &dg, n, apt_f32(gx), apt_f32(gw), with_bias ? gb : NULL, apt_f32(gy));
        snprintf(l, sizeof l, "conv fwd%s %s N%d/%d C%d %dx%d K%d R%d s%d p%d", with_bias ? "+bias" : "",
                 tf32 ? "tf32" : "fp32", n, N, C, H, W, K, R, stride, pad);
        cmp(l, gy, y, ny, tol);
    }
    cpu->conv2d_backward_data(cpu, &dc, n, apt_f32(dy), apt_f32(w), apt_f32(dx));
    gpu->conv2d_backward_data(gpu, &dg, n, apt_f32(gdy), apt_f32(gw), apt_f32(gdx));
    snprintf(l, sizeof l, "conv bwd-data %s N%d C%d %dx%d K%d R%d s%d p%d", tf32 ? "tf32" : "fp32", n, C, H, W, K, R,
             stride, pad);
    cmp(l, gdx, dx, nx, tol);
    cpu->conv2d_backward_weights(cpu, &dc, n, apt_f32(x), apt_f32(dy), dw, db);
    gpu->conv2d_backward_weights(gpu, &dg, n, apt_f32(gx), apt_f32(gdy), gdw, gdb);
    gpu->conv2d_backward_weights(gpu, &dg, n, apt_f32(gx), apt_f32(gdy), gdw2, gdb2);
    snprintf(l, sizeof l, "conv bwd-weights dw+= %s K%d C%d R%d", tf32 ? "tf32" : "fp32", K, C, R);
    cmp(l, gdw, dw, nw, tol);
    cmp("conv bwd-weights db+=", gdb, db, K, tol);
    TEST_CHECK(same_bits(gdw, gdw2, nw * 4) && same_bits(gdb, gdb2, K * 4), "conv backward-weights: reruns differ");
    cpu->conv2d_release(cpu, &dc);
    gpu->conv2d_release(gpu, &dg);
    cross_set_tf32(0);
    free(x), free(w), free(b), free(dy), free(dw), free(db), free(y), free(dx);
    release_dev();
}

// Float64 reference of the per-channel sums of the BN ops, and Σ|term| per channel (the scale of the
// rounding bounds). s[c] = Σ t0, s[C + c] = Σ t1 over the N·HW positions of channel c:
//   REF_STATS      t0 = x,  t1 = x²                          (bn_stats)
//   REF_BWD_STATS  t0 = dy, t1 = dy·(x - mean)/sqrt(var+eps)  (bn_backward_stats; bn_backward_affine's
//                                                             dbeta, dgamma)
enum { REF_STATS, REF_BWD_STATS };
static void ref_chan_sums(int mode, int N, int C, int HW, const float *x, const float *dy, const float *mean,
                          const float *var, float eps, double *s, double *abs_s) {
    for (int c = 0; c < C; c++) {
        const double m = mode == REF_STATS ? 0 : mean[c], invstd = mode == REF_STATS ? 0 : 1.0 / sqrt((double)var[c] + eps);
        double s0 = 0, s1 = 0, a0 = 0, a1 = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < HW; i++) {
                const size_t o = ((size_t)n * C + c) * HW + i;
                const double t0 = mode == REF_STATS ? x[o] : dy[o];
                const double t1 = mode == REF_STATS ? (double)x[o] * x[o] : (double)dy[o] * ((x[o] - m) * invstd);
                s0 += t0, s1 += t1, a0 += fabs(t0), a1 += fabs(t1);
            }
        s[c] = s0, s[C + c] = s1, abs_s[c] = a0, abs_s[C + c] = a1;
    }
}

// Double sums of the device (bn_stats, bn_backward_stats) against the float64 reference. Bound: any
// summation order of K = N·HW double terms is within γ_K·Σ|t| ≈ K·2^-53·Σ|t| of the exact sum, and each
// term carries at most ~8 roundings of its own (float inputs are exact in double; subtract, sqrt, divide,
// multiply). Device and reference each obey that bound, so |gpu - ref| <= 2(K + 8)·2^-53·Σ|t|.
static void check_double_sums(const char *label, const double *d_got, const double *ref, const double *abs_s,
                              int C, size_t K) {
    double *got = malloc(2 * (size_t)C * sizeof *got), worst = 0;
    gpu->copy(gpu, got, d_got, 2 * (size_t)C * sizeof *got, APT_COPY_D2H);
    int bad = 0;
    for (int i = 0; i < 2 * C; i++) {
        const double tol = 2.0 * ((double)K + 8) * 0x1p-53 * abs_s[i] + 1e-300, err = fabs(got[i] - ref[i]);
        if (!(err <= tol)) {
            if (bad++ < 5) fprintf(stderr, "  %s[%d]: got %.17g want %.17g (tol %.3g)\n", label, i, got[i], ref[i], tol);
        }
        if (err / tol > worst || err != err) worst = err / tol;
    }
    TEST_CHECK(!bad, "%s: %d of %d sums outside the float64 rounding bound", label, bad, 2 * C);
    if (!bad) printf("ok   %s: %d sums, K=%zu, worst error %.3g of the bound\n", label, 2 * C, K, worst);
    free(got);
}

// Float outputs accumulated from double sums (dbeta += Σdy, dgamma += Σdy·x̂) against init + reference.
// The device forms x̂ = (x - mean)·invstd in float (var + eps, sqrtf, 1/·, subtract, multiply: <= 6 float
// roundings per term, so 6·2^-24·Σ|t| over the sum; dbeta's terms dy are exact), converts the double sum
// to float (2^-24·|S|) and adds it to init (2^-24·|init + S|); the double sum itself adds the bound of
// check_double_sums. Bound: 2^-24·(6 Σ|t| [dgamma only] + 2|S| + 2|init|) + 2(K + 8)·2^-53·Σ|t|. The CPU
// kernels (the guard backend, !cross_f64_sums) sum float partials per plane: their summation term is
// (K + 8)·2^-24·Σ|t| instead (a clang -O2 tree landed 3% beyond the float64 one on dbeta).
static void check_float_accum(const char *label, const float *d_got, const float *init, const double *S,
                              const double *abs_t, int C, size_t K, int x_hat_terms) {
    float *got = down(d_got, (size_t)C);
    int bad = 0;
    double worst = 0;
    for (int c = 0; c < C; c++) {
        const double want = (double)init[c] + S[c];
        const double tol = 0x1p-24 * ((x_hat_terms ? 6.0 : 0.0) * abs_t[c] + 2 * fabs(S[c]) + 2 * fabs(init[c])) +
                           (cross_f64_sums ? 2.0 * 0x1p-53 : 0x1p-24) * ((double)K + 8) * abs_t[c] + 1e-30;
        const double err = fabs((double)got[c] - want);
        if (!(err <= tol)) {
            if (bad++ < 5) fprintf(stderr, "  %s[%d]: got %.9g want %.17g (tol %.3g)\n", label, c, got[c], want, tol);
        }
        if (err / tol > worst || err != err) worst = err / tol;
    }
    TEST_CHECK(!bad, "%s: %d of %d channels outside the bound", label, bad, C);
    if (!bad) printf("ok   %s: C=%d worst error %.3g of the bound\n", label, C, worst);
    free(got);
}

static void test_bn(int N, int C, int HW) {
    const size_t n = (size_t)N * C * HW, K = (size_t)N * HW;
    float *x = rnd(n, -2, 3), *dy = rnd(n, -1, 1), *mean = rnd(C, -0.5f, 0.5f), *var = rnd(C, 0.2f, 2);
    float *gam = rnd(C, 0.5f, 1.5f), *bet = rnd(C, -1, 1), *dgam = rnd(C, -1, 1), *dbet = rnd(C, -1, 1);
    float *y = malloc(n * 4), *dx = malloc(n * 4);
    float *gx = up(x, n * 4), *gdy = up(dy, n * 4), *gm = up(mean, C * 4), *gv = up(var, C * 4);
    float *gg = up(gam, C * 4), *gbt = up(bet, C * 4), *gdg = up(dgam, C * 4), *gdbt = up(dbet, C * 4);
    float *gy = poisoned(n * 4), *gdx = poisoned(n * 4);
    double *ref = malloc(2 * (size_t)C * sizeof *ref), *abs_s = malloc(2 * (size_t)C * sizeof *abs_s);
    const float eps = 1e-5f;
    char l[120];
    printf("     bn N%d C%d HW%d (%zu positions per channel)\n", N, C, HW, K);
    cpu->bn_forward(cpu, N, C, HW, apt_f32(x), mean, var, eps, gam, bet, apt_f32(y));
    gpu->bn_forward(gpu, N, C, HW, apt_f32(gx), gm, gv, eps, gg, gbt, apt_f32(gy));
    cmp("bn_forward", gy, y, n, RTOL); // elementwise: a few float roundings on either side
    cpu->bn_backward_affine(cpu, N, C, HW, apt_f32(x), apt_f32(dy), mean, var, eps, gam, apt_f32(dx), NULL,
                            NULL);
    gpu->bn_backward_affine(gpu, N, C, HW, apt_f32(gx), apt_f32(gdy), gm, gv, eps, gg, apt_f32(gdx), gdg,
                            gdbt);
    cmp("bn_backward_affine dx", gdx, dx, n, RTOL);
    ref_chan_sums(REF_BWD_STATS, N, C, HW, x, dy, mean, var, eps, ref, abs_s);
    check_float_accum("bn_backward_affine dbeta+=", gdbt, dbet, ref, abs_s, C, K, 0);
    check_float_accum("bn_backward_affine dgamma+=", gdg, dgam, ref + C, abs_s + C, C, K, 1);
    // Train path: statistics, finalize (with running stats), backward statistics, backward data.
    double *gs = poisoned(2 * C * sizeof(double)), *gs2 = poisoned(2 * C * sizeof(double));
    double *gbs = poisoned(2 * C * sizeof(double));
    gpu->bn_stats(gpu, N, C, HW, apt_f32(gx), gs);
    gpu->bn_stats(gpu, N, C, HW, apt_f32(gx), gs2);
    ref_chan_sums(REF_STATS, N, C, HW, x, NULL, NULL, NULL, 0, ref, abs_s);
    if (cross_f64_sums) check_double_sums("bn_stats sums", gs, ref, abs_s, C, K);
    TEST_CHECK(same_bits(gs, gs2, 2 * C * sizeof(double)), "bn_stats: reruns differ");
    // Finalize: the CPU from the float64 reference sums, the device from its own (within ~1e-12 of them);
    // the outputs are float, so they agree to a float rounding or two.
    float *m2 = malloc(C * 4), *v2 = malloc(C * 4), *rm = rnd(C, -1, 1), *rv = rnd(C, 0.5f, 1.5f);
    float *gm2 = poisoned(C * 4), *gv2 = poisoned(C * 4), *grm = up(rm, C * 4), *grv = up(rv, C * 4);
    const double count = (double)K;
    cpu->bn_finalize(cpu, C, ref, count, 0.1f, m2, v2, rm, rv);
    gpu->bn_finalize(gpu, C, gs, count, 0.1f, gm2, gv2, grm, grv);
    cmp("bn_finalize mean", gm2, m2, C, RTOL);
    cmp("bn_finalize var", gv2, v2, C, RTOL);
    cmp("bn_finalize running_mean", grm, rm, C, RTOL);
    cmp("bn_finalize running_var", grv, rv, C, RTOL);
    // From here on both sides use the device's mean/var, so the inputs are identical.
    float *hm2 = down(gm2, C), *hv2 = down(gv2, C);
    gpu->bn_backward_stats(gpu, N, C, HW, apt_f32(gx), apt_f32(gdy), gm2, gv2, eps, gbs);
    ref_chan_sums(REF_BWD_STATS, N, C, HW, x, dy, hm2, hv2, eps, ref, abs_s);
    if (cross_f64_sums) check_double_sums("bn_backward_stats sums", gbs, ref, abs_s, C, K);
    double *hbs = malloc(2 * (size_t)C * sizeof *hbs);
    gpu->copy(gpu, hbs, gbs, 2 * (size_t)C * sizeof *hbs, APT_COPY_D2H);
    cpu->bn_backward_data(cpu, N, C, HW, apt_f32(x), apt_f32(dy), hm2, hv2, eps, gam, hbs, count,
                          apt_f32(dx));
    gpu->bn_backward_data(gpu, N, C, HW, apt_f32(gx), apt_f32(gdy), gm2, gv2, eps, gg, gbs, count,
                          apt_f32(gdx));
    snprintf(l, sizeof l, "bn_backward_data dx N%d C%d HW%d", N, C, HW);
    cmp(l, gdx, dx, n, RTOL); // elementwise from identical inputs
    free(x), free(dy), free(mean), free(var), free(gam), free(bet), free(dgam), free(dbet), free(y), free(dx);
    free(ref), free(abs_s), free(m2), free(v2), free(rm), free(rv), free(hm2), free(hv2), free(hbs);
    release_dev();
}

static void test_pool(int N, int C, int H, int W, int k, int stride, int pad) {
    AptPoolDesc d;
    apt_pool_desc_init(&d, N, C, H, W, k, stride, pad);
    const size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * d.P * d.Q;
    float *x = rnd(nx, -1, 1), *dy = rnd(ny, -1, 1), *y = malloc(ny * 4), *dx = malloc(nx * 4);
    int *idx = malloc(ny * sizeof *idx);
    float *gx = up(x, nx * 4), *gdy = up(dy, ny * 4), *gy = poisoned(ny * 4), *gdx = poisoned(nx * 4);
    int *gidx = poisoned(ny * sizeof(int));
    char l[120];
    cpu->maxpool_forward(cpu, &d, N, apt_f32(x), apt_f32(y), idx);
    gpu->maxpool_forward(gpu, &d, N, apt_f32(gx), apt_f32(gy), gidx);
    snprintf(l, sizeof l, "maxpool fwd %dx%d k%d s%d p%d", H, W, k, stride, pad);
    cmp(l, gy, y, ny, 0.0);
    int *hidx = malloc(ny * sizeof *hidx);
    gpu->copy(gpu, hidx, gidx, ny * sizeof(int), APT_COPY_D2H);
    TEST_CHECK(memcmp(hidx, idx, ny * sizeof(int)) == 0, "maxpool argmax indices differ from the CPU's");
    cpu->maxpool_backward(cpu, &d, N, apt_f32(dy), idx, apt_f32(dx));
    gpu->maxpool_backward(gpu, &d, N, apt_f32(gdy), gidx, apt_f32(gdx));
    snprintf(l, sizeof l, "maxpool bwd (overlapping windows) k%d s%d", k, stride);
    cmp(l, gdx, dx, nx, RTOL);
    cpu->avgpool_forward(cpu, &d, N, x, y);
    gpu->avgpool_forward(gpu, &d, N, gx, gy);
    cmp("avgpool fwd", gy, y, ny, RTOL);
    cpu->avgpool_backward(cpu, &d, N, dy, dx);
    gpu->avgpool_backward(gpu, &d, N, gdy, gdx);
    cmp("avgpool bwd", gdx, dx, nx, RTOL);
    const int HW = H * W;
    float *g = malloc((size_t)N * C * 4), *gg = poisoned((size_t)N * C * 4);
    cpu->gap_forward(cpu, N, C, HW, apt_f32(x), g);
    gpu->gap_forward(gpu, N, C, HW, apt_f32(gx), gg);
    cmp("gap fwd", gg, g, (size_t)N * C, RTOL);
    cpu->gap_backward(cpu, N, C, HW, dy, apt_f32(dx)); // dy has >= N*C entries
    gpu->gap_backward(gpu, N, C, HW, gdy, apt_f32(gdx));
    cmp("gap bwd", gdx, dx, nx, RTOL);
    free(x), free(dy), free(y), free(dx), free(idx), free(hidx), free(g);
    release_dev();
}

static void test_l2_eltwise(int N, int D) {
    const size_t n = (size_t)N * D;
    float *x = rnd(n, -1, 1), *dy = rnd(n, -1, 1), *y = malloc(n * 4), *dx = malloc(n * 4);
    for (int j = 0; j < D; j++) x[j] = 0.0f; // a zero row: the eps branch
    float *gx = up(x, n * 4), *gdy = up(dy, n * 4), *gy = poisoned(n * 4), *gdx = poisoned(n * 4),
          *gdx2 = poisoned(n * 4);
    cpu->l2norm_forward(cpu, N, D, x, y);
    gpu->l2norm_forward(gpu, N, D, gx, gy);
    cmp("l2norm fwd", gy, y, n, RTOL);
    cpu->l2norm_backward(cpu, N, D, x, y, dy, dx);
    gpu->l2norm_backward(gpu, N, D, gx, gy, gdy, gdx);
    gpu->l2norm_backward(gpu, N, D, gx, gy, gdy, gdx2);
    cmp("l2norm bwd", gdx, dx, n, RTOL);
    TEST_CHECK(same_bits(gdx, gdx2, n * 4), "l2norm_backward: reruns differ");
    // Elementwise ops are exact: tolerance 0.
    float *a = rnd(n, -2, 2), *ga = up(a, n * 4), *h = copyf(a, n);
    cpu->relu_forward(cpu, n, apt_f32(a), apt_f32(y));
    gpu->relu_forward(gpu, n, apt_f32(ga), apt_f32(gy));
    cmp("relu fwd", gy, y, n, 0.0);
    cpu->relu_backward(cpu, n, apt_f32(y), apt_f32(dy), apt_f32(dx));
    gpu->relu_backward(gpu, n, apt_f32(gy), apt_f32(gdy), apt_f32(gdx));
    cmp("relu bwd", gdx, dx, n, 0.0);
    cpu->add(cpu, n, apt_f32(a), apt_f32(dy), apt_f32(y));
    gpu->add(gpu, n, apt_f32(ga), apt_f32(gdy), apt_f32(gy));
    cmp("add", gy, y, n, 0.0);
    cpu->axpy(cpu, n, 0.37f, dy, h);
    gpu->axpy(gpu, n, 0.37f, gdy, ga);
    cmp("axpy", ga, h, n, 1e-7); // FMA contraction on the device may round once instead of twice
    cpu->scale(cpu, n, -1.3f, h);
    gpu->scale(gpu, n, -1.3f, ga);
    cmp("scale", ga, h, n, 1e-7);
    cpu->fill(cpu, n, 2.5f, h);
    gpu->fill(gpu, n, 2.5f, ga);
    cmp("fill", ga, h, n, 0.0);
    free(x), free(dy), free(y), free(dx), free(a), free(h);
    release_dev();
}

// Optimizer updates vs the CPU functions of src/optim (3 steps, so state feeds back), and the bf16 casts
// vs a host round-to-nearest-even. Updates: elementwise float32 with at most a few roundings; the device
// may fuse a multiply-add (one rounding instead of two), so 1e-6 relative of the tensor's scale.
static uint16_t bf16_rne(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu)) return (uint16_t)((u >> 16) | 0x40); // NaN stays NaN
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static void test_optim(size_t n) {
    for (int kind = 0; kind < 4; kind++) { // sgd momentum, sgd nesterov, adam (coupled L2), adamw
        float *w = rnd(n, -1, 1), *m = rnd(n, 0, 0), *v = rnd(n, 0, 0), *g = rnd(n, -1, 1);
        float *gw = up(w, n * 4), *gm = up(m, n * 4), *gv = up(v, n * 4), *gg = up(g, n * 4);
        for (long t = 1; t <= 3; t++) {
            if (kind < 2) {
                cpu->sgd_update(cpu, w, g, m, n, 0.1f, 1e-4f, 0.9f, kind == 1);
                gpu->sgd_update(gpu, gw, gg, gm, n, 0.1f, 1e-4f, 0.9f, kind == 1);
            } else {
                cpu->adam_update(cpu, w, g, m, v, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 4e-4f, kind == 3, t);
                gpu->adam_update(gpu, gw, gg, gm, gv, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 4e-4f, kind == 3, t);
            }
        }
        const char *names[] = {"sgd momentum w", "sgd nesterov w", "adam w", "adamw w"};
        cmp(names[kind], gw, w, n, 1e-6);
        cmp(kind < 2 ? "sgd momentum buffer" : "adam m", gm, m, n, 1e-6);
        if (kind >= 2) cmp("adam v", gv, v, n, 1e-6);
        free(w), free(m), free(v), free(g);
    }
    float *x = rnd(n, -1e3f, 1e3f);
    uint16_t *want = malloc(n * 2), *got = malloc(n * 2), *gb = poisoned(n * 2);
    for (size_t i = 0; i < n; i++) want[i] = bf16_rne(x[i]);
    float *gx = up(x, n * 4), *gback = poisoned(n * 4);
    gpu->cast(gpu, 1, 1, n, apt_f32(gx), apt_tensor(gb, APT_BF16, APT_NCHW));
    gpu->copy(gpu, got, gb, n * 2, APT_COPY_D2H);
    TEST_CHECK(memcmp(got, want, n * 2) == 0, "f32 -> bf16 cast is not round-to-nearest-even");
    gpu->cast(gpu, 1, 1, n, apt_tensor(gb, APT_BF16, APT_NCHW), apt_f32(gback));
    float *back = down(gback, n);
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)want[i] << 16;
        float f;
        memcpy(&f, &u, 4);
        ok &= back[i] == f;
    }
    TEST_CHECK(ok, "bf16 -> f32 cast is not exact");
    free(x), free(want), free(got), free(back);
    release_dev();
}


// ---------------------------------------------------------------- squeeze-excitation
static float *se_rnd(size_t n, float scale) {
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = scale * frand();
    return v;
}
static void cross_sigmoid(size_t n) {
    float *x = se_rnd(n, 8.0f), *dy = se_rnd(n, 1.0f), *y = malloc(n * sizeof *y), *dx = malloc(n * sizeof *dx);
    cpu->sigmoid_forward(cpu, n, x, y);
    cpu->sigmoid_backward(cpu, n, y, dy, dx);
    float *gx = up(x, n * 4), *gdy = up(dy, n * 4), *gy = poisoned(n * 4), *gdx = poisoned(n * 4);
    gpu->sigmoid_forward(gpu, n, gx, gy);
    cmp("sigmoid fwd", gy, y, n, 1e-6);
    gpu->copy(gpu, gy, y, n * 4, APT_COPY_H2D); // the backward from the same y on both sides
    gpu->sigmoid_backward(gpu, n, gy, gdy, gdx);
    cmp("sigmoid bwd", gdx, dx, n, 1e-6);
    free(x), free(dy), free(y), free(dx);
    release_dev();
}

static void cross_chscale(int N, int C, int HW) {
    size_t n = (size_t)N * C * HW, ns = (size_t)N * C;
    float *x = se_rnd(n, 1.0f), *s = se_rnd(ns, 1.0f), *dy = se_rnd(n, 1.0f), *y = malloc(n * 4), *dx = malloc(n * 4),
          *ds = malloc(ns * 4);
    cpu->chscale_forward(cpu, N, C, HW, apt_f32(x), s, apt_f32(y));
    cpu->chscale_backward(cpu, N, C, HW, apt_f32(x), s, apt_f32(dy), apt_f32(dx), ds);
    float *gx = up(x, n * 4), *gs = up(s, ns * 4), *gdy = up(dy, n * 4), *gy = poisoned(n * 4),
          *gdx = poisoned(n * 4), *gds = poisoned(ns * 4), *gds2 = poisoned(ns * 4);
    char label[96];
    gpu->chscale_forward(gpu, N, C, HW, apt_f32(gx), gs, apt_f32(gy));
    snprintf(label, sizeof label, "chscale fwd %dx%dx%d", N, C, HW);
    cmp(label, gy, y, n, 1e-6);
    gpu->chscale_backward(gpu, N, C, HW, apt_f32(gx), gs, apt_f32(gdy), apt_f32(gdx), gds);
    snprintf(label, sizeof label, "chscale dx %dx%dx%d", N, C, HW);
    cmp(label, gdx, dx, n, 1e-6);
    snprintf(label, sizeof label, "chscale ds %dx%dx%d", N, C, HW);
    cmp(label, gds, ds, ns, 1e-6);
    gpu->chscale_backward(gpu, N, C, HW, apt_f32(gx), gs, apt_f32(gdy), apt_f32(NULL), gds2);
    TEST_CHECK(same_bits(gds, gds2, ns * sizeof(float)), "chscale ds repeats bitwise (%dx%dx%d)", N, C, HW);
    free(x), free(s), free(dy), free(y), free(dx), free(ds);
    release_dev();
}

