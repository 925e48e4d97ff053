// loss.h — ranking losses (DESIGN §3): local queries against the global batch, one interface for all.
//
// A loss is a pure function of (E [B, D] global embeddings, labels [B], this rank's query range
// [q_begin, q_end)) -> (loss_part, dE [B, D]). loss_part is the contribution of the local queries,
// already divided by the GLOBAL query normaliser, so summing loss_part over ranks gives the 1-process
// loss; dE is the partial gradient of loss_part with respect to every row of E, so reduce-scattering
// (summing) dE over ranks gives each rank d loss / d E_local exactly (DESIGN §1 exactness).
//
// The numeric work (the CPU driver and kernels, float32 and float64) lives in the backend
// (src/backend/cpu/cpu_loss.h, declared there and re-exported here): this layer holds the registry, the
// parameters from the config and the `aptrain loss` command, and calls down.
//
#pragma once
#include <stdbool.h>

#include "backend/cpu/cpu_loss.h"
#include "backend/loss_types.h"
#include "config/config.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

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

// The CPU driver (apt_loss_workspace_create/free/bytes/set_block_rows/timing, apt_loss_compute): see
// backend/cpu/cpu_loss.h.

// `aptrain loss ...` (DESIGN §3 contract); argv[0] is "loss". Returns the exit status.
int apt_loss_cmd(int argc, char **argv);

#ifdef __cplusplus
}
#endif
