// cpu_loss_kernel.c — the sigmoid row kernel of the ranking losses: G and G' of s_qj - s_qi for a whole
// row, vectorised. This is where Smooth-AP and PNP spend their non-GEMM time (b * m * B terms).
//
// Why a file of its own: GCC only if-converts (and so vectorises) the clamp of DESIGN §3 without
// -ftrapping-math, which the pragma below drops for this file alone. Nothing in aptrain reads the
// floating-point exception flags, so the results are the same; NaN inputs still propagate to NaN.
#pragma GCC optimize("no-trapping-math")

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cpu_loss.h"

// exp(x) for |x| <= 50, branch-free: Cody-Waite reduction x = k ln2 + r with |r| <= ln2 / 2 (fdlibm's
// split of ln2, k ln2_hi exact for |k| < 2^11), degree-13 Taylor polynomial (truncation < 1e-17
// relative), 2^k written into the exponent bits. k = round(x / ln2) comes from adding 1.5 * 2^52,
// which leaves k in the low mantissa bits (no float->int conversion, which AVX2 lacks for 64 bits).
static inline double exp_poly(double x) {
    const double log2e = 1.4426950408889634, shifter = 6755399441055744.0;
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    double kd = x * log2e + shifter;
    double k = kd - shifter;
    double r = (x - k * ln2_hi) - k * ln2_lo;
    double p = 1.0 / 6227020800.0; // 1/13!
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t kb;
    memcpy(&kb, &kd, sizeof kb);
    uint64_t sb = (kb - 0x4338000000000000ull + 1023ull) << 52; // biased exponent k + 1023
    double scale;
    memcpy(&scale, &sb, sizeof scale);
    return p * scale;
}

double apt_loss_exp(double x) {
    return exp_poly(x);
}

void apt_loss_sigmoid_row(const double *s, double si, double inv_tau, int B, double *g, double *dg) {
#pragma omp simd
    for (int j = 0; j < B; j++) {
        double e = (si - s[j]) * inv_tau; // -(s_j - s_i) / tau
        double ec = e < -50.0 ? -50.0 : e;
        ec = ec > 50.0 ? 50.0 : ec;
        double keep = fabs(e) <= 50.0 ? inv_tau : 0.0; // torch.clamp passes no gradient outside
        double ex = exp_poly(ec), gj = 1.0 / (1.0 + ex);
        g[j] = gj;
        dg[j] = ex * gj * gj * keep; // G' = exp(e) G^2 / tau, accurate at both ends of the clamp
    }
}

void apt_loss_sigmoid_sums(const double *s, const double *same, double si, double inv_tau, int B, int x1,
                           int x2, double *dg, double *sum_same, double *sum_other) {
    double a = 0.0, b = 0.0;
#pragma omp simd reduction(+ : a, b)
    for (int j = 0; j < B; j++) {
        double e = (si - s[j]) * inv_tau;
        double ec = e < -50.0 ? -50.0 : e;
        ec = ec > 50.0 ? 50.0 : ec;
        double in = (j == x1 || j == x2) ? 0.0 : 1.0; // excluded columns: no term, no gradient
        double keep = fabs(e) <= 50.0 ? inv_tau * in : 0.0;
        double ex = exp_poly(ec), gj = in / (1.0 + ex);
        dg[j] = ex * gj * gj * keep * in;
        a += gj * same[j];
        b += gj * (1.0 - same[j]);
    }
    *sum_same = a;
    *sum_other = b;
}
