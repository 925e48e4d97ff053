// drop_path.h — the per-sample keep factor of stochastic depth, shared by the CPU and CUDA twins of
// the drop_path op (backend.h) so both draw the very same mask: 0 (dropped) or 1/(1-p) (kept, rescaled as
// timm's DropPath with scale_by_keep). Keyed by (seed, epoch, step, global sample, residual branch).
#pragma once
#include "core/rng.h"

APT_HD float apt_drop_path_factor(float p, uint64_t seed, uint32_t epoch, uint32_t step, uint32_t sample,
                                  uint32_t layer) {
    if (p <= 0.0f) return 1.0f;
    AptRng4 r = apt_rng_block(seed, APT_RNG_DROP_PATH, epoch, step, sample, layer);
    return apt_rng_u32_to_float(r.v[0]) >= p ? 1.0f / (1.0f - p) : 0.0f;
}
