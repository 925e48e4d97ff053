// test_backend_ops.c — every op of the CPU table against naive float64 loops written here (forward), and
// every backward against float64 central finite differences of those loops (h = 1e-6: truncation error
// O(h²) ~ 1e-12, rounding ~1e-16/h ~ 1e-10, so the reference gradient is exact to ~1e-9).
// Sizes are odd on purpose (not multiples of 8/16) so vector tails and padding edges are exercised.
//
// Tolerances: the backend computes in float32 with sums of at most a few hundred terms of O(1) values,
// so forward/backward errors are ~1e-6 (measured max 2.6e-6 on O(1) outputs, 6e-6 on the C16 conv whose
// outputs reach ~10); we allow rtol 1e-5 + atol 1e-5·max(1, max|ref|) (atol for values near zero after
// cancellation) — a wrong index or a missing term gives errors of O(0.1–1)·max|ref|.
#include "backend/backend.h"
#include "backend/cpu/cpu_ops.h"
#include "core/rng.h"
#include "harness.h"
#include "step_ops_cases.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RTOL 1e-5
#define ATOL 1e-5
#define FD_H 1e-6

static AptRngStream g_rng;

static double *drand_vec(size_t n, double lo, double hi) {
    double *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = lo + (hi - lo) * apt_rng_next_double(&g_rng);
    return v;
}
static float *to_f(const double *d, size_t n) {
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)d[i];
    return f;
}
// Round a double vector to float precision, so the reference sees exactly the backend's inputs.
static void round_f(double *d, size_t n) {
    for (size_t i = 0; i < n; i++)
        d[i] = (float)d[i];
}
// atol scales with the largest reference value (≥ 1): float32 rounding is relative to the magnitudes summed.
static int check_fd(const float *got, const double *want, size_t n, const char *label) {
    double *g = malloc(n * sizeof *g), scale = 1;
    for (size_t i = 0; i < n; i++) {
        g[i] = got[i];
        scale = fmax(scale, fabs(want[i]));
    }
    int ok = expect_close_d(g, want, n, RTOL, ATOL * scale, label);
    free(g);
    return ok;
}

// Finite differences of L(in) = Σ r · f(in) over all of `in` (packed inputs of one op).
typedef void (*RefFn)(const void *ctx, const double *in, double *out);
static void fd_grad(RefFn f, const void *ctx, double *in, size_t nin, size_t nout, const double *r,
                    double *grad) {
    double *out = malloc(nout * sizeof *out);
    for (size_t i = 0; i < nin; i++) {
        double keep = in[i], lp = 0, lm = 0;
        in[i] = keep + FD_H;
        f(ctx, in, out);
        for (size_t j = 0; j < nout; j++)
            lp += r[j] * out[j];
        in[i] = keep - FD_H;
        f(ctx, in, out);
        for (size_t j = 0; j < nout; j++)
            lm += r[j] * out[j];
        in[i] = keep;
        grad[i] = (lp - lm) / (2 * FD_H);
    }
    free(out);
}

// ---------------------------------------------------------------- GEMM
static void test_gemm(AptBackend *be) {
    const int M = 7, N = 13, K = 9;
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
            be->gemm(be, ta, tb, M, N, K, (float)alpha, apt_f32(Af), lda, apt_f32(Bf), ldb, (float)beta, Cf,
                     N);
            char label[64];
            snprintf(label, sizeof label, "gemm ta=%d tb=%d", ta, tb);
            check_fd(Cf, want, (size_t)M * N, label);
            free(A), free(B), free(C), free(Af), free(Bf), free(Cf), free(want);
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
    const double *x = in, *w = in + (size_t)c->N * c->C * c->H * c->W,
                 *b = w + (size_t)c->K * c->C * c->R * c->S;
    for (int n = 0; n < c->N; n++)
        for (int k = 0; k < c->K; k++)
            for (int p = 0; p < c->P; p++)
                for (int q = 0; q < c->Q; q++) {
                    double s = c->bias ? b[k] : 0;
                    for (int ch = 0; ch < c->C; ch++)
                        for (int r = 0; r < c->R; r++)
                            for (int t = 0; t < c->S; t++) {
                                int h = p * c->st - c->pad + r, ww = q * c->st - c->pad + t;
                                if (h < 0 || h >= c->H || ww < 0 || ww >= c->W) continue;
                                s += x[((n * c->C + ch) * c->H + h) * c->W + ww] *
                                     w[((k * c->C + ch) * c->R + r) * c->S + t];
                            }
                    y[((n * c->K + k) * c->P + p) * c->Q + q] = s;
                }
}

