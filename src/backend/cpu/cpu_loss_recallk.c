// cpu_loss_recallk.c — the Recall@k surrogate (Patel, Tolias, Matas, CVPR 2022, "Recall@k Surrogate Loss
// with Large Batches and Similarity Mixup"), official-code semantics (github yash0307/RecallatK_surrogate,
// src/losses.py), forward and backward for one query, O(|P| * B).
//
// G(d) = 1 / (1 + exp(-d / tau)) with the exponent clamped to [-50, 50] (DESIGN §3), and
// H_k(d) = G(d) with temperature tau_k instead of tau. For query q with positives P (q's class without q,
// |P| = m_q - 1) and k_n = min(k_n, B) for each of the K configured k (B: the gallery, or the real batch
// with SiMix, AptLossParams.recallk_k_rows, as the official code's min(bs, k) after pos_mixup):
//   rank_p     = 1 + sum_{j != p} G(s_qj - s_qp)        j over the whole batch, q itself included
//   recall_k   = min(sum_{p in P} H_k(k - rank_p), k) / min(k, |P|)
//   loss       = (1 / Q) sum_q (1 - (1 / K) sum_k recall_k)
// Q counts the queries with |P| >= 1 only: a query without positives has no recall and is left out of
// the loss and of Q (the official code divides by min(k, m - 1) = 0 there; it groups rows by position,
// m per class, which is the same as grouping by labels on its batches).
//
// Backward. With a_k = w / (K min(k, |P|)) (w = 1 / Q) and the clip factor f_k = 1 below the clip,
// 1/2 at it (torch.minimum splits the gradient at a tie) and 0 above:
//   dL/drank_p = sum_k f_k a_k H_k'(k - rank_p)
// and rank_p sends dL/drank_p * G'(s_qj - s_qp) to s_qj (j != p) and minus their sum to s_qp.
// The clip needs every positive's rank before any gradient is known. Rather than store |P| G' rows
// (O(m B) memory per thread) or evaluate every sigmoid twice, the first pass assumes no clip (f_k = 1)
// and scatters the gradient as it goes: the common case is then one pass, as Smooth-AP. Only when some
// sum reaches its k does a second pass re-evaluate the G' rows and take back (1 - f_k) of those k's
// share. (q is in every positive's gallery with s_qq the largest similarity, so rank_p >= ~2 and the
// clip is rare at the official temperatures: sum_p H_k(k - rank_p) >= k needs more than k positives
// ranked near the top.)
#include "cpu_loss.h"

bool apt_loss_recallk_counts(const AptLossParams *p, int npos, int B) {
    (void)p, (void)B;
    return npos >= 2; // at least one positive besides q
}

// rank_p and the G' row of positive p (dg[p] = 0: p is not in its own gallery).
static double rank_of(const AptLossRow *r, int p, double inv_tau, double *dg) {
    double in_class, other;
    apt_loss_sigmoid_sums(r->s, r->same, r->s[p], inv_tau, r->B, p, -1, dg, &in_class, &other);
    return 1.0 + in_class + other;
}

// gs[j] += c dg[j] for j != p, gs[p] -= their sum: the gradient through rank_p with dL/drank_p = c.
static void scatter(const AptLossRow *r, int p, double c, const double *dg) {
    double *gs = r->gs, acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (int j = 0; j < r->B; j++) {
        double v = c * dg[j];
        gs[j] += v;
        acc += v;
    }
    gs[p] -= acc;
}

double apt_loss_recallk_row(const AptLossParams *p, const AptLossRow *r) {
    const int B = r->B, q = r->q, np = r->npos - 1, nk = p->recallk_n;
    if (np <= 0 || nk <= 0) return 0.0;
    double *dg = r->tmp;
    const double inv_tau = 1.0 / p->tau;
    double kv[APT_LOSS_K_MAX], inv_tk[APT_LOSS_K_MAX], a[APT_LOSS_K_MAX], sum[APT_LOSS_K_MAX];
    const double Bk = p->recallk_k_rows > 0 ? (double)p->recallk_k_rows : (double)B; // SiMix: the real batch
    for (int t = 0; t < nk; t++) {
        kv[t] = p->recallk_k[t] < Bk ? p->recallk_k[t] : Bk;
        inv_tk[t] = 1.0 / p->recallk_tau[t];
        a[t] = r->w / (nk * (kv[t] < np ? kv[t] : (double)np));
        sum[t] = 0.0;
    }
    // Pass 1: ranks, the recall sums, and the gradient as if no sum were clipped.
    for (int k = 0; k < r->npos; k++) {
        const int i = r->pos[k];
        if (i == q) continue;
        const double rank = rank_of(r, i, inv_tau, dg);
        double c = 0.0;
        for (int t = 0; t < nk; t++) {
            double dh, h = apt_loss_sigmoid(kv[t] - rank, inv_tk[t], &dh);
            sum[t] += h;
            c += a[t] * dh;
        }
        scatter(r, i, c, dg);
    }
    double recall = 0.0, fix[APT_LOSS_K_MAX];
    bool clipped = false;
    for (int t = 0; t < nk; t++) {
        const double norm = kv[t] < np ? kv[t] : (double)np;
        recall += (sum[t] < kv[t] ? sum[t] : kv[t]) / norm;
        fix[t] = sum[t] > kv[t] ? 1.0 : (sum[t] == kv[t] ? 0.5 : 0.0); // the share pass 1 gave too much
        clipped |= fix[t] > 0.0;
    }
    // Pass 2, only where a sum reached its k: take back the clipped k's share of the gradient.
    for (int k = 0; clipped && k < r->npos; k++) {
        const int i = r->pos[k];
        if (i == q) continue;
        const double rank = rank_of(r, i, inv_tau, dg);
        double c = 0.0;
        for (int t = 0; t < nk; t++) {
            if (fix[t] == 0.0) continue;
            double dh;
            apt_loss_sigmoid(kv[t] - rank, inv_tk[t], &dh);
            c -= fix[t] * a[t] * dh;
        }
        scatter(r, i, c, dg);
    }
    return r->w * (1.0 - recall / nk);
}
