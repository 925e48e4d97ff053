// loss_types.h — the ranking losses as the op table sees them (DESIGN §3): hyper-parameters, a loss's
// registry entry, the per-query row interface of the CPU kernels, and the inputs/outputs of one call.
// Shared by the CPU kernels (src/backend/cpu/cpu_loss*.c), the CUDA kernels (src/backend/cuda/cuda_loss.cu)
// and src/loss/ (registry, parameters from the config, `aptrain loss`), which calls down into them.
// Header-only, core types only; includable from C and CUDA C++.
#pragma once
#include <stdbool.h>

#include "core/loss_names.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct AptLossImpl AptLossImpl; // one per loss name (the registry in src/loss/loss.c)

#define APT_LOSS_K_MAX 16 // recallk: most k values (the config's list capacity, APT_LIST_MAX)

typedef struct AptLossParams {
    const AptLossImpl *impl; // from apt_loss_find(name)
    double tau;              // sigmoid temperature (smoothap, pnp-*)
    bool include_self;       // smoothap: official-code semantics (true) or the paper's (false)
    double alpha;            // pnp-dq exponent
    double b;                // pnp-ib
    double margin;           // contrastive (negatives above it are penalised), triplet
    bool semihard;           // triplet: semi-hard negative per (q, i) instead of all triplets
    double ms_alpha, ms_beta, ms_lambda, ms_margin; // multi-similarity
    int recallk_n;                       // recallk: number of k values (1..APT_LOSS_K_MAX)
    double recallk_k[APT_LOSS_K_MAX];    // recallk: the k of each Recall@k term (clipped to B when used)
    double recallk_tau[APT_LOSS_K_MAX];  // recallk: temperature of each k's sigmoid
    // recallk: k is clipped to this many rows when > 0 (SiMix, src/loss/simix.h: the real batch B, while the
    // gallery also holds the virtual rows); 0: to the gallery size, as the official code's min(bs, k).
    int recallk_k_rows;
    // Cross-batch memory (loss.memory, src/train/xbm.c): E and labels carry memory_rows more rows after
    // the B batch rows; they join the gallery of every query and are never queries themselves. Set per
    // call by the trainer (the memory's valid rows); 0: no memory, the plain loss.
    int memory_rows;
} AptLossParams;

// The gallery is the B batch rows followed by M memory rows (M = 0 without cross-batch memory): queries
// come from the batch rows only, the global normaliser counts batch rows only, and the memory rows are
// detached (no gradient is written for them).
typedef struct {
    const float *E;    // [B + M, D] float32 global embeddings (training path), or NULL
    const double *E64; // [B + M, D] float64 (aptrain loss, references), or NULL; exactly one is set
    const int *labels; // [B + M] class ids, any order, any values
    int B, D;
    int q_begin, q_end; // this rank's queries: rows [q_begin, q_end) of E, q_end <= B
    int M;              // gallery-only memory rows after the batch (AptLossParams.memory_rows on the op)
} AptLossIn;

typedef struct {
    double loss_part; // this rank's share of the loss (global normaliser)
    float *dE;        // [B, D] overwritten when E was given: d loss_part / d E (batch rows only)
    double *dE64;     // [B, D] overwritten when E64 was given
} AptLossOut;

// What a CPU loss kernel implements: the per-query row function the driver (cpu_loss.c) calls.
// The driver computes the similarity row s_q. = <e_q, e_.> of one query in float64, hands it to the
// row function, and turns the returned d loss / d s_q. (gs) into dE with two GEMMs. A row function
// therefore only knows one query: its similarities, the labels, and the rows of its class. With a
// cross-batch memory, B here is the gallery size (batch + memory rows): a row function does not know
// which rows are memory, they are more gallery (and more positives where the label is q's).
typedef struct {
    const double *s;    // [B] s_qj = <e_q, e_j>, j over the gallery (j = q included)
    double *gs;         // [B] out, zeroed by the caller: d loss_part / d s_qj
    double *tmp;        // [B] scratch owned by the calling thread
    const double *same; // [B] 1.0 where labels[j] == labels[q], else 0.0
    const int *labels;  // [B]
    const int *pos;     // [npos] gallery rows of q's class in ascending order, q included
    int npos, B, q;
    double w; // 1 / global query normaliser
} AptLossRow;

// Returns this query's contribution to loss_part (already multiplied by w).
typedef double (*AptLossRowFn)(const AptLossParams *p, const AptLossRow *r);

// One per row of loss_names.h (src/loss/loss.c builds the registry from the table).
struct AptLossImpl {
    AptLossId id;
    const char *name;
    AptLossRowFn row;
    int variant; // pnp: which f(N); others: 0
    // Whether a query whose class has npos rows (itself included) in a gallery of B counts in the
    // global normaliser. NULL: every (batch-row) query counts (the normaliser is the batch size).
    bool (*counts)(const AptLossParams *p, int npos, int B);
};

// VARIANT column of loss_names.h for the pnp-* rows.
enum { APT_PNP_O = 0, APT_PNP_DS, APT_PNP_DQ, APT_PNP_IU, APT_PNP_IB };

#ifdef __cplusplus
}
#endif
