// test_knn_dist.c — W ranks give bitwise the per-query results and metrics of one process, and the
// OpenMP thread count does not change a bit either (run under mpirun -np 1, 2, 4).
// Every rank also computes the whole problem alone (apt_knn_score_range over all queries, 1 thread)
// as the reference; the distributed run splits the queries into whole blocks per rank and all-gathers.
// Unquantised float data: exactness here comes from the fixed tile grid, not from exact arithmetic.
#include "eval/knn.h"
#include "eval/metrics.h"
#include "harness.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

static double urand(uint64_t *st) {
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return (double)((*st * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static int same_result(const AptKnnResult *a, const AptKnnResult *b) {
    size_t n = (size_t)a->N;
    return a->N == b->N && a->k == b->k && !memcmp(a->ap, b->ap, n * 8) && !memcmp(a->ap_r, b->ap_r, n * 8) &&
           !memcmp(a->first_rank, b->first_rank, n * 8) && !memcmp(a->n_pos, b->n_pos, n * 8) &&
           !memcmp(a->topk, b->topk, n * (size_t)a->k * 8);
}

int main(int argc, char **argv) {
    AptComm *c = apt_comm_init_mpi(&argc, &argv);
    enum { N = 4500, D = 40, C = 90 };
    float *E = malloc((size_t)N * D * sizeof *E);
    int32_t *lab = malloc(N * sizeof *lab);
    uint64_t st = 42;
    float cent[C * D];
    for (int i = 0; i < C * D; i++)
        cent[i] = (float)(urand(&st) * 2 - 1);
    for (int i = 0; i < N; i++) {
        lab[i] = (int32_t)(urand(&st) * C);
        double n2 = 0;
        for (int d = 0; d < D; d++) {
            E[i * D + d] = cent[lab[i] * D + d] + (float)(1.5 * (urand(&st) * 2 - 1));
            n2 += (double)E[i * D + d] * E[i * D + d];
        }
        for (int d = 0; d < D; d++)
            E[i * D + d] = (float)(E[i * D + d] / sqrt(n2));
    }
    lab[17] = 1000; // a single-sample class
    const int Ks[4] = {1, 4, 16, 32};
    // block 61: 74 blocks, the last ragged; 4 ranks get 18/19 blocks, 2 ranks 37.
    AptKnnParams p = {.block = 61, .k = 32, .keep_topk = true};

    AptKnnResult ref, got, got2;
    apt_knn_result_alloc(&ref, N, p.k, true);
    omp_set_num_threads(1);
    apt_knn_score_range(E, lab, N, D, &p, 0, N, &ref);
    AptMetrics mref, m, m2;
    apt_metrics_compute(&ref, Ks, 4, &mref);

    apt_knn_result_alloc(&got, N, p.k, true);
    apt_knn_score(c, E, lab, N, D, &p, &got);
    apt_metrics_compute(&got, Ks, 4, &m);
    TEST_CHECK(same_result(&got, &ref), "W=%d, 1 thread: per-query results differ from one process",
               c->world);
    TEST_CHECK(!memcmp(&m, &mref, sizeof m), "W=%d: metrics not bitwise equal", c->world);

    omp_set_num_threads(2);
    apt_knn_result_alloc(&got2, N, p.k, true);
    apt_knn_score(c, E, lab, N, D, &p, &got2);
    apt_metrics_compute(&got2, Ks, 4, &m2);
    TEST_CHECK(same_result(&got2, &ref), "W=%d, 2 threads: per-query results differ", c->world);
    TEST_CHECK(!memcmp(&m2, &mref, sizeof m2), "W=%d, 2 threads: metrics not bitwise equal", c->world);
    TEST_CHECK(m.n_single == 1 && m.n_valid == N - 1, "single-sample query counted");
    if (c->rank == 0)
        printf("W=%d: R@1 %.17g R@32 %.17g mAP %.17g mAP@R %.17g (valid %lld)\n", c->world, m.recall[0],
               m.recall[3], m.map, m.map_at_r, (long long)m.n_valid);

    // Fewer blocks than ranks: 130 queries in blocks of 64 = 3 blocks, so at W = 4 a rank scores nothing.
    {
        AptKnnParams ps = {.block = 64, .k = 5, .keep_topk = true};
        AptKnnResult a, b;
        apt_knn_result_alloc(&a, 130, ps.k, true);
        apt_knn_result_alloc(&b, 130, ps.k, true);
        apt_knn_score_range(E, lab, 130, D, &ps, 0, 130, &a);
        apt_knn_score(c, E, lab, 130, D, &ps, &b);
        TEST_CHECK(same_result(&a, &b), "W=%d, 3 blocks: per-query results differ from one process", c->world);
        apt_knn_result_free(&a);
        apt_knn_result_free(&b);
    }
    apt_knn_result_free(&ref);
    apt_knn_result_free(&got);
    apt_knn_result_free(&got2);
    free(E);
    free(lab);
    int rc = apt_test_finish("test_knn_dist");
    apt_comm_finalize(c);
    return rc;
}
