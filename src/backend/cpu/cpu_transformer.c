// cpu_transformer.c — the transformer ops of the op table on the CPU (backend.h, "transformer ops"):
// batched GEMM (OpenBLAS per batch entry), LayerNorm, GELU, row softmax, ViT token embedding and
// pooling, drop-path. OpenMP over independent rows/columns; every reduction runs in a fixed order inside
// one thread (float64 accumulators), so results do not depend on the thread count (GEMM aside).
//
// Views (backend.h): each activation argument is fp32 or bf16. A kernel reads a row (or chunk) of a bf16
// view widened exactly into an fp32 buffer, runs the fp32 code on it, and rounds a bf16 output once when
// it stores it (as cpu_bf16_act.c does for the conv chain); an fp32 view is read and written in place, so
// the fp32 forms are the very same arithmetic as before views (bitwise). GEMMs widen bf16 operands into
// a workspace and run sgemm (as cpu_bf16.c's bf16 GEMM).
#include "cpu_transformer.h"

#include "backend/drop_path.h"
#include "core/check.h"
#include "cpu_ops.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define F32P(t) ((float *)(t).p)
#define BF16P(t) ((uint16_t *)(t).p)

// The dtypes the transformer ops take (absent views pass).
static void want(const char *op, const char *arg, AptTensor t) {
    APT_CHECK(!t.p || t.dtype == APT_F32 || t.dtype == APT_BF16, "%s: %s is %s; the transformer ops take fp32 or bf16",
              op, arg, apt_dtype_name(t.dtype));
}
static inline bool is_bf16(AptTensor t) {
    return t.dtype == APT_BF16;
}
// Element i of a view, as fp32 (exact).
static inline float ldv(AptTensor t, size_t i) {
    return is_bf16(t) ? apt_bf16_load(BF16P(t)[i]) : F32P(t)[i];
}
// n values of t from element off, as fp32: t's own storage when fp32, else widened into buf.
static inline const float *in_f32(AptTensor t, size_t off, size_t n, float *buf) {
    if (!is_bf16(t)) return F32P(t) + off;
    const uint16_t *src = BF16P(t) + off;
    for (size_t i = 0; i < n; i++)
        buf[i] = apt_bf16_load(src[i]);
    return buf;
}
// Where n fp32 results for t at element off are written: t itself when fp32, else buf (then out_done).
static inline float *out_f32(AptTensor t, size_t off, float *buf) {
    return is_bf16(t) ? buf : F32P(t) + off;
}
static inline void out_done(AptTensor t, size_t off, size_t n, const float *v) {
    if (!is_bf16(t)) return;
    uint16_t *dst = BF16P(t) + off;
    for (size_t i = 0; i < n; i++)
        dst[i] = apt_bf16_round(v[i]);
}

// Small products (attention heads: 197×197×64 is 2.5 MFLOP) gain nothing from OpenBLAS's own threads,
// whose wake-up and spinning cost more than the product: those run as single-threaded GEMMs in parallel
// over the batch (as torch's CPU bmm does). Each C_i is one single-threaded call either way, so the
// result does not depend on the thread count.
#define APT_GEMM_SMALL_FLOPS (16.0 * 1024 * 1024)

// The workspace of at least `floats` (AptCpuImpl.tws), grown when a call needs more.
static float *tws(AptBackend *be, size_t floats) {
    AptCpuImpl *m = be->impl;
    if (floats > m->tws_floats) {
        free(m->tws);
        m->tws = apt_aligned_alloc(floats * sizeof(float));
        m->tws_floats = floats;
    }
    return m->tws;
}

// rows × cols of a bf16 matrix with leading dimension ld, widened into d (leading dimension cols).
static void widen_mat(const uint16_t *s, int rows, int cols, int ld, float *d) {
#pragma omp parallel for schedule(static) if ((size_t)rows * cols > 262144)
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            d[(size_t)r * cols + c] = apt_bf16_load(s[(size_t)r * ld + c]);
}

