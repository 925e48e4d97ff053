// op_cases_fp32.h — the fp32 form of the op test (test_backend_ops.c): every op against naive float64
// loops written here (forward) and every backward against float64 central finite differences of those
// loops (h = 1e-6: truncation error O(h^2) ~ 1e-12, rounding ~1e-16/h ~ 1e-10, so the reference gradient
// is exact to ~1e-9), on any backend (buffers through alloc/copy). Sizes are odd on purpose (not
// multiples of 8/16) so vector tails and padding edges are exercised. The cross-backend cases (another
// backend vs the CPU table, the ResNet-size shapes on CUDA) are in op_cases_cross.h.
#pragma once
#include "backend/cpu/cpu_ops.h"
#include "core/rng.h"
#include "op_test.h"

#define FD_H 1e-6

static AptRngStream g_rng;
// Each case draws from its own stream (seeded by the case), so every backend sees the same inputs.
static void fp32_seed(uint32_t tag) { g_rng = apt_rng_stream(1234, APT_RNG_TEST, 0, tag, 0); }

static double *drand_vec(size_t n, double lo, double hi) {
    double *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = lo + (hi - lo) * apt_rng_next_double(&g_rng);
    return v;
}
static float *to_f(const double *d, size_t n) {
    float *f = malloc((n ? n : 1) * sizeof *f);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)d[i];
    return f;
}
// Round a double vector to float precision, so the reference sees exactly the backend's inputs.
static void round_f(double *d, size_t n) {
    for (size_t i = 0; i < n; i++)
        d[i] = (float)d[i];
}
// The op's tolerance (OpTol.ref = rtol): rtol + rtol * max(1, max|ref|) absolute (float32 rounding is
// relative to the magnitudes summed; the absolute term covers values near zero after cancellation). got is
// backend memory.
static int check_fd(OpRun *r, const float *got_dev, const double *want, size_t n, const char *label) {
    float *got = op_down_f(r->be, got_dev, n);
    double *g = malloc((n ? n : 1) * sizeof *g), scale = 1;
    for (size_t i = 0; i < n; i++) {
        g[i] = got[i];
        scale = fmax(scale, fabs(want[i]));
    }
    char l[224];
    snprintf(l, sizeof l, "[%s] %s", r->bname, label);
    int ok = expect_close_d(g, want, n, r->tol->ref, r->tol->ref * scale, l);
    free(g), free(got);
    return ok;
}
#define UPF(h, n) ((float *)op_up(be, (h), (size_t)(n) * sizeof(float)))
#define NEWF(n) ((float *)op_poisoned(be, (size_t)(n) * sizeof(float)))

#include "fd_grad.h"

// ---------------------------------------------------------------- GEMM
static void fp32_gemm(OpRun *r) {
    AptBackend *be = r->be;
    const int M = 7, N = 13, K = 9;
    fp32_seed(1);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            double *A = drand_vec((size_t)M * K, -1, 1), *B = drand_vec((size_t)K * N, -1, 1);
            double *C = drand_vec((size_t)M * N, -1, 1);
            round_f(A, (size_t)M * K), round_f(B, (size_t)K * N), round_f(C, (size_t)M * N);
            float *Af = to_f(A, (size_t)M * K), *Bf = to_f(B, (size_t)K * N), *Cf = to_f(C, (size_t)M * N);
            const double alpha = 0.75, beta = -0.5;
            int lda = ta ? M : K, ldb = tb ? K : N;
            double *want = malloc((size_t)M * N * sizeof *want);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double s = 0;
                    for (int k = 0; k < K; k++)
                        s += (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
                    want[i * N + j] = alpha * s + beta * C[i * N + j];
                }
            float *dC = UPF(Cf, M * N);
            be->gemm(be, ta, tb, M, N, K, (float)alpha, apt_f32(UPF(Af, M * K)), lda, apt_f32(UPF(Bf, K * N)), ldb,
                     (float)beta, dC, N);
            char label[64];
            snprintf(label, sizeof label, "gemm ta=%d tb=%d", ta, tb);
            check_fd(r, dC, want, (size_t)M * N, label);
            free(A), free(B), free(C), free(Af), free(Bf), free(Cf), free(want);
            op_release();
        }
}

// ---------------------------------------------------------------- convolution
typedef struct {
    int N, C, H, W, K, R, S, st, pad, P, Q;
    bool bias;
} ConvRef;

