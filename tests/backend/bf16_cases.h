// bf16_cases.h — the bf16 convolutions and GEMM (backend.h, "bf16 activation chain") on random inputs,
// for test_backend_ops.c (op_cases_chain.h: the chain vs its fp32 twin, and vs the CPU chain); the
// other ops of the chain are in bf16_act_cases.h.
//
// Each case draws fp32 inputs, rounds them to bf16 with the backend's cast, runs the op on backend
// `be` and returns host fp32 results in NCHW; the caller compares. Activations travel in the backend's
// activation layout (be->act_layout == APT_NHWC), permuted on the host. Shapes cover the ResNet families
// (7x7/2 stem, 3x3/1, 3x3/2, 1x1/1, 1x1/2 projection) at ResNet-50's channel patterns, odd sizes, and calls
// with n < N (the last partial chunk). The largest sum has 1152 terms (3x3, C 128), within the 1600 the
// accumulation bound 1e-4 * S is stated for.
#pragma once
#include "backend/backend.h"
#include "core/rng.h"
#include "harness.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Views of test buffers (backend.h): bf16 and fp32 in the backend's activation layout (the chain's
// activations and gradients), fp32 NCHW, bf16 row-major (weights, GEMM operands).
#define V_BF(p) apt_tensor((p), APT_BF16, be->act_layout)
#define V_GF(p) apt_tensor((p), APT_F32, be->act_layout)
#define V_F(p) apt_f32(p)
#define V_WB(p) apt_tensor((p), APT_BF16, APT_NCHW)

typedef struct {
    int N, n, C, H, W, K, k, stride, pad;
} Bf16ConvCase;

static const Bf16ConvCase BF16_CONV_CASES[] = {
    {4, 4, 3, 32, 32, 16, 7, 2, 3},  // stem
    {4, 3, 16, 14, 14, 32, 3, 1, 1}, // 3x3, n < N
    {2, 2, 32, 15, 15, 24, 3, 2, 1}, // 3x3/2, odd sizes
    {3, 3, 40, 8, 8, 64, 1, 2, 0},   // 1x1/2 projection
    // ResNet-50's own kernel / stride / channel patterns (torchvision v1.5), at small N and H/W: every
    // shape class its bf16 step runs through cuDNN (cuda_bf16.cu chooses an algorithm per shape).
    {2, 2, 3, 32, 32, 64, 7, 2, 3},  // the stem: 7x7/2, C 3 -> 64
    {2, 2, 64, 14, 14, 64, 1, 1, 0}, // layer1 conv1: 1x1/1, 64 -> 64
    {2, 2, 64, 14, 14, 64, 3, 1, 1}, // layer1 conv2: 3x3/1, 64 -> 64
    {2, 2, 64, 8, 8, 256, 1, 1, 0},  // conv3 expansion: 1x1/1, 64 -> 256 (and the 64 -> 256 projection)
    {2, 2, 256, 8, 8, 64, 1, 1, 0},  // a later block's conv1: 1x1/1, 256 -> 64
    {2, 2, 128, 8, 8, 128, 3, 2, 1}, // layer2 conv2: 3x3/2 (v1.5: the stride is on the 3x3), even size
    {2, 1, 256, 8, 8, 512, 1, 2, 0}, // layer2 downsample: 1x1/2, 256 -> 512, n < N
};
#define BF16_N_CONV_CASES ((int)(sizeof BF16_CONV_CASES / sizeof BF16_CONV_CASES[0]))

static float *bf16_rand(uint64_t seed, uint32_t tag, size_t n) {
    AptRngStream r = apt_rng_stream(seed, APT_RNG_TEST, 0, tag, 0);
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(2.0 * apt_rng_next_double(&r) - 1.0);
    return v;
}

static void *bf16_up(AptBackend *be, const void *h, size_t bytes) {
    void *d = be->alloc(be, bytes ? bytes : 64);
    be->copy(be, d, h, bytes, APT_COPY_H2D);
    return d;
}

