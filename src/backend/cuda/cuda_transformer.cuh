// cuda_transformer.cuh — the CUDA transformer ops of backend.h (internal to src/backend/cuda/).
#pragma once
#include "backend/backend.h"

// Fill the transformer block of the CUDA op table (called once by apt_backend_cuda_create).
void apt_cuda_transformer_register(AptBackend *be);
