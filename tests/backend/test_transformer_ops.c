// test_transformer_ops.c — the transformer ops of the CPU table (backend.h, "transformer ops") against
// naive float64 loops written here (forward), and every backward against float64 central finite
// differences of those loops, as test_backend_ops.c does for the other ops (h = 1e-6: the reference
// gradient is exact to ~1e-9). Sizes are odd on purpose.
//
// Tolerances: rtol 1e-5 + atol 1e-5·max(1, max|ref|), the bound of test_backend_ops.c: float32 results
// of sums of at most a few dozen O(1) terms are within ~1e-6; a wrong index or a missing term is O(0.1-1).
// GELU uses erff/expf (float32, ~1 ulp); LayerNorm's rstd for unit-variance rows is O(1).
//
// bf16 views (test_bf16_views): every op with an activation view run with bf16 views against the same op
// with fp32 views on the same (bf16-representable) values. Each bf16 case is the fp32 arithmetic on the
// exactly widened inputs with its bf16 outputs rounded once (backend.h), so: a bf16 output is within one
// bf16 step (2^-8 |y|, round to nearest: 2^-9 plus the fp32 rounding) of the fp32 op's output, an fp32
// output (gradients, statistics, C of a bf16 x bf16 product) within 1e-6 relative + 1e-7 of it.
#include "backend/backend.h"
#include "backend/drop_path.h"
#include "core/rng.h"
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RTOL 1e-5
#define ATOL 1e-5
#define FD_H 1e-6

static AptRngStream g_rng;

static double *drand_vec(size_t n, double lo, double hi) {
    double *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)(lo + (hi - lo) * apt_rng_next_double(&g_rng)); // float-representable inputs
    return v;
}
static float *to_f(const double *d, size_t n) {
    float *f = malloc((n ? n : 1) * sizeof *f);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)d[i];
    return f;
}
static int check(const float *got, const double *want, size_t n, const char *label) {
    double *g = malloc(n * sizeof *g), scale = 1;
    for (size_t i = 0; i < n; i++) {
        g[i] = got[i];
        scale = fmax(scale, fabs(want[i]));
    }
    int ok = expect_close_d(g, want, n, RTOL, ATOL * scale, label);
    free(g);
    return ok;
}

#include "fd_grad.h"

// ---------------------------------------------------------------- batched strided GEMM
// The attention pattern: heads as the batch, operands as column views of a wider row (lda > K).
// Small products run in parallel over the batch with single-threaded GEMMs, large ones one after the
// other (cpu_transformer.c): both paths are exercised.
static void test_gemm_batched(AptBackend *be, int M, int N, int K, int batch) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            // A_i: op(A_i) is [M, K]; stored [M, K] (ta=0) or [K, M] (ta=1) as a column block of a row of
            // width lda = batch*cols + 2 (head i's columns at offset i*cols).
            int arows = ta ? K : M, acols = ta ? M : K, brows = tb ? N : K, bcols = tb ? K : N;
            int lda = batch * acols + 2, ldb = batch * bcols + 1, ldc = batch * N + 3;
            size_t na = (size_t)arows * lda, nb = (size_t)brows * ldb, nc = (size_t)M * ldc;
            double *A = drand_vec(na, -1, 1), *B = drand_vec(nb, -1, 1), *C = drand_vec(nc, -1, 1);
            float *Af = to_f(A, na), *Bf = to_f(B, nb), *Cf = to_f(C, nc);
            const double alpha = 0.625, beta = -0.5;
            double *want = malloc(nc * sizeof *want);
            memcpy(want, C, nc * sizeof *want);
            for (int h = 0; h < batch; h++)
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double s = 0;
                        for (int k = 0; k < K; k++) {
                            double a = ta ? A[(size_t)k * lda + h * acols + i] : A[(size_t)i * lda + h * acols + k];
                            double b = tb ? B[(size_t)j * ldb + h * bcols + k] : B[(size_t)k * ldb + h * bcols + j];
                            s += a * b;
                        }
                        size_t o = (size_t)i * ldc + h * N + j;
                        want[o] = alpha * s + beta * C[o];
                    }
            be->gemm_batched(be, ta, tb, M, N, K, (float)alpha, apt_f32(Af), lda, acols, apt_f32(Bf), ldb, bcols,
                             (float)beta, apt_f32(Cf), ldc, N, batch, NULL);
            char label[64];
            snprintf(label, sizeof label, "gemm_batched ta=%d tb=%d %dx%dx%d x%d", ta, tb, M, N, K, batch);
            check(Cf, want, nc, label); // untouched padding columns must keep C's values too
            free(A), free(B), free(C), free(Af), free(Bf), free(Cf), free(want);
        }
}

