// bench_loss_cuda.c — forward+backward time and device memory of the fused CUDA ranking loss
// (apt_loss_compute_cuda_async), the GPU counterpart of bench_loss.c.
//
//   bench_loss_cuda [--loss NAME] [--D 512] [--m 4] [--reps 10] [--world W] [--rows R] B [B ...]
// For each global batch B: random L2-normalised float32 embeddings on the device, B/m classes of m in
// shuffled order; this process scores the queries of one rank of W (b = B / W; W = 1: every query).
// Prints one row per B: median and min time of `reps` calls after two warm-ups (CUDA events on the
// loss stream, label grouping on the host included), the GEMM work (3 GEMMs of 2 b B D flop) and the
// sigmoid terms (b m B, evaluated twice), the workspace bytes and the device memory the call needs
// beyond E and dE (cudaMemGetInfo before/after set-up). Exit 77 without a device.
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_check.cuh"
#include "loss/loss.h"
#include "backend/cuda/cuda_loss.h"
#include "loss/loss.h"

static int cmp_f(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

int main(int argc, char **argv) {
    const char *name = "smoothap";
    int D = 512, m = 4, reps = 10, W = 1, rows = 0;
    int Bs[32], nB = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--loss") && i + 1 < argc) name = argv[++i];
        else if (!strcmp(argv[i], "--D") && i + 1 < argc) D = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--m") && i + 1 < argc) m = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--world") && i + 1 < argc) W = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rows") && i + 1 < argc) rows = atoi(argv[++i]);
        else if (nB < 32 && atoi(argv[i]) > 0) Bs[nB++] = atoi(argv[i]);
        else {
            fprintf(stderr, "usage: bench_loss_cuda [--loss NAME] [--D 512] [--m 4] [--reps 10] [--world W] "
                            "[--rows R] B [B ...]\n");
            return 2;
        }
    }
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        printf("SKIP: no CUDA device\n");
        return 77;
    }
    struct cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    AptLossParams p;
    if (!apt_loss_params_default(&p, name) || !apt_loss_cuda_supports(&p)) {
        fprintf(stderr, "bench_loss_cuda: loss '%s' has no CUDA implementation\n", name);
        return 2;
    }
    printf("# fused CUDA loss %s, D=%d m=%d, world %d (b = B/W queries on this GPU), %s, reps %d\n", name, D, m, W,
           prop.name, reps);
    printf("| B | b | median ms | min ms | GEMM TFLOP/s | sigmoid terms (x2) | workspace MiB | device MiB used |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    for (int t = 0; t < nB; t++) {
        const int B = Bs[t], b = B / W;
        const size_t nE = (size_t)B * D;
        float *E = malloc(nE * sizeof *E);
        int *labels = malloc((size_t)B * sizeof *labels);
        uint64_t s = 12345 + (uint64_t)B;
        for (int r = 0; r < B; r++) {
            double nrm = 0;
            for (int d = 0; d < D; d++) {
                float v = (float)((double)lcg(&s) / 2147483648.0 - 0.5);
                E[(size_t)r * D + d] = v;
                nrm += (double)v * v;
            }
            for (int d = 0; d < D; d++) E[(size_t)r * D + d] = (float)(E[(size_t)r * D + d] / sqrt(nrm));
            labels[r] = r / m;
        }
        for (int r = B - 1; r > 0; r--) {
            int j = (int)(lcg(&s) % (uint64_t)(r + 1)), x = labels[r];
            labels[r] = labels[j];
            labels[j] = x;
        }
        float *E_d, *dE_d;
        CUDA_CHECK(cudaMalloc((void **)&E_d, nE * sizeof(float)));
        CUDA_CHECK(cudaMalloc((void **)&dE_d, nE * sizeof(float)));
        CUDA_CHECK(cudaMemcpy(E_d, E, nE * sizeof(float), cudaMemcpyHostToDevice));
        cudaStream_t stream;
        CUDA_CHECK(cudaStreamCreate(&stream));
        size_t free0 = 0, free1 = 0, total = 0;
        CUDA_CHECK(cudaDeviceSynchronize());
        CUDA_CHECK(cudaMemGetInfo(&free0, &total));
        AptLossCudaWorkspace *ws = apt_loss_cuda_workspace_create(b, B, D, m, rows, stream);
        CUDA_CHECK(cudaDeviceSynchronize());
        CUDA_CHECK(cudaMemGetInfo(&free1, &total));
        AptLossIn in = {.E = E_d, .labels = labels, .B = B, .D = D, .q_begin = 0, .q_end = b};
        AptLossOut out = {.dE = dE_d};
        cudaEvent_t e0, e1;
        CUDA_CHECK(cudaEventCreate(&e0));
        CUDA_CHECK(cudaEventCreate(&e1));
        float *ms = malloc((size_t)reps * sizeof *ms);
        for (int w = 0; w < 2; w++) apt_loss_compute_cuda(ws, &p, &in, &out);
        for (int r = 0; r < reps; r++) {
            CUDA_CHECK(cudaEventRecord(e0, stream));
            apt_loss_compute_cuda_async(ws, &p, &in, &out);
            CUDA_CHECK(cudaEventRecord(e1, stream));
            CUDA_CHECK(cudaEventSynchronize(e1));
            CUDA_CHECK(cudaEventElapsedTime(&ms[r], e0, e1));
        }
        qsort(ms, (size_t)reps, sizeof *ms, cmp_f);
        const double med = ms[reps / 2], gemm_flop = 3.0 * 2.0 * b * (double)B * D;
        printf("| %d | %d | %.3f | %.3f | %.1f | %.3g | %.1f | %.1f |\n", B, b, med, ms[0], gemm_flop / (med * 1e-3) / 1e12,
               (double)b * m * B, apt_loss_cuda_workspace_bytes(ws) / 1048576.0, (double)(free0 - free1) / 1048576.0);
        fflush(stdout);
        apt_loss_cuda_workspace_free(ws);
        CUDA_CHECK(cudaEventDestroy(e0));
        CUDA_CHECK(cudaEventDestroy(e1));
        CUDA_CHECK(cudaStreamDestroy(stream));
        CUDA_CHECK(cudaFree(E_d));
        CUDA_CHECK(cudaFree(dE_d));
        free(E);
        free(labels);
        free(ms);
    }
    return 0;
}
