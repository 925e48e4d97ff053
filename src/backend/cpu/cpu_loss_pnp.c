// cpu_loss_pnp.c — PNP losses (Li et al., AAAI 2022: "only penalizing negative instances before positive
// ones is enough"), official-code semantics, forward and backward for one query, O(m * B).
//
// For query q with class P (q included, |P| = m_q) and i in P:
//   N(q, i) = sum_{j not in P} G(s_qj - s_qi),  G as in DESIGN §3 (exponent clamped to [-50, 50])
//   pnp-o   f(N) = N                        f' = 1
//   pnp-ds  f(N) = log(1 + N)               f' = 1 / (1 + N)
//   pnp-dq  f(N) = (1 + N)^(-alpha)         f' = -alpha (1 + N)^(-alpha - 1);  loss = 1 - mean f
//   pnp-iu  f(N) = (1 + N) log(1 + N)       f' = log(1 + N) + 1
//   pnp-ib  f(N) = (b N - log(1 + b N)) / b^2   f' = N / (1 + b N)
//   loss = (1 / B) sum_q (1 / m_q) sum_{i in P} f(N(q, i))   (pnp-dq: (1 / B) sum_q (1 - ...))
// A query alone in its class scores i = q only; with no negatives (one class) N = 0.
// Backward: dL/dN(q, i) = w f' / m_q (negated for pnp-dq); the term G(s_qj - s_qi) sends coef * G'
// to s_qj and -coef * G' to s_qi.
#include "cpu_loss.h"

double apt_loss_pnp_row(const AptLossParams *p, const AptLossRow *r) {
    const double *s = r->s, *same = r->same;
    double *gs = r->gs, *dg = r->tmp;
    const int B = r->B, variant = p->impl->variant;
    const double inv_tau = 1.0 / p->tau, wq = r->w / r->npos;
    double sum_f = 0.0;
    for (int k = 0; k < r->npos; k++) {
        const int i = r->pos[k];
        double in_class, n; // N(q, i): negatives only (positives' G' is masked below)
        apt_loss_sigmoid_sums(s, same, s[i], inv_tau, B, -1, -1, dg, &in_class, &n);
        double f, fp;
        switch (variant) {
        case APT_PNP_DS:
            f = log1p(n);
            fp = 1.0 / (1.0 + n);
            break;
        case APT_PNP_DQ:
            f = pow(1.0 + n, -p->alpha);
            fp = p->alpha * f / (1.0 + n); // d(1 - f)/dN: pnp-dq minimises 1 - mean f
            break;
        case APT_PNP_IU:
            f = (1.0 + n) * log1p(n);
            fp = log1p(n) + 1.0;
            break;
        case APT_PNP_IB:
            f = (p->b * n - log1p(p->b * n)) / (p->b * p->b);
            fp = n / (1.0 + p->b * n);
            break;
        default:
            f = n;
            fp = 1.0;
            break;
        }
        sum_f += f;
        const double c0 = wq * fp;
        double acc = 0.0;
#pragma omp simd reduction(+ : acc)
        for (int j = 0; j < B; j++) {
            double c = c0 * dg[j] * (1.0 - same[j]);
            gs[j] += c;
            acc += c;
        }
        gs[i] -= acc;
    }
    const double mean_f = sum_f / r->npos;
    return r->w * (variant == APT_PNP_DQ ? 1.0 - mean_f : mean_f);
}