// Workspace floats of one batch entry: its bf16 operands and a bf16 C, as fp32.
static size_t entry_floats(int M, int N, int K, AptTensor A, AptTensor B, AptTensor C) {
    return (is_bf16(A) ? (size_t)M * K : 0) + (is_bf16(B) ? (size_t)K * N : 0) + (is_bf16(C) ? (size_t)M * N : 0);
}

// One entry C_i = alpha op(A_i) op(B_i) + beta C_i (+ bias): bf16 operands widened into ws, fp32 sgemm, a
// bf16 C rounded once. A bias is broadcast into C first and the product added with beta 1 (as
// linear_forward).
static void gemm_entry(bool ta, bool tb, int M, int N, int K, float alpha, AptTensor A, size_t oa, int lda,
                       AptTensor B, size_t ob, int ldb, float beta, AptTensor C, size_t oc, int ldc, const float *bias,
                       float *ws) {
    const float *a = F32P(A) + oa, *b = F32P(B) + ob;
    int la = lda, lb = ldb, lc = ldc;
    if (is_bf16(A)) {
        const int rows = ta ? K : M, cols = ta ? M : K;
        widen_mat(BF16P(A) + oa, rows, cols, lda, ws);
        a = ws, la = cols, ws += (size_t)rows * cols;
    }
    if (is_bf16(B)) {
        const int rows = tb ? N : K, cols = tb ? K : N;
        widen_mat(BF16P(B) + ob, rows, cols, ldb, ws);
        b = ws, lb = cols, ws += (size_t)rows * cols;
    }
    float *c = F32P(C) + oc;
    if (is_bf16(C)) {
        c = ws, lc = N;
        if (beta != 0.0f) widen_mat(BF16P(C) + oc, M, N, ldc, c);
    }
    if (bias) {
        for (int i = 0; i < M; i++)
            memcpy(c + (size_t)i * lc, bias, (size_t)N * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, a, la,
                b, lb, beta, c, lc);
    if (is_bf16(C)) {
#pragma omp parallel for schedule(static) if ((size_t)M * N > 262144)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                BF16P(C)[oc + (size_t)i * ldc + j] = apt_bf16_round(c[(size_t)i * N + j]);
    }
}

static void cpu_gemm_batched(AptBackend *be, bool ta, bool tb, int M, int N, int K, float alpha, AptTensor A, int lda,
                             long long sA, AptTensor B, int ldb, long long sB, float beta, AptTensor C, int ldc,
                             long long sC, int batch, const float *bias) {
    want("gemm_batched", "A", A), want("gemm_batched", "B", B), want("gemm_batched", "C", C);
    APT_CHECK(!bias || beta == 0.0f, "gemm_batched: a bias needs beta 0 (got %g)", beta);
    if (M == 0 || N == 0 || batch == 0) return;
    const size_t per = entry_floats(M, N, K, A, B, C);
    const bool small = batch > 1 && 2.0 * M * N * K <= APT_GEMM_SMALL_FLOPS;
    float *ws = per ? tws(be, per * (small ? (size_t)batch : 1)) : NULL;
    if (small) {
        const int blas_threads = openblas_get_num_threads();
        openblas_set_num_threads(1);
#pragma omp parallel for schedule(static)
        for (int i = 0; i < batch; i++)
            gemm_entry(ta, tb, M, N, K, alpha, A, (size_t)(i * sA), lda, B, (size_t)(i * sB), ldb, beta, C,
                       (size_t)(i * sC), ldc, bias, ws ? ws + (size_t)i * per : NULL);
        openblas_set_num_threads(blas_threads);
        return;
    }
    for (int i = 0; i < batch; i++)
        gemm_entry(ta, tb, M, N, K, alpha, A, (size_t)(i * sA), lda, B, (size_t)(i * sB), ldb, beta, C, (size_t)(i * sC),
                   ldc, bias, ws);
}

static void cpu_layernorm_forward(AptBackend *be, int R, int D, AptTensor x, const float *gamma,
                                  const float *beta, float eps, AptTensor y, float *mean, float *rstd) {
    (void)be;
    want("layernorm_forward", "x", x), want("layernorm_forward", "y", y);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        float bx[D], by[D];
        const float *xr = in_f32(x, (size_t)r * D, (size_t)D, bx);
        double s = 0, ss = 0;
        for (int d = 0; d < D; d++)
            s += xr[d];
        const double mu = s / D;
        for (int d = 0; d < D; d++) {
            double c = xr[d] - mu;
            ss += c * c;
        }
        const float m = (float)mu, rs = (float)(1.0 / sqrt(ss / D + (double)eps));
        float *yr = out_f32(y, (size_t)r * D, by);
        for (int d = 0; d < D; d++)
            yr[d] = (xr[d] - m) * rs * gamma[d] + beta[d];
        out_done(y, (size_t)r * D, (size_t)D, yr);
        mean[r] = m;
        rstd[r] = rs;
    }
}

