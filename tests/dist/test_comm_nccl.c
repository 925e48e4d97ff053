// test_comm_nccl.c — NCCL communicator collectives on device buffers vs closed forms (label gpu).
// Skips (exit 77) with a clear message when no CUDA device is visible.
// Under mpirun/srun: one rank per GPU over MPI. Started bare (no launcher variables, as ctest does): a
// 1-rank NCCL communicator over comm_self, without MPI_Init — a bare GPU host has no ssh for Open MPI's
// singleton start-up, and world 1 needs no id broadcast.
#include "backend/cuda/cuda_check.cuh"
#include "dist/comm_nccl.h"
#include "dist/buckets.h"
#include "dist/exchange.h"
#include "harness.h"

#include <stdlib.h>

int main(int argc, char **argv) {
    AptComm *mpi = apt_comm_init_auto(&argc, &argv);
    printf("     host communicator: %s, world %d\n", mpi->name, mpi->world);
    if (apt_cuda_device_count() == 0) {
        printf("SKIP: no CUDA device (test_comm_nccl needs one; nothing was checked)\n");
        apt_comm_finalize(mpi);
        return 77;
    }
    apt_comm_nccl_select_device(mpi); // before the stream: it belongs to the device current at creation
    cudaStream_t stream;
    CUDA_CHECK(cudaStreamCreate(&stream)); // blocking: the legacy-stream cudaMemcpy calls below order after it
    AptComm *c = apt_comm_nccl_create(mpi, stream);
    const int W = c->world, r = c->rank;
    enum { b = 5, D = 7 };
    float El[b * D], E[8 * b * D], dE[8 * b * D], dEl[b * D];
    for (int i = 0; i < b * D; i++) El[i] = 100.0f * r + i;
    float *dEl_d, *dE_d, *El_d, *E_d;
    CUDA_CHECK(cudaMalloc((void **)&El_d, sizeof El));
    CUDA_CHECK(cudaMalloc((void **)&E_d, sizeof(float) * W * b * D));
    CUDA_CHECK(cudaMalloc((void **)&dE_d, sizeof(float) * W * b * D));
    CUDA_CHECK(cudaMalloc((void **)&dEl_d, sizeof dEl));
    CUDA_CHECK(cudaMemcpy(El_d, El, sizeof El, cudaMemcpyHostToDevice));
    apt_exchange_allgather(c, El_d, E_d, b, D);
    CUDA_CHECK(cudaMemcpy(E, E_d, sizeof(float) * W * b * D, cudaMemcpyDeviceToHost));
    int ok = 1;
    for (int q = 0; q < W; q++)
        for (int i = 0; i < b * D; i++) ok &= E[q * b * D + i] == 100.0f * q + i;
    TEST_CHECK(ok, "nccl allgather order");
    for (int i = 0; i < W * b * D; i++) dE[i] = (float)(r + 1);
    CUDA_CHECK(cudaMemcpy(dE_d, dE, sizeof(float) * W * b * D, cudaMemcpyHostToDevice));
    apt_exchange_reduce_scatter(c, dE_d, dEl_d, b, D);
    CUDA_CHECK(cudaMemcpy(dEl, dEl_d, sizeof dEl, cudaMemcpyDeviceToHost));
    ok = 1;
    for (int i = 0; i < b * D; i++) ok &= dEl[i] == W * (W + 1) / 2.0f;
    TEST_CHECK(ok, "nccl reduce_scatter sum");
    AptCommReq req = c->iallreduce(c, dE_d, (size_t)W * b * D, APT_F32, APT_SUM);
    c->wait(c, req);
    CUDA_CHECK(cudaMemcpy(dE, dE_d, sizeof(float) * W * b * D, cudaMemcpyDeviceToHost));
    TEST_CHECK(dE[0] == W * (W + 1) / 2.0f, "nccl iallreduce");
    TEST_CHECK(apt_comm_sum_host(c, 1.0) == W, "host scalar through the MPI communicator");

    // Bucketed all-reduce on the communication stream, two steps (the request ring is reused): small
    // integers, so sums are exact.
    enum { NG = 100003 };
    float *g = malloc(NG * sizeof *g), *g_d;
    CUDA_CHECK(cudaMalloc((void **)&g_d, NG * sizeof(float)));
    AptBuckets *bk = apt_buckets_create(c, g_d, NG, APT_F32, 7919);
    for (int step = 0; step < 2; step++) {
        for (int i = 0; i < NG; i++) g[i] = (float)((r + 1) * (i % 13) + step);
        CUDA_CHECK(cudaMemcpyAsync(g_d, g, NG * sizeof(float), cudaMemcpyHostToDevice, stream));
        for (long lo = NG; lo > 0;) { // "backward" finishes 5000 elements at a time from the end
            lo = lo > 5000 ? lo - 5000 : 0;
            apt_buckets_ready_from(bk, (size_t)lo);
        }
        apt_buckets_wait(bk);
        CUDA_CHECK(cudaMemcpyAsync(g, g_d, NG * sizeof(float), cudaMemcpyDeviceToHost, stream));
        CUDA_CHECK(cudaStreamSynchronize(stream));
        ok = 1;
        for (int i = 0; i < NG; i++) ok &= g[i] == (float)(W * (W + 1) / 2 * (i % 13) + W * step);
        TEST_CHECK(ok, "nccl buckets step %d: sums over %d ranks", step, W);
    }
    apt_buckets_free(bk);
    CUDA_CHECK(cudaFree(g_d));
    free(g);
    int rc = apt_test_finish("test_comm_nccl");
    c->barrier(c); // the polling barrier: every stream drained, no asynchronous error
    c->destroy(c);
    CUDA_CHECK(cudaStreamDestroy(stream));
    apt_comm_finalize(mpi);
    return rc;
}
