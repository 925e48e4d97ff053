// comm_nccl_open.c — the trainer's way to the NCCL communicator (CUDA builds): the CUDA backend's compute
// stream goes to apt_comm_nccl_create, so collectives are ordered after the ops that produce their input.
#include "comm.h"
#include "comm_nccl.h"

#include "backend/backend.h"

AptComm *apt_comm_nccl_open(AptComm *host, struct AptBackend *be, const char **why) {
    if (why) *why = NULL;
    // The real CUDA backend's stream, also when the trainer wraps it (train.profile_steps: profile_backend.h).
    void *stream = apt_backend_device_stream(be);
    if (!stream) {
        if (why) *why = "the backend has no device stream (not a CUDA backend)";
        return NULL;
    }
    return apt_comm_nccl_create(host, (cudaStream_t)stream);
}
