// metrics.c — Recall@K, mAP and mAP@R from the per-query ranks of knn.c (definitions in metrics.h).
#include "eval/metrics.h"

#include "core/check.h"

#include <string.h>

void apt_metrics_compute(const AptKnnResult *r, const int *Ks, int n_k, AptMetrics *m) {
    APT_CHECK(n_k >= 0 && n_k <= APT_METRICS_MAX_K, "metrics: %d K values (at most %d)", n_k,
              APT_METRICS_MAX_K);
    memset(m, 0, sizeof *m);
    m->n_k = n_k;
    int64_t hits[APT_METRICS_MAX_K] = {0};
    for (int i = 0; i < n_k; i++) {
        APT_CHECK(Ks[i] >= 1, "metrics: Recall@K needs K >= 1 (got %d)", Ks[i]);
        m->K[i] = Ks[i];
    }
    double sum_ap = 0, sum_apr = 0; // in query order: the same sum on every world size
    for (int64_t q = 0; q < r->N; q++) {
        if (r->n_pos[q] == 0) {
            m->n_single++;
            continue;
        }
        m->n_valid++;
        sum_ap += r->ap[q];
        sum_apr += r->ap_r[q];
        for (int i = 0; i < n_k; i++)
            hits[i] += r->first_rank[q] <= (int64_t)Ks[i];
    }
    m->n_queries = r->N;
    if (m->n_valid == 0) return;
    for (int i = 0; i < n_k; i++)
        m->recall[i] = (double)hits[i] / (double)m->n_valid;
    m->map = sum_ap / (double)m->n_valid;
    m->map_at_r = sum_apr / (double)m->n_valid;
}
