// loss_pair.h — the per-(query, positive) arithmetic of the fused CUDA ranking losses lives in
// src/backend/loss_pair.h (header-only, shared by the CUDA kernels and host tests); forwarding header.
#pragma once
#include "backend/loss_pair.h"