// in = [x | w | b]
static void conv_ref(const void *vc, const double *in, double *y) {
    const ConvRef *c = vc;
    const double *x = in, *w = in + (size_t)c->N * c->C * c->H * c->W, *b = w + (size_t)c->K * c->C * c->R * c->S;
    for (int n = 0; n < c->N; n++)
        for (int k = 0; k < c->K; k++)
            for (int p = 0; p < c->P; p++)
                for (int q = 0; q < c->Q; q++) {
                    double s = c->bias ? b[k] : 0;
                    for (int ch = 0; ch < c->C; ch++)
                        for (int rr = 0; rr < c->R; rr++)
                            for (int t = 0; t < c->S; t++) {
                                int h = p * c->st - c->pad + rr, ww = q * c->st - c->pad + t;
                                if (h < 0 || h >= c->H || ww < 0 || ww >= c->W) continue;
                                s += x[((n * c->C + ch) * c->H + h) * c->W + ww] *
                                     w[((k * c->C + ch) * c->R + rr) * c->S + t];
                            }
                    y[((n * c->K + k) * c->P + p) * c->Q + q] = s;
                }
}

static const char *ROUTE_NAMES[] = {"im2col", "oneDNN", "oneDNN-blocked"};

// impl: the CPU table's private state when be is the CPU itself (routes and workspace caps), else NULL.
static void fp32_conv1(OpRun *r, AptCpuImpl *impl, int N, int C, int H, int W, int K, int k, int st, int pad,
                       bool bias, int n_prep, size_t ws_cap) {
    AptBackend *be = r->be;
    if (impl) impl->ws_cap = ws_cap;
    const char *route = impl ? ROUTE_NAMES[impl->conv_route] : r->bname;
    AptConvDesc d;
    apt_conv_desc_init(&d, n_prep, C, H, W, K, k, k, st, pad);
    be->conv2d_prepare(be, &d);
    ConvRef c = {N, C, H, W, K, k, k, st, pad, d.P, d.Q, bias};
    size_t nx = (size_t)N * C * H * W, nw = (size_t)K * C * k * k, nb = (size_t)K, ny = (size_t)N * K * d.P * d.Q;
    double *in = drand_vec(nx + nw + nb, -1, 1), *rr = drand_vec(ny, -1, 1);
    round_f(in, nx + nw + nb), round_f(rr, ny);
    double *y = malloc(ny * sizeof *y), *grad = malloc((nx + nw + nb) * sizeof *grad);
    conv_ref(&c, in, y);
    fd_grad(conv_ref, &c, in, nx + nw + nb, ny, rr, grad);
    float *xf = to_f(in, nx), *wf = to_f(in + nx, nw), *bf = to_f(in + nx + nw, nb), *dyf = to_f(rr, ny);
    float *half_w = malloc(nw * sizeof(float)), *half_b = malloc(nb * sizeof(float));
    for (size_t i = 0; i < nw; i++)
        half_w[i] = 0.5f; // backward weights accumulates: start from 0.5
    for (size_t i = 0; i < nb; i++)
        half_b[i] = 0.5f;
    float *dx_ = UPF(xf, nx), *dw_ = UPF(wf, nw), *db_ = UPF(bf, nb), *ddy = UPF(dyf, ny);
    float *dy_out = NEWF(ny), *ddx = NEWF(nx), *ddw = UPF(half_w, nw), *ddb = UPF(half_b, nb);
    be->conv2d_forward(be, &d, N, apt_f32(dx_), apt_f32(dw_), bias ? db_ : NULL, apt_f32(dy_out));
    be->conv2d_backward_data(be, &d, N, apt_f32(ddy), apt_f32(dw_), apt_f32(ddx));
    be->conv2d_backward_weights(be, &d, N, apt_f32(dx_), apt_f32(ddy), ddw, bias ? ddb : NULL);
    // the accumulated gradients minus their start, as host references (+0.5 on the reference side)
    for (size_t i = 0; i < nw; i++)
        grad[nx + i] += 0.5;
    for (size_t i = 0; i < nb; i++)
        grad[nx + nw + i] += 0.5;
    char label[160];
    snprintf(label, sizeof label, "conv[%s] N%d C%d %dx%d K%d k%d s%d p%d bias%d prep%d cap%zu", route, N, C, H, W, K,
             k, st, pad, bias, n_prep, ws_cap);
    char l2[200];
    snprintf(l2, sizeof l2, "%s forward", label);
    check_fd(r, dy_out, y, ny, l2);
    snprintf(l2, sizeof l2, "%s backward-data vs FD", label);
    check_fd(r, ddx, grad, nx, l2);
    snprintf(l2, sizeof l2, "%s backward-weights (+= onto 0.5) vs FD", label);
    check_fd(r, ddw, grad + nx, nw, l2);
    if (bias) {
        snprintf(l2, sizeof l2, "%s backward-bias (+= onto 0.5) vs FD", label);
        check_fd(r, ddb, grad + nx + nw, nb, l2);
    }
    be->conv2d_release(be, &d);
    if (impl) impl->ws_cap = 0;
    free(in), free(rr), free(y), free(grad), free(xf), free(wf), free(bf), free(dyf), free(half_w), free(half_b);
    op_release();
}

