// bench_nccl.c — NCCL all-reduce of the ResNet-50 gradient buffer and how much of it the bucket
// machinery hides behind backward. Run with one rank per GPU: `mpirun -np W bench_nccl [options]`
// (W = 1 is allowed: it measures the machinery — launch, stream ordering, events — not a network; started
// without a launcher it runs as one rank over comm_self and never calls MPI_Init).
//
//   bench_nccl [--bucket-mb 25] [--bwd-ms 60] [--reps 10] [--arch resnet50]
// The buffer is the flat gradient store of our own model (apt_model_create on the CPU backend, so the
// element count and the per-tensor offsets are exactly the trainer's). Rows printed (median of reps):
//   allreduce-1      one ncclAllReduce of the whole buffer on the compute stream
//   buckets          the buffer as buckets of --bucket-mb on the communication stream, no compute
//   backward         a SYNTHETIC backward: one kernel per parameter tensor in reverse registration order,
//                    each occupying every SM for bwd-ms / tensors (calibrated spin), no communication
//   backward+buckets the same, telling the buckets after each tensor that its gradient is final
//   hidden           (backward + buckets - backward+buckets) / buckets: the share of communication
//                    time hidden behind backward (1 = fully hidden)
// The synthetic backward spreads time evenly over tensors; a real ResNet-50 backward spends more time
// in early layers (large activations, few parameters), which finishes gradients later: treat the
// figure as the machinery's bound, and the trainer's step timing as the real one.
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_check.cuh"
#include "config/config.h"
#include "dist/buckets.h"
#include "dist/comm_nccl.h"
#include "nn/model.h"

static const char *usage =
    "usage: mpirun -np W bench_nccl [--bucket-mb 25] [--bwd-ms 60] [--reps 10] [--arch resnet50]";

static int cmp_f(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

// Defined in bench_nccl_spin.cu: enqueue a kernel that keeps every SM busy for `cycles` clock cycles.
void apt_bench_spin(void *stream, long long cycles, int sms);

static float median(float *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_f);
    return v[n / 2];
}

