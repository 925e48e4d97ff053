// loss_pair.h — the per-(query, positive) arithmetic of the fused CUDA ranking losses, shared by the CUDA
// kernels (src/backend/cuda/cuda_loss.cu) and a host test (tests/loss/test_loss_pair.c) that runs the
// very same functions in plain C against apt_loss_compute, so the decomposition the kernels use is
// checked on any machine; on a GPU only the launch scaffolding and the reduction order differ.
//
// Decomposition (cpu/cpu_loss_smoothap.c / cpu/cpu_loss_pnp.c give the math).
// For query q, positive i (k-th of q's class):
//   pass 1 (pair):  sums over j of G and G' (all j, and same-class j) -> coefficients c1, c2, the pair's
//                   loss term, and acc = Σ_j c_j G'_j (what i itself receives, negated)
//   pass 2 (grad):  gs[q, j] = Σ_k c(k, j) G'(s_qj - s_q,i_k)  -  [j in q's class] acc(rank of j)
// where c(k, j) = c1 + c2 for same-class j and c1 otherwise (smoothap), c1 for other-class j and 0 for
// same-class j (pnp), c1 for every j (recallk).
// recallk (cpu/cpu_loss_recallk.c) needs every positive's rank before any coefficient (the min(., k)
// clip), so pass 1 leaves rank_p in term and Σ_j G'_j in acc, and a per-query step between the passes
// (apt_lp_query_finish) turns them into c1 = dL/drank_p and acc = c1 Σ_j G'_j. Header-only; C11 and
// CUDA C++.
#pragma once
#include <math.h>
#include <stdbool.h>

#include "backend/loss_types.h"
#include "core/loss_names.h"

#ifdef __CUDACC__
#define APT_HD __host__ __device__ __forceinline__
#else
#define APT_HD static inline
#endif

// Kernel families: the CUDA column of loss_names.h names them (NONE: the loss has no CUDA path).
enum { APT_LP_NONE = -1, APT_LP_SMOOTHAP = 0, APT_LP_PNP = 1, APT_LP_RECALLK = 2 };

// Kernel family of a loss (AptLossId), from the CUDA column of loss_names.h. Host code.
#define APT_LP_KIND_CASE_(ID, NAME, ROW, COUNTS, VARIANT, CUDA)                                              \
    case APT_LOSS_##ID:                                                                                      \
        return APT_LP_##CUDA;
static inline int apt_lp_kind_of(int id) {
    switch (id) {
        APT_LOSS_TABLE(APT_LP_KIND_CASE_)
    default:
        return APT_LP_NONE;
    }
}
#undef APT_LP_KIND_CASE_

// Same numbering as loss_types.h's APT_PNP_* (o, ds, dq, iu, ib).
enum { APT_LP_PNP_O = 0, APT_LP_PNP_DS, APT_LP_PNP_DQ, APT_LP_PNP_IU, APT_LP_PNP_IB };

typedef struct {
    int kind;    // APT_LP_*
    int variant; // APT_LP_PNP_* for pnp
    int self;    // smoothap include_self
    double inv_tau, alpha, b;
    double w; // 1 / global query normaliser
    int nk;   // recallk: number of k values; k clipped to the global batch, 1 / tau_k
    double kv[APT_LOSS_K_MAX], inv_tk[APT_LOSS_K_MAX];
} AptLossPairK;

// The recallk fields from the loss parameters and the global batch B. Host code.
static inline void apt_lp_set_recallk(AptLossPairK *k, const AptLossParams *p, int B) {
    k->nk = p->recallk_n;
    const double Bk = p->recallk_k_rows > 0 ? (double)p->recallk_k_rows : (double)B; // SiMix: the real batch
    for (int t = 0; t < APT_LOSS_K_MAX; t++) {
        k->kv[t] = t < p->recallk_n ? (p->recallk_k[t] < Bk ? p->recallk_k[t] : Bk) : 0.0;
        k->inv_tk[t] = t < p->recallk_n ? 1.0 / p->recallk_tau[t] : 0.0;
    }
}

