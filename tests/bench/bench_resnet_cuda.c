// bench_resnet_cuda.c — aptrain's side of the ResNet-50 GPU throughput comparison (the peer is
// bench_resnet_torch.py; tests/gpu/run.sh runs both in one command on the same GPU, in fp32).
//
//   bench_resnet_cuda [--arch resnet50] [--batch 128] [--size 224] [--steps 20] [--warmup 5]
//                     [--fp32 | --bf16 | --tf32] [--step] [--profile [N]]
// One step = model forward (train mode, frozen BatchNorm) -> Smooth-AP (tau 0.01, m = 4) on the batch
// -> model backward [--step: -> SGD update, momentum 0.9, as in training], all on the CUDA backend with x,
// E, dE and the loss in device memory (the training step's device path: the table's loss op, no host
// copies); inputs are random and uploaded once (the loader and the batch upload are measured separately).
// Prints
// images/s (median over steps of batch / step time, host wall clock after a device sync per step).
// Precision: --fp32 (default; the exact path: FMA math, no TF32), --bf16 (precision: bf16 as training runs
// it: the model's bf16 activation chain, apt_model_create_ex), --tf32 (fp32 tensors with TF32 tensor-core
// convolutions, the backend's older fast mode).
// --profile [N] (default 5): after the timed steps, 1 + N more steps on the same model through the per-op
// profiler (src/backend/profile/: CUDA events on the compute stream around every op, read once after the
// N steps; the first of them is warm-up and not profiled), then the table, each line prefixed "profile: "
// (tests/gpu/run.sh greps it). The backend is wrapped from the start, so the timed steps run through the
// wrapper's pass-through (one branch per op); they are never timed op by op.
// Exit 77 without a device.
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "backend/profile/profile_backend.h"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_backend.h"
#include "config/config.h"
#include "loss/loss.h"
#include "nn/model.h"
#include "optim/optim.h"

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
    int batch = 128, size = 224, steps = 20, warmup = 5, fp32 = 1, bf16 = 0, with_step = 0, profile = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--arch") && i + 1 < argc) arch = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc) size = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--fp32")) fp32 = 1, bf16 = 0;
        else if (!strcmp(argv[i], "--bf16")) bf16 = 1, fp32 = 0;
        else if (!strcmp(argv[i], "--tf32")) fp32 = 0, bf16 = 0;
        else if (!strcmp(argv[i], "--step")) with_step = 1;
        else if (!strcmp(argv[i], "--profile")) profile = i + 1 < argc && atoi(argv[i + 1]) > 0 ? atoi(argv[++i]) : 5;
        else {
            fprintf(stderr, "usage: bench_resnet_cuda [--arch resnet50] [--batch 128] [--size 224] [--steps 20] "
                            "[--warmup 5] [--fp32 | --bf16 | --tf32] [--step] [--profile [N]]\n");
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
    apt_backend_cuda_set_math(be, !fp32 && !bf16 ? APT_CUDA_MATH_TF32 : APT_CUDA_MATH_FP32);
    if (profile) be = apt_backend_profile_create(be, profile); // owns the CUDA table; keeps its name
    AptModel *model = apt_model_create_ex(&cfg->model, be, NULL, batch, 3, size, size, 1, bf16);
    AptParamStore *ps = apt_model_params(model);
    APT_CHECK(ps->on_device, "the parameter store is not in device memory");
    const int D = apt_model_embed_dim(model), m = 4;
    // The whole step stays on the device, as in training: the input is uploaded once (the loader is
    // measured separately), E and dE are device buffers, the loss is the backend's fused kernel.
    size_t nx = (size_t)batch * 3 * size * size;
    float *xh = malloc(nx * sizeof *xh);
    int *labels = malloc((size_t)batch * sizeof *labels);
    uint64_t s = 7;
    for (size_t i = 0; i < nx; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        xh[i] = (float)((double)(s >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
    }
    for (int i = 0; i < batch; i++) labels[i] = i / m;
    float *x = apt_model_input(model);
    be->copy(be, x, xh, nx * sizeof *xh, APT_COPY_H2D);
    float *E = be->alloc(be, (size_t)batch * D * sizeof(float)), *dE = be->alloc(be, (size_t)batch * D * sizeof(float));
    double *loss_part = be->alloc(be, sizeof(double));
    AptLossParams lp;
    apt_loss_params_default(&lp, "smoothap");
    void *lws = NULL;
    be->loss_create(be, &lp, batch, batch, D, m, &lws);
    APT_CHECK(lws, "no CUDA kernel for smoothap");
    AptOptim opt;
    AptOptimConfig oc = cfg->optim;
    oc.name = APT_OPT_SGD, oc.momentum = 0.9, oc.weight_decay = 0, oc.fc_lr_mul = 1;
    if (with_step) apt_optim_init(&opt, &oc, ps); // m in device memory, like the parameters
    double *dt = malloc((size_t)steps * sizeof *dt);
    struct cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    // it < steps: warm-up and timed steps; then (--profile) 1 + profile steps marked for the profiler,
    // without the host sync per step (the events are read once at the end).
    for (int it = -warmup; it < steps + (profile ? 1 + profile : 0); it++) {
        const int prof = it >= steps;
        if (!prof) be->sync(be);
        double t0 = now_s();
        if (prof) apt_profile_step_begin(be);
        apt_model_forward_dev(model, x, batch, E, true);
        be->loss_compute(be, lws, &lp, E, labels, batch, D, 0, batch, dE, loss_part);
        apt_params_zero_grad(ps);
        apt_model_backward_dev(model, dE);
        if (with_step) apt_optim_step(&opt, 1e-3);
        if (prof) apt_profile_step_end(be);
        if (!prof) be->sync(be);
        if (it >= 0 && !prof) dt[it] = now_s() - t0;
    }
    qsort(dt, (size_t)steps, sizeof *dt, cmp_d);
    printf("| aptrain %s %dx%d batch %d %s frozen BN, Smooth-AP (%s) | %s | %.1f images/s "
           "(median step %.2f ms) |\n",
           arch, size, size, batch,
           fp32 ? "fp32" : bf16 ? "precision bf16 (bf16 activations, fp32 master weights)" : "fp32 with TF32 convolutions",
           with_step ? "fwd+loss+bwd+SGD" : "fwd+loss+bwd, no optimizer step", prop.name, batch / dt[steps / 2], dt[steps / 2] * 1e3);
    if (profile) {
        char title[512];
        snprintf(title, sizeof title, "bench_resnet_cuda %s %dx%d batch %d %s, %s, %s", arch, size, size, batch,
                 fp32 ? "fp32" : bf16 ? "bf16" : "tf32", with_step ? "fwd+loss+bwd+SGD" : "fwd+loss+bwd", prop.name);
        char *text = apt_profile_format(be, title);
        for (char *line = text, *end; *line; line = end + (*end != 0)) {
            end = strchr(line, '\n');
            if (!end) end = line + strlen(line);
            printf("profile: %.*s\n", (int)(end - line), line);
        }
        free(text);
    }
    be->loss_free(be, lws);
    be->free(be, E), be->free(be, dE), be->free(be, loss_part);
    apt_model_destroy(model);
    apt_backend_destroy(be);
    free(xh), free(labels), free(dt), free(cfg);
    return 0;
}