int main(int argc, char **argv) {
    double bucket_mb = 25, bwd_ms = 60;
    int reps = 10;
    const char *arch = "resnet50";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bucket-mb") && i + 1 < argc) bucket_mb = atof(argv[++i]);
        else if (!strcmp(argv[i], "--bwd-ms") && i + 1 < argc) bwd_ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--arch") && i + 1 < argc) arch = argv[++i];
        else {
            fprintf(stderr, "%s\n", usage);
            return 2;
        }
    }
    AptComm *mpi = apt_comm_init_auto(&argc, &argv);
    if (apt_cuda_device_count() == 0) {
        if (mpi->rank == 0) printf("SKIP: no CUDA device\n");
        apt_comm_finalize(mpi);
        return 77;
    }
    // The trainer's gradient layout: build the model on the CPU backend (host memory, small input).
    AptConfig *cfg = calloc(1, sizeof *cfg);
    apt_config_defaults(cfg);
    snprintf(cfg->model.arch, sizeof cfg->model.arch, "%s", arch);
    AptBackend *cpu = apt_backend_create("cpu");
    AptModel *model = apt_model_create(&cfg->model, cpu, NULL, 1, 3, 64, 64, 1);
    AptParamStore *ps = apt_model_params(model);
    const size_t numel = ps->numel;

    // Device = local rank, selected before the stream is created (the stream belongs to the device current
    // at its creation; apt_comm_nccl_create checks it).
    apt_comm_nccl_select_device(mpi);
    cudaStream_t stream;
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    AptComm *c = apt_comm_nccl_create(mpi, stream);
    int dev = 0, sms = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    struct cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));

    float *g;
    CUDA_CHECK(cudaMalloc((void **)&g, numel * sizeof(float)));
    CUDA_CHECK(cudaMemset(g, 0, numel * sizeof(float)));
    const size_t bucket_elems = (size_t)(bucket_mb * 1048576.0 / sizeof(float));
    AptBuckets *bk = apt_buckets_create(c, g, numel, APT_F32, bucket_elems);
    cudaEvent_t e0, e1;
    CUDA_CHECK(cudaEventCreate(&e0));
    CUDA_CHECK(cudaEventCreate(&e1));
    float *t_full = malloc((size_t)reps * 4), *t_bk = malloc((size_t)reps * 4), *t_bwd = malloc((size_t)reps * 4),
          *t_both = malloc((size_t)reps * 4);

    // Calibrate the spin kernel: cycles per millisecond on this device.
    const long long cal = 20000000;
    apt_bench_spin(stream, cal, sms); // warm-up
    CUDA_CHECK(cudaEventRecord(e0, stream));
    apt_bench_spin(stream, cal, sms);
    CUDA_CHECK(cudaEventRecord(e1, stream));
    CUDA_CHECK(cudaEventSynchronize(e1));
    float cal_ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&cal_ms, e0, e1));
    const double cycles_per_ms = cal / cal_ms;
    int ntensors = 0;
    for (int k = 0; k < ps->n; k++) ntensors += !ps->p[k].is_buffer;
    const long long per_tensor = (long long)(bwd_ms / ntensors * cycles_per_ms);

    for (int r = -2; r < reps; r++) { // two warm-ups
        float ms;
        c->barrier(c);
        CUDA_CHECK(cudaEventRecord(e0, stream));
        c->allreduce(c, g, numel, APT_F32, APT_SUM);
        CUDA_CHECK(cudaEventRecord(e1, stream));
        CUDA_CHECK(cudaEventSynchronize(e1));
        CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
        if (r >= 0) t_full[r] = ms;

        c->barrier(c);
        CUDA_CHECK(cudaEventRecord(e0, stream));
        apt_buckets_wait(bk); // starts every bucket, compute stream waits for them
        CUDA_CHECK(cudaEventRecord(e1, stream));
        CUDA_CHECK(cudaEventSynchronize(e1));
        CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
        if (r >= 0) t_bk[r] = ms;

        for (int with_comm = 0; with_comm < 2; with_comm++) {
            c->barrier(c);
            CUDA_CHECK(cudaEventRecord(e0, stream));
            for (int k = ps->n - 1; k >= 0; k--) {
                if (ps->p[k].is_buffer) continue;
                apt_bench_spin(stream, per_tensor, sms);
                if (with_comm) apt_buckets_ready_from(bk, ps->p[k].offset);
            }
            if (with_comm) apt_buckets_wait(bk);
            CUDA_CHECK(cudaEventRecord(e1, stream));
            CUDA_CHECK(cudaEventSynchronize(e1));
            CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
            if (r >= 0) (with_comm ? t_both : t_bwd)[r] = ms;
        }
    }
    const float full = median(t_full, reps), bkt = median(t_bk, reps), bwd = median(t_bwd, reps),
                both = median(t_both, reps);
    double hidden = bkt > 0 ? (bwd + bkt - both) / bkt : 0;
    hidden = hidden < 0 ? 0 : (hidden > 1 ? 1 : hidden);
    if (c->rank == 0) {
        printf("# NCCL all-reduce of the %s gradient buffer: %zu float32 (%.1f MiB), world %d, %s, %d buckets of "
               "%.0f MiB, synthetic backward %.0f ms over %d tensors, reps %d\n",
               arch, numel, numel * 4.0 / 1048576.0, c->world, prop.name, apt_buckets_count(bk), bucket_mb, bwd_ms,
               ntensors, reps);
        printf("| what | median ms |\n|---|---|\n");
        printf("| allreduce-1 (whole buffer) | %.3f |\n", full);
        printf("| buckets, no compute | %.3f |\n", bkt);
        printf("| synthetic backward alone | %.3f |\n", bwd);
        printf("| backward + buckets | %.3f |\n", both);
        printf("| hidden share of bucket time | %.2f |\n", hidden);
        printf("| bus bandwidth, allreduce-1 (2(W-1)/W bytes / t) | %.1f GB/s |\n",
               c->world > 1 ? 2.0 * (c->world - 1) / c->world * numel * 4.0 / (full * 1e-3) / 1e9 : 0.0);
    }
    apt_buckets_free(bk);
    CUDA_CHECK(cudaFree(g));
    c->destroy(c);
    apt_model_destroy(model);
    apt_backend_destroy(cpu);
    free(cfg);
    apt_comm_finalize(mpi);
    return 0;
}
