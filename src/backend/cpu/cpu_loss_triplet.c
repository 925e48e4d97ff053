// cpu_loss_triplet.c — triplet loss with a margin on cosine similarity (Schroff et al. 2015), in-batch.
//
// For query (anchor) q, positives P' = class \ {q}, negatives N = other classes:
//   all:      loss_q = (1 / (|P'| |N|)) sum_{i in P'} sum_{j in N} relu(s_qj - s_qi + margin)
//   semihard: loss_q = (1 / |P'|) sum_{i in P'} relu(s_qn(i) - s_qi + margin), where n(i) is the
//             most similar negative that is still less similar than i (FaceNet's semi-hard negative,
//             TensorFlow's triplet_semihard_loss rule), or, if no negative is below s_qi, the least
//             similar negative; ties go to the lowest row index.
//   loss = (1 / Q) sum over the Q queries that have at least one positive and one negative.
// The selection of n(i) is piecewise constant, so the gradient flows through the selected pair only.
#include "cpu_loss.h"

bool apt_loss_triplet_counts(const AptLossParams *p, int npos, int B) {
    (void)p;
    return npos >= 2 && npos < B;
}

double apt_loss_triplet_row(const AptLossParams *p, const AptLossRow *r) {
    const double *s = r->s;
    const int B = r->B, q = r->q, lq = r->labels[q];
    const int npp = r->npos - 1, nn = B - r->npos;
    if (npp <= 0 || nn <= 0) return 0.0;
    double loss = 0.0;
    for (int k = 0; k < r->npos; k++) {
        const int i = r->pos[k];
        if (i == q) continue;
        const double si = s[i];
        if (!p->semihard) {
            const double c = r->w / ((double)npp * nn);
            for (int j = 0; j < B; j++) {
                if (r->labels[j] == lq) continue;
                double v = s[j] - si + p->margin;
                if (v > 0) {
                    loss += v / ((double)npp * nn);
                    r->gs[j] += c;
                    r->gs[i] -= c;
                }
            }
        } else {
            int below = -1, lowest = -1;
            for (int j = 0; j < B; j++) {
                if (r->labels[j] == lq) continue;
                if (s[j] < si && (below < 0 || s[j] > s[below])) below = j;
                if (lowest < 0 || s[j] < s[lowest]) lowest = j;
            }
            const int n = below >= 0 ? below : lowest;
            double v = s[n] - si + p->margin;
            if (v > 0) {
                loss += v / npp;
                r->gs[n] += r->w / npp;
                r->gs[i] -= r->w / npp;
            }
        }
    }
    return r->w * loss;
}