static void bf16_down(AptBackend *be, void *h, const void *d, size_t bytes) {
    be->copy(be, h, d, bytes, APT_COPY_D2H);
}

// [N, C, HW] NCHW <-> the activation layout (NHWC when nhwc), host fp32 arrays.
static void bf16_to_layout(const float *src, float *dst, int N, int C, int HW, bool nhwc) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < HW; p++) {
                size_t i = ((size_t)n * C + c) * HW + p, o = nhwc ? ((size_t)n * HW + p) * C + c : i;
                dst[o] = src[i];
            }
}
static void bf16_from_layout(const float *src, float *dst, int N, int C, int HW, bool nhwc) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < HW; p++) {
                size_t i = ((size_t)n * C + c) * HW + p, o = nhwc ? ((size_t)n * HW + p) * C + c : i;
                dst[i] = src[o];
            }
}

// Host NCHW fp32 -> backend fp32 tensor in the activation layout (a gradient of the chain).
static float *bf16_act_up_f32(AptBackend *be, const float *h, int N, int C, int HW) {
    const size_t n = (size_t)N * C * HW;
    float *t = malloc((n ? n : 1) * sizeof *t);
    bf16_to_layout(h, t, N, C, HW, be->act_layout == APT_NHWC);
    float *d = bf16_up(be, t, n * sizeof(float));
    free(t);
    return d;
}
// Backend fp32 tensor in the activation layout -> host NCHW.
static void bf16_act_down_f32(AptBackend *be, float *h, const float *d, int N, int C, int HW) {
    const size_t n = (size_t)N * C * HW;
    float *t = malloc((n ? n : 1) * sizeof *t);
    bf16_down(be, t, d, n * sizeof(float));
    bf16_from_layout(t, h, N, C, HW, be->act_layout == APT_NHWC);
    free(t);
}
// Backend bf16 tensor in the activation layout -> host NCHW fp32 (widened exactly).
static void bf16_act_down_bf16(AptBackend *be, float *h, const uint16_t *d, int N, int C, int HW) {
    const size_t n = (size_t)N * C * HW;
    uint16_t *q = malloc((n ? n : 1) * sizeof *q);
    float *t = malloc((n ? n : 1) * sizeof *t);
    bf16_down(be, q, d, n * sizeof(uint16_t));
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)q[i] << 16;
        memcpy(&t[i], &u, 4);
    }
    bf16_from_layout(t, h, N, C, HW, be->act_layout == APT_NHWC);
    free(q), free(t);
}

// Host fp32 -> backend bf16 (the backend's own rounding), layout as given.
static uint16_t *bf16_to_dev(AptBackend *be, const float *h, size_t n) {
    float *d = bf16_up(be, h, n * sizeof(float));
    uint16_t *q = be->alloc(be, (n ? n : 1) * sizeof(uint16_t));
    be->cast(be, 1, 1, n, V_F(d), V_WB(q));
    be->free(be, d);
    return q;
}
// Host NCHW fp32 -> backend bf16 activation (the backend's rounding, its activation layout).
static uint16_t *bf16_act_up_bf16(AptBackend *be, const float *h, int N, int C, int HW) {
    const size_t n = (size_t)N * C * HW;
    float *d = bf16_act_up_f32(be, h, N, C, HW);
    uint16_t *q = be->alloc(be, (n ? n : 1) * sizeof(uint16_t));
    be->cast(be, 1, 1, n, V_GF(d), V_BF(q));
    be->free(be, d);
    return q;
}

// Round-trip fp32 -> bf16 -> fp32 on the host (round to nearest even), the values the bf16 ops see.
static void bf16_round_host(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
        memcpy(&x[i], &u, 4);
    }
}

typedef struct {
    float *y, *dx, *dw; // host results (NCHW): forward [n,K,P,Q], backward data [n,C,H,W], weights [K,C,k,k]
    size_t ny, nx, nw;
} Bf16ConvOut;