// conv shapes: 3x3 pad 1, strided with and without padding, 1x1 stride 2 (downsample), 7x7/2 pad 3 (ResNet
// stem), a batch smaller than prepared, and (im2col) a tiny workspace cap forcing several chunks; on the CPU
// table every route the build has.
static void fp32_conv(OpRun *r) {
    fp32_seed(2);
    AptCpuImpl *impl = !strcmp(r->bname, "cpu") ? r->be->impl : NULL;
    int n_routes = 1;
    AptConvRoute default_route = APT_CONV_IM2COL;
    if (impl) {
        default_route = impl->conv_route;
#ifdef APT_HAVE_DNNL
        n_routes = 3;
        TEST_CHECK(default_route == APT_CONV_DNNL_BLOCKED, "oneDNN build: the default conv route is not oneDNN (blocked)");
#endif
    }
    for (int rt = 0; rt < n_routes; rt++) {
        if (impl) impl->conv_route = (AptConvRoute)rt;
        fp32_conv1(r, impl, 2, 3, 7, 9, 5, 3, 1, 1, true, 2, 0);
        fp32_conv1(r, impl, 3, 2, 9, 7, 3, 3, 2, 0, false, 3, 0);
        fp32_conv1(r, impl, 2, 3, 9, 9, 5, 3, 2, 1, true, 5, 0);
        fp32_conv1(r, impl, 3, 5, 7, 5, 3, 1, 2, 0, false, 3, 0);
        fp32_conv1(r, impl, 2, 3, 11, 9, 3, 7, 2, 3, false, 2, 0);
        if (impl) {
            fp32_conv1(r, impl, 3, 3, 7, 9, 5, 3, 1, 1, true, 3, 1); // im2col: cap 1 float, one image per GEMM
            fp32_conv1(r, impl, 5, 2, 5, 7, 3, 3, 1, 1, false, 5, 2 * (2 * 9 + 3) * 35); // two per GEMM, ragged tail
        }
        fp32_conv1(r, impl, 1, 16, 5, 5, 24, 3, 1, 1, false, 2, 0); // channels where oneDNN picks blocked kernels
    }
    if (impl) impl->conv_route = default_route;
}

// ---------------------------------------------------------------- batch norm
typedef struct {
    int N, C, HW;
    double eps;
    bool train;
    const double *mean, *var; // eval: constants
} BnRef;

// in = [x | gamma | beta]
static void bn_ref(const void *vc, const double *in, double *y) {
    const BnRef *c = vc;
    size_t nx = (size_t)c->N * c->C * c->HW;
    const double *x = in, *g = in + nx, *b = g + c->C;
    for (int ch = 0; ch < c->C; ch++) {
        double m, v;
        if (c->train) {
            double s = 0, s2 = 0, M = (double)c->N * c->HW;
            for (int n = 0; n < c->N; n++)
                for (int i = 0; i < c->HW; i++)
                    s += x[(n * c->C + ch) * c->HW + i];
            m = s / M;
            for (int n = 0; n < c->N; n++)
                for (int i = 0; i < c->HW; i++) {
                    double dd = x[(n * c->C + ch) * c->HW + i] - m;
                    s2 += dd * dd;
                }
            v = s2 / M;
        } else {
            m = c->mean[ch];
            v = c->var[ch];
        }
        for (int n = 0; n < c->N; n++)
            for (int i = 0; i < c->HW; i++) {
                size_t o = ((size_t)n * c->C + ch) * c->HW + i;
                y[o] = g[ch] * (x[o] - m) / sqrt(v + c->eps) + b[ch];
            }
    }
}

