// test_metrics_hand.c — Recall@K, mAP and mAP@R on tiny cases computed by hand: ties (broken by
// gallery index, knn.h), single-sample classes (left out and counted), K larger than the gallery.
// Embeddings are 1-D, so every score is an exact product and the expected ranks follow on paper.
#include "eval/knn.h"
#include "eval/metrics.h"
#include "harness.h"

#include <string.h>

static void run(const float *E, const int32_t *lab, int N, int D, int block, int k, AptKnnResult *r) {
    AptComm *self = apt_comm_create_self();
    AptKnnParams p = {.block = block, .k = k, .keep_topk = true};
    apt_knn_result_alloc(r, N, k, true);
    apt_knn_score(self, E, lab, N, D, &p, r);
    self->destroy(self);
}

// Case A. e = [1, 1, 1, -1, 0.5], labels [0, 1, 0, 0, 2]; scores are e_q * e_j.
//  q0: j1 (1) and j2 (1) tie -> j1 first; order j1, j2, j4(.5), j3(-1); positives j2 @2, j3 @4:
//      AP = (1/2 + 2/4)/2 = 0.5, AP@R (R=2) = (1/2)/2 = 0.25, first rank 2.
//  q2: order j0, j1, j4, j3; positives j0 @1, j3 @4: AP = (1 + 2/4)/2 = 0.75, AP@R = 0.5, first 1.
//  q3: scores j0 = j1 = j2 = -1, j4 = -0.5; order j4, j0, j1, j2: j0 @2, j2 @4: AP 0.5, AP@R 0.25.
//  q1, q4: single-sample classes -> left out. Valid 3: R@1 = 1/3, R@2 = R@4 = 1; K = 10 > gallery 4.
static void case_a(int block) {
    const float E[5] = {1, 1, 1, -1, 0.5f};
    const int32_t lab[5] = {0, 1, 0, 0, 2};
    AptKnnResult r;
    run(E, lab, 5, 1, block, 10, &r);
    TEST_CHECK(r.k == 4, "k clipped to the gallery size: %d", r.k);
    const int64_t first[5] = {2, 0, 1, 2, 0}, npos[5] = {2, 0, 2, 2, 0};
    const double ap[5] = {0.5, 0, 0.75, 0.5, 0}, apr[5] = {0.25, 0, 0.5, 0.25, 0};
    for (int q = 0; q < 5; q++) {
        TEST_CHECK(r.first_rank[q] == first[q], "A block %d q%d first rank %lld want %lld", block, q,
                   (long long)r.first_rank[q], (long long)first[q]);
        TEST_CHECK(r.n_pos[q] == npos[q], "A q%d R", q);
        TEST_CHECK(r.ap[q] == ap[q] && r.ap_r[q] == apr[q], "A q%d AP %g AP@R %g", q, r.ap[q], r.ap_r[q]);
    }
    const int64_t topk[5][4] = {{1, 2, 4, 3}, {0, 2, 4, 3}, {0, 1, 4, 3}, {4, 0, 1, 2}, {0, 1, 2, 3}};
    TEST_CHECK(!memcmp(r.topk, topk, sizeof topk), "A block %d neighbour lists (ties by index)", block);
    const int Ks[4] = {1, 2, 4, 10};
    AptMetrics m;
    apt_metrics_compute(&r, Ks, 4, &m);
    TEST_CHECK(m.n_queries == 5 && m.n_valid == 3 && m.n_single == 2, "A counts %lld %lld %lld",
               (long long)m.n_queries, (long long)m.n_valid, (long long)m.n_single);
    TEST_CHECK(m.recall[0] == 1.0 / 3 && m.recall[1] == 1 && m.recall[2] == 1 && m.recall[3] == 1,
               "A recall %g %g %g %g", m.recall[0], m.recall[1], m.recall[2], m.recall[3]);
    double want_map = (0.5 + 0.75 + 0.5) / 3, want_mapr = (0.25 + 0.5 + 0.25) / 3;
    TEST_CHECK(fabs(m.map - want_map) < 1e-15 && fabs(m.map_at_r - want_mapr) < 1e-15,
               "A mAP %.17g mAP@R %.17g", m.map, m.map_at_r);
    apt_knn_result_free(&r);
}

// Case B: all scores tie, so the ranking is the index order. labels [0, 0, 1, 1, 1, 2].
//  q0: j1 @1 (AP 1); q1: j0 @1 (AP 1); q2: gallery 0,1,3,4,5 -> j3 @3, j4 @4: AP = (1/3 + 2/4)/2 = 5/12,
//  AP@R (R = 2) = 0; q3: j2 @3, j4 @4: 5/12; q4: j2 @3, j3 @4: 5/12; q5 single.
//  R@1 = R@2 = 2/5, R@3 = 1; mAP = (2 + 3 * 5/12)/5 = 0.65; mAP@R = 2/5.
static void case_b(void) {
    const float E[6 * 2] = {0.6f, 0.8f, 0.6f, 0.8f, 0.6f, 0.8f, 0.6f, 0.8f, 0.6f, 0.8f, 0.6f, 0.8f};
    const int32_t lab[6] = {0, 0, 1, 1, 1, 2};
    AptKnnResult r;
    run(E, lab, 6, 2, 4, 3, &r);
    const int64_t first[6] = {1, 1, 3, 3, 3, 0};
    for (int q = 0; q < 6; q++)
        TEST_CHECK(r.first_rank[q] == first[q], "B q%d first rank", q);
    const int Ks[3] = {1, 2, 3};
    AptMetrics m;
    apt_metrics_compute(&r, Ks, 3, &m);
    TEST_CHECK(m.n_valid == 5 && m.n_single == 1, "B counts");
    TEST_CHECK(m.recall[0] == 0.4 && m.recall[1] == 0.4 && m.recall[2] == 1, "B recall %g %g %g", m.recall[0],
               m.recall[1], m.recall[2]);
    TEST_CHECK(fabs(m.map - 0.65) < 1e-15 && fabs(m.map_at_r - 0.4) < 1e-15, "B mAP %.17g mAP@R %.17g", m.map,
               m.map_at_r);
    TEST_CHECK(fabs(r.ap[2] - 5.0 / 12) < 1e-15 && r.ap_r[2] == 0, "B AP of q2 %.17g", r.ap[2]);
    const int64_t top_q2[3] = {0, 1, 3};
    TEST_CHECK(!memcmp(r.topk + 2 * 3, top_q2, sizeof top_q2), "B top-3 of q2 in index order");
    apt_knn_result_free(&r);
}

// Case C: every query is a single-sample class -> nothing valid, all metrics 0, all counted.
static void case_c(void) {
    const float E[3] = {1, 0.5f, -1};
    const int32_t lab[3] = {7, -3, 100};
    AptKnnResult r;
    run(E, lab, 3, 1, 128, 1, &r);
    const int Ks[1] = {1};
    AptMetrics m;
    apt_metrics_compute(&r, Ks, 1, &m);
    TEST_CHECK(m.n_valid == 0 && m.n_single == 3 && m.map == 0 && m.recall[0] == 0, "C all single");
    TEST_CHECK(r.topk[0] == 1 && r.topk[1] == 0 && r.topk[2] == 1, "C nearest neighbours %lld %lld %lld",
               (long long)r.topk[0], (long long)r.topk[1], (long long)r.topk[2]);
    apt_knn_result_free(&r);
}

int main(void) {
    case_a(128); // one block
    case_a(2);   // three blocks, the last one ragged
    case_a(1);
    case_b();
    case_c();
    return apt_test_finish("test_metrics_hand");
}
