// loss_cuda.h — the ranking losses on a CUDA device: the interface of src/backend/cuda/cuda_loss.cu,
// declared in backend/cuda/cuda_loss.h (built only with the CUDA toolkit); forwarding header.
#pragma once
#include "backend/cuda/cuda_loss.h"
#include "loss/loss.h"
