// comm_test_spin.cu — the test-only delay of comm_nccl.c's bucket all-reduces (APT_TEST_BUCKET_PREMUL):
// one block spins for a number of clock cycles on the communication stream before each bucket's
// all-reduce, so a compute stream that did not wait for the bucket's event would read the gradients
// before the all-reduce rewrote them, and the bitwise comparison with the staged path would fail.
#include <cuda_runtime.h>

__global__ void apt_comm_test_spin_kernel(long long cycles) {
    const long long t0 = clock64();
    while (clock64() - t0 < cycles) {
    }
}

extern "C" void apt_comm_test_spin(void *stream, long long cycles) {
    apt_comm_test_spin_kernel<<<1, 32, 0, (cudaStream_t)stream>>>(cycles);
}
