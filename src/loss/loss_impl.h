// loss_impl.h — what a loss implements (the per-query row interface, AptLossImpl, the sigmoid kernels and
// the row functions): the CPU kernels in src/backend/cpu/ (cpu_loss.h) and the shared types
// (backend/loss_types.h). Forwarding header for the layers above the backend (tests, references).
#pragma once
#include "backend/cpu/cpu_loss.h"
#include "backend/loss_types.h"
#include "loss/loss.h"