// mode 0: the bf16 ops on bf16-rounded x, w, dy (y comes back rounded to bf16, x/y/dy/dx in the
// backend's activation layout). mode 1: the fp32 ops on the same rounded values.
// mode 2: the fp32 ops on the unrounded values. mode 3: the fp32 ops on |x|, |w|, |dy| unrounded
// (the magnitude sums that bound the rounding error). dw starts from dw0 (accumulation checked).
static Bf16ConvOut bf16_conv_run(AptBackend *be, const Bf16ConvCase *c, int mode, uint64_t seed) {
    AptConvDesc d;
    apt_conv_desc_init(&d, c->N, c->C, c->H, c->W, c->K, c->k, c->k, c->stride, c->pad);
    if (mode == 0) d.dtype = APT_BF16, d.layout = be->act_layout; // the bf16 chain's form
    be->conv2d_prepare(be, &d);
    Bf16ConvOut o;
    const int n = c->n;
    o.nx = (size_t)n * c->C * c->H * c->W, o.nw = (size_t)c->K * c->C * c->k * c->k;
    o.ny = (size_t)n * c->K * d.P * d.Q;
    float *x = bf16_rand(seed, 1, o.nx), *w = bf16_rand(seed, 2, o.nw), *dy = bf16_rand(seed, 3, o.ny);
    float *dw0 = bf16_rand(seed, 4, o.nw);
    if (mode == 1) bf16_round_host(x, o.nx), bf16_round_host(w, o.nw), bf16_round_host(dy, o.ny);
    if (mode == 3) {
        for (size_t i = 0; i < o.nx; i++) x[i] = fabsf(x[i]);
        for (size_t i = 0; i < o.nw; i++) w[i] = fabsf(w[i]), dw0[i] = 0;
        for (size_t i = 0; i < o.ny; i++) dy[i] = fabsf(dy[i]);
    }
    o.y = malloc(o.ny * sizeof(float)), o.dx = malloc(o.nx * sizeof(float)), o.dw = malloc(o.nw * sizeof(float));
    float *y_d = be->alloc(be, o.ny * sizeof(float)), *dx_d = be->alloc(be, o.nx * sizeof(float));
    float *dw_d = bf16_up(be, dw0, o.nw * sizeof(float));
    if (mode == 0) {
        const int HW = c->H * c->W, PQ = d.P * d.Q;
        uint16_t *x16 = bf16_act_up_bf16(be, x, n, c->C, HW), *w16 = bf16_to_dev(be, w, o.nw),
                 *dy16 = bf16_act_up_bf16(be, dy, n, c->K, PQ);
        uint16_t *y16 = be->alloc(be, o.ny * sizeof(uint16_t));
        be->conv2d_forward(be, &d, n, V_BF(x16), V_WB(w16), NULL, V_BF(y16));
        be->conv2d_backward_weights(be, &d, n, V_BF(x16), V_BF(dy16), dw_d, NULL);
        be->conv2d_backward_data(be, &d, n, V_BF(dy16), V_WB(w16), V_GF(dx_d));
        bf16_act_down_bf16(be, o.y, y16, n, c->K, PQ);
        bf16_act_down_f32(be, o.dx, dx_d, n, c->C, HW);
        bf16_down(be, o.dw, dw_d, o.nw * sizeof(float));
        be->free(be, x16), be->free(be, w16), be->free(be, dy16), be->free(be, y16);
        be->free(be, y_d), be->free(be, dx_d), be->free(be, dw_d);
        be->conv2d_release(be, &d);
        free(x), free(w), free(dy), free(dw0);
        return o;
    } else {
        float *x_d = bf16_up(be, x, o.nx * sizeof(float)), *w_d = bf16_up(be, w, o.nw * sizeof(float));
        float *dy_d = bf16_up(be, dy, o.ny * sizeof(float));
        be->conv2d_forward(be, &d, n, V_F(x_d), V_F(w_d), NULL, V_F(y_d));
        be->conv2d_backward_weights(be, &d, n, V_F(x_d), V_F(dy_d), dw_d, NULL);
        be->conv2d_backward_data(be, &d, n, V_F(dy_d), V_F(w_d), V_F(dx_d));
        be->free(be, x_d), be->free(be, w_d), be->free(be, dy_d);
    }
    bf16_down(be, o.y, y_d, o.ny * sizeof(float));
    bf16_down(be, o.dx, dx_d, o.nx * sizeof(float));
    bf16_down(be, o.dw, dw_d, o.nw * sizeof(float));
    be->free(be, y_d), be->free(be, dx_d), be->free(be, dw_d);
    be->conv2d_release(be, &d);
    free(x), free(w), free(dy), free(dw0);
    return o;
}