// ---------------------------------------------------------------- LayerNorm
typedef struct {
    int R, D;
    double eps;
} LnRef;
// in = [x (R*D) | gamma (D) | beta (D)]
static void ln_ref(const void *vc, const double *in, double *y) {
    const LnRef *c = vc;
    const double *x = in, *g = in + (size_t)c->R * c->D, *b = g + c->D;
    for (int r = 0; r < c->R; r++) {
        double s = 0, ss = 0;
        for (int d = 0; d < c->D; d++)
            s += x[r * c->D + d];
        double mu = s / c->D;
        for (int d = 0; d < c->D; d++)
            ss += (x[r * c->D + d] - mu) * (x[r * c->D + d] - mu);
        double rs = 1 / sqrt(ss / c->D + c->eps);
        for (int d = 0; d < c->D; d++)
            y[r * c->D + d] = (x[r * c->D + d] - mu) * rs * g[d] + b[d];
    }
}

static void test_layernorm(AptBackend *be, int R, int D) {
    LnRef c = {R, D, 1e-6};
    size_t nx = (size_t)R * D, nin = nx + 2 * D;
    double *in = drand_vec(nin, -1.5, 1.5), *r = drand_vec(nx, -1, 1), *y = malloc(nx * sizeof *y),
           *grad = malloc(nin * sizeof *grad);
    for (int d = 0; d < D; d++)
        in[nx + d] = (float)(0.5 + 0.5 * (in[nx + d] + 1.5) / 3); // gamma in [0.5, 1]
    ln_ref(&c, in, y);
    fd_grad(ln_ref, &c, in, nin, nx, r, grad);
    float *xf = to_f(in, nx), *gf = to_f(in + nx, D), *bf = to_f(in + nx + D, D), *dyf = to_f(r, nx);
    float *yf = malloc(nx * 4), *mean = malloc(R * 4), *rstd = malloc(R * 4), *dxf = malloc(nx * 4);
    float *dg = calloc(D, 4), *db = calloc(D, 4);
    be->layernorm_forward(be, R, D, apt_f32(xf), gf, bf, 1e-6f, apt_f32(yf), mean, rstd);
    be->layernorm_backward(be, R, D, apt_f32(xf), dyf, gf, mean, rstd, dxf, dg, db);
    check(yf, y, nx, "layernorm forward");
    check(dxf, grad, nx, "layernorm dx vs FD");
    check(dg, grad + nx, D, "layernorm dgamma vs FD");
    check(db, grad + nx + D, D, "layernorm dbeta vs FD");
    // accumulation: a second backward adds the same again
    be->layernorm_backward(be, R, D, apt_f32(xf), dyf, gf, mean, rstd, NULL, dg, db);
    for (int d = 0; d < D; d++)
        grad[nx + d] *= 2, grad[nx + D + d] *= 2;
    check(dg, grad + nx, D, "layernorm dgamma accumulates (+=)");
    check(db, grad + nx + D, D, "layernorm dbeta accumulates (+=)");
    free(in), free(r), free(y), free(grad), free(xf), free(gf), free(bf), free(dyf), free(yf), free(mean);
    free(rstd), free(dxf), free(dg), free(db);
}

// ---------------------------------------------------------------- GELU, softmax
static void gelu_ref(const void *vc, const double *x, double *y) {
    size_t n = *(const size_t *)vc;
    for (size_t i = 0; i < n; i++)
        y[i] = 0.5 * x[i] * (1 + erf(x[i] / sqrt(2.0)));
}

