// knn.h — exact all-vs-all retrieval scoring (DESIGN §6): every item of a split queries the rest of
// the same split (self excluded), by cosine similarity = dot product of L2-normalised embeddings.
//
// Ranking order (the tie rule). Gallery items are ordered by (score descending, gallery index
// ascending): of two items with bitwise-equal scores the one with the lower global index ranks first.
// This is the order a stable sort by descending score gives, it is a total order (so top-k lists and
// the ranks of positives always agree: Recall@K from the neighbour list equals [first positive rank
// <= K]), and it depends on nothing but the scores and the indices (not on threads, ranks or blocks).
// The alternative conventions (pessimistic rank: every tie ranks first; mean rank) make AP depend on
// ties in a way no neighbour list can show, and differ from what a top-k search returns.
//
// Memory: one block of scores [block, N] float32 per rank (shared by its OpenMP threads), plus
// O(threads * (k + positives per class + N / 256 + 16384)) — never N x N.
//
// Determinism: the score block is computed as fixed column tiles of fixed global query blocks, each
// tile by one single-threaded sgemm call (OpenBLAS is set to 1 thread for the duration of the call and
// restored afterwards), so every score — and hence every metric — is bitwise identical for any number
// of threads and any world size.
#pragma once
#include "dist/comm.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int block;      // queries per scoring block (memory: block x N x 4 bytes per rank); <= 0: 128
    int k;          // neighbours kept per query (the largest K of Recall@K); clipped to N - 1
    bool keep_topk; // return the neighbour lists (per-query analysis file)
} AptKnnParams;

// Per-query results in global query order; identical on every rank after apt_knn_score.
typedef struct {
    int64_t N;    // queries = gallery items
    int k;        // neighbours per query kept in topk: min(params.k, N - 1)
    double *ap;   // [N] average precision over the full ranking: (1/R) sum_i i / rank_i
    double *ap_r; // [N] AP@R (Musgrave et al. 2020): (1/R) sum over positives with rank_i <= R of i / rank_i
    int64_t *first_rank; // [N] 1-based rank of the best positive; 0 when the query has no positive
    int64_t *n_pos;      // [N] R: gallery items with the query's label, self excluded
    int64_t *topk;       // [N, k] gallery indices, best first; NULL unless keep_topk
} AptKnnResult;

// Score all N queries against the full gallery. E: [N, D] float32 (L2-normalised; identical on every
// rank, e.g. all-gathered), labels: [N]. Rank r scores a contiguous range of whole query blocks; the
// per-query results are all-gathered, so every rank returns the full result. Collective over c.
void apt_knn_score(AptComm *c, const float *E, const int32_t *labels, int64_t N, int D, const AptKnnParams *p,
                   AptKnnResult *out);

// The same for queries [q_begin, q_end) only (must start on a block boundary); out arrays are still
// [N]-sized and only that range is written. No communication. Used by apt_knn_score and tests.
void apt_knn_score_range(const float *E, const int32_t *labels, int64_t N, int D, const AptKnnParams *p,
                         int64_t q_begin, int64_t q_end, AptKnnResult *out);

// Allocate / free the result arrays (out->topk only when keep_topk).
void apt_knn_result_alloc(AptKnnResult *r, int64_t N, int k, bool keep_topk);
void apt_knn_result_free(AptKnnResult *r);
