// bench_resnet_cuda.c — aptrain's side of the ResNet-50 GPU throughput comparison (the peer is
// bench_resnet_torch.py; tests/gpu/run.sh runs both in one command on the same GPU, in fp32).
//
//   bench_resnet_cuda [--arch resnet50] [--batch 128] [--size 224] [--steps 20] [--warmup 5] [--fp32]
// One step = model forward (train mode, frozen BatchNorm) -> Smooth-AP (tau 0.01, m = 4) on the batch
// -> model backward, all on the CUDA backend with x, E, dE and the loss in device memory (the training
// step's device path: the table's loss op, no host copies); inputs are random and uploaded once (the
// loader and the batch upload are measured separately). Prints
// images/s (median over steps of batch / step time, host wall clock after a device sync per step).
// Default precision bf16 (today: TF32 tensor-core convolutions on fp32 tensors); --fp32 for the exact path.
// Exit 77 without a device; exit 3 (with the reason) if the model's parameter store were not in device
// memory (it is on the cuda backend: apt_params_finalize_on; the check guards against a regression).
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_backend.h"
#include "config/config.h"
#include "loss/loss.h"
#include "nn/model.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *arch = "resnet50";
    int batch = 128, size = 224, steps = 20, warmup = 5, fp32 = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--arch") && i + 1 < argc) arch = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc) size = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--fp32")) fp32 = 1;
        else {
            fprintf(stderr, "usage: bench_resnet_cuda [--arch resnet50] [--batch 128] [--size 224] [--steps 20] "
                            "[--warmup 5] [--fp32]\n");
            return 2;
        }
    }
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        printf("SKIP: no CUDA device\n");
        return 77;
    }
    AptConfig *cfg = calloc(1, sizeof *cfg);
    apt_config_defaults(cfg);
    snprintf(cfg->model.arch, sizeof cfg->model.arch, "%s", arch);
    cfg->model.bn = APT_BN_FROZEN;
    AptBackend *be = apt_backend_create("cuda");
    apt_backend_cuda_set_precision(be, !fp32);
    AptModel *model = apt_model_create(&cfg->model, be, NULL, batch, 3, size, size, 1);
    AptParamStore *ps = apt_model_params(model);
    struct cudaPointerAttributes attr;
    if (cudaPointerGetAttributes(&attr, ps->w) != cudaSuccess || attr.type != cudaMemoryTypeDevice) {
        (void)cudaGetLastError(); // clear the expected failure of the query
        printf("BLOCKED: the parameter store (src/nn/params.c) is not in device memory; the CUDA backend needs "
               "the parameters and gradients on the device (no aptrain figure)\n");
        return 3;
    }
    const int D = apt_model_embed_dim(model), m = 4;
    const size_t nx = (size_t)batch * 3 * size * size;
    float *x = malloc(nx * sizeof *x);
    int *labels = malloc((size_t)batch * sizeof *labels); // host memory: the loss op's contract
    uint64_t s = 7;
    for (size_t i = 0; i < nx; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
    }
    for (int i = 0; i < batch; i++) labels[i] = i / m;
    float *xd = be->alloc(be, nx * sizeof *xd), *E = be->alloc(be, (size_t)batch * D * sizeof *E);
    float *dE = be->alloc(be, (size_t)batch * D * sizeof *dE);
    double *loss = be->alloc(be, sizeof *loss);
    be->copy(be, xd, x, nx * sizeof *x, APT_COPY_H2D);
    AptLossParams lp;
    apt_loss_params_default(&lp, "smoothap");
    void *lws = NULL;
    be->loss_create(be, &lp, batch, batch, D, m, &lws);
    if (!lws) {
        fprintf(stderr, "bench_resnet_cuda: the cuda table has no Smooth-AP kernel\n");
        return 1;
    }
    double *dt = malloc((size_t)steps * sizeof *dt);
    struct cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    for (int it = -warmup; it < steps; it++) {
        be->sync(be);
        double t0 = now_s();
        apt_model_forward_dev(model, xd, batch, E, true);
        be->loss_compute(be, lws, &lp, E, labels, batch, D, 0, batch, dE, loss);
        apt_params_zero_grad(ps);
        apt_model_backward_dev(model, dE);
        be->sync(be);
        if (it >= 0) dt[it] = now_s() - t0;
    }
    qsort(dt, (size_t)steps, sizeof *dt, cmp_d);
    printf("| aptrain %s %dx%d batch %d %s frozen BN, Smooth-AP (fwd+loss+bwd, no optimizer step) | %s | %.1f images/s "
           "(median step %.2f ms) |\n",
           arch, size, size, batch, fp32 ? "fp32" : "precision bf16 (TF32 tensor-core convolutions)", prop.name, batch / dt[steps / 2], dt[steps / 2] * 1e3);
    be->loss_free(be, lws);
    be->free(be, xd), be->free(be, E), be->free(be, dE), be->free(be, loss);
    apt_model_destroy(model);
    apt_backend_destroy(be);
    free(x), free(labels), free(dt), free(cfg);
    return 0;
}