static void test_gelu(AptBackend *be) {
    size_t n = 101;
    double *x = drand_vec(n, -4, 4), *r = drand_vec(n, -1, 1), y[101], grad[101];
    gelu_ref(&n, x, y);
    fd_grad(gelu_ref, &n, x, n, n, r, grad);
    float *xf = to_f(x, n), *dyf = to_f(r, n), yf[101], dxf[101];
    be->gelu_forward(be, n, apt_f32(xf), apt_f32(yf));
    be->gelu_backward(be, n, apt_f32(xf), dyf, dxf);
    check(yf, y, n, "gelu forward (erf)");
    check(dxf, grad, n, "gelu backward vs FD");
    free(x), free(r), free(xf), free(dyf);
}

typedef struct {
    int R, L;
} SmRef;
static void softmax_ref(const void *vc, const double *x, double *y) {
    const SmRef *c = vc;
    for (int r = 0; r < c->R; r++) {
        double mx = -INFINITY, s = 0;
        for (int j = 0; j < c->L; j++)
            mx = fmax(mx, x[r * c->L + j]);
        for (int j = 0; j < c->L; j++)
            s += exp(x[r * c->L + j] - mx);
        for (int j = 0; j < c->L; j++)
            y[r * c->L + j] = exp(x[r * c->L + j] - mx) / s;
    }
}

static void test_softmax(AptBackend *be) {
    SmRef c = {5, 13};
    size_t n = 65;
    double *x = drand_vec(n, -6, 6), *r = drand_vec(n, -1, 1), y[65], grad[65];
    softmax_ref(&c, x, y);
    fd_grad(softmax_ref, &c, x, n, n, r, grad);
    float *xf = to_f(x, n), *dyf = to_f(r, n), yf[65], dxf[65];
    be->softmax_forward(be, c.R, c.L, apt_f32(xf), apt_f32(yf));
    be->softmax_backward(be, c.R, c.L, apt_f32(yf), dyf, dxf);
    check(yf, y, n, "softmax forward");
    check(dxf, grad, n, "softmax backward vs FD");
    be->softmax_forward(be, c.R, c.L, apt_f32(xf), apt_f32(xf)); // in place
    be->softmax_backward(be, c.R, c.L, apt_f32(xf), dyf, dyf);
    check(xf, y, n, "softmax forward in place");
    check(dyf, grad, n, "softmax backward in place");
    free(x), free(r), free(xf), free(dyf);
}

// ---------------------------------------------------------------- ViT embedding and pooling
typedef struct {
    int n, P, D;
} EmbRef;
// in = [patch (n*D*P) | cls (D) | pos ((1+P)*D)] -> y [n, 1+P, D]
static void embed_ref(const void *vc, const double *in, double *y) {
    const EmbRef *c = vc;
    const int T = c->P + 1, D = c->D, P = c->P;
    const double *patch = in, *cls = in + (size_t)c->n * D * P, *pos = cls + D;
    for (int s = 0; s < c->n; s++)
        for (int t = 0; t < T; t++)
            for (int d = 0; d < D; d++)
                y[((size_t)s * T + t) * D + d] = (t ? patch[((size_t)s * D + d) * P + t - 1] : cls[d]) + pos[t * D + d];
}

static void test_embed(AptBackend *be) {
    EmbRef c = {3, 4, 5};
    size_t np = 3 * 5 * 4, nin = np + 5 + 25, ny = 3 * 5 * 5;
    double *in = drand_vec(nin, -1, 1), *r = drand_vec(ny, -1, 1), *y = malloc(ny * 8), *grad = malloc(nin * 8);
    embed_ref(&c, in, y);
    fd_grad(embed_ref, &c, in, nin, ny, r, grad);
    float *pf = to_f(in, np), *cf = to_f(in + np, 5), *posf = to_f(in + np + 5, 25), *dyf = to_f(r, ny);
    float *yf = malloc(ny * 4), *dpf = malloc(np * 4), dcls[5] = {0}, dpos[25] = {0};
    be->vit_embed_forward(be, 3, 4, 5, pf, cf, posf, apt_f32(yf));
    be->vit_embed_backward(be, 3, 4, 5, dyf, dpf, dcls, dpos);
    check(yf, y, ny, "vit_embed forward");
    check(dpf, grad, np, "vit_embed dpatch vs FD");
    check(dcls, grad + np, 5, "vit_embed dcls vs FD");
    check(dpos, grad + np + 5, 25, "vit_embed dpos vs FD");
    free(in), free(r), free(y), free(grad), free(pf), free(cf), free(posf), free(dyf), free(yf), free(dpf);
}

