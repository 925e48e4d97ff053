// cuda_stub.c — built when the CUDA toolkit is absent: the CUDA backend does not exist.
#include "backend.h"

#include <stddef.h>

AptBackend *apt_backend_cuda_create(const char **why) {
    if (why) *why = "aptrain was built without CUDA";
    return NULL;
}

AptBackend *apt_backend_cuda_create_on(int local_rank, const char **why) {
    (void)local_rank;
    return apt_backend_cuda_create(why);
}

void *apt_backend_device_stream(AptBackend *be) {
    (void)be;
    return NULL;
}

int apt_backend_cuda_pci_bus_id(const AptBackend *be, char *out, int cap) {
    (void)be;
    if (out && cap > 0) out[0] = 0;
    return -1;
}