// eval / frozen: bn_forward + bn_backward_affine; train: bn_stats, bn_finalize (running statistics),
// bn_forward, bn_backward_stats, bn_backward_data, bn_backward_affine (dx absent) — all against the float64
// batch-statistics formula and its finite differences.
static void fp32_bn1(OpRun *r, bool train) {
    AptBackend *be = r->be;
    enum { N = 3, C = 5, HW = 7 };
    const float eps = 1e-5f;
    size_t nx = (size_t)N * C * HW, nin = nx + 2 * C;
    double *in = drand_vec(nin, -1, 1), *rr = drand_vec(nx, -1, 1);
    for (size_t i = 0; i < nx; i++)
        in[i] = 0.7 + 1.3 * in[i]; // nonzero mean
    round_f(in, nin), round_f(rr, nx);
    double *mean = drand_vec(C, -0.5, 0.5), *var = drand_vec(C, 0.2, 2.0);
    round_f(mean, C), round_f(var, C);
    BnRef c = {N, C, HW, eps, train, mean, var};
    double *y = malloc(nx * sizeof *y), *grad = malloc(nin * sizeof *grad);
    bn_ref(&c, in, y);
    fd_grad(bn_ref, &c, in, nin, nx, rr, grad);
    float *xf = to_f(in, nx), *gf = to_f(in + nx, C), *bf = to_f(in + nx + C, C), *dyf = to_f(rr, nx);
    float *meanf = to_f(mean, C), *varf = to_f(var, C), zero[C] = {0};
    float *x = UPF(xf, nx), *g = UPF(gf, C), *b = UPF(bf, C), *dy = UPF(dyf, nx), *yd = NEWF(nx), *dx = NEWF(nx);
    float *dg = UPF(zero, C), *db = UPF(zero, C);
    const char *mode = train ? "bn train" : "bn affine (frozen/eval)";
    char l[160];
    if (!train) {
        float *m = UPF(meanf, C), *v = UPF(varf, C);
        be->bn_forward(be, N, C, HW, apt_f32(x), m, v, eps, g, b, apt_f32(yd));
        be->bn_backward_affine(be, N, C, HW, apt_f32(x), apt_f32(dy), m, v, eps, g, apt_f32(dx), dg, db);
    } else {
        float rm0[C], rv0[C];
        for (int i = 0; i < C; i++)
            rm0[i] = 0.25f, rv0[i] = 1.5f;
        double *sums = op_poisoned(be, 2 * C * sizeof(double)), *bsums = op_poisoned(be, 2 * C * sizeof(double));
        float *bm = NEWF(C), *bv = NEWF(C), *rm = UPF(rm0, C), *rv = UPF(rv0, C);
        be->bn_stats(be, N, C, HW, apt_f32(x), sums);
        be->bn_finalize(be, C, sums, (double)N * HW, 0.1f, bm, bv, rm, rv);
        be->bn_forward(be, N, C, HW, apt_f32(x), bm, bv, eps, g, b, apt_f32(yd));
        // running statistics: torch's update with the unbiased variance
        double want_rm[C], want_rv[C], got_rm[C], got_rv[C];
        float hrm[C], hrv[C];
        op_down(be, hrm, rm, sizeof hrm), op_down(be, hrv, rv, sizeof hrv);
        for (int ch = 0; ch < C; ch++) {
            double s = 0, s2 = 0, M = (double)N * HW;
            for (int n = 0; n < N; n++)
                for (int i = 0; i < HW; i++)
                    s += in[(n * C + ch) * HW + i];
            for (int n = 0; n < N; n++)
                for (int i = 0; i < HW; i++)
                    s2 += pow(in[(n * C + ch) * HW + i] - s / M, 2);
            want_rm[ch] = 0.9 * 0.25 + 0.1 * s / M;
            want_rv[ch] = 0.9 * 1.5 + 0.1 * s2 / (M - 1);
            got_rm[ch] = hrm[ch], got_rv[ch] = hrv[ch];
        }
        snprintf(l, sizeof l, "[%s] bn running_mean update", r->bname);
        expect_close_d(got_rm, want_rm, C, 1e-5, 1e-6, l);
        snprintf(l, sizeof l, "[%s] bn running_var update (unbiased)", r->bname);
        expect_close_d(got_rv, want_rv, C, 1e-5, 1e-6, l);
        be->bn_backward_stats(be, N, C, HW, apt_f32(x), apt_f32(dy), bm, bv, eps, bsums);
        be->bn_backward_data(be, N, C, HW, apt_f32(x), apt_f32(dy), bm, bv, eps, g, bsums, (double)N * HW,
                             apt_f32(dx));
        be->bn_backward_affine(be, N, C, HW, apt_f32(x), apt_f32(dy), bm, bv, eps, g, apt_f32(NULL), dg, db);
    }
    snprintf(l, sizeof l, "%s forward", mode);
    check_fd(r, yd, y, nx, l);
    snprintf(l, sizeof l, "%s dx vs FD", mode);
    check_fd(r, dx, grad, nx, l);
    snprintf(l, sizeof l, "%s dgamma vs FD", mode);
    check_fd(r, dg, grad + nx, C, l);
    snprintf(l, sizeof l, "%s dbeta vs FD", mode);
    check_fd(r, db, grad + nx + C, C, l);
    free(in), free(rr), free(mean), free(var), free(y), free(grad), free(xf), free(gf), free(bf), free(dyf),
        free(meanf), free(varf);
    op_release();
}
static void fp32_bn(OpRun *r) {
    fp32_seed(3);
    fp32_bn1(r, false);
    fp32_bn1(r, true);
}

