// comm_nccl.h — device-memory communicator over NCCL (built only with the CUDA toolkit).
//
// Bootstrap: rank 0 creates the ncclUniqueId, MPI broadcasts it (through `host`), every rank selects
// device = local rank (MPI_COMM_TYPE_SHARED split), ncclCommInitRank. Collectives run on `stream`
// (the compute stream) except i* collectives, which run on a second communication stream ordered after
// the compute stream by an event, so gradient buckets overlap with the rest of backward; `wait` makes
// the compute stream wait for them (no host synchronisation).
#pragma once
#include "comm.h"

#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

// host: the MPI communicator (kept, used for host scalars and the id broadcast). stream: compute stream.
AptComm *apt_comm_nccl_create(AptComm *host, cudaStream_t stream);
int apt_cuda_device_count(void); // 0 on any error (no driver, no device)

#ifdef __cplusplus
}
#endif
