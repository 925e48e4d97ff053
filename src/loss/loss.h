// loss.h — ranking losses (DESIGN §3): local queries against the global batch, one interface for all.
//
// A loss is a pure function of (E [B, D] global embeddings, labels [B], this rank's query range
// [q_begin, q_end)) -> (loss_part, dE [B, D]). loss_part is the contribution of the local queries,
// already divided by the GLOBAL query normaliser, so summing loss_part over ranks gives the 1-process
// loss; dE is the partial gradient of loss_part with respect to every row of E, so reduce-scattering
// (summing) dE over ranks gives each rank d loss / d E_local exactly (DESIGN §1 exactness).
//
// The numeric work (the registry of losses, the CPU driver, float32 and float64, and the kernels) lives
// in the backend; its public side is backend/loss_host.h, included here: this layer holds the parameters
// from the config and the `aptrain loss` command, and calls down.
//
#pragma once
#include <stdbool.h>

#include "backend/loss_host.h"
#include "backend/loss_types.h"
#include "config/config.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

// Defaults of config_keys.def for `name` (tau 0.01, include_self, alpha 4, b 2, ...).
// Returns 0 if the name is unknown.
int apt_loss_params_default(AptLossParams *p, const char *name);
// From the typed config (loss.name, loss.tau, ...). User error naming `loss.name` if unknown.
void apt_loss_params_from_config(AptLossParams *p, const AptLossConfig *c);

// `aptrain loss ...` (DESIGN §3 contract); argv[0] is "loss". Returns the exit status.
int apt_loss_cmd(int argc, char **argv);

#ifdef __cplusplus
}
#endif
