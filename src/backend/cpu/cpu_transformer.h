// cpu_transformer.h — the CPU transformer ops of backend.h (internal to src/backend/cpu/).
#pragma once
#include "backend/backend.h"

// Fill the transformer block of the CPU op table (called once by apt_backend_cpu_create).
void apt_cpu_transformer_register(AptBackend *be);