// ---------------------------------------------------------------- pooling, relu, gap
typedef struct {
    AptPoolDesc d;
    int N;
    bool max;
} PoolRef;

static void pool_ref(const void *vc, const double *x, double *y) {
    const PoolRef *c = vc;
    const AptPoolDesc *d = &c->d;
    for (int pl = 0; pl < c->N * d->C; pl++)
        for (int p = 0; p < d->P; p++)
            for (int q = 0; q < d->Q; q++) {
                double best = -INFINITY, s = 0;
                for (int rr = 0; rr < d->kh; rr++)
                    for (int t = 0; t < d->kw; t++) {
                        int h = p * d->stride_h - d->pad_h + rr, w = q * d->stride_w - d->pad_w + t;
                        if (h < 0 || h >= d->H || w < 0 || w >= d->W) continue;
                        double v = x[(size_t)pl * d->H * d->W + h * d->W + w];
                        if (v > best) best = v;
                        s += v;
                    }
                y[((size_t)pl * d->P + p) * d->Q + q] = c->max ? best : s / (d->kh * d->kw);
            }
}

static void fp32_pool1(OpRun *r, bool max, int k, int st, int pad) {
    AptBackend *be = r->be;
    const int N = 2, C = 3, H = 9, W = 7;
    PoolRef c = {.N = N, .max = max};
    apt_pool_desc_init(&c.d, N + 1, C, H, W, k, st, pad); // prepared for a larger batch than used
    size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * c.d.P * c.d.Q;
    // distinct values 1e-3 apart in random order: no near-ties for max pooling's finite differences
    double *x = malloc(nx * sizeof *x), *rr = drand_vec(ny, -1, 1);
    int *perm = malloc(nx * sizeof *perm);
    for (size_t i = 0; i < nx; i++)
        perm[i] = (int)i;
    apt_rng_shuffle_int(&g_rng, perm, (int)nx);
    for (size_t i = 0; i < nx; i++)
        x[i] = -0.5 + 1e-3 * perm[i];
    free(perm);
    round_f(x, nx), round_f(rr, ny);
    double *y = malloc(ny * sizeof *y), *grad = malloc(nx * sizeof *grad);
    pool_ref(&c, x, y);
    fd_grad(pool_ref, &c, x, nx, ny, rr, grad);
    float *xf = to_f(x, nx), *dyf = to_f(rr, ny);
    float *dx_in = UPF(xf, nx), *ddy = UPF(dyf, ny), *yd = NEWF(ny), *dxd = NEWF(nx);
    int *idx = op_poisoned(be, ny * sizeof(int));
    if (max) {
        be->maxpool_forward(be, &c.d, N, apt_f32(dx_in), apt_f32(yd), idx);
        be->maxpool_backward(be, &c.d, N, apt_f32(ddy), idx, apt_f32(dxd));
    } else {
        be->avgpool_forward(be, &c.d, N, dx_in, yd);
        be->avgpool_backward(be, &c.d, N, ddy, dxd);
    }
    char l[96];
    snprintf(l, sizeof l, "%s k%d s%d p%d forward", max ? "maxpool" : "avgpool", k, st, pad);
    check_fd(r, yd, y, ny, l);
    snprintf(l, sizeof l, "%s k%d s%d p%d backward vs FD", max ? "maxpool" : "avgpool", k, st, pad);
    check_fd(r, dxd, grad, nx, l);
    free(x), free(rr), free(y), free(grad), free(xf), free(dyf);
    op_release();
}
static void fp32_maxpool(OpRun *r) {
    fp32_seed(4);
    fp32_pool1(r, true, 3, 2, 1);
    fp32_pool1(r, true, 2, 2, 0);
}
static void fp32_avgpool(OpRun *r) {
    fp32_seed(5);
    fp32_pool1(r, false, 3, 2, 1);
    fp32_pool1(r, false, 2, 2, 0);
}