typedef struct {
    int n, T, D;
    bool mean;
} PoolRef;
static void pool_ref(const void *vc, const double *x, double *y) {
    const PoolRef *c = vc;
    for (int s = 0; s < c->n; s++)
        for (int d = 0; d < c->D; d++) {
            double acc = 0;
            if (!c->mean)
                acc = x[(size_t)s * c->T * c->D + d];
            else {
                for (int t = 1; t < c->T; t++)
                    acc += x[((size_t)s * c->T + t) * c->D + d];
                acc /= c->T - 1;
            }
            y[s * c->D + d] = acc;
        }
}

static void test_pool(AptBackend *be, bool mean) {
    PoolRef c = {3, 6, 7, mean};
    size_t nx = 3 * 6 * 7, ny = 21;
    double *x = drand_vec(nx, -1, 1), *r = drand_vec(ny, -1, 1), y[21], *grad = malloc(nx * 8);
    pool_ref(&c, x, y);
    fd_grad(pool_ref, &c, x, nx, ny, r, grad);
    float *xf = to_f(x, nx), *dyf = to_f(r, ny), yf[21], *dxf = malloc(nx * 4);
    be->token_pool_forward(be, 3, 6, 7, mean, apt_f32(xf), yf);
    be->token_pool_backward(be, 3, 6, 7, mean, dyf, dxf);
    check(yf, y, ny, mean ? "token_pool mean forward" : "token_pool cls forward");
    check(dxf, grad, nx, mean ? "token_pool mean backward vs FD" : "token_pool cls backward vs FD");
    free(x), free(r), free(grad), free(xf), free(dyf), free(dxf);
}

// ---------------------------------------------------------------- drop-path
// The mask is a function of (seed, epoch, step, sample, layer) only; kept rows are scaled by 1/(1-p); the
// kept fraction over many samples is 1-p; p = 0 is the identity.
static void test_drop_path(AptBackend *be) {
    const int n = 4000;
    const size_t len = 3;
    const float p = 0.25f;
    float *x = malloc(n * len * 4), *y = malloc(n * len * 4), *y2 = malloc(n * len * 4);
    for (size_t i = 0; i < n * len; i++)
        x[i] = 1.0f + (float)(i % 7);
    be->drop_path(be, n, len, p, 42, 1, 7, 100, 3, apt_f32(x), apt_f32(y));
    int kept = 0, bad = 0;
    for (int s = 0; s < n; s++) {
        float f = apt_drop_path_factor(p, 42, 1, 7, 100 + (uint32_t)s, 3);
        kept += f > 0;
        for (size_t i = 0; i < len; i++)
            bad += y[s * len + i] != x[s * len + i] * f || (f != 0.0f && f != 1.0f / 0.75f);
    }
    TEST_CHECK(bad == 0, "drop_path: %d elements differ from x * factor(seed, epoch, step, sample, layer)", bad);
    double frac = (double)kept / n; // binomial: sd = sqrt(0.75*0.25/4000) = 0.0068
    TEST_CHECK(fabs(frac - 0.75) < 0.03, "drop_path: kept fraction %.4f, expected 0.75 +- 0.03", frac);
    // another sample offset shifts the mask: rows [100, 4100) at offset 0 are rows [0, 4000) at offset 100
    float *xb = malloc((n + 100) * len * 4), *yb = malloc((n + 100) * len * 4);
    for (size_t i = 0; i < (size_t)(n + 100) * len; i++)
        xb[i] = 1.0f;
    be->drop_path(be, n + 100, len, p, 42, 1, 7, 0, 3, apt_f32(xb), apt_f32(yb));
    int shifted = 0;
    for (int s = 0; s < n; s++)
        shifted += (yb[(s + 100) * len] != 0) != (y[s * len] != 0);
    TEST_CHECK(shifted == 0, "drop_path: the mask depends on the global sample index only (%d rows differ)", shifted);
    be->drop_path(be, n, len, p, 42, 1, 8, 100, 3, apt_f32(x), apt_f32(y2));
    TEST_CHECK(memcmp(y, y2, n * len * 4) != 0, "drop_path: another step gives another mask");
    be->drop_path(be, n, len, 0.0f, 42, 1, 7, 100, 3, apt_f32(x), apt_f32(y2));
    TEST_CHECK(memcmp(x, y2, n * len * 4) == 0, "drop_path: p = 0 is the identity");
    free(x), free(y), free(y2), free(xb), free(yb);
}

