// cpu_loss_smoothap.c — Smooth-AP (Brown et al., ECCV 2020), forward and backward for one query, O(m * B).
//
// G(d) = 1 / (1 + exp(-d / tau)), exponent clamped to [-50, 50] (DESIGN §3). For query q with class
// P (q included, |P| = m_q) and i in P' (the positives that are scored):
//   R_all(q, i) = 1 + sum_{j in J, j != i} G(s_qj - s_qi)
//   R_pos(q, i) = 1 + sum_{j in P', j != i} G(s_qj - s_qi)
//   AP_q = (1 / |P'|) sum_{i in P'} R_pos / R_all,   loss = (1 / Q) sum_q (1 - AP_q)
// include_self = true (official code, default): P' = P and J = the whole batch (q included), so a
//   query alone in its class still counts, with AP_q = 1 / R_all(q, q); Q = B.
// include_self = false (the paper): P' = P \ {q}, J = batch \ {q}; a query with no other positive has
//   no AP and is left out of the mean: Q = number of queries with m_q >= 2 (if Q = 0 the loss is 0).
// Backward: dL/dR_all = w R_pos / (|P'| R_all^2), dL/dR_pos = -w / (|P'| R_all) with w = 1 / Q; each
// term G(s_qj - s_qi) then sends coef * G' to s_qj and -coef * G' to s_qi. The per-i sums are formed
// before the backward sweep over j reuses the stored G' row, so each sigmoid is evaluated once.
#include "cpu_loss.h"

bool apt_loss_smoothap_counts(const AptLossParams *p, int npos, int B) {
    (void)B;
    return p->include_self || npos >= 2;
}

double apt_loss_smoothap_row(const AptLossParams *p, const AptLossRow *r) {
    const double *s = r->s, *same = r->same;
    double *gs = r->gs, *dg = r->tmp;
    const int B = r->B, q = r->q;
    const bool self = p->include_self;
    const int np = self ? r->npos : r->npos - 1;
    if (np <= 0) return 0.0;
    const double inv_tau = 1.0 / p->tau, wq = r->w / np;
    double ap = 0.0;
    for (int k = 0; k < r->npos; k++) {
        const int i = r->pos[k];
        if (!self && i == q) continue;
        double in_class, other; // the query itself is not in the gallery of the paper's form
        apt_loss_sigmoid_sums(s, same, s[i], inv_tau, B, i, self ? -1 : q, dg, &in_class, &other);
        const double ra = 1.0 + in_class + other, rp = 1.0 + in_class;
        ap += rp / ra;
        const double ca = wq * rp / (ra * ra), cp = -wq / ra;
        double acc = 0.0;
#pragma omp simd reduction(+ : acc)
        for (int j = 0; j < B; j++) {
            double c = (ca + cp * same[j]) * dg[j];
            gs[j] += c;
            acc += c;
        }
        gs[i] -= acc;
    }
    return r->w * (1.0 - ap / np);
}
