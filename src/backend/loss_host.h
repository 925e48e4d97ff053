// loss_host.h — the backend's public host-memory side of the ranking losses (DESIGN §3): the registry of
// losses (one entry per row of core/loss_names.h, pointing at the CPU row functions) and the CPU driver
// over host arrays, in float32 (the CPU table's loss op) or float64 (`aptrain loss`, the references).
// The layers above (src/loss: parameters and `aptrain loss`; tests; benchmarks) use this header, never
// the kernels' own (backend/cpu/cpu_loss.h).
//
// Driver cost: S = E[q_begin:q_end] E^T by GEMM, then O(b * m * B) sigmoid terms for the ranking losses
// (only (query, positive) pairs enter), and dE by two more GEMMs; memory O(b * B), never B x B x B
// (backend/cpu/cpu_loss.h has the details).
#pragma once
#include <stddef.h>

#include "backend/loss_types.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

// Registry: one entry per row of loss_names.h (cpu_loss_registry.c). NULL for an unknown name.
// apt_loss_names() is the comma-separated list for messages (APT_LOSS_NAMES_COMMA).
const AptLossImpl *apt_loss_find(const char *name);
const char *apt_loss_name(const AptLossImpl *impl);
const char *apt_loss_names(void);

typedef struct AptLossWorkspace AptLossWorkspace;

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

#ifdef __cplusplus
}
#endif