static const char *ROUTE_NAMES[] = {"im2col", "oneDNN", "oneDNN-blocked"};

static void test_conv(AptBackend *be, int N, int C, int H, int W, int K, int k, int st, int pad, bool bias,
                      int n_prep, size_t ws_cap) {
    AptCpuImpl *impl = be->impl;
    impl->ws_cap = ws_cap;
    const char *route = ROUTE_NAMES[impl->conv_route];
    AptConvDesc d;
    apt_conv_desc_init(&d, n_prep, C, H, W, K, k, k, st, pad);
    be->conv2d_prepare(be, &d);
    ConvRef c = {N, C, H, W, K, k, k, st, pad, d.P, d.Q, bias};
    size_t nx = (size_t)N * C * H * W, nw = (size_t)K * C * k * k, nb = (size_t)K,
           ny = (size_t)N * K * d.P * d.Q;
    double *in = drand_vec(nx + nw + nb, -1, 1), *r = drand_vec(ny, -1, 1);
    round_f(in, nx + nw + nb), round_f(r, ny);
    double *y = malloc(ny * sizeof *y), *grad = malloc((nx + nw + nb) * sizeof *grad);
    conv_ref(&c, in, y);
    fd_grad(conv_ref, &c, in, nx + nw + nb, ny, r, grad);
    float *xf = to_f(in, nx), *wf = to_f(in + nx, nw), *bf = to_f(in + nx + nw, nb), *dyf = to_f(r, ny);
    float *yf = malloc(ny * sizeof *yf), *dxf = malloc(nx * sizeof *dxf);
    float *dwf = calloc(nw, sizeof *dwf), *dbf = calloc(nb, sizeof *dbf);
    for (size_t i = 0; i < nw; i++)
        dwf[i] = 0.5f; // backward weights accumulates: start from 0.5
    for (size_t i = 0; i < nb; i++)
        dbf[i] = 0.5f;
    be->conv2d_forward(be, &d, N, apt_f32(xf), apt_f32(wf), bias ? bf : NULL, apt_f32(yf));
    be->conv2d_backward_data(be, &d, N, apt_f32(dyf), apt_f32(wf), apt_f32(dxf));
    be->conv2d_backward_weights(be, &d, N, apt_f32(xf), apt_f32(dyf), dwf, bias ? dbf : NULL);
    for (size_t i = 0; i < nw; i++)
        dwf[i] -= 0.5f;
    for (size_t i = 0; i < nb; i++)
        dbf[i] -= 0.5f;
    char label[160];
    snprintf(label, sizeof label, "conv[%s] N%d C%d %dx%d K%d k%d s%d p%d bias%d prep%d cap%zu", route, N, C,
             H, W, K, k, st, pad, bias, n_prep, ws_cap);
    char l2[200];
    snprintf(l2, sizeof l2, "%s forward", label);
    check_fd(yf, y, ny, l2);
    snprintf(l2, sizeof l2, "%s backward-data vs FD", label);
    check_fd(dxf, grad, nx, l2);
    snprintf(l2, sizeof l2, "%s backward-weights vs FD", label);
    check_fd(dwf, grad + nx, nw, l2);
    if (bias) {
        snprintf(l2, sizeof l2, "%s backward-bias vs FD", label);
        check_fd(dbf, grad + nx + nw, nb, l2);
    }
    be->conv2d_release(be, &d);
    impl->ws_cap = 0;
    free(in), free(r), free(y), free(grad), free(xf), free(wf), free(bf), free(dyf), free(yf), free(dxf),
        free(dwf), free(dbf);
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

static void test_bn(AptBackend *be, bool train) {
    const int N = 3, C = 5, HW = 7;
    const float eps = 1e-5f;
    size_t nx = (size_t)N * C * HW, nin = nx + 2 * C;
    double *in = drand_vec(nin, -1, 1), *r = drand_vec(nx, -1, 1);
    for (size_t i = 0; i < nx; i++)
        in[i] = 0.7 + 1.3 * in[i]; // nonzero mean
    round_f(in, nin), round_f(r, nx);
    double *mean = drand_vec(C, -0.5, 0.5), *var = drand_vec(C, 0.2, 2.0);
    round_f(mean, C), round_f(var, C);
    BnRef c = {N, C, HW, eps, train, mean, var};
    double *y = malloc(nx * sizeof *y), *grad = malloc(nin * sizeof *grad);
    bn_ref(&c, in, y);
    fd_grad(bn_ref, &c, in, nin, nx, r, grad);
    float *xf = to_f(in, nx), *gf = to_f(in + nx, C), *bf = to_f(in + nx + C, C), *dyf = to_f(r, nx);
    float *meanf = to_f(mean, C), *varf = to_f(var, C);
    float *yf = malloc(nx * sizeof *yf), *dxf = malloc(nx * sizeof *dxf);
    float *dg = calloc(C, sizeof *dg), *db = calloc(C, sizeof *db);
    const char *mode = train ? "bn train" : "bn affine (frozen/eval)";
    char l[128];
    if (!train) {
        be->bn_forward(be, N, C, HW, apt_f32(xf), meanf, varf, eps, gf, bf, apt_f32(yf));
        be->bn_backward_affine(be, N, C, HW, apt_f32(xf), apt_f32(dyf), meanf, varf, eps, gf, apt_f32(dxf),
                               dg, db);
    } else {
        double sums[2 * C], bsums[2 * C];
        float bm[C], bv[C], rm[C], rv[C];
        for (int i = 0; i < C; i++)
            rm[i] = 0.25f, rv[i] = 1.5f;
        be->bn_stats(be, N, C, HW, apt_f32(xf), sums);
        be->bn_finalize(be, C, sums, (double)N * HW, 0.1f, bm, bv, rm, rv);
        be->bn_forward(be, N, C, HW, apt_f32(xf), bm, bv, eps, gf, bf, apt_f32(yf));
        // running statistics: torch's update with the unbiased variance
        double want_rm[C], want_rv[C], got_rm[C], got_rv[C];
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
            got_rm[ch] = rm[ch], got_rv[ch] = rv[ch];
        }
        expect_close_d(got_rm, want_rm, C, 1e-5, 1e-6, "bn running_mean update");
        expect_close_d(got_rv, want_rv, C, 1e-5, 1e-6, "bn running_var update (unbiased)");
        be->bn_backward_stats(be, N, C, HW, apt_f32(xf), apt_f32(dyf), bm, bv, eps, bsums);
        be->bn_backward_data(be, N, C, HW, apt_f32(xf), apt_f32(dyf), bm, bv, eps, gf, bsums, (double)N * HW,
                             apt_f32(dxf));
        be->bn_backward_affine(be, N, C, HW, apt_f32(xf), apt_f32(dyf), bm, bv, eps, gf, apt_f32(NULL), dg,
                               db);
    }
    snprintf(l, sizeof l, "%s forward", mode);
    check_fd(yf, y, nx, l);
    snprintf(l, sizeof l, "%s dx vs FD", mode);
    check_fd(dxf, grad, nx, l);
    snprintf(l, sizeof l, "%s dgamma vs FD", mode);
    check_fd(dg, grad + nx, C, l);
    snprintf(l, sizeof l, "%s dbeta vs FD", mode);
    check_fd(db, grad + nx + C, C, l);
    free(in), free(r), free(mean), free(var), free(y), free(grad), free(xf), free(gf), free(bf), free(dyf),
        free(meanf), free(varf), free(yf), free(dxf), free(dg), free(db);
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
                for (int r = 0; r < d->kh; r++)
                    for (int t = 0; t < d->kw; t++) {
                        int h = p * d->stride_h - d->pad_h + r, w = q * d->stride_w - d->pad_w + t;
                        if (h < 0 || h >= d->H || w < 0 || w >= d->W) continue;
                        double v = x[(size_t)pl * d->H * d->W + h * d->W + w];
                        if (v > best) best = v;
                        s += v;
                    }
                y[((size_t)pl * d->P + p) * d->Q + q] = c->max ? best : s / (d->kh * d->kw);
            }
}

