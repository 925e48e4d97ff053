// comm_nccl.h — device-memory communicator over NCCL (built only with the CUDA toolkit).
//
// Set-up order, one GPU per rank (each step needs the one before):
//   1. host = apt_comm_init_mpi(...)        (or apt_comm_init_auto: comm_self when no launcher started
//                                            the process; NCCL then runs as one rank without MPI)
//   2. apt_comm_nccl_select_device(host)   cudaSetDevice(local rank). BEFORE any stream, event, buffer,
//                                            cuBLAS/cuDNN handle or CUDA backend: each belongs to the
//                                            device current when it is created.
//   3. the backend / compute stream / buffers, now on that device
//   4. apt_comm_nccl_create(host, stream)  checks 2 and 3 (fatal otherwise), then rank 0 creates the
//                                            ncclUniqueId, `host` broadcasts it, ncclCommInitRank.
// Collectives run on `stream` (the compute stream) except i* collectives, which run on a second
// communication stream ordered after the compute stream by an event, so gradient buckets overlap with
// the rest of backward; `wait` makes the compute stream wait for them (no host synchronisation).
// Failure handling: create registers ncclCommAbort in the abort hook, so apt_fatal anywhere aborts the
// NCCL communicator (releasing kernels blocked on a peer) before MPI_Abort. barrier and destroy never
// block in cudaStreamSynchronize: they poll the streams, NCCL's asynchronous error and a timeout
// (APT_NCCL_TIMEOUT_S, default 1800 s), so a dead peer ends the job instead of hanging it.
#pragma once
#include "comm.h"

#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

// Step 2 above; returns the device index selected (local rank, or 0 when only one device is visible).
int apt_comm_nccl_select_device(const AptComm *host);
// host: the MPI (or, with world 1, self) communicator, kept for host scalars and the id broadcast.
// stream: the compute stream, created on the selected device.
AptComm *apt_comm_nccl_create(AptComm *host, cudaStream_t stream);
int apt_cuda_device_count(void); // 0 on any error (no driver, no device)

#ifdef __cplusplus
}
#endif
