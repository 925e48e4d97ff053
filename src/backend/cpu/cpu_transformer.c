// cpu_transformer.c — the transformer ops of the op table on the CPU (backend.h, "transformer ops"):
// batched GEMM (OpenBLAS per batch entry), LayerNorm, GELU, row softmax, ViT token embedding and
// pooling, drop-path. OpenMP over independent rows/columns; every reduction runs in a fixed order inside
// one thread (float64 accumulators), so results do not depend on the thread count (GEMM aside).
#include "cpu_transformer.h"

#include "backend/drop_path.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

// Small products (attention heads: 197×197×64 is 2.5 MFLOP) gain nothing from OpenBLAS's own threads,
// whose wake-up and spinning cost more than the product: those run as single-threaded GEMMs in parallel
// over the batch (as torch's CPU bmm does). Each C_i is one single-threaded call either way, so the
// result does not depend on the thread count.
#define APT_GEMM_SMALL_FLOPS (16.0 * 1024 * 1024)

static void cpu_gemm_batched(AptBackend *be, bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
                             int lda, long long sA, const float *B, int ldb, long long sB, float beta, float *C,
                             int ldc, long long sC, int batch) {
    (void)be;
    const CBLAS_TRANSPOSE opa = ta ? CblasTrans : CblasNoTrans, opb = tb ? CblasTrans : CblasNoTrans;
    if (batch > 1 && 2.0 * M * N * K <= APT_GEMM_SMALL_FLOPS) {
        const int blas_threads = openblas_get_num_threads();
        openblas_set_num_threads(1);
#pragma omp parallel for schedule(static)
        for (int i = 0; i < batch; i++)
            cblas_sgemm(CblasRowMajor, opa, opb, M, N, K, alpha, A + i * sA, lda, B + i * sB, ldb, beta, C + i * sC,
                        ldc);
        openblas_set_num_threads(blas_threads);
        return;
    }
    for (int i = 0; i < batch; i++)
        cblas_sgemm(CblasRowMajor, opa, opb, M, N, K, alpha, A + i * sA, lda, B + i * sB, ldb, beta, C + i * sC, ldc);
}

static void cpu_layernorm_forward(AptBackend *be, int R, int D, const float *x, const float *gamma,
                                  const float *beta, float eps, float *y, float *mean, float *rstd) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        const float *xr = x + (size_t)r * D;
        double s = 0, ss = 0;
        for (int d = 0; d < D; d++)
            s += xr[d];
        const double mu = s / D;
        for (int d = 0; d < D; d++) {
            double c = xr[d] - mu;
            ss += c * c;
        }
        const float m = (float)mu, rs = (float)(1.0 / sqrt(ss / D + (double)eps));
        float *yr = y + (size_t)r * D;
        for (int d = 0; d < D; d++)
            yr[d] = (xr[d] - m) * rs * gamma[d] + beta[d];
        mean[r] = m;
        rstd[r] = rs;
    }
}

static void cpu_layernorm_backward(AptBackend *be, int R, int D, const float *x, const float *dy,
                                   const float *gamma, const float *mean, const float *rstd, float *dx,
                                   float *dgamma, float *dbeta) {
    (void)be;
    if (dx) {
#pragma omp parallel for schedule(static)
        for (int r = 0; r < R; r++) {
            const float *xr = x + (size_t)r * D, *gr = dy + (size_t)r * D;
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
            const float *xr = x + (size_t)r * D, *gr = dy + (size_t)r * D;
            const float m = mean[r], rs = rstd[r];
            for (int d = d0; d < d1; d++) {
                sg[d - d0] += (double)gr[d] * ((xr[d] - m) * rs);
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

static void cpu_gelu_forward(AptBackend *be, size_t n, const float *x, float *y) {
    (void)be;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++)
        y[i] = 0.5f * x[i] * (1.0f + fast_erff(x[i] * APT_INV_SQRT2));
}

static void cpu_gelu_backward(AptBackend *be, size_t n, const float *x, const float *dy, float *dx) {
    (void)be;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        const float cdf = 0.5f * (1.0f + fast_erff(v * APT_INV_SQRT2)),
                    pdf = APT_INV_SQRT_2PI * fast_expf(-0.5f * v * v);
        dx[i] = dy[i] * (cdf + v * pdf);
    }
}

static void cpu_softmax_forward(AptBackend *be, int R, int L, const float *x, float *y) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        const float *xr = x + (size_t)r * L;
        float *yr = y + (size_t)r * L;
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
    }
}

static void cpu_softmax_backward(AptBackend *be, int R, int L, const float *y, const float *dy, float *dx) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++) {
        const float *yr = y + (size_t)r * L, *gr = dy + (size_t)r * L;
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
                                  const float *pos, float *y) {
    (void)be;
    const int T = P + 1;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        float *ys = y + (size_t)s * T * D;
        const float *ps = patch + (size_t)s * D * P;
        for (int d = 0; d < D; d++)
            ys[d] = cls[d] + pos[d];
        for (int t = 1; t < T; t++)
            for (int d = 0; d < D; d++)
                ys[(size_t)t * D + d] = ps[(size_t)d * P + (t - 1)] + pos[(size_t)t * D + d];
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

static void cpu_token_pool_forward(AptBackend *be, int n, int T, int D, bool mean, const float *x, float *y) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        const float *xs = x + (size_t)s * T * D;
        float *ys = y + (size_t)s * D;
        if (!mean) {
            memcpy(ys, xs, (size_t)D * sizeof(float));
            continue;
        }
        for (int d = 0; d < D; d++) {
            double acc = 0;
            for (int t = 1; t < T; t++)
                acc += xs[(size_t)t * D + d];
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
                          uint32_t step, uint32_t sample0, uint32_t layer, const float *x, float *y) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n; s++) {
        const float f = apt_drop_path_factor(p, seed, epoch, step, sample0 + (uint32_t)s, layer);
        const float *xs = x + (size_t)s * len;
        float *ys = y + (size_t)s * len;
        for (size_t i = 0; i < len; i++)
            ys[i] = xs[i] * f;
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