static void cpu_layernorm_backward(AptBackend *be, int R, int D, AptTensor x, const float *dy,
                                   const float *gamma, const float *mean, const float *rstd, float *dx,
                                   float *dgamma, float *dbeta) {
    (void)be;
    want("layernorm_backward", "x", x);
    if (dx) {
#pragma omp parallel for schedule(static)
        for (int r = 0; r < R; r++) {
            float bx[D];
            const float *xr = in_f32(x, (size_t)r * D, (size_t)D, bx), *gr = dy + (size_t)r * D;
            const float m = mean[r], rs = rstd[r];
            double sg = 0, sgx = 0;
            for (int d = 0; d < D; d++) {
                double g = (double)gr[d] * gamma[d];
                sg += g;
                sgx += g * ((xr[d] - m) * rs);
            }
            const float a = (float)(sg / D), b = (float)(sgx / D);
            float *dr = dx + (size_t)r * D;
            for (int d = 0; d < D; d++)
                dr[d] = rs * (gr[d] * gamma[d] - a - (xr[d] - m) * rs * b);
        }
    }
    if (!dgamma && !dbeta) return;
    // Column blocks in parallel, rows in order inside each: the same sums for any thread count.
    enum { CB = 64 };
    const int nb = (D + CB - 1) / CB;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < nb; b++) {
        const int d0 = b * CB, d1 = d0 + CB < D ? d0 + CB : D;
        double sg[CB] = {0}, sb[CB] = {0};
        for (int r = 0; r < R; r++) {
            const float *gr = dy + (size_t)r * D;
            const size_t xo = (size_t)r * D;
            const float m = mean[r], rs = rstd[r];
            for (int d = d0; d < d1; d++) {
                sg[d - d0] += (double)gr[d] * ((ldv(x, xo + d) - m) * rs);
                sb[d - d0] += gr[d];
            }
        }
        for (int d = d0; d < d1; d++) {
            if (dgamma) dgamma[d] += (float)sg[d - d0];
            if (dbeta) dbeta[d] += (float)sb[d - d0];
        }
    }
}

