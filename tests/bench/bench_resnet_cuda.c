// bench_resnet_cuda.c — aptrain's side of the ResNet-50 GPU throughput comparison (the peer is
// bench_resnet_torch.py; tests/gpu/run.sh runs both in one command on the same GPU, in fp32).
//
//   bench_resnet_cuda [--arch resnet50] [--batch 128] [--size 224] [--steps 20] [--warmup 5] [--fp32]
// One step = model forward (train mode, frozen BatchNorm) -> Smooth-AP (tau 0.01, m = 4) on the batch
// -> model backward, on the CUDA backend; inputs are random (the loader is measured separately). Prints
// images/s (median over steps of batch / step time, host wall clock after a device sync per step).
// Default precision bf16 (today: TF32 tensor-core convolutions on fp32 tensors); --fp32 for the exact path.
// Exit 77 without a device; exit 3 (with the reason) when the model's parameter store is not in device
// memory — the CUDA backend can only run a model whose parameters live on the device.
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
        printf("BLOCKED: the parameter store (src/nn/params.c) is host memory; the CUDA backend needs the "
               "parameters and gradients in device memory (no aptrain figure)\n");
        return 3;
    }
    const int D = apt_model_embed_dim(model), m = 4;
    float *x = malloc((size_t)batch * 3 * size * size * sizeof *x), *E = malloc((size_t)batch * D * sizeof *E);
    float *dE = malloc((size_t)batch * D * sizeof *dE);
    int *labels = malloc((size_t)batch * sizeof *labels);
    uint64_t s = 7;
    for (size_t i = 0; i < (size_t)batch * 3 * size * size; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(s >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
    }
    for (int i = 0; i < batch; i++) labels[i] = i / m;
    AptLossParams lp;
    apt_loss_params_default(&lp, "smoothap");
    AptLossWorkspace *lws = apt_loss_workspace_create(batch, batch, D, APT_F32);
    double *dt = malloc((size_t)steps * sizeof *dt);
    struct cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    for (int it = -warmup; it < steps; it++) {
        be->sync(be);
        double t0 = now_s();
        apt_model_forward(model, x, batch, E, true);
        AptLossIn in = {.E = E, .labels = labels, .B = batch, .D = D, .q_begin = 0, .q_end = batch};
        AptLossOut out = {.dE = dE};
        apt_loss_compute(lws, &lp, &in, &out);
        apt_params_zero_grad(ps);
        apt_model_backward(model, dE);
        be->sync(be);
        if (it >= 0) dt[it] = now_s() - t0;
    }
    qsort(dt, (size_t)steps, sizeof *dt, cmp_d);
    printf("| aptrain %s %dx%d batch %d %s frozen BN, Smooth-AP (fwd+loss+bwd, no optimizer step) | %s | %.1f images/s "
           "(median step %.2f ms) |\n",
           arch, size, size, batch, fp32 ? "fp32" : "precision bf16 (TF32 tensor-core convolutions)", prop.name, batch / dt[steps / 2], dt[steps / 2] * 1e3);
    apt_loss_workspace_free(lws);
    apt_model_destroy(model);
    apt_backend_destroy(be);
    free(x), free(E), free(dE), free(labels), free(dt), free(cfg);
    return 0;
}
