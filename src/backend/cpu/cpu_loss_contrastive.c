// cpu_loss_contrastive.c — contrastive loss on cosine similarity (Hadsell et al. 2006, in the similarity
// form of pytorch-metric-learning: pos_margin 1, neg_margin = margin), averaged per query.
//
// For query q with positives P' = class \ {q} and negatives N (other classes):
//   loss_q = (1 / |P'|) sum_{i in P'} relu(1 - s_qi) + (1 / |N|) sum_{j in N} relu(s_qj - margin)
//   loss   = (1 / B) sum_q loss_q          (an empty P' or N contributes 0)
// Gradient: -1 / |P'| to s_qi where 1 - s_qi > 0; 1 / |N| to s_qj where s_qj > margin.
#include "cpu_loss.h"

double apt_loss_contrastive_row(const AptLossParams *p, const AptLossRow *r) {
    const int B = r->B, q = r->q, lq = r->labels[q];
    const int npp = r->npos - 1, nn = B - r->npos;
    double lp = 0.0, ln = 0.0;
    for (int j = 0; j < B; j++) {
        if (j == q) continue;
        if (r->labels[j] == lq) {
            double v = 1.0 - r->s[j];
            if (v > 0) {
                lp += v;
                r->gs[j] = -r->w / npp;
            }
        } else {
            double v = r->s[j] - p->margin;
            if (v > 0) {
                ln += v;
                r->gs[j] = r->w / nn;
            }
        }
    }
    double l = 0.0;
    if (npp > 0) l += lp / npp;
    if (nn > 0) l += ln / nn;
    return r->w * l;
}