// exp and erf in float arithmetic that the compiler vectorises (libm's expf/erff are scalar calls and were
// ~10% of a ViT step): exp by Cody-Waite range reduction to |r| <= ln2/2 and Cephes' degree-6 polynomial
// (relative error ~1e-7 ≈ 1 ulp; inputs clamped to [-87.3, 88]: below, the result is ~1e-38 instead of a
// denormal or 0 — immaterial to a softmax or a Gaussian tail); erf by Abramowitz & Stegun 7.1.26
// (absolute error <= 1.5e-7, the size of float rounding of O(1) values). The CUDA twins use erff/expf; the
// two agree within the 1e-5 bound of test_transformer_ops_cuda.
// No floating-point traps are ever enabled here, so comparisons need not be kept as branches: this lets GCC
// turn the clamps into selects and vectorise the loops that call these two functions.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
static inline float fast_expf(float x) {
    x = x > -87.3f ? x : -87.3f;
    x = x < 88.0f ? x : 88.0f;
    const float k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; // round to nearest (1.5·2^23)
    float r = x - k * 0.693145751953125f;
    r = r - k * 1.428606765330187045e-06f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    const int32_t bits = ((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float fast_erff(float x) {
    const float a = fabsf(x), t = 1.0f / (1.0f + 0.3275911f * a);
    const float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t +
                        0.254829592f) * t;
    const float e = 1.0f - poly * fast_expf(-a * a);
    return copysignf(e, x);
}

#define APT_INV_SQRT2 0.70710678118654752440f
#define APT_INV_SQRT_2PI 0.39894228040143267794f

// Elementwise ops run over chunks of CHUNK elements (a bf16 chunk widened into a stack buffer).
#define CHUNK 2048

static void cpu_gelu_forward(AptBackend *be, size_t n, AptTensor x, AptTensor y) {
    (void)be;
    want("gelu_forward", "x", x), want("gelu_forward", "y", y);
    const size_t nc = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < nc; c++) {
        const size_t o = c * CHUNK, m = n - o < CHUNK ? n - o : CHUNK;
        float bx[CHUNK], by[CHUNK];
        const float *xs = in_f32(x, o, m, bx);
        float *ys = out_f32(y, o, by);
#pragma omp simd
        for (size_t i = 0; i < m; i++)
            ys[i] = 0.5f * xs[i] * (1.0f + fast_erff(xs[i] * APT_INV_SQRT2));
        out_done(y, o, m, ys);
    }
}

static void cpu_gelu_backward(AptBackend *be, size_t n, AptTensor x, const float *dy, float *dx) {
    (void)be;
    want("gelu_backward", "x", x);
    const size_t nc = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < nc; c++) {
        const size_t o = c * CHUNK, m = n - o < CHUNK ? n - o : CHUNK;
        float bx[CHUNK];
        const float *xs = in_f32(x, o, m, bx), *gs = dy + o;
        float *ds = dx + o;
#pragma omp simd
        for (size_t i = 0; i < m; i++) {
            const float v = xs[i];
            const float cdf = 0.5f * (1.0f + fast_erff(v * APT_INV_SQRT2)),
                        pdf = APT_INV_SQRT_2PI * fast_expf(-0.5f * v * v);
            ds[i] = gs[i] * (cdf + v * pdf);
        }
    }
}

static void cpu_softmax_forward(AptBackend *be, int R, int L, AptTensor x, AptTensor y) {
    (void)be;
    want("softmax_forward", "x", x), want("softmax_forward", "y", y);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        float bx[L], by[L];
        const float *xr = in_f32(x, (size_t)r * L, (size_t)L, bx);
        float *yr = out_f32(y, (size_t)r * L, by);
        float mx = xr[0];
        for (int j = 1; j < L; j++)
            mx = xr[j] > mx ? xr[j] : mx;
        for (int j = 0; j < L; j++)
            yr[j] = fast_expf(xr[j] - mx);
        double s = 0;
        for (int j = 0; j < L; j++)
            s += yr[j];
        const float inv = (float)(1.0 / s);
        for (int j = 0; j < L; j++)
            yr[j] *= inv;
        out_done(y, (size_t)r * L, (size_t)L, yr);
    }
}

static void cpu_softmax_backward(AptBackend *be, int R, int L, AptTensor y, const float *dy, float *dx) {
    (void)be;
    want("softmax_backward", "y", y);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        float by[L];
        const float *yr = in_f32(y, (size_t)r * L, (size_t)L, by), *gr = dy + (size_t)r * L;
        float *dr = dx + (size_t)r * L;
        double s = 0;
        for (int j = 0; j < L; j++)
            s += (double)yr[j] * gr[j];
        const float sf = (float)s;
        for (int j = 0; j < L; j++)
            dr[j] = yr[j] * (gr[j] - sf);
    }
}

static void cpu_vit_embed_forward(AptBackend *be, int n, int P, int D, const float *patch, const float *cls,
                                  const float *pos, AptTensor y) {
    (void)be;
    want("vit_embed_forward", "y", y);
    const int T = P + 1;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        float by[D];
        const float *ps = patch + (size_t)s * D * P;
        for (int t = 0; t < T; t++) {
            const size_t o = ((size_t)s * T + t) * D;
            float *yr = out_f32(y, o, by);
            if (t == 0)
                for (int d = 0; d < D; d++)
                    yr[d] = cls[d] + pos[d];
            else
                for (int d = 0; d < D; d++)
                    yr[d] = ps[(size_t)d * P + (t - 1)] + pos[(size_t)t * D + d];
            out_done(y, o, (size_t)D, yr);
        }
    }
}