typedef struct {
    int N, C, HW, D, in, out;
} Dims;

static void gap_ref(const void *vc, const double *x, double *y) {
    const Dims *c = vc;
    for (int pl = 0; pl < c->N * c->C; pl++) {
        double s = 0;
        for (int i = 0; i < c->HW; i++)
            s += x[(size_t)pl * c->HW + i];
        y[pl] = s / c->HW;
    }
}
static void relu_ref(const void *vc, const double *x, double *y) {
    const Dims *c = vc;
    for (int i = 0; i < c->N; i++)
        y[i] = x[i] > 0 ? x[i] : 0;
}
// in = [x (N x in) | w (out x in) | b (out)]
static void linear_ref(const void *vc, const double *in, double *y) {
    const Dims *c = vc;
    const double *x = in, *w = in + (size_t)c->N * c->in, *b = w + (size_t)c->out * c->in;
    for (int n = 0; n < c->N; n++)
        for (int o = 0; o < c->out; o++) {
            double s = b[o];
            for (int i = 0; i < c->in; i++)
                s += x[n * c->in + i] * w[o * c->in + i];
            y[n * c->out + o] = s;
        }
}
static void l2_ref(const void *vc, const double *x, double *y) {
    const Dims *c = vc;
    for (int n = 0; n < c->N; n++) {
        double s = 0;
        for (int j = 0; j < c->D; j++)
            s += x[n * c->D + j] * x[n * c->D + j];
        double nrm = fmax(sqrt(s), 1e-12);
        for (int j = 0; j < c->D; j++)
            y[n * c->D + j] = x[n * c->D + j] / nrm;
    }
}