static void bf16_conv_free(Bf16ConvOut *o) {
    free(o->y), free(o->dx), free(o->dw);
}

// The forward convolution of case c on the host in float64 from the bf16-rounded inputs of seed (those
// of bf16_conv_run), rounded to fp32 then bf16: a backend with a third accumulation order that rounds
// its output as the bf16 op does (the twin checks' stand-in for the cross-backend bound). NCHW [n,K,P,Q].
static inline float *bf16_conv_forward_host(const Bf16ConvCase *c, uint64_t seed) {
    const int P = (c->H + 2 * c->pad - c->k) / c->stride + 1, Q = (c->W + 2 * c->pad - c->k) / c->stride + 1;
    const size_t nx = (size_t)c->n * c->C * c->H * c->W, nw = (size_t)c->K * c->C * c->k * c->k;
    const size_t ny = (size_t)c->n * c->K * P * Q;
    float *x = bf16_rand(seed, 1, nx), *w = bf16_rand(seed, 2, nw), *y = malloc((ny ? ny : 1) * sizeof *y);
    bf16_round_host(x, nx), bf16_round_host(w, nw);
    for (int n = 0; n < c->n; n++)
        for (int k = 0; k < c->K; k++)
            for (int p = 0; p < P; p++)
                for (int q = 0; q < Q; q++) {
                    double acc = 0;
                    for (int ch = 0; ch < c->C; ch++)
                        for (int r = 0; r < c->k; r++)
                            for (int t = 0; t < c->k; t++) {
                                const int h = p * c->stride - c->pad + r, v = q * c->stride - c->pad + t;
                                if (h < 0 || h >= c->H || v < 0 || v >= c->W) continue;
                                acc += (double)x[(((size_t)n * c->C + ch) * c->H + h) * c->W + v] *
                                       w[(((size_t)k * c->C + ch) * c->k + r) * c->k + t];
                            }
                    y[(((size_t)n * c->K + k) * P + p) * Q + q] = (float)acc;
                }
    bf16_round_host(y, ny);
    free(x), free(w);
    return y;
}

// The bound between two backends' bf16 convolutions on the same bf16 inputs (op_cases_chain.h: CUDA
// vs CPU), direction k (0 forward y, 1 backward data dx, 2 backward weights dw), as bf16_expect takes it:
// |got - want| <= BF16_XB_REL[k] * bound[i] + abs, with S = mag[i] the sum of |terms| of the output.
//   y: both backends round their own fp32 sum to bf16. The two sums differ by the accumulation term
//      (two fp32 orders, <= 1600 terms: 1e-4 S); when they straddle a rounding boundary the results are
//      one bf16 step apart, and a step is 2^-7 of the value at the bottom of a binade (8 significant
//      bits), not 2^-8 (that is half a step, one rounding): bound 2^-7 |want| + 1e-4 S. the twin checks
//      checks it with a stand-in (bf16_conv_forward_host), where 2^-8 failed 2 of 15 such neighbours.
//   dx: the CPU writes fp32, cuDNN rounds once to bf16 before widening: 2^-8 |want| + 1e-4 S.
//   dw: the increment is rounded once by cuDNN (<= 2^-8 S), then added in fp32: 2^-8 |want| + 2^-7 S.
static const double BF16_XB_REL[3] = {0x1p-7, 0x1p-8, 0x1p-8};
static float *bf16_conv_cross_bound(int k, const float *want, const float *mag, size_t n) {
    const float coef = k == 0 ? (float)(1e-4 / 0x1p-7) : k == 1 ? (float)(1e-4 / 0x1p-8) : 2.0f;
    float *b = malloc((n ? n : 1) * sizeof *b);
    for (size_t i = 0; i < n; i++)
        b[i] = fabsf(want[i]) + coef * mag[i];
    return b;
}

