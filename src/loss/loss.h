// loss.h — ranking losses (DESIGN §3): local queries against the global batch, one interface for all.
//
// A loss is a pure function of (E [B, D] global embeddings, labels [B], this rank's query range
// [q_begin, q_end)) -> (loss_part, dE [B, D]). loss_part is the contribution of the local queries,
// already divided by the GLOBAL query normaliser, so summing loss_part over ranks gives the 1-process
// loss; dE is the partial gradient of loss_part with respect to every row of E, so reduce-scattering
// (summing) dE over ranks gives each rank d loss / d E_local exactly (DESIGN §1 exactness).
//
// Cost: S = E[q_begin:q_end] E^T by GEMM, then O(b * m * B) sigmoid terms for the ranking losses
// (only (query, positive) pairs enter), and dE by two more GEMMs: 6 b B D flop. One process with the
// whole batch (B <= 8192) takes a symmetric path: syrk + one GEMM, 3 B^2 D flop. Memory is the
// workspace: one block of similarity rows (max(512, 64M / B_max) rows, capped at b_max) plus four
// B_max-length double rows per OpenMP thread: O(b * B), never a B x B x B tensor.
//
// Two precisions behind the same call: float32 (the training path: E, dE float; S by sgemm; every
// per-query sum is accumulated in double) and float64 (E64/dE64: `aptrain loss` and references).
//
// Thread safety: a workspace serves one call at a time. Results are deterministic: fixed query
// partitioning, per-query sums in a fixed order, no atomics; identical for any OpenMP thread count
// given the same BLAS thread count.
#pragma once
#include <stdbool.h>

#include "config/config.h"
#include "core/tensor.h"
#include "loss/loss_names.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct AptLossImpl AptLossImpl; // one per loss name (registry in loss.c)

typedef struct AptLossParams {
    const AptLossImpl *impl; // from apt_loss_find(name)
    double tau;              // sigmoid temperature (smoothap, pnp-*)
    bool include_self;       // smoothap: official-code semantics (true) or the paper's (false)
    double alpha;            // pnp-dq exponent
    double b;                // pnp-ib
    double margin;           // contrastive (negatives above it are penalised), triplet
    bool semihard;           // triplet: semi-hard negative per (q, i) instead of all triplets
    double ms_alpha, ms_beta, ms_lambda, ms_margin; // multi-similarity
} AptLossParams;

typedef struct {
    const float *E;    // [B, D] float32 global embeddings (training path), or NULL
    const double *E64; // [B, D] float64 (aptrain loss, references), or NULL; exactly one is set
    const int *labels; // [B] class ids, any order, any values
    int B, D;
    int q_begin, q_end; // this rank's queries: rows [q_begin, q_end) of E
} AptLossIn;

typedef struct {
    double loss_part; // this rank's share of the loss (global normaliser)
    float *dE;        // [B, D] overwritten when E was given: d loss_part / d E
    double *dE64;     // [B, D] overwritten when E64 was given
} AptLossOut;

typedef struct AptLossWorkspace AptLossWorkspace;

// Registry: one entry per row of loss_names.h. NULL for an unknown name. apt_loss_names() is the
// comma-separated list for messages (APT_LOSS_NAMES_COMMA).
const AptLossImpl *apt_loss_find(const char *name);
const char *apt_loss_name(const AptLossImpl *impl);
const char *apt_loss_names(void);

// Defaults of config_keys.def for `name` (tau 0.01, include_self, alpha 4, b 2, ...).
// Returns 0 if the name is unknown.
int apt_loss_params_default(AptLossParams *p, const char *name);
// From the typed config (loss.name, loss.tau, ...). User error naming `loss.name` if unknown.
void apt_loss_params_from_config(AptLossParams *p, const AptLossConfig *c);

// Set-up time only: sized for up to B_max global rows of dimension D_max, and the given precision
// (APT_F32 or APT_F64). b_max (the largest local query count) bounds the similarity block.
AptLossWorkspace *apt_loss_workspace_create(int b_max, int B_max, int D_max, AptDType dtype);
void apt_loss_workspace_free(AptLossWorkspace *ws);
size_t apt_loss_workspace_bytes(const AptLossWorkspace *ws);
// Tuning/testing knob: process at most `rows` queries per similarity block (1 <= rows <= the
// allocated block). Smaller blocks force the general 3-GEMM path that W > 1 ranks take.
void apt_loss_workspace_set_block_rows(AptLossWorkspace *ws, int rows);
// Wall time of the last apt_loss_compute: GEMMs (S and dE) and the per-query rows (sigmoid sums).
void apt_loss_workspace_timing(const AptLossWorkspace *ws, double *gemm_s, double *rows_s);

// Forward + backward for the local queries. Never allocates. Fatal if sizes exceed the workspace.
void apt_loss_compute(AptLossWorkspace *ws, const AptLossParams *p, const AptLossIn *in, AptLossOut *out);

// `aptrain loss ...` (DESIGN §3 contract); argv[0] is "loss". Returns the exit status.
int apt_loss_cmd(int argc, char **argv);

#ifdef __cplusplus
}
#endif