// G(d) and G'(d) for d = s_j - s_i, DESIGN §3 (as apt_loss_sigmoid): the exponent e = -d / tau is formed
// and clamped in double, so the clamp decision is the CPU's; exp in float. G' = exp(e) G^2 / tau is
// computed as (exp(e) G) G so that nothing underflows at either end of the clamp; 0 where clamped.
APT_HD float apt_lp_sigmoid(float sj, float si, double inv_tau, float *dg) {
    double e = -((double)sj - (double)si) * inv_tau;
    bool clamped = e > 50.0 || e < -50.0;
    float ec = (float)(e > 50.0 ? 50.0 : (e < -50.0 ? -50.0 : e));
    float ex = expf(ec), g = 1.0f / (1.0f + ex);
    *dg = clamped ? 0.0f : (ex * g) * g * (float)inv_tau;
    return g;
}

// Whether pair (q, i) is scored at all (the paper's smoothap and recallk do not score q as its own
// positive).
APT_HD bool apt_lp_pair_scored(const AptLossPairK *k, int q, int i) {
    if (k->kind == APT_LP_RECALLK) return i != q;
    return !(k->kind == APT_LP_SMOOTHAP && !k->self && i == q);
}

// Pass 1, one j: adds to sums[4] = {Σ G, Σ_same G, Σ G', Σ_same G'}.
APT_HD void apt_lp_pair_accum(const AptLossPairK *k, int q, int i, int j, bool same, float sj, float si,
                              double sums[4]) {
    const bool smoothap = k->kind == APT_LP_SMOOTHAP;
    if (j == i || (smoothap && !k->self && j == q)) return;
    if (k->kind == APT_LP_PNP && same) return; // PNP counts negatives only
    float dg, g = apt_lp_sigmoid(sj, si, k->inv_tau, &dg);
    sums[0] += g;
    sums[2] += dg;
    if (same) {
        sums[1] += g;
        sums[3] += dg;
    }
}

// Pass 1, the pair's results from its sums. npos: rows of q's class, q included.
APT_HD void apt_lp_pair_finish(const AptLossPairK *k, int npos, const double sums[4], double *c1, double *c2,
                               double *acc, double *term) {
    if (k->kind == APT_LP_RECALLK) { // the coefficients wait for every rank (apt_lp_query_finish)
        *c1 = *c2 = 0.0;
        *acc = sums[2];
        *term = 1.0 + sums[0]; // rank_i
        return;
    }
    if (k->kind == APT_LP_SMOOTHAP) {
        const int np = k->self ? npos : npos - 1;
        const double ra = 1.0 + sums[0], rp = 1.0 + sums[1], wq = k->w / np;
        *c1 = wq * rp / (ra * ra); // dL/dR_all
        *c2 = -wq / ra;            // dL/dR_pos
        *acc = *c1 * sums[2] + *c2 * sums[3];
        *term = rp / ra;
        return;
    }
    const double n = sums[0];
    double f, fp;
    switch (k->variant) {
    case APT_LP_PNP_DS:
        f = log1p(n);
        fp = 1.0 / (1.0 + n);
        break;
    case APT_LP_PNP_DQ:
        f = pow(1.0 + n, -k->alpha);
        fp = k->alpha * f / (1.0 + n);
        break; // d(1 - f)/dN
    case APT_LP_PNP_IU:
        f = (1.0 + n) * log1p(n);
        fp = log1p(n) + 1.0;
        break;
    case APT_LP_PNP_IB:
        f = (k->b * n - log1p(k->b * n)) / (k->b * k->b);
        fp = n / (1.0 + k->b * n);
        break;
    default:
        f = n;
        fp = 1.0;
        break;
    }
    *c1 = k->w / npos * fp;
    *c2 = 0.0;
    *acc = *c1 * sums[2];
    *term = f;
}

// Query loss from its pair terms (term[kk], kk < npos; unscored pairs hold 0).
APT_HD double apt_lp_query_loss(const AptLossPairK *k, int npos, const double *term) {
    double sum = 0.0;
    for (int kk = 0; kk < npos; kk++)
        sum += term[kk];
    if (k->kind == APT_LP_SMOOTHAP) {
        const int np = k->self ? npos : npos - 1;
        return np <= 0 ? 0.0 : k->w * (1.0 - sum / np);
    }
    const double mean_f = sum / npos;
    return k->w * (k->variant == APT_LP_PNP_DQ ? 1.0 - mean_f : mean_f);
}