static void fp32_gap(OpRun *r) { // global average pool
    AptBackend *be = r->be;
    fp32_seed(6);
    Dims c = {.N = 3, .C = 5, .HW = 11};
    size_t nx = 3 * 5 * 11, ny = 15;
    double *x = drand_vec(nx, -1, 1), *rr = drand_vec(ny, -1, 1), y[15], *grad = malloc(nx * sizeof *grad);
    round_f(x, nx), round_f(rr, ny);
    gap_ref(&c, x, y);
    fd_grad(gap_ref, &c, x, nx, ny, rr, grad);
    float *xf = to_f(x, nx), *dyf = to_f(rr, ny), *yd = NEWF(ny), *dxd = NEWF(nx);
    be->gap_forward(be, 3, 5, 11, apt_f32(UPF(xf, nx)), yd);
    be->gap_backward(be, 3, 5, 11, UPF(dyf, ny), apt_f32(dxd));
    check_fd(r, yd, y, ny, "global avg pool forward");
    check_fd(r, dxd, grad, nx, "global avg pool backward vs FD");
    free(x), free(rr), free(grad), free(xf), free(dyf);
    op_release();
}
static void fp32_relu(OpRun *r) { // keep |x| > 1e-3 so no finite difference straddles the kink
    AptBackend *be = r->be;
    fp32_seed(7);
    Dims c = {.N = 37};
    double *x = drand_vec(37, -1, 1), *rr = drand_vec(37, -1, 1), y[37], grad[37];
    for (int i = 0; i < 37; i++)
        if (fabs(x[i]) < 1e-3) x[i] = 0.5;
    round_f(x, 37), round_f(rr, 37);
    relu_ref(&c, x, y);
    fd_grad(relu_ref, &c, x, 37, 37, rr, grad);
    float *xf = to_f(x, 37), *dyf = to_f(rr, 37), *yd = NEWF(37), *dxd = NEWF(37);
    be->relu_forward(be, 37, apt_f32(UPF(xf, 37)), apt_f32(yd));
    be->relu_backward(be, 37, apt_f32(yd), apt_f32(UPF(dyf, 37)), apt_f32(dxd));
    check_fd(r, yd, y, 37, "relu forward");
    check_fd(r, dxd, grad, 37, "relu backward vs FD");
    free(x), free(rr), free(xf), free(dyf);
    op_release();
}
static void fp32_linear(OpRun *r) {
    AptBackend *be = r->be;
    fp32_seed(8);
    Dims c = {.N = 5, .in = 13, .out = 7};
    size_t nin = 5 * 13 + 7 * 13 + 7, ny = 35;
    double *in = drand_vec(nin, -1, 1), *rr = drand_vec(ny, -1, 1), y[35], *grad = malloc(nin * sizeof *grad);
    round_f(in, nin), round_f(rr, ny);
    linear_ref(&c, in, y);
    fd_grad(linear_ref, &c, in, nin, ny, rr, grad);
    float *xf = to_f(in, 65), *wf = to_f(in + 65, 91), *bf = to_f(in + 156, 7), *dyf = to_f(rr, ny), zero[91] = {0};
    float *x = UPF(xf, 65), *w = UPF(wf, 91), *yd = NEWF(35), *dxd = NEWF(65), *dwd = UPF(zero, 91),
          *dbd = UPF(zero, 7);
    be->linear_forward(be, 5, 13, 7, x, w, UPF(bf, 7), yd);
    be->linear_backward(be, 5, 13, 7, x, w, UPF(dyf, ny), dxd, dwd, dbd);
    check_fd(r, yd, y, ny, "linear forward");
    check_fd(r, dxd, grad, 65, "linear dx vs FD");
    check_fd(r, dwd, grad + 65, 91, "linear dw vs FD");
    check_fd(r, dbd, grad + 156, 7, "linear db vs FD");
    free(in), free(rr), free(grad), free(xf), free(wf), free(bf), free(dyf);
    op_release();
}
static void fp32_l2norm(OpRun *r) {
    AptBackend *be = r->be;
    fp32_seed(9);
    Dims c = {.N = 4, .D = 19};
    double *x = drand_vec(76, -1, 1), *rr = drand_vec(76, -1, 1), y[76], grad[76];
    round_f(x, 76), round_f(rr, 76);
    l2_ref(&c, x, y);
    fd_grad(l2_ref, &c, x, 76, 76, rr, grad);
    float *xf = to_f(x, 76), *dyf = to_f(rr, 76), *xd = UPF(xf, 76), *yd = NEWF(76), *dxd = NEWF(76);
    be->l2norm_forward(be, 4, 19, xd, yd);
    be->l2norm_backward(be, 4, 19, xd, yd, UPF(dyf, 76), dxd);
    check_fd(r, yd, y, 76, "l2norm forward");
    check_fd(r, dxd, grad, 76, "l2norm backward vs FD");
    free(x), free(rr), free(xf), free(dyf);
    op_release();
}

// ---------------------------------------------------------------- squeeze-excitation (cpu_se.c)
static void sigmoid_ref(const void *vc, const double *x, double *y) {
    const Dims *c = vc;
    for (int i = 0; i < c->N; i++)
        y[i] = 1.0 / (1.0 + exp(-x[i]));
}
// in = [x (N x C x HW) | s (N x C)]
static void chscale_ref(const void *vc, const double *in, double *y) {
    const Dims *c = vc;
    const double *x = in, *s = in + (size_t)c->N * c->C * c->HW;
    for (int pl = 0; pl < c->N * c->C; pl++)
        for (int i = 0; i < c->HW; i++)
            y[(size_t)pl * c->HW + i] = x[(size_t)pl * c->HW + i] * s[pl];
}