static void test_pool(AptBackend *be, bool max, int k, int st, int pad) {
    const int N = 2, C = 3, H = 9, W = 7;
    PoolRef c = {.N = N, .max = max};
    apt_pool_desc_init(&c.d, N + 1, C, H, W, k, st, pad); // prepared for a larger batch than used
    size_t nx = (size_t)N * C * H * W, ny = (size_t)N * C * c.d.P * c.d.Q;
    // distinct values 1e-3 apart in random order: no near-ties for max pooling's finite differences
    double *x = malloc(nx * sizeof *x), *r = drand_vec(ny, -1, 1);
    int *perm = malloc(nx * sizeof *perm);
    for (size_t i = 0; i < nx; i++)
        perm[i] = (int)i;
    apt_rng_shuffle_int(&g_rng, perm, (int)nx);
    for (size_t i = 0; i < nx; i++)
        x[i] = -0.5 + 1e-3 * perm[i];
    free(perm);
    round_f(x, nx), round_f(r, ny);
    double *y = malloc(ny * sizeof *y), *grad = malloc(nx * sizeof *grad);
    pool_ref(&c, x, y);
    fd_grad(pool_ref, &c, x, nx, ny, r, grad);
    float *xf = to_f(x, nx), *dyf = to_f(r, ny), *yf = malloc(ny * sizeof *yf),
          *dxf = malloc(nx * sizeof *dxf);
    int *idx = malloc(ny * sizeof *idx);
    if (max) {
        be->maxpool_forward(be, &c.d, N, apt_f32(xf), apt_f32(yf), idx);
        be->maxpool_backward(be, &c.d, N, apt_f32(dyf), idx, apt_f32(dxf));
    } else {
        be->avgpool_forward(be, &c.d, N, xf, yf);
        be->avgpool_backward(be, &c.d, N, dyf, dxf);
    }
    char l[96];
    snprintf(l, sizeof l, "%s k%d s%d p%d forward", max ? "maxpool" : "avgpool", k, st, pad);
    check_fd(yf, y, ny, l);
    snprintf(l, sizeof l, "%s k%d s%d p%d backward vs FD", max ? "maxpool" : "avgpool", k, st, pad);
    check_fd(dxf, grad, nx, l);
    free(x), free(r), free(y), free(grad), free(xf), free(dyf), free(yf), free(dxf), free(idx);
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
// in = [x (N×in) | w (out×in) | b (out)]
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

static void test_gap_relu_linear_l2(AptBackend *be) {
    { // global average pool
        Dims c = {.N = 3, .C = 5, .HW = 11};
        size_t nx = 3 * 5 * 11, ny = 15;
        double *x = drand_vec(nx, -1, 1), *r = drand_vec(ny, -1, 1), y[15], *grad = malloc(nx * sizeof *grad);
        round_f(x, nx), round_f(r, ny);
        gap_ref(&c, x, y);
        fd_grad(gap_ref, &c, x, nx, ny, r, grad);
        float *xf = to_f(x, nx), *dyf = to_f(r, ny), yf[15], *dxf = malloc(nx * sizeof *dxf);
        be->gap_forward(be, 3, 5, 11, apt_f32(xf), yf);
        be->gap_backward(be, 3, 5, 11, dyf, apt_f32(dxf));
        check_fd(yf, y, ny, "global avg pool forward");
        check_fd(dxf, grad, nx, "global avg pool backward vs FD");
        free(x), free(r), free(grad), free(xf), free(dyf), free(dxf);
    }
    { // relu: keep |x| > 1e-3 so no finite difference straddles the kink
        Dims c = {.N = 37};
        double *x = drand_vec(37, -1, 1), *r = drand_vec(37, -1, 1), y[37], grad[37];
        for (int i = 0; i < 37; i++)
            if (fabs(x[i]) < 1e-3) x[i] = 0.5;
        round_f(x, 37), round_f(r, 37);
        relu_ref(&c, x, y);
        fd_grad(relu_ref, &c, x, 37, 37, r, grad);
        float *xf = to_f(x, 37), *dyf = to_f(r, 37), yf[37], dxf[37];
        be->relu_forward(be, 37, apt_f32(xf), apt_f32(yf));
        be->relu_backward(be, 37, apt_f32(yf), apt_f32(dyf), apt_f32(dxf));
        check_fd(yf, y, 37, "relu forward");
        check_fd(dxf, grad, 37, "relu backward vs FD");
        free(x), free(r), free(xf), free(dyf);
    }
    { // linear
        Dims c = {.N = 5, .in = 13, .out = 7};
        size_t nin = 5 * 13 + 7 * 13 + 7, ny = 35;
        double *in = drand_vec(nin, -1, 1), *r = drand_vec(ny, -1, 1), y[35],
               *grad = malloc(nin * sizeof *grad);
        round_f(in, nin), round_f(r, ny);
        linear_ref(&c, in, y);
        fd_grad(linear_ref, &c, in, nin, ny, r, grad);
        float *xf = to_f(in, 65), *wf = to_f(in + 65, 91), *bf = to_f(in + 156, 7), *dyf = to_f(r, ny);
        float yf[35], dxf[65], dwf[91] = {0}, dbf[7] = {0};
        be->linear_forward(be, 5, 13, 7, xf, wf, bf, yf);
        be->linear_backward(be, 5, 13, 7, xf, wf, dyf, dxf, dwf, dbf);
        check_fd(yf, y, ny, "linear forward");
        check_fd(dxf, grad, 65, "linear dx vs FD");
        check_fd(dwf, grad + 65, 91, "linear dw vs FD");
        check_fd(dbf, grad + 156, 7, "linear db vs FD");
        free(in), free(r), free(grad), free(xf), free(wf), free(bf), free(dyf);
    }
    { // L2 normalise
        Dims c = {.N = 4, .D = 19};
        double *x = drand_vec(76, -1, 1), *r = drand_vec(76, -1, 1), y[76], grad[76];
        round_f(x, 76), round_f(r, 76);
        l2_ref(&c, x, y);
        fd_grad(l2_ref, &c, x, 76, 76, r, grad);
        float *xf = to_f(x, 76), *dyf = to_f(r, 76), yf[76], dxf[76];
        be->l2norm_forward(be, 4, 19, xf, yf);
        be->l2norm_backward(be, 4, 19, xf, yf, dyf, dxf);
        check_fd(yf, y, 76, "l2norm forward");
        check_fd(dxf, grad, 76, "l2norm backward vs FD");
        free(x), free(r), free(xf), free(dyf);
    }
}

// ---------------------------------------------------------------- squeeze-excitation (cpu_se.c)
static void sigmoid_ref(const void *vc, const double *x, double *y) {
    const Dims *c = vc;
    for (int i = 0; i < c->N; i++)
        y[i] = 1.0 / (1.0 + exp(-x[i]));
}
// in = [x (N×C×HW) | s (N×C)]
static void chscale_ref(const void *vc, const double *in, double *y) {
    const Dims *c = vc;
    const double *x = in, *s = in + (size_t)c->N * c->C * c->HW;
    for (int pl = 0; pl < c->N * c->C; pl++)
        for (int i = 0; i < c->HW; i++)
            y[(size_t)pl * c->HW + i] = x[(size_t)pl * c->HW + i] * s[pl];
}

static void test_se(AptBackend *be) {
    { // sigmoid, arguments in [-6, 6] (both tails)
        Dims c = {.N = 37};
        double *x = drand_vec(37, -6, 6), *r = drand_vec(37, -1, 1), y[37], grad[37];
        round_f(x, 37), round_f(r, 37);
        sigmoid_ref(&c, x, y);
        fd_grad(sigmoid_ref, &c, x, 37, 37, r, grad);
        float *xf = to_f(x, 37), *dyf = to_f(r, 37), yf[37], dxf[37];
        be->sigmoid_forward(be, 37, xf, yf);
        be->sigmoid_backward(be, 37, yf, dyf, dxf);
        check_fd(yf, y, 37, "sigmoid forward");
        check_fd(dxf, grad, 37, "sigmoid backward vs FD");
        be->sigmoid_forward(be, 37, xf, xf); // in place
        TEST_CHECK(!memcmp(xf, yf, sizeof yf), "sigmoid forward in place");
        free(x), free(r), free(xf), free(dyf);
    }
    { // channel scale: dx and ds vs FD, then dx == NULL / ds == NULL
        Dims c = {.N = 3, .C = 5, .HW = 11};
        size_t nx = 3 * 5 * 11, ns = 15, nin = nx + ns;
        double *in = drand_vec(nin, -1, 1), *r = drand_vec(nx, -1, 1), *y = malloc(nx * sizeof *y),
               *grad = malloc(nin * sizeof *grad);
        round_f(in, nin), round_f(r, nx);
        chscale_ref(&c, in, y);
        fd_grad(chscale_ref, &c, in, nin, nx, r, grad);
        float *xf = to_f(in, nx), *sf = to_f(in + nx, ns), *dyf = to_f(r, nx), *yf = malloc(nx * sizeof *yf),
              *dxf = malloc(nx * sizeof *dxf), dsf[15], ds2[15];
        be->chscale_forward(be, 3, 5, 11, apt_f32(xf), sf, apt_f32(yf));
        be->chscale_backward(be, 3, 5, 11, apt_f32(xf), sf, apt_f32(dyf), apt_f32(dxf), dsf);
        check_fd(yf, y, nx, "chscale forward");
        check_fd(dxf, grad, nx, "chscale dx vs FD");
        check_fd(dsf, grad + nx, ns, "chscale ds vs FD");
        be->chscale_backward(be, 3, 5, 11, apt_f32(xf), sf, apt_f32(dyf), apt_f32(NULL), ds2);
        TEST_CHECK(!memcmp(ds2, dsf, sizeof dsf), "chscale ds alone equals ds with dx");
        float *dx2 = malloc(nx * sizeof *dx2);
        be->chscale_backward(be, 3, 5, 11, apt_f32(xf), sf, apt_f32(dyf), apt_f32(dx2), NULL);
        TEST_CHECK(!memcmp(dx2, dxf, nx * sizeof *dx2), "chscale dx alone equals dx with ds");
        free(in), free(r), free(y), free(grad), free(xf), free(sf), free(dyf), free(yf), free(dxf), free(dx2);
    }
}

static void test_eltwise(AptBackend *be) {
    const size_t n = 77;
    double *a = drand_vec(n, -1, 1), *b = drand_vec(n, -1, 1), want[77];
    round_f(a, n), round_f(b, n);
    float *af = to_f(a, n), *bf = to_f(b, n), y[77];
    be->add(be, n, apt_f32(af), apt_f32(bf), apt_f32(y));
    for (size_t i = 0; i < n; i++)
        want[i] = a[i] + b[i];
    check_fd(y, want, n, "add");
    be->axpy(be, n, -0.5f, af, y);
    for (size_t i = 0; i < n; i++)
        want[i] += -0.5 * a[i];
    check_fd(y, want, n, "axpy");
    be->scale(be, n, 3.0f, y);
    for (size_t i = 0; i < n; i++)
        want[i] *= 3.0;
    check_fd(y, want, n, "scale");
    be->fill(be, n, 0.25f, y);
    for (size_t i = 0; i < n; i++)
        want[i] = 0.25;
    check_fd(y, want, n, "fill");
    float c[77];
    be->copy(be, c, af, n * sizeof(float), APT_COPY_H2H);
    TEST_CHECK(!memcmp(c, af, sizeof c), "copy");
    void *p = be->alloc(be, 1000);
    TEST_CHECK(p && ((uintptr_t)p % 64) == 0, "alloc is 64-byte aligned");
    be->free(be, p);
    be->sync(be);
    free(a), free(b), free(af), free(bf);
}

int main(void) {
    g_rng = apt_rng_stream(1234, APT_RNG_TEST, 0, 0, 0);
    AptBackend *be = apt_backend_create("cpu");
    TEST_CHECK(!strcmp(be->name, "cpu"), "backend name");
    test_gemm(be);
    // conv shapes: 3×3 pad 1, strided with and without padding, 1×1 stride 2 (downsample), 7×7/2 pad 3
    // (ResNet stem), a batch smaller than prepared, and (im2col) a tiny workspace cap forcing several
    // chunks; every route the build has.
    AptCpuImpl *impl = be->impl;
    AptConvRoute default_route = impl->conv_route;
#ifdef APT_HAVE_DNNL
    const int n_routes = 3;
    TEST_CHECK(default_route == APT_CONV_DNNL_BLOCKED,
               "oneDNN build: the default conv route is not oneDNN (blocked)");
#else
    const int n_routes = 1;
#endif
    for (int r = 0; r < n_routes; r++) {
        impl->conv_route = (AptConvRoute)r;
        test_conv(be, 2, 3, 7, 9, 5, 3, 1, 1, true, 2, 0);
        test_conv(be, 3, 2, 9, 7, 3, 3, 2, 0, false, 3, 0);
        test_conv(be, 2, 3, 9, 9, 5, 3, 2, 1, true, 5, 0);
        test_conv(be, 3, 5, 7, 5, 3, 1, 2, 0, false, 3, 0);
        test_conv(be, 2, 3, 11, 9, 3, 7, 2, 3, false, 2, 0);
        test_conv(be, 3, 3, 7, 9, 5, 3, 1, 1, true, 3, 1); // im2col: cap 1 float, one image per GEMM
        test_conv(be, 5, 2, 5, 7, 3, 3, 1, 1, false, 5, 2 * (2 * 9 + 3) * 35); // two per GEMM, ragged tail
        test_conv(be, 1, 16, 5, 5, 24, 3, 1, 1, false, 2, 0); // channels where oneDNN picks blocked kernels
    }
    impl->conv_route = default_route;
    test_bn(be, false);
    test_bn(be, true);
    test_pool(be, true, 3, 2, 1);
    test_pool(be, true, 2, 2, 0);
    test_pool(be, false, 3, 2, 1);
    test_pool(be, false, 2, 2, 0);
    test_gap_relu_linear_l2(be);
    test_se(be);
    test_eltwise(be);
    check_step_ops(be, true);
    apt_backend_destroy(be);
    return apt_test_finish("test_backend_ops");
}
