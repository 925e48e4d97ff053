// metrics.h — retrieval metrics from per-query ranks (knn.h): Recall@K, mAP, mAP@R.
//
// Definitions (all over the VALID queries: those with at least one positive, R >= 1, in the gallery;
// a query whose class has no other member — a single-sample class — has nothing to retrieve, is left
// out of every metric and is counted in n_single, as pytorch-metric-learning's AccuracyCalculator does):
//   Recall@K  fraction of valid queries with at least one positive among their K nearest neighbours
//             (= first positive rank <= K), the definition of the official Smooth-AP evaluation.
//             K larger than the gallery (N - 1 items) means the whole gallery: Recall@K = 1.
//   mAP       mean over valid queries of AP = (1/R) sum_i i / rank_i, ranks over the full ranking.
//   mAP@R     mean of AP@R = (1/R) sum over positives with rank_i <= R of i / rank_i (Musgrave et al.,
//             "A Metric Learning Reality Check", ECCV 2020).
// Sums are float64 in query order, so the figures are bitwise identical for any world size.
#pragma once
#include "eval/knn.h"

#define APT_METRICS_MAX_K 16

typedef struct {
    int n_k;
    int K[APT_METRICS_MAX_K];
    double recall[APT_METRICS_MAX_K]; // fractions in [0, 1]
    double map, map_at_r;             // fractions in [0, 1]
    int64_t n_queries;                // N
    int64_t n_valid;                  // queries with R >= 1
    int64_t n_single;                 // queries without a positive (left out)
} AptMetrics;

// Ks: n_k values >= 1 (n_k <= APT_METRICS_MAX_K). Metrics are 0 when no query is valid.
void apt_metrics_compute(const AptKnnResult *r, const int *Ks, int n_k, AptMetrics *m);