static void fp32_sigmoid(OpRun *r) { // arguments in [-6, 6] (both tails)
    AptBackend *be = r->be;
    fp32_seed(10);
    Dims c = {.N = 37};
    double *x = drand_vec(37, -6, 6), *rr = drand_vec(37, -1, 1), y[37], grad[37];
    round_f(x, 37), round_f(rr, 37);
    sigmoid_ref(&c, x, y);
    fd_grad(sigmoid_ref, &c, x, 37, 37, rr, grad);
    float *xf = to_f(x, 37), *dyf = to_f(rr, 37), *xd = UPF(xf, 37), *yd = NEWF(37), *dxd = NEWF(37);
    be->sigmoid_forward(be, 37, xd, yd);
    be->sigmoid_backward(be, 37, yd, UPF(dyf, 37), dxd);
    check_fd(r, yd, y, 37, "sigmoid forward");
    check_fd(r, dxd, grad, 37, "sigmoid backward vs FD");
    be->sigmoid_forward(be, 37, xd, xd); // in place
    TEST_CHECK(op_same_bits(be, xd, yd, 37 * sizeof(float)), "[%s] sigmoid forward in place", r->bname);
    free(x), free(rr), free(xf), free(dyf);
    op_release();
}
static void fp32_chscale(OpRun *r) { // dx and ds vs FD, then dx absent / ds == NULL
    AptBackend *be = r->be;
    fp32_seed(11);
    Dims c = {.N = 3, .C = 5, .HW = 11};
    size_t nx = 3 * 5 * 11, ns = 15, nin = nx + ns;
    double *in = drand_vec(nin, -1, 1), *rr = drand_vec(nx, -1, 1), *y = malloc(nx * sizeof *y),
           *grad = malloc(nin * sizeof *grad);
    round_f(in, nin), round_f(rr, nx);
    chscale_ref(&c, in, y);
    fd_grad(chscale_ref, &c, in, nin, nx, rr, grad);
    float *xf = to_f(in, nx), *sf = to_f(in + nx, ns), *dyf = to_f(rr, nx);
    float *x = UPF(xf, nx), *s = UPF(sf, ns), *dy = UPF(dyf, nx), *yd = NEWF(nx), *dxd = NEWF(nx), *dsd = NEWF(ns),
          *ds2 = NEWF(ns), *dx2 = NEWF(nx);
    be->chscale_forward(be, 3, 5, 11, apt_f32(x), s, apt_f32(yd));
    be->chscale_backward(be, 3, 5, 11, apt_f32(x), s, apt_f32(dy), apt_f32(dxd), dsd);
    check_fd(r, yd, y, nx, "chscale forward");
    check_fd(r, dxd, grad, nx, "chscale dx vs FD");
    check_fd(r, dsd, grad + nx, ns, "chscale ds vs FD");
    be->chscale_backward(be, 3, 5, 11, apt_f32(x), s, apt_f32(dy), apt_f32(NULL), ds2);
    TEST_CHECK(op_same_bits(be, ds2, dsd, ns * sizeof(float)), "[%s] chscale ds alone equals ds with dx", r->bname);
    be->chscale_backward(be, 3, 5, 11, apt_f32(x), s, apt_f32(dy), apt_f32(dx2), NULL);
    TEST_CHECK(op_same_bits(be, dx2, dxd, nx * sizeof(float)), "[%s] chscale dx alone equals dx with ds", r->bname);
    free(in), free(rr), free(y), free(grad), free(xf), free(sf), free(dyf);
    op_release();
}

// add, axpy, scale, fill: a chain of elementwise ops on one buffer against the same float64 chain.
static void fp32_eltwise(OpRun *r, const char *which) {
    AptBackend *be = r->be;
    fp32_seed(12);
    const size_t n = 77;
    double *a = drand_vec(n, -1, 1), *b = drand_vec(n, -1, 1), want[77];
    round_f(a, n), round_f(b, n);
    float *af = to_f(a, n), *bf = to_f(b, n), *ad = UPF(af, n), *y = NEWF(n);
    be->add(be, n, apt_f32(ad), apt_f32(UPF(bf, n)), apt_f32(y));
    for (size_t i = 0; i < n; i++)
        want[i] = a[i] + b[i];
    if (!strcmp(which, "add")) check_fd(r, y, want, n, "add");
    be->axpy(be, n, -0.5f, ad, y);
    for (size_t i = 0; i < n; i++)
        want[i] += -0.5 * a[i];
    if (!strcmp(which, "axpy")) check_fd(r, y, want, n, "axpy (onto add)");
    be->scale(be, n, 3.0f, y);
    for (size_t i = 0; i < n; i++)
        want[i] *= 3.0;
    if (!strcmp(which, "scale")) check_fd(r, y, want, n, "scale (onto add, axpy)");
    be->fill(be, n, 0.25f, y);
    for (size_t i = 0; i < n; i++)
        want[i] = 0.25;
    if (!strcmp(which, "fill")) check_fd(r, y, want, n, "fill");
    free(a), free(b), free(af), free(bf);
    op_release();
}
