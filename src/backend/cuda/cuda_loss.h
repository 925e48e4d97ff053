// cuda_loss.h — the ranking losses on a CUDA device (built only with the CUDA toolkit).
//
// Same semantics as apt_loss_compute (backend/cpu/cpu_loss.h, DESIGN §3) for float32 and the losses whose
// CUDA column in loss_names.h is not NONE (today smoothap, both include_self settings, and the pnp-* variants):
//   in->E      [B, D] float32, DEVICE memory (the all-gathered embeddings)
//   in->labels [B]    int, HOST memory (the sampler's plan is known on every rank; grouping by label is
//                     an O(B log B) host sort whose result goes to the device in one async copy)
//   out->dE    [B, D] float32, DEVICE memory, overwritten: d loss_part / d E
//   out->loss_part     host double (apt_loss_compute_cuda) — see the two entry points below.
// Cost per block of at most `rows` local queries: S = E_q E^T (cuBLAS SGEMM, fp32 math, no TF32), two
// fused kernels doing O(rows * m * B) sigmoid terms, dE by two more SGEMMs. Memory O(rows * B).
// Deterministic: fixed-tree block reductions in double, no atomics, fixed cuBLAS configuration, so two
// calls with the same inputs on the same device give bitwise equal loss and dE.
#pragma once
#include <stddef.h>

#include "backend/loss_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct AptLossCudaWorkspace AptLossCudaWorkspace;

// Set-up time only (allocates device and pinned host memory). b_max: most local queries per call;
// B_max, D_max: largest global batch and dimension; m_max: largest class size in a batch (the sampler's m;
// B_max is always safe). rows_max: similarity rows per block, 0 = choose (S block <= 1 GiB).
// stream: the cudaStream_t every operation is enqueued on (NULL = the legacy default stream).
AptLossCudaWorkspace *apt_loss_cuda_workspace_create(int b_max, int B_max, int D_max, int m_max, int rows_max,
                                                     void *stream);
void apt_loss_cuda_workspace_free(AptLossCudaWorkspace *ws);
size_t apt_loss_cuda_workspace_bytes(const AptLossCudaWorkspace *ws); // device bytes held

// 1 if the CUDA path implements this loss (its CUDA column in loss_names.h is not NONE), else 0.
int apt_loss_cuda_supports(const AptLossParams *p);

// Enqueue forward + backward on the workspace's stream; returns without waiting for the device.
// dE is final when the stream reaches this point; the loss stays on the device (apt_loss_cuda_loss_dev)
// and out->loss_part is not written.
// The only host wait: before re-filling its pinned label buffers, a call waits for the previous call's
// label upload (normally long finished).
void apt_loss_compute_cuda_async(AptLossCudaWorkspace *ws, const AptLossParams *p, const AptLossIn *in,
                                 AptLossOut *out);
// Device pointer to this call's loss_part (one double), valid until the next call.
const double *apt_loss_cuda_loss_dev(const AptLossCudaWorkspace *ws);
// As the async call, then one stream synchronisation to fill out->loss_part.
void apt_loss_compute_cuda(AptLossCudaWorkspace *ws, const AptLossParams *p, const AptLossIn *in,
                           AptLossOut *out);

#ifdef __cplusplus
}
#endif