static void cpu_vit_embed_backward(AptBackend *be, int n, int P, int D, const float *dy, float *dpatch,
                                   float *dcls, float *dpos) {
    (void)be;
    const int T = P + 1;
    if (dpatch) {
#pragma omp parallel for schedule(static)
        for (int s = 0; s < n; s++)
            for (int d = 0; d < D; d++)
                for (int p = 0; p < P; p++)
                    dpatch[((size_t)s * D + d) * P + p] = dy[((size_t)s * T + 1 + p) * D + d];
    }
    if (dpos || dcls) { // each (t, d) sums over samples in order
#pragma omp parallel for schedule(static)
        for (int t = 0; t < T; t++)
            for (int d = 0; d < D; d++) {
                double acc = 0;
                for (int s = 0; s < n; s++)
                    acc += dy[((size_t)s * T + t) * D + d];
                if (dpos) dpos[(size_t)t * D + d] += (float)acc;
                if (t == 0 && dcls) dcls[d] += (float)acc;
            }
    }
}

static void cpu_token_pool_forward(AptBackend *be, int n, int T, int D, bool mean, AptTensor x, float *y) {
    (void)be;
    want("token_pool_forward", "x", x);
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        const size_t xs = (size_t)s * T * D;
        float *ys = y + (size_t)s * D;
        if (!mean) {
            for (int d = 0; d < D; d++)
                ys[d] = ldv(x, xs + d);
            continue;
        }
        for (int d = 0; d < D; d++) {
            double acc = 0;
            for (int t = 1; t < T; t++)
                acc += ldv(x, xs + (size_t)t * D + d);
            ys[d] = (float)(acc / (T - 1));
        }
    }
}

static void cpu_token_pool_backward(AptBackend *be, int n, int T, int D, bool mean, const float *dy, float *dx) {
    (void)be;
    const float w = mean ? 1.0f / (float)(T - 1) : 0.0f;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        const float *gs = dy + (size_t)s * D;
        float *xs = dx + (size_t)s * T * D;
        for (int d = 0; d < D; d++)
            xs[d] = mean ? 0.0f : gs[d];
        for (int t = 1; t < T; t++)
            for (int d = 0; d < D; d++)
                xs[(size_t)t * D + d] = gs[d] * w;
    }
}

static void cpu_drop_path(AptBackend *be, int n, size_t len, float p, uint64_t seed, uint32_t epoch,
                          uint32_t step, uint32_t sample0, uint32_t layer, AptTensor x, AptTensor y) {
    (void)be;
    want("drop_path", "x", x), want("drop_path", "y", y);
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        const float f = apt_drop_path_factor(p, seed, epoch, step, sample0 + (uint32_t)s, layer);
        for (size_t o = (size_t)s * len, end = o + len; o < end; o += CHUNK) {
            const size_t m = end - o < CHUNK ? end - o : CHUNK;
            float bx[CHUNK], by[CHUNK];
            const float *xs = in_f32(x, o, m, bx);
            float *ys = out_f32(y, o, by);
            for (size_t i = 0; i < m; i++)
                ys[i] = xs[i] * f;
            out_done(y, o, m, ys);
        }
    }
}

void apt_cpu_transformer_register(AptBackend *be) {
    be->gemm_batched = cpu_gemm_batched;
    be->layernorm_forward = cpu_layernorm_forward;
    be->layernorm_backward = cpu_layernorm_backward;
    be->gelu_forward = cpu_gelu_forward;
    be->gelu_backward = cpu_gelu_backward;
    be->softmax_forward = cpu_softmax_forward;
    be->softmax_backward = cpu_softmax_backward;
    be->vit_embed_forward = cpu_vit_embed_forward;
    be->vit_embed_backward = cpu_vit_embed_backward;
    be->token_pool_forward = cpu_token_pool_forward;
    be->token_pool_backward = cpu_token_pool_backward;
    be->drop_path = cpu_drop_path;
}