// ---------------------------------------------------------------- bf16 views vs fp32 views
static uint16_t bf16_bits(float f) { // round to nearest even (finite inputs)
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
static float bf16_val(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
// n values in [lo, hi) that bf16 represents exactly, as fp32 (*f) and as bf16 bits (*h).
static void bf16_inputs(size_t n, double lo, double hi, float **f, uint16_t **h) {
    double *d = drand_vec(n, lo, hi);
    *f = malloc((n ? n : 1) * 4), *h = malloc((n ? n : 1) * 2);
    for (size_t i = 0; i < n; i++)
        (*h)[i] = bf16_bits((float)d[i]), (*f)[i] = bf16_val((*h)[i]);
    free(d);
}
// n floats in [lo, hi) (the double draws freed).
static float *frand_vec(size_t n, double lo, double hi) {
    double *d = drand_vec(n, lo, hi);
    float *f = to_f(d, n);
    free(d);
    return f;
}
static AptTensor vbf(const uint16_t *p) {
    return apt_tensor(p, APT_BF16, APT_NCHW);
}
// A bf16 output against the fp32 op's: within one bf16 step of it.
static void expect_bf16(const uint16_t *got, const float *want, size_t n, const char *label) {
    size_t bad = 0, worst = 0;
    double wr = 0;
    for (size_t i = 0; i < n; i++) {
        const double g = bf16_val(got[i]), w = want[i], r = fabs(g - w) / fmax(fabs(w), 1e-30);
        if (fabs(g - w) > 0x1p-8 * fabs(w) + 1e-30) bad++;
        if (r > wr) wr = r, worst = i;
    }
    TEST_CHECK(bad == 0, "%s: %zu of %zu bf16 outputs beyond one bf16 step of fp32's (worst [%zu] %.3g rel)", label,
               bad, n, worst, wr);
}
// An fp32 output of a bf16 run against the fp32 run's.
static void expect_f32(const float *got, const float *want, size_t n, const char *label) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += !(fabs((double)got[i] - want[i]) <= 1e-6 * fabs(want[i]) + 1e-7);
    TEST_CHECK(bad == 0, "%s: %zu of %zu fp32 outputs beyond 1e-6 rel + 1e-7 of the fp32 run's", label, bad, n);
}

static void test_bf16_views(AptBackend *be) {
    const int R = 7, D = 37, n = 3, P = 4, T = 1 + P, heads = 2, M = 6, N = 5, K = 9;
    float *xf, *af, *bf, *dyf, *df;
    uint16_t *xh, *ah, *bh, *dyh, *dh;
    const size_t rd = (size_t)R * D;
    bf16_inputs(rd, -2.0, 2.0, &xf, &xh);
    bf16_inputs(rd, -1.0, 1.0, &dyf, &dyh);
    float *g = frand_vec(D, 0.5, 1.5), *b = frand_vec(D, -0.5, 0.5);
    float *y32 = malloc(rd * 4), *m32 = malloc(R * 4), *s32 = malloc(R * 4), *dx32 = malloc(rd * 4);
    float *m16 = malloc(R * 4), *s16 = malloc(R * 4), *dx16 = malloc(rd * 4);
    float *dg32 = calloc(D, 4), *db32 = calloc(D, 4), *dg16 = calloc(D, 4), *db16 = calloc(D, 4);
    uint16_t *y16 = malloc(rd * 2);
    // LayerNorm: x and y bf16; mean, rstd and every gradient fp32
    be->layernorm_forward(be, R, D, apt_f32(xf), g, b, 1e-6f, apt_f32(y32), m32, s32);
    be->layernorm_forward(be, R, D, vbf(xh), g, b, 1e-6f, vbf(y16), m16, s16);
    expect_bf16(y16, y32, rd, "layernorm_forward bf16 y");
    expect_f32(m16, m32, R, "layernorm_forward bf16 mean"), expect_f32(s16, s32, R, "layernorm_forward bf16 rstd");
    be->layernorm_backward(be, R, D, apt_f32(xf), dyf, g, m32, s32, dx32, dg32, db32);
    be->layernorm_backward(be, R, D, vbf(xh), dyf, g, m32, s32, dx16, dg16, db16);
    expect_f32(dx16, dx32, rd, "layernorm_backward bf16 x: dx");
    expect_f32(dg16, dg32, D, "layernorm_backward bf16 x: dgamma"), expect_f32(db16, db32, D, "... dbeta");
    // GELU and softmax (rows of D), forward bf16 -> bf16, backward from the bf16 input / output
    be->gelu_forward(be, rd, apt_f32(xf), apt_f32(y32));
    be->gelu_forward(be, rd, vbf(xh), vbf(y16));
    expect_bf16(y16, y32, rd, "gelu_forward bf16");
    be->gelu_backward(be, rd, apt_f32(xf), dyf, dx32);
    be->gelu_backward(be, rd, vbf(xh), dyf, dx16);
    expect_f32(dx16, dx32, rd, "gelu_backward bf16 x");
    be->softmax_forward(be, R, D, apt_f32(xf), apt_f32(y32));
    be->softmax_forward(be, R, D, vbf(xh), vbf(y16));
    expect_bf16(y16, y32, rd, "softmax_forward bf16");
    float *yw = malloc(rd * 4); // the backward reads the stored (bf16) output: both runs from the same values
    for (size_t i = 0; i < rd; i++)
        yw[i] = bf16_val(y16[i]);
    be->softmax_backward(be, R, D, apt_f32(yw), dyf, dx32);
    be->softmax_backward(be, R, D, vbf(y16), dyf, dx16);
    expect_f32(dx16, dx32, rd, "softmax_backward bf16 y");
    // drop-path on bf16 rows; token pooling and the embedding's output
    be->drop_path(be, R, D, 0.3f, 7, 1, 2, 0, 1, apt_f32(xf), apt_f32(y32));
    be->drop_path(be, R, D, 0.3f, 7, 1, 2, 0, 1, vbf(xh), vbf(y16));
    expect_bf16(y16, y32, rd, "drop_path bf16");
    float *pool32 = malloc((size_t)n * D * 4), *pool16 = malloc((size_t)n * D * 4);
    for (int mean = 0; mean < 2; mean++) { // x [n, T, D] = the first n*T rows of x (n*T <= R)
        be->token_pool_forward(be, n, T - 3, D, mean, apt_f32(xf), pool32);
        be->token_pool_forward(be, n, T - 3, D, mean, vbf(xh), pool16);
        expect_f32(pool16, pool32, (size_t)n * D, mean ? "token_pool mean bf16 x" : "token_pool cls bf16 x");
    }
    float *patch = frand_vec((size_t)n * D * P, -1, 1);
    float *cls = frand_vec(D, -1, 1), *pos = frand_vec((size_t)T * D, -1, 1);
    float *e32 = malloc((size_t)n * T * D * 4);
    uint16_t *e16 = malloc((size_t)n * T * D * 2);
    be->vit_embed_forward(be, n, P, D, patch, cls, pos, apt_f32(e32));
    be->vit_embed_forward(be, n, P, D, patch, cls, pos, vbf(e16));
    expect_bf16(e16, e32, (size_t)n * T * D, "vit_embed_forward bf16 y");
    // gemm_batched: bf16 x bf16 -> fp32 and -> bf16, bf16 x fp32 -> bf16, with the bias of the token linears
    bf16_inputs((size_t)heads * M * K, -1, 1, &af, &ah);
    bf16_inputs((size_t)heads * K * N, -1, 1, &bf, &bh);
    bf16_inputs((size_t)heads * M * N, -1, 1, &df, &dh);
    const size_t nc = (size_t)heads * M * N;
    float *c32 = malloc(nc * 4), *c16f = malloc(nc * 4);
    uint16_t *c16 = malloc(nc * 2);
    for (int beta = 0; beta < 2; beta++) {
        memcpy(c32, df, nc * 4), memcpy(c16f, df, nc * 4), memcpy(c16, dh, nc * 2);
        be->gemm_batched(be, false, false, M, N, K, 0.75f, apt_f32(af), K, (long long)M * K, apt_f32(bf), N,
                         (long long)K * N, (float)beta, apt_f32(c32), N, (long long)M * N, heads, NULL);
        be->gemm_batched(be, false, false, M, N, K, 0.75f, vbf(ah), K, (long long)M * K, vbf(bh), N,
                         (long long)K * N, (float)beta, apt_f32(c16f), N, (long long)M * N, heads, NULL);
        expect_f32(c16f, c32, nc, "gemm_batched bf16 x bf16 -> fp32");
        be->gemm_batched(be, false, false, M, N, K, 0.75f, apt_f32(af), K, (long long)M * K, vbf(bh), N,
                         (long long)K * N, (float)beta, vbf(c16), N, (long long)M * N, heads, NULL);
        expect_bf16(c16, c32, nc, beta ? "gemm_batched fp32 x bf16 + beta C -> bf16" : "gemm_batched fp32 x bf16 -> bf16");
    }
    float *bias = frand_vec(N, -1, 1);
    be->gemm_batched(be, false, true, M, N, K, 1.0f, apt_f32(af), K, 0, apt_f32(bf), K, 0, 0.0f, apt_f32(c32), N, 0,
                     1, bias);
    be->gemm_batched(be, false, true, M, N, K, 1.0f, vbf(ah), K, 0, vbf(bh), K, 0, 0.0f, vbf(c16), N, 0, 1, bias);
    expect_bf16(c16, c32, (size_t)M * N, "gemm_batched (token linear, bias) bf16 -> bf16");
    free(xf), free(xh), free(dyf), free(dyh), free(g), free(b), free(y32), free(m32), free(s32), free(dx32);
    free(m16), free(s16), free(dx16), free(dg32), free(db32), free(dg16), free(db16), free(y16), free(yw);
    free(pool32), free(pool16), free(patch), free(cls), free(pos), free(e32), free(e16);
    free(af), free(ah), free(bf), free(bh), free(df), free(dh), free(c32), free(c16f), free(c16), free(bias);
}

// Every op of the transformer list names the tests that check it, generated from the list: an op added to
// APT_BACKEND_TRANSFORMER_OPS without a COVERED_BY_<op> line here does not compile.
#define COVERED_BY_gemm_batched "test_gemm_batched, test_bf16_views"
#define COVERED_BY_layernorm_forward "test_layernorm, test_bf16_views"
#define COVERED_BY_layernorm_backward "test_layernorm (vs FD), test_bf16_views"
#define COVERED_BY_gelu_forward "test_gelu, test_bf16_views"
#define COVERED_BY_gelu_backward "test_gelu (vs FD), test_bf16_views"
#define COVERED_BY_softmax_forward "test_softmax, test_bf16_views"
#define COVERED_BY_softmax_backward "test_softmax (vs FD), test_bf16_views"
#define COVERED_BY_vit_embed_forward "test_embed, test_bf16_views"
#define COVERED_BY_vit_embed_backward "test_embed (vs FD)"
#define COVERED_BY_token_pool_forward "test_pool, test_bf16_views"
#define COVERED_BY_token_pool_backward "test_pool (vs FD)"
#define COVERED_BY_drop_path "test_drop_path, test_bf16_views"
#define COVERED_ROW(name, params, args) {#name, COVERED_BY_##name},
static const char *const covered[][2] = {APT_BACKEND_TRANSFORMER_OPS(COVERED_ROW)};
#undef COVERED_ROW

int main(void) {
    for (size_t i = 0; i < sizeof covered / sizeof covered[0]; i++)
        printf("op %-20s checked by %s\n", covered[i][0], covered[i][1]);
    g_rng = apt_rng_stream(4321, APT_RNG_TEST, 0, 0, 0);
    AptBackend *be = apt_backend_create("cpu");
    test_gemm_batched(be, 7, 5, 6, 3);
    test_gemm_batched(be, 203, 205, 207, 2); // 17 MFLOP per product: the sequential path
    test_layernorm(be, 5, 11);
    test_layernorm(be, 3, 131); // more than one column block of the dgamma reduction
    test_gelu(be);
    test_softmax(be);
    test_embed(be);
    test_pool(be, false);
    test_pool(be, true);
    test_drop_path(be);
    test_bf16_views(be);
    apt_backend_destroy(be);
    return apt_test_finish("test_transformer_ops");
}
