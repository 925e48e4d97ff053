// test_knn_ref.c — the blocked scorer against a brute-force float64 reference written here: for every
// query, all gallery scores in float64, a full sort by (score desc, index asc) (the tie rule of knn.h),
// then ranks, AP, AP@R, first positive and top-k straight from the sorted list.
//
// Data: clustered random embeddings, L2-normalised, then rounded to a grid of 2^-g. On that grid every
// product and partial sum of a dot product is exact in float32 (values <= ~1, granularity 2^-2g,
// g <= 8 needs <= 17 significant bits), so sgemm's float32 scores equal the float64 reference's scores
// whatever the summation order, and the rankings must agree exactly: first ranks and neighbour lists
// identical, AP within 1e-12 (same formula, float64). A coarse grid (g = 3) makes exact ties common,
// exercising the tie rule on thousands of pairs.
#include "core/rng.h"
#include "eval/knn.h"
#include "eval/metrics.h"
#include "harness.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double s;
    int64_t j;
} SJ;
static int cmp_sj(const void *a, const void *b) {
    const SJ *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return (x->j > y->j) - (x->j < y->j);
}

static double urand(uint64_t *st) { // xorshift64*: test data only
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return (double)((*st * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void make_data(float *E, int32_t *lab, int N, int D, int C, int grid_bits, double noise,
                      uint64_t seed) {
    uint64_t st = seed;
    double *cent = malloc((size_t)C * D * sizeof *cent);
    for (int i = 0; i < C * D; i++)
        cent[i] = urand(&st) * 2 - 1;
    double scale = (double)(1 << grid_bits);
    for (int i = 0; i < N; i++) {
        // uneven class sizes and a few single-sample classes (labels C .. C+N/100).
        int c = (int)(urand(&st) * urand(&st) * C);
        if (i % 97 == 5) c = C + i / 97;
        lab[i] = c * 3 - 7; // arbitrary, negative-including label values
        double v[512], n2 = 0;
        for (int d = 0; d < D; d++) {
            v[d] = (c < C ? cent[c * D + d] : 0) + noise * (urand(&st) * 2 - 1);
            n2 += v[d] * v[d];
        }
        for (int d = 0; d < D; d++)
            E[(size_t)i * D + d] = (float)(nearbyint(v[d] / sqrt(n2) * scale) / scale);
    }
    free(cent);
}

static void check_against_reference(int N, int D, int C, int grid_bits, double noise, int block, int k,
                                    const char *name) {
    float *E = malloc((size_t)N * D * sizeof *E);
    int32_t *lab = malloc((size_t)N * sizeof *lab);
    make_data(E, lab, N, D, C, grid_bits, noise, 1234567 + (uint64_t)N * 31 + (uint64_t)grid_bits);
    AptKnnResult r;
    AptKnnParams p = {.block = block, .k = k, .keep_topk = true};
    apt_knn_result_alloc(&r, N, k, true);
    AptComm *self = apt_comm_create_self();
    apt_knn_score(self, E, lab, N, D, &p, &r);
    self->destroy(self);

    const int Ks[5] = {1, 2, 4, 16, 10000};
    int64_t hits[5] = {0}, valid = 0, single = 0, bad_rank = 0, bad_topk = 0, ties = 0;
    double sum_ap = 0, sum_apr = 0;
    double *ap_ref = malloc((size_t)N * sizeof *ap_ref), *ap_got = malloc((size_t)N * sizeof *ap_got);
    SJ *row = malloc((size_t)N * sizeof *row);
    for (int q = 0; q < N; q++) {
        int64_t n = 0;
        for (int j = 0; j < N; j++) {
            if (j == q) continue;
            double s = 0;
            for (int d = 0; d < D; d++)
                s += (double)E[(size_t)q * D + d] * (double)E[(size_t)j * D + d];
            row[n++] = (SJ){s, j};
        }
        qsort(row, (size_t)n, sizeof *row, cmp_sj);
        for (int64_t i = 1; i < n; i++)
            ties += row[i].s == row[i - 1].s;
        int64_t R = 0, first = 0;
        double ap = 0, apr = 0;
        for (int j = 0; j < N; j++)
            R += j != q && lab[j] == lab[q];
        for (int64_t i = 0, seen = 0; i < n; i++) {
            if (lab[row[i].j] != lab[q]) continue;
            seen++;
            if (!first) first = i + 1;
            ap += (double)seen / (double)(i + 1);
            if (i + 1 <= R) apr += (double)seen / (double)(i + 1);
        }
        bad_rank += r.first_rank[q] != first || r.n_pos[q] != R;
        for (int i = 0; i < r.k; i++)
            bad_topk += r.topk[(size_t)q * r.k + i] != row[i].j;
        ap_ref[q] = R ? ap / R : 0;
        ap_got[q] = r.ap[q];
        if (!R) {
            single++;
            continue;
        }
        valid++;
        sum_ap += ap / R;
        sum_apr += apr / R;
        for (int i = 0; i < 5; i++)
            hits[i] += first <= Ks[i];
    }
    printf("%s: N=%d D=%d grid 2^-%d block %d k %d: %lld tied neighbour pairs, %lld single-sample queries\n",
           name, N, D, grid_bits, block, k, (long long)ties, (long long)single);
    TEST_CHECK(bad_rank == 0, "%s: %lld queries with a different first rank or R", name, (long long)bad_rank);
    TEST_CHECK(bad_topk == 0, "%s: %lld neighbour-list entries differ", name, (long long)bad_topk);
    expect_close_d(ap_got, ap_ref, (size_t)N, 0, 1e-12, name);
    AptMetrics m;
    apt_metrics_compute(&r, Ks, 5, &m);
    TEST_CHECK(m.n_valid == valid && m.n_single == single, "%s: counts", name);
    for (int i = 0; i < 5; i++)
        TEST_CHECK(m.recall[i] == (double)hits[i] / valid, "%s: R@%d %.17g want %.17g", name, Ks[i],
                   m.recall[i], (double)hits[i] / valid);
    TEST_CHECK(fabs(m.map - sum_ap / valid) <= 1e-12 && fabs(m.map_at_r - sum_apr / valid) <= 1e-12,
               "%s: mAP %.17g want %.17g, mAP@R %.17g want %.17g", name, m.map, sum_ap / valid, m.map_at_r,
               sum_apr / valid);
    printf("%s: R@1 %.4f R@16 %.4f mAP %.6f (|diff| %.2g) mAP@R %.6f (|diff| %.2g)\n", name, m.recall[0],
           m.recall[3], m.map, fabs(m.map - sum_ap / valid), m.map_at_r, fabs(m.map_at_r - sum_apr / valid));
    free(row);
    free(ap_ref);
    free(ap_got);
    free(E);
    free(lab);
    apt_knn_result_free(&r);
}

int main(void) {
    check_against_reference(1500, 48, 60, 8, 1.6, 64, 32, "fine grid");    // realistic, few ties
    check_against_reference(1200, 16, 40, 3, 1.0, 100, 20, "coarse grid"); // many exact ties
    check_against_reference(300, 8, 5, 2, 2.0, 7, 500, "K > gallery");     // k clipped to N-1, tiny blocks
    check_against_reference(5000, 24, 100, 6, 1.0, 256, 8, "two tiles");   // > 4096 columns: two sgemm tiles
    return apt_test_finish("test_knn_ref");
}
