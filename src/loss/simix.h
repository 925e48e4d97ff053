// simix.h — SiMix for the Recall@k surrogate (loss.simix; Patel, Tolias, Matas, CVPR 2022, "Recall@k
// Surrogate Loss with Large Batches and Similarity Mixup"), official-code semantics (github
// yash0307/RecallatK_surrogate, src/mixup.py pos_mixup and src/main.py's loss loop):
//   for every class of the batch, every pair (i, j) of its m rows adds a virtual row
//   a e_i + (1 - a) e_j of that class (a uniform in [0, 1) per pair, not renormalised);
//   every real and virtual row is a query and in the gallery; gradients flow back to both sources;
//   the loss divides by the number of rows with positives, virtual ones included (the official code
//   divides by all rows: the same on its batches), and k stays clipped to the real batch B.
// Classes come from the labels (classes in order of their first row, rows ascending); within a class the
// pairs follow the official fixed order where it exists (m = 3, 4, 6) and apt_simix_pair's otherwise.
// a is drawn per pair from the counter-based generator (core/rng.h, APT_RNG_SIMIX) keyed by (seed, epoch,
// step, pair index): the same on every rank and on resume.
//
// Distributed (DESIGN §1 exactness): the virtual rows are a function of the all-gathered E and the labels,
// so every rank builds them identically. The extended gallery Ex [B + V, D] is laid out rank by rank:
// rank r's b real rows, then its share of the V virtual rows (pair indices [r V / W, (r + 1) V / W)), so
// each rank's queries are one contiguous range of Ex. The loss writes the partial dEx of this rank's
// queries; mix_rows_backward folds it into dE [B, D] in global row order before the reduce-scatter. The
// sum over ranks is the one-process result up to float summation order.
#pragma once
#include <stdint.h>

#include "backend/backend.h"
#include "backend/loss_host.h"
#include "backend/loss_types.h"

#ifdef __cplusplus
extern "C" {
#endif

// Pairs of a class of m rows (positions 0..m-1 in row order): m (m - 1) / 2, and pair p's positions
// (i, j), weight a on i. Order: the official pos_mixup's for m = 3, 4, 6; otherwise (i, i + 1) for
// i = 0..m-2, then the remaining pairs in lexicographic order (which is the official order for 3 and 6).
int apt_simix_pair_count(int m);
void apt_simix_pair(int m, int p, int *i, int *j);

// The plan of one step: host memory, sized at creation, rebuilt per batch.
typedef struct {
    int B, W, V, n; // real rows, ranks, virtual rows, n = B + V extended rows
    int V_max;
    int *labels;   // [n] labels of the extended rows (the gallery's, for the loss)
    int *src;      // [2n] rows of E that extended row r mixes (a real row: itself twice)
    double *alpha; // [n] the weight on src[2r] (a real row: 1)
    int *start;    // [B + 1] entries of real row t in ent: [start[t], start[t + 1])
    int *ent;      // [B + 2V] 2 * extended row + (0: weight alpha, 1: weight 1 - alpha); the copy first,
                   // then the pairs in pair order (the fold's summation order, the same for every W)
    int *q_begin, *q_end; // [W] each rank's queries: extended rows [q_begin[r], q_end[r])
    int *pi, *pj;         // [V_max] scratch: the pairs' rows in pair order
    uint64_t *keys;       // [B] scratch: (label, row) sort keys
    int *perm, *gstart,
        *gorder; // [B], [B + 1], [B] scratch: rows grouped by class, class starts, class order
} AptSimixPlan;

// Sized for B real rows on W ranks (B % W == 0) and at most V_max virtual rows.
AptSimixPlan *apt_simix_plan_create(int B, int W, int V_max);
void apt_simix_plan_free(AptSimixPlan *pl);
// The virtual rows of a batch with these labels: alpha_in [V] (in pair order) when given (references,
// tests), else drawn from (seed, epoch, step). Fatal if V exceeds V_max.
void apt_simix_plan_build(AptSimixPlan *pl, const int *labels, const double *alpha_in, uint64_t seed,
                          uint32_t epoch, uint32_t step);
// Virtual rows for B rows in classes of m: C m (m - 1) / 2 with C = B / m.
int apt_simix_rows(int B, int m);

// Float64 on the host (references, `aptrain loss` style checks): Ex [n, D] = the plan's rows of E [B, D];
// dE [B, D] = the fold of dEx [n, D] (the transpose, in the plan's entry order).
void apt_simix_mix_f64(const AptSimixPlan *pl, int D, const double *E, double *Ex);
void apt_simix_fold_f64(const AptSimixPlan *pl, int D, const double *dEx, double *dE);
// One process, float64: loss of recallk with SiMix on E [B, D] (the plan built for these labels, W = 1),
// and dE [B, D]. ws: a float64 workspace for n rows; Ex, dEx: [n, D] scratch.
double apt_simix_loss_f64(AptLossWorkspace *ws, const AptLossParams *p, const AptSimixPlan *pl,
                          const double *E, int D, double *Ex, double *dEx, double *dE);

// ---- the training path: the plan uploaded and applied with the backend's ops ----
typedef struct AptSimix AptSimix;
// B real rows on W ranks, embeddings of D, at most V_max virtual rows (apt_simix_rows). Backend buffers
// for the extended E and dE and the plan's arrays are allocated here (set-up time).
AptSimix *apt_simix_create(AptBackend *be, int B, int W, int D, int V_max);
void apt_simix_free(AptSimix *s);
// The step's loss: be->loss_compute on the extended gallery for rank `rank`'s queries, its gradient folded
// into dE [B, D] (backend memory, overwritten, global row order: ready for the reduce-scatter). E [B, D]:
// the all-gathered batch (backend memory); labels [B] host. *loss_part: backend memory, as loss_compute.
// Host traffic: the plan (about 5 (B + V) ints and floats) is copied to the backend each call.
void apt_simix_loss_compute(AptSimix *s, void *ws, const AptLossParams *p, const float *E, const int *labels,
                            int rank, uint64_t seed, uint32_t epoch, uint32_t step, float *dE,
                            double *loss_part);
// The sizes loss_create needs for rank queries with SiMix: largest local query count, gallery rows.
int apt_simix_b_max(int B, int W, int V_max);
const AptSimixPlan *apt_simix_plan(const AptSimix *s); // the last call's plan (tests)

#ifdef __cplusplus
}
#endif