// G of DESIGN §3 with temperature 1 / inv_t at d, and G'(d) (0 where the exponent is clamped), in double
// (apt_loss_sigmoid's arithmetic): the recall sigmoids of recallk.
APT_HD double apt_lp_sigmoid_d(double d, double inv_t, double *dg) {
    double e = -d * inv_t;
    double ec = e > 50.0 ? 50.0 : (e < -50.0 ? -50.0 : e);
    double ex = exp(ec), g = 1.0 / (1.0 + ex);
    *dg = (e > 50.0 || e < -50.0) ? 0.0 : ex * g * g * inv_t;
    return g;
}

// Between the passes, one query: its loss_part, and for recallk the pair coefficients. pos, term, c1, acc:
// the query's pair arrays (kk < npos, pos[kk] its row). Other kinds: apt_lp_query_loss, arrays untouched.
// recallk (cpu/cpu_loss_recallk.c): from rank_p in term and Σ_j G'_j in acc,
//   recall_k = min(Σ_p H_k(k - rank_p), k) / min(k, |P|),  loss = w (1 - mean_k recall_k)
//   c1[p] = dL/drank_p = Σ_k f_k w / (K min(k, |P|)) H_k'(k - rank_p),  acc[p] = c1[p] Σ_j G'_j
// with f_k = 1 below the clip, 1/2 at it, 0 above (torch.minimum's gradient).
APT_HD double apt_lp_query_finish(const AptLossPairK *k, int q, int npos, const int *pos, double *term,
                                  double *c1, double *acc) {
    if (k->kind != APT_LP_RECALLK) return apt_lp_query_loss(k, npos, term);
    const int np = npos - 1;
    if (np <= 0 || k->nk <= 0) return 0.0;
    double sum[APT_LOSS_K_MAX], recall = 0.0;
    for (int t = 0; t < k->nk; t++) {
        sum[t] = 0.0;
        for (int kk = 0; kk < npos; kk++) {
            if (pos[kk] == q) continue;
            double dh;
            sum[t] += apt_lp_sigmoid_d(k->kv[t] - term[kk], k->inv_tk[t], &dh);
        }
        const double norm = k->kv[t] < np ? k->kv[t] : (double)np;
        recall += (sum[t] < k->kv[t] ? sum[t] : k->kv[t]) / norm;
    }
    for (int kk = 0; kk < npos; kk++) {
        if (pos[kk] == q) continue;
        double c = 0.0;
        for (int t = 0; t < k->nk; t++) {
            const double f = sum[t] < k->kv[t] ? 1.0 : (sum[t] == k->kv[t] ? 0.5 : 0.0);
            const double norm = k->kv[t] < np ? k->kv[t] : (double)np;
            double dh;
            apt_lp_sigmoid_d(k->kv[t] - term[kk], k->inv_tk[t], &dh);
            c += f * k->w / (k->nk * norm) * dh;
        }
        c1[kk] = c;
        acc[kk] *= c;
    }
    return k->w * (1.0 - recall / k->nk);
}

// Pass 2, one (q, j): d loss_part / d s_qj. pos[kk] (kk < npos): the rows of q's class in the order the
// pair arrays use; s_i, c1, c2, acc: the pair arrays of q; rank_j: j's index in pos when same.
APT_HD double apt_lp_grad(const AptLossPairK *k, int q, int j, bool same, float sj, int npos, const int *pos,
                          const float *s_i, const double *c1, const double *c2, const double *acc,
                          int rank_j) {
    const bool smoothap = k->kind == APT_LP_SMOOTHAP, excl_q = smoothap && !k->self;
    if (excl_q && j == q) return 0.0; // q is neither gallery nor scored positive
    double g = 0.0;
    if (k->kind != APT_LP_PNP || !same) { // PNP: same-class j take part only through their own acc below
        for (int kk = 0; kk < npos; kk++) {
            const int i = pos[kk];
            if (i == j || !apt_lp_pair_scored(k, q, i)) continue;
            float dg;
            apt_lp_sigmoid(sj, s_i[kk], k->inv_tau, &dg);
            g += (smoothap && same ? c1[kk] + c2[kk] : c1[kk]) * (double)dg;
        }
    }
    if (same) g -= acc[rank_j];
    return g;
}
