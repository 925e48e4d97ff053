// test_comm_nccl.c — NCCL communicator collectives on device buffers vs closed forms (label gpu).
// Skips (exit 77) with a clear message when no CUDA device is visible.
#include "dist/comm_nccl.h"
#include "dist/exchange.h"
#include "harness.h"

int main(int argc, char **argv) {
    AptComm *mpi = apt_comm_init_mpi(&argc, &argv);
    if (apt_cuda_device_count() == 0) {
        printf("SKIP test_comm_nccl: no CUDA device visible\n");
        apt_comm_finalize(mpi);
        return 77;
    }
    cudaStream_t stream;
    cudaStreamCreate(&stream);
    AptComm *c = apt_comm_nccl_create(mpi, stream);
    const int W = c->world, r = c->rank;
    enum { b = 5, D = 7 };
    float El[b * D], E[8 * b * D], dE[8 * b * D], dEl[b * D];
    for (int i = 0; i < b * D; i++) El[i] = 100.0f * r + i;
    float *dEl_d, *dE_d, *El_d, *E_d;
    cudaMalloc((void **)&El_d, sizeof El);
    cudaMalloc((void **)&E_d, sizeof(float) * W * b * D);
    cudaMalloc((void **)&dE_d, sizeof(float) * W * b * D);
    cudaMalloc((void **)&dEl_d, sizeof dEl);
    cudaMemcpy(El_d, El, sizeof El, cudaMemcpyHostToDevice);
    apt_exchange_allgather(c, El_d, E_d, b, D);
    cudaMemcpy(E, E_d, sizeof(float) * W * b * D, cudaMemcpyDeviceToHost);
    int ok = 1;
    for (int q = 0; q < W; q++)
        for (int i = 0; i < b * D; i++) ok &= E[q * b * D + i] == 100.0f * q + i;
    TEST_CHECK(ok, "nccl allgather order");
    for (int i = 0; i < W * b * D; i++) dE[i] = (float)(r + 1);
    cudaMemcpy(dE_d, dE, sizeof(float) * W * b * D, cudaMemcpyHostToDevice);
    apt_exchange_reduce_scatter(c, dE_d, dEl_d, b, D);
    cudaMemcpy(dEl, dEl_d, sizeof dEl, cudaMemcpyDeviceToHost);
    ok = 1;
    for (int i = 0; i < b * D; i++) ok &= dEl[i] == W * (W + 1) / 2.0f;
    TEST_CHECK(ok, "nccl reduce_scatter sum");
    AptCommReq req = c->iallreduce(c, dE_d, (size_t)W * b * D, APT_F32, APT_SUM);
    c->wait(c, req);
    cudaMemcpy(dE, dE_d, sizeof(float) * W * b * D, cudaMemcpyDeviceToHost);
    TEST_CHECK(dE[0] == W * (W + 1) / 2.0f, "nccl iallreduce");
    TEST_CHECK(apt_comm_sum_host(c, 1.0) == W, "host scalar through the MPI communicator");
    int rc = apt_test_finish("test_comm_nccl");
    c->destroy(c);
    apt_comm_finalize(mpi);
    return rc;
}
