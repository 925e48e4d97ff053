// comm_nccl_open_stub.c — built without CUDA: there is no NCCL communicator.
#include "comm.h"

#include <stddef.h>

AptComm *apt_comm_nccl_open(AptComm *host, struct AptBackend *be, const char **why) {
    (void)host, (void)be;
    if (why) *why = "aptrain was built without CUDA/NCCL";
    return NULL;
}