typedef struct {
    int M, N, K;
    bool ta, tb;
} Bf16GemmCase;
static const Bf16GemmCase BF16_GEMM_CASES[] = {{37, 29, 70, false, false}, {16, 128, 512, false, true},
                                               {64, 33, 17, true, false}, {9, 5, 300, true, true}};
#define BF16_N_GEMM_CASES ((int)(sizeof BF16_GEMM_CASES / sizeof BF16_GEMM_CASES[0]))

// Modes as for convolutions; C starts from random values, beta = 0.5, alpha = 1.5 (mode 3: C0 = 0).
static float *bf16_gemm_run(AptBackend *be, const Bf16GemmCase *g, int mode, uint64_t seed) {
    const size_t na = (size_t)g->M * g->K, nb = (size_t)g->K * g->N, nc = (size_t)g->M * g->N;
    const int lda = g->ta ? g->M : g->K, ldb = g->tb ? g->K : g->N;
    float *A = bf16_rand(seed, 11, na), *B = bf16_rand(seed, 12, nb), *C0 = bf16_rand(seed, 13, nc);
    if (mode == 1) bf16_round_host(A, na), bf16_round_host(B, nb);
    if (mode == 3) {
        for (size_t i = 0; i < na; i++) A[i] = fabsf(A[i]);
        for (size_t i = 0; i < nb; i++) B[i] = fabsf(B[i]);
        for (size_t i = 0; i < nc; i++) C0[i] = 0;
    }
    float *C_d = bf16_up(be, C0, nc * sizeof(float)), *C = malloc(nc * sizeof(float));
    if (mode == 0) {
        uint16_t *a16 = bf16_to_dev(be, A, na), *b16 = bf16_to_dev(be, B, nb);
        be->gemm(be, g->ta, g->tb, g->M, g->N, g->K, 1.5f, V_WB(a16), lda, V_WB(b16), ldb, 0.5f, C_d, g->N);
        be->free(be, a16), be->free(be, b16);
    } else {
        float *a_d = bf16_up(be, A, na * sizeof(float)), *b_d = bf16_up(be, B, nb * sizeof(float));
        be->gemm(be, g->ta, g->tb, g->M, g->N, g->K, 1.5f, V_F(a_d), lda, V_F(b_d), ldb, 0.5f, C_d, g->N);
        be->free(be, a_d), be->free(be, b_d);
    }
    bf16_down(be, C, C_d, nc * sizeof(float));
    be->free(be, C_d);
    free(A), free(B), free(C0);
    return C;
}

// |got - want| <= rel * bound[i] + abs_tol for every i (bound: a magnitude sum, or |want|). Returns the
// worst ratio |got - want| / (rel * bound + abs_tol) and counts a failure when it exceeds 1.
static double bf16_expect(const float *got, const float *want, const float *bound, size_t n, double rel,
                          double abs_tol, const char *label) {
    double worst = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double b = bound ? fabs((double)bound[i]) : fabs((double)want[i]);
        double r = fabs((double)got[i] - want[i]) / (rel * b + abs_tol);
        if (!(r <= 1.0)) {
            if (bad < 3)
                fprintf(stderr, "  %s[%zu]: got %.9g want %.9g (bound %.3g)\n", label, i, got[i], want[i], b);
            bad++;
        }
        if (!(r <= worst)) worst = r;
    }
    TEST_CHECK(bad == 0, "%s: %zu of %zu values outside the bound (worst ratio %.3g)", label, bad, n, worst);
    return worst;
}
