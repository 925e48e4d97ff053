// cpu_loss_multisim.c — multi-similarity loss (Wang et al., CVPR 2019) with its pair mining, official-code
// semantics (MS_loss: alpha = scale_pos, beta = scale_neg, lambda = thresh, margin = epsilon).
//
// For query q, positives P' = class \ {q}, negatives N:
//   mining:  keep negative j if s_qj + margin > min_{i in P'} s_qi,
//            keep positive i if s_qi - margin < max_{j in N} s_qj
//   loss_q = (1/alpha) log(1 + sum_{kept i} exp(-alpha (s_qi - lambda)))
//          + (1/beta)  log(1 + sum_{kept j} exp( beta (s_qj - lambda)))
//   loss = (1 / B) sum_q loss_q; a query with no positive, no negative, or an empty kept set
//   contributes 0 (the official code skips it but still divides by the batch size).
// The log(1 + sum exp) terms are computed with a max shift so non-normalised inputs cannot overflow.
#include "cpu_loss.h"

// log(1 + sum_k exp(x_k)) over the selected entries, and writes d/dx_k * scale into gs.
static double softplus_sum(const double *x, const unsigned char *sel, int B, double a, double lambda,
                           double scale, double *gs, double sign) {
    double m = 0.0; // the "1" is exp(0)
    for (int j = 0; j < B; j++)
        if (sel[j]) {
            double v = sign * a * (x[j] - lambda);
            if (v > m) m = v;
        }
    double z = exp(-m);
    for (int j = 0; j < B; j++)
        if (sel[j]) z += exp(sign * a * (x[j] - lambda) - m);
    for (int j = 0; j < B; j++)
        if (sel[j]) gs[j] += scale * sign * exp(sign * a * (x[j] - lambda) - m) / z;
    return m + log(z);
}

double apt_loss_multisim_row(const AptLossParams *p, const AptLossRow *r) {
    const double *s = r->s;
    const int B = r->B, q = r->q, lq = r->labels[q];
    if (r->npos < 2 || r->npos == B) return 0.0;
    double min_pos = INFINITY, max_neg = -INFINITY;
    for (int j = 0; j < B; j++) {
        if (j == q) continue;
        if (r->labels[j] == lq) {
            if (s[j] < min_pos) min_pos = s[j];
        } else if (s[j] > max_neg) {
            max_neg = s[j];
        }
    }
    // tmp doubles as the selection mask: 1 = kept positive, 2 = kept negative.
    unsigned char *selp = (unsigned char *)r->tmp, *selneg = selp + B;
    int kp = 0, kn = 0;
    for (int j = 0; j < B; j++) {
        selp[j] = 0;
        if (j == q) continue;
        if (r->labels[j] == lq) {
            if (s[j] - p->ms_margin < max_neg) selp[j] = 1, kp++;
        }
    }
    for (int j = 0; j < B; j++) {
        selneg[j] = 0;
        if (r->labels[j] != lq && s[j] + p->ms_margin > min_pos) selneg[j] = 1, kn++;
    }
    if (kp == 0 || kn == 0) return 0.0;
    double lpos = softplus_sum(s, selp, B, p->ms_alpha, p->ms_lambda, r->w, r->gs, -1.0) / p->ms_alpha;
    double lneg = softplus_sum(s, selneg, B, p->ms_beta, p->ms_lambda, r->w, r->gs, 1.0) / p->ms_beta;
    return r->w * (lpos + lneg);
}
